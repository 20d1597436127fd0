/*
 * test_proc: the asynchronous process runner on a real event loop and real
 * programs (/bin/sh): output capture and its bound, standard error line by
 * line, exit statuses, a program that cannot be executed, the timeout that
 * ends a program and what it started, and the loop running on while a
 * program runs.
 */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <event2/event.h>

#include "common/clock.h"
#include "common/proc.h"
#include "cunit_main.h"

typedef struct outcome {
	bool done;
	int status;
	bool timed_out;
	char out[256];
	bool out_truncated;
	char tail[1024];
	char lines[8][128];
	int n_lines;
	int ticks; /* timer ticks seen while the program ran */
	struct event_base *base;
} outcome;

static void on_line(void *arg, const char *line)
{
	outcome *o = arg;
	if (o->n_lines < 8)
		snprintf(o->lines[o->n_lines++], sizeof o->lines[0], "%s", line);
}

static void on_done(void *arg, const proc_result *r)
{
	outcome *o = arg;
	o->done = true;
	o->status = r->status;
	o->timed_out = r->timed_out;
	o->out_truncated = r->out_truncated;
	snprintf(o->out, sizeof o->out, "%s", r->out);
	snprintf(o->tail, sizeof o->tail, "%s", r->err_tail);
	event_base_loopbreak(o->base);
}

static void on_tick(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	((outcome *)arg)->ticks++;
}

/* Runs `sh -c script` to its end (or 20 s) on a fresh loop with a 50 ms timer beside it. */
static outcome run(const char *script, double timeout, size_t capture)
{
	outcome o = {0};
	o.base = event_base_new();
	char *argv[] = {"sh", "-c", (char *)script, NULL};
	char *env[] = {"FLOTILLA_TEST_VALUE=seen", NULL};
	proc_spec spec = {.path = "/bin/sh",
			  .argv = argv,
			  .env = env,
			  .timeout = timeout,
			  .capture_max = capture,
			  .on_line = on_line,
			  .on_done = on_done,
			  .arg = &o};
	fl_err err = {0};
	proc *p = proc_start(o.base, &spec, &err);
	CU_ASSERT_PTR_NOT_NULL_FATAL(p);
	CU_ASSERT_TRUE(proc_running(p));
	struct event *tick = event_new(o.base, -1, EV_PERSIST, on_tick, &o);
	struct timeval tv = {0, 50000}, cap = {20, 0};
	event_add(tick, &tv);
	event_base_loopexit(o.base, &cap);
	event_base_dispatch(o.base);
	event_free(tick);
	proc_free(p);
	event_base_free(o.base);
	return o;
}

static void test_stdout_is_captured_and_the_status_reported(void)
{
	outcome o = run("printf 'hello %s' \"$FLOTILLA_TEST_VALUE\"; exit 3", 0, 100);
	CU_ASSERT_TRUE(o.done);
	CU_ASSERT_EQUAL(o.status, 3);
	CU_ASSERT_FALSE(o.timed_out);
	CU_ASSERT_STRING_EQUAL(o.out, "hello seen");
	CU_ASSERT_FALSE(o.out_truncated);
}

static void test_output_beyond_the_bound_is_cut_and_said(void)
{
	outcome o = run("head -c 100000 /dev/zero | tr '\\0' x", 0, 10);
	CU_ASSERT_TRUE(o.done);
	CU_ASSERT_EQUAL(o.status, 0);
	CU_ASSERT_STRING_EQUAL(o.out, "xxxxxxxxxx");
	CU_ASSERT_TRUE(o.out_truncated);
}

static void test_stderr_comes_line_by_line_with_carriage_returns(void)
{
	outcome o = run("printf ' 1/4 kB (25%%)\\r 4/4 kB (100%%)\\rdone\\nlast words' >&2", 0, 0);
	CU_ASSERT_TRUE(o.done);
	CU_ASSERT_EQUAL(o.n_lines, 4);
	CU_ASSERT_STRING_EQUAL(o.lines[0], " 1/4 kB (25%)");
	CU_ASSERT_STRING_EQUAL(o.lines[1], " 4/4 kB (100%)");
	CU_ASSERT_STRING_EQUAL(o.lines[2], "done");
	CU_ASSERT_STRING_EQUAL(o.lines[3], "last words");
	CU_ASSERT_PTR_NOT_NULL(strstr(o.tail, "last words"));
	proc_result r = {.status = 1, .err_tail = o.tail};
	char why[128];
	proc_describe(&r, 0, why, sizeof why);
	CU_ASSERT_STRING_EQUAL(why, "exit status 1: last words");
}

static void test_the_loop_runs_while_the_program_runs(void)
{
	double t0 = clock_mono();
	outcome o = run("sleep 0.6", 0, 0);
	CU_ASSERT_TRUE(o.done);
	CU_ASSERT_EQUAL(o.status, 0);
	CU_ASSERT_TRUE(clock_mono() - t0 >= 0.55);
	CU_ASSERT_TRUE(o.ticks >= 8); /* a 50 ms timer kept firing for 0.6 s */
}

static void test_a_timeout_ends_the_program_and_its_children(void)
{
	double t0 = clock_mono();
	outcome o = run("sleep 30 & sleep 30; wait", 0.3, 0);
	CU_ASSERT_TRUE(o.done);
	CU_ASSERT_TRUE(o.timed_out);
	CU_ASSERT_EQUAL(o.status, 128 + SIGTERM);
	CU_ASSERT_TRUE(clock_mono() - t0 < 5.0); /* the background sleep held no pipe open past the grace */
	proc_result r = {.status = o.status, .timed_out = true, .err_tail = ""};
	char why[128];
	proc_describe(&r, 0.3, why, sizeof why);
	CU_ASSERT_STRING_EQUAL(why, "timed out after 0.3 s");
}

static void test_a_missing_program_exits_127_naming_it(void)
{
	outcome o = {0};
	o.base = event_base_new();
	char *argv[] = {"no-such-program", NULL};
	proc_spec spec = {.path = "/nonexistent/no-such-program", .argv = argv, .on_done = on_done, .arg = &o};
	proc *p = proc_start(o.base, &spec, NULL);
	CU_ASSERT_PTR_NOT_NULL_FATAL(p);
	struct timeval cap = {10, 0};
	event_base_loopexit(o.base, &cap);
	event_base_dispatch(o.base);
	CU_ASSERT_TRUE(o.done);
	CU_ASSERT_EQUAL(o.status, 127);
	CU_ASSERT_PTR_NOT_NULL(strstr(o.tail, "cannot execute /nonexistent/no-such-program"));
	proc_free(p);
	event_base_free(o.base);
}

static void test_free_ends_a_running_program_without_calling_back(void)
{
	outcome o = {0};
	o.base = event_base_new();
	char *argv[] = {"sh", "-c", "sleep 30", NULL};
	proc_spec spec = {.path = "/bin/sh", .argv = argv, .on_done = on_done, .arg = &o};
	proc *p = proc_start(o.base, &spec, NULL);
	CU_ASSERT_PTR_NOT_NULL_FATAL(p);
	pid_t pid = proc_pid(p);
	double t0 = clock_mono();
	proc_free(p);
	CU_ASSERT_TRUE(clock_mono() - t0 < 2.0);
	CU_ASSERT_EQUAL(kill(pid, 0), -1); /* reaped: the pid is gone */
	CU_ASSERT_FALSE(o.done);
	proc_free(NULL);
	event_base_free(o.base);
}

void suite_register(void)
{
	CU_pSuite s = CU_add_suite("proc", NULL, NULL);
	CU_add_test(s, "stdout is captured and the status reported", test_stdout_is_captured_and_the_status_reported);
	CU_add_test(s, "output beyond the bound is cut and said", test_output_beyond_the_bound_is_cut_and_said);
	CU_add_test(s, "stderr comes line by line, carriage returns too",
		    test_stderr_comes_line_by_line_with_carriage_returns);
	CU_add_test(s, "the loop runs while the program runs", test_the_loop_runs_while_the_program_runs);
	CU_add_test(s, "a timeout ends the program and its children", test_a_timeout_ends_the_program_and_its_children);
	CU_add_test(s, "a missing program exits 127 naming it", test_a_missing_program_exits_127_naming_it);
	CU_add_test(s, "free ends a running program without calling back",
		    test_free_ends_a_running_program_without_calling_back);
}
