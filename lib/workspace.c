/*
 * workspace: git/gh steps as chains of child processes. Each public call
 * makes one typed step (struct dr_workspace_step first); a step that writes the
 * cache waits its turn in the queue of its source cache, runs its
 * commands one after another (each command's callback is the next
 * stage), then calls back and frees itself from its timer's close
 * callback. Prepare lives in workspace_prepare.c.
 */
#include "workspace-int.h"
#include "delego/childenv.h"
#include "delego/log.h"
#include "delego/strv.h"
#include "delego/xalloc.h"

#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <unistd.h>

#define LOCAL_TIMEOUT_MS (2 * 60 * 1000)
#define NETWORK_TIMEOUT_MS (10 * 60 * 1000)
#define OUT_MAX (8 * 1024 * 1024)
#define FALLBACK_NAME "Delego Runner"
#define FALLBACK_EMAIL "runner@delego.local"
#define LOCK_RETRY_MS 100                  /* another process holds the cache: try again this often */
#define LOCK_WAIT_MAX_MS (30 * 60 * 1000)  /* ... for at most this long */

/* The in-process queue of one source cache; exists while a step holds or waits for it. */
struct dr__ws_lock {
	char *key;
	struct dr_workspace_step *head, *tail; /* waiting */
	struct dr__ws_lock *next;
};
static struct dr__ws_lock *locks;
static struct dr_workspace_step *background; /* steps no job waits for */

/* ---- small helpers ---- */

void dr__ws_describe_failure(const struct dr_proc_result *r, char *buf, size_t len)
{
	char *t = dr_gitparse_trimmed(r->stderr_tail, r->stderr_len);
	if (!*t) {
		free(t);
		t = dr_gitparse_trimmed(r->stdout_tail, r->stdout_len);
	}
	const char *show = t;
	if (strlen(show) > DR__WS_MSG_MAX)
		show += strlen(show) - DR__WS_MSG_MAX;
	if (r->timed_out)
		snprintf(buf, len, "timed out%s%s", *show ? ": " : "", show);
	else if (*show)
		snprintf(buf, len, "%s", show);
	else
		snprintf(buf, len, "exit code %d", r->exit_code);
	free(t);
}

bool dr__ws_ok(const struct dr_proc_result *r)
{
	return r->exit_code == 0 && !r->timed_out;
}

void dr__ws_tree_clear(struct dr_workspace_tree *t)
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

void dr_workspace_tree_release(struct dr_workspace_tree *t)
{
	if (t)
		dr__ws_tree_clear(t);
}

void dr_workspace_pr_release(struct dr_workspace_pr *pr)
{
	if (!pr)
		return;
	free(pr->url);
	free(pr->title);
	memset(pr, 0, sizeof(*pr));
	pr->number = -1;
}

char *dr_workspace_clone_url(const char *base, const char *slug)
{
	size_t n = strlen(base);
	if (n > 0 && base[n - 1] == ':')
		return dr_xasprintf("%s%s.git", base, slug);
	while (n > 0 && base[n - 1] == '/')
		n--;
	return dr_xasprintf("%.*s/%s.git", (int)n, base, slug);
}

int dr_workspace_mark_awaiting(const struct dr_workspace_tree *t, const char *job_id, bool awaiting)
{
	if (!t || !t->worktree_path)
		return -EINVAL;
	return dr_wslayout_mark_awaiting(t->worktree_path, job_id, awaiting);
}

/* ---- the step core: queue, lock, commands, cancel ---- */

static void step_closed(uv_handle_t *h)
{
	struct dr_workspace_step *s = h->data;
	if (s->release)
		s->release(s);
	dr_strv_free(s->env);
	free(s->key);
	free(s);
}

static void on_later(uv_timer_t *t)
{
	struct dr_workspace_step *s = t->data;
	void (*cb)(struct dr_workspace_step *) = s->later;
	s->later = NULL;
	cb(s);
}

void dr__ws_later(struct dr_workspace_step *s, uint64_t ms, void (*cb)(struct dr_workspace_step *))
{
	s->later = cb;
	uv_timer_start(&s->kick, on_later, ms, 0);
}

static void step_lock(struct dr_workspace_step *s);

static void step_begin(struct dr_workspace_step *s)
{
	if (s->cancelled) {
		dr__ws_fail(s, -ECANCELED, "cancelled");
		return;
	}
	s->start(s);
}

/*
 * The cross-process half of the queue: the flock on the bare repository
 * directory, with LOCK_NB and a retry timer so the loop never waits.
 */
static void step_lock(struct dr_workspace_step *s)
{
	if (s->cancelled) {
		dr__ws_fail(s, -ECANCELED, "cancelled while waiting for the source cache %s", s->key);
		return;
	}
	if (s->before_lock) {
		int r = s->before_lock(s);
		if (r < 0) {
			dr__ws_finish(s, r);
			return;
		}
	}
	int fd = -1;
	int r = dr_wslayout_trylock(s->key, LOCK_EX, &fd);
	if (r == 0) {
		s->lock_fd = fd;
		s->lock_held = true;
		step_begin(s);
		return;
	}
	if (r == -EWOULDBLOCK || r == -ESTALE) {
		uint64_t now = uv_now(s->ctx->loop);
		if (!s->lock_wait_start) {
			s->lock_wait_start = now ? now : 1;
			dr_log_debug("workspace: %s is locked by another process; waiting", s->key);
		} else if (now - s->lock_wait_start > LOCK_WAIT_MAX_MS) {
			dr__ws_fail(s, -EBUSY, "the source cache %s stayed locked by another process (another runner "
					       "profile, or delego-runner workspace gc) for %d minutes; find it with "
					       "`fuser %s` and try again",
				    s->key, LOCK_WAIT_MAX_MS / 60000, s->key);
			return;
		}
		dr__ws_later(s, LOCK_RETRY_MS, step_lock);
		return;
	}
	dr__ws_fail(s, r, "cannot lock the source cache %s: %s", s->key, strerror(-r));
}

static void release_lock(struct dr_workspace_step *s)
{
	struct dr__ws_lock *l = s->lock;
	if (!l)
		return;
	s->lock = NULL;
	struct dr_workspace_step *next = l->head;
	if (next) {
		l->head = next->qnext;
		if (!l->head)
			l->tail = NULL;
		next->qnext = NULL;
		next->queued = false;
		next->lock = l;
		dr__ws_later(next, 0, step_lock);
		return;
	}
	for (struct dr__ws_lock **pp = &locks; *pp; pp = &(*pp)->next) {
		if (*pp == l) {
			*pp = l->next;
			break;
		}
	}
	free(l->key);
	free(l);
}

/* Takes a cancelled step out of the queue it waits in. */
static void unqueue(struct dr_workspace_step *s)
{
	for (struct dr__ws_lock *l = locks; l; l = l->next) {
		struct dr_workspace_step *prev = NULL;
		for (struct dr_workspace_step *q = l->head; q; prev = q, q = q->qnext) {
			if (q != s)
				continue;
			if (prev)
				prev->qnext = q->qnext;
			else
				l->head = q->qnext;
			if (l->tail == q)
				l->tail = prev;
			s->qnext = NULL;
			s->queued = false;
			return;
		}
	}
}

static void on_kick(struct dr_workspace_step *s)
{
	if (!s->key) {
		step_begin(s);
		return;
	}
	struct dr__ws_lock *l;
	for (l = locks; l; l = l->next) {
		if (!strcmp(l->key, s->key))
			break;
	}
	if (l) { /* busy: wait for the holder's release */
		if (l->tail)
			l->tail->qnext = s;
		else
			l->head = s;
		l->tail = s;
		s->queued = true;
		return;
	}
	l = dr_xcalloc(1, sizeof(*l));
	l->key = dr_xstrdup(s->key);
	l->next = locks;
	locks = l;
	s->lock = l;
	step_lock(s);
}

void dr__ws_step_init(struct dr_workspace_step *s, const struct dr_workspace_ctx *ctx, const char *key,
		      void (*start)(struct dr_workspace_step *), dr_workspace_cb cb, void *data)
{
	s->ctx = ctx;
	s->key = key ? dr_xstrdup(key) : NULL;
	s->start = start;
	s->cb = cb;
	s->data = data;
	char *extra[] = { "GIT_TERMINAL_PROMPT=0", "GH_PROMPT_DISABLED=1", "GH_NO_UPDATE_NOTIFIER=1",
			  "GH_SPINNER_DISABLED=1", "NO_COLOR=1", NULL };
	s->env = dr_childenv_build(NULL, DR_CHILDENV_TOOL, extra);
	uv_timer_init(ctx->loop, &s->kick);
	s->kick.data = s;
	if (ctx->running)
		*ctx->running = s;
	dr__ws_later(s, 0, on_kick);
}

void dr__ws_unlock(struct dr_workspace_step *s)
{
	if (s->lock_held) {
		close(s->lock_fd); /* drops the flock */
		s->lock_held = false;
	}
	release_lock(s);
}

/* Ends the step: the queue moves on, then the callback runs, then the step is freed. */
void dr__ws_finish(struct dr_workspace_step *s, int status)
{
	dr__ws_unlock(s);
	uv_timer_stop(&s->kick);
	for (struct dr_workspace_step **pp = &background; s->background && *pp; pp = &(*pp)->bnext) {
		if (*pp == s) {
			*pp = s->bnext;
			break;
		}
	}
	if (s->ctx->running && *s->ctx->running == s)
		*s->ctx->running = NULL;
	if (s->cancelled && status == 0)
		status = -ECANCELED;
	s->cb(s->data, status, status ? s->err : "");
	uv_close((uv_handle_t *)&s->kick, step_closed);
}

void dr__ws_fail(struct dr_workspace_step *s, int status, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(s->err, sizeof(s->err), fmt, ap);
	va_end(ap);
	dr__ws_finish(s, status);
}

void dr__ws_fail_cmd(struct dr_workspace_step *s, const struct dr_proc_result *r, const char *what)
{
	char said[DR__WS_MSG_MAX + 32];
	if (s->cancelled) {
		dr__ws_fail(s, -ECANCELED, "cancelled while running: %s", what);
		return;
	}
	dr__ws_describe_failure(r, said, sizeof(said));
	dr__ws_fail(s, r->timed_out ? -ETIMEDOUT : -EIO, "%s: %s", what, said);
}

static void on_cmd_exit(void *data, const struct dr_proc_result *r)
{
	struct dr_workspace_step *s = data;
	dr__ws_next next = s->next;
	s->next = NULL;
	s->proc = NULL;
	if (s->cancelled) { /* whatever the command managed: the step ends here */
		dr__ws_fail(s, -ECANCELED, "cancelled");
		return;
	}
	next(s, r);
}

void dr__ws_run(struct dr_workspace_step *s, const char *cwd, bool network, dr__ws_next next, ...)
{
	char *argv[32];
	size_t n = 0;
	va_list ap;
	va_start(ap, next);
	for (const char *a; n < 31 && (a = va_arg(ap, const char *));)
		argv[n++] = (char *)a;
	va_end(ap);
	argv[n] = NULL;
	if (s->cancelled) {
		dr__ws_fail(s, -ECANCELED, "cancelled");
		return;
	}
	const struct dr_workspace_ctx *c = s->ctx;
	struct dr_proc_opts o = {
		.argv = argv,
		.env = s->env,
		.cwd = cwd,
		.timeout_ms = network ? (c->network_timeout_ms ? c->network_timeout_ms : NETWORK_TIMEOUT_MS)
				      : (c->local_timeout_ms ? c->local_timeout_ms : LOCAL_TIMEOUT_MS),
		.kill_grace_ms = c->kill_grace_ms,
		.capture_max = OUT_MAX,
		.on_exit = on_cmd_exit,
		.data = s,
	};
	s->next = next;
	int r = dr_proc_spawn(c->loop, &o, &s->proc);
	if (r == 0)
		return;
	s->next = NULL;
	s->proc = NULL;
	bool gh = !strcmp(argv[0], "gh");
	if (r == -ENOENT && gh)
		dr__ws_fail(s, r, "gh (the GitHub CLI) is not installed or not on PATH; install it from "
				  "https://cli.github.com and run `gh auth login`, or turn off automatic pull requests");
	else if (r == -ENOENT)
		dr__ws_fail(s, r, "git is not installed or not on PATH; install git (e.g. `apt install git`) and "
				  "restart the runner");
	else if (r == -ENOTDIR)
		dr__ws_fail(s, r, "cannot run %s: directory %s is missing", argv[0], cwd ? cwd : ".");
	else
		dr__ws_fail(s, r, "cannot run %s: %s", argv[0], strerror(-r));
}

static void finish_cancelled(struct dr_workspace_step *s)
{
	dr__ws_fail(s, -ECANCELED, "cancelled");
}

void dr_workspace_step_cancel(struct dr_workspace_step *s)
{
	if (!s || s->cancelled)
		return;
	s->cancelled = true;
	if (s->proc) { /* on_cmd_exit ends the step once the group is gone */
		dr_proc_terminate(s->proc);
		return;
	}
	/* Waiting (for its start, its turn, the flock, a retry): end it from the loop. */
	if (s->queued)
		unqueue(s);
	dr__ws_later(s, 0, finish_cancelled);
}

void dr__ws_background(struct dr_workspace_step *s)
{
	s->background = true;
	s->bnext = background;
	background = s;
}

void dr_workspace_stop_background(void)
{
	for (struct dr_workspace_step *s = background; s; s = s->bnext)
		dr_workspace_step_cancel(s);
}

/* ---- changes ---- */

struct changes_step {
	struct dr_workspace_step s;
	const struct dr_workspace_tree *t;
	struct dr_gitparse_changes *out;
};

static void changes_listed(struct dr_workspace_step *s, const struct dr_proc_result *r)
{
	struct changes_step *c = (struct changes_step *)s;
	if (!dr__ws_ok(r)) {
		dr__ws_fail_cmd(s, r, "cannot list the changes in the worktree");
		return;
	}
	struct dr_gitparse_changes ch = { 0 };
	dr_gitparse_status(r->out, r->out_len, &ch);
	if (r->out_truncated && ch.count < DR_WS_KEEP_MAX)
		dr_log_debug("workspace: status output cut at %zu bytes", r->out_len);
	*c->out = ch;
	dr__ws_finish(s, 0);
}

static void changes_start(struct dr_workspace_step *s)
{
	struct changes_step *c = (struct changes_step *)s;
	dr__ws_run(s, c->t->worktree_path, false, changes_listed, "git", "status", "--porcelain", "-z", NULL);
}

int dr_workspace_changes(const struct dr_workspace_ctx *ctx, const struct dr_workspace_tree *t, struct dr_gitparse_changes *out,
			 dr_workspace_cb cb, void *data)
{
	struct changes_step *c = dr_xcalloc(1, sizeof(*c));
	c->t = t;
	c->out = out;
	dr__ws_step_init(&c->s, ctx, NULL, changes_start, cb, data);
	return 0;
}

/* ---- commit, describe ---- */

struct commit_step {
	struct dr_workspace_step s;
	const struct dr_workspace_tree *t;
	const struct dr_workspace_commit_in *in; /* NULL: describe HEAD */
	struct dr_gitparse_commit commit;
	struct dr_gitparse_commit *out;
	bool has_name, has_email;
	char *body;  /* the commit message body, alive while git runs */
	char *range; /* describe: <starting_sha>..HEAD */
};

static void commit_release(struct dr_workspace_step *s)
{
	struct commit_step *c = (struct commit_step *)s;
	dr_gitparse_commit_release(&c->commit);
	free(c->body);
	free(c->range);
}

/* git log -1 of HEAD read: the step's result. */
static void commit_logged(struct dr_workspace_step *s, const struct dr_proc_result *r)
{
	struct commit_step *c = (struct commit_step *)s;
	struct dr_gitparse_commit *m = &c->commit;
	const char *what = c->in ? "cannot read the new commit" : "cannot read HEAD";
	char *ours = m->subject; /* a commit we wrote keeps the subject we wrote */
	m->subject = NULL;
	if (!dr__ws_ok(r) || !dr_gitparse_log(r->out, r->out_len, m)) {
		free(ours);
		if (dr__ws_ok(r))
			dr__ws_fail(s, -EIO, "%s", what);
		else
			dr__ws_fail_cmd(s, r, what);
		return;
	}
	if (ours) {
		free(m->subject);
		m->subject = ours;
	}
	m->branch = dr_xstrdup(c->t->branch);
	*c->out = *m;
	memset(m, 0, sizeof(*m));
	dr__ws_finish(s, 0);
}

static void read_log(struct commit_step *c)
{
	dr__ws_run(&c->s, c->t->worktree_path, false, commit_logged, "git", "log", "-1", DR_GITPARSE_LOG_FORMAT,
		   "HEAD", NULL);
}

static void commit_made(struct dr_workspace_step *s, const struct dr_proc_result *r)
{
	if (!dr__ws_ok(r)) {
		dr__ws_fail_cmd(s, r, "cannot create the local commit");
		return;
	}
	read_log((struct commit_step *)s);
}

static void commit_added(struct dr_workspace_step *s, const struct dr_proc_result *r)
{
	struct commit_step *c = (struct commit_step *)s;
	if (!dr__ws_ok(r)) {
		dr__ws_fail_cmd(s, r, "cannot stage the changes");
		return;
	}
	const struct dr_workspace_commit_in *in = c->in;
	const char *wt = c->t->worktree_path;
	c->commit.subject = dr_gitparse_commit_subject(in->identifier, in->title);
	c->body = dr_gitparse_commit_body(in->identifier, in->url, in->changes->paths, in->changes->kept,
					  in->changes->count);
	const char *subject = c->commit.subject;
	const char *name = c->has_name ? "" : "user.name=" FALLBACK_NAME;
	const char *email = c->has_email ? "" : "user.email=" FALLBACK_EMAIL;
	/* The fallback identity is given to this commit only ("-c"), never written to config. */
	if (!c->has_name && !c->has_email)
		dr__ws_run(s, wt, false, commit_made, "git", "-c", name, "-c", email, "commit", "--quiet", "-m",
			   subject, "-m", c->body, NULL);
	else if (!c->has_name || !c->has_email)
		dr__ws_run(s, wt, false, commit_made, "git", "-c", c->has_name ? email : name, "commit", "--quiet",
			   "-m", subject, "-m", c->body, NULL);
	else
		dr__ws_run(s, wt, false, commit_made, "git", "commit", "--quiet", "-m", subject, "-m", c->body, NULL);
}

static void commit_email_checked(struct dr_workspace_step *s, const struct dr_proc_result *r)
{
	struct commit_step *c = (struct commit_step *)s;
	c->has_email = dr__ws_ok(r) && r->out_len > 1;
	dr__ws_run(s, c->t->worktree_path, false, commit_added, "git", "add", "--all", NULL);
}

static void commit_name_checked(struct dr_workspace_step *s, const struct dr_proc_result *r)
{
	struct commit_step *c = (struct commit_step *)s;
	c->has_name = dr__ws_ok(r) && r->out_len > 1;
	dr__ws_run(s, c->t->worktree_path, false, commit_email_checked, "git", "config", "--get", "user.email",
		   NULL);
}

static void commit_start(struct dr_workspace_step *s)
{
	struct commit_step *c = (struct commit_step *)s;
	const struct dr_gitparse_changes *ch = c->in->changes;
	if (!ch || ch->count == 0) {
		dr__ws_fail(s, -ENODATA, "refusing to create an empty commit: no changes in the worktree");
		return;
	}
	struct dr_gitparse_commit *m = &c->commit;
	size_t n = ch->kept < DR_WS_COMMIT_FILES_MAX ? ch->kept : DR_WS_COMMIT_FILES_MAX;
	m->files = dr_xcalloc(n + 1, sizeof(char *));
	for (size_t i = 0; i < n; i++)
		m->files[i] = dr_xstrdup(ch->paths[i]);
	m->nfiles = n;
	m->file_count = ch->count;
	dr__ws_run(s, c->t->worktree_path, false, commit_name_checked, "git", "config", "--get", "user.name", NULL);
}

static struct commit_step *commit_step_new(const struct dr_workspace_tree *t, struct dr_gitparse_commit *out)
{
	struct commit_step *c = dr_xcalloc(1, sizeof(*c));
	c->s.release = commit_release;
	c->t = t;
	c->out = out;
	return c;
}

int dr_workspace_commit(const struct dr_workspace_ctx *ctx, const struct dr_workspace_tree *t, const struct dr_workspace_commit_in *in,
			struct dr_gitparse_commit *out, dr_workspace_cb cb, void *data)
{
	if (!in)
		return -EINVAL;
	struct commit_step *c = commit_step_new(t, out);
	c->in = in;
	dr__ws_step_init(&c->s, ctx, NULL, commit_start, cb, data);
	return 0;
}

static void describe_diffed(struct dr_workspace_step *s, const struct dr_proc_result *r)
{
	struct commit_step *c = (struct commit_step *)s;
	if (dr__ws_ok(r)) /* without a diff the commit is still described */
		dr_gitparse_names(r->out, r->out_len, &c->commit);
	read_log(c);
}

static void describe_start(struct dr_workspace_step *s)
{
	struct commit_step *c = (struct commit_step *)s;
	c->range = dr_xasprintf("%s..HEAD", c->t->starting_sha ? c->t->starting_sha : "HEAD");
	dr__ws_run(s, c->t->worktree_path, false, describe_diffed, "git", "diff", "--name-only", "-z", c->range,
		   "--", NULL);
}

int dr_workspace_describe_head(const struct dr_workspace_ctx *ctx, const struct dr_workspace_tree *t, struct dr_gitparse_commit *out,
			       dr_workspace_cb cb, void *data)
{
	struct commit_step *c = commit_step_new(t, out);
	dr__ws_step_init(&c->s, ctx, NULL, describe_start, cb, data);
	return 0;
}

/* ---- head, push ---- */

struct head_step {
	struct dr_workspace_step s;
	const struct dr_workspace_tree *t;
	char *sha_out;
};

static void head_read(struct dr_workspace_step *s, const struct dr_proc_result *r)
{
	struct head_step *h = (struct head_step *)s;
	char *sha = dr__ws_ok(r) ? dr_gitparse_first_line(r->out, r->out_len) : NULL;
	if (!sha || strlen(sha) < 40 || strlen(sha) > 64) {
		free(sha);
		if (dr__ws_ok(r))
			dr__ws_fail(s, -EIO, "cannot read HEAD of %s", h->t->worktree_path);
		else
			dr__ws_fail_cmd(s, r, "cannot read HEAD of the worktree");
		return;
	}
	memcpy(h->sha_out, sha, strlen(sha) + 1);
	free(sha);
	dr__ws_finish(s, 0);
}

static void head_start(struct dr_workspace_step *s)
{
	struct head_step *h = (struct head_step *)s;
	dr__ws_run(s, h->t->worktree_path, false, head_read, "git", "rev-parse", "HEAD", NULL);
}

int dr_workspace_head(const struct dr_workspace_ctx *ctx, const struct dr_workspace_tree *t, char *sha, dr_workspace_cb cb, void *data)
{
	struct head_step *h = dr_xcalloc(1, sizeof(*h));
	h->t = t;
	h->sha_out = sha;
	dr__ws_step_init(&h->s, ctx, NULL, head_start, cb, data);
	return 0;
}

struct push_step {
	struct dr_workspace_step s;
	const struct dr_workspace_tree *t;
	char *refspec, *pushed_ref;
};

static void push_release(struct dr_workspace_step *s)
{
	struct push_step *p = (struct push_step *)s;
	free(p->refspec);
	free(p->pushed_ref);
}

static void pushed_recorded(struct dr_workspace_step *s, const struct dr_proc_result *r)
{
	struct push_step *p = (struct push_step *)s;
	if (!dr__ws_ok(r))
		dr_log_debug("workspace: cannot record the push of %s: %s", p->t->branch, r->stderr_tail);
	dr__ws_finish(s, 0);
}

static void pushed(struct dr_workspace_step *s, const struct dr_proc_result *r)
{
	struct push_step *p = (struct push_step *)s;
	if (!dr__ws_ok(r)) {
		char what[256];
		snprintf(what, sizeof(what), "cannot push branch %s", p->t->branch);
		dr__ws_fail_cmd(s, r, what);
		return;
	}
	/* One ref of its own per branch: git's ref lock is enough, the cache's lock is not needed. */
	p->pushed_ref = dr_xasprintf(DR_WSLAYOUT_PUSHED_REFS "%s", p->t->branch);
	dr__ws_run(s, p->t->worktree_path, false, pushed_recorded, "git", "update-ref", p->pushed_ref, "HEAD", NULL);
}

static void push_start(struct dr_workspace_step *s)
{
	struct push_step *p = (struct push_step *)s;
	/* HEAD, not the branch by name: an agent may have committed on another branch. */
	p->refspec = dr_xasprintf("HEAD:refs/heads/%s", p->t->branch);
	dr__ws_run(s, p->t->worktree_path, true, pushed, "git", "push", "--quiet", "-u", "origin", p->refspec, NULL);
}

int dr_workspace_push(const struct dr_workspace_ctx *ctx, const struct dr_workspace_tree *t, dr_workspace_cb cb, void *data)
{
	struct push_step *p = dr_xcalloc(1, sizeof(*p));
	p->s.release = push_release;
	p->t = t;
	dr__ws_step_init(&p->s, ctx, NULL, push_start, cb, data);
	return 0;
}

/* "delego/" then [a-z0-9_-] runs separated by single '/', no leading '-' in a part. */
bool dr__ws_branch_valid(const char *b)
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
