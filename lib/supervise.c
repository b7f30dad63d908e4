/* supervise: the runner's follower of an agent's supervisor files (supervise.h). */
#include "delego/supervise.h"
#include "delego/buf.h"
#include "delego/cgroup.h"
#include "delego/log.h"
#include "delego/xalloc.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#define CHUNK (64 * 1024)
#define FOLLOW_TICK_MS 200   /* the follower's look at the files */
#define CGROUP_REAP_MS 50
#define CGROUP_REAP_TRIES 40 /* ... times CGROUP_REAP_MS, after the end */
#define FOLLOW_READ_MAX (4 * 1024 * 1024) /* per file per tick: the loop stays responsive during a replay */

/* The follower --------------------------------------------------------- */

struct follow_stream {
	int fd;
	uint64_t offset;     /* read up to here */
	uint64_t consumed;   /* lines delivered up to here */
	uint64_t replay_end; /* the file's size at attach */
	struct dr_buf line;
	bool skipping;       /* the rest of an over-long line */
};

struct dr_supervise {
	uv_loop_t *loop;
	char *dir;
	int pid;
	size_t tail_max, line_max;
	dr_proc_line_cb on_line;
	dr_proc_exit_cb on_exit;
	void *data;
	uv_timer_t tick;
	uv_timer_t grace;
	uv_timer_t timeout;
	int open_handles;
	struct follow_stream s[2];
	struct dr_cgroup *cg; /* the agent's cgroup, or NULL: its process group only */
	void (*on_replayed)(void *data);
	bool terminated, finished, timed_out;
	bool caught_up; /* on_replayed was called */
	int reap_tries;
	bool alive; /* the supervisor was there at attach: its group is the agent's */
};

static void follow_closed(uv_handle_t *h)
{
	struct dr_supervise *f = h->data;
	if (--f->open_handles > 0)
		return;
	for (int i = 0; i < 2; i++) {
		if (f->s[i].fd >= 0)
			close(f->s[i].fd);
		dr_buf_release(&f->s[i].line);
	}
	dr_cgroup_free(f->cg);
	free(f->dir);
	free(f);
}

static void open_stream(struct dr_supervise *f, int i)
{
	if (f->s[i].fd >= 0)
		return;
	char *path = dr_xasprintf("%s/%s", f->dir, i == 0 ? "stdout" : "stderr");
	f->s[i].fd = open(path, O_RDONLY | O_CLOEXEC);
	free(path);
}

static void deliver(struct dr_supervise *f, int i, const char *line, size_t len, bool truncated)
{
	if (len && line[len - 1] == '\r' && !truncated)
		len--;
	if (f->on_line)
		f->on_line(f->data, i + 1, line, len, truncated);
}

static void split(struct dr_supervise *f, int i, const char *data, size_t len)
{
	struct follow_stream *s = &f->s[i];
	while (len) {
		const char *nl = memchr(data, '\n', len);
		size_t piece = nl ? (size_t)(nl - data) : len;
		if (nl)
			s->consumed += piece + 1; /* before delivery: the line is the one at the new position */
		if (!s->skipping) {
			size_t room = f->line_max - s->line.len;
			size_t take = piece < room ? piece : room;
			dr_buf_add(&s->line, data, take);
			if (take < piece || (!nl && s->line.len == f->line_max)) {
				deliver(f, i, s->line.buf, s->line.len, true);
				dr_buf_reset(&s->line);
				s->skipping = true;
			}
		}
		if (nl) {
			if (!s->skipping)
				deliver(f, i, s->line.buf, s->line.len, false);
			dr_buf_reset(&s->line);
			s->skipping = false;
			piece++;
		}
		data += piece;
		len -= piece;
	}
}

/* Reads what was added; true when the file is read to its current end. */
static bool read_stream(struct dr_supervise *f, int i)
{
	static char buf[CHUNK];
	struct follow_stream *s = &f->s[i];
	open_stream(f, i);
	if (s->fd < 0)
		return true;
	size_t done = 0;
	while (done < FOLLOW_READ_MAX) {
		ssize_t n = pread(s->fd, buf, sizeof buf, (off_t)s->offset);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return true;
		s->consumed = s->offset;
		s->offset += (uint64_t)n;
		done += (size_t)n;
		split(f, i, buf, (size_t)n);
	}
	return false;
}

/* The last tail_max bytes of a file, NUL-terminated (owned). */
static char *file_tail(struct dr_supervise *f, int i, size_t *len)
{
	struct follow_stream *s = &f->s[i];
	uint64_t from = s->offset > f->tail_max ? s->offset - f->tail_max : 0;
	size_t want = (size_t)(s->offset - from);
	char *t = dr_xmalloc(want + 1);
	ssize_t n = s->fd >= 0 ? pread(s->fd, t, want, (off_t)from) : 0;
	*len = n > 0 ? (size_t)n : 0;
	t[*len] = '\0';
	return t;
}

/*
 * After the end, every CGROUP_REAP_MS for a few ticks at most: the
 * supervisor is reaped when it is our child (after an upgrade in place:
 * no zombie is left), and the cgroup goes once the kernel has emptied it.
 */
static void on_after_end(uv_timer_t *t)
{
	struct dr_supervise *f = t->data;
	bool last = ++f->reap_tries >= CGROUP_REAP_TRIES;
	if (f->alive) {
		pid_t r = waitpid(f->pid, NULL, WNOHANG);
		if (r == f->pid || (r < 0 && errno == ECHILD))
			f->alive = false;
	}
	if (f->cg && (dr_cgroup_populated(f->cg) <= 0 || last)) {
		int r = dr_cgroup_remove(f->cg);
		if (r < 0)
			dr_log_debug("cannot remove cgroup %s (%s); the next start removes it", dr_cgroup_path(f->cg),
				     strerror(-r));
		f->cg = dr_cgroup_free(f->cg);
	}
	if ((!f->alive && !f->cg) || last) {
		uv_timer_stop(t);
		uv_close((uv_handle_t *)t, follow_closed);
	}
}

static void follow_finish(struct dr_supervise *f, int code, int sig)
{
	f->finished = true;
	for (int i = 0; i < 2; i++)
		if (f->s[i].line.len && !f->s[i].skipping)
			deliver(f, i, f->s[i].line.buf, f->s[i].line.len, false);
	struct dr_proc_result r = {
		.exit_code = code, .term_signal = sig, .terminated = f->terminated, .timed_out = f->timed_out,
	};
	char *out = file_tail(f, 0, &r.stdout_len), *err = file_tail(f, 1, &r.stderr_len);
	r.stdout_tail = out;
	r.stderr_tail = err;
	r.out = "";
	/* The group may still hold a straggler: the same end as proc gives it. */
	if (f->alive)
		(void)kill(-f->pid, SIGKILL);
	/* And what left the group (setsid, double fork) is still in the cgroup: as proc ends a job's. */
	if (f->cg) {
		int n = dr_cgroup_signal(f->cg, SIGKILL);
		if (n > 0)
			dr_log_debug("killed %d process(es) left in cgroup %s", n, dr_cgroup_path(f->cg));
	}
	uv_timer_stop(&f->grace);
	uv_timer_start(&f->grace, on_after_end, 0, CGROUP_REAP_MS);
	f->on_exit(f->data, &r);
	free(out);
	free(err);
	uv_close((uv_handle_t *)&f->tick, follow_closed);
	uv_close((uv_handle_t *)&f->timeout, follow_closed);
}

static void on_follow_tick(uv_timer_t *t)
{
	struct dr_supervise *f = t->data;
	if (f->finished)
		return;
	int code = 0, sig = 0;
	/* After an upgrade in place the supervisor is our child: reap it (ECHILD otherwise). */
	if (f->alive)
		(void)waitpid(f->pid, NULL, WNOHANG);
	/* Read the exit first: what it says was written after the last output. */
	int ex = dr_supervise_read_exit(f->dir, &code, &sig);
	bool gone = ex < 0 && (f->pid <= 1 || (kill(f->pid, 0) < 0 && errno == ESRCH));
	bool at_end = read_stream(f, 0);
	at_end = read_stream(f, 1) && at_end;
	if (at_end && !f->caught_up) {
		f->caught_up = true;
		if (f->on_replayed)
			f->on_replayed(f->data);
		if (f->finished)
			return;
	}
	if (ex == 0 && at_end)
		follow_finish(f, code, sig);
	else if (gone && at_end && dr_supervise_read_exit(f->dir, &code, &sig) < 0)
		follow_finish(f, 128 + SIGKILL, SIGKILL); /* killed with its supervisor: no status was left */
}

/* To the agent's process group and, where it has one, its cgroup. */
static void signal_agent(struct dr_supervise *f, int sig)
{
	if (f->alive)
		(void)kill(-f->pid, sig);
	if (f->cg)
		(void)dr_cgroup_signal(f->cg, sig);
}

static void on_follow_grace(uv_timer_t *t)
{
	signal_agent(t->data, SIGKILL);
}

static void on_follow_timeout(uv_timer_t *t)
{
	struct dr_supervise *f = t->data;
	int code, sig;
	/* An agent that ended in time (its status is there, unread yet) did not time out. */
	if (f->finished || f->terminated || dr_supervise_read_exit(f->dir, &code, &sig) == 0)
		return;
	f->timed_out = true;
	dr_supervise_terminate(f);
}

struct dr_supervise *dr_supervise_attach(const struct dr_supervise_opts *o)
{
	struct dr_supervise *f = dr_xcalloc(1, sizeof *f);
	f->loop = o->loop;
	f->dir = dr_xstrdup(o->dir);
	f->pid = o->pid;
	f->tail_max = o->tail_max ? o->tail_max : DR_PROC_TAIL_DEFAULT;
	f->line_max = o->line_max ? o->line_max : DR_PROC_LINE_DEFAULT;
	f->on_line = o->on_line;
	f->on_exit = o->on_exit;
	f->data = o->data;
	f->on_replayed = o->on_replayed;
	f->cg = o->cgroup;
	f->alive = f->pid > 1 && (kill(f->pid, 0) == 0 || errno == EPERM);
	for (int i = 0; i < 2; i++) {
		f->s[i].fd = -1;
		dr_buf_init(&f->s[i].line, 0);
		open_stream(f, i);
		struct stat st;
		if (f->s[i].fd >= 0 && fstat(f->s[i].fd, &st) == 0)
			f->s[i].replay_end = (uint64_t)st.st_size;
	}
	uv_timer_init(o->loop, &f->tick);
	uv_timer_init(o->loop, &f->grace);
	uv_timer_init(o->loop, &f->timeout);
	f->tick.data = f->grace.data = f->timeout.data = f;
	f->open_handles = 3;
	uv_timer_start(&f->tick, on_follow_tick, 0, FOLLOW_TICK_MS);
	if (o->timeout_ms)
		uv_timer_start(&f->timeout, on_follow_timeout, o->timeout_ms, 0);
	return f;
}

void dr_supervise_terminate(struct dr_supervise *f)
{
	if (!f || f->terminated || f->finished)
		return;
	f->terminated = true;
	signal_agent(f, SIGTERM);
	uv_timer_start(&f->grace, on_follow_grace, DR_PROC_GRACE_DEFAULT_MS, 0);
}

bool dr_supervise_replaying(const struct dr_supervise *f)
{
	return f && f->s[0].replay_end > 0 && f->s[0].consumed <= f->s[0].replay_end;
}
