/* utf8: validation, cleaning with U+FFFD, and cuts on character boundaries. */
#include "delego/utf8.h"
#include "delego/buf.h"

size_t dr_utf8_seq(const unsigned char *s, size_t n)
{
	unsigned char c = s[0];
	size_t need;
	unsigned char lo = 0x80, hi = 0xbf;
	if (c < 0x80)
		return 1;
	if (c >= 0xc2 && c <= 0xdf) {
		need = 2;
	} else if (c >= 0xe0 && c <= 0xef) {
		need = 3;
		if (c == 0xe0)
			lo = 0xa0; /* overlong */
		if (c == 0xed)
			hi = 0x9f; /* surrogates */
	} else if (c >= 0xf0 && c <= 0xf4) {
		need = 4;
		if (c == 0xf0)
			lo = 0x90; /* overlong */
		if (c == 0xf4)
			hi = 0x8f; /* past U+10FFFF */
	} else {
		return 0;
	}
	if (n < need || s[1] < lo || s[1] > hi)
		return 0;
	for (size_t i = 2; i < need; i++)
		if ((s[i] & 0xc0) != 0x80)
			return 0;
	return need;
}

char *dr_utf8_clean(const char *s, size_t len)
{
	const unsigned char *u = (const unsigned char *)s;
	struct dr_buf b = DR_BUF_INIT(0);
	for (size_t i = 0; i < len;) {
		size_t k = dr_utf8_seq(u + i, len - i);
		if (k == 0 || u[i] == 0) {
			dr_buf_addstr(&b, DR_UTF8_REPLACEMENT);
			i++;
		} else {
			dr_buf_add(&b, s + i, k);
			i += k;
		}
	}
	return dr_buf_detach(&b, NULL);
}

size_t dr_utf8_boundary(const char *s, size_t max)
{
	while (max > 0 && ((unsigned char)s[max] & 0xc0) == 0x80)
		max--;
	return max;
}
