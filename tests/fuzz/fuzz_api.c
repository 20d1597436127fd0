/*
 * fuzz_api: libFuzzer target of the REST API's request parsing. The input
 * is "METHOD URI" (split at the first space; a NUL ends it); api_route
 * answers it from three fixed snapshots (leader, replica, stopped node).
 * Besides the sanitizers' checks, every answer must have a status from the
 * API's catalogue, a JSON body that parses whenever one is sent as JSON,
 * and no body for HEAD and OPTIONS.
 *   cmake -S . -B build-fuzz -DCMAKE_C_COMPILER=clang -DFLOTILLA_FUZZ=ON
 *   cmake --build build-fuzz --target fuzz_api
 *   build-fuzz/tests/fuzz/fuzz_api -max_total_time=60 -dict=tests/fuzz/api.dict tests/fuzz/corpus/api
 */
#include <jansson.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api.h"

#define FUZZ_INPUT_MAX 4096

static api_snapshot snaps[3];

static void node(api_snapshot *s, const char *name, const char *role, bool leader, bool running)
{
	memset(s, 0, sizeof *s);
	snprintf(s->name, sizeof s->name, "%s", name);
	snprintf(s->scope, sizeof s->scope, "fuzz");
	snprintf(s->role, sizeof s->role, "%s", role);
	snprintf(s->history_json, sizeof s->history_json, "[[1,100,\"no recovery target specified\",\"t\",\"n1\"]]");
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

static void check(const char *method, const api_answer *a)
{
	static const int statuses[] = {200, 400, 404, 405, 414, 500, 503};
	bool known = false;
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
		ready = true;
	}
	if (size > FUZZ_INPUT_MAX)
		return 0;
	char *buf = malloc(size + 1);
	if (buf == NULL)
		return 0;
	memcpy(buf, data, size);
	buf[size] = '\0';
	char *space = strchr(buf, ' ');
	const char *method = buf, *uri = "";
	if (space) {
		*space = '\0';
		uri = space + 1;
	}
	for (size_t i = 0; i < sizeof snaps / sizeof snaps[0]; i++) {
		api_answer a;
		api_route(&snaps[i], method, uri, &a);
		check(method, &a);
		api_answer_clear(&a);
	}
	free(buf);
	return 0;
}
