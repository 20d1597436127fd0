/*
 * flotilla-replicator: the per-node agent. main owns the event loop
 * (common/daemon): it loads and validates the configuration, takes the API
 * port, prepares the node (secrets, etcd, an orphaned postmaster), then runs
 * the HA tick on a timer and reacts to signals: SIGCHLD (postmaster exit:
 * tick now), SIGHUP (reload), SIGTERM and SIGINT (clean shutdown). Exit codes
 * are the error catalogue's codes.
 */
#include <event2/event.h>
#include <signal.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api.h"
#include "cluster/options.h"
#include "common/daemon.h"
#include "common/daemon_args.h"
#include "common/err.h"
#include "common/log.h"
#include "common/secret.h"
#include "common/tls.h"
#include "node.h"

typedef struct agent {
	struct event *tick;
	node *node;
	api *api;
	api_snapshot snap; /* copied into the API after every tick */
} agent;

/* A node's job ended: tick now. */
static void wake(void *arg) { daemon_timer_arm(((agent *)arg)->tick, 0); }

static void on_tick(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	agent *a = arg;
	daemon_timer_arm(a->tick, node_tick(a->node));
	node_api_snapshot(a->node, &a->snap);
	api_update(a->api, &a->snap);
}

static void on_sigchld(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	agent *a = arg;
	if (node_child_exited(a->node))
		daemon_timer_arm(a->tick, 0);
}

static bool on_reload(void *arg, void *next) { return node_reload(((agent *)arg)->node, next); }

static void on_stop(void *arg) { node_shutdown(((agent *)arg)->node); }

/* The loader and releaser of the options, as daemon_args and daemon call them. */
static int options_load_opaque(void *o, const char *path, fl_err *err) { return options_load(o, path, err); }
static void options_free_opaque(void *o) { options_free(o); }

/* Node and API, in that order; the API port is taken before node_start, so a busy port fails the start untouched. */
static int agent_start(agent *a, daemon_loop *d, options *opts, const char *argv0, fl_err *err)
{
	struct event_base *base = daemon_loop_base(d);
	char token[256] = "";
	if (opts->api_token_file[0] && secret_read("api token", opts->api_token_file, token, sizeof token, err) < 0)
		return -1;
	a->tick = evtimer_new(base, on_tick, a);
	a->node = node_new(opts, base, argv0, wake, a, err);
	/* HTTPS on the API: the certificate and key are checked before anything starts. */
	tls_ctx *tls = NULL;
	if (a->node != NULL && opts->api_cert_file[0] != '\0' &&
	    (tls = tls_server_new(opts->api_cert_file, opts->api_key_file, NULL, err)) == NULL)
		fl_err_prefix(err, "config: api_cert_file");
	a->api = a->node && (tls || opts->api_cert_file[0] == '\0')
			 ? api_new(base, opts->api_listen, token, tls, node_command, a->node, err)
			 : NULL;
	tls_ctx_free(tls);
	explicit_bzero(token, sizeof token);
	if (a->api == NULL || node_start(a->node, err) < 0)
		return -1;
	daemon_loop_hooks(d, &(daemon_hooks){.stop = on_stop, .reload = on_reload, .arg = a});
	return 0;
}

static void agent_end(agent *a)
{
	/* The node first: its jobs' events belong to the loop's base. */
	node_free(a->node);
	api_free(a->api);
	if (a->tick)
		event_free(a->tick);
}

int main(int argc, char **argv)
{
	const daemon_info info = {
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
		sizeof(options),
	};
	options opts;
	const char *config_path = NULL;
	int rc = daemon_args_start(&info, argc, argv, &opts, &config_path);
	if (rc != DAEMON_ARGS_RUN)
		return rc;
	fl_err err = {0};
	agent a = {0};
	daemon_loop *d = daemon_loop_new(&info, config_path, &err);
	if (d == NULL || agent_start(&a, d, &opts, argv[0], &err) < 0) {
		agent_end(&a);
		daemon_loop_free(d);
		options_free(&opts);
		return daemon_fail(&err);
	}
	log_info("flotilla-replicator %s started (scope %s, ttl %ld s, loop_wait %g s)", FLOTILLA_VERSION, opts.scope,
		 opts.ttl, opts.loop_wait);
	struct event *sigchld = evsignal_new(daemon_loop_base(d), SIGCHLD, on_sigchld, &a);
	evsignal_add(sigchld, NULL);
	daemon_timer_arm(a.tick, 0);
	daemon_loop_run(d);
	event_free(sigchld);
	agent_end(&a);
	daemon_loop_free(d);
	options_free(&opts);
	log_info("stopped");
	return 0;
}
