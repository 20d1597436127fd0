/*
 * postgres: the agent's hands on its PostgreSQL: the managed configuration
 * file, the postmaster as a child process (start, stop in three modes,
 * crash accounting), the local libpq connection and the programs initdb,
 * pg_basebackup and pg_rewind. It decides nothing.
 */
#ifndef FL_POSTGRES_H
#define FL_POSTGRES_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "decide.h"
#include "common/err.h"
#include "cluster/options.h"
#include "slots.h"
#include "sync.h"

typedef struct postgres postgres;

typedef enum pg_stop_mode { PG_STOP_SMART, PG_STOP_FAST, PG_STOP_IMMEDIATE } pg_stop_mode;

/* The settings the agent changes at run time. */
typedef struct pg_runtime {
	char upstream[CLUSTER_NAME_MAX]; /* node followed, "" for none */
	char upstream_address[128];      /* its host:port */
	char ssn[1024];                  /* synchronous_standby_names */
} pg_runtime;

typedef struct pg_replica {
	char name[CLUSTER_NAME_MAX];
	bool streaming;
	uint64_t flush_lsn;
} pg_replica;

struct event_base;

postgres *postgres_new(const options *o, struct event_base *base, fl_err *err);
void postgres_free(postgres *pg);

/* Writes the passfile the server and the tools use (from the secret files). */
int postgres_write_passfile(postgres *pg, fl_err *err);
bool postgres_data_valid(const postgres *pg);
/* Reads pg_controldata: whether the cluster last ran as a primary. */
int postgres_control(postgres *pg, bool *was_primary, long *timeline, fl_err *err);
/* The same, and the LSN of the latest checkpoint. */
int postgres_control_checkpoint(postgres *pg, bool *was_primary, long *timeline, uint64_t *checkpoint, fl_err *err);

/*
 * The long programs run as jobs on the event loop, one at a time: *_begin
 * starts one (or fails at once), and done is called once when it ended and
 * its follow-up is made (pg_hba.conf after initdb; the data directory emptied
 * after a failed clone, its postmaster.pid removed after a good one), with
 * rc 0 or -1 and err naming the program and why it failed.
 */
typedef void (*postgres_job_fn)(void *arg, int rc, const fl_err *err);
int postgres_initdb_begin(postgres *pg, postgres_job_fn done, void *arg, fl_err *err);
/* In initdb's place: flotilla-backup restore --bootstrap of bootstrap.restore_repo into the data directory. */
int postgres_restore_begin(postgres *pg, postgres_job_fn done, void *arg, fl_err *err);
/* Removes the restore's recovery settings from postgresql.auto.conf (*dropped: there were some). */
int postgres_restore_settings_drop(postgres *pg, bool *dropped, fl_err *err);
/* bootstrap.post_init on the new cluster (reached through PGHOST, PGPORT, PGUSER, PGDATABASE), its lines logged. */
int postgres_post_init_begin(postgres *pg, postgres_job_fn done, void *arg, fl_err *err);
/* pg_basebackup from the leader, throttled to clone_max_rate; its progress is in postgres_job_progress. */
int postgres_clone_begin(postgres *pg, const char *leader_address, postgres_job_fn done, void *arg, fl_err *err);
int postgres_rewind_begin(postgres *pg, const char *leader_address, postgres_job_fn done, void *arg, fl_err *err);
bool postgres_job_running(const postgres *pg);
/* Ends the running job (SIGKILL) and makes its follow-up as for a failure; done is not called. False when none ran. */
bool postgres_job_cancel(postgres *pg);
/* Bytes done and expected of the running clone, from pg_basebackup's progress lines; 0 when unknown. */
void postgres_job_progress(const postgres *pg, int64_t *done, int64_t *total);
/* CHECKPOINT on another node, so that its control file names its current timeline before a rewind. */
int postgres_remote_checkpoint(postgres *pg, const char *address, fl_err *err);
int postgres_remove_data(postgres *pg, fl_err *err);

/* Writes flotilla.conf (and standby.signal when standby) and starts the postmaster as our child. */
int postgres_start(postgres *pg, bool standby, const pg_runtime *rt, fl_err *err);
/* Stops our postmaster (or an orphan found in postmaster.pid) and waits for it (escalating past timeout). */
int postgres_stop(postgres *pg, pg_stop_mode mode, double timeout, fl_err *err);
/* The same without waiting: 1 when nothing runs, 0 when the signal was sent; then poll postgres_stop_done. */
int postgres_stop_begin(postgres *pg, pg_stop_mode mode, double timeout, fl_err *err);
/* Whether the stop begun has ended; past its timeout it escalates to an immediate stop, 10 s later to SIGKILL. */
bool postgres_stop_done(postgres *pg, double now);
/*
 * The dynamic configuration's parameters (taken: params is emptied) and
 * pg_hba lines (n_hba 0: the built-in rules), written with flotilla.conf
 * from the next postgres_start or postgres_apply on.
 */
void postgres_set_dynamic(postgres *pg, str_list *params, const char *const *hba_lines, int n_hba);
/*
 * A parameter's value checked against the running server's pg_settings: 0
 * valid, -1 not (why says so), 1 unknown because the server has not
 * answered since the agent started.
 */
int postgres_check_param(const postgres *pg, const char *name, const char *value, char *why, size_t len);
/* Whether a change of the parameter takes a restart (its context is postmaster); false when unknown. */
bool postgres_param_needs_restart(const postgres *pg, const char *name);
/* Rewrites flotilla.conf with rt and reloads. */
int postgres_apply(postgres *pg, const pg_runtime *rt, fl_err *err);
const pg_runtime *postgres_runtime(const postgres *pg);

/*
 * Reaps the postmaster if it exited; returns true when it did so unexpectedly,
 * which counts as a crash when count_crash (the agent passes false while the
 * cluster is paused: an operator may stop PostgreSQL then).
 */
bool postgres_reap(postgres *pg, double now, bool count_crash);
/* True when the postmaster is down because postgres_stop stopped it; false once it starts or exits by itself. */
bool postgres_stopped_by_agent(const postgres *pg);
int postgres_recent_crashes(const postgres *pg, double now, double window);
void postgres_forget_crashes(postgres *pg);

/*
 * A leader's fencing deadline (clock_mono() seconds; 0: none): every query,
 * connect and wait of the local session (the loop's queries, the
 * checkpoints, the watch of a promotion) ends by it, 50 ms after the call
 * at the least.
 */
void postgres_set_deadline(postgres *pg, double deadline);
/* Fills the PostgreSQL part of local_state; answering=false when it does not answer. */
void postgres_probe(postgres *pg, local_state *ls);
/* Stops the walreceiver (primary_conninfo = '') and waits until it is gone. */
int postgres_stop_receiving(postgres *pg, double timeout, fl_err *err);
/* Marks our postmaster as one that may accept writes from now on (the fence is told before pg_promote runs). */
void postgres_promoting(postgres *pg);
/* Our postmaster when it may accept writes (started as a primary, or promoting), else 0. */
pid_t postgres_writable_pid(const postgres *pg);
/* Our postmaster child, 0 when none. */
pid_t postgres_pid(const postgres *pg);
/* pg_promote, then waits until recovery ended: at most 8 s, and never past the deadline. */
int postgres_promote(postgres *pg, fl_err *err);
/*
 * Makes the set of physical slots equal to names (creating, dropping
 * inactive others); out (up to max) and *n_out: the slots kept, with the WAL
 * each holds back.
 */
int postgres_sync_slots(postgres *pg, const name_set *names, slot_state *out, int max, int *n_out, fl_err *err);
int postgres_replicas(postgres *pg, pg_replica *out, int max, fl_err *err);
int postgres_checkpoint(postgres *pg, fl_err *err);

/* Slot name for a member name ('-' is not allowed in slot names). */
void postgres_slot_name(const char *member, char *buf, int len);

#endif
