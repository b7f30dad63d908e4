/*
 * gc_sweep: the daemon's sweep and the shortage explanation, each a
 * dr_gc_run on libuv's threadpool. The worker touches only its own copy
 * of the options and its report; the loop thread reads them once the
 * work is back (after_work).
 */
#include "gc-int.h"
#include "delego/log.h"
#include "delego/strv.h"
#include "delego/xalloc.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#define AUTO_LOCK_WAIT_MS 2000 /* a cache another process holds is skipped after this */

/* One run on the threadpool: its options (strings owned) and what came of it. */
struct gc_work {
	uv_work_t req;
	struct dr_gc_opts o;
	char *root;
	atomic_bool stop;
	struct dr_gc_report rep;
	int rc;
	char err[1024];
	void (*done)(struct gc_work *w, int status); /* on the loop */
	void *owner;
	/* the shortage explanation */
	uint64_t avail;
	dr_gc_msg_cb cb;
	void *data;
	/* the sweep: the jobs that ended since the last one, whose worktrees the memo forgets first */
	struct dr_strv ended;
	uint64_t ns;     /* how long the run took, on its thread */
	size_t examined; /* worktrees it measured */
};

static void work_free(struct gc_work *w)
{
	dr_gc_report_release(&w->rep);
	dr_strv_release(&w->ended);
	free(w->root);
	free(w);
}

static void work_run(uv_work_t *req)
{
	struct gc_work *w = req->data;
	/* The memo is the sweep's, and only the running sweep touches it: here, on its thread. */
	for (size_t i = 0; w->o.memo && i < w->ended.n; i++)
		dr_gc_memo_forget(w->o.memo, w->ended.v[i]);
	uint64_t t0 = uv_hrtime();
	w->rc = dr_gc_run(&w->o, &w->rep, w->err, sizeof(w->err));
	w->ns = uv_hrtime() - t0;
	w->examined = dr_gc_memo_examined(w->o.memo);
}

static void work_after(uv_work_t *req, int status)
{
	struct gc_work *w = req->data;
	w->done(w, status);
	work_free(w);
}

static struct gc_work *work_new(const struct dr_config *c, bool dry_run, void (*done)(struct gc_work *, int),
			       void *owner)
{
	struct gc_work *w = dr_xcalloc(1, sizeof(*w));
	dr_gc_opts_init(&w->o, c);
	w->root = dr_xstrdup(c->workspace_root);
	w->o.root = w->root;
	w->o.dry_run = dry_run;
	w->o.lock_wait_ms = AUTO_LOCK_WAIT_MS;
	atomic_init(&w->stop, false);
	w->o.stop = &w->stop;
	w->done = done;
	w->owner = owner;
	w->req.data = w;
	return w;
}

/* Queues w; done runs on the loop unless this returns an error (then w is freed). */
static int work_queue(uv_loop_t *loop, struct gc_work *w)
{
	int r = uv_queue_work(loop, &w->req, work_run, work_after);
	if (r < 0)
		work_free(w);
	return r;
}

/* ---- the sweep ---- */

struct dr_gc_sweep {
	uv_loop_t *loop;
	struct gc_work *running;
	struct gc_work *next;   /* the sweep asked for meanwhile, not queued yet; NULL: none */
	bool freed;             /* dr_gc_sweep_free came while a sweep ran */
	struct dr_gc_memo *memo; /* what the sweeps before measured */
};

static void log_line(void *data, const char *line)
{
	(void)data;
	dr_log_info("workspace gc: %s", line);
}

static void sweep_start(struct dr_gc_sweep *s, struct gc_work *w);

static void sweep_done(struct gc_work *w, int status)
{
	struct dr_gc_sweep *s = w->owner;
	s->running = NULL;
	/* Stopped at shutdown: what it did not finish, the next start does. */
	bool stopped = atomic_load(&w->stop);
	if (!stopped && (status < 0 || w->rc < 0))
		dr_log_warn("workspace gc: the sweep failed: %s", status < 0 ? uv_strerror(status) : w->err);
	else if (!stopped)
		dr_gc_report_lines(&w->o, &w->rep, true, log_line, NULL);
	if (!stopped && status == 0 && w->rc == 0) {
		size_t trees = 0;
		for (size_t i = 0; i < w->rep.n; i++)
			trees += w->rep.items[i].kind == DR_GC_WORKTREE;
		dr_log_debug("workspace gc: swept in %llu ms, %zu of %zu worktree(s) measured", (unsigned long long)(w->ns / 1000000),
			 w->examined, trees);
	}
	if (s->freed) {
		dr_gc_memo_free(s->memo);
		free(s);
		return;
	}
	if (s->next) {
		struct gc_work *next = s->next;
		s->next = NULL;
		sweep_start(s, next);
	}
}

static void sweep_start(struct dr_gc_sweep *s, struct gc_work *w)
{
	s->running = w;
	int r = work_queue(s->loop, w);
	if (r < 0) {
		s->running = NULL;
		dr_gc_memo_clear(s->memo); /* the jobs it was told of are lost with it: a full scan next */
		dr_log_warn("workspace gc: cannot start the sweep: %s", uv_strerror(r));
	}
}

struct dr_gc_sweep *dr_gc_sweep_new(uv_loop_t *loop)
{
	struct dr_gc_sweep *s = dr_xcalloc(1, sizeof(*s));
	s->loop = loop;
	s->memo = dr_gc_memo_new();
	return s;
}

void dr_gc_sweep_request_after(struct dr_gc_sweep *s, const struct dr_config *c, const char *job_id)
{
	if (!s)
		return;
	struct gc_work *w = work_new(c, false, sweep_done, s);
	w->o.memo = s->memo;
	if (s->next) { /* replaced by the newer request: what it was told goes on with it */
		for (size_t i = 0; i < s->next->ended.n; i++)
			dr_strv_push(&w->ended, s->next->ended.v[i]);
		work_free(s->next);
		s->next = NULL;
	}
	if (job_id)
		dr_strv_push(&w->ended, job_id);
	if (!s->running) {
		sweep_start(s, w);
		return;
	}
	s->next = w;
}

void dr_gc_sweep_request(struct dr_gc_sweep *s, const struct dr_config *c)
{
	dr_gc_sweep_request_after(s, c, NULL);
}

void dr_gc_sweep_stop(struct dr_gc_sweep *s)
{
	if (!s)
		return;
	if (s->next)
		work_free(s->next);
	s->next = NULL;
	if (s->running) {
		atomic_store(&s->running->stop, true);
		uv_cancel((uv_req_t *)&s->running->req); /* not started yet: after_work runs with UV_ECANCELED */
	}
}

void dr_gc_sweep_free(struct dr_gc_sweep *s)
{
	if (!s)
		return;
	dr_gc_sweep_stop(s);
	if (s->running) {
		s->freed = true; /* sweep_done frees it */
	} else {
		dr_gc_memo_free(s->memo);
		free(s);
	}
}

/* ---- the shortage explanation ---- */

static void explain_done(struct gc_work *w, int status)
{
	char *msg = dr_gc_shortage_text(&w->o, w->avail, status == 0 && w->rc == 0 ? &w->rep : NULL);
	w->cb(w->data, msg);
	free(msg);
}

int dr_gc_explain_shortage(uv_loop_t *loop, const struct dr_config *c, uint64_t avail, dr_gc_msg_cb cb, void *data)
{
	struct gc_work *w = work_new(c, true, explain_done, NULL);
	w->avail = avail;
	w->cb = cb;
	w->data = data;
	return work_queue(loop, w);
}
