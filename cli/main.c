/*
 * flotilla: the operator CLI. main() only dispatches: the first argument names
 * a command, looked up in a table of { name, handler, summary }; the handler
 * gets the rest of the command line (its argv[0] is the command's name) and
 * returns 0 or -1 with an fl_err. The process exits with the error's code, so
 * scripts can rely on it (2 for a bad command line, see common/err.h), after
 * printing the message, and its HINT line if any, on stderr.
 */
#include <stdio.h>
#include <string.h>

#include "cmd_backup.h"
#include "cmd_control.h"
#include "cmd_haproxy.h"
#include "cmd_history.h"
#include "cmd_list.h"
#include "cmd_local.h"
#include "cmd_proxy.h"
#include "cmd_stack.h"
#include "cmd_topology.h"
#include "cmd_upgrade.h"
#include "common/err.h"
#include "common/log.h"

#ifndef FLOTILLA_VERSION
#define FLOTILLA_VERSION "0.1.0"
#endif

typedef int (*cmd_fn)(int argc, char **argv, fl_err *err);

typedef struct cmd_def {
	const char *name;
	cmd_fn run;
	const char *summary;
} cmd_def;

static const cmd_def cmd_table[] = {
	{"list", cmd_list, "the members of a cluster: role, state, timeline, lag"},
	{"topology", cmd_topology, "the leader with the replicas under it"},
	{"history", cmd_history, "the cluster's timeline switches (failovers)"},
	{"switchover", cmd_switchover, "hand the leader key to another member, now or at a time"},
	{"failover", cmd_failover, "promote a member of a cluster without a healthy leader"},
	{"pause", cmd_pause, "pause automatic failover"},
	{"resume", cmd_resume, "resume automatic failover"},
	{"restart", cmd_restart, "restart a member's PostgreSQL"},
	{"reinit", cmd_reinit, "re-clone a replica from the leader"},
	{"show-config", cmd_show_config, "print the cluster's dynamic configuration"},
	{"edit-config", cmd_edit_config, "change the cluster's dynamic configuration"},
	{"upgrade", cmd_upgrade, "roll a new database image through a compose stack, one node at a time"},
	{"drain", cmd_drain, "take a node out of HAProxy's read-only pool (--wait for its sessions to end)"},
	{"ready", cmd_ready, "put a drained node back into HAProxy's read-only pool"},
	{"haproxy-config", cmd_haproxy_config, "HAProxy's configuration for a cluster's members (the images' HAProxy)"},
	{"backup", cmd_backup, "the backup sidecar: take a base backup now, list the backups"},
	{"drill", cmd_drill, "have the backup sidecar restore its newest backup and prove it (a report)"},
	{"restore", cmd_restore, "lay a backup into a new data directory, to its end, a time or an LSN"},
	{"stack", cmd_stack, "the compose stacks: up, down, status, logs, reset (docker-compose)"},
	{"local", cmd_local, "run a cluster of real processes on loopback (up, status, down)"},
};

static void main_usage(FILE *f)
{
	fprintf(f, "Usage: flotilla COMMAND [ARGS...]\n"
		   "       flotilla COMMAND --help\n"
		   "       flotilla --version\n\n"
		   "Commands:\n");
	for (size_t i = 0; i < sizeof cmd_table / sizeof cmd_table[0]; i++)
		fprintf(f, "  %-14s %s\n", cmd_table[i].name, cmd_table[i].summary);
	fprintf(f, "\nExit codes (stable): ");
	fl_codes_print_line(f);
	fprintf(f, ".\n");
}

static const cmd_def *main_find(const char *name)
{
	for (size_t i = 0; i < sizeof cmd_table / sizeof cmd_table[0]; i++)
		if (strcmp(cmd_table[i].name, name) == 0)
			return &cmd_table[i];
	return NULL;
}

static int main_dispatch(int argc, char **argv, fl_err *err)
{
	if (argc < 2) {
		main_usage(stderr);
		return fl_fail(err, FL_ERR_USAGE, "missing command\nHINT: run flotilla --help");
	}
	const char *name = argv[1];
	if (strcmp(name, "--help") == 0 || strcmp(name, "-h") == 0 || strcmp(name, "help") == 0) {
		main_usage(stdout);
		return 0;
	}
	if (strcmp(name, "--version") == 0 || strcmp(name, "-V") == 0) {
		printf("flotilla %s\n", FLOTILLA_VERSION);
		return 0;
	}
	const cmd_def *cmd = main_find(name);
	if (cmd == NULL) {
		if (name[0] == '-')
			return fl_fail(err, FL_ERR_USAGE, "unknown option \"%s\"\nHINT: run flotilla --help", name);
		return fl_fail(err, FL_ERR_USAGE, "unknown command \"%s\"\nHINT: run flotilla --help", name);
	}
	return cmd->run(argc - 1, argv + 1, err);
}

int main(int argc, char **argv)
{
	fl_err err = {FL_OK, ""};
	log_setup("flotilla", NULL);
	if (main_dispatch(argc, argv, &err) == 0)
		return 0;
	if (err.code == FL_OK)
		err.code = FL_ERR_INTERNAL;
	fprintf(stderr, "flotilla: %s\n", err.msg[0] ? err.msg : fl_code_name(err.code));
	return (int)err.code;
}
