/*
 * target: which cluster a command looks at, and through what. The operator
 * names it with --dir DIR (a local cluster's cluster.json, read for its etcd
 * endpoints and scope), --api URL (any node's REST API), --etcd URL --scope
 * NAME, or --config FILE (an agent's configuration file, read as the agent
 * reads it, for its etcd endpoints, scope, prefix and API token file), or
 * with the environment variables FLOTILLA_DIR, FLOTILLA_API, FLOTILLA_ETCD,
 * FLOTILLA_CONFIG and FLOTILLA_SCOPE. The command line beats the environment;
 * among the variables the first set of DIR, API, ETCD, CONFIG wins.
 * The options are declared once here (TARGET_LONGOPTS, target_usage) and each
 * command's getopt loop hands them to target_opt.
 */
#ifndef FL_CLI_TARGET_H
#define FL_CLI_TARGET_H

#include <getopt.h>
#include <limits.h>
#include <stdbool.h>
#include <stdio.h>

#include "common/err.h"
#include "common/etcd.h"

#define TARGET_MAX_URLS 16
#define TARGET_SCOPE_MAX 64
#define TARGET_PREFIX_MAX 128
#define TARGET_DEFAULT_PREFIX "/flotilla"
#define TARGET_DEFAULT_TIMEOUT 3.0

/* getopt_long codes of the shared options, above any short option. */
enum {
	TARGET_OPT_DIR = 0x100,
	TARGET_OPT_API,
	TARGET_OPT_ETCD,
	TARGET_OPT_SCOPE,
	TARGET_OPT_PREFIX,
	TARGET_OPT_TIMEOUT,
	TARGET_OPT_CONFIG,
};

#define TARGET_LONGOPTS                                                                                                \
	{"dir", required_argument, NULL, TARGET_OPT_DIR}, {"api", required_argument, NULL, TARGET_OPT_API},            \
		{"etcd", required_argument, NULL, TARGET_OPT_ETCD},                                                    \
		{"scope", required_argument, NULL, TARGET_OPT_SCOPE},                                                  \
		{"prefix", required_argument, NULL, TARGET_OPT_PREFIX},                                                \
		{"timeout", required_argument, NULL, TARGET_OPT_TIMEOUT},                                              \
	{                                                                                                              \
		"config", required_argument, NULL, TARGET_OPT_CONFIG                                                   \
	}

/* The options as given on the command line; NULL when absent. */
typedef struct target_opts {
	const char *dir;
	const char *api;
	const char *etcd;
	const char *config;
	const char *scope;
	const char *prefix;
	double timeout; /* 0 when absent */
} target_opts;

typedef enum target_kind { TARGET_ETCD, TARGET_API } target_kind;

typedef struct target {
	target_kind kind;
	char scope[TARGET_SCOPE_MAX];   /* etcd: the cluster's name */
	char prefix[TARGET_PREFIX_MAX]; /* etcd: keys live under <prefix>/<scope>/ */
	char *urls[TARGET_MAX_URLS];    /* etcd endpoints or REST API base URLs, tried in order */
	int n_urls;
	double timeout;            /* seconds the cluster may take to answer */
	char via[PATH_MAX + 32];   /* "--dir", "FLOTILLA_API", "--config FILE", ...: where the choice came from */
	char dir[PATH_MAX];        /* --dir or FLOTILLA_DIR: the local cluster's directory; else "" */
	char config[PATH_MAX];     /* --config or FLOTILLA_CONFIG: the agent's file; else "" */
	char token_file[PATH_MAX]; /* with config: its secrets.api_token_file ("" when unset) */
	/* How to reach a secured etcd: the file's etcd.ca_file, etcd.cert_file, secrets.etcd_key_file, etcd.username
	 * and secrets.etcd_password_file with --config, else FLOTILLA_ETCD_CA_FILE, ..._CERT_FILE, ..._KEY_FILE,
	 * FLOTILLA_ETCD_USERNAME and FLOTILLA_ETCD_PASSWORD_FILE ("" when unset). */
	char etcd_ca_file[PATH_MAX], etcd_cert_file[PATH_MAX], etcd_key_file[PATH_MAX];
	char etcd_username[128], etcd_password_file[PATH_MAX];
} target;

/* Handles one getopt code: 1 when it was a target option, 0 when not, -1 on a bad value. */
int target_opt(const char *cmd, int code, const char *arg, target_opts *o, fl_err *err);

/*
 * The whole command line of a read-only command: the target options, --json
 * and --help. Positional arguments are left at argv[optind..].
 */
int target_parse_args(const char *cmd, int argc, char **argv, target_opts *o, bool *json, bool *help, fl_err *err);

/*
 * Options, environment and cluster.json or the agent's file into t (cleared
 * with target_clear, even after a failure). A missing file fails with
 * FL_ERR_NOT_FOUND, a malformed one with FL_ERR_CONFIG naming the file.
 */
int target_resolve(const char *cmd, const target_opts *o, target *t, fl_err *err);
void target_clear(target *t);
/*
 * Reads every key of the target's cluster from etcd into kvs and its key root
 * ("<prefix>/<scope>/") into root. An unreachable etcd fails naming where the
 * endpoints came from; no key at all fails with FL_ERR_NOT_FOUND.
 */
int target_read_cluster(const target *t, char *root, size_t root_len, etcd_kvs *kvs, fl_err *err);
/* An etcd client for the target's endpoints, with its TLS and credentials and its timeout. */
etcd *target_etcd(const target *t, fl_err *err);

/*
 * The usage error for a getopt_long code the command did not take: ':' (a
 * missing value) or an unknown option; arg is argv[optind - 1]. Returns -1.
 */
int target_bad_option(const char *cmd, int c, const char *arg, fl_err *err);

/*
 * A command's option of its own: 0 taken, -1 refused (err filled), 1 not one
 * of its options. code is getopt's, value its argument, arg the word as typed.
 */
typedef int (*target_own_fn)(void *self, int code, const char *value, const char *arg, fl_err *err);
/*
 * The getopt loop every command runs over longopts (TARGET_LONGOPTS, its own
 * options, --help as 'h'): the target options fill o, the others go to own;
 * *help set stops the loop. Positional arguments start at optind after it.
 */
int target_getopt(const char *cmd, int argc, char **argv, const struct option *longopts, target_opts *o,
		  target_own_fn own, void *self, bool *help, fl_err *err);
/* "--name" seconds in (0, max]; fails naming the option and the value. */
int target_seconds(const char *cmd, const char *name, const char *value, double max, double *out, fl_err *err);

/* The help text of the shared options and of the exit codes. */
void target_usage(FILE *f);

#endif
