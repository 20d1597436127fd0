/*
 * http_client: one HTTP exchange at a time on a private event_base, the one
 * client of the etcd client and the CLI. A request runs until its answer, a
 * failure, or its budget of seconds, timed by our own timer, so a
 * black-holed server costs at most the budget; host names resolve through
 * evdns, which the timer can interrupt. A peer keeps its connection alive
 * between exchanges; after a failure the connection is freed, which frees a
 * request still on it without calling back, so no callback can reach a
 * finished exchange. An https:// peer speaks TLS (common/tls.h): the
 * server's certificate is verified, and a fresh session is made for every
 * connection.
 */
#ifndef FL_COMMON_HTTP_CLIENT_H
#define FL_COMMON_HTTP_CLIENT_H

#include <stdbool.h>
#include <stddef.h>

#include "err.h"
#include "tls.h"

/* An http:// or https:// URL taken apart. */
typedef struct http_url {
	bool tls;              /* https */
	char host[256];        /* without IPv6 brackets, to connect to */
	char host_header[300]; /* host[:port] as in the URL, with the port */
	int port;              /* the default_port when the URL has none */
	char target[2048];     /* "/path?query" */
} http_url;

/*
 * What is wrong with a base URL, "http[s]://host[:port]" (a trailing "/"
 * allowed), as a phrase to follow it ("has a path; give only
 * http://host:port"); NULL when nothing is. The etcd endpoints and the CLI's
 * --api and --etcd use it.
 */
const char *http_base_url_problem(const char *url);

/* Parses an http:// or https:// URL; fails (FL_ERR_USAGE) naming what is wrong with it. */
int http_url_parse(const char *url, int default_port, http_url *u, fl_err *err);

/*
 * Whether a secret (a bearer token) may travel to u: over TLS, or to a
 * loopback address (127.0.0.0/8, ::1, localhost), which never leaves the
 * machine.
 */
bool http_url_keeps_secrets(const http_url *u);

typedef struct http_peer http_peer;

typedef enum http_outcome { HTTP_PENDING, HTTP_ANSWERED, HTTP_FAILED, HTTP_TIMED_OUT } http_outcome;

/* How one exchange ended; on HTTP_ANSWERED, status and body (malloc'd, NUL-terminated). */
typedef struct http_exchange {
	http_outcome outcome;
	int status;
	char *body;
	size_t len;
	int sys_errno;
	int http_error;      /* an enum evhttp_request_error + 1, 0 when none was reported */
	char tls_error[192]; /* why TLS failed ("TLS: certificate verify failed: ..."), or "" */
} http_exchange;

typedef struct http_header {
	const char *name, *value;
} http_header;

/*
 * A server: host and port of a parsed URL, answers of at most max_body
 * bytes. An https URL uses tls (a client context, which the peer keeps a
 * reference to), or, when tls is NULL, one that trusts the system's CAs.
 */
http_peer *http_peer_new(const http_url *u, size_t max_body, tls_ctx *tls, fl_err *err);
void http_peer_free(http_peer *p);
/* Whether the last exchange was answered (a failure after one may be a stale keep-alive). */
bool http_peer_answered(const http_peer *p);
/*
 * One request: method "GET" or "POST", the URL's target, headers (Host is
 * added), a body (may be NULL), within budget seconds. Fills x; clear it
 * with http_exchange_clear.
 */
void http_peer_exchange(http_peer *p, const char *method, const char *target, const http_header *headers, int n_headers,
			const char *body, double budget, http_exchange *x);
/* The same with any method of GET, POST, PUT and DELETE, and a body of body_len bytes (binary). */
void http_peer_exchange_raw(http_peer *p, const char *method, const char *target, const http_header *headers,
			    int n_headers, const char *body, size_t body_len, double budget, http_exchange *x);
/*
 * Why an exchange got no answer: "<who> refused the connection", "<who> did
 * not answer within 1.0 s", ...; without who (NULL or ""), the same without it.
 */
void http_exchange_why(const http_exchange *x, const char *who, double budget, size_t max_body, char *buf, size_t len);
/* The error code that suits an exchange with no answer: FL_ERR_CONFIG for an answer that is not HTTP or too long. */
fl_code http_exchange_code(const http_exchange *x);
void http_exchange_clear(http_exchange *x);

/*
 * A stream: one POST on the caller's event base whose answer is read as it
 * comes, for etcd's watch. on_data gets each piece of the body of a 200
 * answer; on_end is called once, when the exchange is over: status 200
 * when the server ended the stream, the status of any other answer, or 0
 * with why (refused, no answer head within head_budget seconds, TLS, closed).
 * After on_end the stream does nothing more; free it, from on_end too.
 */
typedef struct http_stream http_stream;
struct event_base;
typedef void (*http_stream_data_fn)(const char *data, size_t len, void *arg);
typedef void (*http_stream_end_fn)(int status, const char *why, void *arg);
http_stream *http_stream_start(struct event_base *base, const http_url *u, tls_ctx *tls, const http_header *headers,
			       int n_headers, const char *body, double head_budget, http_stream_data_fn on_data,
			       http_stream_end_fn on_end, void *arg, fl_err *err);
/* Ends the stream without calling back (the connection is closed). */
void http_stream_free(http_stream *s);

#endif
