/*
 * render: the formatting of view records. Lag is shown in MB rounded to the
 * nearest whole MB (1 MB = 1048576 bytes), as patronictl shows it.
 */
#include "render.h"

#include <inttypes.h>
#include <string.h>
#include <time.h>

#define MB 1048576

static const char *const member_headers[] = {"Member",          "Host", "Role", "State", "TL", "Lag in MB",
					     "Pending restart", "Tags"};
static const bool member_right[] = {false, false, false, false, true, true, false, false};
#define MEMBER_BASE_COLS 6

static const char *const history_headers[] = {"TL", "LSN", "Leader", "Time"};
static const bool history_right[] = {true, false, false, false};
#define HISTORY_COLS (int)(sizeof history_headers / sizeof history_headers[0])

static int64_t lag_mb(int64_t bytes) { return (bytes + MB / 2) / MB; }

static bool has_tags(const view_member *m) { return m->nofailover || m->noloadbalance || m->priority || m->drained; }

/* Which of the optional columns v needs: pending restart, tags. */
static void optional_columns(const view *v, bool *pending, bool *tags)
{
	*pending = *tags = false;
	for (int i = 0; i < v->n_members; i++) {
		*pending |= v->members[i].pending_restart;
		*tags |= has_tags(&v->members[i]);
	}
}

table *render_members_table(const view *v)
{
	bool pending, tags;
	optional_columns(v, &pending, &tags);
	const char *headers[8];
	bool right[8];
	int n = 0;
	for (int i = 0; i < MEMBER_BASE_COLS; i++, n++) {
		headers[n] = member_headers[i];
		right[n] = member_right[i];
	}
	if (pending) {
		headers[n] = member_headers[6];
		right[n++] = member_right[6];
	}
	if (tags) {
		headers[n] = member_headers[7];
		right[n++] = member_right[7];
	}
	return table_new(n, headers, right);
}

void render_title(const view *v, char *buf, size_t len)
{
	snprintf(buf, len, "Cluster: %s%s", v->scope, v->paused ? " (paused)" : "");
}

/* "nofailover, noloadbalance, priority: 5, drained" */
static void tags_text(const view_member *m, char *buf, size_t len)
{
	buf[0] = '\0';
	if (m->nofailover)
		snprintf(buf + strlen(buf), len - strlen(buf), "%snofailover", buf[0] ? ", " : "");
	if (m->noloadbalance)
		snprintf(buf + strlen(buf), len - strlen(buf), "%snoloadbalance", buf[0] ? ", " : "");
	if (m->priority)
		snprintf(buf + strlen(buf), len - strlen(buf), "%spriority: %ld", buf[0] ? ", " : "", m->priority);
	if (m->drained)
		snprintf(buf + strlen(buf), len - strlen(buf), "%sdrained", buf[0] ? ", " : "");
}

int render_member_row(table *t, const view *v, const view_member *m, bool indent)
{
	char name[VIEW_NAME_MAX + 2], tl[24] = "", lag[32] = "", tags[128];
	snprintf(name, sizeof name, "%s%s", indent ? "+ " : "", m->name);
	if (m->timeline > 0)
		snprintf(tl, sizeof tl, "%ld", m->timeline);
	if (m->lag == VIEW_LAG_UNKNOWN)
		snprintf(lag, sizeof lag, "unknown");
	else if (m->lag >= 0)
		snprintf(lag, sizeof lag, "%" PRId64, lag_mb(m->lag));
	tags_text(m, tags, sizeof tags);
	bool pending, with_tags;
	optional_columns(v, &pending, &with_tags);
	const char *cells[8] = {name, m->host, view_role_title(m->role), m->state, tl, lag};
	int n = MEMBER_BASE_COLS;
	if (pending)
		cells[n++] = m->pending_restart ? "*" : "";
	if (with_tags)
		cells[n++] = tags;
	return table_add(t, cells);
}

static void time_format(double t, char *buf, size_t len);

void render_footer(const view *v, FILE *f)
{
	if (v->paused)
		fprintf(f, " Maintenance mode: on\n");
	if (v->switchover_at > 0) {
		char when[40];
		time_format(v->switchover_at, when, sizeof when);
		fprintf(f, " Switchover scheduled at: %s\n                    from: %s\n", when, v->switchover_from);
		if (v->switchover_to[0])
			fprintf(f, "                      to: %s\n", v->switchover_to);
	}
}

json_t *render_member_json(const view *v, const view_member *m)
{
	json_t *o =
		json_pack("{s:s, s:o, s:s, s:s, s:o, s:o, s:b, s:{s:b, s:b, s:I}, s:b, s:b}", "member", m->name, "host",
			  m->host[0] ? json_string(m->host) : json_null(), "role", view_role_title(m->role), "state",
			  m->state, "timeline", m->timeline > 0 ? json_integer(m->timeline) : json_null(), "lag_in_mb",
			  m->lag >= 0 ? json_integer(lag_mb(m->lag)) : json_null(), "pending_restart",
			  m->pending_restart, "tags", "nofailover", m->nofailover, "noloadbalance", m->noloadbalance,
			  "priority", (json_int_t)m->priority, "drained", m->drained, "paused", v->paused);
	if (o == NULL)
		return NULL;
	if (v->switchover_at > 0) {
		char when[40];
		time_format(v->switchover_at, when, sizeof when);
		json_object_set_new(o, "scheduled_switchover",
				    json_pack("{s:s, s:s, s:o}", "at", when, "from", v->switchover_from, "to",
					      v->switchover_to[0] ? json_string(v->switchover_to) : json_null()));
	} else {
		json_object_set_new(o, "scheduled_switchover", json_null());
	}
	return o;
}

/* 2026-11-23T10:00:00.123Z, or "" when the time was not recorded. */
static void time_format(double t, char *buf, size_t len)
{
	struct tm tm;
	buf[0] = '\0';
	if (!(t > 0 && t < 1e11))
		return;
	time_t secs = (time_t)t;
	if (gmtime_r(&secs, &tm) == NULL)
		return;
	int ms = (int)((t - (double)secs) * 1000.0);
	snprintf(buf, len, "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday,
		 tm.tm_hour, tm.tm_min, tm.tm_sec,
		 ms < 0     ? 0
		 : ms > 999 ? 999
			    : ms);
}

void render_history_table(const view *v, FILE *f)
{
	table *t = table_new(HISTORY_COLS, history_headers, history_right);
	if (t == NULL)
		return;
	for (int i = 0; i < v->n_history; i++) {
		const view_switch *s = &v->history[i];
		char tl[24], when[40];
		snprintf(tl, sizeof tl, "%ld", s->timeline);
		time_format(s->time, when, sizeof when);
		const char *cells[] = {tl, s->lsn, s->leader, when};
		table_add(t, cells);
	}
	char title[VIEW_NAME_MAX + 32];
	render_title(v, title, sizeof title);
	table_print(t, title, f);
	table_free(t);
}

json_t *render_history_json(const view *v)
{
	json_t *arr = json_array();
	for (int i = 0; arr && i < v->n_history; i++) {
		const view_switch *s = &v->history[i];
		char when[40];
		time_format(s->time, when, sizeof when);
		json_array_append_new(arr, json_pack("{s:I, s:s, s:s, s:o}", "timeline", (json_int_t)s->timeline, "lsn",
						     s->lsn, "leader", s->leader, "time",
						     when[0] ? json_string(when) : json_null()));
	}
	return arr;
}

int render_json_print(json_t *j, FILE *f, fl_err *err)
{
	if (j == NULL)
		return fl_fail(err, FL_ERR_INTERNAL, "cannot build the JSON answer");
	int rc = json_dumpf(j, f, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
	json_decref(j);
	if (rc < 0)
		return fl_fail(err, FL_ERR_IO, "cannot write the JSON answer");
	fprintf(f, "\n");
	return 0;
}
