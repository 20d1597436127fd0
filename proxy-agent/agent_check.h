/*
 * agent_check: HAProxy's agent-check protocol, as the proxy agent serves it.
 * HAProxy connects, sends the server's `agent-send` string, which Flotilla's
 * configuration sets to "<backend> <server>\n" (e.g. "ro n2\n"), and reads one
 * line: "up ready 75%", "drain" or "maint" (plan_agent_reply). This module
 * parses the request; anything that is not exactly that shape is refused with
 * the reason, and the daemon closes that connection and logs it.
 */
#ifndef FL_PROXY_AGENT_CHECK_H
#define FL_PROXY_AGENT_CHECK_H

#include <stddef.h>

#include "plan.h"

#define AGENT_CHECK_REQUEST_MAX 128

typedef struct agent_check_request {
	plan_backend backend;
	char server[CLUSTER_NAME_MAX];
} agent_check_request;

/*
 * Parses the bytes received so far. Returns 1 with *req filled when a whole
 * line (ending in "\n", optionally "\r\n") is there, 0 when more bytes are
 * needed, -1 when the input can never become a valid request (*why names the
 * problem: too long, a NUL or control byte, an unknown backend, a bad server
 * name, extra words).
 */
int agent_check_parse(const char *data, size_t len, agent_check_request *req, const char **why);

#endif
