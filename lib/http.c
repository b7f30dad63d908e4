/*
 * http: libcurl's multi_socket interface driven by libuv, as in curl's
 * docs/examples/multi-uv.c: one uv_timer_t for curl's timeout, one lazily
 * created uv_poll_t per socket (linked with curl_multi_assign), and
 * curl_multi_info_read drained after every action. The only user of
 * curl_multi_*: requests (POST) and connections (CONNECT_ONLY, whose
 * socket the caller speaks on, as the realtime WebSocket does).
 */
#include "delego/http.h"
#include "delego/buf.h"
#include "delego/xalloc.h"

#include <curl/curl.h>
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#define DEFAULT_TIMEOUT_MS 30000L
#define CONNECT_TIMEOUT_MS 10000L
#define DEFAULT_MAX_RESPONSE (4u * 1024 * 1024)

/* What CURLOPT_PRIVATE points at: a request or a connection, told apart by the first field. */
enum xfer_kind { XFER_REQ, XFER_CONN };

struct dr_http {
	uv_loop_t *loop;
	CURLM *multi;
	uv_timer_t timer;
	struct dr_http_req *reqs; /* doubly linked, in flight */
	struct dr_http_conn *conns; /* doubly linked, connecting or connected */
	struct sock_ctx *socks;   /* curl's sockets we poll for it */
	int open_handles; /* timer + polls still to be closed */
	bool closing;
	/* Proxy settings read once: libcurl would read the environment on every request. */
	char *http_proxy, *https_proxy, *no_proxy;
};

static char *env_first(const char *a, const char *b, const char *c)
{
	const char *names[] = { a, b, c };
	for (size_t i = 0; i < 3; i++) {
		const char *v = names[i] ? getenv(names[i]) : NULL;
		if (v && *v)
			return dr_xstrdup(v);
	}
	return dr_xstrdup("");
}

struct sock_ctx {
	uv_poll_t poll; /* first: the handle pointer is the ctx */
	curl_socket_t fd;
	struct dr_http *h;
	struct dr_http_conn *conn; /* set once a connection owns the socket */
	struct sock_ctx *next;
};

struct dr_http_req {
	enum xfer_kind kind; /* first */
	struct dr_http *h;
	CURL *easy;
	struct curl_slist *headers;
	struct dr_buf resp;
	bool too_big;
	long retry_after_ms;
	dr_http_cb cb;
	void *data;
	char errbuf[CURL_ERROR_SIZE];
	long date; /* the Date header, seconds since the epoch; 0 without */
	struct dr_http_req *prev, *next;
};

struct dr_http_conn {
	enum xfer_kind kind; /* first */
	struct dr_http *h;
	CURL *easy;
	struct sock_ctx *sock; /* ours once connected */
	bool connected;
	struct dr_http_conn_opts o;
	char errbuf[CURL_ERROR_SIZE];
	struct dr_http_conn *prev, *next;
};

static void maybe_free(struct dr_http *h)
{
	if (h->closing && h->open_handles == 0) {
		free(h->http_proxy);
		free(h->https_proxy);
		free(h->no_proxy);
		free(h);
	}
}

static void handle_closed(uv_handle_t *handle)
{
	struct dr_http *h = handle->data;
	if (handle->type == UV_POLL)
		free(handle); /* struct sock_ctx starts with the poll handle */
	h->open_handles--;
	maybe_free(h);
}

static void req_unlink(struct dr_http_req *r)
{
	struct dr_http *h = r->h;
	if (r->prev)
		r->prev->next = r->next;
	else
		h->reqs = r->next;
	if (r->next)
		r->next->prev = r->prev;
}

static void sock_unlink(struct dr_http *h, struct sock_ctx *ctx)
{
	for (struct sock_ctx **pp = &h->socks; *pp; pp = &(*pp)->next)
		if (*pp == ctx) {
			*pp = ctx->next;
			return;
		}
}

static void sock_close(struct sock_ctx *ctx)
{
	uv_poll_stop(&ctx->poll);
	uv_close((uv_handle_t *)&ctx->poll, handle_closed);
}

static void req_free(struct dr_http_req *r)
{
	curl_multi_remove_handle(r->h->multi, r->easy);
	curl_easy_cleanup(r->easy);
	curl_slist_free_all(r->headers);
	dr_buf_release(&r->resp);
	free(r);
}

static int map_error(const struct dr_http_req *r, CURLcode code)
{
	if ((r && r->too_big) || code == CURLE_FILESIZE_EXCEEDED)
		return -E2BIG;
	switch (code) {
	case CURLE_OPERATION_TIMEDOUT:
		return -ETIMEDOUT;
	case CURLE_COULDNT_CONNECT:
		return -ECONNREFUSED;
	case CURLE_COULDNT_RESOLVE_HOST:
	case CURLE_COULDNT_RESOLVE_PROXY:
		return -EHOSTUNREACH;
	case CURLE_SSL_CONNECT_ERROR:
	case CURLE_PEER_FAILED_VERIFICATION:
	case CURLE_SSL_CERTPROBLEM:
	case CURLE_SSL_CIPHER:
	case CURLE_SSL_CACERT_BADFILE:
	case CURLE_SSL_ISSUER_ERROR:
	case CURLE_SSL_PINNEDPUBKEYNOTMATCH:
	case CURLE_SSL_INVALIDCERTSTATUS:
	case CURLE_USE_SSL_FAILED:
		return -EPROTO;
	default:
		return -EIO;
	}
}

static void conn_done(struct dr_http_conn *c, CURLcode code);

static void check_multi_info(struct dr_http *h)
{
	CURLMsg *msg;
	int pending;
	while ((msg = curl_multi_info_read(h->multi, &pending))) {
		if (msg->msg != CURLMSG_DONE)
			continue;
		enum xfer_kind *kind = NULL;
		curl_easy_getinfo(msg->easy_handle, CURLINFO_PRIVATE, (char **)&kind);
		CURLcode code = msg->data.result;
		if (*kind == XFER_CONN) {
			conn_done((struct dr_http_conn *)kind, code);
			continue;
		}
		struct dr_http_req *r = (struct dr_http_req *)kind;
		struct dr_http_response res = { .retry_after_ms = r->retry_after_ms, .date = r->date };
		/* A status may have come before the failure (a body over the cap). */
		curl_easy_getinfo(r->easy, CURLINFO_RESPONSE_CODE, &res.status);
		if (code != CURLE_OK) {
			res.err = map_error(r, code);
			res.error = res.err == -E2BIG ? "response body too large"
				    : r->errbuf[0]    ? r->errbuf
						      : curl_easy_strerror(code);
		}
		res.body = r->resp.buf;
		res.body_len = r->resp.len;
		req_unlink(r);
		curl_multi_remove_handle(h->multi, r->easy);
		r->cb(&res, r->data);
		req_free(r);
	}
}

static void on_timer(uv_timer_t *timer)
{
	struct dr_http *h = timer->data;
	int running;
	curl_multi_socket_action(h->multi, CURL_SOCKET_TIMEOUT, 0, &running);
	check_multi_info(h);
}

static int start_timeout(CURLM *multi, long timeout_ms, void *userp)
{
	(void)multi;
	struct dr_http *h = userp;
	if (timeout_ms < 0)
		uv_timer_stop(&h->timer);
	else /* 0 runs on the next loop turn: never re-enter curl from here. */
		uv_timer_start(&h->timer, on_timer, (uint64_t)timeout_ms, 0);
	return 0;
}

static void on_poll(uv_poll_t *poll, int status, int events)
{
	struct sock_ctx *ctx = (struct sock_ctx *)poll;
	struct dr_http *h = ctx->h;
	int flags = 0;
	if (status < 0)
		flags = CURL_CSELECT_ERR;
	if (!status && (events & UV_READABLE))
		flags |= CURL_CSELECT_IN;
	if (!status && (events & UV_WRITABLE))
		flags |= CURL_CSELECT_OUT;
	int running;
	curl_multi_socket_action(h->multi, ctx->fd, flags, &running);
	check_multi_info(h);
}

static int handle_socket(CURL *easy, curl_socket_t s, int action, void *userp, void *socketp)
{
	(void)easy;
	struct dr_http *h = userp;
	struct sock_ctx *ctx = socketp;
	/* A connected connection's socket is its owner's alone. */
	for (struct dr_http_conn *c = h->conns; c; c = c->next)
		if (c->sock && c->sock->fd == s)
			return 0;
	if (action == CURL_POLL_REMOVE) {
		if (ctx) {
			sock_unlink(h, ctx);
			sock_close(ctx);
			curl_multi_assign(h->multi, s, NULL);
		}
		return 0;
	}
	if (!ctx) {
		if (h->closing)
			return -1;
		ctx = dr_xcalloc(1, sizeof *ctx);
		ctx->fd = s;
		ctx->h = h;
		if (uv_poll_init_socket(h->loop, &ctx->poll, s) < 0) {
			free(ctx);
			return -1;
		}
		ctx->poll.data = h;
		h->open_handles++;
		ctx->next = h->socks;
		h->socks = ctx;
		curl_multi_assign(h->multi, s, ctx);
	}
	int events = 0;
	if (action != CURL_POLL_OUT)
		events |= UV_READABLE;
	if (action != CURL_POLL_IN)
		events |= UV_WRITABLE;
	/* The handle's data is the client for close; the ctx is the handle. */
	uv_poll_start(&ctx->poll, events, on_poll);
	return 0;
}

int dr_http_new(uv_loop_t *loop, struct dr_http **out)
{
	static bool global_done;
	if (!global_done) {
		if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK)
			return -EIO;
		global_done = true;
	}
	struct dr_http *h = dr_xcalloc(1, sizeof *h);
	h->loop = loop;
	h->multi = curl_multi_init();
	if (!h->multi) {
		free(h);
		return -ENOMEM;
	}
	uv_timer_init(loop, &h->timer);
	h->timer.data = h;
	h->open_handles = 1;
	/* As libcurl: lower-case http_proxy only (HTTP_PROXY can be set by CGI). */
	h->http_proxy = env_first("http_proxy", "all_proxy", "ALL_PROXY");
	h->https_proxy = env_first("https_proxy", "HTTPS_PROXY", "all_proxy");
	if (!*h->https_proxy) {
		free(h->https_proxy);
		h->https_proxy = env_first("ALL_PROXY", NULL, NULL);
	}
	h->no_proxy = env_first("no_proxy", "NO_PROXY", NULL);
	curl_multi_setopt(h->multi, CURLMOPT_SOCKETFUNCTION, handle_socket);
	curl_multi_setopt(h->multi, CURLMOPT_SOCKETDATA, h);
	curl_multi_setopt(h->multi, CURLMOPT_TIMERFUNCTION, start_timeout);
	curl_multi_setopt(h->multi, CURLMOPT_TIMERDATA, h);
	*out = h;
	return 0;
}

void dr_http_free(struct dr_http *h)
{
	if (!h)
		return;
	while (h->reqs) {
		struct dr_http_req *r = h->reqs;
		req_unlink(r);
		req_free(r);
	}
	while (h->conns)
		dr_http_conn_close(h->conns);
	h->closing = true;
	curl_multi_cleanup(h->multi);
	h->multi = NULL;
	/* Sockets of connections curl kept for reuse, if it did not remove them itself. */
	while (h->socks) {
		struct sock_ctx *ctx = h->socks;
		h->socks = ctx->next;
		sock_close(ctx);
	}
	uv_timer_stop(&h->timer);
	uv_close((uv_handle_t *)&h->timer, handle_closed);
}

static size_t on_body(char *ptr, size_t size, size_t nmemb, void *userdata)
{
	struct dr_http_req *r = userdata;
	size_t n = size * nmemb;
	if (dr_buf_add(&r->resp, ptr, n) < 0) {
		r->too_big = true;
		return 0; /* aborts the transfer */
	}
	return n;
}

static size_t on_header(char *buffer, size_t size, size_t nitems, void *userdata)
{
	struct dr_http_req *r = userdata;
	size_t n = size * nitems;
	static const char name[] = "retry-after:";
	if (n > 5 && n < 256 && strncasecmp(buffer, "date:", 5) == 0) {
		char value[256];
		memcpy(value, buffer + 5, n - 5);
		value[n - 5] = '\0';
		time_t t = curl_getdate(value, NULL);
		r->date = t > 0 ? (long)t : 0;
	}
	if (n > sizeof name - 1 && n < 256 && strncasecmp(buffer, name, sizeof name - 1) == 0) {
		char value[256];
		memcpy(value, buffer + sizeof name - 1, n - (sizeof name - 1));
		value[n - (sizeof name - 1)] = '\0';
		char *p = value;
		while (*p == ' ' || *p == '\t')
			p++;
		char *end;
		long secs = strtol(p, &end, 10);
		if (end != p && secs >= 0 && secs < 86400) {
			r->retry_after_ms = secs * 1000;
		} else {
			time_t when = curl_getdate(p, NULL);
			time_t now = time(NULL);
			if (when > now && when - now < 86400)
				r->retry_after_ms = (long)(when - now) * 1000;
		}
	}
	return n;
}

/* Close-on-exec from creation: no agent or git child may inherit a socket to the relay. */
static int on_sockopt(void *data, curl_socket_t fd, curlsocktype purpose)
{
	(void)data;
	(void)purpose;
	int fl = fcntl(fd, F_GETFD);
	if (fl >= 0 && !(fl & FD_CLOEXEC))
		(void)fcntl(fd, F_SETFD, fl | FD_CLOEXEC);
	return CURL_SOCKOPT_OK;
}

/* The options every transfer of ours has: one place for protocols, TLS, proxies and time limits. */
static void set_common(struct dr_http *h, CURL *e, const char *url, char *errbuf)
{
	curl_easy_setopt(e, CURLOPT_SOCKOPTFUNCTION, on_sockopt);
	curl_easy_setopt(e, CURLOPT_URL, url);
	curl_easy_setopt(e, CURLOPT_ERRORBUFFER, errbuf);
	curl_easy_setopt(e, CURLOPT_CONNECTTIMEOUT_MS, CONNECT_TIMEOUT_MS);
	curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(e, CURLOPT_USERAGENT, "delego-runner/" DR_VERSION);
	/* A bearer must never follow a redirect, nor leave over another protocol. */
	curl_easy_setopt(e, CURLOPT_FOLLOWLOCATION, 0L);
	curl_easy_setopt(e, CURLOPT_PROTOCOLS_STR, "http,https");
	curl_easy_setopt(e, CURLOPT_SSL_VERIFYPEER, 1L);
	curl_easy_setopt(e, CURLOPT_SSL_VERIFYHOST, 2L);
	curl_easy_setopt(e, CURLOPT_TCP_KEEPALIVE, 1L);
	curl_easy_setopt(e, CURLOPT_PROXY, strncasecmp(url, "https:", 6) == 0 ? h->https_proxy : h->http_proxy);
	if (*h->no_proxy)
		curl_easy_setopt(e, CURLOPT_NOPROXY, h->no_proxy);
}

int dr_http_post(struct dr_http *h, const struct dr_http_request *q, dr_http_cb cb, void *data,
		 struct dr_http_req **out)
{
	if (h->closing)
		return -ECANCELED;
	struct dr_http_req *r = dr_xcalloc(1, sizeof *r);
	r->h = h;
	r->cb = cb;
	r->data = data;
	r->retry_after_ms = -1;
	dr_buf_init(&r->resp, q->max_response ? q->max_response : DEFAULT_MAX_RESPONSE);
	r->easy = curl_easy_init();
	if (!r->easy) {
		free(r);
		return -ENOMEM;
	}
	r->headers = curl_slist_append(NULL, "content-type: application/json");
	r->headers = curl_slist_append(r->headers, "accept: application/json");
	if (q->bearer) {
		char *auth = dr_xasprintf("authorization: Bearer %s", q->bearer);
		r->headers = curl_slist_append(r->headers, auth);
		memset(auth, 0, strlen(auth));
		free(auth);
	}
	CURL *e = r->easy;
	set_common(h, e, q->url, r->errbuf);
	curl_easy_setopt(e, CURLOPT_PRIVATE, r);
	curl_easy_setopt(e, CURLOPT_HTTPHEADER, r->headers);
	curl_easy_setopt(e, CURLOPT_POSTFIELDSIZE, (long)q->body_len);
	curl_easy_setopt(e, CURLOPT_COPYPOSTFIELDS, q->body ? q->body : "");
	curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, on_body);
	curl_easy_setopt(e, CURLOPT_WRITEDATA, r);
	curl_easy_setopt(e, CURLOPT_HEADERFUNCTION, on_header);
	curl_easy_setopt(e, CURLOPT_HEADERDATA, r);
	curl_easy_setopt(e, CURLOPT_TIMEOUT_MS, q->timeout_ms > 0 ? q->timeout_ms : DEFAULT_TIMEOUT_MS);
	if (q->timeout_ms > 0 && q->timeout_ms < CONNECT_TIMEOUT_MS)
		curl_easy_setopt(e, CURLOPT_CONNECTTIMEOUT_MS, q->timeout_ms);
	curl_easy_setopt(e, CURLOPT_MAXFILESIZE_LARGE, (curl_off_t)r->resp.max);

	r->next = h->reqs;
	if (h->reqs)
		h->reqs->prev = r;
	h->reqs = r;
	if (curl_multi_add_handle(h->multi, e) != CURLM_OK) {
		req_unlink(r);
		curl_easy_cleanup(e);
		curl_slist_free_all(r->headers);
		dr_buf_release(&r->resp);
		free(r);
		return -EIO;
	}
	if (out)
		*out = r;
	return 0;
}

void dr_http_cancel(struct dr_http_req *r)
{
	if (!r)
		return;
	req_unlink(r);
	req_free(r);
}

/* Connections: CONNECT_ONLY transfers whose socket the caller then speaks on. */

static void conn_unlink(struct dr_http_conn *c)
{
	struct dr_http *h = c->h;
	if (c->prev)
		c->prev->next = c->next;
	else
		h->conns = c->next;
	if (c->next)
		c->next->prev = c->prev;
	c->prev = c->next = NULL;
}

static void on_conn_poll(uv_poll_t *poll, int status, int events)
{
	struct sock_ctx *ctx = (struct sock_ctx *)poll;
	struct dr_http_conn *c = ctx->conn;
	/* The callback may close c: nothing of it is touched afterwards. */
	c->o.on_io(status < 0 ? status : 0, (events & UV_READABLE) != 0, (events & UV_WRITABLE) != 0, c->o.data);
}

/* The transfer ended: connected (the socket becomes c's) or failed. */
static void conn_done(struct dr_http_conn *c, CURLcode code)
{
	struct dr_http *h = c->h;
	if (c->connected)
		return;
	curl_socket_t fd = CURL_SOCKET_BAD;
	if (code == CURLE_OK &&
	    (curl_easy_getinfo(c->easy, CURLINFO_ACTIVESOCKET, &fd) != CURLE_OK || fd == CURL_SOCKET_BAD))
		code = CURLE_COULDNT_CONNECT;
	if (code != CURLE_OK) {
		int err = map_error(NULL, code);
		const char *why = c->errbuf[0] ? c->errbuf : curl_easy_strerror(code);
		char copy[CURL_ERROR_SIZE];
		snprintf(copy, sizeof copy, "%s", why);
		c->o.on_connected(err, copy, c->o.data);
		return;
	}
	struct sock_ctx *ctx = NULL;
	for (ctx = h->socks; ctx && ctx->fd != fd; ctx = ctx->next)
		;
	if (ctx) {
		sock_unlink(h, ctx);
		curl_multi_assign(h->multi, fd, NULL);
		uv_poll_stop(&ctx->poll);
	} else {
		ctx = dr_xcalloc(1, sizeof *ctx);
		ctx->fd = fd;
		ctx->h = h;
		if (uv_poll_init_socket(h->loop, &ctx->poll, fd) < 0) {
			free(ctx);
			c->o.on_connected(-EIO, "cannot watch the connection", c->o.data);
			return;
		}
		ctx->poll.data = h;
		h->open_handles++;
	}
	ctx->conn = c;
	c->sock = ctx;
	c->connected = true;
	c->o.on_connected(0, NULL, c->o.data);
}

int dr_http_connect(struct dr_http *h, const struct dr_http_conn_opts *o, struct dr_http_conn **out)
{
	if (h->closing)
		return -ECANCELED;
	if (!o->url || !o->on_connected || !o->on_io)
		return -EINVAL;
	struct dr_http_conn *c = dr_xcalloc(1, sizeof *c);
	c->kind = XFER_CONN;
	c->h = h;
	c->o = *o;
	c->easy = curl_easy_init();
	if (!c->easy) {
		free(c);
		return -ENOMEM;
	}
	CURL *e = c->easy;
	set_common(h, e, o->url, c->errbuf);
	curl_easy_setopt(e, CURLOPT_PRIVATE, c);
	curl_easy_setopt(e, CURLOPT_CONNECT_ONLY, 1L);
	/* Through an HTTP proxy the caller's protocol needs a CONNECT tunnel. */
	curl_easy_setopt(e, CURLOPT_HTTPPROXYTUNNEL, 1L);
	if (o->connect_timeout_ms > 0)
		curl_easy_setopt(e, CURLOPT_CONNECTTIMEOUT_MS, o->connect_timeout_ms);
	c->next = h->conns;
	if (h->conns)
		h->conns->prev = c;
	h->conns = c;
	if (curl_multi_add_handle(h->multi, e) != CURLM_OK) {
		conn_unlink(c);
		curl_easy_cleanup(e);
		free(c);
		return -EIO;
	}
	*out = c;
	return 0;
}

void dr_http_conn_watch(struct dr_http_conn *c, bool want_write)
{
	if (c && c->sock)
		uv_poll_start(&c->sock->poll, UV_READABLE | (want_write ? UV_WRITABLE : 0), on_conn_poll);
}

static int conn_io_result(struct dr_http_conn *c, CURLcode code, const char **error)
{
	if (code == CURLE_OK)
		return 0;
	if (code == CURLE_AGAIN)
		return -EAGAIN;
	if (error)
		*error = curl_easy_strerror(code);
	return -EIO;
}

int dr_http_conn_send(struct dr_http_conn *c, const void *buf, size_t len, size_t *sent, const char **error)
{
	*sent = 0;
	if (!c->connected)
		return -ENOTCONN;
	return conn_io_result(c, curl_easy_send(c->easy, buf, len, sent), error);
}

int dr_http_conn_recv(struct dr_http_conn *c, void *buf, size_t len, size_t *got, const char **error)
{
	*got = 0;
	if (!c->connected)
		return -ENOTCONN;
	return conn_io_result(c, curl_easy_recv(c->easy, buf, len, got), error);
}

void dr_http_conn_close(struct dr_http_conn *c)
{
	if (!c)
		return;
	struct dr_http *h = c->h;
	/* Our poll goes before curl closes the socket under it. */
	if (c->sock) {
		sock_close(c->sock);
		c->sock = NULL;
	}
	conn_unlink(c);
	if (h->multi)
		curl_multi_remove_handle(h->multi, c->easy);
	curl_easy_cleanup(c->easy);
	free(c);
}
