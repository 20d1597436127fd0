/*
 * metrics: Prometheus text lines.
 */
#include "metrics.h"

#include <inttypes.h>

#include <event2/buffer.h>

void metrics_label_value(char *dst, size_t len, const char *src)
{
	size_t j = 0;
	for (; *src && j + 2 < len; src++) {
		char c = *src == '\n' ? 'n' : *src;
		if (*src == '\\' || *src == '"' || *src == '\n')
			dst[j++] = '\\';
		dst[j++] = c;
	}
	dst[j] = '\0';
}

void metrics_head(struct evbuffer *b, const char *name, const char *type, const char *help)
{
	evbuffer_add_printf(b, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

static const char *braced(const char *labels, const char **close)
{
	*close = labels[0] ? "}" : "";
	return labels[0] ? "{" : "";
}

void metrics_u64(struct evbuffer *b, const char *name, const char *labels, uint64_t value)
{
	const char *close, *open = braced(labels, &close);
	evbuffer_add_printf(b, "%s%s%s%s %" PRIu64 "\n", name, open, labels, close, value);
}

void metrics_double(struct evbuffer *b, const char *name, const char *labels, double value)
{
	const char *close, *open = braced(labels, &close);
	evbuffer_add_printf(b, "%s%s%s%s %.3f\n", name, open, labels, close, value);
}

void metrics_one(struct evbuffer *b, const char *name, const char *type, const char *help, const char *labels,
		 uint64_t value)
{
	metrics_head(b, name, type, help);
	metrics_u64(b, name, labels, value);
}
