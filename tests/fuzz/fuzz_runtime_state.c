/*
 * fuzz_runtime_state: libFuzzer target of the parse of HAProxy's Runtime
 * API answers: `show servers state` (runtime_api_parse_state), `show
 * stat` (runtime_api_parse_stat) and the error check of a batch of commands
 * (runtime_api_answer_problem); each parser reads every input. The input is
 * the answer, up to its first NUL. Besides the sanitizers' checks: a refused
 * answer gets a message from the parser; an accepted one yields 0..max
 * servers with non-empty (state) or terminated (stat) names, states that map
 * to a plan state with a weight of at least 0, and session counts of at least
 * 0; the problem line, when there is one, fits its buffer, is non-blank and
 * holds no newline.
 *   cmake -S . -B build-fuzz -DCMAKE_C_COMPILER=clang -DFLOTILLA_FUZZ=ON
 *   cmake --build build-fuzz --target fuzz_runtime_state
 *   build-fuzz/tests/fuzz/fuzz_runtime_state -max_total_time=60 -dict=tests/fuzz/runtime_state.dict \
 *     tests/fuzz/corpus/runtime_state
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "proxy-agent/runtime_api.h"

#define FUZZ_INPUT_MAX 16384
#define FUZZ_SERVERS 8

static void fail(const char *what)
{
	fprintf(stderr, "fuzz_runtime_state: %s\n", what);
	abort();
}

static void check_servers(const runtime_server *s, int n)
{
	if (n < 0 || n > FUZZ_SERVERS)
		fail("server count out of range");
	for (int i = 0; i < n; i++) {
		size_t b = strnlen(s[i].backend, sizeof s[i].backend), m = strnlen(s[i].name, sizeof s[i].name);
		if (b == 0 || b == sizeof s[i].backend || m == 0 || m == sizeof s[i].name)
			fail("backend or server name empty or unterminated");
		if (s[i].op_state < 0 || s[i].admin_state < 0 || s[i].uweight < 0 || s[i].iweight < 0)
			fail("negative state or weight");
		plan_seen seen = runtime_api_seen(&s[i]);
		if (!seen.known || (seen.admin != PLAN_READY && seen.admin != PLAN_DRAIN && seen.admin != PLAN_MAINT) ||
		    seen.weight < 0)
			fail("seen state out of range");
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size > FUZZ_INPUT_MAX)
		return 0;
	char *answer = malloc(size + 1);
	if (answer == NULL)
		return 0;
	memcpy(answer, data, size);
	answer[size] = '\0';
	runtime_server s[FUZZ_SERVERS];
	int n = -1;
	fl_err err = {0};
	int rc = runtime_api_parse_state(answer, s, FUZZ_SERVERS, &n, &err);
	if (rc == 0)
		check_servers(s, n);
	else if (rc != -1 || err.code != FL_ERR_HAPROXY || strncmp(err.msg, "runtime api: ", 13) != 0)
		fail("refused without a runtime api message");
	else if (n < 0 || n > FUZZ_SERVERS)
		fail("server count out of range after a refusal");
	runtime_stat st[FUZZ_SERVERS];
	n = -1;
	rc = runtime_api_parse_stat(answer, st, FUZZ_SERVERS, &n, &err);
	if (rc != 0 &&
	    (rc != -1 || err.code != FL_ERR_HAPROXY || strncmp(err.msg, "runtime api: show stat: ", 24) != 0))
		fail("show stat refused without a runtime api message");
	if (n < 0 || n > FUZZ_SERVERS)
		fail("show stat server count out of range");
	for (int i = 0; rc == 0 && i < n; i++)
		if (strnlen(st[i].backend, sizeof st[i].backend) == sizeof st[i].backend ||
		    strnlen(st[i].name, sizeof st[i].name) == sizeof st[i].name || st[i].sessions < 0 ||
		    strcmp(st[i].name, "FRONTEND") == 0 || strcmp(st[i].name, "BACKEND") == 0)
			fail("show stat row unterminated, negative or not a server");
	char buf[24];
	const char *problem = runtime_api_answer_problem(answer, buf, sizeof buf);
	if (problem != NULL && (problem != buf || strlen(buf) >= sizeof buf || buf[0] == '\0' || strchr(buf, '\n') ||
				strspn(buf, " \t\r") == strlen(buf)))
		fail("problem line empty, blank, too long or with a newline");
	if (problem == NULL && answer[strspn(answer, " \t\r\n")] != '\0')
		fail("no problem found in a non-blank answer");
	free(answer);
	return 0;
}
