/*
 * cmd_stack: `flotilla stack up|down|status|logs|reset [--stack ha|single|dev]`,
 * the compose stacks (stacks/) with the project's defaults, through
 * Debian's docker-compose. `up` builds the images that are missing
 * (images/build, with progress), makes the secrets that are missing (random,
 * mode 600, owned by the images' users, never printed; backup_token only for
 * the stacks with the backup sidecar), starts the stack,
 * waits until every service is healthy, then prints the rw and ro
 * connection strings and the members. `reset` asks before it removes the
 * volumes. The stack files are found in FLOTILLA_STACKS_DIR, else beside
 * the program (its source tree's stacks/), else /usr/share/flotilla/stacks.
 */
#ifndef FL_CLI_CMD_STACK_H
#define FL_CLI_CMD_STACK_H

#include <stdbool.h>
#include <stddef.h>

#include "common/err.h"

/* argv[0] is "stack", argv[1] the subcommand. Returns 0, or -1 filling err. */
int cmd_stack(int argc, char **argv, fl_err *err);

/* One service's state from `docker inspect`'s "NAME STATUS [HEALTH]" line. */
typedef enum stack_health {
	STACK_HEALTHY,  /* healthy, or running without a healthcheck */
	STACK_STARTING, /* created, or running and not yet healthy */
	STACK_FAILED,   /* exited, dead or unhealthy */
} stack_health;

/* Pure: the state that line says, its service name (compose's label) in name; -1 for a line it cannot read. */
int stack_health_parse(const char *line, char *name, size_t name_len, stack_health *out);

/* Pure: whether a compose project name is acceptable (1 to 63 of a-z, 0-9, '_' and '-', a letter or digit first). */
bool stack_project_valid(const char *name);

/*
 * Pure: whether stack (ha, single, dev) runs image (db, etcd, haproxy, backup, prometheus): single has
 * neither HAProxy nor the backup sidecar; Prometheus comes with the monitoring profile, and never to Swarm
 * (swarm: deployed with `stack deploy`).
 */
bool stack_image_needed(const char *stack, const char *image, bool monitoring, bool swarm);

/* Pure: whether stack reads the secret file (superuser_password, ..., backup_token where the sidecar runs). */
bool stack_secret_needed(const char *stack, const char *secret);

/* Pure: the containers stack runs when it is up, one per service; -1 for a stack that does not exist. */
int stack_services_expected(const char *stack, bool monitoring, bool swarm);

#endif
