/*
 * libFuzzer harness: streaming redaction equals one-shot redaction. The
 * input is "secret\0secret\0...\0\0text": up to 8 secrets go into a set,
 * then the text is fed to a dr_redact_stream in chunks whose sizes come
 * from the text's own bytes; the concatenated output must equal
 * dr_redact_dup on the whole text, whatever the chunking. The cut flags
 * and the fixed-buffer copy run too (no memory error, the copy is a prefix).
 * Build and run: see tests/fuzz/README.md.
 */
#include "delego/buf.h"
#include "delego/redact.h"
#include "delego/xalloc.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *p = (const char *)data, *end = p + size;
	struct dr_redact *set = dr_redact_new();
	for (int i = 0; i < 8 && p < end; i++) {
		const char *nul = memchr(p, '\0', (size_t)(end - p));
		if (!nul || nul == p) {
			p = nul ? nul + 1 : end;
			break;
		}
		char *secret = dr_xstrndup(p, (size_t)(nul - p));
		(void)dr_redact_add(set, secret);
		free(secret);
		p = nul + 1;
	}
	size_t len = (size_t)(end - p);
	size_t whole_len;
	char *whole = dr_redact_dup(set, p, len, 0, &whole_len);

	struct dr_redact_stream *rs = dr_redact_stream_new(set);
	struct dr_buf got = DR_BUF_INIT(0);
	size_t off = 0;
	while (off < len) {
		size_t n = ((unsigned char)p[off] % 17) + 1;
		if (n > len - off)
			n = len - off;
		size_t olen;
		const char *o = dr_redact_stream_feed(rs, p + off, n, &olen);
		dr_buf_add(&got, o, olen);
		off += n;
		if (dr_redact_stream_held(rs) >= dr_redact_longest(set) + (dr_redact_longest(set) ? 0 : 1))
			abort(); /* never more held back than a secret's start */
	}
	size_t olen;
	const char *o = dr_redact_stream_flush(rs, &olen);
	dr_buf_add(&got, o, olen);
	if (got.len != whole_len || memcmp(got.buf, whole, whole_len) != 0)
		abort();

	for (unsigned flags = 1; flags <= 3; flags++)
		free(dr_redact_dup(set, p, len, flags, NULL));
	char small[64];
	size_t n = dr_redact_copy(set, p, len, small, sizeof small, 0);
	if (n != whole_len || memcmp(small, whole, n < sizeof small ? n : sizeof small - 1) != 0)
		abort();

	dr_buf_release(&got);
	dr_redact_stream_free(rs);
	free(whole);
	dr_redact_free(set);
	return 0;
}
