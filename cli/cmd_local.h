/*
 * cmd_local: `flotilla local up|status|down`, a cluster of real processes on
 * loopback (one etcd, N PostgreSQL nodes each run by its flotilla-replicator)
 * for trying Flotilla without Docker and for the integration tests. Everything
 * lives under one directory; DIR/cluster.json, written by `up`, is the public
 * description of the running cluster (ports, pids, data dirs, dsns) that
 * `status`, `down` and test fixtures read.
 */
#ifndef FL_CLI_CMD_LOCAL_H
#define FL_CLI_CMD_LOCAL_H

#include "common/err.h"

/* argv[0] is "local", argv[1] the subcommand. Returns 0, or -1 filling err. */
int cmd_local(int argc, char **argv, fl_err *err);

#endif
