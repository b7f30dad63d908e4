/*
 * proc: spawn in a process group, split and bound output, TERM then KILL,
 * done on exit AND EOF (tmux job.c's JOB_DEAD/JOB_CLOSED, as two flags).
 */
#include "delego/proc.h"
#include "delego/buf.h"
#include "delego/cgroup.h"
#include "delego/supervise.h"
#include "delego/log.h"
#include "delego/redact.h"
#include "delego/sandbox.h"
#include "delego/strv.h"
#include "delego/xalloc.h"
#include "proc-int.h"

#include <errno.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

extern char **environ;

#define READ_CHUNK (64 * 1024)
#define DEFAULT_RUN_CAPTURE (8 * 1024 * 1024)
#define REAP_EVERY_MS 20
#define REAP_MAX_MS 10000

struct stream {
	struct dr_proc *p;
	int fd;            /* 1 or 2 */
	uv_pipe_t pipe;
	bool eof;          /* EOF seen, error, or cut by us */
	struct dr_buf line; /* the line being assembled (capped at line_max) */
	bool skipping;     /* dropping the rest of an over-long line */
	struct dr_buf_tail tail; /* raw bytes: redacted once, when the run ends */
	char *redacted;      /* the tail as reported (see redacted_tail) */
};

struct dr_proc {
	uv_loop_t *loop;
	uv_signal_t sigchld; /* our own reaping: the child is not a uv_process_t (see spawn_run) */
	uv_async_t started;  /* the spawn thread is done with spawn_req */
	struct dr__proc_req *spawn_req;
	atomic_bool spawn_done;
	uv_timer_t timeout_timer;
	uv_timer_t grace_timer;
	uv_timer_t drain_timer;
	uv_timer_t reap_timer; /* cgroup: polls cgroup.events until it is empty */
	struct stream out, err;
	int open_handles; /* freed from the close callback that brings this to 0 */
	int pid;

	bool spawned;
	bool exited;
	bool finished; /* on_exit ran (or is running) */
	bool term_sent;
	bool timed_out;
	bool pipes_cut;
	int exit_status;
	int term_signal;

	struct dr_cgroup *cg; /* the child's own cgroup (the caller's), or NULL: process group only */
	bool bwrap;           /* the child is bwrap: it reports the agent's death by signal N as exit 128 + N */
	int leftovers;        /* processes still in the cgroup when the run ended */
	uint64_t reap_started;

	uint64_t grace_ms;
	uint64_t drain_ms;
	size_t line_max;
	size_t capture_max;
	struct dr_buf capture;
	bool capture_truncated;

	dr_proc_line_cb on_line;
	dr_proc_exit_cb on_exit;
	dr_proc_start_cb on_start;
	void *data;
	char rbuf[READ_CHUNK];
};

static void on_handle_closed(uv_handle_t *h)
{
	struct dr_proc *p = h->data;
	if (--p->open_handles > 0)
		return;
	dr_buf_release(&p->out.line);
	dr_buf_release(&p->err.line);
	dr_buf_tail_release(&p->out.tail);
	dr_buf_tail_release(&p->err.tail);
	free(p->out.redacted);
	free(p->err.redacted);
	dr_buf_release(&p->capture);
	free(p);
}

static void close_handle(struct dr_proc *p, uv_handle_t *h)
{
	h->data = p;
	if (!uv_is_closing(h))
		uv_close(h, on_handle_closed);
}

static void close_all(struct dr_proc *p)
{
	close_handle(p, (uv_handle_t *)&p->timeout_timer);
	close_handle(p, (uv_handle_t *)&p->grace_timer);
	close_handle(p, (uv_handle_t *)&p->drain_timer);
	close_handle(p, (uv_handle_t *)&p->reap_timer);
	close_handle(p, (uv_handle_t *)&p->out.pipe);
	close_handle(p, (uv_handle_t *)&p->err.pipe);
	close_handle(p, (uv_handle_t *)&p->sigchld);
	close_handle(p, (uv_handle_t *)&p->started);
}

static void kill_group(struct dr_proc *p, int sig)
{
	if (p->pid <= 0)
		return;
	int r = uv_kill(-p->pid, sig);
	if (r < 0 && r != UV_ESRCH)
		dr_log_debug("proc %d: kill(-%d, %d): %s", p->pid, p->pid, sig, uv_strerror(r));
	/* The cgroup also holds what left the group (setsid, double fork). */
	if (p->cg && (r = dr_cgroup_signal(p->cg, sig)) < 0)
		dr_log_debug("proc %d: signal %d to cgroup %s: %s", p->pid, sig, dr_cgroup_path(p->cg), strerror(-r));
}

static void deliver(struct stream *s, const char *line, size_t len, bool truncated)
{
	struct dr_proc *p = s->p;
	if (len > 0 && line[len - 1] == '\r' && !truncated)
		len--;
	if (p->on_line)
		p->on_line(p->data, s->fd, line, len, truncated);
}

/* Splits data into lines; each complete line goes to on_line at once. */
static void split_lines(struct stream *s, const char *data, size_t len)
{
	struct dr_proc *p = s->p;
	while (len > 0) {
		const char *nl = memchr(data, '\n', len);
		size_t piece = nl ? (size_t)(nl - data) : len;
		if (s->skipping) {
			/* Rest of an over-long line already delivered truncated. */
		} else if (s->line.len + piece > p->line_max) {
			size_t room = p->line_max - s->line.len;
			dr_buf_add(&s->line, data, room);
			deliver(s, s->line.buf, s->line.len, true);
			dr_buf_reset(&s->line);
			s->skipping = true;
		} else if (nl && s->line.len == 0) {
			deliver(s, data, piece, false); /* no copy for the common case */
		} else {
			dr_buf_add(&s->line, data, piece);
			if (nl) {
				deliver(s, s->line.buf, s->line.len, false);
				dr_buf_reset(&s->line);
			}
		}
		if (!nl)
			return;
		s->skipping = false;
		data = nl + 1;
		len -= piece + 1;
	}
}

static void maybe_finish(struct dr_proc *p);

static void stream_end(struct stream *s)
{
	if (s->eof)
		return;
	s->eof = true;
	uv_read_stop((uv_stream_t *)&s->pipe);
	if (s->line.len > 0 && !s->skipping)
		deliver(s, s->line.buf, s->line.len, false);
	dr_buf_reset(&s->line);
	maybe_finish(s->p);
}

static void on_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf)
{
	struct stream *s = h->data;
	buf->base = s->p->rbuf;
	buf->len = sizeof(s->p->rbuf);
}

static void on_read(uv_stream_t *st, ssize_t n, const uv_buf_t *buf)
{
	struct stream *s = st->data;
	struct dr_proc *p = s->p;
	if (n < 0) {
		if (n != UV_EOF)
			dr_log_debug("proc %d: read fd %d: %s", p->pid, s->fd, uv_strerror((int)n));
		stream_end(s);
		return;
	}
	if (n == 0 || s->eof)
		return;
	dr_buf_tail_add(&s->tail, buf->base, (size_t)n);
	if (s->fd == 1 && p->capture_max > 0 && !p->capture_truncated) {
		size_t room = p->capture_max - p->capture.len;
		size_t take = (size_t)n < room ? (size_t)n : room;
		dr_buf_add(&p->capture, buf->base, take);
		if (take < (size_t)n)
			p->capture_truncated = true;
	}
	if (p->on_line)
		split_lines(s, buf->base, (size_t)n);
}

/*
 * Redacting only what is kept, once, costs a pass over the tail instead of
 * one over every byte the agent wrote; CUT_START masks the piece of a
 * secret the tail's first byte may have cut.
 */
static const char *redacted_tail(struct stream *s, size_t *len)
{
	free(s->redacted);
	s->redacted = dr_redact_dup(NULL, dr_buf_tail_str(&s->tail), dr_buf_tail_len(&s->tail),
				    dr_buf_tail_cut(&s->tail) ? DR_REDACT_CUT_START : 0, len);
	return s->redacted;
}

static void deliver_exit(struct dr_proc *p)
{
	bool contained = p->cg != NULL;
	p->cg = NULL; /* empty now: the caller removes it */
	size_t out_len, err_len;
	const char *out_tail = redacted_tail(&p->out, &out_len);
	const char *err_tail = redacted_tail(&p->err, &err_len);
	struct dr_proc_result r = {
		.exit_code = p->term_signal ? 128 + p->term_signal : p->exit_status,
		.term_signal = p->term_signal,
		.timed_out = p->timed_out,
		.terminated = p->term_sent,
		.pipes_cut = p->pipes_cut,
		.stdout_tail = out_tail,
		.stdout_len = out_len,
		.stderr_tail = err_tail,
		.stderr_len = err_len,
		.out = p->capture.buf,
		.out_len = p->capture.len,
		.out_truncated = p->capture_truncated,
		.contained = contained,
		.leftovers = p->leftovers,
	};
	p->on_exit(p->data, &r);
	close_all(p);
}

static void on_reap(uv_timer_t *t)
{
	struct dr_proc *p = t->data;
	int populated = dr_cgroup_populated(p->cg);
	if (populated > 0 && uv_now(p->loop) - p->reap_started < REAP_MAX_MS) {
		(void)dr_cgroup_signal(p->cg, SIGKILL); /* again: one forked while the first kill went round */
		return;
	}
	uv_timer_stop(&p->reap_timer);
	if (populated > 0)
		dr_log_debug("proc %d: cgroup %s still populated %d ms after SIGKILL", p->pid, dr_cgroup_path(p->cg),
			 REAP_MAX_MS);
	deliver_exit(p);
}

static void finish(struct dr_proc *p)
{
	p->finished = true;
	uv_timer_stop(&p->timeout_timer);
	uv_timer_stop(&p->grace_timer);
	uv_timer_stop(&p->drain_timer);
	if (p->term_sent)
		kill_group(p, SIGKILL); /* a terminated run leaves no survivor in its group */
	if (p->cg) {
		/* Nothing the agent started outlives its run: daemons and setsid'd children included. */
		int n = dr_cgroup_signal(p->cg, SIGKILL);
		if (n > 0) {
			p->leftovers = n;
			dr_log_debug("proc %d: killed %d process(es) left in cgroup %s", p->pid, n, dr_cgroup_path(p->cg));
		}
		if (dr_cgroup_populated(p->cg) > 0) {
			p->reap_started = uv_now(p->loop);
			uv_timer_start(&p->reap_timer, on_reap, REAP_EVERY_MS, REAP_EVERY_MS);
			return;
		}
	}
	deliver_exit(p);
}

static void maybe_finish(struct dr_proc *p)
{
	/* The drain timer, started at exit, covers a pipe that stays open. */
	if (!p->finished && p->exited && p->out.eof && p->err.eof)
		finish(p);
}

static void on_drain(uv_timer_t *t)
{
	struct dr_proc *p = t->data;
	/* The child is gone but something in its group still holds a pipe. */
	dr_log_debug("proc %d: pipes still open %llu ms after exit; killing the group", p->pid,
		 (unsigned long long)p->drain_ms);
	kill_group(p, SIGKILL);
	p->pipes_cut = true;
	struct stream *ss[2] = { &p->out, &p->err };
	for (int i = 0; i < 2 && !p->finished; i++) {
		if (!ss[i]->eof)
			stream_end(ss[i]);
	}
}

static void on_sigchld(uv_signal_t *h, int signum)
{
	(void)signum;
	struct dr_proc *p = h->data;
	int st;
	pid_t r = 0;
	while (p->pid > 0 && (r = waitpid(p->pid, &st, WNOHANG)) < 0 && errno == EINTR)
		;
	if (p->pid <= 0 || r != p->pid || p->exited)
		return; /* another child's SIGCHLD, or ours not started yet */
	uv_signal_stop(&p->sigchld);
	p->exited = true;
	p->exit_status = WIFEXITED(st) ? WEXITSTATUS(st) : 0;
	p->term_signal = WIFSIGNALED(st) ? WTERMSIG(st) : 0;
	int status = p->exit_status, sig = p->term_signal;
	if (p->bwrap && !sig && status > 128 && status < 128 + 65) {
		p->term_signal = (int)status - 128;
		p->exit_status = 0;
	}
	if (!(p->out.eof && p->err.eof))
		uv_timer_start(&p->drain_timer, on_drain, p->drain_ms, 0);
	maybe_finish(p);
}

static void on_grace(uv_timer_t *t)
{
	struct dr_proc *p = t->data;
	dr_log_debug("proc %d: still running %llu ms after SIGTERM; SIGKILL to the group", p->pid,
		 (unsigned long long)p->grace_ms);
	kill_group(p, SIGKILL);
}

void dr_proc_terminate(struct dr_proc *p)
{
	if (!p || p->finished || p->term_sent)
		return;
	p->term_sent = true;
	kill_group(p, SIGTERM);
	uv_timer_start(&p->grace_timer, on_grace, p->grace_ms, 0);
}

static void on_timeout(uv_timer_t *t)
{
	struct dr_proc *p = t->data;
	p->timed_out = true;
	dr_proc_terminate(p);
}

int dr_proc_pid(const struct dr_proc *p)
{
	return p->pid;
}

void dr_proc_output_fds(const struct dr_proc *p, int fds[2])
{
	const struct stream *s[2] = { &p->out, &p->err };
	for (int i = 0; i < 2; i++) {
		uv_os_fd_t fd;
		fds[i] = !s[i]->eof && uv_fileno((const uv_handle_t *)&s[i]->pipe, &fd) == 0 ? (int)fd : -1;
	}
}


/*
 * The shim command line that puts the child into its cgroup before the
 * agent execs: the sandbox's shim when there is a sandbox (it joins the
 * cgroup itself), else the cgroup shim. Without a cgroup (or a shim) the
 * child runs in its group only; without its sandbox, never.
 */
static int enter_cgroup(struct dr_proc *p, const struct dr_proc_opts *o, const char *file, char ***argv)
{
	bool sandbox = o->sandbox && o->sandbox->mode != DR_SANDBOX_OFF;
	if (!o->cgroup && !sandbox)
		return 0;
	char *exe = NULL;
	int r = dr_proc_find_executable(file, o->env, o->cwd, &exe);
	if (r < 0)
		return r;
	p->cg = o->cgroup;
	if (sandbox) {
		char *procs = p->cg ? dr_xasprintf("%s/cgroup.procs", dr_cgroup_path(p->cg)) : NULL;
		*argv = dr_sandbox_argv(o->sandbox, exe, o->argv, procs);
		p->bwrap = o->sandbox->mode == DR_SANDBOX_BWRAP;
		free(procs);
	} else if (p->cg) {
		*argv = dr_cgroup_shim_argv(p->cg, exe, o->argv);
	}
	free(exe);
	if (!*argv)
		p->cg = NULL;
	return sandbox && !*argv ? -EINVAL : 0;
}

/*
 * Puts our supervisor (supervise.h) in front of what would run: the cgroup
 * shim's command line when there is one, else the program itself, found
 * here so that a missing one is still -ENOENT.
 */
static int wrap_in_supervisor(const struct dr_proc_opts *o, const char *file, char ***argv)
{
	char self[PATH_MAX];
	size_t len = sizeof self;
	char *exe = NULL;
	if (uv_exepath(self, &len) < 0)
		return 0; /* unknown: it runs without one, as before */
	/* delego-runner-exec beside us understands the word too, in a fraction of our memory. */
	char *slash = strrchr(self, '/');
	char *small = slash ? dr_xasprintf("%.*s/delego-runner-exec", (int)(slash - self), self) : NULL;
	if (small && access(small, X_OK) == 0 && strlen(small) < sizeof self)
		memcpy(self, small, strlen(small) + 1);
	free(small);
	int r = *argv ? 0 : dr_proc_find_executable(file, o->env, o->cwd, &exe);
	if (r < 0)
		return r;
	struct dr_strv v = DR_STRV_INIT;
	dr_strv_push(&v, self);
	dr_strv_push(&v, DR_SUPERVISE_WORD);
	dr_strv_push(&v, o->supervise_dir);
	dr_strv_push(&v, *argv ? (*argv)[0] : exe);
	for (char *const *a = *argv ? *argv : o->argv; *a; a++)
		dr_strv_push(&v, *a);
	free(exe);
	dr_strv_free(*argv);
	*argv = dr_strv_take(&v);
	return 0;
}


/* The child is known (or failed to exec) on the loop from here. */
static void spawn_settle(struct dr_proc *p, struct dr__proc_req *q)
{
	if (q->err < 0) {
		/* Like a shell: 127, and why on stderr; the pipes' EOF ends the run. */
		char msg[256];
		int n = snprintf(msg, sizeof msg, "cannot execute: %s\n", strerror(-q->err));
		dr_buf_tail_add(&p->err.tail, msg, (size_t)n);
		uv_signal_stop(&p->sigchld);
		p->exited = true;
		p->exit_status = 127;
		free(q);
		return;
	}
	p->pid = q->pid;
	free(q);
	if (p->term_sent)
		kill_group(p, SIGTERM); /* terminated before it started; the grace timer runs */
	if (p->on_start)
		p->on_start(p->data, p->pid);
	on_sigchld(&p->sigchld, SIGCHLD); /* it may have exited already */
}

/* On the spawner thread: the exec is done (or failed). */
static void spawn_done(void *data)
{
	struct dr_proc *p = data;
	atomic_store_explicit(&p->spawn_done, true, memory_order_release);
	uv_async_send(&p->started);
}

static void on_started(uv_async_t *h)
{
	struct dr_proc *p = h->data;
	if (p->spawn_req && atomic_load_explicit(&p->spawn_done, memory_order_acquire)) {
		struct dr__proc_req *q = p->spawn_req;
		p->spawn_req = NULL;
		spawn_settle(p, q);
		maybe_finish(p);
	}
}

/*
 * A spawner thread waits for the exec (posix_spawn blocks its caller
 * until then, which on the loop stalls every job); the pid is known once
 * on_started ran, and a failed exec then ends the run with 127.
 */
static int spawn_child(struct dr_proc *p, const char *file, char *const *argv, const struct dr_proc_opts *o)
{
	struct dr__proc_req *q;
	int out_rd, err_rd;
	int r = dr__proc_req_new(file, argv, o->env, o->cwd, &q, &out_rd, &err_rd);
	if (r < 0)
		return r;
	uv_pipe_open(&p->out.pipe, out_rd);
	uv_pipe_open(&p->err.pipe, err_rd);
	p->spawn_req = q;
	q->done = spawn_done;
	q->done_data = p;
	if (dr__proc_req_submit(q) == 0)
		return 0;
	/* No spawner to be had: here, then, as before (the loop waits this once). */
	p->spawn_req = NULL;
	dr__proc_req_run(q);
	if ((r = q->err) < 0) {
		free(q);
		return r;
	}
	spawn_settle(p, q);
	return 0;
}

static int start(uv_loop_t *loop, const struct dr_proc_opts *o, struct dr_proc **out)
{
	if (!loop || !o || !o->argv || !o->argv[0] || !o->on_exit)
		return -EINVAL;
	if (o->cwd) {
		struct stat st;
		if (stat(o->cwd, &st) < 0 || !S_ISDIR(st.st_mode))
			return -ENOTDIR;
	}

	struct dr_proc *p = dr_xcalloc(1, sizeof(*p));
	const char *file = o->file ? o->file : o->argv[0];
	char **shim_argv = NULL;
	int r = enter_cgroup(p, o, file, &shim_argv);
	if (r == 0 && o->supervise_dir)
		r = wrap_in_supervisor(o, file, &shim_argv);
	if (r < 0) {
		dr_strv_free(shim_argv);
		free(p); /* nothing else is made yet */
		return r;
	}
	p->loop = loop;
	p->grace_ms = o->kill_grace_ms ? o->kill_grace_ms : DR_PROC_GRACE_DEFAULT_MS;
	p->drain_ms = o->drain_ms ? o->drain_ms : DR_PROC_DRAIN_DEFAULT_MS;
	p->line_max = o->line_max ? o->line_max : DR_PROC_LINE_DEFAULT;
	p->capture_max = o->capture_max;
	p->on_line = o->on_line;
	p->on_exit = o->on_exit;
	p->on_start = o->on_start;
	p->data = o->data;
	dr_buf_init(&p->capture, 0);
	size_t tail_max = o->tail_max ? o->tail_max : DR_PROC_TAIL_DEFAULT;
	struct stream *ss[2] = { &p->out, &p->err };
	for (int i = 0; i < 2; i++) {
		ss[i]->p = p;
		ss[i]->fd = i + 1;
		dr_buf_init(&ss[i]->line, 0);
		dr_buf_tail_init(&ss[i]->tail, tail_max);
	}

	uv_timer_init(loop, &p->timeout_timer);
	uv_timer_init(loop, &p->grace_timer);
	uv_timer_init(loop, &p->drain_timer);
	uv_timer_init(loop, &p->reap_timer);
	uv_pipe_init(loop, &p->out.pipe, 0);
	uv_pipe_init(loop, &p->err.pipe, 0);
	uv_signal_init(loop, &p->sigchld);
	uv_async_init(loop, &p->started, on_started);
	p->open_handles = 8; /* four timers, two pipes, the SIGCHLD watcher, the start notice */
	p->timeout_timer.data = p->grace_timer.data = p->drain_timer.data = p->reap_timer.data = p;
	p->sigchld.data = p->started.data = p;
	p->out.pipe.data = &p->out;
	p->err.pipe.data = &p->err;

	/* Watching before the spawn: a child that exits at once is still seen. */
	uv_signal_start(&p->sigchld, on_sigchld, SIGCHLD);
	r = spawn_child(p, shim_argv ? shim_argv[0] : file, shim_argv ? shim_argv : (char *const *)o->argv, o);
	dr_strv_free(shim_argv);
	if (r < 0) {
		/* The handles were initialised: they must be closed, and free p when they are. */
		p->cg = NULL;
		p->finished = true;
		close_all(p);
		return r;
	}
	p->spawned = true;
	for (int i = 0; i < 2; i++) {
		r = uv_read_start((uv_stream_t *)&ss[i]->pipe, on_alloc, on_read);
		if (r < 0) {
			dr_log_debug("proc %d: read start: %s", p->pid, uv_strerror(r));
			ss[i]->eof = true;
		}
	}
	if (o->timeout_ms > 0)
		uv_timer_start(&p->timeout_timer, on_timeout, o->timeout_ms, 0);
	*out = p;
	return 0;
}

int dr_proc_spawn(uv_loop_t *loop, const struct dr_proc_opts *o, struct dr_proc **out)
{
	return start(loop, o, out);
}

int dr_proc_run(uv_loop_t *loop, char *const *argv, char *const *env, const char *cwd, uint64_t timeout_ms,
		size_t out_max, dr_proc_exit_cb cb, void *data)
{
	struct dr_proc_opts o = {
		.argv = argv,
		.env = env,
		.cwd = cwd,
		.timeout_ms = timeout_ms,
		.capture_max = out_max ? out_max : DEFAULT_RUN_CAPTURE,
		.on_exit = cb,
		.data = data,
	};
	struct dr_proc *p;
	return start(loop, &o, &p);
}
