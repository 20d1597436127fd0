/*
 * cmd_local: a Flotilla cluster of real processes on loopback.
 *
 * `up` lays out DIR (secrets, passfile, one config per node), starts one etcd
 * and N flotilla-replicator agents as daemons in their own sessions (as the
 * unprivileged user `postgres` when run as root, because PostgreSQL refuses
 * to run as root), waits until PostgreSQL shows one primary and N-1
 * streaming replicas (with --sync, until the primary's
 * synchronous_standby_names also names all of them), and records
 * everything in DIR/cluster.json. `status`
 * asks each node's PostgreSQL for its role. `down` stops only the processes
 * `up` started: a recorded pid is signalled only while /proc still shows the
 * expected program working on this cluster's files, because a pid may have
 * been reused by an unrelated process since.
 *
 * cluster.json is written as soon as the layout exists and rewritten after
 * each start, so that `down` can clean up after an `up` that failed halfway.
 */
#include "cmd_local.h"

#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <getopt.h>
#include <grp.h>
#include <limits.h>
#include <netinet/in.h>
#include <pwd.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

#include <jansson.h>
#include <libpq-fe.h>

#include "common/clock.h"
#include "haproxy_config.h"
#include "common/log.h"
#include "common/secret.h"

#define LOCAL_SCOPE "local"
#define LOCAL_MAX_NODES 9
#define LOCAL_DEFAULT_NODES 3
#define LOCAL_DEFAULT_BASE_PORT 54300
#define LOCAL_DEFAULT_TIMEOUT 120
#define LOCAL_DEFAULT_BIN_DIR "/usr/lib/postgresql/15/bin"
#define LOCAL_DEFAULT_USER "postgres"
#define LOCAL_AGENT "flotilla-replicator"
#define LOCAL_PROXY_AGENT "flotilla-proxy-agent"
#define LOCAL_HAPROXY "haproxy"
/* The ro health check's lag limit, as the proxy agent's ro.max_lag default (16 MiB). */
#define LOCAL_MAX_LAG "16MB"
#define LOCAL_POLL_SECONDS 0.2
#define LOCAL_AGENT_STOP_SECONDS 30.0
#define LOCAL_PROC_STOP_SECONDS 30.0
#define LOCAL_KILL_WAIT_SECONDS 5.0
#define LOCAL_TAIL_LINES 20
/* Longer DIRs are refused so that every path and dsn below fits its buffer. */
#define LOCAL_DIR_MAX 1024
#define LOCAL_DSN_MAX 4096
#define LOCAL_SECRET_MAX 256

typedef struct local_node {
	char name[8];
	int pg_port;
	int api_port;
	pid_t agent_pid; /* 0 when not started */
	char dir[PATH_MAX];
	char data_dir[PATH_MAX];
	char config[PATH_MAX];
	char log[PATH_MAX];
	char dsn[LOCAL_DSN_MAX];
} local_node;

typedef struct local_cluster {
	char dir[PATH_MAX];
	char json[PATH_MAX]; /* DIR/cluster.json */
	char etcd_dir[PATH_MAX];
	char etcd_log[PATH_MAX];
	char pgpass[PATH_MAX];
	char endpoint[64];
	int etcd_port;
	pid_t etcd_pid; /* 0 when not started */
	int n;
	local_node nodes[LOCAL_MAX_NODES];
	char rw_dsn[LOCAL_DSN_MAX];
	char ro_dsn[LOCAL_DSN_MAX];
	/* --haproxy: ports P+2 (rw), P+3 (ro), P+4 (agent checks), P+5 (metrics). */
	bool haproxy;
	int rw_port, ro_port, agent_port, metrics_port;
	pid_t haproxy_pid, proxy_agent_pid; /* 0 when not started */
	char haproxy_cfg[PATH_MAX];
	char haproxy_socket[PATH_MAX];
	char haproxy_log[PATH_MAX];
	char proxy_conf[PATH_MAX];
	char proxy_log[PATH_MAX];
} local_cluster;

/* Who the daemons run as. */
typedef struct run_as {
	bool change; /* switch user in the child before exec */
	uid_t uid;
	gid_t gid;
	char name[64];
	char home[PATH_MAX];
} run_as;

typedef struct up_opts {
	int nodes;
	const char *dir;
	bool sync;
	int base_port;
	int timeout;
	const char *bin_dir;
	const char *user;
	bool haproxy;
} up_opts;

typedef enum node_role { NODE_STOPPED, NODE_PRIMARY, NODE_REPLICA } node_role;

static const char *const node_role_names[] = {"stopped", "primary", "replica"};

/* What a node's PostgreSQL says about itself. */
typedef struct node_probe {
	node_role role;
	char wal_status[32];  /* a replica's walreceiver status; "" when it has none */
	char sync_names[256]; /* synchronous_standby_names, as the node reports it */
	char error[256];      /* why a stopped node did not answer */
} node_probe;

/* ---- strings and files ------------------------------------------------- */

/* snprintf that the callers size so that it cannot truncate (see LOCAL_DIR_MAX). */
static void str_fmt(char *buf, size_t size, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static void str_fmt(char *buf, size_t size, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(buf, size, fmt, ap);
	va_end(ap);
}

static void str_add(char *buf, size_t size, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static void str_add(char *buf, size_t size, const char *fmt, ...)
{
	size_t used = strlen(buf);
	if (used >= size)
		return;
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(buf + used, size - used, fmt, ap);
	va_end(ap);
}

/* Appends a libpq conninfo value, quoted when it holds spaces, quotes or backslashes. */
static void dsn_add_value(char *buf, size_t size, const char *v)
{
	if (v[0] != '\0' && strpbrk(v, " \t'\\") == NULL) {
		str_add(buf, size, "%s", v);
		return;
	}
	str_add(buf, size, "'");
	for (const char *p = v; *p; p++)
		str_add(buf, size, "%s%c", (*p == '\'' || *p == '\\') ? "\\" : "", *p);
	str_add(buf, size, "'");
}

/* Appends a libconfig string literal. */
static void conf_add_string(FILE *f, const char *name, const char *v)
{
	fprintf(f, "%s = \"", name);
	for (const char *p = v; *p; p++)
		fprintf(f, "%s%c", (*p == '"' || *p == '\\') ? "\\" : "", *p);
	fprintf(f, "\";\n");
}

/* Writes a whole file with mode and, when uid is not -1, owner. */
static int file_write(const char *path, const char *text, mode_t mode, uid_t uid, gid_t gid, fl_err *err)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, mode);
	if (fd < 0)
		return fl_fail(err, FL_ERR_IO, "local up: cannot write %s: %s", path, strerror(errno));
	size_t len = strlen(text), done = 0;
	int rc = fchmod(fd, mode);
	if (rc == 0 && uid != (uid_t)-1)
		rc = fchown(fd, uid, gid);
	while (rc == 0 && done < len) {
		ssize_t n = write(fd, text + done, len - done);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			rc = -1;
		else
			done += (size_t)n;
	}
	int saved = errno;
	if (close(fd) < 0 && rc == 0) {
		rc = -1;
		saved = errno;
	}
	if (rc < 0)
		return fl_fail(err, FL_ERR_IO, "local up: cannot write %s: %s", path, strerror(saved));
	return 0;
}

/* Creates a directory (its parents too when `parents`); an existing one is kept. */
static int dir_make(const char *path, mode_t mode, bool parents, fl_err *err)
{
	if (parents) {
		char tmp[PATH_MAX];
		str_fmt(tmp, sizeof tmp, "%s", path);
		for (char *p = tmp + 1; *p; p++) {
			if (*p != '/')
				continue;
			*p = '\0';
			if (mkdir(tmp, 0755) < 0 && errno != EEXIST)
				return fl_fail(err, FL_ERR_IO, "local up: cannot create directory %s: %s", tmp,
					       strerror(errno));
			*p = '/';
		}
	}
	if (mkdir(path, mode) < 0 && errno != EEXIST)
		return fl_fail(err, FL_ERR_IO, "local up: cannot create directory %s: %s", path, strerror(errno));
	struct stat st;
	if (stat(path, &st) < 0 || !S_ISDIR(st.st_mode))
		return fl_fail(err, FL_ERR_IO, "local up: %s is not a directory", path);
	return 0;
}

/* A directory the daemons write to: created, given to the daemon user. */
static int dir_make_owned(const char *path, mode_t mode, const run_as *as, fl_err *err)
{
	if (dir_make(path, mode, false, err) < 0)
		return -1;
	if (chmod(path, mode) < 0)
		return fl_fail(err, FL_ERR_IO, "local up: cannot chmod %s: %s", path, strerror(errno));
	if (as->change && chown(path, as->uid, as->gid) < 0)
		return fl_fail(err, FL_ERR_IO, "local up: cannot give %s to user %s: %s", path, as->name,
			       strerror(errno));
	return 0;
}

static bool dir_is_empty(const char *path)
{
	DIR *d = opendir(path);
	if (d == NULL)
		return true;
	struct dirent *e;
	bool empty = true;
	while (empty && (e = readdir(d)) != NULL)
		empty = strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0;
	closedir(d);
	return empty;
}

/* Prints the last lines of a log file on stderr, for failures the user must read. */
static void log_tail_print(const char *path, int lines)
{
	FILE *f = fopen(path, "r");
	if (f == NULL) {
		fprintf(stderr, "--- %s cannot be read: %s ---\n", path, strerror(errno));
		return;
	}
	static char buf[65536];
	long size = fseek(f, 0, SEEK_END) == 0 ? ftell(f) : 0;
	long start = size > (long)sizeof buf - 1 ? size - (long)sizeof buf + 1 : 0;
	fseek(f, start, SEEK_SET);
	size_t n = fread(buf, 1, sizeof buf - 1, f);
	fclose(f);
	buf[n] = '\0';
	if (n > 0 && buf[n - 1] == '\n')
		buf[--n] = '\0';
	char *from = buf;
	int seen = 0;
	for (char *p = buf + n; p > buf; p--) {
		if (p[-1] == '\n' && ++seen == lines) {
			from = p;
			break;
		}
	}
	fprintf(stderr, "--- last %d lines of %s ---\n%s%s--- end of %s ---\n", lines, path, from, n > 0 ? "\n" : "",
		path);
}

/* ---- command line -------------------------------------------------------- */

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

static void local_usage(FILE *f)
{
	fprintf(f, "Usage: flotilla local up --dir DIR [--nodes N] [--sync] [--haproxy] [--base-port P]\n"
		   "                          [--timeout SECONDS] [--bin-dir PGBIN] [--user NAME]\n"
		   "       flotilla local status --dir DIR [--json]\n"
		   "       flotilla local down --dir DIR [--purge]\n\n"
		   "A cluster of real processes on 127.0.0.1: one etcd and N PostgreSQL nodes, each run by its\n"
		   "flotilla-replicator. DIR/cluster.json describes it (ports, pids, dsns).\n"
		   "Run flotilla local SUBCOMMAND --help for details.\n");
}

static void up_usage(FILE *f)
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
		"                      P+4, metrics P+5; rw_dsn and ro_dsn then go through HAProxy\n"
		"  --base-port P       etcd client port P, peer P+1; node i: PostgreSQL P+10*i, REST API\n"
		"                      P+10*i+1 (default %d)\n"
		"  --timeout SECONDS   how long to wait for etcd and the cluster (default %d)\n"
		"  --bin-dir PGBIN     PostgreSQL programs (default %s)\n"
		"  --user NAME         user the daemons run as (default %s when run as root)\n\n"
		"Environment: FLOTILLA_REPLICATOR and FLOTILLA_PROXY_AGENT override the agents' programs\n"
		"(default: %s and " LOCAL_PROXY_AGENT " next to this flotilla).\n",
		LOCAL_MAX_NODES, LOCAL_DEFAULT_NODES, LOCAL_DEFAULT_BASE_PORT, LOCAL_DEFAULT_TIMEOUT,
		LOCAL_DEFAULT_BIN_DIR, LOCAL_DEFAULT_USER, LOCAL_AGENT);
}

static void status_usage(FILE *f)
{
	fprintf(f, "Usage: flotilla local status --dir DIR [--json]\n\n"
		   "For each node: name, PostgreSQL port, agent running or not, role (primary, replica,\n"
		   "stopped) and a replica's walreceiver status. Exits 0 when every node answers,\n"
		   "7 (postgres) otherwise.\n\n"
		   "  --dir DIR   cluster directory (required)\n"
		   "  --json      print a JSON array\n");
}

static void down_usage(FILE *f)
{
	fprintf(f, "Usage: flotilla local down --dir DIR [--purge]\n\n"
		   "Stops the agents (which stop their PostgreSQL), any postmaster left behind, then etcd.\n"
		   "Only processes started by `flotilla local up` for DIR are signalled. Running it twice\n"
		   "is fine.\n\n"
		   "  --dir DIR   cluster directory (required)\n"
		   "  --purge     remove DIR afterwards\n");
}

static int up_parse(int argc, char **argv, up_opts *o, bool *help, fl_err *err)
{
	static const struct option longopts[] = {
		{"nodes", required_argument, NULL, 'n'},   {"dir", required_argument, NULL, 'd'},
		{"sync", no_argument, NULL, 's'},          {"base-port", required_argument, NULL, 'p'},
		{"timeout", required_argument, NULL, 't'}, {"bin-dir", required_argument, NULL, 'b'},
		{"user", required_argument, NULL, 'u'},    {"help", no_argument, NULL, 'h'},
		{"haproxy", no_argument, NULL, 'H'},       {NULL, 0, NULL, 0},
	};
	const char *cmd = "local up";
	const char *base_port = NULL;
	*o = (up_opts){LOCAL_DEFAULT_NODES,   NULL, false, LOCAL_DEFAULT_BASE_PORT, LOCAL_DEFAULT_TIMEOUT,
		       LOCAL_DEFAULT_BIN_DIR, NULL, false};
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
		case 'h':
			*help = true;
			return 0;
		default:
			return opt_fail(cmd, c, argv, err);
		}
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
static int dir_parse(const char *cmd, const char *flag_name, int argc, char **argv, const char **dir, bool *flag,
		     bool *help, fl_err *err)
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

/* ---- the cluster's layout and cluster.json ------------------------------- */

static void cluster_layout(local_cluster *c, const char *dir, int nodes, int base_port)
{
	str_fmt(c->dir, sizeof c->dir, "%s", dir);
	str_fmt(c->json, sizeof c->json, "%s/cluster.json", dir);
	str_fmt(c->etcd_dir, sizeof c->etcd_dir, "%s/etcd", dir);
	str_fmt(c->etcd_log, sizeof c->etcd_log, "%s/etcd.log", dir);
	str_fmt(c->pgpass, sizeof c->pgpass, "%s/pgpass", dir);
	c->etcd_port = base_port;
	str_fmt(c->endpoint, sizeof c->endpoint, "http://127.0.0.1:%d", base_port);
	c->rw_port = base_port + 2;
	c->ro_port = base_port + 3;
	c->agent_port = base_port + 4;
	c->metrics_port = base_port + 5;
	str_fmt(c->haproxy_cfg, sizeof c->haproxy_cfg, "%s/haproxy/haproxy.cfg", dir);
	str_fmt(c->haproxy_socket, sizeof c->haproxy_socket, "%s/haproxy/admin.sock", dir);
	str_fmt(c->haproxy_log, sizeof c->haproxy_log, "%s/haproxy/haproxy.log", dir);
	str_fmt(c->proxy_conf, sizeof c->proxy_conf, "%s/proxy-agent/proxy-agent.conf", dir);
	str_fmt(c->proxy_log, sizeof c->proxy_log, "%s/proxy-agent/proxy-agent.log", dir);
	c->n = nodes;
	for (int i = 0; i < nodes; i++) {
		local_node *n = &c->nodes[i];
		str_fmt(n->name, sizeof n->name, "n%d", i + 1);
		n->pg_port = base_port + 10 * (i + 1);
		n->api_port = n->pg_port + 1;
		str_fmt(n->dir, sizeof n->dir, "%s/%s", dir, n->name);
		str_fmt(n->data_dir, sizeof n->data_dir, "%s/data", n->dir);
		str_fmt(n->config, sizeof n->config, "%s/flotilla.conf", n->dir);
		str_fmt(n->log, sizeof n->log, "%s/agent.log", n->dir);
	}
}

/* Node and multi-host dsns; the password comes only from the passfile. */
static void cluster_dsns(local_cluster *c)
{
	char tail[LOCAL_DSN_MAX] = "user=postgres dbname=postgres passfile=";
	dsn_add_value(tail, sizeof tail, c->pgpass);
	char hosts[256] = "", ports[256] = "";
	for (int i = 0; i < c->n; i++) {
		local_node *n = &c->nodes[i];
		str_fmt(n->dsn, sizeof n->dsn, "host=127.0.0.1 port=%d %s", n->pg_port, tail);
		str_add(hosts, sizeof hosts, "%s127.0.0.1", i ? "," : "");
		str_add(ports, sizeof ports, "%s%d", i ? "," : "", n->pg_port);
	}
	str_fmt(c->rw_dsn, sizeof c->rw_dsn, "host=%s port=%s %s connect_timeout=2 target_session_attrs=read-write",
		hosts, ports, tail);
	str_fmt(c->ro_dsn, sizeof c->ro_dsn, "host=%s port=%s %s connect_timeout=2 target_session_attrs=%s", hosts,
		ports, tail, c->n == 1 ? "prefer-standby" : "standby");
	if (!c->haproxy)
		return;
	/* Through HAProxy: rw reaches the leader alone; read-write is asked all the same, as a second lock. */
	str_fmt(c->rw_dsn, sizeof c->rw_dsn,
		"host=127.0.0.1 port=%d %s connect_timeout=2 target_session_attrs=read-write", c->rw_port, tail);
	str_fmt(c->ro_dsn, sizeof c->ro_dsn, "host=127.0.0.1 port=%d %s connect_timeout=2", c->ro_port, tail);
}

static int cluster_save(const local_cluster *c, fl_err *err)
{
	json_t *nodes = json_array();
	for (int i = 0; i < c->n; i++) {
		const local_node *n = &c->nodes[i];
		json_array_append_new(nodes, json_pack("{s:s, s:i, s:i, s:s, s:I, s:s, s:s, s:s}", "name", n->name,
						       "pg_port", n->pg_port, "api_port", n->api_port, "data_dir",
						       n->data_dir, "agent_pid", (json_int_t)n->agent_pid, "dsn",
						       n->dsn, "config", n->config, "log", n->log));
	}
	json_t *root = json_pack("{s:s, s:{s:[s], s:I}, s:o, s:s, s:s}", "scope", LOCAL_SCOPE, "etcd", "endpoints",
				 c->endpoint, "pid", (json_int_t)c->etcd_pid, "nodes", nodes, "rw_dsn", c->rw_dsn,
				 "ro_dsn", c->ro_dsn);
	if (root == NULL)
		return fl_fail(err, FL_ERR_INTERNAL, "local up: cannot build %s", c->json);
	char token_file[PATH_MAX];
	str_fmt(token_file, sizeof token_file, "%s/secrets/api_token", c->dir);
	json_object_set_new(root, "api_token_file", json_string(token_file));
	if (c->haproxy) {
		json_object_set_new(root, "haproxy",
				    json_pack("{s:I, s:i, s:i, s:s, s:i, s:s, s:s}", "pid", (json_int_t)c->haproxy_pid,
					      "rw_port", c->rw_port, "ro_port", c->ro_port, "stats_socket",
					      c->haproxy_socket, "metrics_port", c->metrics_port, "config",
					      c->haproxy_cfg, "log", c->haproxy_log));
		json_object_set_new(root, "proxy_agent",
				    json_pack("{s:I, s:i, s:s, s:s}", "pid", (json_int_t)c->proxy_agent_pid,
					      "agent_check_port", c->agent_port, "config", c->proxy_conf, "log",
					      c->proxy_log));
	}
	/* Readers never see a half-written file: write aside, then rename. */
	char tmp[PATH_MAX];
	str_fmt(tmp, sizeof tmp, "%s.tmp", c->json);
	int rc = json_dump_file(root, tmp, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
	json_decref(root);
	if (rc < 0 || chmod(tmp, 0644) < 0 || rename(tmp, c->json) < 0)
		return fl_fail(err, FL_ERR_IO, "local up: cannot write %s: %s", c->json, strerror(errno));
	return 0;
}

static int cluster_load_node(local_cluster *c, int i, json_t *jn, fl_err *err)
{
	local_node *n = &c->nodes[i];
	const char *name, *data_dir, *dsn, *config = NULL, *log = NULL;
	json_int_t pid;
	json_error_t je;
	if (json_unpack_ex(jn, &je, 0, "{s:s, s:i, s:i, s:s, s:I, s:s, s?s, s?s}", "name", &name, "pg_port",
			   &n->pg_port, "api_port", &n->api_port, "data_dir", &data_dir, "agent_pid", &pid, "dsn", &dsn,
			   "config", &config, "log", &log) < 0)
		return fl_fail(err, FL_ERR_CONFIG, "%s: nodes[%d]: %s", c->json, i, je.text);
	if (name[0] == '\0' || strlen(name) >= sizeof n->name || strchr(name, '/') != NULL)
		return fl_fail(err, FL_ERR_CONFIG, "%s: nodes[%d].name = \"%s\" is not a node name", c->json, i, name);
	if (n->pg_port < 1 || n->pg_port > 65535 || n->api_port < 1 || n->api_port > 65535)
		return fl_fail(err, FL_ERR_CONFIG, "%s: nodes[%d] has a port out of range 1..65535", c->json, i);
	/* A pid of 0 or below would make kill() signal whole process groups. */
	if (pid < 0 || pid > INT_MAX)
		return fl_fail(err, FL_ERR_CONFIG, "%s: nodes[%d].agent_pid = %lld is not a pid", c->json, i,
			       (long long)pid);
	if (data_dir[0] != '/' || strlen(data_dir) >= PATH_MAX || strlen(dsn) >= LOCAL_DSN_MAX)
		return fl_fail(err, FL_ERR_CONFIG, "%s: nodes[%d].data_dir = \"%s\" is not an absolute path", c->json,
			       i, data_dir);
	str_fmt(n->name, sizeof n->name, "%s", name);
	n->agent_pid = (pid_t)pid;
	str_fmt(n->dir, sizeof n->dir, "%s/%s", c->dir, name);
	str_fmt(n->data_dir, sizeof n->data_dir, "%s", data_dir);
	str_fmt(n->dsn, sizeof n->dsn, "%s", dsn);
	if (config != NULL)
		str_fmt(n->config, sizeof n->config, "%s", config);
	else
		str_fmt(n->config, sizeof n->config, "%s/flotilla.conf", n->dir);
	if (log != NULL)
		str_fmt(n->log, sizeof n->log, "%s", log);
	else
		str_fmt(n->log, sizeof n->log, "%s/agent.log", n->dir);
	return 0;
}

/* cluster.json's "haproxy" and "proxy_agent" objects (present with --haproxy). */
static int cluster_load_proxy(local_cluster *c, json_t *hp, json_t *pa, fl_err *err)
{
	json_int_t hpid = 0, apid = 0;
	json_error_t je;
	if (json_unpack_ex(hp, &je, 0, "{s:I, s:i, s:i}", "pid", &hpid, "rw_port", &c->rw_port, "ro_port",
			   &c->ro_port) < 0)
		return fl_fail(err, FL_ERR_CONFIG, "%s: haproxy: %s", c->json, je.text);
	if (pa != NULL && json_unpack_ex(pa, &je, 0, "{s:I}", "pid", &apid) < 0)
		return fl_fail(err, FL_ERR_CONFIG, "%s: proxy_agent: %s", c->json, je.text);
	if (hpid < 0 || hpid > INT_MAX || apid < 0 || apid > INT_MAX)
		return fl_fail(err, FL_ERR_CONFIG, "%s: haproxy.pid or proxy_agent.pid is not a pid", c->json);
	c->haproxy = true;
	c->haproxy_pid = (pid_t)hpid;
	c->proxy_agent_pid = (pid_t)apid;
	return 0;
}

/* Reads DIR/cluster.json; `cmd` names the subcommand in errors. */
static int cluster_load(local_cluster *c, const char *cmd, const char *dir_arg, fl_err *err)
{
	char dir[PATH_MAX];
	if (realpath(dir_arg, dir) == NULL) {
		if (errno == ENOENT || errno == ENOTDIR)
			return fl_fail(err, FL_ERR_NOT_FOUND, "%s: directory %s does not exist", cmd, dir_arg);
		return fl_fail(err, FL_ERR_IO, "%s: cannot resolve %s: %s", cmd, dir_arg, strerror(errno));
	}
	cluster_layout(c, dir, 0, 0);
	if (access(c->json, F_OK) < 0)
		return fl_fail(err, FL_ERR_NOT_FOUND,
			       "%s: %s does not exist\nHINT: start a cluster with flotilla local up --dir %s", cmd,
			       c->json, dir_arg);
	json_error_t je;
	json_t *root = json_load_file(c->json, 0, &je);
	if (root == NULL)
		return fl_fail(err, FL_ERR_CONFIG, "%s: %s is not valid JSON: %s (line %d)", cmd, c->json, je.text,
			       je.line);
	const char *endpoint, *rw, *ro;
	json_int_t pid;
	json_t *nodes;
	int rc = -1;
	if (json_unpack_ex(root, &je, 0, "{s:{s:[s*], s:I}, s:o, s:s, s:s}", "etcd", "endpoints", &endpoint, "pid",
			   &pid, "nodes", &nodes, "rw_dsn", &rw, "ro_dsn", &ro) < 0) {
		fl_fail(err, FL_ERR_CONFIG, "%s: %s is malformed: %s", cmd, c->json, je.text);
		goto done;
	}
	if (pid < 0 || pid > INT_MAX) {
		fl_fail(err, FL_ERR_CONFIG, "%s: %s: etcd.pid = %lld is not a pid", cmd, c->json, (long long)pid);
		goto done;
	}
	if (!json_is_array(nodes) || json_array_size(nodes) < 1 || json_array_size(nodes) > LOCAL_MAX_NODES) {
		fl_fail(err, FL_ERR_CONFIG, "%s: %s: nodes must be an array of 1 to %d nodes", cmd, c->json,
			LOCAL_MAX_NODES);
		goto done;
	}
	str_fmt(c->endpoint, sizeof c->endpoint, "%s", endpoint);
	c->etcd_pid = (pid_t)pid;
	str_fmt(c->rw_dsn, sizeof c->rw_dsn, "%s", rw);
	str_fmt(c->ro_dsn, sizeof c->ro_dsn, "%s", ro);
	json_t *hp = json_object_get(root, "haproxy"), *pa = json_object_get(root, "proxy_agent");
	if (hp != NULL && cluster_load_proxy(c, hp, pa, err) < 0) {
		fl_err_prefix(err, "%s", cmd);
		goto done;
	}
	c->n = (int)json_array_size(nodes);
	for (int i = 0; i < c->n; i++)
		if (cluster_load_node(c, i, json_array_get(nodes, i), err) < 0) {
			fl_err_prefix(err, "%s", cmd);
			goto done;
		}
	rc = 0;
done:
	json_decref(root);
	return rc;
}

/* ---- processes ----------------------------------------------------------- */

/*
 * True while pid runs a program whose name starts with `program` and works on
 * `path` (an argument equal to it, an "--opt=path" argument, or its cwd).
 * Zombies and vanished processes have an empty cmdline, so they do not match.
 */
static bool proc_matches(pid_t pid, const char *program, const char *path)
{
	if (pid <= 0)
		return false;
	char file[64], buf[16384];
	str_fmt(file, sizeof file, "/proc/%d/cmdline", (int)pid);
	int fd = open(file, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return false;
	ssize_t len = read(fd, buf, sizeof buf - 1);
	close(fd);
	if (len <= 0)
		return false;
	buf[len] = '\0';
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

/* Waits until pid no longer matches; reaps it when it is our child. */
static bool proc_wait_gone(pid_t pid, const char *program, const char *path, double seconds)
{
	double deadline = clock_mono() + seconds;
	for (;;) {
		waitpid(pid, NULL, WNOHANG);
		if (!proc_matches(pid, program, path))
			return true;
		if (clock_mono() >= deadline)
			return false;
		clock_sleep(0.1);
	}
}

/* Describes how a child ended, for errors. */
static void proc_describe_exit(int status, char *buf, size_t size)
{
	if (WIFEXITED(status))
		str_fmt(buf, size, "exited with code %d", WEXITSTATUS(status));
	else if (WIFSIGNALED(status))
		str_fmt(buf, size, "was killed by signal %d (%s)", WTERMSIG(status), strsignal(WTERMSIG(status)));
	else
		str_fmt(buf, size, "ended with status %d", status);
}

/* True (and a description) when our child pid has ended. */
static bool proc_ended(pid_t pid, char *how, size_t size)
{
	int status;
	if (pid <= 0 || waitpid(pid, &status, WNOHANG) != pid)
		return false;
	proc_describe_exit(status, how, size);
	return true;
}

static int run_as_resolve(const char *user, run_as *as, fl_err *err)
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
	as->change = true;
	as->uid = pw->pw_uid;
	as->gid = pw->pw_gid;
	str_fmt(as->name, sizeof as->name, "%s", pw->pw_name);
	str_fmt(as->home, sizeof as->home, "%s", pw->pw_dir);
	return 0;
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
static int spawn_daemon(const char *what, const run_as *as, const char *cwd, const char *log_path, char *const argv[],
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

/* ---- probes: ports, etcd, PostgreSQL -------------------------------------- */

static int port_check_free(int port, const char *what, fl_err *err)
{
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return fl_fail(err, FL_ERR_IO, "local up: socket: %s", strerror(errno));
	/* As the daemons do, so that a port in TIME_WAIT counts as free. */
	int one = 1;
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
	struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	int rc = bind(fd, (struct sockaddr *)&sa, sizeof sa);
	int saved = errno;
	close(fd);
	if (rc == 0)
		return 0;
	return fl_fail(err, FL_ERR_CONFLICT,
		       "local up: port %d (%s) on 127.0.0.1 is busy: %s\nHINT: pick free ports with --base-port", port,
		       what, strerror(saved));
}

static int ports_check(const local_cluster *c, fl_err *err)
{
	char what[64];
	if (port_check_free(c->etcd_port, "etcd client", err) < 0 ||
	    port_check_free(c->etcd_port + 1, "etcd peer", err) < 0)
		return -1;
	for (int i = 0; i < c->n; i++) {
		str_fmt(what, sizeof what, "PostgreSQL of %s", c->nodes[i].name);
		if (port_check_free(c->nodes[i].pg_port, what, err) < 0)
			return -1;
		str_fmt(what, sizeof what, "REST API of %s", c->nodes[i].name);
		if (port_check_free(c->nodes[i].api_port, what, err) < 0)
			return -1;
	}
	if (c->haproxy &&
	    (port_check_free(c->rw_port, "HAProxy rw", err) < 0 || port_check_free(c->ro_port, "HAProxy ro", err) < 0 ||
	     port_check_free(c->agent_port, "proxy agent checks", err) < 0 ||
	     port_check_free(c->metrics_port, "HAProxy metrics", err) < 0))
		return -1;
	return 0;
}

/* One GET /health on loopback; a short plain-socket exchange is all it takes. */
static bool etcd_healthy(int port)
{
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return false;
	struct timeval tv = {1, 0};
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
	setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
	struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	char buf[4096];
	size_t used = 0;
	const char *req = "GET /health HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n";
	if (connect(fd, (struct sockaddr *)&sa, sizeof sa) == 0 &&
	    write(fd, req, strlen(req)) == (ssize_t)strlen(req)) {
		ssize_t n;
		while (used < sizeof buf - 1 && (n = read(fd, buf + used, sizeof buf - 1 - used)) > 0)
			used += (size_t)n;
	}
	close(fd);
	buf[used] = '\0';
	return strstr(buf, "\"health\":\"true\"") != NULL;
}

static void node_probe_run(const local_node *n, node_probe *p)
{
	memset(p, 0, sizeof *p);
	char conninfo[LOCAL_DSN_MAX + 32];
	str_fmt(conninfo, sizeof conninfo, "%s connect_timeout=2", n->dsn);
	PGconn *conn = PQconnectdb(conninfo);
	PGresult *res = NULL;
	if (PQstatus(conn) != CONNECTION_OK) {
		str_fmt(p->error, sizeof p->error, "%s", PQerrorMessage(conn));
		goto done;
	}
	res = PQexec(conn, "SELECT pg_is_in_recovery(), (SELECT status FROM pg_stat_wal_receiver LIMIT 1), "
			   "current_setting('synchronous_standby_names')");
	if (PQresultStatus(res) != PGRES_TUPLES_OK || PQntuples(res) != 1) {
		str_fmt(p->error, sizeof p->error, "%s", PQerrorMessage(conn));
		goto done;
	}
	p->role = strcmp(PQgetvalue(res, 0, 0), "t") == 0 ? NODE_REPLICA : NODE_PRIMARY;
	if (!PQgetisnull(res, 0, 1))
		str_fmt(p->wal_status, sizeof p->wal_status, "%s", PQgetvalue(res, 0, 1));
	str_fmt(p->sync_names, sizeof p->sync_names, "%s", PQgetvalue(res, 0, 2));
done:
	/* libpq's messages end with a newline and may span lines; keep the first. */
	p->error[strcspn(p->error, "\n")] = '\0';
	PQclear(res);
	PQfinish(conn);
}

/* ---- up ------------------------------------------------------------------ */

/* Refuses a DIR that holds a running cluster, or that holds something else. */
static int up_check_dir(const local_cluster *c, fl_err *err)
{
	if (access(c->json, F_OK) < 0) {
		if (!dir_is_empty(c->dir))
			return fl_fail(err, FL_ERR_CONFLICT,
				       "local up: %s is not empty and holds no cluster.json\nHINT: choose a new or "
				       "empty directory",
				       c->dir);
		return 0;
	}
	local_cluster *old = calloc(1, sizeof *old);
	if (old == NULL)
		return fl_fail(err, FL_ERR_INTERNAL, "local up: out of memory");
	int rc = 0;
	if (cluster_load(old, "local up", c->dir, err) < 0)
		rc = -1;
	else if (proc_matches(old->etcd_pid, "etcd", old->etcd_dir))
		rc = fl_fail(err, FL_ERR_CONFLICT,
			     "local up: a cluster already runs in %s (etcd pid %d)\nHINT: flotilla local down --dir %s "
			     "stops it",
			     c->dir, (int)old->etcd_pid, c->dir);
	for (int i = 0; rc == 0 && i < old->n; i++)
		if (proc_matches(old->nodes[i].agent_pid, LOCAL_AGENT, old->nodes[i].config))
			rc = fl_fail(err, FL_ERR_CONFLICT,
				     "local up: agent %s of a previous cluster still runs in %s (pid %d)\nHINT: "
				     "flotilla local down --dir %s stops it",
				     old->nodes[i].name, c->dir, (int)old->nodes[i].agent_pid, c->dir);
	free(old);
	return rc;
}

/* Reuses a secret of a previous run (its data directories know it), or makes one. */
static int up_secret(const char *path, const char *what, const run_as *as, char *out, size_t size, fl_err *err)
{
	if (access(path, F_OK) == 0) {
		if (secret_read(what, path, out, size, err) < 0)
			return -1;
	} else {
		unsigned char raw[16];
		if (getrandom(raw, sizeof raw, 0) != (ssize_t)sizeof raw)
			return fl_fail(err, FL_ERR_INTERNAL, "local up: getrandom failed to make the %s: %s", what,
				       strerror(errno));
		for (size_t i = 0; i < sizeof raw; i++)
			str_fmt(out + 2 * i, 3, "%02x", raw[i]);
	}
	return file_write(path, out, 0600, as->change ? as->uid : (uid_t)-1, as->gid, err);
}

static int up_node_config(const local_cluster *c, const local_node *n, const up_opts *o, const run_as *as, fl_err *err)
{
	char *text = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&text, &len);
	if (f == NULL)
		return fl_fail(err, FL_ERR_INTERNAL, "local up: open_memstream: %s", strerror(errno));
	char buf[PATH_MAX + 64];
	fprintf(f, "# flotilla-replicator settings of node %s, written by `flotilla local up`.\n", n->name);
	conf_add_string(f, "scope", LOCAL_SCOPE);
	conf_add_string(f, "name", n->name);
	conf_add_string(f, "data_dir", n->data_dir);
	conf_add_string(f, "bin_dir", o->bin_dir);
	str_fmt(buf, sizeof buf, "%s/run", n->dir);
	conf_add_string(f, "state_dir", buf);
	str_fmt(buf, sizeof buf, "127.0.0.1:%d", n->pg_port);
	conf_add_string(f, "listen", buf);
	str_fmt(buf, sizeof buf, "127.0.0.1:%d", n->api_port);
	conf_add_string(f, "api_listen", buf);
	fprintf(f, "synchronous_mode = %s;\n", o->sync ? "true" : "false");
	fprintf(f, "etcd = {\n  endpoints = [ \"%s\" ];\n};\nsecrets = {\n  ", c->endpoint);
	str_fmt(buf, sizeof buf, "%s/secrets/superuser_password", c->dir);
	conf_add_string(f, "superuser_password_file", buf);
	fprintf(f, "  ");
	str_fmt(buf, sizeof buf, "%s/secrets/replication_password", c->dir);
	conf_add_string(f, "replication_password_file", buf);
	fprintf(f, "  ");
	str_fmt(buf, sizeof buf, "%s/secrets/api_token", c->dir);
	conf_add_string(f, "api_token_file", buf);
	fprintf(f, "};\n");
	fclose(f);
	int rc = file_write(n->config, text, 0644, as->change ? as->uid : (uid_t)-1, as->gid, err);
	free(text);
	return rc;
}

/* ---- HAProxy and the proxy agent (--haproxy) ---- */

static int up_proxy_files(const local_cluster *c, const run_as *as, fl_err *err)
{
	haproxy_server servers[LOCAL_MAX_NODES];
	char pg[LOCAL_MAX_NODES][32], rw[32], ro[32], metrics[32];
	for (int i = 0; i < c->n; i++) {
		str_fmt(pg[i], sizeof pg[i], "127.0.0.1:%d", c->nodes[i].pg_port);
		servers[i] = (haproxy_server){c->nodes[i].name, pg[i], "127.0.0.1", c->nodes[i].api_port};
	}
	str_fmt(rw, sizeof rw, "127.0.0.1:%d", c->rw_port);
	str_fmt(ro, sizeof ro, "127.0.0.1:%d", c->ro_port);
	str_fmt(metrics, sizeof metrics, "127.0.0.1:%d", c->metrics_port);
	char state_file[PATH_MAX];
	str_fmt(state_file, sizeof state_file, "%s/haproxy/server-state", c->dir);
	haproxy_params hp = {rw,         ro,          metrics,       c->haproxy_socket,
			     state_file, "127.0.0.1", c->agent_port, LOCAL_MAX_LAG,
			     1000,       servers,     c->n};
	char *cfg = haproxy_config_render(haproxy_template, &hp, err);
	if (cfg == NULL)
		return -1;
	int rc = file_write(c->haproxy_cfg, cfg, 0644, as->change ? as->uid : (uid_t)-1, as->gid, err);
	free(cfg);
	if (rc < 0)
		return -1;
	char *text = NULL, listen[32];
	size_t len = 0;
	FILE *f = open_memstream(&text, &len);
	if (f == NULL)
		return fl_fail(err, FL_ERR_INTERNAL, "local up: open_memstream: %s", strerror(errno));
	fprintf(f, "# flotilla-proxy-agent settings, written by `flotilla local up --haproxy`.\n");
	conf_add_string(f, "name", "proxy-agent");
	conf_add_string(f, "scope", LOCAL_SCOPE);
	fprintf(f,
		"etcd = {\n  endpoints = [ \"%s\" ];\n};\nhaproxy = {\n  sockets = [ \"%s\" ];\n  state_files = [ "
		"\"%s\" ];\n};\n",
		c->endpoint, c->haproxy_socket, state_file);
	str_fmt(listen, sizeof listen, "127.0.0.1:%d", c->agent_port);
	fprintf(f, "agent_check = {\n  ");
	conf_add_string(f, "listen", listen);
	fprintf(f, "};\n");
	fclose(f);
	rc = file_write(c->proxy_conf, text, 0644, as->change ? as->uid : (uid_t)-1, as->gid, err);
	free(text);
	return rc;
}

static int up_start_proxy(local_cluster *c, const char *proxy_agent, const run_as *as, fl_err *err)
{
	char dir[PATH_MAX];
	str_fmt(dir, sizeof dir, "%s/haproxy", c->dir);
	/* -db: in the foreground, logging to stderr (the log file); -W would add a master process. */
	char *hargv[] = {LOCAL_HAPROXY, "-db", "-f", c->haproxy_cfg, NULL};
	if (spawn_daemon("haproxy", as, dir, c->haproxy_log, hargv, &c->haproxy_pid, err) < 0)
		return -1;
	log_info("started haproxy pid=%d rw=127.0.0.1:%d ro=127.0.0.1:%d log=%s", (int)c->haproxy_pid, c->rw_port,
		 c->ro_port, c->haproxy_log);
	/* The agent needs the Runtime API socket: wait for it (HAProxy creates it before serving). */
	double until = clock_mono() + 10;
	while (access(c->haproxy_socket, F_OK) < 0 && clock_mono() < until) {
		char how[128];
		if (proc_ended(c->haproxy_pid, how, sizeof how)) {
			log_tail_print(c->haproxy_log, LOCAL_TAIL_LINES);
			return fl_fail(err, FL_ERR_HAPROXY,
				       "local up: haproxy (pid %d) %s at start\nHINT: read %s; flotilla local down "
				       "--dir %s cleans up",
				       (int)c->haproxy_pid, how, c->haproxy_log, c->dir);
		}
		clock_sleep(0.05);
	}
	str_fmt(dir, sizeof dir, "%s/proxy-agent", c->dir);
	char *aargv[] = {(char *)proxy_agent, "--config", c->proxy_conf, NULL};
	if (spawn_daemon("proxy agent", as, dir, c->proxy_log, aargv, &c->proxy_agent_pid, err) < 0)
		return -1;
	log_info("started proxy agent pid=%d agent_checks=127.0.0.1:%d log=%s", (int)c->proxy_agent_pid, c->agent_port,
		 c->proxy_log);
	return 0;
}

/* Until a read-write session opens through HAProxy's rw port. */
static int up_wait_proxy(const local_cluster *c, double deadline, int timeout, fl_err *err)
{
	char how[128], last[256] = "";
	for (;;) {
		PGconn *conn = PQconnectdb(c->rw_dsn);
		bool ok = PQstatus(conn) == CONNECTION_OK;
		if (!ok)
			str_fmt(last, sizeof last, "%s", PQerrorMessage(conn));
		PQfinish(conn);
		if (ok)
			return 0;
		pid_t pids[] = {c->haproxy_pid, c->proxy_agent_pid};
		const char *names[] = {"haproxy", "proxy agent"}, *logs[] = {c->haproxy_log, c->proxy_log};
		for (int i = 0; i < 2; i++)
			if (proc_ended(pids[i], how, sizeof how)) {
				log_tail_print(logs[i], LOCAL_TAIL_LINES);
				return fl_fail(err, FL_ERR_HAPROXY,
					       "local up: %s (pid %d) %s\nHINT: read %s; flotilla local down --dir %s "
					       "cleans up",
					       names[i], (int)pids[i], how, logs[i], c->dir);
			}
		if (clock_mono() >= deadline)
			return fl_fail(err, FL_ERR_TIMEOUT,
				       "local up: HAProxy's rw port 127.0.0.1:%d did not reach the leader within %d s: "
				       "%s\nHINT: read %s and %s",
				       c->rw_port, timeout, last, c->haproxy_log, c->proxy_log);
		clock_sleep(LOCAL_POLL_SECONDS);
	}
}

/* DIR's files: secrets, the invoker's passfile, etcd's and each node's directories. */
static int up_layout(const local_cluster *c, const up_opts *o, const run_as *as, fl_err *err)
{
	char path[PATH_MAX], su[LOCAL_SECRET_MAX], repl[LOCAL_SECRET_MAX];
	if (dir_make_owned(c->dir, 0755, as, err) < 0)
		return -1;
	str_fmt(path, sizeof path, "%s/secrets", c->dir);
	if (dir_make_owned(path, 0700, as, err) < 0)
		return -1;
	str_fmt(path, sizeof path, "%s/secrets/superuser_password", c->dir);
	if (up_secret(path, "superuser password", as, su, sizeof su, err) < 0)
		return -1;
	str_fmt(path, sizeof path, "%s/secrets/replication_password", c->dir);
	if (up_secret(path, "replication password", as, repl, sizeof repl, err) < 0)
		return -1;
	char token[LOCAL_SECRET_MAX];
	str_fmt(path, sizeof path, "%s/secrets/api_token", c->dir);
	int trc = up_secret(path, "api token", as, token, sizeof token, err);
	memset(token, 0, sizeof token);
	if (trc < 0)
		return -1;
	char pgpass[2 * LOCAL_SECRET_MAX + 128];
	str_fmt(pgpass, sizeof pgpass, "127.0.0.1:*:*:postgres:%s\nlocalhost:*:*:postgres:%s\n", su, su);
	int rc = file_write(c->pgpass, pgpass, 0600, (uid_t)-1, 0, err);
	memset(su, 0, sizeof su);
	memset(repl, 0, sizeof repl);
	memset(pgpass, 0, sizeof pgpass);
	if (rc < 0 || dir_make_owned(c->etcd_dir, 0700, as, err) < 0)
		return -1;
	if (c->haproxy) {
		str_fmt(path, sizeof path, "%s/haproxy", c->dir);
		if (dir_make_owned(path, 0700, as, err) < 0)
			return -1;
		str_fmt(path, sizeof path, "%s/proxy-agent", c->dir);
		if (dir_make_owned(path, 0755, as, err) < 0 || up_proxy_files(c, as, err) < 0)
			return -1;
	}
	for (int i = 0; i < c->n; i++) {
		const local_node *n = &c->nodes[i];
		if (dir_make_owned(n->dir, 0755, as, err) < 0)
			return -1;
		str_fmt(path, sizeof path, "%s/run", n->dir);
		if (dir_make_owned(path, 0700, as, err) < 0 || up_node_config(c, n, o, as, err) < 0)
			return -1;
	}
	return 0;
}

static int up_start_etcd(local_cluster *c, const run_as *as, fl_err *err)
{
	char client[64], peer[64], initial[96];
	str_fmt(client, sizeof client, "http://127.0.0.1:%d", c->etcd_port);
	str_fmt(peer, sizeof peer, "http://127.0.0.1:%d", c->etcd_port + 1);
	str_fmt(initial, sizeof initial, "flotilla=%s", peer);
	char *argv[] = {"etcd",      "--name",
			"flotilla",  "--data-dir",
			c->etcd_dir, "--listen-client-urls",
			client,      "--advertise-client-urls",
			client,      "--listen-peer-urls",
			peer,        "--initial-advertise-peer-urls",
			peer,        "--initial-cluster",
			initial,     "--initial-cluster-state",
			"new",       NULL};
	if (spawn_daemon("etcd", as, c->dir, c->etcd_log, argv, &c->etcd_pid, err) < 0)
		return -1;
	log_info("started etcd pid=%d client=%s log=%s", (int)c->etcd_pid, client, c->etcd_log);
	return 0;
}

static int up_wait_etcd(const local_cluster *c, double deadline, int timeout, fl_err *err)
{
	char how[128];
	for (;;) {
		if (etcd_healthy(c->etcd_port))
			return 0;
		if (proc_ended(c->etcd_pid, how, sizeof how)) {
			log_tail_print(c->etcd_log, LOCAL_TAIL_LINES);
			return fl_fail(err, FL_ERR_ETCD,
				       "local up: etcd (pid %d) %s before it was healthy\nHINT: read %s; flotilla "
				       "local down --dir %s cleans up",
				       (int)c->etcd_pid, how, c->etcd_log, c->dir);
		}
		if (clock_mono() >= deadline) {
			log_tail_print(c->etcd_log, LOCAL_TAIL_LINES);
			return fl_fail(err, FL_ERR_TIMEOUT,
				       "local up: etcd at %s did not report healthy within %d s\nHINT: etcd was left "
				       "running; flotilla local down --dir %s cleans up",
				       c->endpoint, timeout, c->dir);
		}
		clock_sleep(LOCAL_POLL_SECONDS);
	}
}

/* An agent program: $<env>, or `program` next to this executable. */
static int up_program_path(const char *env_name, const char *program, char *out, size_t size, fl_err *err)
{
	const char *env = getenv(env_name);
	char path[PATH_MAX];
	if (env != NULL && env[0] != '\0') {
		str_fmt(path, sizeof path, "%s", env);
	} else {
		ssize_t n = readlink("/proc/self/exe", path, sizeof path - 1);
		if (n < 0)
			return fl_fail(err, FL_ERR_IO, "local up: cannot read /proc/self/exe: %s", strerror(errno));
		path[n] = '\0';
		char *slash = strrchr(path, '/');
		str_fmt(slash + 1, sizeof path - (size_t)(slash + 1 - path), "%s", program);
	}
	/* Absolute, because the daemons start in other directories. */
	char real[PATH_MAX];
	if (realpath(path, real) == NULL || access(real, X_OK) < 0)
		return fl_fail(err, FL_ERR_NOT_FOUND,
			       "local up: agent program %s is not an executable file\nHINT: build %s next to flotilla, "
			       "or set %s",
			       path, program, env_name);
	str_fmt(out, size, "%s", real);
	return 0;
}

static int up_start_agents(local_cluster *c, const char *agent, const run_as *as, fl_err *err)
{
	for (int i = 0; i < c->n; i++) {
		local_node *n = &c->nodes[i];
		char *argv[] = {(char *)agent, "--config", n->config, NULL};
		if (spawn_daemon(n->name, as, n->dir, n->log, argv, &n->agent_pid, err) < 0)
			return -1;
		log_info("started agent %s pid=%d pg_port=%d api_port=%d log=%s", n->name, (int)n->agent_pid,
			 n->pg_port, n->api_port, n->log);
	}
	return 0;
}

/*
 * Whether synchronous_standby_names ("ANY 1 (n2,n3)", "FIRST 2 (\"n2\", n3)",
 * "n2, n3", "*") names the standby `name`. Standby names compare without
 * regard to case, as PostgreSQL compares them.
 */
static bool sync_names_has(const char *ssn, const char *name)
{
	const char *p = ssn + strspn(ssn, " \t");
	/* "ANY n (" or "FIRST n (": the list starts after the parenthesis. */
	if ((strncasecmp(p, "ANY", 3) == 0 && (p[3] == ' ' || p[3] == '\t')) ||
	    (strncasecmp(p, "FIRST", 5) == 0 && (p[5] == ' ' || p[5] == '\t'))) {
		const char *paren = strchr(p, '(');
		if (paren == NULL)
			return false;
		p = paren;
	}
	for (;;) {
		p += strspn(p, " \t(,");
		if (*p == '\0' || *p == ')')
			return false;
		char item[128];
		size_t len;
		if (*p == '"') {
			len = strcspn(p + 1, "\"");
			str_fmt(item, sizeof item, "%.*s", (int)len, p + 1);
			p += len + 1 + (p[len + 1] == '"');
		} else {
			len = strcspn(p, " \t,)");
			str_fmt(item, sizeof item, "%.*s", (int)len, p);
			p += len;
		}
		if (strcmp(item, "*") == 0 || strcasecmp(item, name) == 0)
			return true;
	}
}

/* With --sync: whether the leader's synchronous_standby_names names every other node. */
static bool up_sync_ready(const local_cluster *c, const node_probe *probes, int leader)
{
	for (int i = 0; i < c->n; i++)
		if (i != leader && !sync_names_has(probes[leader].sync_names, c->nodes[i].name))
			return false;
	return true;
}

/*
 * One poll of every node: whether there is one primary and N-1 streaming
 * replicas and, with sync, whether the primary's synchronous_standby_names
 * names all of them (until then a commit may be acknowledged by fewer
 * standbys than the cluster has, or none: scripts get a cluster that is
 * fully synchronous).
 */
static bool up_cluster_ready(const local_cluster *c, bool sync, node_probe *probes, int *leader, char *summary,
			     size_t size)
{
	int primaries = 0, streaming = 0;
	summary[0] = '\0';
	*leader = -1;
	for (int i = 0; i < c->n; i++) {
		node_probe *p = &probes[i];
		node_probe_run(&c->nodes[i], p);
		if (p->role == NODE_PRIMARY) {
			primaries++;
			*leader = i;
		}
		if (p->role == NODE_REPLICA && strcmp(p->wal_status, "streaming") == 0)
			streaming++;
		str_add(summary, size, "%s%s=%s", i ? " " : "", c->nodes[i].name, node_role_names[p->role]);
		if (p->role == NODE_REPLICA)
			str_add(summary, size, "(%s)", p->wal_status[0] ? p->wal_status : "no walreceiver");
	}
	if (primaries != 1 || streaming != c->n - 1)
		return false;
	if (!sync || c->n == 1)
		return true;
	str_add(summary, size, " synchronous_standby_names='%s'", probes[*leader].sync_names);
	return up_sync_ready(c, probes, *leader);
}

/* A node is ready when it is the only primary or a streaming replica. */
static bool up_node_ready(const node_probe *p, bool one_primary)
{
	if (p->role == NODE_PRIMARY)
		return one_primary;
	return p->role == NODE_REPLICA && strcmp(p->wal_status, "streaming") == 0;
}

static int up_wait_cluster(const local_cluster *c, bool sync, double deadline, int timeout, int *leader,
			   node_probe *probes, fl_err *err)
{
	char summary[1024], last[1024] = "", how[128], goal[160];
	str_fmt(goal, sizeof goal, "one primary and %d streaming replica%s%s", c->n - 1, c->n == 2 ? "" : "s",
		sync && c->n > 1 ? ", all named in its synchronous_standby_names" : "");
	for (;;) {
		for (int i = 0; i < c->n; i++) {
			const local_node *n = &c->nodes[i];
			if (!proc_ended(n->agent_pid, how, sizeof how))
				continue;
			log_tail_print(n->log, LOCAL_TAIL_LINES);
			return fl_fail(err, FL_ERR_POSTGRES,
				       "local up: agent %s (pid %d) %s before the cluster was ready\nHINT: read %s; "
				       "the rest was left running, flotilla local down --dir %s cleans up",
				       n->name, (int)n->agent_pid, how, n->log, c->dir);
		}
		if (up_cluster_ready(c, sync, probes, leader, summary, sizeof summary))
			return 0;
		if (strcmp(summary, last) != 0) {
			log_info("waiting for %s: %s", goal, summary);
			str_fmt(last, sizeof last, "%s", summary);
		}
		if (clock_mono() >= deadline)
			break;
		clock_sleep(LOCAL_POLL_SECONDS);
	}
	int primaries = 0;
	for (int i = 0; i < c->n; i++)
		primaries += probes[i].role == NODE_PRIMARY;
	for (int i = 0; i < c->n; i++)
		if (!up_node_ready(&probes[i], primaries == 1))
			log_tail_print(c->nodes[i].log, LOCAL_TAIL_LINES);
	return fl_fail(err, FL_ERR_TIMEOUT,
		       "local up: no %s within %d s: %s\nHINT: everything was left running for inspection; flotilla "
		       "local down --dir %s cleans up",
		       goal, timeout, summary, c->dir);
}

static void up_print(const local_cluster *c, bool sync, int leader, const node_probe *probes)
{
	printf("cluster \"%s\" is up in %s: %s leads", LOCAL_SCOPE, c->dir, c->nodes[leader].name);
	if (c->n > 1)
		printf(", %d replica%s streaming", c->n - 1, c->n > 2 ? "s" : "");
	if (sync && c->n > 1)
		printf(", synchronous_standby_names = '%s'", probes[leader].sync_names);
	printf("\n\n");
	for (int i = 0; i < c->n; i++)
		printf("  %-3s %-8s postgres 127.0.0.1:%d  api 127.0.0.1:%d  pid %d\n", c->nodes[i].name,
		       i == leader ? "primary" : "replica", c->nodes[i].pg_port, c->nodes[i].api_port,
		       (int)c->nodes[i].agent_pid);
	if (c->haproxy)
		printf("  haproxy  rw 127.0.0.1:%d  ro 127.0.0.1:%d  metrics http://127.0.0.1:%d/metrics  pid %d\n"
		       "  proxy agent pid %d, agent checks 127.0.0.1:%d, runtime api %s\n",
		       c->rw_port, c->ro_port, c->metrics_port, (int)c->haproxy_pid, (int)c->proxy_agent_pid,
		       c->agent_port, c->haproxy_socket);
	printf("\nread-write:  psql \"%s\"\n", c->rw_dsn);
	printf("read-only:   psql \"%s\"\n", c->ro_dsn);
	printf("described:   %s\n", c->json);
	printf("status:      flotilla local status --dir %s\n", c->dir);
	printf("stop:        flotilla local down --dir %s\n", c->dir);
}

static int up_run(local_cluster *c, const up_opts *o, fl_err *err)
{
	run_as as;
	char agent[PATH_MAX], postgres[PATH_MAX], dir[PATH_MAX];
	char proxy_agent[PATH_MAX] = "";
	if (run_as_resolve(o->user, &as, err) < 0 ||
	    up_program_path("FLOTILLA_REPLICATOR", LOCAL_AGENT, agent, sizeof agent, err) < 0 ||
	    (o->haproxy &&
	     up_program_path("FLOTILLA_PROXY_AGENT", LOCAL_PROXY_AGENT, proxy_agent, sizeof proxy_agent, err) < 0))
		return -1;
	str_fmt(postgres, sizeof postgres, "%s/postgres", o->bin_dir);
	if (access(postgres, X_OK) < 0)
		return fl_fail(err, FL_ERR_BINDIR,
			       "local up: %s is not an executable program\nHINT: pass --bin-dir with the directory of "
			       "PostgreSQL 15's programs",
			       postgres);
	if (dir_make(o->dir, 0755, true, err) < 0)
		return -1;
	if (realpath(o->dir, dir) == NULL || strlen(dir) > LOCAL_DIR_MAX)
		return fl_fail(err, FL_ERR_IO, "local up: cannot resolve %s (or it is longer than %d characters)",
			       o->dir, LOCAL_DIR_MAX);
	cluster_layout(c, dir, o->nodes, o->base_port);
	c->haproxy = o->haproxy;
	cluster_dsns(c);
	if (up_check_dir(c, err) < 0 || ports_check(c, err) < 0)
		return -1;
	double deadline = clock_mono() + o->timeout;
	if (up_layout(c, o, &as, err) < 0 || cluster_save(c, err) < 0)
		return -1;
	if (as.change)
		log_info("daemons run as user %s", as.name);
	int rc = up_start_etcd(c, &as, err);
	if (cluster_save(c, rc < 0 ? NULL : err) < 0 || rc < 0)
		return -1;
	if (up_wait_etcd(c, deadline, o->timeout, err) < 0)
		return -1;
	log_info("etcd is healthy at %s", c->endpoint);
	/* All at once: the agents race for the bootstrap themselves. */
	rc = up_start_agents(c, agent, &as, err);
	if (cluster_save(c, rc < 0 ? NULL : err) < 0 || rc < 0)
		return -1;
	int leader = 0;
	node_probe probes[LOCAL_MAX_NODES];
	if (up_wait_cluster(c, o->sync, deadline, o->timeout, &leader, probes, err) < 0)
		return -1;
	if (c->haproxy) {
		rc = up_start_proxy(c, proxy_agent, &as, err);
		if (cluster_save(c, rc < 0 ? NULL : err) < 0 || rc < 0 ||
		    up_wait_proxy(c, deadline, o->timeout, err) < 0)
			return -1;
	}
	if (cluster_save(c, err) < 0)
		return -1;
	up_print(c, o->sync, leader, probes);
	return 0;
}

static int local_up(int argc, char **argv, fl_err *err)
{
	up_opts o;
	bool help = false;
	if (up_parse(argc, argv, &o, &help, err) < 0)
		return -1;
	if (help) {
		up_usage(stdout);
		return 0;
	}
	local_cluster *c = calloc(1, sizeof *c);
	if (c == NULL)
		return fl_fail(err, FL_ERR_INTERNAL, "local up: out of memory");
	int rc = up_run(c, &o, err);
	free(c);
	return rc;
}

/* ---- status -------------------------------------------------------------- */

static void status_print_json(const local_cluster *c, const bool *alive, const node_probe *probes)
{
	json_t *arr = json_array();
	for (int i = 0; i < c->n; i++) {
		const local_node *n = &c->nodes[i];
		const node_probe *p = &probes[i];
		json_t *o = json_pack("{s:s, s:i, s:i, s:I, s:b, s:s}", "name", n->name, "pg_port", n->pg_port,
				      "api_port", n->api_port, "agent_pid", (json_int_t)n->agent_pid, "agent_alive",
				      alive[i], "role", node_role_names[p->role]);
		json_object_set_new(o, "wal_receiver", p->wal_status[0] ? json_string(p->wal_status) : json_null());
		json_object_set_new(o, "error", p->error[0] ? json_string(p->error) : json_null());
		json_array_append_new(arr, o);
	}
	json_dumpf(arr, stdout, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
	printf("\n");
	json_decref(arr);
}

static void status_print_table(const local_cluster *c, const bool *alive, const node_probe *probes)
{
	printf("%-5s %-8s %-8s %-8s %s\n", "NODE", "PG_PORT", "AGENT", "ROLE", "WAL_RECEIVER");
	for (int i = 0; i < c->n; i++) {
		const node_probe *p = &probes[i];
		printf("%-5s %-8d %-8s %-8s %s", c->nodes[i].name, c->nodes[i].pg_port,
		       alive[i] ? "running" : "stopped", node_role_names[p->role],
		       p->wal_status[0] ? p->wal_status : "-");
		printf(p->error[0] ? "  (%s)\n" : "%s\n", p->error);
	}
}

static int local_status(int argc, char **argv, fl_err *err)
{
	const char *dir = NULL;
	bool json = false, help = false;
	if (dir_parse("local status", "json", argc, argv, &dir, &json, &help, err) < 0)
		return -1;
	if (help) {
		status_usage(stdout);
		return 0;
	}
	local_cluster *c = calloc(1, sizeof *c);
	if (c == NULL)
		return fl_fail(err, FL_ERR_INTERNAL, "local status: out of memory");
	int rc = cluster_load(c, "local status", dir, err);
	if (rc == 0) {
		bool alive[LOCAL_MAX_NODES];
		node_probe probes[LOCAL_MAX_NODES];
		char down[128] = "";
		for (int i = 0; i < c->n; i++) {
			alive[i] = proc_matches(c->nodes[i].agent_pid, LOCAL_AGENT, c->nodes[i].config);
			node_probe_run(&c->nodes[i], &probes[i]);
			if (probes[i].role == NODE_STOPPED)
				str_add(down, sizeof down, "%s%s", down[0] ? ", " : "", c->nodes[i].name);
		}
		if (json)
			status_print_json(c, alive, probes);
		else
			status_print_table(c, alive, probes);
		if (down[0] != '\0')
			rc = fl_fail(err, FL_ERR_POSTGRES, "local status: PostgreSQL does not answer on %s", down);
	}
	free(c);
	return rc;
}

/* ---- down ---------------------------------------------------------------- */

/* Signals pid only while it is still `program` working on `path`. */
static bool down_signal(const char *what, pid_t pid, const char *program, const char *path, int sig, int *failures)
{
	if (!proc_matches(pid, program, path))
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
static void down_wait(const char *what, pid_t pid, const char *program, const char *path, double seconds, int *failures)
{
	if (proc_wait_gone(pid, program, path, seconds))
		return;
	log_warn("%s pid=%d still runs after %.0f s, sending SIGKILL", what, (int)pid, seconds);
	if (kill(pid, SIGKILL) == 0 && proc_wait_gone(pid, program, path, LOCAL_KILL_WAIT_SECONDS))
		return;
	log_error("%s pid=%d does not stop", what, (int)pid);
	++*failures;
}

/* The agents first, all at once: each stops its own PostgreSQL on SIGTERM. */
static void down_agents(const local_cluster *c, int *failures)
{
	bool sent[LOCAL_MAX_NODES];
	char what[32];
	for (int i = 0; i < c->n; i++) {
		str_fmt(what, sizeof what, "agent %s", c->nodes[i].name);
		sent[i] = down_signal(what, c->nodes[i].agent_pid, LOCAL_AGENT, c->nodes[i].config, SIGTERM, failures);
	}
	double deadline = clock_mono() + LOCAL_AGENT_STOP_SECONDS;
	for (int i = 0; i < c->n; i++) {
		if (!sent[i])
			continue;
		str_fmt(what, sizeof what, "agent %s", c->nodes[i].name);
		double left = deadline - clock_mono();
		down_wait(what, c->nodes[i].agent_pid, LOCAL_AGENT, c->nodes[i].config, left > 0 ? left : 0, failures);
	}
}

/* A postmaster that outlived its agent (killed, or crashed) gets an immediate shutdown. */
static void down_postmaster(const local_node *n, int *failures)
{
	char path[PATH_MAX + 32], what[48];
	str_fmt(path, sizeof path, "%s/postmaster.pid", n->data_dir);
	FILE *f = fopen(path, "r");
	if (f == NULL)
		return;
	long pid = 0;
	int got = fscanf(f, "%ld", &pid);
	fclose(f);
	if (got != 1 || pid <= 0 || pid > INT_MAX)
		return;
	str_fmt(what, sizeof what, "postmaster of %s", n->name);
	if (down_signal(what, (pid_t)pid, "postgres", n->data_dir, SIGQUIT, failures))
		down_wait(what, (pid_t)pid, "postgres", n->data_dir, LOCAL_PROC_STOP_SECONDS, failures);
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
	/* The proxy agent first (it hands HAProxy back to its own checks), then HAProxy. */
	if (c->haproxy && c->proxy_agent_pid > 0 &&
	    down_signal("proxy agent", c->proxy_agent_pid, LOCAL_PROXY_AGENT, c->proxy_conf, SIGTERM, &failures))
		down_wait("proxy agent", c->proxy_agent_pid, LOCAL_PROXY_AGENT, c->proxy_conf, LOCAL_PROC_STOP_SECONDS,
			  &failures);
	if (c->haproxy && c->haproxy_pid > 0 &&
	    down_signal("haproxy", c->haproxy_pid, LOCAL_HAPROXY, c->haproxy_cfg, SIGTERM, &failures))
		down_wait("haproxy", c->haproxy_pid, LOCAL_HAPROXY, c->haproxy_cfg, LOCAL_PROC_STOP_SECONDS, &failures);
	down_agents(c, &failures);
	for (int i = 0; i < c->n; i++)
		down_postmaster(&c->nodes[i], &failures);
	if (down_signal("etcd", c->etcd_pid, "etcd", c->etcd_dir, SIGTERM, &failures))
		down_wait("etcd", c->etcd_pid, "etcd", c->etcd_dir, LOCAL_PROC_STOP_SECONDS, &failures);
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

static int local_down(int argc, char **argv, fl_err *err)
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

/* ---- dispatch ------------------------------------------------------------ */

typedef struct local_sub {
	const char *name;
	int (*run)(int argc, char **argv, fl_err *err);
} local_sub;

static const local_sub local_subs[] = {
	{"up", local_up},
	{"status", local_status},
	{"down", local_down},
};

int cmd_local(int argc, char **argv, fl_err *err)
{
	if (argc < 2) {
		local_usage(stderr);
		return fl_fail(err, FL_ERR_USAGE, "local: missing subcommand (up, status or down)");
	}
	const char *sub = argv[1];
	if (strcmp(sub, "--help") == 0 || strcmp(sub, "-h") == 0 || strcmp(sub, "help") == 0) {
		local_usage(stdout);
		return 0;
	}
	for (size_t i = 0; i < sizeof local_subs / sizeof local_subs[0]; i++)
		if (strcmp(local_subs[i].name, sub) == 0)
			return local_subs[i].run(argc - 1, argv + 1, err);
	return fl_fail(err, FL_ERR_USAGE, "local: unknown subcommand \"%s\"\nHINT: run flotilla local --help", sub);
}
