/*
 * cmd_run: `delego-runner run` (the daemon) and the Node runner's bare
 * command line, which pairs first when given a token.
 */
#include "commands.h"
#include "delego/credentials.h"
#include "delego/log.h"
#include "delego/redact.h"
#include "delego/runner.h"
#include "delego/strv.h"
#include "delego/xalloc.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

extern char **environ;

/* Loads the profile the daemon runs as; returns an exit status. */
static int load_profile(struct dr_config *c, struct dr_profile *p)
{
	char err[1024];
	unsigned insecure = 0;
	struct dr_credentials *creds;
	if (dr_credentials_load(c->credentials_path, &creds, &insecure, err, sizeof err) < 0) {
		dr_log_err("%s", err);
		return DR_EXIT_CONFIG;
	}
	if (insecure)
		dr_log_warn("credentials file %s has mode %04o; others may read the runner's credential: chmod 600 %s",
			c->credentials_path, insecure, c->credentials_path);
	int r = dr_credentials_get(creds, c->profile, p);
	dr_credentials_free(creds);
	bool named = strcmp(c->profile, "default") != 0;
	if (r == -ENOENT) {
		dr_log_err("profile %s is not paired: pair it with printf '%%s' drs_pair_... | delego-runner pair --relay-url "
		       "<relay> --pairing-token -%s%s (the dashboard's Runners panel shows the command)", c->profile,
		       named ? " --profile " : "", named ? c->profile : "");
		return DR_EXIT_CONFIG;
	}
	if (r < 0) {
		dr_log_err("profile %s in %s lacks relayUrl, runnerId or bearer: pair it again", c->profile,
		       c->credentials_path);
		return DR_EXIT_CONFIG;
	}
	if (c->relay_url && strcmp(c->relay_url, p->relay_url) != 0) {
		dr_log_err("--relay-url %s does not match the relay profile %s was paired with (%s): pass the matching "
		       "--relay-url, or pair again against the new relay with --pairing-token", c->relay_url,
		       c->profile, p->relay_url);
		dr_credentials_profile_release(p);
		return DR_EXIT_USAGE;
	}
	return 0;
}

/*
 * The configuration a run uses: defaults, file, environment and flags (c),
 * then what the profile recorded at pairing (workspaceRoot,
 * supportedExecutors) where c kept a default. At start and on SIGHUP alike.
 */
static int load_for_run(struct dr_config *c, struct dr_profile *p)
{
	int status = load_profile(c, p);
	if (status)
		return status;
	dr_config_apply_profile(c, p);
	if (!c->relay_url)
		c->relay_url = dr_xstrdup(p->relay_url);
	if ((status = dr_check_relay_url(c, p->relay_url))) {
		dr_credentials_profile_release(p);
		return status;
	}
	/* --agent-env NAME=VALUE entries reach agents as environment values do: mask the secret-looking ones too
	 * (values a reload drops stay masked; the set only grows). */
	if (dr_redact_add_env(NULL, c->agent_env) < 0)
		dr_log_warn("some secret-looking --agent-env values are too long or too many to redact from logs");
	return 0;
}

static struct dr_config *reload_config(void *data)
{
	const struct dr_cmd_ctx *ctx = data;
	char err[1024];
	struct dr_config *c;
	struct dr_profile p = { 0 };
	if (dr_config_load(ctx->argc, ctx->argv, NULL, &c, err, sizeof err) < 0) {
		dr_log_err("%s; not reloading", err);
		return NULL;
	}
	if (load_for_run(c, &p)) {
		dr_log_err("not reloading: the profile cannot be used (above)");
		dr_config_free(c);
		return NULL;
	}
	dr_credentials_profile_release(&p);
	return c;
}

int dr_cmd_run(struct dr_config *c, const struct dr_cmd_ctx *ctx)
{
	struct dr_profile p = { 0 };
	char err[1024];
	int status = load_for_run(c, &p);
	if (status) {
		dr_config_free(c);
		return status;
	}
	dr_log_add_secret(p.bearer);
	if (dr_redact_add_env(NULL, environ) < 0)
		dr_log_warn("some secret-looking environment values are too long or too many to redact from logs");
	dr_cmd_warn_root(c);

	uv_loop_t loop;
	uv_loop_init(&loop);
	struct dr_runner *runner;
	struct dr_runner_opts opts = {
		.loop = &loop,
		.config = c,
		.runner_id = p.runner_id,
		.bearer = p.bearer,
		.version = DR_VERSION,
	};
	/* `run` and its options, for SIGUSR2 (upgrade in place); never a pairing token (the profile is paired). */
	struct dr_strv exec_argv = DR_STRV_INIT;
	dr_strv_push(&exec_argv, ctx->prog ? ctx->prog : "delego-runner");
	dr_strv_push(&exec_argv, "run");
	for (int i = 0; i < ctx->argc; i++) {
		const char *a = ctx->argv[i];
		if (!strncmp(a, "--pairing-token", 15)) {
			i += !strchr(a, '=') && i + 1 < ctx->argc; /* and its value */
			continue;
		}
		if (!strcmp(a, "--background") || !strcmp(a, "-b"))
			continue;
		dr_strv_push(&exec_argv, a);
	}
	opts.exec_argv = exec_argv.v;
	int rc = dr_runner_new(&opts, &runner, err, sizeof err);
	dr_strv_release(&exec_argv);
	if (rc < 0) {
		dr_log_err("%s", err);
		dr_credentials_profile_release(&p);
		dr_config_free(c);
		uv_loop_close(&loop);
		return rc == -EPERM ? DR_EXIT_CONFIG : DR_EXIT_FAILURE;
	}
	dr_credentials_profile_release(&p);
	dr_runner_on_reload(runner, reload_config, (void *)ctx);
	status = dr_runner_run(runner);
	dr_runner_free(runner);
	uv_run(&loop, UV_RUN_DEFAULT);
	if (uv_loop_close(&loop) != 0)
		dr_log_debug("loop closed with handles still open");
	return status;
}

int dr_cmd_default(struct dr_config *c, const struct dr_cmd_ctx *ctx)
{
	if (c->pairing_token || c->pairing_token_file) {
		int status = dr_pair(c, NULL);
		if (status != DR_EXIT_OK) {
			dr_config_free(c);
			return status;
		}
	}
	/* As the Node runner: -b installs the service, which then runs the daemon. */
	if (c->background) {
		int status = dr_service_install(c);
		dr_config_free(c);
		return status;
	}
	return dr_cmd_run(c, ctx);
}

int dr_cmd_config(struct dr_config *c, const struct dr_cmd_ctx *ctx)
{
	(void)ctx;
	/* What `run` would use: the profile's recorded values too, when it is paired. */
	struct dr_credentials *creds = NULL;
	struct dr_profile p = { 0 };
	unsigned insecure = 0;
	char err[1024];
	if (dr_credentials_load(c->credentials_path, &creds, &insecure, err, sizeof err) == 0) {
		if (dr_credentials_get(creds, c->profile, &p) == 0) {
			dr_config_apply_profile(c, &p);
			dr_credentials_profile_release(&p);
		}
		dr_credentials_free(creds);
	}
	char *text = dr_config_describe(c);
	fputs(text, stdout);
	free(text);
	return DR_EXIT_OK;
}
