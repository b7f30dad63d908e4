/*
 * workspace_cache: what this process learnt of each source cache in a
 * prepare, so that the next prepares of the same cache, often queued
 * behind it, skip the git commands whose answer they already have: that
 * it is bare, the base a fetch that started after they were asked for
 * resolved, and whether `git worktree prune` has anything to do. Each
 * mark is tied to the cache directory's inode: a cache removed (gc) or
 * replaced starts afresh. Used on the loop only.
 */
#include "workspace-int.h"
#include "delego/buf.h"
#include "delego/fsutil.h"
#include "delego/xalloc.h"

#include <dirent.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

struct mark {
	char *src;
	dev_t dev;
	ino_t ino;
	bool bare;          /* git said it is a bare repository */
	uint64_t fetched;   /* uv_hrtime when the last fetch that succeeded started; 0: none */
	char *base;         /* what the prepare that ran it resolved as the base right after */
	struct mark *next;
};
static struct mark *marks;

/* The cache's mark, emptied when the directory is not the one it was made for; NULL: no such directory. */
static struct mark *mark_of(const char *src, bool create)
{
	struct stat st;
	if (lstat(src, &st) < 0 || !S_ISDIR(st.st_mode))
		return NULL;
	struct mark *m;
	for (m = marks; m; m = m->next)
		if (!strcmp(m->src, src))
			break;
	if (!m && !create)
		return NULL;
	if (!m) {
		m = dr_xcalloc(1, sizeof(*m));
		m->src = dr_xstrdup(src);
		m->next = marks;
		marks = m;
	} else if (m->dev == st.st_dev && m->ino == st.st_ino) {
		return m;
	}
	m->dev = st.st_dev;
	m->ino = st.st_ino;
	m->bare = false;
	m->fetched = 0;
	free(m->base);
	m->base = NULL;
	return m;
}

void dr__ws_cache_forget(const char *src)
{
	struct mark *m = mark_of(src, false);
	if (m) {
		m->bare = false;
		m->fetched = 0;
		free(m->base);
		m->base = NULL;
	}
}

bool dr__ws_cache_known_bare(const char *src)
{
	const struct mark *m = mark_of(src, false);
	return m && m->bare;
}

void dr__ws_cache_set_bare(const char *src)
{
	struct mark *m = mark_of(src, true);
	if (m)
		m->bare = true;
}

const char *dr__ws_cache_fresh_base(const char *src, uint64_t since)
{
	const struct mark *m = mark_of(src, false);
	return m && m->base && m->fetched >= since ? m->base : NULL;
}

void dr__ws_cache_set_base(const char *src, uint64_t fetch_started, const char *base)
{
	struct mark *m = mark_of(src, true);
	if (!m || fetch_started < m->fetched)
		return;
	m->fetched = fetch_started;
	free(m->base);
	m->base = dr_xstrdup(base);
}

bool dr__ws_cache_has_stale(const char *src)
{
	char *dir = dr_xasprintf("%s/worktrees", src);
	DIR *d = opendir(dir);
	bool stale = false;
	if (!d) {
		free(dir);
		return false; /* no worktree records at all */
	}
	struct dr_buf b = DR_BUF_INIT(4096);
	for (struct dirent *e; !stale && (e = readdir(d));) {
		if (e->d_name[0] == '.')
			continue;
		/* worktrees/<name>/gitdir names <worktree>/.git; a record whose worktree is gone is what prune removes. */
		char *gitdir = dr_xasprintf("%s/%s/gitdir", dir, e->d_name);
		dr_buf_reset(&b);
		struct stat st;
		if (dr_fsutil_read_file(gitdir, &b, NULL) < 0 || b.len == 0) {
			stale = true;
		} else {
			b.buf[strcspn(b.buf, "\r\n")] = '\0';
			stale = lstat(b.buf, &st) < 0;
		}
		free(gitdir);
	}
	dr_buf_release(&b);
	closedir(d);
	free(dir);
	return stale;
}
