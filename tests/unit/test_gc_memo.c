/*
 * test_gc_memo: the sweep's memo on a real workspace (git): after a full
 * scan of N kept worktrees, a scan after one job's end measures only that
 * job's worktree, and one that changed otherwise (its HEAD moved, a job
 * ran in it, it is new) is measured again too; a removal leaves nothing
 * behind. Counted with
 * dr_gc_memo_examined, not timed.
 */
#include "check_main.h"
#include "delego/gc.h"
#include "delego/wslayout.h"
#include "delego/xalloc.h"
#include "testutil.h"

#include <check.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <time.h>
#include <unistd.h>

#define N 6

static char T[PATH_MAX];
static char root[PATH_MAX + 8];
static struct dr_gc_memo *memo;

/* Waits for the next second: what was made before is then not "changed in the second it was looked at". */
static void next_second(void)
{
	time_t t = time(NULL);
	while (time(NULL) == t)
		usleep(20 * 1000);
}

static void setup(void)
{
	snprintf(T, sizeof T, "/tmp/dr-gcmemo-XXXXXX");
	ck_assert_ptr_nonnull(mkdtemp(T));
	char real[PATH_MAX];
	ck_assert_ptr_nonnull(realpath(T, real));
	snprintf(T, sizeof T, "%s", real);
	snprintf(root, sizeof root, "%s/ws", T);
	setenv("GIT_CONFIG_NOSYSTEM", "1", 1);
	unsetenv("GIT_DIR");
	/* An upstream, its cache (fetched into origin/), and N job worktrees at origin/main. */
	ck_assert_int_eq(sh("set -e; cd '%s'; export HOME='%s'; git init -q -b main up; cd up; echo a > a.txt;"
			    "mkdir d; echo b > d/b.txt; git add .;"
			    "git -c user.name=Up -c user.email=up@example.com commit -q -m initial; cd ..;"
			    "mkdir -p ws/sources/acme ws/worktrees/acme/app;"
			    "git clone -q --bare up ws/sources/acme/app.git;"
			    "git --git-dir ws/sources/acme/app.git fetch -q origin '+refs/heads/*:refs/remotes/origin/*';"
			    "for i in $(seq 1 %d); do git --git-dir ws/sources/acme/app.git worktree add -q --no-track "
			    "-b delego/job$i ws/worktrees/acme/app/job$i origin/main; done",
			    T, T, N),
			 0);
	memo = dr_gc_memo_new();
	next_second();
}

static void teardown(void)
{
	dr_gc_memo_free(memo);
	ck_assert_int_eq(sh("rm -rf '%s'", T), 0);
}

/* A sweep's run: nothing is old enough to go. */
static void run(struct dr_gc_report *rep)
{
	struct dr_gc_opts o = { .root = root, .worktree_days = 30, .cache_days = 30, .memo = memo };
	char err[256];
	ck_assert_int_eq(dr_gc_run(&o, rep, err, sizeof err), 0);
}

static const struct dr_gc_item *find(const struct dr_gc_report *rep, const char *job)
{
	for (size_t i = 0; i < rep->n; i++)
		if (rep->items[i].job_id && !strcmp(rep->items[i].job_id, job))
			return &rep->items[i];
	return NULL;
}

START_TEST(after_one_job_only_its_worktree_is_measured)
{
	struct dr_gc_report a, b;
	run(&a);
	ck_assert_uint_eq(dr_gc_memo_examined(memo), N);
	ck_assert_uint_eq(dr_gc_memo_full_scans(memo), 1);
	ck_assert_uint_eq(a.n, N + 1);

	run(&b); /* nothing changed: nothing measured, the same report */
	ck_assert_uint_eq(dr_gc_memo_examined(memo), 0);
	ck_assert_uint_eq(b.n, a.n);
	for (size_t i = 0; i < a.n; i++) {
		ck_assert_str_eq(a.items[i].rel, b.items[i].rel);
		ck_assert_int_eq(a.items[i].state, b.items[i].state);
		ck_assert_uint_eq(a.items[i].size, b.items[i].size);
		ck_assert_int_eq(a.items[i].last_used, b.items[i].last_used);
	}
	ck_assert_int_eq(find(&b, "job2")->state, DR_GC_FINISHED);
	ck_assert_str_eq(find(&b, "job2")->branch, "delego/job2");
	dr_gc_report_release(&b);

	/* job3 ended (its agent left a file behind, which no signature sees): told, it alone is measured. */
	ck_assert_int_eq(sh("echo new > '%s/worktrees/acme/app/job3/d/new.txt'", root), 0);
	dr_gc_memo_forget(memo, "job3");
	run(&b);
	ck_assert_uint_eq(dr_gc_memo_examined(memo), 1);
	ck_assert_int_eq(find(&b, "job3")->state, DR_GC_DIRTY);
	ck_assert_uint_eq(dr_gc_memo_full_scans(memo), 1);
	dr_gc_report_release(&b);
	dr_gc_report_release(&a);
}
END_TEST

START_TEST(a_worktree_that_changed_is_measured_again)
{
	struct dr_gc_report a;
	run(&a);
	dr_gc_report_release(&a);
	next_second();
	/* A commit in job2 moves its HEAD and index; job5 gets a new sibling, job6 goes. */
	ck_assert_int_eq(sh("set -e; cd '%s/worktrees/acme/app/job2'; echo c > c.txt; git add c.txt;"
			    "git -c user.name=U -c user.email=u@example.com commit -q -m c;"
			    "cd '%s'; git --git-dir sources/acme/app.git worktree add -q --no-track -b delego/job7 "
			    "worktrees/acme/app/job7 origin/main;"
			    "git --git-dir sources/acme/app.git worktree remove worktrees/acme/app/job6",
			    root, root),
			 0);
	run(&a);
	ck_assert_uint_eq(dr_gc_memo_examined(memo), 2); /* job2 and job7 */
	ck_assert_int_eq(find(&a, "job2")->state, DR_GC_UNPUSHED);
	ck_assert_ptr_null(find(&a, "job6"));
	ck_assert_int_eq(find(&a, "job7")->state, DR_GC_FINISHED);
	dr_gc_report_release(&a);
}
END_TEST

START_TEST(a_job_running_in_one_measures_it_once_it_is_over)
{
	struct dr_gc_report a;
	run(&a);
	dr_gc_report_release(&a);
	char wt4[PATH_MAX + 64], wt8[PATH_MAX + 64];
	snprintf(wt4, sizeof wt4, "%s/worktrees/acme/app/job4", root);
	snprintf(wt8, sizeof wt8, "%s/worktrees/acme/app/job8", root);
	int fd4 = -1, fd8 = -1;
	ck_assert_int_eq(dr_wslayout_trylock(wt4, LOCK_EX, &fd4), 0); /* a job (max-jobs > 1) runs in it */
	/* and one starts in a worktree new to the memo */
	ck_assert_int_eq(sh("git --git-dir '%s/sources/acme/app.git' worktree add -q --no-track -b delego/job8 '%s' "
			    "origin/main",
			    root, wt8),
			 0);
	ck_assert_int_eq(dr_wslayout_trylock(wt8, LOCK_EX, &fd8), 0);
	run(&a);
	ck_assert_uint_eq(dr_gc_memo_examined(memo), 0); /* seen running, neither measured */
	ck_assert_int_eq(find(&a, "job4")->state, DR_GC_RUNNING);
	ck_assert_uint_gt(find(&a, "job4")->size, 0); /* as measured before */
	ck_assert_int_eq(find(&a, "job8")->state, DR_GC_RUNNING);
	dr_gc_report_release(&a);
	close(fd4); /* over, and nobody said so: seen running, they are measured again anyway */
	close(fd8);
	run(&a);
	ck_assert_uint_eq(dr_gc_memo_examined(memo), 2);
	ck_assert_int_eq(find(&a, "job4")->state, DR_GC_FINISHED);
	ck_assert_int_eq(find(&a, "job8")->state, DR_GC_FINISHED);
	ck_assert_uint_gt(find(&a, "job8")->size, 0);
	dr_gc_report_release(&a);
	/* Cleared: a full scan again. */
	dr_gc_memo_clear(memo);
	run(&a);
	ck_assert_uint_eq(dr_gc_memo_examined(memo), N + 1);
	ck_assert_uint_eq(dr_gc_memo_full_scans(memo), 2);
	dr_gc_report_release(&a);
}
END_TEST

/* Removal: the worktree is moved aside under the cache's lock, deleted after; a crash's leftovers go next time. */
START_TEST(removed_worktrees_leave_nothing_behind)
{
	ck_assert_int_eq(sh("mkdir -p '%s/.gc-trash/1.0.old/d' && echo x > '%s/.gc-trash/1.0.old/d/f'", root, root), 0);
	struct dr_gc_opts o = { .root = root, .worktree_days = 0, .cache_days = 30, .memo = memo };
	struct dr_gc_report rep;
	char err[256];
	ck_assert_int_eq(dr_gc_run(&o, &rep, err, sizeof err), 0);
	size_t removed = 0;
	for (size_t i = 0; i < rep.n; i++)
		removed += rep.items[i].removed;
	ck_assert_uint_eq(removed, N);
	dr_gc_report_release(&rep);
	ck_assert_int_eq(sh("set -e; cd '%s'; test -z \"$(ls -A .gc-trash)\"; test ! -e worktrees/acme;"
			    "test \"$(git --git-dir sources/acme/app.git worktree list | wc -l)\" = 1;"
			    "test -z \"$(git --git-dir sources/acme/app.git branch --list 'delego/*')\"",
			    root),
			 0);
	ck_assert_int_eq(dr_gc_run(&o, &rep, err, sizeof err), 0); /* nothing left to scan */
	ck_assert_uint_eq(dr_gc_memo_examined(memo), 0);
	dr_gc_report_release(&rep);
}
END_TEST

static Suite *gc_memo_suite(void)
{
	Suite *s = suite_create("gc_memo");
	TCase *tc = tcase_create("memo");
	tcase_set_timeout(tc, 60);
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, after_one_job_only_its_worktree_is_measured);
	tcase_add_test(tc, a_worktree_that_changed_is_measured_again);
	tcase_add_test(tc, a_job_running_in_one_measures_it_once_it_is_over);
	tcase_add_test(tc, removed_worktrees_leave_nothing_behind);
	suite_add_tcase(s, tc);
	return s;
}

DR_CHECK_MAIN(gc_memo_suite)
