/*
 * The adapters' own JSON parse (lib/adapter_parse.c) against cJSON: the
 * same tree for every recorded stream line and for hand-made ones, long
 * strings cut to a prefix on a character boundary, and what the adapters
 * make of long events (the reply read whole later, questions and the
 * model-issue line parsed whole).
 */
#include "../../lib/adapter-int.h"
#include "delego/buf.h"
#include "delego/redact.h"
#include "delego/xalloc.h"
#include "check_main.h"

#include "../fixtures/streams/replay.h"

#include <string.h>

/* Parses line both ways; when cJSON takes it, ours gives the same tree uncut. */
static void same_as_cjson(const char *line, size_t len, const char *where)
{
	cJSON *want = cJSON_ParseWithLength(line, len);
	bool cut = true;
	cJSON *got = dr__adapter_parse(line, len, 1 << 30, &cut);
	if (want && cJSON_IsObject(want)) {
		ck_assert_msg(got != NULL, "%s: refused: %.*s", where, (int)(len > 200 ? 200 : len), line);
		/* Printed, so that member order and duplicate keys count too. */
		char *w = dr_json_print(want), *g = dr_json_print(got);
		ck_assert_msg(!strcmp(w, g), "%s: differs:\n  %.200s\n  %.200s", where, w, g);
		free(w);
		free(g);
		ck_assert_msg(!cut, "%s: cut without a limit", where);
	}
	cJSON_Delete(want);
	cJSON_Delete(got);
}

static void lines_of(const char *path)
{
	size_t len = 0;
	char *data = replay_slurp(path, &len);
	ck_assert_msg(data != NULL, "cannot read %s", path);
	for (char *p = data; p < data + len;) {
		char *nl = memchr(p, '\n', (size_t)(data + len - p));
		size_t n = nl ? (size_t)(nl - p) : (size_t)(data + len - p);
		if (n && *p == '{')
			same_as_cjson(p, n, path);
		p += n + 1;
	}
	free(data);
}

START_TEST(recorded_lines_parse_as_cjson_does)
{
	static const char *const dirs[] = { STREAMS_DIR "/claude", STREAMS_DIR "/codex", REAL_DIR };
	int files = 0;
	for (size_t i = 0; i < sizeof dirs / sizeof *dirs; i++) {
		DIR *d = opendir(dirs[i]);
		ck_assert_msg(d != NULL, "cannot open %s", dirs[i]);
		struct dirent *e;
		while ((e = readdir(d))) {
			size_t l = strlen(e->d_name);
			if (l < 7 || strcmp(e->d_name + l - 6, ".jsonl") != 0)
				continue;
			char path[512];
			snprintf(path, sizeof path, "%s/%s", dirs[i], e->d_name);
			lines_of(path);
			files++;
		}
		closedir(d);
	}
	ck_assert_int_ge(files, 20);
}
END_TEST

START_TEST(hand_made_lines)
{
	static const char *const ok[] = {
		"{}",
		" {\"a\" : [ 1 , -2.5e3 , true , false , null , \"\" , {} , [] ] } ",
		"{\"esc\":\"\\\"\\\\\\/\\b\\f\\n\\r\\t\",\"u\":\"\\u00e9\\u20ac\\ud83d\\ude00\\u0041\"}",
		"{\"nul\":\"a\\u0000b\",\"dup\":1,\"dup\":2}",
		"{\"raw\":\"caf\xc3\xa9 \xff\"}",
		"{\"n\":0,\"big\":1e400,\"neg\":-0.0,\"i\":2147483648}",
		"{\"a\":1} trailing",
		"{\"slashes\":\"\\\\\\\\\",\"x\":\"\\\\\"}",
	};
	for (size_t i = 0; i < sizeof ok / sizeof *ok; i++) {
		same_as_cjson(ok[i], strlen(ok[i]), ok[i]);
		cJSON *v = dr__adapter_parse(ok[i], strlen(ok[i]), 1 << 20, NULL);
		ck_assert_msg(v != NULL, "refused %s", ok[i]);
		cJSON_Delete(v);
	}
	static const char *const bad[] = {
		"", "[1]", "\"s\"", "{", "{\"a\"}", "{\"a\":}", "{\"a\":1,}", "{\"a\":tru}", "{\"a\":\"x}",
		"{\"a\":\"\\x\"}", "{\"a\":\"\\ud83d\"}", "{\"a\":\"\\ude00\"}", "{\"a\":\"\\u12\"}", "{\"a\":+1}",
		"{\"a\":.5}", "{\"a\":1 \"b\":2}", "{1:2}",
	};
	for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
		cJSON *v = dr__adapter_parse(bad[i], strlen(bad[i]), 1 << 20, NULL);
		ck_assert_msg(v == NULL, "accepted %s", bad[i]);
	}
	/* Nesting past DR_JSON_MAX_DEPTH is refused without deep recursion. */
	struct dr_buf b = DR_BUF_INIT(0);
	for (int i = 0; i < 100000; i++)
		dr_buf_addstr(&b, "{\"a\":");
	ck_assert_ptr_null(dr__adapter_parse(b.buf, b.len, 1 << 20, NULL));
	dr_buf_release(&b);
}
END_TEST

/* A long string keeps its first keep bytes, never half a character. */
START_TEST(long_strings_are_cut_on_a_character)
{
	struct dr_buf b = DR_BUF_INIT(0);
	dr_buf_addstr(&b, "{\"short\":\"abc\",\"long\":\"");
	for (int i = 0; i < 1000; i++)
		dr_buf_addstr(&b, "\xc3\xa9"); /* é, 2 bytes */
	dr_buf_addstr(&b, "\\u20ac tail with \\\"quote\\\"\",\"after\":[1,{\"k\":\"v\"}]}");
	for (size_t keep = 1; keep < 40; keep++) {
		bool cut = false;
		cJSON *v = dr__adapter_parse(b.buf, b.len, keep, &cut);
		ck_assert_ptr_nonnull(v);
		ck_assert(cut);
		const char *s = dr_json_str(v, "long");
		ck_assert_uint_le(strlen(s), keep);
		ck_assert_uint_eq(strlen(s) % 2, 0);
		ck_assert_uint_ge(strlen(s) + 1, keep - 1);
		ck_assert_str_eq(dr_json_str(v, "short"), keep >= 3 ? "abc" : keep == 2 ? "ab" : "a");
		/* What follows the cut string is all there. */
		ck_assert_str_eq(dr_json_str(cJSON_GetArrayItem(dr_json_array(v, "after"), 1), "k"), "v");
		cJSON_Delete(v);
	}
	bool cut = true;
	cJSON *v = dr__adapter_parse(b.buf, b.len, 1 << 20, &cut);
	ck_assert(!cut);
	const char *s = dr_json_str(v, "long");
	ck_assert_str_eq(s + 2000, "\xe2\x82\xac tail with \"quote\"");
	cJSON_Delete(v);
	dr_buf_release(&b);
}
END_TEST

static char *text_event(const char *before, size_t fill, const char *after)
{
	struct dr_buf b = DR_BUF_INIT(0);
	dr_buf_addf(&b, "{\"type\":\"assistant\",\"message\":{\"content\":[{\"type\":\"text\",\"text\":\"%s", before);
	for (size_t i = 0; i < fill; i++)
		dr_buf_addch(&b, 'x');
	dr_buf_addf(&b, "%s\"}]},\"session_id\":\"s-1\"}", after);
	return dr_buf_detach(&b, NULL);
}

/* Long events: the progress line from the prefix, the reply read whole when asked for. */
START_TEST(long_events_keep_their_whole_reply)
{
	struct dr_adapter *a = dr_adapter_new("claude");
	char *first = text_event("first event\\n", 100000, "END1");
	char *second = text_event("second event\\n", 20000, "\\u00e9END2");
	char *p = dr_adapter_feed(a, first, strlen(first), false);
	ck_assert_str_eq(p, "Claude: first event");
	free(p);
	p = dr_adapter_feed(a, second, strlen(second), false);
	ck_assert_str_eq(p, "Claude: second event");
	free(p);
	const char *reply = dr_adapter_final_reply(a);
	ck_assert_uint_eq(strlen(reply), strlen("second event\n") + 20000 + strlen("\xc3\xa9" "END2"));
	ck_assert_str_eq(reply + strlen(reply) - 6, "\xc3\xa9" "END2");
	ck_assert_ptr_eq(dr_adapter_final_reply(a), reply); /* read once */

	/* A short event after a long one replaces it, and nothing is read again. */
	static const char short_event[] =
		"{\"type\":\"assistant\",\"message\":{\"content\":[{\"type\":\"text\",\"text\":\"short\"}]}}";
	p = dr_adapter_feed(a, short_event, strlen(short_event), false);
	free(p);
	ck_assert_str_eq(dr_adapter_final_reply(a), "short");
	free(first);
	free(second);

	/* The model-issue line deep inside a long text still fails the run. */
	char *issue = text_event("working\\n", 10000, "\\nThere's an issue with the selected model (m). Pick another.");
	free(dr_adapter_feed(a, issue, strlen(issue), false));
	ck_assert_ptr_nonnull(dr_adapter_fatal_error(a));
	ck_assert_ptr_nonnull(strstr(dr_adapter_fatal_error(a), "There's an issue with the selected model (m)"));
	free(issue);
	dr_adapter_free(a);

	/* A question with a long description is read whole. */
	a = dr_adapter_new("claude");
	struct dr_buf b = DR_BUF_INIT(0);
	dr_buf_addstr(&b, "{\"type\":\"assistant\",\"session_id\":\"s-2\",\"message\":{\"content\":[{\"type\":\"tool_use\","
			  "\"id\":\"t1\",\"name\":\"AskUserQuestion\",\"input\":{\"questions\":[{\"question\":\"Which?\","
			  "\"options\":[{\"label\":\"A\",\"description\":\"");
	for (int i = 0; i < 6000; i++)
		dr_buf_addch(&b, 'd');
	dr_buf_addstr(&b, "\"}]}]}}]}}");
	free(dr_adapter_feed(a, b.buf, b.len, false));
	const cJSON *q = dr_adapter_question(a);
	ck_assert_ptr_nonnull(q);
	const char *desc = dr_json_str(cJSON_GetArrayItem(dr_json_array(q, "options"), 0), "description");
	ck_assert_uint_eq(strlen(desc), 4096 - 3 + 3); /* DESCRIPTION_MAX, with its ellipsis */
	dr_buf_release(&b);
	dr_adapter_free(a);

	/* codex: the agent_message of a long item. */
	a = dr_adapter_new("codex");
	dr_buf_init(&b, 0);
	dr_buf_addstr(&b, "{\"type\":\"item.completed\",\"item\":{\"type\":\"agent_message\",\"text\":\"Done.\\n");
	for (int i = 0; i < 30000; i++)
		dr_buf_addch(&b, 'y');
	dr_buf_addstr(&b, "Z\"}}");
	p = dr_adapter_feed(a, b.buf, b.len, false);
	ck_assert_str_eq(p, "Codex: Done.");
	free(p);
	ck_assert_uint_eq(strlen(dr_adapter_final_reply(a)), strlen("Done.\n") + 30000 + 1);
	dr_buf_release(&b);
	dr_adapter_free(a);
}
END_TEST

/* A secret the 8 KiB cut runs through is masked, not shown in part (redact before the cut). */
START_TEST(a_secret_cut_by_the_parse_is_masked)
{
	char secret[1001];
	for (int i = 0; i < 1000; i++)
		secret[i] = (char)('A' + i % 26);
	secret[1000] = '\0';
	ck_assert_int_eq(dr_redact_add(NULL, secret), 0);
	struct dr_buf b = DR_BUF_INIT(0);
	dr_buf_addstr(&b, "{\"type\":\"error\",\"message\":\"");
	for (int i = 0; i < DR__ADAPTER_SKIM_KEEP - 300; i++)
		dr_buf_addch(&b, ' ');
	dr_buf_addf(&b, "%s and more\"}", secret);
	struct dr_adapter *a = dr_adapter_new("codex");
	char *p = dr_adapter_feed(a, b.buf, b.len, false);
	ck_assert_ptr_nonnull(dr_adapter_last_error(a));
	ck_assert_msg(!strstr(dr_adapter_last_error(a), "ABCDEFGHIJ"), "%s", dr_adapter_last_error(a));
	ck_assert_msg(p && !strstr(p, "ABCDEFGHIJ"), "%s", p);
	free(p);
	dr_adapter_free(a);
	dr_buf_release(&b);
}
END_TEST

static Suite *adapter_parse_suite(void)
{
	Suite *s = suite_create("adapter_parse");
	TCase *tc = tcase_create("core");
	tcase_add_test(tc, recorded_lines_parse_as_cjson_does);
	tcase_add_test(tc, hand_made_lines);
	tcase_add_test(tc, long_strings_are_cut_on_a_character);
	tcase_add_test(tc, long_events_keep_their_whole_reply);
	tcase_add_test(tc, a_secret_cut_by_the_parse_is_masked);
	suite_add_tcase(s, tc);
	return s;
}

DR_CHECK_MAIN(adapter_parse_suite)
