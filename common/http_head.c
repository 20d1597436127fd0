/*
 * http_head: the request head parser (see http_head.h).
 */
#include "http_head.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

static long fail(int *status, const char **why, int code, const char *msg)
{
	*status = code;
	*why = msg;
	return -1;
}

/* The end of the head: the index just past its blank line, or 0 when not in buf[0..len). */
static size_t head_end(const char *buf, size_t len)
{
	for (size_t i = 0; i + 1 < len; i++) {
		if (buf[i] != '\n')
			continue;
		if (buf[i + 1] == '\n')
			return i + 2;
		if (buf[i + 1] == '\r' && i + 2 < len && buf[i + 2] == '\n')
			return i + 3;
	}
	return 0;
}

static bool token_char(char c)
{
	return isalnum((unsigned char)c) || (c != '\0' && strchr("!#$%&'*+-.^_`|~", c) != NULL);
}

/* One line of [p, end): its length without CR LF, and *next past it. */
static size_t line_of(const char *p, const char *end, const char **next)
{
	const char *nl = memchr(p, '\n', (size_t)(end - p));
	if (nl == NULL)
		nl = end;
	*next = nl < end ? nl + 1 : end;
	size_t n = (size_t)(nl - p);
	if (n > 0 && p[n - 1] == '\r')
		n--;
	return n;
}

static long request_line(const char *p, size_t n, http_head *h, int *status, const char **why)
{
	const char *sp1 = memchr(p, ' ', n);
	if (sp1 == NULL || sp1 == p)
		return fail(status, why, 400, "the request line is not METHOD TARGET HTTP/1.x");
	size_t ml = (size_t)(sp1 - p);
	for (size_t i = 0; i < ml; i++)
		if (!token_char(p[i]))
			return fail(status, why, 400, "the method holds a character that is not a token's");
	if (ml >= HTTP_METHOD_MAX)
		return fail(status, why, 501, "unknown method");
	const char *t = sp1 + 1, *end = p + n;
	const char *sp2 = memchr(t, ' ', (size_t)(end - t));
	if (sp2 == NULL || sp2 == t)
		return fail(status, why, 400, "the request line is not METHOD TARGET HTTP/1.x");
	size_t tl = (size_t)(sp2 - t);
	if (tl >= HTTP_TARGET_MAX)
		return fail(status, why, 414, "the request target is too long");
	for (size_t i = 0; i < tl; i++)
		if ((unsigned char)t[i] <= 0x20 || (unsigned char)t[i] >= 0x7f)
			return fail(status, why, 400, "the request target holds a control character or a space");
	if (t[0] != '/' && !(tl == 1 && t[0] == '*'))
		return fail(status, why, 400, "the request target is not a path");
	const char *v = sp2 + 1;
	size_t vl = (size_t)(end - v);
	if (vl != 8 || memcmp(v, "HTTP/1.", 7) != 0 || !isdigit((unsigned char)v[7])) {
		if (vl >= 5 && memchr(v, ' ', vl) == NULL && memcmp(v, "HTTP/", 5) == 0)
			return fail(status, why, 505, "only HTTP/1.0 and HTTP/1.1 are served");
		return fail(status, why, 400, "the request line is not METHOD TARGET HTTP/1.x");
	}
	memcpy(h->method, p, ml);
	h->method[ml] = '\0';
	memcpy(h->target, t, tl);
	h->target[tl] = '\0';
	h->minor = v[7] - '0';
	return 0;
}

static long header_line(const char *p, size_t n, size_t body_max, http_head *h, bool *have_length, int *status,
			const char **why)
{
	if (p[0] == ' ' || p[0] == '\t')
		return fail(status, why, 400, "obsolete line folding in a header");
	const char *colon = memchr(p, ':', n);
	if (colon == NULL || colon == p)
		return fail(status, why, 400, "a header line without a name and ':'");
	size_t nl = (size_t)(colon - p);
	for (size_t i = 0; i < nl; i++)
		if (!token_char(p[i]))
			return fail(status, why, 400, "a header name holds a character that is not a token's");
	const char *v = colon + 1, *end = p + n;
	while (v < end && (*v == ' ' || *v == '\t'))
		v++;
	while (end > v && (end[-1] == ' ' || end[-1] == '\t'))
		end--;
	size_t vl = (size_t)(end - v);
	for (size_t i = 0; i < vl; i++)
		if ((unsigned char)v[i] < 0x20 && v[i] != '\t')
			return fail(status, why, 400, "a header value holds a control character");
	if (nl == 13 && strncasecmp(p, "authorization", 13) == 0) {
		if (vl >= HTTP_AUTH_MAX)
			return fail(status, why, 431, "the Authorization header is too long");
		memcpy(h->authorization, v, vl);
		h->authorization[vl] = '\0';
		h->has_authorization = true;
	} else if (nl == 14 && strncasecmp(p, "content-length", 14) == 0) {
		size_t value = 0;
		if (vl == 0 || vl > 18)
			return fail(status, why, vl ? 413 : 400,
				    vl ? "the body is too large" : "an empty Content-Length");
		for (size_t i = 0; i < vl; i++) {
			if (!isdigit((unsigned char)v[i]))
				return fail(status, why, 400, "Content-Length is not a number");
			value = value * 10 + (size_t)(v[i] - '0');
		}
		if (*have_length && value != h->content_length)
			return fail(status, why, 400, "two different Content-Length headers");
		if (value > body_max)
			return fail(status, why, 413, "the body is too large");
		h->content_length = value;
		*have_length = true;
	} else if (nl == 17 && strncasecmp(p, "transfer-encoding", 17) == 0) {
		return fail(status, why, 411, "transfer codings are not accepted: send Content-Length");
	}
	return 0;
}

long http_head_parse(const char *buf, size_t len, size_t max, size_t body_max, http_head *h, int *status,
		     const char **why)
{
	memset(h, 0, sizeof *h);
	size_t end = head_end(buf, len > max ? max : len);
	if (end == 0)
		return len >= max ? fail(status, why, 431, "the request head is too large") : 0;
	const char *p = buf, *stop = buf + end, *next;
	while (p < stop && (*p == '\r' || *p == '\n')) /* blank lines before the request line are tolerated */
		p++;
	size_t n = line_of(p, stop, &next);
	if (n == 0)
		return fail(status, why, 400, "no request line");
	if (request_line(p, n, h, status, why) < 0)
		return -1;
	bool have_length = false;
	for (p = next; p < stop; p = next) {
		n = line_of(p, stop, &next);
		if (n == 0)
			break;
		if (header_line(p, n, body_max, h, &have_length, status, why) < 0)
			return -1;
	}
	return (long)end;
}
