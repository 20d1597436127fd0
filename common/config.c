/*
 * config: option-table driven loading of libconfig files. Defaults are applied
 * first, then the file (when there is one), then the environment; every value
 * is range-checked after the last source so that an override cannot slip past
 * validation.
 */
#include "config.h"

#include "log.h"

#include <errno.h>
#include <libconfig.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

static void *field(void *out, const opt_def *o) { return (char *)out + o->offset; }

static void list_free(str_list *l)
{
	for (int i = 0; i < l->n; i++)
		free(l->v[i]);
	free(l->v);
	l->v = NULL;
	l->n = 0;
}

/* Splits "a,b , c" into a list; empty items are dropped. */
static void list_from_text(str_list *l, const char *text)
{
	list_free(l);
	char *copy = strdup(text);
	char *save = NULL;
	for (char *tok = strtok_r(copy, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
		while (*tok == ' ')
			tok++;
		char *end = tok + strlen(tok);
		while (end > tok && end[-1] == ' ')
			*--end = '\0';
		if (*tok == '\0')
			continue;
		l->v = realloc(l->v, sizeof(char *) * (size_t)(l->n + 1));
		l->v[l->n++] = strdup(tok);
	}
	free(copy);
}

/* Parses `text` (a default or an environment value) into the option's field. */
static int set_from_text(void *out, const opt_def *o, const char *text, const char *origin, fl_err *err)
{
	char *end = NULL;
	switch (o->type) {
	case OPT_STRING: {
		char **s = field(out, o);
		free(*s);
		*s = strdup(text);
		return 0;
	}
	case OPT_INT: {
		errno = 0;
		long v = strtol(text, &end, 10);
		if (errno || end == text || *end != '\0')
			return fl_fail(err, FL_ERR_CONFIG, "config: %s = \"%s\" (%s) is not an integer", o->path, text,
				       origin);
		*(long *)field(out, o) = v;
		return 0;
	}
	case OPT_DOUBLE: {
		errno = 0;
		double v = strtod(text, &end);
		if (errno || end == text || *end != '\0' || !isfinite(v))
			return fl_fail(err, FL_ERR_CONFIG, "config: %s = \"%s\" (%s) is not a number", o->path, text,
				       origin);
		*(double *)field(out, o) = v;
		return 0;
	}
	case OPT_BOOL:
		if (strcmp(text, "true") == 0 || strcmp(text, "on") == 0 || strcmp(text, "1") == 0)
			*(bool *)field(out, o) = true;
		else if (strcmp(text, "false") == 0 || strcmp(text, "off") == 0 || strcmp(text, "0") == 0)
			*(bool *)field(out, o) = false;
		else
			return fl_fail(err, FL_ERR_CONFIG, "config: %s = \"%s\" (%s) is not a boolean (true or false)",
				       o->path, text, origin);
		return 0;
	case OPT_LIST:
		list_from_text(field(out, o), text);
		return 0;
	}
	return fl_fail(err, FL_ERR_INTERNAL, "config: %s has an unknown type", o->path);
}

static const char *type_name(opt_type t)
{
	static const char *const names[] = {"string", "integer", "number", "boolean", "list of strings"};
	return names[t];
}

static int set_from_setting(void *out, const opt_def *o, config_setting_t *s, const char *file, fl_err *err)
{
	int line = config_setting_source_line(s);
	int t = config_setting_type(s);
	switch (o->type) {
	case OPT_STRING:
		if (t != CONFIG_TYPE_STRING)
			break;
		return set_from_text(out, o, config_setting_get_string(s), file, err);
	case OPT_INT:
		if (t != CONFIG_TYPE_INT && t != CONFIG_TYPE_INT64)
			break;
		*(long *)field(out, o) = (long)config_setting_get_int64(s);
		return 0;
	case OPT_DOUBLE:
		if (t == CONFIG_TYPE_FLOAT)
			*(double *)field(out, o) = config_setting_get_float(s);
		else if (t == CONFIG_TYPE_INT || t == CONFIG_TYPE_INT64)
			*(double *)field(out, o) = (double)config_setting_get_int64(s);
		else
			break;
		return 0;
	case OPT_BOOL:
		if (t != CONFIG_TYPE_BOOL)
			break;
		*(bool *)field(out, o) = config_setting_get_bool(s);
		return 0;
	case OPT_LIST: {
		if (t == CONFIG_TYPE_STRING)
			return set_from_text(out, o, config_setting_get_string(s), file, err);
		if (t != CONFIG_TYPE_ARRAY && t != CONFIG_TYPE_LIST)
			break;
		str_list *l = field(out, o);
		list_free(l);
		for (int i = 0; i < config_setting_length(s); i++) {
			const char *v = config_setting_get_string_elem(s, i);
			if (v == NULL) {
				list_free(l);
				return fl_fail(err, FL_ERR_CONFIG, "config: %s item %d is not a string (%s line %d)",
					       o->path, i + 1, file, line);
			}
			l->v = realloc(l->v, sizeof(char *) * (size_t)(l->n + 1));
			l->v[l->n++] = strdup(v);
		}
		return 0;
	}
	}
	return fl_fail(err, FL_ERR_CONFIG, "config: %s must be a %s (%s line %d)", o->path, type_name(o->type), file,
		       line);
}

static const opt_def *find_opt(const opt_def *table, size_t n, const char *path)
{
	for (size_t i = 0; i < n; i++)
		if (strcmp(table[i].path, path) == 0)
			return &table[i];
	return NULL;
}

/* Rejects settings the table does not declare, so that typos are not ignored. */
static int check_unknown(const opt_def *table, size_t n, config_setting_t *group, const char *prefix, const char *file,
			 fl_err *err)
{
	for (int i = 0; i < config_setting_length(group); i++) {
		config_setting_t *s = config_setting_get_elem(group, (unsigned)i);
		char path[256];
		snprintf(path, sizeof path, "%s%s%s", prefix, prefix[0] ? "." : "", config_setting_name(s));
		if (config_setting_type(s) == CONFIG_TYPE_GROUP) {
			if (check_unknown(table, n, s, path, file, err) < 0)
				return -1;
			continue;
		}
		if (find_opt(table, n, path) == NULL)
			return fl_fail(err, FL_ERR_CONFIG, "config: unknown setting \"%s\" (%s line %d)", path, file,
				       config_setting_source_line(s));
	}
	return 0;
}

static int check_range(void *out, const opt_def *o, fl_err *err)
{
	if (o->min > o->max)
		return 0;
	double v;
	if (o->type == OPT_INT)
		v = (double)*(long *)field(out, o);
	else if (o->type == OPT_DOUBLE)
		v = *(double *)field(out, o);
	else
		return 0;
	if (v < o->min || v > o->max)
		return fl_fail(err, FL_ERR_CONFIG, "config: %s = %g is outside the allowed range %g..%g", o->path, v,
			       o->min, o->max);
	return 0;
}

static int check_required(void *out, const opt_def *o, fl_err *err)
{
	const char *where = o->env ? o->env : "";
	bool missing = o->type == OPT_STRING && *(char **)field(out, o) == NULL;
	bool empty = o->type == OPT_LIST && o->def == NULL && ((str_list *)field(out, o))->n == 0;
	if (!missing && !empty)
		return 0;
	return fl_fail(err, FL_ERR_CONFIG, "config: required setting \"%s\" is missing%s%s%s%s", o->path,
		       empty ? " or empty" : "", where[0] ? " (set it in the file or in " : "", where,
		       where[0] ? ")" : "");
}

bool config_is_secret(const opt_def *o) { return strncmp(o->path, "secrets.", 8) == 0; }

/*
 * A secret option names a file, through NAME_FILE in the environment; the
 * value itself never comes from the environment (it would show in `docker
 * inspect` and /proc), so NAME set is an error, and so is NAME beside NAME_FILE.
 */
static int check_secret_env(const opt_def *o, fl_err *err)
{
	size_t n = o->env ? strlen(o->env) : 0;
	if (!config_is_secret(o) || n <= 5 || strcmp(o->env + n - 5, "_FILE") != 0)
		return 0;
	char value_env[128];
	snprintf(value_env, sizeof value_env, "%.*s", (int)(n - 5), o->env);
	if (getenv(value_env) == NULL)
		return 0;
	if (getenv(o->env) != NULL)
		return fl_fail(
			err, FL_ERR_CONFIG,
			"config: both %s and %s are set\nHINT: set only %s, to the path of a file holding the secret",
			value_env, o->env, o->env);
	return fl_fail(err, FL_ERR_CONFIG,
		       "config: %s is set, but secrets are read only from files\nHINT: put the secret in a file (a "
		       "Docker secret) and set %s to its path",
		       value_env, o->env);
}

int config_load(const opt_def *table, size_t n, void *out, const char *path, fl_err *err)
{
	return config_load_named(table, n, out, path, NULL, err);
}

int config_load_named(const opt_def *table, size_t n, void *out, const char *path, bool *named, fl_err *err)
{
	config_t cfg;
	int rc = -1;
	config_init(&cfg);
	if (named)
		memset(named, 0, n * sizeof *named);
	for (size_t i = 0; i < n; i++)
		if (table[i].def && set_from_text(out, &table[i], table[i].def, "default", err) < 0)
			goto done;
	if (path) {
		FILE *f = fopen(path, "r");
		if (f == NULL) {
			fl_fail(err, FL_ERR_CONFIG, "config: cannot open %s: %s", path, strerror(errno));
			goto done;
		}
		int ok = config_read(&cfg, f);
		fclose(f);
		if (!ok) {
			fl_fail(err, FL_ERR_CONFIG, "config: %s line %d: %s", path, config_error_line(&cfg),
				config_error_text(&cfg));
			goto done;
		}
		if (check_unknown(table, n, config_root_setting(&cfg), "", path, err) < 0)
			goto done;
		for (size_t i = 0; i < n; i++) {
			config_setting_t *s = config_lookup(&cfg, table[i].path);
			if (s && set_from_setting(out, &table[i], s, path, err) < 0)
				goto done;
			if (s && named)
				named[i] = true;
		}
	}
	for (size_t i = 0; i < n; i++) {
		const char *v = table[i].env ? getenv(table[i].env) : NULL;
		/* Compose's ${VAR:-} passes an empty value for an unset one: a number or a boolean takes it so. */
		if (v && v[0] == '\0' && table[i].type != OPT_STRING && table[i].type != OPT_LIST)
			v = NULL;
		if (check_secret_env(&table[i], err) < 0 ||
		    (v && set_from_text(out, &table[i], v, table[i].env, err) < 0))
			goto done;
		if (v && named)
			named[i] = true;
	}
	for (size_t i = 0; i < n; i++)
		if (check_required(out, &table[i], err) < 0 || check_range(out, &table[i], err) < 0)
			goto done;
	rc = 0;
done:
	config_destroy(&cfg);
	return rc;
}

static bool same_value(const opt_def *d, const void *a, const void *b)
{
	const char *pa = (const char *)a + d->offset, *pb = (const char *)b + d->offset;
	switch (d->type) {
	case OPT_STRING:
		return strcmp(*(char *const *)pa, *(char *const *)pb) == 0;
	case OPT_INT:
		return *(const long *)pa == *(const long *)pb;
	case OPT_DOUBLE:
		return *(const double *)pa == *(const double *)pb;
	case OPT_BOOL:
		return *(const bool *)pa == *(const bool *)pb;
	case OPT_LIST: {
		const str_list *la = (const str_list *)pa, *lb = (const str_list *)pb;
		if (la->n != lb->n)
			return false;
		for (int i = 0; i < la->n; i++)
			if (strcmp(la->v[i], lb->v[i]) != 0)
				return false;
		return true;
	}
	}
	return true;
}

static size_t value_size(opt_type t)
{
	switch (t) {
	case OPT_STRING:
		return sizeof(char *);
	case OPT_INT:
		return sizeof(long);
	case OPT_DOUBLE:
		return sizeof(double);
	case OPT_BOOL:
		return sizeof(bool);
	case OPT_LIST:
		return sizeof(str_list);
	}
	return 0;
}

void config_apply_reloadable(const opt_def *table, size_t n, void *cur, void *next)
{
	for (size_t i = 0; i < n; i++) {
		const opt_def *d = &table[i];
		if (same_value(d, cur, next))
			continue;
		if (!d->reload) {
			log_warn("config: %s changed; restart the daemon to apply it", d->path);
			continue;
		}
		char tmp[sizeof(str_list)];
		size_t sz = value_size(d->type);
		memcpy(tmp, (char *)cur + d->offset, sz);
		memcpy((char *)cur + d->offset, (char *)next + d->offset, sz);
		memcpy((char *)next + d->offset, tmp, sz);
		log_info("config: %s reloaded", d->path);
	}
}

void config_free(const opt_def *table, size_t n, void *out)
{
	for (size_t i = 0; i < n; i++) {
		if (table[i].type == OPT_STRING) {
			char **s = field(out, &table[i]);
			free(*s);
			*s = NULL;
		} else if (table[i].type == OPT_LIST) {
			list_free(field(out, &table[i]));
		}
	}
}

static void print_value(FILE *f, const opt_def *o)
{
	if (o->def == NULL) {
		fprintf(f, "\"\"; # required");
		return;
	}
	if (o->type == OPT_STRING) {
		fprintf(f, "\"%s\";", o->def);
	} else if (o->type == OPT_LIST) {
		str_list l = {0};
		list_from_text(&l, o->def);
		fprintf(f, "[");
		for (int i = 0; i < l.n; i++)
			fprintf(f, "%s\"%s\"", i ? ", " : "", l.v[i]);
		fprintf(f, "];");
		list_free(&l);
	} else if (o->type == OPT_DOUBLE && strchr(o->def, '.') == NULL) {
		fprintf(f, "%s.0;", o->def);
	} else {
		fprintf(f, "%s;", o->def);
	}
}

void config_print_sample(const opt_def *table, size_t n, FILE *f)
{
	char group[64] = "";
	for (size_t i = 0; i < n; i++) {
		const opt_def *o = &table[i];
		const char *dot = strrchr(o->path, '.');
		char g[64] = "";
		if (dot)
			snprintf(g, sizeof g, "%.*s", (int)(dot - o->path), o->path);
		if (strcmp(g, group) != 0) {
			if (group[0])
				fprintf(f, "};\n");
			if (g[0])
				fprintf(f, "%s = {\n", g);
			snprintf(group, sizeof group, "%s", g);
		}
		const char *indent = g[0] ? "  " : "";
		fprintf(f, "%s# %s", indent, o->doc);
		if (o->env)
			fprintf(f, " (env %s)", o->env);
		if (o->min <= o->max)
			fprintf(f, " [%.16g..%.16g]", o->min, o->max);
		fprintf(f, "\n%s%s = ", indent, dot ? dot + 1 : o->path);
		print_value(f, o);
		fprintf(f, "\n");
	}
	if (group[0])
		fprintf(f, "};\n");
}

void config_print_markdown(const opt_def *table, size_t n, FILE *f)
{
	fprintf(f, "| setting | type | default | range | reload | environment | meaning |\n");
	fprintf(f, "|---|---|---|---|---|---|---|\n");
	for (size_t i = 0; i < n; i++) {
		const opt_def *o = &table[i];
		char range[64] = "";
		if (o->min <= o->max)
			snprintf(range, sizeof range, "%.16g..%.16g", o->min, o->max);
		fprintf(f, "| `%s` | %s | %s | %s | %s | %s | %s |\n", o->path, type_name(o->type),
			o->def ? (o->def[0] ? o->def : "(empty)") : "required", range, o->reload ? "yes" : "no",
			o->env ? o->env : "", o->doc);
	}
}
