/*
 * cluster: parsing of the keys under <prefix>/<scope>/ into a cluster_view,
 * and JSON encoding of the records this node writes. Unknown keys are
 * ignored so that newer agents can add records.
 */
#include "cluster.h"

#include "common/hostport.h"

#include <inttypes.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

const member *cluster_member(const cluster_view *v, const char *name)
{
	for (int i = 0; i < v->n_members; i++)
		if (strcmp(v->members[i].name, name) == 0)
			return &v->members[i];
	return NULL;
}

bool cluster_in_sync(const cluster_view *v, const char *name)
{
	for (int i = 0; i < v->n_sync; i++)
		if (strcmp(v->sync[i], name) == 0)
			return true;
	return false;
}

uint64_t cluster_leader_position(const cluster_view *v)
{
	const member *m = v->has_leader ? cluster_member(v, v->leader) : NULL;
	return m && m->wal_lsn ? m->wal_lsn : v->last_lsn;
}

uint64_t cluster_lag(const cluster_view *v, uint64_t received, uint64_t replayed)
{
	uint64_t have = received > replayed ? received : replayed, want = cluster_leader_position(v);
	return want > have ? want - have : 0;
}

static bool is_leader(const cluster_view *v, const member *m)
{
	return v->has_leader && strcmp(v->leader, m->name) == 0;
}

const char *cluster_member_role(const cluster_view *v, const member *m)
{
	if (is_leader(v, m))
		return "leader";
	if (v->has_sync && v->has_leader && v->sync_term == v->leader_term && cluster_in_sync(v, m->name))
		return "sync_standby";
	return m->role;
}

const char *cluster_member_state(const cluster_view *v, const member *m)
{
	if (m->state[0])
		return m->state;
	if (!m->running)
		return "stopped";
	if (is_leader(v, m) || strcmp(m->role, "replica") != 0)
		return "running";
	return m->streaming ? "streaming" : "in archive recovery";
}

static void copy_str(char *dst, size_t len, json_t *obj, const char *key)
{
	const char *s = json_string_value(json_object_get(obj, key));
	snprintf(dst, len, "%s", s ? s : "");
}

bool cluster_name_valid(const char *v)
{
	size_t n = strlen(v);
	if (n == 0 || n >= CLUSTER_NAME_MAX)
		return false;
	for (const char *p = v; *p; p++)
		if (!((*p >= 'a' && *p <= 'z') || (*p >= '0' && *p <= '9') || *p == '_' || *p == '-'))
			return false;
	return true;
}

static bool one_of(const char *v, const char *const *set)
{
	for (; *set; set++)
		if (strcmp(v, *set) == 0)
			return true;
	return false;
}

/* A string field that must fit its buffer: NULL when it does, else the field's name. */
static const char *too_long(json_t *o, const char *key, size_t len)
{
	const char *s = json_string_value(json_object_get(o, key));
	return s && strlen(s) >= len ? key : NULL;
}

/*
 * What a member record may say, checked before anything reads it: its name
 * goes into slot names and synchronous_standby_names, its address into
 * primary_conninfo and the programs' connection strings.
 */
static int member_check(const member *m, fl_err *err)
{
	static const char *const roles[] = {"primary", "replica", "uninitialized", "stopped", NULL};
	static const char *const states[] = {"", "bootstrapping", "cloning", "rewinding", "stopping", NULL};
	if (m->name[0] == '\0')
		return fl_fail(err, FL_ERR_ETCD, "member record has no name");
	if (!cluster_name_valid(m->name))
		return fl_fail(err, FL_ERR_ETCD,
			       "member record's name is not a node name (lowercase letters, digits, '_', '-')");
	if (!one_of(m->role, roles))
		return fl_fail(err, FL_ERR_ETCD,
			       "member record's role \"%.32s\" is none of primary, replica, uninitialized, stopped",
			       m->role);
	if (!one_of(m->state, states))
		return fl_fail(err, FL_ERR_ETCD, "member record's state \"%.32s\" is unknown", m->state);
	if (m->conn_address[0] && !hostport_valid(m->conn_address))
		return fl_fail(err, FL_ERR_ETCD, "member record's conn_address is not host:port");
	if (m->api_url[0] && ((strncmp(m->api_url, "http://", 7) != 0 && strncmp(m->api_url, "https://", 8) != 0) ||
			      strpbrk(m->api_url, " \t\r\n\"'\\") != NULL))
		return fl_fail(err, FL_ERR_ETCD, "member record's api_url is not an http:// or https:// URL");
	return 0;
}

static uint64_t get_lsn(json_t *obj, const char *key)
{
	uint64_t v = 0;
	if (lsn_parse(json_string_value(json_object_get(obj, key)), &v) < 0)
		return 0;
	return v;
}

int member_from_json(const char *text, member *m, fl_err *err)
{
	json_error_t jerr;
	json_t *o = json_loads(text, 0, &jerr);
	if (o == NULL || !json_is_object(o)) {
		json_decref(o);
		return fl_fail(err, FL_ERR_ETCD, "member record is not a JSON object: %s",
			       o ? "wrong type" : jerr.text);
	}
	memset(m, 0, sizeof *m);
	const char *long_field = too_long(o, "name", sizeof m->name);
	long_field = long_field ? long_field : too_long(o, "role", sizeof m->role);
	long_field = long_field ? long_field : too_long(o, "conn_address", sizeof m->conn_address);
	long_field = long_field ? long_field : too_long(o, "api_url", sizeof m->api_url);
	long_field = long_field ? long_field : too_long(o, "state", sizeof m->state);
	if (long_field) {
		json_decref(o);
		return fl_fail(err, FL_ERR_ETCD, "member record's %s is too long", long_field);
	}
	copy_str(m->name, sizeof m->name, o, "name");
	copy_str(m->role, sizeof m->role, o, "role");
	copy_str(m->conn_address, sizeof m->conn_address, o, "conn_address");
	copy_str(m->api_url, sizeof m->api_url, o, "api_url");
	copy_str(m->state, sizeof m->state, o, "state");
	json_t *progress = json_object_get(o, "progress");
	m->progress_done = (int64_t)json_integer_value(json_object_get(progress, "done"));
	m->progress_total = (int64_t)json_integer_value(json_object_get(progress, "total"));
	m->running = json_is_true(json_object_get(o, "running"));
	m->streaming = json_is_true(json_object_get(o, "streaming"));
	m->timeline = (long)json_integer_value(json_object_get(o, "timeline"));
	m->wal_lsn = get_lsn(o, "wal_lsn");
	m->received_lsn = get_lsn(o, "received_lsn");
	m->replayed_lsn = get_lsn(o, "replayed_lsn");
	m->fenced_term = (int64_t)json_integer_value(json_object_get(o, "fenced_term"));
	m->pending_restart = json_is_true(json_object_get(o, "pending_restart"));
	json_t *tags = json_object_get(o, "tags");
	m->nofailover = json_is_true(json_object_get(tags, "nofailover"));
	m->noloadbalance = json_is_true(json_object_get(tags, "noloadbalance"));
	m->priority = (long)json_integer_value(json_object_get(tags, "priority"));
	json_decref(o);
	return member_check(m, err);
}

char *member_to_json(const member *m)
{
	char wal[32], rec[32], rep[32];
	lsn_format(m->wal_lsn, wal, sizeof wal);
	lsn_format(m->received_lsn, rec, sizeof rec);
	lsn_format(m->replayed_lsn, rep, sizeof rep);
	json_t *o = json_pack("{s:s, s:s, s:b, s:b, s:I, s:s, s:s, s:s, s:I, s:s, s:s, s:{s:b, s:b, s:I}}", "name",
			      m->name, "role", m->role, "running", m->running, "streaming", m->streaming, "timeline",
			      (json_int_t)m->timeline, "wal_lsn", wal, "received_lsn", rec, "replayed_lsn", rep,
			      "fenced_term", (json_int_t)m->fenced_term, "conn_address", m->conn_address, "api_url",
			      m->api_url, "tags", "nofailover", m->nofailover, "noloadbalance", m->noloadbalance,
			      "priority", (json_int_t)m->priority);
	if (o && m->pending_restart)
		json_object_set_new(o, "pending_restart", json_true());
	if (o && m->state[0]) {
		json_object_set_new(o, "state", json_string(m->state));
		if (m->progress_total > 0)
			json_object_set_new(o, "progress",
					    json_pack("{s:I, s:I}", "done", (json_int_t)m->progress_done, "total",
						      (json_int_t)m->progress_total));
	}
	char *s = json_dumps(o, JSON_COMPACT | JSON_SORT_KEYS);
	json_decref(o);
	return s;
}

char *status_to_json(const char *leader, int64_t term, uint64_t lsn, long timeline)
{
	char l[32];
	lsn_format(lsn, l, sizeof l);
	json_t *o = json_pack("{s:s, s:I, s:s, s:I}", "leader", leader, "term", (json_int_t)term, "lsn", l, "timeline",
			      (json_int_t)timeline);
	char *s = json_dumps(o, JSON_COMPACT | JSON_SORT_KEYS);
	json_decref(o);
	return s;
}

char *sync_to_json(const char *leader, int64_t term, char names[][CLUSTER_NAME_MAX], int n)
{
	json_t *arr = json_array();
	for (int i = 0; i < n; i++)
		json_array_append_new(arr, json_string(names[i]));
	json_t *o = json_pack("{s:s, s:I, s:o}", "leader", leader, "term", (json_int_t)term, "members", arr);
	char *s = json_dumps(o, JSON_COMPACT | JSON_SORT_KEYS);
	json_decref(o);
	return s;
}

/* Each record parser returns NULL, or why it rejects the record (which stays out of the view). */
static const char *parse_status(cluster_view *v, const char *text)
{
	json_t *o = json_loads(text, 0, NULL);
	if (!json_is_object(o)) {
		json_decref(o);
		return "status record is not a JSON object";
	}
	v->has_status = true;
	copy_str(v->last_leader, sizeof v->last_leader, o, "leader");
	v->last_term = (int64_t)json_integer_value(json_object_get(o, "term"));
	v->last_lsn = get_lsn(o, "lsn");
	v->last_timeline = (long)json_integer_value(json_object_get(o, "timeline"));
	json_decref(o);
	return NULL;
}

static const char *parse_sync(cluster_view *v, const char *text)
{
	json_t *o = json_loads(text, 0, NULL);
	json_t *arr = json_object_get(o, "members");
	if (!json_is_object(o) || !json_is_array(arr)) {
		json_decref(o);
		return "sync record is not a JSON object with a \"members\" array";
	}
	v->has_sync = true;
	v->sync_term = (int64_t)json_integer_value(json_object_get(o, "term"));
	size_t i;
	json_t *item;
	json_array_foreach(arr, i, item)
	{
		if (v->n_sync < CLUSTER_MAX_MEMBERS && json_is_string(item))
			snprintf(v->sync[v->n_sync++], CLUSTER_NAME_MAX, "%s", json_string_value(item));
	}
	json_decref(o);
	return NULL;
}

static const char *parse_switchover(cluster_view *v, const char *text)
{
	json_t *o = json_loads(text, 0, NULL);
	if (!json_is_object(o)) {
		json_decref(o);
		return "switchover record is not a JSON object";
	}
	v->has_switchover = true;
	copy_str(v->switchover_leader, sizeof v->switchover_leader, o, "leader");
	copy_str(v->switchover_candidate, sizeof v->switchover_candidate, o, "candidate");
	v->switchover_at = json_number_value(json_object_get(o, "scheduled_at"));
	json_decref(o);
	return NULL;
}

char *switchover_to_json(const char *leader, const char *candidate, double at)
{
	json_t *o = json_pack("{s:s, s:s, s:f}", "leader", leader, "candidate", candidate, "scheduled_at", at);
	char *s = json_dumps(o, JSON_COMPACT | JSON_SORT_KEYS);
	json_decref(o);
	return s;
}

/* Records that fail to parse are counted and the first one named, so that none vanishes silently. */
static void rejected(cluster_view *v, const char *key, const char *why)
{
	if (v->n_rejected++ == 0)
		snprintf(v->rejected, sizeof v->rejected, "%s: %s", key, why);
}

static void parse_member(cluster_view *out, const etcd_kv *kv, const char *name, const char *val)
{
	fl_err e = {0};
	if (out->n_members == CLUSTER_MAX_MEMBERS) {
		rejected(out, kv->key, "more members than " CLUSTER_MAX_MEMBERS_TEXT);
		return;
	}
	member *m = &out->members[out->n_members];
	if (member_from_json(val, m, &e) < 0) {
		rejected(out, kv->key, e.msg);
		return;
	}
	if (strcmp(m->name, name) != 0) {
		rejected(out, kv->key, "the record names another member");
		return;
	}
	m->lease = kv->lease;
	out->n_members++;
}

static void parse_drain(cluster_view *out, const etcd_kv *kv, const char *name)
{
	if (!cluster_name_valid(name) || out->n_drained == CLUSTER_MAX_MEMBERS) {
		rejected(out, kv->key, "not a member name");
		return;
	}
	snprintf(out->drained[out->n_drained++], CLUSTER_NAME_MAX, "%s", name);
}

int cluster_parse(const etcd_kvs *kvs, const char *root, cluster_view *out, fl_err *err)
{
	memset(out, 0, sizeof *out);
	out->revision = kvs->revision;
	for (int i = 0; i < kvs->n; i++) {
		const etcd_kv *kv = &kvs->v[i];
		const char *item = NULL, *why = NULL;
		const char *val = kv->value ? kv->value : "";
		switch (keys_match(root, kv->key, &item)) {
		case KEY_INITIALIZE:
			out->initialized = true;
			snprintf(out->init_owner, sizeof out->init_owner, "%s", val);
			break;
		case KEY_LEADER:
			out->has_leader = true;
			snprintf(out->leader, sizeof out->leader, "%s", val);
			out->leader_term = kv->create_revision;
			out->leader_lease = kv->lease;
			break;
		case KEY_STATUS:
			why = parse_status(out, val);
			break;
		case KEY_SYNC:
			why = parse_sync(out, val);
			break;
		case KEY_PAUSE:
			out->paused = true;
			break;
		case KEY_SWITCHOVER:
			why = parse_switchover(out, val);
			break;
		case KEY_MEMBER:
			parse_member(out, kv, item, val);
			break;
		case KEY_DRAIN:
			parse_drain(out, kv, item);
			break;
		case KEY_PROXY:
			out->n_proxies++;
			break;
		case KEY_HISTORY:
		case KEY_BACKUP:
		case KEY_CONFIG:
		case KEY__COUNT:
			break; /* read by the commands that need them; unknown keys belong to newer programs */
		}
		if (why)
			rejected(out, kv->key, why);
	}
	if (out->n_rejected > 0)
		return fl_fail(err, FL_ERR_ETCD, "etcd: %d record%s under %s rejected; first %s", out->n_rejected,
			       out->n_rejected == 1 ? "" : "s", root, out->rejected);
	return 0;
}

const char *cluster_history(const etcd_kvs *kvs, const char *root)
{
	for (int i = 0; i < kvs->n; i++)
		if (keys_match(root, kvs->v[i].key, NULL) == KEY_HISTORY)
			return kvs->v[i].value ? kvs->v[i].value : "";
	return NULL;
}

const etcd_kv *cluster_config(const etcd_kvs *kvs, const char *root)
{
	for (int i = 0; i < kvs->n; i++)
		if (keys_match(root, kvs->v[i].key, NULL) == KEY_CONFIG)
			return &kvs->v[i];
	return NULL;
}

bool cluster_rejection_news(const cluster_view *v, char *last, size_t len)
{
	if (strcmp(last, v->rejected) == 0)
		return false;
	snprintf(last, len, "%s", v->rejected);
	return v->n_rejected > 0;
}

bool cluster_drained(const cluster_view *v, const char *name)
{
	for (int i = 0; i < v->n_drained; i++)
		if (strcmp(v->drained[i], name) == 0)
			return true;
	return false;
}
