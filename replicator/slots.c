/*
 * slots: the leader's book of members that keep a replication slot (see slots.h).
 */
#include "slots.h"

#include <stdio.h>
#include <string.h>

#include "sync.h"

static int find(const slot_book *b, const char *name)
{
	for (int i = 0; i < b->n; i++)
		if (strcmp(b->v[i].name, name) == 0)
			return i;
	return -1;
}

static void drop(slot_book *b, int i) { b->v[i] = b->v[--b->n]; }

void slot_book_update(slot_book *b, const cluster_view *view, const char *self, double now, double keep, name_set *out)
{
	for (int i = b->n - 1; i >= 0; i--)
		if (now - b->v[i].at > keep)
			drop(b, i);
	for (int m = 0; m < view->n_members; m++) {
		const char *name = view->members[m].name;
		if (strcmp(name, self) == 0)
			continue;
		int i = find(b, name);
		if (i < 0 && b->n == CLUSTER_MAX_MEMBERS) {
			int oldest = -1;
			for (int j = 0; j < b->n; j++)
				if (b->v[j].at < now && (oldest < 0 || b->v[j].at < b->v[oldest].at))
					oldest = j;
			if (oldest < 0)
				continue; /* every entry is present now: cannot happen with one view */
			drop(b, oldest);
		}
		if (i < 0) {
			i = b->n++;
			snprintf(b->v[i].name, sizeof b->v[i].name, "%s", name);
		}
		b->v[i].at = now;
	}
	memset(out, 0, sizeof *out);
	for (int i = 0; i < b->n; i++)
		name_set_add(out, b->v[i].name);
}
