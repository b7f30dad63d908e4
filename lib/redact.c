/*
 * redact: secret sets and their redaction.
 *
 * One scan serves every entry point. Positions are visited left to right;
 * at each one the longest secret starting there (secrets are kept longest
 * first) extends `cover`, the end of the bytes known to be covered. A
 * covered byte is replaced, and a run of them yields one mask.
 */
#include "delego/redact.h"
#include "delego/buf.h"
#include "delego/xalloc.h"

#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define MASK_LEN (sizeof DR_REDACT_MASK - 1)

struct secret {
	char *s;
	size_t len;
};

struct dr_redact {
	struct secret v[DR_REDACT_MAX_SECRETS]; /* longest first */
	size_t n;
	uint8_t first[256 / 8]; /* bitmap of the secrets' first bytes */
};

/* Zero-initialised is a valid empty set. */
static struct dr_redact default_set;

/* Where redacted bytes go: a growing buffer, or a fixed one like snprintf's. */
struct sink {
	struct dr_buf *b;
	char *dst;
	size_t size;
	size_t len; /* bytes produced, also those that did not fit */
};

static const struct dr_redact *set_of(const struct dr_redact *r)
{
	return r ? r : &default_set;
}

struct dr_redact *dr_redact_default(void)
{
	return &default_set;
}

struct dr_redact *dr_redact_new(void)
{
	return dr_xcalloc(1, sizeof(struct dr_redact));
}

struct dr_redact *dr_redact_free(struct dr_redact *r)
{
	if (!r)
		return NULL;
	dr_redact_clear(r);
	if (r != &default_set)
		free(r);
	return NULL;
}

static void rebuild_first(struct dr_redact *r)
{
	memset(r->first, 0, sizeof r->first);
	for (size_t i = 0; i < r->n; i++) {
		uint8_t c = (uint8_t)r->v[i].s[0];
		r->first[c >> 3] |= (uint8_t)(1u << (c & 7));
	}
}

static bool may_start(const struct dr_redact *r, char ch)
{
	uint8_t c = (uint8_t)ch;
	return r->first[c >> 3] & (1u << (c & 7));
}

int dr_redact_add(struct dr_redact *r, const char *secret)
{
	r = r ? r : &default_set;
	if (!secret)
		return -EINVAL;
	size_t len = strnlen(secret, DR_REDACT_SECRET_MAX + 1);
	if (len < DR_REDACT_SECRET_MIN)
		return -EINVAL;
	if (len > DR_REDACT_SECRET_MAX)
		return -E2BIG;
	size_t at = r->n;
	for (size_t i = 0; i < r->n; i++) {
		if (r->v[i].len == len && memcmp(r->v[i].s, secret, len) == 0)
			return 0;
		if (r->v[i].len < len && at == r->n)
			at = i;
	}
	if (r->n == DR_REDACT_MAX_SECRETS)
		return -ENOSPC;
	memmove(&r->v[at + 1], &r->v[at], (r->n - at) * sizeof r->v[0]);
	r->v[at].s = dr_xstrndup(secret, len);
	r->v[at].len = len;
	r->n++;
	rebuild_first(r);
	return 0;
}

bool dr_redact_env_name_secret(const char *name, size_t len)
{
	static const char *const words[] = { "TOKEN", "SECRET", "KEY", "PASSWORD" };
	size_t i = 0;
	while (i <= len) {
		size_t j = i;
		while (j < len && name[j] != '_')
			j++;
		for (size_t w = 0; w < sizeof words / sizeof *words; w++)
			if (j - i == strlen(words[w]) && strncasecmp(name + i, words[w], j - i) == 0)
				return true;
		i = j + 1;
	}
	return false;
}

int dr_redact_add_env(struct dr_redact *r, char *const *envp)
{
	r = r ? r : &default_set;
	int added = 0, refused = 0;
	for (char *const *e = envp; e && *e; e++) {
		const char *eq = strchr(*e, '=');
		if (!eq || !dr_redact_env_name_secret(*e, (size_t)(eq - *e)))
			continue;
		if (strnlen(eq + 1, DR_REDACT_ENV_MIN) < DR_REDACT_ENV_MIN)
			continue;
		size_t before = r->n;
		int rc = dr_redact_add(r, eq + 1);
		if (rc == -ENOSPC || (rc == -E2BIG && refused == 0))
			refused = rc;
		else if (rc == 0 && r->n > before)
			added++;
	}
	return refused ? refused : added;
}

void dr_redact_clear(struct dr_redact *r)
{
	r = r ? r : &default_set;
	for (size_t i = 0; i < r->n; i++) {
		/* Secrets do not stay behind in freed memory. */
		memset(r->v[i].s, 0, r->v[i].len);
		free(r->v[i].s);
		r->v[i].s = NULL;
	}
	r->n = 0;
	rebuild_first(r);
}

size_t dr_redact_count(const struct dr_redact *r)
{
	return set_of(r)->n;
}

size_t dr_redact_longest(const struct dr_redact *r)
{
	r = set_of(r);
	return r->n ? r->v[0].len : 0;
}

/* Scanning ------------------------------------------------------------ */

static void put(struct sink *o, const char *p, size_t n)
{
	if (o->b) {
		/* The sink's buffer has no cap: it cannot fail. */
		(void)dr_buf_add(o->b, p, n);
	} else if (o->size > 0 && o->len < o->size - 1) {
		size_t room = o->size - 1 - o->len;
		memcpy(o->dst + o->len, p, n < room ? n : room);
	}
	o->len += n;
}

/* Length of the longest secret that starts at p and fits in avail bytes; 0 if none. */
static size_t match_at(const struct dr_redact *r, const char *p, size_t avail)
{
	if (!may_start(r, *p))
		return 0;
	for (size_t i = 0; i < r->n; i++)
		if (r->v[i].len <= avail && memcmp(p, r->v[i].s, r->v[i].len) == 0)
			return r->v[i].len;
	return 0;
}

/* True when p[0..m) is the start of a secret longer than m. */
static bool begins_secret(const struct dr_redact *r, const char *p, size_t m)
{
	for (size_t i = 0; i < r->n; i++)
		if (r->v[i].len > m && memcmp(p, r->v[i].s, m) == 0)
			return true;
	return false;
}

/* True when p[0..m) is the end of a secret longer than m. */
static bool ends_secret(const struct dr_redact *r, const char *p, size_t m)
{
	for (size_t i = 0; i < r->n; i++)
		if (r->v[i].len > m && memcmp(p, r->v[i].s + r->v[i].len - m, m) == 0)
			return true;
	return false;
}

/*
 * The first position from which p[j..n) could still grow into a secret,
 * considering pieces of at least min bytes; n when none. Only the last
 * longest - 1 positions can be such a start.
 */
static size_t find_cut(const struct dr_redact *r, const char *p, size_t n, size_t min)
{
	size_t longest = r->n ? r->v[0].len : 0;
	if (longest < 2)
		return n;
	for (size_t j = n > longest - 1 ? n - (longest - 1) : 0; j + min <= n; j++)
		if (may_start(r, p[j]) && begins_secret(r, p + j, n - j))
			return j;
	return n;
}

/* Length of the longest leading piece (>= DR_REDACT_FRAGMENT_MIN) that ends a secret; 0 if none. */
static size_t lead_piece(const struct dr_redact *r, const char *p, size_t n)
{
	size_t longest = r->n ? r->v[0].len : 0;
	size_t k = longest > 0 ? longest - 1 : 0;
	if (k > n)
		k = n;
	for (; k >= DR_REDACT_FRAGMENT_MIN; k--)
		if (ends_secret(r, p, k))
			return k;
	return 0;
}

/*
 * Emits p[0..cut) redacted into o. Occurrences are looked for in p[0..n)
 * (n >= cut); *cover and *masked carry the state in and out, in p's
 * coordinates.
 */
static void emit(const struct dr_redact *r, const char *p, size_t n, size_t cut, size_t *cover, bool *masked,
		 struct sink *o)
{
	size_t plain = 0; /* start of the pending run of plain bytes */
	for (size_t i = 0; i < cut; i++) {
		size_t m = match_at(r, p + i, n - i);
		if (m && i + m > *cover)
			*cover = i + m;
		if (i < *cover) {
			if (plain < i)
				put(o, p + plain, i - plain);
			if (!*masked)
				put(o, DR_REDACT_MASK, MASK_LEN);
			*masked = true;
			plain = i + 1;
		} else {
			*masked = false;
		}
	}
	if (plain < cut)
		put(o, p + plain, cut - plain);
}

static void oneshot(const struct dr_redact *r, const char *src, size_t len, unsigned flags, struct sink *o)
{
	r = set_of(r);
	if (r->n == 0) {
		put(o, src, len);
		return;
	}
	size_t cover = flags & DR_REDACT_CUT_START ? lead_piece(r, src, len) : 0;
	bool masked = false;
	size_t cut = flags & DR_REDACT_CUT_END ? find_cut(r, src, len, DR_REDACT_FRAGMENT_MIN) : len;
	emit(r, src, len, cut, &cover, &masked, o);
	/* A trailing piece of a secret after the cut edge is masked whole. */
	if (cut < len && !masked)
		put(o, DR_REDACT_MASK, MASK_LEN);
}

size_t dr_redact_copy(const struct dr_redact *r, const char *src, size_t len, char *dst, size_t size,
		      unsigned flags)
{
	struct sink o = { .dst = dst, .size = size };
	oneshot(r, src, len, flags, &o);
	if (size > 0)
		dst[o.len < size ? o.len : size - 1] = '\0';
	return o.len;
}

char *dr_redact_dup(const struct dr_redact *r, const char *src, size_t len, unsigned flags, size_t *out_len)
{
	struct dr_buf b = DR_BUF_INIT(0);
	struct sink o = { .b = &b };
	oneshot(r, src, len, flags, &o);
	return dr_buf_detach(&b, out_len);
}

size_t dr_redact_str(const struct dr_redact *r, char *s, size_t size, unsigned flags)
{
	if (size == 0)
		return 0;
	size_t len;
	char *red = dr_redact_dup(r, s, strnlen(s, size - 1), flags, &len);
	size_t keep = len < size ? len : size - 1;
	memcpy(s, red, keep);
	s[keep] = '\0';
	free(red);
	return len;
}
