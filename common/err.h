/*
 * err: Flotilla's error object and its catalogue of stable codes.
 *
 * Every fallible function returns 0 or -1 and, on failure, fills an fl_err
 * (which may be NULL when the caller does not care). The code is stable: the
 * daemons and the CLI exit with it, so scripts can rely on it.
 */
#ifndef FL_ERR_H
#define FL_ERR_H

#include <stdarg.h>

typedef enum fl_code {
	FL_OK = 0,
	FL_ERR_INTERNAL = 1,  /* a bug or an impossible state */
	FL_ERR_USAGE = 2,     /* bad command line */
	FL_ERR_CONFIG = 3,    /* malformed or invalid configuration */
	FL_ERR_SECRET = 4,    /* a secret file is missing, unreadable or empty */
	FL_ERR_BINDIR = 5,    /* PostgreSQL programs not found */
	FL_ERR_ETCD = 6,      /* etcd unreachable or answering errors */
	FL_ERR_POSTGRES = 7,  /* PostgreSQL failed to start, stop or answer */
	FL_ERR_DATADIR = 8,   /* data directory unusable */
	FL_ERR_TIMEOUT = 9,   /* an operation did not finish in time */
	FL_ERR_NOT_FOUND = 10,/* a member, file or key does not exist */
	FL_ERR_CONFLICT = 11, /* the cluster's state forbids the operation */
	FL_ERR_IO = 12,       /* a local file or process operation failed */
	FL_ERR_HAPROXY = 13,  /* HAProxy's Runtime API unreachable or answering errors */
} fl_code;

#define FL_ERR_MSG_MAX 768

typedef struct fl_err {
	fl_code code;
	char msg[FL_ERR_MSG_MAX];
} fl_err;

/* Fills err (if not NULL) and returns -1, so callers can `return fl_fail(...)`. */
int fl_fail(fl_err *err, fl_code code, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

/* Prefixes err's message with "what: ", keeping its code. */
void fl_err_prefix(fl_err *err, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* The catalogue name of a code, e.g. "config". */
const char *fl_code_name(fl_code code);

#endif
