/*
 * callback_rule: which callback an observation calls for (callbacks_step,
 * pure); see callbacks.h. The runner is callbacks.c.
 */
#include <stdio.h>
#include <string.h>

#include "callbacks.h"

const char *const callback_event_names[] = {"", "on_start", "on_stop", "on_restart", "on_role_change"};

callback_event callbacks_step(callback_state *st, bool running, const char *role, bool restarting, bool quiet,
			      const char **arg_role)
{
	bool answers = role != NULL && role[0] != '\0';
	callback_event ev = CB_NONE;
	*arg_role = st->role;
	if (!st->known) {
		st->known = true;
		st->up = running && answers;
	} else if (!st->up && running && answers) {
		st->up = true;
		if (restarting)
			ev = CB_ON_RESTART;
		else if (!quiet || !st->role[0])
			ev = CB_ON_START; /* quiet, but the first start this agent sees */
		else if (st->role[0] && strcmp(st->role, role) != 0)
			ev = CB_ON_ROLE_CHANGE;
	} else if (st->up && !running) {
		st->up = false;
		ev = restarting || quiet ? CB_NONE : CB_ON_STOP;
		return ev; /* *arg_role: the last role */
	} else if (st->up && answers && st->role[0] && strcmp(st->role, role) != 0) {
		ev = CB_ON_ROLE_CHANGE;
	}
	if (answers && running)
		snprintf(st->role, sizeof st->role, "%s", role);
	*arg_role = st->role;
	return ev;
}
