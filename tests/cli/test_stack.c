/*
 * test_stack: the pure parts of `flotilla stack`: a container's state as
 * `docker inspect` prints it ("SERVICE STATUS [HEALTH]"), the compose
 * project names it accepts, and what each stack runs: its images, the
 * secrets it reads and the services it waits for.
 */
#include <CUnit/CUnit.h>
#include <string.h>

#include "cli/cmd_stack.h"

/* clang-format off */
static const struct {
	const char *line;
	int rc;
	const char *name;
	stack_health health;
} lines[] = {
	{"db1 running healthy", 0, "db1", STACK_HEALTHY},
	{"db1 running starting", 0, "db1", STACK_STARTING},
	{"db1 running unhealthy", 0, "db1", STACK_FAILED},
	{"etcd1 running ", 0, "etcd1", STACK_HEALTHY},          /* no healthcheck: running is enough */
	{"etcd1 running", 0, "etcd1", STACK_HEALTHY},
	{"haproxy created ", 0, "haproxy", STACK_STARTING},
	{"haproxy restarting starting", 0, "haproxy", STACK_STARTING},
	{"db2 exited unhealthy", 0, "db2", STACK_FAILED},
	{"db2 exited ", 0, "db2", STACK_FAILED},
	{"db2 dead", 0, "db2", STACK_FAILED},
	{"db2 paused healthy", 0, "db2", STACK_FAILED},
	{"db2 removing", 0, "db2", STACK_FAILED},
	{"db3 running sleepy", -1, "", STACK_HEALTHY},
	{"db3 flying", -1, "", STACK_HEALTHY},
	{"db3", -1, "", STACK_HEALTHY},
	{"", -1, "", STACK_HEALTHY},
	{"   ", -1, "", STACK_HEALTHY},
};
/* clang-format on */

static void test_inspect_lines_give_each_service_state(void)
{
	for (size_t i = 0; i < sizeof lines / sizeof lines[0]; i++) {
		char name[64] = "";
		stack_health h = STACK_HEALTHY;
		int rc = stack_health_parse(lines[i].line, name, sizeof name, &h);
		CU_ASSERT_EQUAL(rc, lines[i].rc);
		if (rc != lines[i].rc)
			fprintf(stderr, "\n  line %zu \"%s\": rc %d", i, lines[i].line, rc);
		if (rc == 0) {
			CU_ASSERT_STRING_EQUAL(name, lines[i].name);
			CU_ASSERT_EQUAL(h, lines[i].health);
		}
	}
}

static void test_a_name_longer_than_the_buffer_is_refused(void)
{
	char name[4];
	stack_health h;
	CU_ASSERT_EQUAL(stack_health_parse("db1 running healthy", name, sizeof name, &h), 0);
	CU_ASSERT_EQUAL(stack_health_parse("db12 running healthy", name, sizeof name, &h), -1);
}

static void test_project_names(void)
{
	static const char *const good[] = {"flotilla-ha", "a", "0", "x_y-z9",
					   "abcdefghijabcdefghijabcdefghijabcdefghijabcdefghijabcdefghij123"};
	static const char *const bad[] = {"",
					  "-a",
					  "_a",
					  "A",
					  "a b",
					  "a/b",
					  "a.b",
					  "a;rm",
					  "é",
					  "a\nb",
					  "$(x)",
					  "flotilla-HA",
					  "abcdefghijabcdefghijabcdefghijabcdefghijabcdefghijabcdefghij1234"};
	for (size_t i = 0; i < sizeof good / sizeof good[0]; i++)
		CU_ASSERT_TRUE(stack_project_valid(good[i]));
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		if (stack_project_valid(bad[i]))
			fprintf(stderr, "\n  accepted \"%s\"", bad[i]);
		CU_ASSERT_FALSE(stack_project_valid(bad[i]));
	}
}

/* clang-format off */
static const struct {
	const char *stack;
	bool monitoring, swarm;
	bool db, etcd, haproxy, backup, prometheus;
	int services;
} runs[] = {
	/* stack    monit  swarm  db    etcd  haproxy backup prometheus services */
	{"ha",     false, false, true, true, true,  true,  false, 8},
	{"ha",     true,  false, true, true, true,  true,  true,  9},
	{"ha",     false, true,  true, true, true,  true,  false, 8},
	{"ha",     true,  true,  true, true, true,  true,  false, 8},   /* Swarm: no Prometheus */
	{"dev",    false, false, true, true, true,  true,  false, 8},
	{"dev",    true,  false, true, true, true,  true,  true,  9},
	{"single", false, false, true, true, false, false, false, 2},
};
/* clang-format on */

static void test_each_stack_runs_its_images_and_waits_for_its_services(void)
{
	for (size_t i = 0; i < sizeof runs / sizeof runs[0]; i++) {
		const char *st = runs[i].stack;
		bool m = runs[i].monitoring, w = runs[i].swarm;
		bool got[] = {stack_image_needed(st, "db", m, w), stack_image_needed(st, "etcd", m, w),
			      stack_image_needed(st, "haproxy", m, w), stack_image_needed(st, "backup", m, w),
			      stack_image_needed(st, "prometheus", m, w)};
		bool want[] = {runs[i].db, runs[i].etcd, runs[i].haproxy, runs[i].backup, runs[i].prometheus};
		for (size_t j = 0; j < sizeof got / sizeof got[0]; j++) {
			if (got[j] != want[j])
				fprintf(stderr, "\n  row %zu (%s): image %zu needed %d", i, st, j, got[j]);
			CU_ASSERT_EQUAL(got[j], want[j]);
		}
		int n = stack_services_expected(st, m, w);
		if (n != runs[i].services)
			fprintf(stderr, "\n  row %zu (%s): %d services", i, st, n);
		CU_ASSERT_EQUAL(n, runs[i].services);
	}
	CU_ASSERT_EQUAL(stack_services_expected("huge", false, false), -1);
}

static void test_backup_token_only_where_the_sidecar_runs(void)
{
	static const char *const every[] = {"superuser_password", "replication_password", "api_token"};
	static const char *const stacks[] = {"ha", "dev", "single"};
	for (size_t i = 0; i < sizeof stacks / sizeof stacks[0]; i++)
		for (size_t j = 0; j < sizeof every / sizeof every[0]; j++)
			CU_ASSERT_TRUE(stack_secret_needed(stacks[i], every[j]));
	CU_ASSERT_TRUE(stack_secret_needed("ha", "backup_token"));
	CU_ASSERT_TRUE(stack_secret_needed("dev", "backup_token"));
	CU_ASSERT_FALSE(stack_secret_needed("single", "backup_token"));
	CU_ASSERT_FALSE(stack_secret_needed("ha", "etcd_password"));
}

void suite_register(void)
{
	CU_pSuite s = CU_add_suite("stack", NULL, NULL);
	CU_add_test(s, "inspect lines give each service's state", test_inspect_lines_give_each_service_state);
	CU_add_test(s, "a name longer than the buffer is refused", test_a_name_longer_than_the_buffer_is_refused);
	CU_add_test(s, "project names", test_project_names);
	CU_add_test(s, "each stack runs its images and waits for its services",
		    test_each_stack_runs_its_images_and_waits_for_its_services);
	CU_add_test(s, "backup_token only where the sidecar runs", test_backup_token_only_where_the_sidecar_runs);
}
