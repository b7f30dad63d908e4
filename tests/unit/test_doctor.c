#include "delego/doctor.h"
#include "delego/config.h"
#include "delego/fsutil.h"
#include "delego/xalloc.h"
#include "check_main.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define MIB (1024ULL * 1024ULL)

static char tmpdir[64];

static void setup(void)
{
	strcpy(tmpdir, "/tmp/dr-doctor-XXXXXX");
	ck_assert_ptr_nonnull(mkdtemp(tmpdir));
}

static void teardown(void)
{
	char *cmd = dr_xasprintf("chmod -R u+w %s; rm -rf %s", tmpdir, tmpdir);
	ck_assert_int_eq(system(cmd), 0);
	free(cmd);
}

static void write_text(const char *path, const char *text, mode_t mode)
{
	FILE *f = fopen(path, "w");
	ck_assert_ptr_nonnull(f);
	fputs(text, f);
	fclose(f);
	chmod(path, mode);
}

/* The only finding of a one-check report. */
static const struct dr_doctor_item *only(const struct dr_doctor *d)
{
	ck_assert_uint_eq(d->n, 1);
	return &d->items[0];
}

START_TEST(test_root)
{
	struct dr_doctor d = DR_DOCTOR_INIT;
	dr_doctor_check_root(&d, 0, true);
	ck_assert_int_eq(only(&d)->level, DR_DOCTOR_FAIL);
	ck_assert_ptr_nonnull(strstr(d.items[0].detail, "--dangerously-skip-permissions"));
	ck_assert_ptr_nonnull(strstr(d.items[0].fix, "ordinary user"));
	dr_doctor_release(&d);
	dr_doctor_check_root(&d, 0, false);
	ck_assert_int_eq(only(&d)->level, DR_DOCTOR_WARN);
	dr_doctor_release(&d);
	dr_doctor_check_root(&d, 1000, true);
	ck_assert_int_eq(only(&d)->level, DR_DOCTOR_OK);
	dr_doctor_release(&d);
}
END_TEST

START_TEST(test_skew)
{
	struct {
		long long skew;
		enum dr_doctor_level level;
		const char *word;
	} cases[] = {
		{ 0, DR_DOCTOR_OK, "within 0s" },   { -30, DR_DOCTOR_OK, "within 30s" },
		{ 31, DR_DOCTOR_WARN, "ahead of" }, { -300, DR_DOCTOR_WARN, "behind" },
		{ 3600, DR_DOCTOR_FAIL, "3600s ahead" }, { -301, DR_DOCTOR_FAIL, "behind" },
	};
	for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
		struct dr_doctor d = DR_DOCTOR_INIT;
		dr_doctor_check_skew(&d, cases[i].skew);
		ck_assert_msg(only(&d)->level == cases[i].level, "skew %lld", cases[i].skew);
		ck_assert_msg(strstr(d.items[0].detail, cases[i].word), "'%s' lacks '%s'", d.items[0].detail,
			      cases[i].word);
		dr_doctor_release(&d);
	}
}
END_TEST

START_TEST(test_space)
{
	struct dr_doctor d = DR_DOCTOR_INIT;
	dr_doctor_check_space(&d, "/w", 100 * MIB);
	ck_assert_int_eq(only(&d)->level, DR_DOCTOR_FAIL);
	ck_assert_ptr_nonnull(strstr(d.items[0].detail, "100 MiB free at /w"));
	dr_doctor_release(&d);
	dr_doctor_check_space(&d, "/w", 1024 * MIB);
	ck_assert_int_eq(only(&d)->level, DR_DOCTOR_WARN);
	dr_doctor_release(&d);
	dr_doctor_check_space(&d, "/w", 10240 * MIB);
	ck_assert_int_eq(only(&d)->level, DR_DOCTOR_OK);
	dr_doctor_release(&d);
}
END_TEST

START_TEST(test_workspace)
{
	struct dr_doctor d = DR_DOCTOR_INIT;
	dr_doctor_check_workspace(&d, tmpdir);
	ck_assert_uint_ge(d.n, 2); /* writable, then the disk */
	ck_assert_int_eq(d.items[0].level, DR_DOCTOR_OK);
	ck_assert_ptr_nonnull(strstr(d.items[0].detail, "is writable"));
	ck_assert_str_eq(d.items[1].what, "disk");
	dr_doctor_release(&d);

	char *missing = dr_xasprintf("%s/a/b/workspace", tmpdir);
	dr_doctor_check_workspace(&d, missing);
	ck_assert_int_eq(d.items[0].level, DR_DOCTOR_OK);
	ck_assert_ptr_nonnull(strstr(d.items[0].detail, "will be created"));
	ck_assert_ptr_nonnull(strstr(d.items[0].detail, tmpdir));
	dr_doctor_release(&d);

	char *file = dr_xasprintf("%s/plain", tmpdir);
	write_text(file, "x", 0644);
	dr_doctor_check_workspace(&d, file);
	ck_assert_int_eq(only(&d)->level, DR_DOCTOR_FAIL);
	ck_assert_ptr_nonnull(strstr(d.items[0].detail, "not a directory"));
	dr_doctor_release(&d);

	/* Root writes anywhere, so mode bits can only be tested as another user. */
	if (geteuid() != 0) {
		char *ro = dr_xasprintf("%s/ro", tmpdir);
		ck_assert_int_eq(mkdir(ro, 0555), 0);
		dr_doctor_check_workspace(&d, ro);
		ck_assert_int_eq(only(&d)->level, DR_DOCTOR_FAIL);
		dr_doctor_release(&d);
		char *under = dr_xasprintf("%s/new", ro);
		dr_doctor_check_workspace(&d, under);
		ck_assert_int_eq(only(&d)->level, DR_DOCTOR_FAIL);
		ck_assert_ptr_nonnull(strstr(d.items[0].detail, "cannot be created"));
		dr_doctor_release(&d);
		free(under);
		free(ro);
	}
	free(file);
	free(missing);
}
END_TEST

START_TEST(test_credentials)
{
	struct dr_doctor d = DR_DOCTOR_INIT;
	char *dir = dr_xasprintf("%s/cfg", tmpdir);
	ck_assert_int_eq(dr_fsutil_mkdir_p(dir, 0700), 0);
	char *path = dr_xasprintf("%s/credentials.json", dir);

	dr_doctor_check_credentials(&d, path, "work");
	ck_assert_int_eq(only(&d)->level, DR_DOCTOR_FAIL);
	ck_assert_ptr_nonnull(strstr(d.items[0].fix, "--profile work"));
	dr_doctor_release(&d);

	write_text(path, "{\"version\":1,\"profiles\":{\"default\":{\"relayUrl\":\"http://127.0.0.1:1\","
			 "\"runnerId\":\"r-1\",\"bearer\":\"b\",\"pairedAt\":\"2025-01-01T00:00:00Z\"}}}", 0644);
	dr_doctor_check_credentials(&d, path, "default");
	ck_assert_int_eq(only(&d)->level, DR_DOCTOR_FAIL);
	ck_assert_ptr_nonnull(strstr(d.items[0].detail, "mode 0644"));
	char *fix = dr_xasprintf("chmod 600 %s", path);
	ck_assert_str_eq(d.items[0].fix, fix);
	free(fix);
	dr_doctor_release(&d);

	chmod(path, 0600);
	dr_doctor_check_credentials(&d, path, "default");
	ck_assert_int_eq(only(&d)->level, DR_DOCTOR_OK);
	ck_assert_ptr_nonnull(strstr(d.items[0].detail, "runner r-1"));
	dr_doctor_release(&d);

	dr_doctor_check_credentials(&d, path, "other");
	ck_assert_int_eq(only(&d)->level, DR_DOCTOR_FAIL);
	ck_assert_ptr_nonnull(strstr(d.items[0].detail, "not paired"));
	dr_doctor_release(&d);

	chmod(dir, 0755);
	dr_doctor_check_credentials(&d, path, "default");
	ck_assert_uint_eq(d.n, 2);
	ck_assert_int_eq(d.items[0].level, DR_DOCTOR_WARN);
	ck_assert_ptr_nonnull(strstr(d.items[0].fix, "chmod 700"));
	dr_doctor_release(&d);
	free(path);
	free(dir);
}
END_TEST

START_TEST(test_tool)
{
	struct dr_doctor d = DR_DOCTOR_INIT;
	char *tool = dr_xasprintf("%s/fakeagent", tmpdir);
	write_text(tool, "#!/bin/sh\necho 'fakeagent 1.2.3'\necho second line\n", 0755);
	char *path = dr_xasprintf("%s:/usr/bin:/bin", tmpdir);
	setenv("PATH", path, 1);

	dr_doctor_check_tool(&d, "claude", "fakeagent", true, "install it");
	ck_assert_int_eq(only(&d)->level, DR_DOCTOR_OK);
	ck_assert_ptr_nonnull(strstr(d.items[0].detail, "fakeagent 1.2.3 ("));
	ck_assert_ptr_null(strstr(d.items[0].detail, "second"));
	dr_doctor_release(&d);

	dr_doctor_check_tool(&d, "claude", tool, true, "install it");
	ck_assert_int_eq(only(&d)->level, DR_DOCTOR_OK);
	dr_doctor_release(&d);

	dr_doctor_check_tool(&d, "claude", "dr-no-such-agent", true, "install it");
	ck_assert_int_eq(only(&d)->level, DR_DOCTOR_FAIL);
	ck_assert_str_eq(d.items[0].fix, "install it");
	dr_doctor_release(&d);

	dr_doctor_check_tool(&d, "gh", "dr-no-such-agent", false, "install gh");
	ck_assert_int_eq(only(&d)->level, DR_DOCTOR_WARN);
	dr_doctor_release(&d);

	write_text(tool, "#!/bin/sh\necho 'cannot start' >&2\nexit 1\n", 0755);
	dr_doctor_check_tool(&d, "claude", "fakeagent", true, "install it");
	ck_assert_int_eq(only(&d)->level, DR_DOCTOR_WARN);
	ck_assert_msg(strstr(d.items[0].detail, "exit 1): cannot start"), "%s", d.items[0].detail);
	dr_doctor_release(&d);
	free(path);
	free(tool);
}
END_TEST

/* The stand-ins answer as the real CLIs do (tests/fixtures/bin; run from the repository root). */
START_TEST(test_login)
{
	struct dr_doctor d = DR_DOCTOR_INIT;
	setenv("HOME", tmpdir, 1);
	dr_doctor_check_login(&d, "claude", "tests/fixtures/bin/claude");
	ck_assert_int_eq(only(&d)->level, DR_DOCTOR_OK);
	ck_assert_msg(strstr(d.items[0].detail, "logged in as ") && strstr(d.items[0].detail, "(claude.ai)"), "%s",
		      d.items[0].detail);
	dr_doctor_release(&d);
	dr_doctor_check_login(&d, "codex", "tests/fixtures/bin/codex");
	ck_assert_int_eq(only(&d)->level, DR_DOCTOR_OK);
	ck_assert_str_eq(d.items[0].detail, "Logged in using ChatGPT");
	dr_doctor_release(&d);

	char *marker = dr_xasprintf("%s/fake-agent-logged-out", tmpdir);
	write_text(marker, "", 0644);
	dr_doctor_check_login(&d, "claude", "tests/fixtures/bin/claude");
	ck_assert_int_eq(only(&d)->level, DR_DOCTOR_WARN);
	ck_assert_msg(strstr(d.items[0].detail, "claude is not logged in for "), "%s", d.items[0].detail);
	ck_assert_msg(strstr(d.items[0].fix, "run `claude` and then /login"), "%s", d.items[0].fix);
	dr_doctor_release(&d);
	dr_doctor_check_login(&d, "codex", "tests/fixtures/bin/codex");
	ck_assert_int_eq(only(&d)->level, DR_DOCTOR_WARN);
	ck_assert_msg(strstr(d.items[0].detail, "codex is not logged in for "), "%s", d.items[0].detail);
	ck_assert_msg(strstr(d.items[0].fix, "run `codex login`"), "%s", d.items[0].fix);
	dr_doctor_release(&d);

	/* The version line is stdout's: codex's warning on stderr stays out. */
	dr_doctor_check_tool(&d, "codex", "tests/fixtures/bin/codex", true, "install it");
	ck_assert_int_eq(only(&d)->level, DR_DOCTOR_OK);
	ck_assert_str_eq(d.items[0].detail, "codex-cli 0.171.0 (tests/fixtures/bin/codex)");
	dr_doctor_release(&d);

	/* An answer that is not claude's JSON: say it cannot tell. */
	char *tool = dr_xasprintf("%s/claude", tmpdir);
	write_text(tool, "#!/bin/sh\necho 'Unknown command: auth'\nexit 2\n", 0755);
	dr_doctor_check_login(&d, "claude", tool);
	ck_assert_int_eq(only(&d)->level, DR_DOCTOR_WARN);
	ck_assert_msg(strstr(d.items[0].detail, "cannot tell") && strstr(d.items[0].detail, "exit 2: Unknown command"),
		      "%s", d.items[0].detail);
	dr_doctor_release(&d);
	dr_doctor_check_login(&d, "claude", "dr-no-such-agent");
	ck_assert_uint_eq(d.n, 0);
	free(tool);
	free(marker);
}
END_TEST

START_TEST(test_relay_unreachable)
{
	char *argv[] = { "--profile", "work", NULL };
	char err[512];
	struct dr_config *c = NULL;
	char *envp[] = { "HOME=/tmp", NULL };
	ck_assert_int_eq(dr_config_load(2, argv, envp, &c, err, sizeof err), 0);
	struct dr_profile p = { .relay_url = "http://127.0.0.1:9", .runner_id = "r-1", .bearer = "secret" };
	struct dr_doctor d = DR_DOCTOR_INIT;
	dr_doctor_check_relay(&d, c, &p, 3000);
	ck_assert_int_eq(only(&d)->level, DR_DOCTOR_FAIL);
	ck_assert_str_eq(d.items[0].what, "relay");
	ck_assert_ptr_nonnull(strstr(d.items[0].detail, "cannot reach http://127.0.0.1:9"));
	dr_doctor_release(&d);

	/* Plain http to another host is called out before anything is sent. */
	p.relay_url = "http://relay.invalid";
	dr_doctor_check_relay(&d, c, &p, 3000);
	ck_assert_uint_eq(d.n, 2);
	ck_assert_int_eq(d.items[0].level, DR_DOCTOR_WARN);
	ck_assert_ptr_nonnull(strstr(d.items[0].detail, "unencrypted"));
	ck_assert_int_eq(d.items[1].level, DR_DOCTOR_FAIL);
	dr_doctor_release(&d);
	dr_config_free(c);
}
END_TEST

START_TEST(test_containment)
{
	struct dr_doctor d = DR_DOCTOR_INIT;
	dr_doctor_check_containment(&d, tmpdir);
	ck_assert_int_eq(only(&d)->level, DR_DOCTOR_OK);
	ck_assert_ptr_nonnull(strstr(d.items[0].detail, "process groups (no cgroup v2"));
	dr_doctor_release(&d);
	char *ctl = dr_xasprintf("%s/cgroup.controllers", tmpdir);
	write_text(ctl, "cpu memory pids\n", 0644);
	dr_doctor_check_containment(&d, tmpdir);
	ck_assert_int_eq(only(&d)->level, DR_DOCTOR_OK);
	ck_assert_ptr_nonnull(strstr(d.items[0].detail, "cgroup"));
	ck_assert_ptr_null(strstr(d.items[0].detail, "no cgroup v2"));
	dr_doctor_release(&d);
	free(ctl);
}
END_TEST

START_TEST(test_format_and_failures)
{
	struct dr_doctor d = DR_DOCTOR_INIT;
	dr_doctor_add(&d, DR_DOCTOR_OK, "git", "never shown", "git version 2");
	dr_doctor_add(&d, DR_DOCTOR_WARN, "gh", "install gh", "'gh' not found");
	dr_doctor_add(&d, DR_DOCTOR_FAIL, "clock", "sync it", "%ds ahead", 400);
	ck_assert_uint_eq(dr_doctor_failures(&d), 1);
	char *text = dr_doctor_format(&d);
	ck_assert_str_eq(text, "ok   git: git version 2\n"
			       "warn gh: 'gh' not found; install gh\n"
			       "FAIL clock: 400s ahead; sync it\n");
	free(text);
	dr_doctor_release(&d);
	ck_assert_uint_eq(d.n, 0);
	dr_doctor_release(NULL);
}
END_TEST

static Suite *doctor_suite(void)
{
	Suite *s = suite_create("doctor");
	TCase *tc = tcase_create("core");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_set_timeout(tc, 20);
	tcase_add_test(tc, test_root);
	tcase_add_test(tc, test_skew);
	tcase_add_test(tc, test_space);
	tcase_add_test(tc, test_workspace);
	tcase_add_test(tc, test_credentials);
	tcase_add_test(tc, test_tool);
	tcase_add_test(tc, test_login);
	tcase_add_test(tc, test_relay_unreachable);
	tcase_add_test(tc, test_containment);
	tcase_add_test(tc, test_format_and_failures);
	suite_add_tcase(s, tc);
	return s;
}

DR_CHECK_MAIN(doctor_suite)
