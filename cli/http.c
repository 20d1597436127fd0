/*
 * http: the CLI's GET and POST, through http_client (one exchange on a
 * private event_base, our own timer), with the connection closed after it.
 */
#include "http.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/http_client.h"
#include "common/tls.h"

#define HTTP_DEFAULT_PORT 80
#define HTTP_MAX_BODY (16 * 1024 * 1024)

static char ca_file[4096];

void http_set_ca_file(const char *path) { snprintf(ca_file, sizeof ca_file, "%s", path ? path : ""); }

static int http_call(const char *url, const char *method, const char *token, const char *body, double timeout,
		     http_answer *out, fl_err *err)
{
	bool post = strcmp(method, "GET") != 0;
	memset(out, 0, sizeof *out);
	http_url u;
	if (http_url_parse(url, HTTP_DEFAULT_PORT, &u, err) < 0)
		return -1;
	tls_ctx *tls = NULL;
	if (u.tls) {
		/* An https API: its certificate verified against the CA set, FLOTILLA_API_CA_FILE, or the system's. */
		const char *ca = ca_file[0] ? ca_file : getenv("FLOTILLA_API_CA_FILE");
		if ((tls = tls_client_new(ca, NULL, NULL, err)) == NULL) {
			if (ca != NULL)
				fl_err_prefix(err, "the REST API's CA file");
			return -1;
		}
	}
	http_peer *p = http_peer_new(&u, HTTP_MAX_BODY, tls, err);
	tls_ctx_free(tls);
	if (p == NULL)
		return -1;
	http_header h[4] = {{"Accept", "application/json"}, {"Connection", "close"}};
	int n = 2;
	char *auth = NULL;
	size_t auth_len = 0;
	if (post)
		h[n++] = (http_header){"Content-Type", "application/json"};
	if (token != NULL) {
		auth_len = strlen(token) + sizeof "Bearer ";
		if ((auth = malloc(auth_len)) == NULL) {
			http_peer_free(p);
			return fl_fail(err, FL_ERR_INTERNAL, "out of memory");
		}
		snprintf(auth, auth_len, "Bearer %s", token);
		h[n++] = (http_header){"Authorization", auth};
	}
	http_exchange x;
	http_peer_exchange(p, method, u.target, h, n, post ? (body ? body : "") : NULL, timeout, &x);
	if (auth != NULL) {
		/* The token goes only into the Authorization header; our copy is wiped. */
		explicit_bzero(auth, auth_len);
		free(auth);
	}
	http_peer_free(p);
	if (x.outcome == HTTP_ANSWERED) {
		out->status = x.status;
		out->body = x.body;
		out->len = x.len;
		return 0;
	}
	char why[256];
	http_exchange_why(&x, NULL, timeout, HTTP_MAX_BODY, why, sizeof why);
	http_exchange_clear(&x);
	return fl_fail(err, http_exchange_code(&x), "%s", why);
}

int http_get(const char *url, double timeout, http_answer *out, fl_err *err)
{
	return http_call(url, "GET", NULL, NULL, timeout, out, err);
}

int http_get_token(const char *url, const char *token, double timeout, http_answer *out, fl_err *err)
{
	return http_call(url, "GET", token, NULL, timeout, out, err);
}

int http_post(const char *url, const char *token, const char *body, double timeout, http_answer *out, fl_err *err)
{
	return http_call(url, "POST", token, body, timeout, out, err);
}

int http_send(const char *url, const char *method, const char *token, const char *body, double timeout,
	      http_answer *out, fl_err *err)
{
	return http_call(url, method, token, body, timeout, out, err);
}

void http_answer_clear(http_answer *a)
{
	if (a == NULL)
		return;
	free(a->body);
	memset(a, 0, sizeof *a);
}
