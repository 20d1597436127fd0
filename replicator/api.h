/*
 * api: the agent's REST API (libevent's evhttp), compatible with the health
 * endpoints HAProxy users point at Patroni. The HA loop hands the API a
 * snapshot of the node after every tick (api_update); reads are answered
 * from the latest snapshot only, so a GET never waits on etcd or PostgreSQL.
 * A mutating call that the router admits is carried out by the agent
 * (api_command_fn), which writes its record to etcd before the answer. Routing and the answers are pure (api_route), which the unit
 * tests and the fuzz target drive directly.
 */
#ifndef FL_API_H
#define FL_API_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "cluster/cluster.h"
#include "common/err.h"

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
	const char *history_json; /* the history record ("[]" when none), of any length: borrowed, api_update copies it */
	bool nofailover, noloadbalance;
	bool synchronous_mode;   /* the cluster runs in synchronous mode (failover admission) */
	long priority;
	char conn_address[128];
	char api_url[160];
	char job_state[16];      /* bootstrapping, cloning, rewinding while such a job runs, else "" */
} api_snapshot;

/* A mutating call the router accepted (token checked, body validated); the agent carries it out. */
typedef enum api_command {
	API_CMD_NONE,
	API_CMD_PAUSE,       /* POST /pause: no automatic failover, cluster-wide */
	API_CMD_RESUME,      /* POST /resume */
	API_CMD_SWITCHOVER,  /* POST /switchover {"leader", "candidate"?, "scheduled_at"?} */
	API_CMD_FAILOVER,    /* POST /failover {"candidate"}: cluster without a healthy leader */
	API_CMD_RESTART,     /* POST /restart: restart this node's PostgreSQL */
	API_CMD_REINIT,      /* POST /reinit: re-clone this replica */
} api_command;

typedef struct api_command_req {
	api_command cmd;
	char leader[CLUSTER_NAME_MAX];    /* "" when not given */
	char candidate[CLUSTER_NAME_MAX]; /* "" when not given */
	double scheduled_at;              /* unix time, 0 for now */
} api_command_req;

/*
 * Carries out an accepted command; returns the HTTP status (200, 202, 409
 * conflict with the cluster's state, 503 when etcd cannot be reached) and a
 * one-line message for the JSON answer.
 */
typedef int (*api_command_fn)(void *arg, const api_command_req *req, char *msg, size_t len);

typedef struct api_request {
	const char *method;        /* "GET", "HEAD", "OPTIONS", "POST", ... */
	const char *uri;           /* raw URI with its query */
	const char *authorization; /* Authorization header, NULL when absent */
	const char *body;          /* request body (not NUL-terminated), may be NULL */
	size_t body_len;
	const char *token;         /* the API token; NULL or "" disables mutating calls (403) */
} api_request;

typedef struct api_answer {
	int status;               /* HTTP status */
	const char *content_type; /* static */
	char *body;               /* malloc'd, may be NULL */
	char allow[64];           /* Allow header for 405 and OPTIONS, "" when none */
	api_command_req command;  /* cmd != API_CMD_NONE: the caller carries it out and answers */
} api_answer;

typedef struct api api;

/*
 * Listens on host:port; fails naming the address when it cannot. token is
 * the bearer token mutating calls need (copied; NULL disables them); run is
 * called for every accepted command.
 */
api *api_new(struct event_base *base, const char *listen, const char *token, api_command_fn run, void *arg,
	     fl_err *err);
void api_free(api *a);
void api_update(api *a, const api_snapshot *s);

/* Answers one request from the snapshot; a mutating call comes back as out->command. */
void api_route(const api_snapshot *s, const api_request *req, api_answer *out);
void api_answer_clear(api_answer *a);

#endif
