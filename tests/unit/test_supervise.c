#include "delego/supervise.h"
#include "check_main.h"
#include "testutil.h"

#include <errno.h>
#include <signal.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* Runs the supervisor in a child with its stdout/stderr on a pipe; returns its wait status. */
static int supervise(const char *script, char *fwd, size_t fwdlen)
{
	int p[2];
	ck_assert_int_eq(pipe(p), 0);
	pid_t pid = fork();
	if (pid == 0) {
		setpgid(0, 0); /* its own group, as the runner gives it: a group kill stays there */
		dup2(p[1], 1);
		dup2(p[1], 2);
		close(p[0]);
		char *argv[] = { "delego-runner", DR_SUPERVISE_WORD, tmpdir, "/bin/sh", "sh", "-c", (char *)script, NULL };
		_exit(dr_supervise_main(7, argv));
	}
	close(p[1]);
	size_t n = 0;
	ssize_t k;
	while (n < fwdlen - 1 && (k = read(p[0], fwd + n, fwdlen - 1 - n)) > 0)
		n += (size_t)k;
	fwd[n] = '\0';
	close(p[0]);
	int st;
	ck_assert_int_eq(waitpid(pid, &st, 0), pid);
	return st;
}

static char *slurp(const char *name)
{
	char *path = dr_xasprintf("%s/%s", tmpdir, name);
	FILE *f = fopen(path, "r");
	free(path);
	if (!f)
		return NULL;
	char *buf = dr_xcalloc(1, 4096);
	size_t n = fread(buf, 1, 4095, f);
	buf[n] = '\0';
	fclose(f);
	return buf;
}

START_TEST(copies_output_and_records_the_exit)
{
	tmpdir_make("supervise");
	char fwd[4096];
	int st = supervise("echo out1; echo err1 >&2; echo out2; exit 7", fwd, sizeof fwd);
	ck_assert(WIFEXITED(st));
	ck_assert_int_eq(WEXITSTATUS(st), 7);
	ck_assert_ptr_nonnull(strstr(fwd, "out1"));
	ck_assert_ptr_nonnull(strstr(fwd, "err1"));
	char *out = slurp("stdout"), *err = slurp("stderr"), *ex = slurp("exit");
	ck_assert_str_eq(out, "out1\nout2\n");
	ck_assert_str_eq(err, "err1\n");
	ck_assert_str_eq(ex, "7 0\n");
	int code = 0, sig = 0;
	ck_assert_int_eq(dr_supervise_read_exit(tmpdir, &code, &sig), 0);
	ck_assert_int_eq(code, 7);
	ck_assert_int_eq(sig, 0);
	free(out);
	free(err);
	free(ex);
	tmpdir_remove();
}
END_TEST

START_TEST(ends_as_the_agent_did_and_survives_sigterm)
{
	tmpdir_make("supervise");
	char fwd[4096];
	/* SIGTERM to the whole group (as a cancel does): the agent dies of it, the supervisor records it. */
	int st = supervise("echo started; kill -TERM 0; sleep 5", fwd, sizeof fwd);
	ck_assert(WIFSIGNALED(st));
	ck_assert_int_eq(WTERMSIG(st), SIGTERM);
	char *ex = slurp("exit");
	ck_assert_str_eq(ex, "143 15\n");
	free(ex);
	tmpdir_remove();
}
END_TEST

START_TEST(missing_program_is_127)
{
	tmpdir_make("supervise");
	pid_t pid = fork();
	if (pid == 0) {
		int null = open("/dev/null", O_WRONLY);
		dup2(null, 2);
		char *argv[] = { "delego-runner", DR_SUPERVISE_WORD, tmpdir, "/nonexistent/agent", "agent", NULL };
		_exit(dr_supervise_main(5, argv));
	}
	int st;
	ck_assert_int_eq(waitpid(pid, &st, 0), pid);
	ck_assert(WIFEXITED(st));
	ck_assert_int_eq(WEXITSTATUS(st), 127);
	ck_assert_int_eq(dr_supervise_read_exit("/nonexistent", &st, &st), -ENOENT);
	tmpdir_remove();
}
END_TEST

struct seen {
	int lines, replayed, exit_code;
	char last[256];
	bool exited;
};

static void on_line(void *data, int fd, const char *line, size_t len, bool truncated)
{
	(void)truncated;
	struct seen *s = data;
	if (fd != 1)
		return;
	s->lines++;
	snprintf(s->last, sizeof s->last, "%.*s", (int)len, line);
}

static struct dr_supervise *follower;

static void on_line_counting(void *data, int fd, const char *line, size_t len, bool truncated)
{
	struct seen *s = data;
	if (fd == 1 && dr_supervise_replaying(follower))
		s->replayed++;
	on_line(data, fd, line, len, truncated);
}

static void on_exit_cb(void *data, const struct dr_proc_result *r)
{
	struct seen *s = data;
	s->exited = true;
	s->exit_code = r->exit_code;
	ck_assert_ptr_nonnull(strstr(r->stdout_tail, "line 3"));
}

START_TEST(follower_reads_what_was_and_what_comes)
{
	tmpdir_make("supervise");
	char *path = dr_xasprintf("%s/stdout", tmpdir);
	write_text(path, "line 1\nline 2\n", 0600);
	/* A stand-in supervisor, alive in a group of its own: the agent runs. */
	pid_t sup = fork();
	if (sup == 0) {
		setpgid(0, 0);
		pause();
		_exit(0);
	}
	setpgid(sup, sup);
	uv_loop_t loop;
	uv_loop_init(&loop);
	struct seen s = { 0 };
	struct dr_supervise_opts o = { .loop = &loop, .dir = tmpdir, .pid = (int)sup, .on_line = on_line_counting,
				       .on_exit = on_exit_cb, .data = &s };
	follower = dr_supervise_attach(&o);
	uv_run(&loop, UV_RUN_NOWAIT);
	ck_assert_int_eq(s.lines, 2);
	ck_assert_int_eq(s.replayed, 2);
	ck_assert(!s.exited); /* no exit file, the supervisor there: the agent still runs */
	FILE *f = fopen(path, "a");
	fputs("line 3\n", f);
	fclose(f);
	char *ex = dr_xasprintf("%s/exit", tmpdir);
	write_text(ex, "3 0\n", 0600);
	while (!s.exited)
		uv_run(&loop, UV_RUN_ONCE);
	ck_assert_int_eq(s.lines, 3);
	ck_assert_int_eq(s.replayed, 2);
	ck_assert_str_eq(s.last, "line 3");
	ck_assert_int_eq(s.exit_code, 3);
	uv_run(&loop, UV_RUN_DEFAULT);
	/* The group's straggler is killed at the end, and reaped (it is our child here, as after an upgrade). */
	int st;
	ck_assert_int_eq(waitpid(sup, &st, WNOHANG), -1);
	ck_assert_int_eq(errno, ECHILD);
	ck_assert_int_eq(uv_loop_close(&loop), 0);
	unlink(path);
	unlink(ex);
	free(path);
	free(ex);
	tmpdir_remove();
}
END_TEST

struct timed {
	bool exited, replayed, timed_out, terminated;
	int sig;
};

static void on_timed_exit(void *data, const struct dr_proc_result *r)
{
	struct timed *t = data;
	t->exited = true;
	t->timed_out = r->timed_out;
	t->terminated = r->terminated;
	t->sig = r->term_signal;
}

static void on_timed_replayed(void *data)
{
	((struct timed *)data)->replayed = true;
}

/* An adopted agent keeps its timeout: what is left of it, given at attach, ends it as proc's would. */
START_TEST(follower_times_the_agent_out)
{
	tmpdir_make("supervise");
	pid_t sup = fork();
	if (sup == 0) {
		setpgid(0, 0);
		char *argv[] = { "delego-runner", DR_SUPERVISE_WORD, tmpdir, "/bin/sh", "sh", "-c", "echo started; exec sleep 30",
				 NULL };
		_exit(dr_supervise_main(7, argv));
	}
	setpgid(sup, sup);
	char *path = dr_xasprintf("%s/stdout", tmpdir);
	struct stat st;
	for (int i = 0; i < 200 && (stat(path, &st) < 0 || st.st_size == 0); i++)
		usleep(10000);
	uv_loop_t loop;
	uv_loop_init(&loop);
	struct timed t = { 0 };
	struct dr_supervise_opts o = { .loop = &loop, .dir = tmpdir, .pid = (int)sup, .on_exit = on_timed_exit,
				       .on_replayed = on_timed_replayed, .data = &t, .timeout_ms = 300 };
	uint64_t t0 = uv_hrtime();
	dr_supervise_attach(&o);
	while (!t.exited)
		uv_run(&loop, UV_RUN_ONCE);
	uint64_t ms = (uv_hrtime() - t0) / 1000000;
	ck_assert(t.replayed);
	ck_assert(t.timed_out);
	ck_assert(t.terminated);
	ck_assert_int_eq(t.sig, SIGTERM);
	ck_assert_msg(ms >= 250 && ms < 3000, "ended after %llu ms", (unsigned long long)ms);
	uv_run(&loop, UV_RUN_DEFAULT);
	ck_assert_int_eq(uv_loop_close(&loop), 0);
	int status;
	ck_assert_int_eq(waitpid(sup, &status, 0), -1); /* reaped by the follower */
	static const char *const files[] = { "stdout", "stderr", "exit" };
	for (size_t i = 0; i < 3; i++) {
		char *f = dr_xasprintf("%s/%s", tmpdir, files[i]);
		unlink(f);
		free(f);
	}
	free(path);
	tmpdir_remove();
}
END_TEST

static Suite *supervise_suite(void)
{
	Suite *s = suite_create("supervise");
	TCase *tc = tcase_create("core");
	tcase_set_timeout(tc, 20);
	tcase_add_test(tc, copies_output_and_records_the_exit);
	tcase_add_test(tc, ends_as_the_agent_did_and_survives_sigterm);
	tcase_add_test(tc, missing_program_is_127);
	tcase_add_test(tc, follower_reads_what_was_and_what_comes);
	tcase_add_test(tc, follower_times_the_agent_out);
	suite_add_tcase(s, tc);
	return s;
}

DR_CHECK_MAIN(supervise_suite)
