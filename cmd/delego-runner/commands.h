/*
 * commands: the subcommands of delego-runner, each taking the resolved
 * configuration and returning the process exit status. cmd/ dispatches to
 * them and logs nothing itself.
 */
#ifndef DELEGO_COMMANDS_H
#define DELEGO_COMMANDS_H

#include "delego/config.h"

/* Exit statuses (sysexits.h where one fits); documented in --help and the man page. */
enum dr_exit {
	DR_EXIT_OK = 0,
	DR_EXIT_FAILURE = 1,      /* anything else */
	DR_EXIT_REJECTED = 2,     /* the relay rejected the credential or pairing token: pair again */
	DR_EXIT_USAGE = 64,       /* bad flag or value */
	DR_EXIT_UNAVAILABLE = 69, /* the relay could not be reached */
	DR_EXIT_CANTCREAT = 73,   /* the credentials file could not be written */
	DR_EXIT_TEMPFAIL = 75,    /* temporary failure, try again */
	DR_EXIT_PROTOCOL = 76,    /* the relay's answer made no sense */
	DR_EXIT_CONFIG = 78,      /* config file or credentials unusable, or profile not paired */
};

/* argv as given after the program name, for SIGHUP reloads. */
struct dr_cmd_ctx {
	int argc;
	char **argv;
	const char *prog; /* argv[0] as we were started */
};

/*
 * printf to stdout for what a person reads, with controls other than
 * newline and tab escaped (text.h): ids, URLs and errors come from outside.
 */
void dr_cmd_out(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* Pairs c->profile; on success *runner_id (optional) gets the new id. Returns an exit status. */
int dr_pair(struct dr_config *c, char **runner_id);
/* 0 when the URL may carry a credential; else logs why and returns DR_EXIT_USAGE. */
int dr_check_relay_url(const struct dr_config *c, const char *url);

int dr_cmd_pair(struct dr_config *c, const struct dr_cmd_ctx *ctx);
/* Takes ownership of c. */
int dr_cmd_run(struct dr_config *c, const struct dr_cmd_ctx *ctx);
/* Node-style bare command line: pair when a token is given, then run. Takes ownership of c. */
int dr_cmd_default(struct dr_config *c, const struct dr_cmd_ctx *ctx);
int dr_cmd_config(struct dr_config *c, const struct dr_cmd_ctx *ctx);

/*
 * Writes, enables and (re)starts the per-user service of c->profile (also
 * `pair --background`). Prints what it did; returns an exit status.
 */
int dr_service_install(struct dr_config *c);
/* `service install`: the one service subcommand; c->positional[0] is "install". */
int dr_cmd_service(struct dr_config *c, const struct dr_cmd_ctx *ctx);
/* The Node runner's service subcommands (delego-runner(1)). */
int dr_cmd_status(struct dr_config *c, const struct dr_cmd_ctx *ctx);
int dr_cmd_start(struct dr_config *c, const struct dr_cmd_ctx *ctx);
int dr_cmd_stop(struct dr_config *c, const struct dr_cmd_ctx *ctx);
int dr_cmd_restart(struct dr_config *c, const struct dr_cmd_ctx *ctx);
int dr_cmd_upgrade(struct dr_config *c, const struct dr_cmd_ctx *ctx);
/* Revoke on the relay (best effort), remove the service, delete the profile; --yes required. */
int dr_cmd_uninstall(struct dr_config *c, const struct dr_cmd_ctx *ctx);
int dr_cmd_remove(struct dr_config *c, const struct dr_cmd_ctx *ctx);
/* As uninstall, for every profile. */
int dr_cmd_clear(struct dr_config *c, const struct dr_cmd_ctx *ctx);
int dr_cmd_doctor(struct dr_config *c, const struct dr_cmd_ctx *ctx);
/* Warns, as doctor would fail, when we run as root and claude is among c's executors. */
void dr_cmd_warn_root(const struct dr_config *c);
/* `workspace ls|gc [--dry-run] [--json] [--auto]` (gc.h); c->positional[0] is ls or gc. */
int dr_cmd_workspace(struct dr_config *c, const struct dr_cmd_ctx *ctx);

#endif
