/*
 * daemon_args: the command line every Flotilla daemon shares:
 *   --config FILE, --check, --sample-config, --config-doc, --version, --help.
 * The daemon's option table prints the sample and the docs table; its
 * summary line follows the usage. A daemon calls daemon_args_parse first
 * and exits with its answer unless it is DAEMON_ARGS_RUN.
 */
#ifndef FL_DAEMON_ARGS_H
#define FL_DAEMON_ARGS_H

#include <stdbool.h>

#include "config.h"

#define FLOTILLA_VERSION "0.1.0"
#define DAEMON_ARGS_RUN (-1)

typedef struct daemon_info {
	const char *program;   /* "flotilla-replicator" */
	const char *summary;   /* what it does, for --help */
	const opt_def *table;
	unsigned table_len;
} daemon_info;

/*
 * Parses argv. Returns DAEMON_ARGS_RUN with *config_path and *check set when
 * the daemon is to load its file (and, with --check, only validate it), or
 * the exit code of a command answered here (0, or FL_ERR_USAGE with the
 * usage on stderr).
 */
int daemon_args_parse(const daemon_info *d, int argc, char **argv, const char **config_path, bool *check);

#endif
