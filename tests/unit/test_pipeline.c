/*
 * The pipeline against a relay that never answers: every report stays in
 * the outbox's spool, where the test reads what would have been sent.
 * Real git in a temporary folder, the stand-in agents of tests/fixtures/bin.
 */
#include "delego/config.h"
#include "delego/http.h"
#include "delego/json.h"
#include "delego/outbox.h"
#include "delego/pipeline.h"
#include "delego/relay.h"
#include "delego/xalloc.h"
#include "check_main.h"
#include "testutil.h"

#include <dirent.h>
#include <errno.h>
#include <ftw.h>
#include <libgen.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static char T[PATH_MAX];
static char fixtures[PATH_MAX];
static uv_loop_t loop;
static struct dr_http *http;
static struct dr_relay *relay;
static struct dr_outbox *outbox;
static struct dr_config *config;
static struct dr_pipeline_env env;


/* Loads the configuration from flags (the environment holds only HOME), plus up to two more flag/value pairs. */
static void load_config2(const char *flag1, const char *value1, const char *flag2, const char *value2)
{
	char ws[PATH_MAX + 8], remotes[PATH_MAX + 16], claude[PATH_MAX + 8], codex[PATH_MAX + 8],
		home[PATH_MAX + 16];
	snprintf(ws, sizeof(ws), "%s/ws", T);
	snprintf(remotes, sizeof(remotes), "%s/remotes", T);
	snprintf(claude, sizeof(claude), "%s/claude", fixtures);
	snprintf(codex, sizeof(codex), "%s/codex", fixtures);
	snprintf(home, sizeof(home), "HOME=%s/home", T);
	char *argv[] = { "run", "--workspace-root", ws, "--git-clone-base-url", remotes, "--claude-command", claude,
			 "--codex-command", codex, "--cancellation-poll-interval-ms", "1000",
			 (char *)flag1, (char *)value1, (char *)flag2, (char *)value2, NULL };
	int argc = flag2 ? 15 : flag1 ? 13 : 11;
	char *envp[] = { home, NULL };
	char err[512];
	dr_config_free(config);
	config = NULL;
	ck_assert_msg(dr_config_load(argc, argv, envp, &config, err, sizeof(err)) == 0, "config: %s", err);
	env.config = config;
}

static void load_config(const char *extra_flag, const char *extra_value)
{
	load_config2(extra_flag, extra_value, NULL, NULL);
}

static void setup(void)
{
	char exe[PATH_MAX];
	ssize_t n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
	ck_assert_int_gt(n, 0);
	exe[n] = '\0';
	/* <top>/<build>/tests/unit/test_pipeline */
	char *d = dirname(dirname(dirname(dirname(exe))));
	snprintf(fixtures, sizeof(fixtures), "%s/tests/fixtures/bin", d);
	ck_assert_msg(access(fixtures, X_OK) == 0, "no %s", fixtures);

	snprintf(T, sizeof(T), "%s/dr-pl-XXXXXX", getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp");
	ck_assert_ptr_nonnull(mkdtemp(T));
	char real[PATH_MAX];
	ck_assert_ptr_nonnull(realpath(T, real));
	snprintf(T, sizeof(T), "%s", real);
	char home[PATH_MAX + 16];
	snprintf(home, sizeof(home), "%s/home", T);
	mkdir(home, 0700);
	setenv("HOME", home, 1);
	setenv("GIT_CONFIG_NOSYSTEM", "1", 1);
	setenv("GIT_AUTHOR_NAME", "Test", 1);
	setenv("GIT_AUTHOR_EMAIL", "test@example.com", 1);
	setenv("GIT_COMMITTER_NAME", "Test", 1);
	setenv("GIT_COMMITTER_EMAIL", "test@example.com", 1);
	ck_assert_int_eq(sh("set -e; cd '%s'; git init -q -b main --bare remotes/acme/app.git; git init -q -b main seed;"
			    "cd seed; echo hello > README.md; git add .; git commit -q -m initial;"
			    "git push -q ../remotes/acme/app.git main",
			    T),
			 0);

	uv_loop_init(&loop);
	ck_assert_int_eq(dr_http_new(&loop, &http), 0);
	/* Nothing listens on port 9 here: every report stays in the spool. */
	ck_assert_int_eq(dr_relay_new(http, "http://127.0.0.1:9", "test-bearer", &relay), 0);
	char spool[PATH_MAX + 16], err[256];
	snprintf(spool, sizeof(spool), "%s/spool", T);
	ck_assert_int_eq(dr_outbox_new(&loop, relay, spool, &outbox, err, sizeof(err)), 0);
	env = (struct dr_pipeline_env){ .loop = &loop, .relay = relay, .outbox = outbox, .version = "test" };
	load_config(NULL, NULL);
}

static int rm_one(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	return remove(path);
}

static void teardown(void)
{
	dr_outbox_free(outbox);
	dr_relay_free(relay);
	dr_http_free(http);
	for (int i = 0; i < 100 && uv_loop_alive(&loop); i++)
		uv_run(&loop, UV_RUN_NOWAIT);
	uv_loop_close(&loop);
	dr_config_free(config);
	config = NULL;
	nftw(T, rm_one, 16, FTW_DEPTH | FTW_PHYS);
}

struct done {
	int calls;
	struct dr_pipeline *p;
};

static void on_done(struct dr_pipeline *p, void *data)
{
	struct done *d = data;
	d->calls++;
	d->p = p;
}

static void on_cancel_timer(uv_timer_t *t)
{
	struct done *d = t->data;
	dr_pipeline_cancel(d->p, "the runner is shutting down");
}

static void on_timer_closed(uv_handle_t *h)
{
	*(bool *)h->data = true;
}

/* Terminal reports in the spool whose durable write is done. */
static int spooled_finals(void)
{
	char dir[PATH_MAX + 16];
	snprintf(dir, sizeof(dir), "%s/spool", T);
	DIR *dp = opendir(dir);
	int n = 0;
	struct dirent *de;
	while (dp && (de = readdir(dp))) {
		size_t len = strlen(de->d_name);
		n += len > 11 && !strcmp(de->d_name + len - 11, "-final.json");
	}
	if (dp)
		closedir(dp);
	return n;
}

/* Runs a job to its end; cancel_after_ms > 0 cancels it then. */
static void run_job(const char *job_json, uint64_t cancel_after_ms)
{
	int finals = spooled_finals();
	cJSON *job = cJSON_Parse(job_json);
	ck_assert_ptr_nonnull(job);
	struct done d = { 0 };
	ck_assert_int_eq(dr_pipeline_start(&env, job, on_done, &d, &d.p), 0);
	cJSON_Delete(job);
	ck_assert_int_eq(d.calls, 0); /* never from inside start */
	uv_timer_t t;
	uv_timer_init(&loop, &t);
	t.data = &d;
	if (cancel_after_ms)
		uv_timer_start(&t, on_cancel_timer, cancel_after_ms, 0);
	while (!d.calls)
		uv_run(&loop, UV_RUN_ONCE);
	bool closed = false;
	t.data = &closed;
	uv_close((uv_handle_t *)&t, on_timer_closed);
	while (!closed)
		uv_run(&loop, UV_RUN_ONCE);
	/* The outbox writes its final report durably off the loop: wait for the file. */
	for (int i = 0; i < 1000 && spooled_finals() == finals; i++) {
		uv_run(&loop, UV_RUN_NOWAIT);
		usleep(5000);
	}
	ck_assert_int_eq(d.calls, 1);
	ck_assert_ptr_nonnull(dr_pipeline_summary(d.p));
	dr_pipeline_free(d.p);
}

static int name_cmp(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* The spooled reports, oldest first: an array of {path, jobId, body}. */
static cJSON *reports(void)
{
	char dir[PATH_MAX + 16];
	snprintf(dir, sizeof(dir), "%s/spool", T);
	DIR *dp = opendir(dir);
	ck_assert_ptr_nonnull(dp);
	char *names[512];
	size_t n = 0;
	struct dirent *de;
	while ((de = readdir(dp)) && n < 512) {
		if (strstr(de->d_name, ".json") && de->d_name[0] != '.')
			names[n++] = dr_xstrdup(de->d_name);
	}
	closedir(dp);
	qsort(names, n, sizeof(*names), name_cmp);
	cJSON *all = cJSON_CreateArray();
	for (size_t i = 0; i < n; i++) {
		char path[PATH_MAX * 2];
		snprintf(path, sizeof(path), "%s/%s", dir, names[i]);
		FILE *f = fopen(path, "r");
		ck_assert_ptr_nonnull(f);
		static char buf[4 * 1024 * 1024];
		size_t len = fread(buf, 1, sizeof(buf) - 1, f);
		fclose(f);
		buf[len] = '\0';
		cJSON *doc = cJSON_Parse(buf);
		ck_assert_msg(doc != NULL, "report %s is not valid JSON", names[i]);
		cJSON_AddItemToArray(all, doc);
		free(names[i]);
	}
	return all;
}

static const cJSON *final_report(const cJSON *all, const char **path)
{
	const cJSON *last = NULL, *r;
	cJSON_ArrayForEach(r, all)
	{
		const char *p = dr_json_str(r, "path");
		if (strcmp(p, "/api/runner/jobs/progress") != 0) {
			ck_assert_msg(last == NULL, "two final reports");
			last = r;
			*path = p;
		}
	}
	ck_assert_ptr_nonnull(last);
	return dr_json_obj(last, "body");
}

static int count_path(const cJSON *all, const char *path)
{
	int n = 0;
	const cJSON *r;
	cJSON_ArrayForEach(r, all) n += !strcmp(dr_json_str(r, "path"), path);
	return n;
}

#define JOB(id, extra)                                                                                          \
	"{\"id\":\"" id "\",\"organizationId\":\"org\",\"agentSessionId\":\"as\",\"attemptId\":\"att\","        \
	"\"publishingPolicy\":{\"autoPush\":false,\"autoCreatePr\":false,\"prDraft\":false},"                   \
	"\"linearIssue\":{\"identifier\":\"ENG-9\",\"title\":\"Do the thing\",\"url\":null},"                   \
	"\"promptContext\":{},\"resumeContext\":null," extra "}"

START_TEST(a_job_without_usable_id_is_refused)
{
	struct done d = { 0 };
	struct dr_pipeline *p = NULL;
	cJSON *job = cJSON_Parse("{\"id\":\"../../x\",\"repositorySlug\":\"acme/app\"}");
	ck_assert_int_eq(dr_pipeline_start(&env, job, on_done, &d, &p), -EINVAL);
	cJSON_Delete(job);
	job = cJSON_Parse("[1,2]");
	ck_assert_int_eq(dr_pipeline_start(&env, job, on_done, &d, &p), -EINVAL);
	cJSON_Delete(job);
	for (int i = 0; i < 10; i++)
		uv_run(&loop, UV_RUN_NOWAIT);
	ck_assert_int_eq(d.calls, 0);
}
END_TEST

START_TEST(no_repository_fails_with_advice_and_writes_nothing)
{
	run_job(JOB("job-norepo", "\"repositorySlug\":null,\"executionPreferences\":{\"executor\":\"claude\"}"), 0);
	cJSON *all = reports();
	const char *path;
	const cJSON *b = final_report(all, &path);
	ck_assert_str_eq(path, "/api/runner/jobs/fail");
	ck_assert_ptr_nonnull(strstr(dr_json_str(b, "summary"), "Add a Repository Mapping"));
	ck_assert_str_eq(dr_json_str(b, "jobId"), "job-norepo");
	ck_assert_str_eq(dr_json_str(b, "organizationId"), "org");
	ck_assert_str_eq(dr_json_str(b, "agentSessionId"), "as");
	ck_assert(cJSON_IsFalse(cJSON_GetObjectItem(b, "cancelled")));
	ck_assert_str_eq(dr_json_str(dr_json_obj(b, "metadata"), "attemptId"), "att");
	ck_assert_int_eq(count_path(all, "/api/runner/jobs/progress"), 0);
	char ws[PATH_MAX + 8];
	snprintf(ws, sizeof(ws), "%s/ws", T);
	ck_assert_int_ne(access(ws, F_OK), 0);
	cJSON_Delete(all);
}
END_TEST

START_TEST(unsupported_executor_fails_saying_so)
{
	load_config("--supported-executors", "claude");
	run_job(JOB("job-codex", "\"repositorySlug\":\"acme/app\",\"executionPreferences\":{\"executor\":\"codex\"}"),
		0);
	cJSON *all = reports();
	const char *path;
	const cJSON *b = final_report(all, &path);
	ck_assert_str_eq(path, "/api/runner/jobs/fail");
	ck_assert_ptr_nonnull(strstr(dr_json_str(b, "summary"), "does not run codex jobs"));
	cJSON_Delete(all);
}
END_TEST

START_TEST(edit_job_commits_and_reports_in_order)
{
	run_job(JOB("job-edit", "\"repositorySlug\":\"acme/app\",\"executionPreferences\":{\"executor\":\"claude\"},"
				"\"promptSummary\":\"scenario=edit\""),
		0);
	cJSON *all = reports();
	const char *path;
	const cJSON *b = final_report(all, &path);
	ck_assert_msg(!strcmp(path, "/api/runner/jobs/complete"), "%s: %s", path, dr_json_str(b, "summary"));
	const cJSON *m = dr_json_obj(b, "metadata");
	ck_assert_int_eq((int)dr_json_num(m, "changedFileCount", -1), 2);
	ck_assert_str_eq(cJSON_GetArrayItem(dr_json_array(m, "changedFiles"), 0)->valuestring, "README.md");
	const cJSON *c = dr_json_obj(m, "commitMetadata");
	ck_assert_ptr_nonnull(c);
	ck_assert_str_eq(dr_json_str(c, "subject"), "ENG-9: Do the thing");
	ck_assert_str_eq(dr_json_str(m, "headSha"), dr_json_str(c, "sha"));
	ck_assert(cJSON_IsTrue(cJSON_GetObjectItem(m, "branchHasNewCommits")));
	ck_assert(cJSON_IsFalse(cJSON_GetObjectItem(m, "pushed")));
	ck_assert_int_eq((int)dr_json_num(m, "exitCode", -1), 0);
	ck_assert(cJSON_IsNull(cJSON_GetObjectItem(m, "signal")));
	ck_assert_ptr_nonnull(strstr(dr_json_str(b, "summary"), "publishing is manual"));
	/* The first report is the prepared workspace; seq grows with every report. */
	const cJSON *first = dr_json_obj(cJSON_GetArrayItem(all, 0), "body");
	ck_assert_str_eq(dr_json_str(first, "summary"), "Prepared local workspace for claude execution.");
	ck_assert_str_eq(dr_json_str(dr_json_obj(first, "metadata"), "branchName"), "delego/eng-9-job-edit");
	double seq = 0;
	const cJSON *r;
	cJSON_ArrayForEach(r, all)
	{
		double s = dr_json_num(dr_json_obj(r, "body"), "seq", 0);
		ck_assert(s > seq);
		seq = s;
	}
	ck_assert_int_ge(count_path(all, "/api/runner/jobs/progress"), 2); /* prepared + the agent's first edit */
	cJSON_Delete(all);
}
END_TEST

START_TEST(runner_cancel_ends_the_agent_and_reports_cancelled)
{
	run_job(JOB("job-cancel", "\"repositorySlug\":\"acme/app\",\"executionPreferences\":{\"executor\":\"codex\"},"
				  "\"promptSummary\":\"scenario=slow sleep=60\""),
		2500);
	cJSON *all = reports();
	const char *path;
	const cJSON *b = final_report(all, &path);
	ck_assert_str_eq(path, "/api/runner/jobs/fail");
	ck_assert_str_eq(dr_json_str(b, "summary"), "Executor was cancelled: the runner is shutting down.");
	ck_assert(cJSON_IsTrue(cJSON_GetObjectItem(b, "cancelled")));
	const cJSON *m = dr_json_obj(b, "metadata");
	ck_assert(cJSON_IsTrue(cJSON_GetObjectItem(m, "cancelled")));
	ck_assert_str_eq(dr_json_str(m, "signal"), "SIGTERM");
	cJSON_Delete(all);
}
END_TEST

START_TEST(question_is_reported_as_await_and_nothing_else)
{
	run_job(JOB("job-ask", "\"repositorySlug\":\"acme/app\",\"executionPreferences\":{\"executor\":\"claude\"},"
			       "\"promptSummary\":\"scenario=ask sleep=60\""),
		0);
	cJSON *all = reports();
	const char *path;
	const cJSON *b = final_report(all, &path);
	ck_assert_str_eq(path, "/api/runner/jobs/await");
	ck_assert_str_eq(dr_json_str(dr_json_obj(b, "question"), "question"), "Which storage should the cache use?");
	ck_assert_uint_eq(strlen(dr_json_str(b, "sessionId")), 36);
	ck_assert_str_eq(dr_json_str(b, "branchName"), "delego/eng-9-job-ask");
	ck_assert_str_eq(dr_json_str(b, "attemptId"), "att");
	ck_assert_int_eq(access(dr_json_str(b, "worktreePath"), F_OK), 0);
	cJSON_Delete(all);
}
END_TEST

START_TEST(progress_is_rate_limited_and_the_latest_kept)
{
	run_job(JOB("job-slow", "\"repositorySlug\":\"acme/app\",\"executionPreferences\":{\"executor\":\"claude\"},"
				"\"promptSummary\":\"scenario=huge mb=4\""),
		0);
	cJSON *all = reports();
	int n = count_path(all, "/api/runner/jobs/progress");
	ck_assert_msg(n >= 3 && n <= 8, "%d progress reports for ~70 events", n);
	/* The line just before the final report is the agent's last word, not a stale one. */
	const cJSON *last_progress = NULL, *r;
	cJSON_ArrayForEach(r, all)
	{
		if (!strcmp(dr_json_str(r, "path"), "/api/runner/jobs/progress"))
			last_progress = r;
	}
	const char *s = dr_json_str(dr_json_obj(last_progress, "body"), "summary");
	ck_assert_msg(strstr(s, "Huge output done") != NULL, "last progress: %s", s);
	ck_assert_uint_le(strlen(s), 240);
	cJSON_Delete(all);
}
END_TEST

/* The summary of a failed job (the test fails when it completed). */
static char *fail_summary(cJSON *all)
{
	const char *path;
	const cJSON *b = final_report(all, &path);
	ck_assert_msg(!strcmp(path, "/api/runner/jobs/fail"), "%s: %s", path, dr_json_str(b, "summary"));
	return dr_xstrdup(dr_json_str(b, "summary"));
}

/* Runs a job of executor with prompt and returns the summary of its failure. */
static char *run_failing(const char *id, const char *executor, const char *prompt)
{
	char *job = dr_xasprintf(JOB("%s", "\"repositorySlug\":\"acme/app\",\"executionPreferences\":{\"executor\":"
					  "\"%s\"},\"promptSummary\":\"%s\""),
				 id, executor, prompt);
	run_job(job, 0);
	free(job);
	cJSON *all = reports();
	char *s = fail_summary(all);
	cJSON_Delete(all);
	return s;
}

static int count_substr(const char *s, const char *needle)
{
	int n = 0;
	for (const char *p = s; (p = strstr(p, needle)); p += strlen(needle))
		n++;
	return n;
}

/* Offline codex: its errors show, repeats are held back, and the stall check ends the job quoting the last. */
START_TEST(codex_offline_fails_fast_saying_why)
{
	load_config2("--agent-stall-timeout-ms", "1500", "--executor-timeout-ms", "60000");
	uint64_t t0 = uv_now(&loop);
	run_job(JOB("job-offline", "\"repositorySlug\":\"acme/app\",\"executionPreferences\":{\"executor\":\"codex\"},"
				   "\"promptSummary\":\"scenario=offline sleep=60\""),
		0);
	uv_update_time(&loop);
	ck_assert_msg(uv_now(&loop) - t0 < 20000, "took %llu ms", (unsigned long long)(uv_now(&loop) - t0));
	cJSON *all = reports();
	char *s = fail_summary(all);
	ck_assert_msg(strstr(s, "Codex reported only errors for 1500 ms") != NULL, "%s", s);
	ck_assert_msg(strstr(s, "The last error: Reconnecting... waiting for network (Connection failed: error sending "
				"request)") != NULL, "%s", s);
	/* The metadata says which limit ended it: the stall check, not the executor timeout. */
	const char *path;
	const cJSON *meta = dr_json_obj(final_report(all, &path), "metadata");
	ck_assert(cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(meta, "stalled")));
	ck_assert(cJSON_IsFalse(cJSON_GetObjectItemCaseSensitive(meta, "timedOut")));
	int errors = 0, waiting = 0;
	const cJSON *r;
	cJSON_ArrayForEach(r, all)
	{
		const char *line = dr_json_str(dr_json_obj(r, "body"), "summary");
		if (strcmp(dr_json_str(r, "path"), "/api/runner/jobs/progress") || strncmp(line, "Codex: error: ", 14))
			continue;
		errors++;
		waiting += strstr(line, "waiting for network") != NULL;
	}
	ck_assert_int_ge(errors, 1);
	ck_assert_int_le(waiting, 1); /* dozens of identical lines, shown once */
	free(s);
	cJSON_Delete(all);
}
END_TEST

/* A timeout names the last error the agent reported. */
START_TEST(timeout_summary_quotes_the_last_error)
{
	load_config2("--agent-stall-timeout-ms", "0", "--executor-timeout-ms", "2000");
	char *s = run_failing("job-offline-to", "codex", "scenario=offline sleep=60");
	ck_assert_str_eq(s, "Executor timed out after 2 seconds and was terminated.\n\nThe last error Codex reported: "
			    "Reconnecting... waiting for network (Connection failed: error sending request)");
	free(s);
}
END_TEST

START_TEST(failure_names_the_exit_status_reply_and_stderr)
{
	char *s = run_failing("job-exit3", "claude", "scenario=fail-after-result");
	ck_assert_str_eq(s, "Claude exited with status 3.\n\nI changed nothing: the build is broken.\n\n"
			    "fake agent: could not save the session\nfake agent: giving up");
	free(s);
}
END_TEST

/* The real not-logged-in stream: the login advice once, with the exit status. */
START_TEST(not_logged_in_advice_appears_once)
{
	char *s = run_failing("job-login", "claude", "scenario=not-logged-in");
	ck_assert_msg(count_substr(s, "Log the claude CLI in") == 1, "%s", s);
	ck_assert_msg(strstr(s, "Claude Code is not logged in on this machine (it said: \"Not logged in") == s, "%s", s);
	ck_assert_msg(strstr(s, "\n\nClaude exited with status 1.") != NULL, "%s", s);
	free(s);
}
END_TEST

static Suite *pipeline_suite(void)
{
	Suite *s = suite_create("pipeline");
	TCase *tc = tcase_create("jobs");
	tcase_set_timeout(tc, 90);
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, a_job_without_usable_id_is_refused);
	tcase_add_test(tc, no_repository_fails_with_advice_and_writes_nothing);
	tcase_add_test(tc, unsupported_executor_fails_saying_so);
	tcase_add_test(tc, edit_job_commits_and_reports_in_order);
	tcase_add_test(tc, runner_cancel_ends_the_agent_and_reports_cancelled);
	tcase_add_test(tc, question_is_reported_as_await_and_nothing_else);
	tcase_add_test(tc, progress_is_rate_limited_and_the_latest_kept);
	tcase_add_test(tc, codex_offline_fails_fast_saying_why);
	tcase_add_test(tc, timeout_summary_quotes_the_last_error);
	tcase_add_test(tc, failure_names_the_exit_status_reply_and_stderr);
	tcase_add_test(tc, not_logged_in_advice_appears_once);
	suite_add_tcase(s, tc);
	return s;
}

DR_CHECK_MAIN(pipeline_suite)
