#include "delego/service.h"
#include "delego/proc_sync.h"
#include "delego/buf.h"
#include "delego/fsutil.h"
#include "delego/strv.h"
#include "delego/xalloc.h"
#include "check_main.h"
#include "testutil.h"

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static char err[1024];

static void setup(void)
{
	tmpdir_make("service");
}

static void teardown(void)
{
	tmpdir_remove();
}

static char *render(const struct dr_service_spec *spec)
{
	char *out = NULL;
	int r = dr_service_render_unit(spec, &out, err, sizeof err);
	ck_assert_msg(r == 0, "render failed: %s", err);
	return out;
}

/* Homebrew's keg path becomes the opt path that follows upgrades, only when that is where it leads. */
START_TEST(test_stable_exe)
{
	char *keg = dr_xasprintf("%s/Cellar/delego-runner/0.9.0/bin", tmpdir);
	char *optdir = dr_xasprintf("%s/opt", tmpdir);
	ck_assert_int_eq(dr_fsutil_mkdir_p(keg, 0755), 0);
	ck_assert_int_eq(dr_fsutil_mkdir_p(optdir, 0755), 0);
	char *exe = dr_xasprintf("%s/delego-runner", keg);
	write_text(exe, "#!/bin/sh\n", 0755);
	char real[PATH_MAX];
	ck_assert_ptr_nonnull(realpath(exe, real));
	char *got = dr_service_stable_exe(real);
	ck_assert_str_eq(got, real); /* no opt link yet */
	free(got);
	char *link = dr_xasprintf("%s/delego-runner", optdir);
	ck_assert_int_eq(symlink("../Cellar/delego-runner/0.9.0", link), 0);
	char *want = dr_xasprintf("%.*s/opt/delego-runner/bin/delego-runner", (int)(strstr(real, "/Cellar/") - real), real);
	got = dr_service_stable_exe(real);
	ck_assert_str_eq(got, want);
	free(got);
	/* opt pointing at another version: the path stays. */
	unlink(link);
	ck_assert_int_eq(symlink("../Cellar/delego-runner/0.8.0", link), 0);
	got = dr_service_stable_exe(real);
	ck_assert_str_eq(got, real);
	free(got);
	got = dr_service_stable_exe("/usr/bin/delego-runner");
	ck_assert_str_eq(got, "/usr/bin/delego-runner");
	free(got);
	got = dr_service_stable_exe("/x/Cellar/delego-runner/0.9.0/libexec/bin/delego-runner");
	ck_assert_str_eq(got, "/x/Cellar/delego-runner/0.9.0/libexec/bin/delego-runner");
	free(got);
	unlink(link);
	unlink(exe);
	ck_assert_int_eq(sh("rm -rf %s/Cellar %s/opt", tmpdir, tmpdir), 0);
	free(link);
	free(want);
	free(exe);
	free(keg);
	free(optdir);
}
END_TEST

/* The whole unit for a plain profile: the contract with systemd, pinned. */
START_TEST(test_render_plain)
{
	struct dr_service_spec spec = {
		.profile = "default",
		.exe = "/usr/bin/delego-runner",
		.credentials_path = "/home/u/.config/delego-runner/credentials.json",
		.state_home = "/home/u/.local/state",
		.shutdown_grace_ms = 60000,
	};
	char *text = render(&spec);
	const char *expected =
		DR_SERVICE_MARKER " (delego-runner " DR_VERSION ") for profile default.\n"
		"# Rewritten by `delego-runner service install`; removed by `delego-runner uninstall --yes`.\n"
		"[Unit]\n"
		"Description=Delego runner (profile default)\n"
		"Documentation=man:delego-runner(1)\n"
		"\n"
		"[Service]\n"
		"Type=notify\n"
		"NotifyAccess=main\n"
		"ExecStart=/usr/bin/delego-runner run --profile default\n"
		"Environment=\"DELEGO_CREDENTIALS_PATH=/home/u/.config/delego-runner/credentials.json\"\n"
		"Environment=\"XDG_STATE_HOME=/home/u/.local/state\"\n"
		"# A restart request from the dashboard exits 0 and must come back: always restart,\n"
		"# except after 2 (credential revoked: pair again), 64 (usage) and 78 (configuration).\n"
		"Restart=always\n"
		"RestartSec=5\n"
		"RestartPreventExitStatus=2 64 78\n"
		"# Ready after the first heartbeat; an unreachable relay is waited for, not a failure.\n"
		"TimeoutStartSec=infinity\n"
		"# Reload the configuration file (intervals, log level, executors) without a restart.\n"
		"ExecReload=/bin/kill -HUP $MAINPID\n"
		"# A stop drains the jobs for the shutdown grace, then the daemon cancels them itself;\n"
		"# ExecStopPost ends anything of theirs still there. A crash leaves the agents to the\n"
		"# restarted daemon (KillMode=process): mixed or control-group would kill them with it.\n"
		"KillMode=process\n"
		"ExecStopPost=/usr/bin/delego-runner __stop-post\n"
		"# Each agent gets its own cgroup below ours: cancel and timeout end all it started.\n"
		"Delegate=yes\n"
		"TimeoutStopSec=90\n"
		"WatchdogSec=60\n"
		"\n"
		"[Install]\n"
		"WantedBy=default.target\n";
	ck_assert_str_eq(text, expected);
	free(text);
}
END_TEST

START_TEST(test_render_awkward_paths)
{
	char *args[] = { "--workspace-root=/srv/my work/50% done", "--claude-args=--print --model x", ";",
			 "--codex-command=$HOME/bin/codex", NULL };
	struct dr_service_spec spec = {
		.profile = "work-2",
		.exe = "/opt/my dir/100%/$HOME/delego-runner",
		.args = args,
		.credentials_path = "/home/o'neil/50%/creds $x.json",
		.state_home = NULL,
		.shutdown_grace_ms = 1,
	};
	char *text = render(&spec);
	ck_assert_ptr_nonnull(strstr(text,
		"\nExecStart=\"/opt/my dir/100%%/$HOME/delego-runner\" run --profile work-2 "
		"\"--workspace-root=/srv/my work/50%% done\" \"--claude-args=--print --model x\" \";\" "
		"\"--codex-command=$$HOME/bin/codex\"\n"));
	/* Environment= expands specifiers but not variables. */
	ck_assert_ptr_nonnull(strstr(text, "\nEnvironment=\"DELEGO_CREDENTIALS_PATH=/home/o'neil/50%%/creds $x.json\"\n"));
	ck_assert_ptr_null(strstr(text, "XDG_STATE_HOME"));
	ck_assert_ptr_nonnull(strstr(text, "\nTimeoutStopSec=31\n"));
	ck_assert_ptr_nonnull(strstr(text, "Description=Delego runner (profile work-2)\n"));
	ck_assert_ptr_nonnull(strstr(text, "service install --profile work-2`"));
	free(text);
}
END_TEST

START_TEST(test_render_refuses)
{
	char *out = NULL;
	struct dr_service_spec spec = { .profile = "default", .exe = "/usr/bin/delego-runner" };

	spec.exe = "delego-runner";
	ck_assert_int_eq(dr_service_render_unit(&spec, &out, err, sizeof err), -EINVAL);
	ck_assert_ptr_nonnull(strstr(err, "absolute path"));

	spec.exe = "/opt/it's/delego-runner";
	ck_assert_int_eq(dr_service_render_unit(&spec, &out, err, sizeof err), -EINVAL);
	ck_assert_ptr_nonnull(strstr(err, "quote or backslash"));
	spec.exe = "/opt/a\\b/delego-runner";
	ck_assert_int_eq(dr_service_render_unit(&spec, &out, err, sizeof err), -EINVAL);

	spec.exe = "/usr/bin/delego\nrunner";
	ck_assert_int_eq(dr_service_render_unit(&spec, &out, err, sizeof err), -EINVAL);
	ck_assert_ptr_nonnull(strstr(err, "newline"));

	spec.exe = "/usr/bin/delego-runner";
	spec.credentials_path = "/tmp/a\tb";
	ck_assert_int_eq(dr_service_render_unit(&spec, &out, err, sizeof err), -EINVAL);
	spec.credentials_path = NULL;

	char *bad_arg[] = { "--workspace-root=/a\nExecStartPre=/bin/rm", NULL };
	spec.args = bad_arg;
	ck_assert_int_eq(dr_service_render_unit(&spec, &out, err, sizeof err), -EINVAL);
	spec.args = NULL;

	const char *bad_profiles[] = { "", "../etc", "A", "a b", "-x", "a_b", "a.service",
				       "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa" };
	for (size_t i = 0; i < sizeof bad_profiles / sizeof *bad_profiles; i++) {
		spec.profile = bad_profiles[i];
		ck_assert_msg(dr_service_render_unit(&spec, &out, err, sizeof err) == -EINVAL, "accepted '%s'",
			      bad_profiles[i]);
		ck_assert_ptr_nonnull(strstr(err, "profile"));
	}
	ck_assert_ptr_null(out);

	spec.profile = "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa";
	out = render(&spec);
	free(out);
}
END_TEST

START_TEST(test_quote_exec)
{
	struct {
		const char *in, *out;
	} cases[] = {
		{ "run", "run" },
		{ "--max-jobs=2", "--max-jobs=2" },
		{ "", "\"\"" },
		{ "a b", "\"a b\"" },
		{ "%i", "\"%%i\"" },
		{ "$X", "\"$$X\"" },
		{ "\\;", "\"\\\\;\"" },
		{ "say \"hi\"", "\"say \\\"hi\\\"\"" },
		{ "it's", "\"it's\"" },
	};
	for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
		char *q = dr_service_quote_exec(cases[i].in);
		ck_assert_str_eq(q, cases[i].out);
		free(q);
	}
}
END_TEST

START_TEST(test_unit_name_and_path)
{
	char *n = dr_service_unit_name("work");
	ck_assert_str_eq(n, "delego-runner-work.service");
	free(n);
	setenv("HOME", "/home/u", 1);
	setenv("XDG_CONFIG_HOME", "/cfg", 1);
	char *p = dr_service_unit_path("default");
	ck_assert_str_eq(p, "/cfg/systemd/user/delego-runner-default.service");
	free(p);
	unsetenv("XDG_CONFIG_HOME");
	p = dr_service_unit_path("default");
	ck_assert_str_eq(p, "/home/u/.config/systemd/user/delego-runner-default.service");
	free(p);
}
END_TEST

START_TEST(test_exec)
{
	struct dr_buf out = DR_BUF_INIT(1024);
	int status = -1;
	char *ok[] = { "sh", "-c", "echo out; echo err >&2; exit 3", NULL };
	ck_assert_int_eq(dr_proc_sync_run(ok, 5000, &out, &status), 0);
	ck_assert_int_eq(status, 3);
	ck_assert_str_eq(out.buf, "out\nerr\n");
	dr_buf_reset(&out);
	/* Apart: stdout's lines only, stderr's elsewhere or dropped. */
	struct dr_buf errs = DR_BUF_INIT(1024);
	ck_assert_int_eq(dr_proc_sync_run_split(ok, 5000, &out, &errs, &status), 0);
	ck_assert_str_eq(out.buf, "out\n");
	ck_assert_str_eq(errs.buf, "err\n");
	dr_buf_reset(&out);
	ck_assert_int_eq(dr_proc_sync_run_split(ok, 5000, &out, NULL, &status), 0);
	ck_assert_str_eq(out.buf, "out\n");
	ck_assert_int_eq(status, 3);
	dr_buf_release(&errs);
	dr_buf_reset(&out);

	/* Our secrets (DELEGO_*) never reach a helper; the rest of the environment does. */
	setenv("DELEGO_PAIRING_TOKEN", "drs_pair_not_for_children", 1);
	setenv("DR_TEST_VISIBLE", "yes", 1);
	char *env[] = { "sh", "-c", "echo ${DELEGO_PAIRING_TOKEN:-none} $DR_TEST_VISIBLE", NULL };
	ck_assert_int_eq(dr_proc_sync_run(env, 5000, &out, &status), 0);
	ck_assert_str_eq(out.buf, "none yes\n");
	unsetenv("DELEGO_PAIRING_TOKEN");
	unsetenv("DR_TEST_VISIBLE");
	dr_buf_reset(&out);

	char *missing[] = { "dr-no-such-program-here", NULL };
	ck_assert_int_eq(dr_proc_sync_run(missing, 5000, &out, &status), -ENOENT);

	char *slow[] = { "sleep", "5", NULL };
	ck_assert_int_eq(dr_proc_sync_run(slow, 200, &out, &status), 0);
	ck_assert_int_eq(status, 124);

	/* Output past the cap is dropped, and the child still finishes. */
	struct dr_buf small = DR_BUF_INIT(16);
	char *loud[] = { "sh", "-c", "i=0; while [ $i -lt 2000 ]; do echo 0123456789; i=$((i+1)); done", NULL };
	ck_assert_int_eq(dr_proc_sync_run(loud, 5000, &small, &status), 0);
	ck_assert_int_eq(status, 0);
	ck_assert_uint_le(small.len, 16);
	dr_buf_release(&small);
	dr_buf_release(&out);
}
END_TEST

START_TEST(test_read_status)
{
	char *path = dr_xasprintf("%s/status.json", tmpdir);
	char *text = dr_xasprintf("{\"pid\": %d, \"runnerId\": \"r1\", \"relayUrl\": \"http://x\", \"version\": \"0.9.0\","
				  " \"startedAt\": \"2025-01-01T00:00:00Z\", \"lastHeartbeatAt\": null,"
				  " \"lastHeartbeatOk\": false, \"lastError\": \"relay down\", \"activeJobs\": [\"j1\", 7, \"j2\"],"
				  " \"pendingReports\": 3, \"containment\": \"process-group\", \"push\": true}",
				  (int)getpid());
	write_text(path, text, 0600);
	struct dr_service_status s;
	ck_assert_int_eq(dr_service_read_status(tmpdir, &s, err, sizeof err), 0);
	ck_assert(s.alive);
	ck_assert_str_eq(s.runner_id, "r1");
	ck_assert_ptr_null(s.last_heartbeat_at);
	ck_assert_str_eq(s.last_error, "relay down");
	ck_assert_int_eq(dr_strv_len(s.active_jobs), 2);
	ck_assert_str_eq(s.active_jobs[1], "j2");
	ck_assert_int_eq(s.pending_reports, 3);
	ck_assert(s.push);
	dr_service_status_release(&s);
	free(text);

	/* A pid that cannot exist: the file is stale. */
	write_text(path, "{\"pid\": 2147483000, \"runnerId\": \"r1\"}", 0600);
	ck_assert_int_eq(dr_service_read_status(tmpdir, &s, err, sizeof err), 0);
	ck_assert(!s.alive);
	ck_assert_ptr_nonnull(s.active_jobs);
	dr_service_status_release(&s);

	write_text(path, "[1,2", 0600);
	ck_assert_int_eq(dr_service_read_status(tmpdir, &s, err, sizeof err), -EBADMSG);
	ck_assert_ptr_nonnull(strstr(err, "status.json"));
	unlink(path);
	ck_assert_int_eq(dr_service_read_status(tmpdir, &s, err, sizeof err), -ENOENT);
	free(path);
}
END_TEST

START_TEST(test_count_outbox)
{
	ck_assert_int_eq(dr_service_count_outbox(tmpdir), 0);
	char *dir = dr_xasprintf("%s/outbox", tmpdir);
	ck_assert_int_eq(dr_fsutil_mkdir_p(dir, 0700), 0);
	const char *names[] = { "a.json", "b.json", "c.json.tmp", ".d.json" };
	for (size_t i = 0; i < 4; i++) {
		char *p = dr_xasprintf("%s/%s", dir, names[i]);
		write_text(p, "{}", 0600);
		free(p);
	}
	ck_assert_int_eq(dr_service_count_outbox(tmpdir), 2);
	free(dir);
}
END_TEST

/* A stand-in systemctl on PATH answers `show`; the unit file must exist for a query. */
START_TEST(test_query_with_fake_systemctl)
{
	char *bin = dr_xasprintf("%s/bin", tmpdir);
	ck_assert_int_eq(dr_fsutil_mkdir_p(bin, 0755), 0);
	char *fake = dr_xasprintf("%s/systemctl", bin);
	write_text(fake, "#!/bin/sh\necho \"$*\" >>\"$(dirname \"$0\")/argv\"\n"
			 "printf 'ActiveState=failed\\nSubState=failed\\nUnitFileState=enabled\\nMainPID=0\\n"
			 "ExecMainStatus=78\\n'\n", 0755);
	char *saved_path = dr_xstrdup(getenv("PATH"));
	char *path = dr_xasprintf("%s:/usr/bin:/bin", bin);
	setenv("PATH", path, 1);
	setenv("XDG_CONFIG_HOME", tmpdir, 1);

	struct dr_service_state st;
	dr_service_query("work", &st);
	ck_assert(!st.installed);
	ck_assert_str_eq(st.active, "not-installed");

	char *unit_dir = dr_xasprintf("%s/systemd/user", tmpdir);
	ck_assert_int_eq(dr_fsutil_mkdir_p(unit_dir, 0755), 0);
	char *unit = dr_service_unit_path("work");
	write_text(unit, DR_SERVICE_MARKER "\n", 0644);
	dr_service_query("work", &st);
	ck_assert(st.installed);
	ck_assert(st.queried);
	ck_assert_str_eq(st.active, "failed");
	ck_assert_str_eq(st.enabled, "enabled");
	ck_assert_int_eq(st.exec_status, 78);

	ck_assert_int_eq(dr_service_ctl("restart", "work", true, err, sizeof err), 0);
	ck_assert_int_eq(dr_service_ctl(NULL, NULL, false, err, sizeof err), 0);
	char *argv_log = dr_xasprintf("%s/argv", bin);
	struct dr_buf log = DR_BUF_INIT(4096);
	ck_assert_int_eq(dr_fsutil_read_file(argv_log, &log, NULL), 0);
	ck_assert_ptr_nonnull(strstr(log.buf, "--user show -p ActiveState"));
	ck_assert_ptr_nonnull(strstr(log.buf, "\n--user restart --no-block delego-runner-work.service\n"));
	ck_assert_ptr_nonnull(strstr(log.buf, "\n--user daemon-reload\n"));
	dr_buf_release(&log);

	/* A failing systemctl: its message and the user-session hint come back. */
	write_text(fake, "#!/bin/sh\necho 'Failed to connect to bus: No medium found' >&2\nexit 1\n", 0755);
	ck_assert_int_eq(dr_service_ctl("start", "work", false, err, sizeof err), -EIO);
	ck_assert_ptr_nonnull(strstr(err, "Failed to connect to bus"));
	ck_assert_ptr_nonnull(strstr(err, "enable-linger"));
	dr_service_query("work", &st);
	ck_assert(!st.queried);
	ck_assert_ptr_nonnull(strstr(st.error, "Failed to connect"));

	setenv("PATH", tmpdir, 1);
	ck_assert_int_eq(dr_service_ctl("start", "work", false, err, sizeof err), -ENOENT);
	ck_assert_ptr_nonnull(strstr(err, "systemctl not found"));
	setenv("PATH", saved_path, 1);
	free(saved_path);
	free(argv_log);
	free(unit);
	free(unit_dir);
	free(path);
	free(fake);
	free(bin);
}
END_TEST

static Suite *service_suite(void)
{
	Suite *s = suite_create("service");
	TCase *tc = tcase_create("core");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, test_render_plain);
	tcase_add_test(tc, test_stable_exe);
	tcase_add_test(tc, test_render_awkward_paths);
	tcase_add_test(tc, test_render_refuses);
	tcase_add_test(tc, test_quote_exec);
	tcase_add_test(tc, test_unit_name_and_path);
	tcase_add_test(tc, test_exec);
	tcase_add_test(tc, test_read_status);
	tcase_add_test(tc, test_count_outbox);
	tcase_add_test(tc, test_query_with_fake_systemctl);
	suite_add_tcase(s, tc);
	return s;
}

DR_CHECK_MAIN(service_suite)
