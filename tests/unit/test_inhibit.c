#include "delego/inhibit.h"
#include "delego/strv.h"
#include "check_main.h"
#include "testutil.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>
#include <uv.h>

START_TEST(battery_decides_auto)
{
	tmpdir_make("inhibit");
	char note[256];
	ck_assert(!dr_inhibit_battery_present(tmpdir));
	ck_assert(!dr_inhibit_enabled(DR_INHIBIT_AUTO, tmpdir, note, sizeof note));
	ck_assert_ptr_nonnull(strstr(note, "no battery"));
	/* Mains power and a USB charger are not batteries. */
	ck_assert_int_eq(sh("mkdir %s/AC %s/ucsi && echo Mains > %s/AC/type && echo USB > %s/ucsi/type", tmpdir, tmpdir,
			    tmpdir, tmpdir), 0);
	ck_assert(!dr_inhibit_enabled(DR_INHIBIT_AUTO, tmpdir, NULL, 0));
	ck_assert_int_eq(sh("mkdir %s/BAT0 && echo Battery > %s/BAT0/type", tmpdir, tmpdir), 0);
	ck_assert(dr_inhibit_battery_present(tmpdir));
	ck_assert(dr_inhibit_enabled(DR_INHIBIT_AUTO, tmpdir, note, sizeof note));
	ck_assert_ptr_nonnull(strstr(note, "battery is present"));
	ck_assert(!dr_inhibit_enabled(DR_INHIBIT_OFF, tmpdir, NULL, 0));
	ck_assert(dr_inhibit_enabled(DR_INHIBIT_ON, "/nonexistent", NULL, 0));
	tmpdir_remove();
}
END_TEST

START_TEST(argv_names_the_job_and_waits_for_the_runner)
{
	char **v = dr_inhibit_argv("/usr/bin/delego-runner", "job ENG-1 is running", 4242);
	ck_assert_ptr_nonnull(v);
	ck_assert_str_eq(v[0], "systemd-inhibit");
	ck_assert_str_eq(v[1], "--what=sleep:idle");
	ck_assert_str_eq(v[2], "--mode=block");
	ck_assert_str_eq(v[3], "--who=delego-runner");
	ck_assert_str_eq(v[4], "--why=job ENG-1 is running");
	ck_assert_str_eq(v[5], "/usr/bin/delego-runner");
	ck_assert_str_eq(v[6], DR_INHIBIT_WAIT_WORD);
	ck_assert_str_eq(v[7], "4242");
	ck_assert_ptr_null(v[8]);
	dr_strv_free(v);
	ck_assert_ptr_null(dr_inhibit_argv(NULL, "x", 1));
}
END_TEST

START_TEST(waiter_returns_when_the_pid_is_gone)
{
	pid_t child = fork();
	if (child == 0) {
		pause();
		_exit(0);
	}
	pid_t waiter = fork();
	if (waiter == 0) {
		char pid[32];
		snprintf(pid, sizeof pid, "%d", (int)child);
		char *argv[] = { "delego-runner", DR_INHIBIT_WAIT_WORD, pid, NULL };
		_exit(dr_inhibit_wait_main(3, argv));
	}
	usleep(200 * 1000);
	int st;
	ck_assert_int_eq(waitpid(waiter, &st, WNOHANG), 0); /* still waiting */
	kill(child, SIGKILL);
	ck_assert_int_eq(waitpid(child, &st, 0), child);
	ck_assert_int_eq(waitpid(waiter, &st, 0), waiter);
	ck_assert(WIFEXITED(st) && WEXITSTATUS(st) == 0);
	char *bad[] = { "delego-runner", DR_INHIBIT_WAIT_WORD, "x1", NULL };
	ck_assert_int_eq(dr_inhibit_wait_main(3, bad), 64);
}
END_TEST

/*
 * A stand-in holder in its own group, as proc starts one, with its stdout
 * on a pipe whose other end goes to *out (or is closed: out NULL); on
 * SIGTERM it says so on stdout, then touches MARKER. Returns once it has
 * exec'd (check's handlers gone).
 */
static pid_t holder_child(int *out, const char *marker)
{
	int fds[2], io[2];
	ck_assert_int_eq(pipe2(fds, O_CLOEXEC), 0);
	ck_assert_int_eq(pipe(io), 0);
	pid_t pid = fork();
	ck_assert_int_ge(pid, 0);
	if (pid == 0) {
		close(fds[0]);
		close(io[0]);
		dup2(io[1], 1);
		setpgid(0, 0);
		execlp("sh", "sh", "-c",
		       "trap 'echo released; touch \"$0\"; exit 0' TERM; touch \"$0.ready\"; while :; do sleep 0.05; done",
		       marker, (char *)NULL);
		_exit(98);
	}
	close(io[1]);
	if (out)
		*out = io[0];
	else
		close(io[0]);
	char *ready = dr_xasprintf("%s.ready", marker);
	for (int i = 0; i < 500 && access(ready, F_OK) != 0; i++)
		usleep(10000); /* its trap is set */
	unlink(ready);
	free(ready);
	close(fds[1]);
	char c;
	while (read(fds[0], &c, 1) > 0)
		;
	close(fds[0]);
	return pid;
}

static bool reaped(pid_t pid)
{
	return waitpid(pid, NULL, WNOHANG) < 0 && errno == ECHILD;
}

/* After an upgrade in place: the holder the previous image started is ours to end and reap. */
START_TEST(adopted_holder_is_released_and_reaped)
{
	uv_loop_t loop;
	uv_loop_init(&loop);
	struct dr_inhibit *in = dr_inhibit_new(&loop, true);
	tmpdir_make("inhibit");
	char text[64], *marker = dr_xasprintf("%s/released", tmpdir);
	snprintf(text, sizeof text, "%d -1 -1", (int)getppid());
	dr_inhibit_adopt(in, text); /* not a child of ours: ignored */
	ck_assert_int_eq(dr_inhibit_holder_pid(in), 0);
	int out;
	pid_t pid = holder_child(&out, marker);
	snprintf(text, sizeof text, "%d %d -1", (int)pid, out); /* as dr_inhibit_handover writes it */
	dr_inhibit_adopt(in, text);
	ck_assert_int_eq(dr_inhibit_holder_pid(in), (int)pid);
	char again[64];
	ck_assert(dr_inhibit_handover(in, again, sizeof again)); /* a second upgrade hands the same over */
	ck_assert_str_eq(again, text);
	dr_inhibit_handover_undo(in);
	dr_inhibit_hold(in, "job X is running"); /* taken already: nothing new starts */
	ck_assert_int_eq(dr_inhibit_holder_pid(in), (int)pid);
	dr_inhibit_trim(in); /* held: stays */
	ck_assert_int_eq(kill(pid, 0), 0);
	dr_inhibit_release(in);
	for (int i = 0; i < 200 && !reaped(pid); i++)
		uv_run(&loop, UV_RUN_ONCE);
	ck_assert(reaped(pid));
	ck_assert_int_eq(dr_inhibit_holder_pid(in), 0);
	/* It could say so on the pipe we kept (no SIGPIPE), and the pipe went with it. */
	ck_assert_int_eq(access(marker, F_OK), 0);
	ck_assert_int_eq(fcntl(out, F_GETFD), -1);
	unlink(marker);
	/* Nothing took it again after a takeover: trim ends it; free waits for its exit. */
	pid = holder_child(NULL, marker);
	snprintf(text, sizeof text, "%d", (int)pid);
	dr_inhibit_adopt(in, text);
	dr_inhibit_trim(in);
	dr_inhibit_free(in);
	uv_run(&loop, UV_RUN_DEFAULT);
	ck_assert(reaped(pid));
	ck_assert_int_eq(access(marker, F_OK), -1); /* its stdout had no reader: SIGPIPE, what the kept pipe avoids */
	ck_assert_int_eq(uv_loop_close(&loop), 0);
	free(marker);
	tmpdir_remove();
}
END_TEST

START_TEST(config_key_and_flag)
{
	char err[512];
	struct dr_config *c = NULL;
	char *env[] = { "HOME=/nonexistent-home", NULL };
	char *dflt[] = { NULL };
	ck_assert_int_eq(dr_config_load(0, dflt, env, &c, err, sizeof err), 0);
	ck_assert_int_eq(c->inhibit_sleep, DR_INHIBIT_AUTO);
	dr_config_free(c);
	char *on[] = { "--inhibit-sleep", "on", NULL };
	ck_assert_int_eq(dr_config_load(2, on, env, &c, err, sizeof err), 0);
	ck_assert_int_eq(c->inhibit_sleep, DR_INHIBIT_ON);
	dr_config_free(c);
	char *env_off[] = { "HOME=/nonexistent-home", "DELEGO_INHIBIT_SLEEP=off", NULL };
	ck_assert_int_eq(dr_config_load(0, dflt, env_off, &c, err, sizeof err), 0);
	ck_assert_int_eq(c->inhibit_sleep, DR_INHIBIT_OFF);
	dr_config_free(c);
	char *bad[] = { "--inhibit-sleep", "sometimes", NULL };
	ck_assert_int_eq(dr_config_load(2, bad, env, &c, err, sizeof err), -EINVAL);
	ck_assert_ptr_nonnull(strstr(err, "must be auto, on or off (got 'sometimes')"));
}
END_TEST

static Suite *inhibit_suite(void)
{
	Suite *s = suite_create("inhibit");
	TCase *tc = tcase_create("core");
	tcase_add_test(tc, battery_decides_auto);
	tcase_add_test(tc, argv_names_the_job_and_waits_for_the_runner);
	tcase_add_test(tc, waiter_returns_when_the_pid_is_gone);
	tcase_add_test(tc, config_key_and_flag);
	tcase_add_test(tc, adopted_holder_is_released_and_reaped);
	suite_add_tcase(s, tc);
	return s;
}

DR_CHECK_MAIN(inhibit_suite)
