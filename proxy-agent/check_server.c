/*
 * check_server: HAProxy's agent checks, answered from the plan; see
 * check_server.h. Connections are held in a crowd (common/crowd.h): at most
 * CHECK_CONN_MAX (fewer under a low file descriptor limit), each with one
 * deadline for the whole exchange, the oldest unfinished one making way for
 * a new one. Refusals are logged at most once a second, with a count of
 * those not logged.
 *
 * The server runs on a thread of its own, with its own event loop, and
 * answers from its own copy of the plan (check_server_publish): the main
 * loop's reads of etcd and calls to HAProxy, which may each take up to their
 * timeouts, never delay an answer.
 */
#include "check_server.h"

#include <arpa/inet.h>
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>

#include "agent_check.h"
#include "common/clock.h"
#include "common/crowd.h"
#include "common/http_server.h"
#include "common/log.h"
#include "common/metrics.h"

#define CHECK_READ_TIMEOUT_SEC 1
#define CHECK_CONN_MAX 64
/* File descriptors left to the agent (HAProxy's sockets, etcd) beside the connections. */
#define CHECK_FD_RESERVE 32
/* Seconds a connection that sent nothing yet is ended only when no other can be. */
#define CHECK_QUIET_GRACE 0.1

typedef struct check_conn check_conn;

struct check_server {
	struct event_base *base; /* the server thread's own */
	crowd_listener *listener;
	crowd crowd; /* open connections, oldest first, freed with the server */
	pthread_t thread;
	bool running;
	int stop_pipe[2]; /* a byte on [1] ends the thread's loop */
	struct event *stop;
	pthread_mutex_t lock; /* guards plan, have_plan and metrics */
	plan plan;
	bool have_plan;
	char *metrics;     /* the main loop's metrics text, published after each read and reconcile */
	http_server *http; /* GET /metrics, on this thread too: a slow etcd never holds a scrape */
	/* Agent checks by outcome; this thread's alone. */
	uint64_t answered, unanswered, refused_count;
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
	s->refused_count++;
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
	check_server *s = c->server;
	char line[64];
	pthread_mutex_lock(&s->lock);
	bool known = s->have_plan;
	int i = known ? plan_find(&s->plan, req->server) : -1;
	if (i < 0)
		snprintf(line, sizeof line, "maint\n");
	else
		plan_agent_reply(&s->plan.want[req->backend][i], line, sizeof line);
	pthread_mutex_unlock(&s->lock);
	if (!known) {
		/* Nothing known yet: no answer leaves HAProxy's own checks in charge. */
		s->unanswered++;
		conn_free(c);
		return;
	}
	s->answered++;
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

/* GET /metrics: the main loop's text and this thread's agent-check counts. */
static void serve_http(void *arg, const http_in *in, http_out *out)
{
	check_server *s = arg;
	out->content_type = "text/plain; charset=utf-8";
	if (strcmp(in->uri, "/metrics") != 0 || (strcmp(in->method, "GET") != 0 && strcmp(in->method, "HEAD") != 0)) {
		out->status = strcmp(in->uri, "/metrics") != 0 ? 404 : 405;
		out->body = out->status == 404 ? "not found: the proxy agent serves GET /metrics\n"
					       : "method not allowed: GET /metrics\n";
		return;
	}
	struct evbuffer *b = evbuffer_new();
	pthread_mutex_lock(&s->lock);
	if (b && s->metrics)
		evbuffer_add(b, s->metrics, strlen(s->metrics));
	pthread_mutex_unlock(&s->lock);
	char *text = NULL;
	if (b) {
		metrics_head(b, "flotilla_proxy_agent_checks_total", "counter",
			     "HAProxy's agent checks, by outcome (unanswered: no plan yet; refused: not a request)");
		metrics_u64(b, "flotilla_proxy_agent_checks_total", "result=\"answered\"", s->answered);
		metrics_u64(b, "flotilla_proxy_agent_checks_total", "result=\"unanswered\"", s->unanswered);
		metrics_u64(b, "flotilla_proxy_agent_checks_total", "result=\"refused\"", s->refused_count);
		metrics_one(b, "flotilla_proxy_agent_check_connections", "gauge", "Agent-check connections open", "",
			    (uint64_t)s->crowd.n);
		size_t len = evbuffer_get_length(b);
		text = malloc(len + 1);
		if (text) {
			evbuffer_remove(b, text, len);
			text[len] = '\0';
		}
		evbuffer_free(b);
	}
	out->status = text ? 200 : 500;
	out->body = text ? text : "out of memory\n";
}

static void served_http(void *arg, http_out *out)
{
	(void)arg;
	if (out->status == 200)
		free((char *)out->body);
}

static void on_stop(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	event_base_loopbreak(arg);
}

static void *serve(void *arg)
{
	check_server *s = arg;
	event_base_loop(s->base, EVLOOP_NO_EXIT_ON_EMPTY);
	return NULL;
}

/* Starts the server's thread with every signal blocked: signals are the main loop's. */
static int thread_start(check_server *s)
{
	sigset_t all, old;
	sigfillset(&all);
	pthread_sigmask(SIG_SETMASK, &all, &old);
	int rc = pthread_create(&s->thread, NULL, serve, s);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	return rc;
}

check_server *check_server_new(const char *listen, const char *metrics_listen, fl_err *err)
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
	s->stop_pipe[0] = s->stop_pipe[1] = -1;
	pthread_mutex_init(&s->lock, NULL);
	s->base = event_base_new();
	if (s->base == NULL || pipe(s->stop_pipe) < 0 ||
	    (s->stop = event_new(s->base, s->stop_pipe[0], EV_READ, on_stop, s->base)) == NULL ||
	    event_add(s->stop, NULL) < 0) {
		fl_fail(err, FL_ERR_INTERNAL, "agent check: cannot make its event loop: %s", strerror(errno));
		check_server_free(s);
		return NULL;
	}
	struct rlimit rl;
	long fds = getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur != RLIM_INFINITY ? (long)rl.rlim_cur : -1;
	s->crowd.cap = crowd_cap(CHECK_CONN_MAX, fds, CHECK_FD_RESERVE, 4);
	s->listener = crowd_listener_new(s->base, (struct sockaddr *)&ss, sslen, listen, &s->crowd, on_accept, evict, s,
					 "agent check", err);
	if (s->listener == NULL) {
		if (err)
			err->code = FL_ERR_CONFIG; /* a taken or wrong agent_check.listen */
		check_server_free(s);
		return NULL;
	}
	if (metrics_listen != NULL && metrics_listen[0] != '\0') {
		http_limits lim = {.headers_max = 4096, .body_max = 0, .timeout_s = 5, .conn_max = 16, .tls = NULL};
		s->http = http_server_new(s->base, metrics_listen, &lim, serve_http, served_http, s, err);
		if (s->http == NULL) {
			check_server_free(s);
			return NULL;
		}
	}
	int rc = thread_start(s);
	if (rc != 0) {
		fl_fail(err, FL_ERR_INTERNAL, "agent check: cannot start its thread: %s", strerror(rc));
		check_server_free(s);
		return NULL;
	}
	s->running = true;
	return s;
}

void check_server_publish(check_server *s, const plan *pl)
{
	pthread_mutex_lock(&s->lock);
	if (pl != NULL)
		s->plan = *pl;
	s->have_plan = pl != NULL;
	pthread_mutex_unlock(&s->lock);
}

void check_server_publish_metrics(check_server *s, char *text)
{
	if (text == NULL)
		return;
	pthread_mutex_lock(&s->lock);
	free(s->metrics);
	s->metrics = text;
	pthread_mutex_unlock(&s->lock);
}

void check_server_free(check_server *s)
{
	if (s == NULL)
		return;
	if (s->running) {
		char b = 1;
		while (write(s->stop_pipe[1], &b, 1) < 0 && errno == EINTR)
			;
		pthread_join(s->thread, NULL);
	}
	http_server_free(s->http);
	crowd_listener_free(s->listener);
	while (s->crowd.head)
		conn_free((check_conn *)s->crowd.head);
	free(s->metrics);
	if (s->stop)
		event_free(s->stop);
	for (int i = 0; i < 2; i++)
		if (s->stop_pipe[i] >= 0)
			close(s->stop_pipe[i]);
	if (s->base)
		event_base_free(s->base);
	pthread_mutex_destroy(&s->lock);
	free(s);
}
