/* Unit tests for the relay's runner API handlers (no sockets): statuses, long-poll steps. */
#include "../../cmd/delego-relay/api.h"
#include "../../cmd/delego-relay/admin.h"
#include "check_main.h"

#include "delego/json.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define T0 1700000000000LL

static char dir[64];
static struct relay_store *st;

static void setup(void)
{
	snprintf(dir, sizeof(dir), "/tmp/relay-api.XXXXXX");
	ck_assert_ptr_nonnull(mkdtemp(dir));
	char db[128], err[600];
	snprintf(db, sizeof(db), "%s/relay.db", dir);
	ck_assert_msg(relay_store_open(db, &st, err, sizeof(err)) == 0, "%s", err);
}

static void teardown(void)
{
	relay_store_close(st);
	char cmd[200];
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	if (system(cmd) != 0) {
	}
}

/* Calls an endpoint with a JSON text body; returns the status; *answer owned. */
static int call(const char *path, const char *bearer, const char *body, int64_t now, cJSON **answer,
		struct relay_api_wait *wait)
{
	cJSON *b = body ? cJSON_Parse(body) : NULL;
	int status = 0;
	struct relay_api_wait w = { 0 };
	*answer = NULL;
	int r = relay_api_handle(st, path, bearer, b, now, &status, answer, wait ? wait : &w);
	cJSON_Delete(b);
	if (r == RELAY_API_WAIT)
		return -1;
	ck_assert_int_eq(r, 0);
	return status;
}

static char *registered(void)
{
	int status;
	cJSON *a = NULL;
	relay_admin_handle(st, "POST", "/api/admin/pair-token", NULL, T0, &status, &a);
	ck_assert_int_eq(status, 200);
	char body[200];
	snprintf(body, sizeof(body), "{\"pairingToken\":\"%s\",\"version\":\"1\"}", dr_json_str(a, "token"));
	cJSON_Delete(a);
	ck_assert_int_eq(call("/api/runner/register", NULL, body, T0, &a, NULL), 200);
	char *bearer = strdup(dr_json_str(a, "bearer"));
	cJSON_Delete(a);
	return bearer;
}

START_TEST(register_answers_401_for_bad_tokens)
{
	cJSON *a;
	ck_assert_int_eq(call("/api/runner/register", "x", "{\"pairingToken\":\"nope\"}", T0, &a, NULL), 401);
	ck_assert_ptr_nonnull(dr_json_str(a, "error"));
	cJSON_Delete(a);
	ck_assert_int_eq(call("/api/runner/register", NULL, "{}", T0, &a, NULL), 401);
	cJSON_Delete(a);
}
END_TEST

START_TEST(dead_bearers_get_401_everywhere)
{
	static const char *const paths[] = { "/api/runner/heartbeat", "/api/runner/jobs/poll",
					     "/api/runner/jobs/progress", "/api/runner/jobs/complete",
					     "/api/runner/jobs/fail", "/api/runner/jobs/await",
					     "/api/runner/jobs/status", "/api/runner/realtime-token",
					     "/api/runner/unregister" };
	for (size_t i = 0; i < sizeof(paths) / sizeof(paths[0]); i++) {
		cJSON *a;
		ck_assert_int_eq(call(paths[i], "drs_run_dead", "{\"jobId\":\"x\"}", T0, &a, NULL), 401);
		cJSON_Delete(a);
	}
	cJSON *a;
	ck_assert_int_eq(call("/api/runner/other", "drs_run_dead", "{}", T0, &a, NULL), 404);
	cJSON_Delete(a);
}
END_TEST

START_TEST(long_poll_waits_then_claims)
{
	char *bearer = registered();
	struct relay_api_wait w = { 0 };
	cJSON *a = NULL;
	ck_assert_int_eq(call("/api/runner/jobs/poll", bearer, "{\"waitMs\":99999}", T0, &a, &w), -1);
	ck_assert(w.deadline_ms == T0 + RELAY_LONG_POLL_MAX_MS); /* capped */
	int status;
	ck_assert_int_eq(relay_api_poll_again(st, &w, T0 + 10, false, &status, &a), RELAY_API_WAIT);
	struct relay_job_spec sp = { .repo = "a/b" };
	char *id;
	ck_assert_int_eq(relay_store_job_add(st, &sp, T0, &id), 0);
	ck_assert_int_eq(relay_api_poll_again(st, &w, T0 + 20, false, &status, &a), 0);
	ck_assert_int_eq(status, 200);
	ck_assert_str_eq(dr_json_str(dr_json_obj(a, "job"), "id"), id);
	ck_assert(dr_json_true(a, "longPoll"));
	cJSON_Delete(a);
	relay_api_wait_release(&w);
	free(id);
	free(bearer);
}
END_TEST

START_TEST(long_poll_ends_empty_and_dies_with_the_bearer)
{
	char *bearer = registered();
	struct relay_api_wait w = { 0 };
	cJSON *a = NULL;
	int status;
	ck_assert_int_eq(call("/api/runner/jobs/poll", bearer, "{\"waitMs\":100}", T0, &a, &w), -1);
	ck_assert_int_eq(relay_api_poll_again(st, &w, T0 + 100, true, &status, &a), 0);
	ck_assert(cJSON_IsNull(cJSON_GetObjectItem(a, "job")));
	ck_assert(dr_json_true(a, "longPoll"));
	cJSON_Delete(a);
	struct relay_auth auth;
	ck_assert_int_eq(relay_store_auth(st, bearer, &auth), 0);
	ck_assert_int_eq(relay_store_unregister(st, auth.runner_id, T0), 0);
	ck_assert_int_eq(relay_api_poll_again(st, &w, T0 + 50, false, &status, &a), 0);
	ck_assert_int_eq(status, 401);
	cJSON_Delete(a);
	relay_api_wait_release(&w);
	free(bearer);
}
END_TEST

START_TEST(poll_without_wait_is_immediate_and_plain)
{
	char *bearer = registered();
	cJSON *a = NULL;
	ck_assert_int_eq(call("/api/runner/jobs/poll", bearer, "{}", T0, &a, NULL), 200);
	ck_assert(cJSON_IsNull(cJSON_GetObjectItem(a, "job")));
	ck_assert_ptr_null(cJSON_GetObjectItem(a, "longPoll"));
	cJSON_Delete(a);
	free(bearer);
}
END_TEST

START_TEST(bad_bodies_are_400)
{
	char *bearer = registered();
	cJSON *a = NULL;
	ck_assert_int_eq(call("/api/runner/heartbeat", bearer, "[1]", T0, &a, NULL), 400);
	cJSON_Delete(a);
	ck_assert_int_eq(call("/api/runner/heartbeat", bearer, "{\"version\":42}", T0, &a, NULL), 400);
	cJSON_Delete(a);
	ck_assert_int_eq(call("/api/runner/jobs/status", bearer, "{}", T0, &a, NULL), 400);
	cJSON_Delete(a);
	ck_assert_int_eq(call("/api/runner/jobs/complete", bearer, NULL, T0, &a, NULL), 400);
	cJSON_Delete(a);
	free(bearer);
}
END_TEST

START_TEST(admin_api_surface)
{
	int status;
	cJSON *a = NULL, *b = cJSON_Parse("{\"name\":\"x\",\"executors\":[\"codex\"]}");
	relay_admin_handle(st, "POST", "/api/admin/pair-token", b, T0, &status, &a);
	ck_assert_int_eq(status, 200);
	ck_assert(strstr(dr_json_str(a, "command"), "--supported-executors codex") != NULL);
	cJSON_Delete(a);
	cJSON_Delete(b);
	b = cJSON_Parse("{\"executors\":[]}");
	relay_admin_handle(st, "POST", "/api/admin/pair-token", b, T0, &status, &a);
	ck_assert_int_eq(status, 400);
	cJSON_Delete(a);
	cJSON_Delete(b);
	relay_admin_handle(st, "GET", "/api/admin/state", NULL, T0, &status, &a);
	ck_assert_int_eq(status, 200);
	ck_assert_int_eq(cJSON_GetArraySize(cJSON_GetObjectItem(a, "runners")), 1);
	ck_assert_ptr_nonnull(dr_json_obj(a, "settings"));
	cJSON_Delete(a);
	relay_admin_handle(st, "POST", "/api/admin/runners/remove", NULL, T0, &status, &a);
	ck_assert_int_eq(status, 400);
	cJSON_Delete(a);
	relay_admin_handle(st, "DELETE", "/api/admin/state", NULL, T0, &status, &a);
	ck_assert_int_eq(status, 404);
	cJSON_Delete(a);
}
END_TEST

/* {"raw": {"id": "deep", "x": {"x": ... }}} with the job object depth levels deep. */
static cJSON *nested_job(int depth)
{
	cJSON *job = cJSON_CreateObject();
	cJSON_AddStringToObject(job, "id", "deep");
	cJSON *o = job;
	for (int i = 1; i < depth; i++)
		o = cJSON_AddObjectToObject(o, "x");
	cJSON *body = cJSON_CreateObject();
	cJSON_AddItemToObject(body, "raw", job);
	return body;
}

START_TEST(deep_jobs_are_refused_where_they_enter)
{
	int status;
	cJSON *a = NULL;
	/* 63 levels: what the runner cannot report on, once wrapped in its poll answer. */
	cJSON *b = nested_job(63);
	relay_admin_handle(st, "POST", "/api/admin/jobs", b, T0, &status, &a);
	ck_assert_int_eq(status, 400);
	ck_assert_ptr_nonnull(strstr(dr_json_str(a, "error"), "nested more than 32 levels"));
	cJSON_Delete(a);
	cJSON_Delete(b);
	b = nested_job(RELAY_JOB_DEPTH_MAX + 1);
	relay_admin_handle(st, "POST", "/api/admin/jobs", b, T0, &status, &a);
	ck_assert_int_eq(status, 400);
	cJSON_Delete(a);
	cJSON_Delete(b);
	b = nested_job(RELAY_JOB_DEPTH_MAX);
	relay_admin_handle(st, "POST", "/api/admin/jobs", b, T0, &status, &a);
	ck_assert_int_eq(status, 200);
	cJSON_Delete(a);
	cJSON_Delete(b);
	/* And what is queued, the runner can parse inside its poll answer. */
	char *bearer = registered();
	ck_assert_int_eq(call("/api/runner/jobs/poll", bearer, "{}", T0, &a, NULL), 200);
	char *text = cJSON_PrintUnformatted(a);
	cJSON *again = NULL;
	ck_assert_int_eq(dr_json_parse(text, strlen(text), 1 << 20, &again), 0);
	ck_assert_str_eq(dr_json_str(dr_json_obj(again, "job"), "id"), "deep");
	cJSON_Delete(again);
	free(text);
	cJSON_Delete(a);
	free(bearer);
}
END_TEST

static Suite *relay_api_suite(void)
{
	Suite *s = suite_create("relay_api");
	TCase *tc = tcase_create("api");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, register_answers_401_for_bad_tokens);
	tcase_add_test(tc, dead_bearers_get_401_everywhere);
	tcase_add_test(tc, long_poll_waits_then_claims);
	tcase_add_test(tc, long_poll_ends_empty_and_dies_with_the_bearer);
	tcase_add_test(tc, poll_without_wait_is_immediate_and_plain);
	tcase_add_test(tc, bad_bodies_are_400);
	tcase_add_test(tc, admin_api_surface);
	tcase_add_test(tc, deep_jobs_are_refused_where_they_enter);
	suite_add_tcase(s, tc);
	return s;
}

DR_CHECK_MAIN(relay_api_suite)
