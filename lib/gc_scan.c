/* gc_scan: what is under the workspace root, and the state of each cache and worktree (gc.h's rules). */
#include "gc-int.h"
#include "delego/buf.h"
#include "delego/childenv.h"
#include "delego/fsutil.h"
#include "delego/gitparse.h"
#include "delego/proc.h"
#include "delego/wslayout.h"
#include "delego/strv.h"
#include "delego/xalloc.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#define GIT_TIMEOUT_MS (5 * 60 * 1000)
#define STOP_POLL_MS 50
#define STOP_GRACE_MS 2000
#define ITEMS_MAX 100000      /* a workspace with more entries is not ours to judge */
#define WALK_DEPTH_MAX 512

/* ---- files ---- */

static int64_t mtime_of(const char *path)
{
	struct stat st;
	return lstat(path, &st) == 0 ? (int64_t)st.st_mtime : 0;
}

static int64_t max64(int64_t a, int64_t b)
{
	return a > b ? a : b;
}

/* Bytes on disk under the directory fd (consumed), never following a symlink nor leaving its filesystem. */
static uint64_t du_fd(const struct dr_gc_opts *o, int fd, dev_t dev, int depth)
{
	uint64_t total = 0;
	DIR *d = fdopendir(fd);
	if (!d) {
		close(fd);
		return 0;
	}
	for (struct dirent *e; (e = readdir(d)) && !dr__gc_stopped(o);) {
		if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, ".."))
			continue;
		struct stat st;
		if (fstatat(dirfd(d), e->d_name, &st, AT_SYMLINK_NOFOLLOW) < 0)
			continue;
		uint64_t b = (uint64_t)st.st_blocks * 512;
		total += st.st_nlink > 1 && !S_ISDIR(st.st_mode) ? b / st.st_nlink : b;
		if (S_ISDIR(st.st_mode) && st.st_dev == dev && depth < WALK_DEPTH_MAX) {
			int sub = openat(dirfd(d), e->d_name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
			if (sub >= 0)
				total += du_fd(o, sub, dev, depth + 1);
		}
	}
	closedir(d);
	return total;
}

static uint64_t du(const struct dr_gc_opts *o, const char *path)
{
	int fd = open(path, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0)
		return 0;
	struct stat st;
	if (fstat(fd, &st) < 0) {
		close(fd);
		return 0;
	}
	return (uint64_t)st.st_blocks * 512 + du_fd(o, fd, st.st_dev, 0);
}

/* rm -rf of the directory's contents through fd (consumed); symlinks are unlinked, never followed. */
static int rm_fd(int fd, int depth)
{
	int r = 0;
	DIR *d = fdopendir(fd);
	if (!d) {
		close(fd);
		return -errno;
	}
	for (struct dirent *e; (e = readdir(d));) {
		if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, ".."))
			continue;
		struct stat st;
		if (fstatat(dirfd(d), e->d_name, &st, AT_SYMLINK_NOFOLLOW) < 0)
			continue;
		if (S_ISDIR(st.st_mode)) {
			if (depth >= WALK_DEPTH_MAX) {
				r = -ELOOP;
				continue;
			}
			int sub = openat(dirfd(d), e->d_name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
			if (sub < 0 || rm_fd(sub, depth + 1) < 0 || unlinkat(dirfd(d), e->d_name, AT_REMOVEDIR) < 0)
				r = r ? r : -EIO;
		} else if (unlinkat(dirfd(d), e->d_name, 0) < 0 && errno != ENOENT) {
			r = r ? r : -errno;
		}
	}
	closedir(d);
	return r;
}

/* The states the scan finds, by name (ls, gc, --json). */
static const char *const strstate[] = {
	[DR_GC_FINISHED] = "finished", [DR_GC_IDLE] = "idle",         [DR_GC_RUNNING] = "running",
	[DR_GC_AWAITING] = "awaiting", [DR_GC_LOCKED] = "locked",     [DR_GC_DIRTY] = "dirty",
	[DR_GC_UNPUSHED] = "unpushed", [DR_GC_FOREIGN] = "foreign",   [DR_GC_BUSY] = "busy",
	[DR_GC_ERROR] = "error",
};

const char *dr_gc_strstate(enum dr_gc_state s)
{
	return (size_t)s < sizeof strstate / sizeof *strstate ? strstate[s] : "?";
}

/* Removes the directory path, a real directory. */
int dr__gc_rm_tree(const char *path)
{
	int fd = open(path, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	int r = rm_fd(fd, 0);
	if (r == 0 && rmdir(path) < 0)
		r = -errno;
	return r;
}

/* The names of the real directories (no symlinks, no dot names) in path. NULL-terminated; caller frees. */
static char **list_dirs(const char *path)
{
	struct dr_strv v = DR_STRV_INIT;
	DIR *d = opendir(path);
	if (!d)
		return dr_strv_take(&v);
	for (struct dirent *e; (e = readdir(d));) {
		if (e->d_name[0] == '.')
			continue;
		struct stat st;
		if (fstatat(dirfd(d), e->d_name, &st, AT_SYMLINK_NOFOLLOW) == 0 && S_ISDIR(st.st_mode))
			dr_strv_push(&v, e->d_name);
	}
	closedir(d);
	return dr_strv_take(&v);
}

/* ---- git, synchronously ---- */

bool dr__gc_stopped(const struct dr_gc_opts *o)
{
	return o->stop && atomic_load(o->stop);
}

struct git_wait {
	const struct dr_gc_opts *o;
	struct dr__gc_git *g;
	struct dr_proc *proc;
	bool done;
	uv_timer_t poll;
};

static void git_exited(void *data, const struct dr_proc_result *r)
{
	struct git_wait *w = data;
	struct dr__gc_git *g = w->g;
	w->done = true;
	w->proc = NULL;
	g->code = r->timed_out || r->terminated ? 124 : r->exit_code;
	g->out = dr_xmalloc(r->out_len + 1);
	memcpy(g->out, r->out, r->out_len);
	g->out[r->out_len] = '\0';
	g->out_len = r->out_len;
	g->err = dr_xstrndup(r->stderr_tail, r->stderr_len > 2000 ? 2000 : r->stderr_len);
	uv_timer_stop(&w->poll);
}

/* A sweep asked to stop (the daemon shuts down): the command ends now, not at its timeout. */
static void git_poll(uv_timer_t *t)
{
	struct git_wait *w = t->data;
	if (w->proc && dr__gc_stopped(w->o))
		dr_proc_terminate(w->proc);
}

void dr__gc_git_release(struct dr__gc_git *g)
{
	free(g->out);
	free(g->err);
	memset(g, 0, sizeof(*g));
}

int dr__gc_git_run(const struct dr_gc_opts *o, struct dr__gc_git *g, const char *cwd, const char *const *args)
{
	memset(g, 0, sizeof(*g));
	if (dr__gc_stopped(o))
		return -ECANCELED;
	struct dr_strv argv = DR_STRV_INIT;
	dr_strv_push(&argv, "git");
	for (size_t i = 0; args[i]; i++)
		dr_strv_push(&argv, args[i]);
	/* GIT_OPTIONAL_LOCKS=0: our status must not refresh the index (its mtime is the worktree's age). */
	char *extra[] = { "GIT_TERMINAL_PROMPT=0", "GIT_OPTIONAL_LOCKS=0", "LC_ALL=C", NULL };
	char **env = dr_childenv_build(NULL, DR_CHILDENV_TOOL, extra);
	struct git_wait w = { .o = o, .g = g };
	uv_loop_t loop;
	int r = uv_loop_init(&loop);
	if (r == 0) {
		struct dr_proc_opts po = {
			.argv = argv.v,
			.env = env,
			.cwd = cwd,
			.timeout_ms = GIT_TIMEOUT_MS,
			.kill_grace_ms = STOP_GRACE_MS,
			.capture_max = DR__GC_GIT_OUT_MAX,
			.on_exit = git_exited,
			.data = &w,
		};
		uv_timer_init(&loop, &w.poll);
		w.poll.data = &w;
		r = dr_proc_spawn(&loop, &po, &w.proc);
		if (r == 0 && o->stop)
			uv_timer_start(&w.poll, git_poll, STOP_POLL_MS, STOP_POLL_MS);
		uv_run(&loop, UV_RUN_DEFAULT);
		uv_close((uv_handle_t *)&w.poll, NULL);
		uv_run(&loop, UV_RUN_DEFAULT);
		uv_loop_close(&loop);
	}
	dr_strv_release(&argv);
	dr_strv_free(env);
	if (r == 0 && !w.done)
		r = -EIO;
	if (r < 0)
		dr__gc_git_release(g);
	return r;
}

long dr__gc_git_count(const struct dr_gc_opts *o, const char *cwd, const char *const *args, char **err)
{
	struct dr__gc_git g;
	if (dr__gc_git_run(o, &g, cwd, args) < 0) {
		*err = dr_xstrdup("cannot run git");
		return -1;
	}
	long n = -1;
	if (g.code == 0) {
		char *end;
		n = strtol(g.out, &end, 10);
		if (end == g.out)
			n = -1;
	}
	if (n < 0)
		*err = dr_xasprintf("git %s failed: %s", args[0], g.err[0] ? g.err : "no answer");
	dr__gc_git_release(&g);
	return n;
}

static int list_worktrees(const struct dr_gc_opts *o, const char *cache, struct dr_gitparse_worktree **out,
			  size_t *nout)
{
	struct dr__gc_git g;
	const char *args[] = { "--git-dir", cache, "worktree", "list", "--porcelain", NULL };
	int r = dr__gc_git_run(o, &g, cache, args);
	if (r < 0)
		return r;
	if (g.code != 0) {
		dr__gc_git_release(&g);
		return -EIO;
	}
	*nout = dr_gitparse_worktrees(g.out, g.out_len, out);
	dr__gc_git_release(&g);
	return 0;
}

/* The worktree's admin directory from its .git file, when it lies inside cache. Caller frees. */
static char *admin_dir(const char *wt, const char *cache)
{
	char *dotgit = dr_xasprintf("%s/.git", wt);
	struct dr_buf b = DR_BUF_INIT(4096);
	char *res = NULL;
	struct stat st;
	if (lstat(dotgit, &st) == 0 && S_ISREG(st.st_mode) && dr_fsutil_read_file(dotgit, &b, NULL) == 0 &&
	    !strncmp(b.buf, "gitdir: ", 8)) {
		char *p = b.buf + 8;
		p[strcspn(p, "\r\n")] = '\0';
		char real[PATH_MAX];
		size_t cl = strlen(cache);
		if (realpath(p, real) && !strncmp(real, cache, cl) && real[cl] == '/')
			res = dr_xstrdup(real);
	}
	dr_buf_release(&b);
	free(dotgit);
	return res;
}


static struct dr_gc_item *add_item(struct dr_gc_report *r, enum dr_gc_kind kind)
{
	if (r->n % 64 == 0)
		r->items = dr_xrealloc(r->items, (r->n + 64) * sizeof *r->items);
	struct dr_gc_item *it = &r->items[r->n++];
	memset(it, 0, sizeof *it);
	it->kind = kind;
	it->cache = SIZE_MAX;
	return it;
}

void dr__gc_set_detail(struct dr_gc_item *it, enum dr_gc_state s, char *detail)
{
	it->state = s;
	free(it->detail);
	it->detail = detail;
}

/* The state from a count of commits no remote has: an error (err kept), unpushed, or clean. */
static void set_unpushed(struct dr_gc_item *it, long unpushed, char *err, enum dr_gc_state clean)
{
	if (unpushed < 0) {
		dr__gc_set_detail(it, DR_GC_ERROR, err);
		return;
	}
	free(err);
	it->state = unpushed > 0 ? DR_GC_UNPUSHED : clean;
	if (unpushed > 0)
		it->count = unpushed;
}

/* A cache's state: worktrees registered, unpushed delego/ branches, last use. */
void dr__gc_scan_cache(const struct dr_gc_opts *o, struct dr_gc_item *it)
{
	it->last_used = max64(mtime_of(it->path), 0);
	if (dr_fsutil_dir_empty(it->path)) { /* a clone that failed, or one that has not started yet */
		it->state = DR_GC_IDLE;
		return;
	}
	char *p;
	static const char *const names[] = { "FETCH_HEAD", "HEAD", "config" };
	it->last_used = 0;
	for (size_t i = 0; i < 3; i++) {
		p = dr_xasprintf("%s/%s", it->path, names[i]);
		it->last_used = max64(it->last_used, mtime_of(p));
		free(p);
	}
	struct dr_gitparse_worktree *e = NULL;
	size_t n = 0;
	if (list_worktrees(o, it->path, &e, &n) < 0) {
		dr__gc_set_detail(it, DR_GC_ERROR, dr_xstrdup("git cannot read it as a repository; left alone (move it "
						       "away and the runner clones it again)"));
		return;
	}
	/* Commits on delego/ branches that no remote has and no worktree has checked out. */
	struct dr_strv args = DR_STRV_INIT;
	const char *base[] = { "--git-dir", it->path, "rev-list", "--count", "--glob=refs/heads/delego/*", "--not",
			       "--remotes", "--glob=" DR_WSLAYOUT_PUSHED_REFS "*", NULL };
	for (size_t i = 0; base[i]; i++)
		dr_strv_push(&args, base[i]);
	it->count = 0;
	for (size_t i = 0; i < n; i++) {
		if (e[i].bare || e[i].prunable)
			continue;
		it->count++;
		if (e[i].branch) {
			char *ref = dr_xasprintf("refs/heads/%s", e[i].branch);
			dr_strv_push(&args, ref);
			free(ref);
		}
	}
	dr_gitparse_worktrees_free(e, n);
	char *err = NULL;
	long unpushed = dr__gc_git_count(o, it->path, (const char *const *)args.v, &err);
	dr_strv_release(&args);
	set_unpushed(it, unpushed, err, DR_GC_IDLE);
}

/*
 * A worktree's state. cache is its cache's item (NULL: none); for a real
 * removal the caller holds the cache's lock and, when hold_fd is not NULL,
 * the worktree's in-use lock is taken (LOCK_EX) and left in *hold_fd.
 */
/* The cache's worktree list, listed once per scan (not once per worktree) when the caller keeps one. */
struct wt_list {
	struct dr_gitparse_worktree *e;
	size_t n;
	bool listed, failed;
};

static void scan_worktree(const struct dr_gc_opts *o, struct dr_gc_item *it, const struct dr_gc_item *cache,
			  int *hold_fd, struct wt_list *l);

void dr__gc_scan_worktree(const struct dr_gc_opts *o, struct dr_gc_item *it, const struct dr_gc_item *cache,
			  int *hold_fd)
{
	struct wt_list l = { 0 };
	scan_worktree(o, it, cache, hold_fd, &l);
	dr_gitparse_worktrees_free(l.e, l.n);
}

static void scan_worktree(const struct dr_gc_opts *o, struct dr_gc_item *it, const struct dr_gc_item *cache,
			  int *hold_fd, struct wt_list *l)
{
	it->last_used = mtime_of(it->path);
	int fd = -1;
	int r = dr_wslayout_trylock(it->path, hold_fd ? LOCK_EX : LOCK_SH, &fd);
	if (r == -EWOULDBLOCK) {
		it->state = DR_GC_RUNNING;
		return;
	}
	if (r < 0) {
		dr__gc_set_detail(it, DR_GC_ERROR, dr_xasprintf("cannot open it: %s; left alone", strerror(-r)));
		return;
	}
	if (hold_fd)
		*hold_fd = fd;
	else
		close(fd);

	long long marked = 0;
	if (dr_wslayout_awaiting(it->path, &marked)) {
		it->state = DR_GC_AWAITING;
		it->last_used = (int64_t)marked;
		return;
	}
	if (!cache || cache->state == DR_GC_ERROR) {
		dr__gc_set_detail(it, DR_GC_FOREIGN, dr_xasprintf("its source cache sources/%s.git is %s; left alone",
							   it->slug, cache ? "unreadable" : "missing"));
		return;
	}
	char *admin = admin_dir(it->path, cache->path);
	if (admin) {
		static const char *const names[] = { "index", "HEAD", "logs/HEAD" };
		for (size_t i = 0; i < 3; i++) {
			char *p = dr_xasprintf("%s/%s", admin, names[i]);
			it->last_used = max64(it->last_used, mtime_of(p));
			free(p);
		}
		free(admin);
	}
	const struct dr_gitparse_worktree *mine = NULL;
	if (!l->listed) {
		l->listed = true;
		l->failed = list_worktrees(o, cache->path, &l->e, &l->n) < 0;
	}
	for (size_t i = 0; i < l->n && !mine; i++) {
		char real[PATH_MAX];
		if (!l->e[i].bare && realpath(l->e[i].path, real) && !strcmp(real, it->path))
			mine = &l->e[i];
	}
	if (!admin || !mine) {
		dr__gc_set_detail(it, DR_GC_FOREIGN,
			   dr_xasprintf("not a worktree of sources/%s.git; left alone for inspection", it->slug));
		return;
	}
	free(it->branch);
	it->branch = mine->branch ? dr_xstrdup(mine->branch) : NULL;
	if (mine->locked) {
		dr__gc_set_detail(it, DR_GC_LOCKED, mine->lock_reason ? dr_xstrdup(mine->lock_reason) : NULL);
		return;
	}

	struct dr__gc_git g;
	const char *status[] = { "status", "--porcelain", "-z", NULL };
	if (dr__gc_git_run(o, &g, it->path, status) < 0 || g.code != 0) {
		dr__gc_set_detail(it, DR_GC_ERROR, dr_xasprintf("git status failed: %s; left alone", g.err ? g.err : "?"));
		dr__gc_git_release(&g);
		return;
	}
	struct dr_gitparse_changes ch = { 0 };
	dr_gitparse_status(g.out, g.out_len, &ch);
	dr__gc_git_release(&g);
	long dirty = (long)ch.count;
	dr_gitparse_changes_release(&ch);
	if (dirty > 0) {
		it->state = DR_GC_DIRTY;
		it->count = dirty;
		return;
	}
	char *err = NULL;
	const char *args[] = { "rev-list", "--count", "HEAD", "--not", "--remotes", "--glob=" DR_WSLAYOUT_PUSHED_REFS "*",
			       NULL };
	long unpushed = dr__gc_git_count(o, it->path, args, &err);
	set_unpushed(it, unpushed, err, DR_GC_FINISHED);
}

int dr__gc_scan(const struct dr_gc_opts *o, const char *root, struct dr_gc_report *r, char *err, size_t errlen)
{
	char *sources = dr_xasprintf("%s/sources", root);
	char *trees = dr_xasprintf("%s/worktrees", root);
	char **owners = list_dirs(sources);
	int rc = 0;
	for (char **ow = owners; *ow && rc == 0 && !dr__gc_stopped(o); ow++) {
		char *od = dr_xasprintf("%s/%s", sources, *ow);
		char **repos = list_dirs(od);
		for (char **rp = repos; *rp; rp++) {
			size_t l = strlen(*rp);
			if (l <= 4 || strcmp(*rp + l - 4, ".git") != 0)
				continue;
			if (r->n >= ITEMS_MAX) {
				snprintf(err, errlen, "more than %d entries under %s; clean it up by hand", ITEMS_MAX, root);
				rc = -E2BIG;
				break;
			}
			struct dr_gc_item *it = add_item(r, DR_GC_CACHE);
			it->path = dr_xasprintf("%s/%s", od, *rp);
			it->rel = dr_xasprintf("sources/%s/%s", *ow, *rp);
			it->slug = dr_xasprintf("%s/%.*s", *ow, (int)(l - 4), *rp);
			it->size = du(o, it->path);
			dr__gc_scan_cache(o, it);
		}
		dr_strv_free(repos);
		free(od);
	}
	dr_strv_free(owners);
	owners = list_dirs(trees);
	for (char **ow = owners; *ow && rc == 0 && !dr__gc_stopped(o); ow++) {
		char *od = dr_xasprintf("%s/%s", trees, *ow);
		char **repos = list_dirs(od);
		for (char **rp = repos; *rp && rc == 0; rp++) {
			char *rd = dr_xasprintf("%s/%s", od, *rp);
			char **ids = list_dirs(rd);
			char *slug = dr_xasprintf("%s/%s", *ow, *rp);
			size_t cache = SIZE_MAX;
			for (size_t i = 0; i < r->n; i++)
				if (r->items[i].kind == DR_GC_CACHE && !strcmp(r->items[i].slug, slug))
					cache = i;
			struct wt_list l = { 0 };
			for (char **id = ids; *id; id++) {
				if (r->n >= ITEMS_MAX) {
					snprintf(err, errlen, "more than %d entries under %s; clean it up by hand",
						 ITEMS_MAX, root);
					rc = -E2BIG;
					break;
				}
				struct dr_gc_item *it = add_item(r, DR_GC_WORKTREE);
				it->path = dr_xasprintf("%s/%s", rd, *id);
				it->rel = dr_xasprintf("worktrees/%s/%s/%s", *ow, *rp, *id);
				it->slug = dr_xstrdup(slug);
				it->job_id = dr_xstrdup(*id);
				it->cache = cache;
				const struct dr_gc_item *ci = cache == SIZE_MAX ? NULL : &r->items[cache];
				/* Unchanged since the sweep before: no walk, no git. */
				if (dr__gc_memo_recall(o, it, ci))
					continue;
				scan_worktree(o, it, ci, NULL, &l);
				/* A job is being set up in it: the sweep measures it once the job is over. */
				if (!o->memo || it->state != DR_GC_RUNNING)
					it->size = du(o, it->path);
				dr__gc_memo_store(o, it, ci);
			}
			dr_gitparse_worktrees_free(l.e, l.n);
			free(slug);
			dr_strv_free(ids);
			free(rd);
		}
		dr_strv_free(repos);
		free(od);
	}
	dr_strv_free(owners);
	/* A cache was last used when any of its worktrees was. */
	for (size_t i = 0; i < r->n; i++) {
		struct dr_gc_item *it = &r->items[i];
		if (it->kind == DR_GC_WORKTREE && it->cache != SIZE_MAX)
			r->items[it->cache].last_used = max64(r->items[it->cache].last_used, it->last_used);
		r->used += it->size;
	}
	free(sources);
	free(trees);
	return rc;
}

