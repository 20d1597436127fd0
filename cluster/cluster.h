/*
 * cluster: the cluster as etcd holds it, parsed into plain structs, and the
 * encoding of this node's own member record. Everything here is pure: it
 * turns a list of keys into a view and a member into JSON and back, so the
 * decisions that read the view can be tested without etcd.
 *
 * The keys themselves are declared in keys.h.
 */
#ifndef FL_CLUSTER_H
#define FL_CLUSTER_H

#include <stdbool.h>
#include <stdint.h>

#include "common/err.h"
#include "common/etcd.h"
#include "keys.h"
#include "lsn.h"

#define CLUSTER_MAX_MEMBERS 32
#define CLUSTER_MAX_MEMBERS_TEXT "32"
#define CLUSTER_NAME_MAX 64

typedef struct member {
	char name[CLUSTER_NAME_MAX];
	char role[16];  /* primary, replica, uninitialized, stopped */
	bool running;   /* PostgreSQL answers */
	bool streaming; /* a walreceiver streams from the leader */
	long timeline;
	uint64_t wal_lsn;      /* primary: current WAL insert position */
	uint64_t received_lsn; /* replica: last WAL position flushed from the stream */
	uint64_t replayed_lsn;
	int64_t fenced_term; /* term this replica stopped receiving for, 0 if none */
	bool nofailover;
	bool noloadbalance;
	long priority;
	bool pending_restart;   /* a changed setting waits for a restart of its PostgreSQL */
	char conn_address[128]; /* host:port of PostgreSQL */
	char api_url[160];
	char state[16];        /* a long effect under way: bootstrapping, cloning, rewinding; "" when none */
	int64_t progress_done; /* of a clone: bytes copied and expected, 0 when unknown */
	int64_t progress_total;
	int64_t lease; /* filled from the key, not the JSON */
} member;

typedef struct cluster_view {
	int64_t revision;
	bool initialized;
	char init_owner[CLUSTER_NAME_MAX];
	bool has_leader;
	char leader[CLUSTER_NAME_MAX];
	int64_t leader_term; /* create_revision of the leader key */
	int64_t leader_lease;
	bool has_status;
	char last_leader[CLUSTER_NAME_MAX];
	int64_t last_term;
	uint64_t last_lsn;
	long last_timeline;
	bool has_sync;
	int64_t sync_term;
	int n_sync;
	char sync[CLUSTER_MAX_MEMBERS][CLUSTER_NAME_MAX];
	bool paused;
	bool has_switchover;
	char switchover_leader[CLUSTER_NAME_MAX];    /* "" for a manual failover */
	char switchover_candidate[CLUSTER_NAME_MAX]; /* "" to let the leader choose */
	double switchover_at;                        /* unix time, 0 for now */
	int n_members;
	member members[CLUSTER_MAX_MEMBERS];
	int n_drained; /* drain/<name> keys: out of the read-only pool */
	char drained[CLUSTER_MAX_MEMBERS][CLUSTER_NAME_MAX];
	int n_proxies;  /* proxies/<name> records: the proxy agents alive (each record lives on its agent's lease) */
	int n_rejected; /* records that did not parse, left out of the view */
	char rejected[256]; /* the first of them: key and reason */
} cluster_view;

/*
 * Builds the view from every key under root ("<prefix>/<scope>/"). A record
 * that does not parse is left out of the view, which is complete otherwise;
 * then -1, with err naming how many were rejected and the first (key and
 * reason), also kept in the view's n_rejected and rejected.
 */
int cluster_parse(const etcd_kvs *kvs, const char *root, cluster_view *out, fl_err *err);
bool cluster_drained(const cluster_view *v, const char *name);
/*
 * Whether the view's rejected records differ from what was last said (last,
 * a buffer of at least sizeof v->rejected, is then updated): a reader logs a
 * rejection when it appears, not at every read.
 */
bool cluster_rejection_news(const cluster_view *v, char *last, size_t len);
/* The dynamic configuration's key among kvs (its value and mod_revision), or NULL when it is not set. */
const etcd_kv *cluster_config(const etcd_kvs *kvs, const char *root);
/* The history record (a JSON array of any length) as stored under root: borrowed from kvs; NULL when absent. */
const char *cluster_history(const etcd_kvs *kvs, const char *root);
const member *cluster_member(const cluster_view *v, const char *name);
/* A node (or scope) name: 1 to 63 lowercase letters, digits, '_' and '-' (what goes into slot names, SQL and configs). */
bool cluster_name_valid(const char *v);
bool cluster_in_sync(const cluster_view *v, const char *name);

/* The leader's last known WAL position: its member record if it has one, else the status record; 0 unknown. */
uint64_t cluster_leader_position(const cluster_view *v);
/* Bytes a member with these positions lags behind cluster_leader_position (0 when ahead). */
uint64_t cluster_lag(const cluster_view *v, uint64_t received, uint64_t replayed);
/* A member's role as operators see it: leader, sync_standby, or its record's role. */
const char *cluster_member_role(const cluster_view *v, const member *m);
/* A member's state: its long effect (cloning, ...) if one runs, else stopped, running, streaming, or in archive recovery. */
const char *cluster_member_state(const cluster_view *v, const member *m);

/* Member record as JSON (malloc'd string) and back. */
char *member_to_json(const member *m);
int member_from_json(const char *json, member *m, fl_err *err);

/* Status and sync records. */
char *status_to_json(const char *leader, int64_t term, uint64_t lsn, long timeline);
char *sync_to_json(const char *leader, int64_t term, char names[][CLUSTER_NAME_MAX], int n);

char *switchover_to_json(const char *leader, const char *candidate, double at);

#endif
