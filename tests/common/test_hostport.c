/*
 * test_hostport: one row per address form, good and bad.
 */
#include <string.h>

#include "common/hostport.h"
#include "cunit_main.h"

static void test_addresses(void)
{
	static const struct {
		const char *text;
		bool ok;
		const char *host;
		int port;
	} rows[] = {
		{"127.0.0.1:5432", true, "127.0.0.1", 5432},
		{"db-1.example:1", true, "db-1.example", 1},
		{"[::1]:8008", true, "::1", 8008},
		{"[fe80::1%eth0]:65535", true, "fe80::1%eth0", 65535},
		{"localhost:65536", false, NULL, 0},
		{"localhost:0", false, NULL, 0},
		{"localhost:-1", false, NULL, 0},
		{"localhost:+80", false, NULL, 0},
		{"localhost: 80", false, NULL, 0},
		{"localhost:80x", false, NULL, 0},
		{"localhost:", false, NULL, 0},
		{":5432", false, NULL, 0},
		{"localhost", false, NULL, 0},
		{"[]:80", false, NULL, 0},
		{"[::1:80", false, NULL, 0},
		{"::1]:80", false, NULL, 0},
		{"a[b]:80", false, NULL, 0},
		{"", false, NULL, 0},
		{"evil host=x:5432", false, NULL, 0},
		{"h'q:5432", false, NULL, 0},
		{"a/b:80", false, NULL, 0},
	};
	for (unsigned i = 0; i < sizeof rows / sizeof rows[0]; i++) {
		char host[64] = "";
		int port = 0;
		int rc = hostport_parse(rows[i].text, host, sizeof host, &port);
		CU_ASSERT_EQUAL(rc == 0, rows[i].ok);
		CU_ASSERT_EQUAL(hostport_valid(rows[i].text), rows[i].ok);
		if (rows[i].ok) {
			CU_ASSERT_STRING_EQUAL(host, rows[i].host);
			CU_ASSERT_EQUAL(port, rows[i].port);
		}
	}
	char small[4];
	int port;
	CU_ASSERT_EQUAL(hostport_parse("longhost:80", small, sizeof small, &port), -1);
	CU_ASSERT_EQUAL(hostport_parse(NULL, small, sizeof small, &port), -1);
}

void suite_register(void)
{
	CU_pSuite s = CU_add_suite("hostport", NULL, NULL);
	CU_add_test(s, "addresses", test_addresses);
}
