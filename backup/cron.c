/*
 * cron: the five-field parser and the search for the next run. The search
 * walks the calendar a day at a time, jumping whole months the spec leaves
 * out, and looks at hours and minutes only on the days that match, so a
 * spec that runs once in years costs a few thousand steps, not millions.
 */
#include "cron.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

/* How far cron_next looks: 8 years of 366 days, enough to reach the Feb 29 after a century's missing one. */
#define CRON_HORIZON_SECONDS (8 * 366 * 86400LL)
/* Numbers stop growing past this: every field's maximum is far below, so a longer number is simply beyond. */
#define CRON_NUMBER_CAP 100000
/* The longest piece of the text a message quotes. */
#define CRON_QUOTE_MAX 40

typedef struct cron_field {
	const char *name;
	int min, max;
	const char *const *names; /* names[i] stands for min + i; NULL for numbers only */
	const char *names_hint;   /* how a message says what the names are */
} cron_field;

static const char *const month_names[] = {"jan", "feb", "mar", "apr", "may", "jun", "jul",
					  "aug", "sep", "oct", "nov", "dec", NULL};
static const char *const day_names[] = {"sun", "mon", "tue", "wed", "thu", "fri", "sat", NULL};

enum { FIELD_MINUTE, FIELD_HOUR, FIELD_MDAY, FIELD_MONTH, FIELD_WDAY, FIELD_COUNT };

static const cron_field fields[FIELD_COUNT] = {
	{"minute", 0, 59, NULL, NULL},
	{"hour", 0, 23, NULL, NULL},
	{"day-of-month", 1, 31, NULL, NULL},
	{"month", 1, 12, month_names, "a month (1-12 or jan..dec)"},
	/* 7 is Sunday again, as in crontab(5); the bits fold it onto 0. */
	{"day-of-week", 0, 7, day_names, "a day of the week (0-7 or sun..sat)"},
};

static const struct {
	const char *name;
	const char *fields;
} shorthands[] = {
	{"@yearly", "0 0 1 1 *"}, {"@annually", "0 0 1 1 *"}, {"@monthly", "0 0 1 * *"}, {"@weekly", "0 0 * * 0"},
	{"@daily", "0 0 * * *"},  {"@midnight", "0 0 * * *"}, {"@hourly", "0 * * * *"},
};

/* What a message needs to say where the problem is: the field and the list item being read. */
typedef struct cron_where {
	const cron_field *field;
	const char *item;
	size_t item_len;
	char *why;
	size_t why_len;
} cron_where;

static int fail(char *why, size_t why_len, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

/* -1, with the message in why (always NUL-terminated, cut to why_len). */
static int fail(char *why, size_t why_len, const char *fmt, ...)
{
	if (why == NULL || why_len == 0)
		return -1;
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(why, why_len, fmt, ap);
	va_end(ap);
	return -1;
}

static int quoted_len(size_t len) { return len > CRON_QUOTE_MAX ? CRON_QUOTE_MAX : (int)len; }

static bool is_blank(char c) { return c == ' ' || c == '\t'; }
static bool is_space(char c) { return is_blank(c) || c == '\n' || c == '\r' || c == '\v' || c == '\f'; }
static bool is_digit(char c) { return c >= '0' && c <= '9'; }
static bool is_letter(char c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'); }
static char lower(char c) { return c >= 'A' && c <= 'Z' ? (char)(c - 'A' + 'a') : c; }

/* Whether the n characters at s spell word (lowercase), in any case. */
static bool same_word(const char *s, size_t n, const char *word)
{
	if (strlen(word) != n)
		return false;
	for (size_t i = 0; i < n; i++)
		if (lower(s[i]) != word[i])
			return false;
	return true;
}

/*
 * A number or a name at *p (before end) into *v; what says which part of the
 * item it is ("the end of its range", "its step") for the message when
 * nothing is there, NULL for the item's first value. Steps take numbers only.
 */
static int value_parse(const cron_where *w, const char **p, const char *end, bool step, const char *what, int *v)
{
	const cron_field *f = w->field;
	const char *s = *p;
	const char *q = s;
	if (q < end && is_digit(*q)) {
		long n = 0;
		for (; q < end && is_digit(*q); q++)
			if (n <= CRON_NUMBER_CAP)
				n = n * 10 + (*q - '0');
		*p = q;
		*v = n > CRON_NUMBER_CAP ? CRON_NUMBER_CAP + 1 : (int)n;
		return 0;
	}
	while (q < end && is_letter(*q))
		q++;
	if (q == s) {
		if (what == NULL)
			return fail(w->why, w->why_len, "%s field: \"%.*s\" is not a number", f->name,
				    quoted_len(w->item_len), w->item);
		return fail(w->why, w->why_len, "%s field: \"%.*s\" lacks %s", f->name, quoted_len(w->item_len),
			    w->item, what);
	}
	if (step || f->names == NULL)
		return fail(w->why, w->why_len, "%s field: %s\"%.*s\" is not a number", f->name, step ? "step " : "",
			    quoted_len((size_t)(q - s)), s);
	for (int i = 0; f->names[i] != NULL; i++) {
		if (same_word(s, (size_t)(q - s), f->names[i])) {
			*p = q;
			*v = f->min + i;
			return 0;
		}
	}
	return fail(w->why, w->why_len, "%s field: \"%.*s\" is not %s", f->name, quoted_len((size_t)(q - s)), s,
		    f->names_hint);
}

/* Whether v lies in the field's range; says so naming the text it came from when not. */
static int value_check(const cron_where *w, const char *s, const char *e, int v)
{
	const cron_field *f = w->field;
	if (v >= f->min && v <= f->max)
		return 0;
	return fail(w->why, w->why_len, "%s field: \"%.*s\" is beyond %d-%d", f->name, quoted_len((size_t)(e - s)), s,
		    f->min, f->max);
}

/* One list item: '*', a value, or a range, each with an optional step; its bits into *bits. */
static int item_parse(const cron_where *w, uint64_t *bits)
{
	const cron_field *f = w->field;
	const char *p = w->item, *end = w->item + w->item_len;
	int lo = f->min, hi = f->max, step = 1;
	if (*p == '*') {
		p++;
	} else {
		const char *s = p;
		if (value_parse(w, &p, end, false, NULL, &lo) < 0 || value_check(w, s, p, lo) < 0)
			return -1;
		hi = lo;
		if (p < end && *p == '-') {
			s = ++p;
			if (value_parse(w, &p, end, false, "the end of its range", &hi) < 0 ||
			    value_check(w, s, p, hi) < 0)
				return -1;
			if (lo > hi)
				return fail(w->why, w->why_len, "%s field: range \"%.*s\" runs backwards", f->name,
					    quoted_len((size_t)(p - w->item)), w->item);
		} else if (p < end && *p == '/') {
			/* "a/n": from a to the field's end, not a alone. */
			hi = f->max;
		}
	}
	if (p < end && *p == '/') {
		const char *s = ++p;
		if (value_parse(w, &p, end, true, "its step", &step) < 0)
			return -1;
		if (step < 1 || step > f->max)
			return fail(w->why, w->why_len, "%s field: step \"%.*s\" is beyond 1-%d", f->name,
				    quoted_len((size_t)(p - s)), s, f->max);
	}
	if (p < end)
		return fail(w->why, w->why_len, "%s field: unexpected \"%.*s\" in \"%.*s\"", f->name,
			    quoted_len((size_t)(end - p)), p, quoted_len(w->item_len), w->item);
	for (int v = lo; v <= hi; v += step)
		*bits |= 1ULL << v;
	return 0;
}

/* One field's text (len characters, no blanks): its list, into *bits. */
static int field_parse(const cron_field *f, const char *text, size_t len, uint64_t *bits, char *why, size_t why_len)
{
	const char *end = text + len;
	*bits = 0;
	for (const char *p = text;; p++) {
		const char *comma = memchr(p, ',', (size_t)(end - p));
		const char *e = comma ? comma : end;
		if (e == p)
			return fail(why, why_len, "%s field: an empty item in \"%.*s\"", f->name, quoted_len(len),
				    text);
		cron_where w = {f, p, (size_t)(e - p), why, why_len};
		if (item_parse(&w, bits) < 0)
			return -1;
		if (comma == NULL)
			return 0;
		p = comma;
	}
}

/* The five fields of text (no leading blanks, len characters without the trailing ones) into *out. */
static int fields_parse(const char *text, size_t len, cron_spec *out, char *why, size_t why_len)
{
	uint64_t bits[FIELD_COUNT];
	const char *p = text, *end = text + len;
	for (int i = 0; i < FIELD_COUNT; i++) {
		while (p < end && is_blank(*p))
			p++;
		if (p == end)
			return fail(
				why, why_len,
				"%s field: missing (cron has five fields: minute hour day-of-month month day-of-week)",
				fields[i].name);
		const char *s = p;
		while (p < end && !is_blank(*p))
			p++;
		if (field_parse(&fields[i], s, (size_t)(p - s), &bits[i], why, why_len) < 0)
			return -1;
		if (i == FIELD_MDAY)
			out->mday_any = *s == '*';
		if (i == FIELD_WDAY)
			out->wday_any = *s == '*';
	}
	while (p < end && is_blank(*p))
		p++;
	if (p < end)
		return fail(why, why_len, "a sixth field \"%.*s\" after day-of-week (cron has five fields)",
			    quoted_len((size_t)(end - p)), p);
	out->minutes = bits[FIELD_MINUTE];
	out->hours = (uint32_t)bits[FIELD_HOUR];
	out->mdays = (uint32_t)bits[FIELD_MDAY];
	out->months = (uint16_t)bits[FIELD_MONTH];
	out->wdays = (uint8_t)((bits[FIELD_WDAY] | bits[FIELD_WDAY] >> 7) & 0x7f);
	return 0;
}

/* "@daily" and the like (len characters, the trailing blanks cut) into *out. */
static int shorthand_parse(const char *text, size_t len, cron_spec *out, char *why, size_t why_len)
{
	size_t n = 0;
	while (n < len && !is_space(text[n]))
		n++;
	for (size_t i = 0; i < sizeof shorthands / sizeof shorthands[0]; i++) {
		if (!same_word(text, n, shorthands[i].name))
			continue;
		size_t rest = n;
		while (rest < len && is_space(text[rest]))
			rest++;
		if (rest < len)
			return fail(why, why_len, "%s takes nothing after it, found \"%.*s\"", shorthands[i].name,
				    quoted_len(len - rest), text + rest);
		return fields_parse(shorthands[i].fields, strlen(shorthands[i].fields), out, why, why_len);
	}
	return fail(why, why_len,
		    "\"%.*s\" is not one of @yearly, @annually, @monthly, @weekly, @daily, @midnight or @hourly",
		    quoted_len(n), text);
}

int cron_parse(const char *text, cron_spec *out, char *why, size_t why_len)
{
	if (why != NULL && why_len > 0)
		why[0] = '\0';
	if (text == NULL || out == NULL)
		return fail(why, why_len, "no schedule");
	while (is_space(*text))
		text++;
	size_t len = strlen(text);
	while (len > 0 && is_space(text[len - 1]))
		len--;
	if (len == 0)
		return fail(why, why_len, "the schedule is empty");
	cron_spec spec = {0};
	int rc = text[0] == '@' ? shorthand_parse(text, len, &spec, why, why_len)
				: fields_parse(text, len, &spec, why, why_len);
	if (rc == 0)
		*out = spec;
	return rc;
}

/* Division and remainder rounded towards minus infinity. */
static int64_t floor_div(int64_t a, int64_t b) { return a / b - (a % b != 0 && (a % b < 0) != (b < 0)); }
static int64_t floor_mod(int64_t a, int64_t b) { return a - floor_div(a, b) * b; }

/* Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's days_from_civil). */
static int64_t days_from_civil(int64_t y, int m, int d)
{
	y -= m <= 2;
	int64_t era = floor_div(y, 400);
	int64_t yoe = y - era * 400;
	int64_t doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
	int64_t doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
	return era * 146097 + doe - 719468;
}

/* The date of a day since 1970-01-01 (civil_from_days). */
static void civil_from_days(int64_t z, int64_t *y, int *m, int *d)
{
	z += 719468;
	int64_t era = floor_div(z, 146097);
	int64_t doe = z - era * 146097;
	int64_t yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
	int64_t doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
	int64_t mp = (5 * doy + 2) / 153;
	*d = (int)(doy - (153 * mp + 2) / 5 + 1);
	*m = (int)(mp < 10 ? mp + 3 : mp - 9);
	*y = yoe + era * 400 + (*m <= 2);
}

/* The lowest bit of mask at or above from, or -1. */
static int bit_from(uint64_t mask, int from, int width)
{
	if (from >= width)
		return -1;
	uint64_t rest = mask >> from << from;
	return rest ? __builtin_ctzll(rest) : -1;
}

/* Vixie cron's rule: when either day field began with '*' the day must be in both sets; else in either. */
static bool day_matches(const cron_spec *s, int mday, int wday)
{
	bool in_mdays = s->mdays >> mday & 1, in_wdays = s->wdays >> wday & 1;
	if (s->mday_any || s->wday_any)
		return in_mdays && in_wdays;
	return in_mdays || in_wdays;
}

int cron_next(const cron_spec *s, int64_t after, int64_t *next)
{
	if (s == NULL || next == NULL)
		return -1;
	uint64_t minutes = s->minutes & ((1ULL << 60) - 1);
	uint32_t hours = s->hours & ((1U << 24) - 1);
	if (minutes == 0 || hours == 0 || (s->months & 0x1ffe) == 0)
		return -1;
	/* Late enough that the horizon would not fit in int64: nothing to give. */
	if (after > INT64_MAX - CRON_HORIZON_SECONDS - 60)
		return -1;
	int64_t first = floor_div(after, 60) + 1; /* in minutes: the first whole minute strictly after */
	int64_t last = floor_div(after + CRON_HORIZON_SECONDS, 60);
	int64_t day = floor_div(first, 1440);
	int from = (int)floor_mod(first, 1440); /* the minute of the day the search starts at */
	while (day * 1440 + from <= last) {
		int64_t y;
		int m, d;
		civil_from_days(day, &y, &m, &d);
		if (!(s->months >> m & 1)) {
			day = days_from_civil(m == 12 ? y + 1 : y, m == 12 ? 1 : m + 1, 1);
			from = 0;
			continue;
		}
		if (day_matches(s, d, (int)floor_mod(day + 4, 7))) { /* 1970-01-01 was a Thursday */
			for (int h = bit_from(hours, from / 60, 24); h >= 0; h = bit_from(hours, h + 1, 24)) {
				int found = bit_from(minutes, h == from / 60 ? from % 60 : 0, 60);
				if (found < 0)
					continue;
				int64_t t = day * 1440 + h * 60 + found;
				if (t > last)
					return -1;
				*next = t * 60;
				return 0;
			}
		}
		day++;
		from = 0;
	}
	return -1;
}
