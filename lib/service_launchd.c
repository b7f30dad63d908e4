/*
 * service_launchd: the macOS side of the service module. A per-user
 * launchd agent per profile (~/Library/LaunchAgents/app.delego.runner.
 * <profile>.plist, the Node runner's label), the only source of that
 * plist's text, and launchctl in the gui/<uid> domain to drive it.
 *
 * Everything is built on every system so that Linux CI tests it (with a
 * stand-in launchctl); the dr_service_* entry points are defined here only
 * when the build selects macOS (DR_PLATFORM_DARWIN).
 */
#include "delego/service.h"
#include "delego/proc_sync.h"
#include "delego/buf.h"
#include "delego/fsutil.h"
#include "delego/platform.h"
#include "delego/xalloc.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>
#include <unistd.h>

#define LAUNCHCTL_TIMEOUT_MS 30000
/* bootout waits for the daemon to drain its jobs (ExitTimeOut is the drain time + 30 s). */
#define LAUNCHCTL_BOOTOUT_TIMEOUT_MS (15L * 60 * 1000)
#define LAUNCHCTL_OUTPUT_MAX (256 * 1024)
/* launchctl print's answer for a label the domain does not have. */
#define LAUNCHCTL_NO_SUCH_SERVICE 113

/*
 * The agent's program: /bin/sh runs this with $0 = the label and "$@" =
 * the daemon's argv, so no value is ever parsed by the shell. launchd's
 * KeepAlive only knows zero from non-zero; this maps the daemon's status
 * (see service.h) and forwards the signals launchd sends to the job, and
 * SIGUSR2 (`delego-runner upgrade`: launchd's pid is this shell's).
 */
static const char wrapper[] =
	"# delego-runner under launchd: forwards TERM, INT, HUP and USR2 to the daemon and maps its exit\n"
	"# status for KeepAlive {SuccessfulExit: false}; see delego-runner(1), section macOS.\n"
	"pid= stopping=\n"
	"trap 'stopping=1; [ -z \"$pid\" ] || kill -TERM \"$pid\" 2>/dev/null' TERM\n"
	"trap 'stopping=1; [ -z \"$pid\" ] || kill -INT \"$pid\" 2>/dev/null' INT\n"
	"trap '[ -z \"$pid\" ] || kill -HUP \"$pid\" 2>/dev/null' HUP\n"
	/* `delego-runner upgrade` signals launchd's pid, this shell: the daemon upgrades in place (same pid). */
	"trap '[ -z \"$pid\" ] || kill -USR2 \"$pid\" 2>/dev/null' USR2\n"
	"\"$@\" &\n"
	"pid=$!\n"
	"[ -z \"$stopping\" ] || kill -TERM \"$pid\" 2>/dev/null\n"
	"while :; do\n"
	"\twait \"$pid\"\n"
	"\ts=$?\n"
	"\tkill -0 \"$pid\" 2>/dev/null || break\n"
	"done\n"
	"case $s in\n"
	"2|64|78)\n"
	"\techo \"delego-runner: exited with status $s (2: pair again; 64: fix the options; 78: fix the \"\\\n"
	"\"configuration or pair); launchd will not restart it. After the fix: delego-runner start \"\\\n"
	"\"--profile ${0#" DR_SERVICE_LAUNCHD_LABEL_PREFIX "}\" >&2\n"
	"\texit 0 ;;\n"
	"0)\n"
	"\t[ -z \"$stopping\" ] || exit 0\n"
	"\techo \"delego-runner: exited with status 0 without being stopped (a restart request): \"\\\n"
	"\"launchd starts it again\" >&2\n"
	"\texit 1 ;;\n"
	"esac\n"
	"exit \"$s\"\n";

char *dr_service_launchd_label(const char *profile)
{
	return dr_xasprintf(DR_SERVICE_LAUNCHD_LABEL_PREFIX "%s", profile);
}

char *dr_service_launchd_plist_path(const char *home, const char *profile)
{
	return dr_xasprintf("%s/Library/LaunchAgents/" DR_SERVICE_LAUNCHD_LABEL_PREFIX "%s.plist", home, profile);
}

char *dr_service_launchd_log_path(const char *home, const char *profile)
{
	return dr_xasprintf("%s/Library/Logs/delego-runner/%s.log", home, profile);
}

/* XML 1.0 holds no control character but tab, LF and CR; we refuse them all, as the unit file does. */
static bool plist_safe(const char *s)
{
	const unsigned char *p = (const unsigned char *)s;
	while (*p) {
		unsigned char c = *p;
		size_t n;
		unsigned int cp;
		if (c < 0x20 || c == 0x7f)
			return false;
		if (c < 0x80) {
			p++;
			continue;
		}
		if (c >= 0xc2 && c <= 0xdf) {
			n = 1;
			cp = c & 0x1f;
		} else if (c >= 0xe0 && c <= 0xef) {
			n = 2;
			cp = c & 0x0f;
		} else if (c >= 0xf0 && c <= 0xf4) {
			n = 3;
			cp = c & 0x07;
		} else {
			return false;
		}
		for (size_t i = 1; i <= n; i++) {
			if ((p[i] & 0xc0) != 0x80)
				return false;
			cp = (cp << 6) | (p[i] & 0x3f);
		}
		/* Overlong forms, UTF-16 surrogates, past U+10FFFF, and U+FFFE/FFFF are not XML characters. */
		if ((n == 2 && cp < 0x800) || (n == 3 && cp < 0x10000) || (cp >= 0xd800 && cp <= 0xdfff) ||
		    cp > 0x10ffff || cp == 0xfffe || cp == 0xffff)
			return false;
		p += n + 1;
	}
	return true;
}

static void add_escaped(struct dr_buf *b, const char *s)
{
	for (; *s; s++) {
		switch (*s) {
		case '&':
			dr_buf_addstr(b, "&amp;");
			break;
		case '<':
			dr_buf_addstr(b, "&lt;");
			break;
		case '>':
			dr_buf_addstr(b, "&gt;");
			break;
		default:
			dr_buf_addch(b, *s);
		}
	}
}

static void add_string(struct dr_buf *b, const char *indent, const char *s)
{
	dr_buf_addf(b, "%s<string>", indent);
	add_escaped(b, s);
	dr_buf_addstr(b, "</string>\n");
}

static void add_env(struct dr_buf *b, const char *key, const char *value)
{
	dr_buf_addf(b, "\t\t<key>%s</key>\n", key);
	add_string(b, "\t\t", value);
}

int dr_service_launchd_render(const struct dr_service_spec *spec, const char *home, char **out, char *err,
			      size_t errlen)
{
	int rc = dr_service_spec_check(spec, err, errlen);
	if (rc < 0)
		return rc;
	if (!home || home[0] != '/') {
		snprintf(err, errlen, "HOME is '%s', not an absolute path: launchd agents live under ~/Library; set "
			 "HOME and run this again", home ? home : "");
		return -EINVAL;
	}
	const char *values[] = { spec->exe, home, spec->credentials_path, spec->state_home, spec->path };
	for (size_t i = 0; i < sizeof values / sizeof *values; i++) {
		if (values[i] && !plist_safe(values[i])) {
			snprintf(err, errlen, "the path '%s' contains a control character or bytes that are not UTF-8, "
				 "which a launchd plist cannot hold: move it to a plain path", values[i]);
			return -EINVAL;
		}
	}
	for (char *const *a = spec->args; a && *a; a++) {
		if (!plist_safe(*a)) {
			snprintf(err, errlen, "the option '%s' contains a control character or bytes that are not "
				 "UTF-8, which a launchd plist cannot hold", *a);
			return -EINVAL;
		}
	}
	uint64_t stop_s = (spec->shutdown_grace_ms + 999) / 1000 + 30;
	char *label = dr_service_launchd_label(spec->profile);
	char *log = dr_service_launchd_log_path(home, spec->profile);
	char *path = NULL;
	if (spec->path) {
		path = dr_xstrdup(spec->path);
	} else {
		const char *slash = strrchr(spec->exe, '/');
		int dirlen = slash == spec->exe ? 1 : (int)(slash - spec->exe);
		path = dr_xasprintf("%.*s:/opt/homebrew/bin:/usr/local/bin:/usr/bin:/bin:/usr/sbin:/sbin", dirlen,
				    spec->exe);
	}

	struct dr_buf b = DR_BUF_INIT(0);
	/* No "--" may appear inside an XML comment: the profile and flags stay out of it. */
	dr_buf_addf(&b, DR_SERVICE_LAUNCHD_MARKER " (delego-runner %s). Rewritten by delego-runner service "
		    "install, removed by delego-runner uninstall: see delego-runner(1). -->\n", DR_VERSION);
	dr_buf_addstr(&b, "<!DOCTYPE plist PUBLIC \"-//Apple//DTD PLIST 1.0//EN\" "
			  "\"http://www.apple.com/DTDs/PropertyList-1.0.dtd\">\n"
			  "<plist version=\"1.0\">\n<dict>\n\t<key>Label</key>\n");
	add_string(&b, "\t", label);
	dr_buf_addstr(&b, "\t<key>ProgramArguments</key>\n\t<array>\n");
	add_string(&b, "\t\t", "/bin/sh");
	add_string(&b, "\t\t", "-c");
	add_string(&b, "\t\t", wrapper);
	add_string(&b, "\t\t", label);
	add_string(&b, "\t\t", spec->exe);
	add_string(&b, "\t\t", "run");
	add_string(&b, "\t\t", "--profile");
	add_string(&b, "\t\t", spec->profile);
	for (char *const *a = spec->args; a && *a; a++)
		add_string(&b, "\t\t", *a);
	dr_buf_addstr(&b, "\t</array>\n\t<key>EnvironmentVariables</key>\n\t<dict>\n");
	add_env(&b, "PATH", path);
	if (spec->credentials_path)
		add_env(&b, "DELEGO_CREDENTIALS_PATH", spec->credentials_path);
	if (spec->state_home)
		add_env(&b, "XDG_STATE_HOME", spec->state_home);
	dr_buf_addstr(&b, "\t</dict>\n"
			  "\t<key>RunAtLoad</key>\n\t<true/>\n"
			  "\t<key>KeepAlive</key>\n\t<dict>\n"
			  "\t\t<key>SuccessfulExit</key>\n\t\t<false/>\n"
			  "\t</dict>\n"
			  "\t<key>ThrottleInterval</key>\n\t<integer>10</integer>\n");
	dr_buf_addf(&b, "\t<key>ExitTimeOut</key>\n\t<integer>%llu</integer>\n", (unsigned long long)stop_s);
	dr_buf_addstr(&b, "\t<key>ProcessType</key>\n\t<string>Standard</string>\n"
			  "\t<key>StandardOutPath</key>\n");
	add_string(&b, "\t", log);
	dr_buf_addstr(&b, "\t<key>StandardErrorPath</key>\n");
	add_string(&b, "\t", log);
	dr_buf_addstr(&b, "</dict>\n</plist>\n");
	*out = dr_buf_detach(&b, NULL);
	free(path);
	free(log);
	free(label);
	return 0;
}

static void copy_field(char *dst, size_t n, const char *v, size_t len)
{
	snprintf(dst, n, "%.*s", (int)len, v);
}

void dr_service_launchd_parse_print(const char *text, bool disabled, struct dr_service_state *out)
{
	out->queried = true;
	snprintf(out->enabled, sizeof out->enabled, disabled ? "disabled" : "enabled");
	if (!text) {
		snprintf(out->active, sizeof out->active, "inactive");
		snprintf(out->sub, sizeof out->sub, "not-loaded");
		return;
	}
	char state[32] = "";
	bool exited = false;
	for (const char *l = text; *l;) {
		const char *nl = strchr(l, '\n');
		size_t len = nl ? (size_t)(nl - l) : strlen(l);
		/* Only the service's own properties: nested sections are indented further. */
		if (len > 1 && l[0] == '\t' && l[1] != '\t') {
			const char *k = l + 1;
			const char *eq = memchr(k, '=', len - 1);
			if (eq && eq > k && eq[-1] == ' ' && (size_t)(eq - l) + 2 <= len) {
				size_t klen = (size_t)(eq - k) - 1;
				const char *v = eq + 2;
				size_t vlen = len - (size_t)(v - l);
				if (klen == 5 && !strncmp(k, "state", 5))
					copy_field(state, sizeof state, v, vlen);
				else if (klen == 3 && !strncmp(k, "pid", 3))
					out->main_pid = strtol(v, NULL, 10);
				else if (klen == 14 && !strncmp(k, "last exit code", 14)) {
					/* "(never exited)" before the first exit; newer systems add ": EX_CONFIG". */
					exited = vlen && v[0] != '(';
					out->exec_status = (int)strtol(v, NULL, 10);
				}
			}
		}
		if (!nl)
			break;
		l = nl + 1;
	}
	if (!strcmp(state, "running")) {
		snprintf(out->active, sizeof out->active, "active");
		snprintf(out->sub, sizeof out->sub, "running");
	} else if (!strcmp(state, "spawn scheduled") || !strcmp(state, "xpcproxy")) {
		snprintf(out->active, sizeof out->active, "activating");
		snprintf(out->sub, sizeof out->sub, "auto-restart");
	} else if (!strcmp(state, "not running") || !state[0]) {
		snprintf(out->active, sizeof out->active, exited && out->exec_status ? "failed" : "inactive");
		snprintf(out->sub, sizeof out->sub, exited ? "exited" : "dead");
	} else {
		snprintf(out->active, sizeof out->active, "%s", state);
	}
}

/* First line of launchctl's answer, for an error sentence. */
static void first_line(const struct dr_buf *b, char *line, size_t n)
{
	const char *nl = strchr(b->buf, '\n');
	size_t len = nl ? (size_t)(nl - b->buf) : b->len;
	snprintf(line, n, "%.*s", (int)(len > 200 ? 200 : len), b->buf);
}

/* Runs launchctl with argv[1..]; *out holds its answer. -ENOENT when there is no launchctl. */
static int launchctl(char *const argv[], long timeout_ms, struct dr_buf *out, int *status)
{
	dr_buf_reset(out);
	return dr_proc_sync_run(argv, timeout_ms, out, status);
}

static const char *hint_for(const struct dr_buf *b, int status)
{
	if (strstr(b->buf, "Could not find domain") || strstr(b->buf, "Domain does not support") || status == 125)
		return "; there is no GUI login session for this user here: LaunchAgents run in the session of a "
		       "user logged in on the Mac's screen. Log in there (fast user switching keeps it) and run this "
		       "again, or run `delego-runner run` under your own supervisor";
	if (strstr(b->buf, "disabled") || status == 119)
		return "; launchd has the service disabled: `delego-runner service install` enables it again";
	if (status == 5 || strstr(b->buf, "Input/output error"))
		return "; check the plist with `plutil -lint` and the log under ~/Library/Logs/delego-runner/";
	return "";
}

/* Runs launchctl; a failure to run it at all (not its exit status) is explained in err. */
static int launchctl_or_explain(char *const argv[], long timeout_ms, struct dr_buf *out, int *status, char *err,
				size_t errlen)
{
	int r = launchctl(argv, timeout_ms, out, status);
	if (r == -ENOENT)
		snprintf(err, errlen, "launchctl not found: this is not macOS, or /bin is not on PATH");
	else if (r < 0)
		snprintf(err, errlen, "cannot run launchctl: %s", strerror(-r));
	return r;
}

static int run_or_explain(char *const argv[], long timeout_ms, struct dr_buf *out, char *err, size_t errlen)
{
	int status = 0;
	int r = launchctl_or_explain(argv, timeout_ms, out, &status, err, errlen);
	if (r < 0)
		return r;
	if (status != 0) {
		char line[220], how[32];
		first_line(out, line, sizeof line);
		if (status == 124)
			snprintf(how, sizeof how, "timed out");
		else
			snprintf(how, sizeof how, "exit status %d", status);
		struct dr_buf cmd = DR_BUF_INIT(0);
		for (char *const *a = argv; *a; a++)
			dr_buf_addf(&cmd, "%s%s", a == argv ? "" : " ", *a);
		snprintf(err, errlen, "`%s` failed (%s): %s%s", cmd.buf, how, line[0] ? line : "no output",
			 hint_for(out, status));
		dr_buf_release(&cmd);
		return -EIO;
	}
	return 0;
}

/* 1 when launchd has the label loaded, 0 when not, or a negative error with err filled. */
static int loaded(const char *target, struct dr_buf *out, char *err, size_t errlen)
{
	char *argv[] = { "launchctl", "print", (char *)target, NULL };
	int status = 0;
	int r = launchctl_or_explain(argv, LAUNCHCTL_TIMEOUT_MS, out, &status, err, errlen);
	if (r < 0)
		return r;
	if (status == 0)
		return 1;
	if (status == LAUNCHCTL_NO_SUCH_SERVICE || strstr(out->buf, "Could not find service"))
		return 0;
	char line[220];
	first_line(out, line, sizeof line);
	snprintf(err, errlen, "`launchctl print %s` failed (exit status %d): %s%s", target, status,
		 line[0] ? line : "no output", hint_for(out, status));
	return -EIO;
}

int dr_service_launchd_ctl(const char *home, const char *verb, const char *profile, char *err, size_t errlen)
{
	if (!profile)
		return 0;
	static const char *const verbs[] = { "enable", "start", "restart", "stop", "disable" };
	bool known = false;
	for (size_t i = 0; verb && i < sizeof verbs / sizeof *verbs; i++)
		known = known || !strcmp(verb, verbs[i]);
	if (!known) {
		snprintf(err, errlen, "unknown service verb '%s'", verb ? verb : "");
		return -EINVAL;
	}
	char *label = dr_service_launchd_label(profile);
	char *plist = dr_service_launchd_plist_path(home, profile);
	char *domain = dr_xasprintf("gui/%lu", (unsigned long)getuid());
	char *target = dr_xasprintf("%s/%s", domain, label);
	struct dr_buf out = DR_BUF_INIT(LAUNCHCTL_OUTPUT_MAX);
	int r = loaded(target, &out, err, errlen);
	if (r < 0)
		goto out;
	bool is_loaded = r == 1;
	r = 0;
	if (!strcmp(verb, "enable")) {
		char *en[] = { "launchctl", "enable", target, NULL };
		char *bo[] = { "launchctl", "bootout", target, NULL };
		r = run_or_explain(en, LAUNCHCTL_TIMEOUT_MS, &out, err, errlen);
		if (r == 0 && is_loaded)
			r = run_or_explain(bo, LAUNCHCTL_BOOTOUT_TIMEOUT_MS, &out, err, errlen);
	} else if (!strcmp(verb, "disable")) {
		char *dis[] = { "launchctl", "disable", target, NULL };
		r = run_or_explain(dis, LAUNCHCTL_TIMEOUT_MS, &out, err, errlen);
	} else if (!strcmp(verb, "stop")) {
		char *bo[] = { "launchctl", "bootout", target, NULL };
		if (is_loaded)
			r = run_or_explain(bo, LAUNCHCTL_BOOTOUT_TIMEOUT_MS, &out, err, errlen);
	} else if (!is_loaded) {
		/* launchd opens the log itself and does not create its directory. */
		char *log = dr_service_launchd_log_path(home, profile);
		char *slash = strrchr(log, '/');
		*slash = '\0';
		r = dr_fsutil_mkdir_p(log, 0755);
		if (r < 0)
			snprintf(err, errlen, "cannot create the log directory %s: %s", log, strerror(-r));
		free(log);
		char *bs[] = { "launchctl", "bootstrap", domain, plist, NULL };
		if (r == 0)
			r = run_or_explain(bs, LAUNCHCTL_TIMEOUT_MS, &out, err, errlen);
	} else {
		/* kickstart alone leaves a running daemon be (systemctl start); -k restarts it. */
		char *ks[] = { "launchctl", "kickstart", target, NULL };
		char *ksk[] = { "launchctl", "kickstart", "-k", target, NULL };
		r = run_or_explain(strcmp(verb, "restart") ? ks : ksk, LAUNCHCTL_TIMEOUT_MS, &out, err, errlen);
	}
out:
	dr_buf_release(&out);
	free(target);
	free(domain);
	free(plist);
	free(label);
	return r;
}

/* `launchctl print-disabled` lists `"label" => disabled` (older systems: `=> true`). */
static bool listed_disabled(const char *text, const char *label)
{
	char *key = dr_xasprintf("\"%s\" => ", label);
	const char *p = strstr(text, key);
	bool yes = false;
	if (p) {
		p += strlen(key);
		yes = !strncmp(p, "disabled", 8) || !strncmp(p, "true", 4);
	}
	free(key);
	return yes;
}

void dr_service_launchd_query(const char *home, const char *profile, struct dr_service_state *out)
{
	memset(out, 0, sizeof *out);
	snprintf(out->active, sizeof out->active, "unknown");
	char *plist = dr_service_launchd_plist_path(home, profile);
	out->installed = access(plist, F_OK) == 0;
	free(plist);
	if (!out->installed) {
		snprintf(out->active, sizeof out->active, "not-installed");
		return;
	}
	char *label = dr_service_launchd_label(profile);
	char *domain = dr_xasprintf("gui/%lu", (unsigned long)getuid());
	char *target = dr_xasprintf("%s/%s", domain, label);
	struct dr_buf printed = DR_BUF_INIT(LAUNCHCTL_OUTPUT_MAX), dis = DR_BUF_INIT(LAUNCHCTL_OUTPUT_MAX);
	char err[sizeof out->error];
	int r = loaded(target, &printed, err, sizeof err);
	if (r < 0) {
		snprintf(out->error, sizeof out->error, "%s", err);
		goto out;
	}
	char *argv[] = { "launchctl", "print-disabled", domain, NULL };
	int status = 0;
	bool disabled = launchctl(argv, LAUNCHCTL_TIMEOUT_MS, &dis, &status) == 0 && status == 0 &&
			listed_disabled(dis.buf, label);
	dr_service_launchd_parse_print(r == 1 ? printed.buf : NULL, disabled, out);
out:
	dr_buf_release(&dis);
	dr_buf_release(&printed);
	free(target);
	free(domain);
	free(label);
}

#ifdef DR_PLATFORM_DARWIN
static const char *home_dir(void)
{
	const char *home = getenv("HOME");
	return home ? home : "";
}

char *dr_service_unit_name(const char *profile)
{
	return dr_service_launchd_label(profile);
}

char *dr_service_unit_path(const char *profile)
{
	return dr_service_launchd_plist_path(home_dir(), profile);
}

char *dr_service_logs_hint(const char *profile)
{
	char *log = dr_service_launchd_log_path(home_dir(), profile);
	/* Shell-quoted: a home directory may hold spaces or quotes. */
	struct dr_buf b = DR_BUF_INIT(0);
	dr_buf_addstr(&b, "tail -f '");
	for (const char *p = log; *p; p++)
		if (*p == '\'')
			dr_buf_addstr(&b, "'\\''");
		else
			dr_buf_addch(&b, *p);
	dr_buf_addch(&b, '\'');
	free(log);
	return dr_buf_detach(&b, NULL);
}

/* A plist holds each argument as it is: escaping happens when the plist is written. */
char *dr_service_quote_exec(const char *word)
{
	return dr_xstrdup(word);
}

/* launchd gives agents only the system's PATH: keep the installer's, where git, gh and the agents were found. */
int dr_service_render_unit(const struct dr_service_spec *spec, char **out, char *err, size_t errlen)
{
	struct dr_service_spec s = *spec;
	const char *path = getenv("PATH");
	if (!s.path && path && *path)
		s.path = path;
	return dr_service_launchd_render(&s, home_dir(), out, err, errlen);
}

void dr_service_query(const char *profile, struct dr_service_state *out)
{
	dr_service_launchd_query(home_dir(), profile, out);
}

int dr_service_ctl(const char *verb, const char *profile, bool no_block, char *err, size_t errlen)
{
	(void)no_block;
	return dr_service_launchd_ctl(home_dir(), verb, profile, err, errlen);
}
#endif
