/* store: jobs: queueing, claims, reports, cancels, answers, and the job lists. */
#include "store-int.h"

#include "clock.h"
#include "token.h"

#include "delego/buf.h"
#include "delego/json.h"
#include "delego/strv.h"
#include "delego/xalloc.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define EVENT_ID_MAX 200

int relay__store_fail_held_jobs(struct relay_store *st, const char *runner_id, const char *why, bool parked, int64_t now)
{
	sqlite3_stmt *s = relay__store_prep(st, parked ? "SELECT id FROM jobs WHERE runner_id = ?1 AND status IN ('running', 'awaiting_input')"
					  : "SELECT id FROM jobs WHERE runner_id = ?1 AND status = 'running'");
	if (!s)
		return -EIO;
	relay__store_bind_text(s, 1, runner_id);
	struct dr_strv ids = DR_STRV_INIT;
	while (sqlite3_step(s) == SQLITE_ROW)
		dr_strv_push(&ids, (const char *)sqlite3_column_text(s, 0));
	sqlite3_finalize(s);
	int r = 0;
	for (size_t i = 0; i < ids.n && r >= 0; i++) {
		sqlite3_stmt *u = relay__store_prep(st, "UPDATE jobs SET status = 'failed', summary = ?2, finished_at = ?3, "
					   "updated_at = ?3, cancellation_requested = 1 WHERE id = ?1");
		sqlite3_stmt *e = relay__store_prep(st, "INSERT INTO events(job_id, runner_id, kind, summary, created_at) "
					   "VALUES(?1, ?2, 'fail', ?3, ?4)");
		if (!u || !e) {
			sqlite3_finalize(u);
			sqlite3_finalize(e);
			r = -EIO;
			break;
		}
		relay__store_bind_text(u, 1, ids.v[i]);
		relay__store_bind_text(u, 2, why);
		sqlite3_bind_int64(u, 3, now);
		relay__store_bind_text(e, 1, ids.v[i]);
		relay__store_bind_text(e, 2, runner_id);
		relay__store_bind_text(e, 3, why);
		sqlite3_bind_int64(e, 4, now);
		if (sqlite3_step(u) != SQLITE_DONE || sqlite3_step(e) != SQLITE_DONE)
			r = relay__store_db_fail(st);
		sqlite3_finalize(u);
		sqlite3_finalize(e);
	}
	/* A job parked for this runner's worktree cannot resume elsewhere. */
	if (r >= 0 && parked)
		r = relay__store_run(st, "UPDATE jobs SET pinned_runner_id = NULL WHERE pinned_runner_id = ?1", "t", runner_id);
	dr_strv_release(&ids);
	return r < 0 ? r : 0;
}

/* The queued-job query: oldest first, pinned jobs only for their runner. */
static sqlite3_stmt *claim_query(struct relay_store *st, const struct relay_auth *auth, unsigned mask)
{
	char def[16];
	sqlite3_stmt *s = relay__store_prep(st, "SELECT seq, id, executor, raw, body FROM jobs WHERE status = 'queued' "
				   "AND (pinned_runner_id IS NULL OR pinned_runner_id = ?1) "
				   "AND ((coalesce(executor, ?2) = 'claude' AND ?3) OR (coalesce(executor, ?2) = 'codex' AND ?4)) "
				   "ORDER BY seq LIMIT 1");
	if (!s)
		return NULL;
	relay__store_bind_text(s, 1, auth->runner_id);
	relay__store_bind_text(s, 2, relay__store_default_executor(st, def, sizeof(def)));
	sqlite3_bind_int(s, 3, (mask & RELAY_EXEC_CLAUDE) != 0);
	sqlite3_bind_int(s, 4, (mask & RELAY_EXEC_CODEX) != 0);
	return s;
}

static unsigned claim_mask(const struct relay_auth *auth, unsigned supported)
{
	unsigned m = supported ? supported : auth->reported_mask ? auth->reported_mask : RELAY_EXEC_ALL;
	return m & auth->exec_mask;
}

bool relay_store_claimable(struct relay_store *st, const struct relay_auth *auth, unsigned supported)
{
	sqlite3_stmt *s = claim_query(st, auth, claim_mask(auth, supported));
	bool yes = s && sqlite3_step(s) == SQLITE_ROW;
	sqlite3_finalize(s);
	return yes;
}

static const char *const job_fields[] = {
	"id", "organizationId", "agentSessionId", "attemptId", "repositorySlug", "executionPreferences",
	"requestPayload", "publishingPolicy", "linearIssue", "promptSummary", "promptContext", "resumeContext",
};

/* The job object handed to a runner: section 3's fields in order. */
static cJSON *job_for_runner(const char *id, bool raw, const char *body_text, const char *attempt,
			     const char *effective_exec)
{
	cJSON *body = cJSON_Parse(body_text);
	if (!body)
		body = cJSON_CreateObject();
	if (raw) {
		/* Raw jobs go out as stored, hostile fields and all. */
		if (!cJSON_GetObjectItemCaseSensitive(body, "id"))
			cJSON_AddStringToObject(body, "id", id);
		if (!cJSON_GetObjectItemCaseSensitive(body, "attemptId"))
			cJSON_AddStringToObject(body, "attemptId", attempt);
		return body;
	}
	cJSON *job = cJSON_CreateObject();
	for (size_t i = 0; i < sizeof(job_fields) / sizeof(job_fields[0]); i++) {
		const char *k = job_fields[i];
		if (!strcmp(k, "id"))
			cJSON_AddStringToObject(job, k, id);
		else if (!strcmp(k, "attemptId"))
			cJSON_AddStringToObject(job, k, attempt);
		else {
			cJSON *v = cJSON_DetachItemFromObjectCaseSensitive(body, k);
			cJSON_AddItemToObject(job, k, v ? v : cJSON_CreateNull());
		}
	}
	cJSON *prefs = cJSON_GetObjectItemCaseSensitive(job, "executionPreferences");
	if (cJSON_IsObject(prefs) && !dr_json_nonempty(prefs, "executor")) {
		cJSON_DeleteItemFromObjectCaseSensitive(prefs, "executor");
		cJSON_AddStringToObject(prefs, "executor", effective_exec);
	}
	cJSON_Delete(body);
	return job;
}

static int add_event(struct relay_store *st, const char *job_id, const char *runner_id, const char *kind,
		     const char *event_id, const char *summary, const cJSON *metadata, int64_t now)
{
	char *meta = metadata ? dr_json_print(metadata) : NULL;
	int r = relay__store_run(st, "INSERT INTO events(job_id, runner_id, kind, event_id, summary, metadata, created_at) "
				     "VALUES(?1, ?2, ?3, ?4, ?5, ?6, ?7)",
				 "tttttti", job_id, runner_id, kind, event_id, summary, meta, now);
	free(meta);
	return r < 0 ? r : 0;
}

struct claim_args {
	const struct relay_auth *auth;
	unsigned mask;
	int64_t now;
	cJSON *job;
	const char *reason;
};

static int claim_body(struct relay_store *st, void *arg)
{
	struct claim_args *a = arg;
	sqlite3_stmt *s = claim_query(st, a->auth, a->mask);
	if (!s)
		return -EIO;
	int rc = sqlite3_step(s);
	if (rc != SQLITE_ROW) {
		sqlite3_finalize(s);
		a->reason = "no queued job for this runner's executors";
		return rc == SQLITE_DONE ? 0 : relay__store_db_fail(st);
	}
	char *id = relay__store_col_strdup(s, 1), *exec = relay__store_col_strdup(s, 2), *body = relay__store_col_strdup(s, 4);
	bool raw = sqlite3_column_int(s, 3);
	sqlite3_finalize(s);
	char attempt[37], def[16];
	relay_uuid(attempt);
	const char *eff = exec && (!strcmp(exec, "claude") || !strcmp(exec, "codex"))
				  ? exec
				  : relay__store_default_executor(st, def, sizeof(def));
	int r = relay__store_run(st, "UPDATE jobs SET status = 'running', runner_id = ?2, attempt_id = ?3, claimed_at = ?4, "
				     "updated_at = ?4, finished_at = NULL WHERE id = ?1 AND status = 'queued'",
				 "ttti", id, a->auth->runner_id, attempt, a->now);
	if (r >= 0) {
		cJSON *meta = cJSON_CreateObject();
		cJSON_AddStringToObject(meta, "attemptId", attempt);
		cJSON_AddStringToObject(meta, "runnerId", a->auth->runner_id);
		cJSON_AddStringToObject(meta, "executor", eff);
		r = add_event(st, id, a->auth->runner_id, "claim", NULL, "Claimed by a runner.", meta, a->now);
		cJSON_Delete(meta);
	}
	if (r >= 0)
		a->job = job_for_runner(id, raw, body, attempt, eff);
	free(id);
	free(exec);
	free(body);
	return r;
}

int relay_store_claim(struct relay_store *st, const struct relay_auth *auth, unsigned supported, int64_t now,
		      cJSON **job, const char **reason)
{
	struct claim_args a = { .auth = auth, .mask = claim_mask(auth, supported), .now = now };
	*job = NULL;
	*reason = NULL;
	if (!a.mask) {
		*reason = "none of this runner's executors is allowed for it";
		return 0;
	}
	int r = relay__store_tx(st, claim_body, &a);
	if (r < 0) {
		cJSON_Delete(a.job);
		return r;
	}
	*job = a.job;
	*reason = a.reason;
	return 0;
}

/* The holder and status of a job; -ENOENT when unknown. Strings owned. */
static int job_state(struct relay_store *st, const char *job_id, char **runner_id, char **status)
{
	sqlite3_stmt *s = relay__store_prep(st, "SELECT runner_id, status FROM jobs WHERE id = ?1");
	if (!s)
		return -EIO;
	relay__store_bind_text(s, 1, job_id);
	int rc = sqlite3_step(s);
	if (rc == SQLITE_ROW) {
		*runner_id = relay__store_col_strdup(s, 0);
		*status = relay__store_col_strdup(s, 1);
	}
	sqlite3_finalize(s);
	if (rc == SQLITE_ROW)
		return 0;
	return rc == SQLITE_DONE ? relay__store_fail(st, -ENOENT, "no job '%s' on this relay", job_id) : relay__store_db_fail(st);
}

static bool event_seen(struct relay_store *st, const char *job_id, const char *event_id)
{
	sqlite3_stmt *s = relay__store_prep(st, "SELECT 1 FROM events WHERE job_id = ?1 AND event_id = ?2");
	bool seen = false;
	if (s) {
		relay__store_bind_text(s, 1, job_id);
		relay__store_bind_text(s, 2, event_id);
		seen = sqlite3_step(s) == SQLITE_ROW;
	}
	sqlite3_finalize(s);
	return seen;
}

static const char *const report_kinds[] = { "progress", "complete", "fail", "await" };

struct report_args {
	const char *runner_id, *job_id, *event_id;
	enum relay_report kind;
	const cJSON *body;
	int64_t now;
	bool duplicate;
	/* Decided by plan_report: */
	const char *next, *summary;
	const cJSON *metadata;
	cJSON *await_info; /* owned */
};

/* What a report does to a job in this status: a->next (NULL: stays), summary and metadata. */
static int plan_report(struct relay_store *st, struct report_args *a, const char *status)
{
	bool cancelled = !strcmp(status, "cancelled"), running = !strcmp(status, "running");
	a->summary = dr_json_str(a->body, "summary");
	a->metadata = cJSON_GetObjectItemCaseSensitive(a->body, "metadata");
	switch (a->kind) {
	case RELAY_REPORT_PROGRESS:
		return 0;
	case RELAY_REPORT_COMPLETE:
		if (!running && !cancelled)
			return relay__store_fail(st, -EBUSY, "job '%s' is %s, not running; a second completion is refused",
						 a->job_id, status);
		a->next = running ? "completed" : NULL;
		return 0;
	case RELAY_REPORT_FAIL:
		if (!running && !cancelled)
			return relay__store_fail(st, -EBUSY, "job '%s' is %s, not running; a failure report is refused",
						 a->job_id, status);
		a->next = running ? (dr_json_true(a->body, "cancelled") ? "cancelled" : "failed") : NULL;
		return 0;
	case RELAY_REPORT_AWAIT:
		break;
	}
	if (!running)
		return relay__store_fail(st, -EBUSY, "job '%s' is %s, not running; it cannot wait for input", a->job_id,
					 status);
	a->next = "awaiting_input";
	a->await_info = cJSON_CreateObject();
	static const char *const keys[] = { "sessionId", "question", "worktreePath", "branchName", "attemptId" };
	for (size_t i = 0; i < sizeof(keys) / sizeof(keys[0]); i++) {
		const cJSON *v = cJSON_GetObjectItemCaseSensitive(a->body, keys[i]);
		cJSON_AddItemToObject(a->await_info, keys[i], v ? cJSON_Duplicate(v, 1) : cJSON_CreateNull());
	}
	a->metadata = a->await_info;
	const cJSON *q = dr_json_obj(a->body, "question");
	const char *qs = q ? dr_json_str(q, "question") : dr_json_str(a->body, "question");
	a->summary = qs ? qs : "The agent asked a question.";
	return 0;
}

/* Records the planned report: its event, then the job's new state. */
static int apply_report(struct relay_store *st, const struct report_args *a)
{
	int r = add_event(st, a->job_id, a->runner_id, report_kinds[a->kind], a->event_id, a->summary, a->metadata,
			  a->now);
	if (r < 0)
		return r;
	if (!a->next)
		return relay__store_run(st, "UPDATE jobs SET updated_at = ?2 WHERE id = ?1", "ti", a->job_id, a->now);
	char *meta = a->metadata && a->kind != RELAY_REPORT_AWAIT ? dr_json_print(a->metadata) : NULL;
	char *aw = a->await_info ? dr_json_print(a->await_info) : NULL;
	r = relay__store_run(st, "UPDATE jobs SET status = ?2, summary = ?3, metadata = ?4, await_info = ?5, "
				 "updated_at = ?6, finished_at = CASE WHEN ?2 = 'awaiting_input' THEN NULL ELSE ?6 END "
				 "WHERE id = ?1",
			     "ttttti", a->job_id, a->next, a->summary, meta, aw, a->now);
	free(meta);
	free(aw);
	return r;
}

static int report_body(struct relay_store *st, void *arg)
{
	struct report_args *a = arg;
	char *holder = NULL, *status = NULL;
	int r = job_state(st, a->job_id, &holder, &status);
	if (r < 0)
		return r;
	if (a->event_id && event_seen(st, a->job_id, a->event_id))
		a->duplicate = true;
	else if (!holder || strcmp(holder, a->runner_id) != 0)
		r = relay__store_fail(st, -EBUSY, "job '%s' is not held by this runner (it was reassigned or never claimed)",
				      a->job_id);
	else if ((r = plan_report(st, a, status)) >= 0)
		r = apply_report(st, a);
	free(holder);
	free(status);
	return r;
}

int relay_store_report(struct relay_store *st, const char *runner_id, enum relay_report kind,
		       const cJSON *body, int64_t now, bool *duplicate)
{
	struct report_args a = { .runner_id = runner_id, .job_id = dr_json_nonempty(body, "jobId"),
				 .event_id = dr_json_nonempty(body, "eventId"), .kind = kind, .body = body, .now = now };
	*duplicate = false;
	if (!a.job_id)
		return relay__store_fail(st, -EINVAL, "the report has no jobId");
	if (a.event_id && strlen(a.event_id) > EVENT_ID_MAX)
		return relay__store_fail(st, -EINVAL, "eventId is longer than %d characters", EVENT_ID_MAX);
	int r = relay__store_tx(st, report_body, &a);
	cJSON_Delete(a.await_info);
	if (r < 0)
		return r;
	*duplicate = a.duplicate;
	return 0;
}

int relay_store_cancel_requested(struct relay_store *st, const char *runner_id, const char *job_id, bool *cancel)
{
	sqlite3_stmt *s = relay__store_prep(st, "SELECT runner_id, cancellation_requested, status FROM jobs WHERE id = ?1");
	if (!s)
		return -EIO;
	relay__store_bind_text(s, 1, job_id ? job_id : "");
	int rc = sqlite3_step(s);
	if (rc == SQLITE_ROW) {
		const char *holder = (const char *)sqlite3_column_text(s, 0);
		*cancel = sqlite3_column_int(s, 1) || !holder || strcmp(holder, runner_id) != 0;
	} else if (rc == SQLITE_DONE) {
		*cancel = true; /* a job the relay no longer knows must not keep running */
	}
	sqlite3_finalize(s);
	return rc == SQLITE_ROW || rc == SQLITE_DONE ? 0 : relay__store_db_fail(st);
}

static bool valid_slug(const char *s)
{
	const char *slash = strchr(s, '/');
	if (!slash || slash == s || !slash[1] || strchr(slash + 1, '/') || strlen(s) > 200)
		return false;
	for (const char *p = s; *p; p++)
		if (!(*p == '/' || *p == '-' || *p == '_' || *p == '.' || (*p >= '0' && *p <= '9') ||
		      (*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z')))
			return false;
	return s[0] != '-' && s[0] != '.' && slash[1] != '-' && slash[1] != '.' && !strstr(s, "..");
}

static int insert_job(struct relay_store *st, const char *id, const char *exec, bool raw, const cJSON *body,
		      int64_t now, int64_t *seq)
{
	char *text = dr_json_print(body);
	int r = relay__store_run(st, "INSERT INTO jobs(id, status, executor, raw, body, created_at, updated_at) "
				     "VALUES(?1, 'queued', ?2, ?3, ?4, ?5, ?5)",
				 "ttiti", id, exec, (int64_t)raw, text, now);
	free(text);
	if (r == -EEXIST)
		return relay__store_fail(st, -EEXIST, "a job with id '%s' already exists", id);
	if (r < 0)
		return r;
	*seq = sqlite3_last_insert_rowid(st->db);
	return add_event(st, id, NULL, "queued", NULL, "Queued.", NULL, now);
}

static int update_body(struct relay_store *st, const char *id, const cJSON *body)
{
	char *text = dr_json_print(body);
	int r = relay__store_run(st, "UPDATE jobs SET body = ?2 WHERE id = ?1", "tt", id, text);
	free(text);
	return r < 0 ? r : 0;
}

struct add_args {
	const char *id, *exec;
	bool raw;
	cJSON *body;
	cJSON *issue; /* in body, for a job from a spec: gets the identifier once the row has its number */
	const struct relay_job_spec *spec;
	int64_t now;
};

static int add_body(struct relay_store *st, void *arg)
{
	struct add_args *a = arg;
	int64_t seq = 0;
	int r = insert_job(st, a->id, a->exec, a->raw, a->body, a->now, &seq);
	if (r < 0 || !a->issue)
		return r;
	char ident[40];
	snprintf(ident, sizeof(ident), "LOCAL-%lld", (long long)seq);
	cJSON_AddStringToObject(a->issue, "identifier", a->spec->identifier ? a->spec->identifier : ident);
	cJSON_AddStringToObject(a->issue, "title", a->spec->title ? a->spec->title : "");
	dr_json_add_str_or_null(a->issue, "url", a->spec->url);
	return update_body(st, a->id, a->body);
}

int relay_store_job_add(struct relay_store *st, const struct relay_job_spec *sp, int64_t now, char **id_out)
{
	if (!sp->repo || !valid_slug(sp->repo))
		return relay__store_fail(st, -EINVAL, "--repo must look like owner/repo (letters, digits, '-', '_', '.'), got '%s'",
			    sp->repo ? sp->repo : "");
	if (sp->executor && strcmp(sp->executor, "claude") && strcmp(sp->executor, "codex"))
		return relay__store_fail(st, -EINVAL, "--executor must be claude or codex, got '%s'", sp->executor);
	if (sp->thinking && strcmp(sp->thinking, "low") && strcmp(sp->thinking, "medium") && strcmp(sp->thinking, "high"))
		return relay__store_fail(st, -EINVAL, "--thinking must be low, medium or high, got '%s'", sp->thinking);
	if (sp->auto_create_pr && !sp->auto_push)
		return relay__store_fail(st, -EINVAL, "--auto-create-pr needs --auto-push: a pull request needs a pushed branch");
	if (sp->pr_draft && !sp->auto_create_pr)
		return relay__store_fail(st, -EINVAL, "--pr-draft needs --auto-create-pr");
	char id[37], session[37];
	relay_uuid(id);
	relay_uuid(session);
	cJSON *b = cJSON_CreateObject();
	cJSON_AddStringToObject(b, "organizationId", st->account_id);
	cJSON_AddStringToObject(b, "agentSessionId", session);
	cJSON_AddStringToObject(b, "repositorySlug", sp->repo);
	cJSON *prefs = cJSON_AddObjectToObject(b, "executionPreferences");
	dr_json_add_str_or_null(prefs, "executor", sp->executor);
	dr_json_add_str_or_null(prefs, "model", sp->model);
	dr_json_add_str_or_null(prefs, "thinking", sp->thinking);
	cJSON *payload = cJSON_AddObjectToObject(b, "requestPayload");
	cJSON_AddStringToObject(payload, "source", "delego-relay");
	cJSON *pol = cJSON_AddObjectToObject(b, "publishingPolicy");
	cJSON_AddBoolToObject(pol, "autoPush", sp->auto_push);
	cJSON_AddBoolToObject(pol, "autoCreatePr", sp->auto_create_pr);
	cJSON_AddBoolToObject(pol, "prDraft", sp->pr_draft);
	cJSON *issue = cJSON_AddObjectToObject(b, "linearIssue");
	const char *title = sp->title ? sp->title : "";
	cJSON_AddStringToObject(b, "promptSummary", sp->prompt ? sp->prompt : title);
	cJSON_AddObjectToObject(b, "promptContext");
	cJSON_AddNullToObject(b, "resumeContext");
	struct add_args a = { .id = id, .exec = sp->executor, .body = b, .issue = issue, .spec = sp, .now = now };
	int r = relay__store_tx(st, add_body, &a);
	if (r >= 0)
		*id_out = dr_xstrdup(id);
	cJSON_Delete(b);
	return r < 0 ? r : 0;
}

/* The nesting depth of j (a scalar is 0), counting no further than limit + 1. */
static int json_depth(const cJSON *j, int limit)
{
	if (!cJSON_IsObject(j) && !cJSON_IsArray(j))
		return 0;
	int deepest = 0;
	const cJSON *it;
	cJSON_ArrayForEach(it, j)
	{
		if (deepest > limit)
			break;
		int d = json_depth(it, limit - 1);
		if (d > deepest)
			deepest = d;
	}
	return deepest + 1;
}

int relay_store_job_add_raw(struct relay_store *st, const cJSON *raw, int64_t now, char **id_out)
{
	if (!cJSON_IsObject(raw))
		return relay__store_fail(st, -EINVAL, "a raw job must be a JSON object");
	if (json_depth(raw, RELAY_JOB_DEPTH_MAX) > RELAY_JOB_DEPTH_MAX)
		return relay__store_fail(st, -EINVAL, "the job is nested more than %d levels deep; runners could not report on it",
			    RELAY_JOB_DEPTH_MAX);
	cJSON *b = cJSON_Duplicate(raw, 1);
	char gen[37], session[37];
	relay_uuid(gen);
	const cJSON *idv = cJSON_GetObjectItemCaseSensitive(b, "id");
	/* The row key: the given string id, else a fresh one (a non-string id stays in the body as-is). */
	const char *key = cJSON_IsString(idv) && *idv->valuestring ? idv->valuestring : gen;
	if (strlen(key) > 1000) {
		cJSON_Delete(b);
		return relay__store_fail(st, -EINVAL, "a raw job id must be at most 1000 characters");
	}
	if (!idv)
		cJSON_AddStringToObject(b, "id", gen);
	if (!cJSON_GetObjectItemCaseSensitive(b, "organizationId"))
		cJSON_AddStringToObject(b, "organizationId", st->account_id);
	if (!cJSON_GetObjectItemCaseSensitive(b, "agentSessionId")) {
		relay_uuid(session);
		cJSON_AddStringToObject(b, "agentSessionId", session);
	}
	char *keycopy = dr_xstrdup(key);
	const cJSON *prefs = dr_json_obj(b, "executionPreferences");
	const char *exec = prefs ? dr_json_str(prefs, "executor") : NULL;
	if (exec && strcmp(exec, "claude") && strcmp(exec, "codex"))
		exec = NULL;
	struct add_args a = { .id = keycopy, .exec = exec, .raw = true, .body = b, .now = now };
	int r = relay__store_tx(st, add_body, &a);
	if (r < 0)
		free(keycopy);
	else
		*id_out = keycopy;
	cJSON_Delete(b);
	return r < 0 ? r : 0;
}

#define JOB_COLS                                                                                           \
	"id, status, runner_id, pinned_runner_id, attempt_id, executor, body, cancellation_requested,"     \
	" summary, metadata, await_info, created_at, updated_at, claimed_at, finished_at"

static cJSON *events_json(struct relay_store *st, const char *job_id, int limit)
{
	cJSON *a = cJSON_CreateArray();
	sqlite3_stmt *s = relay__store_prep(st, "SELECT * FROM (SELECT seq, kind, event_id, summary, metadata, runner_id, created_at "
				   "FROM events WHERE job_id = ?1 ORDER BY seq DESC LIMIT ?2) ORDER BY seq");
	if (!s)
		return a;
	relay__store_bind_text(s, 1, job_id);
	sqlite3_bind_int(s, 2, limit > 0 ? limit : -1);
	while (sqlite3_step(s) == SQLITE_ROW) {
		cJSON *e = cJSON_CreateObject();
		cJSON_AddNumberToObject(e, "seq", (double)sqlite3_column_int64(s, 0));
		relay__store_add_col_str(e, "kind", s, 1);
		relay__store_add_col_str(e, "eventId", s, 2);
		relay__store_add_col_str(e, "summary", s, 3);
		relay__store_add_col_json(e, "metadata", s, 4);
		relay__store_add_col_str(e, "runnerId", s, 5);
		relay__store_add_time(e, "at", s, 6);
		cJSON_AddItemToArray(a, e);
	}
	sqlite3_finalize(s);
	return a;
}

static cJSON *job_json(struct relay_store *st, sqlite3_stmt *s, bool full, int event_limit)
{
	cJSON *o = cJSON_CreateObject();
	const char *id = (const char *)sqlite3_column_text(s, 0);
	cJSON *body = cJSON_Parse((const char *)sqlite3_column_text(s, 6));
	relay__store_add_col_str(o, "id", s, 0);
	relay__store_add_col_str(o, "status", s, 1);
	relay__store_add_col_str(o, "runnerId", s, 2);
	relay__store_add_col_str(o, "pinnedRunnerId", s, 3);
	relay__store_add_col_str(o, "attemptId", s, 4);
	cJSON_AddBoolToObject(o, "cancellationRequested", sqlite3_column_int(s, 7));
	const cJSON *rs = body ? cJSON_GetObjectItemCaseSensitive(body, "repositorySlug") : NULL;
	dr_json_add_str_or_null(o, "repositorySlug", cJSON_IsString(rs) ? rs->valuestring : NULL);
	const cJSON *issue = body ? dr_json_obj(body, "linearIssue") : NULL;
	dr_json_add_str_or_null(o, "identifier", issue ? dr_json_str(issue, "identifier") : NULL);
	dr_json_add_str_or_null(o, "title", issue ? dr_json_str(issue, "title") : NULL);
	relay__store_add_col_str(o, "executor", s, 5);
	relay__store_add_col_str(o, "summary", s, 8);
	relay__store_add_time(o, "createdAt", s, 11);
	relay__store_add_time(o, "updatedAt", s, 12);
	relay__store_add_time(o, "claimedAt", s, 13);
	relay__store_add_time(o, "finishedAt", s, 14);
	relay__store_add_col_json(o, "awaiting", s, 10);
	if (full) {
		relay__store_add_col_json(o, "metadata", s, 9);
		cJSON_AddItemToObject(o, "job", body ? body : cJSON_CreateNull());
		body = NULL;
	}
	if (full || event_limit)
		cJSON_AddItemToObject(o, "events", events_json(st, id, full ? 0 : event_limit));
	cJSON_Delete(body);
	return o;
}

int relay_store_jobs(struct relay_store *st, int limit, bool with_events, cJSON **out)
{
	sqlite3_stmt *s = relay__store_prep(st, "SELECT " JOB_COLS " FROM jobs ORDER BY seq DESC LIMIT ?1");
	if (!s)
		return -EIO;
	sqlite3_bind_int(s, 1, limit > 0 ? limit : -1);
	cJSON *a = cJSON_CreateArray();
	int rc;
	while ((rc = sqlite3_step(s)) == SQLITE_ROW)
		cJSON_AddItemToArray(a, job_json(st, s, false, with_events ? 20 : 0));
	sqlite3_finalize(s);
	if (rc != SQLITE_DONE) {
		cJSON_Delete(a);
		return relay__store_db_fail(st);
	}
	*out = a;
	return 0;
}

int relay_store_job_show(struct relay_store *st, const char *id, cJSON **out)
{
	sqlite3_stmt *s;
	int r = relay__store_row_by_id(st, "SELECT " JOB_COLS " FROM jobs WHERE id = ?1", id, &s);
	if (r == -ENOENT)
		return relay__store_fail(st, r, "no job '%s'; list them with `delego-relay job list`", id);
	if (r < 0)
		return r;
	*out = job_json(st, s, true, 0);
	sqlite3_finalize(s);
	return 0;
}

struct job_op_args {
	const char *id, *text;
	int64_t now;
};

static int cancel_body(struct relay_store *st, void *arg)
{
	const struct job_op_args *a = arg;
	char *holder = NULL, *status = NULL;
	int r = job_state(st, a->id, &holder, &status);
	if (r < 0)
		return r;
	if (strcmp(status, "queued") && strcmp(status, "running") && strcmp(status, "awaiting_input"))
		r = relay__store_fail(st, -EINVAL, "job '%s' is already %s; nothing to cancel", a->id, status);
	/* A running job stays held by its runner so that its final report is accepted. */
	if (r >= 0)
		r = relay__store_run(st, "UPDATE jobs SET status = 'cancelled', cancellation_requested = 1, updated_at = ?2, "
					 "finished_at = ?2, summary = coalesce(summary, 'Cancelled from the relay.') WHERE id = ?1",
				     "ti", a->id, a->now);
	if (r >= 0)
		r = add_event(st, a->id, NULL, "cancel", NULL, "Cancellation requested.", NULL, a->now);
	free(holder);
	free(status);
	return r;
}

int relay_store_job_cancel(struct relay_store *st, const char *id, int64_t now)
{
	struct job_op_args a = { .id = id, .now = now };
	int r = relay__store_tx(st, cancel_body, &a);
	return r < 0 ? r : 0;
}

/* The job's body with the answer as its resumeContext (owned), and its runner (owned), if it is awaiting input. */
static int answered_body(struct relay_store *st, const struct job_op_args *a, cJSON **body_out, char **runner_out)
{
	sqlite3_stmt *s = relay__store_prep(st, "SELECT status, runner_id, await_info, body FROM jobs WHERE id = ?1");
	if (!s)
		return -EIO;
	relay__store_bind_text(s, 1, a->id);
	int r = 0, rc = sqlite3_step(s);
	if (rc != SQLITE_ROW)
		r = rc == SQLITE_DONE ? relay__store_fail(st, -ENOENT, "no job '%s'", a->id) : relay__store_db_fail(st);
	else if (strcmp((const char *)sqlite3_column_text(s, 0), "awaiting_input") != 0)
		r = relay__store_fail(st, -EINVAL, "job '%s' is %s, not awaiting_input; only a job that asked a question takes an answer",
				      a->id, (const char *)sqlite3_column_text(s, 0));
	if (r < 0) {
		sqlite3_finalize(s);
		return r;
	}
	*runner_out = relay__store_col_strdup(s, 1);
	cJSON *info = cJSON_Parse(sqlite3_column_text(s, 2) ? (const char *)sqlite3_column_text(s, 2) : "{}");
	cJSON *body = cJSON_Parse((const char *)sqlite3_column_text(s, 3));
	sqlite3_finalize(s);
	if (!body)
		body = cJSON_CreateObject();
	cJSON_DeleteItemFromObjectCaseSensitive(body, "resumeContext");
	cJSON *resume = cJSON_AddObjectToObject(body, "resumeContext");
	dr_json_add_str_or_null(resume, "claudeSessionId", info ? dr_json_str(info, "sessionId") : NULL);
	cJSON_AddStringToObject(resume, "userReply", a->text);
	cJSON_Delete(info);
	*body_out = body;
	return 0;
}

static int answer_body(struct relay_store *st, void *arg)
{
	const struct job_op_args *a = arg;
	cJSON *body = NULL;
	char *runner = NULL;
	int r = answered_body(st, a, &body, &runner);
	if (r >= 0 && (r = update_body(st, a->id, body)) >= 0 &&
	    (r = relay__store_run(st, "UPDATE jobs SET status = 'queued', pinned_runner_id = ?2, updated_at = ?3, "
				      "summary = NULL WHERE id = ?1", "tti", a->id, runner, a->now)) >= 0)
		r = add_event(st, a->id, NULL, "answer", NULL, a->text, NULL, a->now);
	free(runner);
	cJSON_Delete(body);
	return r;
}

int relay_store_job_answer(struct relay_store *st, const char *id, const char *text, int64_t now)
{
	struct job_op_args a = { .id = id, .text = text, .now = now };
	int r = relay__store_tx(st, answer_body, &a);
	return r < 0 ? r : 0;
}
