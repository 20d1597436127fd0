/*
 * clock: monotonic and wall time in seconds as doubles. Decisions take `now`
 * as an argument; only callers read the clock. The monotonic clock is
 * CLOCK_BOOTTIME, which keeps counting while the machine is suspended: a
 * lease deadline measured on it passes in real time, and the fence process
 * (flotilla-fence) arms its timer on the same clock.
 */
#ifndef FL_CLOCK_H
#define FL_CLOCK_H

/* Seconds on CLOCK_BOOTTIME. */
double clock_mono(void);
double clock_wall(void);
/* Sleeps for seconds (restarting after signals). */
void clock_sleep(double seconds);

#endif
