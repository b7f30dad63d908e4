/*
 * isotime: UTC timestamps as the relay and our logs write them,
 * "2025-01-02T03:04:05.678Z", and back to milliseconds since the epoch.
 */
#ifndef DELEGO_ISOTIME_H
#define DELEGO_ISOTIME_H

#include <stdint.h>

/* Room for a formatted timestamp and its NUL. */
#define DR_ISOTIME_SIZE 32

/* ms since the epoch as "YYYY-MM-DDTHH:MM:SS.mmmZ". */
void dr_isotime_format(int64_t ms, char out[DR_ISOTIME_SIZE]);
/* The wall clock now, formatted. */
void dr_isotime_now(char out[DR_ISOTIME_SIZE]);
/* "2025-01-02T03:04:05(.678)Z" or with a +hh:mm offset, to ms since the epoch. -EINVAL otherwise. */
int dr_isotime_parse(const char *s, int64_t *ms);

#endif
