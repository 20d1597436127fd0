/*
 * test_backup: the backup sidecar's source choice and manifest summary
 * (pure), and the repository on a directory of its own: archiving with
 * each compression, the same content again, a different one refused, a
 * damaged file refused on the way back, listing and completing backups,
 * retention's removals.
 */
#include <CUnit/CUnit.h>
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "backup/crypt.h"
#include "backup/manifest.h"
#include "backup/repo.h"
#include "backup/source.h"
#include "cunit_main.h"

/* ---- source_pick ---- */

static member mk(const char *name, const char *role, bool running, bool streaming, uint64_t received)
{
	member m;
	memset(&m, 0, sizeof m);
	snprintf(m.name, sizeof m.name, "%s", name);
	snprintf(m.role, sizeof m.role, "%s", role);
	m.running = running;
	m.streaming = streaming;
	m.received_lsn = m.replayed_lsn = received;
	m.wal_lsn = received;
	snprintf(m.conn_address, sizeof m.conn_address, "%s:5432", name);
	return m;
}

static cluster_view view_of(const char *leader, const member *ms, int n)
{
	cluster_view v;
	memset(&v, 0, sizeof v);
	if (leader) {
		v.has_leader = true;
		snprintf(v.leader, sizeof v.leader, "%s", leader);
	}
	for (int i = 0; i < n; i++)
		v.members[v.n_members++] = ms[i];
	return v;
}

static const char *picked(const cluster_view *v)
{
	const member *m = NULL;
	const char *why = NULL;
	if (source_pick(v, 16 * 1024 * 1024, &m, &why) < 0) {
		CU_ASSERT_PTR_NOT_NULL(why);
		return NULL;
	}
	return m->name;
}

static void test_source(void)
{
	uint64_t top = 100ULL * 1024 * 1024;
	struct {
		const char *leader;
		member ms[3];
		int n;
		const char *want;
	} cases[] = {
		/* The replica that lags least. */
		{"a",
		 {mk("a", "primary", true, false, top), mk("b", "replica", true, true, top - 100),
		  mk("c", "replica", true, true, top - 10)},
		 3,
		 "c"},
		/* Equal lag: by name. */
		{"a",
		 {mk("a", "primary", true, false, top), mk("c", "replica", true, true, top),
		  mk("b", "replica", true, true, top)},
		 3,
		 "b"},
		/* A replica that does not stream, or lags beyond 16 MB, is not fit: the leader. */
		{"a",
		 {mk("a", "primary", true, false, top), mk("b", "replica", true, false, top),
		  mk("c", "replica", true, true, top - 17 * 1024 * 1024)},
		 3,
		 "a"},
		/* A stopped replica is not fit. */
		{"a", {mk("a", "primary", true, false, top), mk("b", "replica", false, true, top)}, 2, "a"},
		/* No leader key: a streaming replica still serves. */
		{NULL, {mk("b", "replica", true, true, top)}, 1, "b"},
		/* No leader, nothing streams: none. */
		{NULL, {mk("b", "replica", true, false, top)}, 1, NULL},
		/* A leader that does not run as a primary, and no replica: none. */
		{"a", {mk("a", "replica", true, false, top)}, 1, NULL},
		{"a", {mk("a", "primary", false, false, top)}, 1, NULL},
	};
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		cluster_view v = view_of(cases[i].leader, cases[i].ms, cases[i].n);
		const char *got = picked(&v);
		if (cases[i].want == NULL) {
			CU_ASSERT_PTR_NULL(got);
		} else if (got == NULL || strcmp(got, cases[i].want) != 0) {
			printf("\ncase %zu: picked %s, want %s\n", i, got ? got : "none", cases[i].want);
			CU_FAIL("source_pick");
		}
	}
	/* A member without a connect address is never picked. */
	member ms[] = {mk("a", "primary", true, false, top), mk("b", "replica", true, true, top)};
	ms[1].conn_address[0] = '\0';
	cluster_view v = view_of("a", ms, 2);
	CU_ASSERT_STRING_EQUAL(picked(&v), "a");
}

/* ---- manifest_parse ---- */

static const char manifest_ok[] =
	"{ \"PostgreSQL-Backup-Manifest-Version\": 1,\n"
	"\"Files\": [\n"
	"{ \"Path\": \"backup_label\", \"Size\": 225, \"Last-Modified\": \"2026-12-06 10:00:00 GMT\" },\n"
	"{ \"Path\": \"base/1/1259\", \"Size\": 8192, \"Last-Modified\": \"2026-12-06 10:00:00 GMT\" }\n"
	"],\n"
	"\"WAL-Ranges\": [\n"
	"{ \"Timeline\": 2, \"Start-LSN\": \"0/5000028\", \"End-LSN\": \"0/5000138\" }\n"
	"],\n"
	"\"Manifest-Checksum\": \"abc\"}\n";

static void test_manifest(void)
{
	manifest_info mi;
	fl_err err = {0};
	CU_ASSERT_EQUAL_FATAL(manifest_parse(manifest_ok, strlen(manifest_ok), &mi, &err), 0);
	CU_ASSERT_EQUAL(mi.timeline, 2);
	CU_ASSERT_EQUAL(mi.start_lsn, 0x5000028);
	CU_ASSERT_EQUAL(mi.end_lsn, 0x5000138);
	CU_ASSERT_EQUAL(mi.files, 2);
	CU_ASSERT_EQUAL(mi.bytes, 225 + 8192);
	/* Two ranges, newest first: the start from the older, the end from the newer. */
	const char two[] = "{\"PostgreSQL-Backup-Manifest-Version\": 1, \"Files\": [{\"Size\": 1}], \"WAL-Ranges\": ["
			   "{\"Timeline\": 3, \"Start-LSN\": \"0/7000000\", \"End-LSN\": \"0/7000100\"},"
			   "{\"Timeline\": 2, \"Start-LSN\": \"0/6FFFF00\", \"End-LSN\": \"0/7000000\"}]}";
	CU_ASSERT_EQUAL_FATAL(manifest_parse(two, strlen(two), &mi, &err), 0);
	CU_ASSERT_EQUAL(mi.timeline, 2);
	CU_ASSERT_EQUAL(mi.start_lsn, 0x6FFFF00);
	CU_ASSERT_EQUAL(mi.end_timeline, 3);
	CU_ASSERT_EQUAL(mi.end_lsn, 0x7000100);
	struct {
		const char *text, *want;
	} bad[] = {
		{"not json", "not JSON"},
		{"{\"Files\": [{\"Size\": 1}], \"WAL-Ranges\": []}", "Version"},
		{"{\"PostgreSQL-Backup-Manifest-Version\": 9, \"Files\": [{\"Size\": 1}]}", "Version"},
		{"{\"PostgreSQL-Backup-Manifest-Version\": 1, \"Files\": []}", "Files"},
		{"{\"PostgreSQL-Backup-Manifest-Version\": 1, \"Files\": [{\"Size\": -1}], \"WAL-Ranges\": "
		 "[{\"Timeline\": 1, \"Start-LSN\": \"0/1\", \"End-LSN\": \"0/2\"}]}",
		 "Files[0].Size"},
		{"{\"PostgreSQL-Backup-Manifest-Version\": 1, \"Files\": [{\"Size\": 1}]}", "WAL-Ranges"},
		{"{\"PostgreSQL-Backup-Manifest-Version\": 1, \"Files\": [{\"Size\": 1}], \"WAL-Ranges\": "
		 "[{\"Timeline\": 0, \"Start-LSN\": \"0/1\", \"End-LSN\": \"0/2\"}]}",
		 "Timeline"},
		{"{\"PostgreSQL-Backup-Manifest-Version\": 1, \"Files\": [{\"Size\": 1}], \"WAL-Ranges\": "
		 "[{\"Timeline\": 1, \"Start-LSN\": \"x\", \"End-LSN\": \"0/2\"}]}",
		 "Start-LSN"},
		{"{\"PostgreSQL-Backup-Manifest-Version\": 1, \"Files\": [{\"Size\": 1}], \"WAL-Ranges\": "
		 "[{\"Timeline\": 1, \"Start-LSN\": \"0/3\", \"End-LSN\": \"0/2\"}]}",
		 "ends before it starts"},
	};
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		fl_err e = {0};
		CU_ASSERT_EQUAL(manifest_parse(bad[i].text, strlen(bad[i].text), &mi, &e), -1);
		if (strstr(e.msg, bad[i].want) == NULL) {
			printf("\nbad manifest %zu: \"%s\" does not say \"%s\"\n", i, e.msg, bad[i].want);
			CU_FAIL("manifest_parse message");
		}
	}
}

/* ---- the repository ---- */

static char tmp[256];

static void rm_rf(const char *path)
{
	char cmd[512];
	snprintf(cmd, sizeof cmd, "rm -rf '%s'", path);
	CU_ASSERT_EQUAL(system(cmd), 0);
}

static repo repo_fresh(void)
{
	snprintf(tmp, sizeof tmp, "/tmp/flotilla-test-repo-XXXXXX");
	CU_ASSERT_PTR_NOT_NULL_FATAL(mkdtemp(tmp));
	repo r;
	fl_err err = {0};
	char path[300];
	snprintf(path, sizeof path, "%s/repo", tmp);
	CU_ASSERT_EQUAL_FATAL(repo_open(&r, path, true, &err), 0);
	return r;
}

static char *segment(size_t len, unsigned seed)
{
	char *d = malloc(len);
	for (size_t i = 0; i < len; i++)
		d[i] = (char)((i * 31 + seed) % 251 * (i % 4096 < 1024));
	return d;
}

static void test_repo_wal(void)
{
	repo r = repo_fresh();
	const char *comps[] = {"zstd", "gzip", "none"};
	const char *names[] = {"000000010000000000000001", "000000010000000000000002", "000000010000000100000003"};
	size_t len = 1024 * 1024;
	for (int i = 0; i < 3; i++) {
		char *d = segment(len, (unsigned)i);
		repo_put_result res;
		fl_err err = {0};
		CU_ASSERT_EQUAL(repo_wal_put(&r, names[i], d, len, comps[i], NULL, &res, &err), 0);
		CU_ASSERT_EQUAL(res, REPO_STORED);
		/* The same content again: accepted, nothing written. */
		CU_ASSERT_EQUAL(repo_wal_put(&r, names[i], d, len, "none", NULL, &res, &err), 0);
		CU_ASSERT_EQUAL(res, REPO_SAME);
		/* Another content: refused, the first kept. */
		d[100] ^= 1;
		CU_ASSERT_EQUAL(repo_wal_put(&r, names[i], d, len, comps[i], NULL, &res, &err), -1);
		CU_ASSERT_EQUAL(err.code, FL_ERR_CONFLICT);
		CU_ASSERT_PTR_NOT_NULL(strstr(err.msg, "different content"));
		d[100] ^= 1;
		char *back = NULL;
		size_t back_len = 0;
		CU_ASSERT_EQUAL_FATAL(repo_wal_get(&r, names[i], NULL, &back, &back_len, &err), 0);
		CU_ASSERT_EQUAL(back_len, len);
		CU_ASSERT(memcmp(back, d, len) == 0);
		free(back);
		free(d);
	}
	/* A history file and a name that is not a WAL file's. */
	repo_put_result res;
	fl_err err = {0};
	CU_ASSERT_EQUAL(repo_wal_put(&r, "00000002.history", "1\t0/3000000\tno recovery target specified\n", 40, "zstd",
				     NULL, &res, &err),
			0);
	CU_ASSERT_EQUAL(repo_wal_put(&r, "../../etc/passwd", "x", 1, "zstd", NULL, &res, &err), -1);
	CU_ASSERT_EQUAL(err.code, FL_ERR_USAGE);
	char *back = NULL;
	size_t back_len = 0;
	CU_ASSERT_EQUAL(repo_wal_get(&r, "000000010000000000000009", NULL, &back, &back_len, &err), -1);
	CU_ASSERT_EQUAL(err.code, FL_ERR_NOT_FOUND);
	/* A damaged file: its checksum says so, naming the file. */
	char path[PATH_MAX];
	CU_ASSERT_EQUAL(repo_wal_path(&r, names[2], path, sizeof path), 0);
	FILE *f = fopen(path, "r+");
	CU_ASSERT_PTR_NOT_NULL_FATAL(f);
	fseek(f, 5000, SEEK_SET);
	fputc('Z', f);
	fclose(f);
	CU_ASSERT_EQUAL(repo_wal_get(&r, names[2], NULL, &back, &back_len, &err), -1);
	CU_ASSERT_PTR_NOT_NULL(strstr(err.msg, "sha256"));
	CU_ASSERT_PTR_NOT_NULL(strstr(err.msg, names[2]));
	/* A header that is not ours. */
	f = fopen(path, "w");
	fputs("garbage\n", f);
	fclose(f);
	CU_ASSERT_EQUAL(repo_wal_get(&r, names[2], NULL, &back, &back_len, &err), -1);
	CU_ASSERT_PTR_NOT_NULL(strstr(err.msg, "header"));
	/* An unreadable archived copy is never replaced. */
	char *d = segment(len, 2);
	CU_ASSERT_EQUAL(repo_wal_put(&r, names[2], d, len, "zstd", NULL, &res, &err), -1);
	CU_ASSERT_EQUAL(err.code, FL_ERR_CONFLICT);
	free(d);
	/* Stats: the newest segment by timeline, then position; retention's removal. */
	repo_wal_stats st;
	CU_ASSERT_EQUAL(repo_wal_stats_read(&r, 16 * 1024 * 1024, &st, &err), 0);
	CU_ASSERT_EQUAL(st.files, 4);
	CU_ASSERT_STRING_EQUAL(st.newest, names[2]);
	long removed = 0;
	CU_ASSERT_EQUAL(repo_wal_remove_before(&r, 2, 16 * 1024 * 1024, &removed, &err), 0);
	CU_ASSERT_EQUAL(removed, 1);
	CU_ASSERT_EQUAL(repo_wal_get(&r, names[0], NULL, &back, &back_len, &err), -1);
	CU_ASSERT_EQUAL(repo_wal_get(&r, names[1], NULL, &back, &back_len, &err), 0);
	free(back);
	/* History files stay. */
	CU_ASSERT_EQUAL(repo_wal_get(&r, "00000002.history", NULL, &back, &back_len, &err), 0);
	free(back);
	rm_rf(tmp);
}

static backup_record record(const char *label, double start)
{
	backup_record b;
	memset(&b, 0, sizeof b);
	snprintf(b.label, sizeof b.label, "%s", label);
	snprintf(b.source, sizeof b.source, "node2");
	snprintf(b.source_role, sizeof b.source_role, "replica");
	snprintf(b.compression, sizeof b.compression, "zstd");
	b.timeline = 1;
	b.start_lsn = 0x2000028;
	b.stop_lsn = 0x2000100;
	b.start_time = start;
	b.stop_time = start + 5;
	b.pg_version = 15;
	b.system_id = 7000000000000000001ULL;
	b.wal_seg_size = 16 * 1024 * 1024;
	return b;
}

static void test_repo_backups(void)
{
	repo r = repo_fresh();
	fl_err err = {0};
	char dir[PATH_MAX];
	const char *labels[] = {"20261206T100000Z", "20261205T100000Z", "20261207T100000Z"};
	double starts[] = {1796551200, 1796464800, 1796637600};
	for (int i = 0; i < 3; i++) {
		CU_ASSERT_EQUAL_FATAL(repo_backup_begin(&r, labels[i], dir, sizeof dir, &err), 0);
		CU_ASSERT_PTR_NOT_NULL(strstr(dir, ".partial"));
		backup_record b = record(labels[i], starts[i]);
		if (i < 2)
			CU_ASSERT_EQUAL(repo_backup_commit(&r, &b, &err), 0);
	}
	/* The third is still partial: not listed; the other two oldest first. */
	backup_record *list = NULL;
	int n = 0;
	CU_ASSERT_EQUAL_FATAL(repo_backups_list(&r, &list, &n, &err), 0);
	CU_ASSERT_EQUAL_FATAL(n, 2);
	CU_ASSERT_STRING_EQUAL(list[0].label, labels[1]);
	CU_ASSERT_STRING_EQUAL(list[1].label, labels[0]);
	CU_ASSERT_EQUAL(list[1].system_id, 7000000000000000001ULL);
	free(list);
	/* A label taken already. */
	CU_ASSERT_EQUAL(repo_backup_begin(&r, labels[0], dir, sizeof dir, &err), -1);
	CU_ASSERT_EQUAL(err.code, FL_ERR_CONFLICT);
	/* A damaged backup.json leaves that backup out, the others listed. */
	char json[PATH_MAX + 32];
	repo_backup_dir(&r, labels[1], dir, sizeof dir);
	snprintf(json, sizeof json, "%s/backup.json", dir);
	FILE *f = fopen(json, "w");
	fputs("{\"format\": 1, \"label\": \"20261205T100000Z\"", f);
	fclose(f);
	CU_ASSERT_EQUAL(repo_backups_list(&r, &list, &n, &err), 0);
	CU_ASSERT_EQUAL(n, 1);
	free(list);
	/* Partials cleaned; a removed backup is gone. */
	int removed = 0;
	CU_ASSERT_EQUAL(repo_partials_clean(&r, &removed, &err), 0);
	CU_ASSERT_EQUAL(removed, 1);
	CU_ASSERT_EQUAL(repo_backup_remove(&r, labels[0], &err), 0);
	CU_ASSERT_EQUAL(repo_backups_list(&r, &list, &n, &err), 0);
	CU_ASSERT_EQUAL(n, 0);
	free(list);
	CU_ASSERT(repo_tree_size(tmp) < 4096);
	/* A repository that is not absolute, or cannot be made. */
	repo bad;
	CU_ASSERT_EQUAL(repo_open(&bad, "relative/repo", true, &err), -1);
	CU_ASSERT_EQUAL(repo_open(&bad, "/proc/flotilla-no-repo", true, &err), -1);
	rm_rf(tmp);
}

/* ---- encryption at rest ---- */

static void write_text(const char *path, const char *text)
{
	FILE *f = fopen(path, "w");
	CU_ASSERT_PTR_NOT_NULL_FATAL(f);
	fputs(text, f);
	fclose(f);
	chmod(path, 0600);
}

static void test_crypt(void)
{
	repo r = repo_fresh();
	char pass[300], wrong[300];
	snprintf(pass, sizeof pass, "%s/pass", tmp);
	snprintf(wrong, sizeof wrong, "%s/wrong", tmp);
	write_text(pass, "correct horse battery staple\n");
	write_text(wrong, "incorrect horse\n");
	crypt_key k, k2, bad;
	fl_err err = {0};
	/* No encryption.json yet: only with create. */
	CU_ASSERT_EQUAL(crypt_key_open(r.path, pass, false, &k, &err), -1);
	CU_ASSERT_EQUAL(err.code, FL_ERR_NOT_FOUND);
	CU_ASSERT_EQUAL_FATAL(crypt_key_open(r.path, pass, true, &k, &err), 0);
	CU_ASSERT_EQUAL_FATAL(crypt_key_open(r.path, pass, false, &k2, &err), 0);
	CU_ASSERT(memcmp(k.k, k2.k, sizeof k.k) == 0);
	CU_ASSERT_EQUAL(crypt_key_open(r.path, wrong, false, &bad, &err), -1);
	CU_ASSERT_EQUAL(err.code, FL_ERR_SECRET);
	CU_ASSERT_PTR_NOT_NULL(strstr(err.msg, "not the repository's"));
	/* Round trips: empty, one byte, exactly a chunk, several chunks and a piece. */
	size_t sizes[] = {0, 1, 1024 * 1024, 3 * 1024 * 1024 + 17};
	for (size_t i = 0; i < sizeof sizes / sizeof sizes[0]; i++) {
		char *plain = segment(sizes[i] ? sizes[i] : 1, (unsigned)i), *sealed = NULL, *back = NULL;
		size_t sealed_len = 0, back_len = 0;
		CU_ASSERT_EQUAL_FATAL(crypt_encrypt_buf(&k, plain, sizes[i], &sealed, &sealed_len, &err), 0);
		CU_ASSERT(crypt_is_encrypted(sealed, sealed_len));
		CU_ASSERT_EQUAL_FATAL(crypt_decrypt_buf(&k, sealed, sealed_len, &back, &back_len, &err), 0);
		CU_ASSERT_EQUAL(back_len, sizes[i]);
		CU_ASSERT(sizes[i] == 0 || memcmp(back, plain, sizes[i]) == 0);
		free(back);
		if (sizes[i] > 100) {
			/* A flipped byte, a cut-off end, a dropped last chunk: each refused. */
			sealed[sealed_len / 2] ^= 1;
			CU_ASSERT_EQUAL(crypt_decrypt_buf(&k, sealed, sealed_len, &back, &back_len, &err), -1);
			CU_ASSERT_EQUAL(err.code, FL_ERR_SECRET);
			sealed[sealed_len / 2] ^= 1;
			CU_ASSERT_EQUAL(crypt_decrypt_buf(&k, sealed, sealed_len - 1, &back, &back_len, &err), -1);
			CU_ASSERT_EQUAL(crypt_decrypt_buf(&k2, sealed, sealed_len, &back, &back_len, &err), 0);
			free(back);
		}
		if (sizes[i] > 2 * 1024 * 1024) {
			size_t first = 16 + 4 + 1024 * 1024 + 16;
			CU_ASSERT_EQUAL(crypt_decrypt_buf(&k, sealed, first, &back, &back_len, &err), -1);
			CU_ASSERT_PTR_NOT_NULL(strstr(err.msg, "cut off"));
		}
		free(sealed);
		free(plain);
	}
	CU_ASSERT_EQUAL(crypt_decrypt_buf(&k, "plain text", 10, NULL, NULL, &err), -1);
	/* WAL through the repository: encrypted at rest, unreadable without the key, whole with it. */
	char *d = segment(1024 * 1024, 7), *back = NULL;
	size_t back_len = 0;
	repo_put_result res;
	CU_ASSERT_EQUAL(repo_wal_put(&r, "000000010000000000000004", d, 1024 * 1024, "zstd", &k, &res, &err), 0);
	CU_ASSERT_EQUAL(repo_wal_put(&r, "000000010000000000000004", d, 1024 * 1024, "zstd", &k, &res, &err), 0);
	CU_ASSERT_EQUAL(res, REPO_SAME);
	CU_ASSERT_EQUAL(repo_wal_get(&r, "000000010000000000000004", NULL, &back, &back_len, &err), -1);
	CU_ASSERT_EQUAL(err.code, FL_ERR_SECRET);
	CU_ASSERT_EQUAL_FATAL(repo_wal_get(&r, "000000010000000000000004", &k, &back, &back_len, &err), 0);
	CU_ASSERT(back_len == 1024 * 1024 && memcmp(back, d, back_len) == 0);
	free(back);
	free(d);
	/* A file encrypted in place. */
	char file[300], enc[320];
	snprintf(file, sizeof file, "%s/base.tar", tmp);
	snprintf(enc, sizeof enc, "%s.enc", file);
	write_text(file, "a tar, as far as this test cares");
	CU_ASSERT_EQUAL(crypt_encrypt_file(&k, file, &err), 0);
	CU_ASSERT(access(file, F_OK) != 0 && access(enc, F_OK) == 0);
	FILE *in = fopen(enc, "rb");
	char *out_text = NULL;
	size_t out_len = 0;
	FILE *out = open_memstream(&out_text, &out_len);
	CU_ASSERT_EQUAL(crypt_decrypt_stream(&k, in, out, "base.tar.enc", &err), 0);
	fclose(in);
	fclose(out);
	CU_ASSERT(out_len == 32 && memcmp(out_text, "a tar, as far as this test cares", 32) == 0);
	free(out_text);
	crypt_key_wipe(&k);
	crypt_key_wipe(&k2);
	rm_rf(tmp);
}

void suite_register(void)
{
	CU_pSuite s = CU_add_suite("backup", NULL, NULL);
	CU_add_test(s, "source_pick", test_source);
	CU_add_test(s, "manifest_parse", test_manifest);
	CU_add_test(s, "repo WAL", test_repo_wal);
	CU_add_test(s, "repo backups", test_repo_backups);
	CU_add_test(s, "encryption at rest", test_crypt);
}
