/*
 * walname: the names of the files PostgreSQL archives, and the WAL they
 * hold: WAL segments ("000000010000000000000003": timeline, then the
 * segment number as two 8-digit halves), timeline history files
 * ("00000002.history"), backup history files
 * ("000000010000000000000003.00000028.backup") and partial segments
 * ("000000010000000000000003.partial"); the history files' contents; and
 * the walk along a timeline's history that says whether an archive holds
 * every segment from a backup's start to its newest WAL, or which segment
 * is missing. Pure: names and file contents arrive from outside.
 */
#ifndef FL_PG_WALNAME_H
#define FL_PG_WALNAME_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/err.h"

#define WAL_NAME_MAX 64 /* the longest name accepted, with its NUL */
#define WAL_HISTORY_MAX 256

typedef enum wal_kind { WAL_NONE, WAL_SEGMENT, WAL_HISTORY, WAL_BACKUP, WAL_PARTIAL } wal_kind;

typedef struct wal_name {
	wal_kind kind;
	uint32_t timeline; /* 1 or more */
	uint64_t segno;    /* SEGMENT, BACKUP, PARTIAL: the segment number (first LSN / seg_size) */
	uint32_t offset;   /* BACKUP: the backup's start offset within the segment */
} wal_name;

/* Whether seg_size is a wal_segment_size PostgreSQL accepts (a power of two from 1 MB to 1 GB). */
bool wal_seg_size_valid(uint64_t seg_size);

/*
 * Parses the name of an archived file (uppercase hex, as PostgreSQL
 * writes them) for segments of seg_size bytes; WAL_NONE with why ("not a
 * WAL file name", "lowercase hex digit", "timeline 0", "segment part beyond
 * the last segment of a log": with 16 MB segments a log holds 00000000 to
 * 000000FF) for anything else, ".", ".." and "/" included, and for every
 * name when seg_size is not valid. why is a static string (the caller
 * prints the name beside it), NULL on success; out and why may be NULL.
 * out is zeroed (WAL_NONE) on refusal.
 */
wal_kind wal_name_parse(const char *name, uint64_t seg_size, wal_name *out, const char **why);

/* The segment holding lsn; 0 when seg_size is not valid. */
uint64_t wal_segno(uint64_t lsn, uint64_t seg_size);
/*
 * The name of segment segno of timeline tli: 24 uppercase hex digits and a
 * NUL. segno lies in the 64-bit LSN space (below 2^64 / seg_size); an empty
 * string when seg_size is not valid.
 */
void wal_segment_name(uint32_t tli, uint64_t segno, uint64_t seg_size, char buf[25]);

/*
 * A timeline history file ("<parent tli>\t<switch LSN>\t<reason>" lines,
 * the timeline in decimal and the LSN as %X/%X, as PostgreSQL writes them;
 * blank and '#' lines ignored): each ancestor timeline of the file's
 * timeline and the LSN where it ended, in file order (oldest first).
 */
typedef struct wal_history_entry {
	uint32_t timeline;
	uint64_t end; /* the first LSN no longer on this timeline (the switch point) */
} wal_history_entry;

/*
 * Parses a history file's text (len bytes, not NUL-terminated; the last
 * line may lack its newline); fails (FL_ERR_CONFIG) naming the line for a
 * malformed one (a NUL byte included), timeline 0, timelines not
 * increasing, switch points going back, or more than max entries. *n is
 * the number of entries, 0 on failure.
 */
int wal_history_parse(const char *text, size_t len, wal_history_entry *out, int max, int *n, fl_err *err);

/* Whether the archive holds segment segno of timeline tli. */
typedef bool (*wal_have_fn)(void *arg, uint32_t tli, uint64_t segno);

typedef struct wal_walk {
	uint32_t end_tli;   /* the timeline of the last segment found without a break (start_tli when none) */
	uint64_t end_segno; /* that segment (the start segment - 1 when not even the first is there) */
	bool gap;           /* a segment is missing while the archive holds later WAL on the way to the target */
	char missing[25];   /* the first segment not found; without gap: the next one the archive awaits */
} wal_walk;

/*
 * Walks the segments a recovery from (start_tli, start_segno) to timeline
 * target_tli reads, as PostgreSQL picks them: segment s comes from the
 * newest timeline of the target's history (hist, n entries of the target's
 * history file; none for timeline 1) that had begun by s, so the segment
 * holding a switch point comes from the new timeline, and the old
 * timeline's copy of it is never asked for. Goes until the first segment
 * have() does not find, or past last_segno (the newest segment the archive
 * holds, of any timeline) without asking beyond it: gap is set when that
 * first missing segment is at or before last_segno, unless it is the last
 * one and the segment where its timeline began, of which an older timeline's
 * copy is held (a switch just happened: that copy is the end). Fails (FL_ERR_CONFIG)
 * when start_tli is neither target_tli nor in its history, when start_segno
 * begins at or after the LSN where start_tli ended or lies before the
 * segment where it began, for a history whose timelines do not increase up
 * to target_tli or whose switch points go back, and for segment numbers at
 * the end of the LSN space (2^64 / seg_size - 1 and beyond); fails
 * (FL_ERR_INTERNAL) without have or out, or for n < 0 or entries without
 * hist. have() is never called when the walk fails.
 */
int wal_walk_chain(const wal_history_entry *hist, int n, uint32_t target_tli, uint32_t start_tli, uint64_t start_segno,
		   uint64_t last_segno, uint64_t seg_size, wal_have_fn have, void *arg, wal_walk *out, fl_err *err);

#endif
