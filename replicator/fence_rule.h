/*
 * fence_rule: what the fence process (flotilla-fence) knows and decides,
 * without effects. The agent sends it fixed-size messages over a pipe:
 *
 *   ARM    pid, deadline   the postmaster `pid` may accept writes; stop it
 *                          at `deadline` (CLOCK_BOOTTIME, nanoseconds)
 *                          unless a later ARM moves the deadline on
 *   DISARM                 our PostgreSQL cannot accept writes (stopped,
 *                          or a standby): nothing to stop
 *
 * The fence process stops PostgreSQL when an armed deadline passes, or at
 * once when the pipe ends (the agent died) while armed.
 */
#ifndef FL_REPLICATOR_FENCE_RULE_H
#define FL_REPLICATOR_FENCE_RULE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define FENCE_MSG_SIZE 24

typedef enum fence_kind { FENCE_ARM = 1, FENCE_DISARM = 2 } fence_kind;

typedef struct fence_msg {
	fence_kind kind;
	int32_t pid;         /* ARM: the postmaster */
	int64_t deadline_ns; /* ARM: CLOCK_BOOTTIME */
} fence_msg;

typedef struct fence_state {
	bool armed;
	int32_t pid;
	int64_t deadline_ns;
} fence_state;

typedef enum fence_step {
	FENCE_WAIT, /* nothing to do until the next message or the deadline */
	FENCE_FIRE, /* stop the postmaster now */
	FENCE_EXIT, /* the agent is gone and nothing is armed */
} fence_step;

/*
 * The hardware watchdog the fence process keeps alive while armed. Its
 * timeout: ttl - 1 s, at least 1 s (whole seconds, as the device takes).
 * It is kept alive only up to the moment from which it would reset the
 * machine no later than the lease's earliest expiry (the fence deadline +
 * 0.5 s, less 0.25 s of slack): if the fence process cannot run, the machine
 * is reset before another node can be promoted; if it runs, it fences at its
 * deadline and closes the watchdog first.
 */
int fence_watchdog_timeout(long ttl);
int64_t fence_watchdog_pet_until(int64_t deadline_ns, int timeout_s);

/* The message as FENCE_MSG_SIZE bytes (native byte order: both ends are on one host). */
void fence_msg_encode(const fence_msg *m, unsigned char out[FENCE_MSG_SIZE]);
/* 0, or -1 with *why naming what is wrong (bad magic, unknown kind, a pid or deadline out of range). */
int fence_msg_decode(const unsigned char in[FENCE_MSG_SIZE], fence_msg *m, const char **why);

/* The state after m. */
void fence_apply(fence_state *s, const fence_msg *m);
/* What to do at now_ns; agent_gone once the pipe has ended. */
fence_step fence_due(const fence_state *s, int64_t now_ns, bool agent_gone);

#endif
