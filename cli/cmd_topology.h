/*
 * cmd_topology: `flotilla topology`, the members as a tree, as `patronictl
 * topology` draws it: the leader first, the members that replicate from it
 * indented under it ("+ name"). Every replica streams from the leader, so the
 * tree has one level; without a leader every member stands alone. With
 * --json, an array of top-level members, each with its "replicas".
 */
#ifndef FL_CLI_CMD_TOPOLOGY_H
#define FL_CLI_CMD_TOPOLOGY_H

#include "common/err.h"

/* argv[0] is "topology". Returns 0, or -1 filling err. */
int cmd_topology(int argc, char **argv, fl_err *err);

#endif
