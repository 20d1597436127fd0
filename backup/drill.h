/*
 * drill: a restore drill, `flotilla-backup drill`. The newest backup (or
 * one named) is restored into a scratch directory and proven: its files
 * against the backup's manifest (pg_verifybackup), the archive's WAL from
 * the backup's start to its newest segment (a missing segment is named),
 * then PostgreSQL started on it, on a private socket, replays to the end of
 * the archive and promotes; pg_amcheck checks every table and index, the
 * configured queries must hold, the listed tables are counted. The report
 * (verdict, each phase with its duration and error, the time to restore
 * against the target, the recovery point reached against the newest
 * archived WAL) is written as JSON into REPO/drills/, the scratch instance
 * stopped and removed. A failed drill exits non-zero with an error line
 * naming the phase and what failed.
 */
#ifndef FL_BACKUP_DRILL_H
#define FL_BACKUP_DRILL_H

/* The command line of `flotilla-backup drill ...` (argv[0] is "drill"). */
int drill_main(int argc, char **argv);
/*
 * `flotilla-backup verify ...` (argv[0] is "verify"): every backup's files
 * against its manifest and its own WAL (pg_verifybackup with pg_waldump),
 * then the archive's WAL from its end on, without starting PostgreSQL.
 */
int verify_main(int argc, char **argv);

#endif
