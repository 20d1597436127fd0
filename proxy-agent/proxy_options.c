/*
 * proxy_options: the proxy agent's option table. The defaults favour a fast
 * reaction: the cluster is read from etcd every 0.1 s, so a new leader is
 * pushed to HAProxy within about 0.1 s of its promotion being published, and
 * every HAProxy's state is compared with the plan every 2 s, which repairs
 * an HAProxy that restarted or an operator's stray change.
 */
#include "proxy_options.h"

#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include "cluster/option_rows.h"
#include "common/hostport.h"
#include "common/log.h"

#define O(field) offsetof(proxy_options, field)
#define NORANGE 1, 0

/* clang-format off */
const opt_def proxy_options_table[] = {
	{"name", OPT_STRING, "proxy-agent", NORANGE, false, "FLOTILLA_PROXY_NAME", O(name),
	 "this agent's name in logs"},
	CLUSTER_ROW_SCOPE(proxy_options),
	CLUSTER_ROWS_ETCD(proxy_options),
	CLUSTER_ROW_RETRY_TIMEOUT(proxy_options),
	{"poll_interval", OPT_DOUBLE, "0.1", 0.02, 10, true, "FLOTILLA_POLL_INTERVAL", O(poll_interval),
	 "seconds between two reads of the cluster from etcd"},
	{"reconcile_interval", OPT_DOUBLE, "2", 0.1, 3600, true, "FLOTILLA_RECONCILE_INTERVAL", O(reconcile_interval),
	 "seconds between two comparisons of every HAProxy's servers with the plan"},
	{"haproxy.sockets", OPT_LIST, NULL, NORANGE, false, "FLOTILLA_HAPROXY_SOCKETS", O(haproxy_sockets),
	 "Runtime API addresses (admin-level stats sockets: a path, or host:port), one per HAProxy"},
	{"haproxy.state_files", OPT_LIST, "", NORANGE, false, "FLOTILLA_HAPROXY_STATE_FILES", O(haproxy_state_files),
	 "for each socket, the server-state-file its HAProxy loads at start (\"\" for none): kept current, so a "
	 "restarted HAProxy starts with the plan"},
	{"haproxy.timeout", OPT_DOUBLE, "1.0", 0.05, 60, true, "FLOTILLA_HAPROXY_TIMEOUT", O(haproxy_timeout),
	 "seconds one Runtime API exchange may take"},
	{"agent_check.listen", OPT_STRING, "127.0.0.1:5480", NORANGE, false, "FLOTILLA_AGENT_CHECK_LISTEN",
	 O(agent_check_listen), "host:port where HAProxy's agent checks connect"},
	{"metrics_listen", OPT_STRING, "127.0.0.1:5481", NORANGE, false, "FLOTILLA_PROXY_METRICS_LISTEN",
	 O(metrics_listen),
	 "host:port of the agent's GET /metrics (Prometheus: plan changes, Runtime API calls and latency, servers per "
	 "state, reconcile repairs, agent checks); empty: none"},
	{"ro.max_lag", OPT_INT, "16777216", 0, 1e15, true, "FLOTILLA_RO_MAX_LAG", O(max_lag),
	 "bytes of replay lag beyond which a replica leaves the ro pool (drain)"},
	{"ro.full_weight_lag", OPT_INT, "1048576", 0, 1e15, true, "FLOTILLA_RO_FULL_WEIGHT_LAG", O(full_weight_lag),
	 "bytes of replay lag up to which a replica keeps its full weight"},
	{"ro.min_weight", OPT_INT, "10", 1, 100, true, "FLOTILLA_RO_MIN_WEIGHT", O(min_weight),
	 "weight in percent of a replica at max_lag; it falls linearly from 100 at full_weight_lag"},
	{"ro.lag_grace", OPT_DOUBLE, "1.0", 0, 3600, true, "FLOTILLA_RO_LAG_GRACE", O(lag_grace),
	 "seconds a replica's replay lag must stay beyond max_lag before it is drained (a write burst only lowers its "
	 "weight)"},
	{"ro.primary_in_ro", OPT_STRING, "fallback", NORANGE, true, "FLOTILLA_PRIMARY_IN_RO", O(primary_in_ro),
	 "the primary in ro: fallback (only when no replica is fit), always, never"},
	CLUSTER_ROW_LOG_LEVEL(proxy_options),
};
/* clang-format on */
const unsigned proxy_options_table_len = sizeof proxy_options_table / sizeof proxy_options_table[0];

static int validate(const proxy_options *o, fl_err *err)
{
	if (o->scope[0] == '\0' || strchr(o->scope, '/') != NULL)
		return fl_fail(err, FL_ERR_CONFIG, "config: scope = \"%s\" is not a cluster name", o->scope);
	if (cluster_check_etcd_endpoints(&o->etcd_endpoints, err) < 0)
		return -1;
	if (o->haproxy_sockets.n == 0)
		return fl_fail(err, FL_ERR_CONFIG,
			       "config: haproxy.sockets is empty\nHINT: list each HAProxy's admin-level stats socket");
	for (int i = 0; i < o->haproxy_sockets.n; i++) {
		const char *s = o->haproxy_sockets.v[i];
		if (s[0] != '/' && !hostport_valid(s))
			return fl_fail(err, FL_ERR_CONFIG,
				       "config: haproxy.sockets item \"%s\" is neither an absolute path nor host:port",
				       s);
	}
	if (o->haproxy_state_files.n != 0 && o->haproxy_state_files.n != o->haproxy_sockets.n)
		return fl_fail(err, FL_ERR_CONFIG,
			       "config: haproxy.state_files has %d items, haproxy.sockets %d\nHINT: one state file per "
			       "socket, \"\" for none",
			       o->haproxy_state_files.n, o->haproxy_sockets.n);
	for (int i = 0; i < o->haproxy_state_files.n; i++) {
		const char *f = o->haproxy_state_files.v[i];
		if (f[0] != '\0' && f[0] != '/')
			return fl_fail(err, FL_ERR_CONFIG,
				       "config: haproxy.state_files item \"%s\" is not an absolute path", f);
	}
	if (o->metrics_listen[0] != '\0' && !hostport_valid(o->metrics_listen))
		return fl_fail(err, FL_ERR_CONFIG, "config: metrics_listen = \"%s\" is not host:port",
			       o->metrics_listen);
	if (!hostport_valid(o->agent_check_listen))
		return fl_fail(err, FL_ERR_CONFIG, "config: agent_check.listen = \"%s\" is not host:port",
			       o->agent_check_listen);
	if (o->full_weight_lag > o->max_lag)
		return fl_fail(err, FL_ERR_CONFIG, "config: ro.full_weight_lag = %ld exceeds ro.max_lag = %ld",
			       o->full_weight_lag, o->max_lag);
	plan_primary_in_ro mode;
	if (plan_primary_in_ro_parse(o->primary_in_ro, &mode) < 0)
		return fl_fail(err, FL_ERR_CONFIG,
			       "config: ro.primary_in_ro = \"%s\" is not one of fallback, always, never",
			       o->primary_in_ro);
	if (cluster_check_log_level(o->log_level, err) < 0)
		return -1;
	return 0;
}

int proxy_options_load(proxy_options *o, const char *path, fl_err *err)
{
	memset(o, 0, sizeof *o);
	if (config_load(proxy_options_table, proxy_options_table_len, o, path, err) < 0)
		return -1;
	return validate(o, err);
}

void proxy_options_free(proxy_options *o) { config_free(proxy_options_table, proxy_options_table_len, o); }

void proxy_options_apply_reloadable(proxy_options *cur, proxy_options *next)
{
	config_apply_reloadable(proxy_options_table, proxy_options_table_len, cur, next);
}

plan_config proxy_options_plan(const proxy_options *o)
{
	plan_config c = {.max_lag = (uint64_t)o->max_lag,
			 .full_weight_lag = (uint64_t)o->full_weight_lag,
			 .min_weight = (int)o->min_weight,
			 .primary_in_ro = PRIMARY_IN_RO_FALLBACK};
	plan_primary_in_ro_parse(o->primary_in_ro, &c.primary_in_ro);
	return c;
}
