/*
 * http_client: evhttp requests with our own timer on a private event_base.
 */
#include "http_client.h"

#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/bufferevent_ssl.h>
#include <event2/dns.h>
#include <event2/event.h>
#include <event2/http.h>

#include <openssl/err.h>
#include <openssl/ssl.h>

#include "daemon.h"
#include "log.h"

struct http_peer {
	struct event_base *base;
	struct evdns_base *dns;
	struct evhttp_connection *conn; /* kept alive between exchanges; NULL until the first, or after a failure */
	char host[256];
	char host_header[300];
	int port;
	size_t max_body;
	bool answered;
	bool closed;  /* the server closed the kept-alive connection: the next exchange makes a new one */
	tls_ctx *tls; /* https: a new session for every connection */
};

int http_url_parse(const char *url, int default_port, http_url *u, fl_err *err)
{
	memset(u, 0, sizeof *u);
	struct evhttp_uri *p = evhttp_uri_parse(url);
	const char *scheme = p ? evhttp_uri_get_scheme(p) : NULL;
	const char *host = p ? evhttp_uri_get_host(p) : NULL;
	int rc = 0;
	if (p == NULL)
		rc = fl_fail(err, FL_ERR_USAGE, "\"%s\" is not a URL", url);
	else if (scheme == NULL || (strcasecmp(scheme, "http") != 0 && strcasecmp(scheme, "https") != 0))
		rc = fl_fail(err, FL_ERR_USAGE, "\"%s\" does not start with http:// or https://", url);
	else if (host == NULL || host[0] == '\0')
		rc = fl_fail(err, FL_ERR_USAGE, "\"%s\" has no host", url);
	else if (strlen(host) >= sizeof u->host)
		rc = fl_fail(err, FL_ERR_USAGE, "\"%s\" has too long a host", url);
	if (rc < 0) {
		if (p)
			evhttp_uri_free(p);
		return rc;
	}
	u->tls = strcasecmp(scheme, "https") == 0;
	size_t hl = strlen(host);
	if (host[0] == '[' && hl > 2 && host[hl - 1] == ']')
		snprintf(u->host, sizeof u->host, "%.*s", (int)(hl - 2), host + 1);
	else
		snprintf(u->host, sizeof u->host, "%s", host);
	u->port = evhttp_uri_get_port(p) > 0 ? evhttp_uri_get_port(p) : default_port;
	snprintf(u->host_header, sizeof u->host_header, "%s:%d", host, u->port);
	const char *path = evhttp_uri_get_path(p), *query = evhttp_uri_get_query(p);
	snprintf(u->target, sizeof u->target, "%s%s%s", path && path[0] ? path : "/", query ? "?" : "",
		 query ? query : "");
	evhttp_uri_free(p);
	return 0;
}

const char *http_base_url_problem(const char *url)
{
	struct evhttp_uri *u = evhttp_uri_parse(url);
	if (u == NULL)
		return "is not a URL";
	const char *scheme = evhttp_uri_get_scheme(u), *host = evhttp_uri_get_host(u), *path = evhttp_uri_get_path(u);
	const char *problem = NULL;
	if (scheme == NULL || (strcasecmp(scheme, "http") != 0 && strcasecmp(scheme, "https") != 0))
		problem = "does not start with http:// or https://";
	else if (host == NULL || host[0] == '\0')
		problem = "has no host";
	else if (path != NULL && path[0] != '\0' && strcmp(path, "/") != 0)
		problem = "has a path; give only http://host:port";
	else if (evhttp_uri_get_query(u) != NULL || evhttp_uri_get_fragment(u) != NULL)
		problem = "has a query or fragment; give only http://host:port";
	evhttp_uri_free(u);
	return problem;
}

bool http_url_keeps_secrets(const http_url *u)
{
	struct in_addr a4;
	struct in6_addr a6;
	if (u->tls || strcasecmp(u->host, "localhost") == 0)
		return true;
	if (inet_pton(AF_INET, u->host, &a4) == 1)
		return (ntohl(a4.s_addr) >> 24) == 127;
	return inet_pton(AF_INET6, u->host, &a6) == 1 && IN6_IS_ADDR_LOOPBACK(&a6);
}

static bool host_is_numeric(const char *host)
{
	unsigned char buf[sizeof(struct in6_addr)];
	return inet_pton(AF_INET, host, buf) == 1 || inet_pton(AF_INET6, host, buf) == 1;
}

http_peer *http_peer_new(const http_url *u, size_t max_body, tls_ctx *tls, fl_err *err)
{
	http_peer *p = calloc(1, sizeof *p);
	if (p == NULL || (p->base = event_base_new()) == NULL) {
		free(p);
		fl_fail(err, FL_ERR_INTERNAL, "http: cannot create an event base");
		return NULL;
	}
	if (u->tls) {
		p->tls = tls ? tls_ctx_ref(tls) : tls_client_new(NULL, NULL, NULL, err);
		if (p->tls == NULL) {
			event_base_free(p->base);
			free(p);
			return NULL;
		}
	}
	snprintf(p->host, sizeof p->host, "%s", u->host);
	snprintf(p->host_header, sizeof p->host_header, "%s", u->host_header);
	p->port = u->port;
	p->max_body = max_body;
	/* Without an evdns base, evhttp resolves names with a blocking getaddrinfo that no timer can interrupt. */
	if (!host_is_numeric(p->host)) {
		p->dns = evdns_base_new(p->base, EVDNS_BASE_INITIALIZE_NAMESERVERS | EVDNS_BASE_DISABLE_WHEN_INACTIVE);
		if (p->dns == NULL)
			log_warn("http: cannot set up asynchronous DNS; %s resolves without a timeout", p->host);
	}
	return p;
}

/*
 * Frees a connection and its TLS session. The OpenSSL bufferevent does not
 * own the socket (no BEV_OPT_CLOSE_ON_FREE): evhttp closes it, once, when it
 * resets the connection or frees it, whereas a bufferevent that owned it
 * would close the same number again on free, by then perhaps another
 * connection's.
 */
static void connection_free(struct evhttp_connection *conn)
{
	struct bufferevent *bev = evhttp_connection_get_bufferevent(conn);
	struct ssl_st *ssl = bev ? bufferevent_openssl_get_ssl(bev) : NULL;
	evhttp_connection_free(conn);
	if (ssl != NULL)
		SSL_free(ssl);
}

static void peer_drop(http_peer *p)
{
	if (p->conn != NULL)
		connection_free(p->conn);
	p->conn = NULL;
	p->answered = false;
	p->closed = false;
}

static void on_close(struct evhttp_connection *conn, void *arg)
{
	(void)conn;
	((http_peer *)arg)->closed = true;
}

/*
 * A connection: a plain one, or one on an OpenSSL bufferevent with a new
 * session. evhttp would reconnect a closed connection with the same
 * session, which TLS does not allow, so a closed one is never reused.
 */
static struct evhttp_connection *http_connection_new(struct event_base *base, struct evdns_base *dns, tls_ctx *tls,
						     const char *host, int port)
{
	if (tls == NULL)
		return evhttp_connection_base_new(base, dns, host, (unsigned short)port);
	struct ssl_st *ssl = tls_client_session(tls, host);
	if (ssl == NULL)
		return NULL;
	struct bufferevent *bev = bufferevent_openssl_socket_new(base, -1, ssl, BUFFEREVENT_SSL_CONNECTING, 0);
	if (bev == NULL) {
		SSL_free(ssl);
		return NULL;
	}
	/* A server that closes without a TLS close_notify has still answered in full (Content-Length or chunks). */
	bufferevent_openssl_set_allow_dirty_shutdown(bev, 1);
	struct evhttp_connection *conn =
		evhttp_connection_base_bufferevent_new(base, dns, bev, host, (unsigned short)port);
	if (conn == NULL) {
		bufferevent_free(bev);
		SSL_free(ssl);
	}
	return conn;
}

static void http_connection_tls_error(struct evhttp_connection *conn, char *buf, size_t len)
{
	buf[0] = '\0';
	struct bufferevent *bev = conn ? evhttp_connection_get_bufferevent(conn) : NULL;
	struct ssl_st *ssl = bev ? bufferevent_openssl_get_ssl(bev) : NULL;
	if (ssl == NULL)
		return;
	unsigned long e = bufferevent_get_openssl_error(bev);
	while (bufferevent_get_openssl_error(bev) != 0)
		;
	/* A code outside OpenSSL's libraries is SSL_ERROR_SYSCALL: the peer closed or reset the connection. */
	if (e != 0 && ERR_GET_LIB(e) == 0)
		e = 0;
	if (e != 0 || SSL_get_verify_result(ssl) != X509_V_OK)
		tls_error_text(ssl, e, buf, len);
}

void http_peer_free(http_peer *p)
{
	if (p == NULL)
		return;
	peer_drop(p);
	if (p->dns != NULL)
		evdns_base_free(p->dns, 0);
	event_base_free(p->base);
	tls_ctx_free(p->tls);
	free(p);
}

bool http_peer_answered(const http_peer *p) { return p->answered; }

static void on_answer(struct evhttp_request *req, void *arg)
{
	http_exchange *x = arg;
	if (x->outcome != HTTP_PENDING)
		return;
	int code = req ? evhttp_request_get_response_code(req) : 0;
	if (code == 0) {
		x->outcome = HTTP_FAILED;
		x->sys_errno = errno;
		return;
	}
	struct evbuffer *in = evhttp_request_get_input_buffer(req);
	size_t len = evbuffer_get_length(in);
	x->body = malloc(len + 1);
	if (x->body == NULL) {
		x->outcome = HTTP_FAILED;
		x->sys_errno = ENOMEM;
		return;
	}
	evbuffer_remove(in, x->body, len);
	x->body[len] = '\0';
	x->len = len;
	x->status = code;
	x->outcome = HTTP_ANSWERED;
}

static void on_error(enum evhttp_request_error error, void *arg)
{
	http_exchange *x = arg;
	if (x->http_error == 0)
		x->http_error = (int)error + 1;
}

static void on_timer(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	http_exchange *x = arg;
	if (x->outcome == HTTP_PENDING)
		x->outcome = HTTP_TIMED_OUT;
}

static void out_of_memory(http_exchange *x)
{
	x->outcome = HTTP_FAILED;
	x->sys_errno = ENOMEM;
}

/* Host, the headers and the body of a request; -1 without memory. */
static int request_fill(struct evhttp_request *req, const char *host_header, const http_header *headers, int n_headers,
			const char *body, size_t body_len)
{
	struct evkeyvalq *out = evhttp_request_get_output_headers(req);
	int rc = evhttp_add_header(out, "Host", host_header);
	for (int i = 0; rc == 0 && i < n_headers; i++)
		rc = evhttp_add_header(out, headers[i].name, headers[i].value);
	if (rc == 0 && body != NULL)
		rc = evbuffer_add(evhttp_request_get_output_buffer(req), body, body_len);
	return rc == 0 ? 0 : -1;
}

static struct evhttp_request *request_new(http_peer *p, const http_header *headers, int n_headers, const char *body,
					  size_t body_len, http_exchange *x)
{
	struct evhttp_request *req = evhttp_request_new(on_answer, x);
	if (req == NULL)
		return NULL;
	evhttp_request_set_error_cb(req, on_error);
	if (request_fill(req, p->host_header, headers, n_headers, body, body_len) < 0) {
		evhttp_request_free(req);
		return NULL;
	}
	return req;
}

static enum evhttp_cmd_type command(const char *method)
{
	if (strcmp(method, "POST") == 0)
		return EVHTTP_REQ_POST;
	if (strcmp(method, "PUT") == 0)
		return EVHTTP_REQ_PUT;
	if (strcmp(method, "DELETE") == 0)
		return EVHTTP_REQ_DELETE;
	if (strcmp(method, "PATCH") == 0)
		return EVHTTP_REQ_PATCH;
	return EVHTTP_REQ_GET;
}

void http_peer_exchange(http_peer *p, const char *method, const char *target, const http_header *headers, int n_headers,
			const char *body, double budget, http_exchange *x)
{
	http_peer_exchange_raw(p, method, target, headers, n_headers, body, body ? strlen(body) : 0, budget, x);
}

void http_peer_exchange_raw(http_peer *p, const char *method, const char *target, const http_header *headers,
			    int n_headers, const char *body, size_t body_len, double budget, http_exchange *x)
{
	memset(x, 0, sizeof *x);
	x->outcome = HTTP_PENDING;
	/* Lets a keep-alive connection notice that the server closed it while we were away. */
	event_base_loop(p->base, EVLOOP_NONBLOCK);
	if (p->closed)
		peer_drop(p);
	if (p->conn == NULL) {
		p->conn = http_connection_new(p->base, p->dns, p->tls, p->host, p->port);
		if (p->conn == NULL) {
			out_of_memory(x);
			return;
		}
		evhttp_connection_set_max_body_size(p->conn, (ev_ssize_t)p->max_body);
		evhttp_connection_set_closecb(p->conn, on_close, p);
	}
	struct evhttp_request *req = request_new(p, headers, n_headers, body, body_len, x);
	struct event *timer = evtimer_new(p->base, on_timer, x);
	if (req == NULL || timer == NULL) {
		if (req != NULL)
			evhttp_request_free(req);
		if (timer != NULL)
			event_free(timer);
		out_of_memory(x);
		return;
	}
	daemon_timer_arm(timer, budget);
	errno = 0;
	enum evhttp_cmd_type cmd = command(method);
	/* evhttp counts the body of a POST or PUT itself, not a PATCH's. */
	if (cmd == EVHTTP_REQ_PATCH && body != NULL) {
		char length[32];
		snprintf(length, sizeof length, "%zu", body_len);
		evhttp_add_header(evhttp_request_get_output_headers(req), "Content-Length", length);
	}
	/* A connect that fails at once calls back from inside evhttp_make_request. */
	if (evhttp_make_request(p->conn, req, cmd, target) != 0 && x->outcome == HTTP_PENDING) {
		x->outcome = HTTP_FAILED;
		x->sys_errno = errno;
	}
	while (x->outcome == HTTP_PENDING) {
		if (event_base_loop(p->base, EVLOOP_ONCE) < 0) {
			x->outcome = HTTP_FAILED;
			x->sys_errno = errno;
		}
	}
	event_free(timer);
	/* Freeing the connection frees a request still on it without calling back into x. */
	if (x->outcome != HTTP_ANSWERED) {
		http_connection_tls_error(p->conn, x->tls_error, sizeof x->tls_error);
		peer_drop(p);
	} else
		p->answered = true;
}

void http_exchange_why(const http_exchange *x, const char *who, double budget, size_t max_body, char *buf, size_t len)
{
	if (who == NULL || who[0] == '\0') {
		/* Without a subject: "refused the connection", to put after the URL. */
		char full[512];
		http_exchange_why(x, "-", budget, max_body, full, sizeof full);
		snprintf(buf, len, "%s", full[1] == ':' ? full + 3 : full + 2);
		return;
	}
	int http = x->http_error - 1;
	if (x->tls_error[0] != '\0')
		snprintf(buf, len, "%s: %s", who, x->tls_error);
	else if (x->outcome == HTTP_TIMED_OUT)
		snprintf(buf, len, "%s did not answer within %.*f s", who, budget < 0.1 ? 2 : 1, budget);
	else if (x->sys_errno == ENOMEM)
		snprintf(buf, len, "%s: out of memory", who);
	/* evhttp reports a refused connect with no error code, and errno is reset on the way to the callback. */
	else if (x->http_error == 0 || x->sys_errno == ECONNREFUSED)
		snprintf(buf, len, "%s refused the connection", who);
	else if (http == EVREQ_HTTP_EOF)
		snprintf(buf, len, "%s closed the connection without answering", who);
	else if (http == EVREQ_HTTP_DATA_TOO_LONG)
		snprintf(buf, len, "%s answered more than %zu bytes", who, max_body);
	else if (http == EVREQ_HTTP_INVALID_HEADER)
		snprintf(buf, len, "%s answered something that is not HTTP", who);
	else if (x->sys_errno != 0)
		snprintf(buf, len, "%s: %s", who, strerror(x->sys_errno));
	else
		snprintf(buf, len, "%s: connection failed", who);
}

fl_code http_exchange_code(const http_exchange *x)
{
	int http = x->http_error - 1;
	if (x->sys_errno == ENOMEM)
		return FL_ERR_INTERNAL;
	if (x->outcome == HTTP_FAILED && x->http_error != 0 &&
	    (http == EVREQ_HTTP_DATA_TOO_LONG || http == EVREQ_HTTP_INVALID_HEADER))
		return FL_ERR_CONFIG;
	return FL_ERR_TIMEOUT;
}

void http_exchange_clear(http_exchange *x)
{
	if (x == NULL)
		return;
	free(x->body);
	x->body = NULL;
	x->len = 0;
}

/* ---- streams ---- */

struct http_stream {
	struct event_base *base;
	struct evdns_base *dns;
	struct evhttp_connection *conn;
	struct event *timer; /* the answer head's deadline, then a deferred end */
	http_stream_data_fn on_data;
	http_stream_end_fn on_end;
	void *arg;
	int status;
	bool head_seen, ended;
	char why[256];
	char host[256];
};

/* Calls on_end once, from the event loop (never from inside an evhttp callback that frees the request). */
static void stream_end_soon(http_stream *s, int status, const char *why)
{
	if (s->ended)
		return;
	s->ended = true;
	s->status = status;
	snprintf(s->why, sizeof s->why, "%s", why ? why : "");
	daemon_timer_arm(s->timer, 0);
}

static void stream_on_timer(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	http_stream *s = arg;
	if (!s->ended) {
		/* The head's deadline passed. */
		snprintf(s->why, sizeof s->why, "%s did not answer", s->host);
		s->ended = true;
		s->status = 0;
	}
	s->on_end(s->status, s->why, s->arg);
}

static int stream_on_head(struct evhttp_request *req, void *arg)
{
	http_stream *s = arg;
	s->head_seen = true;
	s->status = evhttp_request_get_response_code(req);
	event_del(s->timer);
	return 0;
}

static void stream_on_chunk(struct evhttp_request *req, void *arg)
{
	http_stream *s = arg;
	struct evbuffer *in = evhttp_request_get_input_buffer(req);
	if (s->ended || s->status != 200) {
		evbuffer_drain(in, evbuffer_get_length(in));
		return;
	}
	size_t len = evbuffer_get_length(in);
	const char *data = len ? (const char *)evbuffer_pullup(in, (ev_ssize_t)len) : NULL;
	if (data != NULL)
		s->on_data(data, len, s->arg);
	evbuffer_drain(in, len);
}

static void stream_on_done(struct evhttp_request *req, void *arg)
{
	http_stream *s = arg;
	int code = req ? evhttp_request_get_response_code(req) : 0;
	if (code != 0) {
		stream_end_soon(s, code, code == 200 ? "the server ended the stream" : "");
		return;
	}
	char why[200] = "";
	http_connection_tls_error(s->conn, why, sizeof why);
	if (why[0] == '\0')
		snprintf(why, sizeof why, "%s", s->head_seen ? "the connection closed" : "the connection failed");
	stream_end_soon(s, 0, why);
}

http_stream *http_stream_start(struct event_base *base, const http_url *u, tls_ctx *tls, const http_header *headers,
			       int n_headers, const char *body, double head_budget, http_stream_data_fn on_data,
			       http_stream_end_fn on_end, void *arg, fl_err *err)
{
	http_stream *s = calloc(1, sizeof *s);
	if (s == NULL) {
		fl_fail(err, FL_ERR_INTERNAL, "http: out of memory");
		return NULL;
	}
	s->base = base;
	s->on_data = on_data;
	s->on_end = on_end;
	s->arg = arg;
	snprintf(s->host, sizeof s->host, "%s", u->host_header);
	if (!host_is_numeric(u->host))
		s->dns = evdns_base_new(base, EVDNS_BASE_INITIALIZE_NAMESERVERS | EVDNS_BASE_DISABLE_WHEN_INACTIVE);
	s->timer = evtimer_new(base, stream_on_timer, s);
	s->conn = s->timer ? http_connection_new(base, s->dns, u->tls ? tls : NULL, u->host, u->port) : NULL;
	struct evhttp_request *req = s->conn ? evhttp_request_new(stream_on_done, s) : NULL;
	if (req == NULL) {
		http_stream_free(s);
		fl_fail(err, FL_ERR_INTERNAL, "http: cannot start a stream to %s", u->host_header);
		return NULL;
	}
	evhttp_request_set_header_cb(req, stream_on_head);
	evhttp_request_set_chunked_cb(req, stream_on_chunk);
	if (request_fill(req, u->host_header, headers, n_headers, body, body ? strlen(body) : 0) < 0) {
		evhttp_request_free(req);
		http_stream_free(s);
		fl_fail(err, FL_ERR_INTERNAL, "http: out of memory");
		return NULL;
	}
	daemon_timer_arm(s->timer, head_budget);
	if (evhttp_make_request(s->conn, req, EVHTTP_REQ_POST, u->target) != 0)
		stream_end_soon(s, 0, "the request could not be sent");
	return s;
}

void http_stream_free(http_stream *s)
{
	if (s == NULL)
		return;
	if (s->conn != NULL)
		connection_free(s->conn);
	if (s->timer != NULL)
		event_free(s->timer);
	if (s->dns != NULL)
		evdns_base_free(s->dns, 0);
	free(s);
}
