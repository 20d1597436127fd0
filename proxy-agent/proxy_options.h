/*
 * proxy_options: every setting of flotilla-proxy-agent, declared once in a
 * table (proxy_options.c) that drives parsing, validation, --help, the
 * sample file and the docs.
 */
#ifndef FL_PROXY_OPTIONS_H
#define FL_PROXY_OPTIONS_H

#include "common/config.h"
#include "plan.h"

typedef struct proxy_options {
	char *name;
	char *scope;
	str_list etcd_endpoints;
	char *etcd_prefix;
	char *etcd_ca_file, *etcd_cert_file, *etcd_key_file; /* TLS to etcd */
	char *etcd_username, *etcd_password_file;            /* etcd authentication */
	bool etcd_watch;                                     /* watch etcd, besides reading it */
	double retry_timeout;
	double poll_interval;
	double reconcile_interval;
	str_list haproxy_sockets;
	str_list haproxy_state_files;
	double haproxy_timeout;
	char *agent_check_listen;
	char *metrics_listen; /* "" for none */
	long max_lag;
	long full_weight_lag;
	long min_weight;
	double lag_grace;
	char *primary_in_ro;
	char *log_level;
} proxy_options;

extern const opt_def proxy_options_table[];
extern const unsigned proxy_options_table_len;

/* Loads and validates `path`; on failure `err` names the setting and line. */
int proxy_options_load(proxy_options *o, const char *path, fl_err *err);
void proxy_options_free(proxy_options *o);
/* Moves the settings a reload applies (the table's reload column) from next into cur; next keeps cur's old ones. */
void proxy_options_apply_reloadable(proxy_options *cur, proxy_options *next);
/* The plan settings of the options (validated by proxy_options_load). */
plan_config proxy_options_plan(const proxy_options *o);

#endif
