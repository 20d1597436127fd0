/*
 * node_ctl: `flotilla local start|stop|kill NODE`: one node of a local
 * cluster stopped cleanly, killed as by a power loss, or started again, to
 * try a failure and a recovery. The agent is started as `up` started it (the
 * same program, configuration, user and log); cluster.json records its new
 * pid.
 */
#include "local.h"

#include <errno.h>
#include <limits.h>
#include <pwd.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/clock.h"
#include "common/log.h"
#include "pg/pidfile.h"

/* The cluster of --dir and its node called name (NULL with err when there is none). */
static local_node *node_of(local_cluster *c, const char *cmd, const char *dir, const char *name, fl_err *err)
{
	if (cluster_load(c, cmd, dir, err) < 0)
		return NULL;
	char known[256] = "";
	for (int i = 0; i < c->n; i++) {
		if (strcmp(c->nodes[i].name, name) == 0)
			return &c->nodes[i];
		str_add(known, sizeof known, "%s%s", i ? ", " : "", c->nodes[i].name);
	}
	fl_fail(err, FL_ERR_NOT_FOUND, "%s: the cluster in %s has no node \"%s\" (nodes: %s)", cmd, c->dir, name,
		known);
	return NULL;
}

static pid_t postmaster_of(const local_node *n)
{
	pid_t pid = pg_postmaster_pid(n->data_dir);
	return pid > 0 && pid_matches(pid, "postgres", n->data_dir) ? pid : 0;
}

static int kill_node(local_cluster *c, local_node *n, const char *name, int timeout, fl_err *err)
{
	(void)c;
	(void)timeout;
	bool agent = pid_matches(n->agent_pid, LOCAL_AGENT, n->config);
	pid_t pm = postmaster_of(n);
	if (!agent && pm == 0)
		return fl_fail(err, FL_ERR_CONFLICT, "local kill: node %s runs nothing (no agent, no postmaster)",
			       name);
	if (agent)
		kill(n->agent_pid, SIGKILL);
	/* The agent starts PostgreSQL in a process group of its own: the postmaster and its backends at once, as the
	 * fence stops it. */
	if (pm > 0)
		kill(getpgid(pm) == pm ? -pm : pm, SIGKILL);
	bool gone = (!agent || pid_wait_gone(n->agent_pid, LOCAL_AGENT, n->config, LOCAL_KILL_WAIT_SECONDS)) &&
		    (pm == 0 || pid_wait_gone(pm, "postgres", n->data_dir, LOCAL_KILL_WAIT_SECONDS));
	log_info("node %s killed (SIGKILL): agent %d, postmaster %d and its process group%s", name,
		 agent ? (int)n->agent_pid : 0, (int)pm, gone ? "" : "; some still exit");
	printf("node %s killed\n", name);
	return 0;
}

static int stop_node(local_cluster *c, local_node *n, const char *name, int timeout, fl_err *err)
{
	(void)timeout;
	int rc = 0, failures = 0;
	{
		char what[48];
		str_fmt(what, sizeof what, "agent %s", n->name);
		bool agent = pid_matches(n->agent_pid, LOCAL_AGENT, n->config);
		if (agent && down_signal(what, n->agent_pid, LOCAL_AGENT, n->config, SIGTERM, &failures))
			down_wait(what, n->agent_pid, LOCAL_AGENT, n->config, LOCAL_AGENT_STOP_SECONDS, &failures);
		/* A postmaster the agent left behind (the agent killed) gets an immediate shutdown. */
		pid_t pm = postmaster_of(n);
		if (!agent && pm <= 0)
			rc = fl_fail(err, FL_ERR_CONFLICT,
				     "local stop: node %s does not run (no agent, no postmaster)\nHINT: flotilla local "
				     "start "
				     "%s --dir %s",
				     name, name, c->dir);
		str_fmt(what, sizeof what, "postmaster of %s", n->name);
		if (pm > 0 && down_signal(what, pm, "postgres", n->data_dir, SIGQUIT, &failures))
			down_wait(what, pm, "postgres", n->data_dir, LOCAL_PROC_STOP_SECONDS, &failures);
		if (rc == 0 && failures > 0)
			rc = fl_fail(err, FL_ERR_IO, "local stop: node %s did not stop", name);
		if (rc == 0)
			printf("node %s stopped\n", name);
	}
	return rc;
}

/* Who `up` ran the agent as: the owner of its configuration file. */
static int run_as_owner(const local_node *n, run_as *as, fl_err *err)
{
	struct stat st;
	memset(as, 0, sizeof *as);
	as->uid = geteuid();
	as->gid = getegid();
	if (stat(n->config, &st) < 0)
		return fl_fail(err, FL_ERR_CONFIG, "local start: %s: %s", n->config, strerror(errno));
	if (st.st_uid == geteuid())
		return 0;
	if (geteuid() != 0)
		return fl_fail(err, FL_ERR_USAGE, "local start: %s belongs to uid %d: start it as that user or as root",
			       n->config, (int)st.st_uid);
	struct passwd *pw = getpwuid(st.st_uid);
	if (pw == NULL)
		return fl_fail(err, FL_ERR_NOT_FOUND, "local start: uid %d, the owner of %s, is not a user",
			       (int)st.st_uid, n->config);
	run_as_user(as, pw);
	return 0;
}

static int start_node(local_cluster *c, local_node *n, const char *name, int timeout, fl_err *err)
{
	run_as as;
	char agent[PATH_MAX];
	int rc = 0;
	if (rc == 0 && pid_matches(n->agent_pid, LOCAL_AGENT, n->config))
		rc = fl_fail(err, FL_ERR_CONFLICT, "local start: the agent of %s runs already (pid %d)", name,
			     (int)n->agent_pid);
	if (rc == 0 && postmaster_of(n) > 0)
		rc = fl_fail(
			err, FL_ERR_CONFLICT,
			"local start: a postmaster of %s still runs without its agent\nHINT: flotilla local stop %s "
			"--dir %s",
			name, name, c->dir);
	if (rc == 0)
		rc = run_as_owner(n, &as, err) < 0 || agent_program_path("local start", "FLOTILLA_REPLICATOR",
									 LOCAL_AGENT, agent, sizeof agent, err) < 0
			     ? -1
			     : 0;
	if (rc == 0) {
		char *aargv[] = {agent, "--config", n->config, NULL};
		rc = spawn_daemon(n->name, &as, n->dir, n->log, aargv, &n->agent_pid, err);
	}
	if (rc == 0) {
		log_info("started agent %s pid=%d log=%s", n->name, (int)n->agent_pid, n->log);
		rc = cluster_save(c, err);
	}
	if (rc == 0) {
		node_probe p;
		double until = clock_mono() + timeout;
		char how[128];
		for (;;) {
			node_probe_run(n, &p);
			if (p.role == NODE_PRIMARY ||
			    (p.role == NODE_REPLICA && strcmp(p.wal_status, "streaming") == 0))
				break;
			if (pid_ended(n->agent_pid, how, sizeof how)) {
				log_tail_print(n->log, LOCAL_TAIL_LINES);
				rc = fl_fail(err, FL_ERR_POSTGRES, "local start: agent %s (pid %d) %s\nHINT: read %s",
					     name, (int)n->agent_pid, how, n->log);
				break;
			}
			if (clock_mono() >= until) {
				rc = fl_fail(err, FL_ERR_TIMEOUT,
					     "local start: node %s is not a primary or a streaming replica after %d s "
					     "(%s%s%s)\nHINT: it was left running; read %s",
					     name, timeout, node_role_names[p.role], p.wal_status[0] ? ", " : "",
					     p.wal_status, n->log);
				break;
			}
			clock_sleep(LOCAL_POLL_SECONDS);
		}
		if (rc == 0)
			printf("node %s runs as %s%s%s (agent pid %d)\n", name, node_role_names[p.role],
			       p.wal_status[0] ? ", " : "", p.wal_status, (int)n->agent_pid);
	}
	return rc;
}

typedef int (*node_action)(local_cluster *c, local_node *n, const char *name, int timeout, fl_err *err);

/* NODE --dir DIR [--timeout S]: the cluster loaded, the node found, then act. */
static int node_command(const char *cmd, int argc, char **argv, node_action act, fl_err *err)
{
	const char *dir = NULL, *name = NULL;
	int timeout;
	bool help = false;
	if (node_parse(cmd, argc, argv, &dir, &name, &timeout, &help, err) < 0)
		return -1;
	if (help) {
		node_ctl_usage(stdout);
		return 0;
	}
	local_cluster *c = calloc(1, sizeof *c);
	if (c == NULL)
		return fl_fail(err, FL_ERR_INTERNAL, "%s: out of memory", cmd);
	local_node *n = node_of(c, cmd, dir, name, err);
	int rc = n ? act(c, n, name, timeout, err) : -1;
	free(c);
	return rc;
}

int local_kill(int argc, char **argv, fl_err *err) { return node_command("local kill", argc, argv, kill_node, err); }
int local_stop(int argc, char **argv, fl_err *err) { return node_command("local stop", argc, argv, stop_node, err); }
int local_start(int argc, char **argv, fl_err *err) { return node_command("local start", argc, argv, start_node, err); }
