/*
 * service: the runner as a per-user service of the machine's service
 * manager, one per profile (a systemd user unit on Linux, in
 * service_systemd.c; a launchd agent on macOS, in service_launchd.c), and
 * what `status` reads about a profile: the daemon's status file and its
 * spool of undelivered reports. The dr_service_* calls below are the
 * backend the build selects (DR_PLATFORM_DARWIN: launchd); the
 * dr_service_launchd_* ones are built everywhere so that Linux CI tests
 * them.
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
#include "delego/platform.h"

/* What goes into a per-user unit. Every string is borrowed. */
struct dr_service_spec {
	const char *profile;          /* a valid profile name */
	const char *exe;              /* absolute path of delego-runner */
	char *const *args;            /* extra daemon flags, NULL-terminated or NULL */
	const char *credentials_path; /* baked in as DELEGO_CREDENTIALS_PATH, or NULL */
	const char *state_home;       /* baked in as XDG_STATE_HOME, or NULL */
	uint64_t shutdown_grace_ms;   /* the daemon's drain time; TimeoutStopSec is 30 s above it */
	/*
	 * launchd only: the PATH the daemon gets (launchd gives agents
	 * /usr/bin:/bin:/usr/sbin:/sbin, without Homebrew's or npm's
	 * directories, where git, gh, claude and codex live). NULL: on macOS
	 * dr_service_render_unit takes the installer's $PATH; with no $PATH,
	 * or in dr_service_launchd_render, the program's own directory, then
	 * /opt/homebrew/bin, /usr/local/bin and the system's.
	 */
	const char *path;
};

/* The start of every unit we write; a unit without it is not ours. */
#define DR_SERVICE_SYSTEMD_MARKER "# Written by delego-runner service install"
/* A plist must start with its XML declaration: the mark is the comment after it. */
#define DR_SERVICE_LAUNCHD_MARKER "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<!-- Written by delego-runner service install"
#ifdef DR_PLATFORM_DARWIN
#define DR_SERVICE_MARKER DR_SERVICE_LAUNCHD_MARKER
#else
#define DR_SERVICE_MARKER DR_SERVICE_SYSTEMD_MARKER
#endif

/* "delego-runner-<profile>.service"; on macOS the launchd label "app.delego.runner.<profile>". Caller frees. */
char *dr_service_unit_name(const char *profile);
/*
 * ${XDG_CONFIG_HOME:-$HOME/.config}/systemd/user/<unit name>; on macOS
 * $HOME/Library/LaunchAgents/<label>.plist. Caller frees.
 */
char *dr_service_unit_path(const char *profile);
/*
 * Renders the per-user unit, or on macOS the launchd plist (pure: the only
 * source of its text). *out is the caller's. -EINVAL with a sentence when a
 * value cannot be written into a unit file (control characters, relative
 * paths, a bad profile name).
 */
int dr_service_render_unit(const struct dr_service_spec *spec, char **out, char *err, size_t errlen);
/* What every backend needs of a spec: a valid profile name, an absolute program. -EINVAL with a sentence. */
int dr_service_spec_check(const struct dr_service_spec *spec, char *err, size_t errlen);
/* Quotes one word for an ExecStart= line ("%%", "$$", "\\" and "\"" escaped). Caller frees. */
char *dr_service_quote_exec(const char *word);

/* The absolute path of the running program (dr_service_stable_exe of it). Caller frees. */
int dr_service_self_exe(char **out, char *err, size_t errlen);
/*
 * The path a service should run path by: under Homebrew, where path is
 * PREFIX/Cellar/NAME/VERSION/bin/PROG (what the kernel and libuv give), the
 * PREFIX/opt/NAME/bin/PROG that resolves to it, which follows an upgrade
 * (the daemon re-execs it in place, launchd starts it at the next login);
 * else path. Owned.
 */
char *dr_service_stable_exe(const char *path);


/*
 * The service manager's view of a profile's unit. launchd's answer
 * (`launchctl print`) is mapped onto systemd's words: state running ->
 * active/running, a scheduled respawn -> activating, not running ->
 * inactive/exited, not loaded -> inactive/not-loaded; enabled unless
 * `launchctl print-disabled` lists the label as disabled.
 */
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
 * systemctl. On macOS the same verbs drive launchctl (see
 * dr_service_launchd_ctl).
 */
int dr_service_ctl(const char *verb, const char *profile, bool no_block, char *err, size_t errlen);
/*
 * Where the service's output goes, as a command a user can run
 * ("journalctl --user -u <unit>", or on macOS "tail -f <log file>").
 * Caller frees.
 */
char *dr_service_logs_hint(const char *profile);

/*
 * The launchd backend (service_launchd.c). Built on every system; on macOS
 * the dr_service_* calls above are these, with home = $HOME.
 *
 * The plist runs the daemon under a small /bin/sh wrapper, because launchd
 * cannot tell exit statuses apart beyond zero and non-zero (KeepAlive
 * {SuccessfulExit: false} restarts after any non-zero status, and never
 * after 0). The wrapper forwards TERM, INT and HUP to the daemon and maps
 * its status so that KeepAlive does what RestartPreventExitStatus does on
 * Linux:
 *   2, 64, 78               -> 0: not restarted (pair again, fix the flags
 *                              or the configuration, then `delego-runner start`)
 *   0 after launchd's TERM  -> 0: stopped on purpose, not restarted
 *   0 otherwise (a restart  -> 1: restarted
 *     requested from the dashboard)
 *   anything else, signals  -> unchanged (non-zero): restarted
 * launchd waits ThrottleInterval (10 s) between starts, and ExitTimeOut
 * (the drain time + 30 s) between TERM and KILL.
 */
#define DR_SERVICE_LAUNCHD_LABEL_PREFIX "app.delego.runner."
/* "app.delego.runner.<profile>". Caller frees. */
char *dr_service_launchd_label(const char *profile);
/* <home>/Library/LaunchAgents/<label>.plist. Caller frees. */
char *dr_service_launchd_plist_path(const char *home, const char *profile);
/* <home>/Library/Logs/delego-runner/<profile>.log: the daemon's stdout and stderr. Caller frees. */
char *dr_service_launchd_log_path(const char *home, const char *profile);
/*
 * Renders the agent's plist (pure). home must be absolute. Every value is
 * XML-escaped; -EINVAL with a sentence for what a plist cannot hold
 * (control characters, bytes that are not UTF-8) or launchd cannot run
 * (a relative program path, a bad profile name).
 */
int dr_service_launchd_render(const struct dr_service_spec *spec, const char *home, char **out, char *err,
			      size_t errlen);
/*
 * Fills out (already holding installed) from `launchctl print` output;
 * text NULL means launchd does not know the label (not loaded). disabled:
 * whether `launchctl print-disabled` lists it as disabled.
 */
void dr_service_launchd_parse_print(const char *text, bool disabled, struct dr_service_state *out);
/*
 * `launchctl print gui/<uid>/<label>` and `print-disabled gui/<uid>`.
 * Never fails: what it could not learn is said in out->error.
 */
void dr_service_launchd_query(const char *home, const char *profile, struct dr_service_state *out);
/*
 * The service verbs on launchd, in the gui/<uid> domain:
 *   NULL profile (daemon-reload): nothing, launchd reads the plist at load;
 *   enable:  launchctl enable; then bootout when loaded, so that the next
 *            start loads the plist as it is now on disk;
 *   start:   bootstrap when not loaded (RunAtLoad starts it), else kickstart;
 *   restart: bootstrap when not loaded, else kickstart -k;
 *   stop:    bootout when loaded (waits for the daemon to drain and exit);
 *   disable: launchctl disable (not loaded at the next login).
 * no_block is accepted and ignored: none of these wait for the daemon's
 * readiness. -EIO with launchctl's answer and what to do in err; -ENOENT
 * when there is no launchctl; -EINVAL for an unknown verb.
 */
int dr_service_launchd_ctl(const char *home, const char *verb, const char *profile, char *err, size_t errlen);

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
	char *sandbox;            /* the agents' sandbox mode (sandbox.h), or NULL from an older daemon */
	bool push;
};
/* -ENOENT when absent, -EBADMSG when not the expected JSON. */
int dr_service_read_status(const char *state_dir, struct dr_service_status *out, char *err, size_t errlen);
void dr_service_status_release(struct dr_service_status *s);
/* Number of $state_dir/outbox/ *.json files (reports not yet acknowledged); 0 when none. */
long dr_service_count_outbox(const char *state_dir);

#endif
