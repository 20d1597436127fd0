/*
 * render: members and timeline switches as patronictl-style tables and as
 * JSON, shared by `list`, `topology` and `history`. A member's table row and
 * its JSON object carry the same fields:
 *   member, host, role (Leader, Sync Standby, Replica, ...), state (running,
 *   streaming, stopped, ...), timeline, lag_in_mb (null for the leader or
 *   when unknown; the table shows "" and "unknown"), pending_restart (the
 *   table's "Pending restart" column, shown when a member has one), tags and
 *   drained (the "Tags" column, shown when a member has a tag or is drained)
 * and a switch: timeline, lsn, leader, time (ISO 8601, UTC).
 */
#ifndef FL_CLI_RENDER_H
#define FL_CLI_RENDER_H

#include <jansson.h>
#include <stdbool.h>
#include <stdio.h>

#include "common/err.h"
#include "table.h"
#include "view.h"

/* The table of v's members, and one row; indent prefixes the name with "+ " (topology). */
table *render_members_table(const view *v);
int render_member_row(table *t, const view *v, const view_member *m, bool indent);
/* "Cluster: NAME" with " (paused)" when automatic failover is paused. */
void render_title(const view *v, char *buf, size_t len);
/* The lines under the table, as patronictl prints them: the maintenance mode, a scheduled switchover. */
void render_footer(const view *v, FILE *f);
/* A member's JSON; with the cluster's state beside it (paused, scheduled_switchover), as every object of the
 * array carries it. */
json_t *render_member_json(const view *v, const view_member *m);

void render_history_table(const view *v, FILE *f);
json_t *render_history_json(const view *v);

/* Prints j (taken) indented, with a final newline. */
int render_json_print(json_t *j, FILE *f, fl_err *err);

#endif
