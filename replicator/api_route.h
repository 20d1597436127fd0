/*
 * api_route: the agent's REST API as a pure function, compatible with the
 * health endpoints HAProxy users point at Patroni: a request and the node's
 * snapshot in, an answer out (or, for an admitted mutating call, the command
 * to carry out). The unit tests and the fuzz target drive it directly; the
 * server (api.h) feeds it from evhttp.
 */
#ifndef FL_REPLICATOR_API_ROUTE_H
#define FL_REPLICATOR_API_ROUTE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "cluster/cluster.h"
#include "common/err.h"
#include "slots.h"

/* The Patroni REST API level Flotilla answers for: /patroni's "patroni": {"version"}. */
#define API_PATRONI_VERSION "3.3.0"

typedef struct api_snapshot {
	char name[CLUSTER_NAME_MAX];
	char scope[CLUSTER_NAME_MAX];
	char role[16];  /* primary, replica, uninitialized, stopped */
	bool running;   /* PostgreSQL answers queries */
	bool leader;    /* this node holds the leader key */
	bool streaming; /* a walreceiver streams */
	long timeline;
	uint64_t wal_lsn;
	uint64_t received_lsn;
	uint64_t replayed_lsn;
	double replay_lag_seconds; /* seconds since the last replayed commit's timestamp, -1 unknown */
	uint64_t pg_wal_bytes, archive_ready, archived, archive_failed; /* pg_wal and the archiver */
	bool etcd_ok;
	double postmaster_start; /* wall time PostgreSQL started, 0 when down */
	uint64_t lease_renewals, lease_failures, leader_changes;
	cluster_view view;        /* what etcd said at the last tick */
	const char *history_json; /* the history record ("[]" when none), of any length: borrowed, api_update copies it */
	const char *config_json; /* the dynamic configuration applied ("{}" when none): borrowed, api_update copies it */
	bool nofailover, noloadbalance;
	bool synchronous_mode; /* the cluster runs in synchronous mode (failover admission) */
	long priority;
	char conn_address[128];
	char api_url[160];
	char job_state[16];                    /* bootstrapping, cloning, rewinding while such a job runs, else "" */
	slot_state slots[CLUSTER_MAX_MEMBERS]; /* the leader's replication slots */
	int n_slots;
	long server_version;                                 /* server_version_num, 0 when down */
	char system_id[24];                                  /* "" when unknown */
	bool pending_restart;                                /* a changed setting waits for a restart */
	double dcs_last_seen;                                /* wall time of the last good read of etcd, 0 before one */
	pg_replication_row replication[CLUSTER_MAX_MEMBERS]; /* a primary's walsenders */
	int n_replication;
} api_snapshot;

/* A mutating call the router accepted (token checked, body validated); the agent carries it out. */
typedef enum api_command {
	API_CMD_NONE,
	API_CMD_PAUSE,      /* POST /pause: no automatic failover, cluster-wide */
	API_CMD_RESUME,     /* POST /resume */
	API_CMD_SWITCHOVER, /* POST /switchover {"leader", "candidate"?, "scheduled_at"?} */
	API_CMD_FAILOVER,   /* POST /failover {"candidate"}: cluster without a healthy leader */
	API_CMD_RESTART,    /* POST /restart: restart this node's PostgreSQL */
	API_CMD_REINIT,     /* POST /reinit: re-clone this replica */
	API_CMD_CONFIG,     /* PATCH /config (a merge patch) or PUT /config (the whole document) */
} api_command;

#define API_CONFIG_BODY_MAX 16384 /* a PATCH or PUT /config body */

typedef struct api_command_req {
	api_command cmd;
	char leader[CLUSTER_NAME_MAX];    /* "" when not given */
	char candidate[CLUSTER_NAME_MAX]; /* "" when not given */
	double scheduled_at;              /* unix time, 0 for now */
	bool config_replace;              /* PUT /config: config is the whole document; PATCH: a merge patch */
	char config[API_CONFIG_BODY_MAX + 1];
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
	const char *token; /* the API token; NULL or "" disables mutating calls (403) */
} api_request;

typedef struct api_answer {
	int status;               /* HTTP status */
	const char *content_type; /* static */
	char *body;               /* malloc'd, may be NULL */
	char allow[64];           /* Allow header for 405 and OPTIONS, "" when none */
	api_command_req command;  /* cmd != API_CMD_NONE: the caller carries it out and answers */
} api_answer;

/* Answers one request from the snapshot; a mutating call comes back as out->command. */
void api_route(const api_snapshot *s, const api_request *req, api_answer *out);
void api_answer_clear(api_answer *a);

/* Requests answered, per status, for /metrics; the last slot counts every other status. */
#define API_N_COUNTED 15
typedef struct api_counters {
	uint64_t requests[API_N_COUNTED];
} api_counters;
/* api_route, with the server's counters in /metrics. */
void api_route_counted(const api_snapshot *s, const api_counters *c, const api_request *req, api_answer *out);
void api_counters_add(api_counters *c, int status);

/* After the agent ran out->command: */
const char *api_command_name(api_command cmd);
/* The answer to an accepted PATCH or PUT /config: on 200 doc is the new document, otherwise the reason. */
bool api_config_answer(api_answer *ans, int status, const char *doc);
/* A scheduled_at before now: answers 422 and returns true. */
bool api_command_in_past(api_answer *ans, double now);
/* No agent to carry commands out: 503. */
void api_command_unavailable(api_answer *ans);
/* The agent's status and message as the answer (clean: msg made safe to echo); false when the status is invalid (500). */
bool api_command_answer(api_answer *ans, int status, const char *msg, char *clean, size_t len);

#endif
