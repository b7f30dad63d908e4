/*
 * gc: the plan (pure), the report, and a whole run: scan (gc_scan.c),
 * plan, remove (gc_remove.c). The daemon's sweep is gc_sweep.c.
 */
#include "gc-int.h"
#include "delego/buf.h"
#include "delego/job.h"
#include "delego/json.h"
#include "delego/wslayout.h"
#include "delego/xalloc.h"

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/statvfs.h>
#include <time.h>

#define DAY (24 * 60 * 60)

char *dr_gc_format_size(uint64_t n, char *buf, size_t len)
{
	static const char *const units[] = { "KiB", "MiB", "GiB", "TiB", "PiB" };
	if (n < 1024) {
		snprintf(buf, len, "%llu B", (unsigned long long)n);
		return buf;
	}
	double v = (double)n / 1024;
	size_t u = 0;
	while (v >= 1024 && u + 1 < sizeof units / sizeof *units) {
		v /= 1024;
		u++;
	}
	snprintf(buf, len, "%.1f %s", v, units[u]);
	return buf;
}

static char *format_age(int64_t secs, char *buf, size_t len)
{
	if (secs < 0)
		secs = 0;
	if (secs >= 2 * DAY)
		snprintf(buf, len, "%lldd", (long long)(secs / DAY));
	else if (secs >= 3600)
		snprintf(buf, len, "%lldh", (long long)(secs / 3600));
	else
		snprintf(buf, len, "%lldm", (long long)(secs / 60));
	return buf;
}

void dr_gc_report_release(struct dr_gc_report *r)
{
	if (!r)
		return;
	for (size_t i = 0; i < r->n; i++) {
		struct dr_gc_item *it = &r->items[i];
		free(it->path);
		free(it->rel);
		free(it->slug);
		free(it->job_id);
		free(it->branch);
		free(it->detail);
		free(it->why);
		free(it->error);
	}
	free(r->items);
	memset(r, 0, sizeof(*r));
}

/* ---- the plan ---- */

static int64_t opts_now(const struct dr_gc_opts *o)
{
	return o->now ? o->now : (int64_t)time(NULL);
}

static void set_why(struct dr_gc_item *it, char *why)
{
	free(it->why);
	it->why = why;
}

/* Worktrees of cache c that the plan keeps, plus worktrees registered outside the root. */
static long cache_remaining(const struct dr_gc_report *r, size_t c)
{
	long left = r->items[c].count;
	for (size_t i = 0; i < r->n; i++)
		if (r->items[i].kind == DR_GC_WORKTREE && r->items[i].cache == c && r->items[i].remove &&
		    r->items[i].state == DR_GC_FINISHED)
			left--;
	return left;
}

static bool under_pressure(const struct dr_gc_opts *o, const struct dr_gc_report *r, const char **what)
{
	if (o->budget && r->used - r->freed > o->budget) {
		*what = "over --workspace-budget-bytes";
		return true;
	}
	if (o->min_free && r->have_avail && r->avail + r->freed < o->min_free) {
		*what = "less free space than --min-free-bytes";
		return true;
	}
	return false;
}

/* Why a kept item is kept, for ls and the gc report. */
static char *kept_reason(const struct dr_gc_opts *o, const struct dr_gc_report *r, size_t i, int64_t now)
{
	const struct dr_gc_item *it = &r->items[i];
	char age[32];
	switch (it->state) {
	case DR_GC_FINISHED:
		if (it->kind == DR_GC_WORKTREE && dr_wslayout_is_spare(it->job_id))
			return dr_xasprintf("a spare worktree for the next job of %s (--warm-worktrees); made %s ago, "
					    "kept for %d days (--cache-retention-days)",
					    it->slug ? it->slug : "its repository",
					    format_age(now - it->last_used, age, sizeof age), o->cache_days);
		return dr_xasprintf("finished %s ago; kept for %d days (--worktree-retention-days)",
				    format_age(now - it->last_used, age, sizeof age), o->worktree_days);
	case DR_GC_IDLE: {
		long left = cache_remaining(r, i);
		if (left > 0)
			return dr_xasprintf("%ld worktree(s) still use it", left);
		return dr_xasprintf("unused for %s; kept for %d days (--cache-retention-days)",
				    format_age(now - it->last_used, age, sizeof age), o->cache_days);
	}
	case DR_GC_RUNNING:
		return dr_xstrdup("a job is running in it");
	case DR_GC_AWAITING:
		return dr_xasprintf("its job waits for the user's answer (since %s ago)",
				    format_age(now - it->last_used, age, sizeof age));
	case DR_GC_LOCKED:
		return dr_xasprintf("locked with git worktree lock%s%s; `git worktree unlock` lets gc remove it",
				    it->detail ? ": " : "", it->detail ? it->detail : "");
	case DR_GC_DIRTY:
		return dr_xasprintf("%ld uncommitted change(s); commit and push them, or delete the worktree yourself",
				    it->count);
	case DR_GC_UNPUSHED:
		if (it->kind == DR_GC_CACHE)
			return dr_xasprintf("%ld commit(s) on local delego/ branches that no remote has; push or delete "
					    "those branches",
					    it->count);
		return dr_xasprintf("%ld commit(s) that no remote has; push the branch%s%s, or delete the worktree "
				    "yourself",
				    it->count, it->branch ? " " : "", it->branch ? it->branch : "");
	case DR_GC_FOREIGN:
	case DR_GC_BUSY:
	case DR_GC_ERROR:
		return dr_xstrdup(it->detail ? it->detail : "left alone");
	}
	return dr_xstrdup("kept");
}

static void plan_remove(struct dr_gc_report *r, size_t i, char *why)
{
	r->items[i].remove = true;
	r->freed += r->items[i].size;
	set_why(&r->items[i], why);
}

void dr_gc_plan(const struct dr_gc_opts *o, struct dr_gc_report *r)
{
	int64_t now = opts_now(o);
	char age[32];
	r->freed = 0;
	r->pressure_left = false;
	for (size_t i = 0; i < r->n; i++)
		r->items[i].remove = false;

	/* 1. Finished worktrees past their retention. */
	for (size_t i = 0; i < r->n; i++) {
		struct dr_gc_item *it = &r->items[i];
		/* A spare serves the next job of its repository: it is kept as long as an unused cache. */
		int days = dr_wslayout_is_spare(it->job_id) ? o->cache_days : o->worktree_days;
		if (it->kind == DR_GC_WORKTREE && it->state == DR_GC_FINISHED &&
		    now - it->last_used >= (int64_t)days * DAY)
			plan_remove(r, i, dr_xasprintf("%s %s ago, past --%s-retention-days %d",
						       days == o->worktree_days ? "finished" : "a spare made",
						       format_age(now - it->last_used, age, sizeof age),
						       days == o->worktree_days ? "worktree" : "cache", days));
	}
	/* 2. Caches without worktrees, unused past their retention. */
	for (size_t i = 0; i < r->n; i++) {
		struct dr_gc_item *it = &r->items[i];
		if (it->kind == DR_GC_CACHE && it->state == DR_GC_IDLE && cache_remaining(r, i) <= 0 &&
		    now - it->last_used >= (int64_t)o->cache_days * DAY)
			plan_remove(r, i, dr_xasprintf("unused for %s, past --cache-retention-days %d",
						       format_age(now - it->last_used, age, sizeof age), o->cache_days));
	}
	/* 3. Budget and free space: spares, then the oldest finished worktree, then the oldest idle cache. */
	const char *what;
	while (under_pressure(o, r, &what)) {
		size_t best = SIZE_MAX;
		for (int pass = 0; pass < 3 && best == SIZE_MAX; pass++) {
			for (size_t i = 0; i < r->n; i++) {
				struct dr_gc_item *it = &r->items[i];
				if (it->remove)
					continue;
				bool wt = it->kind == DR_GC_WORKTREE && it->state == DR_GC_FINISHED;
				bool ok = pass == 0   ? wt && dr_wslayout_is_spare(it->job_id)
					  : pass == 1 ? wt
						      : it->kind == DR_GC_CACHE && it->state == DR_GC_IDLE &&
								cache_remaining(r, i) <= 0;
				if (ok && (best == SIZE_MAX || it->last_used < r->items[best].last_used))
					best = i;
			}
		}
		if (best == SIZE_MAX) {
			r->pressure_left = true;
			break;
		}
		plan_remove(r, best, dr_xasprintf("%s; the oldest that may go (used %s ago)", what,
						  format_age(now - r->items[best].last_used, age, sizeof age)));
	}
	for (size_t i = 0; i < r->n; i++)
		if (!r->items[i].remove)
			set_why(&r->items[i], kept_reason(o, r, i, now));
}

int dr_gc_run(const struct dr_gc_opts *o, struct dr_gc_report *out, char *err, size_t errlen)
{
	memset(out, 0, sizeof(*out));
	if (!o->root || o->root[0] != '/') {
		snprintf(err, errlen, "the workspace root must be an absolute path");
		return -EINVAL;
	}
	char root[PATH_MAX];
	if (!realpath(o->root, root)) {
		if (errno == ENOENT)
			return 0; /* nothing there yet */
		int e = -errno;
		snprintf(err, errlen, "cannot resolve the workspace root %s: %s", o->root, strerror(errno));
		return e;
	}
	struct statvfs vfs;
	if (statvfs(root, &vfs) == 0) {
		out->avail = (uint64_t)vfs.f_bavail * (uint64_t)vfs.f_frsize;
		out->have_avail = true;
	}
	if (!o->dry_run)
		dr__gc_empty_trash(root);
	dr__gc_memo_begin(o, opts_now(o));
	int r = dr__gc_scan(o, root, out, err, errlen);
	dr__gc_memo_end(o, r == 0 && !dr__gc_stopped(o));
	if (r < 0) {
		dr_gc_report_release(out);
		return r;
	}
	dr_gc_plan(o, out);
	if (!o->dry_run) {
		/* Removed, or found changed under the lock: either way, measured again next time. */
		for (size_t i = 0; i < out->n; i++)
			if (out->items[i].kind == DR_GC_WORKTREE && out->items[i].remove)
				dr__gc_memo_drop(o, out->items[i].path);
		dr__gc_remove_planned(o, out);
	}
	return 0;
}

cJSON *dr_gc_report_json(const struct dr_gc_opts *o, const struct dr_gc_report *r)
{
	cJSON *j = cJSON_CreateObject();
	cJSON_AddStringToObject(j, "root", o->root);
	cJSON_AddBoolToObject(j, "dryRun", o->dry_run);
	cJSON_AddNumberToObject(j, "usedBytes", (double)r->used);
	cJSON_AddNumberToObject(j, "budgetBytes", (double)o->budget);
	if (r->have_avail)
		cJSON_AddNumberToObject(j, "availableBytes", (double)r->avail);
	else
		cJSON_AddNullToObject(j, "availableBytes");
	cJSON_AddNumberToObject(j, "minFreeBytes", (double)o->min_free);
	cJSON_AddNumberToObject(j, "freedBytes", (double)r->freed);
	cJSON_AddBoolToObject(j, "pressureLeft", r->pressure_left);
	cJSON *items = cJSON_AddArrayToObject(j, "items");
	int64_t now = opts_now(o);
	for (size_t i = 0; i < r->n; i++) {
		const struct dr_gc_item *it = &r->items[i];
		cJSON *e = cJSON_CreateObject();
		cJSON_AddStringToObject(e, "kind", it->kind == DR_GC_CACHE ? "cache" : "worktree");
		cJSON_AddStringToObject(e, "path", it->rel);
		cJSON_AddStringToObject(e, "repositorySlug", it->slug);
		dr_json_add_str_or_null(e, "jobId", it->job_id);
		dr_json_add_str_or_null(e, "branchName", it->branch);
		cJSON_AddStringToObject(e, "state", dr_gc_strstate(it->state));
		cJSON_AddNumberToObject(e, "sizeBytes", (double)it->size);
		cJSON_AddNumberToObject(e, "ageSeconds", (double)(now - it->last_used));
		cJSON_AddBoolToObject(e, "remove", it->remove);
		cJSON_AddBoolToObject(e, "removed", it->removed);
		dr_json_add_str_or_null(e, "why", it->why);
		dr_json_add_str_or_null(e, "error", it->error);
		cJSON_AddItemToArray(items, e);
	}
	return j;
}

bool dr_gc_space_short(const struct dr_config *c, const char *slug, const char *job_id, uint64_t *avail)
{
	if (!c->min_free_bytes || !slug || !job_id || !dr_job_slug_valid(slug) || !dr_job_id_valid(job_id))
		return false;
	char *wt = dr_wslayout_worktree(c->workspace_root, slug, job_id);
	bool exists = dr_wslayout_is_dir(wt);
	free(wt);
	if (exists)
		return false; /* a follow-up reuses its worktree */
	/* The root may not exist yet: ask about the nearest folder that does. */
	char *p = dr_xstrdup(c->workspace_root);
	struct statvfs vfs;
	bool known = false;
	for (int i = 0; i < 64; i++) {
		if (statvfs(p, &vfs) == 0) {
			known = true;
			break;
		}
		char *slash = strrchr(p, '/');
		if (!slash || slash == p)
			break;
		*slash = '\0';
	}
	free(p);
	if (!known)
		return false;
	*avail = (uint64_t)vfs.f_bavail * (uint64_t)vfs.f_frsize;
	return *avail < c->min_free_bytes;
}


void dr_gc_opts_init(struct dr_gc_opts *o, const struct dr_config *c)
{
	*o = (struct dr_gc_opts){
		.root = c->workspace_root,
		.worktree_days = c->worktree_retention_days,
		.cache_days = c->cache_retention_days,
		.budget = c->workspace_budget_bytes,
		.min_free = c->min_free_bytes,
	};
}

char *dr_gc_report_header(const struct dr_gc_opts *o, const struct dr_gc_report *r)
{
	char used[32], budget[32], avail[32], minfree[32];
	dr_gc_format_size(r->used, used, sizeof used);
	dr_gc_format_size(o->budget, budget, sizeof budget);
	dr_gc_format_size(r->avail, avail, sizeof avail);
	dr_gc_format_size(o->min_free, minfree, sizeof minfree);
	return dr_xasprintf("workspace %s: %s used (budget %s); %s available (minimum %s)", o->root, used,
			    o->budget ? budget : "none", r->have_avail ? avail : "unknown", o->min_free ? minfree : "none");
}

void dr_gc_report_lines(const struct dr_gc_opts *o, const struct dr_gc_report *r, bool quiet, dr_gc_line_cb line,
			void *data)
{
	if (!quiet) {
		char *h = dr_gc_report_header(o, r);
		line(data, h);
		free(h);
	}
	size_t removed = 0, failed = 0;
	for (size_t i = 0; i < r->n; i++) {
		const struct dr_gc_item *it = &r->items[i];
		char size[32];
		char *s = NULL;
		dr_gc_format_size(it->size, size, sizeof size);
		if (o->dry_run && it->remove) {
			s = dr_xasprintf("would remove %s (%s): %s", it->rel, size, it->why);
			removed++;
		} else if (it->removed) {
			s = dr_xasprintf("removed %s (%s): %s", it->rel, size, it->why);
			removed++;
		} else if (it->error) {
			s = dr_xasprintf("could not remove %s: %s", it->rel, it->error);
			failed++;
		} else {
			/* Kept for a reason the user may have to act on: said even by the quiet sweep. */
			bool notable = it->state == DR_GC_DIRTY || it->state == DR_GC_UNPUSHED || it->state == DR_GC_BUSY ||
				       it->state == DR_GC_ERROR || it->state == DR_GC_FOREIGN;
			if (!quiet || notable)
				s = dr_xasprintf("kept %s (%s): %s", it->rel, size, it->why ? it->why : "");
		}
		if (s)
			line(data, s);
		free(s);
	}
	char freed[32];
	dr_gc_format_size(r->freed, freed, sizeof freed);
	if (!quiet || removed || failed || r->pressure_left) {
		char *s = dr_xasprintf("%s %s in %zu removal(s)%s%s", o->dry_run ? "would free" : "freed", freed, removed,
				       failed ? ", some failed (above)" : "",
				       r->pressure_left ? "; still over the budget or under the free-space minimum: "
							  "everything left is kept for a reason above"
							: "");
		line(data, s);
		free(s);
	}
}

char *dr_gc_shortage_text(const struct dr_gc_opts *o, uint64_t avail, const struct dr_gc_report *r)
{
	char have[32], need[32], more[32], freed[32];
	dr_gc_format_size(avail, have, sizeof have);
	dr_gc_format_size(o->min_free, need, sizeof need);
	dr_gc_format_size(o->min_free > avail ? o->min_free - avail : 0, more, sizeof more);
	struct dr_buf b = DR_BUF_INIT(0);
	dr_buf_addf(&b, "Not enough free disk space for a new worktree: the filesystem of %s has %s available, and "
			"--min-free-bytes asks for %s (%s more).",
		    o->root, have, need, more);
	if (!r) {
		dr_buf_addstr(&b, " Run `delego-runner workspace ls` to see what the workspace holds; free space, or "
				  "lower --min-free-bytes.");
		return dr_buf_detach(&b, NULL);
	}
	if (r->freed > 0)
		dr_buf_addf(&b, " `delego-runner workspace gc` would free %s now.",
			    dr_gc_format_size(r->freed, freed, sizeof freed));
	else
		dr_buf_addstr(&b, " `delego-runner workspace gc` would free nothing now.");
	long counts[DR_GC_ERROR + 1] = { 0 };
	for (size_t i = 0; i < r->n; i++)
		if (!r->items[i].remove && r->items[i].state <= DR_GC_ERROR)
			counts[r->items[i].state]++;
	if (counts[DR_GC_UNPUSHED] || counts[DR_GC_DIRTY] || counts[DR_GC_AWAITING])
		dr_buf_addf(&b, " Kept: %ld worktree(s) or cache(s) with unpushed commits, %ld with uncommitted "
				"changes, %ld waiting for an answer.",
			    counts[DR_GC_UNPUSHED], counts[DR_GC_DIRTY], counts[DR_GC_AWAITING]);
	dr_buf_addstr(&b, " See `delego-runner workspace ls`; free space, or lower --min-free-bytes.");
	return dr_buf_detach(&b, NULL);
}
