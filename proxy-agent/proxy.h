/*
 * proxy: the proxy agent's one job, tick by tick. proxy_poll reads the
 * cluster from etcd, makes the plan and, when it changed, pushes the
 * difference to every HAProxy at once; proxy_reconcile reads every HAProxy's
 * server states and repairs what differs from the plan (an HAProxy that
 * restarted, a lost command, an operator's stray change); proxy_release
 * hands every server back to HAProxy's own health checks when the agent
 * stops. The operator's drains are etcd keys <prefix>/<scope>/drain/<node>,
 * so they survive a restart and every proxy agent of the cluster honours them.
 */
#ifndef FL_PROXY_PROXY_H
#define FL_PROXY_PROXY_H

#include <stdbool.h>

#include "common/err.h"
#include "plan.h"
#include "proxy_options.h"

typedef struct proxy proxy;

proxy *proxy_new(const proxy_options *o, fl_err *err);
void proxy_free(proxy *p);

/* One read of the cluster and, when the plan changed, a push; -1 when etcd could not be read. */
int proxy_poll(proxy *p);
/* One comparison of every HAProxy with the plan, and the commands that fix it. */
void proxy_reconcile(proxy *p);
/* Every managed server back to ready at full weight, so HAProxy's own checks decide alone. */
void proxy_release(proxy *p);

/* Takes the reloadable settings of the options again (after a SIGHUP); the next poll plans with them. */
void proxy_reconfigure(proxy *p);

/* The current plan, NULL before the cluster was first read. */
const plan *proxy_plan(const proxy *p);
/*
 * Calls on_plan(arg, plan) with each new plan, before it is pushed to any HAProxy (the agent checks answer from
 * it at once), and with NULL when the plan is forgotten (a reload).
 */
void proxy_on_plan(proxy *p, void (*on_plan)(void *arg, const plan *pl), void *arg);

/* The agent's own metrics (Prometheus text), a new string to free; NULL when out of memory. */
char *proxy_metrics_text(const proxy *p);
/*
 * Calls on_change (on base's loop) when any key of the cluster changes (a
 * leader key taken or expired, a member's record), so that a new leader
 * reaches HAProxy without waiting for the next poll; the watch follows the
 * client through proxy_reconfigure.
 */
struct event_base;
int proxy_watch(proxy *p, struct event_base *base, void (*on_change)(void *arg), void *arg, fl_err *err);

#endif
