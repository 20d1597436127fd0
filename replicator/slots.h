/*
 * slots: which members the leader keeps a replication slot for. A member's
 * slot stays while it is in the cluster view and for `keep` seconds after
 * it left (a clone or a restart takes it out of the view for a while); then
 * it is forgotten, so names that come and go over time never fill the book.
 * When the book is full, the member gone the longest makes way for a
 * present one. Pure.
 */
#ifndef FL_REPLICATOR_SLOTS_H
#define FL_REPLICATOR_SLOTS_H

#include <stdbool.h>
#include <stdint.h>

#include "cluster/cluster.h"

struct name_set; /* sync.h */

/* One physical slot on the leader, as pg_replication_slots shows it. */
typedef struct slot_state {
	char name[CLUSTER_NAME_MAX];
	bool active;             /* a walsender streams from it */
	uint64_t retained_bytes; /* WAL the slot holds back: the leader's position - restart_lsn */
	bool wal_lost;           /* wal_status 'unreserved' or 'lost': past max_slot_wal_keep_size */
} slot_state;

typedef struct slot_seen {
	char name[CLUSTER_NAME_MAX];
	double at; /* last seen in the view */
} slot_seen;

typedef struct slot_book {
	slot_seen v[CLUSTER_MAX_MEMBERS];
	int n;
} slot_book;

/* Records the view's members other than self at now, forgets those gone for more than keep; out: the members to keep a slot for. */
void slot_book_update(slot_book *b, const cluster_view *view, const char *self, double now, double keep,
		      struct name_set *out);

/* One walsender of a primary, as pg_stat_replication shows it (Patroni's /patroni "replication"). */
typedef struct pg_replication_row {
	char usename[64];
	char application_name[64];
	char client_addr[64];
	char state[16];
	char sync_state[16];
	int sync_priority;
} pg_replication_row;

#endif
