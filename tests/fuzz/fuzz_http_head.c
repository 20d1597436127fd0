/*
 * fuzz_http_head: libFuzzer target of the HTTP request head parser, which
 * reads whatever connects to the REST API. The input is the bytes received
 * so far. Besides the sanitizers' checks: a refusal always has an HTTP
 * error status and a reason; "more bytes needed" only while the input is
 * within the size limit; an accepted head ends at a blank line inside the
 * input, its method is a token, its target starts with '/' (or is "*") and
 * holds no space or control character, its Content-Length is within the
 * body limit, and every shorter prefix of it is still incomplete or refused.
 *   cmake -S . -B build-fuzz -DCMAKE_C_COMPILER=clang -DFLOTILLA_FUZZ=ON
 *   cmake --build build-fuzz --target fuzz_http_head
 *   build-fuzz/tests/fuzz/fuzz_http_head -max_total_time=60 tests/fuzz/corpus/http_head
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/http_head.h"

#define HEAD_MAX 1024
#define BODY_MAX 4096

static void fail(const char *what, const uint8_t *data, size_t size)
{
	fprintf(stderr, "fuzz_http_head: %s (input of %zu bytes: %.*s)\n", what, size, (int)(size < 200 ? size : 200),
		(const char *)data);
	abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	http_head h;
	int status = 0;
	const char *why = NULL;
	long n = http_head_parse((const char *)data, size, HEAD_MAX, BODY_MAX, &h, &status, &why);
	if (n < 0) {
		if (why == NULL || status < 400 || status > 599)
			fail("a refusal without a reason or an error status", data, size);
		return 0;
	}
	if (n == 0) {
		if (size >= HEAD_MAX)
			fail("more wanted beyond the size limit", data, size);
		return 0;
	}
	if ((size_t)n > size || (size_t)n > HEAD_MAX || data[n - 1] != '\n')
		fail("an accepted head that does not end at a newline inside the input", data, size);
	if (h.method[0] == '\0' || (h.target[0] != '/' && strcmp(h.target, "*") != 0))
		fail("an accepted head without a method or a path", data, size);
	for (const char *t = h.target; *t; t++)
		if ((unsigned char)*t <= 0x20 || (unsigned char)*t >= 0x7f)
			fail("a target with a space or a control character", data, size);
	if (h.content_length > BODY_MAX)
		fail("a Content-Length beyond the body limit", data, size);
	for (size_t len = 0; len < (size_t)n; len++) {
		http_head p;
		if (http_head_parse((const char *)data, len, HEAD_MAX, BODY_MAX, &p, &status, &why) > 0)
			fail("a shorter prefix is already a complete head", data, size);
	}
	return 0;
}
