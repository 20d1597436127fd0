/*
 * switchover: the clean stop and the release of the leader key.
 */
#include "switchover.h"

#include <stdio.h>

#include "common/clock.h"
#include "common/log.h"

void switchover_drop(store *st, const char *why)
{
	store_set(st, KEY_SWITCHOVER, NULL, NULL);
	log_warn("switchover abandoned: %s", why);
}

bool switchover_begin(store *st, postgres *pg, const decide_config *cfg, const cluster_view *view, const char *wanted,
		      char *candidate, size_t len)
{
	const char *why = NULL;
	const member *c = decide_switchover_candidate(cfg, view, wanted, &why);
	if (c == NULL) {
		switchover_drop(st, why);
		return false;
	}
	snprintf(candidate, len, "%s", c->name);
	/* The record names the chosen candidate: the others then know only it may take the key. */
	store_put_switchover(st, cfg->name, candidate, 0, false, NULL, NULL);
	log_info("switchover: handing over to %s", candidate);
	/* A checkpoint now keeps the shutdown checkpoint, which the clean stop waits for, short. */
	postgres_checkpoint(pg, NULL);
	return true;
}

void switchover_stopped(store *st, postgres *pg, agent_state *agent, const char *candidate)
{
	bool was_primary;
	long tl;
	uint64_t ckpt = 0;
	if (postgres_control_checkpoint(pg, &was_primary, &tl, &ckpt, NULL) < 0 || ckpt == 0) {
		switchover_drop(st, "the stopped leader's last checkpoint is unknown; staying leader");
		return; /* still holding the key: the next tick starts PostgreSQL as primary again */
	}
	agent->handover_lsn = ckpt;
	agent->handover_since = clock_mono();
	snprintf(agent->handover_to, sizeof agent->handover_to, "%s", candidate);
}

bool switchover_release(store *st, const decide_config *cfg, const agent_state *agent, const char *candidate)
{
	bool released = false;
	fl_err err = {0};
	if (store_release_leader(st, cfg->name, &released, &err) < 0) {
		log_warn("switchover: releasing the leader key failed: %s", err.msg);
		return false; /* the next tick tries again, within the handover timeout */
	}
	log_info("switchover: leader key released to %s after %.2f s", candidate, clock_mono() - agent->handover_since);
	return true;
}
