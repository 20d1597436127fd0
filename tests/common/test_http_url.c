/*
 * test_http_url: URLs taken apart (http and https, default ports, IPv6),
 * base URLs refused with the reason, and where a secret may travel.
 */
#include <string.h>

#include "common/http_client.h"
#include "cunit_main.h"

static void test_urls_are_taken_apart(void)
{
	static const struct {
		const char *url;
		bool tls;
		const char *host;
		int port;
		const char *target;
	} rows[] = {
		{"http://127.0.0.1:8008/primary", false, "127.0.0.1", 8008, "/primary"},
		{"https://db-1.example/cluster?x=1", true, "db-1.example", 99, "/cluster?x=1"},
		{"HTTPS://[::1]:2379", true, "::1", 2379, "/"},
	};
	for (unsigned i = 0; i < sizeof rows / sizeof rows[0]; i++) {
		http_url u;
		fl_err err = {0};
		CU_ASSERT_EQUAL_FATAL(http_url_parse(rows[i].url, 99, &u, &err), 0);
		CU_ASSERT_EQUAL(u.tls, rows[i].tls);
		CU_ASSERT_STRING_EQUAL(u.host, rows[i].host);
		CU_ASSERT_EQUAL(u.port, rows[i].port);
		CU_ASSERT_STRING_EQUAL(u.target, rows[i].target);
	}
	http_url u;
	fl_err err = {0};
	CU_ASSERT_EQUAL(http_url_parse("ftp://h:1", 80, &u, &err), -1);
	CU_ASSERT_EQUAL(err.code, FL_ERR_USAGE);
	CU_ASSERT_PTR_NOT_NULL(strstr(err.msg, "does not start with http:// or https://"));
}

static void test_base_urls(void)
{
	CU_ASSERT_PTR_NULL(http_base_url_problem("http://127.0.0.1:2379"));
	CU_ASSERT_PTR_NULL(http_base_url_problem("https://etcd-1:2379/"));
	CU_ASSERT_STRING_EQUAL(http_base_url_problem("ftp://x"), "does not start with http:// or https://");
	CU_ASSERT_STRING_EQUAL(http_base_url_problem("https://x:1/v3"), "has a path; give only http://host:port");
	CU_ASSERT_STRING_EQUAL(http_base_url_problem("https://"), "has no host");
}

/* A bearer token goes over TLS, or to this machine; never in clear to another. */
static void test_secrets_travel_over_tls_or_loopback_only(void)
{
	static const struct {
		const char *url;
		bool keeps;
	} rows[] = {
		{"https://10.0.0.5:8008/switchover", true},
		{"https://db-1:8008/", true},
		{"http://127.0.0.1:8008/", true},
		{"http://127.3.4.5:8008/", true},
		{"http://[::1]:8008/", true},
		{"http://localhost:8008/", true},
		{"http://LocalHost:8008/", true},
		{"http://10.0.0.5:8008/", false},
		{"http://128.0.0.1:8008/", false},
		{"http://db-1:8008/", false},
		{"http://[::2]:8008/", false},
		{"http://localhost.evil.example:8008/", false},
		{"http://[::ffff:127.0.0.1]:8008/", false},
	};
	for (unsigned i = 0; i < sizeof rows / sizeof rows[0]; i++) {
		http_url u;
		CU_ASSERT_EQUAL_FATAL(http_url_parse(rows[i].url, 80, &u, NULL), 0);
		if (http_url_keeps_secrets(&u) != rows[i].keeps)
			CU_FAIL(rows[i].url);
	}
}

void suite_register(void)
{
	CU_pSuite s = CU_add_suite("http_url", NULL, NULL);
	CU_add_test(s, "urls_are_taken_apart", test_urls_are_taken_apart);
	CU_add_test(s, "base_urls", test_base_urls);
	CU_add_test(s, "secrets_travel_over_tls_or_loopback_only", test_secrets_travel_over_tls_or_loopback_only);
}
