/*
 * gc: scan, plan, remove (gc.h has the rules). The scan and the removals
 * run git synchronously, each command on a private loop through proc:
 * this code runs in the `delego-runner workspace` process, which the
 * daemon starts as a child for its sweep, never on the daemon's loop.
 */
#include "delego/gc.h"
#include "delego/buf.h"
#include "delego/childenv.h"
#include "delego/fsutil.h"
#include "delego/job.h"
#include "delego/json.h"
#include "delego/log.h"
#include "delego/proc.h"
#include "delego/workspace.h"
#include "delego/xalloc.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <time.h>
#include <unistd.h>

#define GIT_TIMEOUT_MS (5 * 60 * 1000)
#define GIT_OUT_MAX (4 * 1024 * 1024)
#define ITEMS_MAX 100000      /* a workspace with more entries is not ours to judge */
#define WALK_DEPTH_MAX 512
#define LOCK_POLL_MS 100
#define DAY (24 * 60 * 60)
#define SWEEP_TIMEOUT_MS (30 * 60 * 1000)
#define EXPLAIN_TIMEOUT_MS (2 * 60 * 1000)

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

char *dr_gc_format_size(uint64_t n, char *buf, size_t len)
{
	static const char *const units[] = { "KiB", "MiB", "GiB", "TiB", "PiB" };
	if (n < 1024) {
		snprintf(buf, len, "%llu B", (unsigned long long)n);
		return buf;
	}
	double v = (double)n / 1024;
	size_t u = 0;
	while (v >= 1024 && u + 1 < sizeof units / sizeof *units) {
		v /= 1024;
		u++;
	}
	snprintf(buf, len, "%.1f %s", v, units[u]);
	return buf;
}

static char *format_age(int64_t secs, char *buf, size_t len)
{
	if (secs < 0)
		secs = 0;
	if (secs >= 2 * DAY)
		snprintf(buf, len, "%lldd", (long long)(secs / DAY));
	else if (secs >= 3600)
		snprintf(buf, len, "%lldh", (long long)(secs / 3600));
	else
		snprintf(buf, len, "%lldm", (long long)(secs / 60));
	return buf;
}

void dr_gc_report_release(struct dr_gc_report *r)
{
	if (!r)
		return;
	for (size_t i = 0; i < r->n; i++) {
		struct dr_gc_item *it = &r->items[i];
		free(it->path);
		free(it->rel);
		free(it->slug);
		free(it->job_id);
		free(it->branch);
		free(it->detail);
		free(it->why);
		free(it->error);
	}
	free(r->items);
	memset(r, 0, sizeof(*r));
}

/* ---- the plan ---- */

static int64_t opts_now(const struct dr_gc_opts *o)
{
	return o->now ? o->now : (int64_t)time(NULL);
}

static void set_why(struct dr_gc_item *it, char *why)
{
	free(it->why);
	it->why = why;
}

/* Worktrees of cache c that the plan keeps, plus worktrees registered outside the root. */
static long cache_remaining(const struct dr_gc_report *r, size_t c)
{
	long left = r->items[c].count;
	for (size_t i = 0; i < r->n; i++)
		if (r->items[i].kind == DR_GC_WORKTREE && r->items[i].cache == c && r->items[i].remove &&
		    r->items[i].state == DR_GC_FINISHED)
			left--;
	return left;
}

static bool under_pressure(const struct dr_gc_opts *o, const struct dr_gc_report *r, const char **what)
{
	if (o->budget && r->used - r->freed > o->budget) {
		*what = "over --workspace-budget-bytes";
		return true;
	}
	if (o->min_free && r->have_avail && r->avail + r->freed < o->min_free) {
		*what = "less free space than --min-free-bytes";
		return true;
	}
	return false;
}

/* Why a kept item is kept, for ls and the gc report. */
static char *kept_reason(const struct dr_gc_opts *o, const struct dr_gc_report *r, size_t i, int64_t now)
{
	const struct dr_gc_item *it = &r->items[i];
	char age[32];
	switch (it->state) {
	case DR_GC_FINISHED:
		return dr_xasprintf("finished %s ago; kept for %d days (--worktree-retention-days)",
				    format_age(now - it->last_used, age, sizeof age), o->worktree_days);
	case DR_GC_IDLE: {
		long left = cache_remaining(r, i);
		if (left > 0)
			return dr_xasprintf("%ld worktree(s) still use it", left);
		return dr_xasprintf("unused for %s; kept for %d days (--cache-retention-days)",
				    format_age(now - it->last_used, age, sizeof age), o->cache_days);
	}
	case DR_GC_RUNNING:
		return dr_xstrdup("a job is running in it");
	case DR_GC_AWAITING:
		return dr_xasprintf("its job waits for the user's answer (since %s ago)",
				    format_age(now - it->last_used, age, sizeof age));
	case DR_GC_LOCKED:
		return dr_xasprintf("locked with git worktree lock%s%s; `git worktree unlock` lets gc remove it",
				    it->detail ? ": " : "", it->detail ? it->detail : "");
	case DR_GC_DIRTY:
		return dr_xasprintf("%ld uncommitted change(s); commit and push them, or delete the worktree yourself",
				    it->count);
	case DR_GC_UNPUSHED:
		if (it->kind == DR_GC_CACHE)
			return dr_xasprintf("%ld commit(s) on local delego/ branches that no remote has; push or delete "
					    "those branches",
					    it->count);
		return dr_xasprintf("%ld commit(s) that no remote has; push the branch%s%s, or delete the worktree "
				    "yourself",
				    it->count, it->branch ? " " : "", it->branch ? it->branch : "");
	case DR_GC_FOREIGN:
	case DR_GC_BUSY:
	case DR_GC_ERROR:
		return dr_xstrdup(it->detail ? it->detail : "left alone");
	}
	return dr_xstrdup("kept");
}

static void plan_remove(struct dr_gc_report *r, size_t i, char *why)
{
	r->items[i].remove = true;
	r->freed += r->items[i].size;
	set_why(&r->items[i], why);
}

void dr_gc_plan(const struct dr_gc_opts *o, struct dr_gc_report *r)
{
	int64_t now = opts_now(o);
	char age[32];
	r->freed = 0;
	r->pressure_left = false;
	for (size_t i = 0; i < r->n; i++)
		r->items[i].remove = false;

	/* 1. Finished worktrees past their retention. */
	for (size_t i = 0; i < r->n; i++) {
		struct dr_gc_item *it = &r->items[i];
		if (it->kind == DR_GC_WORKTREE && it->state == DR_GC_FINISHED &&
		    now - it->last_used >= (int64_t)o->worktree_days * DAY)
			plan_remove(r, i, dr_xasprintf("finished %s ago, past --worktree-retention-days %d",
						       format_age(now - it->last_used, age, sizeof age),
						       o->worktree_days));
	}
	/* 2. Caches without worktrees, unused past their retention. */
	for (size_t i = 0; i < r->n; i++) {
		struct dr_gc_item *it = &r->items[i];
		if (it->kind == DR_GC_CACHE && it->state == DR_GC_IDLE && cache_remaining(r, i) <= 0 &&
		    now - it->last_used >= (int64_t)o->cache_days * DAY)
			plan_remove(r, i, dr_xasprintf("unused for %s, past --cache-retention-days %d",
						       format_age(now - it->last_used, age, sizeof age), o->cache_days));
	}
	/* 3. Budget and free space: the oldest finished worktree, then the oldest idle cache. */
	const char *what;
	while (under_pressure(o, r, &what)) {
		size_t best = SIZE_MAX;
		for (int pass = 0; pass < 2 && best == SIZE_MAX; pass++) {
			for (size_t i = 0; i < r->n; i++) {
				struct dr_gc_item *it = &r->items[i];
				if (it->remove)
					continue;
				bool ok = pass == 0 ? it->kind == DR_GC_WORKTREE && it->state == DR_GC_FINISHED
						    : it->kind == DR_GC_CACHE && it->state == DR_GC_IDLE &&
							      cache_remaining(r, i) <= 0;
				if (ok && (best == SIZE_MAX || it->last_used < r->items[best].last_used))
					best = i;
			}
		}
		if (best == SIZE_MAX) {
			r->pressure_left = true;
			break;
		}
		plan_remove(r, best, dr_xasprintf("%s; the oldest that may go (used %s ago)", what,
						  format_age(now - r->items[best].last_used, age, sizeof age)));
	}
	for (size_t i = 0; i < r->n; i++)
		if (!r->items[i].remove)
			set_why(&r->items[i], kept_reason(o, r, i, now));
}

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
static uint64_t du_fd(int fd, dev_t dev, int depth)
{
	uint64_t total = 0;
	DIR *d = fdopendir(fd);
	if (!d) {
		close(fd);
		return 0;
	}
	for (struct dirent *e; (e = readdir(d));) {
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
				total += du_fd(sub, dev, depth + 1);
		}
	}
	closedir(d);
	return total;
}

static uint64_t du(const char *path)
{
	int fd = open(path, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0)
		return 0;
	struct stat st;
	if (fstat(fd, &st) < 0) {
		close(fd);
		return 0;
	}
	return (uint64_t)st.st_blocks * 512 + du_fd(fd, st.st_dev, 0);
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

/* Removes the directory path; it must be a real directory directly under parent_real. */
static int rm_tree(const char *path)
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
	char **v = dr_xcalloc(1, sizeof *v);
	DIR *d = opendir(path);
	if (!d)
		return v;
	for (struct dirent *e; (e = readdir(d));) {
		if (e->d_name[0] == '.')
			continue;
		struct stat st;
		if (fstatat(dirfd(d), e->d_name, &st, AT_SYMLINK_NOFOLLOW) == 0 && S_ISDIR(st.st_mode))
			dr_strv_push(&v, e->d_name);
	}
	closedir(d);
	return v;
}

static bool is_dir_nofollow(const char *path)
{
	struct stat st;
	return lstat(path, &st) == 0 && S_ISDIR(st.st_mode);
}

/* ---- git, synchronously ---- */

struct git_out {
	bool done;
	int code;
	char *out;
	size_t out_len;
	char *err;
};

static void git_exited(void *data, const struct dr_proc_result *r)
{
	struct git_out *g = data;
	g->done = true;
	g->code = r->timed_out ? 124 : r->exit_code;
	g->out = dr_xmalloc(r->out_len + 1);
	memcpy(g->out, r->out, r->out_len);
	g->out[r->out_len] = '\0';
	g->out_len = r->out_len;
	g->err = dr_xstrndup(r->stderr_tail, r->stderr_len > 2000 ? 2000 : r->stderr_len);
}

static void git_out_release(struct git_out *g)
{
	free(g->out);
	free(g->err);
	memset(g, 0, sizeof(*g));
}

/* Runs git with the NULL-terminated args in cwd; g gets its exit code and output. */
static int git(struct git_out *g, const char *cwd, const char *const *args)
{
	memset(g, 0, sizeof(*g));
	char **argv = dr_xcalloc(1, sizeof *argv);
	dr_strv_push(&argv, "git");
	for (size_t i = 0; args[i]; i++)
		dr_strv_push(&argv, args[i]);
	/* GIT_OPTIONAL_LOCKS=0: our status must not refresh the index (its mtime is the worktree's age). */
	char *extra[] = { "GIT_TERMINAL_PROMPT=0", "GIT_OPTIONAL_LOCKS=0", "LC_ALL=C", NULL };
	char **env = dr_childenv_build(NULL, DR_CHILDENV_TOOL, extra);
	uv_loop_t loop;
	int r = uv_loop_init(&loop);
	if (r == 0) {
		r = dr_proc_run(&loop, argv, env, cwd, GIT_TIMEOUT_MS, GIT_OUT_MAX, git_exited, g);
		uv_run(&loop, UV_RUN_DEFAULT);
		uv_loop_close(&loop);
	}
	dr_strv_free(argv);
	dr_strv_free(env);
	if (r == 0 && !g->done)
		r = -EIO;
	if (r < 0)
		git_out_release(g);
	return r;
}

static long git_count(const char *cwd, const char *const *args, char **err)
{
	struct git_out g;
	if (git(&g, cwd, args) < 0) {
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
	git_out_release(&g);
	return n;
}

/* One entry of `git worktree list --porcelain`. */
struct wt_entry {
	char *path;
	char *branch; /* short name, or NULL */
	bool bare, prunable, locked;
	char *lock_reason;
};

static void entries_free(struct wt_entry *e, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		free(e[i].path);
		free(e[i].branch);
		free(e[i].lock_reason);
	}
	free(e);
}

static int list_worktrees(const char *cache, struct wt_entry **out, size_t *nout)
{
	struct git_out g;
	const char *args[] = { "--git-dir", cache, "worktree", "list", "--porcelain", NULL };
	int r = git(&g, cache, args);
	if (r < 0)
		return r;
	if (g.code != 0) {
		git_out_release(&g);
		return -EIO;
	}
	struct wt_entry *e = NULL;
	size_t n = 0;
	char *save = NULL;
	for (char *line = strtok_r(g.out, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
		if (!strncmp(line, "worktree ", 9)) {
			e = dr_xrealloc(e, (n + 1) * sizeof *e);
			memset(&e[n], 0, sizeof *e);
			e[n++].path = dr_xstrdup(line + 9);
		} else if (n && !strncmp(line, "branch refs/heads/", 18)) {
			free(e[n - 1].branch);
			e[n - 1].branch = dr_xstrdup(line + 18);
		} else if (n && !strcmp(line, "bare")) {
			e[n - 1].bare = true;
		} else if (n && !strncmp(line, "prunable", 8)) {
			e[n - 1].prunable = true;
		} else if (n && !strncmp(line, "locked", 6)) {
			e[n - 1].locked = true;
			if (line[6] == ' ')
				e[n - 1].lock_reason = dr_xstrdup(line + 7);
		}
	}
	git_out_release(&g);
	*out = e;
	*nout = n;
	return 0;
}

/* The worktree's admin directory from its .git file, when it lies inside cache. Caller frees. */
static char *admin_dir(const char *wt, const char *cache)
{
	char *dotgit = dr_xasprintf("%s/.git", wt);
	struct dr_buf b = DR_BUF_INIT(4096);
	char *res = NULL;
	struct stat st;
	if (lstat(dotgit, &st) == 0 && S_ISREG(st.st_mode) && dr_read_file(dotgit, &b, NULL) == 0 &&
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

/* ---- the scan ---- */

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

static void set_detail(struct dr_gc_item *it, enum dr_gc_state s, char *detail)
{
	it->state = s;
	free(it->detail);
	it->detail = detail;
}

/* A cache's state: worktrees registered, unpushed delego/ branches, last use. */
static void scan_cache(struct dr_gc_item *it)
{
	it->last_used = max64(mtime_of(it->path), 0);
	if (dr_dir_empty(it->path)) { /* a clone that failed, or one that has not started yet */
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
	struct wt_entry *e = NULL;
	size_t n = 0;
	if (list_worktrees(it->path, &e, &n) < 0) {
		set_detail(it, DR_GC_ERROR, dr_xstrdup("git cannot read it as a repository; left alone (move it "
						       "away and the runner clones it again)"));
		return;
	}
	/* Commits on delego/ branches that no remote has and no worktree has checked out. */
	char **args = dr_xcalloc(1, sizeof *args);
	const char *base[] = { "--git-dir", it->path, "rev-list", "--count", "--glob=refs/heads/delego/*", "--not",
			       "--remotes", "--glob=" DR_WS_PUSHED_REFS "*", NULL };
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
	entries_free(e, n);
	char *err = NULL;
	long unpushed = git_count(it->path, (const char *const *)args, &err);
	dr_strv_free(args);
	if (unpushed < 0) {
		set_detail(it, DR_GC_ERROR, err);
		return;
	}
	free(err);
	if (unpushed > 0) {
		it->state = DR_GC_UNPUSHED;
		it->count = unpushed;
		return;
	}
	it->state = DR_GC_IDLE;
}

/*
 * A worktree's state. cache is its cache's item (NULL: none); for a real
 * removal the caller holds the cache's lock and, when hold_fd is not NULL,
 * the worktree's in-use lock is taken (LOCK_EX) and left in *hold_fd.
 */
static void scan_worktree(struct dr_gc_item *it, const struct dr_gc_item *cache, int *hold_fd)
{
	it->last_used = mtime_of(it->path);
	int fd = -1;
	int r = dr_workspace_trylock_dir(it->path, hold_fd ? LOCK_EX : LOCK_SH, &fd);
	if (r == -EWOULDBLOCK) {
		it->state = DR_GC_RUNNING;
		return;
	}
	if (r < 0) {
		set_detail(it, DR_GC_ERROR, dr_xasprintf("cannot open it: %s; left alone", strerror(-r)));
		return;
	}
	if (hold_fd)
		*hold_fd = fd;
	else
		close(fd);

	char *marker = dr_xasprintf("%s" DR_WS_AWAITING_SUFFIX, it->path);
	struct stat st;
	bool awaiting = lstat(marker, &st) == 0;
	free(marker);
	if (awaiting) {
		it->state = DR_GC_AWAITING;
		it->last_used = (int64_t)st.st_mtime;
		return;
	}
	if (!cache || cache->state == DR_GC_ERROR) {
		set_detail(it, DR_GC_FOREIGN, dr_xasprintf("its source cache sources/%s.git is %s; left alone",
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
	struct wt_entry *e = NULL;
	size_t n = 0;
	const struct wt_entry *mine = NULL;
	if (list_worktrees(cache->path, &e, &n) == 0) {
		for (size_t i = 0; i < n && !mine; i++) {
			char real[PATH_MAX];
			if (!e[i].bare && realpath(e[i].path, real) && !strcmp(real, it->path))
				mine = &e[i];
		}
	}
	if (!admin || !mine) {
		set_detail(it, DR_GC_FOREIGN,
			   dr_xasprintf("not a worktree of sources/%s.git; left alone for inspection", it->slug));
		entries_free(e, n);
		return;
	}
	free(it->branch);
	it->branch = mine->branch ? dr_xstrdup(mine->branch) : NULL;
	if (mine->locked) {
		set_detail(it, DR_GC_LOCKED, mine->lock_reason ? dr_xstrdup(mine->lock_reason) : NULL);
		entries_free(e, n);
		return;
	}
	entries_free(e, n);

	struct git_out g;
	const char *status[] = { "status", "--porcelain", "-z", NULL };
	if (git(&g, it->path, status) < 0 || g.code != 0) {
		set_detail(it, DR_GC_ERROR, dr_xasprintf("git status failed: %s; left alone", g.err ? g.err : "?"));
		git_out_release(&g);
		return;
	}
	struct dr_ws_changes ch = { 0 };
	dr_workspace_parse_status(g.out, g.out_len, &ch);
	git_out_release(&g);
	long dirty = (long)ch.count;
	dr_ws_changes_release(&ch);
	if (dirty > 0) {
		it->state = DR_GC_DIRTY;
		it->count = dirty;
		return;
	}
	char *err = NULL;
	const char *args[] = { "rev-list", "--count", "HEAD", "--not", "--remotes", "--glob=" DR_WS_PUSHED_REFS "*",
			       NULL };
	long unpushed = git_count(it->path, args, &err);
	if (unpushed < 0) {
		set_detail(it, DR_GC_ERROR, err);
		return;
	}
	free(err);
	if (unpushed > 0) {
		it->state = DR_GC_UNPUSHED;
		it->count = unpushed;
		return;
	}
	it->state = DR_GC_FINISHED;
}

static int scan(const char *root, struct dr_gc_report *r, char *err, size_t errlen)
{
	char *sources = dr_xasprintf("%s/sources", root);
	char *trees = dr_xasprintf("%s/worktrees", root);
	char **owners = list_dirs(sources);
	int rc = 0;
	for (char **o = owners; *o && rc == 0; o++) {
		char *od = dr_xasprintf("%s/%s", sources, *o);
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
			it->rel = dr_xasprintf("sources/%s/%s", *o, *rp);
			it->slug = dr_xasprintf("%s/%.*s", *o, (int)(l - 4), *rp);
			it->size = du(it->path);
			scan_cache(it);
		}
		dr_strv_free(repos);
		free(od);
	}
	dr_strv_free(owners);
	owners = list_dirs(trees);
	for (char **o = owners; *o && rc == 0; o++) {
		char *od = dr_xasprintf("%s/%s", trees, *o);
		char **repos = list_dirs(od);
		for (char **rp = repos; *rp && rc == 0; rp++) {
			char *rd = dr_xasprintf("%s/%s", od, *rp);
			char **ids = list_dirs(rd);
			char *slug = dr_xasprintf("%s/%s", *o, *rp);
			size_t cache = SIZE_MAX;
			for (size_t i = 0; i < r->n; i++)
				if (r->items[i].kind == DR_GC_CACHE && !strcmp(r->items[i].slug, slug))
					cache = i;
			for (char **id = ids; *id; id++) {
				if (r->n >= ITEMS_MAX) {
					snprintf(err, errlen, "more than %d entries under %s; clean it up by hand",
						 ITEMS_MAX, root);
					rc = -E2BIG;
					break;
				}
				struct dr_gc_item *it = add_item(r, DR_GC_WORKTREE);
				it->path = dr_xasprintf("%s/%s", rd, *id);
				it->rel = dr_xasprintf("worktrees/%s/%s/%s", *o, *rp, *id);
				it->slug = dr_xstrdup(slug);
				it->job_id = dr_xstrdup(*id);
				it->cache = cache;
				it->size = du(it->path);
				scan_worktree(it, cache == SIZE_MAX ? NULL : &r->items[cache], NULL);
			}
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

/* ---- removal, under the cache's lock ---- */

static int lock_cache(const char *path, uint64_t wait_ms, int *fd)
{
	uint64_t waited = 0;
	for (;;) {
		int r = dr_workspace_trylock_dir(path, LOCK_EX, fd);
		if (r != -EWOULDBLOCK && r != -ESTALE)
			return r;
		if (r == -ESTALE && !is_dir_nofollow(path))
			return -ENOENT;
		if (waited >= wait_ms)
			return -EWOULDBLOCK;
		/* This runs in the `workspace` command's own process, never on the daemon's loop. */
		struct timespec ts = { 0, LOCK_POLL_MS * 1000000L };
		nanosleep(&ts, NULL);
		waited += LOCK_POLL_MS;
	}
}

static void remove_worktree(struct dr_gc_report *r, struct dr_gc_item *it, const struct dr_gc_item *cache)
{
	int hold = -1;
	enum dr_gc_state before = it->state;
	scan_worktree(it, cache, &hold);
	if (it->state != DR_GC_FINISHED || before != DR_GC_FINISHED) {
		free(it->why);
		it->why = dr_xasprintf("not removed: it became %s meanwhile", dr_gc_strstate(it->state));
		it->remove = false;
		r->freed -= it->size;
		if (hold >= 0)
			close(hold);
		return;
	}
	struct git_out g;
	/* No --force: git itself refuses a worktree with changes or untracked files. */
	const char *rm[] = { "--git-dir", cache->path, "worktree", "remove", it->path, NULL };
	if (git(&g, cache->path, rm) < 0 || g.code != 0) {
		it->error = dr_xasprintf("git worktree remove failed: %s", g.err && g.err[0] ? g.err : "?");
		r->freed -= it->size;
		git_out_release(&g);
		close(hold);
		return;
	}
	git_out_release(&g);
	close(hold);
	it->removed = true;
	if (it->branch) {
		char *err = NULL;
		char *ref = dr_xasprintf("refs/heads/%s", it->branch);
		const char *count[] = { "--git-dir", cache->path, "rev-list", "--count", ref, "--not", "--remotes",
					"--glob=" DR_WS_PUSHED_REFS "*", NULL };
		long n = git_count(cache->path, count, &err);
		free(err);
		if (n == 0) {
			const char *del[] = { "--git-dir", cache->path, "branch", "-D", "--quiet", it->branch, NULL };
			if (git(&g, cache->path, del) == 0)
				git_out_release(&g);
			char *pushed = dr_xasprintf(DR_WS_PUSHED_REFS "%s", it->branch);
			const char *unref[] = { "--git-dir", cache->path, "update-ref", "-d", pushed, NULL };
			if (git(&g, cache->path, unref) == 0)
				git_out_release(&g);
			free(pushed);
		}
		free(ref);
	}
	/* The empty <owner>/<repo> folders go too (rmdir fails harmlessly on a non-empty one). */
	char *parent = dr_xstrdup(it->path);
	for (int i = 0; i < 2; i++) {
		char *slash = strrchr(parent, '/');
		if (!slash)
			break;
		*slash = '\0';
		if (rmdir(parent) < 0)
			break;
	}
	free(parent);
}

static void remove_cache(struct dr_gc_report *r, struct dr_gc_item *it)
{
	enum dr_gc_state before = it->state;
	scan_cache(it);
	if (it->state != DR_GC_IDLE || before != DR_GC_IDLE || it->count > 0) {
		free(it->why);
		it->why = dr_xasprintf("not removed: it became %s meanwhile",
				       it->count > 0 ? "used by a worktree" : dr_gc_strstate(it->state));
		it->remove = false;
		r->freed -= it->size;
		return;
	}
	int e = rm_tree(it->path);
	if (e < 0) {
		it->error = dr_xasprintf("cannot remove it: %s", strerror(-e));
		r->freed -= it->size;
		return;
	}
	it->removed = true;
	char *parent = dr_xstrdup(it->path);
	char *slash = strrchr(parent, '/');
	if (slash) {
		*slash = '\0';
		rmdir(parent);
	}
	free(parent);
}

static void remove_planned(const struct dr_gc_opts *o, struct dr_gc_report *r)
{
	for (size_t c = 0; c < r->n; c++) {
		struct dr_gc_item *cache = &r->items[c];
		if (cache->kind != DR_GC_CACHE)
			continue;
		bool any = cache->remove;
		for (size_t i = 0; i < r->n && !any; i++)
			any = r->items[i].cache == c && r->items[i].remove;
		if (!any)
			continue;
		int fd = -1;
		int e = lock_cache(cache->path, o->lock_wait_ms, &fd);
		if (e < 0) {
			for (size_t i = 0; i < r->n; i++) {
				struct dr_gc_item *it = &r->items[i];
				if ((i == c || it->cache == c) && it->remove) {
					it->remove = false;
					r->freed -= it->size;
					set_detail(it, DR_GC_BUSY,
						   e == -EWOULDBLOCK
							   ? dr_xstrdup("another process holds the lock on its source "
									"cache; skipped, the next gc will see to it")
							   : dr_xasprintf("cannot lock its source cache: %s", strerror(-e)));
					free(it->why);
					it->why = dr_xstrdup(it->detail);
				}
			}
			continue;
		}
		bool removed_wt = false;
		for (size_t i = 0; i < r->n; i++) {
			struct dr_gc_item *it = &r->items[i];
			if (it->kind == DR_GC_WORKTREE && it->cache == c && it->remove) {
				remove_worktree(r, it, cache);
				removed_wt |= it->removed;
			}
		}
		if (removed_wt) {
			struct git_out g;
			const char *prune[] = { "--git-dir", cache->path, "worktree", "prune", NULL };
			if (git(&g, cache->path, prune) == 0)
				git_out_release(&g);
		}
		if (cache->remove)
			remove_cache(r, cache);
		close(fd);
	}
}

int dr_gc_run(const struct dr_gc_opts *o, struct dr_gc_report *out, char *err, size_t errlen)
{
	memset(out, 0, sizeof(*out));
	if (!o->root || o->root[0] != '/') {
		snprintf(err, errlen, "the workspace root must be an absolute path");
		return -EINVAL;
	}
	char root[PATH_MAX];
	if (!realpath(o->root, root)) {
		if (errno == ENOENT)
			return 0; /* nothing there yet */
		int e = -errno;
		snprintf(err, errlen, "cannot resolve the workspace root %s: %s", o->root, strerror(errno));
		return e;
	}
	struct statvfs vfs;
	if (statvfs(root, &vfs) == 0) {
		out->avail = (uint64_t)vfs.f_bavail * (uint64_t)vfs.f_frsize;
		out->have_avail = true;
	}
	int r = scan(root, out, err, errlen);
	if (r < 0) {
		dr_gc_report_release(out);
		return r;
	}
	dr_gc_plan(o, out);
	if (!o->dry_run)
		remove_planned(o, out);
	return 0;
}

cJSON *dr_gc_report_json(const struct dr_gc_opts *o, const struct dr_gc_report *r)
{
	cJSON *j = cJSON_CreateObject();
	cJSON_AddStringToObject(j, "root", o->root);
	cJSON_AddBoolToObject(j, "dryRun", o->dry_run);
	cJSON_AddNumberToObject(j, "usedBytes", (double)r->used);
	cJSON_AddNumberToObject(j, "budgetBytes", (double)o->budget);
	if (r->have_avail)
		cJSON_AddNumberToObject(j, "availableBytes", (double)r->avail);
	else
		cJSON_AddNullToObject(j, "availableBytes");
	cJSON_AddNumberToObject(j, "minFreeBytes", (double)o->min_free);
	cJSON_AddNumberToObject(j, "freedBytes", (double)r->freed);
	cJSON_AddBoolToObject(j, "pressureLeft", r->pressure_left);
	cJSON *items = cJSON_AddArrayToObject(j, "items");
	int64_t now = opts_now(o);
	for (size_t i = 0; i < r->n; i++) {
		const struct dr_gc_item *it = &r->items[i];
		cJSON *e = cJSON_CreateObject();
		cJSON_AddStringToObject(e, "kind", it->kind == DR_GC_CACHE ? "cache" : "worktree");
		cJSON_AddStringToObject(e, "path", it->rel);
		cJSON_AddStringToObject(e, "repositorySlug", it->slug);
		dr_json_add_str_or_null(e, "jobId", it->job_id);
		dr_json_add_str_or_null(e, "branchName", it->branch);
		cJSON_AddStringToObject(e, "state", dr_gc_strstate(it->state));
		cJSON_AddNumberToObject(e, "sizeBytes", (double)it->size);
		cJSON_AddNumberToObject(e, "ageSeconds", (double)(now - it->last_used));
		cJSON_AddBoolToObject(e, "remove", it->remove);
		cJSON_AddBoolToObject(e, "removed", it->removed);
		dr_json_add_str_or_null(e, "why", it->why);
		dr_json_add_str_or_null(e, "error", it->error);
		cJSON_AddItemToArray(items, e);
	}
	return j;
}

/* ---- the daemon's side: children ---- */

static char *our_exe(void)
{
	char path[PATH_MAX];
	size_t n = sizeof path;
	if (uv_exepath(path, &n) < 0 || n == 0)
		return NULL;
	return dr_xstrndup(path, n);
}

/* argv of `delego-runner workspace gc <mode...>` with c's workspace options. Caller frees. */
static char **gc_argv(const char *exe, const struct dr_config *c, const char *mode1, const char *mode2)
{
	char **v = dr_xcalloc(1, sizeof *v);
	char num[32];
	dr_strv_push(&v, exe);
	dr_strv_push(&v, "workspace");
	dr_strv_push(&v, "gc");
	dr_strv_push(&v, mode1);
	if (mode2)
		dr_strv_push(&v, mode2);
	/* Our resolved values decide, not a config file that may have changed since. */
	dr_strv_push(&v, "--config=/dev/null");
	dr_strv_push(&v, "--profile");
	dr_strv_push(&v, c->profile);
	dr_strv_push(&v, "--workspace-root");
	dr_strv_push(&v, c->workspace_root);
	snprintf(num, sizeof num, "%d", c->worktree_retention_days);
	dr_strv_push(&v, "--worktree-retention-days");
	dr_strv_push(&v, num);
	snprintf(num, sizeof num, "%d", c->cache_retention_days);
	dr_strv_push(&v, "--cache-retention-days");
	dr_strv_push(&v, num);
	snprintf(num, sizeof num, "%llu", (unsigned long long)c->workspace_budget_bytes);
	dr_strv_push(&v, "--workspace-budget-bytes");
	dr_strv_push(&v, num);
	snprintf(num, sizeof num, "%llu", (unsigned long long)c->min_free_bytes);
	dr_strv_push(&v, "--min-free-bytes");
	dr_strv_push(&v, num);
	dr_strv_push(&v, "--log-level");
	dr_strv_push(&v, dr_log_level_name(c->log_level));
	return v;
}

static struct {
	uv_loop_t *loop;
	struct dr_proc *proc;
	char **argv;  /* of the next sweep */
	bool again;
} sweep;

static void sweep_start(void);

static void sweep_line(void *data, int fd, const char *line, size_t len, bool truncated)
{
	if (len)
		dr_info("workspace gc: %.*s%s", (int)len, line, truncated ? "..." : "");
}

static void sweep_exited(void *data, const struct dr_proc_result *r)
{
	sweep.proc = NULL;
	if (r->exit_code != 0)
		dr_warn("workspace gc: the sweep ended with status %d%s", r->exit_code,
			r->timed_out ? " (timed out)" : "");
	if (sweep.again) {
		sweep.again = false;
		sweep_start();
	}
}

static void sweep_start(void)
{
	if (!sweep.argv)
		return;
	char *extra[] = { NULL };
	char **env = dr_childenv_build(NULL, DR_CHILDENV_TOOL, extra);
	struct dr_proc_opts o = {
		.argv = sweep.argv,
		.env = env,
		.timeout_ms = SWEEP_TIMEOUT_MS,
		.line_max = 4096,
		.on_line = sweep_line,
		.on_exit = sweep_exited,
	};
	int r = dr_proc_spawn(sweep.loop, &o, &sweep.proc);
	dr_strv_free(env);
	if (r < 0) {
		sweep.proc = NULL;
		dr_warn("workspace gc: cannot start the sweep (%s): %s", sweep.argv[0], strerror(-r));
	}
}

void dr_gc_sweep_async(uv_loop_t *loop, const struct dr_config *c)
{
	char *exe = our_exe();
	if (!exe) {
		dr_warn("workspace gc: cannot find our own executable; no sweep");
		return;
	}
	dr_strv_free(sweep.argv);
	sweep.argv = gc_argv(exe, c, "--auto", NULL);
	free(exe);
	sweep.loop = loop;
	if (sweep.proc) {
		sweep.again = true;
		return;
	}
	sweep_start();
}

void dr_gc_sweep_stop(void)
{
	sweep.again = false;
	if (sweep.proc)
		dr_proc_terminate(sweep.proc);
	dr_strv_free(sweep.argv);
	sweep.argv = NULL;
}

bool dr_gc_space_short(const struct dr_config *c, const char *slug, const char *job_id, uint64_t *avail)
{
	if (!c->min_free_bytes || !slug || !job_id || !dr_job_slug_valid(slug) || !dr_job_id_valid(job_id))
		return false;
	char *wt = dr_xasprintf("%s/worktrees/%s/%s", c->workspace_root, slug, job_id);
	bool exists = is_dir_nofollow(wt);
	free(wt);
	if (exists)
		return false; /* a follow-up reuses its worktree */
	/* The root may not exist yet: ask about the nearest folder that does. */
	char *p = dr_xstrdup(c->workspace_root);
	struct statvfs vfs;
	bool known = false;
	for (int i = 0; i < 64; i++) {
		if (statvfs(p, &vfs) == 0) {
			known = true;
			break;
		}
		char *slash = strrchr(p, '/');
		if (!slash || slash == p)
			break;
		*slash = '\0';
	}
	free(p);
	if (!known)
		return false;
	*avail = (uint64_t)vfs.f_bavail * (uint64_t)vfs.f_frsize;
	return *avail < c->min_free_bytes;
}

struct explain {
	dr_gc_msg_cb cb;
	void *data;
	uint64_t avail, min_free;
	char *root;
};

static void explain_exited(void *data, const struct dr_proc_result *r)
{
	struct explain *x = data;
	char have[32], need[32], more[32], freed[32];
	dr_gc_format_size(x->avail, have, sizeof have);
	dr_gc_format_size(x->min_free, need, sizeof need);
	dr_gc_format_size(x->min_free - x->avail, more, sizeof more);
	struct dr_buf b = DR_BUF_INIT(0);
	dr_buf_addf(&b, "Not enough free disk space for a new worktree: the filesystem of %s has %s available, and "
			"--min-free-bytes asks for %s (%s more).",
		    x->root, have, need, more);
	cJSON *j = NULL;
	if (r->exit_code == 0 && dr_json_parse_object(r->out, r->out_len, GIT_OUT_MAX, &j) == 0) {
		double f = dr_json_num(j, "freedBytes", 0);
		dr_gc_format_size(f > 0 ? (uint64_t)f : 0, freed, sizeof freed);
		if (f > 0)
			dr_buf_addf(&b, " `delego-runner workspace gc` would free %s now.", freed);
		else
			dr_buf_addstr(&b, " `delego-runner workspace gc` would free nothing now.");
		long counts[DR_GC_ERROR + 1] = { 0 };
		const cJSON *it;
		cJSON_ArrayForEach(it, dr_json_array(j, "items"))
		{
			const char *st = dr_json_str(it, "state");
			for (int s = 0; st && s <= DR_GC_ERROR; s++)
				if (!strcmp(st, strstate[s]) && !dr_json_true(it, "remove"))
					counts[s]++;
		}
		if (counts[DR_GC_UNPUSHED] || counts[DR_GC_DIRTY] || counts[DR_GC_AWAITING])
			dr_buf_addf(&b, " Kept: %ld worktree(s) or cache(s) with unpushed commits, %ld with uncommitted "
					"changes, %ld waiting for an answer.",
				    counts[DR_GC_UNPUSHED], counts[DR_GC_DIRTY], counts[DR_GC_AWAITING]);
		dr_buf_addstr(&b, " See `delego-runner workspace ls`; free space, or lower --min-free-bytes.");
	} else {
		dr_buf_addstr(&b, " Run `delego-runner workspace ls` to see what the workspace holds; free space, or "
				  "lower --min-free-bytes.");
	}
	cJSON_Delete(j);
	x->cb(x->data, b.buf);
	dr_buf_release(&b);
	free(x->root);
	free(x);
}

int dr_gc_explain_shortage(uv_loop_t *loop, const struct dr_config *c, uint64_t avail, dr_gc_msg_cb cb, void *data)
{
	char *exe = our_exe();
	if (!exe)
		return -ENOENT;
	char **argv = gc_argv(exe, c, "--dry-run", "--json");
	free(exe);
	char *extra[] = { NULL };
	char **env = dr_childenv_build(NULL, DR_CHILDENV_TOOL, extra);
	struct explain *x = dr_xcalloc(1, sizeof *x);
	x->cb = cb;
	x->data = data;
	x->avail = avail;
	x->min_free = c->min_free_bytes;
	x->root = dr_xstrdup(c->workspace_root);
	struct dr_proc_opts o = {
		.argv = argv,
		.env = env,
		.timeout_ms = EXPLAIN_TIMEOUT_MS,
		.capture_max = GIT_OUT_MAX,
		.on_exit = explain_exited,
		.data = x,
	};
	struct dr_proc *p;
	int r = dr_proc_spawn(loop, &o, &p);
	dr_strv_free(argv);
	dr_strv_free(env);
	if (r < 0) {
		free(x->root);
		free(x);
	}
	return r;
}
