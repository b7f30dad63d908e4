#include "delego/childenv.h"
#include "delego/xalloc.h"
#include "check_main.h"

#include <stdlib.h>
#include <string.h>

static char *src[] = {
	"PATH=/usr/bin:/bin",
	"HOME=/home/u",
	"USER=u",
	"LANG=C.UTF-8",
	"LC_ALL=C",
	"XDG_CONFIG_HOME=/home/u/.config",
	"SSH_AUTH_SOCK=/tmp/agent.sock",
	"https_proxy=http://proxy:3128",
	"NO_PROXY=localhost",
	"ANTHROPIC_API_KEY=sk-ant",
	"CLAUDE_CODE_USE_BEDROCK=1",
	"OPENAI_API_KEY=sk-oa",
	"CODEX_HOME=/home/u/.codex",
	"GH_TOKEN=ghp_x",
	"GITHUB_TOKEN=ghp_y",
	"GH_HOST=github.example.com",
	"GIT_SSH_COMMAND=ssh -i key",
	"GIT_AUTHOR_NAME=A",
	"GIT_CONFIG_GLOBAL=/home/u/.gitconfig-work",
	"GIT_DIR=/somewhere/else/.git",
	"GIT_WORK_TREE=/somewhere/else",
	"GIT_INDEX_FILE=/tmp/index",
	"DELEGO_BEARER=drs_secret",
	"DELEGO_PAIRING_TOKEN=drs_pair_x",
	"DELEGO=1",
	"AWS_SECRET_ACCESS_KEY=aws",
	"LD_PRELOAD=/evil.so",
	"NODE_OPTIONS=--require /evil.js",
	"PATHX=1",
	"LC_=empty-suffix",
	"HOME=/second/home",
	"NOEQUALS",
	NULL,
};

START_TEST(agent_env_keeps_the_list_and_drops_the_rest)
{
	char **e = dr_childenv_build(src, DR_CHILDENV_AGENT, NULL);
	ck_assert_str_eq(dr_childenv_get(e, "PATH"), "/usr/bin:/bin");
	ck_assert_str_eq(dr_childenv_get(e, "HOME"), "/home/u"); /* the first wins */
	ck_assert_str_eq(dr_childenv_get(e, "LC_ALL"), "C");
	ck_assert_str_eq(dr_childenv_get(e, "XDG_CONFIG_HOME"), "/home/u/.config");
	ck_assert_str_eq(dr_childenv_get(e, "SSH_AUTH_SOCK"), "/tmp/agent.sock");
	ck_assert_str_eq(dr_childenv_get(e, "https_proxy"), "http://proxy:3128");
	ck_assert_str_eq(dr_childenv_get(e, "NO_PROXY"), "localhost");
	ck_assert_str_eq(dr_childenv_get(e, "ANTHROPIC_API_KEY"), "sk-ant");
	ck_assert_str_eq(dr_childenv_get(e, "CLAUDE_CODE_USE_BEDROCK"), "1");
	ck_assert_str_eq(dr_childenv_get(e, "OPENAI_API_KEY"), "sk-oa");
	ck_assert_str_eq(dr_childenv_get(e, "CODEX_HOME"), "/home/u/.codex");
	ck_assert_str_eq(dr_childenv_get(e, "GIT_AUTHOR_NAME"), "A");
	ck_assert_str_eq(dr_childenv_get(e, "GIT_SSH_COMMAND"), "ssh -i key");
	const char *dropped[] = { "GH_TOKEN", "GITHUB_TOKEN", "GH_HOST", "GIT_DIR", "GIT_WORK_TREE",
				  "GIT_INDEX_FILE", "DELEGO_BEARER", "DELEGO_PAIRING_TOKEN", "DELEGO",
				  "AWS_SECRET_ACCESS_KEY", "LD_PRELOAD", "NODE_OPTIONS", "PATHX", "LC_", "NOEQUALS" };
	for (size_t i = 0; i < sizeof(dropped) / sizeof(*dropped); i++)
		ck_assert_msg(dr_childenv_get(e, dropped[i]) == NULL, "%s reached an agent", dropped[i]);
	for (char **p = e; *p; p++)
		ck_assert_msg(strncmp(*p, "DELEGO", 6) != 0, "%s leaked", *p);
	size_t homes = 0;
	for (char **p = e; *p; p++)
		homes += !strncmp(*p, "HOME=", 5);
	ck_assert_uint_eq(homes, 1);
	dr_strv_free(e);
}
END_TEST

START_TEST(tool_env_gets_github_tokens_not_agent_keys)
{
	char *extra[] = { "GIT_TERMINAL_PROMPT=0", "DELEGO_BEARER=again", "HOME=/override", "USER", NULL };
	char **e = dr_childenv_build(src, DR_CHILDENV_TOOL, extra);
	ck_assert_str_eq(dr_childenv_get(e, "GH_TOKEN"), "ghp_x");
	ck_assert_str_eq(dr_childenv_get(e, "GITHUB_TOKEN"), "ghp_y");
	ck_assert_str_eq(dr_childenv_get(e, "GH_HOST"), "github.example.com");
	ck_assert_str_eq(dr_childenv_get(e, "GIT_CONFIG_GLOBAL"), "/home/u/.gitconfig-work");
	ck_assert_str_eq(dr_childenv_get(e, "GIT_TERMINAL_PROMPT"), "0");
	ck_assert_str_eq(dr_childenv_get(e, "HOME"), "/override");
	ck_assert_ptr_null(dr_childenv_get(e, "USER")); /* removed by a bare name */
	ck_assert_ptr_null(dr_childenv_get(e, "ANTHROPIC_API_KEY"));
	ck_assert_ptr_null(dr_childenv_get(e, "OPENAI_API_KEY"));
	ck_assert_ptr_null(dr_childenv_get(e, "DELEGO_BEARER")); /* not even as an extra */
	ck_assert_ptr_null(dr_childenv_get(e, "GIT_DIR"));
	dr_strv_free(e);
}
END_TEST

START_TEST(default_source_is_our_environ)
{
	setenv("DELEGO_RELAY_URL", "http://x", 1);
	setenv("LC_TIME", "C", 1);
	char **e = dr_childenv_build(NULL, DR_CHILDENV_AGENT, NULL);
	ck_assert_ptr_null(dr_childenv_get(e, "DELEGO_RELAY_URL"));
	ck_assert_str_eq(dr_childenv_get(e, "LC_TIME"), "C");
	dr_strv_free(e);
	ck_assert(dr_childenv_allowed("PATH", 4, DR_CHILDENV_TOOL));
	ck_assert(!dr_childenv_allowed("PATH", 3, DR_CHILDENV_TOOL)); /* "PAT" */
	ck_assert(!dr_childenv_allowed("DELEGO_X", 8, DR_CHILDENV_AGENT));
	ck_assert(dr_childenv_allowed("DELEGOX", 7, DR_CHILDENV_AGENT) == false);
}
END_TEST

static Suite *childenv_suite(void)
{
	Suite *s = suite_create("childenv");
	TCase *tc = tcase_create("core");
	tcase_add_test(tc, agent_env_keeps_the_list_and_drops_the_rest);
	tcase_add_test(tc, tool_env_gets_github_tokens_not_agent_keys);
	tcase_add_test(tc, default_source_is_our_environ);
	suite_add_tcase(s, tc);
	return s;
}

DR_CHECK_MAIN(childenv_suite)
