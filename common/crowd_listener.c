/*
 * crowd_listener: the accepting socket that paces accepts while its server
 * is crowded (see crowd.h).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/event.h>
#include <event2/listener.h>

#include "clock.h"
#include "crowd.h"
#include "log.h"

/* The kernel's queue of connections not yet accepted: deep, so that a crowd does not make a health
 * check's SYN wait for a retransmission (capped by net.core.somaxconn). */
#define CROWD_BACKLOG 1024

struct crowd_listener {
	struct evconnlistener *listener;
	struct event *resume;
	crowd *crowd;
	crowd_accept_fn accept;
	crowd_evict_fn evict;
	void *arg;
	char what[32];
	double warned_at;
};

static void warn_crowded(crowd_listener *l, const char *why)
{
	double now = clock_mono();
	if (l->warned_at != 0 && now - l->warned_at < 10)
		return;
	l->warned_at = now;
	log_warn("%s: %s (%d open, %llu ended early so far): ending the oldest unfinished requests", l->what, why,
		 l->crowd->n, (unsigned long long)l->crowd->evicted);
}

static void on_accept(struct evconnlistener *el, evutil_socket_t fd, struct sockaddr *sa, int salen, void *arg)
{
	crowd_listener *l = arg;
	l->accept(l->arg, fd, sa, salen);
	if (l->crowd->n < l->crowd->cap)
		return;
	/* Crowded: one accept per turn of the loop, so that what the connections sent is read in between
	 * (an unfinished one is ended before a fresh one whose request is on its way). */
	evconnlistener_disable(el);
	event_active(l->resume, EV_TIMEOUT, 0);
	if (l->crowd->n <= l->crowd->cap)
		return;
	warn_crowded(l, "connection limit reached");
	if (l->evict(l->arg))
		l->crowd->evicted++;
}

static void on_resume(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	evconnlistener_enable(((crowd_listener *)arg)->listener);
}

/* accept failed: out of file descriptors ends a connection, or pauses 100 ms. */
static void on_accept_error(struct evconnlistener *el, void *arg)
{
	crowd_listener *l = arg;
	int e = EVUTIL_SOCKET_ERROR();
	if (e == EMFILE || e == ENFILE) {
		warn_crowded(l, "out of file descriptors");
		if (l->evict(l->arg)) {
			l->crowd->evicted++;
			return;
		}
	} else {
		log_warn("%s: accept: %s", l->what, strerror(e));
	}
	evconnlistener_disable(el);
	struct timeval tv = {0, 100000};
	evtimer_add(l->resume, &tv);
}

crowd_listener *crowd_listener_new(struct event_base *base, const struct sockaddr *addr, int addr_len,
				   const char *listen, crowd *c, crowd_accept_fn accept, crowd_evict_fn evict,
				   void *arg, const char *what, fl_err *err)
{
	crowd_listener *l = calloc(1, sizeof *l);
	if (l == NULL) {
		fl_fail(err, FL_ERR_INTERNAL, "%s: out of memory", what);
		return NULL;
	}
	l->crowd = c;
	l->accept = accept;
	l->evict = evict;
	l->arg = arg;
	snprintf(l->what, sizeof l->what, "%s", what);
	l->resume = evtimer_new(base, on_resume, l);
	l->listener = evconnlistener_new_bind(base, on_accept, l,
					      LEV_OPT_CLOSE_ON_FREE | LEV_OPT_REUSEABLE | LEV_OPT_CLOSE_ON_EXEC,
					      CROWD_BACKLOG, addr, addr_len);
	if (l->listener == NULL || l->resume == NULL) {
		int e = errno;
		crowd_listener_free(l);
		fl_fail(err, FL_ERR_IO, "cannot listen on %s: %s", listen, strerror(e));
		return NULL;
	}
	evconnlistener_set_error_cb(l->listener, on_accept_error);
	return l;
}

void crowd_listener_free(crowd_listener *l)
{
	if (l == NULL)
		return;
	if (l->listener)
		evconnlistener_free(l->listener);
	if (l->resume)
		event_free(l->resume);
	free(l);
}
