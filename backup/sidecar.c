/*
 * sidecar: the backup sidecar's work on its event loop; see sidecar.h.
 */
#include "sidecar.h"

#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <event2/event.h>
#include <jansson.h>
#include <libpq-fe.h>

#include "catalog.h"
#include "cluster/cluster.h"
#include "cluster/keys.h"
#include "cluster/lsn.h"
#include "cluster/option_rows.h"
#include "common/clock.h"
#include "common/daemon.h"
#include "common/etcd.h"
#include "common/hostport.h"
#include "common/http_server.h"
#include "common/log.h"
#include "common/metrics.h"
#include "common/proc.h"
#include "common/secret.h"
#include "crypt.h"
#include "manifest.h"
#include "pg/basebackup.h"
#include "pg/passfile.h"
#include "pg/walname.h"
#include "repo.h"
#include "source.h"

/* A backup is taken from a replica at most this far behind the leader. */
#define SOURCE_MAX_LAG (16ULL * 1024 * 1024)
#define PROGRESS_EVERY 10.0
#define API_BODY_MAX (64 * 1024 * 1024 + 4096)
#define SEG_SIZE_DEFAULT (16ULL * 1024 * 1024)
#define MANIFEST_MAX (1024 * 1024 * 1024)

struct sidecar {
	struct event_base *base;
	backup_options *o;
	repo repo;
	char token[256];
	http_server *api;
	etcd *etcd;
	char root[256];
	struct event *sched;
	double sched_at;      /* unix time of the next scheduled backup; 0 for none */
	double sched_at_last; /* of the one before */
	char passfile[PATH_MAX];
	char config_path[PATH_MAX]; /* "" when the environment alone configures the sidecar */
	crypt_key key;              /* with secrets.encryption_key_file */
	bool encrypt;

	/* The drill under way (flotilla-backup drill, a child), its schedule and the last report's figures. */
	proc *drill;
	struct event *drill_sched;
	double drill_at, drill_at_last;
	double drill_started;
	char drill_why[32];
	double drill_last_time, drill_last_ok_time, drill_last_rto, drill_last_rpo_bytes;
	int drill_last_pass; /* 1 pass, 0 fail, -1 none yet */
	char drill_last_error[512];
	unsigned long drills_ok, drills_failed;

	/* The backup under way. */
	proc *bb;
	char label[CATALOG_LABEL_MAX];
	char dir[PATH_MAX];
	char why[32]; /* what started it: "schedule", "request" */
	backup_record rec;
	double started_mono;
	int64_t done, total;
	double progress_logged;

	/* What /status and /metrics say. */
	double last_ok_time, last_duration, last_fail_time;
	uint64_t last_size;
	char last_label[CATALOG_LABEL_MAX];
	char last_error[512];
	unsigned long runs_ok, runs_failed;
	unsigned long wal_stored, wal_same, wal_conflict, wal_failed;
	char wal_last[WAL_NAME_MAX];
	double wal_last_time;
	/* A segment missing from the archive on the way from the oldest backup to the newest segment. */
	double gap_checked_at;       /* clock_mono */
	char gap_seen[WAL_NAME_MAX]; /* the last check's finding, "" for none */
	char gap[WAL_NAME_MAX];      /* reported: found by two checks in a row */
	int n_backups;
	uint64_t seg_size;

	/* A backup of every new timeline: the newest backup's timeline, and when an automatic one last failed. */
	struct event *watch;
	uint32_t newest_tli;
	double auto_failed_at;
	int64_t archive_lag; /* bytes between the leader's WAL position and the end of the newest archived segment; -1 unknown */
};

/* How often the sidecar looks for a new timeline; how long after a failed automatic backup it tries again. */
#define WATCH_INTERVAL 5.0
/* Seconds between two walks of the archive for a missing segment. */
#define GAP_CHECK_EVERY 10.0
#define AUTO_RETRY 60.0

/* ---- the schedule ---- */

static void on_schedule(evutil_socket_t fd, short what, void *arg);

static void schedule_arm(sidecar *s)
{
	cron_spec spec;
	if (s->sched_at != 0)
		s->sched_at_last = s->sched_at;
	s->sched_at = 0;
	if (s->sched == NULL)
		return;
	evtimer_del(s->sched);
	if (!backup_options_schedule(s->o, &spec))
		return;
	int64_t next = 0;
	double now = clock_wall();
	/* After the run just due too: a timer that fired a little early must not run the same minute twice. */
	double after = now > s->sched_at_last ? now : s->sched_at_last;
	if (cron_next(&spec, (int64_t)after, &next) < 0) {
		log_warn("schedule \"%s\" never comes: no scheduled backup", s->o->schedule);
		return;
	}
	s->sched_at = (double)next;
	/* Armed for at most an hour at a time, so that a clock that jumps is caught up with. */
	double wait = s->sched_at - now;
	daemon_timer_arm(s->sched, wait > 3600 ? 3600 : wait);
}

/* ---- the source ---- */

static int read_view(sidecar *s, cluster_view *v, fl_err *err)
{
	etcd_kvs kvs = {0};
	if (etcd_get_prefix(s->etcd, s->root, &kvs, err) < 0)
		return -1;
	fl_err perr = {0};
	if (cluster_parse(&kvs, s->root, v, &perr) < 0)
		log_warn("%s", perr.msg);
	etcd_kvs_free(&kvs);
	return 0;
}

/* The source's system identifier and version, through a replication connection (IDENTIFY_SYSTEM). */
static int identify(sidecar *s, const char *host, int port, fl_err *err)
{
	char port_s[16], timeout[16];
	snprintf(port_s, sizeof port_s, "%d", port);
	snprintf(timeout, sizeof timeout, "%d", 5);
	const char *keys[] = {"host", "port", "user", "passfile", "replication", "connect_timeout", "application_name",
			      NULL};
	const char *vals[] = {host,   port_s,  s->o->replication_user, s->passfile,
			      "true", timeout, "flotilla-backup",      NULL};
	PGconn *c = PQconnectdbParams(keys, vals, 0);
	if (PQstatus(c) != CONNECTION_OK) {
		fl_fail(err, FL_ERR_POSTGRES, "cannot connect to %s:%d: %s", host, port, PQerrorMessage(c));
		PQfinish(c);
		return -1;
	}
	PGresult *r = PQexec(c, "IDENTIFY_SYSTEM");
	int rc = 0;
	if (PQresultStatus(r) != PGRES_TUPLES_OK || PQntuples(r) != 1 || PQnfields(r) < 2) {
		rc = fl_fail(err, FL_ERR_POSTGRES, "IDENTIFY_SYSTEM on %s:%d: %s", host, port, PQerrorMessage(c));
	} else {
		char *end = NULL;
		errno = 0;
		unsigned long long id = strtoull(PQgetvalue(r, 0, 0), &end, 10);
		if (errno != 0 || end == PQgetvalue(r, 0, 0) || *end != '\0')
			rc = fl_fail(err, FL_ERR_POSTGRES, "IDENTIFY_SYSTEM on %s:%d: system identifier \"%.40s\"",
				     host, port, PQgetvalue(r, 0, 0));
		s->rec.system_id = id;
		s->rec.pg_version = PQserverVersion(c) / 10000;
	}
	PQclear(r);
	PQfinish(c);
	return rc;
}

/* ---- a base backup ---- */

static void backup_failed(sidecar *s, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void backup_failed(sidecar *s, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(s->last_error, sizeof s->last_error, fmt, ap);
	va_end(ap);
	s->last_fail_time = clock_wall();
	s->runs_failed++;
	if (strcmp(s->why, "bootstrap") == 0 || strcmp(s->why, "promotion") == 0)
		s->auto_failed_at = s->last_fail_time;
	log_error("backup %s failed: %s", s->label, s->last_error);
	fl_err err = {0};
	char partial[CATALOG_LABEL_MAX + 16];
	snprintf(partial, sizeof partial, "%s.partial", s->label);
	if (s->dir[0] && repo_backup_remove(&s->repo, partial, &err) < 0)
		log_warn("backup %s: %s", s->label, err.msg);
	s->dir[0] = '\0';
	s->label[0] = '\0';
}

static void retention_run(sidecar *s)
{
	backup_record *list = NULL;
	int n = 0;
	fl_err err = {0};
	if (repo_backups_list(&s->repo, &list, &n, &err) < 0) {
		log_warn("retention: %s", err.msg);
		return;
	}
	bool *keep = calloc((size_t)(n ? n : 1), sizeof *keep);
	if (keep == NULL) {
		free(list);
		return;
	}
	retention_policy p = backup_options_retention(s->o);
	int kept = retention_plan(list, n, &p, clock_wall(), keep);
	for (int i = 0; i < n; i++) {
		if (keep[i])
			continue;
		if (repo_backup_remove(&s->repo, list[i].label, &err) < 0)
			log_warn("retention: %s", err.msg);
		else
			log_info("retention: removed backup %s", list[i].label);
	}
	uint64_t horizon = retention_wal_horizon(list, n, keep);
	if (horizon != 0 && kept > 0) {
		uint64_t seg = list[n - 1].wal_seg_size;
		long removed = 0;
		if (repo_wal_remove_before(&s->repo, wal_segno(horizon, seg), seg, &removed, &err) < 0)
			log_warn("retention: %s", err.msg);
		else if (removed > 0) {
			char at[32];
			lsn_format(horizon, at, sizeof at);
			log_info("retention: removed %ld archived WAL files before %s, which no kept backup needs",
				 removed, at);
		}
	}
	s->n_backups = kept;
	free(keep);
	free(list);
}

static void backup_finish(sidecar *s)
{
	char path[PATH_MAX + 32];
	snprintf(path, sizeof path, "%s/backup_manifest", s->dir);
	char *text = NULL;
	size_t len = 0;
	manifest_info mi;
	fl_err err = {0};
	int rc = repo_read_file(path, MANIFEST_MAX, &text, &len, &err) < 0 ? -1 : manifest_parse(text, len, &mi, &err);
	free(text);
	if (rc < 0) {
		backup_failed(s, "%s", err.msg);
		return;
	}
	/* The streamed WAL comes uncompressed (pg_basebackup compresses only the base): compressed here. */
	char wal_tar[PATH_MAX + 32], packed[PATH_MAX + 48];
	snprintf(wal_tar, sizeof wal_tar, "%s/pg_wal.tar", s->dir);
	if (access(wal_tar, F_OK) == 0 &&
	    repo_compress_file(wal_tar, s->rec.compression, packed, sizeof packed, &err) < 0) {
		backup_failed(s, "%s", err.msg);
		return;
	}
	/* At rest encrypted: the tars (the manifest, names and checksums only, stays readable for verification). */
	const char *tars[] = {"base.tar", "pg_wal.tar"};
	const char *ext = strcmp(s->rec.compression, "zstd") == 0   ? ".zst"
			  : strcmp(s->rec.compression, "gzip") == 0 ? ".gz"
								    : "";
	for (int i = 0; s->encrypt && i < 2; i++) {
		char tar[PATH_MAX + 48];
		snprintf(tar, sizeof tar, "%s/%s%s", s->dir, tars[i], ext);
		if (crypt_encrypt_file(&s->key, tar, &err) < 0) {
			backup_failed(s, "%s", err.msg);
			return;
		}
	}
	s->rec.encrypted = s->encrypt;
	backup_record *r = &s->rec;
	r->timeline = mi.timeline;
	r->start_lsn = mi.start_lsn;
	r->stop_lsn = mi.end_lsn;
	r->data_size = mi.bytes;
	r->stop_time = clock_wall();
	r->size = repo_tree_size(s->dir);
	if (repo_backup_commit(&s->repo, r, &err) < 0) {
		backup_failed(s, "%s", err.msg);
		return;
	}
	s->runs_ok++;
	if (r->timeline > s->newest_tli)
		s->newest_tli = r->timeline;
	s->last_ok_time = r->stop_time;
	s->last_duration = r->stop_time - r->start_time;
	s->last_size = r->size;
	snprintf(s->last_label, sizeof s->last_label, "%s", r->label);
	s->last_error[0] = '\0';
	char start[32], stop[32];
	lsn_format(r->start_lsn, start, sizeof start);
	lsn_format(r->stop_lsn, stop, sizeof stop);
	log_info("backup %s complete: %.1f MB of data in %.1f MB (%s) in %.1f s, from %s (%s), WAL %s to %s on "
		 "timeline %u",
		 r->label, r->data_size / 1048576.0, r->size / 1048576.0, r->compression, s->last_duration, r->source,
		 r->source_role, start, stop, r->timeline);
	s->dir[0] = '\0';
	s->label[0] = '\0';
	retention_run(s);
}

static void on_bb_line(void *arg, const char *line)
{
	sidecar *s = arg;
	int64_t done, total;
	if (basebackup_progress(line, &done, &total)) {
		s->done = done;
		s->total = total;
		double now = clock_mono();
		if (now - s->progress_logged >= PROGRESS_EVERY) {
			double rate = done / 1048576.0 / (now - s->started_mono > 0 ? now - s->started_mono : 1);
			log_info("backup %s: %.0f of %.0f MB (%d%%), %.1f MB/s", s->label, done / 1048576.0,
				 total / 1048576.0, total > 0 ? (int)(100 * done / total) : 0, rate);
			s->progress_logged = now;
		}
		return;
	}
	log_debug("pg_basebackup: %s", line);
}

static void on_bb_done(void *arg, const proc_result *r)
{
	sidecar *s = arg;
	s->bb = NULL;
	if (r->status != 0 || r->timed_out) {
		char how[512];
		proc_describe(r, s->o->backup_timeout, how, sizeof how);
		backup_failed(s, "pg_basebackup: %s", how);
		return;
	}
	backup_finish(s);
}

static int write_passfile(sidecar *s, fl_err *err)
{
	char password[256];
	if (secret_read("replication password", s->o->replication_password_file, password, sizeof password, err) < 0)
		return -1;
	char line[1024];
	if (passfile_line("*", "*", "*", s->o->replication_user, password, line, sizeof line) < 0) {
		explicit_bzero(password, sizeof password);
		return fl_fail(err, FL_ERR_SECRET, "the replication password holds a newline");
	}
	explicit_bzero(password, sizeof password);
	const char *lines[] = {line};
	int rc = passfile_write(s->passfile, lines, 1, err);
	explicit_bzero(line, sizeof line);
	return rc;
}

/* Starts a base backup; FL_ERR_CONFLICT when one runs already. */
static int backup_start(sidecar *s, const char *why, fl_err *err)
{
	if (s->bb != NULL)
		return fl_fail(err, FL_ERR_CONFLICT, "backup %s is under way", s->label);
	if (s->drill != NULL)
		return fl_fail(err, FL_ERR_CONFLICT, "a drill is under way (it reads the repository's newest backup)");
	cluster_view *v = malloc(sizeof *v);
	if (v == NULL)
		return fl_fail(err, FL_ERR_INTERNAL, "out of memory");
	const member *m = NULL;
	const char *no = NULL;
	if (read_view(s, v, err) < 0 || source_pick(v, SOURCE_MAX_LAG, &m, &no) < 0) {
		if (no != NULL)
			fl_fail(err, FL_ERR_CONFLICT, "no member to take a backup from: %s", no);
		free(v);
		return -1;
	}
	char host[128];
	int port = 0;
	if (hostport_parse(m->conn_address, host, sizeof host, &port) < 0) {
		fl_fail(err, FL_ERR_ETCD, "member %s: connect address \"%s\" is not host:port", m->name,
			m->conn_address);
		free(v);
		return -1;
	}
	memset(&s->rec, 0, sizeof s->rec);
	snprintf(s->rec.source, sizeof s->rec.source, "%s", m->name);
	snprintf(s->rec.source_role, sizeof s->rec.source_role, "%s",
		 strcmp(m->role, "primary") == 0 ? "primary" : "replica");
	free(v);
	if (write_passfile(s, err) < 0 || identify(s, host, port, err) < 0)
		return -1;
	s->rec.start_time = clock_wall();
	snprintf(s->rec.compression, sizeof s->rec.compression, "%s", s->o->compression);
	s->rec.wal_seg_size = s->seg_size;
	/* Labels are to the second: a backup right after another takes the next free second. */
	for (int i = 0;; i++) {
		catalog_label_make(s->rec.start_time + i, s->rec.label);
		snprintf(s->label, sizeof s->label, "%s", s->rec.label);
		if (repo_backup_begin(&s->repo, s->label, s->dir, sizeof s->dir, err) == 0)
			break;
		if (err->code != FL_ERR_CONFLICT || i == 10) {
			s->label[0] = '\0';
			return -1;
		}
	}
	char prog[PATH_MAX], host_arg[160], port_arg[32], user_arg[128], dir_arg[PATH_MAX + 16], compress[32], rate[32];
	snprintf(prog, sizeof prog, "%s/pg_basebackup", s->o->bin_dir);
	snprintf(host_arg, sizeof host_arg, "--host=%s", host);
	snprintf(port_arg, sizeof port_arg, "--port=%d", port);
	snprintf(user_arg, sizeof user_arg, "--username=%s", s->o->replication_user);
	snprintf(dir_arg, sizeof dir_arg, "--pgdata=%s", s->dir);
	snprintf(compress, sizeof compress, "--compress=%s",
		 strcmp(s->o->compression, "zstd") == 0   ? "client-zstd:3"
		 : strcmp(s->o->compression, "gzip") == 0 ? "client-gzip:6"
							  : "none");
	snprintf(rate, sizeof rate, "--max-rate=%ld", s->o->max_rate);
	char *argv[16];
	int n = 0;
	argv[n++] = "pg_basebackup";
	argv[n++] = host_arg;
	argv[n++] = port_arg;
	argv[n++] = user_arg;
	argv[n++] = "--no-password";
	argv[n++] = dir_arg;
	argv[n++] = "--format=tar";
	argv[n++] = "--wal-method=stream";
	argv[n++] = compress;
	argv[n++] = "--checkpoint=fast";
	argv[n++] = "--progress";
	argv[n++] = "--verbose";
	argv[n++] = "--manifest-checksums=SHA256";
	if (s->o->max_rate > 0)
		argv[n++] = rate;
	argv[n] = NULL;
	char passfile_env[PATH_MAX + 16];
	snprintf(passfile_env, sizeof passfile_env, "PGPASSFILE=%s", s->passfile);
	char *env[] = {passfile_env, "PGAPPNAME=flotilla-backup", "PGCONNECT_TIMEOUT=10", NULL};
	proc_spec spec = {.path = prog,
			  .argv = argv,
			  .env = env,
			  .timeout = s->o->backup_timeout,
			  .capture_max = 0,
			  .on_line = on_bb_line,
			  .on_done = on_bb_done,
			  .arg = s,
			  .die_with_parent = true};
	snprintf(s->why, sizeof s->why, "%s", why);
	s->done = s->total = 0;
	s->started_mono = clock_mono();
	s->progress_logged = s->started_mono;
	s->bb = proc_start(s->base, &spec, err);
	if (s->bb == NULL) {
		backup_failed(s, "%s", err->msg);
		return -1;
	}
	/* Its process group, for the next start to stop should this sidecar be killed (pg_basebackup's own child). */
	char pidfile[PATH_MAX + 16], pid[32];
	snprintf(pidfile, sizeof pidfile, "%s.pid", s->dir);
	snprintf(pid, sizeof pid, "%d\n", proc_pid(s->bb));
	FILE *pf = fopen(pidfile, "w");
	if (pf == NULL || fputs(pid, pf) < 0 || fclose(pf) != 0)
		log_warn("backup %s: cannot write %s", s->label, pidfile);
	log_info("backup %s started (%s): from %s (%s) at %s, %s compression", s->label, why, s->rec.source,
		 s->rec.source_role, m == NULL ? "" : host_arg + 7, s->o->compression);
	return 0;
}

static void on_schedule(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	sidecar *s = arg;
	if (s->sched_at == 0)
		return;
	double now = clock_wall();
	if (now + 0.5 < s->sched_at) {
		double wait = s->sched_at - now;
		daemon_timer_arm(s->sched, wait > 3600 ? 3600 : wait);
		return;
	}
	fl_err err = {0};
	if (backup_start(s, "schedule", &err) < 0) {
		if (err.code == FL_ERR_CONFLICT && s->bb != NULL) {
			log_warn("scheduled backup skipped: %s", err.msg);
		} else {
			s->runs_failed++;
			s->last_fail_time = now;
			snprintf(s->last_error, sizeof s->last_error, "%s", err.msg);
			log_error("scheduled backup failed: %s", err.msg);
		}
	}
	schedule_arm(s);
}

/*
 * A segment missing from the archive while later WAL is there, on the way
 * from the oldest backup's end to the newest segment along the newest
 * timeline's history: no restore from a backup before it replays past it.
 * Reported (log, /status, /metrics) when two checks in a row find it: the
 * members archive in order, so a segment still missing 10 s later is lost
 * unless someone archives it.
 */
static void gap_check(sidecar *s)
{
	double now = clock_mono();
	if (s->gap_checked_at != 0 && now - s->gap_checked_at < GAP_CHECK_EVERY)
		return;
	s->gap_checked_at = now;
	backup_record *list = NULL;
	int n = 0;
	fl_err err = {0};
	wal_walk walk = {0};
	uint32_t target = 1;
	int rc = repo_backups_list(&s->repo, &list, &n, &err);
	if (rc == 0 && n > 0)
		rc = repo_wal_walk(&s->repo, s->encrypt ? &s->key : NULL, list[0].wal_seg_size, list[0].timeline,
				   wal_segno(list[0].stop_lsn, list[0].wal_seg_size), &walk, &target, &err);
	free(list);
	if (rc < 0) {
		log_debug("archive check: %s", err.msg);
		return;
	}
	const char *missing = n > 0 && walk.gap ? walk.missing : "";
	if (missing[0] && strcmp(missing, s->gap_seen) == 0 && strcmp(missing, s->gap) != 0) {
		snprintf(s->gap, sizeof s->gap, "%s", missing);
		log_error("WAL segment %s is missing from the archive, which holds later WAL (timeline %u): no restore "
			  "from a backup before it replays past it; take a backup (flotilla backup now)",
			  missing, target);
	} else if (!missing[0] && s->gap[0]) {
		log_info("the archive is whole again: segment %s is there, or no kept backup needs it", s->gap);
		s->gap[0] = '\0';
	}
	snprintf(s->gap_seen, sizeof s->gap_seen, "%s", missing);
}

/*
 * A backup right after the bootstrap (an empty repository) and after each
 * promotion (the leader on a timeline no backup has): WAL replay across a
 * timeline switch works, but a restore from the new timeline's own backup
 * is faster and does not depend on the old one.
 */
static void on_watch(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	sidecar *s = arg;
	daemon_timer_arm(s->watch, WATCH_INTERVAL);
	gap_check(s);
	cluster_view *v = malloc(sizeof *v);
	fl_err err = {0};
	if (v == NULL || read_view(s, v, &err) < 0) {
		free(v);
		return;
	}
	const member *l = v->has_leader ? cluster_member(v, v->leader) : NULL;
	long tli = l != NULL && l->running && strcmp(l->role, "primary") == 0 ? l->timeline : 0;
	/* How far the archive is behind the leader: the WAL a loss of every member would lose. */
	wal_name last;
	const char *bad;
	s->archive_lag = -1;
	if (tli > 0 && s->wal_last[0] && wal_name_parse(s->wal_last, s->seg_size, &last, &bad) == WAL_SEGMENT) {
		uint64_t end = (last.segno + 1) * s->seg_size;
		s->archive_lag = l->wal_lsn > end ? (int64_t)(l->wal_lsn - end) : 0;
	}
	free(v);
	if (!s->o->backup_new_timeline || s->bb != NULL || s->drill != NULL ||
	    clock_wall() - s->auto_failed_at < AUTO_RETRY)
		return;
	if (tli <= 0 || (s->n_backups > 0 && (uint32_t)tli <= s->newest_tli))
		return;
	const char *why = s->n_backups == 0 ? "bootstrap" : "promotion";
	log_info("the leader runs on timeline %ld, which no backup has: taking one (%s)", tli, why);
	if (backup_start(s, why, &err) < 0) {
		/* Counted as a failed backup (the alert's flotilla_backup_last_failure_timestamp_seconds), retried later. */
		s->auto_failed_at = s->last_fail_time = clock_wall();
		s->runs_failed++;
		snprintf(s->last_error, sizeof s->last_error, "%s", err.msg);
		log_warn("automatic backup (%s) not started: %s", why, err.msg);
	}
}

/* ---- drills ---- */

/* The figures of REPO/drills/latest.json, for /status and /metrics. */
static void drill_read_report(sidecar *s)
{
	char path[PATH_MAX + 32];
	snprintf(path, sizeof path, "%s/drills/latest.json", s->repo.path);
	json_t *r = json_load_file(path, 0, NULL);
	if (r == NULL)
		return;
	const char *verdict = json_string_value(json_object_get(r, "verdict"));
	s->drill_last_pass = verdict && strcmp(verdict, "pass") == 0;
	s->drill_last_time = json_number_value(json_object_get(r, "started_time"));
	s->drill_last_rto = json_number_value(json_object_get(r, "rto_seconds"));
	s->drill_last_rpo_bytes = json_number_value(json_object_get(r, "rpo_bytes"));
	if (s->drill_last_pass)
		s->drill_last_ok_time = s->drill_last_time;
	s->drill_last_error[0] = '\0';
	size_t i;
	json_t *p;
	json_array_foreach(json_object_get(r, "phases"), i, p) if (!json_is_true(json_object_get(p, "ok")))
		snprintf(s->drill_last_error, sizeof s->drill_last_error, "%s: %s",
			 json_string_value(json_object_get(p, "name")), json_string_value(json_object_get(p, "error")));
	json_decref(r);
}

static void on_drill_line(void *arg, const char *line)
{
	(void)arg;
	/* The drill's own log lines, passed on as they are (they carry their level and component). */
	fprintf(stderr, "%s\n", line);
}

static void on_drill_done(void *arg, const proc_result *r)
{
	sidecar *s = arg;
	s->drill = NULL;
	drill_read_report(s);
	if (r->status == 0 && s->drill_last_pass) {
		s->drills_ok++;
		log_info("drill passed (%s): RTO %.1f s, %.0f bytes before the end of the archive", s->drill_why,
			 s->drill_last_rto, s->drill_last_rpo_bytes);
	} else {
		s->drills_failed++;
		char how[256];
		proc_describe(r, s->o->drill_timeout, how, sizeof how);
		if (s->drill_last_error[0] == '\0')
			snprintf(s->drill_last_error, sizeof s->drill_last_error, "%s", how);
		s->drill_last_pass = 0;
		s->drill_last_time = s->drill_started;
		log_error("drill FAILED (%s): %s", s->drill_why, s->drill_last_error);
	}
}

static int drill_start(sidecar *s, const char *why, fl_err *err)
{
	if (s->drill != NULL)
		return fl_fail(err, FL_ERR_CONFLICT, "a drill is under way");
	char self[PATH_MAX];
	if (proc_self_path(self, sizeof self) < 0)
		return fl_fail(err, FL_ERR_IO, "cannot find this program: %s", strerror(errno));
	char *argv[] = {"flotilla-backup", "drill", s->config_path[0] ? "--config" : NULL, s->config_path, NULL};
	proc_spec spec = {.path = self,
			  .argv = argv,
			  .timeout = s->o->drill_timeout * 2 + 600,
			  .on_line = on_drill_line,
			  .on_done = on_drill_done,
			  .arg = s};
	s->drill = proc_start(s->base, &spec, err);
	if (s->drill == NULL)
		return -1;
	s->drill_started = clock_wall();
	snprintf(s->drill_why, sizeof s->drill_why, "%s", why);
	log_info("drill started (%s)", why);
	return 0;
}

static void drill_schedule_arm(sidecar *s)
{
	cron_spec spec;
	if (s->drill_at != 0)
		s->drill_at_last = s->drill_at;
	s->drill_at = 0;
	if (s->drill_sched == NULL)
		return;
	evtimer_del(s->drill_sched);
	int64_t next = 0;
	double now = clock_wall();
	double after = now > s->drill_at_last ? now : s->drill_at_last;
	if (!backup_options_drill_schedule(s->o, &spec) || cron_next(&spec, (int64_t)after, &next) < 0)
		return;
	s->drill_at = (double)next;
	double wait = s->drill_at - now;
	daemon_timer_arm(s->drill_sched, wait > 3600 ? 3600 : wait);
}

static void on_drill_schedule(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	sidecar *s = arg;
	if (s->drill_at == 0)
		return;
	double now = clock_wall();
	if (now + 0.5 < s->drill_at) {
		double wait = s->drill_at - now;
		daemon_timer_arm(s->drill_sched, wait > 3600 ? 3600 : wait);
		return;
	}
	fl_err err = {0};
	if (s->bb != NULL)
		log_warn("scheduled drill skipped: backup %s is under way", s->label);
	else if (drill_start(s, "schedule", &err) < 0)
		log_warn("scheduled drill skipped: %s", err.msg);
	drill_schedule_arm(s);
}

/* ---- the API ---- */

static void answer_text(http_out *out, int status, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

static void answer_text(http_out *out, int status, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	char *body = NULL;
	if (vasprintf(&body, fmt, ap) < 0)
		body = NULL;
	va_end(ap);
	out->status = status;
	out->content_type = "text/plain; charset=utf-8";
	out->body = body;
}

static void answer_json(http_out *out, int status, json_t *j)
{
	out->status = status;
	out->content_type = "application/json";
	out->body = json_dumps(j, JSON_INDENT(2) | JSON_SORT_KEYS);
	json_decref(j);
}

static int status_of(fl_code code)
{
	switch (code) {
	case FL_ERR_USAGE:
		return 400;
	case FL_ERR_NOT_FOUND:
		return 404;
	case FL_ERR_CONFLICT:
		return 409;
	case FL_ERR_IO:
		return 507;
	case FL_ERR_ETCD:
	case FL_ERR_POSTGRES:
		return 503;
	default:
		return 500;
	}
}

static void wal_put(sidecar *s, const char *name, const http_in *in, http_out *out)
{
	repo_put_result res = REPO_STORED;
	fl_err err = {0};
	double t0 = clock_mono();
	if (in->body == NULL) {
		answer_text(out, 400, "PUT /wal/%s: the request has no body (the file's content)\n", name);
		return;
	}
	if (repo_wal_put(&s->repo, name, in->body, in->body_len, s->o->compression, s->encrypt ? &s->key : NULL, &res,
			 &err) < 0) {
		if (err.code == FL_ERR_CONFLICT)
			s->wal_conflict++;
		else
			s->wal_failed++;
		log_error("archiving %s failed: %s", name, err.msg);
		answer_text(out, status_of(err.code), "%s\n", err.msg);
		return;
	}
	if (res == REPO_SAME) {
		s->wal_same++;
		log_debug("%s is archived already, with the same content", name);
		answer_text(out, 200, "%s is archived already, with the same content\n", name);
		return;
	}
	s->wal_stored++;
	wal_name w;
	const char *why;
	if (wal_name_parse(name, s->seg_size, &w, &why) == WAL_SEGMENT) {
		wal_name last;
		if (s->wal_last[0] == '\0' || wal_name_parse(s->wal_last, s->seg_size, &last, &why) != WAL_SEGMENT ||
		    w.timeline > last.timeline || (w.timeline == last.timeline && w.segno > last.segno)) {
			snprintf(s->wal_last, sizeof s->wal_last, "%s", name);
			s->wal_last_time = clock_wall();
		}
	}
	log_info("archived %s (%zu kB, %.0f ms)", name, in->body_len / 1024, (clock_mono() - t0) * 1000);
	answer_text(out, 201, "%s archived\n", name);
}

static void wal_get(sidecar *s, const char *name, http_out *out)
{
	char *data = NULL;
	size_t len = 0;
	fl_err err = {0};
	if (repo_wal_get(&s->repo, name, s->encrypt ? &s->key : NULL, &data, &len, &err) < 0) {
		if (err.code != FL_ERR_NOT_FOUND)
			log_error("reading %s from the archive failed: %s", name, err.msg);
		answer_text(out, status_of(err.code), "%s\n", err.msg);
		return;
	}
	out->status = 200;
	out->content_type = "application/octet-stream";
	out->body = data;
	out->body_len = len;
}

static json_t *record_json(const backup_record *r)
{
	char *text = catalog_record_json(r);
	json_t *j = text ? json_loads(text, 0, NULL) : NULL;
	free(text);
	return j ? j : json_null();
}

static void backups_list(sidecar *s, http_out *out)
{
	backup_record *list = NULL;
	int n = 0;
	fl_err err = {0};
	if (repo_backups_list(&s->repo, &list, &n, &err) < 0) {
		answer_text(out, 500, "%s\n", err.msg);
		return;
	}
	s->n_backups = n;
	json_t *a = json_array();
	for (int i = 0; i < n; i++)
		json_array_append_new(a, record_json(&list[i]));
	free(list);
	answer_json(out, 200, a);
}

static json_t *running_json(const sidecar *s)
{
	if (s->bb == NULL)
		return json_null();
	return json_pack("{s:s, s:s, s:s, s:I, s:I, s:f}", "label", s->label, "source", s->rec.source, "started_by",
			 s->why, "bytes_done", (json_int_t)s->done, "bytes_total", (json_int_t)s->total, "seconds",
			 clock_mono() - s->started_mono);
}

static void status(sidecar *s, http_out *out)
{
	json_t *j = json_pack("{s:s, s:o, s:s, s:f, s:s, s:f, s:s, s:I, s:I}", "repo", s->repo.path, "running",
			      running_json(s), "last_backup", s->last_label, "last_success_time", s->last_ok_time,
			      "last_error", s->last_error, "next_scheduled", s->sched_at, "wal_last_archived",
			      s->wal_last, "wal_archived", (json_int_t)s->wal_stored, "wal_failed",
			      (json_int_t)(s->wal_failed + s->wal_conflict));
	json_object_set_new(j, "drill",
			    json_pack("{s:b, s:f, s:f, s:s, s:f, s:f, s:f}", "running", s->drill != NULL, "last_time",
				      s->drill_last_time, "last_success_time", s->drill_last_ok_time, "last_verdict",
				      s->drill_last_pass < 0 ? ""
				      : s->drill_last_pass   ? "pass"
							     : "fail",
				      "last_rto_seconds", s->drill_last_rto, "last_rpo_bytes", s->drill_last_rpo_bytes,
				      "next_scheduled", s->drill_at));
	json_object_set_new(j, "drill_last_error", json_string(s->drill_last_error));
	json_object_set_new(j, "wal_archive_lag_bytes", json_integer(s->archive_lag));
	json_object_set_new(j, "wal_gap", json_string(s->gap));
	answer_json(out, 200, j);
}

static void metrics(sidecar *s, http_out *out)
{
	struct evbuffer *b = evbuffer_new();
	metrics_head(b, "flotilla_backup_last_success_timestamp_seconds", "gauge",
		     "When the last base backup completed (0: none since the sidecar started)");
	metrics_double(b, "flotilla_backup_last_success_timestamp_seconds", "", s->last_ok_time);
	metrics_head(b, "flotilla_backup_last_failure_timestamp_seconds", "gauge",
		     "When the last base backup failed (0: none since the sidecar started)");
	metrics_double(b, "flotilla_backup_last_failure_timestamp_seconds", "", s->last_fail_time);
	metrics_head(b, "flotilla_backup_last_size_bytes", "gauge", "Size in the repository of the last base backup");
	metrics_u64(b, "flotilla_backup_last_size_bytes", "", s->last_size);
	metrics_head(b, "flotilla_backup_last_duration_seconds", "gauge", "How long the last base backup took");
	metrics_double(b, "flotilla_backup_last_duration_seconds", "", s->last_duration);
	metrics_head(b, "flotilla_backup_runs_total", "counter", "Base backups run, by result");
	metrics_u64(b, "flotilla_backup_runs_total", "result=\"ok\"", s->runs_ok);
	metrics_u64(b, "flotilla_backup_runs_total", "result=\"failed\"", s->runs_failed);
	metrics_one(b, "flotilla_backup_running", "gauge", "1 while a base backup runs", "", s->bb != NULL);
	metrics_one(b, "flotilla_backup_count", "gauge", "Complete base backups in the repository", "",
		    (uint64_t)s->n_backups);
	metrics_head(
		b, "flotilla_wal_archived_total", "counter",
		"WAL files received, by result (same: archived already with that content; conflict: with another)");
	metrics_u64(b, "flotilla_wal_archived_total", "result=\"stored\"", s->wal_stored);
	metrics_u64(b, "flotilla_wal_archived_total", "result=\"same\"", s->wal_same);
	metrics_u64(b, "flotilla_wal_archived_total", "result=\"conflict\"", s->wal_conflict);
	metrics_u64(b, "flotilla_wal_archived_total", "result=\"failed\"", s->wal_failed);
	metrics_head(b, "flotilla_wal_archive_lag_bytes", "gauge",
		     "WAL between the leader's position and the end of the newest archived segment (-1: unknown)");
	metrics_double(b, "flotilla_wal_archive_lag_bytes", "", (double)s->archive_lag);
	metrics_head(b, "flotilla_wal_last_archived_timestamp_seconds", "gauge",
		     "When the newest WAL segment was archived (0: none since the sidecar started)");
	metrics_double(b, "flotilla_wal_last_archived_timestamp_seconds", "", s->wal_last_time);
	char label[128], seg[WAL_NAME_MAX * 2];
	metrics_label_value(seg, sizeof seg, s->wal_last);
	snprintf(label, sizeof label, "segment=\"%s\"", seg);
	metrics_one(b, "flotilla_wal_last_archived_segment_info", "gauge", "The newest WAL segment archived", label, 1);
	metrics_one(b, "flotilla_wal_archive_gap", "gauge",
		    "1 while a WAL segment is missing from the archive that holds later WAL (a restore stops there)",
		    "", s->gap[0] != '\0');
	if (s->gap[0]) {
		metrics_label_value(seg, sizeof seg, s->gap);
		snprintf(label, sizeof label, "segment=\"%s\"", seg);
		metrics_one(b, "flotilla_wal_archive_gap_info", "gauge",
			    "The first WAL segment missing from the archive", label, 1);
	}
	metrics_head(b, "flotilla_drill_last_timestamp_seconds", "gauge", "When the last restore drill ran (0: none)");
	metrics_double(b, "flotilla_drill_last_timestamp_seconds", "", s->drill_last_time);
	metrics_head(b, "flotilla_drill_last_success_timestamp_seconds", "gauge",
		     "When the last restore drill that passed ran (0: none)");
	metrics_double(b, "flotilla_drill_last_success_timestamp_seconds", "", s->drill_last_ok_time);
	metrics_head(b, "flotilla_drill_last_passed", "gauge",
		     "1 when the last drill passed, 0 when it failed, -1 before any");
	metrics_double(b, "flotilla_drill_last_passed", "", s->drill_last_pass);
	metrics_head(b, "flotilla_drill_last_rto_seconds", "gauge",
		     "The last drill's time to restore: from its start to a promoted copy");
	metrics_double(b, "flotilla_drill_last_rto_seconds", "", s->drill_last_rto);
	metrics_head(b, "flotilla_drill_last_rpo_bytes", "gauge",
		     "WAL between the last drill's recovery point and the end of the archive");
	metrics_double(b, "flotilla_drill_last_rpo_bytes", "", s->drill_last_rpo_bytes);
	metrics_head(b, "flotilla_drill_runs_total", "counter", "Restore drills run by this sidecar, by result");
	metrics_u64(b, "flotilla_drill_runs_total", "result=\"pass\"", s->drills_ok);
	metrics_u64(b, "flotilla_drill_runs_total", "result=\"fail\"", s->drills_failed);
	size_t len = evbuffer_get_length(b);
	char *body = malloc(len + 1);
	if (body != NULL) {
		evbuffer_remove(b, body, len);
		body[len] = '\0';
	}
	evbuffer_free(b);
	out->status = 200;
	out->content_type = "text/plain; version=0.0.4; charset=utf-8";
	out->body = body;
}

static void health(sidecar *s, http_out *out)
{
	char probe[PATH_MAX + 32];
	snprintf(probe, sizeof probe, "%s/wal", s->repo.path);
	if (access(probe, W_OK) < 0) {
		answer_text(out, 503, "the repository %s is not writable: %s\n", s->repo.path, strerror(errno));
		return;
	}
	answer_text(out, 200, "ok\n");
}

static bool path_is(const char *uri, const char *path)
{
	size_t n = strlen(path);
	return strncmp(uri, path, n) == 0 && (uri[n] == '\0' || uri[n] == '?');
}

static void serve(void *arg, const http_in *in, http_out *out)
{
	sidecar *s = arg;
	const char *uri = in->uri;
	bool get = strcmp(in->method, "GET") == 0 || strcmp(in->method, "HEAD") == 0;
	if (get && path_is(uri, "/health")) {
		health(s, out);
		return;
	}
	if (get && path_is(uri, "/metrics")) {
		metrics(s, out);
		return;
	}
	const char *why = NULL;
	int refused = secret_bearer_check(in->authorization, s->token, &why);
	if (refused) {
		answer_text(out, refused, "%s\n%s\n", why, SECRET_BEARER_HINT);
		return;
	}
	if (strncmp(uri, "/wal/", 5) == 0) {
		const char *name = uri + 5;
		wal_name w;
		if (strlen(name) >= WAL_NAME_MAX || wal_name_parse(name, 1024 * 1024, &w, &why) == WAL_NONE) {
			answer_text(out, 400, "\"%.80s\" is not the name of a WAL file: %s\n", name, why ? why : "");
			return;
		}
		if (strcmp(in->method, "PUT") == 0)
			wal_put(s, name, in, out);
		else if (get)
			wal_get(s, name, out);
		else
			answer_text(out, 405, "%s /wal/NAME: use PUT or GET\n", in->method);
		return;
	}
	if (path_is(uri, "/backups")) {
		if (get) {
			backups_list(s, out);
			return;
		}
		if (strcmp(in->method, "POST") != 0) {
			answer_text(out, 405, "%s /backups: use GET or POST\n", in->method);
			return;
		}
		fl_err err = {0};
		if (backup_start(s, "request", &err) < 0) {
			answer_text(out, status_of(err.code), "%s\n", err.msg);
			return;
		}
		answer_json(out, 202,
			    json_pack("{s:s, s:s, s:s}", "label", s->label, "source", s->rec.source, "source_role",
				      s->rec.source_role));
		return;
	}
	if (path_is(uri, "/drills")) {
		if (strcmp(in->method, "POST") != 0) {
			answer_text(out, 405, "%s /drills: use POST (GET /drills/latest for the last report)\n",
				    in->method);
			return;
		}
		fl_err err = {0};
		if (s->bb != NULL)
			answer_text(out, 409, "backup %s is under way: a drill waits for it\n", s->label);
		else if (drill_start(s, "request", &err) < 0)
			answer_text(out, status_of(err.code), "%s\n", err.msg);
		else
			answer_json(out, 202, json_pack("{s:f}", "started", s->drill_started));
		return;
	}
	if (get && path_is(uri, "/drills/latest")) {
		char path[PATH_MAX + 32];
		snprintf(path, sizeof path, "%s/drills/latest.json", s->repo.path);
		json_t *r = json_load_file(path, 0, NULL);
		if (r == NULL)
			answer_text(out, 404, "no drill has run yet\n");
		else
			answer_json(out, 200, r);
		return;
	}
	if (get && path_is(uri, "/status")) {
		status(s, out);
		return;
	}
	answer_text(out, 404, "no such path: %.200s\nHINT: /wal/NAME, /backups, /status, /health, /metrics\n", uri);
}

static void served(void *arg, http_out *out)
{
	(void)arg;
	free((char *)out->body);
	out->body = NULL;
}

/* ---- life ---- */

sidecar *sidecar_new(struct event_base *base, backup_options *o, const char *config_path, fl_err *err)
{
	sidecar *s = calloc(1, sizeof *s);
	if (s == NULL) {
		fl_fail(err, FL_ERR_INTERNAL, "out of memory");
		return NULL;
	}
	s->base = base;
	s->o = o;
	s->seg_size = SEG_SIZE_DEFAULT;
	s->drill_last_pass = -1;
	s->archive_lag = -1;
	snprintf(s->config_path, sizeof s->config_path, "%s", config_path ? config_path : "");
	if (repo_open(&s->repo, o->repo, true, err) < 0 ||
	    secret_read("api token", o->api_token_file, s->token, sizeof s->token, err) < 0 ||
	    keys_root(o->etcd_prefix, o->scope, s->root, sizeof s->root) < 0) {
		sidecar_free(s);
		return NULL;
	}
	snprintf(s->passfile, sizeof s->passfile, "%s/.pgpass", o->repo);
	if (o->encryption_key_file[0] != '\0') {
		if (crypt_key_open(o->repo, o->encryption_key_file, true, &s->key, err) < 0) {
			sidecar_free(s);
			return NULL;
		}
		s->encrypt = true;
		log_info("repository %s: encrypted at rest (AES-256-GCM)", o->repo);
	}
	int removed = 0;
	if (repo_partials_clean(&s->repo, &removed, err) < 0) {
		sidecar_free(s);
		return NULL;
	}
	if (removed > 0)
		log_warn("removed %d backups a stop cut short (never listed)", removed);
	etcd_security sec = CLUSTER_ETCD_SECURITY(o);
	s->etcd = etcd_new(o->etcd_endpoints.v, o->etcd_endpoints.n, &sec, err);
	if (s->etcd == NULL) {
		sidecar_free(s);
		return NULL;
	}
	etcd_set_timeout(s->etcd, o->retry_timeout);
	http_limits lim = {.headers_max = 8192, .body_max = API_BODY_MAX, .timeout_s = 120, .conn_max = 64};
	s->api = http_server_new(base, o->api_listen, &lim, serve, served, s, err);
	if (s->api == NULL) {
		fl_err_prefix(err, "api");
		sidecar_free(s);
		return NULL;
	}
	s->sched = evtimer_new(base, on_schedule, s);
	schedule_arm(s);
	s->drill_sched = evtimer_new(base, on_drill_schedule, s);
	drill_schedule_arm(s);
	drill_read_report(s);
	repo_wal_stats st;
	if (repo_wal_stats_read(&s->repo, s->seg_size, &st, err) == 0 && st.newest[0]) {
		snprintf(s->wal_last, sizeof s->wal_last, "%s", st.newest);
		s->wal_last_time = st.newest_mtime;
	}
	s->watch = evtimer_new(base, on_watch, s);
	daemon_timer_arm(s->watch, 1.0);
	backup_record *list = NULL;
	int n = 0;
	if (repo_backups_list(&s->repo, &list, &n, err) == 0) {
		s->n_backups = n;
		if (n > 0) {
			s->last_ok_time = list[n - 1].stop_time;
			s->last_size = list[n - 1].size;
			s->last_duration = list[n - 1].stop_time - list[n - 1].start_time;
			snprintf(s->last_label, sizeof s->last_label, "%s", list[n - 1].label);
			for (int i = 0; i < n; i++)
				if (list[i].timeline > s->newest_tli)
					s->newest_tli = list[i].timeline;
		}
		free(list);
	}
	log_info("repository %s: %d backups; api on %s; backups %s; drills %s", s->repo.path, s->n_backups,
		 o->api_listen, o->schedule[0] ? o->schedule : "on demand only",
		 o->drill_schedule[0] ? o->drill_schedule : "on demand only");
	return s;
}

void sidecar_reconfigure(sidecar *s)
{
	schedule_arm(s);
	drill_schedule_arm(s);
}

void sidecar_stop(sidecar *s)
{
	if (s->bb != NULL) {
		proc_free(s->bb);
		s->bb = NULL;
		backup_failed(s, "the sidecar was stopped");
	}
	if (s->drill != NULL) {
		proc_free(s->drill);
		s->drill = NULL;
		log_warn("the drill under way was stopped; the next one clears its copy");
	}
}

void sidecar_free(sidecar *s)
{
	if (s == NULL)
		return;
	proc_free(s->bb);
	proc_free(s->drill);
	if (s->sched)
		event_free(s->sched);
	if (s->drill_sched)
		event_free(s->drill_sched);
	if (s->watch)
		event_free(s->watch);
	http_server_free(s->api);
	etcd_free(s->etcd);
	explicit_bzero(s->token, sizeof s->token);
	crypt_key_wipe(&s->key);
	free(s);
}
