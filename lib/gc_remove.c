/* gc_remove: removal of what the plan marked, each item checked again under its cache's lock. */
#include "gc-int.h"
#include "delego/strv.h"
#include "delego/wslayout.h"
#include "delego/xalloc.h"

#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define LOCK_POLL_MS 100

/* The workspace root of an item: its path less "/" + rel. Caller frees. */
static char *root_of(const struct dr_gc_item *it)
{
	size_t pl = strlen(it->path), rl = strlen(it->rel);
	return pl > rl + 1 ? dr_xstrndup(it->path, pl - rl - 1) : NULL;
}

/*
 * The worktree renamed into <root>/DR__GC_TRASH/ (same filesystem: a rename),
 * its files deleted later, without the cache's lock. Returns the new path,
 * or NULL (then git worktree remove deletes it under the lock, as before).
 */
static char *trash(const struct dr_gc_item *it)
{
	static unsigned serial;
	char *root = root_of(it);
	if (!root)
		return NULL;
	char *dir = dr_xasprintf("%s/" DR__GC_TRASH, root);
	free(root);
	if (mkdir(dir, 0700) < 0 && errno != EEXIST) {
		free(dir);
		return NULL;
	}
	char *to = dr_xasprintf("%s/%ld.%u.%s", dir, (long)getpid(), serial++, it->job_id ? it->job_id : "x");
	free(dir);
	if (rename(it->path, to) < 0) {
		free(to);
		return NULL;
	}
	return to;
}

void dr__gc_empty_trash(const char *root)
{
	char *dir = dr_xasprintf("%s/" DR__GC_TRASH, root);
	DIR *d = opendir(dir);
	if (d) {
		for (struct dirent *e; (e = readdir(d));) {
			if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, ".."))
				continue;
			char *p = dr_xasprintf("%s/%s", dir, e->d_name);
			dr__gc_rm_tree(p); /* another gc may be at it too: what fails is left for the next */
			free(p);
		}
		closedir(d);
	}
	free(dir);
}


static int lock_cache(const struct dr_gc_opts *o, const char *path, uint64_t wait_ms, int *fd)
{
	uint64_t waited = 0;
	for (;;) {
		int r = dr_wslayout_trylock(path, LOCK_EX, fd);
		if (r != -EWOULDBLOCK && r != -ESTALE)
			return r;
		if (r == -ESTALE && !dr_wslayout_is_dir(path))
			return -ENOENT;
		if (waited >= wait_ms || dr__gc_stopped(o))
			return -EWOULDBLOCK;
		/* This runs in the `workspace` command or on a threadpool thread, never on the loop. */
		struct timespec ts = { 0, LOCK_POLL_MS * 1000000L };
		nanosleep(&ts, NULL);
		waited += LOCK_POLL_MS;
	}
}

static void remove_worktree(const struct dr_gc_opts *o, struct dr_gc_report *r, struct dr_gc_item *it,
			    const struct dr_gc_item *cache, struct dr_strv *trashed)
{
	int hold = -1;
	enum dr_gc_state before = it->state;
	dr__gc_scan_worktree(o, it, cache, &hold);
	if (it->state != DR_GC_FINISHED || before != DR_GC_FINISHED) {
		free(it->why);
		it->why = dr_xasprintf("not removed: it became %s meanwhile", dr_gc_strstate(it->state));
		it->remove = false;
		r->freed -= it->size;
		if (hold >= 0)
			close(hold);
		return;
	}
	struct dr__gc_git g;
	/*
	 * Just checked, under both locks: clean, no untracked file, nothing
	 * unpushed. Moved aside, it is gone for git (the prune below drops its
	 * record) and its files go once the cache's lock is free again: a
	 * prepare waits for a rename, not for the deletion of a whole tree.
	 */
	char *moved = trash(it);
	if (moved) {
		dr_strv_push_take(trashed, moved);
		/* Its record goes now: git keeps a branch checked out in a registered worktree. */
		const char *prune[] = { "--git-dir", cache->path, "worktree", "prune", NULL };
		if (dr__gc_git_run(o, &g, cache->path, prune) == 0)
			dr__gc_git_release(&g);
	} else {
		/* No --force: git itself refuses a worktree with changes or untracked files. */
		const char *rm[] = { "--git-dir", cache->path, "worktree", "remove", it->path, NULL };
		if (dr__gc_git_run(o, &g, cache->path, rm) < 0 || g.code != 0) {
			it->error = dr_xasprintf("git worktree remove failed: %s", g.err && g.err[0] ? g.err : "?");
			r->freed -= it->size;
			dr__gc_git_release(&g);
			close(hold);
			return;
		}
		dr__gc_git_release(&g);
	}
	close(hold);
	it->removed = true;
	if (it->branch) {
		char *err = NULL;
		char *ref = dr_xasprintf("refs/heads/%s", it->branch);
		const char *count[] = { "--git-dir", cache->path, "rev-list", "--count", ref, "--not", "--remotes",
					"--glob=" DR_WSLAYOUT_PUSHED_REFS "*", NULL };
		long n = dr__gc_git_count(o, cache->path, count, &err);
		free(err);
		if (n == 0) {
			const char *del[] = { "--git-dir", cache->path, "branch", "-D", "--quiet", it->branch, NULL };
			if (dr__gc_git_run(o, &g, cache->path, del) == 0)
				dr__gc_git_release(&g);
			char *pushed = dr_xasprintf(DR_WSLAYOUT_PUSHED_REFS "%s", it->branch);
			const char *unref[] = { "--git-dir", cache->path, "update-ref", "-d", pushed, NULL };
			if (dr__gc_git_run(o, &g, cache->path, unref) == 0)
				dr__gc_git_release(&g);
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

static void remove_cache(const struct dr_gc_opts *o, struct dr_gc_report *r, struct dr_gc_item *it)
{
	enum dr_gc_state before = it->state;
	dr__gc_scan_cache(o, it);
	if (it->state != DR_GC_IDLE || before != DR_GC_IDLE || it->count > 0) {
		free(it->why);
		it->why = dr_xasprintf("not removed: it became %s meanwhile",
				       it->count > 0 ? "used by a worktree" : dr_gc_strstate(it->state));
		it->remove = false;
		r->freed -= it->size;
		return;
	}
	int e = dr__gc_rm_tree(it->path);
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

void dr__gc_remove_planned(const struct dr_gc_opts *o, struct dr_gc_report *r)
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
		int e = lock_cache(o, cache->path, o->lock_wait_ms, &fd);
		if (e < 0) {
			for (size_t i = 0; i < r->n; i++) {
				struct dr_gc_item *it = &r->items[i];
				if ((i == c || it->cache == c) && it->remove) {
					it->remove = false;
					r->freed -= it->size;
					dr__gc_set_detail(it, DR_GC_BUSY,
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
		struct dr_strv trashed = DR_STRV_INIT;
		for (size_t i = 0; i < r->n; i++) {
			struct dr_gc_item *it = &r->items[i];
			if (it->kind == DR_GC_WORKTREE && it->cache == c && it->remove) {
				remove_worktree(o, r, it, cache, &trashed);
				removed_wt |= it->removed;
			}
		}
		if (removed_wt) {
			struct dr__gc_git g;
			const char *prune[] = { "--git-dir", cache->path, "worktree", "prune", NULL };
			if (dr__gc_git_run(o, &g, cache->path, prune) == 0)
				dr__gc_git_release(&g);
		}
		if (cache->remove)
			remove_cache(o, r, cache);
		close(fd);
		for (size_t i = 0; i < trashed.n; i++)
			dr__gc_rm_tree(trashed.v[i]); /* a failure: the next gc's dr__gc_empty_trash */
		dr_strv_release(&trashed);
	}
}

