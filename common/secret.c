/*
 * secret: file-based secrets with clear errors.
 */
#include "secret.h"

#include <errno.h>
#include <stdio.h>
#include <stdbool.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>

int secret_read(const char *what, const char *path, char *buf, size_t len, fl_err *err)
{
	FILE *f = fopen(path, "r");
	if (f == NULL)
		return fl_fail(err, FL_ERR_SECRET, "secret: %s file %s cannot be read: %s", what, path,
			       strerror(errno));
	/* Read-only for others is how Docker mounts secrets; writable by others, anyone could swap it. */
	struct stat st;
	if (fstat(fileno(f), &st) == 0 && (st.st_mode & (S_IWGRP | S_IWOTH))) {
		fclose(f);
		return fl_fail(err, FL_ERR_SECRET,
			       "secret: %s file %s is writable by others (mode %04o)\nHINT: chmod go-w %s", what, path,
			       (unsigned)(st.st_mode & 07777), path);
	}
	size_t n = fread(buf, 1, len, f);
	int bad = ferror(f);
	fclose(f);
	if (bad)
		return fl_fail(err, FL_ERR_SECRET, "secret: %s file %s cannot be read", what, path);
	if (n >= len)
		return fl_fail(err, FL_ERR_SECRET, "secret: %s file %s is longer than %zu bytes", what, path, len - 1);
	buf[n] = '\0';
	while (n > 0 && (buf[n - 1] == '\n' || buf[n - 1] == '\r'))
		buf[--n] = '\0';
	if (n == 0)
		return fl_fail(err, FL_ERR_SECRET, "secret: %s file %s is empty", what, path);
	if (strchr(buf, '\n'))
		return fl_fail(err, FL_ERR_SECRET, "secret: %s file %s holds more than one line", what, path);
	return 0;
}

/*
 * Takes the same time for every token of a given length: the loop runs over
 * the caller's bytes, whatever the secret, and never stops early.
 */
static bool token_equal(const char *given, size_t n, const char *token)
{
	size_t len = strlen(token);
	volatile unsigned char diff = n != len || len == 0;
	for (size_t i = 0; i < n; i++)
		diff |= (unsigned char)given[i] ^ (unsigned char)token[len ? i % len : 0];
	return diff == 0;
}

int secret_bearer_check(const char *h, const char *token, const char **why)
{
	if (token == NULL || token[0] == '\0') {
		*why = "no token is configured";
		return 403;
	}
	if (h == NULL) {
		*why = "missing bearer token";
		return 401;
	}
	if (strncasecmp(h, "Bearer", 6) != 0 || (h[6] != ' ' && h[6] != '\t')) {
		*why = "the Authorization scheme is not Bearer";
		return 401;
	}
	const char *t = h + 6;
	while (*t == ' ' || *t == '\t')
		t++;
	size_t n = strlen(t);
	while (n > 0 && (t[n - 1] == ' ' || t[n - 1] == '\t'))
		n--;
	if (!token_equal(t, n, token)) {
		*why = "the bearer token is wrong";
		return 401;
	}
	return 0;
}
