/*
 * status: `flotilla local status`, each node's process and PostgreSQL role.
 */
#include "local.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <jansson.h>

static void status_print_json(const local_cluster *c, const bool *alive, const node_probe *probes)
{
	json_t *arr = json_array();
	for (int i = 0; i < c->n; i++) {
		const local_node *n = &c->nodes[i];
		const node_probe *p = &probes[i];
		json_t *o = json_pack("{s:s, s:i, s:i, s:I, s:b, s:s}", "name", n->name, "pg_port", n->pg_port,
				      "api_port", n->api_port, "agent_pid", (json_int_t)n->agent_pid, "agent_alive",
				      alive[i], "role", node_role_names[p->role]);
		json_object_set_new(o, "wal_receiver", p->wal_status[0] ? json_string(p->wal_status) : json_null());
		json_object_set_new(o, "error", p->error[0] ? json_string(p->error) : json_null());
		json_array_append_new(arr, o);
	}
	json_dumpf(arr, stdout, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
	printf("\n");
	json_decref(arr);
}

static void status_print_table(const local_cluster *c, const bool *alive, const node_probe *probes)
{
	printf("%-5s %-8s %-8s %-8s %s\n", "NODE", "PG_PORT", "AGENT", "ROLE", "WAL_RECEIVER");
	for (int i = 0; i < c->n; i++) {
		const node_probe *p = &probes[i];
		printf("%-5s %-8d %-8s %-8s %s", c->nodes[i].name, c->nodes[i].pg_port,
		       alive[i] ? "running" : "stopped", node_role_names[p->role],
		       p->wal_status[0] ? p->wal_status : "-");
		printf(p->error[0] ? "  (%s)\n" : "%s\n", p->error);
	}
}

int local_status(int argc, char **argv, fl_err *err)
{
	const char *dir = NULL;
	bool json = false, help = false;
	if (dir_parse("local status", "json", argc, argv, &dir, &json, &help, err) < 0)
		return -1;
	if (help) {
		status_usage(stdout);
		return 0;
	}
	local_cluster *c = calloc(1, sizeof *c);
	if (c == NULL)
		return fl_fail(err, FL_ERR_INTERNAL, "local status: out of memory");
	int rc = cluster_load(c, "local status", dir, err);
	if (rc == 0) {
		bool alive[LOCAL_MAX_NODES];
		node_probe probes[LOCAL_MAX_NODES];
		char down[128] = "";
		for (int i = 0; i < c->n; i++) {
			alive[i] = pid_matches(c->nodes[i].agent_pid, LOCAL_AGENT, c->nodes[i].config);
			node_probe_run(&c->nodes[i], &probes[i]);
			if (probes[i].role == NODE_STOPPED)
				str_add(down, sizeof down, "%s%s", down[0] ? ", " : "", c->nodes[i].name);
		}
		if (json)
			status_print_json(c, alive, probes);
		else
			status_print_table(c, alive, probes);
		if (down[0] != '\0')
			rc = fl_fail(err, FL_ERR_POSTGRES, "local status: PostgreSQL does not answer on %s", down);
	}
	free(c);
	return rc;
}
