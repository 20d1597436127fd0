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
#include <event2/event.h>
#include <event2/listener.h>

#include "clock.h"
#include "hostport.h"
#include "http_head.h"
#include "log.h"

/* File descriptors left to the daemon beside the connections, and the fewest connections allowed. */
#define HTTP_FD_RESERVE 32
#define HTTP_CONN_MIN 4
/* The kernel's queue of connections not yet accepted: deep, so that a crowd does not make a health
 * check's SYN wait for a retransmission (capped by net.core.somaxconn). */
#define HTTP_BACKLOG 1024
/* Seconds a connection that sent nothing yet is ended only when no other can be. */
#define HTTP_QUIET_GRACE 0.1

typedef struct conn conn;

struct http_server {
	struct event_base *base;
	struct evconnlistener *listener;
	struct event *resume; /* listens again after running out of file descriptors */
	http_limits lim;
	http_serve_fn serve;
	http_done_fn done;
	void *arg;
	conn *head, *tail; /* oldest first */
	int n;
	uint64_t evicted;
	double warned_at;
};

struct conn {
	http_server *s;
	struct bufferevent *bev;
	struct event *deadline;
	bool answering; /* the request was read: the answer is being sent */
	bool started;   /* some of the request arrived */
	double accepted_at;
	conn *prev, *next;
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
	http_server *s = c->s;
	if (c->prev)
		c->prev->next = c->next;
	else
		s->head = c->next;
	if (c->next)
		c->next->prev = c->prev;
	else
		s->tail = c->prev;
	s->n--;
	event_free(c->deadline);
	bufferevent_free(c->bev);
	free(c);
}

/*
 * Ends one connection to make room: the oldest whose request started but
 * did not end, else the oldest that sent nothing for HTTP_QUIET_GRACE (a
 * client's request may still be on its way), else the oldest that sent
 * nothing. Never one being answered, nor `keep`. False when none may go.
 */
static bool evict_oldest(http_server *s, const conn *keep)
{
	double now = clock_mono();
	conn *quiet = NULL, *young = NULL;
	for (conn *c = s->head; c; c = c->next) {
		if (c->answering || c == keep)
			continue;
		if (c->started) {
			quiet = young = c;
			break;
		}
		if (quiet == NULL && now - c->accepted_at >= HTTP_QUIET_GRACE)
			quiet = c;
		if (young == NULL)
			young = c;
	}
	conn *victim = quiet ? quiet : young;
	if (victim == NULL)
		return false;
	conn_free(victim);
	s->evicted++;
	return true;
}

static void on_written(struct bufferevent *bev, void *arg)
{
	if (evbuffer_get_length(bufferevent_get_output(bev)) == 0)
		conn_free(arg);
}

static void answer(conn *c, bool head_only, const http_out *out)
{
	c->answering = true;
	bufferevent_disable(c->bev, EV_READ);
	struct evbuffer *o = bufferevent_get_output(c->bev);
	int status = out->status ? out->status : 500;
	size_t len = out->body ? strlen(out->body) : 0;
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
	c->started = len > 0;
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

static void warn_crowded(http_server *s, const char *why)
{
	double now = clock_mono();
	if (now - s->warned_at < 10)
		return;
	s->warned_at = now;
	log_warn("http server: %s (%d open, %llu ended early so far): ending the oldest unfinished requests", why, s->n,
		 (unsigned long long)s->evicted);
}

static void on_accept(struct evconnlistener *l, evutil_socket_t fd, struct sockaddr *sa, int salen, void *arg)
{
	(void)sa;
	(void)salen;
	http_server *s = arg;
	conn *c = calloc(1, sizeof *c);
	struct bufferevent *bev = c ? bufferevent_socket_new(s->base, fd, BEV_OPT_CLOSE_ON_FREE) : NULL;
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
	c->accepted_at = clock_mono();
	c->prev = s->tail;
	if (s->tail)
		s->tail->next = c;
	else
		s->head = c;
	s->tail = c;
	s->n++;
	struct timeval tv = {s->lim.timeout_s, 0};
	evtimer_add(dl, &tv);
	bufferevent_setcb(bev, on_read, NULL, on_event, c);
	bufferevent_enable(bev, EV_READ);
	/* A request already waiting is served now: a burst of accepts that follows must not end it unread. */
	if (evbuffer_read(bufferevent_get_input(bev), fd, s->lim.headers_max + s->lim.body_max) > 0)
		on_read(bev, c);
	if (s->n < s->lim.conn_max)
		return;
	/* Crowded: one accept per turn of the loop, so that what the connections sent is read in between
	 * (an unfinished one is ended before a fresh one whose request is on its way). */
	evconnlistener_disable(l);
	event_active(s->resume, EV_TIMEOUT, 0);
	if (c->answering || s->n <= s->lim.conn_max)
		return;
	warn_crowded(s, "connection limit reached");
	if (!evict_oldest(s, c))
		conn_free(c); /* every other connection is being answered */
}

static void on_resume(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	evconnlistener_enable(((http_server *)arg)->listener);
}

/* accept failed: out of file descriptors frees one (the oldest unfinished request) or pauses 100 ms. */
static void on_accept_error(struct evconnlistener *l, void *arg)
{
	http_server *s = arg;
	int e = EVUTIL_SOCKET_ERROR();
	if (e == EMFILE || e == ENFILE) {
		warn_crowded(s, "out of file descriptors");
		if (evict_oldest(s, NULL))
			return;
	} else {
		log_warn("http server: accept: %s", strerror(e));
	}
	evconnlistener_disable(l);
	struct timeval tv = {0, 100000};
	evtimer_add(s->resume, &tv);
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
	/* Connections never take the descriptors the daemon needs for itself (etcd, PostgreSQL, pipes). */
	struct rlimit rl;
	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur != RLIM_INFINITY) {
		long room = (long)rl.rlim_cur - HTTP_FD_RESERVE;
		if (room < HTTP_CONN_MIN)
			room = HTTP_CONN_MIN;
		if (room < s->lim.conn_max)
			s->lim.conn_max = (int)room;
	}
	s->serve = serve;
	s->done = done;
	s->arg = arg;
	s->resume = evtimer_new(base, on_resume, s);
	s->listener = evconnlistener_new_bind(base, on_accept, s,
					      LEV_OPT_CLOSE_ON_FREE | LEV_OPT_REUSEABLE | LEV_OPT_CLOSE_ON_EXEC,
					      HTTP_BACKLOG, (struct sockaddr *)&ss, (int)sl);
	if (s->listener == NULL) {
		int e = errno;
		http_server_free(s);
		fl_fail(err, FL_ERR_IO, "cannot listen on %s: %s", listen, strerror(e));
		return NULL;
	}
	evconnlistener_set_error_cb(s->listener, on_accept_error);
	return s;
}

void http_server_free(http_server *s)
{
	if (s == NULL)
		return;
	while (s->head)
		conn_free(s->head);
	if (s->listener)
		evconnlistener_free(s->listener);
	if (s->resume)
		event_free(s->resume);
	free(s);
}
