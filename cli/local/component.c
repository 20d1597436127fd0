/*
 * component: the daemons of a local cluster, one row each, in start order:
 * etcd, the nodes' agents (which bootstrap and clone PostgreSQL themselves),
 * HAProxy and the proxy agent (with --haproxy). `up` writes every row's
 * configuration, then starts each row and waits until it is ready before the
 * next; `down` stops them in reverse order.
 */
#include "local.h"

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include <libpq-fe.h>

#include "cli/haproxy_config.h"
#include "cli/http.h"
#include "common/clock.h"
#include "common/log.h"
#include "pg/pidfile.h"

static bool always(const local_cluster *c)
{
	(void)c;
	return true;
}

static bool with_haproxy(const local_cluster *c) { return c->haproxy; }

static bool with_backup(const local_cluster *c) { return c->backup; }

/* ---- etcd ---- */

static int etcd_write(const local_cluster *c, const up_ctx *x, fl_err *err)
{
	if (c->tls && tls_write(c, x, err) < 0)
		return -1;
	return dir_make_owned(c->etcd_dir, 0700, &x->as, err);
}

static int etcd_start(local_cluster *c, up_ctx *x, fl_err *err)
{
	char peer[64], initial[96];
	str_fmt(peer, sizeof peer, "http://127.0.0.1:%d", c->etcd_port + 1);
	str_fmt(initial, sizeof initial, "flotilla=%s", peer);
	char *client = (char *)c->endpoint;
	char *argv[] = {"etcd", "--name", "flotilla", "--data-dir", (char *)c->etcd_dir, "--listen-client-urls", client,
			"--advertise-client-urls", client, "--listen-peer-urls", peer, "--initial-advertise-peer-urls",
			peer, "--initial-cluster", initial, "--initial-cluster-state", "new",
			/* --tls: clients present a certificate of the cluster's CA. */
			c->tls ? "--cert-file" : NULL, (char *)c->tls_cert, "--key-file", (char *)c->tls_key,
			"--client-cert-auth", "--trusted-ca-file", (char *)c->tls_ca, NULL};
	if (spawn_daemon("etcd", &x->as, c->dir, c->etcd_log, argv, &c->etcd_pid, err) < 0)
		return -1;
	log_info("started etcd pid=%d client=%s log=%s", (int)c->etcd_pid, client, c->etcd_log);
	return 0;
}

static int etcd_probe(const local_cluster *c, up_ctx *x, fl_err *err)
{
	char how[128];
	for (;;) {
		if (etcd_healthy(c)) {
			log_info("etcd is healthy at %s", c->endpoint);
			return c->tls ? tls_etcd_users(c, err) : 0;
		}
		if (pid_ended(c->etcd_pid, how, sizeof how)) {
			log_tail_print(c->etcd_log, LOCAL_TAIL_LINES);
			return fl_fail(err, FL_ERR_ETCD,
				       "local up: etcd (pid %d) %s before it was healthy\nHINT: read %s; flotilla "
				       "local down --dir %s cleans up",
				       (int)c->etcd_pid, how, c->etcd_log, c->dir);
		}
		if (clock_mono() >= x->deadline) {
			log_tail_print(c->etcd_log, LOCAL_TAIL_LINES);
			return fl_fail(err, FL_ERR_TIMEOUT,
				       "local up: etcd at %s did not report healthy within %d s\nHINT: etcd was left "
				       "running; flotilla local down --dir %s cleans up",
				       c->endpoint, x->o->timeout, c->dir);
		}
		clock_sleep(LOCAL_POLL_SECONDS);
	}
}

static void etcd_stop(const local_cluster *c, int *failures)
{
	if (down_signal("etcd", c->etcd_pid, "etcd", c->etcd_dir, SIGTERM, failures))
		down_wait("etcd", c->etcd_pid, "etcd", c->etcd_dir, LOCAL_PROC_STOP_SECONDS, failures);
}

/* The etcd group of a daemon's settings: the endpoint and, with --tls, the CA, the client certificate, the user. */
static void etcd_conf_write(FILE *f, const local_cluster *c)
{
	fprintf(f, "etcd = {\n  endpoints = [ \"%s\" ];\n", c->endpoint);
	if (c->tls) {
		fprintf(f, "  ");
		conf_add_string(f, "ca_file", c->tls_ca);
		fprintf(f, "  ");
		conf_add_string(f, "cert_file", c->tls_client_cert);
		fprintf(f, "  ");
		conf_add_string(f, "username", LOCAL_ETCD_USER);
	}
	fprintf(f, "};\n");
}

/* ---- the nodes: one flotilla-replicator each, which runs its PostgreSQL ---- */

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
	/* Named only when asked for: otherwise the dynamic configuration (flotilla edit-config) decides. */
	if (o->sync)
		fprintf(f, "synchronous_mode = true;\n");
	if (c->tls)
		conf_add_string(f, "api_cert_file", c->tls_cert);
	etcd_conf_write(f, c);
	fprintf(f, "secrets = {\n  ");
	if (c->tls) {
		conf_add_string(f, "api_key_file", c->tls_key);
		fprintf(f, "  ");
		conf_add_string(f, "etcd_key_file", c->tls_client_key);
		fprintf(f, "  ");
		conf_add_string(f, "etcd_password_file", c->etcd_password_file);
		fprintf(f, "  ");
	}
	str_fmt(buf, sizeof buf, "%s/secrets/superuser_password", c->dir);
	conf_add_string(f, "superuser_password_file", buf);
	fprintf(f, "  ");
	str_fmt(buf, sizeof buf, "%s/secrets/replication_password", c->dir);
	conf_add_string(f, "replication_password_file", buf);
	fprintf(f, "  ");
	str_fmt(buf, sizeof buf, "%s/secrets/api_token", c->dir);
	conf_add_string(f, "api_token_file", buf);
	if (c->backup) {
		fprintf(f, "  ");
		conf_add_string(f, "backup_token_file", c->backup_token);
	}
	char real[PATH_MAX];
	if (o->restore_key_file != NULL) {
		if (realpath(o->restore_key_file, real) == NULL) {
			fclose(f);
			free(text);
			return fl_fail(err, FL_ERR_USAGE, "local up: --restore-key-file %s: %s", o->restore_key_file,
				       strerror(errno));
		}
		fprintf(f, "  ");
		conf_add_string(f, "restore_key_file", real);
	}
	fprintf(f, "};\n");
	if (o->restore_from != NULL) {
		if (realpath(o->restore_from, real) == NULL) {
			fclose(f);
			free(text);
			return fl_fail(err, FL_ERR_USAGE,
				       "local up: --restore-from %s is not a Flotilla backup repository",
				       o->restore_from);
		}
		fprintf(f, "bootstrap = {\n  ");
		conf_add_string(f, "restore_repo", real);
		if (o->restore_target != NULL) {
			fprintf(f, "  ");
			conf_add_string(f, "restore_target", o->restore_target);
		}
		fprintf(f, "};\n");
	}
	if (c->backup) {
		str_fmt(buf, sizeof buf, "http://127.0.0.1:%d", c->backup_port);
		fprintf(f, "backup = {\n  ");
		conf_add_string(f, "url", buf);
		fprintf(f, "};\n");
	}
	fclose(f);
	int rc = file_write(n->config, text, 0644, as->change ? as->uid : (uid_t)-1, as->gid, err);
	free(text);
	return rc;
}

static int nodes_write(const local_cluster *c, const up_ctx *x, fl_err *err)
{
	char path[PATH_MAX];
	for (int i = 0; i < c->n; i++) {
		const local_node *n = &c->nodes[i];
		if (dir_make_owned(n->dir, 0755, &x->as, err) < 0)
			return -1;
		str_fmt(path, sizeof path, "%s/run", n->dir);
		if (dir_make_owned(path, 0700, &x->as, err) < 0 || up_node_config(c, n, x->o, &x->as, err) < 0)
			return -1;
	}
	return 0;
}

/* All at once: the agents race for the bootstrap themselves. */
static int nodes_start(local_cluster *c, up_ctx *x, fl_err *err)
{
	for (int i = 0; i < c->n; i++) {
		local_node *n = &c->nodes[i];
		char *argv[] = {x->agent, "--config", n->config, NULL};
		if (spawn_daemon(n->name, &x->as, n->dir, n->log, argv, &n->agent_pid, err) < 0)
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

static int nodes_probe(const local_cluster *c, up_ctx *x, fl_err *err)
{
	char summary[1024], last[1024] = "", how[128], goal[160];
	str_fmt(goal, sizeof goal, "one primary and %d streaming replica%s%s", c->n - 1, c->n == 2 ? "" : "s",
		x->o->sync && c->n > 1 ? ", all named in its synchronous_standby_names" : "");
	for (;;) {
		for (int i = 0; i < c->n; i++) {
			const local_node *n = &c->nodes[i];
			if (!pid_ended(n->agent_pid, how, sizeof how))
				continue;
			log_tail_print(n->log, LOCAL_TAIL_LINES);
			return fl_fail(err, FL_ERR_POSTGRES,
				       "local up: agent %s (pid %d) %s before the cluster was ready\nHINT: read %s; "
				       "the rest was left running, flotilla local down --dir %s cleans up",
				       n->name, (int)n->agent_pid, how, n->log, c->dir);
		}
		if (up_cluster_ready(c, x->o->sync, x->probes, &x->leader, summary, sizeof summary))
			return 0;
		if (strcmp(summary, last) != 0) {
			log_info("waiting for %s: %s", goal, summary);
			str_fmt(last, sizeof last, "%s", summary);
		}
		if (clock_mono() >= x->deadline)
			break;
		clock_sleep(LOCAL_POLL_SECONDS);
	}
	int primaries = 0;
	for (int i = 0; i < c->n; i++)
		primaries += x->probes[i].role == NODE_PRIMARY;
	for (int i = 0; i < c->n; i++)
		if (!up_node_ready(&x->probes[i], primaries == 1))
			log_tail_print(c->nodes[i].log, LOCAL_TAIL_LINES);
	return fl_fail(err, FL_ERR_TIMEOUT,
		       "local up: no %s within %d s: %s\nHINT: everything was left running for inspection; flotilla "
		       "local down --dir %s cleans up",
		       goal, x->o->timeout, summary, c->dir);
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
	char what[48];
	pid_t pid = pg_postmaster_pid(n->data_dir);
	if (pid == 0)
		return;
	str_fmt(what, sizeof what, "postmaster of %s", n->name);
	if (down_signal(what, pid, "postgres", n->data_dir, SIGQUIT, failures))
		down_wait(what, pid, "postgres", n->data_dir, LOCAL_PROC_STOP_SECONDS, failures);
}

static void nodes_stop(const local_cluster *c, int *failures)
{
	down_agents(c, failures);
	for (int i = 0; i < c->n; i++)
		down_postmaster(&c->nodes[i], failures);
}

/* ---- HAProxy ---- */

static void state_file_path(const local_cluster *c, char *buf, size_t len)
{
	str_fmt(buf, len, "%s/haproxy/server-state", c->dir);
}

static int haproxy_write(const local_cluster *c, const up_ctx *x, fl_err *err)
{
	const run_as *as = &x->as;
	char path[PATH_MAX];
	str_fmt(path, sizeof path, "%s/haproxy", c->dir);
	if (dir_make_owned(path, 0700, as, err) < 0)
		return -1;
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
	state_file_path(c, state_file, sizeof state_file);
	haproxy_params hp = {rw,         ro,          metrics,       c->haproxy_socket,
			     state_file, "127.0.0.1", c->agent_port, LOCAL_MAX_LAG,
			     1000,       servers,     c->n,          c->tls ? c->tls_ca : NULL,
			     false};
	char *cfg = haproxy_config_render(haproxy_template, &hp, err);
	if (cfg == NULL)
		return -1;
	int rc = file_write(c->haproxy_cfg, cfg, 0644, as->change ? as->uid : (uid_t)-1, as->gid, err);
	free(cfg);
	return rc;
}

static int haproxy_start(local_cluster *c, up_ctx *x, fl_err *err)
{
	char dir[PATH_MAX];
	str_fmt(dir, sizeof dir, "%s/haproxy", c->dir);
	/* -db: in the foreground, logging to stderr (the log file); -W would add a master process. */
	char *hargv[] = {LOCAL_HAPROXY, "-db", "-f", c->haproxy_cfg, NULL};
	if (spawn_daemon("haproxy", &x->as, dir, c->haproxy_log, hargv, &c->haproxy_pid, err) < 0)
		return -1;
	log_info("started haproxy pid=%d rw=127.0.0.1:%d ro=127.0.0.1:%d log=%s", (int)c->haproxy_pid, c->rw_port,
		 c->ro_port, c->haproxy_log);
	return 0;
}

/* The proxy agent needs the Runtime API socket: until it exists (HAProxy creates it before serving). */
static int haproxy_probe(const local_cluster *c, up_ctx *x, fl_err *err)
{
	(void)x;
	double until = clock_mono() + 10;
	while (access(c->haproxy_socket, F_OK) < 0 && clock_mono() < until) {
		char how[128];
		if (pid_ended(c->haproxy_pid, how, sizeof how)) {
			log_tail_print(c->haproxy_log, LOCAL_TAIL_LINES);
			return fl_fail(err, FL_ERR_HAPROXY,
				       "local up: haproxy (pid %d) %s at start\nHINT: read %s; flotilla local down "
				       "--dir %s cleans up",
				       (int)c->haproxy_pid, how, c->haproxy_log, c->dir);
		}
		clock_sleep(0.05);
	}
	return 0;
}

static void haproxy_stop(const local_cluster *c, int *failures)
{
	if (c->haproxy_pid > 0 &&
	    down_signal("haproxy", c->haproxy_pid, LOCAL_HAPROXY, c->haproxy_cfg, SIGTERM, failures))
		down_wait("haproxy", c->haproxy_pid, LOCAL_HAPROXY, c->haproxy_cfg, LOCAL_PROC_STOP_SECONDS, failures);
}

/* ---- the proxy agent: it steers HAProxy, and hands it back to its own checks when stopped ---- */

static int proxy_agent_write(const local_cluster *c, const up_ctx *x, fl_err *err)
{
	const run_as *as = &x->as;
	char path[PATH_MAX], state_file[PATH_MAX];
	str_fmt(path, sizeof path, "%s/proxy-agent", c->dir);
	if (dir_make_owned(path, 0755, as, err) < 0)
		return -1;
	state_file_path(c, state_file, sizeof state_file);
	char *text = NULL, listen[32];
	size_t len = 0;
	FILE *f = open_memstream(&text, &len);
	if (f == NULL)
		return fl_fail(err, FL_ERR_INTERNAL, "local up: open_memstream: %s", strerror(errno));
	fprintf(f, "# flotilla-proxy-agent settings, written by `flotilla local up --haproxy`.\n");
	conf_add_string(f, "name", "proxy-agent");
	conf_add_string(f, "scope", LOCAL_SCOPE);
	etcd_conf_write(f, c);
	if (c->tls) {
		fprintf(f, "secrets = {\n  ");
		conf_add_string(f, "etcd_key_file", c->tls_client_key);
		fprintf(f, "  ");
		conf_add_string(f, "etcd_password_file", c->etcd_password_file);
		fprintf(f, "};\n");
	}
	fprintf(f, "haproxy = {\n  sockets = [ \"%s\" ];\n  state_files = [ \"%s\" ];\n};\n", c->haproxy_socket,
		state_file);
	str_fmt(listen, sizeof listen, "127.0.0.1:%d", c->agent_port);
	fprintf(f, "agent_check = {\n  ");
	conf_add_string(f, "listen", listen);
	fprintf(f, "};\n");
	str_fmt(listen, sizeof listen, "127.0.0.1:%d", c->proxy_metrics_port);
	conf_add_string(f, "metrics_listen", listen);
	fclose(f);
	int rc = file_write(c->proxy_conf, text, 0644, as->change ? as->uid : (uid_t)-1, as->gid, err);
	free(text);
	return rc;
}

static int proxy_agent_start(local_cluster *c, up_ctx *x, fl_err *err)
{
	char dir[PATH_MAX];
	str_fmt(dir, sizeof dir, "%s/proxy-agent", c->dir);
	char *aargv[] = {x->proxy_agent, "--config", c->proxy_conf, NULL};
	if (spawn_daemon("proxy agent", &x->as, dir, c->proxy_log, aargv, &c->proxy_agent_pid, err) < 0)
		return -1;
	log_info("started proxy agent pid=%d agent_checks=127.0.0.1:%d log=%s", (int)c->proxy_agent_pid, c->agent_port,
		 c->proxy_log);
	return 0;
}

/* Until a read-write session opens through HAProxy's rw port. */
static int proxy_agent_probe(const local_cluster *c, up_ctx *x, fl_err *err)
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
			if (pid_ended(pids[i], how, sizeof how)) {
				log_tail_print(logs[i], LOCAL_TAIL_LINES);
				return fl_fail(err, FL_ERR_HAPROXY,
					       "local up: %s (pid %d) %s\nHINT: read %s; flotilla local down --dir %s "
					       "cleans up",
					       names[i], (int)pids[i], how, logs[i], c->dir);
			}
		if (clock_mono() >= x->deadline)
			return fl_fail(err, FL_ERR_TIMEOUT,
				       "local up: HAProxy's rw port 127.0.0.1:%d did not reach the leader within %d s: "
				       "%s\nHINT: read %s and %s",
				       c->rw_port, x->o->timeout, last, c->haproxy_log, c->proxy_log);
		clock_sleep(LOCAL_POLL_SECONDS);
	}
}

static void proxy_agent_stop(const local_cluster *c, int *failures)
{
	if (c->proxy_agent_pid > 0 &&
	    down_signal("proxy agent", c->proxy_agent_pid, LOCAL_PROXY_AGENT, c->proxy_conf, SIGTERM, failures))
		down_wait("proxy agent", c->proxy_agent_pid, LOCAL_PROXY_AGENT, c->proxy_conf, LOCAL_PROC_STOP_SECONDS,
			  failures);
}

/* ---- the backup sidecar: it archives the nodes' WAL, so it starts before them ---- */

static int backup_write(const local_cluster *c, const up_ctx *x, fl_err *err)
{
	const run_as *as = &x->as;
	char path[PATH_MAX], listen[32];
	str_fmt(path, sizeof path, "%s/backup", c->dir);
	if (dir_make_owned(path, 0755, as, err) < 0 || dir_make_owned(c->backup_repo, 0750, as, err) < 0)
		return -1;
	char *text = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&text, &len);
	if (f == NULL)
		return fl_fail(err, FL_ERR_INTERNAL, "local up: open_memstream: %s", strerror(errno));
	fprintf(f, "# flotilla-backup settings, written by `flotilla local up --backup`.\n");
	conf_add_string(f, "name", "backup");
	conf_add_string(f, "scope", LOCAL_SCOPE);
	conf_add_string(f, "repo", c->backup_repo);
	str_fmt(listen, sizeof listen, "127.0.0.1:%d", c->backup_port);
	conf_add_string(f, "api_listen", listen);
	conf_add_string(f, "bin_dir", x->o->bin_dir);
	/* On demand only: a local cluster is for trying things. */
	conf_add_string(f, "schedule", "");
	etcd_conf_write(f, c);
	fprintf(f, "secrets = {\n  ");
	conf_add_string(f, "api_token_file", c->backup_token);
	fprintf(f, "  ");
	str_fmt(path, sizeof path, "%s/secrets/replication_password", c->dir);
	conf_add_string(f, "replication_password_file", path);
	if (c->tls) {
		fprintf(f, "  ");
		conf_add_string(f, "etcd_key_file", c->tls_client_key);
		fprintf(f, "  ");
		conf_add_string(f, "etcd_password_file", c->etcd_password_file);
	}
	fprintf(f, "};\n");
	fclose(f);
	int rc = file_write(c->backup_conf, text, 0644, as->change ? as->uid : (uid_t)-1, as->gid, err);
	free(text);
	return rc;
}

static int backup_start(local_cluster *c, up_ctx *x, fl_err *err)
{
	char dir[PATH_MAX];
	str_fmt(dir, sizeof dir, "%s/backup", c->dir);
	char *argv[] = {x->backup_agent, "--config", c->backup_conf, NULL};
	if (spawn_daemon("backup sidecar", &x->as, dir, c->backup_log, argv, &c->backup_pid, err) < 0)
		return -1;
	log_info("started backup sidecar pid=%d api=http://127.0.0.1:%d repository=%s log=%s", (int)c->backup_pid,
		 c->backup_port, c->backup_repo, c->backup_log);
	return 0;
}

/* Until its /health answers 200. */
static int backup_probe(const local_cluster *c, up_ctx *x, fl_err *err)
{
	char url[64], how[128];
	str_fmt(url, sizeof url, "http://127.0.0.1:%d/health", c->backup_port);
	for (;;) {
		http_answer a;
		fl_err e = {0};
		bool ok = http_get(url, 2.0, &a, &e) == 0 && a.status == 200;
		http_answer_clear(&a);
		if (ok)
			return 0;
		if (pid_ended(c->backup_pid, how, sizeof how)) {
			log_tail_print(c->backup_log, LOCAL_TAIL_LINES);
			return fl_fail(
				err, FL_ERR_IO,
				"local up: the backup sidecar (pid %d) %s at start\nHINT: read %s; flotilla local "
				"down --dir %s cleans up",
				(int)c->backup_pid, how, c->backup_log, c->dir);
		}
		if (clock_mono() >= x->deadline)
			return fl_fail(err, FL_ERR_TIMEOUT,
				       "local up: the backup sidecar's %s did not answer 200 within %d s", url,
				       x->o->timeout);
		clock_sleep(LOCAL_POLL_SECONDS);
	}
}

static void backup_stop(const local_cluster *c, int *failures)
{
	if (c->backup_pid > 0 &&
	    down_signal("backup sidecar", c->backup_pid, LOCAL_BACKUP, c->backup_conf, SIGTERM, failures))
		down_wait("backup sidecar", c->backup_pid, LOCAL_BACKUP, c->backup_conf, LOCAL_PROC_STOP_SECONDS,
			  failures);
}

/* ---- the table ---- */

const local_component local_components[] = {
	{"etcd", always, etcd_write, etcd_start, etcd_probe, etcd_stop},
	{"backup", with_backup, backup_write, backup_start, backup_probe, backup_stop},
	{"nodes", always, nodes_write, nodes_start, nodes_probe, nodes_stop},
	{"haproxy", with_haproxy, haproxy_write, haproxy_start, haproxy_probe, haproxy_stop},
	{"proxy agent", with_haproxy, proxy_agent_write, proxy_agent_start, proxy_agent_probe, proxy_agent_stop},
};
const int local_n_components = sizeof local_components / sizeof local_components[0];
