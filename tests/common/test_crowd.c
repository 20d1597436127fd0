/*
 * test_crowd: a server's connections and the one that makes way: the cap
 * under a file descriptor limit, the list kept oldest first through adds
 * and removals, and the victim: the oldest started one, else the oldest
 * quiet one past the grace, else the oldest quiet one; never one being
 * answered.
 */
#include <string.h>

#include "common/crowd.h"
#include "cunit_main.h"

static void test_the_cap(void)
{
	static const struct {
		int conn_max;
		long fds;
		int reserve, min, want;
	} rows[] = {
		{128, -1, 32, 4, 128}, /* no limit */
		{128, 1048576, 32, 4, 128}, {128, 160, 32, 4, 128}, {128, 159, 32, 4, 127},
		{128, 64, 32, 4, 32},       {128, 36, 32, 4, 4},    {128, 10, 32, 4, 4}, /* never below min */
		{2, 1024, 32, 4, 4},
	};
	for (size_t i = 0; i < sizeof rows / sizeof rows[0]; i++)
		CU_ASSERT_EQUAL(crowd_cap(rows[i].conn_max, rows[i].fds, rows[i].reserve, rows[i].min), rows[i].want);
}

static void test_the_list_stays_oldest_first(void)
{
	crowd c = {0};
	crowd_node n[5];
	memset(n, 0, sizeof n);
	for (int i = 0; i < 5; i++)
		crowd_add(&c, &n[i], 10.0 + i);
	CU_ASSERT_EQUAL(c.n, 5);
	crowd_remove(&c, &n[0]); /* head */
	crowd_remove(&c, &n[4]); /* tail */
	crowd_remove(&c, &n[2]); /* middle */
	CU_ASSERT_EQUAL(c.n, 2);
	CU_ASSERT_PTR_EQUAL(c.head, &n[1]);
	CU_ASSERT_PTR_EQUAL(c.head->next, &n[3]);
	CU_ASSERT_PTR_EQUAL(c.tail, &n[3]);
	CU_ASSERT_PTR_EQUAL(c.tail->prev, &n[1]);
	crowd_add(&c, &n[0], 20.0);
	CU_ASSERT_PTR_EQUAL(c.tail, &n[0]);
	CU_ASSERT_DOUBLE_EQUAL(n[0].accepted_at, 20.0, 1e-9);
	crowd_remove(&c, &n[1]);
	crowd_remove(&c, &n[3]);
	crowd_remove(&c, &n[0]);
	CU_ASSERT_EQUAL(c.n, 0);
	CU_ASSERT_PTR_NULL(c.head);
	CU_ASSERT_PTR_NULL(c.tail);
}

/* states: 'S' started, 'A' answering, 'q' quiet; accepted one second apart from 100 */
static int victim_of(const char *states, double now)
{
	crowd c = {0};
	crowd_node n[16];
	memset(n, 0, sizeof n);
	int k = (int)strlen(states);
	for (int i = 0; i < k; i++) {
		crowd_add(&c, &n[i], 100.0 + i);
		n[i].started = states[i] == 'S';
		n[i].answering = states[i] == 'A';
	}
	crowd_node *v = crowd_victim(&c, now, 0.5);
	return v ? (int)(v - n) : -1;
}

static void test_the_victim(void)
{
	static const struct {
		const char *states;
		double now;
		int want;
	} rows[] = {
		{"", 200, -1},     {"A", 200, -1},    {"AAA", 200, -1},  /* nothing may go */
		{"qqS", 200, 2},   {"qSqS", 200, 1},  {"ASq", 200, 1},   /* the oldest started one first */
		{"Aqq", 200, 1},   {"qqq", 200, 0},                      /* else the oldest quiet one */
		{"qqq", 101.6, 0}, {"Aqq", 102.2, 1}, {"Aqq", 101.9, 1}, /* past the grace: n1 at 101 */
		{"Aqq", 101.2, 1},                                       /* none past it: the oldest quiet */
		{"AAq", 102.1, 2}, {"SAq", 102.1, 0},
	};
	for (size_t i = 0; i < sizeof rows / sizeof rows[0]; i++) {
		int got = victim_of(rows[i].states, rows[i].now);
		if (got != rows[i].want)
			printf("\n  %s at %.1f: %d, want %d", rows[i].states, rows[i].now, got, rows[i].want);
		CU_ASSERT_EQUAL(got, rows[i].want);
	}
}

static void test_a_quiet_one_within_its_grace_is_spared(void)
{
	/* n0 quiet since 100, n1 quiet since 100.4: at 100.6 n0 is past its grace and goes first,
	 * even though both are quiet and n0 is the oldest anyway; with n0 answering, n1 goes
	 * only because no other can. */
	crowd c = {0};
	crowd_node n[3];
	memset(n, 0, sizeof n);
	crowd_add(&c, &n[0], 100.0);
	crowd_add(&c, &n[1], 100.4);
	crowd_add(&c, &n[2], 100.5);
	CU_ASSERT_PTR_EQUAL(crowd_victim(&c, 100.6, 0.5), &n[0]);
	n[0].answering = true;
	CU_ASSERT_PTR_EQUAL(crowd_victim(&c, 100.6, 0.5), &n[1]); /* within grace, but the oldest quiet */
	CU_ASSERT_PTR_EQUAL(crowd_victim(&c, 100.95, 0.5), &n[1]);
	n[2].started = true;
	CU_ASSERT_PTR_EQUAL(crowd_victim(&c, 100.6, 0.5), &n[2]); /* a started one before any quiet one */
}

void suite_register(void)
{
	CU_pSuite s = CU_add_suite("crowd", NULL, NULL);
	CU_add_test(s, "the cap", test_the_cap);
	CU_add_test(s, "the list stays oldest first", test_the_list_stays_oldest_first);
	CU_add_test(s, "the victim", test_the_victim);
	CU_add_test(s, "a quiet one within its grace is spared", test_a_quiet_one_within_its_grace_is_spared);
}
