#include "delego/proc.h"
#include "delego/xalloc.h"
#include "check_main.h"

#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <libgen.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* One run of the helper: every line it printed and how it ended. */
struct run {
	char **out_lines;
	char **err_lines;
	bool *out_trunc;
	size_t nout, nerr;
	int exits;
	struct dr_proc_result r;
	char *stdout_tail, *stderr_tail, *out;
	struct dr_proc *p;
	const char *terminate_on; /* terminate when this stdout line arrives */
	uint64_t t0, t_end;
};

static char helper[PATH_MAX];
static char tmpdir[PATH_MAX];

static void find_helper(void)
{
	char exe[PATH_MAX];
	ssize_t n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
	ck_assert_int_gt(n, 0);
	exe[n] = '\0';
	snprintf(helper, sizeof(helper), "%s/../helpers/proc_child", dirname(exe));
	ck_assert_msg(access(helper, X_OK) == 0, "helper %s not built", helper);
	snprintf(tmpdir, sizeof(tmpdir), "%s/dr-proc-XXXXXX", getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp");
	ck_assert_ptr_nonnull(mkdtemp(tmpdir));
}

static int rm_one(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	return remove(path);
}

static void teardown(void)
{
	if (tmpdir[0])
		nftw(tmpdir, rm_one, 16, FTW_DEPTH | FTW_PHYS);
	tmpdir[0] = '\0';
}

static void on_line(void *data, int fd, const char *line, size_t len, bool truncated)
{
	struct run *r = data;
	ck_assert_int_eq(r->exits, 0); /* no line after the end */
	if (fd == 1) {
		r->out_lines = dr_xrealloc(r->out_lines, (r->nout + 1) * sizeof(char *));
		r->out_trunc = dr_xrealloc(r->out_trunc, (r->nout + 1) * sizeof(bool));
		r->out_trunc[r->nout] = truncated;
		r->out_lines[r->nout++] = dr_xstrndup(line, len);
		if (r->terminate_on && len == strlen(r->terminate_on) && !memcmp(line, r->terminate_on, len))
			dr_proc_terminate(r->p);
	} else {
		ck_assert_int_eq(fd, 2);
		r->err_lines = dr_xrealloc(r->err_lines, (r->nerr + 1) * sizeof(char *));
		r->err_lines[r->nerr++] = dr_xstrndup(line, len);
	}
}

static void on_exit_(void *data, const struct dr_proc_result *res)
{
	struct run *r = data;
	r->exits++;
	r->r = *res;
	r->stdout_tail = dr_xstrndup(res->stdout_tail, res->stdout_len);
	r->stderr_tail = dr_xstrndup(res->stderr_tail, res->stderr_len);
	r->out = dr_xstrndup(res->out, res->out_len);
	r->t_end = uv_hrtime();
	r->p = NULL;
}

/* Runs the helper with the given actions to completion on a private loop. */
static int run_opts(struct run *r, struct dr_proc_opts *o, const char **actions)
{
	uv_loop_t loop;
	uv_loop_init(&loop);
	char *argv[64];
	size_t n = 0;
	argv[n++] = helper;
	for (; actions && actions[n - 1]; n++)
		argv[n] = (char *)actions[n - 1];
	argv[n] = NULL;
	o->argv = argv;
	o->on_line = o->on_line ? o->on_line : on_line;
	o->on_exit = on_exit_;
	o->data = r;
	r->t0 = uv_hrtime();
	int rc = dr_proc_spawn(&loop, o, &r->p);
	uv_run(&loop, UV_RUN_DEFAULT);
	ck_assert_int_eq(uv_loop_close(&loop), 0); /* every handle closed */
	return rc;
}

static int run(struct run *r, const char **actions)
{
	char *env[] = { "PATH=/usr/bin:/bin", NULL };
	struct dr_proc_opts o = { .env = env };
	return run_opts(r, &o, actions);
}

static double elapsed_s(const struct run *r)
{
	return (double)(r->t_end - r->t0) / 1e9;
}

static pid_t read_pid(const char *file)
{
	FILE *f = fopen(file, "r");
	int pid = 0;
	if (f) {
		if (fscanf(f, "%d", &pid) != 1)
			pid = 0;
		fclose(f);
	}
	return pid;
}

/* Dead or a zombie waiting for a reaper. */
static bool gone(pid_t pid)
{
	char path[64], buf[512];
	snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
	FILE *f = fopen(path, "r");
	if (!f)
		return true;
	size_t n = fread(buf, 1, sizeof(buf) - 1, f);
	fclose(f);
	buf[n] = '\0';
	char *close_paren = strrchr(buf, ')');
	return close_paren && close_paren[1] == ' ' && (close_paren[2] == 'Z' || close_paren[2] == 'X');
}

static bool wait_gone(pid_t pid, int ms)
{
	for (int i = 0; i < ms / 10; i++) {
		if (gone(pid))
			return true;
		usleep(10000);
	}
	return gone(pid);
}

static void strs_free(char **v, size_t n)
{
	for (size_t i = 0; i < n; i++)
		free(v[i]);
	free(v);
}

static void run_release(struct run *r)
{
	strs_free(r->out_lines, r->nout);
	strs_free(r->err_lines, r->nerr);
	free(r->out_trunc);
	free(r->stdout_tail);
	free(r->stderr_tail);
	free(r->out);
}

START_TEST(lines_exit_code_and_partial_last_line)
{
	find_helper();
	struct run r = { 0 };
	const char *a[] = { "out", "one", "err", "warn 1", "out", "two\r", "raw", "partial", "exit", "3", NULL };
	ck_assert_int_eq(run(&r, a), 0);
	ck_assert_int_eq(r.exits, 1);
	ck_assert_uint_eq(r.nout, 3);
	ck_assert_str_eq(r.out_lines[0], "one");
	ck_assert_str_eq(r.out_lines[1], "two");
	ck_assert_str_eq(r.out_lines[2], "partial");
	ck_assert_uint_eq(r.nerr, 1);
	ck_assert_str_eq(r.err_lines[0], "warn 1");
	ck_assert_int_eq(r.r.exit_code, 3);
	ck_assert_int_eq(r.r.term_signal, 0);
	ck_assert(!r.r.timed_out && !r.r.terminated && !r.r.pipes_cut);
	ck_assert_str_eq(r.stdout_tail, "one\ntwo\r\npartial");
	ck_assert_str_eq(r.stderr_tail, "warn 1\n");
	run_release(&r);
}
END_TEST

START_TEST(signal_status_is_normalised_like_a_shell)
{
	find_helper();
	struct run r = { 0 };
	const char *a[] = { "out", "bye", "kill", "15", NULL };
	ck_assert_int_eq(run(&r, a), 0);
	ck_assert_int_eq(r.r.exit_code, 128 + SIGTERM);
	ck_assert_int_eq(r.r.term_signal, SIGTERM);
	ck_assert(!r.r.terminated);
	run_release(&r);
}
END_TEST

START_TEST(long_line_is_truncated_and_the_rest_skipped)
{
	find_helper();
	struct run r = { 0 };
	char *env[] = { NULL };
	struct dr_proc_opts o = { .env = env, .line_max = 1000 };
	const char *a[] = { "out", "short", "big", "300000", "x", "raw", "\nafter\n", "big", "1000", "y", "raw",
			    "\n", "big", "1001", "z", NULL };
	ck_assert_int_eq(run_opts(&r, &o, a), 0);
	ck_assert_uint_eq(r.nout, 5);
	ck_assert_str_eq(r.out_lines[0], "short");
	ck_assert(!r.out_trunc[0]);
	ck_assert_uint_eq(strlen(r.out_lines[1]), 1000);
	ck_assert(r.out_trunc[1]);
	ck_assert_int_eq(r.out_lines[1][999], 'x');
	ck_assert_str_eq(r.out_lines[2], "after");
	ck_assert(!r.out_trunc[2]);
	ck_assert_uint_eq(strlen(r.out_lines[3]), 1000); /* exactly the cap: whole */
	ck_assert(!r.out_trunc[3]);
	ck_assert_uint_eq(strlen(r.out_lines[4]), 1000); /* one over, at EOF */
	ck_assert(r.out_trunc[4]);
	run_release(&r);
}
END_TEST

START_TEST(default_line_cap_is_one_mebibyte)
{
	find_helper();
	struct run r = { 0 };
	const char *a[] = { "big", "3000000", "q", "raw", "\nend\n", NULL };
	ck_assert_int_eq(run(&r, a), 0);
	ck_assert_uint_eq(r.nout, 2);
	ck_assert_uint_eq(strlen(r.out_lines[0]), DR_PROC_LINE_DEFAULT);
	ck_assert(r.out_trunc[0]);
	ck_assert_str_eq(r.out_lines[1], "end");
	run_release(&r);
}
END_TEST

START_TEST(tails_keep_the_last_64_kib)
{
	find_helper();
	struct run r = { 0 };
	const char *a[] = { "big", "200000", "a", "raw", "THE-END", NULL };
	ck_assert_int_eq(run(&r, a), 0);
	ck_assert_uint_eq(r.r.stdout_len, 64 * 1024);
	ck_assert_str_eq(r.stdout_tail + 64 * 1024 - 7, "THE-END");
	ck_assert_int_eq(r.stdout_tail[0], 'a');
	run_release(&r);
}
END_TEST

START_TEST(timeout_terminates_the_group)
{
	find_helper();
	struct run r = { 0 };
	char *env[] = { NULL };
	struct dr_proc_opts o = { .env = env, .timeout_ms = 200 };
	const char *a[] = { "out", "started", "sleep", "20000", NULL };
	ck_assert_int_eq(run_opts(&r, &o, a), 0);
	ck_assert(r.r.timed_out);
	ck_assert(r.r.terminated);
	ck_assert_int_eq(r.r.exit_code, 128 + SIGTERM);
	ck_assert_int_eq(r.r.term_signal, SIGTERM);
	ck_assert_double_lt(elapsed_s(&r), 3.0);
	ck_assert_uint_eq(r.nout, 1);
	run_release(&r);
}
END_TEST

START_TEST(sigterm_ignored_means_sigkill_after_grace)
{
	find_helper();
	struct run r = { 0 };
	char *env[] = { NULL };
	struct dr_proc_opts o = { .env = env, .kill_grace_ms = 300 };
	r.terminate_on = "stubborn"; /* printed once SIGTERM is ignored: no race with the start */
	const char *a[] = { "ignore-term", "out", "stubborn", "sleep", "20000", NULL };
	ck_assert_int_eq(run_opts(&r, &o, a), 0);
	ck_assert(r.r.terminated && !r.r.timed_out);
	ck_assert_int_eq(r.r.exit_code, 128 + SIGKILL);
	ck_assert_int_eq(r.r.term_signal, SIGKILL);
	uint64_t grace_ns = (r.t_end - r.t0);
	ck_assert_uint_ge(grace_ns, 300 * 1000000ULL);
	ck_assert_double_lt(elapsed_s(&r), 3.0);
	run_release(&r);
}
END_TEST

START_TEST(grandchild_holding_pipes_cannot_hang_the_run)
{
	find_helper();
	struct run r = { 0 };
	char pidfile[PATH_MAX + 16];
	snprintf(pidfile, sizeof(pidfile), "%s/gc.pid", tmpdir);
	char *env[] = { NULL };
	struct dr_proc_opts o = { .env = env, .drain_ms = 300 };
	const char *a[] = { "fork-sleep", "30000", pidfile, "out", "parent done", "exit", "0", NULL };
	ck_assert_int_eq(run_opts(&r, &o, a), 0);
	ck_assert_int_eq(r.exits, 1);
	ck_assert_int_eq(r.r.exit_code, 0);
	ck_assert(r.r.pipes_cut);
	ck_assert_double_lt(elapsed_s(&r), 3.0);
	ck_assert_str_eq(r.out_lines[r.nout - 1], "parent done");
	pid_t gc = read_pid(pidfile);
	ck_assert_int_gt(gc, 0);
	ck_assert_msg(wait_gone(gc, 2000), "grandchild %d survived", (int)gc);
	run_release(&r);
}
END_TEST

START_TEST(terminate_leaves_no_process_of_the_tree)
{
	find_helper();
	struct run r = { 0 };
	char pidfile[PATH_MAX + 16];
	snprintf(pidfile, sizeof(pidfile), "%s/quiet.pid", tmpdir);
	char *env[] = { NULL };
	struct dr_proc_opts o = { .env = env };
	r.terminate_on = "ready";
	const char *a[] = { "fork-quiet", "30000", pidfile, "out", "ready", "sleep", "20000", NULL };
	ck_assert_int_eq(run_opts(&r, &o, a), 0);
	ck_assert(r.r.terminated);
	ck_assert(!r.r.timed_out);
	ck_assert_int_eq(r.r.exit_code, 128 + SIGTERM);
	ck_assert_double_lt(elapsed_s(&r), 3.0);
	pid_t gc = read_pid(pidfile);
	ck_assert_int_gt(gc, 0);
	ck_assert_msg(wait_gone(gc, 2000), "grandchild %d (ignores SIGTERM, no pipes) survived", (int)gc);
	run_release(&r);
}
END_TEST

START_TEST(missing_executable_and_cwd_are_clear_errors)
{
	find_helper();
	uv_loop_t loop;
	uv_loop_init(&loop);
	struct run r = { 0 };
	char *env[] = { "PATH=/nonexistent", NULL };
	char *argv[] = { "definitely-not-a-command-xyz", NULL };
	struct dr_proc_opts o = { .argv = argv, .env = env, .on_exit = on_exit_, .data = &r };
	struct dr_proc *p = NULL;
	ck_assert_int_eq(dr_proc_spawn(&loop, &o, &p), -ENOENT);
	char *argv2[] = { "/nonexistent/bin/tool", NULL };
	o.argv = argv2;
	ck_assert_int_eq(dr_proc_spawn(&loop, &o, &p), -ENOENT);
	o.argv = (char *[]){ helper, NULL };
	o.cwd = "/nonexistent-dir";
	ck_assert_int_eq(dr_proc_spawn(&loop, &o, &p), -ENOTDIR);
	o.cwd = NULL;
	char plain[PATH_MAX + 16];
	snprintf(plain, sizeof(plain), "%s/not-executable", tmpdir);
	FILE *f = fopen(plain, "w");
	ck_assert_ptr_nonnull(f);
	fputs("#!/bin/sh\n", f);
	fclose(f);
	o.argv = (char *[]){ plain, NULL };
	ck_assert_int_eq(dr_proc_spawn(&loop, &o, &p), -EACCES);
	uv_run(&loop, UV_RUN_DEFAULT);
	ck_assert_int_eq(r.exits, 0); /* a failed spawn never calls back */
	ck_assert_int_eq(uv_loop_close(&loop), 0);
	run_release(&r);
}
END_TEST

START_TEST(child_inherits_no_other_descriptor)
{
	find_helper();
	int leak = open("/dev/null", O_RDONLY); /* deliberately without O_CLOEXEC */
	int sv[2];
	ck_assert_int_eq(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
	ck_assert_int_ge(leak, 3);
	struct run r = { 0 };
	const char *a[] = { "fds", NULL };
	ck_assert_int_eq(run(&r, a), 0);
	ck_assert_str_eq(r.out_lines[0], "fds:0");
	run_release(&r);
	close(leak);
	close(sv[0]);
	close(sv[1]);
}
END_TEST

START_TEST(stdin_is_dev_null_and_child_leads_its_group)
{
	find_helper();
	struct run r = { 0 };
	const char *a[] = { "stdin", "pgid", NULL };
	ck_assert_int_eq(run(&r, a), 0);
	ck_assert_uint_eq(r.nout, 2);
	ck_assert_str_eq(r.out_lines[0], "stdin:0");
	ck_assert_str_eq(r.out_lines[1], "pgid-is-pid");
	run_release(&r);
}
END_TEST

START_TEST(environment_is_exactly_the_one_given)
{
	find_helper();
	setenv("DELEGO_SECRET_TEST", "leak", 1);
	struct run r = { 0 };
	char *env[] = { "FOO=bar", NULL };
	struct dr_proc_opts o = { .env = env };
	const char *a[] = { "env", "FOO", "env", "DELEGO_SECRET_TEST", "env", "HOME", NULL };
	ck_assert_int_eq(run_opts(&r, &o, a), 0);
	ck_assert_str_eq(r.out_lines[0], "bar");
	ck_assert_str_eq(r.out_lines[1], "(unset)");
	ck_assert_str_eq(r.out_lines[2], "(unset)");
	run_release(&r);
}
END_TEST

static void run_cb(void *data, const struct dr_proc_result *res)
{
	on_exit_(data, res);
}

START_TEST(run_captures_all_stdout_up_to_a_cap)
{
	find_helper();
	uv_loop_t loop;
	uv_loop_init(&loop);
	struct run r1 = { 0 }, r2 = { 0 };
	char *env[] = { NULL };
	char *argv1[] = { helper, "big", "300000", "b", "err", "oops", "exit", "1", NULL };
	ck_assert_int_eq(dr_proc_run(&loop, argv1, env, NULL, 5000, 0, run_cb, &r1), 0);
	char *argv2[] = { helper, "raw", "0123456789", NULL };
	ck_assert_int_eq(dr_proc_run(&loop, argv2, env, "/", 5000, 4, run_cb, &r2), 0);
	uv_run(&loop, UV_RUN_DEFAULT);
	ck_assert_int_eq(uv_loop_close(&loop), 0);
	ck_assert_int_eq(r1.exits, 1);
	ck_assert_int_eq(r1.r.exit_code, 1);
	ck_assert_uint_eq(r1.r.out_len, 300000);
	ck_assert(!r1.r.out_truncated);
	ck_assert_str_eq(r1.stderr_tail, "oops\n");
	ck_assert_uint_eq(r2.r.out_len, 4);
	ck_assert_str_eq(r2.out, "0123");
	ck_assert(r2.r.out_truncated);
	run_release(&r1);
	run_release(&r2);
}
END_TEST

/* dr_proc_run waits for the exec off the loop: a child that is gone before its pid is known, and one that cannot exec. */
START_TEST(run_reports_quick_exits_and_exec_failures)
{
	find_helper();
	uv_loop_t loop;
	uv_loop_init(&loop);
	enum { N = 40 };
	struct run rs[N];
	memset(rs, 0, sizeof(rs));
	char *env[] = { NULL };
	char *argv[] = { helper, "exit", "3", NULL };
	for (int i = 0; i < N; i++)
		ck_assert_int_eq(dr_proc_run(&loop, argv, env, NULL, 5000, 0, run_cb, &rs[i]), 0);
	char garbage[PATH_MAX + 16];
	snprintf(garbage, sizeof(garbage), "%s/not-a-program", tmpdir);
	FILE *f = fopen(garbage, "w");
	ck_assert_ptr_nonnull(f);
	fputs("\x7f" "ELF not really\n", f);
	fclose(f);
	ck_assert_int_eq(chmod(garbage, 0700), 0);
	struct run bad = { 0 };
	char *argv2[] = { garbage, NULL };
	ck_assert_int_eq(dr_proc_run(&loop, argv2, env, NULL, 5000, 0, run_cb, &bad), 0);
	usleep(300 * 1000); /* all have exited: their SIGCHLD and start notices come in one loop iteration */
	uv_run(&loop, UV_RUN_DEFAULT);
	ck_assert_int_eq(uv_loop_close(&loop), 0);
	for (int i = 0; i < N; i++) {
		ck_assert_int_eq(rs[i].exits, 1);
		ck_assert_int_eq(rs[i].r.exit_code, 3);
		run_release(&rs[i]);
	}
	ck_assert_int_eq(bad.exits, 1);
	ck_assert_int_eq(bad.r.exit_code, 127);
	/* valgrind runs posix_spawn's vfork as a fork: the exec error cannot come back, only the 127. */
	if (!getenv("DR_UNDER_VALGRIND"))
		ck_assert_ptr_nonnull(strstr(bad.stderr_tail, "cannot execute"));
	run_release(&bad);
}
END_TEST

struct started {
	struct dr_proc *p;
	int pid, calls, exits;
};

static void start_cb(void *data, int pid)
{
	struct started *s = data;
	ck_assert_int_eq(s->exits, 0); /* before on_exit */
	ck_assert_int_eq(dr_proc_pid(s->p), pid);
	s->pid = pid;
	s->calls++;
}

static void start_exit_cb(void *data, const struct dr_proc_result *r)
{
	struct started *s = data;
	ck_assert_int_eq(r->exit_code, 3);
	s->exits++;
}

/* The spawn returns before the child's exec: its pid comes with on_start, on the loop, before on_exit. */
START_TEST(spawn_waits_for_the_exec_off_the_loop)
{
	find_helper();
	uv_loop_t loop;
	uv_loop_init(&loop);
	char *env[] = { NULL };
	char *argv[] = { helper, "exit", "3", NULL };
	struct started s = { 0 };
	struct dr_proc_opts o = { .argv = argv, .env = env, .on_exit = start_exit_cb, .on_start = start_cb, .data = &s };
	ck_assert_int_eq(dr_proc_spawn(&loop, &o, &s.p), 0);
	ck_assert_int_eq(dr_proc_pid(s.p), 0);
	usleep(200 * 1000); /* exited before the loop heard of its start */
	uv_run(&loop, UV_RUN_DEFAULT);
	ck_assert_int_eq(uv_loop_close(&loop), 0);
	ck_assert_int_eq(s.calls, 1);
	ck_assert_int_gt(s.pid, 0);
	ck_assert_int_eq(s.exits, 1);
}
END_TEST

struct deaths {
	int exits, killed;
};

static void death_cb(void *data, const struct dr_proc_result *r)
{
	struct deaths *d = data;
	d->exits++;
	d->killed += r->term_signal != 0 || r->exit_code != 0;
}

/*
 * A child's parent-death signal follows the thread that spawned it: the
 * spawners must outlive their children (bwrap --die-with-parent was killed
 * when a thread per spawn ended: with one, most of these 40 are killed).
 */
START_TEST(children_outlive_the_thread_that_spawned_them)
{
	find_helper();
	uv_loop_t loop;
	uv_loop_init(&loop);
	char *env[] = { NULL };
	char *argv[] = { helper, "pdeathsig", "sleep", "300", "exit", "0", NULL };
	struct deaths d = { 0 };
	enum { N = 40 };
	for (int i = 0; i < N; i++) {
		struct dr_proc_opts o = { .argv = argv, .env = env, .on_exit = death_cb, .data = &d };
		struct dr_proc *p;
		ck_assert_int_eq(dr_proc_spawn(&loop, &o, &p), 0);
	}
	uv_run(&loop, UV_RUN_DEFAULT);
	ck_assert_int_eq(uv_loop_close(&loop), 0);
	ck_assert_int_eq(d.exits, N);
	ck_assert_int_eq(d.killed, 0);
}
END_TEST

static Suite *proc_suite(void)
{
	Suite *s = suite_create("proc");
	TCase *tc = tcase_create("core");
	tcase_set_timeout(tc, 20);
	tcase_add_checked_fixture(tc, NULL, teardown);
	tcase_add_test(tc, lines_exit_code_and_partial_last_line);
	tcase_add_test(tc, signal_status_is_normalised_like_a_shell);
	tcase_add_test(tc, long_line_is_truncated_and_the_rest_skipped);
	tcase_add_test(tc, default_line_cap_is_one_mebibyte);
	tcase_add_test(tc, tails_keep_the_last_64_kib);
	tcase_add_test(tc, timeout_terminates_the_group);
	tcase_add_test(tc, sigterm_ignored_means_sigkill_after_grace);
	tcase_add_test(tc, grandchild_holding_pipes_cannot_hang_the_run);
	tcase_add_test(tc, terminate_leaves_no_process_of_the_tree);
	tcase_add_test(tc, missing_executable_and_cwd_are_clear_errors);
	tcase_add_test(tc, stdin_is_dev_null_and_child_leads_its_group);
	tcase_add_test(tc, child_inherits_no_other_descriptor);
	tcase_add_test(tc, environment_is_exactly_the_one_given);
	tcase_add_test(tc, run_captures_all_stdout_up_to_a_cap);
	tcase_add_test(tc, run_reports_quick_exits_and_exec_failures);
	tcase_add_test(tc, spawn_waits_for_the_exec_off_the_loop);
	tcase_add_test(tc, children_outlive_the_thread_that_spawned_them);
	suite_add_tcase(s, tc);
	return s;
}

DR_CHECK_MAIN(proc_suite)
