/*
 * spawn: the daemons of a local cluster as processes: started in their own
 * sessions (as the unprivileged user when run as root), recognised again by
 * pid only while /proc shows the expected program working on this cluster's
 * files (a pid may have been reused), and waited for.
 */
#include "local.h"

#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <limits.h>
#include <pwd.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

#include "common/clock.h"
#include "common/log.h"

/* Up to size - 1 bytes of /proc/PID/what, NUL-terminated: their count, or -1 when it cannot be read. */
static ssize_t proc_read(pid_t pid, const char *what, char *buf, size_t size)
{
	char file[64];
	str_fmt(file, sizeof file, "/proc/%d/%s", (int)pid, what);
	int fd = open(file, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -1;
	ssize_t len = read(fd, buf, size - 1);
	close(fd);
	buf[len > 0 ? len : 0] = '\0';
	return len;
}

/*
 * True while pid runs a program whose name starts with `program` and works on
 * `path` (an argument equal to it, an "--opt=path" argument, or its cwd).
 * Zombies and vanished processes have an empty cmdline, so they do not match.
 */
bool pid_matches(pid_t pid, const char *program, const char *path)
{
	if (pid <= 0)
		return false;
	char file[64], buf[16384];
	ssize_t len = proc_read(pid, "cmdline", buf, sizeof buf);
	if (len <= 0)
		return false;
	bool is_program = false, on_path = false;
	for (char *a = buf; a < buf + len; a += strlen(a) + 1) {
		const char *base = strrchr(a, '/') ? strrchr(a, '/') + 1 : a;
		const char *eq = strchr(a, '=');
		if (strncmp(base, program, strlen(program)) == 0)
			is_program = true;
		if (strcmp(a, path) == 0 || (a[0] == '-' && eq != NULL && strcmp(eq + 1, path) == 0))
			on_path = true;
	}
	if (is_program && !on_path) {
		char cwd[PATH_MAX];
		str_fmt(file, sizeof file, "/proc/%d/cwd", (int)pid);
		ssize_t n = readlink(file, cwd, sizeof cwd - 1);
		if (n > 0) {
			cwd[n] = '\0';
			on_path = strcmp(cwd, path) == 0;
		}
	}
	return is_program && on_path;
}

/*
 * True while pid is on its way out: it has released its memory (an empty
 * cmdline) but is not yet a zombie, so it may still hold its files, sockets
 * and ports. A process that vanished, a zombie, or a pid reused by a program
 * with arguments is not.
 */
static bool pid_exiting(pid_t pid)
{
	char buf[512];
	if (proc_read(pid, "stat", buf, sizeof buf) <= 0)
		return false;
	const char *paren = strrchr(buf, ')');
	if (paren == NULL || paren[1] != ' ' || paren[2] == 'Z' || paren[2] == 'X' || paren[2] == '\0')
		return false;
	return proc_read(pid, "cmdline", buf, 2) == 0;
}

/*
 * Waits until pid no longer matches and has ended (gone or a zombie); reaps it when it is our child. No pid is
 * gone at once (waitpid of 0 or -1 would reap any child).
 */
bool pid_wait_gone(pid_t pid, const char *program, const char *path, double seconds)
{
	if (pid <= 0)
		return true;
	double deadline = clock_mono() + seconds;
	for (;;) {
		waitpid(pid, NULL, WNOHANG);
		if (!pid_matches(pid, program, path) && !pid_exiting(pid))
			return true;
		if (clock_mono() >= deadline)
			return false;
		clock_sleep(0.02);
	}
}

/* Describes how a child ended, for errors. */
static void pid_describe_exit(int status, char *buf, size_t size)
{
	if (WIFEXITED(status))
		str_fmt(buf, size, "exited with code %d", WEXITSTATUS(status));
	else if (WIFSIGNALED(status))
		str_fmt(buf, size, "was killed by signal %d (%s)", WTERMSIG(status), strsignal(WTERMSIG(status)));
	else
		str_fmt(buf, size, "ended with status %d", status);
}

/* True (and a description) when our child pid has ended. */
bool pid_ended(pid_t pid, char *how, size_t size)
{
	int status;
	if (pid <= 0 || waitpid(pid, &status, WNOHANG) != pid)
		return false;
	pid_describe_exit(status, how, size);
	return true;
}

int run_as_resolve(const char *user, run_as *as, fl_err *err)
{
	memset(as, 0, sizeof *as);
	as->uid = geteuid();
	as->gid = getegid();
	if (user == NULL && geteuid() != 0)
		return 0;
	const char *name = user ? user : LOCAL_DEFAULT_USER;
	struct passwd *pw = getpwnam(name);
	if (pw == NULL && user != NULL)
		return fl_fail(err, FL_ERR_USAGE, "local up: --user = \"%s\" is not a user of this system", user);
	if (pw == NULL)
		return fl_fail(err, FL_ERR_NOT_FOUND,
			       "local up: user %s does not exist\nHINT: PostgreSQL refuses to run as root; create the "
			       "user or pass --user NAME",
			       name);
	if (pw->pw_uid == 0)
		return fl_fail(err, FL_ERR_USAGE, "local up: --user = \"%s\": PostgreSQL refuses to run as root", name);
	if (pw->pw_uid == geteuid())
		return 0;
	if (geteuid() != 0)
		return fl_fail(err, FL_ERR_USAGE,
			       "local up: --user = \"%s\" needs root to switch to\nHINT: drop --user to run the "
			       "daemons as yourself",
			       name);
	run_as_user(as, pw);
	return 0;
}

void run_as_user(run_as *as, const struct passwd *pw)
{
	as->change = true;
	as->uid = pw->pw_uid;
	as->gid = pw->pw_gid;
	str_fmt(as->name, sizeof as->name, "%s", pw->pw_name);
	str_fmt(as->home, sizeof as->home, "%s", pw->pw_dir);
}

/*
 * Settings that the node's config file sets; an inherited override would
 * silently beat the file. libpq's PG* variables would redirect the agent's own
 * connections, so they go too.
 */
static void spawn_clean_env(void)
{
	static const char *const drop[] = {
		"FLOTILLA_SCOPE",
		"FLOTILLA_NAME",
		"FLOTILLA_DATA_DIR",
		"FLOTILLA_BIN_DIR",
		"FLOTILLA_STATE_DIR",
		"FLOTILLA_LISTEN",
		"FLOTILLA_CONNECT_ADDRESS",
		"FLOTILLA_API_LISTEN",
		"FLOTILLA_API_CONNECT_ADDRESS",
		"FLOTILLA_ETCD_ENDPOINTS",
		"FLOTILLA_SYNCHRONOUS_MODE",
		"FLOTILLA_SUPERUSER",
		"FLOTILLA_SUPERUSER_PASSWORD_FILE",
		"FLOTILLA_REPLICATION_PASSWORD_FILE",
		"FLOTILLA_REPLICATOR",
	};
	for (size_t i = 0; i < sizeof drop / sizeof drop[0]; i++)
		unsetenv(drop[i]);
	for (;;) {
		char name[256] = "";
		for (char **e = environ; *e; e++)
			if (strncmp(*e, "PG", 2) == 0 && strchr(*e, '=') != NULL) {
				str_fmt(name, sizeof name, "%.*s", (int)(strchr(*e, '=') - *e), *e);
				break;
			}
		if (name[0] == '\0' || unsetenv(name) < 0)
			break;
	}
}

/* What the child was doing when it failed, reported to the parent. */
enum spawn_step {
	STEP_SETSID,
	STEP_DEVNULL,
	STEP_INITGROUPS,
	STEP_SETGID,
	STEP_SETUID,
	STEP_CHDIR,
	STEP_LOG,
	STEP_EXEC,
};
static const char *const spawn_step_names[] = {"setsid", "open /dev/null", "initgroups", "setgid",
					       "setuid", "chdir",          "open log",   "exec"};

typedef struct spawn_failure {
	int step;
	int errnum;
} spawn_failure;

/* The child: a daemon in its own session, as the daemon user, logging to its file. */
static _Noreturn void spawn_child(int report, const run_as *as, const char *cwd, const char *log_path,
				  char *const argv[])
{
	spawn_failure f = {STEP_SETSID, 0};
	int fd;
	/* Ignored or blocked signals survive exec; a daemon must see SIGTERM. */
	static const int sigs[] = {SIGHUP, SIGINT, SIGQUIT, SIGTERM, SIGPIPE, SIGCHLD, SIGUSR1, SIGUSR2};
	for (size_t i = 0; i < sizeof sigs / sizeof sigs[0]; i++)
		signal(sigs[i], SIG_DFL);
	sigset_t none;
	sigemptyset(&none);
	sigprocmask(SIG_SETMASK, &none, NULL);
	if (setsid() < 0)
		goto fail;
	f.step = STEP_DEVNULL;
	if ((fd = open("/dev/null", O_RDONLY)) < 0 || dup2(fd, STDIN_FILENO) < 0)
		goto fail;
	if (fd != STDIN_FILENO)
		close(fd);
	if (as->change) {
		f.step = STEP_INITGROUPS;
		if (initgroups(as->name, as->gid) < 0)
			goto fail;
		f.step = STEP_SETGID;
		if (setgid(as->gid) < 0)
			goto fail;
		f.step = STEP_SETUID;
		if (setuid(as->uid) < 0)
			goto fail;
		setenv("HOME", as->home, 1);
		setenv("USER", as->name, 1);
		setenv("LOGNAME", as->name, 1);
	}
	f.step = STEP_CHDIR;
	if (chdir(cwd) < 0)
		goto fail;
	f.step = STEP_LOG;
	if ((fd = open(log_path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0640)) < 0 || dup2(fd, STDOUT_FILENO) < 0 ||
	    dup2(fd, STDERR_FILENO) < 0)
		goto fail;
	close(fd);
	spawn_clean_env();
	f.step = STEP_EXEC;
	execvp(argv[0], argv);
fail:
	f.errnum = errno;
	if (write(report, &f, sizeof f) < 0)
		_exit(126);
	_exit(127);
}

/*
 * Starts argv[0] as a daemon. The child reports a failure before exec through
 * a close-on-exec pipe, so a successful exec reads as end of file and any
 * failure comes back with the step and errno.
 */
int spawn_daemon(const char *what, const run_as *as, const char *cwd, const char *log_path, char *const argv[],
		 pid_t *pid, fl_err *err)
{
	int p[2];
	if (pipe2(p, O_CLOEXEC) < 0)
		return fl_fail(err, FL_ERR_IO, "local up: cannot start %s: pipe: %s", what, strerror(errno));
	fflush(NULL);
	pid_t child = fork();
	if (child < 0) {
		close(p[0]);
		close(p[1]);
		return fl_fail(err, FL_ERR_IO, "local up: cannot start %s: fork: %s", what, strerror(errno));
	}
	if (child == 0) {
		close(p[0]);
		spawn_child(p[1], as, cwd, log_path, argv);
	}
	close(p[1]);
	spawn_failure f;
	ssize_t n;
	do
		n = read(p[0], &f, sizeof f);
	while (n < 0 && errno == EINTR);
	close(p[0]);
	if (n == 0) {
		*pid = child;
		return 0;
	}
	waitpid(child, NULL, 0);
	if (n != (ssize_t)sizeof f || f.step < 0 || f.step > STEP_EXEC)
		return fl_fail(err, FL_ERR_IO, "local up: cannot start %s", what);
	const char *target = f.step == STEP_EXEC    ? argv[0]
			     : f.step == STEP_CHDIR ? cwd
			     : f.step == STEP_LOG   ? log_path
						    : "";
	char hint[PATH_MAX + 128] = "";
	if (f.step == STEP_EXEC && f.errnum == ENOENT)
		str_fmt(hint, sizeof hint, "\nHINT: install %s or put it on PATH", argv[0]);
	else if (as->change && f.errnum == EACCES)
		str_fmt(hint, sizeof hint, "\nHINT: user %s must be able to reach %s and %s", as->name, cwd, argv[0]);
	return fl_fail(err, FL_ERR_IO, "local up: cannot start %s: %s %s: %s%s", what, spawn_step_names[f.step], target,
		       strerror(f.errnum), hint);
}
