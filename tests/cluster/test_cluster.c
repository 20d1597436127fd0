/*
 * test_cluster: the cluster model of cluster/: member records, the parse of
 * every key into a view (and what it rejects, said), the key table and LSNs.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cunit_main.h"
#include "cluster/cluster.h"
#include "cluster/keys.h"

static void test_member_record_round_trips(void)
{
	member m = {0}, back;
	snprintf(m.name, sizeof m.name, "n1");
	snprintf(m.role, sizeof m.role, "replica");
	m.received_lsn = 0x1234567890ULL;
	m.replayed_lsn = 0x1234;
	m.fenced_term = 42;
	m.priority = -3;
	m.nofailover = true;
	char *json = member_to_json(&m);
	CU_ASSERT_EQUAL(member_from_json(json, &back, NULL), 0);
	CU_ASSERT_EQUAL(back.received_lsn, m.received_lsn);
	CU_ASSERT_EQUAL(back.fenced_term, 42);
	CU_ASSERT_EQUAL(back.priority, -3);
	CU_ASSERT_TRUE(back.nofailover);
	free(json);
	fl_err err = {0};
	CU_ASSERT_EQUAL(member_from_json("{not json", &back, &err), -1);
	CU_ASSERT_EQUAL(member_from_json("[1]", &back, &err), -1);
	CU_ASSERT_EQUAL(member_from_json("{}", &back, &err), -1);
}

static void test_cluster_parse_reads_every_record(void)
{
	etcd_kv kv[] = {
		{"/f/s/initialize", "n1", 2, 2, 0},
		{"/f/s/leader", "n1", 7, 9, 11},
		{"/f/s/status", "{\"leader\":\"n1\",\"term\":7,\"lsn\":\"0/3000060\",\"timeline\":2}", 3, 3, 0},
		{"/f/s/sync", "{\"leader\":\"n1\",\"term\":7,\"members\":[\"n2\",\"n3\"]}", 4, 4, 0},
		{"/f/s/members/n2", "{\"name\":\"n2\",\"role\":\"replica\",\"received_lsn\":\"0/3000000\"}", 5, 5, 22},
		{"/f/s/members/n3", "garbage", 6, 6, 33},
		{"/f/s/members/n4", "{\"name\":\"other\"}", 6, 6, 33},
		{"/f/s/pause", "", 8, 8, 0},
	};
	etcd_kvs kvs = {kv, 8, 10};
	cluster_view v;
	fl_err err = {0};
	CU_ASSERT_EQUAL(cluster_parse(&kvs, "/f/s/", &v, &err), -1);
	CU_ASSERT_TRUE(v.initialized);
	CU_ASSERT_STRING_EQUAL(v.leader, "n1");
	CU_ASSERT_EQUAL(v.leader_term, 7);
	CU_ASSERT_EQUAL(v.leader_lease, 11);
	CU_ASSERT_EQUAL(v.last_lsn, 0x3000060);
	CU_ASSERT_EQUAL(v.last_timeline, 2);
	CU_ASSERT_EQUAL(v.n_sync, 2);
	CU_ASSERT_TRUE(v.paused);
	CU_ASSERT_EQUAL(v.n_members, 1); /* garbage and misnamed records are left out, and said so */
	CU_ASSERT_EQUAL(v.members[0].lease, 22);
	CU_ASSERT_EQUAL(v.n_rejected, 2);
	CU_ASSERT_EQUAL(err.code, FL_ERR_ETCD);
	CU_ASSERT_PTR_NOT_NULL(strstr(err.msg, "2 records under /f/s/ rejected"));
	CU_ASSERT_PTR_NOT_NULL(strstr(err.msg, "/f/s/members/n3: member record is not a JSON object"));
	CU_ASSERT_PTR_NOT_NULL(strstr(v.rejected, "/f/s/members/n3"));
}

static void test_cluster_parse_of_good_records_succeeds(void)
{
	etcd_kv kv[] = {
		{"/f/s/leader", "n1", 7, 9, 11},
		{"/f/s/members/n1", "{\"name\":\"n1\",\"role\":\"primary\"}", 5, 5, 11},
		{"/f/s/drain/n1", "{}", 6, 6, 0},
		{"/f/s/proxies/p1", "{}", 6, 6, 0},
		{"/f/s/newer-record", "whatever", 6, 6, 0},
		{"/f/other/members/n9", "garbage", 6, 6, 0},
	};
	etcd_kvs kvs = {kv, 6, 10};
	cluster_view v;
	fl_err err = {0};
	CU_ASSERT_EQUAL(cluster_parse(&kvs, "/f/s/", &v, &err), 0);
	CU_ASSERT_EQUAL(v.n_members, 1);
	CU_ASSERT_EQUAL(v.n_rejected, 0);
	CU_ASSERT_TRUE(cluster_drained(&v, "n1"));
	CU_ASSERT_FALSE(cluster_drained(&v, "n2"));
	CU_ASSERT_EQUAL(v.n_proxies, 1); /* the other scope's records are not this one's */
}

static void test_the_history_record_comes_whole(void)
{
	static char big[50000];
	memset(big, 'x', sizeof big - 1);
	big[0] = '[';
	etcd_kv kv[] = {{"/f/s/members/n1", "{}", 1, 1, 0}, {"/f/s/history", big, 2, 2, 0}};
	etcd_kvs kvs = {kv, 2, 10};
	const char *h = cluster_history(&kvs, "/f/s/");
	CU_ASSERT_PTR_NOT_NULL_FATAL(h);
	CU_ASSERT_EQUAL(strlen(h), sizeof big - 1);
	CU_ASSERT_PTR_NULL(cluster_history(&kvs, "/f/other/"));
	kvs.n = 1;
	CU_ASSERT_PTR_NULL(cluster_history(&kvs, "/f/s/"));
}

static void test_records_round_trip(void)
{
	char names[2][CLUSTER_NAME_MAX] = {"n2", "n3"};
	char *status = status_to_json("n1", 7, 0x3000060, 2), *sync = sync_to_json("n1", 7, names, 2),
	     *so = switchover_to_json("n1", "n3", 1795611600.5);
	etcd_kv kv[] = {
		{"/f/s/leader", "n1", 7, 9, 11},
		{"/f/s/status", status, 3, 3, 0},
		{"/f/s/sync", sync, 4, 4, 0},
		{"/f/s/switchover", so, 5, 5, 0},
		{"/f/s/members/n1", "{\"name\":\"n1\",\"role\":\"primary\",\"running\":true}", 5, 5, 11},
		{"/f/s/members/n2", "{\"name\":\"n2\",\"role\":\"replica\",\"running\":true,\"streaming\":true}", 5, 5,
		 12},
		{"/f/s/members/n3",
		 "{\"name\":\"n3\",\"role\":\"replica\",\"running\":true,\"state\":\"cloning\",\"progress\":{\"done\":"
		 "5,\"total\":10}}",
		 5, 5, 13},
		{"/f/s/members/n4", "{\"name\":\"n4\",\"role\":\"replica\",\"running\":true}", 5, 5, 14},
	};
	etcd_kvs kvs = {kv, 8, 10};
	cluster_view v;
	CU_ASSERT_EQUAL(cluster_parse(&kvs, "/f/s/", &v, NULL), 0);
	CU_ASSERT_TRUE(v.has_status);
	CU_ASSERT_STRING_EQUAL(v.last_leader, "n1");
	CU_ASSERT_EQUAL(v.last_term, 7);
	CU_ASSERT_EQUAL(v.last_lsn, 0x3000060);
	CU_ASSERT_EQUAL(v.last_timeline, 2);
	CU_ASSERT_TRUE(v.has_sync);
	CU_ASSERT_EQUAL(v.sync_term, 7);
	CU_ASSERT_TRUE(cluster_in_sync(&v, "n3"));
	CU_ASSERT_FALSE(cluster_in_sync(&v, "n4"));
	CU_ASSERT_TRUE(v.has_switchover);
	CU_ASSERT_STRING_EQUAL(v.switchover_leader, "n1");
	CU_ASSERT_STRING_EQUAL(v.switchover_candidate, "n3");
	CU_ASSERT_DOUBLE_EQUAL(v.switchover_at, 1795611600.5, 1e-6);
	/* Roles and states as operators see them. */
	v.leader_term = 7;
	CU_ASSERT_STRING_EQUAL(cluster_member_role(&v, cluster_member(&v, "n1")), "leader");
	CU_ASSERT_STRING_EQUAL(cluster_member_role(&v, cluster_member(&v, "n2")), "sync_standby");
	CU_ASSERT_STRING_EQUAL(cluster_member_role(&v, cluster_member(&v, "n4")), "replica");
	CU_ASSERT_STRING_EQUAL(cluster_member_state(&v, cluster_member(&v, "n1")), "running");
	CU_ASSERT_STRING_EQUAL(cluster_member_state(&v, cluster_member(&v, "n2")), "streaming");
	CU_ASSERT_STRING_EQUAL(cluster_member_state(&v, cluster_member(&v, "n3")), "cloning");
	CU_ASSERT_STRING_EQUAL(cluster_member_state(&v, cluster_member(&v, "n4")), "in archive recovery");
	CU_ASSERT_EQUAL(cluster_member(&v, "n3")->progress_done, 5);
	CU_ASSERT_EQUAL(cluster_member(&v, "n3")->progress_total, 10);
	((member *)cluster_member(&v, "n4"))->running = false;
	CU_ASSERT_STRING_EQUAL(cluster_member_state(&v, cluster_member(&v, "n4")), "stopped");
	/* The lag behind the leader's last position: its record first, else the status. */
	((member *)cluster_member(&v, "n1"))->wal_lsn = 0x3000100;
	CU_ASSERT_EQUAL(cluster_lag(&v, 0x3000000, 0x2000000), 0x100);
	CU_ASSERT_EQUAL(cluster_lag(&v, 0x4000000, 0), 0);
	v.has_leader = false;
	CU_ASSERT_EQUAL(cluster_leader_position(&v), 0x3000060);
	free(status);
	free(sync);
	free(so);
}

static void test_malformed_records_are_rejected_not_dropped_silently(void)
{
	static const struct {
		const char *key, *value, *why;
	} rows[] = {
		{"/f/s/status", "[1]", "status record is not a JSON object"},
		{"/f/s/status", "{oops", "status record is not a JSON object"},
		{"/f/s/sync", "{\"members\":\"n2\"}", "sync record is not a JSON object with a \"members\" array"},
		{"/f/s/switchover", "\"n2\"", "switchover record is not a JSON object"},
		{"/f/s/drain/a-name-longer-than-sixty-four-characters-is-no-member-name-of-flotilla", "{}",
		 "not a member name"},
	};
	for (unsigned i = 0; i < sizeof rows / sizeof rows[0]; i++) {
		etcd_kv kv[] = {{(char *)rows[i].key, (char *)rows[i].value, 1, 1, 0}};
		etcd_kvs kvs = {kv, 1, 10};
		cluster_view v;
		fl_err err = {0};
		CU_ASSERT_EQUAL(cluster_parse(&kvs, "/f/s/", &v, &err), -1);
		CU_ASSERT_FALSE(v.has_status || v.has_sync || v.has_switchover || v.n_drained);
		if (strstr(err.msg, rows[i].why) == NULL || strstr(err.msg, rows[i].key) == NULL)
			printf("\n  %s: %s", rows[i].key, err.msg);
		CU_ASSERT_PTR_NOT_NULL(strstr(err.msg, rows[i].why));
		CU_ASSERT_PTR_NOT_NULL(strstr(err.msg, rows[i].key));
	}
}

/* What anyone who can write to etcd may try in a member record, refused before it reaches SQL or a config. */
static void test_member_records_are_validated(void)
{
	static const struct {
		const char *json, *why;
	} rows[] = {
		{"{\"name\":\"n1\",\"role\":\"primary\"}", NULL},
		{"{\"name\":\"n1'; DROP TABLE x; --\",\"role\":\"replica\"}", "name is not a node name"},
		{"{\"name\":\"N1\",\"role\":\"replica\"}", "name is not a node name"},
		{"{\"name\":\"n1\\\"x\",\"role\":\"replica\"}", "name is not a node name"},
		{"{\"name\":\"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\",\"role\":"
		 "\"replica\"}",
		 "name is too long"},
		{"{\"name\":\"n1\"}", "role \"\" is none of"},
		{"{\"name\":\"n1\",\"role\":\"leader\"}", "role \"leader\" is none of"},
		{"{\"name\":\"n1\",\"role\":\"replica\",\"state\":\"hacking\"}", "state \"hacking\" is unknown"},
		{"{\"name\":\"n1\",\"role\":\"replica\",\"conn_address\":\"evil host=x:5432\"}",
		 "conn_address is not host:port"},
		{"{\"name\":\"n1\",\"role\":\"replica\",\"conn_address\":\"host' port=1\"}",
		 "conn_address is not host:port"},
		{"{\"name\":\"n1\",\"role\":\"replica\",\"api_url\":\"file:///etc/passwd\"}",
		 "api_url is not an http:// or https:// URL"},
		{"{\"name\":\"n1\",\"role\":\"replica\",\"api_url\":\"http://a b\"}",
		 "api_url is not an http:// or https:// URL"},
		{"{\"name\":\"n1\",\"role\":\"replica\",\"conn_address\":\"127.0.0.1:5432\",\"api_url\":\"http://"
		 "127.0.0.1:8008\"}",
		 NULL},
	};
	for (unsigned i = 0; i < sizeof rows / sizeof rows[0]; i++) {
		member m;
		fl_err err = {0};
		int rc = member_from_json(rows[i].json, &m, &err);
		bool ok = rows[i].why ? rc == -1 && err.code == FL_ERR_ETCD && strstr(err.msg, rows[i].why) : rc == 0;
		if (!ok)
			printf("\n  %s: rc %d: %s", rows[i].json, rc, err.msg);
		CU_ASSERT_TRUE(ok);
	}
}

static void test_a_rejection_is_news_once(void)
{
	cluster_view v = {0};
	char last[sizeof v.rejected] = "";
	CU_ASSERT_FALSE(cluster_rejection_news(&v, last, sizeof last));
	v.n_rejected = 1;
	snprintf(v.rejected, sizeof v.rejected, "/f/s/members/x: bad");
	CU_ASSERT_TRUE(cluster_rejection_news(&v, last, sizeof last));
	CU_ASSERT_FALSE(cluster_rejection_news(&v, last, sizeof last)); /* the same again: not news */
	v.n_rejected = 0;
	v.rejected[0] = '\0';
	CU_ASSERT_FALSE(cluster_rejection_news(&v, last, sizeof last)); /* gone: forgotten, not news */
	CU_ASSERT_STRING_EQUAL(last, "");
	v.n_rejected = 1;
	snprintf(v.rejected, sizeof v.rejected, "/f/s/members/x: bad");
	CU_ASSERT_TRUE(cluster_rejection_news(&v, last, sizeof last)); /* back: news again */
}

static void test_too_many_members_are_reported(void)
{
	static etcd_kv kv[CLUSTER_MAX_MEMBERS + 1];
	static char keys[CLUSTER_MAX_MEMBERS + 1][64], vals[CLUSTER_MAX_MEMBERS + 1][64];
	for (int i = 0; i <= CLUSTER_MAX_MEMBERS; i++) {
		snprintf(keys[i], sizeof keys[i], "/f/s/members/n%d", i);
		snprintf(vals[i], sizeof vals[i], "{\"name\":\"n%d\",\"role\":\"replica\"}", i);
		kv[i] = (etcd_kv){keys[i], vals[i], 1, 1, 0};
	}
	etcd_kvs kvs = {kv, CLUSTER_MAX_MEMBERS + 1, 10};
	cluster_view v;
	fl_err err = {0};
	CU_ASSERT_EQUAL(cluster_parse(&kvs, "/f/s/", &v, &err), -1);
	CU_ASSERT_EQUAL(v.n_members, CLUSTER_MAX_MEMBERS);
	CU_ASSERT_PTR_NOT_NULL(strstr(err.msg, "more members than 32"));
}

static void test_lsn_text_round_trips(void)
{
	uint64_t v;
	char buf[32];
	CU_ASSERT_EQUAL(lsn_parse("16/B374D848", &v), 0);
	CU_ASSERT_EQUAL(v, 0x16B374D848ULL);
	lsn_format(v, buf, sizeof buf);
	CU_ASSERT_STRING_EQUAL(buf, "16/B374D848");
	CU_ASSERT_EQUAL(lsn_parse("16B374D848", &v), -1);
	CU_ASSERT_EQUAL(lsn_parse("0/1x", &v), -1);
	CU_ASSERT_EQUAL(lsn_parse(NULL, &v), -1);
}

static void test_keys_are_built_from_the_table(void)
{
	char root[64], k[128];
	CU_ASSERT_EQUAL(keys_root("/flotilla", "demo", root, sizeof root), 0);
	CU_ASSERT_STRING_EQUAL(root, "/flotilla/demo/");
	CU_ASSERT_EQUAL(keys_path(root, KEY_LEADER, NULL, k, sizeof k), 0);
	CU_ASSERT_STRING_EQUAL(k, "/flotilla/demo/leader");
	CU_ASSERT_EQUAL(keys_path(root, KEY_MEMBER, "n2", k, sizeof k), 0);
	CU_ASSERT_STRING_EQUAL(k, "/flotilla/demo/members/n2");
	CU_ASSERT_EQUAL(keys_folder(root, KEY_PROXY, k, sizeof k), 0);
	CU_ASSERT_STRING_EQUAL(k, "/flotilla/demo/proxies/");
	CU_ASSERT_EQUAL(keys_path(root, KEY_DRAIN, "n3", k, 20), -1); /* does not fit */
	CU_ASSERT_EQUAL(keys_root("/p", "a-scope-name-that-is-long", root, 8), -1);
}

static void test_every_key_is_recognised_and_nothing_else(void)
{
	const char *root = "/f/s/";
	for (int k = 0; k < KEY__COUNT; k++) {
		char full[128];
		const char *item = NULL;
		keys_path(root, (cluster_key)k, "n1", full, sizeof full);
		CU_ASSERT_EQUAL(keys_match(root, full, &item), (cluster_key)k);
		if (keys_table[k].per_item) {
			CU_ASSERT_STRING_EQUAL(item, "n1");
		} else {
			CU_ASSERT_PTR_NULL(item);
		}
	}
	const char *item = NULL;
	CU_ASSERT_EQUAL(keys_match(root, "/f/s/members/", &item), KEY__COUNT);
	CU_ASSERT_EQUAL(keys_match(root, "/f/s/leaderx", &item), KEY__COUNT);
	CU_ASSERT_EQUAL(keys_match(root, "/f/t/leader", &item), KEY__COUNT);
	CU_ASSERT_EQUAL(keys_match(root, "/f/s/", &item), KEY__COUNT);
}

/* docs/replicator.md shows the table as keys_print_markdown renders it, so the two cannot drift apart. */
static void test_docs_show_the_key_table(void)
{
	char *table = cunit_printed(keys_print_markdown);
	CU_ASSERT_TRUE(cunit_doc_holds(FLOTILLA_SOURCE_DIR "/docs/replicator.md", table, "the key table"));
	free(table);
}

void suite_register(void)
{
	CU_pSuite c = CU_add_suite("cluster", NULL, NULL);
	CU_add_test(c, "member record round-trips", test_member_record_round_trips);
	CU_add_test(c, "cluster_parse reads every record and names what it rejects",
		    test_cluster_parse_reads_every_record);
	CU_add_test(c, "cluster_parse of good records succeeds", test_cluster_parse_of_good_records_succeeds);
	CU_add_test(c, "too many members are reported", test_too_many_members_are_reported);
	CU_add_test(c, "a rejection is news once", test_a_rejection_is_news_once);
	CU_add_test(c, "the history record comes whole", test_the_history_record_comes_whole);
	CU_add_test(c, "records round-trip", test_records_round_trip);
	CU_add_test(c, "member records are validated", test_member_records_are_validated);
	CU_add_test(c, "malformed records are rejected, not dropped silently",
		    test_malformed_records_are_rejected_not_dropped_silently);
	CU_add_test(c, "LSN text round-trips", test_lsn_text_round_trips);
	CU_pSuite k = CU_add_suite("keys", NULL, NULL);
	CU_add_test(k, "keys are built from the table", test_keys_are_built_from_the_table);
	CU_add_test(k, "every key is recognised and nothing else", test_every_key_is_recognised_and_nothing_else);
	CU_add_test(k, "docs show the key table", test_docs_show_the_key_table);
}
