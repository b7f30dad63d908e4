/*
 * text: making outside text safe to show on a terminal or hand to a tool
 * that shows it (gh). C0 controls, DEL and C1 controls (U+0080..U+009F as
 * UTF-8, and the raw bytes 0x80..0x9f an 8-bit terminal reads as CSI and
 * friends) are escaped as \xHH or \u00HH; so are bytes that are not UTF-8.
 */
#ifndef DELEGO_TEXT_H
#define DELEGO_TEXT_H

#include <stddef.h>

#define DR_TEXT_KEEP_NL 0x1u  /* '\n' passes as is (multi-line output) */
#define DR_TEXT_KEEP_TAB 0x2u /* '\t' passes as is */

/*
 * Length of the control character (or invalid byte) at s[0..n): 1 or 2
 * bytes; 0 when s starts with printable text (or n is 0).
 */
size_t dr_text_control_len(const char *s, size_t n);
/*
 * Escapes s[0..len) into dst (at most size - 1 bytes and a NUL; nothing
 * when size is 0). Returns the length of the whole escaped text, like
 * snprintf; an escape is never cut in half.
 */
size_t dr_text_escape_copy(const char *s, size_t len, char *dst, size_t size, unsigned flags);
/* The escaped copy of the NUL-terminated s (NULL gives NULL). Caller frees. */
char *dr_text_escape(const char *s, unsigned flags);

#endif
