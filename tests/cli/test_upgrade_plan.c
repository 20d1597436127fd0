/*
 * test_upgrade_plan: the rolling upgrade's decisions. Refusals, one row
 * each (paused, a backup running, no leader, a member without a container,
 * one not streaming, one lagging or not reporting its lag, two drained, a
 * single member), and the drained node a failed run left, which does not
 * block a re-run. Then whole upgrades played step by step against a model
 * of the cluster, from every starting point: each step moves one node,
 * replicas before the switchover, the switchover to an upgraded replica,
 * the old leader last, and the run ends with every member on the image.
 */
#include <stdio.h>
#include <string.h>

#include "cli/upgrade_plan.h"
#include "cunit_main.h"

#define OLD "sha256:old"
#define NEW "sha256:new"
#define ROWS(a) (sizeof(a) / sizeof((a)[0]))

/* db1 leads, db2 and db3 stream; every one on OLD. */
static upgrade_view healthy(void)
{
	upgrade_view v = {.n = 3};
	const char *names[] = {"db1", "db2", "db3"};
	for (int i = 0; i < 3; i++) {
		upgrade_member *m = &v.m[i];
		snprintf(m->name, sizeof m->name, "%s", names[i]);
		m->leader = i == 0;
		m->streaming = true;
		m->lag_mb = 0;
		snprintf(m->image, sizeof m->image, "%s", OLD);
	}
	return v;
}

static void test_refusals(void)
{
	static const struct {
		const char *what, *why;
	} rows[] = {
		{"paused", "the cluster is paused"},
		{"backup", "a base backup is running"},
		{"no leader", "the cluster has no leader"},
		{"no container", "member db3 has no container"},
		{"not streaming", "member db2 is not streaming"},
		{"leader down", "member db1 is not running"},
		{"lagging", "member db3 lags 5 MB behind the leader (at most 1)"},
		{"lag unknown", "member db2 does not report its lag"},
		{"two drained", "more than one member is drained"},
		{"alone", "needs a replica"},
	};
	for (unsigned i = 0; i < ROWS(rows); i++) {
		upgrade_view v = healthy();
		const char *w = rows[i].what;
		if (strcmp(w, "paused") == 0)
			v.paused = true;
		else if (strcmp(w, "backup") == 0)
			v.backup_running = true;
		else if (strcmp(w, "no leader") == 0)
			v.m[0].leader = false;
		else if (strcmp(w, "no container") == 0)
			v.m[2].image[0] = '\0';
		else if (strcmp(w, "not streaming") == 0)
			v.m[1].streaming = false;
		else if (strcmp(w, "leader down") == 0)
			v.m[0].streaming = false;
		else if (strcmp(w, "lagging") == 0)
			v.m[2].lag_mb = 5;
		else if (strcmp(w, "lag unknown") == 0)
			v.m[1].lag_mb = -1;
		else if (strcmp(w, "two drained") == 0)
			v.m[1].drained = v.m[2].drained = true;
		else if (strcmp(w, "alone") == 0)
			v.n = 1;
		char why[256] = "";
		int rc = upgrade_refusal(&v, NEW, 1, why, sizeof why);
		if (rc != -1 || strstr(why, rows[i].why) == NULL)
			printf("\n  row %s: %d \"%s\"", w, rc, why);
		CU_ASSERT_EQUAL(rc, -1);
		CU_ASSERT_PTR_NOT_NULL(strstr(why, rows[i].why));
	}
	/* A healthy cluster, and one with the node a failed run left drained, unhealthy, on a bad image. */
	upgrade_view v = healthy();
	char why[256] = "";
	CU_ASSERT_EQUAL(upgrade_refusal(&v, NEW, 1, why, sizeof why), 0);
	v.m[1].drained = true;
	v.m[1].streaming = false;
	v.m[1].lag_mb = -1;
	snprintf(v.m[1].image, sizeof v.m[1].image, "sha256:bad");
	CU_ASSERT_EQUAL(upgrade_refusal(&v, NEW, 1, why, sizeof why), 0);
	upgrade_step s = upgrade_next(&v, NEW);
	CU_ASSERT_EQUAL(s.kind, UPGRADE_NODE);
	CU_ASSERT_STRING_EQUAL(s.node, "db2");
	/* A drained leader is the operator's business, not a failed run's. */
	v = healthy();
	v.m[0].drained = true;
	CU_ASSERT_EQUAL(upgrade_refusal(&v, NEW, 1, why, sizeof why), 0);
}

/* Plays a whole upgrade: each NODE step puts the node on NEW; a SWITCHOVER moves the key. */
static void play(upgrade_view v, const char *start)
{
	char trace[256] = "";
	int steps = 0, switchovers = 0;
	bool leader_done_before_switchover = false;
	for (;;) {
		char why[256];
		CU_ASSERT_EQUAL_FATAL(upgrade_refusal(&v, NEW, 1, why, sizeof why), 0);
		upgrade_step s = upgrade_next(&v, NEW);
		if (s.kind == UPGRADE_DONE)
			break;
		CU_ASSERT_FATAL(++steps <= 2 * v.n);
		for (int i = 0; i < v.n; i++) {
			upgrade_member *m = &v.m[i];
			if (s.kind == UPGRADE_NODE && strcmp(m->name, s.node) == 0) {
				CU_ASSERT_FALSE(m->leader); /* never the leader */
				snprintf(m->image, sizeof m->image, "%s", NEW);
				m->drained = false;
				m->streaming = true;
				m->lag_mb = 0;
			}
		}
		if (s.kind == UPGRADE_SWITCHOVER) {
			switchovers++;
			CU_ASSERT_STRING_NOT_EQUAL(s.candidate, "");
			for (int i = 0; i < v.n; i++) {
				upgrade_member *m = &v.m[i];
				if (strcmp(m->name, s.candidate) == 0)
					CU_ASSERT_STRING_EQUAL(m->image, NEW); /* only to an upgraded replica */
				if (!m->leader && strcmp(m->image, NEW) != 0)
					leader_done_before_switchover = true; /* a replica still old: too early */
				m->leader = strcmp(m->name, s.candidate) == 0;
			}
		}
		size_t used = strlen(trace);
		snprintf(trace + used, sizeof trace - used, "%s%s", used ? " " : "",
			 s.kind == UPGRADE_NODE ? s.node : "switchover");
	}
	for (int i = 0; i < v.n; i++)
		CU_ASSERT_STRING_EQUAL(v.m[i].image, NEW);
	CU_ASSERT_FALSE(leader_done_before_switchover);
	CU_ASSERT(switchovers <= 1);
	if (start != NULL) {
		if (strcmp(trace, start) != 0)
			printf("\n  steps \"%s\", want \"%s\"", trace, start);
		CU_ASSERT_STRING_EQUAL(trace, start);
	}
}

static void test_whole_upgrades(void)
{
	upgrade_view v = healthy();
	play(v, "db2 db3 switchover db1");
	/* Resumed after db2 was done. */
	snprintf(v.m[1].image, sizeof v.m[1].image, "%s", NEW);
	play(v, "db3 switchover db1");
	/* Resumed after the switchover: db2 leads on NEW, db1 is an old replica. */
	v = healthy();
	v.m[0].leader = false;
	v.m[1].leader = true;
	snprintf(v.m[1].image, sizeof v.m[1].image, "%s", NEW);
	snprintf(v.m[2].image, sizeof v.m[2].image, "%s", NEW);
	play(v, "db1");
	/* Resumed after a failure on db3: drained, on a bad image, not streaming: it goes first. */
	v = healthy();
	v.m[2].drained = true;
	v.m[2].streaming = false;
	v.m[2].lag_mb = -1;
	snprintf(v.m[2].image, sizeof v.m[2].image, "sha256:bad");
	play(v, "db3 db2 switchover db1");
	/* The drained node already on the image (only its ready was missing). */
	v = healthy();
	v.m[1].drained = true;
	snprintf(v.m[1].image, sizeof v.m[1].image, "%s", NEW);
	play(v, "db2 db3 switchover db1");
	/* Nothing to do. */
	v = healthy();
	for (int i = 0; i < 3; i++)
		snprintf(v.m[i].image, sizeof v.m[i].image, "%s", NEW);
	play(v, "");
	/* The least lagging replica takes the key. */
	v = healthy();
	for (int i = 1; i < 3; i++)
		snprintf(v.m[i].image, sizeof v.m[i].image, "%s", NEW);
	v.m[1].lag_mb = 1;
	upgrade_step s = upgrade_next(&v, NEW);
	CU_ASSERT_EQUAL(s.kind, UPGRADE_SWITCHOVER);
	CU_ASSERT_STRING_EQUAL(s.node, "db1");
	CU_ASSERT_STRING_EQUAL(s.candidate, "db3");
	/* Every order of leader among five members, with any subset already upgraded. */
	for (int lead = 0; lead < 5; lead++)
		for (int mask = 0; mask < 32; mask++) {
			upgrade_view w = {.n = 5};
			for (int i = 0; i < 5; i++) {
				upgrade_member *m = &w.m[i];
				snprintf(m->name, sizeof m->name, "db%d", i + 1);
				m->leader = i == lead;
				m->streaming = true;
				snprintf(m->image, sizeof m->image, "%s", mask & (1 << i) ? NEW : OLD);
			}
			play(w, NULL);
		}
}

void suite_register(void)
{
	CU_pSuite s = CU_add_suite("upgrade_plan", NULL, NULL);
	CU_add_test(s, "refusals", test_refusals);
	CU_add_test(s, "whole upgrades", test_whole_upgrades);
}
