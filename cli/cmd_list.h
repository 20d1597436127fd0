/*
 * cmd_list: `flotilla list [MEMBER...]`, the members of a cluster as
 * `patronictl list` shows them: a title with the scope ("(paused)" when
 * automatic failover is paused), then Member | Host | Role | State | TL |
 * Lag in MB, or with --json an array of the same fields. Named members
 * narrow the list; an unknown one fails with FL_ERR_NOT_FOUND.
 */
#ifndef FL_CLI_CMD_LIST_H
#define FL_CLI_CMD_LIST_H

#include "common/err.h"

/* argv[0] is "list". Returns 0, or -1 filling err. */
int cmd_list(int argc, char **argv, fl_err *err);

#endif
