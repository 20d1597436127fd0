/*
 * command: the mutating REST calls the router admitted (api.c, with the
 * admission rules of decide.c), carried out: pause, resume, switchover and
 * failover are records in etcd that every agent's next tick reads; restart
 * and reinit are requests to this node, carried out at the start of its next
 * tick, where reinit is admitted once more (the node may lead by then).
 */
#ifndef FL_REPLICATOR_COMMAND_H
#define FL_REPLICATOR_COMMAND_H

#include <stdbool.h>
#include <stddef.h>

#include "api.h"
#include "store.h"

typedef struct command_requests {
	bool restart; /* POST /restart */
	bool reinit;  /* POST /reinit */
} command_requests;

/* Carries out an admitted call; returns the HTTP status (200, 202, 409, 503) with msg. */
int command_run(store *st, double retry_timeout, command_requests *rq, const char *name, const api_command_req *req,
		double wall_now, char *msg, size_t len);
typedef enum command_next { COMMAND_NONE, COMMAND_RESTART, COMMAND_REINIT } command_next;
/*
 * The request to this node to carry out now (taking it): a reinit is
 * admitted once more, as the node may lead by now. The node then stops
 * PostgreSQL, and starts it (or clones it) again, even while paused.
 */
command_next command_take(command_requests *rq, bool leader, const char *name);

#endif
