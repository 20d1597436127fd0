/*
 * recovery_conf: the block of settings `flotilla-backup restore` appends to a
 * restored data directory's postgresql.auto.conf (restore_command, the
 * recovery target), between two marker lines, and its removal: the agent of
 * a new cluster's first node drops the block once the copy is promoted, so
 * that its own settings (flotilla.conf) govern from then on.
 */
#ifndef FL_PG_RECOVERY_CONF_H
#define FL_PG_RECOVERY_CONF_H

#include <stdbool.h>

#define RESTORE_SETTINGS_BEGIN "# Set by flotilla-backup restore"
#define RESTORE_SETTINGS_END "# End of flotilla-backup restore's settings."

/*
 * text without each block from a line that begins with RESTORE_SETTINGS_BEGIN
 * through the line RESTORE_SETTINGS_END (or the end of the text, when a block
 * was cut short), and without the empty line just before a block. A new
 * string (free it); NULL when out of memory. *found says whether a block was
 * there.
 */
char *recovery_conf_strip(const char *text, bool *found);

#endif
