/*
 * fuzz_agent_check: libFuzzer target of the agent-check request parser,
 * which reads whatever connects to the agent's port. The input is the bytes
 * received so far. Besides the sanitizers' checks: a refusal always says
 * why; "more bytes needed" only while no newline came and the line is still
 * short enough; an accepted request names rw or ro and a server of 1..63
 * bytes from [A-Za-z0-9._-], is exactly the line up to the newline (CR
 * allowed), and every shorter prefix of it is still incomplete. The accepted
 * request is then answered the way the daemon does: the server is planned
 * in a three-member view where it leads (and once where it is a replica),
 * and its reply must be one of HAProxy's agent words ending in a newline.
 *   cmake -S . -B build-fuzz -DCMAKE_C_COMPILER=clang -DFLOTILLA_FUZZ=ON
 *   cmake --build build-fuzz --target fuzz_agent_check
 *   build-fuzz/tests/fuzz/fuzz_agent_check -max_total_time=60 tests/fuzz/corpus/agent_check
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "proxy-agent/agent_check.h"

#define FUZZ_INPUT_MAX 512

static void fail(const char *what, const uint8_t *data, size_t size)
{
	fprintf(stderr, "fuzz_agent_check: %s (input of %zu bytes: %.*s)\n", what, size, (int)(size < 200 ? size : 200),
		(const char *)data);
	abort();
}

static bool name_char(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' || c == '_' ||
	       c == '.';
}

/* The reply to an accepted request, from a view where the server leads (or is a replica) lagging `lag` bytes. */
static void check_reply(const agent_check_request *req, bool leads, uint64_t lag, const uint8_t *data, size_t size)
{
	cluster_view v;
	memset(&v, 0, sizeof v);
	char names[3][CLUSTER_NAME_MAX];
	snprintf(names[0], CLUSTER_NAME_MAX, "%s", req->server);
	snprintf(names[1], CLUSTER_NAME_MAX, "%s", strcmp(req->server, "a") == 0 ? "b" : "a");
	snprintf(names[2], CLUSTER_NAME_MAX, "%s", strcmp(req->server, "c") == 0 ? "d" : "c");
	for (int i = 0; i < 3; i++) {
		member *m = &v.members[v.n_members++];
		snprintf(m->name, sizeof m->name, "%s", names[i]);
		bool primary = leads ? i == 0 : i == 1;
		snprintf(m->role, sizeof m->role, "%s", primary ? "primary" : "replica");
		m->running = true;
		m->wal_lsn = primary ? 1u << 20 : 0;
		m->replayed_lsn = primary ? 0 : (1u << 20) - lag;
	}
	v.has_leader = true;
	snprintf(v.leader, sizeof v.leader, "%s", leads ? names[0] : names[1]);
	plan_config cfg = {
		.max_lag = 1000, .full_weight_lag = 100, .min_weight = 10, .primary_in_ro = PRIMARY_IN_RO_FALLBACK};
	plan p;
	plan_make(&cfg, &v, names, NULL, NULL, 3, &p);
	int i = plan_find(&p, req->server);
	if (i != 0)
		fail("the requested server is not found in the plan", data, size);
	if ((strcmp(p.writer, req->server) == 0) != leads)
		fail("the writer is not the leader", data, size);
	char reply[64];
	plan_agent_reply(&p.want[req->backend][i], reply, sizeof reply);
	int weight = -1;
	char tail = 0;
	if (strcmp(reply, "drain\n") == 0 || strcmp(reply, "maint\n") == 0)
		return;
	if (sscanf(reply, "up ready %d%%%c", &weight, &tail) != 2 || tail != '\n' || weight < 1 || weight > 100)
		fail("reply is not an agent word", data, size);
	char again[64];
	snprintf(again, sizeof again, "up ready %d%%\n", weight);
	if (strcmp(again, reply) != 0)
		fail("reply has extra bytes", data, size);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size > FUZZ_INPUT_MAX)
		return 0;
	/* The bytes in a buffer of their exact size, so that ASan sees any read past them. */
	char *buf = malloc(size ? size : 1);
	if (buf == NULL)
		return 0;
	memcpy(buf, data, size);
	agent_check_request req;
	const char *why = NULL;
	int rc = agent_check_parse(buf, size, &req, &why);
	const char *nl = memchr(buf, '\n', size);
	size_t line = nl ? (size_t)(nl - buf) : size;
	if (rc == -1 && (why == NULL || why[0] == '\0'))
		fail("refused without a reason", data, size);
	if (rc == 0 && (nl != NULL || size >= AGENT_CHECK_REQUEST_MAX))
		fail("waits for more though the line is complete or too long", data, size);
	if (rc == 1) {
		if (nl == NULL || line >= AGENT_CHECK_REQUEST_MAX)
			fail("accepted a line without newline or too long", data, size);
		if (req.backend != PLAN_RW && req.backend != PLAN_RO)
			fail("backend out of range", data, size);
		size_t n = strnlen(req.server, sizeof req.server);
		if (n == 0 || n == sizeof req.server)
			fail("server name empty or unterminated", data, size);
		for (size_t i = 0; i < n; i++)
			if (!name_char(req.server[i]))
				fail("server name with a bad character", data, size);
		char expect[AGENT_CHECK_REQUEST_MAX + 2];
		int len = snprintf(expect, sizeof expect, "%s %s", plan_backend_names[req.backend], req.server);
		size_t body = line > 0 && buf[line - 1] == '\r' ? line - 1 : line;
		if ((size_t)len != body || memcmp(expect, buf, body) != 0)
			fail("accepted request differs from its line", data, size);
		for (size_t k = 0; k <= line; k++) {
			agent_check_request r2;
			const char *w2 = NULL;
			if (agent_check_parse(buf, k, &r2, &w2) != 0)
				fail("a prefix of an accepted line is not incomplete", data, size);
		}
		check_reply(&req, true, 0, data, size);
		check_reply(&req, false, (uint64_t)(unsigned char)buf[0] * 5, data, size);
	}
	if (rc < -1 || rc > 1)
		fail("return code outside -1..1", data, size);
	free(buf);
	return 0;
}
