/*
 * err: Flotilla's error object and its catalogue of stable codes.
 *
 * Every fallible function returns 0 or -1 and, on failure, fills an fl_err
 * (which may be NULL when the caller does not care). The code is stable: the
 * daemons and the CLI exit with it, so scripts can rely on it. The codes are
 * listed once, in err_codes.def.
 */
#ifndef FL_ERR_H
#define FL_ERR_H

#include <stdarg.h>
#include <stdio.h>

typedef enum fl_code {
#define FL_CODE(id, num, name, doc) FL_##id = num,
#include "err_codes.def"
#undef FL_CODE
} fl_code;

#define FL_ERR_MSG_MAX 768

typedef struct fl_err {
	fl_code code;
	char msg[FL_ERR_MSG_MAX];
} fl_err;

/* Fills err (if not NULL) and returns -1, so callers can `return fl_fail(...)`. */
int fl_fail(fl_err *err, fl_code code, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

/* Prefixes err's message with "what: ", keeping its code. */
void fl_err_prefix(fl_err *err, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* The catalogue name of a code, e.g. "config". */
const char *fl_code_name(fl_code code);
/* The catalogue on one line, "0 ok, 1 internal, ..." (for --help). */
void fl_codes_print_line(FILE *f);
/* The catalogue as a markdown table (the README shows it). */
void fl_codes_print_markdown(FILE *f);

#endif
