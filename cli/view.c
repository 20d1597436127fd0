/*
 * view: fetching and parsing the cluster for the read-only commands. From
 * etcd, a member's role and state are derived the way the REST API derives
 * them for GET /cluster (replicator/api.c): the leader key's holder is the
 * leader, a member of the sync set published for the leader's term is a sync
 * standby, a running replica streams or replays from the archive; lag is the
 * leader's WAL position (its member record, else the status record) minus
 * the member's received or replayed position, whichever is ahead.
 */
#include "view.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "cluster/cluster.h"
#include "common/timeparse.h"
#include "http.h"

#define VIEW_KEY_MAX 512

static bool streq(const char *a, const char *b) { return strcmp(a, b) == 0; }

void view_clear(view *v)
{
	if (v == NULL)
		return;
	free(v->history);
	memset(v, 0, sizeof *v);
}

const view_member *view_member_find(const view *v, const char *name)
{
	for (int i = 0; i < v->n_members; i++)
		if (streq(v->members[i].name, name))
			return &v->members[i];
	return NULL;
}

const view_member *view_leader(const view *v)
{
	for (int i = 0; i < v->n_members; i++)
		if (streq(v->members[i].role, "leader"))
			return &v->members[i];
	return NULL;
}

const char *view_role_title(const char *role)
{
	static const struct {
		const char *word, *title;
	} titles[] = {
		{"leader", "Leader"},   {"sync_standby", "Sync Standby"}, {"replica", "Replica"},
		{"primary", "Primary"}, {"stopped", "Stopped"},           {"uninitialized", "Uninitialized"},
	};
	for (size_t i = 0; i < sizeof titles / sizeof titles[0]; i++)
		if (streq(titles[i].word, role))
			return titles[i].title;
	return role;
}

static int member_cmp(const void *a, const void *b)
{
	return strcmp(((const view_member *)a)->name, ((const view_member *)b)->name);
}

static void members_sort(view *v) { qsort(v->members, (size_t)v->n_members, sizeof v->members[0], member_cmp); }

/* ---- from etcd ---- */

static void member_from_record(const cluster_view *cv, const member *m, view_member *out)
{
	bool leader = cv->has_leader && streq(cv->leader, m->name);
	snprintf(out->name, sizeof out->name, "%s", m->name);
	snprintf(out->host, sizeof out->host, "%s", m->conn_address);
	snprintf(out->role, sizeof out->role, "%s", cluster_member_role(cv, m));
	snprintf(out->state, sizeof out->state, "%s", cluster_member_state(cv, m));
	out->timeline = m->timeline;
	out->nofailover = m->nofailover;
	out->noloadbalance = m->noloadbalance;
	out->priority = m->priority;
	out->pending_restart = m->pending_restart;
	out->drained = cluster_drained(cv, m->name);
	if (leader)
		out->lag = VIEW_LAG_NONE;
	else if (cluster_leader_position(cv) == 0)
		out->lag = VIEW_LAG_UNKNOWN;
	else
		out->lag = (int64_t)cluster_lag(cv, m->received_lsn, m->replayed_lsn);
}

int view_from_kvs(const etcd_kvs *kvs, const char *root, const char *scope, view *v, fl_err *err)
{
	cluster_view *cv = calloc(1, sizeof *cv);
	if (cv == NULL)
		return fl_fail(err, FL_ERR_INTERNAL, "out of memory");
	cluster_parse(kvs, root, cv, NULL);
	snprintf(v->scope, sizeof v->scope, "%s", scope);
	v->paused = cv->paused;
	if (cv->has_switchover && cv->switchover_at > 0 && cv->switchover_leader[0]) {
		v->switchover_at = cv->switchover_at;
		snprintf(v->switchover_from, sizeof v->switchover_from, "%s", cv->switchover_leader);
		snprintf(v->switchover_to, sizeof v->switchover_to, "%s", cv->switchover_candidate);
	}
	v->n_members = 0;
	for (int i = 0; i < cv->n_members && v->n_members < VIEW_MAX_MEMBERS; i++)
		member_from_record(cv, &cv->members[i], &v->members[v->n_members++]);
	free(cv);
	members_sort(v);
	return 0;
}

/* ---- from JSON: GET /cluster, GET /history and the history key ---- */

static int member_from_api(json_t *o, size_t i, view_member *m, fl_err *err)
{
	const char *name = NULL, *role = NULL, *state = NULL, *host = NULL;
	json_int_t timeline = 0, port = 0;
	json_t *lag = NULL, *tags = NULL;
	json_error_t je;
	if (json_unpack_ex(o, &je, 0, "{s:s, s:s, s:s, s?I, s?s, s?I, s?o, s?o}", "name", &name, "role", &role, "state",
			   &state, "timeline", &timeline, "host", &host, "port", &port, "lag", &lag, "tags", &tags) < 0)
		return fl_fail(err, FL_ERR_CONFIG,
			       "members[%zu]: %s (want strings name, role, state, host; integers timeline, port)", i,
			       je.text);
	if (name[0] == '\0' || strlen(name) >= sizeof m->name)
		return fl_fail(err, FL_ERR_CONFIG, "members[%zu].name = \"%.80s\" is not a member name", i, name);
	snprintf(m->name, sizeof m->name, "%s", name);
	snprintf(m->role, sizeof m->role, "%s", role);
	snprintf(m->state, sizeof m->state, "%s", state);
	m->timeline = (long)timeline;
	m->nofailover = json_is_true(json_object_get(tags, "nofailover"));
	m->noloadbalance = json_is_true(json_object_get(tags, "noloadbalance"));
	m->priority = json_is_integer(json_object_get(tags, "priority"))
			      ? (long)json_integer_value(json_object_get(tags, "priority"))
			      : 0;
	m->pending_restart = json_is_true(json_object_get(o, "pending_restart"));
	m->drained = json_is_true(json_object_get(o, "drained"));
	if (host != NULL && port > 0)
		snprintf(m->host, sizeof m->host, strchr(host, ':') ? "[%s]:%lld" : "%s:%lld", host, (long long)port);
	else if (host != NULL)
		snprintf(m->host, sizeof m->host, "%s", host);
	if (lag == NULL)
		m->lag = VIEW_LAG_NONE;
	else if (json_is_integer(lag) && json_integer_value(lag) >= 0)
		m->lag = json_integer_value(lag);
	else if (json_is_string(lag) && streq(json_string_value(lag), "unknown"))
		m->lag = VIEW_LAG_UNKNOWN;
	else
		return fl_fail(err, FL_ERR_CONFIG, "members[%zu].lag is neither a byte count nor \"unknown\"", i);
	return 0;
}

int view_from_cluster_json(const char *text, view *v, fl_err *err)
{
	json_error_t je;
	json_t *root = json_loads(text, 0, &je);
	if (root == NULL)
		return fl_fail(err, FL_ERR_CONFIG, "malformed JSON: %s (line %d column %d)", je.text, je.line,
			       je.column);
	const char *scope = NULL;
	json_t *members = NULL, *pause = NULL, *sw = NULL;
	int rc = -1;
	if (json_unpack_ex(root, &je, 0, "{s:s, s:o, s?o, s?o}", "scope", &scope, "members", &members, "pause", &pause,
			   "scheduled_switchover", &sw) < 0) {
		fl_fail(err, FL_ERR_CONFIG, "not a cluster description: %s", je.text);
		goto done;
	}
	if (!json_is_array(members) || json_array_size(members) > VIEW_MAX_MEMBERS) {
		fl_fail(err, FL_ERR_CONFIG, "\"members\" is not an array of at most %d members", VIEW_MAX_MEMBERS);
		goto done;
	}
	snprintf(v->scope, sizeof v->scope, "%s", scope);
	v->paused = json_is_true(pause);
	if (json_is_object(sw)) {
		const char *at = json_string_value(json_object_get(sw, "at"));
		const char *from = json_string_value(json_object_get(sw, "from"));
		const char *to = json_string_value(json_object_get(sw, "to"));
		double when = 0;
		if (at && from && timeparse_iso8601(at, &when) == TIME_OK) {
			v->switchover_at = when;
			snprintf(v->switchover_from, sizeof v->switchover_from, "%s", from);
			snprintf(v->switchover_to, sizeof v->switchover_to, "%s", to ? to : "");
		}
	}
	v->n_members = 0;
	size_t i;
	json_t *o;
	json_array_foreach(members, i, o)
	{
		if (member_from_api(o, i, &v->members[v->n_members], err) < 0)
			goto done;
		v->n_members++;
	}
	members_sort(v);
	rc = 0;
done:
	json_decref(root);
	return rc;
}

static int switch_from_json(json_t *o, size_t i, view_switch *s, fl_err *err)
{
	const char *lsn = NULL, *leader = NULL;
	json_int_t timeline = 0;
	json_t *time = NULL;
	json_error_t je;
	if (json_unpack_ex(o, &je, 0, "{s:I, s:s, s:s, s?o}", "timeline", &timeline, "lsn", &lsn, "leader", &leader,
			   "time", &time) < 0)
		return fl_fail(err, FL_ERR_CONFIG,
			       "entry %zu: %s (want {\"timeline\": integer, \"lsn\": string, \"leader\": string, "
			       "\"time\": number})",
			       i, je.text);
	if (time != NULL && !json_is_number(time))
		return fl_fail(err, FL_ERR_CONFIG, "entry %zu: \"time\" is not a number", i);
	s->timeline = (long)timeline;
	snprintf(s->lsn, sizeof s->lsn, "%s", lsn);
	snprintf(s->leader, sizeof s->leader, "%s", leader);
	s->time = time ? json_number_value(time) : 0;
	return 0;
}

int view_history_from_json(const char *text, view *v, fl_err *err)
{
	json_error_t je;
	json_t *arr = json_loads(text, JSON_DECODE_ANY, &je);
	if (arr == NULL)
		return fl_fail(err, FL_ERR_CONFIG, "malformed JSON: %s (line %d column %d)", je.text, je.line,
			       je.column);
	int rc = -1;
	if (!json_is_array(arr)) {
		fl_fail(err, FL_ERR_CONFIG, "not a JSON array of timeline switches");
		goto done;
	}
	free(v->history);
	v->n_history = 0;
	v->history = calloc(json_array_size(arr) + 1, sizeof *v->history);
	if (v->history == NULL) {
		fl_fail(err, FL_ERR_INTERNAL, "out of memory");
		goto done;
	}
	size_t i;
	json_t *o;
	json_array_foreach(arr, i, o)
	{
		if (switch_from_json(o, i, &v->history[v->n_history], err) < 0)
			goto done;
		v->n_history++;
	}
	rc = 0;
done:
	json_decref(arr);
	return rc;
}

/* ---- fetching ---- */

static const etcd_kv *kvs_find(const etcd_kvs *kvs, const char *key)
{
	for (int i = 0; i < kvs->n; i++)
		if (streq(kvs->v[i].key, key))
			return &kvs->v[i];
	return NULL;
}

static int fetch_etcd_history(const etcd_kvs *kvs, const char *root, view *v, fl_err *err)
{
	char key[VIEW_KEY_MAX];
	keys_path(root, KEY_HISTORY, NULL, key, sizeof key);
	const etcd_kv *kv = kvs_find(kvs, key);
	if (kv == NULL)
		return 0; /* no switch yet: the bootstrap leader writes none */
	if (view_history_from_json(kv->value ? kv->value : "", v, err) < 0) {
		fl_err_prefix(err, "etcd: key %s", key);
		return -1;
	}
	return 0;
}

static int fetch_etcd(const target *t, bool want_history, view *v, fl_err *err)
{
	char root[VIEW_KEY_MAX];
	etcd_kvs kvs = {0};
	if (target_read_cluster(t, root, sizeof root, &kvs, err) < 0)
		return -1;
	snprintf(v->source, sizeof v->source, "%s", root);
	int rc = view_from_kvs(&kvs, root, t->scope, v, err);
	if (rc == 0 && want_history)
		rc = fetch_etcd_history(&kvs, root, v, err);
	etcd_kvs_free(&kvs);
	return rc;
}

/*
 * GET base+path with a 200 answer. No answer: -1 with FL_ERR_TIMEOUT, "<url> did not answer: why".
 * Any other answer: -1 with FL_ERR_CONFIG naming the URL, the status and the node's error text.
 */
static int api_get(const target *t, const char *base, const char *path, http_answer *a, fl_err *err)
{
	char url[512];
	snprintf(url, sizeof url, "%s%s", base, path);
	if (http_get(url, t->timeout, a, err) < 0) {
		if (err != NULL && err->code == FL_ERR_TIMEOUT)
			fl_err_prefix(err, "%s did not answer", url);
		else
			fl_err_prefix(err, "api: %s", url);
		return -1;
	}
	if (a->status == 200)
		return 0;
	char text[200];
	json_t *j = json_loadb(a->body, a->len, 0, NULL);
	const char *msg = json_string_value(json_object_get(j, "error"));
	snprintf(text, sizeof text, "%.199s", msg ? msg : a->body);
	text[strcspn(text, "\r\n")] = '\0';
	json_decref(j);
	fl_fail(err, FL_ERR_CONFIG, "api: GET %s answered %d: %s\nHINT: is this a flotilla-replicator's REST API?", url,
		a->status, text);
	http_answer_clear(a);
	return -1;
}

static int api_parse(const char *base, const char *path, int (*parse)(const char *, view *, fl_err *),
		     const http_answer *a, view *v, fl_err *err)
{
	if (parse(a->body, v, err) == 0)
		return 0;
	fl_err_prefix(err, "api: GET %s%s answered", base, path);
	return -1;
}

/* One node: /cluster, then /history from the same node. */
static int fetch_api_one(const target *t, const char *base, bool want_history, view *v, fl_err *err)
{
	http_answer a;
	if (api_get(t, base, "/cluster", &a, err) < 0)
		return -1;
	int rc = api_parse(base, "/cluster", view_from_cluster_json, &a, v, err);
	http_answer_clear(&a);
	if (rc < 0 || !want_history)
		return rc;
	if (api_get(t, base, "/history", &a, err) < 0)
		return -1;
	rc = api_parse(base, "/history", view_history_from_json, &a, v, err);
	http_answer_clear(&a);
	return rc;
}

/* The nodes in turn until one answers; a node that answers wrongly ends the search (the next would not do better). */
static int fetch_api(const target *t, bool want_history, view *v, fl_err *err)
{
	char whys[FL_ERR_MSG_MAX - 160] = "";
	for (int i = 0; i < t->n_urls; i++) {
		fl_err one = {FL_OK, ""};
		if (fetch_api_one(t, t->urls[i], want_history, v, &one) == 0) {
			snprintf(v->source, sizeof v->source, "%s", t->urls[i]);
			return 0;
		}
		if (one.code != FL_ERR_TIMEOUT) {
			if (err != NULL)
				*err = one;
			return -1;
		}
		size_t used = strlen(whys);
		snprintf(whys + used, sizeof whys - used, "%s%s", used ? "; " : "", one.msg);
	}
	if (t->n_urls == 1)
		return fl_fail(err, FL_ERR_TIMEOUT,
			       "api: %s\nHINT: is its flotilla-replicator running? The URL came from %s", whys, t->via);
	return fl_fail(err, FL_ERR_TIMEOUT,
		       "api: no node answered: %s\nHINT: are the flotilla-replicators running? The URLs came from %s",
		       whys, t->via);
}

view *view_for(const char *cmd, const target_opts *o, bool want_history, fl_err *err)
{
	view *v = calloc(1, sizeof *v);
	if (v == NULL) {
		fl_fail(err, FL_ERR_INTERNAL, "%s: out of memory", cmd);
		return NULL;
	}
	target t;
	int rc = target_resolve(cmd, o, &t, err);
	if (rc == 0 && (rc = view_fetch(&t, want_history, v, err)) < 0)
		fl_err_prefix(err, "%s", cmd);
	target_clear(&t);
	if (rc < 0) {
		view_free(v);
		return NULL;
	}
	return v;
}

void view_free(view *v)
{
	if (v == NULL)
		return;
	view_clear(v);
	free(v);
}

int view_fetch(const target *t, bool want_history, view *v, fl_err *err)
{
	memset(v, 0, sizeof *v);
	return t->kind == TARGET_ETCD ? fetch_etcd(t, want_history, v, err) : fetch_api(t, want_history, v, err);
}
