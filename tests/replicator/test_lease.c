/*
 * test_lease: the fencing arithmetic: a leader's deadline is its last sent
 * renewal + ttl - margin, and no etcd request of a leader may outlive it.
 */
#include "cunit_main.h"
#include "replicator/lease.h"

static void test_fence_left_counts_from_the_sent_renewal(void)
{
	decide_config cfg = {.ttl = 3, .fence_margin = 1.0};
	agent_state a = {.leader = true, .lease_renewed_at = 100.0};
	CU_ASSERT_DOUBLE_EQUAL(lease_fence_left(&cfg, &a, 100.0), 2.0, 1e-9);
	CU_ASSERT_DOUBLE_EQUAL(lease_fence_left(&cfg, &a, 101.5), 0.5, 1e-9);
	CU_ASSERT_TRUE(lease_fence_left(&cfg, &a, 102.5) < 0);
	a.leader = false;
	CU_ASSERT_TRUE(lease_fence_left(&cfg, &a, 102.5) > 1e6); /* a replica never fences */
}

static void test_a_leaders_requests_end_before_its_deadline(void)
{
	static const struct {
		bool leader;
		double now, retry, want;
	} rows[] = {
		{true, 100.0, 1.0, 1.0},   /* 2 s left: the full retry_timeout */
		{true, 101.2, 1.0, 0.8},   /* 0.8 s left: cut to it */
		{true, 101.99, 1.0, 0.05}, /* 10 ms left: the 50 ms floor */
		{true, 103.0, 1.0, 0.05},  /* past the deadline */
		{false, 103.0, 1.0, 1.0},  /* a replica keeps retry_timeout */
		{false, 100.0, 0.3, 0.3},
	};
	decide_config cfg = {.ttl = 3, .fence_margin = 1.0};
	for (unsigned i = 0; i < sizeof rows / sizeof rows[0]; i++) {
		agent_state a = {.leader = rows[i].leader, .lease_renewed_at = 100.0};
		CU_ASSERT_DOUBLE_EQUAL(lease_request_timeout(&cfg, &a, rows[i].retry, rows[i].now), rows[i].want, 1e-9);
	}
}

/* A reload changed ttl: the deadlines count with the shorter of the lease's own ttl and the new one. */
static void test_a_reloaded_ttl_counts_once_its_lease_has_it(void)
{
	decide_config cfg = {.ttl = 10, .fence_margin = 1.0};
	agent_state a = {.leader = true, .lease = 7, .lease_renewed_at = 100.0, .lease_ttl = 3};
	CU_ASSERT_EQUAL(decide_lease_ttl(&cfg, &a), 3); /* raised: the lease still lives 3 s */
	CU_ASSERT_DOUBLE_EQUAL(decide_fence_deadline(&cfg, &a), 102.0, 1e-9);
	CU_ASSERT_DOUBLE_EQUAL(lease_fence_process_deadline(&cfg, &a), 102.5, 1e-9);
	CU_ASSERT_TRUE(lease_needs_regrant(&cfg, &a));
	a.lease_ttl = 10;
	CU_ASSERT_DOUBLE_EQUAL(decide_fence_deadline(&cfg, &a), 109.0, 1e-9);
	CU_ASSERT_FALSE(lease_needs_regrant(&cfg, &a));
	cfg.ttl = 4; /* lowered: the new ttl at once */
	CU_ASSERT_EQUAL(decide_lease_ttl(&cfg, &a), 4);
	CU_ASSERT_TRUE(lease_needs_regrant(&cfg, &a));
	a.lease_ttl = 0; /* unknown: the configured ttl */
	CU_ASSERT_EQUAL(decide_lease_ttl(&cfg, &a), 4);
	a.lease = 0;
	CU_ASSERT_FALSE(lease_needs_regrant(&cfg, &a)); /* no lease: the next grant takes the ttl */
}

/* After a failed renewal, the next attempt comes soon while the lease may still be alive, for any agent. */
static void test_a_failed_renewal_is_retried_soon_while_the_lease_lives(void)
{
	static const struct {
		bool leader;
		int64_t lease;
		unsigned streak;
		double now, want;
	} rows[] = {
		{true, 7, 1, 101.5, LEASE_RETRY_STEP},  /* an attempt held 1 s: 0.5 s left to the deadline */
		{true, 7, 5, 101.9, LEASE_RETRY_STEP},  /* still failing, 0.1 s left */
		{true, 7, 0, 101.5, -1},                /* the last renewal worked: the normal loop */
		{false, 7, 1, 102.9, LEASE_RETRY_STEP}, /* a replica: its member key lives until sent + ttl */
		{false, 7, 3, 103.0, -1},               /* etcd may have expired the lease: no hurry */
		{true, 7, 2, 104.0, -1},
		{false, 0, 1, 100.5, -1}, /* no lease: a grant, at the normal loop */
	};
	decide_config cfg = {.ttl = 3, .fence_margin = 1.0};
	for (unsigned i = 0; i < sizeof rows / sizeof rows[0]; i++) {
		agent_state a = {.leader = rows[i].leader, .lease = rows[i].lease, .lease_renewed_at = 100.0};
		lease_counters c = {.streak = rows[i].streak};
		CU_ASSERT_DOUBLE_EQUAL(lease_retry_delay(&cfg, &a, &c, rows[i].now), rows[i].want, 1e-9);
	}
}

void suite_register(void)
{
	CU_pSuite s = CU_add_suite("lease", NULL, NULL);
	CU_add_test(s, "fence left counts from the sent renewal", test_fence_left_counts_from_the_sent_renewal);
	CU_add_test(s, "a leader's requests end before its deadline", test_a_leaders_requests_end_before_its_deadline);
	CU_add_test(s, "a reloaded ttl counts once its lease has it", test_a_reloaded_ttl_counts_once_its_lease_has_it);
	CU_add_test(s, "a failed renewal is retried soon while the lease lives",
		    test_a_failed_renewal_is_retried_soon_while_the_lease_lives);
}
