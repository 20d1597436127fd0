/*
 * test_pg: the parsers of pg/, one row per output PostgreSQL 15's programs
 * print (pg_controldata's cluster states, pg_basebackup's progress lines)
 * and per malformed line.
 */
#include <stdio.h>
#include <string.h>

#include "cunit_main.h"
#include "pg/basebackup.h"
#include "pg/controldata.h"

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

void suite_register(void)
{
	CU_pSuite s = CU_add_suite("pg", NULL, NULL);
	CU_add_test(s, "controldata states", test_controldata_states);
	CU_add_test(s, "controldata without a state is an error", test_controldata_without_a_state_is_an_error);
	CU_add_test(s, "basebackup progress lines", test_basebackup_progress_lines);
}
