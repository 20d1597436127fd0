/*
 * args: the command lines of `flotilla local up`, `status` and `down`, and
 * their help.
 */
#include "local.h"

#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <stdint.h>
#include <limits.h>
#include <unistd.h>

#include "cluster/lsn.h"
#include "common/timeparse.h"

static int opt_fail(const char *cmd, int c, char **argv, fl_err *err)
{
	const char *arg = argv[optind - 1];
	if (c == ':')
		return fl_fail(err, FL_ERR_USAGE, "%s: option %s needs a value\nHINT: run flotilla %s --help", cmd, arg,
			       cmd);
	if (optopt != 0)
		return fl_fail(err, FL_ERR_USAGE, "%s: unknown option \"-%c\"\nHINT: run flotilla %s --help", cmd,
			       optopt, cmd);
	return fl_fail(err, FL_ERR_USAGE, "%s: unknown option \"%s\"\nHINT: run flotilla %s --help", cmd, arg, cmd);
}

static int opt_int(const char *cmd, const char *name, const char *v, long min, long max, int *out, fl_err *err)
{
	char *end = NULL;
	errno = 0;
	long x = strtol(v, &end, 10);
	if (errno != 0 || end == v || *end != '\0' || x < min || x > max)
		return fl_fail(err, FL_ERR_USAGE, "%s: %s = \"%s\" is not a number from %ld to %ld", cmd, name, v, min,
			       max);
	*out = (int)x;
	return 0;
}

static int opt_rest(const char *cmd, int argc, char **argv, const char *dir, fl_err *err)
{
	if (optind < argc)
		return fl_fail(err, FL_ERR_USAGE, "%s: unexpected argument \"%s\"\nHINT: run flotilla %s --help", cmd,
			       argv[optind], cmd);
	if (dir == NULL || dir[0] == '\0')
		return fl_fail(err, FL_ERR_USAGE, "%s: --dir is required\nHINT: run flotilla %s --help", cmd, cmd);
	if (strlen(dir) > LOCAL_DIR_MAX)
		return fl_fail(err, FL_ERR_USAGE, "%s: --dir is longer than %d characters", cmd, LOCAL_DIR_MAX);
	return 0;
}

void local_usage(FILE *f)
{
	fprintf(f, "Usage: flotilla local up --dir DIR [--nodes N] [--sync] [--haproxy] [--tls] [--backup REPO]\n"
		   "                          [--restore-from REPO [--restore-target T] [--restore-key-file F]]\n"
		   "                          [--base-port P] [--timeout SECONDS] [--bin-dir PGBIN] [--user NAME]\n"
		   "       flotilla local status --dir DIR [--json]\n"
		   "       flotilla local down --dir DIR [--purge]\n"
		   "       flotilla local start|stop|kill NODE --dir DIR\n\n"
		   "A cluster of real processes on 127.0.0.1: one etcd and N PostgreSQL nodes, each run by its\n"
		   "flotilla-replicator. DIR/cluster.json describes it (ports, pids, dsns).\n"
		   "Run flotilla local SUBCOMMAND --help for details.\n");
}

void up_usage(FILE *f)
{
	fprintf(f,
		"Usage: flotilla local up --dir DIR [OPTIONS]\n\n"
		"Starts etcd and N nodes on 127.0.0.1, waits for one primary and N-1 streaming replicas,\n"
		"and writes DIR/cluster.json.\n\n"
		"  --dir DIR           cluster directory, created if missing (required)\n"
		"  --nodes N           number of nodes, 1 to %d (default %d)\n"
		"  --sync              synchronous replication (synchronous_mode = true); also waits until\n"
		"                      the primary's synchronous_standby_names names every replica\n"
		"  --haproxy           also start HAProxy and flotilla-proxy-agent in front of the nodes:\n"
		"                      rw port P+2 (the leader), ro port P+3 (the replicas), agent checks\n"
		"                      P+4, HAProxy's metrics P+5, the proxy agent's P+7; rw_dsn and ro_dsn\n"
		"                      then go through HAProxy\n"
		"  --tls               secured as a deployment is: a CA in DIR/tls signs etcd's and the REST\n"
		"                      APIs' certificate and a client certificate; etcd speaks https, wants\n"
		"                      client certificates and has users on (the agents log in as\n"
		"                      " LOCAL_ETCD_USER "), the REST APIs speak HTTPS, HAProxy checks them over\n"
		"                      HTTPS; cluster.json's \"tls\" names the files a client needs\n"
		"  --backup REPO       also start the backup sidecar (flotilla-backup) on port P+6 with its\n"
		"                      repository in REPO (kept by `down`); every node archives its WAL\n"
		"                      there; flotilla backup, restore and drill then work with --dir DIR\n"
		"  --restore-from REPO a new cluster from a Flotilla backup repository: its first node\n"
		"                      restores REPO (bootstrap.restore_repo) rather than running initdb,\n"
		"                      replays its WAL to the end or to --restore-target (a time with its\n"
		"                      zone, or an LSN), promotes and leads; the others clone from it\n"
		"  --restore-key-file F the passphrase of an encrypted REPO\n"
		"  --base-port P       etcd client port P, peer P+1; node i: PostgreSQL P+10*i, REST API\n"
		"                      P+10*i+1 (default %d)\n"
		"  --timeout SECONDS   how long to wait for etcd and the cluster (default %d)\n"
		"  --bin-dir PGBIN     PostgreSQL programs (default %s)\n"
		"  --user NAME         user the daemons run as (default %s when run as root)\n\n"
		"Environment: FLOTILLA_REPLICATOR, FLOTILLA_PROXY_AGENT and FLOTILLA_BACKUP override the\n"
		"agents' programs (default: %s, " LOCAL_PROXY_AGENT " and " LOCAL_BACKUP " next to this flotilla).\n",
		LOCAL_MAX_NODES, LOCAL_DEFAULT_NODES, LOCAL_DEFAULT_BASE_PORT, LOCAL_DEFAULT_TIMEOUT,
		LOCAL_DEFAULT_BIN_DIR, LOCAL_DEFAULT_USER, LOCAL_AGENT);
}

void status_usage(FILE *f)
{
	fprintf(f, "Usage: flotilla local status --dir DIR [--json]\n\n"
		   "For each node: name, PostgreSQL port, agent running or not, role (primary, replica,\n"
		   "stopped) and a replica's walreceiver status. Exits 0 when every node answers,\n"
		   "7 (postgres) otherwise.\n\n"
		   "  --dir DIR   cluster directory (required)\n"
		   "  --json      print a JSON array\n");
}

void down_usage(FILE *f)
{
	fprintf(f, "Usage: flotilla local down --dir DIR [--purge]\n\n"
		   "Stops the agents (which stop their PostgreSQL), any postmaster left behind, then etcd.\n"
		   "Only processes started by `flotilla local up` for DIR are signalled. Running it twice\n"
		   "is fine.\n\n"
		   "  --dir DIR   cluster directory (required)\n"
		   "  --purge     remove DIR afterwards\n");
}

int up_parse(int argc, char **argv, up_opts *o, bool *help, fl_err *err)
{
	static const struct option longopts[] = {
		{"nodes", required_argument, NULL, 'n'},
		{"dir", required_argument, NULL, 'd'},
		{"sync", no_argument, NULL, 's'},
		{"base-port", required_argument, NULL, 'p'},
		{"timeout", required_argument, NULL, 't'},
		{"bin-dir", required_argument, NULL, 'b'},
		{"user", required_argument, NULL, 'u'},
		{"help", no_argument, NULL, 'h'},
		{"haproxy", no_argument, NULL, 'H'},
		{"tls", no_argument, NULL, 'T'},
		{"backup", required_argument, NULL, 'B'},
		{"restore-from", required_argument, NULL, 'R'},
		{"restore-target", required_argument, NULL, 'A'},
		{"restore-key-file", required_argument, NULL, 'K'},
		{NULL, 0, NULL, 0},
	};
	const char *cmd = "local up";
	const char *base_port = NULL;
	*o = (up_opts){LOCAL_DEFAULT_NODES,
		       NULL,
		       false,
		       LOCAL_DEFAULT_BASE_PORT,
		       LOCAL_DEFAULT_TIMEOUT,
		       LOCAL_DEFAULT_BIN_DIR,
		       NULL,
		       false,
		       false,
		       NULL,
		       NULL,
		       NULL,
		       NULL};
	opterr = 0;
	int c;
	while ((c = getopt_long(argc, argv, ":h", longopts, NULL)) != -1) {
		switch (c) {
		case 'n':
			if (opt_int(cmd, "--nodes", optarg, 1, LOCAL_MAX_NODES, &o->nodes, err) < 0)
				return -1;
			break;
		case 'd':
			o->dir = optarg;
			break;
		case 's':
			o->sync = true;
			break;
		case 'p':
			base_port = optarg;
			break;
		case 't':
			if (opt_int(cmd, "--timeout", optarg, 1, 86400, &o->timeout, err) < 0)
				return -1;
			break;
		case 'b':
			o->bin_dir = optarg;
			break;
		case 'u':
			o->user = optarg;
			break;
		case 'H':
			o->haproxy = true;
			break;
		case 'T':
			o->tls = true;
			break;
		case 'B':
			o->backup = optarg;
			break;
		case 'R':
			o->restore_from = optarg;
			break;
		case 'A':
			o->restore_target = optarg;
			break;
		case 'K':
			o->restore_key_file = optarg;
			break;
		case 'h':
			*help = true;
			return 0;
		default:
			return opt_fail(cmd, c, argv, err);
		}
	}
	if (o->backup != NULL && o->backup[0] == '\0')
		return fl_fail(err, FL_ERR_USAGE, "%s: --backup needs a repository directory", cmd);
	if (o->restore_from == NULL && (o->restore_target != NULL || o->restore_key_file != NULL))
		return fl_fail(err, FL_ERR_USAGE, "%s: --restore-target and --restore-key-file need --restore-from",
			       cmd);
	if (o->restore_from != NULL) {
		char backups[PATH_MAX];
		snprintf(backups, sizeof backups, "%s/backups", o->restore_from);
		if (o->restore_from[0] == '\0' || access(backups, R_OK | X_OK) != 0)
			return fl_fail(
				err, FL_ERR_USAGE,
				"%s: --restore-from %s is not a Flotilla backup repository (no readable backups/)", cmd,
				o->restore_from);
	}
	if (o->restore_target != NULL) {
		double when;
		uint64_t lsn;
		time_verdict v =
			lsn_parse(o->restore_target, &lsn) == 0 ? TIME_OK : timeparse_iso8601(o->restore_target, &when);
		if (v == TIME_NO_ZONE)
			return fl_fail(err, FL_ERR_USAGE,
				       "%s: --restore-target \"%s\" has no time zone\nHINT: add Z or +HH:MM, as in "
				       "2026-12-06T10:00:00Z",
				       cmd, o->restore_target);
		if (v != TIME_OK)
			return fl_fail(
				err, FL_ERR_USAGE,
				"%s: --restore-target \"%s\" is neither a time (2026-12-06T10:00:00Z) nor an LSN "
				"(0/3000060)",
				cmd, o->restore_target);
	}
	/* The highest port depends on --nodes, so the range is checked once both are known. */
	if (base_port != NULL &&
	    opt_int(cmd, "--base-port", base_port, 1024, 65535 - 10 * o->nodes - 1, &o->base_port, err) < 0)
		return -1;
	if (o->bin_dir[0] != '/')
		return fl_fail(err, FL_ERR_USAGE, "%s: --bin-dir = \"%s\" is not an absolute path", cmd, o->bin_dir);
	return opt_rest(cmd, argc, argv, o->dir, err);
}

/* Parses `status` and `down`: --dir plus one flag (--json or --purge). */
int dir_parse(const char *cmd, const char *flag_name, int argc, char **argv, const char **dir, bool *flag, bool *help,
	      fl_err *err)
{
	const struct option longopts[] = {
		{"dir", required_argument, NULL, 'd'},
		{flag_name, no_argument, NULL, 'f'},
		{"help", no_argument, NULL, 'h'},
		{NULL, 0, NULL, 0},
	};
	opterr = 0;
	int c;
	while ((c = getopt_long(argc, argv, ":h", longopts, NULL)) != -1) {
		switch (c) {
		case 'd':
			*dir = optarg;
			break;
		case 'f':
			*flag = true;
			break;
		case 'h':
			*help = true;
			return 0;
		default:
			return opt_fail(cmd, c, argv, err);
		}
	}
	return opt_rest(cmd, argc, argv, *dir, err);
}

void node_ctl_usage(FILE *f)
{
	fprintf(f, "Usage: flotilla local start NODE --dir DIR [--timeout SECONDS]\n"
		   "       flotilla local stop NODE --dir DIR\n"
		   "       flotilla local kill NODE --dir DIR\n\n"
		   "One node of a local cluster, to try a failure and a recovery:\n"
		   "  start   starts the node's agent again (as `up` did) and waits until its PostgreSQL\n"
		   "          runs as a primary or a streaming replica (default 60 s; exit 9 after)\n"
		   "  stop    stops the node's agent with SIGTERM: it stops its PostgreSQL cleanly and a\n"
		   "          leader gives up its key; waits for both (a postmaster without its agent\n"
		   "          gets an immediate shutdown)\n"
		   "  kill    SIGKILL to the node's agent, its postmaster and the postmaster's process group,\n"
		   "          as a machine losing power; the cluster fails over if it was the leader\n"
		   "cluster.json keeps the agent's pid (start records the new one).\n\n"
		   "  --dir DIR           cluster directory (required)\n"
		   "  --timeout SECONDS   start: how long to wait for the node (default 60)\n");
}

int node_parse(const char *cmd, int argc, char **argv, const char **dir, const char **node, int *timeout, bool *help,
	       fl_err *err)
{
	const struct option longopts[] = {
		{"dir", required_argument, NULL, 'd'},
		{"timeout", required_argument, NULL, 't'},
		{"help", no_argument, NULL, 'h'},
		{NULL, 0, NULL, 0},
	};
	opterr = 0;
	*timeout = 60;
	int c;
	while ((c = getopt_long(argc, argv, ":h", longopts, NULL)) != -1) {
		switch (c) {
		case 'd':
			*dir = optarg;
			break;
		case 't':
			if (opt_int(cmd, "--timeout", optarg, 1, 86400, timeout, err) < 0)
				return -1;
			break;
		case 'h':
			*help = true;
			return 0;
		default:
			return opt_fail(cmd, c, argv, err);
		}
	}
	if (optind >= argc)
		return fl_fail(err, FL_ERR_USAGE, "%s: which node?\nHINT: flotilla %s NODE --dir DIR", cmd, cmd);
	*node = argv[optind++];
	return opt_rest(cmd, argc, argv, *dir, err);
}
