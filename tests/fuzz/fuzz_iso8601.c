/*
 * libFuzzer harness: an ISO 8601 date (the relay's expiresAt) through
 * dr_isotime_parse. Accepted text must have the shape it promises
 * (YYYY-MM-DD[Tt ]HH:MM:SS, optional fraction, Z or an offset), and a real
 * UTC date (day up to 28, no leap second) must print back to the same
 * second with gmtime (later days of a month are normalised, as timegm does).
 * Build and run: see tests/fuzz/README.md.
 */
#include "delego/isotime.h"
#include "delego/xalloc.h"

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *s = dr_xstrndup((const char *)data, size > 64 ? 64 : size);
	int64_t ms = 0;
	if (dr_isotime_parse(s, &ms) == 0) {
		if (strlen(s) < 20 || s[4] != '-' || s[7] != '-' || !strchr("Tt ", s[10]) || s[13] != ':' ||
		    s[16] != ':')
			abort();
		size_t n = strlen(s);
		bool real = strncmp(s + 8, "29", 2) < 0 && strncmp(s + 17, "60", 2) < 0;
		if (s[10] == 'T' && s[n - 1] == 'Z' && s[19] == 'Z' && ms >= 0 && real) {
			time_t t = (time_t)(ms / 1000);
			struct tm tm;
			char back[32];
			if (!gmtime_r(&t, &tm))
				abort();
			snprintf(back, sizeof back, "%04d-%02d-%02dT%02d:%02d:%02dZ", tm.tm_year + 1900, tm.tm_mon + 1,
				 tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec);
			if (strcmp(back, s) != 0)
				abort();
		}
	}
	free(s);
	return 0;
}
