/*
 * check_server: HAProxy's agent checks, answered from the plan; see
 * check_server.h. Connections are held in a crowd (common/crowd.h): at most
 * CHECK_CONN_MAX (fewer under a low file descriptor limit), each with one
 * deadline for the whole exchange, the oldest unfinished one making way for
 * a new one. Refusals are logged at most once a second, with a count of
 * those not logged.
 */
#include "check_server.h"

#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>

#include "agent_check.h"
#include "common/clock.h"
#include "common/crowd.h"
#include "common/log.h"

#define CHECK_READ_TIMEOUT_SEC 1
#define CHECK_CONN_MAX 64
/* File descriptors left to the agent (HAProxy's sockets, etcd) beside the connections. */
#define CHECK_FD_RESERVE 32
/* Seconds a connection that sent nothing yet is ended only when no other can be. */
#define CHECK_QUIET_GRACE 0.1

typedef struct check_conn check_conn;

struct check_server {
	struct event_base *base;
	crowd_listener *listener;
	crowd crowd; /* open connections, oldest first, freed with the server */
	proxy *proxy;
	double warned_at;
	unsigned long unlogged; /* refusals not logged since the last line */
};

struct check_conn {
	crowd_node node; /* first: a crowd_node is its conn */
	check_server *server;
	struct bufferevent *bev;
	struct event *deadline; /* the whole exchange, from the accept */
	char peer[64];
};

static void conn_free(check_conn *c)
{
	crowd_remove(&c->server->crowd, &c->node);
	bufferevent_free(c->bev);
	if (c->deadline)
		event_free(c->deadline);
	free(c);
}

/* A refusal, logged at most once a second (a flood of bad requests must not flood the log). */
static void refused(check_conn *c, const char *why)
{
	check_server *s = c->server;
	double now = clock_mono();
	if (s->warned_at != 0 && now - s->warned_at < 1) {
		s->unlogged++;
	} else {
		if (s->unlogged)
			log_warn("agent check from %s refused: %s (and %lu more refused since the last line)", c->peer,
				 why, s->unlogged);
		else
			log_warn("agent check from %s refused: %s", c->peer, why);
		s->warned_at = now;
		s->unlogged = 0;
	}
	conn_free(c);
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
	c->node.answering = true;
	bufferevent_disable(c->bev, EV_READ);
	bufferevent_setcb(c->bev, NULL, on_written, NULL, c);
	bufferevent_write(c->bev, line, strlen(line));
}

static void on_read(struct bufferevent *bev, void *arg)
{
	check_conn *c = arg;
	struct evbuffer *in = bufferevent_get_input(bev);
	size_t len = evbuffer_get_length(in);
	c->node.started = len > 0;
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
		refused(c, why);
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
		refused(c, "no request within 1 s");
	else
		conn_free(c);
}

static void on_deadline(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	refused(arg, "no whole request within 1 s");
}

static bool evict(void *arg)
{
	check_server *s = arg;
	check_conn *victim = (check_conn *)crowd_victim(&s->crowd, clock_mono(), CHECK_QUIET_GRACE);
	if (victim == NULL)
		return false;
	conn_free(victim);
	return true;
}

static void on_accept(void *arg, evutil_socket_t fd, const struct sockaddr *sa, int salen)
{
	(void)salen;
	check_server *s = arg;
	check_conn *c = calloc(1, sizeof *c);
	struct bufferevent *bev = c ? bufferevent_socket_new(s->base, fd, BEV_OPT_CLOSE_ON_FREE) : NULL;
	struct event *dl = bev ? evtimer_new(s->base, on_deadline, c) : NULL;
	if (dl == NULL) {
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
	c->deadline = dl;
	crowd_add(&s->crowd, &c->node, clock_mono());
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
	evtimer_add(dl, &tv);
	bufferevent_setwatermark(bev, EV_READ, 0, AGENT_CHECK_REQUEST_MAX * 2);
	bufferevent_setcb(bev, on_read, NULL, on_event, c);
	bufferevent_enable(bev, EV_READ);
	/* A request already waiting is answered now: a burst of accepts that follows must not end it unread. */
	if (evbuffer_read(bufferevent_get_input(bev), fd, AGENT_CHECK_REQUEST_MAX * 2) > 0)
		on_read(bev, c);
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
	struct rlimit rl;
	long fds = getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur != RLIM_INFINITY ? (long)rl.rlim_cur : -1;
	s->crowd.cap = crowd_cap(CHECK_CONN_MAX, fds, CHECK_FD_RESERVE, 4);
	s->listener = crowd_listener_new(base, (struct sockaddr *)&ss, sslen, listen, &s->crowd, on_accept, evict, s,
					 "agent check", err);
	if (s->listener == NULL) {
		if (err)
			err->code = FL_ERR_CONFIG; /* a taken or wrong agent_check.listen */
		free(s);
		return NULL;
	}
	return s;
}

void check_server_free(check_server *s)
{
	if (s == NULL)
		return;
	crowd_listener_free(s->listener);
	while (s->crowd.head)
		conn_free((check_conn *)s->crowd.head);
	free(s);
}
