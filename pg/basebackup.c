/*
 * basebackup: the parser of pg_basebackup's progress lines.
 */
#include "basebackup.h"

#include <inttypes.h>
#include <stdio.h>

bool basebackup_progress(const char *line, int64_t *done, int64_t *total)
{
	int64_t d, t;
	int used = 0;
	if (sscanf(line, " %" SCNd64 "/%" SCNd64 " kB%n", &d, &t, &used) != 2 || used == 0)
		return false;
	if (d < 0 || t < 0 || d > INT64_MAX / 1024 || t > INT64_MAX / 1024)
		return false;
	*done = d * 1024;
	*total = t * 1024;
	return true;
}
