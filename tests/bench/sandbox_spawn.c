/*
 * sandbox_spawn: starts a trivial agent N times through proc, as the
 * pipeline does, in one sandbox mode, and prints the median and p90 time
 * from spawn to exit, then the resident memory of the processes the
 * sandbox leaves running beside a sleeping agent (bwrap's two).
 *   sandbox_spawn MODE SHIM N WORKTREE SOURCE
 */
#include "delego/proc.h"
#include "delego/sandbox.h"
#include "delego/xalloc.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <sys/resource.h>
#include <unistd.h>
#include <uv.h>

extern char **environ;

static uint64_t now_us(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000 + (uint64_t)ts.tv_nsec / 1000;
}

static void on_exit_cb(void *data, const struct dr_proc_result *r)
{
	*(int *)data = r->exit_code;
}

static int cmp(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
	return x < y ? -1 : x > y;
}

/* KiB of VmRSS of pid and its descendants named bwrap. */
static long bwrap_rss(int pid)
{
	char path[64], comm[64] = "", line[256];
	long kib = 0;
	snprintf(path, sizeof path, "/proc/%d/comm", pid);
	FILE *f = fopen(path, "r");
	if (f && fgets(comm, sizeof comm, f))
		comm[strcspn(comm, "\n")] = '\0';
	if (f)
		fclose(f);
	snprintf(path, sizeof path, "/proc/%d/status", pid);
	if (!strcmp(comm, "bwrap") && (f = fopen(path, "r"))) {
		while (fgets(line, sizeof line, f))
			if (!strncmp(line, "VmRSS:", 6))
				kib += atol(line + 6);
		fclose(f);
	}
	snprintf(path, sizeof path, "/proc/%d/task/%d/children", pid, pid);
	if ((f = fopen(path, "r"))) {
		int child;
		while (fscanf(f, "%d", &child) == 1)
			kib += bwrap_rss(child);
		fclose(f);
	}
	return kib;
}

int main(int argc, char **argv)
{
	if (argc != 6)
		return 64;
	enum dr_sandbox_mode mode;
	if (dr_sandbox_parse_mode(argv[1], &mode) < 0 || dr_sandbox_setup(mode, argv[2]) < 0) {
		fprintf(stderr, "%s\n", dr_sandbox_note());
		return 1;
	}
	int n = atoi(argv[3]);
	struct dr_sandbox_in in = { .mode = dr_sandbox_mode(), .network = true, .home = getenv("HOME"),
				    .env = environ, .worktree = argv[4], .source = argv[5] };
	struct dr_sandbox_policy *pol = dr_sandbox_policy_new(&in);
	uv_loop_t *loop = uv_default_loop();
	uint64_t *t = dr_xcalloc((size_t)n, sizeof *t);
	char *agent[] = { "true", NULL };
	struct rusage r0, r1;
	getrusage(RUSAGE_CHILDREN, &r0);
	for (int i = 0; i < n; i++) {
		int code = -1;
		struct dr_proc_opts o = { .argv = agent, .env = environ, .cwd = argv[4], .on_exit = on_exit_cb,
					  .data = &code, .sandbox = pol };
		struct dr_proc *p;
		uint64_t t0 = now_us();
		if (dr_proc_spawn(loop, &o, &p) < 0)
			return 1;
		uv_run(loop, UV_RUN_DEFAULT);
		t[i] = now_us() - t0;
		if (code != 0) {
			fprintf(stderr, "agent exited %d\n", code);
			return 1;
		}
	}
	getrusage(RUSAGE_CHILDREN, &r1);
	/* CPU the children took: what the wall-clock figures mean on a machine that is not busy. */
	double cpu_ms = ((double)(r1.ru_utime.tv_sec - r0.ru_utime.tv_sec + r1.ru_stime.tv_sec - r0.ru_stime.tv_sec) * 1e3 +
			 (double)(r1.ru_utime.tv_usec - r0.ru_utime.tv_usec + r1.ru_stime.tv_usec - r0.ru_stime.tv_usec) / 1e3) /
			n;
	qsort(t, (size_t)n, sizeof *t, cmp);
	char *sleeper[] = { "sleep", "1", NULL };
	int code = -1;
	struct dr_proc_opts o = { .argv = sleeper, .env = environ, .cwd = argv[4], .on_exit = on_exit_cb,
				  .data = &code, .sandbox = pol };
	struct dr_proc *p;
	if (dr_proc_spawn(loop, &o, &p) < 0)
		return 1;
	while (dr_proc_pid(p) == 0) /* the exec is waited for off the loop */
		uv_run(loop, UV_RUN_ONCE);
	usleep(300000);
	long rss = bwrap_rss(dr_proc_pid(p));
	uv_run(loop, UV_RUN_DEFAULT);
	printf("RESULT sandbox=%s spawns=%d median_ms=%.2f p90_ms=%.2f cpu_ms_per_spawn=%.2f left_running_rss_kib=%ld\n",
	       dr_sandbox_mode_name(dr_sandbox_mode()), n, (double)t[n / 2] / 1000, (double)t[n * 9 / 10] / 1000,
	       cpu_ms, rss);
	free(t);
	dr_sandbox_policy_free(pol);
	return 0;
}
