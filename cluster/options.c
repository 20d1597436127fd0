/*
 * options: the replicator's option table. The defaults favour fast failover
 * on a LAN: a 3 s lease renewed every 0.5 s. The leader fences itself (stops
 * PostgreSQL immediately) when it has not renewed the lease for ttl - 1 s, so
 * a lease can survive two or three lost renewals before the leader gives up,
 * and it is always down before etcd expires the lease. A larger ttl makes the
 * cluster tolerate longer etcd hiccups at the price of a slower failover;
 * failover takes about ttl + 1 s after the leader dies. A reload of ttl
 * takes effect at the agent's next renewal, which grants a new lease with
 * it (replicator/lease.c).
 */
#include "options.h"

#include <limits.h>
#include <stdlib.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cluster/cluster.h"
#include "cluster/option_rows.h"
#include "common/hostport.h"
#include "common/http_client.h"
#include "common/timeparse.h"
#include "cluster/lsn.h"

#define O(field) offsetof(options, field)
#define NORANGE 1, 0

/* clang-format off */
const opt_def options_table[] = {
	CLUSTER_ROW_SCOPE(options),
	{"name", OPT_STRING, NULL, NORANGE, false, "FLOTILLA_NAME", O(name), "this node's name, unique in the cluster"},
	{"data_dir", OPT_STRING, NULL, NORANGE, false, "FLOTILLA_DATA_DIR", O(data_dir), "PostgreSQL data directory"},
	{"bin_dir", OPT_STRING, "/usr/lib/postgresql/15/bin", NORANGE, false, "FLOTILLA_BIN_DIR", O(bin_dir),
	 "directory of postgres, initdb, pg_basebackup, pg_rewind"},
	{"state_dir", OPT_STRING, NULL, NORANGE, false, "FLOTILLA_STATE_DIR", O(state_dir),
	 "directory for the agent's runtime files (socket, passfiles)"},
	{"listen", OPT_STRING, "127.0.0.1:5432", NORANGE, false, "FLOTILLA_LISTEN", O(listen),
	 "host:port PostgreSQL listens on"},
	{"connect_address", OPT_STRING, "", NORANGE, false, "FLOTILLA_CONNECT_ADDRESS", O(connect_address),
	 "host:port other nodes use to reach this PostgreSQL (default: listen)"},
	{"api_listen", OPT_STRING, "127.0.0.1:8008", NORANGE, false, "FLOTILLA_API_LISTEN", O(api_listen),
	 "host:port of the REST API"},
	{"api_connect_address", OPT_STRING, "", NORANGE, false, "FLOTILLA_API_CONNECT_ADDRESS", O(api_connect_address),
	 "host:port others use to reach the REST API (default: api_listen)"},
	{"api_cert_file", OPT_STRING, "", NORANGE, false, "FLOTILLA_API_CERT_FILE", O(api_cert_file),
	 "certificate (chain) the REST API presents: it speaks HTTPS only, and publishes an https:// api_url "
	 "(empty: plain HTTP)"},
	{"secrets.api_key_file", OPT_STRING, "", NORANGE, false, "FLOTILLA_API_KEY_FILE", O(api_key_file),
	 "file holding the key of api_cert_file"},
	CLUSTER_ROWS_ETCD(options),
	{"ttl", OPT_INT, "3", 2, 3600, true, "FLOTILLA_TTL", O(ttl),
	 "leader lease TTL in seconds; a reload applies it at the next renewal (a new lease)"},
	{"loop_wait", OPT_DOUBLE, "0.5", 0.1, 60, true, "FLOTILLA_LOOP_WAIT", O(loop_wait),
	 "seconds between two runs of the HA loop"},
	CLUSTER_ROW_RETRY_TIMEOUT(options),
	{"maximum_lag_on_failover", OPT_INT, "1048576", 0, 1e15, true, "FLOTILLA_MAXIMUM_LAG_ON_FAILOVER",
	 O(maximum_lag_on_failover), "bytes a replica may lag behind the last leader position and still be promoted"},
	{"synchronous_mode", OPT_BOOL, "false", NORANGE, true, "FLOTILLA_SYNCHRONOUS_MODE", O(synchronous_mode),
	 "commits wait for ANY 1 healthy replica; only synchronous replicas are promoted"},
	{"max_restarts", OPT_INT, "3", 0, 100, true, "FLOTILLA_MAX_RESTARTS", O(max_restarts),
	 "postmaster crashes restarted within restart_window before a leader gives up the lease"},
	{"restart_window", OPT_DOUBLE, "300", 1, 86400, true, "FLOTILLA_RESTART_WINDOW", O(restart_window),
	 "seconds over which postmaster crashes are counted"},
	{"tags.nofailover", OPT_BOOL, "false", NORANGE, true, "FLOTILLA_NOFAILOVER", O(nofailover),
	 "never promote this node"},
	{"tags.noloadbalance", OPT_BOOL, "false", NORANGE, true, "FLOTILLA_NOLOADBALANCE", O(noloadbalance),
	 "keep this node out of the read-only pool"},
	{"tags.priority", OPT_INT, "0", -1000, 1000, true, "FLOTILLA_PRIORITY", O(priority),
	 "failover priority: higher wins between equally advanced replicas"},
	{"clone_max_rate", OPT_INT, "0", 0, 1048576, true, "FLOTILLA_CLONE_MAX_RATE", O(clone_max_rate),
	 "kB/s a clone (pg_basebackup) may read from the leader, 32 at least; 0 for no limit"},
	{"bootstrap.post_init", OPT_STRING, "", NORANGE, false, "FLOTILLA_POST_INIT", O(post_init),
	 "program run once, on the node that initialises the cluster, once it answers (PGHOST, PGPORT, PGUSER, "
	 "PGDATABASE reach it); a failure fails the bootstrap (empty: none)"},
	{"bootstrap.restore_repo", OPT_STRING, "", NORANGE, false, "FLOTILLA_RESTORE_REPO", O(restore_repo),
	 "a Flotilla backup repository (a directory): the node that initialises the cluster restores it (its newest "
	 "backup, or the one bootstrap.restore_target needs) rather than running initdb, replays its archived WAL, "
	 "promotes and leads; the others clone from it (empty: initdb)"},
	{"bootstrap.restore_target", OPT_STRING, "", NORANGE, false, "FLOTILLA_RESTORE_TARGET", O(restore_target),
	 "where that restore stops: a time with its zone (2026-12-06T10:00:00Z) or an LSN (0/3000060); empty: the end "
	 "of the archive"},
	{"bootstrap.restore_timeout", OPT_DOUBLE, "86400", 10, 864000, false, "FLOTILLA_RESTORE_TIMEOUT",
	 O(restore_timeout), "seconds the restore and its recovery may take before the bootstrap fails"},
	{"secrets.restore_key_file", OPT_STRING, "", NORANGE, false, "FLOTILLA_RESTORE_KEY_FILE", O(restore_key_file),
	 "file holding the passphrase of an encrypted bootstrap.restore_repo"},
	{"callbacks.on_start", OPT_STRING, "", NORANGE, true, "FLOTILLA_ON_START", O(on_start),
	 "program run (no shell) when this node's PostgreSQL starts, with the arguments on_start ROLE SCOPE, as "
	 "Patroni's callbacks"},
	{"callbacks.on_stop", OPT_STRING, "", NORANGE, true, "FLOTILLA_ON_STOP", O(on_stop),
	 "program run when it stops: on_stop ROLE SCOPE"},
	{"callbacks.on_restart", OPT_STRING, "", NORANGE, true, "FLOTILLA_ON_RESTART", O(on_restart),
	 "program run when it runs again after a restart on request (POST /restart): on_restart ROLE SCOPE"},
	{"callbacks.on_role_change", OPT_STRING, "", NORANGE, true, "FLOTILLA_ON_ROLE_CHANGE", O(on_role_change),
	 "program run when it changes role (a promotion, a demotion): on_role_change ROLE SCOPE, ROLE the new one "
	 "(primary or replica)"},
	{"callbacks.timeout", OPT_DOUBLE, "30", 1, 3600, true, "FLOTILLA_CALLBACK_TIMEOUT", O(callback_timeout),
	 "seconds a callback may run; one still running when the next event comes is ended"},
	{"superuser", OPT_STRING, "postgres", NORANGE, false, "FLOTILLA_SUPERUSER", O(superuser),
	 "PostgreSQL superuser the agent connects as"},
	{"secrets.superuser_password_file", OPT_STRING, NULL, NORANGE, false, "FLOTILLA_SUPERUSER_PASSWORD_FILE",
	 O(superuser_password_file), "file holding the superuser's password"},
	{"replication_user", OPT_STRING, "replicator", NORANGE, false, "FLOTILLA_REPLICATION_USER", O(replication_user),
	 "role replicas stream with"},
	{"secrets.replication_password_file", OPT_STRING, NULL, NORANGE, false, "FLOTILLA_REPLICATION_PASSWORD_FILE",
	 O(replication_password_file), "file holding the replication role's password"},
	{"secrets.api_token_file", OPT_STRING, "", NORANGE, false, "FLOTILLA_API_TOKEN_FILE", O(api_token_file),
	 "file holding the bearer token of the REST API's mutating calls (empty: they are refused)"},
	{"backup.url", OPT_STRING, "", NORANGE, false, "FLOTILLA_BACKUP_URL", O(backup_url),
	 "the backup sidecar (http://host:port): every member archives its WAL there (archive_mode = always, "
	 "archive_command and restore_command through flotilla-wal); empty: no archiving"},
	{"secrets.backup_token_file", OPT_STRING, "", NORANGE, false, "FLOTILLA_BACKUP_TOKEN_FILE", O(backup_token_file),
	 "file holding the backup sidecar's bearer token"},
	{"watchdog.mode", OPT_STRING, "off", NORANGE, false, "FLOTILLA_WATCHDOG_MODE", O(watchdog_mode),
	 "off, automatic or required: a hardware watchdog, kept alive by the fence process while this node's "
	 "PostgreSQL may accept writes, resets the machine if that process cannot run; required: never lead without it"},
	{"watchdog.device", OPT_STRING, "/dev/watchdog", NORANGE, false, "FLOTILLA_WATCHDOG_DEVICE", O(watchdog_device),
	 "the watchdog device"},
	CLUSTER_ROW_LOG_LEVEL(options),
	{"postgresql.parameters", OPT_LIST, "", NORANGE, false, NULL, O(pg_parameters),
	 "extra PostgreSQL settings as \"name=value\" strings"},
};
/* clang-format on */
const unsigned options_table_len = sizeof options_table / sizeof options_table[0];
_Static_assert(sizeof options_table / sizeof options_table[0] <= OPTIONS_MAX, "options.named is too short");

int cluster_check_etcd_endpoints(const str_list *endpoints, fl_err *err)
{
	if (endpoints->n == 0)
		return fl_fail(err, FL_ERR_CONFIG, "config: etcd.endpoints is empty");
	for (int i = 0; i < endpoints->n; i++)
		if (strncmp(endpoints->v[i], "http://", 7) != 0 && strncmp(endpoints->v[i], "https://", 8) != 0)
			return fl_fail(err, FL_ERR_CONFIG,
				       "config: etcd.endpoints item \"%s\" must start with http:// or https://",
				       endpoints->v[i]);
	return 0;
}

int cluster_check_log_level(const char *level, fl_err *err)
{
	log_level lvl;
	if (log_level_parse(level, &lvl) < 0)
		return fl_fail(err, FL_ERR_CONFIG, "config: log_level = \"%s\" is not one of error, warn, info, debug",
			       level);
	return 0;
}

static int check_hostport(const char *name, const char *v, fl_err *err)
{
	if (!hostport_valid(v))
		return fl_fail(err, FL_ERR_CONFIG, "config: %s = \"%s\" is not host:port", name, v);
	return 0;
}

static int check_name(const char *what, const char *v, fl_err *err)
{
	if (v[0] == '\0' || strlen(v) > 63)
		return fl_fail(err, FL_ERR_CONFIG, "config: %s = \"%s\" must have 1 to 63 characters", what, v);
	if (!cluster_name_valid(v))
		return fl_fail(err, FL_ERR_CONFIG,
			       "config: %s = \"%s\" may hold only lowercase letters, digits, '_' and '-'", what, v);
	return 0;
}

/* The rules on the settings alone. */
/* callbacks.*: absolute paths of programs (run without a shell). */
static int validate_callbacks(const options *o, fl_err *err)
{
	const struct {
		const char *name, *v;
	} cbs[] = {{"on_start", o->on_start},
		   {"on_stop", o->on_stop},
		   {"on_restart", o->on_restart},
		   {"on_role_change", o->on_role_change}};
	for (size_t i = 0; i < sizeof cbs / sizeof cbs[0]; i++)
		if (cbs[i].v[0] != '\0' && cbs[i].v[0] != '/')
			return fl_fail(err, FL_ERR_CONFIG, "config: callbacks.%s = \"%s\" is not an absolute path",
				       cbs[i].name, cbs[i].v);
	return 0;
}

/* bootstrap.restore_*: an absolute repository, a target that is a zoned time or an LSN, paths restore_command can
 * hold. */
static int validate_restore(const options *o, fl_err *err)
{
	if (o->restore_repo[0] == '\0') {
		if (o->restore_target[0] != '\0')
			return fl_fail(err, FL_ERR_CONFIG,
				       "config: bootstrap.restore_target is set without bootstrap.restore_repo");
		return 0;
	}
	const char *unsafe = "'\" \\%";
	if (o->restore_repo[0] != '/' || strpbrk(o->restore_repo, unsafe) != NULL)
		return fl_fail(
			err, FL_ERR_CONFIG,
			"config: bootstrap.restore_repo = \"%s\" is not an absolute path free of quotes, spaces, "
			"backslashes and '%%'",
			o->restore_repo);
	if (o->restore_key_file[0] != '\0' &&
	    (o->restore_key_file[0] != '/' || strpbrk(o->restore_key_file, unsafe) != NULL))
		return fl_fail(err, FL_ERR_CONFIG,
			       "config: secrets.restore_key_file = \"%s\" is not an absolute path free of quotes, "
			       "spaces, backslashes and '%%'",
			       o->restore_key_file);
	const char *t = o->restore_target;
	double when;
	uint64_t lsn;
	if (t[0] != '\0' && lsn_parse(t, &lsn) != 0) {
		time_verdict v = timeparse_iso8601(t, &when);
		if (v == TIME_NO_ZONE)
			return fl_fail(
				err, FL_ERR_CONFIG,
				"config: bootstrap.restore_target = \"%s\" has no time zone\nHINT: add Z or +HH:MM, "
				"as in 2026-12-06T10:00:00Z",
				t);
		if (v != TIME_OK)
			return fl_fail(
				err, FL_ERR_CONFIG,
				"config: bootstrap.restore_target = \"%s\" is neither a time (2026-12-06T10:00:00Z) "
				"nor an LSN (0/3000060)",
				t);
	}
	return 0;
}

static int validate_settings(const options *o, fl_err *err)
{
	if (check_name("scope", o->scope, err) < 0 || check_name("name", o->name, err) < 0)
		return -1;
	if (check_hostport("listen", o->listen, err) < 0 ||
	    check_hostport("connect_address", o->connect_address, err) < 0 ||
	    check_hostport("api_listen", o->api_listen, err) < 0 ||
	    check_hostport("api_connect_address", o->api_connect_address, err) < 0)
		return -1;
	if (cluster_check_etcd_endpoints(&o->etcd_endpoints, err) < 0)
		return -1;
	if (o->loop_wait + 1.0 >= (double)o->ttl)
		return fl_fail(err, FL_ERR_CONFIG,
			       "config: ttl = %ld must exceed loop_wait + 1 = %g s\nHINT: the leader fences itself 1 s "
			       "before its lease can expire",
			       o->ttl, o->loop_wait + 1.0);
	if (o->retry_timeout > (double)o->ttl - 1.0)
		return fl_fail(err, FL_ERR_CONFIG, "config: retry_timeout = %g must not exceed ttl - 1 = %ld s",
			       o->retry_timeout, o->ttl - 1);
	if (strcmp(o->watchdog_mode, "off") != 0 && strcmp(o->watchdog_mode, "automatic") != 0 &&
	    strcmp(o->watchdog_mode, "required") != 0)
		return fl_fail(err, FL_ERR_CONFIG,
			       "config: watchdog.mode = \"%s\" is not one of off, automatic, required",
			       o->watchdog_mode);
	if (cluster_check_log_level(o->log_level, err) < 0)
		return -1;
	for (int i = 0; i < o->pg_parameters.n; i++)
		if (strchr(o->pg_parameters.v[i], '=') == NULL)
			return fl_fail(err, FL_ERR_CONFIG,
				       "config: postgresql.parameters item \"%s\" is not name=value",
				       o->pg_parameters.v[i]);
	if (o->backup_url[0] != '\0') {
		const char *problem = http_base_url_problem(o->backup_url);
		if (problem != NULL)
			return fl_fail(err, FL_ERR_CONFIG, "config: backup.url = \"%s\" %s", o->backup_url, problem);
		if (o->backup_token_file[0] != '/')
			return fl_fail(err, FL_ERR_CONFIG,
				       "config: secrets.backup_token_file = \"%s\" is not an absolute path\nHINT: "
				       "backup.url needs the sidecar's token",
				       o->backup_token_file);
		/* Both go into archive_command, which a shell runs: nothing it would read as its own. */
		const char *safe = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._:/@+,=-[]";
		if (strspn(o->backup_url, safe) != strlen(o->backup_url) ||
		    strspn(o->backup_token_file, safe) != strlen(o->backup_token_file))
			return fl_fail(err, FL_ERR_CONFIG,
				       "config: backup.url and secrets.backup_token_file may hold only letters, digits "
				       "and ._:/@+,=-[] (they go into archive_command)");
	}
	if (o->post_init[0] != '\0' && o->post_init[0] != '/')
		return fl_fail(err, FL_ERR_CONFIG, "config: bootstrap.post_init = \"%s\" is not an absolute path",
			       o->post_init);
	if (validate_restore(o, err) < 0 || validate_callbacks(o, err) < 0)
		return -1;
	if (o->clone_max_rate > 0 && o->clone_max_rate < 32)
		return fl_fail(
			err, FL_ERR_CONFIG,
			"config: clone_max_rate = %ld is below pg_basebackup's minimum 32 kB/s\nHINT: 0 means no limit",
			o->clone_max_rate);
	return 0;
}

/* The rules on the local machine: bin_dir holds PostgreSQL's programs. */
static int validate_machine(const options *o, fl_err *err)
{
	static const char *const programs[] = {"postgres", "initdb", "pg_basebackup", "pg_rewind", "pg_controldata"};
	for (unsigned i = 0; i < sizeof programs / sizeof programs[0]; i++) {
		char p[PATH_MAX];
		snprintf(p, sizeof p, "%s/%s", o->bin_dir, programs[i]);
		if (access(p, X_OK) != 0)
			return fl_fail(err, FL_ERR_BINDIR,
				       "bin_dir: %s is not an executable program\nHINT: set bin_dir to the directory "
				       "of PostgreSQL 15's programs, e.g. /usr/lib/postgresql/15/bin",
				       p);
	}
	return 0;
}

int options_read(options *o, const char *path, fl_err *err)
{
	memset(o, 0, sizeof *o);
	if (config_load_named(options_table, options_table_len, o, path, o->named, err) < 0)
		return -1;
	if (o->connect_address[0] == '\0') {
		free(o->connect_address);
		o->connect_address = strdup(o->listen);
	}
	if (o->api_connect_address[0] == '\0') {
		free(o->api_connect_address);
		o->api_connect_address = strdup(o->api_listen);
	}
	return validate_settings(o, err);
}

int options_load(options *o, const char *path, fl_err *err)
{
	if (options_read(o, path, err) < 0)
		return -1;
	return validate_machine(o, err);
}

void options_free(options *o) { config_free(options_table, options_table_len, o); }

int options_check_reload(const options *cur, const options *next, fl_err *err)
{
	if (next->ttl != cur->ttl && strcmp(cur->watchdog_mode, "off") != 0)
		return fl_fail(err, FL_ERR_CONFIG,
			       "config: ttl = %ld differs from the running ttl = %ld s, and watchdog.mode is %s: the "
			       "watchdog's timeout is set from ttl at start\nHINT: restart the agent to change ttl",
			       next->ttl, cur->ttl, cur->watchdog_mode);
	return 0;
}

void options_apply_reloadable(options *cur, options *next)
{
	config_apply_reloadable(options_table, options_table_len, cur, next);
}
