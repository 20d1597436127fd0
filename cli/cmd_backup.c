/*
 * cmd_backup: `flotilla backup now|list` and `flotilla restore`.
 *
 * backup talks to the backup sidecar's API: with --dir DIR, the one a
 * local cluster's cluster.json names (its port and token file); else
 * --url and --token-file, or FLOTILLA_BACKUP_URL and
 * FLOTILLA_BACKUP_TOKEN_FILE. `now` starts a base backup and, unless
 * --no-wait, shows its progress until it is complete or failed. restore
 * runs flotilla-backup restore (next to this program) on the repository
 * of --dir's cluster, or --repo.
 */
#include "cmd_backup.h"

#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <jansson.h>
#include <limits.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "cli/http.h"
#include "common/clock.h"
#include "common/http_client.h"
#include "common/proc.h"
#include "common/secret.h"

#define BACKUP_TIMEOUT 10.0

typedef struct sidecar_ref {
	char url[256];
	char token_file[PATH_MAX];
	char repo[PATH_MAX];
} sidecar_ref;

/* The sidecar of a local cluster: cluster.json's "backup". */
static int ref_from_dir(const char *dir, sidecar_ref *r, fl_err *err)
{
	char path[PATH_MAX + 32];
	snprintf(path, sizeof path, "%s/cluster.json", dir);
	json_error_t je;
	json_t *root = json_load_file(path, 0, &je);
	if (root == NULL)
		return fl_fail(err, FL_ERR_NOT_FOUND, "%s: %s", path, je.text);
	json_t *b = json_object_get(root, "backup");
	int port = 0;
	const char *token = NULL, *repo = NULL;
	int rc = 0;
	if (b == NULL)
		rc = fl_fail(err, FL_ERR_NOT_FOUND,
			     "%s has no backup sidecar\nHINT: start the cluster with flotilla local up --backup REPO",
			     path);
	else if (json_unpack_ex(b, &je, 0, "{s:i, s:s, s:s}", "api_port", &port, "token_file", &token, "repo", &repo) <
			 0 ||
		 port < 1 || port > 65535)
		rc = fl_fail(err, FL_ERR_CONFIG, "%s: backup: %s", path, b ? je.text : "");
	else {
		snprintf(r->url, sizeof r->url, "http://127.0.0.1:%d", port);
		snprintf(r->token_file, sizeof r->token_file, "%s", token);
		snprintf(r->repo, sizeof r->repo, "%s", repo);
	}
	json_decref(root);
	return rc;
}

static int ref_resolve(const char *dir, const char *url, const char *token_file, sidecar_ref *r, fl_err *err)
{
	memset(r, 0, sizeof *r);
	if (dir == NULL && url == NULL)
		dir = getenv("FLOTILLA_DIR");
	if (dir != NULL && url == NULL)
		return ref_from_dir(dir, r, err);
	url = url ? url : getenv("FLOTILLA_BACKUP_URL");
	token_file = token_file ? token_file : getenv("FLOTILLA_BACKUP_TOKEN_FILE");
	if (url == NULL || url[0] == '\0')
		return fl_fail(err, FL_ERR_USAGE,
			       "no backup sidecar named\nHINT: give --dir DIR (a local cluster) or --url URL "
			       "--token-file FILE (or FLOTILLA_BACKUP_URL and FLOTILLA_BACKUP_TOKEN_FILE)");
	const char *problem = http_base_url_problem(url);
	if (problem != NULL)
		return fl_fail(err, FL_ERR_USAGE, "--url %s %s", url, problem);
	snprintf(r->url, sizeof r->url, "%s", url);
	size_t n = strlen(r->url);
	if (n > 0 && r->url[n - 1] == '/')
		r->url[n - 1] = '\0';
	if (token_file == NULL || token_file[0] == '\0')
		return fl_fail(err, FL_ERR_USAGE,
			       "no token file\nHINT: give --token-file FILE or FLOTILLA_BACKUP_TOKEN_FILE");
	snprintf(r->token_file, sizeof r->token_file, "%s", token_file);
	return 0;
}

/* One call of the sidecar's API; a status other than want is an error naming it and the answer. */
static int api_call(const sidecar_ref *r, bool post, const char *path, int want, http_answer *a, fl_err *err)
{
	char token[256], url[512];
	if (secret_read("backup token", r->token_file, token, sizeof token, err) < 0)
		return -1;
	snprintf(url, sizeof url, "%s%s", r->url, path);
	int rc = post ? http_post(url, token, "", BACKUP_TIMEOUT, a, err)
		      : http_get_token(url, token, BACKUP_TIMEOUT, a, err);
	explicit_bzero(token, sizeof token);
	if (rc < 0) {
		fl_err_prefix(err, "%s", url);
		return -1;
	}
	if (a->status != want) {
		fl_code code = a->status == 409                       ? FL_ERR_CONFLICT
			       : a->status == 401 || a->status == 403 ? FL_ERR_SECRET
			       : a->status == 503                     ? FL_ERR_POSTGRES
								      : FL_ERR_IO;
		size_t n = a->body ? strlen(a->body) : 0;
		while (n > 0 && a->body[n - 1] == '\n')
			a->body[--n] = '\0';
		fl_fail(err, code, "%s %s answered %d: %s", post ? "POST" : "GET", url, a->status,
			a->body ? a->body : "");
		http_answer_clear(a);
		return -1;
	}
	return 0;
}

static void usage(FILE *f)
{
	fprintf(f, "Usage: flotilla backup now [--no-wait] [--json] [SIDECAR]\n"
		   "       flotilla backup list [--json] [SIDECAR]\n"
		   "       flotilla backup status [--json] [SIDECAR]\n"
		   "       flotilla backup verify [--backup LABEL] (--dir DIR | --config FILE)\n"
		   "SIDECAR: --dir DIR (a local cluster started with --backup), or --url URL --token-file FILE\n"
		   "(default: FLOTILLA_DIR, or FLOTILLA_BACKUP_URL and FLOTILLA_BACKUP_TOKEN_FILE).\n"
		   "now takes a base backup (from the most caught-up streaming replica, else the leader)\n"
		   "and waits until it is complete, showing its progress; list shows the complete ones;\n"
		   "status shows what the sidecar does (a backup or a drill under way, the last of each, the WAL\n"
		   "archive; --json: its GET /status);\n"
		   "verify checks every backup against its manifest and its WAL, and the archive's WAL after it\n"
		   "(on the repository's machine, with the sidecar's settings: exit 11 when one is not whole).\n");
}

static void fmt_time(double t, char *buf, size_t len)
{
	time_t s = (time_t)t;
	struct tm tm;
	gmtime_r(&s, &tm);
	strftime(buf, len, "%Y-%m-%d %H:%M:%S", &tm);
}

static const char *text_or(const json_t *v, const char *dflt)
{
	const char *t = json_string_value(v);
	return t && t[0] ? t : dflt;
}

/* GET /status: as JSON, or a few lines. */
static int status(const sidecar_ref *r, bool as_json, fl_err *err)
{
	http_answer a;
	if (api_call(r, false, "/status", 200, &a, err) < 0)
		return -1;
	json_t *st = json_loads(a.body, 0, NULL);
	if (st == NULL) {
		http_answer_clear(&a);
		return fl_fail(err, FL_ERR_CONFIG, "the sidecar's /status is not JSON");
	}
	if (as_json) {
		printf("%s\n", a.body);
	} else {
		json_t *run = json_object_get(st, "running"), *drill = json_object_get(st, "drill");
		char when[32] = "never";
		double last = json_number_value(json_object_get(st, "last_success_time"));
		if (last > 0)
			fmt_time(last, when, sizeof when);
		printf("backup running: %s\n",
		       json_is_object(run) ? text_or(json_object_get(run, "label"), "yes") : "no");
		printf("drill running:  %s\n", json_is_true(json_object_get(drill, "running")) ? "yes" : "no");
		printf("last backup:    %s (succeeded %s UTC)\n", text_or(json_object_get(st, "last_backup"), "none"),
		       when);
		printf("last archived:  %s\n", text_or(json_object_get(st, "wal_last_archived"), "none"));
	}
	json_decref(st);
	http_answer_clear(&a);
	return 0;
}

static int list(const sidecar_ref *r, bool as_json, fl_err *err)
{
	http_answer a;
	if (api_call(r, false, "/backups", 200, &a, err) < 0)
		return -1;
	json_error_t je;
	json_t *arr = json_loads(a.body, 0, &je);
	http_answer_clear(&a);
	if (!json_is_array(arr)) {
		json_decref(arr);
		return fl_fail(err, FL_ERR_CONFIG, "the sidecar's /backups is not a JSON list");
	}
	if (as_json) {
		char *text = json_dumps(arr, JSON_INDENT(2));
		printf("%s\n", text ? text : "[]");
		free(text);
		json_decref(arr);
		return 0;
	}
	printf("%-17s %-8s %-7s %3s %-12s %-12s %10s %8s  %s\n", "LABEL", "SOURCE", "ROLE", "TL", "START LSN",
	       "STOP LSN", "SIZE MB", "SECONDS", "COMPLETE (UTC)");
	size_t i;
	json_t *b;
	json_array_foreach(arr, i, b)
	{
		const char *label = "", *source = "", *role = "", *start = "", *stop = "";
		json_int_t tl = 0, size = 0;
		double t0 = 0, t1 = 0;
		if (json_unpack(b, "{s:s, s:s, s:s, s:I, s:s, s:s, s:I, s:F, s:F}", "label", &label, "source", &source,
				"source_role", &role, "timeline", &tl, "start_lsn", &start, "stop_lsn", &stop, "size",
				&size, "start_time", &t0, "stop_time", &t1) < 0)
			continue;
		char when[32];
		fmt_time(t1, when, sizeof when);
		printf("%-17s %-8s %-7s %3lld %-12s %-12s %10.1f %8.1f  %s\n", label, source, role, (long long)tl,
		       start, stop, size / 1048576.0, t1 - t0, when);
	}
	json_decref(arr);
	return 0;
}

/* Whether the list holds label. */
static int listed(const sidecar_ref *r, const char *label, bool *found, fl_err *err)
{
	http_answer a;
	if (api_call(r, false, "/backups", 200, &a, err) < 0)
		return -1;
	json_t *arr = json_loads(a.body, 0, NULL);
	http_answer_clear(&a);
	*found = false;
	size_t i;
	json_t *b;
	json_array_foreach(arr, i, b)
	{
		const char *l = json_string_value(json_object_get(b, "label"));
		if (l && strcmp(l, label) == 0)
			*found = true;
	}
	json_decref(arr);
	return 0;
}

static int now(const sidecar_ref *r, bool wait, bool as_json, fl_err *err)
{
	http_answer a;
	if (api_call(r, true, "/backups", 202, &a, err) < 0)
		return -1;
	json_t *j = json_loads(a.body, 0, NULL);
	http_answer_clear(&a);
	char label[64] = "", source[80] = "";
	const char *l = json_string_value(json_object_get(j, "label"));
	const char *s = json_string_value(json_object_get(j, "source"));
	snprintf(label, sizeof label, "%s", l ? l : "");
	snprintf(source, sizeof source, "%s", s ? s : "");
	json_decref(j);
	if (label[0] == '\0')
		return fl_fail(err, FL_ERR_CONFIG, "the sidecar started a backup but did not name it");
	fprintf(stderr, "backup %s started from %s\n", label, source);
	if (!wait) {
		printf("%s\n", label);
		return 0;
	}
	double t0 = clock_mono(), shown = 0;
	for (;;) {
		clock_sleep(0.1);
		if (api_call(r, false, "/status", 200, &a, err) < 0)
			return -1;
		json_t *st = json_loads(a.body, 0, NULL);
		http_answer_clear(&a);
		json_t *run = json_object_get(st, "running");
		const char *rl = json_string_value(json_object_get(run, "label"));
		bool running = rl != NULL && strcmp(rl, label) == 0;
		if (running && clock_mono() - shown >= 2) {
			double done = (double)json_integer_value(json_object_get(run, "bytes_done"));
			double total = (double)json_integer_value(json_object_get(run, "bytes_total"));
			double secs = clock_mono() - t0;
			fprintf(stderr, "backup %s: %.0f of %.0f MB (%d%%), %.1f MB/s\n", label, done / 1048576,
				total / 1048576, total > 0 ? (int)(100 * done / total) : 0,
				done / 1048576 / (secs > 0 ? secs : 1));
			shown = clock_mono();
		}
		char last_error[512];
		const char *le = json_string_value(json_object_get(st, "last_error"));
		snprintf(last_error, sizeof last_error, "%s", le ? le : "");
		json_decref(st);
		if (running)
			continue;
		bool found = false;
		if (listed(r, label, &found, err) < 0)
			return -1;
		if (!found)
			return fl_fail(err, FL_ERR_IO, "backup %s failed: %s", label,
				       last_error[0] ? last_error : "(see the sidecar's log)");
		break;
	}
	if (as_json)
		return list(r, true, err);
	printf("%s\n", label);
	fprintf(stderr, "backup %s complete in %.1f s\n", label, clock_mono() - t0);
	return 0;
}

/* flotilla-backup (next to this program) with argv[1..]; its exit code passed on as the error's. */
static int run_backup_program(char **argv, fl_err *err)
{
	char self[PATH_MAX];
	if (proc_self_dir(self, sizeof self - 16) < 0)
		return fl_fail(err, FL_ERR_IO, "cannot find this program's directory");
	strcat(self, "/flotilla-backup");
	argv[0] = self;
	fflush(stdout);
	pid_t pid = fork();
	if (pid < 0)
		return fl_fail(err, FL_ERR_IO, "fork: %s", strerror(errno));
	if (pid == 0) {
		execv(self, argv);
		fprintf(stderr, "cannot execute %s: %s\n", self, strerror(errno));
		_exit(FL_ERR_NOT_FOUND);
	}
	int st = 0;
	while (waitpid(pid, &st, 0) < 0)
		if (errno != EINTR)
			return fl_fail(err, FL_ERR_IO, "waitpid: %s", strerror(errno));
	if (WIFEXITED(st) && WEXITSTATUS(st) == 0)
		return 0;
	int code = WIFEXITED(st) ? WEXITSTATUS(st) : FL_ERR_INTERNAL;
	err->code = (fl_code)code;
	snprintf(err->msg, sizeof err->msg, "flotilla-backup %s exited %d", argv[1], code);
	return -1;
}

/* `flotilla backup verify`: flotilla-backup verify with the sidecar's settings (--dir's cluster, or --config). */
static int verify(const char *dir, const char *config, const char *label, fl_err *err)
{
	char conf[PATH_MAX] = "";
	if (config != NULL) {
		snprintf(conf, sizeof conf, "%s", config);
	} else {
		if (dir == NULL && (dir = getenv("FLOTILLA_DIR")) == NULL)
			return fl_fail(
				err, FL_ERR_USAGE,
				"backup verify: give --dir DIR (a local cluster) or --config FILE (the sidecar's "
				"settings)");
		char path[PATH_MAX + 32];
		snprintf(path, sizeof path, "%s/cluster.json", dir);
		json_t *root = json_load_file(path, 0, NULL);
		const char *c = json_string_value(json_object_get(json_object_get(root, "backup"), "config"));
		if (c != NULL)
			snprintf(conf, sizeof conf, "%s", c);
		json_decref(root);
		if (conf[0] == '\0')
			return fl_fail(err, FL_ERR_NOT_FOUND, "%s names no backup sidecar", path);
	}
	char *argv[] = {NULL, "verify", "--config", conf, label ? "--backup" : NULL, (char *)label, NULL};
	return run_backup_program(argv, err);
}

/* Starts a drill, waits for it and prints its report; a failed drill is an error naming its phase. */
static int drill(const sidecar_ref *r, bool wait, bool as_json, fl_err *err)
{
	http_answer a;
	if (api_call(r, true, "/drills", 202, &a, err) < 0)
		return -1;
	http_answer_clear(&a);
	fprintf(stderr, "drill started\n");
	if (!wait)
		return 0;
	double t0 = clock_mono();
	for (;;) {
		clock_sleep(0.2);
		if (api_call(r, false, "/status", 200, &a, err) < 0)
			return -1;
		json_t *st = json_loads(a.body, 0, NULL);
		http_answer_clear(&a);
		bool running = json_is_true(json_object_get(json_object_get(st, "drill"), "running"));
		json_decref(st);
		if (!running)
			break;
	}
	if (api_call(r, false, "/drills/latest", 200, &a, err) < 0)
		return -1;
	json_t *rep = json_loads(a.body, 0, NULL);
	http_answer_clear(&a);
	if (rep == NULL)
		return fl_fail(err, FL_ERR_CONFIG, "the sidecar's last drill report is not JSON");
	const char *verdict = json_string_value(json_object_get(rep, "verdict"));
	double started = json_number_value(json_object_get(rep, "started_time"));
	bool fresh = started >= clock_wall() - (clock_mono() - t0) - 5;
	if (!fresh) {
		/* The last report is an older drill's: this one failed before it could write one. */
	} else if (as_json) {
		char *text = json_dumps(rep, JSON_INDENT(2) | JSON_SORT_KEYS);
		printf("%s\n", text ? text : "{}");
		free(text);
	} else {
		size_t i;
		json_t *p;
		printf("drill of backup %s: %s\n",
		       json_string_value(json_object_get(rep, "backup"))
			       ? json_string_value(json_object_get(rep, "backup"))
			       : "?",
		       verdict ? verdict : "?");
		json_array_foreach(json_object_get(rep, "phases"), i, p)
		{
			const char *e = json_string_value(json_object_get(p, "error"));
			printf("  %-10s %6.1f s  %s%s%s\n", json_string_value(json_object_get(p, "name")),
			       json_number_value(json_object_get(p, "seconds")),
			       json_is_true(json_object_get(p, "ok")) ? "ok" : "FAILED", e ? ": " : "", e ? e : "");
		}
		if (json_object_get(rep, "rto_seconds"))
			printf("  RTO %.1f s (target %.0f s), recovery point %s, %.0f bytes before the end of the "
			       "archive\n",
			       json_number_value(json_object_get(rep, "rto_seconds")),
			       json_number_value(json_object_get(rep, "rto_target_seconds")),
			       json_string_value(json_object_get(json_object_get(rep, "recovery_point"), "lsn"))
				       ? json_string_value(
						 json_object_get(json_object_get(rep, "recovery_point"), "lsn"))
				       : "?",
			       json_number_value(json_object_get(rep, "rpo_bytes")));
	}
	bool pass = verdict && strcmp(verdict, "pass") == 0;
	json_decref(rep);
	if (!fresh) {
		char why[512] = "";
		if (api_call(r, false, "/status", 200, &a, err) == 0) {
			json_t *st = json_loads(a.body, 0, NULL);
			const char *e = json_string_value(json_object_get(st, "drill_last_error"));
			snprintf(why, sizeof why, "%s", e ? e : "");
			json_decref(st);
			http_answer_clear(&a);
		}
		return fl_fail(err, FL_ERR_IO, "the drill failed before it could write a report: %s",
			       why[0] ? why : "see the sidecar's log");
	}
	if (!pass)
		return fl_fail(err, FL_ERR_CONFLICT, "the drill failed");
	return 0;
}

int cmd_backup(int argc, char **argv, fl_err *err)
{
	static const struct option longs[] = {{"dir", required_argument, NULL, 'd'},
					      {"url", required_argument, NULL, 'u'},
					      {"token-file", required_argument, NULL, 't'},
					      {"no-wait", no_argument, NULL, 'n'},
					      {"json", no_argument, NULL, 'j'},
					      {"config", required_argument, NULL, 'c'},
					      {"backup", required_argument, NULL, 'b'},
					      {"help", no_argument, NULL, 'h'},
					      {NULL, 0, NULL, 0}};
	if (argc < 2 || strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0) {
		usage(argc < 2 ? stderr : stdout);
		return argc < 2 ? fl_fail(err, FL_ERR_USAGE, "backup: give a subcommand: now or list") : 0;
	}
	const char *sub = argv[1], *dir = NULL, *url = NULL, *token_file = NULL, *config = NULL, *label = NULL;
	bool wait = true, as_json = false;
	optind = 2;
	opterr = 0;
	int c;
	while ((c = getopt_long(argc, argv, ":h", longs, NULL)) != -1) {
		switch (c) {
		case 'd':
			dir = optarg;
			break;
		case 'u':
			url = optarg;
			break;
		case 't':
			token_file = optarg;
			break;
		case 'n':
			wait = false;
			break;
		case 'j':
			as_json = true;
			break;
		case 'c':
			config = optarg;
			break;
		case 'b':
			label = optarg;
			break;
		case 'h':
			usage(stdout);
			return 0;
		default:
			return fl_fail(err, FL_ERR_USAGE,
				       "backup %s: unknown option %s\nHINT: run flotilla backup --help", sub,
				       argv[optind - 1]);
		}
	}
	if (optind != argc)
		return fl_fail(err, FL_ERR_USAGE, "backup %s: unexpected argument \"%s\"", sub, argv[optind]);
	bool is_now = strcmp(sub, "now") == 0, is_list = strcmp(sub, "list") == 0, is_drill = strcmp(sub, "drill") == 0;
	bool is_status = strcmp(sub, "status") == 0;
	if (strcmp(sub, "verify") == 0)
		return verify(dir, config, label, err);
	if (!is_now && !is_list && !is_drill && !is_status)
		return fl_fail(err, FL_ERR_USAGE, "backup: unknown subcommand \"%s\" (now, list, status, verify)", sub);
	sidecar_ref r;
	if (ref_resolve(dir, url, token_file, &r, err) < 0)
		return -1;
	if (is_drill)
		return drill(&r, wait, as_json, err);
	if (is_status)
		return status(&r, as_json, err);
	return is_now ? now(&r, wait, as_json, err) : list(&r, as_json, err);
}

/* `flotilla drill ...`: the backup command's drill, under its own name. */
int cmd_drill(int argc, char **argv, fl_err *err)
{
	if (argc > 1 && (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0)) {
		printf("Usage: flotilla drill [--no-wait] [--json] [SIDECAR]\n"
		       "SIDECAR: --dir DIR, or --url URL --token-file FILE (as flotilla backup).\n"
		       "Has the sidecar restore its newest backup into a scratch instance and prove it: the\n"
		       "manifest, the archive's WAL, replay to the archive's end, pg_amcheck, the configured\n"
		       "checks and row counts; prints the report (--json: whole). Exits 11 when it failed.\n");
		return 0;
	}
	char *args[64];
	int n = 0;
	args[n++] = "backup";
	args[n++] = "drill";
	for (int i = 1; i < argc && n < 63; i++)
		args[n++] = argv[i];
	args[n] = NULL;
	return cmd_backup(n, args, err);
}

/* ---- restore ---- */

static void restore_usage(FILE *f)
{
	fprintf(f, "Usage: flotilla restore (--dir DIR | --repo REPO) --target DATA_DIR [--backup LABEL]\n"
		   "                        [--time TIME | --lsn LSN] [--port N] [--key-file FILE]\n"
		   "Lays a base backup into a new (or empty) data directory, set to recover from the\n"
		   "repository's WAL to its end (the default), to TIME (ISO 8601 with a time zone) or to\n"
		   "LSN, then promote. Never over a data directory in use. Start PostgreSQL on\n"
		   "DATA_DIR to replay. --dir: the repository of a local cluster started with --backup.\n");
}

int cmd_restore(int argc, char **argv, fl_err *err)
{
	static const struct option longs[] = {
		{"dir", required_argument, NULL, 'd'},    {"repo", required_argument, NULL, 'r'},
		{"target", required_argument, NULL, 'T'}, {"backup", required_argument, NULL, 'b'},
		{"time", required_argument, NULL, 't'},   {"lsn", required_argument, NULL, 'l'},
		{"port", required_argument, NULL, 'p'},   {"key-file", required_argument, NULL, 'k'},
		{"help", no_argument, NULL, 'h'},         {NULL, 0, NULL, 0}};
	const char *dir = NULL, *repo = NULL;
	char *pass[16];
	int np = 0;
	pass[np++] = NULL; /* flotilla-backup, filled in by run_backup_program */
	pass[np++] = "restore";
	optind = 1;
	opterr = 0;
	int c;
	while ((c = getopt_long(argc, argv, ":h", longs, NULL)) != -1) {
		const char *flag = NULL;
		switch (c) {
		case 'd':
			dir = optarg;
			continue;
		case 'r':
			repo = optarg;
			continue;
		case 'T':
			flag = "--target";
			break;
		case 'b':
			flag = "--backup";
			break;
		case 't':
			flag = "--time";
			break;
		case 'l':
			flag = "--lsn";
			break;
		case 'p':
			flag = "--port";
			break;
		case 'k':
			flag = "--key-file";
			break;
		case 'h':
			restore_usage(stdout);
			return 0;
		default:
			return fl_fail(err, FL_ERR_USAGE,
				       "restore: unknown option %s\nHINT: run flotilla restore --help",
				       argv[optind - 1]);
		}
		if (np + 2 >= (int)(sizeof pass / sizeof pass[0]) - 3)
			return fl_fail(err, FL_ERR_USAGE, "restore: too many options");
		pass[np++] = (char *)flag;
		pass[np++] = optarg;
	}
	if (optind != argc)
		return fl_fail(err, FL_ERR_USAGE, "restore: unexpected argument \"%s\"", argv[optind]);
	sidecar_ref r;
	char target_abs[PATH_MAX];
	if (repo == NULL) {
		if (dir == NULL && (dir = getenv("FLOTILLA_DIR")) == NULL)
			return fl_fail(err, FL_ERR_USAGE, "restore: give --dir DIR (a local cluster) or --repo REPO");
		if (ref_from_dir(dir, &r, err) < 0)
			return -1;
		repo = r.repo;
	}
	/* flotilla-backup wants absolute paths; a relative --target is made absolute here. */
	for (int i = 2; i + 1 < np; i += 2)
		if (strcmp(pass[i], "--target") == 0 && pass[i + 1][0] != '/') {
			char cwd[PATH_MAX];
			if (getcwd(cwd, sizeof cwd) == NULL)
				return fl_fail(err, FL_ERR_IO, "restore: getcwd: %s", strerror(errno));
			snprintf(target_abs, sizeof target_abs, "%s/%s", cwd, pass[i + 1]);
			pass[i + 1] = target_abs;
		}
	pass[np++] = "--repo";
	pass[np++] = (char *)repo;
	pass[np] = NULL;
	/* flotilla-backup said why on stderr; its exit code is passed on. */
	return run_backup_program(pass, err);
}
