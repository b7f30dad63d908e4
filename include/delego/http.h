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
	long status;          /* HTTP status, or 0 when no status line came (also set with err) */
	/* 0 when an answer came; else -ETIMEDOUT, -ECONNREFUSED, -EHOSTUNREACH, -EPROTO (TLS),
	 * -E2BIG (body over the cap; status may be set), -ECANCELED, -EIO */
	int err;
	const char *body;     /* NUL-terminated, borrowed for the callback */
	size_t body_len;
	long retry_after_ms;  /* from Retry-After, or -1 */
	long date;            /* the Date header in seconds since the epoch, or 0 */
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
 * Aborts every request in flight (their callbacks never run), closes every
 * connection (its owner must not touch it afterwards: free the owners
 * first) and frees the client once its handles are closed (the loop must
 * run for that). Must not be called from inside a request callback.
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

/*
 * A connection for a protocol of the caller's own (the realtime
 * WebSocket): the same multi handle, proxies (a CONNECT tunnel) and TLS
 * checks as the requests, then the socket is the caller's to speak on
 * with dr_http_conn_send/recv, watched on the loop by the transport.
 */
struct dr_http_conn;

struct dr_http_conn_opts {
	const char *url;         /* http(s)://host[:port]/...: host, port and TLS; copied by curl */
	long connect_timeout_ms; /* 0: 10 s */
	/* Once: connected (err 0) or not (a negative errno as for requests, and why). */
	void (*on_connected)(int err, const char *error, void *data);
	/* While watched: the socket can be read or written, or failed (status < 0). */
	void (*on_io)(int status, bool readable, bool writable, void *data);
	void *data;
};

/* Starts connecting; the callbacks never run from inside this call. */
int dr_http_connect(struct dr_http *h, const struct dr_http_conn_opts *o, struct dr_http_conn **out);
/* After on_connected: watch for readable, and writable when want_write. */
void dr_http_conn_watch(struct dr_http_conn *c, bool want_write);
/* 0 with *n bytes moved (recv: 0 bytes means the peer closed), -EAGAIN, -ENOTCONN, or -EIO with *error. */
int dr_http_conn_send(struct dr_http_conn *c, const void *buf, size_t len, size_t *n, const char **error);
int dr_http_conn_recv(struct dr_http_conn *c, void *buf, size_t len, size_t *n, const char **error);
/* Closes the connection now; no callback runs afterwards, also when called from one. Accepts NULL. */
void dr_http_conn_close(struct dr_http_conn *c);

#endif
