/* sandbox internals shared by sandbox.c, sandbox_probe.c and sandbox_landlock.c. */
#ifndef DELEGO_SANDBOX_INT_H
#define DELEGO_SANDBOX_INT_H

#include "delego/sandbox.h"

#include <limits.h>
#include <stdbool.h>

/* The mode in force: sandbox.c keeps it, sandbox_probe.c's dr_sandbox_setup fills it. */
struct dr__sandbox_state {
	bool set;
	enum dr_sandbox_mode mode;
	bool fell_back;
	char bwrap[PATH_MAX];
	char shim[PATH_MAX];
	char note[1024];
};
struct dr__sandbox_state *dr__sandbox_state(void);

/* The Landlock shim's argv for p: shim, the word, the options, "--", exe, argv. */
char **dr__sandbox_shim_argv(const struct dr_sandbox_policy *p, const char *shim, const char *exe,
			     char *const *argv, const char *cgroup_procs);
/* Tests: the helpers dr_sandbox_argv uses, without a probe. */
void dr__sandbox_set_helpers(const char *bwrap, const char *shim);

#endif
