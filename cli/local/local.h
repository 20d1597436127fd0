/*
 * local: `flotilla local`, a Flotilla cluster of real processes on loopback,
 * as the CLI's orchestrator. Its files, by noun: the layout of DIR and
 * cluster.json (layout.c), the processes (spawn.c), what answers on the
 * ports (probe.c), the command lines (args.c), strings and files (files.c),
 * and the components (component.c): one row per kind of daemon, with how to
 * write its configuration, start it, wait until it is ready and stop it, so
 * that `up` starts the rows in order and `down` stops them in reverse;
 * adding a daemon to the local cluster is adding a row.
 *
 * `up` runs the daemons as the unprivileged user `postgres` when run as root,
 * because PostgreSQL refuses to run as root; `down` signals a recorded pid
 * only while /proc still shows the expected program working on this
 * cluster's files, because a pid may have been reused since.
 */
#ifndef FL_CLI_LOCAL_H
#define FL_CLI_LOCAL_H

#include <limits.h>
#include <stdbool.h>
#include <stdio.h>
#include <sys/types.h>

#include <jansson.h>

#include "common/err.h"

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
#define LOCAL_BACKUP "flotilla-backup"
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
/* --tls: the etcd user the agents and the CLI are. */
#define LOCAL_ETCD_USER "flotilla"

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
	int proxy_metrics_port;             /* the proxy agent's GET /metrics, P+7 */
	pid_t haproxy_pid, proxy_agent_pid; /* 0 when not started */
	char haproxy_cfg[PATH_MAX];
	char haproxy_socket[PATH_MAX];
	char haproxy_log[PATH_MAX];
	char proxy_conf[PATH_MAX];
	char proxy_log[PATH_MAX];
	/* --tls: etcd over https with client certificates and users, the REST APIs over HTTPS (tls.c). */
	bool tls;
	char tls_dir[PATH_MAX];
	char tls_ca[PATH_MAX], tls_cert[PATH_MAX], tls_key[PATH_MAX];
	char tls_client_cert[PATH_MAX], tls_client_key[PATH_MAX];
	char etcd_password_file[PATH_MAX], etcd_root_password_file[PATH_MAX];
	/* --backup REPO: the backup sidecar on port P+6, every node archiving its WAL there. */
	bool backup;
	int backup_port;
	pid_t backup_pid; /* 0 when not started */
	char backup_repo[PATH_MAX];
	char backup_conf[PATH_MAX];
	char backup_log[PATH_MAX];
	char backup_token[PATH_MAX];
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
	bool tls;
	const char *backup; /* --backup REPO_DIR, NULL without */
	/* --restore-from REPO [--restore-target T] [--restore-key-file F]: the first node restores REPO. */
	const char *restore_from;
	const char *restore_target;
	const char *restore_key_file;
} up_opts;

typedef enum node_role { NODE_STOPPED, NODE_PRIMARY, NODE_REPLICA } node_role;

extern const char *const node_role_names[]; /* by node_role */

/* What a node's PostgreSQL says about itself. */
typedef struct node_probe {
	node_role role;
	char wal_status[32];  /* a replica's walreceiver status; "" when it has none */
	char sync_names[256]; /* synchronous_standby_names, as the node reports it */
	char error[256];      /* why a stopped node did not answer */
} node_probe;

/* ---- strings and files (files.c) ---- */
void str_fmt(char *buf, size_t size, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
void str_add(char *buf, size_t size, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
void dsn_add_value(char *buf, size_t size, const char *v);
void conf_add_string(FILE *f, const char *name, const char *v);
int file_write(const char *path, const char *text, mode_t mode, uid_t uid, gid_t gid, fl_err *err);
int dir_make(const char *path, mode_t mode, bool parents, fl_err *err);
int dir_make_owned(const char *path, mode_t mode, const run_as *as, fl_err *err);
bool dir_is_empty(const char *path);
void log_tail_print(const char *path, int lines);

/* ---- command lines (args.c) ---- */
void local_usage(FILE *f);
void up_usage(FILE *f);
void status_usage(FILE *f);
void down_usage(FILE *f);
void node_ctl_usage(FILE *f);
/* NODE --dir DIR [--timeout SECONDS] of local start, stop and kill. */
int node_parse(const char *cmd, int argc, char **argv, const char **dir, const char **node, int *timeout, bool *help,
	       fl_err *err);
int up_parse(int argc, char **argv, up_opts *o, bool *help, fl_err *err);
int dir_parse(const char *cmd, const char *flag_name, int argc, char **argv, const char **dir, bool *flag, bool *help,
	      fl_err *err);

/* ---- layout and cluster.json (layout.c) ---- */
void cluster_layout(local_cluster *c, const char *dir, int nodes, int base_port);
void cluster_dsns(local_cluster *c);
int cluster_save(const local_cluster *c, fl_err *err);
int cluster_load(local_cluster *c, const char *cmd, const char *dir_arg, fl_err *err);

/* ---- processes (spawn.c) ---- */
bool pid_matches(pid_t pid, const char *program, const char *path);
bool pid_wait_gone(pid_t pid, const char *program, const char *path, double seconds);
/* Whether our child pid ended; how says how ("exited 1", "was killed by signal 9"). */
bool pid_ended(pid_t pid, char *how, size_t size);
int run_as_resolve(const char *user, run_as *as, fl_err *err);
struct passwd;
/* The daemons switch to pw's user (uid, gid, name, home). */
void run_as_user(run_as *as, const struct passwd *pw);
int spawn_daemon(const char *what, const run_as *as, const char *cwd, const char *log_path, char *const argv[],
		 pid_t *pid, fl_err *err);

/* ---- probes (probe.c) ---- */
int ports_check(const local_cluster *c, fl_err *err);
bool etcd_healthy(const local_cluster *c);
void node_probe_run(const local_node *n, node_probe *p);

/* ---- TLS and etcd's users, with --tls (tls.c) ---- */
struct up_ctx;
struct etcd;
/* The paths of DIR/tls and of the etcd passwords. */
void tls_layout(local_cluster *c);
/* The CA and the certificates, unless DIR/tls has them from a previous up. */
int tls_write(const local_cluster *c, const struct up_ctx *x, fl_err *err);
/* A client of the cluster's etcd with the client certificate; with_user, as LOCAL_ETCD_USER too. */
struct etcd *tls_etcd_client(const local_cluster *c, bool with_user, fl_err *err);
/* Switches etcd's users on (root and LOCAL_ETCD_USER), unless they are on already. */
int tls_etcd_users(const local_cluster *c, fl_err *err);

/* ---- the components (component.c) ---- */

/* What `up` knows while it starts the components. */
typedef struct up_ctx {
	const up_opts *o;
	run_as as;
	char agent[PATH_MAX];        /* flotilla-replicator */
	char proxy_agent[PATH_MAX];  /* flotilla-proxy-agent, with --haproxy */
	char backup_agent[PATH_MAX]; /* flotilla-backup, with --backup */
	double deadline;             /* monotonic: the whole `up` */
	int leader;                  /* index of the primary, once the nodes are ready */
	node_probe probes[LOCAL_MAX_NODES];
} up_ctx;

typedef struct local_component {
	const char *name;
	bool (*wanted)(const local_cluster *c);
	/* Its directories and configuration files; NULL when it has none. */
	int (*write_config)(const local_cluster *c, const up_ctx *x, fl_err *err);
	/* Starts it and records its pids in c (cluster.json is saved after). */
	int (*start)(local_cluster *c, up_ctx *x, fl_err *err);
	/* Waits until it is ready, or fails naming what is not (and its log). */
	int (*probe)(const local_cluster *c, up_ctx *x, fl_err *err);
	/* Stops what it started; each process that would not stop counts in failures. */
	void (*stop)(const local_cluster *c, int *failures);
} local_component;

/* In start order: etcd, the backup sidecar, the nodes' agents, HAProxy, the proxy agent. */
extern const local_component local_components[];
extern const int local_n_components;

/* Signals a recorded daemon (if /proc still shows it) and waits for it; used by the stop functions. */
bool down_signal(const char *what, pid_t pid, const char *program, const char *path, int sig, int *failures);
void down_wait(const char *what, pid_t pid, const char *program, const char *path, double seconds, int *failures);

/* ---- the subcommands (up.c, status.c, down.c) ---- */
/* An agent program: $<env_name>, or `program` next to this executable; absolute into out. */
int agent_program_path(const char *cmd, const char *env_name, const char *program, char *out, size_t size, fl_err *err);
int local_up(int argc, char **argv, fl_err *err);
int local_status(int argc, char **argv, fl_err *err);
int local_down(int argc, char **argv, fl_err *err);
int local_start(int argc, char **argv, fl_err *err);
int local_stop(int argc, char **argv, fl_err *err);
int local_kill(int argc, char **argv, fl_err *err);

#endif
