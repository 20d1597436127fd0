/*
 * base64: RFC 4648 encoding and strict decoding.
 */
#include "base64.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

static const char alphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

char *base64_encode(const void *data, size_t len)
{
	if (len > (SIZE_MAX - 1) / 4 * 3 - 2)
		return NULL;
	const unsigned char *in = data;
	char *out = malloc(4 * ((len + 2) / 3) + 1);
	if (out == NULL)
		return NULL;
	char *p = out;
	size_t i = 0;
	for (; i + 3 <= len; i += 3) {
		uint32_t v = (uint32_t)in[i] << 16 | (uint32_t)in[i + 1] << 8 | in[i + 2];
		*p++ = alphabet[v >> 18];
		*p++ = alphabet[v >> 12 & 63];
		*p++ = alphabet[v >> 6 & 63];
		*p++ = alphabet[v & 63];
	}
	if (i < len) {
		uint32_t v = (uint32_t)in[i] << 16 | (i + 1 < len ? (uint32_t)in[i + 1] << 8 : 0);
		*p++ = alphabet[v >> 18];
		*p++ = alphabet[v >> 12 & 63];
		*p++ = i + 1 < len ? alphabet[v >> 6 & 63] : '=';
		*p++ = '=';
	}
	*p = '\0';
	return out;
}

/* The value of one alphabet character, -1 for any other. */
static int sextet(unsigned char c)
{
	if (c >= 'A' && c <= 'Z')
		return c - 'A';
	if (c >= 'a' && c <= 'z')
		return c - 'a' + 26;
	if (c >= '0' && c <= '9')
		return c - '0' + 52;
	if (c == '+')
		return 62;
	if (c == '/')
		return 63;
	return -1;
}

char *base64_decode(const char *text, size_t *len)
{
	size_t n = strlen(text);
	if (n % 4 != 0)
		return NULL;
	size_t pad = 0;
	while (pad < 2 && pad < n && text[n - 1 - pad] == '=')
		pad++;
	unsigned char *out = malloc(n / 4 * 3 + 1);
	if (out == NULL)
		return NULL;
	size_t o = 0;
	for (size_t i = 0; i < n; i += 4) {
		uint32_t v = 0;
		size_t digits = i + 4 == n ? 4 - pad : 4;
		for (size_t k = 0; k < 4; k++) {
			int s = k < digits ? sextet((unsigned char)text[i + k]) : 0;
			if (s < 0) {
				free(out);
				return NULL;
			}
			v = v << 6 | (uint32_t)s;
		}
		/* Bits that padding hides must be zero: one encoding per byte string. */
		if ((digits == 2 && (v & 0xffff)) || (digits == 3 && (v & 0xff))) {
			free(out);
			return NULL;
		}
		out[o++] = (unsigned char)(v >> 16);
		if (digits > 2)
			out[o++] = (unsigned char)(v >> 8);
		if (digits > 3)
			out[o++] = (unsigned char)v;
	}
	out[o] = '\0';
	if (len != NULL)
		*len = o;
	return (char *)out;
}
