/*
 * test_options: the replicator's settings: the documented sample is valid,
 * and cross-setting rules reject combinations that would break fencing.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cunit_main.h"
#include "cluster/options.h"

static char path[64];

/* Writes a minimal valid file plus `extra` and reads it with `reader` (options_load or options_read). */
static int read_with(int (*reader)(options *, const char *, fl_err *), const char *extra, options *o, fl_err *err)
{
	snprintf(path, sizeof path, "/tmp/test_options_%d.conf", (int)getpid());
	FILE *f = fopen(path, "w");
	fprintf(f,
		"scope = \"demo\";\n%sdata_dir = \"/tmp/x\";\nstate_dir = \"/tmp/y\";\n"
		"secrets = { superuser_password_file = \"/s\"; replication_password_file = \"/r\"; };\n%s",
		strncmp(extra, "name =", 6) == 0 ? "" : "name = \"n1\";\n", extra);
	fclose(f);
	memset(err, 0, sizeof *err);
	int rc = reader(o, path, err);
	unlink(path);
	return rc;
}

static int load(const char *extra, options *o, fl_err *err) { return read_with(options_load, extra, o, err); }

static void test_minimal_config_gets_fast_failover_defaults(void)
{
	options o;
	fl_err err;
	CU_ASSERT_EQUAL_FATAL(load("", &o, &err), 0);
	CU_ASSERT_EQUAL(o.ttl, 3);
	CU_ASSERT_DOUBLE_EQUAL(o.loop_wait, 0.5, 1e-9);
	CU_ASSERT_STRING_EQUAL(o.connect_address, "127.0.0.1:5432");
	CU_ASSERT_EQUAL(o.etcd_endpoints.n, 1);
	options_free(&o);
}

/* named: what the file and the environment set, for the dynamic configuration to leave alone. */
static const opt_def *row(const char *p)
{
	for (unsigned i = 0; i < options_table_len; i++)
		if (strcmp(options_table[i].path, p) == 0)
			return &options_table[i];
	return NULL;
}

static bool named(const options *o, const char *p) { return o->named[row(p) - options_table]; }

static void test_named_settings(void)
{
	options o;
	fl_err err;
	setenv("FLOTILLA_LOOP_WAIT", "0.7", 1);
	setenv("FLOTILLA_SYNCHRONOUS_MODE", "", 1); /* compose's ${VAR:-}: as if unset */
	CU_ASSERT_EQUAL_FATAL(load("ttl = 5;\n", &o, &err), 0);
	unsetenv("FLOTILLA_LOOP_WAIT");
	unsetenv("FLOTILLA_SYNCHRONOUS_MODE");
	CU_ASSERT_TRUE(named(&o, "ttl"));
	CU_ASSERT_TRUE(named(&o, "loop_wait"));
	CU_ASSERT_DOUBLE_EQUAL(o.loop_wait, 0.7, 1e-9);
	CU_ASSERT_FALSE(named(&o, "synchronous_mode"));
	CU_ASSERT_FALSE(o.synchronous_mode);
	CU_ASSERT_FALSE(named(&o, "retry_timeout"));
	CU_ASSERT_TRUE(named(&o, "scope"));
	options_free(&o);
}

static const struct {
	const char *extra;
	fl_code code;
	const char *expect;
} bad[] = {
	{"ttl = 1;\n", FL_ERR_CONFIG, "ttl = 1 is outside"},
	{"ttl = 2;\nloop_wait = 1.5;\n", FL_ERR_CONFIG, "must exceed loop_wait + 1"},
	{"retry_timeout = 5.0;\n", FL_ERR_CONFIG, "retry_timeout = 5"},
	{"listen = \"nohost\";\n", FL_ERR_CONFIG, "listen = \"nohost\" is not host:port"},
	{"listen = \"h:99999\";\n", FL_ERR_CONFIG, "is not host:port"},
	{"name = \"N 1\";\n", FL_ERR_CONFIG, "may hold only"},
	{"etcd = { endpoints = [\"ftp://x:1\"]; };\n", FL_ERR_CONFIG, "must start with http:// or https://"},
	{"log_level = \"loud\";\n", FL_ERR_CONFIG, "log_level"},
	{"bin_dir = \"/nonexistent/bin\";\n", FL_ERR_BINDIR, "/nonexistent/bin/postgres"},
	{"postgresql = { parameters = [\"work_mem\"]; };\n", FL_ERR_CONFIG, "not name=value"},
	{"bootstrap = { restore_target = \"0/3000060\"; };\n", FL_ERR_CONFIG, "without bootstrap.restore_repo"},
	{"bootstrap = { restore_repo = \"repo\"; };\n", FL_ERR_CONFIG, "restore_repo = \"repo\" is not an absolute"},
	{"bootstrap = { restore_repo = \"/a b\"; };\n", FL_ERR_CONFIG, "free of quotes, spaces"},
	{"bootstrap = { restore_repo = \"/r\"; restore_target = \"2026-12-06 10:00\"; };\n", FL_ERR_CONFIG,
	 "has no time zone"},
	{"bootstrap = { restore_repo = \"/r\"; restore_target = \"yesterday\"; };\n", FL_ERR_CONFIG,
	 "is neither a time"},
	{"bootstrap = { restore_repo = \"/r\"; restore_target = \"0/30000G0\"; };\n", FL_ERR_CONFIG,
	 "is neither a time"},
};

/* A restore target is the end of the archive, a zoned time or an LSN. */
static void test_restore_targets_accepted(void)
{
	static const char *const targets[] = {"", "0/3000060", "1A/FF000028", "2026-12-06T10:00:00Z",
					      "2026-12-06 10:00:00.5+01:00"};
	for (unsigned i = 0; i < sizeof targets / sizeof targets[0]; i++) {
		char extra[256];
		snprintf(extra, sizeof extra, "bootstrap = { restore_repo = \"/r\"; restore_target = \"%s\"; };\n",
			 targets[i]);
		options o;
		fl_err err;
		CU_ASSERT_EQUAL(load(extra, &o, &err), 0);
		if (err.msg[0])
			fprintf(stderr, "target \"%s\": %s\n", targets[i], err.msg);
		CU_ASSERT_STRING_EQUAL(o.restore_repo, "/r");
		CU_ASSERT_DOUBLE_EQUAL(o.restore_timeout, 86400, 1e-9);
		options_free(&o);
	}
}

static void test_invalid_combinations_are_rejected_by_name(void)
{
	for (unsigned i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		options o;
		fl_err err;
		CU_ASSERT_EQUAL(load(bad[i].extra, &o, &err), -1);
		CU_ASSERT_EQUAL(err.code, bad[i].code);
		if (strstr(err.msg, bad[i].expect) == NULL)
			fprintf(stderr, "case %u: \"%s\" lacks \"%s\"\n", i, err.msg, bad[i].expect);
		CU_ASSERT_PTR_NOT_NULL(strstr(err.msg, bad[i].expect));
		options_free(&o);
	}
}

static void test_reload_moves_only_reloadable_settings(void)
{
	options cur, next;
	fl_err err;
	CU_ASSERT_EQUAL_FATAL(load("", &cur, &err), 0);
	CU_ASSERT_EQUAL_FATAL(load("loop_wait = 1.0;\nttl = 10;\nlisten = \"127.0.0.1:6000\";\netcd = { endpoints = "
				   "[\"http://h:1\"]; };\n",
				   &next, &err),
			      0);
	options_apply_reloadable(&cur, &next);
	CU_ASSERT_DOUBLE_EQUAL(cur.loop_wait, 1.0, 1e-9);
	CU_ASSERT_STRING_EQUAL(cur.etcd_endpoints.v[0], "http://h:1");
	CU_ASSERT_EQUAL(cur.ttl, 10);
	CU_ASSERT_STRING_EQUAL(cur.listen, "127.0.0.1:5432"); /* does not reload */
	options_free(&cur);
	options_free(&next);
}

static void test_read_checks_the_settings_but_not_the_machine(void)
{
	options o;
	fl_err err;
	CU_ASSERT_EQUAL(read_with(options_read, "bin_dir = \"/nonexistent/bin\";\n", &o, &err), 0);
	CU_ASSERT_STRING_EQUAL(o.scope, "demo");
	options_free(&o);
	CU_ASSERT_EQUAL(read_with(options_read, "ttl = 1;\n", &o, &err), -1);
	CU_ASSERT_EQUAL(err.code, FL_ERR_CONFIG);
	CU_ASSERT_PTR_NOT_NULL(strstr(err.msg, "ttl = 1 is outside"));
	options_free(&o);
}

/* ttl reloads with loop_wait and retry_timeout (a file is checked whole when loaded), except beside a watchdog. */
static void test_reload_takes_a_new_ttl_unless_a_watchdog_runs(void)
{
	static const struct {
		const char *extra;
		const char *why; /* NULL: accepted */
	} rows[] = {
		{"loop_wait = 1.0;\n", NULL},
		{"ttl = 10;\nloop_wait = 5.0;\n", NULL},
		{"ttl = 10;\nretry_timeout = 4.0;\n", NULL},
		{"retry_timeout = 2.0;\n", NULL},
		{"watchdog = { mode = \"automatic\"; };\n", NULL},
		{"ttl = 10;\nwatchdog = { mode = \"automatic\"; };\n", NULL},
	};
	options cur;
	fl_err err = {0};
	CU_ASSERT_EQUAL_FATAL(load("", &cur, &err), 0);
	for (unsigned i = 0; i < sizeof rows / sizeof rows[0]; i++) {
		options next;
		fl_err e = {0};
		CU_ASSERT_EQUAL_FATAL(load(rows[i].extra, &next, &e), 0);
		int rc = options_check_reload(&cur, &next, &e);
		CU_ASSERT_EQUAL(rc, rows[i].why ? -1 : 0);
		if (rows[i].why) {
			if (strstr(e.msg, rows[i].why) == NULL)
				printf("\n  %s: %s", rows[i].extra, e.msg);
			CU_ASSERT_PTR_NOT_NULL(strstr(e.msg, rows[i].why));
		}
		options_free(&next);
	}
	options_free(&cur);
	/* A running watchdog: its timeout came from the ttl at start. */
	CU_ASSERT_EQUAL_FATAL(load("watchdog = { mode = \"automatic\"; };\n", &cur, &err), 0);
	options next;
	CU_ASSERT_EQUAL_FATAL(load("ttl = 10;\n", &next, &err), 0);
	CU_ASSERT_EQUAL(options_check_reload(&cur, &next, &err), -1);
	CU_ASSERT_PTR_NOT_NULL(strstr(err.msg, "watchdog.mode is automatic"));
	options_free(&next);
	CU_ASSERT_EQUAL_FATAL(load("loop_wait = 1.0;\n", &next, &err), 0);
	CU_ASSERT_EQUAL(options_check_reload(&cur, &next, &err), 0);
	options_free(&next);
	options_free(&cur);
	/* What is wrong in the file itself is refused when it is loaded. */
	CU_ASSERT_EQUAL(load("ttl = 3;\nloop_wait = 2.5;\n", &next, &err), -1);
	CU_ASSERT_PTR_NOT_NULL(strstr(err.msg, "ttl = 3 must exceed loop_wait + 1"));
	options_free(&next);
}

void suite_register(void)
{
	CU_pSuite s = CU_add_suite("options", NULL, NULL);
	CU_add_test(s, "minimal config gets fast-failover defaults", test_minimal_config_gets_fast_failover_defaults);
	CU_add_test(s, "named settings, an empty environment value unset", test_named_settings);
	CU_add_test(s, "invalid combinations are rejected by name", test_invalid_combinations_are_rejected_by_name);
	CU_add_test(s, "restore targets accepted", test_restore_targets_accepted);
	CU_add_test(s, "reload moves only reloadable settings", test_reload_moves_only_reloadable_settings);
	CU_add_test(s, "reload takes a new ttl unless a watchdog runs",
		    test_reload_takes_a_new_ttl_unless_a_watchdog_runs);
	CU_add_test(s, "read checks the settings but not the machine",
		    test_read_checks_the_settings_but_not_the_machine);
}
