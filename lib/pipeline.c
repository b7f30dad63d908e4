/*
 * pipeline: one job as a state machine. Every step is a child
 * process (workspace, proc) or a report, and every callback moves the job
 * on through enter_state(), the one place where the state changes. The
 * agent's part (pipeline_agent.c) reports its end through on_agent_ended().
 *
 *   validating -> preparing -> running -> collecting -> committing ->
 *   reading-head -> describing -> pushing -> opening-pr -> rechecking ->
 *   reporting -> closing -> done
 *   (running -> awaiting -> closing when the agent asked the user a question;
 *    any step that fails -> reporting with the failure)
 *
 * The pipeline owns four timers (the deferred start, the jobs/status poll,
 * the progress rate limit and the stall watch); "done" runs from the close
 * callback of the last of them, so dr_pipeline_free() after done is a plain
 * free.
 */
#include "pipeline-int.h"
#include "delego/pipeline.h"
#include "delego/adapter.h"
#include "delego/buf.h"
#include "delego/childenv.h"
#include "delego/sandbox.h"
#include "delego/gc.h"
#include "delego/job.h"
#include "delego/json.h"
#include "delego/log.h"
#include "delego/proc.h"
#include "delego/redact.h"
#include "delego/supervise.h"
#include "delego/prompt.h"
#include "delego/utf8.h"
#include "delego/workspace.h"
#include "delego/wslayout.h"
#include "delego/xalloc.h"

#include <errno.h>
#include <signal.h>
#include <sys/file.h>
#include <stdarg.h>
#include <stdio.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>

static const char *const pl_strstate[] = {
	[PL_NEW] = "new",
	[PL_VALIDATING] = "validating",
	[PL_PREPARING] = "preparing workspace",
	[PL_RUNNING] = "running agent",
	[PL_AWAITING] = "awaiting user input",
	[PL_COLLECTING] = "collecting changes",
	[PL_COMMITTING] = "committing",
	[PL_READING_HEAD] = "reading head",
	[PL_DESCRIBING] = "describing head",
	[PL_PUSHING] = "pushing",
	[PL_OPENING_PR] = "opening pull request",
	[PL_RECHECKING] = "rechecking changes",
	[PL_REPORTING] = "reporting",
	[PL_CLOSING] = "closing",
	[PL_DONE] = "done",
};


/* ---- steps ---- */

static void enter_state(struct dr_pipeline *p, enum pl_state next);
static void fail_with(struct dr_pipeline *p, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void fail_with(struct dr_pipeline *p, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	char *msg = dr_xvasprintf(fmt, ap);
	va_end(ap);
	free(p->error);
	p->error = msg;
	enter_state(p, PL_REPORTING);
}

static void on_prepared(void *data, int status, const char *err)
{
	struct dr_pipeline *p = data;
	if (status < 0) {
		fail_with(p, "Unable to prepare the workspace for %s: %s", p->job->repository_slug, err);
		return;
	}
	p->have_tree = true;
	enter_state(p, PL_RUNNING);
}

/* From preparing to the report, a cancel ends the job: the agent or the workspace step in flight. */
static bool cancellable(const struct dr_pipeline *p)
{
	return p->state >= PL_PREPARING && p->state < PL_REPORTING && p->state != PL_AWAITING;
}

static void on_status(const struct dr_relay_reply *reply, void *data)
{
	struct dr_pipeline *p = data;
	p->status_call = NULL;
	if (reply->outcome != DR_RELAY_OK || !cancellable(p))
		return;
	const cJSON *job = dr_json_obj(reply->body, "job");
	if (job && dr_json_true(job, "cancellationRequested")) {
		dr_log_debug("job %s: the relay asks to cancel", dr__pipeline_job_id(p));
		dr_pipeline_cancel(p, NULL);
	}
}

static void on_status_timer(uv_timer_t *t)
{
	struct dr_pipeline *p = t->data;
	if (p->status_call || !p->env.relay || !cancellable(p))
		return;
	cJSON *b = cJSON_CreateObject();
	cJSON_AddStringToObject(b, "jobId", dr__pipeline_job_id(p));
	struct dr_relay_call *call = NULL;
	if (dr_relay_post(p->env.relay, PATH_STATUS, b, STATUS_TIMEOUT_MS, on_status, p, &call) == 0)
		p->status_call = call;
}


static void poll_status(struct dr_pipeline *p)
{
	uint64_t every = p->env.config->cancellation_poll_interval_ms;
	if (p->env.relay && every > 0 && !uv_is_active((uv_handle_t *)&p->status_timer))
		uv_timer_start(&p->status_timer, on_status_timer, every, every);
}

void dr_pipeline_check_cancel(struct dr_pipeline *p)
{
	if (p)
		on_status_timer(&p->status_timer);
}

/* The agent ended (pipeline_agent.c set ran, exit_code, the tails): await the answer, or collect its changes. */
static void on_agent_ended(struct dr_pipeline *p)
{
	if (!p->cancelled && !p->timed_out && dr_adapter_question(p->adapter)) {
		if (!dr_adapter_session_id(p->adapter)) {
			fail_with(p, "Claude returned a pending question without a session id; cannot resume.");
			return;
		}
		enter_state(p, PL_AWAITING);
		return;
	}
	char why[PATH_MAX + 64];
	if (dr_sandbox_git_check(p->sandbox, why, sizeof why) < 0) {
		fail_with(p, "The agent changed how its worktree points at its repository (%s); the runner does not "
			  "run git on it. Its worktree is kept at %s.",
			  why, p->tree.worktree_path);
		return;
	}
	p->success = p->exit_code == 0 && !p->cancelled && !p->timed_out && !p->stalled &&
		     !dr_adapter_fatal_error(p->adapter);
	enter_state(p, PL_COLLECTING);
}

static void post_await(struct dr_pipeline *p)
{
	cJSON *b = dr__pipeline_report_base(p, true);
	dr__pipeline_add_str(b, "sessionId", dr_adapter_session_id(p->adapter));
	cJSON_AddItemToObject(b, "question", cJSON_Duplicate(dr_adapter_question(p->adapter), true));
	dr__pipeline_add_str(b, "worktreePath", p->tree.worktree_path);
	dr__pipeline_add_str(b, "branchName", p->tree.branch);
	dr_json_add_str_or_null(b, "attemptId", p->job->attempt_id);
	free(p->summary);
	p->summary = dr_xstrdup("Awaiting the user's answer to the agent's question.");
	dr__pipeline_post(p, PATH_AWAIT, b);
}

static void on_changes(void *data, int status, const char *err)
{
	struct dr_pipeline *p = data;
	if (status < 0) {
		fail_with(p, "Unable to inspect git changes: %s", err);
		return;
	}
	p->have_changes = true;
	if (p->success && p->changes.count > 0 && p->env.config->create_commit && !p->cancelled)
		enter_state(p, PL_COMMITTING);
	else
		enter_state(p, PL_READING_HEAD);
}

static void on_committed(void *data, int status, const char *err)
{
	struct dr_pipeline *p = data;
	if (status < 0) {
		fail_with(p, "Unable to create the local commit: %s", err);
		return;
	}
	p->have_commit = true;
	enter_state(p, PL_READING_HEAD);
}

static bool wants_push(const struct dr_pipeline *p)
{
	return p->success && !p->cancelled && p->job->auto_push && p->have_commit &&
	       strcmp(p->head_sha, p->tree.starting_sha) != 0;
}

static void on_head(void *data, int status, const char *err)
{
	struct dr_pipeline *p = data;
	if (status < 0) {
		fail_with(p, "Unable to read HEAD: %s", err);
		return;
	}
	p->have_head = true;
	bool new_commits = strcmp(p->head_sha, p->tree.starting_sha) != 0;
	if (p->success && new_commits && !p->have_commit)
		enter_state(p, PL_DESCRIBING);
	else if (wants_push(p))
		enter_state(p, PL_PUSHING);
	else
		enter_state(p, PL_RECHECKING);
}

static void on_described(void *data, int status, const char *err)
{
	struct dr_pipeline *p = data;
	if (status < 0) {
		fail_with(p, "Unable to read the agent's commit: %s", err);
		return;
	}
	p->have_commit = true;
	enter_state(p, wants_push(p) ? PL_PUSHING : PL_RECHECKING);
}

static void on_pushed(void *data, int status, const char *err)
{
	struct dr_pipeline *p = data;
	if (status < 0) {
		fail_with(p, "Unable to push branch %s: %s", p->tree.branch, err);
		return;
	}
	p->pushed = true;
	enter_state(p, p->job->auto_create_pr && !p->cancelled ? PL_OPENING_PR : PL_RECHECKING);
}

static void on_pr(void *data, int status, const char *err)
{
	struct dr_pipeline *p = data;
	if (status < 0) {
		fail_with(p, "Unable to create the GitHub pull request: %s", err);
		return;
	}
	p->have_pr = true;
	enter_state(p, PL_RECHECKING);
}

static void on_rechecked(void *data, int status, const char *err)
{
	struct dr_pipeline *p = data;
	if (status == 0)
		p->have_remaining = true;
	else
		dr_log_debug("job %s: cannot list the remaining changes: %s", dr__pipeline_job_id(p), err);
	enter_state(p, PL_REPORTING);
}

static void report(struct dr_pipeline *p)
{
	dr__pipeline_flush_progress(p);
	/* Workspace lifecycle: the job has ended, so its worktree no longer waits for an answer. */
	if (p->have_tree)
		dr_workspace_mark_awaiting(&p->tree, dr__pipeline_job_id(p), false);
	bool ok = p->success && !p->error && !p->cancelled && !p->invalid;
	cJSON *meta;
	if (p->invalid) {
		meta = cJSON_CreateObject();
		dr_json_add_str_or_null(meta, "attemptId", p->job->attempt_id);
		dr_json_add_str_or_null(meta, "repositorySlug", p->unparsed ? NULL : p->job->repository_slug);
	} else {
		meta = dr__pipeline_full_metadata(p);
	}
	free(p->summary);
	p->summary = p->invalid ? dr_xstrdup(p->invalid)
		     : ok      ? dr__pipeline_success_summary(p)
			       : dr__pipeline_failure_summary(p);
	cJSON *b = dr__pipeline_report_base(p, true);
	dr__pipeline_add_str(b, "summary", p->summary);
	if (!ok)
		cJSON_AddBoolToObject(b, "cancelled", p->cancelled);
	cJSON_AddItemToObject(b, "metadata", meta);
	dr__pipeline_post(p, ok ? PATH_COMPLETE : PATH_FAIL, b);
}

static void on_closed(uv_handle_t *h)
{
	struct dr_pipeline *p = h->data;
	if (--p->open_handles > 0)
		return;
	enter_state(p, PL_DONE);
}

static void close_handles(struct dr_pipeline *p)
{
	if (p->status_call) {
		dr_relay_call_cancel(p->status_call);
		p->status_call = NULL;
	}
	uv_close((uv_handle_t *)&p->kick_timer, on_closed);
	uv_close((uv_handle_t *)&p->status_timer, on_closed);
	uv_close((uv_handle_t *)&p->progress_timer, on_closed);
	uv_close((uv_handle_t *)&p->stall_timer, on_closed);
}

/* A workspace step that could not start never calls back: the job ends here with a fail report. */
static void ws_started(struct dr_pipeline *p, int r)
{
	if (r < 0)
		fail_with(p, "Unable to %s: %s", pl_strstate[p->state], strerror(-r));
}

static void workspace_prepare(struct dr_pipeline *p)
{
	char *branch = dr_job_branch_name(p->job);
	struct dr_workspace_prepare_in in = {
		.slug = p->job->repository_slug,
		.job_id = p->job->id,
		.branch = branch,
	};
	char err[256];
	int r = dr_workspace_prepare(&p->ws, &in, &p->tree, on_prepared, p, err, sizeof(err));
	free(branch);
	if (r < 0)
		fail_with(p, "Unable to prepare the workspace for %s: %s", p->job->repository_slug, err);
}

/*
 * Workspace lifecycle (gc.h): a new worktree needs --min-free-bytes
 * available; when it is short, the job fails with what is missing and
 * what `workspace gc` would free (asked of a dry-run child, off the loop).
 */
static void on_space_explained(void *data, const char *msg)
{
	fail_with(data, "%s", msg);
}

static void check_space_then_prepare(struct dr_pipeline *p)
{
	uint64_t avail = 0;
	if (dr_gc_space_short(p->env.config, p->job->repository_slug, p->job->id, &avail) &&
	    dr_gc_explain_shortage(p->env.loop, p->env.config, avail, on_space_explained, p) == 0)
		return;
	workspace_prepare(p);
}

static void validate(struct dr_pipeline *p)
{
	if (p->invalid) {
		enter_state(p, PL_REPORTING);
		return;
	}
	struct dr_job *j = p->job;
	dr_job_default_executor(j, DR_EXECUTOR_CODEX); /* the Node runner's default */
	if (!dr_config_supports(p->env.config, j->executor)) {
		struct dr_buf list = DR_BUF_INIT(0);
		for (char **e = p->env.config->supported_executors; e && *e; e++)
			dr_buf_addf(&list, "%s%s", list.len ? ", " : "", *e);
		p->invalid = dr_xasprintf("This runner does not run %s jobs (it supports: %s). Pick another executor "
					  "or start the runner with --supported-executors including %s.",
					  j->executor, list.len ? list.buf : "none", j->executor);
		dr_buf_release(&list);
		enter_state(p, PL_REPORTING);
		return;
	}
	if (!j->repository_slug) {
		p->invalid = dr_xstrdup("This job has no repository configured. Add a Repository Mapping (Linear → "
					"Repository) in delego for the issue's project, then re-trigger the agent "
					"session.");
		enter_state(p, PL_REPORTING);
		return;
	}
	if (p->cancelled) {
		enter_state(p, PL_REPORTING);
		return;
	}
	enter_state(p, PL_PREPARING);
}

static void prepared_progress(struct dr_pipeline *p)
{
	const struct dr_job *j = p->job;
	cJSON *m = cJSON_CreateObject();
	cJSON_AddStringToObject(m, "executor", j->executor);
	dr_json_add_str_or_null(m, "model", j->model);
	dr_json_add_str_or_null(m, "thinking", j->thinking);
	dr__pipeline_add_str(m, "repositoryPath", p->tree.worktree_path);
	dr__pipeline_add_str(m, "sourceRepositoryPath", p->tree.source_path);
	dr__pipeline_add_str(m, "worktreePath", p->tree.worktree_path);
	dr__pipeline_add_str(m, "branchName", p->tree.branch);
	if (p->tree.fetch_warning)
		dr__pipeline_add_str(m, "fetchWarning", p->tree.fetch_warning);
	dr__pipeline_make_sandbox(p);
	cJSON_AddItemToObject(m, "sandbox", dr__pipeline_sandbox_json(p));
	char *s = dr_xasprintf("Prepared local workspace for %s execution.", j->executor);
	dr__pipeline_send_progress(p, s, m);
	free(s);
}

/* An adopted job follows the agent a previous run started; else the agent starts here. */
static void run_agent(struct dr_pipeline *p)
{
	int r;
	if (p->adopt_dir) {
		poll_status(p); /* polled since the prepare step, which an adopted job skipped */
		r = dr__pipeline_attach_agent(p, on_agent_ended);
	} else {
		prepared_progress(p);
		r = dr__pipeline_start_agent(p, on_agent_ended);
	}
	if (r < 0) /* p->error says why */
		enter_state(p, PL_REPORTING);
}

static void enter_state(struct dr_pipeline *p, enum pl_state next)
{
	enum pl_state prev = p->state;
	p->state = next;
	dr_log_info("job %s: %s -> %s", dr__pipeline_job_id(p), pl_strstate[prev], pl_strstate[next]);

	switch (next) {
	case PL_NEW:
		break;
	case PL_VALIDATING:
		validate(p);
		break;
	case PL_PREPARING:
		/* jobs/status is polled from here to the report: a cancel reaches the git steps too. */
		poll_status(p);
		check_space_then_prepare(p);
		break;
	case PL_RUNNING:
		if (p->cancelled)
			enter_state(p, PL_REPORTING);
		else
			run_agent(p);
		break;
	case PL_AWAITING:
		uv_timer_stop(&p->status_timer);
		/* Workspace lifecycle: gc keeps the worktree while this marker says the job waits. */
		if (dr_workspace_mark_awaiting(&p->tree, dr__pipeline_job_id(p), true) < 0)
			dr_log_warn("job %s: cannot write the awaiting marker beside %s; workspace gc may remove the "
				"worktree after --worktree-retention-days",
				dr__pipeline_job_id(p), p->tree.worktree_path);
		post_await(p);
		enter_state(p, PL_CLOSING);
		break;
	case PL_COLLECTING:
		ws_started(p, dr_workspace_changes(&p->ws, &p->tree, &p->changes, on_changes, p));
		break;
	case PL_COMMITTING:
		p->commit_in = (struct dr_workspace_commit_in){
			.identifier = p->job->issue_identifier,
			.title = p->job->issue_title,
			.url = p->job->issue_url,
			.changes = &p->changes,
		};
		ws_started(p, dr_workspace_commit(&p->ws, &p->tree, &p->commit_in, &p->commit, on_committed, p));
		break;
	case PL_READING_HEAD:
		ws_started(p, dr_workspace_head(&p->ws, &p->tree, p->head_sha, on_head, p));
		break;
	case PL_DESCRIBING:
		ws_started(p, dr_workspace_describe_head(&p->ws, &p->tree, &p->commit, on_described, p));
		break;
	case PL_PUSHING: {
		cJSON *m = cJSON_CreateObject();
		dr__pipeline_add_str(m, "branchName", p->tree.branch);
		dr_json_add_str_or_null(m, "repositorySlug", p->job->repository_slug);
		cJSON_AddItemToObject(m, "publishingPolicy", dr__pipeline_copy_or_null(p->job->publishing_policy));
		dr__pipeline_send_progress(p, "Publishing branch with local git credentials.", m);
		ws_started(p, dr_workspace_push(&p->ws, &p->tree, on_pushed, p));
		break;
	}
	case PL_OPENING_PR:
		p->pr_title = dr_gitparse_commit_subject(p->job->issue_identifier, p->job->issue_title);
		p->pr_body = dr_gitparse_pr_body(p->job->issue_identifier, p->job->issue_url, p->commit.short_sha);
		p->pr_in = (struct dr_workspace_pr_in){ .title = p->pr_title, .body = p->pr_body, .draft = p->job->pr_draft };
		ws_started(p, dr_workspace_pr(&p->ws, &p->tree, &p->pr_in, &p->pr, on_pr, p));
		break;
	case PL_RECHECKING:
		ws_started(p, dr_workspace_changes(&p->ws, &p->tree, &p->remaining, on_rechecked, p));
		break;
	case PL_REPORTING:
		uv_timer_stop(&p->status_timer);
		report(p);
		enter_state(p, PL_CLOSING);
		break;
	case PL_CLOSING:
		close_handles(p);
		break;
	case PL_DONE:
		p->done(p, p->data);
		break;
	}
}

static void on_kick(uv_timer_t *t)
{
	struct dr_pipeline *p = t->data;
	enter_state(p, p->adopt_dir && !p->invalid ? PL_RUNNING : PL_VALIDATING);
}

int dr_pipeline_start(const struct dr_pipeline_env *env, const cJSON *job, dr_pipeline_done_cb done, void *data,
		      struct dr_pipeline **out)
{
	char err[512] = "";
	struct dr_job *j = NULL;
	int r = dr_job_parse(job, &j, err, sizeof(err));
	if (!j)
		return -EINVAL;
	struct dr_pipeline *p = dr_xcalloc(1, sizeof(*p));
	p->env = *env;
	p->job = j;
	p->done = done;
	p->data = data;
	if (r < 0)
	{
		p->invalid = dr_xasprintf("Invalid job: %s", err[0] ? err : "the relay sent a malformed job");
		p->unparsed = true;
	}
	p->pr.number = -1;
	p->ws = (struct dr_workspace_ctx){
		.loop = env->loop,
		.root = env->config->workspace_root,
		.clone_base = env->config->git_clone_base_url,
		.running = &p->ws_step,
		/* A one-shot run has no next job to warm a worktree for. */
		.warm_worktrees = env->config->once ? 0 : env->config->warm_worktrees,
	};
	uv_timer_init(env->loop, &p->kick_timer);
	uv_timer_init(env->loop, &p->status_timer);
	uv_timer_init(env->loop, &p->progress_timer);
	uv_timer_init(env->loop, &p->stall_timer);
	p->kick_timer.data = p->status_timer.data = p->progress_timer.data = p->stall_timer.data = p;
	p->open_handles = 4;
	/* Never call done from inside start: the caller has not stored p yet. */
	uv_timer_start(&p->kick_timer, on_kick, 0, 0);
	*out = p;
	return 0;
}

static char *entry_str(const cJSON *o, const char *key)
{
	const char *v = dr_json_str(o, key);
	return v ? dr_xstrdup(v) : NULL;
}

int dr_pipeline_adopt(const struct dr_pipeline_env *env, const cJSON *entry, const char *dir, int pid,
		      dr_pipeline_done_cb done, void *data, struct dr_pipeline **out)
{
	const cJSON *job = cJSON_GetObjectItemCaseSensitive(entry, "job");
	const cJSON *tree = cJSON_GetObjectItemCaseSensitive(entry, "tree");
	const char *worktree = dr_json_str(tree, "worktreePath");
	if (!cJSON_IsObject(job) || !worktree || !dr_json_str(tree, "branch"))
		return -EINVAL;
	struct dr_pipeline *p;
	int r = dr_pipeline_start(env, job, done, data, &p);
	if (r < 0)
		return r;
	p->adopt_dir = dr_xstrdup(dir);
	p->adopt_pid = pid;
	/*
	 * The job's seq goes on from the last one given: a report still in the
	 * spool has it (the outbox read them back), and the journal has it once
	 * they were all acknowledged (written before the last one's file goes).
	 */
	const char *seq = dr_json_str(entry, "seq");
	if (seq)
		dr_outbox_note_seq(env->outbox, dr_json_str(entry, "id"), strtoll(seq, NULL, 10));
	const char *started = dr_json_str(entry, "agentStartedMs"), *stall = dr_json_str(entry, "stallSince");
	p->adopt_started_ms = started ? strtoull(started, NULL, 10) : 0;
	p->adopt_stall_since = stall ? strtoull(stall, NULL, 10) : 0;
	p->adopt_cgroup = entry_str(entry, "cgroup");
	p->tree.slug = entry_str(tree, "slug");
	p->tree.source_path = entry_str(tree, "sourcePath");
	p->tree.worktree_path = dr_xstrdup(worktree);
	p->tree.branch = entry_str(tree, "branch");
	p->tree.starting_sha = entry_str(tree, "startingSha");
	p->tree.inuse_fd = -1;
	/* The worktree is ours again: gc must keep it while the job goes on. */
	if (dr_wslayout_trylock(worktree, LOCK_EX, &p->tree.inuse_fd) == 0)
		p->tree.inuse_held = true;
	p->have_tree = true;
	*out = p;
	return 0;
}

void dr_pipeline_cancel(struct dr_pipeline *p, const char *reason)
{
	if (!p || p->cancelled || p->state >= PL_REPORTING)
		return;
	p->cancelled = true;
	p->cancel_reason = reason ? dr_xstrdup(reason) : NULL;
	if (p->proc)
		dr_proc_terminate(p->proc);
	/* Its callback follows with -ECANCELED, and the job ends with a fail report. */
	dr_workspace_step_cancel(p->ws_step);
	dr__pipeline_stop_agent(p);
}

const char *dr_pipeline_job_id(const struct dr_pipeline *p)
{
	return p->job->id;
}

const char *dr_pipeline_summary(const struct dr_pipeline *p)
{
	return p && p->summary ? p->summary : "";
}

void dr_pipeline_free(struct dr_pipeline *p)
{
	if (!p)
		return;
	dr_job_free(p->job);
	free(p->invalid);
	dr_workspace_tree_release(&p->tree);
	dr_adapter_free(p->adapter);
	free(p->stdout_tail);
	free(p->stderr_tail);
	free(p->cancel_reason);
	free(p->adopt_dir);
	free(p->adopt_cgroup);
	free(p->pending_progress);
	free(p->error_shown);
	dr_gitparse_changes_release(&p->changes);
	dr_gitparse_changes_release(&p->remaining);
	dr_gitparse_commit_release(&p->commit);
	free(p->pr_title);
	free(p->pr_body);
	dr_sandbox_policy_free(p->sandbox);
	dr_workspace_pr_release(&p->pr);
	free(p->error);
	free(p->summary);
	free(p);
}
