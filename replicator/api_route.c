/*
 * api_route: the agent's REST API, as a pure router. A table of routes maps each path to either a
 * health verdict (200 or 503, Patroni's semantics, answered with the node's
 * status as JSON) or a document (/cluster, /history, /metrics, /patroni); a
 * second table holds the mutating calls (/switchover, /failover, /restart,
 * /reinit, /pause, /resume). api_route is pure: it parses the method, the URI
 * and its query with libevent's parsers, validates every parameter (unknown
 * ones, bad lag sizes and malformed queries get 400 with a JSON error naming
 * the problem) and answers from the snapshot alone. A mutating call must
 * carry the bearer token; its body is a small JSON object whose fields are
 * checked one by one and against the snapshot, and when everything holds the
 * router hands back the command instead of an answer. The server (api.c)
 * only turns a request into api_route's inputs and its answer into a reply.
 */
#include "api_route.h"

#include <errno.h>
#include <event2/buffer.h>
#include <event2/event.h>
#include <event2/http.h>
#include <event2/keyvalq_struct.h>
#include <inttypes.h>
#include <jansson.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/queue.h>
#include <time.h>

#include "common/hostport.h"
#include "common/metrics.h"
#include "common/secret.h"
#include "common/timeparse.h"
#include "cluster/dynconf.h"
#include "decide.h"

#define API_URI_MAX 2048
#define API_HEADERS_MAX 8192
#define API_BODY_MAX 16384        /* evhttp's limit: beyond it a bare 413 and the connection closes */
#define API_COMMAND_BODY_MAX 4096 /* a mutating call's JSON body; beyond it our 413 with a JSON error */
#define API_TIMEOUT_S 5
#define API_ECHO_MAX 64 /* bytes of a client's value quoted back in an error */

static const char content_json[] = "application/json";
static const char content_metrics[] = "text/plain; version=0.0.4; charset=utf-8";
static const char read_methods[] = "GET, HEAD, OPTIONS";
static const char command_methods[] = "POST, OPTIONS";

/* Answers counted per status for /metrics; the last slot takes every other status. */
static const int counted_status[API_N_COUNTED] = {200, 202, 400, 401, 403, 404, 405, 409,
						  412, 413, 414, 422, 500, 503, 0};

/* Query parameters a route accepts. */
enum { PARAM_LAG = 1, PARAM_TAGS = 2, PARAM_STATE = 4 };

typedef struct request {
	const api_snapshot *s;
	const api_counters *counters;
	const struct evkeyvalq *query;
	bool has_lag;
	uint64_t max_lag;
	const char *replication_state; /* NULL when not asked */
} request;

typedef int (*verdict_fn)(const request *r);
typedef void (*document_fn)(const request *r, api_answer *out);

typedef struct route {
	const char *path;
	unsigned params;
	verdict_fn verdict;   /* health endpoints: 200 or 503, body = node status */
	document_fn document; /* everything else */
} route;

static bool streq(const char *a, const char *b) { return strcmp(a, b) == 0; }

/* ---- facts about the node, from the snapshot ---- */

static bool is_primary(const api_snapshot *s) { return s->leader && s->running && streq(s->role, "primary"); }

static bool is_running_replica(const api_snapshot *s) { return s->running && streq(s->role, "replica"); }

static uint64_t node_lag(const api_snapshot *s) { return cluster_lag(&s->view, s->received_lsn, s->replayed_lsn); }

/* The sync set counts only when the current leader's term published it. */
static bool is_sync(const api_snapshot *s)
{
	const cluster_view *v = &s->view;
	return v->has_sync && v->has_leader && v->sync_term == v->leader_term && cluster_in_sync(v, s->name);
}

static const char *replication_state(const api_snapshot *s)
{
	if (!is_running_replica(s))
		return NULL;
	return s->streaming ? "streaming" : "in archive recovery";
}

/* Tag values as Patroni compares them: booleans lowercase, numbers in decimal. */
static const char *tag_value(const api_snapshot *s, const char *tag, char *buf, size_t len)
{
	if (streq(tag, "nofailover"))
		return s->nofailover ? "true" : "false";
	if (streq(tag, "noloadbalance"))
		return s->noloadbalance ? "true" : "false";
	if (streq(tag, "priority")) {
		snprintf(buf, len, "%ld", s->priority);
		return buf;
	}
	return NULL;
}

/* ---- health verdicts ---- */

static bool replica_ok(const request *r)
{
	const api_snapshot *s = r->s;
	if (!is_running_replica(s) || s->noloadbalance)
		return false;
	if (r->has_lag && node_lag(s) > r->max_lag)
		return false;
	return r->replication_state == NULL || streq(r->replication_state, replication_state(s));
}

static int verdict(bool ok) { return ok ? 200 : 503; }
static int verdict_primary(const request *r) { return verdict(is_primary(r->s)); }
static int verdict_leader(const request *r) { return verdict(r->s->leader); }
static int verdict_replica(const request *r) { return verdict(replica_ok(r)); }
static int verdict_read_only(const request *r) { return verdict(is_primary(r->s) || replica_ok(r)); }
static int verdict_health(const request *r) { return verdict(r->s->running); }
static int verdict_sync(const request *r) { return verdict(is_sync(r->s) && replica_ok(r)); }
static int verdict_async(const request *r) { return verdict(!is_sync(r->s) && replica_ok(r)); }

/* The API answers from the loop's thread, so an answer proves the loop turns. */
static int verdict_liveness(const request *r)
{
	(void)r;
	return 200;
}

static int verdict_readiness(const request *r)
{
	const api_snapshot *s = r->s;
	if (s->leader)
		return verdict(s->running);
	if (!is_running_replica(s) || !s->streaming)
		return 503;
	return verdict(!r->has_lag || node_lag(s) <= r->max_lag);
}

/* ---- answers ---- */

/* Copies at most len - 1 bytes of client text, printable ASCII only, so errors stay valid UTF-8. */
static const char *echo(const char *src, char *dst, size_t len)
{
	size_t i = 0;
	for (; src[i] && i + 1 < len; i++)
		dst[i] = (src[i] >= 0x20 && src[i] < 0x7f) ? src[i] : '?';
	dst[i] = '\0';
	if (src[i])
		snprintf(dst + (i > 3 ? i - 3 : 0), 4, "...");
	return dst;
}

/* Takes o; a body that cannot be encoded becomes a 500. */
static void answer_json(api_answer *out, int status, json_t *o)
{
	out->status = status;
	out->content_type = content_json;
	out->body = o ? json_dumps(o, JSON_COMPACT | JSON_SORT_KEYS) : NULL;
	json_decref(o);
	if (out->body == NULL) {
		out->status = 500;
		out->body = strdup("{\"error\":\"api: cannot encode the answer\"}");
	}
}

static void answer_verror(api_answer *out, int status, const char *fmt, va_list ap)
	__attribute__((format(printf, 3, 0)));

static void answer_verror(api_answer *out, int status, const char *fmt, va_list ap)
{
	char msg[512];
	vsnprintf(msg, sizeof msg, fmt, ap);
	answer_json(out, status, json_pack("{s:s}", "error", msg));
}

static void answer_error(api_answer *out, int status, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

static void answer_error(api_answer *out, int status, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	answer_verror(out, status, fmt, ap);
	va_end(ap);
}

/* JSON integers are signed; an LSN beyond 2^63 cannot occur, clamp rather than wrap. */
static json_t *json_lsn(uint64_t lsn) { return json_integer(lsn > INT64_MAX ? INT64_MAX : (json_int_t)lsn); }

static void set_new(json_t *o, const char *key, json_t *v) { json_object_set_new(o, key, v); }

static json_t *tags_json(bool nofailover, bool noloadbalance, long priority)
{
	return json_pack("{s:b, s:b, s:I}", "nofailover", nofailover, "noloadbalance", noloadbalance, "priority",
			 (json_int_t)priority);
}

/* Patroni's postmaster_start_time form, in UTC. */
static json_t *start_time_json(double t)
{
	struct tm tm;
	char buf[48];
	if (!(t > 0 && t < 1e11)) /* unset, or not a time: no field rather than an undefined cast */
		return NULL;
	time_t secs = (time_t)t;
	if (gmtime_r(&secs, &tm) == NULL)
		return NULL;
	int ms = (int)((t - (double)secs) * 1000.0);
	snprintf(buf, sizeof buf, "%04d-%02d-%02d %02d:%02d:%02d.%03d UTC", tm.tm_year + 1900, tm.tm_mon + 1,
		 tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec,
		 ms < 0     ? 0
		 : ms > 999 ? 999
			    : ms);
	return json_string(buf);
}

/* An ISO 8601 time in UTC with its zone, as Patroni writes scheduled times ("2026-12-07T10:00:00+00:00"). */
static json_t *iso_time_json(double t)
{
	struct tm tm;
	char buf[48];
	if (!(t > 0 && t < 1e11))
		return NULL;
	time_t secs = (time_t)t;
	if (gmtime_r(&secs, &tm) == NULL)
		return NULL;
	snprintf(buf, sizeof buf, "%04d-%02d-%02dT%02d:%02d:%02d+00:00", tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday,
		 tm.tm_hour, tm.tm_min, tm.tm_sec);
	return json_string(buf);
}

/* The node's status, the body of every health endpoint and of /patroni (Patroni's keys). */
static json_t *status_json(const api_snapshot *s)
{
	json_t *o = json_object();
	set_new(o, "state", json_string(s->job_state[0] ? s->job_state : s->running ? "running" : "stopped"));
	set_new(o, "role", json_string(s->role));
	if (s->running) {
		json_t *start = start_time_json(s->postmaster_start);
		if (start)
			set_new(o, "postmaster_start_time", start);
		if (s->timeline > 0)
			set_new(o, "timeline", json_integer(s->timeline));
		if (streq(s->role, "primary"))
			set_new(o, "xlog", json_pack("{s:o}", "location", json_lsn(s->wal_lsn)));
		else
			set_new(o, "xlog",
				json_pack("{s:o, s:o}", "received_location", json_lsn(s->received_lsn),
					  "replayed_location", json_lsn(s->replayed_lsn)));
	}
	if (replication_state(s))
		set_new(o, "replication_state", json_string(replication_state(s)));
	if (is_running_replica(s) && is_sync(s))
		set_new(o, "sync_standby", json_true());
	if (!s->view.has_leader)
		set_new(o, "cluster_unlocked", json_true());
	if (s->view.paused)
		set_new(o, "pause", json_true());
	if (s->running && s->server_version > 0)
		set_new(o, "server_version", json_integer(s->server_version));
	if (s->system_id[0])
		set_new(o, "database_system_identifier", json_string(s->system_id));
	if (s->pending_restart)
		set_new(o, "pending_restart", json_true());
	if (s->dcs_last_seen > 0)
		set_new(o, "dcs_last_seen", json_integer((json_int_t)s->dcs_last_seen));
	if (s->running && streq(s->role, "primary") && s->n_replication > 0) {
		json_t *rows = json_array();
		for (int i = 0; i < s->n_replication && i < CLUSTER_MAX_MEMBERS; i++) {
			const pg_replication_row *w = &s->replication[i];
			json_array_append_new(rows, json_pack("{s:s, s:s, s:s, s:s, s:s, s:i}", "usename", w->usename,
							      "application_name", w->application_name, "client_addr",
							      w->client_addr, "state", w->state, "sync_state",
							      w->sync_state, "sync_priority", w->sync_priority));
		}
		set_new(o, "replication", rows);
	}
	set_new(o, "tags", tags_json(s->nofailover, s->noloadbalance, s->priority));
	set_new(o, "patroni",
		json_pack("{s:s, s:s, s:s}", "version", API_PATRONI_VERSION, "scope", s->scope, "name", s->name));
	return o;
}

static void document_status(const request *r, api_answer *out) { answer_json(out, 200, status_json(r->s)); }

/* host and port of "host:port" or "[v6]:port", the way Patroni's /cluster shows them. */
static void member_address(json_t *o, const char *address)
{
	char host[128];
	int port = 0;
	if (hostport_parse(address, host, sizeof host, &port) < 0) {
		set_new(o, "host", json_string(address)); /* shown as it is, never taken apart wrongly */
		return;
	}
	set_new(o, "host", json_string(host));
	set_new(o, "port", json_integer(port));
}

static json_t *member_json(const cluster_view *v, const member *m)
{
	json_t *o = json_pack("{s:s, s:s, s:s, s:I}", "name", m->name, "role", cluster_member_role(v, m), "state",
			      cluster_member_state(v, m), "timeline", (json_int_t)m->timeline);
	if (o == NULL)
		return NULL;
	if (m->api_url[0])
		set_new(o, "api_url", json_string(m->api_url));
	if (m->conn_address[0])
		member_address(o, m->conn_address);
	if (!(v->has_leader && streq(v->leader, m->name)))
		set_new(o, "lag",
			cluster_leader_position(v) ? json_lsn(cluster_lag(v, m->received_lsn, m->replayed_lsn))
						   : json_string("unknown"));
	set_new(o, "tags", tags_json(m->nofailover, m->noloadbalance, m->priority));
	if (m->pending_restart)
		set_new(o, "pending_restart", json_true());
	if (cluster_drained(v, m->name))
		set_new(o, "drained", json_true());
	return o;
}

static void document_cluster(const request *r, api_answer *out)
{
	const cluster_view *v = &r->s->view;
	json_t *members = json_array();
	for (int i = 0; i < v->n_members && i < CLUSTER_MAX_MEMBERS; i++)
		json_array_append_new(members, member_json(v, &v->members[i]));
	json_t *o = json_pack("{s:s, s:o}", "scope", r->s->scope, "members", members);
	if (o && v->paused)
		set_new(o, "pause", json_true());
	/* A switchover waiting for its time, as Patroni shows it: {"at", "from", "to"?}. */
	if (o && v->has_switchover && v->switchover_at > 0 && v->switchover_leader[0]) {
		json_t *at = iso_time_json(v->switchover_at);
		if (at != NULL) {
			json_t *sw = json_pack("{s:o, s:s}", "at", at, "from", v->switchover_leader);
			if (sw && v->switchover_candidate[0])
				set_new(sw, "to", json_string(v->switchover_candidate));
			set_new(o, "scheduled_switchover", sw);
		}
	}
	answer_json(out, 200, o);
}

static void document_history(const request *r, api_answer *out)
{
	const char *h = r->s->history_json;
	json_t *a = json_loads(h ? h : "[]", 0, NULL);
	if (!json_is_array(a)) {
		json_decref(a);
		answer_error(out, 500, "api: the history record is not a JSON array");
		return;
	}
	answer_json(out, 200, a);
}

/* ---- /metrics, Prometheus text format 0.0.4 ---- */

static void metric(struct evbuffer *b, const char *labels, const char *name, const char *type, const char *help,
		   uint64_t value)
{
	metrics_one(b, name, type, help, labels, value);
}

static void metric_roles(struct evbuffer *b, const char *labels, const api_snapshot *s)
{
	static const char *const roles[] = {"primary", "replica", "uninitialized", "stopped"};
	metrics_head(b, "flotilla_role", "gauge", "1 for the role PostgreSQL runs in on this node.");
	for (size_t i = 0; i < sizeof roles / sizeof roles[0]; i++) {
		char l[6 * CLUSTER_NAME_MAX];
		snprintf(l, sizeof l, "%s,role=\"%s\"", labels, roles[i]);
		metrics_u64(b, "flotilla_role", l, streq(s->role, roles[i]));
	}
}

static void metric_requests(struct evbuffer *b, const char *labels, const api_counters *c)
{
	metrics_head(b, "flotilla_api_requests_total", "counter", "REST API requests answered, by status.");
	for (size_t i = 0; i < API_N_COUNTED; i++) {
		char l[6 * CLUSTER_NAME_MAX], code[16];
		snprintf(code, sizeof code, "%d", counted_status[i]);
		snprintf(l, sizeof l, "%s,code=\"%s\"", labels, counted_status[i] ? code : "other");
		metrics_u64(b, "flotilla_api_requests_total", l, c->requests[i]);
	}
}

/* The leader's replication slots: what each holds back, whether it streams, whether its WAL is past the limit. */
static void metric_slots(struct evbuffer *b, const char *labels, const api_snapshot *s)
{
	static const struct {
		const char *name, *help;
	} heads[] = {
		{"flotilla_replication_slot_retained_bytes",
		 "Leader: WAL a member's replication slot holds back (the leader's position - restart_lsn)."},
		{"flotilla_replication_slot_active", "Leader: 1 when a member streams from its replication slot."},
		{"flotilla_replication_slot_wal_lost",
		 "Leader: 1 when a slot fell behind max_slot_wal_keep_size (wal_status unreserved or lost): "
		 "its member must be cloned again."},
	};
	if (s->n_slots == 0)
		return;
	for (size_t h = 0; h < sizeof heads / sizeof heads[0]; h++) {
		metrics_head(b, heads[h].name, "gauge", heads[h].help);
		for (int i = 0; i < s->n_slots; i++) {
			const slot_state *sl = &s->slots[i];
			char slot[2 * CLUSTER_NAME_MAX + 8], l[512];
			metrics_label_value(slot, sizeof slot, sl->name);
			snprintf(l, sizeof l, "%s,slot=\"%s\"", labels, slot);
			uint64_t v = h == 0 ? sl->retained_bytes : h == 1 ? sl->active : sl->wal_lost;
			metrics_u64(b, heads[h].name, l, v);
		}
	}
}

static void metrics_text(struct evbuffer *b, const request *r)
{
	const api_snapshot *s = r->s;
	char scope[2 * CLUSTER_NAME_MAX], name[2 * CLUSTER_NAME_MAX], labels[5 * CLUSTER_NAME_MAX];
	metrics_label_value(scope, sizeof scope, s->scope);
	metrics_label_value(name, sizeof name, s->name);
	snprintf(labels, sizeof labels, "scope=\"%s\",name=\"%s\"", scope, name);
	bool replica = is_running_replica(s);

	metric(b, labels, "flotilla_postgres_running", "gauge", "1 when PostgreSQL answers queries.", s->running);
	metric(b, labels, "flotilla_leader", "gauge", "1 when this node holds the leader key.", s->leader);
	metric(b, labels, "flotilla_primary", "gauge", "1 when this node runs as the primary with the leader key.",
	       is_primary(s));
	metric(b, labels, "flotilla_replica", "gauge", "1 when this node runs as a replica.", replica);
	metric(b, labels, "flotilla_sync_standby", "gauge", "1 when this replica is in the published sync set.",
	       replica && is_sync(s));
	metric_roles(b, labels, s);
	metric(b, labels, "flotilla_timeline", "gauge", "PostgreSQL timeline.",
	       s->timeline > 0 ? (uint64_t)s->timeline : 0);
	metric(b, labels, "flotilla_xlog_location_bytes", "gauge", "Primary: current WAL position.", s->wal_lsn);
	metric(b, labels, "flotilla_pg_wal_bytes", "gauge", "What pg_wal holds (it grows while archiving fails).",
	       s->pg_wal_bytes);
	metric(b, labels, "flotilla_archive_ready_segments", "gauge",
	       "WAL files waiting for archive_command (.ready): the archive's backlog on this node.", s->archive_ready);
	metric(b, labels, "flotilla_archived_total", "counter",
	       "WAL files archive_command archived (pg_stat_archiver).", s->archived);
	metric(b, labels, "flotilla_archive_failed_total", "counter",
	       "archive_command failures (pg_stat_archiver): the backup sidecar unreachable, full or refusing.",
	       s->archive_failed);
	metric(b, labels, "flotilla_xlog_received_location_bytes", "gauge", "Replica: WAL position received.",
	       s->received_lsn);
	metric(b, labels, "flotilla_xlog_replayed_location_bytes", "gauge", "Replica: WAL position replayed.",
	       s->replayed_lsn);
	metric(b, labels, "flotilla_replication_lag_bytes", "gauge", "Replica: bytes behind the leader's position.",
	       replica ? node_lag(s) : 0);
	if (replica && s->replay_lag_seconds >= 0) {
		metrics_head(b, "flotilla_replication_lag_seconds", "gauge",
			     "Replica: seconds its replay is behind (0 when it replayed all it received).");
		metrics_double(b, "flotilla_replication_lag_seconds", labels, s->replay_lag_seconds);
	}
	metric(b, labels, "flotilla_cluster_unlocked", "gauge", "1 when no node holds the leader key.",
	       !s->view.has_leader);
	metric(b, labels, "flotilla_paused", "gauge", "1 when automatic failover is paused.", s->view.paused);
	metric(b, labels, "flotilla_proxy_agents", "gauge",
	       "flotilla-proxy-agents of the cluster alive (by their etcd records).", (uint64_t)s->view.n_proxies);
	metric(b, labels, "flotilla_etcd_ok", "gauge", "1 when the last etcd exchange succeeded.", s->etcd_ok);
	metric(b, labels, "flotilla_lease_renewals_total", "counter", "Lease renewals that succeeded.",
	       s->lease_renewals);
	metric(b, labels, "flotilla_lease_failures_total", "counter", "Lease renewals that failed.", s->lease_failures);
	metric(b, labels, "flotilla_leader_changes_total", "counter", "Changes of the leader seen by this node.",
	       s->leader_changes);
	metric_slots(b, labels, s);
	metric_requests(b, labels, r->counters);
}

static void document_metrics(const request *r, api_answer *out)
{
	struct evbuffer *b = evbuffer_new();
	if (b == NULL) {
		answer_error(out, 500, "api: out of memory");
		return;
	}
	metrics_text(b, r);
	size_t n = evbuffer_get_length(b);
	out->body = malloc(n + 1);
	if (out->body == NULL) {
		evbuffer_free(b);
		answer_error(out, 500, "api: out of memory");
		return;
	}
	evbuffer_remove(b, out->body, n);
	out->body[n] = '\0';
	evbuffer_free(b);
	out->status = 200;
	out->content_type = content_metrics;
}

/* ---- routing ---- */

static const route routes[] = {
	{"/", 0, verdict_primary, NULL},
	{"/primary", 0, verdict_primary, NULL},
	{"/master", 0, verdict_primary, NULL},
	{"/read-write", 0, verdict_primary, NULL},
	{"/leader", 0, verdict_leader, NULL},
	{"/replica", PARAM_LAG | PARAM_TAGS | PARAM_STATE, verdict_replica, NULL},
	{"/read-only", PARAM_LAG | PARAM_TAGS, verdict_read_only, NULL},
	{"/sync", PARAM_LAG | PARAM_TAGS, verdict_sync, NULL},
	{"/synchronous", PARAM_LAG | PARAM_TAGS, verdict_sync, NULL},
	{"/async", PARAM_LAG | PARAM_TAGS, verdict_async, NULL},
	{"/asynchronous", PARAM_LAG | PARAM_TAGS, verdict_async, NULL},
	{"/health", PARAM_TAGS, verdict_health, NULL},
	{"/liveness", 0, verdict_liveness, NULL},
	{"/readiness", PARAM_LAG, verdict_readiness, NULL},
	{"/patroni", 0, NULL, document_status},
	{"/cluster", 0, NULL, document_cluster},
	{"/history", 0, NULL, document_history},
	{"/metrics", 0, NULL, document_metrics},
};

/* Exact match, one trailing slash tolerated ("/replica/"), as Patroni's substring match allows. */
static const route *route_find(const char *path)
{
	size_t n = strlen(path);
	if (n > 1 && path[n - 1] == '/')
		n--;
	if (n == 0)
		return &routes[0];
	for (size_t i = 0; i < sizeof routes / sizeof routes[0]; i++)
		if (strlen(routes[i].path) == n && strncmp(routes[i].path, path, n) == 0)
			return &routes[i];
	return NULL;
}

/* Bytes, or an integer followed by B, kB, MB, GB or TB (1024-based, as Patroni and PostgreSQL). NULL or the problem. */
static const char *size_parse(const char *text, uint64_t *out)
{
	static const struct {
		const char *unit;
		int shift;
	} units[] = {{"", 0}, {"B", 0}, {"kB", 10}, {"MB", 20}, {"GB", 30}, {"TB", 40}};
	const char *p = text;
	uint64_t n = 0;
	if (*p < '0' || *p > '9')
		return "is not a size";
	for (; *p >= '0' && *p <= '9'; p++) {
		unsigned d = (unsigned)(*p - '0');
		if (n > (UINT64_MAX - d) / 10)
			return "is too large";
		n = n * 10 + d;
	}
	for (size_t i = 0; i < sizeof units / sizeof units[0]; i++) {
		if (!streq(p, units[i].unit))
			continue;
		if (n > (UINT64_MAX >> units[i].shift))
			return "is too large";
		*out = n << units[i].shift;
		return NULL;
	}
	return "is not a size";
}

/* One parameter into r: NULL, or the problem (400) written into msg. */
static const char *param_read(const route *rt, request *r, const struct evkeyval *kv, char *msg, size_t len)
{
	char echoed[API_ECHO_MAX + 1];
	if ((rt->params & PARAM_LAG) && streq(kv->key, "lag")) {
		const char *problem = r->has_lag ? "is given twice" : size_parse(kv->value, &r->max_lag);
		r->has_lag = true;
		if (problem)
			snprintf(msg, len, "api: lag \"%s\" %s\nHINT: give bytes, or a number with B, kB, MB, GB or TB",
				 echo(kv->value, echoed, sizeof echoed), problem);
		return problem ? msg : NULL;
	}
	if ((rt->params & PARAM_STATE) && streq(kv->key, "replication_state")) {
		if (r->replication_state)
			return "api: replication_state is given twice";
		r->replication_state = kv->value;
		return NULL;
	}
	if ((rt->params & PARAM_TAGS) && strncmp(kv->key, "tag_", 4) == 0)
		return kv->key[4] ? NULL : "api: query parameter \"tag_\" names no tag\nHINT: tag_<name>=<value>";
	snprintf(msg, len, "api: unknown query parameter \"%s\" for %s", echo(kv->key, echoed, sizeof echoed),
		 rt->path);
	return msg;
}

/* Reads the query into r; on a bad parameter answers 400 and returns -1. */
static int params_read(const route *rt, request *r, api_answer *out)
{
	const struct evkeyval *kv;
	char msg[256];
	TAILQ_FOREACH(kv, r->query, next)
	{
		const char *problem = param_read(rt, r, kv, msg, sizeof msg);
		if (problem) {
			answer_error(out, 400, "%s", problem);
			return -1;
		}
	}
	return 0;
}

/* Every tag_<name>=<value> must equal the node's tag; an unknown tag does not match (Patroni). */
static bool tags_match(const request *r)
{
	const struct evkeyval *kv;
	char buf[32];
	TAILQ_FOREACH(kv, r->query, next)
	{
		if (strncmp(kv->key, "tag_", 4) != 0)
			continue;
		const char *have = tag_value(r->s, kv->key + 4, buf, sizeof buf);
		if (have == NULL || !streq(have, kv->value))
			return false;
	}
	return true;
}

static void answer_route(const route *rt, const request *r, api_answer *out)
{
	if (rt->document) {
		rt->document(r, out);
		return;
	}
	int status = rt->verdict(r);
	if (status == 200 && (rt->params & PARAM_TAGS) && !tags_match(r))
		status = 503;
	answer_json(out, status, status_json(r->s));
}

/* ---- mutating calls ---- */

enum { FIELD_LEADER = 1, FIELD_CANDIDATE = 2, FIELD_SCHEDULED_AT = 4 };

typedef int (*check_fn)(const api_snapshot *s, api_command_req *c, api_answer *out);

typedef struct command_route {
	const char *path;
	api_command cmd;
	unsigned fields; /* body fields the call accepts */
	check_fn check;  /* 0, or -1 after answering why the cluster's state refuses it */
} command_route;

static const char *command_name(api_command cmd)
{
	static const char *const names[] = {
		[API_CMD_NONE] = "none",         [API_CMD_PAUSE] = "pause",
		[API_CMD_RESUME] = "resume",     [API_CMD_SWITCHOVER] = "switchover",
		[API_CMD_FAILOVER] = "failover", [API_CMD_RESTART] = "restart",
		[API_CMD_REINIT] = "reinit",     [API_CMD_CONFIG] = "config",
	};
	return (unsigned)cmd < sizeof names / sizeof names[0] ? names[cmd] : "unknown";
}

/* ---- the bearer token ---- */

/* "Bearer <token>" (scheme case-insensitive, RFC 7235) against req->token; on refusal answers 401 or 403. */
static int auth_check(const api_request *req, api_answer *out)
{
	const char *why = NULL;
	int status = secret_bearer_check(req->authorization, req->token, &why);
	if (status == 403)
		answer_error(out, 403,
			     "api: mutating calls are disabled: no api token configured\n"
			     "HINT: set secrets.api_token_file (FLOTILLA_API_TOKEN_FILE) to a file holding the token");
	else if (status != 0)
		answer_error(out, 401, "api: %s\n%s", why, SECRET_BEARER_HINT);
	return status == 0 ? 0 : -1;
}

/* ---- the body: a JSON object of known fields ---- */

static const char *json_type_name(const json_t *v)
{
	switch (json_typeof(v)) {
	case JSON_OBJECT:
		return "an object";
	case JSON_ARRAY:
		return "an array";
	case JSON_STRING:
		return "a string";
	case JSON_INTEGER:
	case JSON_REAL:
		return "a number";
	case JSON_TRUE:
	case JSON_FALSE:
		return "a boolean";
	case JSON_NULL:
		break;
	}
	return "null";
}

/* An optional string field: *text is NULL when it is null or "" (not given, as in Patroni). */
static int field_string(const char *path, const char *key, const json_t *v, const char **text, api_answer *out)
{
	*text = NULL;
	if (json_is_null(v))
		return 0;
	if (!json_is_string(v)) {
		answer_error(out, 400, "api: %s: \"%s\" must be a string, not %s", path, key, json_type_name(v));
		return -1;
	}
	if (json_string_value(v)[0] != '\0')
		*text = json_string_value(v);
	return 0;
}

/* A member name field. */
static int field_name(const char *path, const char *key, const json_t *v, char *dst, api_answer *out)
{
	char echoed[API_ECHO_MAX + 1];
	const char *name;
	if (field_string(path, key, v, &name, out) < 0)
		return -1;
	if (name == NULL)
		return 0;
	if (strlen(name) != json_string_length(v) || !cluster_name_valid(name)) {
		answer_error(out, 400,
			     "api: %s: \"%s\" = \"%s\" is not a member name\n"
			     "HINT: 1 to 63 lowercase letters, digits, '_' and '-'",
			     path, key, echo(name, echoed, sizeof echoed));
		return -1;
	}
	snprintf(dst, CLUSTER_NAME_MAX, "%s", name);
	return 0;
}

static int field_time(const char *path, const char *key, const json_t *v, double *dst, api_answer *out)
{
	char echoed[API_ECHO_MAX + 1];
	const char *text;
	if (field_string(path, key, v, &text, out) < 0)
		return -1;
	if (text == NULL)
		return 0;
	switch (timeparse_iso8601(text, dst)) {
	case TIME_OK:
		if (*dst > 0)
			return 0;
		/* 0 means "now" to the agent: a time before 1970 is in the past without asking the clock. */
		answer_error(out, 422, "api: %s: \"%s\" = \"%s\" is in the past", path, key,
			     echo(text, echoed, sizeof echoed));
		return -1;
	case TIME_NO_ZONE: /* Patroni's answer: the agent will not guess the zone */
		answer_error(out, 400,
			     "api: %s: \"%s\" = \"%s\" has no timezone: timezone information is mandatory\n"
			     "HINT: end it with Z or an offset, e.g. 2026-11-25T13:00:00+00:00",
			     path, key, echo(text, echoed, sizeof echoed));
		return -1;
	case TIME_MALFORMED:
		break;
	}
	answer_error(out, 422,
		     "api: %s: \"%s\" = \"%s\" is not an unambiguous ISO 8601 time\n"
		     "HINT: e.g. 2026-11-25T13:00:00+00:00 or 2026-11-25T13:00:00Z",
		     path, key, echo(text, echoed, sizeof echoed));
	return -1;
}

/* One body field into c; unknown fields and wrong types are refused (400). */
static int field_read(const command_route *ac, const char *key, const json_t *v, api_command_req *c, api_answer *out)
{
	char echoed[API_ECHO_MAX + 1];
	if ((ac->fields & FIELD_LEADER) && streq(key, "leader"))
		return field_name(ac->path, key, v, c->leader, out);
	if ((ac->fields & FIELD_CANDIDATE) && streq(key, "candidate"))
		return field_name(ac->path, key, v, c->candidate, out);
	if ((ac->fields & FIELD_SCHEDULED_AT) && streq(key, "scheduled_at"))
		return field_time(ac->path, key, v, &c->scheduled_at, out);
	answer_error(out, 400, "api: %s: unknown field \"%s\"%s", ac->path, echo(key, echoed, sizeof echoed),
		     ac->fields ? "" : "\nHINT: send no body, or {}");
	return -1;
}

/* Parses and reads the body into c; an empty body is {}. On a problem answers 4xx and returns -1. */
static int body_read(const command_route *ac, const api_request *req, api_command_req *c, api_answer *out)
{
	char text[API_ECHO_MAX * 3];
	if (req->body_len > API_COMMAND_BODY_MAX) {
		answer_error(out, 413, "api: %s: the body has %zu bytes, more than %d", ac->path, req->body_len,
			     API_COMMAND_BODY_MAX);
		return -1;
	}
	if (req->body == NULL || req->body_len == 0)
		return 0;
	json_error_t e;
	json_t *o = json_loadb(req->body, req->body_len, JSON_REJECT_DUPLICATES, &e);
	if (o == NULL) {
		answer_error(out, 400, "api: %s: malformed JSON: %s at line %d column %d", ac->path,
			     echo(e.text, text, sizeof text), e.line, e.column);
		return -1;
	}
	int rc = 0;
	const char *key;
	json_t *v;
	if (!json_is_object(o)) {
		answer_error(out, 400, "api: %s: the body must be a JSON object, not %s", ac->path, json_type_name(o));
		rc = -1;
	}
	json_object_foreach(o, key, v)
	{
		if (rc == 0)
			rc = field_read(ac, key, v, c, out);
	}
	json_decref(o);
	return rc;
}

/* ---- the cluster's state ---- */

/* answer_error for the checks: answers and returns -1. */
static int refuse(api_answer *out, int status, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

static int refuse(api_answer *out, int status, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	answer_verror(out, status, fmt, ap);
	va_end(ap);
	return -1;
}

/* The admission rules of decide.c, as HTTP answers: refused 412 (as Patroni), conflict 409. */
static int admitted(admit a, const char *why, api_answer *out)
{
	if (a == ADMIT_OK)
		return 0;
	return refuse(out, a == ADMIT_REFUSED ? 412 : 409, "api: %s", why);
}

/* The candidate, when one is named, must be a member allowed to take over. */
static int check_candidate(const cluster_view *v, const char *candidate, api_answer *out)
{
	char why[256];
	return candidate[0] ? admitted(decide_admit_candidate(v, candidate, why, sizeof why), why, out) : 0;
}

static int check_switchover(const api_snapshot *s, api_command_req *c, api_answer *out)
{
	const cluster_view *v = &s->view;
	if (c->leader[0] == '\0')
		return refuse(out, 400, "api: /switchover needs \"leader\", the name of the current leader");
	if (c->scheduled_at && v->paused)
		return refuse(out, 409, "api: cannot schedule a switchover while automatic failover is paused");
	if (c->candidate[0] == '\0' && v->paused)
		return refuse(out, 409, "api: while automatic failover is paused a switchover needs a \"candidate\"");
	if (streq(c->leader, c->candidate))
		return refuse(out, 400, "api: leader and candidate are both \"%s\": nothing to switch over", c->leader);
	if (!v->has_leader)
		return refuse(out, 412,
			      "api: no leader: the cluster has no leader to switch over from\n"
			      "HINT: use POST /failover with a candidate");
	if (!streq(v->leader, c->leader))
		return refuse(out, 412, "api: leader name does not match: \"%s\" is not the leader, \"%s\" is",
			      c->leader, v->leader);
	c->cmd = API_CMD_SWITCHOVER;
	return check_candidate(v, c->candidate, out);
}

static int check_failover(const api_snapshot *s, api_command_req *c, api_answer *out)
{
	const cluster_view *v = &s->view;
	if (c->candidate[0] == '\0')
		return refuse(out, 400, "api: /failover needs \"candidate\", the member to promote");
	if (c->scheduled_at)
		return refuse(out, 400, "api: a failover cannot be scheduled\nHINT: schedule a POST /switchover");
	if (c->leader[0]) /* Patroni: a failover that names the leader is a switchover */
		return check_switchover(s, c, out);
	char why[256];
	c->cmd = API_CMD_FAILOVER;
	return admitted(decide_admit_failover(s->synchronous_mode, v, c->candidate, why, sizeof why), why, out);
}

static int check_reinit(const api_snapshot *s, api_command_req *c, api_answer *out)
{
	char why[256];
	c->cmd = API_CMD_REINIT;
	return admitted(decide_admit_reinit(s->leader, s->name, why, sizeof why), why, out);
}

static int check_none(const api_snapshot *s, api_command_req *c, api_answer *out)
{
	(void)s;
	(void)out;
	(void)c;
	return 0;
}

static const command_route actions[] = {
	{"/switchover", API_CMD_SWITCHOVER, FIELD_LEADER | FIELD_CANDIDATE | FIELD_SCHEDULED_AT, check_switchover},
	{"/failover", API_CMD_FAILOVER, FIELD_LEADER | FIELD_CANDIDATE | FIELD_SCHEDULED_AT, check_failover},
	{"/restart", API_CMD_RESTART, 0, check_none},
	{"/reinit", API_CMD_REINIT, 0, check_reinit},
	{"/pause", API_CMD_PAUSE, 0, check_none},
	{"/resume", API_CMD_RESUME, 0, check_none},
};

/* Token, query, body, cluster state, in that order; fills out->command when all hold. */
static void answer_action(const api_snapshot *s, const command_route *ac, const api_request *req, const char *qs,
			  api_answer *out)
{
	char m[API_ECHO_MAX + 1], q[API_ECHO_MAX + 1];
	snprintf(out->allow, sizeof out->allow, "%s", command_methods);
	if (streq(req->method, "OPTIONS")) {
		out->status = 200;
		return;
	}
	if (!streq(req->method, "POST")) {
		answer_error(out, 405, "api: method %s is not allowed on %s", echo(req->method, m, sizeof m), ac->path);
		return;
	}
	out->allow[0] = '\0';
	if (auth_check(req, out) < 0)
		return;
	if (qs && qs[0]) {
		answer_error(out, 400, "api: %s takes no query parameters, got \"%s\"\nHINT: send the fields as JSON",
			     ac->path, echo(qs, q, sizeof q));
		return;
	}
	api_command_req c = {.cmd = ac->cmd};
	if (body_read(ac, req, &c, out) < 0 || ac->check(s, &c, out) < 0)
		return;
	out->command = c;
}

/* ---- the dynamic configuration ---- */

static const char config_methods[] = "GET, HEAD, OPTIONS, PATCH, PUT";

/*
 * GET /config answers the document this agent applied (Patroni's GET
 * /config); PATCH merges a change into it and PUT replaces it, with the
 * token. The body is checked here as far as the snapshot allows (a PATCH
 * against the document applied); the agent checks it again against etcd's
 * current one and its PostgreSQL's parameters before it writes.
 */
static void answer_config(const api_snapshot *s, const api_request *req, const char *qs, api_answer *out)
{
	char m[API_ECHO_MAX + 1], q[API_ECHO_MAX + 1];
	bool read = streq(req->method, "GET") || streq(req->method, "HEAD");
	bool put = streq(req->method, "PUT");
	if (streq(req->method, "OPTIONS")) {
		snprintf(out->allow, sizeof out->allow, "%s", config_methods);
		out->status = 200;
		return;
	}
	if (!read && !put && !streq(req->method, "PATCH")) {
		answer_error(out, 405, "api: method %s is not allowed on /config", echo(req->method, m, sizeof m));
		snprintf(out->allow, sizeof out->allow, "%s", config_methods);
		return;
	}
	if (qs && qs[0]) {
		answer_error(out, 400, "api: /config takes no query parameters, got \"%s\"", echo(qs, q, sizeof q));
		return;
	}
	if (read) {
		json_t *doc = json_loads(s->config_json ? s->config_json : "{}", 0, NULL);
		answer_json(out, 200, doc ? doc : json_object());
		return;
	}
	if (auth_check(req, out) < 0)
		return;
	if (req->body_len > API_CONFIG_BODY_MAX) {
		answer_error(out, 413, "api: /config: the body has %zu bytes, more than %d", req->body_len,
			     API_CONFIG_BODY_MAX);
		return;
	}
	json_error_t e;
	json_t *body = req->body ? json_loadb(req->body, req->body_len, JSON_REJECT_DUPLICATES, &e) : NULL;
	if (body == NULL || !json_is_object(body)) {
		if (body == NULL && req->body)
			answer_error(out, 400, "api: /config: malformed JSON: %s at line %d column %d",
				     echo(e.text, q, sizeof q), e.line, e.column);
		else
			answer_error(out, 400, "api: /config: the body must be a JSON object");
		json_decref(body);
		return;
	}
	json_t *cur = json_loads(s->config_json ? s->config_json : "{}", 0, NULL);
	json_t *doc = put ? json_incref(body) : dynconf_merge(cur, body);
	fl_err err = {0};
	if (dynconf_check(doc, &err) < 0) {
		answer_error(out, 422, "api: %s", err.msg);
	} else {
		out->command.cmd = API_CMD_CONFIG;
		out->command.config_replace = put;
		memcpy(out->command.config, req->body, req->body_len);
		out->command.config[req->body_len] = '\0';
	}
	json_decref(doc);
	json_decref(cur);
	json_decref(body);
}

bool api_config_answer(api_answer *ans, int status, const char *doc)
{
	if (status < 200 || status > 599) {
		answer_error(ans, 500, "api: config: the agent answered no valid status");
		return false;
	}
	if (status != 200) {
		answer_error(ans, status, "%s", doc);
		return true;
	}
	json_t *o = json_loads(doc, 0, NULL);
	if (o == NULL) {
		answer_error(ans, 500, "api: config: the agent answered no valid document");
		return false;
	}
	answer_json(ans, 200, o);
	return true;
}

/* ---- routing a request ---- */

static const command_route *action_find(const char *path)
{
	size_t n = strlen(path);
	if (n > 1 && path[n - 1] == '/')
		n--;
	for (size_t i = 0; i < sizeof actions / sizeof actions[0]; i++)
		if (strlen(actions[i].path) == n && strncmp(actions[i].path, path, n) == 0)
			return &actions[i];
	return NULL;
}

static void answer_read(const api_snapshot *s, const api_counters *c, const route *rt, const char *method,
			const char *qs, struct evkeyvalq *query, api_answer *out)
{
	char m[API_ECHO_MAX + 1], p[API_ECHO_MAX + 1];
	if (!streq(method, "GET") && !streq(method, "HEAD") && !streq(method, "OPTIONS")) {
		answer_error(out, 405, "api: method %s is not allowed on %s", echo(method, m, sizeof m), rt->path);
		snprintf(out->allow, sizeof out->allow, "%s", read_methods);
	} else if (qs && evhttp_parse_query_str(qs, query) < 0) {
		answer_error(out, 400, "api: malformed query \"%s\"\nHINT: name=value pairs joined by &",
			     echo(qs, p, sizeof p));
	} else {
		request r = {.s = s, .counters = c, .query = query};
		if (params_read(rt, &r, out) == 0)
			answer_route(rt, &r, out);
		if (streq(method, "OPTIONS") && (out->status == 200 || out->status == 503))
			snprintf(out->allow, sizeof out->allow, "%s", read_methods);
	}
}

/* Parses the URI, finds the route or the action, answers. The caller clears the query. */
static void answer_uri(const api_snapshot *s, const api_counters *c, const api_request *req, struct evkeyvalq *query,
		       api_answer *out)
{
	char p[API_ECHO_MAX + 1];
	const char *uri = req->uri;
	if (strnlen(uri, API_URI_MAX + 1) > API_URI_MAX) {
		answer_error(out, 414, "api: uri is longer than %d bytes", API_URI_MAX);
		return;
	}
	struct evhttp_uri *u = evhttp_uri_parse(uri);
	if (u == NULL || (evhttp_uri_get_scheme(u) == NULL && (uri[0] != '/' || evhttp_uri_get_host(u) != NULL))) {
		answer_error(out, 400, "api: malformed uri \"%s\"", echo(uri, p, sizeof p));
		if (u)
			evhttp_uri_free(u);
		return;
	}
	const char *path = evhttp_uri_get_path(u) ? evhttp_uri_get_path(u) : "";
	const char *qs = evhttp_uri_get_query(u);
	const route *rt = route_find(path);
	const command_route *ac = rt ? NULL : action_find(path);
	if (streq(path, "/config") || streq(path, "/config/"))
		answer_config(s, req, qs, out);
	else if (rt)
		answer_read(s, c, rt, req->method, qs, query, out);
	else if (ac)
		answer_action(s, ac, req, qs, out);
	else
		answer_error(out, 404, "api: no endpoint %s", echo(path, p, sizeof p));
	evhttp_uri_free(u);
}

void api_route_counted(const api_snapshot *s, const api_counters *c, const api_request *req, api_answer *out)
{
	memset(out, 0, sizeof *out);
	out->content_type = content_json;
	if (req == NULL || req->method == NULL || req->uri == NULL) {
		answer_error(out, 400, "api: request without %s", req && req->method ? "uri" : "method");
		return;
	}
	struct evkeyvalq query;
	TAILQ_INIT(&query);
	answer_uri(s, c, req, &query, out);
	evhttp_clear_headers(&query);
	/* HEAD and OPTIONS answer with the status alone, as HAProxy's checks expect. */
	if (streq(req->method, "HEAD") || streq(req->method, "OPTIONS")) {
		free(out->body);
		out->body = NULL;
	}
}

void api_route(const api_snapshot *s, const api_request *req, api_answer *out)
{
	static const api_counters none;
	api_route_counted(s, &none, req, out);
}

void api_answer_clear(api_answer *a)
{
	if (a == NULL)
		return;
	free(a->body);
	memset(a, 0, sizeof *a);
}

void api_counters_add(api_counters *c, int status)
{
	size_t i = 0;
	while (counted_status[i] != 0 && counted_status[i] != status)
		i++;
	c->requests[i]++;
}

const char *api_command_name(api_command cmd) { return command_name(cmd); }

bool api_command_in_past(api_answer *ans, double now)
{
	const api_command_req *c = &ans->command;
	if (c->scheduled_at <= 0 || c->scheduled_at >= now)
		return false;
	answer_error(ans, 422, "api: cannot schedule a %s in the past: scheduled_at is %.1f s before now",
		     command_name(c->cmd), now - c->scheduled_at);
	return true;
}

void api_command_unavailable(api_answer *ans) { answer_error(ans, 503, "api: this agent carries out no commands"); }

bool api_command_answer(api_answer *ans, int status, const char *msg, char *clean, size_t len)
{
	echo(msg, clean, len); /* the agent's text may quote etcd: keep the answer valid JSON */
	if (status < 200 || status > 599) {
		answer_error(ans, 500, "api: %s: the agent answered no valid status", command_name(ans->command.cmd));
		return false;
	}
	answer_json(ans, status, json_pack("{s:s}", "message", clean));
	return true;
}
