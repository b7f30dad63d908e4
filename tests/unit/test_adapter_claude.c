#include "delego/adapter.h"
#include "delego/buf.h"
#include "delego/strv.h"
#include "delego/xalloc.h"
#include "check_main.h"

#include "../fixtures/streams/replay.h"

#include <string.h>

static char *feed(struct dr_adapter *a, const char *line)
{
	return dr_adapter_feed(a, line, strlen(line), false);
}

/* True when s is well-formed UTF-8. */
static bool utf8_ok(const char *s)
{
	const unsigned char *u = (const unsigned char *)s;
	while (*u) {
		int n = *u < 0x80 ? 1 : (*u & 0xe0) == 0xc0 ? 2 : (*u & 0xf0) == 0xe0 ? 3 : (*u & 0xf8) == 0xf0 ? 4 : 0;
		if (!n)
			return false;
		for (int i = 1; i < n; i++)
			if ((u[i] & 0xc0) != 0x80)
				return false;
		u += n;
	}
	return true;
}

START_TEST(recorded_streams)
{
	ck_assert_int_ge(replay_dir("claude"), 13);
}
END_TEST

START_TEST(real_not_logged_in_stream)
{
	replay_real("claude", "claude-2.1.197-not-logged-in");
	replay_real("claude", "claude-2.1.197-resume-unknown-session");
}
END_TEST

START_TEST(unknown_executor)
{
	ck_assert_ptr_null(dr_adapter_new("gemini"));
	ck_assert_ptr_null(dr_adapter_new(NULL));
	ck_assert_ptr_null(dr_adapter_new("Claude"));
	struct dr_adapter *a = dr_adapter_new("claude");
	ck_assert_str_eq(dr_adapter_executor(a), "claude");
	dr_adapter_free(a);
	dr_adapter_free(NULL);
}
END_TEST

START_TEST(long_text_is_cut_on_a_character)
{
	struct dr_adapter *a = dr_adapter_new("claude");
	struct dr_buf b = DR_BUF_INIT(0);
	dr_buf_addstr(&b, "{\"type\":\"assistant\",\"message\":{\"content\":[{\"type\":\"text\",\"text\":\"");
	for (int i = 0; i < 300; i++)
		dr_buf_addstr(&b, "\xc3\xa9"); /* é */
	dr_buf_addstr(&b, " \\ud83d\\ude00 bad:\xff\xfe end\"}]}}");
	char *p = dr_adapter_feed(a, b.buf, b.len, false);
	ck_assert_ptr_nonnull(p);
	ck_assert(utf8_ok(p));
	ck_assert_uint_le(strlen(p), 240);
	/* "Claude: " (8) + 114 é (228) + "…" (3) = 239: the next é would not fit. */
	ck_assert_uint_eq(strlen(p), 239);
	ck_assert_str_eq(p + 236, "\xe2\x80\xa6");
	ck_assert(strncmp(p, "Claude: \xc3\xa9", 10) == 0);
	free(p);
	const char *reply = dr_adapter_final_reply(a);
	ck_assert(utf8_ok(reply));
	/* The emoji survives; invalid bytes become U+FFFD. */
	ck_assert_ptr_nonnull(strstr(reply, " \xf0\x9f\x98\x80 bad:\xef\xbf\xbd\xef\xbf\xbd end"));
	dr_buf_release(&b);
	dr_adapter_free(a);
}
END_TEST

START_TEST(huge_and_truncated_lines)
{
	struct dr_adapter *a = dr_adapter_new("claude");
	char *p = feed(a, "{\"type\":\"system\",\"subtype\":\"init\",\"session_id\":\"s-1\"}");
	ck_assert_ptr_null(p);

	/* A 900 KB text event is parsed; the reply keeps 64 KiB of it. */
	struct dr_buf b = DR_BUF_INIT(0);
	dr_buf_addstr(&b, "{\"type\":\"assistant\",\"message\":{\"content\":[{\"type\":\"text\",\"text\":\"first line\\n");
	for (int i = 0; i < 900 * 1024 / 16; i++)
		dr_buf_addstr(&b, "0123456789abcdef");
	dr_buf_addstr(&b, "\"}]}}");
	p = dr_adapter_feed(a, b.buf, b.len, false);
	ck_assert_str_eq(p, "Claude: first line");
	free(p);
	ck_assert_uint_eq(strlen(dr_adapter_final_reply(a)), DR_ADAPTER_REPLY_MAX);

	/* The caller cut this one at 1 MiB: ignored even though what is left parses. */
	p = dr_adapter_feed(a, "{\"type\":\"assistant\",\"message\":{\"content\":[{\"type\":\"text\",\"text\":\"cut\"}]}}", 70,
			    true);
	ck_assert_ptr_null(p);
	ck_assert_uint_eq(strlen(dr_adapter_final_reply(a)), DR_ADAPTER_REPLY_MAX);

	/* A 3 MiB line that nobody cut is not parsed either. */
	dr_buf_reset(&b);
	dr_buf_addstr(&b, "{\"type\":\"assistant\",\"message\":{\"content\":[{\"type\":\"text\",\"text\":\"");
	while (b.len < 3u << 20)
		dr_buf_addstr(&b, "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx");
	dr_buf_addstr(&b, "\"}]}}");
	ck_assert_ptr_null(dr_adapter_feed(a, b.buf, b.len, false));
	ck_assert(strncmp(dr_adapter_final_reply(a), "first line\n0123", 15) == 0);
	ck_assert_str_eq(dr_adapter_session_id(a), "s-1");
	dr_buf_release(&b);

	/* Deep nesting is refused before cJSON recurses. */
	dr_buf_init(&b, 0);
	for (int i = 0; i < 5000; i++)
		dr_buf_addstr(&b, "{\"a\":");
	ck_assert_ptr_null(dr_adapter_feed(a, b.buf, b.len, false));
	dr_buf_release(&b);
	dr_adapter_free(a);
}
END_TEST

START_TEST(pending_questions_are_bounded)
{
	struct dr_adapter *a = dr_adapter_new("claude");
	char line[512];
	for (int i = 0; i < 20; i++) {
		snprintf(line, sizeof line,
			 "{\"type\":\"assistant\",\"message\":{\"content\":[{\"type\":\"tool_use\",\"id\":\"q%d\","
			 "\"name\":\"AskUserQuestion\",\"input\":{\"questions\":[{\"question\":\"Q%d?\"}]}}]}}",
			 i, i);
		free(feed(a, line));
	}
	ck_assert_str_eq(cJSON_GetObjectItem(dr_adapter_question(a), "question")->valuestring, "Q19?");
	ck_assert(!dr_adapter_should_stop(a)); /* no session id yet */
	free(feed(a, "{\"type\":\"result\",\"session_id\":\"late\"}"));
	ck_assert(dr_adapter_should_stop(a));
	/* Answering the newest uncovers the one before it. */
	free(feed(a, "{\"type\":\"user\",\"message\":{\"content\":[{\"type\":\"tool_result\",\"tool_use_id\":\"q19\"}]}}"));
	ck_assert_str_eq(cJSON_GetObjectItem(dr_adapter_question(a), "question")->valuestring, "Q18?");
	/* The denial of an older one makes it the pending question again. */
	free(feed(a, "{\"type\":\"result\",\"permission_denials\":[{\"tool_name\":\"AskUserQuestion\","
		     "\"tool_use_id\":\"q15\",\"tool_input\":{\"questions\":[{\"question\":\"Q15 again?\"}]}}]}"));
	ck_assert_str_eq(cJSON_GetObjectItem(dr_adapter_question(a), "question")->valuestring, "Q15 again?");
	for (int i = 0; i < 20; i++) {
		snprintf(line, sizeof line,
			 "{\"type\":\"user\",\"message\":{\"content\":[{\"type\":\"tool_result\",\"tool_use_id\":\"q%d\","
			 "\"is_error\":%s}]}}",
			 i, i % 2 ? "true" : "false");
		free(feed(a, line));
	}
	/* Only the error results leave their question pending: q13, q17 and q15, newest last. */
	ck_assert_str_eq(cJSON_GetObjectItem(dr_adapter_question(a), "question")->valuestring, "Q15 again?");
	dr_adapter_free(a);
}
END_TEST

START_TEST(question_fields_are_capped)
{
	struct dr_adapter *a = dr_adapter_new("claude");
	struct dr_buf b = DR_BUF_INIT(0);
	dr_buf_addstr(&b, "{\"type\":\"assistant\",\"message\":{\"content\":[{\"type\":\"tool_use\",\"id\":\"q\","
			  "\"name\":\"AskUserQuestion\",\"input\":{\"questions\":[{\"question\":\"");
	for (int i = 0; i < 20000; i++)
		dr_buf_addch(&b, 'q');
	dr_buf_addstr(&b, "\",\"header\":\"H\\nI\",\"multiSelect\":\"yes\",\"options\":[");
	for (int i = 0; i < 40; i++)
		dr_buf_addf(&b, "%s{\"label\":\"opt %d\",\"description\":\"\"}", i ? "," : "", i);
	dr_buf_addstr(&b, "]}]}}]}}");
	free(dr_adapter_feed(a, b.buf, b.len, false));
	const cJSON *q = dr_adapter_question(a);
	ck_assert_ptr_nonnull(q);
	ck_assert_uint_eq(strlen(cJSON_GetObjectItem(q, "question")->valuestring), 16 * 1024);
	ck_assert_int_eq(cJSON_GetArraySize(cJSON_GetObjectItem(q, "options")), 16);
	ck_assert_ptr_null(cJSON_GetObjectItem(cJSON_GetArrayItem(cJSON_GetObjectItem(q, "options"), 0), "description"));
	ck_assert_str_eq(cJSON_GetObjectItem(q, "header")->valuestring, "H I");
	ck_assert_ptr_null(cJSON_GetObjectItem(q, "multiSelect"));
	dr_buf_release(&b);
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

static char *const default_args[] = { "--print", "--verbose", "--output-format", "stream-json",
				      "--dangerously-skip-permissions", NULL };

START_TEST(argv_prompt)
{
	struct dr_invocation inv = { .executor = "claude", .command = "/usr/bin/claude", .args = default_args,
				     .prompt = "Fix it", .worktree = "/w/t", .thinking = "high" };
	assert_argv(dr_adapter_argv(&inv),
		    (const char *const[]){ "/usr/bin/claude", "--print", "--verbose", "--output-format", "stream-json",
					   "--dangerously-skip-permissions", "Fix it", NULL });
	inv.model = "opus";
	assert_argv(dr_adapter_argv(&inv),
		    (const char *const[]){ "/usr/bin/claude", "--print", "--verbose", "--output-format", "stream-json",
					   "--dangerously-skip-permissions", "--model", "opus", "Fix it", NULL });
	inv.model = "";
	inv.args = NULL;
	assert_argv(dr_adapter_argv(&inv), (const char *const[]){ "/usr/bin/claude", "Fix it", NULL });
	inv.prompt = "-p evil";
	assert_argv(dr_adapter_argv(&inv), (const char *const[]){ "/usr/bin/claude", " -p evil", NULL });
	inv.prompt = NULL;
	ck_assert_ptr_null(dr_adapter_argv(&inv));
	/* Half a resume context is no resume. */
	inv.prompt = "P";
	inv.resume_session_id = "s";
	assert_argv(dr_adapter_argv(&inv), (const char *const[]){ "/usr/bin/claude", "P", NULL });
}
END_TEST

START_TEST(argv_resume)
{
	char *const args[] = { "--print", NULL };
	struct dr_invocation inv = { .executor = "claude", .command = "claude", .args = args, .prompt = "ignored",
				     .resume_session_id = "2ce8ad80", .resume_user_reply = "Use Redis" };
	assert_argv(dr_adapter_argv(&inv),
		    (const char *const[]){ "claude", "--print", "--resume", "2ce8ad80", "Use Redis", NULL });
	inv.model = "sonnet";
	assert_argv(dr_adapter_argv(&inv), (const char *const[]){ "claude", "--print", "--model", "sonnet",
								  "--resume", "2ce8ad80", "Use Redis", NULL });
	inv.resume_user_reply = "--dangerously-skip-permissions";
	inv.prompt = NULL;
	assert_argv(dr_adapter_argv(&inv), (const char *const[]){ "claude", "--print", "--model", "sonnet", "--resume",
								  "2ce8ad80", " --dangerously-skip-permissions", NULL });
	inv.command = NULL;
	ck_assert_ptr_null(dr_adapter_argv(&inv));
	inv.command = "claude";
	inv.executor = "aider";
	ck_assert_ptr_null(dr_adapter_argv(&inv));
	ck_assert_ptr_null(dr_adapter_argv(NULL));
}
END_TEST

START_TEST(explains_failures)
{
	static const char root_advice[] =
		"Claude Code refuses --dangerously-skip-permissions when it runs as root, so every Claude job fails on "
		"this runner. Run delego-runner as an ordinary user, not as root or through sudo (for example as a "
		"per-user service).";
	char *real = replay_slurp(REAL_DIR "/claude-2.1.197-as-root.stderr", NULL);
	ck_assert_msg(real != NULL, "cannot read " REAL_DIR "/claude-2.1.197-as-root.stderr");
	char *s = dr_adapter_explain_failure("claude", real, "");
	ck_assert_str_eq(s, root_advice);
	free(s);
	free(real);

	s = dr_adapter_explain_failure("claude", NULL,
				       "{\"type\":\"assistant\",\"error\":\"authentication_failed\"}\n");
	ck_assert_str_eq(s, "Claude Code is not logged in on this machine. Log the claude CLI in as the user that runs "
			    "delego-runner (run `claude`, then /login) and retry the job.");
	free(s);
	s = dr_adapter_explain_failure("claude", "There's an issue with the selected model (x).", NULL);
	ck_assert_str_eq(s, "The model requested for this job is not available to the Claude account on this machine. "
			    "Choose another model for the job, or none to use the default.");
	free(s);
	ck_assert_ptr_null(dr_adapter_explain_failure("claude", "segmentation fault", "nothing"));
	ck_assert_ptr_null(dr_adapter_explain_failure("claude", NULL, NULL));
	ck_assert_ptr_null(dr_adapter_explain_failure("gemini", "cannot be used with root/sudo", NULL));
	ck_assert_ptr_null(dr_adapter_explain_failure(NULL, "cannot be used with root/sudo", NULL));
	/* Root advice is claude's: codex says nothing about it. */
	ck_assert_ptr_null(dr_adapter_explain_failure("codex", "cannot be used with root/sudo", NULL));
}
END_TEST

static Suite *adapter_claude_suite(void)
{
	Suite *s = suite_create("adapter_claude");
	TCase *tc = tcase_create("core");
	tcase_set_timeout(tc, 30);
	tcase_add_test(tc, recorded_streams);
	tcase_add_test(tc, real_not_logged_in_stream);
	tcase_add_test(tc, unknown_executor);
	tcase_add_test(tc, long_text_is_cut_on_a_character);
	tcase_add_test(tc, huge_and_truncated_lines);
	tcase_add_test(tc, pending_questions_are_bounded);
	tcase_add_test(tc, question_fields_are_capped);
	tcase_add_test(tc, argv_prompt);
	tcase_add_test(tc, argv_resume);
	tcase_add_test(tc, explains_failures);
	suite_add_tcase(s, tc);
	return s;
}

DR_CHECK_MAIN(adapter_claude_suite)
