/*
 * xalloc: allocation that cannot fail.
 *
 * Out-of-memory policy (DESIGN.md): log and abort; the service manager
 * restarts us. This is safe only because every size that comes from outside
 * (HTTP bodies, agent output, files) is capped before it is allocated.
 *
 * The one exception to dr_<module>_<verb>: dr_x<libc name> (dr_xmalloc,
 * dr_xstrdup, ...) reads as the libc call it replaces, the convention of git
 * and OpenSSH.
 */
#ifndef DELEGO_XALLOC_H
#define DELEGO_XALLOC_H

#include <stdarg.h>
#include <stddef.h>

void *dr_xmalloc(size_t size);
void *dr_xcalloc(size_t nmemb, size_t size);
void *dr_xrealloc(void *ptr, size_t size);
/* Returns a copy of s; s may be NULL, in which case NULL is returned. */
char *dr_xstrdup(const char *s);
char *dr_xstrndup(const char *s, size_t n);
char *dr_xasprintf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
char *dr_xvasprintf(const char *fmt, va_list ap) __attribute__((format(printf, 1, 0)));

#endif
