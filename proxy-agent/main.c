/*
 * flotilla-proxy-agent: keeps every HAProxy in front of a Flotilla cluster
 * exact. main owns the event loop (common/daemon): a poll timer reads the
 * cluster and pushes plan changes (at once when an etcd watch reports a
 * change), a reconcile timer repairs each HAProxy's
 * state, the agent-check server (on its own thread) answers HAProxy's agent
 * checks from the plan each read leaves, SIGHUP
 * reloads the settings marked reloadable, and SIGTERM hands every server
 * back to HAProxy's own health checks before exiting.
 */
#include <stddef.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>

#include <event2/event.h>

#include "check_server.h"
#include "common/clock.h"
#include "common/config.h"
#include "common/daemon.h"
#include "common/daemon_args.h"
#include "common/err.h"
#include "common/log.h"
#include "proxy.h"
#include "proxy_options.h"

typedef struct agent {
	proxy *proxy;
	proxy_options *o;
	check_server *checks;
	struct event *poll, *reconcile;
	double last_poll;  /* clock_mono */
	double metrics_at; /* clock_mono of the last metrics text published */
} agent;

/* Seconds between two renderings of the metrics text (a scrape every few seconds needs no more). */
#define METRICS_EVERY 1.0

/* The metrics text for /metrics, rendered at most every METRICS_EVERY seconds, off the 0.1 s poll's path. */
static void metrics_publish(agent *a)
{
	double now = clock_mono();
	if (a->metrics_at != 0 && now - a->metrics_at < METRICS_EVERY)
		return;
	a->metrics_at = now;
	check_server_publish_metrics(a->checks, proxy_metrics_text(a->proxy));
}

/* Changes closer together than this are read once. */
#define WATCH_COALESCE 0.02

static void on_poll(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	agent *a = arg;
	a->last_poll = clock_mono();
	proxy_poll(a->proxy);
	metrics_publish(a);
	daemon_timer_arm(a->poll, a->o->poll_interval);
}

/* etcd says the cluster changed: read it now, rather than at the next poll. */
static void on_change(void *arg)
{
	agent *a = arg;
	daemon_timer_arm(a->poll, a->last_poll + WATCH_COALESCE - clock_mono());
}

static void on_reconcile(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	agent *a = arg;
	proxy_reconcile(a->proxy);
	metrics_publish(a);
	daemon_timer_arm(a->reconcile, a->o->reconcile_interval);
}

/* SIGHUP: the reloadable settings take effect (a bad file changed nothing: daemon refused it). */
static bool on_reload(void *arg, void *next)
{
	agent *a = arg;
	proxy_options_apply_reloadable(a->o, next);
	log_level_parse(a->o->log_level, &log_threshold);
	proxy_reconfigure(a->proxy);
	return true;
}

/* SIGTERM: the agent checks stop answering first (an answer from the plan would undo the handback), then every
 * server goes back to HAProxy's own checks. */
static void on_stop(void *arg)
{
	agent *a = arg;
	check_server_publish(a->checks, NULL);
	proxy_release(a->proxy);
}

/* Each new plan reaches the agent checks before any HAProxy is told. */
static void on_plan(void *arg, const plan *pl) { check_server_publish(((agent *)arg)->checks, pl); }

/* The loader and releaser of the options, as daemon_args and daemon call them. */
static int proxy_options_load_opaque(void *o, const char *path, fl_err *err)
{
	return proxy_options_load(o, path, err);
}
static void proxy_options_free_opaque(void *o) { proxy_options_free(o); }

static void agent_end(agent *a)
{
	if (a->poll)
		event_free(a->poll);
	if (a->reconcile)
		event_free(a->reconcile);
	check_server_free(a->checks);
	proxy_free(a->proxy);
}

int main(int argc, char **argv)
{
	const daemon_info info = {
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
		sizeof(proxy_options),
	};
	proxy_options opts;
	const char *config_path = NULL;
	int rc = daemon_args_start(&info, argc, argv, &opts, &config_path);
	if (rc != DAEMON_ARGS_RUN)
		return rc;
	fl_err err = {0};
	agent a = {.o = &opts};
	daemon_loop *d = daemon_loop_new(&info, config_path, &err);
	a.proxy = d ? proxy_new(&opts, &err) : NULL;
	a.checks = a.proxy ? check_server_new(opts.agent_check_listen, opts.metrics_listen, &err) : NULL;
	if (a.checks == NULL) {
		agent_end(&a);
		daemon_loop_free(d);
		proxy_options_free(&opts);
		return daemon_fail(&err);
	}
	daemon_loop_hooks(d, &(daemon_hooks){.stop = on_stop, .reload = on_reload, .arg = &a});
	proxy_on_plan(a.proxy, on_plan, &a);
	log_info("flotilla-proxy-agent %s started (scope %s, %d haproxy, agent checks on %s, metrics on %s)",
		 FLOTILLA_VERSION, opts.scope, opts.haproxy_sockets.n, opts.agent_check_listen,
		 opts.metrics_listen[0] ? opts.metrics_listen : "none");
	/* Order: learn HAProxy's server names, read the cluster, then keep both in step. */
	proxy_reconcile(a.proxy);
	proxy_poll(a.proxy);
	proxy_reconcile(a.proxy);
	metrics_publish(&a);
	a.poll = evtimer_new(daemon_loop_base(d), on_poll, &a);
	a.reconcile = evtimer_new(daemon_loop_base(d), on_reconcile, &a);
	if (opts.etcd_watch && proxy_watch(a.proxy, daemon_loop_base(d), on_change, &a, &err) < 0)
		log_warn("no watch on etcd, polling only: %s", err.msg);
	daemon_timer_arm(a.poll, opts.poll_interval);
	daemon_timer_arm(a.reconcile, opts.reconcile_interval);
	daemon_loop_run(d);
	agent_end(&a);
	daemon_loop_free(d);
	proxy_options_free(&opts);
	log_info("stopped");
	return 0;
}
