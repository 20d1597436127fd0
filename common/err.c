/*
 * err: fills error objects and names the codes of the catalogue.
 */
#include "err.h"

#include <stdio.h>
#include <string.h>

int fl_fail(fl_err *err, fl_code code, const char *fmt, ...)
{
	if (err == NULL)
		return -1;
	va_list ap;
	va_start(ap, fmt);
	err->code = code;
	vsnprintf(err->msg, sizeof err->msg, fmt, ap);
	va_end(ap);
	return -1;
}

void fl_err_prefix(fl_err *err, const char *fmt, ...)
{
	if (err == NULL)
		return;
	char prefix[256];
	char old[FL_ERR_MSG_MAX];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(prefix, sizeof prefix, fmt, ap);
	va_end(ap);
	snprintf(old, sizeof old, "%s", err->msg);
	snprintf(err->msg, sizeof err->msg, "%s: %s", prefix, old);
}

static const char *const code_names[] = {
	[FL_OK] = "ok",
	[FL_ERR_INTERNAL] = "internal",
	[FL_ERR_USAGE] = "usage",
	[FL_ERR_CONFIG] = "config",
	[FL_ERR_SECRET] = "secret",
	[FL_ERR_BINDIR] = "bin_dir",
	[FL_ERR_ETCD] = "etcd",
	[FL_ERR_POSTGRES] = "postgres",
	[FL_ERR_DATADIR] = "data_dir",
	[FL_ERR_TIMEOUT] = "timeout",
	[FL_ERR_NOT_FOUND] = "not_found",
	[FL_ERR_CONFLICT] = "conflict",
	[FL_ERR_IO] = "io",
	[FL_ERR_HAPROXY] = "haproxy",
};

const char *fl_code_name(fl_code code)
{
	if ((unsigned)code >= sizeof code_names / sizeof code_names[0] || code_names[code] == NULL)
		return "unknown";
	return code_names[code];
}
