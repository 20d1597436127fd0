/*
 * lease: renewal and the fencing deadline's arithmetic.
 */
#include "lease.h"

#include "common/log.h"

double lease_fence_left(const decide_config *cfg, const agent_state *agent, double now)
{
	if (!agent->leader)
		return 1e9;
	return decide_fence_deadline(cfg, agent) - now;
}

double lease_fence_process_deadline(const decide_config *cfg, const agent_state *agent)
{
	return agent->lease_renewed_at + (double)decide_lease_ttl(cfg, agent) - cfg->fence_margin / 2;
}

double lease_request_timeout(const decide_config *cfg, const agent_state *agent, double retry_timeout, double now)
{
	double left = lease_fence_left(cfg, agent, now);
	if (left >= retry_timeout)
		return retry_timeout;
	return left > 0.05 ? left : 0.05;
}

double lease_retry_delay(const decide_config *cfg, const agent_state *agent, const lease_counters *c, double now)
{
	if (c->streak == 0 || agent->lease == 0 ||
	    now >= agent->lease_renewed_at + (double)decide_lease_ttl(cfg, agent))
		return -1;
	return LEASE_RETRY_STEP;
}

bool lease_needs_regrant(const decide_config *cfg, const agent_state *agent)
{
	return agent->lease != 0 && agent->lease_ttl != cfg->ttl;
}

/*
 * A reload changed ttl: a new lease with it, the leader key moved onto it
 * (only while it still names us, so the term stays), and the member record
 * follows at its next publish; the old lease, with nothing left on it,
 * expires. Anything failing keeps the old lease, to try again next time.
 */
static void regrant(store *st, const decide_config *cfg, agent_state *agent, double (*now_fn)(void))
{
	fl_err err = {0};
	int64_t lease = 0;
	double sent = now_fn();
	if (store_lease_grant(st, cfg->ttl, &lease, &err) < 0) {
		log_warn("granting a lease with the new ttl %ld s failed: %s", cfg->ttl, err.msg);
		return;
	}
	bool moved = false;
	if (agent->leader && store_move_leader(st, cfg->name, lease, &moved, &err) < 0) {
		log_warn("moving the leader key onto the lease with the new ttl failed: %s", err.msg);
		return;
	}
	log_info("lease %lld granted with the new ttl %ld s, replacing lease %lld (ttl %ld s)%s", (long long)lease,
		 cfg->ttl, (long long)agent->lease, agent->lease_ttl, moved ? "; the leader key moved onto it" : "");
	agent->lease = lease;
	agent->lease_ttl = cfg->ttl;
	agent->lease_renewed_at = sent;
}

int lease_refresh(store *st, const decide_config *cfg, agent_state *agent, double retry_timeout, double (*now_fn)(void),
		  lease_counters *c)
{
	fl_err err = {0};
	double sent = now_fn();
	store_set_timeout(st, lease_request_timeout(cfg, agent, retry_timeout, sent));
	if (agent->lease != 0) {
		long left = 0;
		if (store_lease_keepalive(st, agent->lease, &left, &err) < 0) {
			c->failures++;
			if (c->streak++ == 0) {
				c->failing_since = sent;
				c->logged_at = sent;
				log_warn("lease renewal failed: %s", err.msg);
			} else if (sent - c->logged_at >= 1.0) {
				c->logged_at = sent;
				log_warn("lease renewal failed (%u attempts in %.1f s): %s", c->streak,
					 sent - c->failing_since, err.msg);
			}
			return -1;
		}
		c->renewals++;
		if (c->streak > 0)
			log_info("lease renewed again after %u failed attempt%s in %.1f s", c->streak,
				 c->streak == 1 ? "" : "s", sent - c->failing_since);
		c->streak = 0;
		if (left <= 0) {
			log_warn("lease %lld expired", (long long)agent->lease);
			agent->lease = 0;
		} else {
			agent->lease_renewed_at = sent;
			if (lease_needs_regrant(cfg, agent))
				regrant(st, cfg, agent, now_fn);
		}
	}
	if (agent->lease == 0) {
		sent = now_fn();
		store_set_timeout(st, lease_request_timeout(cfg, agent, retry_timeout, sent));
		if (store_lease_grant(st, cfg->ttl, &agent->lease, &err) < 0) {
			log_warn("lease grant failed: %s", err.msg);
			return -1;
		}
		agent->lease_renewed_at = sent;
		agent->lease_ttl = cfg->ttl;
	}
	return 0;
}
