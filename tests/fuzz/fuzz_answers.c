/*
 * libFuzzer harness: a relay's answer body as the runner reads it. The
 * body goes through dr_json_parse_object with the relay client's 4 MiB cap
 * (and DR_JSON_MAX_DEPTH), then through the typed getters exactly where
 * the daemon reads register, heartbeat, poll, status and error answers,
 * and any "job" object through dr_job_parse; a body nested too deep goes
 * through dr_json_parse_pruned, as a poll answer does. Besides memory errors, it
 * aborts when a getter hands out a value of the wrong type or when a
 * refusal comes without a reason.
 * Build and run: see tests/fuzz/README.md.
 */
#include "delego/job.h"
#include "delego/json.h"

#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define MAX_ANSWER (4u * 1024 * 1024) /* lib/relay.c */

/* A string getter's answer must be exactly the string member, or NULL. */
static const char *str(const cJSON *obj, const char *key)
{
	const char *s = dr_json_str(obj, key);
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(obj, key);
	if ((s != NULL) != (cJSON_IsString(v) && v->valuestring != NULL))
		abort();
	const char *ne = dr_json_nonempty(obj, key);
	if (ne && (ne != s || !*ne))
		abort();
	if (s)
		(void)strlen(s);
	return s;
}

static const cJSON *obj(const cJSON *o, const char *key)
{
	const cJSON *v = dr_json_obj(o, key);
	if (v && !cJSON_IsObject(v))
		abort();
	return v;
}

static bool truth(const cJSON *o, const char *key)
{
	bool t = dr_json_true(o, key);
	if (t && !cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(o, key)))
		abort();
	return t;
}

static void job_object(const cJSON *job)
{
	struct dr_job *j = NULL;
	char err[512];
	err[0] = '\0';
	int r = dr_job_parse(job, &j, err, sizeof err);
	if (r < 0 && !err[0])
		abort(); /* every refusal must say why */
	if (r < 0 && r != -EINVAL)
		abort();
	if (j && !dr_job_id_valid(j->id))
		abort();
	if (r == 0 && !j)
		abort();
	dr_job_free(j);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	cJSON *body = NULL;
	int r = dr_json_parse_object((const char *)data, size, MAX_ANSWER, &body);
	if (r < 0) {
		if (r != -EINVAL && r != -E2BIG)
			abort();
		/* A poll answer nested too deep: the runner reads its job from the pruned text. */
		if (r == -E2BIG && size <= MAX_ANSWER && dr_json_parse_pruned((const char *)data, size, MAX_ANSWER, &body) == 0) {
			if (!cJSON_IsObject(body))
				abort();
			const cJSON *job = cJSON_GetObjectItemCaseSensitive(body, "job");
			if (cJSON_IsObject(job))
				(void)str(job, "id");
			cJSON_Delete(body);
		}
		return 0;
	}
	if (!cJSON_IsObject(body))
		abort();

	/* Any non-2xx: {"error": "..."} made into one bounded line (relay.c). */
	const char *e = str(body, "error");
	char message[512];
	snprintf(message, sizeof message, "HTTP %ld: %.300s", 500L, e ? e : "");

	/* register */
	const cJSON *runner = obj(body, "runner");
	const char *id = runner ? dr_json_nonempty(runner, "id") : NULL;
	const char *bearer = str(body, "bearer");
	if (id && bearer)
		(void)(strlen(id) > 256 || strlen(bearer) > 4096);

	/* heartbeat */
	const char *status = runner ? str(runner, "status") : NULL;
	(void)status;
	(void)truth(body, "restart");

	/* poll */
	(void)truth(body, "longPoll");
	(void)str(body, "reason");
	const cJSON *job = cJSON_GetObjectItemCaseSensitive(body, "job");
	if (cJSON_IsObject(job))
		job_object(job);

	/* status */
	const cJSON *sj = obj(body, "job");
	if (sj)
		(void)truth(sj, "cancellationRequested");

	/* realtime-token */
	(void)str(body, "token");
	(void)str(body, "supabaseUrl");
	(void)dr_json_num(body, "expiresAt", 0);
	(void)str(body, "expiresAt");

	cJSON_Delete(body);
	return 0;
}
