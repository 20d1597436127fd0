/*
 * runtime_api: HAProxy's Runtime API (the admin-level stats socket), as the
 * proxy agent uses it: one connection per batch of commands separated by
 * ';' (HAProxy's non-interactive mode answers and closes), and the parse of
 * `show servers state <backend>` into each server's admin state and weight.
 * The parse is pure; runtime_api_call is the only I/O.
 */
#ifndef FL_PROXY_RUNTIME_API_H
#define FL_PROXY_RUNTIME_API_H

#include <stdbool.h>

#include "common/err.h"
#include "plan.h"

#define RUNTIME_API_ANSWER_MAX (1 << 20)

/* One server line of `show servers state`. */
typedef struct runtime_server {
	char backend[64];
	char name[CLUSTER_NAME_MAX];
	int op_state;    /* 0 stopped, 1 starting, 2 running, 3 stopping */
	int admin_state; /* SRV_ADMF_* bits */
	int uweight;     /* current weight */
	int iweight;     /* configured weight */
} runtime_server;

/*
 * Sends `commands` ("cmd1;cmd2") to the socket at `address` (a path for a Unix
 * socket, or host:port) and reads the answer until HAProxy closes, within
 * `timeout` seconds. *answer is malloc'ed (free it). Fails when the socket
 * cannot be reached, the exchange times out, or the answer exceeds
 * RUNTIME_API_ANSWER_MAX.
 */
int runtime_api_call(const char *address, const char *commands, double timeout, char **answer, fl_err *err);

/*
 * Parses the answer to `show servers state [backend]` into out[0..max),
 * setting *n. Fails on an answer that is not that table (an unknown version
 * line, a missing column, a line of the wrong shape), naming the line.
 */
int runtime_api_parse_state(const char *answer, runtime_server *out, int max, int *n, fl_err *err);

/* One server row of `show stat` (the CSV statistics): its current sessions. */
typedef struct runtime_stat {
	char backend[64];
	char name[CLUSTER_NAME_MAX];
	long sessions; /* scur */
} runtime_stat;

/*
 * Parses the answer to `show stat` into out[0..max), setting *n; the
 * FRONTEND and BACKEND rows are skipped. Fails on an answer that is not that
 * CSV (no "# pxname,svname,...,scur" header, a short row, a non-numeric scur).
 */
int runtime_api_parse_stat(const char *answer, runtime_stat *out, int max, int *n, fl_err *err);

/* A parsed server as plan.h sees it: admin state and weight in percent of the configured one. */
plan_seen runtime_api_seen(const runtime_server *s);

/*
 * The problem in the answer to a batch of `set server`/`shutdown sessions`
 * commands, which answer nothing when they succeed: NULL when the answer is
 * empty or blank, else the first non-blank line (e.g. "No such server.").
 */
const char *runtime_api_answer_problem(const char *answer, char *buf, int size);

#endif
