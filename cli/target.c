/*
 * target: resolves --dir, --api, --etcd, --config (or their environment
 * variables) into the list of URLs a command asks and, for etcd, the key
 * root. Only syntax is checked here; whether anything answers is the
 * caller's business. An agent's file is read with the agent's own option
 * table (options_read), so the CLI sees the settings the agent sees, its
 * FLOTILLA_* environment overrides included, without needing PostgreSQL's
 * programs on this machine.
 */
#include "target.h"

#include "http.h"

#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include <event2/http.h>
#include <jansson.h>

#include "cluster/keys.h"
#include "common/http_client.h"
#include "cluster/options.h"

#define TARGET_TIMEOUT_MIN 0.1
#define TARGET_TIMEOUT_MAX 3600.0

static const char *env_value(const char *name)
{
	const char *v = getenv(name);
	return v != NULL && v[0] != '\0' ? v : NULL;
}

int target_opt(const char *cmd, int code, const char *arg, target_opts *o, fl_err *err)
{
	char *end = NULL;
	switch (code) {
	case TARGET_OPT_DIR:
		o->dir = arg;
		return 1;
	case TARGET_OPT_API:
		o->api = arg;
		return 1;
	case TARGET_OPT_ETCD:
		o->etcd = arg;
		return 1;
	case TARGET_OPT_CONFIG:
		o->config = arg;
		return 1;
	case TARGET_OPT_SCOPE:
		o->scope = arg;
		return 1;
	case TARGET_OPT_PREFIX:
		o->prefix = arg;
		return 1;
	case TARGET_OPT_TIMEOUT:
		errno = 0;
		o->timeout = strtod(arg, &end);
		if (errno != 0 || end == arg || *end != '\0' || !(o->timeout >= TARGET_TIMEOUT_MIN) ||
		    o->timeout > TARGET_TIMEOUT_MAX)
			return fl_fail(err, FL_ERR_USAGE,
				       "%s: --timeout = \"%s\" is not a number of seconds from %.1f to %.0f", cmd, arg,
				       TARGET_TIMEOUT_MIN, TARGET_TIMEOUT_MAX);
		return 1;
	default:
		return 0;
	}
}

void target_usage(FILE *f)
{
	fprintf(f,
		"\nWhere the cluster is (one of --dir, --api, --etcd, --config; without them the first\n"
		"set of FLOTILLA_DIR, FLOTILLA_API, FLOTILLA_ETCD, FLOTILLA_CONFIG):\n"
		"  --dir DIR           a local cluster: its etcd and scope from DIR/cluster.json   [FLOTILLA_DIR]\n"
		"  --api URL[,URL...]  any node's REST API, e.g. http://127.0.0.1:8008; the first\n"
		"                      that answers is used                                       [FLOTILLA_API]\n"
		"  --etcd URL[,URL...] etcd endpoints, e.g. http://127.0.0.1:2379                 [FLOTILLA_ETCD]\n"
		"  --config FILE       an agent's configuration file (flotilla-replicator --config):\n"
		"                      its etcd.endpoints, scope, etcd.prefix and\n"
		"                      secrets.api_token_file                                     [FLOTILLA_CONFIG]\n"
		"  --scope NAME        the cluster's name (with --etcd; overrides the file's)     [FLOTILLA_SCOPE]\n"
		"  --prefix PREFIX     etcd key prefix (default %s)              [FLOTILLA_ETCD_PREFIX]\n"
		"  --timeout SECONDS   how long the cluster may take to answer (default %.0f)\n\n"
		"Exit codes: 0 ok, 2 usage, 3 malformed cluster.json, configuration file or answer,\n"
		"6 etcd unreachable, 9 no REST API answered, 10 cluster, member or file not found.\n",
		TARGET_DEFAULT_PREFIX, TARGET_DEFAULT_TIMEOUT);
}

void target_clear(target *t)
{
	if (t == NULL)
		return;
	for (int i = 0; i < t->n_urls; i++)
		free(t->urls[i]);
	memset(t, 0, sizeof *t);
}

/* "a,b" into t->urls; what names the option or variable in errors. */
static int urls_split(const char *cmd, const char *what, const char *list, target *t, fl_err *err)
{
	const char *p = list;
	for (;;) {
		size_t len = strcspn(p, ",");
		if (len == 0)
			return fl_fail(err, FL_ERR_USAGE, "%s: %s = \"%s\" has an empty URL", cmd, what, list);
		if (t->n_urls == TARGET_MAX_URLS)
			return fl_fail(err, FL_ERR_USAGE, "%s: %s has more than %d URLs", cmd, what, TARGET_MAX_URLS);
		char *url = strndup(p, len);
		if (url == NULL)
			return fl_fail(err, FL_ERR_INTERNAL, "%s: out of memory", cmd);
		t->urls[t->n_urls++] = url;
		if (len > 1 && url[len - 1] == '/')
			url[len - 1] = '\0';
		const char *problem = http_base_url_problem(url);
		if (problem != NULL)
			return fl_fail(err, FL_ERR_USAGE, "%s: %s: \"%s\" %s", cmd, what, url, problem);
		if (p[len] == '\0')
			return 0;
		p += len + 1;
	}
}

static int scope_set(const char *cmd, const char *what, const char *scope, target *t, fl_err *err)
{
	if (scope[0] == '\0' || strchr(scope, '/') != NULL || strlen(scope) >= sizeof t->scope)
		return fl_fail(err, FL_ERR_USAGE, "%s: %s = \"%s\" is not a cluster name (1 to %zu characters, no '/')",
			       cmd, what, scope, sizeof t->scope - 1);
	snprintf(t->scope, sizeof t->scope, "%s", scope);
	return 0;
}

/*
 * --prefix, else the file's (file_prefix, may be NULL; file_what names it),
 * else the environment, else the default.
 */
static int prefix_set(const char *cmd, const target_opts *o, const char *file_what, const char *file_prefix, target *t,
		      fl_err *err)
{
	const char *what = "--prefix", *prefix = o->prefix;
	if (prefix == NULL && file_prefix != NULL) {
		what = file_what;
		prefix = file_prefix;
	}
	if (prefix == NULL && (prefix = env_value("FLOTILLA_ETCD_PREFIX")) != NULL)
		what = "FLOTILLA_ETCD_PREFIX";
	if (prefix == NULL)
		prefix = TARGET_DEFAULT_PREFIX;
	if (strlen(prefix) >= sizeof t->prefix)
		return fl_fail(err, FL_ERR_USAGE, "%s: %s is longer than %zu characters", cmd, what,
			       sizeof t->prefix - 1);
	/* Verbatim, as the agents build their keys: "<prefix>/<scope>/". */
	snprintf(t->prefix, sizeof t->prefix, "%s", prefix);
	return 0;
}

/* DIR/cluster.json: its scope and etcd endpoints (written by `flotilla local up`). */
static int dir_load(const char *cmd, const target_opts *o, const char *dir, target *t, fl_err *err)
{
	char path[PATH_MAX];
	if ((size_t)snprintf(path, sizeof path, "%s/cluster.json", dir) >= sizeof path)
		return fl_fail(err, FL_ERR_USAGE, "%s: %s is too long a path", cmd, dir);
	json_error_t je;
	json_t *root = json_load_file(path, 0, &je);
	if (root == NULL && access(path, F_OK) < 0)
		return fl_fail(err, FL_ERR_NOT_FOUND,
			       "%s: %s does not exist (%s)\nHINT: start a cluster with flotilla local up --dir %s", cmd,
			       path, strerror(errno), dir);
	if (root == NULL)
		return fl_fail(err, FL_ERR_CONFIG, "%s: %s is not valid JSON: %s (line %d)", cmd, path, je.text,
			       je.line);
	const char *scope = NULL, *prefix = NULL;
	json_t *endpoints = NULL;
	int rc = -1;
	if (json_unpack_ex(root, &je, 0, "{s:s, s:{s:o, s?s}}", "scope", &scope, "etcd", "endpoints", &endpoints,
			   "prefix", &prefix) < 0) {
		fl_fail(err, FL_ERR_CONFIG, "%s: %s is malformed: %s", cmd, path, je.text);
		goto done;
	}
	size_t i;
	json_t *ep;
	if (!json_is_array(endpoints) || json_array_size(endpoints) == 0) {
		fl_fail(err, FL_ERR_CONFIG, "%s: %s: etcd.endpoints is not a non-empty array", cmd, path);
		goto done;
	}
	json_array_foreach(endpoints, i, ep)
	{
		if (!json_is_string(ep)) {
			fl_fail(err, FL_ERR_CONFIG, "%s: %s: etcd.endpoints[%zu] is not a string", cmd, path, i);
			goto done;
		}
		if (urls_split(cmd, "cluster.json etcd.endpoints", json_string_value(ep), t, err) < 0) {
			if (err != NULL)
				err->code = FL_ERR_CONFIG; /* the file is wrong, not the command line */
			goto done;
		}
	}
	if (scope_set(cmd, o->scope ? "--scope" : "cluster.json scope", o->scope ? o->scope : scope, t, err) < 0 ||
	    prefix_set(cmd, o, "cluster.json etcd.prefix", prefix, t, err) < 0)
		goto done;
	/* `local up --tls`: the CA of etcd's and the APIs' certificates, the client certificate, the etcd user. */
	json_t *tls = json_object_get(root, "tls");
	const char *ca = NULL, *cert = NULL, *key = NULL, *user = NULL, *password = NULL;
	if (tls != NULL &&
	    json_unpack_ex(tls, &je, 0, "{s:s, s?s, s?s, s?s, s?s}", "ca_file", &ca, "cert_file", &cert, "key_file",
			   &key, "etcd_username", &user, "etcd_password_file", &password) < 0) {
		fl_fail(err, FL_ERR_CONFIG, "%s: %s: tls is malformed: %s", cmd, path, je.text);
		goto done;
	}
	if (tls != NULL) {
		snprintf(t->etcd_ca_file, sizeof t->etcd_ca_file, "%s", ca);
		snprintf(t->etcd_cert_file, sizeof t->etcd_cert_file, "%s", cert ? cert : "");
		snprintf(t->etcd_key_file, sizeof t->etcd_key_file, "%s", key ? key : "");
		snprintf(t->etcd_username, sizeof t->etcd_username, "%s", user ? user : "");
		snprintf(t->etcd_password_file, sizeof t->etcd_password_file, "%s", password ? password : "");
		http_set_ca_file(ca);
	}
	rc = 0;
done:
	json_decref(root);
	return rc;
}

/*
 * An agent's configuration file: its etcd endpoints, scope, prefix and API
 * token file, read as the agent reads them (file, then FLOTILLA_* overrides).
 */
static int conf_load(const char *cmd, const target_opts *o, const char *path, target *t, fl_err *err)
{
	if (access(path, F_OK) < 0)
		return fl_fail(err, FL_ERR_NOT_FOUND,
			       "%s: configuration file %s does not exist (%s)\nHINT: give the file flotilla-replicator "
			       "--config reads",
			       cmd, path, strerror(errno));
	if (strlen(path) >= sizeof t->config)
		return fl_fail(err, FL_ERR_USAGE, "%s: %s is too long a path", cmd, path);
	snprintf(t->config, sizeof t->config, "%s", path);
	options opts;
	int rc = -1;
	if (options_read(&opts, path, err) < 0) {
		/* Syntax errors name the file and line already; the others only the setting. */
		if (err != NULL && strstr(err->msg, path) == NULL)
			fl_err_prefix(err, "%s: %s", cmd, path);
		else
			fl_err_prefix(err, "%s", cmd);
		goto done;
	}
	char what[PATH_MAX + 32];
	snprintf(what, sizeof what, "%s etcd.endpoints", path);
	for (int i = 0; i < opts.etcd_endpoints.n; i++)
		if (urls_split(cmd, what, opts.etcd_endpoints.v[i], t, err) < 0) {
			if (err != NULL)
				err->code = FL_ERR_CONFIG; /* the file is wrong, not the command line */
			goto done;
		}
	snprintf(what, sizeof what, "%s scope", path);
	if (scope_set(cmd, o->scope ? "--scope" : what, o->scope ? o->scope : opts.scope, t, err) < 0)
		goto done;
	snprintf(what, sizeof what, "%s etcd.prefix", path);
	if (prefix_set(cmd, o, what, opts.etcd_prefix, t, err) < 0)
		goto done;
	snprintf(t->token_file, sizeof t->token_file, "%s", opts.api_token_file);
	snprintf(t->etcd_ca_file, sizeof t->etcd_ca_file, "%s", opts.etcd_ca_file);
	snprintf(t->etcd_cert_file, sizeof t->etcd_cert_file, "%s", opts.etcd_cert_file);
	snprintf(t->etcd_key_file, sizeof t->etcd_key_file, "%s", opts.etcd_key_file);
	snprintf(t->etcd_username, sizeof t->etcd_username, "%s", opts.etcd_username);
	snprintf(t->etcd_password_file, sizeof t->etcd_password_file, "%s", opts.etcd_password_file);
	rc = 0;
done:
	options_free(&opts);
	return rc;
}

static int etcd_setup(const char *cmd, const target_opts *o, const char *what, const char *list, target *t, fl_err *err)
{
	t->kind = TARGET_ETCD;
	if (urls_split(cmd, what, list, t, err) < 0)
		return -1;
	const char *scope = o->scope ? o->scope : env_value("FLOTILLA_SCOPE");
	if (scope == NULL)
		return fl_fail(err, FL_ERR_USAGE,
			       "%s: %s needs the cluster's name\nHINT: add --scope NAME or set FLOTILLA_SCOPE", cmd,
			       what);
	if (scope_set(cmd, o->scope ? "--scope" : "FLOTILLA_SCOPE", scope, t, err) < 0)
		return -1;
	return prefix_set(cmd, o, NULL, NULL, t, err);
}

static int api_setup(const char *cmd, const target_opts *o, const char *what, const char *list, target *t, fl_err *err)
{
	t->kind = TARGET_API;
	if (o->scope != NULL || o->prefix != NULL)
		return fl_fail(err, FL_ERR_USAGE, "%s: %s does not go with %s (the REST API knows its cluster)", cmd,
			       o->scope ? "--scope" : "--prefix", what);
	return urls_split(cmd, what, list, t, err);
}

int target_resolve(const char *cmd, const target_opts *o, target *t, fl_err *err)
{
	memset(t, 0, sizeof *t);
	t->timeout = o->timeout > 0 ? o->timeout : TARGET_DEFAULT_TIMEOUT;
	/* A secured etcd, from the environment; --config reads the file's settings instead. */
	const char *v;
	if ((v = env_value("FLOTILLA_ETCD_CA_FILE")) != NULL)
		snprintf(t->etcd_ca_file, sizeof t->etcd_ca_file, "%s", v);
	if ((v = env_value("FLOTILLA_ETCD_CERT_FILE")) != NULL)
		snprintf(t->etcd_cert_file, sizeof t->etcd_cert_file, "%s", v);
	if ((v = env_value("FLOTILLA_ETCD_KEY_FILE")) != NULL)
		snprintf(t->etcd_key_file, sizeof t->etcd_key_file, "%s", v);
	if ((v = env_value("FLOTILLA_ETCD_USERNAME")) != NULL)
		snprintf(t->etcd_username, sizeof t->etcd_username, "%s", v);
	if ((v = env_value("FLOTILLA_ETCD_PASSWORD_FILE")) != NULL)
		snprintf(t->etcd_password_file, sizeof t->etcd_password_file, "%s", v);
	int given = (o->dir != NULL) + (o->api != NULL) + (o->etcd != NULL) + (o->config != NULL);
	if (given > 1)
		return fl_fail(err, FL_ERR_USAGE, "%s: give only one of --dir, --api, --etcd and --config", cmd);
	const char *dir = o->dir, *api = o->api, *etcd = o->etcd, *config = o->config;
	const char *via_dir = "--dir", *via_api = "--api", *via_etcd = "--etcd", *via_config = "--config";
	if (given == 0) {
		via_dir = "FLOTILLA_DIR";
		via_api = "FLOTILLA_API";
		via_etcd = "FLOTILLA_ETCD";
		via_config = "FLOTILLA_CONFIG";
		if ((dir = env_value(via_dir)) == NULL && (api = env_value(via_api)) == NULL &&
		    (etcd = env_value(via_etcd)) == NULL)
			config = env_value(via_config);
	}
	if (dir != NULL) {
		snprintf(t->via, sizeof t->via, "%s", via_dir);
		snprintf(t->dir, sizeof t->dir, "%s", dir);
		t->kind = TARGET_ETCD;
		return dir_load(cmd, o, dir, t, err);
	}
	if (config != NULL) {
		snprintf(t->via, sizeof t->via, "%s %s", via_config, config);
		t->kind = TARGET_ETCD;
		return conf_load(cmd, o, config, t, err);
	}
	if (api != NULL) {
		snprintf(t->via, sizeof t->via, "%s", via_api);
		return api_setup(cmd, o, via_api, api, t, err);
	}
	if (etcd != NULL) {
		snprintf(t->via, sizeof t->via, "%s", via_etcd);
		return etcd_setup(cmd, o, via_etcd, etcd, t, err);
	}
	return fl_fail(err, FL_ERR_USAGE,
		       "%s: which cluster? none of --dir, --api, --etcd and --config is given\nHINT: pass --dir DIR, "
		       "--api URL, --etcd URL --scope NAME or --config FILE (or set FLOTILLA_DIR, FLOTILLA_API, "
		       "FLOTILLA_ETCD or FLOTILLA_CONFIG)",
		       cmd);
}

int target_getopt(const char *cmd, int argc, char **argv, const struct option *longopts, target_opts *o,
		  target_own_fn own, void *self, bool *help, fl_err *err)
{
	memset(o, 0, sizeof *o);
	*help = false;
	optind = 1;
	opterr = 0;
	int c;
	while ((c = getopt_long(argc, argv, ":h", longopts, NULL)) != -1) {
		if (c == 'h') {
			*help = true;
			return 0;
		}
		int handled = target_opt(cmd, c, optarg, o, err);
		if (handled < 0)
			return -1;
		if (handled > 0)
			continue;
		const char *arg = argv[optind - 1];
		int rc = c == ':' || c == '?' || own == NULL ? 1 : own(self, c, optarg, arg, err);
		if (rc < 0)
			return -1;
		if (rc > 0)
			return target_bad_option(cmd, c, arg, err);
	}
	return 0;
}

int target_seconds(const char *cmd, const char *name, const char *value, double max, double *out, fl_err *err)
{
	char *end = NULL;
	errno = 0;
	double v = strtod(value, &end);
	if (errno != 0 || end == value || *end != '\0' || !(v > 0) || v > max)
		return fl_fail(err, FL_ERR_USAGE, "%s: --%s = \"%s\" is not a number of seconds from 0 to %g", cmd,
			       name, value, max);
	*out = v;
	return 0;
}

/* The --json of the read commands. */
static int json_opt(void *self, int code, const char *value, const char *arg, fl_err *err)
{
	(void)value;
	(void)arg;
	(void)err;
	if (code != 'j')
		return 1;
	*(bool *)self = true;
	return 0;
}

int target_parse_args(const char *cmd, int argc, char **argv, target_opts *o, bool *json, bool *help, fl_err *err)
{
	static const struct option longopts[] = {
		TARGET_LONGOPTS,
		{"json", no_argument, NULL, 'j'},
		{"help", no_argument, NULL, 'h'},
		{NULL, 0, NULL, 0},
	};
	*json = false;
	return target_getopt(cmd, argc, argv, longopts, o, json_opt, json, help, err);
}

int target_bad_option(const char *cmd, int c, const char *arg, fl_err *err)
{
	if (c == ':')
		return fl_fail(err, FL_ERR_USAGE, "%s: option %s needs a value\nHINT: run flotilla %s --help", cmd, arg,
			       cmd);
	if (c == '?' && optopt != 0 && optopt < 0x100)
		return fl_fail(err, FL_ERR_USAGE, "%s: unknown option \"-%c\"\nHINT: run flotilla %s --help", cmd,
			       optopt, cmd);
	return fl_fail(err, FL_ERR_USAGE, "%s: unknown option \"%s\"\nHINT: run flotilla %s --help", cmd, arg, cmd);
}

int target_read_cluster(const target *t, char *root, size_t root_len, etcd_kvs *kvs, fl_err *err)
{
	keys_root(t->prefix, t->scope, root, root_len);
	etcd *e = target_etcd(t, err);
	if (e == NULL)
		return -1;
	int rc = etcd_get_prefix(e, root, kvs, err);
	etcd_free(e);
	if (rc < 0) {
		if (err != NULL)
			snprintf(err->msg + strlen(err->msg), sizeof err->msg - strlen(err->msg),
				 "\nHINT: is etcd running there? The endpoints came from %s", t->via);
		return -1;
	}
	if (kvs->n == 0) {
		etcd_kvs_free(kvs);
		return fl_fail(err, FL_ERR_NOT_FOUND,
			       "etcd: no cluster \"%s\": no key under %s\nHINT: check the scope (--scope) and the key "
			       "prefix (--prefix)",
			       t->scope, root);
	}
	return 0;
}

etcd *target_etcd(const target *t, fl_err *err)
{
	etcd_security sec = {.ca_file = t->etcd_ca_file,
			     .cert_file = t->etcd_cert_file,
			     .key_file = t->etcd_key_file,
			     .username = t->etcd_username,
			     .password_file = t->etcd_password_file};
	etcd *e = etcd_new(t->urls, t->n_urls, &sec, err);
	if (e != NULL)
		etcd_set_timeout(e, t->timeout);
	return e;
}
