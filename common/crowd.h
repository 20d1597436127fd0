/*
 * crowd: the connections a server holds, and which one makes way when it is
 * full. A server keeps its connections oldest first; to make room it ends
 * the oldest whose request started but did not end, else the oldest that
 * sent nothing for `grace` seconds (a client's request may still be on its
 * way), else the oldest that sent nothing; never one being answered. The
 * list and the choice are pure.
 *
 * crowd_listener is the accepting socket around it: while the server is
 * crowded it accepts one connection per turn of the loop (so that what the
 * connections sent is read in between), and an accept that fails for want
 * of file descriptors ends a connection (or pauses 100 ms) instead of
 * spinning. Crowding is logged at most once every 10 s.
 */
#ifndef FL_COMMON_CROWD_H
#define FL_COMMON_CROWD_H

#include <stdbool.h>
#include <stdint.h>

#include <event2/util.h>

#include "err.h"

struct event_base;
struct sockaddr;

typedef struct crowd_node {
	struct crowd_node *prev, *next;
	bool started;   /* some of the request arrived */
	bool answering; /* the request is complete and being answered */
	double accepted_at;
} crowd_node;

typedef struct crowd {
	crowd_node *head, *tail; /* oldest first */
	int n;
	int cap; /* connections held at most (crowd_cap) */
	uint64_t evicted;
} crowd;

/* conn_max, lowered so that `reserve` descriptors stay free under fd_limit (< 0: none), but at least min. */
int crowd_cap(int conn_max, long fd_limit, int reserve, int min);
void crowd_add(crowd *c, crowd_node *x, double now);
void crowd_remove(crowd *c, crowd_node *x);
/* The connection to end to make room at now, or NULL when every one is being answered. */
crowd_node *crowd_victim(const crowd *c, double now, double grace);

typedef struct crowd_listener crowd_listener;

/* A connection was accepted: the server makes it a node of its crowd (and may answer it at once). */
typedef void (*crowd_accept_fn)(void *arg, evutil_socket_t fd, const struct sockaddr *peer, int peer_len);
/* Ends one connection to make room (crowd_victim); false when none may go. */
typedef bool (*crowd_evict_fn)(void *arg);

/*
 * Listens on addr (written as listen, for the error) with a deep queue
 * (1024); what names the server in log lines. FL_ERR_IO naming the address
 * when it cannot.
 */
crowd_listener *crowd_listener_new(struct event_base *base, const struct sockaddr *addr, int addr_len,
				   const char *listen, crowd *c, crowd_accept_fn accept, crowd_evict_fn evict,
				   void *arg, const char *what, fl_err *err);
void crowd_listener_free(crowd_listener *l);

#endif
