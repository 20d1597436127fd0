/*
 * node: one tick of the HA loop and the execution of each action. The order
 * inside a tick matters for safety: the fencing deadline is checked before
 * any I/O (a stalled agent that wakes up stops its primary first), etcd
 * requests and PostgreSQL calls never outlive the deadline (a slow
 * promotion or checkpoint is cut there), and this member's record is published
 * only after the action, so that a replica's reported position is the one it
 * holds once it stopped receiving.
 */
#include "node.h"

#include <libpq-fe.h>
#include <jansson.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/clock.h"
#include "common/hostport.h"
#include "cluster/option_rows.h"
#include "cluster/cluster.h"
#include "cluster/dynconf.h"
#include "decide.h"
#include "fence.h"
#include "fence_rule.h"
#include "common/log.h"
#include "postgres.h"
#include "common/secret.h"
#include "callbacks.h"
#include "command.h"
#include "lease.h"
#include "slots.h"
#include "store.h"
#include "switchover.h"
#include "sync.h"

/* Slots of members gone for this long are dropped; long enough to cover a clone or a restart. */
#define SLOT_KEEP_SECONDS 300.0
#define FENCE_MARGIN 1.0
/* A replica that cannot stream from its leader for this long is rewound onto the leader's timeline. */
#define STUCK_SECONDS 15.0
/* Seconds a switchover waits for its candidate to confirm the stopped leader's last WAL. */
#define HANDOVER_TIMEOUT 10.0
/* Seconds a leader waits per recent crash before starting PostgreSQL again (a replica: 0.5). */
#define LEADER_RESTART_STEP 0.2

/* A long effect under way: the tick keeps the lease and the member record fresh, and decides nothing. */
typedef enum node_job {
	JOB_NONE,
	JOB_INITDB,          /* initdb runs */
	JOB_BOOTSTRAP_START, /* the new cluster starts; then the replication role is created */
	JOB_POST_INIT,       /* bootstrap.post_init runs on the new cluster */
	JOB_CLONE,           /* pg_basebackup from the leader runs */
	JOB_REWIND,          /* pg_rewind onto the leader runs */
	JOB_STOPPING,        /* PostgreSQL is being stopped (cleanly); then after_stop carries on */
} node_job;

/* The member record's state while a job runs. */
static const char *const job_states[] = {
	[JOB_NONE] = "",
	[JOB_INITDB] = "bootstrapping",
	[JOB_BOOTSTRAP_START] = "bootstrapping",
	[JOB_POST_INIT] = "bootstrapping",
	[JOB_CLONE] = "cloning",
	[JOB_REWIND] = "rewinding",
	[JOB_STOPPING] = "stopping",
};

/* Seconds a bootstrapped cluster may take to answer its first query. */
#define BOOTSTRAP_START_TIMEOUT 60.0

struct node {
	options *o;
	store *store;
	postgres *pg;
	fence *fence;     /* the fence process: stops a writable postgres whose lease nobody renews */
	bool cannot_lead; /* watchdog.mode required without a watchdog */
	agent_state agent;
	local_state local;
	cluster_view view;
	int64_t term; /* leader key revision we hold */
	sync_state sync;
	slot_book slots;                           /* members that keep a replication slot */
	slot_state slot_info[CLUSTER_MAX_MEMBERS]; /* those slots as the leader last read them */
	int n_slot_info;
	action last_act;
	const char *last_reason;
	bool rewind_failed;
	double not_streaming_since; /* following an upstream without a walreceiver since, 0 otherwise */
	lease_counters lease;
	uint64_t leader_changes;
	bool clean_handover;       /* we stopped cleanly and handed the key over in a switchover */
	command_requests requests; /* POST /restart and /reinit, for the next tick */
	bool start_requested;      /* stopped or emptied on request: start (or clone) again, even while paused */
	char rejected_logged[256]; /* the last rejected etcd record logged */
	char *history;             /* the history record as last read, NULL when none */
	node_wake_fn wake;         /* asks main for a tick now (a job ended) */
	void *wake_arg;
	node_job job;
	char job_target[CLUSTER_NAME_MAX]; /* the node cloned or rewound from */
	bool job_reclone;                  /* the clone replaces a former primary's data (rejoin) */
	bool job_ended;                    /* the program ended: job_rc and job_error hold how */
	int job_rc;
	char job_error[512];
	double job_since;
	double restore_logged_at;    /* a restored copy's replay last logged (bootstrap.restore_repo) */
	double dcs_last_seen;        /* wall time of the last good read of etcd */
	void (*after_stop)(node *n); /* what JOB_STOPPING leads to, with job_target */
	callbacks *cbs;              /* callbacks.on_* */
	callback_state cb;
	bool cb_restarting; /* a POST /restart is under way: on_restart, not on_stop and on_start */
	bool cb_quiet;      /* the agent stopped PostgreSQL to start it again: only a new role is told */
	int64_t config_rev; /* mod_revision of the dynamic configuration applied (0: none set), -1 before the first */
	json_t *config;     /* that configuration, NULL when none is set or it was refused */
	char *config_text;  /* the same as GET /config answers it */
	bool config_unwritten; /* applied while PostgreSQL did not answer: flotilla.conf still to write */
};

static void on_leader_change(void *arg)
{
	node *n = arg;
	log_debug("the leader key changed: ticking now");
	n->wake(n->wake_arg);
}

node *node_new(options *o, struct event_base *base, const char *argv0, node_wake_fn wake, void *wake_arg, fl_err *err)
{
	node *n = calloc(1, sizeof *n);
	n->o = o;
	n->wake = wake;
	n->wake_arg = wake_arg;
	n->config_rev = -1;
	n->pg = postgres_new(o, base, err);
	n->cbs = callbacks_new(o, base);
	if (n->pg != NULL) {
		etcd_security sec = CLUSTER_ETCD_SECURITY(o);
		n->store = store_new(&o->etcd_endpoints, &sec, o->etcd_prefix, o->scope, o->retry_timeout, err);
	}
	const char *wd = NULL;
	bool required = strcmp(o->watchdog_mode, "required") == 0;
	if (n->store != NULL && strcmp(o->watchdog_mode, "off") != 0) {
		char why[PATH_MAX + 64];
		if (fence_watchdog_check(o->watchdog_device, why, sizeof why) == 0)
			wd = o->watchdog_device;
		else if (required)
			log_error("watchdog.mode is required, but %s: this node will never lead", why);
		else
			log_warn("watchdog.mode is automatic, and %s: leading without a watchdog", why);
		n->cannot_lead = required && wd == NULL;
	}
	if (n->store != NULL)
		n->fence = fence_new(argv0, o->name, wd, fence_watchdog_timeout(o->ttl), required, err);
	/* A leader key taken, released or expired: tick now, so an election starts with the expiry itself. */
	if (n->fence == NULL ||
	    (wake != NULL && o->etcd_watch && store_watch_leader(n->store, base, on_leader_change, n, err) < 0)) {
		node_free(n);
		return NULL;
	}
	n->last_act = ACT_NONE;
	return n;
}

void node_free(node *n)
{
	if (n == NULL)
		return;
	store_free(n->store);
	postgres_free(n->pg);
	callbacks_free(n->cbs);
	fence_free(n->fence);
	free(n->history);
	json_decref(n->config);
	free(n->config_text);
	free(n);
}

static decide_config config_of(const node *n)
{
	const options *o = n->o;
	return (decide_config){
		.name = o->name,
		.ttl = o->ttl,
		.fence_margin = FENCE_MARGIN,
		.election_wait = 2 * o->loop_wait + o->retry_timeout,
		.maximum_lag = o->maximum_lag_on_failover,
		.synchronous_mode = o->synchronous_mode,
		.nofailover = o->nofailover || n->cannot_lead,
		.cannot_lead = n->cannot_lead,
		.priority = o->priority,
		.max_restarts = o->max_restarts,
		.handover_timeout = HANDOVER_TIMEOUT,
	};
}

/*
 * Tells the fence process which postmaster may accept writes (started as a
 * primary, promoting, or found answering as one) and until when the lease
 * covers it. Called after every renewal and before PostgreSQL can become
 * writable.
 */
static void fence_sync(node *n)
{
	decide_config cfg = config_of(n);
	pid_t pid = postgres_writable_pid(n->pg);
	if (pid == 0 && n->local.answering && !n->local.in_recovery)
		pid = postgres_pid(n->pg);
	fence_set(n->fence, pid, lease_fence_process_deadline(&cfg, &n->agent));
}

int node_start(node *n, fl_err *err)
{
	if (postgres_write_passfile(n->pg, err) < 0)
		return -1;
	double deadline = clock_mono() + 10.0;
	fl_err last = {0};
	while (store_lease_grant(n->store, n->o->ttl, &n->agent.lease, &last) < 0) {
		if (clock_mono() > deadline)
			return fl_fail(err, FL_ERR_ETCD, "%s\nHINT: check etcd.endpoints and that etcd runs", last.msg);
		clock_sleep(0.5);
	}
	n->agent.lease_renewed_at = clock_mono();
	n->agent.lease_ttl = n->o->ttl;
	log_info("etcd reachable, lease %lld granted (ttl %ld s)", (long long)n->agent.lease, n->o->ttl);
	if (postgres_stop(n->pg, PG_STOP_FAST, 60, err) < 0)
		return -1;
	return 0;
}

/* Seconds a leader has left before it must fence, or a large number for a non-leader. */
static double fence_left(const node *n, double now)
{
	decide_config cfg = config_of(n);
	return lease_fence_left(&cfg, &n->agent, now);
}

/* A leader's etcd requests and PostgreSQL calls, every one of them, never outlive its fencing deadline. */
static void bound_by_deadline(node *n)
{
	decide_config cfg = config_of(n);
	double deadline = n->agent.leader ? decide_fence_deadline(&cfg, &n->agent) : 0;
	store_set_deadline(n->store, deadline, n->o->retry_timeout);
	postgres_set_deadline(n->pg, deadline);
}

/* Our copy of the history record, replaced only when it changed. */
static void keep_history(node *n, const char *h)
{
	if (h == NULL || (n->history && strcmp(n->history, h) == 0))
		return;
	char *copy = strdup(h);
	if (copy == NULL)
		return;
	free(n->history);
	n->history = copy;
}

/* Renews (or re-grants) our lease and reads the cluster; sets agent.etcd_ok. */
/* A "name=value" of dynconf_pg_params checked against this server's pg_settings; name gets its name. */
static int param_check(const node *n, const char *item, char *name, size_t name_len, char *why, size_t why_len)
{
	const char *eq = strchr(item, '=');
	snprintf(name, name_len, "%.*s", (int)(eq - item), item);
	return postgres_check_param(n->pg, name, eq + 1, why, why_len);
}

/* flotilla.conf rewritten with the dynamic parameters, and a reload, once PostgreSQL answers and no job runs. */
static void config_write(node *n)
{
	if (!n->config_unwritten || !n->local.answering || n->job != JOB_NONE)
		return;
	fl_err err = {0};
	n->config_unwritten = false;
	if (postgres_apply(n->pg, postgres_runtime(n->pg), &err) < 0)
		log_error("dynamic configuration: writing flotilla.conf failed: %s", err.msg);
}

/* A scalar setting's change, logged as the reload of a file logs it. */
static void log_setting(const char *name, double from, double to, const char *unit)
{
	if (from != to)
		log_info("dynamic configuration: %s %g%s -> %g%s", name, from, unit, to, unit);
}

/*
 * The dynamic configuration changed (or was read for the first time): its
 * scalar settings replace those the node's file does not name, checked
 * together first (a refusal keeps the running ones, logged once per
 * revision); its parameters, each checked against this server's
 * pg_settings, and pg_hba lines are written with flotilla.conf, and
 * PostgreSQL reloads. A parameter that needs a restart shows as
 * pending_restart at the next slow probe.
 */
static void config_changed(node *n, const etcd_kv *kv)
{
	fl_err err = {0};
	n->config_rev = kv ? kv->mod_revision : 0;
	json_t *cfg = kv ? dynconf_parse(kv->value ? kv->value : "", &err) : json_object();
	options next = *n->o;
	if (cfg == NULL || dynconf_overlay(cfg, &next, &err) < 0 || options_check_reload(n->o, &next, &err) < 0) {
		log_error("dynamic configuration (revision %lld) refused, keeping the running one: %s",
			  (long long)n->config_rev, err.msg);
		json_decref(cfg);
		return;
	}
	const char *kept_local[8];
	for (int i = 0, k = dynconf_overridden(cfg, n->o, kept_local, 8); i < k; i++)
		log_info("dynamic configuration: %s stays as this node's file or environment sets it", kept_local[i]);
	log_setting("ttl", (double)n->o->ttl, (double)next.ttl, " s");
	if (n->o->ttl != next.ttl)
		log_info("ttl %ld s -> %ld s: the next renewal grants a lease with it", n->o->ttl, next.ttl);
	log_setting("loop_wait", n->o->loop_wait, next.loop_wait, " s");
	log_setting("retry_timeout", n->o->retry_timeout, next.retry_timeout, " s");
	log_setting("maximum_lag_on_failover", (double)n->o->maximum_lag_on_failover,
		    (double)next.maximum_lag_on_failover, " bytes");
	log_setting("synchronous_mode", n->o->synchronous_mode, next.synchronous_mode, "");
	n->o->ttl = next.ttl;
	n->o->loop_wait = next.loop_wait;
	n->o->retry_timeout = next.retry_timeout;
	n->o->maximum_lag_on_failover = next.maximum_lag_on_failover;
	n->o->synchronous_mode = next.synchronous_mode;

	const char *own[16];
	for (int i = 0, k = dynconf_params_kept(cfg, &n->o->pg_parameters, own, 16); i < k; i++)
		log_info("dynamic configuration: postgresql.parameters.%s stays as this node's postgresql.parameters "
			 "sets it",
			 own[i]);
	str_list params = {0};
	dynconf_pg_params(cfg, &n->o->pg_parameters, &params);
	int kept = 0, restart = 0;
	for (int i = 0; i < params.n; i++) {
		char name[80], why[512];
		if (param_check(n, params.v[i], name, sizeof name, why, sizeof why) < 0) {
			log_error("dynamic configuration: postgresql.parameters.%s left out: %s", name, why);
			free(params.v[i]);
			continue;
		}
		restart += postgres_param_needs_restart(n->pg, name);
		params.v[kept++] = params.v[i];
	}
	params.n = kept;
	const char *hba[DYNCONF_MAX_HBA];
	int n_hba = dynconf_hba(cfg, hba, DYNCONF_MAX_HBA);
	postgres_set_dynamic(n->pg, &params, hba, n_hba);
	dynconf_params_free(&params);
	json_decref(n->config);
	n->config = cfg;
	free(n->config_text);
	n->config_text = json_dumps(cfg, JSON_SORT_KEYS | JSON_COMPACT);
	n->config_unwritten = true;
	config_write(n);
	log_info("dynamic configuration revision %lld applied: %d parameter%s (%d of them take effect only at a "
		 "restart), "
		 "%d pg_hba line%s",
		 (long long)n->config_rev, kept, kept == 1 ? "" : "s", restart, n_hba, n_hba == 1 ? "" : "s");
}

static void refresh(node *n)
{
	decide_config cfg = config_of(n);
	n->agent.etcd_ok = false;
	int renewed = lease_refresh(n->store, &cfg, &n->agent, n->o->retry_timeout, clock_mono, &n->lease);
	fence_sync(n);
	if (renewed < 0)
		return;
	etcd_kvs kvs = {0};
	fl_err err = {0};
	bound_by_deadline(n);
	if (store_read(n->store, &kvs, &err) < 0) {
		log_warn("reading the cluster failed: %s", err.msg);
		return;
	}
	const char *root = store_root(n->store);
	char previous[CLUSTER_NAME_MAX];
	snprintf(previous, sizeof previous, "%s", n->view.has_leader ? n->view.leader : "");
	if (cluster_parse(&kvs, root, &n->view, &err) < 0 || n->rejected_logged[0]) {
		if (cluster_rejection_news(&n->view, n->rejected_logged, sizeof n->rejected_logged))
			log_warn("%s", err.msg);
	}
	if (n->view.has_leader && strcmp(previous, n->view.leader) != 0)
		n->leader_changes++;
	keep_history(n, cluster_history(&kvs, root));
	const etcd_kv *config = cluster_config(&kvs, root);
	if ((config ? config->mod_revision : 0) != n->config_rev)
		config_changed(n, config);
	etcd_kvs_free(&kvs);
	n->agent.etcd_ok = true;
	n->dcs_last_seen = clock_wall();
}

/* While paused an operator may stop PostgreSQL: such an exit is not a crash that could cost the leader key. */
static bool reap(node *n, double now) { return postgres_reap(n->pg, now, !n->view.paused); }

static void probe(node *n, double now)
{
	local_state *ls = &n->local;
	memset(ls, 0, sizeof *ls);
	ls->data_valid = postgres_data_valid(n->pg);
	postgres_probe(n->pg, ls);
	ls->recent_crashes = postgres_recent_crashes(n->pg, now, n->o->restart_window);
	ls->rewind_failed = n->rewind_failed;
	ls->clean_handover = n->clean_handover;
	if (ls->running)
		n->start_requested = false;
	ls->stopped_by_agent = n->start_requested || postgres_stopped_by_agent(n->pg);
	if (ls->answering && ls->in_recovery && ls->upstream[0] && !ls->receiver_streaming) {
		if (n->not_streaming_since == 0)
			n->not_streaming_since = now;
		ls->receiver_stuck = now - n->not_streaming_since > STUCK_SECONDS;
	} else {
		n->not_streaming_since = 0;
	}
	if (ls->data_valid && !ls->running) {
		fl_err err = {0};
		if (postgres_control(n->pg, &ls->was_primary, &ls->timeline, &err) < 0)
			log_warn("%s", err.msg);
	}
	const char *role = !ls->answering ? "" : ls->in_recovery ? "replica" : "primary", *arg_role = "";
	bool was_up = n->cb.up;
	callback_event ev = callbacks_step(&n->cb, ls->running, role, n->cb_restarting, n->cb_quiet, &arg_role);
	if (!was_up && n->cb.up)
		n->cb_restarting = n->cb_quiet = false;
	callbacks_run(n->cbs, ev, arg_role);
}

static const char *role_of(const local_state *ls)
{
	return !ls->data_valid ? "uninitialized" : !ls->answering ? "stopped" : ls->in_recovery ? "replica" : "primary";
}

void node_api_snapshot(const node *n, api_snapshot *out)
{
	const local_state *ls = &n->local;
	memset(out, 0, sizeof *out);
	snprintf(out->name, sizeof out->name, "%s", n->o->name);
	snprintf(out->scope, sizeof out->scope, "%s", n->o->scope);
	snprintf(out->role, sizeof out->role, "%s", role_of(ls));
	out->running = ls->answering;
	out->leader = n->agent.leader;
	out->streaming = ls->receiver_active;
	out->timeline = ls->timeline;
	out->wal_lsn = ls->wal_lsn;
	out->received_lsn = ls->received_lsn;
	out->replayed_lsn = ls->replayed_lsn;
	out->replay_lag_seconds = ls->answering ? ls->replay_lag_s : -1;
	out->pg_wal_bytes = ls->pg_wal_bytes;
	out->archive_ready = ls->archive_ready;
	out->archived = ls->archived;
	out->archive_failed = ls->archive_failed;
	out->postmaster_start = ls->answering ? ls->postmaster_start : 0;
	out->etcd_ok = n->agent.etcd_ok;
	out->lease_renewals = n->lease.renewals;
	out->lease_failures = n->lease.failures;
	out->leader_changes = n->leader_changes;
	out->view = n->view;
	out->history_json = n->history ? n->history : "[]";
	out->config_json = n->config_text ? n->config_text : "{}";
	out->nofailover = n->o->nofailover;
	out->noloadbalance = n->o->noloadbalance;
	out->synchronous_mode = n->o->synchronous_mode;
	out->priority = n->o->priority;
	snprintf(out->conn_address, sizeof out->conn_address, "%s", n->o->connect_address);
	snprintf(out->api_url, sizeof out->api_url, "%s://%s", n->o->api_cert_file[0] ? "https" : "http",
		 n->o->api_connect_address);
	snprintf(out->job_state, sizeof out->job_state, "%s", job_states[n->job]);
	out->n_slots = n->agent.leader ? n->n_slot_info : 0;
	memcpy(out->slots, n->slot_info, sizeof out->slots);
	out->server_version = ls->answering ? ls->server_version : 0;
	snprintf(out->system_id, sizeof out->system_id, "%s", ls->system_id);
	out->pending_restart = ls->answering && ls->pending_restart;
	out->dcs_last_seen = n->dcs_last_seen;
	out->n_replication = ls->answering ? ls->n_replication : 0;
	memcpy(out->replication, ls->replication, sizeof out->replication);
}

static void publish_member(node *n)
{
	const local_state *ls = &n->local;
	member m = {0};
	snprintf(m.name, sizeof m.name, "%s", n->o->name);
	snprintf(m.role, sizeof m.role, "%s", role_of(ls));
	m.running = ls->answering;
	m.streaming = ls->receiver_active;
	m.timeline = ls->timeline;
	m.wal_lsn = ls->wal_lsn;
	m.received_lsn = ls->received_lsn;
	m.replayed_lsn = ls->replayed_lsn;
	m.fenced_term = n->agent.fenced_term;
	m.nofailover = n->o->nofailover || n->cannot_lead; /* others never pick it as a candidate either */
	m.noloadbalance = n->o->noloadbalance;
	m.priority = n->o->priority;
	m.pending_restart = ls->answering && ls->pending_restart;
	snprintf(m.conn_address, sizeof m.conn_address, "%s", n->o->connect_address);
	snprintf(m.api_url, sizeof m.api_url, "%s://%s", n->o->api_cert_file[0] ? "https" : "http",
		 n->o->api_connect_address);
	snprintf(m.state, sizeof m.state, "%s", job_states[n->job]);
	if (n->job == JOB_CLONE)
		postgres_job_progress(n->pg, &m.progress_done, &m.progress_total);
	fl_err err = {0};
	if (store_publish_member(n->store, &m, n->agent.lease, &err) < 0)
		log_warn("publishing the member record failed: %s", err.msg);
}

static const char *address_of(const node *n, const char *name)
{
	const member *m = cluster_member(&n->view, name);
	return m && m->conn_address[0] ? m->conn_address : NULL;
}

static void replica_runtime(const node *n, const char *target, pg_runtime *rt)
{
	memset(rt, 0, sizeof *rt);
	const char *addr = target && target[0] ? address_of(n, target) : NULL;
	if (addr) {
		snprintf(rt->upstream, sizeof rt->upstream, "%s", target);
		snprintf(rt->upstream_address, sizeof rt->upstream_address, "%s", addr);
	}
}

static void forget_leadership(node *n)
{
	n->agent.leader = false;
	bound_by_deadline(n);
	n->n_slot_info = 0;
	n->agent.handover_lsn = 0;
	n->agent.handover_to[0] = '\0';
	n->term = 0;
	memset(&n->sync, 0, sizeof n->sync);
}

static void write_status(node *n)
{
	fl_err err = {0};
	if (store_write_status(n->store, n->o->name, n->term, n->local.wal_lsn, n->local.timeline, &err) < 0)
		log_warn("writing the status failed: %s", err.msg);
}

static bool take_leader_key(node *n)
{
	bool created = false;
	fl_err err = {0};
	if (store_take_leader(n->store, n->o->name, n->agent.lease, &created, &n->term, &err) < 0) {
		log_warn("taking the leader key failed: %s", err.msg);
		return false;
	}
	if (!created) {
		log_info("another node took the leader key first");
		return false;
	}
	n->agent.leader = true;
	bound_by_deadline(n);
	log_info("took the leader key (term %lld)", (long long)n->term);
	return true;
}

/* In synchronous mode a new leader starts with every other eligible member as a potential synchronous standby. */
static void sync_on_promotion(node *n, pg_runtime *rt)
{
	memset(&n->sync, 0, sizeof n->sync);
	if (!n->o->synchronous_mode)
		return;
	for (int i = 0; i < n->view.n_members; i++) {
		const member *m = &n->view.members[i];
		if (strcmp(m->name, n->o->name) != 0 && !m->nofailover)
			name_set_add(&n->sync.ssn, m->name);
	}
	n->sync.pending_lsn =
		n->local.replayed_lsn > n->local.received_lsn ? n->local.replayed_lsn : n->local.received_lsn;
	name_set_ssn(&n->sync.ssn, rt->ssn, sizeof rt->ssn);
}

static void do_promote(node *n)
{
	fl_err err = {0};
	pg_runtime rt = *postgres_runtime(n->pg);
	rt.upstream[0] = rt.upstream_address[0] = '\0';
	sync_on_promotion(n, &rt);
	postgres_promoting(n->pg);
	fence_sync(n); /* before pg_promote: from now on it may accept writes */
	if (postgres_apply(n->pg, &rt, &err) < 0 || postgres_promote(n->pg, &err) < 0) {
		log_error("promotion failed: %s", err.msg);
		return;
	}
	probe(n, clock_mono());
	log_info("promoted to leader (timeline %ld)", n->local.timeline);
	/* Published before the checkpoint: proxies route writes here as soon as the record says primary. */
	if (n->agent.etcd_ok && n->agent.lease != 0)
		publish_member(n);
	if (postgres_checkpoint(n->pg, &err) < 0)
		log_warn("checkpoint after promotion failed: %s", err.msg);
	write_status(n);
	if (store_append_history(n->store, n->o->name, n->local.wal_lsn, n->local.timeline, clock_wall(), &err) < 0)
		log_warn("appending to the history failed: %s", err.msg);
	if (n->view.has_switchover) {
		store_set(n->store, KEY_SWITCHOVER, NULL, NULL);
		log_info("%s to %s done", n->view.switchover_leader[0] ? "switchover" : "manual failover", n->o->name);
	}
}

static void lead_slots(node *n, double now)
{
	name_set members, slots = {0};
	slot_book_update(&n->slots, &n->view, n->o->name, now, SLOT_KEEP_SECONDS, &members);
	for (int j = 0; j < members.n; j++) {
		char slot[CLUSTER_NAME_MAX];
		postgres_slot_name(members.v[j], slot, sizeof slot);
		name_set_add(&slots, slot);
	}
	fl_err err = {0};
	slot_state was[CLUSTER_MAX_MEMBERS];
	int n_was = n->n_slot_info;
	memcpy(was, n->slot_info, sizeof was);
	if (postgres_sync_slots(n->pg, &slots, n->slot_info, CLUSTER_MAX_MEMBERS, &n->n_slot_info, &err) < 0)
		log_warn("managing replication slots failed: %s", err.msg);
	for (int i = 0; i < n->n_slot_info; i++) {
		const slot_state *s = &n->slot_info[i];
		bool lost_before = false;
		for (int j = 0; j < n_was; j++)
			if (strcmp(was[j].name, s->name) == 0)
				lost_before = was[j].wal_lost;
		if (s->wal_lost && !lost_before)
			log_warn("replication slot %s fell behind max_slot_wal_keep_size (%llu bytes held): its member "
				 "must be cloned again",
				 s->name, (unsigned long long)s->retained_bytes);
	}
}

static void lead_sync(node *n)
{
	fl_err err = {0};
	pg_runtime rt = *postgres_runtime(n->pg);
	if (!n->o->synchronous_mode) {
		if (rt.ssn[0]) {
			rt.ssn[0] = '\0';
			if (postgres_apply(n->pg, &rt, &err) == 0)
				log_info("synchronous replication off");
		}
		return;
	}
	pg_replica reps[CLUSTER_MAX_MEMBERS];
	int nr = postgres_replicas(n->pg, reps, CLUSTER_MAX_MEMBERS, &err);
	if (nr < 0)
		return;
	sync_replica sr[CLUSTER_MAX_MEMBERS];
	for (int i = 0; i < nr; i++) {
		const member *m = cluster_member(&n->view, reps[i].name);
		snprintf(sr[i].name, sizeof sr[i].name, "%s", reps[i].name);
		sr[i].streaming = reps[i].streaming && m != NULL;
		sr[i].eligible = m != NULL && !m->nofailover;
		sr[i].flush_lsn = reps[i].flush_lsn;
	}
	name_set out = {0};
	switch (sync_plan(&n->sync, sr, nr, &out)) {
	case SYNC_NOTHING:
		return;
	case SYNC_PUBLISH: {
		if (store_publish_sync(n->store, n->o->name, n->term, out.v, out.n, &err) == 0) {
			n->sync.published = out;
			char names[512];
			name_set_ssn(&out, names, sizeof names);
			log_info("synchronous set published for term %lld: %s", (long long)n->term, names);
		}
		return;
	}
	case SYNC_SET_SSN:
		name_set_ssn(&out, rt.ssn, sizeof rt.ssn);
		probe(n, clock_mono());
		if (postgres_apply(n->pg, &rt, &err) == 0) {
			n->sync.ssn = out;
			n->sync.pending_lsn = n->local.wal_lsn;
			log_info("synchronous_standby_names = '%s'", rt.ssn);
		}
		return;
	}
}

static void start_replica(node *n, const char *target)
{
	n->clean_handover = false;
	pg_runtime rt;
	replica_runtime(n, target, &rt);
	fl_err err = {0};
	if (postgres_start(n->pg, true, &rt, &err) < 0)
		log_error("starting postgres failed: %s", err.msg);
}

static void on_job_done(void *arg, int rc, const fl_err *err)
{
	node *n = arg;
	n->job_ended = true;
	n->job_rc = rc;
	snprintf(n->job_error, sizeof n->job_error, "%s", rc < 0 && err ? err->msg : "");
	if (n->wake)
		n->wake(n->wake_arg);
}

static void job_begin(node *n, node_job job, const char *target)
{
	n->job = job;
	n->job_ended = false;
	n->job_rc = 0;
	n->job_error[0] = '\0';
	n->job_since = clock_mono();
	snprintf(n->job_target, sizeof n->job_target, "%s", target ? target : "");
}

static void start_clone(node *n, const char *target, const char *addr, bool reclone)
{
	fl_err err = {0};
	if (postgres_clone_begin(n->pg, addr, on_job_done, n, &err) < 0) {
		log_warn("clone failed: %s", err.msg);
		return;
	}
	job_begin(n, JOB_CLONE, target);
	n->job_reclone = reclone;
}

/*
 * Stops PostgreSQL (fast, at most timeout seconds) without waiting: the ticks
 * go on (lease, record, API) while it stops, then after(n) carries on with
 * job_target. Nothing to stop: after(n) at once.
 */
static bool stop_then(node *n, double timeout, void (*after)(node *n), const char *target)
{
	fl_err err = {0};
	int rc = postgres_stop_begin(n->pg, PG_STOP_FAST, timeout, &err);
	if (rc < 0) {
		log_error("%s", err.msg);
		return false;
	}
	n->cb_quiet = true; /* it starts again: the callbacks hear of a new role alone */
	job_begin(n, JOB_STOPPING, target);
	n->after_stop = after;
	if (rc == 1) {
		n->job = JOB_NONE;
		after(n);
	}
	return true;
}

static void rewind_stopped(node *n)
{
	fl_err err = {0};
	const char *addr = address_of(n, n->job_target);
	if (addr == NULL) {
		log_info("rejoin: the leader %s left; waiting for the next one", n->job_target);
		return;
	}
	/* Right after a promotion the leader's control file may still name the old timeline,
	 * and pg_rewind would wrongly find nothing to do. */
	if (postgres_remote_checkpoint(n->pg, addr, &err) < 0) {
		log_warn("rejoin: %s", err.msg);
		return;
	}
	char target[CLUSTER_NAME_MAX];
	snprintf(target, sizeof target, "%s", n->job_target);
	if (postgres_rewind_begin(n->pg, addr, on_job_done, n, &err) < 0) {
		log_warn("rejoin: %s", err.msg);
		n->rewind_failed = true;
		return;
	}
	job_begin(n, JOB_REWIND, target);
}

static void reclone_stopped(node *n)
{
	fl_err err = {0};
	const char *addr = address_of(n, n->job_target);
	if (addr == NULL) {
		log_info("rejoin: the leader %s left; waiting for the next one", n->job_target);
		return;
	}
	log_info("rejoin: re-cloning from %s", n->job_target);
	if (postgres_remove_data(n->pg, &err) < 0) {
		log_error("re-clone failed: %s", err.msg);
		return;
	}
	char target[CLUSTER_NAME_MAX];
	snprintf(target, sizeof target, "%s", n->job_target);
	start_clone(n, target, addr, true);
}

static void do_rejoin(node *n, const char *target, bool reclone)
{
	const member *leader = cluster_member(&n->view, target);
	const char *addr = address_of(n, target);
	if (addr == NULL || strcmp(leader->role, "primary") != 0) {
		log_info("waiting for the leader %s to be promoted and publish its address", target);
		return;
	}
	stop_then(n, 60, reclone ? reclone_stopped : rewind_stopped, target);
}

static void rejoined(node *n, const char *target)
{
	postgres_forget_crashes(n->pg);
	n->not_streaming_since = 0;
	start_replica(n, target);
}

/* Creates role (or, when it exists, as in a restored cluster, alters it) WITH attrs and the password in file. */
static int role_set(PGconn *c, const char *what, const char *role, const char *attrs, const char *file, fl_err *err)
{
	char pw[512];
	if (secret_read(what, file, pw, sizeof pw, err) < 0)
		return -1;
	char *verifier = PQencryptPasswordConn(c, pw, role, "scram-sha-256");
	explicit_bzero(pw, sizeof pw);
	if (verifier == NULL)
		return fl_fail(err, FL_ERR_POSTGRES, "%s: %s", what, PQerrorMessage(c));
	char *ident = PQescapeIdentifier(c, role, strlen(role));
	char *lit = PQescapeLiteral(c, verifier, strlen(verifier));
	char *name = PQescapeLiteral(c, role, strlen(role));
	int rc = -1;
	if (ident && lit && name) {
		char sql[2048];
		snprintf(sql, sizeof sql, "SELECT 1 FROM pg_roles WHERE rolname = %s", name);
		PGresult *r = PQexec(c, sql);
		bool exists = PQresultStatus(r) == PGRES_TUPLES_OK && PQntuples(r) == 1;
		PQclear(r);
		snprintf(sql, sizeof sql, "%s ROLE %s WITH %s PASSWORD %s", exists ? "ALTER" : "CREATE", ident, attrs,
			 lit);
		r = PQexec(c, sql);
		rc = PQresultStatus(r) == PGRES_COMMAND_OK ? 0 : -1;
		if (rc < 0)
			fl_fail(err, FL_ERR_POSTGRES, "%s role %s failed: %s", exists ? "altering the" : "creating the",
				role, PQerrorMessage(c));
		PQclear(r);
	} else {
		fl_fail(err, FL_ERR_POSTGRES, "%s: %s", what, PQerrorMessage(c));
	}
	PQfreemem(ident);
	PQfreemem(lit);
	PQfreemem(name);
	PQfreemem(verifier);
	return rc;
}

/*
 * What a restore drill does on a replica as the replication role: read the tables it counts, pause and resume
 * replay around the count, mark a restore point and switch the WAL segment so that the point reaches the archive
 * with a record after it. (The role reads every byte of the cluster through pg_basebackup already.)
 */
static int grant_drill_rights(PGconn *c, const char *role, fl_err *err)
{
	char *ident = PQescapeIdentifier(c, role, strlen(role));
	if (ident == NULL)
		return fl_fail(err, FL_ERR_POSTGRES, "%s", PQerrorMessage(c));
	char sql[512];
	snprintf(sql, sizeof sql,
		 "GRANT pg_read_all_data TO %s; GRANT EXECUTE ON FUNCTION pg_wal_replay_pause(), "
		 "pg_wal_replay_resume(), pg_switch_wal(), pg_create_restore_point(text) TO %s",
		 ident, ident);
	PQfreemem(ident);
	PGresult *r = PQexec(c, sql);
	int rc = PQresultStatus(r) == PGRES_COMMAND_OK ? 0 : -1;
	if (rc < 0)
		fl_fail(err, FL_ERR_POSTGRES, "granting the replication role its drill rights failed: %s",
			PQerrorMessage(c));
	PQclear(r);
	return rc;
}

/* The replication role; in a restored cluster the superuser's password too (initdb set it in a new one). */
static int create_roles(node *n, fl_err *err)
{
	char host[128], conninfo[1024];
	int port = 0;
	hostport_parse(n->o->listen, host, sizeof host, &port); /* checked by options_load */
	snprintf(conninfo, sizeof conninfo, "host=%s port=%d user=%s dbname=postgres", n->o->state_dir, port,
		 n->o->superuser);
	PGconn *c = PQconnectdb(conninfo);
	int rc = -1;
	if (PQstatus(c) != CONNECTION_OK)
		fl_fail(err, FL_ERR_POSTGRES, "connecting to the new cluster failed: %s", PQerrorMessage(c));
	else if (role_set(c, "replication password", n->o->replication_user, "REPLICATION LOGIN",
			  n->o->replication_password_file, err) < 0)
		rc = -1;
	else if (grant_drill_rights(c, n->o->replication_user, err) < 0)
		rc = -1;
	else if (n->o->restore_repo[0] != '\0')
		rc = role_set(c, "superuser password", n->o->superuser, "SUPERUSER LOGIN",
			      n->o->superuser_password_file, err);
	else
		rc = 0;
	PQfinish(c);
	return rc;
}

/* A failed bootstrap leaves nothing behind, and gives the initialize key back for another node to try. */
static void bootstrap_failed(node *n, const char *why)
{
	log_error("bootstrap failed: %s", why);
	postgres_stop(n->pg, PG_STOP_IMMEDIATE, 10, NULL);
	postgres_remove_data(n->pg, NULL);
	store_release_init(n->store, n->o->name, NULL);
}

static void do_initdb(node *n)
{
	fl_err err = {0};
	bool restore = n->o->restore_repo[0] != '\0';
	if (restore)
		log_info("bootstrap: restoring %s%s%s", n->o->restore_repo,
			 n->o->restore_target[0] ? " to " : " to the end of its archive", n->o->restore_target);
	if (postgres_remove_data(n->pg, &err) < 0 ||
	    (restore ? postgres_restore_begin(n->pg, on_job_done, n, &err)
		     : postgres_initdb_begin(n->pg, on_job_done, n, &err)) < 0) {
		bootstrap_failed(n, err.msg);
		return;
	}
	job_begin(n, JOB_INITDB, NULL);
}

/* initdb ended: start the new cluster, then wait (tick by tick) until it answers. */
static bool initdb_ended(node *n)
{
	fl_err err = {0};
	pg_runtime rt = {0};
	if (n->job_rc < 0) {
		bootstrap_failed(n, n->job_error);
		return true;
	}
	if (postgres_start(n->pg, false, &rt, &err) < 0) {
		bootstrap_failed(n, err.msg);
		return true;
	}
	fence_sync(n);
	job_begin(n, JOB_BOOTSTRAP_START, NULL);
	return false;
}

static bool bootstrap_start_step(node *n)
{
	double now = clock_mono();
	fl_err err = {0};
	reap(n, now);
	probe(n, now);
	bool restored = n->o->restore_repo[0] != '\0';
	if (n->local.answering && restored && n->local.in_recovery) {
		if (now - n->restore_logged_at >= 10) {
			log_info("bootstrap: the restored copy replays the archive (at %X/%X, %.0f s so far)",
				 (unsigned)(n->local.replayed_lsn >> 32), (unsigned)n->local.replayed_lsn,
				 now - n->job_since);
			n->restore_logged_at = now;
		}
	} else if (n->local.answering) {
		bool dropped = false;
		if (restored && postgres_restore_settings_drop(n->pg, &dropped, &err) < 0) {
			bootstrap_failed(n, err.msg);
			return true;
		}
		if (dropped)
			log_info("bootstrap: the restored copy promoted after %.1f s; its recovery settings removed",
				 now - n->job_since);
		if (create_roles(n, &err) < 0) {
			bootstrap_failed(n, err.msg);
		} else if (n->o->post_init[0] != '\0') {
			log_info("bootstrap: cluster initialised in %.1f s; running %s", now - n->job_since,
				 n->o->post_init);
			if (postgres_post_init_begin(n->pg, on_job_done, n, &err) < 0)
				bootstrap_failed(n, err.msg);
			else
				job_begin(n, JOB_POST_INIT, NULL);
		} else {
			log_info("bootstrap: cluster initialised in %.1f s", now - n->job_since);
		}
		return true;
	}
	if (!n->local.running) {
		bootstrap_failed(n, restored
					    ? "PostgreSQL on the restored copy stopped during its recovery (a target "
					      "beyond the archive's end, a missing segment?); its log is in the agent's"
					    : "postgres did not start");
		return true;
	}
	if (!restored && now - n->job_since > BOOTSTRAP_START_TIMEOUT) {
		bootstrap_failed(n, "postgres did not answer within 60 s of its start");
		return true;
	}
	if (restored && now - n->job_since > n->o->restore_timeout) {
		bootstrap_failed(n, "the restored copy did not promote within bootstrap.restore_timeout");
		return true;
	}
	return false;
}

static void clone_ended(node *n)
{
	if (n->job_rc < 0) {
		log_warn("%s failed: %s", n->job_reclone ? "re-clone" : "clone", n->job_error);
		return;
	}
	log_info("clone from %s done in %.1f s", n->job_target, clock_mono() - n->job_since);
	if (n->job_reclone) {
		n->rewind_failed = false;
		rejoined(n, n->job_target);
		return;
	}
	start_replica(n, n->job_target);
}

static void rewind_ended(node *n)
{
	if (n->job_rc < 0) {
		log_warn("rejoin: pg_rewind from %s failed: %s", n->job_target, n->job_error);
		n->rewind_failed = true;
		return;
	}
	log_info("rejoin: pg_rewind succeeded in %.1f s", clock_mono() - n->job_since);
	rejoined(n, n->job_target);
}

/* Moves the job on; true when it is over and the tick goes on as usual. */
static bool job_step(node *n)
{
	node_job job = n->job;
	if (job == JOB_STOPPING) {
		if (!postgres_stop_done(n->pg, clock_mono()))
			return false;
		n->job = JOB_NONE;
		n->after_stop(n); /* may begin the next job */
		return n->job == JOB_NONE;
	}
	if (job == JOB_BOOTSTRAP_START) {
		if (!bootstrap_start_step(n))
			return false;
		if (n->job == JOB_BOOTSTRAP_START)
			n->job = JOB_NONE;
		return n->job == JOB_NONE;
	}
	if (!n->job_ended)
		return false;
	n->job = JOB_NONE;
	switch (job) {
	case JOB_INITDB:
		return initdb_ended(n);
	case JOB_CLONE:
		clone_ended(n);
		break;
	case JOB_REWIND:
		rewind_ended(n);
		break;
	case JOB_POST_INIT:
		if (n->job_rc < 0)
			bootstrap_failed(n, n->job_error);
		else
			log_info("bootstrap: %s done in %.1f s", n->o->post_init, clock_mono() - n->job_since);
		break;
	case JOB_NONE:
	case JOB_BOOTSTRAP_START:
	case JOB_STOPPING:
		break;
	}
	return n->job == JOB_NONE;
}

/* A tick while a job runs: the lease renewed, the view read, the record (with the job's state) published. */
static double busy_tick(node *n)
{
	/* A leader that stops cleanly (a switchover, a restart) still fences itself on time. */
	decide_config cfg = config_of(n);
	if (n->agent.leader && clock_mono() >= decide_fence_deadline(&cfg, &n->agent)) {
		log_warn("fencing: lease not renewed in time, stopping postgres immediately");
		postgres_stop(n->pg, PG_STOP_IMMEDIATE, 10, NULL);
		forget_leadership(n);
	}
	refresh(n);
	if (n->agent.etcd_ok && n->agent.lease != 0)
		publish_member(n);
	fence_sync(n);
	/* A restored copy replaying its archive (for hours, maybe) is looked at every loop_wait, not 20 times a second. */
	bool replaying = n->job == JOB_BOOTSTRAP_START && n->o->restore_repo[0] != '\0' && n->local.answering &&
			 n->local.in_recovery;
	double delay = (n->job == JOB_BOOTSTRAP_START && !replaying) || n->job == JOB_STOPPING ? 0.05 : n->o->loop_wait;
	double left = fence_left(n, clock_mono());
	return left < delay ? (left > 0.01 ? left : 0.01) : delay;
}

/* The clean stop of a switchover ended: the handover begins (decide moves it on). */
static void switchover_stopped_node(node *n)
{
	if (n->agent.leader) /* it may have fenced itself meanwhile */
		switchover_stopped(n->store, n->pg, &n->agent, n->job_target);
}

/* The candidate holds the last WAL: only it may take the key, and this node follows it without pg_rewind. */
static void release_leader(node *n, const char *candidate)
{
	decide_config cfg = config_of(n);
	if (!switchover_release(n->store, &cfg, &n->agent, candidate))
		return;
	forget_leadership(n);
	n->clean_handover = true;
}

static void execute(node *n, const decision *d, double now)
{
	fl_err err = {0};
	decide_config cfg = config_of(n);
	switch (d->act) {
	case ACT_NONE:
		return;
	case ACT_TAKE_INIT: {
		bool created = false;
		if (store_take_init(n->store, n->o->name, &created, &err) == 0 && created)
			log_info("won the initialize race");
		return;
	}
	case ACT_INITDB:
		do_initdb(n);
		return;
	case ACT_CLONE: {
		const char *addr = address_of(n, d->target);
		if (addr == NULL)
			return;
		log_info("cloning from %s (%s)%s", d->target, addr, n->o->clone_max_rate ? ", throttled" : "");
		start_clone(n, d->target, addr, false);
		return;
	}
	case ACT_START_PRIMARY: {
		pg_runtime rt = {0};
		if (n->o->synchronous_mode)
			name_set_ssn(&n->sync.ssn, rt.ssn, sizeof rt.ssn);
		if (postgres_start(n->pg, false, &rt, &err) < 0)
			log_error("starting postgres failed: %s", err.msg);
		fence_sync(n);
		return;
	}
	case ACT_START_REPLICA:
		start_replica(n, d->target);
		return;
	case ACT_FOLLOW: {
		pg_runtime rt;
		replica_runtime(n, d->target, &rt);
		if (rt.upstream[0] == '\0')
			return;
		if (postgres_apply(n->pg, &rt, &err) < 0)
			log_warn("following %s failed: %s", d->target, err.msg);
		else
			log_info("following %s", d->target);
		return;
	}
	case ACT_LEAD:
		write_status(n);
		lead_slots(n, now);
		lead_sync(n);
		return;
	case ACT_FENCE:
		n->cb_quiet = true;
		if (n->local.running)
			log_warn("fencing: lease not renewed for %.1f s, stopping postgres",
				 now - n->agent.lease_renewed_at);
		postgres_stop(n->pg, PG_STOP_IMMEDIATE, 10, NULL);
		forget_leadership(n);
		return;
	case ACT_DEMOTE:
		n->cb_quiet = true;
		postgres_stop(n->pg, PG_STOP_IMMEDIATE, 10, NULL);
		forget_leadership(n);
		return;
	case ACT_STOP_RECEIVING: {
		int64_t term = n->view.has_status ? n->view.last_term : 0;
		if (postgres_stop_receiving(n->pg, 5.0, &err) < 0) {
			log_warn("stopping WAL reception failed: %s", err.msg);
			return;
		}
		n->agent.fenced_term = term;
		probe(n, now);
		char lsn[32];
		lsn_format(n->local.received_lsn > n->local.replayed_lsn ? n->local.received_lsn
									 : n->local.replayed_lsn,
			   lsn, sizeof lsn);
		log_info("election: stopped receiving WAL for lost term %lld at %s", (long long)term, lsn);
		return;
	}
	case ACT_TAKE_LEADER:
		if (!take_leader_key(n))
			return;
		if (n->local.in_recovery)
			do_promote(n);
		else
			write_status(n);
		return;
	case ACT_PROMOTE:
		do_promote(n);
		return;
	case ACT_REWIND:
		do_rejoin(n, d->target, false);
		return;
	case ACT_RECLONE:
		do_rejoin(n, d->target, true);
		return;
	case ACT_SWITCHOVER: {
		char candidate[CLUSTER_NAME_MAX];
		if (switchover_begin(n->store, n->pg, &cfg, &n->view, d->target, candidate, sizeof candidate))
			stop_then(n, 30, switchover_stopped_node, candidate);
		return;
	}
	case ACT_RELEASE_LEADER:
		release_leader(n, d->target);
		return;
	case ACT_ABANDON_SWITCHOVER:
		switchover_drop(n->store, d->reason);
		n->agent.handover_lsn = 0;
		n->agent.handover_to[0] = '\0';
		return;
	case ACT_CLEAR_SWITCHOVER:
		store_set(n->store, KEY_SWITCHOVER, NULL, NULL);
		return;
	case ACT__COUNT:
		return;
	case ACT_GIVE_UP: {
		bool released = false;
		store_release_leader(n->store, n->o->name, &released, NULL);
		forget_leadership(n);
		return;
	}
	}
}

/* Seconds until the next tick. */
static double next_delay(const node *n, const decision *d, double now)
{
	double delay = n->o->loop_wait;
	bool starting = d->act == ACT_START_PRIMARY || d->act == ACT_START_REPLICA;
	decide_config cfg = config_of(n);
	double retry = lease_retry_delay(&cfg, &n->agent, &n->lease, now);
	if (starting && n->local.recent_crashes > 0) {
		/* Back off a crash loop; a leader faster: it holds the key while PostgreSQL is down, and gives it
		 * up after max_restarts within the lease's ttl. */
		double step = n->agent.leader ? LEADER_RESTART_STEP : 0.5;
		delay = n->local.recent_crashes < 10 ? step * n->local.recent_crashes : 5.0;
	} else if (d->act != ACT_NONE && d->act != ACT_LEAD && d->act != ACT_FOLLOW)
		delay = 0.05;
	else if (retry >= 0 && retry < delay)
		delay = retry; /* a failed lease renewal: again soon, while the lease may live */
	else if (n->local.running && !n->local.answering)
		delay = 0.2;
	else if (!n->view.has_leader && n->agent.etcd_ok)
		delay = 0.1;
	if (n->agent.handover_lsn != 0 && delay > 0.05)
		delay = 0.05; /* a switchover waits for its candidate's record */
	/* The candidate of a switchover: its record shows the stopped leader's last WAL, and it sees the key
	 * released, within 50 ms rather than a loop_wait. */
	if (n->view.has_switchover && strcmp(n->view.switchover_candidate, n->o->name) == 0 && delay > 0.05)
		delay = 0.05;
	double left = fence_left(n, now);
	if (left < delay)
		delay = left > 0.01 ? left : 0.01;
	return delay;
}

/* POST /restart: stopped; the next tick starts it again, even while paused. */
static void restart_stopped(node *n) { n->start_requested = true; }

/* POST /reinit: stopped; the data goes, the next tick clones again, even while paused. */
static void reinit_stopped(node *n)
{
	fl_err err = {0};
	if (postgres_remove_data(n->pg, &err) < 0) {
		log_error("reinit: %s", err.msg);
		return;
	}
	n->start_requested = true;
}

/* The document req makes of cur, checked as this agent would apply it; 422 and why when it would not. */
static json_t *config_next(node *n, const api_command_req *req, const json_t *cur, char *msg, size_t len)
{
	fl_err err = {0};
	json_t *body = json_loads(req->config, JSON_REJECT_DUPLICATES, NULL);
	json_t *doc = req->config_replace ? json_incref(body) : dynconf_merge(cur, body);
	json_decref(body);
	options next = *n->o;
	if (doc == NULL || dynconf_check(doc, &err) < 0 || dynconf_overlay(doc, &next, &err) < 0 ||
	    options_check_reload(n->o, &next, &err) < 0) {
		snprintf(msg, len, "%s", doc ? err.msg : "config: the body is not a JSON object");
		json_decref(doc);
		return NULL;
	}
	str_list params = {0};
	dynconf_pg_params(doc, NULL, &params);
	for (int i = 0; i < params.n; i++) {
		char name[80], why[512];
		if (param_check(n, params.v[i], name, sizeof name, why, sizeof why) < 0) {
			snprintf(msg, len, "config: postgresql.parameters.%s: %s", name, why);
			json_decref(doc);
			doc = NULL;
			break;
		}
	}
	dynconf_params_free(&params);
	return doc;
}

/*
 * PATCH or PUT /config: read the stored document, make the new one, check
 * it, and write it only if the stored one has not changed meanwhile (a
 * concurrent change is merged into by trying again). Every agent applies it
 * at its next tick.
 */
static int config_command(node *n, const api_command_req *req, char *msg, size_t len)
{
	store_set_timeout(n->store, n->o->retry_timeout);
	for (int attempt = 0; attempt < 3; attempt++) {
		fl_err err = {0};
		etcd_kv kv = {0};
		bool found = false, done = false;
		if (store_get(n->store, KEY_CONFIG, &kv, &found, &err) < 0) {
			snprintf(msg, len, "%s", err.msg);
			return 503;
		}
		json_t *cur = found ? json_loads(kv.value ? kv.value : "", 0, NULL) : json_object();
		if (cur == NULL && !req->config_replace) {
			etcd_kv_clear(&kv);
			snprintf(msg, len,
				 "config: the stored configuration is not JSON\nHINT: replace it whole (PUT /config)");
			return 409;
		}
		json_t *doc = config_next(n, req, cur, msg, len);
		json_decref(cur);
		char *text = doc ? json_dumps(doc, JSON_SORT_KEYS | JSON_COMPACT) : NULL;
		json_decref(doc);
		if (text == NULL) {
			etcd_kv_clear(&kv);
			return 422;
		}
		int rc = store_swap(n->store, KEY_CONFIG, found ? (kv.value ? kv.value : "") : NULL, text, &done, &err);
		etcd_kv_clear(&kv);
		if (rc < 0) {
			free(text);
			snprintf(msg, len, "%s", err.msg);
			return 503;
		}
		if (done) {
			snprintf(msg, len, "%s", text);
			free(text);
			return 200;
		}
		free(text);
	}
	snprintf(msg, len, "config: the configuration changed under the request three times; try again");
	return 409;
}

int node_command(void *arg, const api_command_req *req, char *msg, size_t len)
{
	node *n = arg;
	if (req->cmd == API_CMD_CONFIG)
		return config_command(n, req, msg, len);
	return command_run(n->store, n->o->retry_timeout, &n->requests, n->o->name, req, clock_wall(), msg, len);
}

double node_tick(node *n)
{
	if (n->job != JOB_NONE && !job_step(n))
		return busy_tick(n);
	double now = clock_mono();
	decide_config cfg = config_of(n);
	reap(n, now);
	if (n->agent.leader && now >= decide_fence_deadline(&cfg, &n->agent)) {
		/* Before any I/O: a leader past its deadline (for example after being stopped) must not accept writes. */
		probe(n, now);
		decision d = decide(&cfg, &n->local, &n->agent, &n->view, now);
		execute(n, &d, now);
	}
	if (n->requests.restart || n->requests.reinit) {
		command_next next = command_take(&n->requests, n->agent.leader, n->o->name);
		if (next != COMMAND_NONE) {
			n->cb_restarting = next != COMMAND_REINIT;
			if (!stop_then(n, 60, next == COMMAND_REINIT ? reinit_stopped : restart_stopped, NULL))
				n->cb_restarting = false;
			if (n->job != JOB_NONE)
				return busy_tick(n);
		}
	}
	probe(n, now);
	refresh(n);
	config_write(n);
	now = clock_mono();
	if (n->view.has_leader || !n->agent.etcd_ok)
		n->agent.election_since = 0;
	else if (n->agent.election_since == 0)
		n->agent.election_since = now;
	n->agent.wall_now = clock_wall();
	/* When a switchover became due, for the wait for a fit candidate (decide_primary). */
	if (!n->view.has_switchover || n->view.switchover_at > n->agent.wall_now)
		n->agent.switchover_seen = 0;
	else if (n->agent.switchover_seen == 0)
		n->agent.switchover_seen = now;
	if (n->agent.etcd_ok && !n->agent.leader && decide_holds_key(&cfg, &n->agent, &n->view)) {
		n->agent.leader = true;
		bound_by_deadline(n);
		n->term = n->view.leader_term;
		log_info("etcd shows the leader key as ours (term %lld): leading", (long long)n->term);
	}
	decision d = decide(&cfg, &n->local, &n->agent, &n->view, now);
	if (d.act != n->last_act || d.reason != n->last_reason) {
		if (d.act == ACT_NONE || d.act == ACT_LEAD)
			log_info("%s", d.reason);
		else
			log_info("action %s%s%s: %s", action_name(d.act), d.target[0] ? " " : "", d.target, d.reason);
		n->last_act = d.act;
		n->last_reason = d.reason;
	}
	execute(n, &d, now);
	if (d.act != ACT_NONE && d.act != ACT_LEAD)
		probe(n, clock_mono());
	if (n->agent.etcd_ok && n->agent.lease != 0)
		publish_member(n);
	fence_sync(n);
	return next_delay(n, &d, clock_mono());
}

bool node_child_exited(node *n)
{
	bool unexpected = reap(n, clock_mono());
	fence_sync(n);
	return unexpected;
}

bool node_reload(node *n, options *next)
{
	fl_err check = {0};
	if (options_check_reload(n->o, next, &check) < 0) {
		log_error("reload refused, keeping the running configuration: %s", check.msg);
		return false;
	}
	bool endpoints_changed = next->etcd_endpoints.n != n->o->etcd_endpoints.n;
	for (int i = 0; !endpoints_changed && i < next->etcd_endpoints.n; i++)
		endpoints_changed = strcmp(next->etcd_endpoints.v[i], n->o->etcd_endpoints.v[i]) != 0;
	/* The dynamic configuration still governs what the file does not name. */
	fl_err dyn = {0};
	if (n->config != NULL && dynconf_overlay(n->config, next, &dyn) < 0)
		log_warn("the dynamic configuration does not fit the reloaded file, which governs: %s", dyn.msg);
	memcpy(n->o->named, next->named, sizeof n->o->named);
	long ttl = n->o->ttl;
	options_apply_reloadable(n->o, next);
	if (n->o->ttl != ttl)
		log_info("ttl %ld s -> %ld s: the next renewal grants a lease with it", ttl, n->o->ttl);
	log_level lvl;
	if (log_level_parse(n->o->log_level, &lvl) == 0)
		log_threshold = lvl;
	fl_err err = {0};
	etcd_security sec = CLUSTER_ETCD_SECURITY(n->o);
	if (endpoints_changed && store_reconnect(n->store, &n->o->etcd_endpoints, &sec, n->o->retry_timeout, &err) < 0)
		log_error("%s", err.msg);
	return true;
}

void node_shutdown(node *n)
{
	fl_err err = {0};
	log_info("shutting down");
	node_job job = n->job;
	if (n->job != JOB_NONE && postgres_job_cancel(n->pg))
		log_info("%s cancelled", job_states[n->job]);
	n->job = JOB_NONE;
	/* A bootstrap cut short (its post_init not run to its end) must not pass for a complete cluster. */
	store_set_timeout(n->store, n->o->retry_timeout);
	if (job == JOB_INITDB || job == JOB_BOOTSTRAP_START || job == JOB_POST_INIT)
		bootstrap_failed(n, "the agent stopped before the bootstrap ended");
	else if (postgres_stop(n->pg, PG_STOP_FAST, 60, &err) < 0)
		log_error("%s", err.msg);
	else if (n->cb.up)
		callbacks_run_detached(n->cbs, CB_ON_STOP, n->cb.role);
	if (n->agent.leader) {
		bool released = false;
		if (store_release_leader(n->store, n->o->name, &released, &err) == 0 && released)
			log_info("leader key released");
	}
	if (n->agent.lease != 0)
		store_lease_revoke(n->store, n->agent.lease);
	forget_leadership(n);
	fence_sync(n);
}
