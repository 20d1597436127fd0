/*
 * cmd_control: one flow for six commands. A table gives each command its
 * endpoint, whether it names a member and whether it asks for confirmation;
 * ctl_run parses the command line, reads the cluster (members with their
 * api_url and the leader), checks the named members, reads the token,
 * confirms, POSTs to the nodes in turn (the first that answers decides) and,
 * for an accepted switchover or failover, polls until another member leads.
 */
#include "cmd_control.h"

#include <errno.h>
#include <limits.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>

#include "cluster/cluster.h"
#include "cluster/dynconf.h"
#include "common/http_client.h"
#include "common/etcd.h"
#include "http.h"
#include "common/secret.h"
#include "target.h"

#define CTL_TOKEN_MAX 4096
#define CTL_DEFAULT_WAIT 60.0
#define CTL_POLL_SECONDS 0.2

typedef enum ctl_kind {
	CTL_SWITCHOVER,
	CTL_FAILOVER,
	CTL_PAUSE,
	CTL_RESUME,
	CTL_RESTART,
	CTL_REINIT,
	CTL_SHOW_CONFIG,
	CTL_EDIT_CONFIG
} ctl_kind;

typedef struct ctl_spec {
	const char *name;
	ctl_kind kind;
	const char *path; /* the agent's endpoint */
	bool per_member;  /* MEMBER argument; the call goes to that member's own API */
	bool confirm;     /* asks on the terminal unless --force */
	const char *synopsis;
	const char *summary;
} ctl_spec;

static const ctl_spec ctl_specs[] = {
	{"switchover", CTL_SWITCHOVER, "/switchover", false, true,
	 "[--leader NAME] [--candidate NAME] [--scheduled ISO8601] [--force]",
	 "Hands the leader key from the healthy leader (--leader, by default the current one) to --candidate\n"
	 "(by default the leader chooses), now or at --scheduled (e.g. 2026-11-25T13:00:00+00:00), and\n"
	 "waits until another member leads.\n"},
	{"failover", CTL_FAILOVER, "/failover", false, true, "--candidate NAME [--force]",
	 "Promotes --candidate in a cluster without a healthy leader, and waits until it leads.\n"},
	{"pause", CTL_PAUSE, "/pause", false, false, "", "Pauses automatic failover, cluster-wide.\n"},
	{"resume", CTL_RESUME, "/resume", false, false, "", "Resumes automatic failover, cluster-wide.\n"},
	{"restart", CTL_RESTART, "/restart", true, true, "MEMBER | --pending [--force]",
	 "Restarts MEMBER's PostgreSQL; with --pending, every member whose PostgreSQL has a pending restart\n"
	 "(a changed setting that only a restart applies), one at a time, the replicas first and the leader\n"
	 "last, which keeps the leader key (no failover), each waited for until it runs without one.\n"},
	{"reinit", CTL_REINIT, "/reinit", true, true, "MEMBER [--force]",
	 "Re-clones the replica MEMBER from the leader (its data directory is replaced).\n"},
	{"show-config", CTL_SHOW_CONFIG, "/config", false, false, "[--json]",
	 "Prints the cluster's dynamic configuration (GET /config) as YAML, as patronictl show-config does.\n"},
	{"edit-config", CTL_EDIT_CONFIG, "/config", false, true, "[--set KEY=VALUE]... [--pg NAME=VALUE]... [--force]",
	 "Changes the cluster's dynamic configuration (PATCH /config): --set KEY=VALUE for ttl, loop_wait,\n"
	 "retry_timeout, maximum_lag_on_failover, synchronous_mode or a dotted path (postgresql.pg_hba takes\n"
	 "a JSON list), --pg NAME=VALUE for a PostgreSQL parameter; VALUE null removes the setting. Shows the\n"
	 "change and asks before it applies it; every agent applies it at its next tick, by a reload, or as\n"
	 "a pending restart (see restart --pending).\n"},
};

enum {
	CTL_OPT_LEADER = 0x200,
	CTL_OPT_CANDIDATE,
	CTL_OPT_SCHEDULED,
	CTL_OPT_FORCE,
	CTL_OPT_TOKEN_FILE,
	CTL_OPT_WAIT_TIMEOUT,
	CTL_OPT_JSON,
	CTL_OPT_INSECURE_TOKEN,
	CTL_OPT_SET,
	CTL_OPT_PG,
	CTL_OPT_PENDING,
};

#define CTL_MAX_SETS 64

typedef struct ctl_args {
	target_opts o;
	const char *leader, *candidate, *scheduled, *token_file, *member;
	double wait_timeout;
	bool force, json, help;
	bool pending; /* restart --pending */
	const char *sets[CTL_MAX_SETS], *pgs[CTL_MAX_SETS];
	int n_sets, n_pgs;
	bool insecure_token; /* the token may go over plain HTTP to another machine */
} ctl_args;

typedef struct ctl_member {
	char name[CLUSTER_NAME_MAX];
	char api_url[160];
	bool running;
	bool pending_restart;
} ctl_member;

typedef struct ctl_cluster {
	char scope[CLUSTER_NAME_MAX];
	char leader[CLUSTER_NAME_MAX]; /* "" when no member holds the leader key */
	bool paused;
	bool switchover_known;   /* read from etcd, where the switchover record shows */
	bool switchover_pending; /* its record is there */
	int n;
	ctl_member m[CLUSTER_MAX_MEMBERS];
} ctl_cluster;

static double now_seconds(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static const ctl_member *ctl_member_find(const ctl_cluster *c, const char *name)
{
	for (int i = 0; i < c->n; i++)
		if (strcmp(c->m[i].name, name) == 0)
			return &c->m[i];
	return NULL;
}

static void ctl_usage(const ctl_spec *s, FILE *f)
{
	fprintf(f, "Usage: flotilla %s %s [OPTIONS]\n\n%s\n", s->name, s->synopsis, s->summary);
	if (s->kind == CTL_SWITCHOVER || s->kind == CTL_FAILOVER)
		fprintf(f,
			"  --leader NAME       the current leader (switchover; default: the one holding the key)\n"
			"  --candidate NAME    the member to promote\n"
			"  --scheduled TIME    switchover at an ISO 8601 time with a zone; no waiting\n"
			"  --wait-timeout SEC  how long to wait for the new leader (default %.0f; exit 9 after)\n",
			CTL_DEFAULT_WAIT);
	if (s->kind == CTL_RESTART)
		fprintf(f,
			"  --pending           the members with a pending restart, replicas first\n"
			"  --wait-timeout SEC  how long to wait for each of them (default %.0f; exit 9 after)\n",
			CTL_DEFAULT_WAIT);
	if (s->kind == CTL_EDIT_CONFIG)
		fprintf(f, "  --set KEY=VALUE     a setting (VALUE as JSON when it parses: 10, true, [..]; else a "
			   "string)\n"
			   "  --pg NAME=VALUE     a PostgreSQL parameter (postgresql.parameters.NAME)\n");
	if (s->confirm)
		fprintf(f, "  --force             do not ask for confirmation (needed when stdin is not a terminal)\n");
	fprintf(f, "  --token-file FILE   the REST API's bearer token           [FLOTILLA_API_TOKEN_FILE]\n"
		   "                      (default with --dir: cluster.json's api_token_file; with\n"
		   "                      --config: the file's secrets.api_token_file)\n"
		   "  --insecure-token    send the token over plain HTTP to another machine too (by default\n"
		   "                      it goes only over HTTPS, or to a loopback address)\n"
		   "  --json              print the agent's JSON answer\n");
	target_usage(f);
	fprintf(f, "4 api token missing, unreadable or refused (401/403), 9 also: the new leader did not\n"
		   "show in time, 11 the cluster's state forbids it (409/412/503).\n");
}

/* ---- the command line ---- */

typedef struct ctl_parsing {
	const ctl_spec *s;
	ctl_args *a;
} ctl_parsing;

/* One option of ours (a target_own_fn): 0 taken, 1 not ours, -1 a bad value or one for another command. */
static int ctl_opt(void *self, int c, const char *value, const char *arg, fl_err *err)
{
	const ctl_spec *s = ((ctl_parsing *)self)->s;
	ctl_args *a = ((ctl_parsing *)self)->a;
	bool leader_opts = s->kind == CTL_SWITCHOVER || s->kind == CTL_FAILOVER;
	switch (c) {
	case CTL_OPT_SET:
	case CTL_OPT_PG:
		if (s->kind != CTL_EDIT_CONFIG)
			return fl_fail(err, FL_ERR_USAGE, "%s: option %s applies to edit-config only", s->name, arg);
		if (strchr(value, '=') == NULL || value[0] == '=')
			return fl_fail(err, FL_ERR_USAGE, "%s: %s \"%s\" is not NAME=VALUE", s->name, arg, value);
		if ((c == CTL_OPT_SET ? a->n_sets : a->n_pgs) == CTL_MAX_SETS)
			return fl_fail(err, FL_ERR_USAGE, "%s: more than %d of %s", s->name, CTL_MAX_SETS, arg);
		if (c == CTL_OPT_SET)
			a->sets[a->n_sets++] = value;
		else
			a->pgs[a->n_pgs++] = value;
		return 0;
	case CTL_OPT_PENDING:
		if (s->kind != CTL_RESTART)
			return fl_fail(err, FL_ERR_USAGE, "%s: option %s applies to restart only", s->name, arg);
		a->pending = true;
		return 0;
	case CTL_OPT_WAIT_TIMEOUT:
		if (s->kind == CTL_RESTART)
			return target_seconds(s->name, "wait-timeout", value, 86400, &a->wait_timeout, err);
		/* fall through */
	case CTL_OPT_LEADER:
	case CTL_OPT_CANDIDATE:
	case CTL_OPT_SCHEDULED:
		if (!leader_opts || (c != CTL_OPT_CANDIDATE && c != CTL_OPT_WAIT_TIMEOUT && s->kind == CTL_FAILOVER))
			return fl_fail(err, FL_ERR_USAGE,
				       "%s: option %s does not apply to %s\nHINT: run flotilla %s --help", s->name, arg,
				       s->name, s->name);
		break;
	case CTL_OPT_FORCE:
		a->force = true;
		return 0;
	case CTL_OPT_TOKEN_FILE:
		a->token_file = value;
		return 0;
	case CTL_OPT_JSON:
		a->json = true;
		return 0;
	case CTL_OPT_INSECURE_TOKEN:
		a->insecure_token = true;
		return 0;
	default:
		return 1;
	}
	if (c == CTL_OPT_LEADER)
		a->leader = value;
	else if (c == CTL_OPT_CANDIDATE)
		a->candidate = value;
	else if (c == CTL_OPT_SCHEDULED)
		a->scheduled = value;
	else
		return target_seconds(s->name, "wait-timeout", value, 86400, &a->wait_timeout, err);
	return 0;
}

static int ctl_parse(const ctl_spec *s, int argc, char **argv, ctl_args *a, fl_err *err)
{
	static const struct option longopts[] = {
		TARGET_LONGOPTS,
		{"leader", required_argument, NULL, CTL_OPT_LEADER},
		{"candidate", required_argument, NULL, CTL_OPT_CANDIDATE},
		{"scheduled", required_argument, NULL, CTL_OPT_SCHEDULED},
		{"force", no_argument, NULL, CTL_OPT_FORCE},
		{"token-file", required_argument, NULL, CTL_OPT_TOKEN_FILE},
		{"wait-timeout", required_argument, NULL, CTL_OPT_WAIT_TIMEOUT},
		{"json", no_argument, NULL, CTL_OPT_JSON},
		{"insecure-token", no_argument, NULL, CTL_OPT_INSECURE_TOKEN},
		{"set", required_argument, NULL, CTL_OPT_SET},
		{"pg", required_argument, NULL, CTL_OPT_PG},
		{"pending", no_argument, NULL, CTL_OPT_PENDING},
		{"help", no_argument, NULL, 'h'},
		{NULL, 0, NULL, 0},
	};
	memset(a, 0, sizeof *a);
	a->wait_timeout = CTL_DEFAULT_WAIT;
	ctl_parsing p = {s, a};
	if (target_getopt(s->name, argc, argv, longopts, &a->o, ctl_opt, &p, &a->help, err) < 0)
		return -1;
	if (a->help)
		return 0;
	int n_pos = argc - optind;
	if (a->pending && n_pos != 0)
		return fl_fail(err, FL_ERR_USAGE, "%s: --pending restarts the members that need it; give no MEMBER",
			       s->name);
	if (s->per_member && !a->pending && n_pos != 1)
		return fl_fail(err, FL_ERR_USAGE,
			       "%s: give exactly one MEMBER (got %d)\nHINT: flotilla %s MEMBER --dir DIR", s->name,
			       n_pos, s->name);
	if (!s->per_member && n_pos != 0)
		return fl_fail(err, FL_ERR_USAGE, "%s: unexpected argument \"%s\"\nHINT: run flotilla %s --help",
			       s->name, argv[optind], s->name);
	if (s->per_member && !a->pending)
		a->member = argv[optind];
	if (s->kind == CTL_FAILOVER && a->candidate == NULL)
		return fl_fail(err, FL_ERR_USAGE,
			       "failover: --candidate NAME is required\nHINT: to move a healthy leader, use flotilla "
			       "switchover");
	return 0;
}

/* ---- the cluster: members with their REST API ---- */

static int cluster_from_etcd(const target *t, ctl_cluster *c, fl_err *err)
{
	char root[512];
	etcd_kvs kvs = {0};
	if (target_read_cluster(t, root, sizeof root, &kvs, err) < 0)
		return -1;
	cluster_view *cv = calloc(1, sizeof *cv);
	if (cv == NULL) {
		etcd_kvs_free(&kvs);
		return fl_fail(err, FL_ERR_INTERNAL, "out of memory");
	}
	int rc = 0;
	cluster_parse(&kvs, root, cv, NULL);
	etcd_kvs_free(&kvs);
	snprintf(c->scope, sizeof c->scope, "%s", t->scope);
	if (rc == 0 && cv->has_leader)
		snprintf(c->leader, sizeof c->leader, "%s", cv->leader);
	c->paused = cv->paused;
	c->switchover_known = true;
	c->switchover_pending = cv->has_switchover;
	for (int i = 0; rc == 0 && i < cv->n_members; i++) {
		ctl_member *m = &c->m[c->n++];
		snprintf(m->name, sizeof m->name, "%s", cv->members[i].name);
		snprintf(m->api_url, sizeof m->api_url, "%s", cv->members[i].api_url);
		m->running = cv->members[i].running;
		m->pending_restart = cv->members[i].pending_restart;
	}
	free(cv);
	return rc;
}

static int cluster_from_json(const char *text, ctl_cluster *c, fl_err *err)
{
	json_error_t je;
	json_t *root = json_loads(text, 0, &je), *members = NULL, *o;
	const char *scope = NULL;
	if (root == NULL || json_unpack_ex(root, &je, 0, "{s:s, s:o}", "scope", &scope, "members", &members) < 0 ||
	    !json_is_array(members)) {
		json_decref(root);
		return fl_fail(err, FL_ERR_CONFIG, "not a cluster description: %s", je.text);
	}
	snprintf(c->scope, sizeof c->scope, "%s", scope);
	c->paused = json_is_true(json_object_get(root, "pause"));
	size_t i;
	json_array_foreach(members, i, o)
	{
		const char *name = json_string_value(json_object_get(o, "name"));
		const char *role = json_string_value(json_object_get(o, "role"));
		const char *state = json_string_value(json_object_get(o, "state"));
		const char *url = json_string_value(json_object_get(o, "api_url"));
		if (name == NULL || c->n == CLUSTER_MAX_MEMBERS)
			continue;
		ctl_member *m = &c->m[c->n++];
		snprintf(m->name, sizeof m->name, "%s", name);
		snprintf(m->api_url, sizeof m->api_url, "%s", url ? url : "");
		m->running = state != NULL && strcmp(state, "stopped") != 0;
		m->pending_restart = json_is_true(json_object_get(o, "pending_restart"));
		if (role != NULL && strcmp(role, "leader") == 0)
			snprintf(c->leader, sizeof c->leader, "%s", name);
	}
	json_decref(root);
	return 0;
}

/* GET /cluster from the nodes in turn; the first 200 wins. */
static int cluster_from_api(const target *t, ctl_cluster *c, fl_err *err)
{
	for (int i = 0; i < t->n_urls; i++) {
		char url[512];
		http_answer a;
		snprintf(url, sizeof url, "%s/cluster", t->urls[i]);
		fl_err one = {FL_OK, ""};
		if (http_get(url, t->timeout, &a, &one) < 0) {
			if (i + 1 < t->n_urls)
				continue;
			fl_fail(err, one.code,
				"api: %s did not answer: %s\nHINT: is its flotilla-replicator running? The URL came "
				"from %s",
				url, one.msg, t->via);
			return -1;
		}
		int rc = a.status == 200 ? cluster_from_json(a.body, c, err)
					 : fl_fail(err, FL_ERR_CONFIG, "GET answered %d", a.status);
		http_answer_clear(&a);
		if (rc < 0)
			fl_err_prefix(err, "api: %s", url);
		return rc;
	}
	return fl_fail(err, FL_ERR_USAGE, "api: no URL to ask");
}

static int ctl_cluster_fetch(const char *cmd, const target *t, ctl_cluster *c, fl_err *err)
{
	memset(c, 0, sizeof *c);
	int rc = t->kind == TARGET_ETCD ? cluster_from_etcd(t, c, err) : cluster_from_api(t, c, err);
	if (rc < 0)
		fl_err_prefix(err, "%s", cmd);
	return rc;
}

static int ctl_check_member(const char *cmd, const ctl_cluster *c, const char *what, const char *name, fl_err *err)
{
	if (name == NULL || ctl_member_find(c, name) != NULL)
		return 0;
	char known[512] = "";
	for (int k = 0; k < c->n; k++)
		snprintf(known + strlen(known), sizeof known - strlen(known), "%s%s", k ? ", " : "", c->m[k].name);
	return fl_fail(err, FL_ERR_NOT_FOUND, "%s: cluster \"%s\" has no member \"%s\" (%s; members: %s)", cmd,
		       c->scope, name, what, known[0] ? known : "none");
}

/* ---- the token ---- */

/* DIR/cluster.json's api_token_file into path. */
static int token_path_from_dir(const char *cmd, const char *dir, char *path, size_t len, fl_err *err)
{
	char file[PATH_MAX];
	snprintf(file, sizeof file, "%s/cluster.json", dir);
	json_error_t je;
	json_t *root = json_load_file(file, 0, &je);
	const char *p = json_string_value(json_object_get(root, "api_token_file"));
	int rc = 0;
	if (p == NULL || p[0] == '\0')
		rc = fl_fail(err, FL_ERR_SECRET, "%s: %s has no api_token_file\nHINT: pass --token-file FILE", cmd,
			     file);
	else
		snprintf(path, len, "%s", p);
	json_decref(root);
	return rc;
}

/* --token-file, else FLOTILLA_API_TOKEN_FILE, else the file the target came from names. */
static int ctl_token(const char *cmd, const ctl_args *a, const target *t, char *token, size_t len, char *from,
		     size_t from_len, fl_err *err)
{
	char path[PATH_MAX];
	const char *env = getenv("FLOTILLA_API_TOKEN_FILE");
	const char *dir = t->dir;
	if (a->token_file != NULL) {
		snprintf(path, sizeof path, "%s", a->token_file);
		snprintf(from, from_len, "--token-file %s", path);
	} else if (env != NULL && env[0] != '\0') {
		snprintf(path, sizeof path, "%s", env);
		snprintf(from, from_len, "FLOTILLA_API_TOKEN_FILE=%s", path);
	} else if (dir[0] != '\0') {
		if (token_path_from_dir(cmd, dir, path, sizeof path, err) < 0)
			return -1;
		snprintf(from, from_len, "%s/cluster.json's api_token_file %s", dir, path);
	} else if (t->config[0] != '\0' && t->token_file[0] != '\0') {
		snprintf(path, sizeof path, "%s", t->token_file);
		snprintf(from, from_len, "%s's secrets.api_token_file %s", t->config, path);
	} else if (t->config[0] != '\0') {
		return fl_fail(err, FL_ERR_SECRET,
			       "%s: %s has no secrets.api_token_file, so its agent refuses mutating calls\n"
			       "HINT: pass --token-file FILE or set FLOTILLA_API_TOKEN_FILE",
			       cmd, t->config);
	} else {
		return fl_fail(err, FL_ERR_SECRET,
			       "%s: no api token: mutating calls need the REST API's bearer token\n"
			       "HINT: pass --token-file FILE or set FLOTILLA_API_TOKEN_FILE",
			       cmd);
	}
	if (secret_read("api token", path, token, len, err) < 0) {
		fl_err_prefix(err, "%s", cmd);
		return -1;
	}
	return 0;
}

/* ---- confirmation ---- */

static int ctl_confirm(const ctl_spec *s, const ctl_args *a, const ctl_cluster *c, fl_err *err)
{
	if (!s->confirm || a->force)
		return 0;
	if (!isatty(STDIN_FILENO))
		return fl_fail(
			err, FL_ERR_USAGE,
			"%s: stdin is not a terminal, so cannot confirm\nHINT: add --force to %s without confirmation",
			s->name, s->name);
	if (s->kind == CTL_SWITCHOVER)
		fprintf(stderr,
			"Are you sure you want to switchover cluster %s, demoting current leader %s%s%s%s%s? [y/N] ",
			c->scope, a->leader, a->candidate ? " for " : "", a->candidate ? a->candidate : "",
			a->scheduled ? " at " : "", a->scheduled ? a->scheduled : "");
	else if (s->kind == CTL_FAILOVER)
		fprintf(stderr, "Are you sure you want to failover cluster %s to %s%s%s? [y/N] ", c->scope,
			a->candidate, c->leader[0] ? ", demoting current leader " : "", c->leader);
	else if (s->kind == CTL_EDIT_CONFIG)
		fprintf(stderr, "Apply these changes to the configuration of cluster %s? [y/N] ", c->scope);
	else if (a->pending)
		fprintf(stderr,
			"Are you sure you want to restart the members of cluster %s with a pending restart? [y/N] ",
			c->scope);
	else
		fprintf(stderr, "Are you sure you want to %s member %s of cluster %s? [y/N] ", s->name, a->member,
			c->scope);
	fflush(stderr);
	char line[32] = "";
	if (fgets(line, sizeof line, stdin) == NULL)
		line[0] = '\0';
	line[strcspn(line, "\r\n")] = '\0';
	if (strcasecmp(line, "y") == 0 || strcasecmp(line, "yes") == 0)
		return 0;
	return fl_fail(err, FL_ERR_USAGE, "%s: aborted, nothing was done", s->name);
}

/* ---- the call ---- */

static char *ctl_body(const ctl_spec *s, const ctl_args *a)
{
	json_t *o = json_object();
	if (s->kind == CTL_SWITCHOVER && a->leader)
		json_object_set_new(o, "leader", json_string(a->leader));
	if (a->candidate)
		json_object_set_new(o, "candidate", json_string(a->candidate));
	if (a->scheduled)
		json_object_set_new(o, "scheduled_at", json_string(a->scheduled));
	char *body = json_dumps(o, JSON_COMPACT);
	json_decref(o);
	return body;
}

/* The nodes to ask, in order: MEMBER's own; else the leader, running members, the others. */
static int ctl_nodes(const ctl_spec *s, const ctl_args *a, const ctl_cluster *c, const ctl_member **out)
{
	int n = 0;
	if (s->per_member) {
		out[n++] = ctl_member_find(c, a->member);
		return n;
	}
	const ctl_member *leader = c->leader[0] ? ctl_member_find(c, c->leader) : NULL;
	if (leader)
		out[n++] = leader;
	for (int pass = 0; pass < 2; pass++)
		for (int i = 0; i < c->n; i++)
			if (&c->m[i] != leader && c->m[i].running == (pass == 0))
				out[n++] = &c->m[i];
	return n;
}

/* The agent's "error" (or "message", or the body) as text, with its HINT line. */
static void answer_text(const http_answer *r, char *buf, size_t len)
{
	json_t *j = json_loadb(r->body, r->len, 0, NULL);
	const char *m = json_string_value(json_object_get(j, "error"));
	if (m == NULL)
		m = json_string_value(json_object_get(j, "message"));
	snprintf(buf, len, "%s", m ? m : (r->body ? r->body : ""));
	json_decref(j);
}

/* Turns the answer's status into 0 or the stable code. */
static int ctl_verdict(const ctl_spec *s, const char *method, const char *url, const http_answer *r,
		       const char *token_from, fl_err *err)
{
	if (r->status == 200 || r->status == 202)
		return 0;
	char text[FL_ERR_MSG_MAX / 2];
	answer_text(r, text, sizeof text);
	if (r->status == 401 || r->status == 403) {
		text[strcspn(text, "\n")] = '\0';
		return fl_fail(err, FL_ERR_SECRET,
			       "%s: %s %s answered %d: %s\nHINT: wrong or missing api token; it came from %s", s->name,
			       method, url, r->status, text, token_from);
	}
	fl_code code = FL_ERR_CONFIG;
	if (r->status == 409 || r->status == 412 || r->status == 503)
		code = FL_ERR_CONFLICT;
	else if (r->status == 400 || r->status == 413 || r->status == 422)
		code = FL_ERR_USAGE;
	else if (r->status == 404)
		code = FL_ERR_NOT_FOUND;
	return fl_fail(err, code, "%s: %s %s answered %d: %s", s->name, method, url, r->status, text);
}

/* Sends body (POST, PATCH) to the nodes in turn; the first that answers decides. */
static int ctl_send(const ctl_spec *s, const ctl_args *a, const ctl_cluster *c, const target *t, const char *method,
		    const char *body, const char *token, const char *token_from, http_answer *r, fl_err *err)
{
	const ctl_member *nodes[CLUSTER_MAX_MEMBERS];
	int n = ctl_nodes(s, a, c, nodes);
	char whys[FL_ERR_MSG_MAX / 2] = "";
	int rc = -2;
	for (int i = 0; rc == -2 && i < n; i++) {
		char url[256];
		if (nodes[i]->api_url[0] == '\0')
			continue;
		snprintf(url, sizeof url, "%s%s", nodes[i]->api_url, s->path);
		/* The api_url comes from etcd: the token goes only where nobody on the way can read it. */
		http_url u;
		if (!a->insecure_token && http_url_parse(url, 80, &u, NULL) == 0 && !http_url_keeps_secrets(&u)) {
			rc = fl_fail(err, FL_ERR_SECRET,
				     "%s: not sending the api token to %s over plain HTTP\nHINT: serve the REST API "
				     "over HTTPS (api_cert_file), or pass --insecure-token",
				     s->name, url);
			break;
		}
		fl_err one = {FL_OK, ""};
		if (http_send(url, method, token, body, t->timeout, r, &one) < 0) {
			if (one.code != FL_ERR_TIMEOUT) {
				rc = fl_fail(err, one.code, "%s: %s %s: %s", s->name, method, url, one.msg);
				break;
			}
			size_t used = strlen(whys);
			snprintf(whys + used, sizeof whys - used, "%s%s %s", used ? "; " : "", url, one.msg);
			continue;
		}
		rc = ctl_verdict(s, method, url, r, token_from, err);
	}
	if (rc == -2 && whys[0] == '\0')
		return fl_fail(err, FL_ERR_NOT_FOUND, "%s: no member%s%s publishes an api_url", s->name,
			       s->per_member ? " " : "", s->per_member ? a->member : "");
	if (rc == -2)
		return fl_fail(err, FL_ERR_TIMEOUT,
			       "%s: no node answered: %s\nHINT: are the flotilla-replicators running?", s->name, whys);
	return rc;
}

/* Polls the cluster until a member other than the old leader (the candidate, when named) holds the key. */
static int ctl_wait_leader(const ctl_spec *s, const ctl_args *a, const char *old_leader, const target *t, double start,
			   fl_err *err)
{
	ctl_cluster *c = calloc(1, sizeof *c);
	if (c == NULL)
		return fl_fail(err, FL_ERR_INTERNAL, "%s: out of memory", s->name);
	int rc = -1;
	bool abandoned = false;
	while (now_seconds() - start < a->wait_timeout) {
		if (ctl_cluster_fetch(s->name, t, c, NULL) == 0 && c->leader[0] &&
		    (a->candidate ? strcmp(c->leader, a->candidate) == 0 : strcmp(c->leader, old_leader) != 0)) {
			rc = 0;
			break;
		}
		/* The record gone while the old leader still leads: the leader dropped it (see its log). */
		if (c->switchover_known && !c->switchover_pending && strcmp(c->leader, old_leader) == 0) {
			abandoned = true;
			break;
		}
		struct timespec ts = {0, (long)(CTL_POLL_SECONDS * 1e9)};
		nanosleep(&ts, NULL);
	}
	if (rc == 0 && !a->json)
		printf("%s to %s done in %.1f s\n", s->name, c->leader, now_seconds() - start);
	else if (abandoned)
		fl_fail(err, FL_ERR_CONFLICT,
			"%s: %s dropped the %s after %.1f s and still leads\nHINT: its log says why (a candidate that "
			"does not stream, or lags beyond maximum_lag_on_failover); see flotilla list",
			s->name, old_leader, s->name, now_seconds() - start);
	else if (rc < 0)
		fl_fail(err, FL_ERR_TIMEOUT,
			"%s: no %s took the leader key within %.0f s (leader now: %s)\nHINT: see flotilla list and the "
			"agents' logs",
			s->name, a->candidate ? a->candidate : "new leader", a->wait_timeout,
			c->leader[0] ? c->leader : "none");
	free(c);
	return rc;
}

static void ctl_print(const ctl_args *a, const http_answer *r)
{
	if (a->json) {
		printf("%s%s", r->body ? r->body : "", r->len && r->body[r->len - 1] == '\n' ? "" : "\n");
		return;
	}
	char text[FL_ERR_MSG_MAX];
	answer_text(r, text, sizeof text);
	if (text[0])
		printf("%s\n", text);
}

/* Checks the named members and fills --leader's default. */
static int ctl_check(const ctl_spec *s, ctl_args *a, const ctl_cluster *c, fl_err *err)
{
	if (ctl_check_member(s->name, c, "the MEMBER argument", a->member, err) < 0 ||
	    ctl_check_member(s->name, c, "--leader", a->leader, err) < 0 ||
	    ctl_check_member(s->name, c, "--candidate", a->candidate, err) < 0)
		return -1;
	if (s->kind != CTL_SWITCHOVER || a->leader != NULL)
		return 0;
	if (c->leader[0] == '\0')
		return fl_fail(err, FL_ERR_CONFLICT,
			       "switchover: cluster \"%s\" has no leader\nHINT: use flotilla failover --candidate NAME",
			       c->scope);
	a->leader = c->leader;
	return 0;
}

/* ---- the dynamic configuration ---- */

/* GET /config from the nodes in turn (the leader first); the first 200 is the document. */
static json_t *config_get(const ctl_spec *s, const ctl_args *a, const ctl_cluster *c, const target *t, fl_err *err)
{
	const ctl_member *nodes[CLUSTER_MAX_MEMBERS];
	int n = ctl_nodes(s, a, c, nodes);
	char whys[FL_ERR_MSG_MAX / 2] = "";
	for (int i = 0; i < n; i++) {
		char url[256];
		if (nodes[i]->api_url[0] == '\0')
			continue;
		snprintf(url, sizeof url, "%s/config", nodes[i]->api_url);
		http_answer r = {0};
		fl_err one = {FL_OK, ""};
		if (http_get(url, t->timeout, &r, &one) < 0 || r.status != 200) {
			size_t used = strlen(whys);
			snprintf(whys + used, sizeof whys - used, "%s%s %s", used ? "; " : "", url,
				 one.msg[0] ? one.msg : "did not answer 200");
			http_answer_clear(&r);
			continue;
		}
		json_t *doc = json_loadb(r.body, r.len, 0, NULL);
		http_answer_clear(&r);
		if (json_is_object(doc))
			return doc;
		json_decref(doc);
	}
	fl_fail(err, FL_ERR_TIMEOUT, "%s: no node answered GET /config: %s", s->name, whys[0] ? whys : "no api_url");
	return NULL;
}

/* KEY=VALUE as a merge patch's path: VALUE as JSON when it parses (10, true, null, [..]), else as a string. */
static int config_patch_set(json_t *patch, const char *item, bool pg, fl_err *err)
{
	const char *eq = strchr(item, '=');
	char path[256];
	snprintf(path, sizeof path, "%s%.*s", pg ? "postgresql.parameters." : "", (int)(eq - item), item);
	json_t *v = NULL;
	if (pg)
		v = strcmp(eq + 1, "null") == 0 ? json_null() : json_string(eq + 1);
	else if ((v = json_loads(eq + 1, JSON_DECODE_ANY, NULL)) == NULL)
		v = json_string(eq + 1);
	json_t *at = patch;
	char *part = path, *dot;
	/* Parameter names may hold dots themselves (pg_stat_statements.track): only the first two split. */
	for (int depth = 0; (dot = strchr(part, '.')) != NULL && (!pg || depth < 2); depth++) {
		*dot = '\0';
		json_t *next = json_object_get(at, part);
		if (!json_is_object(next)) {
			next = json_object();
			json_object_set_new(at, part, next);
		}
		at = next;
		part = dot + 1;
	}
	if (part[0] == '\0') {
		json_decref(v);
		return fl_fail(err, FL_ERR_USAGE, "edit-config: \"%s\" names no setting", item);
	}
	json_object_set_new(at, part, v);
	return 0;
}

static int config_show(const ctl_spec *s, const ctl_args *a, const ctl_cluster *c, const target *t, fl_err *err)
{
	json_t *doc = config_get(s, a, c, t, err);
	if (doc == NULL)
		return -1;
	if (a->json) {
		char *text = json_dumps(doc, JSON_SORT_KEYS | JSON_INDENT(2));
		printf("%s\n", text ? text : "{}");
		free(text);
	} else {
		dynconf_print(doc, stdout);
	}
	json_decref(doc);
	return 0;
}

/* The patch from --set and --pg, the document it makes, the diff, the confirmation, then PATCH /config. */
static int config_edit(const ctl_spec *s, const ctl_args *a, const ctl_cluster *c, const target *t, fl_err *err)
{
	if (a->n_sets == 0 && a->n_pgs == 0)
		return fl_fail(err, FL_ERR_USAGE,
			       "edit-config: nothing to change\nHINT: give --set KEY=VALUE or --pg "
			       "NAME=VALUE");
	json_t *patch = json_object(), *cur = NULL, *next = NULL;
	int rc = 0;
	for (int i = 0; rc == 0 && i < a->n_sets; i++)
		rc = config_patch_set(patch, a->sets[i], false, err);
	for (int i = 0; rc == 0 && i < a->n_pgs; i++)
		rc = config_patch_set(patch, a->pgs[i], true, err);
	if (rc == 0 && (cur = config_get(s, a, c, t, err)) == NULL)
		rc = -1;
	if (rc == 0) {
		next = dynconf_merge(cur, patch);
		if (dynconf_check(next, err) < 0) {
			err->code = FL_ERR_USAGE;
			fl_err_prefix(err, "edit-config");
			rc = -1;
		}
	}
	if (rc == 0 && dynconf_diff(cur, next, stdout) == 0) {
		printf("Nothing to change: the configuration already says so.\n");
		rc = 1;
	}
	fflush(stdout);
	char token[CTL_TOKEN_MAX], token_from[2 * PATH_MAX + 64];
	if (rc == 0 && (ctl_token(s->name, a, t, token, sizeof token, token_from, sizeof token_from, err) < 0 ||
			ctl_confirm(s, a, c, err) < 0))
		rc = -1;
	if (rc == 0) {
		ctl_args one = *a;
		one.json = false;
		char *body = json_dumps(patch, JSON_COMPACT);
		http_answer r = {0};
		rc = ctl_send(s, &one, c, t, "PATCH", body, token, token_from, &r, err);
		free(body);
		if (rc == 0)
			printf("Configuration changed: every agent applies it at its next tick.\n");
		http_answer_clear(&r);
	}
	if (rc >= 0)
		explicit_bzero(token, sizeof token);
	json_decref(patch);
	json_decref(cur);
	json_decref(next);
	return rc > 0 ? 0 : rc;
}

/* ---- restart --pending ---- */

/* Polls until member runs again with no pending restart. */
static int restart_wait(const ctl_spec *s, const ctl_args *a, const target *t, const char *member, double start,
			fl_err *err)
{
	ctl_cluster *c = calloc(1, sizeof *c);
	if (c == NULL)
		return fl_fail(err, FL_ERR_INTERNAL, "%s: out of memory", s->name);
	int rc = -1;
	while (now_seconds() - start < a->wait_timeout) {
		struct timespec ts = {0, (long)(CTL_POLL_SECONDS * 1e9)};
		nanosleep(&ts, NULL);
		const ctl_member *m = ctl_cluster_fetch(s->name, t, c, NULL) == 0 ? ctl_member_find(c, member) : NULL;
		if (m != NULL && m->running && !m->pending_restart) {
			rc = 0;
			break;
		}
	}
	if (rc < 0)
		fl_fail(err, FL_ERR_TIMEOUT,
			"%s: %s does not run without a pending restart after %.0f s\nHINT: see flotilla list and its "
			"agent's log",
			s->name, member, a->wait_timeout);
	free(c);
	return rc;
}

static int restart_pending(const ctl_spec *s, const ctl_args *a, const ctl_cluster *c, const target *t, fl_err *err)
{
	const ctl_member *order[CLUSTER_MAX_MEMBERS];
	int n = 0;
	for (int pass = 0; pass < 2; pass++)
		for (int i = 0; i < c->n; i++)
			if (c->m[i].pending_restart && (strcmp(c->m[i].name, c->leader) == 0) == (pass == 1))
				order[n++] = &c->m[i];
	if (n == 0) {
		printf("No member of cluster %s has a pending restart.\n", c->scope);
		return 0;
	}
	char token[CTL_TOKEN_MAX], token_from[2 * PATH_MAX + 64];
	if (ctl_token(s->name, a, t, token, sizeof token, token_from, sizeof token_from, err) < 0 ||
	    ctl_confirm(s, a, c, err) < 0)
		return -1;
	int rc = 0;
	for (int i = 0; rc == 0 && i < n; i++) {
		ctl_args one = *a;
		one.member = order[i]->name;
		double start = now_seconds();
		printf("restarting %s (%s)\n", order[i]->name,
		       strcmp(order[i]->name, c->leader) == 0 ? "the leader, which keeps the leader key" : "a replica");
		fflush(stdout);
		http_answer r = {0};
		rc = ctl_send(s, &one, c, t, "POST", NULL, token, token_from, &r, err);
		http_answer_clear(&r);
		if (rc == 0 && (rc = restart_wait(s, a, t, order[i]->name, start, err)) == 0)
			printf("%s runs again without a pending restart after %.1f s\n", order[i]->name,
			       now_seconds() - start);
		fflush(stdout);
	}
	explicit_bzero(token, sizeof token);
	return rc;
}

static int ctl_act(const ctl_spec *s, ctl_args *a, const target *t, ctl_cluster *c, fl_err *err)
{
	if (s->kind == CTL_SHOW_CONFIG || s->kind == CTL_EDIT_CONFIG || a->pending) {
		if (ctl_cluster_fetch(s->name, t, c, err) < 0)
			return -1;
		if (s->kind == CTL_SHOW_CONFIG)
			return config_show(s, a, c, t, err);
		return s->kind == CTL_EDIT_CONFIG ? config_edit(s, a, c, t, err) : restart_pending(s, a, c, t, err);
	}
	char token[CTL_TOKEN_MAX], token_from[2 * PATH_MAX + 64];
	if (ctl_cluster_fetch(s->name, t, c, err) < 0 || ctl_check(s, a, c, err) < 0 ||
	    ctl_token(s->name, a, t, token, sizeof token, token_from, sizeof token_from, err) < 0 ||
	    ctl_confirm(s, a, c, err) < 0)
		return -1;
	char old_leader[CLUSTER_NAME_MAX];
	snprintf(old_leader, sizeof old_leader, "%s", c->leader);
	double start = now_seconds();
	http_answer r = {0};
	char *body = ctl_body(s, a);
	int rc = ctl_send(s, a, c, t, "POST", body, token, token_from, &r, err);
	free(body);
	explicit_bzero(token, sizeof token);
	if (rc == 0)
		ctl_print(a, &r);
	http_answer_clear(&r);
	if (rc < 0 || a->scheduled || (s->kind != CTL_SWITCHOVER && s->kind != CTL_FAILOVER))
		return rc;
	return ctl_wait_leader(s, a, old_leader, t, start, err);
}

static int ctl_run(ctl_kind kind, int argc, char **argv, fl_err *err)
{
	const ctl_spec *s = &ctl_specs[kind];
	ctl_args a;
	if (ctl_parse(s, argc, argv, &a, err) < 0)
		return -1;
	if (a.help) {
		ctl_usage(s, stdout);
		return 0;
	}
	target t;
	ctl_cluster *c = calloc(1, sizeof *c);
	if (c == NULL)
		return fl_fail(err, FL_ERR_INTERNAL, "%s: out of memory", s->name);
	int rc = target_resolve(s->name, &a.o, &t, err);
	if (rc == 0)
		rc = ctl_act(s, &a, &t, c, err);
	target_clear(&t);
	free(c);
	return rc;
}

int cmd_switchover(int argc, char **argv, fl_err *err) { return ctl_run(CTL_SWITCHOVER, argc, argv, err); }
int cmd_failover(int argc, char **argv, fl_err *err) { return ctl_run(CTL_FAILOVER, argc, argv, err); }
int cmd_pause(int argc, char **argv, fl_err *err) { return ctl_run(CTL_PAUSE, argc, argv, err); }
int cmd_resume(int argc, char **argv, fl_err *err) { return ctl_run(CTL_RESUME, argc, argv, err); }
int cmd_restart(int argc, char **argv, fl_err *err) { return ctl_run(CTL_RESTART, argc, argv, err); }
int cmd_reinit(int argc, char **argv, fl_err *err) { return ctl_run(CTL_REINIT, argc, argv, err); }
int cmd_show_config(int argc, char **argv, fl_err *err) { return ctl_run(CTL_SHOW_CONFIG, argc, argv, err); }
int cmd_edit_config(int argc, char **argv, fl_err *err) { return ctl_run(CTL_EDIT_CONFIG, argc, argv, err); }
