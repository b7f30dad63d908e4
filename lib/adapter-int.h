/*
 * adapter-int: what lib/adapter.c shares with the executor adapters
 * (lib/adapter_claude.c, lib/adapter_codex.c). Not a public API.
 */
#ifndef DELEGO_ADAPTER_INT_H
#define DELEGO_ADAPTER_INT_H

#include "delego/adapter.h"

#include <stdbool.h>
#include <stddef.h>

/* Lines longer than this are never parsed (the caller cuts at 1 MiB). */
#define DR__ADAPTER_LINE_MAX (1024 * 1024 + 1024)
/*
 * Lines longer than SKIM_MIN are parsed by dr__adapter_parse, keeping
 * SKIM_KEEP bytes of each string: more than any summary made of one
 * (DR_ADAPTER_ERROR_MAX) plus the margin dr__adapter_clean redacts in
 * (64 + DR_REDACT_SECRET_MAX).
 */
#define DR__ADAPTER_SKIM_MIN 4096
#define DR__ADAPTER_SKIM_KEEP 8192
/* Unanswered AskUserQuestion calls remembered at once. */
#define DR__ADAPTER_PENDING_MAX 8
#define DR__ADAPTER_SESSION_MAX 256

struct dr_adapter;

struct dr__adapter_ops {
	const char *name;  /* "claude" */
	const char *label; /* "Claude": the progress line prefix */
	/* One parsed JSON object event (borrowed). Returns the raw progress text (malloc'd) or NULL. */
	char *(*event)(struct dr_adapter *a, const cJSON *ev);
	/* One non-JSON line, NUL-terminated. May be NULL. */
	void (*text)(struct dr_adapter *a, const char *line);
	/* Sets the final reply from an event that carries one (a line parsed whole again, see reply_line). */
	void (*reply)(struct dr_adapter *a, const cJSON *ev);
	/* Lines holding one of these (NULL-terminated, may be NULL) are always parsed whole. */
	const char *const *whole;
	char **(*argv)(const struct dr_invocation *inv);
	/* Advice for a failure (a: the run, or NULL), or NULL (caller frees). */
	char *(*explain)(const struct dr_adapter *a, const char *stderr_tail, const char *stdout_tail);
};

struct dr__adapter_pending {
	char *tool_use_id; /* "" when the denial named none */
	cJSON *question;
};

struct dr_adapter {
	const struct dr__adapter_ops *ops;
	char *session_id;
	char *final_reply;
	unsigned reply_sets; /* counts dr__adapter_set_reply calls */
	/* The line of the final reply when its strings were cut: parsed whole when the reply is asked for. */
	char *reply_line;
	size_t reply_line_len, reply_line_cap;
	bool reply_pending;
	bool line_cut; /* the event being handled lost the ends of long strings */
	char *fatal_error;
	char *last_error;
	bool auth_failed;
	bool login_advised; /* the fatal error already tells how to log the CLI in */
	enum dr_adapter_event last_event;
	/* Oldest first; the last one is the pending question. */
	struct dr__adapter_pending pending[DR__ADAPTER_PENDING_MAX];
	size_t npending;
};

extern const struct dr__adapter_ops dr__adapter_claude;
extern const struct dr__adapter_ops dr__adapter_codex;

/*
 * Copies len bytes of s as valid UTF-8 (a bad byte becomes U+FFFD). With
 * one_line, every control character becomes a space; otherwise only
 * newlines and tabs are kept. Leading and trailing whitespace is dropped.
 * When the result is longer than max bytes it is cut on a character
 * boundary and ends with "…", still within max. Never NULL; caller frees.
 */
char *dr__adapter_clean(const char *s, size_t len, size_t max, bool one_line);
/* The first non-blank line of s, cleaned and cut to max bytes; NULL when s is blank. */
char *dr__adapter_first_line(const char *s, size_t max);
/* Replaces *dst with a cleaned copy of s (see dr__adapter_clean). */
void dr__adapter_set(char **dst, const char *s, size_t max, bool one_line);
/*
 * Replaces the final reply with a cleaned copy of s (at most
 * DR_ADAPTER_REPLY_MAX); while line_cut, with "" until the reply is read
 * from the whole line.
 */
void dr__adapter_set_reply(struct dr_adapter *a, const char *s);
/*
 * Parses an event line (len bytes, no NUL needed) that starts with '{'
 * into cJSON, as cJSON_ParseWithLength would, nesting at most
 * DR_JSON_MAX_DEPTH; but a string whose decoded text is longer than keep
 * bytes keeps only its first keep bytes (cut at a character's start,
 * redacted as cut there), and *cut (optional) is set. NULL when the line
 * is not a JSON object.
 */
cJSON *dr__adapter_parse(const char *line, size_t len, size_t keep, bool *cut);
/* Argument that cannot be taken for an option: a copy of s, with a space in front when s starts with '-'. */
char *dr__adapter_operand(const char *s);
/* Remembers question as pending for tool_use_id (consumed); replaces and moves up an entry of that id. */
void dr__adapter_pending_set(struct dr_adapter *a, const char *tool_use_id, cJSON *question);
/* Forgets the pending question of tool_use_id, if any. */
void dr__adapter_pending_drop(struct dr_adapter *a, const char *tool_use_id);

#endif
