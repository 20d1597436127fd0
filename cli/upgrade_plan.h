/*
 * upgrade_plan: the decisions of a rolling upgrade, pure. From the cluster
 * as `flotilla list --json` shows it and the image each member's container
 * runs, it says whether an upgrade may start (or go on) and what comes
 * next: a replica to move to the new image, the switchover that hands the
 * leader key to an upgraded replica, or nothing left to do. One node at a
 * time, replicas first (a node left drained by a failed run before the
 * others), the leader last, after the switchover. A node already on the new
 * image is done, so a run that stopped is resumed by running it again.
 */
#ifndef FL_CLI_UPGRADE_PLAN_H
#define FL_CLI_UPGRADE_PLAN_H

#include <stdbool.h>
#include <stddef.h>

#define UPGRADE_MAX_MEMBERS 8
#define UPGRADE_NAME_MAX 64
#define UPGRADE_IMAGE_MAX 96

typedef struct upgrade_member {
	char name[UPGRADE_NAME_MAX];
	bool leader;
	bool streaming; /* a replica whose state is streaming, or the leader running */
	long lag_mb;    /* -1 unknown (the leader's is 0) */
	bool drained;
	char image[UPGRADE_IMAGE_MAX]; /* the image id its container runs, "" when it has none */
	char state[24];                /* as its record says: running, streaming, cloning, ... */
} upgrade_member;

typedef struct upgrade_view {
	upgrade_member m[UPGRADE_MAX_MEMBERS];
	int n;
	bool paused;
	bool backup_running;
} upgrade_view;

typedef enum upgrade_kind {
	UPGRADE_DONE,       /* every member runs the new image */
	UPGRADE_NODE,       /* move node (a replica) to the new image */
	UPGRADE_SWITCHOVER, /* hand the leader key from node to candidate, an upgraded replica ("" when none streams) */
} upgrade_kind;

typedef struct upgrade_step {
	upgrade_kind kind;
	char node[UPGRADE_NAME_MAX];
	char candidate[UPGRADE_NAME_MAX];
} upgrade_step;

/*
 * Why the upgrade may not start or go on (why filled, -1), or 0. Refused:
 * a paused cluster, one without a leader or with a member the plan does not
 * know, a running backup, a member that is neither streaming nor the leader
 * or that lags more than max_lag_mb, unless it is the one node a failed run
 * left drained (the next step takes it first).
 */
int upgrade_refusal(const upgrade_view *v, const char *image, long max_lag_mb, char *why, size_t len);

/*
 * The next step towards every member on image: the replica a failed run
 * left drained, else the first replica (in the view's order) not on image,
 * else the switchover, else done.
 */
upgrade_step upgrade_next(const upgrade_view *v, const char *image);

#endif
