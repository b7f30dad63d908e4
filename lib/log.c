/* log: stderr logger with journald priorities and secret redaction. */
#include "delego/log.h"
#include "delego/isotime.h"
#include "delego/redact.h"
#include "delego/text.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define LINE_MAX_BYTES 8192

static struct {
	const char *ident;
	enum dr_log_level level;
	bool journald;
} logger = { "delego-runner", DR_LOG_INFO, false };

void dr_log_init(const char *ident, enum dr_log_level level, int journald)
{
	logger.ident = ident;
	logger.level = level;
	if (journald < 0)
		journald = getenv("JOURNAL_STREAM") != NULL;
	logger.journald = journald;
}

void dr_log_set_level(enum dr_log_level level)
{
	logger.level = level;
}

enum dr_log_level dr_log_get_level(void)
{
	return logger.level;
}

static const struct {
	const char *name;
	enum dr_log_level level;
} level_names[] = {
	{ "error", DR_LOG_ERR },
	{ "warn", DR_LOG_WARN },
	{ "info", DR_LOG_INFO },
	{ "debug", DR_LOG_DEBUG },
};

int dr_log_parse_level(const char *s, enum dr_log_level *out)
{
	for (size_t i = 0; i < sizeof level_names / sizeof *level_names; i++) {
		if (strcmp(s, level_names[i].name) == 0) {
			*out = level_names[i].level;
			return 0;
		}
	}
	if (strcmp(s, "warning") == 0) {
		*out = DR_LOG_WARN;
		return 0;
	}
	return -EINVAL;
}

const char *dr_log_level_name(enum dr_log_level level)
{
	for (size_t i = 0; i < sizeof level_names / sizeof *level_names; i++)
		if (level_names[i].level == level)
			return level_names[i].name;
	return "info";
}

void dr_log_add_secret(const char *secret)
{
	/* Too short, too long or a full set: nothing a caller could do better. */
	(void)dr_redact_add(dr_redact_default(), secret);
}

void dr_log_clear_secrets(void)
{
	dr_redact_clear(dr_redact_default());
}

void dr_log_redact(char *s)
{
	dr_redact_str(dr_redact_default(), s, strlen(s) + 1, 0);
}

static const char *level_word(enum dr_log_level level)
{
	switch (level) {
	case DR_LOG_ERR: return "error";
	case DR_LOG_WARN: return "warn";
	case DR_LOG_INFO: return "info";
	default: return "debug";
	}
}

void dr_log_v(enum dr_log_level level, const char *fmt, va_list ap)
{
	if (level > logger.level)
		return;
	int saved = errno;
	char raw[LINE_MAX_BYTES];
	char line[LINE_MAX_BYTES];
	int n;
	if (logger.journald) {
		n = snprintf(raw, sizeof raw, "<%d>", (int)level);
	} else {
		char now[DR_ISOTIME_SIZE];
		dr_isotime_now(now);
		n = snprintf(raw, sizeof raw, "%s %s %s: ", now, logger.ident, level_word(level));
	}
	if (n < 0)
		n = 0;
	if ((size_t)n > sizeof raw - 1)
		n = (int)(sizeof raw - 1);
	int m = vsnprintf(raw + n, sizeof raw - (size_t)n, fmt, ap);
	if (m < 0)
		raw[n] = '\0';
	bool cut = m < 0 || (size_t)m >= sizeof raw - (size_t)n;
	/* Redact before folding newlines, so that a secret spanning lines still matches;
	 * a cut line may end in the first bytes of a secret: those go too. */
	size_t len = dr_redact_copy(dr_redact_default(), raw, strlen(raw), line, sizeof line,
				    cut ? DR_REDACT_CUT_END : 0);
	if (len > sizeof line - 1)
		len = sizeof line - 1;
	/* One event is one line: fold embedded newlines. */
	for (size_t i = 0; i < len; i++)
		if (line[i] == '\n' || line[i] == '\r')
			line[i] = ' ';
	/* Nothing from outside drives the terminal: ESC, CSI and friends are escaped. */
	len = dr_text_escape_copy(line, len, raw, sizeof raw, DR_TEXT_KEEP_TAB);
	if (len > sizeof raw - 1)
		len = strlen(raw); /* the newline takes the NUL's place */
	raw[len++] = '\n';
	(void)!write(STDERR_FILENO, raw, len);
	errno = saved;
}

void dr_log(enum dr_log_level level, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	dr_log_v(level, fmt, ap);
	va_end(ap);
}
