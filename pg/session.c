/*
 * session: a lazily opened libpq connection.
 */
#include "session.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cluster/lsn.h"

struct pg_session {
	PGconn *conn;
	char host[4096];
	char port[16];
	char user[128];
	char dbname[128];
	char application_name[64];
	char connect_timeout[16];
	char options[128];
};

pg_session *pg_session_new(const char *host, int port, const char *user, const char *dbname,
			   const char *application_name, int connect_timeout_s, const char *statement_timeout)
{
	pg_session *s = calloc(1, sizeof *s);
	if (s == NULL)
		return NULL;
	snprintf(s->host, sizeof s->host, "%s", host);
	snprintf(s->port, sizeof s->port, "%d", port);
	snprintf(s->user, sizeof s->user, "%s", user);
	snprintf(s->dbname, sizeof s->dbname, "%s", dbname);
	snprintf(s->application_name, sizeof s->application_name, "%s", application_name);
	snprintf(s->connect_timeout, sizeof s->connect_timeout, "%d", connect_timeout_s);
	snprintf(s->options, sizeof s->options, "-c statement_timeout=%s", statement_timeout);
	return s;
}

void pg_session_close(pg_session *s)
{
	if (s == NULL)
		return;
	PQfinish(s->conn);
	s->conn = NULL;
}

void pg_session_free(pg_session *s)
{
	pg_session_close(s);
	free(s);
}

PGconn *pg_session_conn(pg_session *s)
{
	if (s->conn && PQstatus(s->conn) == CONNECTION_OK)
		return s->conn;
	pg_session_close(s);
	const char *keys[] = {"host", "port", "user", "dbname", "connect_timeout", "application_name", "options", NULL};
	const char *vals[] = {s->host,    s->port, s->user, s->dbname, s->connect_timeout, s->application_name,
			      s->options, NULL};
	s->conn = PQconnectdbParams(keys, vals, 0);
	if (PQstatus(s->conn) != CONNECTION_OK)
		pg_session_close(s);
	return s->conn;
}

PGresult *pg_session_query(pg_session *s, const char *sql, fl_err *err)
{
	PGconn *c = pg_session_conn(s);
	if (c == NULL) {
		fl_fail(err, FL_ERR_POSTGRES, "postgres does not accept connections");
		return NULL;
	}
	PGresult *r = PQexec(c, sql);
	ExecStatusType st = PQresultStatus(r);
	if (st == PGRES_TUPLES_OK || st == PGRES_COMMAND_OK)
		return r;
	fl_fail(err, FL_ERR_POSTGRES, "query failed: %s", PQerrorMessage(c));
	PQclear(r);
	if (PQstatus(c) != CONNECTION_OK)
		pg_session_close(s);
	return NULL;
}

uint64_t pg_value_lsn(const PGresult *r, int row, int col)
{
	uint64_t v = 0;
	if (!PQgetisnull(r, row, col))
		lsn_parse(PQgetvalue(r, row, col), &v);
	return v;
}
