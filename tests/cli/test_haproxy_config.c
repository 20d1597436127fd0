/*
 * test_haproxy_config: HAProxy's configuration rendered from the real
 * template (haproxy/haproxy.cfg.in, built in as haproxy_template). With
 * three nodes each backend gets exactly one `server` line per node, with its
 * REST API health-check address and the agent-send string the proxy agent
 * answers; every placeholder is substituted and no '@' is left. Small
 * templates pin the substitution rules: inline values, server lists that
 * replace their whole line, lone '@' copied, unknown placeholders refused.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cunit_main.h"
#include "cli/haproxy_config.h"

static const haproxy_server servers[] = {
	{"n1", "10.0.0.1:5432", "10.0.0.1", 8008},
	{"n2", "10.0.0.2:5433", "10.0.0.2", 8009},
	{"n3", "10.0.0.3:5434", "10.0.0.3", 8010},
};

static haproxy_params params(int n)
{
	return (haproxy_params){.rw_bind = "127.0.0.1:5000",
				.ro_bind = "127.0.0.1:5001",
				.metrics_bind = "127.0.0.1:8404",
				.stats_socket = "/run/haproxy/admin.sock",
				.state_file = "/run/haproxy/server-state",
				.agent_addr = "127.0.0.2",
				.agent_port = 5480,
				.max_lag = "16MB",
				.maxconn = 1234,
				.servers = servers,
				.n_servers = n};
}

static int count(const char *text, const char *needle)
{
	int n = 0;
	for (const char *p = strstr(text, needle); p != NULL; p = strstr(p + 1, needle))
		n++;
	return n;
}

/* Counts, per backend (0 rw, 1 ro, 2 elsewhere) and node, the `server` lines, and checks each one's shape. */
static int server_lines(const char *cfg, int seen[3][3])
{
	int wrong = 0, section = 2;
	memset(seen, 0, sizeof(int[3][3]));
	char *copy = strdup(cfg), *save = NULL;
	for (char *line = strtok_r(copy, "\n", &save); line != NULL; line = strtok_r(NULL, "\n", &save)) {
		if (line[0] != ' ' && line[0] != '#')
			section = strcmp(line, "backend rw") == 0 ? 0 : strcmp(line, "backend ro") == 0 ? 1 : 2;
		if (strncmp(line, "    server ", 11) != 0)
			continue;
		for (int i = 0; i < 3; i++) {
			char want[256];
			snprintf(want, sizeof want, "    server %s %s check addr %s port %d agent-send \"%s %s\\n\"",
				 servers[i].name, servers[i].pg_address, servers[i].api_host, servers[i].api_port,
				 section == 0 ? "rw" : "ro", servers[i].name);
			if (strcmp(line, want) == 0) {
				seen[section][i]++;
				goto next;
			}
		}
		fprintf(stderr, "\n  unexpected line: %s", line);
		wrong++;
	next:;
	}
	free(copy);
	return wrong;
}

static void test_real_template_gets_one_server_line_per_node_and_backend(void)
{
	haproxy_params p = params(3);
	fl_err err = {0};
	char *cfg = haproxy_config_render(haproxy_template, &p, &err);
	CU_ASSERT_PTR_NOT_NULL_FATAL(cfg);
	int seen[3][3];
	CU_ASSERT_EQUAL(server_lines(cfg, seen), 0);
	for (int i = 0; i < 3; i++) {
		CU_ASSERT_EQUAL(seen[0][i], 1);
		CU_ASSERT_EQUAL(seen[1][i], 1);
		CU_ASSERT_EQUAL(seen[2][i], 0);
	}
	CU_ASSERT_EQUAL(count(cfg, "agent-send \"rw n2\\n\""), 1);
	CU_ASSERT_EQUAL(count(cfg, "agent-send \"ro n3\\n\""), 1);
	CU_ASSERT_EQUAL(count(cfg, "\n    server "), 6);
	/* The server list replaces its line: no blank line between default-server and the first server. */
	CU_ASSERT_EQUAL(count(cfg, "agent-inter 1s\n    server n1 "), 2);
	free(cfg);
}

static void test_real_template_has_every_placeholder_substituted(void)
{
	haproxy_params p = params(3);
	char *cfg = haproxy_config_render(haproxy_template, &p, NULL);
	CU_ASSERT_PTR_NOT_NULL_FATAL(cfg);
	CU_ASSERT_PTR_NULL(strchr(cfg, '@'));
	CU_ASSERT_EQUAL(count(cfg, "stats socket /run/haproxy/admin.sock mode 600 level admin"), 1);
	CU_ASSERT_EQUAL(count(cfg, "server-state-file /run/haproxy/server-state"), 1);
	CU_ASSERT_EQUAL(count(cfg, "load-server-state-from-file global"), 1);
	CU_ASSERT_EQUAL(count(cfg, "maxconn 1234\n"), 1);
	CU_ASSERT_EQUAL(count(cfg, "bind 127.0.0.1:5000\n"), 1);
	CU_ASSERT_EQUAL(count(cfg, "bind 127.0.0.1:5001\n"), 1);
	CU_ASSERT_EQUAL(count(cfg, "bind 127.0.0.1:8404\n"), 1);
	CU_ASSERT_EQUAL(count(cfg, "agent-addr 127.0.0.2 agent-port 5480 "), 2);
	CU_ASSERT_EQUAL(count(cfg, "option httpchk GET /read-only?lag=16MB\n"), 1);
	CU_ASSERT_EQUAL(count(cfg, "option httpchk GET /primary\n"), 1);
	/* The template's text outside placeholders is kept: rendered and template differ only where '@' was. */
	CU_ASSERT_EQUAL(count(cfg, "\nbackend rw\n"), 1);
	CU_ASSERT_EQUAL(count(cfg, "\nbackend ro\n"), 1);
	/* Two server lists of three lines each for two lines; the resolvers' line gone (no --dns). */
	CU_ASSERT_EQUAL(count(cfg, "\n"), count(haproxy_template, "\n") + 3);
	CU_ASSERT_EQUAL(count(cfg, "\nresolvers "), 0);
	CU_ASSERT_EQUAL(count(cfg, " resolvers dns "), 0);
	free(cfg);
}

static void test_no_servers_leave_empty_backends(void)
{
	haproxy_params p = params(0);
	char *cfg = haproxy_config_render(haproxy_template, &p, NULL);
	CU_ASSERT_PTR_NOT_NULL_FATAL(cfg);
	CU_ASSERT_EQUAL(count(cfg, "\n    server "), 0);
	CU_ASSERT_PTR_NULL(strchr(cfg, '@'));
	CU_ASSERT_EQUAL(count(cfg, "\n"), count(haproxy_template, "\n") - 3);
	free(cfg);
}

/* clang-format off */
static const struct {
	const char *tmpl;
	const char *expect;
} small[] = {
	{"", ""},
	{"plain\n", "plain\n"},
	{"no newline", "no newline"},
	{"bind @RW_BIND@ x\n", "bind 127.0.0.1:5000 x\n"},
	{"@RO_BIND@@METRICS_BIND@", "127.0.0.1:5001127.0.0.1:8404"},
	{"a @AGENT_ADDR@:@AGENT_PORT@ b @MAXCONN@ c @MAX_LAG@ d @STATS_SOCKET@\n",
	 "a 127.0.0.2:5480 b 1234 c 16MB d /run/haproxy/admin.sock\n"},
	{"x\n@SERVERS_RW@\ny\n", "x\n    server n1 10.0.0.1:5432 check addr 10.0.0.1 port 8008 agent-send \"rw n1\\n\"\ny\n"},
	{"@SERVERS_RO@", "    server n1 10.0.0.1:5432 check addr 10.0.0.1 port 8008 agent-send \"ro n1\\n\"\n"},
	{"a\n@RESOLVERS@\nb\n", "a\nb\n"},
	{"mail me @ home\n", "mail me @ home\n"},
	{"one @ here\nand @ there\n", "one @ here\nand @ there\n"},
	{"trailing @", "trailing @"},
};
/* clang-format on */

static void test_small_templates_follow_the_substitution_rules(void)
{
	haproxy_params p = params(1);
	for (size_t i = 0; i < sizeof small / sizeof small[0]; i++) {
		fl_err err = {0};
		char *out = haproxy_config_render(small[i].tmpl, &p, &err);
		if (out == NULL || strcmp(out, small[i].expect) != 0)
			fprintf(stderr, "\n  case %zu: \"%s\" (%s)", i, out ? out : "NULL", err.msg);
		CU_ASSERT_PTR_NOT_NULL(out);
		if (out != NULL)
			CU_ASSERT_STRING_EQUAL(out, small[i].expect);
		free(out);
	}
}

static void test_unknown_placeholder_is_refused_naming_it(void)
{
	static const char *const tmpls[] = {"global\n    maxconn @MAXCON@\n", "@SERVERS_RX@\n", "a @rw_bind@ b\n",
					    "@@\n"};
	static const char *const names[] = {"@MAXCON@", "@SERVERS_RX@", "@rw_bind@", "@@"};
	haproxy_params p = params(3);
	for (size_t i = 0; i < sizeof tmpls / sizeof tmpls[0]; i++) {
		fl_err err = {0};
		char *out = haproxy_config_render(tmpls[i], &p, &err);
		CU_ASSERT_PTR_NULL(out);
		free(out);
		char expect[64];
		snprintf(expect, sizeof expect, "unknown placeholder %s in the template", names[i]);
		if (strstr(err.msg, expect) == NULL)
			fprintf(stderr, "\n  case %zu: \"%s\"", i, err.msg);
		CU_ASSERT_PTR_NOT_NULL(strstr(err.msg, expect));
	}
}

/* HTTPS REST APIs: every server's health check verifies the API's certificate against the CA. */
static void test_https_apis_are_checked_over_tls(void)
{
	haproxy_params p = params(3);
	p.api_ca_file = "/etc/flotilla/tls/ca.pem";
	char *cfg = haproxy_config_render(haproxy_template, &p, NULL);
	CU_ASSERT_PTR_NOT_NULL_FATAL(cfg);
	CU_ASSERT_EQUAL(count(cfg, " check-ssl verify required ca-file /etc/flotilla/tls/ca.pem agent-send "), 6);
	free(cfg);
	p.api_ca_file = NULL;
	cfg = haproxy_config_render(haproxy_template, &p, NULL);
	CU_ASSERT_PTR_NOT_NULL_FATAL(cfg);
	CU_ASSERT_EQUAL(count(cfg, "check-ssl"), 0);
	free(cfg);
}

/* Containers: names resolved at run time, the check following the server's address unless the API is elsewhere. */
static void test_dns_servers_resolve_at_run_time(void)
{
	static const haproxy_server docker[] = {{"db1", "db1:5432", NULL, 8008}, {"db2", "db2:5432", "api2", 9000}};
	haproxy_params p = params(0);
	p.servers = docker;
	p.n_servers = 2;
	p.dns = true;
	char *cfg = haproxy_config_render(haproxy_template, &p, NULL);
	CU_ASSERT_PTR_NOT_NULL_FATAL(cfg);
	CU_ASSERT_EQUAL(count(cfg, "\nresolvers dns\n    parse-resolv-conf\n"), 1);
	CU_ASSERT_EQUAL(count(cfg, "    server db1 db1:5432 check port 8008 resolvers dns resolve-prefer ipv4 "
				   "init-addr last,libc,none agent-send "),
			2);
	CU_ASSERT_EQUAL(count(cfg, "    server db2 db2:5432 check addr api2 port 9000 resolvers dns "), 2);
	/* The section ends before the next one starts. */
	CU_ASSERT_EQUAL(count(cfg, "hold obsolete 30s\n\nfrontend rw\n"), 1);
	free(cfg);
}

/* clang-format off */
static const struct {
	const char *spec;
	const char *name, *pg, *api_host;
	int api_port;
} good_specs[] = {
	{"db1", "db1", "db1:5432", "", 8008},
	{"n_2=10.0.0.2:6432", "n_2", "10.0.0.2:6432", "", 8008},
	{"n3=pg3:5433,9008", "n3", "pg3:5433", "", 9008},
	{"n4=pg4:5432,api4:8443", "n4", "pg4:5432", "api4", 8443},
	{"n5=[::1]:5432,[::1]:8008", "n5", "[::1]:5432", "::1", 8008},
	{"a-very-long-but-still-valid-node-name-of-exactly-63-characters-", "a-very-long-but-still-valid-node-name-of-exactly-63-characters-",
	 "a-very-long-but-still-valid-node-name-of-exactly-63-characters-:5432", "", 8008},
};

static const struct {
	const char *spec;
	const char *says;
} bad_specs[] = {
	{"", "is not a node name"},
	{"DB1", "is not a node name"},
	{"db 1", "is not a node name"},
	{"=h:1", "is not a node name"},
	{"a-very-long-but-still-valid-node-name-of-exactly-63-characters-x", "is not a node name"},
	{"db1=", "PostgreSQL's address is not host:port"},
	{"db1=host", "PostgreSQL's address is not host:port"},
	{"db1=host:0", "PostgreSQL's address is not host:port"},
	{"db1=host:65536", "PostgreSQL's address is not host:port"},
	{"db1=ho st:5432", "PostgreSQL's address is not host:port"},
	{"db1=h\"x:5432", "PostgreSQL's address is not host:port"},
	{"db1=h:5432,", "is neither host:port nor a port"},
	{"db1=h:5432,0", "the API port 0 is not in 1..65535"},
	{"db1=h:5432,70000", "the API port 70000 is not in 1..65535"},
	{"db1=h:5432,api", "is neither host:port nor a port"},
	{"db1=h:5432,api:1:2:x", "is neither host:port nor a port"},
	{"db1=h:5432,8008x", "is neither host:port nor a port"},
};
/* clang-format on */

static void test_server_specs_parse_or_are_refused_naming_the_part(void)
{
	for (size_t i = 0; i < sizeof good_specs / sizeof good_specs[0]; i++) {
		haproxy_server_spec sp;
		fl_err err = {0};
		int rc = haproxy_server_parse(good_specs[i].spec, &sp, &err);
		if (rc != 0)
			fprintf(stderr, "\n  good %zu: %s", i, err.msg);
		CU_ASSERT_EQUAL(rc, 0);
		CU_ASSERT_STRING_EQUAL(sp.name, good_specs[i].name);
		CU_ASSERT_STRING_EQUAL(sp.pg_address, good_specs[i].pg);
		CU_ASSERT_STRING_EQUAL(sp.api_host, good_specs[i].api_host);
		CU_ASSERT_EQUAL(sp.api_port, good_specs[i].api_port);
	}
	for (size_t i = 0; i < sizeof bad_specs / sizeof bad_specs[0]; i++) {
		haproxy_server_spec sp;
		fl_err err = {0};
		int rc = haproxy_server_parse(bad_specs[i].spec, &sp, &err);
		if (rc == 0 || strstr(err.msg, bad_specs[i].says) == NULL)
			fprintf(stderr, "\n  bad %zu (%s): rc %d, \"%s\"", i, bad_specs[i].spec, rc, err.msg);
		CU_ASSERT_EQUAL(rc, -1);
		CU_ASSERT_EQUAL(err.code, FL_ERR_USAGE);
		CU_ASSERT_PTR_NOT_NULL(strstr(err.msg, bad_specs[i].says));
	}
}

void suite_register(void)
{
	CU_pSuite s = CU_add_suite("haproxy_config", NULL, NULL);
	CU_add_test(s, "real template gets one server line per node and backend",
		    test_real_template_gets_one_server_line_per_node_and_backend);
	CU_add_test(s, "real template has every placeholder substituted",
		    test_real_template_has_every_placeholder_substituted);
	CU_add_test(s, "no servers leave empty backends", test_no_servers_leave_empty_backends);
	CU_add_test(s, "https apis are checked over tls", test_https_apis_are_checked_over_tls);
	CU_add_test(s, "small templates follow the substitution rules",
		    test_small_templates_follow_the_substitution_rules);
	CU_add_test(s, "unknown placeholder is refused naming it", test_unknown_placeholder_is_refused_naming_it);
	CU_add_test(s, "dns servers resolve at run time", test_dns_servers_resolve_at_run_time);
	CU_add_test(s, "server specs parse or are refused naming the part",
		    test_server_specs_parse_or_are_refused_naming_the_part);
}
