/*
 * probe: what answers on a local cluster's ports: free ports before `up`,
 * etcd's health, each PostgreSQL's role and replication state.
 */
#include "local.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>
#include <libpq-fe.h>

#include "common/http_client.h"
#include "common/tls.h"

const char *const node_role_names[] = {"stopped", "primary", "replica"};

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

int ports_check(const local_cluster *c, fl_err *err)
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
	     port_check_free(c->proxy_metrics_port, "proxy agent metrics", err) < 0 ||
	     port_check_free(c->metrics_port, "HAProxy metrics", err) < 0))
		return -1;
	if (c->backup && port_check_free(c->backup_port, "backup sidecar API", err) < 0)
		return -1;
	return 0;
}

/* One GET /health on loopback; a short plain-socket exchange is all it takes. */
bool etcd_healthy(const local_cluster *c)
{
	http_url u;
	char url[96];
	str_fmt(url, sizeof url, "%s/health", c->endpoint);
	if (http_url_parse(url, c->etcd_port, &u, NULL) < 0)
		return false;
	/* With --tls etcd wants the client certificate on every request, /health too. */
	tls_ctx *tls = c->tls ? tls_client_new(c->tls_ca, c->tls_client_cert, c->tls_client_key, NULL) : NULL;
	if (c->tls && tls == NULL)
		return false;
	http_peer *p = http_peer_new(&u, 4096, tls, NULL);
	tls_ctx_free(tls);
	if (p == NULL)
		return false;
	http_exchange x;
	http_peer_exchange(p, "GET", u.target, NULL, 0, NULL, 1.0, &x);
	bool ok = x.outcome == HTTP_ANSWERED && x.body != NULL && strstr(x.body, "\"health\":\"true\"") != NULL;
	http_exchange_clear(&x);
	http_peer_free(p);
	return ok;
}

void node_probe_run(const local_node *n, node_probe *p)
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
