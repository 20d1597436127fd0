/*
 * option_rows: the settings every Flotilla daemon shares (the cluster's
 * name, etcd, the request timeout, the log level), declared once as option
 * table rows for the daemon's own struct, which names its fields scope,
 * etcd_endpoints, etcd_prefix, retry_timeout and log_level. Every daemon
 * applies a reload of etcd.endpoints by reconnecting.
 */
#ifndef FL_CLUSTER_OPTION_ROWS_H
#define FL_CLUSTER_OPTION_ROWS_H

#include <stddef.h>

#include "common/config.h"

/* clang-format off */
#define CLUSTER_ROW_SCOPE(type) \
	{"scope", OPT_STRING, NULL, 1, 0, false, "FLOTILLA_SCOPE", offsetof(type, scope), "cluster name; every member and proxy agent of one cluster has the same"}
#define CLUSTER_ROWS_ETCD(type) \
	{"etcd.endpoints", OPT_LIST, "http://127.0.0.1:2379", 1, 0, true, "FLOTILLA_ETCD_ENDPOINTS", offsetof(type, etcd_endpoints), "etcd client URLs, tried in order"}, \
	{"etcd.prefix", OPT_STRING, "/flotilla", 1, 0, false, "FLOTILLA_ETCD_PREFIX", offsetof(type, etcd_prefix), "key prefix; the cluster's keys live under <prefix>/<scope>/"}
#define CLUSTER_ROW_RETRY_TIMEOUT(type) \
	{"retry_timeout", OPT_DOUBLE, "1.0", 0.1, 60, true, "FLOTILLA_RETRY_TIMEOUT", offsetof(type, retry_timeout), "seconds one etcd request may take"}
#define CLUSTER_ROW_LOG_LEVEL(type) \
	{"log_level", OPT_STRING, "info", 1, 0, true, "FLOTILLA_LOG_LEVEL", offsetof(type, log_level), "error, warn, info or debug"}
/* clang-format on */

#endif
