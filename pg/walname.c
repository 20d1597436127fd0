/*
 * walname: the names PostgreSQL gives its archived files, the timeline
 * history files' contents, and the walk that checks an archive's segments
 * along a timeline's history. Names and histories arrive from the network,
 * so each is checked whole: exact length, exact suffix, uppercase hex
 * digits where PostgreSQL writes them, every part in range.
 */
#include "walname.h"

#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "cluster/lsn.h"

/* The WAL one "log" (the middle 8 digits of a segment name) spans. */
#define WAL_LOG_SPAN 0x100000000ULL
#define WAL_SEG_SIZE_MIN (1ULL << 20)
#define WAL_SEG_SIZE_MAX (1ULL << 30)

bool wal_seg_size_valid(uint64_t seg_size)
{
	return seg_size >= WAL_SEG_SIZE_MIN && seg_size <= WAL_SEG_SIZE_MAX && (seg_size & (seg_size - 1)) == 0;
}

uint64_t wal_segno(uint64_t lsn, uint64_t seg_size)
{
	if (!wal_seg_size_valid(seg_size))
		return 0;
	return lsn / seg_size;
}

void wal_segment_name(uint32_t tli, uint64_t segno, uint64_t seg_size, char buf[25])
{
	if (!wal_seg_size_valid(seg_size)) {
		buf[0] = '\0';
		return;
	}
	uint64_t per_log = WAL_LOG_SPAN / seg_size;
	snprintf(buf, 25, "%08" PRIX32 "%08" PRIX32 "%08" PRIX32, tli, (uint32_t)(segno / per_log),
		 (uint32_t)(segno % per_log));
}

/*
 * The shapes of the names PostgreSQL archives: 'X' stands for an uppercase
 * hex digit, any other character for itself. Their lengths differ, so the
 * length picks the shape.
 */
static const struct {
	wal_kind kind;
	const char *pattern;
} shapes[] = {
	{WAL_SEGMENT, "XXXXXXXXXXXXXXXXXXXXXXXX"},
	{WAL_HISTORY, "XXXXXXXX.history"},
	{WAL_PARTIAL, "XXXXXXXXXXXXXXXXXXXXXXXX.partial"},
	{WAL_BACKUP, "XXXXXXXXXXXXXXXXXXXXXXXX.XXXXXXXX.backup"},
};
#define N_SHAPES (sizeof shapes / sizeof shapes[0])

static bool is_upper_hex(char c) { return (c >= '0' && c <= '9') || (c >= 'A' && c <= 'F'); }

static uint32_t hex8(const char *p)
{
	uint32_t v = 0;
	for (int i = 0; i < 8; i++)
		v = v << 4 | (uint32_t)(p[i] <= '9' ? p[i] - '0' : p[i] - 'A' + 10);
	return v;
}

static wal_kind refuse(wal_name *out, const char **why, const char *reason)
{
	if (out)
		*out = (wal_name){WAL_NONE, 0, 0, 0};
	if (why)
		*why = reason;
	return WAL_NONE;
}

/* Why name (len characters) does not fit pattern; NULL when it does. */
static const char *shape_refusal(const char *name, const char *pattern)
{
	bool lowercase = false;
	for (size_t i = 0; pattern[i]; i++) {
		char c = name[i];
		if (pattern[i] != 'X') {
			if (c != pattern[i])
				return "not a WAL file name";
		} else if (c >= 'a' && c <= 'f') {
			lowercase = true;
		} else if (!is_upper_hex(c)) {
			return "not a WAL file name";
		}
	}
	/* Only once the rest fits: "0000000a.history" is a history name misspelt, "x.historx" is not. */
	return lowercase ? "lowercase hex digit (PostgreSQL writes uppercase)" : NULL;
}

/* The reason a name can be refused before its shape is looked at; NULL when none. */
static const char *early_refusal(const char *name, size_t len)
{
	if (len == 0)
		return "empty name";
	if (len >= WAL_NAME_MAX)
		return "longer than any WAL file name";
	if (memchr(name, '/', len))
		return "holds a '/' (a path, not a file name)";
	if (strcmp(name, ".") == 0 || strcmp(name, "..") == 0)
		return "a directory entry, not a WAL file name";
	return NULL;
}

wal_kind wal_name_parse(const char *name, uint64_t seg_size, wal_name *out, const char **why)
{
	if (name == NULL)
		return refuse(out, why, "no name");
	if (!wal_seg_size_valid(seg_size))
		return refuse(out, why, "segment size is not a power of two from 1 MB to 1 GB");
	/* Bounded: the name came from the network and need not end soon. */
	size_t len = 0;
	while (len < WAL_NAME_MAX && name[len] != '\0')
		len++;
	const char *early = early_refusal(name, len);
	if (early)
		return refuse(out, why, early);
	size_t s = 0;
	while (s < N_SHAPES && strlen(shapes[s].pattern) != len)
		s++;
	if (s == N_SHAPES)
		return refuse(out, why, "not a WAL file name");
	const char *bad_shape = shape_refusal(name, shapes[s].pattern);
	if (bad_shape)
		return refuse(out, why, bad_shape);

	wal_name w = {shapes[s].kind, hex8(name), 0, 0};
	if (w.timeline == 0)
		return refuse(out, why, "timeline 0");
	if (w.kind != WAL_HISTORY) {
		uint64_t per_log = WAL_LOG_SPAN / seg_size;
		uint32_t seg = hex8(name + 16);
		if (seg >= per_log)
			return refuse(out, why, "segment part beyond the last segment of a log at this segment size");
		w.segno = (uint64_t)hex8(name + 8) * per_log + seg;
	}
	if (w.kind == WAL_BACKUP) {
		w.offset = hex8(name + 25);
		if (w.offset >= seg_size)
			return refuse(out, why, "backup offset beyond the segment size");
	}
	if (out)
		*out = w;
	if (why)
		*why = NULL;
	return w.kind;
}

/* History files */

static bool is_space(char c) { return c == ' ' || c == '\t' || c == '\r' || c == '\v' || c == '\f'; }

static bool is_hex(char c) { return is_upper_hex(c) || (c >= 'a' && c <= 'f'); }

static size_t skip_space(const char *p, size_t len, size_t i)
{
	while (i < len && is_space(p[i]))
		i++;
	return i;
}

/* "X/X" (1 to 8 hex digits each side, as %X/%X prints) of len characters at p into lsn. */
static bool lsn_token(const char *p, size_t len, uint64_t *lsn)
{
	const char *slash = memchr(p, '/', len);
	if (slash == NULL)
		return false;
	size_t hi = (size_t)(slash - p), lo = len - hi - 1;
	if (hi < 1 || hi > 8 || lo < 1 || lo > 8)
		return false;
	for (size_t i = 0; i < len; i++)
		if (i != hi && !is_hex(p[i]))
			return false;
	/* lsn_parse's sscanf would also take signs, "0x" and spaces: the digits are checked above. */
	char text[18];
	memcpy(text, p, len);
	text[len] = '\0';
	return lsn_parse(text, lsn) == 0;
}

/*
 * One line of a history file (len characters at p, no newline): 1 with e
 * filled for an entry, 0 for a blank or comment line, -1 with why for
 * anything else. The reason after the switch point is free text.
 */
static int history_line(const char *p, size_t len, wal_history_entry *e, const char **why)
{
	if (memchr(p, '\0', len)) {
		*why = "a NUL byte";
		return -1;
	}
	size_t i = skip_space(p, len, 0);
	if (i == len || p[i] == '#')
		return 0;
	uint64_t tli = 0;
	size_t digits = i;
	for (; i < len && p[i] >= '0' && p[i] <= '9'; i++) {
		tli = tli * 10 + (uint64_t)(p[i] - '0');
		if (tli > UINT32_MAX) {
			*why = "a timeline beyond 32 bits";
			return -1;
		}
	}
	if (i == digits) {
		*why = "no parent timeline (a decimal number) first";
		return -1;
	}
	if (tli == 0) {
		*why = "timeline 0";
		return -1;
	}
	size_t after = i;
	i = skip_space(p, len, i);
	if (i == after || i == len) {
		*why = "no switch point (a tab and X/X) after the timeline";
		return -1;
	}
	size_t token = i;
	while (i < len && !is_space(p[i]))
		i++;
	if (!lsn_token(p + token, i - token, &e->end)) {
		*why = "a switch point that is not an LSN (X/X)";
		return -1;
	}
	e->timeline = (uint32_t)tli;
	return 1;
}

/* The start of a line for a message: printable ASCII, at most 40 characters. */
static void line_excerpt(const char *p, size_t len, char out[48])
{
	size_t n = len > 40 ? 40 : len, j = 0;
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)p[i];
		out[j++] = c == '\t' ? ' ' : (c < 0x20 || c >= 0x7f) ? '?' : (char)c;
	}
	if (len > n)
		for (int k = 0; k < 3; k++)
			out[j++] = '.';
	out[j] = '\0';
}

/*
 * Whether entry e may follow prev (the previous entry; NULL for the
 * first), else the error, which starts with where (the line or entry).
 */
static int history_follows(const wal_history_entry *prev, const wal_history_entry *e, const char *where, fl_err *err)
{
	if (prev == NULL)
		return 0;
	char a[32], b[32];
	if (e->timeline <= prev->timeline)
		return fl_fail(err, FL_ERR_CONFIG,
			       "%s: timeline %" PRIu32 " after timeline %" PRIu32 " (timelines must increase)", where,
			       e->timeline, prev->timeline);
	if (e->end < prev->end) {
		lsn_format(e->end, a, sizeof a);
		lsn_format(prev->end, b, sizeof b);
		return fl_fail(err, FL_ERR_CONFIG,
			       "%s: timeline %" PRIu32 " ends at %s, before %s where timeline %" PRIu32
			       " ended (switch points must not go back)",
			       where, e->timeline, a, b, prev->timeline);
	}
	return 0;
}

int wal_history_parse(const char *text, size_t len, wal_history_entry *out, int max, int *n, fl_err *err)
{
	*n = 0;
	int count = 0, lineno = 0;
	for (size_t pos = 0; pos < len;) {
		const char *line = text + pos;
		const char *nl = memchr(line, '\n', len - pos);
		size_t line_len = nl ? (size_t)(nl - line) : len - pos;
		pos += line_len + 1;
		lineno++;
		wal_history_entry e;
		const char *why = NULL;
		int r = history_line(line, line_len, &e, &why);
		if (r == 0)
			continue;
		if (r < 0) {
			char excerpt[48];
			line_excerpt(line, line_len, excerpt);
			return fl_fail(err, FL_ERR_CONFIG, "timeline history: line %d: %s in \"%s\"", lineno, why,
				       excerpt);
		}
		if (count >= max)
			return fl_fail(err, FL_ERR_CONFIG, "timeline history: line %d: more than %d entries", lineno,
				       max < 0 ? 0 : max);
		char where[48];
		snprintf(where, sizeof where, "timeline history: line %d", lineno);
		if (history_follows(count ? &out[count - 1] : NULL, &e, where, err) < 0)
			return -1;
		out[count++] = e;
	}
	*n = count;
	return 0;
}

/* The walk */

/*
 * The chain of timelines a recovery to the target follows: entries 0 to
 * n - 1 are the history's, entry n the target itself, which never ends.
 */
typedef struct chain {
	const wal_history_entry *hist;
	int n;
	uint32_t target;
	uint64_t seg_size;
} chain;

static uint32_t chain_tli(const chain *c, int i) { return i < c->n ? c->hist[i].timeline : c->target; }

/* Where timeline i began: where its predecessor ended, 0 for the first. */
static uint64_t chain_begin(const chain *c, int i) { return i == 0 ? 0 : c->hist[i - 1].end; }

/* The newest timeline from i on that had begun by segment s (the begins never go back). */
static int chain_advance(const chain *c, int i, uint64_t s)
{
	while (i < c->n && wal_segno(chain_begin(c, i + 1), c->seg_size) <= s)
		i++;
	return i;
}

static int chain_check(const chain *c, fl_err *err)
{
	for (int i = 0; i < c->n; i++) {
		if (c->hist[i].timeline == 0)
			return fl_fail(err, FL_ERR_CONFIG, "wal chain: timeline 0 in the history of timeline %" PRIu32,
				       c->target);
		char where[64];
		snprintf(where, sizeof where, "wal chain: entry %d of the history of timeline %" PRIu32, i + 1,
			 c->target);
		if (history_follows(i > 0 ? &c->hist[i - 1] : NULL, &c->hist[i], where, err) < 0)
			return -1;
	}
	uint32_t last = c->n > 0 ? c->hist[c->n - 1].timeline : 0;
	if (c->target <= last)
		return fl_fail(err, FL_ERR_CONFIG,
			       "wal chain: target timeline %" PRIu32 " is not newer than %" PRIu32
			       ", the last timeline of its history",
			       c->target, last);
	return 0;
}

/* Where start_tli sits in the chain, or the error. */
static int chain_find(const chain *c, uint32_t start_tli, fl_err *err)
{
	for (int i = 0; i <= c->n; i++)
		if (chain_tli(c, i) == start_tli)
			return i;
	return fl_fail(err, FL_ERR_CONFIG,
		       "wal chain: start timeline %" PRIu32 " is neither the target timeline %" PRIu32
		       " nor one of its %d ancestors\n"
		       "HINT: the backup lies on another branch; recover it to its own timeline",
		       start_tli, c->target, c->n);
}

/* Whether segment start_segno lies on timeline i: from the segment where it began to before its end. */
static int chain_start_check(const chain *c, int i, uint64_t start_segno, fl_err *err)
{
	uint32_t tli = chain_tli(c, i);
	char name[25], lsn[32];
	wal_segment_name(tli, start_segno, c->seg_size, name);
	uint64_t begin = chain_begin(c, i);
	if (start_segno < wal_segno(begin, c->seg_size)) {
		lsn_format(begin, lsn, sizeof lsn);
		return fl_fail(err, FL_ERR_CONFIG,
			       "wal chain: start segment %s lies before timeline %" PRIu32 " began at %s", name, tli,
			       lsn);
	}
	/* A start in the segment holding the switch point is fine: recovery reads that segment from the new timeline. */
	if (i < c->n && start_segno * c->seg_size >= c->hist[i].end) {
		lsn_format(c->hist[i].end, lsn, sizeof lsn);
		return fl_fail(err, FL_ERR_CONFIG,
			       "wal chain: start segment %s lies past %s, where timeline %" PRIu32
			       " ended and timeline %" PRIu32 " branched off\n"
			       "HINT: the backup was taken on timeline %" PRIu32 " after the branch timeline %" PRIu32
			       " follows; recover it to its own timeline",
			       name, lsn, tli, chain_tli(c, i + 1), tli, c->target);
	}
	return 0;
}

static int walk_check(const chain *c, uint64_t start_segno, uint64_t last_segno, fl_err *err)
{
	if (!wal_seg_size_valid(c->seg_size))
		return fl_fail(err, FL_ERR_CONFIG,
			       "wal chain: segment size %" PRIu64 " is not a power of two from 1 MB to 1 GB",
			       c->seg_size);
	if (c->n < 0 || (c->n > 0 && c->hist == NULL))
		return fl_fail(err, FL_ERR_INTERNAL, "wal chain: a history of %d entries", c->n);
	/* The last segment of the LSN space stays out, so that the one after last_segno has a name. */
	uint64_t end = UINT64_MAX / c->seg_size;
	if (start_segno >= end || last_segno >= end)
		return fl_fail(err, FL_ERR_CONFIG,
			       "wal chain: segment %" PRIu64 " is at the end of the LSN space (segments below %" PRIu64
			       ")",
			       start_segno >= end ? start_segno : last_segno, end);
	return chain_check(c, err);
}

int wal_walk_chain(const wal_history_entry *hist, int n, uint32_t target_tli, uint32_t start_tli, uint64_t start_segno,
		   uint64_t last_segno, uint64_t seg_size, wal_have_fn have, void *arg, wal_walk *out, fl_err *err)
{
	if (have == NULL || out == NULL)
		return fl_fail(err, FL_ERR_INTERNAL, "wal chain: no archive to ask or no result to fill");
	*out = (wal_walk){0};
	chain c = {hist, n, target_tli, seg_size};
	if (walk_check(&c, start_segno, last_segno, err) < 0)
		return -1;
	int i = chain_find(&c, start_tli, err);
	if (i < 0 || chain_start_check(&c, i, start_segno, err) < 0)
		return -1;

	out->end_tli = start_tli;
	out->end_segno = start_segno - 1;
	uint64_t s = start_segno;
	for (; s <= last_segno; s++) {
		i = chain_advance(&c, i, s);
		if (!have(arg, chain_tli(&c, i), s))
			break;
		out->end_tli = chain_tli(&c, i);
		out->end_segno = s;
	}
	i = chain_advance(&c, i, s);
	wal_segment_name(chain_tli(&c, i), s, seg_size, out->missing);
	out->gap = s <= last_segno;
	/*
	 * The newest segment held is an older timeline's copy of the segment where the new one began, whose own
	 * copy is still being written (a switchover or failover just happened): recovery reads that copy up to
	 * the switch point and stops there. That is the end, not a gap.
	 */
	for (int k = i - 1; out->gap && s == last_segno && k >= 0 && wal_segno(chain_begin(&c, k + 1), seg_size) == s;
	     k--) {
		if (have(arg, chain_tli(&c, k), s)) {
			out->end_tli = chain_tli(&c, k);
			out->end_segno = s;
			out->gap = false;
		}
	}
	return 0;
}
