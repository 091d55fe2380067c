/*
 * timeutil.h: clocks and RFC 3339 times.
 */
#ifndef CDC_TIMEUTIL_H
#define CDC_TIMEUTIL_H

#include <stdint.h>

#define RFC3339_BUFSZ 64

/* Wall clock, milliseconds since the epoch. */
int64_t now_ms(void);
/* Monotonic clock, milliseconds. */
int64_t mono_ms(void);
/* Format ms since the epoch as "2026-11-21T05:30:00.123Z" into out (RFC3339_BUFSZ). */
char *rfc3339_format(int64_t ms, char *out);
/*
 * Parse a point in time: RFC 3339 ("2026-11-21T05:30:00Z", fraction and
 * offset optional, a space allowed for 'T'), a date ("2026-11-21", UTC
 * midnight), "now", or relative to now ("-2h", "-30m", "-10s", "-1d").
 * Returns 0 with *ms set, or -1 if malformed.
 */
int time_parse(const char *s, int64_t *ms);
/* Parse a duration "500ms", "10s", "5m", "2h", "1d", or a bare number of seconds.  Returns 0 or -1. */
int duration_parse(const char *s, int64_t *ms);

#endif
