/*
 * proc_spawn: the posix_spawn call behind proc (proc-int.h), and the
 * runner's one PATH look-up.
 */
#include "delego/proc.h"
#include "delego/strv.h"
#include "delego/xalloc.h"
#include "proc-int.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <spawn.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <uv.h>

extern char **environ;

#ifndef __linux__
/*
 * posix_spawn passes the child every descriptor that lacks FD_CLOEXEC, and
 * a library we link may create one that way (a socketpair, /dev/null): an
 * agent must not inherit the runner's sockets. Linux closes them in the
 * child instead (closefrom), so the loop does not walk our descriptors.
 */
static void cloexec_all(void)
{
	DIR *d = opendir("/proc/self/fd");
	if (!d) {
		for (int fd = 3; fd < 1024; fd++) {
			int fl = fcntl(fd, F_GETFD);
			if (fl >= 0 && !(fl & FD_CLOEXEC))
				fcntl(fd, F_SETFD, fl | FD_CLOEXEC);
		}
		return;
	}
	int self = dirfd(d);
	struct dirent *de;
	while ((de = readdir(d))) {
		char *end;
		long fd = strtol(de->d_name, &end, 10);
		if (*end || end == de->d_name || fd < 3 || fd == self)
			continue;
		int fl = fcntl((int)fd, F_GETFD);
		if (fl >= 0 && !(fl & FD_CLOEXEC))
			fcntl((int)fd, F_SETFD, fl | FD_CLOEXEC);
	}
	closedir(d);
}
#endif

/* See proc.h; the cgroup shim needs it because its own start always succeeds. */
int dr_proc_find_executable(const char *file, char *const *env, const char *cwd, char **out)
{
	if (strchr(file, '/')) {
		char *path = file[0] == '/' || !cwd ? dr_xstrdup(file) : dr_xasprintf("%s/%s", cwd, file);
		int r = access(path, X_OK) == 0 ? 0 : errno == ENOENT || errno == ENOTDIR ? -ENOENT : -EACCES;
		free(path);
		if (r == 0)
			*out = dr_xstrdup(file);
		return r;
	}
	const char *search = NULL;
	for (char *const *e = env; e && *e; e++)
		if (strncmp(*e, "PATH=", 5) == 0)
			search = *e + 5;
	if (!env)
		search = getenv("PATH");
	if (!search)
		search = "/usr/local/bin:/usr/bin:/bin";
	int r = -ENOENT;
	char *copy = dr_xstrdup(search);
	char *save = NULL;
	for (char *dir = strtok_r(copy, ":", &save); dir; dir = strtok_r(NULL, ":", &save)) {
		char *path = dir[0] == '/' || !cwd ? dr_xasprintf("%s/%s", dir, file)
						   : dr_xasprintf("%s/%s/%s", cwd, dir, file);
		struct stat st;
		if (stat(path, &st) == 0 && S_ISREG(st.st_mode)) {
			if (access(path, X_OK) == 0) {
				*out = path;
				free(copy);
				return 0;
			}
			r = -EACCES;
		}
		free(path);
	}
	free(copy);
	return r;
}

static char **strv_dup(char *const *v)
{
	char **c = dr_xcalloc(dr_strv_len(v) + 1, sizeof(*c));
	for (size_t i = 0; v[i]; i++)
		c[i] = dr_xstrdup(v[i]);
	return c;
}

/*
 * posix_spawn, not uv_spawn: libuv 1.44 forks (copying our page tables)
 * and blocks on a pipe until the copy has exec'ed; glibc's posix_spawn
 * shares our memory until the exec (CLONE_VFORK) and returns an exec
 * failure. Only the calling thread waits for the exec.
 */
void dr__proc_req_run(struct dr__proc_req *q)
{
	q->err = -posix_spawn(&q->pid, q->exe, &q->fa, &q->at, q->argv, q->env ? q->env : environ);
	close(q->child_out);
	close(q->child_err);
	posix_spawn_file_actions_destroy(&q->fa);
	posix_spawnattr_destroy(&q->at);
	free(q->exe);
	dr_strv_free(q->argv);
	dr_strv_free(q->env);
}

/* The child leads a session of its own, reads /dev/null, and starts with default signals and an empty mask. */
static void spawn_setup(struct dr__proc_req *q, const char *cwd)
{
	posix_spawn_file_actions_init(&q->fa);
	posix_spawnattr_init(&q->at);
	posix_spawn_file_actions_addopen(&q->fa, 0, "/dev/null", O_RDONLY, 0);
	posix_spawn_file_actions_adddup2(&q->fa, q->child_out, 1);
	posix_spawn_file_actions_adddup2(&q->fa, q->child_err, 2);
#ifdef __linux__
	posix_spawn_file_actions_addclosefrom_np(&q->fa, 3);
#else
	cloexec_all();
#endif
	if (cwd)
		posix_spawn_file_actions_addchdir_np(&q->fa, cwd);
	sigset_t mask, def;
	sigemptyset(&mask);
	sigfillset(&def); /* SIGPIPE is ignored here, and an ignored signal survives exec */
	posix_spawnattr_setsigmask(&q->at, &mask);
	posix_spawnattr_setsigdefault(&q->at, &def);
	short flags = POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF;
#ifdef POSIX_SPAWN_SETSID
	flags |= POSIX_SPAWN_SETSID;
#else
	flags |= POSIX_SPAWN_SETPGROUP; /* group 0: its own */
#endif
	posix_spawnattr_setflags(&q->at, flags);
}

int dr__proc_req_new(const char *file, char *const *argv, char *const *env, const char *cwd,
		     struct dr__proc_req **out, int *out_rd, int *err_rd)
{
	struct dr__proc_req *q = dr_xcalloc(1, sizeof(*q));
	int r = dr_proc_find_executable(file, env, cwd, &q->exe);
	uv_file po[2] = { -1, -1 }, pe[2] = { -1, -1 };
	if (r < 0 || (r = uv_pipe(po, UV_NONBLOCK_PIPE, 0)) < 0 || (r = uv_pipe(pe, UV_NONBLOCK_PIPE, 0)) < 0) {
		for (int i = 0; i < 2; i++) {
			if (po[i] >= 0)
				close(po[i]);
		}
		free(q->exe);
		free(q);
		return r;
	}
	q->child_out = po[1];
	q->child_err = pe[1];
	q->argv = strv_dup(argv);
	q->env = env ? strv_dup(env) : NULL;
	spawn_setup(q, cwd);
	*out_rd = po[0];
	*err_rd = pe[0];
	*out = q;
	return 0;
}

/* Spawners: a few threads that never end, fed from one queue. */
#define SPAWNERS 2

static pthread_mutex_t spawn_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t spawn_cond = PTHREAD_COND_INITIALIZER;
static struct dr__proc_req *queue_head, *queue_tail;
static int spawners, idle;
static pthread_once_t atfork_once = PTHREAD_ONCE_INIT;

static void *spawner(void *arg)
{
	(void)arg;
	sigset_t all;
	sigfillset(&all);
	pthread_sigmask(SIG_BLOCK, &all, NULL); /* signals are the loop's */
	for (;;) {
		pthread_mutex_lock(&spawn_lock);
		idle++;
		while (!queue_head)
			pthread_cond_wait(&spawn_cond, &spawn_lock);
		idle--;
		struct dr__proc_req *q = queue_head;
		queue_head = q->next;
		if (!queue_head)
			queue_tail = NULL;
		pthread_mutex_unlock(&spawn_lock);
		dr__proc_req_run(q);
		q->done(q->done_data);
	}
	return NULL;
}

/* A forked child has none of our threads: it starts its own spawners if it spawns. */
static void fork_prepare(void)
{
	pthread_mutex_lock(&spawn_lock);
}

static void fork_parent(void)
{
	pthread_mutex_unlock(&spawn_lock);
}

static void fork_child(void)
{
	pthread_mutex_init(&spawn_lock, NULL);
	pthread_cond_init(&spawn_cond, NULL);
	queue_head = queue_tail = NULL;
	spawners = idle = 0;
}

static void register_atfork(void)
{
	(void)pthread_atfork(fork_prepare, fork_parent, fork_child);
}

int dr__proc_req_submit(struct dr__proc_req *q)
{
	pthread_once(&atfork_once, register_atfork);
	pthread_mutex_lock(&spawn_lock);
	if (idle == 0 && spawners < SPAWNERS) {
		pthread_t t;
		pthread_attr_t ta;
		pthread_attr_init(&ta);
		pthread_attr_setdetachstate(&ta, PTHREAD_CREATE_DETACHED);
		pthread_attr_setstacksize(&ta, 256 * 1024);
		if (pthread_create(&t, &ta, spawner, NULL) == 0)
			spawners++;
		pthread_attr_destroy(&ta);
	}
	if (spawners == 0) {
		pthread_mutex_unlock(&spawn_lock);
		return -EAGAIN;
	}
	q->next = NULL;
	if (queue_tail)
		queue_tail->next = q;
	else
		queue_head = q;
	queue_tail = q;
	pthread_cond_signal(&spawn_cond);
	pthread_mutex_unlock(&spawn_lock);
	return 0;
}
