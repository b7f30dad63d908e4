/*
 * service: the runner as a per-user service of the machine's service
 * manager (a systemd user unit on Linux, one per profile; launchd on macOS
 * is not written yet), and what `status` reads about a profile: the
 * daemon's status file and its spool of undelivered reports.
 *
 * Nothing here logs: errors come back as a negative errno with a sentence
 * in the caller's buffer. The commands in cmd_service.c print.
 */
#ifndef DELEGO_SERVICE_H
#define DELEGO_SERVICE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "delego/buf.h"

/* What goes into a per-user unit. Every string is borrowed. */
struct dr_service_spec {
	const char *profile;          /* a valid profile name */
	const char *exe;              /* absolute path of delego-runner */
	char *const *args;            /* extra daemon flags, NULL-terminated or NULL */
	const char *credentials_path; /* baked in as DELEGO_CREDENTIALS_PATH, or NULL */
	const char *state_home;       /* baked in as XDG_STATE_HOME, or NULL */
	uint64_t shutdown_grace_ms;   /* the daemon's drain time; TimeoutStopSec is 30 s above it */
};

/* The first line of every unit we write; a unit without it is not ours. */
#define DR_SERVICE_MARKER "# Written by delego-runner service install"

/* "delego-runner-<profile>.service". Caller frees. */
char *dr_service_unit_name(const char *profile);
/* ${XDG_CONFIG_HOME:-$HOME/.config}/systemd/user/<unit name>. Caller frees. */
char *dr_service_unit_path(const char *profile);
/*
 * Renders the per-user unit (pure: the only source of its text). *out is
 * the caller's. -EINVAL with a sentence when a value cannot be written into
 * a unit file (control characters, relative paths, a bad profile name).
 */
int dr_service_render_unit(const struct dr_service_spec *spec, char **out, char *err, size_t errlen);
/* Quotes one word for an ExecStart= line ("%%", "$$", "\\" and "\"" escaped). Caller frees. */
char *dr_service_quote_exec(const char *word);

/* The absolute path of the running program. Caller frees. */
int dr_service_self_exe(char **out, char *err, size_t errlen);

/*
 * Runs argv (found on PATH) with stdin from /dev/null and collects its
 * stdout and stderr together into out (capped by out->max; the rest is
 * dropped). Kills it after timeout_ms (0: no limit). *status gets the exit
 * status, 128+N for a signal, 124 on the timeout. -ENOENT when the program
 * is not found.
 */
int dr_service_exec(char *const argv[], long timeout_ms, struct dr_buf *out, int *status);

/* The service manager's view of a profile's unit. */
struct dr_service_state {
	bool installed;      /* the unit file exists */
	bool queried;        /* the service manager answered */
	char active[32];     /* ActiveState: active, activating, inactive, failed, ... */
	char sub[32];        /* SubState */
	char enabled[32];    /* UnitFileState: enabled, disabled, ... */
	long main_pid;       /* 0 when none */
	int exec_status;     /* ExecMainStatus: the last exit status */
	char error[256];     /* why it could not be queried */
};

/* Fills *out; never fails (what it could not learn is said in out->error). */
void dr_service_query(const char *profile, struct dr_service_state *out);
/*
 * systemctl --user <verb> [--no-block] <unit>, or daemon-reload when
 * profile is NULL. Verbs: start, stop, restart, enable, disable. -EIO with
 * systemctl's answer in err when it fails; -ENOENT when there is no
 * systemctl.
 */
int dr_service_ctl(const char *verb, const char *profile, bool no_block, char *err, size_t errlen);

/* The daemon's $state_dir/status.json. */
struct dr_service_status {
	long pid;
	bool alive;               /* pid is a live process (else the file is stale) */
	char *runner_id;
	char *relay_url;
	char *version;
	char *state;
	char *started_at;
	char *last_heartbeat_at;  /* NULL before the first beat */
	bool last_heartbeat_ok;
	char *last_error;
	char **active_jobs;       /* NULL-terminated, never NULL after a successful read */
	long pending_reports;
	char *containment;
	bool push;
};
/* -ENOENT when absent, -EBADMSG when not the expected JSON. */
int dr_service_read_status(const char *state_dir, struct dr_service_status *out, char *err, size_t errlen);
void dr_service_status_release(struct dr_service_status *s);
/* Number of $state_dir/outbox/ *.json files (reports not yet acknowledged); 0 when none. */
long dr_service_count_outbox(const char *state_dir);

#endif
