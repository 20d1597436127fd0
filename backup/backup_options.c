/*
 * backup_options: the backup sidecar's option table. By default a base
 * backup is taken every day at midnight UTC, compressed with zstd, and the
 * seven newest are kept.
 */
#include "backup_options.h"

#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include "cluster/option_rows.h"
#include "common/hostport.h"
#include "common/log.h"

#define O(field) offsetof(backup_options, field)
#define NORANGE 1, 0

/* clang-format off */
const opt_def backup_options_table[] = {
	{"name", OPT_STRING, "backup", NORANGE, false, "FLOTILLA_BACKUP_NAME", O(name),
	 "this sidecar's name in logs and in the backups it records"},
	CLUSTER_ROW_SCOPE(backup_options),
	CLUSTER_ROWS_ETCD(backup_options),
	CLUSTER_ROW_RETRY_TIMEOUT(backup_options),
	{"repo", OPT_STRING, NULL, NORANGE, false, "FLOTILLA_BACKUP_REPO", O(repo),
	 "the repository: a directory (a volume of its own) that holds the base backups and the archived WAL"},
	{"api_listen", OPT_STRING, "127.0.0.1:8010", NORANGE, false, "FLOTILLA_BACKUP_API_LISTEN", O(api_listen),
	 "host:port of the HTTP API: WAL archiving, backups on demand, /health, /metrics"},
	{"secrets.api_token_file", OPT_STRING, NULL, NORANGE, false, "FLOTILLA_BACKUP_TOKEN_FILE", O(api_token_file),
	 "file holding the bearer token every call but /health and /metrics carries (the members' archive_command "
	 "has it too)"},
	{"replication_user", OPT_STRING, "replicator", NORANGE, false, "FLOTILLA_REPLICATION_USER", O(replication_user),
	 "role base backups are taken as (a replication connection)"},
	{"secrets.replication_password_file", OPT_STRING, NULL, NORANGE, false, "FLOTILLA_REPLICATION_PASSWORD_FILE",
	 O(replication_password_file), "file holding the replication role's password"},
	{"secrets.encryption_key_file", OPT_STRING, "", NORANGE, false, "FLOTILLA_BACKUP_ENCRYPTION_KEY_FILE",
	 O(encryption_key_file),
	 "file holding the passphrase that encrypts the repository at rest (AES-256-GCM; the key stretched with "
	 "PBKDF2 and the repository's salt): base backups and archived WAL; empty: no encryption"},
	{"bin_dir", OPT_STRING, "/usr/lib/postgresql/15/bin", NORANGE, false, "FLOTILLA_BIN_DIR", O(bin_dir),
	 "directory of PostgreSQL's programs (pg_basebackup)"},
	{"schedule", OPT_STRING, "@daily", NORANGE, true, "FLOTILLA_BACKUP_SCHEDULE", O(schedule),
	 "when base backups are taken: cron's five fields or @daily, @hourly, ... (UTC); empty: only on demand"},
	{"compression", OPT_STRING, "zstd", NORANGE, true, "FLOTILLA_BACKUP_COMPRESSION", O(compression),
	 "zstd, gzip or none, for base backups and archived WAL"},
	{"retention.full", OPT_INT, "7", 0, 100000, true, "FLOTILLA_BACKUP_RETENTION_FULL", O(retention_full),
	 "base backups kept, the newest (0: no count)"},
	{"retention.window", OPT_DOUBLE, "0", 0, 3.2e9, true, "FLOTILLA_BACKUP_RETENTION_WINDOW", O(retention_window),
	 "seconds back to which a point-in-time restore stays possible (0: none); a backup either rule keeps is kept"},
	{"backup_timeout", OPT_DOUBLE, "21600", 10, 864000, true, "FLOTILLA_BACKUP_TIMEOUT", O(backup_timeout),
	 "seconds a base backup may take before it is stopped and counted failed"},
	{"max_rate", OPT_INT, "0", 0, 1048576, true, "FLOTILLA_BACKUP_MAX_RATE", O(max_rate),
	 "kB/s a base backup may read from its source, 32 at least; 0 for no limit"},
	{"backup_new_timeline", OPT_BOOL, "true", NORANGE, true, "FLOTILLA_BACKUP_NEW_TIMELINE", O(backup_new_timeline),
	 "take a base backup when the repository has none (after the bootstrap) and when the leader runs on a timeline "
	 "no backup has (after a promotion)"},
	{"drill.schedule", OPT_STRING, "0 6 * * *", NORANGE, true, "FLOTILLA_DRILL_SCHEDULE", O(drill_schedule),
	 "when the newest backup is restored and proven (cron's five fields or @daily, ...; UTC); empty: only on "
	 "demand"},
	{"drill.dir", OPT_STRING, "", NORANGE, true, "FLOTILLA_DRILL_DIR", O(drill_dir),
	 "directory whose flotilla-drill/ a drill restores into, emptied before and removed after (empty: REPO/.drill, "
	 "on the repository's volume: room for the data and the WAL replayed)"},
	{"drill.port", OPT_INT, "55432", 1024, 65535, true, "FLOTILLA_DRILL_PORT", O(drill_port),
	 "port of the drill's PostgreSQL, on a private socket only"},
	{"drill.user", OPT_STRING, "postgres", NORANGE, true, "FLOTILLA_DRILL_USER", O(drill_user),
	 "the restored cluster's superuser, which the checks run as"},
	{"drill.checks", OPT_LIST, "", NORANGE, true, "FLOTILLA_DRILL_CHECKS", O(drill_checks),
	 "queries that must return a first row whose first column is neither false nor NULL on the restored copy"},
	{"drill.tables", OPT_LIST, "", NORANGE, true, "FLOTILLA_DRILL_TABLES", O(drill_tables),
	 "tables (schema.table) a drill counts on the cluster (on a replica paused at one point, as the replication "
	 "role) and on the copy recovered to exactly that point: a difference, or a table missing, fails it"},
	{"drill.rto_target", OPT_DOUBLE, "3600", 1, 864000, true, "FLOTILLA_DRILL_RTO_TARGET", O(drill_rto_target),
	 "seconds a restore may take from its start to a promoted copy; the report says whether it was met"},
	{"drill.timeout", OPT_DOUBLE, "21600", 10, 864000, true, "FLOTILLA_DRILL_TIMEOUT", O(drill_timeout),
	 "seconds a drill's start and recovery may take before it fails"},
	CLUSTER_ROW_LOG_LEVEL(backup_options),
};
/* clang-format on */
const unsigned backup_options_table_len = sizeof backup_options_table / sizeof backup_options_table[0];

static int validate(const backup_options *o, fl_err *err)
{
	if (o->scope[0] == '\0' || strchr(o->scope, '/') != NULL)
		return fl_fail(err, FL_ERR_CONFIG, "config: scope = \"%s\" is not a cluster name", o->scope);
	if (cluster_check_etcd_endpoints(&o->etcd_endpoints, err) < 0)
		return -1;
	if (o->repo[0] != '/')
		return fl_fail(err, FL_ERR_CONFIG, "config: repo = \"%s\" is not an absolute path", o->repo);
	if (!hostport_valid(o->api_listen))
		return fl_fail(err, FL_ERR_CONFIG, "config: api_listen = \"%s\" is not host:port", o->api_listen);
	cron_spec spec;
	char why[160];
	if (o->schedule[0] != '\0' && cron_parse(o->schedule, &spec, why, sizeof why) < 0)
		return fl_fail(err, FL_ERR_CONFIG, "config: schedule = \"%s\": %s", o->schedule, why);
	if (strcmp(o->compression, "zstd") != 0 && strcmp(o->compression, "gzip") != 0 &&
	    strcmp(o->compression, "none") != 0)
		return fl_fail(err, FL_ERR_CONFIG, "config: compression = \"%s\" is not one of zstd, gzip, none",
			       o->compression);
	if (o->drill_schedule[0] != '\0' && cron_parse(o->drill_schedule, &spec, why, sizeof why) < 0)
		return fl_fail(err, FL_ERR_CONFIG, "config: drill.schedule = \"%s\": %s", o->drill_schedule, why);
	if (o->drill_dir[0] != '\0' && o->drill_dir[0] != '/')
		return fl_fail(err, FL_ERR_CONFIG, "config: drill.dir = \"%s\" is not an absolute path", o->drill_dir);
	if (o->drill_user[0] == '\0')
		return fl_fail(err, FL_ERR_CONFIG, "config: drill.user is empty");
	if (o->max_rate != 0 && o->max_rate < 32)
		return fl_fail(err, FL_ERR_CONFIG, "config: max_rate = %ld: 0 (no limit) or 32 kB/s at least",
			       o->max_rate);
	if (cluster_check_log_level(o->log_level, err) < 0)
		return -1;
	return 0;
}

int backup_options_load(backup_options *o, const char *path, fl_err *err)
{
	memset(o, 0, sizeof *o);
	if (config_load(backup_options_table, backup_options_table_len, o, path, err) < 0)
		return -1;
	return validate(o, err);
}

void backup_options_free(backup_options *o) { config_free(backup_options_table, backup_options_table_len, o); }

void backup_options_apply_reloadable(backup_options *cur, backup_options *next)
{
	config_apply_reloadable(backup_options_table, backup_options_table_len, cur, next);
}

bool backup_options_schedule(const backup_options *o, cron_spec *out)
{
	char why[160];
	return o->schedule[0] != '\0' && cron_parse(o->schedule, out, why, sizeof why) == 0;
}

bool backup_options_drill_schedule(const backup_options *o, cron_spec *out)
{
	char why[160];
	return o->drill_schedule[0] != '\0' && cron_parse(o->drill_schedule, out, why, sizeof why) == 0;
}

retention_policy backup_options_retention(const backup_options *o)
{
	return (retention_policy){.full = (int)o->retention_full, .window = o->retention_window};
}
