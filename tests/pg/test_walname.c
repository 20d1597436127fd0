/*
 * test_walname: the names of archived WAL files, one row per name accepted
 * and per name refused (with the reason), at 1 MB, 16 MB, 64 MB and 1 GB
 * segments; the round trips between segment numbers, LSNs and names; the
 * timeline history files PostgreSQL writes and the malformed ones; and the
 * walk along a timeline's history against a fake archive that records
 * which segments it was asked for.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cunit_main.h"
#include "pg/walname.h"

#define MB (1ULL << 20)
#define GB (1ULL << 30)
#define ROWS(a) (sizeof(a) / sizeof((a)[0]))

/* Segment sizes */

static void test_seg_sizes_are_powers_of_two_from_1mb_to_1gb(void)
{
	static const struct {
		uint64_t size;
		bool valid;
	} rows[] = {
		{0, false},       {1, false},      {MB / 2, false},     {MB, true},          {MB + 1, false},
		{2 * MB, true},   {3 * MB, false}, {16 * MB, true},     {64 * MB, true},     {GB, true},
		{GB - MB, false}, {2 * GB, false}, {UINT64_MAX, false}, {1ULL << 63, false},
	};
	for (unsigned i = 0; i < ROWS(rows); i++)
		CU_ASSERT_EQUAL(wal_seg_size_valid(rows[i].size), rows[i].valid);
}

/* Names */

static void test_names_accepted(void)
{
	static const struct {
		const char *name;
		uint64_t seg_size;
		wal_kind kind;
		uint32_t timeline;
		uint64_t segno;
		uint32_t offset;
	} rows[] = {
		/* The first segment initdb writes, and the segment numbers across a log's boundary. */
		{"000000010000000000000001", 16 * MB, WAL_SEGMENT, 1, 1, 0},
		{"000000010000000000000000", 16 * MB, WAL_SEGMENT, 1, 0, 0},
		{"0000000100000000000000FF", 16 * MB, WAL_SEGMENT, 1, 255, 0},
		{"000000020000000100000000", 16 * MB, WAL_SEGMENT, 2, 256, 0},
		{"0000000A0123456700000089", 16 * MB, WAL_SEGMENT, 10, 0x123456789, 0},
		{"FFFFFFFFFFFFFFFF000000FF", 16 * MB, WAL_SEGMENT, 0xFFFFFFFF, (1ULL << 40) - 1, 0},
		/* 1 MB: 4096 segments a log. */
		{"000000010000000000000FFF", MB, WAL_SEGMENT, 1, 4095, 0},
		{"000000010000000100000FFF", MB, WAL_SEGMENT, 1, 8191, 0},
		/* 64 MB: 64 segments a log. */
		{"00000001000000000000003F", 64 * MB, WAL_SEGMENT, 1, 63, 0},
		{"00000001000000010000003F", 64 * MB, WAL_SEGMENT, 1, 127, 0},
		/* 1 GB: 4 segments a log. */
		{"000000010000000000000003", GB, WAL_SEGMENT, 1, 3, 0},
		{"000000010000000200000003", GB, WAL_SEGMENT, 1, 11, 0},
		/* Timeline history files: the timeline in hex. */
		{"0000000A.history", 16 * MB, WAL_HISTORY, 10, 0, 0},
		{"00000002.history", MB, WAL_HISTORY, 2, 0, 0},
		{"00000001.history", GB, WAL_HISTORY, 1, 0, 0},
		{"FFFFFFFF.history", 16 * MB, WAL_HISTORY, 0xFFFFFFFF, 0, 0},
		/* Backup history files: the start offset within the segment. */
		{"000000010000000000000003.00000028.backup", 16 * MB, WAL_BACKUP, 1, 3, 0x28},
		{"000000010000000000000003.00000000.backup", 16 * MB, WAL_BACKUP, 1, 3, 0},
		{"000000010000000000000003.00FFFFFF.backup", 16 * MB, WAL_BACKUP, 1, 3, 0xFFFFFF},
		{"000000030000000100000002.3FFFFFFF.backup", GB, WAL_BACKUP, 3, 6, 0x3FFFFFFF},
		{"000000010000000000000FFF.000FFFFF.backup", MB, WAL_BACKUP, 1, 4095, 0xFFFFF},
		/* Partial segments: the last segment of an old timeline after a promotion. */
		{"000000010000000000000003.partial", 16 * MB, WAL_PARTIAL, 1, 3, 0},
		{"00000001000000000000003F.partial", 64 * MB, WAL_PARTIAL, 1, 63, 0},
		/* A C string ends at its NUL: what follows is not part of the name. */
		{"000000010000000000000001\0/../etc", 16 * MB, WAL_SEGMENT, 1, 1, 0},
	};
	for (unsigned i = 0; i < ROWS(rows); i++) {
		wal_name w = {WAL_NONE, 99, 99, 99};
		const char *why = "unset";
		wal_kind k = wal_name_parse(rows[i].name, rows[i].seg_size, &w, &why);
		if (k != rows[i].kind)
			fprintf(stderr, "row %u %s: kind %d, %s\n", i, rows[i].name, (int)k, why ? why : "");
		CU_ASSERT_EQUAL(k, rows[i].kind);
		CU_ASSERT_EQUAL(w.kind, rows[i].kind);
		CU_ASSERT_EQUAL(w.timeline, rows[i].timeline);
		CU_ASSERT_EQUAL(w.segno, rows[i].segno);
		CU_ASSERT_EQUAL(w.offset, rows[i].offset);
		CU_ASSERT_PTR_NULL(why);
		/* out and why may be left out. */
		CU_ASSERT_EQUAL(wal_name_parse(rows[i].name, rows[i].seg_size, NULL, NULL), rows[i].kind);
	}
}

static void test_names_refused_with_why(void)
{
	char too_long[WAL_NAME_MAX + 1], far_too_long[300];
	memset(too_long, 'A', sizeof too_long - 1);
	too_long[sizeof too_long - 1] = '\0';
	memset(far_too_long, '0', sizeof far_too_long - 1);
	far_too_long[sizeof far_too_long - 1] = '\0';
	/* The longest name accepted is 40 characters: 63 is still refused, for its shape. */
	char longest[WAL_NAME_MAX];
	memset(longest, '0', sizeof longest - 1);
	longest[sizeof longest - 1] = '\0';
	const struct {
		const char *name;
		uint64_t seg_size;
		const char *why;
	} rows[] = {
		{NULL, 16 * MB, "no name"},
		{"", 16 * MB, "empty name"},
		{".", 16 * MB, "directory entry"},
		{"..", 16 * MB, "directory entry"},
		{too_long, 16 * MB, "longer than any"},
		{far_too_long, 16 * MB, "longer than any"},
		{longest, 16 * MB, "not a WAL file name"},
		/* Paths. */
		{"/000000010000000000000001", 16 * MB, "'/'"},
		{"../000000010000000000000001", 16 * MB, "'/'"},
		{"00000001/000000000000001", 16 * MB, "'/'"},
		{"000000010000000000000001/", 16 * MB, "'/'"},
		{"./00000002.history", 16 * MB, "'/'"},
		/* Lowercase hex, where PostgreSQL writes uppercase. */
		{"00000001000000000000000a", 16 * MB, "lowercase"},
		{"0000000a.history", 16 * MB, "lowercase"},
		{"000000010000000000000003.0000002a.backup", 16 * MB, "lowercase"},
		{"0000000100000000000000ff.partial", 16 * MB, "lowercase"},
		/* Lowercase beside another fault is not a WAL name at all. */
		{"0000000a.historx", 16 * MB, "not a WAL file name"},
		{"00000001000000000000000a"
		 "x",
		 16 * MB, "not a WAL file name"},
		/* Wrong lengths and characters. */
		{"00000001000000000000001", 16 * MB, "not a WAL file name"},
		{"0000000100000000000000011", 16 * MB, "not a WAL file name"},
		{"00000001000000000000000G", 16 * MB, "not a WAL file name"},
		{"00000001000000000000000-", 16 * MB, "not a WAL file name"},
		{" 00000001000000000000001", 16 * MB, "not a WAL file name"},
		{"000000010000000000000001\n", 16 * MB, "not a WAL file name"},
		{"0x000001000000000000000001", 16 * MB, "not a WAL file name"},
		{"RECOVERYHISTORY", 16 * MB, "not a WAL file name"},
		{"archive_status", 16 * MB, "not a WAL file name"},
		/* Suffixes. */
		{"0000000A.HISTORY", 16 * MB, "not a WAL file name"},
		{"0000000A.histor", 16 * MB, "not a WAL file name"},
		{"0000000A history", 16 * MB, "not a WAL file name"},
		{"0000000A.history.tmp", 16 * MB, "not a WAL file name"},
		{"0000000A0000000000000001.history", 16 * MB, "not a WAL file name"},
		{"000000010000000000000003.backup", 16 * MB, "not a WAL file name"},
		{"000000010000000000000003.00000028.BACKUP", 16 * MB, "not a WAL file name"},
		{"000000010000000000000003.00000028_backup", 16 * MB, "not a WAL file name"},
		{"000000010000000000000003_00000028.backup", 16 * MB, "not a WAL file name"},
		{"000000010000000000000003.0000028.backup", 16 * MB, "not a WAL file name"},
		{"000000010000000000000003.PARTIAL", 16 * MB, "not a WAL file name"},
		{"000000010000000000000003.partial.gz", 16 * MB, "not a WAL file name"},
		{"000000010000000000000003.gz", 16 * MB, "not a WAL file name"},
		{"000000010000000000000003.", 16 * MB, "not a WAL file name"},
		/* A NUL inside cuts the name short. */
		{"000000010000"
		 "\0"
		 "000000000001",
		 16 * MB, "not a WAL file name"},
		{"0000000A"
		 "\0"
		 ".history",
		 16 * MB, "not a WAL file name"},
		/* Timeline 0. */
		{"000000000000000000000001", 16 * MB, "timeline 0"},
		{"00000000.history", 16 * MB, "timeline 0"},
		{"000000000000000000000003.partial", 16 * MB, "timeline 0"},
		{"000000000000000000000003.00000028.backup", 16 * MB, "timeline 0"},
		/* The last part beyond the segments of a log. */
		{"000000010000000000000100", 16 * MB, "segment part beyond"},
		{"0000000100000000FFFFFFFF", 16 * MB, "segment part beyond"},
		{"000000010000000000001000", MB, "segment part beyond"},
		{"000000010000000000000040", 64 * MB, "segment part beyond"},
		{"000000010000000000000004", GB, "segment part beyond"},
		{"000000010000000000000100.partial", 16 * MB, "segment part beyond"},
		{"000000010000000000000100.00000028.backup", 16 * MB, "segment part beyond"},
		/* A backup's offset beyond its segment. */
		{"000000010000000000000003.01000000.backup", 16 * MB, "offset beyond"},
		{"000000010000000000000003.00100000.backup", MB, "offset beyond"},
		{"000000010000000000000003.40000000.backup", GB, "offset beyond"},
		{"000000010000000000000003.FFFFFFFF.backup", GB, "offset beyond"},
		/* Segment sizes PostgreSQL refuses: no name parses. */
		{"000000010000000000000001", 0, "segment size"},
		{"000000010000000000000001", 3 * MB, "segment size"},
		{"00000002.history", 2 * GB, "segment size"},
	};
	for (unsigned i = 0; i < ROWS(rows); i++) {
		wal_name w = {WAL_SEGMENT, 7, 7, 7};
		const char *why = NULL;
		CU_ASSERT_EQUAL(wal_name_parse(rows[i].name, rows[i].seg_size, &w, &why), WAL_NONE);
		CU_ASSERT_EQUAL(w.kind, WAL_NONE);
		CU_ASSERT_EQUAL(w.timeline, 0);
		CU_ASSERT_EQUAL(w.segno, 0);
		CU_ASSERT_EQUAL(w.offset, 0);
		CU_ASSERT_PTR_NOT_NULL_FATAL(why);
		if (strstr(why, rows[i].why) == NULL)
			fprintf(stderr, "row %u %s: why \"%s\", expected \"%s\"\n", i,
				rows[i].name ? rows[i].name : "NULL", why, rows[i].why);
		CU_ASSERT_PTR_NOT_NULL(strstr(why, rows[i].why));
		CU_ASSERT_EQUAL(wal_name_parse(rows[i].name, rows[i].seg_size, NULL, NULL), WAL_NONE);
	}
}

/* Every character of a segment name except one, in every position: only uppercase hex passes. */
static void test_each_position_takes_only_uppercase_hex(void)
{
	const char *base = "000000010000000000000001";
	for (int pos = 0; pos < 24; pos++) {
		for (int c = 1; c < 256; c++) {
			char name[25];
			memcpy(name, base, sizeof name);
			name[pos] = (char)c;
			bool hex = (c >= '0' && c <= '9') || (c >= 'A' && c <= 'F');
			wal_kind k = wal_name_parse(name, 16 * MB, NULL, NULL);
			/* The 16 MB log's last part takes 000000FF at most; the timeline must not become 0. */
			bool in_range = pos < 16 || pos >= 22 || c == '0';
			bool zero_tli = pos == 7 && c == '0';
			CU_ASSERT_EQUAL(k, hex && in_range && !zero_tli ? WAL_SEGMENT : WAL_NONE);
		}
	}
}

/* Names, segment numbers and LSNs */

static void test_segment_names_as_postgresql_prints_them(void)
{
	static const struct {
		uint32_t tli;
		uint64_t segno, seg_size;
		const char *name;
	} rows[] = {
		{1, 1, 16 * MB, "000000010000000000000001"},
		{1, 255, 16 * MB, "0000000100000000000000FF"},
		{1, 256, 16 * MB, "000000010000000100000000"},
		{2, 0x1FF, 16 * MB, "0000000200000001000000FF"},
		{10, 0x123456789, 16 * MB, "0000000A0123456700000089"},
		{0xFFFFFFFF, (1ULL << 40) - 1, 16 * MB, "FFFFFFFFFFFFFFFF000000FF"},
		{1, 4095, MB, "000000010000000000000FFF"},
		{1, 4096, MB, "000000010000000100000000"},
		{1, 63, 64 * MB, "00000001000000000000003F"},
		{1, 64, 64 * MB, "000000010000000100000000"},
		{1, 3, GB, "000000010000000000000003"},
		{1, 5, GB, "000000010000000100000001"},
		{3, (1ULL << 34) - 1, GB, "00000003FFFFFFFF00000003"},
	};
	for (unsigned i = 0; i < ROWS(rows); i++) {
		char buf[25];
		wal_segment_name(rows[i].tli, rows[i].segno, rows[i].seg_size, buf);
		CU_ASSERT_STRING_EQUAL(buf, rows[i].name);
	}
	char buf[25] = "x";
	wal_segment_name(1, 1, 3 * MB, buf);
	CU_ASSERT_STRING_EQUAL(buf, "");
}

static void test_segment_names_round_trip_at_every_size(void)
{
	static const uint64_t sizes[] = {MB, 16 * MB, 64 * MB, GB};
	static const uint32_t tlis[] = {1, 2, 0xA, 0x7FFFFFFF, 0xFFFFFFFF};
	for (unsigned z = 0; z < ROWS(sizes); z++) {
		uint64_t size = sizes[z], per_log = 0x100000000ULL / size, last = UINT64_MAX / size;
		const uint64_t segnos[] = {0,     1,        per_log - 1, per_log, per_log + 1, 3 * per_log - 1,
					   12345, last - 1, last};
		for (unsigned t = 0; t < ROWS(tlis); t++) {
			for (unsigned s = 0; s < ROWS(segnos); s++) {
				char name[25], longer[WAL_NAME_MAX];
				wal_segment_name(tlis[t], segnos[s], size, name);
				CU_ASSERT_EQUAL(strlen(name), 24);
				wal_name w;
				CU_ASSERT_EQUAL(wal_name_parse(name, size, &w, NULL), WAL_SEGMENT);
				CU_ASSERT_EQUAL(w.timeline, tlis[t]);
				CU_ASSERT_EQUAL(w.segno, segnos[s]);
				snprintf(longer, sizeof longer, "%s.partial", name);
				CU_ASSERT_EQUAL(wal_name_parse(longer, size, &w, NULL), WAL_PARTIAL);
				CU_ASSERT_EQUAL(w.segno, segnos[s]);
				snprintf(longer, sizeof longer, "%s.%08" PRIX64 ".backup", name, size - 1);
				CU_ASSERT_EQUAL(wal_name_parse(longer, size, &w, NULL), WAL_BACKUP);
				CU_ASSERT_EQUAL(w.segno, segnos[s]);
				CU_ASSERT_EQUAL(w.offset, size - 1);
				/* Every LSN of the segment maps back to it. */
				CU_ASSERT_EQUAL(wal_segno(segnos[s] * size, size), segnos[s]);
				CU_ASSERT_EQUAL(wal_segno(segnos[s] * size + size - 1, size), segnos[s]);
			}
		}
	}
}

static void test_segno_of_an_lsn(void)
{
	static const struct {
		uint64_t lsn, seg_size, segno;
	} rows[] = {
		{0, 16 * MB, 0},
		{0xFFFFFF, 16 * MB, 0},
		{0x1000000, 16 * MB, 1},
		{0x3000060, 16 * MB, 3},
		{0x100000000, 16 * MB, 256},
		{0x123000060, 16 * MB, 0x123},
		{UINT64_MAX, 16 * MB, (1ULL << 40) - 1},
		{0x3000060, MB, 0x30},
		{0x3000060, 64 * MB, 0},
		{0x4000000, 64 * MB, 1},
		{0x3FFFFFFF, GB, 0},
		{0x40000000, GB, 1},
		{UINT64_MAX, GB, (1ULL << 34) - 1},
		{0x3000060, 0, 0},
		{0x3000060, 3 * MB, 0},
	};
	for (unsigned i = 0; i < ROWS(rows); i++)
		CU_ASSERT_EQUAL(wal_segno(rows[i].lsn, rows[i].seg_size), rows[i].segno);
	/* pg_walfile_name('1/23000060') on timeline 1 with 16 MB segments. */
	char name[25];
	wal_segment_name(1, wal_segno(0x123000060, 16 * MB), 16 * MB, name);
	CU_ASSERT_STRING_EQUAL(name, "000000010000000100000023");
}

/* History files */

static int parse_text(const char *text, wal_history_entry *out, int max, int *n, fl_err *err)
{
	return wal_history_parse(text, strlen(text), out, max, n, err);
}

static void test_history_as_postgresql_writes_it(void)
{
	/* PostgreSQL copies the parent's lines, then adds a newline in case the parent's last line lacked one. */
	const char *text = "1\t0/3000000\tno recovery target specified\n"
			   "\n"
			   "2\t0/5000100\tbefore 2026-11-23 10:00:00.123+00\n";
	wal_history_entry h[WAL_HISTORY_MAX];
	int n = -1;
	fl_err err = {0};
	CU_ASSERT_EQUAL(parse_text(text, h, WAL_HISTORY_MAX, &n, &err), 0);
	CU_ASSERT_EQUAL_FATAL(n, 2);
	CU_ASSERT_EQUAL(h[0].timeline, 1);
	CU_ASSERT_EQUAL(h[0].end, 0x3000000);
	CU_ASSERT_EQUAL(h[1].timeline, 2);
	CU_ASSERT_EQUAL(h[1].end, 0x5000100);
}

static void test_history_comments_blanks_and_free_reasons(void)
{
	static const struct {
		const char *text;
		int n;
		uint32_t last_tli;
		uint64_t last_end;
	} rows[] = {
		{"", 0, 0, 0},
		{"\n\n\n", 0, 0, 0},
		{"# only a comment\n", 0, 0, 0},
		{"   \t\n\t# indented comment\n \r\n", 0, 0, 0},
		/* No newline after the last line. */
		{"1\t0/3000000\tno recovery target specified", 1, 1, 0x3000000},
		{"1\t0/3000000", 1, 1, 0x3000000},
		/* No reason; spaces for the tab, as PostgreSQL's sscanf takes them. */
		{"7 2/0\n", 1, 7, 0x200000000},
		{"  7 \t 2/0   \n", 1, 7, 0x200000000},
		{"7\v2/0\f\n", 1, 7, 0x200000000},
		/* A reason holding tabs, slashes and '#'. */
		{"3\t1/A000028\tbefore 0/3 # not a comment\tx\n", 1, 3, 0x10A000028},
		/* CRLF line ends. */
		{"1\t0/3000000\tr\r\n2\t0/4000000\tr\r\n", 2, 2, 0x4000000},
		/* Lowercase hex and the widest LSN. */
		{"1\t0/abcdef\n4294967295\tFFFFFFFF/FFFFFFFF\tlast\n", 2, 0xFFFFFFFF, UINT64_MAX},
		/* Comments between entries; equal switch points (a timeline that wrote nothing). */
		{"# a\n1\t0/5000000\tr\n# b\n\n2\t0/5000000\tr\n# c", 2, 2, 0x5000000},
	};
	for (unsigned i = 0; i < ROWS(rows); i++) {
		wal_history_entry h[8];
		int n = -1;
		fl_err err = {0};
		int r = parse_text(rows[i].text, h, 8, &n, &err);
		if (r != 0)
			fprintf(stderr, "row %u: %s\n", i, err.msg);
		CU_ASSERT_EQUAL(r, 0);
		CU_ASSERT_EQUAL_FATAL(n, rows[i].n);
		if (n > 0) {
			CU_ASSERT_EQUAL(h[n - 1].timeline, rows[i].last_tli);
			CU_ASSERT_EQUAL(h[n - 1].end, rows[i].last_end);
		}
	}
	/* No text at all. */
	int n = -1;
	CU_ASSERT_EQUAL(wal_history_parse(NULL, 0, NULL, 0, &n, NULL), 0);
	CU_ASSERT_EQUAL(n, 0);
}

/* The parse fails, *n is 0, and the message names the line and holds what. */
static void assert_history_refused(const char *text, size_t len, int max, const char *what)
{
	wal_history_entry h[WAL_HISTORY_MAX + 1];
	int n = -1;
	fl_err err = {0};
	CU_ASSERT_EQUAL(wal_history_parse(text, len, h, max, &n, &err), -1);
	CU_ASSERT_EQUAL(n, 0);
	CU_ASSERT_EQUAL(err.code, FL_ERR_CONFIG);
	if (strstr(err.msg, what) == NULL)
		fprintf(stderr, "history \"%.40s\": \"%s\", expected \"%s\"\n", text, err.msg, what);
	CU_ASSERT_PTR_NOT_NULL(strstr(err.msg, what));
	CU_ASSERT_EQUAL(wal_history_parse(text, len, h, max, &n, NULL), -1);
}

static void test_history_malformed_lines(void)
{
	static const struct {
		const char *text;
		const char *what;
	} rows[] = {
		{"x\t0/3000000\tr\n", "line 1: no parent timeline (a decimal number) first in \"x 0/3000000 r\""},
		{"-1\t0/3000000\n", "line 1: no parent timeline"},
		{"+1\t0/3000000\n", "line 1: no parent timeline"},
		{"0x1\t0/3000000\n", "line 1: timeline 0"},
		{"1\n", "line 1: no switch point"},
		{"1", "line 1: no switch point"},
		{"1\t\n", "line 1: no switch point"},
		{"1x\t0/3000000\n", "line 1: no switch point"},
		{"0\t0/3000000\tr\n", "line 1: timeline 0"},
		{"4294967296\t0/3000000\n", "line 1: a timeline beyond 32 bits"},
		{"99999999999999999999\t0/3000000\n", "line 1: a timeline beyond 32 bits"},
		{"1\t0-3000000\tr\n", "line 1: a switch point that is not an LSN"},
		{"1\t03000000\n", "not an LSN"},
		{"1\t/3000000\n", "not an LSN"},
		{"1\t0/\n", "not an LSN"},
		{"1\t0/1/2\n", "not an LSN"},
		{"1\t123456789/0\n", "not an LSN"},
		{"1\t0/123456789\n", "not an LSN"},
		{"1\t0/0x30\n", "not an LSN"},
		{"1\t0/3G\n", "not an LSN"},
		{"1\t-0/3\n", "not an LSN"},
		{"1\t0/3000000,reason\n", "not an LSN"},
		{"00000001\t000000010000000000000003\tPostgreSQL 8 style\n", "not an LSN"},
		/* The line number counts blank and comment lines. */
		{"# header\n\n1\t0/3000000\tr\nbad line\n", "line 4: no parent timeline"},
		{"1\t0/3000000\tr\n2\t0/4000000\tr\n3\tx\n", "line 3: a switch point"},
		/* Control characters are shown as '?', long lines cut. */
		{"1\t0/3\x1b[2J\n", "in \"1 0/3?[2J\""},
		{"1\t0/3\x7f\xc3\xa9\n", "in \"1 0/3???\""},
		{"1\tzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzz\n",
		 "in \"1 zzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzz...\""},
	};
	for (unsigned i = 0; i < ROWS(rows); i++)
		assert_history_refused(rows[i].text, strlen(rows[i].text), WAL_HISTORY_MAX, rows[i].what);
	/* A NUL byte inside the text, whether in the reason or before the switch point. */
	static const char nul_reason[] = "1\t0/3000000\tr\0eason\n";
	assert_history_refused(nul_reason, sizeof nul_reason - 1, WAL_HISTORY_MAX, "line 1: a NUL byte");
	static const char nul_lsn[] = "1\t0/30\0"
				      "00000\n";
	assert_history_refused(nul_lsn, sizeof nul_lsn - 1, WAL_HISTORY_MAX, "line 1: a NUL byte");
	static const char nul_second[] = "1\t0/3000000\n\0\n";
	assert_history_refused(nul_second, sizeof nul_second - 1, WAL_HISTORY_MAX, "line 2: a NUL byte");
}

static void test_history_timelines_must_increase_and_switch_points_not_go_back(void)
{
	static const struct {
		const char *text;
		const char *what;
	} rows[] = {
		{"1\t0/3000000\tr\n1\t0/4000000\tr\n", "line 2: timeline 1 after timeline 1 (timelines must increase)"},
		{"2\t0/3000000\tr\n1\t0/4000000\tr\n", "line 2: timeline 1 after timeline 2"},
		{"1\t0/3000000\n\n# c\n3\t0/4000000\n2\t0/5000000\n", "line 5: timeline 2 after timeline 3"},
		{"1\t0/5000000\tr\n2\t0/4000000\tr\n",
		 "line 2: timeline 2 ends at 0/4000000, before 0/5000000 where timeline 1 ended"},
		{"1\t1/0\n2\t0/FFFFFFFF\n", "switch points must not go back"},
	};
	for (unsigned i = 0; i < ROWS(rows); i++)
		assert_history_refused(rows[i].text, strlen(rows[i].text), WAL_HISTORY_MAX, rows[i].what);
}

static void test_history_more_entries_than_max(void)
{
	/* WAL_HISTORY_MAX entries fit; one more does not. */
	size_t cap = (WAL_HISTORY_MAX + 2) * 32;
	char *text = malloc(cap);
	CU_ASSERT_PTR_NOT_NULL_FATAL(text);
	size_t len = 0;
	for (int t = 1; t <= WAL_HISTORY_MAX + 1; t++)
		len += (size_t)snprintf(text + len, cap - len, "%d\t0/%X\tr\n", t, (unsigned)t * 0x100000u);
	size_t len_max = 0;
	for (int lines = 0; lines < WAL_HISTORY_MAX; len_max++)
		if (text[len_max] == '\n')
			lines++;
	wal_history_entry h[WAL_HISTORY_MAX];
	int n = -1;
	CU_ASSERT_EQUAL(wal_history_parse(text, len_max, h, WAL_HISTORY_MAX, &n, NULL), 0);
	CU_ASSERT_EQUAL(n, WAL_HISTORY_MAX);
	CU_ASSERT_EQUAL(h[WAL_HISTORY_MAX - 1].timeline, WAL_HISTORY_MAX);
	char what[64];
	snprintf(what, sizeof what, "line %d: more than %d entries", WAL_HISTORY_MAX + 1, WAL_HISTORY_MAX);
	assert_history_refused(text, len, WAL_HISTORY_MAX, what);
	free(text);
	/* A small max, and none at all. */
	assert_history_refused("1\t0/3000000\n2\t0/4000000\n3\t0/5000000\n", 36, 2, "line 3: more than 2 entries");
	assert_history_refused("# c\n1\t0/3000000\n", 16, 0, "line 2: more than 0 entries");
	assert_history_refused("1\t0/3000000\n", 12, -1, "line 1: more than 0 entries");
	CU_ASSERT_EQUAL(wal_history_parse("# c\n\n", 5, NULL, 0, &n, NULL), 0);
	CU_ASSERT_EQUAL(n, 0);
}

/* The walk */

#define HELD_MAX 16
#define ASKED_MAX 16

/* An archive holding the named segments; records the names it is asked for. */
typedef struct fake_archive {
	const char *const *held;
	uint64_t seg_size;
	char asked[ASKED_MAX][25];
	int n_asked;
} fake_archive;

static bool fake_have(void *arg, uint32_t tli, uint64_t segno)
{
	fake_archive *a = arg;
	char name[25];
	wal_segment_name(tli, segno, a->seg_size, name);
	if (a->n_asked < ASKED_MAX)
		memcpy(a->asked[a->n_asked], name, sizeof name);
	a->n_asked++;
	for (int i = 0; i < HELD_MAX && a->held[i]; i++)
		if (strcmp(a->held[i], name) == 0)
			return true;
	return false;
}

static bool always_have(void *arg, uint32_t tli, uint64_t segno)
{
	(void)tli;
	(void)segno;
	(*(long *)arg)++;
	return true;
}

/* History texts shared by the rows. */
#define SWITCH_1_2 "1\t0/4000028\tno recovery target specified\n"
#define SWITCH_1_2_AT_BOUNDARY "1\t0/4000000\tno recovery target specified\n"
#define SWITCHES_1_2_3 "1\t0/3000100\tno recovery target specified\n\n2\t0/5000200\tno recovery target specified\n"
#define SWITCHES_IN_ONE_SEGMENT "1\t0/3000100\tr\n2\t0/3000200\tr\n"

static const struct walk_row {
	const char *what;
	const char *history; /* the target's history file */
	uint32_t target, start_tli;
	uint64_t start_segno, last_segno, seg_size;
	const char *held[HELD_MAX];
	const char *asked[ASKED_MAX];
	uint32_t end_tli;
	uint64_t end_segno;
	bool gap;
	const char *missing;
} walk_rows[] = {
	{"one timeline, complete",
	 "",
	 1,
	 1,
	 2,
	 5,
	 16 * MB,
	 {"000000010000000000000001", "000000010000000000000002", "000000010000000000000003",
	  "000000010000000000000004", "000000010000000000000005"},
	 {"000000010000000000000002", "000000010000000000000003", "000000010000000000000004",
	  "000000010000000000000005"},
	 1,
	 5,
	 false,
	 "000000010000000000000006"},
	{"one timeline, a gap in the middle",
	 "",
	 1,
	 1,
	 2,
	 5,
	 16 * MB,
	 {"000000010000000000000002", "000000010000000000000003", "000000010000000000000005"},
	 {"000000010000000000000002", "000000010000000000000003", "000000010000000000000004"},
	 1,
	 3,
	 true,
	 "000000010000000000000004"},
	{"the first segment missing",
	 "",
	 1,
	 1,
	 2,
	 4,
	 16 * MB,
	 {"000000010000000000000003", "000000010000000000000004"},
	 {"000000010000000000000002"},
	 1,
	 1,
	 true,
	 "000000010000000000000002"},
	{"the newest segment missing is a gap too",
	 "",
	 1,
	 1,
	 2,
	 3,
	 16 * MB,
	 {"000000010000000000000002"},
	 {"000000010000000000000002", "000000010000000000000003"},
	 1,
	 2,
	 true,
	 "000000010000000000000003"},
	{"the archive ends before the start: nothing asked",
	 "",
	 1,
	 1,
	 7,
	 5,
	 16 * MB,
	 {"000000010000000000000005"},
	 {NULL},
	 1,
	 6,
	 false,
	 "000000010000000000000007"},
	{"across a log's boundary at 16 MB",
	 "",
	 1,
	 1,
	 0xFE,
	 0x101,
	 16 * MB,
	 {"0000000100000000000000FE", "0000000100000000000000FF", "000000010000000100000000",
	  "000000010000000100000001"},
	 {"0000000100000000000000FE", "0000000100000000000000FF", "000000010000000100000000",
	  "000000010000000100000001"},
	 1,
	 0x101,
	 false,
	 "000000010000000100000002"},
	{"across a log's boundary at 1 GB",
	 "",
	 1,
	 1,
	 3,
	 5,
	 GB,
	 {"000000010000000000000003", "000000010000000100000000", "000000010000000100000001"},
	 {"000000010000000000000003", "000000010000000100000000", "000000010000000100000001"},
	 1,
	 5,
	 false,
	 "000000010000000100000002"},
	{"a switch from timeline 1 to 2: the switch segment from timeline 2",
	 SWITCH_1_2,
	 2,
	 1,
	 2,
	 6,
	 16 * MB,
	 {"000000010000000000000002", "000000010000000000000003", "000000010000000000000004",
	  "000000020000000000000004", "000000020000000000000005", "000000020000000000000006"},
	 {"000000010000000000000002", "000000010000000000000003", "000000020000000000000004",
	  "000000020000000000000005", "000000020000000000000006"},
	 2,
	 6,
	 false,
	 "000000020000000000000007"},
	{"a switch: timeline 1's copy of the switch segment does not stand in for timeline 2's",
	 SWITCH_1_2,
	 2,
	 1,
	 2,
	 6,
	 16 * MB,
	 {"000000010000000000000002", "000000010000000000000003", "000000010000000000000004",
	  "000000020000000000000005", "000000020000000000000006"},
	 {"000000010000000000000002", "000000010000000000000003", "000000020000000000000004"},
	 1,
	 3,
	 true,
	 "000000020000000000000004"},
	{"a switch: timeline 1 going on past it is not read",
	 SWITCH_1_2,
	 2,
	 1,
	 3,
	 6,
	 16 * MB,
	 {"000000010000000000000003", "000000010000000000000004", "000000010000000000000005",
	  "000000010000000000000006"},
	 {"000000010000000000000003", "000000020000000000000004"},
	 1,
	 3,
	 true,
	 "000000020000000000000004"},
	{"a switch at a segment's first byte",
	 SWITCH_1_2_AT_BOUNDARY,
	 2,
	 1,
	 3,
	 5,
	 16 * MB,
	 {"000000010000000000000003", "000000020000000000000004", "000000020000000000000005"},
	 {"000000010000000000000003", "000000020000000000000004", "000000020000000000000005"},
	 2,
	 5,
	 false,
	 "000000020000000000000006"},
	{"a start in the switch segment, on the old timeline",
	 SWITCH_1_2,
	 2,
	 1,
	 4,
	 5,
	 16 * MB,
	 {"000000020000000000000004", "000000020000000000000005"},
	 {"000000020000000000000004", "000000020000000000000005"},
	 2,
	 5,
	 false,
	 "000000020000000000000006"},
	{"a switch just happened: the old timeline's copy of the switch segment is the end",
	 SWITCH_1_2,
	 2,
	 1,
	 2,
	 4,
	 16 * MB,
	 {"000000010000000000000002", "000000010000000000000003", "000000010000000000000004"},
	 {"000000010000000000000002", "000000010000000000000003", "000000020000000000000004",
	  "000000010000000000000004"},
	 1,
	 4,
	 false,
	 "000000020000000000000004"},
	{"the new timeline's first segment missing while later WAL is held: a gap",
	 SWITCH_1_2,
	 2,
	 1,
	 2,
	 5,
	 16 * MB,
	 {"000000010000000000000002", "000000010000000000000003", "000000010000000000000004",
	  "000000020000000000000005"},
	 {"000000010000000000000002", "000000010000000000000003", "000000020000000000000004"},
	 1,
	 3,
	 true,
	 "000000020000000000000004"},
	{"the walk ends before the switch: missing names the old timeline",
	 SWITCH_1_2,
	 2,
	 1,
	 2,
	 3,
	 16 * MB,
	 {"000000010000000000000002", "000000010000000000000003"},
	 {"000000010000000000000002", "000000010000000000000003"},
	 1,
	 3,
	 false,
	 "000000020000000000000004"},
	{"two switches",
	 SWITCHES_1_2_3,
	 3,
	 1,
	 1,
	 7,
	 16 * MB,
	 {"000000010000000000000001", "000000010000000000000002", "000000010000000000000003",
	  "000000020000000000000003", "000000020000000000000004", "000000020000000000000005",
	  "000000030000000000000005", "000000030000000000000006", "000000030000000000000007"},
	 {"000000010000000000000001", "000000010000000000000002", "000000020000000000000003",
	  "000000020000000000000004", "000000030000000000000005", "000000030000000000000006",
	  "000000030000000000000007"},
	 3,
	 7,
	 false,
	 "000000030000000000000008"},
	{"two switches, a gap on the middle timeline",
	 SWITCHES_1_2_3,
	 3,
	 1,
	 1,
	 7,
	 16 * MB,
	 {"000000010000000000000001", "000000010000000000000002", "000000020000000000000003",
	  "000000010000000000000004", "000000030000000000000005", "000000030000000000000006",
	  "000000030000000000000007"},
	 {"000000010000000000000001", "000000010000000000000002", "000000020000000000000003",
	  "000000020000000000000004"},
	 2,
	 3,
	 true,
	 "000000020000000000000004"},
	{"two switches in one segment: the middle timeline is never read",
	 SWITCHES_IN_ONE_SEGMENT,
	 3,
	 1,
	 2,
	 4,
	 16 * MB,
	 {"000000010000000000000002", "000000020000000000000003", "000000030000000000000003",
	  "000000030000000000000004"},
	 {"000000010000000000000002", "000000030000000000000003", "000000030000000000000004"},
	 3,
	 4,
	 false,
	 "000000030000000000000005"},
	{"a start on an ancestor, the middle timeline",
	 SWITCHES_1_2_3,
	 3,
	 2,
	 4,
	 6,
	 16 * MB,
	 {"000000020000000000000004", "000000030000000000000005", "000000030000000000000006"},
	 {"000000020000000000000004", "000000030000000000000005", "000000030000000000000006"},
	 3,
	 6,
	 false,
	 "000000030000000000000007"},
	{"a start on an ancestor in the segment where it began",
	 SWITCHES_1_2_3,
	 3,
	 2,
	 3,
	 3,
	 16 * MB,
	 {"000000020000000000000003"},
	 {"000000020000000000000003"},
	 2,
	 3,
	 false,
	 "000000020000000000000004"},
	{"a start on the target after its switches",
	 SWITCHES_1_2_3,
	 3,
	 3,
	 6,
	 7,
	 16 * MB,
	 {"000000030000000000000006"},
	 {"000000030000000000000006", "000000030000000000000007"},
	 3,
	 6,
	 true,
	 "000000030000000000000007"},
	{"a switch at 1 MB",
	 "1\t0/1234567\tr\n",
	 2,
	 1,
	 0x10,
	 0x13,
	 MB,
	 {"000000010000000000000010", "000000010000000000000011", "000000020000000000000012",
	  "000000020000000000000013"},
	 {"000000010000000000000010", "000000010000000000000011", "000000020000000000000012",
	  "000000020000000000000013"},
	 2,
	 0x13,
	 false,
	 "000000020000000000000014"},
	{"a switch at 64 MB, across a log",
	 "1\t1/0\tr\n",
	 2,
	 1,
	 0x3F,
	 0x41,
	 64 * MB,
	 {"00000001000000000000003F", "000000020000000100000000", "000000020000000100000001"},
	 {"00000001000000000000003F", "000000020000000100000000", "000000020000000100000001"},
	 2,
	 0x41,
	 false,
	 "000000020000000100000002"},
	{"a switch at 1 GB",
	 "1\t0/C0000000\tr\n",
	 2,
	 1,
	 2,
	 3,
	 GB,
	 {"000000010000000000000002", "000000010000000000000003", "000000020000000000000003"},
	 {"000000010000000000000002", "000000020000000000000003"},
	 2,
	 3,
	 false,
	 "000000020000000100000000"},
};

static void test_walk_rows(void)
{
	for (unsigned i = 0; i < ROWS(walk_rows); i++) {
		const struct walk_row *r = &walk_rows[i];
		wal_history_entry h[WAL_HISTORY_MAX];
		int n = 0;
		CU_ASSERT_EQUAL_FATAL(parse_text(r->history, h, WAL_HISTORY_MAX, &n, NULL), 0);
		fake_archive a = {r->held, r->seg_size, {{0}}, 0};
		wal_walk w;
		fl_err err = {0};
		int rc = wal_walk_chain(h, n, r->target, r->start_tli, r->start_segno, r->last_segno, r->seg_size,
					fake_have, &a, &w, &err);
		if (rc != 0)
			fprintf(stderr, "walk \"%s\": %s\n", r->what, err.msg);
		CU_ASSERT_EQUAL_FATAL(rc, 0);
		int n_asked = 0;
		while (n_asked < ASKED_MAX && r->asked[n_asked])
			n_asked++;
		bool asked_ok = a.n_asked == n_asked;
		for (int k = 0; asked_ok && k < n_asked; k++)
			asked_ok = strcmp(a.asked[k], r->asked[k]) == 0;
		bool ok = asked_ok && w.end_tli == r->end_tli && w.end_segno == r->end_segno && w.gap == r->gap &&
			  strcmp(w.missing, r->missing) == 0;
		if (!ok) {
			fprintf(stderr, "walk \"%s\": end %" PRIu32 "/%" PRIX64 " gap %d missing %s; asked", r->what,
				w.end_tli, w.end_segno, w.gap, w.missing);
			for (int k = 0; k < a.n_asked && k < ASKED_MAX; k++)
				fprintf(stderr, " %s", a.asked[k]);
			fprintf(stderr, "\n");
		}
		CU_ASSERT(asked_ok);
		CU_ASSERT_EQUAL(w.end_tli, r->end_tli);
		CU_ASSERT_EQUAL(w.end_segno, r->end_segno);
		CU_ASSERT_EQUAL(w.gap, r->gap);
		CU_ASSERT_STRING_EQUAL(w.missing, r->missing);
	}
}

static void test_walk_from_segment_0_with_nothing_found(void)
{
	const char *held[HELD_MAX] = {NULL};
	fake_archive a = {held, 16 * MB, {{0}}, 0};
	wal_walk w;
	CU_ASSERT_EQUAL(wal_walk_chain(NULL, 0, 1, 1, 0, 3, 16 * MB, fake_have, &a, &w, NULL), 0);
	CU_ASSERT_EQUAL(a.n_asked, 1);
	CU_ASSERT_EQUAL(w.end_tli, 1);
	CU_ASSERT_EQUAL(w.end_segno, UINT64_MAX); /* the start segment - 1, modulo 2^64 */
	CU_ASSERT_TRUE(w.gap);
	CU_ASSERT_STRING_EQUAL(w.missing, "000000010000000000000000");
}

static void test_walk_asks_each_segment_once_up_to_the_last(void)
{
	long calls = 0;
	wal_walk w;
	wal_history_entry h[] = {{1, 0x40000000}, {2, 0x80000028}};
	CU_ASSERT_EQUAL(wal_walk_chain(h, 2, 3, 1, 0, 999, 16 * MB, always_have, &calls, &w, NULL), 0);
	CU_ASSERT_EQUAL(calls, 1000);
	CU_ASSERT_EQUAL(w.end_tli, 3);
	CU_ASSERT_EQUAL(w.end_segno, 999);
	CU_ASSERT_FALSE(w.gap);
	CU_ASSERT_STRING_EQUAL(w.missing, "0000000300000003000000E8");
	/* The last segment the LSN space allows before its very end. */
	uint64_t last = UINT64_MAX / GB - 1;
	calls = 0;
	CU_ASSERT_EQUAL(wal_walk_chain(NULL, 0, 1, 1, last - 2, last, GB, always_have, &calls, &w, NULL), 0);
	CU_ASSERT_EQUAL(calls, 3);
	CU_ASSERT_EQUAL(w.end_segno, last);
	CU_ASSERT_STRING_EQUAL(w.missing, "00000001FFFFFFFF00000003");
}

static const wal_history_entry hist_1_2[] = {{1, 0x3000100}, {2, 0x5000200}};

static const struct walk_error_row {
	const char *what;
	const wal_history_entry *hist;
	int n;
	uint32_t target, start_tli;
	uint64_t start_segno, last_segno, seg_size;
	fl_code code;
	const char *msg;
} walk_error_rows[] = {
	{"start after its timeline ended", hist_1_2, 2, 3, 1, 4, 7, 16 * MB, FL_ERR_CONFIG,
	 "wal chain: start segment 000000010000000000000004 lies past 0/3000100, where timeline 1 ended and timeline 2 "
	 "branched off\nHINT: "},
	{"start after the middle timeline ended", hist_1_2, 2, 3, 2, 6, 7, 16 * MB, FL_ERR_CONFIG,
	 "start segment 000000020000000000000006 lies past 0/5000200, where timeline 2 ended"},
	{"start in the segment beginning at the switch", (const wal_history_entry[]){{1, 0x4000000}}, 1, 2, 1, 4, 7,
	 16 * MB, FL_ERR_CONFIG, "start segment 000000010000000000000004 lies past 0/4000000"},
	{"start before its timeline began", hist_1_2, 2, 3, 2, 2, 7, 16 * MB, FL_ERR_CONFIG,
	 "wal chain: start segment 000000020000000000000002 lies before timeline 2 began at 0/3000100"},
	{"start before the target began", hist_1_2, 2, 3, 3, 4, 7, 16 * MB, FL_ERR_CONFIG,
	 "start segment 000000030000000000000004 lies before timeline 3 began at 0/5000200"},
	{"start timeline unrelated", hist_1_2, 2, 3, 5, 4, 7, 16 * MB, FL_ERR_CONFIG,
	 "wal chain: start timeline 5 is neither the target timeline 3 nor one of its 2 ancestors"},
	{"start timeline newer than a target without history", NULL, 0, 1, 2, 4, 7, 16 * MB, FL_ERR_CONFIG,
	 "start timeline 2 is neither the target timeline 1 nor one of its 0 ancestors"},
	{"start timeline a sibling", (const wal_history_entry[]){{1, 0x3000100}, {3, 0x5000200}}, 2, 4, 2, 4, 7,
	 16 * MB, FL_ERR_CONFIG, "start timeline 2 is neither"},
	{"target 0", NULL, 0, 0, 1, 1, 7, 16 * MB, FL_ERR_CONFIG, "target timeline 0 is not newer than 0"},
	{"target not newer than its history", hist_1_2, 2, 2, 1, 1, 7, 16 * MB, FL_ERR_CONFIG,
	 "target timeline 2 is not newer than 2, the last timeline of its history"},
	{"history timelines not increasing", (const wal_history_entry[]){{2, 0x3000000}, {1, 0x4000000}}, 2, 3, 1, 1, 7,
	 16 * MB, FL_ERR_CONFIG, "wal chain: entry 2 of the history of timeline 3: timeline 1 after timeline 2"},
	{"history switch points going back", (const wal_history_entry[]){{1, 0x5000000}, {2, 0x4000000}}, 2, 3, 1, 1, 7,
	 16 * MB, FL_ERR_CONFIG,
	 "entry 2 of the history of timeline 3: timeline 2 ends at 0/4000000, before 0/5000000"},
	{"history timeline 0", (const wal_history_entry[]){{0, 0x5000000}}, 1, 3, 1, 1, 7, 16 * MB, FL_ERR_CONFIG,
	 "wal chain: timeline 0 in the history of timeline 3"},
	{"segment size", NULL, 0, 1, 1, 1, 7, 3 * MB, FL_ERR_CONFIG,
	 "wal chain: segment size 3145728 is not a power of two"},
	{"last segment at the end of the LSN space", NULL, 0, 1, 1, 1, UINT64_MAX / (16 * MB), 16 * MB, FL_ERR_CONFIG,
	 "segment 1099511627775 is at the end of the LSN space"},
	{"start segment at the end of the LSN space", NULL, 0, 1, 1, UINT64_MAX, 7, 16 * MB, FL_ERR_CONFIG,
	 "segment 18446744073709551615 is at the end"},
	{"a history of -1 entries", hist_1_2, -1, 3, 1, 1, 7, 16 * MB, FL_ERR_INTERNAL, "a history of -1 entries"},
	{"entries without a history", NULL, 2, 3, 1, 1, 7, 16 * MB, FL_ERR_INTERNAL, "a history of 2 entries"},
};

static void test_walk_refuses_starts_off_the_chain(void)
{
	for (unsigned i = 0; i < ROWS(walk_error_rows); i++) {
		const struct walk_error_row *r = &walk_error_rows[i];
		const char *held[HELD_MAX] = {"000000010000000000000001"};
		fake_archive a = {held, 16 * MB, {{0}}, 0};
		wal_walk w;
		fl_err err = {0};
		CU_ASSERT_EQUAL(wal_walk_chain(r->hist, r->n, r->target, r->start_tli, r->start_segno, r->last_segno,
					       r->seg_size, fake_have, &a, &w, &err),
				-1);
		CU_ASSERT_EQUAL(a.n_asked, 0);
		CU_ASSERT_EQUAL(err.code, r->code);
		if (strstr(err.msg, r->msg) == NULL)
			fprintf(stderr, "walk error \"%s\": \"%s\", expected \"%s\"\n", r->what, err.msg, r->msg);
		CU_ASSERT_PTR_NOT_NULL(strstr(err.msg, r->msg));
		CU_ASSERT_EQUAL(wal_walk_chain(r->hist, r->n, r->target, r->start_tli, r->start_segno, r->last_segno,
					       r->seg_size, fake_have, &a, &w, NULL),
				-1);
	}
}

static void test_walk_without_an_archive_or_a_result(void)
{
	wal_walk w;
	fl_err err = {0};
	long calls = 0;
	CU_ASSERT_EQUAL(wal_walk_chain(NULL, 0, 1, 1, 1, 3, 16 * MB, NULL, NULL, &w, &err), -1);
	CU_ASSERT_EQUAL(err.code, FL_ERR_INTERNAL);
	CU_ASSERT_EQUAL(wal_walk_chain(NULL, 0, 1, 1, 1, 3, 16 * MB, always_have, &calls, NULL, &err), -1);
	CU_ASSERT_EQUAL(err.code, FL_ERR_INTERNAL);
	CU_ASSERT_EQUAL(calls, 0);
}

void suite_register(void)
{
	CU_pSuite s = CU_add_suite("walname", NULL, NULL);
	CU_add_test(s, "seg sizes are powers of two from 1 MB to 1 GB",
		    test_seg_sizes_are_powers_of_two_from_1mb_to_1gb);
	CU_add_test(s, "names accepted", test_names_accepted);
	CU_add_test(s, "names refused with why", test_names_refused_with_why);
	CU_add_test(s, "each position takes only uppercase hex", test_each_position_takes_only_uppercase_hex);
	CU_add_test(s, "segment names as PostgreSQL prints them", test_segment_names_as_postgresql_prints_them);
	CU_add_test(s, "segment names round trip at every size", test_segment_names_round_trip_at_every_size);
	CU_add_test(s, "segno of an LSN", test_segno_of_an_lsn);
	CU_add_test(s, "history as PostgreSQL writes it", test_history_as_postgresql_writes_it);
	CU_add_test(s, "history comments, blanks and free reasons", test_history_comments_blanks_and_free_reasons);
	CU_add_test(s, "history malformed lines", test_history_malformed_lines);
	CU_add_test(s, "history timelines must increase and switch points not go back",
		    test_history_timelines_must_increase_and_switch_points_not_go_back);
	CU_add_test(s, "history more entries than max", test_history_more_entries_than_max);
	CU_add_test(s, "walk rows", test_walk_rows);
	CU_add_test(s, "walk from segment 0 with nothing found", test_walk_from_segment_0_with_nothing_found);
	CU_add_test(s, "walk asks each segment once up to the last", test_walk_asks_each_segment_once_up_to_the_last);
	CU_add_test(s, "walk refuses starts off the chain", test_walk_refuses_starts_off_the_chain);
	CU_add_test(s, "walk without an archive or a result", test_walk_without_an_archive_or_a_result);
}
