/*
 * libFuzzer harness: a realtime token (as the relay's realtime-token
 * answer carries it) through dr_phoenix_jwt_claims, and its parts through
 * dr_phoenix_b64url_decode. An accepted token gives a sub of 1 to
 * DR_PHOENIX_SUB_MAX characters of [A-Za-z0-9._-] (it goes into a topic)
 * and an exp that is not negative.
 * Build and run: see tests/fuzz/README.md.
 */
#include "delego/buf.h"
#include "delego/phoenix.h"
#include "delego/xalloc.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *jwt = dr_xstrndup((const char *)data, size);
	char sub[DR_PHOENIX_SUB_MAX + 1];
	int64_t exp = -1;
	if (dr_phoenix_jwt_claims(jwt, sub, &exp) == 0) {
		size_t n = strlen(sub);
		if (n < 1 || n > DR_PHOENIX_SUB_MAX || strspn(sub, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
							      "0123456789._-") != n || exp < 0)
			abort();
	}
	struct dr_buf out = DR_BUF_INIT(1 << 16);
	if (dr_phoenix_b64url_decode(jwt, strlen(jwt), &out) == 0 && out.len > (strlen(jwt) * 3) / 4 + 3)
		abort();
	dr_buf_release(&out);
	free(jwt);
	return 0;
}
