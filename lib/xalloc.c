/* xalloc: allocation wrappers that log and abort on exhaustion. */
#include "delego/xalloc.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static void die_oom(size_t size)
{
	char msg[96];
	int n = snprintf(msg, sizeof msg, "fatal: out of memory (%zu bytes)\n", size);
	if (n > 0)
		(void)!write(STDERR_FILENO, msg, (size_t)n);
	abort();
}

void *dr_xmalloc(size_t size)
{
	void *p = malloc(size ? size : 1);
	if (!p)
		die_oom(size);
	return p;
}

void *dr_xcalloc(size_t nmemb, size_t size)
{
	void *p = calloc(nmemb ? nmemb : 1, size ? size : 1);
	if (!p)
		die_oom(nmemb * size);
	return p;
}

void *dr_xrealloc(void *ptr, size_t size)
{
	void *p = realloc(ptr, size ? size : 1);
	if (!p)
		die_oom(size);
	return p;
}

char *dr_xstrdup(const char *s)
{
	return s ? dr_xstrndup(s, strlen(s)) : NULL;
}

char *dr_xstrndup(const char *s, size_t n)
{
	size_t len = strnlen(s, n);
	char *p = dr_xmalloc(len + 1);
	memcpy(p, s, len);
	p[len] = '\0';
	return p;
}

char *dr_xvasprintf(const char *fmt, va_list ap)
{
	va_list cp;
	va_copy(cp, ap);
	int n = vsnprintf(NULL, 0, fmt, cp);
	va_end(cp);
	if (n < 0)
		die_oom(0);
	char *p = dr_xmalloc((size_t)n + 1);
	vsnprintf(p, (size_t)n + 1, fmt, ap);
	return p;
}

char *dr_xasprintf(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	char *p = dr_xvasprintf(fmt, ap);
	va_end(ap);
	return p;
}
