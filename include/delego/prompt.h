/*
 * prompt: the text handed to the agent for a job (delego-runner-protocol(7), RUNNING A JOB).
 *
 * Pure: no I/O. The prompt is one argv element, and Linux refuses a single
 * argument longer than 128 KiB (MAX_ARG_STRLEN), so the text is capped at
 * DR_PROMPT_MAX: the summary and the promptContext are shortened, with a
 * note saying so, when a job carries more than fits.
 */
#ifndef DELEGO_PROMPT_H
#define DELEGO_PROMPT_H

#include <stdbool.h>

#include "delego/job.h"

#define DR_PROMPT_MAX (120 * 1024)
#define DR_PROMPT_SUMMARY_MAX (48 * 1024)

/*
 * Builds the prompt for job run by executor ("claude" | "codex"; the
 * resolved one, which the job may not name). runner_opens_pr: the runner
 * will push and open the pull request itself, so the agent must neither
 * open one nor switch branches. Never NULL; caller frees.
 */
char *dr_prompt_build(const struct dr_job *job, const char *executor, bool runner_opens_pr);

#endif
