/*
 * up: `flotilla local up`: lays out DIR (secrets, the invoker's passfile,
 * every component's configuration), then starts the components in order,
 * each ready before the next, saving cluster.json after every start, and
 * prints how to reach the cluster.
 */
#include "local.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <unistd.h>

#include "common/clock.h"
#include "common/log.h"
#include "common/secret.h"
#include "pg/passfile.h"

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
	else if (pid_matches(old->etcd_pid, "etcd", old->etcd_dir))
		rc = fl_fail(err, FL_ERR_CONFLICT,
			     "local up: a cluster already runs in %s (etcd pid %d)\nHINT: flotilla local down --dir %s "
			     "stops it",
			     c->dir, (int)old->etcd_pid, c->dir);
	for (int i = 0; rc == 0 && i < old->n; i++)
		if (pid_matches(old->nodes[i].agent_pid, LOCAL_AGENT, old->nodes[i].config))
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

int agent_program_path(const char *cmd, const char *env_name, const char *program, char *out, size_t size, fl_err *err)
{
	const char *env = getenv(env_name);
	char path[PATH_MAX];
	if (env != NULL && env[0] != '\0') {
		str_fmt(path, sizeof path, "%s", env);
	} else {
		ssize_t n = readlink("/proc/self/exe", path, sizeof path - 1);
		if (n < 0)
			return fl_fail(err, FL_ERR_IO, "%s: cannot read /proc/self/exe: %s", cmd, strerror(errno));
		path[n] = '\0';
		char *slash = strrchr(path, '/');
		str_fmt(slash + 1, sizeof path - (size_t)(slash + 1 - path), "%s", program);
	}
	/* Absolute, because the daemons start in other directories. */
	char real[PATH_MAX];
	if (realpath(path, real) == NULL || access(real, X_OK) < 0)
		return fl_fail(
			err, FL_ERR_NOT_FOUND,
			"%s: agent program %s is not an executable file\nHINT: build %s next to flotilla, or set %s",
			cmd, path, program, env_name);
	str_fmt(out, size, "%s", real);
	return 0;
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
		       "  proxy agent pid %d, agent checks 127.0.0.1:%d, metrics http://127.0.0.1:%d/metrics, runtime "
		       "api "
		       "%s\n",
		       c->rw_port, c->ro_port, c->metrics_port, (int)c->haproxy_pid, (int)c->proxy_agent_pid,
		       c->agent_port, c->proxy_metrics_port, c->haproxy_socket);
	if (c->backup)
		printf("  backup   api http://127.0.0.1:%d  repository %s  pid %d\n", c->backup_port, c->backup_repo,
		       (int)c->backup_pid);
	if (c->tls)
		printf("  tls      etcd %s with client certificates and users, REST APIs over HTTPS; CA %s\n",
		       c->endpoint, c->tls_ca);
	printf("\nread-write:  psql \"%s\"\n", c->rw_dsn);
	printf("read-only:   psql \"%s\"\n", c->ro_dsn);
	printf("described:   %s\n", c->json);
	printf("status:      flotilla local status --dir %s\n", c->dir);
	if (c->backup)
		printf("backups:     flotilla backup now|list --dir %s\n", c->dir);
	printf("stop:        flotilla local down --dir %s\n", c->dir);
}

/* DIR's files: secrets, the invoker's passfile, then every wanted component's configuration. */
static int up_layout(const local_cluster *c, const up_ctx *x, fl_err *err)
{
	const run_as *as = &x->as;
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
	if (trc == 0 && c->tls)
		trc = up_secret(c->etcd_password_file, "etcd password", as, token, sizeof token, err);
	if (trc == 0 && c->tls)
		trc = up_secret(c->etcd_root_password_file, "etcd root password", &(run_as){0}, token, sizeof token,
				err);
	if (trc == 0 && c->backup)
		trc = up_secret(c->backup_token, "backup token", as, token, sizeof token, err);
	explicit_bzero(token, sizeof token);
	if (trc < 0)
		return -1;
	char l1[2 * LOCAL_SECRET_MAX + 64], l2[2 * LOCAL_SECRET_MAX + 64];
	int rc = passfile_line("127.0.0.1", "*", "*", "postgres", su, l1, sizeof l1) < 0 ||
				 passfile_line("localhost", "*", "*", "postgres", su, l2, sizeof l2) < 0
			 ? fl_fail(err, FL_ERR_SECRET, "local up: the superuser password does not fit a passfile")
			 : passfile_write(c->pgpass, (const char *const[]){l1, l2}, 2, err);
	explicit_bzero(su, sizeof su);
	explicit_bzero(repl, sizeof repl);
	explicit_bzero(l1, sizeof l1);
	explicit_bzero(l2, sizeof l2);
	if (rc < 0)
		return -1;
	for (int i = 0; i < local_n_components; i++) {
		const local_component *k = &local_components[i];
		if (k->wanted(c) && k->write_config && k->write_config(c, x, err) < 0)
			return -1;
	}
	return 0;
}

/* The programs, the user and DIR: checked before anything is written. */
static int up_prepare(local_cluster *c, const up_opts *o, up_ctx *x, fl_err *err)
{
	char postgres[PATH_MAX], dir[PATH_MAX];
	if (run_as_resolve(o->user, &x->as, err) < 0 ||
	    agent_program_path("local up", "FLOTILLA_REPLICATOR", LOCAL_AGENT, x->agent, sizeof x->agent, err) < 0 ||
	    (o->haproxy && agent_program_path("local up", "FLOTILLA_PROXY_AGENT", LOCAL_PROXY_AGENT, x->proxy_agent,
					      sizeof x->proxy_agent, err) < 0) ||
	    (o->backup && agent_program_path("local up", "FLOTILLA_BACKUP", LOCAL_BACKUP, x->backup_agent,
					     sizeof x->backup_agent, err) < 0))
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
	c->tls = o->tls;
	if (o->backup != NULL) {
		if (dir_make(o->backup, 0755, true, err) < 0)
			return -1;
		if (realpath(o->backup, c->backup_repo) == NULL || strlen(c->backup_repo) > LOCAL_DIR_MAX)
			return fl_fail(err, FL_ERR_IO,
				       "local up: cannot resolve %s (or it is longer than %d characters)", o->backup,
				       LOCAL_DIR_MAX);
		c->backup = true;
	}
	if (c->tls)
		str_fmt(c->endpoint, sizeof c->endpoint, "https://127.0.0.1:%d", c->etcd_port);
	cluster_dsns(c);
	return up_check_dir(c, err) < 0 || ports_check(c, err) < 0 ? -1 : 0;
}

static int up_run(local_cluster *c, const up_opts *o, fl_err *err)
{
	up_ctx *x = calloc(1, sizeof *x);
	if (x == NULL)
		return fl_fail(err, FL_ERR_INTERNAL, "local up: out of memory");
	x->o = o;
	int rc = up_prepare(c, o, x, err);
	x->deadline = clock_mono() + o->timeout;
	if (rc == 0 && (up_layout(c, x, err) < 0 || cluster_save(c, err) < 0))
		rc = -1;
	if (rc == 0 && x->as.change)
		log_info("daemons run as user %s", x->as.name);
	/* Each component started and ready before the next; cluster.json saved after every start, also a failed one. */
	for (int i = 0; rc == 0 && i < local_n_components; i++) {
		const local_component *k = &local_components[i];
		if (!k->wanted(c))
			continue;
		rc = k->start(c, x, err);
		if (cluster_save(c, rc < 0 ? NULL : err) < 0 || rc < 0)
			rc = -1;
		else if (k->probe && k->probe(c, x, err) < 0)
			rc = -1;
	}
	if (rc == 0 && cluster_save(c, err) < 0)
		rc = -1;
	if (rc == 0)
		up_print(c, o->sync, x->leader, x->probes);
	free(x);
	return rc;
}

int local_up(int argc, char **argv, fl_err *err)
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
