/*
 * daemon: the loop scaffold and its signals.
 */
#include "daemon.h"

#include <signal.h>
#include <sys/resource.h>
#include <stdlib.h>

#include <event2/event.h>

#include "log.h"

struct daemon_loop {
	struct event_base *base;
	const daemon_info *info;
	const char *config_path;
	daemon_hooks hooks;
	struct event *sigs[3];
};

static void on_stop(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	daemon_loop *d = arg;
	if (d->hooks.stop)
		d->hooks.stop(d->hooks.arg);
	event_base_loopbreak(d->base);
}

static void on_reload(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	daemon_loop *d = arg;
	void *next = calloc(1, d->info->opts_size);
	fl_err err = {0};
	if (next == NULL) {
		log_error("reload refused: out of memory");
		return;
	}
	if (d->info->load(next, d->config_path, &err) < 0) {
		log_error("reload refused, keeping the running configuration: %s", err.msg);
	} else if (d->hooks.reload && d->hooks.reload(d->hooks.arg, next)) {
		log_info("configuration reloaded from %s", d->config_path ? d->config_path : "the environment");
	}
	d->info->free(next);
	free(next);
}

daemon_loop *daemon_loop_new(const daemon_info *info, const char *config_path, fl_err *err)
{
	daemon_loop *d = calloc(1, sizeof *d);
	if (d == NULL || (d->base = event_base_new()) == NULL) {
		free(d);
		fl_fail(err, FL_ERR_INTERNAL, "daemon: cannot make the event loop");
		return NULL;
	}
	d->info = info;
	d->config_path = config_path;
	signal(SIGPIPE, SIG_IGN);
	/* As many file descriptors as we may have: listeners cap their connections below the limit. */
	struct rlimit rl;
	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
		rl.rlim_cur = rl.rlim_max;
		setrlimit(RLIMIT_NOFILE, &rl);
	}
	d->sigs[0] = evsignal_new(d->base, SIGTERM, on_stop, d);
	d->sigs[1] = evsignal_new(d->base, SIGINT, on_stop, d);
	d->sigs[2] = evsignal_new(d->base, SIGHUP, on_reload, d);
	for (unsigned i = 0; i < sizeof d->sigs / sizeof d->sigs[0]; i++) {
		if (d->sigs[i] == NULL || evsignal_add(d->sigs[i], NULL) < 0) {
			daemon_loop_free(d);
			fl_fail(err, FL_ERR_INTERNAL, "daemon: cannot watch the signals");
			return NULL;
		}
	}
	return d;
}

void daemon_loop_hooks(daemon_loop *d, const daemon_hooks *hooks) { d->hooks = *hooks; }

struct event_base *daemon_loop_base(const daemon_loop *d) { return d->base; }

int daemon_loop_run(daemon_loop *d)
{
	event_base_dispatch(d->base);
	return 0;
}

void daemon_loop_free(daemon_loop *d)
{
	if (d == NULL)
		return;
	for (unsigned i = 0; i < sizeof d->sigs / sizeof d->sigs[0]; i++)
		if (d->sigs[i])
			event_free(d->sigs[i]);
	event_base_free(d->base);
	free(d);
}

void daemon_timer_arm(struct event *timer, double seconds)
{
	if (seconds < 0)
		seconds = 0;
	struct timeval tv = {(time_t)seconds, (suseconds_t)((seconds - (double)(time_t)seconds) * 1e6)};
	evtimer_add(timer, &tv);
}
