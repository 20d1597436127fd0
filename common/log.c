/*
 * log: formats and writes one line per event. Newlines inside a message are
 * replaced so that one event stays one line.
 */
#include "log.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include <event2/event.h>

log_level log_threshold = LOG_LEVEL_INFO;
static char log_component[32] = "flotilla";
static char log_node[64];

static const char *const level_names[] = {"ERROR", "WARN", "INFO", "DEBUG"};

/* libevent's own messages (its DNS resolver's, say) as lines of ours; what the caller reports covers "msg". */
static void log_libevent(int severity, const char *msg)
{
	log_level level = severity == EVENT_LOG_ERR    ? LOG_LEVEL_ERROR
			  : severity == EVENT_LOG_WARN ? LOG_LEVEL_WARN
						       : LOG_LEVEL_DEBUG;
	log_write(level, "libevent: %s", msg);
}

void log_setup(const char *component, const char *node)
{
	snprintf(log_component, sizeof log_component, "%s", component ? component : "flotilla");
	snprintf(log_node, sizeof log_node, "%s", node ? node : "");
	event_set_log_callback(log_libevent);
}

int log_level_parse(const char *name, log_level *out)
{
	static const char *const names[] = {"error", "warn", "info", "debug"};
	for (int i = 0; i < 4; i++) {
		if (strcmp(name, names[i]) == 0) {
			*out = (log_level)i;
			return 0;
		}
	}
	return -1;
}

void log_write(log_level level, const char *fmt, ...)
{
	if (level > log_threshold)
		return;
	struct timespec ts;
	struct tm tm;
	char msg[2048];
	clock_gettime(CLOCK_REALTIME, &ts);
	gmtime_r(&ts.tv_sec, &tm);
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof msg, fmt, ap);
	va_end(ap);
	for (char *p = msg; *p; p++)
		if (*p == '\n' || *p == '\r')
			*p = ' ';
	fprintf(stderr, "%04d-%02d-%02dT%02d:%02d:%02d.%03ldZ %s %s%s%s %s\n", tm.tm_year + 1900, tm.tm_mon + 1,
		tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, ts.tv_nsec / 1000000, level_names[level], log_component,
		log_node[0] ? " node=" : "", log_node, msg);
	fflush(stderr);
}
