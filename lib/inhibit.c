/* inhibit: a sleep inhibitor held by a child process while jobs run. */
#include "delego/inhibit.h"
#include "delego/platform.h"
#include "delego/buf.h"
#include "delego/fsutil.h"
#include "delego/log.h"
#include "delego/proc.h"
#include "delego/proc_sync.h"
#include "delego/strv.h"
#include "delego/xalloc.h"

#include <dirent.h>
#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>
#ifdef __linux__
#include <sys/syscall.h>
#endif

#define WHY_MAX 200
#define PROBE_TIMEOUT_MS 5000
#define WAIT_FALLBACK_S 5
#define HOLDER_GRACE_MS 2000 /* SIGTERM -> SIGKILL for the holder */

struct dr_inhibit {
	uv_loop_t *loop;
	bool enabled;
	int holds;
	struct dr_proc *proc; /* the holder while it runs */
	bool freed;           /* dr_inhibit_free came while the holder ran: its exit frees us */
	bool warned;          /* one warning per runner for a holder that would not stay */
	/* A holder the previous image of this process started (dr_inhibit_adopt), ours to end and reap. */
	int adopted;
	int adopted_fds[2];   /* its stdout and stderr pipes' other ends: open while it lives (no SIGPIPE) */
	bool adopted_ending;  /* SIGTERM sent; SIGKILL when kill_timer fires */
	bool handles;         /* sigchld and kill_timer are initialised */
	int open_handles;
	uv_signal_t sigchld;
	uv_timer_t kill_timer;
};

bool dr_inhibit_battery_present(const char *dir)
{
#ifdef __linux__
	if (!dir)
		dir = "/sys/class/power_supply";
	DIR *d = opendir(dir);
	if (!d)
		return false;
	bool found = false;
	struct dirent *de;
	while (!found && (de = readdir(d))) {
		if (de->d_name[0] == '.')
			continue;
		char *path = dr_xasprintf("%s/%s/type", dir, de->d_name);
		struct dr_buf b = DR_BUF_INIT(64);
		if (dr_fsutil_read_file(path, &b, NULL) == 0 && !strncmp(b.buf, "Battery", 7))
			found = true;
		dr_buf_release(&b);
		free(path);
	}
	closedir(d);
	return found;
#else
	(void)dir;
	return false;
#endif
}

bool dr_inhibit_enabled(enum dr_inhibit_mode mode, const char *power_supply_dir, char *note, size_t notelen)
{
	const char *why;
	bool on;
	if (mode == DR_INHIBIT_OFF) {
		on = false, why = "off (--inhibit-sleep off)";
	} else if (mode == DR_INHIBIT_ON) {
		on = true, why = "on (--inhibit-sleep on)";
	} else {
#ifdef DR_PLATFORM_DARWIN
		on = true, why = "on (auto: idle sleep is held off on macOS while jobs run)";
#else
		on = dr_inhibit_battery_present(power_supply_dir);
		why = on ? "on (auto: a battery is present)" : "off (auto: no battery, so not a laptop)";
#endif
	}
	if (note)
		snprintf(note, notelen, "%s", why);
	return on;
}

char **dr_inhibit_argv(const char *self, const char *why, int pid)
{
	char pidtext[32];
	snprintf(pidtext, sizeof pidtext, "%d", pid);
	struct dr_strv v = DR_STRV_INIT;
#ifdef DR_PLATFORM_DARWIN
	(void)self;
	(void)why;
	dr_strv_push(&v, "caffeinate");
	dr_strv_push(&v, "-i");
	dr_strv_push(&v, "-w");
	dr_strv_push(&v, pidtext);
#else
	if (!self) {
		dr_strv_release(&v);
		return NULL;
	}
	char *whyarg = dr_xasprintf("--why=%.*s", WHY_MAX, why ? why : "jobs are running");
	dr_strv_push(&v, "systemd-inhibit");
	dr_strv_push(&v, "--what=sleep:idle");
	dr_strv_push(&v, "--mode=block");
	dr_strv_push(&v, "--who=delego-runner");
	dr_strv_push(&v, whyarg);
	dr_strv_push(&v, self);
	dr_strv_push(&v, DR_INHIBIT_WAIT_WORD);
	dr_strv_push(&v, pidtext);
	free(whyarg);
#endif
	return dr_strv_take(&v);
}

struct dr_inhibit *dr_inhibit_new(uv_loop_t *loop, bool enabled)
{
	struct dr_inhibit *in = dr_xcalloc(1, sizeof *in);
	in->loop = loop;
	in->enabled = enabled;
	in->adopted_fds[0] = in->adopted_fds[1] = -1;
	return in;
}

static void on_handle_closed(uv_handle_t *h);

static void on_holder_exit(void *data, const struct dr_proc_result *res)
{
	struct dr_inhibit *in = data;
	in->proc = NULL;
	if (in->freed) {
		if (in->adopted)
			return; /* adopted_gone frees it */
		if (in->handles) {
			uv_close((uv_handle_t *)&in->sigchld, on_handle_closed);
			uv_close((uv_handle_t *)&in->kill_timer, on_handle_closed);
			return;
		}
		free(in);
		return;
	}
	if (!res->terminated && in->holds > 0 && !in->warned) {
		/* It ended by itself: no logind here, or it refused us. Not retried until the next first hold. */
		in->warned = true;
		int len = (int)res->stderr_len;
		while (len > 0 && (res->stderr_tail[len - 1] == '\n' || res->stderr_tail[len - 1] == '\r'))
			len--;
		dr_log_warn("cannot hold off sleep while jobs run: the inhibitor ended with status %d%s%.*s",
			res->exit_code, len ? ": " : "", len > 300 ? 300 : len,
			len > 300 ? res->stderr_tail + res->stderr_len - 300 : res->stderr_tail);
	}
}

/* A minimal environment: the inhibitor needs PATH and the session bus address, nothing of ours. */
static char **holder_env(void)
{
	static const char *const keep[] = { "PATH", "DBUS_SYSTEM_BUS_ADDRESS", "DBUS_SESSION_BUS_ADDRESS",
					    "XDG_RUNTIME_DIR", "HOME", "LANG" };
	struct dr_strv env = DR_STRV_INIT;
	for (size_t i = 0; i < sizeof keep / sizeof *keep; i++) {
		const char *v = getenv(keep[i]);
		if (v) {
			char *kv = dr_xasprintf("%s=%s", keep[i], v);
			dr_strv_push(&env, kv);
			free(kv);
		}
	}
	return dr_strv_take(&env);
}

static void start_holder(struct dr_inhibit *in, const char *why)
{
	char self[4096];
	size_t len = sizeof self;
	const char *exe = uv_exepath(self, &len) == 0 ? self : NULL;
	char **argv = dr_inhibit_argv(exe, why, (int)getpid());
	if (!argv)
		return;
	char **env = holder_env();
	struct dr_proc_opts o = {
		.argv = argv,
		.env = env,
		.tail_max = 4096,
		.kill_grace_ms = HOLDER_GRACE_MS,
		.on_exit = on_holder_exit,
		.data = in,
	};
	int r = dr_proc_spawn(in->loop, &o, &in->proc);
	if (r < 0) {
		in->proc = NULL;
		if (!in->warned)
			dr_log_warn("cannot hold off sleep while jobs run: cannot start %s: %s", argv[0], strerror(-r));
		in->warned = true;
	} else {
		dr_log_debug("sleep inhibitor taken: %s", why); /* its pid is known once it exec'ed */
	}
	dr_strv_free(env);
	dr_strv_free(argv);
}

/* Adopted holder ------------------------------------------------------ */

static void on_handle_closed(uv_handle_t *h)
{
	struct dr_inhibit *in = h->data;
	if (--in->open_handles == 0)
		free(in);
}

/* Once the adopted holder is reaped: free a struct whose free came first. */
static void adopted_gone(struct dr_inhibit *in)
{
	for (int i = 0; i < 2; i++)
		if (in->adopted_fds[i] >= 0) {
			close(in->adopted_fds[i]);
			in->adopted_fds[i] = -1;
		}
	in->adopted = 0;
	in->adopted_ending = false;
	uv_timer_stop(&in->kill_timer);
	uv_signal_stop(&in->sigchld);
	if (in->freed && !in->proc) {
		uv_close((uv_handle_t *)&in->sigchld, on_handle_closed);
		uv_close((uv_handle_t *)&in->kill_timer, on_handle_closed);
	}
}

static void reap_adopted(struct dr_inhibit *in)
{
	int st;
	pid_t r;
	while ((r = waitpid((pid_t)in->adopted, &st, WNOHANG)) < 0 && errno == EINTR)
		;
	if (r == (pid_t)in->adopted || (r < 0 && errno == ECHILD)) {
		dr_log_debug("sleep inhibitor %d (taken over) is gone", in->adopted);
		adopted_gone(in);
	}
}

static void on_adopted_sigchld(uv_signal_t *h, int signum)
{
	(void)signum;
	struct dr_inhibit *in = h->data;
	if (in->adopted)
		reap_adopted(in);
}

static void on_adopted_kill(uv_timer_t *t)
{
	struct dr_inhibit *in = t->data;
	if (in->adopted)
		(void)kill(-(pid_t)in->adopted, SIGKILL);
}

/* SIGTERM to its group (as proc ends a holder), SIGKILL after the same grace. */
static void end_adopted(struct dr_inhibit *in)
{
	if (!in->adopted || in->adopted_ending)
		return;
	in->adopted_ending = true;
	dr_log_debug("sleep inhibitor released (pid %d, taken over)", in->adopted);
	(void)kill(-(pid_t)in->adopted, SIGTERM);
	uv_timer_start(&in->kill_timer, on_adopted_kill, HOLDER_GRACE_MS, 0);
	reap_adopted(in);
}

/* fd as the previous image left it for us: one of our pipes, made close-on-exec again; else -1. */
static int adopted_fd(int fd)
{
	struct stat st;
	int fl = fd > 2 ? fcntl(fd, F_GETFD) : -1;
	if (fl < 0 || fstat(fd, &st) < 0 || !S_ISFIFO(st.st_mode))
		return -1;
	(void)fcntl(fd, F_SETFD, fl | FD_CLOEXEC);
	return fd;
}

static void set_cloexec(int fd, bool on)
{
	int fl = fd >= 0 ? fcntl(fd, F_GETFD) : -1;
	if (fl >= 0)
		(void)fcntl(fd, F_SETFD, on ? fl | FD_CLOEXEC : fl & ~FD_CLOEXEC);
}

bool dr_inhibit_handover(struct dr_inhibit *in, char *out, size_t len)
{
	int pid = dr_inhibit_holder_pid(in), fds[2] = { -1, -1 };
	if (!pid)
		return false;
	if (in->adopted)
		fds[0] = in->adopted_fds[0], fds[1] = in->adopted_fds[1];
	else
		dr_proc_output_fds(in->proc, fds);
	/* The pipes stay open across the exec: a holder that writes to them must not die of SIGPIPE. */
	for (int i = 0; i < 2; i++)
		set_cloexec(fds[i], false);
	snprintf(out, len, "%d %d %d", pid, fds[0], fds[1]);
	return true;
}

void dr_inhibit_handover_undo(struct dr_inhibit *in)
{
	int fds[2] = { -1, -1 };
	if (in && in->adopted)
		fds[0] = in->adopted_fds[0], fds[1] = in->adopted_fds[1];
	else if (in && in->proc)
		dr_proc_output_fds(in->proc, fds);
	for (int i = 0; i < 2; i++)
		set_cloexec(fds[i], true);
}

void dr_inhibit_adopt(struct dr_inhibit *in, const char *handover)
{
	int pid = 0, fds[2] = { -1, -1 };
	if (!in || !handover || sscanf(handover, "%d %d %d", &pid, &fds[0], &fds[1]) < 1)
		return;
	for (int i = 0; i < 2; i++)
		fds[i] = adopted_fd(fds[i]);
	if (pid <= 1 || in->adopted || in->proc) {
		for (int i = 0; i < 2; i++)
			if (fds[i] >= 0)
				close(fds[i]);
		return;
	}
	int st;
	/* Only a child of ours that still runs: anything else is not the holder we handed over. */
	pid_t r = waitpid((pid_t)pid, &st, WNOHANG);
	if (r != 0) { /* reaped now (it had ended), or not our child */
		for (int i = 0; i < 2; i++)
			if (fds[i] >= 0)
				close(fds[i]);
		return;
	}
	in->adopted_fds[0] = fds[0];
	in->adopted_fds[1] = fds[1];
	if (!in->handles) {
		uv_signal_init(in->loop, &in->sigchld);
		uv_timer_init(in->loop, &in->kill_timer);
		in->sigchld.data = in->kill_timer.data = in;
		in->open_handles = 2;
		in->handles = true;
	}
	in->adopted = pid;
	uv_signal_start(&in->sigchld, on_adopted_sigchld, SIGCHLD);
	dr_log_debug("sleep inhibitor %d taken over from the previous image", pid);
	if (!in->enabled)
		end_adopted(in);
}

void dr_inhibit_trim(struct dr_inhibit *in)
{
	if (in && in->holds == 0)
		end_adopted(in);
}

int dr_inhibit_holder_pid(const struct dr_inhibit *in)
{
	if (!in)
		return 0;
	if (in->adopted && !in->adopted_ending)
		return in->adopted;
	return in->proc ? dr_proc_pid(in->proc) : 0;
}

void dr_inhibit_hold(struct dr_inhibit *in, const char *why)
{
	if (!in)
		return;
	if (in->holds++ == 0 && in->enabled && !in->proc && (!in->adopted || in->adopted_ending)) {
		in->warned = false;
		start_holder(in, why);
	}
}

void dr_inhibit_release(struct dr_inhibit *in)
{
	if (!in || in->holds == 0)
		return;
	if (--in->holds == 0 && in->proc) {
		dr_log_debug("sleep inhibitor released (pid %d)", dr_proc_pid(in->proc));
		dr_proc_terminate(in->proc);
	}
	if (in->holds == 0)
		end_adopted(in);
}

int dr_inhibit_holds(const struct dr_inhibit *in)
{
	return in ? in->holds : 0;
}

void dr_inhibit_free(struct dr_inhibit *in)
{
	if (!in)
		return;
	in->holds = 0;
	in->freed = true;
	end_adopted(in);
	if (in->proc) {
		dr_proc_terminate(in->proc);
		return;
	}
	if (in->adopted)
		return; /* adopted_gone closes the handles */
	if (in->handles) {
		uv_close((uv_handle_t *)&in->sigchld, on_handle_closed);
		uv_close((uv_handle_t *)&in->kill_timer, on_handle_closed);
		return;
	}
	free(in);
}

int dr_inhibit_probe(char *note, size_t notelen)
{
#ifdef DR_PLATFORM_DARWIN
	char *argv[] = { "caffeinate", "-i", "true", NULL };
#else
	char *argv[] = { "systemd-inhibit", "--what=sleep:idle", "--mode=block", "--who=delego-runner",
			 "--why=delego-runner doctor checks that it can hold off sleep", "true", NULL };
#endif
	struct dr_buf out = DR_BUF_INIT(4096);
	int status = 0;
	int r = dr_proc_sync_run(argv, PROBE_TIMEOUT_MS, &out, &status);
	int len = (int)out.len;
	while (len > 0 && (out.buf[len - 1] == '\n' || out.buf[len - 1] == '\r'))
		len--;
	if (len > 200)
		len = 200;
	if (r < 0)
		snprintf(note, notelen, "cannot run %s: %s", argv[0], strerror(-r));
	else if (status != 0)
		snprintf(note, notelen, "%s failed (exit %d)%s%.*s", argv[0], status, len ? ": " : "", len, out.buf);
	else
		snprintf(note, notelen, "%s can hold off sleep here", argv[0]);
	dr_buf_release(&out);
	return r < 0 ? r : status != 0 ? -EPERM : 0;
}

int dr_inhibit_wait_main(int argc, char **argv)
{
	char *end = NULL;
	long pid = argc == 3 ? strtol(argv[2], &end, 10) : 0;
	if (pid <= 1 || !end || *end) {
		fprintf(stderr, "delego-runner: %s takes a PID\n", DR_INHIBIT_WAIT_WORD);
		return 64;
	}
	/* Nothing of ours to hold: fds 0-2 stay for the inhibitor's own use. */
#if defined(__linux__) && defined(SYS_pidfd_open)
	int fd = (int)syscall(SYS_pidfd_open, (pid_t)pid, 0);
	if (fd >= 0) {
		struct pollfd p = { .fd = fd, .events = POLLIN };
		while (poll(&p, 1, -1) < 0 && errno == EINTR)
			;
		return 0;
	}
#endif
	while (kill((pid_t)pid, 0) == 0 || errno == EPERM)
		sleep(WAIT_FALLBACK_S);
	return 0;
}
