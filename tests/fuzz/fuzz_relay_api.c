/*
 * libFuzzer harness: the relay's runner and admin API handlers
 * (relay_api_handle, relay_admin_handle) on a fresh in-memory store.
 *
 * The input is a script, one request a line: the first byte picks the
 * endpoint (modulo the table below), the rest of the line is the JSON body.
 * In a body, the string "@r" stands for the current runner's id and "@j"
 * for the last job id answered, so that runner and job operations reach
 * past "not found". A runner is paired before the first line, and again
 * whenever its bearer died (unregister, remove, rotate).
 *
 * Every answer must be a JSON object (or a list) with a status the server maps; every
 * refusal says why; a 500 (a database error on a healthy store) aborts.
 */
#include "../../cmd/delego-relay/admin.h"
#include "../../cmd/delego-relay/api.h"

#include "delego/json.h"
#include "delego/xalloc.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define T0 1700000000000LL
#define LINE_MAX_BYTES 8192

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

struct endpoint {
	bool admin;
	const char *method;
	const char *path;
};

static const struct endpoint endpoints[] = {
	{ false, "POST", "/api/runner/register" },     { false, "POST", "/api/runner/heartbeat" },
	{ false, "POST", "/api/runner/jobs/poll" },    { false, "POST", "/api/runner/jobs/progress" },
	{ false, "POST", "/api/runner/jobs/complete" }, { false, "POST", "/api/runner/jobs/fail" },
	{ false, "POST", "/api/runner/jobs/await" },   { false, "POST", "/api/runner/jobs/status" },
	{ false, "POST", "/api/runner/realtime-token" }, { false, "POST", "/api/runner/unregister" },
	{ false, "POST", "/api/runner/nope" },         { true, "POST", "/api/admin/pair-token" },
	{ true, "POST", "/api/admin/runners/rotate" }, { true, "POST", "/api/admin/runners/remove" },
	{ true, "POST", "/api/admin/runners/restart" }, { true, "POST", "/api/admin/jobs" },
	{ true, "POST", "/api/admin/jobs/show" },      { true, "POST", "/api/admin/jobs/cancel" },
	{ true, "POST", "/api/admin/jobs/answer" },    { true, "GET", "/api/admin/settings" },
	{ true, "POST", "/api/admin/settings" },       { true, "GET", "/api/admin/state" },
	{ true, "GET", "/api/admin/runners" },         { true, "GET", "/api/admin/jobs" },
	{ true, "DELETE", "/api/admin/jobs" },
};

struct world {
	struct relay_store *st;
	char *bearer;
	char runner_id[37];
	char *job_id;
	int64_t now;
};

static void check_answer(int status, const cJSON *answer)
{
	/* The admin lists answer arrays; everything else an object. */
	if (!cJSON_IsObject(answer) && !(status == 200 && cJSON_IsArray(answer)))
		abort();
	if (status != 200 && status != 400 && status != 401 && status != 404 && status != 409 && status != 503)
		abort();
	if (status != 200) {
		const char *e = dr_json_str(answer, "error");
		if (!e || !*e)
			abort(); /* every refusal must say why */
	}
}

static void pair(struct world *w)
{
	int status;
	cJSON *a = NULL;
	relay_admin_handle(w->st, "POST", "/api/admin/pair-token", NULL, w->now, &status, &a);
	if (status != 200)
		abort();
	cJSON *body = cJSON_CreateObject();
	cJSON_AddStringToObject(body, "pairingToken", dr_json_str(a, "token"));
	cJSON_Delete(a);
	a = NULL;
	struct relay_api_wait wait = { 0 };
	if (relay_api_handle(w->st, "/api/runner/register", NULL, body, w->now, &status, &a, &wait) != 0 || status != 200)
		abort();
	free(w->bearer);
	w->bearer = dr_xstrdup(dr_json_str(a, "bearer"));
	snprintf(w->runner_id, sizeof(w->runner_id), "%s", dr_json_str(dr_json_obj(a, "runner"), "id"));
	cJSON_Delete(a);
	cJSON_Delete(body);
}

/* Replaces the placeholders "@r" and "@j" anywhere in the tree. */
static void substitute(const struct world *w, cJSON *j)
{
	cJSON *it;
	if (cJSON_IsString(j)) {
		if (!strcmp(j->valuestring, "@r"))
			cJSON_SetValuestring(j, w->runner_id);
		else if (!strcmp(j->valuestring, "@j") && w->job_id)
			cJSON_SetValuestring(j, w->job_id);
		return;
	}
	cJSON_ArrayForEach(it, j) substitute(w, it);
}

static void remember_job(struct world *w, const cJSON *answer)
{
	const cJSON *job = dr_json_obj(answer, "job");
	const char *id = job ? dr_json_str(job, "id") : dr_json_str(answer, "id");
	if (id && strlen(id) < 1024) {
		free(w->job_id);
		w->job_id = dr_xstrdup(id);
	}
}

static void one_request(struct world *w, const char *line, size_t len)
{
	const struct endpoint *e = &endpoints[(unsigned char)line[0] % (sizeof(endpoints) / sizeof(endpoints[0]))];
	cJSON *body = NULL;
	if (len > 1 && dr_json_parse(line + 1, len - 1, LINE_MAX_BYTES, &body) < 0)
		return; /* the server answers 400/413 before any handler runs */
	substitute(w, body);
	int status = 0;
	cJSON *answer = NULL;
	w->now += 1000;
	if (e->admin) {
		relay_admin_handle(w->st, e->method, e->path, body, w->now, &status, &answer);
	} else {
		struct relay_api_wait wait = { 0 };
		int r = relay_api_handle(w->st, e->path, w->bearer, body, w->now, &status, &answer, &wait);
		if (r == RELAY_API_WAIT) {
			/* The wait's end: the server asks once more with final set. */
			if (answer || relay_api_poll_again(w->st, &wait, wait.deadline_ms, true, &status, &answer) != 0)
				abort();
		} else if (r != 0) {
			abort();
		}
		relay_api_wait_release(&wait);
		if (status == 401)
			pair(w);
	}
	check_answer(status, answer);
	remember_job(w, answer);
	cJSON_Delete(answer);
	cJSON_Delete(body);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct world w = { .now = T0 };
	char err[600];
	if (relay_store_open(":memory:", &w.st, err, sizeof(err)) < 0)
		abort();
	pair(&w);
	const char *p = (const char *)data, *end = p + size;
	for (int n = 0; p < end && n < 64; n++) {
		const char *nl = memchr(p, '\n', (size_t)(end - p));
		size_t len = nl ? (size_t)(nl - p) : (size_t)(end - p);
		if (len && len <= LINE_MAX_BYTES)
			one_request(&w, p, len);
		p += len + 1;
	}
	free(w.bearer);
	free(w.job_id);
	relay_store_close(w.st);
	return 0;
}
