/*
 * test_pg: the parsers of pg/, one row per output PostgreSQL 15's programs
 * print (pg_controldata's cluster states, pg_basebackup's progress lines)
 * and per malformed line; the bounds of a wait on PostgreSQL.
 */
#include <stdio.h>
#include <string.h>

#include "cunit_main.h"
#include "pg/basebackup.h"
#include "pg/controldata.h"
#include "pg/deadline.h"
#include "pg/passfile.h"

#include <limits.h>
#include <stdlib.h>
#include <unistd.h>
#include <sys/stat.h>

static const char controldata_template[] = "pg_control version number:            1300\n"
					   "Database cluster state:               %s\n"
					   "Latest checkpoint location:           0/3000060\n"
					   "Latest checkpoint's REDO location:    0/3000028\n"
					   "Latest checkpoint's TimeLineID:       %d\n";

static void test_controldata_states(void)
{
	static const struct {
		const char *state;
		bool was_primary;
	} rows[] = {
		{"in production", true},        {"shut down", true},          {"shut down in recovery", false},
		{"in archive recovery", false}, {"in crash recovery", false}, {"shutting down", false},
	};
	for (unsigned i = 0; i < sizeof rows / sizeof rows[0]; i++) {
		char text[1024];
		snprintf(text, sizeof text, controldata_template, rows[i].state, (int)i + 1);
		controldata c;
		CU_ASSERT_EQUAL(controldata_parse(text, &c, NULL), 0);
		CU_ASSERT_EQUAL(c.was_primary, rows[i].was_primary);
		CU_ASSERT_EQUAL(c.timeline, (long)i + 1);
		CU_ASSERT_EQUAL(c.checkpoint, 0x3000060);
	}
}

static void test_controldata_without_a_state_is_an_error(void)
{
	controldata c;
	fl_err err = {0};
	CU_ASSERT_EQUAL(controldata_parse("pg_control version number: 1300\n", &c, &err), -1);
	CU_ASSERT_EQUAL(err.code, FL_ERR_POSTGRES);
	CU_ASSERT_PTR_NOT_NULL(strstr(err.msg, "no cluster state"));
	CU_ASSERT_EQUAL(controldata_parse("", &c, NULL), -1);
	/* A line that only starts like the field is not the field. */
	CU_ASSERT_EQUAL(controldata_parse("Database cluster state machine: x\n", &c, NULL), -1);
	CU_ASSERT_EQUAL(controldata_parse("Database cluster state: in production\n", &c, NULL), 0);
	CU_ASSERT_EQUAL(c.timeline, 0);
	CU_ASSERT_EQUAL(c.checkpoint, 0);
}

static void test_basebackup_progress_lines(void)
{
	static const struct {
		const char *line;
		bool ok;
		int64_t done, total;
	} rows[] = {
		{"    0/22985 kB (0%), 0/1 tablespace", true, 0, 22985 * 1024LL},
		{"20716/22985 kB (90%), 0/1 tablespace (...data/base/5/1249)", true, 20716 * 1024LL, 22985 * 1024LL},
		{"22995/22995 kB (100%), 1/1 tablespace", true, 22995 * 1024LL, 22995 * 1024LL},
		{"pg_basebackup: initiating base backup, waiting for checkpoint to complete", false, 0, 0},
		{"12/34 MB (1%)", false, 0, 0},
		{"12/", false, 0, 0},
		{"-5/10 kB", false, 0, 0},
		{"99999999999999999/1 kB", false, 0, 0},
		{"", false, 0, 0},
	};
	for (unsigned i = 0; i < sizeof rows / sizeof rows[0]; i++) {
		int64_t done = -1, total = -1;
		CU_ASSERT_EQUAL(basebackup_progress(rows[i].line, &done, &total), rows[i].ok);
		if (rows[i].ok) {
			CU_ASSERT_EQUAL(done, rows[i].done);
			CU_ASSERT_EQUAL(total, rows[i].total);
		}
	}
}

static void test_passfile_lines_escape_colons_and_backslashes(void)
{
	static const struct {
		const char *user, *password, *line;
	} rows[] = {
		{"postgres", "s3cret", "*:*:*:postgres:s3cret\n"},
		{"postgres", "a:b", "*:*:*:postgres:a\\:b\n"},
		{"postgres", "back\\slash", "*:*:*:postgres:back\\\\slash\n"},
		{"odd:user", "x", "*:*:*:odd\\:user:x\n"},
		{"postgres", "", "*:*:*:postgres:\n"},
	};
	for (unsigned i = 0; i < sizeof rows / sizeof rows[0]; i++) {
		char line[128];
		CU_ASSERT_EQUAL(passfile_line("*", "*", "*", rows[i].user, rows[i].password, line, sizeof line), 0);
		CU_ASSERT_STRING_EQUAL(line, rows[i].line);
	}
	char line[128], tiny[8];
	CU_ASSERT_EQUAL(passfile_line("127.0.0.1", "5432", "*", "postgres", "pw", line, sizeof line), 0);
	CU_ASSERT_STRING_EQUAL(line, "127.0.0.1:5432:*:postgres:pw\n");
	CU_ASSERT_EQUAL(passfile_line("*", "*", "*", "postgres", "two\nlines", line, sizeof line), -1);
	CU_ASSERT_EQUAL(passfile_line("*", "*", "*", "postgres", "cr\r", line, sizeof line), -1);
	CU_ASSERT_EQUAL(passfile_line("*", "*", "*", "postgres", "long", tiny, sizeof tiny), -1);
}

static void test_passfile_is_written_whole_and_private(void)
{
	char dir[] = "/tmp/flotilla-test-passfile-XXXXXX";
	CU_ASSERT_PTR_NOT_NULL_FATAL(mkdtemp(dir));
	char path[256];
	snprintf(path, sizeof path, "%s/pgpass", dir);
	const char *lines[] = {"*:*:*:a:1\n", "*:*:*:b:2\n"};
	fl_err err = {0};
	CU_ASSERT_EQUAL(passfile_write(path, lines, 2, &err), 0);
	struct stat st;
	CU_ASSERT_EQUAL(stat(path, &st), 0);
	CU_ASSERT_EQUAL(st.st_mode & 0777, 0600);
	char buf[64] = "";
	FILE *f = fopen(path, "r");
	CU_ASSERT_PTR_NOT_NULL_FATAL(f);
	size_t n = fread(buf, 1, sizeof buf - 1, f);
	fclose(f);
	buf[n] = '\0';
	CU_ASSERT_STRING_EQUAL(buf, "*:*:*:a:1\n*:*:*:b:2\n");
	char bad[300];
	snprintf(bad, sizeof bad, "%s/no-such-dir/pgpass", dir);
	CU_ASSERT_EQUAL(passfile_write(bad, lines, 2, &err), -1);
	CU_ASSERT_EQUAL(err.code, FL_ERR_IO);
	unlink(path);
	rmdir(dir);
}

static void test_wait_without_a_deadline_is_the_timeout(void)
{
	CU_ASSERT_DOUBLE_EQUAL(pg_wait_until(100.0, 0, 11.0), 111.0, 1e-9);
	CU_ASSERT_FALSE(pg_wait_cut(100.0, 0, 11.0));
	/* A deadline beyond the timeout changes nothing. */
	CU_ASSERT_DOUBLE_EQUAL(pg_wait_until(100.0, 120.0, 11.0), 111.0, 1e-9);
	CU_ASSERT_FALSE(pg_wait_cut(100.0, 120.0, 11.0));
	CU_ASSERT_FALSE(pg_wait_cut(100.0, 111.0, 11.0));
}

static void test_wait_ends_by_the_deadline_with_a_floor(void)
{
	/* A leader's checkpoint 0.3 s before its deadline waits 0.3 s, not statement_timeout. */
	CU_ASSERT_DOUBLE_EQUAL(pg_wait_until(100.0, 100.3, 11.0), 100.3, 1e-9);
	CU_ASSERT_TRUE(pg_wait_cut(100.0, 100.3, 11.0));
	/* At or past the deadline: a short answer still, PG_DEADLINE_FLOOR. */
	CU_ASSERT_DOUBLE_EQUAL(pg_wait_until(100.0, 100.01, 11.0), 100.0 + PG_DEADLINE_FLOOR, 1e-9);
	CU_ASSERT_DOUBLE_EQUAL(pg_wait_until(100.0, 99.0, 11.0), 100.0 + PG_DEADLINE_FLOOR, 1e-9);
	CU_ASSERT_TRUE(pg_wait_cut(100.0, 99.0, 11.0));
	/* The floor never exceeds the timeout itself. */
	CU_ASSERT_DOUBLE_EQUAL(pg_wait_until(100.0, 99.0, 0.01), 100.01, 1e-9);
}

static void test_wait_ms_rounds_up_and_stops_at_zero(void)
{
	CU_ASSERT_EQUAL(pg_wait_ms(100.0101, 100.0), 11);
	CU_ASSERT_EQUAL(pg_wait_ms(100.3, 100.0), 300);
	CU_ASSERT_EQUAL(pg_wait_ms(100.0, 100.0), 0);
	CU_ASSERT_EQUAL(pg_wait_ms(99.0, 100.0), 0);
	CU_ASSERT_EQUAL(pg_wait_ms(1e12, 0), INT_MAX);
}

void suite_register(void)
{
	CU_pSuite s = CU_add_suite("pg", NULL, NULL);
	CU_add_test(s, "controldata states", test_controldata_states);
	CU_add_test(s, "controldata without a state is an error", test_controldata_without_a_state_is_an_error);
	CU_add_test(s, "basebackup progress lines", test_basebackup_progress_lines);
	CU_add_test(s, "passfile lines escape colons and backslashes",
		    test_passfile_lines_escape_colons_and_backslashes);
	CU_add_test(s, "passfile is written whole and private", test_passfile_is_written_whole_and_private);
	CU_add_test(s, "wait without a deadline is the timeout", test_wait_without_a_deadline_is_the_timeout);
	CU_add_test(s, "wait ends by the deadline with a floor", test_wait_ends_by_the_deadline_with_a_floor);
	CU_add_test(s, "wait ms rounds up and stops at zero", test_wait_ms_rounds_up_and_stops_at_zero);
}
