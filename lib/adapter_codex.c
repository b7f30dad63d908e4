/* adapter_codex: `codex exec --json` events (delego-runner-protocol(7), AGENT STREAMS). */
#include "adapter-int.h"
#include "delego/json.h"
#include "delego/strv.h"
#include "delego/xalloc.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define COMMAND_MAX 160
#define SUMMARY_MAX 200

static bool blank(const char *s)
{
	return s[strspn(s, " \t\r\n")] == '\0';
}

static char *cut(const char *s, size_t max)
{
	return dr__adapter_clean(s, strlen(s), max, true);
}

/* Codex runs shell commands as `/bin/bash -lc '<cmd>'`: show the inner command. */
static char *unwrap_command(const char *command)
{
	const char *p = strstr(command, " -lc ");
	if (!p)
		return cut(command, COMMAND_MAX);
	p += 5;
	p += strspn(p, " \t\r\n");
	size_t n = strlen(p);
	while (n && strchr(" \t\r\n", p[n - 1]))
		n--;
	if (n >= 2 && (p[0] == '\'' || p[0] == '"') && p[n - 1] == p[0]) {
		p++;
		n -= 2;
	}
	return dr__adapter_clean(p, n, COMMAND_MAX, true);
}

static char *file_changes(const cJSON *changes)
{
	int n = cJSON_GetArraySize(changes);
	if (n == 0)
		return dr_xstrdup("edit files");
	const char *path = dr_json_str(cJSON_GetArrayItem(changes, 0), "path");
	char *label;
	if (path && !blank(path)) {
		char *p = cut(path, COMMAND_MAX);
		label = dr_xasprintf("edit %s", p);
		free(p);
	} else {
		label = dr_xasprintf("edit %d file%s", n, n == 1 ? "" : "s");
	}
	if (n == 1)
		return label;
	char *out = dr_xasprintf("%s (+%d more)", label, n - 1);
	free(label);
	return out;
}

static char *todo_list(const cJSON *items)
{
	int n = cJSON_GetArraySize(items), done = 0;
	if (n == 0)
		return dr_xstrdup("update todo list");
	const cJSON *it;
	cJSON_ArrayForEach(it, items)
	{
		if (dr_json_true(it, "completed"))
			done++;
	}
	return dr_xasprintf("update todo list (%d/%d)", done, n);
}

/* An error report: remembered for the summary and shown, since offline codex says nothing else. */
static char *on_error(struct dr_adapter *a, const char *msg)
{
	a->last_event = DR_ADAPTER_EVENT_ERROR;
	if (!msg)
		return NULL;
	dr__adapter_set(&a->last_error, msg, DR_ADAPTER_ERROR_MAX, false);
	char *shown = cut(msg, SUMMARY_MAX);
	char *out = dr_xasprintf("error: %s", shown);
	free(shown);
	return out;
}

static char *item_completed(struct dr_adapter *a, const cJSON *item)
{
	const char *type = dr_json_str(item, "type");
	const char *text = dr_json_str(item, "text");
	if (!type)
		return NULL;
	if (strcmp(type, "agent_message") == 0) {
		if (!text || blank(text))
			return NULL;
		dr__adapter_set_reply(a, text);
		return dr__adapter_first_line(text, SUMMARY_MAX);
	}
	if (strcmp(type, "reasoning") == 0)
		return text ? dr__adapter_first_line(text, SUMMARY_MAX) : NULL;
	if (strcmp(type, "command_execution") == 0) {
		const cJSON *code = cJSON_GetObjectItemCaseSensitive(item, "exit_code");
		if (cJSON_IsNumber(code) && code->valuedouble != 0) {
			/* Printed as an integer when it is one; a hostile double is not cast. */
			if (code->valuedouble == (double)code->valueint)
				return dr_xasprintf("command failed (exit %d)", code->valueint);
			return dr_xasprintf("command failed (exit %g)", code->valuedouble);
		}
		return NULL;
	}
	if (strcmp(type, "file_change") == 0)
		return file_changes(dr_json_array(item, "changes"));
	if (strcmp(type, "mcp_tool_call") == 0) {
		const char *server = dr_json_str(item, "server");
		const char *tool = dr_json_str(item, "tool");
		const char *status = dr_json_str(item, "status");
		return dr_xasprintf("%s.%s%s", server ? server : "mcp", tool ? tool : "tool",
				    status && strcmp(status, "failed") == 0 ? " (failed)" : "");
	}
	if (strcmp(type, "web_search") == 0) {
		const char *query = dr_json_nonempty(item, "query");
		return query ? dr_xasprintf("web search: %s", query) : dr_xstrdup("web search");
	}
	if (strcmp(type, "todo_list") == 0)
		return todo_list(dr_json_array(item, "items"));
	if (strcmp(type, "error") == 0) {
		/* Real codex reports transport trouble this way and then succeeds. */
		const char *msg = dr_json_nonempty(item, "message");
		return on_error(a, msg && !blank(msg) ? msg : "Codex error");
	}
	return NULL;
}

static char *codex_event(struct dr_adapter *a, const cJSON *ev)
{
	const char *type = dr_json_str(ev, "type");
	if (!type)
		return NULL;
	if (strcmp(type, "thread.started") == 0) {
		const char *tid = dr_json_nonempty(ev, "thread_id");
		if (tid)
			dr__adapter_set(&a->session_id, tid, DR__ADAPTER_SESSION_MAX, true);
		return NULL;
	}
	if (strcmp(type, "item.started") == 0) {
		const cJSON *item = dr_json_obj(ev, "item");
		const char *itype = dr_json_str(item, "type");
		const char *command = dr_json_str(item, "command");
		if (!itype || strcmp(itype, "command_execution") != 0 || !command)
			return NULL;
		char *cmd = unwrap_command(command);
		char *out = dr_xasprintf("$ %s", cmd);
		free(cmd);
		return out;
	}
	if (strcmp(type, "item.completed") == 0) {
		const cJSON *item = dr_json_obj(ev, "item");
		char *label = item ? item_completed(a, item) : NULL;
		char *out = label ? cut(label, SUMMARY_MAX) : NULL;
		free(label);
		return out;
	}
	if (strcmp(type, "turn.failed") == 0) {
		const cJSON *err = cJSON_GetObjectItemCaseSensitive(ev, "error");
		const char *msg = cJSON_IsString(err) ? err->valuestring : dr_json_str(err, "message");
		if (!msg || blank(msg))
			msg = a->last_error ? a->last_error : "Codex reported a failed turn without a message.";
		if (!a->fatal_error)
			dr__adapter_set(&a->fatal_error, msg, DR_ADAPTER_ERROR_MAX, false);
		return NULL;
	}
	if (strcmp(type, "error") == 0) {
		const char *msg = dr_json_nonempty(ev, "message");
		return on_error(a, msg && !blank(msg) ? msg : NULL);
	}
	return NULL;
}

/* The reply of an agent_message item, again from the whole line. */
static void codex_reply(struct dr_adapter *a, const cJSON *ev)
{
	const cJSON *item = dr_json_obj(ev, "item");
	const char *type = dr_json_str(item, "type");
	const char *text = dr_json_str(item, "text");
	if (type && strcmp(type, "agent_message") == 0 && text && !blank(text))
		dr__adapter_set_reply(a, text);
}

static char **codex_argv(const struct dr_invocation *inv)
{
	if (!inv->prompt || !inv->worktree)
		return NULL;
	size_t nargs = dr_strv_len(inv->args), at = 0;
	bool has_json = false;
	for (size_t i = 0; i < nargs; i++)
		has_json |= strcmp(inv->args[i], "--json") == 0;
	/* Right after "exec"; the front when there is none, as the Node runner does. */
	for (size_t i = 0; i < nargs; i++)
		if (strcmp(inv->args[i], "exec") == 0) {
			at = i + 1;
			break;
		}
	struct dr_strv v = DR_STRV_INIT;
	dr_strv_push(&v, inv->command);
	for (size_t i = 0; i <= nargs; i++) {
		if (!has_json && i == at)
			dr_strv_push(&v, "--json");
		if (i < nargs)
			dr_strv_push(&v, inv->args[i]);
	}
	if (inv->model && *inv->model) {
		dr_strv_push(&v, "-m");
		dr_strv_push(&v, inv->model);
	}
	if (inv->thinking && *inv->thinking) {
		dr_strv_push(&v, "--config");
		dr_strv_push_take(&v, dr_xasprintf("model_reasoning_effort=\"%s\"", inv->thinking));
	}
	dr_strv_push(&v, "--cd");
	dr_strv_push(&v, inv->worktree);
	dr_strv_push_take(&v, dr__adapter_operand(inv->prompt));
	return dr_strv_take(&v);
}

static char *codex_explain(const struct dr_adapter *a, const char *err, const char *out)
{
	(void)a;
	const char *needles[] = { "Not logged in", "not logged in", "codex login", "401 Unauthorized" };
	for (size_t i = 0; i < sizeof needles / sizeof *needles; i++)
		if (strstr(err, needles[i]) || strstr(out, needles[i]))
			return dr_xstrdup("Codex is not logged in on this machine. Log it in as the user that runs "
					  "delego-runner (run `codex login`) and retry the job.");
	return NULL;
}

const struct dr__adapter_ops dr__adapter_codex = {
	.name = "codex",
	.label = "Codex",
	.event = codex_event,
	.text = NULL,
	.reply = codex_reply,
	.argv = codex_argv,
	.explain = codex_explain,
};
