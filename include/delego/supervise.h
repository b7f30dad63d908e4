/*
 * supervise: an agent's output that outlives the runner.
 *
 * The supervisor is the hidden word `__supervise DIR FILE ARG0 ...` of
 * delego-runner-exec (the small program beside ours; ours understands it
 * too), which proc puts between the runner and the agent (and
 * outside the agent's cgroup and sandbox: runner -> supervisor -> [cgroup
 * shim ->] agent). It forks FILE, and copies everything the agent writes
 * on stdout and stderr, as it arrives, to DIR/stdout and DIR/stderr
 * (bounded: DR_SUPERVISE_STDOUT_MAX and DR_SUPERVISE_STDERR_MAX) and to its
 * own stdout and stderr, the runner's pipes, for as long as the runner
 * reads them. It ignores SIGTERM, SIGINT and SIGHUP (the agent, in the
 * same process group, gets them), sleeps in poll() while the agent is
 * quiet, and when the agent has exited and its pipes are drained it writes
 * DIR/exit ("CODE SIGNAL\n", atomically) and ends the way the agent did.
 *
 * A runner that starts again after a crash follows such an agent through
 * its files (dr_supervise_attach): from the start of DIR/stdout, as the
 * files grow, until DIR/exit appears.
 */
#ifndef DELEGO_SUPERVISE_H
#define DELEGO_SUPERVISE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <uv.h>

#include "delego/proc.h"

#define DR_SUPERVISE_WORD "__supervise"
#define DR_SUPERVISE_STDOUT_MAX (64u * 1024 * 1024)
#define DR_SUPERVISE_STDERR_MAX (1024u * 1024)

/* The hidden word: argv = { prog, DR_SUPERVISE_WORD, dir, file, arg0, ... }. Returns (or dies) as the agent did. */
int dr_supervise_main(int argc, char **argv);

/* Reads DIR/exit: 0 with the agent's exit code and signal (0 or the one that killed it), -ENOENT while it runs. */
int dr_supervise_read_exit(const char *dir, int *code, int *sig);

struct dr_supervise;
struct dr_cgroup;

struct dr_supervise_opts {
	uv_loop_t *loop;
	const char *dir;  /* copied */
	int pid;          /* the supervisor, leader of the agent's process group */
	size_t tail_max;  /* 0: DR_PROC_TAIL_DEFAULT */
	size_t line_max;  /* 0: DR_PROC_LINE_DEFAULT */
	dr_proc_line_cb on_line;
	dr_proc_exit_cb on_exit; /* runs once; the follower frees itself after it returns */
	void *data;
	/* > 0: terminated (as by dr_supervise_terminate, the result saying timed_out) this long after attach */
	uint64_t timeout_ms;
	/* The agent's cgroup (cgroup.h; owned from here on), or NULL: terminate and the end also reach it, and it is
	 * removed after the end, as proc does for a job it started. */
	struct dr_cgroup *cgroup;
	/* May be NULL: called once the files are read to where they were at attach (the replay is over). */
	void (*on_replayed)(void *data);
};

/*
 * Follows an agent a previous runner started: its lines from the start,
 * then on_exit with its real status once DIR/exit is there and both files
 * are read to their end (or, when the supervisor is gone without writing
 * DIR/exit, as killed by SIGKILL). Never fails.
 */
struct dr_supervise *dr_supervise_attach(const struct dr_supervise_opts *o);
/* SIGTERM to the agent's group (and cgroup), SIGKILL after DR_PROC_GRACE_DEFAULT_MS. Idempotent. */
void dr_supervise_terminate(struct dr_supervise *s);
/* True while the lines delivered are the ones already in the files at attach. */
bool dr_supervise_replaying(const struct dr_supervise *s);

#endif
