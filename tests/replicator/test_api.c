/*
 * test_api: the REST API's answers, one row per situation. The health table
 * gives, for each snapshot of a node (leader, streaming, lagging, stopped,
 * noloadbalance, sync, async, ...), the status of every health endpoint
 * under GET, HEAD and OPTIONS; further tables cover lag sizes, tag filters,
 * methods and malformed requests, and the documents' JSON. The mutating
 * calls get a table of tokens (every endpoint with no token configured, no
 * header, a wrong scheme, a wrong token, the right one), a table of bodies
 * and cluster states, one of scheduled times, and one of the commands they
 * turn into. The last tests start the real server on a loopback port and
 * talk HTTP to it.
 */
#include <arpa/inet.h>
#include <event2/event.h>
#include <fcntl.h>
#include <jansson.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "replicator/api.h"
#include "cunit_main.h"

#define MB (1024ull * 1024ull)
#define LEADER_LSN (256 * MB)
#define TOKEN "s3cret-token"

/* A read request: no token, no body. */
static void route(const api_snapshot *s, const char *method, const char *uri, api_answer *out)
{
	api_request req = {.method = method, .uri = uri};
	api_route(s, &req, out);
}

/* A POST with the right token and a body (NULL: none). */
static void post(const api_snapshot *s, const char *uri, const char *body, api_answer *out)
{
	api_request req = {.method = "POST",
			   .uri = uri,
			   .authorization = "Bearer " TOKEN,
			   .body = body,
			   .body_len = body ? strlen(body) : 0,
			   .token = TOKEN};
	api_route(s, &req, out);
}

/* The "error" of a JSON answer, or NULL; *doc must be json_decref'd. */
static const char *error_of(const api_answer *a, json_t **doc)
{
	*doc = a->body ? json_loads(a->body, 0, NULL) : NULL;
	return json_string_value(json_object_get(*doc, "error"));
}

static bool error_has(const api_answer *a, const char *want)
{
	json_t *o;
	const char *e = error_of(a, &o);
	bool ok = e && strstr(e, want);
	if (!ok)
		printf("\n  error %s lacks \"%s\"", e ? e : a->body ? a->body : "(none)", want);
	json_decref(o);
	return ok;
}

static member *add_member(cluster_view *v, const char *name, const char *role, uint64_t lsn)
{
	member *m = &v->members[v->n_members++];
	memset(m, 0, sizeof *m);
	snprintf(m->name, sizeof m->name, "%s", name);
	snprintf(m->role, sizeof m->role, "%s", role);
	snprintf(m->conn_address, sizeof m->conn_address, "10.0.0.%d:5432", v->n_members);
	snprintf(m->api_url, sizeof m->api_url, "http://10.0.0.%d:8008", v->n_members);
	m->running = m->streaming = true;
	m->timeline = 2;
	m->wal_lsn = m->received_lsn = m->replayed_lsn = lsn;
	return m;
}

/* Three nodes of scope "demo": n1 leads at 256 MB, n2 streams level with it, n3 32 MB behind. */
static void view_base(cluster_view *v)
{
	memset(v, 0, sizeof *v);
	v->initialized = true;
	v->has_leader = true;
	snprintf(v->leader, sizeof v->leader, "n1");
	v->leader_term = 7;
	v->has_status = true;
	snprintf(v->last_leader, sizeof v->last_leader, "n1");
	v->last_term = 7;
	v->last_lsn = LEADER_LSN - MB;
	add_member(v, "n1", "primary", LEADER_LSN);
	add_member(v, "n2", "replica", LEADER_LSN);
	add_member(v, "n3", "replica", LEADER_LSN - 32 * MB);
}

static void node_as(api_snapshot *s, const char *name, const char *role, uint64_t lsn)
{
	memset(s, 0, sizeof *s);
	view_base(&s->view);
	snprintf(s->name, sizeof s->name, "%s", name);
	snprintf(s->scope, sizeof s->scope, "demo");
	snprintf(s->role, sizeof s->role, "%s", role);
	s->history_json = "[[1,25623960,\"no recovery target specified\",\"2026-01-01T00:00:00Z\",\"n1\"]]";
	s->running = s->streaming = s->etcd_ok = true;
	s->timeline = 2;
	s->wal_lsn = s->received_lsn = s->replayed_lsn = lsn;
	s->replay_lag_seconds = 0.25;
	s->postmaster_start = 1790000000.5;
	s->priority = 1;
	s->lease_renewals = 41;
	s->lease_failures = 2;
	s->leader_changes = 3;
}

static void leader(api_snapshot *s)
{
	node_as(s, "n1", "primary", LEADER_LSN);
	s->leader = true;
	s->streaming = false;
	s->received_lsn = s->replayed_lsn = 0;
	s->replay_lag_seconds = -1;
}
static void leader_pg_down(api_snapshot *s)
{
	leader(s);
	s->running = false;
}
static void streaming(api_snapshot *s) { node_as(s, "n2", "replica", LEADER_LSN); }
static void lagging(api_snapshot *s) { node_as(s, "n3", "replica", LEADER_LSN - 32 * MB); }
static void archive_recovery(api_snapshot *s)
{
	streaming(s);
	s->streaming = false;
}
static void stopped(api_snapshot *s)
{
	node_as(s, "n2", "stopped", 0);
	s->running = s->streaming = false;
}
static void noloadbalance(api_snapshot *s)
{
	streaming(s);
	s->noloadbalance = true;
}
static void publish_sync(cluster_view *v, int64_t term)
{
	v->has_sync = true;
	v->sync_term = term;
	v->n_sync = 1;
	snprintf(v->sync[0], sizeof v->sync[0], "n2");
}
static void sync_replica(api_snapshot *s)
{
	streaming(s);
	publish_sync(&s->view, 7);
}
static void async_replica(api_snapshot *s)
{
	lagging(s);
	publish_sync(&s->view, 7);
}
/* n2 is named in a sync set of an earlier term: it no longer counts. */
static void stale_sync(api_snapshot *s)
{
	streaming(s);
	publish_sync(&s->view, 6);
}
/* No leader key: lag is measured from the status record's position. */
static void unlocked(api_snapshot *s)
{
	lagging(s);
	s->view.has_leader = false;
}

/* The leader key is held, but the leader's record says its PostgreSQL is down: a manual failover is admitted. */
static void leader_down(api_snapshot *s)
{
	streaming(s);
	s->view.members[0].running = false;
}

/* Synchronous mode, n2 alone in the synchronous set, the leader down. */
static void sync_leader_down(api_snapshot *s)
{
	leader_down(s);
	s->synchronous_mode = true;
	s->view.has_sync = true;
	s->view.sync_term = s->view.leader_term;
	s->view.n_sync = 1;
	snprintf(s->view.sync[0], sizeof s->view.sync[0], "n2");
}

typedef void (*situation_fn)(api_snapshot *s);

static const struct {
	const char *name;
	situation_fn make;
} situations[] = {
	{"leader", leader},
	{"leader_pg_down", leader_pg_down},
	{"streaming", streaming},
	{"lagging", lagging},
	{"archive_recovery", archive_recovery},
	{"stopped", stopped},
	{"noloadbalance", noloadbalance},
	{"sync_replica", sync_replica},
	{"async_replica", async_replica},
	{"stale_sync", stale_sync},
	{"unlocked", unlocked},
};

static situation_fn situation(const char *name)
{
	for (size_t i = 0; i < sizeof situations / sizeof situations[0]; i++)
		if (strcmp(situations[i].name, name) == 0)
			return situations[i].make;
	CU_FAIL_FATAL("unknown situation");
	return NULL;
}

/* ---- health endpoints: situation x endpoint ---- */

static const char *const health_paths[] = {
	"/primary", "/master",   "/read-write", "/",     "/leader", "/replica",     "/read-only",
	"/health",  "/liveness", "/readiness",  "/sync", "/async",  "/synchronous", "/asynchronous"};
#define N_HEALTH (sizeof health_paths / sizeof health_paths[0])

static const struct {
	const char *situation;
	int status[N_HEALTH]; /* in the order of health_paths */
} health_rows[] = {
	/*                   pri  mas  rw   /    lead rep  ro   hea  liv  rdy  sync asyn sync asyn */
	{"leader", {200, 200, 200, 200, 200, 503, 200, 200, 200, 200, 503, 503, 503, 503}},
	{"leader_pg_down", {503, 503, 503, 503, 200, 503, 503, 503, 200, 503, 503, 503, 503, 503}},
	{"streaming", {503, 503, 503, 503, 503, 200, 200, 200, 200, 200, 503, 200, 503, 200}},
	{"lagging", {503, 503, 503, 503, 503, 200, 200, 200, 200, 200, 503, 200, 503, 200}},
	{"archive_recovery", {503, 503, 503, 503, 503, 200, 200, 200, 200, 503, 503, 200, 503, 200}},
	{"stopped", {503, 503, 503, 503, 503, 503, 503, 503, 200, 503, 503, 503, 503, 503}},
	{"noloadbalance", {503, 503, 503, 503, 503, 503, 503, 200, 200, 200, 503, 503, 503, 503}},
	{"sync_replica", {503, 503, 503, 503, 503, 200, 200, 200, 200, 200, 200, 503, 200, 503}},
	{"async_replica", {503, 503, 503, 503, 503, 200, 200, 200, 200, 200, 503, 200, 503, 200}},
	{"stale_sync", {503, 503, 503, 503, 503, 200, 200, 200, 200, 200, 503, 200, 503, 200}},
	{"unlocked", {503, 503, 503, 503, 503, 200, 200, 200, 200, 200, 503, 200, 503, 200}},
};

static void test_every_health_endpoint_in_every_situation(void)
{
	static const char *const methods[] = {"GET", "HEAD", "OPTIONS"};
	CU_ASSERT_EQUAL(sizeof health_rows / sizeof health_rows[0], sizeof situations / sizeof situations[0]);
	for (size_t i = 0; i < sizeof health_rows / sizeof health_rows[0]; i++) {
		api_snapshot s;
		situation(health_rows[i].situation)(&s);
		for (size_t j = 0; j < N_HEALTH; j++)
			for (size_t k = 0; k < 3; k++) {
				api_answer a;
				route(&s, methods[k], health_paths[j], &a);
				if (a.status != health_rows[i].status[j])
					printf("\n  %s %s in %s: %d, want %d", methods[k], health_paths[j],
					       health_rows[i].situation, a.status, health_rows[i].status[j]);
				CU_ASSERT_EQUAL(a.status, health_rows[i].status[j]);
				CU_ASSERT_STRING_EQUAL(a.content_type, "application/json");
				CU_ASSERT_EQUAL(a.body != NULL, k == 0);
				CU_ASSERT_STRING_EQUAL(a.allow, k == 2 ? "GET, HEAD, OPTIONS" : "");
				api_answer_clear(&a);
			}
	}
}

/* ---- query parameters: lag sizes, tags, replication_state ---- */

static const struct {
	const char *situation;
	const char *uri;
	int status;
	const char *error; /* a substring of the JSON error, for 4xx */
} query_rows[] = {
	/* lag: n2 is level with the leader, n3 is 32 MB (33554432 bytes) behind */
	{"streaming", "/replica?lag=16MB", 200, NULL},
	{"lagging", "/replica?lag=16MB", 503, NULL},
	{"lagging", "/replica?lag=33554432", 200, NULL},
	{"lagging", "/replica?lag=33554431", 503, NULL},
	{"lagging", "/replica?lag=32768kB", 200, NULL},
	{"lagging", "/replica?lag=1GB", 200, NULL},
	{"lagging", "/replica?lag=1TB", 200, NULL},
	{"lagging", "/replica?lag=1048576", 503, NULL},
	{"streaming", "/replica?lag=1048576", 200, NULL},
	{"streaming", "/replica?lag=1kB", 200, NULL},
	{"streaming", "/replica?lag=0", 200, NULL},
	{"lagging", "/replica?lag=1kB", 503, NULL},
	{"lagging", "/replica?lag=33554432B", 200, NULL},
	{"lagging", "/replica?lag=16777215TB", 200, NULL},
	{"unlocked", "/replica?lag=16MB", 503, NULL}, /* 31 MB behind the status record */
	{"unlocked", "/replica?lag=31MB", 200, NULL},
	{"lagging", "/read-only?lag=16MB", 503, NULL},
	{"leader", "/read-only?lag=16MB", 200, NULL},
	{"lagging", "/async?lag=16MB", 503, NULL},
	{"async_replica", "/async?lag=64MB", 200, NULL},
	{"lagging", "/readiness?lag=16MB", 503, NULL},
	{"lagging", "/readiness?lag=64MB", 200, NULL},
	{"leader", "/readiness?lag=1", 200, NULL},
	{"streaming", "/replica?lag=bad", 400, "lag \"bad\" is not a size"},
	{"streaming", "/replica?lag=-1", 400, "lag \"-1\" is not a size"},
	{"streaming", "/replica?lag=99999999999999999999TB", 400, "is too large"},
	{"streaming", "/replica?lag=99999999999999999999", 400, "is too large"},
	{"streaming", "/replica?lag=16777216TB", 400, "is too large"},
	{"streaming", "/replica?lag=", 400, "lag \"\" is not a size"},
	{"streaming", "/replica?lag=16mb", 400, "is not a size"},
	{"streaming", "/replica?lag=16%20MB", 400, "is not a size"},
	{"streaming", "/replica?lag=1.5MB", 400, "is not a size"},
	{"streaming", "/replica?lag=1&lag=2", 400, "is given twice"},
	{"leader", "/replica?lag=bad", 400, "lag \"bad\""}, /* validation does not depend on the role */
	/* tags */
	{"streaming", "/replica?tag_nofailover=false", 200, NULL},
	{"streaming", "/replica?tag_nofailover=true", 503, NULL},
	{"streaming", "/replica?tag_priority=1", 200, NULL},
	{"streaming", "/replica?tag_priority=2", 503, NULL},
	{"streaming", "/replica?tag_noloadbalance=false&tag_priority=1", 200, NULL},
	{"streaming", "/replica?tag_noloadbalance=false&tag_priority=9", 503, NULL},
	{"streaming", "/replica?tag_datacenter=east", 503, NULL}, /* a tag the node lacks does not match */
	{"streaming", "/replica?lag=16MB&tag_nofailover=false", 200, NULL},
	{"stopped", "/replica?tag_nofailover=false", 503, NULL},
	{"streaming", "/health?tag_priority=1", 200, NULL},
	{"streaming", "/health?tag_priority=0", 503, NULL},
	{"leader", "/read-only?tag_nofailover=false", 200, NULL},
	{"leader", "/read-only?tag_nofailover=true", 503, NULL},
	{"streaming", "/replica?tag_=x", 400, "names no tag"},
	{"leader", "/primary?tag_nofailover=false", 400, "unknown query parameter \"tag_nofailover\" for /primary"},
	/* replication_state */
	{"streaming", "/replica?replication_state=streaming", 200, NULL},
	{"archive_recovery", "/replica?replication_state=streaming", 503, NULL},
	{"archive_recovery", "/replica?replication_state=in%20archive%20recovery", 200, NULL},
	{"streaming", "/replica?replication_state=a&replication_state=b", 400, "given twice"},
	/* unknown and malformed queries */
	{"leader", "/primary?foo=1", 400, "unknown query parameter \"foo\" for /primary"},
	{"leader", "/primary?a_very_long_parameter_name_that_goes_on_and_on_well_past_the_echo_limit=1", 400,
	 "unknown query parameter \"a_very_long_parameter_name_that_goes_on_and_on_well_past_the_...\""},
	{"streaming", "/replica?mode=write", 400, "unknown query parameter \"mode\""},
	{"leader", "/liveness?lag=1", 400, "unknown query parameter \"lag\" for /liveness"},
	{"leader", "/cluster?x=1", 400, "unknown query parameter \"x\""},
	{"leader", "/primary?x", 400, "malformed query \"x\""},
	{"leader", "/primary?=1", 400, "malformed query"},
	{"leader", "/primary?", 200, NULL},
	{"leader", "/primary?#frag", 200, NULL},
	{"streaming", "/replica/", 200, NULL},
	{"leader", "http://db1:8008/primary", 200, NULL},
	{"leader", "http://db1:8008", 200, NULL},
};

static void test_query_parameters(void)
{
	for (size_t i = 0; i < sizeof query_rows / sizeof query_rows[0]; i++) {
		api_snapshot s;
		api_answer a;
		situation(query_rows[i].situation)(&s);
		route(&s, "GET", query_rows[i].uri, &a);
		if (a.status != query_rows[i].status)
			printf("\n  GET %s in %s: %d, want %d (%s)", query_rows[i].uri, query_rows[i].situation,
			       a.status, query_rows[i].status, a.body ? a.body : "");
		CU_ASSERT_EQUAL(a.status, query_rows[i].status);
		CU_ASSERT_PTR_NOT_NULL_FATAL(a.body);
		json_t *o = json_loads(a.body, 0, NULL);
		CU_ASSERT_PTR_NOT_NULL(o);
		if (query_rows[i].error) {
			const char *e = json_string_value(json_object_get(o, "error"));
			CU_ASSERT_PTR_NOT_NULL(e);
			if (e && strstr(e, query_rows[i].error) == NULL)
				printf("\n  GET %s: error %s lacks %s", query_rows[i].uri, e, query_rows[i].error);
			CU_ASSERT_PTR_NOT_NULL(e ? strstr(e, query_rows[i].error) : NULL);
		}
		json_decref(o);
		api_answer_clear(&a);
	}
}

/* ---- methods, paths and malformed requests ---- */

static const struct {
	const char *method;
	const char *uri;
	int status;
	const char *allow;
	const char *error;
} request_rows[] = {
	{"POST", "/primary", 405, "GET, HEAD, OPTIONS", "method POST is not allowed on /primary"},
	{"PUT", "/replica?lag=1", 405, "GET, HEAD, OPTIONS", "method PUT"},
	{"DELETE", "/cluster", 405, "GET, HEAD, OPTIONS", "method DELETE is not allowed on /cluster"},
	{"PATCH", "/metrics", 405, "GET, HEAD, OPTIONS", "method PATCH"},
	{"BREW", "/health", 405, "GET, HEAD, OPTIONS", "method BREW"},
	{"get", "/health", 405, "GET, HEAD, OPTIONS", "method get"},
	{"GET", "/nope", 404, "", "no endpoint /nope"},
	{"GET", "/switchover", 405, "POST, OPTIONS", "method GET is not allowed on /switchover"},
	{"PUT", "/pause", 405, "POST, OPTIONS", "method PUT is not allowed on /pause"},
	{"DELETE", "/restart/", 405, "POST, OPTIONS", "method DELETE is not allowed on /restart"},
	{"HEAD", "/failover", 405, "POST, OPTIONS", NULL},
	{"OPTIONS", "/reinit", 200, "POST, OPTIONS", NULL},
	{"OPTIONS", "/resume", 200, "POST, OPTIONS", NULL},
	{"POST", "/switchover", 403, "", "mutating calls are disabled: no api token configured"},
	{"POST", "/reinitialize", 404, "", "no endpoint /reinitialize"},
	{"POST", "/switchover/x", 404, "", "no endpoint"},
	{"GET", "/primaryx", 404, "", "no endpoint"},
	{"GET", "/primary//", 404, "", "no endpoint"},
	{"GET", "/%70rimary", 404, "", "no endpoint /%70rimary"},
	{"GET", "not a uri", 400, "", "malformed uri"},
	{"GET", "primary", 400, "", "malformed uri"},
	{"GET", "//evil/primary", 400, "", "malformed uri"},
	{"GET", "", 400, "", "malformed uri"},
	{"GET", "/prim\x01ry", 400, "", "malformed uri \"/prim?ry\""},
	{"OPTIONS", "/cluster", 200, "GET, HEAD, OPTIONS", NULL},
	{"OPTIONS", "/nope", 404, "", NULL},
	{"HEAD", "/metrics", 200, "", NULL},
	{"HEAD", "/nope", 404, "", NULL},
};

static void test_methods_paths_and_malformed_requests(void)
{
	api_snapshot s;
	leader(&s);
	for (size_t i = 0; i < sizeof request_rows / sizeof request_rows[0]; i++) {
		api_answer a;
		route(&s, request_rows[i].method, request_rows[i].uri, &a);
		if (a.status != request_rows[i].status)
			printf("\n  %s %s: %d, want %d", request_rows[i].method, request_rows[i].uri, a.status,
			       request_rows[i].status);
		CU_ASSERT_EQUAL(a.status, request_rows[i].status);
		CU_ASSERT_STRING_EQUAL(a.allow, request_rows[i].allow);
		const char *method = request_rows[i].method;
		bool bodiless = strcmp(method, "HEAD") == 0 || strcmp(method, "OPTIONS") == 0;
		CU_ASSERT_EQUAL(a.body == NULL, bodiless);
		if (request_rows[i].error) {
			json_t *o = a.body ? json_loads(a.body, 0, NULL) : NULL;
			const char *e = json_string_value(json_object_get(o, "error"));
			if (e == NULL || strstr(e, request_rows[i].error) == NULL)
				printf("\n  %s %s: error %s lacks %s", request_rows[i].method, request_rows[i].uri,
				       e ? e : "(none)", request_rows[i].error);
			CU_ASSERT_PTR_NOT_NULL(e ? strstr(e, request_rows[i].error) : NULL);
			json_decref(o);
		}
		api_answer_clear(&a);
	}
}

static void test_long_uri_is_refused(void)
{
	api_snapshot s;
	api_answer a;
	leader(&s);
	char *uri = malloc(4096);
	memset(uri, 'a', 4095);
	uri[0] = '/';
	uri[4095] = '\0';
	route(&s, "GET", uri, &a);
	CU_ASSERT_EQUAL(a.status, 414);
	api_answer_clear(&a);
	post(&s, uri, NULL, &a);
	CU_ASSERT_EQUAL(a.status, 414);
	api_answer_clear(&a);
	route(&s, NULL, "/primary", &a);
	CU_ASSERT_EQUAL(a.status, 400);
	api_answer_clear(&a);
	route(&s, "GET", NULL, &a);
	CU_ASSERT_EQUAL(a.status, 400);
	api_answer_clear(&a);
	api_route(&s, NULL, &a);
	CU_ASSERT_EQUAL(a.status, 400);
	api_answer_clear(&a);
	api_answer_clear(NULL);
	free(uri);
}

/* ---- mutating calls: the token ---- */

static const struct {
	const char *path;
	const char *body;
	api_command cmd;
} endpoints[] = {
	{"/switchover", "{\"leader\":\"n1\",\"candidate\":\"n2\"}", API_CMD_SWITCHOVER},
	{"/failover", "{\"candidate\":\"n3\"}", API_CMD_FAILOVER},
	{"/restart", NULL, API_CMD_RESTART},
	{"/reinit", "{}", API_CMD_REINIT},
	{"/pause", "", API_CMD_PAUSE},
	{"/resume", NULL, API_CMD_RESUME},
};

static const struct {
	const char *token;         /* configured; NULL: none */
	const char *authorization; /* sent; NULL: no header */
	int status;                /* 0: accepted */
	const char *error;
} auth_rows[] = {
	{NULL, "Bearer " TOKEN, 403, "mutating calls are disabled: no api token configured"},
	{"", "Bearer ", 403, "no api token configured"},
	{"", NULL, 403, "no api token configured"},
	{TOKEN, NULL, 401, "missing bearer token"},
	{TOKEN, "Basic czNjcmV0LXRva2Vu", 401, "scheme is not Bearer"},
	{TOKEN, TOKEN, 401, "scheme is not Bearer"},
	{TOKEN, "BearerX " TOKEN, 401, "scheme is not Bearer"},
	{TOKEN, "Bearer", 401, "scheme is not Bearer"},
	{TOKEN, "", 401, "scheme is not Bearer"},
	{TOKEN, "Bearer ", 401, "bearer token is wrong"},
	{TOKEN, "Bearer wrong", 401, "bearer token is wrong"},
	{TOKEN, "Bearer " TOKEN "x", 401, "bearer token is wrong"},
	{TOKEN, "Bearer s3cret-toke", 401, "bearer token is wrong"},
	{TOKEN, "Bearer S3CRET-TOKEN", 401, "bearer token is wrong"},
	{TOKEN, "Bearer " TOKEN " extra", 401, "bearer token is wrong"},
	{TOKEN, "Bearer " TOKEN, 0, NULL},
	{TOKEN, "bearer \t" TOKEN " ", 0, NULL},
	{TOKEN, "BEARER " TOKEN, 0, NULL},
};

static void test_every_mutating_call_needs_the_token(void)
{
	api_snapshot s;
	leader_down(&s); /* every endpoint's call is admitted there once the token is right */
	for (size_t i = 0; i < sizeof endpoints / sizeof endpoints[0]; i++)
		for (size_t j = 0; j < sizeof auth_rows / sizeof auth_rows[0]; j++) {
			const char *body = endpoints[i].body;
			api_request req = {.method = "POST",
					   .uri = endpoints[i].path,
					   .authorization = auth_rows[j].authorization,
					   .body = body,
					   .body_len = body ? strlen(body) : 0,
					   .token = auth_rows[j].token};
			api_answer a;
			api_route(&s, &req, &a);
			if (a.status != auth_rows[j].status)
				printf("\n  POST %s with token %s and Authorization %s: %d, want %d", endpoints[i].path,
				       auth_rows[j].token ? auth_rows[j].token : "(none)",
				       auth_rows[j].authorization ? auth_rows[j].authorization : "(none)", a.status,
				       auth_rows[j].status);
			CU_ASSERT_EQUAL(a.status, auth_rows[j].status);
			CU_ASSERT_EQUAL(a.command.cmd, auth_rows[j].status ? API_CMD_NONE : endpoints[i].cmd);
			CU_ASSERT_EQUAL(a.body == NULL, auth_rows[j].status == 0);
			if (auth_rows[j].error)
				CU_ASSERT_TRUE(error_has(&a, auth_rows[j].error));
			if (auth_rows[j].status == 401)
				CU_ASSERT_TRUE(error_has(&a, "WWW-Authenticate: Bearer"));
			api_answer_clear(&a);

			/* the token is checked before the body is even parsed */
			req.body = "{oops";
			req.body_len = strlen(req.body);
			api_route(&s, &req, &a);
			CU_ASSERT_EQUAL(a.status, auth_rows[j].status ? auth_rows[j].status : 400);
			api_answer_clear(&a);
		}
}

/* ---- mutating calls: bodies and the cluster's state ---- */

static void paused(api_snapshot *s)
{
	streaming(s);
	s->view.paused = true;
}

static void candidate_nofailover(api_snapshot *s)
{
	streaming(s);
	s->view.members[2].nofailover = true;
}

static const struct {
	situation_fn make;
	const char *path;
	const char *body;
	int status;
	const char *error; /* a substring of the JSON error */
} command_rows[] = {
	/* what /switchover needs */
	{streaming, "/switchover", NULL, 400, "/switchover needs \"leader\""},
	{streaming, "/switchover", "{}", 400, "/switchover needs \"leader\""},
	{streaming, "/switchover", "{\"leader\":null}", 400, "needs \"leader\""},
	{streaming, "/switchover", "{\"leader\":\"\",\"candidate\":\"n2\"}", 400, "needs \"leader\""},
	/* malformed JSON */
	{streaming, "/switchover", "{", 400, "/switchover: malformed JSON: "},
	{streaming, "/switchover", "{\"leader\":\"n1\",}", 400, "malformed JSON: "},
	{streaming, "/switchover", "not json", 400, "near 'not' at line 1 column"},
	{streaming, "/switchover", "{\"leader\":\"n1\"}\n{", 400, "at line 2 column"},
	{streaming, "/switchover", "\"n1\"", 400, "malformed JSON: "},
	{streaming, "/switchover", "{\"leader\":\"n1\\u0000x\"}", 400, "malformed JSON: "},
	{streaming, "/switchover", "{\"leader\":\"n\xff\"}", 400, "malformed JSON: "},
	{streaming, "/switchover", "{\"leader\":\"n1\",\"leader\":\"n2\"}", 400, "duplicate object key"},
	{streaming, "/switchover", "[\"n1\"]", 400, "the body must be a JSON object, not an array"},
	/* unknown fields and wrong types */
	{streaming, "/switchover", "{\"leader\":\"n1\",\"force\":true}", 400, "/switchover: unknown field \"force\""},
	{streaming, "/switchover", "{\"leader\":\"n1\",\"member\":\"n2\"}", 400, "unknown field \"member\""},
	{streaming, "/switchover", "{\"Leader\":\"n1\"}", 400, "unknown field \"Leader\""},
	{streaming, "/switchover", "{\"leader\":1}", 400, "\"leader\" must be a string, not a number"},
	{streaming, "/switchover", "{\"leader\":\"n1\",\"candidate\":[\"n2\"]}", 400,
	 "\"candidate\" must be a string, not an array"},
	{streaming, "/switchover", "{\"leader\":\"n1\",\"candidate\":true}", 400, "not a boolean"},
	{streaming, "/switchover", "{\"leader\":{}}", 400, "not an object"},
	{streaming, "/switchover", "{\"leader\":\"N1\"}", 400, "\"leader\" = \"N1\" is not a member name"},
	{streaming, "/switchover", "{\"leader\":\"n1; drop\"}", 400, "is not a member name"},
	{streaming, "/switchover", "{\"leader\":\"n1234567890123456789012345678901234567890123456789012345678901234\"}",
	 400, "is not a member name"},
	{streaming, "/switchover", "{\"leader\":\"n1\",\"scheduled_at\":1795611600}", 400,
	 "\"scheduled_at\" must be a string, not a number"},
	{streaming, "/switchover", "{\"leader\":\"n1\",\"scheduled_at\":\"2026-11-25T13:00:00\"}", 400,
	 "has no timezone"},
	{streaming, "/switchover", "{\"leader\":\"n1\",\"scheduled_at\":\"11/25/2026 13:00\"}", 422,
	 "\"scheduled_at\" = \"11/25/2026 13:00\" is not an unambiguous ISO 8601 time"},
	{streaming, "/switchover", "{\"leader\":\"n1\",\"scheduled_at\":\"1969-12-31T23:59:59Z\"}", 422, "in the past"},
	/* the cluster's state */
	{streaming, "/switchover", "{\"leader\":\"n1\",\"candidate\":\"n1\"}", 400,
	 "leader and candidate are both \"n1\""},
	{streaming, "/switchover", "{\"leader\":\"n2\",\"candidate\":\"n3\"}", 412,
	 "leader name does not match: \"n2\" is not the leader, \"n1\" is"},
	{streaming, "/switchover", "{\"leader\":\"n1\",\"candidate\":\"n9\"}", 412,
	 "candidate \"n9\" is not a member of the cluster"},
	{candidate_nofailover, "/switchover", "{\"leader\":\"n1\",\"candidate\":\"n3\"}", 412,
	 "candidate \"n3\" is tagged nofailover"},
	{unlocked, "/switchover", "{\"leader\":\"n1\"}", 412, "no leader"},
	{unlocked, "/switchover", "{\"leader\":\"n1\",\"candidate\":\"n2\"}", 412, "use POST /failover"},
	{paused, "/switchover", "{\"leader\":\"n1\"}", 409, "paused a switchover needs a \"candidate\""},
	{paused, "/switchover", "{\"leader\":\"n1\",\"candidate\":\"n2\",\"scheduled_at\":\"2026-11-25T13:00:00Z\"}",
	 409, "cannot schedule a switchover while automatic failover is paused"},
	/* /failover */
	{streaming, "/failover", NULL, 400, "/failover needs \"candidate\""},
	{streaming, "/failover", "{\"candidate\":null}", 400, "/failover needs \"candidate\""},
	{streaming, "/failover", "{\"candidate\":\"n3\",\"scheduled_at\":\"2026-11-25T13:00:00Z\"}", 400,
	 "a failover cannot be scheduled"},
	{streaming, "/failover", "{\"candidate\":\"n9\"}", 412, "candidate \"n9\" is not a member"},
	{candidate_nofailover, "/failover", "{\"candidate\":\"n3\"}", 412, "tagged nofailover"},
	{streaming, "/failover", "{\"candidate\":\"n1\"}", 412, "candidate \"n1\" already holds the leader key"},
	{streaming, "/failover", "{\"candidate\":\"n3\"}", 409,
	 "the cluster has a healthy leader (n1): use switchover"},
	{paused, "/failover", "{\"candidate\":\"n2\"}", 409, "the cluster has a healthy leader (n1)"},
	{sync_leader_down, "/failover", "{\"candidate\":\"n3\"}", 409,
	 "synchronous mode: n3 is not in the synchronous set"},
	{streaming, "/failover", "{\"candidate\":\"n2\",\"leader\":\"n3\"}", 412, "leader name does not match"},
	{streaming, "/failover", "{\"candidate\":\"n3\",\"force\":1}", 400, "/failover: unknown field \"force\""},
	{streaming, "/failover", "{\"candidate\":3}", 400, "\"candidate\" must be a string"},
	/* the calls without fields */
	{streaming, "/restart", "{\"schedule\":\"2026-11-25T13:00:00Z\"}", 400,
	 "/restart: unknown field \"schedule\"\nHINT: send no body, or {}"},
	{streaming, "/reinit", "{\"force\":true}", 400, "/reinit: unknown field \"force\""},
	{streaming, "/pause", "{\"leader\":\"n1\"}", 400, "/pause: unknown field \"leader\""},
	{streaming, "/resume", "[]", 400, "/resume: the body must be a JSON object, not an array"},
	{streaming, "/pause", "{", 400, "/pause: malformed JSON"},
	{streaming, "/pause", "null", 400, "malformed JSON"},
	{streaming, "/pause?now=1", NULL, 400, "/pause takes no query parameters, got \"now=1\""},
	{leader, "/reinit", NULL, 409, "n1 holds the leader key and cannot be re-cloned"},
};

static void test_bodies_and_cluster_state_are_checked(void)
{
	for (size_t i = 0; i < sizeof command_rows / sizeof command_rows[0]; i++) {
		api_snapshot s;
		api_answer a;
		command_rows[i].make(&s);
		post(&s, command_rows[i].path, command_rows[i].body, &a);
		if (a.status != command_rows[i].status)
			printf("\n  POST %s %s: %d, want %d (%s)", command_rows[i].path,
			       command_rows[i].body ? command_rows[i].body : "", a.status, command_rows[i].status,
			       a.body ? a.body : "");
		CU_ASSERT_EQUAL(a.status, command_rows[i].status);
		CU_ASSERT_EQUAL(a.command.cmd, API_CMD_NONE);
		CU_ASSERT_STRING_EQUAL(a.allow, "");
		CU_ASSERT_TRUE(error_has(&a, command_rows[i].error));
		api_answer_clear(&a);
	}
}

static void test_oversized_body_is_refused(void)
{
	api_snapshot s;
	api_answer a;
	streaming(&s);
	/* exactly 4 kB of a valid body is accepted, one byte more is not */
	char *body = malloc(4097 + 1);
	memset(body, ' ', 4097);
	memcpy(body, "{}", 2);
	body[4096] = '\0';
	post(&s, "/pause", body, &a);
	CU_ASSERT_EQUAL(a.status, 0);
	CU_ASSERT_EQUAL(a.command.cmd, API_CMD_PAUSE);
	api_answer_clear(&a);
	body[4096] = ' ';
	body[4097] = '\0';
	post(&s, "/pause", body, &a);
	CU_ASSERT_EQUAL(a.status, 413);
	CU_ASSERT_TRUE(error_has(&a, "/pause: the body has 4097 bytes, more than 4096"));
	CU_ASSERT_EQUAL(a.command.cmd, API_CMD_NONE);
	api_answer_clear(&a);
	free(body);

	/* a body is read by its length: no terminating NUL needed, bytes past it unseen */
	api_request req = {.method = "POST",
			   .uri = "/switchover",
			   .authorization = "Bearer " TOKEN,
			   .body = "{\"leader\":\"n1\"}garbage",
			   .body_len = 15,
			   .token = TOKEN};
	api_route(&s, &req, &a);
	CU_ASSERT_EQUAL(a.status, 0);
	CU_ASSERT_STRING_EQUAL(a.command.leader, "n1");
	api_answer_clear(&a);
}

/* ---- mutating calls: scheduled_at ---- */

static const struct {
	const char *text;
	int status; /* 0: accepted */
	double at;
} time_rows[] = {
	{"2026-11-25T13:00:00+00:00", 0, 1795611600},
	{"2026-11-25T13:00:00Z", 0, 1795611600},
	{"2026-11-25t13:00:00z", 0, 1795611600},
	{"2026-11-25 13:00+00:00", 0, 1795611600},
	{"2026-11-25T14:30:00+01:30", 0, 1795611600},
	{"2026-11-25T14:30+0130", 0, 1795611600},
	{"2026-11-25T15:00:00+02", 0, 1795611600},
	{"2026-11-25T13:00:00-00:00", 0, 1795611600},
	{"2026-11-25T08:00:00.25-05:00", 0, 1795611600.25},
	{"2026-11-25T13:00:00,5Z", 0, 1795611600.5},
	{"2026-11-25T13:00:00.123456789Z", 0, 1795611600.123456789},
	{"2024-02-29T00:00:00Z", 0, 1709164800},
	{"9999-12-31T23:59:59Z", 0, 253402300799},
	{"", 0, 0}, /* not given */
	{"2026-11-25T13:00:00", 400, 0},
	{"2026-11-25T13:00", 400, 0},
	{"2026-11-25T13:00:00.5", 400, 0},
	{"2026-11-25", 422, 0},
	{"2026-11-25T13", 422, 0},
	{"2025-02-29T00:00:00Z", 422, 0},
	{"2100-02-29T00:00:00Z", 422, 0},
	{"2026-13-01T00:00:00Z", 422, 0},
	{"2026-00-01T00:00:00Z", 422, 0},
	{"2026-11-31T00:00:00Z", 422, 0},
	{"2026-11-00T00:00:00Z", 422, 0},
	{"2026-11-25T24:00:00Z", 422, 0},
	{"2026-11-25T13:60:00Z", 422, 0},
	{"2026-11-25T13:00:60Z", 422, 0},
	{"2026-11-25T13:00:00+24:00", 422, 0},
	{"2026-11-25T13:00:00+01:60", 422, 0},
	{"2026-11-25T13:00:00+1", 422, 0},
	{"2026-11-25T13:00:00+01:", 422, 0},
	{"2026-11-25T13:00:00+01:0", 422, 0},
	{"2026-11-25T13:00:00+0100x", 422, 0},
	{"2026-11-25T13:00:00.Z", 422, 0},
	{"2026-11-25T13:00:00.1234567891Z", 422, 0},
	{"2026-11-25T13:00.5Z", 422, 0},
	{"2026-11-25T13:00:Z", 422, 0},
	{"2026-11-25T13:00:5Z", 422, 0},
	{"2026-11-25T13:00:00Z ", 422, 0},
	{" 2026-11-25T13:00:00Z", 422, 0},
	{"2026-11-25T13:00:00 UTC", 422, 0},
	{"+2026-11-25T13:00:00Z", 422, 0},
	{"26-11-25T13:00:00Z", 422, 0},
	{"2026-1-25T13:00:00Z", 422, 0},
	{"11/25/2026 13:00 UTC", 422, 0},
	{"25.11.2026 13:00", 422, 0},
	{"1795611600", 422, 0},
	{"tomorrow", 422, 0},
	{"0000-01-01T00:00:00Z", 422, 0},
	{"1970-01-01T00:00:00Z", 422, 0}, /* 0 would mean "now" */
	{"1969-12-31T23:59:59.5Z", 422, 0},
};

static void test_scheduled_at_takes_iso_8601_with_a_timezone(void)
{
	api_snapshot s;
	streaming(&s);
	for (size_t i = 0; i < sizeof time_rows / sizeof time_rows[0]; i++) {
		char body[256];
		api_answer a;
		snprintf(body, sizeof body, "{\"leader\":\"n1\",\"candidate\":\"n2\",\"scheduled_at\":\"%s\"}",
			 time_rows[i].text);
		post(&s, "/switchover", body, &a);
		if (a.status != time_rows[i].status)
			printf("\n  scheduled_at %s: %d, want %d (%s)", time_rows[i].text, a.status,
			       time_rows[i].status, a.body ? a.body : "");
		CU_ASSERT_EQUAL(a.status, time_rows[i].status);
		if (time_rows[i].status == 0) {
			CU_ASSERT_EQUAL(a.command.cmd, API_CMD_SWITCHOVER);
			CU_ASSERT_DOUBLE_EQUAL(a.command.scheduled_at, time_rows[i].at, 1e-6);
		} else {
			CU_ASSERT_TRUE(error_has(&a, "scheduled_at"));
			CU_ASSERT_TRUE(time_rows[i].status == 422 ||
				       error_has(&a, "timezone information is mandatory"));
		}
		api_answer_clear(&a);
	}
}

/* ---- mutating calls: what the agent is handed ---- */

static const struct {
	situation_fn make;
	const char *path;
	const char *body;
	api_command cmd;
	const char *leader, *candidate;
	double scheduled_at;
} accepted_rows[] = {
	{streaming, "/switchover", "{\"leader\":\"n1\"}", API_CMD_SWITCHOVER, "n1", "", 0},
	{streaming, "/switchover",
	 "{\"leader\":\"n1\",\"candidate\":\"n3\",\"scheduled_at\":\"2026-11-25T13:00:00+00:00\"}", API_CMD_SWITCHOVER,
	 "n1", "n3", 1795611600},
	/* patronictl sends null for what it does not set */
	{leader, "/switchover/", "{\"leader\":\"n1\",\"candidate\":null,\"scheduled_at\":null}", API_CMD_SWITCHOVER,
	 "n1", "", 0},
	{paused, "/switchover", " {\"candidate\":\"n2\",\n\"leader\":\"n1\"} ", API_CMD_SWITCHOVER, "n1", "n2", 0},
	{leader_down, "/failover", "{\"candidate\":\"n3\"}", API_CMD_FAILOVER, "", "n3", 0},
	{unlocked, "/failover", "{\"candidate\":\"n2\",\"leader\":null}", API_CMD_FAILOVER, "", "n2", 0},
	{sync_leader_down, "/failover", "{\"candidate\":\"n2\"}", API_CMD_FAILOVER, "", "n2", 0},
	/* Patroni: a failover that names the leader is a switchover */
	{streaming, "/failover", "{\"leader\":\"n1\",\"candidate\":\"n2\"}", API_CMD_SWITCHOVER, "n1", "n2", 0},
	{streaming, "/restart", "", API_CMD_RESTART, "", "", 0},
	{leader, "/restart", "{}", API_CMD_RESTART, "", "", 0},
	{streaming, "/reinit", NULL, API_CMD_REINIT, "", "", 0},
	{stopped, "/reinit", "{}", API_CMD_REINIT, "", "", 0},
	{leader, "/pause", "  {} \n", API_CMD_PAUSE, "", "", 0},
	{paused, "/resume", NULL, API_CMD_RESUME, "", "", 0},
	{unlocked, "/resume?", NULL, API_CMD_RESUME, "", "", 0},
};

static void test_accepted_call_becomes_a_command(void)
{
	for (size_t i = 0; i < sizeof accepted_rows / sizeof accepted_rows[0]; i++) {
		api_snapshot s;
		api_answer a;
		accepted_rows[i].make(&s);
		post(&s, accepted_rows[i].path, accepted_rows[i].body, &a);
		if (a.status != 0)
			printf("\n  POST %s %s: %d (%s)", accepted_rows[i].path,
			       accepted_rows[i].body ? accepted_rows[i].body : "", a.status, a.body ? a.body : "");
		CU_ASSERT_EQUAL(a.status, 0);
		CU_ASSERT_PTR_NULL(a.body);
		CU_ASSERT_EQUAL(a.command.cmd, accepted_rows[i].cmd);
		CU_ASSERT_STRING_EQUAL(a.command.leader, accepted_rows[i].leader);
		CU_ASSERT_STRING_EQUAL(a.command.candidate, accepted_rows[i].candidate);
		CU_ASSERT_DOUBLE_EQUAL(a.command.scheduled_at, accepted_rows[i].scheduled_at, 1e-6);
		api_answer_clear(&a);
		CU_ASSERT_EQUAL(a.command.cmd, API_CMD_NONE);
	}
}

/* ---- the dynamic configuration ---- */

static void config_call(const api_snapshot *s, const char *method, const char *uri, const char *auth, const char *body,
			api_answer *out)
{
	api_request req = {.method = method,
			   .uri = uri,
			   .authorization = auth,
			   .body = body,
			   .body_len = body ? strlen(body) : 0,
			   .token = TOKEN};
	api_route(s, &req, out);
}

static const struct {
	const char *config_json; /* the snapshot's document, NULL: none */
	const char *method, *uri, *auth, *body;
	int status;      /* 0: accepted, a command */
	const char *has; /* in the error, or the answer's body */
	bool replace;
} config_rows[] = {
	{NULL, "GET", "/config", NULL, NULL, 200, "{}", false},
	{"{\"ttl\":5}", "GET", "/config", NULL, NULL, 200, "{\"ttl\":5}", false},
	{"{\"ttl\":5}", "GET", "/config/", NULL, NULL, 200, "{\"ttl\":5}", false},
	{NULL, "GET", "/config?x=1", NULL, NULL, 400, "takes no query parameters", false},
	{NULL, "DELETE", "/config", "Bearer " TOKEN, NULL, 405, "method DELETE is not allowed on /config", false},
	{NULL, "POST", "/config", "Bearer " TOKEN, "{}", 405, "method POST is not allowed", false},
	{NULL, "PATCH", "/config", NULL, "{\"ttl\": 5}", 401, "", false},
	{NULL, "PATCH", "/config", "Bearer wrong", "{\"ttl\": 5}", 401, "", false},
	{NULL, "PATCH", "/config", "Bearer " TOKEN, "{\"ttl\": 5}", 0, "{\"ttl\": 5}", false},
	{NULL, "PUT", "/config", "Bearer " TOKEN, "{\"postgresql\": {\"parameters\": {\"work_mem\": \"8MB\"}}}", 0,
	 "work_mem", true},
	{"{\"ttl\":5}", "PATCH", "/config", "Bearer " TOKEN, "{\"ttl\": null}", 0, "null", false},
	{NULL, "PATCH", "/config", "Bearer " TOKEN, "{\"ttl\": 1}", 422, "ttl = 1 is outside the allowed range", false},
	{NULL, "PATCH", "/config", "Bearer " TOKEN, "{\"postgresql\": {\"parameters\": {\"port\": \"1\"}}}", 422,
	 "postgresql.parameters.port is managed", false},
	{"{\"postgresql\":{\"parameters\":{\"a\":\"1\"}}}", "PATCH", "/config", "Bearer " TOKEN,
	 "{\"postgresql\": {\"pg_hba\": \"x\"}}", 422, "postgresql.pg_hba must be a list", false},
	{NULL, "PUT", "/config", "Bearer " TOKEN, "{\"tll\": 3}", 422, "unknown setting", false},
	{NULL, "PATCH", "/config", "Bearer " TOKEN, "[1]", 400, "the body must be a JSON object", false},
	{NULL, "PATCH", "/config", "Bearer " TOKEN, "{", 400, "malformed JSON", false},
	{NULL, "PATCH", "/config", "Bearer " TOKEN, NULL, 400, "the body must be a JSON object", false},
	{NULL, "PATCH", "/config", "Bearer " TOKEN, "{\"ttl\": 5, \"ttl\": 6}", 400, "malformed JSON", false},
};

static void test_config_route(void)
{
	for (size_t i = 0; i < sizeof config_rows / sizeof config_rows[0]; i++) {
		api_snapshot s;
		api_answer a;
		leader(&s);
		s.config_json = config_rows[i].config_json;
		config_call(&s, config_rows[i].method, config_rows[i].uri, config_rows[i].auth, config_rows[i].body,
			    &a);
		const char *text = a.status == 0 ? a.command.config : a.body ? a.body : "";
		bool ok = a.status == config_rows[i].status && strstr(text, config_rows[i].has) != NULL;
		if (a.status == 0)
			ok = ok && a.command.cmd == API_CMD_CONFIG &&
			     a.command.config_replace == config_rows[i].replace;
		else if (a.status == 200)
			ok = ok && a.command.cmd == API_CMD_NONE;
		if (!ok)
			printf("\n  row %zu: %s %s: %d (%s)", i, config_rows[i].method, config_rows[i].uri, a.status,
			       text);
		CU_ASSERT(ok);
		api_answer_clear(&a);
	}
	/* A body above the limit: 413 before anything is parsed. */
	char *big = malloc(API_CONFIG_BODY_MAX + 2);
	memset(big, ' ', API_CONFIG_BODY_MAX + 1);
	big[API_CONFIG_BODY_MAX + 1] = '\0';
	api_snapshot s;
	api_answer a;
	leader(&s);
	config_call(&s, "PATCH", "/config", "Bearer " TOKEN, big, &a);
	CU_ASSERT_EQUAL(a.status, 413);
	api_answer_clear(&a);
	free(big);
	/* OPTIONS names the methods. */
	config_call(&s, "OPTIONS", "/config", NULL, NULL, &a);
	CU_ASSERT_EQUAL(a.status, 200);
	CU_ASSERT_STRING_EQUAL(a.allow, "GET, HEAD, OPTIONS, PATCH, PUT");
	api_answer_clear(&a);
}

static void test_config_answer(void)
{
	api_answer a;
	memset(&a, 0, sizeof a);
	CU_ASSERT_TRUE(api_config_answer(&a, 200, "{\"ttl\":5}"));
	CU_ASSERT_EQUAL(a.status, 200);
	CU_ASSERT_STRING_EQUAL(a.body, "{\"ttl\":5}");
	api_answer_clear(&a);
	CU_ASSERT_TRUE(api_config_answer(&a, 422, "config: ttl = 1 is outside\nHINT: x"));
	CU_ASSERT_EQUAL(a.status, 422);
	CU_ASSERT_TRUE(error_has(&a, "ttl = 1 is outside\nHINT: x"));
	api_answer_clear(&a);
	CU_ASSERT_FALSE(api_config_answer(&a, 200, "not json"));
	CU_ASSERT_EQUAL(a.status, 500);
	api_answer_clear(&a);
	CU_ASSERT_FALSE(api_config_answer(&a, 999, "x"));
	CU_ASSERT_EQUAL(a.status, 500);
	api_answer_clear(&a);
}

/* ---- JSON documents ---- */

static json_t *get_json(const api_snapshot *s, const char *uri, int want_status)
{
	api_answer a;
	route(s, "GET", uri, &a);
	CU_ASSERT_EQUAL(a.status, want_status);
	CU_ASSERT_PTR_NOT_NULL_FATAL(a.body);
	json_error_t err;
	json_t *o = json_loads(a.body, 0, &err);
	CU_ASSERT_PTR_NOT_NULL_FATAL(o);
	api_answer_clear(&a);
	return o;
}

static const char *str_at(json_t *o, const char *key) { return json_string_value(json_object_get(o, key)); }
static json_int_t int_at(json_t *o, const char *key) { return json_integer_value(json_object_get(o, key)); }

static void test_status_body_of_a_leader(void)
{
	api_snapshot s;
	leader(&s);
	json_t *o = get_json(&s, "/primary", 200);
	CU_ASSERT_STRING_EQUAL(str_at(o, "state"), "running");
	CU_ASSERT_STRING_EQUAL(str_at(o, "role"), "primary");
	CU_ASSERT_EQUAL(int_at(o, "timeline"), 2);
	CU_ASSERT_EQUAL(int_at(json_object_get(o, "xlog"), "location"), (json_int_t)LEADER_LSN);
	CU_ASSERT_PTR_NULL(json_object_get(o, "replication_state"));
	CU_ASSERT_PTR_NULL(json_object_get(o, "cluster_unlocked"));
	CU_ASSERT_STRING_EQUAL(str_at(json_object_get(o, "patroni"), "scope"), "demo");
	CU_ASSERT_STRING_EQUAL(str_at(json_object_get(o, "patroni"), "name"), "n1");
	CU_ASSERT_EQUAL(int_at(json_object_get(o, "tags"), "priority"), 1);
	CU_ASSERT_STRING_EQUAL(str_at(o, "postmaster_start_time"), "2026-09-21 14:13:20.500 UTC");
	json_decref(o);
	/* the same body with 503 on a replica endpoint */
	o = get_json(&s, "/replica", 503);
	CU_ASSERT_STRING_EQUAL(str_at(o, "role"), "primary");
	json_decref(o);
}

/* What Patroni's monitoring plugins read besides: the API level, the server, the identifier, walsenders, a pending
 * restart, the last contact with the DCS. */
static void test_status_body_has_patronis_fields(void)
{
	api_snapshot s;
	leader(&s);
	s.server_version = 150010;
	snprintf(s.system_id, sizeof s.system_id, "7716373900860656683");
	s.dcs_last_seen = 1790000000.75;
	s.n_replication = 2;
	s.replication[0] = (pg_replication_row){"replicator", "n2", "10.0.0.2", "streaming", "sync", 1};
	s.replication[1] = (pg_replication_row){"replicator", "n3", "", "catchup", "async", 0};
	json_t *o = get_json(&s, "/patroni", 200);
	CU_ASSERT_STRING_EQUAL(str_at(json_object_get(o, "patroni"), "version"), API_PATRONI_VERSION);
	CU_ASSERT_EQUAL(int_at(o, "server_version"), 150010);
	CU_ASSERT_STRING_EQUAL(str_at(o, "database_system_identifier"), "7716373900860656683");
	CU_ASSERT_EQUAL(int_at(o, "dcs_last_seen"), 1790000000);
	CU_ASSERT_PTR_NULL(json_object_get(o, "pending_restart"));
	json_t *rep = json_object_get(o, "replication");
	CU_ASSERT_EQUAL_FATAL(json_array_size(rep), 2);
	json_t *w = json_array_get(rep, 0);
	CU_ASSERT_STRING_EQUAL(str_at(w, "usename"), "replicator");
	CU_ASSERT_STRING_EQUAL(str_at(w, "application_name"), "n2");
	CU_ASSERT_STRING_EQUAL(str_at(w, "client_addr"), "10.0.0.2");
	CU_ASSERT_STRING_EQUAL(str_at(w, "state"), "streaming");
	CU_ASSERT_STRING_EQUAL(str_at(w, "sync_state"), "sync");
	CU_ASSERT_EQUAL(int_at(w, "sync_priority"), 1);
	CU_ASSERT_STRING_EQUAL(str_at(json_array_get(rep, 1), "state"), "catchup");
	json_decref(o);

	/* pending restart shows only when true; a replica lists no walsenders; a stopped node no server */
	s.pending_restart = true;
	o = get_json(&s, "/patroni", 200);
	CU_ASSERT_TRUE(json_is_true(json_object_get(o, "pending_restart")));
	json_decref(o);
	sync_replica(&s);
	s.n_replication = 1;
	o = get_json(&s, "/patroni", 200);
	CU_ASSERT_PTR_NULL(json_object_get(o, "replication"));
	json_decref(o);
	stopped(&s);
	s.server_version = 150010;
	s.dcs_last_seen = 0;
	o = get_json(&s, "/patroni", 200);
	CU_ASSERT_PTR_NULL(json_object_get(o, "server_version"));
	CU_ASSERT_PTR_NULL(json_object_get(o, "dcs_last_seen"));
	CU_ASSERT_STRING_EQUAL(str_at(json_object_get(o, "patroni"), "version"), API_PATRONI_VERSION);
	json_decref(o);
}

/* A scheduled switchover in /cluster as Patroni shows it; none when due now or when it is a failover. */
static void test_cluster_document_shows_a_scheduled_switchover(void)
{
	api_snapshot s;
	sync_replica(&s);
	s.view.has_switchover = true;
	snprintf(s.view.switchover_leader, sizeof s.view.switchover_leader, "n1");
	snprintf(s.view.switchover_candidate, sizeof s.view.switchover_candidate, "n2");
	s.view.switchover_at = 1790000000.5;
	json_t *o = get_json(&s, "/cluster", 200);
	json_t *sw = json_object_get(o, "scheduled_switchover");
	CU_ASSERT_PTR_NOT_NULL_FATAL(sw);
	CU_ASSERT_STRING_EQUAL(str_at(sw, "at"), "2026-09-21T14:13:20+00:00");
	CU_ASSERT_STRING_EQUAL(str_at(sw, "from"), "n1");
	CU_ASSERT_STRING_EQUAL(str_at(sw, "to"), "n2");
	json_decref(o);
	s.view.switchover_candidate[0] = '\0';
	o = get_json(&s, "/cluster", 200);
	sw = json_object_get(o, "scheduled_switchover");
	CU_ASSERT_PTR_NOT_NULL_FATAL(sw);
	CU_ASSERT_PTR_NULL(json_object_get(sw, "to"));
	json_decref(o);
	s.view.switchover_at = 0;
	o = get_json(&s, "/cluster", 200);
	CU_ASSERT_PTR_NULL(json_object_get(o, "scheduled_switchover"));
	json_decref(o);
	s.view.switchover_at = 1790000000.5;
	s.view.switchover_leader[0] = '\0';
	o = get_json(&s, "/cluster", 200);
	CU_ASSERT_PTR_NULL(json_object_get(o, "scheduled_switchover"));
	json_decref(o);
	s.view.has_switchover = false;
	s.view.switchover_leader[0] = 'n';
	o = get_json(&s, "/cluster", 200);
	CU_ASSERT_PTR_NULL(json_object_get(o, "scheduled_switchover"));
	json_decref(o);
}

static void test_status_body_of_replicas_and_stopped_nodes(void)
{
	api_snapshot s;
	sync_replica(&s);
	json_t *o = get_json(&s, "/sync", 200);
	CU_ASSERT_STRING_EQUAL(str_at(o, "role"), "replica");
	CU_ASSERT_STRING_EQUAL(str_at(o, "replication_state"), "streaming");
	CU_ASSERT_TRUE(json_is_true(json_object_get(o, "sync_standby")));
	json_t *x = json_object_get(o, "xlog");
	CU_ASSERT_EQUAL(int_at(x, "received_location"), (json_int_t)LEADER_LSN);
	CU_ASSERT_EQUAL(int_at(x, "replayed_location"), (json_int_t)LEADER_LSN);
	CU_ASSERT_PTR_NULL(json_object_get(x, "location"));
	json_decref(o);

	unlocked(&s);
	s.view.paused = true;
	o = get_json(&s, "/replica", 200);
	CU_ASSERT_TRUE(json_is_true(json_object_get(o, "cluster_unlocked")));
	CU_ASSERT_TRUE(json_is_true(json_object_get(o, "pause")));
	CU_ASSERT_PTR_NULL(json_object_get(o, "sync_standby"));
	json_decref(o);

	stopped(&s);
	o = get_json(&s, "/health", 503);
	CU_ASSERT_STRING_EQUAL(str_at(o, "state"), "stopped");
	CU_ASSERT_STRING_EQUAL(str_at(o, "role"), "stopped");
	CU_ASSERT_PTR_NULL(json_object_get(o, "xlog"));
	CU_ASSERT_PTR_NULL(json_object_get(o, "postmaster_start_time"));
	json_decref(o);

	o = get_json(&s, "/patroni", 200);
	CU_ASSERT_STRING_EQUAL(str_at(o, "state"), "stopped");
	json_decref(o);
}

static json_t *member_at(json_t *cluster, const char *name)
{
	json_t *m;
	size_t i;
	json_array_foreach(json_object_get(cluster, "members"), i, m)
	{
		if (strcmp(str_at(m, "name"), name) == 0)
			return m;
	}
	return NULL;
}

static void test_cluster_document_lists_every_member(void)
{
	api_snapshot s;
	sync_replica(&s);
	s.view.members[2].streaming = false;
	s.view.members[2].noloadbalance = true;
	json_t *o = get_json(&s, "/cluster", 200);
	CU_ASSERT_STRING_EQUAL(str_at(o, "scope"), "demo");
	CU_ASSERT_EQUAL(json_array_size(json_object_get(o, "members")), 3);
	json_t *n1 = member_at(o, "n1"), *n2 = member_at(o, "n2"), *n3 = member_at(o, "n3");
	CU_ASSERT_FATAL(n1 && n2 && n3);
	CU_ASSERT_STRING_EQUAL(str_at(n1, "role"), "leader");
	CU_ASSERT_STRING_EQUAL(str_at(n1, "state"), "running");
	CU_ASSERT_PTR_NULL(json_object_get(n1, "lag"));
	CU_ASSERT_STRING_EQUAL(str_at(n1, "host"), "10.0.0.1");
	CU_ASSERT_EQUAL(int_at(n1, "port"), 5432);
	CU_ASSERT_STRING_EQUAL(str_at(n1, "api_url"), "http://10.0.0.1:8008");
	CU_ASSERT_EQUAL(int_at(n1, "timeline"), 2);
	CU_ASSERT_STRING_EQUAL(str_at(n2, "role"), "sync_standby");
	CU_ASSERT_STRING_EQUAL(str_at(n2, "state"), "streaming");
	CU_ASSERT_EQUAL(int_at(n2, "lag"), 0);
	CU_ASSERT_STRING_EQUAL(str_at(n3, "role"), "replica");
	CU_ASSERT_STRING_EQUAL(str_at(n3, "state"), "in archive recovery");
	CU_ASSERT_EQUAL(int_at(n3, "lag"), (json_int_t)(32 * MB));
	CU_ASSERT_TRUE(json_is_true(json_object_get(json_object_get(n3, "tags"), "noloadbalance")));
	json_decref(o);

	/* a stopped member, an address without a port, a paused cluster */
	s.view.members[2].running = false;
	snprintf(s.view.members[2].conn_address, sizeof s.view.members[2].conn_address, "db3");
	s.view.paused = true;
	o = get_json(&s, "/cluster", 200);
	CU_ASSERT_STRING_EQUAL(str_at(member_at(o, "n3"), "state"), "stopped");
	CU_ASSERT_STRING_EQUAL(str_at(member_at(o, "n3"), "host"), "db3");
	CU_ASSERT_PTR_NULL(json_object_get(member_at(o, "n3"), "port"));
	CU_ASSERT_TRUE(json_is_true(json_object_get(o, "pause")));
	json_decref(o);

	/* no leader position known at all: lag is "unknown"; IPv6 addresses lose their brackets */
	s.view.has_leader = false;
	s.view.last_lsn = 0;
	snprintf(s.view.members[1].conn_address, sizeof s.view.members[1].conn_address, "[::1]:5433");
	o = get_json(&s, "/cluster", 200);
	CU_ASSERT_STRING_EQUAL(str_at(member_at(o, "n2"), "lag"), "unknown");
	CU_ASSERT_STRING_EQUAL(str_at(member_at(o, "n2"), "host"), "::1");
	CU_ASSERT_EQUAL(int_at(member_at(o, "n2"), "port"), 5433);
	CU_ASSERT_STRING_EQUAL(str_at(member_at(o, "n2"), "role"), "replica");
	json_decref(o);
}

static void test_history_document_passes_the_record_through(void)
{
	api_snapshot s;
	leader(&s);
	json_t *o = get_json(&s, "/history", 200);
	CU_ASSERT_EQUAL(json_array_size(o), 1);
	CU_ASSERT_EQUAL(json_integer_value(json_array_get(json_array_get(o, 0), 1)), 25623960);
	json_decref(o);
	s.history_json = "[]";
	o = get_json(&s, "/history", 200);
	CU_ASSERT_EQUAL(json_array_size(o), 0);
	json_decref(o);
	/* 500 timeline switches (about 40 kB): the document is never cut. */
	char *big = malloc(500 * 96 + 3), *p = big;
	p += sprintf(p, "[");
	for (int i = 1; i <= 500; i++)
		p += sprintf(p, "%s{\"timeline\":%d,\"lsn\":\"0/%X\",\"leader\":\"n%d\",\"time\":1790000000.5}",
			     i > 1 ? "," : "", i, 0x3000000 + i, i % 3 + 1);
	sprintf(p, "]");
	CU_ASSERT_TRUE(strlen(big) > 30000);
	s.history_json = big;
	o = get_json(&s, "/history", 200);
	CU_ASSERT_EQUAL(json_array_size(o), 500);
	CU_ASSERT_EQUAL(json_integer_value(json_object_get(json_array_get(o, 499), "timeline")), 500);
	json_decref(o);
	free(big);
	s.history_json = "{\"broken\":";
	o = get_json(&s, "/history", 500);
	CU_ASSERT_PTR_NOT_NULL(strstr(str_at(o, "error"), "history"));
	json_decref(o);
}

/* Each of the n lines appears in the /metrics body; the missing ones are printed. */
static void assert_metrics_hold(const char *body, const char *const *lines, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		if (strstr(body, lines[i]) == NULL)
			printf("\n  /metrics lacks %s", lines[i]);
		CU_ASSERT_PTR_NOT_NULL(strstr(body, lines[i]));
	}
}

static void test_metrics_in_prometheus_text_format(void)
{
	api_snapshot s;
	api_answer a;
	lagging(&s);
	route(&s, "GET", "/metrics", &a);
	CU_ASSERT_EQUAL(a.status, 200);
	CU_ASSERT_STRING_EQUAL(a.content_type, "text/plain; version=0.0.4; charset=utf-8");
	CU_ASSERT_PTR_NOT_NULL_FATAL(a.body);
	static const char *const lines[] = {
		"# TYPE flotilla_replica gauge\nflotilla_replica{scope=\"demo\",name=\"n3\"} 1\n",
		"flotilla_primary{scope=\"demo\",name=\"n3\"} 0\n",
		"flotilla_role{scope=\"demo\",name=\"n3\",role=\"replica\"} 1\n",
		"flotilla_role{scope=\"demo\",name=\"n3\",role=\"primary\"} 0\n",
		"flotilla_timeline{scope=\"demo\",name=\"n3\"} 2\n",
		"flotilla_replication_lag_bytes{scope=\"demo\",name=\"n3\"} 33554432\n",
		"flotilla_replication_lag_seconds{scope=\"demo\",name=\"n3\"} 0.250\n",
		("# TYPE flotilla_lease_renewals_total counter\n"
		 "flotilla_lease_renewals_total{scope=\"demo\",name=\"n3\"} 41\n"),
		"flotilla_lease_failures_total{scope=\"demo\",name=\"n3\"} 2\n",
		"flotilla_leader_changes_total{scope=\"demo\",name=\"n3\"} 3\n",
		"# TYPE flotilla_api_requests_total counter\n",
		"flotilla_api_requests_total{scope=\"demo\",name=\"n3\",code=\"200\"} 0\n",
	};
	assert_metrics_hold(a.body, lines, sizeof lines / sizeof lines[0]);
	api_answer_clear(&a);

	/* a leader reports no lag in seconds, and label values are escaped */
	leader(&s);
	snprintf(s.scope, sizeof s.scope, "a\"b\\c");
	route(&s, "GET", "/metrics", &a);
	CU_ASSERT_PTR_NULL(strstr(a.body, "flotilla_replication_lag_seconds{"));
	CU_ASSERT_PTR_NOT_NULL(strstr(a.body, "flotilla_primary{scope=\"a\\\"b\\\\c\",name=\"n1\"} 1\n"));
	CU_ASSERT_PTR_NULL(strstr(a.body, "flotilla_replication_slot_")); /* no slots read yet */
	api_answer_clear(&a);

	/* the leader's slots: one streaming, one fallen behind the limit */
	snprintf(s.scope, sizeof s.scope, "demo");
	s.n_slots = 2;
	s.slots[0] = (slot_state){.name = "n2", .active = true, .retained_bytes = 16384};
	s.slots[1] = (slot_state){.name = "n3", .active = false, .retained_bytes = 3221225472u, .wal_lost = true};
	route(&s, "GET", "/metrics", &a);
	static const char *const slot_lines[] = {
		"# TYPE flotilla_replication_slot_retained_bytes gauge\n",
		"flotilla_replication_slot_retained_bytes{scope=\"demo\",name=\"n1\",slot=\"n2\"} 16384\n",
		"flotilla_replication_slot_retained_bytes{scope=\"demo\",name=\"n1\",slot=\"n3\"} 3221225472\n",
		"flotilla_replication_slot_active{scope=\"demo\",name=\"n1\",slot=\"n2\"} 1\n",
		"flotilla_replication_slot_active{scope=\"demo\",name=\"n1\",slot=\"n3\"} 0\n",
		"flotilla_replication_slot_wal_lost{scope=\"demo\",name=\"n1\",slot=\"n2\"} 0\n",
		"flotilla_replication_slot_wal_lost{scope=\"demo\",name=\"n1\",slot=\"n3\"} 1\n",
	};
	assert_metrics_hold(a.body, slot_lines, sizeof slot_lines / sizeof slot_lines[0]);
	api_answer_clear(&a);
}

/* ---- the real server ---- */

typedef struct exchange {
	struct event_base *base;
	char reply[16384];
	size_t n;
} exchange;

static void on_client_read(evutil_socket_t fd, short what, void *arg)
{
	exchange *x = arg;
	if (what & EV_TIMEOUT) {
		event_base_loopexit(x->base, NULL);
		return;
	}
	ssize_t r = recv(fd, x->reply + x->n, sizeof x->reply - 1 - x->n, 0);
	if (r <= 0 || x->n + (size_t)r >= sizeof x->reply - 1) {
		event_base_loopexit(x->base, NULL);
		return;
	}
	x->n += (size_t)r;
}

static int free_port(void)
{
	int fd = socket(AF_INET, SOCK_STREAM, 0);
	struct sockaddr_in sa = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	socklen_t len = sizeof sa;
	if (fd < 0 || bind(fd, (struct sockaddr *)&sa, sizeof sa) < 0 ||
	    getsockname(fd, (struct sockaddr *)&sa, &len) < 0) {
		if (fd >= 0)
			close(fd);
		return -1;
	}
	close(fd);
	return ntohs(sa.sin_port);
}

/* Sends raw bytes to the API, runs the loop until the server closes (or 5 s), returns the reply. */
static const char *http_exchange(struct event_base *base, int port, const char *request, exchange *x)
{
	memset(x, 0, sizeof *x);
	x->base = base;
	int fd = socket(AF_INET, SOCK_STREAM, 0);
	struct sockaddr_in sa = {
		.sin_family = AF_INET, .sin_port = htons((uint16_t)port), .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	CU_ASSERT_FATAL(fd >= 0 && connect(fd, (struct sockaddr *)&sa, sizeof sa) == 0);
	CU_ASSERT_FATAL(send(fd, request, strlen(request), 0) == (ssize_t)strlen(request));
	struct timeval five = {5, 0};
	struct event *ev = event_new(base, fd, EV_READ | EV_PERSIST, on_client_read, x);
	event_add(ev, &five);
	event_base_dispatch(base);
	event_free(ev);
	close(fd);
	x->reply[x->n] = '\0';
	return x->reply;
}

static void test_server_answers_real_http_requests(void)
{
	struct event_base *base = event_base_new();
	CU_ASSERT_PTR_NOT_NULL_FATAL(base);
	int port = free_port();
	CU_ASSERT_FATAL(port > 0);
	char listen[32];
	snprintf(listen, sizeof listen, "127.0.0.1:%d", port);
	fl_err err = {0};
	api *a = api_new(base, listen, NULL, NULL, NULL, NULL, &err);
	CU_ASSERT_PTR_NOT_NULL_FATAL(a);

	/* before the first tick the node is uninitialized */
	exchange x;
	const char *r = http_exchange(base, port, "GET /health HTTP/1.0\r\n\r\n", &x);
	CU_ASSERT_PTR_NOT_NULL(strstr(r, " 503 "));
	CU_ASSERT_PTR_NOT_NULL(strstr(r, "\"role\":\"uninitialized\""));

	api_snapshot s;
	leader(&s);
	api_update(a, &s);
	r = http_exchange(base, port, "GET /primary HTTP/1.0\r\n\r\n", &x);
	CU_ASSERT_EQUAL(strncmp(r, "HTTP/1.", 7), 0);
	CU_ASSERT_PTR_NOT_NULL(strstr(r, " 200 OK\r\n"));
	CU_ASSERT_PTR_NOT_NULL(strstr(r, "Content-Type: application/json\r\n"));
	CU_ASSERT_PTR_NOT_NULL(strstr(r, "\r\n\r\n{\"patroni\":"));

	/* HAProxy's check: OPTIONS, status only */
	r = http_exchange(base, port, "OPTIONS /replica HTTP/1.0\r\n\r\n", &x);
	CU_ASSERT_PTR_NOT_NULL(strstr(r, " 503 "));
	CU_ASSERT_PTR_NOT_NULL(strstr(r, "\r\n\r\n") && strstr(r, "\r\n\r\n")[4] == '\0' ? r : NULL);

	r = http_exchange(base, port, "HEAD /primary HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n", &x);
	CU_ASSERT_PTR_NOT_NULL(strstr(r, " 200 "));
	CU_ASSERT_PTR_NOT_NULL(strstr(r, "\r\n\r\n") && strstr(r, "\r\n\r\n")[4] == '\0' ? r : NULL);

	r = http_exchange(base, port, "POST /primary HTTP/1.0\r\nContent-Length: 2\r\n\r\n{}", &x);
	CU_ASSERT_PTR_NOT_NULL(strstr(r, " 405 "));
	CU_ASSERT_PTR_NOT_NULL(strstr(r, "Allow: GET, HEAD, OPTIONS\r\n"));
	CU_ASSERT_PTR_NOT_NULL(strstr(r, "{\"error\":\"api: method POST is not allowed on /primary\"}"));

	r = http_exchange(base, port, "GET /replica?lag=bad HTTP/1.0\r\n\r\n", &x);
	CU_ASSERT_PTR_NOT_NULL(strstr(r, " 400 "));
	CU_ASSERT_PTR_NOT_NULL(strstr(r, "lag \\\"bad\\\""));

	/* evhttp's own limits: garbage, huge headers, huge bodies; the server keeps answering */
	r = http_exchange(base, port, "\x01\x02garbage\r\n\r\n", &x);
	CU_ASSERT_PTR_NULL(strstr(r, " 200 "));
	char *big = malloc(20000);
	snprintf(big, 20000, "GET /primary HTTP/1.0\r\nX-Big: %0*d\r\n\r\n", 12000, 0);
	r = http_exchange(base, port, big, &x);
	CU_ASSERT_PTR_NULL(strstr(r, " 200 "));
	free(big);
	r = http_exchange(base, port, "POST /primary HTTP/1.0\r\nContent-Length: 1000000\r\n\r\n", &x);
	CU_ASSERT_PTR_NOT_NULL(strstr(r, " 413 "));

	/* without a token configured, mutating calls are refused whatever the client sends */
	r = http_exchange(base, port, "POST /pause HTTP/1.0\r\nAuthorization: Bearer x\r\n\r\n", &x);
	CU_ASSERT_PTR_NOT_NULL(strstr(r, " 403 "));
	CU_ASSERT_PTR_NOT_NULL(strstr(r, "no api token configured"));

	r = http_exchange(base, port, "GET /metrics HTTP/1.0\r\n\r\n", &x);
	CU_ASSERT_PTR_NOT_NULL(strstr(r, "Content-Type: text/plain; version=0.0.4; charset=utf-8\r\n"));
	CU_ASSERT_PTR_NOT_NULL(strstr(r, "flotilla_api_requests_total{scope=\"demo\",name=\"n1\",code=\"200\"} 2\n"));
	CU_ASSERT_PTR_NOT_NULL(strstr(r, "flotilla_api_requests_total{scope=\"demo\",name=\"n1\",code=\"405\"} 1\n"));
	CU_ASSERT_PTR_NOT_NULL(strstr(r, "flotilla_api_requests_total{scope=\"demo\",name=\"n1\",code=\"503\"} 2\n"));

	/* a second server cannot take the same port, and says which */
	fl_err err2 = {0};
	CU_ASSERT_PTR_NULL(api_new(base, listen, TOKEN, NULL, NULL, NULL, &err2));
	CU_ASSERT_EQUAL(err2.code, FL_ERR_IO);
	CU_ASSERT_PTR_NOT_NULL(strstr(err2.msg, listen));
	CU_ASSERT_PTR_NULL(api_new(base, "nonsense", NULL, NULL, NULL, NULL, &err2));
	CU_ASSERT_EQUAL(err2.code, FL_ERR_CONFIG);
	CU_ASSERT_PTR_NOT_NULL(strstr(err2.msg, "\"nonsense\" is not host:port"));

	api_free(a);
	api_free(NULL);
	event_base_free(base);
}

/* The agent's side of a command, recording what it was handed. */
typedef struct recorder {
	int calls;
	api_command_req last;
	int status;
	const char *msg;
} recorder;

static int recording_run(void *arg, const api_command_req *req, char *msg, size_t len)
{
	recorder *st = arg;
	st->calls++;
	st->last = *req;
	snprintf(msg, len, "%s", st->msg);
	return st->status;
}

/* "POST <uri>" with an Authorization header (NULL: none) and a body, HTTP/1.0 so the server closes. */
static const char *post_exchange(struct event_base *base, int port, const char *uri, const char *authorization,
				 const char *body, exchange *x)
{
	char auth[256] = "", *req = malloc(strlen(body) + 1024);
	if (authorization)
		snprintf(auth, sizeof auth, "Authorization: %s\r\n", authorization);
	sprintf(req, "POST %s HTTP/1.0\r\n%sContent-Type: application/json\r\nContent-Length: %zu\r\n\r\n%s", uri, auth,
		strlen(body), body);
	http_exchange(base, port, req, x);
	free(req);
	return x->reply;
}

/* The reply's JSON body, or NULL. */
static json_t *reply_json(const char *reply)
{
	const char *b = strstr(reply, "\r\n\r\n");
	return b ? json_loads(b + 4, 0, NULL) : NULL;
}

static void test_server_runs_commands_only_with_the_token(void)
{
	struct event_base *base = event_base_new();
	int port = free_port();
	CU_ASSERT_FATAL(base && port > 0);
	char listen[32];
	snprintf(listen, sizeof listen, "127.0.0.1:%d", port);
	recorder st = {.status = 202, .msg = "switchover from n1 to n2 started"};
	fl_err err = {0};
	api *a = api_new(base, listen, TOKEN, NULL, recording_run, &st, &err);
	CU_ASSERT_PTR_NOT_NULL_FATAL(a);
	api_snapshot s;
	leader(&s);
	api_update(a, &s);
	static const char body[] = "{\"leader\":\"n1\",\"candidate\":\"n2\"}";
	exchange x;

	/* no token, a wrong one, another scheme: 401, and the agent never hears of it */
	const char *r = post_exchange(base, port, "/switchover", NULL, body, &x);
	CU_ASSERT_PTR_NOT_NULL(strstr(r, " 401 "));
	CU_ASSERT_PTR_NOT_NULL(strstr(r, "WWW-Authenticate: Bearer realm=\"flotilla\"\r\n"));
	CU_ASSERT_PTR_NOT_NULL(strstr(r, "missing bearer token"));
	r = post_exchange(base, port, "/switchover", "Bearer nope", body, &x);
	CU_ASSERT_PTR_NOT_NULL(strstr(r, " 401 "));
	r = post_exchange(base, port, "/switchover", "Basic czNjcmV0LXRva2Vu", body, &x);
	CU_ASSERT_PTR_NOT_NULL(strstr(r, " 401 "));
	CU_ASSERT_EQUAL(st.calls, 0);

	/* with the token the command reaches the agent, whose status and message come back */
	r = post_exchange(base, port, "/switchover", "Bearer " TOKEN, body, &x);
	CU_ASSERT_PTR_NOT_NULL(strstr(r, " 202 "));
	CU_ASSERT_PTR_NOT_NULL(strstr(r, "Content-Type: application/json\r\n"));
	json_t *o = reply_json(r);
	CU_ASSERT_STRING_EQUAL(str_at(o, "message"), "switchover from n1 to n2 started");
	json_decref(o);
	CU_ASSERT_EQUAL(st.calls, 1);
	CU_ASSERT_EQUAL(st.last.cmd, API_CMD_SWITCHOVER);
	CU_ASSERT_STRING_EQUAL(st.last.leader, "n1");
	CU_ASSERT_STRING_EQUAL(st.last.candidate, "n2");
	CU_ASSERT_EQUAL(st.last.scheduled_at, 0);

	/* an error of the agent (etcd down) is passed through; its text is kept valid JSON */
	st.status = 503;
	st.msg = "etcd: cannot reach http://10.0.0.9:2379\n\xff";
	r = post_exchange(base, port, "/pause", "Bearer " TOKEN, "", &x);
	CU_ASSERT_PTR_NOT_NULL(strstr(r, " 503 "));
	o = reply_json(r);
	CU_ASSERT_STRING_EQUAL(str_at(o, "message"), "etcd: cannot reach http://10.0.0.9:2379??");
	json_decref(o);
	CU_ASSERT_EQUAL(st.calls, 2);
	CU_ASSERT_EQUAL(st.last.cmd, API_CMD_PAUSE);

	/* a scheduled switchover in the future reaches the agent; one in the past is refused (422) */
	st.status = 202;
	st.msg = "switchover from n1 scheduled";
	r = post_exchange(base, port, "/switchover", "Bearer " TOKEN,
			  "{\"leader\":\"n1\",\"scheduled_at\":\"2099-01-01T00:00:00Z\"}", &x);
	CU_ASSERT_PTR_NOT_NULL(strstr(r, " 202 "));
	CU_ASSERT_EQUAL(st.calls, 3);
	CU_ASSERT_DOUBLE_EQUAL(st.last.scheduled_at, 4070908800.0, 1e-6);
	r = post_exchange(base, port, "/switchover", "Bearer " TOKEN,
			  "{\"leader\":\"n1\",\"scheduled_at\":\"2020-01-01T00:00:00Z\"}", &x);
	CU_ASSERT_PTR_NOT_NULL(strstr(r, " 422 "));
	CU_ASSERT_PTR_NOT_NULL(strstr(r, "cannot schedule a switchover in the past"));
	CU_ASSERT_EQUAL(st.calls, 3);

	/* refusals of the router: the agent is not called, the server keeps answering */
	r = post_exchange(base, port, "/reinit", "Bearer " TOKEN, "", &x);
	CU_ASSERT_PTR_NOT_NULL(strstr(r, " 409 "));
	r = post_exchange(base, port, "/switchover", "Bearer " TOKEN, "{\"leader\":", &x);
	CU_ASSERT_PTR_NOT_NULL(strstr(r, " 400 "));
	CU_ASSERT_PTR_NOT_NULL(strstr(r, "malformed JSON"));
	r = post_exchange(base, port, "/switchover", "Bearer " TOKEN, "{\"leader\":\"n1\",\"bogus\":1}", &x);
	CU_ASSERT_PTR_NOT_NULL(strstr(r, "unknown field \\\"bogus\\\""));
	char *big = malloc(8192);
	memset(big, ' ', 8191);
	big[0] = '{';
	big[8189] = '}';
	big[8191] = '\0';
	r = post_exchange(base, port, "/pause", "Bearer " TOKEN, big, &x); /* ours: JSON naming the limit */
	CU_ASSERT_PTR_NOT_NULL(strstr(r, " 413 "));
	CU_ASSERT_PTR_NOT_NULL(strstr(r, "more than 4096"));
	free(big);
	r = http_exchange(base, port, "GET /switchover HTTP/1.0\r\n\r\n", &x);
	CU_ASSERT_PTR_NOT_NULL(strstr(r, " 405 "));
	CU_ASSERT_PTR_NOT_NULL(strstr(r, "Allow: POST, OPTIONS\r\n"));
	CU_ASSERT_EQUAL(st.calls, 3);

	/* an agent answering no valid status becomes a 500, not a broken reply */
	st.status = 0;
	r = post_exchange(base, port, "/restart", "Bearer " TOKEN, "{}", &x);
	CU_ASSERT_PTR_NOT_NULL(strstr(r, " 500 "));
	CU_ASSERT_EQUAL(st.calls, 4);

	r = http_exchange(base, port, "GET /metrics HTTP/1.0\r\n\r\n", &x);
	CU_ASSERT_PTR_NOT_NULL(strstr(r, "flotilla_api_requests_total{scope=\"demo\",name=\"n1\",code=\"401\"} 3\n"));
	CU_ASSERT_PTR_NOT_NULL(strstr(r, "flotilla_api_requests_total{scope=\"demo\",name=\"n1\",code=\"202\"} 2\n"));

	api_free(a);
	event_base_free(base);
}

void suite_register(void)
{
	CU_pSuite s = CU_add_suite("api", NULL, NULL);
	CU_add_test(s, "every health endpoint in every situation", test_every_health_endpoint_in_every_situation);
	CU_add_test(s, "query parameters: lag, tags, replication_state", test_query_parameters);
	CU_add_test(s, "methods, paths and malformed requests", test_methods_paths_and_malformed_requests);
	CU_add_test(s, "long uri is refused", test_long_uri_is_refused);
	CU_add_test(s, "every mutating call needs the token", test_every_mutating_call_needs_the_token);
	CU_add_test(s, "bodies and cluster state are checked", test_bodies_and_cluster_state_are_checked);
	CU_add_test(s, "oversized body is refused", test_oversized_body_is_refused);
	CU_add_test(s, "scheduled_at takes ISO 8601 with a timezone", test_scheduled_at_takes_iso_8601_with_a_timezone);
	CU_add_test(s, "accepted call becomes a command", test_accepted_call_becomes_a_command);
	CU_add_test(s, "status body of a leader", test_status_body_of_a_leader);
	CU_add_test(s, "status body has patronis fields", test_status_body_has_patronis_fields);
	CU_add_test(s, "cluster document shows a scheduled switchover",
		    test_cluster_document_shows_a_scheduled_switchover);
	CU_add_test(s, "status body of replicas and stopped nodes", test_status_body_of_replicas_and_stopped_nodes);
	CU_add_test(s, "cluster document lists every member", test_cluster_document_lists_every_member);
	CU_add_test(s, "history document passes the record through", test_history_document_passes_the_record_through);
	CU_add_test(s, "metrics in Prometheus text format", test_metrics_in_prometheus_text_format);
	CU_add_test(s, "server answers real HTTP requests", test_server_answers_real_http_requests);
	CU_add_test(s, "server runs commands only with the token", test_server_runs_commands_only_with_the_token);
	CU_add_test(s, "/config: GET, PATCH, PUT routed and checked", test_config_route);
	CU_add_test(s, "/config: the agent's answer", test_config_answer);
}
