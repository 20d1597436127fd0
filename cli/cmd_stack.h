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

#include <limits.h>

#include "common/err.h"

/* A stack of stacks/: its compose files and its database services. */
typedef struct stack_def {
	const char *name;
	const char *files[2];   /* compose files under the stacks directory */
	const char *dbs[3];     /* the database services */
	const char *rw_service; /* the service and port of the rw (and ro) connection */
	const char *rw_port;
	const char *ro_port; /* NULL: no ro port */
	int services;        /* containers up when it runs (without the monitoring profile) */
} stack_def;

/* One stack as a command addresses it: the stack, its project, its secrets and where its files are. */
typedef struct stack_args {
	const char *cmd;
	const stack_def *def;
	char project[64];
	char secrets[PATH_MAX];
	char stacks_dir[PATH_MAX];
	char top[PATH_MAX]; /* the source tree (images/build), empty when not found */
	double timeout;
	bool force, no_build, help;
	bool swarm;           /* deploy: a Swarm stack (docker stack deploy), not a compose project */
	bool monitoring;      /* up: the monitoring profile (Prometheus) too */
	const char *nodes[8]; /* deploy --node: Docker hosts that get the images */
	int n_nodes;
	int rest; /* argv index of what follows the options (logs' services) */
} stack_args;

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

/*
 * For the commands that drive a stack (flotilla upgrade). stack_select
 * fills a's stack (NULL: ha), project (NULL: flotilla-STACK) and secrets
 * (NULL: FLOTILLA_SECRETS, else the default), and exports FLOTILLA_SECRETS
 * for docker-compose; stack_locate finds the stack files.
 */
int stack_select(stack_args *a, const char *stack, const char *project, const char *secrets, fl_err *err);
int stack_locate(stack_args *a, fl_err *err);
/*
 * Runs argv (on PATH) and waits: its exit status, 127 when it could not run,
 * -1 on a failure here. With out, its stdout is read into *out (malloc'ed).
 */
int stack_program(char *const argv[], char **out, fl_err *err);
/* docker-compose -f FILE... -p PROJECT ARGS...: 0, or -1 with err naming the failure. */
int stack_compose(const stack_args *a, char **out, fl_err *err, const char *const *args);
/* The containers of the stack (of one service when service is not NULL), one id a line. */
int stack_containers(const stack_args *a, const char *service, char **out, fl_err *err);

#endif
