/*
 * options: every setting of flotilla-replicator, declared once in a table
 * (options.c) that drives parsing, validation, --help, the sample file and
 * the docs. This is the agent's configuration file: the replicator loads it,
 * and the CLI reads it as patronictl -c reads Patroni's (options_read).
 */
#ifndef FL_REPLICATOR_OPTIONS_H
#define FL_REPLICATOR_OPTIONS_H

#include <stdbool.h>

#include "common/config.h"
#include "common/log.h"

#define OPTIONS_MAX 96

typedef struct options {
	char *scope;
	char *name;
	char *data_dir;
	char *bin_dir;
	char *state_dir;
	char *listen;          /* host:port PostgreSQL listens on */
	char *connect_address; /* host:port other nodes use to reach this PostgreSQL */
	char *api_listen;      /* host:port of the REST API */
	char *api_connect_address;
	char *api_cert_file, *api_key_file; /* HTTPS on the REST API ("": plain HTTP) */
	str_list etcd_endpoints;
	char *etcd_prefix;
	char *etcd_ca_file, *etcd_cert_file, *etcd_key_file; /* TLS to etcd */
	char *etcd_username, *etcd_password_file;            /* etcd authentication */
	bool etcd_watch;                                     /* watch etcd, besides reading it */
	long ttl;
	double loop_wait;
	double retry_timeout;
	long maximum_lag_on_failover;
	bool synchronous_mode;
	long max_restarts;
	double restart_window;
	bool nofailover;
	bool noloadbalance;
	long priority;
	long clone_max_rate;  /* kB/s of pg_basebackup, 0 unlimited */
	char *post_init;      /* program run after the bootstrap; "" for none */
	char *restore_repo;   /* bootstrap from this backup repository rather than initdb; "" for initdb */
	char *restore_target; /* "" (the archive's end), a zoned time or an LSN */
	double restore_timeout;
	char *restore_key_file;                                 /* the repository's passphrase; "" for none */
	char *on_start, *on_stop, *on_restart, *on_role_change; /* callbacks: programs, "" for none */
	double callback_timeout;
	char *superuser;
	char *superuser_password_file;
	char *replication_user;
	char *replication_password_file;
	char *api_token_file;
	char *backup_url;        /* the backup sidecar: WAL archived there; "" for none */
	char *backup_token_file; /* its bearer token */
	char *watchdog_mode;     /* off, automatic, required */
	char *watchdog_device;   /* /dev/watchdog */
	char *log_level;
	str_list pg_parameters;  /* extra "name=value" PostgreSQL settings */
	bool named[OPTIONS_MAX]; /* named[i]: the file or the environment set options_table[i] */
} options;

extern const opt_def options_table[];
extern const unsigned options_table_len;

/* Loads and validates `path`; on failure `err` names the setting and line. */
int options_load(options *o, const char *path, fl_err *err);
/*
 * As options_load without the checks of the local machine (bin_dir): for a
 * reader of an agent's file that runs no PostgreSQL itself, as the CLI.
 */
int options_read(options *o, const char *path, fl_err *err);
void options_free(options *o);

/* Moves reloadable settings of next into cur (next keeps the old values, to be freed) and warns about the others. */
void options_apply_reloadable(options *cur, options *next);
/*
 * Whether next (valid on its own: ttl, loop_wait and retry_timeout are
 * checked together when it is loaded) may be applied to a running agent:
 * a new ttl is refused whole while a watchdog is in use, whose timeout
 * was set from the ttl at start.
 */
int options_check_reload(const options *cur, const options *next, fl_err *err);
#endif
