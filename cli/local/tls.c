/*
 * tls: `flotilla local up --tls`: a private CA in DIR/tls that signs one
 * server certificate (etcd and every REST API, for 127.0.0.1, ::1 and
 * localhost) and one client certificate (the agents' and the CLI's to
 * etcd, which wants client certificates), made with the openssl program;
 * then etcd's users switched on once it answers. The keys belong to the
 * daemons' user, mode 0600. A second `up` on the same DIR keeps them.
 */
#include "local.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "common/etcd.h"
#include "common/log.h"
#include "common/secret.h"

#define TLS_DAYS "3650"
#define TLS_KEY "ec", "-pkeyopt", "ec_paramgen_curve:P-256"

void tls_layout(local_cluster *c)
{
	str_fmt(c->tls_dir, sizeof c->tls_dir, "%s/tls", c->dir);
	str_fmt(c->tls_ca, sizeof c->tls_ca, "%s/ca.pem", c->tls_dir);
	str_fmt(c->tls_cert, sizeof c->tls_cert, "%s/server.pem", c->tls_dir);
	str_fmt(c->tls_key, sizeof c->tls_key, "%s/server.key", c->tls_dir);
	str_fmt(c->tls_client_cert, sizeof c->tls_client_cert, "%s/client.pem", c->tls_dir);
	str_fmt(c->tls_client_key, sizeof c->tls_client_key, "%s/client.key", c->tls_dir);
	str_fmt(c->etcd_password_file, sizeof c->etcd_password_file, "%s/secrets/etcd_password", c->dir);
	str_fmt(c->etcd_root_password_file, sizeof c->etcd_root_password_file, "%s/secrets/etcd_root_password", c->dir);
}

/* Runs openssl with argv in DIR/tls, its output appended to DIR/tls/openssl.log. */
static int openssl_run(const local_cluster *c, char *const argv[], const char *what, fl_err *err)
{
	char log_path[PATH_MAX];
	str_fmt(log_path, sizeof log_path, "%s/openssl.log", c->tls_dir);
	pid_t pid = fork();
	if (pid < 0)
		return fl_fail(err, FL_ERR_INTERNAL, "local up: cannot fork openssl: %s", strerror(errno));
	if (pid == 0) {
		int fd = open(log_path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
		int null = open("/dev/null", O_RDONLY | O_CLOEXEC);
		if (fd < 0 || null < 0 || chdir(c->tls_dir) < 0)
			_exit(126);
		dup2(null, STDIN_FILENO);
		dup2(fd, STDOUT_FILENO);
		dup2(fd, STDERR_FILENO);
		execvp("openssl", argv);
		_exit(127);
	}
	int status = 0;
	while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
		;
	if (WIFEXITED(status) && WEXITSTATUS(status) == 0)
		return 0;
	log_tail_print(log_path, LOCAL_TAIL_LINES);
	return fl_fail(err, FL_ERR_INTERNAL, "local up: openssl could not make the %s (%s %d)\nHINT: read %s", what,
		       WIFEXITED(status) ? "exit" : "signal",
		       WIFEXITED(status) ? WEXITSTATUS(status) : WTERMSIG(status), log_path);
}

/* A certificate and key signed by the CA; server: for loopback names, for both server and client use. */
static int cert_make(const local_cluster *c, const char *cert, const char *key, bool server, fl_err *err)
{
	/* No Common Name: etcd's gateway refuses a client certificate with one once users are on. */
	char *argv[] = {"openssl",
			"req",
			"-x509",
			"-new",
			"-newkey",
			TLS_KEY,
			"-nodes",
			"-keyout",
			(char *)key,
			"-out",
			(char *)cert,
			"-days",
			TLS_DAYS,
			"-subj",
			server ? "/O=Flotilla local cluster" : "/O=Flotilla local client",
			"-CA",
			(char *)c->tls_ca,
			"-CAkey",
			"ca.key",
			"-addext",
			server ? "subjectAltName=IP:127.0.0.1,IP:::1,DNS:localhost" : "basicConstraints=CA:FALSE",
			"-addext",
			server ? "extendedKeyUsage=serverAuth,clientAuth" : "extendedKeyUsage=clientAuth",
			NULL};
	return openssl_run(c, argv, server ? "server certificate" : "client certificate", err);
}

static int key_give(const char *path, const run_as *as, fl_err *err)
{
	if (chmod(path, 0600) < 0 || (as->change && chown(path, as->uid, as->gid) < 0))
		return fl_fail(err, FL_ERR_IO, "local up: cannot give %s to user %s: %s", path, as->name,
			       strerror(errno));
	return 0;
}

int tls_write(const local_cluster *c, const up_ctx *x, fl_err *err)
{
	if (dir_make_owned(c->tls_dir, 0755, &x->as, err) < 0)
		return -1;
	if (access(c->tls_ca, F_OK) == 0 && access(c->tls_cert, F_OK) == 0 && access(c->tls_client_cert, F_OK) == 0)
		return 0;
	log_info("making a CA and certificates in %s", c->tls_dir);
	char *ca[] = {"openssl", "req",    "-x509",   "-new",   "-newkey",
		      TLS_KEY,   "-nodes", "-keyout", "ca.key", "-out",
		      "ca.pem",  "-days",  TLS_DAYS,  "-subj",  "/O=Flotilla local CA",
		      NULL};
	if (openssl_run(c, ca, "CA", err) < 0 || cert_make(c, c->tls_cert, c->tls_key, true, err) < 0 ||
	    cert_make(c, c->tls_client_cert, c->tls_client_key, false, err) < 0)
		return -1;
	char ca_key[PATH_MAX];
	str_fmt(ca_key, sizeof ca_key, "%s/ca.key", c->tls_dir);
	/* The CA's key signs nothing more: only the invoker keeps it. */
	if (chmod(ca_key, 0600) < 0)
		return fl_fail(err, FL_ERR_IO, "local up: cannot chmod %s: %s", ca_key, strerror(errno));
	return key_give(c->tls_key, &x->as, err) < 0 || key_give(c->tls_client_key, &x->as, err) < 0 ? -1 : 0;
}

etcd *tls_etcd_client(const local_cluster *c, bool with_user, fl_err *err)
{
	char *urls[] = {(char *)c->endpoint};
	etcd_security sec = {.ca_file = c->tls_ca,
			     .cert_file = c->tls_client_cert,
			     .key_file = c->tls_client_key,
			     .username = with_user ? LOCAL_ETCD_USER : NULL,
			     .password_file = with_user ? c->etcd_password_file : NULL};
	etcd *e = etcd_new(urls, 1, &sec, err);
	if (e != NULL)
		etcd_set_timeout(e, 5.0);
	return e;
}

int tls_etcd_users(const local_cluster *c, fl_err *err)
{
	etcd *e = tls_etcd_client(c, true, err);
	if (e == NULL)
		return -1;
	etcd_kv kv;
	bool found;
	/* A cluster made before: its user answers already. */
	int rc = etcd_get(e, "/flotilla/", &kv, &found, NULL);
	etcd_free(e);
	if (rc == 0)
		return 0;
	char root[LOCAL_SECRET_MAX], password[LOCAL_SECRET_MAX];
	if (secret_read("etcd root password", c->etcd_root_password_file, root, sizeof root, err) < 0)
		return -1;
	if (secret_read("etcd password", c->etcd_password_file, password, sizeof password, err) < 0) {
		explicit_bzero(root, sizeof root);
		return -1;
	}
	e = tls_etcd_client(c, false, err);
	rc = e ? etcd_auth_enable(e, root, LOCAL_ETCD_USER, password, "/flotilla/", err) : -1;
	etcd_free(e);
	explicit_bzero(root, sizeof root);
	explicit_bzero(password, sizeof password);
	if (rc < 0)
		fl_err_prefix(err, "local up: switching etcd's users on");
	else
		log_info("etcd users on: %s may read and write /flotilla/", LOCAL_ETCD_USER);
	return rc;
}
