/*
 * node: the HA loop of one replication agent. Each tick gathers the local
 * PostgreSQL state and the cluster view from etcd, renews the lease, asks
 * decide() for one action, carries it out and publishes this member's
 * record. main.c owns the event loop and calls node_tick on a timer. While
 * a long effect runs (initdb, a clone, a rewind) a tick only renews the lease
 * and publishes the record, with the effect's state and progress.
 */
#ifndef FL_NODE_H
#define FL_NODE_H

#include "api.h"
#include "common/err.h"
#include "cluster/options.h"

typedef struct node node;
struct event_base;

/* Asks main for a tick as soon as possible (a job ended). */
typedef void (*node_wake_fn)(void *arg);

/* The node's long effects (initdb, clone, rewind) run on base; wake is called when one ends. */
/* argv0 finds flotilla-fence, which node_new starts (an error when it cannot: no node runs unfenced). */
node *node_new(options *o, struct event_base *base, const char *argv0, node_wake_fn wake, void *wake_arg, fl_err *err);
void node_free(node *n);
/* Checks secrets and etcd, stops an orphaned postmaster; fails without touching the data directory. */
int node_start(node *n, fl_err *err);
/* Runs one iteration; returns the seconds until the next one. */
double node_tick(node *n);
/* Called on SIGCHLD: true when the postmaster exited unexpectedly. */
bool node_child_exited(node *n);
/* Applies a reloaded configuration (reloadable settings only); false when it refused it (and logged why). */
bool node_reload(node *n, options *next);
/* What the REST API serves until the next tick. */
void node_api_snapshot(const node *n, api_snapshot *out);
/* Carries out a mutating REST call (an api_command_fn); returns the HTTP status. */
int node_command(void *arg, const api_command_req *req, char *msg, size_t len);
/* Clean shutdown: stops PostgreSQL, releases the leader key and the lease. */
void node_shutdown(node *n);

#endif
