#include "delego/workspace.h"
#include "delego/xalloc.h"
#include "check_main.h"
#include "testutil.h"

#include <errno.h>
#include <ftw.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <signal.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

/* A private world per test: HOME, an upstream bare repo, a workspace root. */
static char T[PATH_MAX];
static char root[PATH_MAX + 16];
static char remotes[PATH_MAX + 16];
static char upstream[PATH_MAX + 64];
static uv_loop_t loop;
static struct dr_workspace_ctx ctx;


/* The first line a shell command prints. Caller frees. */
static char *sh_out(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static char *sh_out(const char *fmt, ...)
{
	char cmd[8192];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(cmd, sizeof(cmd), fmt, ap);
	va_end(ap);
	FILE *p = popen(cmd, "r");
	ck_assert_ptr_nonnull(p);
	char line[4096] = "";
	if (!fgets(line, sizeof(line), p))
		line[0] = '\0';
	pclose(p);
	line[strcspn(line, "\n")] = '\0';
	return dr_xstrdup(line);
}

static void setup(void)
{
	snprintf(T, sizeof(T), "%s/dr-ws-XXXXXX", getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp");
	ck_assert_ptr_nonnull(mkdtemp(T));
	char real[PATH_MAX];
	ck_assert_ptr_nonnull(realpath(T, real));
	snprintf(T, sizeof(T), "%s", real);
	char home[PATH_MAX + 16];
	snprintf(home, sizeof(home), "%s/home", T);
	mkdir(home, 0700);
	setenv("HOME", home, 1);
	setenv("GIT_CONFIG_NOSYSTEM", "1", 1);
	unsetenv("GIT_AUTHOR_NAME");
	unsetenv("GIT_AUTHOR_EMAIL");
	unsetenv("GIT_COMMITTER_NAME");
	unsetenv("GIT_COMMITTER_EMAIL");
	unsetenv("EMAIL");
	unsetenv("GIT_DIR");
	snprintf(root, sizeof(root), "%s/ws", T);
	snprintf(remotes, sizeof(remotes), "%s/remotes", T);
	snprintf(upstream, sizeof(upstream), "%s/acme/app.git", remotes);
	/* The upstream: a bare repository with one commit on main. */
	ck_assert_int_eq(sh("set -e; cd '%s'; git init -q -b main --bare '%s'; git init -q -b main seed; cd seed;"
			    "echo hello > README.md; echo a > a.txt; git add .;"
			    "git -c user.name=Up -c user.email=up@example.com commit -q -m initial;"
			    "git push -q '%s' main",
			    T, upstream, upstream),
			 0);
	uv_loop_init(&loop);
	ctx = (struct dr_workspace_ctx){ .loop = &loop, .root = root, .clone_base = remotes };
}

static int rm_one(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	return remove(path);
}

static void teardown(void)
{
	uv_run(&loop, UV_RUN_DEFAULT);
	uv_loop_close(&loop);
	nftw(T, rm_one, 16, FTW_DEPTH | FTW_PHYS);
}

struct wait {
	int done;
	int status;
	char err[4096];
};

static void on_done(void *data, int status, const char *err)
{
	struct wait *w = data;
	w->done++;
	w->status = status;
	snprintf(w->err, sizeof(w->err), "%s", err);
}

static int wait_for(struct wait *w)
{
	while (!w->done)
		uv_run(&loop, UV_RUN_ONCE);
	ck_assert_int_eq(w->done, 1);
	return w->status;
}

static int prepare(const char *job_id, const char *branch, struct dr_workspace_tree *t, struct wait *w)
{
	struct dr_workspace_prepare_in in = { .slug = "acme/app", .job_id = job_id, .branch = branch };
	char err[256];
	memset(w, 0, sizeof(*w));
	int r = dr_workspace_prepare(&ctx, &in, t, on_done, w, err, sizeof(err));
	ck_assert_msg(r == 0, "prepare refused: %s", err);
	ck_assert_int_eq(w->done, 0); /* never calls back from inside the call */
	return wait_for(w);
}

static char *upstream_main(void)
{
	return sh_out("git --git-dir '%s' rev-parse main", upstream);
}

static void upstream_commit(const char *file)
{
	ck_assert_int_eq(sh("set -e; cd '%s/seed'; echo more >> '%s'; git add .;"
			    "git -c user.name=Up -c user.email=up@example.com commit -q -m more; git push -q '%s' main",
			    T, file, upstream),
			 0);
}

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

START_TEST(subject_folds_and_caps_the_title)
{
	char *s = dr_gitparse_commit_subject("ENG-12", "  Fix\tthe \n\n login   bug \r\n");
	ck_assert_str_eq(s, "ENG-12: Fix the login bug");
	free(s);
	s = dr_gitparse_commit_subject("ENG-12", " \n ");
	ck_assert_str_eq(s, "ENG-12: apply delegated changes");
	free(s);
	s = dr_gitparse_commit_subject("ENG-12", NULL);
	ck_assert_str_eq(s, "ENG-12: apply delegated changes");
	free(s);
	char title[400];
	for (int i = 0; i < 130; i++)
		memcpy(title + 2 * i, "é", 2); /* 130 two-byte characters */
	title[260] = '\0';
	s = dr_gitparse_commit_subject("X-1", title);
	ck_assert_uint_eq(strlen(s), strlen("X-1: ") + 2 * DR_WS_SUBJECT_TITLE_MAX); /* whole characters */
	free(s);
	s = dr_gitparse_commit_subject("X-1", "bell\x07 and\x1b[31m escape");
	ck_assert_str_eq(s, "X-1: bell and[31m escape");
	free(s);
}
END_TEST

START_TEST(body_names_issue_and_at_most_50_files)
{
	char *files[60];
	for (int i = 0; i < 60; i++)
		files[i] = dr_xasprintf("f%02d.txt", i);
	char *b = dr_gitparse_commit_body("ENG-12", "https://linear.app/x/ENG-12", files, 60, 75);
	ck_assert_ptr_nonnull(strstr(b, "Linear issue: ENG-12\nLinear URL: https://linear.app/x/ENG-12\n\n"));
	ck_assert_ptr_nonnull(strstr(b, "Delegated through Delego local runner."));
	ck_assert_ptr_nonnull(strstr(b, "\n- f00.txt\n"));
	ck_assert_ptr_nonnull(strstr(b, "\n- f49.txt\n"));
	ck_assert_ptr_null(strstr(b, "f50.txt"));
	ck_assert_ptr_nonnull(strstr(b, "- ... and 25 more"));
	free(b);
	for (int i = 0; i < 60; i++)
		free(files[i]);
}
END_TEST

START_TEST(status_paths_are_correct)
{
	static const char z[] = " M README.md\0"
				"M  src/main.c\0"
				"R  new name.c\0old name.c\0"
				"?? dir with space/\0"
				"?? line\nbreak.txt\0"
				" D gone.txt\0"
				"A  \xc3\xbc.txt\0"
				"?? cut-off-without-nul";
	struct dr_gitparse_changes c = { 0 };
	dr_gitparse_status(z, sizeof(z) - 1, &c);
	ck_assert_uint_eq(c.count, 7);
	ck_assert_uint_eq(c.kept, 7);
	ck_assert_str_eq(c.paths[0], "README.md"); /* the Node runner said "EADME.md" */
	ck_assert_str_eq(c.paths[1], "src/main.c");
	ck_assert_str_eq(c.paths[2], "new name.c");
	ck_assert_str_eq(c.paths[3], "dir with space/");
	ck_assert_str_eq(c.paths[4], "line\nbreak.txt");
	ck_assert_str_eq(c.paths[5], "gone.txt");
	ck_assert_str_eq(c.paths[6], "\xc3\xbc.txt");
	dr_gitparse_changes_release(&c);
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

/*
 * A git that logs when each command starts and ends, to see them overlap
 * or not: the commands on the cache (--git-dir) one at a time, the
 * checkout of one job's worktree (a slow one here) beside the next job's;
 * asked for at once, they share one fetch.
 */
START_TEST(one_git_command_at_a_time_per_repository)
{
	char *real_git = sh_out("command -v git");
	ck_assert_int_eq(sh("set -e; mkdir -p '%s/wrap'; cat > '%s/wrap/git' <<'EOF'\n"
			    "#!/bin/sh\n"
			    "echo \"start $1 $3\" >> '%s/git.log'\n"
			    "case $1 in reset) sleep 0.3 ;; *) sleep 0.02 ;; esac\n"
			    "'%s' \"$@\"; rc=$?\n"
			    "echo \"end $1 $3\" >> '%s/git.log'\n"
			    "exit $rc\n"
			    "EOF\n"
			    "chmod +x '%s/wrap/git'",
			    T, T, T, real_git, T, T),
			 0);
	free(real_git);
	char path[PATH_MAX * 2];
	snprintf(path, sizeof(path), "%s/wrap:%s", T, getenv("PATH"));
	setenv("PATH", path, 1);

	enum { N = 3 };
	struct dr_workspace_tree t[N] = { 0 };
	struct wait w[N] = { 0 };
	char ids[N][16], branches[N][32], err[256];
	for (int i = 0; i < N; i++) {
		snprintf(ids[i], sizeof(ids[i]), "job-%d", i);
		snprintf(branches[i], sizeof(branches[i]), "delego/q-job-%d", i);
		struct dr_workspace_prepare_in in = { .slug = "acme/app", .job_id = ids[i], .branch = branches[i] };
		ck_assert_int_eq(dr_workspace_prepare(&ctx, &in, &t[i], on_done, &w[i], err, sizeof(err)), 0);
	}
	for (int i = 0; i < N; i++)
		ck_assert_msg(wait_for(&w[i]) == 0, "job %d: %s", i, w[i].err);
	FILE *f = NULL;
	char logp[PATH_MAX + 16];
	snprintf(logp, sizeof(logp), "%s/git.log", T);
	f = fopen(logp, "r");
	ck_assert_ptr_nonnull(f);
	char line[128];
	int depth = 0, cache_depth = 0, most = 0, starts = 0, fetches = 0;
	while (fgets(line, sizeof(line), f)) {
		bool on_cache = strstr(line, " --git-dir") != NULL;
		if (!strncmp(line, "start", 5)) {
			starts++;
			fetches += strstr(line, " fetch") != NULL;
			if (++depth > most)
				most = depth;
			if (on_cache)
				ck_assert_msg(++cache_depth == 1, "two git commands on the cache ran at once");
		} else {
			depth--;
			cache_depth -= on_cache;
		}
	}
	fclose(f);
	ck_assert_int_ge(starts, 3 * 5);
	ck_assert_msg(most >= 2, "a job's checkout did not run beside the next job's prepare");
	ck_assert_int_eq(fetches, 1); /* the first one started after all three were asked for */
	for (int i = 0; i < N; i++)
		dr_workspace_tree_release(&t[i]);
}
END_TEST


/* A stand-in git on PATH that runs `exec sleep 30` (recording its pid) for the subcommand op. */
static void slow_git(const char *op)
{
	char *real_git = sh_out("command -v git");
	ck_assert_int_eq(sh("set -e; mkdir -p '%s/slow'; cat > '%s/slow/git' <<'EOF'\n"
			    "#!/bin/sh\n"
			    "case \" $* \" in *' %s '*) echo $$ >> '%s/slow.pid'; exec sleep 30 ;; esac\n"
			    "exec '%s' \"$@\"\n"
			    "EOF\n"
			    "chmod +x '%s/slow/git'",
			    T, T, op, T, real_git, T),
			 0);
	free(real_git);
	char path[PATH_MAX * 2];
	snprintf(path, sizeof(path), "%s/slow:%s", T, getenv("PATH"));
	setenv("PATH", path, 1);
}

static pid_t slow_pid(void)
{
	char p[PATH_MAX + 16];
	snprintf(p, sizeof(p), "%s/slow.pid", T);
	FILE *f = fopen(p, "r");
	int pid = 0;
	if (f) {
		if (fscanf(f, "%d", &pid) != 1)
			pid = 0;
		fclose(f);
	}
	return (pid_t)pid;
}

START_TEST(cancel_ends_the_running_git_child)
{
	struct dr_workspace_tree t = { 0 };
	struct wait w;
	ck_assert_msg(prepare("job-c", "delego/c-job-c", &t, &w) == 0, "%s", w.err);
	slow_git("push");
	struct dr_workspace_step *running = NULL;
	ctx.running = &running;
	ctx.kill_grace_ms = 500;
	memset(&w, 0, sizeof(w));
	ck_assert_int_eq(dr_workspace_push(&ctx, &t, on_done, &w), 0);
	ck_assert_ptr_nonnull(running);
	uint64_t t0 = uv_hrtime();
	while (!slow_pid() && uv_hrtime() - t0 < 10000000000ULL)
		uv_run(&loop, UV_RUN_NOWAIT), usleep(10000);
	pid_t pid = slow_pid();
	ck_assert_int_gt(pid, 0);
	uint64_t t1 = uv_hrtime();
	dr_workspace_step_cancel(running);
	ck_assert_int_eq(w.done, 0); /* the callback comes from the loop */
	ck_assert_int_eq(wait_for(&w), -ECANCELED);
	ck_assert_msg(uv_hrtime() - t1 < 3000000000ULL, "the cancel took more than 3 s");
	ck_assert_ptr_null(running);
	ck_assert_int_ne(kill(pid, 0), 0); /* the child is gone */
	dr_workspace_tree_release(&t);
}
END_TEST

START_TEST(cancel_while_waiting_for_the_cache_lock)
{
	struct dr_workspace_tree t = { 0 }, t2 = { 0 };
	struct wait w;
	ck_assert_msg(prepare("job-d", "delego/d-job-d", &t, &w) == 0, "%s", w.err);
	int fd = -1;
	ck_assert_int_eq(dr_wslayout_trylock(t.source_path, LOCK_EX, &fd), 0); /* "another process" */
	struct dr_workspace_step *running = NULL;
	ctx.running = &running;
	struct dr_workspace_prepare_in in = { .slug = "acme/app", .job_id = "job-e", .branch = "delego/e-job-e" };
	char err[256];
	memset(&w, 0, sizeof(w));
	ck_assert_int_eq(dr_workspace_prepare(&ctx, &in, &t2, on_done, &w, err, sizeof(err)), 0);
	uint64_t t0 = uv_hrtime();
	while (uv_hrtime() - t0 < 300000000ULL)
		uv_run(&loop, UV_RUN_NOWAIT), usleep(10000);
	ck_assert_int_eq(w.done, 0); /* still waiting for the lock */
	dr_workspace_step_cancel(running);
	ck_assert_int_eq(wait_for(&w), -ECANCELED);
	ck_assert_ptr_nonnull(strstr(w.err, "cancelled"));
	char wt[PATH_MAX + 64];
	snprintf(wt, sizeof(wt), "%s/worktrees/acme/app/job-e", root);
	ck_assert_int_ne(access(wt, F_OK), 0); /* nothing was cut */
	close(fd);
	dr_workspace_tree_release(&t);
}
END_TEST

/* Steps inside a job's own worktree do not wait for each other (nor for the cache's lock). */
START_TEST(worktree_steps_run_in_parallel)
{
	struct dr_workspace_tree t[2] = { 0 };
	struct wait w[2];
	ck_assert_msg(prepare("job-p0", "delego/p-job-p0", &t[0], &w[0]) == 0, "%s", w[0].err);
	ck_assert_msg(prepare("job-p1", "delego/p-job-p1", &t[1], &w[1]) == 0, "%s", w[1].err);
	int fd = -1;
	ck_assert_int_eq(dr_wslayout_trylock(t[0].source_path, LOCK_EX, &fd), 0);
	slow_git("status");
	struct dr_gitparse_changes c[2] = { 0 };
	memset(w, 0, sizeof(w));
	uint64_t t0 = uv_hrtime();
	for (int i = 0; i < 2; i++)
		ck_assert_int_eq(dr_workspace_changes(&ctx, &t[i], &c[i], on_done, &w[i]), 0);
	/* Both stand-ins sleep 30 s: both must be running at once; then they are ended by their pids. */
	int running = 0;
	while (uv_hrtime() - t0 < 5000000000ULL && running < 2) {
		uv_run(&loop, UV_RUN_NOWAIT);
		usleep(20000);
		running = sh("test $(wc -l < '%s/slow.pid') -ge 2", T) == 0 ? 2 : 0;
	}
	sh("for p in $(cat '%s/slow.pid'); do kill $p; done", T);
	for (int i = 0; i < 2; i++)
		wait_for(&w[i]);
	ck_assert_msg(running == 2, "status in two worktrees did not overlap (or waited for the cache's lock)");
	close(fd);
	for (int i = 0; i < 2; i++) {
		dr_gitparse_changes_release(&c[i]);
		dr_workspace_tree_release(&t[i]);
	}
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
	tcase_add_test(pure, subject_folds_and_caps_the_title);
	tcase_add_test(pure, body_names_issue_and_at_most_50_files);
	tcase_add_test(pure, status_paths_are_correct);
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
	tcase_add_test(git, one_git_command_at_a_time_per_repository);
	tcase_add_test(git, cancel_ends_the_running_git_child);
	tcase_add_test(git, cancel_while_waiting_for_the_cache_lock);
	tcase_add_test(git, worktree_steps_run_in_parallel);
	tcase_add_test(git, warm_spare_becomes_the_next_worktree);
	suite_add_tcase(s, git);
	return s;
}

DR_CHECK_MAIN(workspace_suite)
