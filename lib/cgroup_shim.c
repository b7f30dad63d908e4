/*
 * cgroup_shim: the exec shim that moves an agent into its job's cgroup
 * before it runs, and the unit's ExecStopPost= that ends what a stopped
 * runner left. See include/delego/cgroup.h.
 */
#include "delego/cgroup.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#ifdef __linux__

#include <dirent.h>
#include <limits.h>
#include <signal.h>
#include <sys/types.h>
#include <unistd.h>

#include "cgroup-int.h"

int dr_cgroup_join(const char *procs)
{
	char pid[32];
	fmt(pid, sizeof pid, "%d", (int)getpid());
	return dr__cgroup_write_text(procs, pid);
}

int dr_cgroup_exec_main(int argc, char **argv)
{
	if (argc < 5) {
		fprintf(stderr, "delego-runner: %s takes CGROUP_PROCS FILE ARG0 [ARG...]\n", DR_CGROUP_SHIM_WORD);
		return 125;
	}
	int r = dr_cgroup_join(argv[2]);
	if (r < 0) {
		/* Never run the agent outside the cgroup the runner will kill. */
		fprintf(stderr, "delego-runner: cannot move the agent into the cgroup %s: %s\n", argv[2], strerror(-r));
		return 125;
	}
	execv(argv[3], argv + 4);
	int e = errno;
	fprintf(stderr, "delego-runner: cannot run %s: %s\n", argv[3], strerror(e));
	return e == ENOENT ? 127 : 126;
}

/* Service results that mean the main process died rather than stopped (systemd.exec(5)). */
static bool crashed(const char *result)
{
	static const char *const kinds[] = { "signal", "core-dump", "exit-code", "watchdog", "oom-kill" };
	for (size_t i = 0; result && i < sizeof kinds / sizeof *kinds; i++)
		if (!strcmp(result, kinds[i]))
			return true;
	return false;
}

int dr_cgroup_stop_post(const char *unit_dir, const char *result, int self)
{
	if (crashed(result))
		return 0;
	int n = 0;
	DIR *d = opendir(unit_dir);
	if (!d)
		return -errno;
	struct dirent *de;
	char path[PATH_MAX + 300];
	while ((de = readdir(d))) {
		if (de->d_type != DT_DIR || de->d_name[0] == '.')
			continue;
		fmt(path, sizeof path, "%s/%s", unit_dir, de->d_name);
		(void)dr__cgroup_kill_and_remove(path, 0);
		n++;
	}
	closedir(d);
	/* In process-group mode the agents sit in the unit's own cgroup, beside us. */
	fmt(path, sizeof path, "%s/cgroup.procs", unit_dir);
	FILE *f = fopen(path, "re");
	if (f) {
		long pid;
		while (fscanf(f, "%ld", &pid) == 1)
			if (pid > 1 && pid != self && kill((pid_t)pid, SIGKILL) == 0)
				n++;
		fclose(f);
	}
	return n;
}

int dr_cgroup_stop_post_main(int argc, char **argv)
{
	(void)argc;
	(void)argv;
	const char *result = getenv("SERVICE_RESULT");
	char mount[PATH_MAX], own[PATH_MAX], dir[2 * PATH_MAX + 2];
	/* Only ever inside a unit of ours: at a namespace root this would end everything. */
	if (!getenv("INVOCATION_ID") || dr_cgroup_find_mount(mount, sizeof mount) < 0 ||
	    dr__cgroup_find_own(own, sizeof own) < 0 || !dr__cgroup_systemd_unit(own) || strstr(own, "/..")) {
		fprintf(stderr, "delego-runner: %s runs only as a unit's ExecStopPost=\n", DR_CGROUP_STOP_POST_WORD);
		return 64;
	}
	if (crashed(result)) {
		fprintf(stderr, "delego-runner: the runner ended abnormally (%s): its agents stay for the next start, "
				"which takes them over\n", result);
		return 0;
	}
	fmt(dir, sizeof dir, "%s%s", mount, own);
	int n = dr_cgroup_stop_post(dir, result, (int)getpid());
	if (n > 0)
		fprintf(stderr, "delego-runner: the unit stopped (%s): ended what was left of its jobs\n",
			result ? result : "stopped");
	return 0;
}

#else /* !__linux__ */

int dr_cgroup_join(const char *procs)
{
	return -EOPNOTSUPP;
}

int dr_cgroup_exec_main(int argc, char **argv)
{
	fprintf(stderr, "delego-runner: %s is Linux-only\n", DR_CGROUP_SHIM_WORD);
	return 125;
}

int dr_cgroup_stop_post(const char *unit_dir, const char *result, int self)
{
	(void)unit_dir;
	(void)result;
	(void)self;
	return 0;
}

int dr_cgroup_stop_post_main(int argc, char **argv)
{
	(void)argc;
	(void)argv;
	return 0;
}

#endif
