/*
 * test_pgsetting: values checked as PostgreSQL checks them, one row per
 * value: booleans in every spelling and the ambiguous "o", integers with
 * memory and time units converted to the parameter's unit (8kB pages, kB,
 * ms, s) and rounded, hexadecimal, units of the wrong kind or on a unitless
 * parameter, bounds on both sides, reals, enums by name in any case, and
 * strings left to the server.
 */
#include <stdio.h>
#include <string.h>

#include "cunit_main.h"
#include "pg/pgsetting.h"

#define ROWS(a) (sizeof(a) / sizeof((a)[0]))

static const pgsetting settings[] = {
	{"shared_buffers", "integer", "8kB", "postmaster", 16, 1073741823, ""},
	{"work_mem", "integer", "kB", "user", 64, 2147483647, ""},
	{"statement_timeout", "integer", "ms", "user", 0, 2147483647, ""},
	{"checkpoint_timeout", "integer", "s", "sighup", 30, 86400, ""},
	{"max_connections", "integer", "", "postmaster", 1, 262143, ""},
	{"random_page_cost", "real", "", "user", 0, 1.79769e+308, ""},
	{"vacuum_cost_delay", "real", "ms", "user", 0, 100, ""},
	{"fsync", "bool", "", "sighup", 0, 0, ""},
	{"log_min_messages", "enum", "", "superuser", 0, 0,
	 "debug5,debug4,debug3,debug2,debug1,info,notice,warning,error,log,fatal,panic"},
	{"application_name", "string", "", "user", 0, 0, ""},
};

static void test_values(void)
{
	static const struct {
		const char *name, *value;
		int rc;
		const char *why; /* a part of the reason */
	} rows[] = {
		{"shared_buffers", "128MB", 0, NULL},
		{"shared_buffers", "16384", 0, NULL},
		{"shared_buffers", "1GB", 0, NULL},
		{"shared_buffers", " 256 MB ", 0, NULL},
		{"shared_buffers", "100kB", -1, "12 8kB is outside the valid range"},
		{"shared_buffers", "lots", -1, "invalid value for parameter \"shared_buffers\": \"lots\""},
		{"shared_buffers", "128XB", -1, "valid units: B, kB, MB, GB, TB"},
		{"shared_buffers", "10s", -1, "valid units: B, kB, MB, GB, TB"},
		{"shared_buffers", "128MB x", -1, "invalid value"},
		{"shared_buffers", "", -1, "invalid value"},
		{"shared_buffers", "9999TB", -1, "outside the valid range"},
		{"work_mem", "8MB", 0, NULL},
		{"work_mem", "1.5MB", 0, NULL},
		{"work_mem", "63", -1,
		 "63 kB is outside the valid range for parameter \"work_mem\" (64 .. 2.14748e+09)"},
		{"work_mem", "0x100", 0, NULL},
		{"statement_timeout", "30s", 0, NULL},
		{"statement_timeout", "2min", 0, NULL},
		{"statement_timeout", "-1", -1, "outside the valid range"},
		{"statement_timeout", "5MB", -1, "valid units: us, ms, s, min, h, d"},
		{"checkpoint_timeout", "500ms", -1, "outside the valid range"},
		{"checkpoint_timeout", "1h", 0, NULL},
		{"checkpoint_timeout", "2d", -1, "172800 s is outside"},
		{"max_connections", "200", 0, NULL},
		{"max_connections", "200MB", -1, "it takes no unit"},
		{"max_connections", "0", -1, "outside the valid range"},
		{"random_page_cost", "1.1", 0, NULL},
		{"random_page_cost", "-1", -1, "outside the valid range"},
		{"random_page_cost", "fast", -1, "invalid value"},
		{"vacuum_cost_delay", "2ms", 0, NULL},
		{"vacuum_cost_delay", "500us", 0, NULL},
		{"vacuum_cost_delay", "1s", -1, "outside the valid range"},
		{"fsync", "on", 0, NULL},
		{"fsync", "OFF", 0, NULL},
		{"fsync", "t", 0, NULL},
		{"fsync", "ye", 0, NULL},
		{"fsync", "0", 0, NULL},
		{"fsync", "o", -1, "requires a Boolean value"},
		{"fsync", "maybe", -1, "requires a Boolean value"},
		{"fsync", "", -1, "requires a Boolean value"},
		{"log_min_messages", "WARNING", 0, NULL},
		{"log_min_messages", "debug1", 0, NULL},
		{"log_min_messages", "debug", -1, "available values: debug5,"},
		{"application_name", "anything at all", 0, NULL},
	};
	for (unsigned i = 0; i < ROWS(rows); i++) {
		const pgsetting *s = pgsetting_find(settings, (int)ROWS(settings), rows[i].name);
		CU_ASSERT_PTR_NOT_NULL_FATAL(s);
		char why[256] = "";
		int rc = pgsetting_check(s, rows[i].value, why, sizeof why);
		bool ok = rc == rows[i].rc && (rows[i].why == NULL || strstr(why, rows[i].why) != NULL);
		if (!ok)
			fprintf(stderr, "row %u: %s = \"%s\": rc %d, \"%s\"\n", i, rows[i].name, rows[i].value, rc,
				why);
		CU_ASSERT(ok);
	}
}

static void test_find(void)
{
	CU_ASSERT_PTR_NOT_NULL(pgsetting_find(settings, (int)ROWS(settings), "Shared_Buffers"));
	CU_ASSERT_PTR_NULL(pgsetting_find(settings, (int)ROWS(settings), "shared_buffer"));
	CU_ASSERT_PTR_NULL(pgsetting_find(settings, 0, "fsync"));
}

void suite_register(void)
{
	CU_pSuite s = CU_add_suite("pgsetting", NULL, NULL);
	CU_add_test(s, "values", test_values);
	CU_add_test(s, "find", test_find);
}
