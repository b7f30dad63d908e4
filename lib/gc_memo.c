/*
 * gc_memo: the facts a scan learnt of each worktree, reused by the next
 * scan while the worktree's signature (the stat of what a change in it
 * touches) holds. See dr_gc_memo in gc.h.
 */
#include "gc-int.h"
#include "delego/buf.h"
#include "delego/fsutil.h"
#include "delego/wslayout.h"
#include "delego/xalloc.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define FULL_SCAN_SECS (60 * 60)

enum { SIG_DIR, SIG_DOTGIT, SIG_ADMIN, SIG_INDEX, SIG_HEAD, SIG_LOGS, SIG_AWAITING, SIG_N };

/* What a change of the worktree touches: per file, mtime, ctime, size, inode. */
struct sig {
	int64_t f[SIG_N][4];
	bool cache_ok; /* its cache was there and readable */
};

struct entry {
	char *path;
	char *job_id;
	struct sig sig;
	bool stale;      /* measured again next time: its job ended, a job ran in it, or it changed as it was measured */
	unsigned gen;    /* the last scan that saw it */
	enum dr_gc_state state;
	uint64_t size;
	int64_t last_used;
	long count;
	char *branch;
	char *detail;
};

struct dr_gc_memo {
	struct entry *e;
	size_t n;
	unsigned gen;
	int64_t full_at; /* when the memo was last empty: the scan then was a full one */
	size_t examined;
	size_t full_scans;
	struct sig pending;   /* the signature recall took, before the measurement that store keeps */
	int64_t pending_at;
};

struct dr_gc_memo *dr_gc_memo_new(void)
{
	return dr_xcalloc(1, sizeof(struct dr_gc_memo));
}

static void entry_clear(struct entry *e)
{
	free(e->path);
	free(e->job_id);
	free(e->branch);
	free(e->detail);
	memset(e, 0, sizeof(*e));
}

void dr_gc_memo_clear(struct dr_gc_memo *m)
{
	if (!m)
		return;
	for (size_t i = 0; i < m->n; i++)
		entry_clear(&m->e[i]);
	m->n = 0;
}

void dr_gc_memo_free(struct dr_gc_memo *m)
{
	if (!m)
		return;
	dr_gc_memo_clear(m);
	free(m->e);
	free(m);
}

void dr_gc_memo_forget(struct dr_gc_memo *m, const char *job_id)
{
	if (!m || !job_id)
		return;
	for (size_t i = 0; i < m->n; i++)
		if (!strcmp(m->e[i].job_id, job_id))
			m->e[i].stale = true;
}

size_t dr_gc_memo_examined(const struct dr_gc_memo *m)
{
	return m ? m->examined : 0;
}

size_t dr_gc_memo_full_scans(const struct dr_gc_memo *m)
{
	return m ? m->full_scans : 0;
}

static struct entry *find(struct dr_gc_memo *m, const char *path)
{
	for (size_t i = 0; i < m->n; i++)
		if (!strcmp(m->e[i].path, path))
			return &m->e[i];
	return NULL;
}

static void stat_into(int64_t f[4], const char *path)
{
	struct stat st;
	if (lstat(path, &st) < 0) {
		memset(f, 0, 4 * sizeof *f);
		return;
	}
	f[0] = (int64_t)st.st_mtime;
	f[1] = (int64_t)st.st_ctime;
	f[2] = (int64_t)st.st_size;
	f[3] = (int64_t)st.st_ino;
}

/* The admin directory the worktree's .git file names (not resolved: only stat'ed). Caller frees. */
static char *admin_of(const char *wt)
{
	char *dotgit = dr_xasprintf("%s/.git", wt);
	struct dr_buf b = DR_BUF_INIT(4096);
	char *res = NULL;
	if (dr_fsutil_read_file(dotgit, &b, NULL) == 0 && b.len > 8 && !strncmp(b.buf, "gitdir: ", 8)) {
		char *p = b.buf + 8;
		p[strcspn(p, "\r\n")] = '\0';
		res = dr_xstrdup(p);
	}
	dr_buf_release(&b);
	free(dotgit);
	return res;
}

static void sig_of(struct sig *s, const char *wt, const struct dr_gc_item *cache)
{
	memset(s, 0, sizeof(*s));
	s->cache_ok = cache && cache->state != DR_GC_ERROR;
	stat_into(s->f[SIG_DIR], wt);
	char *p = dr_xasprintf("%s/.git", wt);
	stat_into(s->f[SIG_DOTGIT], p);
	free(p);
	p = dr_xasprintf("%s" DR_WSLAYOUT_AWAITING_SUFFIX, wt);
	stat_into(s->f[SIG_AWAITING], p);
	free(p);
	char *admin = admin_of(wt);
	if (!admin)
		return;
	static const char *const names[] = { [SIG_INDEX] = "index", [SIG_HEAD] = "HEAD", [SIG_LOGS] = "logs/HEAD" };
	stat_into(s->f[SIG_ADMIN], admin);
	for (int i = SIG_INDEX; i <= SIG_LOGS; i++) {
		p = dr_xasprintf("%s/%s", admin, names[i]);
		stat_into(s->f[i], p);
		free(p);
	}
	free(admin);
}

/* Something in the signature changed in the second it was taken: a later change in that second would not show. */
static bool sig_racy(const struct sig *s, int64_t taken)
{
	for (int i = 0; i < SIG_N; i++)
		if (s->f[i][0] >= taken)
			return true;
	return false;
}

void dr__gc_memo_begin(const struct dr_gc_opts *o, int64_t now)
{
	struct dr_gc_memo *m = o->memo;
	if (!m)
		return;
	if (m->n && now - m->full_at >= FULL_SCAN_SECS)
		dr_gc_memo_clear(m);
	if (!m->n) {
		m->full_at = now;
		m->full_scans++;
	}
	m->gen++;
	m->examined = 0;
}

void dr__gc_memo_end(const struct dr_gc_opts *o, bool ok)
{
	struct dr_gc_memo *m = o->memo;
	if (!m)
		return;
	if (!ok) {
		dr_gc_memo_clear(m);
		return;
	}
	/* Worktrees gone from the disk leave the memo. */
	size_t k = 0;
	for (size_t i = 0; i < m->n; i++) {
		if (m->e[i].gen == m->gen)
			m->e[k++] = m->e[i];
		else
			entry_clear(&m->e[i]);
	}
	m->n = k;
}

bool dr__gc_memo_recall(const struct dr_gc_opts *o, struct dr_gc_item *it, const struct dr_gc_item *cache)
{
	struct dr_gc_memo *m = o->memo;
	if (!m)
		return false;
	/* Before any measurement: a change while it runs shows as a changed signature next time. */
	m->pending_at = (int64_t)time(NULL);
	sig_of(&m->pending, it->path, cache);
	struct entry *e = find(m, it->path);
	if (!e)
		return false;
	e->gen = m->gen;
	int fd = -1;
	int r = dr_wslayout_trylock(it->path, LOCK_SH, &fd);
	if (r == -EWOULDBLOCK) {
		/* A job runs in it: its size as last measured; measured again once the job is over. */
		it->state = DR_GC_RUNNING;
		it->size = e->size;
		it->last_used = e->last_used;
		e->stale = true;
		return true;
	}
	if (r == 0)
		close(fd);
	if (r < 0 || e->stale)
		return false;
	if (memcmp(&m->pending, &e->sig, sizeof m->pending) != 0)
		return false;
	it->state = e->state;
	it->size = e->size;
	it->last_used = e->last_used;
	it->count = e->count;
	free(it->branch);
	it->branch = e->branch ? dr_xstrdup(e->branch) : NULL;
	free(it->detail);
	it->detail = e->detail ? dr_xstrdup(e->detail) : NULL;
	return true;
}

void dr__gc_memo_store(const struct dr_gc_opts *o, const struct dr_gc_item *it, const struct dr_gc_item *cache)
{
	struct dr_gc_memo *m = o->memo;
	if (!m)
		return;
	m->examined += it->state != DR_GC_RUNNING; /* a running one was only seen running, not measured */
	struct entry *e = find(m, it->path);
	if (e) {
		entry_clear(e);
	} else {
		if (m->n % 32 == 0)
			m->e = dr_xrealloc(m->e, (m->n + 32) * sizeof *m->e);
		e = &m->e[m->n++];
		memset(e, 0, sizeof(*e));
	}
	e->path = dr_xstrdup(it->path);
	e->job_id = dr_xstrdup(it->job_id ? it->job_id : "");
	e->gen = m->gen;
	(void)cache;
	e->sig = m->pending;
	e->stale = it->state == DR_GC_RUNNING || it->state == DR_GC_BUSY || it->state == DR_GC_ERROR ||
		   sig_racy(&e->sig, m->pending_at);
	e->state = it->state;
	e->size = it->size;
	e->last_used = it->last_used;
	e->count = it->count;
	e->branch = it->branch ? dr_xstrdup(it->branch) : NULL;
	e->detail = it->detail ? dr_xstrdup(it->detail) : NULL;
}

void dr__gc_memo_drop(const struct dr_gc_opts *o, const char *path)
{
	struct entry *e = o->memo ? find(o->memo, path) : NULL;
	if (e)
		e->stale = true;
}
