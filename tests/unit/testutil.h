/*
 * testutil.h: fixtures the unit suites share: a private temporary folder
 * per test case, and writing a small file.
 */
#ifndef DR_TESTUTIL_H
#define DR_TESTUTIL_H

#include <check.h>
#include <stdarg.h>
#include <sys/wait.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "delego/xalloc.h"

static char tmpdir[64] __attribute__((unused));

/* Creates /tmp/dr-<name>-XXXXXX into tmpdir. */
static inline void tmpdir_make(const char *name)
{
	snprintf(tmpdir, sizeof tmpdir, "/tmp/dr-%s-XXXXXX", name);
	ck_assert_ptr_nonnull(mkdtemp(tmpdir));
}

static inline void tmpdir_remove(void)
{
	char *cmd = dr_xasprintf("rm -rf '%s'", tmpdir);
	ck_assert_int_eq(system(cmd), 0);
	free(cmd);
}

static inline void write_text(const char *path, const char *text, mode_t mode)
{
	FILE *f = fopen(path, "w");
	ck_assert_ptr_nonnull(f);
	fputs(text, f);
	fclose(f);
	ck_assert_int_eq(chmod(path, mode), 0);
}

/* Runs a shell command line; returns its exit status, or -1. */
static inline int sh(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static inline int sh(const char *fmt, ...)
{
	char cmd[8192];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(cmd, sizeof(cmd), fmt, ap);
	va_end(ap);
	int r = system(cmd);
	return WIFEXITED(r) ? WEXITSTATUS(r) : -1;
}

#endif
