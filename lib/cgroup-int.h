/*
 * cgroup-int: what cgroup.c (the mode, the per-job cgroups) shares with
 * cgroup_shim.c (the exec shim that puts an agent into its cgroup, and the
 * unit's ExecStopPost= clean-up). Linux only.
 */
#ifndef DELEGO_CGROUP_INT_H
#define DELEGO_CGROUP_INT_H

#include <errno.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>

/*
 * snprintf that says whether it all fitted: 0, or -ENAMETOOLONG after
 * writing what fitted. Paths and notes here are bounded by PATH_MAX and
 * the kernel's names; a cut one fails at open() or reads short, safely.
 */
__attribute__((format(printf, 3, 4))) static inline int fmt(char *out, size_t len, const char *f, ...)
{
	va_list ap;
	va_start(ap, f);
	int n = vsnprintf(out, len, f, ap);
	va_end(ap);
	return n >= 0 && (size_t)n < len ? 0 : -ENAMETOOLONG;
}

int dr__cgroup_write_text(const char *path, const char *text);
int dr__cgroup_find_own(char *out, size_t outlen);
bool dr__cgroup_systemd_unit(const char *own);
int dr__cgroup_kill_and_remove(const char *dir, int depth);

#endif
