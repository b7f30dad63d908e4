/*
 * cmd_pair: `delego-runner pair`: trade a single-use pairing token for a
 * runner bearer and store it in the profile (delego-runner-protocol(7), ENDPOINTS and CREDENTIALS FILE).
 */
#include "commands.h"
#include "delego/buf.h"
#include "delego/credentials.h"
#include "delego/fsutil.h"
#include "delego/http.h"
#include "delego/isotime.h"
#include "delego/json.h"
#include "delego/log.h"
#include "delego/relay.h"
#include "delego/url.h"
#include "delego/xalloc.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#define TOKEN_MAX 1024

struct pair_result {
	bool done;
	int status;
	char *runner_id;
	char *bearer;
};

/* Reads the token from "-" (stdin) or a file; trims whitespace. */
static int read_token(const char *source, char **out)
{
	struct dr_buf b = DR_BUF_INIT(TOKEN_MAX);
	int r;
	if (strcmp(source, "-") == 0) {
		char chunk[256];
		ssize_t n;
		r = 0;
		while ((n = read(STDIN_FILENO, chunk, sizeof chunk)) > 0)
			if ((r = dr_buf_add(&b, chunk, (size_t)n)) < 0)
				break;
		if (n < 0)
			r = -errno;
	} else {
		r = dr_fsutil_read_file(source, &b, NULL);
	}
	if (r < 0) {
		dr_buf_release(&b);
		return r;
	}
	size_t start = 0, end = b.len;
	while (start < end && strchr(" \t\r\n", b.buf[start]))
		start++;
	while (end > start && strchr(" \t\r\n", b.buf[end - 1]))
		end--;
	*out = dr_xstrndup(b.buf + start, end - start);
	memset(b.buf, 0, b.len);
	dr_buf_release(&b);
	return 0;
}

/* Every check that needs no network: exits 64 with a sentence. */
int dr_check_relay_url(const struct dr_config *c, const char *url)
{
	if (dr_url_is_cleartext(url) && !dr_url_is_loopback(url) && !c->allow_insecure_relay) {
		dr_log_err("refusing to send a credential in clear text to %s: use https://, or pass "
		       "--allow-insecure-relay if this network is trusted", url);
		return DR_EXIT_USAGE;
	}
	return 0;
}

static void on_register(const struct dr_relay_reply *reply, void *data)
{
	struct pair_result *res = data;
	res->done = true;
	switch (reply->outcome) {
	case DR_RELAY_UNAUTHORIZED:
		dr_log_err("pairing token expired or already used (%s): mint a new one in the dashboard and pair again",
		       reply->message);
		res->status = DR_EXIT_REJECTED;
		return;
	case DR_RELAY_TRANSIENT:
		if (reply->status == 0) {
			dr_log_err("%s; check the URL and that the relay is running, then try again", reply->message);
			res->status = DR_EXIT_UNAVAILABLE;
		} else {
			dr_log_err("the relay could not pair this runner (%s); try again later", reply->message);
			res->status = reply->status >= 500 || reply->status == 429 ? DR_EXIT_TEMPFAIL : DR_EXIT_PROTOCOL;
		}
		return;
	case DR_RELAY_REJECTED:
		dr_log_err("the relay rejected pairing (%s)", reply->message);
		res->status = DR_EXIT_PROTOCOL;
		return;
	case DR_RELAY_OK:
		break;
	}
	const cJSON *runner = dr_json_obj(reply->body, "runner");
	const char *id = runner ? dr_json_nonempty(runner, "id") : NULL;
	const char *bearer = dr_json_nonempty(reply->body, "bearer");
	if (!id || !bearer || strlen(bearer) > 4096) {
		dr_log_err("the relay returned an unexpected answer to register (missing runner.id or bearer); is the "
		       "URL that of a Delego relay?");
		res->status = DR_EXIT_PROTOCOL;
		return;
	}
	/* It is stored, printed and put in paths and unit names: refuse what could drive a terminal. */
	if (!dr_credentials_runner_id_valid(id)) {
		dr_log_err("the relay returned an invalid runner id (%.64s): expected 1 to 128 letters, digits, '-' or '_'; "
		       "is the URL that of a Delego relay?", id);
		res->status = DR_EXIT_PROTOCOL;
		return;
	}
	res->runner_id = dr_xstrdup(id);
	res->bearer = dr_xstrdup(bearer);
	dr_log_add_secret(bearer);
	res->status = DR_EXIT_OK;
}

int dr_pair(struct dr_config *c, char **runner_id_out)
{
	char err[1024];
	int status;
	char *token = NULL;

	if (!c->relay_url) {
		dr_log_err("pair needs --relay-url (the relay shown in the dashboard's pairing command)");
		return DR_EXIT_USAGE;
	}
	if (c->pairing_token_file || (c->pairing_token && strcmp(c->pairing_token, "-") == 0)) {
		const char *src = c->pairing_token_file ? c->pairing_token_file : "-";
		int r = read_token(src, &token);
		if (r < 0) {
			dr_log_err("cannot read the pairing token from %s: %s", strcmp(src, "-") ? src : "standard input",
			       r == -E2BIG ? "too long" : strerror(-r));
			return DR_EXIT_USAGE;
		}
	} else if (c->pairing_token) {
		token = dr_xstrdup(c->pairing_token);
	} else {
		dr_log_err("pair needs the pairing token: --pairing-token - reads it from standard input (printf '%%s' "
		       "drs_pair_... | delego-runner pair ...), or set DELEGO_PAIRING_TOKEN, or --pairing-token-file PATH");
		return DR_EXIT_USAGE;
	}
	dr_log_add_secret(token);
	if (strncmp(token, "drs_pair_", 9) != 0 || strlen(token) < 10) {
		dr_log_err("--pairing-token must start with drs_pair_ (copy the whole command from the dashboard)");
		status = DR_EXIT_USAGE;
		goto out;
	}
	for (const char *p = token; *p; p++) {
		if ((unsigned char)*p <= ' ' || (unsigned char)*p >= 0x7f) {
			dr_log_err("the pairing token contains a space or control character; copy it again from the dashboard");
			status = DR_EXIT_USAGE;
			goto out;
		}
	}
	if ((status = dr_check_relay_url(c, c->relay_url)))
		goto out;

	unsigned insecure = 0;
	struct dr_credentials *creds = NULL;
	if (dr_credentials_load(c->credentials_path, &creds, &insecure, err, sizeof err) < 0) {
		dr_log_err("%s", err);
		status = DR_EXIT_CONFIG;
		goto out;
	}
	if (insecure)
		dr_log_warn("credentials file %s has mode %04o; others may read runner credentials: chmod 600 %s "
			"(this write fixes it)", c->credentials_path, insecure, c->credentials_path);
	struct dr_profile old = { 0 };
	bool had_profile = dr_credentials_get(creds, c->profile, &old) == 0;

	struct pair_result res = { 0 };
	cJSON *body = cJSON_CreateObject();
	cJSON_AddStringToObject(body, "pairingToken", token);
	cJSON_AddStringToObject(body, "version", DR_VERSION);
	cJSON *ex = cJSON_AddArrayToObject(body, "supportedExecutors");
	for (char **e = c->supported_executors; *e; e++)
		cJSON_AddItemToArray(ex, cJSON_CreateString(*e));
	int r = dr_relay_post_wait(c->relay_url, token, "/api/runner/register", body, 30000, on_register, &res);
	if (r < 0) {
		dr_log_err("cannot start the register request: %s", strerror(-r));
		status = DR_EXIT_FAILURE;
		goto close;
	}
	status = res.status;
	if (status == DR_EXIT_OK) {
		char paired_at[DR_ISOTIME_SIZE];
		dr_isotime_now(paired_at);
		bool ws_given = strcmp(dr_config_source(c, "workspace-root"), "default") != 0;
		bool ex_given = strcmp(dr_config_source(c, "supported-executors"), "default") != 0;
		struct dr_profile p = {
			.relay_url = c->relay_url,
			.runner_id = res.runner_id,
			.bearer = res.bearer,
			.paired_at = paired_at,
			.workspace_root = ws_given ? c->workspace_root : NULL,
			.supported_executors = ex_given ? c->supported_executors : NULL,
		};
		dr_credentials_set(creds, c->profile, &p);
		if (dr_credentials_save(creds, c->credentials_path, err, sizeof err) < 0) {
			dr_log_err("%s; the runner %s is paired on the relay but this machine could not store it: fix the "
			       "problem, then mint a new token and pair again", err, res.runner_id);
			status = DR_EXIT_CANTCREAT;
		} else {
			if (had_profile && strcmp(old.runner_id, res.runner_id) != 0 && !c->force)
				dr_log_warn("profile %s was paired as runner %s; that runner is now orphaned in the dashboard: "
					"remove it there (pass --force to silence this warning)", c->profile, old.runner_id);
			if (runner_id_out)
				*runner_id_out = dr_xstrdup(res.runner_id);
		}
	}
close:
	free(res.runner_id);
	if (res.bearer) {
		memset(res.bearer, 0, strlen(res.bearer));
		free(res.bearer);
	}
	dr_credentials_profile_release(&old);
	dr_credentials_free(creds);
out:
	if (token) {
		memset(token, 0, strlen(token));
		free(token);
	}
	return status;
}

int dr_cmd_pair(struct dr_config *c, const struct dr_cmd_ctx *ctx)
{
	(void)ctx;
	char *id = NULL;
	int status = dr_pair(c, &id);
	if (status == DR_EXIT_OK) {
		bool named = strcmp(c->profile, "default") != 0;
		dr_cmd_out("Paired runner %s with %s (profile %s).\n", id, c->relay_url, c->profile);
		dr_cmd_out("Start it with:\n  delego-runner run%s%s\n", named ? " --profile " : "", named ? c->profile : "");
		dr_cmd_out("or install it as a service that starts at login:\n  delego-runner service install%s%s\n",
		       named ? " --profile " : "", named ? c->profile : "");
		fflush(stdout);
		dr_cmd_warn_root(c);
		if (c->background)
			status = dr_service_install(c);
	}
	free(id);
	return status;
}
