/*
 * session: one libpq session to a PostgreSQL server, opened when needed and
 * dropped when it breaks. Every wait on the server is bounded, so that a
 * stuck server cannot stall the loop that asks it: the connect by
 * connect_timeout, a query by statement_timeout (on the server, and on the
 * client a second later), and both by the session's deadline when one is
 * set; a query that runs into its bound drops the connection and fails with
 * FL_ERR_TIMEOUT. It holds no password: libpq takes it from the passfile.
 */
#ifndef FL_PG_SESSION_H
#define FL_PG_SESSION_H

#include <stdint.h>

#include <libpq-fe.h>

#include "common/err.h"

typedef struct pg_session pg_session;

/* host: a socket directory or an address; the strings are copied; the timeouts are in seconds. */
pg_session *pg_session_new(const char *host, int port, const char *user, const char *dbname,
			   const char *application_name, double connect_timeout, double statement_timeout);
/* No connect or query ends later than deadline (clock_mono() seconds; 0: none), 50 ms after a call at the least. */
void pg_session_set_deadline(pg_session *s, double deadline);
void pg_session_free(pg_session *s);
/* The connection, opened now if needed (within the bounds); NULL when the server does not accept it. */
PGconn *pg_session_conn(pg_session *s);
/* Closes the connection (the next query opens a new one). */
void pg_session_close(pg_session *s);
/* Runs sql: its result when it succeeded (the caller clears it), else NULL with err (a broken connection is dropped). */
PGresult *pg_session_query(pg_session *s, const char *sql, fl_err *err);
/* An LSN column of a result ("0/3000060"), 0 when NULL or malformed. */
uint64_t pg_value_lsn(const PGresult *r, int row, int col);

#endif
