/*
 * view: the cluster as the read-only commands show it (members with their
 * role, state, timeline and lag; the timeline switches), fetched from etcd
 * (the keys under <prefix>/<scope>/, parsed by replicator/cluster.c) or from
 * a node's REST API (GET /cluster and /history). Both sources end in the same
 * plain struct, with the REST API's words for roles and states, so that the
 * commands render one thing whichever way it came. The parsers are pure and
 * name what is wrong in an answer; view_fetch adds the source and the code.
 */
#ifndef FL_CLI_VIEW_H
#define FL_CLI_VIEW_H

#include <stdbool.h>
#include <stdint.h>

#include "common/err.h"
#include "common/etcd.h"
#include "target.h"

#define VIEW_MAX_MEMBERS 32
#define VIEW_NAME_MAX 64
#define VIEW_LAG_NONE (-1)    /* the leader: no lag to show */
#define VIEW_LAG_UNKNOWN (-2) /* the leader's position is not known */

typedef struct view_member {
	char name[VIEW_NAME_MAX];
	char host[160];                 /* host:port of PostgreSQL, "" when unknown */
	char role[24];                  /* leader, sync_standby, replica, primary, stopped, uninitialized */
	char state[32];                 /* running, streaming, in archive recovery, stopped */
	long timeline;                  /* 0 when unknown */
	int64_t lag;                    /* bytes behind the leader, or VIEW_LAG_NONE / VIEW_LAG_UNKNOWN */
	bool nofailover, noloadbalance; /* its tags */
	long priority;
	bool pending_restart; /* a changed setting waits for a restart */
	bool drained;         /* out of HAProxy's read-only pool (flotilla drain) */
} view_member;

/* One timeline switch: a new leader promoted at lsn onto timeline. */
typedef struct view_switch {
	long timeline;
	char lsn[32];
	char leader[VIEW_NAME_MAX];
	double time; /* unix time; 0 when not recorded */
} view_switch;

typedef struct view {
	char scope[VIEW_NAME_MAX];
	bool paused;
	/* A switchover scheduled for later: when (unix time), from and to ("" to let the leader choose). */
	double switchover_at;
	char switchover_from[VIEW_NAME_MAX], switchover_to[VIEW_NAME_MAX];
	char source[200]; /* the etcd root or REST API URL that answered */
	int n_members;    /* sorted by name */
	view_member members[VIEW_MAX_MEMBERS];
	int n_history;
	view_switch *history; /* malloc'd, oldest first */
} view;

/* Asks the target; with want_history also for the timeline switches. Clear v with view_clear, even after a failure. */
int view_fetch(const target *t, bool want_history, view *v, fl_err *err);
void view_clear(view *v);
/* What a read command shows: the target of o resolved and asked (errors prefixed with cmd); free it with view_free. */
view *view_for(const char *cmd, const target_opts *o, bool want_history, fl_err *err);
void view_free(view *v);

const view_member *view_member_find(const view *v, const char *name);
/* The member holding the leader key, NULL when none. */
const view_member *view_leader(const view *v);
/* "Leader", "Sync Standby", "Replica", ... for a role word. */
const char *view_role_title(const char *role);

/* Pure parsers; on failure err (FL_ERR_CONFIG) names the problem in the text. */
int view_from_kvs(const etcd_kvs *kvs, const char *root, const char *scope, view *v, fl_err *err);
int view_from_cluster_json(const char *text, view *v, fl_err *err);
int view_history_from_json(const char *text, view *v, fl_err *err);

#endif
