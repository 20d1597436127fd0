/*
 * cmd_list: parses the command line, fetches the view (target, view) and
 * prints the selected members (render).
 */
#include "cmd_list.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "render.h"
#include "target.h"
#include "view.h"

static void list_usage(FILE *f)
{
	fprintf(f, "Usage: flotilla list [OPTIONS] [MEMBER...]\n\n"
		   "The members of the cluster, as patronictl list shows them: Member | Host | Role (Leader,\n"
		   "Sync Standby, Replica, Stopped, ...) | State (running, streaming, stopped, ...) | TL |\n"
		   "Lag in MB. Named members narrow the list; an unknown one exits 10.\n\n"
		   "Optional columns: Pending restart (*), Tags (nofailover, noloadbalance, priority, drained:\n"
		   "out of HAProxy's read-only pool), shown when a member has one; under the table, the\n"
		   "maintenance mode (paused) and a scheduled switchover.\n\n"
		   "  --json              print a JSON array of members with the fields member, host, role,\n"
		   "                      state, timeline, lag_in_mb (null for the leader or when unknown),\n"
		   "                      pending_restart, tags {nofailover, noloadbalance, priority},\n"
		   "                      drained, and the cluster's paused and scheduled_switchover\n"
		   "                      ({at, from, to} or null) on every member\n");
	target_usage(f);
}

/* Checks every named member; all of them when none is named. */
static int list_select(const view *v, int n_names, char **names, fl_err *err)
{
	for (int i = 0; i < n_names; i++) {
		if (view_member_find(v, names[i]) != NULL)
			continue;
		char known[512] = "";
		for (int k = 0; k < v->n_members; k++)
			snprintf(known + strlen(known), sizeof known - strlen(known), "%s%s", k ? ", " : "",
				 v->members[k].name);
		return fl_fail(err, FL_ERR_NOT_FOUND, "list: cluster \"%s\" has no member \"%s\" (members: %s)",
			       v->scope, names[i], known[0] ? known : "none");
	}
	return 0;
}

static bool list_selected(const view_member *m, int n_names, char **names)
{
	if (n_names == 0)
		return true;
	for (int i = 0; i < n_names; i++)
		if (strcmp(names[i], m->name) == 0)
			return true;
	return false;
}

static int list_print(const view *v, bool json, int n_names, char **names, fl_err *err)
{
	if (json) {
		json_t *arr = json_array();
		for (int i = 0; arr && i < v->n_members; i++)
			if (list_selected(&v->members[i], n_names, names))
				json_array_append_new(arr, render_member_json(v, &v->members[i]));
		return render_json_print(arr, stdout, err);
	}
	table *t = render_members_table(v);
	if (t == NULL)
		return fl_fail(err, FL_ERR_INTERNAL, "list: out of memory");
	int rc = 0;
	for (int i = 0; rc == 0 && i < v->n_members; i++)
		if (list_selected(&v->members[i], n_names, names))
			rc = render_member_row(t, v, &v->members[i], false);
	char title[VIEW_NAME_MAX + 32];
	render_title(v, title, sizeof title);
	if (rc == 0) {
		table_print(t, title, stdout);
		render_footer(v, stdout);
	}
	table_free(t);
	return rc == 0 ? 0 : fl_fail(err, FL_ERR_INTERNAL, "list: out of memory");
}

int cmd_list(int argc, char **argv, fl_err *err)
{
	target_opts o;
	bool json, help;
	if (target_parse_args("list", argc, argv, &o, &json, &help, err) < 0)
		return -1;
	if (help) {
		list_usage(stdout);
		return 0;
	}
	int n_names = argc - optind;
	char **names = argv + optind;
	view *v = view_for("list", &o, false, err);
	if (v == NULL)
		return -1;
	int rc = list_select(v, n_names, names, err);
	if (rc == 0)
		rc = list_print(v, json, n_names, names, err);
	view_free(v);
	return rc;
}
