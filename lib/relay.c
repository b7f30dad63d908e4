/* relay: typed POSTs to the relay and the classification of their answers. */
#include "delego/relay.h"
#include "delego/buf.h"
#include "delego/json.h"
#include "delego/redact.h"
#include "delego/url.h"
#include "delego/xalloc.h"

#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_ANSWER (4u * 1024 * 1024)

struct dr_relay {
	struct dr_http *http;
	char *url;
	char *bearer;
	dr_relay_unauthorized_cb on_unauth;
	void *on_unauth_data;
};

struct dr_relay_call {
	struct dr_relay *relay;
	struct dr_http_req *req;
	char *path;
	dr_relay_cb cb;
	void *data;
	bool answering; /* inside on_answer: the HTTP request is already finishing */
	bool cancelled;
};

int dr_relay_new(struct dr_http *http, const char *relay_url, const char *bearer, struct dr_relay **out)
{
	char err[256];
	char *url;
	int r0 = dr_url_normalize(relay_url, &url, err, sizeof err);
	if (r0 < 0)
		return r0;
	struct dr_relay *r = dr_xcalloc(1, sizeof *r);
	r->http = http;
	r->url = url;
	r->bearer = dr_xstrdup(bearer);
	*out = r;
	return 0;
}

void dr_relay_free(struct dr_relay *r)
{
	if (!r)
		return;
	if (r->bearer) {
		memset(r->bearer, 0, strlen(r->bearer));
		free(r->bearer);
	}
	free(r->url);
	free(r);
}

void dr_relay_on_unauthorized(struct dr_relay *r, dr_relay_unauthorized_cb cb, void *data)
{
	r->on_unauth = cb;
	r->on_unauth_data = data;
}

struct dr_http *dr_relay_http(const struct dr_relay *r)
{
	return r->http;
}

const char *dr_relay_url(const struct dr_relay *r)
{
	return r->url;
}

/* The relay's {"error": "..."} text, bounded and made one line. */
static void error_text(const cJSON *body, long status, char *out, size_t outlen)
{
	const char *e = body ? dr_json_nonempty(body, "error") : NULL;
	/* Redacted before the cut at 300: a relay may echo what we sent. */
	char *red = e ? dr_redact_dup(NULL, e, strlen(e), 0, NULL) : NULL;
	if (red)
		snprintf(out, outlen, "HTTP %ld: %.300s", status, red);
	else
		snprintf(out, outlen, "HTTP %ld", status);
	free(red);
	for (char *p = out; *p; p++)
		if ((unsigned char)*p < ' ')
			*p = ' ';
}

static void on_answer(const struct dr_http_response *res, void *data)
{
	struct dr_relay_call *call = data;
	struct dr_relay *relay = call->relay;
	struct dr_relay_reply reply = {
		.status = res->err ? 0 : res->status,
		.retry_after_ms = res->retry_after_ms,
		.message = "",
		.err = res->err,
		.error = res->err ? res->error : NULL,
		.date = res->date,
		.raw = res->body,
		.raw_len = res->body_len,
		.status_line = res->status,
	};
	char message[512];
	cJSON *body = NULL;

	if (res->err) {
		reply.outcome = DR_RELAY_TRANSIENT;
		snprintf(message, sizeof message, "cannot reach relay %s: %s", relay->url, res->error);
		reply.message = message;
	} else {
		int r = dr_json_parse_object(res->body, res->body_len, MAX_ANSWER, &body);
		if (r < 0)
			body = NULL;
		if (res->status == 401) {
			reply.outcome = DR_RELAY_UNAUTHORIZED;
			error_text(body, res->status, message, sizeof message);
			reply.message = message;
		} else if (res->status >= 200 && res->status < 300) {
			if (body) {
				reply.outcome = DR_RELAY_OK;
				reply.body = body;
			} else {
				reply.outcome = DR_RELAY_TRANSIENT;
				snprintf(message, sizeof message, "relay %s answered %s with a body that is not a JSON object",
					 relay->url, call->path);
				reply.message = message;
			}
		} else if (res->status >= 400 && res->status < 500 && res->status != 408 && res->status != 429) {
			reply.outcome = DR_RELAY_REJECTED;
			error_text(body, res->status, message, sizeof message);
			reply.message = message;
		} else {
			reply.outcome = DR_RELAY_TRANSIENT;
			error_text(body, res->status, message, sizeof message);
			reply.message = message;
		}
	}
	/* The 401 handler may cancel this very call (it stops everything). */
	call->answering = true;
	if (reply.outcome == DR_RELAY_UNAUTHORIZED && relay->on_unauth)
		relay->on_unauth(call->path, relay->on_unauth_data);
	if (!call->cancelled)
		call->cb(&reply, call->data);
	cJSON_Delete(body);
	free(call->path);
	free(call);
}

bool dr_relay_path_known(const char *path)
{
	static const char *const known[] = { "register", "heartbeat", "jobs/poll", "jobs/progress", "jobs/complete",
					     "jobs/fail", "jobs/await", "jobs/status", "realtime-token", "unregister" };
	static const char prefix[] = "/api/runner/";
	if (!path || strncmp(path, prefix, sizeof prefix - 1) != 0)
		return false;
	for (size_t i = 0; i < sizeof known / sizeof *known; i++)
		if (strcmp(path + sizeof prefix - 1, known[i]) == 0)
			return true;
	return false;
}

int dr_relay_post(struct dr_relay *r, const char *path, cJSON *body, long timeout_ms, dr_relay_cb cb, void *data,
		  struct dr_relay_call **out)
{
	/* Anything else could turn <url><path> into another host ("@host:port/"). */
	if (!dr_relay_path_known(path)) {
		cJSON_Delete(body);
		return -EINVAL;
	}
	if (!body)
		body = cJSON_CreateObject();
	char *text = dr_json_print(body);
	cJSON_Delete(body);
	char *url = dr_xasprintf("%s%s", r->url, path);
	struct dr_relay_call *call = dr_xcalloc(1, sizeof *call);
	call->relay = r;
	call->path = dr_xstrdup(path);
	call->cb = cb;
	call->data = data;
	struct dr_http_request q = {
		.url = url,
		.bearer = r->bearer,
		.body = text,
		.body_len = strlen(text),
		.timeout_ms = timeout_ms,
		.max_response = MAX_ANSWER,
	};
	int rc = dr_http_post(r->http, &q, on_answer, call, &call->req);
	free(url);
	free(text);
	if (rc < 0) {
		free(call->path);
		free(call);
		return rc;
	}
	if (out)
		*out = call;
	return 0;
}

void dr_relay_call_cancel(struct dr_relay_call *call)
{
	if (!call)
		return;
	if (call->answering) {
		call->cancelled = true; /* on_answer frees it */
		return;
	}
	dr_http_cancel(call->req);
	free(call->path);
	free(call);
}

struct post_wait {
	dr_relay_cb cb;
	void *data;
	bool ran;
};

static void on_waited(const struct dr_relay_reply *reply, void *data)
{
	struct post_wait *w = data;
	w->ran = true;
	w->cb(reply, w->data);
}

int dr_relay_post_wait(const char *relay_url, const char *bearer, const char *path, cJSON *body, long timeout_ms,
		       dr_relay_cb cb, void *data)
{
	uv_loop_t loop;
	int r = uv_loop_init(&loop);
	if (r < 0) {
		cJSON_Delete(body);
		return r;
	}
	struct dr_http *http = NULL;
	struct dr_relay *relay = NULL;
	struct post_wait w = { .cb = cb, .data = data };
	r = dr_http_new(&loop, &http);
	if (r == 0)
		r = dr_relay_new(http, relay_url, bearer, &relay);
	if (r == 0) {
		r = dr_relay_post(relay, path, body, timeout_ms, on_waited, &w, NULL);
		body = NULL;
	}
	cJSON_Delete(body);
	if (r == 0)
		uv_run(&loop, UV_RUN_DEFAULT);
	dr_relay_free(relay);
	dr_http_free(http);
	uv_run(&loop, UV_RUN_DEFAULT); /* the transport's handles close */
	(void)uv_loop_close(&loop);
	return r == 0 && !w.ran ? -EIO : r;
}
