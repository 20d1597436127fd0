/*
 * fuzz_dynconf: libFuzzer target of the dynamic configuration, which comes
 * from PATCH and PUT /config bodies and from whoever can write etcd's config
 * key. The input is two documents split at the first NUL or, failing that,
 * the first newline: the stored one and a change. Each is parsed and checked;
 * the change is merged into the stored one and the result checked again,
 * overlaid onto an agent's default options, turned into parameters (each
 * value checked against a few pg_settings rows) and pg_hba lines, printed as
 * YAML and diffed. Besides the sanitizers' checks: a document that passes
 * the check overlays into options whose ttl exceeds loop_wait + 1 and
 * retry_timeout + 1, or leaves them as they were; a document diffed against
 * itself has no change; every parameter line is name=value with a name the
 * check allowed.
 *   cmake --build build-fuzz --target fuzz_dynconf
 *   build-fuzz/tests/fuzz/fuzz_dynconf -max_total_time=60 -dict=tests/fuzz/dynconf.dict tests/fuzz/corpus/dynconf
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cluster/dynconf.h"
#include "pg/pgsetting.h"

#define FUZZ_INPUT_MAX 8192

static const pgsetting rows[] = {
	{"shared_buffers", "integer", "8kB", "postmaster", 16, 1073741823, ""},
	{"work_mem", "integer", "kB", "user", 64, 2147483647, ""},
	{"statement_timeout", "integer", "ms", "user", 0, 2147483647, ""},
	{"random_page_cost", "real", "", "user", 0, 1.79769e+308, ""},
	{"jit", "bool", "", "user", 0, 0, ""},
	{"wal_compression", "enum", "", "superuser", 0, 0, "pglz,lz4,zstd,on,off"},
	{"search_path", "string", "", "user", 0, 0, ""},
};

static void defaults(options *o)
{
	memset(o, 0, sizeof *o);
	o->ttl = 3;
	o->loop_wait = 0.5;
	o->retry_timeout = 1.0;
	o->maximum_lag_on_failover = 1048576;
}

static void exercise(const json_t *doc, FILE *sink)
{
	options o;
	defaults(&o);
	fl_err err = {0};
	if (dynconf_overlay(doc, &o, &err) == 0) {
		if (!(o.loop_wait + 1.0 < (double)o.ttl && o.retry_timeout <= (double)o.ttl - 1.0))
			abort();
	} else if (o.ttl != 3 || o.loop_wait != 0.5 || o.retry_timeout != 1.0) {
		abort(); /* a refusal changes nothing */
	}
	str_list params = {0};
	dynconf_pg_params(doc, NULL, &params);
	for (int i = 0; i < params.n; i++) {
		char *eq = strchr(params.v[i], '=');
		if (eq == NULL || eq == params.v[i])
			abort();
		*eq = '\0';
		if (dynconf_managed_param(params.v[i]))
			abort();
		const pgsetting *s = pgsetting_find(rows, (int)(sizeof rows / sizeof rows[0]), params.v[i]);
		char why[256];
		if (s != NULL)
			pgsetting_check(s, eq + 1, why, sizeof why);
	}
	dynconf_params_free(&params);
	const char *hba[DYNCONF_MAX_HBA];
	int n = dynconf_hba(doc, hba, DYNCONF_MAX_HBA);
	for (int i = 0; i < n; i++)
		if (strchr(hba[i], '\n') != NULL)
			abort();
	dynconf_print(doc, sink);
	if (dynconf_diff(doc, doc, sink) != 0)
		abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size > FUZZ_INPUT_MAX)
		return 0;
	char *buf = malloc(size + 1);
	if (buf == NULL)
		return 0;
	memcpy(buf, data, size);
	buf[size] = '\0';
	char *patch_text = buf + strlen(buf) < buf + size ? buf + strlen(buf) + 1 : NULL;
	if (patch_text == NULL && (patch_text = strchr(buf, '\n')) != NULL)
		*patch_text++ = '\0';
	FILE *sink = fopen("/dev/null", "w");
	fl_err err = {0};
	json_t *stored = dynconf_parse(buf, &err);
	if (stored)
		exercise(stored, sink);
	json_t *patch = patch_text ? json_loads(patch_text, JSON_REJECT_DUPLICATES, NULL) : NULL;
	json_t *merged = patch ? dynconf_merge(stored, patch) : NULL;
	if (merged && dynconf_check(merged, &err) == 0) {
		exercise(merged, sink);
		dynconf_diff(stored, merged, sink);
	}
	json_decref(merged);
	json_decref(patch);
	json_decref(stored);
	if (sink)
		fclose(sink);
	free(buf);
	return 0;
}
