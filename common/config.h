/*
 * config: loads a daemon's settings from one libconfig file, driven by the
 * daemon's option table. Each option is declared once, with its path, type,
 * default, range and environment name; this module parses, validates (unknown
 * settings, wrong types, out-of-range values are errors naming the line),
 * applies environment overrides and prints the documented sample file.
 */
#ifndef FL_CONFIG_H
#define FL_CONFIG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

#include "err.h"

typedef enum opt_type { OPT_STRING, OPT_INT, OPT_DOUBLE, OPT_BOOL, OPT_LIST } opt_type;

typedef struct str_list {
	int n;
	char **v;
} str_list;

typedef struct opt_def {
	const char *path; /* libconfig path, e.g. "tags.priority" */
	opt_type type;
	const char *def; /* default as text; NULL when the option is required */
	double min, max; /* range for numbers; ignored when min > max */
	bool reload;     /* applied by a reload (SIGHUP) without restart */
	const char *env; /* environment variable that overrides the file, or NULL */
	size_t offset;   /* where the value lives in the daemon's options struct */
	const char *doc; /* one line for --help, the sample and the docs */
} opt_def;

/*
 * Options under "secrets." name files that hold a secret. Their environment
 * variable ends in _FILE (the docker-library convention); the same name
 * without _FILE is refused: a secret never comes from the environment.
 */
bool config_is_secret(const opt_def *o);

/*
 * Loads `path` (NULL: defaults and the environment only) into `out` (a
 * struct whose fields match the table's offsets: char * for strings, long
 * for ints, double, bool, str_list). Strings and
 * lists are heap copies released by config_free.
 */
int config_load(const opt_def *table, size_t n, void *out, const char *path, fl_err *err);
/* As config_load; named[i] (n of them) tells whether the file or the environment set table[i]. */
int config_load_named(const opt_def *table, size_t n, void *out, const char *path, bool *named, fl_err *err);
void config_free(const opt_def *table, size_t n, void *out);
/*
 * A reload: moves every reloadable setting that changed from next into cur
 * (next keeps the old value, to be freed with it), logs each, and warns about
 * a changed setting that needs a restart.
 */
void config_apply_reloadable(const opt_def *table, size_t n, void *cur, void *next);
/* Prints a commented sample configuration with every default. */
void config_print_sample(const opt_def *table, size_t n, FILE *f);
/* Prints a markdown table of the options, for the docs. */
void config_print_markdown(const opt_def *table, size_t n, FILE *f);

#endif
