/*
 * buf: a growable byte string with a hard cap.
 *
 * Invariants (as git's strbuf): `buf` is never NULL and always
 * NUL-terminated at `len`; `len < alloc` once anything was allocated;
 * `len <= max`. Every buffer has a cap: a `max` of 0 stands for
 * DR_BUF_MAX_DEFAULT, meant for text we build ourselves; anything read
 * from outside names its own, smaller cap. An append that would pass the
 * cap frees the storage, leaves the buffer empty and fails with -E2BIG
 * (curl's dynbuf rule: a half-built string is never used by mistake).
 */
#ifndef DELEGO_BUF_H
#define DELEGO_BUF_H

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>

struct dr_buf {
	char *buf;    /* read-only for callers */
	size_t len;   /* read-only for callers */
	size_t alloc; /* private */
	size_t max;   /* public: cap in bytes, 0 for DR_BUF_MAX_DEFAULT */
};

/* The cap of a buffer initialised with max 0. */
#define DR_BUF_MAX_DEFAULT (64u * 1024 * 1024)

extern char dr_buf_empty[];
#define DR_BUF_INIT(cap) { .buf = dr_buf_empty, .len = 0, .alloc = 0, .max = (cap) }

void dr_buf_init(struct dr_buf *b, size_t max);
/* Frees the storage; the buffer is empty and reusable afterwards. */
void dr_buf_release(struct dr_buf *b);
/* Empties the buffer but keeps its storage. */
void dr_buf_reset(struct dr_buf *b);
/* Returns the string (caller frees) and leaves the buffer empty. */
char *dr_buf_detach(struct dr_buf *b, size_t *len);

int dr_buf_add(struct dr_buf *b, const void *data, size_t len);
int dr_buf_addstr(struct dr_buf *b, const char *s);
int dr_buf_addch(struct dr_buf *b, char c);
int dr_buf_addf(struct dr_buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
int dr_buf_vaddf(struct dr_buf *b, const char *fmt, va_list ap) __attribute__((format(printf, 2, 0)));
/* Drops the first n bytes. */
void dr_buf_consume(struct dr_buf *b, size_t n);
void dr_buf_truncate(struct dr_buf *b, size_t len);

/*
 * tail: keeps only the last `max` bytes written to it (for stdout/stderr
 * tails). Never fails; older bytes are discarded.
 */
struct dr_buf_tail {
	struct dr_buf b; /* private */
	size_t max;      /* read-only */
	size_t dropped;  /* read-only: bytes discarded so far */
};
void dr_buf_tail_init(struct dr_buf_tail *t, size_t max);
void dr_buf_tail_add(struct dr_buf_tail *t, const void *data, size_t len);
/* Borrowed, NUL-terminated view of the kept bytes. */
const char *dr_buf_tail_str(const struct dr_buf_tail *t);
size_t dr_buf_tail_len(const struct dr_buf_tail *t);
/* True when older bytes were left out: the kept bytes start inside the text. */
bool dr_buf_tail_cut(const struct dr_buf_tail *t);
void dr_buf_tail_release(struct dr_buf_tail *t);

#endif
