#include "delego/config.h"
#include "delego/credentials.h"
#include "delego/xalloc.h"
#include "check_main.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static char tmpdir[64];
static char err[1024];

static void setup(void)
{
	strcpy(tmpdir, "/tmp/dr-config-XXXXXX");
	ck_assert_ptr_nonnull(mkdtemp(tmpdir));
}

static void teardown(void)
{
	char *cmd = dr_xasprintf("rm -rf %s", tmpdir);
	ck_assert_int_eq(system(cmd), 0);
	free(cmd);
}

static char *write_yaml(const char *text)
{
	char *path = dr_xasprintf("%s/config.yaml", tmpdir);
	FILE *f = fopen(path, "w");
	ck_assert_ptr_nonnull(f);
	fputs(text, f);
	fclose(f);
	return path;
}

/* Loads with argv given as a NULL-terminated list and env as a list. */
static int load(struct dr_config **c, char **env, const char *first, ...)
{
	char *argv[32];
	int argc = 0;
	va_list ap;
	va_start(ap, first);
	for (const char *a = first; a; a = va_arg(ap, const char *))
		argv[argc++] = (char *)a;
	va_end(ap);
	argv[argc] = NULL;
	return dr_config_load(argc, argv, env, c, err, sizeof err);
}

START_TEST(defaults_match_the_protocol)
{
	char *env[] = { "HOME=/home/u", NULL };
	struct dr_config *c;
	ck_assert_int_eq(load(&c, env, NULL), 0);
	ck_assert_str_eq(c->profile, "default");
	ck_assert_ptr_null(c->relay_url);
	ck_assert_str_eq(c->workspace_root, "/home/u/delego-runner/workspace");
	ck_assert_str_eq(c->git_clone_base_url, "git@github.com:");
	ck_assert_str_eq(c->claude.command, "claude");
	ck_assert_str_eq(c->claude.args[0], "--print");
	ck_assert_str_eq(c->claude.args[3], "stream-json");
	ck_assert_str_eq(c->claude.args[4], "--dangerously-skip-permissions");
	ck_assert_ptr_null(c->claude.args[5]);
	ck_assert_str_eq(c->codex.args[0], "exec");
	ck_assert_str_eq(c->supported_executors[0], "codex");
	ck_assert_str_eq(c->supported_executors[1], "claude");
	ck_assert_uint_eq(c->executor_timeout_ms, 1800000);
	ck_assert_uint_eq(c->heartbeat_interval_ms, 300000);
	ck_assert_uint_eq(c->poll_interval_ms, 10000);
	ck_assert_uint_eq(c->cancellation_poll_interval_ms, 5000);
	ck_assert_int_eq(c->max_jobs, 1);
	ck_assert(c->create_commit);
	ck_assert(!c->once);
	ck_assert_str_eq(c->credentials_path, "/home/u/.config/delego-runner/credentials.json");
	ck_assert_str_eq(c->state_dir, "/home/u/.local/state/delego-runner/default");
	ck_assert_str_eq(dr_config_source(c, "poll-interval-ms"), "default");
	dr_config_free(c);
}
END_TEST

START_TEST(flags_beat_env_beat_file_beat_defaults)
{
	char *path = write_yaml("poll-interval-ms: 2000\nheartbeat-interval-ms: 3000\nmax-jobs: 3\n"
				"workspace-root: /ws/file\n");
	char *cfg = dr_xasprintf("DELEGO_CONFIG=%s", path);
	char *env[] = { "HOME=/home/u", cfg, "DELEGO_HEARTBEAT_INTERVAL_MS=4000", "DELEGO_MAX_JOBS=5", NULL };
	struct dr_config *c;
	ck_assert_int_eq(load(&c, env, "--max-jobs", "7", NULL), 0);
	ck_assert_uint_eq(c->poll_interval_ms, 2000);
	ck_assert_uint_eq(c->heartbeat_interval_ms, 4000);
	ck_assert_int_eq(c->max_jobs, 7);
	ck_assert_str_eq(c->workspace_root, "/ws/file");
	ck_assert_str_eq(dr_config_source(c, "heartbeat-interval-ms"), "env DELEGO_HEARTBEAT_INTERVAL_MS");
	ck_assert_str_eq(dr_config_source(c, "max-jobs"), "flag --max-jobs");
	ck_assert_ptr_nonnull(strstr(dr_config_source(c, "poll-interval-ms"), "config.yaml:1:19"));
	dr_config_free(c);
	free(cfg);
	free(path);
}
END_TEST

START_TEST(profile_section_applies_to_its_profile_only)
{
	char *path = write_yaml("poll-interval-ms: 2000\nprofiles:\n  work:\n    poll-interval-ms: 9000\n"
				"    supported-executors: [claude]\n  home:\n    poll-interval-ms: 1000\n");
	struct dr_config *c;
	char *env[] = { "HOME=/h", NULL };
	ck_assert_int_eq(load(&c, env, "--config", path, "--profile", "work", NULL), 0);
	ck_assert_uint_eq(c->poll_interval_ms, 9000);
	ck_assert_str_eq(c->supported_executors[0], "claude");
	ck_assert_ptr_null(c->supported_executors[1]);
	ck_assert_str_eq(c->state_dir, "/h/.local/state/delego-runner/work");
	dr_config_free(c);
	ck_assert_int_eq(load(&c, env, "--config", path, NULL), 0);
	ck_assert_uint_eq(c->poll_interval_ms, 2000);
	dr_config_free(c);
	free(path);
}
END_TEST

START_TEST(file_profile_key_selects_its_section)
{
	char *path = write_yaml("profile: work\npoll-interval-ms: 2000\nprofiles:\n  work:\n    poll-interval-ms: 9000\n");
	struct dr_config *c;
	char *env[] = { "HOME=/h", NULL };
	ck_assert_int_eq(load(&c, env, "--config", path, NULL), 0);
	ck_assert_str_eq(c->profile, "work");
	ck_assert_uint_eq(c->poll_interval_ms, 9000);
	dr_config_free(c);
	/* A flag still wins over the file's choice. */
	ck_assert_int_eq(load(&c, env, "--config", path, "--profile", "default", NULL), 0);
	ck_assert_str_eq(c->profile, "default");
	ck_assert_uint_eq(c->poll_interval_ms, 2000);
	dr_config_free(c);
	free(path);
}
END_TEST

START_TEST(minimums_are_enforced_and_name_the_source)
{
	struct dr_config *c;
	char *env[] = { "HOME=/h", "DELEGO_SAFETY_SYNC_INTERVAL_MS=29999", NULL };
	ck_assert_int_eq(load(&c, env, NULL), -EINVAL);
	ck_assert_str_eq(err, "env DELEGO_SAFETY_SYNC_INTERVAL_MS: --safety-sync-interval-ms must be a whole "
			      "number of at least 30000 (got '29999')");
	char *env2[] = { "HOME=/h", NULL };
	ck_assert_int_eq(load(&c, env2, "--poll-interval-ms=999", NULL), -EINVAL);
	ck_assert_ptr_nonnull(strstr(err, "flag --poll-interval-ms"));
	ck_assert_int_eq(load(&c, env2, "--executor-timeout-ms", "12abc", NULL), -EINVAL);
	ck_assert_int_eq(load(&c, env2, "--max-jobs", "65", NULL), -EINVAL);
	ck_assert_int_eq(load(&c, env2, "--fallback-poll-interval-ms", "4999", NULL), -EINVAL);
	ck_assert_int_eq(load(&c, env2, "--heartbeat-interval-ms", "1000", NULL), 0);
	dr_config_free(c);
}
END_TEST

START_TEST(file_errors_carry_line_and_column)
{
	char *path = write_yaml("poll-interval-ms: 2000\npoll-intreval-ms: 5\n");
	struct dr_config *c;
	char *env[] = { "HOME=/h", NULL };
	ck_assert_int_eq(load(&c, env, "--config", path, NULL), -EBADMSG);
	char *want = dr_xasprintf("%s:2:1: unknown setting 'poll-intreval-ms'", path);
	ck_assert_str_eq(err, want);
	free(want);
	free(path);
	path = write_yaml("max-jobs: 0\n");
	ck_assert_int_eq(load(&c, env, "--config", path, NULL), -EINVAL);
	ck_assert_ptr_nonnull(strstr(err, "config.yaml:1:11: --max-jobs must be a whole number from 1 to 64"));
	free(path);
	path = write_yaml("a: [unclosed\n");
	ck_assert_int_eq(load(&c, env, "--config", path, NULL), -EBADMSG);
	ck_assert_ptr_nonnull(strstr(err, "config.yaml:"));
	free(path);
	/* A named file that is missing is an error; the default one is optional. */
	ck_assert_int_eq(load(&c, env, "--config", "/nonexistent/x.yaml", NULL), -ENOENT);
	ck_assert_ptr_nonnull(strstr(err, "cannot read config file /nonexistent/x.yaml"));
}
END_TEST

/* The bytes alone, as the fuzzer gives them: no file, errors name the text. */
START_TEST(text_parses_without_a_file)
{
	struct dr_config *c;
	char *env[] = { "HOME=/h", NULL };
	static const char text[] = "max-jobs: 3\nprofiles:\n  default:\n    poll-interval-ms: 2500\n";
	ck_assert_int_eq(dr_config_parse(text, strlen(text), "t.yaml", env, &c, err, sizeof err), 0);
	ck_assert_int_eq(c->max_jobs, 3);
	ck_assert_uint_eq(c->poll_interval_ms, 2500);
	ck_assert_str_eq(dr_config_source(c, "max-jobs"), "t.yaml:1:11");
	dr_config_free(c);
	/* Not NUL-terminated: only len bytes count. */
	ck_assert_int_eq(dr_config_parse("max-jobs: 2x", 11, "t.yaml", env, &c, err, sizeof err), 0);
	ck_assert_int_eq(c->max_jobs, 2);
	dr_config_free(c);
	ck_assert_int_eq(dr_config_parse("max-jobs: 2\nbogus: 1\n", 21, "t.yaml", env, &c, err, sizeof err),
			 -EBADMSG);
	ck_assert_str_eq(err, "t.yaml:2:1: unknown setting 'bogus'");
	ck_assert_int_eq(dr_config_parse(NULL, 0, "empty.yaml", env, &c, err, sizeof err), 0);
	dr_config_free(c);
}
END_TEST

START_TEST(executors_and_args_parse)
{
	struct dr_config *c;
	char *env[] = { "HOME=/h", "DELEGO_CODEX_ARGS=exec  --foo\tbar", NULL };
	ck_assert_int_eq(load(&c, env, "--supported-executors", " Claude, codex ,claude", NULL), 0);
	ck_assert_str_eq(c->supported_executors[0], "claude");
	ck_assert_str_eq(c->supported_executors[1], "codex");
	ck_assert_ptr_null(c->supported_executors[2]);
	ck_assert(dr_config_supports(c, "codex"));
	ck_assert_str_eq(c->codex.args[1], "--foo");
	ck_assert_str_eq(c->codex.args[2], "bar");
	dr_config_free(c);
	ck_assert_int_eq(load(&c, env, "--supported-executors", "gemini", NULL), -EINVAL);
	ck_assert_ptr_nonnull(strstr(err, "unknown executor 'gemini'"));
	ck_assert_int_eq(load(&c, env, "--supported-executors", ",", NULL), -EINVAL);
	ck_assert_ptr_nonnull(strstr(err, "at least one of codex, claude"));
}
END_TEST

START_TEST(commit_switch_has_three_spellings)
{
	struct dr_config *c;
	char *env[] = { "HOME=/h", NULL };
	ck_assert_int_eq(load(&c, env, "--no-commit", NULL), 0);
	ck_assert(!c->create_commit);
	dr_config_free(c);
	char *env2[] = { "HOME=/h", "DELEGO_CREATE_COMMIT=false", NULL };
	ck_assert_int_eq(load(&c, env2, NULL), 0);
	ck_assert(!c->create_commit);
	dr_config_free(c);
	char *path = write_yaml("create-commit: false\n");
	ck_assert_int_eq(load(&c, env, "--config", path, NULL), 0);
	ck_assert(!c->create_commit);
	dr_config_free(c);
	free(path);
}
END_TEST

START_TEST(bad_flags_and_profiles_are_usage_errors)
{
	struct dr_config *c;
	char *env[] = { "HOME=/h", NULL };
	ck_assert_int_eq(load(&c, env, "--relay-urll", "x", NULL), -EINVAL);
	ck_assert_str_eq(err, "unknown option '--relay-urll' (see delego-runner --help)");
	ck_assert_int_eq(load(&c, env, "--profile", "Work", NULL), -EINVAL);
	ck_assert_ptr_nonnull(strstr(err, "--profile must match"));
	ck_assert_int_eq(load(&c, env, "--relay-url", NULL), -EINVAL);
	ck_assert_str_eq(err, "flag --relay-url needs a value");
	ck_assert_int_eq(load(&c, env, "--relay-url", "ftp://x", NULL), -EINVAL);
	ck_assert_ptr_nonnull(strstr(err, "not an http:// or https:// URL"));
	ck_assert_int_eq(load(&c, env, "-b", "extra", "--once", NULL), 0);
	ck_assert(c->background);
	ck_assert(c->once);
	ck_assert_str_eq(c->positional[0], "extra");
	dr_config_free(c);
}
END_TEST

START_TEST(profile_extension_fills_only_defaults)
{
	struct dr_config *c;
	char *env[] = { "HOME=/h", NULL };
	char *ex[] = { "claude", "bogus", NULL };
	struct dr_profile p = { .workspace_root = "/from/profile", .supported_executors = ex };
	ck_assert_int_eq(load(&c, env, NULL), 0);
	dr_config_apply_profile(c, &p);
	ck_assert_str_eq(c->workspace_root, "/from/profile");
	ck_assert_str_eq(c->supported_executors[0], "claude");
	ck_assert_ptr_null(c->supported_executors[1]);
	dr_config_free(c);
	ck_assert_int_eq(load(&c, env, "--workspace-root", "/flag", NULL), 0);
	dr_config_apply_profile(c, &p);
	ck_assert_str_eq(c->workspace_root, "/flag");
	dr_config_free(c);
}
END_TEST

START_TEST(describe_masks_the_pairing_token)
{
	struct dr_config *c;
	char *env[] = { "HOME=/h", NULL };
	ck_assert_int_eq(load(&c, env, "--pairing-token", "drs_pair_secretsecret", NULL), 0);
	char *text = dr_config_describe(c);
	ck_assert_ptr_null(strstr(text, "secretsecret"));
	ck_assert_ptr_nonnull(strstr(text, "********"));
	free(text);
	dr_config_free(c);
}
END_TEST

START_TEST(agent_env_is_a_repeatable_list)
{
	struct dr_config *c;
	char *env[] = { "HOME=/h", NULL };
	ck_assert_int_eq(load(&c, env, NULL), 0);
	ck_assert_ptr_null(c->agent_env);
	ck_assert_uint_eq(c->agent_stall_timeout_ms, 300000);
	dr_config_free(c);

	char *path = write_yaml("agent-env:\n  - AWS_PROFILE\n  - MY_API_KEY=sk-file-secret\n"
				"agent-stall-timeout-ms: 0\n");
	ck_assert_int_eq(load(&c, env, "--config", path, NULL), 0);
	ck_assert_str_eq(c->agent_env[0], "AWS_PROFILE");
	ck_assert_str_eq(c->agent_env[1], "MY_API_KEY=sk-file-secret");
	ck_assert_ptr_null(c->agent_env[2]);
	ck_assert_uint_eq(c->agent_stall_timeout_ms, 0);
	char *text = dr_config_describe(c);
	ck_assert_msg(strstr(text, "AWS_PROFILE, MY_API_KEY=********") != NULL, "%s", text);
	ck_assert_ptr_null(strstr(text, "sk-file-secret"));
	free(text);
	dr_config_free(c);

	/* Flags replace the file's list and add up among themselves; values may hold spaces and commas. */
	ck_assert_int_eq(load(&c, env, "--config", path, "--agent-env", "SSH_AUTH_SOCK", "--agent-env=GREETING=a, b",
			      "--agent-env", "EMPTY=", NULL),
			 0);
	ck_assert_str_eq(c->agent_env[0], "SSH_AUTH_SOCK");
	ck_assert_str_eq(c->agent_env[1], "GREETING=a, b");
	ck_assert_str_eq(c->agent_env[2], "EMPTY=");
	ck_assert_ptr_null(c->agent_env[3]);
	text = dr_config_describe(c);
	ck_assert_msg(strstr(text, "SSH_AUTH_SOCK, GREETING=a, b, EMPTY=") != NULL, "%s", text);
	free(text);
	dr_config_free(c);

	const char *bad[] = { "DELEGO_BEARER", "DELEGO=1", "1ABC=x", "=x", "BAD NAME=x", "A-B", "X=a\nY=b" };
	for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
		ck_assert_msg(load(&c, env, "--agent-env", bad[i], NULL) == -EINVAL, "%s accepted", bad[i]);
		ck_assert_msg(strstr(err, "--agent-env") != NULL, "%s: %s", bad[i], err);
	}
	free(path);
	path = write_yaml("agent-env: [\"DELEGO_PAIRING_TOKEN\"]\n");
	ck_assert_int_eq(load(&c, env, "--config", path, NULL), -EINVAL);
	ck_assert_msg(strstr(err, "not starting with DELEGO_") != NULL, "%s", err);
	free(path);
}
END_TEST

static Suite *config_suite(void)
{
	Suite *s = suite_create("config");
	TCase *tc = tcase_create("core");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, defaults_match_the_protocol);
	tcase_add_test(tc, flags_beat_env_beat_file_beat_defaults);
	tcase_add_test(tc, profile_section_applies_to_its_profile_only);
	tcase_add_test(tc, file_profile_key_selects_its_section);
	tcase_add_test(tc, minimums_are_enforced_and_name_the_source);
	tcase_add_test(tc, file_errors_carry_line_and_column);
	tcase_add_test(tc, executors_and_args_parse);
	tcase_add_test(tc, commit_switch_has_three_spellings);
	tcase_add_test(tc, bad_flags_and_profiles_are_usage_errors);
	tcase_add_test(tc, profile_extension_fills_only_defaults);
	tcase_add_test(tc, describe_masks_the_pairing_token);
	tcase_add_test(tc, text_parses_without_a_file);
	tcase_add_test(tc, agent_env_is_a_repeatable_list);
	suite_add_tcase(s, tc);
	return s;
}

DR_CHECK_MAIN(config_suite)
