/*
 * option_rows: the settings every Flotilla daemon shares (the cluster's
 * name, etcd, the request timeout, the log level), declared once as option
 * table rows for the daemon's own struct, which names its fields scope,
 * etcd_endpoints, etcd_prefix, etcd_ca_file, etcd_cert_file, etcd_key_file,
 * etcd_username, etcd_password_file, etcd_watch, retry_timeout and log_level. Every
 * daemon applies a reload of etcd.endpoints by reconnecting.
 */
#ifndef FL_CLUSTER_OPTION_ROWS_H
#define FL_CLUSTER_OPTION_ROWS_H

#include <stddef.h>

#include "common/config.h"
#include "common/etcd.h"

/* The checks of the shared settings: each fails (FL_ERR_CONFIG) naming the setting. */
int cluster_check_etcd_endpoints(const str_list *endpoints, fl_err *err);
int cluster_check_log_level(const char *level, fl_err *err);

/* clang-format off */
#define CLUSTER_ROW_SCOPE(type) \
	{"scope", OPT_STRING, NULL, 1, 0, false, "FLOTILLA_SCOPE", offsetof(type, scope), "cluster name; every member and proxy agent of one cluster has the same"}
#define CLUSTER_ROWS_ETCD(type) \
	{"etcd.endpoints", OPT_LIST, "http://127.0.0.1:2379", 1, 0, true, "FLOTILLA_ETCD_ENDPOINTS", offsetof(type, etcd_endpoints), "etcd client URLs, tried in order"}, \
	{"etcd.prefix", OPT_STRING, "/flotilla", 1, 0, false, "FLOTILLA_ETCD_PREFIX", offsetof(type, etcd_prefix), "key prefix; the cluster's keys live under <prefix>/<scope>/"}, \
	{"etcd.ca_file", OPT_STRING, "", 1, 0, false, "FLOTILLA_ETCD_CA_FILE", offsetof(type, etcd_ca_file), "CA certificates that sign etcd's server certificate (https endpoints; empty: the system's)"}, \
	{"etcd.cert_file", OPT_STRING, "", 1, 0, false, "FLOTILLA_ETCD_CERT_FILE", offsetof(type, etcd_cert_file), "client certificate presented to etcd (its --client-cert-auth)"}, \
	{"secrets.etcd_key_file", OPT_STRING, "", 1, 0, false, "FLOTILLA_ETCD_KEY_FILE", offsetof(type, etcd_key_file), "file holding the key of etcd.cert_file"}, \
	{"etcd.username", OPT_STRING, "", 1, 0, false, "FLOTILLA_ETCD_USERNAME", offsetof(type, etcd_username), "etcd user (etcd's authentication; empty: none)"}, \
	{"secrets.etcd_password_file", OPT_STRING, "", 1, 0, false, "FLOTILLA_ETCD_PASSWORD_FILE", offsetof(type, etcd_password_file), "file holding the etcd user's password"}, \
	{"etcd.watch", OPT_BOOL, "true", 1, 0, false, "FLOTILLA_ETCD_WATCH", offsetof(type, etcd_watch), "learn of changes through an etcd watch, at once (false: at the next read only)"}
#define CLUSTER_ROW_RETRY_TIMEOUT(type) \
	{"retry_timeout", OPT_DOUBLE, "1.0", 0.1, 60, true, "FLOTILLA_RETRY_TIMEOUT", offsetof(type, retry_timeout), "seconds one etcd request may take"}
#define CLUSTER_ROW_LOG_LEVEL(type) \
	{"log_level", OPT_STRING, "info", 1, 0, true, "FLOTILLA_LOG_LEVEL", offsetof(type, log_level), "error, warn, info or debug"}
/* clang-format on */

/* The etcd_security of a daemon's options (o: a pointer to its struct). */
#define CLUSTER_ETCD_SECURITY(o)                                                                                       \
	((etcd_security){.ca_file = (o)->etcd_ca_file,                                                                 \
			 .cert_file = (o)->etcd_cert_file,                                                             \
			 .key_file = (o)->etcd_key_file,                                                               \
			 .username = (o)->etcd_username,                                                               \
			 .password_file = (o)->etcd_password_file})

#endif
