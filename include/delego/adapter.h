/*
 * adapter: what an agent CLI prints, understood (delego-runner-protocol(7),
 * AGENT STREAMS), and the argv that starts it (RUNNING A JOB).
 *
 * Pure: no I/O. One adapter per run; the pipeline feeds it every stdout
 * line and asks it for the session id, the final reply, a pending question
 * and whether the run failed whatever the exit code says. Every string it
 * keeps is capped, so a hostile agent cannot make it grow without bound.
 */
#ifndef DELEGO_ADAPTER_H
#define DELEGO_ADAPTER_H

#include <cjson/cJSON.h>
#include <stdbool.h>
#include <stddef.h>

#define DR_ADAPTER_PROGRESS_MAX 240          /* bytes of a progress line */
#define DR_ADAPTER_REPLY_MAX (64 * 1024)     /* bytes of the final reply kept */
#define DR_ADAPTER_ERROR_MAX 1024            /* bytes of a fatal or last error kept */

struct dr_adapter;

/* "claude" | "codex"; NULL otherwise. */
struct dr_adapter *dr_adapter_new(const char *executor);
/* Accepts NULL. */
void dr_adapter_free(struct dr_adapter *a);
/* "claude" | "codex". */
const char *dr_adapter_executor(const struct dr_adapter *a);

/*
 * Feeds one stdout line (no trailing newline; any length; line need not be
 * NUL-terminated). The caller may cut a line at 1 MiB and then passes
 * truncated = true: such a line is only counted, never parsed. Returns a
 * progress line when the event is notable, else NULL: malloc'd (caller
 * frees), one line of valid UTF-8, at most DR_ADAPTER_PROGRESS_MAX bytes,
 * prefixed with the executor's label ("Claude: Edit src/a.c",
 * "Codex: $ make test"), ready to send as a progress summary. Non-JSON
 * lines return NULL.
 */
char *dr_adapter_feed(struct dr_adapter *a, const char *line, size_t len, bool truncated);

/* The following getters return borrowed values, valid until the next feed or free. */
const char *dr_adapter_session_id(const struct dr_adapter *a);
const char *dr_adapter_final_reply(const struct dr_adapter *a);
/*
 * Non-NULL when the run must count as failed whatever the exit code: the
 * "issue with the selected model" line, a claude result with is_error:true
 * or an authentication_failed event (the message tells the user to log the
 * CLI in on that machine), a codex turn.failed.
 */
const char *dr_adapter_fatal_error(const struct dr_adapter *a);
/* The last non-fatal error text seen (codex error events and error items), for a failure summary. */
const char *dr_adapter_last_error(const struct dr_adapter *a);

/* What the line last fed was. */
enum dr_adapter_event {
	DR_ADAPTER_EVENT_NONE,  /* no event: not JSON, cut, or blank */
	DR_ADAPTER_EVENT_ERROR, /* only an error report (codex error events and error items) */
	DR_ADAPTER_EVENT_OTHER, /* any other event: the agent is getting on */
};
enum dr_adapter_event dr_adapter_last_event(const struct dr_adapter *a);
/* The pending AskUserQuestion {question, options:[{label, description?}], header?, multiSelect?}, or NULL. */
const cJSON *dr_adapter_question(const struct dr_adapter *a);
/* True when a question is pending and the session id is known: stop the agent and report jobs/await. */
bool dr_adapter_should_stop(const struct dr_adapter *a);

/*
 * Turns a known failure in the tails of stderr/stdout (either may be NULL)
 * into advice for the user, e.g. claude's refusal to run as root. NULL when
 * nothing is recognised. Caller frees.
 */
char *dr_adapter_explain_failure(const char *executor, const char *stderr_tail, const char *stdout_tail);
/* The same for a run of a, leaving out advice its fatal error already gives (the login hint). */
char *dr_adapter_explain(const struct dr_adapter *a, const char *stderr_tail, const char *stdout_tail);

/* All borrowed. */
struct dr_invocation {
	const char *executor, *command;
	char *const *args;            /* configured args (NULL-terminated; NULL for none) */
	const char *model, *thinking; /* may be NULL */
	const char *resume_session_id, *resume_user_reply; /* claude only; both or neither */
	const char *prompt, *worktree;
};

/*
 * The argv of RUNNING A JOB, command first, NULL-terminated; free with
 * dr_strv_free. claude: command, args, [--model M], then --resume <id>
 * <reply> or the prompt. codex: command, args with --json inserted right
 * after "exec" when absent (at the front when there is no "exec", as the
 * Node runner does), [-m M], [--config model_reasoning_effort="<thinking>"],
 * --cd <worktree> <prompt>. A prompt or reply that starts with '-' gets a
 * leading space so that the CLI cannot take it for an option. NULL for an
 * unknown executor or a missing prompt/worktree.
 */
char **dr_adapter_argv(const struct dr_invocation *inv);

#endif
