/*
 * cmd_backup: `flotilla backup now|list` (the backup sidecar's API) and
 * `flotilla restore` (flotilla-backup restore on the repository).
 */
#ifndef FL_CLI_CMD_BACKUP_H
#define FL_CLI_CMD_BACKUP_H

#include "common/err.h"

/* argv[0] is "backup", argv[1] the subcommand. Returns 0, or -1 filling err. */
int cmd_backup(int argc, char **argv, fl_err *err);
/* argv[0] is "drill": `flotilla drill`, a restore drill through the sidecar. */
int cmd_drill(int argc, char **argv, fl_err *err);
/* argv[0] is "restore". */
int cmd_restore(int argc, char **argv, fl_err *err);

#endif
