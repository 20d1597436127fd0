/*
 * secret: file-based secrets with clear errors.
 */
#include "secret.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
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
