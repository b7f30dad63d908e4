/*
 * runner: the daemon. One libuv loop: heartbeats, claiming (long poll or
 * interval poll), job slots (--max-jobs), signals, and the shutdown that
 * lets running jobs finish and every report reach the relay.
 *
 * Exit statuses it returns: 0 (signal, restart request, --once done),
 * 2 (the relay rejected the credential: re-pair).
 */
#ifndef DELEGO_RUNNER_H
#define DELEGO_RUNNER_H

#include <stddef.h>
#include <uv.h>

#include "delego/config.h"

struct dr_runner;

struct dr_runner_opts {
	uv_loop_t *loop;
	struct dr_config *config; /* ownership passes to the runner */
	const char *runner_id;
	const char *bearer;       /* copied; a secret */
	const char *version;
	/*
	 * The command line SIGUSR2 re-execs (upgrade in place); copied. Its
	 * first word is the program: the path it names when it has a '/' (a
	 * symlink such as Homebrew's opt/ stays one, so the new version is
	 * what runs), else this executable's own path. NULL: SIGUSR2 is ignored.
	 */
	char *const *exec_argv;
};

/* Called on SIGHUP: returns a new configuration (ownership passes) or NULL to keep the old one. */
typedef struct dr_config *(*dr_runner_reload_fn)(void *data);

int dr_runner_new(const struct dr_runner_opts *opts, struct dr_runner **out, char *err, size_t errlen);
void dr_runner_on_reload(struct dr_runner *r, dr_runner_reload_fn fn, void *data);
/* Runs the loop until the runner stops; returns its exit status. */
int dr_runner_run(struct dr_runner *r);
void dr_runner_free(struct dr_runner *r);

#endif
