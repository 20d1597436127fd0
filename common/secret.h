/*
 * secret: reads a secret (a password or token) from a file, the Docker
 * secrets convention. The value never comes from argv or the environment,
 * and is never logged. A trailing newline is dropped.
 */
#ifndef FL_SECRET_H
#define FL_SECRET_H

#include <stddef.h>

#include "err.h"

/* Reads path into buf; fails naming the file when missing, unreadable, empty or too long. */
int secret_read(const char *what, const char *path, char *buf, size_t len, fl_err *err);

/*
 * An Authorization header (may be NULL) against the bearer token: 0 when it
 * is "Bearer <token>" (the scheme in any case, RFC 7235), compared in a time
 * that does not depend on the token; else the HTTP status to answer, 403
 * when no token is configured (NULL or ""), 401 otherwise, with why
 * ("missing bearer token", "the bearer token is wrong", ...).
 */
int secret_bearer_check(const char *authorization, const char *token, const char **why);
#define SECRET_BEARER_HINT "HINT: send \"Authorization: Bearer <token>\" (WWW-Authenticate: Bearer)"

#endif
