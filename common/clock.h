/*
 * clock: monotonic and wall time in seconds as doubles. Decisions take `now`
 * as an argument; only callers read the clock.
 */
#ifndef FL_CLOCK_H
#define FL_CLOCK_H

double clock_mono(void);
double clock_wall(void);
/* Sleeps for seconds (restarting after signals). */
void clock_sleep(double seconds);

#endif
