/*
 * config_keys: the table of options (name, environment variable, type,
 * default, minimum) and the parsing of each value into its field of
 * struct dr_config. See config.c for the layers they come from.
 */
#include "config-int.h"
#include "delego/log.h"
#include "delego/buf.h"
#include "delego/credentials.h"
#include "delego/fsutil.h"
#include "delego/redact.h"
#include "delego/sandbox.h"
#include "delego/url.h"
#include "delego/strv.h"
#include "delego/xalloc.h"

#include <errno.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

static const struct opt options[] = {
	{ "relay-url", 0, "DELEGO_RELAY_URL", OPT_URL, NULL, 0, 0, F(relay_url), true },
	{ "pairing-token", 0, "DELEGO_PAIRING_TOKEN", OPT_SECRET, NULL, 0, 0, F(pairing_token), false },
	{ "pairing-token-file", 0, NULL, OPT_PATH, NULL, 0, 0, F(pairing_token_file), false },
	{ "profile", 0, "DELEGO_PROFILE", OPT_STR, "default", 0, 0, F(profile), true },
	{ "workspace-root", 0, "DELEGO_WORKSPACE_ROOT", OPT_PATH, "~/delego-runner/workspace", 0, 0,
	  F(workspace_root), true },
	{ "git-clone-base-url", 0, "DELEGO_GIT_CLONE_BASE_URL", OPT_STR, "git@github.com:", 0, 0,
	  F(git_clone_base_url), true },
	{ "claude-command", 0, "DELEGO_CLAUDE_COMMAND", OPT_STR, "claude", 0, 0, F(claude.command), true },
	{ "claude-args", 0, "DELEGO_CLAUDE_ARGS", OPT_ARGS,
	  "--print --verbose --output-format stream-json --dangerously-skip-permissions", 0, 0, F(claude.args), true },
	{ "codex-command", 0, "DELEGO_CODEX_COMMAND", OPT_STR, "codex", 0, 0, F(codex.command), true },
	{ "codex-args", 0, "DELEGO_CODEX_ARGS", OPT_ARGS, "exec --sandbox danger-full-access", 0, 0, F(codex.args),
	  true },
	{ "supported-executors", 0, "DELEGO_SUPPORTED_EXECUTORS", OPT_EXECUTORS, "codex,claude", 0, 0,
	  F(supported_executors), true },
	{ "executor-timeout-ms", 0, "DELEGO_EXECUTOR_TIMEOUT_MS", OPT_MS, "1800000", 1000, 0, F(executor_timeout_ms),
	  true },
	{ "agent-stall-timeout-ms", 0, "DELEGO_AGENT_STALL_TIMEOUT_MS", OPT_MS, "300000", 0, 0,
	  F(agent_stall_timeout_ms), true },
	{ "agent-env", 0, NULL, OPT_ENV, NULL, 0, 0, F(agent_env), true },
	{ "heartbeat-interval-ms", 0, "DELEGO_HEARTBEAT_INTERVAL_MS", OPT_MS, "300000", 1000, 0,
	  F(heartbeat_interval_ms), true },
	{ "poll-interval-ms", 0, "DELEGO_POLL_INTERVAL_MS", OPT_MS, "10000", 1000, 0, F(poll_interval_ms), true },
	{ "cancellation-poll-interval-ms", 0, "DELEGO_CANCELLATION_POLL_INTERVAL_MS", OPT_MS, "5000", 1000, 0,
	  F(cancellation_poll_interval_ms), true },
	{ "safety-sync-interval-ms", 0, "DELEGO_SAFETY_SYNC_INTERVAL_MS", OPT_MS, "300000", 30000, 0,
	  F(safety_sync_interval_ms), true },
	{ "fallback-poll-interval-ms", 0, "DELEGO_FALLBACK_POLL_INTERVAL_MS", OPT_MS, "30000", 5000, 0,
	  F(fallback_poll_interval_ms), true },
	{ "shutdown-grace-ms", 0, "DELEGO_SHUTDOWN_GRACE_MS", OPT_MS, "60000", 0, 0, F(shutdown_grace_ms), true },
	{ "max-jobs", 0, "DELEGO_MAX_JOBS", OPT_INT, "1", 1, 64, F(max_jobs), true },
	{ "agent-memory-max", 0, "DELEGO_AGENT_MEMORY_MAX", OPT_BYTES, "0", 0, 0, F(agent_memory_max), true },
	{ "agent-pids-max", 0, "DELEGO_AGENT_PIDS_MAX", OPT_INT, "0", 0, 4194304, F(agent_pids_max), true },
	{ "containment", 0, "DELEGO_CONTAINMENT", OPT_CONTAINMENT, "auto", 0, 0, F(containment), true },
	{ "sandbox", 0, "DELEGO_SANDBOX", OPT_SANDBOX, "auto", 0, 0, F(sandbox), true },
	{ "sandbox-writable", 0, "DELEGO_SANDBOX_WRITABLE", OPT_PATHS, NULL, 0, 0, F(sandbox_writable), true },
	{ "sandbox-hide", 0, "DELEGO_SANDBOX_HIDE", OPT_PATHS, NULL, 0, 0, F(sandbox_hide), true },
	{ "sandbox-network", 0, "DELEGO_SANDBOX_NETWORK", OPT_ONOFF, "on", 0, 0, F(sandbox_network), true },
	{ "inhibit-sleep", 0, "DELEGO_INHIBIT_SLEEP", OPT_INHIBIT, "auto", 0, 0, F(inhibit_sleep), true },
	{ "worktree-retention-days", 0, "DELEGO_WORKTREE_RETENTION_DAYS", OPT_INT, "7", 0, 36500,
	  F(worktree_retention_days), true },
	{ "cache-retention-days", 0, "DELEGO_CACHE_RETENTION_DAYS", OPT_INT, "30", 0, 36500, F(cache_retention_days),
	  true },
	{ "workspace-budget-bytes", 0, "DELEGO_WORKSPACE_BUDGET_BYTES", OPT_BYTES, "0", 0, 0,
	  F(workspace_budget_bytes), true },
	{ "min-free-bytes", 0, "DELEGO_MIN_FREE_BYTES", OPT_BYTES, "1G", 0, 0, F(min_free_bytes), true },
	{ "warm-worktrees", 0, "DELEGO_WARM_WORKTREES", OPT_INT, "1", 0, 8, F(warm_worktrees), true },
	{ "no-commit", 0, "DELEGO_CREATE_COMMIT", OPT_NOT_BOOL, "true", 0, 0, F(create_commit), true },
	{ "once", 0, NULL, OPT_BOOL, "false", 0, 0, F(once), false },
	{ "force", 0, NULL, OPT_BOOL, "false", 0, 0, F(force), false },
	{ "background", 'b', NULL, OPT_BOOL, "false", 0, 0, F(background), false },
	{ "allow-insecure-relay", 0, "DELEGO_ALLOW_INSECURE_RELAY", OPT_BOOL, "false", 0, 0,
	  F(allow_insecure_relay), true },
	{ "log-level", 0, "DELEGO_LOG_LEVEL", OPT_LEVEL, "info", 0, 0, F(log_level), true },
	{ "config", 0, "DELEGO_CONFIG", OPT_PATH, NULL, 0, 0, F(config_path), false },
	{ "yes", 'y', NULL, OPT_BOOL, "false", 0, 0, F(yes), false },
	{ "json", 0, NULL, OPT_BOOL, "false", 0, 0, F(json), false },
	{ "dry-run", 0, NULL, OPT_BOOL, "false", 0, 0, F(dry_run), false },
	{ "auto", 0, NULL, OPT_BOOL, "false", 0, 0, F(auto_gc), false },
	{ "help", 'h', NULL, OPT_BOOL, "false", 0, 0, F(help), false },
	{ "version", 'V', NULL, OPT_BOOL, "false", 0, 0, F(version), false },
};

_Static_assert(sizeof options / sizeof *options == DR__CONFIG_N_OPTIONS, "DR__CONFIG_N_OPTIONS is its length");
const struct opt *const dr__config_options = options;

char *dr__config_expand_home(const struct config_full *f, const char *path)
{
	if (path[0] == '~' && (path[1] == '/' || path[1] == '\0'))
		return dr_xasprintf("%s%s", f->home ? f->home : "", path + 1);
	return dr_xstrdup(path);
}

const struct opt *dr__config_find_opt(const char *name, size_t len)
{
	for (size_t i = 0; i < DR__CONFIG_N_OPTIONS; i++)
		if (strlen(options[i].name) == len && strncmp(options[i].name, name, len) == 0)
			return &options[i];
	return NULL;
}

size_t dr__config_opt_index(const struct opt *o)
{
	return (size_t)(o - options);
}

bool dr__config_parse_bool(const char *s, bool *out)
{
	if (!strcmp(s, "true") || !strcmp(s, "1") || !strcmp(s, "yes") || !strcmp(s, "on")) {
		*out = true;
		return true;
	}
	if (!strcmp(s, "false") || !strcmp(s, "0") || !strcmp(s, "no") || !strcmp(s, "off")) {
		*out = false;
		return true;
	}
	return false;
}

static bool parse_u64(const char *s, uint64_t *out)
{
	if (*s < '0' || *s > '9')
		return false;
	uint64_t v = 0;
	for (; *s; s++) {
		if (*s < '0' || *s > '9')
			return false;
		if (v > (UINT64_MAX - 9) / 10)
			return false;
		v = v * 10 + (uint64_t)(*s - '0');
	}
	*out = v;
	return true;
}

static char **split(const char *s, const char *seps)
{
	struct dr_strv v = DR_STRV_INIT;
	char *copy = dr_xstrdup(s);
	char *save = NULL;
	for (char *tok = strtok_r(copy, seps, &save); tok; tok = strtok_r(NULL, seps, &save))
		dr_strv_push(&v, tok);
	free(copy);
	return dr_strv_take(&v);
}

/* A "NAME" or "NAME=VALUE" of --agent-env: a shell-style name, never one of ours. */
static int resolve_env(const struct setting *s, const struct opt *o, void *field, char *err, size_t errlen)
{
	char **v = split(s->value, "\n");
	for (char **e = v; *e; e++) {
		size_t n = strcspn(*e, "=");
		bool ok = n > 0 && !(**e >= '0' && **e <= '9');
		for (size_t i = 0; ok && i < n; i++)
			ok = (*e)[i] == '_' || ((*e)[i] >= '0' && (*e)[i] <= '9') || (((*e)[i] | 0x20) >= 'a' && ((*e)[i] | 0x20) <= 'z');
		bool ours = n >= 6 && strncmp(*e, "DELEGO", 6) == 0 && (n == 6 || (*e)[6] == '_');
		if (!ok || ours) {
			snprintf(err, errlen, "%s: --%s takes NAME or NAME=VALUE with a variable name%s (got '%.*s')",
				 s->source, o->name, ours ? " not starting with DELEGO_" : "", (int)(n > 80 ? 80 : n), *e);
			dr_strv_free(v);
			return -EINVAL;
		}
	}
	*(char ***)field = v;
	return 0;
}

/* OPT_MS and OPT_INT: a whole number within the option's bounds. */
static int resolve_number(const struct setting *s, const struct opt *o, void *field, char *err, size_t errlen)
{
	const char *v = s->value;
	uint64_t n;
	if (!parse_u64(v, &n) || n < o->min || (o->max && n > o->max)) {
		if (o->max)
			snprintf(err, errlen, "%s: --%s must be a whole number from %llu to %llu (got '%s')",
				 s->source, o->name, (unsigned long long)o->min, (unsigned long long)o->max, v);
		else
			snprintf(err, errlen, "%s: --%s must be a whole number of at least %llu (got '%s')",
				 s->source, o->name, (unsigned long long)o->min, v);
		return -EINVAL;
	}
	if (o->type == OPT_MS)
		*(uint64_t *)field = n;
	else
		*(int *)field = (int)n;
	return 0;
}

/* OPT_EXECUTORS: known executor ids, lower-cased, each once, at least one. */
static int resolve_executors(const struct setting *s, const struct opt *o, void *field, char *err, size_t errlen)
{
	const char *v = s->value;
	char **parts = split(v, ", \t");
	struct dr_strv out = DR_STRV_INIT;
	for (char **p = parts; *p; p++) {
		for (char *c = *p; *c; c++)
			if (*c >= 'A' && *c <= 'Z')
				*c = (char)(*c - 'A' + 'a');
		if (strcmp(*p, DR_EXECUTOR_CLAUDE) && strcmp(*p, DR_EXECUTOR_CODEX)) {
			snprintf(err, errlen, "%s: --%s: unknown executor '%s' (known: codex, claude)", s->source,
				 o->name, *p);
			dr_strv_free(parts);
			dr_strv_release(&out);
			return -EINVAL;
		}
		bool dup = false;
		for (size_t k = 0; k < out.n; k++)
			dup |= !strcmp(out.v[k], *p);
		if (!dup)
			dr_strv_push(&out, *p);
	}
	dr_strv_free(parts);
	if (!out.n) {
		snprintf(err, errlen, "%s: --%s must include at least one of codex, claude", s->source, o->name);
		dr_strv_release(&out);
		return -EINVAL;
	}
	*(char ***)field = dr_strv_take(&out);
	return 0;
}

/* OPT_BYTES: a whole number of bytes, or with K, M, G or T. */
static int resolve_bytes(const struct setting *s, const struct opt *o, void *field, char *err, size_t errlen)
{
	const char *v = s->value;
	uint64_t n, unit = 1;
	char digits[32];
	size_t len = strlen(v);
	const char *units = "KMGT";
	const char *u = len > 0 && (v[len - 1] & ~0x20) ? strchr(units, v[len - 1] & ~0x20) : NULL;
	if (u) {
		for (const char *q = units; q <= u; q++)
			unit *= 1024;
		len--;
	}
	if (len == 0 || len >= sizeof digits) {
		snprintf(err, errlen, "%s: --%s must be a size in bytes, with K, M, G or T for KiB to TiB (got '%s')",
			 s->source, o->name, v);
		return -EINVAL;
	}
	memcpy(digits, v, len);
	digits[len] = '\0';
	if (!parse_u64(digits, &n) || n > UINT64_MAX / unit) {
		snprintf(err, errlen, "%s: --%s must be a size in bytes, with K, M, G or T for KiB to TiB (got '%s')",
			 s->source, o->name, v);
		return -EINVAL;
	}
	*(uint64_t *)field = n * unit;
	return 0;
}

/* OPT_PATHS: absolute paths or ~/...; ':'-separated when from the environment. */
static int resolve_paths(const struct config_full *f, const struct setting *s, const struct opt *o, void *field,
			 char *err, size_t errlen)
{
	const char *v = s->value;
	char **parts = split(v, s->source[0] == 'e' ? ":\n" : "\n");
	struct dr_strv out = DR_STRV_INIT;
	for (char **q = parts; *q; q++) {
		char *path = dr__config_expand_home(f, *q);
		if (path[0] != '/') {
			snprintf(err, errlen, "%s: --%s takes absolute paths or ~/... (got '%s')", s->source,
				 o->name, *q);
			free(path);
			dr_strv_free(parts);
			dr_strv_release(&out);
			return -EINVAL;
		}
		dr_strv_push(&out, path);
		free(path);
	}
	dr_strv_free(parts);
	*(char ***)field = dr_strv_take(&out);
	return 0;
}

/* Converts one setting into its field; fills err naming the source. */
int dr__config_resolve(struct config_full *f, const struct opt *o, char *err, size_t errlen)
{
	struct setting *s = &f->settings[dr__config_opt_index(o)];
	void *field = (char *)&f->c + o->offset;
	const char *v = s->value;
	char inner[256];

	if (!v)
		return 0;
	switch (o->type) {
	case OPT_STR:
	case OPT_SECRET:
		*(char **)field = dr_xstrdup(v);
		return 0;
	case OPT_PATH:
		if (!*v) {
			snprintf(err, errlen, "%s: --%s must not be empty", s->source, o->name);
			return -EINVAL;
		}
		*(char **)field = dr__config_expand_home(f, v);
		return 0;
	case OPT_URL: {
		char *u;
		if (dr_url_normalize(v, &u, inner, sizeof inner) < 0) {
			snprintf(err, errlen, "%s: --%s: %s", s->source, o->name, inner);
			return -EINVAL;
		}
		*(char **)field = u;
		return 0;
	}
	case OPT_MS:
	case OPT_INT:
		return resolve_number(s, o, field, err, errlen);
	case OPT_BOOL:
	case OPT_ONOFF:
	case OPT_NOT_BOOL: {
		bool b;
		if (!dr__config_parse_bool(v, &b)) {
			snprintf(err, errlen, "%s: --%s takes true or false (got '%s')", s->source, o->name, v);
			return -EINVAL;
		}
		*(bool *)field = b;
		return 0;
	}
	case OPT_EXECUTORS:
		return resolve_executors(s, o, field, err, errlen);
	case OPT_ARGS:
		*(char ***)field = split(v, " \t\n");
		return 0;
	case OPT_ENV:
		return resolve_env(s, o, field, err, errlen);
	case OPT_BYTES:
		return resolve_bytes(s, o, field, err, errlen);
	case OPT_CONTAINMENT:
		if (!strcmp(v, "auto"))
			*(enum dr_containment *)field = DR_CONTAINMENT_AUTO;
		else if (!strcmp(v, "process-group"))
			*(enum dr_containment *)field = DR_CONTAINMENT_PROCESS_GROUP;
		else {
			snprintf(err, errlen, "%s: --%s must be auto or process-group (got '%s')", s->source, o->name, v);
			return -EINVAL;
		}
		return 0;
	case OPT_SANDBOX: {
		enum dr_sandbox_mode m;
		if (dr_sandbox_parse_mode(v, &m) < 0) {
			snprintf(err, errlen, "%s: --%s must be auto, bwrap, landlock or off (got '%s')", s->source,
				 o->name, v);
			return -EINVAL;
		}
		*(int *)field = (int)m;
		return 0;
	}
	case OPT_PATHS:
		return resolve_paths(f, s, o, field, err, errlen);
	case OPT_INHIBIT: {
		static const char *const names[] = { [DR_INHIBIT_AUTO] = "auto", [DR_INHIBIT_ON] = "on",
						      [DR_INHIBIT_OFF] = "off" };
		for (int i = 0; i < 3; i++)
			if (!strcmp(v, names[i])) {
				*(enum dr_inhibit_mode *)field = (enum dr_inhibit_mode)i;
				return 0;
			}
		snprintf(err, errlen, "%s: --%s must be auto, on or off (got '%s')", s->source, o->name, v);
		return -EINVAL;
	}
	case OPT_LEVEL:
		if (dr_log_parse_level(v, (enum dr_log_level *)field) < 0) {
			snprintf(err, errlen, "%s: --%s must be error, warn, info or debug (got '%s')", s->source, o->name,
				 v);
			return -EINVAL;
		}
		return 0;
	}
	return 0;
}
