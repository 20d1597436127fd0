/*
 * drill: a restore drill; see drill.h.
 */
#include "drill.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <jansson.h>
#include <libpq-fe.h>
#include <limits.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "backup/backup_options.h"
#include "backup/repo.h"
#include "backup/restore.h"
#include "backup/source.h"
#include "cluster/cluster.h"
#include "cluster/keys.h"
#include "cluster/lsn.h"
#include "cluster/option_rows.h"
#include "common/clock.h"
#include "common/etcd.h"
#include "common/hostport.h"
#include "common/log.h"
#include "common/secret.h"
#include "pg/pidfile.h"
#include "pg/walname.h"

#define OUTPUT_MAX 8192

typedef struct drill {
	backup_options *o;
	repo repo;
	const char *label;
	char top[PATH_MAX], data[PATH_MAX + 16], sock[PATH_MAX + 16], pglog[PATH_MAX + 32];
	double t0;
	json_t *report, *phases;
	bool failed, started;
	restore_result restored;
	PGconn *conn;
	/* The archive: its newest timeline and where its WAL ends. */
	uint32_t archive_tli;
	uint64_t archive_end;
	char archive_newest[WAL_NAME_MAX];
	/* Where the restored copy got to. */
	uint64_t reached;
	double rto;
	/* drill.tables counted on the cluster (a replica paused at source_lsn, or the leader), and the copy then
	 * recovered to exactly that point. */
	bool have_source;
	uint64_t source_lsn;
	char source_node[CLUSTER_NAME_MAX];
	long long *source_counts;
	bool parse_wal;   /* verify: pg_verifybackup also reads the backup's own WAL (pg_waldump) */
	const char *what; /* "drill" or "verify", in log lines */
} drill;

/* ---- programs ---- */

/* Runs argv with stdout and stderr into out (bounded); the exit status, 128 + signal, or -1. */
static int run_capture(char *const argv[], char *out, size_t len)
{
	int fds[2];
	out[0] = '\0';
	if (pipe(fds) < 0)
		return -1;
	pid_t pid = fork();
	if (pid < 0) {
		close(fds[0]);
		close(fds[1]);
		return -1;
	}
	if (pid == 0) {
		dup2(fds[1], 1);
		dup2(fds[1], 2);
		close(fds[0]);
		close(fds[1]);
		execv(argv[0], argv);
		fprintf(stderr, "cannot execute %s: %s\n", argv[0], strerror(errno));
		_exit(127);
	}
	close(fds[1]);
	size_t got = 0;
	char buf[4096];
	ssize_t n;
	while ((n = read(fds[0], buf, sizeof buf)) != 0) {
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			break;
		size_t keep = got + (size_t)n < len - 1 ? (size_t)n : len - 1 - got;
		memcpy(out + got, buf, keep);
		got += keep;
	}
	out[got] = '\0';
	close(fds[0]);
	int st = 0;
	while (waitpid(pid, &st, 0) < 0)
		if (errno != EINTR)
			return -1;
	return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
}

/* The first lines of a program's output, for an error message. */
static void first_lines(const char *text, int lines, char *buf, size_t len)
{
	size_t j = 0;
	int seen = 0;
	for (const char *c = text; *c && j + 1 < len; c++) {
		if (*c == '\n' && ++seen >= lines)
			break;
		buf[j++] = *c == '\n' ? ';' : *c;
	}
	buf[j] = '\0';
}

static int remove_tree(const char *path)
{
	char *argv[] = {"/bin/rm", "-rf", "--one-file-system", (char *)path, NULL};
	char out[256];
	return run_capture(argv, out, sizeof out) == 0 ? 0 : -1;
}

/* ---- phases ---- */

typedef int (*phase_fn)(drill *d, fl_err *err);

static bool phase(drill *d, const char *name, phase_fn fn)
{
	if (d->failed)
		return false;
	fl_err err = {0};
	double t0 = clock_mono();
	log_debug("%s: %s", d->what, name);
	int rc = fn(d, &err);
	double secs = clock_mono() - t0;
	json_array_append_new(d->phases, json_pack("{s:s, s:f, s:b, s:s?}", "name", name, "seconds", secs, "ok",
						   rc == 0, "error", rc == 0 ? NULL : err.msg));
	if (rc < 0) {
		d->failed = true;
		log_error("%s failed in phase %s: %s", d->what, name, err.msg);
		return false;
	}
	log_info("%s: %s ok in %.1f s", d->what, name, secs);
	return true;
}

/* A copy a stopped drill left running is stopped before its directory goes. */
static void stop_leftover(drill *d)
{
	char pid[PATH_MAX + 32], prog[PATH_MAX], out[1024];
	snprintf(pid, sizeof pid, "%s/postmaster.pid", d->data);
	if (access(pid, F_OK) < 0)
		return;
	snprintf(prog, sizeof prog, "%s/pg_ctl", d->o->bin_dir);
	char *argv[] = {prog, "stop", "--pgdata", d->data, "--mode", "immediate", "--wait", NULL};
	if (run_capture(argv, out, sizeof out) == 0)
		log_info("drill: stopped the copy a previous drill left running");
}

static int do_restore(drill *d, fl_err *err)
{
	stop_leftover(d);
	if (remove_tree(d->top) < 0)
		return fl_fail(err, FL_ERR_IO, "cannot clear the scratch directory %s", d->top);
	if (mkdir(d->top, 0700) < 0 || mkdir(d->sock, 0700) < 0)
		return fl_fail(err, FL_ERR_IO, "cannot make the scratch directory %s: %s", d->top, strerror(errno));
	restore_request rq = {.repo = d->o->repo,
			      .target_dir = d->data,
			      .label = d->label,
			      .target = {.kind = TARGET_LATEST},
			      .port = (int)d->o->drill_port,
			      .socket_dir = d->sock,
			      .key_file = d->o->encryption_key_file[0] ? d->o->encryption_key_file : NULL};
	if (restore_run(&rq, &d->restored, err) < 0)
		return -1;
	json_object_set_new(d->report, "backup", json_string(d->restored.backup.label));
	json_object_set_new(d->report, "backup_source", json_string(d->restored.backup.source));
	return 0;
}

static int do_verify(drill *d, fl_err *err)
{
	char prog[PATH_MAX], manifest[PATH_MAX + 64], out[OUTPUT_MAX];
	snprintf(prog, sizeof prog, "%s/pg_verifybackup", d->o->bin_dir);
	snprintf(manifest, sizeof manifest, "%s/backups/%s/backup_manifest", d->repo.path, d->restored.backup.label);
	/* What the restore itself wrote is not the backup's. */
	char *argv[] = {prog,
			d->parse_wal ? "--quiet" : "--no-parse-wal",
			"--quiet",
			"--manifest-path",
			manifest,
			"--ignore",
			"postgresql.auto.conf",
			"--ignore",
			"recovery.signal",
			"--ignore",
			"standby.signal",
			d->data,
			NULL};
	int rc = run_capture(argv, out, sizeof out);
	if (rc == 0)
		return 0;
	char lines[1024];
	first_lines(out, 4, lines, sizeof lines);
	return fl_fail(err, FL_ERR_IO, "backup %s does not match its manifest (pg_verifybackup exit %d): %s",
		       d->restored.backup.label, rc, lines);
}

static int do_wal(drill *d, fl_err *err)
{
	const backup_record *b = &d->restored.backup;
	uint64_t seg = b->wal_seg_size;
	crypt_key key;
	bool keyed = d->o->encryption_key_file[0] != '\0';
	if (keyed && crypt_key_open(d->repo.path, d->o->encryption_key_file, false, &key, err) < 0)
		return -1;
	/* The WAL up to the backup's end is in its own pg_wal.tar; replay beyond it reads the archive from there. */
	wal_walk walk;
	uint32_t target = 1;
	int rc = repo_wal_walk(&d->repo, keyed ? &key : NULL, seg, b->timeline, wal_segno(b->stop_lsn, seg), &walk,
			       &target, err);
	if (keyed)
		crypt_key_wipe(&key);
	if (rc < 0)
		return -1;
	repo_wal_stats st;
	if (repo_wal_stats_read(&d->repo, seg, &st, err) < 0)
		return -1;
	d->archive_tli = walk.end_tli;
	d->archive_end = (walk.end_segno + 1) * seg;
	wal_segment_name(walk.end_tli, walk.end_segno, seg, d->archive_newest);
	char end[32];
	lsn_format(d->archive_end, end, sizeof end);
	json_object_set_new(d->report, "archive",
			    json_pack("{s:i, s:s, s:s}", "timeline", (int)target, "newest_segment", d->archive_newest,
				      "end_lsn", end));
	if (walk.gap)
		return fl_fail(err, FL_ERR_NOT_FOUND,
			       "WAL segment %s is missing from the archive, which holds later WAL (through %s): a "
			       "restore stops before it",
			       walk.missing, st.newest);
	return 0;
}

static PGconn *connect_scratch(drill *d)
{
	char port[16];
	snprintf(port, sizeof port, "%ld", d->o->drill_port);
	const char *keys[] = {"host", "port", "user", "dbname", "connect_timeout", "application_name", NULL};
	const char *vals[] = {d->sock, port, d->o->drill_user, "postgres", "5", "flotilla-drill", NULL};
	return PQconnectdbParams(keys, vals, 0);
}

static int do_start(drill *d, fl_err *err)
{
	/* The scratch copy listens on a private socket only: trust there, nothing else. */
	char hba[PATH_MAX + 32];
	snprintf(hba, sizeof hba, "%s/pg_hba.conf", d->data);
	FILE *f = fopen(hba, "w");
	if (f == NULL ||
	    fputs("# A restore drill's scratch copy: its private socket only.\nlocal all all trust\n", f) < 0 ||
	    fclose(f) != 0)
		return fl_fail(err, FL_ERR_IO, "cannot write %s: %s", hba, strerror(errno));
	char prog[PATH_MAX], opts[PATH_MAX + 64], timeout[32], out[OUTPUT_MAX];
	snprintf(prog, sizeof prog, "%s/pg_ctl", d->o->bin_dir);
	snprintf(opts, sizeof opts, "-c listen_addresses='' -c port=%ld -k %s", d->o->drill_port, d->sock);
	snprintf(timeout, sizeof timeout, "%.0f", d->o->drill_timeout);
	char *argv[] = {prog,        "start", "--pgdata", d->data,     "--log", d->pglog,
			"--options", opts,    "--wait",   "--timeout", timeout, NULL};
	int rc = run_capture(argv, out, sizeof out);
	d->started = true;
	if (rc != 0) {
		char lines[1024];
		first_lines(out, 3, lines, sizeof lines);
		return fl_fail(err, FL_ERR_POSTGRES,
			       "PostgreSQL did not start on the restored copy (pg_ctl exit %d: %s); its "
			       "log: %s",
			       rc, lines, d->pglog);
	}
	return 0;
}

/* Whether the restored copy's postmaster still runs (its postmaster.pid names a live process). */
static bool postmaster_alive(const drill *d)
{
	pid_t pid = pg_postmaster_pid(d->data);
	return pid > 0 && kill(pid, 0) == 0;
}

static int do_recovery(drill *d, fl_err *err)
{
	double until = clock_mono() + d->o->drill_timeout;
	for (;;) {
		if (d->conn == NULL || PQstatus(d->conn) != CONNECTION_OK) {
			PQfinish(d->conn);
			d->conn = connect_scratch(d);
		}
		if (PQstatus(d->conn) == CONNECTION_OK) {
			PGresult *r = PQexec(d->conn, "SELECT pg_is_in_recovery()");
			bool done = PQresultStatus(r) == PGRES_TUPLES_OK && strcmp(PQgetvalue(r, 0, 0), "f") == 0;
			PQclear(r);
			if (done)
				break;
		}
		if (!postmaster_alive(d)) {
			d->started = false;
			return fl_fail(
				err, FL_ERR_POSTGRES,
				"PostgreSQL on the restored copy stopped during recovery (a full disk, a damaged "
				"segment?); its log: %s",
				d->pglog);
		}
		if (clock_mono() > until)
			return fl_fail(err, FL_ERR_TIMEOUT,
				       "the restored copy did not finish recovery within %.0f s; its log: %s",
				       d->o->drill_timeout, d->pglog);
		clock_sleep(0.2);
	}
	d->rto = clock_wall() - d->t0;
	PGresult *r =
		PQexec(d->conn, "SELECT pg_last_wal_replay_lsn(), extract(epoch FROM pg_last_xact_replay_timestamp()), "
				"('x' || substr(pg_walfile_name(pg_current_wal_lsn()), 1, 8))::bit(32)::int");
	if (PQresultStatus(r) != PGRES_TUPLES_OK || PQntuples(r) != 1) {
		fl_fail(err, FL_ERR_POSTGRES, "reading the recovery point: %s", PQerrorMessage(d->conn));
		PQclear(r);
		return -1;
	}
	uint64_t lsn = 0;
	lsn_parse(PQgetvalue(r, 0, 0), &lsn);
	d->reached = lsn;
	double xact = PQgetisnull(r, 0, 1) ? 0 : atof(PQgetvalue(r, 0, 1));
	json_t *rp = json_pack("{s:s, s:i}", "lsn", PQgetvalue(r, 0, 0), "timeline", atoi(PQgetvalue(r, 0, 2)));
	if (xact > 0)
		json_object_set_new(rp, "last_transaction_time", json_real(xact));
	PQclear(r);
	json_object_set_new(d->report, "recovery_point", rp);
	uint64_t behind = d->archive_end > lsn ? d->archive_end - lsn : 0;
	json_object_set_new(d->report, "rpo_bytes", json_integer((json_int_t)behind));
	if (xact > 0)
		json_object_set_new(d->report, "rpo_seconds", json_real(d->t0 - xact > 0 ? d->t0 - xact : 0));
	json_object_set_new(d->report, "rto_seconds", json_real(d->rto));
	json_object_set_new(d->report, "rto_target_seconds", json_real(d->o->drill_rto_target));
	json_object_set_new(d->report, "rto_met", json_boolean(d->rto <= d->o->drill_rto_target));
	/* Replay must reach the archive's last segment (or the source's point): stopping earlier means WAL could not
	 * be read. */
	uint64_t seg = d->restored.backup.wal_seg_size;
	if (d->have_source && lsn != d->source_lsn) {
		char at[32], want[32];
		lsn_format(lsn, at, sizeof at);
		lsn_format(d->source_lsn, want, sizeof want);
		return fl_fail(err, FL_ERR_IO,
			       "recovery stopped at %s, not at %s where drill.tables were counted on %s; the restored "
			       "copy's log: %s",
			       at, want, d->source_node, d->pglog);
	}
	if (!d->have_source && d->archive_end > 0 && lsn + seg < d->archive_end) {
		char at[32], end[32];
		lsn_format(lsn, at, sizeof at);
		lsn_format(d->archive_end, end, sizeof end);
		char next[25];
		wal_segment_name(d->archive_tli, wal_segno(lsn, seg) + 1, seg, next);
		return fl_fail(
			err, FL_ERR_IO,
			"recovery stopped at %s, but the archive holds WAL through %s: segment %s (or the one after "
			"the recovery point) could not be read; the restored copy's log: %s",
			at, end, next, d->pglog);
	}
	if (d->rto > d->o->drill_rto_target)
		log_warn("drill: the restore took %.1f s, beyond the target of %.0f s", d->rto, d->o->drill_rto_target);
	return 0;
}

static int do_amcheck(drill *d, fl_err *err)
{
	char prog[PATH_MAX], port[16], out[OUTPUT_MAX];
	snprintf(prog, sizeof prog, "%s/pg_amcheck", d->o->bin_dir);
	snprintf(port, sizeof port, "%ld", d->o->drill_port);
	char *argv[] = {
		prog, "--host", d->sock, "--port", port, "--username", d->o->drill_user, "--all", "--install-missing",
		NULL};
	int rc = run_capture(argv, out, sizeof out);
	if (rc == 0)
		return 0;
	char lines[1024];
	first_lines(out, 4, lines, sizeof lines);
	return fl_fail(err, FL_ERR_POSTGRES, "pg_amcheck found corruption or failed (exit %d): %s", rc, lines);
}

static int do_checks(drill *d, fl_err *err)
{
	json_t *checks = json_array();
	json_object_set_new(d->report, "checks", checks);
	for (int i = 0; i < d->o->drill_checks.n; i++) {
		const char *sql = d->o->drill_checks.v[i];
		PGresult *r = PQexec(d->conn, sql);
		bool ok = PQresultStatus(r) == PGRES_TUPLES_OK && PQntuples(r) > 0 && !PQgetisnull(r, 0, 0) &&
			  strcmp(PQgetvalue(r, 0, 0), "f") != 0;
		char why[256] = "";
		if (PQresultStatus(r) != PGRES_TUPLES_OK)
			snprintf(why, sizeof why, "%s", PQresultErrorMessage(r));
		else if (!ok)
			snprintf(why, sizeof why, "%s", PQntuples(r) == 0 ? "no row" : "false or NULL");
		PQclear(r);
		size_t wl = strlen(why);
		while (wl > 0 && why[wl - 1] == '\n')
			why[--wl] = '\0';
		json_array_append_new(checks,
				      json_pack("{s:s, s:b, s:s?}", "query", sql, "ok", ok, "error", ok ? NULL : why));
		if (!ok)
			return fl_fail(err, FL_ERR_CONFLICT, "check \"%.200s\" does not hold: %s", sql, why);
	}
	return 0;
}

/* count(*) of table (schema.table, each part quoted as an identifier) through c. */
static int count_table(PGconn *c, const char *table, long long *n, fl_err *err)
{
	char schema[128] = "", rel[128];
	const char *dot = strchr(table, '.');
	if (dot != NULL && (size_t)(dot - table) < sizeof schema) {
		snprintf(schema, sizeof schema, "%.*s", (int)(dot - table), table);
		snprintf(rel, sizeof rel, "%s", dot + 1);
	} else {
		snprintf(rel, sizeof rel, "%s", table);
	}
	char *qs = schema[0] ? PQescapeIdentifier(c, schema, strlen(schema)) : NULL;
	char *qr = PQescapeIdentifier(c, rel, strlen(rel));
	char sql[512];
	snprintf(sql, sizeof sql, "SELECT count(*) FROM %s%s%s", qs ? qs : "", qs ? "." : "", qr ? qr : "\"\"");
	PQfreemem(qs);
	PQfreemem(qr);
	PGresult *r = PQexec(c, sql);
	if (PQresultStatus(r) != PGRES_TUPLES_OK) {
		char msg[512];
		snprintf(msg, sizeof msg, "%s", PQresultErrorMessage(r));
		msg[strcspn(msg, "\n")] = '\0';
		fl_fail(err, FL_ERR_NOT_FOUND, "counting %s: %s", table, msg);
		PQclear(r);
		return -1;
	}
	*n = atoll(PQgetvalue(r, 0, 0));
	PQclear(r);
	return 0;
}

/* The copy's counts, each compared with the cluster's at the same point when the source phase took them. */
static int do_counts(drill *d, fl_err *err)
{
	json_t *counts = json_object();
	json_object_set_new(d->report, "row_counts", counts);
	for (int i = 0; i < d->o->drill_tables.n; i++) {
		const char *table = d->o->drill_tables.v[i];
		long long n = 0;
		if (count_table(d->conn, table, &n, err) < 0)
			return -1;
		json_object_set_new(counts, table, json_integer(n));
		if (!d->have_source)
			continue;
		long long want = d->source_counts[i];
		if (n != want) {
			char at[32];
			lsn_format(d->source_lsn, at, sizeof at);
			return fl_fail(err, FL_ERR_CONFLICT,
				       "table %s: %lld rows in the restored copy, %lld on %s at %s (the point the copy "
				       "recovered to)",
				       table, n, want, d->source_node, at);
		}
	}
	return 0;
}

/* ---- the cluster's counts at one point (drill.tables) ---- */

/* Seconds the source phase waits for the archive to reach its point. */
#define SOURCE_ARCHIVE_WAIT 120.0
/* A replica lagging more than this is not counted on (as for a backup's source). */
#define DRILL_SOURCE_MAX_LAG (16ULL * 1024 * 1024)

/* A session on member m as the replication role (its password from the secret file, never in argv). */
static PGconn *connect_member(const drill *d, const member *m, fl_err *err)
{
	char host[128], port[16], password[256];
	int p = 0;
	if (hostport_parse(m->conn_address, host, sizeof host, &p) < 0) {
		fl_fail(err, FL_ERR_ETCD, "member %s: connect address \"%s\" is not host:port", m->name,
			m->conn_address);
		return NULL;
	}
	if (secret_read("replication password", d->o->replication_password_file, password, sizeof password, err) < 0)
		return NULL;
	snprintf(port, sizeof port, "%d", p);
	const char *keys[] = {"host",    "port", "user", "dbname", "password", "connect_timeout", "application_name",
			      "options", NULL};
	const char *vals[] = {host,     port, d->o->replication_user, "postgres",
			      password, "10", "flotilla-drill",       "-c statement_timeout=600000",
			      NULL};
	PGconn *c = PQconnectdbParams(keys, vals, 0);
	explicit_bzero(password, sizeof password);
	if (PQstatus(c) != CONNECTION_OK) {
		char msg[512];
		snprintf(msg, sizeof msg, "%s", PQerrorMessage(c));
		msg[strcspn(msg, "\n")] = '\0';
		fl_fail(err, FL_ERR_POSTGRES, "cannot connect to %s (%s) as %s: %s", m->name, m->conn_address,
			d->o->replication_user, msg);
		PQfinish(c);
		return NULL;
	}
	return c;
}

/* One value of one query, into buf; -1 with the server's error. */
static int query_value(PGconn *c, const char *sql, char *buf, size_t len, fl_err *err)
{
	PGresult *r = PQexec(c, sql);
	if (PQresultStatus(r) != PGRES_TUPLES_OK || PQntuples(r) != 1 || PQgetisnull(r, 0, 0)) {
		char msg[512];
		snprintf(msg, sizeof msg, "%s", PQresultErrorMessage(r));
		msg[strcspn(msg, "\n")] = '\0';
		fl_fail(err, FL_ERR_POSTGRES, "%s: %s", sql, msg[0] ? msg : "no value");
		PQclear(r);
		return -1;
	}
	snprintf(buf, len, "%s", PQgetvalue(r, 0, 0));
	PQclear(r);
	return 0;
}

static const char grant_hint[] =
	"\nHINT: the drill counts drill.tables on a replica as the replication role: GRANT pg_read_all_data, and "
	"EXECUTE ON FUNCTION pg_wal_replay_pause(), pg_wal_replay_resume(), pg_switch_wal(), "
	"pg_create_restore_point(text) to it (clusters bootstrapped by flotilla-replicator have them)";

/*
 * A guard for the pause: a child in a session of its own (the sidecar ends a drill's whole process group) that
 * waits on a pipe. A byte says the drill resumed replay itself; the pipe closing without one (the drill killed,
 * crashed, timed out) makes it resume replay on the replica.
 */
static pid_t guard_start(const drill *d, const member *m, int *wfd)
{
	int p[2];
	if (pipe2(p, O_CLOEXEC) < 0)
		return -1;
	pid_t pid = fork();
	if (pid < 0) {
		close(p[0]);
		close(p[1]);
		return -1;
	}
	if (pid == 0) {
		setsid();
		close(p[1]);
		char b;
		ssize_t r;
		while ((r = read(p[0], &b, 1)) < 0 && errno == EINTR)
			;
		if (r == 1)
			_exit(0);
		fl_err err = {0};
		PGconn *c = connect_member(d, m, &err);
		PGresult *res = c ? PQexec(c, "SELECT pg_wal_replay_resume()") : NULL;
		bool ok = res && PQresultStatus(res) == PGRES_TUPLES_OK;
		if (ok)
			log_warn("drill: ended while replay on %s was paused; replay resumed", m->name);
		else
			log_error("drill: ended while replay on %s was paused, and it could not be resumed: %s; run "
				  "SELECT pg_wal_replay_resume() there",
				  m->name, c ? PQerrorMessage(c) : err.msg);
		PQclear(res);
		PQfinish(c);
		_exit(ok ? 0 : 1);
	}
	close(p[0]);
	*wfd = p[1];
	return pid;
}

static void guard_stop(pid_t pid, int wfd)
{
	if (pid <= 0)
		return;
	ssize_t w;
	while ((w = write(wfd, "d", 1)) < 0 && errno == EINTR)
		;
	close(wfd);
	while (waitpid(pid, NULL, 0) < 0 && errno == EINTR)
		;
}

/* Seconds replay on the replica may stay paused for the count: each count is cut at what is left of it. */
#define SOURCE_PAUSE_MAX 60.0
/* Seconds the source phase waits for the replica to have replayed past the backup's end. */
#define SOURCE_CATCHUP_MAX 30.0

/*
 * On a replica: replay paused (a guard resumes it should this process die), its replay point read, the tables
 * counted within SOURCE_PAUSE_MAX, replay resumed. The copy recovered to that point (stopping before the record
 * that begins there) sees exactly what the replica saw. The point must be past the backup's end: a replica
 * behind it is given time to catch up.
 */
static int count_at_point(drill *d, PGconn *c, const member *m, fl_err *err)
{
	char v[64];
	double catchup_until = clock_mono() + SOURCE_CATCHUP_MAX;
	for (;;) {
		int wfd = -1;
		pid_t guard = guard_start(d, m, &wfd);
		if (guard < 0)
			return fl_fail(err, FL_ERR_INTERNAL, "cannot start the guard of the pause: %s",
				       strerror(errno));
		double paused_at = clock_mono();
		int rc = query_value(c, "SELECT pg_wal_replay_pause()::text", v, sizeof v, err);
		while (rc == 0 &&
		       (rc = query_value(c, "SELECT pg_get_wal_replay_pause_state()", v, sizeof v, err)) == 0 &&
		       strcmp(v, "paused") != 0) {
			if (clock_mono() - paused_at > 10) {
				rc = fl_fail(err, FL_ERR_TIMEOUT, "replay on %s did not pause within 10 s",
					     d->source_node);
				break;
			}
			clock_sleep(0.01);
		}
		if (rc == 0)
			rc = query_value(c, "SELECT pg_last_wal_replay_lsn()", v, sizeof v, err);
		if (rc == 0 && lsn_parse(v, &d->source_lsn) < 0)
			rc = fl_fail(err, FL_ERR_POSTGRES, "%s answered a replay point \"%s\"", d->source_node, v);
		bool behind = rc == 0 && d->source_lsn < d->restored.backup.stop_lsn;
		for (int i = 0; rc == 0 && !behind && i < d->o->drill_tables.n; i++) {
			double left = SOURCE_PAUSE_MAX - (clock_mono() - paused_at);
			char sql[64];
			snprintf(sql, sizeof sql, "SET statement_timeout = %ld",
				 left > 1 ? (long)(left * 1000) : 1000L);
			PQclear(PQexec(c, sql));
			rc = count_table(c, d->o->drill_tables.v[i], &d->source_counts[i], err);
			if (rc < 0 && strstr(err->msg, "statement timeout") != NULL)
				rc = fl_fail(
					err, FL_ERR_TIMEOUT,
					"counting drill.tables on %s took more than %.0f s, the longest its replay may "
					"stay paused",
					d->source_node, SOURCE_PAUSE_MAX);
		}
		PQclear(PQexec(c, "SET statement_timeout = 0"));
		char ignored[16];
		fl_err rerr = {0};
		if (query_value(c, "SELECT pg_wal_replay_resume()::text", ignored, sizeof ignored, &rerr) == 0) {
			guard_stop(guard, wfd);
		} else {
			log_error("drill: replay on %s could not be resumed here (%s); its guard resumes it",
				  d->source_node, rerr.msg);
			close(wfd); /* the pipe closing without a byte: the guard resumes replay */
			while (waitpid(guard, NULL, 0) < 0 && errno == EINTR)
				;
		}
		if (rc < 0 || !behind)
			return rc;
		if (clock_mono() > catchup_until) {
			char at[32], stop[32];
			lsn_format(d->source_lsn, at, sizeof at);
			lsn_format(d->restored.backup.stop_lsn, stop, sizeof stop);
			return fl_fail(err, FL_ERR_TIMEOUT,
				       "%s replayed only to %s, before the end of backup %s (%s), for %.0f s",
				       d->source_node, at, d->restored.backup.label, stop, SOURCE_CATCHUP_MAX);
		}
		clock_sleep(0.5);
	}
}

/* Appends the point to the restored copy's recovery settings: it stops there, then promotes. */
static int set_recovery_point(drill *d, fl_err *err)
{
	char path[PATH_MAX + 32], at[32];
	snprintf(path, sizeof path, "%s/postgresql.auto.conf", d->data);
	lsn_format(d->source_lsn, at, sizeof at);
	FILE *f = fopen(path, "a");
	if (f == NULL ||
	    fprintf(f,
		    "# Set by the drill: the point drill.tables were counted at on %s.\n"
		    "recovery_target_lsn = '%s'\nrecovery_target_inclusive = 'off'\n",
		    d->source_node, at) < 0 ||
	    fclose(f) != 0)
		return fl_fail(err, FL_ERR_IO, "cannot write %s: %s", path, strerror(errno));
	return 0;
}

static int do_source(drill *d, fl_err *err)
{
	if (d->source_counts == NULL)
		return fl_fail(err, FL_ERR_INTERNAL, "out of memory");
	char root[256];
	if (keys_root(d->o->etcd_prefix, d->o->scope, root, sizeof root) < 0)
		return fl_fail(err, FL_ERR_CONFIG, "etcd.prefix and scope make no key root");
	etcd_security sec = CLUSTER_ETCD_SECURITY(d->o);
	etcd *e = etcd_new(d->o->etcd_endpoints.v, d->o->etcd_endpoints.n, &sec, err);
	if (e == NULL)
		return -1;
	etcd_kvs kvs = {0};
	cluster_view *v = calloc(1, sizeof *v);
	int rc = v == NULL ? fl_fail(err, FL_ERR_INTERNAL, "out of memory") : etcd_get_prefix(e, root, &kvs, err);
	etcd_free(e);
	const member *m = NULL, *leader = NULL;
	const char *why = NULL;
	if (rc == 0) {
		fl_err perr = {0};
		if (cluster_parse(&kvs, root, v, &perr) < 0)
			log_warn("drill: %s", perr.msg);
		if (source_pick(v, DRILL_SOURCE_MAX_LAG, &m, &why) < 0)
			rc = fl_fail(err, FL_ERR_CONFLICT, "no member to count drill.tables on: %s", why);
		leader = v->has_leader ? cluster_member(v, v->leader) : NULL;
	}
	etcd_kvs_free(&kvs);
	if (rc == 0 && strcmp(m->role, "primary") == 0) {
		/* A leader cannot be held at one point: the tables are counted on the copy only. */
		log_warn("drill: no streaming replica to count drill.tables on at one point; they are counted on the "
			 "copy "
			 "only");
		json_object_set_new(d->report, "source",
				    json_pack("{s:s}", "error", "no streaming replica: counts not compared"));
		free(v);
		return 0;
	}
	PGconn *c = NULL;
	if (rc == 0) {
		snprintf(d->source_node, sizeof d->source_node, "%s", m->name);
		c = connect_member(d, m, err);
		rc = c == NULL ? -1 : count_at_point(d, c, m, err);
		if (rc < 0 && strstr(err->msg, "permission denied") != NULL)
			snprintf(err->msg + strlen(err->msg), sizeof err->msg - strlen(err->msg), "%s", grant_hint);
	}
	PQfinish(c);
	/*
	 * The point must reach the archive with a record after it (recovery stops before the first record at or past
	 * it): a restore point written on the leader, then a segment switch; else archive_timeout brings the WAL.
	 */
	uint64_t seg = d->restored.backup.wal_seg_size;
	uint64_t need = wal_segno(d->source_lsn, seg);
	fl_err lerr = {0};
	if (rc == 0 && leader != NULL && (c = connect_member(d, leader, &lerr)) != NULL) {
		char ignored[64], sw[64];
		uint64_t switched = 0;
		if (query_value(c, "SELECT pg_create_restore_point('flotilla-drill')::text", ignored, sizeof ignored,
				&lerr) < 0 ||
		    query_value(c, "SELECT pg_switch_wal()", sw, sizeof sw, &lerr) < 0 || lsn_parse(sw, &switched) < 0)
			log_warn("drill: no restore point and segment switch on %s (%s); waiting for archive_timeout",
				 leader->name, lerr.msg);
		else if (switched > 0 && wal_segno(switched - 1, seg) > need)
			need = wal_segno(switched - 1, seg);
		PQfinish(c);
	} else if (rc == 0) {
		log_warn("drill: no leader to switch the WAL segment on (%s); waiting for archive_timeout",
			 lerr.msg[0] ? lerr.msg : "none");
	}
	free(v);
	if (rc < 0)
		return -1;
	double until = clock_mono() + SOURCE_ARCHIVE_WAIT;
	repo_wal_stats st;
	while (repo_wal_stats_read(&d->repo, seg, &st, err) == 0 && !(st.newest[0] && st.newest_segno >= need)) {
		if (clock_mono() > until) {
			char at[32];
			lsn_format(d->source_lsn, at, sizeof at);
			return fl_fail(
				err, FL_ERR_TIMEOUT,
				"the archive did not reach %s (where drill.tables were counted on %s) within %.0f s; "
				"its newest segment is %s",
				at, d->source_node, SOURCE_ARCHIVE_WAIT, st.newest[0] ? st.newest : "none");
		}
		clock_sleep(0.2);
	}
	if (err->msg[0] != '\0')
		return -1;
	char at[32];
	lsn_format(d->source_lsn, at, sizeof at);
	json_t *counts = json_object();
	for (int i = 0; i < d->o->drill_tables.n; i++)
		json_object_set_new(counts, d->o->drill_tables.v[i], json_integer(d->source_counts[i]));
	json_object_set_new(d->report, "source",
			    json_pack("{s:s, s:s, s:s, s:o}", "node", d->source_node, "role", "replica", "lsn", at,
				      "row_counts", counts));
	log_info("drill: drill.tables counted on %s at %s; the copy recovers to that point", d->source_node, at);
	d->have_source = true;
	return set_recovery_point(d, err);
}

/* ---- cleanup and report ---- */

static void cleanup(drill *d)
{
	PQfinish(d->conn);
	d->conn = NULL;
	if (d->started) {
		char prog[PATH_MAX], out[1024];
		snprintf(prog, sizeof prog, "%s/pg_ctl", d->o->bin_dir);
		char *argv[] = {prog, "stop", "--pgdata", d->data, "--mode", "immediate", "--wait", NULL};
		run_capture(argv, out, sizeof out);
	}
	if (remove_tree(d->top) < 0)
		log_warn("drill: could not remove the scratch directory %s", d->top);
}

static int write_report(drill *d, const char *path, char *written, size_t len)
{
	char dir[PATH_MAX], file[PATH_MAX + 64], tmp[PATH_MAX + 80];
	snprintf(dir, sizeof dir, "%s/drills", d->repo.path);
	mkdir(dir, 0750);
	char stamp[32];
	time_t t = (time_t)d->t0;
	struct tm tm;
	gmtime_r(&t, &tm);
	strftime(stamp, sizeof stamp, "%Y%m%dT%H%M%SZ", &tm);
	snprintf(file, sizeof file, "%s/%s.json", dir, stamp);
	if (path != NULL)
		snprintf(file, sizeof file, "%s", path);
	char *text = json_dumps(d->report, JSON_INDENT(2) | JSON_SORT_KEYS);
	if (text == NULL)
		return -1;
	int rc = 0;
	const char *targets[] = {file, NULL};
	char latest[PATH_MAX + 32];
	snprintf(latest, sizeof latest, "%s/latest.json", dir);
	targets[1] = latest;
	for (int i = 0; i < 2; i++) {
		snprintf(tmp, sizeof tmp, "%s.tmp", targets[i]);
		FILE *f = fopen(tmp, "w");
		if (f == NULL || fprintf(f, "%s\n", text) < 0 || fflush(f) != 0 || fsync(fileno(f)) != 0) {
			if (f)
				fclose(f);
			rc = -1;
			continue;
		}
		fclose(f);
		if (rename(tmp, targets[i]) < 0)
			rc = -1;
	}
	free(text);
	snprintf(written, len, "%s", file);
	return rc;
}

/* ---- verify ---- */

static void verify_usage(FILE *f)
{
	fprintf(f, "usage: flotilla-backup verify [--config FILE] [--backup LABEL]\n"
		   "Checks every backup (or LABEL) without starting it: its files against its manifest and\n"
		   "the WAL its own consistency needs (pg_verifybackup, pg_waldump), then the archive's\n"
		   "WAL from its end to the newest segment along the newest timeline (a gap is named).\n"
		   "One line a backup; exit 0 when every one is whole, 11 otherwise.\n");
}

int verify_main(int argc, char **argv)
{
	log_setup("backup", getenv("FLOTILLA_BACKUP_NAME"));
	const char *config = NULL, *label = NULL;
	static const struct option longs[] = {{"config", required_argument, NULL, 'c'},
					      {"backup", required_argument, NULL, 'b'},
					      {"help", no_argument, NULL, 'h'},
					      {NULL, 0, NULL, 0}};
	optind = 1;
	int c;
	while ((c = getopt_long(argc, argv, "", longs, NULL)) != -1) {
		if (c == 'c')
			config = optarg;
		else if (c == 'b')
			label = optarg;
		else {
			verify_usage(c == 'h' ? stdout : stderr);
			return c == 'h' ? 0 : FL_ERR_USAGE;
		}
	}
	backup_options o;
	fl_err err = {0};
	if (optind != argc || backup_options_load(&o, config, &err) < 0) {
		if (optind != argc)
			verify_usage(stderr);
		else
			log_error("%s", err.msg);
		backup_options_free(&o);
		return optind != argc ? FL_ERR_USAGE : err.code;
	}
	log_setup("backup", o.name);
	repo r;
	backup_record *list = NULL;
	int n = 0;
	if (repo_open(&r, o.repo, false, &err) < 0 || repo_backups_list(&r, &list, &n, &err) < 0) {
		log_error("verify: %s", err.msg);
		backup_options_free(&o);
		return err.code;
	}
	int checked = 0, bad = 0;
	for (int i = 0; i < n; i++) {
		if (label != NULL && strcmp(label, list[i].label) != 0)
			continue;
		drill d = {.o = &o,
			   .repo = r,
			   .label = list[i].label,
			   .t0 = clock_wall(),
			   .parse_wal = true,
			   .what = "verify"};
		snprintf(d.top, sizeof d.top, "%s/.verify", o.repo);
		snprintf(d.data, sizeof d.data, "%s/data", d.top);
		snprintf(d.sock, sizeof d.sock, "%s/sock", d.top);
		d.report = json_object();
		d.phases = json_array();
		json_object_set_new(d.report, "phases", d.phases);
		double t0 = clock_mono();
		bool ok =
			phase(&d, "restore", do_restore) && phase(&d, "verify", do_verify) && phase(&d, "wal", do_wal);
		const char *why = "";
		size_t k;
		json_t *p;
		json_array_foreach(d.phases, k, p) if (!json_is_true(json_object_get(p, "ok"))) why =
			json_string_value(json_object_get(p, "error"));
		char start[32], stop[32];
		lsn_format(list[i].start_lsn, start, sizeof start);
		lsn_format(list[i].stop_lsn, stop, sizeof stop);
		if (ok)
			printf("%s  ok: %.1f MB of data match the manifest, WAL %s to %s whole, the archive whole "
			       "through %s "
			       "(%.1f s)\n",
			       list[i].label, list[i].data_size / 1048576.0, start, stop, d.archive_newest,
			       clock_mono() - t0);
		else
			printf("%s  FAILED: %s\n", list[i].label, why);
		fflush(stdout);
		remove_tree(d.top);
		json_decref(d.report);
		checked++;
		bad += !ok;
	}
	free(list);
	backup_options_free(&o);
	if (label != NULL && checked == 0) {
		log_error("verify: no backup is labelled \"%s\"", label);
		return FL_ERR_NOT_FOUND;
	}
	if (checked == 0)
		log_warn("verify: the repository holds no backup");
	return bad ? FL_ERR_CONFLICT : 0;
}

static void usage(FILE *f)
{
	fprintf(f, "usage: flotilla-backup drill [--config FILE] [--backup LABEL] [--report FILE]\n"
		   "Restores the newest backup (or LABEL) into drill.dir, checks it against its manifest and\n"
		   "the archive, starts it on drill.port, lets it replay to the end of the archive, runs\n"
		   "pg_amcheck, drill.checks and counts drill.tables, writes the JSON report (REPO/drills/\n"
		   "and latest.json, or FILE) and removes the copy. Exit 0 when every phase passed.\n");
}

int drill_main(int argc, char **argv)
{
	log_setup("backup", getenv("FLOTILLA_BACKUP_NAME"));
	const char *config = NULL, *label = NULL, *report_path = NULL;
	static const struct option longs[] = {{"config", required_argument, NULL, 'c'},
					      {"backup", required_argument, NULL, 'b'},
					      {"report", required_argument, NULL, 'r'},
					      {"help", no_argument, NULL, 'h'},
					      {NULL, 0, NULL, 0}};
	optind = 1;
	int c;
	while ((c = getopt_long(argc, argv, "", longs, NULL)) != -1) {
		switch (c) {
		case 'c':
			config = optarg;
			break;
		case 'b':
			label = optarg;
			break;
		case 'r':
			report_path = optarg;
			break;
		case 'h':
			usage(stdout);
			return 0;
		default:
			usage(stderr);
			return FL_ERR_USAGE;
		}
	}
	if (optind != argc) {
		usage(stderr);
		return FL_ERR_USAGE;
	}
	backup_options o;
	fl_err err = {0};
	if (backup_options_load(&o, config, &err) < 0) {
		log_error("%s", err.msg);
		backup_options_free(&o);
		return err.code;
	}
	log_level lvl;
	if (log_level_parse(o.log_level, &lvl) == 0)
		log_threshold = lvl;
	log_setup("backup", o.name);
	drill d = {.o = &o, .label = label, .t0 = clock_wall(), .what = "drill"};
	if (repo_open(&d.repo, o.repo, false, &err) < 0) {
		log_error("drill failed: %s", err.msg);
		backup_options_free(&o);
		return err.code;
	}
	if (o.drill_dir[0])
		snprintf(d.top, sizeof d.top, "%s/flotilla-drill", o.drill_dir);
	else
		snprintf(d.top, sizeof d.top, "%s/.drill", o.repo);
	snprintf(d.data, sizeof d.data, "%s/data", d.top);
	snprintf(d.sock, sizeof d.sock, "%s/sock", d.top);
	snprintf(d.pglog, sizeof d.pglog, "%s/postgresql.log", d.top);
	d.report = json_object();
	d.phases = json_array();
	char started[32];
	time_t t = (time_t)d.t0;
	struct tm tm;
	gmtime_r(&t, &tm);
	strftime(started, sizeof started, "%Y-%m-%dT%H:%M:%SZ", &tm);
	json_object_set_new(d.report, "started", json_string(started));
	json_object_set_new(d.report, "started_time", json_real(d.t0));
	json_object_set_new(d.report, "phases", d.phases);
	phase(&d, "restore", do_restore);
	phase(&d, "verify", do_verify);
	if (o.drill_tables.n > 0) {
		d.source_counts = calloc((size_t)o.drill_tables.n, sizeof *d.source_counts);
		phase(&d, "source", do_source);
	}
	phase(&d, "wal", do_wal);
	phase(&d, "start", do_start);
	phase(&d, "recovery", do_recovery);
	phase(&d, "amcheck", do_amcheck);
	phase(&d, "checks", do_checks);
	phase(&d, "row_counts", do_counts);
	/* The log of a failed start or recovery is worth keeping beside the report. */
	if (d.failed && d.started) {
		char dir[PATH_MAX + 16], keep[PATH_MAX + 48];
		snprintf(dir, sizeof dir, "%s/drills", o.repo);
		snprintf(keep, sizeof keep, "%s/last-failed-postgresql.log", dir);
		mkdir(dir, 0750);
		if (rename(d.pglog, keep) == 0)
			log_info("drill: the restored copy's log is kept in %s", keep);
	}
	cleanup(&d);
	double total = clock_wall() - d.t0;
	json_object_set_new(d.report, "seconds", json_real(total));
	json_object_set_new(d.report, "verdict", json_string(d.failed ? "fail" : "pass"));
	const char *failed_phase = NULL, *failed_error = NULL;
	size_t i;
	json_t *p;
	json_array_foreach(d.phases, i, p) if (!json_is_true(json_object_get(p, "ok")))
	{
		failed_phase = json_string_value(json_object_get(p, "name"));
		failed_error = json_string_value(json_object_get(p, "error"));
	}
	char written[PATH_MAX + 64] = "";
	int wrc = write_report(&d, report_path, written, sizeof written);
	if (d.failed)
		log_error("drill FAILED in phase %s: %s (report %s)", failed_phase ? failed_phase : "?",
			  failed_error ? failed_error : "", written);
	else
		log_info(
			"drill passed: backup %s restored and checked in %.1f s (RTO %.1f s, target %.0f s); report %s",
			d.restored.backup.label, total, d.rto, o.drill_rto_target, written);
	if (wrc < 0)
		log_error("drill: the report could not be written to %s", written);
	json_decref(d.report);
	free(d.source_counts);
	backup_options_free(&o);
	return d.failed ? FL_ERR_CONFLICT : wrc < 0 ? FL_ERR_IO : 0;
}
