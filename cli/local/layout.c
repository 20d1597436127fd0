/*
 * layout: where everything of a local cluster lives (ports, directories,
 * dsns), and cluster.json, written after every start so that `down` can clean
 * up after an `up` that failed halfway.
 */
#include "local.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <jansson.h>

void cluster_layout(local_cluster *c, const char *dir, int nodes, int base_port)
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
	c->proxy_metrics_port = base_port + 7;
	str_fmt(c->haproxy_cfg, sizeof c->haproxy_cfg, "%s/haproxy/haproxy.cfg", dir);
	str_fmt(c->haproxy_socket, sizeof c->haproxy_socket, "%s/haproxy/admin.sock", dir);
	str_fmt(c->haproxy_log, sizeof c->haproxy_log, "%s/haproxy/haproxy.log", dir);
	str_fmt(c->proxy_conf, sizeof c->proxy_conf, "%s/proxy-agent/proxy-agent.conf", dir);
	str_fmt(c->proxy_log, sizeof c->proxy_log, "%s/proxy-agent/proxy-agent.log", dir);
	c->backup_port = base_port + 6;
	str_fmt(c->backup_conf, sizeof c->backup_conf, "%s/backup/backup.conf", dir);
	str_fmt(c->backup_log, sizeof c->backup_log, "%s/backup/backup.log", dir);
	str_fmt(c->backup_token, sizeof c->backup_token, "%s/secrets/backup_token", dir);
	tls_layout(c);
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
void cluster_dsns(local_cluster *c)
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

int cluster_save(const local_cluster *c, fl_err *err)
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
	if (c->tls) {
		/* What a client needs: the CA of every certificate, the client certificate etcd wants, the etcd user. */
		json_object_set_new(root, "tls",
				    json_pack("{s:s, s:s, s:s, s:s, s:s}", "ca_file", c->tls_ca, "cert_file",
					      c->tls_client_cert, "key_file", c->tls_client_key, "etcd_username",
					      LOCAL_ETCD_USER, "etcd_password_file", c->etcd_password_file));
	}
	if (c->haproxy) {
		json_object_set_new(root, "haproxy",
				    json_pack("{s:I, s:i, s:i, s:s, s:i, s:s, s:s}", "pid", (json_int_t)c->haproxy_pid,
					      "rw_port", c->rw_port, "ro_port", c->ro_port, "stats_socket",
					      c->haproxy_socket, "metrics_port", c->metrics_port, "config",
					      c->haproxy_cfg, "log", c->haproxy_log));
		json_object_set_new(root, "proxy_agent",
				    json_pack("{s:I, s:i, s:i, s:s, s:s}", "pid", (json_int_t)c->proxy_agent_pid,
					      "agent_check_port", c->agent_port, "metrics_port", c->proxy_metrics_port,
					      "config", c->proxy_conf, "log", c->proxy_log));
	}
	if (c->backup)
		json_object_set_new(root, "backup",
				    json_pack("{s:I, s:s, s:s, s:i, s:s, s:s}", "pid", (json_int_t)c->backup_pid,
					      "repo", c->backup_repo, "config", c->backup_conf, "api_port",
					      c->backup_port, "log", c->backup_log, "token_file", c->backup_token));
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

/* cluster.json's "backup" object (present with --backup). */
static int cluster_load_backup(local_cluster *c, json_t *b, fl_err *err)
{
	json_int_t pid = 0;
	const char *repo = NULL;
	json_error_t je;
	if (json_unpack_ex(b, &je, 0, "{s:I, s:s, s:i}", "pid", &pid, "repo", &repo, "api_port", &c->backup_port) < 0)
		return fl_fail(err, FL_ERR_CONFIG, "%s: backup: %s", c->json, je.text);
	if (pid < 0 || pid > INT_MAX || c->backup_port < 1 || c->backup_port > 65535)
		return fl_fail(err, FL_ERR_CONFIG, "%s: backup.pid or backup.api_port is out of range", c->json);
	if (repo[0] != '/' || strlen(repo) >= sizeof c->backup_repo)
		return fl_fail(err, FL_ERR_CONFIG, "%s: backup.repo = \"%s\" is not an absolute path", c->json, repo);
	c->backup = true;
	c->backup_pid = (pid_t)pid;
	str_fmt(c->backup_repo, sizeof c->backup_repo, "%s", repo);
	return 0;
}

/* Reads DIR/cluster.json; `cmd` names the subcommand in errors. */
int cluster_load(local_cluster *c, const char *cmd, const char *dir_arg, fl_err *err)
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
	c->tls = json_object_get(root, "tls") != NULL;
	json_t *hp = json_object_get(root, "haproxy"), *pa = json_object_get(root, "proxy_agent");
	if (hp != NULL && cluster_load_proxy(c, hp, pa, err) < 0) {
		fl_err_prefix(err, "%s", cmd);
		goto done;
	}
	json_t *bk = json_object_get(root, "backup");
	if (bk != NULL && cluster_load_backup(c, bk, err) < 0) {
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
