/*
 * test_base64: the RFC 4648 test vectors both ways, every length and byte
 * value through a round trip, and the refusals of the strict decoder.
 */
#include <stdlib.h>
#include <string.h>

#include "common/base64.h"
#include "cunit_main.h"

static const char *vectors[][2] = {
	{"", ""},
	{"f", "Zg=="},
	{"fo", "Zm8="},
	{"foo", "Zm9v"},
	{"foob", "Zm9vYg=="},
	{"fooba", "Zm9vYmE="},
	{"foobar", "Zm9vYmFy"},
};

static void test_rfc4648_vectors(void)
{
	for (size_t i = 0; i < sizeof vectors / sizeof vectors[0]; i++) {
		char *enc = base64_encode(vectors[i][0], strlen(vectors[i][0]));
		CU_ASSERT_STRING_EQUAL(enc, vectors[i][1]);
		size_t n = 99;
		char *dec = base64_decode(vectors[i][1], &n);
		CU_ASSERT_PTR_NOT_NULL_FATAL(dec);
		CU_ASSERT_EQUAL(n, strlen(vectors[i][0]));
		CU_ASSERT_STRING_EQUAL(dec, vectors[i][0]);
		free(enc);
		free(dec);
	}
}

static void test_every_length_and_byte_round_trips(void)
{
	unsigned char data[300];
	for (size_t i = 0; i < sizeof data; i++)
		data[i] = (unsigned char)(255 - i * 7);
	for (size_t len = 0; len <= sizeof data; len++) {
		char *enc = base64_encode(data, len);
		CU_ASSERT_EQUAL(strlen(enc), 4 * ((len + 2) / 3));
		size_t n = 0;
		char *dec = base64_decode(enc, &n);
		CU_ASSERT_PTR_NOT_NULL_FATAL(dec);
		CU_ASSERT_EQUAL(n, len);
		CU_ASSERT(memcmp(dec, data, len) == 0);
		free(enc);
		free(dec);
	}
	/* The whole alphabet, both ways. */
	char *dec = base64_decode("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/", NULL);
	char *enc = base64_encode(dec, 48);
	CU_ASSERT_STRING_EQUAL(enc, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/");
	free(dec);
	free(enc);
}

static void test_malformed_text_is_refused(void)
{
	static const char *bad[] = {
		"Zg=",      /* length not a multiple of 4 */
		"Zm9",      /* same */
		"Zm9v=",    /* same */
		"Zg==Zg==", /* padding before the end */
		"Z===",     /* three padding characters */
		"=Zg=",     /* padding first */
		"Zm9-",     /* URL-safe alphabet is not this one */
		"Zm9_",     /* same */
		"Zm 9",     /* whitespace */
		"Zh==",     /* padding bits set */
		"Zm9=",     /* padding bits set */
		"Zm\x80v",  /* high byte */
	};
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		char *dec = base64_decode(bad[i], NULL);
		if (dec != NULL)
			CU_FAIL(bad[i]);
		free(dec);
	}
}

void suite_register(void)
{
	CU_pSuite s = CU_add_suite("base64", NULL, NULL);
	CU_add_test(s, "RFC 4648 vectors", test_rfc4648_vectors);
	CU_add_test(s, "every length and byte round trips", test_every_length_and_byte_round_trips);
	CU_add_test(s, "malformed text is refused", test_malformed_text_is_refused);
}
