/* adapter_claude: Claude Code's --output-format stream-json (delego-runner-protocol(7), AGENT STREAMS). */
#include "adapter-int.h"
#include "delego/buf.h"
#include "delego/json.h"
#include "delego/strv.h"
#include "delego/xalloc.h"

#include <stdlib.h>
#include <string.h>

#define TOOL_DETAIL_MAX 120
#define QUESTION_MAX (16 * 1024)
#define OPTIONS_MAX 16
#define LABEL_MAX 1024
#define DESCRIPTION_MAX 4096
#define HEADER_MAX 256
#define SAID_MAX 200

/* Claude Code reports an unusable model this way, and may still end with a "success" result. */
static const char model_issue[] = "There's an issue with the selected model";

static bool blank(const char *s)
{
	return s[strspn(s, " \t\r\n")] == '\0';
}

static char *login_message(const char *said)
{
	char *quote = said ? dr__adapter_first_line(said, SAID_MAX) : NULL;
	char *msg = dr_xasprintf("Claude Code is not logged in on this machine%s%s%s. Log the claude CLI in as the "
				 "user that runs delego-runner (run `claude`, then /login) and retry the job.",
				 quote ? " (it said: \"" : "", quote ? quote : "", quote ? "\")" : "");
	free(quote);
	return msg;
}

static void set_fatal(struct dr_adapter *a, const char *msg)
{
	if (!a->fatal_error)
		dr__adapter_set(&a->fatal_error, msg, DR_ADAPTER_ERROR_MAX, false);
}

static void set_login_fatal(struct dr_adapter *a, const char *said)
{
	if (a->fatal_error)
		return;
	char *msg = login_message(said);
	set_fatal(a, msg);
	free(msg);
	a->login_advised = true;
}

/* The model-issue sentence in text, up to the end of its line, or NULL. */
static char *find_model_issue(const char *text)
{
	const char *p = strstr(text, model_issue);
	if (!p)
		return NULL;
	return dr__adapter_clean(p, strcspn(p, "\r\n"), DR_ADAPTER_ERROR_MAX, true);
}

/* input.questions[0] as {question, options:[{label, description?}], header?, multiSelect?}, or NULL. */
static cJSON *parse_question(const cJSON *input)
{
	const cJSON *first = cJSON_GetArrayItem(dr_json_array(input, "questions"), 0);
	const char *text = dr_json_str(first, "question");
	if (!cJSON_IsObject(first) || !text || blank(text))
		return NULL;
	cJSON *q = cJSON_CreateObject();
	char *s = dr__adapter_clean(text, strlen(text), QUESTION_MAX, false);
	cJSON_AddStringToObject(q, "question", s);
	free(s);
	cJSON *options = cJSON_AddArrayToObject(q, "options");
	const cJSON *opt;
	int kept = 0;
	cJSON_ArrayForEach(opt, dr_json_array(first, "options"))
	{
		const char *label = dr_json_str(opt, "label");
		if (!label || blank(label))
			continue;
		if (kept++ == OPTIONS_MAX)
			break;
		cJSON *o = cJSON_CreateObject();
		s = dr__adapter_clean(label, strlen(label), LABEL_MAX, true);
		cJSON_AddStringToObject(o, "label", s);
		free(s);
		const char *desc = dr_json_nonempty(opt, "description");
		if (desc) {
			s = dr__adapter_clean(desc, strlen(desc), DESCRIPTION_MAX, false);
			cJSON_AddStringToObject(o, "description", s);
			free(s);
		}
		cJSON_AddItemToArray(options, o);
	}
	const char *header = dr_json_str(first, "header");
	if (header) {
		s = dr__adapter_clean(header, strlen(header), HEADER_MAX, true);
		cJSON_AddStringToObject(q, "header", s);
		free(s);
	}
	const cJSON *multi = cJSON_GetObjectItemCaseSensitive(first, "multiSelect");
	if (cJSON_IsBool(multi))
		cJSON_AddBoolToObject(q, "multiSelect", cJSON_IsTrue(multi));
	return q;
}

/* "Name detail": the first telling field of the tool's input. */
static char *tool_progress(const char *name, const cJSON *input)
{
	static const char *const keys[] = { "file_path", "path", "command", "pattern", "url", "description" };
	for (size_t i = 0; i < sizeof keys / sizeof *keys; i++) {
		const char *v = dr_json_str(input, keys[i]);
		if (!v || blank(v))
			continue;
		char *detail = dr__adapter_clean(v, strlen(v), TOOL_DETAIL_MAX, true);
		char *out = dr_xasprintf("%s %s", name, detail);
		free(detail);
		return out;
	}
	const cJSON *todos = dr_json_array(input, "todos");
	if (strcmp(name, "TodoWrite") == 0 && todos)
		return dr_xasprintf("%s (%d todos)", name, cJSON_GetArraySize(todos));
	return dr_xstrdup(name);
}

/* The text blocks of an assistant message, joined by blank lines, into reply. */
static void join_text(const cJSON *content, struct dr_buf *reply)
{
	const cJSON *block;
	cJSON_ArrayForEach(block, content)
	{
		const char *type = dr_json_str(block, "type");
		const char *text = dr_json_str(block, "text");
		if (!type || strcmp(type, "text") != 0 || !text || blank(text))
			continue;
		if (reply->len)
			dr_buf_addstr(reply, "\n\n");
		dr_buf_addstr(reply, text);
	}
}

static char *on_assistant(struct dr_adapter *a, const cJSON *ev)
{
	const cJSON *content = dr_json_array(dr_json_obj(ev, "message"), "content");
	struct dr_buf reply = DR_BUF_INIT(0);
	join_text(content, &reply);
	char *progress = NULL;
	const cJSON *block;
	cJSON_ArrayForEach(block, content)
	{
		const char *type = dr_json_str(block, "type");
		if (!type)
			continue;
		const char *text = dr_json_str(block, "text");
		const char *name = dr_json_str(block, "name");
		if (strcmp(type, "text") == 0 && text && !blank(text)) {
			if (!progress)
				progress = dr__adapter_first_line(text, DR_ADAPTER_PROGRESS_MAX);
			char *issue = find_model_issue(text);
			if (issue)
				set_fatal(a, issue);
			free(issue);
		} else if (strcmp(type, "tool_use") == 0 && name && *name) {
			const cJSON *input = cJSON_GetObjectItemCaseSensitive(block, "input");
			if (!progress)
				progress = tool_progress(name, input);
			if (strcmp(name, "AskUserQuestion") != 0)
				continue;
			const char *id = dr_json_nonempty(block, "id");
			cJSON *q = id ? parse_question(input) : NULL;
			if (q)
				dr__adapter_pending_set(a, id, q);
		}
	}
	if (reply.len)
		dr__adapter_set_reply(a, reply.buf);

	/* A synthetic assistant message carries the API error beside its text. */
	const char *error = dr_json_nonempty(ev, "error");
	if (error && strcmp(error, "authentication_failed") == 0) {
		a->auth_failed = true;
		set_login_fatal(a, reply.len ? reply.buf : NULL);
	} else if (error) {
		char *said = reply.len ? dr__adapter_first_line(reply.buf, SAID_MAX) : NULL;
		char *msg = dr_xasprintf("Claude reported %s%s%s", error, said ? ": " : "", said ? said : "");
		dr__adapter_set(&a->last_error, msg, DR_ADAPTER_ERROR_MAX, true);
		free(msg);
		free(said);
	}
	dr_buf_release(&reply);
	return progress;
}

static void on_user(struct dr_adapter *a, const cJSON *ev)
{
	const cJSON *block;
	cJSON_ArrayForEach(block, dr_json_array(dr_json_obj(ev, "message"), "content"))
	{
		const char *type = dr_json_str(block, "type");
		const char *id = dr_json_nonempty(block, "tool_use_id");
		/* An error result is what non-interactive mode returns for AskUserQuestion:
		 * the question stays unanswered. */
		if (type && strcmp(type, "tool_result") == 0 && id && !dr_json_true(block, "is_error"))
			dr__adapter_pending_drop(a, id);
	}
}

static void on_result(struct dr_adapter *a, const cJSON *ev)
{
	const char *text = dr_json_str(ev, "result");
	if (dr_json_true(ev, "is_error")) {
		if (a->auth_failed || (text && strstr(text, "Not logged in"))) {
			set_login_fatal(a, text);
		} else {
			/* Without a result text (a failed --resume, say) the reason is in errors[]. */
			const cJSON *first = cJSON_GetArrayItem(dr_json_array(ev, "errors"), 0);
			if (!text || blank(text))
				text = cJSON_IsString(first) ? first->valuestring : NULL;
			char *said = text ? dr__adapter_first_line(text, SAID_MAX) : NULL;
			const char *subtype = dr_json_nonempty(ev, "subtype");
			char *msg = said ? dr_xasprintf("Claude reported an error: %s", said)
					 : dr_xasprintf("Claude reported an error (%s).", subtype ? subtype : "no detail");
			set_fatal(a, msg);
			free(msg);
			free(said);
		}
	} else if (!a->final_reply && text && !blank(text)) {
		dr__adapter_set_reply(a, text);
	}

	/* The denial of AskUserQuestion is the authoritative pending question:
	 * the stream's tool_use/tool_result pairs can miss it. */
	const cJSON *d;
	cJSON_ArrayForEach(d, dr_json_array(ev, "permission_denials"))
	{
		const char *tool = dr_json_str(d, "tool_name");
		if (!tool || strcmp(tool, "AskUserQuestion") != 0)
			continue;
		cJSON *q = parse_question(dr_json_obj(d, "tool_input"));
		const char *id = dr_json_str(d, "tool_use_id");
		if (q)
			dr__adapter_pending_set(a, id ? id : "", q);
	}
}

static char *claude_event(struct dr_adapter *a, const cJSON *ev)
{
	const char *type = dr_json_str(ev, "type");
	const char *sid = dr_json_nonempty(ev, "session_id");
	if (!type)
		return NULL;
	if (strcmp(type, "system") == 0) {
		const char *subtype = dr_json_str(ev, "subtype");
		if (subtype && strcmp(subtype, "init") == 0 && sid)
			dr__adapter_set(&a->session_id, sid, DR__ADAPTER_SESSION_MAX, true);
		return NULL;
	}
	/* Every event names the session; use that when init went missing. */
	if (!a->session_id && sid)
		dr__adapter_set(&a->session_id, sid, DR__ADAPTER_SESSION_MAX, true);
	if (strcmp(type, "assistant") == 0)
		return on_assistant(a, ev);
	if (strcmp(type, "user") == 0)
		on_user(a, ev);
	else if (strcmp(type, "result") == 0)
		on_result(a, ev);
	return NULL;
}

/* The reply of an assistant message or a result, again from the whole line. */
static void claude_reply(struct dr_adapter *a, const cJSON *ev)
{
	const char *type = dr_json_str(ev, "type");
	const char *text = dr_json_str(ev, "result");
	if (type && strcmp(type, "assistant") == 0) {
		struct dr_buf reply = DR_BUF_INIT(0);
		join_text(dr_json_array(dr_json_obj(ev, "message"), "content"), &reply);
		if (reply.len)
			dr__adapter_set_reply(a, reply.buf);
		dr_buf_release(&reply);
	} else if (type && strcmp(type, "result") == 0 && text && !blank(text)) {
		dr__adapter_set_reply(a, text);
	}
}

/* Questions and the model-issue line can sit anywhere in a long string. */
static const char *const claude_whole[] = { "AskUserQuestion", "issue with the selected model", NULL };

static void claude_text(struct dr_adapter *a, const char *line)
{
	if (strstr(line, model_issue))
		set_fatal(a, line);
}

static char **claude_argv(const struct dr_invocation *inv)
{
	bool resume = inv->resume_session_id && inv->resume_user_reply;
	if (!resume && !inv->prompt)
		return NULL;
	struct dr_strv v = DR_STRV_INIT;
	dr_strv_push(&v, inv->command);
	for (char *const *p = inv->args; p && *p; p++)
		dr_strv_push(&v, *p);
	if (inv->model && *inv->model) {
		dr_strv_push(&v, "--model");
		dr_strv_push(&v, inv->model);
	}
	if (resume) {
		dr_strv_push(&v, "--resume");
		dr_strv_push(&v, inv->resume_session_id);
		dr_strv_push_take(&v, dr__adapter_operand(inv->resume_user_reply));
	} else {
		dr_strv_push_take(&v, dr__adapter_operand(inv->prompt));
	}
	return dr_strv_take(&v);
}

static char *claude_explain(const struct dr_adapter *a, const char *err, const char *out)
{
	if (strstr(err, "cannot be used with root/sudo"))
		return dr_xstrdup("Claude Code refuses --dangerously-skip-permissions when it runs as root, so every "
				  "Claude job fails on this runner. Run delego-runner as an ordinary user, not as root "
				  "or through sudo (for example as a per-user service).");
	if (strstr(err, "Not logged in") || strstr(out, "Not logged in") || strstr(out, "authentication_failed"))
		return a && a->login_advised ? NULL : login_message(NULL);
	if (strstr(err, model_issue) || strstr(out, model_issue))
		return dr_xstrdup("The model requested for this job is not available to the Claude account on this "
				  "machine. Choose another model for the job, or none to use the default.");
	return NULL;
}

const struct dr__adapter_ops dr__adapter_claude = {
	.name = "claude",
	.label = "Claude",
	.event = claude_event,
	.text = claude_text,
	.reply = claude_reply,
	.whole = claude_whole,
	.argv = claude_argv,
	.explain = claude_explain,
};
