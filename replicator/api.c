/*
 * api: the agent's REST API server, on common/http_server. Each request is
 * turned into api_route's inputs and answered from the latest snapshot; an
 * accepted command is carried out through the agent's callback. A slow or
 * hostile client costs a bounded connection and never the HA loop.
 */
#include "api.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cluster/dynconf.h"
#include "common/clock.h"
#include "common/http_server.h"
#include "common/log.h"

#define API_HEADERS_MAX 8192
#define API_BODY_MAX 16384
#define API_TIMEOUT_S 5 /* for the whole request and answer */
#define API_CONN_MAX 128

struct api {
	http_server *server;
	api_answer ans; /* the answer being sent */
	api_snapshot snap;
	api_counters counters;
	char *token;        /* NULL: mutating calls are refused with 403 */
	char *history;      /* the snapshot's history record, our copy */
	char *config;       /* the snapshot's dynamic configuration, our copy */
	api_command_fn run; /* carries out accepted commands */
	void *run_arg;
};

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
	if (c->cmd == API_CMD_CONFIG) {
		char *doc = calloc(1, DYNCONF_MAX_BYTES + 1);
		if (doc == NULL) {
			api_config_answer(ans, 503, "out of memory");
			return;
		}
		int status = a->run(a->run_arg, c, doc, DYNCONF_MAX_BYTES + 1);
		doc[DYNCONF_MAX_BYTES] = '\0';
		if (api_config_answer(ans, status, doc))
			log_info("api config %s status=%d%s%.200s", c->config_replace ? "replace" : "patch", status,
				 status == 200 ? ": " : ": refused: ", doc);
		free(doc);
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

static void api_serve(void *arg, const http_in *in, http_out *out)
{
	api *a = arg;
	api_answer *ans = &a->ans;
	api_request r = {
		.method = in->method,
		.uri = in->uri,
		.authorization = in->authorization,
		.body = in->body,
		.body_len = in->body_len,
		.token = a->token,
	};
	api_route_counted(&a->snap, &a->counters, &r, ans);
	if (ans->command.cmd != API_CMD_NONE)
		command_run(a, ans);
	api_counters_add(&a->counters, ans->status);
	out->status = ans->status;
	out->content_type = ans->content_type;
	out->body = ans->body;
	out->headers[out->n_headers++] = (http_header){"Cache-Control", "no-store"};
	if (ans->allow[0])
		out->headers[out->n_headers++] = (http_header){"Allow", ans->allow};
	if (ans->status == 401)
		out->headers[out->n_headers++] = (http_header){"WWW-Authenticate", "Bearer realm=\"flotilla\""};
	if (ans->status == 401 || ans->status == 403)
		log_warn("api refused %s %.128s: status %d", r.method, r.uri ? r.uri : "", ans->status);
	log_debug("api request method=%s uri=%.128s status=%d", r.method, r.uri ? r.uri : "", ans->status);
}

static void api_served(void *arg, http_out *out)
{
	(void)out;
	api_answer_clear(&((api *)arg)->ans);
}

static void snapshot_init(api_snapshot *s)
{
	memset(s, 0, sizeof *s);
	snprintf(s->role, sizeof s->role, "uninitialized");
	s->history_json = "[]";
	s->config_json = "{}";
	s->replay_lag_seconds = -1;
}

api *api_new(struct event_base *base, const char *listen, const char *token, tls_ctx *tls, api_command_fn run,
	     void *arg, fl_err *err)
{
	const http_limits limits = {API_HEADERS_MAX, API_BODY_MAX, API_TIMEOUT_S, API_CONN_MAX, tls};
	api *a = calloc(1, sizeof *a);
	if (a == NULL) {
		fl_fail(err, FL_ERR_INTERNAL, "api: out of memory");
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
	a->server = http_server_new(base, listen, &limits, api_serve, api_served, a, err);
	if (a->server == NULL) {
		api_free(a);
		fl_err_prefix(err, "api");
		if (err && err->code == FL_ERR_IO)
			snprintf(err->msg + strlen(err->msg), sizeof err->msg - strlen(err->msg),
				 "\nHINT: is another agent or Patroni on that port?");
		return NULL;
	}
	log_info("api listening on %s (%s), mutating calls %s", listen, tls ? "HTTPS" : "plain HTTP",
		 a->token ? "need the bearer token" : "disabled (no token)");
	return a;
}

void api_free(api *a)
{
	if (a == NULL)
		return;
	http_server_free(a->server);
	if (a->token) {
		explicit_bzero(a->token, strlen(a->token));
		free(a->token);
	}
	free(a->history);
	free(a->config);
	free(a);
}

/* *mine becomes a copy of text (dflt when NULL) when it differs; an allocation that fails keeps the old one. */
static void keep_copy(char **mine, const char *text, const char *dflt)
{
	const char *t = text ? text : dflt;
	if (*mine != NULL && strcmp(*mine, t) == 0)
		return;
	char *copy = strdup(t);
	if (copy != NULL) {
		free(*mine);
		*mine = copy;
	}
}

void api_update(api *a, const api_snapshot *s)
{
	if (a == NULL || s == NULL)
		return;
	keep_copy(&a->history, s->history_json, "[]");
	keep_copy(&a->config, s->config_json, "{}");
	a->snap = *s;
	a->snap.history_json = a->history ? a->history : "[]";
	a->snap.config_json = a->config ? a->config : "{}";
	/* Strings are read with %s and strcmp: make sure each one ends. */
	a->snap.name[sizeof a->snap.name - 1] = '\0';
	a->snap.scope[sizeof a->snap.scope - 1] = '\0';
	a->snap.role[sizeof a->snap.role - 1] = '\0';
	a->snap.conn_address[sizeof a->snap.conn_address - 1] = '\0';
	a->snap.api_url[sizeof a->snap.api_url - 1] = '\0';
	a->snap.job_state[sizeof a->snap.job_state - 1] = '\0';
}
