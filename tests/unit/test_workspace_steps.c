/* test_workspace_steps: how steps share a repository's cache (lock scope, parallel steps) and cancel. */
#include "check_main.h"
#include "workspace_world.h"

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

static Suite *workspace_steps_suite(void)
{
	Suite *s = suite_create("workspace_steps");
	TCase *git = tcase_create("git");
	tcase_set_timeout(git, 60);
	tcase_add_checked_fixture(git, setup, teardown);
	tcase_add_test(git, one_git_command_at_a_time_per_repository);
	tcase_add_test(git, cancel_ends_the_running_git_child);
	tcase_add_test(git, cancel_while_waiting_for_the_cache_lock);
	tcase_add_test(git, worktree_steps_run_in_parallel);
	suite_add_tcase(s, git);
	return s;
}

DR_CHECK_MAIN(workspace_steps_suite)
