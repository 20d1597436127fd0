/*
 * cmd_topology: parses the command line, fetches the view (target, view)
 * and prints the leader with the other members under it (render).
 */
#include "cmd_topology.h"

#include <stdio.h>
#include <stdlib.h>

#include "render.h"
#include "target.h"
#include "view.h"

static void topology_usage(FILE *f)
{
	fprintf(f, "Usage: flotilla topology [OPTIONS]\n\n"
		   "The members as a tree, as patronictl topology draws it: the leader first, the members\n"
		   "replicating from it indented under it (\"+ name\"). Without a leader every member\n"
		   "stands alone.\n\n"
		   "  --json              print a JSON array of top-level members, each with the fields of\n"
		   "                      flotilla list --json and \"replicas\", an array of the same\n");
	target_usage(f);
}

static json_t *topology_json(const view *v, const view_member *leader)
{
	json_t *top = json_array();
	for (int i = 0; top && i < v->n_members; i++) {
		const view_member *m = &v->members[i];
		if (leader != NULL && m != leader)
			continue;
		json_t *node = render_member_json(v, m);
		json_t *replicas = json_array();
		for (int k = 0; leader != NULL && k < v->n_members; k++)
			if (&v->members[k] != leader)
				json_array_append_new(replicas, render_member_json(v, &v->members[k]));
		json_object_set_new(node, "replicas", replicas);
		json_array_append_new(top, node);
	}
	return top;
}

static int topology_table(const view *v, const view_member *leader, fl_err *err)
{
	table *t = render_members_table(v);
	if (t == NULL)
		return fl_fail(err, FL_ERR_INTERNAL, "topology: out of memory");
	int rc = leader ? render_member_row(t, v, leader, false) : 0;
	for (int i = 0; rc == 0 && i < v->n_members; i++)
		if (&v->members[i] != leader)
			rc = render_member_row(t, v, &v->members[i], leader != NULL);
	char title[VIEW_NAME_MAX + 32];
	render_title(v, title, sizeof title);
	if (rc == 0) {
		table_print(t, title, stdout);
		render_footer(v, stdout);
	}
	table_free(t);
	return rc == 0 ? 0 : fl_fail(err, FL_ERR_INTERNAL, "topology: out of memory");
}

int cmd_topology(int argc, char **argv, fl_err *err)
{
	target_opts o;
	bool json, help;
	if (target_parse_args("topology", argc, argv, &o, &json, &help, err) < 0)
		return -1;
	if (help) {
		topology_usage(stdout);
		return 0;
	}
	if (optind < argc)
		return fl_fail(err, FL_ERR_USAGE,
			       "topology: unexpected argument \"%s\"\nHINT: run flotilla topology --help",
			       argv[optind]);
	view *v = view_for("topology", &o, false, err);
	if (v == NULL)
		return -1;
	const view_member *leader = view_leader(v);
	int rc = json ? render_json_print(topology_json(v, leader), stdout, err) : topology_table(v, leader, err);
	view_free(v);
	return rc;
}
