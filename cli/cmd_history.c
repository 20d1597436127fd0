/*
 * cmd_history: parses the command line, fetches the view with its history
 * (target, view) and prints the switches, oldest first (render).
 */
#include "cmd_history.h"

#include <stdio.h>
#include <stdlib.h>

#include "render.h"
#include "target.h"
#include "view.h"

static void history_usage(FILE *f)
{
	fprintf(f, "Usage: flotilla history [OPTIONS]\n\n"
		   "The cluster's timeline switches, oldest first: the timeline a new leader promoted onto,\n"
		   "the WAL position, the new leader and when (UTC). Empty until the first failover.\n\n"
		   "  --json              print a JSON array with the fields timeline, lsn, leader, time\n");
	target_usage(f);
}

int cmd_history(int argc, char **argv, fl_err *err)
{
	target_opts o;
	bool json, help;
	if (target_parse_args("history", argc, argv, &o, &json, &help, err) < 0)
		return -1;
	if (help) {
		history_usage(stdout);
		return 0;
	}
	if (optind < argc)
		return fl_fail(err, FL_ERR_USAGE,
			       "history: unexpected argument \"%s\"\nHINT: run flotilla history --help", argv[optind]);
	view *v = view_for("history", &o, true, err);
	if (v == NULL)
		return -1;
	int rc = 0;
	if (json)
		rc = render_json_print(render_history_json(v), stdout, err);
	else
		render_history_table(v, stdout);
	view_free(v);
	return rc;
}
