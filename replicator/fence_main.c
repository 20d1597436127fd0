/*
 * flotilla-fence: the fence process beside one flotilla-replicator. The
 * agent starts it with a pipe on its stdin and tells it, on every lease
 * renewal, which postmaster may accept writes and until when (fence_rule.h).
 * It blocks on nothing but that pipe and a timer on CLOCK_BOOTTIME, so it
 * fences on time whatever the agent does: stalled (SIGSTOP, swapped out, a
 * hung etcd or PostgreSQL call), killed, or crashed. To fence it stops the
 * postmaster's whole process group: SIGQUIT (an immediate shutdown: no
 * more commits), then SIGKILL for whatever is left after a second.
 *
 * It runs in its own process group and ignores SIGINT, SIGTERM and SIGHUP:
 * it ends when the agent closes the pipe, after fencing if still armed.
 *
 * With --watchdog it also keeps a hardware watchdog alive while armed (see
 * fence_watchdog_pet_until): should it not run itself, the machine is reset
 * before another node can be promoted. It is opened when armed and stopped
 * (magic close) when disarmed or after fencing; "required" fences at once
 * when it cannot be started.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/timerfd.h>
#include <time.h>
#include <unistd.h>

#include <linux/watchdog.h>

#include "common/err.h"
#include "common/log.h"
#include "fence_rule.h"

static int64_t boot_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_BOOTTIME, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

/* The start time of pid (field 22 of /proc/<pid>/stat), 0 when it is gone; 'Z' in *state for a zombie. */
static unsigned long long start_time(pid_t pid, char *state)
{
	char path[64], buf[1024];
	snprintf(path, sizeof path, "/proc/%d/stat", (int)pid);
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return 0;
	ssize_t n = read(fd, buf, sizeof buf - 1);
	close(fd);
	if (n <= 0)
		return 0;
	buf[n] = '\0';
	char *p = strrchr(buf, ')'); /* the command name may hold spaces and parentheses */
	if (p == NULL || p[1] != ' ')
		return 0;
	if (state)
		*state = p[2];
	unsigned long long st = 0;
	/* after ") ": state is field 3; starttime is field 22 */
	if (sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %*u %*u %*d %*d %*d %*d %*d %*d %llu", &st) != 1)
		return 0;
	return st;
}

static bool gone(pid_t pid, unsigned long long started)
{
	char state = 0;
	unsigned long long now = start_time(pid, &state);
	return now == 0 || now != started || state == 'Z' || state == 'X';
}

/* Stops the postmaster pid (started at `started`) and its children; why for the log. */
static void fire(pid_t pid, unsigned long long started, const char *why)
{
	if (started == 0 || gone(pid, started)) {
		log_info("%s; postgres (pid %d) already stopped", why, (int)pid);
		return;
	}
	pid_t target = getpgid(pid) == pid ? -pid : pid;
	kill(target, SIGQUIT);
	int64_t t0 = boot_ns();
	while (!gone(pid, started) && boot_ns() - t0 < 1000000000) {
		struct timespec ts = {0, 10000000};
		nanosleep(&ts, NULL);
	}
	kill(target, SIGKILL); /* whatever of the group is left */
	log_warn("%s: stopped postgres (pid %d) in %.0f ms", why, (int)pid, (double)(boot_ns() - t0) / 1e6);
}

static int usage(const char *msg)
{
	fprintf(stderr,
		"flotilla-fence: %s\n"
		"usage: flotilla-fence --node NAME [--watchdog DEVICE SECONDS automatic|required]\n"
		"Started by flotilla-replicator with its pipe on stdin; not run by hand.\n",
		msg);
	return FL_ERR_USAGE;
}

/* The hardware watchdog, open while armed (fence_rule.h). */
typedef struct watchdog {
	const char *device; /* NULL: none */
	int timeout_s;
	bool required;
	int fd;
	bool failed; /* could not be started since the last arming: not tried again until the next */
	int64_t last_pet;
} watchdog;

/* Opens and sets it; -1 with the reason logged. */
static int watchdog_open(watchdog *w)
{
	w->fd = open(w->device, O_WRONLY | O_CLOEXEC);
	if (w->fd < 0) {
		log_error("watchdog %s: %s", w->device, strerror(errno));
		return -1;
	}
	int t = w->timeout_s;
	if (ioctl(w->fd, WDIOC_SETTIMEOUT, &t) < 0) {
		log_error("watchdog %s: cannot set its timeout to %d s: %s", w->device, w->timeout_s, strerror(errno));
		close(w->fd);
		w->fd = -1;
		return -1;
	}
	if (t != w->timeout_s)
		log_warn("watchdog %s: timeout %d s asked, %d s set", w->device, w->timeout_s, t);
	w->timeout_s = t;
	w->last_pet = 0;
	log_info("watchdog %s started (timeout %d s)", w->device, t);
	return 0;
}

/* Stops it with the magic close ('V'), so that closing it does not reset the machine. */
static void watchdog_close(watchdog *w)
{
	if (w->fd < 0)
		return;
	if (write(w->fd, "V", 1) != 1)
		log_warn("watchdog %s: magic close failed: %s", w->device, strerror(errno));
	close(w->fd);
	w->fd = -1;
	log_info("watchdog %s stopped", w->device);
}

/* Keeps it alive when due; the milliseconds until the next time (-1: none). */
static int watchdog_tend(watchdog *w, const fence_state *s, int64_t now)
{
	if (w->fd < 0 || !s->armed)
		return -1;
	int64_t until = fence_watchdog_pet_until(s->deadline_ns, w->timeout_s);
	if (now > until)
		return -1; /* no renewal: from here the watchdog resets the machine unless we fence first */
	if (now - w->last_pet >= 500000000LL) {
		if (ioctl(w->fd, WDIOC_KEEPALIVE, 0) < 0)
			log_warn("watchdog %s: keepalive failed: %s", w->device, strerror(errno));
		w->last_pet = now;
	}
	int64_t next = w->last_pet + 500000000LL;
	if (next > until)
		next = until;
	return next > now ? (int)((next - now) / 1000000 + 1) : 0;
}

int main(int argc, char **argv)
{
	watchdog wd = {.fd = -1};
	if (argc == 7 && strcmp(argv[3], "--watchdog") == 0) {
		wd.device = argv[4];
		wd.timeout_s = atoi(argv[5]);
		wd.required = strcmp(argv[6], "required") == 0;
		if (wd.timeout_s < 1 || (!wd.required && strcmp(argv[6], "automatic") != 0))
			return usage("--watchdog takes DEVICE SECONDS automatic|required");
	} else if (argc != 3) {
		return usage("expected --node NAME");
	}
	if (strcmp(argv[1], "--node") != 0)
		return usage("expected --node NAME");
	struct stat st;
	if (fstat(0, &st) < 0 || !S_ISFIFO(st.st_mode))
		return usage("stdin is not the agent's pipe");
	log_setup("fence", argv[2]);
	signal(SIGINT, SIG_IGN);
	signal(SIGTERM, SIG_IGN);
	signal(SIGHUP, SIG_IGN);
	signal(SIGPIPE, SIG_IGN);
	prctl(PR_SET_NAME, "flotilla-fence");
	int tfd = timerfd_create(CLOCK_BOOTTIME, TFD_CLOEXEC);
	if (tfd < 0) {
		log_error("timerfd_create: %s", strerror(errno));
		return FL_ERR_IO;
	}
	fence_state s = {0};
	unsigned long long started = 0;
	unsigned char buf[FENCE_MSG_SIZE * 64];
	size_t have = 0;
	bool agent_gone = false;
	for (;;) {
		struct itimerspec its = {0};
		if (s.armed) {
			its.it_value.tv_sec = s.deadline_ns / 1000000000;
			its.it_value.tv_nsec = s.deadline_ns % 1000000000;
		}
		timerfd_settime(tfd, TFD_TIMER_ABSTIME, &its, NULL);
		if (s.armed && wd.device && wd.fd < 0 && !wd.failed && watchdog_open(&wd) < 0) {
			wd.failed = true;
			if (wd.required) {
				fire(s.pid, started, "watchdog.mode is required and the watchdog cannot be started");
				s = (fence_state){0};
			}
		}
		if (!s.armed) {
			watchdog_close(&wd);
			wd.failed = false;
		}
		int wait_ms = watchdog_tend(&wd, &s, boot_ns());
		struct pollfd pf[2] = {{.fd = 0, .events = POLLIN}, {.fd = tfd, .events = POLLIN}};
		if (!agent_gone && poll(pf, 2, wait_ms) < 0 && errno != EINTR) {
			log_error("poll: %s", strerror(errno));
			return FL_ERR_IO;
		}
		if (!agent_gone && (pf[0].revents & (POLLIN | POLLHUP | POLLERR))) {
			ssize_t n = read(0, buf + have, sizeof buf - have);
			if (n == 0 || (n < 0 && errno != EINTR && errno != EAGAIN))
				agent_gone = true;
			else if (n > 0)
				have += (size_t)n;
			size_t off = 0;
			for (; have - off >= FENCE_MSG_SIZE; off += FENCE_MSG_SIZE) {
				fence_msg m;
				const char *why = NULL;
				if (fence_msg_decode(buf + off, &m, &why) < 0) {
					log_error("message from the agent ignored: %s", why);
					continue;
				}
				if (m.kind == FENCE_ARM && (!s.armed || m.pid != s.pid))
					started = start_time(m.pid, NULL);
				fence_apply(&s, &m);
			}
			memmove(buf, buf + off, have - off);
			have -= off;
		}
		uint64_t ticks;
		if (pf[1].revents & POLLIN && read(tfd, &ticks, sizeof ticks) < 0 && errno != EAGAIN)
			log_warn("reading the timer: %s", strerror(errno));
		switch (fence_due(&s, boot_ns(), agent_gone)) {
		case FENCE_WAIT:
			break;
		case FENCE_FIRE:
			fire(s.pid, started,
			     agent_gone ? "the agent ended while its postgres could accept writes"
					: "the lease deadline passed without a renewal");
			s = (fence_state){0};
			watchdog_close(&wd); /* fenced: nothing left for it to guard */
			break;
		case FENCE_EXIT:
			watchdog_close(&wd);
			return 0;
		}
	}
}
