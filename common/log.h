/*
 * log: one event a line on stderr, with time, level, component and node:
 *   2026-11-23T10:00:00.123Z INFO replicator node=n1 lease renewed ttl=3
 * Levels below the configured one cost a comparison and nothing else.
 */
#ifndef FL_LOG_H
#define FL_LOG_H

typedef enum log_level { LOG_LEVEL_ERROR, LOG_LEVEL_WARN, LOG_LEVEL_INFO, LOG_LEVEL_DEBUG } log_level;

extern log_level log_threshold;

/* Sets the component ("replicator") and node name (may be NULL) of every line. */
void log_setup(const char *component, const char *node);
/* Parses "error", "warn", "info" or "debug"; returns -1 on anything else. */
int log_level_parse(const char *name, log_level *out);
void log_write(log_level level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

#define log_error(...) log_write(LOG_LEVEL_ERROR, __VA_ARGS__)
#define log_warn(...) log_write(LOG_LEVEL_WARN, __VA_ARGS__)
#define log_info(...)                                                                                                  \
	do {                                                                                                           \
		if (log_threshold >= LOG_LEVEL_INFO)                                                                   \
			log_write(LOG_LEVEL_INFO, __VA_ARGS__);                                                        \
	} while (0)
#define log_debug(...)                                                                                                 \
	do {                                                                                                           \
		if (log_threshold >= LOG_LEVEL_DEBUG)                                                                  \
			log_write(LOG_LEVEL_DEBUG, __VA_ARGS__);                                                       \
	} while (0)

#endif
