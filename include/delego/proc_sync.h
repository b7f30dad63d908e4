/*
 * proc_sync: a short helper program (systemctl, launchctl, `tool
 * --version`) run to its end for the command line, over the one spawn
 * primitive (proc.h) on a loop of its own.
 */
#ifndef DELEGO_PROC_SYNC_H
#define DELEGO_PROC_SYNC_H

#include "delego/buf.h"

/*
 * Runs argv (argv[0] looked up on PATH, our environment without DELEGO_*,
 * stdin from /dev/null) and appends its stdout and stderr lines, in the order they
 * came, to out (NULL: dropped), each ending in "\n"; once a line does not
 * fit under out->max the rest is read and dropped, so the child never
 * blocks. After timeout_ms (0: none) the child is terminated. *status gets
 * the exit status, 128+N for signal N, 124 for the timeout. Returns 0, or
 * the spawn's error (-ENOENT when the program is not found), after which
 * *status is untouched.
 */
int dr_proc_sync_run(char *const argv[], long timeout_ms, struct dr_buf *out, int *status);
/*
 * The same with stdout's lines into out and stderr's into err (either NULL:
 * dropped); err == out is dr_proc_sync_run.
 */
int dr_proc_sync_run_split(char *const argv[], long timeout_ms, struct dr_buf *out, struct dr_buf *err,
			   int *status);

#endif
