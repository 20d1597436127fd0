/*
 * timeparse: points in time as people and scripts write them:
 * "2026-11-25T13:00:00+00:00", "...Z", "2026-11-25 13:00+0100", with optional
 * seconds and fraction (what Python's isoformat() and patronictl send). An
 * explicit time zone is required, and any other form is refused rather than
 * guessed (is 11/12 November or December?).
 */
#ifndef FL_COMMON_TIMEPARSE_H
#define FL_COMMON_TIMEPARSE_H

typedef enum time_verdict { TIME_OK, TIME_NO_ZONE, TIME_MALFORMED } time_verdict;

/* Into unix time (seconds, with the fraction). */
time_verdict timeparse_iso8601(const char *text, double *out);

#endif
