/* admin: pairing, runner management, jobs and settings for the panel and the CLI. */
#include "admin.h"

#include "api.h"
#include "clock.h"

#include "delego/buf.h"
#include "delego/json.h"
#include "delego/xalloc.h"

#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

/* Quotes s for a POSIX shell when it holds anything but safe characters. */
static void add_shell_word(struct dr_buf *b, const char *s)
{
	bool plain = *s != '\0';
	for (const char *p = s; *p; p++)
		if (!strchr("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_./:=@,+%~", *p))
			plain = false;
	if (plain && s[0] != '~') {
		dr_buf_addstr(b, s);
		return;
	}
	if (s[0] == '~' && (s[1] == '/' || !s[1])) {
		/* Leave ~ unquoted so the user's shell expands it. */
		dr_buf_addch(b, '~');
		s++;
		if (!*s)
			return;
	}
	dr_buf_addch(b, '\'');
	for (const char *p = s; *p; p++) {
		if (*p == '\'')
			dr_buf_addstr(b, "'\\''");
		else
			dr_buf_addch(b, *p);
	}
	dr_buf_addch(b, '\'');
}

char *relay_admin_pair_command(struct relay_store *st, const char *token, unsigned exec_mask)
{
	struct dr_buf b = DR_BUF_INIT(0);
	char *url = relay_store_public_url(st);
	char *ws = relay_store_workspace_path(st);
	/* printf is a shell builtin: the token never sits in a process's argv,
	 * which other local users can read in /proc. */
	dr_buf_addf(&b, "printf '%%s' %s | delego-runner pair --relay-url ", token);
	add_shell_word(&b, url ? url : "http://127.0.0.1:8420");
	dr_buf_addstr(&b, " --pairing-token -");
	if (ws && *ws) {
		dr_buf_addstr(&b, " --workspace-root ");
		add_shell_word(&b, ws);
	}
	if (exec_mask && (exec_mask & RELAY_EXEC_ALL) != RELAY_EXEC_ALL)
		dr_buf_addf(&b, " --supported-executors %s", (exec_mask & RELAY_EXEC_ALL) == RELAY_EXEC_CLAUDE ? "claude" : "codex");
	free(url);
	free(ws);
	return dr_buf_detach(&b, NULL);
}

cJSON *relay_admin_pairing_json(struct relay_store *st, const struct relay_pairing *p, unsigned exec_mask)
{
	char iso[32];
	relay_clock_iso(p->expires_at, iso, sizeof(iso));
	char *cmd = relay_admin_pair_command(st, p->token, exec_mask);
	cJSON *o = cJSON_CreateObject();
	cJSON_AddStringToObject(o, "token", p->token);
	cJSON_AddStringToObject(o, "runnerId", p->runner_id);
	cJSON_AddStringToObject(o, "expiresAt", iso);
	cJSON_AddStringToObject(o, "command", cmd);
	free(cmd);
	return o;
}

static void set_error(struct relay_store *st, int r, int *status, cJSON **answer)
{
	*status = r == -ENOENT ? 404 : r == -EINVAL || r == -EEXIST ? 400 : r == -EAGAIN ? 503 : 500;
	*answer = relay_api_error(relay_store_error(st));
}

static void bad_request(const char *msg, int *status, cJSON **answer)
{
	*status = 400;
	*answer = relay_api_error(msg);
}

static void ok(cJSON *a, int *status, cJSON **answer)
{
	*status = 200;
	*answer = a ? a : cJSON_CreateObject();
}

static const char *str_arg(const cJSON *body, const char *key)
{
	return body ? dr_json_nonempty(body, key) : NULL;
}

static void pair_token(struct relay_store *st, const cJSON *body, int64_t now, int *status, cJSON **answer)
{
	unsigned mask = 0;
	const cJSON *ex = body ? cJSON_GetObjectItemCaseSensitive(body, "executors") : NULL;
	if (ex && !cJSON_IsNull(ex)) {
		if (!cJSON_IsArray(ex))
			return bad_request("executors must be an array of \"claude\" and \"codex\"", status, answer);
		mask = relay_exec_from_json(ex);
		if (!mask)
			return bad_request("choose at least one executor (claude, codex)", status, answer);
	}
	struct relay_pairing p = { 0 };
	int r = relay_store_pair_token(st, str_arg(body, "name"), mask, now, &p);
	if (r < 0)
		return set_error(st, r, status, answer);
	ok(relay_admin_pairing_json(st, &p, mask), status, answer);
	relay_pairing_release(&p);
}

static void runner_op(struct relay_store *st, const char *op, const cJSON *body, int64_t now, int *status,
		      cJSON **answer)
{
	const char *id = str_arg(body, "runnerId");
	if (!id)
		return bad_request("runnerId is required", status, answer);
	int r;
	if (!strcmp(op, "rotate")) {
		struct relay_pairing p = { 0 };
		if ((r = relay_store_rotate(st, id, now, &p)) < 0)
			return set_error(st, r, status, answer);
		ok(relay_admin_pairing_json(st, &p, 0), status, answer);
		relay_pairing_release(&p);
		return;
	}
	r = !strcmp(op, "remove") ? relay_store_remove(st, id, now) : relay_store_request_restart(st, id, now);
	if (r < 0)
		return set_error(st, r, status, answer);
	ok(NULL, status, answer);
}

static void job_add(struct relay_store *st, const cJSON *body, int64_t now, int *status, cJSON **answer)
{
	char *id = NULL;
	int r;
	const cJSON *raw = body ? cJSON_GetObjectItemCaseSensitive(body, "raw") : NULL;
	if (raw) {
		r = relay_store_job_add_raw(st, raw, now, &id);
	} else {
		struct relay_job_spec sp = {
			.repo = str_arg(body, "repo"),
			.executor = str_arg(body, "executor"),
			.model = str_arg(body, "model"),
			.thinking = str_arg(body, "thinking"),
			.identifier = str_arg(body, "identifier"),
			.title = str_arg(body, "title"),
			.url = str_arg(body, "url"),
			.prompt = str_arg(body, "prompt"),
			.auto_push = body && dr_json_true(body, "autoPush"),
			.auto_create_pr = body && dr_json_true(body, "autoCreatePr"),
			.pr_draft = body && dr_json_true(body, "prDraft"),
		};
		r = relay_store_job_add(st, &sp, now, &id);
	}
	if (r < 0)
		return set_error(st, r, status, answer);
	cJSON *a = cJSON_CreateObject();
	cJSON_AddStringToObject(a, "id", id);
	free(id);
	ok(a, status, answer);
}

static void job_op(struct relay_store *st, const char *op, const cJSON *body, int64_t now, int *status,
		   cJSON **answer)
{
	const char *id = str_arg(body, "id");
	if (!id)
		return bad_request("the job id is required", status, answer);
	cJSON *out = NULL;
	int r;
	if (!strcmp(op, "show"))
		r = relay_store_job_show(st, id, &out);
	else if (!strcmp(op, "cancel"))
		r = relay_store_job_cancel(st, id, now);
	else {
		const char *text = str_arg(body, "text");
		if (!text)
			return bad_request("the answer text is required", status, answer);
		r = relay_store_job_answer(st, id, text, now);
	}
	if (r < 0)
		return set_error(st, r, status, answer);
	ok(out, status, answer);
}

static void settings(struct relay_store *st, const char *method, const cJSON *body, int *status, cJSON **answer)
{
	int r;
	if (!strcmp(method, "POST")) {
		const cJSON *ws = body ? cJSON_GetObjectItemCaseSensitive(body, "workspacePath") : NULL;
		const char *wsv = cJSON_IsString(ws) ? ws->valuestring : cJSON_IsNull(ws) ? "" : NULL;
		if ((r = relay_store_settings_set(st, str_arg(body, "defaultExecutor"), wsv)) < 0)
			return set_error(st, r, status, answer);
	}
	cJSON *out = NULL;
	if ((r = relay_store_settings(st, &out)) < 0)
		return set_error(st, r, status, answer);
	ok(out, status, answer);
}

static void state(struct relay_store *st, int64_t now, int *status, cJSON **answer)
{
	cJSON *runners = NULL, *jobs = NULL, *set = NULL;
	int r;
	if ((r = relay_store_runners(st, now, &runners)) < 0 || (r = relay_store_jobs(st, 50, true, &jobs)) < 0 ||
	    (r = relay_store_settings(st, &set)) < 0) {
		cJSON_Delete(runners);
		cJSON_Delete(jobs);
		return set_error(st, r, status, answer);
	}
	long on, stale;
	relay_store_thresholds(st, &on, &stale);
	char iso[32];
	relay_clock_iso(now, iso, sizeof(iso));
	cJSON *a = cJSON_CreateObject();
	cJSON_AddStringToObject(a, "now", iso);
	cJSON_AddItemToObject(a, "runners", runners);
	cJSON_AddItemToObject(a, "jobs", jobs);
	cJSON_AddItemToObject(a, "settings", set);
	cJSON *t = cJSON_AddObjectToObject(a, "thresholds");
	cJSON_AddNumberToObject(t, "onlineSeconds", (double)on);
	cJSON_AddNumberToObject(t, "staleSeconds", (double)stale);
	ok(a, status, answer);
}

void relay_admin_handle(struct relay_store *st, const char *method, const char *path, const cJSON *body,
			int64_t now, int *status, cJSON **answer)
{
	static const char prefix[] = "/api/admin/";
	const char *name = strncmp(path, prefix, sizeof(prefix) - 1) ? "" : path + sizeof(prefix) - 1;
	bool get = !strcmp(method, "GET"), post = !strcmp(method, "POST");
	if (body && !cJSON_IsObject(body))
		return bad_request("the request body must be a JSON object", status, answer);
	if (get && !strcmp(name, "state"))
		return state(st, now, status, answer);
	if (get && !strcmp(name, "runners")) {
		cJSON *out;
		int r = relay_store_runners(st, now, &out);
		return r < 0 ? set_error(st, r, status, answer) : ok(out, status, answer);
	}
	if (get && !strcmp(name, "jobs")) {
		cJSON *out;
		int r = relay_store_jobs(st, 0, false, &out);
		return r < 0 ? set_error(st, r, status, answer) : ok(out, status, answer);
	}
	if ((get || post) && !strcmp(name, "settings"))
		return settings(st, method, body, status, answer);
	if (post && !strcmp(name, "pair-token"))
		return pair_token(st, body, now, status, answer);
	if (post && (!strcmp(name, "runners/rotate") || !strcmp(name, "runners/remove") ||
		     !strcmp(name, "runners/restart")))
		return runner_op(st, name + strlen("runners/"), body, now, status, answer);
	if (post && !strcmp(name, "jobs"))
		return job_add(st, body, now, status, answer);
	if (post && (!strcmp(name, "jobs/show") || !strcmp(name, "jobs/cancel") || !strcmp(name, "jobs/answer")))
		return job_op(st, name + strlen("jobs/"), body, now, status, answer);
	*status = 404;
	*answer = relay_api_error("no such admin endpoint");
}
