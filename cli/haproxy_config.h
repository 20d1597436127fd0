/*
 * haproxy_config: HAProxy's configuration for a cluster, rendered from the
 * template haproxy/haproxy.cfg.in (built into the program). Placeholders
 * are @NAME@; the lines @SERVERS_RW@ and @SERVERS_RO@ become one `server`
 * line per node, each with its health-check address (the node's REST API)
 * and the agent-send string the proxy agent answers ("rw n1\n").
 */
#ifndef FL_CLI_HAPROXY_CONFIG_H
#define FL_CLI_HAPROXY_CONFIG_H

#include <stdbool.h>

#include "common/err.h"

extern const char haproxy_template[];

typedef struct haproxy_server {
	const char *name;
	const char *pg_address; /* host:port of PostgreSQL */
	const char *api_host;   /* the REST API HAProxy's health checks ask; NULL: pg_address's host */
	int api_port;
} haproxy_server;

/* A server given on a command line: NAME[=HOST:PORT[,API_HOST:API_PORT | ,API_PORT]]. */
typedef struct haproxy_server_spec {
	char name[64];
	char pg_address[288];
	char api_host[256]; /* empty: the PostgreSQL address's host */
	int api_port;
} haproxy_server_spec;

#define HAPROXY_PG_PORT 5432
#define HAPROXY_API_PORT 8008

typedef struct haproxy_params {
	const char *rw_bind; /* e.g. "127.0.0.1:5000" */
	const char *ro_bind;
	const char *metrics_bind;
	const char *stats_socket; /* path of the admin-level Runtime API socket */
	const char *state_file;   /* the server-state-file the proxy agent keeps current */
	const char *agent_addr;   /* where flotilla-proxy-agent answers agent checks */
	int agent_port;
	const char *max_lag; /* the ro health check's lag limit, e.g. "16MB" */
	int maxconn;
	const haproxy_server *servers;
	int n_servers;
	const char *api_ca_file; /* the REST APIs speak HTTPS, their certificates signed by this CA; NULL: HTTP */
	/* Servers named by DNS names resolved at run time through /etc/resolv.conf's servers (containers,
	 * whose addresses change when they are started again); false: resolved once, at start. */
	bool dns;
} haproxy_params;

/*
 * Parses a server spec: NAME alone is NAME:5432 with its API on NAME:8008;
 * NAME=HOST:PORT names PostgreSQL's address, with the API on HOST:8008;
 * ",API_PORT" or ",API_HOST:API_PORT" after it names the API's. NAME is a
 * node name (cluster_name_valid). Returns 0, or -1 with err naming the problem.
 */
int haproxy_server_parse(const char *spec, haproxy_server_spec *out, fl_err *err);

/* The rendered configuration (malloc'ed), or NULL with err naming an unknown placeholder. */
char *haproxy_config_render(const char *tmpl, const haproxy_params *p, fl_err *err);

#endif
