/*
 * check_server: the TCP server HAProxy's agent checks connect to. Each
 * connection is read until one request line ("<backend> <server>\n") is
 * complete, answered from the current plan, and closed. A connection that
 * sends anything else, too much, or nothing within a second is closed with
 * a log line; no input reaches anything but that connection.
 */
#ifndef FL_PROXY_CHECK_SERVER_H
#define FL_PROXY_CHECK_SERVER_H

#include <event2/event.h>

#include "common/err.h"
#include "proxy.h"

typedef struct check_server check_server;

/* Listens on host:port; answers from proxy_plan(p). */
check_server *check_server_new(struct event_base *base, const char *listen, proxy *p, fl_err *err);
void check_server_free(check_server *s);

#endif
