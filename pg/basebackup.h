/*
 * basebackup: what pg_basebackup --progress reports, parsed, so that a clone
 * (and a backup) can show how far it is.
 */
#ifndef FL_PG_BASEBACKUP_H
#define FL_PG_BASEBACKUP_H

#include <stdbool.h>
#include <stdint.h>

/*
 * One progress line ("  20716/22985 kB (90%), 0/1 tablespace ...") into
 * bytes done and bytes expected; false for any other line.
 */
bool basebackup_progress(const char *line, int64_t *done, int64_t *total);

#endif
