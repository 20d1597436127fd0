/*
 * metrics: the Prometheus text exposition format (0.0.4), written into a
 * libevent buffer: the HELP and TYPE lines of a family, its samples, and the
 * escaping of label values (backslash, double quote and newline).
 */
#ifndef FL_COMMON_METRICS_H
#define FL_COMMON_METRICS_H

#include <stddef.h>
#include <stdint.h>

struct evbuffer;

/* src as a label value, escaped and cut to fit len. */
void metrics_label_value(char *dst, size_t len, const char *src);
/* "# HELP name help" and "# TYPE name type". */
void metrics_head(struct evbuffer *b, const char *name, const char *type, const char *help);
/* "name{labels} value"; labels is the text between the braces ("" for none). */
void metrics_u64(struct evbuffer *b, const char *name, const char *labels, uint64_t value);
void metrics_double(struct evbuffer *b, const char *name, const char *labels, double value);
/* A family of one sample: head and value. */
void metrics_one(struct evbuffer *b, const char *name, const char *type, const char *help, const char *labels,
		 uint64_t value);

#endif
