/*
 * proc: fork, exec and reap on the event loop. The child gets its own
 * process group (a timeout or proc_free ends the program and whatever it
 * started), default signal dispositions, /dev/null as standard input, and
 * no descriptor of the daemon beyond the three standard ones. Exits are
 * seen through SIGCHLD, with waitpid on this child's pid only, so other
 * children of the daemon (a postmaster) are left to their owner.
 */
#include "proc.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <event2/event.h>

#include "clock.h"
#include "daemon.h"

#define PROC_TAIL_MAX 1024   /* bytes of standard error kept for the error message */
#define PROC_LINE_MAX 4096   /* a longer line is handed over in pieces */
#define PROC_KILL_AFTER 5.0  /* seconds from SIGTERM to SIGKILL on a timeout */
#define PROC_DRAIN_GRACE 1.0 /* seconds the pipes may stay open after the exit (a grandchild holding them) */

struct proc {
	struct event_base *base;
	pid_t pid;
	bool reaped;
	int status;
	bool timed_out;
	bool term_sent;
	double started;
	proc_spec spec;
	char **argv; /* copies */
	char **env;
	char *path;
	int out_fd, err_fd; /* -1 once at EOF */
	struct event *out_ev, *err_ev, *sig_ev, *timer_ev;
	char *out; /* captured standard output */
	size_t out_len;
	bool out_truncated;
	struct evbuffer *err_buf;
	char tail[PROC_TAIL_MAX];
};

static char **strv_copy(char *const *v)
{
	size_t n = 0;
	while (v && v[n])
		n++;
	char **c = calloc(n + 1, sizeof *c);
	for (size_t i = 0; c && i < n; i++)
		c[i] = strdup(v[i]);
	return c;
}

static void strv_free(char **v)
{
	for (size_t i = 0; v && v[i]; i++)
		free(v[i]);
	free(v);
}

/* Keeps the last PROC_TAIL_MAX bytes of standard error, whole lines where it can. */
static void tail_add(proc *p, const char *line)
{
	size_t have = strlen(p->tail), add = strlen(line) + 1;
	if (add >= sizeof p->tail) {
		snprintf(p->tail, sizeof p->tail, "%s", line + (add - sizeof p->tail));
		return;
	}
	while (have + add >= sizeof p->tail) {
		char *nl = strchr(p->tail, '\n');
		size_t drop = nl ? (size_t)(nl - p->tail) + 1 : have;
		memmove(p->tail, p->tail + drop, have - drop + 1);
		have -= drop;
	}
	snprintf(p->tail + have, sizeof p->tail - have, "%s%s", have ? "\n" : "", line);
}

static void line_out(proc *p, const char *line)
{
	if (line[0] == '\0')
		return;
	tail_add(p, line);
	if (p->spec.on_line)
		p->spec.on_line(p->spec.arg, line);
}

static void err_lines(proc *p, bool eof)
{
	char *line;
	size_t n;
	while ((line = evbuffer_readln(p->err_buf, &n, EVBUFFER_EOL_ANY)) != NULL) {
		line_out(p, line);
		free(line);
	}
	size_t left = evbuffer_get_length(p->err_buf);
	if (left >= PROC_LINE_MAX || (eof && left > 0)) {
		char piece[PROC_LINE_MAX + 1];
		size_t k = evbuffer_remove(p->err_buf, piece, left < PROC_LINE_MAX ? left : PROC_LINE_MAX);
		piece[k] = '\0';
		line_out(p, piece);
	}
}

static bool finished(const proc *p) { return p->reaped && p->out_fd < 0 && p->err_fd < 0; }

static void close_pipe(int *fd, struct event **ev)
{
	if (*ev) {
		event_free(*ev);
		*ev = NULL;
	}
	if (*fd >= 0) {
		close(*fd);
		*fd = -1;
	}
}

/* The end: on_done is the last thing done with p, which it may free. */
static void finish(proc *p)
{
	close_pipe(&p->out_fd, &p->out_ev);
	if (p->err_fd >= 0) {
		close_pipe(&p->err_fd, &p->err_ev);
		err_lines(p, true);
	}
	if (p->timer_ev)
		event_del(p->timer_ev);
	if (p->sig_ev)
		event_del(p->sig_ev);
	proc_result r = {
		.status = p->status,
		.timed_out = p->timed_out,
		.out = p->out ? p->out : "",
		.out_len = p->out_len,
		.out_truncated = p->out_truncated,
		.err_tail = p->tail,
	};
	proc_done_fn done = p->spec.on_done;
	void *arg = p->spec.arg;
	p->spec.on_done = NULL;
	if (done)
		done(arg, &r);
}

static void on_out(evutil_socket_t fd, short what, void *arg)
{
	(void)what;
	proc *p = arg;
	char buf[8192];
	ssize_t r = read(fd, buf, sizeof buf);
	if (r < 0 && (errno == EINTR || errno == EAGAIN))
		return;
	if (r <= 0) {
		close_pipe(&p->out_fd, &p->out_ev);
		if (finished(p))
			finish(p);
		return;
	}
	size_t keep = p->out_len + (size_t)r > p->spec.capture_max ? p->spec.capture_max - p->out_len : (size_t)r;
	if (keep < (size_t)r)
		p->out_truncated = true;
	memcpy(p->out + p->out_len, buf, keep);
	p->out_len += keep;
	p->out[p->out_len] = '\0';
}

static void on_err(evutil_socket_t fd, short what, void *arg)
{
	(void)what;
	proc *p = arg;
	char buf[4096];
	ssize_t r = read(fd, buf, sizeof buf);
	if (r < 0 && (errno == EINTR || errno == EAGAIN))
		return;
	if (r <= 0) {
		close_pipe(&p->err_fd, &p->err_ev);
		err_lines(p, true);
		if (finished(p))
			finish(p);
		return;
	}
	evbuffer_add(p->err_buf, buf, (size_t)r);
	err_lines(p, false);
}

static void arm(proc *p, double seconds) { daemon_timer_arm(p->timer_ev, seconds); }

static void reap(proc *p)
{
	int st = 0;
	if (p->reaped || waitpid(p->pid, &st, WNOHANG) != p->pid)
		return;
	p->reaped = true;
	p->status = WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
	if (finished(p)) {
		finish(p);
		return;
	}
	arm(p, PROC_DRAIN_GRACE);
}

static void on_sigchld(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	reap(arg);
}

static void on_timer(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	proc *p = arg;
	if (p->reaped) { /* the drain grace is over */
		finish(p);
		return;
	}
	if (!p->term_sent) {
		p->timed_out = true;
		p->term_sent = true;
		kill(-p->pid, SIGTERM);
		arm(p, PROC_KILL_AFTER);
		return;
	}
	kill(-p->pid, SIGKILL);
}

static void child(const proc *p, int out_w, int err_w, pid_t parent)
{
	setpgid(0, 0);
	if (p->spec.die_with_parent && (prctl(PR_SET_PDEATHSIG, SIGKILL) < 0 || getppid() != parent))
		_exit(127);
	sigset_t none;
	sigemptyset(&none);
	sigprocmask(SIG_SETMASK, &none, NULL);
	signal(SIGPIPE, SIG_DFL);
	int null = open("/dev/null", O_RDWR);
	dup2(null, 0);
	dup2(out_w >= 0 ? out_w : null, 1);
	dup2(err_w, 2);
	for (int fd = 3; fd < 1024; fd++)
		close(fd);
	for (size_t i = 0; p->env && p->env[i]; i++)
		putenv(p->env[i]);
	execv(p->path, p->argv);
	dprintf(2, "cannot execute %s: %s\n", p->path, strerror(errno));
	_exit(127);
}

static int pipes(int out[2], int err[2], bool capture)
{
	out[0] = out[1] = err[0] = err[1] = -1;
	if (capture && pipe2(out, O_CLOEXEC) < 0)
		return -1;
	if (pipe2(err, O_CLOEXEC) < 0) {
		if (capture) {
			close(out[0]);
			close(out[1]);
		}
		return -1;
	}
	return 0;
}

proc *proc_start(struct event_base *base, const proc_spec *spec, fl_err *err)
{
	proc *p = calloc(1, sizeof *p);
	if (p == NULL) {
		fl_fail(err, FL_ERR_INTERNAL, "proc: out of memory");
		return NULL;
	}
	p->base = base;
	p->spec = *spec;
	p->out_fd = p->err_fd = -1;
	p->path = strdup(spec->path);
	p->argv = strv_copy(spec->argv);
	p->env = strv_copy(spec->env);
	p->err_buf = evbuffer_new();
	p->out = spec->capture_max ? malloc(spec->capture_max + 1) : NULL;
	if (p->out)
		p->out[0] = '\0';
	p->sig_ev = evsignal_new(base, SIGCHLD, on_sigchld, p);
	p->timer_ev = evtimer_new(base, on_timer, p);
	int out[2], errp[2];
	if (!p->path || !p->argv || !p->env || !p->err_buf || (spec->capture_max && !p->out) || !p->sig_ev ||
	    !p->timer_ev) {
		fl_fail(err, FL_ERR_INTERNAL, "proc: out of memory");
		proc_free(p);
		return NULL;
	}
	if (pipes(out, errp, spec->capture_max > 0) < 0) {
		fl_fail(err, FL_ERR_IO, "%s: pipe: %s", spec->path, strerror(errno));
		proc_free(p);
		return NULL;
	}
	/* The SIGCHLD event is in place before the fork, so that an exit at once is not missed. */
	event_add(p->sig_ev, NULL);
	p->started = clock_mono();
	pid_t parent = getpid();
	p->pid = fork();
	if (p->pid < 0) {
		int e = errno;
		for (int i = 0; i < 2; i++) {
			if (out[i] >= 0)
				close(out[i]);
			close(errp[i]);
		}
		p->pid = 0;
		fl_fail(err, FL_ERR_IO, "%s: fork: %s", spec->path, strerror(e));
		proc_free(p);
		return NULL;
	}
	if (p->pid == 0)
		child(p, out[1], errp[1], parent);
	setpgid(p->pid, p->pid); /* also here: a timeout right away must find the group */
	if (out[1] >= 0)
		close(out[1]);
	close(errp[1]);
	p->out_fd = out[0];
	p->err_fd = errp[0];
	if (p->out_fd >= 0) {
		evutil_make_socket_nonblocking(p->out_fd);
		p->out_ev = event_new(base, p->out_fd, EV_READ | EV_PERSIST, on_out, p);
		event_add(p->out_ev, NULL);
	}
	evutil_make_socket_nonblocking(p->err_fd);
	p->err_ev = event_new(base, p->err_fd, EV_READ | EV_PERSIST, on_err, p);
	event_add(p->err_ev, NULL);
	if (spec->timeout > 0)
		arm(p, spec->timeout);
	return p;
}

bool proc_running(const proc *p) { return p != NULL && p->pid > 0 && !p->reaped; }

int proc_pid(const proc *p) { return p ? (int)p->pid : 0; }

double proc_elapsed(const proc *p, double now_mono) { return p ? now_mono - p->started : 0; }

void proc_free(proc *p)
{
	if (p == NULL)
		return;
	if (p->pid > 0 && !p->reaped) {
		kill(-p->pid, SIGKILL);
		while (waitpid(p->pid, NULL, 0) < 0 && errno == EINTR)
			;
	}
	close_pipe(&p->out_fd, &p->out_ev);
	close_pipe(&p->err_fd, &p->err_ev);
	if (p->sig_ev)
		event_free(p->sig_ev);
	if (p->timer_ev)
		event_free(p->timer_ev);
	if (p->err_buf)
		evbuffer_free(p->err_buf);
	strv_free(p->argv);
	strv_free(p->env);
	free(p->path);
	free(p->out);
	free(p);
}

void proc_describe(const proc_result *r, double timeout, char *buf, size_t len)
{
	const char *last = strrchr(r->err_tail, '\n');
	last = last ? last + 1 : r->err_tail;
	int n;
	if (r->timed_out)
		n = snprintf(buf, len, "timed out after %g s", timeout);
	else if (r->status > 128)
		n = snprintf(buf, len, "killed by signal %d", r->status - 128);
	else
		n = snprintf(buf, len, "exit status %d", r->status);
	if (last[0] && n >= 0 && (size_t)n < len)
		snprintf(buf + n, len - (size_t)n, ": %s", last);
}

int proc_self_path(char *buf, size_t len)
{
	ssize_t n = readlink("/proc/self/exe", buf, len - 1);
	if (n <= 0) {
		buf[0] = '\0';
		return -1;
	}
	buf[n] = '\0';
	static const char deleted[] = " (deleted)";
	size_t dl = sizeof deleted - 1;
	if ((size_t)n > dl && strcmp(buf + n - dl, deleted) == 0)
		buf[n - dl] = '\0';
	return 0;
}

int proc_self_dir(char *buf, size_t len)
{
	if (proc_self_path(buf, len) < 0)
		return -1;
	char *slash = strrchr(buf, '/');
	if (slash == NULL)
		return -1;
	*slash = '\0';
	return 0;
}
