/*
 * test_decide: one row per situation of the state machine. Each row starts
 * from a healthy three-node cluster seen by n2 (a streaming replica of n1)
 * and changes what the situation needs; the expected action (and target)
 * follows. Election rows cover synchronous and asynchronous mode, lag,
 * tags, priorities and the wait for other members' positions; pause rows
 * cover maintenance, where what stopped without the agent stays stopped.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cunit_main.h"
#include "replicator/decide.h"
#include "replicator/sync.h"

typedef struct scenario {
	decide_config cfg;
	local_state local;
	agent_state agent;
	cluster_view view;
	double now;
} scenario;

static member *add_member(cluster_view *v, const char *name, const char *role, uint64_t lsn)
{
	member *m = &v->members[v->n_members++];
	memset(m, 0, sizeof *m);
	snprintf(m->name, sizeof m->name, "%s", name);
	snprintf(m->role, sizeof m->role, "%s", role);
	snprintf(m->conn_address, sizeof m->conn_address, "127.0.0.1:5432");
	m->running = true;
	m->received_lsn = m->replayed_lsn = lsn;
	m->wal_lsn = lsn;
	return m;
}

static member *find(scenario *s, const char *name) { return (member *)cluster_member(&s->view, name); }

/* n2 streams from leader n1; n3 streams too; lease 22 is n2's. */
static void base(scenario *s)
{
	memset(s, 0, sizeof *s);
	s->cfg = (decide_config){.name = "n2",
				 .ttl = 3,
				 .fence_margin = 1.0,
				 .election_wait = 2.0,
				 .maximum_lag = 1 << 20,
				 .max_restarts = 3};
	s->local = (local_state){.data_valid = true,
				 .running = true,
				 .answering = true,
				 .in_recovery = true,
				 .timeline = 1,
				 .received_lsn = 1000,
				 .replayed_lsn = 1000,
				 .receiver_active = true};
	snprintf(s->local.upstream, sizeof s->local.upstream, "n1");
	s->agent = (agent_state){.etcd_ok = true, .lease = 22, .lease_renewed_at = 100.0};
	s->now = 100.2;
	cluster_view *v = &s->view;
	v->initialized = true;
	snprintf(v->init_owner, sizeof v->init_owner, "n1");
	v->has_leader = true;
	snprintf(v->leader, sizeof v->leader, "n1");
	v->leader_term = 7;
	v->leader_lease = 11;
	v->has_status = true;
	snprintf(v->last_leader, sizeof v->last_leader, "n1");
	v->last_term = 7;
	v->last_lsn = 1000;
	add_member(v, "n1", "primary", 1000);
	add_member(v, "n2", "replica", 1000);
	add_member(v, "n3", "replica", 1000);
}

/* The leader key is gone (term 7 lost) and both replicas have stopped receiving. */
static void election(scenario *s)
{
	s->view.has_leader = false;
	s->view.n_members = 0;
	add_member(&s->view, "n2", "replica", 1000)->fenced_term = 7;
	add_member(&s->view, "n3", "replica", 1000)->fenced_term = 7;
	s->local.receiver_active = false;
	s->local.upstream[0] = '\0';
	s->agent.fenced_term = 7;
	s->agent.election_since = 100.0;
}

static void sync_set(scenario *s, const char *a, const char *b)
{
	s->cfg.synchronous_mode = true;
	s->view.has_sync = true;
	s->view.sync_term = 7;
	s->view.n_sync = 0;
	if (a)
		snprintf(s->view.sync[s->view.n_sync++], CLUSTER_NAME_MAX, "%s", a);
	if (b)
		snprintf(s->view.sync[s->view.n_sync++], CLUSTER_NAME_MAX, "%s", b);
}

/* n2 as the leader holding the key with its lease. */
static void leading(scenario *s)
{
	s->agent.leader = true;
	snprintf(s->view.leader, sizeof s->view.leader, "n2");
	s->view.leader_lease = 22;
	s->local.in_recovery = false;
	s->local.receiver_active = false;
	s->local.upstream[0] = '\0';
}

/* --- rows --- */
static void r_streaming_replica_rests(scenario *s) { (void)s; }
static void r_fresh_node_races_for_init(scenario *s)
{
	s->view = (cluster_view){0};
	s->local = (local_state){0};
}
static void r_init_winner_bootstraps(scenario *s)
{
	s->view = (cluster_view){.initialized = true};
	snprintf(s->view.init_owner, CLUSTER_NAME_MAX, "n2");
	s->local = (local_state){0};
}
static void r_init_loser_waits_for_leader(scenario *s)
{
	s->view = (cluster_view){.initialized = true};
	snprintf(s->view.init_owner, CLUSTER_NAME_MAX, "n1");
	s->local = (local_state){0};
}
static void r_empty_node_clones_from_leader(scenario *s) { s->local = (local_state){0}; }
static void r_init_owner_with_history_does_not_reinit(scenario *s)
{
	s->local = (local_state){0};
	s->view.has_leader = false;
	snprintf(s->view.init_owner, CLUSTER_NAME_MAX, "n2");
}
static void r_bootstrapped_primary_takes_key(scenario *s)
{
	s->view.has_leader = false;
	s->view.has_status = false;
	s->view.n_members = 0;
	snprintf(s->view.init_owner, CLUSTER_NAME_MAX, "n2");
	s->local.in_recovery = false;
}
static void r_leader_leads(scenario *s) { leading(s); }
static void r_leader_past_deadline_fences(scenario *s)
{
	leading(s);
	s->now = 102.0;
}
static void r_leader_just_before_deadline_leads(scenario *s)
{
	leading(s);
	s->now = 101.99;
}
static void r_leader_fences_even_when_etcd_down(scenario *s)
{
	leading(s);
	s->agent.etcd_ok = false;
	s->now = 103.0;
}
static void r_leader_waits_out_etcd_outage_before_deadline(scenario *s)
{
	leading(s);
	s->agent.etcd_ok = false;
	s->now = 101.0;
}
static void r_leader_whose_key_vanished_fences(scenario *s)
{
	leading(s);
	s->view.has_leader = false;
}
static void r_leader_whose_key_was_taken_fences(scenario *s)
{
	leading(s);
	snprintf(s->view.leader, sizeof s->view.leader, "n3");
	s->view.leader_lease = 33;
}
static void r_leader_with_other_lease_fences(scenario *s)
{
	leading(s);
	s->view.leader_lease = 99;
}
static void r_primary_without_key_demotes(scenario *s) { s->local.in_recovery = false; }
static void r_primary_of_stale_own_key_demotes(scenario *s)
{
	s->local.in_recovery = false;
	snprintf(s->view.leader, sizeof s->view.leader, "n2");
	s->view.leader_lease = 99;
}
static void r_orphan_primary_no_leader_demotes(scenario *s)
{
	s->local.in_recovery = false;
	s->view.has_leader = false;
}
static void r_leader_crashed_pg_restarts(scenario *s)
{
	leading(s);
	s->local.running = s->local.answering = false;
	s->local.recent_crashes = 1;
}
static void r_leader_crashing_too_often_gives_up(scenario *s)
{
	leading(s);
	s->local.running = s->local.answering = false;
	s->local.recent_crashes = 4;
}
static void r_stopped_replica_starts_following(scenario *s) { s->local.running = s->local.answering = false; }
static void r_stopped_former_primary_rewinds(scenario *s)
{
	s->local.running = s->local.answering = false;
	s->local.was_primary = true;
}
static void r_failed_rewind_reclones(scenario *s)
{
	s->local.running = s->local.answering = false;
	s->local.was_primary = true;
	s->local.rewind_failed = true;
}
static void r_stopped_without_leader_starts_readonly(scenario *s)
{
	s->local.running = s->local.answering = false;
	s->view.has_leader = false;
}
static void r_former_primary_waits_for_a_leader(scenario *s)
{
	r_stopped_without_leader_starts_readonly(s);
	s->local.was_primary = true;
}
static void r_last_leader_joins_the_election(scenario *s)
{
	r_former_primary_waits_for_a_leader(s);
	snprintf(s->view.last_leader, CLUSTER_NAME_MAX, "n2");
}
static void r_crash_looping_replica_rewinds(scenario *s)
{
	s->local.running = s->local.answering = false;
	s->local.recent_crashes = 2;
}
static void r_crash_looping_replica_reclones_after_failed_rewind(scenario *s)
{
	r_crash_looping_replica_rewinds(s);
	s->local.rewind_failed = true;
}
static void r_stuck_replica_rewinds(scenario *s) { s->local.receiver_stuck = true; }
static void switchover(scenario *s, const char *leader, const char *candidate, double at)
{
	s->view.has_switchover = true;
	snprintf(s->view.switchover_leader, CLUSTER_NAME_MAX, "%s", leader);
	snprintf(s->view.switchover_candidate, CLUSTER_NAME_MAX, "%s", candidate);
	s->view.switchover_at = at;
	s->agent.wall_now = 1000.0;
}
static void r_leader_hands_over_on_switchover(scenario *s)
{
	leading(s);
	switchover(s, "n2", "n3", 0);
}
static void r_leader_waits_for_scheduled_switchover(scenario *s)
{
	leading(s);
	switchover(s, "n2", "n3", 2000.0);
}
static void r_leader_runs_due_scheduled_switchover(scenario *s)
{
	leading(s);
	switchover(s, "n2", "", 999.0);
}
/* n2 leads at 10 MB past n3, which streams; a switchover to n3 became due seen_ago seconds ago. */
static void lagging_candidate(scenario *s, double seen_ago, uint64_t n3_lsn)
{
	leading(s);
	switchover(s, "n2", "n3", 0);
	s->cfg.handover_timeout = 10.0;
	find(s, "n2")->wal_lsn = 1000 + (10u << 20);
	find(s, "n3")->streaming = true;
	find(s, "n3")->received_lsn = find(s, "n3")->replayed_lsn = n3_lsn;
	s->agent.switchover_seen = s->now - seen_ago;
}
static void r_switchover_waits_for_lagging_candidate(scenario *s) { lagging_candidate(s, 1.0, 1000); }
static void r_switchover_gives_up_on_lagging_candidate(scenario *s) { lagging_candidate(s, 10.5, 1000); }
static void r_switchover_goes_once_candidate_caught_up(scenario *s) { lagging_candidate(s, 1.0, 1000 + (10u << 20)); }
static void r_leader_drops_switchover_of_other_leader(scenario *s)
{
	leading(s);
	switchover(s, "n1", "n3", 0);
}
/* n2 led, stopped cleanly for a switchover to n3 at checkpoint 1000, and waits for n3 to confirm. */
static void handing_over(scenario *s)
{
	leading(s);
	switchover(s, "n2", "n3", 0);
	s->local.running = s->local.answering = false;
	s->local.was_primary = true;
	s->agent.handover_lsn = 1000;
	snprintf(s->agent.handover_to, sizeof s->agent.handover_to, "n3");
	s->agent.handover_since = 100.0;
	s->cfg.handover_timeout = 10.0;
}
static void r_handover_waits_for_the_candidate(scenario *s) { handing_over(s); }
static void r_handover_releases_once_the_candidate_holds_the_wal(scenario *s)
{
	handing_over(s);
	find(s, "n3")->received_lsn = 1001;
}
static void r_handover_abandoned_after_the_timeout(scenario *s)
{
	handing_over(s);
	s->now = 110.5;
	s->agent.lease_renewed_at = 110.0;
}
static void r_handover_abandoned_when_the_record_is_gone(scenario *s)
{
	handing_over(s);
	s->view.has_switchover = false;
}
static void r_handover_fences_past_the_deadline(scenario *s)
{
	r_handover_releases_once_the_candidate_holds_the_wal(s);
	s->now = 102.5; /* lease renewed at 100.0, ttl 3, margin 1 */
}
static void r_switchover_candidate_takes_key_though_behind(scenario *s)
{
	election(s);
	switchover(s, "n1", "n2", 0);
	find(s, "n3")->received_lsn = 2000;
}
static void r_non_candidate_waits_during_switchover(scenario *s)
{
	election(s);
	switchover(s, "n1", "n3", 0);
	s->local.received_lsn = 9000;
}
static void r_switchover_proceeds_while_paused(scenario *s)
{
	r_switchover_candidate_takes_key_though_behind(s);
	s->view.paused = true;
}
static void r_manual_failover_candidate_takes_key_async(scenario *s)
{
	election(s);
	switchover(s, "", "n2", 0);
	find(s, "n3")->received_lsn = 1200;
}
static void r_manual_failover_lagging_candidate_refused(scenario *s)
{
	r_manual_failover_candidate_takes_key_async(s);
	s->view.last_lsn = 1000 + (2 << 20);
}
static void r_manual_failover_sync_still_needs_most_advanced(scenario *s)
{
	r_manual_failover_candidate_takes_key_async(s);
	sync_set(s, "n2", "n3");
}
static void r_handed_over_leader_follows_without_rewind(scenario *s)
{
	s->local.running = s->local.answering = false;
	s->local.was_primary = true;
	s->local.clean_handover = true;
}
static void r_starting_postgres_waits(scenario *s) { s->local.answering = false; }
static void r_replica_of_old_leader_follows_new(scenario *s) { snprintf(s->view.leader, sizeof s->view.leader, "n3"); }
static void r_etcd_down_replica_rests(scenario *s) { s->agent.etcd_ok = false; }
static void r_key_gone_replica_stops_receiving(scenario *s) { s->view.has_leader = false; }
static void r_fenced_for_old_term_stops_again(scenario *s)
{
	election(s);
	s->view.last_term = 9;
}
static void r_receiver_restarted_stops_again(scenario *s)
{
	election(s);
	s->local.receiver_active = true;
}
static void r_most_advanced_takes_key(scenario *s)
{
	election(s);
	s->local.received_lsn = 1200;
	find(s, "n2")->received_lsn = 1200;
}
static void r_less_advanced_waits(scenario *s)
{
	election(s);
	find(s, "n3")->received_lsn = 1200;
}
static void r_tie_broken_by_priority(scenario *s)
{
	election(s);
	find(s, "n3")->priority = 5;
}
static void r_tie_broken_by_name(scenario *s) { election(s); }
static void r_tie_lost_by_name(scenario *s)
{
	election(s);
	s->cfg.name = "n4";
	snprintf(find(s, "n2")->name, CLUSTER_NAME_MAX, "n4");
}
static void r_replay_breaks_receive_tie(scenario *s)
{
	election(s);
	find(s, "n3")->received_lsn = 1000;
	find(s, "n3")->replayed_lsn = 900;
}
static void r_nofailover_never_takes(scenario *s)
{
	election(s);
	s->cfg.nofailover = true;
	s->local.received_lsn = 5000;
}
static void r_nofailover_peer_is_skipped(scenario *s)
{
	election(s);
	find(s, "n3")->received_lsn = 5000;
	find(s, "n3")->nofailover = true;
}
static void r_lagging_replica_not_eligible(scenario *s)
{
	election(s);
	s->view.last_lsn = 1000 + (2 << 20);
}
static void r_lagging_peer_is_skipped(scenario *s)
{
	election(s);
	s->view.last_lsn = 1000 + (2 << 20);
	s->local.received_lsn = s->local.replayed_lsn = s->view.last_lsn;
	find(s, "n3")->received_lsn = 1000;
}
static void r_async_waits_for_silent_peer(scenario *s)
{
	election(s);
	find(s, "n3")->fenced_term = 0;
	s->now = 100.5;
}
static void r_async_gives_up_waiting_after_election_wait(scenario *s)
{
	election(s);
	find(s, "n3")->fenced_term = 0;
	s->now = 102.5;
}
static void r_async_ignores_stopped_peer(scenario *s)
{
	election(s);
	find(s, "n3")->fenced_term = 0;
	find(s, "n3")->running = false;
}
static void r_paused_cluster_does_not_fail_over(scenario *s)
{
	election(s);
	s->view.paused = true;
}
static void r_sync_member_takes_key(scenario *s)
{
	election(s);
	sync_set(s, "n2", "n3");
}
static void r_sync_non_member_never_takes(scenario *s)
{
	election(s);
	sync_set(s, "n3", NULL);
	s->local.received_lsn = 9000;
}
static void r_sync_waits_for_every_member(scenario *s)
{
	election(s);
	sync_set(s, "n2", "n3");
	find(s, "n3")->fenced_term = 0;
	s->now = 200.0; /* no timeout in synchronous mode */
}
static void r_sync_waits_for_dead_member(scenario *s)
{
	election(s);
	sync_set(s, "n2", "n3");
	s->view.n_members = 1;
	s->now = 200.0;
}
static void r_sync_more_advanced_member_wins(scenario *s)
{
	election(s);
	sync_set(s, "n2", "n3");
	find(s, "n3")->received_lsn = 1100;
}
static void r_sync_ignores_lag_limit(scenario *s)
{
	election(s);
	sync_set(s, "n2", "n3");
	s->view.last_lsn = 1000 + (4 << 20);
}
static void r_sync_set_of_older_term_blocks(scenario *s)
{
	election(s);
	sync_set(s, "n2", "n3");
	s->view.sync_term = 5;
}
static void r_sync_empty_set_blocks(scenario *s)
{
	election(s);
	sync_set(s, NULL, NULL);
}
static void r_key_holder_in_recovery_promotes(scenario *s)
{
	s->agent.leader = true;
	snprintf(s->view.leader, sizeof s->view.leader, "n2");
	s->view.leader_lease = 22;
}
static void r_stale_own_key_replica_waits(scenario *s)
{
	snprintf(s->view.leader, sizeof s->view.leader, "n2");
	s->view.leader_lease = 99;
}
static void r_stale_own_key_stopped_starts_readonly(scenario *s)
{
	r_stale_own_key_replica_waits(s);
	s->local.running = s->local.answering = false;
}
static void r_no_data_no_leader_after_history_waits(scenario *s)
{
	s->local = (local_state){0};
	s->view.has_leader = false;
}
static void r_running_without_data_waits(scenario *s) { s->local.data_valid = false; }
static void r_paused_stopped_replica_stays_stopped(scenario *s)
{
	r_stopped_replica_starts_following(s);
	s->view.paused = true;
}
static void r_paused_stopped_leader_keeps_key_without_start(scenario *s)
{
	r_leader_crashing_too_often_gives_up(s);
	s->view.paused = true;
}
static void r_paused_stopped_former_primary_is_not_rewound(scenario *s)
{
	r_stopped_former_primary_rewinds(s);
	s->view.paused = true;
}
static void r_paused_stopped_without_leader_stays_stopped(scenario *s)
{
	r_stopped_without_leader_starts_readonly(s);
	s->view.paused = true;
}
static void r_paused_replica_stopped_by_agent_starts(scenario *s)
{
	r_paused_stopped_replica_stays_stopped(s);
	s->local.stopped_by_agent = true;
}
static void r_paused_leader_restarted_on_request_starts(scenario *s)
{
	r_leader_crashed_pg_restarts(s);
	s->view.paused = true;
	s->local.stopped_by_agent = true;
}
static void r_paused_handed_over_leader_follows(scenario *s)
{
	r_handed_over_leader_follows_without_rewind(s);
	s->view.paused = true;
	s->local.stopped_by_agent = true;
}
static void r_paused_stopped_leader_releases_key_for_manual_failover(scenario *s)
{
	r_paused_stopped_leader_keeps_key_without_start(s);
	switchover(s, "", "n3", 0);
}
static void r_paused_stopped_leader_keeps_key_for_switchover(scenario *s)
{
	r_paused_stopped_leader_keeps_key_without_start(s);
	switchover(s, "n2", "n3", 0);
}
static void r_paused_empty_node_is_not_cloned(scenario *s)
{
	r_empty_node_clones_from_leader(s);
	s->view.paused = true;
}
static void r_paused_reinit_node_clones(scenario *s)
{
	r_paused_empty_node_is_not_cloned(s);
	s->local.stopped_by_agent = true;
}
static void r_paused_fresh_node_does_not_race_for_init(scenario *s)
{
	r_fresh_node_races_for_init(s);
	s->view.paused = true;
}
static void r_paused_stuck_replica_is_not_rewound(scenario *s)
{
	r_stuck_replica_rewinds(s);
	s->view.paused = true;
}

typedef struct row {
	const char *name;
	void (*setup)(scenario *);
	action expect;
	const char *target;
} row;

static const row rows[] = {
	{"streaming replica rests", r_streaming_replica_rests, ACT_NONE, ""},
	{"handover waits for the candidate", r_handover_waits_for_the_candidate, ACT_NONE, ""},
	{"handover releases once the candidate holds the last WAL",
	 r_handover_releases_once_the_candidate_holds_the_wal, ACT_RELEASE_LEADER, "n3"},
	{"handover abandoned after the timeout", r_handover_abandoned_after_the_timeout, ACT_ABANDON_SWITCHOVER, ""},
	{"handover abandoned when the record is gone", r_handover_abandoned_when_the_record_is_gone,
	 ACT_ABANDON_SWITCHOVER, ""},
	{"handover fences past the deadline", r_handover_fences_past_the_deadline, ACT_FENCE, ""},
	{"fresh node races for init", r_fresh_node_races_for_init, ACT_TAKE_INIT, ""},
	{"init winner bootstraps", r_init_winner_bootstraps, ACT_INITDB, ""},
	{"init loser waits for a leader", r_init_loser_waits_for_leader, ACT_NONE, ""},
	{"empty node clones from the leader", r_empty_node_clones_from_leader, ACT_CLONE, "n1"},
	{"init owner with history does not reinit", r_init_owner_with_history_does_not_reinit, ACT_NONE, ""},
	{"bootstrapped primary takes the key", r_bootstrapped_primary_takes_key, ACT_TAKE_LEADER, ""},
	{"leader leads", r_leader_leads, ACT_LEAD, ""},
	{"leader past its deadline fences", r_leader_past_deadline_fences, ACT_FENCE, ""},
	{"leader just before its deadline leads", r_leader_just_before_deadline_leads, ACT_LEAD, ""},
	{"leader fences even when etcd is down", r_leader_fences_even_when_etcd_down, ACT_FENCE, ""},
	{"leader waits out an etcd outage before its deadline", r_leader_waits_out_etcd_outage_before_deadline,
	 ACT_NONE, ""},
	{"leader whose key vanished fences", r_leader_whose_key_vanished_fences, ACT_FENCE, ""},
	{"leader whose key was taken fences", r_leader_whose_key_was_taken_fences, ACT_FENCE, ""},
	{"leader whose key has another lease fences", r_leader_with_other_lease_fences, ACT_FENCE, ""},
	{"primary while another leads demotes", r_primary_without_key_demotes, ACT_DEMOTE, "n1"},
	{"primary of a stale own key demotes", r_primary_of_stale_own_key_demotes, ACT_DEMOTE, "n2"},
	{"primary with no leader key demotes", r_orphan_primary_no_leader_demotes, ACT_DEMOTE, ""},
	{"leader's crashed postgres restarts", r_leader_crashed_pg_restarts, ACT_START_PRIMARY, ""},
	{"leader crashing too often gives up", r_leader_crashing_too_often_gives_up, ACT_GIVE_UP, ""},
	{"stopped replica starts following", r_stopped_replica_starts_following, ACT_START_REPLICA, "n1"},
	{"stopped former primary rewinds", r_stopped_former_primary_rewinds, ACT_REWIND, "n1"},
	{"failed rewind re-clones", r_failed_rewind_reclones, ACT_RECLONE, "n1"},
	{"stopped node without leader starts read-only", r_stopped_without_leader_starts_readonly, ACT_START_REPLICA,
	 ""},
	{"former primary waits for a leader to rewind from", r_former_primary_waits_for_a_leader, ACT_NONE, ""},
	{"the last leader joins the election", r_last_leader_joins_the_election, ACT_START_REPLICA, ""},
	{"crash-looping replica rewinds", r_crash_looping_replica_rewinds, ACT_REWIND, "n1"},
	{"crash-looping replica re-clones after a failed rewind", r_crash_looping_replica_reclones_after_failed_rewind,
	 ACT_RECLONE, "n1"},
	{"replica that cannot stream rewinds", r_stuck_replica_rewinds, ACT_REWIND, "n1"},
	{"leader hands over on a switchover", r_leader_hands_over_on_switchover, ACT_SWITCHOVER, "n3"},
	{"leader waits for a scheduled switchover", r_leader_waits_for_scheduled_switchover, ACT_LEAD, ""},
	{"leader runs a due scheduled switchover", r_leader_runs_due_scheduled_switchover, ACT_SWITCHOVER, ""},
	{"switchover waits for a lagging candidate", r_switchover_waits_for_lagging_candidate, ACT_LEAD, ""},
	{"switchover gives up on a candidate still lagging", r_switchover_gives_up_on_lagging_candidate, ACT_SWITCHOVER,
	 "n3"},
	{"switchover goes once the candidate caught up", r_switchover_goes_once_candidate_caught_up, ACT_SWITCHOVER,
	 "n3"},
	{"leader drops a switchover naming another leader", r_leader_drops_switchover_of_other_leader,
	 ACT_CLEAR_SWITCHOVER, ""},
	{"switchover candidate takes the key though behind", r_switchover_candidate_takes_key_though_behind,
	 ACT_TAKE_LEADER, ""},
	{"non-candidate waits during a switchover", r_non_candidate_waits_during_switchover, ACT_NONE, ""},
	{"switchover proceeds while paused", r_switchover_proceeds_while_paused, ACT_TAKE_LEADER, ""},
	{"manual failover candidate takes the key (async)", r_manual_failover_candidate_takes_key_async,
	 ACT_TAKE_LEADER, ""},
	{"manual failover refuses a lagging candidate", r_manual_failover_lagging_candidate_refused, ACT_NONE, ""},
	{"manual failover in sync mode still needs the most advanced", r_manual_failover_sync_still_needs_most_advanced,
	 ACT_NONE, ""},
	{"handed-over leader follows without rewind", r_handed_over_leader_follows_without_rewind, ACT_START_REPLICA,
	 "n1"},
	{"starting postgres waits", r_starting_postgres_waits, ACT_NONE, ""},
	{"replica of the old leader follows the new one", r_replica_of_old_leader_follows_new, ACT_FOLLOW, "n3"},
	{"replica rests while etcd is down", r_etcd_down_replica_rests, ACT_NONE, ""},
	{"key gone: replica stops receiving", r_key_gone_replica_stops_receiving, ACT_STOP_RECEIVING, ""},
	{"fenced for an older term: stops again", r_fenced_for_old_term_stops_again, ACT_STOP_RECEIVING, ""},
	{"receiver restarted: stops again", r_receiver_restarted_stops_again, ACT_STOP_RECEIVING, ""},
	{"most advanced replica takes the key", r_most_advanced_takes_key, ACT_TAKE_LEADER, ""},
	{"less advanced replica waits", r_less_advanced_waits, ACT_NONE, ""},
	{"tie broken by priority", r_tie_broken_by_priority, ACT_NONE, ""},
	{"tie broken by name (n2 before n3)", r_tie_broken_by_name, ACT_TAKE_LEADER, ""},
	{"tie lost by name (n3 before n4)", r_tie_lost_by_name, ACT_NONE, ""},
	{"replay position breaks a receive tie", r_replay_breaks_receive_tie, ACT_TAKE_LEADER, ""},
	{"nofailover never takes the key", r_nofailover_never_takes, ACT_NONE, ""},
	{"nofailover peer is skipped", r_nofailover_peer_is_skipped, ACT_TAKE_LEADER, ""},
	{"lagging replica is not eligible", r_lagging_replica_not_eligible, ACT_NONE, ""},
	{"lagging peer is skipped", r_lagging_peer_is_skipped, ACT_TAKE_LEADER, ""},
	{"async: waits for a silent running peer", r_async_waits_for_silent_peer, ACT_NONE, ""},
	{"async: stops waiting after election_wait", r_async_gives_up_waiting_after_election_wait, ACT_TAKE_LEADER, ""},
	{"async: ignores a stopped peer", r_async_ignores_stopped_peer, ACT_TAKE_LEADER, ""},
	{"paused cluster does not fail over", r_paused_cluster_does_not_fail_over, ACT_NONE, ""},
	{"sync: member takes the key", r_sync_member_takes_key, ACT_TAKE_LEADER, ""},
	{"sync: non-member never takes the key", r_sync_non_member_never_takes, ACT_NONE, ""},
	{"sync: waits for every member, without timeout", r_sync_waits_for_every_member, ACT_NONE, ""},
	{"sync: waits for a dead member", r_sync_waits_for_dead_member, ACT_NONE, ""},
	{"sync: more advanced member wins", r_sync_more_advanced_member_wins, ACT_NONE, ""},
	{"sync: lag limit does not apply", r_sync_ignores_lag_limit, ACT_TAKE_LEADER, ""},
	{"sync: set of an older term blocks", r_sync_set_of_older_term_blocks, ACT_NONE, ""},
	{"sync: empty set blocks", r_sync_empty_set_blocks, ACT_NONE, ""},
	{"key holder in recovery promotes", r_key_holder_in_recovery_promotes, ACT_PROMOTE, ""},
	{"replica waits for its stale own key", r_stale_own_key_replica_waits, ACT_NONE, ""},
	{"stopped node with stale own key starts read-only", r_stale_own_key_stopped_starts_readonly, ACT_START_REPLICA,
	 ""},
	{"no data and no leader after history waits", r_no_data_no_leader_after_history_waits, ACT_NONE, ""},
	{"running postgres without valid data waits", r_running_without_data_waits, ACT_NONE, ""},
	{"paused: stopped replica stays stopped", r_paused_stopped_replica_stays_stopped, ACT_NONE, ""},
	{"paused: stopped leader keeps its key, not started", r_paused_stopped_leader_keeps_key_without_start, ACT_NONE,
	 ""},
	{"paused: stopped former primary is not rewound", r_paused_stopped_former_primary_is_not_rewound, ACT_NONE, ""},
	{"paused: stopped node without leader stays stopped", r_paused_stopped_without_leader_stays_stopped, ACT_NONE,
	 ""},
	{"paused: replica the agent stopped starts again", r_paused_replica_stopped_by_agent_starts, ACT_START_REPLICA,
	 "n1"},
	{"paused: leader restarted on request starts as primary", r_paused_leader_restarted_on_request_starts,
	 ACT_START_PRIMARY, ""},
	{"paused: handed-over leader follows", r_paused_handed_over_leader_follows, ACT_START_REPLICA, "n1"},
	{"paused: stopped leader releases its key for a manual failover",
	 r_paused_stopped_leader_releases_key_for_manual_failover, ACT_GIVE_UP, ""},
	{"paused: stopped leader keeps its key during a switchover", r_paused_stopped_leader_keeps_key_for_switchover,
	 ACT_NONE, ""},
	{"paused: empty node is not cloned", r_paused_empty_node_is_not_cloned, ACT_NONE, ""},
	{"paused: node emptied by reinit clones", r_paused_reinit_node_clones, ACT_CLONE, "n1"},
	{"paused: fresh node does not race for init", r_paused_fresh_node_does_not_race_for_init, ACT_NONE, ""},
	{"paused: replica that cannot stream is not rewound", r_paused_stuck_replica_is_not_rewound, ACT_NONE, ""},
};

static void test_every_row_of_the_transition_table(void)
{
	for (unsigned i = 0; i < sizeof rows / sizeof rows[0]; i++) {
		scenario s;
		base(&s);
		rows[i].setup(&s);
		decision d = decide(&s.cfg, &s.local, &s.agent, &s.view, s.now);
		bool ok = d.act == rows[i].expect && strcmp(d.target, rows[i].target) == 0;
		if (!ok)
			fprintf(stderr, "row \"%s\": got %s \"%s\" (%s), want %s \"%s\"\n", rows[i].name,
				action_name(d.act), d.target, d.reason, action_name(rows[i].expect), rows[i].target);
		CU_ASSERT(ok);
		CU_ASSERT_PTR_NOT_NULL(d.reason);
	}
}

static void test_every_action_has_a_row(void)
{
	bool seen[ACT__COUNT] = {0};
	for (unsigned i = 0; i < sizeof rows / sizeof rows[0]; i++)
		seen[rows[i].expect] = true;
	for (int a = 0; a < ACT__COUNT; a++) {
		if (!seen[a])
			fprintf(stderr, "no row expects %s\n", action_name((action)a));
		CU_ASSERT(seen[a]);
	}
}

/* Two replicas of one election, each deciding on its own view, never both take the key. */
static void test_exactly_one_candidate_wins_every_election(void)
{
	const uint64_t lsns[] = {900, 1000, 1100};
	const long prios[] = {0, 5};
	for (int mode = 0; mode < 2; mode++)
		for (unsigned a = 0; a < 3; a++)
			for (unsigned b = 0; b < 3; b++)
				for (unsigned pa = 0; pa < 2; pa++)
					for (unsigned pb = 0; pb < 2; pb++) {
						int winners = 0;
						for (int who = 0; who < 2; who++) {
							scenario s;
							base(&s);
							election(&s);
							if (mode)
								sync_set(&s, "n2", "n3");
							member *m2 = find(&s, "n2"), *m3 = find(&s, "n3");
							m2->received_lsn = m2->replayed_lsn = lsns[a];
							m3->received_lsn = m3->replayed_lsn = lsns[b];
							m2->priority = prios[pa];
							m3->priority = prios[pb];
							const member *me = who == 0 ? m2 : m3;
							s.cfg.name = me->name;
							s.cfg.priority = me->priority;
							s.local.received_lsn = s.local.replayed_lsn = me->received_lsn;
							decision d = decide(&s.cfg, &s.local, &s.agent, &s.view, s.now);
							winners += d.act == ACT_TAKE_LEADER;
						}
						CU_ASSERT_EQUAL(winners, 1);
					}
}

/*
 * Paused, every stopped or empty node in every situation: nothing the agent
 * did not stop is started, rewound, cloned or initialised, and the leader
 * keeps its key unless a manual failover names another member.
 */
static void test_paused_never_brings_back_what_stopped_on_its_own(void)
{
	static const action forbidden[] = {ACT_TAKE_INIT,     ACT_INITDB, ACT_CLONE,   ACT_START_PRIMARY,
					   ACT_START_REPLICA, ACT_REWIND, ACT_RECLONE, ACT_PROMOTE};
	for (unsigned bits = 0; bits < 1u << 6; bits++)
		for (int leader = 0; leader < 3; leader++)
			for (int crashes = 0; crashes < 6; crashes += 5)
				for (int so = 0; so < 3; so++) {
					scenario s;
					base(&s);
					if (leader == 1)
						leading(&s);
					else if (leader == 2)
						s.view.has_leader = false;
					s.local.running = s.local.answering = false;
					s.local.data_valid = bits & 1;
					s.local.was_primary = bits & 2;
					s.local.rewind_failed = bits & 4;
					s.local.clean_handover = bits & 8;
					s.local.receiver_active = bits & 16;
					s.view.initialized = bits & 32;
					s.local.recent_crashes = crashes;
					if (so == 1)
						switchover(&s, "", "n3", 0);
					else if (so == 2)
						switchover(&s, "n1", "n2", 0);
					s.view.paused = true;
					decision d = decide(&s.cfg, &s.local, &s.agent, &s.view, s.now);
					bool bad = false;
					for (unsigned i = 0; i < sizeof forbidden / sizeof forbidden[0]; i++)
						bad |= d.act == forbidden[i];
					bad |= d.act == ACT_GIVE_UP && !(leader == 1 && so == 1);
					if (bad)
						fprintf(stderr,
							"paused, bits %#x leader %d crashes %d switchover %d: %s "
							"(%s)\n",
							bits, leader, crashes, so, action_name(d.act), d.reason);
					CU_ASSERT(!bad);
				}
}

/* --- sync planner --- */
static name_set set_of(const char *a, const char *b)
{
	name_set s = {0};
	if (a)
		name_set_add(&s, a);
	if (b)
		name_set_add(&s, b);
	return s;
}

static void test_sync_first_replica_goes_into_ssn_before_publication(void)
{
	sync_state st = {0};
	sync_replica r[] = {{"n2", true, true, 50}};
	name_set out;
	CU_ASSERT_EQUAL(sync_plan(&st, r, 1, &out), SYNC_SET_SSN);
	CU_ASSERT(name_set_equal(&out, &(name_set){0}) == false && name_set_has(&out, "n2"));
	st.ssn = out;
	st.pending_lsn = 100;
	CU_ASSERT_EQUAL(sync_plan(&st, r, 1, &out), SYNC_NOTHING); /* not caught up to 100 */
	r[0].flush_lsn = 100;
	CU_ASSERT_EQUAL(sync_plan(&st, r, 1, &out), SYNC_PUBLISH);
	CU_ASSERT(name_set_equal(&out, &st.ssn));
}

static void test_sync_addition_is_published_before_ssn_changes(void)
{
	sync_state st = {.ssn = set_of("n2", NULL), .published = set_of("n2", NULL), .pending_lsn = 10};
	sync_replica r[] = {{"n2", true, true, 100}, {"n3", true, true, 100}};
	name_set out;
	CU_ASSERT_EQUAL(sync_plan(&st, r, 2, &out), SYNC_PUBLISH);
	CU_ASSERT(name_set_equal(&out, &(name_set){0}) == false && out.n == 2);
	st.published = out;
	CU_ASSERT_EQUAL(sync_plan(&st, r, 2, &out), SYNC_SET_SSN);
	CU_ASSERT_EQUAL(out.n, 2);
	st.ssn = out;
	CU_ASSERT_EQUAL(sync_plan(&st, r, 2, &out), SYNC_NOTHING);
}

static void test_sync_removal_is_published_after_catch_up(void)
{
	sync_state st = {.ssn = set_of("n2", "n3"), .published = set_of("n2", "n3"), .pending_lsn = 10};
	sync_replica r[] = {{"n2", true, true, 100}, {"n3", false, true, 100}};
	name_set out;
	CU_ASSERT_EQUAL(sync_plan(&st, r, 2, &out), SYNC_SET_SSN);
	CU_ASSERT(name_set_equal(&out, &(name_set){0}) == false && out.n == 1 && name_set_has(&out, "n2"));
	st.ssn = out;
	st.pending_lsn = 200;
	CU_ASSERT_EQUAL(sync_plan(&st, r, 2, &out), SYNC_NOTHING); /* published still n2,n3: a superset */
	r[0].flush_lsn = 200;
	CU_ASSERT_EQUAL(sync_plan(&st, r, 2, &out), SYNC_PUBLISH);
	CU_ASSERT_EQUAL(out.n, 1);
}

static void test_sync_never_empties_ssn(void)
{
	sync_state st = {.ssn = set_of("n2", NULL), .published = set_of("n2", NULL)};
	sync_replica r[] = {{"n2", false, true, 0}};
	name_set out;
	CU_ASSERT_EQUAL(sync_plan(&st, r, 1, &out), SYNC_NOTHING);
	CU_ASSERT_EQUAL(sync_plan(&st, NULL, 0, &out), SYNC_NOTHING);
}

static void test_sync_excludes_nofailover_replicas(void)
{
	sync_state st = {0};
	sync_replica r[] = {{"n2", true, false, 0}, {"n3", true, true, 0}};
	name_set out;
	CU_ASSERT_EQUAL(sync_plan(&st, r, 2, &out), SYNC_SET_SSN);
	CU_ASSERT_EQUAL(out.n, 1);
	CU_ASSERT(name_set_has(&out, "n3"));
}

static void test_ssn_text(void)
{
	char buf[128];
	name_set s = set_of("n3", "n2");
	name_set_ssn(&s, buf, sizeof buf);
	CU_ASSERT_STRING_EQUAL(buf, "ANY 1 (\"n2\",\"n3\")");
	name_set e = {0};
	name_set_ssn(&e, buf, sizeof buf);
	CU_ASSERT_STRING_EQUAL(buf, "");
	/* A quote in a name is doubled: it stays one quoted identifier. */
	name_set q = set_of("a\"b", "n2");
	name_set_ssn(&q, buf, sizeof buf);
	CU_ASSERT_STRING_EQUAL(buf, "ANY 1 (\"a\"\"b\",\"n2\")");
}

/* --- cluster records --- */
/* --- policies shared by the election, the switchover and the API --- */

/* n1 leads (as seen by itself, the switchover's leader); n2 and n3 stream. */
static void switchover_base(scenario *s)
{
	base(s);
	s->cfg.name = "n1";
	find(s, "n1")->wal_lsn = 1000;
	find(s, "n2")->streaming = find(s, "n3")->streaming = true;
}

static void so_n3_received_more(scenario *s) { find(s, "n3")->received_lsn = 1001; }
static void so_n2_replayed_more(scenario *s)
{
	find(s, "n2")->received_lsn = find(s, "n3")->received_lsn = 1000;
	find(s, "n2")->replayed_lsn = 1000;
	find(s, "n3")->replayed_lsn = 990;
	find(s, "n3")->priority = 5; /* priority only breaks a tie of both positions */
}
static void so_n3_higher_priority(scenario *s) { find(s, "n3")->priority = 1; }
static void so_tie_goes_to_the_name(scenario *s) { (void)s; }
static void so_wanted_not_streaming(scenario *s) { find(s, "n2")->streaming = false; }
static void so_wanted_nofailover(scenario *s) { find(s, "n3")->nofailover = true; }
static void so_sync_prefers_the_set(scenario *s)
{
	find(s, "n3")->received_lsn = 1001;
	sync_set(s, "n2", NULL);
}
static void so_lagging_candidate(scenario *s)
{
	find(s, "n1")->wal_lsn = 1000 + (3 << 20);
	find(s, "n3")->received_lsn = 1001;
}
static void so_no_replica(scenario *s) { s->view.n_members = 1; }
static void so_every_replica_nofailover(scenario *s) { find(s, "n2")->nofailover = find(s, "n3")->nofailover = true; }

static const struct {
	const char *name;
	void (*make)(scenario *s);
	const char *wanted;
	const char *want; /* NULL: none */
	const char *why;  /* a substring of why */
} switchover_rows[] = {
	{"the replica with more WAL received", so_n3_received_more, "", "n3", "most advanced"},
	{"then the one that replayed more, before priority", so_n2_replayed_more, "", "n2", "most advanced"},
	{"then the higher priority", so_n3_higher_priority, "", "n3", "most advanced"},
	{"then the name", so_tie_goes_to_the_name, "", "n2", "most advanced"},
	{"a wanted replica that streams", so_tie_goes_to_the_name, "n3", "n3", "requested"},
	{"a wanted replica that does not stream", so_wanted_not_streaming, "n2", NULL,
	 "not a streaming, eligible replica"},
	{"a wanted replica tagged nofailover", so_wanted_nofailover, "n3", NULL, "not a streaming, eligible replica"},
	{"synchronous mode keeps to the synchronous set", so_sync_prefers_the_set, "", "n2", "most advanced"},
	{"the best candidate lags beyond maximum_lag", so_lagging_candidate, "", NULL,
	 "lags beyond maximum_lag_on_failover"},
	{"no replica at all", so_no_replica, "", NULL, "no streaming, eligible replica"},
	{"every replica tagged nofailover", so_every_replica_nofailover, "", NULL, "no streaming, eligible replica"},
};

static void test_switchover_candidate_rows(void)
{
	for (size_t i = 0; i < sizeof switchover_rows / sizeof switchover_rows[0]; i++) {
		scenario s;
		switchover_base(&s);
		switchover_rows[i].make(&s);
		const char *why = NULL;
		const member *m = decide_switchover_candidate(&s.cfg, &s.view, switchover_rows[i].wanted, &why);
		const char *got = m ? m->name : NULL;
		bool ok = (got == NULL) == (switchover_rows[i].want == NULL) &&
			  (got == NULL || strcmp(got, switchover_rows[i].want) == 0) && why &&
			  strstr(why, switchover_rows[i].why);
		if (!ok)
			printf("\n  %s: got %s (%s), want %s (%s)", switchover_rows[i].name, got ? got : "none",
			       why ? why : "", switchover_rows[i].want ? switchover_rows[i].want : "none",
			       switchover_rows[i].why);
		CU_ASSERT_TRUE(ok);
	}
}

/* The switchover and the election rank alike: over every pair of positions and priorities, the candidate is the better one. */
static void test_switchover_and_election_rank_alike(void)
{
	static const uint64_t pos[] = {990, 1000, 1001};
	static const long prio[] = {0, 1};
	int cases = 0;
	for (int a = 0; a < 3; a++)
		for (int b = 0; b < 3; b++)
			for (int c = 0; c < 3; c++)
				for (int d = 0; d < 3; d++)
					for (int p = 0; p < 2; p++)
						for (int q = 0; q < 2; q++) {
							scenario s;
							switchover_base(&s);
							member *n2 = find(&s, "n2"), *n3 = find(&s, "n3");
							n2->received_lsn = pos[a];
							n2->replayed_lsn = pos[b] < pos[a] ? pos[b] : pos[a];
							n3->received_lsn = pos[c];
							n3->replayed_lsn = pos[d] < pos[c] ? pos[d] : pos[c];
							n2->priority = prio[p];
							n3->priority = prio[q];
							const char *why;
							const member *m =
								decide_switchover_candidate(&s.cfg, &s.view, "", &why);
							CU_ASSERT_PTR_NOT_NULL_FATAL(m);
							const member *other = m == n2 ? n3 : n2;
							CU_ASSERT_TRUE(decide_better(m, other));
							CU_ASSERT_FALSE(decide_better(other, m));
							cases++;
						}
	CU_ASSERT_EQUAL(cases, 324);
}

static void test_lag_rule_uses_the_leaders_last_position(void)
{
	scenario s;
	base(&s);
	s.cfg.maximum_lag = 100;
	find(&s, "n1")->wal_lsn = 5000; /* the leader runs: its record is the baseline */
	s.view.last_lsn = 1000;
	CU_ASSERT_TRUE(decide_lag_ok(&s.cfg, &s.view, 4900));
	CU_ASSERT_FALSE(decide_lag_ok(&s.cfg, &s.view, 4899));
	CU_ASSERT_TRUE(decide_lag_ok(&s.cfg, &s.view, 6000));
	s.view.has_leader = false; /* the leader is gone: the status record is the baseline */
	CU_ASSERT_TRUE(decide_lag_ok(&s.cfg, &s.view, 900));
	CU_ASSERT_FALSE(decide_lag_ok(&s.cfg, &s.view, 899));
	s.view.has_status = false;
	s.view.last_lsn = 0; /* nothing known: any position is fit */
	CU_ASSERT_TRUE(decide_lag_ok(&s.cfg, &s.view, 0));
}

static void test_failover_and_reinit_admission(void)
{
	static const struct {
		const char *name;
		const char *candidate;
		bool leader_running, sync_mode, in_sync;
		admit want;
		const char *why;
	} rows[] = {
		{"not a member", "n9", false, false, false, ADMIT_REFUSED, "not a member"},
		{"the leader itself", "n1", false, false, false, ADMIT_REFUSED, "already holds the leader key"},
		{"a healthy leader", "n3", true, false, false, ADMIT_CONFLICT, "healthy leader (n1)"},
		{"the leader is down", "n3", false, false, false, ADMIT_OK, ""},
		{"synchronous, not in the set", "n3", false, true, false, ADMIT_CONFLICT, "not in the synchronous set"},
		{"synchronous, in the set", "n3", false, true, true, ADMIT_OK, ""},
	};
	for (size_t i = 0; i < sizeof rows / sizeof rows[0]; i++) {
		scenario s;
		base(&s);
		find(&s, "n1")->running = rows[i].leader_running;
		if (rows[i].in_sync)
			sync_set(&s, "n3", NULL);
		char why[256] = "";
		admit a = decide_admit_failover(rows[i].sync_mode, &s.view, rows[i].candidate, why, sizeof why);
		if (a != rows[i].want || strstr(why, rows[i].why) == NULL)
			printf("\n  failover %s: %d (%s), want %d (%s)", rows[i].name, a, why, rows[i].want,
			       rows[i].why);
		CU_ASSERT_EQUAL(a, rows[i].want);
		CU_ASSERT_PTR_NOT_NULL(strstr(why, rows[i].why));
	}
	scenario s;
	base(&s);
	find(&s, "n3")->nofailover = true;
	char why[256] = "";
	CU_ASSERT_EQUAL(decide_admit_failover(false, &s.view, "n3", why, sizeof why), ADMIT_REFUSED);
	CU_ASSERT_PTR_NOT_NULL(strstr(why, "tagged nofailover"));
	CU_ASSERT_EQUAL(decide_admit_candidate(&s.view, "n2", why, sizeof why), ADMIT_OK);
	CU_ASSERT_EQUAL(decide_admit_reinit(false, "n2", why, sizeof why), ADMIT_OK);
	CU_ASSERT_EQUAL(decide_admit_reinit(true, "n2", why, sizeof why), ADMIT_CONFLICT);
	CU_ASSERT_PTR_NOT_NULL(strstr(why, "n2 holds the leader key"));
}

static void test_a_node_that_cannot_lead_never_takes_a_key(void)
{
	scenario s;
	base(&s);
	s.cfg.cannot_lead = true;
	election(&s);
	decision d = decide(&s.cfg, &s.local, &s.agent, &s.view, s.now + 10);
	CU_ASSERT_NOT_EQUAL(d.act, ACT_TAKE_LEADER);
	CU_ASSERT_PTR_NOT_NULL(strstr(d.reason, "watchdog"));
	s.cfg.cannot_lead = false;
	d = decide(&s.cfg, &s.local, &s.agent, &s.view, s.now + 10);
	CU_ASSERT_EQUAL(d.act, ACT_TAKE_LEADER);
	/* nor races to bootstrap a new cluster */
	s.view = (cluster_view){0};
	s.local = (local_state){0};
	s.cfg.cannot_lead = true;
	d = decide(&s.cfg, &s.local, &s.agent, &s.view, s.now);
	CU_ASSERT_EQUAL(d.act, ACT_NONE);
	s.cfg.cannot_lead = false;
	d = decide(&s.cfg, &s.local, &s.agent, &s.view, s.now);
	CU_ASSERT_EQUAL(d.act, ACT_TAKE_INIT);
}

static void test_the_key_is_ours_only_by_name_and_lease(void)
{
	static const struct {
		bool has_leader;
		const char *leader;
		int64_t key_lease, our_lease;
		bool want;
	} rows[] = {
		{true, "n2", 22, 22, true},  {true, "n2", 21, 22, false}, /* a previous run's lease */
		{true, "n1", 22, 22, false}, {false, "n2", 22, 22, false},
		{true, "n2", 0, 0, false}, /* no lease of ours */
	};
	for (size_t i = 0; i < sizeof rows / sizeof rows[0]; i++) {
		scenario s;
		base(&s);
		s.view.has_leader = rows[i].has_leader;
		snprintf(s.view.leader, sizeof s.view.leader, "%s", rows[i].leader);
		s.view.leader_lease = rows[i].key_lease;
		s.agent.lease = rows[i].our_lease;
		CU_ASSERT_EQUAL(decide_holds_key(&s.cfg, &s.agent, &s.view), rows[i].want);
	}
}

void suite_register(void)
{
	CU_pSuite s = CU_add_suite("decide", NULL, NULL);
	CU_add_test(s, "every row of the transition table", test_every_row_of_the_transition_table);
	CU_add_test(s, "every action has a row", test_every_action_has_a_row);
	CU_add_test(s, "the key is ours only by name and lease", test_the_key_is_ours_only_by_name_and_lease);
	CU_add_test(s, "a node that cannot lead never takes a key", test_a_node_that_cannot_lead_never_takes_a_key);
	CU_add_test(s, "exactly one candidate wins every election", test_exactly_one_candidate_wins_every_election);
	CU_add_test(s, "paused never brings back what stopped on its own",
		    test_paused_never_brings_back_what_stopped_on_its_own);
	CU_pSuite p = CU_add_suite("policies", NULL, NULL);
	CU_add_test(p, "switchover candidate rows", test_switchover_candidate_rows);
	CU_add_test(p, "switchover and election rank alike", test_switchover_and_election_rank_alike);
	CU_add_test(p, "the lag rule uses the leader's last position", test_lag_rule_uses_the_leaders_last_position);
	CU_add_test(p, "failover and reinit admission", test_failover_and_reinit_admission);
	CU_pSuite y = CU_add_suite("sync", NULL, NULL);
	CU_add_test(y, "first replica goes into ssn before publication",
		    test_sync_first_replica_goes_into_ssn_before_publication);
	CU_add_test(y, "addition is published before ssn changes", test_sync_addition_is_published_before_ssn_changes);
	CU_add_test(y, "removal is published after catch-up", test_sync_removal_is_published_after_catch_up);
	CU_add_test(y, "ssn never becomes empty", test_sync_never_empties_ssn);
	CU_add_test(y, "nofailover replicas are not synchronous", test_sync_excludes_nofailover_replicas);
	CU_add_test(y, "synchronous_standby_names text", test_ssn_text);
}
