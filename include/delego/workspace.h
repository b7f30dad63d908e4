/*
 * workspace: the git and gh steps of a job (delego-runner-protocol(7), RUNNING A JOB), each
 * an asynchronous operation on the loop made of child processes (proc),
 * run with the tool environment of childenv plus GIT_TERMINAL_PROMPT=0.
 *
 * Layout under the workspace root:
 *   <root>/sources/<owner>/<repo>.git            bare source cache
 *   <root>/worktrees/<owner>/<repo>/<jobId>      one worktree per job
 * The cache is seeded from a checkout at <root>/<owner>/<repo> or
 * <root>/<repo> when there is one (its origin URL is carried over), else
 * cloned from the clone URL. It is fetched (into the origin remote-tracking refs)
 * before a new worktree is cut, and new branches start from the fetched
 * default branch.
 *
 * All operations on one source cache run one at a time, in the order they
 * were asked for, even with several jobs in flight (a per-cache queue kept
 * in this module), and one at a time across processes (other runner
 * profiles, `delego-runner workspace gc`): each operation holds a flock on
 * the bare repository directory itself, taken with LOCK_NB and retried on a
 * timer, so the loop never blocks and nothing is left behind (the kernel
 * drops the lock when its holder dies). A missing cache directory is
 * created empty first, to have something to lock; git clones into it.
 *
 * A prepared worktree is held in use (a flock LOCK_EX on its directory)
 * until dr_ws_tree_release, so `workspace gc` in any process leaves it
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

#define DR_WS_LIST_MAX 50       /* changed files named in reports and commit bodies */
#define DR_WS_KEEP_MAX 1000     /* changed paths kept by dr_workspace_changes (all are counted) */
#define DR_WS_COMMIT_FILES_MAX 200
#define DR_WS_SUBJECT_TITLE_MAX 120 /* characters of the title in a commit subject */

/* Borrowed by every operation until its callback has run. */
struct dr_ws_ctx {
	uv_loop_t *loop;
	const char *root;             /* absolute workspace root (created when missing) */
	const char *clone_base;       /* "git@github.com:" */
	uint64_t local_timeout_ms;    /* local git commands; 0: 2 minutes */
	uint64_t network_timeout_ms;  /* clone, fetch, push, gh; 0: 10 minutes */
};

/*
 * Runs once per operation. status is 0 or a negative errno; err is a
 * sentence for the user ("" on success), borrowed for the call. The
 * operation's output struct is filled only when status is 0.
 */
typedef void (*dr_ws_cb)(void *data, int status, const char *err);

/* A prepared job worktree. Strings owned; dr_ws_tree_release frees them. */
struct dr_ws_tree {
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
void dr_ws_tree_release(struct dr_ws_tree *t);

struct dr_ws_prepare_in {
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
int dr_workspace_prepare(const struct dr_ws_ctx *ctx, const struct dr_ws_prepare_in *in, struct dr_ws_tree *out,
			 dr_ws_cb cb, void *data, char *err, size_t errlen);

/* What `git status --porcelain -z` lists, with correct paths (renames: the new path). */
struct dr_ws_changes {
	char **paths;   /* the first DR_WS_KEEP_MAX, in git's order; owned */
	size_t kept;
	size_t count;   /* all entries */
};
void dr_ws_changes_release(struct dr_ws_changes *c);
/* Parses porcelain v1 -z output into out (which must be zeroed). Entries cut short at the end are ignored. */
void dr_workspace_parse_status(const char *z, size_t len, struct dr_ws_changes *out);
int dr_workspace_changes(const struct dr_ws_ctx *ctx, const struct dr_ws_tree *t, struct dr_ws_changes *out,
			 dr_ws_cb cb, void *data);

/* commitMetadata of the job report. Strings owned; dr_ws_commit_release frees them. */
struct dr_ws_commit {
	char *sha, *short_sha, *subject, *branch, *author_name, *author_email, *committed_at;
	char **files; /* at most DR_WS_COMMIT_FILES_MAX */
	size_t nfiles;
	size_t file_count; /* all of them */
};
void dr_ws_commit_release(struct dr_ws_commit *c);
/* The commitMetadata object. Caller owns the result. */
cJSON *dr_ws_commit_json(const struct dr_ws_commit *c);

/* "<IDENT>: <title folded, <= 120 chars>" or "<IDENT>: apply delegated changes". Caller frees. */
char *dr_workspace_commit_subject(const char *identifier, const char *title);
/* The body naming the issue and up to DR_WS_LIST_MAX files. Caller frees. */
char *dr_workspace_commit_body(const char *identifier, const char *url, char *const *files, size_t nfiles,
			       size_t total);

struct dr_ws_commit_in {
	const char *identifier, *title, *url; /* each may be NULL */
	const struct dr_ws_changes *changes;  /* from dr_workspace_changes; must not be empty */
};
/*
 * git add --all and one commit with the subject and body above. A fallback
 * author (Delego Runner <runner@delego.local>) is given to that one commit
 * only when git has no user.name / user.email configured; nothing is
 * written to the repository's config.
 */
int dr_workspace_commit(const struct dr_ws_ctx *ctx, const struct dr_ws_tree *t, const struct dr_ws_commit_in *in,
			struct dr_ws_commit *out, dr_ws_cb cb, void *data);
/* Describes HEAD (a commit the agent made), files from starting_sha..HEAD. */
int dr_workspace_describe_head(const struct dr_ws_ctx *ctx, const struct dr_ws_tree *t, struct dr_ws_commit *out,
			       dr_ws_cb cb, void *data);

/* HEAD of the worktree into sha (at least 65 bytes). */
int dr_workspace_head(const struct dr_ws_ctx *ctx, const struct dr_ws_tree *t, char *sha, dr_ws_cb cb, void *data);

/* git push -u origin HEAD:refs/heads/<branch>. */
int dr_workspace_push(const struct dr_ws_ctx *ctx, const struct dr_ws_tree *t, dr_ws_cb cb, void *data);

struct dr_ws_pr_in {
	const char *title, *body;
	bool draft;
};
/* prMetadata of the job report (without the fields the caller knows). Owned. */
struct dr_ws_pr {
	char *url;
	long number; /* -1 when unknown */
	char *title;
	bool draft;
	bool existing; /* gh said it already existed; looked up with gh pr view */
};
void dr_ws_pr_release(struct dr_ws_pr *pr);
/* "Linear issue: ...", URL, the local commit, "Created by Delego local runner." Caller frees. */
char *dr_workspace_pr_body(const char *identifier, const char *url, const char *short_sha);
/*
 * gh pr create --title --body --head <branch> [--draft]; when gh says the
 * pull request already exists, gh pr view <branch> --json
 * url,number,title,isDraft.
 */
int dr_workspace_pr(const struct dr_ws_ctx *ctx, const struct dr_ws_tree *t, const struct dr_ws_pr_in *in,
		    struct dr_ws_pr *out, dr_ws_cb cb, void *data);

/*
 * Tries to flock the directory path (how: LOCK_EX or LOCK_SH) without
 * blocking. The directory is opened O_DIRECTORY|O_NOFOLLOW (never a
 * symlink) and, once locked, must still be the one at path (a directory
 * removed or replaced while we waited gives -ESTALE: try again). On 0 the
 * caller owns *fd (closing it drops the lock). -EWOULDBLOCK: someone else
 * holds it; other negative errno from open.
 */
int dr_workspace_trylock_dir(const char *path, int how, int *fd);

/*
 * The awaiting marker: <worktree>.awaiting beside the job's worktree,
 * written when the job reports jobs/await and removed when a run of that
 * job reports complete or fail. `workspace gc` keeps a worktree while its
 * marker exists. Returns 0 or a negative errno (writing: from the write;
 * removing a marker that is not there is 0).
 */
#define DR_WS_AWAITING_SUFFIX ".awaiting"
int dr_workspace_mark_awaiting(const struct dr_ws_tree *t, const char *job_id, bool awaiting);

/*
 * After a successful push, refs/delego/pushed/<branch> records what
 * reached the remote (a bare cache has no remote-tracking refspec, and
 * fetch --prune forgets branches deleted upstream after a merge): gc
 * counts a commit as pushed when a remote-tracking ref or one of these
 * reaches it.
 */
#define DR_WS_PUSHED_REFS "refs/delego/pushed/"

/* <base><slug>.git when base ends in ':', else <base>/<slug>.git. Caller frees. */
char *dr_workspace_clone_url(const char *base, const char *slug);

#endif
