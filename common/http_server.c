/*
 * http_server: a small HTTP/1.x server on bufferevents (see http_server.h).
 * One request per connection, answered with Connection: close. Every
 * connection has a deadline from its accept: the whole request must arrive,
 * and the answer leave, within timeout_s, however slowly the bytes trickle
 * in. At most conn_max connections are open; a new one (or a failed accept
 * for want of file descriptors) ends the oldest connection still sending
 * its request, so that a flood of slow clients cannot keep a health check
 * out. A request already received when its connection is accepted is
 * answered at once, before any later accept can end it.
 */
#include "http_server.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/resource.h>
#include <sys/socket.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/bufferevent_ssl.h>
#include <openssl/ssl.h>
#include <event2/event.h>

#include "clock.h"
#include "crowd.h"
#include "hostport.h"
#include "http_head.h"
#include "log.h"

/* File descriptors left to the daemon beside the connections, and the fewest connections allowed. */
#define HTTP_FD_RESERVE 32
#define HTTP_CONN_MIN 4
/* Seconds a connection that sent nothing yet is ended only when no other can be. */
#define HTTP_QUIET_GRACE 0.1

typedef struct conn conn;

struct http_server {
	struct event_base *base;
	crowd_listener *listener;
	crowd crowd; /* the open connections, oldest first */
	http_limits lim;
	http_serve_fn serve;
	http_done_fn done;
	void *arg;
};

struct conn {
	crowd_node node; /* first: a crowd_node is its conn */
	http_server *s;
	struct bufferevent *bev;
	struct event *deadline;
};

static const char *reason(int status)
{
	static const struct {
		int status;
		const char *text;
	} rows[] = {
		{200, "OK"},
		{201, "Created"},
		{202, "Accepted"},
		{204, "No Content"},
		{400, "Bad Request"},
		{401, "Unauthorized"},
		{403, "Forbidden"},
		{404, "Not Found"},
		{405, "Method Not Allowed"},
		{408, "Request Timeout"},
		{409, "Conflict"},
		{411, "Length Required"},
		{412, "Precondition Failed"},
		{413, "Content Too Large"},
		{414, "URI Too Long"},
		{415, "Unsupported Media Type"},
		{422, "Unprocessable Content"},
		{429, "Too Many Requests"},
		{431, "Request Header Fields Too Large"},
		{500, "Internal Server Error"},
		{501, "Not Implemented"},
		{503, "Service Unavailable"},
		{505, "HTTP Version Not Supported"},
	};
	for (size_t i = 0; i < sizeof rows / sizeof rows[0]; i++)
		if (rows[i].status == status)
			return rows[i].text;
	return status < 300 ? "OK" : status < 500 ? "Client Error" : "Server Error";
}

static void conn_free(conn *c)
{
	crowd_remove(&c->s->crowd, &c->node);
	event_free(c->deadline);
	/* An answered TLS client gets a close_notify: its answer ended, nobody cut it. */
	struct ssl_st *ssl = bufferevent_openssl_get_ssl(c->bev);
	if (ssl != NULL && c->node.answering)
		SSL_shutdown(ssl);
	bufferevent_free(c->bev);
	free(c);
}

static bool evict(void *arg)
{
	http_server *s = arg;
	conn *victim = (conn *)crowd_victim(&s->crowd, clock_mono(), HTTP_QUIET_GRACE);
	if (victim == NULL)
		return false;
	conn_free(victim);
	return true;
}

static void on_written(struct bufferevent *bev, void *arg)
{
	if (evbuffer_get_length(bufferevent_get_output(bev)) == 0)
		conn_free(arg);
}

static void answer(conn *c, bool head_only, const http_out *out)
{
	c->node.answering = true;
	bufferevent_disable(c->bev, EV_READ);
	struct evbuffer *o = bufferevent_get_output(c->bev);
	int status = out->status ? out->status : 500;
	size_t len = out->body == NULL ? 0 : out->body_len ? out->body_len : strlen(out->body);
	evbuffer_add_printf(o, "HTTP/1.1 %d %s\r\n", status, reason(status));
	if (out->content_type)
		evbuffer_add_printf(o, "Content-Type: %s\r\n", out->content_type);
	for (int i = 0; i < out->n_headers && i < HTTP_OUT_HEADERS; i++)
		evbuffer_add_printf(o, "%s: %s\r\n", out->headers[i].name, out->headers[i].value);
	evbuffer_add_printf(o, "Content-Length: %zu\r\nConnection: close\r\n\r\n", len);
	if (len && !head_only)
		evbuffer_add(o, out->body, len);
	bufferevent_setcb(c->bev, NULL, on_written, NULL, c);
}

static void refuse(conn *c, int status, const char *why)
{
	char body[256];
	snprintf(body, sizeof body, "%s\n", why);
	http_out out = {.status = status, .content_type = "text/plain; charset=utf-8", .body = body};
	answer(c, false, &out);
}

static const char *known_method(const char *m)
{
	static const char *const methods[] = {"GET", "HEAD", "OPTIONS", "POST", "PUT", "PATCH", "DELETE"};
	for (size_t i = 0; i < sizeof methods / sizeof methods[0]; i++)
		if (strcmp(m, methods[i]) == 0)
			return methods[i];
	return NULL;
}

static void on_read(struct bufferevent *bev, void *arg)
{
	conn *c = arg;
	http_server *s = c->s;
	struct evbuffer *in = bufferevent_get_input(bev);
	size_t len = evbuffer_get_length(in);
	c->node.started = len > 0;
	size_t cap = (size_t)s->lim.headers_max + (size_t)s->lim.body_max;
	const char *data = (const char *)evbuffer_pullup(in, (ev_ssize_t)(len < cap ? len : cap));
	http_head h;
	int status = 0;
	const char *why = NULL;
	long head = http_head_parse(data, len, (size_t)s->lim.headers_max, (size_t)s->lim.body_max, &h, &status, &why);
	if (head < 0) {
		refuse(c, status, why);
		return;
	}
	if (head == 0 || len < (size_t)head + h.content_length)
		return; /* more to come, within the deadline */
	const char *method = known_method(h.method);
	if (method == NULL) {
		refuse(c, 501, "method not implemented");
		return;
	}
	http_in req = {
		.method = method,
		.uri = h.target,
		.authorization = h.has_authorization ? h.authorization : NULL,
		.body = h.content_length ? data + head : NULL,
		.body_len = h.content_length,
	};
	http_out out = {0};
	s->serve(s->arg, &req, &out);
	answer(c, strcmp(method, "HEAD") == 0, &out);
	if (s->done)
		s->done(s->arg, &out);
}

static void on_event(struct bufferevent *bev, short what, void *arg)
{
	(void)bev;
	if (what & (BEV_EVENT_EOF | BEV_EVENT_ERROR))
		conn_free(arg);
}

static void on_deadline(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	conn_free(arg);
}

static void on_accept(void *arg, evutil_socket_t fd, const struct sockaddr *sa, int salen)
{
	(void)sa;
	(void)salen;
	http_server *s = arg;
	conn *c = calloc(1, sizeof *c);
	struct ssl_st *ssl = c && s->lim.tls ? tls_server_session(s->lim.tls) : NULL;
	struct bufferevent *bev = NULL;
	if (ssl != NULL)
		bev = bufferevent_openssl_socket_new(s->base, fd, ssl, BUFFEREVENT_SSL_ACCEPTING,
						     BEV_OPT_CLOSE_ON_FREE);
	else if (c != NULL && s->lim.tls == NULL)
		bev = bufferevent_socket_new(s->base, fd, BEV_OPT_CLOSE_ON_FREE);
	if (bev == NULL && ssl != NULL)
		SSL_free(ssl);
	struct event *dl = bev ? evtimer_new(s->base, on_deadline, c) : NULL;
	if (dl == NULL) {
		if (bev)
			bufferevent_free(bev);
		else
			evutil_closesocket(fd);
		free(c);
		return;
	}
	c->s = s;
	c->bev = bev;
	c->deadline = dl;
	crowd_add(&s->crowd, &c->node, clock_mono());
	struct timeval tv = {s->lim.timeout_s, 0};
	evtimer_add(dl, &tv);
	bufferevent_setcb(bev, on_read, NULL, on_event, c);
	bufferevent_enable(bev, EV_READ);
	/* A request already waiting is served now: a burst of accepts that follows must not end it unread. */
	if (ssl == NULL && evbuffer_read(bufferevent_get_input(bev), fd, s->lim.headers_max + s->lim.body_max) > 0)
		on_read(bev, c);
}

http_server *http_server_new(struct event_base *base, const char *listen, const http_limits *limits,
			     http_serve_fn serve, http_done_fn done, void *arg, fl_err *err)
{
	char host[128];
	int port;
	if (hostport_parse(listen, host, sizeof host, &port) < 0) {
		fl_fail(err, FL_ERR_CONFIG, "listen address \"%s\" is not host:port", listen ? listen : "");
		return NULL;
	}
	struct sockaddr_storage ss = {0};
	socklen_t sl = 0;
	struct sockaddr_in *in4 = (struct sockaddr_in *)&ss;
	struct sockaddr_in6 *in6 = (struct sockaddr_in6 *)&ss;
	if (inet_pton(AF_INET, host, &in4->sin_addr) == 1) {
		in4->sin_family = AF_INET;
		in4->sin_port = htons((uint16_t)port);
		sl = sizeof *in4;
	} else if (inet_pton(AF_INET6, host, &in6->sin6_addr) == 1) {
		in6->sin6_family = AF_INET6;
		in6->sin6_port = htons((uint16_t)port);
		sl = sizeof *in6;
	} else if (strcmp(host, "localhost") == 0) {
		in4->sin_family = AF_INET;
		in4->sin_port = htons((uint16_t)port);
		in4->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
		sl = sizeof *in4;
	} else {
		fl_fail(err, FL_ERR_CONFIG, "listen address \"%s\": the host must be an IP address", listen);
		return NULL;
	}
	http_server *s = calloc(1, sizeof *s);
	if (s == NULL) {
		fl_fail(err, FL_ERR_INTERNAL, "cannot allocate the HTTP server");
		return NULL;
	}
	s->base = base;
	s->lim = *limits;
	s->lim.tls = tls_ctx_ref(limits->tls);
	/* Connections never take the descriptors the daemon needs for itself (etcd, PostgreSQL, pipes). */
	struct rlimit rl;
	long fds = getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur != RLIM_INFINITY ? (long)rl.rlim_cur : -1;
	s->crowd.cap = crowd_cap(limits->conn_max, fds, HTTP_FD_RESERVE, HTTP_CONN_MIN);
	s->serve = serve;
	s->done = done;
	s->arg = arg;
	s->listener = crowd_listener_new(base, (struct sockaddr *)&ss, (int)sl, listen, &s->crowd, on_accept, evict, s,
					 "http server", err);
	if (s->listener == NULL) {
		http_server_free(s);
		return NULL;
	}
	return s;
}

void http_server_free(http_server *s)
{
	if (s == NULL)
		return;
	while (s->crowd.head)
		conn_free((conn *)s->crowd.head);
	crowd_listener_free(s->listener);
	tls_ctx_free(s->lim.tls);
	free(s);
}
