/*
 * deadline: when a bounded wait on PostgreSQL ends, pure. A call waits at
 * most its own timeout, and never past a deadline (clock_mono() seconds, 0
 * for none) when one is set: a leader's calls end by its fencing deadline,
 * with a floor of PG_DEADLINE_FLOOR seconds so that a call made right at
 * the deadline still gets a short answer.
 */
#ifndef FL_PG_DEADLINE_H
#define FL_PG_DEADLINE_H

#include <stdbool.h>

#define PG_DEADLINE_FLOOR 0.05

/* The moment a wait begun at now with this timeout ends: now + timeout, cut by the deadline (floor included). */
double pg_wait_until(double now, double deadline, double timeout);
/* Whether the deadline, not the timeout, ends that wait. */
bool pg_wait_cut(double now, double deadline, double timeout);
/* Milliseconds from now until until for poll(2), rounded up; 0 when it has passed. */
int pg_wait_ms(double until, double now);

#endif
