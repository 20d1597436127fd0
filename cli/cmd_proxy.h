/*
 * cmd_proxy: `flotilla drain NODE [--wait]` and `flotilla ready NODE`. A
 * drain takes a node out of HAProxy's ro pool: it writes the etcd key
 * <prefix>/<scope>/drain/<node>, which every flotilla-proxy-agent of the
 * cluster turns into `drain` (no new sessions, the open ones run on), and
 * which survives any agent's restart. --wait then follows the agents'
 * status records (<prefix>/<scope>/proxies/<agent>) until no HAProxy holds
 * a session to the node in ro. `ready` deletes the key.
 */
#ifndef FL_CLI_CMD_PROXY_H
#define FL_CLI_CMD_PROXY_H

#include "common/err.h"

/* argv[0] is "drain" or "ready". Return 0, or -1 filling err. */
int cmd_drain(int argc, char **argv, fl_err *err);
int cmd_ready(int argc, char **argv, fl_err *err);

#endif
