/*
 * cron: schedules in cron's five fields (minute hour day-of-month month
 * day-of-week), as crontab(5) writes them: numbers, '*', ranges "a-b"
 * (a <= b), steps ("a-b/n", '*' followed by "/n", and "a/n" for a through
 * the field's end), lists "a,b-c", month and day names (jan..dec, sun..sat,
 * any case, in ranges too), 7 for Sunday, and the shorthands @yearly
 * (@annually), @monthly, @weekly, @daily (@midnight) and @hourly, in any
 * case. When both day fields are restricted a day matching either runs;
 * when either begins with '*' a day must match both, as in Vixie cron.
 * Times are UTC. Pure: the backup sidecar's schedules are decided here.
 */
#ifndef FL_BACKUP_CRON_H
#define FL_BACKUP_CRON_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct cron_spec {
	uint64_t minutes; /* bit m: minute m (0-59) */
	uint32_t hours;   /* bit h: hour h (0-23) */
	uint32_t mdays;   /* bit d: day of month d (1-31) */
	uint16_t months;  /* bit m: month m (1-12) */
	uint8_t wdays;    /* bit d: day of week d (0-6, Sunday 0) */
	bool mday_any;    /* the day-of-month field began with '*' (Vixie cron's rule) */
	bool wday_any;    /* the day-of-week field began with '*' */
} cron_spec;

/*
 * Parses text (blanks and tabs between the fields, any white space around
 * them) into *out; -1 with why (a phrase naming the field and what is wrong
 * with it: "day-of-week field: \"8\" is beyond 0-7") for anything else:
 * other field counts, @reboot, a number beyond its field, a step of 0 or
 * beyond the field's maximum, a range that runs backwards (sat-sun), text
 * after a value. *out is written only on success. why, unless NULL or
 * why_len is 0, is always NUL-terminated, cut to why_len, and "" on success.
 */
int cron_parse(const char *text, cron_spec *out, char *why, size_t why_len);

/*
 * The first whole minute strictly after `after` (unix seconds, UTC, any
 * sign) that the spec matches, into *next; -1, *next untouched, when none
 * comes within 8 years of 366 days after `after` (a date that never
 * exists, such as "0 0 30 2 *"; the span reaches the Feb 29 after 2100's
 * missing one), or when the answer would not fit in int64. In a spec
 * built by hand an empty set matches nothing and bits outside a field's
 * range are ignored.
 */
int cron_next(const cron_spec *s, int64_t after, int64_t *next);

#endif
