/*
 * api: the agent's REST API server (libevent's evhttp). The HA loop hands
 * it a snapshot of the node after every tick (api_update); reads are
 * answered from the latest snapshot only (api_route.h), so a GET never waits
 * on etcd or PostgreSQL. A mutating call that the router admits is carried
 * out by the agent (api_command_fn), which writes its record to etcd before
 * the answer.
 */
#ifndef FL_REPLICATOR_API_H
#define FL_REPLICATOR_API_H

#include "api_route.h"
#include "common/tls.h"
#include "common/err.h"

struct event_base;

typedef struct api api;

/*
 * Listens on host:port; fails naming the address when it cannot. token is
 * the bearer token mutating calls need (copied; NULL disables them); tls a
 * server context for HTTPS (NULL: plain HTTP); run is called for every
 * accepted command.
 */
api *api_new(struct event_base *base, const char *listen, const char *token, tls_ctx *tls, api_command_fn run,
	     void *arg, fl_err *err);
void api_free(api *a);
void api_update(api *a, const api_snapshot *s);

#endif
