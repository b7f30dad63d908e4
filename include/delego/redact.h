/*
 * redact: hides secrets in text before it leaves the process.
 *
 * A set holds secrets: the bearer and the pairing token (registered
 * explicitly), and the values of secret-looking environment variables
 * (dr_redact_add_env). Redaction finds every occurrence of every secret,
 * overlapping ones included, and replaces each run of bytes covered by
 * occurrences with one DR_REDACT_MASK; all other bytes pass unchanged.
 * Input is bytes: NULs and invalid UTF-8 are allowed.
 *
 * Two ways to redact, both with that one rule:
 *   - on a whole text (dr_redact_copy, dr_redact_dup, dr_redact_str), for
 *     log lines, progress lines and report strings (whole when redacted:
 *     the runner keeps agent output as lines and tails, not as pieces);
 *   - the same with DR_REDACT_CUT_START/_END for a text whose start or end
 *     was cut off (a kept tail, a truncated line), which also masks a piece
 *     of a secret left at the cut edge.
 *
 * The process-wide default set (dr_redact_default) is the one the logger
 * uses; dr_log_add_secret registers into it. Every function taking a set
 * accepts NULL for the default set. Not thread-safe: the runner has one
 * thread.
 */
#ifndef DELEGO_REDACT_H
#define DELEGO_REDACT_H

#include <stdbool.h>
#include <stddef.h>

#define DR_REDACT_MASK "[redacted]"
#define DR_REDACT_MAX_SECRETS 64    /* per set */
#define DR_REDACT_SECRET_MIN 4      /* shorter explicit secrets are refused */
#define DR_REDACT_SECRET_MAX 4096   /* longer ones too (cmd_pair caps a bearer there) */
#define DR_REDACT_ENV_MIN 8         /* environment values shorter than this are common words, not secrets */
#define DR_REDACT_FRAGMENT_MIN 4    /* with CUT_*: shorter pieces at a cut edge are left alone */

struct dr_redact;

/* A new, empty set. Free with dr_redact_free. */
struct dr_redact *dr_redact_new(void);
/* Clears and frees r (NULL accepted); the default set is only cleared. Returns NULL. */
struct dr_redact *dr_redact_free(struct dr_redact *r);
/* The process-wide set the logger uses. Never NULL, never freed. */
struct dr_redact *dr_redact_default(void);

/*
 * Adds a copy of secret. Returns 0 (also when it is already in the set),
 * -EINVAL when secret is NULL or shorter than DR_REDACT_SECRET_MIN, -E2BIG
 * when longer than DR_REDACT_SECRET_MAX, -ENOSPC when the set is full.
 */
int dr_redact_add(struct dr_redact *r, const char *secret);
/*
 * True when an environment variable's name looks like it holds a secret:
 * one of its '_'-separated words (case-insensitive) is TOKEN, SECRET, KEY
 * or PASSWORD. So GITHUB_TOKEN, ANTHROPIC_API_KEY, AWS_SECRET_ACCESS_KEY,
 * DB_PASSWORD and TOKEN match; MAX_TOKENS, KEYBOARD and PGPASSWORD do not.
 * len is the name's length (envp entries are "NAME=value").
 */
bool dr_redact_env_name_secret(const char *name, size_t len);
/*
 * Adds the value of every "NAME=value" entry of envp (NULL-terminated,
 * borrowed) whose name dr_redact_env_name_secret accepts and whose value
 * has at least DR_REDACT_ENV_MIN bytes. Returns the number of secrets the
 * set holds now that it did not before, or, after adding every value that
 * fits, -ENOSPC when the set filled up or -E2BIG when a value was longer
 * than DR_REDACT_SECRET_MAX (the caller should warn: those stay visible).
 */
int dr_redact_add_env(struct dr_redact *r, char *const *envp);
/* Forgets every secret (their copies are zeroed first). */
void dr_redact_clear(struct dr_redact *r);
size_t dr_redact_count(const struct dr_redact *r);
/* Length of the longest secret, 0 when the set is empty. */
size_t dr_redact_longest(const struct dr_redact *r);

/* Flags of the one-shot functions. */
#define DR_REDACT_CUT_START 0x1u /* src is the tail of a longer text: also mask a leading piece of a secret */
#define DR_REDACT_CUT_END 0x2u   /* src was cut at its end: also mask a trailing piece of a secret */

/*
 * One-shot, into a caller's buffer, without allocating (the logger's
 * path). Redacts src[0..len) into dst, at most size - 1 bytes and a NUL
 * (nothing when size is 0). Returns the length of the whole redacted text,
 * like snprintf: a result >= size means dst holds its first size - 1
 * bytes, which contain no secret either.
 */
size_t dr_redact_copy(const struct dr_redact *r, const char *src, size_t len, char *dst, size_t size,
		      unsigned flags);
/*
 * One-shot, into a new NUL-terminated buffer (caller frees). *out_len
 * (optional) receives its length. The result is at most
 * len * 10 / 4 + 10 bytes (a mask per secret of at least 4 bytes).
 */
char *dr_redact_dup(const struct dr_redact *r, const char *src, size_t len, unsigned flags, size_t *out_len);
/*
 * One-shot, in place: redacts the NUL-terminated s inside its buffer of
 * size bytes. A secret shorter than the mask makes the text longer: what
 * does not fit is cut from the end. Returns as dr_redact_copy.
 */
size_t dr_redact_str(const struct dr_redact *r, char *s, size_t size, unsigned flags);

#endif
