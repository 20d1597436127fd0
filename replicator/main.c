/*
 * flotilla-replicator: the per-node agent. main owns the event loop: it
 * loads and validates the configuration, prepares the node (secrets, etcd,
 * an orphaned postmaster), then runs the HA tick on a timer and reacts to
 * signals: SIGCHLD (postmaster exit: tick now), SIGHUP (reload), SIGTERM and
 * SIGINT (clean shutdown). Exit codes are the error catalogue's codes.
 */
#include <event2/event.h>
#include <signal.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api.h"
#include "common/daemon_args.h"
#include "common/err.h"
#include "common/log.h"
#include "node.h"
#include "cluster/options.h"
#include "common/secret.h"

typedef struct agent {
	struct event_base *base;
	struct event *tick;
	node *node;
	api *api;
	api_snapshot snap; /* copied into the API after every tick */
	options *opts;
	const char *config_path;
} agent;

static void schedule(agent *a, double seconds)
{
	struct timeval tv = {(time_t)seconds, (suseconds_t)((seconds - (double)(time_t)seconds) * 1e6)};
	evtimer_add(a->tick, &tv);
}

/* A node's job ended: tick now. */
static void wake(void *arg) { schedule(arg, 0); }

static void on_tick(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	agent *a = arg;
	schedule(a, node_tick(a->node));
	node_api_snapshot(a->node, &a->snap);
	api_update(a->api, &a->snap);
}

static void on_sigchld(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	agent *a = arg;
	if (node_child_exited(a->node))
		schedule(a, 0);
}

static void on_sighup(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	agent *a = arg;
	options next;
	fl_err err = {0};
	if (options_load(&next, a->config_path, &err) < 0) {
		log_error("reload refused, keeping the running configuration: %s", err.msg);
		options_free(&next);
		return;
	}
	node_reload(a->node, &next);
	options_free(&next);
}

static void on_sigterm(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	agent *a = arg;
	node_shutdown(a->node);
	event_base_loopbreak(a->base);
}

/* The loader and releaser of the options, as daemon_args calls them. */
static int options_load_opaque(void *o, const char *path, fl_err *err) { return options_load(o, path, err); }
static void options_free_opaque(void *o) { options_free(o); }

int main(int argc, char **argv)
{
	const daemon_info d = {
		"flotilla-replicator",
		"replicator",
		"Runs beside one PostgreSQL node: bootstraps or clones it, holds or follows the\n"
		"leader lease in etcd, promotes, fences, follows and rejoins.",
		options_table,
		options_table_len,
		options_load_opaque,
		options_free_opaque,
		offsetof(options, name),
		offsetof(options, log_level),
	};
	options opts;
	const char *config_path = NULL;
	int rc = daemon_args_start(&d, argc, argv, &opts, &config_path);
	if (rc != DAEMON_ARGS_RUN)
		return rc;
	fl_err err = {0};
	signal(SIGPIPE, SIG_IGN);
	agent a = {.opts = &opts, .config_path = config_path};
	/* The API port is taken before node_start: a busy port fails the start before anything is touched. */
	a.base = event_base_new();
	char token[256] = "";
	if (opts.api_token_file[0] && secret_read("api token", opts.api_token_file, token, sizeof token, &err) < 0) {
		event_base_free(a.base);
		options_free(&opts);
		return daemon_fail(&err);
	}
	a.tick = evtimer_new(a.base, on_tick, &a);
	a.node = node_new(&opts, a.base, wake, &a, &err);
	a.api = a.node ? api_new(a.base, opts.api_listen, token, node_command, a.node, &err) : NULL;
	explicit_bzero(token, sizeof token);
	if (a.api == NULL || node_start(a.node, &err) < 0) {
		node_free(a.node);
		api_free(a.api);
		event_base_free(a.base);
		options_free(&opts);
		return daemon_fail(&err);
	}
	log_info("flotilla-replicator %s started (scope %s, ttl %ld s, loop_wait %g s)", FLOTILLA_VERSION, opts.scope,
		 opts.ttl, opts.loop_wait);
	struct event *sigs[] = {
		evsignal_new(a.base, SIGCHLD, on_sigchld, &a),
		evsignal_new(a.base, SIGHUP, on_sighup, &a),
		evsignal_new(a.base, SIGTERM, on_sigterm, &a),
		evsignal_new(a.base, SIGINT, on_sigterm, &a),
	};
	for (unsigned i = 0; i < sizeof sigs / sizeof sigs[0]; i++)
		evsignal_add(sigs[i], NULL);
	schedule(&a, 0);
	event_base_dispatch(a.base);
	for (unsigned i = 0; i < sizeof sigs / sizeof sigs[0]; i++)
		event_free(sigs[i]);
	event_free(a.tick);
	api_free(a.api);
	event_base_free(a.base);
	node_free(a.node);
	options_free(&opts);
	log_info("stopped");
	return 0;
}
