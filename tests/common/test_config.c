/*
 * test_config: the option-table loader: defaults, file values, environment
 * overrides, and the errors for malformed files, unknown settings, wrong
 * types and out-of-range values.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/config.h"
#include "cunit_main.h"

typedef struct sample {
	char *name;
	long count;
	double ratio;
	bool flag;
	str_list items;
} sample;

static const opt_def table[] = {
	{"name", OPT_STRING, NULL, 1, 0, false, "TEST_NAME", offsetof(sample, name), "a name"},
	{"group.count", OPT_INT, "5", 1, 10, false, "TEST_COUNT", offsetof(sample, count), "a count"},
	{"ratio", OPT_DOUBLE, "0.5", 0, 1, true, NULL, offsetof(sample, ratio), "a ratio"},
	{"flag", OPT_BOOL, "false", 1, 0, false, NULL, offsetof(sample, flag), "a flag"},
	{"items", OPT_LIST, "a,b", 1, 0, false, NULL, offsetof(sample, items), "items"},
};
#define N (sizeof table / sizeof table[0])

static char path[64];

static void write_conf(const char *text)
{
	snprintf(path, sizeof path, "/tmp/test_config_%d.conf", (int)getpid());
	FILE *f = fopen(path, "w");
	fputs(text, f);
	fclose(f);
}

static int load(const char *text, sample *s, fl_err *err)
{
	memset(s, 0, sizeof *s);
	memset(err, 0, sizeof *err);
	write_conf(text);
	int rc = config_load(table, N, s, path, err);
	unlink(path);
	return rc;
}

static void test_defaults_fill_unset_settings(void)
{
	sample s;
	fl_err err;
	CU_ASSERT_EQUAL(load("name = \"x\";\n", &s, &err), 0);
	CU_ASSERT_STRING_EQUAL(s.name, "x");
	CU_ASSERT_EQUAL(s.count, 5);
	CU_ASSERT_DOUBLE_EQUAL(s.ratio, 0.5, 1e-9);
	CU_ASSERT_FALSE(s.flag);
	CU_ASSERT_EQUAL(s.items.n, 2);
	config_free(table, N, &s);
}

static void test_file_values_override_defaults(void)
{
	sample s;
	fl_err err;
	CU_ASSERT_EQUAL(
		load("name = \"y\";\ngroup = { count = 7; };\nratio = 1;\nflag = true;\nitems = [\"p\"];\n", &s, &err),
		0);
	CU_ASSERT_EQUAL(s.count, 7);
	CU_ASSERT_DOUBLE_EQUAL(s.ratio, 1.0, 1e-9);
	CU_ASSERT_TRUE(s.flag);
	CU_ASSERT_EQUAL(s.items.n, 1);
	CU_ASSERT_STRING_EQUAL(s.items.v[0], "p");
	config_free(table, N, &s);
}

static void test_environment_overrides_file(void)
{
	sample s;
	fl_err err;
	setenv("TEST_COUNT", "9", 1);
	CU_ASSERT_EQUAL(load("name = \"y\";\ngroup = { count = 7; };\n", &s, &err), 0);
	CU_ASSERT_EQUAL(s.count, 9);
	config_free(table, N, &s);
	setenv("TEST_COUNT", "nine", 1);
	CU_ASSERT_EQUAL(load("name = \"y\";\n", &s, &err), -1);
	CU_ASSERT_PTR_NOT_NULL(strstr(err.msg, "TEST_COUNT"));
	config_free(table, N, &s);
	unsetenv("TEST_COUNT");
}

static const struct {
	const char *text;
	const char *expect; /* substring of the error */
} bad[] = {
	{"name = \"x\"\ncount = ;\n", "line"},
	{"name = \"x\";\nbogus = 1;\n", "unknown setting \"bogus\""},
	{"name = \"x\";\ngroup = { counter = 1; };\n", "unknown setting \"group.counter\""},
	{"name = \"x\";\ngroup = { count = 11; };\n", "group.count = 11 is outside"},
	{"name = \"x\";\ngroup = { count = \"3\"; };\n", "group.count must be a integer"},
	{"name = \"x\";\nflag = 1;\n", "flag must be a boolean"},
	{"name = 3;\n", "name must be a string"},
	{"ratio = 0.1;\n", "required setting \"name\""},
	{"name = \"x\";\nitems = [1, 2];\n", "items item 1 is not a string"},
};

static void test_malformed_files_give_errors_naming_the_problem(void)
{
	for (unsigned i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		sample s;
		fl_err err;
		int rc = load(bad[i].text, &s, &err);
		CU_ASSERT_EQUAL(rc, -1);
		CU_ASSERT_EQUAL(err.code, FL_ERR_CONFIG);
		if (strstr(err.msg, bad[i].expect) == NULL)
			fprintf(stderr, "case %u: \"%s\" lacks \"%s\"\n", i, err.msg, bad[i].expect);
		CU_ASSERT_PTR_NOT_NULL(strstr(err.msg, bad[i].expect));
		config_free(table, N, &s);
	}
}

static void test_missing_file_is_named(void)
{
	sample s = {0};
	fl_err err = {0};
	CU_ASSERT_EQUAL(config_load(table, N, &s, "/nonexistent/flotilla.conf", &err), -1);
	CU_ASSERT_PTR_NOT_NULL(strstr(err.msg, "/nonexistent/flotilla.conf"));
	config_free(table, N, &s);
}

static void test_sample_output_loads_back(void)
{
	char sample_path[64];
	snprintf(sample_path, sizeof sample_path, "/tmp/test_config_sample_%d.conf", (int)getpid());
	FILE *f = fopen(sample_path, "w");
	config_print_sample(table, N, f);
	fclose(f);
	sample s = {0};
	fl_err err = {0};
	/* The required name prints as an empty string, which loads. */
	CU_ASSERT_EQUAL(config_load(table, N, &s, sample_path, &err), 0);
	CU_ASSERT_EQUAL(s.count, 5);
	config_free(table, N, &s);
	unlink(sample_path);
}

void suite_register(void)
{
	CU_pSuite s = CU_add_suite("config", NULL, NULL);
	CU_add_test(s, "defaults fill unset settings", test_defaults_fill_unset_settings);
	CU_add_test(s, "file values override defaults", test_file_values_override_defaults);
	CU_add_test(s, "environment overrides file", test_environment_overrides_file);
	CU_add_test(s, "malformed files give errors naming the problem",
		    test_malformed_files_give_errors_naming_the_problem);
	CU_add_test(s, "missing file is named", test_missing_file_is_named);
	CU_add_test(s, "sample output loads back", test_sample_output_loads_back);
}
