/*
 * workspace-int: the step core shared by workspace.c (the queue, the
 * cache lock, running commands, cancel, the short steps) and
 * workspace_prepare.c. Each operation is its own struct with a struct
 * dr_workspace_step first; the core knows only that part.
 */
#ifndef DELEGO_WORKSPACE_INT_H
#define DELEGO_WORKSPACE_INT_H

#include "delego/proc.h"
#include "delego/workspace.h"

#define DR__WS_MSG_MAX 1000

struct dr__ws_lock;
typedef void (*dr__ws_next)(struct dr_workspace_step *s, const struct dr_proc_result *r);

struct dr_workspace_step {
	uv_timer_t kick; /* defers the start and retries; the step is freed in its close callback */
	const struct dr_workspace_ctx *ctx;
	char *key;                /* the source cache whose lock the step takes; NULL: no lock */
	struct dr__ws_lock *lock; /* our place in the cache's in-process queue, once granted */
	struct dr_workspace_step *qnext;
	bool queued;              /* waiting in lock's queue */
	char **env;
	void (*start)(struct dr_workspace_step *s);
	int (*before_lock)(struct dr_workspace_step *s); /* prepare: creates the cache directory; may be NULL */
	void (*release)(struct dr_workspace_step *s);    /* frees the typed part; may be NULL */
	dr__ws_next next;
	void (*later)(struct dr_workspace_step *s); /* what the timer runs next (dr__ws_later) */
	struct dr_proc *proc;     /* the running command */
	bool cancelled;
	bool background;          /* on the background list (dr__ws_background) */
	struct dr_workspace_step *bnext;
	dr_workspace_cb cb;
	void *data;
	char err[DR__WS_MSG_MAX + 200];
	int lock_fd;              /* the cross-process flock on the cache, when lock_held */
	bool lock_held;
	uint64_t lock_wait_start; /* uv_now when we first found the cache locked; 0: not waiting */
};

/*
 * Starts s (allocated by the caller, size bytes, zeroed here) from the
 * loop; key NULL: the step runs at once, without the cache's lock.
 */
void dr__ws_step_init(struct dr_workspace_step *s, const struct dr_workspace_ctx *ctx, const char *key,
		      void (*start)(struct dr_workspace_step *), dr_workspace_cb cb, void *data);
/* Runs argv (NULL-terminated varargs) in cwd; next gets the result. Local or network timeout. */
void dr__ws_run(struct dr_workspace_step *s, const char *cwd, bool network, dr__ws_next next, ...);
void dr__ws_finish(struct dr_workspace_step *s, int status);
/* Gives up the cache's lock early (the rest of the step writes only its own worktree). */
void dr__ws_unlock(struct dr_workspace_step *s);
void dr__ws_fail(struct dr_workspace_step *s, int status, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
/* A command failed: "<what>: <what git said>". */
void dr__ws_fail_cmd(struct dr_workspace_step *s, const struct dr_proc_result *r, const char *what);
/* What the command said about its failure: the end of stderr, else of stdout. */
void dr__ws_describe_failure(const struct dr_proc_result *r, char *buf, size_t len);
/* Restarts the step's timer: cb(s) after ms (a retry inside a step). */
void dr__ws_later(struct dr_workspace_step *s, uint64_t ms, void (*cb)(struct dr_workspace_step *));
bool dr__ws_ok(const struct dr_proc_result *r);
/* Puts s on the list dr_workspace_stop_background cancels; it leaves the list when it ends. */
void dr__ws_background(struct dr_workspace_step *s);
void dr__ws_tree_clear(struct dr_workspace_tree *t);

/* A job branch name: "delego/" then [a-z0-9_-] runs separated by single '/', no leading '-' in a part. */
bool dr__ws_branch_valid(const char *b);

/* workspace_cache.c: what earlier prepares in this process learnt of a source cache (loop only). */
bool dr__ws_cache_known_bare(const char *src);
/* The cache was cloned anew: nothing known of it. */
void dr__ws_cache_forget(const char *src);
void dr__ws_cache_set_bare(const char *src);
/* The base resolved after a fetch that started at or after since (uv_hrtime); NULL: none, fetch. */
const char *dr__ws_cache_fresh_base(const char *src, uint64_t since);
void dr__ws_cache_set_base(const char *src, uint64_t fetch_started, const char *base);
/* A worktree record of the cache whose worktree is gone (git worktree prune has work). */
bool dr__ws_cache_has_stale(const char *src);

#endif
