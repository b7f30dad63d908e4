/*
 * doctor: checks that tell a user why jobs would fail on this machine
 * before a job does: the tools (git, gh, claude, codex), running as root,
 * the workspace, the credentials file, the relay (reachable, TLS, the
 * credential accepted, clock skew) and how jobs are contained.
 *
 * Each check appends one finding: a level, what was checked, what was
 * found, and the fix. The blocking calls (a helper's --version, one HTTP
 * request) make this a short CLI's module, never the daemon's.
 */
#ifndef DELEGO_DOCTOR_H
#define DELEGO_DOCTOR_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "delego/config.h"
#include "delego/credentials.h"

enum dr_doctor_level {
	DR_DOCTOR_OK,
	DR_DOCTOR_WARN,
	DR_DOCTOR_FAIL,
};

/* One finding; every string owned by the report. */
struct dr_doctor_item {
	enum dr_doctor_level level;
	char *what;   /* "git", "workspace", "relay", ... */
	char *detail; /* what was found */
	char *fix;    /* what to do, or NULL when nothing */
};

/* A list of findings. Fields are read-only for callers. */
struct dr_doctor {
	struct dr_doctor_item *items;
	size_t n;
};
#define DR_DOCTOR_INIT { 0 }

void dr_doctor_add(struct dr_doctor *d, enum dr_doctor_level level, const char *what, const char *fix,
		   const char *fmt, ...) __attribute__((format(printf, 5, 6)));
size_t dr_doctor_failures(const struct dr_doctor *d);
void dr_doctor_release(struct dr_doctor *d);
/* "ok", "warn", "FAIL". */
const char *dr_doctor_level_name(enum dr_doctor_level level);
/* One line per finding: "ok   what: detail" or "FAIL what: detail; fix". Caller frees. */
char *dr_doctor_format(const struct dr_doctor *d);

/* Individual checks, for `doctor` and the tests. */
/* uid 0 fails when claude is among the executors: claude refuses to run as root. */
void dr_doctor_check_root(struct dr_doctor *d, uid_t uid, bool claude_supported);
/* A program by name (searched on PATH) or path, and its --version line. needed: FAIL when absent, else warn. */
void dr_doctor_check_tool(struct dr_doctor *d, const char *what, const char *command, bool needed,
			  const char *install_fix);
/*
 * Whether an agent CLI ("claude" or "codex", run as command) is logged in
 * for this user (`claude auth status`, `codex login status`): warn with the
 * command to run when not, or when its answer cannot be read. Nothing when
 * command is not found (dr_doctor_check_tool says so).
 */
void dr_doctor_check_login(struct dr_doctor *d, const char *executor, const char *command);
/* Exists or can be created, is writable, and has room. */
void dr_doctor_check_workspace(struct dr_doctor *d, const char *root);
/* Classifies free bytes at path: FAIL under 512 MiB, warn under 5 GiB. */
void dr_doctor_check_space(struct dr_doctor *d, const char *path, uint64_t avail);
/* The credentials file's and directory's modes, and whether the profile is paired. */
void dr_doctor_check_credentials(struct dr_doctor *d, const char *path, const char *profile);
/* Local minus relay time in seconds: ok within 30 s, warn within 300 s, else FAIL. */
void dr_doctor_check_skew(struct dr_doctor *d, long long skew_s);
/*
 * One POST /api/runner/realtime-token with the profile's bearer: it is
 * authenticated and changes nothing on the relay (no heartbeat, no claim,
 * no report). Finds: reachable, TLS verified, credential accepted (2xx) or
 * rejected (401), and the clock skew from the answer's Date header.
 */
void dr_doctor_check_relay(struct dr_doctor *d, const struct dr_config *c, const struct dr_profile *p,
			   long timeout_ms);
/* cgroup v2 under cgroup_root (normally "/sys/fs/cgroup"), delegated or not; else process groups. */
void dr_doctor_check_containment(struct dr_doctor *d, const char *cgroup_root);
/* The agents' sandbox for want (enum dr_sandbox_mode; bwrap NULL: on PATH): a warning with the fix when
 * auto finds none, a failure when the mode asked for by name does not work. */
void dr_doctor_check_sandbox(struct dr_doctor *d, int want, const char *bwrap);

/* Every check, for c->profile (p NULL when it is not paired). */
void dr_doctor_run(struct dr_doctor *d, const struct dr_config *c, const struct dr_profile *p);

#endif
