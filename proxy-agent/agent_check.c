/*
 * agent_check: the request line of HAProxy's agent check; see agent_check.h.
 */
#include "agent_check.h"

#include <stdbool.h>
#include <stdio.h>
#include <string.h>

static bool name_char(unsigned char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' || c == '_' ||
	       c == '.';
}

int agent_check_parse(const char *data, size_t len, agent_check_request *req, const char **why)
{
	const char *nl = memchr(data, '\n', len);
	size_t line = nl != NULL ? (size_t)(nl - data) : len;
	if (line >= AGENT_CHECK_REQUEST_MAX) {
		*why = "request line longer than 127 bytes";
		return -1;
	}
	for (size_t i = 0; i < line; i++) {
		unsigned char c = (unsigned char)data[i];
		if ((c < 0x20 && !(c == '\r' && i + 1 == line)) || c == 0x7f) {
			*why = "control byte in the request";
			return -1;
		}
	}
	if (nl == NULL)
		return 0;
	if (line > 0 && data[line - 1] == '\r')
		line--;
	const char *sp = memchr(data, ' ', line);
	if (sp == NULL) {
		*why = "request is not \"<backend> <server>\"";
		return -1;
	}
	size_t blen = (size_t)(sp - data);
	if (blen == 2 && memcmp(data, "rw", 2) == 0)
		req->backend = PLAN_RW;
	else if (blen == 2 && memcmp(data, "ro", 2) == 0)
		req->backend = PLAN_RO;
	else {
		*why = "unknown backend (not rw or ro)";
		return -1;
	}
	const char *name = sp + 1;
	size_t nlen = line - blen - 1;
	if (nlen == 0 || nlen >= sizeof req->server) {
		*why = "server name empty or longer than 63 bytes";
		return -1;
	}
	for (size_t i = 0; i < nlen; i++)
		if (!name_char((unsigned char)name[i])) {
			*why = name[i] == ' ' ? "extra words after the server name"
					      : "server name has a character outside [A-Za-z0-9._-]";
			return -1;
		}
	memcpy(req->server, name, nlen);
	req->server[nlen] = '\0';
	return 1;
}
