/* test_workspace: preparing worktrees, committing, pushing and pull requests against real git. */
#include "check_main.h"
#include "workspace_world.h"

/* ---- pure helpers ---- */

START_TEST(clone_url_rule)
{
	char *u = dr_workspace_clone_url("git@github.com:", "acme/app");
	ck_assert_str_eq(u, "git@github.com:acme/app.git");
	free(u);
	u = dr_workspace_clone_url("https://github.com", "acme/app");
	ck_assert_str_eq(u, "https://github.com/acme/app.git");
	free(u);
	u = dr_workspace_clone_url("https://git.example.com/", "acme/app");
	ck_assert_str_eq(u, "https://git.example.com/acme/app.git");
	free(u);
}
END_TEST

/* ---- git, for real ---- */

START_TEST(prepare_clones_and_cuts_a_worktree)
{
	struct dr_workspace_tree t = { 0 };
	struct wait w;
	ck_assert_msg(prepare("Job1234abcd", "delego/eng-1-job1234a", &t, &w) == 0, "%s", w.err);
	char want[PATH_MAX * 2];
	snprintf(want, sizeof(want), "%s/sources/acme/app.git", root);
	ck_assert_str_eq(t.source_path, want);
	snprintf(want, sizeof(want), "%s/worktrees/acme/app/Job1234abcd", root);
	ck_assert_str_eq(t.worktree_path, want);
	ck_assert_str_eq(t.branch, "delego/eng-1-job1234a");
	ck_assert(!t.reused && !t.reattached && !t.seeded);
	ck_assert_ptr_null(t.fetch_warning);
	char *main_sha = upstream_main();
	ck_assert_str_eq(t.starting_sha, main_sha);
	char *b = sh_out("git -C '%s' rev-parse --abbrev-ref HEAD", t.worktree_path);
	ck_assert_str_eq(b, "delego/eng-1-job1234a");
	char *bare = sh_out("git --git-dir '%s' rev-parse --is-bare-repository", t.source_path);
	ck_assert_str_eq(bare, "true");
	free(b);
	free(bare);
	free(main_sha);
	dr_workspace_tree_release(&t);
}
END_TEST

START_TEST(new_worktrees_start_from_a_fresh_fetch_and_a_follow_up_reuses_its_own)
{
	struct dr_workspace_tree t1 = { 0 }, t2 = { 0 }, t3 = { 0 };
	struct wait w;
	ck_assert_msg(prepare("job-one", "delego/eng-1-job-one", &t1, &w) == 0, "%s", w.err);
	upstream_commit("README.md");
	char *fresh = upstream_main();
	ck_assert_str_ne(t1.starting_sha, fresh);
	ck_assert_msg(prepare("job-two", "delego/eng-2-job-two", &t2, &w) == 0, "%s", w.err);
	ck_assert_str_eq(t2.starting_sha, fresh); /* the Node runner would start from the stale base */
	ck_assert_msg(prepare("job-one", "delego/eng-1-job-one", &t3, &w) == 0, "%s", w.err);
	ck_assert(t3.reused);
	ck_assert_str_eq(t3.worktree_path, t1.worktree_path);
	ck_assert_str_eq(t3.starting_sha, t1.starting_sha);
	free(fresh);
	dr_workspace_tree_release(&t1);
	dr_workspace_tree_release(&t2);
	dr_workspace_tree_release(&t3);
}
END_TEST

START_TEST(fetch_failure_is_a_warning_not_a_failure)
{
	struct dr_workspace_tree t1 = { 0 }, t2 = { 0 };
	struct wait w;
	ck_assert_msg(prepare("job-one", "delego/a-job-one", &t1, &w) == 0, "%s", w.err);
	ck_assert_int_eq(sh("mv '%s' '%s.away'", upstream, upstream), 0);
	ck_assert_msg(prepare("job-two", "delego/a-job-two", &t2, &w) == 0, "%s", w.err);
	ck_assert_ptr_nonnull(t2.fetch_warning);
	ck_assert_str_eq(t2.starting_sha, t1.starting_sha);
	dr_workspace_tree_release(&t1);
	dr_workspace_tree_release(&t2);
}
END_TEST

START_TEST(cache_is_seeded_from_a_local_checkout)
{
	ck_assert_int_eq(sh("set -e; mkdir -p '%s/acme'; git clone -q '%s' '%s/acme/app'", root, upstream, root), 0);
	struct dr_workspace_tree t = { 0 };
	struct wait w;
	ck_assert_msg(prepare("job-seed", "delego/s-job-seed", &t, &w) == 0, "%s", w.err);
	ck_assert(t.seeded);
	/* The cache pushes where the checkout pushes, not into the checkout. */
	char *url = sh_out("git --git-dir '%s' remote get-url origin", t.source_path);
	ck_assert_str_eq(url, upstream);
	free(url);
	dr_workspace_tree_release(&t);
}
END_TEST

START_TEST(cache_is_seeded_from_root_repo_folder)
{
	/* A checkout without origin stays the cache's origin. */
	ck_assert_int_eq(sh("set -e; mkdir -p '%s'; cd '%s'; git init -q -b main app; cd app; echo x > x;"
			    "git add x; git -c user.name=U -c user.email=u@e commit -q -m x",
			    root, root),
			 0);
	struct dr_workspace_tree t = { 0 };
	struct wait w;
	ck_assert_msg(prepare("job-seed", "delego/s-job-seed", &t, &w) == 0, "%s", w.err);
	ck_assert(t.seeded);
	char *sha = sh_out("git -C '%s/app' rev-parse HEAD", root);
	ck_assert_str_eq(t.starting_sha, sha);
	free(sha);
	dr_workspace_tree_release(&t);
}
END_TEST

START_TEST(worktree_on_another_branch_is_left_alone)
{
	struct dr_workspace_tree t = { 0 }, t2 = { 0 };
	struct wait w;
	ck_assert_msg(prepare("job-x", "delego/one-job-x", &t, &w) == 0, "%s", w.err);
	ck_assert_int_eq(sh("cd '%s' && git checkout -q -b elsewhere && echo keep > marker", t.worktree_path), 0);
	ck_assert_int_eq(prepare("job-x", "delego/one-job-x", &t2, &w), -EEXIST);
	ck_assert_ptr_nonnull(strstr(w.err, "elsewhere"));
	ck_assert_ptr_nonnull(strstr(w.err, "inspection"));
	ck_assert_ptr_null(t2.worktree_path); /* nothing filled on failure */
	char *b = sh_out("git -C '%s' rev-parse --abbrev-ref HEAD", t.worktree_path);
	ck_assert_str_eq(b, "elsewhere");
	free(b);
	ck_assert_int_eq(sh("test -f '%s/marker'", t.worktree_path), 0);
	/* A plain folder that is no worktree of ours is refused too. */
	ck_assert_int_eq(sh("mkdir -p '%s/worktrees/acme/app/job-y' && touch '%s/worktrees/acme/app/job-y/f'", root,
			    root),
			 0);
	ck_assert_int_eq(prepare("job-y", "delego/one-job-y", &t2, &w), -EEXIST);
	ck_assert_int_eq(sh("test -f '%s/worktrees/acme/app/job-y/f'", root), 0);
	dr_workspace_tree_release(&t);
}
END_TEST

START_TEST(existing_branch_without_worktree_is_reattached)
{
	struct dr_workspace_tree t = { 0 }, t2 = { 0 };
	struct wait w;
	ck_assert_msg(prepare("job-r", "delego/r-job-r", &t, &w) == 0, "%s", w.err);
	ck_assert_int_eq(sh("cd '%s' && echo work > w.txt && git add w.txt && git -c user.name=A -c "
			    "user.email=a@e commit -q -m work && rm -rf '%s'",
			    t.worktree_path, t.worktree_path),
			 0);
	char *sha = sh_out("git --git-dir '%s' rev-parse refs/heads/delego/r-job-r", t.source_path);
	ck_assert_msg(prepare("job-r", "delego/r-job-r", &t2, &w) == 0, "%s", w.err);
	ck_assert(t2.reattached);
	ck_assert_str_eq(t2.starting_sha, sha);
	free(sha);
	dr_workspace_tree_release(&t);
	dr_workspace_tree_release(&t2);
}
END_TEST

START_TEST(changes_commit_with_fallback_author_and_push)
{
	struct dr_workspace_tree t = { 0 };
	struct wait w;
	ck_assert_msg(prepare("job-c", "delego/eng-7-job-c", &t, &w) == 0, "%s", w.err);
	ck_assert_int_eq(sh("set -e; cd '%s'; echo changed >> README.md; echo n > 'new file.txt'; git mv a.txt "
			    "b.txt; mkdir d; printf x > \"d/$(printf '\\303\\274').txt\"",
			    t.worktree_path),
			 0);
	struct dr_gitparse_changes c = { 0 };
	memset(&w, 0, sizeof(w));
	ck_assert_int_eq(dr_workspace_changes(&ctx, &t, &c, on_done, &w), 0);
	ck_assert_msg(wait_for(&w) == 0, "%s", w.err);
	ck_assert_uint_eq(c.count, 4);
	bool readme = false, renamed = false, spaced = false, dir = false;
	for (size_t i = 0; i < c.kept; i++) {
		readme |= !strcmp(c.paths[i], "README.md");
		renamed |= !strcmp(c.paths[i], "b.txt");
		spaced |= !strcmp(c.paths[i], "new file.txt");
		dir |= !strcmp(c.paths[i], "d/");
	}
	ck_assert(readme && renamed && spaced && dir);

	struct dr_workspace_commit_in in = { .identifier = "ENG-7", .title = "Make\nit   so", .url = "https://l/ENG-7",
				      .changes = &c };
	struct dr_gitparse_commit cm = { 0 };
	memset(&w, 0, sizeof(w));
	ck_assert_int_eq(dr_workspace_commit(&ctx, &t, &in, &cm, on_done, &w), 0);
	ck_assert_msg(wait_for(&w) == 0, "%s", w.err);
	ck_assert_str_eq(cm.subject, "ENG-7: Make it so");
	ck_assert_str_eq(cm.author_name, "Delego Runner");
	ck_assert_str_eq(cm.author_email, "runner@delego.local");
	ck_assert_uint_eq(strlen(cm.sha), 40);
	ck_assert_uint_eq(strlen(cm.short_sha), 12);
	ck_assert_str_eq(cm.branch, "delego/eng-7-job-c");
	ck_assert_uint_eq(cm.file_count, 4);
	ck_assert_ptr_nonnull(cm.committed_at);
	char *head = sh_out("git -C '%s' rev-parse HEAD", t.worktree_path);
	ck_assert_str_eq(head, cm.sha);
	free(head);
	char *body = sh_out("git -C '%s' log -1 --format=%%b | grep README", t.worktree_path);
	ck_assert_str_eq(body, "- README.md");
	free(body);
	/* The fallback identity was not written anywhere. */
	ck_assert_int_ne(sh("git -C '%s' config user.name >/dev/null", t.worktree_path), 0);
	char *clean = sh_out("git -C '%s' status --porcelain | wc -l", t.worktree_path);
	ck_assert_str_eq(clean, "0");
	free(clean);

	cJSON *j = dr_gitparse_commit_json(&cm);
	ck_assert_str_eq(cJSON_GetObjectItem(j, "shortSha")->valuestring, cm.short_sha);
	ck_assert_int_eq(cJSON_GetArraySize(cJSON_GetObjectItem(j, "changedFiles")), 4);
	cJSON_Delete(j);

	memset(&w, 0, sizeof(w));
	ck_assert_int_eq(dr_workspace_push(&ctx, &t, on_done, &w), 0);
	ck_assert_msg(wait_for(&w) == 0, "%s", w.err);
	char *remote = sh_out("git --git-dir '%s' rev-parse refs/heads/delego/eng-7-job-c", upstream);
	ck_assert_str_eq(remote, cm.sha);
	free(remote);
	dr_gitparse_commit_release(&cm);
	dr_gitparse_changes_release(&c);
	dr_workspace_tree_release(&t);
}
END_TEST

START_TEST(configured_author_wins_and_empty_commit_is_refused)
{
	ck_assert_int_eq(sh("git config --global user.name 'Real Person' && git config --global user.email "
			    "real@example.com"),
			 0);
	struct dr_workspace_tree t = { 0 };
	struct wait w;
	ck_assert_msg(prepare("job-a", "delego/a-job-a", &t, &w) == 0, "%s", w.err);
	struct dr_gitparse_changes none = { 0 };
	struct dr_workspace_commit_in in = { .identifier = "A-1", .changes = &none };
	struct dr_gitparse_commit cm = { 0 };
	memset(&w, 0, sizeof(w));
	ck_assert_int_eq(dr_workspace_commit(&ctx, &t, &in, &cm, on_done, &w), 0);
	ck_assert_int_eq(wait_for(&w), -ENODATA);
	ck_assert_ptr_null(cm.sha);
	ck_assert_int_eq(sh("echo y > '%s/y.txt'", t.worktree_path), 0);
	struct dr_gitparse_changes c = { 0 };
	memset(&w, 0, sizeof(w));
	dr_workspace_changes(&ctx, &t, &c, on_done, &w);
	ck_assert_int_eq(wait_for(&w), 0);
	in.changes = &c;
	memset(&w, 0, sizeof(w));
	dr_workspace_commit(&ctx, &t, &in, &cm, on_done, &w);
	ck_assert_msg(wait_for(&w) == 0, "%s", w.err);
	ck_assert_str_eq(cm.author_name, "Real Person");
	ck_assert_str_eq(cm.subject, "A-1: apply delegated changes");
	dr_gitparse_commit_release(&cm);
	dr_gitparse_changes_release(&c);
	dr_workspace_tree_release(&t);
}
END_TEST

START_TEST(agent_commit_is_described_and_head_read)
{
	struct dr_workspace_tree t = { 0 };
	struct wait w;
	ck_assert_msg(prepare("job-d", "delego/d-job-d", &t, &w) == 0, "%s", w.err);
	ck_assert_int_eq(sh("cd '%s' && echo 1 > one.txt && echo 2 > two.txt && git add . && git -c user.name=Agent "
			    "-c user.email=agent@e commit -q -m 'agent did it'",
			    t.worktree_path),
			 0);
	char sha[65] = "";
	memset(&w, 0, sizeof(w));
	ck_assert_int_eq(dr_workspace_head(&ctx, &t, sha, on_done, &w), 0);
	ck_assert_int_eq(wait_for(&w), 0);
	ck_assert_str_ne(sha, t.starting_sha);
	struct dr_gitparse_commit cm = { 0 };
	memset(&w, 0, sizeof(w));
	ck_assert_int_eq(dr_workspace_describe_head(&ctx, &t, &cm, on_done, &w), 0);
	ck_assert_msg(wait_for(&w) == 0, "%s", w.err);
	ck_assert_str_eq(cm.sha, sha);
	ck_assert_str_eq(cm.subject, "agent did it");
	ck_assert_str_eq(cm.author_name, "Agent");
	ck_assert_uint_eq(cm.file_count, 2);
	ck_assert_str_eq(cm.files[0], "one.txt");
	dr_gitparse_commit_release(&cm);
	dr_workspace_tree_release(&t);
}
END_TEST

/* A stand-in gh in T/bin: its mode file picks the behaviour; it logs its argv. */
static void fake_gh(const char *mode)
{
	ck_assert_int_eq(sh("set -e; mkdir -p '%s/bin'; echo '%s' > '%s/bin/mode'; cat > '%s/bin/gh' <<'EOF'\n"
			    "#!/bin/sh\n"
			    "d=$(dirname \"$0\"); mode=$(cat \"$d/mode\")\n"
			    "printf '%%s\\n' \"$@\" >> \"$d/args\"\n"
			    "case \"$1 $2 $mode\" in\n"
			    "'pr create ok') echo 'Creating pull request'; echo 'https://github.com/acme/app/pull/42';;\n"
			    "'pr create exists') echo 'a pull request for branch \"x\" into branch \"main\" already "
			    "exists:' >&2; echo 'https://github.com/acme/app/pull/7' >&2; exit 1;;\n"
			    "'pr view exists') echo '{\"url\":\"https://github.com/acme/app/pull/7\",\"number\":7,"
			    "\"title\":\"Old title\",\"isDraft\":true}';;\n"
			    "*) echo \"gh: unexpected $*\" >&2; exit 1;;\n"
			    "esac\n"
			    "EOF\n"
			    "chmod +x '%s/bin/gh'",
			    T, mode, T, T, T),
			 0);
	char path[PATH_MAX * 2];
	snprintf(path, sizeof(path), "%s/bin:%s", T, getenv("PATH"));
	setenv("PATH", path, 1);
}

START_TEST(pull_request_created_or_found)
{
	fake_gh("ok");
	struct dr_workspace_tree t = { 0 };
	struct wait w;
	ck_assert_msg(prepare("job-p", "delego/p-job-p", &t, &w) == 0, "%s", w.err);
	char *body = dr_gitparse_pr_body("P-1", "https://l/P-1", "abcdef123456");
	ck_assert_str_eq(body, "Linear issue: P-1\nLinear URL: https://l/P-1\n\nLocal commit: abcdef123456\n\n"
			       "Created by Delego local runner.");
	struct dr_workspace_pr_in in = { .title = "P-1: Do it", .body = body, .draft = true };
	struct dr_workspace_pr pr = { 0 };
	memset(&w, 0, sizeof(w));
	ck_assert_int_eq(dr_workspace_pr(&ctx, &t, &in, &pr, on_done, &w), 0);
	ck_assert_msg(wait_for(&w) == 0, "%s", w.err);
	ck_assert_str_eq(pr.url, "https://github.com/acme/app/pull/42");
	ck_assert_int_eq(pr.number, 42);
	ck_assert_str_eq(pr.title, "P-1: Do it");
	ck_assert(pr.draft && !pr.existing);
	char *args = sh_out("tr '\\n' ' ' < '%s/bin/args'", T);
	ck_assert_ptr_nonnull(strstr(args, "pr create --title P-1: Do it --body Linear issue: P-1"));
	ck_assert_ptr_nonnull(strstr(args, "--head delego/p-job-p --draft"));
	free(args);
	dr_workspace_pr_release(&pr);

	fake_gh("exists");
	in.draft = false;
	memset(&w, 0, sizeof(w));
	ck_assert_int_eq(dr_workspace_pr(&ctx, &t, &in, &pr, on_done, &w), 0);
	ck_assert_msg(wait_for(&w) == 0, "%s", w.err);
	ck_assert_str_eq(pr.url, "https://github.com/acme/app/pull/7");
	ck_assert_int_eq(pr.number, 7);
	ck_assert_str_eq(pr.title, "Old title");
	ck_assert(pr.draft && pr.existing);
	dr_workspace_pr_release(&pr);

	fake_gh("broken");
	memset(&w, 0, sizeof(w));
	dr_workspace_pr(&ctx, &t, &in, &pr, on_done, &w);
	ck_assert_int_eq(wait_for(&w), -EIO);
	ck_assert_ptr_nonnull(strstr(w.err, "gh: unexpected pr create"));
	ck_assert_ptr_null(pr.url);
	free(body);
	dr_workspace_tree_release(&t);
}
END_TEST

START_TEST(missing_git_or_gh_says_what_to_install)
{
	struct dr_workspace_tree t = { 0 };
	struct wait w;
	ck_assert_msg(prepare("job-m", "delego/m-job-m", &t, &w) == 0, "%s", w.err);
	char *saved = dr_xstrdup(getenv("PATH"));
	char empty[PATH_MAX + 16];
	snprintf(empty, sizeof(empty), "%s/empty-bin", T);
	mkdir(empty, 0755);
	setenv("PATH", empty, 1);
	struct dr_workspace_pr_in in = { .title = "t", .body = "b" };
	struct dr_workspace_pr pr = { 0 };
	memset(&w, 0, sizeof(w));
	dr_workspace_pr(&ctx, &t, &in, &pr, on_done, &w);
	ck_assert_int_eq(wait_for(&w), -ENOENT);
	ck_assert_ptr_nonnull(strstr(w.err, "gh (the GitHub CLI) is not installed"));
	ck_assert_ptr_nonnull(strstr(w.err, "https://cli.github.com"));
	struct dr_workspace_tree t2 = { 0 };
	ck_assert_int_eq(prepare("job-n", "delego/m-job-n", &t2, &w), -ENOENT);
	ck_assert_ptr_nonnull(strstr(w.err, "git is not installed"));
	setenv("PATH", saved, 1);
	free(saved);
	dr_workspace_tree_release(&t);
}
END_TEST

START_TEST(hostile_input_and_symlinks_cannot_escape_the_root)
{
	struct dr_workspace_tree t = { 0 };
	char err[256];
	struct wait w = { 0 };
	const char *bad_slugs[] = { "../etc", "acme/..", "acme", "-x/app", "acme/app/extra", "acme/a b", "" };
	for (size_t i = 0; i < sizeof(bad_slugs) / sizeof(*bad_slugs); i++) {
		struct dr_workspace_prepare_in in = { .slug = bad_slugs[i], .job_id = "job", .branch = "delego/x-job" };
		ck_assert_int_eq(dr_workspace_prepare(&ctx, &in, &t, on_done, &w, err, sizeof(err)), -EINVAL);
	}
	const char *bad_ids[] = { "../up", "a/b", "-rf", "", "x y" };
	for (size_t i = 0; i < sizeof(bad_ids) / sizeof(*bad_ids); i++) {
		struct dr_workspace_prepare_in in = { .slug = "acme/app", .job_id = bad_ids[i], .branch = "delego/x-job" };
		ck_assert_int_eq(dr_workspace_prepare(&ctx, &in, &t, on_done, &w, err, sizeof(err)), -EINVAL);
	}
	const char *bad_branches[] = { "main", "delego/../x", "delego/-x", "delego/a b", "delego//x", "delego/x/" };
	for (size_t i = 0; i < sizeof(bad_branches) / sizeof(*bad_branches); i++) {
		struct dr_workspace_prepare_in in = { .slug = "acme/app", .job_id = "job", .branch = bad_branches[i] };
		ck_assert_int_eq(dr_workspace_prepare(&ctx, &in, &t, on_done, &w, err, sizeof(err)), -EINVAL);
	}
	uv_run(&loop, UV_RUN_DEFAULT);
	ck_assert_int_eq(w.done, 0);

	/* worktrees/ pointing outside the root: nothing may be created there. */
	ck_assert_int_eq(sh("mkdir -p '%s' '%s/outside' && ln -s '%s/outside' '%s/worktrees'", root, T, T, root), 0);
	ck_assert_int_eq(prepare("job-s", "delego/s-job-s", &t, &w), -ENOTDIR);
	ck_assert_ptr_nonnull(strstr(w.err, "not a plain directory"));
	ck_assert_int_eq(sh("test -z \"$(ls -A '%s/outside')\"", T), 0);
}
END_TEST

/* --warm-worktrees: a spare is made after a prepare, and the next new worktree is cut from it. */
START_TEST(warm_spare_becomes_the_next_worktree)
{
	ctx.warm_worktrees = 1;
	struct dr_workspace_tree t1 = { 0 }, t2 = { 0 };
	struct wait w;
	ck_assert_msg(prepare("job-w1", "delego/w-job-w1", &t1, &w) == 0, "%s", w.err);
	char spare[PATH_MAX + 64];
	snprintf(spare, sizeof(spare), "%s/worktrees/acme/app/spare.1", root);
	uv_run(&loop, UV_RUN_DEFAULT); /* the background step */
	ck_assert_int_eq(sh("test -d '%s' && test -z \"$(git -C '%s' status --porcelain)\"", spare, spare), 0);
	char *detached = sh_out("git -C '%s' rev-parse --abbrev-ref HEAD", spare);
	ck_assert_str_eq(detached, "HEAD");
	free(detached);
	upstream_commit("a.txt");
	char *main_sha = upstream_main();
	char *ino_before = sh_out("stat -c %%i '%s/README.md'", spare);
	ck_assert_msg(prepare("job-w2", "delego/w-job-w2", &t2, &w) == 0, "%s", w.err);
	ck_assert_str_eq(t2.starting_sha, main_sha); /* the fetched default branch */
	char *b = sh_out("git -C '%s' rev-parse --abbrev-ref HEAD", t2.worktree_path);
	ck_assert_str_eq(b, "delego/w-job-w2");
	char *ino_after = sh_out("stat -c %%i '%s/README.md'", t2.worktree_path);
	ck_assert_str_eq(ino_before, ino_after); /* the spare moved in: unchanged files were not written again */
	ck_assert_int_eq(sh("test -z \"$(git -C '%s' status --porcelain)\" && grep -q more '%s/a.txt'",
			    t2.worktree_path, t2.worktree_path),
			 0);
	uv_run(&loop, UV_RUN_DEFAULT);
	ck_assert_int_eq(sh("test -d '%s'", spare), 0); /* and the next spare is ready */

	/* Nothing new upstream: the spare is at the base and clean; HEAD alone moves to the branch. */
	struct dr_workspace_tree t3 = { 0 }, t4 = { 0 };
	free(ino_before);
	ino_before = sh_out("stat -c %%i:%%Y '%s/a.txt'", spare);
	ck_assert_msg(prepare("job-w3", "delego/w-job-w3", &t3, &w) == 0, "%s", w.err);
	ck_assert_str_eq(t3.starting_sha, main_sha);
	ck_assert_int_eq(sh("set -e; cd '%s'; test \"$(git symbolic-ref HEAD)\" = refs/heads/delego/w-job-w3;"
			    "test \"$(git rev-parse HEAD)\" = '%s'; test -z \"$(git status --porcelain)\";"
			    "! git config branch.delego/w-job-w3.merge; grep -q more a.txt",
			    t3.worktree_path, main_sha),
			 0);
	free(ino_after);
	ino_after = sh_out("stat -c %%i:%%Y '%s/a.txt'", t3.worktree_path);
	ck_assert_str_eq(ino_before, ino_after);
	/* A spare someone changed: the checkout puts it right. */
	uv_run(&loop, UV_RUN_DEFAULT);
	ck_assert_int_eq(sh("echo scribble > '%s/a.txt'", spare), 0);
	ck_assert_msg(prepare("job-w4", "delego/w-job-w4", &t4, &w) == 0, "%s", w.err);
	ck_assert_str_eq(t4.starting_sha, main_sha);
	ck_assert_int_eq(sh("set -e; cd '%s'; test \"$(git symbolic-ref HEAD)\" = refs/heads/delego/w-job-w4;"
			    "test -z \"$(git status --porcelain)\"; grep -q more a.txt",
			    t4.worktree_path),
			 0);
	free(b);
	free(main_sha);
	free(ino_before);
	free(ino_after);
	dr_workspace_tree_release(&t1);
	dr_workspace_tree_release(&t2);
	dr_workspace_tree_release(&t3);
	dr_workspace_tree_release(&t4);
}
END_TEST

static Suite *workspace_suite(void)
{
	Suite *s = suite_create("workspace");
	TCase *pure = tcase_create("pure");
	tcase_add_test(pure, clone_url_rule);
	suite_add_tcase(s, pure);
	TCase *git = tcase_create("git");
	tcase_set_timeout(git, 60);
	tcase_add_checked_fixture(git, setup, teardown);
	tcase_add_test(git, prepare_clones_and_cuts_a_worktree);
	tcase_add_test(git, new_worktrees_start_from_a_fresh_fetch_and_a_follow_up_reuses_its_own);
	tcase_add_test(git, fetch_failure_is_a_warning_not_a_failure);
	tcase_add_test(git, cache_is_seeded_from_a_local_checkout);
	tcase_add_test(git, cache_is_seeded_from_root_repo_folder);
	tcase_add_test(git, worktree_on_another_branch_is_left_alone);
	tcase_add_test(git, existing_branch_without_worktree_is_reattached);
	tcase_add_test(git, changes_commit_with_fallback_author_and_push);
	tcase_add_test(git, configured_author_wins_and_empty_commit_is_refused);
	tcase_add_test(git, agent_commit_is_described_and_head_read);
	tcase_add_test(git, pull_request_created_or_found);
	tcase_add_test(git, missing_git_or_gh_says_what_to_install);
	tcase_add_test(git, hostile_input_and_symlinks_cannot_escape_the_root);
	tcase_add_test(git, warm_spare_becomes_the_next_worktree);
	suite_add_tcase(s, git);
	return s;
}

DR_CHECK_MAIN(workspace_suite)
