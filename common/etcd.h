/*
 * etcd: a small synchronous client for etcd v3's JSON gateway (etcd >= 3.4),
 * built on libevent's HTTP client and jansson. Each call runs a private
 * event_base until the answer arrives or the per-request timeout passes, so
 * a caller always gets control back within the timeout, even when etcd is
 * unreachable or black-holed. Keys and values are plain C strings here and
 * base64 on the wire. Endpoints are tried in order; the last one that
 * answered is tried first next time.
 */
#ifndef FL_ETCD_H
#define FL_ETCD_H

#include <stdbool.h>
#include <stdint.h>

#include "err.h"

typedef struct etcd etcd;

typedef struct etcd_kv {
	char *key;
	char *value;
	int64_t create_revision;
	int64_t mod_revision;
	int64_t lease;
} etcd_kv;

typedef struct etcd_kvs {
	etcd_kv *v;
	int n;
	int64_t revision; /* the store's revision when the answer was made */
} etcd_kvs;

/*
 * How to reach a secured etcd: TLS for https:// endpoints (the CA that
 * signs etcd's certificate, "" for the system's store; a client certificate
 * and key for etcd's --client-cert-auth) and etcd's own authentication (a
 * user, and the file holding its password). NULL or empty fields: none.
 */
typedef struct etcd_security {
	const char *ca_file, *cert_file, *key_file;
	const char *username, *password_file;
} etcd_security;

/* endpoints: URLs like "http://127.0.0.1:2379" or "https://etcd1:2379"; sec may be NULL. */
etcd *etcd_new(char *const *endpoints, int n, const etcd_security *sec, fl_err *err);
void etcd_free(etcd *e);
/* Seconds one request (all endpoints together) may take; default 1.0. */
void etcd_set_timeout(etcd *e, double seconds);

/* Every key starting with prefix, sorted by key. */
int etcd_get_prefix(etcd *e, const char *prefix, etcd_kvs *out, fl_err *err);
/* One key; *found is false when absent (out is then zeroed). */
int etcd_get(etcd *e, const char *key, etcd_kv *out, bool *found, fl_err *err);
/* lease 0 means no lease. */
int etcd_put(etcd *e, const char *key, const char *value, int64_t lease, fl_err *err);
int etcd_delete(etcd *e, const char *key, fl_err *err);
/* Creates key only if it does not exist (create_revision == 0), in one transaction. */
int etcd_create(etcd *e, const char *key, const char *value, int64_t lease, bool *created, fl_err *err);
/* Puts key only if its current value equals expect, in one transaction. */
int etcd_put_if_value(etcd *e, const char *key, const char *expect, const char *value, int64_t lease, bool *done,
		      fl_err *err);
/* Deletes key only if its current value equals expect, in one transaction. */
int etcd_delete_if_value(etcd *e, const char *key, const char *expect, bool *done, fl_err *err);

int etcd_lease_grant(etcd *e, long ttl, int64_t *id, fl_err *err);
/* Renews a lease; *ttl_left is 0 when the lease no longer exists. */
int etcd_lease_keepalive(etcd *e, int64_t id, long *ttl_left, fl_err *err);
/* Remaining seconds of a lease, -1 when it does not exist. */
int etcd_lease_ttl(etcd *e, int64_t id, long *ttl_left, fl_err *err);
int etcd_lease_revoke(etcd *e, int64_t id, fl_err *err);

/*
 * Switches etcd's authentication on for a Flotilla cluster: the user root
 * (which etcd needs before it enables users) with root_password, user with
 * password and a role of the same name that may read and write every key
 * under prefix, then authentication itself. For an etcd that has none yet;
 * `flotilla local up --tls` and the stacks' set-up run it once.
 */
int etcd_auth_enable(etcd *e, const char *root_password, const char *user, const char *password, const char *prefix,
		     fl_err *err);

/*
 * A watch on one key, or on every key under it when prefix is set, on the
 * caller's event base: on_change is called when etcd reports a change (a
 * put, a delete, a lease's expiry). It only wakes the caller, which reads
 * what it needs: a lost event costs the caller's own interval, never a
 * wrong view. A broken watch is made again on the next endpoint, 0.5 s
 * later. The etcd client must outlive it.
 */
typedef struct etcd_watch etcd_watch;
struct event_base;
etcd_watch *etcd_watch_new(etcd *e, struct event_base *base, const char *key, bool prefix, void (*on_change)(void *arg),
			   void *arg, fl_err *err);
void etcd_watch_free(etcd_watch *w);
/* Whether the watch is established (etcd said it was created) and not broken since. */
bool etcd_watch_live(const etcd_watch *w);

void etcd_kv_clear(etcd_kv *kv);
void etcd_kvs_free(etcd_kvs *kvs);

#endif
