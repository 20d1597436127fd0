/*
 * etcd: the v3 JSON gateway client. One call is one POST: the request is
 * built with jansson and sent through http_client (a connection kept alive
 * per endpoint, our own timer on a private event_base). The time budget of a
 * call is shared by the endpoints still to try, so a black-holed first
 * endpoint cannot starve the others.
 */
#include "etcd.h"

#include "base64.h"
#include "clock.h"
#include "daemon.h"
#include "http_client.h"
#include "log.h"
#include "secret.h"
#include "tls.h"

#include <arpa/inet.h>
#include <errno.h>
#include <event2/buffer.h>
#include <event2/dns.h>
#include <event2/event.h>
#include <event2/http.h>
#include <inttypes.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define ETCD_DEFAULT_PORT 2379
#define ETCD_DEFAULT_TIMEOUT 1.0
#define ETCD_MIN_TIMEOUT 0.001
#define ETCD_MAX_BODY (64 * 1024 * 1024)
#define ETCD_WHY_MAX 512
#define ETCD_TEXT_MAX 200
#define ETCD_TOKEN_MAX 1024
#define ETCD_PASSWORD_MAX 1024

typedef struct endpoint {
	char *url;
	http_url u;
	http_peer *peer;
	char token[ETCD_TOKEN_MAX]; /* etcd's auth token from this member ("" until authenticated) */
} endpoint;

struct etcd {
	endpoint *eps;
	int n;
	int last_good;
	double timeout;
	tls_ctx *tls;   /* for https endpoints */
	char *username; /* NULL: no authentication */
	char password[ETCD_PASSWORD_MAX];
};

typedef http_exchange exchange;

/* ---- JSON helpers ---- */

static json_t *json_i64(int64_t v)
{
	char text[24];
	snprintf(text, sizeof text, "%" PRId64, v);
	return json_string(text);
}

/* protobuf's JSON writes int64 as strings and omits zeros; accepts numbers too. */
static int json_get_i64(const json_t *obj, const char *name, int64_t *out)
{
	json_t *v = json_object_get(obj, name);
	*out = 0;
	if (v == NULL || json_is_null(v))
		return 0;
	if (json_is_integer(v)) {
		*out = json_integer_value(v);
		return 0;
	}
	if (!json_is_string(v))
		return -1;
	const char *s = json_string_value(v);
	char *end = NULL;
	errno = 0;
	long long x = strtoll(s, &end, 10);
	if (errno != 0 || end == s || *end != '\0')
		return -1;
	*out = x;
	return 0;
}

static json_t *json_b64(const void *data, size_t len)
{
	char *text = base64_encode(data, len);
	json_t *j = text ? json_string(text) : NULL;
	free(text);
	return j;
}

static json_t *json_b64_str(const char *s) { return json_b64(s, strlen(s)); }

/* ---- endpoints ---- */

static void endpoint_clear(endpoint *ep)
{
	http_peer_free(ep->peer);
	free(ep->url);
	explicit_bzero(ep->token, sizeof ep->token);
}

static int endpoint_parse(endpoint *ep, const char *url, tls_ctx *tls, fl_err *err)
{
	const char *problem = http_base_url_problem(url);
	if (problem != NULL)
		return fl_fail(err, FL_ERR_CONFIG, "etcd: endpoint \"%s\" %s", url, problem);
	if (http_url_parse(url, ETCD_DEFAULT_PORT, &ep->u, err) < 0) {
		if (err)
			err->code = FL_ERR_CONFIG;
		return -1;
	}
	ep->url = strdup(url);
	ep->peer = ep->url ? http_peer_new(&ep->u, ETCD_MAX_BODY, tls, err) : NULL;
	return ep->peer ? 0 : -1;
}

static bool given(const char *s) { return s != NULL && s[0] != '\0'; }

/* TLS for https endpoints and the credentials, before any endpoint is made. */
static int security_setup(etcd *e, char *const *endpoints, int n, const etcd_security *sec, fl_err *err)
{
	bool https = false;
	for (int i = 0; i < n; i++)
		https = https || strncasecmp(endpoints[i], "https://", 8) == 0;
	if (sec == NULL)
		return 0;
	if (!https && (given(sec->ca_file) || given(sec->cert_file) || given(sec->key_file)))
		return fl_fail(err, FL_ERR_CONFIG,
			       "etcd: TLS files are set but no endpoint is https://\nHINT: list the endpoints as "
			       "https://host:port");
	if (https && (e->tls = tls_client_new(sec->ca_file, sec->cert_file, sec->key_file, err)) == NULL) {
		if (err)
			fl_err_prefix(err, "etcd");
		return -1;
	}
	if (given(sec->username) != given(sec->password_file))
		return fl_fail(err, FL_ERR_CONFIG, "etcd: authentication needs both a user name and a password file");
	if (!given(sec->username))
		return 0;
	if (secret_read("etcd password", sec->password_file, e->password, sizeof e->password, err) < 0)
		return -1;
	if ((e->username = strdup(sec->username)) == NULL)
		return fl_fail(err, FL_ERR_INTERNAL, "etcd: out of memory");
	return 0;
}

/* ---- lifecycle ---- */

etcd *etcd_new(char *const *endpoints, int n, const etcd_security *sec, fl_err *err)
{
	if (endpoints == NULL || n <= 0) {
		fl_fail(err, FL_ERR_CONFIG, "etcd: no endpoint given");
		return NULL;
	}
	etcd *e = calloc(1, sizeof *e);
	if (e == NULL || (e->eps = calloc((size_t)n, sizeof *e->eps)) == NULL) {
		free(e);
		fl_fail(err, FL_ERR_INTERNAL, "etcd: out of memory");
		return NULL;
	}
	e->timeout = ETCD_DEFAULT_TIMEOUT;
	if (security_setup(e, endpoints, n, sec, err) < 0) {
		etcd_free(e);
		return NULL;
	}
	for (; e->n < n; e->n++) {
		if (endpoint_parse(&e->eps[e->n], endpoints[e->n], e->tls, err) != 0) {
			e->n++;
			etcd_free(e);
			return NULL;
		}
	}
	return e;
}

void etcd_free(etcd *e)
{
	if (e == NULL)
		return;
	for (int i = 0; i < e->n; i++)
		endpoint_clear(&e->eps[i]);
	free(e->eps);
	tls_ctx_free(e->tls);
	free(e->username);
	explicit_bzero(e->password, sizeof e->password);
	free(e);
}

void etcd_set_timeout(etcd *e, double seconds)
{
	if (e == NULL)
		return;
	e->timeout = seconds >= ETCD_MIN_TIMEOUT ? seconds : ETCD_MIN_TIMEOUT;
}

/* ---- one exchange ---- */

/* POSTs body to ep within budget seconds, with ep's auth token once it has one. */
static void exchange_run(endpoint *ep, const char *path, const char *body, double budget, exchange *x)
{
	http_header h[] = {{"Content-Type", "application/json"}, {"Authorization", ep->token}};
	http_peer_exchange(ep->peer, "POST", path, h, ep->token[0] ? 2 : 1, body, budget, x);
}

static void exchange_why(const exchange *x, const endpoint *ep, double budget, char *why, size_t size)
{
	http_exchange_why(x, ep->url, budget, ETCD_MAX_BODY, why, size);
}

/* ---- one call: endpoints in turn ---- */

/* The endpoint to try k-th: the last one that answered, then the others in their order. */
static int endpoint_pick(const etcd *e, int k)
{
	if (k == 0)
		return e->last_good;
	return k <= e->last_good ? k - 1 : k;
}

/* etcd's error text in a non-200 answer, or the start of the body if it is not etcd's JSON. */
static void answer_error_text(const exchange *x, char *out, size_t size)
{
	json_t *j = json_loadb(x->body, x->len, 0, NULL);
	json_t *msg = json_object_get(j, "message");
	if (!json_is_string(msg) || *json_string_value(msg) == '\0')
		msg = json_object_get(j, "error");
	if (json_is_string(msg))
		snprintf(out, size, "%s", json_string_value(msg));
	else
		snprintf(out, size, "%.*s", x->len > 200 ? 200 : (int)x->len, x->body);
	json_decref(j);
	for (char *c = out; *c; c++)
		if (*c == '\n' || *c == '\r')
			*c = ' ';
}

static json_t *answer_parse(const endpoint *ep, const char *path, const exchange *x, size_t flags, fl_err *err)
{
	json_error_t jerr;
	json_t *j = json_loadb(x->body, x->len, flags, &jerr);
	if (j == NULL) {
		fl_fail(err, FL_ERR_ETCD, "etcd: %s%s answered malformed JSON: %s (line %d column %d)", ep->url, path,
			jerr.text, jerr.line, jerr.column);
		return NULL;
	}
	if (!json_is_object(j)) {
		json_decref(j);
		fl_fail(err, FL_ERR_ETCD, "etcd: %s%s answered JSON that is not an object", ep->url, path);
		return NULL;
	}
	return j;
}

static void why_append(char *all, size_t size, const char *why)
{
	size_t used = strlen(all);
	if (used + 3 >= size)
		return;
	snprintf(all + used, size - used, "%s%s", used ? "; " : "", why);
}

/*
 * Runs one exchange with ep within its share of the time left, and a second on a fresh connection when a
 * kept-alive one failed at once (the server closed it meanwhile). Returns the budget of the last exchange.
 */
static double endpoint_try(endpoint *ep, const char *path, const char *body, double deadline, int sharers, exchange *x)
{
	bool reused = http_peer_answered(ep->peer);
	double budget = (deadline - clock_mono()) / sharers;
	exchange_run(ep, path, body, budget, x);
	if (x->outcome == HTTP_FAILED && reused && deadline - clock_mono() > 0) {
		log_debug("etcd: %s dropped a kept-alive connection, reconnecting", ep->url);
		http_exchange_clear(x);
		budget = (deadline - clock_mono()) / sharers;
		exchange_run(ep, path, body, budget, x);
	}
	return budget;
}

static void call_fail(const etcd *e, int tried, int failures, const char *whys, fl_err *err)
{
	if (tried == e->n && failures == 1)
		fl_fail(err, FL_ERR_ETCD, "etcd: %s", whys);
	else if (tried == e->n)
		fl_fail(err, FL_ERR_ETCD, "etcd: no endpoint answered: %s", whys);
	else
		fl_fail(err, FL_ERR_ETCD, "etcd: no endpoint answered within %.1f s: %s", e->timeout, whys);
}

/*
 * Gets ep an auth token from /v3/auth/authenticate. 0 when it has one; -1
 * when ep did not answer (another endpoint may); -2 when etcd refused the
 * credentials or the answer was not a token: no endpoint will do better.
 * why says what happened.
 */
static int endpoint_authenticate(etcd *e, endpoint *ep, double deadline, int sharers, char *why, size_t len)
{
	json_t *request = json_pack("{s:s, s:s}", "name", e->username, "password", e->password);
	char *body = request ? json_dumps(request, JSON_COMPACT) : NULL;
	json_decref(request);
	if (body == NULL) {
		snprintf(why, len, "out of memory");
		return -2;
	}
	exchange x;
	double budget = (deadline - clock_mono()) / sharers;
	exchange_run(ep, "/v3/auth/authenticate", body, budget, &x);
	explicit_bzero(body, strlen(body));
	free(body);
	if (x.outcome != HTTP_ANSWERED) {
		exchange_why(&x, ep, budget, why, len);
		return -1;
	}
	int rc = -2;
	char text[ETCD_TEXT_MAX];
	if (x.status != 200) {
		answer_error_text(&x, text, sizeof text);
		/* etcd's gateway refuses a client certificate with a Common Name once users are on. */
		snprintf(why, len, "%s refused user \"%.64s\": %s%s", ep->url, e->username, text,
			 strstr(text, "CommonName") ? "\nHINT: with etcd users on, the client certificate must "
						      "carry no Common Name"
						    : "");
	} else {
		json_t *j = json_loadb(x.body, x.len, 0, NULL);
		const char *token = json_string_value(json_object_get(j, "token"));
		if (token == NULL || token[0] == '\0' || strlen(token) >= sizeof ep->token ||
		    strpbrk(token, "\r\n") != NULL) {
			snprintf(why, len, "%s/v3/auth/authenticate answered no usable token", ep->url);
		} else {
			snprintf(ep->token, sizeof ep->token, "%s", token);
			rc = 0;
		}
		json_decref(j);
	}
	explicit_bzero(x.body, x.len);
	http_exchange_clear(&x);
	return rc;
}

/*
 * One endpoint's turn: authenticated first when etcd wants users, and once
 * more when etcd no longer knows the token (401: it expired, or the member
 * restarted). -1: no answer (why says), -2: a refusal no endpoint will
 * change (why says), 0: x holds etcd's answer.
 */
static int endpoint_call(etcd *e, endpoint *ep, const char *path, const char *body, double deadline, int sharers,
			 exchange *x, char *why, size_t len)
{
	for (int attempt = 0;; attempt++) {
		if (e->username != NULL && ep->token[0] == '\0') {
			int a = endpoint_authenticate(e, ep, deadline, sharers, why, len);
			if (a < 0)
				return a;
		}
		double budget = endpoint_try(ep, path, body, deadline, sharers, x);
		if (x->outcome != HTTP_ANSWERED) {
			exchange_why(x, ep, budget, why, len);
			return -1;
		}
		if (x->status != 401 || e->username == NULL || attempt > 0 || deadline - clock_mono() <= 0)
			return 0;
		log_debug("etcd: %s no longer takes our auth token; authenticating again", ep->url);
		explicit_bzero(ep->token, sizeof ep->token);
		http_exchange_clear(x);
	}
}

/* POSTs request (which it takes) to path and returns the JSON object of a 200 answer, or NULL. */
static json_t *etcd_call(etcd *e, const char *path, json_t *request, size_t flags, fl_err *err)
{
	char *body = request ? json_dumps(request, JSON_COMPACT) : NULL;
	json_decref(request);
	if (body == NULL) {
		fl_fail(err, FL_ERR_INTERNAL, "etcd: cannot encode the request to %s", path);
		return NULL;
	}
	double deadline = clock_mono() + e->timeout;
	char whys[FL_ERR_MSG_MAX - 64] = "";
	char why[ETCD_WHY_MAX];
	int failures = 0;
	int k = 0;
	for (; k < e->n && deadline - clock_mono() > 0; k++) {
		int i = endpoint_pick(e, k);
		endpoint *ep = &e->eps[i];
		exchange x;
		int got = endpoint_call(e, ep, path, body, deadline, e->n - k, &x, why, sizeof why);
		if (got == -2) {
			e->last_good = i;
			fl_fail(err, FL_ERR_ETCD, "etcd: %s", why);
			free(body);
			return NULL;
		}
		if (got < 0) {
			log_debug("etcd: %s", why);
			why_append(whys, sizeof whys, why);
			failures++;
			continue;
		}
		if (x.status == 200) {
			e->last_good = i;
			json_t *answer = answer_parse(ep, path, &x, flags, err);
			free(x.body);
			free(body);
			return answer;
		}
		char text[ETCD_TEXT_MAX];
		answer_error_text(&x, text, sizeof text);
		free(x.body);
		/* 503 is gRPC's Unavailable (no leader, stopping): another member may do better. */
		if (x.status == 503) {
			snprintf(why, sizeof why, "%s%s answered %d: %s", ep->url, path, x.status, text);
			log_debug("etcd: %s", why);
			why_append(whys, sizeof whys, why);
			failures++;
			continue;
		}
		e->last_good = i;
		/* etcd's own words for a cluster that wants users, and for a user without the permission. */
		const char *hint = strstr(text, "user name is empty") ? "\nHINT: etcd has authentication on; set "
									"etcd.username and secrets.etcd_password_file"
				   : strstr(text, "permission denied")
					   ? "\nHINT: grant the etcd user's role readwrite on "
					     "the key prefix"
					   : "";
		fl_fail(err, FL_ERR_ETCD, "etcd: %s%s answered %d: %s%s", ep->url, path, x.status, text, hint);
		free(body);
		return NULL;
	}
	free(body);
	call_fail(e, k, failures, whys, err);
	return NULL;
}

/* ---- answers ---- */

static int malformed(const etcd *e, const char *path, const char *what, fl_err *err)
{
	return fl_fail(err, FL_ERR_ETCD, "etcd: %s%s answered a malformed %s", e->eps[e->last_good].url, path, what);
}

static int kv_from_json(const json_t *j, etcd_kv *kv)
{
	memset(kv, 0, sizeof *kv);
	json_t *key = json_object_get(j, "key");
	json_t *value = json_object_get(j, "value");
	if (!json_is_object(j) || !json_is_string(key) || (value != NULL && !json_is_string(value)))
		return -1;
	kv->key = base64_decode(json_string_value(key), NULL);
	kv->value = value ? base64_decode(json_string_value(value), NULL) : strdup("");
	if (kv->key == NULL || kv->value == NULL || json_get_i64(j, "create_revision", &kv->create_revision) != 0 ||
	    json_get_i64(j, "mod_revision", &kv->mod_revision) != 0 || json_get_i64(j, "lease", &kv->lease) != 0) {
		etcd_kv_clear(kv);
		return -1;
	}
	return 0;
}

static int kvs_from_answer(const etcd *e, const char *path, const json_t *answer, etcd_kvs *out, fl_err *err)
{
	memset(out, 0, sizeof *out);
	json_t *header = json_object_get(answer, "header");
	if (!json_is_object(header) || json_get_i64(header, "revision", &out->revision) != 0)
		return malformed(e, path, "header", err);
	json_t *kvs = json_object_get(answer, "kvs");
	if (kvs == NULL)
		return 0;
	if (!json_is_array(kvs))
		return malformed(e, path, "\"kvs\"", err);
	size_t n = json_array_size(kvs);
	if (n == 0)
		return 0;
	out->v = calloc(n, sizeof *out->v);
	if (out->v == NULL)
		return fl_fail(err, FL_ERR_INTERNAL, "etcd: out of memory");
	for (size_t i = 0; i < n; i++) {
		if (kv_from_json(json_array_get(kvs, i), &out->v[i]) != 0) {
			etcd_kvs_free(out);
			return malformed(e, path, "key-value", err);
		}
		out->n++;
	}
	return 0;
}

static int range(etcd *e, json_t *request, etcd_kvs *out, fl_err *err)
{
	memset(out, 0, sizeof *out);
	json_t *answer = etcd_call(e, "/v3/kv/range", request, 0, err);
	if (answer == NULL)
		return -1;
	int rc = kvs_from_answer(e, "/v3/kv/range", answer, out, err);
	json_decref(answer);
	return rc;
}

/* The smallest key above every key starting with prefix; "\0" (all keys) when there is none. */
static json_t *prefix_end(const char *prefix)
{
	size_t n = strlen(prefix);
	char *end = strndup(prefix, n);
	if (end == NULL)
		return NULL;
	while (n > 0 && (unsigned char)end[n - 1] == 0xff)
		n--;
	json_t *j;
	if (n == 0) {
		j = json_b64("", 1);
	} else {
		end[n - 1] = (char)((unsigned char)end[n - 1] + 1);
		j = json_b64(end, n);
	}
	free(end);
	return j;
}

int etcd_get_prefix(etcd *e, const char *prefix, etcd_kvs *out, fl_err *err)
{
	json_t *key = *prefix ? json_b64_str(prefix) : json_b64("", 1);
	json_t *request = json_pack("{s:o, s:o}", "key", key, "range_end", prefix_end(prefix));
	return range(e, request, out, err);
}

int etcd_get(etcd *e, const char *key, etcd_kv *out, bool *found, fl_err *err)
{
	memset(out, 0, sizeof *out);
	*found = false;
	etcd_kvs kvs;
	if (range(e, json_pack("{s:o}", "key", json_b64_str(key)), &kvs, err) != 0)
		return -1;
	if (kvs.n > 0) {
		*out = kvs.v[0];
		memset(&kvs.v[0], 0, sizeof kvs.v[0]);
		*found = true;
	}
	etcd_kvs_free(&kvs);
	return 0;
}

static json_t *put_request(const char *key, const char *value, int64_t lease)
{
	json_t *put = json_pack("{s:o, s:o}", "key", json_b64_str(key), "value", json_b64_str(value));
	if (put != NULL && lease != 0)
		json_object_set_new(put, "lease", json_i64(lease));
	return put;
}

int etcd_put(etcd *e, const char *key, const char *value, int64_t lease, fl_err *err)
{
	json_t *answer = etcd_call(e, "/v3/kv/put", put_request(key, value, lease), 0, err);
	json_decref(answer);
	return answer ? 0 : -1;
}

int etcd_delete(etcd *e, const char *key, fl_err *err)
{
	json_t *answer = etcd_call(e, "/v3/kv/deleterange", json_pack("{s:o}", "key", json_b64_str(key)), 0, err);
	json_decref(answer);
	return answer ? 0 : -1;
}

/* Runs {compare} then {then}; *done tells whether the compare held. */
static int txn(etcd *e, json_t *compare, json_t *then, bool *done, fl_err *err)
{
	*done = false;
	json_t *request = json_pack("{s:[o], s:[o]}", "compare", compare, "success", then);
	json_t *answer = etcd_call(e, "/v3/kv/txn", request, 0, err);
	if (answer == NULL)
		return -1;
	json_t *ok = json_object_get(answer, "succeeded");
	int rc = 0;
	if (ok != NULL && !json_is_boolean(ok))
		rc = malformed(e, "/v3/kv/txn", "\"succeeded\"", err);
	else
		*done = json_is_true(ok);
	json_decref(answer);
	return rc;
}

static json_t *compare_value(const char *key, const char *expect)
{
	return json_pack("{s:o, s:s, s:s, s:o}", "key", json_b64_str(key), "target", "VALUE", "result", "EQUAL",
			 "value", json_b64_str(expect));
}

int etcd_create(etcd *e, const char *key, const char *value, int64_t lease, bool *created, fl_err *err)
{
	json_t *compare = json_pack("{s:o, s:s, s:s, s:s}", "key", json_b64_str(key), "target", "CREATE", "result",
				    "EQUAL", "create_revision", "0");
	json_t *then = json_pack("{s:o}", "request_put", put_request(key, value, lease));
	return txn(e, compare, then, created, err);
}

int etcd_put_if_value(etcd *e, const char *key, const char *expect, const char *value, int64_t lease, bool *done,
		      fl_err *err)
{
	json_t *then = json_pack("{s:o}", "request_put", put_request(key, value, lease));
	return txn(e, compare_value(key, expect), then, done, err);
}

int etcd_delete_if_value(etcd *e, const char *key, const char *expect, bool *done, fl_err *err)
{
	json_t *then = json_pack("{s:{s:o}}", "request_delete_range", "key", json_b64_str(key));
	return txn(e, compare_value(key, expect), then, done, err);
}

/* ---- leases ---- */

int etcd_lease_grant(etcd *e, long ttl, int64_t *id, fl_err *err)
{
	*id = 0;
	json_t *answer = etcd_call(e, "/v3/lease/grant", json_pack("{s:o}", "TTL", json_i64(ttl)), 0, err);
	if (answer == NULL)
		return -1;
	json_t *error = json_object_get(answer, "error");
	int rc = 0;
	if (json_is_string(error) && *json_string_value(error) != '\0')
		rc = fl_fail(err, FL_ERR_ETCD, "etcd: %s/v3/lease/grant: %s", e->eps[e->last_good].url,
			     json_string_value(error));
	else if (json_get_i64(answer, "ID", id) != 0 || *id == 0)
		rc = malformed(e, "/v3/lease/grant", "lease ID", err);
	json_decref(answer);
	return rc;
}

static int lease_ttl_field(etcd *e, const char *path, const json_t *obj, long *ttl_left, fl_err *err)
{
	int64_t ttl;
	if (json_get_i64(obj, "TTL", &ttl) != 0)
		return malformed(e, path, "TTL", err);
	*ttl_left = (long)ttl;
	return 0;
}

int etcd_lease_keepalive(etcd *e, int64_t id, long *ttl_left, fl_err *err)
{
	static const char path[] = "/v3/lease/keepalive";
	*ttl_left = 0;
	/* A streaming call: the gateway wraps each message in "result" or "error". */
	json_t *answer = etcd_call(e, path, json_pack("{s:o}", "ID", json_i64(id)), JSON_DISABLE_EOF_CHECK, err);
	if (answer == NULL)
		return -1;
	json_t *result = json_object_get(answer, "result");
	json_t *error = json_object_get(answer, "error");
	json_t *message = json_object_get(error, "message");
	int rc;
	if (json_is_object(result))
		rc = lease_ttl_field(e, path, result, ttl_left, err);
	else if (json_is_string(message))
		rc = fl_fail(err, FL_ERR_ETCD, "etcd: %s%s: %s", e->eps[e->last_good].url, path,
			     json_string_value(message));
	else
		rc = malformed(e, path, "stream message", err);
	if (rc == 0 && *ttl_left < 0)
		*ttl_left = 0;
	json_decref(answer);
	return rc;
}

int etcd_lease_ttl(etcd *e, int64_t id, long *ttl_left, fl_err *err)
{
	*ttl_left = -1;
	json_t *answer = etcd_call(e, "/v3/lease/timetolive", json_pack("{s:o}", "ID", json_i64(id)), 0, err);
	if (answer == NULL)
		return -1;
	int rc = lease_ttl_field(e, "/v3/lease/timetolive", answer, ttl_left, err);
	json_decref(answer);
	return rc;
}

int etcd_lease_revoke(etcd *e, int64_t id, fl_err *err)
{
	json_t *answer = etcd_call(e, "/v3/lease/revoke", json_pack("{s:o}", "ID", json_i64(id)), 0, err);
	json_decref(answer);
	return answer ? 0 : -1;
}

/* ---- authentication ---- */

/* One admin call whose answer only says it was done. */
static int admin_call(etcd *e, const char *path, json_t *request, fl_err *err)
{
	json_t *answer = etcd_call(e, path, request, 0, err);
	if (answer == NULL)
		return -1;
	json_decref(answer);
	return 0;
}

int etcd_auth_enable(etcd *e, const char *root_password, const char *user, const char *password, const char *prefix,
		     fl_err *err)
{
	int rc = admin_call(e, "/v3/auth/user/add", json_pack("{s:s, s:s}", "name", "root", "password", root_password),
			    err);
	if (rc == 0)
		rc = admin_call(e, "/v3/auth/user/grant", json_pack("{s:s, s:s}", "user", "root", "role", "root"), err);
	if (rc == 0)
		rc = admin_call(e, "/v3/auth/user/add", json_pack("{s:s, s:s}", "name", user, "password", password),
				err);
	if (rc == 0)
		rc = admin_call(e, "/v3/auth/role/add", json_pack("{s:s}", "name", user), err);
	/* READWRITE is 2 in etcd's Permission.Type. */
	if (rc == 0)
		rc = admin_call(e, "/v3/auth/role/grant",
				json_pack("{s:s, s:{s:i, s:o, s:o}}", "name", user, "perm", "permType", 2, "key",
					  json_b64_str(prefix), "range_end", prefix_end(prefix)),
				err);
	if (rc == 0)
		rc = admin_call(e, "/v3/auth/user/grant", json_pack("{s:s, s:s}", "user", user, "role", user), err);
	if (rc == 0)
		rc = admin_call(e, "/v3/auth/enable", json_object(), err);
	return rc;
}

/* ---- watches ---- */

#define WATCH_RETRY 0.5
#define WATCH_LINE_MAX (1024 * 1024)

struct etcd_watch {
	etcd *e;
	struct event_base *base;
	char *body; /* the create request */
	char what[128];
	void (*on_change)(void *arg);
	void *arg;
	http_stream *stream;
	struct event *retry;
	int ep; /* the endpoint of the stream */
	bool live, was_live, broken_logged;
	bool broken; /* the stream is over: freed by the retry timer, never from inside its callbacks */
	char *line;  /* a message not yet ended by its newline */
	size_t len, cap;
};

static void watch_start(etcd_watch *w);

static void watch_broken(etcd_watch *w, const char *why)
{
	if (w->broken)
		return;
	w->broken = true;
	w->len = 0;
	if (w->live || !w->broken_logged)
		log_warn("etcd: the watch on %s at %s ended: %s; watching again in %.1f s", w->what,
			 w->e->eps[w->ep].url, why, WATCH_RETRY);
	else
		log_debug("etcd: the watch on %s at %s: %s", w->what, w->e->eps[w->ep].url, why);
	w->broken_logged = true;
	w->live = false;
	/* Whatever came while this stream was being made or after it broke: the next one wakes the caller. */
	w->was_live = true;
	daemon_timer_arm(w->retry, WATCH_RETRY);
}

/* One message of the stream: {"result":{...}} or {"error":{...}}. */
static void watch_message(etcd_watch *w, const char *text, size_t len)
{
	json_t *j = json_loadb(text, len, 0, NULL);
	json_t *result = json_object_get(j, "result");
	json_t *error = json_object_get(j, "error");
	if (json_is_object(result)) {
		json_t *events = json_object_get(result, "events");
		if (json_is_true(json_object_get(result, "canceled"))) {
			const char *reason = json_string_value(json_object_get(result, "cancel_reason"));
			char why[ETCD_TEXT_MAX];
			snprintf(why, sizeof why, "%s", reason && reason[0] ? reason : "etcd canceled it");
			json_decref(j);
			/* A token etcd no longer knows (it restarted): the next start authenticates again. */
			if (strstr(why, "auth token") != NULL)
				explicit_bzero(w->e->eps[w->ep].token, sizeof w->e->eps[w->ep].token);
			watch_broken(w, why);
			return;
		}
		if (json_is_true(json_object_get(result, "created"))) {
			w->live = true;
			w->broken_logged = false;
			log_debug("etcd: watching %s at %s", w->what, w->e->eps[w->ep].url);
			/* A change may have come while no watch was on. */
			if (w->was_live)
				w->on_change(w->arg);
			w->was_live = true;
		}
		if (json_is_array(events) && json_array_size(events) > 0)
			w->on_change(w->arg);
		json_decref(j);
		return;
	}
	char why[ETCD_TEXT_MAX];
	const char *msg = json_string_value(json_object_get(error, "message"));
	snprintf(why, sizeof why, "%s", msg ? msg : "etcd answered something that is not a watch message");
	/* Unauthenticated: the token expired; the next start authenticates again. */
	if (json_integer_value(json_object_get(error, "grpc_code")) == 16 ||
	    json_integer_value(json_object_get(error, "code")) == 16)
		explicit_bzero(w->e->eps[w->ep].token, sizeof w->e->eps[w->ep].token);
	json_decref(j);
	watch_broken(w, why);
}

static void watch_on_data(const char *data, size_t len, void *arg)
{
	etcd_watch *w = arg;
	for (size_t k = 0; k < len && !w->broken; k++) {
		if (data[k] == '\n') {
			if (w->len > 0)
				watch_message(w, w->line, w->len);
			w->len = 0;
			continue;
		}
		if (w->len == w->cap) {
			size_t cap = w->cap ? w->cap * 2 : 4096;
			char *line = cap <= WATCH_LINE_MAX ? realloc(w->line, cap) : NULL;
			if (line == NULL) {
				watch_broken(w, "a message longer than 1 MiB");
				return;
			}
			w->line = line;
			w->cap = cap;
		}
		w->line[w->len++] = data[k];
	}
}

static void watch_on_end(int status, const char *why, void *arg)
{
	etcd_watch *w = arg;
	char text[ETCD_WHY_MAX];
	if (w->broken)
		return;
	if (status == 401)
		explicit_bzero(w->e->eps[w->ep].token, sizeof w->e->eps[w->ep].token);
	if (status != 0)
		snprintf(text, sizeof text, "%s answered %d", w->e->eps[w->ep].url, status);
	else
		snprintf(text, sizeof text, "%s", why);
	watch_broken(w, status == 200 ? "etcd ended the stream" : text);
}

static void watch_on_retry(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	etcd_watch *w = arg;
	http_stream_free(w->stream);
	w->stream = NULL;
	w->broken = false;
	w->ep = (w->ep + 1) % w->e->n;
	watch_start(w);
}

static void watch_start(etcd_watch *w)
{
	endpoint *ep = &w->e->eps[w->ep];
	char why[ETCD_WHY_MAX];
	if (w->e->username != NULL && ep->token[0] == '\0' &&
	    endpoint_authenticate(w->e, ep, clock_mono() + w->e->timeout, 1, why, sizeof why) < 0) {
		watch_broken(w, why);
		return;
	}
	http_header h[] = {{"Content-Type", "application/json"}, {"Authorization", ep->token}};
	http_url u = ep->u;
	snprintf(u.target, sizeof u.target, "/v3/watch");
	fl_err err;
	w->stream = http_stream_start(w->base, &u, w->e->tls, h, ep->token[0] ? 2 : 1, w->body,
				      w->e->timeout > 1 ? w->e->timeout : 1, watch_on_data, watch_on_end, w, &err);
	if (w->stream == NULL)
		watch_broken(w, err.msg);
}

etcd_watch *etcd_watch_new(etcd *e, struct event_base *base, const char *key, bool prefix, void (*on_change)(void *arg),
			   void *arg, fl_err *err)
{
	etcd_watch *w = calloc(1, sizeof *w);
	json_t *request = json_pack("{s:{s:o}}", "create_request", "key", json_b64_str(key));
	if (request != NULL && prefix)
		json_object_set_new(json_object_get(request, "create_request"), "range_end", prefix_end(key));
	if (w == NULL || request == NULL || (w->body = json_dumps(request, JSON_COMPACT)) == NULL ||
	    (w->retry = evtimer_new(base, watch_on_retry, w)) == NULL) {
		json_decref(request);
		etcd_watch_free(w);
		fl_fail(err, FL_ERR_INTERNAL, "etcd: out of memory");
		return NULL;
	}
	json_decref(request);
	w->e = e;
	w->base = base;
	w->on_change = on_change;
	w->arg = arg;
	w->ep = e->last_good;
	snprintf(w->what, sizeof w->what, "%.120s%s", key, prefix ? "*" : "");
	watch_start(w);
	return w;
}

void etcd_watch_free(etcd_watch *w)
{
	if (w == NULL)
		return;
	http_stream_free(w->stream);
	if (w->retry != NULL)
		event_free(w->retry);
	free(w->body);
	free(w->line);
	free(w);
}

bool etcd_watch_live(const etcd_watch *w) { return w != NULL && w->live; }

/* ---- results ---- */

void etcd_kv_clear(etcd_kv *kv)
{
	if (kv == NULL)
		return;
	free(kv->key);
	free(kv->value);
	memset(kv, 0, sizeof *kv);
}

void etcd_kvs_free(etcd_kvs *kvs)
{
	if (kvs == NULL)
		return;
	for (int i = 0; i < kvs->n; i++)
		etcd_kv_clear(&kvs->v[i]);
	free(kvs->v);
	memset(kvs, 0, sizeof *kvs);
}
