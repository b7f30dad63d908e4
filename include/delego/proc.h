/*
 * proc: one child process on the loop (git, gh, claude, codex).
 *
 * The child leads its own session and process group, reads
 * /dev/null on stdin (an open pipe makes `codex exec` wait for input) and
 * writes stdout and stderr into pipes that we split into lines and whose
 * last bytes we keep. It is "done" only when it has exited AND both pipes
 * hit EOF; if a grandchild keeps a pipe open after the child exited, the
 * group is killed and the pipes are closed after a short drain time, so a
 * job never hangs on a stray background process.
 *
 * Termination (dr_proc_terminate or the timeout) sends SIGTERM to the
 * group, then SIGKILL to the group after a grace time; when the run ends
 * after a termination, the group is SIGKILLed once more so nothing of the
 * tree survives.
 *
 * With opts.cgroup (a job's cgroup, cgroup.h, made and freed by the
 * caller), the child also runs in that cgroup, which it joins before the
 * real program execs (through the cgroup shim). Signals then go to the
 * group AND to every process in the cgroup (SIGKILL through cgroup.kill),
 * so a double-forked daemon or a setsid'd child is reached too; and
 * whenever the run ends (exit and EOF), whatever is still in the cgroup is
 * killed and waited for (cgroup.events, polled on a timer) before on_exit
 * runs, so that the caller can remove the cgroup there.
 *
 * The spawn never waits for the child's exec on the calling thread: one
 * of proc's spawner threads does (they live as long as the process, since
 * a parent-death signal follows the thread that spawned), and the pid is
 * known once on_start ran.
 */
#ifndef DELEGO_PROC_H
#define DELEGO_PROC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <uv.h>

#define DR_PROC_TAIL_DEFAULT (64 * 1024)
#define DR_PROC_LINE_DEFAULT (1024 * 1024)
#define DR_PROC_GRACE_DEFAULT_MS 5000
#define DR_PROC_DRAIN_DEFAULT_MS 2000

struct dr_proc;
struct dr_cgroup;
struct dr_sandbox_policy;

/* Everything here is borrowed for the duration of the on_exit call only. */
struct dr_proc_result {
	int exit_code;   /* like a shell: the exit status, or 128 + signal */
	int term_signal; /* the signal that killed the child, or 0 */
	bool timed_out;  /* the timeout fired (implies terminated) */
	bool terminated; /* we sent SIGTERM (timeout or dr_proc_terminate) */
	bool pipes_cut;  /* a pipe was still open after the drain time: we closed it */
	/* Last tail_max bytes of stdout, NUL-terminated, redacted (redact.h's
	 * default set) before the cut; on_line and out get the bytes as they are. */
	const char *stdout_tail;
	size_t stdout_len;
	const char *stderr_tail;
	size_t stderr_len;
	const char *out;    /* all of stdout up to capture_max (NUL-terminated); "" without capture */
	size_t out_len;
	bool out_truncated; /* stdout was longer than capture_max */
	bool contained;     /* the child ran in its own cgroup */
	int leftovers;      /* processes still in that cgroup at the end, which were killed */
};

/*
 * fd is 1 (stdout) or 2 (stderr). line is not NUL-terminated and has no
 * trailing "\n" (nor "\r\n"); it is borrowed for the call. A line longer
 * than line_max is delivered as its first line_max bytes with truncated
 * set, and the rest of it is skipped. A last line without "\n" is delivered
 * at EOF.
 */
typedef void (*dr_proc_line_cb)(void *data, int fd, const char *line, size_t len, bool truncated);
/* Runs exactly once after a successful spawn; the proc frees itself after it returns. */
typedef void (*dr_proc_exit_cb)(void *data, const struct dr_proc_result *r);
/* The child exec'ed (or its shim did) and has this pid; not called when the exec failed. */
typedef void (*dr_proc_start_cb)(void *data, int pid);

struct dr_proc_opts {
	const char *file;    /* looked up on the PATH of env when it has no '/'; default argv[0] */
	char *const *argv;   /* NULL-terminated; argv[0] is the program name */
	char *const *env;    /* NULL-terminated "NAME=value"; NULL inherits ours (avoid: see childenv) */
	const char *cwd;     /* NULL for ours */
	uint64_t timeout_ms; /* 0: none */
	uint64_t kill_grace_ms; /* SIGTERM -> SIGKILL; 0: DR_PROC_GRACE_DEFAULT_MS */
	uint64_t drain_ms;      /* exit -> forced pipe close; 0: DR_PROC_DRAIN_DEFAULT_MS */
	size_t tail_max;        /* 0: DR_PROC_TAIL_DEFAULT */
	size_t line_max;        /* 0: DR_PROC_LINE_DEFAULT */
	size_t capture_max;     /* > 0: also keep all of stdout up to this many bytes */
	dr_proc_line_cb on_line; /* may be NULL: no line splitting */
	dr_proc_exit_cb on_exit; /* required */
	dr_proc_start_cb on_start; /* may be NULL; runs on the loop, before on_exit, when the child runs */
	void *data;
	/*
	 * The child's own cgroup (dr_cgroup_make), borrowed: the caller
	 * keeps it until on_exit returned (or the spawn failed), and removes
	 * and frees it. NULL: the process group alone. A file that is not
	 * found is still -ENOENT.
	 */
	struct dr_cgroup *cgroup;
	/*
	 * The room the child runs in (sandbox.h): under bwrap, or restricted
	 * by the Landlock shim before it execs. NULL or mode off: none. The
	 * argv stays the child's own after the sandbox's prefix.
	 */
	const struct dr_sandbox_policy *sandbox;
	/*
	 * A directory (it must exist): the child runs under our supervisor
	 * (supervise.h), outside its sandbox and cgroup, which also writes its
	 * output and exit status there and survives the runner. NULL: none.
	 */
	const char *supervise_dir;
};

/*
 * Starts the child. Everything in o (argv, env, cwd) but the cgroup is
 * used only during the call. On success *out is valid until on_exit
 * returns (do not use it after); the child's exec is waited for off the
 * loop: on_start, then, tells its pid, and an exec that fails after the
 * checks below ends the run with 127 and the reason on stderr. Errors,
 * after which no callback ever runs:
 *   -ENOENT  the executable was not found (on the child's PATH);
 *   -EACCES  it is not executable;
 *   -ENOTDIR cwd is not an existing directory;
 *   -EINVAL  bad options; other negative errno from pipe.
 */
int dr_proc_spawn(uv_loop_t *loop, const struct dr_proc_opts *o, struct dr_proc **out);

/*
 * SIGTERM to the child's group now, SIGKILL to the group after the grace
 * time. Idempotent; callable from on_line. result.terminated tells.
 */
void dr_proc_terminate(struct dr_proc *p);
/* The child's pid once on_start ran; 0 before. */
int dr_proc_pid(const struct dr_proc *p);
/* Our ends of the child's stdout and stderr pipes while open, else -1 (for an upgrade in place to keep them). */
void dr_proc_output_fds(const struct dr_proc *p, int fds[2]);

/*
 * Convenience for short commands (git, gh): runs argv (argv[0] looked up
 * on env's PATH) with stdout captured whole up to out_max bytes (default
 * 8 MiB when 0) and the last 64 KiB of stderr, no line callback. Same
 * errors as dr_proc_spawn; cb runs once on success.
 */
int dr_proc_run(uv_loop_t *loop, char *const *argv, char *const *env, const char *cwd, uint64_t timeout_ms,
		size_t out_max, dr_proc_exit_cb cb, void *data);

/*
 * Where execvp would find file on env's PATH (NULL env: ours; no PATH:
 * /usr/local/bin:/usr/bin:/bin), the one PATH look-up of the runner. A
 * file with a '/' is taken as it is, relative to cwd (NULL: ours). *out
 * (caller frees) on 0; -ENOENT, or -EACCES for a file that is not
 * executable.
 */
int dr_proc_find_executable(const char *file, char *const *env, const char *cwd, char **out);

#endif
