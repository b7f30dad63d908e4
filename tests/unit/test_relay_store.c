/* Unit tests for the relay's store: token rules, hashing, claims, restarts, status thresholds. */
#include "../../cmd/delego-relay/admin.h"
#include "../../cmd/delego-relay/store.h"
#include "../../cmd/delego-relay/token.h"
#include "check_main.h"

#include "delego/json.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#define T0 1700000000000LL
#define MIN (60 * 1000LL)

static char dir[64];
static char db[128];

static void setup(void)
{
	snprintf(dir, sizeof(dir), "/tmp/relay-unit.XXXXXX");
	ck_assert_ptr_nonnull(mkdtemp(dir));
	snprintf(db, sizeof(db), "%s/sub/relay.db", dir);
}

static void teardown(void)
{
	char cmd[200];
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	if (system(cmd) != 0) {
	}
}

static struct relay_store *open_db(void)
{
	struct relay_store *st;
	char err[600];
	int r = relay_store_open(db, &st, err, sizeof(err));
	ck_assert_msg(r == 0, "open: %s", err);
	return st;
}

/* Pairs a runner; returns its bearer (owned) and id. */
static char *pair(struct relay_store *st, unsigned mask, char id[37])
{
	struct relay_pairing p = { 0 };
	ck_assert_int_eq(relay_store_pair_token(st, "box", mask, T0, &p), 0);
	cJSON *runner = NULL;
	char *bearer = NULL;
	ck_assert_int_eq(relay_store_register(st, p.token, "1.0", RELAY_EXEC_ALL, T0, &runner, &bearer), 0);
	snprintf(id, 37, "%s", p.runner_id);
	cJSON_Delete(runner);
	relay_pairing_release(&p);
	return bearer;
}

START_TEST(status_thresholds)
{
	const long on = 600, stale = 1800;
	ck_assert_int_eq(relay_status_derive(false, true, T0, T0, on, stale), RELAY_STATUS_ONLINE);
	ck_assert_int_eq(relay_status_derive(false, true, T0, T0 + 600 * 1000, on, stale), RELAY_STATUS_ONLINE);
	ck_assert_int_eq(relay_status_derive(false, true, T0, T0 + 600 * 1000 + 1, on, stale), RELAY_STATUS_STALE);
	ck_assert_int_eq(relay_status_derive(false, true, T0, T0 + 1800 * 1000, on, stale), RELAY_STATUS_STALE);
	ck_assert_int_eq(relay_status_derive(false, true, T0, T0 + 1800 * 1000 + 1, on, stale), RELAY_STATUS_OFFLINE);
	ck_assert_int_eq(relay_status_derive(true, true, T0, T0, on, stale), RELAY_STATUS_REVOKED);
	ck_assert_int_eq(relay_status_derive(false, false, T0, T0, on, stale), RELAY_STATUS_NOT_REGISTERED);
	ck_assert_str_eq(relay_status_label(RELAY_STATUS_NOT_REGISTERED), "Not registered");
	ck_assert_str_eq(relay_status_name(RELAY_STATUS_STALE), "stale");
}
END_TEST

START_TEST(runner_list_uses_the_configured_thresholds)
{
	struct relay_store *st = open_db();
	char id[37];
	char *bearer = pair(st, 0, id);
	bool restart;
	cJSON *a = NULL, *list = NULL;
	ck_assert_int_eq(relay_store_heartbeat(st, id, "1.0", RELAY_EXEC_ALL, NULL, true, T0, &restart, &a), 0);
	cJSON_Delete(a);
	ck_assert_int_eq(relay_store_set_thresholds(st, 10, 20, true), 0);
	ck_assert_int_eq(relay_store_runners(st, T0 + 15 * 1000, &list), 0);
	ck_assert_str_eq(dr_json_str(cJSON_GetArrayItem(list, 0), "status"), "stale");
	cJSON_Delete(list);
	relay_store_close(st);
	/* Persisted: another process (the CLI) sees the same thresholds. */
	st = open_db();
	ck_assert_int_eq(relay_store_runners(st, T0 + 25 * 1000, &list), 0);
	ck_assert_str_eq(dr_json_str(cJSON_GetArrayItem(list, 0), "status"), "offline");
	cJSON_Delete(list);
	ck_assert_int_eq(relay_store_set_thresholds(st, 30, 20, false), -EINVAL);
	free(bearer);
	relay_store_close(st);
}
END_TEST

START_TEST(pairing_token_is_single_use)
{
	struct relay_store *st = open_db();
	struct relay_pairing p = { 0 };
	ck_assert_int_eq(relay_store_pair_token(st, NULL, 0, T0, &p), 0);
	cJSON *runner = NULL;
	char *bearer = NULL;
	ck_assert_int_eq(relay_store_register(st, p.token, "1", 0, T0 + 1, &runner, &bearer), 0);
	ck_assert_str_eq(dr_json_str(runner, "id"), p.runner_id);
	cJSON_Delete(runner);
	free(bearer);
	runner = NULL;
	bearer = NULL;
	ck_assert_int_eq(relay_store_register(st, p.token, "1", 0, T0 + 2, &runner, &bearer), -EACCES);
	ck_assert_ptr_null(bearer);
	ck_assert(strstr(relay_store_error(st), "already used") != NULL);
	ck_assert_int_eq(relay_store_register(st, "drs_pair_unknown", "1", 0, T0, &runner, &bearer), -EACCES);
	relay_pairing_release(&p);
	relay_store_close(st);
}
END_TEST

START_TEST(pairing_token_expires_after_15_minutes)
{
	struct relay_store *st = open_db();
	struct relay_pairing a = { 0 }, b = { 0 };
	ck_assert_int_eq(relay_store_pair_token(st, "a", 0, T0, &a), 0);
	ck_assert_int_eq(relay_store_pair_token(st, "b", 0, T0, &b), 0);
	ck_assert(a.expires_at == T0 + 15 * MIN);
	cJSON *runner = NULL;
	char *bearer = NULL;
	ck_assert_int_eq(relay_store_register(st, a.token, "1", 0, T0 + 15 * MIN, &runner, &bearer), -EACCES);
	ck_assert(strstr(relay_store_error(st), "expired") != NULL);
	ck_assert_int_eq(relay_store_register(st, b.token, "1", 0, T0 + 15 * MIN - 1, &runner, &bearer), 0);
	cJSON_Delete(runner);
	free(bearer);
	relay_pairing_release(&a);
	relay_pairing_release(&b);
	relay_store_close(st);
}
END_TEST

START_TEST(secrets_are_stored_hashed)
{
	struct relay_store *st = open_db();
	struct relay_pairing p = { 0 };
	ck_assert_int_eq(relay_store_pair_token(st, "x", 0, T0, &p), 0);
	cJSON *runner = NULL;
	char *bearer = NULL;
	ck_assert_int_eq(relay_store_register(st, p.token, "1", 0, T0, &runner, &bearer), 0);
	struct relay_auth auth;
	ck_assert_int_eq(relay_store_auth(st, bearer, &auth), 0);
	ck_assert_str_eq(auth.runner_id, p.runner_id);
	/* The hash itself is no credential. */
	char hash[RELAY_SHA256_HEX_LEN + 1];
	relay_sha256_hex(bearer, hash);
	ck_assert_int_eq(relay_store_auth(st, hash, &auth), -EACCES);
	relay_store_close(st);
	/* Neither secret appears anywhere in the database files. */
	char cmd[600];
	snprintf(cmd, sizeof(cmd), "cat '%s'* | grep -qaF -e '%s' -e '%s'", db, bearer, p.token);
	ck_assert_int_ne(system(cmd), 0);
	snprintf(cmd, sizeof(cmd), "cat '%s'* | grep -qaF '%s'", db, hash);
	ck_assert_int_eq(system(cmd), 0);
	cJSON_Delete(runner);
	free(bearer);
	relay_pairing_release(&p);
}
END_TEST

START_TEST(rotation_kills_the_bearer_and_keeps_the_id)
{
	struct relay_store *st = open_db();
	char id[37];
	char *bearer = pair(st, 0, id);
	struct relay_pairing p = { 0 };
	ck_assert_int_eq(relay_store_rotate(st, id, T0 + 1, &p), 0);
	struct relay_auth auth;
	ck_assert_int_eq(relay_store_auth(st, bearer, &auth), -EACCES);
	ck_assert_str_eq(p.runner_id, id);
	cJSON *runner = NULL;
	char *b2 = NULL;
	ck_assert_int_eq(relay_store_register(st, p.token, "2", 0, T0 + 2, &runner, &b2), 0);
	ck_assert_str_eq(dr_json_str(runner, "id"), id);
	ck_assert_int_eq(relay_store_auth(st, b2, &auth), 0);
	ck_assert_int_eq(relay_store_rotate(st, "nope", T0, &p), -ENOENT);
	cJSON_Delete(runner);
	free(b2);
	free(bearer);
	relay_pairing_release(&p);
	relay_store_close(st);
}
END_TEST

START_TEST(restart_is_delivered_once_when_idle_on_a_steady_beat)
{
	struct relay_store *st = open_db();
	char id[37];
	char *bearer = pair(st, 0, id);
	bool restart = true;
	cJSON *a = NULL;
	ck_assert_int_eq(relay_store_request_restart(st, id, T0), 0);
	ck_assert_int_eq(relay_store_heartbeat(st, id, NULL, 0, NULL, false, T0, &restart, &a), 0);
	ck_assert(!restart);
	cJSON_Delete(a);
	ck_assert_int_eq(relay_store_heartbeat(st, id, NULL, 0, "job-1", true, T0, &restart, &a), 0);
	ck_assert(!restart);
	cJSON_Delete(a);
	ck_assert_int_eq(relay_store_heartbeat(st, id, NULL, 0, NULL, true, T0, &restart, &a), 0);
	ck_assert(restart);
	cJSON_Delete(a);
	ck_assert_int_eq(relay_store_heartbeat(st, id, NULL, 0, NULL, true, T0, &restart, &a), 0);
	ck_assert(!restart);
	cJSON_Delete(a);
	ck_assert_int_eq(relay_store_request_restart(st, "nope", T0), -ENOENT);
	free(bearer);
	relay_store_close(st);
}
END_TEST

static char *add_job(struct relay_store *st, const char *exec)
{
	struct relay_job_spec sp = { .repo = "acme/web", .executor = exec };
	char *id = NULL;
	ck_assert_int_eq(relay_store_job_add(st, &sp, T0, &id), 0);
	return id;
}

START_TEST(claims_respect_executors)
{
	struct relay_store *st = open_db();
	char id[37];
	char *bearer = pair(st, RELAY_EXEC_CLAUDE, id);
	char *cx = add_job(st, "codex");
	struct relay_auth auth;
	ck_assert_int_eq(relay_store_auth(st, bearer, &auth), 0);
	cJSON *job = NULL;
	const char *reason = NULL;
	ck_assert_int_eq(relay_store_claim(st, &auth, RELAY_EXEC_ALL, T0, &job, &reason), 0);
	ck_assert_ptr_null(job);
	ck_assert_ptr_nonnull(reason);
	char *cl = add_job(st, "claude");
	ck_assert_int_eq(relay_store_claim(st, &auth, RELAY_EXEC_CODEX, T0, &job, &reason), 0);
	ck_assert_ptr_null(job); /* the poll advertised codex only */
	ck_assert_int_eq(relay_store_claim(st, &auth, 0, T0, &job, &reason), 0);
	ck_assert_ptr_nonnull(job);
	ck_assert_str_eq(dr_json_str(job, "id"), cl);
	ck_assert_int_eq(cJSON_GetArraySize(job), 12);
	cJSON_Delete(job);
	free(cx);
	free(cl);
	free(bearer);
	relay_store_close(st);
}
END_TEST

/* Several processes with their own connections claim from one queue at once. */
START_TEST(claims_are_exclusive_across_processes)
{
	enum { JOBS = 40, PROCS = 4 };
	struct relay_store *st = open_db();
	char ids[PROCS][37];
	char *bearers[PROCS];
	for (int i = 0; i < PROCS; i++)
		bearers[i] = pair(st, 0, ids[i]);
	for (int i = 0; i < JOBS; i++)
		free(add_job(st, NULL));
	relay_store_close(st);
	int fds[2];
	ck_assert_int_eq(pipe(fds), 0);
	for (int i = 0; i < PROCS; i++) {
		if (fork() == 0) {
			close(fds[0]);
			struct relay_store *c = open_db();
			struct relay_auth auth;
			if (relay_store_auth(c, bearers[i], &auth) < 0)
				_exit(2);
			for (;;) {
				cJSON *job = NULL;
				const char *reason;
				if (relay_store_claim(c, &auth, 0, T0, &job, &reason) < 0)
					_exit(3);
				if (!job)
					break;
				char line[64];
				int n = snprintf(line, sizeof(line), "%.36s\n", dr_json_str(job, "id"));
				if (write(fds[1], line, (size_t)n) != n)
					_exit(4);
				cJSON_Delete(job);
			}
			relay_store_close(c);
			_exit(0);
		}
	}
	close(fds[1]);
	char buf[JOBS * 37 * 2 + 1];
	size_t len = 0;
	ssize_t n;
	while (len < sizeof(buf) - 1 && (n = read(fds[0], buf + len, sizeof(buf) - 1 - len)) > 0)
		len += (size_t)n;
	buf[len] = '\0';
	close(fds[0]);
	for (int i = 0; i < PROCS; i++) {
		int status;
		wait(&status);
		ck_assert(WIFEXITED(status) && WEXITSTATUS(status) == 0);
	}
	ck_assert_uint_eq(len, JOBS * 37u);
	for (size_t a = 0; a < JOBS; a++)
		for (size_t b = a + 1; b < JOBS; b++)
			ck_assert_msg(memcmp(buf + a * 37, buf + b * 37, 36) != 0, "job claimed twice: %.36s", buf + a * 37);
	for (int i = 0; i < PROCS; i++)
		free(bearers[i]);
}
END_TEST

static cJSON *report_body(const char *job_id, const char *event_id)
{
	cJSON *b = cJSON_CreateObject();
	cJSON_AddStringToObject(b, "jobId", job_id);
	cJSON_AddStringToObject(b, "summary", "done");
	cJSON_AddObjectToObject(b, "metadata");
	if (event_id)
		cJSON_AddStringToObject(b, "eventId", event_id);
	return b;
}

START_TEST(reports_are_idempotent_and_held)
{
	struct relay_store *st = open_db();
	char id1[37], id2[37];
	char *b1 = pair(st, 0, id1), *b2 = pair(st, 0, id2);
	char *jid = add_job(st, NULL);
	struct relay_auth auth;
	ck_assert_int_eq(relay_store_auth(st, b1, &auth), 0);
	cJSON *job = NULL;
	const char *reason;
	ck_assert_int_eq(relay_store_claim(st, &auth, 0, T0, &job, &reason), 0);
	cJSON_Delete(job);
	bool dup;
	cJSON *body = report_body(jid, "e1");
	ck_assert_int_eq(relay_store_report(st, id2, RELAY_REPORT_COMPLETE, body, T0, &dup), -EBUSY);
	ck_assert_int_eq(relay_store_report(st, id1, RELAY_REPORT_PROGRESS, body, T0, &dup), 0);
	ck_assert(!dup);
	ck_assert_int_eq(relay_store_report(st, id1, RELAY_REPORT_PROGRESS, body, T0, &dup), 0);
	ck_assert(dup);
	cJSON_Delete(body);
	body = report_body(jid, "e2");
	ck_assert_int_eq(relay_store_report(st, id1, RELAY_REPORT_COMPLETE, body, T0, &dup), 0);
	ck_assert_int_eq(relay_store_report(st, id1, RELAY_REPORT_COMPLETE, body, T0, &dup), 0);
	ck_assert(dup);
	cJSON_Delete(body);
	body = report_body(jid, NULL);
	ck_assert_int_eq(relay_store_report(st, id1, RELAY_REPORT_FAIL, body, T0, &dup), -EBUSY);
	cJSON_Delete(body);
	body = report_body("nope", NULL);
	ck_assert_int_eq(relay_store_report(st, id1, RELAY_REPORT_FAIL, body, T0, &dup), -ENOENT);
	cJSON_Delete(body);
	cJSON *show = NULL;
	ck_assert_int_eq(relay_store_job_show(st, jid, &show), 0);
	ck_assert_str_eq(dr_json_str(show, "status"), "completed");
	/* queued, claim, progress, complete */
	ck_assert_int_eq(cJSON_GetArraySize(cJSON_GetObjectItem(show, "events")), 4);
	cJSON_Delete(show);
	free(jid);
	free(b1);
	free(b2);
	relay_store_close(st);
}
END_TEST

START_TEST(remove_fails_held_jobs_and_hides_the_runner)
{
	struct relay_store *st = open_db();
	char id[37];
	char *bearer = pair(st, 0, id);
	char *jid = add_job(st, NULL);
	struct relay_auth auth;
	ck_assert_int_eq(relay_store_auth(st, bearer, &auth), 0);
	cJSON *job = NULL, *list = NULL, *show = NULL;
	const char *reason;
	ck_assert_int_eq(relay_store_claim(st, &auth, 0, T0, &job, &reason), 0);
	cJSON_Delete(job);
	ck_assert_int_eq(relay_store_remove(st, id, T0), 0);
	ck_assert_int_eq(relay_store_auth(st, bearer, &auth), -EACCES);
	ck_assert_int_eq(relay_store_job_show(st, jid, &show), 0);
	ck_assert_str_eq(dr_json_str(show, "status"), "failed");
	ck_assert_int_eq(relay_store_runners(st, T0, &list), 0);
	ck_assert_int_eq(cJSON_GetArraySize(list), 0);
	cJSON_Delete(show);
	cJSON_Delete(list);
	free(jid);
	free(bearer);
	relay_store_close(st);
}
END_TEST

START_TEST(pair_command_quotes_the_workspace)
{
	struct relay_store *st = open_db();
	ck_assert_int_eq(relay_store_set_public_url(st, "http://127.0.0.1:9999"), 0);
	char *cmd = relay_admin_pair_command(st, "drs_pair_T", 0);
	ck_assert_str_eq(cmd, "printf '%s' drs_pair_T | delego-runner pair --relay-url http://127.0.0.1:9999 --pairing-token -");
	free(cmd);
	ck_assert_int_eq(relay_store_settings_set(st, NULL, "/srv/it's here"), 0);
	cmd = relay_admin_pair_command(st, "drs_pair_T", RELAY_EXEC_CODEX);
	ck_assert_str_eq(cmd, "printf '%s' drs_pair_T | delego-runner pair --relay-url http://127.0.0.1:9999 --pairing-token - "
			      "--workspace-root '/srv/it'\\''s here' --supported-executors codex");
	free(cmd);
	ck_assert_int_eq(relay_store_settings_set(st, NULL, "relative"), -EINVAL);
	relay_store_close(st);
}
END_TEST

static Suite *relay_store_suite(void)
{
	Suite *s = suite_create("relay_store");
	TCase *tc = tcase_create("store");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_set_timeout(tc, 30);
	tcase_add_test(tc, status_thresholds);
	tcase_add_test(tc, runner_list_uses_the_configured_thresholds);
	tcase_add_test(tc, pairing_token_is_single_use);
	tcase_add_test(tc, pairing_token_expires_after_15_minutes);
	tcase_add_test(tc, secrets_are_stored_hashed);
	tcase_add_test(tc, rotation_kills_the_bearer_and_keeps_the_id);
	tcase_add_test(tc, restart_is_delivered_once_when_idle_on_a_steady_beat);
	tcase_add_test(tc, claims_respect_executors);
	tcase_add_test(tc, claims_are_exclusive_across_processes);
	tcase_add_test(tc, reports_are_idempotent_and_held);
	tcase_add_test(tc, remove_fails_held_jobs_and_hides_the_runner);
	tcase_add_test(tc, pair_command_quotes_the_workspace);
	suite_add_tcase(s, tc);
	return s;
}

DR_CHECK_MAIN(relay_store_suite)
