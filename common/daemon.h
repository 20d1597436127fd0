/*
 * daemon: the event loop every Flotilla daemon runs, owned by its main.c:
 * the event base, SIGTERM and SIGINT (stop: the daemon's own clean exit,
 * then the loop ends), SIGHUP (reload: the file or the environment read
 * again through daemon_info's loader; a bad one changes nothing and is
 * logged, a good one is handed to the daemon, which applies what a reload
 * may change), SIGPIPE ignored, and one-shot timers in seconds.
 */
#ifndef FL_COMMON_DAEMON_H
#define FL_COMMON_DAEMON_H

#include <stdbool.h>

#include "daemon_args.h"
#include "err.h"

struct event;
struct event_base;

typedef struct daemon_loop daemon_loop;

typedef struct daemon_hooks {
	void (*stop)(void *arg);               /* SIGTERM, SIGINT: release what the daemon holds */
	bool (*reload)(void *arg, void *next); /* SIGHUP: next is a freshly loaded options struct, freed after;
						false when the daemon refused it (and said why) */
	void *arg;
} daemon_hooks;

daemon_loop *daemon_loop_new(const daemon_info *info, const char *config_path, fl_err *err);
/* The hooks may be set once the daemon's objects exist; until then a signal only ends the loop. */
void daemon_loop_hooks(daemon_loop *d, const daemon_hooks *hooks);
struct event_base *daemon_loop_base(const daemon_loop *d);
/* Runs until a stop signal; 0. */
int daemon_loop_run(daemon_loop *d);
void daemon_loop_free(daemon_loop *d);

/* (Re)arms a one-shot timer event to fire in seconds. */
void daemon_timer_arm(struct event *timer, double seconds);

#endif
