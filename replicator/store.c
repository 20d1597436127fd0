/*
 * store: the agent's etcd client and the keys it writes, each built from the
 * key table. Records without a lease (status, history, sync, switchover,
 * pause) outlive the agent; the member record and the leader key are bound
 * to its lease and vanish with it.
 */
#include "store.h"

#include "common/clock.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct store {
	etcd *etcd;
	etcd_watch *watch; /* on the leader key, made again with every new client */
	struct event_base *watch_base;
	void (*on_leader_change)(void *arg);
	void *watch_arg;
	char root[256];
	double deadline; /* clock_mono: no request may outlive it (0: none) */
	double retry_timeout;
};

/* The client, its timeout cut so that the request ends by the deadline (50 ms at least). */
static etcd *bounded(store *st)
{
	if (st->deadline > 0) {
		double left = st->deadline - clock_mono();
		etcd_set_timeout(st->etcd, left >= st->retry_timeout ? st->retry_timeout : left > 0.05 ? left : 0.05);
	}
	return st->etcd;
}

static etcd *connect(const str_list *endpoints, const etcd_security *sec, double timeout, fl_err *err)
{
	etcd *e = etcd_new(endpoints->v, endpoints->n, sec, err);
	if (e)
		etcd_set_timeout(e, timeout);
	return e;
}

store *store_new(const str_list *endpoints, const etcd_security *sec, const char *prefix, const char *scope,
		 double timeout, fl_err *err)
{
	store *st = calloc(1, sizeof *st);
	if (st == NULL) {
		fl_fail(err, FL_ERR_INTERNAL, "store: out of memory");
		return NULL;
	}
	if (keys_root(prefix, scope, st->root, sizeof st->root) < 0) {
		fl_fail(err, FL_ERR_CONFIG, "config: etcd.prefix and scope make a key root longer than %zu bytes",
			sizeof st->root - 1);
		free(st);
		return NULL;
	}
	if ((st->etcd = connect(endpoints, sec, timeout, err)) == NULL) {
		free(st);
		return NULL;
	}
	return st;
}

void store_free(store *st)
{
	if (st == NULL)
		return;
	etcd_watch_free(st->watch);
	etcd_free(st->etcd);
	free(st);
}

int store_reconnect(store *st, const str_list *endpoints, const etcd_security *sec, double timeout, fl_err *err)
{
	etcd *e = connect(endpoints, sec, timeout, err);
	if (e == NULL)
		return -1;
	etcd_watch_free(st->watch);
	st->watch = NULL;
	etcd_free(st->etcd);
	st->etcd = e;
	return st->on_leader_change ? store_watch_leader(st, st->watch_base, st->on_leader_change, st->watch_arg, err)
				    : 0;
}

int store_watch_leader(store *st, struct event_base *base, void (*on_change)(void *arg), void *arg, fl_err *err)
{
	char key[320];
	keys_path(st->root, KEY_LEADER, NULL, key, sizeof key);
	st->watch_base = base;
	st->on_leader_change = on_change;
	st->watch_arg = arg;
	st->watch = etcd_watch_new(st->etcd, base, key, false, on_change, arg, err);
	return st->watch ? 0 : -1;
}

bool store_watch_live(const store *st) { return etcd_watch_live(st->watch); }

void store_set_timeout(store *st, double seconds) { etcd_set_timeout(st->etcd, seconds); }

void store_set_deadline(store *st, double deadline, double retry_timeout)
{
	st->deadline = deadline;
	st->retry_timeout = retry_timeout;
	if (deadline <= 0)
		etcd_set_timeout(st->etcd, retry_timeout);
}

const char *store_root(const store *st) { return st->root; }

static void key(const store *st, cluster_key k, const char *item, char *buf, size_t len)
{
	keys_path(st->root, k, item, buf, len);
}

int store_lease_grant(store *st, long ttl, int64_t *lease, fl_err *err)
{
	return etcd_lease_grant(bounded(st), ttl, lease, err);
}

int store_lease_keepalive(store *st, int64_t lease, long *left, fl_err *err)
{
	return etcd_lease_keepalive(bounded(st), lease, left, err);
}

void store_lease_revoke(store *st, int64_t lease) { etcd_lease_revoke(bounded(st), lease, NULL); }

int store_read(store *st, etcd_kvs *kvs, fl_err *err) { return etcd_get_prefix(bounded(st), st->root, kvs, err); }

/* Writes a malloc'd JSON text (NULL: out of memory) under k and frees it. */
static int put_json(store *st, cluster_key k, const char *item, char *json, int64_t lease, fl_err *err)
{
	if (json == NULL)
		return fl_fail(err, FL_ERR_INTERNAL, "store: out of memory");
	char kb[320];
	key(st, k, item, kb, sizeof kb);
	int rc = etcd_put(bounded(st), kb, json, lease, err);
	free(json);
	return rc;
}

int store_publish_member(store *st, const member *m, int64_t lease, fl_err *err)
{
	return put_json(st, KEY_MEMBER, m->name, member_to_json(m), lease, err);
}

int store_write_status(store *st, const char *leader, int64_t term, uint64_t lsn, long timeline, fl_err *err)
{
	return put_json(st, KEY_STATUS, NULL, status_to_json(leader, term, lsn, timeline), 0, err);
}

int store_append_history(store *st, const char *leader, uint64_t lsn, long timeline, double wall_time, fl_err *err)
{
	char kb[320];
	key(st, KEY_HISTORY, NULL, kb, sizeof kb);
	etcd_kv kv = {0};
	bool found = false;
	if (etcd_get(bounded(st), kb, &kv, &found, err) < 0)
		return -1;
	json_t *arr = found ? json_loads(kv.value, 0, NULL) : NULL;
	etcd_kv_clear(&kv);
	if (!json_is_array(arr)) {
		json_decref(arr);
		arr = json_array();
	}
	char l[32];
	lsn_format(lsn, l, sizeof l);
	json_array_append_new(arr, json_pack("{s:I, s:s, s:s, s:f}", "timeline", (json_int_t)timeline, "lsn", l,
					     "leader", leader, "time", wall_time));
	char *text = json_dumps(arr, JSON_COMPACT);
	json_decref(arr);
	return put_json(st, KEY_HISTORY, NULL, text, 0, err);
}

int store_take_leader(store *st, const char *name, int64_t lease, bool *created, int64_t *term, fl_err *err)
{
	char kb[320];
	key(st, KEY_LEADER, NULL, kb, sizeof kb);
	*created = false;
	if (etcd_create(bounded(st), kb, name, lease, created, err) < 0)
		return -1;
	if (!*created)
		return 0;
	etcd_kv kv = {0};
	bool found = false;
	if (etcd_get(bounded(st), kb, &kv, &found, NULL) == 0 && found)
		*term = kv.create_revision;
	etcd_kv_clear(&kv);
	return 0;
}

int store_move_leader(store *st, const char *name, int64_t lease, bool *moved, fl_err *err)
{
	char kb[320];
	key(st, KEY_LEADER, NULL, kb, sizeof kb);
	return etcd_put_if_value(bounded(st), kb, name, name, lease, moved, err);
}

int store_release_leader(store *st, const char *name, bool *released, fl_err *err)
{
	char kb[320];
	key(st, KEY_LEADER, NULL, kb, sizeof kb);
	return etcd_delete_if_value(bounded(st), kb, name, released, err);
}

int store_take_init(store *st, const char *name, bool *created, fl_err *err)
{
	char kb[320];
	key(st, KEY_INITIALIZE, NULL, kb, sizeof kb);
	return etcd_create(bounded(st), kb, name, 0, created, err);
}

int store_release_init(store *st, const char *name, fl_err *err)
{
	char kb[320];
	key(st, KEY_INITIALIZE, NULL, kb, sizeof kb);
	bool done = false;
	return etcd_delete_if_value(bounded(st), kb, name, &done, err);
}

int store_publish_sync(store *st, const char *leader, int64_t term, char names[][CLUSTER_NAME_MAX], int n, fl_err *err)
{
	return put_json(st, KEY_SYNC, NULL, sync_to_json(leader, term, names, n), 0, err);
}

int store_put_switchover(store *st, const char *leader, const char *candidate, double at, bool create_only,
			 bool *created, fl_err *err)
{
	char *json = switchover_to_json(leader, candidate, at);
	if (json == NULL)
		return fl_fail(err, FL_ERR_INTERNAL, "store: out of memory");
	char kb[320];
	key(st, KEY_SWITCHOVER, NULL, kb, sizeof kb);
	int rc = create_only ? etcd_create(bounded(st), kb, json, 0, created, err)
			     : etcd_put(bounded(st), kb, json, 0, err);
	free(json);
	return rc;
}

int store_set(store *st, cluster_key k, const char *value, fl_err *err)
{
	char kb[320];
	key(st, k, NULL, kb, sizeof kb);
	return value ? etcd_put(bounded(st), kb, value, 0, err) : etcd_delete(bounded(st), kb, err);
}

int store_get(store *st, cluster_key k, etcd_kv *kv, bool *found, fl_err *err)
{
	char kb[320];
	key(st, k, NULL, kb, sizeof kb);
	return etcd_get(bounded(st), kb, kv, found, err);
}

int store_swap(store *st, cluster_key k, const char *expect, const char *value, bool *done, fl_err *err)
{
	char kb[320];
	key(st, k, NULL, kb, sizeof kb);
	return expect ? etcd_put_if_value(bounded(st), kb, expect, value, 0, done, err)
		      : etcd_create(bounded(st), kb, value, 0, done, err);
}
