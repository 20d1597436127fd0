/*
 * pgsetting: PostgreSQL's value rules (guc.c's parse_bool, parse_int,
 * parse_real and the unit tables) restated for checking before a value is
 * written to a configuration file; see pgsetting.h.
 */
#include "pgsetting.h"

#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

typedef struct unit {
	const char *name;
	double factor; /* bytes, or milliseconds */
	bool memory;
} unit;

static const unit units[] = {
	{"B", 1, true},
	{"kB", 1024, true},
	{"MB", 1048576, true},
	{"GB", 1073741824.0, true},
	{"TB", 1099511627776.0, true},
	{"us", 0.001, false},
	{"ms", 1, false},
	{"s", 1000, false},
	{"min", 60000, false},
	{"h", 3600000, false},
	{"d", 86400000, false},
};

static const unit *unit_find(const char *name)
{
	for (size_t i = 0; i < sizeof units / sizeof units[0]; i++)
		if (strcmp(units[i].name, name) == 0)
			return &units[i];
	return NULL;
}

/* A parameter's own unit: "8kB" is 8 times kB. */
static bool base_unit(const char *text, double *factor, bool *memory)
{
	char *end;
	double times = 1;
	if (isdigit((unsigned char)text[0])) {
		times = strtod(text, &end);
		text = end;
	}
	const unit *u = unit_find(text);
	if (u == NULL)
		return false;
	*factor = u->factor * times;
	*memory = u->memory;
	return true;
}

const pgsetting *pgsetting_find(const pgsetting *rows, int n, const char *name)
{
	for (int i = 0; i < n; i++)
		if (strcasecmp(rows[i].name, name) == 0)
			return &rows[i];
	return NULL;
}

static bool bool_valid(const char *v)
{
	static const char *const words[] = {"true", "false", "yes", "no", "on", "off"};
	size_t len = strlen(v);
	if (strcmp(v, "1") == 0 || strcmp(v, "0") == 0)
		return true;
	/* A prefix of one word; "o" alone could be on or off. */
	if (len == 0 || (len < 2 && tolower((unsigned char)v[0]) == 'o'))
		return false;
	for (size_t i = 0; i < sizeof words / sizeof words[0]; i++)
		if (len <= strlen(words[i]) && strncasecmp(v, words[i], len) == 0)
			return true;
	return false;
}

static bool enum_valid(const char *list, const char *v)
{
	size_t len = strlen(v);
	for (const char *p = list; *p;) {
		size_t n = strcspn(p, ",");
		if (n == len && strncasecmp(p, v, n) == 0)
			return true;
		p += n;
		if (*p == ',')
			p++;
	}
	return false;
}

/* A number with an optional unit, in the parameter's unit; -1 with why on a malformed value. */
static int number_valid(const pgsetting *s, const char *value, bool integer, double *out, char *why, size_t len)
{
	const char *p = value;
	while (isspace((unsigned char)*p))
		p++;
	char *end;
	errno = 0;
	double v = integer && (strncmp(p, "0x", 2) == 0 || strncmp(p, "0X", 2) == 0) ? (double)strtoll(p, &end, 16)
										     : strtod(p, &end);
	if (end == p || errno == ERANGE || !isfinite(v)) {
		snprintf(why, len, "invalid value for parameter \"%s\": \"%s\"", s->name, value);
		return -1;
	}
	while (isspace((unsigned char)*end))
		end++;
	if (*end != '\0') {
		char name[8];
		size_t n = strcspn(end, " \t");
		const unit *u =
			n < sizeof name ? (snprintf(name, sizeof name, "%.*s", (int)n, end), unit_find(name)) : NULL;
		double base;
		bool memory;
		bool trailing = end[n + strspn(end + n, " \t")] != '\0';
		if (u == NULL || trailing || s->unit[0] == '\0' || !base_unit(s->unit, &base, &memory) ||
		    memory != u->memory) {
			snprintf(why, len, "invalid value for parameter \"%s\": \"%s\"%s", s->name, value,
				 s->unit[0] == '\0' ? " (it takes no unit)"
				 : base_unit(s->unit, &base, &memory) && memory
					 ? " (valid units: B, kB, MB, GB, TB)"
					 : " (valid units: us, ms, s, min, h, d)");
			return -1;
		}
		v = v * u->factor / base;
	}
	*out = integer ? rint(v) : v;
	return 0;
}

int pgsetting_check(const pgsetting *s, const char *value, char *why, size_t len)
{
	if (strcmp(s->vartype, "bool") == 0) {
		if (bool_valid(value))
			return 0;
		snprintf(why, len, "parameter \"%s\" requires a Boolean value, not \"%s\"", s->name, value);
		return -1;
	}
	if (strcmp(s->vartype, "enum") == 0) {
		if (enum_valid(s->enumvals, value))
			return 0;
		snprintf(why, len, "invalid value for parameter \"%s\": \"%s\" (available values: %s)", s->name, value,
			 s->enumvals);
		return -1;
	}
	bool integer = strcmp(s->vartype, "integer") == 0;
	if (!integer && strcmp(s->vartype, "real") != 0)
		return 0; /* a string: the server's own hooks judge it */
	double v;
	if (number_valid(s, value, integer, &v, why, len) < 0)
		return -1;
	if (v < s->min || v > s->max) {
		snprintf(why, len, "%g%s%s is outside the valid range for parameter \"%s\" (%g .. %g)", v,
			 s->unit[0] ? " " : "", s->unit, s->name, s->min, s->max);
		return -1;
	}
	return 0;
}
