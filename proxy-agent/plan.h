/*
 * plan: what HAProxy should do with each server, decided from the cluster as
 * etcd holds it. Pure: the view, the operator's drains and the settings go
 * in, one wanted state per server and backend comes out, and the commands
 * that move HAProxy from what it has (or was last told) to that. The daemon
 * only reads etcd, calls these, and sends the commands.
 *
 * Backends: "rw" holds every node and only the leader is ready there, once its
 * member record says it was promoted; "ro" holds every node and balances over
 * replicas with a weight derived from their replay lag, drains a replica that
 * lags beyond the limit or that the operator drained, and takes the primary
 * only when no replica is fit (primary_in_ro = fallback), always or never;
 * otherwise the primary is drained from ro (its open read sessions run on).
 */
#ifndef FL_PROXY_PLAN_H
#define FL_PROXY_PLAN_H

#include <stdbool.h>
#include <stdint.h>

#include "cluster/cluster.h"

#define PLAN_MAX_SERVERS CLUSTER_MAX_MEMBERS

typedef enum plan_admin { PLAN_READY, PLAN_DRAIN, PLAN_MAINT } plan_admin;
typedef enum plan_backend { PLAN_RW, PLAN_RO, PLAN_BACKENDS } plan_backend;
typedef enum plan_primary_in_ro {
	PRIMARY_IN_RO_FALLBACK,
	PRIMARY_IN_RO_ALWAYS,
	PRIMARY_IN_RO_NEVER
} plan_primary_in_ro;

extern const char *const plan_admin_names[];   /* "ready", "drain", "maint" */
extern const char *const plan_backend_names[]; /* "rw", "ro" */

typedef struct plan_config {
	uint64_t max_lag;         /* bytes of replay lag beyond which a replica is drained from ro */
	uint64_t full_weight_lag; /* bytes of replay lag up to which a replica keeps its full weight */
	int min_weight;           /* percent a replica gets at max_lag, 1..100 */
	plan_primary_in_ro primary_in_ro;
} plan_config;

typedef struct plan_server {
	plan_admin admin;
	int weight;      /* percent of the configured weight, 0..100 */
	const char *why; /* static text for logs and agent-check descriptions */
} plan_server;

typedef struct plan {
	int n;
	char names[PLAN_MAX_SERVERS][CLUSTER_NAME_MAX];
	plan_server want[PLAN_BACKENDS][PLAN_MAX_SERVERS];
	char writer[CLUSTER_NAME_MAX]; /* the one server ready in rw, "" when none */
} plan;

/* A parsed "primary_in_ro" setting: 0, or -1 for an unknown word. */
int plan_primary_in_ro_parse(const char *text, plan_primary_in_ro *out);

/*
 * Weight in percent for a replica lagging `lag` bytes: 100 up to
 * full_weight_lag, then falling linearly to min_weight at max_lag; 0 beyond
 * max_lag (the replica is drained).
 */
int plan_lag_weight(const plan_config *cfg, uint64_t lag);

/* Replay lag of a member: the leader's last known position minus its replayed position (0 when unknown or ahead). */
uint64_t plan_replay_lag(const cluster_view *v, const member *m);

/*
 * The wanted state of each server in names[0..n) (HAProxy's server names are
 * the nodes' names). drained[i] is true when the operator drained names[i]
 * (`flotilla drain`). lag_held[i] is true when names[i]'s replay lag has been
 * beyond max_lag for ro.lag_grace already: a lag seen beyond it for a shorter
 * time (a write burst, or records published half a second apart) keeps the
 * replica ready at min_weight. Either array may be NULL (none drained; every
 * lag held). A name with no member record is in maintenance.
 */
void plan_make(const plan_config *cfg, const cluster_view *v, char names[][CLUSTER_NAME_MAX], const bool *drained,
	       const bool *lag_held, int n, plan *out);

/* Index of a server in the plan, -1 when absent. */
int plan_find(const plan *p, const char *name);

/* What one HAProxy has for a server: its admin state and current weight in percent of the initial one. */
typedef struct plan_seen {
	bool known; /* false: assume nothing, send everything */
	plan_admin admin;
	int weight;
} plan_seen;

#define PLAN_COMMAND_MAX 160

/*
 * Runtime API commands that take a server from `seen` to `want` in a backend,
 * into out[0..max) ("set server rw/n1 state maint", ...), returning how many.
 * A rw server that leaves READY also gets "shutdown sessions server rw/<n>",
 * so no client keeps writing to a node that is no longer the leader.
 */
int plan_commands(plan_backend b, const char *name, const plan_seen *seen, const plan_server *want,
		  char out[][PLAN_COMMAND_MAX], int max);

/*
 * The agent-check answer for one server of a backend: "up ready 75%\n",
 * "drain\n" or "maint\n", into buf.
 */
void plan_agent_reply(const plan_server *want, char *buf, int size);

#endif
