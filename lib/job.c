/* job: parse and validate the JOB OBJECT of delego-runner-protocol(7). */
#include "delego/job.h"
#include "delego/json.h"
#include "delego/xalloc.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Room for the slug's two parts and the separator. */
#define SLUG_MAX (2 * DR_JOB_SLUG_PART_MAX + 1)
/* Quoted user values in error sentences are kept short. */
#define QUOTE_MAX 80
#define BRANCH_KEY_MAX 64

static int fail(char *err, size_t errlen, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static int fail(char *err, size_t errlen, const char *fmt, ...)
{
	if (err && errlen) {
		va_list ap;
		va_start(ap, fmt);
		vsnprintf(err, errlen, fmt, ap);
		va_end(ap);
	}
	return -EINVAL;
}

static bool is_alnum(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
}

/* True when s can be quoted in an error sentence as it is. */
static bool quotable(const char *s)
{
	size_t n = 0;
	for (; s[n]; n++)
		if ((unsigned char)s[n] < 0x20 || (unsigned char)s[n] >= 0x7f || s[n] == '"')
			return false;
	return n > 0 && n <= QUOTE_MAX;
}

static bool blank(const char *s)
{
	for (; *s; s++)
		if (*s != ' ' && *s != '\t' && *s != '\n' && *s != '\r')
			return false;
	return true;
}

bool dr_job_id_valid(const char *id)
{
	if (!id || !*id || *id == '-')
		return false;
	size_t n = 0;
	for (; id[n]; n++) {
		if (n >= DR_JOB_ID_MAX)
			return false;
		if (!is_alnum(id[n]) && id[n] != '-' && id[n] != '_')
			return false;
	}
	return true;
}

static bool slug_part_valid(const char *p, size_t len)
{
	if (len == 0 || len > DR_JOB_SLUG_PART_MAX || p[0] == '-' || p[0] == '.')
		return false;
	for (size_t i = 0; i < len; i++) {
		if (!is_alnum(p[i]) && p[i] != '.' && p[i] != '_' && p[i] != '-')
			return false;
		if (p[i] == '.' && i + 1 < len && p[i + 1] == '.')
			return false;
	}
	return true;
}

bool dr_job_slug_valid(const char *slug)
{
	if (!slug)
		return false;
	const char *slash = strchr(slug, '/');
	if (!slash)
		return false;
	size_t rest = strnlen(slash + 1, SLUG_MAX + 1);
	return slug_part_valid(slug, (size_t)(slash - slug)) && slug_part_valid(slash + 1, rest);
}

/* A resume session id goes into argv right after --resume. */
static bool session_id_valid(const char *s)
{
	if (!*s || *s == '-')
		return false;
	size_t n = 0;
	for (; s[n]; n++) {
		if (n >= DR_JOB_SESSION_MAX)
			return false;
		if (!is_alnum(s[n]) && s[n] != '-' && s[n] != '_' && s[n] != '.')
			return false;
	}
	return true;
}

/* A model goes into argv after --model or -m: printable, no spaces, no leading '-'. */
static bool model_valid(const char *s)
{
	if (*s == '-')
		return false;
	size_t n = 0;
	for (; s[n]; n++) {
		if (n >= DR_JOB_MODEL_MAX)
			return false;
		if ((unsigned char)s[n] <= 0x20 || (unsigned char)s[n] == 0x7f)
			return false;
	}
	return n > 0;
}

/*
 * Reads an optional string at key into *dst (copied). Absent or null leaves
 * *dst NULL; another type or a string longer than max is an error.
 */
static int get_string(const cJSON *obj, const char *key, const char *label, size_t max, char **dst, char *err,
		      size_t errlen)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(obj, key);
	if (!v || cJSON_IsNull(v))
		return 0;
	if (!cJSON_IsString(v) || !v->valuestring)
		return fail(err, errlen, "The job's %s must be a string.", label);
	if (strnlen(v->valuestring, max + 1) > max)
		return fail(err, errlen, "The job's %s is longer than %zu bytes.", label, max);
	*dst = dr_xstrdup(v->valuestring);
	return 0;
}

static int get_bool(const cJSON *obj, const char *key, bool *dst, char *err, size_t errlen)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(obj, key);
	*dst = false;
	if (!v || cJSON_IsNull(v))
		return 0;
	if (!cJSON_IsBool(v))
		return fail(err, errlen, "The job's publishingPolicy.%s must be true or false.", key);
	*dst = cJSON_IsTrue(v);
	return 0;
}

static int parse_refs(const cJSON *in, struct dr_job *job, char *err, size_t errlen)
{
	int r;
	if ((r = get_string(in, "organizationId", "organizationId", DR_JOB_REF_MAX, &job->organization_id, err,
			    errlen)) < 0)
		return r;
	if (!job->organization_id || !*job->organization_id)
		return fail(err, errlen, "The job has no organizationId.");
	if ((r = get_string(in, "agentSessionId", "agentSessionId", DR_JOB_REF_MAX, &job->agent_session_id, err,
			    errlen)) < 0)
		return r;
	return get_string(in, "attemptId", "attemptId", DR_JOB_REF_MAX, &job->attempt_id, err, errlen);
}

static int parse_slug(const cJSON *in, struct dr_job *job, char *err, size_t errlen)
{
	char *slug = NULL;
	int r = get_string(in, "repositorySlug", "repositorySlug", DR_JOB_STRING_MAX, &slug, err, errlen);
	if (r < 0)
		return r;
	if (!slug || !*slug) {
		/* No repository is a reportable state of its own, not a parse error. */
		free(slug);
		return 0;
	}
	if (!dr_job_slug_valid(slug)) {
		if (quotable(slug))
			r = fail(err, errlen, "The job's repositorySlug \"%s\" is not a valid owner/repo name.", slug);
		else
			r = fail(err, errlen, "The job's repositorySlug is not a valid owner/repo name.");
		free(slug);
		return r;
	}
	char *slash = strchr(slug, '/');
	job->repository_slug = slug;
	job->owner = dr_xstrndup(slug, (size_t)(slash - slug));
	job->repo = dr_xstrdup(slash + 1);
	return 0;
}

/* The first present, non-null value of key: the explicit preferences win over the request's. */
static const cJSON *pref(const cJSON *explicit, const cJSON *nested, const char *key, const char **label)
{
	const cJSON *v = explicit ? cJSON_GetObjectItemCaseSensitive(explicit, key) : NULL;
	*label = "executionPreferences";
	if (v && !cJSON_IsNull(v))
		return v;
	v = nested ? cJSON_GetObjectItemCaseSensitive(nested, key) : NULL;
	*label = "requestPayload.executionPreferences.preferences";
	return v && !cJSON_IsNull(v) ? v : NULL;
}

static const char *normalise_thinking(const char *s)
{
	static const char *const levels[] = { "low", "medium", "high" };
	while (*s == ' ' || *s == '\t' || *s == '\n' || *s == '\r')
		s++;
	size_t n = strlen(s);
	while (n && (s[n - 1] == ' ' || s[n - 1] == '\t' || s[n - 1] == '\n' || s[n - 1] == '\r'))
		n--;
	for (size_t i = 0; i < sizeof levels / sizeof *levels; i++)
		if (strlen(levels[i]) == n && strncasecmp(s, levels[i], n) == 0)
			return levels[i];
	return NULL;
}

static int parse_preferences(const cJSON *in, struct dr_job *job, char *err, size_t errlen)
{
	const cJSON *explicit = dr_json_obj(in, "executionPreferences");
	const cJSON *request = dr_json_obj(in, "requestPayload");
	const cJSON *nested = dr_json_obj(dr_json_obj(request, "executionPreferences"), "preferences");
	const char *label;

	const cJSON *v = pref(explicit, nested, "executor", &label);
	if (v) {
		if (!cJSON_IsString(v))
			return fail(err, errlen, "The job's %s.executor must be a string.", label);
		const char *e = v->valuestring;
		if (strcmp(e, "claude") == 0 || strcmp(e, "codex") == 0)
			job->executor = dr_xstrdup(e);
		else if (!blank(e) && quotable(e))
			return fail(err, errlen,
				    "The job asks for executor \"%s\", which this runner does not know (it knows claude and codex).",
				    e);
		else if (!blank(e))
			return fail(err, errlen,
				    "The job asks for an unknown executor (this runner knows claude and codex).");
	}

	/* Model and thinking of the wrong type are ignored, as the Node runner does. */
	v = pref(explicit, nested, "model", &label);
	if (cJSON_IsString(v) && !blank(v->valuestring)) {
		if (!model_valid(v->valuestring)) {
			if (quotable(v->valuestring))
				return fail(err, errlen, "The job's model \"%s\" is not a valid model name.",
					    v->valuestring);
			return fail(err, errlen, "The job's model is not a valid model name.");
		}
		job->model = dr_xstrdup(v->valuestring);
	}
	v = pref(explicit, nested, "thinking", &label);
	if (cJSON_IsString(v)) {
		const char *t = normalise_thinking(v->valuestring);
		job->thinking = t ? dr_xstrdup(t) : NULL;
	}

	job->execution_preferences = cJSON_CreateObject();
	dr_json_add_str_or_null(job->execution_preferences, "executor", job->executor);
	dr_json_add_str_or_null(job->execution_preferences, "model", job->model);
	dr_json_add_str_or_null(job->execution_preferences, "thinking", job->thinking);
	return 0;
}

static int parse_policy(const cJSON *in, struct dr_job *job, char *err, size_t errlen)
{
	const cJSON *p = cJSON_GetObjectItemCaseSensitive(in, "publishingPolicy");
	int r;
	if (p && !cJSON_IsNull(p) && !cJSON_IsObject(p))
		return fail(err, errlen, "The job's publishingPolicy must be an object.");
	if ((r = get_bool(p, "autoPush", &job->auto_push, err, errlen)) < 0 ||
	    (r = get_bool(p, "autoCreatePr", &job->auto_create_pr, err, errlen)) < 0 ||
	    (r = get_bool(p, "prDraft", &job->pr_draft, err, errlen)) < 0)
		return r;
	job->publishing_policy = cJSON_CreateObject();
	cJSON_AddBoolToObject(job->publishing_policy, "autoPush", job->auto_push);
	cJSON_AddBoolToObject(job->publishing_policy, "autoCreatePr", job->auto_create_pr);
	cJSON_AddBoolToObject(job->publishing_policy, "prDraft", job->pr_draft);
	if (job->auto_create_pr && !job->auto_push)
		return fail(err, errlen, "Invalid publishing policy: autoCreatePr=true requires autoPush=true.");
	return 0;
}

static int parse_issue(const cJSON *in, struct dr_job *job, char *err, size_t errlen)
{
	const cJSON *issue = cJSON_GetObjectItemCaseSensitive(in, "linearIssue");
	int r;
	if (!issue || cJSON_IsNull(issue))
		return 0;
	if (!cJSON_IsObject(issue))
		return fail(err, errlen, "The job's linearIssue must be an object.");
	if ((r = get_string(issue, "identifier", "linearIssue.identifier", DR_JOB_STRING_MAX, &job->issue_identifier,
			    err, errlen)) < 0 ||
	    (r = get_string(issue, "title", "linearIssue.title", DR_JOB_STRING_MAX, &job->issue_title, err,
			    errlen)) < 0 ||
	    (r = get_string(issue, "url", "linearIssue.url", DR_JOB_STRING_MAX, &job->issue_url, err, errlen)) < 0)
		return r;
	return 0;
}

static int parse_prompt(const cJSON *in, struct dr_job *job, char *err, size_t errlen)
{
	int r = get_string(in, "promptSummary", "promptSummary", DR_JOB_STRING_MAX, &job->prompt_summary, err,
			   errlen);
	if (r < 0)
		return r;
	const cJSON *ctx = cJSON_GetObjectItemCaseSensitive(in, "promptContext");
	if (!ctx || cJSON_IsNull(ctx))
		return 0;
	/* Printing into a fixed buffer bounds the work as well as the result;
	 * cJSON wants a few spare bytes beyond the longest output. */
	size_t cap = DR_JOB_CONTEXT_MAX + 64;
	char *buf = dr_xmalloc(cap);
	if (!cJSON_PrintPreallocated((cJSON *)ctx, buf, (int)cap, false) || strlen(buf) > DR_JOB_CONTEXT_MAX) {
		free(buf);
		return fail(err, errlen, "The job's promptContext is larger than %d bytes.", DR_JOB_CONTEXT_MAX);
	}
	job->prompt_context_json = dr_xrealloc(buf, strlen(buf) + 1);
	return 0;
}

static int parse_resume(const cJSON *in, struct dr_job *job, char *err, size_t errlen)
{
	const cJSON *rc = cJSON_GetObjectItemCaseSensitive(in, "resumeContext");
	char *sid = NULL, *reply = NULL;
	int r;
	if (!rc || cJSON_IsNull(rc))
		return 0;
	if (!cJSON_IsObject(rc))
		return fail(err, errlen, "The job's resumeContext must be an object.");
	if ((r = get_string(rc, "claudeSessionId", "resumeContext.claudeSessionId", DR_JOB_STRING_MAX, &sid, err,
			    errlen)) < 0)
		goto out;
	if (!sid || !*sid)
		goto out; /* nothing to resume: a fresh run */
	if (!session_id_valid(sid)) {
		r = fail(err, errlen, "The job's resumeContext.claudeSessionId is not a valid session id.");
		goto out;
	}
	if ((r = get_string(rc, "userReply", "resumeContext.userReply", DR_JOB_STRING_MAX, &reply, err, errlen)) < 0)
		goto out;
	if (!reply) {
		r = fail(err, errlen, "The job's resumeContext has a claudeSessionId but no userReply.");
		goto out;
	}
	job->resume_session_id = sid;
	job->resume_user_reply = reply;
	return 0;
out:
	free(sid);
	free(reply);
	return r;
}

int dr_job_parse(const cJSON *in, struct dr_job **out, char *err, size_t errlen)
{
	*out = NULL;
	if (err && errlen)
		err[0] = '\0';
	if (!cJSON_IsObject(in))
		return fail(err, errlen, "The job is not a JSON object.");
	const cJSON *id = cJSON_GetObjectItemCaseSensitive(in, "id");
	if (!cJSON_IsString(id) || !id->valuestring || !*id->valuestring)
		return fail(err, errlen, "The job has no id.");
	if (!dr_job_id_valid(id->valuestring))
		return fail(err, errlen,
			    "The job id is not valid: it must be 1 to %d letters, digits, '-' or '_', not starting with '-'.",
			    DR_JOB_ID_MAX);

	struct dr_job *job = dr_xcalloc(1, sizeof *job);
	job->id = dr_xstrdup(id->valuestring);
	*out = job;
	int r;
	if ((r = parse_refs(in, job, err, errlen)) < 0 || (r = parse_slug(in, job, err, errlen)) < 0 ||
	    (r = parse_preferences(in, job, err, errlen)) < 0 || (r = parse_policy(in, job, err, errlen)) < 0 ||
	    (r = parse_issue(in, job, err, errlen)) < 0 || (r = parse_prompt(in, job, err, errlen)) < 0 ||
	    (r = parse_resume(in, job, err, errlen)) < 0)
		return r;
	return 0;
}

void dr_job_free(struct dr_job *job)
{
	if (!job)
		return;
	free(job->id);
	free(job->organization_id);
	free(job->agent_session_id);
	free(job->attempt_id);
	free(job->repository_slug);
	free(job->owner);
	free(job->repo);
	free(job->executor);
	free(job->model);
	free(job->thinking);
	free(job->issue_identifier);
	free(job->issue_title);
	free(job->issue_url);
	free(job->prompt_summary);
	free(job->prompt_context_json);
	free(job->resume_session_id);
	free(job->resume_user_reply);
	cJSON_Delete(job->execution_preferences);
	cJSON_Delete(job->publishing_policy);
	free(job);
}

void dr_job_default_executor(struct dr_job *job, const char *executor)
{
	if (job->executor || !executor)
		return;
	job->executor = dr_xstrdup(executor);
	if (!job->execution_preferences)
		job->execution_preferences = cJSON_CreateObject();
	cJSON_DeleteItemFromObjectCaseSensitive(job->execution_preferences, "executor");
	cJSON_AddStringToObject(job->execution_preferences, "executor", executor);
}

char *dr_job_branch_name(const struct dr_job *job)
{
	char key[BRANCH_KEY_MAX + 1];
	size_t n = 0;
	bool dash = false;
	for (const char *p = job->issue_identifier ? job->issue_identifier : ""; *p && n < BRANCH_KEY_MAX; p++) {
		char c = *p;
		if (c >= 'A' && c <= 'Z')
			c = (char)(c - 'A' + 'a');
		if ((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9')) {
			/* A separator is only written with a character after it. */
			if (dash && n > 0) {
				if (n + 2 > BRANCH_KEY_MAX)
					break;
				key[n++] = '-';
			}
			dash = false;
			key[n++] = c;
		} else {
			dash = true;
		}
	}
	key[n] = '\0';
	char suffix[9];
	size_t i = 0;
	for (; i < 8 && job->id && job->id[i]; i++) {
		char c = job->id[i];
		suffix[i] = (c >= 'A' && c <= 'Z') ? (char)(c - 'A' + 'a') : c;
	}
	suffix[i] = '\0';
	return dr_xasprintf("delego/%s-%s", n ? key : "linear-issue", suffix);
}
