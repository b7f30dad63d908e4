/* text: escaping controls (C0, DEL, C1) and invalid UTF-8 for display. */
#include "delego/text.h"
#include "delego/utf8.h"
#include "delego/xalloc.h"

#include <stdbool.h>
#include <stdio.h>
#include <string.h>

size_t dr_text_control_len(const char *s, size_t n)
{
	const unsigned char *u = (const unsigned char *)s;
	if (n == 0)
		return 0;
	if (u[0] < 0x20 || u[0] == 0x7f)
		return 1;
	if (u[0] < 0x80)
		return 0;
	size_t k = dr_utf8_seq(u, n);
	if (k == 0)
		return 1;
	return k == 2 && u[0] == 0xc2 && u[1] < 0xa0 ? 2 : 0;
}

size_t dr_text_escape_copy(const char *s, size_t len, char *dst, size_t size, unsigned flags)
{
	const unsigned char *u = (const unsigned char *)s;
	size_t out = 0;
	bool full = size == 0;
	for (size_t i = 0; i < len;) {
		size_t k = dr_text_control_len(s + i, len - i);
		char esc[8];
		const char *piece = s + i;
		size_t plen;
		if (k == 0) {
			plen = u[i] < 0x80 ? 1 : dr_utf8_seq(u + i, len - i);
			i += plen;
		} else if ((u[i] == '\n' && (flags & DR_TEXT_KEEP_NL)) || (u[i] == '\t' && (flags & DR_TEXT_KEEP_TAB))) {
			plen = 1;
			i++;
		} else {
			if (k == 2)
				snprintf(esc, sizeof esc, "\\u%04x", u[i + 1]);
			else
				snprintf(esc, sizeof esc, "\\x%02x", u[i]);
			piece = esc;
			plen = strlen(esc);
			i += k;
		}
		if (!full && out + plen < size)
			memcpy(dst + out, piece, plen);
		else if (!full) {
			dst[out] = '\0';
			full = true;
		}
		out += plen;
	}
	if (!full)
		dst[out] = '\0';
	return out;
}

char *dr_text_escape(const char *s, unsigned flags)
{
	if (!s)
		return NULL;
	size_t len = strlen(s);
	size_t n = dr_text_escape_copy(s, len, NULL, 0, flags);
	char *out = dr_xmalloc(n + 1);
	dr_text_escape_copy(s, len, out, n + 1, flags);
	return out;
}
