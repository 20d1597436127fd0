/*
 * repo: the backup repository on disk; see repo.h.
 */
#include "repo.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/evp.h>
#include <zlib.h>
#include <zstd.h>

#include "common/log.h"
#include "pg/walname.h"

/* Names are checked against the smallest segment size, whose names allow the most segments per log. */
#define NAME_SEG_SIZE (1024UL * 1024)
#define HEADER_MAX 160
#define ZSTD_LEVEL 3

int repo_open(repo *r, const char *path, bool create, fl_err *err)
{
	if (path[0] != '/')
		return fl_fail(err, FL_ERR_CONFIG, "repository \"%s\" is not an absolute path", path);
	if (strlen(path) > PATH_MAX - 128)
		return fl_fail(err, FL_ERR_CONFIG, "repository \"%.64s...\" is a path too long", path);
	snprintf(r->path, sizeof r->path, "%s", path);
	const char *subs[] = {"", "/backups", "/wal"};
	for (int i = 0; i < 3; i++) {
		char p[PATH_MAX];
		snprintf(p, sizeof p, "%s%s", path, subs[i]);
		if (create && mkdir(p, 0750) < 0 && errno != EEXIST)
			return fl_fail(err, FL_ERR_IO, "repository: cannot make %s: %s", p, strerror(errno));
		if (access(p, W_OK | X_OK) < 0)
			return fl_fail(err, FL_ERR_IO, "repository: %s is not a writable directory: %s", p,
				       strerror(errno));
	}
	return 0;
}

/* ---- files ---- */

static int sync_dir(const char *dir, fl_err *err)
{
	int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0 || fsync(fd) < 0) {
		int e = errno;
		if (fd >= 0)
			close(fd);
		return fl_fail(err, FL_ERR_IO, "cannot sync directory %s: %s", dir, strerror(e));
	}
	close(fd);
	return 0;
}

static void parent_of(const char *path, char *buf, size_t len)
{
	snprintf(buf, len, "%s", path);
	char *slash = strrchr(buf, '/');
	if (slash != NULL && slash != buf)
		*slash = '\0';
}

static int io_fail(fl_err *err, const char *what, const char *path, int e)
{
	if (e == ENOSPC || e == EDQUOT)
		return fl_fail(err, FL_ERR_IO, "%s %s: no space left in the repository (%s)", what, path, strerror(e));
	return fl_fail(err, FL_ERR_IO, "%s %s: %s", what, path, strerror(e));
}

/* Writes the pieces to path's temporary name, syncs it; the caller renames it. */
static int write_synced(const char *tmp, const void *const *parts, const size_t *lens, int n, fl_err *err)
{
	int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0640);
	if (fd < 0)
		return io_fail(err, "cannot create", tmp, errno);
	for (int i = 0; i < n; i++) {
		const char *p = parts[i];
		size_t left = lens[i];
		while (left > 0) {
			ssize_t w = write(fd, p, left);
			if (w < 0 && errno == EINTR)
				continue;
			if (w <= 0) {
				int e = w < 0 ? errno : ENOSPC;
				close(fd);
				unlink(tmp);
				return io_fail(err, "cannot write", tmp, e);
			}
			p += w;
			left -= (size_t)w;
		}
	}
	if (fsync(fd) < 0) {
		int e = errno;
		close(fd);
		unlink(tmp);
		return io_fail(err, "cannot sync", tmp, e);
	}
	if (close(fd) < 0) {
		int e = errno;
		unlink(tmp);
		return io_fail(err, "cannot close", tmp, e);
	}
	return 0;
}

int repo_read_file(const char *path, size_t max, char **out, size_t *len, fl_err *err)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return fl_fail(err, errno == ENOENT ? FL_ERR_NOT_FOUND : FL_ERR_IO, "cannot open %s: %s", path,
			       strerror(errno));
	struct stat st;
	if (fstat(fd, &st) < 0 || (size_t)st.st_size > max) {
		close(fd);
		return fl_fail(err, FL_ERR_IO, "%s is larger than %zu bytes", path, max);
	}
	char *buf = malloc((size_t)st.st_size + 1);
	size_t got = 0;
	while (buf != NULL && got < (size_t)st.st_size) {
		ssize_t r = read(fd, buf + got, (size_t)st.st_size - got);
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			break;
		got += (size_t)r;
	}
	close(fd);
	if (buf == NULL || got != (size_t)st.st_size) {
		free(buf);
		return fl_fail(err, FL_ERR_IO, "cannot read %s", path);
	}
	buf[got] = '\0';
	*out = buf;
	*len = got;
	return 0;
}

static void sha256_hex(const void *data, size_t len, char out[65])
{
	unsigned char md[32];
	unsigned int mdlen = 0;
	EVP_Digest(data, len, md, &mdlen, EVP_sha256(), NULL);
	for (int i = 0; i < 32; i++)
		snprintf(out + 2 * i, 3, "%02x", md[i]);
}

/* ---- compression ---- */

static int compress_data(const char *how, const void *data, size_t len, char **out, size_t *out_len, fl_err *err)
{
	if (strcmp(how, "none") == 0) {
		*out = malloc(len ? len : 1);
		if (*out == NULL)
			return fl_fail(err, FL_ERR_INTERNAL, "out of memory");
		memcpy(*out, data, len);
		*out_len = len;
		return 0;
	}
	if (strcmp(how, "zstd") == 0) {
		size_t cap = ZSTD_compressBound(len);
		*out = malloc(cap);
		if (*out == NULL)
			return fl_fail(err, FL_ERR_INTERNAL, "out of memory");
		size_t n = ZSTD_compress(*out, cap, data, len, ZSTD_LEVEL);
		if (ZSTD_isError(n)) {
			free(*out);
			return fl_fail(err, FL_ERR_INTERNAL, "zstd: %s", ZSTD_getErrorName(n));
		}
		*out_len = n;
		return 0;
	}
	if (strcmp(how, "gzip") == 0) {
		z_stream z = {0};
		if (deflateInit2(&z, 6, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY) != Z_OK)
			return fl_fail(err, FL_ERR_INTERNAL, "gzip: cannot start");
		size_t cap = deflateBound(&z, (uLong)len) + 64;
		*out = malloc(cap);
		if (*out == NULL) {
			deflateEnd(&z);
			return fl_fail(err, FL_ERR_INTERNAL, "out of memory");
		}
		z.next_in = (Bytef *)(uintptr_t)data;
		z.avail_in = (uInt)len;
		z.next_out = (Bytef *)*out;
		z.avail_out = (uInt)cap;
		int rc = deflate(&z, Z_FINISH);
		*out_len = z.total_out;
		deflateEnd(&z);
		if (rc != Z_STREAM_END) {
			free(*out);
			return fl_fail(err, FL_ERR_INTERNAL, "gzip: compression did not finish");
		}
		return 0;
	}
	return fl_fail(err, FL_ERR_CONFIG, "unknown compression \"%s\" (zstd, gzip or none)", how);
}

static int decompress_data(const char *how, const char *data, size_t len, size_t size, char *out, const char *path,
			   fl_err *err)
{
	if (strcmp(how, "none") == 0) {
		if (len != size)
			return fl_fail(err, FL_ERR_IO, "%s: %zu bytes stored, the header says %zu", path, len, size);
		memcpy(out, data, len);
		return 0;
	}
	if (strcmp(how, "zstd") == 0) {
		size_t n = ZSTD_decompress(out, size, data, len);
		if (ZSTD_isError(n) || n != size)
			return fl_fail(err, FL_ERR_IO, "%s: does not decompress (zstd: %s)", path,
				       ZSTD_isError(n) ? ZSTD_getErrorName(n) : "wrong size");
		return 0;
	}
	z_stream z = {0};
	if (inflateInit2(&z, 15 + 16) != Z_OK)
		return fl_fail(err, FL_ERR_INTERNAL, "gzip: cannot start");
	z.next_in = (Bytef *)(uintptr_t)data;
	z.avail_in = (uInt)len;
	z.next_out = (Bytef *)out;
	z.avail_out = (uInt)size;
	int rc = inflate(&z, Z_FINISH);
	size_t got = z.total_out;
	inflateEnd(&z);
	if (rc != Z_STREAM_END || got != size)
		return fl_fail(err, FL_ERR_IO, "%s: does not decompress (gzip)", path);
	return 0;
}

/* ---- WAL ---- */

int repo_wal_path(const repo *r, const char *name, char *buf, size_t len)
{
	wal_name w;
	const char *why = NULL;
	wal_kind k = wal_name_parse(name, NAME_SEG_SIZE, &w, &why);
	if (k == WAL_NONE)
		return -1;
	if (k == WAL_HISTORY)
		snprintf(buf, len, "%s/wal/%s", r->path, name);
	else
		snprintf(buf, len, "%s/wal/%.16s/%s", r->path, name, name);
	return 0;
}

typedef struct wal_header {
	char compression[8];
	size_t size;
	char sha[65];
	bool encrypted;
	size_t len; /* bytes of the header line, its newline included */
} wal_header;

static int header_parse(const char *data, size_t len, const char *path, wal_header *h, fl_err *err)
{
	const char *nl = memchr(data, '\n', len < HEADER_MAX ? len : HEADER_MAX);
	char line[HEADER_MAX + 1];
	if (nl == NULL)
		return fl_fail(err, FL_ERR_IO, "%s: not an archived WAL file (no header line)", path);
	memcpy(line, data, (size_t)(nl - data));
	line[nl - data] = '\0';
	int version = 0;
	unsigned long long size = 0;
	int used = 0;
	if (sscanf(line, "FLWAL %d %7s %llu %64s%n", &version, h->compression, &size, h->sha, &used) != 4)
		return fl_fail(err, FL_ERR_IO, "%s: malformed header line", path);
	h->encrypted = strcmp(line + used, " aes") == 0;
	if (!h->encrypted && used != (int)strlen(line))
		return fl_fail(err, FL_ERR_IO, "%s: malformed header line", path);
	if (version != 1)
		return fl_fail(err, FL_ERR_IO, "%s: format %d, this program reads format 1", path, version);
	if (strcmp(h->compression, "zstd") != 0 && strcmp(h->compression, "gzip") != 0 &&
	    strcmp(h->compression, "none") != 0)
		return fl_fail(err, FL_ERR_IO, "%s: unknown compression \"%s\"", path, h->compression);
	if (size > REPO_WAL_MAX || strlen(h->sha) != 64 || strspn(h->sha, "0123456789abcdef") != 64)
		return fl_fail(err, FL_ERR_IO, "%s: malformed header line", path);
	h->size = (size_t)size;
	h->len = (size_t)(nl - data) + 1;
	return 0;
}

/* Reads only the header of an archived file. */
static int header_read(const char *path, wal_header *h, fl_err *err)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return fl_fail(err, errno == ENOENT ? FL_ERR_NOT_FOUND : FL_ERR_IO, "cannot open %s: %s", path,
			       strerror(errno));
	char buf[HEADER_MAX];
	ssize_t n = read(fd, buf, sizeof buf);
	close(fd);
	if (n < 0)
		return fl_fail(err, FL_ERR_IO, "cannot read %s: %s", path, strerror(errno));
	return header_parse(buf, (size_t)n, path, h, err);
}

int repo_wal_put(const repo *r, const char *name, const void *data, size_t len, const char *compression,
		 const crypt_key *key, repo_put_result *result, fl_err *err)
{
	char path[PATH_MAX], dir[PATH_MAX], tmp[PATH_MAX + 32];
	if (repo_wal_path(r, name, path, sizeof path) < 0)
		return fl_fail(err, FL_ERR_USAGE, "\"%.80s\" is not the name of a WAL file", name);
	if (len > REPO_WAL_MAX)
		return fl_fail(err, FL_ERR_USAGE, "%s: %zu bytes, more than a WAL file can hold", name, len);
	char sha[65];
	sha256_hex(data, len, sha);
	wal_header old;
	fl_err e2 = {0};
	if (header_read(path, &old, &e2) == 0) {
		if (old.size == len && strcmp(old.sha, sha) == 0) {
			*result = REPO_SAME;
			return 0;
		}
		return fl_fail(err, FL_ERR_CONFLICT,
			       "%s is archived already with a different content (%zu bytes, sha256 %.12s; this copy: "
			       "%zu bytes, sha256 %.12s): the archived one is kept",
			       name, old.size, old.sha, len, sha);
	}
	if (e2.code != FL_ERR_NOT_FOUND)
		return fl_fail(err, FL_ERR_CONFLICT, "%s is archived already, unreadably: %s", name, e2.msg);
	parent_of(path, dir, sizeof dir);
	if (mkdir(dir, 0750) < 0 && errno != EEXIST)
		return io_fail(err, "cannot make", dir, errno);
	char *packed = NULL;
	size_t packed_len = 0;
	if (compress_data(compression, data, len, &packed, &packed_len, err) < 0)
		return -1;
	if (key != NULL) {
		char *sealed = NULL;
		size_t sealed_len = 0;
		int crc = crypt_encrypt_buf(key, packed, packed_len, &sealed, &sealed_len, err);
		free(packed);
		if (crc < 0)
			return -1;
		packed = sealed;
		packed_len = sealed_len;
	}
	char header[HEADER_MAX];
	int hl = snprintf(header, sizeof header, "FLWAL 1 %s %zu %s%s\n", compression, len, sha, key ? " aes" : "");
	snprintf(tmp, sizeof tmp, "%s.tmp.%d", path, (int)getpid());
	const void *parts[] = {header, packed};
	size_t lens[] = {(size_t)hl, packed_len};
	int rc = write_synced(tmp, parts, lens, 2, err);
	free(packed);
	if (rc < 0)
		return -1;
	/* Never over another copy: one that arrived meanwhile is compared, not replaced. */
	if (renameat2(AT_FDCWD, tmp, AT_FDCWD, path, RENAME_NOREPLACE) < 0) {
		int e = errno;
		unlink(tmp);
		if (e == EEXIST)
			return repo_wal_put(r, name, data, len, compression, key, result, err);
		return io_fail(err, "cannot rename into", path, e);
	}
	if (sync_dir(dir, err) < 0)
		return -1;
	*result = REPO_STORED;
	return 0;
}

int repo_wal_get(const repo *r, const char *name, const crypt_key *key, char **data, size_t *len, fl_err *err)
{
	char path[PATH_MAX];
	if (repo_wal_path(r, name, path, sizeof path) < 0)
		return fl_fail(err, FL_ERR_USAGE, "\"%.80s\" is not the name of a WAL file", name);
	char *raw = NULL;
	size_t raw_len = 0;
	if (repo_read_file(path, REPO_WAL_MAX + 4096, &raw, &raw_len, err) < 0) {
		if (err->code == FL_ERR_NOT_FOUND)
			fl_fail(err, FL_ERR_NOT_FOUND, "%s is not in the archive", name);
		return -1;
	}
	wal_header h;
	if (header_parse(raw, raw_len, path, &h, err) < 0) {
		free(raw);
		return -1;
	}
	if (h.encrypted) {
		char *plain = NULL;
		size_t plain_len = 0;
		if (key == NULL) {
			free(raw);
			return fl_fail(err, FL_ERR_SECRET,
				       "%s is encrypted: the repository's key is needed (secrets.encryption_key_file, "
				       "--key-file)",
				       name);
		}
		int crc = crypt_decrypt_buf(key, raw + h.len, raw_len - h.len, &plain, &plain_len, err);
		if (crc < 0) {
			free(raw);
			fl_err_prefix(err, "%s", path);
			return -1;
		}
		/* The header, then the decrypted payload, as an unencrypted file holds them. */
		char *joined = malloc(h.len + plain_len + 1);
		if (joined == NULL) {
			free(raw);
			free(plain);
			return fl_fail(err, FL_ERR_INTERNAL, "out of memory");
		}
		memcpy(joined, raw, h.len);
		memcpy(joined + h.len, plain, plain_len);
		free(raw);
		free(plain);
		raw = joined;
		raw_len = h.len + plain_len;
	}
	char *out = malloc(h.size ? h.size : 1);
	if (out == NULL) {
		free(raw);
		return fl_fail(err, FL_ERR_INTERNAL, "out of memory");
	}
	int rc = decompress_data(h.compression, raw + h.len, raw_len - h.len, h.size, out, path, err);
	free(raw);
	char sha[65];
	if (rc == 0) {
		sha256_hex(out, h.size, sha);
		if (strcmp(sha, h.sha) != 0)
			rc = fl_fail(err, FL_ERR_IO, "%s: the content's sha256 %.12s is not the archived %.12s", path,
				     sha, h.sha);
	}
	if (rc < 0) {
		free(out);
		return -1;
	}
	*data = out;
	*len = h.size;
	return 0;
}

/* Calls fn on every archived file (its name and stat). */
static int wal_each(const repo *r, void (*fn)(void *arg, const char *dir, const char *name, const struct stat *st),
		    void *arg, fl_err *err, bool temporary)
{
	char top[PATH_MAX];
	snprintf(top, sizeof top, "%s/wal", r->path);
	DIR *d = opendir(top);
	if (d == NULL)
		return fl_fail(err, FL_ERR_IO, "cannot read %s: %s", top, strerror(errno));
	struct dirent *e;
	while ((e = readdir(d)) != NULL) {
		if (e->d_name[0] == '.')
			continue;
		char p[PATH_MAX];
		snprintf(p, sizeof p, "%s/%s", top, e->d_name);
		struct stat st;
		if (stat(p, &st) < 0)
			continue;
		if (!S_ISDIR(st.st_mode)) {
			if ((strstr(e->d_name, ".tmp.") != NULL) == temporary)
				fn(arg, top, e->d_name, &st);
			continue;
		}
		DIR *sub = opendir(p);
		if (sub == NULL)
			continue;
		struct dirent *f;
		while ((f = readdir(sub)) != NULL) {
			if (f->d_name[0] == '.' || (strstr(f->d_name, ".tmp.") != NULL) != temporary)
				continue;
			char fp[PATH_MAX + 80];
			snprintf(fp, sizeof fp, "%s/%s", p, f->d_name);
			if (stat(fp, &st) == 0 && S_ISREG(st.st_mode))
				fn(arg, p, f->d_name, &st);
		}
		closedir(sub);
	}
	closedir(d);
	return 0;
}

typedef struct stats_walk {
	uint64_t seg_size;
	repo_wal_stats *s;
} stats_walk;

static void stats_one(void *arg, const char *dir, const char *name, const struct stat *st)
{
	(void)dir;
	stats_walk *w = arg;
	w->s->files++;
	w->s->bytes += (uint64_t)st->st_size;
	wal_name n;
	const char *why;
	if (wal_name_parse(name, w->seg_size, &n, &why) != WAL_SEGMENT)
		return;
	if (w->s->newest[0] == '\0' || n.timeline > w->s->newest_tli ||
	    (n.timeline == w->s->newest_tli && n.segno > w->s->newest_segno)) {
		snprintf(w->s->newest, sizeof w->s->newest, "%s", name);
		w->s->newest_tli = n.timeline;
		w->s->newest_segno = n.segno;
		w->s->newest_mtime = (double)st->st_mtim.tv_sec + st->st_mtim.tv_nsec / 1e9;
	}
}

int repo_wal_stats_read(const repo *r, uint64_t seg_size, repo_wal_stats *out, fl_err *err)
{
	memset(out, 0, sizeof *out);
	stats_walk w = {seg_size, out};
	return wal_each(r, stats_one, &w, err, false);
}

typedef struct remove_walk {
	uint64_t seg_size, before;
	long removed;
} remove_walk;

static void remove_one(void *arg, const char *dir, const char *name, const struct stat *st)
{
	(void)st;
	remove_walk *w = arg;
	wal_name n;
	const char *why;
	wal_kind k = wal_name_parse(name, w->seg_size, &n, &why);
	if ((k != WAL_SEGMENT && k != WAL_PARTIAL && k != WAL_BACKUP) || n.segno >= w->before)
		return;
	char p[PATH_MAX + 80];
	snprintf(p, sizeof p, "%s/%s", dir, name);
	if (unlink(p) == 0)
		w->removed++;
}

int repo_wal_remove_before(const repo *r, uint64_t segno, uint64_t seg_size, long *removed, fl_err *err)
{
	remove_walk w = {seg_size, segno, 0};
	int rc = wal_each(r, remove_one, &w, err, false);
	*removed = w.removed;
	return rc;
}

/* ---- backups ---- */

void repo_backup_dir(const repo *r, const char *label, char *buf, size_t len)
{
	snprintf(buf, len, "%s/backups/%s", r->path, label);
}

static int record_cmp(const void *a, const void *b)
{
	const backup_record *x = a, *y = b;
	return x->start_time < y->start_time ? -1 : x->start_time > y->start_time ? 1 : strcmp(x->label, y->label);
}

int repo_backups_list(const repo *r, backup_record **out, int *n, fl_err *err)
{
	char top[PATH_MAX];
	snprintf(top, sizeof top, "%s/backups", r->path);
	*out = NULL;
	*n = 0;
	DIR *d = opendir(top);
	if (d == NULL)
		return fl_fail(err, FL_ERR_IO, "cannot read %s: %s", top, strerror(errno));
	int cap = 0;
	struct dirent *e;
	while ((e = readdir(d)) != NULL) {
		if (!catalog_label_valid(e->d_name))
			continue;
		char p[PATH_MAX + 80];
		snprintf(p, sizeof p, "%s/%s/backup.json", top, e->d_name);
		char *text = NULL;
		size_t len = 0;
		fl_err e2 = {0};
		backup_record rec;
		if (repo_read_file(p, 1 << 20, &text, &len, &e2) < 0) {
			if (e2.code != FL_ERR_NOT_FOUND)
				log_warn("backup %s left out: %s", e->d_name, e2.msg);
			continue;
		}
		int rc = catalog_record_parse(text, len, &rec, &e2);
		free(text);
		if (rc < 0 || strcmp(rec.label, e->d_name) != 0) {
			log_warn("backup %s left out: %s", e->d_name,
				 rc < 0 ? e2.msg : "its backup.json names another label");
			continue;
		}
		if (*n == cap) {
			cap = cap ? cap * 2 : 16;
			backup_record *grown = realloc(*out, (size_t)cap * sizeof **out);
			if (grown == NULL) {
				closedir(d);
				free(*out);
				*out = NULL;
				*n = 0;
				return fl_fail(err, FL_ERR_INTERNAL, "out of memory");
			}
			*out = grown;
		}
		(*out)[(*n)++] = rec;
	}
	closedir(d);
	if (*n > 1)
		qsort(*out, (size_t)*n, sizeof **out, record_cmp);
	return 0;
}

int repo_backup_begin(const repo *r, const char *label, char *dir, size_t len, fl_err *err)
{
	if (!catalog_label_valid(label))
		return fl_fail(err, FL_ERR_INTERNAL, "\"%s\" is not a backup label", label);
	snprintf(dir, len, "%s/backups/%s.partial", r->path, label);
	char done[PATH_MAX];
	repo_backup_dir(r, label, done, sizeof done);
	if (access(done, F_OK) == 0)
		return fl_fail(err, FL_ERR_CONFLICT, "backup %s exists already", label);
	if (mkdir(dir, 0750) < 0)
		return io_fail(err, "cannot make", dir, errno);
	return 0;
}

int repo_backup_commit(const repo *r, const backup_record *rec, fl_err *err)
{
	char partial[PATH_MAX], done[PATH_MAX], json[PATH_MAX + 32], tmp[PATH_MAX + 32], top[PATH_MAX];
	snprintf(partial, sizeof partial, "%s/backups/%s.partial", r->path, rec->label);
	repo_backup_dir(r, rec->label, done, sizeof done);
	snprintf(top, sizeof top, "%s/backups", r->path);
	char *text = catalog_record_json(rec);
	if (text == NULL)
		return fl_fail(err, FL_ERR_INTERNAL, "out of memory");
	snprintf(json, sizeof json, "%s/backup.json", partial);
	snprintf(tmp, sizeof tmp, "%s.tmp", json);
	const void *parts[] = {text, "\n"};
	size_t lens[] = {strlen(text), 1};
	int rc = write_synced(tmp, parts, lens, 2, err);
	free(text);
	if (rc < 0)
		return -1;
	if (rename(tmp, json) < 0)
		return io_fail(err, "cannot rename into", json, errno);
	if (sync_dir(partial, err) < 0)
		return -1;
	if (rename(partial, done) < 0)
		return io_fail(err, "cannot rename into", done, errno);
	return sync_dir(top, err);
}

static int remove_tree(const char *path)
{
	DIR *d = opendir(path);
	if (d == NULL)
		return unlink(path);
	struct dirent *e;
	int rc = 0;
	while ((e = readdir(d)) != NULL) {
		if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
			continue;
		char p[PATH_MAX];
		snprintf(p, sizeof p, "%s/%s", path, e->d_name);
		struct stat st;
		if (lstat(p, &st) == 0 && S_ISDIR(st.st_mode))
			rc |= remove_tree(p);
		else
			rc |= unlink(p);
	}
	closedir(d);
	return rc | rmdir(path);
}

int repo_backup_remove(const repo *r, const char *label, fl_err *err)
{
	char p[PATH_MAX];
	repo_backup_dir(r, label, p, sizeof p);
	/* The backup stops counting before its files go: backup.json first. */
	char json[PATH_MAX + 32];
	snprintf(json, sizeof json, "%s/backup.json", p);
	if (unlink(json) < 0 && errno != ENOENT)
		return io_fail(err, "cannot remove", json, errno);
	if (remove_tree(p) != 0)
		return io_fail(err, "cannot remove", p, errno);
	return 0;
}

/*
 * A backup cut short by a kill of the sidecar may have left its programs
 * running (pg_basebackup and its WAL streaming child, one process group):
 * they are stopped before their directory goes. The group is recorded
 * beside the directory (LABEL.partial.pid) and killed only while its
 * leader is still pg_basebackup.
 */
static void partial_stop(const char *pidfile)
{
	FILE *f = fopen(pidfile, "r");
	long pid = 0;
	if (f != NULL) {
		if (fscanf(f, "%ld", &pid) != 1)
			pid = 0;
		fclose(f);
	}
	char comm[64] = "", path[64];
	snprintf(path, sizeof path, "/proc/%ld/comm", pid);
	FILE *c = pid > 1 ? fopen(path, "r") : NULL;
	if (c != NULL) {
		if (fgets(comm, sizeof comm, c) == NULL)
			comm[0] = '\0';
		fclose(c);
	}
	if (strncmp(comm, "pg_basebackup", 13) == 0 && kill(-(pid_t)pid, SIGKILL) == 0) {
		log_warn("stopped pg_basebackup (process group %ld) of a backup a stop cut short", pid);
		for (int i = 0; i < 50 && kill((pid_t)pid, 0) == 0; i++)
			usleep(20000);
	}
	unlink(pidfile);
}

typedef struct tmp_walk {
	long removed;
} tmp_walk;

static void tmp_one(void *arg, const char *dir, const char *name, const struct stat *st)
{
	(void)st;
	char p[PATH_MAX + 80];
	snprintf(p, sizeof p, "%s/%s", dir, name);
	if (unlink(p) == 0)
		((tmp_walk *)arg)->removed++;
}

int repo_tmp_clean(const repo *r, fl_err *err)
{
	tmp_walk w = {0};
	int rc = wal_each(r, tmp_one, &w, err, true);
	if (w.removed > 0)
		log_warn("removed %ld WAL files a stop left half written (never acknowledged)", w.removed);
	return rc;
}

int repo_partials_clean(const repo *r, int *removed, fl_err *err)
{
	char top[PATH_MAX];
	snprintf(top, sizeof top, "%s/backups", r->path);
	*removed = 0;
	DIR *d = opendir(top);
	if (d == NULL)
		return fl_fail(err, FL_ERR_IO, "cannot read %s: %s", top, strerror(errno));
	struct dirent *e;
	while ((e = readdir(d)) != NULL) {
		size_t n = strlen(e->d_name);
		char p[PATH_MAX];
		snprintf(p, sizeof p, "%s/%s", top, e->d_name);
		if (n > 12 && strcmp(e->d_name + n - 12, ".partial.pid") == 0) {
			partial_stop(p);
			continue;
		}
		if (n < 9 || strcmp(e->d_name + n - 8, ".partial") != 0)
			continue;
		char pidfile[PATH_MAX + 8];
		snprintf(pidfile, sizeof pidfile, "%s.pid", p);
		partial_stop(pidfile);
		if (remove_tree(p) == 0)
			(*removed)++;
	}
	closedir(d);
	return repo_tmp_clean(r, err);
}

#define CHUNK (1024 * 1024)

/* Streams in into out through zstd or gzip; -1 with errno-style failure named in err. */
static int compress_stream(FILE *in, FILE *out, bool zstd, const char *path, fl_err *err)
{
	char *ibuf = malloc(CHUNK), *obuf = malloc(CHUNK);
	ZSTD_CCtx *z = zstd ? ZSTD_createCCtx() : NULL;
	z_stream g = {0};
	int rc = -1;
	if (ibuf == NULL || obuf == NULL || (zstd && z == NULL) ||
	    (!zstd && deflateInit2(&g, 6, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY) != Z_OK)) {
		fl_fail(err, FL_ERR_INTERNAL, "compressing %s: out of memory", path);
		goto out;
	}
	if (zstd)
		ZSTD_CCtx_setParameter(z, ZSTD_c_compressionLevel, ZSTD_LEVEL);
	for (;;) {
		size_t n = fread(ibuf, 1, CHUNK, in);
		bool last = n < CHUNK;
		if (ferror(in)) {
			fl_fail(err, FL_ERR_IO, "cannot read %s: %s", path, strerror(errno));
			goto out;
		}
		if (zstd) {
			ZSTD_inBuffer ib = {ibuf, n, 0};
			bool done = false;
			while (!done) {
				ZSTD_outBuffer ob = {obuf, CHUNK, 0};
				size_t left = ZSTD_compressStream2(z, &ob, &ib, last ? ZSTD_e_end : ZSTD_e_continue);
				if (ZSTD_isError(left)) {
					fl_fail(err, FL_ERR_INTERNAL, "compressing %s: %s", path,
						ZSTD_getErrorName(left));
					goto out;
				}
				if (fwrite(obuf, 1, ob.pos, out) != ob.pos) {
					io_fail(err, "cannot write the compressed", path, errno);
					goto out;
				}
				done = last ? left == 0 : ib.pos == ib.size;
			}
		} else {
			g.next_in = (Bytef *)ibuf;
			g.avail_in = (uInt)n;
			int zr;
			do {
				g.next_out = (Bytef *)obuf;
				g.avail_out = CHUNK;
				zr = deflate(&g, last ? Z_FINISH : Z_NO_FLUSH);
				size_t have = CHUNK - g.avail_out;
				if (fwrite(obuf, 1, have, out) != have) {
					io_fail(err, "cannot write the compressed", path, errno);
					goto out;
				}
			} while (g.avail_out == 0 || (last && zr != Z_STREAM_END));
		}
		if (last)
			break;
	}
	rc = 0;
out:
	if (!zstd)
		deflateEnd(&g);
	ZSTD_freeCCtx(z);
	free(ibuf);
	free(obuf);
	return rc;
}

int repo_compress_file(const char *path, const char *compression, char *out, size_t len, fl_err *err)
{
	bool zstd = strcmp(compression, "zstd") == 0;
	if (!zstd && strcmp(compression, "gzip") != 0) {
		snprintf(out, len, "%s", path);
		return 0;
	}
	snprintf(out, len, "%s%s", path, zstd ? ".zst" : ".gz");
	char tmp[PATH_MAX + 16];
	snprintf(tmp, sizeof tmp, "%s.tmp", out);
	FILE *in = fopen(path, "rb");
	if (in == NULL)
		return io_fail(err, "cannot open", path, errno);
	FILE *o = fopen(tmp, "wb");
	if (o == NULL) {
		int e = errno;
		fclose(in);
		return io_fail(err, "cannot create", tmp, e);
	}
	int rc = compress_stream(in, o, zstd, path, err);
	fclose(in);
	if (rc == 0 && (fflush(o) != 0 || fsync(fileno(o)) != 0))
		rc = io_fail(err, "cannot sync", tmp, errno);
	if (fclose(o) != 0 && rc == 0)
		rc = io_fail(err, "cannot write", tmp, errno);
	if (rc == 0 && rename(tmp, out) < 0)
		rc = io_fail(err, "cannot rename into", out, errno);
	if (rc < 0) {
		unlink(tmp);
		return -1;
	}
	unlink(path);
	char dir[PATH_MAX];
	parent_of(out, dir, sizeof dir);
	return sync_dir(dir, err);
}

static uint64_t tree_size(const char *path, int depth)
{
	struct stat st;
	if (lstat(path, &st) < 0)
		return 0;
	if (!S_ISDIR(st.st_mode))
		return (uint64_t)st.st_size;
	if (depth > 16)
		return 0;
	uint64_t total = 0;
	DIR *d = opendir(path);
	if (d == NULL)
		return 0;
	struct dirent *e;
	while ((e = readdir(d)) != NULL) {
		if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
			continue;
		char p[PATH_MAX];
		snprintf(p, sizeof p, "%s/%s", path, e->d_name);
		total += tree_size(p, depth + 1);
	}
	closedir(d);
	return total;
}

uint64_t repo_tree_size(const char *path) { return tree_size(path, 0); }

/* ---- the archive's continuity ---- */

typedef struct have_arg {
	const repo *r;
	uint64_t seg_size;
} have_arg;

static bool have_segment(void *arg, uint32_t tli, uint64_t segno)
{
	have_arg *h = arg;
	char name[25], path[PATH_MAX];
	wal_segment_name(tli, segno, h->seg_size, name);
	return repo_wal_path(h->r, name, path, sizeof path) == 0 && access(path, F_OK) == 0;
}

uint32_t repo_newest_timeline(const repo *r)
{
	char top[PATH_MAX + 8];
	snprintf(top, sizeof top, "%s/wal", r->path);
	DIR *dir = opendir(top);
	uint32_t best = 1;
	struct dirent *e;
	while (dir && (e = readdir(dir)) != NULL) {
		wal_name w;
		const char *why;
		if (wal_name_parse(e->d_name, 16 * 1024 * 1024, &w, &why) == WAL_HISTORY && w.timeline > best)
			best = w.timeline;
	}
	if (dir)
		closedir(dir);
	return best;
}

int repo_wal_walk(const repo *r, const crypt_key *key, uint64_t seg_size, uint32_t from_tli, uint64_t from_segno,
		  wal_walk *out, uint32_t *target, fl_err *err)
{
	repo_wal_stats st;
	if (repo_wal_stats_read(r, seg_size, &st, err) < 0)
		return -1;
	*target = repo_newest_timeline(r);
	wal_history_entry hist[WAL_HISTORY_MAX];
	int n = 0;
	if (*target > 1) {
		char name[32], *text = NULL;
		size_t len = 0;
		snprintf(name, sizeof name, "%08X.history", *target);
		int rc = repo_wal_get(r, name, key, &text, &len, err) < 0 ||
					 wal_history_parse(text, len, hist, WAL_HISTORY_MAX, &n, err) < 0
				 ? -1
				 : 0;
		free(text);
		if (rc < 0)
			return -1;
	}
	uint64_t last = st.newest[0] ? st.newest_segno : from_segno;
	have_arg h = {r, seg_size};
	return wal_walk_chain(hist, n, *target, from_tli, from_segno, last, seg_size, have_segment, &h, out, err);
}
