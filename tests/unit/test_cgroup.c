#include "delego/cgroup.h"
#include "delego/proc.h"
#include "delego/xalloc.h"
#include "check_main.h"

#include <errno.h>
#include <libgen.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

static char tmpdir[PATH_MAX];

static void setup(void)
{
	snprintf(tmpdir, sizeof tmpdir, "%s/dr-cgroup-XXXXXX", getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp");
	ck_assert_ptr_nonnull(mkdtemp(tmpdir));
}

static void teardown(void)
{
	char path[PATH_MAX + 32];
	snprintf(path, sizeof path, "%s/cgroup.controllers", tmpdir);
	unlink(path);
	rmdir(tmpdir);
	dr_cgroup_shutdown();
}

START_TEST(test_names)
{
	ck_assert(dr_cgroup_name_valid("job_1-abc"));
	ck_assert(dr_cgroup_name_valid("0b6f9e2c-5d8a-4c7e-9f1b-3a2d4e6f8a0c"));
	ck_assert(!dr_cgroup_name_valid(NULL));
	ck_assert(!dr_cgroup_name_valid(""));
	ck_assert(!dr_cgroup_name_valid(".."));
	ck_assert(!dr_cgroup_name_valid("a/b"));
	ck_assert(!dr_cgroup_name_valid("-x"));
	ck_assert(!dr_cgroup_name_valid("a.b"));
	char longid[200];
	memset(longid, 'a', sizeof longid - 1);
	longid[sizeof longid - 1] = '\0';
	ck_assert(!dr_cgroup_name_valid(longid));
	/* The runner's own name may have a dot (profile.hash), never a slash. */
	struct dr_cgroup_opts o = { .name = "../x", .mount = tmpdir, .own = "/" };
	ck_assert_int_eq(dr_cgroup_setup(&o), -EINVAL);
	ck_assert_int_eq(dr_cgroup_mode(), DR_CGROUP_PROCESS_GROUP);
	ck_assert_str_eq(dr_cgroup_mode_name(), "process-group");
}
END_TEST

START_TEST(test_not_ours)
{
	/* A directory that is no cgroup: no cgroup.procs to write, so process groups, saying why. */
	char note[1024];
	struct dr_cgroup_opts o = { .name = "t", .mount = tmpdir, .own = "/", .pids_max = 10 };
	ck_assert_int_eq(dr_cgroup_probe(&o, note, sizeof note), DR_CGROUP_PROCESS_GROUP);
	ck_assert_ptr_nonnull(strstr(note, "process groups: cgroup v2 is mounted at"));
	ck_assert_ptr_nonnull(strstr(note, "Delegate=yes"));
	ck_assert_ptr_nonnull(strstr(note, "--agent-pids-max cannot apply without cgroups"));
	ck_assert_int_eq(dr_cgroup_setup(&o), 0);
	ck_assert_int_eq(dr_cgroup_mode(), DR_CGROUP_PROCESS_GROUP);
	ck_assert_ptr_nonnull(dr_cgroup_limits_note());
	struct dr_cgroup *cg = NULL;
	ck_assert_int_eq(dr_cgroup_create("job1", &cg), -EOPNOTSUPP);
	ck_assert_ptr_null(cg);

	/* Outside the namespace, or chosen by the user. */
	o.own = "/../elsewhere";
	ck_assert_int_eq(dr_cgroup_probe(&o, note, sizeof note), DR_CGROUP_PROCESS_GROUP);
	ck_assert_ptr_nonnull(strstr(note, "outside its cgroup namespace"));
	o.own = "/";
	o.process_groups = true;
	ck_assert_int_eq(dr_cgroup_probe(&o, note, sizeof note), DR_CGROUP_PROCESS_GROUP);
	ck_assert_ptr_nonnull(strstr(note, "as configured (--containment process-group)"));
}
END_TEST

START_TEST(test_systemd_not_delegated)
{
	/* A writable cgroup named like a systemd unit, without the delegate xattr, is systemd's. */
	char unit[PATH_MAX + 64], path[PATH_MAX + 96];
	snprintf(unit, sizeof unit, "%s/app.service", tmpdir);
	ck_assert_int_eq(mkdir(unit, 0755), 0);
	snprintf(path, sizeof path, "%s/cgroup.procs", unit);
	FILE *f = fopen(path, "w");
	ck_assert_ptr_nonnull(f);
	fclose(f);
	char note[1024];
	struct dr_cgroup_opts o = { .name = "t", .mount = tmpdir, .own = "/app.service" };
	ck_assert_int_eq(dr_cgroup_probe(&o, note, sizeof note), DR_CGROUP_PROCESS_GROUP);
	ck_assert_ptr_nonnull(strstr(note, "belongs to systemd and is not delegated"));
	/* The same cgroup under a name no service manager uses is taken. */
	o.own = "/mine";
	char mine[PATH_MAX + 64];
	snprintf(mine, sizeof mine, "%s/mine", tmpdir);
	ck_assert_int_eq(rename(unit, mine), 0);
	ck_assert_int_eq(dr_cgroup_probe(&o, note, sizeof note), DR_CGROUP_V2);
	ck_assert_ptr_nonnull(strstr(note, "cgroup v2 (delegated /mine)"));
	snprintf(path, sizeof path, "%s/cgroup.procs", mine);
	unlink(path);
	rmdir(mine);
}
END_TEST

/* The real thing, where this test runs at the root of a writable cgroup v2 (a container as root). */
static char mount_point[PATH_MAX];
static char shim[PATH_MAX];

static bool real_cgroups(void)
{
	if (dr_cgroup_find_mount(mount_point, sizeof mount_point) < 0)
		return false;
	char procs[PATH_MAX + 32];
	snprintf(procs, sizeof procs, "%s/cgroup.procs", mount_point);
	FILE *f = fopen("/proc/self/cgroup", "r");
	char line[512];
	bool root = false;
	while (f && fgets(line, sizeof line, f))
		root |= strcmp(line, "0::/\n") == 0;
	if (f)
		fclose(f);
	char exe[PATH_MAX];
	ssize_t n = readlink("/proc/self/exe", exe, sizeof exe - 1);
	ck_assert_int_gt(n, 0);
	exe[n] = '\0';
	snprintf(shim, sizeof shim, "%s/../../delego-runner", dirname(exe));
	ck_assert_msg(access(shim, X_OK) == 0, "%s not built", shim);
	return root && access(procs, W_OK) == 0;
}

struct run {
	struct dr_proc_result r;
	char *out; /* r.out, copied: it is borrowed for the callback only */
	int exits;
};

static void on_exit_cb(void *data, const struct dr_proc_result *r)
{
	struct run *run = data;
	run->r = *r;
	free(run->out);
	run->out = dr_xstrdup(r->out);
	run->r.out = run->r.stdout_tail = run->r.stderr_tail = NULL;
	run->exits++;
}

static bool gone(pid_t pid)
{
	for (int i = 0; i < 100; i++) {
		if (kill(pid, 0) < 0 && errno == ESRCH)
			return true;
		char path[64], st[512];
		snprintf(path, sizeof path, "/proc/%d/stat", (int)pid);
		FILE *f = fopen(path, "r");
		if (f) {
			bool zombie = fgets(st, sizeof st, f) && strstr(st, ") Z ");
			fclose(f);
			if (zombie)
				return true;
		}
		usleep(50000);
	}
	return false;
}

START_TEST(test_real_daemon_is_killed)
{
	if (!real_cgroups()) {
		fprintf(stderr, "test_real_daemon_is_killed: no writable cgroup v2 root here; only the mode is checked\n");
		return;
	}
	char name[64], pidfile[PATH_MAX + 16];
	snprintf(name, sizeof name, "unit-test.%d", (int)getpid());
	snprintf(pidfile, sizeof pidfile, "%s/daemon.pid", tmpdir);
	struct dr_cgroup_opts o = { .name = name, .shim = shim, .pids_max = 32 };
	ck_assert_int_eq(dr_cgroup_setup(&o), 0);
	ck_assert_msg(dr_cgroup_mode() == DR_CGROUP_V2, "%s", dr_cgroup_note());
	ck_assert_str_eq(dr_cgroup_mode_name(), "cgroup");

	uv_loop_t loop;
	uv_loop_init(&loop);
	/* A daemon: a new session, stdio closed, the agent exits at once. */
	char script[PATH_MAX + 128];
	snprintf(script, sizeof script,
		 "grep '^0::' /proc/self/cgroup; setsid sleep 300 </dev/null >/dev/null 2>&1 & echo $! > %s", pidfile);
	char *argv[] = { "sh", "-c", script, NULL };
	char *env[] = { "PATH=/usr/bin:/bin", NULL };
	struct run run = { 0 };
	struct dr_cgroup *job = dr_cgroup_make("job-1");
	ck_assert_ptr_nonnull(job);
	struct dr_proc_opts po = { .argv = argv, .env = env, .on_exit = on_exit_cb, .data = &run, .cgroup = job,
				   .capture_max = 4096 };
	struct dr_proc *p;
	ck_assert_int_eq(dr_proc_spawn(&loop, &po, &p), 0);
	uv_run(&loop, UV_RUN_DEFAULT);
	ck_assert_int_eq(run.exits, 1);
	/* proc emptied it; its owner removes it. */
	ck_assert_int_eq(dr_cgroup_populated(job), 0);
	job = dr_cgroup_close(job);
	ck_assert_int_eq(run.r.exit_code, 0);
	ck_assert(run.r.contained);
	/* Under valgrind the agent is slow enough that the count races the
	 * daemon's start; what matters, that it is gone, is checked below. */
	if (!getenv("DR_UNDER_VALGRIND"))
		ck_assert_int_ge(run.r.leftovers, 1);
	char want[128];
	snprintf(want, sizeof want, "0::/delego-runner.%s/job-job-1\n", name);
	ck_assert_str_eq(run.out, want);
	free(run.out);
	FILE *f = fopen(pidfile, "r");
	ck_assert_ptr_nonnull(f);
	int daemon = 0;
	ck_assert_int_eq(fscanf(f, "%d", &daemon), 1);
	fclose(f);
	unlink(pidfile);
	ck_assert_msg(gone(daemon), "the setsid'd daemon %d survived its job", daemon);
	char dir[PATH_MAX + 128];
	snprintf(dir, sizeof dir, "%s/delego-runner.%s", mount_point, name);
	ck_assert_msg(access(dir, F_OK) != 0, "%s is left after the last job", dir);

	/* A missing program is still ENOENT through the shim, and leaves no cgroup. */
	char *missing[] = { "no-such-agent-here", NULL };
	po.argv = missing;
	po.cgroup = dr_cgroup_make("job-2");
	ck_assert_ptr_nonnull(po.cgroup);
	ck_assert_int_eq(dr_proc_spawn(&loop, &po, &p), -ENOENT);
	(void)dr_cgroup_close(po.cgroup);
	ck_assert_int_eq(access(dir, F_OK), -1);
	uv_run(&loop, UV_RUN_DEFAULT);
	ck_assert_int_eq(uv_loop_close(&loop), 0);
}
END_TEST

START_TEST(test_real_stale_and_terminate)
{
	if (!real_cgroups())
		return;
	char name[64], base[PATH_MAX + 96], stale[PATH_MAX + 128], procs[PATH_MAX + 160];
	snprintf(name, sizeof name, "unit-test-stale.%d", (int)getpid());
	snprintf(base, sizeof base, "%s/delego-runner.%s", mount_point, name);
	snprintf(stale, sizeof stale, "%s/job-old", base);
	snprintf(procs, sizeof procs, "%s/cgroup.procs", stale);
	ck_assert_int_eq(mkdir(base, 0755), 0);
	ck_assert_int_eq(mkdir(stale, 0755), 0);
	pid_t child = fork();
	ck_assert_int_ge(child, 0);
	if (child == 0) {
		FILE *f = fopen(procs, "w");
		if (!f || fprintf(f, "%d", (int)getpid()) < 0 || fclose(f) != 0)
			_exit(99);
		execlp("sleep", "sleep", "300", (char *)NULL);
		_exit(98);
	}
	for (int i = 0; i < 100; i++) {
		char text[64] = "";
		FILE *f = fopen(procs, "r");
		if (f) {
			if (!fgets(text, sizeof text, f))
				text[0] = '\0';
			fclose(f);
		}
		if (text[0])
			break;
		usleep(20000);
	}
	struct dr_cgroup_opts o = { .name = name, .shim = shim };
	ck_assert_int_eq(dr_cgroup_setup(&o), 0);
	ck_assert_int_eq(dr_cgroup_mode(), DR_CGROUP_V2);
	int status;
	ck_assert_int_eq(waitpid(child, &status, 0), child);
	ck_assert(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL);
	/* Its directory goes at once or, still busy, before the next job. */
	struct dr_cgroup *cg;
	ck_assert_int_eq(dr_cgroup_create("next", &cg), 0);
	ck_assert_int_eq(access(stale, F_OK), -1);

	/* Terminate: SIGTERM reaches every process in the cgroup, including one in another session. */
	uv_loop_t loop;
	uv_loop_init(&loop);
	char *argv[] = { "sh", "-c", "setsid sleep 300 </dev/null >/dev/null 2>&1 & exec sleep 300", NULL };
	char *env[] = { "PATH=/usr/bin:/bin", NULL };
	struct run run = { 0 };
	struct dr_cgroup *job = dr_cgroup_make("t2");
	ck_assert_ptr_nonnull(job);
	struct dr_proc_opts po = { .argv = argv, .env = env, .on_exit = on_exit_cb, .data = &run, .cgroup = job,
				   .kill_grace_ms = 2000 };
	struct dr_proc *p;
	ck_assert_int_eq(dr_proc_spawn(&loop, &po, &p), 0);
	char t2[PATH_MAX + 128];
	snprintf(t2, sizeof t2, "%s/job-t2", base);
	for (int i = 0; i < 100; i++) {
		uv_run(&loop, UV_RUN_NOWAIT);
		usleep(10000);
	}
	ck_assert_int_eq(access(t2, F_OK), 0);
	dr_proc_terminate(p);
	uv_run(&loop, UV_RUN_DEFAULT);
	ck_assert_int_eq(run.exits, 1);
	ck_assert_int_eq(run.r.term_signal, SIGTERM);
	free(run.out);
	ck_assert(run.r.contained);
	(void)dr_cgroup_close(job);
	ck_assert_int_eq(access(t2, F_OK), -1);
	ck_assert_int_eq(uv_loop_close(&loop), 0);

	ck_assert_int_eq(dr_cgroup_populated(cg), 0);
	ck_assert_int_eq(dr_cgroup_remove(cg), 0);
	dr_cgroup_free(cg);
	ck_assert_int_eq(access(base, F_OK), -1);
}
END_TEST

/*
 * An agent a previous run started (supervise.h): its job cgroup, kept by the
 * sweep because the journal still has the job, is found as it is; nothing
 * in it is killed until the caller says so.
 */
START_TEST(test_open_adopted)
{
	struct dr_cgroup *cg = NULL;
	ck_assert_int_eq(dr_cgroup_open("keep", NULL, &cg), -EOPNOTSUPP); /* process-group mode */
	ck_assert_ptr_null(dr_cgroup_job_path("keep"));
	if (!real_cgroups())
		return;
	char name[64], base[PATH_MAX + 96], kept[PATH_MAX + 128], procs[PATH_MAX + 160], entry[PATH_MAX + 32];
	snprintf(name, sizeof name, "unit-test-open.%d", (int)getpid());
	snprintf(base, sizeof base, "%s/delego-runner.%s", mount_point, name);
	snprintf(kept, sizeof kept, "%s/job-keep", base);
	snprintf(procs, sizeof procs, "%s/cgroup.procs", kept);
	snprintf(entry, sizeof entry, "%s/keep.json", tmpdir);
	ck_assert_int_eq(mkdir(base, 0755), 0);
	ck_assert_int_eq(mkdir(kept, 0755), 0);
	FILE *jf = fopen(entry, "w");
	ck_assert_ptr_nonnull(jf);
	fclose(jf);
	pid_t child = fork();
	ck_assert_int_ge(child, 0);
	if (child == 0) {
		FILE *f = fopen(procs, "w");
		if (!f || fprintf(f, "%d", (int)getpid()) < 0 || fclose(f) != 0)
			_exit(99);
		execlp("sleep", "sleep", "300", (char *)NULL);
		_exit(98);
	}
	for (int i = 0; i < 100 && access(procs, F_OK) == 0; i++) {
		char text[64] = "";
		FILE *f = fopen(procs, "r");
		if (f && !fgets(text, sizeof text, f))
			text[0] = '\0';
		if (f)
			fclose(f);
		if (text[0])
			break;
		usleep(20000);
	}
	struct dr_cgroup_opts o = { .name = name, .shim = shim, .journal_dir = tmpdir };
	ck_assert_int_eq(dr_cgroup_setup(&o), 0);
	ck_assert_int_eq(dr_cgroup_mode(), DR_CGROUP_V2);
	char *path = dr_cgroup_job_path("keep");
	ck_assert_str_eq(path, kept);
	free(path);
	ck_assert_int_eq(dr_cgroup_open("keep", "/sys/fs/cgroup/elsewhere/job-keep", &cg), -EXDEV);
	ck_assert_int_eq(dr_cgroup_open("gone", NULL, &cg), -ENOENT);
	ck_assert_int_eq(dr_cgroup_open("../keep", NULL, &cg), -EINVAL);
	ck_assert_int_eq(dr_cgroup_open("keep", kept, &cg), 0);
	ck_assert_str_eq(dr_cgroup_path(cg), kept);
	/* Found, not killed: the sweep left it and open does nothing to it. */
	int st;
	ck_assert_int_eq(waitpid(child, &st, WNOHANG), 0);
	ck_assert_int_eq(dr_cgroup_populated(cg), 1);
	ck_assert_int_eq(dr_cgroup_signal(cg, SIGKILL), 1);
	ck_assert_int_eq(waitpid(child, &st, 0), child);
	ck_assert(WIFSIGNALED(st) && WTERMSIG(st) == SIGKILL);
	for (int i = 0; i < 100 && dr_cgroup_populated(cg) == 1; i++)
		usleep(10000);
	ck_assert_int_eq(dr_cgroup_remove(cg), 0);
	dr_cgroup_free(cg);
	ck_assert_int_eq(access(kept, F_OK), -1);
	ck_assert_int_eq(access(base, F_OK), -1); /* the runner's directory goes with its last job */
	unlink(entry);
}
END_TEST

/* ExecStopPost: after a stop, the unit's job cgroups and stray processes go; after a crash, nothing does. */
START_TEST(test_stop_post)
{
	char unit[PATH_MAX + 32], path[PATH_MAX + 96];
	snprintf(unit, sizeof unit, "%s/unit.service", tmpdir);
	ck_assert_int_eq(mkdir(unit, 0755), 0);
	snprintf(path, sizeof path, "%s/job-a", unit);
	ck_assert_int_eq(mkdir(path, 0755), 0);
	pid_t child = fork();
	if (child == 0) {
		pause();
		_exit(0);
	}
	snprintf(path, sizeof path, "%s/cgroup.procs", unit);
	FILE *f = fopen(path, "w");
	ck_assert_ptr_nonnull(f);
	fprintf(f, "%d\n%d\n", (int)getpid(), (int)child);
	fclose(f);
	/* A crash: the agents are the next daemon's. */
	ck_assert_int_eq(dr_cgroup_stop_post(unit, "signal", (int)getpid()), 0);
	ck_assert_int_eq(dr_cgroup_stop_post(unit, "oom-kill", (int)getpid()), 0);
	ck_assert_int_eq(kill(child, 0), 0);
	snprintf(path, sizeof path, "%s/job-a", unit);
	ck_assert_int_eq(access(path, F_OK), 0);
	/* A stop: the job cgroup and the stray process go, we stay. */
	ck_assert_int_eq(dr_cgroup_stop_post(unit, "success", (int)getpid()), 2);
	int st;
	ck_assert_int_eq(waitpid(child, &st, 0), child);
	ck_assert(WIFSIGNALED(st) && WTERMSIG(st) == SIGKILL);
	ck_assert_int_eq(access(path, F_OK), -1);
	ck_assert_int_lt(dr_cgroup_stop_post("/nonexistent/unit.service", "timeout", 1), 0);
	snprintf(path, sizeof path, "%s/cgroup.procs", unit);
	unlink(path);
	rmdir(unit);
}
END_TEST

static Suite *cgroup_suite(void)
{
	Suite *s = suite_create("cgroup");
	TCase *tc = tcase_create("core");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_set_timeout(tc, 30);
	tcase_add_test(tc, test_names);
	tcase_add_test(tc, test_not_ours);
	tcase_add_test(tc, test_systemd_not_delegated);
	tcase_add_test(tc, test_real_daemon_is_killed);
	tcase_add_test(tc, test_real_stale_and_terminate);
	tcase_add_test(tc, test_open_adopted);
	tcase_add_test(tc, test_stop_post);
	suite_add_tcase(s, tc);
	return s;
}

DR_CHECK_MAIN(cgroup_suite)
