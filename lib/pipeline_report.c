/*
 * pipeline_report: what a job tells the relay: progress (rate-limited),
 * the report metadata, and the summaries of a success or a failure.
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

const char *dr__pipeline_display_name(const char *executor)
{
	if (executor && !strcmp(executor, DR_EXECUTOR_CLAUDE))
		return "Claude";
	if (executor && !strcmp(executor, DR_EXECUTOR_CODEX))
		return "Codex";
	return "Agent";
}

/* ---- reports ---- */

const char *dr__pipeline_job_id(const struct dr_pipeline *p)
{
	return p->job->id;
}

void dr__pipeline_add_str(cJSON *o, const char *key, const char *s)
{
	if (!s) {
		cJSON_AddNullToObject(o, key);
		return;
	}
	char *c = dr_utf8_clean(s, strlen(s));
	cJSON_AddStringToObject(o, key, c);
	free(c);
}

cJSON *dr__pipeline_report_base(const struct dr_pipeline *p, bool with_session)
{
	cJSON *b = cJSON_CreateObject();
	cJSON_AddStringToObject(b, "jobId", dr__pipeline_job_id(p));
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

void dr__pipeline_post(struct dr_pipeline *p, const char *path, cJSON *body)
{
	redact_strings(body->child);
	int r = dr_outbox_post(p->env.outbox, dr__pipeline_job_id(p), path, body);
	if (r < 0)
		dr_log_debug("job %s: report to %s not queued: %s", dr__pipeline_job_id(p), path, strerror(-r));
}

void dr__pipeline_send_progress(struct dr_pipeline *p, const char *summary, cJSON *meta)
{
	cJSON *b = dr__pipeline_report_base(p, false);
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
	dr__pipeline_post(p, PATH_PROGRESS, b);
}

static void agent_progress_now(struct dr_pipeline *p, const char *line)
{
	cJSON *meta = cJSON_CreateObject();
	cJSON_AddStringToObject(meta, "stream", "stdout");
	cJSON_AddStringToObject(meta, "executor", p->job->executor);
	dr__pipeline_send_progress(p, line, meta);
	p->last_progress_ms = uv_now(p->env.loop);
	p->progress_sent_once = true;
	p->progress_count++;
}

void dr__pipeline_flush_progress(struct dr_pipeline *p)
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
	dr__pipeline_flush_progress(t->data);
}

/* The first few go at once; then one per PROGRESS_GAP_MS, the latest line winning. */
void dr__pipeline_agent_progress(struct dr_pipeline *p, char *line)
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
	dr__pipeline_add_str(o, "url", p->pr.url);
	if (p->pr.number >= 0)
		cJSON_AddNumberToObject(o, "number", (double)p->pr.number);
	else
		cJSON_AddNullToObject(o, "number");
	dr__pipeline_add_str(o, "title", p->pr.title);
	dr__pipeline_add_str(o, "branchName", p->tree.branch);
	cJSON_AddBoolToObject(o, "draft", p->pr.draft);
	dr__pipeline_add_str(o, "repositorySlug", p->job->repository_slug);
	cJSON_AddBoolToObject(o, "pushed", true);
	return o;
}

static cJSON *commit_json(const struct dr_pipeline *p)
{
	if (!p->have_commit)
		return cJSON_CreateNull();
	cJSON *c = dr_gitparse_commit_json(&p->commit);
	/* Paths and names from git may hold any bytes: keep the JSON valid. */
	char *s = dr_json_print(c);
	char *clean = dr_utf8_clean(s, strlen(s));
	cJSON_Delete(c);
	c = cJSON_Parse(clean);
	free(s);
	free(clean);
	return c ? c : cJSON_CreateNull();
}

cJSON *dr__pipeline_copy_or_null(const cJSON *v)
{
	return v ? cJSON_Duplicate(v, true) : cJSON_CreateNull();
}

cJSON *dr__pipeline_sandbox_json(const struct dr_pipeline *p)
{
	return dr_sandbox_policy_json(p->sandbox, dr_sandbox_fell_back() ? dr_sandbox_note() : NULL);
}
/* The report metadata (delego-runner-protocol(7), RUNNING A JOB), as far as the job got. */
cJSON *dr__pipeline_full_metadata(const struct dr_pipeline *p)
{
	const struct dr_job *j = p->job;
	const struct dr_workspace_tree *t = p->have_tree ? &p->tree : NULL;
	cJSON *m = cJSON_CreateObject();
	dr_json_add_str_or_null(m, "attemptId", j->attempt_id);
	dr_json_add_str_or_null(m, "repositorySlug", j->repository_slug);
	dr__pipeline_add_str(m, "branchName", t ? t->branch : NULL);
	dr__pipeline_add_str(m, "repositoryPath", t ? t->worktree_path : NULL);
	dr__pipeline_add_str(m, "sourceRepositoryPath", t ? t->source_path : NULL);
	dr__pipeline_add_str(m, "worktreePath", t ? t->worktree_path : NULL);
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
	/* Ours (the Node runner has no stall check): ended by --agent-stall-timeout-ms. */
	cJSON_AddBoolToObject(m, "stalled", p->stalled);
	cJSON_AddBoolToObject(m, "cancelled", p->cancelled);
	cJSON_AddBoolToObject(m, "createCommit", p->env.config->create_commit);
	cJSON_AddItemToObject(m, "executionPreferences", dr__pipeline_copy_or_null(j->execution_preferences));
	cJSON_AddNumberToObject(m, "changedFileCount", (double)p->changes.count);
	cJSON_AddItemToObject(m, "changedFiles", strs_json(p->changes.paths, p->changes.kept, LIST_MAX));
	cJSON_AddNumberToObject(m, "remainingChangeCount", (double)p->remaining.count);
	cJSON_AddItemToObject(m, "remainingChanges", strs_json(p->remaining.paths, p->remaining.kept, LIST_MAX));
	cJSON_AddItemToObject(m, "commitMetadata", commit_json(p));
	cJSON_AddBoolToObject(m, "branchHasNewCommits", p->have_head && t && t->starting_sha &&
								strcmp(p->head_sha, t->starting_sha) != 0);
	dr__pipeline_add_str(m, "startingSha", t ? t->starting_sha : NULL);
	dr__pipeline_add_str(m, "headSha", p->have_head ? p->head_sha : NULL);
	cJSON_AddItemToObject(m, "prMetadata", pr_json(p));
	cJSON_AddItemToObject(m, "publishingPolicy", dr__pipeline_copy_or_null(j->publishing_policy));
	if (p->sandbox)
		cJSON_AddItemToObject(m, "sandbox", dr__pipeline_sandbox_json(p));
	cJSON_AddBoolToObject(m, "pushed", p->pushed);
	const char *session = p->adapter ? dr_adapter_session_id(p->adapter) : NULL;
	dr__pipeline_add_str(m, "sessionId", session);
	const char *reply = p->adapter ? dr_adapter_final_reply(p->adapter) : NULL;
	dr__pipeline_add_str(m, "assistantResponse", reply && !blank(reply) ? reply : NULL);
	dr__pipeline_add_str(m, "stdoutTail", p->stdout_tail ? p->stdout_tail : "");
	dr__pipeline_add_str(m, "stderrTail", p->stderr_tail ? p->stderr_tail : "");
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
	const char *label = dr__pipeline_display_name(p->job->executor);
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

char *dr__pipeline_failure_summary(const struct dr_pipeline *p)
{
	if (p->cancelled && !p->cancel_reason)
		return dr_xstrdup("Executor was cancelled by relay request.");
	if (p->cancelled)
		return dr_xasprintf("Executor was cancelled: %s.", p->cancel_reason);
	if (p->error)
		return dr_xstrdup(p->error);
	const char *label = dr__pipeline_display_name(p->job->executor);
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

char *dr__pipeline_success_summary(const struct dr_pipeline *p)
{
	const char *label = dr__pipeline_display_name(p->job->executor);
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
