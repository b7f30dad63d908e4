/*
 * gc-int: the parts of gc shared by gc.c (the plan, the report, a whole
 * run), gc_scan.c (what is on disk, git run synchronously), gc_remove.c
 * (removal under the cache's lock) and gc_sweep.c (the daemon's sweep on
 * the threadpool). The scan and the removals block: they run in the
 * `workspace` command or on a threadpool thread, never on the loop.
 */
#ifndef DELEGO_GC_INT_H
#define DELEGO_GC_INT_H

#include "delego/gc.h"

#define DR__GC_GIT_OUT_MAX (4 * 1024 * 1024)

/* What a synchronous git command said. */
struct dr__gc_git {
	int code; /* exit code; 124 when it timed out or was stopped */
	char *out;
	size_t out_len;
	char *err;
};
/* Runs git with the NULL-terminated args in cwd; stops it when *o->stop turns true. */
int dr__gc_git_run(const struct dr_gc_opts *o, struct dr__gc_git *g, const char *cwd, const char *const *args);
void dr__gc_git_release(struct dr__gc_git *g);
/* The number git printed, or -1 with *err set (caller frees). */
long dr__gc_git_count(const struct dr_gc_opts *o, const char *cwd, const char *const *args, char **err);

bool dr__gc_stopped(const struct dr_gc_opts *o);
void dr__gc_set_detail(struct dr_gc_item *it, enum dr_gc_state s, char *detail);

/* Every cache and worktree under the resolved root into r. */
int dr__gc_scan(const struct dr_gc_opts *o, const char *root, struct dr_gc_report *r, char *err, size_t errlen);
void dr__gc_scan_cache(const struct dr_gc_opts *o, struct dr_gc_item *it);
/* hold_fd not NULL: the worktree's in-use lock is taken LOCK_EX and left in *hold_fd. */
void dr__gc_scan_worktree(const struct dr_gc_opts *o, struct dr_gc_item *it, const struct dr_gc_item *cache,
			  int *hold_fd);
/* The memo (gc_memo.c), o->memo NULL: each does nothing (recall: false). */
void dr__gc_memo_begin(const struct dr_gc_opts *o, int64_t now);
void dr__gc_memo_end(const struct dr_gc_opts *o, bool ok);
/* The worktree's facts from the memo when it has not changed since they were measured. */
bool dr__gc_memo_recall(const struct dr_gc_opts *o, struct dr_gc_item *it, const struct dr_gc_item *cache);
/* After a miss of recall, the facts just measured. */
void dr__gc_memo_store(const struct dr_gc_opts *o, const struct dr_gc_item *it, const struct dr_gc_item *cache);
/* The next scan measures path again (a removal was tried). */
void dr__gc_memo_drop(const struct dr_gc_opts *o, const char *path);

/* rm -rf of a real directory, never through a symlink. */
int dr__gc_rm_tree(const char *path);

/* Where removed worktrees wait for their files' deletion, under the root (the scan does not look there). */
#define DR__GC_TRASH ".gc-trash"
/* Deletes what a gc before this one left in the trash. */
void dr__gc_empty_trash(const char *root);

/* Removes what the plan marked, each checked again under its cache's lock. */
void dr__gc_remove_planned(const struct dr_gc_opts *o, struct dr_gc_report *r);

#endif
