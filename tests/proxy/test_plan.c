/*
 * test_plan: HAProxy's wanted state from the cluster view. One row per
 * situation of plan_make: each starts from a healthy three-node cluster
 * (n1 the promoted leader, n2 and n3 streaming replicas without lag) and
 * changes what the situation needs; the expected state of every server in
 * rw and ro follows, with the reason logged for the server the row is
 * about. An exhaustive pass over generated views checks that rw never has
 * more than one ready server and that it is always the promoted key holder.
 * Then the lag-to-weight curve, the Runtime API commands for every pair of
 * seen and wanted states in both backends, the agent-check replies and the
 * primary_in_ro setting.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cunit_main.h"
#include "proxy-agent/plan.h"

#define LEADER_LSN 100000

typedef struct scenario {
	plan_config cfg;
	cluster_view view;
	char names[3][CLUSTER_NAME_MAX];
	bool drained[3];
} scenario;

static member *add_member(cluster_view *v, const char *name, const char *role, uint64_t replayed)
{
	member *m = &v->members[v->n_members++];
	memset(m, 0, sizeof *m);
	snprintf(m->name, sizeof m->name, "%s", name);
	snprintf(m->role, sizeof m->role, "%s", role);
	m->running = true;
	m->received_lsn = m->replayed_lsn = replayed;
	return m;
}

static member *find(scenario *s, const char *name) { return (member *)cluster_member(&s->view, name); }

static void leader_key(scenario *s, const char *name)
{
	s->view.has_leader = true;
	snprintf(s->view.leader, sizeof s->view.leader, "%s", name);
}

/* n1 leads at LEADER_LSN; n2 and n3 have replayed all of it. Lag limits 100 and 1000 bytes, min weight 10 %. */
static void base(scenario *s)
{
	memset(s, 0, sizeof *s);
	s->cfg = (plan_config){
		.max_lag = 1000, .full_weight_lag = 100, .min_weight = 10, .primary_in_ro = PRIMARY_IN_RO_FALLBACK};
	for (int i = 0; i < 3; i++)
		snprintf(s->names[i], CLUSTER_NAME_MAX, "n%d", i + 1);
	cluster_view *v = &s->view;
	v->initialized = true;
	v->has_status = true;
	v->last_lsn = LEADER_LSN;
	leader_key(s, "n1");
	add_member(v, "n1", "primary", 0)->wal_lsn = LEADER_LSN;
	add_member(v, "n2", "replica", LEADER_LSN);
	add_member(v, "n3", "replica", LEADER_LSN);
}

static void lag(scenario *s, const char *name, uint64_t bytes) { find(s, name)->replayed_lsn = LEADER_LSN - bytes; }

/* n2 now holds the key and runs as a primary; n1 is down. */
static void failed_over(scenario *s)
{
	leader_key(s, "n2");
	snprintf(find(s, "n2")->role, sizeof find(s, "n2")->role, "primary");
	find(s, "n2")->wal_lsn = LEADER_LSN;
	find(s, "n1")->running = false;
	snprintf(find(s, "n1")->role, sizeof find(s, "n1")->role, "stopped");
}

/* --- rows --- */
static void r_healthy_cluster(scenario *s) { (void)s; }
static void r_no_leader_key(scenario *s) { s->view.has_leader = false; }
static void r_key_holder_not_yet_promoted(scenario *s)
{
	failed_over(s);
	snprintf(find(s, "n2")->role, sizeof find(s, "n2")->role, "replica");
}
static void r_promoted_new_leader(scenario *s) { failed_over(s); }
static void r_leader_not_running(scenario *s) { find(s, "n1")->running = false; }
static void r_primary_without_key(scenario *s)
{
	failed_over(s);
	find(s, "n1")->running = true;
	snprintf(find(s, "n1")->role, sizeof find(s, "n1")->role, "primary");
}
static void r_member_record_missing(scenario *s) { s->view.n_members = 2; }
static void r_leader_record_missing(scenario *s)
{
	s->view.members[0] = s->view.members[2];
	s->view.n_members = 2;
}
static void r_replica_not_running(scenario *s) { find(s, "n3")->running = false; }
static void r_uninitialized_member(scenario *s)
{
	snprintf(find(s, "n3")->role, sizeof find(s, "n3")->role, "uninitialized");
}
static void r_noloadbalance_replica(scenario *s) { find(s, "n2")->noloadbalance = true; }
static void r_noloadbalance_leader(scenario *s)
{
	s->cfg.primary_in_ro = PRIMARY_IN_RO_ALWAYS;
	find(s, "n1")->noloadbalance = true;
}
static void r_drained_replica(scenario *s) { s->drained[1] = true; }
static void r_drained_leader(scenario *s)
{
	s->cfg.primary_in_ro = PRIMARY_IN_RO_ALWAYS;
	s->drained[0] = true;
}
static void r_lag_at_full_weight_lag(scenario *s) { lag(s, "n2", 100); }
static void r_lag_between(scenario *s) { lag(s, "n2", 550); }
static void r_lag_at_max_lag(scenario *s) { lag(s, "n2", 1000); }
static void r_lag_beyond_max_lag(scenario *s) { lag(s, "n2", 1001); }
static void r_replay_position_unknown(scenario *s) { find(s, "n2")->replayed_lsn = 0; }
static void r_replica_ahead_of_known_leader_position(scenario *s) { find(s, "n2")->replayed_lsn = LEADER_LSN + 5; }
static void r_lag_from_status_without_leader(scenario *s)
{
	s->view.has_leader = false;
	lag(s, "n3", 1001);
}
static void r_fallback_with_a_fit_replica(scenario *s)
{
	s->drained[1] = true;
	lag(s, "n3", 999);
}
static void r_fallback_all_drained(scenario *s) { s->drained[1] = s->drained[2] = true; }
static void r_fallback_all_lagging(scenario *s)
{
	lag(s, "n2", 2000);
	lag(s, "n3", 1001);
}
static void r_fallback_all_down(scenario *s) { find(s, "n2")->running = find(s, "n3")->running = false; }
static void r_fallback_mixed_unfit(scenario *s)
{
	s->drained[1] = true;
	find(s, "n3")->noloadbalance = true;
}
static void r_always(scenario *s) { s->cfg.primary_in_ro = PRIMARY_IN_RO_ALWAYS; }
static void r_never_with_none_fit(scenario *s)
{
	s->cfg.primary_in_ro = PRIMARY_IN_RO_NEVER;
	r_fallback_all_down(s);
}

typedef struct row {
	const char *name;
	void (*setup)(scenario *);
	const char *rw[3]; /* "ready 100", "drain" or "maint" for n1, n2, n3 */
	const char *ro[3];
	const char *writer;
	plan_backend focus_backend; /* the server the row is about, and its reason */
	int focus;
	const char *why;
} row;

/* clang-format off */
#define RW_N1 {"ready 100", "maint", "maint"}
#define RW_NONE {"maint", "maint", "maint"}

static const row rows[] = {
	{"healthy cluster: the leader alone writes, replicas read", r_healthy_cluster, RW_N1,
	 {"drain", "ready 100", "ready 100"}, "n1", PLAN_RO, 0, "primary: reads go to replicas"},
	{"no leader key: nothing writes", r_no_leader_key, RW_NONE, {"maint", "ready 100", "ready 100"}, "", PLAN_RW, 0,
	 "not the leader"},
	{"no leader key: a former primary does not read", r_no_leader_key, RW_NONE, {"maint", "ready 100", "ready 100"}, "",
	 PLAN_RO, 0, "a primary that does not hold the leader key"},
	{"key holder still a replica is not promoted yet", r_key_holder_not_yet_promoted, RW_NONE,
	 {"maint", "ready 100", "ready 100"}, "", PLAN_RW, 1, "leader not yet promoted"},
	{"promoted new leader writes", r_promoted_new_leader, {"maint", "ready 100", "maint"},
	 {"maint", "drain", "ready 100"}, "n2", PLAN_RW, 1, "leader"},
	{"old leader down after a failover is in maintenance", r_promoted_new_leader, {"maint", "ready 100", "maint"},
	 {"maint", "drain", "ready 100"}, "n2", PLAN_RO, 0, "postgres not running"},
	{"leader whose postgres is down does not write", r_leader_not_running, RW_NONE, {"maint", "ready 100", "ready 100"},
	 "", PLAN_RW, 0, "leader's postgres not running"},
	{"leader whose postgres is down does not read", r_leader_not_running, RW_NONE, {"maint", "ready 100", "ready 100"},
	 "", PLAN_RO, 0, "postgres not running"},
	{"a primary without the key neither writes", r_primary_without_key, {"maint", "ready 100", "maint"},
	 {"maint", "drain", "ready 100"}, "n2", PLAN_RW, 0, "not the leader"},
	{"a primary without the key nor reads", r_primary_without_key, {"maint", "ready 100", "maint"},
	 {"maint", "drain", "ready 100"}, "n2", PLAN_RO, 0, "a primary that does not hold the leader key"},
	{"a server without member record is in maintenance", r_member_record_missing, RW_N1,
	 {"drain", "ready 100", "maint"}, "n1", PLAN_RO, 2, "no member record"},
	{"a leader without member record does not write", r_leader_record_missing, RW_NONE,
	 {"maint", "ready 100", "ready 100"}, "", PLAN_RO, 0, "no member record"},
	{"a replica whose postgres is down is in maintenance", r_replica_not_running, RW_N1,
	 {"drain", "ready 100", "maint"}, "n1", PLAN_RO, 2, "postgres not running"},
	{"an uninitialized member does not read", r_uninitialized_member, RW_N1, {"drain", "ready 100", "maint"}, "n1",
	 PLAN_RO, 2, "not a replica"},
	{"noloadbalance replica leaves ro", r_noloadbalance_replica, RW_N1, {"drain", "maint", "ready 100"}, "n1", PLAN_RO,
	 1, "tagged noloadbalance"},
	{"noloadbalance leader leaves ro even when always", r_noloadbalance_leader, RW_N1,
	 {"maint", "ready 100", "ready 100"}, "n1", PLAN_RO, 0, "tagged noloadbalance"},
	{"operator drain of a replica", r_drained_replica, RW_N1, {"drain", "drain", "ready 100"}, "n1", PLAN_RO, 1,
	 "drained by the operator"},
	{"operator drain of the leader drains ro only", r_drained_leader, RW_N1, {"drain", "ready 100", "ready 100"}, "n1",
	 PLAN_RO, 0, "drained by the operator"},
	{"lag at full_weight_lag keeps full weight", r_lag_at_full_weight_lag, RW_N1, {"drain", "ready 100", "ready 100"},
	 "n1", PLAN_RO, 1, "replica"},
	{"lag between the limits lowers the weight", r_lag_between, RW_N1, {"drain", "ready 55", "ready 100"}, "n1",
	 PLAN_RO, 1, "replica"},
	{"lag at max_lag gives min_weight", r_lag_at_max_lag, RW_N1, {"drain", "ready 10", "ready 100"}, "n1", PLAN_RO, 1,
	 "replica"},
	{"lag beyond max_lag drains", r_lag_beyond_max_lag, RW_N1, {"drain", "drain", "ready 100"}, "n1", PLAN_RO, 1,
	 "replay lag beyond max_lag"},
	{"unknown replay position counts as no lag", r_replay_position_unknown, RW_N1, {"drain", "ready 100", "ready 100"},
	 "n1", PLAN_RO, 1, "replica"},
	{"replica ahead of the leader's known position has no lag", r_replica_ahead_of_known_leader_position, RW_N1,
	 {"drain", "ready 100", "ready 100"}, "n1", PLAN_RO, 1, "replica"},
	{"without a leader, lag is measured from the status record", r_lag_from_status_without_leader, RW_NONE,
	 {"maint", "ready 100", "drain"}, "", PLAN_RO, 2, "replay lag beyond max_lag"},
	{"fallback: one fit replica keeps the primary out", r_fallback_with_a_fit_replica, RW_N1,
	 {"drain", "drain", "ready 10"}, "n1", PLAN_RO, 0, "primary: reads go to replicas"},
	{"fallback: all replicas drained, the primary reads", r_fallback_all_drained, RW_N1,
	 {"ready 100", "drain", "drain"}, "n1", PLAN_RO, 0, "no replica is fit"},
	{"fallback: all replicas lagging, the primary reads", r_fallback_all_lagging, RW_N1,
	 {"ready 100", "drain", "drain"}, "n1", PLAN_RO, 0, "no replica is fit"},
	{"fallback: all replicas down, the primary reads", r_fallback_all_down, RW_N1, {"ready 100", "maint", "maint"},
	 "n1", PLAN_RO, 0, "no replica is fit"},
	{"fallback: drained and noloadbalance replicas, the primary reads", r_fallback_mixed_unfit, RW_N1,
	 {"ready 100", "drain", "maint"}, "n1", PLAN_RO, 0, "no replica is fit"},
	{"always: the primary reads beside the replicas", r_always, RW_N1, {"ready 100", "ready 100", "ready 100"}, "n1",
	 PLAN_RO, 0, "primary_in_ro = always"},
	{"never: the primary stays out though no replica is fit", r_never_with_none_fit, RW_N1,
	 {"drain", "maint", "maint"}, "n1", PLAN_RO, 0, "primary: reads go to replicas"},
};
/* clang-format on */

static void format_server(const plan_server *w, char *buf, size_t size)
{
	if (w->admin == PLAN_READY)
		snprintf(buf, size, "ready %d", w->weight);
	else
		snprintf(buf, size, "%s", plan_admin_names[w->admin]);
}

static int check_row(const row *r)
{
	scenario s;
	base(&s);
	r->setup(&s);
	plan p;
	plan_make(&s.cfg, &s.view, s.names, s.drained, NULL, 3, &p);
	int failures = 0;
	if (p.n != 3 || strcmp(p.writer, r->writer) != 0) {
		fprintf(stderr, "\n  %s: writer \"%s\", expected \"%s\"", r->name, p.writer, r->writer);
		failures++;
	}
	for (int b = 0; b < PLAN_BACKENDS; b++)
		for (int i = 0; i < 3; i++) {
			char got[32];
			const char *want = b == PLAN_RW ? r->rw[i] : r->ro[i];
			format_server(&p.want[b][i], got, sizeof got);
			if (strcmp(got, want) != 0) {
				fprintf(stderr, "\n  %s: %s/%s is \"%s\" (%s), expected \"%s\"", r->name,
					plan_backend_names[b], p.names[i], got, p.want[b][i].why, want);
				failures++;
			}
			if (p.want[b][i].admin != PLAN_READY && p.want[b][i].weight != 0) {
				fprintf(stderr, "\n  %s: %s/%s is not ready but weighs %d", r->name,
					plan_backend_names[b], p.names[i], p.want[b][i].weight);
				failures++;
			}
		}
	const char *why = p.want[r->focus_backend][r->focus].why;
	if (why == NULL || strstr(why, r->why) == NULL) {
		fprintf(stderr, "\n  %s: %s/%s why \"%s\", expected \"%s\"", r->name,
			plan_backend_names[r->focus_backend], p.names[r->focus], why ? why : "(null)", r->why);
		failures++;
	}
	return failures;
}

static void test_each_situation_gives_its_wanted_states(void)
{
	for (size_t i = 0; i < sizeof rows / sizeof rows[0]; i++)
		CU_ASSERT_EQUAL(check_row(&rows[i]), 0);
}

static void test_no_drain_list_means_nothing_drained(void)
{
	scenario s;
	base(&s);
	plan p;
	plan_make(&s.cfg, &s.view, s.names, NULL, NULL, 3, &p);
	CU_ASSERT_STRING_EQUAL(p.writer, "n1");
	CU_ASSERT_EQUAL(p.want[PLAN_RO][1].admin, PLAN_READY);
	CU_ASSERT_EQUAL(p.want[PLAN_RO][2].admin, PLAN_READY);
}

static void test_a_lag_not_yet_held_keeps_the_replica_at_min_weight(void)
{
	scenario s;
	base(&s);
	r_lag_beyond_max_lag(&s);
	bool held_none[3] = {false, false, false}, held_n2[3] = {false, true, false};
	plan p;
	plan_make(&s.cfg, &s.view, s.names, NULL, held_none, 3, &p);
	CU_ASSERT_EQUAL(p.want[PLAN_RO][1].admin, PLAN_READY);
	CU_ASSERT_EQUAL(p.want[PLAN_RO][1].weight, s.cfg.min_weight);
	CU_ASSERT_STRING_EQUAL(p.want[PLAN_RO][1].why, "replay lag beyond max_lag for less than ro.lag_grace");
	/* The primary stays out: a replica that is only briefly behind still counts as fit. */
	CU_ASSERT_EQUAL(p.want[PLAN_RO][0].admin, PLAN_DRAIN);
	plan_make(&s.cfg, &s.view, s.names, NULL, held_n2, 3, &p);
	CU_ASSERT_EQUAL(p.want[PLAN_RO][1].admin, PLAN_DRAIN);
	CU_ASSERT_STRING_EQUAL(p.want[PLAN_RO][1].why, "replay lag beyond max_lag");
	/* A held flag on a replica within max_lag changes nothing. */
	plan_make(&s.cfg, &s.view, s.names, NULL, held_n2, 3, &p);
	CU_ASSERT_EQUAL(p.want[PLAN_RO][2].admin, PLAN_READY);
	CU_ASSERT_EQUAL(p.want[PLAN_RO][2].weight, 100);
}

static void test_names_beyond_the_maximum_are_ignored(void)
{
	scenario s;
	base(&s);
	static char names[PLAN_MAX_SERVERS + 4][CLUSTER_NAME_MAX];
	for (int i = 0; i < PLAN_MAX_SERVERS + 4; i++)
		snprintf(names[i], CLUSTER_NAME_MAX, "n%d", i + 1);
	plan p;
	plan_make(&s.cfg, &s.view, names, NULL, NULL, PLAN_MAX_SERVERS + 4, &p);
	CU_ASSERT_EQUAL(p.n, PLAN_MAX_SERVERS);
	CU_ASSERT_EQUAL(plan_find(&p, "n32"), PLAN_MAX_SERVERS - 1);
	CU_ASSERT_EQUAL(plan_find(&p, "n33"), -1);
	CU_ASSERT_EQUAL(p.want[PLAN_RO][5].admin, PLAN_MAINT); /* n6: no member record */
}

static void test_find_locates_servers_by_name(void)
{
	scenario s;
	base(&s);
	plan p;
	plan_make(&s.cfg, &s.view, s.names, NULL, NULL, 3, &p);
	CU_ASSERT_EQUAL(plan_find(&p, "n1"), 0);
	CU_ASSERT_EQUAL(plan_find(&p, "n3"), 2);
	CU_ASSERT_EQUAL(plan_find(&p, "n4"), -1);
	CU_ASSERT_EQUAL(plan_find(&p, ""), -1);
}

/* --- every view of three members --- */

/* A member's situation: no record, or a role with postgres running or not, lagging or not. */
#define ROLES 4
static const char *const roles[ROLES] = {"primary", "replica", "uninitialized", "stopped"};
#define MEMBER_STATES (1 + ROLES * 2 * 2)
#define LEADER_CHOICES 5 /* none, n1, n2, n3, a name that is not a server */

static void generate(scenario *s, int code, int leader, plan_primary_in_ro mode)
{
	base(s);
	s->cfg.primary_in_ro = mode;
	s->view.n_members = 0;
	s->view.has_leader = leader > 0;
	snprintf(s->view.leader, sizeof s->view.leader, "%s",
		 leader == 4  ? "n9"
		 : leader > 0 ? s->names[leader - 1]
			      : "");
	for (int i = 0; i < 3; i++) {
		int state = code % (MEMBER_STATES * 2);
		code /= MEMBER_STATES * 2;
		s->drained[i] = state % 2;
		state /= 2;
		if (state == 0)
			continue;
		state--;
		member *m = add_member(&s->view, s->names[i], roles[state % ROLES], LEADER_LSN);
		m->running = (state / ROLES) % 2 == 0;
		if (state / (ROLES * 2))
			m->replayed_lsn = LEADER_LSN - 5000;
		m->wal_lsn = strcmp(m->role, "primary") == 0 ? LEADER_LSN : 0;
	}
}

/* The invariants of one plan; returns the number broken, printing each. */
static int check_invariants(const scenario *s, const plan *p)
{
	int broken = 0, ready_rw = 0, ready_replicas = 0, leader = -1;
	const cluster_view *v = &s->view;
	for (int i = 0; i < 3; i++) {
		const member *m = cluster_member(v, s->names[i]);
		bool holder = v->has_leader && strcmp(v->leader, s->names[i]) == 0;
		bool promoted = holder && m != NULL && m->running && strcmp(m->role, "primary") == 0;
		const plan_server *rw = &p->want[PLAN_RW][i], *ro = &p->want[PLAN_RO][i];
		if (rw->admin == PLAN_READY) {
			ready_rw++;
			if (!promoted || strcmp(p->writer, s->names[i]) != 0)
				broken++,
					fprintf(stderr, "\n  rw/%s ready but not the promoted key holder", s->names[i]);
		} else if (promoted)
			broken++, fprintf(stderr, "\n  rw/%s is the promoted key holder but not ready", s->names[i]);
		if (promoted)
			leader = i;
		if (rw->admin == PLAN_DRAIN)
			broken++, fprintf(stderr, "\n  rw/%s drained: rw has only ready and maint", s->names[i]);
		for (int b = 0; b < PLAN_BACKENDS; b++) {
			const plan_server *w = &p->want[b][i];
			if (w->why == NULL ||
			    (w->admin == PLAN_READY ? w->weight < 1 || w->weight > 100 : w->weight != 0))
				broken++, fprintf(stderr, "\n  %s/%s weighs %d", plan_backend_names[b], s->names[i],
						  w->weight);
		}
		bool fit = m != NULL && m->running && !s->drained[i] && !m->noloadbalance;
		if (ro->admin == PLAN_READY && !fit)
			broken++, fprintf(stderr, "\n  ro/%s ready but unfit", s->names[i]);
		if (ro->admin == PLAN_READY && ro->weight < s->cfg.min_weight)
			broken++, fprintf(stderr, "\n  ro/%s ready below min_weight", s->names[i]);
		if (!promoted && ro->admin == PLAN_READY && m != NULL) {
			ready_replicas++;
			if (strcmp(m->role, "replica") != 0)
				broken++, fprintf(stderr, "\n  ro/%s ready with role %s", s->names[i], m->role);
		}
	}
	if (ready_rw > 1)
		broken++, fprintf(stderr, "\n  %d servers ready in rw", ready_rw);
	if (ready_rw == 0 && p->writer[0] != '\0')
		broken++, fprintf(stderr, "\n  writer %s but nothing ready in rw", p->writer);
	if (leader >= 0 && !s->drained[leader] && !cluster_member(v, s->names[leader])->noloadbalance) {
		bool reads = p->want[PLAN_RO][leader].admin == PLAN_READY;
		bool expect = s->cfg.primary_in_ro == PRIMARY_IN_RO_ALWAYS ||
			      (s->cfg.primary_in_ro == PRIMARY_IN_RO_FALLBACK && ready_replicas == 0);
		if (reads != expect)
			broken++, fprintf(stderr, "\n  leader %s %s in ro with %d replicas ready (mode %d)",
					  s->names[leader], reads ? "reads" : "does not read", ready_replicas,
					  (int)s->cfg.primary_in_ro);
	}
	return broken;
}

static void test_every_view_has_at_most_the_promoted_key_holder_in_rw(void)
{
	int codes = 1;
	for (int i = 0; i < 3; i++)
		codes *= MEMBER_STATES * 2;
	long views = 0, with_writer = 0, broken = 0;
	for (int mode = 0; mode < 3; mode++)
		for (int leader = 0; leader < LEADER_CHOICES; leader++)
			for (int code = 0; code < codes; code++) {
				scenario s;
				generate(&s, code, leader, (plan_primary_in_ro)mode);
				plan p;
				plan_make(&s.cfg, &s.view, s.names, s.drained, NULL, 3, &p);
				int b = check_invariants(&s, &p);
				if (b > 0 && broken < 20)
					fprintf(stderr, "\n  (view %d, leader %d, mode %d)", code, leader, mode);
				broken += b;
				views++;
				with_writer += p.writer[0] != '\0';
			}
	CU_ASSERT_EQUAL(broken, 0);
	/* The generator reaches both outcomes often. */
	CU_ASSERT(with_writer > views / 50);
	CU_ASSERT(with_writer < views / 2);
}

/* --- lag to weight --- */

static void check_curve(const plan_config *cfg, uint64_t step, uint64_t beyond)
{
	int prev = 101, broken = 0;
	for (uint64_t lag = 0; lag <= cfg->max_lag + beyond; lag += step) {
		int w = plan_lag_weight(cfg, lag);
		if (w > prev)
			broken++;
		if (lag <= cfg->full_weight_lag && w != 100)
			broken++;
		if (lag <= cfg->max_lag && (w < cfg->min_weight || w > 100))
			broken++;
		if (lag > cfg->max_lag && w != 0)
			broken++;
		prev = w;
	}
	if (broken)
		fprintf(stderr, "\n  curve %lu..%lu min %d: %d points wrong", (unsigned long)cfg->full_weight_lag,
			(unsigned long)cfg->max_lag, cfg->min_weight, broken);
	CU_ASSERT_EQUAL(broken, 0);
	CU_ASSERT_EQUAL(plan_lag_weight(cfg, cfg->max_lag),
			cfg->max_lag > cfg->full_weight_lag ? cfg->min_weight : 100);
	CU_ASSERT_EQUAL(plan_lag_weight(cfg, cfg->max_lag + 1), 0);
	CU_ASSERT_EQUAL(plan_lag_weight(cfg, cfg->full_weight_lag), 100);
}

static void test_weight_falls_from_full_to_min_then_zero(void)
{
	plan_config small = {.max_lag = 1000, .full_weight_lag = 100, .min_weight = 10};
	check_curve(&small, 1, 50);
	CU_ASSERT_EQUAL(plan_lag_weight(&small, 0), 100);
	CU_ASSERT_EQUAL(plan_lag_weight(&small, 101), 100); /* 99.9 rounds to 100 */
	CU_ASSERT_EQUAL(plan_lag_weight(&small, 550), 55);
	CU_ASSERT_EQUAL(plan_lag_weight(&small, 999), 10);
	plan_config defaults = {.max_lag = 16777216, .full_weight_lag = 1048576, .min_weight = 10};
	check_curve(&defaults, 4093, 1 << 20);
	CU_ASSERT_EQUAL(plan_lag_weight(&defaults, 8912896), 55);
	plan_config steep = {.max_lag = 3, .full_weight_lag = 0, .min_weight = 1};
	check_curve(&steep, 1, 5);
	plan_config flat = {.max_lag = 500, .full_weight_lag = 500, .min_weight = 40};
	check_curve(&flat, 1, 10);
	plan_config none = {.max_lag = 0, .full_weight_lag = 0, .min_weight = 10};
	check_curve(&none, 1, 3);
	CU_ASSERT_EQUAL(plan_lag_weight(&none, 0), 100);
	plan_config full_min = {.max_lag = 1000, .full_weight_lag = 0, .min_weight = 100};
	check_curve(&full_min, 7, 20);
	plan_config huge = {.max_lag = UINT64_MAX - 1, .full_weight_lag = 0, .min_weight = 1};
	CU_ASSERT_EQUAL(plan_lag_weight(&huge, UINT64_MAX - 1), 1);
	CU_ASSERT_EQUAL(plan_lag_weight(&huge, UINT64_MAX), 0);
	CU_ASSERT_EQUAL(plan_lag_weight(&huge, UINT64_MAX / 2), 51);
}

/* --- commands --- */

#define SEEN_UNKNOWN                                                                                                   \
	{                                                                                                              \
		.known = false                                                                                         \
	}
#define SEEN_READY_100                                                                                                 \
	{                                                                                                              \
		.known = true, .admin = PLAN_READY, .weight = 100                                                      \
	}
#define SEEN_READY_50                                                                                                  \
	{                                                                                                              \
		.known = true, .admin = PLAN_READY, .weight = 50                                                       \
	}
#define SEEN_DRAIN                                                                                                     \
	{                                                                                                              \
		.known = true, .admin = PLAN_DRAIN, .weight = 100                                                      \
	}
#define SEEN_MAINT                                                                                                     \
	{                                                                                                              \
		.known = true, .admin = PLAN_MAINT, .weight = 100                                                      \
	}
#define WANT_READY_100                                                                                                 \
	{                                                                                                              \
		.admin = PLAN_READY, .weight = 100, .why = "t"                                                         \
	}
#define WANT_READY_50                                                                                                  \
	{                                                                                                              \
		.admin = PLAN_READY, .weight = 50, .why = "t"                                                          \
	}
#define WANT_DRAIN                                                                                                     \
	{                                                                                                              \
		.admin = PLAN_DRAIN, .weight = 0, .why = "t"                                                           \
	}
#define WANT_MAINT                                                                                                     \
	{                                                                                                              \
		.admin = PLAN_MAINT, .weight = 0, .why = "t"                                                           \
	}

/* clang-format off */
static const struct {
	plan_backend backend;
	plan_seen seen;
	plan_server want;
	const char *expect; /* the commands joined by ';' */
} command_rows[] = {
	{PLAN_RW, SEEN_UNKNOWN, WANT_READY_100, "set server rw/n1 state ready;set server rw/n1 weight 100%"},
	{PLAN_RW, SEEN_UNKNOWN, WANT_READY_50, "set server rw/n1 state ready;set server rw/n1 weight 50%"},
	{PLAN_RW, SEEN_UNKNOWN, WANT_DRAIN, "set server rw/n1 state drain;shutdown sessions server rw/n1"},
	{PLAN_RW, SEEN_UNKNOWN, WANT_MAINT, "set server rw/n1 state maint;shutdown sessions server rw/n1"},
	{PLAN_RW, SEEN_READY_100, WANT_READY_100, ""},
	{PLAN_RW, SEEN_READY_100, WANT_READY_50, "set server rw/n1 weight 50%"},
	{PLAN_RW, SEEN_READY_100, WANT_DRAIN, "set server rw/n1 state drain;shutdown sessions server rw/n1"},
	{PLAN_RW, SEEN_READY_100, WANT_MAINT, "set server rw/n1 state maint;shutdown sessions server rw/n1"},
	{PLAN_RW, SEEN_READY_50, WANT_READY_100, "set server rw/n1 weight 100%"},
	{PLAN_RW, SEEN_READY_50, WANT_READY_50, ""},
	{PLAN_RW, SEEN_READY_50, WANT_DRAIN, "set server rw/n1 state drain;shutdown sessions server rw/n1"},
	{PLAN_RW, SEEN_READY_50, WANT_MAINT, "set server rw/n1 state maint;shutdown sessions server rw/n1"},
	{PLAN_RW, SEEN_DRAIN, WANT_READY_100, "set server rw/n1 state ready"},
	{PLAN_RW, SEEN_DRAIN, WANT_READY_50, "set server rw/n1 state ready;set server rw/n1 weight 50%"},
	{PLAN_RW, SEEN_DRAIN, WANT_DRAIN, ""},
	{PLAN_RW, SEEN_DRAIN, WANT_MAINT, "set server rw/n1 state maint"},
	{PLAN_RW, SEEN_MAINT, WANT_READY_100, "set server rw/n1 state ready"},
	{PLAN_RW, SEEN_MAINT, WANT_READY_50, "set server rw/n1 state ready;set server rw/n1 weight 50%"},
	{PLAN_RW, SEEN_MAINT, WANT_DRAIN, "set server rw/n1 state drain"},
	{PLAN_RW, SEEN_MAINT, WANT_MAINT, ""},
	{PLAN_RO, SEEN_UNKNOWN, WANT_READY_100, "set server ro/n1 state ready;set server ro/n1 weight 100%"},
	{PLAN_RO, SEEN_UNKNOWN, WANT_READY_50, "set server ro/n1 state ready;set server ro/n1 weight 50%"},
	{PLAN_RO, SEEN_UNKNOWN, WANT_DRAIN, "set server ro/n1 state drain"},
	{PLAN_RO, SEEN_UNKNOWN, WANT_MAINT, "set server ro/n1 state maint"},
	{PLAN_RO, SEEN_READY_100, WANT_READY_100, ""},
	{PLAN_RO, SEEN_READY_100, WANT_READY_50, "set server ro/n1 weight 50%"},
	{PLAN_RO, SEEN_READY_100, WANT_DRAIN, "set server ro/n1 state drain"},
	{PLAN_RO, SEEN_READY_100, WANT_MAINT, "set server ro/n1 state maint"},
	{PLAN_RO, SEEN_READY_50, WANT_READY_100, "set server ro/n1 weight 100%"},
	{PLAN_RO, SEEN_READY_50, WANT_READY_50, ""},
	{PLAN_RO, SEEN_READY_50, WANT_DRAIN, "set server ro/n1 state drain"},
	{PLAN_RO, SEEN_READY_50, WANT_MAINT, "set server ro/n1 state maint"},
	{PLAN_RO, SEEN_DRAIN, WANT_READY_100, "set server ro/n1 state ready"},
	{PLAN_RO, SEEN_DRAIN, WANT_READY_50, "set server ro/n1 state ready;set server ro/n1 weight 50%"},
	{PLAN_RO, SEEN_DRAIN, WANT_DRAIN, ""},
	{PLAN_RO, SEEN_DRAIN, WANT_MAINT, "set server ro/n1 state maint"},
	{PLAN_RO, SEEN_MAINT, WANT_READY_100, "set server ro/n1 state ready"},
	{PLAN_RO, SEEN_MAINT, WANT_READY_50, "set server ro/n1 state ready;set server ro/n1 weight 50%"},
	{PLAN_RO, SEEN_MAINT, WANT_DRAIN, "set server ro/n1 state drain"},
	{PLAN_RO, SEEN_MAINT, WANT_MAINT, ""},
};
/* clang-format on */

static void join(char cmds[][PLAN_COMMAND_MAX], int n, char *out, size_t size)
{
	out[0] = '\0';
	for (int i = 0; i < n; i++) {
		size_t used = strlen(out);
		snprintf(out + used, size - used, "%s%s", i ? ";" : "", cmds[i]);
	}
}

static void test_commands_move_each_seen_state_to_each_wanted_state(void)
{
	for (size_t i = 0; i < sizeof command_rows / sizeof command_rows[0]; i++) {
		char cmds[4][PLAN_COMMAND_MAX], got[4 * PLAN_COMMAND_MAX];
		int n = plan_commands(command_rows[i].backend, "n1", &command_rows[i].seen, &command_rows[i].want, cmds,
				      4);
		join(cmds, n, got, sizeof got);
		if (strcmp(got, command_rows[i].expect) != 0)
			fprintf(stderr, "\n  row %zu: \"%s\", expected \"%s\"", i, got, command_rows[i].expect);
		CU_ASSERT_STRING_EQUAL(got, command_rows[i].expect);
	}
}

static void test_rw_server_leaving_ready_has_its_sessions_shut(void)
{
	const plan_server leaving[] = {WANT_DRAIN, WANT_MAINT};
	const plan_seen from[] = {SEEN_UNKNOWN, SEEN_READY_100, SEEN_READY_50};
	for (size_t w = 0; w < 2; w++)
		for (size_t f = 0; f < 3; f++) {
			char cmds[4][PLAN_COMMAND_MAX];
			int n = plan_commands(PLAN_RW, "db-2", &from[f], &leaving[w], cmds, 4);
			CU_ASSERT_EQUAL_FATAL(n, 2);
			CU_ASSERT_STRING_EQUAL(cmds[n - 1], "shutdown sessions server rw/db-2");
			/* ro never cuts sessions: a drained replica finishes its reads. */
			n = plan_commands(PLAN_RO, "db-2", &from[f], &leaving[w], cmds, 4);
			CU_ASSERT_EQUAL(n, 1);
		}
}

static void test_commands_stop_at_the_room_given(void)
{
	char cmds[2][PLAN_COMMAND_MAX];
	plan_seen seen = SEEN_UNKNOWN;
	plan_server want = WANT_READY_50;
	CU_ASSERT_EQUAL(plan_commands(PLAN_RO, "n1", &seen, &want, cmds, 1), 1);
	CU_ASSERT_STRING_EQUAL(cmds[0], "set server ro/n1 state ready");
	plan_server maint = WANT_MAINT;
	CU_ASSERT_EQUAL(plan_commands(PLAN_RW, "n1", &seen, &maint, cmds, 1), 1);
	CU_ASSERT_STRING_EQUAL(cmds[0], "set server rw/n1 state maint");
	CU_ASSERT_EQUAL(plan_commands(PLAN_RW, "n1", &seen, &maint, cmds, 0), 0);
}

/* --- agent replies and settings --- */

static void test_agent_replies_are_haproxy_agent_words(void)
{
	char buf[32];
	plan_server ready = {.admin = PLAN_READY, .weight = 75};
	plan_agent_reply(&ready, buf, sizeof buf);
	CU_ASSERT_STRING_EQUAL(buf, "up ready 75%\n");
	ready.weight = 100;
	plan_agent_reply(&ready, buf, sizeof buf);
	CU_ASSERT_STRING_EQUAL(buf, "up ready 100%\n");
	plan_server drain = {.admin = PLAN_DRAIN};
	plan_agent_reply(&drain, buf, sizeof buf);
	CU_ASSERT_STRING_EQUAL(buf, "drain\n");
	plan_server maint = {.admin = PLAN_MAINT};
	plan_agent_reply(&maint, buf, sizeof buf);
	CU_ASSERT_STRING_EQUAL(buf, "maint\n");
	plan_agent_reply(&ready, buf, 4);
	CU_ASSERT_STRING_EQUAL(buf, "up ");
}

static void test_primary_in_ro_words_parse(void)
{
	plan_primary_in_ro mode = PRIMARY_IN_RO_NEVER;
	CU_ASSERT_EQUAL(plan_primary_in_ro_parse("fallback", &mode), 0);
	CU_ASSERT_EQUAL(mode, PRIMARY_IN_RO_FALLBACK);
	CU_ASSERT_EQUAL(plan_primary_in_ro_parse("always", &mode), 0);
	CU_ASSERT_EQUAL(mode, PRIMARY_IN_RO_ALWAYS);
	CU_ASSERT_EQUAL(plan_primary_in_ro_parse("never", &mode), 0);
	CU_ASSERT_EQUAL(mode, PRIMARY_IN_RO_NEVER);
	static const char *const bad[] = {"", "Always", "sometimes", "never ", "fall"};
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		CU_ASSERT_EQUAL(plan_primary_in_ro_parse(bad[i], &mode), -1);
		CU_ASSERT_EQUAL(mode, PRIMARY_IN_RO_NEVER); /* untouched */
	}
}

void suite_register(void)
{
	CU_pSuite s = CU_add_suite("plan", NULL, NULL);
	CU_add_test(s, "each situation gives its wanted states", test_each_situation_gives_its_wanted_states);
	CU_add_test(s, "no drain list means nothing drained", test_no_drain_list_means_nothing_drained);
	CU_add_test(s, "names beyond the maximum are ignored", test_names_beyond_the_maximum_are_ignored);
	CU_add_test(s, "a lag not yet held keeps the replica at min weight",
		    test_a_lag_not_yet_held_keeps_the_replica_at_min_weight);
	CU_add_test(s, "find locates servers by name", test_find_locates_servers_by_name);
	CU_add_test(s, "every view has at most the promoted key holder in rw",
		    test_every_view_has_at_most_the_promoted_key_holder_in_rw);
	CU_add_test(s, "weight falls from full to min then zero", test_weight_falls_from_full_to_min_then_zero);
	CU_add_test(s, "commands move each seen state to each wanted state",
		    test_commands_move_each_seen_state_to_each_wanted_state);
	CU_add_test(s, "rw server leaving ready has its sessions shut",
		    test_rw_server_leaving_ready_has_its_sessions_shut);
	CU_add_test(s, "commands stop at the room given", test_commands_stop_at_the_room_given);
	CU_add_test(s, "agent replies are HAProxy agent words", test_agent_replies_are_haproxy_agent_words);
	CU_add_test(s, "primary_in_ro words parse", test_primary_in_ro_words_parse);
}
