/*
 * proc-int: the posix_spawn request that proc.c (the child on the loop)
 * hands to a spawner thread, which waits for the child's exec there;
 * proc_spawn.c builds and runs it, and keeps the spawners.
 */
#ifndef DELEGO_PROC_INT_H
#define DELEGO_PROC_INT_H

#include <spawn.h>
#include <sys/types.h>

/* What posix_spawn needs, owned: the spawn thread uses it after the caller's call returned. */
struct dr__proc_req {
	char *exe;
	char **argv, **env;
	posix_spawn_file_actions_t fa;
	posix_spawnattr_t at;
	int child_out, child_err; /* the pipes' write ends, the child's 1 and 2 */
	pid_t pid;
	int err; /* 0 or negative errno */
	struct dr__proc_req *next; /* in the spawners' queue */
	void (*done)(void *data);  /* on the spawner thread, after dr__proc_req_run */
	void *done_data;
};

/*
 * Finds file on env's PATH, makes the two pipes (the read ends, for the
 * loop, in *out_rd and *err_rd) and copies argv and env. -ENOENT or
 * -EACCES for the program, else the pipe's error; nothing is left open.
 */
int dr__proc_req_new(const char *file, char *const *argv, char *const *env, const char *cwd,
		     struct dr__proc_req **q, int *out_rd, int *err_rd);
/*
 * posix_spawn (any thread): blocks until the child exec'ed or failed to.
 * Leaves q->pid and q->err and frees everything else of q but q itself.
 */
void dr__proc_req_run(struct dr__proc_req *q);
/*
 * Hands q to a spawner thread, which runs it and then calls q->done.
 * The spawners live as long as the process: a child's parent is the
 * thread that spawned it, and a parent-death signal (bwrap's
 * --die-with-parent) fires when that thread ends, so a thread per spawn
 * would kill the child. -EAGAIN when no spawner can be had (run q here).
 */
int dr__proc_req_submit(struct dr__proc_req *q);

#endif
