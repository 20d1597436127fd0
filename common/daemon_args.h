/*
 * daemon_args: the start every Flotilla daemon shares: the command line
 * ([--config FILE], --check, --sample-config, --config-doc, --version, --help;
 * without --config the environment alone configures the daemon),
 * loading the file with the daemon's own loader, the log's node name and
 * level from it, and --check. The daemon's option table prints the sample
 * and the docs table; its summary line follows the usage. A daemon calls
 * daemon_args_start first and exits with its answer unless it is
 * DAEMON_ARGS_RUN.
 */
#ifndef FL_DAEMON_ARGS_H
#define FL_DAEMON_ARGS_H

#include <stdbool.h>

#include "config.h"

#define FLOTILLA_VERSION "0.1.0"
#define DAEMON_ARGS_RUN (-1)

typedef struct daemon_info {
	const char *program;   /* "flotilla-replicator" */
	const char *component; /* "replicator": the log lines' component */
	const char *summary;   /* what it does, for --help */
	const opt_def *table;
	unsigned table_len;
	/* Loads and validates the file into the options struct; free releases it (also after a failed load). */
	int (*load)(void *opts, const char *path, fl_err *err);
	void (*free)(void *opts);
	size_t name_offset;  /* of the char * naming this daemon in log lines */
	size_t level_offset; /* of the char * log_level */
	size_t opts_size;    /* of the options struct, for a reload */
} daemon_info;

/*
 * Parses argv and loads the file (if any) and the environment into opts.
 * Returns DAEMON_ARGS_RUN with *config_path set (NULL without --config) and opts loaded (the daemon frees it), or the exit code
 * of what was answered here: 0 (--help, --version, --sample-config,
 * --config-doc, a valid --check), FL_ERR_USAGE with the usage on stderr, or
 * the load's error code with its message logged. opts is released then.
 */
int daemon_args_start(const daemon_info *d, int argc, char **argv, void *opts, const char **config_path);

/* Logs err's message and returns its code as the process's exit code (FL_ERR_INTERNAL when it has none). */
int daemon_fail(const fl_err *err);

#endif
