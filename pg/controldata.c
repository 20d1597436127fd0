/*
 * controldata: the parser of pg_controldata's "Name: value" lines.
 */
#include "controldata.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cluster/lsn.h"

/* The value of the line "name: value", spaces skipped; NULL when absent. */
static const char *field(const char *text, const char *name)
{
	size_t n = strlen(name);
	for (const char *p = text; p && *p; p = strchr(p, '\n'), p = p ? p + 1 : NULL) {
		if (strncmp(p, name, n) == 0 && p[n] == ':') {
			p += n + 1;
			while (*p == ' ')
				p++;
			return p;
		}
	}
	return NULL;
}

int controldata_parse(const char *text, controldata *out, fl_err *err)
{
	*out = (controldata){0};
	const char *state = field(text, "Database cluster state");
	if (state == NULL)
		return fl_fail(err, FL_ERR_POSTGRES, "pg_controldata: no cluster state in its output");
	out->was_primary = strncmp(state, "in production", 13) == 0 ||
			   (strncmp(state, "shut down", 9) == 0 && strncmp(state, "shut down in recovery", 21) != 0);
	const char *tli = field(text, "Latest checkpoint's TimeLineID");
	out->timeline = tli ? atol(tli) : 0;
	const char *loc = field(text, "Latest checkpoint location");
	char lsn[32] = "";
	if (loc && sscanf(loc, "%31s", lsn) == 1)
		lsn_parse(lsn, &out->checkpoint);
	return 0;
}
