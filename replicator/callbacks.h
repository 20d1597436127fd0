/*
 * callbacks: Patroni's callbacks. An executable named in the settings
 * (callbacks.on_start, on_stop, on_restart, on_role_change) runs when this
 * node's PostgreSQL starts, stops, is restarted on request, or changes role,
 * with the arguments Patroni gives: the event, the role (primary or
 * replica) and the scope. It runs without a shell through the asynchronous
 * runner, with callbacks.timeout, and never blocks the HA loop: a callback
 * still running when the next event with a program comes is ended, as
 * Patroni does, and its outcome is logged.
 *
 * The events come from what the agent observes at each probe
 * (callbacks_step, pure): PostgreSQL up (its postmaster runs and it answers
 * as a primary or a replica) after being down is on_start, or on_restart
 * after POST /restart; its postmaster gone is on_stop; a role other than
 * the last one is on_role_change (a promotion, a demotion, a failover seen
 * on any node). A stop the agent makes to start again (a demotion, a
 * fence, a rewind or re-clone, a switchover) is quiet, as Patroni's: only
 * the new role is told (or on_start, when it is the first start the agent
 * sees). An agent that exits runs on_stop detached: the
 * program outlives it.
 */
#ifndef FL_REPLICATOR_CALLBACKS_H
#define FL_REPLICATOR_CALLBACKS_H

#include <stdbool.h>

#include "cluster/options.h"

struct event_base;

typedef enum callback_event { CB_NONE, CB_ON_START, CB_ON_STOP, CB_ON_RESTART, CB_ON_ROLE_CHANGE } callback_event;

extern const char *const callback_event_names[]; /* "", "on_start", "on_stop", "on_restart", "on_role_change" */

/* What the callbacks know of this node's PostgreSQL between two probes. */
typedef struct callback_state {
	bool known;   /* a probe was seen */
	bool up;      /* it runs and answered */
	char role[8]; /* the last role it answered in: "primary", "replica"; "" before any */
} callback_state;

/*
 * One probe: running (the postmaster runs) and role ("primary" or "replica"
 * when it answers, "" when it does not); restarting: a POST /restart is
 * under way; quiet: the agent stopped it to start it again. Returns the
 * event (CB_NONE for none) with *arg_role the role to pass (the new one; the
 * last one for on_stop), and moves st on.
 */
callback_event callbacks_step(callback_state *st, bool running, const char *role, bool restarting, bool quiet,
			      const char **arg_role);

typedef struct callbacks callbacks;

callbacks *callbacks_new(const options *o, struct event_base *base);
void callbacks_free(callbacks *c);
/* Runs the event's program, if one is set (the running one, of any event, is ended first). */
void callbacks_run(callbacks *c, callback_event ev, const char *role);
/* The same, detached (the agent exits): not waited for, not timed, not ended. */
void callbacks_run_detached(callbacks *c, callback_event ev, const char *role);

#endif
