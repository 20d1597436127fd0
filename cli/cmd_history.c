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
	target t;
	view *v = calloc(1, sizeof *v);
	if (v == NULL)
		return fl_fail(err, FL_ERR_INTERNAL, "history: out of memory");
	int rc = target_resolve("history", &o, &t, err);
	if (rc == 0 && (rc = view_fetch(&t, true, v, err)) < 0)
		fl_err_prefix(err, "history");
	if (rc == 0 && json)
		rc = render_json_print(render_history_json(v), stdout, err);
	else if (rc == 0)
		render_history_table(v, stdout);
	target_clear(&t);
	view_clear(v);
	free(v);
	return rc;
}
