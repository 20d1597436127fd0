/*
 * sync: ordering of synchronous-set changes (see sync.h for the invariant).
 */
#include "sync.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int cmp_names(const void *a, const void *b) { return strcmp(a, b); }

void name_set_add(name_set *s, const char *name)
{
	if (name_set_has(s, name) || s->n >= CLUSTER_MAX_MEMBERS)
		return;
	snprintf(s->v[s->n++], CLUSTER_NAME_MAX, "%s", name);
	qsort(s->v, (size_t)s->n, CLUSTER_NAME_MAX, cmp_names);
}

bool name_set_has(const name_set *s, const char *name)
{
	for (int i = 0; i < s->n; i++)
		if (strcmp(s->v[i], name) == 0)
			return true;
	return false;
}

bool name_set_equal(const name_set *a, const name_set *b)
{
	if (a->n != b->n)
		return false;
	for (int i = 0; i < a->n; i++)
		if (!name_set_has(b, a->v[i]))
			return false;
	return true;
}

void name_set_ssn(const name_set *s, char *buf, int len)
{
	if (s->n == 0) {
		snprintf(buf, (size_t)len, "%s", "");
		return;
	}
	int off = snprintf(buf, (size_t)len, "ANY 1 (");
	/* Quoted identifiers, a '"' doubled (names are validated where they are read; this holds anyway). */
	for (int i = 0; i < s->n && off < len; i++) {
		off += snprintf(buf + off, (size_t)(len - off), "%s\"", i ? "," : "");
		for (const char *p = s->v[i]; *p && off < len; p++) {
			if (*p == '"')
				off += snprintf(buf + off, (size_t)(len - off), "\"\"");
			else
				off += snprintf(buf + off, (size_t)(len - off), "%c", *p);
		}
		if (off < len)
			off += snprintf(buf + off, (size_t)(len - off), "\"");
	}
	if (off < len)
		snprintf(buf + off, (size_t)(len - off), ")");
}

sync_step sync_plan(const sync_state *st, const sync_replica *reps, int n, name_set *out)
{
	name_set desired = {0};
	for (int i = 0; i < n; i++)
		if (reps[i].streaming && reps[i].eligible)
			name_set_add(&desired, reps[i].name);
	if (desired.n == 0)
		desired = st->ssn; /* never drop to no synchronous standby: commits wait instead */
	if (!name_set_equal(&desired, &st->ssn)) {
		bool additions = false;
		for (int i = 0; i < desired.n; i++)
			additions |= !name_set_has(&st->published, desired.v[i]);
		if (st->published.n > 0 && additions) {
			*out = st->published;
			for (int i = 0; i < desired.n; i++)
				name_set_add(out, desired.v[i]);
			return SYNC_PUBLISH;
		}
		*out = desired;
		return SYNC_SET_SSN;
	}
	if (st->ssn.n == 0 || name_set_equal(&st->published, &st->ssn))
		return SYNC_NOTHING;
	for (int i = 0; i < n; i++) {
		if (name_set_has(&st->ssn, reps[i].name) && reps[i].flush_lsn >= st->pending_lsn) {
			*out = st->ssn;
			return SYNC_PUBLISH;
		}
	}
	return SYNC_NOTHING;
}
