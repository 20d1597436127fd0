/*
 * sidecar: what flotilla-backup does on its event loop. Its HTTP API takes
 * the WAL the members archive (PUT /wal/NAME, durable before the answer)
 * and hands it back to a restore or a replica (GET /wal/NAME), starts a base
 * backup on demand (POST /backups), lists the backups (GET /backups) and
 * says how it is (GET /status, /health, /metrics). A base backup runs
 * pg_basebackup against the source that source_pick chose, as a process the
 * loop supervises, so archiving goes on meanwhile; it is recorded only
 * once complete, then retention runs. A cron schedule starts backups too.
 */
#ifndef FL_BACKUP_SIDECAR_H
#define FL_BACKUP_SIDECAR_H

#include <stddef.h>

#include "backup_options.h"
#include "common/err.h"

struct event_base;

typedef struct sidecar sidecar;

/* Opens the repository (removing the backups a stop cut short), reads the token, listens. */
sidecar *sidecar_new(struct event_base *base, backup_options *o, const char *config_path, fl_err *err);
/* After a reload: the schedule is armed again, the new settings apply to the next backup. */
void sidecar_reconfigure(sidecar *s);
/* Stops a backup under way (its partial directory is removed) and a drill (its copy is left for the next). */
void sidecar_stop(sidecar *s);
void sidecar_free(sidecar *s);

#endif
