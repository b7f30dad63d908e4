/*
 * config: the one resolved configuration of a delego-runner invocation.
 *
 * Sources, lowest first: built-in defaults, the YAML file (top level, then
 * the `profiles: <name>:` section), DELEGO_* environment, command-line
 * flags. Every value remembers where it came from, for error messages and
 * `delego-runner config`.
 */
#ifndef DELEGO_CONFIG_H
#define DELEGO_CONFIG_H

#include <stdbool.h>
#include <stdint.h>

#include "delego/log.h"

#define DR_EXECUTOR_CLAUDE "claude"
#define DR_EXECUTOR_CODEX "codex"

struct dr_exec_cmd {
	char *command; /* e.g. "claude" */
	char **args;   /* NULL-terminated; the default args of PROTOCOL.md 4.5 */
};

/* All fields are read-only for callers; dr_config_free() owns them. */
struct dr_config {
	char *profile;              /* "default" */
	char *relay_url;            /* normalised (no trailing '/'), or NULL */
	char *pairing_token;        /* secret; NULL unless pairing */
	char *workspace_root;       /* absolute */
	char *git_clone_base_url;   /* "git@github.com:" */
	struct dr_exec_cmd claude;
	struct dr_exec_cmd codex;
	char **supported_executors; /* NULL-terminated, deduplicated, wire order */
	uint64_t executor_timeout_ms;
	uint64_t heartbeat_interval_ms;
	uint64_t poll_interval_ms;
	uint64_t cancellation_poll_interval_ms;
	uint64_t safety_sync_interval_ms;
	uint64_t fallback_poll_interval_ms;
	uint64_t shutdown_grace_ms;
	int max_jobs;
	bool create_commit;
	bool once;
	bool force;
	bool background;
	bool allow_insecure_relay;
	enum dr_log_level log_level;
	char *config_path;      /* the YAML file read, or NULL when none */
	char *credentials_path; /* resolved credentials.json path */
	char *state_dir;        /* ${XDG_STATE_HOME:-~/.local/state}/delego-runner/<profile> */
};

/* True when the executor id ("claude"/"codex") is in supported_executors. */
bool dr_config_supports(const struct dr_config *c, const char *executor);
/* The command line for an executor id, or NULL when unknown. */
const struct dr_exec_cmd *dr_config_exec_cmd(const struct dr_config *c, const char *executor);

#endif
