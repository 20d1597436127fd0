/*
 * flotilla-backup: the backup sidecar. main owns the event loop
 * (common/daemon): the sidecar's API and schedule run on it, SIGHUP
 * reloads the settings marked reloadable (the schedule, compression,
 * retention), and SIGTERM stops a backup under way (it is never listed)
 * before exiting. `flotilla-backup restore` restores a backup instead
 * (restore.c), without the loop.
 */
#include <stddef.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include "backup_options.h"
#include "common/config.h"
#include "common/daemon.h"
#include "common/daemon_args.h"
#include "common/err.h"
#include "common/log.h"
#include "backup/drill.h"
#include "backup/restore.h"
#include "backup/sidecar.h"

typedef struct agent {
	sidecar *s;
	backup_options *o;
} agent;

static bool on_reload(void *arg, void *next)
{
	agent *a = arg;
	backup_options_apply_reloadable(a->o, next);
	log_level_parse(a->o->log_level, &log_threshold);
	sidecar_reconfigure(a->s);
	return true;
}

static void on_stop(void *arg) { sidecar_stop(((agent *)arg)->s); }

static int load_opaque(void *o, const char *path, fl_err *err) { return backup_options_load(o, path, err); }
static void free_opaque(void *o) { backup_options_free(o); }

int main(int argc, char **argv)
{
	if (argc > 1 && strcmp(argv[1], "restore") == 0)
		return restore_main(argc - 1, argv + 1);
	if (argc > 1 && strcmp(argv[1], "drill") == 0)
		return drill_main(argc - 1, argv + 1);
	if (argc > 1 && strcmp(argv[1], "verify") == 0)
		return verify_main(argc - 1, argv + 1);
	const daemon_info info = {
		"flotilla-backup",
		"backup",
		"The backup sidecar of a Flotilla cluster: archives the members' WAL, takes base\n"
		"backups on a schedule and on demand, keeps what retention says.\n"
		"`flotilla-backup restore --help` restores a backup, `flotilla-backup drill --help`\n"
		"runs a restore drill.",
		backup_options_table,
		backup_options_table_len,
		load_opaque,
		free_opaque,
		offsetof(backup_options, name),
		offsetof(backup_options, log_level),
		sizeof(backup_options),
	};
	backup_options opts;
	const char *config_path = NULL;
	int rc = daemon_args_start(&info, argc, argv, &opts, &config_path);
	if (rc != DAEMON_ARGS_RUN)
		return rc;
	fl_err err = {0};
	daemon_loop *d = daemon_loop_new(&info, config_path, &err);
	sidecar *s = d ? sidecar_new(daemon_loop_base(d), &opts, config_path, &err) : NULL;
	if (s == NULL) {
		daemon_loop_free(d);
		backup_options_free(&opts);
		return daemon_fail(&err);
	}
	agent a = {s, &opts};
	daemon_loop_hooks(d, &(daemon_hooks){.stop = on_stop, .reload = on_reload, .arg = &a});
	log_info("flotilla-backup %s started (scope %s)", FLOTILLA_VERSION, opts.scope);
	daemon_loop_run(d);
	sidecar_free(s);
	daemon_loop_free(d);
	backup_options_free(&opts);
	log_info("stopped");
	return 0;
}
