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
#include <stddef.h>
#include <stdint.h>

#include "delego/log.h"

#define DR_EXECUTOR_CLAUDE "claude"
#define DR_EXECUTOR_CODEX "codex"

/* How agents are contained (cgroup.h): cgroups where the runner can have one, or process groups only. */
enum dr_containment {
	DR_CONTAINMENT_AUTO,
	DR_CONTAINMENT_PROCESS_GROUP,
};

/* Whether to hold off sleep while jobs run (inhibit.h): auto (when a battery is present), on, off. */
enum dr_inhibit_mode {
	DR_INHIBIT_AUTO,
	DR_INHIBIT_ON,
	DR_INHIBIT_OFF,
};

struct dr_exec_cmd {
	char *command; /* e.g. "claude" */
	char **args;   /* NULL-terminated; the default args (delego-runner-protocol(7)) */
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
	uint64_t agent_stall_timeout_ms; /* an agent that reports only errors this long fails; 0: never */
	char **agent_env; /* NULL-terminated "NAME" (pass ours) or "NAME=VALUE" (set) for agents; names valid, no DELEGO_* */
	uint64_t heartbeat_interval_ms;
	uint64_t poll_interval_ms;
	uint64_t cancellation_poll_interval_ms;
	uint64_t safety_sync_interval_ms;
	uint64_t fallback_poll_interval_ms;
	uint64_t shutdown_grace_ms;
	int max_jobs;
	uint64_t agent_memory_max;       /* bytes of memory.max per agent's cgroup; 0: none */
	int agent_pids_max;              /* pids.max per agent's cgroup; 0: none */
	enum dr_containment containment; /* auto (default) or process-group */
	/* The agent's sandbox (sandbox.h): the mode wished for, and how to widen or narrow it. */
	int sandbox;                     /* enum dr_sandbox_mode: auto (default), bwrap, landlock, off */
	char **sandbox_writable;         /* NULL-terminated absolute paths, --sandbox-writable */
	char **sandbox_hide;             /* NULL-terminated absolute paths, --sandbox-hide */
	bool sandbox_network;            /* --sandbox-network on (default) or off */
	enum dr_inhibit_mode inhibit_sleep; /* auto (default), on or off */
	int worktree_retention_days;     /* finished worktrees older than this go at the next sweep (gc.h) */
	int cache_retention_days;        /* source caches without worktrees unused this long go */
	uint64_t workspace_budget_bytes; /* sources + worktrees at most this big; 0: no budget */
	uint64_t min_free_bytes;         /* free space gc keeps and a new worktree needs; 0: none */
	int warm_worktrees;              /* spare worktrees kept ready per busy repository; 0: off */
	bool create_commit;
	bool once;
	bool force;
	bool background;
	bool allow_insecure_relay;
	enum dr_log_level log_level;
	char *config_path;      /* the YAML file read, or NULL when none */
	char *credentials_path; /* resolved credentials.json path */
	char *state_dir;        /* ${XDG_STATE_HOME:-~/.local/state}/delego-runner/<profile> */
	char *pairing_token_file;
	/* Command flags, meaningful to some subcommands only. */
	bool yes;
	bool json;
	bool dry_run;
	bool auto_gc; /* workspace gc --auto: the daemon's sweep */
	bool help;
	bool version;
	char **positional; /* NULL-terminated arguments that are not flags */
};

struct dr_profile;

/*
 * Resolves the configuration from defaults, the YAML file, the environment
 * (envp, NULL for environ) and argv[0..argc) (flags and positionals, no
 * program name). Returns 0, -EINVAL for a bad value or unknown flag (usage
 * error), -ENOENT/-EIO/-EBADMSG for an unreadable or malformed config file;
 * err names the source ("flag --poll-interval-ms", "DELEGO_POLL_INTERVAL_MS",
 * "/path/config.yaml:3:5").
 */
int dr_config_load(int argc, char **argv, char **envp, struct dr_config **out, char *err, size_t errlen);
/*
 * dr_config_load without a file system and without flags: the settings of
 * the len bytes of text, as the file called name (its errors say
 * "name:line:col"), over the defaults, under the environment envp.
 */
int dr_config_parse(const char *text, size_t len, const char *name, char **envp, struct dr_config **out, char *err,
		    size_t errlen);
/* Fills workspace root and executors from a paired profile where nothing else set them. */
void dr_config_apply_profile(struct dr_config *c, const struct dr_profile *p);
/* Where an option's value came from ("default", "flag", "env DELEGO_X", "file:line:col", "profile"). */
const char *dr_config_source(const struct dr_config *c, const char *option);
/* Writes "option = value  (source)" lines, secrets masked, to a new string. */
char *dr_config_describe(const struct dr_config *c);
void dr_config_free(struct dr_config *c);

/* True when the executor id ("claude"/"codex") is in supported_executors. */
bool dr_config_supports(const struct dr_config *c, const char *executor);
/* The command line for an executor id, or NULL when unknown. */
const struct dr_exec_cmd *dr_config_exec_cmd(const struct dr_config *c, const char *executor);

#endif
