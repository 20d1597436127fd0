/*
 * http_server: evhttp, bounded, with one handler for every path.
 */
#include "http_server.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <event2/buffer.h>
#include <event2/event.h>
#include <event2/http.h>
#include <event2/keyvalq_struct.h>

#include "hostport.h"

struct http_server {
	struct evhttp *http;
	http_serve_fn serve;
	http_done_fn done;
	void *arg;
};

static const char *method_name(enum evhttp_cmd_type cmd)
{
	static const struct {
		enum evhttp_cmd_type cmd;
		const char *name;
	} names[] = {{EVHTTP_REQ_GET, "GET"},       {EVHTTP_REQ_HEAD, "HEAD"},   {EVHTTP_REQ_OPTIONS, "OPTIONS"},
		     {EVHTTP_REQ_POST, "POST"},     {EVHTTP_REQ_PUT, "PUT"},     {EVHTTP_REQ_PATCH, "PATCH"},
		     {EVHTTP_REQ_DELETE, "DELETE"}, {EVHTTP_REQ_TRACE, "TRACE"}, {EVHTTP_REQ_CONNECT, "CONNECT"}};
	for (size_t i = 0; i < sizeof names / sizeof names[0]; i++)
		if (names[i].cmd == cmd)
			return names[i].name;
	return "UNKNOWN";
}

static void on_request(struct evhttp_request *req, void *arg)
{
	http_server *s = arg;
	struct evbuffer *body = evhttp_request_get_input_buffer(req);
	http_in in = {
		.method = method_name(evhttp_request_get_command(req)),
		.uri = evhttp_request_get_uri(req),
		.authorization = evhttp_find_header(evhttp_request_get_input_headers(req), "Authorization"),
		.body_len = body ? evbuffer_get_length(body) : 0,
	};
	in.body = in.body_len ? (const char *)evbuffer_pullup(body, -1) : NULL;
	http_out out = {0};
	s->serve(s->arg, &in, &out);
	struct evkeyvalq *h = evhttp_request_get_output_headers(req);
	if (out.content_type)
		evhttp_add_header(h, "Content-Type", out.content_type);
	for (int i = 0; i < out.n_headers && i < HTTP_OUT_HEADERS; i++)
		evhttp_add_header(h, out.headers[i].name, out.headers[i].value);
	if (out.body)
		evbuffer_add(evhttp_request_get_output_buffer(req), out.body, strlen(out.body));
	evhttp_send_reply(req, out.status ? out.status : 500, NULL, NULL);
	if (s->done)
		s->done(s->arg, &out);
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
	http_server *s = calloc(1, sizeof *s);
	if (s == NULL || (s->http = evhttp_new(base)) == NULL) {
		free(s);
		fl_fail(err, FL_ERR_INTERNAL, "cannot allocate the HTTP server");
		return NULL;
	}
	s->serve = serve;
	s->done = done;
	s->arg = arg;
	evhttp_set_max_headers_size(s->http, limits->headers_max);
	evhttp_set_max_body_size(s->http, limits->body_max);
	evhttp_set_timeout(s->http, limits->timeout_s);
	/* Every method reaches the handler, so that it answers 405 with Allow, not evhttp's bare 501. */
	evhttp_set_allowed_methods(s->http, EVHTTP_REQ_GET | EVHTTP_REQ_HEAD | EVHTTP_REQ_OPTIONS | EVHTTP_REQ_POST |
						    EVHTTP_REQ_PUT | EVHTTP_REQ_PATCH | EVHTTP_REQ_DELETE);
	evhttp_set_gencb(s->http, on_request, s);
	if (evhttp_bind_socket_with_handle(s->http, host, (ev_uint16_t)port) == NULL) {
		int e = errno;
		http_server_free(s);
		fl_fail(err, FL_ERR_IO, "cannot listen on %s: %s", listen, strerror(e));
		return NULL;
	}
	return s;
}

void http_server_free(http_server *s)
{
	if (s == NULL)
		return;
	if (s->http)
		evhttp_free(s->http);
	free(s);
}
