/*
 * gc: keeps the workspace within its budget, and never deletes what a user
 * still needs . Used by `delego-runner workspace ls|gc` and by the
 * daemon's sweep.
 *
 * What is looked at: every <root>/sources/<owner>/<repo>.git (a cache) and
 * every <root>/worktrees/<owner>/<repo>/<jobId> (a worktree); nothing else
 * under the root (a user's checkout at <root>/<owner>/<repo> is never
 * touched) and nothing through a symlink.
 *
 * A worktree is kept while
 *   - a job runs in it (the in-use flock of wslayout.h, any process);
 *   - its job waits for the user's answer (<jobId>.awaiting beside it);
 *   - it is locked with `git worktree lock`;
 *   - it has uncommitted changes or untracked files (ignored files do not
 *     count), or commits that no remote-tracking ref and no
 *     refs/delego/pushed/ ref reaches: kept and reported;
 *   - it is not a worktree of its cache (left alone for inspection).
 * Any other worktree is "finished" and removed once it is older than
 * --worktree-retention-days (age: the last change to its directory, index
 * or HEAD), or sooner, oldest first, while the workspace is over
 * --workspace-budget-bytes or its filesystem has less than --min-free-bytes
 * available. Its branch goes too when every commit of it was pushed; then
 * `git worktree prune`.
 * A cache is removed when no worktree of it is left, no local delego/
 * branch of it holds an unpushed commit, and it was unused (fetched, or
 * one of its worktrees touched) for --cache-retention-days, or sooner,
 * oldest first, under the same budget pressure, after every finished
 * worktree.
 *
 * Removal happens under the cache's flock (wslayout.h), after the
 * worktree's state has been checked again under it; a cache another
 * process holds is skipped (--auto) or waited for up to a minute. A
 * worktree is renamed into <root>/.gc-trash and its record pruned under
 * the lock; its files are deleted after the lock is given back.
 */
#ifndef DELEGO_GC_H
#define DELEGO_GC_H

#include <cjson/cJSON.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <uv.h>

#include "delego/config.h"

enum dr_gc_kind {
	DR_GC_CACHE,
	DR_GC_WORKTREE,
};

enum dr_gc_state {
	DR_GC_FINISHED,  /* worktree: removable (after its retention, or under pressure) */
	DR_GC_IDLE,      /* cache: removable once none of its worktrees is left */
	DR_GC_RUNNING,   /* worktree: a job holds it */
	DR_GC_AWAITING,  /* worktree: its job waits for the user's answer */
	DR_GC_LOCKED,    /* worktree: git worktree lock */
	DR_GC_DIRTY,     /* worktree: uncommitted changes (count: entries) */
	DR_GC_UNPUSHED,  /* worktree or cache: commits on no remote (count: commits) */
	DR_GC_FOREIGN,   /* worktree: not a worktree of its cache */
	DR_GC_BUSY,      /* another process held the cache's lock: skipped this time */
	DR_GC_ERROR,     /* git could not tell; left alone */
};
const char *dr_gc_strstate(enum dr_gc_state s);

/* One cache or worktree. Strings owned by the report. */
struct dr_gc_item {
	enum dr_gc_kind kind;
	enum dr_gc_state state;
	char *path;     /* absolute, resolved */
	char *rel;      /* relative to the root */
	char *slug;     /* "owner/repo" */
	char *job_id;   /* worktrees: the directory's name */
	char *branch;   /* worktrees: the checked-out branch, or NULL */
	char *detail;   /* why it is in its state, or NULL */
	uint64_t size;  /* bytes on disk (hard-linked files shared out) */
	int64_t last_used; /* seconds since the epoch */
	long count;     /* dirty entries, unpushed commits, or a cache's worktrees */
	size_t cache;   /* worktrees: index of their cache in the report, or SIZE_MAX */
	bool remove;    /* the plan removes it */
	bool removed;   /* it is gone (not in a dry run) */
	char *why;      /* the plan's reason, kept or removed; owned */
	char *error;    /* why the removal failed, or NULL */
};

/*
 * What a scan learnt of each worktree (size, state, last use), kept
 * between the daemon's sweeps so that a sweep re-measures only the
 * worktrees that changed: one whose job just ended (dr_gc_memo_forget),
 * one a job was running in, one new, or one whose directory, index, HEAD,
 * reflog, admin directory (git worktree lock) or awaiting marker changed.
 * The others keep their facts, except whether a job runs in them (its
 * lock is tested every time). A removal checks the worktree again under
 * its cache's lock, whatever the memo said. Emptied (the next scan is a
 * full one) when a scan fails and once an hour, for what the signature
 * cannot see (a push made by hand from a kept worktree). Caches are
 * looked at every time. Not thread-safe: one scan at a time.
 */
struct dr_gc_memo;
struct dr_gc_memo *dr_gc_memo_new(void);
void dr_gc_memo_free(struct dr_gc_memo *m);
/* The worktrees named job_id (a job's directory name) are measured again by the next scan. */
void dr_gc_memo_forget(struct dr_gc_memo *m, const char *job_id);
/* Everything is measured again by the next scan. */
void dr_gc_memo_clear(struct dr_gc_memo *m);
/* Worktrees the last scan measured (du, git) rather than took from the memo; full scans so far. */
size_t dr_gc_memo_examined(const struct dr_gc_memo *m);
size_t dr_gc_memo_full_scans(const struct dr_gc_memo *m);

struct dr_gc_opts {
	const char *root;           /* the workspace root (need not exist) */
	int worktree_days;
	int cache_days;
	uint64_t budget;            /* 0: none */
	uint64_t min_free;          /* 0: none */
	bool dry_run;               /* plan only */
	uint64_t lock_wait_ms;      /* how long to wait for a busy cache before skipping it */
	int64_t now;                /* seconds since the epoch; 0: now */
	const atomic_bool *stop;    /* may be NULL; once true, git commands end and the walk stops */
	struct dr_gc_memo *memo;    /* may be NULL (a full scan); the sweep's */
};
/* o from c's workspace options (the rest zero). */
void dr_gc_opts_init(struct dr_gc_opts *o, const struct dr_config *c);

struct dr_gc_report {
	struct dr_gc_item *items;
	size_t n;
	uint64_t used;       /* the sizes of all items */
	uint64_t avail;      /* bytes available to us on the root's filesystem, when have_avail */
	bool have_avail;
	uint64_t freed;      /* by the removals planned (dry run) or done */
	bool pressure_left;  /* still over the budget or under the free minimum when nothing more may go */
};
void dr_gc_report_release(struct dr_gc_report *r);

/*
 * The plan over scanned items (pure: no I/O): sets remove and why on every
 * item, and freed and pressure_left, from the rules above.
 */
void dr_gc_plan(const struct dr_gc_opts *o, struct dr_gc_report *r);

/*
 * Scans the workspace, plans, and (unless dry_run) removes, each removal
 * checked again under the cache's lock. Synchronous: for the
 * `delego-runner workspace` command, never for the daemon's loop. Returns
 * 0 (item failures are in their error field) or a negative errno with err
 * filled.
 */
int dr_gc_run(const struct dr_gc_opts *o, struct dr_gc_report *out, char *err, size_t errlen);

/* The report as JSON (`workspace ls|gc --json`). Caller owns it. */
cJSON *dr_gc_report_json(const struct dr_gc_opts *o, const struct dr_gc_report *r);

/* "512 B", "1.5 KiB", "3.0 GiB" into buf (at least 32 bytes). Returns buf. */
char *dr_gc_format_size(uint64_t n, char *buf, size_t len);

/* "workspace <root>: <used> used (budget ...); <avail> available (minimum ...)". Caller frees. */
char *dr_gc_report_header(const struct dr_gc_opts *o, const struct dr_gc_report *r);

typedef void (*dr_gc_line_cb)(void *data, const char *line);
/*
 * The report as lines of text (`workspace gc`): what was (or would be)
 * removed, what could not be, what is kept; quiet (the sweep, `gc --auto`)
 * says only removals, failures and what is kept for a reason the user
 * must act on.
 */
void dr_gc_report_lines(const struct dr_gc_opts *o, const struct dr_gc_report *r, bool quiet, dr_gc_line_cb line,
			void *data);

/*
 * The daemon's sweep, owned by the runner: dr_gc_run with c's workspace
 * options on libuv's threadpool (uv_queue_work), so the directory walks
 * and git commands never run on the loop, and nothing re-executes our own
 * program (which a package upgrade may have replaced on disk). A sweep
 * asked for while one runs is run once more after it, with the newest
 * options. Its lines go to our log. Request one at start and after each
 * job (after dr_pipeline_free, so that the job's worktree is no longer
 * held).
 */
struct dr_gc_sweep;
struct dr_gc_sweep *dr_gc_sweep_new(uv_loop_t *loop);
void dr_gc_sweep_request(struct dr_gc_sweep *s, const struct dr_config *c);
/*
 * The same after job_id ended: the sweep keeps a memo (dr_gc_memo) and
 * measures again only that job's worktree and what else changed; the first
 * sweep is a full scan. job_id NULL: as dr_gc_sweep_request.
 */
void dr_gc_sweep_request_after(struct dr_gc_sweep *s, const struct dr_config *c, const char *job_id);
/* Ends a running sweep soon (its git commands are stopped) and forgets a pending one: at shutdown. */
void dr_gc_sweep_stop(struct dr_gc_sweep *s);
/* Stops it; the memory goes once the running sweep, if any, is back on the loop. NULL: nothing. */
void dr_gc_sweep_free(struct dr_gc_sweep *s);

/*
 * True when a new worktree for slug/job_id would be cut (none exists yet)
 * while the workspace's filesystem has less than c->min_free_bytes
 * available; *avail gets what it has. False when there is enough, the
 * worktree exists, or statvfs cannot tell.
 */
bool dr_gc_space_short(const struct dr_config *c, const char *slug, const char *job_id, uint64_t *avail);

/*
 * The sentence for a job refused for want of space: how much is missing,
 * what gc would free (r: a dry run's report; NULL: unknown), what is kept
 * and why. Caller frees.
 */
char *dr_gc_shortage_text(const struct dr_gc_opts *o, uint64_t avail, const struct dr_gc_report *r);

typedef void (*dr_gc_msg_cb)(void *data, const char *msg);
/*
 * A dry run on the threadpool to learn what gc would free, then cb once,
 * from the loop, with dr_gc_shortage_text. Returns 0, or a negative errno
 * when the work could not be queued (then cb never runs).
 */
int dr_gc_explain_shortage(uv_loop_t *loop, const struct dr_config *c, uint64_t avail, dr_gc_msg_cb cb,
			   void *data);

#endif
