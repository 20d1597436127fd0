/*
 * cmd_control: the commands that change a cluster through the agents' REST
 * API, as patronictl's: `flotilla switchover [--leader A] [--candidate B]
 * [--scheduled T]`, `failover --candidate B`, `pause`, `resume`,
 * `restart MEMBER` and `reinit MEMBER`. Each resolves the cluster (target),
 * reads its members with their api_url (from etcd or GET /cluster), asks for
 * confirmation unless --force, and POSTs to the right node with the bearer
 * token read from --token-file, FLOTILLA_API_TOKEN_FILE, cluster.json's
 * api_token_file or the agent's file's secrets.api_token_file (never from
 * argv or an environment value). A switchover or
 * failover the agent accepts is followed until another member leads.
 * Exit codes: 4 token missing or refused (401/403), 9 no answer or the new
 * leader did not show in time, 10 unknown member, 11 refused by the cluster's
 * state (409/412/503), 2 usage (and 400/422 answers).
 */
#ifndef FL_CLI_CMD_CONTROL_H
#define FL_CLI_CMD_CONTROL_H

#include "common/err.h"

/* argv[0] is the command's name. Return 0, or -1 filling err. */
int cmd_switchover(int argc, char **argv, fl_err *err);
int cmd_failover(int argc, char **argv, fl_err *err);
int cmd_pause(int argc, char **argv, fl_err *err);
int cmd_resume(int argc, char **argv, fl_err *err);
int cmd_restart(int argc, char **argv, fl_err *err);
int cmd_reinit(int argc, char **argv, fl_err *err);
int cmd_show_config(int argc, char **argv, fl_err *err);
int cmd_edit_config(int argc, char **argv, fl_err *err);

#endif
