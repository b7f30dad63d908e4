/* sandbox internals shared by sandbox.c and sandbox_landlock.c. */
#ifndef DELEGO_SANDBOX_INT_H
#define DELEGO_SANDBOX_INT_H

#include "delego/sandbox.h"

/* The Landlock shim's argv for p: shim, the word, the options, "--", exe, argv. */
char **dr__sandbox_shim_argv(const struct dr_sandbox_policy *p, const char *shim, const char *exe,
			     char *const *argv, const char *cgroup_procs);
/* Tests: the helpers dr_sandbox_argv uses, without a probe. */
void dr__sandbox_set_helpers(const char *bwrap, const char *shim);

#endif
