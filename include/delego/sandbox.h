/*
 * sandbox: the room an agent runs in. The runner owns git pushes and the
 * credentials; the agent gets its worktree, the parts of the source cache
 * git needs to commit there, its own state and the package caches, and a
 * read-only view of the rest of the machine minus the hidden set (our own
 * config, state and workspace, SSH and GPG keys, token stores).
 *
 * Modes, chosen once at start (dr_sandbox_setup):
 *   bwrap     the agent starts under bubblewrap with its own mount, pid,
 *             ipc and uts namespaces (and net with network off): the host
 *             is mounted read-only, /tmp is private, hidden paths are
 *             empty tmpfs (directories) or /dev/null (files), the
 *             writable set is bound read-write.
 *   landlock  where user namespaces are blocked: the child restricts
 *             itself (our own binary's hidden word DR_SANDBOX_SHIM_WORD)
 *             between fork and exec. Reads are allowed per directory
 *             entry around the hidden set, writes only in the writable
 *             set; signals and abstract sockets stay inside (ABI 6);
 *             network off denies TCP (ABI 4).
 *   off       as before: the agent sees what the runner's user sees.
 * `auto` picks bwrap when `bwrap --unshare-all ... true` works, else
 * Landlock when the kernel has it, else off (and dr_sandbox_note says
 * why and how to fix it).
 */
#ifndef DELEGO_SANDBOX_H
#define DELEGO_SANDBOX_H

#include <stdbool.h>
#include <stddef.h>

#include "delego/strv.h"

#define DR_SANDBOX_SHIM_WORD "__exec-sandboxed"

enum dr_sandbox_mode {
	DR_SANDBOX_OFF,
	DR_SANDBOX_BWRAP,
	DR_SANDBOX_LANDLOCK,
	DR_SANDBOX_AUTO, /* a wish only: setup and probe never answer it */
};

/* "off", "bwrap", "landlock", "auto". */
const char *dr_sandbox_mode_name(enum dr_sandbox_mode m);
/* 0 and *out for one of those names; -EINVAL otherwise. */
int dr_sandbox_parse_mode(const char *s, enum dr_sandbox_mode *out);

/*
 * What dr_sandbox_setup would choose for want, without changing anything;
 * a sentence in note (why a mode does not work, with the fix). bwrap is
 * found on PATH unless bwrap names it. Answers OFF when want is a mode
 * that does not work here; *works tells that apart from a plain off.
 */
enum dr_sandbox_mode dr_sandbox_probe(enum dr_sandbox_mode want, const char *bwrap, bool *works, char *note,
				      size_t notelen);
/*
 * Chooses the mode for this process, once (later calls change nothing
 * until dr_sandbox_shutdown). shim: the program that understands
 * DR_SANDBOX_SHIM_WORD (NULL: our own executable). Returns 0, or
 * -EOPNOTSUPP when want names a mode that does not work here (the note
 * says why; the mode is then off).
 */
int dr_sandbox_setup(enum dr_sandbox_mode want, const char *shim);
void dr_sandbox_shutdown(void);
enum dr_sandbox_mode dr_sandbox_mode(void);
/* One sentence on the mode in force and why. Static. */
const char *dr_sandbox_note(void);
/* True when auto found no sandbox that works here. */
bool dr_sandbox_fell_back(void);
/* The running kernel's Landlock ABI version, 0 without Landlock. */
int dr_sandbox_landlock_abi(void);

/* What one agent may touch. Fields are read-only for callers. */
struct dr_sandbox_policy {
	enum dr_sandbox_mode mode;
	bool network;
	char *home;      /* realpath of HOME, or NULL */
	struct dr_strv writable; /* absolute; read-write (what exists of it is bound or allowed) */
	struct dr_strv readable; /* read-only exceptions inside hidden paths (the source cache) */
	struct dr_strv hidden;   /* absolute; not visible at all */
	struct dr_strv git_links; /* private: path, content, ... of the files that tie the worktree to its cache */
};

struct dr_sandbox_in {
	enum dr_sandbox_mode mode; /* the mode in force (never AUTO) */
	bool network;
	const char *home;
	char *const *env;          /* the agent's environment: CLAUDE_CONFIG_DIR, CODEX_HOME, TMPDIR, provider flags */
	char *const *runner_dirs;  /* our config, state and workspace directories: hidden */
	const char *worktree;      /* the job's worktree (its .git file names the worktree's gitdir) */
	const char *source;        /* the source cache the worktree belongs to */
	char *const *extra_writable; /* --sandbox-writable */
	char *const *extra_hidden;   /* --sandbox-hide */
};

/*
 * The policy for one agent. Creates the agent state directories it grants
 * when they are missing (~/.claude, ~/.codex, ~/.cache, the source cache's
 * logs) so that they can be bound. Never NULL.
 */
struct dr_sandbox_policy *dr_sandbox_policy_new(const struct dr_sandbox_in *in);
struct dr_sandbox_policy *dr_sandbox_policy_free(struct dr_sandbox_policy *p);

/*
 * After the agent: 0 when the worktree's .git file and its gitdir's
 * commondir and gitdir files are what they were (bwrap mounts them
 * read-only; Landlock cannot). Else -EPERM, naming the file in err: an
 * agent that points them at a repository of its own could make the
 * runner's git, outside the sandbox, run its hooks or fsmonitor.
 */
int dr_sandbox_git_check(const struct dr_sandbox_policy *p, char *err, size_t errlen);

/*
 * The report form: {"mode","network","writable":[...],"hidden":[...]}
 * with paths under HOME as "~/...", and "note" when auto fell back.
 * A cJSON object (declared void to keep cJSON out of this header).
 */
void *dr_sandbox_policy_json(const struct dr_sandbox_policy *p, const char *note);

/*
 * The argv that runs exe (absolute) with argv, unchanged, inside the
 * policy, through the shim (and bwrap), for dr_strv_free. cgroup_procs
 * (may be NULL) is a cgroup.procs file the shim joins first. NULL when
 * the mode is off or a helper is unknown.
 */
char **dr_sandbox_argv(const struct dr_sandbox_policy *p, const char *exe, char *const *argv,
		       const char *cgroup_procs);
/* The bwrap program dr_sandbox_argv runs, or NULL. */
const char *dr_sandbox_bwrap(void);

/*
 * Drops what a sandboxed agent must not hold (SSH_AUTH_SOCK, GH_TOKEN,
 * GITHUB_TOKEN, GH_ENTERPRISE_TOKEN, GITHUB_ENTERPRISE_TOKEN) from env in
 * place, except the names keep requests (--agent-env entries, NAME or
 * NAME=VALUE: dr_childenv_requested). env is a dr_strv.
 */
void dr_sandbox_env_filter(char **env, char *const *keep);

/*
 * The shim: argv = { prog, DR_SANDBOX_SHIM_WORD, [-c PROCS] [-n]
 * [-r PATH]... [-w PATH]... [-x PATH]..., "--", FILE, ARG0, ... }.
 * Joins the cgroup, restricts itself with Landlock, execs FILE. With -T
 * (before bwrap) it execs FILE with SIGTERM ignored instead, with -U
 * (inside bwrap) with SIGTERM restored, both without Landlock. Returns
 * only on failure, with the exit status to use (125 cannot sandbox, 126
 * cannot exec, 127 not found) after saying why on stderr.
 */
int dr_sandbox_exec_main(int argc, char **argv);

#endif
