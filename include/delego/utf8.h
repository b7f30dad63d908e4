/*
 * utf8: text from agents and git made safe for JSON and the relay's
 * screens. One rule everywhere: a byte that does not start a valid
 * sequence (overlong forms and surrogates included) is replaced by U+FFFD.
 */
#ifndef DELEGO_UTF8_H
#define DELEGO_UTF8_H

#include <stddef.h>

/* The replacement character, U+FFFD, in UTF-8. */
#define DR_UTF8_REPLACEMENT "\xef\xbf\xbd"

/* Length of the valid UTF-8 sequence at s (at most n bytes, n > 0), or 0 when invalid. */
size_t dr_utf8_seq(const unsigned char *s, size_t n);
/* len bytes of s as valid UTF-8 without NUL (both replaced by U+FFFD). Caller frees. */
char *dr_utf8_clean(const char *s, size_t len);
/* The largest n <= max at which s (of at least max bytes) can be cut between characters. */
size_t dr_utf8_boundary(const char *s, size_t max);

#endif
