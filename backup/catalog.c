/*
 * catalog: backup.json read and written with jansson, labels, and the pure
 * decisions on the sorted list of backups (retention, the WAL horizon, the
 * backup a restore starts from). A backup.json is read as untrusted: every
 * key is required, checked for its type and range, and a string that does
 * not fit its buffer is refused rather than cut; keys this version does not
 * know are ignored, and a "format" it does not know refuses the whole file.
 */
#include "catalog.h"

#include "cluster/lsn.h"

#include <inttypes.h>
#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* Unix times a label can spell: 0000-01-01T00:00:00Z up to 9999-12-31T23:59:59Z. */
#define TIME_FIRST_LABEL (-62167219200.0)
#define TIME_PAST_LABEL 253402300800.0

#define WAL_SEG_MIN (1ULL << 20)
#define WAL_SEG_MAX (1ULL << 30)
#define LSN_TEXT 24

static bool leap_year(int y) { return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0; }

static int days_in_month(int y, int m)
{
	static const int days[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
	return m == 2 && leap_year(y) ? 29 : days[m - 1];
}

/* Time t split into its UTC fields; false when no label can spell it. */
static bool utc_fields(double t, struct tm *tm)
{
	if (!(t >= TIME_FIRST_LABEL && t < TIME_PAST_LABEL))
		return false;
	time_t s = (time_t)floor(t);
	return gmtime_r(&s, tm) != NULL;
}

void catalog_label_make(double t, char buf[CATALOG_LABEL_MAX])
{
	struct tm tm;
	char text[80];
	buf[0] = '\0';
	if (!utc_fields(t, &tm))
		return;
	int n = snprintf(text, sizeof text, "%04d%02d%02dT%02d%02d%02dZ", tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday,
			 tm.tm_hour, tm.tm_min, tm.tm_sec);
	if (n > 0 && n < CATALOG_LABEL_MAX)
		memcpy(buf, text, (size_t)n + 1);
}

/* The n digits at s as a number; -1 when one of them is not a digit. */
static int digits(const char *s, int n)
{
	int v = 0;
	for (int i = 0; i < n; i++) {
		if (s[i] < '0' || s[i] > '9')
			return -1;
		v = v * 10 + (s[i] - '0');
	}
	return v;
}

bool catalog_label_valid(const char *label)
{
	if (label == NULL || strlen(label) != 16 || label[8] != 'T' || label[15] != 'Z')
		return false;
	int year = digits(label, 4), month = digits(label + 4, 2), day = digits(label + 6, 2);
	int hour = digits(label + 9, 2), min = digits(label + 11, 2), sec = digits(label + 13, 2);
	if (year < 0 || month < 1 || month > 12 || day < 1 || hour < 0 || min < 0 || sec < 0)
		return false;
	return day <= days_in_month(year, month) && hour < 24 && min < 60 && sec < 60;
}

/* "2026-12-06 10:00:00 UTC", or the bare number for a time no calendar of ours holds. */
static void utc_format(double t, char *buf, size_t len)
{
	struct tm tm;
	if (!utc_fields(t, &tm)) {
		snprintf(buf, len, "unix time %.17g", t);
		return;
	}
	snprintf(buf, len, "%04d-%02d-%02d %02d:%02d:%02d UTC", tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday,
		 tm.tm_hour, tm.tm_min, tm.tm_sec);
}

char *catalog_record_json(const backup_record *r)
{
	char start_lsn[LSN_TEXT], stop_lsn[LSN_TEXT], system_id[24];
	lsn_format(r->start_lsn, start_lsn, sizeof start_lsn);
	lsn_format(r->stop_lsn, stop_lsn, sizeof stop_lsn);
	snprintf(system_id, sizeof system_id, "%" PRIu64, r->system_id);
	json_t *o = json_pack("{s:i, s:s, s:s, s:s, s:I, s:s, s:s, s:f, s:f, s:I, s:I, s:s, s:b, s:i, s:s, s:I}",
			      "format", CATALOG_FORMAT, "label", r->label, "source", r->source, "source_role",
			      r->source_role, "timeline", (json_int_t)r->timeline, "start_lsn", start_lsn, "stop_lsn",
			      stop_lsn, "start_time", r->start_time, "stop_time", r->stop_time, "size",
			      (json_int_t)r->size, "data_size", (json_int_t)r->data_size, "compression", r->compression,
			      "encrypted", r->encrypted, "pg_version", r->pg_version, "system_id", system_id,
			      "wal_seg_size", (json_int_t)r->wal_seg_size);
	if (o == NULL)
		return NULL;
	char *text = json_dumps(o, JSON_INDENT(2) | JSON_SORT_KEYS);
	json_decref(o);
	if (text == NULL)
		return NULL;
	/* A text file ends with a newline. */
	size_t n = strlen(text);
	char *line = realloc(text, n + 2);
	if (line == NULL) {
		free(text);
		return NULL;
	}
	line[n] = '\n';
	line[n + 1] = '\0';
	return line;
}

/* The value of key, failing when it is absent. */
static json_t *field(json_t *o, const char *key, fl_err *err)
{
	json_t *v = json_object_get(o, key);
	if (v == NULL)
		fl_fail(err, FL_ERR_CONFIG, "backup.json: %s is missing", key);
	return v;
}

/* A string that fits len bytes with its NUL, copied whole, never cut. */
static int get_string(json_t *o, const char *key, char *buf, size_t len, fl_err *err)
{
	json_t *v = field(o, key, err);
	if (v == NULL)
		return -1;
	if (!json_is_string(v))
		return fl_fail(err, FL_ERR_CONFIG, "backup.json: %s is not a string", key);
	size_t n = json_string_length(v);
	if (n >= len)
		return fl_fail(err, FL_ERR_CONFIG, "backup.json: %s is too long (%zu bytes, at most %zu)", key, n,
			       len - 1);
	if (n == 0)
		return fl_fail(err, FL_ERR_CONFIG, "backup.json: %s is empty", key);
	memcpy(buf, json_string_value(v), n + 1);
	return 0;
}

/* An integer (a JSON number without a fraction or exponent) within min..max. */
static int get_integer(json_t *o, const char *key, json_int_t min, json_int_t max, json_int_t *out, fl_err *err)
{
	json_t *v = field(o, key, err);
	if (v == NULL)
		return -1;
	if (!json_is_integer(v))
		return fl_fail(err, FL_ERR_CONFIG, "backup.json: %s is not an integer", key);
	json_int_t n = json_integer_value(v);
	if (n < min || n > max)
		return fl_fail(err, FL_ERR_CONFIG,
			       "backup.json: %s %" JSON_INTEGER_FORMAT " is out of range %" JSON_INTEGER_FORMAT
			       "..%" JSON_INTEGER_FORMAT,
			       key, n, min, max);
	*out = n;
	return 0;
}

/* A unix time a label can spell, from 1970 on, as a JSON integer or real. */
static int get_time(json_t *o, const char *key, double *out, fl_err *err)
{
	json_t *v = field(o, key, err);
	if (v == NULL)
		return -1;
	if (!json_is_number(v))
		return fl_fail(err, FL_ERR_CONFIG, "backup.json: %s is not a number (unix seconds)", key);
	double t = json_number_value(v);
	if (!(t >= 0 && t < TIME_PAST_LABEL))
		return fl_fail(err, FL_ERR_CONFIG,
			       "backup.json: %s %.17g is out of range (unix seconds from 1970 to 9999-12-31)", key, t);
	*out = t;
	return 0;
}

/* Whether s is 1 to 8 hexadecimal digits ending at stop. */
static bool hex_half(const char *s, char stop)
{
	int n = 0;
	for (; s[n] != stop; n++)
		if (n == 8 ||
		    !((s[n] >= '0' && s[n] <= '9') || (s[n] >= 'A' && s[n] <= 'F') || (s[n] >= 'a' && s[n] <= 'f')))
			return false;
	return n > 0;
}

/*
 * PostgreSQL's "X/X". lsn_parse alone would take a sign, a 0x, leading
 * blanks or a half wider than 32 bits; the text is checked first.
 */
static int get_lsn(json_t *o, const char *key, uint64_t *out, fl_err *err)
{
	char text[LSN_TEXT];
	if (get_string(o, key, text, sizeof text, err) < 0)
		return -1;
	const char *slash = strchr(text, '/');
	if (slash == NULL || !hex_half(text, '/') || !hex_half(slash + 1, '\0') || lsn_parse(text, out) < 0)
		return fl_fail(err, FL_ERR_CONFIG, "backup.json: %s \"%s\" is not a WAL position (X/X)", key, text);
	return 0;
}

/* A 64-bit number in decimal (JSON's numbers are doubles to many readers: 53 bits). */
static int get_system_id(json_t *o, uint64_t *out, fl_err *err)
{
	char text[24];
	if (get_string(o, "system_id", text, sizeof text, err) < 0)
		return -1;
	uint64_t v = 0;
	bool ok = text[0] != '0';
	for (const char *p = text; ok && *p; p++) {
		unsigned d = (unsigned)(*p - '0');
		ok = *p >= '0' && *p <= '9' && v <= (UINT64_MAX - d) / 10;
		v = v * 10 + d;
	}
	if (!ok)
		return fl_fail(
			err, FL_ERR_CONFIG,
			"backup.json: system_id \"%s\" is not a database system identifier (a decimal number, 1 to "
			"18446744073709551615)",
			text);
	*out = v;
	return 0;
}

static int get_bool(json_t *o, const char *key, bool *out, fl_err *err)
{
	json_t *v = field(o, key, err);
	if (v == NULL)
		return -1;
	if (!json_is_boolean(v))
		return fl_fail(err, FL_ERR_CONFIG, "backup.json: %s is not true or false", key);
	*out = json_is_true(v);
	return 0;
}

static bool one_of(const char *v, const char *const *set)
{
	for (; *set; set++)
		if (strcmp(v, *set) == 0)
			return true;
	return false;
}

/* The version first: a format this version does not know may mean anything by its other keys. */
static int check_format(json_t *o, fl_err *err)
{
	json_int_t format;
	if (get_integer(o, "format", INT64_MIN, INT64_MAX, &format, err) < 0)
		return -1;
	if (format != CATALOG_FORMAT)
		return fl_fail(err, FL_ERR_CONFIG,
			       "backup.json: format %" JSON_INTEGER_FORMAT " is not %d, the one this version reads\n"
			       "HINT: a newer flotilla may have written it; read it with that version",
			       format, CATALOG_FORMAT);
	return 0;
}

/* Names: the label, who it came from, how it is stored. */
static int parse_names(json_t *o, backup_record *r, fl_err *err)
{
	static const char *const roles[] = {"replica", "primary", NULL};
	static const char *const compressions[] = {"zstd", "gzip", "none", NULL};
	if (get_string(o, "label", r->label, sizeof r->label, err) < 0)
		return -1;
	if (!catalog_label_valid(r->label))
		return fl_fail(err, FL_ERR_CONFIG, "backup.json: label \"%s\" is not a label (YYYYMMDDTHHMMSSZ, UTC)",
			       r->label);
	if (get_string(o, "source", r->source, sizeof r->source, err) < 0)
		return -1;
	/* The source reaches logs and messages: one printable line. */
	for (const char *p = r->source; *p; p++)
		if ((unsigned char)*p < 0x20 || *p == 0x7f)
			return fl_fail(err, FL_ERR_CONFIG, "backup.json: source holds a control character");
	if (get_string(o, "source_role", r->source_role, sizeof r->source_role, err) < 0)
		return -1;
	if (!one_of(r->source_role, roles))
		return fl_fail(err, FL_ERR_CONFIG, "backup.json: source_role \"%s\" is neither replica nor primary",
			       r->source_role);
	if (get_string(o, "compression", r->compression, sizeof r->compression, err) < 0)
		return -1;
	if (!one_of(r->compression, compressions))
		return fl_fail(err, FL_ERR_CONFIG, "backup.json: compression \"%s\" is none of zstd, gzip, none",
			       r->compression);
	return get_bool(o, "encrypted", &r->encrypted, err);
}

/* Where it lies in WAL and in time; neither goes back. */
static int parse_span(json_t *o, backup_record *r, fl_err *err)
{
	json_int_t timeline;
	if (get_integer(o, "timeline", 1, UINT32_MAX, &timeline, err) < 0)
		return -1;
	r->timeline = (uint32_t)timeline;
	if (get_lsn(o, "start_lsn", &r->start_lsn, err) < 0 || get_lsn(o, "stop_lsn", &r->stop_lsn, err) < 0)
		return -1;
	char a[LSN_TEXT], b[LSN_TEXT];
	lsn_format(r->start_lsn, a, sizeof a);
	lsn_format(r->stop_lsn, b, sizeof b);
	/* 0/0 is PostgreSQL's invalid position: no backup starts there. */
	if (r->start_lsn == 0)
		return fl_fail(err, FL_ERR_CONFIG, "backup.json: start_lsn %s is not a valid WAL position", a);
	if (r->stop_lsn < r->start_lsn)
		return fl_fail(err, FL_ERR_CONFIG, "backup.json: stop_lsn %s is before start_lsn %s", b, a);
	if (get_time(o, "start_time", &r->start_time, err) < 0 || get_time(o, "stop_time", &r->stop_time, err) < 0)
		return -1;
	if (r->stop_time < r->start_time)
		return fl_fail(err, FL_ERR_CONFIG, "backup.json: stop_time %.17g is before start_time %.17g",
			       r->stop_time, r->start_time);
	return 0;
}

/* What the server was and what the backup weighs. */
static int parse_server(json_t *o, backup_record *r, fl_err *err)
{
	json_int_t v;
	if (get_integer(o, "size", 0, INT64_MAX, &v, err) < 0)
		return -1;
	r->size = (uint64_t)v;
	if (get_integer(o, "data_size", 0, INT64_MAX, &v, err) < 0)
		return -1;
	r->data_size = (uint64_t)v;
	if (get_integer(o, "pg_version", 10, 99, &v, err) < 0)
		return -1;
	r->pg_version = (int)v;
	if (get_system_id(o, &r->system_id, err) < 0)
		return -1;
	if (get_integer(o, "wal_seg_size", (json_int_t)WAL_SEG_MIN, (json_int_t)WAL_SEG_MAX, &v, err) < 0)
		return -1;
	if ((v & (v - 1)) != 0)
		return fl_fail(err, FL_ERR_CONFIG,
			       "backup.json: wal_seg_size %" JSON_INTEGER_FORMAT " is not a power of two", v);
	r->wal_seg_size = (uint64_t)v;
	return 0;
}

int catalog_record_parse(const char *text, size_t len, backup_record *r, fl_err *err)
{
	json_error_t jerr;
	json_t *o = json_loadb(text ? text : "", text ? len : 0, JSON_REJECT_DUPLICATES, &jerr);
	if (o == NULL)
		return fl_fail(err, FL_ERR_CONFIG, "backup.json: not JSON: %s (line %d, column %d)", jerr.text,
			       jerr.line, jerr.column);
	backup_record rec;
	memset(&rec, 0, sizeof rec);
	int rc = -1;
	if (!json_is_object(o))
		fl_fail(err, FL_ERR_CONFIG, "backup.json: not a JSON object");
	else if (check_format(o, err) == 0 && parse_names(o, &rec, err) == 0 && parse_span(o, &rec, err) == 0 &&
		 parse_server(o, &rec, err) == 0)
		rc = 0;
	json_decref(o);
	if (rc == 0)
		*r = rec;
	return rc;
}

static int by_start(const void *a, const void *b)
{
	const backup_record *x = a, *y = b;
	if (x->start_time != y->start_time)
		return x->start_time < y->start_time ? -1 : 1;
	/* qsort is not stable: the label settles ties so that the order is always the same. */
	return strcmp(x->label, y->label);
}

void catalog_sort(backup_record *r, int n)
{
	if (r != NULL && n > 1)
		qsort(r, (size_t)n, sizeof *r, by_start);
}

int retention_plan(const backup_record *r, int n, const retention_policy *p, double now, bool *keep)
{
	if (n <= 0)
		return 0;
	int full = p && p->full > 0 ? p->full : 0;
	double window = p && p->window > 0 ? p->window : 0;
	/* With neither rule nothing says what may go. */
	int first = full == 0 && window == 0 ? 0 : n - 1;
	if (full > 0 && n - full < first)
		first = n - full < 0 ? 0 : n - full;
	if (window > 0) {
		/* A restore to now - window needs the newest backup complete by then; none that old: all are needed. */
		int base = 0;
		for (int i = n - 1; i >= 0; i--)
			if (r[i].stop_time <= now - window) {
				base = i;
				break;
			}
		if (base < first)
			first = base;
	}
	for (int i = 0; i < n; i++)
		keep[i] = i >= first;
	return n - first;
}

uint64_t retention_wal_horizon(const backup_record *r, int n, const bool *keep)
{
	uint64_t horizon = UINT64_MAX;
	bool any = false;
	for (int i = 0; i < n; i++)
		if (keep[i]) {
			any = true;
			horizon = r[i].start_lsn < horizon ? r[i].start_lsn : horizon;
		}
	return any ? horizon : 0;
}

/* Whether backup b ends at or before the target. */
static bool fits(const backup_record *b, const restore_target *t)
{
	switch (t->kind) {
	case TARGET_TIME:
		return b->stop_time <= t->time;
	case TARGET_LSN:
		return b->stop_lsn <= t->lsn;
	default:
		return true;
	}
}

/* Whether a ends later than b, in the target's measure (time for a time, WAL otherwise). */
static bool ends_later(const backup_record *a, const backup_record *b, const restore_target *t)
{
	if (t->kind == TARGET_LSN)
		return a->stop_lsn > b->stop_lsn;
	return a->stop_time > b->stop_time;
}

/* "2026-12-06 10:00:00 UTC" or "0/3000060": where a backup ends, or the target, in the target's measure. */
static void end_text(const restore_target *t, double time, uint64_t lsn, char *buf, size_t len)
{
	if (t->kind == TARGET_LSN)
		lsn_format(lsn, buf, (int)len);
	else
		utc_format(time, buf, len);
}

static int pick_label(const backup_record *r, int n, const restore_target *t, const char *label, int *index,
		      fl_err *err)
{
	for (int i = 0; i < n; i++) {
		if (strcmp(r[i].label, label) != 0)
			continue;
		if (!fits(&r[i], t)) {
			char end[64], target[64];
			end_text(t, r[i].stop_time, r[i].stop_lsn, end, sizeof end);
			end_text(t, t->time, t->lsn, target, sizeof target);
			return fl_fail(err, FL_ERR_NOT_FOUND, "backup %s ends at %s, after the target %s", r[i].label,
				       end, target);
		}
		*index = i;
		return 0;
	}
	return fl_fail(err, FL_ERR_NOT_FOUND, "no backup is labelled \"%.*s\"", CATALOG_LABEL_MAX, label);
}

int catalog_pick(const backup_record *r, int n, const restore_target *t, const char *label, int *index, fl_err *err)
{
	static const restore_target latest = {.kind = TARGET_LATEST};
	int found = -1;
	if (index == NULL)
		index = &found;
	*index = -1;
	if (t == NULL)
		t = &latest;
	if (n <= 0)
		return fl_fail(err, FL_ERR_NOT_FOUND, "the repository holds no backup");
	if (t->kind != TARGET_LATEST && t->kind != TARGET_TIME && t->kind != TARGET_LSN)
		return fl_fail(err, FL_ERR_INTERNAL, "restore target of unknown kind %d", (int)t->kind);
	if (label != NULL)
		return pick_label(r, n, t, label, index, err);
	int best = -1, first = 0;
	for (int i = 0; i < n; i++) {
		if (ends_later(&r[first], &r[i], t))
			first = i;
		/* On a tie the later in the list (the later start) wins. */
		if (fits(&r[i], t) && (best < 0 || !ends_later(&r[best], &r[i], t)))
			best = i;
	}
	if (best >= 0) {
		*index = best;
		return 0;
	}
	char end[64], target[64];
	end_text(t, r[first].stop_time, r[first].stop_lsn, end, sizeof end);
	end_text(t, t->time, t->lsn, target, sizeof target);
	if (t->kind == TARGET_TIME)
		return fl_fail(err, FL_ERR_NOT_FOUND, "no backup was complete by %s: the oldest, %s, ends at %s",
			       target, r[first].label, end);
	return fl_fail(err, FL_ERR_NOT_FOUND, "no backup ends at or before %s: the oldest, %s, ends at %s", target,
		       r[first].label, end);
}
