/* log: stderr logger with journald priorities and secret redaction. */
#include "delego/log.h"
#include "delego/xalloc.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define MAX_SECRETS 8
#define LINE_MAX_BYTES 8192

static struct {
	const char *ident;
	enum dr_log_level level;
	bool journald;
	char *secrets[MAX_SECRETS];
} logger = { "delego-runner", DR_LOG_INFO, false, { 0 } };

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
	if (!secret || strlen(secret) < 4)
		return;
	for (int i = 0; i < MAX_SECRETS; i++) {
		if (logger.secrets[i] && strcmp(logger.secrets[i], secret) == 0)
			return;
		if (!logger.secrets[i]) {
			logger.secrets[i] = dr_xstrdup(secret);
			return;
		}
	}
}

void dr_log_clear_secrets(void)
{
	for (int i = 0; i < MAX_SECRETS; i++) {
		free(logger.secrets[i]);
		logger.secrets[i] = NULL;
	}
}

void dr_log_redact(char *s)
{
	static const char mask[] = "[redacted]";
	for (int i = 0; i < MAX_SECRETS; i++) {
		const char *secret = logger.secrets[i];
		if (!secret)
			continue;
		size_t slen = strlen(secret);
		char *hit;
		/* Secrets are at least 4 bytes, the mask is 10: mask only when it
		 * fits, else blank the secret with asterisks. */
		while ((hit = strstr(s, secret))) {
			if (slen >= sizeof mask - 1) {
				memcpy(hit, mask, sizeof mask - 1);
				memmove(hit + sizeof mask - 1, hit + slen, strlen(hit + slen) + 1);
			} else {
				memset(hit, '*', slen);
			}
		}
	}
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

void dr_vlog(enum dr_log_level level, const char *fmt, va_list ap)
{
	if (level > logger.level)
		return;
	int saved = errno;
	char line[LINE_MAX_BYTES];
	int n;
	if (logger.journald) {
		n = snprintf(line, sizeof line, "<%d>", (int)level);
	} else {
		struct timespec ts;
		struct tm tm;
		clock_gettime(CLOCK_REALTIME, &ts);
		gmtime_r(&ts.tv_sec, &tm);
		n = snprintf(line, sizeof line, "%04d-%02d-%02dT%02d:%02d:%02d.%03ldZ %s %s: ",
			     tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min,
			     tm.tm_sec, ts.tv_nsec / 1000000, logger.ident, level_word(level));
	}
	if (n < 0)
		n = 0;
	if ((size_t)n < sizeof line - 2)
		vsnprintf(line + n, sizeof line - (size_t)n - 1, fmt, ap);
	/* One event is one line: fold embedded newlines. */
	for (char *p = line + n; *p; p++)
		if (*p == '\n' || *p == '\r')
			*p = ' ';
	dr_log_redact(line);
	size_t len = strlen(line);
	line[len++] = '\n';
	(void)!write(STDERR_FILENO, line, len);
	errno = saved;
}

void dr_log(enum dr_log_level level, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	dr_vlog(level, fmt, ap);
	va_end(ap);
}
