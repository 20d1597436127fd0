/*
 * dynconf: the dynamic configuration's rules; see dynconf.h. The scalar
 * settings take their types and ranges from the replicator's option table,
 * so that a range is declared once.
 */
#include "dynconf.h"

#include <ctype.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

/* The scalar settings a document may hold: option table paths, Patroni's names. */
static const char *const scalar_keys[] = {"ttl", "loop_wait", "retry_timeout", "maximum_lag_on_failover",
					  "synchronous_mode"};
#define N_SCALARS (sizeof scalar_keys / sizeof scalar_keys[0])

/* Written by the agent from its own settings and the cluster's state; a document never sets them. */
static const char *const managed_params[] = {
	"listen_addresses",
	"port",
	"unix_socket_directories",
	"cluster_name",
	"hot_standby",
	"wal_level",
	"primary_conninfo",
	"primary_slot_name",
	"archive_mode",
	"archive_command",
	"restore_command",
	"synchronous_standby_names",
	"data_directory",
	"config_file",
	"hba_file",
	"ident_file",
	"include",
	"include_dir",
	"include_if_exists",
	"recovery_target",
	"recovery_target_lsn",
	"recovery_target_time",
	"recovery_target_xid",
	"recovery_target_name",
	"recovery_target_timeline",
	"recovery_target_action",
	"recovery_target_inclusive",
	"log_line_prefix",
};

static const char *const hba_types[] = {"local", "host", "hostssl", "hostnossl", "hostgssenc", "hostnogssenc"};

static const opt_def *row_of(const char *path)
{
	for (unsigned i = 0; i < options_table_len; i++)
		if (strcmp(options_table[i].path, path) == 0)
			return &options_table[i];
	return NULL;
}

bool dynconf_managed_param(const char *name)
{
	for (size_t i = 0; i < sizeof managed_params / sizeof managed_params[0]; i++)
		if (strcasecmp(name, managed_params[i]) == 0)
			return true;
	return false;
}

/* PostgreSQL's GUC names: a letter or '_', then letters, digits, '_' and '.' (a custom "ext.name"). */
static bool param_name_valid(const char *n)
{
	size_t len = strlen(n);
	if (len == 0 || len > 63 || !(isalpha((unsigned char)n[0]) || n[0] == '_'))
		return false;
	for (size_t i = 0; i < len; i++)
		if (!(isalnum((unsigned char)n[i]) || n[i] == '_' || n[i] == '.'))
			return false;
	return n[len - 1] != '.';
}

static bool printable_line(const char *s)
{
	for (; *s; s++)
		if ((unsigned char)*s < 0x20 || *s == 0x7f)
			return false;
	return true;
}

static int check_scalar(const char *key, const json_t *v, fl_err *err)
{
	const opt_def *d = row_of(key);
	double x;
	switch (d->type) {
	case OPT_BOOL:
		if (!json_is_boolean(v))
			return fl_fail(err, FL_ERR_CONFIG, "config: %s must be true or false", key);
		return 0;
	case OPT_INT:
		if (!json_is_integer(v))
			return fl_fail(err, FL_ERR_CONFIG, "config: %s must be an integer", key);
		x = (double)json_integer_value(v);
		break;
	default:
		if (!json_is_number(v))
			return fl_fail(err, FL_ERR_CONFIG, "config: %s must be a number", key);
		x = json_number_value(v);
		break;
	}
	if (!isfinite(x) || x < d->min || x > d->max)
		return fl_fail(err, FL_ERR_CONFIG, "config: %s = %g is outside the allowed range %g..%g", key, x,
			       d->min, d->max);
	return 0;
}

static int check_params(const json_t *params, fl_err *err)
{
	if (!json_is_object(params))
		return fl_fail(err, FL_ERR_CONFIG, "config: postgresql.parameters must be an object of name: value");
	if (json_object_size(params) > DYNCONF_MAX_PARAMS)
		return fl_fail(err, FL_ERR_CONFIG, "config: postgresql.parameters holds more than %d parameters",
			       DYNCONF_MAX_PARAMS);
	const char *name;
	json_t *v;
	json_object_foreach((json_t *)params, name, v)
	{
		if (!param_name_valid(name))
			return fl_fail(err, FL_ERR_CONFIG,
				       "config: postgresql.parameters: \"%.80s\" is not a parameter name", name);
		if (dynconf_managed_param(name))
			return fl_fail(err, FL_ERR_CONFIG,
				       "config: postgresql.parameters.%s is managed by the agent and cannot be set",
				       name);
		if (json_is_string(v)) {
			if (strlen(json_string_value(v)) >= DYNCONF_VALUE_MAX || !printable_line(json_string_value(v)))
				return fl_fail(
					err, FL_ERR_CONFIG,
					"config: postgresql.parameters.%s must be one printable line shorter than "
					"%d characters",
					name, DYNCONF_VALUE_MAX);
		} else if (!json_is_number(v) && !json_is_boolean(v)) {
			return fl_fail(err, FL_ERR_CONFIG,
				       "config: postgresql.parameters.%s must be a string, a number or a boolean",
				       name);
		}
	}
	return 0;
}

static int check_hba(const json_t *hba, fl_err *err)
{
	if (!json_is_array(hba))
		return fl_fail(err, FL_ERR_CONFIG, "config: postgresql.pg_hba must be a list of pg_hba.conf lines");
	if (json_array_size(hba) > DYNCONF_MAX_HBA)
		return fl_fail(err, FL_ERR_CONFIG, "config: postgresql.pg_hba holds more than %d lines",
			       DYNCONF_MAX_HBA);
	size_t i;
	json_t *v;
	json_array_foreach(hba, i, v)
	{
		const char *line = json_string_value(v);
		if (line == NULL || strlen(line) >= DYNCONF_HBA_LINE_MAX || !printable_line(line))
			return fl_fail(err, FL_ERR_CONFIG,
				       "config: postgresql.pg_hba item %zu must be one printable line shorter than %d "
				       "characters",
				       i + 1, DYNCONF_HBA_LINE_MAX);
		size_t skip = strspn(line, " \t"), len = strcspn(line + skip, " \t");
		bool known = false;
		for (size_t k = 0; k < sizeof hba_types / sizeof hba_types[0]; k++)
			known |= len == strlen(hba_types[k]) && strncmp(line + skip, hba_types[k], len) == 0;
		if (!known)
			return fl_fail(err, FL_ERR_CONFIG,
				       "config: postgresql.pg_hba item %zu \"%.80s\" does not begin with local, host, "
				       "hostssl, hostnossl, hostgssenc or hostnogssenc",
				       i + 1, line);
	}
	return 0;
}

int dynconf_check(const json_t *cfg, fl_err *err)
{
	if (!json_is_object(cfg))
		return fl_fail(err, FL_ERR_CONFIG, "config: the dynamic configuration must be a JSON object");
	const char *key;
	json_t *v;
	json_object_foreach((json_t *)cfg, key, v)
	{
		bool scalar = false;
		for (size_t i = 0; i < N_SCALARS; i++)
			scalar |= strcmp(key, scalar_keys[i]) == 0;
		if (scalar) {
			if (check_scalar(key, v, err) < 0)
				return -1;
			continue;
		}
		if (strcmp(key, "postgresql") != 0)
			return fl_fail(
				err, FL_ERR_CONFIG,
				"config: unknown setting \"%.80s\"\nHINT: the dynamic settings are ttl, loop_wait, "
				"retry_timeout, maximum_lag_on_failover, synchronous_mode, "
				"postgresql.parameters and postgresql.pg_hba",
				key);
		if (!json_is_object(v))
			return fl_fail(err, FL_ERR_CONFIG, "config: postgresql must be an object");
		const char *sub;
		json_t *sv;
		json_object_foreach(v, sub, sv)
		{
			if (strcmp(sub, "parameters") == 0) {
				if (check_params(sv, err) < 0)
					return -1;
			} else if (strcmp(sub, "pg_hba") == 0) {
				if (check_hba(sv, err) < 0)
					return -1;
			} else {
				return fl_fail(
					err, FL_ERR_CONFIG,
					"config: unknown setting \"postgresql.%.80s\" (postgresql holds parameters "
					"and pg_hba)",
					sub);
			}
		}
	}
	return 0;
}

json_t *dynconf_parse(const char *text, fl_err *err)
{
	if (strlen(text) > DYNCONF_MAX_BYTES) {
		fl_fail(err, FL_ERR_CONFIG, "config: the dynamic configuration is larger than %d bytes",
			DYNCONF_MAX_BYTES);
		return NULL;
	}
	json_error_t je;
	json_t *cfg = json_loads(text, JSON_REJECT_DUPLICATES, &je);
	if (cfg == NULL) {
		fl_fail(err, FL_ERR_CONFIG, "config: not JSON: %s (line %d)", je.text, je.line);
		return NULL;
	}
	if (dynconf_check(cfg, err) < 0) {
		json_decref(cfg);
		return NULL;
	}
	return cfg;
}

json_t *dynconf_merge(const json_t *cur, const json_t *patch)
{
	if (!json_is_object(patch))
		return NULL;
	json_t *out = json_is_object(cur) ? json_deep_copy(cur) : json_object();
	const char *key;
	json_t *v;
	json_object_foreach((json_t *)patch, key, v)
	{
		if (json_is_null(v)) {
			json_object_del(out, key);
		} else if (json_is_object(v)) {
			json_t *merged = dynconf_merge(json_object_get(out, key), v);
			json_object_set_new(out, key, merged);
		} else {
			json_object_set_new(out, key, json_deep_copy(v));
		}
	}
	return out;
}

/* A value of the document as the option's text; false when absent. */
static void set_scalar(const opt_def *d, options *o, const json_t *v)
{
	char *field = (char *)o + d->offset;
	switch (d->type) {
	case OPT_BOOL:
		*(bool *)field = v ? json_is_true(v) : strcmp(d->def, "true") == 0;
		break;
	case OPT_INT:
		*(long *)field = v ? (long)json_integer_value(v) : strtol(d->def, NULL, 10);
		break;
	default:
		*(double *)field = v ? json_number_value(v) : strtod(d->def, NULL);
		break;
	}
}

int dynconf_overlay(const json_t *cfg, options *o, fl_err *err)
{
	options next = *o; /* shallow: only scalars change */
	for (size_t i = 0; i < N_SCALARS; i++) {
		const opt_def *d = row_of(scalar_keys[i]);
		size_t row = (size_t)(d - options_table);
		if (o->named[row])
			continue;
		const json_t *v = json_object_get(cfg, scalar_keys[i]);
		if (v && check_scalar(scalar_keys[i], v, err) < 0)
			return -1;
		set_scalar(d, &next, v);
	}
	if (next.loop_wait + 1.0 >= (double)next.ttl)
		return fl_fail(err, FL_ERR_CONFIG,
			       "config: ttl = %ld must exceed loop_wait + 1 = %g s\nHINT: the leader fences itself 1 s "
			       "before its lease can expire",
			       next.ttl, next.loop_wait + 1.0);
	if (next.retry_timeout > (double)next.ttl - 1.0)
		return fl_fail(err, FL_ERR_CONFIG, "config: retry_timeout = %g must not exceed ttl - 1 = %ld s",
			       next.retry_timeout, next.ttl - 1);
	*o = next;
	return 0;
}

int dynconf_overridden(const json_t *cfg, const options *o, const char **names, int max)
{
	int n = 0;
	for (size_t i = 0; i < N_SCALARS && n < max; i++)
		if (json_object_get(cfg, scalar_keys[i]) != NULL && o->named[row_of(scalar_keys[i]) - options_table])
			names[n++] = scalar_keys[i];
	return n;
}

/* A parameter's value as PostgreSQL reads it in a configuration file (before quoting). */
static void param_text(const json_t *v, char *buf, size_t len)
{
	if (json_is_string(v))
		snprintf(buf, len, "%s", json_string_value(v));
	else if (json_is_integer(v))
		snprintf(buf, len, "%lld", (long long)json_integer_value(v));
	else if (json_is_real(v))
		snprintf(buf, len, "%.15g", json_real_value(v));
	else
		snprintf(buf, len, "%s", json_is_true(v) ? "on" : "off");
}

static bool named_in(const str_list *l, const char *name)
{
	size_t n = strlen(name);
	for (int i = 0; l && i < l->n; i++)
		if (strncasecmp(l->v[i], name, n) == 0 && l->v[i][n] == '=')
			return true;
	return false;
}

int dynconf_params_kept(const json_t *cfg, const str_list *own, const char **names, int max)
{
	const json_t *params = json_object_get(json_object_get(cfg, "postgresql"), "parameters");
	int n = 0;
	const char *name;
	json_t *v;
	json_object_foreach((json_t *)params, name, v)
	{
		if (n < max && named_in(own, name))
			names[n++] = name;
	}
	return n;
}

void dynconf_params_free(str_list *l)
{
	for (int i = 0; i < l->n; i++)
		free(l->v[i]);
	free(l->v);
	l->v = NULL;
	l->n = 0;
}

void dynconf_pg_params(const json_t *cfg, const str_list *skip, str_list *out)
{
	dynconf_params_free(out);
	const json_t *params = json_object_get(json_object_get(cfg, "postgresql"), "parameters");
	if (!json_is_object(params))
		return;
	out->v = calloc(json_object_size(params) + 1, sizeof *out->v);
	if (out->v == NULL)
		return;
	const char *name;
	json_t *v;
	json_object_foreach((json_t *)params, name, v)
	{
		if (named_in(skip, name))
			continue;
		char value[DYNCONF_VALUE_MAX + 32], line[DYNCONF_VALUE_MAX + 128];
		param_text(v, value, sizeof value);
		snprintf(line, sizeof line, "%s=%s", name, value);
		out->v[out->n++] = strdup(line);
	}
}

int dynconf_hba(const json_t *cfg, const char **lines, int max)
{
	const json_t *hba = json_object_get(json_object_get(cfg, "postgresql"), "pg_hba");
	int n = 0;
	size_t i;
	json_t *v;
	json_array_foreach(hba, i, v)
	{
		if (n < max && json_is_string(v))
			lines[n++] = json_string_value(v);
	}
	return n;
}

/* A scalar as YAML: bare when it reads back as the same string, JSON-quoted otherwise. */
static void print_scalar(const json_t *v, FILE *f)
{
	if (!json_is_string(v)) {
		char buf[64];
		if (json_is_integer(v))
			snprintf(buf, sizeof buf, "%lld", (long long)json_integer_value(v));
		else if (json_is_real(v))
			snprintf(buf, sizeof buf, "%.15g", json_real_value(v));
		else
			snprintf(buf, sizeof buf, "%s", json_is_true(v) ? "true" : json_is_false(v) ? "false" : "null");
		fputs(buf, f);
		return;
	}
	const char *s = json_string_value(v);
	bool bare = s[0] != '\0' &&
		    strspn(s, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_./") == strlen(s);
	bare &= !isdigit((unsigned char)s[0]) && strcmp(s, "true") != 0 && strcmp(s, "false") != 0 &&
		strcmp(s, "null") != 0 && strcmp(s, "on") != 0 && strcmp(s, "off") != 0;
	if (bare) {
		fputs(s, f);
		return;
	}
	char *q = json_dumps(v, JSON_ENCODE_ANY);
	fputs(q ? q : "\"\"", f);
	free(q);
}

static int key_cmp(const void *a, const void *b) { return strcmp(*(const char *const *)a, *(const char *const *)b); }

static void print_node(const json_t *v, int indent, FILE *f)
{
	const char **keys = calloc(json_object_size(v) + 1, sizeof *keys);
	if (keys == NULL)
		return;
	size_t n = 0;
	const char *key;
	json_t *sub;
	json_object_foreach((json_t *)v, key, sub) keys[n++] = key;
	if (n > 1)
		qsort(keys, n, sizeof *keys, key_cmp);
	for (size_t i = 0; i < n; i++) {
		sub = json_object_get(v, keys[i]);
		fprintf(f, "%*s%s:", indent, "", keys[i]);
		if (json_is_object(sub)) {
			fputc('\n', f);
			print_node(sub, indent + 2, f);
		} else if (json_is_array(sub)) {
			fputc('\n', f);
			size_t k;
			json_t *item;
			json_array_foreach(sub, k, item)
			{
				fprintf(f, "%*s- ", indent + 2, "");
				print_scalar(item, f);
				fputc('\n', f);
			}
		} else {
			fputc(' ', f);
			print_scalar(sub, f);
			fputc('\n', f);
		}
	}
	free(keys);
}

void dynconf_print(const json_t *cfg, FILE *f)
{
	if (json_is_object(cfg))
		print_node(cfg, 0, f);
}

/* The document as "path: value" lines (a list as one JSON value), sorted, into a growing array. */
static void flatten(const json_t *v, const char *prefix, char ***lines, size_t *n)
{
	const char *key;
	json_t *sub;
	json_object_foreach((json_t *)v, key, sub)
	{
		char path[256];
		snprintf(path, sizeof path, "%s%s%s", prefix, prefix[0] ? "." : "", key);
		if (json_is_object(sub)) {
			flatten(sub, path, lines, n);
			continue;
		}
		char *val = json_dumps(sub, JSON_ENCODE_ANY | JSON_COMPACT);
		size_t len = strlen(path) + (val ? strlen(val) : 0) + 3;
		char *line = malloc(len);
		char **grown = realloc(*lines, (*n + 1) * sizeof **lines);
		if (line == NULL || grown == NULL) {
			free(line);
			free(val);
			if (grown)
				*lines = grown;
			return;
		}
		snprintf(line, len, "%s: %s", path, val ? val : "");
		free(val);
		*lines = grown;
		(*lines)[(*n)++] = line;
	}
}

/* The path of a flattened line (up to ": "), for matching old and new. */
static int path_cmp(const char *a, const char *b)
{
	size_t la = strcspn(a, ":"), lb = strcspn(b, ":");
	int c = strncmp(a, b, la < lb ? la : lb);
	return c != 0 ? c : (la > lb) - (la < lb);
}

static int line_cmp(const void *a, const void *b) { return path_cmp(*(char *const *)a, *(char *const *)b); }

int dynconf_diff(const json_t *old, const json_t *new, FILE *f)
{
	char **a = NULL, **b = NULL;
	size_t na = 0, nb = 0, i = 0, j = 0;
	int changes = 0;
	if (json_is_object(old))
		flatten(old, "", &a, &na);
	if (json_is_object(new))
		flatten(new, "", &b, &nb);
	if (na > 1)
		qsort(a, na, sizeof *a, line_cmp);
	if (nb > 1)
		qsort(b, nb, sizeof *b, line_cmp);
	while (i < na || j < nb) {
		int c = i == na ? 1 : j == nb ? -1 : path_cmp(a[i], b[j]);
		if (c == 0 && strcmp(a[i], b[j]) == 0) {
			i++, j++;
			continue;
		}
		changes++;
		if (c <= 0)
			fprintf(f, "-%s\n", a[i++]);
		if (c >= 0)
			fprintf(f, "+%s\n", b[j++]);
	}
	for (i = 0; i < na; i++)
		free(a[i]);
	for (j = 0; j < nb; j++)
		free(b[j]);
	free(a);
	free(b);
	return changes;
}
