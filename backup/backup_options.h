/*
 * backup_options: every setting of flotilla-backup, declared once in a
 * table (backup_options.c) that drives parsing, validation, --help, the
 * sample file and the docs.
 */
#ifndef FL_BACKUP_OPTIONS_H
#define FL_BACKUP_OPTIONS_H

#include "catalog.h"
#include "common/config.h"
#include "cron.h"

typedef struct backup_options {
	char *name;
	char *scope;
	str_list etcd_endpoints;
	char *etcd_prefix;
	char *etcd_ca_file, *etcd_cert_file, *etcd_key_file;
	char *etcd_username, *etcd_password_file;
	bool etcd_watch;
	double retry_timeout;
	char *repo;
	char *api_listen;
	char *api_token_file;
	char *replication_user;
	char *replication_password_file;
	char *encryption_key_file;
	char *bin_dir;
	char *schedule;
	char *compression;
	long retention_full;
	double retention_window;
	double backup_timeout;
	long max_rate;
	bool backup_new_timeline;
	char *drill_schedule;
	char *drill_dir;
	long drill_port;
	char *drill_user;
	str_list drill_checks;
	str_list drill_tables;
	double drill_rto_target;
	double drill_timeout;
	char *log_level;
} backup_options;

extern const opt_def backup_options_table[];
extern const unsigned backup_options_table_len;

/* Loads and validates `path`; on failure `err` names the setting and line. */
int backup_options_load(backup_options *o, const char *path, fl_err *err);
void backup_options_free(backup_options *o);
/* Moves the settings a reload applies from next into cur; next keeps cur's old ones. */
void backup_options_apply_reloadable(backup_options *cur, backup_options *next);
/* The schedule (validated by backup_options_load); false when there is none. */
bool backup_options_schedule(const backup_options *o, cron_spec *out);
retention_policy backup_options_retention(const backup_options *o);
/* The drills' schedule; false when there is none. */
bool backup_options_drill_schedule(const backup_options *o, cron_spec *out);

#endif
