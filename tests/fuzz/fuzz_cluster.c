/*
 * fuzz_cluster: libFuzzer target of the parse of a cluster's etcd records
 * (cluster_parse), what anyone who can write to etcd controls. The input is
 * a list of records, one per line, "<key> <value>" (the key is completed
 * under the root /f/s/, so "members/n1 {...}" is a member record); every
 * record kind is reached. Besides the sanitizers' checks: the parse either
 * succeeds or names what it rejected; every member in the view has a
 * non-empty, terminated name equal to its key's; the counts stay within
 * their arrays; roles and states as operators see them are non-empty.
 *   cmake -S . -B build-fuzz -DCMAKE_C_COMPILER=clang -DFLOTILLA_FUZZ=ON
 *   cmake --build build-fuzz --target fuzz_cluster
 *   build-fuzz/tests/fuzz/fuzz_cluster -max_total_time=60 -dict=tests/fuzz/cluster.dict tests/fuzz/corpus/cluster
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cluster/cluster.h"

#define FUZZ_INPUT_MAX 16384
#define FUZZ_RECORDS 48

static void fail(const char *what)
{
	fprintf(stderr, "fuzz_cluster: %s\n", what);
	abort();
}

static void check_view(const cluster_view *v, int rc, const fl_err *err)
{
	if ((rc < 0) != (v->n_rejected > 0))
		fail("the result and the rejected count disagree");
	if (rc < 0 && (err->msg[0] == '\0' || strstr(err->msg, "rejected") == NULL))
		fail("a rejection without a message");
	if (v->n_members < 0 || v->n_members > CLUSTER_MAX_MEMBERS || v->n_sync < 0 ||
	    v->n_sync > CLUSTER_MAX_MEMBERS || v->n_drained < 0 || v->n_drained > CLUSTER_MAX_MEMBERS)
		fail("a count out of range");
	for (int i = 0; i < v->n_members; i++) {
		const member *m = &v->members[i];
		size_t n = strnlen(m->name, sizeof m->name);
		if (n == 0 || n == sizeof m->name)
			fail("a member name empty or unterminated");
		if (cluster_member(v, m->name) == NULL)
			fail("a member cannot be found by its name");
		if (cluster_member_role(v, m)[0] == '\0' || cluster_member_state(v, m)[0] == '\0')
			fail("an empty role or state");
		(void)cluster_lag(v, m->received_lsn, m->replayed_lsn);
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static char text[FUZZ_INPUT_MAX + 1];
	static char keys[FUZZ_RECORDS][320];
	if (size > FUZZ_INPUT_MAX)
		size = FUZZ_INPUT_MAX;
	memcpy(text, data, size);
	text[size] = '\0';
	etcd_kv kv[FUZZ_RECORDS];
	int n = 0;
	for (char *line = text, *next; line && *line && n < FUZZ_RECORDS; line = next) {
		next = strchr(line, '\n');
		if (next)
			*next++ = '\0';
		char *value = strchr(line, ' ');
		if (value)
			*value++ = '\0';
		snprintf(keys[n], sizeof keys[n], "/f/s/%s", line);
		kv[n] = (etcd_kv){keys[n], value ? value : "", n + 1, n + 1, n};
		n++;
	}
	etcd_kvs kvs = {kv, n, n + 1};
	cluster_view *v = malloc(sizeof *v);
	if (v == NULL)
		return 0;
	fl_err err = {0};
	int rc = cluster_parse(&kvs, "/f/s/", v, &err);
	check_view(v, rc, &err);
	(void)cluster_history(&kvs, "/f/s/");
	free(v);
	return 0;
}
