/* Unit tests for the relay's realtime parts without sockets: token checks, the realtime-token answer, --no-long-poll. */
#include "../../cmd/delego-relay/admin.h"
#include "../../cmd/delego-relay/api.h"
#include "../../cmd/delego-relay/realtime.h"
#include "../../cmd/delego-relay/token.h"
#include "check_main.h"

#include "delego/json.h"
#include "delego/phoenix.h"
#include "delego/xalloc.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define T0 1700000000000LL

static char dir[64];
static struct relay_store *st;

static void setup(void)
{
	snprintf(dir, sizeof(dir), "/tmp/relay-rt.XXXXXX");
	ck_assert_ptr_nonnull(mkdtemp(dir));
	char db[128], err[600];
	snprintf(db, sizeof(db), "%s/relay.db", dir);
	ck_assert_msg(relay_store_open(db, &st, err, sizeof(err)) == 0, "%s", err);
}

static void teardown(void)
{
	relay_api_configure(NULL, true);
	relay_store_close(st);
	char cmd[200];
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	if (system(cmd) != 0) {
	}
}

static int call(const char *path, const char *bearer, const char *body, int64_t now, cJSON **answer)
{
	cJSON *b = body ? cJSON_Parse(body) : NULL;
	int status = 0;
	struct relay_api_wait w = { 0 };
	*answer = NULL;
	int r = relay_api_handle(st, path, bearer, b, now, &status, answer, &w);
	cJSON_Delete(b);
	relay_api_wait_release(&w);
	return r == RELAY_API_WAIT ? -1 : status;
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
	ck_assert_int_eq(call("/api/runner/register", NULL, body, T0, &a), 200);
	char *bearer = strdup(dr_json_str(a, "bearer"));
	cJSON_Delete(a);
	return bearer;
}

START_TEST(realtime_token_points_at_the_configured_url)
{
	char *bearer = registered();
	cJSON *a;
	ck_assert_int_eq(call("/api/runner/realtime-token", bearer, "{}", T0, &a), 200);
	ck_assert_str_eq(dr_json_str(a, "supabaseUrl"), RELAY_SUPABASE_URL);
	cJSON_Delete(a);
	relay_api_configure("http://127.0.0.1:8420", true);
	ck_assert_int_eq(call("/api/runner/realtime-token", bearer, "{}", T0, &a), 200);
	ck_assert_str_eq(dr_json_str(a, "supabaseUrl"), "http://127.0.0.1:8420");
	/* The runner's view of the token: sub is the account, exp an hour away. */
	char sub[DR_PHOENIX_SUB_MAX + 1];
	int64_t exp;
	ck_assert_int_eq(dr_phoenix_jwt_claims(dr_json_str(a, "token"), sub, &exp), 0);
	ck_assert_str_eq(sub, relay_store_account_id(st));
	ck_assert_int_eq(exp * 1000, T0 + RELAY_REALTIME_TTL_MS);
	/* And the endpoint's: valid until then. */
	struct relay_realtime_claims c = { 0 };
	ck_assert_int_eq(relay_realtime_check_token(st, dr_json_str(a, "token"), T0, &c), 0);
	ck_assert_int_eq(c.exp_ms, T0 + RELAY_REALTIME_TTL_MS);
	ck_assert_int_eq(relay_realtime_check_token(st, dr_json_str(a, "token"), T0 + RELAY_REALTIME_TTL_MS, &c),
			 -EACCES);
	cJSON_Delete(a);
	free(bearer);
}
END_TEST

START_TEST(forged_tokens_are_refused)
{
	struct relay_realtime_claims exp;
	char *bearer = registered();
	struct relay_auth auth;
	ck_assert_int_eq(relay_store_auth(st, bearer, &auth), 0);
	char *payload = dr_xasprintf("{\"sub\":\"%s\",\"exp\":%lld,\"runner_id\":\"%s\",\"paired_at\":%lld}",
				     relay_store_account_id(st), (long long)(T0 / 1000 + 60), auth.runner_id,
				     (long long)auth.paired_at);
	char *good = relay_jwt_hs256(payload, relay_store_jwt_key(st));
	ck_assert_int_eq(relay_realtime_check_token(st, good, T0, &exp), 0);
	char *forged = relay_jwt_hs256(payload, "another key");
	ck_assert_int_eq(relay_realtime_check_token(st, forged, T0, &exp), -EACCES);
	/* A flipped signature character. */
	good[strlen(good) - 2] = good[strlen(good) - 2] == 'A' ? 'B' : 'A';
	ck_assert_int_eq(relay_realtime_check_token(st, good, T0, &exp), -EACCES);
	char *other = relay_jwt_hs256("{\"sub\":\"someone-else\",\"exp\":9999999999}", relay_store_jwt_key(st));
	ck_assert_int_eq(relay_realtime_check_token(st, other, T0, &exp), -EACCES);
	ck_assert_int_eq(relay_realtime_check_token(st, NULL, T0, &exp), -EACCES);
	ck_assert_int_eq(relay_realtime_check_token(st, "garbage", T0, &exp), -EACCES);
	/* Signed by us but naming no runner, or a credential the runner no longer holds. */
	char *bare = dr_xasprintf("{\"sub\":\"%s\",\"exp\":%lld}", relay_store_account_id(st), (long long)(T0 / 1000 + 60));
	char *anon = relay_jwt_hs256(bare, relay_store_jwt_key(st));
	ck_assert_int_eq(relay_realtime_check_token(st, anon, T0, &exp), -EACCES);
	char *old = dr_xasprintf("{\"sub\":\"%s\",\"exp\":%lld,\"runner_id\":\"%s\",\"paired_at\":%lld}",
				 relay_store_account_id(st), (long long)(T0 / 1000 + 60), auth.runner_id,
				 (long long)auth.paired_at - 1);
	char *stale = relay_jwt_hs256(old, relay_store_jwt_key(st));
	ck_assert_int_eq(relay_realtime_check_token(st, stale, T0, &exp), -EACCES);
	free(bare);
	free(anon);
	free(old);
	free(stale);
	free(payload);
	free(good);
	free(forged);
	free(other);
	free(bearer);
}
END_TEST

/* A token minted for a runner that is then removed or rotated no longer joins. */
static void token_dies_with(const char *op)
{
	char *bearer = registered();
	struct relay_auth auth;
	ck_assert_int_eq(relay_store_auth(st, bearer, &auth), 0);
	cJSON *a;
	ck_assert_int_eq(call("/api/runner/realtime-token", bearer, "{}", T0, &a), 200);
	char *tok = strdup(dr_json_str(a, "token"));
	cJSON_Delete(a);
	struct relay_realtime_claims c;
	ck_assert_int_eq(relay_realtime_check_token(st, tok, T0, &c), 0);
	ck_assert_str_eq(c.runner_id, auth.runner_id);
	int status;
	char body[100];
	snprintf(body, sizeof(body), "{\"runnerId\":\"%s\"}", auth.runner_id);
	cJSON *b = cJSON_Parse(body);
	char path[64];
	snprintf(path, sizeof(path), "/api/admin/runners/%s", op);
	relay_admin_handle(st, "POST", path, b, T0 + 1, &status, &a);
	ck_assert_int_eq(status, 200);
	if (!strcmp(op, "rotate")) {
		/* Re-pairing with the new token gives a new credential; the old token stays dead. */
		char reg[200];
		snprintf(reg, sizeof(reg), "{\"pairingToken\":\"%s\"}", dr_json_str(a, "token"));
		cJSON *r2;
		ck_assert_int_eq(call("/api/runner/register", NULL, reg, T0 + 2, &r2), 200);
		cJSON_Delete(r2);
	}
	cJSON_Delete(a);
	cJSON_Delete(b);
	ck_assert_int_eq(relay_realtime_check_token(st, tok, T0 + 3, &c), -EACCES);
	free(tok);
	free(bearer);
}

START_TEST(removed_runner_token_is_refused) { token_dies_with("remove"); }
END_TEST

START_TEST(rotated_runner_token_is_refused) { token_dies_with("rotate"); }
END_TEST

START_TEST(no_long_poll_answers_at_once)
{
	char *bearer = registered();
	cJSON *a;
	ck_assert_int_eq(call("/api/runner/jobs/poll", bearer, "{\"waitMs\":25000}", T0, &a), -1);
	relay_api_configure(NULL, false);
	ck_assert_int_eq(call("/api/runner/jobs/poll", bearer, "{\"waitMs\":25000}", T0, &a), 200);
	ck_assert(cJSON_IsNull(cJSON_GetObjectItemCaseSensitive(a, "job")));
	ck_assert(!dr_json_true(a, "longPoll"));
	cJSON_Delete(a);
	free(bearer);
}
END_TEST

static Suite *relay_realtime_suite(void)
{
	Suite *s = suite_create("relay_realtime");
	TCase *tc = tcase_create("realtime");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, realtime_token_points_at_the_configured_url);
	tcase_add_test(tc, forged_tokens_are_refused);
	tcase_add_test(tc, no_long_poll_answers_at_once);
	tcase_add_test(tc, removed_runner_token_is_refused);
	tcase_add_test(tc, rotated_runner_token_is_refused);
	suite_add_tcase(s, tc);
	return s;
}

DR_CHECK_MAIN(relay_realtime_suite)
