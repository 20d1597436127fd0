/*
 * base64: the standard alphabet with padding (RFC 4648 section 4), as etcd's
 * JSON gateway encodes keys and values. Strict: a decoder input that is not
 * canonical base64 is refused rather than guessed at.
 */
#ifndef FL_BASE64_H
#define FL_BASE64_H

#include <stddef.h>

/* A NUL-terminated encoding of len bytes, malloc'ed; NULL when out of memory. */
char *base64_encode(const void *data, size_t len);

/*
 * The decoded bytes of a NUL-terminated base64 text, malloc'ed and followed by
 * a NUL; *len (when not NULL) receives their count. NULL when the text is not
 * base64: a length that is not a multiple of 4, a character outside the
 * alphabet, '=' anywhere but the last two places, or non-zero padding bits.
 */
char *base64_decode(const char *text, size_t *len);

#endif
