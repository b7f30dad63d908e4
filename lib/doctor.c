/*
 * doctor: one finding per check, each with the fix. Blocking by design:
 * `delego-runner doctor` is a short command; its one HTTP request goes
 * through the daemon's transport (relay.h, http.h) on a loop of its own,
 * so that it tests the proxy, protocol and TLS settings the daemon uses.
 */
#include "delego/doctor.h"
#include "delego/proc.h"
#include "delego/proc_sync.h"
#include "delego/relay.h"
#include "delego/cgroup.h"
#include "delego/sandbox.h"
#include "delego/inhibit.h"
#include "delego/buf.h"
#include "delego/json.h"
#include "delego/service.h"
#include "delego/url.h"
#include "delego/xalloc.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pwd.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <time.h>
#include <unistd.h>

#define MIB (1024ULL * 1024ULL)
#define VERSION_TIMEOUT_MS 10000
#define LOGIN_OUT_MAX (64 * 1024) /* what `claude auth status` may print */

void dr_doctor_add(struct dr_doctor *d, enum dr_doctor_level level, const char *what, const char *fix,
		   const char *fmt, ...)
{
	d->items = dr_xrealloc(d->items, (d->n + 1) * sizeof *d->items);
	struct dr_doctor_item *it = &d->items[d->n++];
	va_list ap;
	va_start(ap, fmt);
	it->detail = dr_xvasprintf(fmt, ap);
	va_end(ap);
	it->level = level;
	it->what = dr_xstrdup(what);
	it->fix = dr_xstrdup(fix);
}

size_t dr_doctor_failures(const struct dr_doctor *d)
{
	size_t n = 0;
	for (size_t i = 0; i < d->n; i++)
		n += d->items[i].level == DR_DOCTOR_FAIL;
	return n;
}

void dr_doctor_release(struct dr_doctor *d)
{
	if (!d)
		return;
	for (size_t i = 0; i < d->n; i++) {
		free(d->items[i].what);
		free(d->items[i].detail);
		free(d->items[i].fix);
	}
	free(d->items);
	d->items = NULL;
	d->n = 0;
}

const char *dr_doctor_level_name(enum dr_doctor_level level)
{
	return level == DR_DOCTOR_OK ? "ok" : level == DR_DOCTOR_WARN ? "warn" : "FAIL";
}

char *dr_doctor_format(const struct dr_doctor *d)
{
	struct dr_buf b = DR_BUF_INIT(0);
	for (size_t i = 0; i < d->n; i++) {
		const struct dr_doctor_item *it = &d->items[i];
		dr_buf_addf(&b, "%-4s %s: %s", dr_doctor_level_name(it->level), it->what, it->detail);
		if (it->fix && it->level != DR_DOCTOR_OK)
			dr_buf_addf(&b, "; %s", it->fix);
		dr_buf_addch(&b, '\n');
	}
	return dr_buf_detach(&b, NULL);
}

void dr_doctor_check_root(struct dr_doctor *d, uid_t uid, bool claude_supported)
{
	if (uid != 0)
		dr_doctor_add(d, DR_DOCTOR_OK, "user", NULL, "not running as root (uid %u)", (unsigned)uid);
	else if (claude_supported)
		dr_doctor_add(d, DR_DOCTOR_FAIL, "user",
			      "run the runner as an ordinary user (the packaged system service uses the user "
			      "delego-runner), or drop claude with --supported-executors codex",
			      "running as root: claude refuses --dangerously-skip-permissions as root, so every "
			      "Claude job would fail");
	else
		dr_doctor_add(d, DR_DOCTOR_WARN, "user", "run the runner as an ordinary user",
			      "running as root: agents get the whole machine");
}

/* The path of command (a name on PATH, or a path), or NULL. */
static char *find_program(const char *command)
{
	char *path = NULL;
	if (!command || !*command || dr_proc_find_executable(command, NULL, NULL, &path) < 0)
		return NULL;
	return path;
}

/* The first line of b that is not blank (at most 120 bytes) as "%.*s" arguments. */
static int first_line(const struct dr_buf *b, const char **start)
{
	const char *p = b->buf;
	while (*p == '\n' || *p == '\r' || *p == ' ')
		p++;
	size_t n = strcspn(p, "\r\n");
	*start = p;
	return (int)(n > 120 ? 120 : n);
}

void dr_doctor_check_tool(struct dr_doctor *d, const char *what, const char *command, bool needed,
			  const char *install_fix)
{
	char *path = find_program(command);
	if (!path) {
		dr_doctor_add(d, needed ? DR_DOCTOR_FAIL : DR_DOCTOR_WARN, what, install_fix, "'%s' not found%s",
			      command, strchr(command, '/') ? "" : " on PATH");
		return;
	}
	char *argv[] = { path, "--version", NULL };
	struct dr_buf out = DR_BUF_INIT(4096), err = DR_BUF_INIT(4096);
	int status = 0;
	/* The version is on stdout; codex warns on stderr first (its home under /tmp, say). */
	int r = dr_proc_sync_run_split(argv, VERSION_TIMEOUT_MS, &out, &err, &status);
	const char *line;
	int len = first_line(&out, &line);
	if (r < 0 || status != 0) {
		if (!len)
			len = first_line(&err, &line);
		dr_doctor_add(d, DR_DOCTOR_WARN, what, "check that it runs for the runner's user",
			      "%s found but `%s --version` failed (%s%d)%s%.*s", path, command,
			      status == 124 ? "timed out, exit " : "exit ", r < 0 ? -r : status, len ? ": " : "", len,
			      line);
	} else {
		dr_doctor_add(d, DR_DOCTOR_OK, what, NULL, "%.*s (%s)", len ? len : 15, len ? line : "version unknown",
			      path);
	}
	dr_buf_release(&out);
	dr_buf_release(&err);
	free(path);
}

static const char *user_name(void)
{
	struct passwd *pw = getpwuid(geteuid());
	return pw && pw->pw_name ? pw->pw_name : "the runner's user";
}

/* The finding for a CLI not logged in for us, with how to log it in. */
static void not_logged_in(struct dr_doctor *d, const char *executor, const char *label, const char *how)
{
	char *what = dr_xasprintf("%s login", executor);
	char *fix = dr_xasprintf("log it in as %s: %s", user_name(), how);
	dr_doctor_add(d, DR_DOCTOR_WARN, what, fix, "%s is not logged in for %s: every %s job would fail", executor,
		      user_name(), label);
	free(fix);
	free(what);
}

/* `claude auth status` prints {"loggedIn": bool, "authMethod": ...} on stdout (exit 1 when logged out). */
static void claude_login(struct dr_doctor *d, const char *path, const struct dr_buf *out, int status)
{
	cJSON *j = NULL;
	const char *line;
	int len = first_line(out, &line);
	if (dr_json_parse_object(out->buf, out->len, out->max, &j) < 0 ||
	    !cJSON_IsBool(cJSON_GetObjectItemCaseSensitive(j, "loggedIn"))) {
		dr_doctor_add(d, DR_DOCTOR_WARN, "claude login", "run `claude auth status` as the runner's user",
			      "cannot tell whether claude is logged in: `%s auth status` gave exit %d%s%.*s", path,
			      status, len ? ": " : "", len, line);
	} else if (dr_json_true(j, "loggedIn")) {
		const char *method = dr_json_nonempty(j, "authMethod");
		dr_doctor_add(d, DR_DOCTOR_OK, "claude login", NULL, "logged in as %s (%.40s)", user_name(),
			      method ? method : "unknown method");
	} else {
		not_logged_in(d, "claude", "Claude",
			      "run `claude` and then /login (or `claude auth login`), or give the runner ANTHROPIC_API_KEY");
	}
	cJSON_Delete(j);
}

/* `codex login status` exits 0 when logged in and says how on stderr ("Not logged in", exit 1, otherwise). */
static void codex_login(struct dr_doctor *d, const char *path, const struct dr_buf *out, int status)
{
	/* Its last line: the first ones may be warnings (a home under /tmp). */
	const char *end = out->buf + out->len;
	while (end > out->buf && (end[-1] == '\n' || end[-1] == '\r' || end[-1] == ' '))
		end--;
	const char *line = end;
	while (line > out->buf && line[-1] != '\n')
		line--;
	int len = (int)(end - line > 120 ? 120 : end - line);
	if (status == 0) {
		dr_doctor_add(d, DR_DOCTOR_OK, "codex login", NULL, "%.*s", len ? len : 9, len ? line : "logged in");
	} else if (status == 1 || strstr(out->buf, "Not logged in")) {
		not_logged_in(d, "codex", "Codex",
			      "run `codex login` (or `printenv OPENAI_API_KEY | codex login --with-api-key`)");
	} else {
		dr_doctor_add(d, DR_DOCTOR_WARN, "codex login", "run `codex login status` as the runner's user",
			      "cannot tell whether codex is logged in: `%s login status` gave exit %d%s%.*s", path, status,
			      len ? ": " : "", len, line);
	}
}

void dr_doctor_check_login(struct dr_doctor *d, const char *executor, const char *command)
{
	bool claude = strcmp(executor, DR_EXECUTOR_CLAUDE) == 0;
	char *path = find_program(command);
	if (!path)
		return; /* dr_doctor_check_tool has said so */
	char *argv[] = { path, claude ? "auth" : "login", "status", NULL };
	struct dr_buf out = DR_BUF_INIT(LOGIN_OUT_MAX);
	int status = 0;
	/* claude answers on stdout; codex on stderr, with warnings before. */
	int r = dr_proc_sync_run_split(argv, VERSION_TIMEOUT_MS, &out, claude ? NULL : &out, &status);
	if (r < 0)
		dr_doctor_add(d, DR_DOCTOR_WARN, claude ? "claude login" : "codex login", NULL,
			      "cannot run `%s %s status`: %s", path, argv[1], strerror(-r));
	else if (claude)
		claude_login(d, path, &out, status);
	else
		codex_login(d, path, &out, status);
	dr_buf_release(&out);
	free(path);
}

void dr_doctor_check_space(struct dr_doctor *d, const char *path, uint64_t avail)
{
	unsigned long long mib = (unsigned long long)(avail / MIB);
	if (avail < 512 * MIB)
		dr_doctor_add(d, DR_DOCTOR_FAIL, "disk", "free space there (old worktrees live under worktrees/)",
			      "only %llu MiB free at %s: clones and worktrees will fail", mib, path);
	else if (avail < 5120 * MIB)
		dr_doctor_add(d, DR_DOCTOR_WARN, "disk", "free space there (old worktrees live under worktrees/)",
			      "%llu MiB free at %s; large repositories need more", mib, path);
	else
		dr_doctor_add(d, DR_DOCTOR_OK, "disk", NULL, "%llu GiB free at %s", mib / 1024, path);
}

void dr_doctor_check_workspace(struct dr_doctor *d, const char *root)
{
	struct stat st;
	char *probe_dir = dr_xstrdup(root);
	bool exists = stat(root, &st) == 0;
	if (exists && !S_ISDIR(st.st_mode)) {
		dr_doctor_add(d, DR_DOCTOR_FAIL, "workspace", "move it away or set --workspace-root",
			      "%s exists but is not a directory", root);
		free(probe_dir);
		return;
	}
	/* A missing root is fine when its nearest existing parent lets us create it. */
	while (!exists) {
		char *slash = strrchr(probe_dir, '/');
		if (!slash) {
			snprintf(probe_dir, strlen(probe_dir) + 1, ".");
			break;
		}
		if (slash == probe_dir)
			slash[1] = '\0';
		else
			*slash = '\0';
		if (stat(probe_dir, &st) == 0 || strcmp(probe_dir, "/") == 0)
			break;
	}
	if (access(probe_dir, W_OK | X_OK) != 0) {
		dr_doctor_add(d, DR_DOCTOR_FAIL, "workspace",
			      "give the runner's user write access, or set --workspace-root to a writable path",
			      exists ? "%s is not writable: %s" : "%s cannot be created: %s is not writable", root,
			      exists ? strerror(errno) : probe_dir);
		free(probe_dir);
		return;
	}
	if (exists) {
		/* access() trusts mode bits; a read-only mount says no only to a real write. */
		char *tmp = dr_xasprintf("%s/.delego-doctor-XXXXXX", root);
		int fd = mkstemp(tmp);
		if (fd < 0) {
			dr_doctor_add(d, DR_DOCTOR_FAIL, "workspace", "make it writable, or set --workspace-root",
				      "cannot create a file in %s: %s", root, strerror(errno));
			free(tmp);
			free(probe_dir);
			return;
		}
		close(fd);
		unlink(tmp);
		free(tmp);
		dr_doctor_add(d, DR_DOCTOR_OK, "workspace", NULL, "%s is writable", root);
	} else {
		dr_doctor_add(d, DR_DOCTOR_OK, "workspace", NULL, "%s does not exist yet; it will be created (in %s)",
			      root, probe_dir);
	}
	struct statvfs vfs;
	if (statvfs(probe_dir, &vfs) == 0)
		dr_doctor_check_space(d, exists ? root : probe_dir, (uint64_t)vfs.f_bavail * vfs.f_frsize);
	free(probe_dir);
}

void dr_doctor_check_credentials(struct dr_doctor *d, const char *path, const char *profile)
{
	struct stat st;
	bool named = strcmp(profile, "default") != 0;
	char *pair_fix = dr_xasprintf("pair it: printf '%%s' drs_pair_... | delego-runner pair --relay-url URL "
				      "--pairing-token -%s%s (the dashboard's Runners panel shows the command)",
				      named ? " --profile " : "", named ? profile : "");
	/* lstat: a symbolic link is refused by the load below, with its reason. */
	if (lstat(path, &st) != 0) {
		dr_doctor_add(d, DR_DOCTOR_FAIL, "credentials", pair_fix, "%s does not exist: no profile is paired",
			      path);
		free(pair_fix);
		return;
	}
	if (st.st_mode & 077) {
		char *fix = dr_xasprintf("chmod 600 %s", path);
		dr_doctor_add(d, DR_DOCTOR_FAIL, "credentials", fix,
			      "%s has mode %04o: other users may read the runner's credential", path,
			      (unsigned)(st.st_mode & 07777));
		free(fix);
	}
	char *dir = dr_xstrdup(path);
	char *slash = strrchr(dir, '/');
	if (slash && slash != dir) {
		*slash = '\0';
		struct stat ds;
		if (stat(dir, &ds) == 0 && (ds.st_mode & 077)) {
			char *fix = dr_xasprintf("chmod 700 %s", dir);
			dr_doctor_add(d, DR_DOCTOR_WARN, "credentials", fix, "directory %s has mode %04o", dir,
				      (unsigned)(ds.st_mode & 07777));
			free(fix);
		}
	}
	free(dir);
	char err[512];
	struct dr_credentials *creds = NULL;
	struct dr_profile p = { 0 };
	if (dr_credentials_load(path, &creds, NULL, err, sizeof err) < 0) {
		dr_doctor_add(d, DR_DOCTOR_FAIL, "credentials", "fix or move the file, then pair again", "%s", err);
	} else if (dr_credentials_get(creds, profile, &p) < 0) {
		dr_doctor_add(d, DR_DOCTOR_FAIL, "credentials", pair_fix, "profile %s is not paired in %s", profile,
			      path);
	} else if (!(st.st_mode & 077)) {
		dr_doctor_add(d, DR_DOCTOR_OK, "credentials", NULL, "profile %s is paired as runner %s (%s, mode 0600)",
			      profile, p.runner_id, path);
	}
	dr_credentials_profile_release(&p);
	dr_credentials_free(creds);
	free(pair_fix);
}

void dr_doctor_check_skew(struct dr_doctor *d, long long skew_s)
{
	long long a = skew_s < 0 ? -skew_s : skew_s;
	const char *dir = skew_s > 0 ? "ahead of" : "behind";
	const char *fix = "synchronise the clock (timedatectl set-ntp true, or start chronyd/ntpd)";
	if (a <= 30)
		dr_doctor_add(d, DR_DOCTOR_OK, "clock", NULL, "within %llds of the relay's", a);
	else if (a <= 300)
		dr_doctor_add(d, DR_DOCTOR_WARN, "clock", fix, "%llds %s the relay's", a, dir);
	else
		dr_doctor_add(d, DR_DOCTOR_FAIL, "clock", fix,
			      "%llds %s the relay's: pairing tokens (15 minutes) and realtime tokens may look expired",
			      a, dir);
}

/* The one answer doctor waits for, through the daemon's own transport. */
struct relay_probe {
	long status;
	int err;
	long date;
	char message[512];
};

static void on_probe(const struct dr_relay_reply *reply, void *data)
{
	struct relay_probe *pr = data;
	pr->status = reply->status;
	pr->err = reply->err;
	pr->date = reply->date;
	snprintf(pr->message, sizeof pr->message, "%s", reply->err && reply->error ? reply->error : reply->message);
}

void dr_doctor_check_relay(struct dr_doctor *d, const struct dr_config *c, const struct dr_profile *p,
			   long timeout_ms)
{
	bool named = strcmp(c->profile, "default") != 0;
	const char *url = p->relay_url;
	bool https = strncasecmp(url, "https://", 8) == 0;
	if (!https && !dr_url_is_loopback(url))
		dr_doctor_add(d, DR_DOCTOR_WARN, "relay", "pair against the relay's https:// URL",
			      "%s is plain http to another machine: the credential crosses the network unencrypted",
			      url);

	struct relay_probe pr = { 0 };
	int r = dr_relay_post_wait(url, p->bearer, "/api/runner/realtime-token", cJSON_CreateObject(), timeout_ms,
				   on_probe, &pr);
	if (r < 0) {
		pr.err = r;
		snprintf(pr.message, sizeof pr.message, "%s", strerror(-r));
	}
	time_t now = time(NULL);
	long status = pr.status;

	if (pr.err == -EPROTO) {
		dr_doctor_add(d, DR_DOCTOR_FAIL, "relay",
			      "check the relay's certificate, this machine's CA store (ca-certificates) and its clock",
			      "TLS with %s failed: %s", url, pr.message);
	} else if (pr.err < 0 && status == 0) {
		dr_doctor_add(d, DR_DOCTOR_FAIL, "relay",
			      "check the URL, DNS, any proxy (https_proxy) and the firewall; is the relay up?",
			      "cannot reach %s: %s", url, pr.message);
	} else {
		dr_doctor_add(d, DR_DOCTOR_OK, "relay", NULL, "%s answered (HTTP %ld%s)", url, status,
			      https ? ", TLS certificate verified" : "");
		char *fix = dr_xasprintf("pair again: printf '%%s' drs_pair_... | delego-runner pair --relay-url %s "
					 "--pairing-token -%s%s --force",
					 url, named ? " --profile " : "", named ? c->profile : "");
		if (status >= 200 && status < 300)
			dr_doctor_add(d, DR_DOCTOR_OK, "credential", NULL, "accepted by the relay (runner %s)",
				      p->runner_id);
		else if (status == 401)
			dr_doctor_add(d, DR_DOCTOR_FAIL, "credential", fix,
				      "rejected by the relay (HTTP 401): runner %s was rotated or removed in the "
				      "dashboard", p->runner_id);
		else
			dr_doctor_add(d, DR_DOCTOR_WARN, "credential",
				      "check that the URL is the relay's (not the dashboard's) and try again later",
				      "could not verify it: POST /api/runner/realtime-token answered %s", pr.message);
		free(fix);
		if (pr.date > 0)
			dr_doctor_check_skew(d, (long long)(now - pr.date));
		else
			dr_doctor_add(d, DR_DOCTOR_WARN, "clock", "compare `date -u` with a trusted clock",
				      "the relay's answer had no Date header; skew not measured");
	}
}

void dr_doctor_check_containment(struct dr_doctor *d, const char *cgroup_root)
{
	char *controllers = dr_xasprintf("%s/cgroup.controllers", cgroup_root);
	bool v2 = access(controllers, F_OK) == 0;
	free(controllers);
	if (!v2) {
		dr_doctor_add(d, DR_DOCTOR_OK, "containment", NULL,
			      "process groups (no cgroup v2 at %s): an agent that leaves its process group "
			      "survives a cancel", cgroup_root);
		return;
	}
	/* The runner's own decision (cgroup.h), made without changing anything. */
	struct dr_cgroup_opts o = { .name = "doctor", .mount = cgroup_root };
	char note[1536];
	dr_cgroup_probe(&o, note, sizeof note);
	dr_doctor_add(d, DR_DOCTOR_OK, "containment", NULL, "%s", note);
}

/* The runner's own choice for c, and whether --agent-memory-max/--agent-pids-max can apply. */
static void check_containment_config(struct dr_doctor *d, const struct dr_config *c)
{
	char mount[PATH_MAX];
	if (c->containment != DR_CONTAINMENT_PROCESS_GROUP && dr_cgroup_find_mount(mount, sizeof mount) < 0) {
		dr_doctor_check_containment(d, "/sys/fs/cgroup");
		return;
	}
	char note[1536], name[DR_CGROUP_NAME_SIZE];
	struct dr_cgroup_opts o;
	/* The options the daemon's start gives dr_cgroup_setup. */
	dr_cgroup_opts_init(&o, name, c->profile, c->state_dir, c->agent_memory_max, (uint64_t)c->agent_pids_max,
			    c->containment == DR_CONTAINMENT_PROCESS_GROUP);
	dr_cgroup_probe(&o, note, sizeof note);
	/* A limit the user set that cannot apply is worth a warning; the mode itself never fails. */
	bool limit_lost = strstr(note, "cannot apply") != NULL;
	dr_doctor_add(d, limit_lost ? DR_DOCTOR_WARN : DR_DOCTOR_OK, "containment",
		      limit_lost ? "run the runner where the memory and pids controllers are delegated to it, or drop "
				   "the limits" : NULL,
		      "%s", note);
}

/* The agents' sandbox as the runner would choose it; without one, the fix. */
void dr_doctor_check_sandbox(struct dr_doctor *d, int want, const char *bwrap)
{
	char note[1536];
	bool works;
	enum dr_sandbox_mode m = dr_sandbox_probe((enum dr_sandbox_mode)want, bwrap, &works, note, sizeof note);
	bool weak = m == DR_SANDBOX_OFF && want != DR_SANDBOX_OFF;
	dr_doctor_add(d, !works ? DR_DOCTOR_FAIL : weak ? DR_DOCTOR_WARN : DR_DOCTOR_OK, "sandbox",
		      weak ? "allow unprivileged user namespaces for bwrap (sudo sysctl -w "
			     "kernel.apparmor_restrict_unprivileged_userns=0, or an AppArmor profile for /usr/bin/bwrap "
			     "with `userns,`), install bubblewrap, or run a kernel with Landlock" : NULL,
		      "%s", note);
}

/* Whether the runner will hold off sleep during jobs, and whether that works here. */
static void check_sleep(struct dr_doctor *d, const struct dr_config *c)
{
	char mode[256], note[512];
	bool on = dr_inhibit_enabled(c->inhibit_sleep, NULL, mode, sizeof mode);
	int r = dr_inhibit_probe(note, sizeof note);
	dr_doctor_add(d, on && r < 0 ? DR_DOCTOR_WARN : DR_DOCTOR_OK, "sleep",
		      on && r < 0 ? "run the runner in a session that can reach logind (systemd-logind and D-Bus), "
				    "or set --inhibit-sleep off" : NULL,
		      "inhibitor %s; %s", mode, note);
}

void dr_doctor_run(struct dr_doctor *d, const struct dr_config *c, const struct dr_profile *p)
{
	dr_doctor_check_root(d, geteuid(), dr_config_supports(c, DR_EXECUTOR_CLAUDE));
	dr_doctor_check_tool(d, "git", "git", true, "install git (apt-get install git)");
	dr_doctor_check_tool(d, "gh", "gh", false,
			     "install the GitHub CLI and run `gh auth login`: jobs that open pull requests need it");
	static const char *const executors[] = { DR_EXECUTOR_CLAUDE, DR_EXECUTOR_CODEX };
	for (size_t i = 0; i < 2; i++) {
		const struct dr_exec_cmd *ec = dr_config_exec_cmd(c, executors[i]);
		bool on = dr_config_supports(c, executors[i]);
		if (!on) {
			dr_doctor_add(d, DR_DOCTOR_OK, executors[i], NULL, "not used (not in --supported-executors)");
			continue;
		}
		char *fix = dr_xasprintf("install it (npm install -g %s) and log it in for this user, set "
					 "--%s-command to its path, or drop %s from --supported-executors",
					 i == 0 ? "@anthropic-ai/claude-code" : "@openai/codex", executors[i], executors[i]);
		dr_doctor_check_tool(d, executors[i], ec->command, true, fix);
		dr_doctor_check_login(d, executors[i], ec->command);
		free(fix);
	}
	dr_doctor_check_workspace(d, c->workspace_root);
	dr_doctor_check_credentials(d, c->credentials_path, c->profile);
	if (p)
		dr_doctor_check_relay(d, c, p, 10000);
	check_containment_config(d, c);
	dr_doctor_check_sandbox(d, c->sandbox, NULL);
	check_sleep(d, c);
}
