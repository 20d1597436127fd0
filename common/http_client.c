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
#include <event2/dns.h>
#include <event2/event.h>
#include <event2/http.h>

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
	else if (scheme == NULL || strcasecmp(scheme, "http") != 0)
		rc = fl_fail(err, FL_ERR_USAGE, "\"%s\" does not start with http://", url);
	else if (host == NULL || host[0] == '\0')
		rc = fl_fail(err, FL_ERR_USAGE, "\"%s\" has no host", url);
	else if (strlen(host) >= sizeof u->host)
		rc = fl_fail(err, FL_ERR_USAGE, "\"%s\" has too long a host", url);
	if (rc < 0) {
		if (p)
			evhttp_uri_free(p);
		return rc;
	}
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
	if (scheme == NULL || strcasecmp(scheme, "http") != 0)
		problem = "does not start with http:// (TLS is not supported)";
	else if (host == NULL || host[0] == '\0')
		problem = "has no host";
	else if (path != NULL && path[0] != '\0' && strcmp(path, "/") != 0)
		problem = "has a path; give only http://host:port";
	else if (evhttp_uri_get_query(u) != NULL || evhttp_uri_get_fragment(u) != NULL)
		problem = "has a query or fragment; give only http://host:port";
	evhttp_uri_free(u);
	return problem;
}

static bool host_is_numeric(const char *host)
{
	unsigned char buf[sizeof(struct in6_addr)];
	return inet_pton(AF_INET, host, buf) == 1 || inet_pton(AF_INET6, host, buf) == 1;
}

http_peer *http_peer_new(const http_url *u, size_t max_body, fl_err *err)
{
	http_peer *p = calloc(1, sizeof *p);
	if (p == NULL || (p->base = event_base_new()) == NULL) {
		free(p);
		fl_fail(err, FL_ERR_INTERNAL, "http: cannot create an event base");
		return NULL;
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

static void peer_drop(http_peer *p)
{
	if (p->conn != NULL)
		evhttp_connection_free(p->conn);
	p->conn = NULL;
	p->answered = false;
}

void http_peer_free(http_peer *p)
{
	if (p == NULL)
		return;
	peer_drop(p);
	if (p->dns != NULL)
		evdns_base_free(p->dns, 0);
	event_base_free(p->base);
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

static struct evhttp_request *request_new(http_peer *p, const http_header *headers, int n_headers, const char *body,
					  http_exchange *x)
{
	struct evhttp_request *req = evhttp_request_new(on_answer, x);
	if (req == NULL)
		return NULL;
	evhttp_request_set_error_cb(req, on_error);
	struct evkeyvalq *out = evhttp_request_get_output_headers(req);
	int rc = evhttp_add_header(out, "Host", p->host_header);
	for (int i = 0; rc == 0 && i < n_headers; i++)
		rc = evhttp_add_header(out, headers[i].name, headers[i].value);
	if (rc == 0 && body != NULL)
		rc = evbuffer_add(evhttp_request_get_output_buffer(req), body, strlen(body));
	if (rc != 0) {
		evhttp_request_free(req);
		return NULL;
	}
	return req;
}

void http_peer_exchange(http_peer *p, const char *method, const char *target, const http_header *headers, int n_headers,
			const char *body, double budget, http_exchange *x)
{
	memset(x, 0, sizeof *x);
	x->outcome = HTTP_PENDING;
	/* Lets a keep-alive connection notice that the server closed it while we were away. */
	event_base_loop(p->base, EVLOOP_NONBLOCK);
	if (p->conn == NULL) {
		p->conn = evhttp_connection_base_new(p->base, p->dns, p->host, (unsigned short)p->port);
		if (p->conn == NULL) {
			out_of_memory(x);
			return;
		}
		evhttp_connection_set_max_body_size(p->conn, (ev_ssize_t)p->max_body);
	}
	struct evhttp_request *req = request_new(p, headers, n_headers, body, x);
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
	enum evhttp_cmd_type cmd = strcmp(method, "POST") == 0 ? EVHTTP_REQ_POST : EVHTTP_REQ_GET;
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
	if (x->outcome != HTTP_ANSWERED)
		peer_drop(p);
	else
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
	if (x->outcome == HTTP_TIMED_OUT)
		snprintf(buf, len, "%s did not answer within %.1f s", who, budget);
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
