/*
 * log: the one logger. Writes one line per event to stderr.
 *
 * On a terminal or a plain pipe, lines carry a UTC timestamp and a level
 * word; under journald ($JOURNAL_STREAM set) they carry sd-daemon "<N>"
 * priority prefixes instead, since the journal stamps time itself.
 * Registered secrets (bearer, pairing token, secret-looking environment
 * values) are replaced by "[redacted]" in every line, whatever the caller
 * passed: the logger redacts with the default set of redact.h, also a
 * secret spanning lines and the start of a secret left at the end of a
 * line cut at 8 KiB. errno is preserved.
 */
#ifndef DELEGO_LOG_H
#define DELEGO_LOG_H

#include <stdarg.h>
#include <stdbool.h>

enum dr_log_level {
	DR_LOG_ERR = 3,
	DR_LOG_WARN = 4,
	DR_LOG_INFO = 6,
	DR_LOG_DEBUG = 7,
};

/* Configures the logger. `journald` < 0 means detect from $JOURNAL_STREAM. */
void dr_log_init(const char *ident, enum dr_log_level level, int journald);
void dr_log_set_level(enum dr_log_level level);
enum dr_log_level dr_log_get_level(void);
/* Parses "error", "warn", "info", "debug". Returns 0 or -EINVAL. */
int dr_log_parse_level(const char *s, enum dr_log_level *out);
const char *dr_log_level_name(enum dr_log_level level);

/*
 * Registers a secret to redact from every later line: a copy goes into
 * dr_redact_default(). Ignored when NULL, shorter than 4 or longer than
 * 4096 bytes, or when the set is full (64).
 */
void dr_log_add_secret(const char *secret);
/* Empties dr_redact_default(), zeroing the copies. */
void dr_log_clear_secrets(void);
/*
 * Replaces every registered secret in s with "[redacted]", in place and
 * never longer than s was: a secret shorter than the mask lengthens the
 * text, and then its end is cut.
 */
void dr_log_redact(char *s);

void dr_log(enum dr_log_level level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void dr_log_v(enum dr_log_level level, const char *fmt, va_list ap) __attribute__((format(printf, 2, 0)));

#define dr_log_enabled(lvl) ((lvl) <= dr_log_get_level())
#define dr_log_err(...) dr_log(DR_LOG_ERR, __VA_ARGS__)
#define dr_log_warn(...) dr_log(DR_LOG_WARN, __VA_ARGS__)
#define dr_log_info(...) dr_log(DR_LOG_INFO, __VA_ARGS__)
#define dr_log_debug(...) do { if (dr_log_enabled(DR_LOG_DEBUG)) dr_log(DR_LOG_DEBUG, __VA_ARGS__); } while (0)

#endif
