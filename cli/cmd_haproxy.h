/*
 * cmd_haproxy: `flotilla haproxy-config SERVER...`, HAProxy's configuration
 * for a cluster rendered from the template `flotilla local up --haproxy`
 * uses (haproxy/haproxy.cfg.in, built in), for HAProxies that Flotilla does
 * not start itself: the HAProxy image's entrypoint runs it at every start.
 */
#ifndef FL_CLI_CMD_HAPROXY_H
#define FL_CLI_CMD_HAPROXY_H

#include "common/err.h"

/* argv[0] is "haproxy-config". Returns 0, or -1 filling err. */
int cmd_haproxy_config(int argc, char **argv, fl_err *err);

#endif
