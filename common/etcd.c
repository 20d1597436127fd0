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
#include "http_client.h"
#include "log.h"

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

typedef struct endpoint {
	char *url;
	http_peer *peer;
} endpoint;

struct etcd {
	endpoint *eps;
	int n;
	int last_good;
	double timeout;
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
}

static int endpoint_parse(endpoint *ep, const char *url, fl_err *err)
{
	const char *problem = http_base_url_problem(url);
	if (problem != NULL)
		return fl_fail(err, FL_ERR_CONFIG, "etcd: endpoint \"%s\" %s", url, problem);
	http_url u;
	if (http_url_parse(url, ETCD_DEFAULT_PORT, &u, err) < 0) {
		if (err)
			err->code = FL_ERR_CONFIG;
		return -1;
	}
	ep->url = strdup(url);
	ep->peer = ep->url ? http_peer_new(&u, ETCD_MAX_BODY, err) : NULL;
	return ep->peer ? 0 : -1;
}

/* ---- lifecycle ---- */

etcd *etcd_new(char *const *endpoints, int n, fl_err *err)
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
	for (; e->n < n; e->n++) {
		if (endpoint_parse(&e->eps[e->n], endpoints[e->n], err) != 0) {
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
	free(e);
}

void etcd_set_timeout(etcd *e, double seconds)
{
	if (e == NULL)
		return;
	e->timeout = seconds >= ETCD_MIN_TIMEOUT ? seconds : ETCD_MIN_TIMEOUT;
}

/* ---- one exchange ---- */

/* POSTs body to ep within budget seconds. */
static void exchange_run(endpoint *ep, const char *path, const char *body, double budget, exchange *x)
{
	static const http_header json[] = {{"Content-Type", "application/json"}};
	http_peer_exchange(ep->peer, "POST", path, json, 1, body, budget, x);
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
		double budget = endpoint_try(ep, path, body, deadline, e->n - k, &x);
		if (x.outcome != HTTP_ANSWERED) {
			exchange_why(&x, ep, budget, why, sizeof why);
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
		fl_fail(err, FL_ERR_ETCD, "etcd: %s%s answered %d: %s", ep->url, path, x.status, text);
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
