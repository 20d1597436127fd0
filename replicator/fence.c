/*
 * fence: starts flotilla-fence with a pipe on its stdin and sends it
 * fence_rule messages (see fence.h).
 */
#include "fence.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/wait.h>
#include <unistd.h>

#include "common/clock.h"
#include "common/log.h"
#include "fence_rule.h"

#define FENCE_PROGRAM "flotilla-fence"

struct fence {
	char path[PATH_MAX];
	char node[128];
	char watchdog[PATH_MAX]; /* "" for none */
	char watchdog_s[16];
	bool watchdog_required;
	pid_t pid; /* the fence process */
	int fd;    /* our end of its pipe */
	pid_t armed_pid;
	int64_t deadline_ns; /* as last sent */
	bool sent;
};

/* dir of `file` + "/" FENCE_PROGRAM into out, when it is executable. */
static bool beside(const char *file, char *out, size_t len)
{
	const char *slash = strrchr(file, '/');
	if (slash == NULL)
		return false;
	int n = snprintf(out, len, "%.*s/%s", (int)(slash - file), file, FENCE_PROGRAM);
	return n > 0 && (size_t)n < len && access(out, X_OK) == 0;
}

static bool find_program(const char *argv0, char *out, size_t len)
{
	char self[PATH_MAX];
	ssize_t n = readlink("/proc/self/exe", self, sizeof self - 1);
	if (n > 0)
		self[n] = '\0';
	if ((argv0 && beside(argv0, out, len)) || (n > 0 && beside(self, out, len)))
		return true;
	const char *path = getenv("PATH");
	while (path && *path) {
		const char *end = strchr(path, ':');
		size_t dl = end ? (size_t)(end - path) : strlen(path);
		int m = snprintf(out, len, "%.*s/%s", (int)dl, path, FENCE_PROGRAM);
		if (dl > 0 && m > 0 && (size_t)m < len && access(out, X_OK) == 0)
			return true;
		path = end ? end + 1 : NULL;
	}
	return false;
}

static int spawn(fence *f, fl_err *err)
{
	int p[2];
	if (pipe2(p, O_CLOEXEC) < 0)
		return fl_fail(err, FL_ERR_IO, "fence: pipe: %s", strerror(errno));
	pid_t pid = fork();
	if (pid < 0) {
		close(p[0]);
		close(p[1]);
		return fl_fail(err, FL_ERR_IO, "fence: fork: %s", strerror(errno));
	}
	if (pid == 0) {
		/* Its own group: a signal to the agent's group (a terminal's ^C) does not end it. */
		setpgid(0, 0);
		sigset_t none;
		sigemptyset(&none);
		sigprocmask(SIG_SETMASK, &none, NULL);
		dup2(p[0], 0);
		if (f->watchdog[0])
			execl(f->path, FENCE_PROGRAM, "--node", f->node, "--watchdog", f->watchdog, f->watchdog_s,
			      f->watchdog_required ? "required" : "automatic", (char *)NULL);
		else
			execl(f->path, FENCE_PROGRAM, "--node", f->node, (char *)NULL);
		_exit(127);
	}
	close(p[0]);
	fcntl(p[1], F_SETFL, O_NONBLOCK);
	f->pid = pid;
	f->fd = p[1];
	f->sent = false;
	return 0;
}

int fence_watchdog_check(const char *path, char *why, size_t len)
{
	struct stat st;
	if (stat(path, &st) < 0) {
		snprintf(why, len, "%s: %s", path, strerror(errno));
		return -1;
	}
	if (!S_ISCHR(st.st_mode)) {
		snprintf(why, len, "%s is not a character device", path);
		return -1;
	}
	/* The legacy misc device (10:130), or one of the watchdog class. */
	char sys[128], link[PATH_MAX];
	snprintf(sys, sizeof sys, "/sys/dev/char/%u:%u/subsystem", major(st.st_rdev), minor(st.st_rdev));
	ssize_t n = readlink(sys, link, sizeof link - 1);
	link[n > 0 ? n : 0] = '\0';
	const char *slash = strrchr(link, '/');
	bool is_wd =
		(major(st.st_rdev) == 10 && minor(st.st_rdev) == 130) || (slash && strcmp(slash + 1, "watchdog") == 0);
	if (!is_wd) {
		snprintf(why, len, "%s (%u:%u) is not a watchdog device", path, major(st.st_rdev), minor(st.st_rdev));
		return -1;
	}
	if (access(path, W_OK) < 0) {
		snprintf(why, len, "%s: %s", path, strerror(errno));
		return -1;
	}
	return 0;
}

fence *fence_new(const char *argv0, const char *node_name, const char *watchdog, int watchdog_s, bool required,
		 fl_err *err)
{
	fence *f = calloc(1, sizeof *f);
	if (f == NULL) {
		fl_fail(err, FL_ERR_IO, "fence: out of memory");
		return NULL;
	}
	f->fd = -1;
	snprintf(f->node, sizeof f->node, "%s", node_name);
	snprintf(f->watchdog, sizeof f->watchdog, "%s", watchdog ? watchdog : "");
	snprintf(f->watchdog_s, sizeof f->watchdog_s, "%d", watchdog_s);
	f->watchdog_required = required;
	if (!find_program(argv0, f->path, sizeof f->path)) {
		fl_fail(err, FL_ERR_IO, "fence: %s not found beside %s nor on PATH; the agent does not run without it",
			FENCE_PROGRAM, argv0 ? argv0 : "flotilla-replicator");
		free(f);
		return NULL;
	}
	if (spawn(f, err) < 0) {
		free(f);
		return NULL;
	}
	log_info("fence process %s started (pid %d)", f->path, (int)f->pid);
	return f;
}

/* A fence process that ended is reaped and started again. */
static void keep_alive(fence *f)
{
	int status = 0;
	if (f->pid > 0) {
		if (waitpid(f->pid, &status, WNOHANG) != f->pid)
			return;
		log_error("fence process (pid %d) ended (%s %d): starting it again", (int)f->pid,
			  WIFSIGNALED(status) ? "signal" : "exit status",
			  WIFSIGNALED(status) ? WTERMSIG(status) : WEXITSTATUS(status));
	}
	if (f->fd >= 0)
		close(f->fd);
	f->fd = -1;
	f->pid = 0;
	fl_err err = {0};
	if (spawn(f, &err) < 0)
		log_error("%s", err.msg);
}

void fence_set(fence *f, pid_t pid, double deadline)
{
	if (f == NULL)
		return;
	keep_alive(f);
	int64_t ns = pid > 0 ? (int64_t)(deadline * 1e9) : 0;
	if (ns <= 0 && pid > 0)
		ns = 1; /* a deadline already past: fence now */
	if (f->sent && f->armed_pid == pid && f->deadline_ns == ns)
		return;
	fence_msg m = {.kind = pid > 0 ? FENCE_ARM : FENCE_DISARM, .pid = pid, .deadline_ns = ns};
	unsigned char buf[FENCE_MSG_SIZE];
	fence_msg_encode(&m, buf);
	if (f->fd < 0 || write(f->fd, buf, sizeof buf) != (ssize_t)sizeof buf) {
		log_error("fence: telling the fence process failed: %s",
			  f->fd < 0 ? "it is not running" : strerror(errno));
		f->sent = false;
		return;
	}
	f->sent = true;
	f->armed_pid = pid;
	f->deadline_ns = ns;
}

void fence_free(fence *f)
{
	if (f == NULL)
		return;
	fence_set(f, 0, 0);
	if (f->fd >= 0)
		close(f->fd);
	for (int i = 0; f->pid > 0 && i < 200; i++) {
		int status;
		if (waitpid(f->pid, &status, WNOHANG) == f->pid)
			f->pid = 0;
		else
			clock_sleep(0.01);
	}
	if (f->pid > 0)
		log_warn("fence process (pid %d) did not end", (int)f->pid);
	free(f);
}
