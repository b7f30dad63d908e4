/*
 * cmd_workspace: `delego-runner workspace ls|gc` over gc.h. `gc --auto` is
 * the daemon's sweep (dr_gc_sweep_async): it does not wait for a cache
 * another process holds and prints only what it removed and what it keeps
 * for a reason the user must act on.
 */
#include "commands.h"
#include "delego/gc.h"
#include "delego/json.h"
#include "delego/log.h"
#include "delego/xalloc.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define MANUAL_LOCK_WAIT_MS 60000
#define AUTO_LOCK_WAIT_MS 2000

static void print_header(const struct dr_gc_opts *o, const struct dr_gc_report *r)
{
	char used[32], budget[32], avail[32], minfree[32];
	dr_gc_format_size(r->used, used, sizeof used);
	dr_gc_format_size(o->budget, budget, sizeof budget);
	dr_gc_format_size(r->avail, avail, sizeof avail);
	dr_gc_format_size(o->min_free, minfree, sizeof minfree);
	printf("workspace %s: %s used (budget %s); %s available (minimum %s)\n", o->root, used,
	       o->budget ? budget : "none", r->have_avail ? avail : "unknown", o->min_free ? minfree : "none");
}

static void print_ls(const struct dr_gc_opts *o, const struct dr_gc_report *r)
{
	print_header(o, r);
	if (r->n == 0) {
		printf("nothing in it yet\n");
		return;
	}
	printf("%-8s  %-10s  %-5s  %-8s  %s\n", "KIND", "SIZE", "AGE", "STATE", "PATH");
	time_t now = o->now ? (time_t)o->now : time(NULL);
	for (size_t i = 0; i < r->n; i++) {
		const struct dr_gc_item *it = &r->items[i];
		char size[32], age[32];
		int64_t secs = (int64_t)now - it->last_used;
		if (secs >= 2 * 86400)
			snprintf(age, sizeof age, "%lldd", (long long)(secs / 86400));
		else if (secs >= 3600)
			snprintf(age, sizeof age, "%lldh", (long long)(secs / 3600));
		else
			snprintf(age, sizeof age, "%lldm", (long long)(secs > 0 ? secs / 60 : 0));
		printf("%-8s  %-10s  %-5s  %-8s  %s\n", it->kind == DR_GC_CACHE ? "cache" : "worktree",
		       dr_gc_format_size(it->size, size, sizeof size), age, dr_gc_strstate(it->state), it->rel);
		if (it->kind == DR_GC_WORKTREE)
			printf("%-38s  job %s, branch %s\n", "", it->job_id, it->branch ? it->branch : "-");
		printf("%-38s  %s: %s\n", "", it->remove ? "gc removes it" : "kept", it->why ? it->why : "");
	}
	char freed[32];
	printf("gc would free %s%s\n", dr_gc_format_size(r->freed, freed, sizeof freed),
	       r->pressure_left ? "; the budget cannot be met: everything else is kept for a reason above" : "");
}

static void print_gc(const struct dr_gc_opts *o, const struct dr_gc_report *r, bool quiet)
{
	if (!quiet)
		print_header(o, r);
	size_t removed = 0, failed = 0;
	for (size_t i = 0; i < r->n; i++) {
		const struct dr_gc_item *it = &r->items[i];
		char size[32];
		dr_gc_format_size(it->size, size, sizeof size);
		if (o->dry_run && it->remove) {
			printf("would remove %s (%s): %s\n", it->rel, size, it->why);
			removed++;
		} else if (it->removed) {
			printf("removed %s (%s): %s\n", it->rel, size, it->why);
			removed++;
		} else if (it->error) {
			printf("could not remove %s: %s\n", it->rel, it->error);
			failed++;
		} else {
			/* Kept for a reason the user may have to act on: said even by the quiet sweep. */
			bool notable = it->state == DR_GC_DIRTY || it->state == DR_GC_UNPUSHED || it->state == DR_GC_BUSY ||
				       it->state == DR_GC_ERROR || it->state == DR_GC_FOREIGN;
			if (quiet && !notable)
				continue;
			printf("kept %s (%s): %s\n", it->rel, size, it->why ? it->why : "");
		}
	}
	char freed[32];
	dr_gc_format_size(r->freed, freed, sizeof freed);
	if (!quiet || removed || failed || r->pressure_left)
		printf("%s %s in %zu removal(s)%s%s\n", o->dry_run ? "would free" : "freed", freed, removed,
		       failed ? ", some failed (above)" : "",
		       r->pressure_left ? "; still over the budget or under the free-space minimum: everything left "
					  "is kept for a reason above"
					: "");
}

int dr_cmd_workspace(struct dr_config *c, const struct dr_cmd_ctx *ctx)
{
	const char *what = c->positional[0];
	if (!what || (strcmp(what, "ls") != 0 && strcmp(what, "gc") != 0) || c->positional[1]) {
		dr_err("usage: delego-runner workspace ls|gc [--dry-run] [--json] (see delego-runner help workspace)");
		return DR_EXIT_USAGE;
	}
	bool ls = !strcmp(what, "ls");
	if (c->auto_gc && ls) {
		dr_err("--auto belongs to workspace gc");
		return DR_EXIT_USAGE;
	}
	struct dr_gc_opts o = {
		.root = c->workspace_root,
		.worktree_days = c->worktree_retention_days,
		.cache_days = c->cache_retention_days,
		.budget = c->workspace_budget_bytes,
		.min_free = c->min_free_bytes,
		.dry_run = ls || c->dry_run,
		.lock_wait_ms = c->auto_gc ? AUTO_LOCK_WAIT_MS : MANUAL_LOCK_WAIT_MS,
	};
	struct dr_gc_report r;
	char err[1024];
	int rc = dr_gc_run(&o, &r, err, sizeof err);
	if (rc < 0) {
		dr_err("workspace %s: %s", what, err);
		return DR_EXIT_FAILURE;
	}
	if (c->json) {
		cJSON *j = dr_gc_report_json(&o, &r);
		char *s = dr_json_print(j);
		printf("%s\n", s);
		free(s);
		cJSON_Delete(j);
	} else if (ls) {
		print_ls(&o, &r);
	} else {
		print_gc(&o, &r, c->auto_gc);
	}
	bool failed = false;
	for (size_t i = 0; i < r.n; i++)
		failed |= r.items[i].error != NULL;
	dr_gc_report_release(&r);
	fflush(stdout);
	return failed ? DR_EXIT_FAILURE : DR_EXIT_OK;
}
