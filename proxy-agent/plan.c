/*
 * plan: HAProxy's wanted state from the cluster view; see plan.h.
 */
#include "plan.h"

#include <stdio.h>
#include <string.h>

const char *const plan_admin_names[] = {"ready", "drain", "maint"};
const char *const plan_backend_names[] = {"rw", "ro"};

static bool streq(const char *a, const char *b) { return strcmp(a, b) == 0; }

int plan_primary_in_ro_parse(const char *text, plan_primary_in_ro *out)
{
	static const char *const words[] = {"fallback", "always", "never"};
	for (int i = 0; i < 3; i++)
		if (streq(text, words[i])) {
			*out = (plan_primary_in_ro)i;
			return 0;
		}
	return -1;
}

int plan_lag_weight(const plan_config *cfg, uint64_t lag)
{
	if (lag > cfg->max_lag)
		return 0;
	if (lag <= cfg->full_weight_lag || cfg->max_lag <= cfg->full_weight_lag)
		return 100;
	/* Linear from 100 at full_weight_lag to min_weight at max_lag, rounded to the nearest percent. */
	double span = (double)(cfg->max_lag - cfg->full_weight_lag);
	double into = (double)(lag - cfg->full_weight_lag);
	int w = (int)(100.0 - (100.0 - cfg->min_weight) * into / span + 0.5);
	return w < cfg->min_weight ? cfg->min_weight : w;
}

uint64_t plan_replay_lag(const cluster_view *v, const member *m)
{
	uint64_t leader = cluster_leader_position(v);
	return leader > m->replayed_lsn && m->replayed_lsn != 0 ? leader - m->replayed_lsn : 0;
}

static plan_server server(plan_admin admin, int weight, const char *why)
{
	return (plan_server){.admin = admin, .weight = admin == PLAN_READY ? weight : 0, .why = why};
}

/* rw: only the leader, and only once its own record says it runs as a primary. */
static plan_server want_rw(const cluster_view *v, const member *m, const char *name)
{
	if (!v->has_leader || !streq(v->leader, name))
		return server(PLAN_MAINT, 0, "not the leader");
	if (m == NULL || !m->running)
		return server(PLAN_MAINT, 0, "leader's postgres not running");
	if (!streq(m->role, "primary"))
		return server(PLAN_MAINT, 0, "leader not yet promoted");
	return server(PLAN_READY, 100, "leader");
}

/* ro for anything but a primary that leads; the leader is placed once the replicas are known. */
static plan_server want_ro(const plan_config *cfg, const cluster_view *v, const member *m, bool drained, bool lag_held)
{
	if (m == NULL)
		return server(PLAN_MAINT, 0, "no member record");
	if (!m->running)
		return server(PLAN_MAINT, 0, "postgres not running");
	if (m->noloadbalance)
		return server(PLAN_MAINT, 0, "tagged noloadbalance");
	if (streq(m->role, "primary"))
		return server(PLAN_MAINT, 0, "a primary that does not hold the leader key");
	if (!streq(m->role, "replica"))
		return server(PLAN_MAINT, 0, "not a replica");
	if (drained)
		return server(PLAN_DRAIN, 0, "drained by the operator");
	int w = plan_lag_weight(cfg, plan_replay_lag(v, m));
	if (w == 0 && lag_held)
		return server(PLAN_DRAIN, 0, "replay lag beyond max_lag");
	if (w == 0)
		return server(PLAN_READY, cfg->min_weight, "replay lag beyond max_lag for less than ro.lag_grace");
	return server(PLAN_READY, w, "replica");
}

void plan_make(const plan_config *cfg, const cluster_view *v, char names[][CLUSTER_NAME_MAX], const bool *drained,
	       const bool *lag_held, int n, plan *out)
{
	memset(out, 0, sizeof *out);
	if (n > PLAN_MAX_SERVERS)
		n = PLAN_MAX_SERVERS;
	out->n = n;
	int leader = -1;
	bool replica_ready = false;
	for (int i = 0; i < n; i++) {
		snprintf(out->names[i], sizeof out->names[i], "%s", names[i]);
		const member *m = cluster_member(v, names[i]);
		out->want[PLAN_RW][i] = want_rw(v, m, names[i]);
		if (out->want[PLAN_RW][i].admin == PLAN_READY) {
			leader = i;
			snprintf(out->writer, sizeof out->writer, "%s", names[i]);
			continue;
		}
		out->want[PLAN_RO][i] =
			want_ro(cfg, v, m, drained != NULL && drained[i], lag_held == NULL || lag_held[i]);
		replica_ready = replica_ready || out->want[PLAN_RO][i].admin == PLAN_READY;
	}
	if (leader < 0)
		return;
	const member *m = cluster_member(v, names[leader]);
	bool drained_leader = drained != NULL && drained[leader];
	if (m->noloadbalance)
		out->want[PLAN_RO][leader] = server(PLAN_MAINT, 0, "tagged noloadbalance");
	else if (drained_leader)
		out->want[PLAN_RO][leader] = server(PLAN_DRAIN, 0, "drained by the operator");
	else if (cfg->primary_in_ro == PRIMARY_IN_RO_ALWAYS)
		out->want[PLAN_RO][leader] = server(PLAN_READY, 100, "primary serves reads (primary_in_ro = always)");
	else if (cfg->primary_in_ro == PRIMARY_IN_RO_FALLBACK && !replica_ready)
		out->want[PLAN_RO][leader] = server(PLAN_READY, 100, "no replica is fit: the primary serves reads");
	else /* drain, not maint: a fallback that ends must not cut the read sessions open on the primary */
		out->want[PLAN_RO][leader] = server(PLAN_DRAIN, 0, "primary: reads go to replicas");
}

int plan_find(const plan *p, const char *name)
{
	for (int i = 0; i < p->n; i++)
		if (streq(p->names[i], name))
			return i;
	return -1;
}

int plan_commands(plan_backend b, const char *name, const plan_seen *seen, const plan_server *want,
		  char out[][PLAN_COMMAND_MAX], int max)
{
	int n = 0;
	const char *be = plan_backend_names[b];
	bool state_differs = !seen->known || seen->admin != want->admin;
	if (state_differs && n < max)
		snprintf(out[n++], PLAN_COMMAND_MAX, "set server %s/%s state %s", be, name,
			 plan_admin_names[want->admin]);
	if (want->admin == PLAN_READY && (!seen->known || seen->weight != want->weight) && n < max)
		snprintf(out[n++], PLAN_COMMAND_MAX, "set server %s/%s weight %d%%", be, name, want->weight);
	if (b == PLAN_RW && want->admin != PLAN_READY && (!seen->known || seen->admin == PLAN_READY) && n < max)
		snprintf(out[n++], PLAN_COMMAND_MAX, "shutdown sessions server %s/%s", be, name);
	return n;
}

void plan_agent_reply(const plan_server *want, char *buf, int size)
{
	if (want->admin == PLAN_READY)
		snprintf(buf, (size_t)size, "up ready %d%%\n", want->weight);
	else
		snprintf(buf, (size_t)size, "%s\n", plan_admin_names[want->admin]);
}
