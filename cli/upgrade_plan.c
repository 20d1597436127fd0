/*
 * upgrade_plan: the rolling upgrade's decisions; see upgrade_plan.h.
 */
#include "upgrade_plan.h"

#include <stdio.h>
#include <string.h>

static bool upgraded(const upgrade_member *m, const char *image) { return strcmp(m->image, image) == 0; }

static const upgrade_member *leader_of(const upgrade_view *v)
{
	for (int i = 0; i < v->n; i++)
		if (v->m[i].leader)
			return &v->m[i];
	return NULL;
}

/* The one member a failed run left drained and off the old image, or NULL. */
static const upgrade_member *left_drained(const upgrade_view *v)
{
	const upgrade_member *found = NULL;
	for (int i = 0; i < v->n; i++)
		if (v->m[i].drained && !v->m[i].leader) {
			if (found != NULL)
				return NULL;
			found = &v->m[i];
		}
	return found;
}

int upgrade_refusal(const upgrade_view *v, const char *image, long max_lag_mb, char *why, size_t len)
{
	(void)image;
	if (v->paused) {
		snprintf(why, len, "the cluster is paused (flotilla resume ends it)");
		return -1;
	}
	if (v->backup_running) {
		snprintf(why, len, "a base backup is running; wait until it ends (flotilla backup list)");
		return -1;
	}
	if (leader_of(v) == NULL) {
		snprintf(why, len, "the cluster has no leader");
		return -1;
	}
	const upgrade_member *skip = left_drained(v);
	for (int i = 0; i < v->n; i++) {
		const upgrade_member *m = &v->m[i];
		if (m == skip)
			continue;
		if (m->image[0] == '\0') {
			snprintf(why, len, "member %s has no container of the stack", m->name);
			return -1;
		}
		if (!m->streaming) {
			snprintf(why, len, "member %s is not %s", m->name, m->leader ? "running" : "streaming");
			return -1;
		}
		if (!m->leader && (m->lag_mb < 0 || m->lag_mb > max_lag_mb)) {
			if (m->lag_mb < 0)
				snprintf(why, len, "member %s does not report its lag", m->name);
			else
				snprintf(why, len, "member %s lags %ld MB behind the leader (at most %ld)", m->name,
					 m->lag_mb, max_lag_mb);
			return -1;
		}
		if (m->drained && !m->leader) {
			snprintf(why, len, "more than one member is drained (%s among them); flotilla ready them first",
				 m->name);
			return -1;
		}
	}
	if (v->n < 2) {
		snprintf(why, len, "a rolling upgrade needs a replica to hand the leader key to");
		return -1;
	}
	return 0;
}

upgrade_step upgrade_next(const upgrade_view *v, const char *image)
{
	upgrade_step s = {.kind = UPGRADE_DONE};
	const upgrade_member *leader = leader_of(v), *todo = left_drained(v);
	for (int i = 0; todo == NULL && i < v->n; i++)
		if (!v->m[i].leader && !upgraded(&v->m[i], image))
			todo = &v->m[i];
	if (todo != NULL) {
		s.kind = UPGRADE_NODE;
		snprintf(s.node, sizeof s.node, "%s", todo->name);
		return s;
	}
	if (leader == NULL || upgraded(leader, image))
		return s;
	/* Every replica is on the new image: the least lagging streaming one (the first on a tie) takes the key. */
	const upgrade_member *best = NULL;
	for (int i = 0; i < v->n; i++) {
		const upgrade_member *m = &v->m[i];
		if (!m->leader && m->streaming && m->lag_mb >= 0 && (best == NULL || m->lag_mb < best->lag_mb))
			best = m;
	}
	s.kind = UPGRADE_SWITCHOVER;
	snprintf(s.node, sizeof s.node, "%s", leader->name);
	snprintf(s.candidate, sizeof s.candidate, "%s", best ? best->name : "");
	return s;
}
