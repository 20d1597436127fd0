/*
 * test_http_head: the request head parser: complete, incomplete and
 * malformed heads, each malformed one with its status and a reason naming
 * the problem; every prefix of a good head is "more to come".
 */
#include <string.h>

#include "common/http_head.h"
#include "cunit_main.h"

static long parse(const char *text, http_head *h, int *status, const char **why)
{
	return http_head_parse(text, strlen(text), 8192, 16384, h, status, why);
}

static void test_good_heads(void)
{
	static const struct {
		const char *text;
		const char *method, *target;
		int minor;
		const char *auth;
		size_t length;
	} rows[] = {
		{"GET /primary HTTP/1.0\r\n\r\n", "GET", "/primary", 0, NULL, 0},
		{"GET /replica?lag=1MB HTTP/1.1\r\nHost: x\r\n\r\n", "GET", "/replica?lag=1MB", 1, NULL, 0},
		{"POST /switchover HTTP/1.1\r\nAuthorization: Bearer abc\r\nContent-Length: 17\r\n\r\n", "POST",
		 "/switchover", 1, "Bearer abc", 17},
		{"POST /x HTTP/1.1\ncontent-length:   5  \nAUTHORIZATION:Bearer  t \n\n", "POST", "/x", 1, "Bearer  t",
		 5},
		{"OPTIONS * HTTP/1.1\r\n\r\n", "OPTIONS", "*", 1, NULL, 0},
		{"\r\nGET / HTTP/1.1\r\n\r\n", "GET", "/", 1, NULL, 0}, /* a stray CRLF before the request line */
		{"PUT /a HTTP/1.1\r\nContent-Length: 3\r\nContent-Length: 3\r\n\r\n", "PUT", "/a", 1, NULL, 3},
	};
	for (size_t i = 0; i < sizeof rows / sizeof rows[0]; i++) {
		http_head h;
		int status = 0;
		const char *why = NULL;
		long n = parse(rows[i].text, &h, &status, &why);
		CU_ASSERT_EQUAL(n, (long)strlen(rows[i].text));
		CU_ASSERT_STRING_EQUAL(h.method, rows[i].method);
		CU_ASSERT_STRING_EQUAL(h.target, rows[i].target);
		CU_ASSERT_EQUAL(h.minor, rows[i].minor);
		CU_ASSERT_EQUAL(h.has_authorization, rows[i].auth != NULL);
		if (rows[i].auth)
			CU_ASSERT_STRING_EQUAL(h.authorization, rows[i].auth);
		CU_ASSERT_EQUAL(h.content_length, rows[i].length);
	}
}

static void test_every_prefix_wants_more(void)
{
	const char *text = "POST /switchover HTTP/1.1\r\nAuthorization: Bearer abc\r\nContent-Length: 17\r\n\r\n";
	for (size_t len = 0; len < strlen(text); len++) {
		http_head h;
		int status = 0;
		const char *why = NULL;
		CU_ASSERT_EQUAL(http_head_parse(text, len, 8192, 16384, &h, &status, &why), 0);
	}
	/* the body after the head is not part of it */
	const char *with_body = "POST /x HTTP/1.1\r\nContent-Length: 2\r\n\r\n{}";
	http_head h;
	int status;
	const char *why;
	CU_ASSERT_EQUAL(parse(with_body, &h, &status, &why), (long)strlen(with_body) - 2);
}

static void test_malformed_heads(void)
{
	static const struct {
		const char *text;
		int status;
		const char *why;
	} rows[] = {
		{"GET\r\n\r\n", 400, "METHOD TARGET"},
		{" GET / HTTP/1.1\r\n\r\n", 400, "METHOD TARGET"},
		{"GET / HTTP/1.1 extra\r\n\r\n", 400, "METHOD TARGET"},
		{"G(T / HTTP/1.1\r\n\r\n", 400, "token"},
		{"GET / HTTP/1.1\r\nX\x7f: a\r\n\r\n", 400, "token"},
		{"VERYLONGMETHODNAME / HTTP/1.1\r\n\r\n", 501, "unknown method"},
		{"GET primary HTTP/1.1\r\n\r\n", 400, "not a path"},
		{"GET /a\x01 HTTP/1.1\r\n\r\n", 400, "control character"},
		{"GET / HTTP/2.0\r\n\r\n", 505, "HTTP/1.0 and HTTP/1.1"},
		{"GET / HTTX/1.1\r\n\r\n", 400, "METHOD TARGET"},
		{"GET / HTTP/1.1\r\nHost x\r\n\r\n", 400, "without a name"},
		{"GET / HTTP/1.1\r\n: x\r\n\r\n", 400, "without a name"},
		{"GET / HTTP/1.1\r\nHo st: x\r\n\r\n", 400, "token"},
		{"GET / HTTP/1.1\r\nHost: x\r\n folded\r\n\r\n", 400, "folding"},
		{"GET / HTTP/1.1\r\nX: a\x02\r\n\r\n", 400, "control character"},
		{"POST / HTTP/1.1\r\nContent-Length: 1x\r\n\r\n", 400, "not a number"},
		{"POST / HTTP/1.1\r\nContent-Length:\r\n\r\n", 400, "empty Content-Length"},
		{"POST / HTTP/1.1\r\nContent-Length: 3\r\nContent-Length: 4\r\n\r\n", 400, "two different"},
		{"POST / HTTP/1.1\r\nContent-Length: 16385\r\n\r\n", 413, "too large"},
		{"POST / HTTP/1.1\r\nContent-Length: 99999999999999999999\r\n\r\n", 413, "too large"},
		{"POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n", 411, "Content-Length"},
	};
	for (size_t i = 0; i < sizeof rows / sizeof rows[0]; i++) {
		http_head h;
		int status = 0;
		const char *why = NULL;
		long n = parse(rows[i].text, &h, &status, &why);
		CU_ASSERT_EQUAL(n, -1);
		CU_ASSERT_EQUAL(status, rows[i].status);
		CU_ASSERT_PTR_NOT_NULL_FATAL(why);
		if (strstr(why, rows[i].why) == NULL)
			printf("\n  row %zu: %s", i, why);
		CU_ASSERT_PTR_NOT_NULL(strstr(why, rows[i].why));
	}
}

static void test_nul_bytes_are_no_token(void)
{
	/* found by fuzz_http_head: strchr finds the terminator of its set for '\0' */
	static const char text[] = "\0\0GET / HTTP/1.0\r\n\r\n";
	http_head h;
	int status = 0;
	const char *why = NULL;
	CU_ASSERT_EQUAL(http_head_parse(text, sizeof text - 1, 8192, 16384, &h, &status, &why), -1);
	CU_ASSERT_EQUAL(status, 400);
	static const char hdr[] = "GET / HTTP/1.0\r\nX\0Y: 1\r\n\r\n";
	CU_ASSERT_EQUAL(http_head_parse(hdr, sizeof hdr - 1, 8192, 16384, &h, &status, &why), -1);
}

static void test_sizes_are_bounded(void)
{
	char big[9000];
	memcpy(big, "GET / HTTP/1.1\r\nX: ", 19);
	memset(big + 19, 'a', sizeof big - 19);
	http_head h;
	int status = 0;
	const char *why = NULL;
	/* no end of head within max: too large, however much more could come */
	CU_ASSERT_EQUAL(http_head_parse(big, sizeof big, 8192, 16384, &h, &status, &why), -1);
	CU_ASSERT_EQUAL(status, 431);
	CU_ASSERT_EQUAL(http_head_parse(big, 8191, 8192, 16384, &h, &status, &why), 0);
	/* a long target and a long Authorization */
	char target[2100] = "GET /";
	memset(target + 5, 'a', 2060);
	strcpy(target + 2065, " HTTP/1.1\r\n\r\n");
	CU_ASSERT_EQUAL(parse(target, &h, &status, &why), -1);
	CU_ASSERT_EQUAL(status, 414);
	char auth[1200] = "GET / HTTP/1.1\r\nAuthorization: ";
	size_t l = strlen(auth);
	memset(auth + l, 'b', 1100);
	strcpy(auth + l + 1100, "\r\n\r\n");
	CU_ASSERT_EQUAL(parse(auth, &h, &status, &why), -1);
	CU_ASSERT_EQUAL(status, 431);
}

void suite_register(void)
{
	CU_pSuite s = CU_add_suite("http_head", NULL, NULL);
	CU_add_test(s, "good heads", test_good_heads);
	CU_add_test(s, "every prefix wants more", test_every_prefix_wants_more);
	CU_add_test(s, "malformed heads", test_malformed_heads);
	CU_add_test(s, "NUL bytes are no token", test_nul_bytes_are_no_token);
	CU_add_test(s, "sizes are bounded", test_sizes_are_bounded);
}
