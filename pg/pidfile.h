/*
 * pidfile: the postmaster's pid as its data directory's postmaster.pid
 * records it. Whether that process still runs, and is that postmaster, is
 * for the caller to check (a pid can be reused).
 */
#ifndef FL_PG_PIDFILE_H
#define FL_PG_PIDFILE_H

#include <sys/types.h>

/* The pid on postmaster.pid's first line in data_dir; 0 when there is no such file or it names no pid. */
pid_t pg_postmaster_pid(const char *data_dir);

#endif
