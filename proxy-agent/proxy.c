/*
 * proxy: etcd to plan to HAProxy; see proxy.h.
 */
#include "proxy.h"

#include <errno.h>

#include <event2/buffer.h>
#include <stdio.h>
#include <jansson.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/clock.h"
#include "cluster/option_rows.h"
#include "cluster/cluster.h"
#include "common/etcd.h"
#include "common/log.h"
#include "common/metrics.h"
#include "runtime_api.h"

#define PROXY_MAX_HAPROXIES 16
#define PROXY_MAX_COMMANDS (PLAN_BACKENDS * PLAN_MAX_SERVERS * 3)

typedef struct haproxy {
	const char *address;
	/* Runtime API exchanges with it: by result, and their total time. */
	uint64_t calls_ok, calls_failed;
	double call_seconds;
	double last_call_seconds;
	const char *state_file;                          /* its server-state-file, NULL for none */
	bool up;                                         /* the last exchange worked */
	plan_seen seen[PLAN_BACKENDS][PLAN_MAX_SERVERS]; /* indexed like the plan's names */
	long sessions[PLAN_BACKENDS][PLAN_MAX_SERVERS];  /* current sessions, from the last reconcile */
} haproxy;

struct proxy {
	const proxy_options *o;
	etcd *etcd;
	etcd_watch *watch; /* on the cluster's keys, made again with every new client */
	struct event_base *watch_base;
	void (*on_change)(void *arg);
	void *watch_arg;
	char root[256]; /* "<prefix>/<scope>/" */
	plan_config cfg;
	bool have_plan;
	plan plan;
	/* Server names HAProxy has (union over every HAProxy and both backends), from the last reconcile. */
	int n_names;
	char names[PLAN_MAX_SERVERS][CLUSTER_NAME_MAX];
	int n_haproxies;
	haproxy haproxies[PROXY_MAX_HAPROXIES];
	bool etcd_ok;
	int64_t lease; /* of this agent's status record, 0 when none */
	/* Since when each member's replay lag is beyond max_lag (0: it is not), by name. */
	int n_lagging;
	char lagging[PLAN_MAX_SERVERS][CLUSTER_NAME_MAX];
	double lagging_since[PLAN_MAX_SERVERS];
	char rejected_logged[256]; /* the last rejected etcd record logged */
	/* For /metrics. */
	uint64_t plan_changes; /* plans that differed from the one before */
	uint64_t etcd_reads_ok, etcd_reads_failed;
	uint64_t repairs; /* commands a reconcile sent to bring an HAProxy back to the plan */
	void (*on_plan)(void *arg, const plan *pl);
	void *on_plan_arg;
};

void proxy_on_plan(proxy *p, void (*on_plan)(void *arg, const plan *pl), void *arg)
{
	p->on_plan = on_plan;
	p->on_plan_arg = arg;
}

proxy *proxy_new(const proxy_options *o, fl_err *err)
{
	if (o->haproxy_sockets.n > PROXY_MAX_HAPROXIES)
		return fl_fail(err, FL_ERR_CONFIG, "config: haproxy.sockets lists more than %d HAProxies",
			       PROXY_MAX_HAPROXIES),
		       NULL;
	proxy *p = calloc(1, sizeof *p);
	if (p == NULL) {
		fl_fail(err, FL_ERR_INTERNAL, "proxy: out of memory");
		return NULL;
	}
	p->o = o;
	p->cfg = proxy_options_plan(o);
	p->etcd_ok = true;
	keys_root(o->etcd_prefix, o->scope, p->root, sizeof p->root);
	etcd_security sec = CLUSTER_ETCD_SECURITY(o);
	p->etcd = etcd_new(o->etcd_endpoints.v, o->etcd_endpoints.n, &sec, err);
	if (p->etcd == NULL) {
		free(p);
		return NULL;
	}
	etcd_set_timeout(p->etcd, o->retry_timeout);
	p->n_haproxies = o->haproxy_sockets.n;
	for (int i = 0; i < p->n_haproxies; i++)
		p->haproxies[i] = (haproxy){.address = o->haproxy_sockets.v[i],
					    .up = true,
					    .state_file = i < o->haproxy_state_files.n && o->haproxy_state_files.v[i][0]
								  ? o->haproxy_state_files.v[i]
								  : NULL};
	return p;
}

void proxy_free(proxy *p)
{
	if (p == NULL)
		return;
	if (p->lease != 0)
		etcd_lease_revoke(p->etcd, p->lease, NULL);
	etcd_watch_free(p->watch);
	etcd_free(p->etcd);
	free(p);
}

void proxy_reconfigure(proxy *p)
{
	p->cfg = proxy_options_plan(p->o);
	/* etcd.endpoints may have changed: a new client; the old one stays when the new one cannot be made. */
	fl_err err = {0};
	etcd_security sec = CLUSTER_ETCD_SECURITY(p->o);
	etcd *e = etcd_new(p->o->etcd_endpoints.v, p->o->etcd_endpoints.n, &sec, &err);
	if (e == NULL) {
		log_error("%s", err.msg);
	} else {
		etcd_watch_free(p->watch);
		p->watch = NULL;
		etcd_free(p->etcd);
		p->etcd = e;
		if (p->on_change != NULL && proxy_watch(p, p->watch_base, p->on_change, p->watch_arg, &err) < 0)
			log_error("%s", err.msg);
	}
	etcd_set_timeout(p->etcd, p->o->retry_timeout);
	p->have_plan = false; /* re-plan and push everything at the next poll */
	if (p->on_plan)
		p->on_plan(p->on_plan_arg, NULL);
}

int proxy_watch(proxy *p, struct event_base *base, void (*on_change)(void *arg), void *arg, fl_err *err)
{
	p->watch_base = base;
	p->on_change = on_change;
	p->watch_arg = arg;
	p->watch = etcd_watch_new(p->etcd, base, p->root, true, on_change, arg, err);
	return p->watch ? 0 : -1;
}

const plan *proxy_plan(const proxy *p) { return p->have_plan ? &p->plan : NULL; }

/* ---- talking to HAProxy ---- */

/* One Runtime API exchange with h, counted and timed for /metrics. */
static int haproxy_call(haproxy *h, const char *cmd, double timeout, char **answer, fl_err *err)
{
	double t0 = clock_mono();
	int rc = runtime_api_call(h->address, cmd, timeout, answer, err);
	h->last_call_seconds = clock_mono() - t0;
	h->call_seconds += h->last_call_seconds;
	if (rc == 0)
		h->calls_ok++;
	else
		h->calls_failed++;
	return rc;
}

static void haproxy_forget(haproxy *h)
{
	for (int b = 0; b < PLAN_BACKENDS; b++)
		for (int i = 0; i < PLAN_MAX_SERVERS; i++)
			h->seen[b][i].known = false;
}

static void haproxy_mark(haproxy *h, bool up, const char *problem)
{
	if (up && !h->up)
		log_info("haproxy %s: reachable again", h->address);
	else if (!up && h->up)
		log_warn("haproxy %s: %s", h->address, problem);
	h->up = up;
	if (!up)
		haproxy_forget(h);
}

/* Sends one batch of commands; false (and the HAProxy forgotten) when it failed. */
static bool haproxy_send(haproxy *h, char cmds[][PLAN_COMMAND_MAX], int n, double timeout)
{
	if (n == 0)
		return true;
	size_t len = 0;
	for (int i = 0; i < n; i++)
		len += strlen(cmds[i]) + 1;
	char *batch = malloc(len + 1), *answer = NULL;
	if (batch == NULL)
		return false;
	batch[0] = '\0';
	for (int i = 0; i < n; i++) {
		strcat(batch, cmds[i]);
		if (i + 1 < n)
			strcat(batch, ";");
	}
	fl_err err = {0};
	bool ok = haproxy_call(h, batch, timeout, &answer, &err) == 0;
	if (!ok) {
		haproxy_mark(h, false, err.msg);
	} else {
		char buf[200];
		const char *problem = runtime_api_answer_problem(answer, buf, sizeof buf);
		haproxy_mark(h, true, NULL);
		if (problem != NULL) {
			log_warn("haproxy %s: \"%s\" answered: %s", h->address, batch, problem);
			haproxy_forget(h);
			ok = false;
		} else {
			log_debug("haproxy %s: %s", h->address, batch);
		}
	}
	free(batch);
	free(answer);
	return ok;
}

/*
 * Commands for every server of the plan whose seen state differs, into cmds:
 * those of servers to be ready first, so that a backend never passes through
 * a moment with no server available (a replica back in ro before the primary
 * leaves it, the new leader ready in rw before anything else changes).
 */
static int plan_diff(const plan *pl, const haproxy *h, char cmds[][PLAN_COMMAND_MAX], int max)
{
	int n = 0;
	for (int ready_pass = 1; ready_pass >= 0; ready_pass--)
		for (int b = 0; b < PLAN_BACKENDS; b++)
			for (int i = 0; i < pl->n; i++)
				if ((pl->want[b][i].admin == PLAN_READY) == ready_pass)
					n += plan_commands((plan_backend)b, pl->names[i], &h->seen[b][i],
							   &pl->want[b][i], cmds + n, max - n);
	return n;
}

static int plan_diff_count(const plan *pl, const haproxy *h)
{
	static char cmds[PROXY_MAX_COMMANDS][PLAN_COMMAND_MAX];
	return plan_diff(pl, h, cmds, PROXY_MAX_COMMANDS);
}

/* Sends h what differs from the plan; the number of commands sent (0 when none was, or the exchange failed). */
static int haproxy_push(proxy *p, haproxy *h)
{
	static char cmds[PROXY_MAX_COMMANDS][PLAN_COMMAND_MAX];
	int n = plan_diff(&p->plan, h, cmds, PROXY_MAX_COMMANDS);
	if (n == 0 || !haproxy_send(h, cmds, n, p->o->haproxy_timeout))
		return 0;
	for (int b = 0; b < PLAN_BACKENDS; b++)
		for (int i = 0; i < p->plan.n; i++)
			h->seen[b][i] =
				(plan_seen){.known = true,
					    .admin = p->plan.want[b][i].admin,
					    .weight = p->plan.want[b][i].admin == PLAN_READY ? p->plan.want[b][i].weight
											     : h->seen[b][i].weight};
	return n;
}

/* ---- the plan ---- */

static void log_changes(const plan *old, const plan *new)
{
	for (int b = 0; b < PLAN_BACKENDS; b++)
		for (int i = 0; i < new->n; i++) {
			int j = old ? plan_find(old, new->names[i]) : -1;
			const plan_server *w = &new->want[b][i];
			if (j >= 0 && old->want[b][j].admin == w->admin && old->want[b][j].weight == w->weight)
				continue;
			if (w->admin == PLAN_READY)
				log_info("%s/%s: ready %d%% (%s)", plan_backend_names[b], new->names[i], w->weight,
					 w->why);
			else
				log_info("%s/%s: %s (%s)", plan_backend_names[b], new->names[i],
					 plan_admin_names[w->admin], w->why);
		}
}

static bool plan_same(const plan *a, const plan *b)
{
	if (a->n != b->n)
		return false;
	for (int i = 0; i < a->n; i++) {
		if (strcmp(a->names[i], b->names[i]) != 0)
			return false;
		for (int k = 0; k < PLAN_BACKENDS; k++)
			if (a->want[k][i].admin != b->want[k][i].admin || a->want[k][i].weight != b->want[k][i].weight)
				return false;
	}
	return true;
}

/* The names to plan for: HAProxy's servers when known, else the cluster's members. */
static int plan_names(const proxy *p, const cluster_view *v, char names[][CLUSTER_NAME_MAX])
{
	if (p->n_names > 0) {
		memcpy(names, p->names, sizeof p->names[0] * (size_t)p->n_names);
		return p->n_names;
	}
	for (int i = 0; i < v->n_members; i++)
		snprintf(names[i], CLUSTER_NAME_MAX, "%s", v->members[i].name);
	return v->n_members;
}

static void drains_read(const cluster_view *v, char names[][CLUSTER_NAME_MAX], int n, bool *drained)
{
	for (int i = 0; i < n; i++)
		drained[i] = cluster_drained(v, names[i]);
}

/* Whether each name's replay lag has been beyond max_lag for lag_grace, remembering since when. */
static void lags_read(proxy *p, const cluster_view *v, char names[][CLUSTER_NAME_MAX], int n, double now, bool *held)
{
	for (int i = 0; i < n; i++) {
		const member *m = cluster_member(v, names[i]);
		bool beyond = m != NULL && plan_replay_lag(v, m) > p->cfg.max_lag;
		int k = 0;
		while (k < p->n_lagging && strcmp(p->lagging[k], names[i]) != 0)
			k++;
		if (k == p->n_lagging && k < PLAN_MAX_SERVERS) {
			snprintf(p->lagging[k], CLUSTER_NAME_MAX, "%s", names[i]);
			p->lagging_since[k] = 0;
			p->n_lagging++;
		}
		if (k == PLAN_MAX_SERVERS) {
			held[i] = beyond;
			continue;
		}
		if (!beyond)
			p->lagging_since[k] = 0;
		else if (p->lagging_since[k] == 0)
			p->lagging_since[k] = now;
		held[i] = beyond && now - p->lagging_since[k] >= p->o->lag_grace;
	}
}

/* Re-plans from a fresh view; pushes to every HAProxy when the plan changed. */
static void replan(proxy *p, const cluster_view *v)
{
	static char names[PLAN_MAX_SERVERS][CLUSTER_NAME_MAX];
	bool drained[PLAN_MAX_SERVERS], held[PLAN_MAX_SERVERS];
	int n = plan_names(p, v, names);
	drains_read(v, names, n, drained);
	lags_read(p, v, names, n, clock_mono(), held);
	plan next;
	plan_make(&p->cfg, v, names, drained, held, n, &next);
	if (p->have_plan && plan_same(&p->plan, &next))
		return;
	log_changes(p->have_plan ? &p->plan : NULL, &next);
	p->plan_changes++;
	/* Seen states follow the plan's indexes: re-map them by name when the names changed. */
	for (int h = 0; h < p->n_haproxies; h++) {
		haproxy *hp = &p->haproxies[h];
		plan_seen old[PLAN_BACKENDS][PLAN_MAX_SERVERS];
		memcpy(old, hp->seen, sizeof old);
		for (int b = 0; b < PLAN_BACKENDS; b++)
			for (int i = 0; i < next.n; i++) {
				int j = p->have_plan ? plan_find(&p->plan, next.names[i]) : -1;
				hp->seen[b][i] = j >= 0 ? old[b][j] : (plan_seen){.known = false};
			}
	}
	p->plan = next;
	p->have_plan = true;
	if (p->on_plan)
		p->on_plan(p->on_plan_arg, &p->plan);
	for (int h = 0; h < p->n_haproxies; h++)
		haproxy_push(p, &p->haproxies[h]);
}

int proxy_poll(proxy *p)
{
	etcd_kvs kvs = {0};
	fl_err err = {0};
	if (etcd_get_prefix(p->etcd, p->root, &kvs, &err) < 0) {
		p->etcd_reads_failed++;
		if (p->etcd_ok)
			log_warn("cannot read the cluster, keeping the last plan: %s", err.msg);
		p->etcd_ok = false;
		etcd_kvs_free(&kvs);
		return -1;
	}
	p->etcd_reads_ok++;
	if (!p->etcd_ok)
		log_info("etcd answers again");
	p->etcd_ok = true;
	cluster_view *v = malloc(sizeof *v);
	if (v == NULL) {
		etcd_kvs_free(&kvs);
		return -1;
	}
	fl_err perr = {0};
	/* Logged when it first appears, not at every poll. */
	if (cluster_parse(&kvs, p->root, v, &perr) < 0 || p->rejected_logged[0]) {
		if (cluster_rejection_news(v, p->rejected_logged, sizeof p->rejected_logged))
			log_warn("%s", perr.msg);
	}
	replan(p, v);
	free(v);
	etcd_kvs_free(&kvs);
	return 0;
}

/* ---- reconcile ---- */

static void names_add(proxy *p, const char *name)
{
	for (int i = 0; i < p->n_names; i++)
		if (strcmp(p->names[i], name) == 0)
			return;
	if (p->n_names < PLAN_MAX_SERVERS)
		snprintf(p->names[p->n_names++], CLUSTER_NAME_MAX, "%s", name);
}

/* Each server's current sessions (`show stat`), for the status record; -1 when unknown. */
static void haproxy_read_sessions(proxy *p, haproxy *h)
{
	static runtime_stat stats[PLAN_BACKENDS * PLAN_MAX_SERVERS * 4];
	for (int b = 0; b < PLAN_BACKENDS; b++)
		for (int i = 0; i < PLAN_MAX_SERVERS; i++)
			h->sessions[b][i] = -1;
	char *answer = NULL;
	fl_err err = {0};
	int n = 0;
	if (haproxy_call(h, "show stat", p->o->haproxy_timeout, &answer, &err) < 0 ||
	    runtime_api_parse_stat(answer, stats, (int)(sizeof stats / sizeof stats[0]), &n, &err) < 0) {
		log_warn("haproxy %s: %s", h->address, err.msg);
		free(answer);
		return;
	}
	free(answer);
	for (int k = 0; k < n; k++)
		for (int b = 0; b < PLAN_BACKENDS; b++) {
			int i = p->have_plan ? plan_find(&p->plan, stats[k].name) : -1;
			if (i >= 0 && strcmp(stats[k].backend, plan_backend_names[b]) == 0)
				h->sessions[b][i] = stats[k].sessions;
		}
}

/*
 * HAProxy's own `show servers state` answer is the format of its
 * server-state-file: written aside and renamed, so that HAProxy never loads
 * half a file.
 */
static void state_file_write(const haproxy *h, const char *answer)
{
	char tmp[4096];
	if (h->state_file == NULL || (size_t)snprintf(tmp, sizeof tmp, "%s.tmp", h->state_file) >= sizeof tmp)
		return;
	FILE *f = fopen(tmp, "w");
	bool ok = f != NULL && fputs(answer, f) >= 0;
	if (f != NULL && fclose(f) != 0)
		ok = false;
	if (!ok || rename(tmp, h->state_file) != 0) {
		log_warn("haproxy %s: cannot write the state file %s: %s", h->address, h->state_file, strerror(errno));
		unlink(tmp);
	}
}

/* Reads one HAProxy's servers of rw and ro into its seen states; false when that failed. */
static bool haproxy_read(proxy *p, haproxy *h)
{
	static runtime_server servers[PLAN_BACKENDS * PLAN_MAX_SERVERS * 4];
	char *answer = NULL;
	fl_err err = {0};
	int n = 0;
	if (haproxy_call(h, "show servers state", p->o->haproxy_timeout, &answer, &err) < 0 ||
	    runtime_api_parse_state(answer, servers, (int)(sizeof servers / sizeof servers[0]), &n, &err) < 0) {
		haproxy_mark(h, false, err.msg);
		free(answer);
		return false;
	}
	haproxy_mark(h, true, NULL);
	haproxy_forget(h);
	haproxy_read_sessions(p, h);
	for (int k = 0; k < n; k++) {
		for (int b = 0; b < PLAN_BACKENDS; b++) {
			if (strcmp(servers[k].backend, plan_backend_names[b]) != 0)
				continue;
			names_add(p, servers[k].name);
			int i = p->have_plan ? plan_find(&p->plan, servers[k].name) : -1;
			if (i >= 0)
				h->seen[b][i] = runtime_api_seen(&servers[k]);
		}
	}
	/* Only a state that matches the plan is worth restoring after a restart. */
	if (p->have_plan && plan_diff_count(&p->plan, h) == 0)
		state_file_write(h, answer);
	free(answer);
	return true;
}

/* ---- the status record ---- */

static json_t *status_json(const proxy *p)
{
	json_t *list = json_array();
	for (int h = 0; h < p->n_haproxies; h++) {
		const haproxy *hp = &p->haproxies[h];
		json_t *backends = json_object();
		for (int b = 0; b < PLAN_BACKENDS; b++) {
			json_t *servers = json_object();
			for (int i = 0; i < p->plan.n; i++) {
				const plan_seen *s = &hp->seen[b][i];
				json_object_set_new(servers, p->plan.names[i],
						    json_pack("{s:s?, s:i, s:I}", "state",
							      s->known ? plan_admin_names[s->admin] : NULL, "weight",
							      s->known && s->admin == PLAN_READY ? s->weight : 0,
							      "sessions", (json_int_t)hp->sessions[b][i]));
			}
			json_object_set_new(backends, plan_backend_names[b], servers);
		}
		json_array_append_new(
			list, json_pack("{s:s, s:b, s:o}", "address", hp->address, "up", hp->up, "servers", backends));
	}
	return json_pack("{s:s, s:o}", "name", p->o->name, "haproxies", list);
}

/*
 * <prefix>/<scope>/proxies/<name>: what every HAProxy has, with sessions per
 * server, rewritten after each reconcile and bound to a lease of this agent,
 * so that `flotilla drain --wait` reads live agents only.
 */
static void proxy_publish(proxy *p)
{
	fl_err err = {0};
	long ttl = (long)(p->o->reconcile_interval * 3) + 5, left = 0;
	if (p->lease != 0 && (etcd_lease_keepalive(p->etcd, p->lease, &left, &err) < 0 || left == 0))
		p->lease = 0;
	if (p->lease == 0 && etcd_lease_grant(p->etcd, ttl, &p->lease, &err) < 0) {
		p->lease = 0;
		log_debug("status record not published: %s", err.msg);
		return;
	}
	json_t *j = status_json(p);
	char *text = j ? json_dumps(j, JSON_COMPACT) : NULL;
	char key[384];
	keys_path(p->root, KEY_PROXY, p->o->name, key, sizeof key);
	if (text != NULL && etcd_put(p->etcd, key, text, p->lease, &err) < 0)
		log_debug("status record not published: %s", err.msg);
	free(text);
	json_decref(j);
}

void proxy_reconcile(proxy *p)
{
	int before = p->n_names;
	for (int h = 0; h < p->n_haproxies; h++)
		haproxy_read(p, &p->haproxies[h]);
	/* New server names (the first read, or an HAProxy with more servers): plan again before repairing. */
	if (p->n_names != before && p->have_plan) {
		p->have_plan = false;
		if (proxy_poll(p) < 0)
			return;
		for (int h = 0; h < p->n_haproxies; h++)
			haproxy_read(p, &p->haproxies[h]);
	}
	if (!p->have_plan)
		return;
	for (int h = 0; h < p->n_haproxies; h++)
		if (p->haproxies[h].up)
			p->repairs += (uint64_t)haproxy_push(p, &p->haproxies[h]);
	proxy_publish(p);
}

/* ---- /metrics ---- */

char *proxy_metrics_text(const proxy *p)
{
	struct evbuffer *b = evbuffer_new();
	if (b == NULL)
		return NULL;
	metrics_one(b, "flotilla_proxy_plan_changes_total", "counter",
		    "Plans that differed from the one before (a new leader, a replica drained or back, a weight)", "",
		    p->plan_changes);
	metrics_head(b, "flotilla_proxy_etcd_reads_total", "counter", "Reads of the cluster from etcd, by result");
	metrics_u64(b, "flotilla_proxy_etcd_reads_total", "result=\"ok\"", p->etcd_reads_ok);
	metrics_u64(b, "flotilla_proxy_etcd_reads_total", "result=\"failed\"", p->etcd_reads_failed);
	metrics_one(b, "flotilla_proxy_reconcile_repairs_total", "counter",
		    "Runtime API commands a reconcile sent to bring an HAProxy back to the plan", "", p->repairs);
	char label[320], addr[256];
	metrics_head(b, "flotilla_proxy_haproxy_up", "gauge", "1 when the last Runtime API exchange with it worked");
	for (int h = 0; h < p->n_haproxies; h++) {
		metrics_label_value(addr, sizeof addr, p->haproxies[h].address);
		snprintf(label, sizeof label, "haproxy=\"%s\"", addr);
		metrics_u64(b, "flotilla_proxy_haproxy_up", label, p->haproxies[h].up);
	}
	metrics_head(b, "flotilla_proxy_runtime_api_calls_total", "counter", "Runtime API exchanges, by result");
	for (int h = 0; h < p->n_haproxies; h++) {
		metrics_label_value(addr, sizeof addr, p->haproxies[h].address);
		snprintf(label, sizeof label, "haproxy=\"%s\",result=\"ok\"", addr);
		metrics_u64(b, "flotilla_proxy_runtime_api_calls_total", label, p->haproxies[h].calls_ok);
		snprintf(label, sizeof label, "haproxy=\"%s\",result=\"failed\"", addr);
		metrics_u64(b, "flotilla_proxy_runtime_api_calls_total", label, p->haproxies[h].calls_failed);
	}
	metrics_head(b, "flotilla_proxy_runtime_api_seconds", "summary", "Time the Runtime API exchanges took");
	for (int h = 0; h < p->n_haproxies; h++) {
		const haproxy *hp = &p->haproxies[h];
		metrics_label_value(addr, sizeof addr, hp->address);
		snprintf(label, sizeof label, "haproxy=\"%s\"", addr);
		metrics_double(b, "flotilla_proxy_runtime_api_seconds_sum", label, hp->call_seconds);
		metrics_u64(b, "flotilla_proxy_runtime_api_seconds_count", label, hp->calls_ok + hp->calls_failed);
	}
	metrics_head(b, "flotilla_proxy_runtime_api_last_seconds", "gauge", "Time the last Runtime API exchange took");
	for (int h = 0; h < p->n_haproxies; h++) {
		metrics_label_value(addr, sizeof addr, p->haproxies[h].address);
		snprintf(label, sizeof label, "haproxy=\"%s\"", addr);
		metrics_double(b, "flotilla_proxy_runtime_api_last_seconds", label, p->haproxies[h].last_call_seconds);
	}
	/* The plan's servers per backend and state, and what each HAProxy has (unknown: not read yet). */
	metrics_head(b, "flotilla_proxy_plan_servers", "gauge", "Servers the plan wants in each state, per backend");
	for (int be = 0; be < PLAN_BACKENDS; be++)
		for (int st = PLAN_READY; st <= PLAN_MAINT; st++) {
			uint64_t n = 0;
			for (int i = 0; p->have_plan && i < p->plan.n; i++)
				n += p->plan.want[be][i].admin == (plan_admin)st;
			snprintf(label, sizeof label, "backend=\"%s\",state=\"%s\"", plan_backend_names[be],
				 plan_admin_names[st]);
			metrics_u64(b, "flotilla_proxy_plan_servers", label, n);
		}
	metrics_head(b, "flotilla_proxy_servers", "gauge", "Servers each HAProxy has in each state, per backend");
	for (int h = 0; h < p->n_haproxies; h++) {
		const haproxy *hp = &p->haproxies[h];
		metrics_label_value(addr, sizeof addr, hp->address);
		for (int be = 0; be < PLAN_BACKENDS; be++)
			for (int st = PLAN_READY; st <= PLAN_MAINT + 1; st++) {
				uint64_t n = 0;
				for (int i = 0; p->have_plan && i < p->plan.n; i++)
					n += st > PLAN_MAINT
						     ? !hp->seen[be][i].known
						     : hp->seen[be][i].known && hp->seen[be][i].admin == (plan_admin)st;
				snprintf(label, sizeof label, "haproxy=\"%s\",backend=\"%s\",state=\"%s\"", addr,
					 plan_backend_names[be], st > PLAN_MAINT ? "unknown" : plan_admin_names[st]);
				metrics_u64(b, "flotilla_proxy_servers", label, n);
			}
	}
	size_t len = evbuffer_get_length(b);
	char *text = malloc(len + 1);
	if (text != NULL) {
		evbuffer_remove(b, text, len);
		text[len] = '\0';
	}
	evbuffer_free(b);
	return text;
}

void proxy_release(proxy *p)
{
	static char cmds[PROXY_MAX_COMMANDS][PLAN_COMMAND_MAX];
	if (!p->have_plan)
		return;
	/*
	 * A server leaving maintenance counts as up until its checks say
	 * otherwise: those the plan kept out are marked down at once and come
	 * up only when their own checks pass (one check in rw, two in ro).
	 */
	int n = 0;
	for (int b = 0; b < PLAN_BACKENDS; b++)
		for (int i = 0; i < p->plan.n && n + 3 <= PROXY_MAX_COMMANDS; i++) {
			const char *be = plan_backend_names[b], *name = p->plan.names[i];
			snprintf(cmds[n++], PLAN_COMMAND_MAX, "set server %s/%s state ready", be, name);
			if (p->plan.want[b][i].admin != PLAN_READY)
				snprintf(cmds[n++], PLAN_COMMAND_MAX, "set server %s/%s health down", be, name);
			snprintf(cmds[n++], PLAN_COMMAND_MAX, "set server %s/%s weight 100%%", be, name);
		}
	for (int h = 0; h < p->n_haproxies; h++)
		if (haproxy_send(&p->haproxies[h], cmds, n, p->o->haproxy_timeout))
			log_info("haproxy %s: every server handed back to its health checks", p->haproxies[h].address);
}
