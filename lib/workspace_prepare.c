/*
 * workspace_prepare: the source cache and the job's worktree, as an
 * explicit sequence of stages (enum prep_stage). prep_enter runs a
 * stage's command; the stage's result handler picks the next stage.
 * The step holds the cache's lock while it writes the cache (clone,
 * fetch, prune, worktree add or move, the branch); once the new worktree
 * is registered and held in use (PREP_HOLD), the lock goes, and its
 * checkout, the check that it is clean and its HEAD run beside the next
 * job's prepare. A fetch is skipped when one of the same cache started
 * after this job was asked for (its result is as new). A spare worktree
 * (--warm-worktrees) is made by the same machine, in the background:
 * default branch, base, then PREP_ADD_SPARE.
 */
#include "workspace-int.h"
#include "delego/fsutil.h"
#include "delego/job.h"
#include "delego/log.h"
#include "delego/xalloc.h"

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#define INUSE_RETRY_MS 20
#define INUSE_TRIES 10

enum prep_stage {
	PREP_FIND_SEED,      /* is <root>/<owner>/<repo> (then <root>/<repo>) the top of a checkout? */
	PREP_CLONE,          /* git clone --bare from the seed or the clone URL */
	PREP_SEED_ORIGIN,    /* the seed's origin URL ... */
	PREP_SET_ORIGIN,     /* ... becomes the cache's */
	PREP_CHECK_BARE,     /* the cache is a bare repository */
	PREP_INSPECT,        /* an existing worktree: ours, on the job's branch? */
	PREP_PRUNE,          /* stale worktree records would block the branch */
	PREP_FIND_BRANCH,    /* the branch exists without a worktree: re-attach */
	PREP_FETCH,          /* the cache from origin */
	PREP_DEFAULT_BRANCH, /* the cache's HEAD names the default branch ... */
	PREP_RESOLVE_BASE,   /* ... whose fetched commit is the new branch's start */
	PREP_ADD,            /* git worktree add --no-checkout ... */
	PREP_CHECKOUT,       /* ... held in use and without the cache's lock, its checkout */
	PREP_TAKE_SPARE,     /* or: git worktree move <spare> <worktree> ... */
	PREP_BRANCH,         /* ... the job's branch at the base, in the cache ... */
	PREP_SPARE_STATUS,   /* ... without the lock: is the spare clean, at the base? ... */
	PREP_ATTACH,         /* ... then HEAD names the branch (no file touched) ... */
	PREP_SWITCH,         /* ... else the branch checked out, writing only what changed */
	PREP_HOLD,           /* the new worktree held in use, then the cache's lock given up */
	PREP_ADD_SPARE,      /* a spare: git worktree add --detach --no-checkout <spare> <base> ... */
	PREP_FILL_SPARE,     /* ... then, held in use and without the cache's lock, its checkout ... */
	PREP_REFRESH_SPARE,  /* ... and its index refreshed, so the job's first status need not read files */
	PREP_CHECK_CLEAN,    /* the new worktree has no changes */
	PREP_READ_HEAD,      /* its HEAD is the starting sha */
	PREP_MARK_INUSE,     /* the in-use flock gc respects */
};

struct prep {
	struct dr_workspace_step s;
	enum prep_stage stage;
	struct dr_workspace_tree *out;
	struct dr_workspace_tree tree;
	char *real_root, *owner, *repo, *cand[2], *seed;
	int cand_i;
	char *arg; /* the stage's argument that must outlive the call (a URL, a ref) */
	int inuse_tries;
	enum prep_stage after_hold; /* where PREP_HOLD goes on */
	uint64_t asked_at;          /* uv_hrtime when the job asked for its worktree */
	uint64_t fetch_started;
	bool fetch_ok; /* this prepare's fetch succeeded: the base it resolves is what later ones may reuse */
	char *spare;       /* the spare taken, or being made */
	bool spare_failed; /* moving it failed: cut the worktree as usual */
	/* a spare's step: its own copy of the context (the job's may be gone before it ends) */
	bool making_spare;
	struct dr_workspace_ctx own;
	char *own_clone_base;
};

static void prep_enter(struct prep *p, enum prep_stage st);

static void prep_release(struct dr_workspace_step *s)
{
	struct prep *p = (struct prep *)s;
	dr__ws_tree_clear(&p->tree);
	free(p->real_root);
	free(p->owner);
	free(p->repo);
	free(p->cand[0]);
	free(p->cand[1]);
	free(p->seed);
	free(p->arg);
	free(p->spare);
	free(p->own_clone_base);
}

static void set_arg(struct prep *p, char *arg)
{
	free(p->arg);
	p->arg = arg;
}

/* True when path resolves to the same place as want (both may not exist: false). */
static bool same_place(const char *path, const char *want)
{
	char a[PATH_MAX], b[PATH_MAX];
	return realpath(path, a) && realpath(want, b) && !strcmp(a, b);
}

static bool exists(const char *path)
{
	struct stat st;
	return lstat(path, &st) == 0;
}

static void on_result(struct dr_workspace_step *s, const struct dr_proc_result *r);

/* The next seed candidate that is a directory, else the clone. */
static void try_candidate(struct prep *p)
{
	while (p->cand_i < 2 && !dr_wslayout_is_dir(p->cand[p->cand_i]))
		p->cand_i++;
	prep_enter(p, p->cand_i >= 2 ? PREP_CLONE : PREP_FIND_SEED);
}

/* The worktree: inspect the one there, else cut a new one. */
static void to_worktree(struct prep *p)
{
	const char *wt = p->tree.worktree_path;
	if (!exists(wt)) {
		const char *parts[] = { "worktrees", p->owner, p->repo, NULL };
		int r = dr_wslayout_mkdir_under(p->real_root, parts, p->s.err, sizeof(p->s.err));
		if (r < 0)
			dr__ws_finish(&p->s, r);
		else /* prune only when a record's worktree is gone: only such a record can block the branch */
			prep_enter(p, dr__ws_cache_has_stale(p->tree.source_path) ? PREP_PRUNE : PREP_FIND_BRANCH);
		return;
	}
	if (!dr_wslayout_is_dir(wt)) {
		dr__ws_fail(&p->s, -EEXIST, "%s exists and is not a directory; it was left alone for inspection", wt);
		return;
	}
	prep_enter(p, PREP_INSPECT);
}

/* An existing spare of this repository, into p->spare; only with a fetched base (not the cache's HEAD). */
static bool take_spare(struct prep *p)
{
	if (p->s.ctx->warm_worktrees <= 0 || !p->arg || !strcmp(p->arg, "HEAD"))
		return false;
	for (int i = 1; i <= DR_WSLAYOUT_SPARES_MAX; i++) {
		char *dir = dr_wslayout_spare(p->real_root, p->tree.slug, i);
		int fd = -1;
		/* One still being filled is held in use: not yet. */
		if (dr_wslayout_is_dir(dir) && dr_wslayout_trylock(dir, LOCK_EX, &fd) == 0) {
			close(fd);
			free(p->spare);
			p->spare = dir;
			return true;
		}
		free(dir);
	}
	return false;
}

static void start_spare(const struct prep *job);

static void inuse_retry(struct dr_workspace_step *s)
{
	prep_enter((struct prep *)s, PREP_MARK_INUSE);
}

/*
 * Marks the worktree in use for as long as the job holds the tree, so gc
 * in any process leaves it alone. `workspace ls` tests the lock for an
 * instant, hence a few quick retries; a lock still held after them belongs
 * to another holder of this worktree, which keeps it protected: go on.
 */
static void mark_inuse(struct prep *p)
{
	int fd = -1;
	int r = p->tree.inuse_held ? 1 : dr_wslayout_trylock(p->tree.worktree_path, LOCK_EX, &fd);
	if (r == -EWOULDBLOCK && p->inuse_tries++ < INUSE_TRIES) {
		dr__ws_later(&p->s, INUSE_RETRY_MS, inuse_retry);
		return;
	}
	if (r == 0) {
		p->tree.inuse_fd = fd;
		p->tree.inuse_held = true;
	} else if (r < 0) {
		dr_log_debug("workspace: worktree %s not marked in use: %s", p->tree.worktree_path,
			 r == -EWOULDBLOCK ? "another holder has it" : strerror(-r));
	}
	start_spare(p); /* queued behind this step: it runs once the cache's lock is free */
	*p->out = p->tree;
	memset(&p->tree, 0, sizeof(p->tree));
	dr__ws_finish(&p->s, 0);
}

static void hold_retry(struct dr_workspace_step *s)
{
	prep_enter((struct prep *)s, PREP_HOLD);
}

/*
 * The new worktree, registered in the cache, is held in use before the
 * cache's lock goes: gc in any process, which removes only under that
 * lock, leaves it alone from then on. Not held (another holder tests it):
 * the step keeps the lock, as it did before, and MARK_INUSE tries again.
 */
static void hold(struct prep *p)
{
	int fd = -1;
	int r = dr_wslayout_trylock(p->tree.worktree_path, LOCK_EX, &fd);
	if (r == -EWOULDBLOCK && p->inuse_tries++ < INUSE_TRIES) {
		dr__ws_later(&p->s, INUSE_RETRY_MS, hold_retry);
		return;
	}
	p->inuse_tries = 0;
	if (r == 0) {
		p->tree.inuse_fd = fd;
		p->tree.inuse_held = true;
		dr__ws_unlock(&p->s);
	}
	prep_enter(p, p->after_hold);
}

static void start_clone(struct prep *p)
{
	struct dr_workspace_step *s = &p->s;
	const char *parts[] = { "sources", p->owner, NULL };
	int r = dr_wslayout_mkdir_under(p->real_root, parts, s->err, sizeof(s->err));
	if (r < 0) {
		dr__ws_finish(s, r);
		return;
	}
	if (!p->seed)
		set_arg(p, dr_workspace_clone_url(s->ctx->clone_base, p->tree.slug));
	dr__ws_run(s, p->real_root, true, on_result, "git", "clone", "--bare", "--quiet", "--", p->seed ? p->seed : p->arg,
		   p->tree.source_path, NULL);
}

static void start_fetch(struct prep *p)
{
	const char *base = dr__ws_cache_fresh_base(p->tree.source_path, p->asked_at);
	if (base) {
		/* Another job's fetch started after ours was asked for: what it brought, and its base, are as new. */
		dr_log_debug("workspace %s: fetched since the job was asked for; not fetched again", p->tree.slug);
		set_arg(p, dr_xstrdup(base));
		prep_enter(p, PREP_ADD);
		return;
	}
	p->fetch_started = uv_hrtime();
	dr__ws_run(&p->s, p->real_root, true, on_result, "git", "--git-dir", p->tree.source_path, "fetch", "--prune",
		   "--quiet", "origin", "+refs/heads/*:refs/remotes/origin/*", NULL);
}

static void prep_enter(struct prep *p, enum prep_stage st)
{
	struct dr_workspace_step *s = &p->s;
	const char *root = p->real_root, *src = p->tree.source_path, *wt = p->tree.worktree_path;
	p->stage = st;
	switch (st) {
	case PREP_FIND_SEED:
		dr__ws_run(s, p->cand[p->cand_i], false, on_result, "git", "rev-parse", "--show-toplevel", NULL);
		break;
	case PREP_CLONE:
		start_clone(p);
		break;
	case PREP_SEED_ORIGIN:
		dr__ws_run(s, p->seed, false, on_result, "git", "remote", "get-url", "origin", NULL);
		break;
	case PREP_SET_ORIGIN:
		dr__ws_run(s, root, false, on_result, "git", "--git-dir", src, "remote", "set-url", "origin", p->arg,
			   NULL);
		break;
	case PREP_CHECK_BARE:
		dr__ws_run(s, root, false, on_result, "git", "--git-dir", src, "rev-parse", "--is-bare-repository",
			   NULL);
		break;
	case PREP_INSPECT:
		dr__ws_run(s, wt, false, on_result, "git", "rev-parse", "--git-common-dir", "--abbrev-ref", "HEAD",
			   NULL);
		break;
	case PREP_PRUNE:
		dr__ws_run(s, root, false, on_result, "git", "--git-dir", src, "worktree", "prune", NULL);
		break;
	case PREP_FIND_BRANCH:
		set_arg(p, dr_xasprintf("refs/heads/%s", p->tree.branch));
		dr__ws_run(s, root, false, on_result, "git", "--git-dir", src, "rev-parse", "--verify", "--quiet",
			   p->arg, NULL);
		break;
	case PREP_FETCH:
		start_fetch(p);
		break;
	case PREP_DEFAULT_BRANCH:
		dr__ws_run(s, root, false, on_result, "git", "--git-dir", src, "symbolic-ref", "--quiet", "--short",
			   "HEAD", NULL);
		break;
	case PREP_RESOLVE_BASE:
		dr__ws_run(s, root, false, on_result, "git", "--git-dir", src, "rev-parse", "--verify", "--quiet",
			   p->arg, NULL);
		break;
	case PREP_ADD:
		if (!p->tree.reattached && !p->spare_failed && take_spare(p))
			prep_enter(p, PREP_TAKE_SPARE);
		else if (p->tree.reattached)
			dr__ws_run(s, root, false, on_result, "git", "--git-dir", src, "worktree", "add", "--no-checkout",
				   "--quiet", wt, p->tree.branch, NULL);
		else
			dr__ws_run(s, root, false, on_result, "git", "--git-dir", src, "worktree", "add", "--no-checkout",
				   "--quiet", "--no-track", "-b", p->tree.branch, wt, p->arg, NULL);
		break;
	case PREP_CHECKOUT:
		/* What worktree add does for its checkout, here outside the cache's lock. */
		dr__ws_run(s, wt, false, on_result, "git", "reset", "--hard", "--quiet", NULL);
		break;
	case PREP_TAKE_SPARE:
		dr__ws_run(s, root, false, on_result, "git", "--git-dir", src, "worktree", "move", p->spare, wt, NULL);
		break;
	case PREP_BRANCH:
		dr__ws_run(s, root, false, on_result, "git", "--git-dir", src, "branch", "--no-track", p->tree.branch,
			   p->arg, NULL);
		break;
	case PREP_SPARE_STATUS:
		dr__ws_run(s, wt, false, on_result, "git", "status", "--porcelain=v2", "--branch", "-z", NULL);
		break;
	case PREP_ATTACH: {
		char msg[256];
		snprintf(msg, sizeof msg, "checkout: moving from %.64s to %.150s", p->arg, p->tree.branch);
		char ref[256];
		snprintf(ref, sizeof ref, "refs/heads/%s", p->tree.branch);
		dr__ws_run(s, wt, false, on_result, "git", "symbolic-ref", "-m", msg, "HEAD", ref, NULL);
		break;
	}
	case PREP_SWITCH:
		/* --force: whatever a spare left half-written (a crash while it was filled) is not anyone's work. */
		dr__ws_run(s, wt, false, on_result, "git", "checkout", "--force", "--quiet", p->tree.branch, NULL);
		break;
	case PREP_HOLD:
		hold(p);
		break;
	case PREP_ADD_SPARE:
		dr__ws_run(s, root, false, on_result, "git", "--git-dir", src, "worktree", "add", "--detach", "--quiet",
			   "--no-checkout", p->spare, p->arg, NULL);
		break;
	case PREP_FILL_SPARE:
		dr__ws_run(s, p->spare, false, on_result, "git", "reset", "--hard", "--quiet", NULL);
		break;
	case PREP_REFRESH_SPARE:
		/* Writes the index with every file's stat: the job's status then compares stats, not contents. */
		dr__ws_run(s, p->spare, false, on_result, "git", "update-index", "-q", "--refresh", NULL);
		break;
	case PREP_CHECK_CLEAN:
		dr__ws_run(s, wt, false, on_result, "git", "status", "--porcelain", "-z", NULL);
		break;
	case PREP_READ_HEAD:
		dr__ws_run(s, wt, false, on_result, "git", "rev-parse", "HEAD", NULL);
		break;
	case PREP_MARK_INUSE:
		mark_inuse(p);
		break;
	}
}

static void found_seed(struct prep *p, const struct dr_proc_result *r)
{
	char *top = dr__ws_ok(r) ? dr_gitparse_first_line(r->out, r->out_len) : NULL;
	/* Only the top of a checkout counts, not a folder inside some other repository. */
	bool seed = top && *top && same_place(top, p->cand[p->cand_i]);
	free(top);
	if (seed) {
		p->seed = dr_xstrdup(p->cand[p->cand_i]);
		prep_enter(p, PREP_CLONE);
		return;
	}
	p->cand_i++;
	try_candidate(p);
}

static void cloned(struct prep *p, const struct dr_proc_result *r)
{
	if (!dr__ws_ok(r)) {
		char what[PATH_MAX + 128];
		snprintf(what, sizeof(what), "cannot clone %s into the source cache %s", p->seed ? p->seed : p->arg,
			 p->tree.source_path);
		dr__ws_fail_cmd(&p->s, r, what);
		return;
	}
	dr__ws_cache_forget(p->tree.source_path);
	p->tree.seeded = p->seed != NULL;
	prep_enter(p, p->seed ? PREP_SEED_ORIGIN : PREP_CHECK_BARE);
}

static void seed_origin_read(struct prep *p, const struct dr_proc_result *r)
{
	char *url = dr__ws_ok(r) ? dr_gitparse_first_line(r->out, r->out_len) : NULL;
	if (!url || !*url) { /* a checkout without origin stays the cache's origin */
		free(url);
		prep_enter(p, PREP_CHECK_BARE);
		return;
	}
	set_arg(p, url);
	prep_enter(p, PREP_SET_ORIGIN);
}

static void origin_set(struct prep *p, const struct dr_proc_result *r)
{
	if (!dr__ws_ok(r))
		dr_log_debug("workspace %s: cannot carry over the origin of %s", p->tree.slug, p->seed);
	prep_enter(p, PREP_CHECK_BARE);
}

static void bare_checked(struct prep *p, const struct dr_proc_result *r)
{
	char *v = dr__ws_ok(r) ? dr_gitparse_first_line(r->out, r->out_len) : NULL;
	bool bare = v && !strcmp(v, "true");
	free(v);
	if (!bare) {
		dr__ws_fail(&p->s, -EINVAL, "the source cache %s is not a bare git repository; move it away and the "
					    "runner will clone it again",
			    p->tree.source_path);
		return;
	}
	dr__ws_cache_set_bare(p->tree.source_path);
	to_worktree(p);
}

static void inspected(struct prep *p, const struct dr_proc_result *r)
{
	/* Output: the common git dir, then the branch (or "HEAD" when detached). */
	char *common = NULL, *branch = NULL;
	if (dr__ws_ok(r))
		dr_gitparse_two_lines(r->out, r->out_len, &common, &branch);
	bool ours = false;
	if (common) {
		char *abs = common[0] == '/' ? dr_xstrdup(common) : dr_xasprintf("%s/%s", p->tree.worktree_path, common);
		ours = same_place(abs, p->tree.source_path);
		free(abs);
	}
	if (ours && branch && !strcmp(branch, p->tree.branch)) {
		p->tree.reused = true;
		prep_enter(p, PREP_READ_HEAD);
	} else if (!ours) {
		dr__ws_fail(&p->s, -EEXIST, "the job worktree %s already exists but is not a worktree of %s; it was "
					    "left alone for inspection",
			    p->tree.worktree_path, p->tree.source_path);
	} else {
		dr__ws_fail(&p->s, -EEXIST, "the job worktree %s already exists on branch %s instead of %s; it was "
					    "left alone for inspection",
			    p->tree.worktree_path, branch && *branch ? branch : "(unknown)", p->tree.branch);
	}
	free(common);
	free(branch);
}

static void branch_found(struct prep *p, const struct dr_proc_result *r)
{
	if (r->exit_code == 0) {
		p->tree.reattached = true;
		prep_enter(p, PREP_ADD);
		return;
	}
	prep_enter(p, PREP_FETCH);
}

static void fetched(struct prep *p, const struct dr_proc_result *r)
{
	p->fetch_ok = dr__ws_ok(r);
	if (!dr__ws_ok(r)) {
		char said[DR__WS_MSG_MAX + 32];
		dr__ws_describe_failure(r, said, sizeof(said));
		p->tree.fetch_warning = dr_xasprintf("could not update the source cache (%s); the worktree starts "
						     "from the last fetched state",
						     said);
		dr_log_debug("workspace %s: fetch failed: %s", p->tree.slug, said);
	}
	prep_enter(p, PREP_DEFAULT_BRANCH);
}

static void base_known(struct prep *p)
{
	if (p->fetch_ok)
		dr__ws_cache_set_base(p->tree.source_path, p->fetch_started, p->arg);
	prep_enter(p, p->making_spare ? PREP_ADD_SPARE : PREP_ADD);
}

static void default_named(struct prep *p, const struct dr_proc_result *r)
{
	char *name = dr__ws_ok(r) ? dr_gitparse_first_line(r->out, r->out_len) : NULL;
	if (!name || !*name || name[0] == '-') {
		free(name);
		set_arg(p, dr_xstrdup("HEAD")); /* no default branch: the cache's own HEAD */
		base_known(p);
		return;
	}
	set_arg(p, dr_xasprintf("refs/remotes/origin/%s^{commit}", name));
	free(name);
	prep_enter(p, PREP_RESOLVE_BASE);
}

static void base_resolved(struct prep *p, const struct dr_proc_result *r)
{
	char *base = dr__ws_ok(r) ? dr_gitparse_first_line(r->out, r->out_len) : NULL;
	if (!base || !*base) {
		free(base);
		base = dr_xstrdup("HEAD"); /* no fetched default branch: the cache's own HEAD */
	}
	set_arg(p, base);
	base_known(p);
}

static void added(struct prep *p, const struct dr_proc_result *r)
{
	if (!dr__ws_ok(r)) {
		char what[PATH_MAX + 64];
		snprintf(what, sizeof(what), "cannot create the worktree %s", p->tree.worktree_path);
		dr__ws_fail_cmd(&p->s, r, what);
		return;
	}
	p->after_hold = PREP_CHECKOUT;
	prep_enter(p, PREP_HOLD);
}

static void checked_out(struct prep *p, const struct dr_proc_result *r)
{
	if (!dr__ws_ok(r)) {
		char what[PATH_MAX + 64];
		snprintf(what, sizeof(what), "cannot check out the worktree %s", p->tree.worktree_path);
		dr__ws_fail_cmd(&p->s, r, what);
		return;
	}
	prep_enter(p, PREP_CHECK_CLEAN);
}

static void spare_taken(struct prep *p, const struct dr_proc_result *r)
{
	if (!dr__ws_ok(r)) {
		char said[DR__WS_MSG_MAX + 32];
		dr__ws_describe_failure(r, said, sizeof(said));
		dr_log_debug("workspace %s: cannot use the spare %s (%s); cutting a new worktree", p->tree.slug, p->spare,
			 said);
		p->spare_failed = true;
		prep_enter(p, PREP_ADD);
		return;
	}
	prep_enter(p, PREP_BRANCH);
}

static void branch_made(struct prep *p, const struct dr_proc_result *r)
{
	if (!dr__ws_ok(r)) {
		char what[PATH_MAX + 64];
		snprintf(what, sizeof(what), "cannot create the branch %s for the worktree %s", p->tree.branch,
			 p->tree.worktree_path);
		dr__ws_fail_cmd(&p->s, r, what);
		return;
	}
	p->after_hold = PREP_SPARE_STATUS;
	prep_enter(p, PREP_HOLD);
}

/* A spare made at the base, clean: only HEAD has to name the branch. Else the checkout puts it right. */
static void spare_status_read(struct prep *p, const struct dr_proc_result *r)
{
	char *oid = NULL;
	bool ready = dr__ws_ok(r) && dr_gitparse_status2_clean(r->out, r->out_len, &oid) && oid &&
		     !strcmp(oid, p->arg);
	free(oid);
	prep_enter(p, ready ? PREP_ATTACH : PREP_SWITCH);
}

static void attached(struct prep *p, const struct dr_proc_result *r)
{
	if (!dr__ws_ok(r)) {
		prep_enter(p, PREP_SWITCH);
		return;
	}
	p->tree.starting_sha = dr_xstrdup(p->arg); /* the status just said HEAD is there, and clean */
	prep_enter(p, PREP_MARK_INUSE);
}

static void switched(struct prep *p, const struct dr_proc_result *r)
{
	if (!dr__ws_ok(r)) {
		char what[PATH_MAX + 64];
		snprintf(what, sizeof(what), "cannot bring the spare worktree %s to the fetched commit",
			 p->tree.worktree_path);
		dr__ws_fail_cmd(&p->s, r, what);
		return;
	}
	prep_enter(p, PREP_CHECK_CLEAN);
}

static void spare_added(struct prep *p, const struct dr_proc_result *r)
{
	int fd = -1;
	if (!dr__ws_ok(r) || dr_wslayout_trylock(p->spare, LOCK_EX, &fd) < 0) {
		dr_log_debug("workspace %s: cannot make the spare worktree %s: %s", p->tree.slug, p->spare,
			 r->stderr_tail);
		dr__ws_finish(&p->s, -EIO);
		return;
	}
	/* Held in use, a job leaves it alone until it is filled; the checkout writes no shared state. */
	p->tree.inuse_fd = fd;
	p->tree.inuse_held = true;
	dr__ws_unlock(&p->s);
	prep_enter(p, PREP_FILL_SPARE);
}

static void spare_filled(struct prep *p, const struct dr_proc_result *r)
{
	if (!dr__ws_ok(r)) {
		dr_log_debug("workspace %s: cannot check out the spare worktree %s: %s", p->tree.slug, p->spare,
			 r->stderr_tail);
		dr__ws_finish(&p->s, -EIO);
		return;
	}
	prep_enter(p, PREP_REFRESH_SPARE);
}

static void spare_refreshed(struct prep *p, const struct dr_proc_result *r)
{
	(void)r; /* not refreshed: the job's status does it */
	dr__ws_finish(&p->s, 0);
}

static void clean_checked(struct prep *p, const struct dr_proc_result *r)
{
	if (!dr__ws_ok(r)) {
		dr__ws_fail_cmd(&p->s, r, "cannot inspect the new worktree");
		return;
	}
	if (r->out_len > 0) {
		dr__ws_fail(&p->s, -EBUSY, "the prepared worktree has uncommitted changes; refusing to run in %s",
			    p->tree.worktree_path);
		return;
	}
	prep_enter(p, PREP_READ_HEAD);
}

static void head_read(struct prep *p, const struct dr_proc_result *r)
{
	if (!dr__ws_ok(r)) {
		dr__ws_fail_cmd(&p->s, r, "cannot read HEAD of the new worktree");
		return;
	}
	p->tree.starting_sha = dr_gitparse_first_line(r->out, r->out_len);
	prep_enter(p, PREP_MARK_INUSE);
}

static void pruned(struct prep *p, const struct dr_proc_result *r)
{
	(void)r; /* a failed prune blocks nothing that the next stages would not report */
	prep_enter(p, PREP_FIND_BRANCH);
}

/* What each command stage does with its result. */
static void (*const results[])(struct prep *, const struct dr_proc_result *) = {
	[PREP_FIND_SEED] = found_seed,       [PREP_CLONE] = cloned,
	[PREP_SEED_ORIGIN] = seed_origin_read, [PREP_SET_ORIGIN] = origin_set,
	[PREP_CHECK_BARE] = bare_checked,    [PREP_INSPECT] = inspected,
	[PREP_PRUNE] = pruned,               [PREP_FIND_BRANCH] = branch_found,
	[PREP_FETCH] = fetched,              [PREP_DEFAULT_BRANCH] = default_named,
	[PREP_RESOLVE_BASE] = base_resolved, [PREP_ADD] = added,
	[PREP_CHECK_CLEAN] = clean_checked,  [PREP_READ_HEAD] = head_read,
	[PREP_TAKE_SPARE] = spare_taken,     [PREP_SWITCH] = switched,
	[PREP_ADD_SPARE] = spare_added,     [PREP_FILL_SPARE] = spare_filled,
	[PREP_CHECKOUT] = checked_out,       [PREP_BRANCH] = branch_made,
	[PREP_SPARE_STATUS] = spare_status_read, [PREP_ATTACH] = attached,
	[PREP_REFRESH_SPARE] = spare_refreshed,
};

static void on_result(struct dr_workspace_step *s, const struct dr_proc_result *r)
{
	struct prep *p = (struct prep *)s;
	results[p->stage](p, r);
}

static void prep_start(struct dr_workspace_step *s)
{
	struct prep *p = (struct prep *)s;
	if (p->making_spare) {
		/* Taken, or gc removed the cache meanwhile: nothing to do. */
		if (exists(p->spare) || dr_fsutil_dir_empty(p->tree.source_path) || !exists(p->tree.source_path))
			dr__ws_finish(s, 0);
		else
			prep_enter(p, PREP_DEFAULT_BRANCH);
		return;
	}
	if (dr__ws_cache_known_bare(p->tree.source_path) && !dr_fsutil_dir_empty(p->tree.source_path))
		to_worktree(p); /* a prepare before this one checked it */
	else if (exists(p->tree.source_path) && !dr_fsutil_dir_empty(p->tree.source_path))
		prep_enter(p, PREP_CHECK_BARE);
	else
		try_candidate(p);
}

/* The cache may not exist yet: git clones into the empty directory made here, to have something to lock. */
static int prep_before_lock(struct dr_workspace_step *s)
{
	struct prep *p = (struct prep *)s;
	char *leaf = dr_xasprintf("%s.git", p->repo);
	const char *parts[] = { "sources", p->owner, leaf, NULL };
	int r = dr_wslayout_mkdir_under(p->real_root, parts, s->err, sizeof(s->err));
	free(leaf);
	return r;
}

static void spare_done(void *data, int status, const char *err)
{
	(void)data;
	(void)status;
	(void)err; /* a spare that could not be made: the next job cuts its worktree as before */
}

/* After job's prepare: the first missing spare of its repository, made in the background. */
static void start_spare(const struct prep *job)
{
	const struct dr_workspace_ctx *ctx = job->s.ctx;
	if (ctx->warm_worktrees <= 0)
		return;
	int n = ctx->warm_worktrees < DR_WSLAYOUT_SPARES_MAX ? ctx->warm_worktrees : DR_WSLAYOUT_SPARES_MAX;
	char *dir = NULL;
	for (int i = 1; i <= n && !dir; i++) {
		dir = dr_wslayout_spare(job->real_root, job->tree.slug, i);
		if (exists(dir)) {
			free(dir);
			dir = NULL;
		}
	}
	if (!dir)
		return;
	struct prep *p = dr_xcalloc(1, sizeof(*p));
	p->making_spare = true;
	p->spare = dir;
	p->s.release = prep_release;
	p->own_clone_base = dr_xstrdup(ctx->clone_base ? ctx->clone_base : "");
	p->own = (struct dr_workspace_ctx){
		.loop = ctx->loop,
		.clone_base = p->own_clone_base,
		.local_timeout_ms = ctx->local_timeout_ms,
		.kill_grace_ms = ctx->kill_grace_ms,
	};
	p->real_root = dr_xstrdup(job->real_root);
	p->own.root = p->real_root;
	p->tree.slug = dr_xstrdup(job->tree.slug);
	p->tree.source_path = dr_xstrdup(job->tree.source_path);
	dr__ws_step_init(&p->s, &p->own, p->tree.source_path, prep_start, spare_done, NULL);
	dr__ws_background(&p->s);
}

int dr_workspace_prepare(const struct dr_workspace_ctx *ctx, const struct dr_workspace_prepare_in *in, struct dr_workspace_tree *out,
			 dr_workspace_cb cb, void *data, char *err, size_t errlen)
{
	if (!in->slug || !dr_job_slug_valid(in->slug)) {
		snprintf(err, errlen, "invalid repository slug; expected owner/repo");
		return -EINVAL;
	}
	if (!in->job_id || !dr_job_id_valid(in->job_id)) {
		snprintf(err, errlen, "invalid job id");
		return -EINVAL;
	}
	if (!in->branch || !dr__ws_branch_valid(in->branch)) {
		snprintf(err, errlen, "invalid branch name");
		return -EINVAL;
	}
	if (!ctx->root || ctx->root[0] != '/') {
		snprintf(err, errlen, "the workspace root must be an absolute path");
		return -EINVAL;
	}
	int r = dr_fsutil_mkdir_private(ctx->root, err, errlen);
	if (r < 0)
		return r;
	char real_root[PATH_MAX];
	if (!realpath(ctx->root, real_root)) {
		r = -errno;
		snprintf(err, errlen, "cannot create the workspace root %s: %s", ctx->root, strerror(-r));
		return r;
	}
	const char *slash = strchr(in->slug, '/');
	struct prep *p = dr_xcalloc(1, sizeof(*p));
	p->s.release = prep_release;
	p->s.before_lock = prep_before_lock;
	p->out = out;
	p->real_root = dr_xstrdup(real_root);
	p->owner = dr_xstrndup(in->slug, (size_t)(slash - in->slug));
	p->repo = dr_xstrdup(slash + 1);
	p->cand[0] = dr_xasprintf("%s/%s/%s", real_root, p->owner, p->repo);
	p->cand[1] = dr_xasprintf("%s/%s", real_root, p->repo);
	p->tree.slug = dr_xstrdup(in->slug);
	p->tree.source_path = dr_wslayout_source(real_root, in->slug);
	p->tree.worktree_path = dr_wslayout_worktree(real_root, in->slug, in->job_id);
	p->tree.branch = dr_xstrdup(in->branch);
	p->asked_at = uv_hrtime();
	dr__ws_step_init(&p->s, ctx, p->tree.source_path, prep_start, cb, data);
	return 0;
}
