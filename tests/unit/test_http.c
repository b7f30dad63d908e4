/* test_http: relay calls through the one curl multi, classified, against a scripted peer. */
#include "check_main.h"
#include "fake_peer.h"

/* Relay calls ------------------------------------------------------------ */

struct got {
	bool done;
	enum dr_relay_outcome outcome;
	long status;
	char message[512];
	char *body;
	long retry_after;
};

static void on_reply(const struct dr_relay_reply *r, void *data)
{
	struct got *g = data;
	g->done = true;
	g->outcome = r->outcome;
	g->status = r->status;
	g->retry_after = r->retry_after_ms;
	snprintf(g->message, sizeof g->message, "%s", r->message);
	g->body = r->body ? dr_json_print(r->body) : NULL;
}

static struct got call_once(struct reply r, long timeout_ms)
{
	peer.fallback = r;
	uv_loop_t loop;
	uv_loop_init(&loop);
	struct dr_http *http;
	struct dr_relay *relay;
	ck_assert_int_eq(dr_http_new(&loop, &http), 0);
	ck_assert_int_eq(dr_relay_new(http, base_url, "secret-bearer", &relay), 0);
	struct got g = { 0 };
	cJSON *body = cJSON_CreateObject();
	cJSON_AddStringToObject(body, "x", "y");
	ck_assert_int_eq(dr_relay_post(relay, "/api/runner/heartbeat", body, timeout_ms, on_reply, &g, NULL), 0);
	ck_assert(!g.done); /* never from inside the call */
	uv_run(&loop, UV_RUN_DEFAULT);
	ck_assert(g.done);
	dr_relay_free(relay);
	dr_http_free(http);
	uv_run(&loop, UV_RUN_DEFAULT);
	ck_assert_int_eq(uv_loop_close(&loop), 0);
	return g;
}

START_TEST(ok_answer_and_request_shape)
{
	struct got g = call_once((struct reply){ 200, "{\"runner\":{\"id\":\"r1\"}}", NULL, 0, false }, 0);
	ck_assert_int_eq(g.outcome, DR_RELAY_OK);
	ck_assert_str_eq(g.body, "{\"runner\":{\"id\":\"r1\"}}");
	ck_assert_str_eq(peer.paths[0], "/api/runner/heartbeat");
	ck_assert_str_eq(peer.bodies[0], "{\"x\":\"y\"}");
	ck_assert_str_eq(peer.auth[0], "Bearer secret-bearer");
	free(g.body);
}
END_TEST

START_TEST(classifies_failures)
{
	struct got g = call_once((struct reply){ 401, "{\"error\":\"revoked\"}", NULL, 0, false }, 0);
	ck_assert_int_eq(g.outcome, DR_RELAY_UNAUTHORIZED);
	ck_assert_str_eq(g.message, "HTTP 401: revoked");
	g = call_once((struct reply){ 409, "{\"error\":\"not yours\"}", NULL, 0, false }, 0);
	ck_assert_int_eq(g.outcome, DR_RELAY_REJECTED);
	g = call_once((struct reply){ 429, "{}", "7", 0, false }, 0);
	ck_assert_int_eq(g.outcome, DR_RELAY_TRANSIENT);
	ck_assert_int_eq(g.retry_after, 7000);
	g = call_once((struct reply){ 503, "<html>down</html>", NULL, 0, false }, 0);
	ck_assert_int_eq(g.outcome, DR_RELAY_TRANSIENT);
	ck_assert_str_eq(g.message, "HTTP 503");
	g = call_once((struct reply){ 200, "not json", NULL, 0, false }, 0);
	ck_assert_int_eq(g.outcome, DR_RELAY_TRANSIENT);
	ck_assert_ptr_nonnull(strstr(g.message, "not a JSON object"));
	g = call_once((struct reply){ 200, "[1,2]", NULL, 0, false }, 0);
	ck_assert_int_eq(g.outcome, DR_RELAY_TRANSIENT);
}
END_TEST

START_TEST(timeouts_are_transient)
{
	struct got g = call_once((struct reply){ 200, "{}", NULL, 1500, false }, 300);
	ck_assert_int_eq(g.outcome, DR_RELAY_TRANSIENT);
	ck_assert_int_eq(g.status, 0);
	ck_assert_ptr_nonnull(strstr(g.message, "cannot reach relay"));
}
END_TEST

START_TEST(oversize_answers_are_refused)
{
	static char *big;
	size_t n = 5u * 1024 * 1024;
	big = dr_xmalloc(n + 3);
	big[0] = '"';
	memset(big + 1, 'a', n);
	big[n + 1] = '"';
	big[n + 2] = '\0';
	struct got g = call_once((struct reply){ 200, big, NULL, 0, false }, 0);
	ck_assert_int_eq(g.outcome, DR_RELAY_TRANSIENT);
	ck_assert_ptr_nonnull(strstr(g.message, "too large"));
	free(big);
}
END_TEST

START_TEST(deep_json_is_refused)
{
	static char deep[4096];
	for (int i = 0; i < 2000; i++)
		deep[i] = '[';
	struct got g = call_once((struct reply){ 200, deep, NULL, 0, false }, 0);
	ck_assert_int_eq(g.outcome, DR_RELAY_TRANSIENT);
}
END_TEST

START_TEST(too_deep_json_keeps_its_shallow_part)
{
	/* 65 levels: refused by the normal parse; pruned, the job's id survives. */
	struct dr_buf t = DR_BUF_INIT(0);
	dr_buf_addf(&t, "{\"job\":{\"id\":\"j[{\\\"\",\"x\":");
	for (int i = 0; i < 63; i++)
		dr_buf_addf(&t, "[");
	for (int i = 0; i < 63; i++)
		dr_buf_addf(&t, "]");
	dr_buf_addf(&t, ",\"y\":[{},{}]}}");
	cJSON *o = NULL;
	ck_assert_int_eq(dr_json_parse_object(t.buf, t.len, 1 << 20, &o), -E2BIG);
	ck_assert_int_eq(dr_json_parse_pruned(t.buf, t.len, 1 << 20, &o), 0);
	const cJSON *job = dr_json_obj(o, "job");
	ck_assert_str_eq(dr_json_str(job, "id"), "j[{\"");
	const cJSON *x = cJSON_GetObjectItemCaseSensitive(job, "x");
	for (int depth = 3; depth < 64; depth++)
		x = cJSON_GetArrayItem(x, 0);
	ck_assert(cJSON_IsArray(x));
	ck_assert(cJSON_IsNull(cJSON_GetArrayItem(x, 0))); /* level 65 */
	ck_assert_int_eq(cJSON_GetArraySize(cJSON_GetObjectItemCaseSensitive(job, "y")), 2);
	cJSON_Delete(o);
	/* Unterminated stays an error. */
	ck_assert_int_lt(dr_json_parse_pruned(t.buf, 100, 1 << 20, &o), 0);
	dr_buf_release(&t);
}
END_TEST

static Suite *http_suite(void)
{
	Suite *s = suite_create("http");
	TCase *tc = tcase_create("http");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_set_timeout(tc, 20);
	tcase_add_test(tc, ok_answer_and_request_shape);
	tcase_add_test(tc, classifies_failures);
	tcase_add_test(tc, timeouts_are_transient);
	tcase_add_test(tc, oversize_answers_are_refused);
	tcase_add_test(tc, deep_json_is_refused);
	tcase_add_test(tc, too_deep_json_keeps_its_shallow_part);
	suite_add_tcase(s, tc);
	return s;
}

DR_CHECK_MAIN(http_suite)
