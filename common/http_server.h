/*
 * http_server: an HTTP/1.x server on the daemon's event loop, for a REST API
 * or a /metrics endpoint. Requests are bounded (head, body, a deadline for
 * the whole exchange from the accept) and so are connections (at most
 * conn_max; the oldest unfinished request makes way for a new connection,
 * and for an accept that ran out of file descriptors). Each request is
 * handed to the daemon as plain strings, and the daemon's answer (status,
 * content type, a few headers, a body) is sent as it is, with
 * Connection: close. The handler runs on the loop and must not block. With
 * a TLS context it speaks HTTPS only; the deadline covers the handshake.
 */
#ifndef FL_COMMON_HTTP_SERVER_H
#define FL_COMMON_HTTP_SERVER_H

#include <stddef.h>

#include "err.h"
#include "http_client.h"
#include "tls.h"

struct event_base;

typedef struct http_server http_server;

typedef struct http_in {
	const char *method;        /* "GET", "HEAD", "OPTIONS", "POST", "PUT", "PATCH" or "DELETE" (others get 501) */
	const char *uri;           /* raw, with its query */
	const char *authorization; /* the Authorization header, NULL when absent */
	const char *body;          /* not NUL-terminated, NULL when empty */
	size_t body_len;
} http_in;

#define HTTP_OUT_HEADERS 4

typedef struct http_out {
	int status;
	const char *content_type;
	const char *body; /* NUL-terminated unless body_len says how long; NULL for none */
	size_t body_len;  /* bytes of body (binary); 0: strlen(body) */
	int n_headers;
	http_header headers[HTTP_OUT_HEADERS];
} http_out;

typedef struct http_limits {
	int headers_max; /* bytes of the request line and headers; beyond, 431 */
	int body_max;    /* bytes of a request body; beyond, 413 */
	int timeout_s;   /* the whole exchange, from the accept: a connection still open then is closed */
	int conn_max;    /* connections open at once (fewer when the file descriptor limit leaves less room) */
	tls_ctx *tls;    /* a server context: HTTPS (the server keeps a reference); NULL: plain HTTP */
} http_limits;

/*
 * serve fills out for in; done (may be NULL) is called once the reply was
 * sent, to release what out points at.
 */
typedef void (*http_serve_fn)(void *arg, const http_in *in, http_out *out);
typedef void (*http_done_fn)(void *arg, http_out *out);

/* Listens on host:port; fails naming the address (FL_ERR_CONFIG when it is not host:port, FL_ERR_IO when taken). */
http_server *http_server_new(struct event_base *base, const char *listen, const http_limits *limits,
			     http_serve_fn serve, http_done_fn done, void *arg, fl_err *err);
void http_server_free(http_server *s);

#endif
