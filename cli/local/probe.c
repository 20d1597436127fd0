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
	     port_check_free(c->metrics_port, "HAProxy metrics", err) < 0))
		return -1;
	return 0;
}

/* One GET /health on loopback; a short plain-socket exchange is all it takes. */
bool etcd_healthy(int port)
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
