/*
 * api: the agent's REST API (libevent's evhttp), compatible with the health
 * endpoints HAProxy users point at Patroni. The HA loop hands the API a
 * snapshot of the node after every tick (api_update); requests are answered
 * from the latest snapshot only, so a request never waits on etcd or
 * PostgreSQL. Routing and the answers are pure (api_route), which the unit
 * tests and the fuzz target drive directly.
 */
#ifndef FL_API_H
#define FL_API_H

#include <stdbool.h>
#include <stdint.h>

#include "cluster.h"
#include "err.h"

struct event_base;

typedef struct api_snapshot {
	char name[CLUSTER_NAME_MAX];
	char scope[CLUSTER_NAME_MAX];
	char role[16];           /* primary, replica, uninitialized, stopped */
	bool running;            /* PostgreSQL answers queries */
	bool leader;             /* this node holds the leader key */
	bool streaming;          /* a walreceiver streams */
	long timeline;
	uint64_t wal_lsn;
	uint64_t received_lsn;
	uint64_t replayed_lsn;
	double replay_lag_seconds; /* seconds since the last replayed commit's timestamp, -1 unknown */
	bool etcd_ok;
	double postmaster_start;  /* wall time PostgreSQL started, 0 when down */
	uint64_t lease_renewals, lease_failures, leader_changes;
	cluster_view view;        /* what etcd said at the last tick */
	char history_json[8192];  /* the history record, "[]" when none */
	bool nofailover, noloadbalance;
	long priority;
	char conn_address[128];
	char api_url[160];
} api_snapshot;

typedef struct api_answer {
	int status;               /* HTTP status */
	const char *content_type; /* static */
	char *body;               /* malloc'd, may be NULL */
	char allow[64];           /* Allow header for 405 and OPTIONS, "" when none */
} api_answer;

typedef struct api api;

/* Listens on host:port; fails naming the address when it cannot. */
api *api_new(struct event_base *base, const char *listen, fl_err *err);
void api_free(api *a);
void api_update(api *a, const api_snapshot *s);

/* Answers one request: method ("GET", "HEAD", "OPTIONS", ...), the raw URI with its query. */
void api_route(const api_snapshot *s, const char *method, const char *uri, api_answer *out);
void api_answer_clear(api_answer *a);

#endif
