/*
 * controldata: what pg_controldata prints, parsed. The agent reads it of a
 * stopped cluster to know whether it last ran as a primary, on which
 * timeline, and where its latest checkpoint is.
 */
#ifndef FL_PG_CONTROLDATA_H
#define FL_PG_CONTROLDATA_H

#include <stdbool.h>
#include <stdint.h>

#include "common/err.h"

typedef struct controldata {
	bool was_primary;    /* "in production", or "shut down" (not "shut down in recovery") */
	long timeline;       /* latest checkpoint's TimeLineID, 0 when absent */
	uint64_t checkpoint; /* latest checkpoint location, 0 when absent */
} controldata;

/* Parses pg_controldata's output (LC_ALL=C); fails when it has no cluster state. */
int controldata_parse(const char *text, controldata *out, fl_err *err);

#endif
