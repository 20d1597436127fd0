/*
 * passfile: escaping and writing libpq's password file.
 */
#include "passfile.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

/* Appends field, escaped, at *pos; -1 when it holds a line break or does not fit. */
static int field_add(char *buf, size_t len, size_t *pos, const char *field, const char *sep)
{
	for (const char *p = field; *p; p++) {
		if (*p == '\n' || *p == '\r')
			return -1;
		if ((*p == ':' || *p == '\\') && *pos + 1 < len)
			buf[(*pos)++] = '\\';
		if (*pos + 1 >= len)
			return -1;
		buf[(*pos)++] = *p;
	}
	size_t n = strlen(sep);
	if (*pos + n >= len)
		return -1;
	memcpy(buf + *pos, sep, n);
	*pos += n;
	buf[*pos] = '\0';
	return 0;
}

int passfile_line(const char *host, const char *port, const char *db, const char *user, const char *password, char *buf,
		  size_t len)
{
	size_t pos = 0;
	if (len == 0)
		return -1;
	buf[0] = '\0';
	/* The wildcard stays a wildcard: "*" alone is not escaped. */
	const char *fields[] = {host, port, db, user};
	for (int i = 0; i < 4; i++) {
		if (strcmp(fields[i], "*") == 0) {
			if (field_add(buf, len, &pos, "", "*:") < 0)
				return -1;
		} else if (field_add(buf, len, &pos, fields[i], ":") < 0) {
			return -1;
		}
	}
	return field_add(buf, len, &pos, password, "\n");
}

int passfile_write(const char *path, const char *const *lines, int n, fl_err *err)
{
	char tmp[4096];
	if ((size_t)snprintf(tmp, sizeof tmp, "%s.tmp", path) >= sizeof tmp)
		return fl_fail(err, FL_ERR_IO, "passfile: path %s is too long", path);
	int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (fd < 0)
		return fl_fail(err, FL_ERR_IO, "cannot write %s: %s", tmp, strerror(errno));
	int rc = 0;
	for (int i = 0; rc == 0 && i < n; i++) {
		size_t l = strlen(lines[i]);
		if (write(fd, lines[i], l) != (ssize_t)l)
			rc = fl_fail(err, FL_ERR_IO, "cannot write %s: %s", tmp, strerror(errno));
	}
	if (close(fd) < 0 && rc == 0)
		rc = fl_fail(err, FL_ERR_IO, "cannot write %s: %s", tmp, strerror(errno));
	if (rc == 0 && rename(tmp, path) < 0)
		rc = fl_fail(err, FL_ERR_IO, "cannot replace %s: %s", path, strerror(errno));
	if (rc < 0)
		unlink(tmp);
	return rc;
}
