/* backoff: capped exponential backoff with jitter. */
#include "delego/backoff.h"


uint64_t dr_backoff_next(struct dr_backoff *b, double random01)
{
	uint64_t d = b->base_ms;
	for (unsigned i = 0; i < b->attempt && d < b->cap_ms; i++)
		d *= 2;
	if (d > b->cap_ms)
		d = b->cap_ms;
	if (b->attempt < 64)
		b->attempt++;
	/* Half fixed, half random: retries spread out but never come too soon. */
	return d / 2 + (uint64_t)((double)(d - d / 2) * random01);
}

void dr_backoff_reset(struct dr_backoff *b)
{
	b->attempt = 0;
}
