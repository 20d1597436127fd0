/*
 * decide: the state machine. Guard clauses run from the most urgent rule
 * (fencing) down to the steady states; each returns one action with a static
 * reason that the agent logs when the action changes.
 */
#include "decide.h"

#include <stdio.h>
#include <string.h>

static decision act(action a, const char *target, const char *reason)
{
	decision d = {.act = a, .reason = reason};
	if (target)
		snprintf(d.target, sizeof d.target, "%s", target);
	return d;
}

static bool streq(const char *a, const char *b) { return strcmp(a, b) == 0; }

bool decide_holds_key(const decide_config *cfg, const agent_state *agent, const cluster_view *view)
{
	return view->has_leader && strcmp(view->leader, cfg->name) == 0 && agent->lease != 0 &&
	       view->leader_lease == agent->lease;
}

long decide_lease_ttl(const decide_config *cfg, const agent_state *agent)
{
	return agent->lease_ttl > 0 && agent->lease_ttl < cfg->ttl ? agent->lease_ttl : cfg->ttl;
}

double decide_fence_deadline(const decide_config *cfg, const agent_state *agent)
{
	return agent->lease_renewed_at + (double)decide_lease_ttl(cfg, agent) - cfg->fence_margin;
}

static uint64_t position(uint64_t received, uint64_t replayed) { return received > replayed ? received : replayed; }

bool decide_better(const member *a, const member *b)
{
	uint64_t pa = position(a->received_lsn, a->replayed_lsn), pb = position(b->received_lsn, b->replayed_lsn);
	if (pa != pb)
		return pa > pb;
	if (a->replayed_lsn != b->replayed_lsn)
		return a->replayed_lsn > b->replayed_lsn;
	if (a->priority != b->priority)
		return a->priority > b->priority;
	return strcmp(a->name, b->name) < 0;
}

bool decide_lag_ok(const decide_config *cfg, const cluster_view *view, uint64_t pos)
{
	uint64_t leader = cluster_leader_position(view);
	return leader <= pos || leader - pos <= (uint64_t)cfg->maximum_lag;
}

static bool lag_ok(const decide_config *cfg, const cluster_view *view, uint64_t pos)
{
	return decide_lag_ok(cfg, view, pos);
}

const member *decide_switchover_candidate(const decide_config *cfg, const cluster_view *view, const char *wanted,
					  const char **why)
{
	const member *best = NULL;
	*why = wanted[0] ? "the candidate is not a streaming, eligible replica" : "no streaming, eligible replica";
	for (int i = 0; i < view->n_members; i++) {
		const member *m = &view->members[i];
		if (streq(m->name, cfg->name) || !streq(m->role, "replica") || !m->streaming || m->nofailover)
			continue;
		if (wanted[0] && !streq(m->name, wanted))
			continue;
		if (!wanted[0] && cfg->synchronous_mode && !cluster_in_sync(view, m->name))
			continue;
		if (best == NULL || decide_better(m, best))
			best = m;
	}
	if (best && !lag_ok(cfg, view, position(best->received_lsn, best->replayed_lsn))) {
		*why = "the candidate lags beyond maximum_lag_on_failover";
		return NULL;
	}
	if (best)
		*why = wanted[0] ? "the requested candidate" : "the most advanced eligible replica";
	return best;
}

admit decide_admit_candidate(const cluster_view *view, const char *candidate, char *why, size_t len)
{
	const member *m = cluster_member(view, candidate);
	if (m == NULL)
		return snprintf(why, len, "candidate \"%s\" is not a member of the cluster", candidate), ADMIT_REFUSED;
	if (m->nofailover)
		return snprintf(why, len, "candidate \"%s\" is tagged nofailover", candidate), ADMIT_REFUSED;
	return ADMIT_OK;
}

admit decide_admit_failover(bool synchronous_mode, const cluster_view *view, const char *candidate, char *why,
			    size_t len)
{
	admit a = decide_admit_candidate(view, candidate, why, len);
	if (a != ADMIT_OK)
		return a;
	if (view->has_leader && streq(view->leader, candidate))
		return snprintf(why, len, "candidate \"%s\" already holds the leader key", candidate), ADMIT_REFUSED;
	const member *l = view->has_leader ? cluster_member(view, view->leader) : NULL;
	if (l && l->running)
		return snprintf(why, len, "the cluster has a healthy leader (%s): use switchover", view->leader),
		       ADMIT_CONFLICT;
	if (synchronous_mode && !cluster_in_sync(view, candidate))
		return snprintf(why, len, "synchronous mode: %s is not in the synchronous set", candidate),
		       ADMIT_CONFLICT;
	return ADMIT_OK;
}

admit decide_admit_reinit(bool leader, const char *name, char *why, size_t len)
{
	if (!leader)
		return ADMIT_OK;
	snprintf(why, len, "%s holds the leader key and cannot be re-cloned\nHINT: switch over to another member first",
		 name);
	return ADMIT_CONFLICT;
}

/* This node as a member record built from local state, for comparisons. */
static member self_member(const decide_config *cfg, const local_state *local)
{
	member m = {0};
	snprintf(m.name, sizeof m.name, "%s", cfg->name);
	m.received_lsn = local->received_lsn;
	m.replayed_lsn = local->replayed_lsn;
	m.priority = cfg->priority;
	m.nofailover = cfg->nofailover;
	return m;
}

static int election_sync(const decide_config *cfg, const member *self, const cluster_view *view, int64_t term,
			 const char **why)
{
	if (!view->has_sync || view->sync_term != term || view->n_sync == 0) {
		*why = "synchronous mode: no synchronous set was published for the lost term, no node can be promoted "
		       "safely";
		return -1;
	}
	if (!cluster_in_sync(view, cfg->name)) {
		*why = "synchronous mode: not in the synchronous set";
		return -1;
	}
	for (int i = 0; i < view->n_sync; i++) {
		if (streq(view->sync[i], cfg->name))
			continue;
		const member *m = cluster_member(view, view->sync[i]);
		if (m == NULL || m->fenced_term != term) {
			*why = "synchronous mode: waiting for every synchronous member to stop receiving and report "
			       "its position";
			return 0;
		}
		if (!m->nofailover && decide_better(m, self)) {
			*why = "a more advanced synchronous member will take the leader key";
			return 0;
		}
	}
	return 1;
}

static int election_async(const decide_config *cfg, const member *self, const agent_state *agent,
			  const cluster_view *view, int64_t term, double now, const char **why)
{
	if (!lag_ok(cfg, view, position(self->received_lsn, self->replayed_lsn))) {
		*why = "lag behind the last leader position exceeds maximum_lag_on_failover";
		return -1;
	}
	bool waited = agent->election_since > 0 && now - agent->election_since >= cfg->election_wait;
	for (int i = 0; i < view->n_members; i++) {
		const member *m = &view->members[i];
		if (streq(m->name, cfg->name) || streq(m->role, "primary") || streq(m->role, "uninitialized"))
			continue;
		if (m->fenced_term != term) {
			if (!waited && m->running) {
				*why = "waiting for the other replicas to stop receiving and report their positions";
				return 0;
			}
			continue;
		}
		if (!m->nofailover && lag_ok(cfg, view, position(m->received_lsn, m->replayed_lsn)) &&
		    decide_better(m, self)) {
			*why = "a more advanced replica will take the leader key";
			return 0;
		}
	}
	return 1;
}

/*
 * Election verdict, once this node stopped receiving for the lost term: 1
 * when it should take the key now, 0 when it must wait (why says for what),
 * -1 when it is not a candidate.
 */
static int election(const decide_config *cfg, const local_state *local, const agent_state *agent,
		    const cluster_view *view, double now, const char **why)
{
	int64_t term = view->has_status ? view->last_term : 0;
	if (cfg->cannot_lead) {
		*why = "watchdog.mode is required and no watchdog is available";
		return -1;
	}
	if (view->has_switchover && view->switchover_candidate[0]) {
		/* A switchover's candidate confirmed it holds the cleanly stopped leader's last WAL; a manual
		 * failover's candidate still has to win the usual comparison in synchronous mode. */
		if (!streq(view->switchover_candidate, cfg->name)) {
			*why = "a switchover or failover to another member is in progress";
			return -1;
		}
		if (view->switchover_leader[0]) {
			*why = "switchover candidate";
			return 1;
		}
		if (!cfg->synchronous_mode) {
			member self = self_member(cfg, local);
			bool ok = lag_ok(cfg, view, position(self.received_lsn, self.replayed_lsn));
			*why = ok ? "manual failover candidate"
				  : "manual failover candidate lags beyond maximum_lag_on_failover";
			return ok ? 1 : -1;
		}
	}
	if (view->paused && !view->has_switchover) {
		*why = "automatic failover is paused";
		return -1;
	}
	if (cfg->nofailover) {
		*why = "tagged nofailover";
		return -1;
	}
	member self = self_member(cfg, local);
	*why = "most advanced eligible member";
	if (cfg->synchronous_mode)
		return election_sync(cfg, &self, view, term, why);
	return election_async(cfg, &self, agent, view, term, now, why);
}

/* Paused: what stopped without the agent is left as the operator left it. */
static bool left_alone(const local_state *local, const cluster_view *view)
{
	return view->paused && !local->stopped_by_agent;
}

static decision decide_no_data(const decide_config *cfg, const local_state *local, const cluster_view *view,
			       bool other_leads)
{
	if (local->running)
		return act(ACT_NONE, NULL, "postgres runs without a valid data directory");
	if (left_alone(local, view))
		return act(ACT_NONE, NULL, "paused: no data directory, nothing is initialised or cloned until resume");
	if (!view->initialized && cfg->cannot_lead)
		return act(ACT_NONE, NULL, "cluster not initialised: waiting for another node (this one cannot lead)");
	if (!view->initialized)
		return act(ACT_TAKE_INIT, NULL, "cluster not initialised: racing for the initialize key");
	if (other_leads)
		return act(ACT_CLONE, view->leader, "cloning from the leader");
	if (streq(view->init_owner, cfg->name) && !view->has_status && !view->has_leader)
		return act(ACT_INITDB, NULL, "won the initialize race: bootstrapping");
	return act(ACT_NONE, NULL, "waiting for a leader to clone from");
}

/*
 * Paused with PostgreSQL stopped: the leader keeps its key (there is no
 * automatic failover to make way for), except for a manual failover to
 * another member, which needs the key.
 */
static decision decide_stopped_paused(const decide_config *cfg, const cluster_view *view, bool i_lead)
{
	bool failover_elsewhere = view->has_switchover && !view->switchover_leader[0] &&
				  view->switchover_candidate[0] && !streq(view->switchover_candidate, cfg->name);
	if (i_lead && failover_elsewhere)
		return act(ACT_GIVE_UP, NULL,
			   "paused, postgres stopped: releasing the leader key to the manual failover candidate");
	return act(ACT_NONE, NULL, "paused: postgres is stopped and is left stopped");
}

static decision decide_stopped(const decide_config *cfg, const local_state *local, const cluster_view *view,
			       bool i_lead, bool other_leads)
{
	if (left_alone(local, view))
		return decide_stopped_paused(cfg, view, i_lead);
	if (i_lead) {
		if (local->recent_crashes > cfg->max_restarts)
			return act(ACT_GIVE_UP, NULL, "postmaster crashed too often: releasing the leader key");
		return act(ACT_START_PRIMARY, NULL, "leader with postgres down: starting it");
	}
	if (other_leads) {
		if (local->was_primary && local->clean_handover)
			return act(ACT_START_REPLICA, view->leader,
				   "handed over cleanly: following the new leader without rewind");
		bool diverged = local->was_primary || local->recent_crashes >= 2;
		if (diverged && local->rewind_failed)
			return act(ACT_RECLONE, view->leader, "pg_rewind impossible: re-cloning from the leader");
		if (local->was_primary)
			return act(ACT_REWIND, view->leader, "former primary: rewinding to follow the leader");
		if (diverged)
			return act(ACT_REWIND, view->leader,
				   "replica fails to start: rewinding to the leader's timeline");
		return act(ACT_START_REPLICA, view->leader, "starting as a replica of the leader");
	}
	/* A former primary's WAL may hold what no other node has; only the last leader may offer it to an election. */
	if (local->was_primary && view->has_status && !streq(view->last_leader, cfg->name))
		return act(ACT_NONE, NULL, "former primary: waiting for a leader to rewind from");
	return act(ACT_START_REPLICA, "", "no leader: starting read-only to take part in the election");
}

/* A switchover under way: this leader stopped cleanly and waits for the candidate to hold its last WAL. */
static decision decide_handover(const decide_config *cfg, const agent_state *agent, const cluster_view *view,
				double now)
{
	const member *c = cluster_member(view, agent->handover_to);
	if (!view->has_switchover)
		return act(ACT_ABANDON_SWITCHOVER, NULL, "switchover: its record is gone: staying leader");
	if (c && c->received_lsn > agent->handover_lsn)
		return act(ACT_RELEASE_LEADER, agent->handover_to,
			   "switchover: the candidate holds the last WAL: releasing the leader key");
	if (now - agent->handover_since > cfg->handover_timeout)
		return act(ACT_ABANDON_SWITCHOVER, NULL,
			   "switchover: the candidate did not confirm the last WAL in time: staying leader");
	return act(ACT_NONE, NULL, "switchover: waiting for the candidate to confirm the last WAL");
}

static decision decide_primary(const decide_config *cfg, const agent_state *agent, const cluster_view *view,
			       bool i_lead, bool other_leads, bool stale_self, double now)
{
	if (i_lead && view->has_switchover && view->switchover_leader[0] && !streq(view->switchover_leader, cfg->name))
		return act(ACT_CLEAR_SWITCHOVER, NULL, "switchover names another leader: dropping it");
	if (i_lead && view->has_switchover && streq(view->switchover_leader, cfg->name)) {
		if (view->switchover_at > agent->wall_now)
			return act(ACT_LEAD, NULL, "leader; switchover scheduled");
		/*
		 * A candidate's record may still carry the position from before its stream began (it just started,
		 * or restarted): wait a while for one that streams within maximum_lag_on_failover before giving up.
		 */
		const char *why;
		if (decide_switchover_candidate(cfg, view, view->switchover_candidate, &why) == NULL &&
		    agent->switchover_seen > 0 && now - agent->switchover_seen < cfg->handover_timeout)
			return act(ACT_LEAD, NULL,
				   "leader; the switchover waits for a candidate that streams in reach");
		return act(ACT_SWITCHOVER, view->switchover_candidate,
			   "switchover requested: handing over the leader key");
	}
	if (i_lead)
		return act(ACT_LEAD, NULL, "leader");
	if (other_leads || stale_self)
		return act(ACT_DEMOTE, view->leader, "another node holds the leader key: demoting");
	if (streq(view->init_owner, cfg->name) && !view->has_status)
		return act(ACT_TAKE_LEADER, NULL, "bootstrapped: taking the leader key");
	return act(ACT_DEMOTE, NULL, "running as primary without the leader key: demoting");
}

static decision decide_replica(const decide_config *cfg, const local_state *local, const agent_state *agent,
			       const cluster_view *view, double now, bool i_lead, bool other_leads, bool stale_self)
{
	if (i_lead)
		return act(ACT_PROMOTE, NULL, "holding the leader key: promoting");
	if (other_leads) {
		if (!streq(local->upstream, view->leader))
			return act(ACT_FOLLOW, view->leader, "following the leader");
		if (local->receiver_stuck && view->paused)
			return act(ACT_NONE, NULL, "paused: cannot stream from the leader, left as it is");
		if (local->receiver_stuck)
			return act(ACT_REWIND, view->leader,
				   "cannot stream from the leader: rewinding to its timeline");
		return act(ACT_NONE, NULL, "replica");
	}
	if (stale_self)
		return act(ACT_NONE, NULL, "waiting for the leader key of a previous run of this node to expire");
	int64_t term = view->has_status ? view->last_term : 0;
	if (agent->fenced_term != term || local->receiver_active)
		return act(ACT_STOP_RECEIVING, NULL, "leader key gone: stopping WAL reception before the election");
	const char *why = NULL;
	if (election(cfg, local, agent, view, now, &why) == 1)
		return act(ACT_TAKE_LEADER, NULL, why);
	return act(ACT_NONE, NULL, why);
}

decision decide(const decide_config *cfg, const local_state *local, const agent_state *agent, const cluster_view *view,
		double now)
{
	if (agent->leader && now >= decide_fence_deadline(cfg, agent))
		return act(ACT_FENCE, NULL, "lease not renewed in time: fencing");
	if (!agent->etcd_ok)
		return act(ACT_NONE, NULL, "etcd unreachable");
	bool me_named = view->has_leader && streq(view->leader, cfg->name);
	bool i_lead = decide_holds_key(cfg, agent, view);
	bool other_leads = view->has_leader && !me_named;
	bool stale_self = me_named && !i_lead;
	if (agent->leader && !i_lead)
		return act(ACT_FENCE, NULL, "leader key lost: fencing");
	if (i_lead && agent->handover_lsn != 0)
		return decide_handover(cfg, agent, view, now);
	if (!local->data_valid)
		return decide_no_data(cfg, local, view, other_leads);
	if (!local->running)
		return decide_stopped(cfg, local, view, i_lead, other_leads);
	if (!local->answering)
		return act(ACT_NONE, NULL, "postgres is starting");
	if (!local->in_recovery)
		return decide_primary(cfg, agent, view, i_lead, other_leads, stale_self, now);
	return decide_replica(cfg, local, agent, view, now, i_lead, other_leads, stale_self);
}

const char *action_name(action a)
{
	static const char *const names[] = {
		[ACT_NONE] = "none",
		[ACT_TAKE_INIT] = "take_init",
		[ACT_INITDB] = "initdb",
		[ACT_CLONE] = "clone",
		[ACT_START_PRIMARY] = "start_primary",
		[ACT_START_REPLICA] = "start_replica",
		[ACT_FOLLOW] = "follow",
		[ACT_LEAD] = "lead",
		[ACT_FENCE] = "fence",
		[ACT_DEMOTE] = "demote",
		[ACT_STOP_RECEIVING] = "stop_receiving",
		[ACT_TAKE_LEADER] = "take_leader",
		[ACT_PROMOTE] = "promote",
		[ACT_REWIND] = "rewind",
		[ACT_RECLONE] = "reclone",
		[ACT_GIVE_UP] = "give_up",
		[ACT_SWITCHOVER] = "switchover",
		[ACT_CLEAR_SWITCHOVER] = "clear_switchover",
		[ACT_RELEASE_LEADER] = "release_leader",
		[ACT_ABANDON_SWITCHOVER] = "abandon_switchover",
	};
	return (unsigned)a < sizeof names / sizeof names[0] ? names[a] : "unknown";
}
