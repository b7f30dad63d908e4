/*
 * job: the JOB OBJECT of delego-runner-protocol(7), parsed and validated.
 *
 * Pure: no I/O. Everything in a job comes from the relay and is treated as
 * hostile: every string is type-checked and capped, and the values that
 * reach a path, an argv or a branch name (id, repository slug, resume
 * session id, model) are checked against a strict alphabet here, once.
 */
#ifndef DELEGO_JOB_H
#define DELEGO_JOB_H

#include <cjson/cJSON.h>
#include <stdbool.h>
#include <stddef.h>

/* Caps on what a job may carry. */
#define DR_JOB_ID_MAX 128                   /* job id: [A-Za-z0-9_-] */
#define DR_JOB_REF_MAX 1024                 /* organizationId, agentSessionId, attemptId */
#define DR_JOB_STRING_MAX (64 * 1024)       /* any other string */
#define DR_JOB_CONTEXT_MAX (256 * 1024)     /* promptContext, serialised */
#define DR_JOB_SLUG_PART_MAX 100            /* owner and repo */
#define DR_JOB_MODEL_MAX 200
#define DR_JOB_SESSION_MAX 128

/* All fields are read-only for callers and owned by the job. */
struct dr_job {
	char *id, *organization_id, *agent_session_id, *attempt_id; /* agent_session_id, attempt_id may be NULL */
	char *repository_slug, *owner, *repo; /* NULL when the job has no repositorySlug */
	/* executionPreferences.executor, else requestPayload.executionPreferences.preferences.executor,
	 * else NULL (the pipeline then applies its default with dr_job_default_executor()). */
	char *executor;
	char *model;    /* NULL when none */
	char *thinking; /* "low" | "medium" | "high" | NULL */
	bool auto_push, auto_create_pr, pr_draft;
	char *issue_identifier, *issue_title, *issue_url; /* each may be NULL */
	char *prompt_summary;      /* may be NULL */
	char *prompt_context_json; /* promptContext re-serialised compactly, or NULL when absent or null */
	char *resume_session_id, *resume_user_reply; /* both set or both NULL */
	cJSON *execution_preferences; /* {executor, model, thinking} for report metadata */
	cJSON *publishing_policy;     /* {autoPush, autoCreatePr, prDraft} */
};

/*
 * Parses the job object (borrowed). Returns 0 and a complete *out, or
 * -EINVAL with a user-facing sentence in err. When the job has a usable id,
 * *out is set even on -EINVAL so that the caller can report the failure:
 * then id, organization_id, agent_session_id and attempt_id are filled as
 * far as they were valid, and the other fields must not be relied on.
 * Without a usable id *out is NULL. A job without repositorySlug parses
 * fine (repository_slug NULL); the pipeline reports "map a repository".
 */
int dr_job_parse(const cJSON *job, struct dr_job **out, char *err, size_t errlen);
/* Accepts NULL. */
void dr_job_free(struct dr_job *job);
/* Sets executor (and execution_preferences.executor) when the job named none. */
void dr_job_default_executor(struct dr_job *job, const char *executor);

/*
 * "delego/<key>-<first 8 chars of id, lower case>" (RUNNING A JOB): <key> is
 * the issue identifier lower-cased, every run of other characters than
 * [a-z0-9] turned into '-', trimmed of '-', at most 64 bytes, and
 * "linear-issue" when that leaves nothing. Caller frees.
 */
char *dr_job_branch_name(const struct dr_job *job);
/* True for "owner/repo" of [A-Za-z0-9._-], no part empty or starting with '-' or '.', no "..", each part <= 100 bytes. */
bool dr_job_slug_valid(const char *slug);
/* True for a job id usable as a path component: [A-Za-z0-9_-], 1..128 bytes, not starting with '-'. */
bool dr_job_id_valid(const char *id);

#endif
