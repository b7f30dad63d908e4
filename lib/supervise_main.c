/*
 * supervise_main: the agent's supervisor process (supervise.h), a plain poll loop on libc alone:
 * it lives as long as the agent, so it links nothing it does not use (no libuv).
 */
#include "delego/supervise.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define CHUNK (64 * 1024)
#define DRAIN_MS 2000        /* after the agent's exit, how long its pipes may stay open */

/* The supervisor ------------------------------------------------------ */

static int sigchld_pipe[2] = { -1, -1 };

static void on_sigchld(int sig)
{
	(void)sig;
	int e = errno;
	ssize_t n = write(sigchld_pipe[1], "c", 1);
	(void)n;
	errno = e;
}

static void set_cloexec(int fd)
{
	int fl = fcntl(fd, F_GETFD);
	if (fl >= 0)
		(void)fcntl(fd, F_SETFD, fl | FD_CLOEXEC);
}

static bool write_all(int fd, const char *p, size_t len)
{
	while (len) {
		ssize_t n = write(fd, p, len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return false;
		p += n;
		len -= (size_t)n;
	}
	return true;
}

static uint64_t now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

struct sup_stream {
	int in;         /* the agent's pipe; -1 at EOF */
	int file;       /* DIR/stdout or DIR/stderr */
	size_t written; /* to the file, up to max */
	size_t max;
	int fwd;        /* 1 or 2: the runner's pipe; -1 once it is gone */
};

static void pump(struct sup_stream *s, char *buf)
{
	ssize_t n = read(s->in, buf, CHUNK);
	if (n < 0 && (errno == EINTR || errno == EAGAIN))
		return;
	if (n <= 0) {
		close(s->in);
		s->in = -1;
		return;
	}
	size_t room = s->max - s->written;
	size_t k = (size_t)n < room ? (size_t)n : room;
	if (k && write_all(s->file, buf, k))
		s->written += k;
	/* A runner that died, or stopped reading for good, must not stop the agent. */
	if (s->fwd >= 0 && !write_all(s->fwd, buf, (size_t)n))
		s->fwd = -1;
}

static void write_exit(const char *dir, int code, int sig)
{
	char tmp[4096], path[4096], text[64];
	snprintf(tmp, sizeof tmp, "%s/exit.tmp", dir);
	snprintf(path, sizeof path, "%s/exit", dir);
	int len = snprintf(text, sizeof text, "%d %d\n", code, sig);
	int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (fd < 0)
		return;
	bool ok = write_all(fd, text, (size_t)len) && fsync(fd) == 0;
	close(fd);
	if (ok)
		(void)rename(tmp, path);
}

static pid_t start_agent(char **argv, int out[2], int err[2])
{
	pid_t pid = fork();
	if (pid != 0)
		return pid;
	signal(SIGTERM, SIG_DFL);
	signal(SIGINT, SIG_DFL);
	signal(SIGHUP, SIG_DFL);
	signal(SIGCHLD, SIG_DFL);
	dup2(out[1], 1);
	dup2(err[1], 2);
	execv(argv[0], argv + 1);
	int e = errno;
	fprintf(stderr, "delego-runner: cannot run %s: %s\n", argv[0], strerror(e));
	_exit(e == ENOENT ? 127 : 126);
}

/* Until the agent has exited and its pipes are drained (or DRAIN_MS after its exit). Returns its wait status. */
static int supervise_loop(pid_t pid, struct sup_stream *ss)
{
	static char buf[CHUNK];
	int status = 0;
	bool exited = false;
	uint64_t deadline = 0;
	for (;;) {
		if (exited && (ss[0].in < 0 && ss[1].in < 0))
			break;
		if (!exited && ss[0].in < 0 && ss[1].in < 0) {
			/* Both pipes closed, the agent still runs: nothing to copy, wait for it. */
			while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
				;
			break;
		}
		int timeout = -1;
		if (exited) {
			uint64_t t = now_ms();
			if (t >= deadline)
				break;
			timeout = (int)(deadline - t);
		}
		struct pollfd fds[3] = {
			{ .fd = ss[0].in, .events = POLLIN },
			{ .fd = ss[1].in, .events = POLLIN },
			{ .fd = sigchld_pipe[0], .events = POLLIN },
		};
		if (poll(fds, 3, timeout) < 0 && errno != EINTR)
			break;
		for (int i = 0; i < 2; i++)
			if (ss[i].in >= 0 && (fds[i].revents & (POLLIN | POLLHUP | POLLERR)))
				pump(&ss[i], buf);
		if (fds[2].revents & POLLIN) {
			char c[64];
			while (read(sigchld_pipe[0], c, sizeof c) > 0)
				;
		}
		if (!exited && waitpid(pid, &status, WNOHANG) == pid) {
			exited = true;
			deadline = now_ms() + DRAIN_MS;
		}
	}
	return status;
}

int dr_supervise_main(int argc, char **argv)
{
	if (argc < 5) {
		fprintf(stderr, "delego-runner: %s takes DIR FILE ARG0 [ARG...]\n", DR_SUPERVISE_WORD);
		return 125;
	}
	const char *dir = argv[2];
	char path[4096];
	struct sup_stream ss[2] = {
		{ .max = DR_SUPERVISE_STDOUT_MAX, .fwd = 1 },
		{ .max = DR_SUPERVISE_STDERR_MAX, .fwd = 2 },
	};
	int out[2], err[2];
	for (int i = 0; i < 2; i++) {
		snprintf(path, sizeof path, "%s/%s", dir, i == 0 ? "stdout" : "stderr");
		ss[i].file = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_APPEND | O_CLOEXEC, 0600);
		if (ss[i].file < 0) {
			fprintf(stderr, "delego-runner: cannot write %s: %s\n", path, strerror(errno));
			return 125;
		}
	}
	if (pipe(out) < 0 || pipe(err) < 0 || pipe(sigchld_pipe) < 0) {
		fprintf(stderr, "delego-runner: supervisor: pipe: %s\n", strerror(errno));
		return 125;
	}
	set_cloexec(out[0]);
	set_cloexec(err[0]);
	set_cloexec(sigchld_pipe[0]);
	set_cloexec(sigchld_pipe[1]);
	(void)fcntl(sigchld_pipe[0], F_SETFL, O_NONBLOCK);
	(void)fcntl(sigchld_pipe[1], F_SETFL, O_NONBLOCK);
	signal(SIGTERM, SIG_IGN);
	signal(SIGINT, SIG_IGN);
	signal(SIGHUP, SIG_IGN);
	signal(SIGPIPE, SIG_IGN);
	struct sigaction sa = { .sa_handler = on_sigchld, .sa_flags = SA_NOCLDSTOP };
	sigemptyset(&sa.sa_mask);
	sigaction(SIGCHLD, &sa, NULL);

	pid_t pid = start_agent(argv + 3, out, err);
	if (pid < 0) {
		fprintf(stderr, "delego-runner: supervisor: fork: %s\n", strerror(errno));
		return 125;
	}
	close(out[1]);
	close(err[1]);
	ss[0].in = out[0];
	ss[1].in = err[0];
	int status = supervise_loop(pid, ss);
	int code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
	int sig = WIFSIGNALED(status) ? WTERMSIG(status) : 0;
	write_exit(dir, code, sig);
	if (sig) {
		signal(sig, SIG_DFL);
		raise(sig);
	}
	return code;
}

int dr_supervise_read_exit(const char *dir, int *code, int *sig)
{
	char path[4096], text[64];
	snprintf(path, sizeof path, "%s/exit", dir);
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	ssize_t n = read(fd, text, sizeof text - 1);
	close(fd);
	if (n <= 0)
		return -EIO;
	text[n] = '\0';
	if (sscanf(text, "%d %d", code, sig) != 2)
		return -EIO;
	return 0;
}

