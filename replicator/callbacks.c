/*
 * callbacks: see callbacks.h.
 */
#include "callbacks.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "common/clock.h"
#include "common/log.h"
#include "common/proc.h"

struct callbacks {
	const options *o;
	struct event_base *base;
	proc *running;
	callback_event running_ev;
	char running_role[8];
};

callbacks *callbacks_new(const options *o, struct event_base *base)
{
	callbacks *c = calloc(1, sizeof *c);
	if (c != NULL) {
		c->o = o;
		c->base = base;
	}
	return c;
}

void callbacks_free(callbacks *c)
{
	if (c == NULL)
		return;
	proc_free(c->running);
	free(c);
}

static const char *program_of(const options *o, callback_event ev)
{
	switch (ev) {
	case CB_ON_START:
		return o->on_start;
	case CB_ON_STOP:
		return o->on_stop;
	case CB_ON_RESTART:
		return o->on_restart;
	case CB_ON_ROLE_CHANGE:
		return o->on_role_change;
	case CB_NONE:
		break;
	}
	return "";
}

static void on_done(void *arg, const proc_result *r)
{
	callbacks *c = arg;
	char how[256];
	proc_describe(r, c->o->callback_timeout, how, sizeof how);
	if (r->status == 0 && !r->timed_out)
		log_info("callback %s %s: done", callback_event_names[c->running_ev], c->running_role);
	else
		log_warn("callback %s %s: %s", callback_event_names[c->running_ev], c->running_role, how);
	proc_free(c->running);
	c->running = NULL;
}

/* The callback's standard error, line by line, in the agent's log. */
static void on_line(void *arg, const char *line)
{
	callbacks *c = arg;
	log_info("callback %s: %s", callback_event_names[c->running_ev], line);
}

void callbacks_run(callbacks *c, callback_event ev, const char *role)
{
	if (c == NULL || ev == CB_NONE)
		return;
	const char *prog = program_of(c->o, ev);
	if (prog == NULL || prog[0] == '\0')
		return;
	if (c->running != NULL) {
		log_warn("callback %s %s still runs after %.1f s: ended for %s", callback_event_names[c->running_ev],
			 c->running_role, proc_elapsed(c->running, clock_mono()), callback_event_names[ev]);
		proc_free(c->running);
		c->running = NULL;
	}
	char *argv[] = {(char *)prog, (char *)callback_event_names[ev], (char *)role, c->o->scope, NULL};
	proc_spec spec = {.path = prog,
			  .argv = argv,
			  .timeout = c->o->callback_timeout,
			  .on_line = on_line,
			  .on_done = on_done,
			  .arg = c,
			  .die_with_parent = false};
	fl_err err = {0};
	c->running_ev = ev;
	snprintf(c->running_role, sizeof c->running_role, "%s", role);
	c->running = proc_start(c->base, &spec, &err);
	if (c->running == NULL)
		log_warn("callback %s %s: %s", callback_event_names[ev], role, err.msg);
	else
		log_info("callback %s %s %s: %s started (pid %d)", callback_event_names[ev], role, c->o->scope, prog,
			 proc_pid(c->running));
}

void callbacks_run_detached(callbacks *c, callback_event ev, const char *role)
{
	if (c == NULL || ev == CB_NONE)
		return;
	const char *prog = program_of(c->o, ev);
	if (prog == NULL || prog[0] == '\0')
		return;
	char *argv[] = {(char *)prog, (char *)callback_event_names[ev], (char *)role, c->o->scope, NULL};
	/* Two forks: the program is nobody's child here, so it outlives the agent without becoming a zombie. */
	pid_t pid = fork();
	if (pid == 0) {
		setsid();
		if (fork() == 0) {
			/* As the runner's children start: standard input from /dev/null, nothing else of the agent's open,
			 * default signals. */
			int null = open("/dev/null", O_RDONLY | O_CLOEXEC);
			if (null >= 0)
				dup2(null, 0);
			for (int fd = 3; fd < 1024; fd++)
				close(fd);
			signal(SIGPIPE, SIG_DFL);
			sigset_t none;
			sigemptyset(&none);
			sigprocmask(SIG_SETMASK, &none, NULL);
			execv(prog, argv);
			_exit(127);
		}
		_exit(0);
	}
	if (pid < 0) {
		log_warn("callback %s %s: cannot fork: %s", callback_event_names[ev], role, strerror(errno));
		return;
	}
	while (waitpid(pid, NULL, 0) < 0 && errno == EINTR)
		;
	log_info("callback %s %s %s: %s started, detached", callback_event_names[ev], role, c->o->scope, prog);
}
