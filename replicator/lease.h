/*
 * lease: the agent's lease in etcd, which carries its member key and, while
 * it leads, the leader key. A leader remembers when it *sent* its last
 * successful renewal: etcd counts the lease from when it received it, so the
 * lease cannot expire before sent + ttl, and the leader fences itself at
 * sent + ttl - margin. The arithmetic is pure; lease_refresh is the one
 * effect.
 */
#ifndef FL_REPLICATOR_LEASE_H
#define FL_REPLICATOR_LEASE_H

#include <stdbool.h>
#include <stdint.h>

#include "decide.h"
#include "store.h"

typedef struct lease_counters {
	uint64_t renewals, failures;
	unsigned streak;      /* renewals failed in a row */
	double failing_since; /* when the first of them was sent */
	double logged_at;     /* when the last of them was logged */
} lease_counters;

/* Seconds between renewal attempts while they fail and the lease may still be alive. */
#define LEASE_RETRY_STEP 0.1

/* Seconds a leader has left before it must fence (a large number for a non-leader). */
double lease_fence_left(const decide_config *cfg, const agent_state *agent, double now);
/*
 * When the fence process stops a writable postgres that nobody renewed the
 * lease for: sent + ttl - margin / 2, after the agent's own deadline (so a
 * running agent fences first, in order) and still before etcd can expire
 * the lease.
 */
double lease_fence_process_deadline(const decide_config *cfg, const agent_state *agent);
/* The timeout of the next etcd request: retry_timeout, cut so that a leader's request ends before its deadline (50 ms at least). */
double lease_request_timeout(const decide_config *cfg, const agent_state *agent, double retry_timeout, double now);

/*
 * Seconds until the next renewal attempt after a failed one: LEASE_RETRY_STEP
 * while the lease may still be alive (sent + ttl not passed), else -1 (the
 * agent's normal loop). An etcd election can hold an attempt for its whole
 * timeout; a leader waiting loop_wait after that could reach its fencing
 * deadline with no attempt left, though etcd answers again well before it.
 */
double lease_retry_delay(const decide_config *cfg, const agent_state *agent, const lease_counters *c, double now);

/* Whether the lease was granted with another ttl than the configured one (a reload changed it). */
bool lease_needs_regrant(const decide_config *cfg, const agent_state *agent);
/*
 * Renews the lease, or grants a new one when there is none or etcd says it
 * expired; agent->lease, lease_ttl and lease_renewed_at follow. After a
 * renewal, a lease whose ttl a reload changed is replaced by one granted
 * with the new ttl, onto which a leader moves its key. now_fn gives the
 * monotonic time a request is sent. -1 when etcd did not answer; a run of
 * failures is logged at its first and then once a second, and its end once.
 */
int lease_refresh(store *st, const decide_config *cfg, agent_state *agent, double retry_timeout, double (*now_fn)(void),
		  lease_counters *c);

#endif
