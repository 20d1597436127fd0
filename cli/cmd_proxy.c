/*
 * cmd_proxy: drain and ready; see cmd_proxy.h.
 */
#include "cmd_proxy.h"

#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "common/clock.h"
#include "cluster/cluster.h"
#include "common/etcd.h"
#include "target.h"

#define DRAIN_DEFAULT_WAIT 60.0
#define DRAIN_POLL_SECONDS 0.2

enum { PROXY_OPT_WAIT = 0x200, PROXY_OPT_WAIT_TIMEOUT };

typedef struct proxy_args {
	target_opts o;
	const char *node;
	bool wait;
	double wait_timeout;
	bool help;
} proxy_args;

static void proxy_usage(const char *cmd, FILE *f)
{
	if (strcmp(cmd, "drain") == 0)
		fprintf(f,
			"Usage: flotilla drain NODE [--wait] [--wait-timeout SECONDS] [OPTIONS]\n\n"
			"Takes NODE out of HAProxy's read-only pool on every HAProxy that a flotilla-proxy-agent\n"
			"of the cluster steers: no new sessions reach it, the open ones run to their end. The\n"
			"drain is kept in etcd until `flotilla ready NODE`, across agent restarts.\n\n"
			"  --wait                  wait until no HAProxy holds a read-only session to NODE\n"
			"  --wait-timeout SECONDS  how long --wait waits (default %.0f); exit 9 when exceeded\n",
			DRAIN_DEFAULT_WAIT);
	else
		fprintf(f, "Usage: flotilla ready NODE [OPTIONS]\n\n"
			   "Ends a drain: NODE takes read-only sessions again once its lag allows.\n");
	fprintf(f, "\nThe cluster must be named through etcd (--dir, --etcd or --config): drains are etcd keys.\n");
	target_usage(f);
}

typedef struct proxy_parsing {
	const char *cmd;
	proxy_args *a;
} proxy_parsing;

/* --wait and --wait-timeout, of drain only (a target_own_fn). */
static int proxy_opt(void *self, int c, const char *value, const char *arg, fl_err *err)
{
	(void)arg;
	proxy_parsing *p = self;
	if (strcmp(p->cmd, "drain") != 0)
		return 1;
	if (c == PROXY_OPT_WAIT) {
		p->a->wait = true;
		return 0;
	}
	if (c == PROXY_OPT_WAIT_TIMEOUT)
		return target_seconds(p->cmd, "wait-timeout", value, 86400, &p->a->wait_timeout, err);
	return 1;
}

static int proxy_parse(const char *cmd, int argc, char **argv, proxy_args *a, fl_err *err)
{
	static const struct option longopts[] = {
		TARGET_LONGOPTS,
		{"wait", no_argument, NULL, PROXY_OPT_WAIT},
		{"wait-timeout", required_argument, NULL, PROXY_OPT_WAIT_TIMEOUT},
		{"help", no_argument, NULL, 'h'},
		{NULL, 0, NULL, 0},
	};
	memset(a, 0, sizeof *a);
	a->wait_timeout = DRAIN_DEFAULT_WAIT;
	proxy_parsing p = {cmd, a};
	if (target_getopt(cmd, argc, argv, longopts, &a->o, proxy_opt, &p, &a->help, err) < 0)
		return -1;
	if (a->help)
		return 0;
	if (optind >= argc)
		return fl_fail(err, FL_ERR_USAGE, "%s: which node?\nHINT: flotilla %s NODE", cmd, cmd);
	a->node = argv[optind++];
	if (optind < argc)
		return fl_fail(err, FL_ERR_USAGE, "%s: unexpected argument \"%s\"\nHINT: run flotilla %s --help", cmd,
			       argv[optind], cmd);
	return 0;
}

/* The node must be a member of the cluster (a drain of a typo would wait forever for nothing). */
static int node_check(const char *cmd, const target *t, const char *node, char *root, size_t root_len, fl_err *err)
{
	etcd_kvs kvs = {0};
	if (target_read_cluster(t, root, root_len, &kvs, err) < 0) {
		fl_err_prefix(err, "%s", cmd);
		return -1;
	}
	cluster_view *v = calloc(1, sizeof *v);
	int rc = 0;
	if (v == NULL)
		rc = fl_fail(err, FL_ERR_INTERNAL, "%s: out of memory", cmd);
	else if (cluster_parse(&kvs, root, v, NULL), cluster_member(v, node) == NULL)
		rc = fl_fail(err, FL_ERR_NOT_FOUND,
			     "%s: no member \"%s\" in cluster \"%s\"\nHINT: flotilla list shows the members", cmd, node,
			     t->scope);
	free(v);
	etcd_kvs_free(&kvs);
	return rc;
}

/*
 * Whether every live agent's record, published after the drain (revision),
 * shows the node out of ro with no session on every HAProxy it reaches.
 * *sessions gets the sessions still open, *agents the records read.
 */
static bool drained_everywhere(const etcd_kvs *kvs, const char *node, int64_t revision, long *sessions, int *agents)
{
	bool done = true;
	*sessions = 0;
	*agents = 0;
	for (int k = 0; k < kvs->n; k++) {
		json_t *rec = json_loads(kvs->v[k].value, 0, NULL);
		json_t *list = json_object_get(rec, "haproxies");
		(*agents)++;
		if (kvs->v[k].mod_revision <= revision || !json_is_array(list))
			done = false;
		size_t i;
		json_t *h;
		json_array_foreach(list, i, h)
		{
			if (!json_is_true(json_object_get(h, "up")))
				continue;
			json_t *s = json_object_get(json_object_get(json_object_get(h, "servers"), "ro"), node);
			const char *state = json_string_value(json_object_get(s, "state"));
			json_int_t n = json_integer_value(json_object_get(s, "sessions"));
			if (s == NULL)
				continue; /* this HAProxy has no such server */
			if (state == NULL || strcmp(state, "ready") == 0 || n != 0)
				done = false;
			*sessions += n > 0 ? (long)n : 0;
		}
		json_decref(rec);
	}
	return done;
}

static int drain_wait(const target *t, const char *root, const char *node, int64_t revision, double timeout,
		      fl_err *err)
{
	char prefix[320];
	keys_folder(root, KEY_PROXY, prefix, sizeof prefix);
	etcd *e = target_etcd(t, err);
	if (e == NULL)
		return -1;
	double deadline = clock_mono() + timeout;
	long sessions = 0;
	int agents = 0, rc = -1;
	for (;;) {
		etcd_kvs kvs = {0};
		if (etcd_get_prefix(e, prefix, &kvs, err) < 0)
			break;
		bool done = drained_everywhere(&kvs, node, revision, &sessions, &agents);
		etcd_kvs_free(&kvs);
		if (agents == 0) {
			fl_fail(err, FL_ERR_NOT_FOUND,
				"drain: no flotilla-proxy-agent publishes its state under %s: nothing to wait "
				"for\nHINT: is a proxy agent running for cluster \"%s\"?",
				prefix, t->scope);
			break;
		}
		if (done) {
			rc = 0;
			break;
		}
		if (clock_mono() >= deadline) {
			fl_fail(err, FL_ERR_TIMEOUT,
				"drain: %s still has %ld read-only session%s after %.0f s (%d proxy agent%s)\nHINT: "
				"the drain stays; the sessions end when their clients close them",
				node, sessions, sessions == 1 ? "" : "s", timeout, agents, agents == 1 ? "" : "s");
			break;
		}
		clock_sleep(DRAIN_POLL_SECONDS);
	}
	etcd_free(e);
	return rc;
}

static int proxy_run(const char *cmd, int argc, char **argv, fl_err *err)
{
	proxy_args a;
	if (proxy_parse(cmd, argc, argv, &a, err) < 0)
		return -1;
	if (a.help) {
		proxy_usage(cmd, stdout);
		return 0;
	}
	target t;
	char root[256], key[384];
	int rc = target_resolve(cmd, &a.o, &t, err);
	if (rc == 0 && t.kind != TARGET_ETCD)
		rc = fl_fail(err, FL_ERR_USAGE,
			     "%s: drains are etcd keys: name the cluster with --dir, --etcd or --config, not --api",
			     cmd);
	if (rc == 0)
		rc = node_check(cmd, &t, a.node, root, sizeof root, err);
	if (rc < 0) {
		target_clear(&t);
		return -1;
	}
	keys_path(root, KEY_DRAIN, a.node, key, sizeof key);
	etcd *e = target_etcd(&t, err);
	if (e == NULL) {
		target_clear(&t);
		return -1;
	}
	etcd_kv kv = {0};
	bool found = false;
	if (strcmp(cmd, "ready") == 0) {
		rc = etcd_delete(e, key, err);
		if (rc == 0)
			printf("%s: ready: back in the read-only pool once its lag allows\n", a.node);
	} else {
		char value[96];
		snprintf(value, sizeof value, "{\"at\": %.3f}", clock_wall());
		rc = etcd_put(e, key, value, 0, err);
		if (rc == 0)
			rc = etcd_get(e, key, &kv, &found, err);
		if (rc == 0)
			printf("%s: drained: no new read-only sessions%s\n", a.node,
			       a.wait ? "; waiting for the open ones to end" : "");
	}
	etcd_free(e);
	if (rc == 0 && a.wait && found && drain_wait(&t, root, a.node, kv.mod_revision, a.wait_timeout, err) < 0)
		rc = -1;
	else if (rc == 0 && a.wait)
		printf("%s: no read-only session left on any HAProxy\n", a.node);
	if (rc < 0 && err != NULL && strncmp(err->msg, cmd, strlen(cmd)) != 0 && strncmp(err->msg, "drain:", 6) != 0)
		fl_err_prefix(err, "%s", cmd);
	etcd_kv_clear(&kv);
	target_clear(&t);
	return rc;
}

int cmd_drain(int argc, char **argv, fl_err *err) { return proxy_run("drain", argc, argv, err); }
int cmd_ready(int argc, char **argv, fl_err *err) { return proxy_run("ready", argc, argv, err); }
