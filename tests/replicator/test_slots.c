/*
 * test_slots: the leader's slot book: present members keep a slot, self
 * never, a departed one for `keep` seconds and not after, names that come
 * and go for ever still get a slot, and a full book makes way for a present
 * member by forgetting the one gone the longest.
 */
#include <stdio.h>
#include <string.h>

#include "cunit_main.h"
#include "replicator/slots.h"
#include "replicator/sync.h"

static void view_of(cluster_view *v, int n, const char *const *names)
{
	memset(v, 0, sizeof *v);
	for (int i = 0; i < n; i++)
		snprintf(v->members[v->n_members++].name, CLUSTER_NAME_MAX, "%s", names[i]);
}

static void test_present_members_but_self(void)
{
	slot_book b = {0};
	cluster_view v;
	name_set out;
	view_of(&v, 3, (const char *[]){"n1", "n2", "n3"});
	slot_book_update(&b, &v, "n1", 10, 300, &out);
	CU_ASSERT_EQUAL(out.n, 2);
	CU_ASSERT_TRUE(name_set_has(&out, "n2") && name_set_has(&out, "n3"));
	CU_ASSERT_FALSE(name_set_has(&out, "n1"));
}

static void test_a_departed_member_for_keep_seconds(void)
{
	static const struct {
		double now;
		bool kept;
	} rows[] = {{10, true}, {100, true}, {310, true}, {310.01, false}, {1000, false}};
	for (unsigned i = 0; i < sizeof rows / sizeof rows[0]; i++) {
		slot_book b = {0};
		cluster_view v;
		name_set out;
		view_of(&v, 2, (const char *[]){"n1", "n2"});
		slot_book_update(&b, &v, "n1", 10, 300, &out);
		view_of(&v, 1, (const char *[]){"n1"}); /* n2 leaves at 10 */
		slot_book_update(&b, &v, "n1", rows[i].now, 300, &out);
		CU_ASSERT_EQUAL(name_set_has(&out, "n2"), rows[i].kept);
		view_of(&v, 2, (const char *[]){"n1", "n2"}); /* and comes back */
		slot_book_update(&b, &v, "n1", rows[i].now + 1, 300, &out);
		CU_ASSERT_TRUE(name_set_has(&out, "n2"));
	}
}

static void test_names_that_come_and_go_never_fill_the_book(void)
{
	slot_book b = {0};
	cluster_view v;
	name_set out;
	for (int i = 0; i < 500; i++) { /* one new member a minute, each staying two minutes */
		char a[16], c[16];
		snprintf(a, sizeof a, "m%d", i);
		snprintf(c, sizeof c, "m%d", i + 1);
		view_of(&v, 3, (const char *[]){"leader", a, c});
		slot_book_update(&b, &v, "leader", 60.0 * i, 300, &out);
		CU_ASSERT_TRUE(name_set_has(&out, a) && name_set_has(&out, c));
		CU_ASSERT_TRUE(b.n <= 7); /* the two present and those gone less than 300 s ago */
	}
}

static void test_a_full_book_forgets_the_longest_gone(void)
{
	slot_book b = {0};
	cluster_view v;
	name_set out;
	for (int i = 0; i < CLUSTER_MAX_MEMBERS; i++) { /* 32 members, each seen once, one second apart */
		char a[16];
		snprintf(a, sizeof a, "m%02d", i);
		view_of(&v, 1, (const char *[]){a});
		slot_book_update(&b, &v, "leader", 100.0 + i, 300, &out);
	}
	CU_ASSERT_EQUAL(b.n, CLUSTER_MAX_MEMBERS);
	view_of(&v, 1, (const char *[]){"new"});
	slot_book_update(&b, &v, "leader", 140, 300, &out);
	CU_ASSERT_TRUE(name_set_has(&out, "new"));
	CU_ASSERT_FALSE(name_set_has(&out, "m00")); /* gone the longest */
	CU_ASSERT_TRUE(name_set_has(&out, "m01") && name_set_has(&out, "m31"));
	CU_ASSERT_EQUAL(out.n, CLUSTER_MAX_MEMBERS);
}

void suite_register(void)
{
	CU_pSuite s = CU_add_suite("slots", NULL, NULL);
	CU_add_test(s, "present members but self", test_present_members_but_self);
	CU_add_test(s, "a departed member for keep seconds", test_a_departed_member_for_keep_seconds);
	CU_add_test(s, "names that come and go never fill the book", test_names_that_come_and_go_never_fill_the_book);
	CU_add_test(s, "a full book forgets the longest gone", test_a_full_book_forgets_the_longest_gone);
}
