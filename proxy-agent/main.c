/*
 * flotilla-proxy-agent: keeps every HAProxy in front of a Flotilla cluster
 * exact. main owns the event loop: a poll timer reads the cluster and pushes
 * plan changes, a reconcile timer repairs each HAProxy's state, the agent-
 * check server answers HAProxy's agent checks, SIGHUP reloads the settings
 * marked reloadable, and SIGTERM hands every server back to HAProxy's own
 * health checks before exiting.
 */
#include <signal.h>
#include <stddef.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>

#include <event2/event.h>

#include "check_server.h"
#include "common/daemon_args.h"
#include "common/config.h"
#include "common/err.h"
#include "common/log.h"
#include "proxy.h"
#include "proxy_options.h"

typedef struct agent {
	struct event_base *base;
	proxy *proxy;
	proxy_options *o;
	const char *config_path;
	struct event *poll, *reconcile;
} agent;

static void arm(struct event *ev, double seconds)
{
	struct timeval tv = {(time_t)seconds, (suseconds_t)((seconds - (double)(time_t)seconds) * 1e6)};
	evtimer_add(ev, &tv);
}

static void on_poll(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	agent *a = arg;
	proxy_poll(a->proxy);
	arm(a->poll, a->o->poll_interval);
}

static void on_reconcile(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	agent *a = arg;
	proxy_reconcile(a->proxy);
	arm(a->reconcile, a->o->reconcile_interval);
}

/* SIGHUP: the file again; the reloadable settings take effect, a bad file changes nothing. */
static void on_sighup(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	agent *a = arg;
	proxy_options next;
	fl_err err = {0};
	if (proxy_options_load(&next, a->config_path, &err) < 0) {
		log_error("reload refused, keeping the running configuration: %s", err.msg);
		proxy_options_free(&next);
		return;
	}
	proxy_options_apply_reloadable(a->o, &next);
	proxy_options_free(&next);
	log_level_parse(a->o->log_level, &log_threshold);
	proxy_reconfigure(a->proxy);
	log_info("configuration reloaded from %s", a->config_path ? a->config_path : "the environment");
}

static void on_sigterm(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	agent *a = arg;
	proxy_release(a->proxy);
	event_base_loopbreak(a->base);
}

/* The loader and releaser of the options, as daemon_args calls them. */
static int proxy_options_load_opaque(void *o, const char *path, fl_err *err)
{
	return proxy_options_load(o, path, err);
}
static void proxy_options_free_opaque(void *o) { proxy_options_free(o); }

int main(int argc, char **argv)
{
	const daemon_info d = {
		"flotilla-proxy-agent",
		"proxy-agent",
		"Steers HAProxy in front of a Flotilla cluster: the leader alone ready in rw, the\n"
		"replicas weighted by lag in ro, through the Runtime API and agent checks.",
		proxy_options_table,
		proxy_options_table_len,
		proxy_options_load_opaque,
		proxy_options_free_opaque,
		offsetof(proxy_options, name),
		offsetof(proxy_options, log_level),
	};
	proxy_options opts;
	const char *config_path = NULL;
	int rc = daemon_args_start(&d, argc, argv, &opts, &config_path);
	if (rc != DAEMON_ARGS_RUN)
		return rc;
	fl_err err = {0};
	signal(SIGPIPE, SIG_IGN);
	agent a = {.o = &opts, .config_path = config_path, .base = event_base_new()};
	a.proxy = proxy_new(&opts, &err);
	check_server *checks = a.proxy ? check_server_new(a.base, opts.agent_check_listen, a.proxy, &err) : NULL;
	if (checks == NULL) {
		proxy_free(a.proxy);
		event_base_free(a.base);
		proxy_options_free(&opts);
		return daemon_fail(&err);
	}
	log_info("flotilla-proxy-agent %s started (scope %s, %d haproxy, agent checks on %s)", FLOTILLA_VERSION,
		 opts.scope, opts.haproxy_sockets.n, opts.agent_check_listen);
	/* Order: learn HAProxy's server names, read the cluster, then keep both in step. */
	proxy_reconcile(a.proxy);
	proxy_poll(a.proxy);
	proxy_reconcile(a.proxy);
	a.poll = evtimer_new(a.base, on_poll, &a);
	a.reconcile = evtimer_new(a.base, on_reconcile, &a);
	arm(a.poll, opts.poll_interval);
	arm(a.reconcile, opts.reconcile_interval);
	struct event *sigs[] = {evsignal_new(a.base, SIGTERM, on_sigterm, &a),
				evsignal_new(a.base, SIGINT, on_sigterm, &a),
				evsignal_new(a.base, SIGHUP, on_sighup, &a)};
	for (unsigned i = 0; i < sizeof sigs / sizeof sigs[0]; i++)
		evsignal_add(sigs[i], NULL);
	event_base_dispatch(a.base);
	for (unsigned i = 0; i < sizeof sigs / sizeof sigs[0]; i++)
		event_free(sigs[i]);
	event_free(a.poll);
	event_free(a.reconcile);
	check_server_free(checks);
	proxy_free(a.proxy);
	event_base_free(a.base);
	proxy_options_free(&opts);
	log_info("stopped");
	return 0;
}
