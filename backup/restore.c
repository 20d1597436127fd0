/*
 * restore: a base backup laid into a new data directory; see restore.h.
 */
#include "restore.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "cluster/lsn.h"
#include "common/clock.h"
#include "common/log.h"
#include "common/proc.h"
#include "common/timeparse.h"
#include "crypt.h"
#include "pg/recovery_conf.h"
#include "repo.h"

static bool dir_usable(const char *path, fl_err *err)
{
	DIR *d = opendir(path);
	if (d == NULL) {
		if (errno == ENOENT)
			return true;
		fl_fail(err, FL_ERR_DATADIR, "target %s: %s", path, strerror(errno));
		return false;
	}
	struct dirent *e;
	bool empty = true;
	while ((e = readdir(d)) != NULL)
		if (strcmp(e->d_name, ".") != 0 && strcmp(e->d_name, "..") != 0)
			empty = false;
	closedir(d);
	if (!empty)
		fl_fail(err, FL_ERR_DATADIR,
			"target %s is not empty: a restore never writes over a data directory\nHINT: give a new or "
			"empty directory",
			path);
	return empty;
}

/* Seconds between two progress lines of an unpacking. */
#define PROGRESS_EVERY 5.0

/* A backup file read through stdio, its progress logged every PROGRESS_EVERY seconds (fopencookie). */
typedef struct progress_in {
	FILE *f;
	const char *name;
	uint64_t done, total;
	double t0, logged;
} progress_in;

static ssize_t progress_read(void *cookie, char *buf, size_t n)
{
	progress_in *p = cookie;
	size_t r = fread(buf, 1, n, p->f);
	p->done += r;
	double now = clock_mono();
	if (now - p->logged >= PROGRESS_EVERY) {
		double mb = p->done / 1048576.0;
		log_info("restore: %s: %.1f of %.1f MB (%.0f%%), %.1f MB/s", p->name, mb, p->total / 1048576.0,
			 p->total ? 100.0 * p->done / p->total : 100.0, mb / (now - p->t0 > 0 ? now - p->t0 : 1));
		p->logged = now;
	}
	return r == 0 && ferror(p->f) ? -1 : (ssize_t)r;
}

static int progress_close(void *cookie) { return fclose(((progress_in *)cookie)->f); }

/* Feeds file, decrypted with key, into tar's standard input (tar runs as a child reading the pipe), its progress
 * logged. */
static int untar_stream(const crypt_key *key, const char *file, uint64_t size, char *const argv[], fl_err *err)
{
	int fds[2];
	if (pipe(fds) < 0)
		return fl_fail(err, FL_ERR_IO, "pipe: %s", strerror(errno));
	pid_t pid = fork();
	if (pid < 0) {
		close(fds[0]);
		close(fds[1]);
		return fl_fail(err, FL_ERR_IO, "cannot fork for tar: %s", strerror(errno));
	}
	if (pid == 0) {
		dup2(fds[0], 0);
		close(fds[0]);
		close(fds[1]);
		execvp(argv[0], argv);
		_exit(127);
	}
	close(fds[0]);
	const char *base = strrchr(file, '/');
	double now = clock_mono();
	progress_in p = {
		.f = fopen(file, "rb"), .name = base ? base + 1 : file, .total = size, .t0 = now, .logged = now};
	FILE *in = p.f ? fopencookie(&p, "rb", (cookie_io_functions_t){.read = progress_read, .close = progress_close})
		       : NULL;
	FILE *out = fdopen(fds[1], "wb");
	int rc = 0;
	if (in == NULL) {
		rc = fl_fail(err, FL_ERR_IO, "cannot open %s: %s", file, strerror(errno));
	} else if (out == NULL) {
		rc = fl_fail(err, FL_ERR_IO, "fdopen: %s", strerror(errno));
	} else {
		rc = crypt_decrypt_stream(key, in, out, file, err);
	}
	if (in)
		fclose(in);
	else if (p.f)
		fclose(p.f);
	if (out)
		fclose(out);
	else
		close(fds[1]);
	int st = 0;
	while (waitpid(pid, &st, 0) < 0 && errno == EINTR)
		;
	if (rc == 0 && !(WIFEXITED(st) && WEXITSTATUS(st) == 0))
		rc = fl_fail(err, FL_ERR_IO, "tar failed on the decrypted %s", file);
	return rc;
}

/* Runs tar on its file; every PROGRESS_EVERY seconds logs what dir holds so far (of about total bytes, 0: unknown). */
static int untar_file(const char *file, char *const argv[], const char *dir, uint64_t total, fl_err *err)
{
	pid_t pid = fork();
	if (pid < 0)
		return fl_fail(err, FL_ERR_IO, "cannot fork for tar: %s", strerror(errno));
	if (pid == 0) {
		execvp(argv[0], argv);
		fprintf(stderr, "cannot execute %s: %s\n", argv[0], strerror(errno));
		_exit(127);
	}
	const char *base = strrchr(file, '/');
	uint64_t before = repo_tree_size(dir);
	double t0 = clock_mono(), logged = t0;
	int st = 0;
	for (;;) {
		pid_t r = waitpid(pid, &st, WNOHANG);
		if (r == pid)
			break;
		if (r < 0 && errno != EINTR)
			return fl_fail(err, FL_ERR_IO, "waiting for tar: %s", strerror(errno));
		clock_sleep(0.02);
		double now = clock_mono();
		if (now - logged >= PROGRESS_EVERY) {
			uint64_t done = repo_tree_size(dir);
			done = done > before ? done - before : 0;
			double mb = done / 1048576.0;
			if (total > 0)
				log_info("restore: %s: %.1f of %.1f MB unpacked (%.0f%%), %.1f MB/s",
					 base ? base + 1 : file, mb, total / 1048576.0, 100.0 * done / total,
					 mb / (now - t0));
			else
				log_info("restore: %s: %.1f MB unpacked, %.1f MB/s", base ? base + 1 : file, mb,
					 mb / (now - t0));
			logged = now;
		}
	}
	if (WIFEXITED(st) && WEXITSTATUS(st) == 0)
		return 0;
	return fl_fail(err, FL_ERR_IO, "tar failed on %s (%s %d)", file, WIFEXITED(st) ? "exit status" : "signal",
		       WIFEXITED(st) ? WEXITSTATUS(st) : WTERMSIG(st));
}

/* Unpacks one tar of the backup (compressed as the backup says, decrypted with key when it is encrypted) into dir. */
static int untar(const backup_record *b, const crypt_key *key, const char *backup_dir, const char *base,
		 const char *dir, fl_err *err)
{
	const char *ext = strcmp(b->compression, "zstd") == 0   ? ".zst"
			  : strcmp(b->compression, "gzip") == 0 ? ".gz"
								: "";
	char file[PATH_MAX + 64];
	snprintf(file, sizeof file, "%s/%s%s%s", backup_dir, base, ext, b->encrypted ? ".enc" : "");
	struct stat st;
	if (stat(file, &st) < 0)
		return fl_fail(err, FL_ERR_NOT_FOUND, "backup %s: %s is missing: %s", b->label, file, strerror(errno));
	const char *flag = ext[0] == '\0' ? NULL : strcmp(ext, ".zst") == 0 ? "--zstd" : "--gzip";
	double t0 = clock_mono();
	char *argv[10];
	int n = 0;
	argv[n++] = "tar";
	argv[n++] = "--extract";
	argv[n++] = "--no-same-owner";
	if (flag)
		argv[n++] = (char *)flag;
	argv[n++] = "--file";
	argv[n++] = b->encrypted ? "-" : file;
	argv[n++] = "--directory";
	argv[n++] = (char *)dir;
	argv[n] = NULL;
	uint64_t total = strcmp(base, "base.tar") == 0 ? b->data_size : 0;
	if ((b->encrypted ? untar_stream(key, file, (uint64_t)st.st_size, argv, err)
			  : untar_file(file, argv, dir, total, err)) < 0) {
		fl_err_prefix(err, "backup %s: unpacking %s", b->label, file);
		return -1;
	}
	double s = clock_mono() - t0;
	log_info("restore: unpacked %s (%.1f MB) in %.1f s, %.1f MB/s", file, st.st_size / 1048576.0, s,
		 st.st_size / 1048576.0 / (s > 0 ? s : 1));
	return 0;
}

/* A setting's value between single quotes, as postgresql.conf reads it. */
static void conf_line(FILE *f, const char *name, const char *value)
{
	fprintf(f, "%s = '", name);
	for (const char *c = value; *c; c++) {
		if (*c == '\'' || *c == '\\')
			fputc(*c, f);
		if (*c != '\n' && *c != '\r')
			fputc(*c, f);
	}
	fputs("'\n", f);
}

static int write_recovery(const restore_request *rq, const backup_record *b, fl_err *err)
{
	char path[PATH_MAX + 32], self[PATH_MAX], cmd[2 * PATH_MAX + 64];
	snprintf(path, sizeof path, "%s/postgresql.auto.conf", rq->target_dir);
	FILE *f = fopen(path, "a");
	if (f == NULL)
		return fl_fail(err, FL_ERR_IO, "cannot write %s: %s", path, strerror(errno));
	proc_self_dir(self, sizeof self);
	/* Paths holding a quote or a space cannot be one word of restore_command. */
	if (strpbrk(rq->repo, "'\" \\%") != NULL || strpbrk(self, "'\" \\%") != NULL) {
		fclose(f);
		return fl_fail(err, FL_ERR_CONFIG,
			       "the repository's path or this program's may not hold quotes, spaces, "
			       "backslashes or '%%'");
	}
	if (rq->key_file != NULL && strpbrk(rq->key_file, "'\" \\%") != NULL) {
		fclose(f);
		return fl_fail(err, FL_ERR_CONFIG,
			       "the key file's path may not hold quotes, spaces, backslashes or '%%'");
	}
	if (rq->key_file != NULL)
		snprintf(cmd, sizeof cmd, "%s/flotilla-wal get --repo %s --key-file %s %%f %%p", self, rq->repo,
			 rq->key_file);
	else
		snprintf(cmd, sizeof cmd, "%s/flotilla-wal get --repo %s %%f %%p", self, rq->repo);
	fprintf(f, "\n%s of backup %s: recovery from the repository.\n", RESTORE_SETTINGS_BEGIN, b->label);
	conf_line(f, "restore_command", cmd);
	conf_line(f, "recovery_target_timeline", "latest");
	conf_line(f, "recovery_target_action", "promote");
	if (!rq->bootstrap) {
		/* A restored copy archives nothing until someone decides it is the cluster. */
		conf_line(f, "archive_mode", "off");
		conf_line(f, "primary_conninfo", "");
		conf_line(f, "primary_slot_name", "");
		conf_line(f, "synchronous_standby_names", "");
	}
	if (rq->target.kind == TARGET_TIME) {
		char when[64];
		time_t t = (time_t)rq->target.time;
		struct tm tm;
		gmtime_r(&t, &tm);
		int us = (int)((rq->target.time - (double)t) * 1e6 + 0.5);
		if (us >= 1000000)
			us = 999999;
		snprintf(when, sizeof when, "%04d-%02d-%02d %02d:%02d:%02d.%06d+00", tm.tm_year + 1900, tm.tm_mon + 1,
			 tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, us);
		conf_line(f, "recovery_target_time", when);
	} else if (rq->target.kind == TARGET_LSN) {
		char lsn[32];
		lsn_format(rq->target.lsn, lsn, sizeof lsn);
		conf_line(f, "recovery_target_lsn", lsn);
	}
	if (rq->port > 0) {
		char port[16];
		snprintf(port, sizeof port, "%d", rq->port);
		conf_line(f, "port", port);
	}
	if (rq->socket_dir != NULL) {
		conf_line(f, "unix_socket_directories", rq->socket_dir);
		conf_line(f, "listen_addresses", "");
	}
	fprintf(f, "%s\n", RESTORE_SETTINGS_END);
	if (fclose(f) != 0)
		return fl_fail(err, FL_ERR_IO, "cannot write %s: %s", path, strerror(errno));
	/* A backup of a replica may hold its standby.signal: this copy recovers, then promotes. */
	const char *signals[] = {"standby.signal", "recovery.signal"};
	for (int i = 0; i < 2; i++) {
		snprintf(path, sizeof path, "%s/%s", rq->target_dir, signals[i]);
		unlink(path);
	}
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (fd < 0)
		return fl_fail(err, FL_ERR_IO, "cannot create %s: %s", path, strerror(errno));
	close(fd);
	return 0;
}

int restore_run(const restore_request *rq, restore_result *out, fl_err *err)
{
	memset(out, 0, sizeof *out);
	double t0 = clock_mono();
	repo r;
	backup_record *list = NULL;
	int n = 0, pick = -1;
	if (repo_open(&r, rq->repo, false, err) < 0 || repo_backups_list(&r, &list, &n, err) < 0)
		return -1;
	if (catalog_pick(list, n, &rq->target, rq->label, &pick, err) < 0) {
		free(list);
		return -1;
	}
	out->backup = list[pick];
	free(list);
	const backup_record *b = &out->backup;
	crypt_key key;
	bool keyed = rq->key_file != NULL && rq->key_file[0] != '\0';
	if (b->encrypted && !keyed)
		return fl_fail(err, FL_ERR_SECRET,
			       "backup %s is encrypted: give the repository's passphrase (--key-file FILE, "
			       "secrets.encryption_key_file)",
			       b->label);
	if (keyed && crypt_key_open(rq->repo, rq->key_file, false, &key, err) < 0)
		return -1;
	if (!dir_usable(rq->target_dir, err)) {
		if (keyed)
			crypt_key_wipe(&key);
		return -1;
	}
	if (mkdir(rq->target_dir, 0700) < 0 && errno != EEXIST)
		return fl_fail(err, FL_ERR_DATADIR, "cannot make %s: %s", rq->target_dir, strerror(errno));
	chmod(rq->target_dir, 0700);
	char start[32], stop[32];
	lsn_format(b->start_lsn, start, sizeof start);
	lsn_format(b->stop_lsn, stop, sizeof stop);
	log_info("restore: backup %s (from %s, timeline %u, WAL %s to %s, %.1f MB of data) into %s", b->label,
		 b->source, b->timeline, start, stop, b->data_size / 1048576.0, rq->target_dir);
	char bdir[PATH_MAX], wal_dir[PATH_MAX + 16];
	repo_backup_dir(&r, b->label, bdir, sizeof bdir);
	snprintf(wal_dir, sizeof wal_dir, "%s/pg_wal", rq->target_dir);
	int rc = untar(b, keyed ? &key : NULL, bdir, "base.tar", rq->target_dir, err);
	if (rc == 0 && mkdir(wal_dir, 0700) < 0 && errno != EEXIST)
		rc = fl_fail(err, FL_ERR_DATADIR, "cannot make %s: %s", wal_dir, strerror(errno));
	if (rc == 0)
		rc = untar(b, keyed ? &key : NULL, bdir, "pg_wal.tar", wal_dir, err);
	if (keyed)
		crypt_key_wipe(&key);
	if (rc < 0 || write_recovery(rq, b, err) < 0)
		return -1;
	out->seconds = clock_mono() - t0;
	out->bytes = repo_tree_size(rq->target_dir);
	log_info("restore: backup %s laid into %s (%.1f MB) in %.1f s; PostgreSQL started on it replays the archived "
		 "WAL "
		 "and promotes",
		 b->label, rq->target_dir, out->bytes / 1048576.0, out->seconds);
	return 0;
}

static void usage(FILE *f)
{
	fprintf(f, "usage: flotilla-backup restore --repo DIR --target DIR [--backup LABEL]\n"
		   "                               [--time TIME | --lsn LSN] [--port N] [--socket-dir DIR]\n"
		   "                               [--key-file FILE] [--bootstrap]\n"
		   "Lays a base backup into a new (or empty) data directory, set to recover from the\n"
		   "repository's WAL: to its end (the default), to TIME (ISO 8601 with a time zone,\n"
		   "2026-12-06T10:00:00Z) or to LSN (0/3000060); the backup is the newest that ends\n"
		   "before the target, or LABEL. Start PostgreSQL on DIR to replay. --bootstrap: DIR\n"
		   "becomes a new cluster's first node (its agent runs this): only the recovery settings\n"
		   "are written, and the agent removes them once the copy is promoted.\n");
}

int restore_main(int argc, char **argv)
{
	log_setup("backup", getenv("FLOTILLA_BACKUP_NAME"));
	restore_request rq = {.target = {.kind = TARGET_LATEST}};
	static const struct option longs[] = {{"repo", required_argument, NULL, 'r'},
					      {"target", required_argument, NULL, 'd'},
					      {"backup", required_argument, NULL, 'b'},
					      {"time", required_argument, NULL, 't'},
					      {"lsn", required_argument, NULL, 'l'},
					      {"port", required_argument, NULL, 'p'},
					      {"socket-dir", required_argument, NULL, 's'},
					      {"key-file", required_argument, NULL, 'k'},
					      {"bootstrap", no_argument, NULL, 'B'},
					      {"help", no_argument, NULL, 'h'},
					      {NULL, 0, NULL, 0}};
	int c;
	optind = 1;
	while ((c = getopt_long(argc, argv, "", longs, NULL)) != -1) {
		char *end = NULL;
		long v = 0;
		switch (c) {
		case 'r':
			rq.repo = optarg;
			break;
		case 'B':
			rq.bootstrap = true;
			break;
		case 'd':
			rq.target_dir = optarg;
			break;
		case 'b':
			rq.label = optarg;
			break;
		case 't':
			if (rq.target.kind != TARGET_LATEST) {
				log_error("give one of --time and --lsn");
				return FL_ERR_USAGE;
			}
			switch (timeparse_iso8601(optarg, &rq.target.time)) {
			case TIME_OK:
				break;
			case TIME_NO_ZONE:
				log_error("--time \"%s\" has no time zone\nHINT: add Z or +HH:MM, as in "
					  "2026-12-06T10:00:00Z",
					  optarg);
				return FL_ERR_USAGE;
			default:
				log_error("--time \"%s\" is not an ISO 8601 time (2026-12-06T10:00:00Z)", optarg);
				return FL_ERR_USAGE;
			}
			rq.target.kind = TARGET_TIME;
			break;
		case 'l':
			if (rq.target.kind != TARGET_LATEST) {
				log_error("give one of --time and --lsn");
				return FL_ERR_USAGE;
			}
			if (lsn_parse(optarg, &rq.target.lsn) < 0) {
				log_error("--lsn \"%s\" is not an LSN (0/3000060)", optarg);
				return FL_ERR_USAGE;
			}
			rq.target.kind = TARGET_LSN;
			break;
		case 'p':
			v = strtol(optarg, &end, 10);
			if (end == optarg || *end != '\0' || v < 1 || v > 65535) {
				log_error("--port \"%s\" is not a port (1-65535)", optarg);
				return FL_ERR_USAGE;
			}
			rq.port = (int)v;
			break;
		case 's':
			rq.socket_dir = optarg;
			break;
		case 'k':
			rq.key_file = optarg;
			break;
		case 'h':
			usage(stdout);
			return 0;
		default:
			usage(stderr);
			return FL_ERR_USAGE;
		}
	}
	if (optind != argc || rq.repo == NULL || rq.target_dir == NULL) {
		if (optind != argc)
			log_error("unexpected argument \"%s\"", argv[optind]);
		else
			log_error("--repo and --target are required");
		usage(stderr);
		return FL_ERR_USAGE;
	}
	if (rq.target_dir[0] != '/' || rq.repo[0] != '/') {
		log_error("--repo and --target must be absolute paths");
		return FL_ERR_USAGE;
	}
	restore_result res;
	fl_err err = {0};
	if (restore_run(&rq, &res, &err) < 0) {
		log_error("%s", err.msg);
		return err.code ? (int)err.code : FL_ERR_INTERNAL;
	}
	printf("%s\n", res.backup.label);
	return 0;
}
