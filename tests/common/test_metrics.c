/*
 * test_metrics: the Prometheus text lines and the escaping of label values.
 */
#include <stdlib.h>
#include <string.h>

#include <event2/buffer.h>

#include "common/metrics.h"
#include "cunit_main.h"

static char *text_of(struct evbuffer *b)
{
	size_t n = evbuffer_get_length(b);
	char *t = malloc(n + 1);
	evbuffer_remove(b, t, n);
	t[n] = '\0';
	return t;
}

static void test_label_values_are_escaped_and_bounded(void)
{
	char out[64];
	metrics_label_value(out, sizeof out, "a\"b\\c\nd");
	CU_ASSERT_STRING_EQUAL(out, "a\\\"b\\\\c\\nd");
	char small[5];
	metrics_label_value(small, sizeof small, "\"\"\"\"");
	CU_ASSERT_STRING_EQUAL(small, "\\\"\\\""); /* two escapes fit, an escape is never cut in half */
	metrics_label_value(out, sizeof out, "");
	CU_ASSERT_STRING_EQUAL(out, "");
}

static void test_families_and_samples(void)
{
	struct evbuffer *b = evbuffer_new();
	metrics_one(b, "flotilla_up", "gauge", "1 when up.", "name=\"n1\"", 1);
	metrics_u64(b, "flotilla_total", "", 18446744073709551615ULL);
	metrics_double(b, "flotilla_lag_seconds", "name=\"n2\"", 0.25);
	char *t = text_of(b);
	CU_ASSERT_STRING_EQUAL(t,
			       "# HELP flotilla_up 1 when up.\n# TYPE flotilla_up gauge\nflotilla_up{name=\"n1\"} 1\n"
			       "flotilla_total 18446744073709551615\nflotilla_lag_seconds{name=\"n2\"} 0.250\n");
	free(t);
	evbuffer_free(b);
}

void suite_register(void)
{
	CU_pSuite s = CU_add_suite("metrics", NULL, NULL);
	CU_add_test(s, "label values are escaped and bounded", test_label_values_are_escaped_and_bounded);
	CU_add_test(s, "families and samples", test_families_and_samples);
}
