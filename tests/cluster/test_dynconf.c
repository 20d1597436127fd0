/*
 * test_dynconf: the dynamic configuration's rules. Documents accepted and
 * refused (unknown keys, wrong types, values out of the option table's
 * range, parameters the agent manages, bad names, overlong or multi-line
 * values, pg_hba lines of no known type); the merge patch (null removes,
 * objects merge, the rest replaces); the overlay onto an agent's options
 * (named settings kept, absent ones back to their defaults, ttl checked
 * against loop_wait and retry_timeout, nothing changed on a refusal); the
 * parameters as name=value with the node's own taking precedence; the YAML
 * and the diff.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cluster/dynconf.h"
#include "cunit_main.h"

#define ROWS(a) (sizeof(a) / sizeof((a)[0]))

static void test_check(void)
{
	static const struct {
		const char *doc;
		const char *why; /* NULL: accepted */
	} rows[] = {
		{"{}", NULL},
		{"{\"ttl\": 10, \"loop_wait\": 1, \"retry_timeout\": 2.5, \"maximum_lag_on_failover\": 0, "
		 "\"synchronous_mode\": true}",
		 NULL},
		{"{\"postgresql\": {\"parameters\": {\"work_mem\": \"8MB\", \"random_page_cost\": 1.1, \"jit\": false, "
		 "\"max_connections\": 200, \"pg_stat_statements.track\": \"all\"}, \"pg_hba\": [\"host all all "
		 "10.0.0.0/8 scram-sha-256\", \"  hostssl replication replicator all cert\"]}}",
		 NULL},
		{"[]", "must be a JSON object"},
		{"{\"ttl\": 1}", "ttl = 1 is outside the allowed range 2..3600"},
		{"{\"ttl\": 30.5}", "ttl must be an integer"},
		{"{\"loop_wait\": \"1\"}", "loop_wait must be a number"},
		{"{\"loop_wait\": 0.01}", "outside the allowed range"},
		{"{\"synchronous_mode\": 1}", "synchronous_mode must be true or false"},
		{"{\"maximum_lag_on_failover\": -1}", "outside the allowed range"},
		{"{\"tll\": 10}", "unknown setting \"tll\""},
		{"{\"name\": \"n1\"}", "unknown setting \"name\""},
		{"{\"postgresql\": 1}", "postgresql must be an object"},
		{"{\"postgresql\": {\"params\": {}}}", "unknown setting \"postgresql.params\""},
		{"{\"postgresql\": {\"parameters\": []}}", "must be an object of name: value"},
		{"{\"postgresql\": {\"parameters\": {\"port\": 5433}}}", "postgresql.parameters.port is managed"},
		{"{\"postgresql\": {\"parameters\": {\"Primary_Conninfo\": \"x\"}}}", "is managed by the agent"},
		{"{\"postgresql\": {\"parameters\": {\"work mem\": \"8MB\"}}}", "\"work mem\" is not a parameter name"},
		{"{\"postgresql\": {\"parameters\": {\"1abc\": \"1\"}}}", "is not a parameter name"},
		{"{\"postgresql\": {\"parameters\": {\"abc.\": \"1\"}}}", "is not a parameter name"},
		{"{\"postgresql\": {\"parameters\": {\"work_mem\": \"8MB\\n\"}}}", "one printable line"},
		{"{\"postgresql\": {\"parameters\": {\"work_mem\": null}}}", "must be a string, a number or a boolean"},
		{"{\"postgresql\": {\"parameters\": {\"work_mem\": [1]}}}", "must be a string, a number or a boolean"},
		{"{\"postgresql\": {\"pg_hba\": \"host all all all trust\"}}", "must be a list"},
		{"{\"postgresql\": {\"pg_hba\": [\"hots all all all trust\"]}}", "item 1 \"hots all all all trust\""},
		{"{\"postgresql\": {\"pg_hba\": [\"host all all all trust\", 5]}}", "item 2 must be one printable"},
		{"{\"postgresql\": {\"pg_hba\": [\"host all all all trust\\nlocal all all trust\"]}}",
		 "item 1 must be"},
	};
	for (unsigned i = 0; i < ROWS(rows); i++) {
		fl_err err = {0};
		json_t *cfg = dynconf_parse(rows[i].doc, &err);
		bool ok = rows[i].why ? cfg == NULL && strstr(err.msg, rows[i].why) != NULL : cfg != NULL;
		if (!ok)
			fprintf(stderr, "row %u: %s: \"%s\"\n", i, rows[i].doc, err.msg);
		CU_ASSERT(ok);
		json_decref(cfg);
	}
	fl_err err = {0};
	CU_ASSERT_PTR_NULL(dynconf_parse("{\"ttl\": 10, \"ttl\": 11}", &err));
	CU_ASSERT_PTR_NULL(dynconf_parse("{\"ttl\": ", &err));
	CU_ASSERT_PTR_NOT_NULL(strstr(err.msg, "not JSON"));
	char *big = malloc(DYNCONF_MAX_BYTES + 10);
	memset(big, ' ', DYNCONF_MAX_BYTES + 9);
	big[0] = '{';
	big[DYNCONF_MAX_BYTES + 8] = '}';
	big[DYNCONF_MAX_BYTES + 9] = '\0';
	CU_ASSERT_PTR_NULL(dynconf_parse(big, &err));
	CU_ASSERT_PTR_NOT_NULL(strstr(err.msg, "larger than"));
	free(big);
}

static char *dumps(const json_t *v) { return json_dumps(v, JSON_SORT_KEYS | JSON_COMPACT); }

static void test_merge(void)
{
	static const struct {
		const char *cur, *patch, *out;
	} rows[] = {
		{"{}", "{\"ttl\": 10}", "{\"ttl\":10}"},
		{"{\"ttl\": 10}", "{\"ttl\": null}", "{}"},
		{"{\"ttl\": 10}", "{\"loop_wait\": 1}", "{\"loop_wait\":1,\"ttl\":10}"},
		{"{\"postgresql\": {\"parameters\": {\"a\": \"1\", \"b\": \"2\"}}}",
		 "{\"postgresql\": {\"parameters\": {\"a\": null, \"c\": \"3\"}}}",
		 "{\"postgresql\":{\"parameters\":{\"b\":\"2\",\"c\":\"3\"}}}"},
		{"{\"postgresql\": {\"pg_hba\": [\"a\"]}}", "{\"postgresql\": {\"pg_hba\": [\"b\", \"c\"]}}",
		 "{\"postgresql\":{\"pg_hba\":[\"b\",\"c\"]}}"},
		{"{\"postgresql\": {\"parameters\": {\"a\": \"1\"}}}", "{\"postgresql\": null}", "{}"},
		{"null", "{\"ttl\": 5}", "{\"ttl\":5}"},
		{"{\"ttl\": 5}", "{}", "{\"ttl\":5}"},
	};
	for (unsigned i = 0; i < ROWS(rows); i++) {
		json_t *cur = json_loads(rows[i].cur, JSON_DECODE_ANY, NULL),
		       *patch = json_loads(rows[i].patch, 0, NULL);
		json_t *out = dynconf_merge(cur, patch);
		char *s = dumps(out);
		if (strcmp(s, rows[i].out) != 0)
			fprintf(stderr, "row %u: %s\n", i, s);
		CU_ASSERT_STRING_EQUAL(s, rows[i].out);
		free(s);
		json_decref(out);
		json_decref(cur);
		json_decref(patch);
	}
	json_t *arr = json_array();
	CU_ASSERT_PTR_NULL(dynconf_merge(NULL, arr));
	json_decref(arr);
}

/* Options as the agent has them: defaults, with the settings in named set by its file. */
static void defaults(options *o)
{
	memset(o, 0, sizeof *o);
	o->ttl = 3;
	o->loop_wait = 0.5;
	o->retry_timeout = 1.0;
	o->maximum_lag_on_failover = 1048576;
	o->synchronous_mode = false;
}

static void name_setting(options *o, const char *path)
{
	for (unsigned i = 0; i < options_table_len; i++)
		if (strcmp(options_table[i].path, path) == 0)
			o->named[i] = true;
}

static void test_overlay(void)
{
	options o;
	fl_err err = {0};
	defaults(&o);
	json_t *cfg =
		json_loads("{\"ttl\": 10, \"loop_wait\": 2, \"retry_timeout\": 3, \"maximum_lag_on_failover\": 0, "
			   "\"synchronous_mode\": true}",
			   0, NULL);
	CU_ASSERT_EQUAL(dynconf_overlay(cfg, &o, &err), 0);
	CU_ASSERT_EQUAL(o.ttl, 10);
	CU_ASSERT_DOUBLE_EQUAL(o.loop_wait, 2, 1e-9);
	CU_ASSERT_DOUBLE_EQUAL(o.retry_timeout, 3, 1e-9);
	CU_ASSERT_EQUAL(o.maximum_lag_on_failover, 0);
	CU_ASSERT_TRUE(o.synchronous_mode);
	json_decref(cfg);

	/* Keys removed: back to the defaults. */
	cfg = json_object();
	CU_ASSERT_EQUAL(dynconf_overlay(cfg, &o, &err), 0);
	CU_ASSERT_EQUAL(o.ttl, 3);
	CU_ASSERT_DOUBLE_EQUAL(o.loop_wait, 0.5, 1e-9);
	CU_ASSERT_FALSE(o.synchronous_mode);
	json_decref(cfg);

	/* A setting the node's file names stays the node's. */
	defaults(&o);
	o.ttl = 20;
	name_setting(&o, "ttl");
	cfg = json_loads("{\"ttl\": 10, \"loop_wait\": 2}", 0, NULL);
	CU_ASSERT_EQUAL(dynconf_overlay(cfg, &o, &err), 0);
	CU_ASSERT_EQUAL(o.ttl, 20);
	CU_ASSERT_DOUBLE_EQUAL(o.loop_wait, 2, 1e-9);
	const char *kept[4];
	CU_ASSERT_EQUAL(dynconf_overridden(cfg, &o, kept, 4), 1);
	CU_ASSERT_STRING_EQUAL(kept[0], "ttl");
	CU_ASSERT_EQUAL(dynconf_overridden(cfg, &o, kept, 0), 0);
	json_decref(cfg);

	/* Refused together, and nothing changes. */
	static const struct {
		const char *doc, *why;
	} bad[] = {
		{"{\"ttl\": 3, \"loop_wait\": 2}", "ttl = 3 must exceed loop_wait + 1 = 3 s"},
		{"{\"ttl\": 4, \"retry_timeout\": 3.5}", "retry_timeout = 3.5 must not exceed ttl - 1 = 3 s"},
		{"{\"ttl\": 1}", "outside the allowed range"},
	};
	for (unsigned i = 0; i < ROWS(bad); i++) {
		defaults(&o);
		cfg = json_loads(bad[i].doc, 0, NULL);
		CU_ASSERT_EQUAL(dynconf_overlay(cfg, &o, &err), -1);
		if (strstr(err.msg, bad[i].why) == NULL)
			fprintf(stderr, "bad row %u: %s\n", i, err.msg);
		CU_ASSERT_PTR_NOT_NULL(strstr(err.msg, bad[i].why));
		CU_ASSERT_EQUAL(o.ttl, 3);
		CU_ASSERT_DOUBLE_EQUAL(o.loop_wait, 0.5, 1e-9);
		json_decref(cfg);
	}
}

static void test_params(void)
{
	json_t *cfg = json_loads(
		"{\"postgresql\": {\"parameters\": {\"work_mem\": \"8MB\", \"jit\": false, "
		"\"fsync\": true, \"max_connections\": 200, \"random_page_cost\": 1.1, "
		"\"shared_buffers\": \"1GB\"}, \"pg_hba\": [\"host all all all trust\", \"local all all peer\"]}}",
		0, NULL);
	char *own[] = {"Shared_Buffers=256MB"};
	str_list skip = {1, own}, out = {0};
	dynconf_pg_params(cfg, &skip, &out);
	CU_ASSERT_EQUAL(out.n, 5);
	const char *want[] = {"work_mem=8MB", "jit=off", "fsync=on", "max_connections=200", "random_page_cost=1.1"};
	for (unsigned i = 0; i < ROWS(want); i++) {
		bool found = false;
		for (int k = 0; k < out.n; k++)
			found |= strcmp(out.v[k], want[i]) == 0;
		if (!found)
			fprintf(stderr, "missing %s\n", want[i]);
		CU_ASSERT(found);
	}
	const char *kept[4];
	CU_ASSERT_EQUAL(dynconf_params_kept(cfg, &skip, kept, 4), 1);
	CU_ASSERT_STRING_EQUAL(kept[0], "shared_buffers");
	CU_ASSERT_EQUAL(dynconf_params_kept(cfg, NULL, kept, 4), 0);
	dynconf_pg_params(cfg, NULL, &out);
	CU_ASSERT_EQUAL(out.n, 6);
	dynconf_params_free(&out);
	const char *lines[4];
	CU_ASSERT_EQUAL(dynconf_hba(cfg, lines, 4), 2);
	CU_ASSERT_STRING_EQUAL(lines[1], "local all all peer");
	CU_ASSERT_EQUAL(dynconf_hba(cfg, lines, 1), 1);
	json_decref(cfg);
	cfg = json_object();
	dynconf_pg_params(cfg, NULL, &out);
	CU_ASSERT_EQUAL(out.n, 0);
	CU_ASSERT_EQUAL(dynconf_hba(cfg, lines, 4), 0);
	json_decref(cfg);
	CU_ASSERT_TRUE(dynconf_managed_param("LISTEN_ADDRESSES"));
	CU_ASSERT_FALSE(dynconf_managed_param("work_mem"));
}

static char *printed(const json_t *a, const json_t *b, int *changes)
{
	char *buf = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&buf, &len);
	if (b == NULL)
		dynconf_print(a, f);
	else
		*changes = dynconf_diff(a, b, f);
	fclose(f);
	return buf;
}

static void test_print_and_diff(void)
{
	json_t *a =
		json_loads("{\"ttl\": 3, \"postgresql\": {\"parameters\": {\"work_mem\": \"8MB\", \"search_path\": "
			   "\"\\\"$user\\\", public\", \"jit\": false, \"x.y\": \"on\"}, \"pg_hba\": [\"host all all "
			   "all md5\"]}, \"loop_wait\": 0.5, \"synchronous_mode\": true}",
			   0, NULL);
	int changes = 0;
	char *s = printed(a, NULL, &changes);
	CU_ASSERT_STRING_EQUAL(s, "loop_wait: 0.5\n"
				  "postgresql:\n"
				  "  parameters:\n"
				  "    jit: false\n"
				  "    search_path: \"\\\"$user\\\", public\"\n"
				  "    work_mem: \"8MB\"\n"
				  "    x.y: \"on\"\n"
				  "  pg_hba:\n"
				  "    - \"host all all all md5\"\n"
				  "synchronous_mode: true\n"
				  "ttl: 3\n");
	free(s);
	json_t *b =
		json_loads("{\"ttl\": 10, \"postgresql\": {\"parameters\": {\"work_mem\": \"8MB\", \"search_path\": "
			   "\"public\", \"shared_buffers\": \"1GB\"}, \"pg_hba\": [\"host all all all md5\"]}, "
			   "\"loop_wait\": 0.5, \"synchronous_mode\": true}",
			   0, NULL);
	s = printed(a, b, &changes);
	CU_ASSERT_EQUAL(changes, 5);
	CU_ASSERT_STRING_EQUAL(s, "-postgresql.parameters.jit: false\n"
				  "-postgresql.parameters.search_path: \"\\\"$user\\\", public\"\n"
				  "+postgresql.parameters.search_path: \"public\"\n"
				  "+postgresql.parameters.shared_buffers: \"1GB\"\n"
				  "-postgresql.parameters.x.y: \"on\"\n"
				  "-ttl: 3\n"
				  "+ttl: 10\n");
	free(s);
	s = printed(a, a, &changes);
	CU_ASSERT_EQUAL(changes, 0);
	CU_ASSERT_STRING_EQUAL(s, "");
	free(s);
	json_decref(a);
	json_decref(b);
}

void suite_register(void)
{
	CU_pSuite s = CU_add_suite("dynconf", NULL, NULL);
	CU_add_test(s, "documents checked", test_check);
	CU_add_test(s, "merge patch", test_merge);
	CU_add_test(s, "overlay onto the options", test_overlay);
	CU_add_test(s, "parameters and pg_hba", test_params);
	CU_add_test(s, "yaml and diff", test_print_and_diff);
}
