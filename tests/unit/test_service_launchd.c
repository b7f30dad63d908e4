/*
 * The launchd backend on Linux: the plist it renders (parsed back with
 * python3's plistlib, awkward values included), the exit-status mapping of
 * its wrapper (run for real with /bin/sh), `launchctl print` parsing, and
 * the launchctl calls behind each verb (against a stand-in launchctl).
 */
#include "delego/service.h"
#include "delego/proc_sync.h"
#include "delego/buf.h"
#include "delego/fsutil.h"
#include "delego/strv.h"
#include "delego/xalloc.h"
#include "check_main.h"
#include "testutil.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static char err[1024];

static void setup(void)
{
	tmpdir_make("launchd");
}

static void teardown(void)
{
	tmpdir_remove();
}

static char *read_text(const char *path)
{
	FILE *f = fopen(path, "r");
	if (!f)
		return dr_xstrdup("");
	struct dr_buf b = DR_BUF_INIT(0);
	char chunk[4096];
	size_t n;
	while ((n = fread(chunk, 1, sizeof chunk, f)) > 0)
		dr_buf_add(&b, chunk, n);
	fclose(f);
	return dr_buf_detach(&b, NULL);
}

static char *render(const struct dr_service_spec *spec, const char *home)
{
	char *out = NULL;
	int r = dr_service_launchd_render(spec, home, &out, err, sizeof err);
	ck_assert_msg(r == 0, "render failed: %s", err);
	return out;
}

/*
 * Parses the plist with plistlib (expat underneath) and checks each value
 * came back as given. argv: plist, profile, exe, home, credentials, state
 * home, grace seconds + 30, then the extra daemon arguments.
 */
static const char plist_check[] =
	"import plistlib, sys, xml.etree.ElementTree as ET\n"
	"f, profile, exe, home, creds, state, stop = sys.argv[1:8]\n"
	"extra = sys.argv[8:]\n"
	"ET.parse(f)\n"
	"p = plistlib.load(open(f, 'rb'))\n"
	"label = 'app.delego.runner.' + profile\n"
	"log = home + '/Library/Logs/delego-runner/' + profile + '.log'\n"
	"want = {'Label': label, 'RunAtLoad': True, 'KeepAlive': {'SuccessfulExit': False},\n"
	"        'ThrottleInterval': 10, 'ExitTimeOut': int(stop), 'ProcessType': 'Standard',\n"
	"        'StandardOutPath': log, 'StandardErrorPath': log}\n"
	"for k, v in want.items():\n"
	"    assert p[k] == v, (k, p[k], v)\n"
	"a = p['ProgramArguments']\n"
	"assert a[:2] == ['/bin/sh', '-c'], a[:2]\n"
	"assert a[3:] == [label, exe, 'run', '--profile', profile] + extra, a[3:]\n"
	"e = p['EnvironmentVariables']\n"
	"assert e['DELEGO_CREDENTIALS_PATH'] == creds, e\n"
	"assert e['XDG_STATE_HOME'] == state, e\n"
	"assert e['PATH'].split(':')[0] == exe.rsplit('/', 1)[0], e['PATH']\n"
	"assert '/opt/homebrew/bin' in e['PATH'].split(':'), e['PATH']\n"
	"print('plist ok')\n";

static void python_check(char **argv)
{
	struct dr_buf out = DR_BUF_INIT(64 * 1024);
	int status = -1;
	int r = dr_proc_sync_run(argv, 60000, &out, &status);
	ck_assert_msg(r == 0, "cannot run python3 (needed by this test): %s", strerror(-r));
	ck_assert_msg(status == 0, "python3 check failed (exit %d):\n%s", status, out.buf);
	dr_buf_release(&out);
}

static void check_roundtrip(const struct dr_service_spec *spec, const char *home)
{
	char *text = render(spec, home);
	ck_assert_msg(strncmp(text, DR_SERVICE_LAUNCHD_MARKER, strlen(DR_SERVICE_LAUNCHD_MARKER)) == 0,
		      "the plist does not start with the marker:\n%s", text);
	/* An XML comment may not hold "--": the only one is the marker's. */
	const char *end = strstr(text, "-->");
	ck_assert_ptr_nonnull(end);
	const char *open = strstr(text, "<!--");
	ck_assert_ptr_eq(strstr(open + 4, "--"), end);
	char *file = dr_xasprintf("%s/agent.plist", tmpdir);
	write_text(file, text, 0644);
	char stop[32];
	snprintf(stop, sizeof stop, "%llu", (unsigned long long)((spec->shutdown_grace_ms + 999) / 1000 + 30));
	struct dr_strv argv = DR_STRV_INIT;
	const char *fixed[] = { "python3", "-c", plist_check, file, spec->profile, spec->exe, home,
				spec->credentials_path, spec->state_home, stop };
	for (size_t i = 0; i < sizeof fixed / sizeof *fixed; i++)
		dr_strv_push(&argv, fixed[i]);
	for (char *const *a = spec->args; a && *a; a++)
		dr_strv_push(&argv, *a);
	python_check(argv.v);
	dr_strv_release(&argv);
	free(file);
	free(text);
}

START_TEST(test_render_plain)
{
	struct dr_service_spec spec = {
		.profile = "default",
		.exe = "/opt/homebrew/bin/delego-runner",
		.credentials_path = "/Users/u/.config/delego-runner/credentials.json",
		.state_home = "/Users/u/.local/state",
		.shutdown_grace_ms = 60000,
	};
	char *text = render(&spec, "/Users/u");
	ck_assert_ptr_nonnull(strstr(text, "<key>Label</key>\n\t<string>app.delego.runner.default</string>\n"));
	ck_assert_ptr_nonnull(strstr(text, "<key>KeepAlive</key>\n\t<dict>\n\t\t<key>SuccessfulExit</key>\n\t\t"
					   "<false/>\n\t</dict>\n"));
	ck_assert_ptr_nonnull(strstr(text, "<key>RunAtLoad</key>\n\t<true/>\n"));
	ck_assert_ptr_nonnull(strstr(text, "<key>ExitTimeOut</key>\n\t<integer>90</integer>\n"));
	ck_assert_ptr_nonnull(strstr(text, "<string>/Users/u/Library/Logs/delego-runner/default.log</string>"));
	ck_assert_ptr_nonnull(strstr(text, "<string>/opt/homebrew/bin:/opt/homebrew/bin:/usr/local/bin:/usr/bin:"
					   "/bin:/usr/sbin:/sbin</string>"));
	/* The shell's own text is escaped too ("$@" &, 2>/dev/null). */
	ck_assert_ptr_nonnull(strstr(text, "\"$@\" &amp;\n"));
	ck_assert_ptr_nonnull(strstr(text, "2&gt;/dev/null"));
	free(text);
	check_roundtrip(&spec, "/Users/u");
}
END_TEST

/* Spaces, &, <, >, quotes, "]]>", "--" and non-ASCII letters: each comes back from plistlib as given. */
START_TEST(test_render_awkward_values)
{
	char *args[] = { "--workspace-root=/Users/a b/Tom & Jerry <work>", "--claude-args=--model \"x\" ]]> 'y'",
			 "--max-jobs=2", NULL };
	struct dr_service_spec spec = {
		.profile = "a--b",
		.exe = "/Users/J & K/<apps>/b\"in/délégo runner",
		.args = args,
		.credentials_path = "/Users/J & K/creds <1>.json",
		.state_home = "/Users/J & K/state ]]> here",
		.shutdown_grace_ms = 1,
	};
	check_roundtrip(&spec, "/Users/J & K <home>");
}
END_TEST

START_TEST(test_render_explicit_path)
{
	struct dr_service_spec spec = {
		.profile = "work",
		.exe = "/usr/local/bin/delego-runner",
		.credentials_path = "/c.json",
		.state_home = "/s",
		.path = "/Users/u/.npm-global/bin:/opt/homebrew/bin:/usr/bin:/bin",
	};
	char *text = render(&spec, "/Users/u");
	ck_assert_ptr_nonnull(strstr(text, "<key>PATH</key>\n\t\t<string>/Users/u/.npm-global/bin:/opt/homebrew/bin:"
					   "/usr/bin:/bin</string>"));
	free(text);
}
END_TEST

START_TEST(test_render_refuses)
{
	char *out = NULL;
	struct dr_service_spec spec = { .profile = "default", .exe = "delego-runner" };
	ck_assert_int_eq(dr_service_launchd_render(&spec, "/Users/u", &out, err, sizeof err), -EINVAL);
	ck_assert_ptr_nonnull(strstr(err, "absolute path"));
	spec.exe = "/bin/delego-runner";
	spec.profile = "Bad Name";
	ck_assert_int_eq(dr_service_launchd_render(&spec, "/Users/u", &out, err, sizeof err), -EINVAL);
	ck_assert_ptr_nonnull(strstr(err, "not a valid profile name"));
	spec.profile = "default";
	ck_assert_int_eq(dr_service_launchd_render(&spec, "relative", &out, err, sizeof err), -EINVAL);
	ck_assert_ptr_nonnull(strstr(err, "HOME"));
	spec.state_home = "/Users/u/state\nNext";
	ck_assert_int_eq(dr_service_launchd_render(&spec, "/Users/u", &out, err, sizeof err), -EINVAL);
	ck_assert_ptr_nonnull(strstr(err, "control character"));
	spec.state_home = "/Users/u/\xff\xfe latin1";
	ck_assert_int_eq(dr_service_launchd_render(&spec, "/Users/u", &out, err, sizeof err), -EINVAL);
	ck_assert_ptr_nonnull(strstr(err, "not UTF-8"));
	spec.state_home = "/Users/u/\xc0\xaf overlong";
	ck_assert_int_eq(dr_service_launchd_render(&spec, "/Users/u", &out, err, sizeof err), -EINVAL);
	spec.state_home = "/Users/u/\xed\xa0\x80 surrogate";
	ck_assert_int_eq(dr_service_launchd_render(&spec, "/Users/u", &out, err, sizeof err), -EINVAL);
	spec.state_home = NULL;
	char *args[] = { "--workspace-root=/a\tb", NULL };
	spec.args = args;
	ck_assert_int_eq(dr_service_launchd_render(&spec, "/Users/u", &out, err, sizeof err), -EINVAL);
	ck_assert_ptr_nonnull(strstr(err, "option"));
	ck_assert_ptr_null(out);
}
END_TEST

/*
 * Runs the plist's ProgramArguments (the wrapper) with a stand-in daemon
 * that exits with FAKE_STATUS, and checks the status launchd would see.
 */
static const char run_agent[] =
	"import os, plistlib, subprocess, sys\n"
	"p = plistlib.load(open(sys.argv[1], 'rb'))\n"
	"for pair in sys.argv[2:]:\n"
	"    status, want = pair.split(':')\n"
	"    env = dict(os.environ, FAKE_STATUS=status)\n"
	"    got = subprocess.run(p['ProgramArguments'], env=env, stderr=subprocess.PIPE, text=True)\n"
	"    assert got.returncode == int(want), (status, got.returncode, want, got.stderr)\n"
	"    if status in ('2', '64', '78'):\n"
	"        assert 'will not restart' in got.stderr and 'start --profile work' in got.stderr, got.stderr\n"
	"    if status == '0':\n"
	"        assert 'restart request' in got.stderr, got.stderr\n"
	"    if status == 'TERM':\n"
	"        assert 'restart' not in got.stderr, got.stderr\n"
	"print('wrapper ok')\n";

START_TEST(test_wrapper_exit_mapping)
{
	char *exe = dr_xasprintf("%s/fake daemon & co", tmpdir);
	/* The daemon's own argv arrives intact; TERM kills it by signal (143: restarted). */
	write_text(exe,
		   "#!/bin/sh\n"
		   "[ \"$1 $2 $3\" = 'run --profile work' ] || { echo \"bad argv: $*\" >&2; exit 99; }\n"
		   "[ \"$4\" = '--x=a & b' ] || { echo \"bad arg: $4\" >&2; exit 98; }\n"
		   "case $FAKE_STATUS in TERM) kill -TERM $$; sleep 5 ;; esac\n"
		   "exit $FAKE_STATUS\n",
		   0755);
	char *args[] = { "--x=a & b", NULL };
	struct dr_service_spec spec = { .profile = "work", .exe = exe, .args = args };
	char *text = render(&spec, "/Users/u");
	char *file = dr_xasprintf("%s/agent.plist", tmpdir);
	write_text(file, text, 0644);
	/* 2, 64, 78 -> 0 (not restarted); 0 -> 1 (restarted); others unchanged. */
	char *argv[] = { "python3", "-c", (char *)run_agent, file, "2:0", "64:0", "78:0", "0:1", "1:1", "69:69", "75:75",
			 "76:76", "73:73", "TERM:143", NULL };
	python_check(argv);
	free(file);
	free(text);
	free(exe);
}
END_TEST

static const char print_running[] =
	"gui/501/app.delego.runner.default = {\n"
	"\tactive count = 1\n"
	"\tpath = /Users/u/Library/LaunchAgents/app.delego.runner.default.plist\n"
	"\ttype = LaunchAgent\n"
	"\tstate = running\n"
	"\n"
	"\tprogram = /bin/sh\n"
	"\tendpoints = {\n"
	"\t\tstate = active\n"
	"\t\tpid = 1\n"
	"\t}\n"
	"\tpid = 4242\n"
	"\tlast exit code = (never exited)\n"
	"}\n";

START_TEST(test_parse_print)
{
	struct dr_service_state st = { .installed = true };
	dr_service_launchd_parse_print(print_running, false, &st);
	ck_assert(st.queried);
	ck_assert_str_eq(st.active, "active");
	ck_assert_str_eq(st.sub, "running");
	ck_assert_str_eq(st.enabled, "enabled");
	ck_assert_int_eq(st.main_pid, 4242);
	ck_assert_int_eq(st.exec_status, 0);

	memset(&st, 0, sizeof st);
	dr_service_launchd_parse_print("x = {\n\tstate = not running\n\tlast exit code = 78: EX_CONFIG\n}\n", true, &st);
	ck_assert_str_eq(st.active, "failed");
	ck_assert_str_eq(st.sub, "exited");
	ck_assert_str_eq(st.enabled, "disabled");
	ck_assert_int_eq(st.exec_status, 78);
	ck_assert_int_eq(st.main_pid, 0);

	memset(&st, 0, sizeof st);
	dr_service_launchd_parse_print("x = {\n\tstate = not running\n\tlast exit code = 0\n}\n", false, &st);
	ck_assert_str_eq(st.active, "inactive");
	ck_assert_str_eq(st.sub, "exited");

	memset(&st, 0, sizeof st);
	dr_service_launchd_parse_print("x = {\n\tstate = spawn scheduled\n\tlast exit code = 1\n}\n", false, &st);
	ck_assert_str_eq(st.active, "activating");

	memset(&st, 0, sizeof st);
	dr_service_launchd_parse_print(NULL, false, &st);
	ck_assert(st.queried);
	ck_assert_str_eq(st.active, "inactive");
	ck_assert_str_eq(st.sub, "not-loaded");
}
END_TEST

/* A stand-in launchctl: records its argv; `print` answers as loaded only with FAKE_LOADED set. */
static const char fake_launchctl[] =
	"#!/bin/sh\n"
	"echo \"$*\" >>\"$LAUNCHCTL_LOG\"\n"
	"case \"$1\" in\n"
	"print)\n"
	"\tif [ -n \"${FAKE_LOADED:-}\" ]; then printf '%s = {\\n\\tstate = running\\n\\tpid = 77\\n}\\n' \"$2\"; exit 0; fi\n"
	"\techo \"Could not find service \\\"x\\\" in domain for user gui: 501\" >&2; exit 113 ;;\n"
	"print-disabled)\n"
	"\tprintf 'disabled services = {\\n\\t\"app.delego.runner.other\" => disabled\\n"
	"\\t\"app.delego.runner.default\" => %s\\n}\\n' \"${FAKE_DISABLED:-enabled}\" ;;\n"
	"bootstrap)\n"
	"\tif [ -n \"${FAKE_NO_GUI:-}\" ]; then echo 'Bootstrap failed: 125: Domain does not support specified action' >&2; "
	"exit 125; fi ;;\n"
	"esac\n"
	"exit 0\n";

static char *logfile;
static char *home;
static char *saved_path;

static void fake_setup(void)
{
	setup();
	char *bin = dr_xasprintf("%s/bin", tmpdir);
	ck_assert_int_eq(mkdir(bin, 0755), 0);
	char *fake = dr_xasprintf("%s/launchctl", bin);
	write_text(fake, fake_launchctl, 0755);
	const char *path = getenv("PATH");
	saved_path = dr_xstrdup(path ? path : "/usr/bin:/bin");
	char *newpath = dr_xasprintf("%s:%s", bin, path ? path : "/usr/bin:/bin");
	setenv("PATH", newpath, 1);
	logfile = dr_xasprintf("%s/launchctl.log", tmpdir);
	setenv("LAUNCHCTL_LOG", logfile, 1);
	home = dr_xasprintf("%s/home dir", tmpdir);
	ck_assert_int_eq(mkdir(home, 0755), 0);
	free(newpath);
	free(fake);
	free(bin);
}

static void fake_teardown(void)
{
	setenv("PATH", saved_path, 1);
	free(saved_path);
	free(home);
	free(logfile);
	teardown();
}

static void expect_calls(const char *expected)
{
	char *got = read_text(logfile);
	ck_assert_str_eq(got, expected);
	free(got);
	unlink(logfile);
}

START_TEST(test_ctl_verbs)
{
	char *plist = dr_service_launchd_plist_path(home, "default");
	char *exp;
	unsigned long uid = (unsigned long)getuid();

	ck_assert_int_eq(dr_service_launchd_ctl(home, NULL, NULL, err, sizeof err), 0);
	ck_assert_int_eq(access(logfile, F_OK), -1); /* daemon-reload: nothing to do */

	unsetenv("FAKE_LOADED");
	ck_assert_int_eq(dr_service_launchd_ctl(home, "enable", "default", err, sizeof err), 0);
	exp = dr_xasprintf("print gui/%lu/app.delego.runner.default\nenable gui/%lu/app.delego.runner.default\n", uid, uid);
	expect_calls(exp);
	free(exp);

	ck_assert_msg(dr_service_launchd_ctl(home, "restart", "default", err, sizeof err) == 0, "%s", err);
	exp = dr_xasprintf("print gui/%lu/app.delego.runner.default\nbootstrap gui/%lu %s\n", uid, uid, plist);
	expect_calls(exp);
	free(exp);
	char *logdir = dr_xasprintf("%s/Library/Logs/delego-runner", home);
	struct stat st;
	ck_assert_msg(stat(logdir, &st) == 0 && S_ISDIR(st.st_mode), "launchd needs the log directory %s", logdir);
	free(logdir);

	ck_assert_int_eq(dr_service_launchd_ctl(home, "stop", "default", err, sizeof err), 0);
	exp = dr_xasprintf("print gui/%lu/app.delego.runner.default\n", uid);
	expect_calls(exp); /* not loaded: already stopped */
	free(exp);

	setenv("FAKE_LOADED", "1", 1);
	ck_assert_int_eq(dr_service_launchd_ctl(home, "enable", "default", err, sizeof err), 0);
	exp = dr_xasprintf("print gui/%lu/app.delego.runner.default\nenable gui/%lu/app.delego.runner.default\n"
			   "bootout gui/%lu/app.delego.runner.default\n", uid, uid, uid);
	expect_calls(exp);
	free(exp);
	ck_assert_int_eq(dr_service_launchd_ctl(home, "start", "default", err, sizeof err), 0);
	exp = dr_xasprintf("print gui/%lu/app.delego.runner.default\nkickstart gui/%lu/app.delego.runner.default\n", uid,
			   uid);
	expect_calls(exp);
	free(exp);
	ck_assert_int_eq(dr_service_launchd_ctl(home, "restart", "default", err, sizeof err), 0);
	exp = dr_xasprintf("print gui/%lu/app.delego.runner.default\nkickstart -k gui/%lu/app.delego.runner.default\n",
			   uid, uid);
	expect_calls(exp);
	free(exp);
	ck_assert_int_eq(dr_service_launchd_ctl(home, "stop", "default", err, sizeof err), 0);
	exp = dr_xasprintf("print gui/%lu/app.delego.runner.default\nbootout gui/%lu/app.delego.runner.default\n", uid,
			   uid);
	expect_calls(exp);
	free(exp);
	ck_assert_int_eq(dr_service_launchd_ctl(home, "disable", "default", err, sizeof err), 0);
	exp = dr_xasprintf("print gui/%lu/app.delego.runner.default\ndisable gui/%lu/app.delego.runner.default\n", uid,
			   uid);
	expect_calls(exp);
	free(exp);

	ck_assert_int_eq(dr_service_launchd_ctl(home, "frobnicate", "default", err, sizeof err), -EINVAL);
	free(plist);
}
END_TEST

START_TEST(test_ctl_failures)
{
	setenv("FAKE_NO_GUI", "1", 1);
	ck_assert_int_eq(dr_service_launchd_ctl(home, "start", "default", err, sizeof err), -EIO);
	ck_assert_msg(strstr(err, "launchctl bootstrap gui/") && strstr(err, "exit status 125") &&
			      strstr(err, "Domain does not support") && strstr(err, "GUI login session"),
		      "%s", err);
	setenv("PATH", "/nonexistent", 1);
	ck_assert_int_eq(dr_service_launchd_ctl(home, "start", "default", err, sizeof err), -ENOENT);
	ck_assert_ptr_nonnull(strstr(err, "launchctl not found"));
	struct dr_service_state st;
	char *plist = dr_service_launchd_plist_path(home, "default");
	char *dir = dr_xasprintf("%s/Library/LaunchAgents", home);
	ck_assert_int_eq(dr_fsutil_mkdir_p(dir, 0755), 0);
	write_text(plist, "x", 0644);
	dr_service_launchd_query(home, "default", &st);
	ck_assert(st.installed);
	ck_assert(!st.queried);
	ck_assert_ptr_nonnull(strstr(st.error, "launchctl not found"));
	free(dir);
	free(plist);
}
END_TEST

START_TEST(test_query)
{
	struct dr_service_state st;
	dr_service_launchd_query(home, "default", &st);
	ck_assert(!st.installed);
	ck_assert_str_eq(st.active, "not-installed");
	ck_assert_int_eq(access(logfile, F_OK), -1); /* no plist: launchd is not asked */

	char *plist = dr_service_launchd_plist_path(home, "default");
	char *dir = dr_xasprintf("%s/Library/LaunchAgents", home);
	ck_assert_int_eq(dr_fsutil_mkdir_p(dir, 0755), 0);
	write_text(plist, "x", 0644);

	setenv("FAKE_LOADED", "1", 1);
	dr_service_launchd_query(home, "default", &st);
	ck_assert(st.installed && st.queried);
	ck_assert_str_eq(st.active, "active");
	ck_assert_int_eq(st.main_pid, 77);
	ck_assert_str_eq(st.enabled, "enabled");

	unsetenv("FAKE_LOADED");
	setenv("FAKE_DISABLED", "disabled", 1);
	dr_service_launchd_query(home, "default", &st);
	ck_assert(st.queried);
	ck_assert_str_eq(st.active, "inactive");
	ck_assert_str_eq(st.sub, "not-loaded");
	ck_assert_str_eq(st.enabled, "disabled");
	setenv("FAKE_DISABLED", "true", 1); /* older systems */
	dr_service_launchd_query(home, "default", &st);
	ck_assert_str_eq(st.enabled, "disabled");
	free(dir);
	free(plist);
}
END_TEST

static Suite *launchd_suite(void)
{
	Suite *s = suite_create("service_launchd");
	TCase *tc = tcase_create("render");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, test_render_plain);
	tcase_add_test(tc, test_render_awkward_values);
	tcase_add_test(tc, test_render_explicit_path);
	tcase_add_test(tc, test_render_refuses);
	tcase_add_test(tc, test_wrapper_exit_mapping);
	tcase_add_test(tc, test_parse_print);
	suite_add_tcase(s, tc);
	TCase *ctl = tcase_create("launchctl");
	tcase_add_checked_fixture(ctl, fake_setup, fake_teardown);
	tcase_set_timeout(ctl, 30);
	tcase_add_test(ctl, test_ctl_verbs);
	tcase_add_test(ctl, test_ctl_failures);
	tcase_add_test(ctl, test_query);
	suite_add_tcase(s, ctl);
	return s;
}

DR_CHECK_MAIN(launchd_suite)
