/*
 * crypt: encryption at rest; see crypt.h.
 */
#include "crypt.h"

#include <errno.h>
#include <jansson.h>
#include <limits.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/rand.h>

#include "common/secret.h"

#define MAGIC "FLENC1\0\0"
#define MAGIC_LEN 8
#define PREFIX_LEN 8
#define TAG_LEN 16
#define CHUNK (1024 * 1024)
#define LAST_FLAG 0x80000000u
#define KDF_ITERATIONS 100000
#define SALT_LEN 16
#define CHECK_TEXT "flotilla-backup key check"

static void hex(const unsigned char *b, size_t n, char *out)
{
	for (size_t i = 0; i < n; i++)
		snprintf(out + 2 * i, 3, "%02x", b[i]);
}

static int unhex(const char *s, unsigned char *b, size_t n)
{
	if (strlen(s) != 2 * n)
		return -1;
	for (size_t i = 0; i < n; i++) {
		unsigned v;
		if (sscanf(s + 2 * i, "%2x", &v) != 1)
			return -1;
		b[i] = (unsigned char)v;
	}
	return 0;
}

static void check_value(const crypt_key *key, char out[65])
{
	unsigned char mac[32];
	unsigned int len = 0;
	HMAC(EVP_sha256(), key->k, CRYPT_KEY_LEN, (const unsigned char *)CHECK_TEXT, strlen(CHECK_TEXT), mac, &len);
	hex(mac, 32, out);
}

int crypt_key_open(const char *repo, const char *key_file, bool create, crypt_key *key, fl_err *err)
{
	char pass[1024];
	if (secret_read("encryption key", key_file, pass, sizeof pass, err) < 0)
		return -1;
	char path[PATH_MAX];
	snprintf(path, sizeof path, "%s/encryption.json", repo);
	unsigned char salt[SALT_LEN];
	json_error_t je;
	json_t *j = json_load_file(path, 0, &je);
	long iterations = KDF_ITERATIONS;
	const char *check = NULL;
	int rc = 0;
	if (j == NULL && access(path, F_OK) == 0) {
		rc = fl_fail(err, FL_ERR_CONFIG, "%s is not JSON: %s", path, je.text);
	} else if (j == NULL && !create) {
		rc = fl_fail(err, FL_ERR_NOT_FOUND, "the repository %s is not encrypted (no encryption.json)", repo);
	} else if (j == NULL) {
		if (RAND_bytes(salt, SALT_LEN) != 1)
			rc = fl_fail(err, FL_ERR_INTERNAL, "no random bytes for the salt");
	} else {
		const char *s = NULL, *kdf = NULL;
		json_int_t it = 0;
		if (json_unpack_ex(j, &je, 0, "{s:s, s:I, s:s, s:s}", "kdf", &kdf, "iterations", &it, "salt", &s,
				   "check", &check) < 0 ||
		    strcmp(kdf, "pbkdf2-sha256") != 0 || it < 1000 || it > 100000000 || unhex(s, salt, SALT_LEN) < 0 ||
		    strlen(check) != 64)
			rc = fl_fail(err, FL_ERR_CONFIG, "%s is malformed (kdf, iterations, salt, check)", path);
		iterations = (long)it;
	}
	if (rc == 0 && PKCS5_PBKDF2_HMAC(pass, (int)strlen(pass), salt, SALT_LEN, (int)iterations, EVP_sha256(),
					 CRYPT_KEY_LEN, key->k) != 1)
		rc = fl_fail(err, FL_ERR_INTERNAL, "PBKDF2 failed");
	explicit_bzero(pass, sizeof pass);
	char mine[65];
	if (rc == 0)
		check_value(key, mine);
	if (rc == 0 && check != NULL && strcmp(mine, check) != 0)
		rc = fl_fail(err, FL_ERR_SECRET,
			     "the encryption key in %s is not the repository's (its check value in %s differs)",
			     key_file, path);
	if (rc == 0 && j == NULL) {
		char salt_hex[2 * SALT_LEN + 1], tmp[PATH_MAX + 8];
		hex(salt, SALT_LEN, salt_hex);
		json_t *n = json_pack("{s:s, s:i, s:s, s:s}", "kdf", "pbkdf2-sha256", "iterations", KDF_ITERATIONS,
				      "salt", salt_hex, "check", mine);
		snprintf(tmp, sizeof tmp, "%s.tmp", path);
		if (n == NULL || json_dump_file(n, tmp, JSON_INDENT(2) | JSON_SORT_KEYS) < 0 || rename(tmp, path) < 0)
			rc = fl_fail(err, FL_ERR_IO, "cannot write %s: %s", path, strerror(errno));
		json_decref(n);
	}
	json_decref(j);
	if (rc < 0)
		crypt_key_wipe(key);
	return rc;
}

void crypt_key_wipe(crypt_key *key) { explicit_bzero(key->k, sizeof key->k); }

bool crypt_is_encrypted(const void *head, size_t len)
{
	return len >= MAGIC_LEN && memcmp(head, MAGIC, MAGIC_LEN) == 0;
}

static void nonce_of(const unsigned char *prefix, uint32_t i, unsigned char nonce[12])
{
	memcpy(nonce, prefix, PREFIX_LEN);
	nonce[8] = (unsigned char)(i >> 24);
	nonce[9] = (unsigned char)(i >> 16);
	nonce[10] = (unsigned char)(i >> 8);
	nonce[11] = (unsigned char)i;
}

static void aad_of(uint32_t i, bool last, unsigned char aad[MAGIC_LEN + 5])
{
	memcpy(aad, MAGIC, MAGIC_LEN);
	aad[8] = (unsigned char)(i >> 24);
	aad[9] = (unsigned char)(i >> 16);
	aad[10] = (unsigned char)(i >> 8);
	aad[11] = (unsigned char)i;
	aad[12] = last;
}

/* One chunk through AES-256-GCM; tag is written (encrypt) or checked (decrypt). */
static int chunk(const crypt_key *key, bool enc, const unsigned char *prefix, uint32_t i, bool last,
		 const unsigned char *in, int len, unsigned char *out, unsigned char *tag)
{
	unsigned char nonce[12], aad[MAGIC_LEN + 5];
	nonce_of(prefix, i, nonce);
	aad_of(i, last, aad);
	EVP_CIPHER_CTX *c = EVP_CIPHER_CTX_new();
	int n = 0, ok = c != NULL && EVP_CipherInit_ex(c, EVP_aes_256_gcm(), NULL, key->k, nonce, enc) == 1 &&
			EVP_CipherUpdate(c, NULL, &n, aad, sizeof aad) == 1 &&
			(len == 0 || EVP_CipherUpdate(c, out, &n, in, len) == 1);
	if (ok && !enc)
		ok = EVP_CIPHER_CTX_ctrl(c, EVP_CTRL_GCM_SET_TAG, TAG_LEN, tag) == 1;
	int fin = 0;
	if (ok)
		ok = EVP_CipherFinal_ex(c, out + (len ? n : 0), &fin) == 1;
	if (ok && enc)
		ok = EVP_CIPHER_CTX_ctrl(c, EVP_CTRL_GCM_GET_TAG, TAG_LEN, tag) == 1;
	EVP_CIPHER_CTX_free(c);
	return ok ? 0 : -1;
}

static void put32(unsigned char *b, uint32_t v)
{
	b[0] = (unsigned char)(v >> 24);
	b[1] = (unsigned char)(v >> 16);
	b[2] = (unsigned char)(v >> 8);
	b[3] = (unsigned char)v;
}

static uint32_t get32(const unsigned char *b)
{
	return (uint32_t)b[0] << 24 | (uint32_t)b[1] << 16 | (uint32_t)b[2] << 8 | b[3];
}

int crypt_encrypt_stream(const crypt_key *key, FILE *in, FILE *out, const char *what, fl_err *err)
{
	unsigned char prefix[PREFIX_LEN];
	if (RAND_bytes(prefix, PREFIX_LEN) != 1)
		return fl_fail(err, FL_ERR_INTERNAL, "no random bytes for a nonce");
	unsigned char *a = malloc(CHUNK), *b = malloc(CHUNK), *c = malloc(CHUNK);
	int rc = -1;
	if (a == NULL || b == NULL || c == NULL) {
		fl_fail(err, FL_ERR_INTERNAL, "out of memory");
		goto out;
	}
	if (fwrite(MAGIC, 1, MAGIC_LEN, out) != MAGIC_LEN || fwrite(prefix, 1, PREFIX_LEN, out) != PREFIX_LEN) {
		fl_fail(err, FL_ERR_IO, "%s: cannot write: %s", what, strerror(errno));
		goto out;
	}
	/* One chunk read ahead, so that the last one is known to be last. */
	size_t n = fread(a, 1, CHUNK, in);
	for (uint32_t i = 0;; i++) {
		size_t next = n == CHUNK ? fread(b, 1, CHUNK, in) : 0;
		if (ferror(in)) {
			fl_fail(err, FL_ERR_IO, "%s: cannot read: %s", what, strerror(errno));
			goto out;
		}
		bool last = next == 0;
		unsigned char head[4], tag[TAG_LEN];
		put32(head, (uint32_t)n | (last ? LAST_FLAG : 0));
		if (chunk(key, true, prefix, i, last, a, (int)n, c, tag) < 0) {
			fl_fail(err, FL_ERR_INTERNAL, "%s: encryption failed", what);
			goto out;
		}
		if (fwrite(head, 1, 4, out) != 4 || fwrite(c, 1, n, out) != n ||
		    fwrite(tag, 1, TAG_LEN, out) != TAG_LEN) {
			fl_fail(err, FL_ERR_IO, "%s: cannot write: %s", what, strerror(errno));
			goto out;
		}
		if (last)
			break;
		unsigned char *t = a;
		a = b;
		b = t;
		n = next;
	}
	rc = 0;
out:
	free(a);
	free(b);
	free(c);
	return rc;
}

int crypt_decrypt_stream(const crypt_key *key, FILE *in, FILE *out, const char *what, fl_err *err)
{
	unsigned char head[MAGIC_LEN + PREFIX_LEN];
	if (fread(head, 1, sizeof head, in) != sizeof head || !crypt_is_encrypted(head, sizeof head))
		return fl_fail(err, FL_ERR_IO, "%s is not an encrypted stream of this repository", what);
	const unsigned char *prefix = head + MAGIC_LEN;
	unsigned char *a = malloc(CHUNK), *b = malloc(CHUNK);
	int rc = -1;
	if (a == NULL || b == NULL) {
		fl_fail(err, FL_ERR_INTERNAL, "out of memory");
		goto out;
	}
	for (uint32_t i = 0;; i++) {
		unsigned char len4[4], tag[TAG_LEN];
		if (fread(len4, 1, 4, in) != 4) {
			fl_fail(err, FL_ERR_IO, "%s: cut off before its last chunk (chunk %u)", what, i);
			goto out;
		}
		uint32_t v = get32(len4);
		bool last = (v & LAST_FLAG) != 0;
		size_t n = v & ~LAST_FLAG;
		if (n > CHUNK) {
			fl_fail(err, FL_ERR_IO, "%s: chunk %u claims %zu bytes", what, i, n);
			goto out;
		}
		if (fread(a, 1, n, in) != n || fread(tag, 1, TAG_LEN, in) != TAG_LEN) {
			fl_fail(err, FL_ERR_IO, "%s: cut off inside chunk %u", what, i);
			goto out;
		}
		if (chunk(key, false, prefix, i, last, a, (int)n, b, tag) < 0) {
			fl_fail(err, FL_ERR_SECRET,
				"%s: chunk %u does not authenticate: a wrong key, or the file was changed", what, i);
			goto out;
		}
		if (fwrite(b, 1, n, out) != n) {
			fl_fail(err, FL_ERR_IO, "%s: cannot write the decrypted data: %s", what, strerror(errno));
			goto out;
		}
		if (last)
			break;
	}
	if (fgetc(in) != EOF) {
		fl_fail(err, FL_ERR_IO, "%s: data after its last chunk", what);
		goto out;
	}
	rc = 0;
out:
	free(a);
	free(b);
	return rc;
}

static int buf_through(const crypt_key *key, bool enc, const void *in, size_t len, char **out, size_t *out_len,
		       fl_err *err)
{
	FILE *i = fmemopen((void *)(uintptr_t)in, len ? len : 1, "r");
	char *buf = NULL;
	size_t blen = 0;
	FILE *o = open_memstream(&buf, &blen);
	if (i == NULL || o == NULL) {
		if (i)
			fclose(i);
		if (o)
			fclose(o);
		free(buf);
		return fl_fail(err, FL_ERR_INTERNAL, "out of memory");
	}
	if (len == 0)
		fgetc(i);
	int rc = enc ? crypt_encrypt_stream(key, i, o, "WAL file", err)
		     : crypt_decrypt_stream(key, i, o, "WAL file", err);
	fclose(i);
	fclose(o);
	if (rc < 0) {
		free(buf);
		return -1;
	}
	*out = buf;
	*out_len = blen;
	return 0;
}

int crypt_encrypt_buf(const crypt_key *key, const void *in, size_t len, char **out, size_t *out_len, fl_err *err)
{
	return buf_through(key, true, in, len, out, out_len, err);
}

int crypt_decrypt_buf(const crypt_key *key, const void *in, size_t len, char **out, size_t *out_len, fl_err *err)
{
	return buf_through(key, false, in, len, out, out_len, err);
}

int crypt_encrypt_file(const crypt_key *key, const char *path, fl_err *err)
{
	char enc[PATH_MAX + 8], tmp[PATH_MAX + 16];
	snprintf(enc, sizeof enc, "%s.enc", path);
	snprintf(tmp, sizeof tmp, "%s.tmp", enc);
	FILE *in = fopen(path, "rb");
	if (in == NULL)
		return fl_fail(err, FL_ERR_IO, "cannot open %s: %s", path, strerror(errno));
	FILE *out = fopen(tmp, "wb");
	if (out == NULL) {
		int e = errno;
		fclose(in);
		return fl_fail(err, FL_ERR_IO, "cannot create %s: %s", tmp, strerror(e));
	}
	int rc = crypt_encrypt_stream(key, in, out, path, err);
	fclose(in);
	if (rc == 0 && (fflush(out) != 0 || fsync(fileno(out)) != 0))
		rc = fl_fail(err, FL_ERR_IO, "cannot sync %s: %s", tmp, strerror(errno));
	if (fclose(out) != 0 && rc == 0)
		rc = fl_fail(err, FL_ERR_IO, "cannot write %s: %s", tmp, strerror(errno));
	if (rc == 0 && rename(tmp, enc) < 0)
		rc = fl_fail(err, FL_ERR_IO, "cannot rename into %s: %s", enc, strerror(errno));
	if (rc < 0) {
		unlink(tmp);
		return -1;
	}
	unlink(path);
	return 0;
}
