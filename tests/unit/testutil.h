/*
 * testutil.h: fixtures the unit suites share: a private temporary folder
 * per test case, and writing a small file.
 */
#ifndef DR_TESTUTIL_H
#define DR_TESTUTIL_H

#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "delego/xalloc.h"

static char tmpdir[64];

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

#endif
