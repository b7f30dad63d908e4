/* adapter: dispatch to the executor adapters, and the helpers they share. */
#include "adapter-int.h"
#include "delego/json.h"
#include "delego/platform.h"
#include "delego/redact.h"
#include "delego/utf8.h"
#include "delego/xalloc.h"

#include <stdlib.h>
#include <string.h>

static const struct dr__adapter_ops *find_ops(const char *executor)
{
	if (!executor)
		return NULL;
	if (strcmp(executor, dr__adapter_claude.name) == 0)
		return &dr__adapter_claude;
	if (strcmp(executor, dr__adapter_codex.name) == 0)
		return &dr__adapter_codex;
	return NULL;
}

struct dr_adapter *dr_adapter_new(const char *executor)
{
	const struct dr__adapter_ops *ops = find_ops(executor);
	if (!ops)
		return NULL;
	struct dr_adapter *a = dr_xcalloc(1, sizeof *a);
	a->ops = ops;
	return a;
}

void dr_adapter_free(struct dr_adapter *a)
{
	if (!a)
		return;
	free(a->session_id);
	free(a->final_reply);
	free(a->reply_line);
	free(a->fatal_error);
	free(a->last_error);
	for (size_t i = 0; i < a->npending; i++) {
		free(a->pending[i].tool_use_id);
		cJSON_Delete(a->pending[i].question);
	}
	free(a);
}

const char *dr_adapter_executor(const struct dr_adapter *a)
{
	return a->ops->name;
}

static bool is_space(char c)
{
	return c == ' ' || c == '\t' || c == '\r' || c == '\n' || c == '\f' || c == '\v';
}

/* A line the cheap parse could get wrong: one whose long strings matter whole (a question, say). */
static bool needs_whole(const struct dr_adapter *a, const char *line, size_t len)
{
	for (const char *const *w = a->ops->whole; w && *w; w++)
		if (memmem(line, len, *w, strlen(*w)))
			return true;
	return false;
}

/* The reply just set came from cut strings (line) or not (NULL): remember the line to read it whole later. */
static void keep_reply_line(struct dr_adapter *a, const char *line, size_t len)
{
	a->reply_pending = line != NULL;
	if (!line)
		return;
	/* One buffer for the whole run: text events come by the thousand. */
	if (a->reply_line_cap < len) {
		free(a->reply_line);
		a->reply_line = dr_xmalloc(len);
		a->reply_line_cap = len;
	}
	memcpy(a->reply_line, line, len);
	a->reply_line_len = len;
}

char *dr_adapter_feed(struct dr_adapter *a, const char *line, size_t len, bool truncated)
{
	if (!a)
		return NULL;
	a->last_event = DR_ADAPTER_EVENT_NONE;
	/* A cut line is neither valid JSON nor a whole message: nothing to learn. */
	if (!line || truncated || len > DR__ADAPTER_LINE_MAX)
		return NULL;
	while (len && is_space(*line)) {
		line++;
		len--;
	}
	while (len && is_space(line[len - 1]))
		len--;
	if (!len)
		return NULL;

	cJSON *ev = NULL;
	bool cut = false;
	if (line[0] == '{' && len > DR__ADAPTER_SKIM_MIN && !needs_whole(a, line, len))
		ev = dr__adapter_parse(line, len, DR__ADAPTER_SKIM_KEEP, &cut);
	else if (line[0] == '{' && dr_json_parse_object(line, len, DR__ADAPTER_LINE_MAX, &ev) < 0)
		ev = NULL;
	if (!ev) {
		if (a->ops->text) {
			char *copy = dr_xstrndup(line, len);
			a->ops->text(a, copy);
			free(copy);
		}
		return NULL;
	}
	/* The adapter marks error reports; everything else shows the agent at work. */
	a->last_event = DR_ADAPTER_EVENT_OTHER;
	unsigned sets = a->reply_sets;
	a->line_cut = cut;
	char *raw = a->ops->event(a, ev);
	a->line_cut = false;
	cJSON_Delete(ev);
	if (a->reply_sets != sets)
		keep_reply_line(a, cut ? line : NULL, len);
	if (!raw)
		return NULL;
	char *prefixed = dr_xasprintf("%s: %s", a->ops->label, raw);
	free(raw);
	char *out = dr__adapter_clean(prefixed, strlen(prefixed), DR_ADAPTER_PROGRESS_MAX, true);
	free(prefixed);
	return out;
}

const char *dr_adapter_session_id(const struct dr_adapter *a)
{
	return a->session_id;
}

const char *dr_adapter_final_reply(const struct dr_adapter *a)
{
	if (a->reply_pending) {
		/* The adapter is the caller's; only this lazily filled field changes. */
		struct dr_adapter *m = (struct dr_adapter *)a;
		cJSON *ev = NULL;
		m->reply_pending = false;
		if (dr_json_parse_object(m->reply_line, m->reply_line_len, DR__ADAPTER_LINE_MAX, &ev) == 0)
			m->ops->reply(m, ev);
		cJSON_Delete(ev);
	}
	return a->final_reply;
}

const char *dr_adapter_fatal_error(const struct dr_adapter *a)
{
	return a->fatal_error;
}

const char *dr_adapter_last_error(const struct dr_adapter *a)
{
	return a->last_error;
}

enum dr_adapter_event dr_adapter_last_event(const struct dr_adapter *a)
{
	return a->last_event;
}

const cJSON *dr_adapter_question(const struct dr_adapter *a)
{
	return a->npending ? a->pending[a->npending - 1].question : NULL;
}

bool dr_adapter_should_stop(const struct dr_adapter *a)
{
	return a->npending > 0 && a->session_id && *a->session_id;
}

char *dr_adapter_explain_failure(const char *executor, const char *stderr_tail, const char *stdout_tail)
{
	const struct dr__adapter_ops *ops = find_ops(executor);
	if (!ops || !ops->explain)
		return NULL;
	return ops->explain(NULL, stderr_tail ? stderr_tail : "", stdout_tail ? stdout_tail : "");
}

char *dr_adapter_explain(const struct dr_adapter *a, const char *stderr_tail, const char *stdout_tail)
{
	if (!a || !a->ops->explain)
		return NULL;
	return a->ops->explain(a, stderr_tail ? stderr_tail : "", stdout_tail ? stdout_tail : "");
}

char **dr_adapter_argv(const struct dr_invocation *inv)
{
	const struct dr__adapter_ops *ops = inv ? find_ops(inv->executor) : NULL;
	if (!ops || !inv->command)
		return NULL;
	return ops->argv(inv);
}

char *dr__adapter_clean(const char *s, size_t len, size_t max, bool one_line)
{
	static const char ellipsis[] = "\xe2\x80\xa6"; /* U+2026 */
	const unsigned char *u = (const unsigned char *)s;
	/* Only about max bytes after the leading blanks can be kept: clean that
	 * much (plus a margin), and only look past it for whether more text
	 * follows. A 64 KiB event line cut to a 240-byte progress line then
	 * costs 240 bytes of work, not 64 KiB. */
	size_t lead = 0;
	while (lead < len && (u[lead] <= ' ' || u[lead] == 0x7f))
		lead++;
	bool more = false;
	unsigned flags = 0;
	/* The margin holds a whole secret: it is redacted before the cut. */
	size_t margin = 64 + dr_redact_longest(NULL);
	if (len - lead > max + margin) {
		size_t limit = lead + max + margin;
		for (size_t i = limit; i < len && !more; i++)
			more = !(u[i] <= ' ' || u[i] == 0x7f);
		len = limit;
		flags = DR_REDACT_CUT_END;
	}
	/* Redact before cutting: a cut inside a secret would leave a piece that
	 * no longer matches it, and that piece would go out. */
	char *red = dr_redact_dup(NULL, s, len, flags, &len);
	u = (const unsigned char *)red;
	/* Pass 1 cleans into out: a bad byte becomes 3 (U+FFFD), so 3 * len at most. */
	char *out = dr_xmalloc(3 * len + 4);
	size_t n = 0;
	for (size_t i = 0; i < len;) {
		size_t k = dr_utf8_seq(u + i, len - i);
		if (k == 0) {
			memcpy(out + n, DR_UTF8_REPLACEMENT, 3);
			n += 3;
			i++;
			continue;
		}
		if (k == 1) {
			unsigned char c = u[i];
			bool keep = !one_line && (c == '\n' || c == '\t');
			out[n++] = (c < 0x20 || c == 0x7f) && !keep ? ' ' : (char)c;
		} else {
			memcpy(out + n, u + i, k);
			n += k;
		}
		i += k;
	}
	size_t start = 0;
	while (start < n && is_space(out[start]))
		start++;
	while (n > start && is_space(out[n - 1]))
		n--;
	size_t clen = n - start;
	memmove(out, out + start, clen);
	if (clen > max || more) {
		size_t keep = max >= 3 ? max - 3 : 0;
		if (keep > clen)
			keep = clen;
		keep = dr_utf8_boundary(out, keep);
		while (keep > 0 && is_space(out[keep - 1]))
			keep--;
		if (max >= 3) {
			memcpy(out + keep, ellipsis, 3);
			clen = keep + 3;
		} else
			clen = keep;
	}
	out[clen] = '\0';
	free(red);
	return out;
}

char *dr__adapter_first_line(const char *s, size_t max)
{
	if (!s)
		return NULL;
	while (*s) {
		size_t n = strcspn(s, "\r\n");
		char *line = dr__adapter_clean(s, n, max, true);
		if (*line)
			return line;
		free(line);
		s += n;
		s += strspn(s, "\r\n");
	}
	return NULL;
}

void dr__adapter_set_reply(struct dr_adapter *a, const char *s)
{
	/* From a cut string only a placeholder: the whole text comes when the reply is asked for. */
	dr__adapter_set(&a->final_reply, a->line_cut ? "" : s, DR_ADAPTER_REPLY_MAX, false);
	a->reply_sets++;
}

void dr__adapter_set(char **dst, const char *s, size_t max, bool one_line)
{
	free(*dst);
	*dst = s ? dr__adapter_clean(s, strlen(s), max, one_line) : NULL;
}

char *dr__adapter_operand(const char *s)
{
	return s[0] == '-' ? dr_xasprintf(" %s", s) : dr_xstrdup(s);
}

void dr__adapter_pending_set(struct dr_adapter *a, const char *tool_use_id, cJSON *question)
{
	dr__adapter_pending_drop(a, tool_use_id);
	if (a->npending == DR__ADAPTER_PENDING_MAX) {
		free(a->pending[0].tool_use_id);
		cJSON_Delete(a->pending[0].question);
		memmove(a->pending, a->pending + 1, (DR__ADAPTER_PENDING_MAX - 1) * sizeof a->pending[0]);
		a->npending--;
	}
	a->pending[a->npending].tool_use_id = dr_xstrdup(tool_use_id);
	a->pending[a->npending].question = question;
	a->npending++;
}

void dr__adapter_pending_drop(struct dr_adapter *a, const char *tool_use_id)
{
	for (size_t i = 0; i < a->npending; i++) {
		if (strcmp(a->pending[i].tool_use_id, tool_use_id) != 0)
			continue;
		free(a->pending[i].tool_use_id);
		cJSON_Delete(a->pending[i].question);
		memmove(a->pending + i, a->pending + i + 1, (a->npending - i - 1) * sizeof a->pending[0]);
		a->npending--;
		return;
	}
}
