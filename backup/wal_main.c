/*
 * flotilla-wal: PostgreSQL's archive_command and restore_command for a
 * Flotilla cluster. `push PATH` sends a WAL file to the backup sidecar
 * (PUT /wal/NAME) and succeeds only once the sidecar said it is durable in
 * the repository (or was archived already with the same content);
 * `get NAME DEST` fetches one back, from the sidecar or, with --repo, from
 * a repository on this machine (a restore). The sidecar's URL and its
 * token come from the options or from FLOTILLA_BACKUP_URL and
 * FLOTILLA_BACKUP_TOKEN_FILE; the token only ever from its file.
 *
 * Exit codes: 0 done; 10 (not_found) the file is not archived (get:
 * PostgreSQL then tries its next source, quietly); another code of
 * flotilla's catalogue on failure, never one above 125, which would end a
 * recovery.
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/err.h"
#include "common/http_client.h"
#include "common/log.h"
#include "common/secret.h"
#include "pg/walname.h"
#include "repo.h"

#define DEFAULT_TIMEOUT 60.0

typedef struct wal_args {
	const char *url, *token_file, *repo, *key_file;
	double timeout;
} wal_args;

static void usage(FILE *f)
{
	fprintf(f,
		"usage: flotilla-wal push [--url URL] [--token-file FILE] [--timeout S] PATH\n"
		"       flotilla-wal get [--url URL | --repo DIR [--key-file FILE]] [--token-file FILE] [--timeout S]\n"
		"                        NAME DEST\n"
		"  archive_command = 'flotilla-wal push --url http://backup:8010 --token-file F %%p'\n"
		"  restore_command = 'flotilla-wal get --url http://backup:8010 --token-file F %%f %%p'\n"
		"URL and FILE default to FLOTILLA_BACKUP_URL and FLOTILLA_BACKUP_TOKEN_FILE.\n");
}

static int write_file(const char *path, const char *data, size_t len, fl_err *err)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (fd < 0)
		return fl_fail(err, FL_ERR_IO, "cannot create %s: %s", path, strerror(errno));
	size_t off = 0;
	while (off < len) {
		ssize_t w = write(fd, data + off, len - off);
		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0) {
			int e = w < 0 ? errno : ENOSPC;
			close(fd);
			return fl_fail(err, FL_ERR_IO, "cannot write %s: %s", path, strerror(e));
		}
		off += (size_t)w;
	}
	if (close(fd) < 0)
		return fl_fail(err, FL_ERR_IO, "cannot write %s: %s", path, strerror(errno));
	return 0;
}

/* One exchange with the sidecar: PUT or GET /wal/NAME. */
static int call(const wal_args *a, const char *method, const char *name, const char *body, size_t body_len,
		http_exchange *x, fl_err *err)
{
	char url[2048];
	snprintf(url, sizeof url, "%s/wal/%s", a->url, name);
	/* A trailing '/' of the base URL is not doubled. */
	size_t base = strlen(a->url);
	if (base > 0 && a->url[base - 1] == '/')
		snprintf(url, sizeof url, "%.*s/wal/%s", (int)base - 1, a->url, name);
	http_url u;
	if (http_url_parse(url, 80, &u, err) < 0)
		return -1;
	char token[256], auth[300];
	if (secret_read("backup token", a->token_file, token, sizeof token, err) < 0)
		return -1;
	snprintf(auth, sizeof auth, "Bearer %s", token);
	explicit_bzero(token, sizeof token);
	http_peer *p = http_peer_new(&u, REPO_WAL_MAX + 4096, NULL, err);
	if (p == NULL) {
		explicit_bzero(auth, sizeof auth);
		return -1;
	}
	http_header h[] = {
		{"Authorization", auth}, {"Connection", "close"}, {"Content-Type", "application/octet-stream"}};
	http_peer_exchange_raw(p, method, u.target, h, body ? 3 : 2, body, body_len, a->timeout, x);
	explicit_bzero(auth, sizeof auth);
	http_peer_free(p);
	if (x->outcome != HTTP_ANSWERED) {
		char why[256];
		http_exchange_why(x, a->url, a->timeout, REPO_WAL_MAX, why, sizeof why);
		http_exchange_clear(x);
		return fl_fail(err, FL_ERR_TIMEOUT, "%s %s: %s", method, name, why);
	}
	return 0;
}

static int push(const wal_args *a, const char *path, fl_err *err)
{
	const char *name = strrchr(path, '/');
	name = name ? name + 1 : path;
	wal_name w;
	const char *why = NULL;
	if (wal_name_parse(name, 1024 * 1024, &w, &why) == WAL_NONE)
		return fl_fail(err, FL_ERR_USAGE, "%s: not a WAL file's name (%s)", path, why);
	char *data = NULL;
	size_t len = 0;
	if (repo_read_file(path, REPO_WAL_MAX, &data, &len, err) < 0)
		return -1;
	http_exchange x;
	int rc = call(a, "PUT", name, data, len, &x, err);
	free(data);
	if (rc < 0)
		return -1;
	if (x.status == 200 || x.status == 201) {
		http_exchange_clear(&x);
		return 0;
	}
	fl_code code = x.status == 409                      ? FL_ERR_CONFLICT
		       : x.status == 401 || x.status == 403 ? FL_ERR_SECRET
							    : FL_ERR_IO;
	fl_fail(err, code, "archiving %s: the sidecar answered %d: %.300s", name, x.status, x.body ? x.body : "");
	http_exchange_clear(&x);
	return -1;
}

static int get(const wal_args *a, const char *name, const char *dest, fl_err *err)
{
	wal_name w;
	const char *why = NULL;
	if (wal_name_parse(name, 1024 * 1024, &w, &why) == WAL_NONE)
		return fl_fail(err, FL_ERR_USAGE, "%s: not a WAL file's name (%s)", name, why);
	if (a->repo != NULL) {
		repo r;
		char *data = NULL;
		size_t len = 0;
		crypt_key key;
		bool keyed = a->key_file != NULL && a->key_file[0] != '\0';
		if (repo_open(&r, a->repo, false, err) < 0 ||
		    (keyed && crypt_key_open(a->repo, a->key_file, false, &key, err) < 0))
			return -1;
		int got = repo_wal_get(&r, name, keyed ? &key : NULL, &data, &len, err);
		if (keyed)
			crypt_key_wipe(&key);
		if (got < 0)
			return -1;
		int rc = write_file(dest, data, len, err);
		free(data);
		return rc;
	}
	http_exchange x;
	if (call(a, "GET", name, NULL, 0, &x, err) < 0)
		return -1;
	int rc = 0;
	if (x.status == 200)
		rc = write_file(dest, x.body, x.len, err);
	else if (x.status == 404)
		rc = fl_fail(err, FL_ERR_NOT_FOUND, "%s is not in the archive", name);
	else
		rc = fl_fail(err, x.status == 401 || x.status == 403 ? FL_ERR_SECRET : FL_ERR_IO,
			     "fetching %s: the sidecar answered %d: %.300s", name, x.status, x.body ? x.body : "");
	http_exchange_clear(&x);
	return rc;
}

int main(int argc, char **argv)
{
	log_setup("wal", getenv("FLOTILLA_NAME"));
	wal_args a = {getenv("FLOTILLA_BACKUP_URL"), getenv("FLOTILLA_BACKUP_TOKEN_FILE"), NULL, NULL, DEFAULT_TIMEOUT};
	if (argc < 2 || strcmp(argv[1], "--help") == 0) {
		usage(argc < 2 ? stderr : stdout);
		return argc < 2 ? FL_ERR_USAGE : 0;
	}
	const char *cmd = argv[1];
	static const struct option longs[] = {{"url", required_argument, NULL, 'u'},
					      {"token-file", required_argument, NULL, 't'},
					      {"repo", required_argument, NULL, 'r'},
					      {"timeout", required_argument, NULL, 'T'},
					      {"key-file", required_argument, NULL, 'k'},
					      {"help", no_argument, NULL, 'h'},
					      {NULL, 0, NULL, 0}};
	optind = 2;
	int c;
	while ((c = getopt_long(argc, argv, "", longs, NULL)) != -1) {
		char *end = NULL;
		switch (c) {
		case 'u':
			a.url = optarg;
			break;
		case 't':
			a.token_file = optarg;
			break;
		case 'r':
			a.repo = optarg;
			break;
		case 'k':
			a.key_file = optarg;
			break;
		case 'T':
			a.timeout = strtod(optarg, &end);
			if (end == optarg || *end != '\0' || !(a.timeout > 0 && a.timeout <= 86400)) {
				log_error("--timeout \"%s\" is not a number of seconds in (0, 86400]", optarg);
				return FL_ERR_USAGE;
			}
			break;
		case 'h':
			usage(stdout);
			return 0;
		default:
			usage(stderr);
			return FL_ERR_USAGE;
		}
	}
	int want = strcmp(cmd, "push") == 0 ? 1 : strcmp(cmd, "get") == 0 ? 2 : -1;
	if (want < 0 || argc - optind != want) {
		usage(stderr);
		return FL_ERR_USAGE;
	}
	if (a.repo == NULL && (a.url == NULL || a.url[0] == '\0' || a.token_file == NULL || a.token_file[0] == '\0')) {
		log_error("no sidecar: give --url and --token-file (or FLOTILLA_BACKUP_URL and "
			  "FLOTILLA_BACKUP_TOKEN_FILE)%s",
			  want == 2 ? ", or --repo" : "");
		return FL_ERR_USAGE;
	}
	fl_err err = {0};
	int rc = want == 1 ? push(&a, argv[optind], &err) : get(&a, argv[optind], argv[optind + 1], &err);
	if (rc == 0)
		return 0;
	if (err.code == FL_ERR_NOT_FOUND && want == 2) {
		log_debug("%s", err.msg);
		return FL_ERR_NOT_FOUND;
	}
	log_error("%s", err.msg);
	return err.code == FL_ERR_NOT_FOUND || err.code == 0 ? FL_ERR_IO : (int)err.code;
}
