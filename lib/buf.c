/* buf: capped growable strings and tail buffers. */
#include "delego/buf.h"
#include "delego/xalloc.h"

#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

char dr_buf_empty[1];

void dr_buf_init(struct dr_buf *b, size_t max)
{
	b->buf = dr_buf_empty;
	b->len = 0;
	b->alloc = 0;
	b->max = max;
}

void dr_buf_release(struct dr_buf *b)
{
	if (b->alloc)
		free(b->buf);
	b->buf = dr_buf_empty;
	b->len = 0;
	b->alloc = 0;
}

void dr_buf_reset(struct dr_buf *b)
{
	dr_buf_truncate(b, 0);
}

char *dr_buf_detach(struct dr_buf *b, size_t *len)
{
	char *s = b->alloc ? b->buf : dr_xstrdup("");
	if (len)
		*len = b->len;
	b->buf = dr_buf_empty;
	b->len = 0;
	b->alloc = 0;
	return s;
}

/* Room for extra more bytes; past the cap the buffer is released (see buf.h). */
static int grow(struct dr_buf *b, size_t extra)
{
	size_t max = b->max ? b->max : DR_BUF_MAX_DEFAULT;
	if (extra > max || b->len + extra > max) {
		dr_buf_release(b);
		return -E2BIG;
	}
	size_t want = b->len + extra;
	if (want + 1 <= b->alloc)
		return 0;
	size_t alloc = b->alloc ? b->alloc : 64;
	while (alloc < want + 1)
		alloc *= 2;
	if (alloc > max + 1)
		alloc = max + 1;
	if (b->alloc) {
		b->buf = dr_xrealloc(b->buf, alloc);
	} else {
		b->buf = dr_xmalloc(alloc);
		b->buf[0] = '\0';
	}
	b->alloc = alloc;
	return 0;
}

int dr_buf_add(struct dr_buf *b, const void *data, size_t len)
{
	if (len == 0)
		return 0;
	int r = grow(b, len);
	if (r < 0)
		return r;
	memcpy(b->buf + b->len, data, len);
	b->len += len;
	b->buf[b->len] = '\0';
	return 0;
}

int dr_buf_addstr(struct dr_buf *b, const char *s)
{
	return dr_buf_add(b, s, strlen(s));
}

int dr_buf_addch(struct dr_buf *b, char c)
{
	return dr_buf_add(b, &c, 1);
}

int dr_buf_vaddf(struct dr_buf *b, const char *fmt, va_list ap)
{
	va_list cp;
	va_copy(cp, ap);
	int n = vsnprintf(NULL, 0, fmt, cp);
	va_end(cp);
	if (n < 0)
		return -EINVAL;
	int r = grow(b, (size_t)n);
	if (r < 0)
		return r;
	vsnprintf(b->buf + b->len, (size_t)n + 1, fmt, ap);
	b->len += (size_t)n;
	return 0;
}

int dr_buf_addf(struct dr_buf *b, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	int r = dr_buf_vaddf(b, fmt, ap);
	va_end(ap);
	return r;
}

void dr_buf_consume(struct dr_buf *b, size_t n)
{
	if (n >= b->len) {
		dr_buf_truncate(b, 0);
		return;
	}
	memmove(b->buf, b->buf + n, b->len - n);
	b->len -= n;
	b->buf[b->len] = '\0';
}

void dr_buf_truncate(struct dr_buf *b, size_t len)
{
	if (len >= b->len)
		return;
	b->len = len;
	if (b->alloc)
		b->buf[len] = '\0';
}

void dr_buf_tail_init(struct dr_buf_tail *t, size_t max)
{
	dr_buf_init(&t->b, 2 * max + 1); /* dr_buf_tail_add compacts at twice the cap */
	t->max = max;
	t->dropped = 0;
}

void dr_buf_tail_add(struct dr_buf_tail *t, const void *data, size_t len)
{
	const char *p = data;
	if (len >= t->max) {
		t->dropped += t->b.len + (len - t->max);
		dr_buf_reset(&t->b);
		(void)dr_buf_add(&t->b, p + (len - t->max), t->max);
		return;
	}
	/* Compact only when the buffer reaches twice the cap, so that adding
	 * many small chunks stays linear. */
	if (t->b.len + len > 2 * t->max) {
		size_t keep = t->max - len;
		t->dropped += t->b.len - keep;
		dr_buf_consume(&t->b, t->b.len - keep);
	}
	(void)dr_buf_add(&t->b, p, len);
}

const char *dr_buf_tail_str(const struct dr_buf_tail *t)
{
	return t->b.len > t->max ? t->b.buf + (t->b.len - t->max) : t->b.buf;
}

size_t dr_buf_tail_len(const struct dr_buf_tail *t)
{
	return t->b.len > t->max ? t->max : t->b.len;
}

bool dr_buf_tail_cut(const struct dr_buf_tail *t)
{
	return t->dropped > 0 || t->b.len > t->max;
}

void dr_buf_tail_release(struct dr_buf_tail *t)
{
	dr_buf_release(&t->b);
	t->dropped = 0;
}
