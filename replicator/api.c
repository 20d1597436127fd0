/*
 * api: the agent's REST API server (libevent's evhttp). Each request is
 * turned into api_route's inputs and answered from the latest snapshot; an
 * accepted command is carried out through the agent's callback. A slow or
 * hostile client costs a bounded connection and never the HA loop.
 */
#include "api.h"

#include <errno.h>
#include <event2/buffer.h>
#include <event2/event.h>
#include <event2/http.h>
#include <event2/keyvalq_struct.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/clock.h"
#include "common/hostport.h"
#include "common/log.h"

#define API_HEADERS_MAX 8192
#define API_BODY_MAX 16384 /* evhttp's limit: beyond it a bare 413 and the connection closes */
#define API_TIMEOUT_S 5

struct api {
	struct evhttp *http;
	api_snapshot snap;
	api_counters counters;
	char *token;        /* NULL: mutating calls are refused with 403 */
	char *history;      /* the snapshot's history record, our copy */
	api_command_fn run; /* carries out accepted commands */
	void *run_arg;
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

/* Carries out an accepted command through the agent and answers with its status and message. */
static void command_run(api *a, api_answer *ans)
{
	const api_command_req *c = &ans->command;
	const char *name = api_command_name(c->cmd);
	/* The router takes no clock; a time in the past is refused here, as Patroni does (422). */
	if (api_command_in_past(ans, clock_wall()))
		return;
	if (a->run == NULL) {
		api_command_unavailable(ans);
		return;
	}
	char msg[256] = "", clean[sizeof msg];
	int status = a->run(a->run_arg, c, msg, sizeof msg);
	msg[sizeof msg - 1] = '\0';
	if (!api_command_answer(ans, status, msg, clean, sizeof clean)) {
		log_error("api %s: the agent answered status %d (%s)", name, status, msg);
		return;
	}
	log_info("api %s leader=%s candidate=%s scheduled_at=%.0f status=%d: %s", name, c->leader[0] ? c->leader : "-",
		 c->candidate[0] ? c->candidate : "-", c->scheduled_at, status, clean);
}

/* The request's body, contiguous; evhttp has bounded it by API_BODY_MAX. */
static const char *request_body(struct evhttp_request *req, size_t *len)
{
	struct evbuffer *in = evhttp_request_get_input_buffer(req);
	*len = in ? evbuffer_get_length(in) : 0;
	return *len ? (const char *)evbuffer_pullup(in, -1) : NULL;
}

static void api_on_request(struct evhttp_request *req, void *arg)
{
	api *a = arg;
	api_answer ans;
	api_request r = {
		.method = method_name(evhttp_request_get_command(req)),
		.uri = evhttp_request_get_uri(req),
		.authorization = evhttp_find_header(evhttp_request_get_input_headers(req), "Authorization"),
		.token = a->token,
	};
	r.body = request_body(req, &r.body_len);
	api_route_counted(&a->snap, &a->counters, &r, &ans);
	if (ans.command.cmd != API_CMD_NONE)
		command_run(a, &ans);
	api_counters_add(&a->counters, ans.status);

	struct evkeyvalq *h = evhttp_request_get_output_headers(req);
	evhttp_add_header(h, "Content-Type", ans.content_type);
	evhttp_add_header(h, "Cache-Control", "no-store");
	if (ans.allow[0])
		evhttp_add_header(h, "Allow", ans.allow);
	if (ans.status == 401)
		evhttp_add_header(h, "WWW-Authenticate", "Bearer realm=\"flotilla\"");
	if (ans.body)
		evbuffer_add(evhttp_request_get_output_buffer(req), ans.body, strlen(ans.body));
	if (ans.status == 401 || ans.status == 403)
		log_warn("api refused %s %.128s: status %d", r.method, r.uri ? r.uri : "", ans.status);
	log_debug("api request method=%s uri=%.128s status=%d", r.method, r.uri ? r.uri : "", ans.status);
	evhttp_send_reply(req, ans.status, NULL, NULL);
	api_answer_clear(&ans);
}

static void snapshot_init(api_snapshot *s)
{
	memset(s, 0, sizeof *s);
	snprintf(s->role, sizeof s->role, "uninitialized");
	s->history_json = "[]";
	s->replay_lag_seconds = -1;
}

api *api_new(struct event_base *base, const char *listen, const char *token, api_command_fn run, void *arg, fl_err *err)
{
	char host[128];
	int port;
	if (hostport_parse(listen, host, sizeof host, &port) < 0) {
		fl_fail(err, FL_ERR_CONFIG, "api: listen address \"%s\" is not host:port", listen ? listen : "");
		return NULL;
	}
	api *a = calloc(1, sizeof *a);
	if (a == NULL || (a->http = evhttp_new(base)) == NULL) {
		free(a);
		fl_fail(err, FL_ERR_INTERNAL, "api: cannot allocate the HTTP server");
		return NULL;
	}
	snapshot_init(&a->snap);
	a->run = run;
	a->run_arg = arg;
	if (token && token[0] && (a->token = strdup(token)) == NULL) {
		api_free(a);
		fl_fail(err, FL_ERR_INTERNAL, "api: out of memory");
		return NULL;
	}
	evhttp_set_max_headers_size(a->http, API_HEADERS_MAX);
	evhttp_set_max_body_size(a->http, API_BODY_MAX);
	evhttp_set_timeout(a->http, API_TIMEOUT_S);
	/* Mutating methods are let through so that they get our 405 with Allow, not evhttp's bare 501. */
	evhttp_set_allowed_methods(a->http, EVHTTP_REQ_GET | EVHTTP_REQ_HEAD | EVHTTP_REQ_OPTIONS | EVHTTP_REQ_POST |
						    EVHTTP_REQ_PUT | EVHTTP_REQ_PATCH | EVHTTP_REQ_DELETE);
	evhttp_set_gencb(a->http, api_on_request, a);
	if (evhttp_bind_socket_with_handle(a->http, host, (ev_uint16_t)port) == NULL) {
		int e = errno;
		api_free(a);
		fl_fail(err, FL_ERR_IO, "api: cannot listen on %s: %s\nHINT: is another agent or Patroni on that port?",
			listen, strerror(e));
		return NULL;
	}
	log_info("api listening on %s, mutating calls %s", listen,
		 a->token ? "need the bearer token" : "disabled (no token)");
	return a;
}

void api_free(api *a)
{
	if (a == NULL)
		return;
	if (a->http)
		evhttp_free(a->http);
	if (a->token) {
		explicit_bzero(a->token, strlen(a->token));
		free(a->token);
	}
	free(a->history);
	free(a);
}

void api_update(api *a, const api_snapshot *s)
{
	if (a == NULL || s == NULL)
		return;
	const char *h = s->history_json ? s->history_json : "[]";
	if (a->history == NULL || strcmp(a->history, h) != 0) {
		char *copy = strdup(h);
		if (copy != NULL) {
			free(a->history);
			a->history = copy;
		}
	}
	a->snap = *s;
	a->snap.history_json = a->history ? a->history : "[]";
	/* Strings are read with %s and strcmp: make sure each one ends. */
	a->snap.name[sizeof a->snap.name - 1] = '\0';
	a->snap.scope[sizeof a->snap.scope - 1] = '\0';
	a->snap.role[sizeof a->snap.role - 1] = '\0';
	a->snap.conn_address[sizeof a->snap.conn_address - 1] = '\0';
	a->snap.api_url[sizeof a->snap.api_url - 1] = '\0';
	a->snap.job_state[sizeof a->snap.job_state - 1] = '\0';
}
