/*
 * pipeline: one job as a state machine. Every step is a child
 * process (workspace, proc) or a report, and every callback moves the job
 * on through enter_state(), the one place where the state changes.
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

extern char **environ;

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

	struct dr_ws_ctx ws;
	struct dr_ws_step *ws_step; /* the workspace step in flight (ws.running), for a cancel */
	struct dr_ws_tree tree;
	bool have_tree;

	/* the agent */
	struct dr_adapter *adapter;
	struct dr_proc *proc;
	struct dr_supervise *follow; /* instead of proc: an agent a previous runner started */
	char *adopt_dir;             /* its supervisor's directory (adopted jobs) */
	int adopt_pid;               /* its supervisor, or 0 when it is gone */
	long long replayed;          /* lines of its output the previous runner had seen, at most */
	bool seq_seeded;
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
	struct dr_ws_changes changes, remaining;
	bool have_changes, have_remaining;
	struct dr_ws_commit_in commit_in;
	struct dr_ws_commit commit;
	bool have_commit;
	char head_sha[65];
	bool have_head;
	struct dr_ws_pr_in pr_in;
	char *pr_title, *pr_body;
	struct dr_ws_pr pr;
	bool have_pr;
	bool pushed;

	/* the outcome */
	char *error;   /* a step that failed: the report's summary */
	char *summary; /* the final report's summary */
};

static void enter_state(struct dr_pipeline *p, enum pl_state next);

/* ---- strings for reports ---- */

/* s cut to at most max bytes on a character boundary. Caller frees. */
static char *cut_utf8(const char *s, size_t max)
{
	size_t n = strlen(s);
	if (n <= max)
		return dr_utf8_clean(s, n);
	return dr_utf8_clean(s, dr_utf8_boundary(s, max));
}

/* The last FAIL_TAIL_LINES non-empty lines of text, at most FAIL_TAIL_BYTES; NULL when none. */
static char *last_lines(const char *text)
{
	if (!text || !*text)
		return NULL;
	const char *starts[FAIL_TAIL_LINES];
	size_t lens[FAIL_TAIL_LINES];
	int found = 0;
	const char *end = text + strlen(text);
	while (end > text && found < FAIL_TAIL_LINES) {
		const char *line_end = end;
		const char *line = line_end;
		while (line > text && line[-1] != '\n')
			line--;
		end = line > text ? line - 1 : text;
		size_t len = (size_t)(line_end - line);
		while (len > 0 && (line[len - 1] == ' ' || line[len - 1] == '\t' || line[len - 1] == '\r'))
			len--;
		bool blank = true;
		for (size_t i = 0; i < len && blank; i++)
			blank = line[i] == ' ' || line[i] == '\t';
		if (blank)
			continue;
		starts[found] = line;
		lens[found++] = len;
		if (line == text)
			break;
	}
	if (!found)
		return NULL;
	struct dr_buf b = DR_BUF_INIT(0);
	for (int i = found - 1; i >= 0; i--) {
		dr_buf_add(&b, starts[i], lens[i]);
		if (i)
			dr_buf_addch(&b, '\n');
	}
	size_t skip = 0;
	if (b.len > FAIL_TAIL_BYTES) {
		skip = b.len - FAIL_TAIL_BYTES;
		while (skip < b.len && ((unsigned char)b.buf[skip] & 0xc0) == 0x80)
			skip++;
	}
	char *out = dr_utf8_clean(b.buf + skip, b.len - skip);
	dr_buf_release(&b);
	return out;
}

static char *trimmed_copy(const char *s)
{
	while (*s == ' ' || *s == '\t' || *s == '\n' || *s == '\r')
		s++;
	size_t n = strlen(s);
	while (n > 0 && (s[n - 1] == ' ' || s[n - 1] == '\t' || s[n - 1] == '\n' || s[n - 1] == '\r'))
		n--;
	return dr_utf8_clean(s, n);
}

static bool blank(const char *s)
{
	for (; s && *s; s++) {
		if (*s != ' ' && *s != '\t' && *s != '\n' && *s != '\r')
			return false;
	}
	return true;
}

static const char *signal_name(int sig)
{
	static const struct {
		int sig;
		const char *name;
	} names[] = {
		{ SIGHUP, "SIGHUP" }, { SIGINT, "SIGINT" },   { SIGQUIT, "SIGQUIT" }, { SIGILL, "SIGILL" },
		{ SIGTRAP, "SIGTRAP" }, { SIGABRT, "SIGABRT" }, { SIGBUS, "SIGBUS" }, { SIGFPE, "SIGFPE" },
		{ SIGKILL, "SIGKILL" }, { SIGUSR1, "SIGUSR1" }, { SIGSEGV, "SIGSEGV" }, { SIGUSR2, "SIGUSR2" },
		{ SIGPIPE, "SIGPIPE" }, { SIGALRM, "SIGALRM" }, { SIGTERM, "SIGTERM" }, { SIGXCPU, "SIGXCPU" },
	};
	for (size_t i = 0; i < sizeof(names) / sizeof(*names); i++) {
		if (names[i].sig == sig)
			return names[i].name;
	}
	return NULL;
}

static const char *display_name(const char *executor)
{
	if (executor && !strcmp(executor, DR_EXECUTOR_CLAUDE))
		return "Claude";
	if (executor && !strcmp(executor, DR_EXECUTOR_CODEX))
		return "Codex";
	return "Agent";
}

/* ---- reports ---- */

static const char *job_id(const struct dr_pipeline *p)
{
	return p->job->id;
}

static void add_str(cJSON *o, const char *key, const char *s)
{
	if (!s) {
		cJSON_AddNullToObject(o, key);
		return;
	}
	char *c = dr_utf8_clean(s, strlen(s));
	cJSON_AddStringToObject(o, key, c);
	free(c);
}

static cJSON *report_base(const struct dr_pipeline *p, bool with_session)
{
	cJSON *b = cJSON_CreateObject();
	cJSON_AddStringToObject(b, "jobId", job_id(p));
	dr_json_add_str_or_null(b, "organizationId", p->job->organization_id);
	if (with_session)
		dr_json_add_str_or_null(b, "agentSessionId", p->job->agent_session_id);
	return b;
}

/* Every string leaving for the relay loses the runner's secrets (bearer,
 * secret-looking environment values): agents echo what they see. */
static void redact_strings(cJSON *item)
{
	for (; item; item = item->next) {
		if (cJSON_IsString(item) && item->valuestring) {
			size_t n;
			char *clean = dr_redact_dup(NULL, item->valuestring, strlen(item->valuestring), 0, &n);
			if (clean && strcmp(clean, item->valuestring) != 0)
				cJSON_SetValuestring(item, clean);
			free(clean);
		}
		redact_strings(item->child);
	}
}

static void post(struct dr_pipeline *p, const char *path, cJSON *body)
{
	redact_strings(body->child);
	int r = dr_outbox_post(p->env.outbox, job_id(p), path, body);
	if (r < 0)
		dr_debug("job %s: report to %s not queued: %s", job_id(p), path, strerror(-r));
}

static void send_progress(struct dr_pipeline *p, const char *summary, cJSON *meta)
{
	cJSON *b = report_base(p, false);
	/* Redact before the cut: a cut inside a secret leaves a piece no longer matched. */
	char *red = dr_redact_dup(NULL, summary, strlen(summary), 0, NULL);
	char *s = cut_utf8(red, SUMMARY_MAX);
	cJSON_AddStringToObject(b, "summary", s);
	free(red);
	free(s);
	if (!meta)
		meta = cJSON_CreateObject();
	cJSON_DeleteItemFromObjectCaseSensitive(meta, "attemptId");
	cJSON *m = cJSON_CreateObject();
	dr_json_add_str_or_null(m, "attemptId", p->job->attempt_id);
	for (cJSON *it = meta->child; it;) {
		cJSON *next = it->next;
		cJSON_AddItemToObject(m, it->string, cJSON_DetachItemViaPointer(meta, it));
		it = next;
	}
	cJSON_Delete(meta);
	cJSON_AddItemToObject(b, "metadata", m);
	post(p, PATH_PROGRESS, b);
}

static void agent_progress_now(struct dr_pipeline *p, const char *line)
{
	cJSON *meta = cJSON_CreateObject();
	cJSON_AddStringToObject(meta, "stream", "stdout");
	cJSON_AddStringToObject(meta, "executor", p->job->executor);
	send_progress(p, line, meta);
	p->last_progress_ms = uv_now(p->env.loop);
	p->progress_sent_once = true;
	p->progress_count++;
}

static void flush_progress(struct dr_pipeline *p)
{
	uv_timer_stop(&p->progress_timer);
	if (!p->pending_progress)
		return;
	char *line = p->pending_progress;
	p->pending_progress = NULL;
	agent_progress_now(p, line);
	free(line);
}

static void on_progress_timer(uv_timer_t *t)
{
	flush_progress(t->data);
}

/* The first few go at once; then one per PROGRESS_GAP_MS, the latest line winning. */
static void agent_progress(struct dr_pipeline *p, char *line)
{
	uint64_t now = uv_now(p->env.loop);
	if (dr_supervise_replaying(p->follow)) {
		/* The previous runner reported these lines already: rebuild the adapter's state only. */
		free(line);
		return;
	}
	if (p->progress_count < PROGRESS_BURST && !p->pending_progress) {
		agent_progress_now(p, line);
		free(line);
		return;
	}
	if (!p->pending_progress && now - p->last_progress_ms >= PROGRESS_GAP_MS) {
		agent_progress_now(p, line);
		free(line);
		return;
	}
	free(p->pending_progress);
	p->pending_progress = line;
	if (!uv_is_active((uv_handle_t *)&p->progress_timer)) {
		uint64_t wait = p->last_progress_ms + PROGRESS_GAP_MS > now ? p->last_progress_ms + PROGRESS_GAP_MS - now : 0;
		uv_timer_start(&p->progress_timer, on_progress_timer, wait, 0);
	}
}

static cJSON *strs_json(char *const *v, size_t n, size_t max)
{
	cJSON *a = cJSON_CreateArray();
	for (size_t i = 0; i < n && i < max; i++) {
		char *c = dr_utf8_clean(v[i], strlen(v[i]));
		cJSON_AddItemToArray(a, cJSON_CreateString(c));
		free(c);
	}
	return a;
}

static cJSON *pr_json(const struct dr_pipeline *p)
{
	if (!p->have_pr)
		return cJSON_CreateNull();
	cJSON *o = cJSON_CreateObject();
	add_str(o, "url", p->pr.url);
	if (p->pr.number >= 0)
		cJSON_AddNumberToObject(o, "number", (double)p->pr.number);
	else
		cJSON_AddNullToObject(o, "number");
	add_str(o, "title", p->pr.title);
	add_str(o, "branchName", p->tree.branch);
	cJSON_AddBoolToObject(o, "draft", p->pr.draft);
	add_str(o, "repositorySlug", p->job->repository_slug);
	cJSON_AddBoolToObject(o, "pushed", true);
	return o;
}

static cJSON *commit_json(const struct dr_pipeline *p)
{
	if (!p->have_commit)
		return cJSON_CreateNull();
	cJSON *c = dr_ws_commit_json(&p->commit);
	/* Paths and names from git may hold any bytes: keep the JSON valid. */
	char *s = dr_json_print(c);
	char *clean = dr_utf8_clean(s, strlen(s));
	cJSON_Delete(c);
	c = cJSON_Parse(clean);
	free(s);
	free(clean);
	return c ? c : cJSON_CreateNull();
}

static cJSON *copy_or_null(const cJSON *v)
{
	return v ? cJSON_Duplicate(v, true) : cJSON_CreateNull();
}

static cJSON *sandbox_json(const struct dr_pipeline *p)
{
	return dr_sandbox_policy_json(p->sandbox, dr_sandbox_fell_back() ? dr_sandbox_note() : NULL);
}

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
static void make_sandbox(struct dr_pipeline *p)
{
	const struct dr_config *c = p->env.config;
	char **ours = dr_xcalloc(1, sizeof *ours);
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
		.runner_dirs = ours,
		.worktree = p->tree.worktree_path,
		.source = p->tree.source_path,
		.extra_writable = c->sandbox_writable,
		.extra_hidden = c->sandbox_hide,
	};
	p->sandbox = dr_sandbox_policy_free(p->sandbox);
	p->sandbox = dr_sandbox_policy_new(&in);
	dr_strv_free(ours);
}

/* The report metadata (delego-runner-protocol(7), RUNNING A JOB), as far as the job got. */
static cJSON *full_metadata(const struct dr_pipeline *p)
{
	const struct dr_job *j = p->job;
	const struct dr_ws_tree *t = p->have_tree ? &p->tree : NULL;
	cJSON *m = cJSON_CreateObject();
	dr_json_add_str_or_null(m, "attemptId", j->attempt_id);
	dr_json_add_str_or_null(m, "repositorySlug", j->repository_slug);
	add_str(m, "branchName", t ? t->branch : NULL);
	add_str(m, "repositoryPath", t ? t->worktree_path : NULL);
	add_str(m, "sourceRepositoryPath", t ? t->source_path : NULL);
	add_str(m, "worktreePath", t ? t->worktree_path : NULL);
	if (p->ran && !p->term_signal)
		cJSON_AddNumberToObject(m, "exitCode", p->exit_code);
	else
		cJSON_AddNullToObject(m, "exitCode");
	const char *sig = p->ran && p->term_signal ? signal_name(p->term_signal) : NULL;
	if (p->ran && p->term_signal && !sig) {
		char buf[16];
		snprintf(buf, sizeof(buf), "SIG%d", p->term_signal);
		cJSON_AddStringToObject(m, "signal", buf);
	} else {
		dr_json_add_str_or_null(m, "signal", sig);
	}
	cJSON_AddBoolToObject(m, "timedOut", p->timed_out);
	cJSON_AddBoolToObject(m, "cancelled", p->cancelled);
	cJSON_AddBoolToObject(m, "createCommit", p->env.config->create_commit);
	cJSON_AddItemToObject(m, "executionPreferences", copy_or_null(j->execution_preferences));
	cJSON_AddNumberToObject(m, "changedFileCount", (double)p->changes.count);
	cJSON_AddItemToObject(m, "changedFiles", strs_json(p->changes.paths, p->changes.kept, LIST_MAX));
	cJSON_AddNumberToObject(m, "remainingChangeCount", (double)p->remaining.count);
	cJSON_AddItemToObject(m, "remainingChanges", strs_json(p->remaining.paths, p->remaining.kept, LIST_MAX));
	cJSON_AddItemToObject(m, "commitMetadata", commit_json(p));
	cJSON_AddBoolToObject(m, "branchHasNewCommits", p->have_head && t && t->starting_sha &&
								strcmp(p->head_sha, t->starting_sha) != 0);
	add_str(m, "startingSha", t ? t->starting_sha : NULL);
	add_str(m, "headSha", p->have_head ? p->head_sha : NULL);
	cJSON_AddItemToObject(m, "prMetadata", pr_json(p));
	cJSON_AddItemToObject(m, "publishingPolicy", copy_or_null(j->publishing_policy));
	if (p->sandbox)
		cJSON_AddItemToObject(m, "sandbox", sandbox_json(p));
	cJSON_AddBoolToObject(m, "pushed", p->pushed);
	const char *session = p->adapter ? dr_adapter_session_id(p->adapter) : NULL;
	add_str(m, "sessionId", session);
	const char *reply = p->adapter ? dr_adapter_final_reply(p->adapter) : NULL;
	add_str(m, "assistantResponse", reply && !blank(reply) ? reply : NULL);
	add_str(m, "stdoutTail", p->stdout_tail ? p->stdout_tail : "");
	add_str(m, "stderrTail", p->stderr_tail ? p->stderr_tail : "");
	return m;
}

/* ---- summaries ---- */

/* "2 seconds", or "1500 ms" when not whole seconds. */
static void add_duration(struct dr_buf *b, uint64_t ms)
{
	if (ms % 1000)
		dr_buf_addf(b, "%llu ms", (unsigned long long)ms);
	else
		dr_buf_addf(b, "%llu second%s", (unsigned long long)(ms / 1000), ms == 1000 ? "" : "s");
}

static const char *adapter_text(const struct dr_pipeline *p, const char *(*get)(const struct dr_adapter *))
{
	const char *s = p->adapter ? get(p->adapter) : NULL;
	return s && !blank(s) ? s : NULL;
}

/* Appends a paragraph. */
static void add_part(struct dr_buf *b, const char *text)
{
	if (text)
		dr_buf_addf(b, "%s%s", b->len ? "\n\n" : "", text);
}

/* How the agent ended: its fatal error, its exit status, its reply and its last stderr lines. */
static void add_agent_failure(struct dr_buf *b, const struct dr_pipeline *p)
{
	const char *label = display_name(p->job->executor);
	const char *fatal = adapter_text(p, dr_adapter_fatal_error);
	const char *last_error = adapter_text(p, dr_adapter_last_error);
	add_part(b, fatal);
	char *status = NULL;
	if (p->term_signal && signal_name(p->term_signal))
		status = dr_xasprintf("%s was killed by %s (exit code %d).", label, signal_name(p->term_signal),
				      p->exit_code);
	else if (p->term_signal)
		status = dr_xasprintf("%s was killed by signal %d (exit code %d).", label, p->term_signal, p->exit_code);
	else if (p->exit_code || !fatal)
		status = dr_xasprintf("%s exited with status %d.", label, p->exit_code);
	add_part(b, status);
	free(status);
	char *reply = adapter_text(p, dr_adapter_final_reply) ? trimmed_copy(dr_adapter_final_reply(p->adapter)) : NULL;
	/* The fatal error often is the reply ("Claude reported an error: <reply>"). */
	if (reply && !(fatal && strstr(fatal, reply)))
		add_part(b, reply);
	else if (!reply && !fatal)
		add_part(b, last_error);
	char *lines = last_lines(p->stderr_tail);
	if (!lines && !reply && !fatal && !last_error)
		lines = last_lines(p->stdout_tail);
	if (!(lines && fatal && strstr(fatal, lines)))
		add_part(b, lines);
	free(reply);
	free(lines);
}

static char *failure_summary(const struct dr_pipeline *p)
{
	if (p->cancelled && !p->cancel_reason)
		return dr_xstrdup("Executor was cancelled by relay request.");
	if (p->cancelled)
		return dr_xasprintf("Executor was cancelled: %s.", p->cancel_reason);
	if (p->error)
		return dr_xstrdup(p->error);
	const char *label = display_name(p->job->executor);
	const char *last_error = adapter_text(p, dr_adapter_last_error);
	struct dr_buf b = DR_BUF_INIT(0);
	if (p->timed_out) {
		dr_buf_addstr(&b, "Executor timed out after ");
		add_duration(&b, p->env.config->executor_timeout_ms);
		dr_buf_addstr(&b, " and was terminated.");
		if (last_error) {
			char *said = dr_xasprintf("The last error %s reported: %s", label, last_error);
			add_part(&b, said);
			free(said);
		}
		return dr_buf_detach(&b, NULL);
	}
	if (p->stalled) {
		dr_buf_addf(&b, "%s reported only errors for ", label);
		add_duration(&b, p->env.config->agent_stall_timeout_ms);
		dr_buf_addf(&b, " and was stopped (--agent-stall-timeout-ms). The last error: %s\n\nCheck that this "
				"machine reaches the model's service (network, DNS, proxy, firewall) and that %s is "
				"logged in.",
			    last_error ? last_error : "(none)", label);
		return dr_buf_detach(&b, NULL);
	}
	add_agent_failure(&b, p);
	char *advice = dr_adapter_explain(p->adapter, p->stderr_tail, p->stdout_tail);
	add_part(&b, advice);
	free(advice);
	return dr_buf_detach(&b, NULL);
}

static char *success_summary(const struct dr_pipeline *p)
{
	const char *label = display_name(p->job->executor);
	bool new_commits = p->have_head && strcmp(p->head_sha, p->tree.starting_sha) != 0;
	if (p->changes.count == 0 && !new_commits)
		return dr_xasprintf("%s executor completed successfully with no repository changes.", label);
	if (p->have_pr)
		return dr_xasprintf("%s executor completed successfully and created pull request %s.", label,
				    p->pr.url);
	if (p->have_commit && p->job->auto_push)
		return dr_xasprintf("%s executor completed successfully and pushed %s (HEAD %s).", label,
				    p->tree.branch, p->commit.short_sha);
	if (p->have_commit)
		return dr_xasprintf("%s executor completed successfully with HEAD %s on %s; publishing is manual.",
				    label, p->commit.short_sha, p->tree.branch);
	return dr_xasprintf("%s executor completed successfully with %zu changed file(s); local commit creation is "
			    "disabled.",
			    label, p->changes.count);
}

/* ---- steps ---- */

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
		dr_debug("job %s: the relay asks to cancel", job_id(p));
		dr_pipeline_cancel(p, NULL);
	}
}

static void on_status_timer(uv_timer_t *t)
{
	struct dr_pipeline *p = t->data;
	if (p->status_call || !p->env.relay || !cancellable(p))
		return;
	cJSON *b = cJSON_CreateObject();
	cJSON_AddStringToObject(b, "jobId", job_id(p));
	struct dr_relay_call *call = NULL;
	if (dr_relay_post(p->env.relay, PATH_STATUS, b, STATUS_TIMEOUT_MS, on_status, p, &call) == 0)
		p->status_call = call;
}

static void on_stall_timer(uv_timer_t *t)
{
	struct dr_pipeline *p = t->data;
	if (!p->proc || p->state != PL_RUNNING)
		return;
	dr_debug("job %s: the agent reported only errors for %llu ms; stopping it", job_id(p),
		 (unsigned long long)p->env.config->agent_stall_timeout_ms);
	p->stalled = true;
	dr_proc_terminate(p->proc);
}

/* An error report without anything else: the clock runs until the agent shows other signs of life. */
static void watch_stall(struct dr_pipeline *p)
{
	uint64_t ms = p->env.config->agent_stall_timeout_ms;
	if (ms && !uv_is_active((uv_handle_t *)&p->stall_timer))
		uv_timer_start(&p->stall_timer, on_stall_timer, ms, 0);
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

void dr_pipeline_check_cancel(struct dr_pipeline *p)
{
	if (p)
		on_status_timer(&p->status_timer);
}

static void stop_agent(struct dr_pipeline *p)
{
	if (p->proc)
		dr_proc_terminate(p->proc);
	if (p->follow)
		dr_supervise_terminate(p->follow);
}

/*
 * The previous runner sent at most one report per line of the agent's
 * output plus a few of its own: the next seq goes above all of them.
 */
static void seed_seq(struct dr_pipeline *p)
{
	if (!p->adopt_dir || p->seq_seeded)
		return;
	p->seq_seeded = true;
	dr_outbox_note_seq(p->env.outbox, job_id(p), p->replayed + 16);
}

bool dr_pipeline_followable(const struct dr_pipeline *p)
{
	return p->state == PL_RUNNING && (p->follow || (p->proc && p->env.journal)) && !p->stopping_for_question &&
	       !p->cancelled;
}

static void on_agent_line(void *data, int fd, const char *line, size_t len, bool truncated)
{
	struct dr_pipeline *p = data;
	if (dr_supervise_replaying(p->follow))
		p->replayed++;
	else
		seed_seq(p);
	if (fd != 1) {
		if (dr_log_enabled(DR_LOG_DEBUG)) {
			/* Redact, then cut: the logger alone would see only the piece of a secret. */
			size_t n;
			char *red = dr_redact_dup(NULL, line, len, 0, &n);
			dr_debug("job %s: agent stderr: %.*s", job_id(p), (int)(n > 500 ? 500 : n), red);
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
		uv_timer_stop(&p->stall_timer);
	}
	if (progress)
		agent_progress(p, progress);
	if (!p->stopping_for_question && dr_adapter_should_stop(p->adapter)) {
		/* Everything needed to resume is known: the rest would be Claude's retries. */
		p->stopping_for_question = true;
		dr_debug("job %s: the agent asked a question; stopping it", job_id(p));
		stop_agent(p);
	}
}

static void on_agent_exit(void *data, const struct dr_proc_result *r)
{
	struct dr_pipeline *p = data;
	p->proc = NULL;
	p->follow = NULL;
	p->ran = true;
	seed_seq(p);
	p->exit_code = r->exit_code;
	p->term_signal = r->term_signal;
	p->timed_out = r->timed_out;
	uv_timer_stop(&p->stall_timer);
	p->stdout_tail = dr_utf8_clean(r->stdout_tail, r->stdout_len);
	p->stderr_tail = dr_utf8_clean(r->stderr_tail, r->stderr_len);
	flush_progress(p);
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

static void agent_started(struct dr_pipeline *p)
{
	/* Polled since the prepare step; an adopted job skipped that step. */
	uint64_t every = p->env.config->cancellation_poll_interval_ms;
	if (p->env.relay && every > 0 && !uv_is_active((uv_handle_t *)&p->status_timer))
		uv_timer_start(&p->status_timer, on_status_timer, every, every);
	if (p->cancelled) /* a cancel that came between the prepare and the spawn */
		stop_agent(p);
}

static void start_agent(struct dr_pipeline *p)
{
	const struct dr_job *j = p->job;
	const struct dr_exec_cmd *cmd = dr_config_exec_cmd(p->env.config, j->executor);
	p->adapter = dr_adapter_new(j->executor);
	if (!cmd || !cmd->command || !p->adapter) {
		fail_with(p, "This runner has no command for the %s executor.", j->executor);
		return;
	}
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
	if (!argv) {
		fail_with(p, "Unable to build the %s command line for this job.", display_name(j->executor));
		return;
	}
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
		.data = p,
		/* Its own cgroup where the runner has cgroups: cancel and timeout then reach its daemons too. */
		.cgroup = job_id(p),
		.sandbox = p->sandbox,
		/* A supervisor that keeps its output and status for a runner that restarts. */
		.supervise_dir = dr_journal_job_dir(p->env.journal, job_id(p)),
	};
	int r = dr_proc_spawn(p->env.loop, &o, &p->proc);
	free((char *)o.supervise_dir);
	dr_strv_free(argv);
	dr_strv_free(env);
	if (r == -ENOENT || r == -EACCES) {
		fail_with(p, "Cannot start the %s executor: %s %s. Install %s on this machine or set --%s-command "
			     "(DELEGO_%s_COMMAND) to its path.",
			  display_name(j->executor), cmd->command,
			  r == -ENOENT ? "was not found on PATH" : "is not executable",
			  !strcmp(j->executor, DR_EXECUTOR_CLAUDE) ? "Claude Code" : "the Codex CLI", j->executor,
			  !strcmp(j->executor, DR_EXECUTOR_CLAUDE) ? "CLAUDE" : "CODEX");
		return;
	}
	if (r < 0) {
		fail_with(p, "Cannot start the %s executor (%s): %s.", display_name(j->executor), cmd->command,
			  strerror(-r));
		return;
	}
	dr_debug("job %s: agent %s started, pid %d", job_id(p), cmd->command, dr_proc_pid(p->proc));
	/* A runner killed from here on leaves this group behind: the next start ends it. */
	cJSON *tree = cJSON_CreateObject();
	add_str(tree, "slug", p->tree.slug);
	add_str(tree, "sourcePath", p->tree.source_path);
	add_str(tree, "worktreePath", p->tree.worktree_path);
	add_str(tree, "branch", p->tree.branch);
	add_str(tree, "startingSha", p->tree.starting_sha);
	dr_journal_note_agent(p->env.journal, job_id(p), dr_proc_pid(p->proc), p->tree.worktree_path, tree);
	cJSON_Delete(tree);
	dr_journal_note(p->env.journal, job_id(p), "branchName", p->tree.branch);
	agent_started(p);
}

/* An adopted job: follow the agent through its supervisor's files (supervise.h). */
static void attach_agent(struct dr_pipeline *p)
{
	p->adapter = dr_adapter_new(p->job->executor);
	if (!p->adapter) {
		fail_with(p, "This runner has no adapter for the %s executor.", p->job->executor);
		return;
	}
	struct dr_supervise_opts o = {
		.loop = p->env.loop,
		.dir = p->adopt_dir,
		.pid = p->adopt_pid,
		.on_line = on_agent_line,
		.on_exit = on_agent_exit,
		.data = p,
	};
	dr_info("job %s: taking over the agent the previous run started (supervisor %d%s)", job_id(p), p->adopt_pid,
		p->adopt_pid ? "" : ", already gone");
	p->follow = dr_supervise_attach(&o);
	agent_started(p);
}

static void post_await(struct dr_pipeline *p)
{
	cJSON *b = report_base(p, true);
	add_str(b, "sessionId", dr_adapter_session_id(p->adapter));
	cJSON_AddItemToObject(b, "question", cJSON_Duplicate(dr_adapter_question(p->adapter), true));
	add_str(b, "worktreePath", p->tree.worktree_path);
	add_str(b, "branchName", p->tree.branch);
	dr_json_add_str_or_null(b, "attemptId", p->job->attempt_id);
	free(p->summary);
	p->summary = dr_xstrdup("Awaiting the user's answer to the agent's question.");
	post(p, PATH_AWAIT, b);
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
		dr_debug("job %s: cannot list the remaining changes: %s", job_id(p), err);
	enter_state(p, PL_REPORTING);
}

static void report(struct dr_pipeline *p)
{
	flush_progress(p);
	/* Workspace lifecycle: the job has ended, so its worktree no longer waits for an answer. */
	if (p->have_tree)
		dr_workspace_mark_awaiting(&p->tree, job_id(p), false);
	bool ok = p->success && !p->error && !p->cancelled && !p->invalid;
	cJSON *meta;
	if (p->invalid) {
		meta = cJSON_CreateObject();
		dr_json_add_str_or_null(meta, "attemptId", p->job->attempt_id);
		dr_json_add_str_or_null(meta, "repositorySlug", p->unparsed ? NULL : p->job->repository_slug);
	} else {
		meta = full_metadata(p);
	}
	free(p->summary);
	p->summary = p->invalid ? dr_xstrdup(p->invalid) : ok ? success_summary(p) : failure_summary(p);
	cJSON *b = report_base(p, true);
	add_str(b, "summary", p->summary);
	if (!ok)
		cJSON_AddBoolToObject(b, "cancelled", p->cancelled);
	cJSON_AddItemToObject(b, "metadata", meta);
	post(p, ok ? PATH_COMPLETE : PATH_FAIL, b);
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
	struct dr_ws_prepare_in in = {
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
	add_str(m, "repositoryPath", p->tree.worktree_path);
	add_str(m, "sourceRepositoryPath", p->tree.source_path);
	add_str(m, "worktreePath", p->tree.worktree_path);
	add_str(m, "branchName", p->tree.branch);
	if (p->tree.fetch_warning)
		add_str(m, "fetchWarning", p->tree.fetch_warning);
	make_sandbox(p);
	cJSON_AddItemToObject(m, "sandbox", sandbox_json(p));
	char *s = dr_xasprintf("Prepared local workspace for %s execution.", j->executor);
	send_progress(p, s, m);
	free(s);
}

static void enter_state(struct dr_pipeline *p, enum pl_state next)
{
	enum pl_state prev = p->state;
	p->state = next;
	dr_info("job %s: %s -> %s", job_id(p), pl_strstate[prev], pl_strstate[next]);

	switch (next) {
	case PL_NEW:
		break;
	case PL_VALIDATING:
		validate(p);
		break;
	case PL_PREPARING: {
		/* jobs/status is polled from here to the report: a cancel reaches the git steps too. */
		uint64_t every = p->env.config->cancellation_poll_interval_ms;
		if (p->env.relay && every > 0)
			uv_timer_start(&p->status_timer, on_status_timer, every, every);
		check_space_then_prepare(p);
		break;
	}
	case PL_RUNNING:
		if (p->cancelled) {
			enter_state(p, PL_REPORTING);
			break;
		}
		if (p->adopt_dir) {
			attach_agent(p);
			break;
		}
		prepared_progress(p);
		start_agent(p);
		break;
	case PL_AWAITING:
		uv_timer_stop(&p->status_timer);
		/* Workspace lifecycle: gc keeps the worktree while this marker says the job waits. */
		if (dr_workspace_mark_awaiting(&p->tree, job_id(p), true) < 0)
			dr_warn("job %s: cannot write the awaiting marker beside %s; workspace gc may remove the "
				"worktree after --worktree-retention-days",
				job_id(p), p->tree.worktree_path);
		post_await(p);
		enter_state(p, PL_CLOSING);
		break;
	case PL_COLLECTING:
		ws_started(p, dr_workspace_changes(&p->ws, &p->tree, &p->changes, on_changes, p));
		break;
	case PL_COMMITTING:
		p->commit_in = (struct dr_ws_commit_in){
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
		add_str(m, "branchName", p->tree.branch);
		dr_json_add_str_or_null(m, "repositorySlug", p->job->repository_slug);
		cJSON_AddItemToObject(m, "publishingPolicy", copy_or_null(p->job->publishing_policy));
		send_progress(p, "Publishing branch with local git credentials.", m);
		ws_started(p, dr_workspace_push(&p->ws, &p->tree, on_pushed, p));
		break;
	}
	case PL_OPENING_PR:
		p->pr_title = dr_gitparse_commit_subject(p->job->issue_identifier, p->job->issue_title);
		p->pr_body = dr_gitparse_pr_body(p->job->issue_identifier, p->job->issue_url, p->commit.short_sha);
		p->pr_in = (struct dr_ws_pr_in){ .title = p->pr_title, .body = p->pr_body, .draft = p->job->pr_draft };
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
	p->ws = (struct dr_ws_ctx){
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
	/* Handed over in place: the previous image wrote down the exact seq. */
	const char *seq = dr_json_str(entry, "seq");
	if (seq) {
		dr_outbox_note_seq(env->outbox, dr_json_str(entry, "id"), strtoll(seq, NULL, 10));
		p->seq_seeded = true;
	}
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
	dr_ws_step_cancel(p->ws_step);
	stop_agent(p);
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
	dr_ws_tree_release(&p->tree);
	dr_adapter_free(p->adapter);
	free(p->stdout_tail);
	free(p->stderr_tail);
	free(p->cancel_reason);
	free(p->adopt_dir);
	free(p->pending_progress);
	free(p->error_shown);
	dr_ws_changes_release(&p->changes);
	dr_ws_changes_release(&p->remaining);
	dr_ws_commit_release(&p->commit);
	free(p->pr_title);
	free(p->pr_body);
	dr_sandbox_policy_free(p->sandbox);
	dr_ws_pr_release(&p->pr);
	free(p->error);
	free(p->summary);
	free(p);
}
