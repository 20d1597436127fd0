/*
 * source: which member a base backup is read from; see source.h.
 */
#include "source.h"

#include <string.h>

int source_pick(const cluster_view *v, uint64_t max_lag, const member **out, const char **why)
{
	const member *best = NULL;
	uint64_t best_lag = 0;
	for (int i = 0; i < v->n_members; i++) {
		const member *m = &v->members[i];
		if (!m->running || !m->streaming || strcmp(m->role, "replica") != 0 || m->conn_address[0] == '\0')
			continue;
		if (v->has_leader && strcmp(m->name, v->leader) == 0)
			continue;
		uint64_t lag = cluster_lag(v, m->received_lsn, m->replayed_lsn);
		if (lag > max_lag)
			continue;
		if (best == NULL || lag < best_lag || (lag == best_lag && strcmp(m->name, best->name) < 0)) {
			best = m;
			best_lag = lag;
		}
	}
	if (best != NULL) {
		*out = best;
		return 0;
	}
	const member *leader = v->has_leader ? cluster_member(v, v->leader) : NULL;
	if (leader != NULL && leader->running && strcmp(leader->role, "primary") == 0 && leader->conn_address[0]) {
		*out = leader;
		return 0;
	}
	*why = v->has_leader ? "no replica streams within reach of the leader, and the leader does not run as a primary"
			     : "the cluster has no leader and no replica streams";
	return -1;
}
