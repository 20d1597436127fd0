/*
 * dynconf: the cluster-wide dynamic configuration, one JSON document under
 * <prefix>/<scope>/config, with Patroni's names: ttl, loop_wait,
 * retry_timeout, maximum_lag_on_failover, synchronous_mode, and under
 * "postgresql" the PostgreSQL "parameters" (an object) and "pg_hba" (a list
 * of lines). This module checks a document, merges a change into it (JSON
 * merge patch, RFC 7386: null removes a key), overlays it onto an agent's
 * options and renders it; it does no I/O.
 *
 * Precedence, lowest first: the built-in defaults, the dynamic
 * configuration, the node's own file and environment. A node's file
 * overrides only the settings it names (options.named), and its
 * postgresql.parameters only the parameters it lists.
 */
#ifndef FL_CLUSTER_DYNCONF_H
#define FL_CLUSTER_DYNCONF_H

#include <stdbool.h>
#include <stdio.h>

#include <jansson.h>

#include "cluster/options.h"
#include "common/err.h"

#define DYNCONF_MAX_BYTES 65536
#define DYNCONF_MAX_PARAMS 256
#define DYNCONF_MAX_HBA 128
#define DYNCONF_VALUE_MAX 1024
#define DYNCONF_HBA_LINE_MAX 512

/*
 * Checks a document: an object of known keys only, each of its type and
 * within the range the option table gives; parameter names PostgreSQL
 * accepts, none the agent manages itself (listen_addresses, port,
 * primary_conninfo, ...), scalar values of bounded length; pg_hba lines of
 * a known connection type on one line. The error names the key and why.
 */
int dynconf_check(const json_t *cfg, fl_err *err);

/* Parses and checks text as the key or a request body holds it; NULL with err set when it is not a valid document. */
json_t *dynconf_parse(const char *text, fl_err *err);

/* cur with patch merged in (RFC 7386), a new reference; NULL when patch is not an object. */
json_t *dynconf_merge(const json_t *cur, const json_t *patch);

/*
 * Overlays the document onto o: each dynamic setting o->named does not name
 * takes the document's value, or its default when the document lacks it.
 * Then checks them together (ttl > loop_wait + 1, retry_timeout <= ttl - 1);
 * on failure o is left as it was and err says why.
 */
int dynconf_overlay(const json_t *cfg, options *o, fl_err *err);

/* The settings the document sets but o's file or environment names (and so keeps), up to max of them. */
int dynconf_overridden(const json_t *cfg, const options *o, const char **names, int max);

/*
 * The document's PostgreSQL parameters as "name=value" strings into out
 * (emptied first; values rendered as PostgreSQL reads them: booleans on or
 * off), skipping those named in skip (the node's own postgresql.parameters).
 */
void dynconf_pg_params(const json_t *cfg, const str_list *skip, str_list *out);

/* The document's parameters that own (the node's postgresql.parameters) names, and so keeps, up to max. */
int dynconf_params_kept(const json_t *cfg, const str_list *own, const char **names, int max);

/* The pg_hba lines; 0 when the document sets none (the built-in rules apply). */
int dynconf_hba(const json_t *cfg, const char **lines, int max);

/* Whether a PostgreSQL parameter is one the agent writes itself and a document may not set. */
bool dynconf_managed_param(const char *name);

/* Prints the document as YAML, keys sorted, as patronictl show-config does. */
void dynconf_print(const json_t *cfg, FILE *f);

/* Prints what changes from old to new, a "-" and "+" line per changed setting; returns their number. */
int dynconf_diff(const json_t *old, const json_t *new, FILE *f);

/* Frees what dynconf_pg_params put in out. */
void dynconf_params_free(str_list *l);

#endif
