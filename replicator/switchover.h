/*
 * switchover: the leader's side of a planned switchover, in the phases that
 * decide() moves through: switchover_begin picks the candidate (the one
 * ranking of decide.c), stops PostgreSQL cleanly (a fast stop makes every
 * walsender send the WAL up to the shutdown checkpoint) and records where
 * that checkpoint is; ticks later, once the candidate's record shows it
 * received it, switchover_release hands over the leader key, which only the
 * candidate may take; this node then follows it without pg_rewind.
 */
#ifndef FL_REPLICATOR_SWITCHOVER_H
#define FL_REPLICATOR_SWITCHOVER_H

#include <stdbool.h>
#include <stddef.h>

#include "decide.h"
#include "postgres.h"
#include "store.h"

/*
 * ACT_SWITCHOVER, first phase: picks the candidate and names it in the
 * record (false, the switchover dropped and logged, when none is fit), then
 * checkpoints; the caller stops PostgreSQL cleanly (fast), without waiting.
 */
bool switchover_begin(store *st, postgres *pg, const decide_config *cfg, const cluster_view *view, const char *wanted,
		      char *candidate, size_t len);
/* Once PostgreSQL stopped: agent->handover_* describe the handover decide() then moves on (or it is dropped). */
void switchover_stopped(store *st, postgres *pg, agent_state *agent, const char *candidate);
/* ACT_RELEASE_LEADER: true when the leader key was released to candidate. */
bool switchover_release(store *st, const decide_config *cfg, const agent_state *agent, const char *candidate);
/* Removes the switchover record, saying why. */
void switchover_drop(store *st, const char *why);

#endif
