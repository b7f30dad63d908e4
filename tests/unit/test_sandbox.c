#include "delego/sandbox.h"
#include "delego/strv.h"
#include "delego/xalloc.h"
#include "../../lib/sandbox-int.h"
#include "check_main.h"
#include "testutil.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

static char home[128], ws[128], src[160], tree[192], gitdir[224];

static void world(void)
{
	tmpdir_make("sandbox");
	snprintf(home, sizeof home, "%s/home", tmpdir);
	snprintf(ws, sizeof ws, "%s/ws", tmpdir);
	snprintf(src, sizeof src, "%s/sources/acme/app.git", ws);
	snprintf(tree, sizeof tree, "%s/worktrees/acme/app/job1", ws);
	snprintf(gitdir, sizeof gitdir, "%s/worktrees/job1", src);
	ck_assert_int_eq(sh("mkdir -p '%s/.ssh' '%s/.config/delego-runner' '%s/objects' '%s/refs' '%s' '%s'", home, home,
			    src, src, gitdir, tree), 0);
	char *dotgit = dr_xasprintf("%s/.git", tree);
	char *line = dr_xasprintf("gitdir: %s\n", gitdir);
	write_text(dotgit, line, 0644);
	free(dotgit);
	free(line);
	char *key = dr_xasprintf("%s/.ssh/id_ed25519", home);
	write_text(key, "key\n", 0600);
	free(key);
}

static bool has(char *const *v, const char *s)
{
	for (; v && *v; v++)
		if (!strcmp(*v, s))
			return true;
	return false;
}

static long index_of(char *const *v, const char *s, long from)
{
	for (long i = from; v[i]; i++)
		if (!strcmp(v[i], s))
			return i;
	return -1;
}

static struct dr_sandbox_policy *policy(enum dr_sandbox_mode mode, bool network, char *const *env)
{
	char *cfg = dr_xasprintf("%s/.config/delego-runner", home);
	char *ours[] = { cfg, ws, NULL };
	char *extra_hide[] = { "/srv/secret", NULL };
	struct dr_sandbox_in in = {
		.mode = mode,
		.network = network,
		.home = home,
		.env = env,
		.runner_dirs = ours,
		.worktree = tree,
		.source = src,
		.extra_hidden = extra_hide,
	};
	struct dr_sandbox_policy *p = dr_sandbox_policy_new(&in);
	free(cfg);
	return p;
}

START_TEST(modes_have_names)
{
	enum dr_sandbox_mode m;
	ck_assert_int_eq(dr_sandbox_parse_mode("landlock", &m), 0);
	ck_assert_int_eq(m, DR_SANDBOX_LANDLOCK);
	ck_assert_int_eq(dr_sandbox_parse_mode("auto", &m), 0);
	ck_assert_int_eq(m, DR_SANDBOX_AUTO);
	ck_assert_int_eq(dr_sandbox_parse_mode("sometimes", &m), -EINVAL);
	ck_assert_str_eq(dr_sandbox_mode_name(DR_SANDBOX_BWRAP), "bwrap");
	bool works;
	char note[512];
	ck_assert_int_eq(dr_sandbox_probe(DR_SANDBOX_OFF, NULL, &works, note, sizeof note), DR_SANDBOX_OFF);
	ck_assert(works);
	ck_assert_int_eq(dr_sandbox_probe(DR_SANDBOX_BWRAP, "/nonexistent/bwrap", &works, note, sizeof note),
			 DR_SANDBOX_OFF);
	ck_assert(!works);
	ck_assert_ptr_nonnull(strstr(note, "bwrap is not installed"));
	ck_assert_ptr_nonnull(strstr(note, "apparmor_restrict_unprivileged_userns"));
}
END_TEST

/* The probe runs bwrap through proc: a bwrap that fails says why in the note; one that works is chosen. */
START_TEST(probe_runs_bwrap_and_keeps_its_reason)
{
	tmpdir_make("probe");
	char *bad = dr_xasprintf("%s/bwrap-bad", tmpdir), *good = dr_xasprintf("%s/bwrap-good", tmpdir);
	write_text(bad, "#!/bin/sh\necho 'bwrap: setting up uid map: Permission denied' >&2\necho more >&2\nexit 1\n",
		   0755);
	/* It must be given the namespaces and the command: `true` last. */
	write_text(good, "#!/bin/sh\nfor a; do last=$a; done\n[ \"$1\" = --unshare-all ] && [ \"$last\" = true ]\n", 0755);
	bool works;
	char note[1024];
	ck_assert_int_eq(dr_sandbox_probe(DR_SANDBOX_BWRAP, bad, &works, note, sizeof note), DR_SANDBOX_OFF);
	ck_assert(!works);
	ck_assert_ptr_nonnull(strstr(note, "(bwrap: bwrap: setting up uid map: Permission denied)"));
	ck_assert_ptr_null(strstr(note, "more"));
	ck_assert_int_eq(dr_sandbox_probe(DR_SANDBOX_BWRAP, good, &works, note, sizeof note), DR_SANDBOX_BWRAP);
	ck_assert(works);
	ck_assert_ptr_nonnull(strstr(note, good));
	free(bad);
	free(good);
}
END_TEST

START_TEST(policy_off_grants_and_hides_nothing)
{
	world();
	struct dr_sandbox_policy *p = policy(DR_SANDBOX_OFF, true, NULL);
	ck_assert_uint_eq(p->writable.n, 0);
	ck_assert_uint_eq(p->hidden.n, 0);
	char *argv[] = { "claude", NULL };
	ck_assert_ptr_null(dr_sandbox_argv(p, "/usr/bin/claude", argv, NULL));
	dr_sandbox_policy_free(p);
	tmpdir_remove();
}
END_TEST

START_TEST(policy_gives_git_what_a_commit_needs_and_hides_the_keys)
{
	world();
	char *env[] = { "CLAUDE_CODE_USE_BEDROCK=1", NULL };
	struct dr_sandbox_policy *p = policy(DR_SANDBOX_BWRAP, true, env);
	ck_assert(has(p->writable.v, tree));
	ck_assert(has(p->writable.v, gitdir));
	char *objects = dr_xasprintf("%s/objects", src), *logs = dr_xasprintf("%s/logs", src);
	char *others = dr_xasprintf("%s/worktrees", src), *ssh = dr_xasprintf("%s/.ssh", home);
	char *claude = dr_xasprintf("%s/.claude", home), *aws = dr_xasprintf("%s/.aws", home);
	ck_assert(has(p->writable.v, objects));
	ck_assert(has(p->writable.v, logs));
	ck_assert(has(p->readable.v, src));
	ck_assert(has(p->hidden.v, others));
	ck_assert(has(p->hidden.v, ssh));
	ck_assert(has(p->hidden.v, ws));
	ck_assert(has(p->hidden.v, "/srv/secret"));
	ck_assert(!has(p->hidden.v, aws)); /* Bedrock needs the AWS credentials */
	ck_assert(has(p->writable.v, claude));
	struct stat st;
	ck_assert_int_eq(stat(claude, &st), 0); /* made, so that it can be bound */
	ck_assert(!has(p->writable.v, "/tmp")); /* bwrap's /tmp is private */
	cJSON *j = dr_sandbox_policy_json(p, NULL);
	char *text = cJSON_PrintUnformatted(j);
	ck_assert_ptr_nonnull(strstr(text, "\"mode\":\"bwrap\""));
	ck_assert_ptr_nonnull(strstr(text, "\"~/.ssh\""));
	ck_assert_ptr_nonnull(strstr(text, "\"~/.claude\""));
	ck_assert_ptr_null(strstr(text, "\"note\""));
	free(text);
	cJSON_Delete(j);
	j = dr_sandbox_policy_json(p, "off: no sandbox works here");
	ck_assert_str_eq(cJSON_GetObjectItem(j, "note")->valuestring, "off: no sandbox works here");
	cJSON_Delete(j);
	free(objects), free(logs), free(others), free(ssh), free(claude), free(aws);
	dr_sandbox_policy_free(p);
	p = policy(DR_SANDBOX_LANDLOCK, true, NULL);
	aws = dr_xasprintf("%s/.aws", home);
	ck_assert(has(p->hidden.v, aws));
	ck_assert(has(p->writable.v, "/tmp"));
	ck_assert(has(p->writable.v, "/dev"));
	free(aws);
	dr_sandbox_policy_free(p);
	tmpdir_remove();
}
END_TEST

START_TEST(bwrap_argv_mounts_deeper_paths_last_and_keeps_the_agent_argv)
{
	world();
	dr__sandbox_set_helpers("/usr/bin/bwrap", "/opt/delego-runner");
	struct dr_sandbox_policy *p = policy(DR_SANDBOX_BWRAP, false, NULL);
	char *argv[] = { "claude", "-p", "do it", NULL };
	char **v = dr_sandbox_argv(p, "/usr/bin/claude", argv, NULL);
	ck_assert_ptr_nonnull(v);
	/* The shim execs bwrap with SIGTERM ignored; inside, the shim gives it back to the agent. */
	ck_assert_str_eq(v[0], "/opt/delego-runner");
	ck_assert_str_eq(v[1], DR_SANDBOX_SHIM_WORD);
	ck_assert_str_eq(v[2], "-T");
	ck_assert_str_eq(v[3], "--");
	ck_assert_str_eq(v[4], "/usr/bin/bwrap");
	ck_assert_int_ge(index_of(v, "--die-with-parent", 0), 1);
	ck_assert_int_ge(index_of(v, "--unshare-pid", 0), 1);
	ck_assert_int_ge(index_of(v, "--unshare-net", 0), 1);
	ck_assert_int_eq(index_of(v, "--new-session", 0), -1);
	long hide_ws = index_of(v, ws, 0), bind_tree = index_of(v, tree, 0);
	ck_assert_int_gt(hide_ws, 0);
	ck_assert_str_eq(v[hide_ws - 1], "--tmpfs");
	ck_assert_int_gt(bind_tree, hide_ws); /* the worktree lands on top of the hidden workspace */
	ck_assert_str_eq(v[bind_tree - 1], "--bind");
	char *key_dir = dr_xasprintf("%s/.ssh", home);
	long hide_ssh = index_of(v, key_dir, 0);
	ck_assert_int_gt(hide_ssh, index_of(v, home, 0)); /* HOME under /tmp comes back read-only first */
	ck_assert_str_eq(v[hide_ssh - 1], "--tmpfs");
	free(key_dir);
	long in = index_of(v, "/opt/delego-runner", 1);
	ck_assert_str_eq(v[in - 1], "--");
	ck_assert_str_eq(v[in + 2], "-U");
	ck_assert_str_eq(v[in + 3], "--");
	ck_assert_str_eq(v[in + 4], "/usr/bin/claude");
	ck_assert_str_eq(v[in + 5], "claude");
	ck_assert_str_eq(v[in + 6], "-p");
	ck_assert_str_eq(v[in + 7], "do it");
	ck_assert_ptr_null(v[in + 8]);
	dr_strv_free(v);
	dr_sandbox_policy_free(p);
	dr__sandbox_set_helpers(NULL, NULL);
	tmpdir_remove();
}
END_TEST

START_TEST(landlock_argv_runs_the_shim_with_the_policy)
{
	world();
	dr__sandbox_set_helpers(NULL, "/opt/delego-runner");
	struct dr_sandbox_policy *p = policy(DR_SANDBOX_LANDLOCK, false, NULL);
	char *argv[] = { "codex", "exec", NULL };
	char **v = dr_sandbox_argv(p, "/usr/bin/codex", argv, "/sys/fs/cgroup/job-1/cgroup.procs");
	ck_assert_str_eq(v[0], "/opt/delego-runner");
	ck_assert_str_eq(v[1], DR_SANDBOX_SHIM_WORD);
	ck_assert_str_eq(v[2], "-c");
	ck_assert_str_eq(v[3], "/sys/fs/cgroup/job-1/cgroup.procs");
	ck_assert_str_eq(v[4], "-n");
	long w = index_of(v, tree, 0);
	ck_assert_str_eq(v[w - 1], "-w");
	long x = index_of(v, ws, 0);
	ck_assert_str_eq(v[x - 1], "-x");
	long dash = index_of(v, "--", 0);
	ck_assert_str_eq(v[dash + 1], "/usr/bin/codex");
	ck_assert_str_eq(v[dash + 2], "codex");
	ck_assert_str_eq(v[dash + 3], "exec");
	ck_assert_ptr_null(v[dash + 4]);
	dr_strv_free(v);
	/* Without a known shim there is no command line: the caller must not run the agent unconfined. */
	dr__sandbox_set_helpers(NULL, NULL);
	ck_assert_ptr_null(dr_sandbox_argv(p, "/usr/bin/codex", argv, NULL));
	dr_sandbox_policy_free(p);
	tmpdir_remove();
}
END_TEST

START_TEST(env_filter_drops_agent_socket_and_tokens_unless_asked)
{
	struct dr_strv env = DR_STRV_INIT;
	const char *in[] = { "PATH=/bin", "SSH_AUTH_SOCK=/tmp/s", "GH_TOKEN=x", "GITHUB_TOKEN=y", "SSH_AUTH_SOCKET=z",
			     NULL };
	for (size_t i = 0; in[i]; i++)
		dr_strv_push(&env, in[i]);
	/* --agent-env entries: a bare name, or NAME=VALUE (a value the user set). */
	char *keep[] = { "GH_TOKEN", "GITHUB_TOKEN=y", NULL };
	dr_sandbox_env_filter(env.v, keep);
	ck_assert_str_eq(env.v[0], "PATH=/bin");
	ck_assert_str_eq(env.v[1], "GH_TOKEN=x");
	ck_assert_str_eq(env.v[2], "GITHUB_TOKEN=y");
	ck_assert_str_eq(env.v[3], "SSH_AUTH_SOCKET=z");
	ck_assert_ptr_null(env.v[4]);
	dr_strv_release(&env);
}
END_TEST

START_TEST(shim_refuses_bad_arguments)
{
	char *bad[] = { "delego-runner", DR_SANDBOX_SHIM_WORD, "-w", "/tmp", NULL };
	ck_assert_int_eq(dr_sandbox_exec_main(4, bad), 125);
	char *noexec[] = { "delego-runner", DR_SANDBOX_SHIM_WORD, "-q", "x", "--", "/bin/true", "true", NULL };
	ck_assert_int_eq(dr_sandbox_exec_main(7, noexec), 125);
}
END_TEST

static Suite *sandbox_suite(void)
{
	Suite *s = suite_create("sandbox");
	TCase *tc = tcase_create("core");
	tcase_add_test(tc, modes_have_names);
	tcase_add_test(tc, probe_runs_bwrap_and_keeps_its_reason);
	tcase_add_test(tc, policy_off_grants_and_hides_nothing);
	tcase_add_test(tc, policy_gives_git_what_a_commit_needs_and_hides_the_keys);
	tcase_add_test(tc, bwrap_argv_mounts_deeper_paths_last_and_keeps_the_agent_argv);
	tcase_add_test(tc, landlock_argv_runs_the_shim_with_the_policy);
	tcase_add_test(tc, env_filter_drops_agent_socket_and_tokens_unless_asked);
	tcase_add_test(tc, shim_refuses_bad_arguments);
	suite_add_tcase(s, tc);
	return s;
}

DR_CHECK_MAIN(sandbox_suite)
