/*
 * cmd_workspace: `delego-runner workspace ls|gc` over gc.h. `gc --auto`
 * does what the daemon's sweep does: it does not wait long for a cache
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

static void print_ls(const struct dr_gc_opts *o, const struct dr_gc_report *r)
{
	char *h = dr_gc_report_header(o, r);
	printf("%s\n", h);
	free(h);
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

static void print_line(void *data, const char *line)
{
	(void)data;
	printf("%s\n", line);
}

int dr_cmd_workspace(struct dr_config *c, const struct dr_cmd_ctx *ctx)
{
	const char *what = c->positional[0];
	if (!what || (strcmp(what, "ls") != 0 && strcmp(what, "gc") != 0) || c->positional[1]) {
		dr_log_err("usage: delego-runner workspace ls|gc [--dry-run] [--json] (see delego-runner help workspace)");
		return DR_EXIT_USAGE;
	}
	bool ls = !strcmp(what, "ls");
	if (c->auto_gc && ls) {
		dr_log_err("--auto belongs to workspace gc");
		return DR_EXIT_USAGE;
	}
	struct dr_gc_opts o;
	dr_gc_opts_init(&o, c);
	o.dry_run = ls || c->dry_run;
	o.lock_wait_ms = c->auto_gc ? AUTO_LOCK_WAIT_MS : MANUAL_LOCK_WAIT_MS;
	struct dr_gc_report r;
	char err[1024];
	int rc = dr_gc_run(&o, &r, err, sizeof err);
	if (rc < 0) {
		dr_log_err("workspace %s: %s", what, err);
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
		dr_gc_report_lines(&o, &r, c->auto_gc, print_line, NULL);
	}
	bool failed = false;
	for (size_t i = 0; i < r.n; i++)
		failed |= r.items[i].error != NULL;
	dr_gc_report_release(&r);
	fflush(stdout);
	return failed ? DR_EXIT_FAILURE : DR_EXIT_OK;
}
