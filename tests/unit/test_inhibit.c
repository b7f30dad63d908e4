#include "delego/inhibit.h"
#include "delego/strv.h"
#include "check_main.h"
#include "testutil.h"

#include <errno.h>
#include <signal.h>
#include <string.h>
#include <unistd.h>

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
	suite_add_tcase(s, tc);
	return s;
}

DR_CHECK_MAIN(inhibit_suite)
