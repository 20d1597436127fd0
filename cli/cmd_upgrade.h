/*
 * cmd_upgrade: `flotilla upgrade --stack ha --image flotilla/db:TAG`, a
 * rolling upgrade of a compose stack's database nodes: one node at a time,
 * the replicas first (each drained in HAProxy until its sessions end,
 * recreated on the new image with the same volume, waited for until it
 * streams and has caught up, made ready again), then a planned switchover
 * to an upgraded replica, and the old leader last the same way. It refuses
 * to start on a cluster that is paused, lagging, without a leader or taking
 * a backup; it stops at the first step that fails, leaving the node drained
 * and the cluster serving; run again, it resumes (the decisions are
 * upgrade_plan's). Progress goes to stderr, the summary to stdout (--json).
 */
#ifndef FL_CLI_CMD_UPGRADE_H
#define FL_CLI_CMD_UPGRADE_H

#include "common/err.h"

int cmd_upgrade(int argc, char **argv, fl_err *err);

#endif
