/* test_gc: the plan of workspace gc over made-up items (no disk, no git). */
#include "check_main.h"
#include "delego/gc.h"
#include "delego/xalloc.h"

#include <check.h>
#include <stdint.h>
#include <string.h>

#define NOW 1000000000LL
#define DAY (24 * 60 * 60)

static struct dr_gc_report rep;

static size_t add(enum dr_gc_kind kind, enum dr_gc_state state, int days_old, uint64_t size, size_t cache,
		  long count)
{
	rep.items = dr_xrealloc(rep.items, (rep.n + 1) * sizeof *rep.items);
	struct dr_gc_item *it = &rep.items[rep.n];
	memset(it, 0, sizeof *it);
	it->kind = kind;
	it->state = state;
	it->last_used = NOW - (int64_t)days_old * DAY;
	it->size = size;
	it->cache = cache;
	it->count = count;
	it->rel = dr_xasprintf("item%zu", rep.n);
	rep.used += size;
	return rep.n++;
}

static struct dr_gc_opts opts(void)
{
	return (struct dr_gc_opts){ .root = "/ws", .worktree_days = 7, .cache_days = 30, .now = NOW };
}

static void setup(void)
{
	memset(&rep, 0, sizeof rep);
}

static void teardown(void)
{
	dr_gc_report_release(&rep);
}

START_TEST(retention_removes_only_old_finished_worktrees)
{
	size_t c = add(DR_GC_CACHE, DR_GC_IDLE, 60, 100, SIZE_MAX, 6);
	size_t old = add(DR_GC_WORKTREE, DR_GC_FINISHED, 10, 10, c, 0);
	size_t young = add(DR_GC_WORKTREE, DR_GC_FINISHED, 2, 10, c, 0);
	size_t dirty = add(DR_GC_WORKTREE, DR_GC_DIRTY, 100, 10, c, 3);
	size_t unpushed = add(DR_GC_WORKTREE, DR_GC_UNPUSHED, 100, 10, c, 1);
	size_t awaiting = add(DR_GC_WORKTREE, DR_GC_AWAITING, 100, 10, c, 0);
	size_t running = add(DR_GC_WORKTREE, DR_GC_RUNNING, 100, 10, c, 0);
	struct dr_gc_opts o = opts();
	dr_gc_plan(&o, &rep);
	ck_assert(rep.items[old].remove);
	ck_assert(!rep.items[young].remove);
	ck_assert(!rep.items[dirty].remove);
	ck_assert(!rep.items[unpushed].remove);
	ck_assert(!rep.items[awaiting].remove);
	ck_assert(!rep.items[running].remove);
	ck_assert_msg(!rep.items[c].remove, "a cache with worktrees left stays");
	ck_assert_uint_eq(rep.freed, 10);
	ck_assert_str_eq(rep.items[c].why, "5 worktree(s) still use it");
	ck_assert_str_eq(rep.items[dirty].why,
			 "3 uncommitted change(s); commit and push them, or delete the worktree yourself");
	ck_assert_str_eq(rep.items[old].why, "finished 10d ago, past --worktree-retention-days 7");
}
END_TEST

START_TEST(cache_goes_with_its_last_worktree_when_unused)
{
	size_t c = add(DR_GC_CACHE, DR_GC_IDLE, 40, 100, SIZE_MAX, 1);
	size_t wt = add(DR_GC_WORKTREE, DR_GC_FINISHED, 40, 10, c, 0);
	size_t recent = add(DR_GC_CACHE, DR_GC_IDLE, 3, 100, SIZE_MAX, 0);
	size_t unpushed = add(DR_GC_CACHE, DR_GC_UNPUSHED, 400, 100, SIZE_MAX, 2);
	struct dr_gc_opts o = opts();
	dr_gc_plan(&o, &rep);
	ck_assert(rep.items[wt].remove);
	ck_assert(rep.items[c].remove);
	ck_assert(!rep.items[recent].remove);
	ck_assert(!rep.items[unpushed].remove);
	o.cache_days = 60;
	dr_gc_plan(&o, &rep);
	ck_assert_msg(!rep.items[c].remove, "a longer cache retention keeps it");
	ck_assert(rep.items[wt].remove);
	ck_assert_uint_eq(rep.freed, 10);
}
END_TEST

START_TEST(budget_removes_oldest_first_then_caches)
{
	size_t c = add(DR_GC_CACHE, DR_GC_IDLE, 1, 1000, SIZE_MAX, 3);
	size_t a = add(DR_GC_WORKTREE, DR_GC_FINISHED, 3, 100, c, 0);
	size_t b = add(DR_GC_WORKTREE, DR_GC_FINISHED, 5, 100, c, 0);
	size_t d = add(DR_GC_WORKTREE, DR_GC_FINISHED, 1, 100, c, 0);
	struct dr_gc_opts o = opts();
	o.budget = 1200; /* used 1300: the oldest worktree goes */
	dr_gc_plan(&o, &rep);
	ck_assert(rep.items[b].remove);
	ck_assert(!rep.items[a].remove);
	ck_assert(!rep.items[d].remove);
	ck_assert(!rep.items[c].remove);
	ck_assert(!rep.pressure_left);
	ck_assert_uint_eq(rep.freed, 100);
	o.budget = 1;
	dr_gc_plan(&o, &rep);
	ck_assert_msg(rep.items[a].remove && rep.items[b].remove && rep.items[d].remove && rep.items[c].remove,
		      "under a tiny budget every removable item goes, the cache after its worktrees");
	ck_assert_uint_eq(rep.freed, 1300);
	ck_assert(!rep.pressure_left);
}
END_TEST

START_TEST(min_free_space_counts_what_is_freed)
{
	size_t c = add(DR_GC_CACHE, DR_GC_IDLE, 1, 1000, SIZE_MAX, 2);
	size_t a = add(DR_GC_WORKTREE, DR_GC_FINISHED, 3, 300, c, 0);
	size_t keep = add(DR_GC_WORKTREE, DR_GC_UNPUSHED, 30, 5000, c, 4);
	rep.have_avail = true;
	rep.avail = 900;
	struct dr_gc_opts o = opts();
	o.min_free = 1000;
	dr_gc_plan(&o, &rep);
	ck_assert(rep.items[a].remove);
	ck_assert(!rep.items[keep].remove);
	ck_assert(!rep.items[c].remove);
	ck_assert(!rep.pressure_left);
	o.min_free = 10000;
	dr_gc_plan(&o, &rep);
	ck_assert(rep.pressure_left);
	ck_assert_msg(!rep.items[keep].remove, "unpushed work never goes, whatever the pressure");
}
END_TEST

START_TEST(sizes_are_readable)
{
	char b[32];
	ck_assert_str_eq(dr_gc_format_size(512, b, sizeof b), "512 B");
	ck_assert_str_eq(dr_gc_format_size(1536, b, sizeof b), "1.5 KiB");
	ck_assert_str_eq(dr_gc_format_size(1073741824ULL, b, sizeof b), "1.0 GiB");
}
END_TEST

/* Under pressure the spare worktrees (--warm-worktrees) go first, even when younger. */
START_TEST(spares_go_first_under_pressure)
{
	size_t c = add(DR_GC_CACHE, DR_GC_IDLE, 1, 100, SIZE_MAX, 2);
	size_t old = add(DR_GC_WORKTREE, DR_GC_FINISHED, 5, 50, c, 0);
	size_t spare = add(DR_GC_WORKTREE, DR_GC_FINISHED, 1, 50, c, 0);
	rep.items[old].job_id = dr_xstrdup("job-old");
	rep.items[spare].job_id = dr_xstrdup("spare.1");
	struct dr_gc_opts o = opts();
	o.budget = 160;
	dr_gc_plan(&o, &rep);
	ck_assert(rep.items[spare].remove);
	ck_assert_msg(!rep.items[old].remove, "the older job worktree stays while a spare can go");
	o.budget = 0;
	dr_gc_plan(&o, &rep);
	ck_assert(!rep.items[spare].remove);
	ck_assert_ptr_nonnull(strstr(rep.items[spare].why, "a spare worktree for the next job"));
}
END_TEST

static Suite *gc_suite(void)
{
	Suite *s = suite_create("gc");
	TCase *tc = tcase_create("plan");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, retention_removes_only_old_finished_worktrees);
	tcase_add_test(tc, cache_goes_with_its_last_worktree_when_unused);
	tcase_add_test(tc, budget_removes_oldest_first_then_caches);
	tcase_add_test(tc, min_free_space_counts_what_is_freed);
	tcase_add_test(tc, sizes_are_readable);
	tcase_add_test(tc, spares_go_first_under_pressure);
	suite_add_tcase(s, tc);
	return s;
}

DR_CHECK_MAIN(gc_suite)
