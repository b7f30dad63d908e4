/*
 * backoff: exponential backoff with full jitter, capped.
 * delay(n) = random in [base*2^n / 2, base*2^n], never above cap.
 */
#ifndef DELEGO_BACKOFF_H
#define DELEGO_BACKOFF_H

#include <stddef.h>
#include <stdint.h>

struct dr_backoff {
	uint64_t base_ms;
	uint64_t cap_ms;
	unsigned attempt; /* read-only: failures since the last success */
};

#define DR_BACKOFF_INIT(base, cap) { .base_ms = (base), .cap_ms = (cap), .attempt = 0 }

/* The delay before the next try; counts one more failure. random01 in [0,1). */
uint64_t dr_backoff_next(struct dr_backoff *b, double random01);
void dr_backoff_reset(struct dr_backoff *b);
#endif
