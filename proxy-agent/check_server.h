/*
 * check_server: the TCP server HAProxy's agent checks connect to. Each
 * connection is read until one request line ("<backend> <server>\n") is
 * complete, answered from the current plan, and closed. A connection that
 * sends anything else, too much, or nothing within a second is closed with
 * a log line; no input reaches anything but that connection. It runs on its
 * own thread, so that nothing the main loop waits for delays an answer.
 */
#ifndef FL_PROXY_CHECK_SERVER_H
#define FL_PROXY_CHECK_SERVER_H

#include "common/err.h"
#include "plan.h"

typedef struct check_server check_server;

/*
 * Listens on host:port and serves on a thread of its own; answers nothing until a plan is published. With
 * metrics_listen (not NULL or ""), GET /metrics there too: the text last published, and the agent-check counts.
 */
check_server *check_server_new(const char *listen, const char *metrics_listen, fl_err *err);
/* The main loop's metrics text from now on (taken over: freed by the server); NULL changes nothing. */
void check_server_publish_metrics(check_server *s, char *text);
/* The plan to answer from from now on (copied); NULL: none known, no answer. Any thread. */
void check_server_publish(check_server *s, const plan *pl);
/* Stops the thread, closes every connection. */
void check_server_free(check_server *s);

#endif
