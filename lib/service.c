/*
 * service: what every service backend shares: where the running program
 * is, running a short helper program (systemctl, launchctl) with a bounded
 * capture, and reading what the daemon left in its state directory.
 * Portable: libuv and POSIX only.
 */
#include "delego/service.h"
#include "delego/fsutil.h"
#include "delego/json.h"
#include "delego/xalloc.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include <uv.h>

extern char **environ;

#define STATUS_FILE_MAX (256 * 1024)

int dr_service_self_exe(char **out, char *err, size_t errlen)
{
	/* libuv knows each system's way: /proc/self/exe, _NSGetExecutablePath, sysctl. */
	char path[PATH_MAX];
	size_t n = sizeof path;
	int r = uv_exepath(path, &n);
	if (r < 0 || n == 0 || path[0] != '/') {
		snprintf(err, errlen, "cannot find the path of the running delego-runner program (%s); run it by its "
			 "absolute path", r < 0 ? uv_strerror(r) : "not an absolute path");
		return r < 0 ? r : -ENOENT;
	}
	/* Linux marks a replaced binary; a unit must not point at it. */
	if (n > 10 && strcmp(path + n - 10, " (deleted)") == 0) {
		snprintf(err, errlen, "the running program %s was replaced on disk (an upgrade?); run the new "
			 "delego-runner again", path);
		return -ESTALE;
	}
	*out = dr_xstrdup(path);
	return 0;
}

char *dr_service_logs_hint(const char *profile)
{
#ifdef DR_PLATFORM_DARWIN
	const char *home = getenv("HOME");
	char *log = dr_service_launchd_log_path(home ? home : "", profile);
	/* Shell-quoted: a home directory may hold spaces or quotes. */
	struct dr_buf b = DR_BUF_INIT(0);
	dr_buf_addstr(&b, "tail -f '");
	for (const char *p = log; *p; p++)
		if (*p == '\'')
			dr_buf_addstr(&b, "'\\''");
		else
			dr_buf_addch(&b, *p);
	dr_buf_addch(&b, '\'');
	free(log);
	return dr_buf_detach(&b, NULL);
#else
	char *unit = dr_service_unit_name(profile);
	char *hint = dr_xasprintf("journalctl --user -u %s", unit);
	free(unit);
	return hint;
#endif
}

static long elapsed_ms(const struct timespec *start)
{
	struct timespec now;
	clock_gettime(CLOCK_MONOTONIC, &now);
	return (long)((now.tv_sec - start->tv_sec) * 1000 + (now.tv_nsec - start->tv_nsec) / 1000000);
}

/* True when name (a path, or a command looked up on PATH) is an executable file. */
static bool program_exists(const char *name)
{
	if (strchr(name, '/'))
		return access(name, X_OK) == 0;
	const char *path = getenv("PATH");
	if (!path)
		path = "/usr/bin:/bin";
	while (*path) {
		size_t n = strcspn(path, ":");
		char *full = dr_xasprintf("%.*s%s%s", (int)n, path, n ? "/" : "./", name);
		bool ok = access(full, X_OK) == 0;
		free(full);
		if (ok)
			return true;
		path += n;
		path += *path == ':';
	}
	return false;
}

int dr_service_exec(char *const argv[], long timeout_ms, struct dr_buf *out, int *status)
{
	/* Look first: posix_spawnp may report a missing program only as exit 127
	 * (vfork emulation, e.g. under valgrind), and the caller wants -ENOENT. */
	if (!program_exists(argv[0]))
		return -ENOENT;
	uv_file fds[2];
	int r = 0;
	/* Close-on-exec on both ends (pipe2 is not on macOS); the child gets its copy through dup2. */
	r = uv_pipe(fds, 0, 0);
	if (r < 0)
		return r;
	posix_spawn_file_actions_t fa;
	posix_spawn_file_actions_init(&fa);
	posix_spawn_file_actions_addopen(&fa, STDIN_FILENO, "/dev/null", O_RDONLY, 0);
	posix_spawn_file_actions_adddup2(&fa, fds[1], STDOUT_FILENO);
	posix_spawn_file_actions_adddup2(&fa, fds[1], STDERR_FILENO);
	posix_spawnattr_t attr;
	posix_spawnattr_init(&attr);
	/* Our SIGPIPE is ignored; the helper must get the default back. */
	sigset_t def;
	sigemptyset(&def);
	sigaddset(&def, SIGPIPE);
	posix_spawnattr_setsigdefault(&attr, &def);
	posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETSIGDEF);
	pid_t pid;
	int e = posix_spawnp(&pid, argv[0], &fa, &attr, argv, environ);
	posix_spawn_file_actions_destroy(&fa);
	posix_spawnattr_destroy(&attr);
	close(fds[1]);
	if (e != 0) {
		close(fds[0]);
		return -e;
	}

	struct timespec start;
	clock_gettime(CLOCK_MONOTONIC, &start);
	bool timed_out = false;
	for (;;) {
		int wait = -1;
		if (timeout_ms > 0) {
			long left = timeout_ms - elapsed_ms(&start);
			if (left <= 0) {
				timed_out = true;
				kill(pid, SIGKILL);
				break;
			}
			wait = (int)left;
		}
		struct pollfd p = { .fd = fds[0], .events = POLLIN };
		int n = poll(&p, 1, wait);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			continue;
		char chunk[4096];
		ssize_t got = read(fds[0], chunk, sizeof chunk);
		if (got < 0 && errno == EINTR)
			continue;
		if (got <= 0)
			break;
		/* Past the cap the rest is read and dropped, so the child never blocks. */
		if (out && out->len + (size_t)got <= (out->max ? out->max : SIZE_MAX))
			dr_buf_add(out, chunk, (size_t)got);
	}
	close(fds[0]);
	int ws;
	while (waitpid(pid, &ws, 0) < 0)
		if (errno != EINTR)
			return -errno;
	if (timed_out)
		*status = 124;
	else if (WIFEXITED(ws))
		*status = WEXITSTATUS(ws);
	else
		*status = 128 + (WIFSIGNALED(ws) ? WTERMSIG(ws) : 0);
	return r;
}

static char *dup_str(const cJSON *o, const char *key)
{
	const char *s = dr_json_str(o, key);
	return s ? dr_xstrndup(s, strlen(s) > 1024 ? 1024 : strlen(s)) : NULL;
}

int dr_service_read_status(const char *state_dir, struct dr_service_status *out, char *err, size_t errlen)
{
	char *path = dr_xasprintf("%s/status.json", state_dir);
	struct dr_buf b = DR_BUF_INIT(STATUS_FILE_MAX);
	cJSON *j = NULL;
	int r = dr_read_file(path, &b, NULL);
	if (r < 0) {
		snprintf(err, errlen, "cannot read %s: %s", path, r == -E2BIG ? "too large" : strerror(-r));
		goto out;
	}
	if (dr_json_parse_object(b.buf, b.len, STATUS_FILE_MAX, &j) < 0) {
		snprintf(err, errlen, "%s is not a JSON object; the daemon rewrites it on its next heartbeat", path);
		r = -EBADMSG;
		goto out;
	}
	struct dr_service_status s = { 0 };
	s.pid = (long)dr_json_num(j, "pid", 0);
	s.alive = s.pid > 0 && (kill((pid_t)s.pid, 0) == 0 || errno == EPERM);
	s.runner_id = dup_str(j, "runnerId");
	s.relay_url = dup_str(j, "relayUrl");
	s.version = dup_str(j, "version");
	s.state = dup_str(j, "state");
	s.started_at = dup_str(j, "startedAt");
	s.last_heartbeat_at = dup_str(j, "lastHeartbeatAt");
	s.last_heartbeat_ok = dr_json_true(j, "lastHeartbeatOk");
	s.last_error = dup_str(j, "lastError");
	s.active_jobs = dr_xcalloc(1, sizeof *s.active_jobs);
	const cJSON *jobs = dr_json_array(j, "activeJobs"), *it;
	size_t n = 0;
	cJSON_ArrayForEach(it, jobs)
		if (cJSON_IsString(it) && n++ < 64)
			dr_strv_push(&s.active_jobs, it->valuestring);
	s.pending_reports = (long)dr_json_num(j, "pendingReports", 0);
	s.containment = dup_str(j, "containment");
	s.push = dr_json_true(j, "push");
	*out = s;
	r = 0;
out:
	cJSON_Delete(j);
	dr_buf_release(&b);
	free(path);
	return r;
}

void dr_service_status_release(struct dr_service_status *s)
{
	if (!s)
		return;
	free(s->runner_id);
	free(s->relay_url);
	free(s->version);
	free(s->state);
	free(s->started_at);
	free(s->last_heartbeat_at);
	free(s->last_error);
	dr_strv_free(s->active_jobs);
	free(s->containment);
	memset(s, 0, sizeof *s);
}

long dr_service_count_outbox(const char *state_dir)
{
	char *path = dr_xasprintf("%s/outbox", state_dir);
	DIR *d = opendir(path);
	free(path);
	if (!d)
		return 0;
	long n = 0;
	struct dirent *e;
	while ((e = readdir(d))) {
		size_t l = strlen(e->d_name);
		if (e->d_name[0] != '.' && l > 5 && strcmp(e->d_name + l - 5, ".json") == 0)
			n++;
	}
	closedir(d);
	return n;
}
