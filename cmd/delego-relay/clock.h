/*
 * clock: the relay's notion of "now".
 *
 * Wall clock plus DELEGO_RELAY_CLOCK_OFFSET_MS, so that tests can move time
 * (mint a token, then act 16 minutes later) in both `serve` and the CLI.
 */
#ifndef RELAY_CLOCK_H
#define RELAY_CLOCK_H

#include <stddef.h>
#include <stdint.h>

/* Milliseconds since the epoch, offset applied. */
int64_t relay_clock_now_ms(void);
/* Writes "YYYY-MM-DDTHH:MM:SS.mmmZ" (UTC) into out; needs 25 bytes. */
void relay_clock_iso(int64_t ms, char *out, size_t len);
/* Parses a decimal integer with bounds; returns 0 or -EINVAL. */
int relay_parse_long(const char *s, long min, long max, long *out);

#endif
