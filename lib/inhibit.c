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
#include <unistd.h>
#ifdef __linux__
#include <sys/syscall.h>
#endif

#define WHY_MAX 200
#define PROBE_TIMEOUT_MS 5000
#define WAIT_FALLBACK_S 5

struct dr_inhibit {
	uv_loop_t *loop;
	bool enabled;
	int holds;
	struct dr_proc *proc; /* the holder while it runs */
	bool freed;           /* dr_inhibit_free came while the holder ran: its exit frees us */
	bool warned;          /* one warning per runner for a holder that would not stay */
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
	return in;
}

static void on_holder_exit(void *data, const struct dr_proc_result *res)
{
	struct dr_inhibit *in = data;
	in->proc = NULL;
	if (in->freed) {
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
		.kill_grace_ms = 2000,
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
		dr_log_debug("sleep inhibitor taken (pid %d): %s", dr_proc_pid(in->proc), why);
	}
	dr_strv_free(env);
	dr_strv_free(argv);
}

void dr_inhibit_hold(struct dr_inhibit *in, const char *why)
{
	if (!in)
		return;
	if (in->holds++ == 0 && in->enabled && !in->proc) {
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
	if (in->proc) {
		in->freed = true;
		dr_proc_terminate(in->proc);
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
