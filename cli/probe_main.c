/*
 * flotilla-probe [PATH [HOST:PORT]]: the images' HEALTHCHECK. GETs PATH
 * (default /liveness) from HOST:PORT, by default this container's agent at
 * FLOTILLA_API_LISTEN (default 127.0.0.1:8008; a wildcard address is asked
 * on loopback), over HTTPS when
 * FLOTILLA_API_CERT_FILE is set (verified with FLOTILLA_API_CA_FILE), within
 * 2 s. Exit 0 on 200, 1 otherwise, with one line saying why. The agent
 * answers from its loop, so an answer proves the loop turns, also while a
 * replica clones or catches up.
 */
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/hostport.h"
#include "common/http_client.h"
#include "common/tls.h"

#define PROBE_TIMEOUT 2.0

int main(int argc, char **argv)
{
	const char *path = argc > 1 ? argv[1] : "/liveness";
	const char *listen = argc > 2 ? argv[2] : getenv("FLOTILLA_API_LISTEN");
	const char *cert = getenv("FLOTILLA_API_CERT_FILE");
	bool tls = cert != NULL && cert[0] != '\0';
	char host[128];
	int port = 8008;
	if (listen == NULL || listen[0] == '\0')
		listen = "127.0.0.1:8008";
	if (path[0] != '/' || hostport_parse(listen, host, sizeof host, &port) < 0) {
		fprintf(stderr, "flotilla-probe: FLOTILLA_API_LISTEN = \"%s\" is not host:port, or \"%s\" no path\n",
			listen, path);
		return 1;
	}
	const char *ask = strcmp(host, "0.0.0.0") == 0 ? "127.0.0.1" : strcmp(host, "::") == 0 ? "::1" : host;
	char url[512];
	snprintf(url, sizeof url, "%s://%s%s%s:%d%s", tls ? "https" : "http", strchr(ask, ':') ? "[" : "", ask,
		 strchr(ask, ':') ? "]" : "", port, path);
	fl_err err = {0};
	http_url u;
	tls_ctx *ctx = tls ? tls_client_new(getenv("FLOTILLA_API_CA_FILE"), NULL, NULL, &err) : NULL;
	http_peer *p =
		(!tls || ctx) && http_url_parse(url, port, &u, &err) == 0 ? http_peer_new(&u, 65536, ctx, &err) : NULL;
	tls_ctx_free(ctx);
	if (p == NULL) {
		fprintf(stderr, "flotilla-probe: %s\n", err.msg);
		return 1;
	}
	http_exchange x;
	http_peer_exchange(p, "GET", u.target, NULL, 0, NULL, PROBE_TIMEOUT, &x);
	int rc = 1;
	if (x.outcome == HTTP_ANSWERED && x.status == 200) {
		rc = 0;
	} else if (x.outcome == HTTP_ANSWERED) {
		fprintf(stderr, "flotilla-probe: %s answered %d\n", url, x.status);
	} else {
		char why[256];
		http_exchange_why(&x, url, PROBE_TIMEOUT, 65536, why, sizeof why);
		fprintf(stderr, "flotilla-probe: %s\n", why);
	}
	http_exchange_clear(&x);
	http_peer_free(p);
	return rc;
}
