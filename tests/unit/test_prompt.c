#include "delego/prompt.h"
#include "delego/json.h"
#include "delego/xalloc.h"
#include "check_main.h"

#include <stdio.h>
#include <string.h>

static struct dr_job *job_from(const char *text)
{
	cJSON *in = NULL;
	ck_assert_int_eq(dr_json_parse(text, strlen(text), 4 << 20, &in), 0);
	struct dr_job *job;
	char err[256];
	ck_assert_msg(dr_job_parse(in, &job, err, sizeof err) == 0, "%s", err);
	cJSON_Delete(in);
	return job;
}

static const char sample[] =
	"{\"id\":\"Abc12345xyz\",\"organizationId\":\"o\",\"repositorySlug\":\"acme/w\","
	"\"executionPreferences\":{\"executor\":\"codex\",\"model\":\"o3\",\"thinking\":\"low\"},"
	"\"publishingPolicy\":{\"autoPush\":true,\"autoCreatePr\":false},"
	"\"linearIssue\":{\"identifier\":\"ENG-7\",\"title\":\"Make\\n it   work\",\"url\":\"https://linear.app/acme/issue/ENG-7\"},"
	"\"promptSummary\":\"Do the thing.\",\"promptContext\":{\"comments\":[\"x\"],\"n\":1}}";

START_TEST(codex_prompt_exact)
{
	struct dr_job *job = job_from(sample);
	char *p = dr_prompt_build(job, "codex", false);
	ck_assert_str_eq(p,
			 "HOW THIS RUN WORKS:\n"
			 "You are running unattended through the Delego runner and nobody can answer questions during "
			 "the run. Make reasonable assumptions, say which ones in your final message, and finish the "
			 "task.\n"
			 "\n"
			 "Linear issue: ENG-7 - Make it work\n"
			 "URL: https://linear.app/acme/issue/ENG-7\n"
			 "Branch: delego/eng-7-abc12345 (already checked out in your working directory)\n"
			 "Publishing: stay on the branch that is checked out. When you exit, the runner commits and "
			 "pushes your work; it does not open a pull request. If you open a pull request yourself, start "
			 "its title with \"ENG-7:\".\n"
			 "\n"
			 "Requested executor: codex\n"
			 "Requested model: o3\n"
			 "Thinking level: low. Take the direct route and explore only as much as the task needs.\n"
			 "\n"
			 "Task:\n"
			 "Do the thing.\n"
			 "\n"
			 "Prompt context (JSON):\n"
			 "{\n"
			 "\t\"comments\":\t[\"x\"],\n"
			 "\t\"n\":\t1\n"
			 "}\n");
	ck_assert_ptr_null(strstr(p, "AskUserQuestion"));
	free(p);
	dr_job_free(job);
}
END_TEST

START_TEST(claude_prompt_asks_through_the_tool)
{
	struct dr_job *job = job_from(sample);
	char *p = dr_prompt_build(job, "claude", true);
	/* The rules come before the task. */
	ck_assert(strncmp(p, "HOW THIS RUN WORKS (this overrides CLAUDE.md", 44) == 0);
	const char *ask = strstr(p, "To ask the user anything, call the AskUserQuestion tool.");
	const char *task = strstr(p, "\nTask:\nDo the thing.\n");
	ck_assert(ask && task && ask < task);
	ck_assert_ptr_nonnull(strstr(p, "Never ask a question in plain text"));
	ck_assert_ptr_nonnull(strstr(p, "stop at once. Do not retry"));
	ck_assert_ptr_nonnull(strstr(p, "\nRequested executor: claude\n"));
	/* The runner opens the pull request: the agent must not, nor switch branches. */
	ck_assert_ptr_nonnull(strstr(p, "Do NOT open a pull request yourself (no `gh pr create`"));
	ck_assert_ptr_nonnull(strstr(p, "do NOT create or switch branches"));
	ck_assert_ptr_nonnull(strstr(p, "the runner commits your changes, pushes the branch and opens the pull request."));
	ck_assert_ptr_null(strstr(p, "start its title with"));
	free(p);
	dr_job_free(job);
}
END_TEST

START_TEST(sparse_job)
{
	struct dr_job *job = job_from("{\"id\":\"j1\",\"organizationId\":\"o\",\"promptContext\":\"just text\"}");
	char *p = dr_prompt_build(job, "claude", false);
	ck_assert_ptr_null(strstr(p, "Linear issue:"));
	ck_assert_ptr_null(strstr(p, "URL:"));
	ck_assert_ptr_null(strstr(p, "Requested model:"));
	ck_assert_ptr_null(strstr(p, "Thinking level:"));
	ck_assert_ptr_nonnull(strstr(p, "Branch: delego/linear-issue-j1 "));
	ck_assert_ptr_nonnull(strstr(p, "runner keeps your work on this branch for review; it neither pushes it nor "
				       "opens a pull request.\n"));
	ck_assert_ptr_nonnull(strstr(p, "\nTask:\n(no summary given; see the issue and the context below)\n"));
	ck_assert_ptr_nonnull(strstr(p, "\nPrompt context (JSON):\n\"just text\"\n"));
	free(p);
	dr_job_free(job);

	job = job_from("{\"id\":\"j1\",\"organizationId\":\"o\",\"linearIssue\":{\"title\":\"Only a title\"},"
		       "\"executionPreferences\":{\"thinking\":\"HIGH\"}}");
	p = dr_prompt_build(job, NULL, false);
	ck_assert_ptr_nonnull(strstr(p, "\nLinear issue: Only a title\n"));
	ck_assert_ptr_nonnull(strstr(p, "\nRequested executor: default\n"));
	ck_assert_ptr_nonnull(strstr(p, "\nThinking level: high. Take extra care over validation"));
	ck_assert_ptr_null(strstr(p, "Prompt context"));
	free(p);
	dr_job_free(job);
}
END_TEST

/* A job at every cap still gives a prompt that fits in one argv element. */
START_TEST(prompt_fits_in_an_argument)
{
	size_t big = DR_JOB_STRING_MAX, ctx = DR_JOB_CONTEXT_MAX - 4;
	char *text = dr_xmalloc(4 * big + ctx + 1024);
	char *w = text;
	w += sprintf(w, "{\"id\":\"j\",\"organizationId\":\"o\",\"linearIssue\":{\"identifier\":\"");
	memset(w, 'I', big);
	w += big;
	w += sprintf(w, "\",\"title\":\"");
	memset(w, 'T', big);
	w += big;
	w += sprintf(w, "\",\"url\":\"");
	memset(w, 'U', big);
	w += big;
	w += sprintf(w, "\"},\"promptSummary\":\"");
	memset(w, 'S', big);
	w += big;
	w += sprintf(w, "\",\"promptContext\":[\"");
	memset(w, 'C', ctx);
	w += ctx;
	strcpy(w, "\"]}");
	struct dr_job *job = job_from(text);
	free(text);
	char *p = dr_prompt_build(job, "claude", true);
	ck_assert_uint_le(strlen(p), DR_PROMPT_MAX);
	ck_assert_ptr_nonnull(strstr(p, "\n[task summary cut: 16384 bytes left out]\n"));
	ck_assert_ptr_nonnull(strstr(p, "\n[promptContext cut: "));
	ck_assert_ptr_nonnull(strstr(p, " of 262144 bytes left out]\n"));
	ck_assert_ptr_nonnull(strstr(p, "\nBranch: delego/iiii"));
	free(p);
	dr_job_free(job);
}
END_TEST

/* Pretty JSON when it fits, else the compact form rather than a cut. */
START_TEST(context_prefers_pretty_then_compact)
{
	/* 13000 small arrays: 104 KB compact, 143 KB once printed with spaces. */
	struct dr_buf_like {
		char *s;
		size_t n;
	} b = { dr_xmalloc(1 << 20), 0 };
	b.n += (size_t)sprintf(b.s, "{\"id\":\"j\",\"organizationId\":\"o\",\"promptContext\":{\"a\":[");
	for (int i = 0; i < 13000; i++)
		b.n += (size_t)sprintf(b.s + b.n, "%s[1,2,3]", i ? "," : "");
	strcpy(b.s + b.n, "]}}");
	struct dr_job *job = job_from(b.s);
	free(b.s);
	ck_assert_uint_lt(strlen(job->prompt_context_json), DR_PROMPT_MAX - 8192);
	char *p = dr_prompt_build(job, "codex", false);
	ck_assert_ptr_nonnull(strstr(p, job->prompt_context_json));
	ck_assert_ptr_null(strstr(p, "promptContext cut"));
	ck_assert_uint_le(strlen(p), DR_PROMPT_MAX);
	free(p);
	dr_job_free(job);
}
END_TEST

static Suite *prompt_suite(void)
{
	Suite *s = suite_create("prompt");
	TCase *tc = tcase_create("core");
	tcase_add_test(tc, codex_prompt_exact);
	tcase_add_test(tc, claude_prompt_asks_through_the_tool);
	tcase_add_test(tc, sparse_job);
	tcase_add_test(tc, prompt_fits_in_an_argument);
	tcase_add_test(tc, context_prefers_pretty_then_compact);
	suite_add_tcase(s, tc);
	return s;
}

DR_CHECK_MAIN(prompt_suite)
