/*
 * pidfile: see pidfile.h.
 */
#include "pidfile.h"

#include <limits.h>
#include <stdio.h>

pid_t pg_postmaster_pid(const char *data_dir)
{
	char path[PATH_MAX];
	if ((size_t)snprintf(path, sizeof path, "%s/postmaster.pid", data_dir) >= sizeof path)
		return 0;
	FILE *f = fopen(path, "r");
	if (f == NULL)
		return 0;
	long pid = 0;
	if (fscanf(f, "%ld", &pid) != 1)
		pid = 0;
	fclose(f);
	return pid > 1 && pid <= INT_MAX ? (pid_t)pid : 0;
}
