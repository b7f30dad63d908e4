/*
 * pipeline: one job from claim to final report, as a state machine on the
 * loop (claimed -> preparing workspace -> running agent -> collecting
 * changes -> publishing -> reporting -> done). See delego-runner-protocol(7).
 */
#ifndef DELEGO_PIPELINE_H
#define DELEGO_PIPELINE_H

#include <cjson/cJSON.h>
#include <uv.h>

#include "delego/config.h"
#include "delego/journal.h"
#include "delego/outbox.h"
#include "delego/relay.h"

struct dr_pipeline;

/* Borrowed by every pipeline; must outlive them. */
struct dr_pipeline_env {
	uv_loop_t *loop;
	const struct dr_config *config;
	struct dr_relay *relay;   /* for jobs/status */
	struct dr_outbox *outbox; /* for progress/complete/fail/await */
	const char *version;      /* runner version string */
	struct dr_journal *journal; /* crash-recovery notes (agent pid, worktree); may be NULL */
};

typedef void (*dr_pipeline_done_cb)(struct dr_pipeline *p, void *data);

/*
 * Starts a job from the poll answer's "job" object (borrowed; copied).
 * A job that fails validation is reported as failed by the pipeline itself
 * (when it has an id to report against) and still ends through done.
 * Returns -EINVAL only when nothing can be reported (no usable job id);
 * then done never runs.
 */
int dr_pipeline_start(const struct dr_pipeline_env *env, const cJSON *job, dr_pipeline_done_cb done, void *data,
		      struct dr_pipeline **out);
/*
 * Takes over a job a previous runner left (journal.h): entry is its
 * journal entry (the job, the worktree), dir its supervisor's directory,
 * pid the supervisor (0: gone, its exit status is in dir). The agent is
 * followed from the start of its output, without reporting again the
 * progress that was; then the job goes on as if it had run here. -EINVAL
 * when the entry lacks what that needs.
 */
int dr_pipeline_adopt(const struct dr_pipeline_env *env, const cJSON *entry, const char *dir, int pid,
		      dr_pipeline_done_cb done, void *data, struct dr_pipeline **out);
/* Ends the agent (SIGTERM, SIGKILL after 5 s) and reports the job cancelled. */
void dr_pipeline_cancel(struct dr_pipeline *p, const char *reason);
/* Asks the relay now whether the job was cancelled (while the agent runs; else nothing). */
void dr_pipeline_check_cancel(struct dr_pipeline *p);
/* True while the agent runs under its supervisor, so that another runner image can take the job over. */
bool dr_pipeline_followable(const struct dr_pipeline *p);
const char *dr_pipeline_job_id(const struct dr_pipeline *p);
/* The summary of the job's last report (complete, fail or await), "" before it. Borrowed. */
const char *dr_pipeline_summary(const struct dr_pipeline *p);
/* Only after done ran. Accepts NULL. */
void dr_pipeline_free(struct dr_pipeline *p);

#endif
