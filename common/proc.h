/*
 * proc: the asynchronous process runner. A program is forked, executed and
 * reaped on the caller's event loop: while it runs the loop goes on serving
 * timers, sockets and signals, so a daemon can run a clone, a backup or a
 * restore of any length and still renew its leases and answer its API.
 * Standard output is captured (bounded), standard error is handed over line by
 * line (progress) and its tail kept for the error message, and a timeout
 * ends the program (SIGTERM to its process group, SIGKILL 5 s later).
 * on_done is called exactly once, after the program was reaped and its
 * output read, unless the proc is freed first.
 */
#ifndef FL_COMMON_PROC_H
#define FL_COMMON_PROC_H

#include <stdbool.h>
#include <stddef.h>

#include "err.h"

struct event_base;

typedef struct proc proc;

typedef struct proc_result {
	int status;      /* exit code; 128 + signal when killed by one; 127 when it could not be executed */
	bool timed_out;  /* ended by the timeout */
	const char *out; /* captured standard output, NUL-terminated ("" when not captured) */
	size_t out_len;
	bool out_truncated;   /* more output than capture_max came */
	const char *err_tail; /* the last lines of standard error, NUL-terminated */
} proc_result;

typedef void (*proc_line_fn)(void *arg, const char *line);
typedef void (*proc_done_fn)(void *arg, const proc_result *r);

typedef struct proc_spec {
	const char *path;     /* program to execute */
	char *const *argv;    /* argv[0] included, NULL-terminated */
	char *const *env;     /* "NAME=value" entries added to the environment, NULL-terminated; may be NULL */
	double timeout;       /* seconds; 0 for none */
	size_t capture_max;   /* bytes of standard output kept; 0 sends it to /dev/null */
	proc_line_fn on_line; /* each line of standard error ('\r' ends a line too); may be NULL */
	proc_done_fn on_done;
	void *arg;
	bool die_with_parent; /* the program is killed when the daemon dies (PR_SET_PDEATHSIG) */
} proc_spec;

/* Starts the program; the strings of spec are copied. Fails naming the program when fork or pipe fail. */
proc *proc_start(struct event_base *base, const proc_spec *spec, fl_err *err);
bool proc_running(const proc *p);
int proc_pid(const proc *p);
/* Seconds since the program started. */
double proc_elapsed(const proc *p, double now_mono);
/* Kills a running program (SIGKILL to its process group) and reaps it; on_done is not called. Accepts NULL. */
void proc_free(proc *p);

/*
 * This program's own path (/proc/self/exe) into buf; a program replaced by
 * an upgrade while it runs gives the path of the one now there. -1 when it
 * cannot be read.
 */
int proc_self_path(char *buf, size_t len);
/* The directory of this program, where the programs it runs beside it are. */
int proc_self_dir(char *buf, size_t len);

/* A proc_result as one line: "exit status 1: <last line of standard error>", "timed out after 30 s", ... */
void proc_describe(const proc_result *r, double timeout, char *buf, size_t len);

#endif
