/* clock: wall clock with a test offset, ISO-8601 formatting. */
#include "clock.h"
#include "delego/isotime.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

int64_t relay_clock_now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	int64_t ms = (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
	const char *off = getenv("DELEGO_RELAY_CLOCK_OFFSET_MS");
	if (off && *off) {
		char *end;
		errno = 0;
		long long v = strtoll(off, &end, 10);
		if (!errno && *end == '\0')
			ms += v;
	}
	return ms;
}

void relay_clock_iso(int64_t ms, char *out, size_t len)
{
	char iso[DR_ISOTIME_SIZE];
	dr_isotime_format(ms, iso);
	snprintf(out, len, "%s", iso);
}

int relay_parse_long(const char *s, long min, long max, long *out)
{
	if (!s || !*s)
		return -EINVAL;
	char *end;
	errno = 0;
	long v = strtol(s, &end, 10);
	if (errno || *end != '\0' || v < min || v > max)
		return -EINVAL;
	*out = v;
	return 0;
}
