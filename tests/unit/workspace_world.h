/*
 * workspace_world.h: the private world of the workspace tests (a HOME, an
 * upstream bare repository, a workspace root, a loop) and the helpers that
 * wait for a step. Included by test_workspace.c and test_workspace_steps.c.
 */
#ifndef DR_TEST_WORKSPACE_WORLD_H
#define DR_TEST_WORKSPACE_WORLD_H

#include "delego/workspace.h"
#include "delego/xalloc.h"
#include "testutil.h"

#include <errno.h>
#include <ftw.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <signal.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

/* Not every test file uses every helper. */
#define WORLD_FN static __attribute__((unused))

/* A private world per test: HOME, an upstream bare repo, a workspace root. */
static char T[PATH_MAX];
static char root[PATH_MAX + 16];
static char remotes[PATH_MAX + 16];
static char upstream[PATH_MAX + 64];
static uv_loop_t loop;
static struct dr_workspace_ctx ctx;


/* The first line a shell command prints. Caller frees. */
WORLD_FN char *sh_out(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
WORLD_FN char *sh_out(const char *fmt, ...)
{
	char cmd[8192];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(cmd, sizeof(cmd), fmt, ap);
	va_end(ap);
	FILE *p = popen(cmd, "r");
	ck_assert_ptr_nonnull(p);
	char line[4096] = "";
	if (!fgets(line, sizeof(line), p))
		line[0] = '\0';
	pclose(p);
	line[strcspn(line, "\n")] = '\0';
	return dr_xstrdup(line);
}

WORLD_FN void setup(void)
{
	snprintf(T, sizeof(T), "%s/dr-ws-XXXXXX", getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp");
	ck_assert_ptr_nonnull(mkdtemp(T));
	char real[PATH_MAX];
	ck_assert_ptr_nonnull(realpath(T, real));
	snprintf(T, sizeof(T), "%s", real);
	char home[PATH_MAX + 16];
	snprintf(home, sizeof(home), "%s/home", T);
	mkdir(home, 0700);
	setenv("HOME", home, 1);
	setenv("GIT_CONFIG_NOSYSTEM", "1", 1);
	unsetenv("GIT_AUTHOR_NAME");
	unsetenv("GIT_AUTHOR_EMAIL");
	unsetenv("GIT_COMMITTER_NAME");
	unsetenv("GIT_COMMITTER_EMAIL");
	unsetenv("EMAIL");
	unsetenv("GIT_DIR");
	snprintf(root, sizeof(root), "%s/ws", T);
	snprintf(remotes, sizeof(remotes), "%s/remotes", T);
	snprintf(upstream, sizeof(upstream), "%s/acme/app.git", remotes);
	/* The upstream: a bare repository with one commit on main. */
	ck_assert_int_eq(sh("set -e; cd '%s'; git init -q -b main --bare '%s'; git init -q -b main seed; cd seed;"
			    "echo hello > README.md; echo a > a.txt; git add .;"
			    "git -c user.name=Up -c user.email=up@example.com commit -q -m initial;"
			    "git push -q '%s' main",
			    T, upstream, upstream),
			 0);
	uv_loop_init(&loop);
	ctx = (struct dr_workspace_ctx){ .loop = &loop, .root = root, .clone_base = remotes };
}

WORLD_FN int rm_one(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	return remove(path);
}

WORLD_FN void teardown(void)
{
	uv_run(&loop, UV_RUN_DEFAULT);
	uv_loop_close(&loop);
	nftw(T, rm_one, 16, FTW_DEPTH | FTW_PHYS);
}

struct wait {
	int done;
	int status;
	char err[4096];
};

WORLD_FN void on_done(void *data, int status, const char *err)
{
	struct wait *w = data;
	w->done++;
	w->status = status;
	snprintf(w->err, sizeof(w->err), "%s", err);
}

WORLD_FN int wait_for(struct wait *w)
{
	while (!w->done)
		uv_run(&loop, UV_RUN_ONCE);
	ck_assert_int_eq(w->done, 1);
	return w->status;
}

WORLD_FN int prepare(const char *job_id, const char *branch, struct dr_workspace_tree *t, struct wait *w)
{
	struct dr_workspace_prepare_in in = { .slug = "acme/app", .job_id = job_id, .branch = branch };
	char err[256];
	memset(w, 0, sizeof(*w));
	int r = dr_workspace_prepare(&ctx, &in, t, on_done, w, err, sizeof(err));
	ck_assert_msg(r == 0, "prepare refused: %s", err);
	ck_assert_int_eq(w->done, 0); /* never calls back from inside the call */
	return wait_for(w);
}

WORLD_FN char *upstream_main(void)
{
	return sh_out("git --git-dir '%s' rev-parse main", upstream);
}

WORLD_FN void upstream_commit(const char *file)
{
	ck_assert_int_eq(sh("set -e; cd '%s/seed'; echo more >> '%s'; git add .;"
			    "git -c user.name=Up -c user.email=up@example.com commit -q -m more; git push -q '%s' main",
			    T, file, upstream),
			 0);
}


#endif
