#include "delego/phoenix.h"
#include "delego/json.h"
#include "check_main.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

START_TEST(encode_then_decode_both_versions)
{
	cJSON *p = cJSON_CreateObject();
	cJSON_AddStringToObject(p, "k", "v");
	char *s = dr_phoenix_encode("realtime:x", "phx_join", p, "2", "1", false);
	ck_assert_str_eq(s, "{\"topic\":\"realtime:x\",\"event\":\"phx_join\",\"payload\":{\"k\":\"v\"},\"ref\":\"2\",\"join_ref\":\"1\"}");
	struct dr_phoenix_msg m;
	ck_assert_int_eq(dr_phoenix_decode(s, strlen(s), &m), 0);
	ck_assert_str_eq(m.topic, "realtime:x");
	ck_assert_str_eq(m.event, "phx_join");
	ck_assert_str_eq(m.ref, "2");
	ck_assert_str_eq(m.join_ref, "1");
	ck_assert_str_eq(dr_json_str(m.payload, "k"), "v");
	dr_phoenix_msg_release(&m);
	free(s);
	s = dr_phoenix_encode("phoenix", "heartbeat", NULL, "7", NULL, true);
	ck_assert_str_eq(s, "[null,\"7\",\"phoenix\",\"heartbeat\",{}]");
	ck_assert_int_eq(dr_phoenix_decode(s, strlen(s), &m), 0);
	ck_assert_ptr_null(m.join_ref);
	ck_assert_str_eq(m.ref, "7");
	dr_phoenix_msg_release(&m);
	free(s);
	/* Numeric refs, null payload. */
	const char *n = "{\"topic\":\"phoenix\",\"event\":\"phx_reply\",\"payload\":null,\"ref\":12}";
	ck_assert_int_eq(dr_phoenix_decode(n, strlen(n), &m), 0);
	ck_assert_str_eq(m.ref, "12");
	ck_assert(cJSON_IsObject(m.payload));
	ck_assert_ptr_null(dr_phoenix_reply_status(&m));
	dr_phoenix_msg_release(&m);
}
END_TEST

START_TEST(decode_refuses_what_is_not_a_message)
{
	struct dr_phoenix_msg m;
	const char *bad[] = { "[]", "[1,2,3,4]", "{\"topic\":1,\"event\":\"x\"}", "{\"event\":\"x\"}", "\"x\"",
			      "{\"topic\":\"t\",\"event\":\"e\",\"payload\":[1]}", "{\"topic\":\"t\",\"event\":\"e\",\"ref\":{}}",
			      "not json" };
	for (size_t i = 0; i < sizeof(bad) / sizeof(*bad); i++)
		ck_assert_int_eq(dr_phoenix_decode(bad[i], strlen(bad[i]), &m), -EINVAL);
	/* Deep nesting is refused before it costs anything. */
	char deep[400] = "{\"topic\":\"t\",\"event\":\"e\",\"payload\":";
	size_t l = strlen(deep);
	for (int i = 0; i < 100; i++)
		deep[l++] = '[';
	deep[l] = '\0';
	ck_assert_int_eq(dr_phoenix_decode(deep, l, &m), -E2BIG);
	static char huge[DR_PHOENIX_MAX_MESSAGE + 2];
	memset(huge, ' ', sizeof(huge));
	ck_assert_int_eq(dr_phoenix_decode(huge, sizeof(huge), &m), -E2BIG);
}
END_TEST

START_TEST(join_payload_and_topic)
{
	char *t = dr_phoenix_topic("acc-1");
	ck_assert_str_eq(t, "realtime:runner-account-acc-1");
	free(t);
	cJSON *p = dr_phoenix_join_payload("acc-1", NULL);
	const cJSON *pc = cJSON_GetArrayItem(dr_json_array(dr_json_obj(p, "config"), "postgres_changes"), 0);
	ck_assert_str_eq(dr_json_str(pc, "event"), "*");
	ck_assert_str_eq(dr_json_str(pc, "schema"), "public");
	ck_assert_str_eq(dr_json_str(pc, "table"), "jobs");
	ck_assert_str_eq(dr_json_str(pc, "filter"), "account_id=eq.acc-1");
	ck_assert_ptr_null(dr_json_str(p, "access_token"));
	cJSON_Delete(p);
	p = dr_phoenix_join_payload("acc-1", "tok");
	ck_assert_str_eq(dr_json_str(p, "access_token"), "tok");
	cJSON_Delete(p);
}
END_TEST

static int change(const char *json, struct dr_phoenix_change *c, cJSON **keep)
{
	*keep = cJSON_Parse(json);
	return dr_phoenix_change_parse(*keep, c);
}

START_TEST(changes_and_cancellation)
{
	struct dr_phoenix_change c;
	cJSON *j;
	ck_assert_int_eq(change("{\"data\":{\"type\":\"INSERT\",\"record\":{\"id\":\"j1\"}}}", &c, &j), 0);
	ck_assert_str_eq(c.type, "INSERT");
	ck_assert_str_eq(c.job_id, "j1");
	ck_assert(!dr_phoenix_change_cancels(&c));
	cJSON_Delete(j);
	ck_assert_int_eq(change("{\"data\":{\"type\":\"UPDATE\",\"record\":{\"id\":\"j1\",\"cancellation_requested\":true},"
				"\"old_record\":{\"id\":\"j1\"}}}", &c, &j), 0);
	ck_assert(dr_phoenix_change_cancels(&c)); /* old_record without the column: Supabase's default identity */
	cJSON_Delete(j);
	ck_assert_int_eq(change("{\"data\":{\"type\":\"UPDATE\",\"record\":{\"id\":\"j1\",\"cancellation_requested\":true},"
				"\"old_record\":{\"cancellation_requested\":true}}}", &c, &j), 0);
	ck_assert(!dr_phoenix_change_cancels(&c)); /* already cancelled: not a new request */
	cJSON_Delete(j);
	ck_assert_int_eq(change("{\"data\":{\"type\":\"UPDATE\",\"record\":{\"id\":\"j1\",\"cancellation_requested\":\"true\"}}}",
				&c, &j), 0);
	ck_assert(!dr_phoenix_change_cancels(&c)); /* only JSON true */
	cJSON_Delete(j);
	ck_assert_int_eq(change("{\"data\":{\"type\":\"TRUNCATE\"}}", &c, &j), -EINVAL);
	cJSON_Delete(j);
	ck_assert_int_eq(change("{\"data\":{\"type\":\"UPDATE\",\"record\":{\"id\":7,\"cancellation_requested\":true}}}",
				&c, &j), 0);
	ck_assert(!dr_phoenix_change_cancels(&c)); /* no usable id */
	cJSON_Delete(j);
	ck_assert_int_eq(dr_phoenix_change_parse(NULL, &c), -EINVAL);
}
END_TEST

START_TEST(realtime_url)
{
	char *cu, *host, *target;
	ck_assert_int_eq(dr_phoenix_ws_url("https://abc.supabase.co/", "a.b+c", &cu, &host, &target), 0);
	ck_assert_str_eq(cu, "https://abc.supabase.co/");
	ck_assert_str_eq(host, "abc.supabase.co");
	ck_assert_str_eq(target, "/realtime/v1/websocket?apikey=a.b%2Bc&vsn=1.0.0");
	free(cu), free(host), free(target);
	ck_assert_int_eq(dr_phoenix_ws_url("http://127.0.0.1:8420/base", "t", &cu, &host, &target), 0);
	ck_assert_str_eq(cu, "http://127.0.0.1:8420/");
	ck_assert_str_eq(host, "127.0.0.1:8420");
	ck_assert_str_eq(target, "/base/realtime/v1/websocket?apikey=t&vsn=1.0.0");
	free(cu), free(host), free(target);
	ck_assert_int_eq(dr_phoenix_ws_url("wss://[::1]:9/", "t", &cu, &host, &target), 0);
	ck_assert_str_eq(cu, "https://[::1]:9/");
	free(cu), free(host), free(target);
	const char *bad[] = { "ftp://x", "https://", "https://user@host/", "https://h st/", "https://h/a b", "x" };
	for (size_t i = 0; i < sizeof(bad) / sizeof(*bad); i++)
		ck_assert_int_eq(dr_phoenix_ws_url(bad[i], "t", &cu, &host, &target), -EINVAL);
}
END_TEST

START_TEST(jwt_claims)
{
	char sub[DR_PHOENIX_SUB_MAX + 1];
	int64_t exp;
	/* {"sub":"acc-1","exp":1700000000} */
	ck_assert_int_eq(dr_phoenix_jwt_claims("eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJhY2MtMSIsImV4cCI6MTcwMDAwMDAwMH0.sig", sub, &exp), 0);
	ck_assert_str_eq(sub, "acc-1");
	ck_assert_int_eq(exp, 1700000000);
	/* {"sub":"a/b"}: not a topic-safe id. */
	ck_assert_int_eq(dr_phoenix_jwt_claims("x.eyJzdWIiOiJhL2IifQ.s", sub, &exp), -EINVAL);
	/* {"exp":1} : no sub. */
	ck_assert_int_eq(dr_phoenix_jwt_claims("x.eyJleHAiOjF9.s", sub, &exp), -EINVAL);
	ck_assert_int_eq(dr_phoenix_jwt_claims("nodots", sub, &exp), -EINVAL);
	ck_assert_int_eq(dr_phoenix_jwt_claims("a.b.c.d", sub, &exp), -EINVAL);
	ck_assert_int_eq(dr_phoenix_jwt_claims("a.!!!!.c", sub, &exp), -EINVAL);
	struct dr_buf b = DR_BUF_INIT(100);
	ck_assert_int_eq(dr_phoenix_b64url_decode("aGk_", 4, &b), 0); /* "hi?" */
	ck_assert_str_eq(b.buf, "hi?");
	dr_buf_release(&b);
}
END_TEST

static Suite *phoenix_suite(void)
{
	Suite *s = suite_create("phoenix");
	TCase *tc = tcase_create("phoenix");
	tcase_add_test(tc, encode_then_decode_both_versions);
	tcase_add_test(tc, decode_refuses_what_is_not_a_message);
	tcase_add_test(tc, join_payload_and_topic);
	tcase_add_test(tc, changes_and_cancellation);
	tcase_add_test(tc, realtime_url);
	tcase_add_test(tc, jwt_claims);
	suite_add_tcase(s, tc);
	return s;
}

DR_CHECK_MAIN(phoenix_suite)
