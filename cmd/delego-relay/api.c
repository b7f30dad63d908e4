/* api: the runner endpoints (register, heartbeat, jobs/..., realtime-token, unregister). */
#include "api.h"

#include "clock.h"
#include "token.h"

#include "delego/json.h"
#include "delego/xalloc.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define SHORT_STRING_MAX 200

static char *realtime_url;
static bool long_poll_enabled = true;

void relay_api_configure(const char *url, bool long_poll)
{
	free(realtime_url);
	realtime_url = url ? dr_xstrdup(url) : NULL;
	long_poll_enabled = long_poll;
}

cJSON *relay_api_error(const char *msg)
{
	cJSON *o = cJSON_CreateObject();
	cJSON_AddStringToObject(o, "error", msg);
	return o;
}

void relay_api_wait_release(struct relay_api_wait *w)
{
	free(w->bearer);
	w->bearer = NULL;
}

static int answer_error(int code, const char *msg, int *status, cJSON **answer)
{
	*status = code;
	*answer = relay_api_error(msg);
	return 0;
}

/* Maps a store failure to an HTTP status. */
static int store_error(struct relay_store *st, int r, int *status, cJSON **answer)
{
	int code = r == -EACCES ? 401 : r == -ENOENT ? 404 : r == -EBUSY ? 409 : r == -EINVAL ? 400 : r == -EAGAIN ? 503 : 500;
	return answer_error(code, relay_store_error(st), status, answer);
}

/* An optional short string field: NULL when absent or null; -EINVAL when wrong. */
static int opt_string(const cJSON *body, const char *key, const char **out)
{
	const cJSON *v = body ? cJSON_GetObjectItemCaseSensitive(body, key) : NULL;
	*out = NULL;
	if (!v || cJSON_IsNull(v))
		return 0;
	if (!cJSON_IsString(v) || strlen(v->valuestring) > SHORT_STRING_MAX)
		return -EINVAL;
	*out = v->valuestring;
	return 0;
}

static int do_register(struct relay_store *st, const char *bearer, const cJSON *body, int64_t now, int *status,
		       cJSON **answer)
{
	const char *tok = body ? dr_json_nonempty(body, "pairingToken") : NULL;
	const char *version;
	if (!tok)
		tok = bearer;
	if (!tok || strncmp(tok, RELAY_PAIR_PREFIX, strlen(RELAY_PAIR_PREFIX)) != 0)
		return answer_error(401, "a pairing token (drs_pair_...) is required; mint one in the Runners panel",
				    status, answer);
	if (opt_string(body, "version", &version) < 0)
		return answer_error(400, "version must be a string of at most 200 characters", status, answer);
	unsigned mask = relay_exec_from_json(body ? cJSON_GetObjectItemCaseSensitive(body, "supportedExecutors") : NULL);
	cJSON *runner = NULL;
	char *secret = NULL;
	int r = relay_store_register(st, tok, version, mask, now, &runner, &secret);
	if (r < 0)
		return store_error(st, r, status, answer);
	cJSON *a = cJSON_CreateObject();
	cJSON_AddItemToObject(a, "runner", runner);
	cJSON_AddStringToObject(a, "bearer", secret);
	free(secret);
	*status = 200;
	*answer = a;
	return 0;
}

static int do_heartbeat(struct relay_store *st, const struct relay_auth *auth, const cJSON *body, int64_t now,
			int *status, cJSON **answer)
{
	const char *version, *active;
	if (opt_string(body, "version", &version) < 0 || opt_string(body, "activeJobId", &active) < 0)
		return answer_error(400, "version and activeJobId must be strings of at most 200 characters (or null)",
				    status, answer);
	unsigned mask = relay_exec_from_json(body ? cJSON_GetObjectItemCaseSensitive(body, "supportedExecutors") : NULL);
	bool restart = false;
	cJSON *runner = NULL;
	int r = relay_store_heartbeat(st, auth->runner_id, version, mask, active && *active ? active : NULL,
				      body && dr_json_true(body, "deliverRestart"), now, &restart, &runner);
	if (r < 0)
		return store_error(st, r, status, answer);
	cJSON *a = cJSON_CreateObject();
	cJSON_AddItemToObject(a, "runner", runner);
	if (restart)
		cJSON_AddTrueToObject(a, "restart");
	*status = 200;
	*answer = a;
	return 0;
}

static int claim_answer(struct relay_store *st, const struct relay_auth *auth, unsigned supported, bool long_poll,
			int64_t now, int *status, cJSON **answer, bool *empty)
{
	cJSON *job = NULL;
	const char *reason = NULL;
	int r = relay_store_claim(st, auth, supported, now, &job, &reason);
	if (r < 0)
		return store_error(st, r, status, answer);
	cJSON *a = cJSON_CreateObject();
	if (job) {
		cJSON_AddItemToObject(a, "job", job);
	} else {
		cJSON_AddNullToObject(a, "job");
		cJSON_AddStringToObject(a, "reason", reason);
	}
	if (long_poll)
		cJSON_AddTrueToObject(a, "longPoll");
	*empty = job == NULL;
	*status = 200;
	*answer = a;
	return 0;
}

static int do_poll(struct relay_store *st, const char *bearer, const struct relay_auth *auth, const cJSON *body,
		   int64_t now, int *status, cJSON **answer, struct relay_api_wait *wait)
{
	unsigned supported = relay_exec_from_json(body ? cJSON_GetObjectItemCaseSensitive(body, "supportedExecutors") : NULL);
	const cJSON *w = body ? cJSON_GetObjectItemCaseSensitive(body, "waitMs") : NULL;
	bool long_poll = cJSON_IsNumber(w) && long_poll_enabled;
	double wait_ms = long_poll ? w->valuedouble : 0;
	if (wait_ms > RELAY_LONG_POLL_MAX_MS)
		wait_ms = RELAY_LONG_POLL_MAX_MS;
	if (long_poll && wait_ms >= 1 && !relay_store_claimable(st, auth, supported)) {
		wait->auth = *auth;
		wait->supported = supported;
		wait->bearer = dr_xstrdup(bearer);
		wait->deadline_ms = now + (int64_t)wait_ms;
		return RELAY_API_WAIT;
	}
	bool empty;
	return claim_answer(st, auth, supported, long_poll, now, status, answer, &empty);
}

int relay_api_poll_again(struct relay_store *st, struct relay_api_wait *wait, int64_t now, bool final,
			 int *status, cJSON **answer)
{
	struct relay_auth auth;
	int r = relay_store_auth(st, wait->bearer, &auth);
	if (r < 0)
		return store_error(st, r, status, answer);
	if (!final && !relay_store_claimable(st, &auth, wait->supported))
		return RELAY_API_WAIT;
	bool empty;
	r = claim_answer(st, &auth, wait->supported, true, now, status, answer, &empty);
	/* Another runner won the race for the job we saw: keep waiting. */
	if (r == 0 && empty && !final && *status == 200) {
		cJSON_Delete(*answer);
		*answer = NULL;
		return RELAY_API_WAIT;
	}
	return r;
}

static int do_report(struct relay_store *st, const struct relay_auth *auth, enum relay_report kind,
		     const cJSON *body, int64_t now, int *status, cJSON **answer)
{
	bool dup = false;
	if (!body)
		return answer_error(400, "the report has no body; send a JSON object with jobId", status, answer);
	int r = relay_store_report(st, auth->runner_id, kind, body, now, &dup);
	if (r < 0)
		return store_error(st, r, status, answer);
	cJSON *a = cJSON_CreateObject();
	if (dup)
		cJSON_AddTrueToObject(a, "duplicate");
	*status = 200;
	*answer = a;
	return 0;
}

static int do_status(struct relay_store *st, const struct relay_auth *auth, const cJSON *body, int *status,
		     cJSON **answer)
{
	const char *job_id = body ? dr_json_nonempty(body, "jobId") : NULL;
	if (!job_id)
		return answer_error(400, "jobs/status needs a jobId", status, answer);
	bool cancel = false;
	int r = relay_store_cancel_requested(st, auth->runner_id, job_id, &cancel);
	if (r < 0)
		return store_error(st, r, status, answer);
	cJSON *a = cJSON_CreateObject();
	cJSON *j = cJSON_AddObjectToObject(a, "job");
	cJSON_AddStringToObject(j, "id", job_id);
	cJSON_AddBoolToObject(j, "cancellationRequested", cancel);
	*status = 200;
	*answer = a;
	return 0;
}

static int do_realtime(struct relay_store *st, const struct relay_auth *auth, int64_t now, int *status,
		       cJSON **answer)
{
	int64_t exp_ms = now + RELAY_REALTIME_TTL_MS;
	cJSON *p = cJSON_CreateObject();
	cJSON_AddStringToObject(p, "sub", relay_store_account_id(st));
	cJSON_AddStringToObject(p, "role", "authenticated");
	cJSON_AddStringToObject(p, "runner_id", auth->runner_id);
	/* Names the credential: a rotation and re-pairing kills the old tokens too. */
	cJSON_AddNumberToObject(p, "paired_at", (double)auth->paired_at);
	cJSON_AddNumberToObject(p, "iat", (double)(now / 1000));
	cJSON_AddNumberToObject(p, "exp", (double)(exp_ms / 1000));
	char *payload = dr_json_print(p);
	cJSON_Delete(p);
	char *jwt = relay_jwt_hs256(payload, relay_store_jwt_key(st));
	free(payload);
	char iso[32];
	relay_clock_iso(exp_ms, iso, sizeof(iso));
	cJSON *a = cJSON_CreateObject();
	cJSON_AddStringToObject(a, "token", jwt);
	cJSON_AddStringToObject(a, "expiresAt", iso);
	cJSON_AddStringToObject(a, "supabaseUrl", realtime_url ? realtime_url : RELAY_SUPABASE_URL);
	free(jwt);
	*status = 200;
	*answer = a;
	return 0;
}

int relay_api_handle(struct relay_store *st, const char *path, const char *bearer, const cJSON *body,
		     int64_t now, int *status, cJSON **answer, struct relay_api_wait *wait)
{
	static const char prefix[] = "/api/runner/";
	if (strncmp(path, prefix, sizeof(prefix) - 1) != 0)
		return answer_error(404, "no such endpoint", status, answer);
	const char *name = path + sizeof(prefix) - 1;
	if (body && !cJSON_IsObject(body))
		return answer_error(400, "the request body must be a JSON object", status, answer);
	if (!strcmp(name, "register"))
		return do_register(st, bearer, body, now, status, answer);

	static const char *const known[] = { "heartbeat", "jobs/poll", "jobs/progress", "jobs/complete", "jobs/fail",
					     "jobs/await", "jobs/status", "realtime-token", "unregister" };
	size_t i;
	for (i = 0; i < sizeof(known) / sizeof(known[0]); i++)
		if (!strcmp(name, known[i]))
			break;
	if (i == sizeof(known) / sizeof(known[0])) {
		char msg[300];
		snprintf(msg, sizeof(msg), "no runner endpoint '%.200s'", name);
		return answer_error(404, msg, status, answer);
	}
	struct relay_auth auth;
	int r = relay_store_auth(st, bearer, &auth);
	if (r < 0)
		return store_error(st, r, status, answer);
	switch (i) {
	case 0:
		return do_heartbeat(st, &auth, body, now, status, answer);
	case 1:
		return do_poll(st, bearer, &auth, body, now, status, answer, wait);
	case 2:
		return do_report(st, &auth, RELAY_REPORT_PROGRESS, body, now, status, answer);
	case 3:
		return do_report(st, &auth, RELAY_REPORT_COMPLETE, body, now, status, answer);
	case 4:
		return do_report(st, &auth, RELAY_REPORT_FAIL, body, now, status, answer);
	case 5:
		return do_report(st, &auth, RELAY_REPORT_AWAIT, body, now, status, answer);
	case 6:
		return do_status(st, &auth, body, status, answer);
	case 7:
		return do_realtime(st, &auth, now, status, answer);
	default:
		r = relay_store_unregister(st, auth.runner_id, now);
		if (r < 0)
			return store_error(st, r, status, answer);
		*status = 200;
		*answer = cJSON_CreateObject();
		return 0;
	}
}
