/*
 * fence: the agent's side of the fence process (flotilla-fence, see
 * fence_main.c). The agent keeps it told which postmaster may accept writes
 * and the deadline of its lease; the fence process stops that postmaster
 * when the deadline passes or the agent dies, whatever the agent is doing.
 */
#ifndef FL_REPLICATOR_FENCE_H
#define FL_REPLICATOR_FENCE_H

#include <sys/types.h>

#include "common/err.h"

typedef struct fence fence;

/*
 * Starts flotilla-fence, found beside argv0 (or this executable, or on
 * PATH). FL_ERR_IO when it cannot: the agent does not run unfenced.
 */
fence *fence_new(const char *argv0, const char *node_name, fl_err *err);
/*
 * The postmaster that may accept writes (0: none) and its deadline
 * (clock_mono seconds). Sent only when it changed; a fence process that
 * died is started again and told the state.
 */
void fence_set(fence *f, pid_t pid, double deadline);
/* Disarms, ends the fence process and waits for it. */
void fence_free(fence *f);

#endif
