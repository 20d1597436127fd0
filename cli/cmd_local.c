/*
 * cmd_local: `flotilla local up|status|down|start|stop|kill`, dispatched to cli/local/,
 * where the local cluster's orchestrator lives (see cli/local/local.h).
 */
#include "cmd_local.h"

#include <stdio.h>
#include <string.h>

#include "cli/local/local.h"

typedef struct local_sub {
	const char *name;
	int (*run)(int argc, char **argv, fl_err *err);
} local_sub;

static const local_sub local_subs[] = {
	{"up", local_up},       {"status", local_status}, {"down", local_down},
	{"start", local_start}, {"stop", local_stop},     {"kill", local_kill},
};

int cmd_local(int argc, char **argv, fl_err *err)
{
	if (argc < 2) {
		local_usage(stderr);
		return fl_fail(err, FL_ERR_USAGE, "local: missing subcommand (up, status, down, start, stop or kill)");
	}
	const char *sub = argv[1];
	if (strcmp(sub, "--help") == 0 || strcmp(sub, "-h") == 0 || strcmp(sub, "help") == 0) {
		local_usage(stdout);
		return 0;
	}
	for (size_t i = 0; i < sizeof local_subs / sizeof local_subs[0]; i++)
		if (strcmp(local_subs[i].name, sub) == 0)
			return local_subs[i].run(argc - 1, argv + 1, err);
	return fl_fail(err, FL_ERR_USAGE, "local: unknown subcommand \"%s\"\nHINT: run flotilla local --help", sub);
}
