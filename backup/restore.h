/*
 * restore: `flotilla-backup restore`, which lays a base backup of the
 * repository into a new data directory and sets it up to recover: to the
 * end of the archived WAL (on the newest timeline), to a point in time, or
 * to an LSN, with the backup chosen by catalog_pick. WAL comes from the
 * repository through flotilla-wal get. Never over a data directory in use:
 * the target must be empty or absent. PostgreSQL replays when it is
 * started on the directory (`flotilla restore --start`, a drill, or the
 * operator).
 */
#ifndef FL_BACKUP_RESTORE_H
#define FL_BACKUP_RESTORE_H

#include <stdbool.h>
#include <stdint.h>

#include "catalog.h"
#include "common/err.h"

typedef struct restore_request {
	const char *repo;
	const char *target_dir;
	const char *label; /* NULL: chosen by the target */
	restore_target target;
	int port;               /* PostgreSQL's port in the restored settings; 0 leaves the backup's */
	const char *socket_dir; /* unix_socket_directories; NULL leaves the backup's */
	const char *key_file;   /* the repository's passphrase, for an encrypted backup; NULL for none */
	bool bootstrap; /* the first node of a new cluster: only the recovery settings, which its agent removes once
			 * promoted (pg/recovery_conf.h) */
} restore_request;

typedef struct restore_result {
	backup_record backup;
	double seconds; /* to lay the files down */
	uint64_t bytes; /* of the data directory */
} restore_result;

/* Restores; progress and the outcome are logged. Fails naming the phase and the file. */
int restore_run(const restore_request *rq, restore_result *out, fl_err *err);

/* The command line of `flotilla-backup restore ...` (argv[0] is "restore"). */
int restore_main(int argc, char **argv);

#endif
