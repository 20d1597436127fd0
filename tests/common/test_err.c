/*
 * test_err: the error catalogue: its numbers never move, every code has a
 * name, the --help line lists them all, and the README shows the table that
 * err_codes.def generates.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/err.h"
#include "cunit_main.h"

static void test_codes_keep_their_numbers(void)
{
	static const struct {
		fl_code code;
		int number;
		const char *name;
	} rows[] = {
		{FL_OK, 0, "ok"},
		{FL_ERR_INTERNAL, 1, "internal"},
		{FL_ERR_USAGE, 2, "usage"},
		{FL_ERR_CONFIG, 3, "config"},
		{FL_ERR_SECRET, 4, "secret"},
		{FL_ERR_BINDIR, 5, "bin_dir"},
		{FL_ERR_ETCD, 6, "etcd"},
		{FL_ERR_POSTGRES, 7, "postgres"},
		{FL_ERR_DATADIR, 8, "data_dir"},
		{FL_ERR_TIMEOUT, 9, "timeout"},
		{FL_ERR_NOT_FOUND, 10, "not_found"},
		{FL_ERR_CONFLICT, 11, "conflict"},
		{FL_ERR_IO, 12, "io"},
		{FL_ERR_HAPROXY, 13, "haproxy"},
	};
	for (unsigned i = 0; i < sizeof rows / sizeof rows[0]; i++) {
		CU_ASSERT_EQUAL((int)rows[i].code, rows[i].number);
		CU_ASSERT_STRING_EQUAL(fl_code_name(rows[i].code), rows[i].name);
	}
	CU_ASSERT_STRING_EQUAL(fl_code_name((fl_code)99), "unknown");
}

static void test_the_help_line_lists_every_code(void)
{
	char *line = cunit_printed(fl_codes_print_line);
	CU_ASSERT_PTR_NOT_NULL(strstr(line, "0 ok, 1 internal, 2 usage, 3 config"));
	CU_ASSERT_PTR_NOT_NULL(strstr(line, "13 haproxy"));
	free(line);
}

static void test_the_readme_shows_the_catalogue(void)
{
	char *table = cunit_printed(fl_codes_print_markdown);
	CU_ASSERT_TRUE(cunit_doc_holds(FLOTILLA_SOURCE_DIR "/README.md", table, "the exit-code table"));
	free(table);
}

void suite_register(void)
{
	CU_pSuite s = CU_add_suite("err", NULL, NULL);
	CU_add_test(s, "codes keep their numbers", test_codes_keep_their_numbers);
	CU_add_test(s, "the help line lists every code", test_the_help_line_lists_every_code);
	CU_add_test(s, "the README shows the catalogue", test_the_readme_shows_the_catalogue);
}
