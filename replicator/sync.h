/*
 * sync: the leader's management of synchronous replication, as a pure
 * planner. The leader keeps synchronous_standby_names = ANY 1 (S) over its
 * healthy replicas and publishes a set P in etcd for its term; a replica may
 * be promoted only if it is in P and every member of P has reported its
 * position, the most advanced winning. That is safe as long as every
 * acknowledged commit is held by some member of P, which the planner keeps
 * true by ordering its steps:
 *  - members are added to P before they are added to S (while P is valid);
 *  - after S changes at WAL position L, P becomes S only once a member of S
 *    has flushed L (so every commit acknowledged before the change is held);
 *  - S never becomes empty once set: with no healthy replica, commits wait.
 * An empty P means no replica may be promoted.
 */
#ifndef FL_SYNC_H
#define FL_SYNC_H

#include <stdbool.h>
#include <stdint.h>

#include "cluster/cluster.h"

typedef struct name_set {
	int n;
	char v[CLUSTER_MAX_MEMBERS][CLUSTER_NAME_MAX];
} name_set;

typedef struct sync_state {
	name_set ssn;         /* members of synchronous_standby_names now */
	name_set published;   /* P as published for this leader's term */
	uint64_t pending_lsn; /* WAL position at the last change of ssn */
} sync_state;

typedef struct sync_replica {
	char name[CLUSTER_NAME_MAX];
	bool streaming;
	bool eligible; /* not tagged nofailover */
	uint64_t flush_lsn;
} sync_replica;

typedef enum sync_step { SYNC_NOTHING, SYNC_PUBLISH, SYNC_SET_SSN } sync_step;

/* Decides the next step; *out is the set to publish or to write into synchronous_standby_names. */
sync_step sync_plan(const sync_state *st, const sync_replica *reps, int n, name_set *out);

void name_set_add(name_set *s, const char *name);
bool name_set_has(const name_set *s, const char *name);
bool name_set_equal(const name_set *a, const name_set *b);
/* synchronous_standby_names value: ANY 1 ("a","b"), or "" for an empty set. */
void name_set_ssn(const name_set *s, char *buf, int len);

#endif
