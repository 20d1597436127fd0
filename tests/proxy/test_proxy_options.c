/*
 * test_proxy_options: the proxy agent's settings. A minimal file (scope and
 * haproxy.sockets) gets the table's defaults and the plan settings they
 * give; every validation error names the setting and the value seen; the
 * environment overrides the file; a reload takes only the settings the
 * table marks reloadable. The table itself is checked for what
 * --help and the docs need: a doc line and a FLOTILLA_ environment name.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cunit_main.h"
#include "proxy-agent/proxy_options.h"

#define MINIMAL "scope = \"demo\";\nhaproxy = { sockets = [\"/run/haproxy/admin.sock\"]; };\n"

static char path[64];

/* Loads `text` as the whole file, with none of the table's environment variables set. */
static int load(const char *text, proxy_options *o, fl_err *err)
{
	for (unsigned i = 0; i < proxy_options_table_len; i++)
		if (proxy_options_table[i].env)
			unsetenv(proxy_options_table[i].env);
	snprintf(path, sizeof path, "/tmp/test_proxy_options_%d.conf", (int)getpid());
	FILE *f = fopen(path, "w");
	fputs(text, f);
	fclose(f);
	memset(err, 0, sizeof *err);
	int rc = proxy_options_load(o, path, err);
	unlink(path);
	return rc;
}

static void test_minimal_file_gets_the_defaults(void)
{
	proxy_options o;
	fl_err err;
	CU_ASSERT_EQUAL_FATAL(load(MINIMAL, &o, &err), 0);
	CU_ASSERT_STRING_EQUAL(o.name, "proxy-agent");
	CU_ASSERT_STRING_EQUAL(o.scope, "demo");
	CU_ASSERT_EQUAL_FATAL(o.etcd_endpoints.n, 1);
	CU_ASSERT_STRING_EQUAL(o.etcd_endpoints.v[0], "http://127.0.0.1:2379");
	CU_ASSERT_STRING_EQUAL(o.etcd_prefix, "/flotilla");
	CU_ASSERT_DOUBLE_EQUAL(o.retry_timeout, 1.0, 1e-9);
	CU_ASSERT_DOUBLE_EQUAL(o.poll_interval, 0.1, 1e-9);
	CU_ASSERT_DOUBLE_EQUAL(o.reconcile_interval, 2.0, 1e-9);
	CU_ASSERT_EQUAL_FATAL(o.haproxy_sockets.n, 1);
	CU_ASSERT_STRING_EQUAL(o.haproxy_sockets.v[0], "/run/haproxy/admin.sock");
	CU_ASSERT_DOUBLE_EQUAL(o.haproxy_timeout, 1.0, 1e-9);
	CU_ASSERT_STRING_EQUAL(o.agent_check_listen, "127.0.0.1:5480");
	CU_ASSERT_EQUAL(o.max_lag, 16777216);
	CU_ASSERT_EQUAL(o.full_weight_lag, 1048576);
	CU_ASSERT_EQUAL(o.min_weight, 10);
	CU_ASSERT_STRING_EQUAL(o.primary_in_ro, "fallback");
	CU_ASSERT_STRING_EQUAL(o.log_level, "info");
	plan_config c = proxy_options_plan(&o);
	CU_ASSERT_EQUAL(c.max_lag, 16777216);
	CU_ASSERT_EQUAL(c.full_weight_lag, 1048576);
	CU_ASSERT_EQUAL(c.min_weight, 10);
	CU_ASSERT_EQUAL(c.primary_in_ro, PRIMARY_IN_RO_FALLBACK);
	proxy_options_free(&o);
	proxy_options_free(&o); /* freeing twice is harmless */
}

static void test_file_values_reach_the_plan(void)
{
	proxy_options o;
	fl_err err;
	CU_ASSERT_EQUAL_FATAL(
		load("scope = \"demo\";\n"
		     "haproxy = { sockets = [\"/run/a.sock\", \"10.0.0.5:9999\"]; timeout = 0.5; };\n"
		     "agent_check = { listen = \"[::1]:5481\"; };\n"
		     "ro = { max_lag = 2000; full_weight_lag = 2000; min_weight = 1; primary_in_ro = \"never\"; };\n"
		     "log_level = \"debug\";\n",
		     &o, &err),
		0);
	CU_ASSERT_EQUAL(o.haproxy_sockets.n, 2);
	CU_ASSERT_STRING_EQUAL(o.agent_check_listen, "[::1]:5481");
	plan_config c = proxy_options_plan(&o);
	CU_ASSERT_EQUAL(c.max_lag, 2000);
	CU_ASSERT_EQUAL(c.full_weight_lag, 2000);
	CU_ASSERT_EQUAL(c.min_weight, 1);
	CU_ASSERT_EQUAL(c.primary_in_ro, PRIMARY_IN_RO_NEVER);
	proxy_options_free(&o);
}

static void test_environment_overrides_the_file(void)
{
	proxy_options o;
	fl_err err;
	for (unsigned i = 0; i < proxy_options_table_len; i++)
		if (proxy_options_table[i].env)
			unsetenv(proxy_options_table[i].env);
	snprintf(path, sizeof path, "/tmp/test_proxy_options_%d.conf", (int)getpid());
	FILE *f = fopen(path, "w");
	fputs(MINIMAL, f);
	fclose(f);
	setenv("FLOTILLA_PRIMARY_IN_RO", "always", 1);
	setenv("FLOTILLA_HAPROXY_SOCKETS", "/a.sock,/b.sock", 1);
	int rc = proxy_options_load(&o, path, &err);
	CU_ASSERT_EQUAL_FATAL(rc, 0);
	CU_ASSERT_EQUAL(proxy_options_plan(&o).primary_in_ro, PRIMARY_IN_RO_ALWAYS);
	CU_ASSERT_EQUAL(o.haproxy_sockets.n, 2);
	proxy_options_free(&o);
	setenv("FLOTILLA_PRIMARY_IN_RO", "sometimes", 1);
	CU_ASSERT_EQUAL(proxy_options_load(&o, path, &err), -1);
	CU_ASSERT_PTR_NOT_NULL(strstr(err.msg, "ro.primary_in_ro = \"sometimes\""));
	proxy_options_free(&o);
	unsetenv("FLOTILLA_PRIMARY_IN_RO");
	unsetenv("FLOTILLA_HAPROXY_SOCKETS");
	unlink(path);
}

#define SOCKETS "haproxy = { sockets = [\"/run/haproxy/admin.sock\"]; };\n"

/* clang-format off */
static const struct {
	const char *text;
	const char *expect; /* substring of the error, naming the setting */
} bad[] = {
	{"scope = \"demo\";\n", "required setting \"haproxy.sockets\""},
	{"scope = \"demo\";\nhaproxy = { sockets = []; };\n", "haproxy.sockets"},
	{"scope = \"demo\";\nhaproxy = { sockets = [\"haproxy.sock\"]; };\n",
	 "haproxy.sockets item \"haproxy.sock\" is neither an absolute path nor host:port"},
	{"scope = \"demo\";\nhaproxy = { sockets = [\"/ok.sock\", \"run/haproxy.sock\"]; };\n",
	 "haproxy.sockets item \"run/haproxy.sock\""},
	{"scope = \"demo\";\n" SOCKETS "agent_check = { listen = \"localhost\"; };\n",
	 "agent_check.listen = \"localhost\" is not host:port"},
	{"scope = \"demo\";\n" SOCKETS "agent_check = { listen = \":5480\"; };\n", "agent_check.listen = \":5480\""},
	{"scope = \"demo\";\n" SOCKETS "agent_check = { listen = \"127.0.0.1:\"; };\n", "agent_check.listen"},
	{"scope = \"demo\";\n" SOCKETS "agent_check = { listen = \"127.0.0.1:0\"; };\n", "agent_check.listen"},
	{"scope = \"demo\";\n" SOCKETS "agent_check = { listen = \"127.0.0.1:65536\"; };\n", "agent_check.listen"},
	{"scope = \"demo\";\n" SOCKETS "agent_check = { listen = \"127.0.0.1:54x\"; };\n", "agent_check.listen"},
	{"scope = \"demo\";\n" SOCKETS "ro = { max_lag = 1000; full_weight_lag = 1001; };\n",
	 "ro.full_weight_lag = 1001 exceeds ro.max_lag = 1000"},
	{"scope = \"demo\";\n" SOCKETS "ro = { min_weight = 0; };\n", "ro.min_weight = 0 is outside"},
	{"scope = \"demo\";\nhaproxy = { sockets = [\"/a.sock\", \"/b.sock\"]; state_files = [\"/a.state\"]; };\n",
	 "haproxy.state_files has 1 items, haproxy.sockets 2"},
	{"scope = \"demo\";\nhaproxy = { sockets = [\"/a.sock\"]; state_files = [\"a.state\"]; };\n",
	 "haproxy.state_files item \"a.state\" is not an absolute path"},
	{"scope = \"demo\";\n" SOCKETS "ro = { lag_grace = -1.0; };\n", "ro.lag_grace"},
	{"scope = \"demo\";\n" SOCKETS "ro = { primary_in_ro = \"sometimes\"; };\n",
	 "ro.primary_in_ro = \"sometimes\" is not one of fallback, always, never"},
	{"scope = \"demo\";\n" SOCKETS "log_level = \"loud\";\n", "log_level = \"loud\" is not one of"},
	{"scope = \"demo\";\n" SOCKETS "etcd = { endpoints = [\"ftp://10.0.0.1:2379\"]; };\n",
	 "etcd.endpoints item \"ftp://10.0.0.1:2379\" must start with http:// or https://"},
	{"scope = \"demo\";\n" SOCKETS "etcd = { endpoints = []; };\n", "etcd.endpoints is empty"},
	{"scope = \"demo/x\";\n" SOCKETS, "scope = \"demo/x\" is not a cluster name"},
	{"scope = \"\";\n" SOCKETS, "scope = \"\" is not a cluster name"},
	{SOCKETS, "required setting \"scope\""},
	{"scope = \"demo\";\n" SOCKETS "haproxy_sockets = 1;\n", "unknown setting \"haproxy_sockets\""},
};
/* clang-format on */

static void test_each_invalid_setting_is_named(void)
{
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		proxy_options o;
		fl_err err;
		int rc = load(bad[i].text, &o, &err);
		if (rc != -1 || strstr(err.msg, bad[i].expect) == NULL)
			fprintf(stderr, "\n  case %zu: rc %d \"%s\" lacks \"%s\"", i, rc, err.msg, bad[i].expect);
		CU_ASSERT_EQUAL(rc, -1);
		CU_ASSERT_EQUAL(err.code, FL_ERR_CONFIG);
		CU_ASSERT_PTR_NOT_NULL(strstr(err.msg, bad[i].expect));
		proxy_options_free(&o);
	}
}

static void test_reload_takes_only_the_reloadable_settings(void)
{
	proxy_options cur, next;
	fl_err err;
	CU_ASSERT_EQUAL_FATAL(load(MINIMAL, &cur, &err), 0);
	CU_ASSERT_EQUAL_FATAL(
		load("name = \"other\";\nscope = \"other\";\n"
		     "etcd = { endpoints = [\"http://10.0.0.9:2379\"]; prefix = \"/p\"; };\n"
		     "haproxy = { sockets = [\"/b.sock\", \"/c.sock\"]; timeout = 0.25; };\n"
		     "agent_check = { listen = \"0.0.0.0:6000\"; };\n"
		     "poll_interval = 0.5;\nretry_timeout = 2.0;\nreconcile_interval = 7.0;\n"
		     "ro = { max_lag = 5000; full_weight_lag = 50; min_weight = 20; primary_in_ro = \"always\"; };\n"
		     "log_level = \"debug\";\n",
		     &next, &err),
		0);
	proxy_options_apply_reloadable(&cur, &next);
	/* Taken: timings, the ro weights and modes, the log level. */
	CU_ASSERT_DOUBLE_EQUAL(cur.poll_interval, 0.5, 1e-9);
	CU_ASSERT_DOUBLE_EQUAL(cur.retry_timeout, 2.0, 1e-9);
	CU_ASSERT_DOUBLE_EQUAL(cur.reconcile_interval, 7.0, 1e-9);
	CU_ASSERT_DOUBLE_EQUAL(cur.haproxy_timeout, 0.25, 1e-9);
	CU_ASSERT_EQUAL(cur.max_lag, 5000);
	CU_ASSERT_EQUAL(cur.full_weight_lag, 50);
	CU_ASSERT_EQUAL(cur.min_weight, 20);
	CU_ASSERT_STRING_EQUAL(cur.primary_in_ro, "always");
	CU_ASSERT_STRING_EQUAL(cur.log_level, "debug");
	/* Taken as in the replicator (the shared rows): etcd's endpoints, which the agent reconnects to. */
	CU_ASSERT_STRING_EQUAL(cur.etcd_endpoints.v[0], "http://10.0.0.9:2379");
	/* Kept: what identifies the agent, where it listens and which HAProxies it talks to. */
	CU_ASSERT_STRING_EQUAL(cur.name, "proxy-agent");
	CU_ASSERT_STRING_EQUAL(cur.scope, "demo");
	CU_ASSERT_STRING_EQUAL(cur.etcd_prefix, "/flotilla");
	CU_ASSERT_EQUAL(cur.haproxy_sockets.n, 1);
	CU_ASSERT_STRING_EQUAL(cur.agent_check_listen, "127.0.0.1:5480");
	/* next holds cur's old strings, so that freeing both releases everything once. */
	CU_ASSERT_STRING_EQUAL(next.primary_in_ro, "fallback");
	CU_ASSERT_STRING_EQUAL(next.log_level, "info");
	CU_ASSERT_STRING_EQUAL(next.scope, "other");
	proxy_options_free(&next);
	proxy_options_free(&cur);
}

static void test_every_option_is_documented_with_an_environment_name(void)
{
	for (unsigned i = 0; i < proxy_options_table_len; i++) {
		const opt_def *d = &proxy_options_table[i];
		CU_ASSERT_PTR_NOT_NULL(d->doc);
		CU_ASSERT(d->doc != NULL && d->doc[0] != '\0');
		CU_ASSERT(d->env != NULL && strncmp(d->env, "FLOTILLA_", 9) == 0);
		for (unsigned j = 0; j < i; j++)
			CU_ASSERT(strcmp(d->path, proxy_options_table[j].path) != 0);
	}
}

void suite_register(void)
{
	CU_pSuite s = CU_add_suite("proxy_options", NULL, NULL);
	CU_add_test(s, "minimal file gets the defaults", test_minimal_file_gets_the_defaults);
	CU_add_test(s, "file values reach the plan", test_file_values_reach_the_plan);
	CU_add_test(s, "environment overrides the file", test_environment_overrides_the_file);
	CU_add_test(s, "each invalid setting is named", test_each_invalid_setting_is_named);
	CU_add_test(s, "reload takes only the reloadable settings", test_reload_takes_only_the_reloadable_settings);
	CU_add_test(s, "every option is documented with an environment name",
		    test_every_option_is_documented_with_an_environment_name);
}
