/*
 * cmd_service: the runner as a service (`service install`, `pair
 * --background`), the Node runner's service subcommands (`status`,
 * `start`, `stop`, `restart`, `upgrade`, `uninstall`, `remove`, `clear`),
 * and `doctor`.
 */
#include "commands.h"
#include "delego/buf.h"
#include "delego/credentials.h"
#include "delego/doctor.h"
#include "delego/fsutil.h"
#include "delego/http.h"
#include "delego/json.h"
#include "delego/log.h"
#include "delego/relay.h"
#include "delego/service.h"
#include "delego/strv.h"
#include "delego/xalloc.h"

#include <errno.h>
#include <signal.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define UNIT_FILE_MAX (64 * 1024)
#define REVOKE_TIMEOUT_MS 5000

static bool named(const char *profile)
{
	return strcmp(profile, "default") != 0;
}

/* " --profile P" for a command line we print, or "" for the default profile. */
static const char *profile_flag(const char *profile, char *buf, size_t len)
{
	if (!named(profile))
		return "";
	snprintf(buf, len, " --profile %s", profile);
	return buf;
}

static bool explicit_profile(const struct dr_config *c)
{
	const char *src = dr_config_source(c, "profile");
	return src && strcmp(src, "default") != 0;
}

static int load_creds(const struct dr_config *c, struct dr_credentials **out)
{
	char err[1024];
	unsigned insecure = 0;
	if (dr_credentials_load(c->credentials_path, out, &insecure, err, sizeof err) < 0) {
		dr_log_err("%s", err);
		return DR_EXIT_CONFIG;
	}
	if (insecure)
		dr_log_warn("credentials file %s has mode %04o; others may read runner credentials: chmod 600 %s",
			c->credentials_path, insecure, c->credentials_path);
	return 0;
}

/* The state directory of another profile: c->state_dir is <base>/delego-runner/<c->profile>. */
static char *state_home(const struct dr_config *c)
{
	size_t l = strlen(c->state_dir), pl = strlen(c->profile) + strlen("/delego-runner/");
	if (l > pl && strcmp(c->state_dir + l - strlen(c->profile), c->profile) == 0 &&
	    strncmp(c->state_dir + l - pl, "/delego-runner/", 15) == 0)
		return dr_xstrndup(c->state_dir, l - pl);
	return NULL;
}

static char *state_dir_of(const struct dr_config *c, const char *profile)
{
	char *home = state_home(c);
	char *dir = home ? dr_xasprintf("%s/delego-runner/%s", home, profile) : dr_xstrdup(c->state_dir);
	free(home);
	return dir;
}

/* service install ------------------------------------------------------ */

enum bake_kind { BAKE_STR, BAKE_LIST, BAKE_ARGS, BAKE_MS, BAKE_INT, BAKE_TRUE, BAKE_LEVEL };

/* The daemon options a service keeps when they came from the command line or the environment. */
static const struct {
	const char *name;
	enum bake_kind kind;
	size_t offset;
} baked[] = {
	{ "workspace-root", BAKE_STR, offsetof(struct dr_config, workspace_root) },
	{ "git-clone-base-url", BAKE_STR, offsetof(struct dr_config, git_clone_base_url) },
	{ "claude-command", BAKE_STR, offsetof(struct dr_config, claude.command) },
	{ "claude-args", BAKE_ARGS, offsetof(struct dr_config, claude.args) },
	{ "codex-command", BAKE_STR, offsetof(struct dr_config, codex.command) },
	{ "codex-args", BAKE_ARGS, offsetof(struct dr_config, codex.args) },
	{ "supported-executors", BAKE_LIST, offsetof(struct dr_config, supported_executors) },
	{ "executor-timeout-ms", BAKE_MS, offsetof(struct dr_config, executor_timeout_ms) },
	{ "heartbeat-interval-ms", BAKE_MS, offsetof(struct dr_config, heartbeat_interval_ms) },
	{ "poll-interval-ms", BAKE_MS, offsetof(struct dr_config, poll_interval_ms) },
	{ "cancellation-poll-interval-ms", BAKE_MS, offsetof(struct dr_config, cancellation_poll_interval_ms) },
	{ "safety-sync-interval-ms", BAKE_MS, offsetof(struct dr_config, safety_sync_interval_ms) },
	{ "fallback-poll-interval-ms", BAKE_MS, offsetof(struct dr_config, fallback_poll_interval_ms) },
	{ "shutdown-grace-ms", BAKE_MS, offsetof(struct dr_config, shutdown_grace_ms) },
	{ "max-jobs", BAKE_INT, offsetof(struct dr_config, max_jobs) },
	{ "no-commit", BAKE_TRUE, offsetof(struct dr_config, create_commit) },
	{ "allow-insecure-relay", BAKE_TRUE, offsetof(struct dr_config, allow_insecure_relay) },
	{ "log-level", BAKE_LEVEL, offsetof(struct dr_config, log_level) },
	{ "config", BAKE_STR, offsetof(struct dr_config, config_path) },
};

static char *join(char *const *v, const char *sep)
{
	struct dr_buf b = DR_BUF_INIT(0);
	for (char *const *p = v; p && *p; p++)
		dr_buf_addf(&b, "%s%s", p == v ? "" : sep, *p);
	return dr_buf_detach(&b, NULL);
}

/* "--name=value" for each option given by flag or DELEGO_* variable; the file is read by the daemon itself. */
static char **baked_args(const struct dr_config *c)
{
	struct dr_strv args = DR_STRV_INIT;
	for (size_t i = 0; i < sizeof baked / sizeof *baked; i++) {
		const char *src = dr_config_source(c, baked[i].name);
		if (!src || (strncmp(src, "flag", 4) != 0 && strncmp(src, "env ", 4) != 0))
			continue;
		const void *field = (const char *)c + baked[i].offset;
		char *value = NULL, *arg = NULL;
		switch (baked[i].kind) {
		case BAKE_STR:
			value = dr_xstrdup(*(char *const *)field);
			break;
		case BAKE_LIST:
			value = join(*(char **const *)field, ",");
			break;
		case BAKE_ARGS:
			value = join(*(char **const *)field, " ");
			break;
		case BAKE_MS:
			value = dr_xasprintf("%llu", (unsigned long long)*(const uint64_t *)field);
			break;
		case BAKE_INT:
			value = dr_xasprintf("%d", *(const int *)field);
			break;
		case BAKE_LEVEL:
			value = dr_xstrdup(dr_log_level_name(*(const enum dr_log_level *)field));
			break;
		case BAKE_TRUE: {
			/* no-commit is stored inverted, as create_commit. */
			bool on = *(const bool *)field;
			if (strcmp(baked[i].name, "no-commit") == 0)
				on = !on;
			if (on)
				arg = dr_xasprintf("--%s", baked[i].name);
			break;
		}
		}
		if (value)
			arg = dr_xasprintf("--%s=%s", baked[i].name, value);
		if (arg)
			dr_strv_push(&args, arg);
		free(value);
		free(arg);
	}
	return dr_strv_take(&args);
}

/* Waits up to ~3 s for the unit to leave "activating"/"deactivating" and prints where it is. */
static void report_started(const char *profile)
{
	struct dr_service_state st;
	for (int i = 0; i < 30; i++) {
		dr_service_query(profile, &st);
		if (!st.queried || (strcmp(st.active, "activating") && strcmp(st.active, "deactivating") &&
				    strcmp(st.active, "reloading")))
			break;
		struct timespec ts = { 0, 100 * 1000 * 1000 };
		nanosleep(&ts, NULL);
	}
	if (!st.queried)
		printf("  state:   unknown (%s)\n", st.error);
	else if (!strcmp(st.active, "active"))
		printf("  state:   active (%s)\n", st.sub[0] ? st.sub : "running");
	else if (!strcmp(st.active, "activating"))
		printf("  state:   starting: waiting for the first heartbeat to reach the relay\n");
	else {
		char *logs = dr_service_logs_hint(profile);
		printf("  state:   %s%s%s (last exit status %d): read %s\n", st.active, st.sub[0] ? "/" : "",
		       st.sub, st.exec_status, logs);
		free(logs);
	}
}

int dr_service_install(struct dr_config *c)
{
	char err[1024], pf[96];
	struct dr_credentials *creds = NULL;
	struct dr_profile p = { 0 };
	char *exe = NULL, *home = NULL, *text = NULL, *path = NULL, *unit = NULL;
	char **args = NULL;
	struct dr_buf old = DR_BUF_INIT(UNIT_FILE_MAX);
	int status = load_creds(c, &creds);
	if (status)
		goto out;
	if (dr_credentials_get(creds, c->profile, &p) < 0) {
		dr_log_err("profile %s is not paired, so there is nothing to run: pair it first with printf '%%s' "
		       "drs_pair_... | delego-runner pair --relay-url URL --pairing-token -%s (add --background to install "
		       "the service in the same step)", c->profile, profile_flag(c->profile, pf, sizeof pf));
		status = DR_EXIT_CONFIG;
		goto out;
	}
	if (dr_service_self_exe(&exe, err, sizeof err) < 0) {
		dr_log_err("%s", err);
		status = DR_EXIT_FAILURE;
		goto out;
	}
	home = state_home(c);
	args = baked_args(c);
	struct dr_service_spec spec = {
		.profile = c->profile,
		.exe = exe,
		.args = args,
		.credentials_path = c->credentials_path,
		.state_home = home,
		.shutdown_grace_ms = c->shutdown_grace_ms,
	};
	int r = dr_service_render_unit(&spec, &text, err, sizeof err);
	if (r < 0) {
		dr_log_err("cannot write a service for profile %s: %s", c->profile, err);
		status = r == -ENOTSUP ? DR_EXIT_FAILURE : DR_EXIT_USAGE;
		goto out;
	}
	path = dr_service_unit_path(c->profile);
	unit = dr_service_unit_name(c->profile);
	if (c->dry_run) {
		printf("Would write %s:\n\n%s\nthen run: systemctl --user daemon-reload; systemctl --user enable %s; "
		       "systemctl --user restart --no-block %s\n", path, text, unit, unit);
		goto out;
	}
	bool existed = dr_fsutil_read_file(path, &old, NULL) == 0;
	if (existed && strncmp(old.buf, DR_SERVICE_MARKER, strlen(DR_SERVICE_MARKER)) != 0 && !c->force) {
		dr_log_err("%s exists and was not written by delego-runner: move it away, or pass --force to replace it",
		       path);
		status = DR_EXIT_CANTCREAT;
		goto out;
	}
	r = dr_fsutil_write_atomic(path, text, strlen(text), 0644, 0755);
	if (r < 0) {
		dr_log_err("cannot write the service unit %s: %s", path, strerror(-r));
		status = DR_EXIT_CANTCREAT;
		goto out;
	}
	if (dr_service_ctl(NULL, NULL, false, err, sizeof err) < 0 ||
	    dr_service_ctl("enable", c->profile, false, err, sizeof err) < 0 ||
	    dr_service_ctl("restart", c->profile, true, err, sizeof err) < 0) {
		dr_log_err("wrote %s but could not start it: %s. Then start it by hand: systemctl --user daemon-reload "
		       "&& systemctl --user enable --now %s", path, err, unit);
		status = DR_EXIT_FAILURE;
		goto out;
	}
	printf("%s the service for profile %s (runner %s, relay %s):\n", existed ? "Updated and restarted" : "Installed and started",
	       c->profile, p.runner_id, p.relay_url);
	printf("  unit:    %s\n", path);
	report_started(c->profile);
	char *logs = dr_service_logs_hint(c->profile);
	printf("  logs:    %s\n", logs);
	free(logs);
	printf("  check:   delego-runner status%s\n", profile_flag(c->profile, pf, sizeof pf));
	printf("It starts when you log in; to keep it running while you are logged out: loginctl enable-linger\n");
	fflush(stdout);
out:
	dr_buf_release(&old);
	free(unit);
	free(path);
	free(text);
	dr_strv_free(args);
	free(home);
	free(exe);
	dr_credentials_profile_release(&p);
	dr_credentials_free(creds);
	return status;
}

int dr_cmd_service(struct dr_config *c, const struct dr_cmd_ctx *ctx)
{
	(void)ctx;
	const char *sub = c->positional[0];
	if (!sub || strcmp(sub, "install") != 0 || c->positional[1]) {
		dr_log_err("usage: delego-runner service install [--profile NAME] [--force] [--dry-run] (the other service "
		       "commands are top-level: status, start, stop, restart, upgrade, uninstall, remove, clear)");
		return DR_EXIT_USAGE;
	}
	return dr_service_install(c);
}

/* status --------------------------------------------------------------- */

static cJSON *status_json(const struct dr_config *c, const char *name, const struct dr_profile *p, int perr)
{
	cJSON *o = cJSON_CreateObject();
	cJSON_AddStringToObject(o, "profile", name);
	dr_json_add_str_or_null(o, "runnerId", perr ? NULL : p->runner_id);
	dr_json_add_str_or_null(o, "relayUrl", perr ? NULL : p->relay_url);
	dr_json_add_str_or_null(o, "pairedAt", perr ? NULL : p->paired_at);
	if (perr)
		cJSON_AddStringToObject(o, "problem", "the profile lacks relayUrl, runnerId or bearer: pair it again");

	struct dr_service_state st;
	dr_service_query(name, &st);
	char *unit = dr_service_unit_name(name);
	char *unit_path = dr_service_unit_path(name);
	cJSON *svc = cJSON_AddObjectToObject(o, "service");
	cJSON_AddStringToObject(svc, "unit", unit);
	cJSON_AddStringToObject(svc, "path", unit_path);
	cJSON_AddBoolToObject(svc, "installed", st.installed);
	cJSON_AddStringToObject(svc, "activeState", st.active);
	dr_json_add_str_or_null(svc, "subState", st.sub[0] ? st.sub : NULL);
	dr_json_add_str_or_null(svc, "unitFileState", st.enabled[0] ? st.enabled : NULL);
	cJSON_AddNumberToObject(svc, "mainPid", (double)st.main_pid);
	dr_json_add_str_or_null(svc, "error", st.error[0] ? st.error : NULL);
	free(unit);
	free(unit_path);

	char *dir = state_dir_of(c, name);
	struct dr_service_status s;
	char err[512];
	cJSON *dm = cJSON_AddObjectToObject(o, "daemon");
	cJSON *jobs = NULL;
	if (dr_service_read_status(dir, &s, err, sizeof err) == 0) {
		cJSON_AddBoolToObject(dm, "running", s.alive);
		cJSON_AddNumberToObject(dm, "pid", (double)s.pid);
		dr_json_add_str_or_null(dm, "version", s.version);
		dr_json_add_str_or_null(dm, "state", s.state);
		dr_json_add_str_or_null(dm, "startedAt", s.started_at);
		dr_json_add_str_or_null(dm, "containment", s.containment);
		dr_json_add_str_or_null(dm, "sandbox", s.sandbox);
		cJSON_AddBoolToObject(dm, "push", s.push);
		dr_json_add_str_or_null(o, "lastHeartbeatAt", s.last_heartbeat_at);
		if (s.last_heartbeat_at)
			cJSON_AddBoolToObject(o, "lastHeartbeatOk", s.last_heartbeat_ok);
		else
			cJSON_AddNullToObject(o, "lastHeartbeatOk");
		dr_json_add_str_or_null(o, "lastError", s.last_error);
		jobs = cJSON_AddArrayToObject(o, "activeJobs");
		/* A dead daemon's job list is history, not activity. */
		for (char **j = s.active_jobs; s.alive && *j; j++)
			cJSON_AddItemToArray(jobs, cJSON_CreateString(*j));
		dr_service_status_release(&s);
	} else {
		cJSON_AddBoolToObject(dm, "running", false);
		cJSON_AddNullToObject(dm, "pid");
		cJSON_AddNullToObject(o, "lastHeartbeatAt");
		cJSON_AddNullToObject(o, "lastHeartbeatOk");
		cJSON_AddNullToObject(o, "lastError");
		cJSON_AddArrayToObject(o, "activeJobs");
	}
	cJSON_AddStringToObject(o, "stateDir", dir);
	cJSON_AddNumberToObject(o, "pendingReports", (double)dr_service_count_outbox(dir));
	free(dir);
	return o;
}

static void print_status(const cJSON *o)
{
	const cJSON *svc = dr_json_obj(o, "service"), *dm = dr_json_obj(o, "daemon");
	const char *id = dr_json_str(o, "runnerId");
	dr_cmd_out("profile %s\n", dr_json_str(o, "profile"));
	if (dr_json_str(o, "problem"))
		dr_cmd_out("  problem:    %s\n", dr_json_str(o, "problem"));
	dr_cmd_out("  runner:     %s\n", id ? id : "-");
	dr_cmd_out("  relay:      %s\n", dr_json_str(o, "relayUrl") ? dr_json_str(o, "relayUrl") : "-");
	if (!dr_json_true(svc, "installed"))
		dr_cmd_out("  service:    not installed (delego-runner service install%s%s)\n",
		       strcmp(dr_json_str(o, "profile"), "default") ? " --profile " : "",
		       strcmp(dr_json_str(o, "profile"), "default") ? dr_json_str(o, "profile") : "");
	else if (dr_json_str(svc, "error"))
		dr_cmd_out("  service:    %s, state unknown (%s)\n", dr_json_str(svc, "unit"), dr_json_str(svc, "error"));
	else
		dr_cmd_out("  service:    %s %s%s%s%s%s\n", dr_json_str(svc, "unit"), dr_json_str(svc, "activeState"),
		       dr_json_str(svc, "subState") ? " (" : "",
		       dr_json_str(svc, "subState") ? dr_json_str(svc, "subState") : "",
		       dr_json_str(svc, "subState") ? ")" : "",
		       dr_json_str(svc, "unitFileState") && !strcmp(dr_json_str(svc, "unitFileState"), "enabled")
			       ? ", enabled" : ", not enabled");
	long pid = (long)dr_json_num(dm, "pid", 0);
	if (dr_json_true(dm, "running"))
		dr_cmd_out("  daemon:     running, pid %ld, version %s, since %s\n", pid,
		       dr_json_str(dm, "version") ? dr_json_str(dm, "version") : "?",
		       dr_json_str(dm, "startedAt") ? dr_json_str(dm, "startedAt") : "?");
	else if (pid > 0)
		dr_cmd_out("  daemon:     not running (last seen as pid %ld)\n", pid);
	else
		dr_cmd_out("  daemon:     not running (no status file yet)\n");
	if (dr_json_str(dm, "sandbox"))
		dr_cmd_out("  sandbox:    %s\n", dr_json_str(dm, "sandbox"));
	const char *hb = dr_json_str(o, "lastHeartbeatAt");
	const char *le = dr_json_str(o, "lastError");
	if (!hb)
		dr_cmd_out("  heartbeat:  none yet%s%s\n", le ? ": " : "", le ? le : "");
	else if (dr_json_true(o, "lastHeartbeatOk"))
		dr_cmd_out("  heartbeat:  ok at %s\n", hb);
	else
		dr_cmd_out("  heartbeat:  failed at %s%s%s\n", hb, le ? ": " : "", le ? le : "");
	const cJSON *jobs = dr_json_array(o, "activeJobs"), *j;
	dr_cmd_out("  jobs:       ");
	if (!cJSON_GetArraySize(jobs))
		dr_cmd_out("none");
	cJSON_ArrayForEach(j, jobs)
		dr_cmd_out("%s%s", j == jobs->child ? "" : ", ", j->valuestring);
	dr_cmd_out("\n  pending:    %ld report(s) not yet delivered\n", (long)dr_json_num(o, "pendingReports", 0));
}

/* A vector of one profile name. */
static char **just(const char *profile)
{
	struct dr_strv v = DR_STRV_INIT;
	dr_strv_push(&v, profile);
	return dr_strv_take(&v);
}

int dr_cmd_status(struct dr_config *c, const struct dr_cmd_ctx *ctx)
{
	(void)ctx;
	struct dr_credentials *creds = NULL;
	int status = load_creds(c, &creds);
	if (status)
		return status;
	char **names = dr_credentials_names(creds);
	if (explicit_profile(c)) {
		dr_strv_free(names);
		names = just(c->profile);
	}
	cJSON *all = cJSON_CreateArray();
	for (char **n = names; *n; n++) {
		struct dr_profile p = { 0 };
		int r = dr_credentials_get(creds, *n, &p);
		if (r == -ENOENT) {
			dr_log_err("profile %s is not paired (see delego-runner status for the paired ones)", *n);
			status = DR_EXIT_CONFIG;
			continue;
		}
		cJSON_AddItemToArray(all, status_json(c, *n, &p, r));
		dr_credentials_profile_release(&p);
	}
	if (c->json) {
		cJSON *top = cJSON_CreateObject();
		cJSON_AddStringToObject(top, "credentialsPath", c->credentials_path);
		cJSON_AddItemToObject(top, "profiles", all);
		char *text = dr_json_print(top);
		printf("%s\n", text);
		free(text);
		cJSON_Delete(top);
	} else {
		if (!names[0])
			printf("No paired runner profiles in %s. Pair one with: printf '%%s' drs_pair_... | delego-runner pair "
			       "--relay-url URL --pairing-token -\n", c->credentials_path);
		const cJSON *o;
		cJSON_ArrayForEach(o, all)
			print_status(o);
		cJSON_Delete(all);
	}
	fflush(stdout);
	dr_strv_free(names);
	dr_credentials_free(creds);
	return status;
}

/* start, stop, restart, upgrade ------------------------------------- */

static bool installed(const char *profile)
{
	char *path = dr_service_unit_path(profile);
	bool yes = access(path, F_OK) == 0;
	free(path);
	return yes;
}

/* The explicit profile, or every paired profile whose service is installed. */
static char **installed_targets(const struct dr_config *c, const struct dr_credentials *creds)
{
	if (explicit_profile(c))
		return just(c->profile);
	struct dr_strv out = DR_STRV_INIT;
	char **names = dr_credentials_names(creds);
	for (char **n = names; *n; n++)
		if (installed(*n))
			dr_strv_push(&out, *n);
	dr_strv_free(names);
	return dr_strv_take(&out);
}

/*
 * A running daemon re-execs the installed program in place on SIGUSR2 and
 * keeps its jobs; true when it was told to.
 */
static bool upgrade_in_place(const char *profile)
{
	struct dr_service_state st;
	dr_service_query(profile, &st);
	if (st.main_pid <= 1 || kill((pid_t)st.main_pid, SIGUSR2) < 0)
		return false;
	printf("upgrading %s in place (pid %ld): its running jobs go on; `delego-runner status` shows the version\n",
	       profile, st.main_pid);
	return true;
}

static int control(struct dr_config *c, const char *verb, const char *done)
{
	struct dr_credentials *creds = NULL;
	char err[1024], pf[96];
	int status = load_creds(c, &creds);
	if (status)
		return status;
	char **targets = installed_targets(c, creds);
	if (!targets[0])
		printf("No installed runner services found. Install one with: delego-runner service install "
		       "[--profile NAME] (or pair with --background)\n");
	for (char **t = targets; *t; t++) {
		if (!installed(*t)) {
			dr_log_err("profile %s has no service: install it with delego-runner service install%s", *t,
			       profile_flag(*t, pf, sizeof pf));
			status = DR_EXIT_FAILURE;
			continue;
		}
		/* Not running (or not ours to signal): a restart starts the installed program. */
		if (!strcmp(verb, "upgrade") && upgrade_in_place(*t))
			continue;
		const char *how = strcmp(verb, "upgrade") ? verb : "restart";
		if (dr_service_ctl(how, *t, strcmp(verb, "stop") != 0, err, sizeof err) < 0) {
			dr_log_err("cannot %s the service of profile %s: %s", verb, *t, err);
			status = DR_EXIT_FAILURE;
			continue;
		}
		printf("%s %s\n", done, *t);
	}
	fflush(stdout);
	dr_strv_free(targets);
	dr_credentials_free(creds);
	return status;
}

int dr_cmd_start(struct dr_config *c, const struct dr_cmd_ctx *ctx)
{
	(void)ctx;
	return control(c, "start", "started");
}

int dr_cmd_stop(struct dr_config *c, const struct dr_cmd_ctx *ctx)
{
	(void)ctx;
	return control(c, "stop", "stopped");
}

int dr_cmd_restart(struct dr_config *c, const struct dr_cmd_ctx *ctx)
{
	(void)ctx;
	return control(c, "restart", "restarted");
}

int dr_cmd_upgrade(struct dr_config *c, const struct dr_cmd_ctx *ctx)
{
	(void)ctx;
	int status = control(c, "upgrade", "restarted");
	printf("Upgrade the package first (apt upgrade delego-runner, dnf upgrade delego-runner): a running "
	       "service then re-execs the installed program in place and keeps its jobs; one that is not running "
	       "is restarted.\n");
	return status;
}

/* uninstall, remove, clear ------------------------------------------ */

struct revoke_result {
	enum dr_relay_outcome outcome;
	long status;
	char message[256];
};

static void on_revoked(const struct dr_relay_reply *reply, void *data)
{
	struct revoke_result *res = data;
	res->outcome = reply->outcome;
	res->status = reply->status;
	snprintf(res->message, sizeof res->message, "%s", reply->message);
}

/* POST /api/runner/unregister, best effort: prints what happened, never fails the command. */
static void revoke_runner(const struct dr_profile *p, const char *profile)
{
	struct revoke_result res = { .outcome = DR_RELAY_TRANSIENT };
	snprintf(res.message, sizeof res.message, "the request could not be sent");
	dr_log_add_secret(p->bearer);
	(void)dr_relay_post_wait(p->relay_url, p->bearer, "/api/runner/unregister", cJSON_CreateObject(),
				 REVOKE_TIMEOUT_MS, on_revoked, &res);
	if (res.outcome == DR_RELAY_OK)
		printf("revoked runner %s on %s\n", p->runner_id, p->relay_url);
	else if (res.outcome == DR_RELAY_UNAUTHORIZED)
		printf("runner %s was already revoked on %s\n", p->runner_id, p->relay_url);
	else
		dr_log_warn("could not revoke runner %s (profile %s) on %s (%s); continuing with the local cleanup: remove "
			"it in the dashboard's Runners panel", p->runner_id, profile, p->relay_url, res.message);
}

/* Stops and removes one profile's service, revokes it, and deletes it from the credentials file. */
static int remove_profile(struct dr_config *c, const char *name)
{
	char err[1024];
	struct dr_credentials *creds = NULL;
	struct dr_profile p = { 0 };
	char *unit = dr_service_unit_name(name), *path = dr_service_unit_path(name);
	int status = load_creds(c, &creds);
	if (status)
		goto out;
	bool paired = dr_credentials_get(creds, name, &p) == 0;
	bool has_unit = access(path, F_OK) == 0;
	/* Stop first: a daemon still running would see its credential die and log a 401. */
	if (has_unit && dr_service_ctl("stop", name, false, err, sizeof err) < 0) {
		if (!c->force) {
			dr_log_err("cannot stop the service of profile %s: %s. Nothing was changed: stop it (systemctl --user "
			       "stop %s) and run this again, or pass --force to remove it anyway", name, err, unit);
			status = DR_EXIT_FAILURE;
			goto out;
		}
		dr_log_warn("cannot stop the service of profile %s (%s); removing it anyway (--force)", name, err);
	}
	if (has_unit && dr_service_ctl("disable", name, false, err, sizeof err) < 0)
		dr_log_warn("%s", err);
	if (paired)
		revoke_runner(&p, name);
	if (has_unit) {
		if (unlink(path) < 0 && errno != ENOENT) {
			dr_log_err("cannot delete %s: %s; delete it by hand", path, strerror(errno));
			status = DR_EXIT_FAILURE;
		} else {
			if (dr_service_ctl(NULL, NULL, false, err, sizeof err) < 0)
				dr_log_warn("%s", err);
			printf("deleted the service %s\n", path);
		}
	}
	if (dr_credentials_remove(creds, name) == 0) {
		if (dr_credentials_save(creds, c->credentials_path, err, sizeof err) < 0) {
			dr_log_err("%s; profile %s is still in it: delete it by hand", err, name);
			status = DR_EXIT_CANTCREAT;
			goto out;
		}
		printf("removed profile %s from %s\n", name, c->credentials_path);
	}
out:
	dr_credentials_profile_release(&p);
	dr_credentials_free(creds);
	free(unit);
	free(path);
	return status;
}

static int remove_all(struct dr_config *c, const char *cmd, bool all)
{
	struct dr_credentials *creds = NULL;
	char pf[96];
	int status = load_creds(c, &creds);
	if (status)
		return status;
	char **targets;
	if (all) {
		targets = dr_credentials_names(creds);
	} else {
		targets = installed_targets(c, creds);
		/* With no service installed the Node runner did nothing; the current profile is what is meant. */
		struct dr_profile p = { 0 };
		if (!targets[0] && dr_credentials_get(creds, c->profile, &p) == 0) {
			dr_strv_free(targets);
			targets = just(c->profile);
		}
		dr_credentials_profile_release(&p);
	}
	if (!targets[0]) {
		printf("Nothing to %s: no paired profile%s%s and no installed service.\n", cmd,
		       explicit_profile(c) ? " " : "", explicit_profile(c) ? c->profile : "");
		goto out;
	}
	if (!c->yes) {
		fprintf(stderr, "delego-runner: %s would, for each of these profiles:\n", cmd);
		for (char **t = targets; *t; t++) {
			struct dr_profile p = { 0 };
			char *unit = dr_service_unit_name(*t);
			bool paired = dr_credentials_get(creds, *t, &p) == 0;
			fprintf(stderr, "  %s: %s%s%s%s; %s%s; delete it from %s\n", *t,
				installed(*t) ? "stop, disable and delete the service " : "no service to remove",
				installed(*t) ? unit : "", paired ? "; revoke runner " : "", paired ? p.runner_id : "",
				paired ? "on " : "", paired ? p.relay_url : "(not paired)", c->credentials_path);
			free(unit);
			dr_credentials_profile_release(&p);
		}
		fprintf(stderr, "This cannot be undone: running again needs a new pairing token from the dashboard.\n"
				"Confirm with: delego-runner %s --yes%s\n", cmd,
			all ? "" : profile_flag(c->profile, pf, sizeof pf));
		status = DR_EXIT_USAGE;
		goto out;
	}
	for (char **t = targets; *t; t++) {
		int s = remove_profile(c, *t);
		if (s && !status)
			status = s;
	}
	if (all && !status)
		printf("cleared %zu profile(s)\n", dr_strv_len(targets));
out:
	fflush(stdout);
	dr_strv_free(targets);
	dr_credentials_free(creds);
	return status;
}

int dr_cmd_uninstall(struct dr_config *c, const struct dr_cmd_ctx *ctx)
{
	(void)ctx;
	return remove_all(c, "uninstall", false);
}

int dr_cmd_remove(struct dr_config *c, const struct dr_cmd_ctx *ctx)
{
	(void)ctx;
	return remove_all(c, "remove", false);
}

int dr_cmd_clear(struct dr_config *c, const struct dr_cmd_ctx *ctx)
{
	(void)ctx;
	return remove_all(c, "clear", true);
}

/* doctor ------------------------------------------------------------- */

int dr_cmd_doctor(struct dr_config *c, const struct dr_cmd_ctx *ctx)
{
	(void)ctx;
	struct dr_doctor d = DR_DOCTOR_INIT;
	struct dr_credentials *creds = NULL;
	struct dr_profile p = { 0 };
	char err[512];
	bool paired = false;
	if (dr_credentials_load(c->credentials_path, &creds, NULL, err, sizeof err) == 0 &&
	    dr_credentials_get(creds, c->profile, &p) == 0) {
		paired = true;
		dr_log_add_secret(p.bearer);
		dr_config_apply_profile(c, &p);
	}
	dr_doctor_run(&d, c, paired ? &p : NULL);
	if (c->json) {
		cJSON *top = cJSON_CreateObject();
		cJSON_AddStringToObject(top, "profile", c->profile);
		cJSON *arr = cJSON_AddArrayToObject(top, "checks");
		for (size_t i = 0; i < d.n; i++) {
			cJSON *o = cJSON_CreateObject();
			cJSON_AddStringToObject(o, "result", dr_doctor_level_name(d.items[i].level));
			cJSON_AddStringToObject(o, "check", d.items[i].what);
			cJSON_AddStringToObject(o, "detail", d.items[i].detail);
			dr_json_add_str_or_null(o, "fix", d.items[i].fix);
			cJSON_AddItemToArray(arr, o);
		}
		cJSON_AddNumberToObject(top, "failures", (double)dr_doctor_failures(&d));
		char *text = dr_json_print(top);
		printf("%s\n", text);
		free(text);
		cJSON_Delete(top);
	} else {
		char *text = dr_doctor_format(&d);
		dr_cmd_out("%s", text);
		free(text);
		size_t f = dr_doctor_failures(&d);
		printf("%zu check(s) failed\n", f);
	}
	fflush(stdout);
	int status = dr_doctor_failures(&d) ? DR_EXIT_FAILURE : DR_EXIT_OK;
	dr_doctor_release(&d);
	dr_credentials_profile_release(&p);
	dr_credentials_free(creds);
	return status;
}
