/*
 * store: every etcd read and write of the replication agent, through the key
 * table (cluster/keys.h): the cluster's keys, this member's record, the
 * status, history, sync, leader, initialize, switchover and pause records,
 * and the agent's lease. Every request is bounded by the store's timeout,
 * and, for a leader, by its fencing deadline (store_set_deadline): none
 * outlives it. It decides nothing.
 */
#ifndef FL_REPLICATOR_STORE_H
#define FL_REPLICATOR_STORE_H

#include <stdbool.h>
#include <stdint.h>

#include "cluster/cluster.h"
#include "common/config.h"
#include "common/err.h"
#include "common/etcd.h"

typedef struct store store;

store *store_new(const str_list *endpoints, const etcd_security *sec, const char *prefix, const char *scope,
		 double timeout, fl_err *err);
void store_free(store *st);
/* New endpoints (a reload); the old client is kept when the new one cannot be made. */
int store_reconnect(store *st, const str_list *endpoints, const etcd_security *sec, double timeout, fl_err *err);
void store_set_timeout(store *st, double seconds);
/*
 * Calls on_change (on base's loop) when the leader key is taken, released
 * or expires, so that a replica elects at once rather than at its next
 * tick; the watch follows the client through store_reconnect.
 */
struct event_base;
int store_watch_leader(store *st, struct event_base *base, void (*on_change)(void *arg), void *arg, fl_err *err);
/* Whether the leader key's watch is established. */
bool store_watch_live(const store *st);
/*
 * From now on every request ends by deadline (clock_mono; at least 50 ms,
 * at most retry_timeout), whichever call it is: a leader's fencing deadline.
 * 0: no deadline, retry_timeout for each.
 */
void store_set_deadline(store *st, double deadline, double retry_timeout);
/* "<prefix>/<scope>/" */
const char *store_root(const store *st);

int store_lease_grant(store *st, long ttl, int64_t *lease, fl_err *err);
/* Renews lease; *left is its remaining TTL, 0 when etcd says it expired. */
int store_lease_keepalive(store *st, int64_t lease, long *left, fl_err *err);
void store_lease_revoke(store *st, int64_t lease);

/* Every key of the cluster (the caller parses and frees them). */
int store_read(store *st, etcd_kvs *kvs, fl_err *err);

int store_publish_member(store *st, const member *m, int64_t lease, fl_err *err);
int store_write_status(store *st, const char *leader, int64_t term, uint64_t lsn, long timeline, fl_err *err);
/* Appends a timeline switch to the history record (read, append, write). */
int store_append_history(store *st, const char *leader, uint64_t lsn, long timeline, double wall_time, fl_err *err);
/* Creates the leader key on lease unless it exists; *term is its create revision when created. */
int store_take_leader(store *st, const char *name, int64_t lease, bool *created, int64_t *term, fl_err *err);
/* Deletes the leader key if it still names name. */
/* Puts the leader key, still holding name, under another lease (its create revision, the term, stays); *moved tells. */
int store_move_leader(store *st, const char *name, int64_t lease, bool *moved, fl_err *err);
int store_release_leader(store *st, const char *name, bool *released, fl_err *err);
int store_take_init(store *st, const char *name, bool *created, fl_err *err);
int store_release_init(store *st, const char *name, fl_err *err);
int store_publish_sync(store *st, const char *leader, int64_t term, char names[][CLUSTER_NAME_MAX], int n, fl_err *err);
/* Writes a switchover or manual failover record; with create_only, *created says whether none was pending. */
int store_put_switchover(store *st, const char *leader, const char *candidate, double at, bool create_only,
			 bool *created, fl_err *err);
/* Writes (value) or deletes (NULL) a record without a lease: pause, switchover. */
int store_set(store *st, cluster_key k, const char *value, fl_err *err);

/* Reads one key k (not per item); *found false when it is absent. */
int store_get(store *st, cluster_key k, etcd_kv *kv, bool *found, fl_err *err);
/* Writes value to k when it still holds expect (NULL: when it is absent); *done false when it did not. */
int store_swap(store *st, cluster_key k, const char *expect, const char *value, bool *done, fl_err *err);

#endif
