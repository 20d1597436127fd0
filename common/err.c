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

static const struct {
	fl_code code;
	const char *name, *doc;
} codes[] = {
#define FL_CODE(id, num, name, doc) {FL_##id, name, doc},
#include "err_codes.def"
#undef FL_CODE
};
#define N_CODES (sizeof codes / sizeof codes[0])

const char *fl_code_name(fl_code code)
{
	for (size_t i = 0; i < N_CODES; i++)
		if (codes[i].code == code)
			return codes[i].name;
	return "unknown";
}

void fl_codes_print_line(FILE *f)
{
	for (size_t i = 0; i < N_CODES; i++)
		fprintf(f, "%s%d %s", i ? ", " : "", (int)codes[i].code, codes[i].name);
}

void fl_codes_print_markdown(FILE *f)
{
	fprintf(f, "| code | name | meaning |\n|---|---|---|\n");
	for (size_t i = 0; i < N_CODES; i++)
		fprintf(f, "| %d | `%s` | %s |\n", (int)codes[i].code, codes[i].name, codes[i].doc);
}
