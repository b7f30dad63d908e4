/*
 * workspace: the git and gh steps of a job, each an asynchronous
 * operation on the loop made of child processes (proc), run with the tool
 * environment of childenv plus GIT_TERMINAL_PROMPT=0.
 *
 * The layout under the workspace root is wslayout.h's. The cache is
 * seeded from a checkout at <root>/<owner>/<repo> or <root>/<repo> when
 * there is one (its origin URL is carried over), else cloned from the
 * clone URL. It is fetched (into the origin remote-tracking refs) before
 * a new worktree is cut, and new branches start from the fetched default
 * branch.
 *
 * Only what writes the shared cache is serialised: prepare (clone, fetch,
 * worktree add/prune, ref updates in the cache) runs one at a time per
 * cache, in the order asked for, even with several jobs in flight (a
 * per-cache queue kept in this module), and one at a time across processes
 * (other runner profiles, `delego-runner workspace gc`): it holds a flock
 * on the bare repository directory itself, taken with LOCK_NB and retried
 * on a timer, so the loop never blocks and nothing is left behind (the
 * kernel drops the lock when its holder dies). A missing cache directory
 * is created empty first, to have something to lock; git clones into it.
 * The steps inside a job's own worktree (status, diff, log, commit, push
 * of the job's branch, gh) run in parallel across jobs.
 *
 * Every operation is a step (struct dr_workspace_step) that dr_workspace_step_cancel
 * ends: the running git or gh child gets SIGTERM to its group, SIGKILL
 * after the grace time, and the callback runs with -ECANCELED.
 *
 * A prepared worktree is held in use (a flock LOCK_EX on its directory)
 * until dr_workspace_tree_release, so `workspace gc` in any process leaves it
 * alone while its job runs. Callbacks always run later from the loop, never
 * from inside the call that started the operation. Everything written
 * stays under the workspace root: resolved paths are checked.
 */
#ifndef DELEGO_WORKSPACE_H
#define DELEGO_WORKSPACE_H

#include <cjson/cJSON.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <uv.h>

#include "delego/gitparse.h"
#include "delego/wslayout.h"

struct dr_workspace_step;

/* Borrowed by every operation until its callback has run. */
struct dr_workspace_ctx {
	uv_loop_t *loop;
	const char *root;             /* absolute workspace root (created when missing) */
	const char *clone_base;       /* "git@github.com:" */
	uint64_t local_timeout_ms;    /* local git commands; 0: 2 minutes */
	uint64_t network_timeout_ms;  /* clone, fetch, push, gh; 0: 10 minutes */
	uint64_t kill_grace_ms;       /* a cancelled child: SIGTERM -> SIGKILL; 0: proc's default */
	/*
	 * Spare worktrees per repository (wslayout's spare.<n>), made in the
	 * background after a prepare, detached at the fetched default branch;
	 * a new worktree is cut from one when there is one. 0: none.
	 */
	int warm_worktrees;
	/*
	 * May be NULL. Else *running is the step in flight, set when an
	 * operation starts and NULL again before its callback runs: what
	 * dr_workspace_step_cancel takes. One step at a time per ctx.
	 */
	struct dr_workspace_step **running;
};

/*
 * Ends the step: a command it runs gets SIGTERM to its process group,
 * then SIGKILL after kill_grace_ms; a step waiting for its turn or for
 * the cache's lock stops waiting. Its callback then runs (from the loop,
 * never from inside this call) with -ECANCELED. NULL or a step that is
 * already ending: nothing.
 */
void dr_workspace_step_cancel(struct dr_workspace_step *s);

/*
 * Runs once per operation. status is 0 or a negative errno; err is a
 * sentence for the user ("" on success), borrowed for the call. The
 * operation's output struct is filled only when status is 0.
 */
typedef void (*dr_workspace_cb)(void *data, int status, const char *err);

/* A prepared job worktree. Strings owned; dr_workspace_tree_release frees them. */
struct dr_workspace_tree {
	char *slug;          /* "owner/repo" */
	char *source_path;   /* the bare cache */
	char *worktree_path;
	char *branch;        /* "delego/<key>-<id8>" */
	char *starting_sha;  /* HEAD when the worktree was ready */
	bool reused;         /* an existing worktree on the branch (follow-up) */
	bool reattached;     /* the branch existed without a worktree */
	bool seeded;         /* the cache was created now from a local checkout */
	char *fetch_warning; /* the fetch failed: we went on from the cached base; else NULL */
	int inuse_fd;        /* private: the in-use flock on worktree_path, when inuse_held */
	bool inuse_held;
};
void dr_workspace_tree_release(struct dr_workspace_tree *t);

struct dr_workspace_prepare_in {
	const char *slug;   /* checked here again: -EINVAL */
	const char *job_id; /* checked here again: -EINVAL */
	const char *branch; /* from dr_job_branch_name(); checked with git check-ref-format rules */
};
/*
 * Source cache (clone or seed, then fetch when a new worktree is cut),
 * then the worktree: reused when it is already on the branch, refused
 * (-EEXIST, left alone) when it is on another branch, re-attached when the
 * branch exists without a worktree, else cut as a new branch; it must be
 * clean; its HEAD becomes starting_sha. Returns -EINVAL (no callback) for
 * a bad slug, id or branch, with the reason in err.
 */
int dr_workspace_prepare(const struct dr_workspace_ctx *ctx, const struct dr_workspace_prepare_in *in, struct dr_workspace_tree *out,
			 dr_workspace_cb cb, void *data, char *err, size_t errlen);

/* git status --porcelain -z of the worktree (gitparse.h's struct). */
int dr_workspace_changes(const struct dr_workspace_ctx *ctx, const struct dr_workspace_tree *t, struct dr_gitparse_changes *out,
			 dr_workspace_cb cb, void *data);

struct dr_workspace_commit_in {
	const char *identifier, *title, *url; /* each may be NULL */
	const struct dr_gitparse_changes *changes;  /* from dr_workspace_changes; must not be empty */
};
/*
 * git add --all and one commit with gitparse's subject and body. A fallback
 * author (Delego Runner <runner@delego.local>) is given to that one commit
 * only when git has no user.name / user.email configured; nothing is
 * written to the repository's config.
 */
int dr_workspace_commit(const struct dr_workspace_ctx *ctx, const struct dr_workspace_tree *t, const struct dr_workspace_commit_in *in,
			struct dr_gitparse_commit *out, dr_workspace_cb cb, void *data);
/* Describes HEAD (a commit the agent made), files from starting_sha..HEAD. */
int dr_workspace_describe_head(const struct dr_workspace_ctx *ctx, const struct dr_workspace_tree *t, struct dr_gitparse_commit *out,
			       dr_workspace_cb cb, void *data);

/* HEAD of the worktree into sha (at least 65 bytes). */
int dr_workspace_head(const struct dr_workspace_ctx *ctx, const struct dr_workspace_tree *t, char *sha, dr_workspace_cb cb, void *data);

/* git push -u origin HEAD:refs/heads/<branch>. */
int dr_workspace_push(const struct dr_workspace_ctx *ctx, const struct dr_workspace_tree *t, dr_workspace_cb cb, void *data);

struct dr_workspace_pr_in {
	const char *title, *body;
	bool draft;
};
/* prMetadata (without the fields the caller knows). Owned. */
struct dr_workspace_pr {
	char *url;
	long number; /* -1 when unknown */
	char *title;
	bool draft;
	bool existing; /* gh said it already existed; looked up with gh pr view */
};
void dr_workspace_pr_release(struct dr_workspace_pr *pr);
/*
 * gh pr create --title --body --head <branch> [--draft]; when gh says the
 * pull request already exists, gh pr view <branch> --json
 * url,number,title,isDraft.
 */
int dr_workspace_pr(const struct dr_workspace_ctx *ctx, const struct dr_workspace_tree *t, const struct dr_workspace_pr_in *in,
		    struct dr_workspace_pr *out, dr_workspace_cb cb, void *data);

/* Cancels the background steps (spare worktrees being made): at shutdown. */
void dr_workspace_stop_background(void);

/* dr_wslayout_mark_awaiting for the tree's worktree (-EINVAL without one). */
int dr_workspace_mark_awaiting(const struct dr_workspace_tree *t, const char *job_id, bool awaiting);

/* <base><slug>.git when base ends in ':', else <base>/<slug>.git. Caller frees. */
char *dr_workspace_clone_url(const char *base, const char *slug);

#endif
