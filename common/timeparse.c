/*
 * timeparse: the ISO 8601 parser.
 */
#include "timeparse.h"

#include <stdbool.h>
#include <string.h>
#include <time.h>

/* Exactly n digits at *p. */
static bool digits(const char **p, int n, int *v)
{
	int x = 0;
	for (int i = 0; i < n; i++) {
		char c = (*p)[i];
		if (c < '0' || c > '9')
			return false;
		x = x * 10 + (c - '0');
	}
	*p += n;
	*v = x;
	return true;
}

/* One character of set at *p (never the terminating NUL). */
static bool one_of(const char **p, const char *set)
{
	if (**p == '\0' || strchr(set, **p) == NULL)
		return false;
	(*p)++;
	return true;
}

static int days_in_month(int y, int m)
{
	static const int days[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
	bool leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
	return m == 2 && leap ? 29 : days[m - 1];
}

/* "+HH:MM", "+HHMM", "+HH", "-..." or "Z": seconds east of UTC. */
static bool zone_parse(const char **p, int *east)
{
	int sign = **p == '-' ? -1 : 1, h, m = 0;
	if (one_of(p, "Zz")) {
		*east = 0;
		return true;
	}
	if (!one_of(p, "+-") || !digits(p, 2, &h))
		return false;
	if (one_of(p, ":") ? !digits(p, 2, &m) : (**p && !digits(p, 2, &m)))
		return false;
	*east = sign * (h * 3600 + m * 60);
	return h <= 23 && m <= 59;
}

time_verdict timeparse_iso8601(const char *text, double *out)
{
	const char *p = text;
	int y, mo, d, h, mi, sec = 0, east = 0;
	double frac = 0, scale = 0.1;
	if (!digits(&p, 4, &y) || !one_of(&p, "-") || !digits(&p, 2, &mo) || !one_of(&p, "-") || !digits(&p, 2, &d) ||
	    !one_of(&p, "Tt ") || !digits(&p, 2, &h) || !one_of(&p, ":") || !digits(&p, 2, &mi))
		return TIME_MALFORMED;
	bool has_sec = one_of(&p, ":");
	if (has_sec && !digits(&p, 2, &sec))
		return TIME_MALFORMED;
	if (has_sec && one_of(&p, ".,")) {
		int n = 0;
		for (; *p >= '0' && *p <= '9'; p++, n++, scale /= 10)
			frac += (*p - '0') * scale;
		if (n == 0 || n > 9)
			return TIME_MALFORMED;
	}
	if (y < 1 || mo < 1 || mo > 12 || d < 1 || d > days_in_month(y, mo) || h > 23 || mi > 59 || sec > 59)
		return TIME_MALFORMED;
	bool zoned = *p != '\0';
	if (zoned && (!zone_parse(&p, &east) || *p != '\0'))
		return TIME_MALFORMED;
	if (!zoned)
		return TIME_NO_ZONE;
	struct tm tm = {.tm_year = y - 1900, .tm_mon = mo - 1, .tm_mday = d, .tm_hour = h, .tm_min = mi, .tm_sec = sec};
	*out = (double)timegm(&tm) - east + frac;
	return TIME_OK;
}
