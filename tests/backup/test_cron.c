/*
 * test_cron: the schedules of backup/cron.c. One row per form crontab(5)
 * accepts (and the bits it stands for), per form it refuses (and the field
 * the message names), per next run (unix times checked against `date -u`);
 * then every combination of the day fields against a walk of the calendar
 * that asks libc's gmtime_r about each day.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "backup/cron.h"
#include "cunit_main.h"

#define HORIZON (8 * 366 * 86400LL)
#define NEVER INT64_MIN /* a next_rows answer: none within 8 years */

/* The bits of a set written "1,5..7,59" (".." for a range; "" for none). */
static uint64_t set_bits(const char *text)
{
	uint64_t bits = 0;
	const char *p = text;
	while (*p != '\0') {
		char *end;
		long lo = strtol(p, &end, 10), hi = lo;
		if (strncmp(end, "..", 2) == 0)
			hi = strtol(end + 2, &end, 10);
		for (long v = lo; v <= hi; v++)
			bits |= 1ULL << v;
		p = *end == ',' ? end + 1 : end;
	}
	return bits;
}

static bool spec_equal(const cron_spec *a, const cron_spec *b)
{
	return a->minutes == b->minutes && a->hours == b->hours && a->mdays == b->mdays && a->months == b->months &&
	       a->wdays == b->wdays && a->mday_any == b->mday_any && a->wday_any == b->wday_any;
}

static void test_accepted_forms_and_their_bits(void)
{
	static const struct {
		const char *text;
		const char *minutes, *hours, *mdays, *months, *wdays;
		bool mday_any, wday_any;
	} rows[] = {
		{"* * * * *", "0..59", "0..23", "1..31", "1..12", "0..6", true, true},
		{" \t0 0 * * *\t \n", "0", "0", "1..31", "1..12", "0..6", true, true},
		{"0\t0 \t 1 1\t*", "0", "0", "1", "1", "0..6", false, true},
		{"1,5-7,59 * * * *", "1,5..7,59", "0..23", "1..31", "1..12", "0..6", true, true},
		{"1,1,1-2 3-3 * * *", "1,2", "3", "1..31", "1..12", "0..6", true, true},
		{"*/15 * * * *", "0,15,30,45", "0..23", "1..31", "1..12", "0..6", true, true},
		{"5/15 * * * *", "5,20,35,50", "0..23", "1..31", "1..12", "0..6", true, true},
		{"10-30/7 * * * *", "10,17,24", "0..23", "1..31", "1..12", "0..6", true, true},
		{"*/59 * * * *", "0,59", "0..23", "1..31", "1..12", "0..6", true, true},
		{"59/1 * * * *", "59", "0..23", "1..31", "1..12", "0..6", true, true},
		{"0-59/1 * * * *", "0..59", "0..23", "1..31", "1..12", "0..6", true, true},
		{"0 */23 * * *", "0", "0,23", "1..31", "1..12", "0..6", true, true},
		{"0 12/5 * * *", "0", "12,17,22", "1..31", "1..12", "0..6", true, true},
		{"0 0-23/8,5 * * *", "0", "0,5,8,16", "1..31", "1..12", "0..6", true, true},
		{"0 0 */31 * *", "0", "0", "1", "1..12", "0..6", true, true},
		{"0 0 1-31/10 * *", "0", "0", "1,11,21,31", "1..12", "0..6", false, true},
		{"0 0 */2 * *", "0", "0", "1,3,5,7,9,11,13,15,17,19,21,23,25,27,29,31", "1..12", "0..6", true, true},
		{"0 0 *,1 * *", "0", "0", "1..31", "1..12", "0..6", true, true},
		{"0 0 1,* * *", "0", "0", "1..31", "1..12", "0..6", false, true},
		{"0 0 1-31 * 0-7", "0", "0", "1..31", "1..12", "0..6", false, false},
		{"00 05 01 01 00", "0", "5", "1", "1", "0", false, false},
		{"0 0 1 * 007", "0", "0", "1", "1..12", "0", false, false},
		{"0 0 * jan *", "0", "0", "1..31", "1", "0..6", true, true},
		{"0 0 * JAN-Mar *", "0", "0", "1..31", "1..3", "0..6", true, true},
		{"0 0 * feb,Aug,DEC *", "0", "0", "1..31", "2,8,12", "0..6", true, true},
		{"0 0 * 2-dec/3 *", "0", "0", "1..31", "2,5,8,11", "0..6", true, true},
		{"0 0 * jun/2 *", "0", "0", "1..31", "6,8,10,12", "0..6", true, true},
		{"0 0 * */12 *", "0", "0", "1..31", "1", "0..6", true, true},
		{"0 0 * apr,jun,sep,nov *", "0", "0", "1..31", "4,6,9,11", "0..6", true, true},
		{"* * * * sun", "0..59", "0..23", "1..31", "1..12", "0", true, false},
		{"* * * * 7", "0..59", "0..23", "1..31", "1..12", "0", true, false},
		{"* * * * 0,7", "0..59", "0..23", "1..31", "1..12", "0", true, false},
		{"* * * * 5-7", "0..59", "0..23", "1..31", "1..12", "0,5,6", true, false},
		{"* * * * 6-7", "0..59", "0..23", "1..31", "1..12", "0,6", true, false},
		{"* * * * mon-fri", "0..59", "0..23", "1..31", "1..12", "1..5", true, false},
		{"* * * * SAT,sun", "0..59", "0..23", "1..31", "1..12", "0,6", true, false},
		{"* * * * Tue-Thu", "0..59", "0..23", "1..31", "1..12", "2..4", true, false},
		{"* * * * wed-7", "0..59", "0..23", "1..31", "1..12", "0,3..6", true, false},
		{"* * * * */2", "0..59", "0..23", "1..31", "1..12", "0,2,4,6", true, true},
		{"* * * * */7", "0..59", "0..23", "1..31", "1..12", "0", true, true},
		{"* * * * 1/2", "0..59", "0..23", "1..31", "1..12", "0,1,3,5", true, false},
		{"* * * * 0-7/7", "0..59", "0..23", "1..31", "1..12", "0", true, false},
		{"30 2 15 * fri", "30", "2", "15", "1..12", "5", false, false},
	};
	for (unsigned i = 0; i < sizeof rows / sizeof rows[0]; i++) {
		cron_spec s;
		char why[128] = "x";
		int rc = cron_parse(rows[i].text, &s, why, sizeof why);
		CU_ASSERT_EQUAL(rc, 0);
		if (rc != 0) {
			fprintf(stderr, "\nrow %u \"%s\": %s\n", i, rows[i].text, why);
			continue;
		}
		CU_ASSERT_STRING_EQUAL(why, "");
		bool ok = s.minutes == set_bits(rows[i].minutes) && s.hours == set_bits(rows[i].hours) &&
			  s.mdays == set_bits(rows[i].mdays) && s.months == set_bits(rows[i].months) &&
			  s.wdays == set_bits(rows[i].wdays) && s.mday_any == rows[i].mday_any &&
			  s.wday_any == rows[i].wday_any;
		CU_ASSERT_TRUE(ok);
		if (!ok)
			fprintf(stderr, "\nrow %u \"%s\" has other bits\n", i, rows[i].text);
	}
}

static void test_shorthands_are_their_five_fields(void)
{
	static const struct {
		const char *shorthand, *fields;
	} rows[] = {
		{"@yearly", "0 0 1 1 *"},       {"@annually", "0 0 1 1 *"},   {"@monthly", "0 0 1 * *"},
		{"@weekly", "0 0 * * 0"},       {"@daily", "0 0 * * *"},      {"@midnight", "0 0 * * *"},
		{"@hourly", "0 * * * *"},       {"@YEARLY", "0 0 1 1 *"},     {"@Daily", "0 0 * * *"},
		{" \t@hourly \n", "0 * * * *"}, {"@WeekLy\r\n", "0 0 * * 0"},
	};
	for (unsigned i = 0; i < sizeof rows / sizeof rows[0]; i++) {
		cron_spec a, b;
		CU_ASSERT_EQUAL(cron_parse(rows[i].shorthand, &a, NULL, 0), 0);
		CU_ASSERT_EQUAL(cron_parse(rows[i].fields, &b, NULL, 0), 0);
		CU_ASSERT_TRUE(spec_equal(&a, &b));
	}
}

static void test_refused_forms_name_the_field(void)
{
	static const struct {
		const char *text;
		const char *why; /* a part of the message */
	} rows[] = {
		{"", "the schedule is empty"},
		{"   \t\r\n", "the schedule is empty"},
		{"*", "hour field: missing"},
		{"* * * *", "day-of-week field: missing (cron has five fields"},
		{"0 0 1\t", "month field: missing"},
		{"* * * * * *", "a sixth field \"*\" after day-of-week"},
		{"0 0 * * * /usr/bin/backup", "a sixth field \"/usr/bin/backup\""},
		{"@reboot",
		 "\"@reboot\" is not one of @yearly, @annually, @monthly, @weekly, @daily, @midnight or @hourly"},
		{"@", "\"@\" is not one of"},
		{"@dailyx", "\"@dailyx\" is not one of"},
		{"@daily 5", "@daily takes nothing after it, found \"5\""},
		{"@hourly\t* * * * *", "@hourly takes nothing after it, found \"* * * * *\""},
		{"0 0 * * @daily", "day-of-week field: \"@daily\" is not a number"},
		{"60 * * * *", "minute field: \"60\" is beyond 0-59"},
		{"* 24 * * *", "hour field: \"24\" is beyond 0-23"},
		{"* * 0 * *", "day-of-month field: \"0\" is beyond 1-31"},
		{"* * 32 * *", "day-of-month field: \"32\" is beyond 1-31"},
		{"* * 1-32 * *", "day-of-month field: \"32\" is beyond 1-31"},
		{"* * * 0 *", "month field: \"0\" is beyond 1-12"},
		{"* * * 13 *", "month field: \"13\" is beyond 1-12"},
		{"* * * * 8", "day-of-week field: \"8\" is beyond 0-7"},
		{"1,2,99 * * * *", "minute field: \"99\" is beyond 0-59"},
		{"99999999999999999999 * * * *", "minute field: \"99999999999999999999\" is beyond 0-59"},
		{"* * * * 4294967296", "day-of-week field: \"4294967296\" is beyond 0-7"},
		{"* * * * 18446744073709551617", "\"18446744073709551617\" is beyond 0-7"},
		{"*/0 * * * *", "minute field: step \"0\" is beyond 1-59"},
		{"*/60 * * * *", "minute field: step \"60\" is beyond 1-59"},
		{"1-5/0 * * * *", "minute field: step \"0\" is beyond 1-59"},
		{"*/99999999999999999999 * * * *", "step \"99999999999999999999\" is beyond 1-59"},
		{"* */24 * * *", "hour field: step \"24\" is beyond 1-23"},
		{"* * */32 * *", "day-of-month field: step \"32\" is beyond 1-31"},
		{"* * * */13 *", "month field: step \"13\" is beyond 1-12"},
		{"* * * * */8", "day-of-week field: step \"8\" is beyond 1-7"},
		{"5-1 * * * *", "minute field: range \"5-1\" runs backwards"},
		{"* * * dec-jan *", "month field: range \"dec-jan\" runs backwards"},
		{"* * * * sat-sun", "day-of-week field: range \"sat-sun\" runs backwards"},
		{"* * * * 7-1", "day-of-week field: range \"7-1\" runs backwards"},
		{"5x * * * *", "minute field: unexpected \"x\" in \"5x\""},
		{"1-5x * * * *", "minute field: unexpected \"x\" in \"1-5x\""},
		{"*5 * * * *", "minute field: unexpected \"5\" in \"*5\""},
		{"** * * * *", "minute field: unexpected \"*\" in \"**\""},
		{"*-5 * * * *", "minute field: unexpected \"-5\" in \"*-5\""},
		{"1-2-3 * * * *", "minute field: unexpected \"-3\" in \"1-2-3\""},
		{"1/2/3 * * * *", "minute field: unexpected \"/3\" in \"1/2/3\""},
		{"*/5x * * * *", "minute field: unexpected \"x\" in \"*/5x\""},
		{"0x10 * * * *", "minute field: unexpected \"x10\" in \"0x10\""},
		{"1.5 * * * *", "minute field: unexpected \".5\" in \"1.5\""},
		{"0 0\n* * *", "hour field: unexpected \"\n*\" in \"0\n*\""},
		{"-5 * * * *", "minute field: \"-5\" is not a number"},
		{"+5 * * * *", "minute field: \"+5\" is not a number"},
		{"/5 * * * *", "minute field: \"/5\" is not a number"},
		{"x * * * *", "minute field: \"x\" is not a number"},
		{"\xc3\xa9 * * * *", "minute field: \"\xc3\xa9\" is not a number"},
		{"* mon * * *", "hour field: \"mon\" is not a number"},
		{"* * jan * *", "day-of-month field: \"jan\" is not a number"},
		{"* * * foo *", "month field: \"foo\" is not a month (1-12 or jan..dec)"},
		{"* * * jan-foo *", "month field: \"foo\" is not a month"},
		{"* * * january *", "month field: \"january\" is not a month"},
		{"* * * mon *", "month field: \"mon\" is not a month"},
		{"* * * * monday", "day-of-week field: \"monday\" is not a day of the week (0-7 or sun..sat)"},
		{"* * * * jan", "day-of-week field: \"jan\" is not a day of the week"},
		{"* * * * mon/tue", "day-of-week field: step \"tue\" is not a number"},
		{"*/x * * * *", "minute field: step \"x\" is not a number"},
		{"1- * * * *", "minute field: \"1-\" lacks the end of its range"},
		{"1-* * * * *", "minute field: \"1-*\" lacks the end of its range"},
		{"1-/2 * * * *", "minute field: \"1-/2\" lacks the end of its range"},
		{"*/ * * * *", "minute field: \"*/\" lacks its step"},
		{"5/ * * * *", "minute field: \"5/\" lacks its step"},
		{"1-5/ * * * *", "minute field: \"1-5/\" lacks its step"},
		{"1,,2 * * * *", "minute field: an empty item in \"1,,2\""},
		{",1 * * * *", "minute field: an empty item in \",1\""},
		{"1, * * * *", "minute field: an empty item in \"1,\""},
		{"* * * * ,", "day-of-week field: an empty item in \",\""},
	};
	for (unsigned i = 0; i < sizeof rows / sizeof rows[0]; i++) {
		cron_spec s;
		char why[256] = "";
		CU_ASSERT_EQUAL(cron_parse(rows[i].text, &s, why, sizeof why), -1);
		bool named = strstr(why, rows[i].why) != NULL;
		CU_ASSERT_TRUE(named);
		if (!named)
			fprintf(stderr, "\nrow %u: \"%s\" is not in \"%s\"\n", i, rows[i].why, why);
	}
}

static void test_messages_quote_at_most_forty_characters(void)
{
	char text[300], why[256];
	memset(text, '7', 200);
	strcpy(text + 200, " * * * *");
	cron_spec s;
	CU_ASSERT_EQUAL(cron_parse(text, &s, why, sizeof why), -1);
	CU_ASSERT_STRING_EQUAL(why, "minute field: \"7777777777777777777777777777777777777777\" is beyond 0-59");
	snprintf(text, sizeof text, "* * * * * %0200d", 0);
	CU_ASSERT_EQUAL(cron_parse(text, &s, why, sizeof why), -1);
	CU_ASSERT_STRING_EQUAL(why,
			       "a sixth field \"0000000000000000000000000000000000000000\" after day-of-week (cron has "
			       "five fields)");
}

static void test_why_is_cut_and_always_terminated(void)
{
	static const char full[] = "day-of-week field: \"8\" is beyond 0-7";
	cron_spec s;
	for (size_t len = 1; len <= sizeof full + 4; len++) {
		char why[64];
		memset(why, 'Z', sizeof why);
		CU_ASSERT_EQUAL(cron_parse("* * * * 8", &s, why, len), -1);
		size_t want = len - 1 < strlen(full) ? len - 1 : strlen(full);
		CU_ASSERT_EQUAL(strlen(why), want);
		CU_ASSERT_EQUAL(strncmp(why, full, want), 0);
		CU_ASSERT_EQUAL(why[len], 'Z'); /* nothing written past why_len */
	}
	char untouched = 'Z';
	CU_ASSERT_EQUAL(cron_parse("* * * * 8", &s, &untouched, 0), -1);
	CU_ASSERT_EQUAL(untouched, 'Z');
	CU_ASSERT_EQUAL(cron_parse("* * * * 8", &s, NULL, 64), -1);
	CU_ASSERT_EQUAL(cron_parse("* * * * 8", &s, NULL, 0), -1);
}

static void test_success_leaves_why_empty_and_failure_leaves_out_alone(void)
{
	char why[64] = "stale";
	cron_spec s;
	CU_ASSERT_EQUAL(cron_parse("@daily", &s, why, sizeof why), 0);
	CU_ASSERT_STRING_EQUAL(why, "");
	cron_spec before, after;
	memset(&before, 0xab, sizeof before);
	memcpy(&after, &before, sizeof after);
	const char *bad[] = {"0 0 * * 8", "@reboot", "", "1 2 3 4", "0 0 1 1 * x", "5-1 * * * *"};
	for (unsigned i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		CU_ASSERT_EQUAL(cron_parse(bad[i], &after, why, sizeof why), -1);
		CU_ASSERT_EQUAL(memcmp(&before, &after, sizeof after), 0);
	}
}

static void test_null_arguments_are_refused(void)
{
	char why[64];
	cron_spec s;
	CU_ASSERT_EQUAL(cron_parse(NULL, &s, why, sizeof why), -1);
	CU_ASSERT_STRING_EQUAL(why, "no schedule");
	CU_ASSERT_EQUAL(cron_parse("* * * * *", NULL, why, sizeof why), -1);
	CU_ASSERT_STRING_EQUAL(why, "no schedule");
	int64_t next = 42;
	CU_ASSERT_EQUAL(cron_parse("* * * * *", &s, NULL, 0), 0);
	CU_ASSERT_EQUAL(cron_next(NULL, 0, &next), -1);
	CU_ASSERT_EQUAL(cron_next(&s, 0, NULL), -1);
	CU_ASSERT_EQUAL(next, 42);
}

static const struct next_row {
	const char *spec;
	int64_t after, next;
} next_rows[] = {
	/* 2026-11-23 10:00:00 Mon, on a matching minute -> 10:01:00: strictly after */
	{"* * * * *", 1795428000, 1795428060},
	{"* * * * *", 1795428001, 1795428060},         /* 10:00:01 -> 10:01 */
	{"* * * * *", 1795428059, 1795428060},         /* 10:00:59 -> 10:01 */
	{"* * * * *", 1795427999, 1795428000},         /* 09:59:59 -> 10:00 */
	{"30 2 * * *", 1795401000, 1795487400},        /* 2026-11-23 02:30:00, on the run -> 2026-11-24 02:30 */
	{"30 2 * * *", 1795400999, 1795401000},        /* 02:29:59 -> 02:30 the same day */
	{"30 2 * * *", 1795401030, 1795487400},        /* 02:30:30, inside the run's minute -> tomorrow */
	{"30 2 * * *", 1795398300, 1795401000},        /* 01:45 -> 02:30: the later hour's minutes count from 0 */
	{"5,50 * * * *", 1795431060, 1795431900},      /* 10:51 -> 11:05 */
	{"*/20 */6 * * *", 1795416060, 1795435200},    /* 06:41 -> 12:00 */
	{"23 0-20/2 * * *", 1795465380, 1795479780},   /* 20:23, the day's last run -> 2026-11-24 00:23 */
	{"30 23 * * *", 1795477500, 1795563000},       /* 23:45, past the day's last hour -> 2026-11-24 23:30 */
	{"10-20 22,23 * * *", 1795474200, 1795475400}, /* 22:50 -> 23:10 */
	{"0 0 1 1 *", 1798761540, 1798761600},         /* 2026-12-31 23:59 -> 2027-01-01 00:00 */
	{"59 23 31 12 *", 1780272000, 1798761540},     /* 2026-06-01 -> 2026-12-31 23:59 */
	{"59 23 31 12 *", 1798761540, 1830297540},     /* 2026-12-31 23:59 -> 2027-12-31 23:59 */
	{"* * * * *", 1798761570, 1798761600},         /* 2026-12-31 23:59:30 -> 2027-01-01 00:00 */
	{"0 0 29 2 *", 1767225600, 1835395200},        /* 2026-01-01 -> 2028-02-29 */
	{"0 0 29 2 *", 1835395200, 1961625600},        /* 2028-02-29 00:00 -> 2032-02-29 */
	{"0 0 29 2 *", 4007836800, 4233686400},        /* 2097-01-01 -> 2104-02-29: 2100 is no leap year */
	{"0 0 29 2 *", 4012934400, 4233686400},        /* 2097-03-01 -> 2104-02-29 */
	{"0 0 29 2 *", 3981312000, 4233686400},        /* 2096-02-29 00:00 -> 2104-02-29: eight years */
	{"0 0 29 2 *", 13550976000, 13574563200},      /* 2399-06-01 -> 2400-02-29: 2400 is a leap year */
	{"30 12 29 2 *", -2330035200, -2077702200},    /* 1896-03-01 -> 1904-02-29 12:30: 1900 is none */
	{"0 0 28-31 2 *", 1803772800, 1835308800},     /* 2027-02-28 00:00 -> 2028-02-28 */
	{"0 0 31 * *", 1775001600, 1780185600},        /* 2026-04-01 -> 2026-05-31 */
	{"0 0 31 * *", 1769817600, 1774915200},        /* 2026-01-31 00:00 -> 2026-03-31 */
	{"0 0 * 2 *", 1772323200, 1801440000},         /* 2026-03-01 -> 2027-02-01 */
	{"0 12 * * mon-fri", 1795248000, 1795435200},  /* Sat 2026-11-21 08:00 -> Mon 2026-11-23 12:00 */
	{"0 12 * * 1-5", 1795179600, 1795435200},      /* Fri 2026-11-20 13:00 -> Mon 2026-11-23 12:00 */
	{"0 0 * * 7", 1795392000, 1795910400},         /* Mon 2026-11-23 -> Sun 2026-11-29 */
	{"0 0 * * 0", 1795392000, 1795910400},         /* Mon 2026-11-23 -> Sun 2026-11-29 */
	{"0 0 * * 5-7", 1795392000, 1795737600},       /* Mon 2026-11-23 -> Fri 2026-11-27 */
	/* Both day fields restricted: a day matching either runs. */
	{"0 0 13 * 5", 1793491200, 1793923200},   /* 2026-11-01 -> Fri 2026-11-06 */
	{"0 0 13 * 5", 1794096000, 1794528000},   /* Sun 2026-11-08 -> Fri 2026-11-13 */
	{"0 0 13 * 5", 1794528000, 1795132800},   /* 2026-11-13 00:00 -> Fri 2026-11-20 */
	{"0 0 1,15 * 3", 1793491200, 1793750400}, /* 2026-11-01 -> Wed 2026-11-04 */
	{"0 0 30 2 1", 1772323200, 1801440000},   /* 2026-03-01 -> Mon 2027-02-01: no Feb 30, a Monday */
	/* A field that begins with '*' restricts by its bits, and both must match. */
	{"0 0 */2 * 1", 1793491200, 1794182400},       /* 2026-11-01 -> Mon 2026-11-09, an odd day */
	{"0 0 1-7 * */7", 1793577600, 1796515200},     /* 2026-11-02 -> Sun 2026-12-06, the first Sunday */
	{"0 9 * jan,jul sun", 1793491200, 1798966800}, /* 2026-11-01 -> Sun 2027-01-03 09:00 */
	{"0 0 29 2 */7", 1767225600, 1961625600},      /* 2026-01-01 -> 2032-02-29, a Sunday */
	{"@hourly", 1795428000, 1795431600},           /* 2026-11-23 10:00 -> 11:00 */
	{"@daily", 1795428000, 1795478400},            /* -> 2026-11-24 00:00 */
	{"@weekly", 1795428000, 1795910400},           /* -> Sun 2026-11-29 00:00 */
	{"@monthly", 1795428000, 1796083200},          /* -> 2026-12-01 00:00 */
	{"@yearly", 1795428000, 1798761600},           /* -> 2027-01-01 00:00 */
	{"15 14 1 * *", 1793542500, 1796134500},       /* 2026-11-01 14:15, on it -> 2026-12-01 14:15 */
	{"* * * * *", -1, 0},                          /* 1969-12-31 23:59:59 -> the epoch */
	{"0 0 * * 4", -86400, 0},                      /* 1969-12-31 -> 1970-01-01, a Thursday */
	{"0 0 1 1 *", -31536000, 0},                   /* 1969-01-01 00:00 -> 1970-01-01 */
	{"0 0 1 1 *", 253383811200, 253402300800},     /* 9999-06-01 -> 10000-01-01 */
	/* Dates that never come, or not within 8 years. */
	{"0 0 30 2 *", 1767225600, NEVER},
	{"0 0 31 4,6,9,11 *", 1767225600, NEVER},
	{"0 0 31 2 *", 1767225600, NEVER},
	{"* * 30-31 feb *", 1767225600, NEVER},
	{"0 0 29 2 */7", 1961625600, NEVER}, /* from 2032-02-29 the next Sunday Feb 29 is 2060's */
};

static void test_next_runs(void)
{
	for (unsigned i = 0; i < sizeof next_rows / sizeof next_rows[0]; i++) {
		cron_spec s;
		CU_ASSERT_EQUAL_FATAL(cron_parse(next_rows[i].spec, &s, NULL, 0), 0);
		int64_t next = -7;
		int rc = cron_next(&s, next_rows[i].after, &next);
		bool never = next_rows[i].next == NEVER;
		CU_ASSERT_EQUAL(rc, never ? -1 : 0);
		CU_ASSERT_EQUAL(next, never ? -7 : next_rows[i].next); /* untouched when there is none */
		if (rc != (never ? -1 : 0) || (rc == 0 && next != next_rows[i].next))
			fprintf(stderr, "\nrow %u \"%s\" after %lld: %lld\n", i, next_rows[i].spec,
				(long long)next_rows[i].after, (long long)next);
	}
}

static void test_every_second_of_a_minute_gives_the_next_minute(void)
{
	cron_spec every, daily;
	CU_ASSERT_EQUAL(cron_parse("* * * * *", &every, NULL, 0), 0);
	CU_ASSERT_EQUAL(cron_parse("30 2 * * *", &daily, NULL, 0), 0);
	const int64_t run = 1795401000; /* 2026-11-23 02:30:00 */
	for (int64_t sec = -60; sec < 60; sec++) {
		int64_t next = 0;
		CU_ASSERT_EQUAL(cron_next(&every, run + sec, &next), 0);
		CU_ASSERT_EQUAL(next, sec < 0 ? run : run + 60);
		CU_ASSERT_EQUAL(cron_next(&daily, run + sec, &next), 0);
		CU_ASSERT_EQUAL(next, sec < 0 ? run : run + 86400);
	}
	/* The same across the epoch, where division rounds the other way. */
	for (int64_t sec = -120; sec < 120; sec++) {
		int64_t next = 0;
		CU_ASSERT_EQUAL(cron_next(&every, sec, &next), 0);
		CU_ASSERT_EQUAL(next, (sec < 0 ? (sec - 59) / 60 : sec / 60) * 60 + 60);
	}
}

static void test_horizon_is_eight_years_of_366_days(void)
{
	cron_spec s;
	CU_ASSERT_EQUAL(cron_parse("0 0 29 2 */7", &s, NULL, 0), 0); /* Feb 29 on a Sunday: 2004, 2032, 2060 */
	const int64_t feb29_2032 = 1961625600;
	int64_t next = 0;
	CU_ASSERT_EQUAL(cron_next(&s, feb29_2032 - HORIZON, &next), 0);
	CU_ASSERT_EQUAL(next, feb29_2032);
	CU_ASSERT_EQUAL(cron_next(&s, feb29_2032 - HORIZON - 1, &next), -1);
	CU_ASSERT_EQUAL(cron_next(&s, feb29_2032 - HORIZON + 59, &next), 0);
	/* The last day inside the horizon, its run just beyond it. */
	CU_ASSERT_EQUAL(cron_parse("30 12 29 2 */7", &s, NULL, 0), 0);
	const int64_t run = feb29_2032 + 12 * 3600 + 30 * 60;
	CU_ASSERT_EQUAL(cron_next(&s, run - HORIZON, &next), 0);
	CU_ASSERT_EQUAL(next, run);
	next = 0;
	CU_ASSERT_EQUAL(cron_next(&s, run - HORIZON - 1, &next), -1);
	CU_ASSERT_EQUAL(next, 0);
}

static void test_hand_built_specs(void)
{
	cron_spec zero = {0}, s;
	int64_t next = 0;
	CU_ASSERT_EQUAL(cron_next(&zero, 0, &next), -1);
	/* A set left empty never matches. */
	CU_ASSERT_EQUAL(cron_parse("* * * * *", &s, NULL, 0), 0);
	cron_spec t = s;
	t.minutes = 0;
	CU_ASSERT_EQUAL(cron_next(&t, 0, &next), -1);
	t = s;
	t.hours = 0;
	CU_ASSERT_EQUAL(cron_next(&t, 0, &next), -1);
	t = s;
	t.months = 0;
	CU_ASSERT_EQUAL(cron_next(&t, 0, &next), -1);
	t = s;
	t.mdays = 0;
	CU_ASSERT_EQUAL(cron_next(&t, 0, &next), -1);
	t.mday_any = t.wday_any = false;
	t.wdays = 0;
	CU_ASSERT_EQUAL(cron_next(&t, 0, &next), -1);
	/* Bits outside each field's range are not values. */
	t = s;
	t.minutes = 0xf000000000000000ULL;
	CU_ASSERT_EQUAL(cron_next(&t, 0, &next), -1);
	t.minutes |= 1ULL << 7;
	t.hours = 0xff000000U | 1U << 3;
	CU_ASSERT_EQUAL(cron_next(&t, 0, &next), 0);
	CU_ASSERT_EQUAL(next, 3 * 3600 + 7 * 60);
	t = s;
	t.months = 1U << 0 | 1U << 13 | 1U << 14 | 1U << 15;
	CU_ASSERT_EQUAL(cron_next(&t, 0, &next), -1);
	t.months |= 1U << 3; /* March */
	CU_ASSERT_EQUAL(cron_next(&t, 0, &next), 0);
	CU_ASSERT_EQUAL(next, 59 * 86400); /* 1970-03-01 */
	t = s;
	t.mday_any = t.wday_any = false;
	t.mdays = 1U << 0; /* no day 0 */
	t.wdays = 1U << 7; /* no weekday 7 once parsed: Sunday is bit 0 */
	CU_ASSERT_EQUAL(cron_next(&t, 0, &next), -1);
}

static void test_extreme_times(void)
{
	cron_spec every, hourly, daily, yearly;
	CU_ASSERT_EQUAL(cron_parse("* * * * *", &every, NULL, 0), 0);
	CU_ASSERT_EQUAL(cron_parse("0 * * * *", &hourly, NULL, 0), 0);
	CU_ASSERT_EQUAL(cron_parse("0 0 * * *", &daily, NULL, 0), 0);
	CU_ASSERT_EQUAL(cron_parse("0 0 1 1 *", &yearly, NULL, 0), 0);
	int64_t next = 0;
	CU_ASSERT_EQUAL(cron_next(&every, INT64_MAX, &next), -1);
	CU_ASSERT_EQUAL(cron_next(&every, INT64_MAX - HORIZON - 59, &next), -1);
	const int64_t last = INT64_MAX - HORIZON - 60; /* the latest `after` with an answer */
	CU_ASSERT_EQUAL(cron_next(&every, last, &next), 0);
	CU_ASSERT_EQUAL(next, 9223372036601796600);
	CU_ASSERT_EQUAL(cron_next(&yearly, last, &next), 0);
	CU_ASSERT_TRUE(next > last && next <= last + HORIZON && next % 86400 == 0);
	CU_ASSERT_EQUAL(cron_next(&every, INT64_MIN, &next), 0);
	CU_ASSERT_EQUAL(next, -9223372036854775800);
	CU_ASSERT_EQUAL(cron_next(&hourly, INT64_MIN, &next), 0);
	CU_ASSERT_EQUAL(next, -9223372036854774000);
	CU_ASSERT_EQUAL(cron_next(&daily, INT64_MIN, &next), 0);
	CU_ASSERT_EQUAL(next, -9223372036854720000);
	CU_ASSERT_EQUAL(cron_next(&yearly, INT64_MIN, &next), 0);
	CU_ASSERT_TRUE(next > INT64_MIN && next % 86400 == 0);
}

/* The first minute after `after` that s matches, asking gmtime_r about each day: the reference for cron_next. */
static int64_t walk(const cron_spec *s, int64_t after)
{
	int64_t t = (after >= 0 ? after / 60 : (after - 59) / 60) * 60 + 60;
	while (t <= after + HORIZON) {
		time_t tt = (time_t)t;
		struct tm tm;
		gmtime_r(&tt, &tm);
		bool in_mdays = s->mdays & 1U << tm.tm_mday, in_wdays = s->wdays & 1U << tm.tm_wday;
		bool day = (s->months & 1U << (tm.tm_mon + 1)) &&
			   (s->mday_any || s->wday_any ? in_mdays && in_wdays : in_mdays || in_wdays);
		if (!day) {
			t += 86400 - (tm.tm_hour * 3600 + tm.tm_min * 60);
			continue;
		}
		if ((s->hours & 1U << tm.tm_hour) && (s->minutes & 1ULL << tm.tm_min))
			return t;
		t += 60;
	}
	return -1;
}

static void test_every_day_field_combination_agrees_with_a_calendar_walk(void)
{
	static const char *const minutes[] = {"*", "0", "59", "*/7", "5-10", "13,47", "30/15"};
	static const char *const hours[] = {"*", "0", "23", "*/5", "9-17", "3,4"};
	static const char *const mdays[] = {"*", "1", "13", "29", "30", "31", "*/10", "28-31", "1-7", "15,16"};
	static const char *const months[] = {"*", "2", "feb", "4,6,9,11", "*/4", "jan-mar", "dec"};
	static const char *const wdays[] = {"*", "0", "7", "mon-fri", "sat,sun", "*/3", "5", "3-4"};
	static const int64_t starts[] = {
		1795428030, /* 2026-11-23 10:00:30 */
		3981311940, /* 2096-02-28 23:59:00 */
		946684799,  /* 1999-12-31 23:59:59 */
	};
	unsigned n = 0, disagree = 0;
	for (unsigned d = 0; d < sizeof mdays / sizeof mdays[0]; d++) {
		for (unsigned m = 0; m < sizeof months / sizeof months[0]; m++) {
			for (unsigned w = 0; w < sizeof wdays / sizeof wdays[0]; w++, n++) {
				char text[128];
				snprintf(text, sizeof text, "%s %s %s %s %s", minutes[n % 7], hours[n % 6], mdays[d],
					 months[m], wdays[w]);
				cron_spec s;
				CU_ASSERT_EQUAL_FATAL(cron_parse(text, &s, NULL, 0), 0);
				for (unsigned i = 0; i < sizeof starts / sizeof starts[0]; i++) {
					int64_t want = walk(&s, starts[i]), got = -1;
					int rc = cron_next(&s, starts[i], &got);
					if (rc != (want < 0 ? -1 : 0) || got != want) {
						disagree++;
						fprintf(stderr, "\n\"%s\" after %lld: %lld, the walk %lld\n", text,
							(long long)starts[i], (long long)got, (long long)want);
					}
				}
			}
		}
	}
	CU_ASSERT_EQUAL(n, 560);
	CU_ASSERT_EQUAL(disagree, 0);
}

static void test_a_date_that_never_comes_is_answered_quickly(void)
{
	cron_spec never, nothing;
	CU_ASSERT_EQUAL(cron_parse("0 0 30 2 *", &never, NULL, 0), 0);
	CU_ASSERT_EQUAL(cron_parse("* * * * *", &nothing, NULL, 0), 0);
	nothing.mdays = 0; /* every day of the 8 years is looked at */
	clock_t start = clock();
	int64_t next;
	for (int i = 0; i < 1000; i++) {
		CU_ASSERT_EQUAL(cron_next(&never, 1767225600 + i * 86400LL, &next), -1);
		CU_ASSERT_EQUAL(cron_next(&nothing, 1767225600 + i * 86400LL, &next), -1);
	}
	/* A minute-by-minute search would take minutes; a day at a time takes milliseconds. */
	CU_ASSERT_TRUE((double)(clock() - start) / CLOCKS_PER_SEC < 2.0);
}

void suite_register(void)
{
	CU_pSuite s = CU_add_suite("cron", NULL, NULL);
	CU_add_test(s, "accepted forms and their bits", test_accepted_forms_and_their_bits);
	CU_add_test(s, "shorthands are their five fields", test_shorthands_are_their_five_fields);
	CU_add_test(s, "refused forms name the field", test_refused_forms_name_the_field);
	CU_add_test(s, "messages quote at most forty characters", test_messages_quote_at_most_forty_characters);
	CU_add_test(s, "why is cut and always terminated", test_why_is_cut_and_always_terminated);
	CU_add_test(s, "success leaves why empty and failure leaves out alone",
		    test_success_leaves_why_empty_and_failure_leaves_out_alone);
	CU_add_test(s, "null arguments are refused", test_null_arguments_are_refused);
	CU_add_test(s, "next runs", test_next_runs);
	CU_add_test(s, "every second of a minute gives the next minute",
		    test_every_second_of_a_minute_gives_the_next_minute);
	CU_add_test(s, "horizon is eight years of 366 days", test_horizon_is_eight_years_of_366_days);
	CU_add_test(s, "hand-built specs", test_hand_built_specs);
	CU_add_test(s, "extreme times", test_extreme_times);
	CU_add_test(s, "every day-field combination agrees with a calendar walk",
		    test_every_day_field_combination_agrees_with_a_calendar_walk);
	CU_add_test(s, "a date that never comes is answered quickly", test_a_date_that_never_comes_is_answered_quickly);
}
