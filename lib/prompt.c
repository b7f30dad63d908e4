/* prompt: the text handed to the agent for a job. */
#include "delego/prompt.h"
#include "delego/buf.h"
#include "delego/utf8.h"
#include "delego/xalloc.h"

#include <cjson/cJSON.h>
#include <stdlib.h>
#include <string.h>

#define TITLE_MAX 1024
#define URL_MAX 2048
#define IDENT_MAX 256

static const char claude_mode[] =
	"HOW THIS RUN WORKS (this overrides CLAUDE.md, AGENTS.md and any skill instructions):\n"
	"You are running unattended through the Delego runner. A person follows this task in Linear, but they "
	"cannot answer anything you write as plain text: a question in your reply ends the job, and nobody can "
	"answer it.\n"
	"- To ask the user anything, call the AskUserQuestion tool. Give options for a choice between "
	"alternatives; leave them out for an open question or a proposal, and put your full markdown in the "
	"question field.\n"
	"- Never ask a question in plain text, and do not invoke skills (brainstorming, TDD, feature-dev and the "
	"like): they talk to the user in plain text, which does not work here.\n"
	"- The AskUserQuestion call will come back as an error (\"dismissed\", is_error: true). That is expected: "
	"stop at once. Do not retry, do not repeat the question as text, do no other work. The runner passes "
	"your question to the user and resumes this session with their answer.\n";

static const char codex_mode[] =
	"HOW THIS RUN WORKS:\n"
	"You are running unattended through the Delego runner and nobody can answer questions during the run. "
	"Make reasonable assumptions, say which ones in your final message, and finish the task.\n";

/* Appends at most max bytes of s, cut on a UTF-8 character boundary; returns the bytes left out. */
static size_t add_capped(struct dr_buf *b, const char *s, size_t max)
{
	size_t n = strlen(s);
	if (n <= max) {
		dr_buf_add(b, s, n);
		return 0;
	}
	size_t keep = dr_utf8_boundary(s, max);
	dr_buf_add(b, s, keep);
	return n - keep;
}

/* Appends s on one line: runs of whitespace (newlines included) become one space. */
static void add_folded(struct dr_buf *b, const char *s, size_t max)
{
	struct dr_buf tmp = DR_BUF_INIT(0);
	bool space = false;
	for (; *s; s++) {
		if (*s == ' ' || *s == '\t' || *s == '\n' || *s == '\r') {
			space = tmp.len > 0;
			continue;
		}
		if (space)
			dr_buf_addch(&tmp, ' ');
		space = false;
		dr_buf_addch(&tmp, *s);
	}
	if (add_capped(b, tmp.buf, max))
		dr_buf_addstr(b, "\xe2\x80\xa6");
	dr_buf_release(&tmp);
}

static const char *thinking_line(const char *thinking)
{
	if (!thinking)
		return NULL;
	if (strcmp(thinking, "low") == 0)
		return "Thinking level: low. Take the direct route and explore only as much as the task needs.";
	if (strcmp(thinking, "medium") == 0)
		return "Thinking level: medium. Balance speed with enough reasoning to check that the change works.";
	if (strcmp(thinking, "high") == 0)
		return "Thinking level: high. Take extra care over validation, edge cases and correctness before you "
		       "finish.";
	return NULL;
}

static void add_issue(struct dr_buf *b, const struct dr_job *job)
{
	const char *id = job->issue_identifier && *job->issue_identifier ? job->issue_identifier : NULL;
	const char *title = job->issue_title && *job->issue_title ? job->issue_title : NULL;
	if (id || title) {
		dr_buf_addstr(b, "Linear issue: ");
		if (id)
			add_folded(b, id, IDENT_MAX);
		if (id && title)
			dr_buf_addstr(b, " - ");
		if (title)
			add_folded(b, title, TITLE_MAX);
		dr_buf_addch(b, '\n');
	}
	if (job->issue_url && *job->issue_url) {
		dr_buf_addstr(b, "URL: ");
		add_folded(b, job->issue_url, URL_MAX);
		dr_buf_addch(b, '\n');
	}
	char *branch = dr_job_branch_name(job);
	dr_buf_addf(b, "Branch: %s (already checked out in your working directory)\n", branch);
	free(branch);
}

static void add_publishing(struct dr_buf *b, const struct dr_job *job, bool runner_opens_pr)
{
	if (runner_opens_pr) {
		dr_buf_addstr(b, "Publishing: leave your work on the branch that is checked out. Do NOT open a pull "
				 "request yourself (no `gh pr create` or anything like it), and do NOT create or switch "
				 "branches (no `git checkout -b`, `git switch` or `git branch`). When you exit, the runner "
				 "commits your changes, pushes the branch and opens the pull request.\n");
		return;
	}
	if (job->auto_push)
		dr_buf_addstr(b, "Publishing: stay on the branch that is checked out. When you exit, the runner commits "
				 "and pushes your work; it does not open a pull request.");
	else
		dr_buf_addstr(b, "Publishing: stay on the branch that is checked out. When you exit, the runner keeps "
				 "your work on this branch for review; it neither pushes it nor opens a pull request.");
	if (job->issue_identifier && *job->issue_identifier) {
		dr_buf_addstr(b, " If you open a pull request yourself, start its title with \"");
		add_folded(b, job->issue_identifier, IDENT_MAX);
		dr_buf_addstr(b, ":\".");
	}
	dr_buf_addch(b, '\n');
}

/* promptContext, pretty-printed when that fits in room, else compact, else cut with a note. */
static void add_context(struct dr_buf *b, const char *json, size_t room)
{
	static const char note[] = "\n[promptContext cut: %zu of %zu bytes left out]\n";
	cJSON *ctx = cJSON_Parse(json);
	char *pretty = ctx ? cJSON_Print(ctx) : NULL;
	cJSON_Delete(ctx);
	if (pretty && strlen(pretty) + 1 <= room) {
		dr_buf_addstr(b, pretty);
		dr_buf_addch(b, '\n');
		free(pretty);
		return;
	}
	free(pretty);
	size_t n = strlen(json);
	if (n + 1 <= room) {
		dr_buf_addstr(b, json);
		dr_buf_addch(b, '\n');
		return;
	}
	size_t keep = room > sizeof note + 40 ? room - sizeof note - 40 : 0;
	size_t left = add_capped(b, json, keep);
	dr_buf_addf(b, note, left, n);
}

char *dr_prompt_build(const struct dr_job *job, const char *executor, bool runner_opens_pr)
{
	bool claude = executor && strcmp(executor, "claude") == 0;
	struct dr_buf b = DR_BUF_INIT(0);

	/* The operating rules come first: placed after the task, agents have
	 * already settled on how to work and ignore them. */
	dr_buf_addstr(&b, claude ? claude_mode : codex_mode);
	dr_buf_addch(&b, '\n');

	add_issue(&b, job);
	add_publishing(&b, job, runner_opens_pr);
	dr_buf_addch(&b, '\n');

	dr_buf_addf(&b, "Requested executor: %s\n", executor ? executor : "default");
	if (job->model)
		dr_buf_addf(&b, "Requested model: %s\n", job->model);
	const char *thinking = thinking_line(job->thinking);
	if (thinking)
		dr_buf_addf(&b, "%s\n", thinking);

	dr_buf_addstr(&b, "\nTask:\n");
	if (job->prompt_summary && *job->prompt_summary) {
		size_t left = add_capped(&b, job->prompt_summary, DR_PROMPT_SUMMARY_MAX);
		if (left)
			dr_buf_addf(&b, "\n[task summary cut: %zu bytes left out]", left);
		dr_buf_addch(&b, '\n');
	} else {
		dr_buf_addstr(&b, "(no summary given; see the issue and the context below)\n");
	}

	if (job->prompt_context_json) {
		dr_buf_addstr(&b, "\nPrompt context (JSON):\n");
		add_context(&b, job->prompt_context_json, DR_PROMPT_MAX > b.len ? DR_PROMPT_MAX - b.len : 0);
	}
	return dr_buf_detach(&b, NULL);
}
