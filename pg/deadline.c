/*
 * deadline: the arithmetic of bounded waits (see deadline.h).
 */
#include "deadline.h"

#include <limits.h>
#include <math.h>

bool pg_wait_cut(double now, double deadline, double timeout) { return deadline > 0 && deadline < now + timeout; }

double pg_wait_until(double now, double deadline, double timeout)
{
	if (!pg_wait_cut(now, deadline, timeout))
		return now + timeout;
	double floor_at = now + (timeout < PG_DEADLINE_FLOOR ? timeout : PG_DEADLINE_FLOOR);
	return deadline > floor_at ? deadline : floor_at;
}

int pg_wait_ms(double until, double now)
{
	double ms = ceil((until - now) * 1000.0);
	if (!(ms > 0))
		return 0;
	return ms >= (double)INT_MAX ? INT_MAX : (int)ms;
}
