#include "delego/job.h"
#include "delego/json.h"
#include "delego/xalloc.h"
#include "check_main.h"

#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>

#define JOBS_DIR "tests/fixtures/jobs"

static cJSON *parse(const char *text)
{
	cJSON *j = NULL;
	ck_assert_int_eq(dr_json_parse(text, strlen(text), 4 << 20, &j), 0);
	return j;
}

static char *slurp(const char *path)
{
	FILE *f = fopen(path, "rb");
	ck_assert_msg(f != NULL, "cannot open %s", path);
	char *buf = dr_xmalloc(1 << 20);
	size_t n = fread(buf, 1, (1 << 20) - 1, f);
	buf[n] = '\0';
	fclose(f);
	return buf;
}

static const char full_job[] =
	"{\"id\":\"JOB_0123abcdEF\",\"organizationId\":\"org_1\",\"agentSessionId\":\"as_1\",\"attemptId\":\"at_1\","
	"\"repositorySlug\":\"acme/widgets.js\","
	"\"executionPreferences\":{\"executor\":\"codex\",\"model\":\"gpt-5.1-codex\",\"thinking\":\" High \"},"
	"\"requestPayload\":{\"executionPreferences\":{\"preferences\":{\"executor\":\"claude\",\"model\":\"opus\"}}},"
	"\"publishingPolicy\":{\"autoPush\":true,\"autoCreatePr\":true,\"prDraft\":true},"
	"\"linearIssue\":{\"identifier\":\"ENG-42\",\"title\":\"Fix the thing\",\"url\":\"https://linear.app/x/ENG-42\"},"
	"\"promptSummary\":\"Please fix it.\",\"promptContext\":{\"comments\":[\"a\", 1, null]},"
	"\"resumeContext\":{\"claudeSessionId\":\"2ce8ad80-5f70-4591-bc07-fec1e1b706ec\",\"userReply\":\"Option B\"}}";

START_TEST(full_job_parses)
{
	cJSON *in = parse(full_job);
	struct dr_job *job;
	char err[256];
	ck_assert_int_eq(dr_job_parse(in, &job, err, sizeof err), 0);
	ck_assert_str_eq(err, "");
	ck_assert_str_eq(job->id, "JOB_0123abcdEF");
	ck_assert_str_eq(job->organization_id, "org_1");
	ck_assert_str_eq(job->agent_session_id, "as_1");
	ck_assert_str_eq(job->attempt_id, "at_1");
	ck_assert_str_eq(job->repository_slug, "acme/widgets.js");
	ck_assert_str_eq(job->owner, "acme");
	ck_assert_str_eq(job->repo, "widgets.js");
	ck_assert_str_eq(job->executor, "codex");
	ck_assert_str_eq(job->model, "gpt-5.1-codex");
	ck_assert_str_eq(job->thinking, "high");
	ck_assert(job->auto_push && job->auto_create_pr && job->pr_draft);
	ck_assert_str_eq(job->issue_identifier, "ENG-42");
	ck_assert_str_eq(job->issue_title, "Fix the thing");
	ck_assert_str_eq(job->issue_url, "https://linear.app/x/ENG-42");
	ck_assert_str_eq(job->prompt_summary, "Please fix it.");
	ck_assert_str_eq(job->prompt_context_json, "{\"comments\":[\"a\",1,null]}");
	ck_assert_str_eq(job->resume_session_id, "2ce8ad80-5f70-4591-bc07-fec1e1b706ec");
	ck_assert_str_eq(job->resume_user_reply, "Option B");
	char *s = dr_json_print(job->execution_preferences);
	ck_assert_str_eq(s, "{\"executor\":\"codex\",\"model\":\"gpt-5.1-codex\",\"thinking\":\"high\"}");
	free(s);
	s = dr_json_print(job->publishing_policy);
	ck_assert_str_eq(s, "{\"autoPush\":true,\"autoCreatePr\":true,\"prDraft\":true}");
	free(s);
	s = dr_job_branch_name(job);
	ck_assert_str_eq(s, "delego/eng-42-job_0123");
	free(s);
	dr_job_free(job);
	cJSON_Delete(in);
}
END_TEST

START_TEST(minimal_job_has_defaults)
{
	cJSON *in = parse("{\"id\":\"j1\",\"organizationId\":\"o\"}");
	struct dr_job *job;
	char err[256];
	ck_assert_int_eq(dr_job_parse(in, &job, err, sizeof err), 0);
	ck_assert_ptr_null(job->repository_slug);
	ck_assert_ptr_null(job->owner);
	ck_assert_ptr_null(job->executor);
	ck_assert_ptr_null(job->model);
	ck_assert_ptr_null(job->thinking);
	ck_assert(!job->auto_push && !job->auto_create_pr && !job->pr_draft);
	ck_assert_ptr_null(job->agent_session_id);
	ck_assert_ptr_null(job->prompt_context_json);
	ck_assert_ptr_null(job->resume_session_id);
	ck_assert_ptr_null(job->resume_user_reply);
	char *s = dr_json_print(job->execution_preferences);
	ck_assert_str_eq(s, "{\"executor\":null,\"model\":null,\"thinking\":null}");
	free(s);
	s = dr_json_print(job->publishing_policy);
	ck_assert_str_eq(s, "{\"autoPush\":false,\"autoCreatePr\":false,\"prDraft\":false}");
	free(s);
	s = dr_job_branch_name(job);
	ck_assert_str_eq(s, "delego/linear-issue-j1");
	free(s);
	dr_job_default_executor(job, "codex");
	ck_assert_str_eq(job->executor, "codex");
	s = dr_json_print(job->execution_preferences);
	ck_assert_str_eq(s, "{\"model\":null,\"thinking\":null,\"executor\":\"codex\"}");
	free(s);
	dr_job_default_executor(job, "claude"); /* the job's own choice stays */
	ck_assert_str_eq(job->executor, "codex");
	dr_job_free(job);
	cJSON_Delete(in);
}
END_TEST

START_TEST(preferences_fall_back_per_field)
{
	cJSON *in = parse("{\"id\":\"j1\",\"organizationId\":\"o\",\"repositorySlug\":\"\","
			  "\"executionPreferences\":{\"executor\":null,\"model\":\"   \",\"thinking\":\"extreme\"},"
			  "\"requestPayload\":{\"executionPreferences\":{\"preferences\":"
			  "{\"executor\":\"claude\",\"model\":\"opus\",\"thinking\":\"LOW\"}}},"
			  "\"resumeContext\":{\"claudeSessionId\":\"\",\"userReply\":\"x\"}}");
	struct dr_job *job;
	char err[256];
	ck_assert_int_eq(dr_job_parse(in, &job, err, sizeof err), 0);
	ck_assert_str_eq(job->executor, "claude");
	/* A blank explicit model is still the explicit value: no model. */
	ck_assert_ptr_null(job->model);
	/* An unknown explicit thinking level is present, so it wins and normalises to none. */
	ck_assert_ptr_null(job->thinking);
	ck_assert_ptr_null(job->repository_slug); /* "" is "no repository" */
	ck_assert_ptr_null(job->resume_session_id);
	ck_assert_ptr_null(job->resume_user_reply);
	dr_job_free(job);
	cJSON_Delete(in);

	in = parse("{\"id\":\"j1\",\"organizationId\":\"o\",\"executionPreferences\":[1],"
		   "\"requestPayload\":{\"executionPreferences\":{\"preferences\":"
		   "{\"executor\":\"codex\",\"model\":\"o3\",\"thinking\":\"medium\"}}}}");
	ck_assert_int_eq(dr_job_parse(in, &job, err, sizeof err), 0);
	ck_assert_str_eq(job->executor, "codex");
	ck_assert_str_eq(job->model, "o3");
	ck_assert_str_eq(job->thinking, "medium");
	dr_job_free(job);
	cJSON_Delete(in);
}
END_TEST

START_TEST(error_keeps_report_fields)
{
	cJSON *in = parse("{\"id\":\"j-9\",\"organizationId\":\"o\",\"agentSessionId\":\"s\",\"attemptId\":\"a\","
			  "\"repositorySlug\":\"x/..\"}");
	struct dr_job *job;
	char err[256];
	ck_assert_int_eq(dr_job_parse(in, &job, err, sizeof err), -EINVAL);
	ck_assert_ptr_nonnull(job);
	ck_assert_str_eq(job->id, "j-9");
	ck_assert_str_eq(job->organization_id, "o");
	ck_assert_str_eq(job->agent_session_id, "s");
	ck_assert_str_eq(job->attempt_id, "a");
	ck_assert_ptr_null(job->repository_slug);
	dr_job_free(job);
	cJSON_Delete(in);

	/* A small error buffer gets a cut sentence, never an overflow. */
	char small[8];
	in = parse("{\"id\":\"j\"}");
	ck_assert_int_eq(dr_job_parse(in, &job, small, sizeof small), -EINVAL);
	ck_assert_str_eq(small, "The job");
	dr_job_free(job);
	cJSON_Delete(in);
	ck_assert_int_eq(dr_job_parse(NULL, &job, err, sizeof err), -EINVAL);
	ck_assert_ptr_null(job);
}
END_TEST

START_TEST(huge_prompt_context_is_refused)
{
	size_t n = DR_JOB_CONTEXT_MAX;
	char *text = dr_xmalloc(n + 200);
	int off = snprintf(text, 200, "{\"id\":\"j\",\"organizationId\":\"o\",\"promptContext\":[\"");
	memset(text + off, 'x', n);
	strcpy(text + off + n, "\"]}");
	cJSON *in = parse(text);
	struct dr_job *job;
	char err[256];
	ck_assert_int_eq(dr_job_parse(in, &job, err, sizeof err), -EINVAL);
	ck_assert_str_eq(err, "The job's promptContext is larger than 262144 bytes.");
	dr_job_free(job);
	cJSON_Delete(in);

	/* Just under the cap passes: [" + n - 4 + "] is exactly the cap. */
	off = snprintf(text, 200, "{\"id\":\"j\",\"organizationId\":\"o\",\"promptContext\":[\"");
	memset(text + off, 'y', n - 4);
	strcpy(text + off + n - 4, "\"]}");
	in = parse(text);
	ck_assert_int_eq(dr_job_parse(in, &job, err, sizeof err), 0);
	ck_assert_uint_eq(strlen(job->prompt_context_json), n);
	dr_job_free(job);
	cJSON_Delete(in);
	free(text);
}
END_TEST

START_TEST(slug_rules)
{
	ck_assert(dr_job_slug_valid("acme/widgets"));
	ck_assert(dr_job_slug_valid("a-b_c.d/e.f-g_h"));
	ck_assert(dr_job_slug_valid("A1/b"));
	ck_assert(!dr_job_slug_valid(NULL));
	ck_assert(!dr_job_slug_valid(""));
	ck_assert(!dr_job_slug_valid("/"));
	ck_assert(!dr_job_slug_valid("acme/"));
	ck_assert(!dr_job_slug_valid("/widgets"));
	ck_assert(!dr_job_slug_valid("acme"));
	ck_assert(!dr_job_slug_valid("a/b/c"));
	ck_assert(!dr_job_slug_valid("../b"));
	ck_assert(!dr_job_slug_valid("a/.."));
	ck_assert(!dr_job_slug_valid("a/b..c"));
	ck_assert(!dr_job_slug_valid(".a/b"));
	ck_assert(!dr_job_slug_valid("a/.b"));
	ck_assert(!dr_job_slug_valid("-a/b"));
	ck_assert(!dr_job_slug_valid("a/-b"));
	ck_assert(!dr_job_slug_valid("a b/c"));
	ck_assert(!dr_job_slug_valid("a/b\n"));
	ck_assert(!dr_job_slug_valid("a/b%2f"));
	char slug[300];
	memset(slug, 'o', 100);
	slug[100] = '/';
	memset(slug + 101, 'r', 100);
	slug[201] = '\0';
	ck_assert(dr_job_slug_valid(slug));
	slug[201] = 'r';
	slug[202] = '\0';
	ck_assert(!dr_job_slug_valid(slug));
	memset(slug, 'o', 101);
	slug[101] = '/';
	strcpy(slug + 102, "r");
	ck_assert(!dr_job_slug_valid(slug));
}
END_TEST

START_TEST(id_rules)
{
	ck_assert(dr_job_id_valid("a"));
	ck_assert(dr_job_id_valid("Job_1-x"));
	ck_assert(!dr_job_id_valid(""));
	ck_assert(!dr_job_id_valid("-a"));
	ck_assert(!dr_job_id_valid("a.b"));
	ck_assert(!dr_job_id_valid(".."));
	ck_assert(!dr_job_id_valid("a b"));
	char id[130];
	memset(id, 'a', 128);
	id[128] = '\0';
	ck_assert(dr_job_id_valid(id));
	id[128] = 'a';
	id[129] = '\0';
	ck_assert(!dr_job_id_valid(id));
}
END_TEST

static char *branch_for(const char *identifier, const char *id)
{
	struct dr_job job = { 0 };
	job.issue_identifier = (char *)identifier;
	job.id = (char *)id;
	return dr_job_branch_name(&job);
}

START_TEST(branch_names)
{
	static const struct {
		const char *ident, *id, *want;
	} cases[] = {
		{ "ENG-42", "ABCDEFGHIJ", "delego/eng-42-abcdefgh" },
		{ "  Team / Bug #7!! ", "x1", "delego/team-bug-7-x1" },
		{ "--__--", "abc", "delego/linear-issue-abc" },
		{ "", "abcdefgh", "delego/linear-issue-abcdefgh" },
		{ NULL, "Z", "delego/linear-issue-z" },
		{ "Émile's ticket", "id", "delego/mile-s-ticket-id" },
	};
	for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
		char *b = branch_for(cases[i].ident, cases[i].id);
		ck_assert_str_eq(b, cases[i].want);
		free(b);
	}
	/* A long identifier is cut to 64 bytes of key, never ending in '-'. */
	char ident[200];
	memset(ident, 'a', 63);
	strcpy(ident + 63, "-bbbbbbbb");
	char *b = branch_for(ident, "12345678");
	char want[120];
	memset(want, 'a', 63);
	want[63] = '\0';
	char expect[140];
	snprintf(expect, sizeof expect, "delego/%s-12345678", want);
	ck_assert_str_eq(b, expect);
	free(b);
}
END_TEST

/* Every tests/fixtures/jobs/<case>.json fails with the sentence in <case>.expect. */
START_TEST(hostile_corpus)
{
	DIR *d = opendir(JOBS_DIR);
	ck_assert_msg(d != NULL, "cannot open %s (run from the repository root)", JOBS_DIR);
	struct dirent *e;
	int cases = 0;
	while ((e = readdir(d))) {
		size_t n = strlen(e->d_name);
		if (n < 6 || strcmp(e->d_name + n - 5, ".json") != 0)
			continue;
		char path[512];
		snprintf(path, sizeof path, "%s/%s", JOBS_DIR, e->d_name);
		char *text = slurp(path);
		snprintf(path, sizeof path, "%s/%.*s.expect", JOBS_DIR, (int)(n - 5), e->d_name);
		char *expect = slurp(path);
		char *want_err = strstr(expect, "error: ");
		char *want_out = strstr(expect, "\nout: ");
		ck_assert_msg(want_err && want_out, "%s: malformed", path);
		*want_out = '\0';
		want_err += 7;
		want_out += 6;
		want_out[strcspn(want_out, "\n")] = '\0';

		cJSON *in = parse(text);
		struct dr_job *job = (struct dr_job *)1;
		char err[512] = "untouched";
		int r = dr_job_parse(in, &job, err, sizeof err);
		ck_assert_msg(r == -EINVAL, "%s: returned %d", e->d_name, r);
		ck_assert_msg(strcmp(err, want_err) == 0, "%s: got \"%s\", want \"%s\"", e->d_name, err, want_err);
		if (strcmp(want_out, "set") == 0) {
			ck_assert_msg(job != NULL, "%s: no job for the report", e->d_name);
			ck_assert_str_eq(job->id, cJSON_GetObjectItem(in, "id")->valuestring);
		} else {
			ck_assert_msg(job == NULL, "%s: job set without a usable id", e->d_name);
		}
		dr_job_free(job);
		cJSON_Delete(in);
		free(text);
		free(expect);
		cases++;
	}
	closedir(d);
	ck_assert_int_ge(cases, 30);
}
END_TEST

static Suite *job_suite(void)
{
	Suite *s = suite_create("job");
	TCase *tc = tcase_create("core");
	tcase_add_test(tc, full_job_parses);
	tcase_add_test(tc, minimal_job_has_defaults);
	tcase_add_test(tc, preferences_fall_back_per_field);
	tcase_add_test(tc, error_keeps_report_fields);
	tcase_add_test(tc, huge_prompt_context_is_refused);
	tcase_add_test(tc, slug_rules);
	tcase_add_test(tc, id_rules);
	tcase_add_test(tc, branch_names);
	tcase_add_test(tc, hostile_corpus);
	suite_add_tcase(s, tc);
	return s;
}

DR_CHECK_MAIN(job_suite)
