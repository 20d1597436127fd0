/*
 * http: one GET or POST with a deadline, for the CLI's calls to the agents' REST
 * API. Built on libevent's evhttp client with a private event_base that runs
 * until the answer arrives or our own timer fires, so a black-holed node
 * costs at most the timeout. Host names resolve through evdns, which the
 * timer can interrupt.
 */
#ifndef FL_CLI_HTTP_H
#define FL_CLI_HTTP_H

#include <stddef.h>

#include "common/err.h"

typedef struct http_answer {
	int status; /* HTTP status */
	char *body; /* NUL-terminated, malloc'd */
	size_t len;
} http_answer;

/*
 * GETs url (http://host[:port]/path) within timeout seconds. Any HTTP status
 * is an answer (0 returned). No answer is -1 with FL_ERR_TIMEOUT and why, for
 * the caller to put after the URL ("refused the connection", "timed out after
 * 3.0 s"); a reply that is not HTTP, or too long, is FL_ERR_CONFIG.
 */
int http_get(const char *url, double timeout, http_answer *out, fl_err *err);
/* The same with "Authorization: Bearer <token>" (wiped as http_post wipes it). */
int http_get_token(const char *url, const char *token, double timeout, http_answer *out, fl_err *err);
/*
 * POSTs body (JSON, may be NULL) to url as http_get does, with
 * "Authorization: Bearer <token>" when token is not NULL. The token is
 * wiped from the header buffer it was formatted into.
 */
int http_post(const char *url, const char *token, const char *body, double timeout, http_answer *out, fl_err *err);
/* As http_post with another method with a body (PATCH, PUT). */
int http_send(const char *url, const char *method, const char *token, const char *body, double timeout,
	      http_answer *out, fl_err *err);
void http_answer_clear(http_answer *a);
/*
 * The CA that signs the REST APIs' certificates (https:// URLs): path, or,
 * until one is set, FLOTILLA_API_CA_FILE, else the system's CAs. The
 * target sets it from a local cluster's cluster.json.
 */
void http_set_ca_file(const char *path);

#endif
