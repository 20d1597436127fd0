/*
 * fence: the agent's side of the fence process (flotilla-fence, see
 * fence_main.c). The agent keeps it told which postmaster may accept writes
 * and the deadline of its lease; the fence process stops that postmaster
 * when the deadline passes or the agent dies, whatever the agent is doing.
 */
#ifndef FL_REPLICATOR_FENCE_H
#define FL_REPLICATOR_FENCE_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

#include "common/err.h"

typedef struct fence fence;

/*
 * Starts flotilla-fence, found beside argv0 (or this executable, or on
 * PATH); with watchdog (a device, or NULL) it keeps that watchdog alive
 * while armed, with a timeout of watchdog_s, and fences at once when it
 * cannot start it and required. FL_ERR_IO when it cannot: the agent does
 * not run unfenced.
 */
fence *fence_new(const char *argv0, const char *node_name, const char *watchdog, int watchdog_s, bool required,
		 fl_err *err);
/*
 * Whether path is a watchdog device this process may open for writing,
 * without opening it (an open starts the countdown): 0, or -1 with why.
 */
int fence_watchdog_check(const char *path, char *why, size_t len);
/*
 * The postmaster that may accept writes (0: none) and its deadline
 * (clock_mono seconds). Sent only when it changed; a fence process that
 * died is started again and told the state.
 */
void fence_set(fence *f, pid_t pid, double deadline);
/* Disarms, ends the fence process and waits for it. */
void fence_free(fence *f);

#endif
