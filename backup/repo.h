/*
 * repo: the backup repository on disk, which only the backup sidecar and
 * its restores touch:
 *
 *   REPO/backups/LABEL/          a complete base backup: base.tar.*, pg_wal.tar.*,
 *                                backup_manifest, and backup.json, written last
 *   REPO/backups/LABEL.partial/  a backup under way, or one cut short: never listed
 *   REPO/wal/TTTTTTTTLLLLLLLL/   archived segments (and .partial, .backup files) of
 *                                one timeline and log
 *   REPO/wal/NNNNNNNN.history    timeline history files
 *
 * Every archived file is stored as a header line ("FLWAL 1 <compression>
 * <size> <sha256 of the content>[ aes]") and the content, compressed, then
 * encrypted (crypt.h) when the repository has a key. A file is
 * durable before a put returns: written under a temporary name, synced,
 * renamed into place without replacing anything, and its directory synced.
 * A second put of the same name with the same content is accepted; with a
 * different content it is refused, and the first stays. A get checks the
 * header (a file of the repository is input too) and the checksum of what
 * it decompressed.
 */
#ifndef FL_BACKUP_REPO_H
#define FL_BACKUP_REPO_H

#include <limits.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "catalog.h"
#include "pg/walname.h"
#include "crypt.h"
#include "common/err.h"

/* The largest archived file accepted: a 1 GB segment, PostgreSQL's largest. */
#define REPO_WAL_MAX (1024UL * 1024 * 1024)

typedef struct repo {
	char path[PATH_MAX];
} repo;

/* Opens (with create, makes) the repository at path: its backups/ and wal/ directories, writable. */
int repo_open(repo *r, const char *path, bool create, fl_err *err);

typedef enum repo_put_result { REPO_STORED, REPO_SAME } repo_put_result;

/*
 * Archives name (a WAL file name: segment, history, backup history or
 * partial) with len bytes of content, compressed with compression ("zstd",
 * "gzip" or "none"). FL_ERR_CONFLICT when a different content is archived
 * under that name already, FL_ERR_USAGE for a name that is not a WAL file's,
 * FL_ERR_IO for a write that failed (a full disk: the message says so).
 */
int repo_wal_put(const repo *r, const char *name, const void *data, size_t len, const char *compression,
		 const crypt_key *key, repo_put_result *result, fl_err *err);
/*
 * name's content into *data (malloc'd) and *len; FL_ERR_NOT_FOUND when it is
 * not archived, FL_ERR_SECRET when it is encrypted and key is NULL or wrong.
 */
int repo_wal_get(const repo *r, const char *name, const crypt_key *key, char **data, size_t *len, fl_err *err);

/* The archive's newest timeline (the highest whose history file is there; 1 when none is). */
uint32_t repo_newest_timeline(const repo *r);

/*
 * Walks the archive as a recovery from (from_tli, from_segno) to its newest timeline reads it (pg/walname.h's
 * wal_walk_chain), up to its newest segment: *out says where the WAL ends and which segment is missing when
 * there is a gap; *target the timeline walked to.
 */
int repo_wal_walk(const repo *r, const crypt_key *key, uint64_t seg_size, uint32_t from_tli, uint64_t from_segno,
		  wal_walk *out, uint32_t *target, fl_err *err);
/* The path an archived file has (or would have) in the repository; -1 for a name that is not a WAL file's. */
int repo_wal_path(const repo *r, const char *name, char *buf, size_t len);

typedef struct repo_wal_stats {
	long files;          /* archived files of every kind */
	uint64_t bytes;      /* their size in the repository */
	char newest[64];     /* the newest segment (highest timeline, then position); "" when none */
	double newest_mtime; /* when it was archived (unix seconds) */
	uint32_t newest_tli;
	uint64_t newest_segno;
} repo_wal_stats;

/* Counts the archive (segments of seg_size bytes). */
int repo_wal_stats_read(const repo *r, uint64_t seg_size, repo_wal_stats *out, fl_err *err);
/* Removes the segments (and their .partial and .backup files) of every timeline wholly before segno. */
int repo_wal_remove_before(const repo *r, uint64_t segno, uint64_t seg_size, long *removed, fl_err *err);

/*
 * The complete backups, oldest first, into *out (malloc'd; free it). A
 * backup.json that does not parse is logged (naming the backup and why)
 * and left out.
 */
int repo_backups_list(const repo *r, backup_record **out, int *n, fl_err *err);
/* A new backup's directory, REPO/backups/LABEL.partial, into dir. */
int repo_backup_begin(const repo *r, const char *label, char *dir, size_t len, fl_err *err);
/* Completes it: backup.json written and synced, the directory renamed to LABEL and synced. */
int repo_backup_commit(const repo *r, const backup_record *rec, fl_err *err);
/* The directory of a complete backup. */
void repo_backup_dir(const repo *r, const char *label, char *buf, size_t len);
/* Removes a backup (complete or partial: label may end in ".partial"). */
int repo_backup_remove(const repo *r, const char *label, fl_err *err);
/* Removes the temporary files of WAL puts a kill cut short. */
int repo_tmp_clean(const repo *r, fl_err *err);
/* Removes every LABEL.partial directory (backups cut short, their programs stopped first) and those temporary files. */
int repo_partials_clean(const repo *r, int *removed, fl_err *err);
/* A whole file of at most max bytes into *out (malloc'd, NUL-terminated); FL_ERR_NOT_FOUND when absent. */
int repo_read_file(const char *path, size_t max, char **out, size_t *len, fl_err *err);
/*
 * Compresses path into path.zst or path.gz (as compression says; "none"
 * leaves it), synced, then removes path: pg_basebackup leaves the WAL it
 * streamed uncompressed. The name of the result goes into out.
 */
int repo_compress_file(const char *path, const char *compression, char *out, size_t len, fl_err *err);
/* Bytes of the files under path (a backup's directory). */
uint64_t repo_tree_size(const char *path);

#endif
