/*
 * pgsetting: a PostgreSQL parameter's value checked as the server would
 * check it, against the parameter's row of pg_settings (type, unit, range,
 * allowed values): booleans in any of PostgreSQL's spellings, numbers with a
 * memory or time unit converted to the parameter's own unit and rounded,
 * enums by name. Pure: the rows come from the caller.
 */
#ifndef FL_PG_PGSETTING_H
#define FL_PG_PGSETTING_H

#include <stdbool.h>
#include <stddef.h>

typedef struct pgsetting {
	char name[64];
	char vartype[8];    /* bool, integer, real, enum, string */
	char unit[8];       /* "", B, kB, 8kB, MB, ms, s, min, ... */
	char context[20];   /* postmaster: a change needs a restart */
	double min, max;    /* integer and real */
	char enumvals[512]; /* enum: the allowed names, comma-separated */
} pgsetting;

/* The row named name (case-insensitive), or NULL. */
const pgsetting *pgsetting_find(const pgsetting *rows, int n, const char *name);

/* 0 when value is valid for s; otherwise -1 and why holds PostgreSQL's kind of reason. */
int pgsetting_check(const pgsetting *s, const char *value, char *why, size_t len);

#endif
