/*
 * session: a lazily opened libpq connection whose every wait is bounded: the
 * connect by connect_timeout, a query by statement_timeout (the server's,
 * and the client's own a second later, so that a server that does not
 * answer at all cannot hold it either), and both by the session's deadline.
 * A query that runs into its bound drops the connection; the server ends
 * the backend once it sees the client gone (client_connection_check_interval)
 * or at its statement_timeout.
 */
#include "session.h"

#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cluster/lsn.h"
#include "common/clock.h"
#include "pg/deadline.h"

/* Seconds the client waits beyond statement_timeout for the server's own answer. */
#define CLIENT_SLACK 1.0

struct pg_session {
	PGconn *conn;
	char host[4096];
	char port[16];
	char user[128];
	char dbname[128];
	char application_name[64];
	char options[128];
	double connect_timeout;
	double statement_timeout;
	double deadline; /* clock_mono(): no wait outlives it (0: none) */
	char why[256];   /* why the last connect failed */
};

pg_session *pg_session_new(const char *host, int port, const char *user, const char *dbname,
			   const char *application_name, double connect_timeout, double statement_timeout)
{
	pg_session *s = calloc(1, sizeof *s);
	if (s == NULL)
		return NULL;
	snprintf(s->host, sizeof s->host, "%s", host);
	snprintf(s->port, sizeof s->port, "%d", port);
	snprintf(s->user, sizeof s->user, "%s", user);
	snprintf(s->dbname, sizeof s->dbname, "%s", dbname);
	snprintf(s->application_name, sizeof s->application_name, "%s", application_name);
	snprintf(s->options, sizeof s->options, "-c statement_timeout=%.0f -c client_connection_check_interval=1000",
		 statement_timeout * 1000.0);
	s->connect_timeout = connect_timeout;
	s->statement_timeout = statement_timeout;
	return s;
}

void pg_session_set_deadline(pg_session *s, double deadline) { s->deadline = deadline > 0 ? deadline : 0; }

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

/* Waits until c's socket is ready to read (or to write) or until `until`: 1 ready, 0 timed out, -1 error. */
static int wait_socket(PGconn *c, bool write, double until)
{
	int fd = PQsocket(c);
	if (fd < 0)
		return -1;
	for (;;) {
		struct pollfd p = {.fd = fd, .events = write ? POLLOUT : POLLIN};
		int r = poll(&p, 1, pg_wait_ms(until, clock_mono()));
		if (r > 0)
			return 1;
		if (r == 0 && clock_mono() >= until)
			return 0;
		if (r < 0 && errno != EINTR)
			return -1;
	}
}

/* A new connection, or NULL with why set; the whole handshake ends by `until`. */
static PGconn *open_until(pg_session *s, double until, bool cut)
{
	const char *keys[] = {"host", "port", "user", "dbname", "application_name", "options", NULL};
	const char *vals[] = {s->host, s->port, s->user, s->dbname, s->application_name, s->options, NULL};
	PGconn *c = PQconnectStartParams(keys, vals, 0);
	PostgresPollingStatusType st = PGRES_POLLING_WRITING;
	while (c != NULL && PQstatus(c) != CONNECTION_BAD && st != PGRES_POLLING_OK && st != PGRES_POLLING_FAILED) {
		int ready = wait_socket(c, st == PGRES_POLLING_WRITING, until);
		if (ready == 0) {
			snprintf(s->why, sizeof s->why, "connecting did not finish %s",
				 cut ? "by the deadline" : "in time");
			PQfinish(c);
			return NULL;
		}
		st = ready < 0 ? PGRES_POLLING_FAILED : PQconnectPoll(c);
	}
	if (c != NULL && st == PGRES_POLLING_OK && PQstatus(c) == CONNECTION_OK)
		return c;
	snprintf(s->why, sizeof s->why, "%s", c ? PQerrorMessage(c) : "out of memory");
	s->why[strcspn(s->why, "\n")] = '\0';
	PQfinish(c);
	return NULL;
}

PGconn *pg_session_conn(pg_session *s)
{
	if (s->conn && PQstatus(s->conn) == CONNECTION_OK)
		return s->conn;
	pg_session_close(s);
	double now = clock_mono();
	s->conn = open_until(s, pg_wait_until(now, s->deadline, s->connect_timeout),
			     pg_wait_cut(now, s->deadline, s->connect_timeout));
	return s->conn;
}

/* The first error among a query's results, else its last result. */
static PGresult *keep(PGresult *kept, PGresult *r)
{
	ExecStatusType st = kept ? PQresultStatus(kept) : PGRES_TUPLES_OK;
	if (kept != NULL && st != PGRES_TUPLES_OK && st != PGRES_COMMAND_OK) {
		PQclear(r);
		return kept;
	}
	PQclear(kept);
	return r;
}

PGresult *pg_session_query(pg_session *s, const char *sql, fl_err *err)
{
	double start = clock_mono();
	PGconn *c = pg_session_conn(s);
	if (c == NULL) {
		fl_fail(err, FL_ERR_POSTGRES, "postgres does not accept connections: %s", s->why);
		return NULL;
	}
	double timeout = s->statement_timeout + CLIENT_SLACK;
	double until = pg_wait_until(start, s->deadline, timeout);
	bool cut = pg_wait_cut(start, s->deadline, timeout);
	if (!PQsendQuery(c, sql)) {
		fl_fail(err, FL_ERR_POSTGRES, "query failed: %s", PQerrorMessage(c));
		pg_session_close(s);
		return NULL;
	}
	PGresult *res = NULL;
	for (;;) {
		while (!PQisBusy(c)) {
			PGresult *r = PQgetResult(c);
			if (r == NULL)
				goto done;
			res = keep(res, r);
		}
		int ready = wait_socket(c, false, until);
		if (ready == 0) {
			PQclear(res);
			pg_session_close(s);
			if (cut)
				fl_fail(err, FL_ERR_TIMEOUT,
					"query stopped at its deadline, %.2f s after it began (connection dropped)",
					clock_mono() - start);
			else
				fl_fail(err, FL_ERR_TIMEOUT,
					"query unanswered for %.1f s, beyond statement_timeout (connection dropped)",
					clock_mono() - start);
			return NULL;
		}
		if (ready < 0 || !PQconsumeInput(c))
			break;
	}
	fl_fail(err, FL_ERR_POSTGRES, "query failed: %s", PQerrorMessage(c));
	PQclear(res);
	pg_session_close(s);
	return NULL;
done:;
	ExecStatusType st = res ? PQresultStatus(res) : PGRES_FATAL_ERROR;
	if (st == PGRES_TUPLES_OK || st == PGRES_COMMAND_OK)
		return res;
	fl_fail(err, FL_ERR_POSTGRES, "query failed: %s", res ? PQresultErrorMessage(res) : PQerrorMessage(c));
	PQclear(res);
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
