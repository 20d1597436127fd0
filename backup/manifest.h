/*
 * manifest: what a backup_manifest (PostgreSQL's JSON list of a base
 * backup's files and the WAL it needs) says about the backup: the
 * timeline and the WAL range to replay before it is consistent, and the
 * files' count and size. pg_verifybackup checks the files against it; this
 * reads the summary the catalog records. Pure.
 */
#ifndef FL_BACKUP_MANIFEST_H
#define FL_BACKUP_MANIFEST_H

#include <stddef.h>
#include <stdint.h>

#include "common/err.h"

typedef struct manifest_info {
	uint32_t timeline;  /* of the range that starts first */
	uint64_t start_lsn; /* where replay starts */
	uint64_t end_lsn;   /* where the last range ends: consistent from there */
	uint32_t end_timeline;
	uint64_t files;
	uint64_t bytes; /* the data directory's size */
} manifest_info;

/* Parses len bytes of a backup_manifest; fails (FL_ERR_CONFIG) naming what is missing or malformed. */
int manifest_parse(const char *text, size_t len, manifest_info *out, fl_err *err);

#endif
