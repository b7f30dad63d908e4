#include "delego/childenv.h"
#include "delego/strv.h"
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
	"AWS_REGION=eu-west-1",
	"AWS_PROFILE=bedrock",
	"GOOGLE_APPLICATION_CREDENTIALS=/home/u/gcp.json",
	"CLOUD_ML_REGION=us-east5",
	"ANTHROPIC_VERTEX_PROJECT_ID=proj",
	"NODE_OPTIONS=--max-old-space-size=4096",
	"NODE_EXTRA_CA_CERTS=/etc/corp-ca.pem",
	"JAVA_HOME=/usr/lib/jvm/java-17",
	"GOPATH=/home/u/go",
	"GOROOT=/usr/local/go",
	"CARGO_HOME=/home/u/.cargo",
	"RUSTUP_HOME=/home/u/.rustup",
	"NVM_DIR=/home/u/.nvm",
	"PYENV_ROOT=/home/u/.pyenv",
	"VIRTUAL_ENV=/home/u/venv",
	"PNPM_HOME=/home/u/.pnpm",
	"LD_PRELOAD=/evil.so",
	"SECRET_PLAN=x",
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
	ck_assert_str_eq(dr_childenv_get(e, "https_proxy"), "http://proxy:3128");
	ck_assert_str_eq(dr_childenv_get(e, "NO_PROXY"), "localhost");
	ck_assert_str_eq(dr_childenv_get(e, "ANTHROPIC_API_KEY"), "sk-ant");
	ck_assert_str_eq(dr_childenv_get(e, "CLAUDE_CODE_USE_BEDROCK"), "1");
	ck_assert_str_eq(dr_childenv_get(e, "OPENAI_API_KEY"), "sk-oa");
	ck_assert_str_eq(dr_childenv_get(e, "CODEX_HOME"), "/home/u/.codex");
	ck_assert_str_eq(dr_childenv_get(e, "GIT_AUTHOR_NAME"), "A");
	ck_assert_str_eq(dr_childenv_get(e, "GIT_SSH_COMMAND"), "ssh -i key");
	/* Bedrock, Vertex, Node and the toolchains. */
	const char *provider[] = { "AWS_SECRET_ACCESS_KEY", "AWS_REGION", "AWS_PROFILE", "GOOGLE_APPLICATION_CREDENTIALS",
				   "CLOUD_ML_REGION", "ANTHROPIC_VERTEX_PROJECT_ID", "NODE_OPTIONS",
				   "NODE_EXTRA_CA_CERTS", "JAVA_HOME", "GOPATH", "GOROOT", "CARGO_HOME", "RUSTUP_HOME",
				   "NVM_DIR", "PYENV_ROOT", "VIRTUAL_ENV", "PNPM_HOME" };
	for (size_t i = 0; i < sizeof(provider) / sizeof(*provider); i++)
		ck_assert_msg(dr_childenv_get(e, provider[i]) != NULL, "%s did not reach the agent", provider[i]);
	const char *dropped[] = { "GH_TOKEN", "GITHUB_TOKEN", "GH_HOST", "SSH_AUTH_SOCK", "GIT_DIR", "GIT_WORK_TREE",
				  "GIT_INDEX_FILE", "DELEGO_BEARER", "DELEGO_PAIRING_TOKEN", "DELEGO",
				  "LD_PRELOAD", "SECRET_PLAN", "PATHX", "LC_", "NOEQUALS" };
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
	ck_assert_str_eq(dr_childenv_get(e, "SSH_AUTH_SOCK"), "/tmp/agent.sock");
	ck_assert_ptr_null(dr_childenv_get(e, "AWS_SECRET_ACCESS_KEY"));
	ck_assert_ptr_null(dr_childenv_get(e, "NODE_OPTIONS"));
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

/* --agent-env: a bare name passes ours, NAME=VALUE sets it; DELEGO_* never, extra still wins. */
START_TEST(requested_names_pass_and_set)
{
	char *requested[] = { "SSH_AUTH_SOCK", "GH_TOKEN", "SECRET_PLAN", "MY_FLAG=on", "AWS_REGION=us-west-2",
			      "DELEGO_BEARER", "DELEGO_X=1", "NOT_THERE", NULL };
	char *extra[] = { "MY_FLAG=extra", NULL };
	char **e = dr_childenv_build_with(src, DR_CHILDENV_AGENT, requested, extra);
	ck_assert_str_eq(dr_childenv_get(e, "SSH_AUTH_SOCK"), "/tmp/agent.sock");
	ck_assert_str_eq(dr_childenv_get(e, "GH_TOKEN"), "ghp_x");
	ck_assert_str_eq(dr_childenv_get(e, "SECRET_PLAN"), "x");
	ck_assert_str_eq(dr_childenv_get(e, "AWS_REGION"), "us-west-2");
	ck_assert_str_eq(dr_childenv_get(e, "MY_FLAG"), "extra");
	ck_assert_ptr_null(dr_childenv_get(e, "GITHUB_TOKEN")); /* not requested */
	ck_assert_ptr_null(dr_childenv_get(e, "NOT_THERE"));
	for (char **p = e; *p; p++)
		ck_assert_msg(strncmp(*p, "DELEGO", 6) != 0, "%s leaked", *p);
	dr_strv_free(e);

	ck_assert(dr_childenv_requested(requested, "SSH_AUTH_SOCK"));
	ck_assert(dr_childenv_requested(requested, "MY_FLAG"));
	ck_assert(!dr_childenv_requested(requested, "GITHUB_TOKEN"));
	ck_assert(!dr_childenv_requested(requested, "SSH_AUTH"));
	ck_assert(!dr_childenv_requested(NULL, "SSH_AUTH_SOCK"));
	ck_assert(!dr_childenv_requested(requested, NULL));
	ck_assert(dr_childenv_requested_n(requested, "GH_TOKEN=ghp", 8));
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
	tcase_add_test(tc, requested_names_pass_and_set);
	tcase_add_test(tc, default_source_is_our_environ);
	suite_add_tcase(s, tc);
	return s;
}

DR_CHECK_MAIN(childenv_suite)
