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

#endif
