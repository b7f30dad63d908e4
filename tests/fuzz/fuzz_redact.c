/*
 * libFuzzer harness: redaction follows its rule. The input is
 * "secret\0secret\0...\0\0text": up to 8 secrets go into a set, and
 * dr_redact_dup on the text must equal an independent reference (mark every
 * byte of every occurrence, print each marked run as one mask). The cut
 * flags and the fixed-buffer copy run too (no memory error, the copy is a
 * prefix). Build and run: see tests/fuzz/README.md.
 */
#include "delego/buf.h"
#include "delego/redact.h"
#include "delego/xalloc.h"
#include "../unit/redact_reference.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *p = (const char *)data, *end = p + size;
	struct dr_redact *set = dr_redact_new();
	char *secrets[8];
	size_t nsecrets = 0, want_len;
	for (int i = 0; i < 8 && p < end; i++) {
		const char *nul = memchr(p, '\0', (size_t)(end - p));
		if (!nul || nul == p) {
			p = nul ? nul + 1 : end;
			break;
		}
		char *secret = dr_xstrndup(p, (size_t)(nul - p));
		if (dr_redact_add(set, secret) == 0)
			secrets[nsecrets++] = secret; /* what the set took (a too short one is refused) */
		else
			free(secret);
		p = nul + 1;
	}
	size_t len = (size_t)(end - p);
	size_t whole_len;
	char *whole = dr_redact_dup(set, p, len, 0, &whole_len);

	char *want = redact_reference(secrets, nsecrets, p, len, &want_len);
	if (want_len != whole_len || memcmp(want, whole, whole_len) != 0)
		abort();

	for (unsigned flags = 1; flags <= 3; flags++)
		free(dr_redact_dup(set, p, len, flags, NULL));
	char small[64];
	size_t n = dr_redact_copy(set, p, len, small, sizeof small, 0);
	if (n != whole_len || memcmp(small, whole, n < sizeof small ? n : sizeof small - 1) != 0)
		abort();

	for (size_t i = 0; i < nsecrets; i++)
		free(secrets[i]);
	free(want);
	free(whole);
	dr_redact_free(set);
	return 0;
}
