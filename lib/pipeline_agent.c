/*
 * pipeline_agent: the agent of a job: its sandbox, its spawn, its output
 * lines, its stop and exit, the stall watch; and following an agent a
 * previous run of the runner started (the job's adoption is in pipeline.c).
 * Below the state machine: it never moves the job on by itself, but tells
 * it the agent ended through the hook given to start/attach.
 */
#include "pipeline-int.h"
#include "delego/pipeline.h"
#include "delego/adapter.h"
#include "delego/buf.h"
#include "delego/cgroup.h"
#include "delego/childenv.h"
#include "delego/sandbox.h"
#include "delego/gc.h"
#include "delego/job.h"
#include "delego/journal.h"
#include "delego/json.h"
#include "delego/log.h"
#include "delego/proc.h"
#include "delego/redact.h"
#include "delego/supervise.h"
#include "delego/prompt.h"
#include "delego/utf8.h"
#include "delego/workspace.h"
#include "delego/strv.h"
#include "delego/xalloc.h"

#include <errno.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

extern char **environ;

/* What to hide of one of our files: its directory when that is ours (".../delego-runner"), else the
 * file alone (a --config ~/runner.yaml must not hide all of HOME). */
static char *ours_of(const char *path)
{
	const char *slash = path ? strrchr(path, '/') : NULL;
	if (!slash || slash == path)
		return path ? dr_xstrdup(path) : NULL;
	char *dir = dr_xstrndup(path, (size_t)(slash - path));
	const char *base = strrchr(dir, '/');
	if (base && !strcmp(base + 1, "delego-runner"))
		return dir;
	free(dir);
	return dr_xstrdup(path);
}

/* The agent's room: its worktree and what git needs, minus our own config, state and workspace. */
void dr__pipeline_make_sandbox(struct dr_pipeline *p)
{
	const struct dr_config *c = p->env.config;
	struct dr_strv ours = DR_STRV_INIT;
	char *dirs[] = { ours_of(c->credentials_path), ours_of(c->config_path), ours_of(c->state_dir) };
	for (size_t i = 0; i < sizeof dirs / sizeof *dirs; i++) {
		if (dirs[i])
			dr_strv_push(&ours, dirs[i]);
		free(dirs[i]);
	}
	dr_strv_push(&ours, c->workspace_root);
	struct dr_sandbox_in in = {
		.mode = dr_sandbox_mode(),
		.network = c->sandbox_network,
		.home = getenv("HOME"),
		.env = environ,
		.runner_dirs = ours.v,
		.worktree = p->tree.worktree_path,
		.source = p->tree.source_path,
		.extra_writable = c->sandbox_writable,
		.extra_hidden = c->sandbox_hide,
	};
	p->sandbox = dr_sandbox_policy_free(p->sandbox);
	p->sandbox = dr_sandbox_policy_new(&in);
	dr_strv_release(&ours);
}

void dr__pipeline_stop_agent(struct dr_pipeline *p)
{
	if (p->proc)
		dr_proc_terminate(p->proc);
	if (p->follow)
		dr_supervise_terminate(p->follow);
}

static uint64_t mono_ms(void)
{
	return uv_hrtime() / 1000000;
}

/* What is left of limit_ms counted from since (mono_ms; 0: now), at least 1 ms. */
static uint64_t left_of(uint64_t limit_ms, uint64_t since)
{
	uint64_t now = mono_ms();
	uint64_t spent = since && since <= now ? now - since : 0;
	return spent < limit_ms ? limit_ms - spent : 1;
}

static void on_stall_timer(uv_timer_t *t)
{
	struct dr_pipeline *p = t->data;
	if ((!p->proc && !p->follow) || p->state != PL_RUNNING)
		return;
	dr_log_debug("job %s: the agent reported only errors for %llu ms; stopping it", dr__pipeline_job_id(p),
		 (unsigned long long)p->env.config->agent_stall_timeout_ms);
	p->stalled = true;
	dr__pipeline_stop_agent(p);
}

/*
 * since: when the stall clock started (mono_ms), 0 now. The journal keeps
 * it for a runner that takes over (one write per episode of errors).
 */
static void arm_stall(struct dr_pipeline *p, uint64_t since)
{
	uint64_t ms = p->env.config->agent_stall_timeout_ms;
	if (!ms || uv_is_active((uv_handle_t *)&p->stall_timer))
		return;
	uv_timer_start(&p->stall_timer, on_stall_timer, left_of(ms, since), 0);
	char text[32];
	snprintf(text, sizeof text, "%llu", (unsigned long long)(since ? since : mono_ms()));
	dr_journal_note(p->env.journal, dr__pipeline_job_id(p), "stallSince", text);
}

/* An error report without anything else: the clock runs until the agent shows other signs of life. */
static void watch_stall(struct dr_pipeline *p)
{
	if (dr_supervise_replaying(p->follow))
		p->stall_pending = true; /* decided once the replay is over (on_replayed) */
	else
		arm_stall(p, 0);
}

static void unwatch_stall(struct dr_pipeline *p)
{
	if (dr_supervise_replaying(p->follow)) {
		p->stall_pending = false;
		return;
	}
	/* The journal's stallSince stays: only the replay's last episode would use it, and that one wrote its own. */
	uv_timer_stop(&p->stall_timer);
}

/*
 * The replay of an adopted agent's output is over: when it ended with
 * errors only, the stall clock goes on from where the previous run's
 * started (a stall that began after it died counts from now).
 */
static void on_replayed(void *data)
{
	struct dr_pipeline *p = data;
	if (p->stall_pending && p->state == PL_RUNNING)
		arm_stall(p, p->adopt_stall_since);
	p->stall_pending = false;
}

/* Offline codex repeats one error for ever: the same line goes out at most every ERROR_REPEAT_MS. */
static char *error_progress(struct dr_pipeline *p, char *line)
{
	if (!line)
		return NULL;
	uint64_t now = uv_now(p->env.loop);
	if (p->error_shown && !strcmp(p->error_shown, line) && now - p->error_shown_ms < ERROR_REPEAT_MS) {
		free(line);
		return NULL;
	}
	free(p->error_shown);
	p->error_shown = dr_xstrdup(line);
	p->error_shown_ms = now;
	return line;
}
bool dr_pipeline_followable(const struct dr_pipeline *p)
{
	return p->state == PL_RUNNING && (p->follow || (p->proc && p->env.journal)) && !p->stopping_for_question &&
	       !p->cancelled;
}

static void on_agent_line(void *data, int fd, const char *line, size_t len, bool truncated)
{
	struct dr_pipeline *p = data;
	if (fd != 1) {
		if (dr_log_enabled(DR_LOG_DEBUG)) {
			/* Redact, then cut: the logger alone would see only the piece of a secret. */
			size_t n;
			char *red = dr_redact_dup(NULL, line, len, 0, &n);
			dr_log_debug("job %s: agent stderr: %.*s", dr__pipeline_job_id(p), (int)(n > 500 ? 500 : n), red);
			free(red);
		}
		return;
	}
	char *progress = dr_adapter_feed(p->adapter, line, len, truncated);
	enum dr_adapter_event ev = dr_adapter_last_event(p->adapter);
	if (ev == DR_ADAPTER_EVENT_ERROR) {
		watch_stall(p);
		progress = error_progress(p, progress);
	} else if (ev == DR_ADAPTER_EVENT_OTHER) {
		unwatch_stall(p);
	}
	if (progress)
		dr__pipeline_agent_progress(p, progress);
	if (!p->stopping_for_question && dr_adapter_should_stop(p->adapter)) {
		/* Everything needed to resume is known: the rest would be Claude's retries. */
		p->stopping_for_question = true;
		dr_log_debug("job %s: the agent asked a question; stopping it", dr__pipeline_job_id(p));
		dr__pipeline_stop_agent(p);
	}
}

static void on_agent_exit(void *data, const struct dr_proc_result *r)
{
	struct dr_pipeline *p = data;
	p->proc = NULL;
	p->follow = NULL;
	p->cg = dr_cgroup_close(p->cg); /* emptied by proc */
	p->ran = true;
	p->exit_code = r->exit_code;
	p->term_signal = r->term_signal;
	p->timed_out = r->timed_out;
	uv_timer_stop(&p->stall_timer);
	p->stdout_tail = dr_utf8_clean(r->stdout_tail, r->stdout_len);
	p->stderr_tail = dr_utf8_clean(r->stderr_tail, r->stderr_len);
	dr__pipeline_flush_progress(p);
	p->agent_ended(p);
}

/* Why the agent could not start, for the job's report: the state machine ends the job with it. */
static int agent_error(struct dr_pipeline *p, int code, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static int agent_error(struct dr_pipeline *p, int code, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	free(p->error);
	p->error = dr_xvasprintf(fmt, ap);
	va_end(ap);
	return code;
}

static void agent_started(struct dr_pipeline *p)
{
	if (p->cancelled) /* a cancel that came between the prepare and the spawn */
		dr__pipeline_stop_agent(p);
}

/* The agent exec'ed: a runner killed from here on leaves its group behind, and the next start ends it. */
static void on_agent_start(void *data, int pid)
{
	struct dr_pipeline *p = data;
	const struct dr_exec_cmd *cmd = dr_config_exec_cmd(p->env.config, p->job->executor);
	dr_log_debug("job %s: agent %s started, pid %d", dr__pipeline_job_id(p), cmd ? cmd->command : "?", pid);
	cJSON *tree = cJSON_CreateObject();
	dr__pipeline_add_str(tree, "slug", p->tree.slug);
	dr__pipeline_add_str(tree, "sourcePath", p->tree.source_path);
	dr__pipeline_add_str(tree, "worktreePath", p->tree.worktree_path);
	dr__pipeline_add_str(tree, "branch", p->tree.branch);
	dr__pipeline_add_str(tree, "startingSha", p->tree.starting_sha);
	/* Where the agent's cgroup is: a runner that takes it over stops it there. */
	dr_journal_note_agent(p->env.journal, dr__pipeline_job_id(p), pid, p->tree.worktree_path,
			      p->cg ? dr_cgroup_path(p->cg) : NULL, tree);
	cJSON_Delete(tree);
	dr_journal_note(p->env.journal, dr__pipeline_job_id(p), "branchName", p->tree.branch);
}

int dr__pipeline_start_agent(struct dr_pipeline *p, dr__pipeline_ended_cb ended)
{
	const struct dr_job *j = p->job;
	p->agent_ended = ended;
	const struct dr_exec_cmd *cmd = dr_config_exec_cmd(p->env.config, j->executor);
	p->adapter = dr_adapter_new(j->executor);
	if (!cmd || !cmd->command || !p->adapter)
		return agent_error(p, -EINVAL, "This runner has no command for the %s executor.", j->executor);
	char *prompt = dr_prompt_build(j, j->executor, j->auto_push && j->auto_create_pr);
	struct dr_invocation inv = {
		.executor = j->executor,
		.command = cmd->command,
		.args = cmd->args,
		.model = j->model,
		.thinking = j->thinking,
		.resume_session_id = j->resume_session_id,
		.resume_user_reply = j->resume_user_reply,
		.prompt = prompt,
		.worktree = p->tree.worktree_path,
	};
	char **argv = dr_adapter_argv(&inv);
	free(prompt);
	if (!argv)
		return agent_error(p, -EINVAL, "Unable to build the %s command line for this job.",
				   dr__pipeline_display_name(j->executor));
	char *extra[] = { "GIT_TERMINAL_PROMPT=0", NULL };
	char **env = dr_childenv_build_with(NULL, DR_CHILDENV_AGENT, p->env.config->agent_env, extra);
	/* The runner pushes and opens the pull request itself: a sandboxed agent holds no agent socket or
	 * GitHub token unless --agent-env names it. */
	if (p->sandbox && p->sandbox->mode != DR_SANDBOX_OFF)
		dr_sandbox_env_filter(env, p->env.config->agent_env);
	struct dr_proc_opts o = {
		.argv = argv,
		.env = env,
		.cwd = p->tree.worktree_path,
		.timeout_ms = p->env.config->executor_timeout_ms,
		.on_line = on_agent_line,
		.on_exit = on_agent_exit,
		.on_start = on_agent_start,
		.data = p,
		/* Its own cgroup where the runner has cgroups: cancel and timeout then reach its daemons too. */
		.cgroup = p->cg = dr_cgroup_make(dr__pipeline_job_id(p)),
		.sandbox = p->sandbox,
		/* A supervisor that keeps its output and status for a runner that restarts. */
		.supervise_dir = dr_journal_job_dir(p->env.journal, dr__pipeline_job_id(p)),
	};
	int r = dr_proc_spawn(p->env.loop, &o, &p->proc);
	free((char *)o.supervise_dir);
	dr_strv_free(argv);
	dr_strv_free(env);
	if (r < 0)
		p->cg = dr_cgroup_close(p->cg);
	if (r == -ENOENT || r == -EACCES)
		return agent_error(p, r, "Cannot start the %s executor: %s %s. Install %s on this machine or set "
				   "--%s-command (DELEGO_%s_COMMAND) to its path.",
				   dr__pipeline_display_name(j->executor), cmd->command,
				   r == -ENOENT ? "was not found on PATH" : "is not executable",
				   !strcmp(j->executor, DR_EXECUTOR_CLAUDE) ? "Claude Code" : "the Codex CLI", j->executor,
				   !strcmp(j->executor, DR_EXECUTOR_CLAUDE) ? "CLAUDE" : "CODEX");
	if (r < 0)
		return agent_error(p, r, "Cannot start the %s executor (%s): %s.", dr__pipeline_display_name(j->executor),
				   cmd->command, strerror(-r));
	agent_started(p);
	return 0;
}

/* An adopted job: follow the agent through its supervisor's files (supervise.h). */
int dr__pipeline_attach_agent(struct dr_pipeline *p, dr__pipeline_ended_cb ended)
{
	p->agent_ended = ended;
	p->adapter = dr_adapter_new(p->job->executor);
	if (!p->adapter)
		return agent_error(p, -EINVAL, "This runner has no adapter for the %s executor.", p->job->executor);
	/* The same limit as for an agent started here, counted from its real start. */
	uint64_t limit = p->env.config->executor_timeout_ms;
	struct dr_supervise_opts o = {
		.loop = p->env.loop,
		.dir = p->adopt_dir,
		.pid = p->adopt_pid,
		.on_line = on_agent_line,
		.on_exit = on_agent_exit,
		.on_replayed = on_replayed,
		.data = p,
		.timeout_ms = limit ? left_of(limit, p->adopt_started_ms) : 0,
	};
	int r = dr_cgroup_open(dr__pipeline_job_id(p), p->adopt_cgroup, &o.cgroup);
	if (r < 0 && p->adopt_cgroup)
		dr_log_warn("job %s: cannot take over the agent's cgroup %s (%s): a stop reaches its process group only",
			    dr__pipeline_job_id(p), p->adopt_cgroup, strerror(-r));
	dr_log_info("job %s: taking over the agent the previous run started (supervisor %d%s%s%s), %llu ms left of "
		    "its time", dr__pipeline_job_id(p), p->adopt_pid, p->adopt_pid ? "" : ", already gone",
		    o.cgroup ? ", cgroup " : "", o.cgroup ? dr_cgroup_path(o.cgroup) : "",
		    (unsigned long long)o.timeout_ms);
	p->follow = dr_supervise_attach(&o);
	agent_started(p);
	return 0;
}
