/*
 * down: `flotilla local down`: stops the components in reverse order (the
 * proxy agent first, which hands HAProxy back to its own checks; etcd last),
 * then with --purge removes DIR.
 */
#include "local.h"

#include <errno.h>
#include <ftw.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/log.h"

/* Signals pid only while it is still `program` working on `path`. */
bool down_signal(const char *what, pid_t pid, const char *program, const char *path, int sig, int *failures)
{
	if (!pid_matches(pid, program, path))
		return false;
	if (kill(pid, sig) < 0) {
		log_error("cannot send %s to %s pid=%d: %s", sigabbrev_np(sig), what, (int)pid, strerror(errno));
		++*failures;
		return false;
	}
	log_info("sent SIG%s to %s pid=%d", sigabbrev_np(sig), what, (int)pid);
	return true;
}

/* After a signal: waits, then SIGKILLs what is left. */
void down_wait(const char *what, pid_t pid, const char *program, const char *path, double seconds, int *failures)
{
	if (pid_wait_gone(pid, program, path, seconds))
		return;
	log_warn("%s pid=%d still runs after %.0f s, sending SIGKILL", what, (int)pid, seconds);
	if (kill(pid, SIGKILL) == 0 && pid_wait_gone(pid, program, path, LOCAL_KILL_WAIT_SECONDS))
		return;
	log_error("%s pid=%d does not stop", what, (int)pid);
	++*failures;
}

static int down_purge_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st;
	(void)flag;
	(void)ftw;
	if (remove(path) < 0) {
		log_error("cannot remove %s: %s", path, strerror(errno));
		return -1;
	}
	return 0;
}

static int down_run(const local_cluster *c, bool purge, fl_err *err)
{
	int failures = 0;
	/* In reverse start order: the proxy agent first (it hands HAProxy back to its own checks), etcd last. */
	for (int i = local_n_components - 1; i >= 0; i--)
		if (local_components[i].wanted(c))
			local_components[i].stop(c, &failures);
	if (failures > 0)
		return fl_fail(err, FL_ERR_IO, "local down: %d process%s of %s could not be stopped%s", failures,
			       failures > 1 ? "es" : "", c->dir, purge ? "; the directory was kept" : "");
	if (!purge) {
		printf("cluster in %s is down; its files were kept (add --purge to remove them)\n", c->dir);
		return 0;
	}
	if (nftw(c->dir, down_purge_entry, 16, FTW_DEPTH | FTW_PHYS) != 0)
		return fl_fail(err, FL_ERR_IO, "local down: cannot remove all of %s", c->dir);
	printf("cluster in %s is down and its directory removed\n", c->dir);
	return 0;
}

int local_down(int argc, char **argv, fl_err *err)
{
	const char *dir = NULL;
	bool purge = false, help = false;
	if (dir_parse("local down", "purge", argc, argv, &dir, &purge, &help, err) < 0)
		return -1;
	if (help) {
		down_usage(stdout);
		return 0;
	}
	local_cluster *c = calloc(1, sizeof *c);
	if (c == NULL)
		return fl_fail(err, FL_ERR_INTERNAL, "local down: out of memory");
	int rc = cluster_load(c, "local down", dir, err);
	if (rc == 0)
		rc = down_run(c, purge, err);
	free(c);
	return rc;
}
