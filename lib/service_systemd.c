/*
 * service_systemd: the per-user systemd unit of a profile, the only source
 * of that unit's text, and `systemctl --user` to drive it.
 */
#ifndef __APPLE__
#include "delego/service.h"
#include "delego/proc_sync.h"
#include "delego/buf.h"
#include "delego/cgroup.h"
#include "delego/xalloc.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define SYSTEMCTL_TIMEOUT_MS 30000
#define SYSTEMCTL_OUTPUT_MAX (64 * 1024)

char *dr_service_unit_name(const char *profile)
{
	return dr_xasprintf("delego-runner-%s.service", profile);
}

char *dr_service_logs_hint(const char *profile)
{
	return dr_xasprintf("journalctl --user -u delego-runner-%s.service", profile);
}

char *dr_service_unit_path(const char *profile)
{
	const char *xdg = getenv("XDG_CONFIG_HOME");
	const char *home = getenv("HOME");
	if (xdg && *xdg == '/')
		return dr_xasprintf("%s/systemd/user/delego-runner-%s.service", xdg, profile);
	return dr_xasprintf("%s/.config/systemd/user/delego-runner-%s.service", home ? home : "", profile);
}

static bool is_bare(const char *s)
{
	if (!*s)
		return false;
	for (; *s; s++)
		if (!strchr("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_@:/.,=+-", *s))
			return false;
	return true;
}

/*
 * systemd unquotes and C-unescapes a word first, then expands "%"
 * specifiers, and "$" variables when it executes: all three are escaped.
 */
static void add_quoted(struct dr_buf *b, const char *s, bool dollars)
{
	dr_buf_addch(b, '"');
	for (; *s; s++) {
		if (*s == '\\' || *s == '"')
			dr_buf_addch(b, '\\');
		else if (*s == '%' || (dollars && *s == '$'))
			dr_buf_addch(b, *s);
		dr_buf_addch(b, *s);
	}
	dr_buf_addch(b, '"');
}

char *dr_service_quote_exec(const char *word)
{
	if (is_bare(word))
		return dr_xstrdup(word);
	struct dr_buf b = DR_BUF_INIT(0);
	add_quoted(&b, word, true);
	return dr_buf_detach(&b, NULL);
}

static bool has_control(const char *s)
{
	for (; s && *s; s++)
		if ((unsigned char)*s < 0x20 || *s == 0x7f)
			return true;
	return false;
}

int dr_service_render_unit(const struct dr_service_spec *spec, char **out, char *err, size_t errlen)
{
	int rc = dr_service_spec_check(spec, err, errlen);
	if (rc < 0)
		return rc;
	/* systemd refuses quotes and backslashes in the program's path, whatever the quoting. */
	if (strpbrk(spec->exe, "\"'\\")) {
		snprintf(err, errlen, "systemd cannot start a program whose path has a quote or backslash (%s): install "
			 "delego-runner in a plain directory", spec->exe);
		return -EINVAL;
	}
	const char *values[] = { spec->exe, spec->credentials_path, spec->state_home };
	for (size_t i = 0; i < sizeof values / sizeof *values; i++) {
		if (has_control(values[i])) {
			snprintf(err, errlen, "the path '%s' contains a newline or control character, which a unit "
				 "file cannot hold: move it to a plain path", values[i]);
			return -EINVAL;
		}
	}
	for (char *const *a = spec->args; a && *a; a++) {
		if (has_control(*a)) {
			snprintf(err, errlen, "the option '%s' contains a newline or control character, which a unit "
				 "file cannot hold", *a);
			return -EINVAL;
		}
	}
	uint64_t stop_s = (spec->shutdown_grace_ms + 999) / 1000 + 30;

	struct dr_buf b = DR_BUF_INIT(0);
	dr_buf_addf(&b, DR_SERVICE_MARKER " (delego-runner %s) for profile %s.\n", DR_VERSION, spec->profile);
	dr_buf_addf(&b, "# Rewritten by `delego-runner service install%s%s`; removed by `delego-runner uninstall "
			"--yes%s%s`.\n",
		    strcmp(spec->profile, "default") ? " --profile " : "",
		    strcmp(spec->profile, "default") ? spec->profile : "",
		    strcmp(spec->profile, "default") ? " --profile " : "",
		    strcmp(spec->profile, "default") ? spec->profile : "");
	dr_buf_addf(&b, "[Unit]\nDescription=Delego runner (profile %s)\nDocumentation=man:delego-runner(1)\n\n",
		    spec->profile);
	dr_buf_addstr(&b, "[Service]\nType=notify\nNotifyAccess=main\nExecStart=");
	/* The program's path gets specifiers expanded but never variables: "$" stays single. */
	char *q;
	if (is_bare(spec->exe)) {
		q = dr_xstrdup(spec->exe);
	} else {
		struct dr_buf e = DR_BUF_INIT(0);
		add_quoted(&e, spec->exe, false);
		q = dr_buf_detach(&e, NULL);
	}
	dr_buf_addf(&b, "%s run --profile %s", q, spec->profile);
	for (char *const *a = spec->args; a && *a; a++) {
		char *qa = dr_service_quote_exec(*a);
		dr_buf_addf(&b, " %s", qa);
		free(qa);
	}
	dr_buf_addch(&b, '\n');
	if (spec->credentials_path) {
		dr_buf_addstr(&b, "Environment=");
		char *kv = dr_xasprintf("DELEGO_CREDENTIALS_PATH=%s", spec->credentials_path);
		add_quoted(&b, kv, false);
		free(kv);
		dr_buf_addch(&b, '\n');
	}
	if (spec->state_home) {
		dr_buf_addstr(&b, "Environment=");
		char *kv = dr_xasprintf("XDG_STATE_HOME=%s", spec->state_home);
		add_quoted(&b, kv, false);
		free(kv);
		dr_buf_addch(&b, '\n');
	}
	dr_buf_addf(&b,
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
		    "ExecStopPost=%s " DR_CGROUP_STOP_POST_WORD "\n"
		    "# Each agent gets its own cgroup below ours: cancel and timeout end all it started.\n"
		    "Delegate=yes\n"
		    "TimeoutStopSec=%llu\n"
		    "WatchdogSec=60\n\n"
		    "[Install]\n"
		    "WantedBy=default.target\n",
		    q, (unsigned long long)stop_s);
	free(q);
	*out = dr_buf_detach(&b, NULL);
	return 0;
}

static void copy_field(char *dst, size_t n, const char *line, size_t len)
{
	snprintf(dst, n, "%.*s", (int)len, line);
}

/* First line of systemctl's answer, for an error sentence. */
static void first_line(const struct dr_buf *b, char *err, size_t errlen)
{
	const char *nl = strchr(b->buf, '\n');
	size_t len = nl ? (size_t)(nl - b->buf) : b->len;
	snprintf(err, errlen, "%.*s", (int)(len > 200 ? 200 : len), b->buf);
}

void dr_service_query(const char *profile, struct dr_service_state *out)
{
	memset(out, 0, sizeof *out);
	snprintf(out->active, sizeof out->active, "unknown");
	char *path = dr_service_unit_path(profile);
	out->installed = access(path, F_OK) == 0;
	free(path);
	if (!out->installed) {
		snprintf(out->active, sizeof out->active, "not-installed");
		return;
	}
	char *unit = dr_service_unit_name(profile);
	char *argv[] = { "systemctl", "--user", "show", "-p", "ActiveState", "-p", "SubState", "-p",
			 "UnitFileState", "-p", "MainPID", "-p", "ExecMainStatus", unit, NULL };
	struct dr_buf b = DR_BUF_INIT(SYSTEMCTL_OUTPUT_MAX);
	int status = 0;
	int r = dr_proc_sync_run(argv, SYSTEMCTL_TIMEOUT_MS, &b, &status);
	if (r < 0) {
		snprintf(out->error, sizeof out->error, r == -ENOENT ? "systemctl not found" : "cannot run systemctl: %s",
			 strerror(-r));
	} else if (status != 0) {
		char line[220];
		first_line(&b, line, sizeof line);
		snprintf(out->error, sizeof out->error, "systemctl --user failed (%s)", line);
	} else {
		out->queried = true;
		for (char *l = b.buf; *l;) {
			char *nl = strchr(l, '\n');
			size_t len = nl ? (size_t)(nl - l) : strlen(l);
			char *eq = memchr(l, '=', len);
			if (eq) {
				size_t k = (size_t)(eq - l), vlen = len - k - 1;
				const char *v = eq + 1;
				if (k == 11 && !strncmp(l, "ActiveState", k))
					copy_field(out->active, sizeof out->active, v, vlen);
				else if (k == 8 && !strncmp(l, "SubState", k))
					copy_field(out->sub, sizeof out->sub, v, vlen);
				else if (k == 13 && !strncmp(l, "UnitFileState", k))
					copy_field(out->enabled, sizeof out->enabled, v, vlen);
				else if (k == 7 && !strncmp(l, "MainPID", k))
					out->main_pid = strtol(v, NULL, 10);
				else if (k == 14 && !strncmp(l, "ExecMainStatus", k))
					out->exec_status = (int)strtol(v, NULL, 10);
			}
			if (!nl)
				break;
			l = nl + 1;
		}
	}
	dr_buf_release(&b);
	free(unit);
}

int dr_service_ctl(const char *verb, const char *profile, bool no_block, char *err, size_t errlen)
{
	char *unit = profile ? dr_service_unit_name(profile) : NULL;
	char *argv[6];
	int n = 0;
	argv[n++] = "systemctl";
	argv[n++] = "--user";
	argv[n++] = (char *)(profile ? verb : "daemon-reload");
	if (profile && no_block)
		argv[n++] = "--no-block";
	if (unit)
		argv[n++] = unit;
	argv[n] = NULL;
	struct dr_buf b = DR_BUF_INIT(SYSTEMCTL_OUTPUT_MAX);
	int status = 0;
	int r = dr_proc_sync_run(argv, SYSTEMCTL_TIMEOUT_MS, &b, &status);
	if (r == -ENOENT) {
		snprintf(err, errlen, "systemctl not found: this machine has no systemd; run `delego-runner run%s%s` "
			 "under your own supervisor", profile && strcmp(profile, "default") ? " --profile " : "",
			 profile && strcmp(profile, "default") ? profile : "");
	} else if (r < 0) {
		snprintf(err, errlen, "cannot run systemctl: %s", strerror(-r));
	} else if (status != 0) {
		char line[220];
		first_line(&b, line, sizeof line);
		snprintf(err, errlen, "`systemctl --user %s%s%s` failed (exit %d): %s%s", argv[2],
			 unit ? " " : "", unit ? unit : "", status, line[0] ? line : "no output",
			 strstr(b.buf, "bus") || strstr(b.buf, "XDG_RUNTIME_DIR")
				 ? "; there is no systemd user session here: log in graphically or over ssh, or "
				   "run `loginctl enable-linger` for this user"
				 : "");
		r = -EIO;
	}
	dr_buf_release(&b);
	free(unit);
	return r;
}
#endif
