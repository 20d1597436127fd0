/*
 * files: the strings, files and directories of a local cluster's layout.
 */
#include "local.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* snprintf that the callers size so that it cannot truncate (see LOCAL_DIR_MAX). */
void str_fmt(char *buf, size_t size, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(buf, size, fmt, ap);
	va_end(ap);
}

void str_add(char *buf, size_t size, const char *fmt, ...)
{
	size_t used = strlen(buf);
	if (used >= size)
		return;
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(buf + used, size - used, fmt, ap);
	va_end(ap);
}

/* Appends a libpq conninfo value, quoted when it holds spaces, quotes or backslashes. */
void dsn_add_value(char *buf, size_t size, const char *v)
{
	if (v[0] != '\0' && strpbrk(v, " \t'\\") == NULL) {
		str_add(buf, size, "%s", v);
		return;
	}
	str_add(buf, size, "'");
	for (const char *p = v; *p; p++)
		str_add(buf, size, "%s%c", (*p == '\'' || *p == '\\') ? "\\" : "", *p);
	str_add(buf, size, "'");
}

/* Appends a libconfig string literal. */
void conf_add_string(FILE *f, const char *name, const char *v)
{
	fprintf(f, "%s = \"", name);
	for (const char *p = v; *p; p++)
		fprintf(f, "%s%c", (*p == '"' || *p == '\\') ? "\\" : "", *p);
	fprintf(f, "\";\n");
}

/* Writes a whole file with mode and, when uid is not -1, owner. */
int file_write(const char *path, const char *text, mode_t mode, uid_t uid, gid_t gid, fl_err *err)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, mode);
	if (fd < 0)
		return fl_fail(err, FL_ERR_IO, "local up: cannot write %s: %s", path, strerror(errno));
	size_t len = strlen(text), done = 0;
	int rc = fchmod(fd, mode);
	if (rc == 0 && uid != (uid_t)-1)
		rc = fchown(fd, uid, gid);
	while (rc == 0 && done < len) {
		ssize_t n = write(fd, text + done, len - done);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			rc = -1;
		else
			done += (size_t)n;
	}
	int saved = errno;
	if (close(fd) < 0 && rc == 0) {
		rc = -1;
		saved = errno;
	}
	if (rc < 0)
		return fl_fail(err, FL_ERR_IO, "local up: cannot write %s: %s", path, strerror(saved));
	return 0;
}

/* Creates a directory (its parents too when `parents`); an existing one is kept. */
int dir_make(const char *path, mode_t mode, bool parents, fl_err *err)
{
	if (parents) {
		char tmp[PATH_MAX];
		str_fmt(tmp, sizeof tmp, "%s", path);
		for (char *p = tmp + 1; *p; p++) {
			if (*p != '/')
				continue;
			*p = '\0';
			if (mkdir(tmp, 0755) < 0 && errno != EEXIST)
				return fl_fail(err, FL_ERR_IO, "local up: cannot create directory %s: %s", tmp,
					       strerror(errno));
			*p = '/';
		}
	}
	if (mkdir(path, mode) < 0 && errno != EEXIST)
		return fl_fail(err, FL_ERR_IO, "local up: cannot create directory %s: %s", path, strerror(errno));
	struct stat st;
	if (stat(path, &st) < 0 || !S_ISDIR(st.st_mode))
		return fl_fail(err, FL_ERR_IO, "local up: %s is not a directory", path);
	return 0;
}

/* A directory the daemons write to: created, given to the daemon user. */
int dir_make_owned(const char *path, mode_t mode, const run_as *as, fl_err *err)
{
	if (dir_make(path, mode, false, err) < 0)
		return -1;
	if (chmod(path, mode) < 0)
		return fl_fail(err, FL_ERR_IO, "local up: cannot chmod %s: %s", path, strerror(errno));
	if (as->change && chown(path, as->uid, as->gid) < 0)
		return fl_fail(err, FL_ERR_IO, "local up: cannot give %s to user %s: %s", path, as->name,
			       strerror(errno));
	return 0;
}

bool dir_is_empty(const char *path)
{
	DIR *d = opendir(path);
	if (d == NULL)
		return true;
	struct dirent *e;
	bool empty = true;
	while (empty && (e = readdir(d)) != NULL)
		empty = strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0;
	closedir(d);
	return empty;
}

/* Prints the last lines of a log file on stderr, for failures the user must read. */
void log_tail_print(const char *path, int lines)
{
	FILE *f = fopen(path, "r");
	if (f == NULL) {
		fprintf(stderr, "--- %s cannot be read: %s ---\n", path, strerror(errno));
		return;
	}
	static char buf[65536];
	long size = fseek(f, 0, SEEK_END) == 0 ? ftell(f) : 0;
	long start = size > (long)sizeof buf - 1 ? size - (long)sizeof buf + 1 : 0;
	fseek(f, start, SEEK_SET);
	size_t n = fread(buf, 1, sizeof buf - 1, f);
	fclose(f);
	buf[n] = '\0';
	if (n > 0 && buf[n - 1] == '\n')
		buf[--n] = '\0';
	char *from = buf;
	int seen = 0;
	for (char *p = buf + n; p > buf; p--) {
		if (p[-1] == '\n' && ++seen == lines) {
			from = p;
			break;
		}
	}
	fprintf(stderr, "--- last %d lines of %s ---\n%s%s--- end of %s ---\n", lines, path, from, n > 0 ? "\n" : "",
		path);
}
