/*
 * http: every HTTP request of the daemon, through one curl multi handle
 * driven by the libuv loop (the pattern of curl's docs/examples/multi-uv.c).
 * Nothing here blocks the loop.
 */
#ifndef DELEGO_HTTP_H
#define DELEGO_HTTP_H

#include <stdbool.h>
#include <stddef.h>
#include <uv.h>

struct dr_http;
struct dr_http_req;

struct dr_http_response {
	long status;          /* HTTP status, or 0 when no answer came */
	int err;              /* 0 when an answer came; else -ETIMEDOUT, -ECONNREFUSED, -E2BIG (body over the cap), -ECANCELED, -EIO */
	const char *body;     /* NUL-terminated, borrowed for the callback */
	size_t body_len;
	long retry_after_ms;  /* from Retry-After, or -1 */
	const char *error;    /* transport error text when err != 0 */
};

typedef void (*dr_http_cb)(const struct dr_http_response *res, void *data);

struct dr_http_request {
	const char *url;
	const char *bearer;      /* sent as "authorization: Bearer ..."; may be NULL */
	const char *body;        /* JSON; copied */
	size_t body_len;
	long timeout_ms;         /* whole request; 0 for the default (30 s) */
	size_t max_response;     /* cap on the body; 0 for the default (4 MiB) */
};

int dr_http_new(uv_loop_t *loop, struct dr_http **out);
/*
 * Aborts every request in flight (their callbacks never run) and frees the
 * client once its handles are closed (the loop must run for that). Must not
 * be called from inside a request callback.
 */
void dr_http_free(struct dr_http *h);

/*
 * Starts a POST. On success the callback runs exactly once, later, from
 * the loop (never from inside this call), unless dr_http_cancel() is
 * called first. *req (optional) identifies the request until then.
 */
int dr_http_post(struct dr_http *h, const struct dr_http_request *r, dr_http_cb cb, void *data,
		 struct dr_http_req **req);
/* Aborts a request; its callback never runs. */
void dr_http_cancel(struct dr_http_req *req);

#endif
