/*
 * pipeline-int: what the parts of the pipeline share: pipeline.c (the
 * state machine, its steps and its entry points, adoption included),
 * pipeline_agent.c (the agent: its sandbox, spawn, output, stop and exit,
 * and following one a previous run left) and pipeline_report.c (what goes
 * to the relay: progress, metadata, summaries, the failure explained).
 * Calls go only downwards, pipeline.c -> pipeline_agent.c ->
 * pipeline_report.c (and pipeline.c -> pipeline_report.c); the agent's end
 * goes back up through the hook pipeline.c hands to start/attach.
 */
#ifndef DELEGO_PIPELINE_INT_H
#define DELEGO_PIPELINE_INT_H

#include "delego/pipeline.h"
#include "delego/adapter.h"
#include "delego/proc.h"
#include "delego/sandbox.h"
#include "delego/supervise.h"
#include "delego/workspace.h"

#include <stdbool.h>
#include <stdint.h>
#include <uv.h>

#define PATH_PROGRESS "/api/runner/jobs/progress"
#define PATH_COMPLETE "/api/runner/jobs/complete"
#define PATH_FAIL "/api/runner/jobs/fail"
#define PATH_AWAIT "/api/runner/jobs/await"
#define PATH_STATUS "/api/runner/jobs/status"

#define PROGRESS_GAP_MS 2000  /* at most one progress post per gap ... */
#define PROGRESS_BURST 3      /* ... after the first few, which go at once */
#define SUMMARY_MAX 240
#define LIST_MAX 50
#define FAIL_TAIL_LINES 5
#define FAIL_TAIL_BYTES 1024
#define STATUS_TIMEOUT_MS 10000
#define ERROR_REPEAT_MS 60000 /* the same agent error is shown again at most this often */

enum pl_state {
	PL_NEW,
	PL_VALIDATING,
	PL_PREPARING,
	PL_RUNNING,
	PL_AWAITING,
	PL_COLLECTING,
	PL_COMMITTING,
	PL_READING_HEAD,
	PL_DESCRIBING,
	PL_PUSHING,
	PL_OPENING_PR,
	PL_RECHECKING,
	PL_REPORTING,
	PL_CLOSING,
	PL_DONE,
};
struct dr_pipeline;
typedef void (*dr__pipeline_ended_cb)(struct dr_pipeline *p);

struct dr_pipeline {
	struct dr_pipeline_env env;
	struct dr_sandbox_policy *sandbox; /* the agent's room, from the prepared workspace on */
	enum pl_state state;
	struct dr_job *job;
	char *invalid;  /* why validation refused the job, or NULL */
	bool unparsed;  /* dr_job_parse refused it: only the ids can be trusted */
	dr_pipeline_done_cb done;
	void *data;

	uv_timer_t kick_timer;
	uv_timer_t status_timer;
	uv_timer_t progress_timer;
	uv_timer_t stall_timer; /* runs while the agent reports only errors */
	int open_handles;

	struct dr_workspace_ctx ws;
	struct dr_workspace_step *ws_step; /* the workspace step in flight (ws.running), for a cancel */
	struct dr_workspace_tree tree;
	bool have_tree;

	/* the agent */
	struct dr_adapter *adapter;
	struct dr_proc *proc;
	struct dr_cgroup *cg;        /* proc's cgroup (cgroup mode), removed when it ends */
	struct dr_supervise *follow; /* instead of proc: an agent a previous runner started */
	dr__pipeline_ended_cb agent_ended; /* the state machine's hook, for the agent's end */
	char *adopt_dir;             /* its supervisor's directory (adopted jobs) */
	int adopt_pid;               /* its supervisor, or 0 when it is gone */
	uint64_t adopt_started_ms;   /* when its agent started (uv_hrtime ms, from the journal), or 0 */
	uint64_t adopt_stall_since;  /* when the previous run's stall clock started (same clock), or 0 */
	char *adopt_cgroup;          /* the journal's record of its cgroup, or NULL */
	bool stall_pending;          /* replaying: the output so far ends with errors only */
	struct dr_relay_call *status_call;
	bool stopping_for_question;
	bool ran;
	int exit_code, term_signal;
	bool timed_out;
	bool stalled; /* stopped after --agent-stall-timeout-ms of nothing but errors */
	char *stdout_tail, *stderr_tail;
	char *error_shown; /* the last agent error sent as progress, and when */
	uint64_t error_shown_ms;

	/* cancellation */
	bool cancelled;
	char *cancel_reason; /* NULL: by relay request */

	/* progress rate limit */
	char *pending_progress;
	uint64_t last_progress_ms;
	bool progress_sent_once;
	unsigned progress_count;

	/* after the agent */
	bool success;
	struct dr_gitparse_changes changes, remaining;
	bool have_changes, have_remaining;
	struct dr_workspace_commit_in commit_in;
	struct dr_gitparse_commit commit;
	bool have_commit;
	char head_sha[65];
	bool have_head;
	struct dr_workspace_pr_in pr_in;
	char *pr_title, *pr_body;
	struct dr_workspace_pr pr;
	bool have_pr;
	bool pushed;

	/* the outcome */
	char *error;   /* a step that failed: the report's summary */
	char *summary; /* the final report's summary */
};

/* pipeline_report.c */
const char *dr__pipeline_display_name(const char *executor);
const char *dr__pipeline_job_id(const struct dr_pipeline *p);
void dr__pipeline_add_str(cJSON *o, const char *key, const char *s);
cJSON *dr__pipeline_report_base(const struct dr_pipeline *p, bool with_session);
void dr__pipeline_post(struct dr_pipeline *p, const char *path, cJSON *body);
void dr__pipeline_send_progress(struct dr_pipeline *p, const char *summary, cJSON *meta);
void dr__pipeline_flush_progress(struct dr_pipeline *p);
void dr__pipeline_agent_progress(struct dr_pipeline *p, char *line);
cJSON *dr__pipeline_copy_or_null(const cJSON *v);
cJSON *dr__pipeline_sandbox_json(const struct dr_pipeline *p);
cJSON *dr__pipeline_full_metadata(const struct dr_pipeline *p);
char *dr__pipeline_failure_summary(const struct dr_pipeline *p);
char *dr__pipeline_success_summary(const struct dr_pipeline *p);

/* pipeline_agent.c */
void dr__pipeline_make_sandbox(struct dr_pipeline *p);
/*
 * Start the agent here, or follow an adopted job's (p->adopt_dir). 0 once
 * it runs: ended runs when it has ended (ran, exit_code and the tails
 * set). Else a negative errno, p->error says why, and ended never runs.
 */
int dr__pipeline_start_agent(struct dr_pipeline *p, dr__pipeline_ended_cb ended);
int dr__pipeline_attach_agent(struct dr_pipeline *p, dr__pipeline_ended_cb ended);
/* SIGTERM to the agent (SIGKILL follows); its end still comes through ended. */
void dr__pipeline_stop_agent(struct dr_pipeline *p);

#endif
