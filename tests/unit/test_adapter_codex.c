#include "delego/adapter.h"
#include "delego/strv.h"
#include "delego/xalloc.h"
#include "check_main.h"

#include "../fixtures/streams/replay.h"

#include <string.h>

static char *feed(struct dr_adapter *a, const char *line)
{
	return dr_adapter_feed(a, line, strlen(line), false);
}

START_TEST(recorded_streams)
{
	ck_assert_int_ge(replay_dir("codex"), 9);
}
END_TEST

/* Real codex without a network: errors without end, never a fatal one. */
START_TEST(real_offline_stream)
{
	replay_real("codex", "codex-0.171.0-offline");
}
END_TEST

/* The pipeline's stall check: only error reports count as ERROR, every other event as OTHER. */
START_TEST(classifies_error_events)
{
	struct dr_adapter *a = dr_adapter_new("codex");
	static const struct {
		const char *line;
		enum dr_adapter_event want;
	} cases[] = {
		{ "{\"type\":\"thread.started\",\"thread_id\":\"t1\"}", DR_ADAPTER_EVENT_OTHER },
		{ "{\"type\":\"error\",\"message\":\"Reconnecting... 1/5\"}", DR_ADAPTER_EVENT_ERROR },
		{ "{\"type\":\"error\",\"message\":\" \"}", DR_ADAPTER_EVENT_ERROR },
		{ "{\"type\":\"item.completed\",\"item\":{\"type\":\"error\",\"message\":\"fallback\"}}",
		  DR_ADAPTER_EVENT_ERROR },
		{ "not json", DR_ADAPTER_EVENT_NONE },
		{ "{\"type\":\"turn.started\"}", DR_ADAPTER_EVENT_OTHER },
		{ "", DR_ADAPTER_EVENT_NONE },
	};
	for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
		free(feed(a, cases[i].line));
		ck_assert_msg(dr_adapter_last_event(a) == cases[i].want, "%s: %d", cases[i].line,
			      dr_adapter_last_event(a));
	}
	char *p = dr_adapter_feed(a, "{\"type\":\"error\"", 17, true);
	ck_assert_ptr_null(p);
	ck_assert_int_eq(dr_adapter_last_event(a), DR_ADAPTER_EVENT_NONE);
	ck_assert_str_eq(dr_adapter_last_error(a), "fallback");
	dr_adapter_free(a);
}
END_TEST

START_TEST(unwraps_shell_commands)
{
	static const struct {
		const char *command, *want;
	} cases[] = {
		{ "/bin/bash -lc 'npm test'", "Codex: $ npm test" },
		{ "bash -lc \"make -j4\"", "Codex: $ make -j4" },
		{ "/bin/zsh -lc   'ls'  ", "Codex: $ ls" },
		{ "bash -lc 'unbalanced", "Codex: $ 'unbalanced" },
		{ "bash -lc ''", "Codex: $" },
		{ "git status", "Codex: $ git status" },
		{ "bash -lc 'printf \"a\\nb\"'", "Codex: $ printf \"a\\nb\"" },
	};
	for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
		struct dr_adapter *a = dr_adapter_new("codex");
		cJSON *ev = cJSON_CreateObject();
		cJSON_AddStringToObject(ev, "type", "item.started");
		cJSON *item = cJSON_AddObjectToObject(ev, "item");
		cJSON_AddStringToObject(item, "type", "command_execution");
		cJSON_AddStringToObject(item, "command", cases[i].command);
		char *line = dr_json_print(ev);
		char *p = feed(a, line);
		ck_assert_msg(p && strcmp(p, cases[i].want) == 0, "%s: got \"%s\"", cases[i].command, p);
		free(p);
		free(line);
		cJSON_Delete(ev);
		dr_adapter_free(a);
	}
}
END_TEST

START_TEST(non_json_is_quiet)
{
	struct dr_adapter *a = dr_adapter_new("codex");
	ck_assert_ptr_null(feed(a, "There's an issue with the selected model"));
	/* The model-issue line is claude's; codex does not treat it as fatal. */
	ck_assert_ptr_null(dr_adapter_fatal_error(a));
	ck_assert_ptr_null(feed(a, "Shell cwd was reset to /w"));
	/* Only len bytes count: what follows them is not part of the line. */
	const char *l = "{\"type\":\"thread.started\",\"thread_id\":\"x\"}garbage";
	ck_assert_ptr_null(dr_adapter_feed(a, l, strlen(l) - strlen("garbage"), false));
	ck_assert_str_eq(dr_adapter_session_id(a), "x");
	ck_assert(!dr_adapter_should_stop(a));
	ck_assert_ptr_null(dr_adapter_question(a));
	dr_adapter_free(a);
}
END_TEST

static void assert_argv(char **got, const char *const *want)
{
	ck_assert_ptr_nonnull(got);
	size_t i = 0;
	for (; want[i]; i++) {
		ck_assert_msg(got[i] != NULL, "argv ends at %zu, want \"%s\"", i, want[i]);
		ck_assert_str_eq(got[i], want[i]);
	}
	ck_assert_msg(got[i] == NULL, "extra argv[%zu] \"%s\"", i, got[i]);
	dr_strv_free(got);
}

START_TEST(argv_defaults)
{
	char *const args[] = { "exec", "--sandbox", "danger-full-access", NULL };
	struct dr_invocation inv = { .executor = "codex", .command = "codex", .args = args, .prompt = "Do it",
				     .worktree = "/ws/worktrees/a/b/j1" };
	assert_argv(dr_adapter_argv(&inv),
		    (const char *const[]){ "codex", "exec", "--json", "--sandbox", "danger-full-access", "--cd",
					   "/ws/worktrees/a/b/j1", "Do it", NULL });
	inv.model = "gpt-5.1-codex";
	assert_argv(dr_adapter_argv(&inv),
		    (const char *const[]){ "codex", "exec", "--json", "--sandbox", "danger-full-access", "-m",
					   "gpt-5.1-codex", "--cd", "/ws/worktrees/a/b/j1", "Do it", NULL });
	inv.thinking = "high";
	assert_argv(dr_adapter_argv(&inv),
		    (const char *const[]){ "codex", "exec", "--json", "--sandbox", "danger-full-access", "-m",
					   "gpt-5.1-codex", "--config", "model_reasoning_effort=\"high\"", "--cd",
					   "/ws/worktrees/a/b/j1", "Do it", NULL });
	inv.model = NULL;
	inv.thinking = "low";
	assert_argv(dr_adapter_argv(&inv),
		    (const char *const[]){ "codex", "exec", "--json", "--sandbox", "danger-full-access", "--config",
					   "model_reasoning_effort=\"low\"", "--cd", "/ws/worktrees/a/b/j1", "Do it",
					   NULL });
	/* A resume context means nothing to codex. */
	inv.thinking = NULL;
	inv.resume_session_id = "s";
	inv.resume_user_reply = "r";
	assert_argv(dr_adapter_argv(&inv),
		    (const char *const[]){ "codex", "exec", "--json", "--sandbox", "danger-full-access", "--cd",
					   "/ws/worktrees/a/b/j1", "Do it", NULL });
}
END_TEST

START_TEST(argv_custom_args)
{
	char *const with_json[] = { "--profile", "x", "exec", "--json", "--full-auto", NULL };
	struct dr_invocation inv = { .executor = "codex", .command = "/opt/codex", .args = with_json,
				     .prompt = "--help me", .worktree = "/w" };
	assert_argv(dr_adapter_argv(&inv), (const char *const[]){ "/opt/codex", "--profile", "x", "exec", "--json",
								  "--full-auto", "--cd", "/w", " --help me", NULL });
	char *const exec_last[] = { "--profile", "x", "exec", NULL };
	inv.args = exec_last;
	inv.prompt = "P";
	assert_argv(dr_adapter_argv(&inv),
		    (const char *const[]){ "/opt/codex", "--profile", "x", "exec", "--json", "--cd", "/w", "P", NULL });
	char *const no_exec[] = { "e", "--full-auto", NULL };
	inv.args = no_exec;
	assert_argv(dr_adapter_argv(&inv),
		    (const char *const[]){ "/opt/codex", "--json", "e", "--full-auto", "--cd", "/w", "P", NULL });
	inv.args = NULL;
	assert_argv(dr_adapter_argv(&inv), (const char *const[]){ "/opt/codex", "--json", "--cd", "/w", "P", NULL });
	inv.worktree = NULL;
	ck_assert_ptr_null(dr_adapter_argv(&inv));
	inv.worktree = "/w";
	inv.prompt = NULL;
	ck_assert_ptr_null(dr_adapter_argv(&inv));
}
END_TEST

START_TEST(explains_failures)
{
	static const char login[] = "Codex is not logged in on this machine. Log it in as the user that runs "
				    "delego-runner (run `codex login`) and retry the job.";
	char *s = dr_adapter_explain_failure("codex", "Error: Not logged in. Run codex login.\n", NULL);
	ck_assert_str_eq(s, login);
	free(s);
	s = dr_adapter_explain_failure("codex", NULL,
				       "{\"type\":\"turn.failed\",\"error\":{\"message\":\"unexpected status 401 "
				       "Unauthorized\"}}");
	ck_assert_str_eq(s, login);
	free(s);
	ck_assert_ptr_null(dr_adapter_explain_failure("codex", "Reading additional input from stdin...", ""));
	ck_assert_ptr_null(dr_adapter_explain_failure("codex", NULL, NULL));
}
END_TEST

static Suite *adapter_codex_suite(void)
{
	Suite *s = suite_create("adapter_codex");
	TCase *tc = tcase_create("core");
	tcase_add_test(tc, recorded_streams);
	tcase_add_test(tc, real_offline_stream);
	tcase_add_test(tc, classifies_error_events);
	tcase_add_test(tc, unwraps_shell_commands);
	tcase_add_test(tc, non_json_is_quiet);
	tcase_add_test(tc, argv_defaults);
	tcase_add_test(tc, argv_custom_args);
	tcase_add_test(tc, explains_failures);
	suite_add_tcase(s, tc);
	return s;
}

DR_CHECK_MAIN(adapter_codex_suite)
