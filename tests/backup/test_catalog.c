/*
 * test_catalog: backup/catalog.c. Labels made and checked against the
 * calendar; backup.json written and read back, and every key of it missing,
 * of the wrong type, out of range or too long refused with the key named;
 * malformed JSON refused; the order of backups; retention's keep sets and
 * the WAL horizon, one row per policy; the backup a restore picks for each
 * kind of target, with the edges where a backup ends exactly at the target.
 */
#include "backup/catalog.h"
#include "cunit_main.h"

#include <jansson.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

/* 2026-12-06 00:00:00 UTC */
#define DAY 1796515200.0
#define HOUR 3600.0

static backup_record record(const char *label, double start, double stop, uint64_t start_lsn, uint64_t stop_lsn)
{
	backup_record r;
	memset(&r, 0, sizeof r);
	snprintf(r.label, sizeof r.label, "%s", label);
	snprintf(r.source, sizeof r.source, "node-2");
	snprintf(r.source_role, sizeof r.source_role, "replica");
	snprintf(r.compression, sizeof r.compression, "zstd");
	r.timeline = 3;
	r.start_time = start;
	r.stop_time = stop;
	r.start_lsn = start_lsn;
	r.stop_lsn = stop_lsn;
	r.size = 1234567;
	r.data_size = 40000000;
	r.encrypted = false;
	r.pg_version = 16;
	r.system_id = 7445713298046287125ULL;
	r.wal_seg_size = 16 * 1024 * 1024;
	return r;
}

static backup_record good(void)
{
	return record("20261206T224100Z", 1796596860.25, 1796596999.5, 0x3000028, 0x3000100);
}

static bool records_equal(const backup_record *a, const backup_record *b)
{
	return strcmp(a->label, b->label) == 0 && strcmp(a->source, b->source) == 0 &&
	       strcmp(a->source_role, b->source_role) == 0 && a->timeline == b->timeline &&
	       a->start_lsn == b->start_lsn && a->stop_lsn == b->stop_lsn && a->start_time == b->start_time &&
	       a->stop_time == b->stop_time && a->size == b->size && a->data_size == b->data_size &&
	       strcmp(a->compression, b->compression) == 0 && a->encrypted == b->encrypted &&
	       a->pg_version == b->pg_version && a->system_id == b->system_id && a->wal_seg_size == b->wal_seg_size;
}

/* Parses text, expecting a refusal whose message holds want; the record must be left as it was. */
static void assert_refused(const char *text, size_t len, const char *want)
{
	backup_record r = good(), before = good();
	fl_err err = {0};
	CU_ASSERT_EQUAL(catalog_record_parse(text, len, &r, &err), -1);
	CU_ASSERT_EQUAL(err.code, FL_ERR_CONFIG);
	CU_ASSERT_PTR_NOT_NULL(strstr(err.msg, want));
	CU_ASSERT_TRUE(records_equal(&r, &before));
	if (strstr(err.msg, want) == NULL)
		fprintf(stderr, "\n  expected \"%s\" in \"%s\"\n", want, err.msg);
}

/* ---- labels ---- */

static void test_label_make_spells_utc_seconds(void)
{
	static const struct {
		double t;
		const char *label;
	} rows[] = {
		{0, "19700101T000000Z"},
		{1796596860, "20261206T224100Z"},
		{1796596860.999, "20261206T224100Z"}, /* the fraction is dropped, not rounded */
		{1709251199, "20240229T235959Z"},
		{951782400, "20000229T000000Z"},
		{-1, "19691231T235959Z"},
		{-0.5, "19691231T235959Z"},
		{253402300799, "99991231T235959Z"},
		{-62167219200, "00000101T000000Z"},
		{253402300800, ""},
		{-62167219201, ""},
		{NAN, ""},
		{INFINITY, ""},
		{-INFINITY, ""},
		{1e300, ""},
	};
	for (unsigned i = 0; i < sizeof rows / sizeof rows[0]; i++) {
		char buf[CATALOG_LABEL_MAX];
		memset(buf, 'x', sizeof buf);
		catalog_label_make(rows[i].t, buf);
		CU_ASSERT_STRING_EQUAL(buf, rows[i].label);
		CU_ASSERT_EQUAL(catalog_label_valid(buf), rows[i].label[0] != '\0');
	}
}

static void test_label_valid_only_for_a_real_utc_time(void)
{
	static const struct {
		const char *label;
		bool valid;
	} rows[] = {
		{"20261206T224100Z", true},
		{"20240229T000000Z", true},  /* leap year */
		{"20000229T120000Z", true},  /* divisible by 400: leap */
		{"20230229T000000Z", false}, /* not a leap year */
		{"19000229T000000Z", false}, /* divisible by 100, not 400 */
		{"20260230T000000Z", false},
		{"20260431T000000Z", false},
		{"20260131T000000Z", true},
		{"20260430T000000Z", true},
		{"20261231T235959Z", true},
		{"00000101T000000Z", true},
		{"99991231T235959Z", true},
		{"20261206T240000Z", false}, /* 24:00 */
		{"20261206T236000Z", false},
		{"20261206T235960Z", false}, /* no leap second */
		{"20261306T000000Z", false},
		{"20260006T000000Z", false},
		{"20261200T000000Z", false},
		{"20261206T224100z", false}, /* lowercase z */
		{"20261206t224100Z", false}, /* lowercase t */
		{"20261206 224100Z", false},
		{"20261206T224100", false},
		{"20261206T224100Z ", false},
		{" 20261206T224100Z", false},
		{"20261206T224100ZZ", false},
		{"2026120T6224100Z", false},
		{"2026-12-06T22:41:00Z", false},
		{"2026120aT224100Z", false},
		{"-0261206T224100Z", false},
		{"20261206T22410-Z", false},
		{"2026+206T224100Z", false},
		{"../../etc/passwdZ", false},
		{"", false},
		{"garbage", false},
		{NULL, false},
	};
	for (unsigned i = 0; i < sizeof rows / sizeof rows[0]; i++) {
		CU_ASSERT_EQUAL(catalog_label_valid(rows[i].label), rows[i].valid);
		if (catalog_label_valid(rows[i].label) != rows[i].valid)
			fprintf(stderr, "\n  label \"%s\"\n", rows[i].label ? rows[i].label : "(null)");
	}
}

/* ---- backup.json written and read ---- */

static const char good_json[] = "{\n"
				"  \"compression\": \"zstd\",\n"
				"  \"data_size\": 40000000,\n"
				"  \"encrypted\": false,\n"
				"  \"format\": 1,\n"
				"  \"label\": \"20261206T224100Z\",\n"
				"  \"pg_version\": 16,\n"
				"  \"size\": 1234567,\n"
				"  \"source\": \"node-2\",\n"
				"  \"source_role\": \"replica\",\n"
				"  \"start_lsn\": \"0/3000028\",\n"
				"  \"start_time\": 1796596860.25,\n"
				"  \"stop_lsn\": \"0/3000100\",\n"
				"  \"stop_time\": 1796596999.5,\n"
				"  \"system_id\": \"7445713298046287125\",\n"
				"  \"timeline\": 3,\n"
				"  \"wal_seg_size\": 16777216\n"
				"}\n";

static const char *const keys[] = {"compression", "data_size", "encrypted",   "format",      "label",      "pg_version",
				   "size",        "source",    "source_role", "start_lsn",   "start_time", "stop_lsn",
				   "stop_time",   "system_id", "timeline",    "wal_seg_size"};
#define N_KEYS (sizeof keys / sizeof keys[0])

static void test_json_is_pretty_sorted_and_names_every_field(void)
{
	backup_record r = good();
	char *text = catalog_record_json(&r);
	CU_ASSERT_PTR_NOT_NULL_FATAL(text);
	CU_ASSERT_STRING_EQUAL(text, good_json);
	free(text);
}

static void test_json_round_trips(void)
{
	backup_record rows[] = {
		good(),
		record("19700101T000000Z", 0, 0, 1, 1),
		record("99991231T235959Z", 253402300799.999, 253402300799.999, 0xFFFFFFFFFFFFFFFFULL,
		       0xFFFFFFFFFFFFFFFFULL),
		record("20240229T235959Z", 1709251199.123456789, 1709254799.987654321, 0x100000000ULL,
		       0xABCDEF0123456789ULL),
	};
	rows[1].timeline = 1;
	rows[1].size = 0;
	rows[1].data_size = 0;
	rows[1].pg_version = 10;
	rows[1].system_id = 1;
	rows[1].wal_seg_size = 1 << 20;
	snprintf(rows[1].source_role, sizeof rows[1].source_role, "primary");
	snprintf(rows[1].compression, sizeof rows[1].compression, "none");
	rows[1].encrypted = true;
	rows[2].timeline = UINT32_MAX;
	rows[2].size = INT64_MAX;
	rows[2].data_size = INT64_MAX;
	rows[2].pg_version = 99;
	rows[2].system_id = UINT64_MAX;
	rows[2].wal_seg_size = 1 << 30;
	memset(rows[2].source, 'n', sizeof rows[2].source - 1);
	snprintf(rows[2].compression, sizeof rows[2].compression, "gzip");
	snprintf(rows[3].source, sizeof rows[3].source, "nœud-ü \"quoted\" \\ back");
	for (unsigned i = 0; i < sizeof rows / sizeof rows[0]; i++) {
		char *text = catalog_record_json(&rows[i]);
		CU_ASSERT_PTR_NOT_NULL_FATAL(text);
		backup_record back;
		memset(&back, 0xA5, sizeof back);
		fl_err err = {0};
		CU_ASSERT_EQUAL(catalog_record_parse(text, strlen(text), &back, &err), 0);
		CU_ASSERT_TRUE(records_equal(&rows[i], &back));
		if (!records_equal(&rows[i], &back))
			fprintf(stderr, "\n  row %u: %s\n%s", i, err.msg, text);
		char *again = catalog_record_json(&back);
		CU_ASSERT_PTR_NOT_NULL_FATAL(again);
		CU_ASSERT_STRING_EQUAL(again, text);
		free(again);
		free(text);
	}
}

static void test_json_of_a_record_json_cannot_hold_is_null(void)
{
	backup_record r = good();
	r.start_time = NAN;
	CU_ASSERT_PTR_NULL(catalog_record_json(&r));
	r = good();
	r.stop_time = INFINITY;
	CU_ASSERT_PTR_NULL(catalog_record_json(&r));
	r = good();
	snprintf(r.source, sizeof r.source, "bad\xff");
	CU_ASSERT_PTR_NULL(catalog_record_json(&r));
}

static void test_json_reads_a_written_file(void)
{
	backup_record r;
	fl_err err = {0};
	CU_ASSERT_EQUAL(catalog_record_parse(good_json, strlen(good_json), &r, &err), 0);
	backup_record want = good();
	CU_ASSERT_TRUE(records_equal(&r, &want));
	/* Compact, in another order, times as integers, unknown keys: the same record. */
	static const char other[] =
		"{\"wal_seg_size\":16777216,\"timeline\":3,\"system_id\":\"7445713298046287125\",\"stop_time\":"
		"1796596999,"
		"\"stop_lsn\":\"0/3000100\",\"start_time\":1796596860,\"start_lsn\":\"0/"
		"3000028\",\"source_role\":\"replica\","
		"\"source\":\"node-2\",\"size\":1234567,\"pg_version\":16,\"label\":\"20261206T224100Z\",\"format\":1,"
		"\"encrypted\":true,\"data_size\":40000000,\"compression\":\"zstd\",\"start\":\"2026-12-06T22:41:00Z\","
		"\"note\":{\"by\":\"someone\"}}";
	CU_ASSERT_EQUAL(catalog_record_parse(other, strlen(other), &r, &err), 0);
	CU_ASSERT_EQUAL(r.start_time, 1796596860.0);
	CU_ASSERT_EQUAL(r.stop_time, 1796596999.0);
	CU_ASSERT_TRUE(r.encrypted);
	/* Lowercase hexadecimal is PostgreSQL's LSN too. */
	json_t *o = json_loads(good_json, 0, NULL);
	json_object_set_new(o, "start_lsn", json_string("a/bc"));
	json_object_set_new(o, "stop_lsn", json_string("B/0"));
	char *text = json_dumps(o, 0);
	CU_ASSERT_EQUAL(catalog_record_parse(text, strlen(text), &r, &err), 0);
	CU_ASSERT_EQUAL(r.start_lsn, 0xA000000BCULL);
	CU_ASSERT_EQUAL(r.stop_lsn, 0xB00000000ULL);
	free(text);
	json_decref(o);
}

/* good_json with key set to value (JSON text), or removed when value is NULL; NULL when jansson refuses value. */
static char *with(const char *key, const char *value)
{
	json_t *o = json_loads(good_json, 0, NULL);
	json_t *v = value ? json_loads(value, JSON_DECODE_ANY | JSON_ALLOW_NUL, NULL) : NULL;
	if (value != NULL && v == NULL) {
		json_decref(o);
		return NULL;
	}
	if (value == NULL)
		json_object_del(o, key);
	else
		json_object_set_new(o, key, v);
	char *text = json_dumps(o, JSON_COMPACT | JSON_ALLOW_NUL);
	json_decref(o);
	return text;
}

static void test_each_missing_field_is_named(void)
{
	for (unsigned i = 0; i < N_KEYS; i++) {
		char *text = with(keys[i], NULL), want[64];
		snprintf(want, sizeof want, "backup.json: %s is missing", keys[i]);
		assert_refused(text, strlen(text), want);
		free(text);
	}
}

static void test_each_field_of_the_wrong_type_is_named(void)
{
	/* Every key as null, and as a value of another type. */
	static const struct {
		const char *key, *value, *want;
	} rows[] = {
		{"compression", "1", "backup.json: compression is not a string"},
		{"data_size", "\"1\"", "backup.json: data_size is not an integer"},
		{"data_size", "1.0", "backup.json: data_size is not an integer"},
		{"encrypted", "0", "backup.json: encrypted is not true or false"},
		{"encrypted", "\"true\"", "backup.json: encrypted is not true or false"},
		{"format", "\"1\"", "backup.json: format is not an integer"},
		{"format", "1.0", "backup.json: format is not an integer"},
		{"label", "20261206", "backup.json: label is not a string"},
		{"pg_version", "16.0", "backup.json: pg_version is not an integer"},
		{"pg_version", "\"16\"", "backup.json: pg_version is not an integer"},
		{"size", "[1]", "backup.json: size is not an integer"},
		{"source", "{}", "backup.json: source is not a string"},
		{"source_role", "true", "backup.json: source_role is not a string"},
		{"start_lsn", "50331688", "backup.json: start_lsn is not a string"},
		{"start_time", "\"2026-12-06T22:41:00Z\"", "backup.json: start_time is not a number"},
		{"stop_lsn", "[\"0/3000100\"]", "backup.json: stop_lsn is not a string"},
		{"stop_time", "false", "backup.json: stop_time is not a number"},
		{"system_id", "7445713298046287125", "backup.json: system_id is not a string"},
		{"timeline", "3.0", "backup.json: timeline is not an integer"},
		{"timeline", "\"3\"", "backup.json: timeline is not an integer"},
		{"wal_seg_size", "16777216.0", "backup.json: wal_seg_size is not an integer"},
	};
	for (unsigned i = 0; i < sizeof rows / sizeof rows[0]; i++) {
		char *text = with(rows[i].key, rows[i].value);
		assert_refused(text, strlen(text), rows[i].want);
		free(text);
	}
	for (unsigned i = 0; i < N_KEYS; i++) {
		char *text = with(keys[i], "null"), want[64];
		snprintf(want, sizeof want, "backup.json: %s is not ", keys[i]);
		assert_refused(text, strlen(text), want);
		free(text);
	}
}

static void test_each_field_out_of_range_is_named(void)
{
	static const struct {
		const char *key, *value, *want; /* want NULL: accepted */
	} rows[] = {
		{"format", "0", "backup.json: format 0 is not 1, the one this version reads"},
		{"format", "2", "backup.json: format 2 is not 1, the one this version reads\nHINT: "},
		{"format", "-1", "backup.json: format -1 is not 1"},
		{"label", "\"2026-12-06\"", "backup.json: label \"2026-12-06\" is not a label (YYYYMMDDTHHMMSSZ, UTC)"},
		{"label", "\"20261206T240000Z\"", "backup.json: label \"20261206T240000Z\" is not a label"},
		{"label", "\"20261206t224100z\"", "backup.json: label \"20261206t224100z\" is not a label"},
		{"label", "\"\"", "backup.json: label is empty"},
		{"label", "\"20230229T000000Z\"", "backup.json: label \"20230229T000000Z\" is not a label"},
		{"label", "\"20240229T000000Z\"", NULL},
		{"source", "\"\"", "backup.json: source is empty"},
		{"source", "\"node\\n2\"", "backup.json: source holds a control character"},
		{"source", "\"node\\u007f\"", "backup.json: source holds a control character"},
		{"source", "\"node\\u0000x\"", "backup.json: not JSON"},
		{"source", "\"n\"", NULL},
		{"source_role", "\"\"", "backup.json: source_role is empty"},
		{"source_role", "\"standby\"", "backup.json: source_role \"standby\" is neither replica nor primary"},
		{"source_role", "\"Primary\"", "backup.json: source_role \"Primary\" is neither replica nor primary"},
		{"source_role", "\"primary\"", NULL},
		{"compression", "\"lz4\"", "backup.json: compression \"lz4\" is none of zstd, gzip, none"},
		{"compression", "\"ZSTD\"", "backup.json: compression \"ZSTD\" is none of zstd, gzip, none"},
		{"compression", "\"\"", "backup.json: compression is empty"},
		{"compression", "\"gzip\"", NULL},
		{"compression", "\"none\"", NULL},
		{"timeline", "0", "backup.json: timeline 0 is out of range 1..4294967295"},
		{"timeline", "-1", "backup.json: timeline -1 is out of range 1..4294967295"},
		{"timeline", "4294967296", "backup.json: timeline 4294967296 is out of range 1..4294967295"},
		{"timeline", "4294967295", NULL},
		{"timeline", "1", NULL},
		{"start_lsn", "\"0/0\"", "backup.json: start_lsn 0/0 is not a valid WAL position"},
		{"start_lsn", "\"0/3000200\"", "backup.json: stop_lsn 0/3000100 is before start_lsn 0/3000200"},
		{"start_lsn", "\"0/3000100\"", NULL},
		{"start_lsn", "\"x\"", "backup.json: start_lsn \"x\" is not a WAL position (X/X)"},
		{"start_lsn", "\"0x1/2\"", "backup.json: start_lsn \"0x1/2\" is not a WAL position"},
		{"start_lsn", "\"-1/2\"", "backup.json: start_lsn \"-1/2\" is not a WAL position"},
		{"start_lsn", "\"+1/2\"", "backup.json: start_lsn \"+1/2\" is not a WAL position"},
		{"start_lsn", "\" 0/1\"", "backup.json: start_lsn \" 0/1\" is not a WAL position"},
		{"start_lsn", "\"0/ 1\"", "backup.json: start_lsn \"0/ 1\" is not a WAL position"},
		{"start_lsn", "\"0/1 \"", "backup.json: start_lsn \"0/1 \" is not a WAL position"},
		{"start_lsn", "\"1/\"", "backup.json: start_lsn \"1/\" is not a WAL position"},
		{"start_lsn", "\"/1\"", "backup.json: start_lsn \"/1\" is not a WAL position"},
		{"start_lsn", "\"0/1/2\"", "backup.json: start_lsn \"0/1/2\" is not a WAL position"},
		{"start_lsn", "\"G/1\"", "backup.json: start_lsn \"G/1\" is not a WAL position"},
		{"start_lsn", "\"0/3000028\"", NULL},
		{"stop_lsn", "\"123456789/0\"", "backup.json: stop_lsn \"123456789/0\" is not a WAL position"},
		{"stop_lsn", "\"0/100000000\"", "backup.json: stop_lsn \"0/100000000\" is not a WAL position"},
		{"stop_lsn", "\"FFFFFFFF/FFFFFFFF\"", NULL},
		{"stop_lsn", "\"0/3000027\"", "backup.json: stop_lsn 0/3000027 is before start_lsn 0/3000028"},
		{"stop_lsn", "\"0/3000028\"", NULL},
		{"stop_lsn", "\"\"", "backup.json: stop_lsn is empty"},
		{"start_time", "-1", "backup.json: start_time -1 is out of range"},
		{"start_time", "-0.001", "backup.json: start_time -0.001 is out of range"},
		{"start_time", "253402300800", "backup.json: start_time 253402300800 is out of range"},
		{"start_time", "1e300", "backup.json: start_time 1.0000000000000001e+300 is out of range"},
		{"start_time", "1796597000", "backup.json: stop_time 1796596999.5 is before start_time 1796597000"},
		{"start_time", "1796596999.5", NULL},
		{"start_time", "0", NULL},
		{"stop_time", "253402300799.5", NULL},
		{"stop_time", "253402300800.0", "backup.json: stop_time 253402300800 is out of range"},
		{"stop_time", "1796596860.24",
		 "backup.json: stop_time 1796596860.24 is before start_time 1796596860.25"},
		{"size", "-1", "backup.json: size -1 is out of range 0..9223372036854775807"},
		{"size", "0", NULL},
		{"size", "9223372036854775807", NULL},
		{"size", "9223372036854775808", "backup.json: not JSON"},
		{"data_size", "-5", "backup.json: data_size -5 is out of range 0..9223372036854775807"},
		{"data_size", "0", NULL},
		{"pg_version", "9", "backup.json: pg_version 9 is out of range 10..99"},
		{"pg_version", "100", "backup.json: pg_version 100 is out of range 10..99"},
		{"pg_version", "160000", "backup.json: pg_version 160000 is out of range 10..99"},
		{"pg_version", "10", NULL},
		{"pg_version", "99", NULL},
		{"system_id", "\"0\"", "backup.json: system_id \"0\" is not a database system identifier"},
		{"system_id", "\"007\"", "backup.json: system_id \"007\" is not a database system identifier"},
		{"system_id", "\"-1\"", "backup.json: system_id \"-1\" is not a database system identifier"},
		{"system_id", "\"+1\"", "backup.json: system_id \"+1\" is not a database system identifier"},
		{"system_id", "\"12a\"", "backup.json: system_id \"12a\" is not a database system identifier"},
		{"system_id", "\"1.5\"", "backup.json: system_id \"1.5\" is not a database system identifier"},
		{"system_id", "\" 1\"", "backup.json: system_id \" 1\" is not a database system identifier"},
		{"system_id", "\"18446744073709551616\"",
		 "backup.json: system_id \"18446744073709551616\" is not a database system identifier"},
		{"system_id", "\"99999999999999999999\"",
		 "backup.json: system_id \"99999999999999999999\" is not a database system identifier"},
		{"system_id", "\"\"", "backup.json: system_id is empty"},
		{"system_id", "\"18446744073709551615\"", NULL},
		{"system_id", "\"1\"", NULL},
		{"wal_seg_size", "524288", "backup.json: wal_seg_size 524288 is out of range 1048576..1073741824"},
		{"wal_seg_size", "2147483648",
		 "backup.json: wal_seg_size 2147483648 is out of range 1048576..1073741824"},
		{"wal_seg_size", "0", "backup.json: wal_seg_size 0 is out of range"},
		{"wal_seg_size", "-16777216", "backup.json: wal_seg_size -16777216 is out of range"},
		{"wal_seg_size", "3145728", "backup.json: wal_seg_size 3145728 is not a power of two"},
		{"wal_seg_size", "1073741823", "backup.json: wal_seg_size 1073741823 is not a power of two"},
		{"wal_seg_size", "1048577", "backup.json: wal_seg_size 1048577 is not a power of two"},
		{"wal_seg_size", "1048576", NULL},
		{"wal_seg_size", "1073741824", NULL},
		{"wal_seg_size", "67108864", NULL},
	};
	for (unsigned i = 0; i < sizeof rows / sizeof rows[0]; i++) {
		char *text = with(rows[i].key, rows[i].value);
		if (text == NULL) {
			/* A value jansson itself refuses: written by hand. */
			char buf[512];
			snprintf(buf, sizeof buf, "{\"%s\": %s}", rows[i].key, rows[i].value);
			text = strdup(buf);
		}
		if (rows[i].want) {
			assert_refused(text, strlen(text), rows[i].want);
		} else {
			backup_record r;
			fl_err err = {0};
			CU_ASSERT_EQUAL(catalog_record_parse(text, strlen(text), &r, &err), 0);
			if (err.msg[0])
				fprintf(stderr, "\n  %s = %s: %s\n", rows[i].key, rows[i].value, err.msg);
		}
		free(text);
	}
}

static void test_each_string_too_long_is_refused_not_cut(void)
{
	static const struct {
		const char *key;
		size_t len;
		char fill;
		const char *want;
	} rows[] = {
		{"label", CATALOG_LABEL_MAX, '1', "backup.json: label is too long (32 bytes, at most 31)"},
		{"label", CATALOG_LABEL_MAX - 1, '1',
		 "backup.json: label \"1111111111111111111111111111111\" is not a label"},
		{"source", 64, 'n', "backup.json: source is too long (64 bytes, at most 63)"},
		{"source", 1000, 'n', "backup.json: source is too long (1000 bytes, at most 63)"},
		{"source", 63, 'n', NULL},
		{"source_role", 16, 'r', "backup.json: source_role is too long (16 bytes, at most 15)"},
		{"source_role", 15, 'r', "backup.json: source_role \"rrrrrrrrrrrrrrr\" is neither replica nor primary"},
		{"compression", 8, 'z', "backup.json: compression is too long (8 bytes, at most 7)"},
		{"compression", 7, 'z', "backup.json: compression \"zzzzzzz\" is none of zstd, gzip, none"},
		{"start_lsn", 24, '0', "backup.json: start_lsn is too long (24 bytes, at most 23)"},
		{"start_lsn", 23, '0', "backup.json: start_lsn \"00000000000000000000000\" is not a WAL position"},
		{"stop_lsn", 24, '0', "backup.json: stop_lsn is too long (24 bytes, at most 23)"},
		{"system_id", 24, '9', "backup.json: system_id is too long (24 bytes, at most 23)"},
		{"system_id", 23, '9', "backup.json: system_id \"99999999999999999999999\" is not a database system"},
	};
	for (unsigned i = 0; i < sizeof rows / sizeof rows[0]; i++) {
		char *value = malloc(rows[i].len + 3);
		value[0] = '"';
		memset(value + 1, rows[i].fill, rows[i].len);
		memcpy(value + 1 + rows[i].len, "\"", 2);
		char *text = with(rows[i].key, value);
		if (rows[i].want) {
			assert_refused(text, strlen(text), rows[i].want);
		} else {
			backup_record r;
			CU_ASSERT_EQUAL(catalog_record_parse(text, strlen(text), &r, NULL), 0);
			CU_ASSERT_EQUAL(strlen(r.source), rows[i].len);
		}
		free(text);
		free(value);
	}
	/* Length is bytes: 32 two-byte characters do not fit 64. */
	char value[200] = "\"";
	for (int i = 0; i < 32; i++)
		strcat(value, "\xc3\xa9");
	strcat(value, "\"");
	char *text = with("source", value);
	assert_refused(text, strlen(text), "backup.json: source is too long (64 bytes, at most 63)");
	free(text);
}

static void test_malformed_json_is_refused(void)
{
	static const struct {
		const char *text;
		const char *want;
	} rows[] = {
		{"", "backup.json: not JSON: "},
		{"   ", "backup.json: not JSON: "},
		{"{", "backup.json: not JSON: "},
		{"{\"format\": 1,", "backup.json: not JSON: "},
		{"{\"format\": 1}}", "backup.json: not JSON: "},
		{"{\"format\": 1} x", "backup.json: not JSON: "},
		{"{\"format\": 1, \"format\": 1}", "backup.json: not JSON: "},
		{"{'format': 1}", "backup.json: not JSON: "},
		{"{\"format\": NaN}", "backup.json: not JSON: "},
		{"{\"source\": \"\xff\"}", "backup.json: not JSON: "},
		{"1", "backup.json: not JSON: "},
		{"\"text\"", "backup.json: not JSON: "},
		{"null", "backup.json: not JSON: "},
		{"[]", "backup.json: not a JSON object"},
		{"[{\"format\": 1}]", "backup.json: not a JSON object"},
		{"{}", "backup.json: format is missing"},
		{"garbage", "backup.json: not JSON: "},
	};
	for (unsigned i = 0; i < sizeof rows / sizeof rows[0]; i++)
		assert_refused(rows[i].text, strlen(rows[i].text), rows[i].want);
	/* Where the error is. */
	fl_err err = {0};
	backup_record r;
	CU_ASSERT_EQUAL(catalog_record_parse("{\n\"a\": }", 8, &r, &err), -1);
	CU_ASSERT_PTR_NOT_NULL(strstr(err.msg, "(line 2, column"));
	/* Cut anywhere, the file is refused: written last, it may be half written. */
	size_t n = strlen(good_json);
	for (size_t len = 0; len + 1 < n; len++)
		assert_refused(good_json, len, "backup.json: not JSON: ");
	/* len counts: what follows it is not read, a NUL within it is refused. */
	char *copy = malloc(n + 8);
	memcpy(copy, good_json, n);
	memcpy(copy + n, "garbage", 8);
	CU_ASSERT_EQUAL(catalog_record_parse(copy, n, &r, NULL), 0);
	copy[n] = '\0';
	assert_refused(copy, n + 1, "backup.json: not JSON: ");
	free(copy);
	assert_refused(NULL, 0, "backup.json: not JSON: ");
	assert_refused(NULL, 10, "backup.json: not JSON: ");
	/* Without an error object, still -1. */
	CU_ASSERT_EQUAL(catalog_record_parse("{", 1, &r, NULL), -1);
	char *text = with("timeline", "0");
	CU_ASSERT_EQUAL(catalog_record_parse(text, strlen(text), &r, NULL), -1);
	free(text);
	text = with("timeline", NULL);
	CU_ASSERT_EQUAL(catalog_record_parse(text, strlen(text), &r, NULL), -1);
	free(text);
}

/* ---- order ---- */

static void test_sort_orders_by_start_then_label(void)
{
	backup_record r[] = {
		record("20261206T030000Z", DAY + 3 * HOUR, DAY + 4 * HOUR, 7, 8),
		record("20261206T010000Z", DAY + 1 * HOUR, DAY + 9 * HOUR, 3, 4),
		record("20261206T020001Z", DAY + 2 * HOUR, DAY + 3 * HOUR, 6, 6),
		record("20261206T020000Z", DAY + 2 * HOUR, DAY + 2 * HOUR, 5, 5),
		record("20261206T000000Z", DAY + 0.5, DAY + HOUR, 1, 2),
	};
	catalog_sort(r, 5);
	static const char *const want[] = {"20261206T000000Z", "20261206T010000Z", "20261206T020000Z",
					   "20261206T020001Z", "20261206T030000Z"};
	for (int i = 0; i < 5; i++)
		CU_ASSERT_STRING_EQUAL(r[i].label, want[i]);
	/* Sorted stays sorted. */
	catalog_sort(r, 5);
	for (int i = 0; i < 5; i++)
		CU_ASSERT_STRING_EQUAL(r[i].label, want[i]);
	backup_record one = record("20261206T000000Z", DAY, DAY, 1, 1);
	catalog_sort(&one, 1);
	CU_ASSERT_STRING_EQUAL(one.label, "20261206T000000Z");
	catalog_sort(r, 0);
	catalog_sort(NULL, 0);
	catalog_sort(NULL, 3);
	CU_ASSERT_STRING_EQUAL(r[0].label, want[0]);
}

/* ---- retention ---- */

#define MAX_ROWS 8

/*
 * Backups a day apart, from DAY on, each taking an hour (stop: start +
 * HOUR) unless stops says otherwise (hours after DAY).
 */
static int catalog_of(backup_record *r, int n, const double *stops)
{
	for (int i = 0; i < n; i++) {
		char label[CATALOG_LABEL_MAX];
		double start = DAY + i * 24 * HOUR;
		catalog_label_make(start, label);
		r[i] = record(label, start, stops && stops[i] > 0 ? DAY + stops[i] * HOUR : start + HOUR,
			      0x1000000ULL * (uint64_t)(i + 1), 0x1000000ULL * (uint64_t)(i + 1) + 0x100);
	}
	return n;
}

static void test_retention_keeps_by_count_window_both_or_all(void)
{
	/* now: the start of the last backup of six, plus a day: DAY + 6 days. */
	const double now = DAY + 6 * 24 * HOUR, day = 24 * HOUR;
	static const double overlapping[MAX_ROWS] = {1, 100, 49, 73, 97, 121}; /* #1 ends after #2, #3 and #4 */
	const struct {
		const char *name;
		int n;
		const double *stops;
		int full;
		double window;
		const char *keep; /* one character a backup, oldest first: K kept, . not */
	} rows[] = {
		{"no backup", 0, NULL, 2, 0, ""},
		{"one backup, no rule", 1, NULL, 0, 0, "K"},
		{"one backup, count", 1, NULL, 1, 0, "K"},
		{"one backup, count beyond", 1, NULL, 5, 0, "K"},
		{"one backup, window it is older than", 1, NULL, 0, day, "K"},
		{"one backup, window it is within", 1, NULL, 0, 30 * day, "K"},
		{"no rule keeps all", 6, NULL, 0, 0, "KKKKKK"},
		{"negative rules are none", 6, NULL, -1, -day, "KKKKKK"},
		{"count 1", 6, NULL, 1, 0, ".....K"},
		{"count 2", 6, NULL, 2, 0, "....KK"},
		{"count equal to n", 6, NULL, 6, 0, "KKKKKK"},
		{"count beyond n", 6, NULL, 60, 0, "KKKKKK"},
		/* now - 2.5 days: #3 ended at day 3 + 1 h, the newest complete by then. */
		{"window", 6, NULL, 0, 2.5 * day, "...KKK"},
		/* now - (2 days + 23 h) is exactly #3's stop: it counts as complete. */
		{"window edge exactly at a stop", 6, NULL, 0, 3 * day - HOUR, "...KKK"},
		{"window edge just before a stop", 6, NULL, 0, 3 * day - HOUR + 1, "..KKKK"},
		{"window shorter than the newest", 6, NULL, 0, 60, ".....K"},
		{"window none is old enough for", 6, NULL, 0, 7 * day, "KKKKKK"},
		{"window where only the oldest is old enough", 6, NULL, 0, 6 * day - HOUR, "KKKKKK"},
		{"count and window: the window keeps more", 6, NULL, 1, 2.5 * day, "...KKK"},
		{"count and window: the count keeps more", 6, NULL, 5, 2.5 * day, ".KKKKK"},
		{"count and window agree", 6, NULL, 3, 2.5 * day, "...KKK"},
		{"count and a window of none old enough", 6, NULL, 1, 30 * day, "KKKKKK"},
		{"count and a short window", 6, NULL, 2, 60, "....KK"},
		/* #1 ends at hour 100, after #2 (49) and #3 (73): the newest complete by now - 3.5 days (hour 60) is #2. */
		{"window over overlapping backups", 6, overlapping, 0, 3.5 * day, "..KKKK"},
	};
	for (unsigned i = 0; i < sizeof rows / sizeof rows[0]; i++) {
		backup_record r[MAX_ROWS];
		bool keep[MAX_ROWS];
		memset(keep, 0xff, sizeof keep);
		int n = catalog_of(r, rows[i].n, rows[i].stops);
		retention_policy p = {.full = rows[i].full, .window = rows[i].window};
		int kept = retention_plan(r, n, &p, now, keep);
		char got[MAX_ROWS + 1] = {0};
		int want_kept = 0;
		for (int j = 0; j < n; j++) {
			got[j] = keep[j] ? 'K' : '.';
			want_kept += rows[i].keep[j] == 'K';
		}
		CU_ASSERT_STRING_EQUAL(got, rows[i].keep);
		CU_ASSERT_EQUAL(kept, want_kept);
		if (strcmp(got, rows[i].keep) != 0 || kept != want_kept)
			fprintf(stderr, "\n  %s: kept %s (%d), want %s\n", rows[i].name, got, kept, rows[i].keep);
	}
}

static void test_retention_without_a_policy_keeps_all(void)
{
	backup_record r[3];
	bool keep[3] = {false, false, false};
	catalog_of(r, 3, NULL);
	CU_ASSERT_EQUAL(retention_plan(r, 3, NULL, DAY, keep), 3);
	CU_ASSERT_TRUE(keep[0] && keep[1] && keep[2]);
	/* n = 0 writes nothing. */
	bool untouched = false;
	retention_policy p = {.full = 1};
	CU_ASSERT_EQUAL(retention_plan(r, 0, &p, DAY, &untouched), 0);
	CU_ASSERT_FALSE(untouched);
	CU_ASSERT_EQUAL(retention_plan(NULL, -1, &p, DAY, NULL), 0);
}

static void test_wal_horizon_is_the_smallest_kept_start(void)
{
	backup_record r[4];
	catalog_of(r, 4, NULL);
	/* A backup taken from a lagging replica may start before an older one. */
	r[2].start_lsn = 0x500;
	const struct {
		bool keep[4];
		uint64_t horizon;
	} rows[] = {
		{{false, false, false, true}, 0x4000000}, {{false, false, true, true}, 0x500},
		{{true, true, true, true}, 0x500},        {{true, true, false, true}, 0x1000000},
		{{false, true, false, true}, 0x2000000},  {{false, false, false, false}, 0},
	};
	for (unsigned i = 0; i < sizeof rows / sizeof rows[0]; i++)
		CU_ASSERT_EQUAL(retention_wal_horizon(r, 4, rows[i].keep), rows[i].horizon);
	CU_ASSERT_EQUAL(retention_wal_horizon(r, 0, rows[0].keep), 0);
	CU_ASSERT_EQUAL(retention_wal_horizon(NULL, 0, NULL), 0);
	/* With the plan: count 2 keeps #2 and #3. */
	bool keep[4];
	retention_policy p = {.full = 2};
	CU_ASSERT_EQUAL(retention_plan(r, 4, &p, DAY + 10 * 24 * HOUR, keep), 2);
	CU_ASSERT_EQUAL(retention_wal_horizon(r, 4, keep), 0x500);
}

/* ---- the backup a restore starts from ---- */

/*
 * Three backups on 2026-12-06: at 01:00 (ends 01:10, 0/3000100), 02:00
 * (ends 02:10, 0/5000100) and 03:00 (ends 03:10, 0/7000100).
 */
static int three(backup_record *r)
{
	for (int i = 0; i < 3; i++) {
		char label[CATALOG_LABEL_MAX];
		double start = DAY + (i + 1) * HOUR;
		catalog_label_make(start, label);
		r[i] = record(label, start, start + 600, 0x1000028ULL + 0x2000000ULL * (uint64_t)(i + 1),
			      0x1000100ULL + 0x2000000ULL * (uint64_t)(i + 1));
	}
	return 3;
}

static void test_pick_finds_the_newest_that_fits(void)
{
	const struct {
		const char *name;
		restore_target t;
		const char *label;
		int index;        /* -1: refused */
		const char *want; /* the message when refused */
	} rows[] = {
		{"latest", {TARGET_LATEST, 0, 0}, NULL, 2, NULL},
		{"latest, labelled", {TARGET_LATEST, 0, 0}, "20261206T010000Z", 0, NULL},
		{"time after all", {TARGET_TIME, DAY + 12 * HOUR, 0}, NULL, 2, NULL},
		{"time exactly at the newest's stop", {TARGET_TIME, DAY + 3 * HOUR + 600, 0}, NULL, 2, NULL},
		{"time just before the newest's stop", {TARGET_TIME, DAY + 3 * HOUR + 599.5, 0}, NULL, 1, NULL},
		{"time between", {TARGET_TIME, DAY + 2.5 * HOUR, 0}, NULL, 1, NULL},
		{"time exactly at the oldest's stop", {TARGET_TIME, DAY + HOUR + 600, 0}, NULL, 0, NULL},
		{"time before every stop",
		 {TARGET_TIME, DAY + HOUR + 599, 0},
		 NULL,
		 -1,
		 "no backup was complete by 2026-12-06 01:09:59 UTC: the oldest, 20261206T010000Z, ends at 2026-12-06 "
		 "01:10:00 UTC"},
		{"time before every start",
		 {TARGET_TIME, DAY - 24 * HOUR, 0},
		 NULL,
		 -1,
		 "no backup was complete by 2026-12-05 00:00:00 UTC: the oldest, 20261206T010000Z, ends at 2026-12-06 "
		 "01:10:00 UTC"},
		{"time no calendar holds",
		 {TARGET_TIME, -1e20, 0},
		 NULL,
		 -1,
		 "no backup was complete by unix time -1e+20: the oldest, 20261206T010000Z"},
		{"time, labelled, fits", {TARGET_TIME, DAY + 2 * HOUR + 600, 0}, "20261206T020000Z", 1, NULL},
		{"time, labelled, older than needed", {TARGET_TIME, DAY + 12 * HOUR, 0}, "20261206T010000Z", 0, NULL},
		{"time, labelled, ends after the target",
		 {TARGET_TIME, DAY + 2 * HOUR + 599, 0},
		 "20261206T020000Z",
		 -1,
		 "backup 20261206T020000Z ends at 2026-12-06 02:10:00 UTC, after the target 2026-12-06 02:09:59 UTC"},
		{"lsn after all", {TARGET_LSN, 0, 0xFFFFFFFFFFFFFFFFULL}, NULL, 2, NULL},
		{"lsn exactly at the newest's stop", {TARGET_LSN, 0, 0x7000100}, NULL, 2, NULL},
		{"lsn just before the newest's stop", {TARGET_LSN, 0, 0x70000FF}, NULL, 1, NULL},
		{"lsn exactly at the oldest's stop", {TARGET_LSN, 0, 0x3000100}, NULL, 0, NULL},
		{"lsn before every stop",
		 {TARGET_LSN, 0, 0x30000FF},
		 NULL,
		 -1,
		 "no backup ends at or before 0/30000FF: the oldest, 20261206T010000Z, ends at 0/3000100"},
		{"lsn zero",
		 {TARGET_LSN, 0, 0},
		 NULL,
		 -1,
		 "no backup ends at or before 0/0: the oldest, 20261206T010000Z, ends at 0/3000100"},
		{"lsn, labelled, fits", {TARGET_LSN, 0, 0x5000100}, "20261206T020000Z", 1, NULL},
		{"lsn, labelled, older than needed", {TARGET_LSN, 0, 0x1500000000ULL}, "20261206T020000Z", 1, NULL},
		{"lsn, labelled, ends after a near target",
		 {TARGET_LSN, 0, 0x50000FF},
		 "20261206T020000Z",
		 -1,
		 "backup 20261206T020000Z ends at 0/5000100, after the target 0/50000FF"},
		{"unknown label",
		 {TARGET_LATEST, 0, 0},
		 "20261206T040000Z",
		 -1,
		 "no backup is labelled \"20261206T040000Z\""},
		{"label that is none", {TARGET_TIME, DAY + 12 * HOUR, 0}, "../x", -1, "no backup is labelled \"../x\""},
		{"empty label", {TARGET_LATEST, 0, 0}, "", -1, "no backup is labelled \"\""},
	};
	for (unsigned i = 0; i < sizeof rows / sizeof rows[0]; i++) {
		backup_record r[3];
		int n = three(r), index = 99;
		fl_err err = {0};
		int rc = catalog_pick(r, n, &rows[i].t, rows[i].label, &index, &err);
		CU_ASSERT_EQUAL(rc, rows[i].index < 0 ? -1 : 0);
		CU_ASSERT_EQUAL(index, rows[i].index);
		if (rows[i].want) {
			CU_ASSERT_EQUAL(err.code, FL_ERR_NOT_FOUND);
			CU_ASSERT_EQUAL(strncmp(err.msg, rows[i].want, strlen(rows[i].want)), 0);
		}
		if (index != rows[i].index || (rows[i].want && strncmp(err.msg, rows[i].want, strlen(rows[i].want))))
			fprintf(stderr, "\n  %s: index %d, \"%s\"\n", rows[i].name, index, err.msg);
	}
}

static void test_pick_takes_the_latest_end_and_the_later_on_ties(void)
{
	backup_record r[3];
	int n = three(r), index = -1;
	/* The oldest, from a slow copy, ends last. */
	r[0].stop_time = DAY + 5 * HOUR;
	r[0].stop_lsn = 0x9000000;
	restore_target latest = {TARGET_LATEST, 0, 0};
	CU_ASSERT_EQUAL(catalog_pick(r, n, &latest, NULL, &index, NULL), 0);
	CU_ASSERT_EQUAL(index, 0);
	restore_target at = {TARGET_TIME, DAY + 4 * HOUR, 0};
	CU_ASSERT_EQUAL(catalog_pick(r, n, &at, NULL, &index, NULL), 0);
	CU_ASSERT_EQUAL(index, 2);
	restore_target lsn = {TARGET_LSN, 0, 0x9000000};
	CU_ASSERT_EQUAL(catalog_pick(r, n, &lsn, NULL, &index, NULL), 0);
	CU_ASSERT_EQUAL(index, 0);
	/* The error names the one that ends first, not the one that started first. */
	fl_err err = {0};
	restore_target early = {TARGET_TIME, DAY, 0};
	CU_ASSERT_EQUAL(catalog_pick(r, n, &early, NULL, &index, &err), -1);
	CU_ASSERT_STRING_EQUAL(err.msg, "no backup was complete by 2026-12-06 00:00:00 UTC: the oldest, "
					"20261206T020000Z, ends at 2026-12-06 02:10:00 UTC");
	restore_target low = {TARGET_LSN, 0, 1};
	CU_ASSERT_EQUAL(catalog_pick(r, n, &low, NULL, &index, &err), -1);
	CU_ASSERT_STRING_EQUAL(err.msg,
			       "no backup ends at or before 0/1: the oldest, 20261206T020000Z, ends at 0/5000100");
	/* For an LSN the measure is WAL, for a time the clock, even where they disagree. */
	three(r);
	r[1].stop_lsn = 0x8000000;
	restore_target far = {TARGET_LSN, 0, 0xA000000};
	CU_ASSERT_EQUAL(catalog_pick(r, n, &far, NULL, &index, NULL), 0);
	CU_ASSERT_EQUAL(index, 1);
	restore_target late = {TARGET_TIME, DAY + 10 * HOUR, 0};
	CU_ASSERT_EQUAL(catalog_pick(r, n, &late, NULL, &index, NULL), 0);
	CU_ASSERT_EQUAL(index, 2);
	/* Ending at the same time or position: the later in the list. */
	three(r);
	r[1].stop_time = r[2].stop_time;
	r[1].stop_lsn = r[2].stop_lsn;
	CU_ASSERT_EQUAL(catalog_pick(r, n, &latest, NULL, &index, NULL), 0);
	CU_ASSERT_EQUAL(index, 2);
	restore_target edge = {TARGET_TIME, r[2].stop_time, 0};
	CU_ASSERT_EQUAL(catalog_pick(r, n, &edge, NULL, &index, NULL), 0);
	CU_ASSERT_EQUAL(index, 2);
	restore_target edge_lsn = {TARGET_LSN, 0, r[2].stop_lsn};
	CU_ASSERT_EQUAL(catalog_pick(r, n, &edge_lsn, NULL, &index, NULL), 0);
	CU_ASSERT_EQUAL(index, 2);
}

static void test_pick_refuses_an_empty_repository_and_bad_targets(void)
{
	backup_record r[3];
	int n = three(r), index = 7;
	fl_err err = {0};
	restore_target latest = {TARGET_LATEST, 0, 0};
	CU_ASSERT_EQUAL(catalog_pick(r, 0, &latest, NULL, &index, &err), -1);
	CU_ASSERT_EQUAL(err.code, FL_ERR_NOT_FOUND);
	CU_ASSERT_STRING_EQUAL(err.msg, "the repository holds no backup");
	CU_ASSERT_EQUAL(index, -1);
	CU_ASSERT_EQUAL(catalog_pick(NULL, 0, &latest, "20261206T010000Z", &index, &err), -1);
	CU_ASSERT_STRING_EQUAL(err.msg, "the repository holds no backup");
	/* No target: the latest. */
	CU_ASSERT_EQUAL(catalog_pick(r, n, NULL, NULL, &index, &err), 0);
	CU_ASSERT_EQUAL(index, 2);
	/* No index wanted. */
	CU_ASSERT_EQUAL(catalog_pick(r, n, &latest, NULL, NULL, NULL), 0);
	CU_ASSERT_EQUAL(catalog_pick(r, n, &latest, "x", NULL, NULL), -1);
	restore_target bad = {(restore_target_kind)42, 0, 0};
	CU_ASSERT_EQUAL(catalog_pick(r, n, &bad, NULL, &index, &err), -1);
	CU_ASSERT_EQUAL(err.code, FL_ERR_INTERNAL);
	CU_ASSERT_EQUAL(index, -1);
	/* A very long label is named, cut. */
	char label[200];
	memset(label, 'a', sizeof label - 1);
	label[sizeof label - 1] = '\0';
	CU_ASSERT_EQUAL(catalog_pick(r, n, &latest, label, &index, &err), -1);
	CU_ASSERT_EQUAL(strlen(err.msg), strlen("no backup is labelled \"\"") + CATALOG_LABEL_MAX);
}

void suite_register(void)
{
	CU_pSuite s = CU_add_suite("catalog", NULL, NULL);
	CU_add_test(s, "label make spells utc seconds", test_label_make_spells_utc_seconds);
	CU_add_test(s, "label valid only for a real utc time", test_label_valid_only_for_a_real_utc_time);
	CU_add_test(s, "json is pretty, sorted and names every field",
		    test_json_is_pretty_sorted_and_names_every_field);
	CU_add_test(s, "json round trips", test_json_round_trips);
	CU_add_test(s, "json of a record json cannot hold is null", test_json_of_a_record_json_cannot_hold_is_null);
	CU_add_test(s, "json reads a written file", test_json_reads_a_written_file);
	CU_add_test(s, "each missing field is named", test_each_missing_field_is_named);
	CU_add_test(s, "each field of the wrong type is named", test_each_field_of_the_wrong_type_is_named);
	CU_add_test(s, "each field out of range is named", test_each_field_out_of_range_is_named);
	CU_add_test(s, "each string too long is refused, not cut", test_each_string_too_long_is_refused_not_cut);
	CU_add_test(s, "malformed json is refused", test_malformed_json_is_refused);
	CU_add_test(s, "sort orders by start, then label", test_sort_orders_by_start_then_label);
	CU_add_test(s, "retention keeps by count, window, both or all",
		    test_retention_keeps_by_count_window_both_or_all);
	CU_add_test(s, "retention without a policy keeps all", test_retention_without_a_policy_keeps_all);
	CU_add_test(s, "wal horizon is the smallest kept start", test_wal_horizon_is_the_smallest_kept_start);
	CU_add_test(s, "pick finds the newest that fits", test_pick_finds_the_newest_that_fits);
	CU_add_test(s, "pick takes the latest end and the later on ties",
		    test_pick_takes_the_latest_end_and_the_later_on_ties);
	CU_add_test(s, "pick refuses an empty repository and bad targets",
		    test_pick_refuses_an_empty_repository_and_bad_targets);
}
