/*
 * check_server: HAProxy's agent checks, answered from the plan; see
 * check_server.h.
 */
#include "check_server.h"

#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>
#include <event2/listener.h>

#include "agent_check.h"
#include "common/log.h"

#define CHECK_READ_TIMEOUT_SEC 1

typedef struct check_conn check_conn;

struct check_server {
	struct event_base *base;
	struct evconnlistener *listener;
	proxy *proxy;
	check_conn *conns; /* open connections, freed with the server */
};

struct check_conn {
	check_server *server;
	struct bufferevent *bev;
	struct event *deadline; /* the whole exchange, from the accept */
	char peer[64];
	check_conn *prev, *next;
};

static void conn_free(check_conn *c)
{
	if (c->prev)
		c->prev->next = c->next;
	else
		c->server->conns = c->next;
	if (c->next)
		c->next->prev = c->prev;
	bufferevent_free(c->bev);
	if (c->deadline)
		event_free(c->deadline);
	free(c);
}

/* The reply was flushed: the exchange is over. */
static void on_written(struct bufferevent *bev, void *arg)
{
	check_conn *c = arg;
	if (evbuffer_get_length(bufferevent_get_output(bev)) == 0)
		conn_free(c);
}

static void reply(check_conn *c, const agent_check_request *req)
{
	const plan *pl = proxy_plan(c->server->proxy);
	int i = pl ? plan_find(pl, req->server) : -1;
	char line[64];
	if (pl == NULL) {
		/* Nothing known yet: no answer leaves HAProxy's own checks in charge. */
		conn_free(c);
		return;
	}
	if (i < 0)
		snprintf(line, sizeof line, "maint\n");
	else
		plan_agent_reply(&pl->want[req->backend][i], line, sizeof line);
	log_debug("agent check %s %s/%s: %.*s", c->peer, plan_backend_names[req->backend], req->server,
		  (int)strlen(line) - 1, line);
	bufferevent_disable(c->bev, EV_READ);
	bufferevent_setcb(c->bev, NULL, on_written, NULL, c);
	bufferevent_write(c->bev, line, strlen(line));
}

static void on_read(struct bufferevent *bev, void *arg)
{
	check_conn *c = arg;
	struct evbuffer *in = bufferevent_get_input(bev);
	size_t len = evbuffer_get_length(in);
	const char *data = (const char *)evbuffer_pullup(
		in, (ev_ssize_t)(len < AGENT_CHECK_REQUEST_MAX ? len : AGENT_CHECK_REQUEST_MAX));
	agent_check_request req;
	const char *why = NULL;
	int rc = agent_check_parse(data, len < AGENT_CHECK_REQUEST_MAX ? len : AGENT_CHECK_REQUEST_MAX, &req, &why);
	if (rc == 0 && len >= AGENT_CHECK_REQUEST_MAX) {
		rc = -1;
		why = "request line longer than 127 bytes";
	}
	if (rc < 0) {
		log_warn("agent check from %s refused: %s", c->peer, why);
		conn_free(c);
		return;
	}
	if (rc == 1)
		reply(c, &req);
}

static void on_event(struct bufferevent *bev, short what, void *arg)
{
	(void)bev;
	check_conn *c = arg;
	if (what & BEV_EVENT_TIMEOUT)
		log_warn("agent check from %s: no request within %d s, closing", c->peer, CHECK_READ_TIMEOUT_SEC);
	conn_free(c);
}

static void on_deadline(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	check_conn *c = arg;
	log_warn("agent check from %s: no whole request within %d s, closing", c->peer, CHECK_READ_TIMEOUT_SEC);
	conn_free(c);
}

static void on_accept(struct evconnlistener *l, evutil_socket_t fd, struct sockaddr *sa, int salen, void *arg)
{
	(void)l;
	(void)salen;
	check_server *s = arg;
	check_conn *c = calloc(1, sizeof *c);
	struct bufferevent *bev = bufferevent_socket_new(s->base, fd, BEV_OPT_CLOSE_ON_FREE);
	if (c == NULL || bev == NULL) {
		free(c);
		if (bev)
			bufferevent_free(bev);
		else
			evutil_closesocket(fd);
		log_error("agent check: out of memory");
		return;
	}
	c->server = s;
	c->bev = bev;
	c->next = s->conns;
	if (s->conns)
		s->conns->prev = c;
	s->conns = c;
	if (sa->sa_family == AF_INET) {
		const struct sockaddr_in *in = (const struct sockaddr_in *)sa;
		char ip[INET_ADDRSTRLEN];
		inet_ntop(AF_INET, &in->sin_addr, ip, sizeof ip);
		snprintf(c->peer, sizeof c->peer, "%s:%d", ip, ntohs(in->sin_port));
	} else {
		snprintf(c->peer, sizeof c->peer, "a client");
	}
	/* One deadline for the whole exchange: a request trickled in byte by byte does not outlast it. */
	struct timeval tv = {CHECK_READ_TIMEOUT_SEC, 0};
	c->deadline = evtimer_new(s->base, on_deadline, c);
	if (c->deadline)
		evtimer_add(c->deadline, &tv);
	bufferevent_set_timeouts(bev, &tv, &tv);
	bufferevent_setwatermark(bev, EV_READ, 0, AGENT_CHECK_REQUEST_MAX * 2);
	bufferevent_setcb(bev, on_read, NULL, on_event, c);
	bufferevent_enable(bev, EV_READ);
}

check_server *check_server_new(struct event_base *base, const char *listen, proxy *p, fl_err *err)
{
	struct sockaddr_storage ss;
	int sslen = sizeof ss;
	if (evutil_parse_sockaddr_port(listen, (struct sockaddr *)&ss, &sslen) < 0) {
		fl_fail(err, FL_ERR_CONFIG, "config: agent_check.listen = \"%s\" is not an IP address and port",
			listen);
		return NULL;
	}
	check_server *s = calloc(1, sizeof *s);
	if (s == NULL) {
		fl_fail(err, FL_ERR_INTERNAL, "agent check: out of memory");
		return NULL;
	}
	s->base = base;
	s->proxy = p;
	s->listener = evconnlistener_new_bind(base, on_accept, s,
					      LEV_OPT_CLOSE_ON_FREE | LEV_OPT_REUSEABLE | LEV_OPT_CLOSE_ON_EXEC, 128,
					      (struct sockaddr *)&ss, sslen);
	if (s->listener == NULL) {
		fl_fail(err, FL_ERR_CONFIG, "agent check: cannot listen on %s: %s", listen, strerror(errno));
		free(s);
		return NULL;
	}
	return s;
}

void check_server_free(check_server *s)
{
	if (s == NULL)
		return;
	evconnlistener_free(s->listener);
	while (s->conns)
		conn_free(s->conns);
	free(s);
}
