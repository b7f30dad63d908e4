/*
 * sandbox_probe: which sandbox works here (bwrap tried on `true`, then
 * Landlock's ABI) and the choice of the mode at start. It runs bwrap
 * through proc_sync, so it sits above proc, which itself uses sandbox.c
 * for the command line; sandbox.c never calls back up here.
 */
#include "delego/sandbox.h"
#include "delego/buf.h"
#include "delego/proc_sync.h"
#include "delego/xalloc.h"
#include "sandbox-int.h"

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <uv.h>

/* bwrap on `true` answers in milliseconds; a hung one must not hold up the start. */
#define PROBE_TIMEOUT_MS 10000

/* Where bwrap is on PATH, into out; false when it is not there. */
static bool find_bwrap(const char *given, char *out, size_t outlen)
{
	if (given) {
		snprintf(out, outlen, "%s", given);
		return access(out, X_OK) == 0;
	}
	const char *path = getenv("PATH");
	char *copy = dr_xstrdup(path && *path ? path : "/usr/local/bin:/usr/bin:/bin");
	char *save = NULL;
	bool found = false;
	for (char *dir = strtok_r(copy, ":", &save); dir && !found; dir = strtok_r(NULL, ":", &save)) {
		if (dir[0] != '/')
			continue;
		snprintf(out, outlen, "%s/bwrap", dir);
		found = access(out, X_OK) == 0;
	}
	free(copy);
	return found;
}

#ifdef __linux__
/* Runs bwrap on `true` with every namespace (through proc: only proc spawns); its first stderr line goes to why. */
static bool bwrap_works(const char *bwrap, char *why, size_t whylen)
{
	char *argv[] = { (char *)bwrap, "--unshare-all", "--die-with-parent", "--ro-bind", "/", "/", "--dev", "/dev",
			 "--proc", "/proc", "--tmpfs", "/tmp", "true", NULL };
	struct dr_buf err = DR_BUF_INIT(4096);
	int status = -1;
	int r = dr_proc_sync_run_split(argv, PROBE_TIMEOUT_MS, NULL, &err, &status);
	bool ok = r == 0 && status == 0;
	size_t line = err.len ? strcspn(err.buf, "\n") : 0;
	if (ok)
		why[0] = '\0';
	else if (r < 0)
		snprintf(why, whylen, "cannot run it: %s", strerror(-r));
	else if (status == 124)
		snprintf(why, whylen, "it did not answer within %d s", PROBE_TIMEOUT_MS / 1000);
	else if (line > 0)
		snprintf(why, whylen, "%.*s", (int)line, err.buf);
	else
		snprintf(why, whylen, "it failed without saying why");
	dr_buf_release(&err);
	return ok;
}
#endif

enum dr_sandbox_mode dr_sandbox_probe(enum dr_sandbox_mode want, const char *bwrap, bool *works, char *note,
				      size_t notelen)
{
	*works = true;
	if (want == DR_SANDBOX_OFF) {
		snprintf(note, notelen, "off, as configured: agents see everything this user can read");
		return DR_SANDBOX_OFF;
	}
#ifdef __linux__
	char path[PATH_MAX], why[600] = "";
	bool have_bwrap = find_bwrap(bwrap, path, sizeof path);
	if ((want == DR_SANDBOX_AUTO || want == DR_SANDBOX_BWRAP) && have_bwrap && bwrap_works(path, why, sizeof why)) {
		snprintf(note, notelen, "bwrap (%s): agents see their worktree read-write and the machine read-only, "
					"without our files and the keys", path);
		return DR_SANDBOX_BWRAP;
	}
	if (!have_bwrap)
		snprintf(why, sizeof why, "bwrap is not installed (apt-get install bubblewrap)");
	int abi = dr_sandbox_landlock_abi();
	if ((want == DR_SANDBOX_AUTO || want == DR_SANDBOX_LANDLOCK) && abi >= 1) {
		snprintf(note, notelen, "landlock (ABI %d)%s%s: agents may write only their worktree and state and "
					"cannot read our files and the keys",
			 abi, want == DR_SANDBOX_AUTO ? "; bwrap does not work: " : "",
			 want == DR_SANDBOX_AUTO ? why : "");
		return DR_SANDBOX_LANDLOCK;
	}
	*works = false;
	const char *ll = abi >= 1 ? "" : "; this kernel has no Landlock (Linux 5.13 or later with lsm=...,landlock)";
	if (want == DR_SANDBOX_BWRAP)
		ll = "";
	snprintf(note, notelen,
		 "off: no sandbox works here (bwrap: %s%s). Agents see everything this user can read. Fix: allow "
		 "unprivileged user namespaces (sudo sysctl -w kernel.apparmor_restrict_unprivileged_userns=0, or "
		 "an AppArmor profile that grants bwrap userns), or boot a kernel with Landlock",
		 want == DR_SANDBOX_LANDLOCK ? "not asked for" : why, want == DR_SANDBOX_BWRAP ? "" : ll);
	return DR_SANDBOX_OFF;
#else
	(void)bwrap;
	*works = want == DR_SANDBOX_AUTO;
	snprintf(note, notelen, "off: bwrap and Landlock are Linux-only and sandbox-exec is not used yet; agents see "
				"everything this user can read");
	return DR_SANDBOX_OFF;
#endif
}

/* delego-runner-exec beside our executable starts in a fraction of our own time; we understand its word too. */
static void prefer_small_shim(struct dr__sandbox_state *g)
{
	char *slash = strrchr(g->shim, '/');
	if (!slash)
		return;
	char *small = dr_xasprintf("%.*s/delego-runner-exec", (int)(slash - g->shim), g->shim);
	if (access(small, X_OK) == 0)
		snprintf(g->shim, sizeof g->shim, "%s", small);
	free(small);
}

int dr_sandbox_setup(enum dr_sandbox_mode want, const char *shim)
{
	struct dr__sandbox_state *g = dr__sandbox_state();
	if (g->set)
		return 0;
	bool works;
	g->mode = dr_sandbox_probe(want, NULL, &works, g->note, sizeof g->note);
	g->fell_back = want == DR_SANDBOX_AUTO && g->mode == DR_SANDBOX_OFF;
	if (g->mode == DR_SANDBOX_BWRAP)
		(void)find_bwrap(NULL, g->bwrap, sizeof g->bwrap);
	size_t len = sizeof g->shim;
	if (shim)
		snprintf(g->shim, sizeof g->shim, "%s", shim);
	else if (uv_exepath(g->shim, &len) < 0)
		g->shim[0] = '\0';
	else
		prefer_small_shim(g);
	if (g->mode == DR_SANDBOX_LANDLOCK && (!g->shim[0] || access(g->shim, X_OK) != 0)) {
		snprintf(g->note, sizeof g->note, "off: cannot find this program's own executable to restrict agents "
						"with Landlock");
		g->mode = DR_SANDBOX_OFF;
		works = want == DR_SANDBOX_AUTO;
		g->fell_back = works;
	}
	g->set = true;
	return works ? 0 : -EOPNOTSUPP;
}

