/*
 * catalog: what the repository knows of each base backup, the record in
 * its backup.json (written last, so a backup without one never counts),
 * and the decisions taken on the list of them: which backups retention
 * keeps, how far back WAL is still needed, and which backup a restore
 * starts from. A backup.json is input like any other: parsed, validated,
 * refused with a message naming the field. Pure.
 */
#ifndef FL_BACKUP_CATALOG_H
#define FL_BACKUP_CATALOG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/err.h"

#define CATALOG_LABEL_MAX 32
#define CATALOG_FORMAT 1 /* backup.json's "format" */

typedef struct backup_record {
	char label[CATALOG_LABEL_MAX]; /* "20261206T224100Z": its start, UTC; the directory's name */
	char source[64];               /* the member it was taken from */
	char source_role[16];          /* "replica" or "primary" */
	uint32_t timeline;             /* of the start LSN */
	uint64_t start_lsn, stop_lsn;
	double start_time, stop_time; /* unix seconds; stop_time: when the backup was complete */
	uint64_t size;                /* bytes in the repository */
	uint64_t data_size;           /* bytes of the data directory (its manifest) */
	char compression[8];          /* "zstd", "gzip" or "none" */
	bool encrypted;
	int pg_version;        /* server_version_num / 10000 */
	uint64_t system_id;    /* the database system identifier */
	uint64_t wal_seg_size; /* wal_segment_size */
} backup_record;

/* "YYYYMMDDTHHMMSSZ" of unix time t (UTC, the fraction dropped); "" for a time outside years 0000-9999. */
void catalog_label_make(double t, char buf[CATALOG_LABEL_MAX]);
/* Whether label has that form, with a real date and time (a directory name that is safe). */
bool catalog_label_valid(const char *label);

/*
 * backup.json's text: one object, pretty-printed (two spaces, keys sorted),
 * ending with a newline; malloc'd. Its keys, all required when read:
 *   format        integer, CATALOG_FORMAT
 *   label         string, a valid label
 *   source        string, 1-63 bytes, no control character
 *   source_role   "replica" or "primary"
 *   timeline      integer, 1..2^32-1
 *   start_lsn     string "X/X" (1-8 hex digits each side), not 0/0
 *   stop_lsn      string "X/X", not before start_lsn
 *   start_time    number, unix seconds, from 1970 up to 9999-12-31
 *   stop_time     number, not before start_time
 *   size          integer, 0..2^63-1
 *   data_size     integer, 0..2^63-1
 *   compression   "zstd", "gzip" or "none"
 *   encrypted     true or false
 *   pg_version    integer, 10..99
 *   system_id     string, the identifier in decimal, 1..2^64-1, no leading zero
 *                 (a JSON number is a double to many readers: 53 bits)
 *   wal_seg_size  integer, a power of two from 1 MB to 1 GB
 * Keys not listed are ignored; a duplicate key refuses the file. NULL
 * without memory, or for a record JSON cannot hold (a time that is not
 * finite, a string that is not UTF-8).
 */
char *catalog_record_json(const backup_record *r);
/*
 * Parses len bytes of a backup.json; fails (FL_ERR_CONFIG) naming the field
 * that is missing, of the wrong type or out of range (a label that is not
 * one, LSNs that go back, times that go back, an unknown compression, a
 * format it does not know); r is left untouched then.
 */
int catalog_record_parse(const char *text, size_t len, backup_record *r, fl_err *err);

/* Orders records by start time, oldest first (qsort; equal start times by label). */
void catalog_sort(backup_record *r, int n);

typedef struct retention_policy {
	int full;      /* keep this many newest backups; 0: no count */
	double window; /* seconds: keep what a restore to any point of the last window seconds needs; 0: no window */
} retention_policy;

/*
 * Which of the n records (sorted, oldest first) retention keeps: the
 * policy.full newest, and for the window the newest backup that was
 * complete by now - window and every newer one. A backup either rule
 * keeps is kept, and so is the newest backup always. keep[i] is set for
 * each; the count kept is returned. With neither rule every backup is kept
 * (a negative full or window counts as 0); when no backup was complete by
 * now - window, the window keeps them all.
 */
int retention_plan(const backup_record *r, int n, const retention_policy *p, double now, bool *keep);

/*
 * The oldest WAL position a kept backup needs (the smallest start_lsn of
 * the kept ones); WAL segments wholly before it may go. 0 when none is kept.
 */
uint64_t retention_wal_horizon(const backup_record *r, int n, const bool *keep);

typedef enum restore_target_kind { TARGET_LATEST, TARGET_TIME, TARGET_LSN } restore_target_kind;

typedef struct restore_target {
	restore_target_kind kind;
	double time;  /* TARGET_TIME: unix seconds */
	uint64_t lsn; /* TARGET_LSN */
} restore_target;

/*
 * The backup a restore to target starts from, among n records (sorted,
 * oldest first): the one named by label when label is not NULL (it must
 * end at or before the target), else the newest that ends at or before
 * the target (stop_time for a time, stop_lsn for an LSN). Fails naming why
 * none fits ("no backup was complete by 2026-12-06 10:00:00 UTC: the
 * oldest ends at ...", "no backup is labelled ..."), with FL_ERR_NOT_FOUND;
 * *index is then -1. A NULL target is TARGET_LATEST. Among backups ending
 * at the same point the later in the list is taken.
 */
int catalog_pick(const backup_record *r, int n, const restore_target *t, const char *label, int *index, fl_err *err);

#endif
