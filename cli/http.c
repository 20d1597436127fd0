/*
 * http: a GET on a private event_base. The connection is freed when the call
 * ends, answered or not, which frees a request still on it without calling
 * back, so no callback can reach a finished call.
 */
#include "http.h"

#include <arpa/inet.h>
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <event2/buffer.h>
#include <event2/dns.h>
#include <event2/event.h>
#include <event2/http.h>

#define HTTP_DEFAULT_PORT 80
#define HTTP_MAX_BODY (16 * 1024 * 1024)

typedef struct http_post_req {
	const char *token; /* NULL: no Authorization header */
	const char *body;  /* JSON, NULL for none */
} http_post_req;

typedef enum call_state { CALL_PENDING, CALL_ANSWERED, CALL_FAILED, CALL_TIMED_OUT } call_state;

typedef struct call {
	call_state state;
	int http_error; /* an enum evhttp_request_error + 1, 0 when none was reported */
	int sys_errno;
	http_answer *out;
} call;

static void call_on_answer(struct evhttp_request *req, void *arg)
{
	call *c = arg;
	if (c->state != CALL_PENDING)
		return;
	int code = req ? evhttp_request_get_response_code(req) : 0;
	if (code == 0) {
		c->state = CALL_FAILED;
		c->sys_errno = errno;
		return;
	}
	struct evbuffer *in = evhttp_request_get_input_buffer(req);
	size_t len = evbuffer_get_length(in);
	c->out->body = malloc(len + 1);
	if (c->out->body == NULL) {
		c->state = CALL_FAILED;
		c->sys_errno = ENOMEM;
		return;
	}
	evbuffer_remove(in, c->out->body, len);
	c->out->body[len] = '\0';
	c->out->len = len;
	c->out->status = code;
	c->state = CALL_ANSWERED;
}

static void call_on_error(enum evhttp_request_error error, void *arg)
{
	call *c = arg;
	if (c->http_error == 0)
		c->http_error = (int)error + 1;
}

static void call_on_timer(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	call *c = arg;
	if (c->state == CALL_PENDING)
		c->state = CALL_TIMED_OUT;
}

/* Why no answer came, for the caller to put after the URL. */
static int call_fail(const call *c, double timeout, fl_err *err)
{
	if (c->state == CALL_TIMED_OUT)
		return fl_fail(err, FL_ERR_TIMEOUT, "timed out after %.1f s", timeout);
	if (c->sys_errno == ENOMEM)
		return fl_fail(err, FL_ERR_INTERNAL, "out of memory");
	/* evhttp reports a refused connect with no error code, and errno is reset on the way to the callback. */
	if (c->http_error == 0 || c->sys_errno == ECONNREFUSED)
		return fl_fail(err, FL_ERR_TIMEOUT, "refused the connection");
	if (c->http_error - 1 == EVREQ_HTTP_EOF)
		return fl_fail(err, FL_ERR_TIMEOUT, "closed the connection without answering");
	if (c->http_error - 1 == EVREQ_HTTP_DATA_TOO_LONG)
		return fl_fail(err, FL_ERR_CONFIG, "answered more than %d bytes", HTTP_MAX_BODY);
	if (c->http_error - 1 == EVREQ_HTTP_INVALID_HEADER)
		return fl_fail(err, FL_ERR_CONFIG, "answered something that is not HTTP");
	if (c->sys_errno != 0)
		return fl_fail(err, FL_ERR_TIMEOUT, "%s", strerror(c->sys_errno));
	return fl_fail(err, FL_ERR_TIMEOUT, "connection failed");
}

static bool host_is_numeric(const char *host)
{
	unsigned char buf[sizeof(struct in6_addr)];
	return inet_pton(AF_INET, host, buf) == 1 || inet_pton(AF_INET6, host, buf) == 1;
}

/* Host, port and the request target ("/path?query") of url. */
typedef struct http_url {
	char host[256];        /* without IPv6 brackets */
	char host_header[300]; /* as in the URL, with the port */
	int port;
	char target[2048];
} http_url;

static int url_parse(const char *url, http_url *u, fl_err *err)
{
	struct evhttp_uri *p = evhttp_uri_parse(url);
	const char *scheme = p ? evhttp_uri_get_scheme(p) : NULL;
	const char *host = p ? evhttp_uri_get_host(p) : NULL;
	if (p == NULL || scheme == NULL || strcasecmp(scheme, "http") != 0 || host == NULL || host[0] == '\0') {
		if (p)
			evhttp_uri_free(p);
		return fl_fail(err, FL_ERR_USAGE, "\"%s\" is not an http://host[:port]/path URL", url);
	}
	size_t hl = strlen(host);
	if (host[0] == '[' && hl > 2 && host[hl - 1] == ']')
		snprintf(u->host, sizeof u->host, "%.*s", (int)(hl - 2), host + 1);
	else
		snprintf(u->host, sizeof u->host, "%s", host);
	u->port = evhttp_uri_get_port(p) > 0 ? evhttp_uri_get_port(p) : HTTP_DEFAULT_PORT;
	snprintf(u->host_header, sizeof u->host_header, "%s:%d", host, u->port);
	const char *path = evhttp_uri_get_path(p), *query = evhttp_uri_get_query(p);
	snprintf(u->target, sizeof u->target, "%s%s%s", path && path[0] ? path : "/", query ? "?" : "",
		 query ? query : "");
	evhttp_uri_free(p);
	return 0;
}

/* A POST's headers and JSON body; the token goes only into the Authorization header. */
static int call_post_setup(struct evhttp_request *req, struct evkeyvalq *headers, const http_post_req *post)
{
	const char *body = post->body ? post->body : "";
	if (evhttp_add_header(headers, "Content-Type", "application/json") < 0 ||
	    evbuffer_add(evhttp_request_get_output_buffer(req), body, strlen(body)) < 0)
		return -1;
	if (post->token == NULL)
		return 0;
	size_t n = strlen(post->token) + sizeof "Bearer ";
	char *auth = malloc(n);
	if (auth == NULL)
		return -1;
	snprintf(auth, n, "Bearer %s", post->token);
	int rc = evhttp_add_header(headers, "Authorization", auth);
	explicit_bzero(auth, n);
	free(auth);
	return rc;
}

/* Runs the loop until c is decided; the event objects are the caller's. */
static void call_run(struct event_base *base, struct evhttp_connection *conn, const http_url *u,
		     const http_post_req *post, double timeout, call *c)
{
	struct evhttp_request *req = evhttp_request_new(call_on_answer, c);
	struct event *timer = evtimer_new(base, call_on_timer, c);
	if (req == NULL || timer == NULL) {
		if (req != NULL)
			evhttp_request_free(req);
		if (timer != NULL)
			event_free(timer);
		c->state = CALL_FAILED;
		c->sys_errno = ENOMEM;
		return;
	}
	evhttp_request_set_error_cb(req, call_on_error);
	struct evkeyvalq *headers = evhttp_request_get_output_headers(req);
	evhttp_add_header(headers, "Host", u->host_header);
	evhttp_add_header(headers, "Accept", "application/json");
	evhttp_add_header(headers, "Connection", "close");
	if (post != NULL && call_post_setup(req, headers, post) < 0) {
		evhttp_request_free(req);
		event_free(timer);
		c->state = CALL_FAILED;
		c->sys_errno = ENOMEM;
		return;
	}
	struct timeval tv = {.tv_sec = (time_t)timeout,
			     .tv_usec = (suseconds_t)((timeout - (double)(time_t)timeout) * 1e6)};
	evtimer_add(timer, &tv);
	errno = 0;
	/* A connect that fails at once calls back from inside evhttp_make_request. */
	if (evhttp_make_request(conn, req, post ? EVHTTP_REQ_POST : EVHTTP_REQ_GET, u->target) != 0 &&
	    c->state == CALL_PENDING) {
		c->state = CALL_FAILED;
		c->sys_errno = errno;
	}
	while (c->state == CALL_PENDING)
		if (event_base_loop(base, EVLOOP_ONCE) < 0) {
			c->state = CALL_FAILED;
			c->sys_errno = errno;
		}
	event_free(timer);
}

static int http_call(const char *url, const http_post_req *post, double timeout, http_answer *out, fl_err *err)
{
	memset(out, 0, sizeof *out);
	http_url u;
	if (url_parse(url, &u, err) < 0)
		return -1;
	call c = {CALL_PENDING, 0, 0, out};
	struct event_base *base = event_base_new();
	struct evdns_base *dns = NULL;
	struct evhttp_connection *conn = NULL;
	if (base != NULL && !host_is_numeric(u.host))
		dns = evdns_base_new(base, EVDNS_BASE_INITIALIZE_NAMESERVERS);
	if (base != NULL)
		conn = evhttp_connection_base_new(base, dns, u.host, (unsigned short)u.port);
	if (conn == NULL) {
		c.state = CALL_FAILED;
		c.sys_errno = ENOMEM;
	} else {
		evhttp_connection_set_max_body_size(conn, HTTP_MAX_BODY);
		call_run(base, conn, &u, post, timeout, &c);
		evhttp_connection_free(conn);
	}
	if (dns != NULL)
		evdns_base_free(dns, 0);
	if (base != NULL)
		event_base_free(base);
	if (c.state == CALL_ANSWERED)
		return 0;
	http_answer_clear(out);
	return call_fail(&c, timeout, err);
}

int http_get(const char *url, double timeout, http_answer *out, fl_err *err)
{
	return http_call(url, NULL, timeout, out, err);
}

int http_post(const char *url, const char *token, const char *body, double timeout, http_answer *out, fl_err *err)
{
	http_post_req post = {token, body};
	return http_call(url, &post, timeout, out, err);
}

void http_answer_clear(http_answer *a)
{
	if (a == NULL)
		return;
	free(a->body);
	memset(a, 0, sizeof *a);
}
