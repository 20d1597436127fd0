/*
 * fuzz_api: libFuzzer target of the REST API's request parsing. The input
 * is four lines, "METHOD\nURI\nAUTHORIZATION\nBODY" (a missing line is an
 * absent part; the body is the rest, newlines and NULs included, and is
 * handed over without a terminating NUL); api_route answers it from four
 * fixed snapshots (leader; replica; stopped node of a paused cluster; replica
 * of a cluster without leader, where n3 is nofailover) with the token "fuzz-token",
 * and once more with no token configured. Besides the sanitizers' checks,
 * every answer must have a status from the API's catalogue, a JSON body that
 * parses whenever one is sent as JSON, no body for HEAD and OPTIONS, and an
 * accepted command exactly when no answer is given, whose names are member
 * names and whose time is not before 1970.
 *   cmake -S . -B build-fuzz -DCMAKE_C_COMPILER=clang -DFLOTILLA_FUZZ=ON
 *   cmake --build build-fuzz --target fuzz_api
 *   build-fuzz/tests/fuzz/fuzz_api -max_total_time=60 -dict=tests/fuzz/api.dict tests/fuzz/corpus/api
 */
#include <jansson.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "replicator/api_route.h"

#define FUZZ_INPUT_MAX 8192
#define FUZZ_TOKEN "fuzz-token"

static api_snapshot snaps[4];

static void node(api_snapshot *s, const char *name, const char *role, bool leader, bool running)
{
	memset(s, 0, sizeof *s);
	snprintf(s->name, sizeof s->name, "%s", name);
	snprintf(s->scope, sizeof s->scope, "fuzz");
	snprintf(s->role, sizeof s->role, "%s", role);
	s->history_json = "[[1,100,\"no recovery target specified\",\"t\",\"n1\"]]";
	s->leader = leader;
	s->running = running;
	s->streaming = running && !leader;
	s->timeline = 3;
	s->wal_lsn = 5u << 24;
	s->received_lsn = s->replayed_lsn = leader ? 0 : 4u << 24;
	s->replay_lag_seconds = leader ? -1 : 1.5;
	s->priority = 1;
	cluster_view *v = &s->view;
	v->has_leader = true;
	v->leader_term = 4;
	snprintf(v->leader, sizeof v->leader, "n1");
	v->has_sync = true;
	v->sync_term = 4;
	v->n_sync = 1;
	snprintf(v->sync[0], sizeof v->sync[0], "n2");
	const char *names[] = {"n1", "n2", "n3"};
	for (int i = 0; i < 3; i++) {
		member *m = &v->members[v->n_members++];
		snprintf(m->name, sizeof m->name, "%s", names[i]);
		snprintf(m->role, sizeof m->role, "%s", i == 0 ? "primary" : "replica");
		snprintf(m->conn_address, sizeof m->conn_address, "10.0.0.%d:5432", i + 1);
		m->running = true;
		m->wal_lsn = m->received_lsn = m->replayed_lsn = (uint64_t)(5 - i) << 24;
	}
}

static bool name_ok(const char *v)
{
	size_t n = strnlen(v, CLUSTER_NAME_MAX);
	if (n == CLUSTER_NAME_MAX)
		return false;
	for (size_t i = 0; i < n; i++)
		if (!((v[i] >= 'a' && v[i] <= 'z') || (v[i] >= '0' && v[i] <= '9') || v[i] == '_' || v[i] == '-'))
			return false;
	return true;
}

static void check_command(const api_answer *a)
{
	const api_command_req *c = &a->command;
	if (a->status != 0 || a->body != NULL || c->cmd < API_CMD_PAUSE || c->cmd > API_CMD_REINIT) {
		fprintf(stderr, "fuzz_api: command %d came with status %d\n", (int)c->cmd, a->status);
		abort();
	}
	if (!name_ok(c->leader) || !name_ok(c->candidate) || !(c->scheduled_at == 0 || c->scheduled_at > 0)) {
		fprintf(stderr, "fuzz_api: command with leader %.64s candidate %.64s at %f\n", c->leader, c->candidate,
			c->scheduled_at);
		abort();
	}
	bool names = c->cmd == API_CMD_SWITCHOVER || c->cmd == API_CMD_FAILOVER;
	if ((!names && (c->leader[0] || c->candidate[0] || c->scheduled_at)) ||
	    (c->cmd == API_CMD_SWITCHOVER && !c->leader[0]) ||
	    (c->cmd == API_CMD_FAILOVER && (!c->candidate[0] || c->leader[0] || c->scheduled_at)) ||
	    (c->leader[0] && strcmp(c->leader, c->candidate) == 0)) {
		fprintf(stderr, "fuzz_api: inconsistent command %d\n", (int)c->cmd);
		abort();
	}
}

static void check(const char *method, const api_answer *a)
{
	static const int statuses[] = {200, 400, 401, 403, 404, 405, 409, 412, 413, 414, 422, 500, 503};
	bool known = false;
	if (a->command.cmd != API_CMD_NONE) {
		check_command(a);
		return;
	}
	for (size_t i = 0; i < sizeof statuses / sizeof statuses[0]; i++)
		known |= a->status == statuses[i];
	if (!known || a->content_type == NULL) {
		fprintf(stderr, "fuzz_api: status %d outside the catalogue\n", a->status);
		abort();
	}
	bool bodiless = strcmp(method, "HEAD") == 0 || strcmp(method, "OPTIONS") == 0;
	if (bodiless != (a->body == NULL)) {
		fprintf(stderr, "fuzz_api: %s answered %s a body\n", method, a->body ? "with" : "without");
		abort();
	}
	if (a->body && strcmp(a->content_type, "application/json") == 0) {
		json_t *o = json_loads(a->body, 0, NULL);
		if (o == NULL) {
			fprintf(stderr, "fuzz_api: body is not JSON: %s\n", a->body);
			abort();
		}
		json_decref(o);
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static bool ready;
	if (!ready) {
		node(&snaps[0], "n1", "primary", true, true);
		node(&snaps[1], "n2", "replica", false, true);
		node(&snaps[2], "n3", "stopped", false, false);
		snaps[2].view.paused = true;
		node(&snaps[3], "n2", "replica", false, true);
		snaps[3].view.has_leader = false;
		snaps[3].view.members[2].nofailover = true;
		ready = true;
	}
	if (size > FUZZ_INPUT_MAX)
		return 0;
	char *buf = malloc(size + 1);
	if (buf == NULL)
		return 0;
	memcpy(buf, data, size);
	buf[size] = '\0';
	/* method, uri and authorization end at a newline (or at a NUL, as C strings do) */
	char *line[3] = {buf, NULL, NULL}, *end = buf + size, *rest = NULL;
	for (int i = 0; i < 3 && line[i]; i++) {
		char *nl = memchr(line[i], '\n', (size_t)(end - line[i]));
		if (nl == NULL)
			break;
		*nl = '\0';
		if (i < 2)
			line[i + 1] = nl + 1;
		else
			rest = nl + 1;
	}
	/* the body in a buffer of its exact size, so that ASan sees any read past it */
	size_t body_len = rest ? (size_t)(end - rest) : 0;
	char *body = body_len ? malloc(body_len) : NULL;
	if (body)
		memcpy(body, rest, body_len);
	api_request req = {.method = line[0],
			   .uri = line[1] ? line[1] : "",
			   .authorization = line[2],
			   .body = body,
			   .body_len = body_len,
			   .token = FUZZ_TOKEN};
	for (size_t i = 0; i <= sizeof snaps / sizeof snaps[0]; i++) {
		api_answer a;
		bool last = i == sizeof snaps / sizeof snaps[0];
		req.token = last ? NULL : FUZZ_TOKEN; /* no token configured: never a command */
		api_route(&snaps[last ? 0 : i], &req, &a);
		check(req.method, &a);
		if (last && a.command.cmd != API_CMD_NONE)
			abort();
		api_answer_clear(&a);
	}
	free(body);
	free(buf);
	return 0;
}
