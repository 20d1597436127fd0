/*
 * passfile: libpq's password file (~/.pgpass format): one
 * "host:port:database:user:password" line per entry, where a ':' or '\' in
 * a field is written as "\:" or "\\". The agent and the local cluster keep
 * their passwords there, so that none is ever on a command line or in a
 * connection string.
 */
#ifndef FL_PG_PASSFILE_H
#define FL_PG_PASSFILE_H

#include <stddef.h>

#include "common/err.h"

/* One line (with its newline) into buf; -1 when a field holds a newline or a NUL-free line does not fit. "*" fields match anything. */
int passfile_line(const char *host, const char *port, const char *db, const char *user, const char *password, char *buf,
		  size_t len);
/* Writes the lines (each from passfile_line) to path, mode 0600, replacing it whole. */
int passfile_write(const char *path, const char *const *lines, int n, fl_err *err);

#endif
