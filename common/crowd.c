/*
 * crowd: a server's connections and the one that makes way (see crowd.h).
 */
#include "crowd.h"

#include <stddef.h>

int crowd_cap(int conn_max, long fd_limit, int reserve, int min)
{
	if (fd_limit >= 0 && fd_limit - reserve < conn_max)
		conn_max = fd_limit - reserve > min ? (int)(fd_limit - reserve) : min;
	return conn_max < min ? min : conn_max;
}

void crowd_add(crowd *c, crowd_node *x, double now)
{
	x->accepted_at = now;
	x->next = NULL;
	x->prev = c->tail;
	if (c->tail)
		c->tail->next = x;
	else
		c->head = x;
	c->tail = x;
	c->n++;
}

void crowd_remove(crowd *c, crowd_node *x)
{
	if (x->prev)
		x->prev->next = x->next;
	else
		c->head = x->next;
	if (x->next)
		x->next->prev = x->prev;
	else
		c->tail = x->prev;
	x->prev = x->next = NULL;
	c->n--;
}

crowd_node *crowd_victim(const crowd *c, double now, double grace)
{
	crowd_node *quiet = NULL, *young = NULL;
	for (crowd_node *x = c->head; x; x = x->next) {
		if (x->answering)
			continue;
		if (x->started)
			return x;
		if (quiet == NULL && now - x->accepted_at >= grace)
			quiet = x;
		if (young == NULL)
			young = x;
	}
	return quiet ? quiet : young;
}
