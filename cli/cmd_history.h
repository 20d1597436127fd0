/*
 * cmd_history: `flotilla history`, the cluster's timeline switches (each
 * promotion of a new leader, from the `history` key or GET /history) as
 * TL | LSN | Leader | Time, or with --json an array of the same fields.
 * A cluster that never failed over has none.
 */
#ifndef FL_CLI_CMD_HISTORY_H
#define FL_CLI_CMD_HISTORY_H

#include "common/err.h"

/* argv[0] is "history". Returns 0, or -1 filling err. */
int cmd_history(int argc, char **argv, fl_err *err);

#endif
