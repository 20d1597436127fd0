/*
 * test_callbacks: the callbacks' events from what the agent observes, one
 * row per sequence of probes (running, the role it answers in, a restart
 * under way, a quiet stop of the agent's own): the events Patroni's
 * callbacks see for a start, a stop, a crash, a restart, a promotion, a
 * demotion, a fence, and nothing for the flickers between.
 */
#include <string.h>

#include "cunit_main.h"
#include "replicator/callbacks.h"

#define ROWS(a) (sizeof(a) / sizeof((a)[0]))
#define MAXSTEPS 8

typedef struct step {
	bool running;
	const char *role; /* "" when it does not answer */
	bool restarting, quiet;
	callback_event want;
	const char *want_role; /* for an event */
} step;

typedef struct row {
	const char *what;
	step steps[MAXSTEPS];
	int n;
} row;

#define S(run, role, rs, q, ev, er)                                                                                    \
	{                                                                                                              \
		run, role, rs, q, ev, er                                                                               \
	}
#define DOWN S(false, "", false, false, CB_NONE, NULL)

static const row rows[] = {
	{"agent starts with postgres down, then starts it as a replica",
	 {DOWN, S(true, "", false, false, CB_NONE, NULL), S(true, "replica", false, false, CB_ON_START, "replica"),
	  S(true, "replica", false, false, CB_NONE, NULL)},
	 4},
	{"agent starts with postgres already up: nothing",
	 {S(true, "primary", false, false, CB_NONE, NULL), S(true, "primary", false, false, CB_NONE, NULL)},
	 2},
	{"bootstrap: up as a primary", {DOWN, S(true, "primary", false, false, CB_ON_START, "primary")}, 2},
	{"a crash: on_stop with the last role, then on_start",
	 {S(true, "primary", false, false, CB_NONE, NULL), S(false, "", false, false, CB_ON_STOP, "primary"), DOWN,
	  S(true, "primary", false, false, CB_ON_START, "primary")},
	 4},
	{"a query that fails while the postmaster runs: nothing",
	 {S(true, "replica", false, false, CB_NONE, NULL), S(true, "", false, false, CB_NONE, NULL),
	  S(true, "replica", false, false, CB_NONE, NULL)},
	 3},
	{"a promotion (switchover or failover)",
	 {S(true, "replica", false, false, CB_NONE, NULL),
	  S(true, "primary", false, false, CB_ON_ROLE_CHANGE, "primary"),
	  S(true, "primary", false, false, CB_NONE, NULL)},
	 3},
	{"a demotion: stopped quietly, up as a replica: the role change alone",
	 {S(true, "primary", false, false, CB_NONE, NULL), S(false, "", false, true, CB_NONE, NULL),
	  S(true, "", false, true, CB_NONE, NULL), S(true, "replica", false, true, CB_ON_ROLE_CHANGE, "replica")},
	 4},
	{"a rewind or re-clone of a replica: quiet, same role: nothing",
	 {S(true, "replica", false, false, CB_NONE, NULL), S(false, "", false, true, CB_NONE, NULL),
	  S(true, "replica", false, true, CB_NONE, NULL)},
	 3},
	{"a restart on request: on_restart alone",
	 {S(true, "replica", false, false, CB_NONE, NULL), S(false, "", true, true, CB_NONE, NULL),
	  S(true, "replica", true, true, CB_ON_RESTART, "replica")},
	 3},
	{"a restart of a leader that comes back a replica: on_restart with the new role",
	 {S(true, "primary", false, false, CB_NONE, NULL), S(false, "", true, true, CB_NONE, NULL),
	  S(true, "replica", true, true, CB_ON_RESTART, "replica")},
	 3},
	{"a fence: quiet; up again as a replica later",
	 {S(true, "primary", false, false, CB_NONE, NULL), S(false, "", false, true, CB_NONE, NULL), DOWN,
	  S(true, "replica", false, true, CB_ON_ROLE_CHANGE, "replica")},
	 4},
	{"a new agent that rewinds its data first (quiet) and starts it: on_start, its first start",
	 {DOWN, S(false, "", false, true, CB_NONE, NULL), S(true, "replica", false, true, CB_ON_START, "replica")},
	 3},
	{"stopped by an operator (not the agent): on_stop",
	 {S(true, "replica", false, false, CB_NONE, NULL), S(false, "", false, false, CB_ON_STOP, "replica")},
	 2},
	{"running but never answering: nothing until it answers",
	 {DOWN, S(true, "", false, false, CB_NONE, NULL), S(false, "", false, false, CB_NONE, NULL),
	  S(true, "primary", false, false, CB_ON_START, "primary")},
	 4},
};

static void test_sequences(void)
{
	for (unsigned r = 0; r < ROWS(rows); r++) {
		callback_state st = {0};
		for (int i = 0; i < rows[r].n; i++) {
			const step *s = &rows[r].steps[i];
			const char *role = NULL;
			callback_event ev = callbacks_step(&st, s->running, s->role, s->restarting, s->quiet, &role);
			if (ev != s->want || (s->want_role && strcmp(role, s->want_role) != 0))
				fprintf(stderr, "%s, step %d: %s %s, want %s %s\n", rows[r].what, i,
					callback_event_names[ev], role, callback_event_names[s->want],
					s->want_role ? s->want_role : "");
			CU_ASSERT_EQUAL(ev, s->want);
			if (s->want_role)
				CU_ASSERT_STRING_EQUAL(role, s->want_role);
		}
	}
}

void suite_register(void)
{
	CU_pSuite s = CU_add_suite("callbacks", NULL, NULL);
	CU_add_test(s, "sequences", test_sequences);
}
