/*
 * workspace: git/gh steps as chains of child processes. Each public call
 * makes one `struct op`; the op waits its turn in the queue of its source
 * cache, runs its commands one after another (each command's callback is
 * the next step), then calls back and frees itself from its timer's close
 * callback.
 */
#include "delego/workspace.h"
#include "delego/text.h"
#include "delego/buf.h"
#include "delego/childenv.h"
#include "delego/fsutil.h"
#include "delego/job.h"
#include "delego/json.h"
#include "delego/log.h"
#include "delego/proc.h"
#include "delego/xalloc.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#define LOCAL_TIMEOUT_MS (2 * 60 * 1000)
#define NETWORK_TIMEOUT_MS (10 * 60 * 1000)
#define MSG_MAX 1000
#define FALLBACK_NAME "Delego Runner"
#define FALLBACK_EMAIL "runner@delego.local"
#define LOCK_RETRY_MS 100                  /* another process holds the cache: try again this often */
#define LOCK_WAIT_MAX_MS (30 * 60 * 1000)  /* ... for at most this long */
#define INUSE_RETRY_MS 20
#define INUSE_TRIES 10

struct op;
typedef void (*op_step)(struct op *op, const struct dr_proc_result *r);

/* The queue of one source cache; exists while an op holds or waits for it. */
struct lock {
	char *key;
	struct op *head, *tail; /* waiting */
	struct lock *next;
};
static struct lock *locks;

struct op {
	uv_timer_t kick; /* defers the start; the op is freed in its close callback */
	const struct dr_ws_ctx *ctx;
	char *key;
	struct lock *lock;
	struct op *qnext;
	char **env;
	void (*start)(struct op *op);
	op_step step;
	bool step_is_gh;
	dr_ws_cb cb;
	void *data;
	char err[MSG_MAX + 200];
	int lock_fd;             /* the cross-process flock on the cache, when lock_held */
	bool lock_held;
	uint64_t lock_wait_start; /* uv_now when we first found the cache locked; 0: not waiting */
	int inuse_tries;

	/* prepare */
	struct dr_ws_tree *tree_out;
	struct dr_ws_tree tree;
	char *real_root, *owner, *repo, *cand[2], *seed;
	int cand_i;
	char *base;
	/* changes, commit, describe, head, push, pr */
	const struct dr_ws_tree *t;
	struct dr_ws_changes *changes_out;
	const struct dr_ws_commit_in *commit_in;
	struct dr_ws_commit commit;
	struct dr_ws_commit *commit_out;
	bool has_name, has_email;
	char *sha_out;
	const struct dr_ws_pr_in *pr_in;
	struct dr_ws_pr pr;
	struct dr_ws_pr *pr_out;
};

/* ---- small helpers ---- */

static uint64_t local_timeout(const struct op *op)
{
	return op->ctx->local_timeout_ms ? op->ctx->local_timeout_ms : LOCAL_TIMEOUT_MS;
}

static uint64_t network_timeout(const struct op *op)
{
	return op->ctx->network_timeout_ms ? op->ctx->network_timeout_ms : NETWORK_TIMEOUT_MS;
}

static char *trimmed(const char *s, size_t len)
{
	while (len > 0 && (s[len - 1] == '\n' || s[len - 1] == '\r' || s[len - 1] == ' ' || s[len - 1] == '\t'))
		len--;
	while (len > 0 && (*s == '\n' || *s == '\r' || *s == ' ' || *s == '\t'))
		s++, len--;
	return dr_xstrndup(s, len);
}

/* The first line of captured stdout, trimmed. Caller frees. */
static char *out_line(const struct dr_proc_result *r)
{
	const char *nl = memchr(r->out, '\n', r->out_len);
	return trimmed(r->out, nl ? (size_t)(nl - r->out) : r->out_len);
}

/* What the command said about its failure: the end of stderr, else of stdout. */
static void describe_failure(const struct dr_proc_result *r, char *buf, size_t len)
{
	const char *s = r->stderr_tail;
	size_t n = r->stderr_len;
	char *t = trimmed(s, n);
	if (!*t) {
		free(t);
		t = trimmed(r->stdout_tail, r->stdout_len);
	}
	const char *show = t;
	if (strlen(show) > MSG_MAX)
		show += strlen(show) - MSG_MAX;
	if (r->timed_out)
		snprintf(buf, len, "timed out%s%s", *show ? ": " : "", show);
	else if (*show)
		snprintf(buf, len, "%s", show);
	else
		snprintf(buf, len, "exit code %d", r->exit_code);
	free(t);
}

static bool ok(const struct dr_proc_result *r)
{
	return r->exit_code == 0 && !r->timed_out;
}

static void tree_free_fields(struct dr_ws_tree *t)
{
	free(t->slug);
	free(t->source_path);
	free(t->worktree_path);
	free(t->branch);
	free(t->starting_sha);
	free(t->fetch_warning);
	if (t->inuse_held)
		close(t->inuse_fd); /* drops the in-use flock */
	memset(t, 0, sizeof(*t));
}

void dr_ws_tree_release(struct dr_ws_tree *t)
{
	if (t)
		tree_free_fields(t);
}

void dr_ws_changes_release(struct dr_ws_changes *c)
{
	if (!c)
		return;
	for (size_t i = 0; i < c->kept; i++)
		free(c->paths[i]);
	free(c->paths);
	memset(c, 0, sizeof(*c));
}

void dr_ws_commit_release(struct dr_ws_commit *c)
{
	if (!c)
		return;
	free(c->sha);
	free(c->short_sha);
	free(c->subject);
	free(c->branch);
	free(c->author_name);
	free(c->author_email);
	free(c->committed_at);
	for (size_t i = 0; i < c->nfiles; i++)
		free(c->files[i]);
	free(c->files);
	memset(c, 0, sizeof(*c));
}

void dr_ws_pr_release(struct dr_ws_pr *pr)
{
	if (!pr)
		return;
	free(pr->url);
	free(pr->title);
	memset(pr, 0, sizeof(*pr));
	pr->number = -1;
}

/* ---- the per-cache queue ---- */

static void op_closed(uv_handle_t *h)
{
	struct op *op = h->data;
	dr_strv_free(op->env);
	free(op->key);
	free(op->real_root);
	free(op->owner);
	free(op->repo);
	free(op->cand[0]);
	free(op->cand[1]);
	free(op->seed);
	free(op->base);
	tree_free_fields(&op->tree);
	dr_ws_commit_release(&op->commit);
	dr_ws_pr_release(&op->pr);
	free(op);
}

static int mkdir_under(const char *root, const char *const *parts, char *err, size_t errlen);

int dr_workspace_trylock_dir(const char *path, int how, int *fd)
{
	int d = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC | O_NOFOLLOW);
	if (d < 0)
		return -errno;
	if (flock(d, how | LOCK_NB) < 0) {
		int e = errno == EWOULDBLOCK ? -EWOULDBLOCK : -errno;
		close(d);
		return e;
	}
	/* Removed (gc) or replaced while we waited: this lock guards nothing. */
	struct stat a, b;
	if (fstat(d, &a) < 0 || lstat(path, &b) < 0 || a.st_dev != b.st_dev || a.st_ino != b.st_ino) {
		close(d);
		return -ESTALE;
	}
	*fd = d;
	return 0;
}

static void op_lock(struct op *op);
static void op_finish(struct op *op, int status);
static void op_fail(struct op *op, int status, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

static void on_lock_retry(uv_timer_t *t)
{
	op_lock(t->data);
}

/*
 * The cross-process half of the queue: the flock on the bare repository
 * directory, with LOCK_NB and a retry timer so the loop never waits.
 */
static void op_lock(struct op *op)
{
	if (op->real_root) { /* prepare: the cache may not exist yet; git clones into an empty directory */
		char *leaf = dr_xasprintf("%s.git", op->repo);
		const char *parts[] = { "sources", op->owner, leaf, NULL };
		int r = mkdir_under(op->real_root, parts, op->err, sizeof(op->err));
		free(leaf);
		if (r < 0) {
			op_finish(op, r);
			return;
		}
	}
	int fd = -1;
	int r = dr_workspace_trylock_dir(op->key, LOCK_EX, &fd);
	if (r == 0) {
		op->lock_fd = fd;
		op->lock_held = true;
		op->start(op);
		return;
	}
	if (r == -EWOULDBLOCK || r == -ESTALE) {
		uint64_t now = uv_now(op->ctx->loop);
		if (!op->lock_wait_start) {
			op->lock_wait_start = now ? now : 1;
			dr_debug("workspace: %s is locked by another process; waiting", op->key);
		} else if (now - op->lock_wait_start > LOCK_WAIT_MAX_MS) {
			op_fail(op, -EBUSY, "the source cache %s stayed locked by another process (another runner "
					    "profile, or delego-runner workspace gc) for %d minutes; find it with "
					    "`fuser %s` and try again",
				op->key, LOCK_WAIT_MAX_MS / 60000, op->key);
			return;
		}
		uv_timer_start(&op->kick, on_lock_retry, LOCK_RETRY_MS, 0);
		return;
	}
	op_fail(op, r, "cannot lock the source cache %s: %s", op->key, strerror(-r));
}

static void on_granted(uv_timer_t *t)
{
	struct op *op = t->data;
	op_lock(op);
}

static void release_lock(struct op *op)
{
	struct lock *l = op->lock;
	if (!l)
		return;
	op->lock = NULL;
	struct op *next = l->head;
	if (next) {
		l->head = next->qnext;
		if (!l->head)
			l->tail = NULL;
		next->qnext = NULL;
		next->lock = l;
		uv_timer_start(&next->kick, on_granted, 0, 0);
		return;
	}
	for (struct lock **pp = &locks; *pp; pp = &(*pp)->next) {
		if (*pp == l) {
			*pp = l->next;
			break;
		}
	}
	free(l->key);
	free(l);
}

static void on_kick(uv_timer_t *t)
{
	struct op *op = t->data;
	struct lock *l;
	for (l = locks; l; l = l->next) {
		if (!strcmp(l->key, op->key))
			break;
	}
	if (l) { /* busy: wait for the holder's release */
		if (l->tail)
			l->tail->qnext = op;
		else
			l->head = op;
		l->tail = op;
		return;
	}
	l = dr_xcalloc(1, sizeof(*l));
	l->key = dr_xstrdup(op->key);
	l->next = locks;
	locks = l;
	op->lock = l;
	op_lock(op);
}

static struct op *op_new(const struct dr_ws_ctx *ctx, const char *key, void (*start)(struct op *), dr_ws_cb cb,
			 void *data)
{
	struct op *op = dr_xcalloc(1, sizeof(*op));
	op->ctx = ctx;
	op->key = dr_xstrdup(key);
	op->start = start;
	op->cb = cb;
	op->data = data;
	op->pr.number = -1;
	char *extra[] = { "GIT_TERMINAL_PROMPT=0", "GH_PROMPT_DISABLED=1", "GH_NO_UPDATE_NOTIFIER=1",
			  "GH_SPINNER_DISABLED=1", "NO_COLOR=1", NULL };
	op->env = dr_childenv_build(NULL, DR_CHILDENV_TOOL, extra);
	uv_timer_init(ctx->loop, &op->kick);
	op->kick.data = op;
	uv_timer_start(&op->kick, on_kick, 0, 0);
	return op;
}

/* Ends the op: the queue moves on, then the callback runs, then the op is freed. */
static void op_finish(struct op *op, int status)
{
	if (op->lock_held) {
		close(op->lock_fd); /* drops the flock */
		op->lock_held = false;
	}
	release_lock(op);
	op->cb(op->data, status, status ? op->err : "");
	uv_close((uv_handle_t *)&op->kick, op_closed);
}

static void op_fail(struct op *op, int status, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static void op_fail(struct op *op, int status, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(op->err, sizeof(op->err), fmt, ap);
	va_end(ap);
	op_finish(op, status);
}

/* A command failed: "<what>: <what git said>". */
static void op_fail_cmd(struct op *op, const struct dr_proc_result *r, const char *what)
{
	char said[MSG_MAX + 32];
	describe_failure(r, said, sizeof(said));
	op_fail(op, r->timed_out ? -ETIMEDOUT : -EIO, "%s: %s", what, said);
}

static void on_cmd_exit(void *data, const struct dr_proc_result *r)
{
	struct op *op = data;
	op_step step = op->step;
	op->step = NULL;
	step(op, r);
}

/* Runs argv (NULL-terminated varargs) in cwd; step gets the result. */
static void op_run(struct op *op, const char *cwd, uint64_t timeout_ms, op_step step, ...)
{
	char *argv[32];
	size_t n = 0;
	va_list ap;
	va_start(ap, step);
	for (const char *a; n < 31 && (a = va_arg(ap, const char *));)
		argv[n++] = (char *)a;
	va_end(ap);
	argv[n] = NULL;
	op->step = step;
	op->step_is_gh = !strcmp(argv[0], "gh");
	int r = dr_proc_run(op->ctx->loop, argv, op->env, cwd, timeout_ms, 0, on_cmd_exit, op);
	if (r == 0)
		return;
	op->step = NULL;
	if (r == -ENOENT && op->step_is_gh)
		op_fail(op, r, "gh (the GitHub CLI) is not installed or not on PATH; install it from "
			       "https://cli.github.com and run `gh auth login`, or turn off automatic pull requests");
	else if (r == -ENOENT)
		op_fail(op, r, "git is not installed or not on PATH; install git (e.g. `apt install git`) and "
			       "restart the runner");
	else if (r == -ENOTDIR)
		op_fail(op, r, "cannot run %s: directory %s is missing", argv[0], cwd ? cwd : ".");
	else
		op_fail(op, r, "cannot run %s: %s", argv[0], strerror(-r));
}

/* ---- paths ---- */

char *dr_workspace_clone_url(const char *base, const char *slug)
{
	size_t n = strlen(base);
	if (n > 0 && base[n - 1] == ':')
		return dr_xasprintf("%s%s.git", base, slug);
	while (n > 0 && base[n - 1] == '/')
		n--;
	return dr_xasprintf("%.*s/%s.git", (int)n, base, slug);
}

/* "delego/" then [a-z0-9_-] runs separated by single '/', no leading '-' in a part. */
static bool branch_valid(const char *b)
{
	size_t n = strlen(b);
	if (n < 9 || n > 200 || strncmp(b, "delego/", 7) != 0)
		return false;
	for (const char *p = b + 7; *p; p++) {
		bool part_start = p[-1] == '/';
		if (*p == '/') {
			if (part_start || !p[1])
				return false;
		} else if (!((*p >= 'a' && *p <= 'z') || (*p >= '0' && *p <= '9') || *p == '_' || *p == '-')) {
			return false;
		} else if (part_start && *p == '-') {
			return false;
		}
	}
	return true;
}

/*
 * Creates root/<rel...> one component at a time; each must end up a real
 * directory (not a symlink), so nothing can be created outside root.
 */
static int mkdir_under(const char *root, const char *const *parts, char *err, size_t errlen)
{
	struct dr_buf p = DR_BUF_INIT(PATH_MAX);
	int r = dr_buf_addstr(&p, root);
	for (size_t i = 0; r == 0 && parts[i]; i++) {
		r = dr_buf_addf(&p, "/%s", parts[i]);
		if (r < 0)
			break;
		if (mkdir(p.buf, 0700) < 0 && errno != EEXIST) {
			r = -errno;
			snprintf(err, errlen, "cannot create %s: %s", p.buf, strerror(errno));
			goto out;
		}
		struct stat st;
		if (lstat(p.buf, &st) < 0 || !S_ISDIR(st.st_mode)) {
			r = -ENOTDIR;
			snprintf(err, errlen, "%s is not a plain directory (a symlink or a file); the runner only "
					      "writes inside the workspace root %s",
				 p.buf, root);
			goto out;
		}
		/* Private repositories stay private: 0700, and no directory others can write. */
		if ((r = dr_dir_check_private(p.buf, true, err, errlen)) < 0)
			goto out;
	}
	if (r == -E2BIG)
		snprintf(err, errlen, "path too long under %s", root);
out:
	dr_buf_release(&p);
	return r;
}

static bool is_dir(const char *path)
{
	struct stat st;
	return lstat(path, &st) == 0 && S_ISDIR(st.st_mode);
}

static bool exists(const char *path)
{
	struct stat st;
	return lstat(path, &st) == 0;
}

/* True when path resolves to the same place as want (both may not exist: false). */
static bool same_place(const char *path, const char *want)
{
	char a[PATH_MAX], b[PATH_MAX];
	return realpath(path, a) && realpath(want, b) && !strcmp(a, b);
}

/* ---- prepare ---- */

static void prep_assert_bare(struct op *op);
static void prep_worktree(struct op *op);
static void prep_new_worktree(struct op *op);
static void prep_fetch(struct op *op);
static void prep_check_clean(struct op *op);

static void prep_take_inuse(struct op *op);

static void on_inuse_retry(uv_timer_t *t)
{
	prep_take_inuse(t->data);
}

/*
 * Marks the worktree in use for as long as the job holds the tree, so gc
 * in any process leaves it alone. `workspace ls` tests the lock for an
 * instant, hence a few quick retries; a lock still held after them belongs
 * to another holder of this worktree, which keeps it protected: go on.
 */
static void prep_take_inuse(struct op *op)
{
	int fd = -1;
	int r = dr_workspace_trylock_dir(op->tree.worktree_path, LOCK_EX, &fd);
	if (r == -EWOULDBLOCK && op->inuse_tries++ < INUSE_TRIES) {
		uv_timer_start(&op->kick, on_inuse_retry, INUSE_RETRY_MS, 0);
		return;
	}
	if (r == 0) {
		op->tree.inuse_fd = fd;
		op->tree.inuse_held = true;
	} else {
		dr_debug("workspace: worktree %s not marked in use: %s", op->tree.worktree_path,
			 r == -EWOULDBLOCK ? "another holder has it" : strerror(-r));
	}
	*op->tree_out = op->tree;
	memset(&op->tree, 0, sizeof(op->tree));
	op_finish(op, 0);
}

static void prep_done(struct op *op, const struct dr_proc_result *r)
{
	if (!ok(r)) {
		op_fail_cmd(op, r, "cannot read HEAD of the new worktree");
		return;
	}
	op->tree.starting_sha = out_line(r);
	prep_take_inuse(op);
}

static void prep_read_head(struct op *op)
{
	op_run(op, op->tree.worktree_path, local_timeout(op), prep_done, "git", "rev-parse", "HEAD", NULL);
}

static void prep_clean_checked(struct op *op, const struct dr_proc_result *r)
{
	if (!ok(r)) {
		op_fail_cmd(op, r, "cannot inspect the new worktree");
		return;
	}
	if (r->out_len > 0) {
		op_fail(op, -EBUSY, "the prepared worktree has uncommitted changes; refusing to run in %s",
			op->tree.worktree_path);
		return;
	}
	prep_read_head(op);
}

static void prep_check_clean(struct op *op)
{
	op_run(op, op->tree.worktree_path, local_timeout(op), prep_clean_checked, "git", "status", "--porcelain",
	       "-z", NULL);
}

static void prep_added(struct op *op, const struct dr_proc_result *r)
{
	if (!ok(r)) {
		char what[PATH_MAX + 64];
		snprintf(what, sizeof(what), "cannot create the worktree %s", op->tree.worktree_path);
		op_fail_cmd(op, r, what);
		return;
	}
	prep_check_clean(op);
}

static void prep_base_resolved(struct op *op, const struct dr_proc_result *r)
{
	char *base = ok(r) ? out_line(r) : NULL;
	if (!base || !*base) {
		free(base);
		base = dr_xstrdup("HEAD"); /* no fetched default branch: the cache's own HEAD */
	}
	free(op->base);
	op->base = base;
	op_run(op, op->real_root, local_timeout(op), prep_added, "git", "--git-dir", op->tree.source_path,
	       "worktree", "add", "--no-track", "-b", op->tree.branch, op->tree.worktree_path, op->base, NULL);
}

static void prep_default_named(struct op *op, const struct dr_proc_result *r)
{
	char *name = ok(r) ? out_line(r) : NULL;
	if (!name || !*name || name[0] == '-') {
		free(name);
		struct dr_proc_result none = { .exit_code = 1, .out = "", .stdout_tail = "", .stderr_tail = "" };
		prep_base_resolved(op, &none);
		return;
	}
	char *ref = dr_xasprintf("refs/remotes/origin/%s^{commit}", name);
	free(name);
	free(op->base);
	op->base = ref; /* kept alive while the command runs */
	op_run(op, op->real_root, local_timeout(op), prep_base_resolved, "git", "--git-dir", op->tree.source_path,
	       "rev-parse", "--verify", "--quiet", op->base, NULL);
}

static void prep_fetched(struct op *op, const struct dr_proc_result *r)
{
	if (!ok(r)) {
		char said[MSG_MAX + 32];
		describe_failure(r, said, sizeof(said));
		op->tree.fetch_warning = dr_xasprintf("could not update the source cache (%s); the worktree starts "
						      "from the last fetched state",
						      said);
		dr_debug("workspace %s: fetch failed: %s", op->tree.slug, said);
	}
	op_run(op, op->real_root, local_timeout(op), prep_default_named, "git", "--git-dir", op->tree.source_path,
	       "symbolic-ref", "--quiet", "--short", "HEAD", NULL);
}

static void prep_fetch(struct op *op)
{
	op_run(op, op->real_root, network_timeout(op), prep_fetched, "git", "--git-dir", op->tree.source_path,
	       "fetch", "--prune", "--quiet", "origin", "+refs/heads/*:refs/remotes/origin/*", NULL);
}

static void prep_branch_checked(struct op *op, const struct dr_proc_result *r)
{
	if (r->exit_code == 0) {
		op->tree.reattached = true;
		op_run(op, op->real_root, local_timeout(op), prep_added, "git", "--git-dir", op->tree.source_path,
		       "worktree", "add", op->tree.worktree_path, op->tree.branch, NULL);
		return;
	}
	prep_fetch(op);
}

static void prep_pruned(struct op *op, const struct dr_proc_result *r)
{
	char *ref = dr_xasprintf("refs/heads/%s", op->tree.branch);
	free(op->base);
	op->base = ref;
	op_run(op, op->real_root, local_timeout(op), prep_branch_checked, "git", "--git-dir", op->tree.source_path,
	       "rev-parse", "--verify", "--quiet", op->base, NULL);
}

static void prep_new_worktree(struct op *op)
{
	const char *parts[] = { "worktrees", op->owner, op->repo, NULL };
	int r = mkdir_under(op->real_root, parts, op->err, sizeof(op->err));
	if (r < 0) {
		op_finish(op, r);
		return;
	}
	/* Stale records of worktrees deleted by hand would block their branch. */
	op_run(op, op->real_root, local_timeout(op), prep_pruned, "git", "--git-dir", op->tree.source_path,
	       "worktree", "prune", NULL);
}

static void prep_reuse_head(struct op *op, const struct dr_proc_result *r)
{
	prep_done(op, r);
}

static void prep_existing_inspected(struct op *op, const struct dr_proc_result *r)
{
	/* Output: the common git dir, then the branch (or "HEAD" when detached). */
	char *common = NULL, *branch = NULL;
	if (ok(r)) {
		const char *nl = memchr(r->out, '\n', r->out_len);
		if (nl) {
			common = trimmed(r->out, (size_t)(nl - r->out));
			branch = trimmed(nl + 1, r->out_len - (size_t)(nl + 1 - r->out));
		}
	}
	bool ours = false;
	if (common) {
		char *abs = common[0] == '/' ? dr_xstrdup(common)
					     : dr_xasprintf("%s/%s", op->tree.worktree_path, common);
		ours = same_place(abs, op->tree.source_path);
		free(abs);
	}
	if (ours && branch && !strcmp(branch, op->tree.branch)) {
		free(common);
		free(branch);
		op->tree.reused = true;
		op_run(op, op->tree.worktree_path, local_timeout(op), prep_reuse_head, "git", "rev-parse", "HEAD",
		       NULL);
		return;
	}
	if (!ours)
		op_fail(op, -EEXIST, "the job worktree %s already exists but is not a worktree of %s; it was left "
				     "alone for inspection",
			op->tree.worktree_path, op->tree.source_path);
	else
		op_fail(op, -EEXIST, "the job worktree %s already exists on branch %s instead of %s; it was left "
				     "alone for inspection",
			op->tree.worktree_path, branch && *branch ? branch : "(unknown)", op->tree.branch);
	free(common);
	free(branch);
}

static void prep_worktree(struct op *op)
{
	if (exists(op->tree.worktree_path)) {
		if (!is_dir(op->tree.worktree_path)) {
			op_fail(op, -EEXIST, "%s exists and is not a directory; it was left alone for inspection",
				op->tree.worktree_path);
			return;
		}
		op_run(op, op->tree.worktree_path, local_timeout(op), prep_existing_inspected, "git", "rev-parse",
		       "--git-common-dir", "--abbrev-ref", "HEAD", NULL);
		return;
	}
	prep_new_worktree(op);
}

static void prep_bare_checked(struct op *op, const struct dr_proc_result *r)
{
	char *v = ok(r) ? out_line(r) : NULL;
	bool bare = v && !strcmp(v, "true");
	free(v);
	if (!bare) {
		op_fail(op, -EINVAL, "the source cache %s is not a bare git repository; move it away and the "
				     "runner will clone it again",
			op->tree.source_path);
		return;
	}
	prep_worktree(op);
}

static void prep_assert_bare(struct op *op)
{
	op_run(op, op->real_root, local_timeout(op), prep_bare_checked, "git", "--git-dir", op->tree.source_path,
	       "rev-parse", "--is-bare-repository", NULL);
}

static void prep_origin_set(struct op *op, const struct dr_proc_result *r)
{
	if (!ok(r))
		dr_debug("workspace %s: cannot carry over the origin of %s", op->tree.slug, op->seed);
	prep_assert_bare(op);
}

static void prep_seed_origin(struct op *op, const struct dr_proc_result *r)
{
	char *url = ok(r) ? out_line(r) : NULL;
	if (!url || !*url) { /* a checkout without origin stays the cache's origin */
		free(url);
		prep_assert_bare(op);
		return;
	}
	free(op->base);
	op->base = url;
	op_run(op, op->real_root, local_timeout(op), prep_origin_set, "git", "--git-dir", op->tree.source_path,
	       "remote", "set-url", "origin", op->base, NULL);
}

static void prep_cloned(struct op *op, const struct dr_proc_result *r)
{
	if (!ok(r)) {
		char what[PATH_MAX + 128];
		snprintf(what, sizeof(what), "cannot clone %s into the source cache %s", op->seed ? op->seed : op->base,
			 op->tree.source_path);
		op_fail_cmd(op, r, what);
		return;
	}
	if (op->seed) {
		op->tree.seeded = true;
		op_run(op, op->seed, local_timeout(op), prep_seed_origin, "git", "remote", "get-url", "origin", NULL);
		return;
	}
	prep_assert_bare(op);
}

static void prep_clone(struct op *op)
{
	const char *parts[] = { "sources", op->owner, NULL };
	int r = mkdir_under(op->real_root, parts, op->err, sizeof(op->err));
	if (r < 0) {
		op_finish(op, r);
		return;
	}
	const char *src = op->seed;
	if (!src) {
		free(op->base);
		op->base = dr_workspace_clone_url(op->ctx->clone_base, op->tree.slug);
		src = op->base;
	}
	op_run(op, op->real_root, network_timeout(op), prep_cloned, "git", "clone", "--bare", "--quiet", "--", src,
	       op->tree.source_path, NULL);
}

static void prep_try_candidate(struct op *op);

static void prep_candidate_checked(struct op *op, const struct dr_proc_result *r)
{
	char *top = ok(r) ? out_line(r) : NULL;
	/* Only the top of a checkout counts, not a folder inside some other repository. */
	if (top && *top && same_place(top, op->cand[op->cand_i])) {
		op->seed = dr_xstrdup(op->cand[op->cand_i]);
		free(top);
		prep_clone(op);
		return;
	}
	free(top);
	op->cand_i++;
	prep_try_candidate(op);
}

static void prep_try_candidate(struct op *op)
{
	while (op->cand_i < 2 && !is_dir(op->cand[op->cand_i]))
		op->cand_i++;
	if (op->cand_i >= 2) {
		prep_clone(op);
		return;
	}
	op_run(op, op->cand[op->cand_i], local_timeout(op), prep_candidate_checked, "git", "rev-parse",
	       "--show-toplevel", NULL);
}

static void prep_start(struct op *op)
{
	if (exists(op->tree.source_path) && !dr_dir_empty(op->tree.source_path)) {
		prep_assert_bare(op);
		return;
	}
	prep_try_candidate(op);
}

int dr_workspace_prepare(const struct dr_ws_ctx *ctx, const struct dr_ws_prepare_in *in, struct dr_ws_tree *out,
			 dr_ws_cb cb, void *data, char *err, size_t errlen)
{
	if (!in->slug || !dr_job_slug_valid(in->slug)) {
		snprintf(err, errlen, "invalid repository slug; expected owner/repo");
		return -EINVAL;
	}
	if (!in->job_id || !dr_job_id_valid(in->job_id)) {
		snprintf(err, errlen, "invalid job id");
		return -EINVAL;
	}
	if (!in->branch || !branch_valid(in->branch)) {
		snprintf(err, errlen, "invalid branch name");
		return -EINVAL;
	}
	if (!ctx->root || ctx->root[0] != '/') {
		snprintf(err, errlen, "the workspace root must be an absolute path");
		return -EINVAL;
	}
	int r = dr_mkdir_private(ctx->root, err, errlen);
	if (r < 0)
		return r;
	char real_root[PATH_MAX];
	if (!realpath(ctx->root, real_root)) {
		r = -errno;
		snprintf(err, errlen, "cannot create the workspace root %s: %s", ctx->root, strerror(-r));
		return r;
	}
	const char *slash = strchr(in->slug, '/');
	char *owner = dr_xstrndup(in->slug, (size_t)(slash - in->slug));
	char *repo = dr_xstrdup(slash + 1);
	char *source = dr_xasprintf("%s/sources/%s/%s.git", real_root, owner, repo);

	struct op *op = op_new(ctx, source, prep_start, cb, data);
	op->tree_out = out;
	op->real_root = dr_xstrdup(real_root);
	op->owner = owner;
	op->repo = repo;
	op->cand[0] = dr_xasprintf("%s/%s/%s", real_root, owner, repo);
	op->cand[1] = dr_xasprintf("%s/%s", real_root, repo);
	op->tree.slug = dr_xstrdup(in->slug);
	op->tree.source_path = source;
	op->tree.worktree_path = dr_xasprintf("%s/worktrees/%s/%s/%s", real_root, owner, repo, in->job_id);
	op->tree.branch = dr_xstrdup(in->branch);
	return 0;
}

/* ---- changes ---- */

void dr_workspace_parse_status(const char *z, size_t len, struct dr_ws_changes *out)
{
	size_t i = 0;
	while (i < len) {
		const char *e = memchr(z + i, '\0', len - i);
		if (!e)
			break; /* cut short */
		size_t n = (size_t)(e - (z + i));
		const char *entry = z + i;
		i += n + 1;
		if (n < 4 || entry[2] != ' ')
			continue;
		char x = entry[0], y = entry[1];
		if (x == 'R' || x == 'C' || y == 'R' || y == 'C') {
			/* "XY new\0old\0": the second field is the old path. */
			const char *e2 = memchr(z + i, '\0', len - i);
			if (!e2)
				break;
			i = (size_t)(e2 - z) + 1;
		}
		if (out->kept < DR_WS_KEEP_MAX) {
			if (out->kept % 64 == 0)
				out->paths = dr_xrealloc(out->paths, (out->kept + 64) * sizeof(char *));
			out->paths[out->kept++] = dr_xstrndup(entry + 3, n - 3);
		}
		out->count++;
	}
}

static void changes_listed(struct op *op, const struct dr_proc_result *r)
{
	if (!ok(r)) {
		op_fail_cmd(op, r, "cannot list the changes in the worktree");
		return;
	}
	struct dr_ws_changes c = { 0 };
	dr_workspace_parse_status(r->out, r->out_len, &c);
	if (r->out_truncated && c.count < DR_WS_KEEP_MAX)
		dr_debug("workspace: status output cut at %zu bytes", r->out_len);
	*op->changes_out = c;
	op_finish(op, 0);
}

static void changes_start(struct op *op)
{
	op_run(op, op->t->worktree_path, local_timeout(op), changes_listed, "git", "status", "--porcelain", "-z",
	       NULL);
}

int dr_workspace_changes(const struct dr_ws_ctx *ctx, const struct dr_ws_tree *t, struct dr_ws_changes *out,
			 dr_ws_cb cb, void *data)
{
	struct op *op = op_new(ctx, t->source_path, changes_start, cb, data);
	op->t = t;
	op->changes_out = out;
	return 0;
}

/* ---- commit ---- */

/* Appends s with every run of whitespace folded to one space and control characters (C0, DEL, C1) dropped. */
static size_t add_folded(struct dr_buf *b, const char *s, size_t max_chars)
{
	size_t chars = 0;
	bool space = false;
	while (*s == ' ' || *s == '\t' || *s == '\n' || *s == '\r' || *s == '\v' || *s == '\f')
		s++;
	for (; *s && chars < max_chars; s++) {
		unsigned char c = (unsigned char)*s;
		if (c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\v' || c == '\f') {
			space = true;
			continue;
		}
		size_t ctl = dr_text_control_len(s, strnlen(s, 4));
		if (ctl) { /* C0, DEL, C1 (ESC, CSI): nothing that drives a terminal reaches gh or git */
			s += ctl - 1;
			continue;
		}
		if (space) {
			dr_buf_addch(b, ' ');
			space = false;
			if (++chars >= max_chars)
				break;
		}
		/* A character is its lead byte plus its continuation bytes. */
		dr_buf_addch(b, (char)c);
		while ((s[1] & 0xc0) == 0x80)
			dr_buf_addch(b, *++s);
		chars++;
	}
	while (b->len > 0 && b->buf[b->len - 1] == ' ')
		dr_buf_truncate(b, b->len - 1);
	return chars;
}

char *dr_workspace_commit_subject(const char *identifier, const char *title)
{
	struct dr_buf b = DR_BUF_INIT(0), t = DR_BUF_INIT(0);
	if (identifier)
		add_folded(&b, identifier, 64);
	if (title)
		add_folded(&t, title, DR_WS_SUBJECT_TITLE_MAX);
	if (b.len)
		dr_buf_addstr(&b, ": ");
	if (t.len)
		dr_buf_add(&b, t.buf, t.len);
	else
		dr_buf_addstr(&b, b.len ? "apply delegated changes" : "Apply delegated changes");
	dr_buf_release(&t);
	return dr_buf_detach(&b, NULL);
}

/* A path on one line of a message: control characters become '?'. */
static void add_path_line(struct dr_buf *b, const char *path)
{
	dr_buf_addstr(b, "- ");
	for (const char *p = path; *p; p++) {
		size_t ctl = dr_text_control_len(p, strnlen(p, 4));
		dr_buf_addch(b, ctl ? '?' : *p);
		p += ctl ? ctl - 1 : 0;
	}
	dr_buf_addch(b, '\n');
}

/* "Linear issue: X\nLinear URL: Y\n\n", the head of commit and PR bodies. */
static void add_issue_header(struct dr_buf *b, const char *identifier, const char *url)
{
	if (identifier) {
		dr_buf_addstr(b, "Linear issue: ");
		add_folded(b, identifier, 64);
		dr_buf_addch(b, '\n');
	}
	if (url) {
		dr_buf_addstr(b, "Linear URL: ");
		add_folded(b, url, 2048);
		dr_buf_addch(b, '\n');
	}
	if (b->len)
		dr_buf_addch(b, '\n');
}

char *dr_workspace_commit_body(const char *identifier, const char *url, char *const *files, size_t nfiles,
			       size_t total)
{
	struct dr_buf b = DR_BUF_INIT(0);
	add_issue_header(&b, identifier, url);
	dr_buf_addstr(&b, "Delegated through Delego local runner.\n\nChanged files:\n");
	size_t n = nfiles < DR_WS_LIST_MAX ? nfiles : DR_WS_LIST_MAX;
	for (size_t i = 0; i < n; i++)
		add_path_line(&b, files[i]);
	if (total > n)
		dr_buf_addf(&b, "- ... and %zu more\n", total - n);
	dr_buf_truncate(&b, b.len - 1);
	return dr_buf_detach(&b, NULL);
}

/* "%H%x00%an%x00%ae%x00%cI%x00%s" into c. */
static bool parse_log(const char *out, size_t len, struct dr_ws_commit *c)
{
	const char *f[5];
	size_t fl[5];
	size_t i = 0, start = 0;
	for (size_t k = 0; k <= len && i < 5; k++) {
		if (k == len || out[k] == '\0') {
			f[i] = out + start;
			fl[i++] = k - start;
			start = k + 1;
		}
	}
	if (i < 5 || fl[0] < 40)
		return false;
	c->sha = trimmed(f[0], fl[0]);
	c->short_sha = dr_xstrndup(c->sha, 12);
	c->author_name = dr_xstrndup(f[1], fl[1]);
	c->author_email = dr_xstrndup(f[2], fl[2]);
	c->committed_at = dr_xstrndup(f[3], fl[3]);
	c->subject = trimmed(f[4], fl[4]);
	return true;
}

#define LOG_FORMAT "--format=%H%x00%an%x00%ae%x00%cI%x00%s"

static void commit_logged(struct op *op, const struct dr_proc_result *r)
{
	struct dr_ws_commit *c = &op->commit;
	char *files_subject = NULL;
	if (c->subject) { /* ours: keep the subject we wrote */
		files_subject = c->subject;
		c->subject = NULL;
	}
	if (!ok(r) || !parse_log(r->out, r->out_len, c)) {
		free(files_subject);
		if (ok(r))
			op_fail(op, -EIO, "cannot read the new commit");
		else
			op_fail_cmd(op, r, "cannot read the new commit");
		return;
	}
	if (files_subject) {
		free(c->subject);
		c->subject = files_subject;
	}
	c->branch = dr_xstrdup(op->t->branch);
	*op->commit_out = *c;
	memset(c, 0, sizeof(*c));
	op_finish(op, 0);
}

static void commit_made(struct op *op, const struct dr_proc_result *r)
{
	if (!ok(r)) {
		op_fail_cmd(op, r, "cannot create the local commit");
		return;
	}
	op_run(op, op->t->worktree_path, local_timeout(op), commit_logged, "git", "log", "-1", LOG_FORMAT, "HEAD",
	       NULL);
}

static void commit_added(struct op *op, const struct dr_proc_result *r)
{
	if (!ok(r)) {
		op_fail_cmd(op, r, "cannot stage the changes");
		return;
	}
	const struct dr_ws_commit_in *in = op->commit_in;
	struct dr_ws_commit *c = &op->commit;
	c->subject = dr_workspace_commit_subject(in->identifier, in->title);
	char *body = dr_workspace_commit_body(in->identifier, in->url, in->changes->paths, in->changes->kept,
					      in->changes->count);
	free(op->base);
	op->base = body;
	const char *name = op->has_name ? "" : "user.name=" FALLBACK_NAME;
	const char *email = op->has_email ? "" : "user.email=" FALLBACK_EMAIL;
	/* The fallback identity is given to this commit only ("-c"), never written to config. */
	if (!op->has_name && !op->has_email)
		op_run(op, op->t->worktree_path, local_timeout(op), commit_made, "git", "-c", name, "-c", email,
		       "commit", "--quiet", "-m", c->subject, "-m", body, NULL);
	else if (!op->has_name || !op->has_email)
		op_run(op, op->t->worktree_path, local_timeout(op), commit_made, "git", "-c",
		       op->has_name ? email : name, "commit", "--quiet", "-m", c->subject, "-m", body, NULL);
	else
		op_run(op, op->t->worktree_path, local_timeout(op), commit_made, "git", "commit", "--quiet", "-m",
		       c->subject, "-m", body, NULL);
}

static void commit_email_checked(struct op *op, const struct dr_proc_result *r)
{
	op->has_email = ok(r) && r->out_len > 1;
	op_run(op, op->t->worktree_path, local_timeout(op), commit_added, "git", "add", "--all", NULL);
}

static void commit_name_checked(struct op *op, const struct dr_proc_result *r)
{
	op->has_name = ok(r) && r->out_len > 1;
	op_run(op, op->t->worktree_path, local_timeout(op), commit_email_checked, "git", "config", "--get",
	       "user.email", NULL);
}

static void commit_start(struct op *op)
{
	if (!op->commit_in->changes || op->commit_in->changes->count == 0) {
		op_fail(op, -ENODATA, "refusing to create an empty commit: no changes in the worktree");
		return;
	}
	struct dr_ws_commit *c = &op->commit;
	size_t n = op->commit_in->changes->kept;
	if (n > DR_WS_COMMIT_FILES_MAX)
		n = DR_WS_COMMIT_FILES_MAX;
	c->files = dr_xcalloc(n + 1, sizeof(char *));
	for (size_t i = 0; i < n; i++)
		c->files[i] = dr_xstrdup(op->commit_in->changes->paths[i]);
	c->nfiles = n;
	c->file_count = op->commit_in->changes->count;
	op_run(op, op->t->worktree_path, local_timeout(op), commit_name_checked, "git", "config", "--get",
	       "user.name", NULL);
}

int dr_workspace_commit(const struct dr_ws_ctx *ctx, const struct dr_ws_tree *t, const struct dr_ws_commit_in *in,
			struct dr_ws_commit *out, dr_ws_cb cb, void *data)
{
	struct op *op = op_new(ctx, t->source_path, commit_start, cb, data);
	op->t = t;
	op->commit_in = in;
	op->commit_out = out;
	return 0;
}

static void describe_logged(struct op *op, const struct dr_proc_result *r)
{
	struct dr_ws_commit *c = &op->commit;
	if (!ok(r) || !parse_log(r->out, r->out_len, c)) {
		if (ok(r))
			op_fail(op, -EIO, "cannot read HEAD");
		else
			op_fail_cmd(op, r, "cannot read HEAD");
		return;
	}
	c->branch = dr_xstrdup(op->t->branch);
	*op->commit_out = *c;
	memset(c, 0, sizeof(*c));
	op_finish(op, 0);
}

static void describe_diffed(struct op *op, const struct dr_proc_result *r)
{
	struct dr_ws_commit *c = &op->commit;
	if (ok(r)) { /* without a diff the commit is still described */
		size_t i = 0;
		while (i < r->out_len) {
			const char *e = memchr(r->out + i, '\0', r->out_len - i);
			if (!e)
				break;
			size_t n = (size_t)(e - (r->out + i));
			if (n > 0) {
				if (c->nfiles < DR_WS_COMMIT_FILES_MAX) {
					c->files = dr_xrealloc(c->files, (c->nfiles + 2) * sizeof(char *));
					c->files[c->nfiles++] = dr_xstrndup(r->out + i, n);
					c->files[c->nfiles] = NULL;
				}
				c->file_count++;
			}
			i += n + 1;
		}
	}
	op_run(op, op->t->worktree_path, local_timeout(op), describe_logged, "git", "log", "-1", LOG_FORMAT, "HEAD",
	       NULL);
}

static void describe_start(struct op *op)
{
	free(op->base);
	op->base = dr_xasprintf("%s..HEAD", op->t->starting_sha ? op->t->starting_sha : "HEAD");
	op_run(op, op->t->worktree_path, local_timeout(op), describe_diffed, "git", "diff", "--name-only", "-z",
	       op->base, "--", NULL);
}

int dr_workspace_describe_head(const struct dr_ws_ctx *ctx, const struct dr_ws_tree *t, struct dr_ws_commit *out,
			       dr_ws_cb cb, void *data)
{
	struct op *op = op_new(ctx, t->source_path, describe_start, cb, data);
	op->t = t;
	op->commit_out = out;
	return 0;
}

cJSON *dr_ws_commit_json(const struct dr_ws_commit *c)
{
	cJSON *o = cJSON_CreateObject();
	dr_json_add_str_or_null(o, "sha", c->sha);
	dr_json_add_str_or_null(o, "shortSha", c->short_sha);
	dr_json_add_str_or_null(o, "subject", c->subject);
	dr_json_add_str_or_null(o, "branchName", c->branch);
	dr_json_add_str_or_null(o, "authorName", c->author_name);
	dr_json_add_str_or_null(o, "authorEmail", c->author_email);
	dr_json_add_str_or_null(o, "committedAt", c->committed_at);
	cJSON_AddNumberToObject(o, "changedFileCount", (double)c->file_count);
	cJSON *files = cJSON_AddArrayToObject(o, "changedFiles");
	for (size_t i = 0; i < c->nfiles; i++)
		cJSON_AddItemToArray(files, cJSON_CreateString(c->files[i]));
	return o;
}

/* ---- head, push ---- */

static void head_read(struct op *op, const struct dr_proc_result *r)
{
	char *sha = ok(r) ? out_line(r) : NULL;
	if (!sha || strlen(sha) < 40 || strlen(sha) > 64) {
		free(sha);
		if (ok(r))
			op_fail(op, -EIO, "cannot read HEAD of %s", op->t->worktree_path);
		else
			op_fail_cmd(op, r, "cannot read HEAD of the worktree");
		return;
	}
	memcpy(op->sha_out, sha, strlen(sha) + 1);
	free(sha);
	op_finish(op, 0);
}

static void head_start(struct op *op)
{
	op_run(op, op->t->worktree_path, local_timeout(op), head_read, "git", "rev-parse", "HEAD", NULL);
}

int dr_workspace_head(const struct dr_ws_ctx *ctx, const struct dr_ws_tree *t, char *sha, dr_ws_cb cb, void *data)
{
	struct op *op = op_new(ctx, t->source_path, head_start, cb, data);
	op->t = t;
	op->sha_out = sha;
	return 0;
}

static void pushed_recorded(struct op *op, const struct dr_proc_result *r)
{
	if (!ok(r))
		dr_debug("workspace: cannot record the push of %s: %s", op->t->branch, r->stderr_tail);
	op_finish(op, 0);
}

static void pushed(struct op *op, const struct dr_proc_result *r)
{
	if (!ok(r)) {
		char what[256];
		snprintf(what, sizeof(what), "cannot push branch %s", op->t->branch);
		op_fail_cmd(op, r, what);
		return;
	}
	free(op->base);
	op->base = dr_xasprintf(DR_WS_PUSHED_REFS "%s", op->t->branch);
	op_run(op, op->t->worktree_path, local_timeout(op), pushed_recorded, "git", "update-ref", op->base, "HEAD",
	       NULL);
}

static void push_start(struct op *op)
{
	free(op->base);
	/* HEAD, not the branch by name: an agent may have committed on another branch. */
	op->base = dr_xasprintf("HEAD:refs/heads/%s", op->t->branch);
	op_run(op, op->t->worktree_path, network_timeout(op), pushed, "git", "push", "--quiet", "-u", "origin",
	       op->base, NULL);
}

int dr_workspace_push(const struct dr_ws_ctx *ctx, const struct dr_ws_tree *t, dr_ws_cb cb, void *data)
{
	struct op *op = op_new(ctx, t->source_path, push_start, cb, data);
	op->t = t;
	return 0;
}

/* ---- pull request ---- */

char *dr_workspace_pr_body(const char *identifier, const char *url, const char *short_sha)
{
	struct dr_buf b = DR_BUF_INIT(0);
	add_issue_header(&b, identifier, url);
	if (short_sha)
		dr_buf_addf(&b, "Local commit: %s\n\n", short_sha);
	dr_buf_addstr(&b, "Created by Delego local runner.");
	return dr_buf_detach(&b, NULL);
}

static long pr_number(const char *url)
{
	const char *p = url ? strstr(url, "/pull/") : NULL;
	if (!p)
		return -1;
	p += 6;
	long n = 0;
	int digits = 0;
	for (; *p >= '0' && *p <= '9' && digits < 12; p++, digits++)
		n = n * 10 + (*p - '0');
	return digits ? n : -1;
}

static bool says_already_exists(const struct dr_proc_result *r)
{
	return strcasestr(r->stderr_tail, "already exists") || strcasestr(r->stdout_tail, "already exists");
}

static void pr_viewed(struct op *op, const struct dr_proc_result *r)
{
	cJSON *j = NULL;
	if (!ok(r) || dr_json_parse_object(r->out, r->out_len, 1024 * 1024, &j) < 0 ||
	    !dr_json_nonempty(j, "url")) {
		cJSON_Delete(j);
		if (ok(r))
			op_fail(op, -EIO, "a pull request for %s already exists, but gh pr view did not say where",
				op->t->branch);
		else
			op_fail_cmd(op, r, "a pull request already exists, and gh pr view failed");
		return;
	}
	struct dr_ws_pr *pr = &op->pr;
	pr->url = dr_xstrdup(dr_json_str(j, "url"));
	const cJSON *num = cJSON_GetObjectItemCaseSensitive(j, "number");
	pr->number = cJSON_IsNumber(num) && num->valuedouble >= 0 && num->valuedouble < 1e12 ? (long)num->valuedouble
											      : pr_number(pr->url);
	const char *title = dr_json_nonempty(j, "title");
	pr->title = dr_xstrdup(title ? title : op->pr_in->title);
	pr->draft = dr_json_true(j, "isDraft");
	pr->existing = true;
	cJSON_Delete(j);
	*op->pr_out = *pr;
	memset(pr, 0, sizeof(*pr));
	op_finish(op, 0);
}

static void pr_created(struct op *op, const struct dr_proc_result *r)
{
	if (!ok(r)) {
		if (!r->timed_out && says_already_exists(r)) {
			op_run(op, op->t->worktree_path, network_timeout(op), pr_viewed, "gh", "pr", "view",
			       op->t->branch, "--json", "url,number,title,isDraft", NULL);
			return;
		}
		op_fail_cmd(op, r, "cannot create the GitHub pull request");
		return;
	}
	/* gh prints the URL of the new pull request on a line of its own. */
	char *url = NULL;
	const char *p = r->out, *end = r->out + r->out_len;
	while (p < end && !url) {
		const char *nl = memchr(p, '\n', (size_t)(end - p));
		size_t n = nl ? (size_t)(nl - p) : (size_t)(end - p);
		char *line = trimmed(p, n);
		if (!strncmp(line, "https://", 8) || !strncmp(line, "http://", 7))
			url = line;
		else
			free(line);
		p += n + 1;
	}
	if (!url) {
		op_fail(op, -EIO, "the GitHub CLI did not print a pull request URL");
		return;
	}
	struct dr_ws_pr *pr = &op->pr;
	pr->url = url;
	pr->number = pr_number(url);
	pr->title = dr_xstrdup(op->pr_in->title);
	pr->draft = op->pr_in->draft;
	*op->pr_out = *pr;
	memset(pr, 0, sizeof(*pr));
	op_finish(op, 0);
}

static void pr_start(struct op *op)
{
	const struct dr_ws_pr_in *in = op->pr_in;
	if (in->draft)
		op_run(op, op->t->worktree_path, network_timeout(op), pr_created, "gh", "pr", "create", "--title",
		       in->title, "--body", in->body, "--head", op->t->branch, "--draft", NULL);
	else
		op_run(op, op->t->worktree_path, network_timeout(op), pr_created, "gh", "pr", "create", "--title",
		       in->title, "--body", in->body, "--head", op->t->branch, NULL);
}

int dr_workspace_pr(const struct dr_ws_ctx *ctx, const struct dr_ws_tree *t, const struct dr_ws_pr_in *in,
		    struct dr_ws_pr *out, dr_ws_cb cb, void *data)
{
	if (!in->title || !in->body)
		return -EINVAL;
	struct op *op = op_new(ctx, t->source_path, pr_start, cb, data);
	op->t = t;
	op->pr_in = in;
	op->pr_out = out;
	return 0;
}

/* ---- the awaiting marker ---- */

int dr_workspace_mark_awaiting(const struct dr_ws_tree *t, const char *job_id, bool awaiting)
{
	if (!t || !t->worktree_path || !job_id || !dr_job_id_valid(job_id))
		return -EINVAL;
	char *path = dr_xasprintf("%s" DR_WS_AWAITING_SUFFIX, t->worktree_path);
	int r = 0;
	if (!awaiting) {
		if (unlink(path) < 0 && errno != ENOENT)
			r = -errno;
	} else {
		char *text = dr_xasprintf("job %s is waiting for the user's answer; `delego-runner workspace gc` keeps "
					  "its worktree until the job ends\n",
					  job_id);
		r = dr_write_file_atomic(path, text, strlen(text), 0600, 0700);
		free(text);
	}
	free(path);
	return r;
}
