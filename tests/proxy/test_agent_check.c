/*
 * test_agent_check: the request line HAProxy's agent check sends
 * ("<backend> <server>\n"). One row per input: the valid shapes (LF or CRLF,
 * names with dots, dashes and underscores), input that is still incomplete
 * (more bytes may come), and every refusal with the reason the daemon logs.
 * A line arriving byte by byte is incomplete until its newline.
 */
#include <stdio.h>
#include <string.h>

#include "proxy-agent/agent_check.h"
#include "cunit_main.h"

#define NAME63 "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-"
#define NAME64 NAME63 "x"
#define LINE(text) text, sizeof text - 1

typedef struct row {
	const char *data;
	size_t len;
	int rc;
	plan_backend backend; /* rc 1 */
	const char *server;   /* rc 1 */
	const char *why;      /* rc -1: the reason, exactly */
} row;

#define TOO_LONG "request line longer than 127 bytes"
#define CONTROL "control byte in the request"
#define SHAPE "request is not \"<backend> <server>\""
#define BACKEND "unknown backend (not rw or ro)"
#define NAME_LEN "server name empty or longer than 63 bytes"
#define EXTRA "extra words after the server name"
#define NAME_CHARS "server name has a character outside [A-Za-z0-9._-]"

/* clang-format off */
static const row rows[] = {
	{LINE("rw n1\n"), 1, PLAN_RW, "n1", NULL},
	{LINE("ro n2\r\n"), 1, PLAN_RO, "n2", NULL},
	{LINE("ro db-1.example_2\n"), 1, PLAN_RO, "db-1.example_2", NULL},
	{LINE("rw _.-\n"), 1, PLAN_RW, "_.-", NULL},
	{LINE("rw " NAME63 "\n"), 1, PLAN_RW, NAME63, NULL},
	{LINE("ro n3\nrw n4\n"), 1, PLAN_RO, "n3", NULL}, /* what follows the line is not read */
	{LINE(""), 0, PLAN_RW, NULL, NULL},
	{LINE("r"), 0, PLAN_RW, NULL, NULL},
	{LINE("rw"), 0, PLAN_RW, NULL, NULL},
	{LINE("rw n1"), 0, PLAN_RW, NULL, NULL},
	{LINE("rw n1\r"), 0, PLAN_RW, NULL, NULL},
	{LINE("rw n1\0\n"), -1, PLAN_RW, NULL, CONTROL},
	{LINE("\0"), -1, PLAN_RW, NULL, CONTROL},
	{LINE("rw\tn1\n"), -1, PLAN_RW, NULL, CONTROL},
	{LINE("rw n\x1b" "1\n"), -1, PLAN_RW, NULL, CONTROL},
	{LINE("rw n1\x7f\n"), -1, PLAN_RW, NULL, CONTROL},
	{LINE("rw n1\r\r\n"), -1, PLAN_RW, NULL, CONTROL},
	{LINE("rw\rn1\n"), -1, PLAN_RW, NULL, CONTROL},
	{LINE("rw n1\x01"), -1, PLAN_RW, NULL, CONTROL}, /* refused before the newline comes */
	{LINE("xx n1\n"), -1, PLAN_RW, NULL, BACKEND},
	{LINE("RW n1\n"), -1, PLAN_RW, NULL, BACKEND},
	{LINE("rwx n1\n"), -1, PLAN_RW, NULL, BACKEND},
	{LINE("r n1\n"), -1, PLAN_RW, NULL, BACKEND},
	{LINE(" rw n1\n"), -1, PLAN_RW, NULL, BACKEND},
	{LINE("rw \n"), -1, PLAN_RW, NULL, NAME_LEN},
	{LINE("ro \r\n"), -1, PLAN_RW, NULL, NAME_LEN},
	{LINE("rw " NAME64 "\n"), -1, PLAN_RW, NULL, NAME_LEN},
	{LINE("rw\n"), -1, PLAN_RW, NULL, SHAPE},
	{LINE("rwn1\n"), -1, PLAN_RW, NULL, SHAPE},
	{LINE("\n"), -1, PLAN_RW, NULL, SHAPE},
	{LINE("\r\n"), -1, PLAN_RW, NULL, SHAPE},
	{LINE("rw n1 n2\n"), -1, PLAN_RW, NULL, EXTRA},
	{LINE("rw n1 \n"), -1, PLAN_RW, NULL, EXTRA},
	{LINE("rw  n1\n"), -1, PLAN_RW, NULL, EXTRA},
	{LINE("rw n/1\n"), -1, PLAN_RW, NULL, NAME_CHARS},
	{LINE("rw n1;show\n"), -1, PLAN_RW, NULL, NAME_CHARS},
	{LINE("rw n\xc3\xa9\n"), -1, PLAN_RW, NULL, NAME_CHARS},
	{LINE("rw \"n1\"\n"), -1, PLAN_RW, NULL, NAME_CHARS},
};
/* clang-format on */

static int check(const char *what, const char *data, size_t len, int rc, plan_backend backend, const char *server,
		 const char *why)
{
	agent_check_request req;
	memset(&req, 0x55, sizeof req);
	const char *got_why = NULL;
	int got = agent_check_parse(data, len, &req, &got_why);
	int bad = got != rc;
	if (rc == 1 && !bad)
		bad = req.backend != backend || strcmp(req.server, server) != 0;
	if (rc == -1 && !bad)
		bad = got_why == NULL || strcmp(got_why, why) != 0;
	if (bad)
		fprintf(stderr, "\n  %s: rc %d (expected %d), why \"%s\"", what, got, rc, got_why ? got_why : "(none)");
	return bad;
}

static void test_each_request_is_accepted_awaited_or_refused_with_its_reason(void)
{
	for (size_t i = 0; i < sizeof rows / sizeof rows[0]; i++) {
		char what[32];
		snprintf(what, sizeof what, "row %zu", i);
		CU_ASSERT_EQUAL(check(what, rows[i].data, rows[i].len, rows[i].rc, rows[i].backend, rows[i].server,
				      rows[i].why),
				0);
	}
}

static void test_long_lines_are_refused_even_without_a_newline(void)
{
	char long_line[200], line_127[128], line_128[129];
	memset(long_line, 'a', sizeof long_line);
	CU_ASSERT_EQUAL(check("200 bytes", long_line, sizeof long_line, -1, PLAN_RW, NULL, TOO_LONG), 0);
	/* 128 bytes without newline can no longer become a line of 127. */
	CU_ASSERT_EQUAL(check("128 bytes", long_line, 128, -1, PLAN_RW, NULL, TOO_LONG), 0);
	CU_ASSERT_EQUAL(check("127 bytes", long_line, 127, 0, PLAN_RW, NULL, NULL), 0);
	/* A 127-byte line with its newline is short enough; its name is not. */
	memcpy(line_127, "rw ", 3);
	memset(line_127 + 3, 'b', 124);
	line_127[127] = '\n';
	CU_ASSERT_EQUAL(check("127-byte line", line_127, 128, -1, PLAN_RW, NULL, NAME_LEN), 0);
	memcpy(line_128, "rw ", 3);
	memset(line_128 + 3, 'b', 125);
	line_128[128] = '\n';
	CU_ASSERT_EQUAL(check("128-byte line", line_128, 129, -1, PLAN_RW, NULL, TOO_LONG), 0);
}

static void test_a_line_arriving_byte_by_byte_waits_for_its_newline(void)
{
	static const char *const lines[] = {"ro n2\r\n", "rw db-1.example_2\n"};
	for (size_t l = 0; l < 2; l++) {
		size_t len = strlen(lines[l]);
		for (size_t k = 0; k < len; k++) {
			agent_check_request req;
			const char *why = NULL;
			CU_ASSERT_EQUAL(agent_check_parse(lines[l], k, &req, &why), 0);
			CU_ASSERT_PTR_NULL(why);
		}
		agent_check_request req;
		const char *why = NULL;
		CU_ASSERT_EQUAL(agent_check_parse(lines[l], len, &req, &why), 1);
	}
}

void suite_register(void)
{
	CU_pSuite s = CU_add_suite("agent_check", NULL, NULL);
	CU_add_test(s, "each request is accepted, awaited or refused with its reason",
		    test_each_request_is_accepted_awaited_or_refused_with_its_reason);
	CU_add_test(s, "long lines are refused even without a newline",
		    test_long_lines_are_refused_even_without_a_newline);
	CU_add_test(s, "a line arriving byte by byte waits for its newline",
		    test_a_line_arriving_byte_by_byte_waits_for_its_newline);
}
