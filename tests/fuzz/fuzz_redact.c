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

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* The rule, written apart from lib/redact.c. */
static char *reference(char **secrets, size_t nsecrets, const char *text, size_t len, size_t *out_len)
{
	unsigned char *covered = dr_xcalloc(len + 1, 1);
	for (size_t k = 0; k < nsecrets; k++) {
		size_t sl = strlen(secrets[k]);
		for (size_t i = 0; i + sl <= len; i++)
			if (memcmp(text + i, secrets[k], sl) == 0)
				memset(covered + i, 1, sl);
	}
	struct dr_buf b = DR_BUF_INIT(0);
	for (size_t i = 0; i < len; i++) {
		if (!covered[i])
			dr_buf_addch(&b, text[i]);
		else if (i == 0 || !covered[i - 1])
			dr_buf_addstr(&b, DR_REDACT_MASK);
	}
	free(covered);
	return dr_buf_detach(&b, out_len);
}

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

	char *want = reference(secrets, nsecrets, p, len, &want_len);
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
