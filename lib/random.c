/* random: the system's random source, for jitter and identifiers (not for keys). */
#include "delego/random.h"

#include <stdlib.h>
#include <time.h>
#include <uv.h>

static void fill_random(void *buf, size_t n)
{
	/* uv_random without a loop is synchronous and portable (getrandom, arc4random). */
	if (uv_random(NULL, NULL, buf, n, 0, NULL) == 0)
		return;
	/* Only jitter and event ids depend on this: a weak fallback is fine. */
	unsigned char *p = buf;
	unsigned seed = (unsigned)time(NULL) ^ (unsigned)clock();
	for (size_t i = 0; i < n; i++)
		p[i] = (unsigned char)rand_r(&seed);
}

double dr_random_unit(void)
{
	uint64_t v;
	fill_random(&v, sizeof v);
	return (double)(v >> 11) / (double)(1ULL << 53);
}

void dr_random_hex(char *out, size_t n)
{
	static const char hex[] = "0123456789abcdef";
	unsigned char bytes[64];
	if (n > sizeof bytes)
		n = sizeof bytes;
	fill_random(bytes, n);
	for (size_t i = 0; i < n; i++) {
		out[2 * i] = hex[bytes[i] >> 4];
		out[2 * i + 1] = hex[bytes[i] & 15];
	}
	out[2 * n] = '\0';
}
