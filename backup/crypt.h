/*
 * crypt: encryption at rest of the repository, AES-256-GCM. The key comes
 * from a passphrase in a secret file, stretched with PBKDF2-HMAC-SHA256 and
 * the repository's own salt (REPO/encryption.json, which also holds a check
 * value, so a wrong passphrase is refused by name before anything is read).
 *
 * An encrypted file is a stream of chunks: the magic "FLENC1\0\0", an
 * 8-byte random nonce prefix, then chunks of at most 1 MiB, each a 4-byte
 * big-endian length (its high bit marks the last chunk), the ciphertext and
 * its 16-byte tag. Chunk i's nonce is the prefix and i; its additional data
 * is the magic, i and the last-chunk flag, so chunks can be neither
 * reordered, dropped nor cut off at the end without the tag saying so.
 */
#ifndef FL_BACKUP_CRYPT_H
#define FL_BACKUP_CRYPT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

#include "common/err.h"

#define CRYPT_KEY_LEN 32

typedef struct crypt_key {
	unsigned char k[CRYPT_KEY_LEN];
} crypt_key;

/*
 * The repository's key from the passphrase in key_file: with create, a
 * repository without encryption.json gets one (a new salt); a passphrase
 * that does not match its check value is refused (FL_ERR_SECRET).
 */
int crypt_key_open(const char *repo, const char *key_file, bool create, crypt_key *key, fl_err *err);
void crypt_key_wipe(crypt_key *key);

/* Whether the first bytes of a file or buffer are an encrypted stream's. */
bool crypt_is_encrypted(const void *head, size_t len);

/* A buffer encrypted or decrypted whole; *out is malloc'd. */
int crypt_encrypt_buf(const crypt_key *key, const void *in, size_t len, char **out, size_t *out_len, fl_err *err);
int crypt_decrypt_buf(const crypt_key *key, const void *in, size_t len, char **out, size_t *out_len, fl_err *err);

/* Streams in to out; what names the stream in errors ("base.tar.zst"). */
int crypt_encrypt_stream(const crypt_key *key, FILE *in, FILE *out, const char *what, fl_err *err);
int crypt_decrypt_stream(const crypt_key *key, FILE *in, FILE *out, const char *what, fl_err *err);

/* Encrypts path into path.enc (synced), then removes path. */
int crypt_encrypt_file(const crypt_key *key, const char *path, fl_err *err);

#endif
