/*
 * realtime: Supabase Realtime over a connection of the daemon's one HTTP
 * transport (http.h: dr_http_connect), on the libuv loop.
 *
 * States: IDLE (waiting to retry) -> TOKEN (realtime-token in flight) ->
 * CONNECTING (the transport: TCP, TLS, proxy) -> HANDSHAKE (our GET sent,
 * waiting for 101) -> JOINING (phx_join sent) -> SUBSCRIBED. Every failure
 * goes through rt_fail(): the connection is torn down and IDLE waits for
 * the backoff.
 */
#include "delego/realtime.h"
#include "delego/url.h"
#include "delego/backoff.h"
#include "delego/random.h"
#include "delego/buf.h"
#include "delego/isotime.h"
#include "delego/json.h"
#include "delego/log.h"
#include "delego/phoenix.h"
#include "delego/ws.h"
#include "delego/xalloc.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>

#define HEARTBEAT_MS 25000
#define SETUP_TIMEOUT_MS 20000     /* connect + handshake + join */
#define REFRESH_LEAD_MS 60000
#define REFRESH_RETRY_MS 30000
#define UNAVAILABLE_RETRY_MS 300000 /* the relay offers no push */
#define REUSE_LEAD_MS 120000      /* a token closer than this to its expiry is not reused */
#define RETRY_BASE_MS 1000
#define RETRY_CAP_MS 300000       /* an unreachable realtime server is retried every few minutes */
#define OUT_MAX (2u * 1024 * 1024)
#define READ_CHUNK 16384

enum rt_state {
	RT_IDLE,
	RT_TOKEN,
	RT_CONNECTING,
	RT_HANDSHAKE,
	RT_JOINING,
	RT_SUBSCRIBED,
};

static const char *const rt_strstate[] = {
	[RT_IDLE] = "idle",         [RT_TOKEN] = "token",     [RT_CONNECTING] = "connecting",
	[RT_HANDSHAKE] = "handshake", [RT_JOINING] = "joining", [RT_SUBSCRIBED] = "subscribed",
};

struct dr_realtime {
	bool allow_insecure;  /* clear text to a host that is not this machine */
	uv_loop_t *loop;
	struct dr_relay *relay;
	char *version;
	void (*on_change)(void *data);
	void (*on_cancel)(const char *job_id, void *data);
	void (*on_state)(bool subscribed, void *data);
	void *data;

	enum rt_state state;
	bool freeing;
	bool ever_subscribed;
	bool unavailable_logged;
	int open_handles;

	struct dr_http *http;      /* the daemon's one transport (the relay's), borrowed */
	struct dr_http_conn *conn; /* the WebSocket's connection */
	bool connected;            /* conn is up: the handshake and frames go over it */
	uv_timer_t retry_timer; /* IDLE: next attempt; otherwise the setup deadline */
	uv_timer_t heartbeat_timer;
	uv_timer_t refresh_timer;

	struct dr_relay_call *token_call;
	struct dr_relay_call *refresh_call;
	char *token; /* secret */
	int64_t token_expires_ms; /* wall clock; 0 when the token must not be reused */
	char *supabase_url;
	char sub[DR_PHOENIX_SUB_MAX + 1];
	char *topic;
	char *host, *target, *connect_url;
	char key[32];
	struct dr_buf out;
	struct dr_buf hs;
	struct dr_ws_reader reader;
	unsigned long ref;
	char join_ref[24];
	char heartbeat_ref[24];
	bool heartbeat_pending;
	struct dr_backoff backoff;
};

static void rt_fail(struct dr_realtime *rt, uint64_t retry_ms, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
static void rt_connect(struct dr_realtime *rt);
static void rt_request_token(struct dr_realtime *rt);
static void ws_update_poll(struct dr_realtime *rt);

static void enter_state(struct dr_realtime *rt, enum rt_state next)
{
	if (rt->state != next)
		dr_log_debug("realtime: %s -> %s", rt_strstate[rt->state], rt_strstate[next]);
	rt->state = next;
}

static int64_t wall_ms(void)
{
	struct timeval tv;
	gettimeofday(&tv, NULL);
	return (int64_t)tv.tv_sec * 1000 + tv.tv_usec / 1000;
}

static void next_ref(struct dr_realtime *rt, char out[24])
{
	snprintf(out, 24, "%lu", ++rt->ref);
}

/* Handles ----------------------------------------------------------- */

static void maybe_free(struct dr_realtime *rt)
{
	if (!rt->freeing || rt->open_handles > 0)
		return;
	free(rt->version);
	free(rt);
}

static void handle_closed(uv_handle_t *h)
{
	struct dr_realtime *rt = h->data;
	rt->open_handles--;
	maybe_free(rt);
}

/* Tearing a connection down ---------------------------------------- */

static void conn_close(struct dr_realtime *rt)
{
	uv_timer_stop(&rt->heartbeat_timer);
	uv_timer_stop(&rt->retry_timer);
	dr_http_conn_close(rt->conn);
	rt->conn = NULL;
	rt->connected = false;
	dr_buf_reset(&rt->out);
	dr_buf_reset(&rt->hs);
	dr_ws_reader_release(&rt->reader);
	dr_ws_reader_init(&rt->reader, DR_PHOENIX_MAX_MESSAGE, false);
	rt->heartbeat_pending = false;
	rt->join_ref[0] = '\0';
}

static bool token_reusable(const struct dr_realtime *rt);
static void rt_reconnect(struct dr_realtime *rt);

static void on_retry_timer(uv_timer_t *t)
{
	struct dr_realtime *rt = t->data;
	/* A reconnect reuses a token that is good for a while yet: no realtime-token call per attempt. */
	if (rt->state == RT_IDLE && token_reusable(rt))
		rt_reconnect(rt);
	else if (rt->state == RT_IDLE)
		rt_request_token(rt);
	else
		rt_fail(rt, 0, "the realtime server did not complete the subscription in %d s", SETUP_TIMEOUT_MS / 1000);
}

/* retry_ms 0: the backoff decides. */
static void rt_fail(struct dr_realtime *rt, uint64_t retry_ms, const char *fmt, ...)
{
	char msg[512];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	bool was_subscribed = rt->state == RT_SUBSCRIBED;
	conn_close(rt);
	if (rt->refresh_call) {
		dr_relay_call_cancel(rt->refresh_call);
		rt->refresh_call = NULL;
	}
	uv_timer_stop(&rt->refresh_timer);
	enter_state(rt, RT_IDLE);
	uint64_t delay = retry_ms ? retry_ms : dr_backoff_next(&rt->backoff, dr_random_unit());
	if (was_subscribed)
		dr_log_warn("realtime push lost: %s; reconnecting in %llu ms, polling meanwhile", msg,
			(unsigned long long)delay);
	else if (!rt->unavailable_logged && !rt->ever_subscribed)
		dr_log_info("realtime push unavailable: %s; polling instead (retrying push in %llu ms)", msg,
			(unsigned long long)delay);
	else
		dr_log_debug("realtime: %s; retrying in %llu ms", msg, (unsigned long long)delay);
	if (!rt->ever_subscribed)
		rt->unavailable_logged = true;
	uv_timer_start(&rt->retry_timer, on_retry_timer, delay, 0);
	if (was_subscribed && rt->on_state)
		rt->on_state(false, rt->data);
}

/* Sending ----------------------------------------------------------- */

static void ws_flush(struct dr_realtime *rt)
{
	while (rt->out.len) {
		size_t n = 0;
		const char *why = "";
		int c = dr_http_conn_send(rt->conn, rt->out.buf, rt->out.len, &n, &why);
		if (c == -EAGAIN)
			break;
		if (c < 0) {
			rt_fail(rt, 0, "cannot send to the realtime server: %s", why);
			return;
		}
		dr_buf_consume(&rt->out, n);
	}
	ws_update_poll(rt);
}

static void ws_send_frame(struct dr_realtime *rt, enum dr_ws_opcode op, const void *data, size_t len)
{
	uint8_t mask[4];
	char hex[9];
	dr_random_hex(hex, 4);
	for (int i = 0; i < 4; i++)
		mask[i] = (uint8_t)strtoul((char[]){ hex[2 * i], hex[2 * i + 1], 0 }, NULL, 16);
	if (dr_ws_frame_encode(&rt->out, op, true, data, len, mask) < 0) {
		rt_fail(rt, 0, "the realtime server does not read what we send");
		return;
	}
	ws_flush(rt);
}

static void send_msg(struct dr_realtime *rt, const char *topic, const char *event, cJSON *payload, const char *ref,
		     const char *join_ref)
{
	char *text = dr_phoenix_encode(topic, event, payload, ref, join_ref, false);
	ws_send_frame(rt, DR_WS_TEXT, text, strlen(text));
	free(text);
}

/* Receiving --------------------------------------------------------- */

static void on_heartbeat_timer(uv_timer_t *t)
{
	struct dr_realtime *rt = t->data;
	if (rt->heartbeat_pending) {
		rt_fail(rt, 0, "no heartbeat reply from the realtime server in %d s", HEARTBEAT_MS / 1000);
		return;
	}
	next_ref(rt, rt->heartbeat_ref);
	rt->heartbeat_pending = true;
	send_msg(rt, "phoenix", "heartbeat", NULL, rt->heartbeat_ref, NULL);
}

static void subscribed(struct dr_realtime *rt)
{
	enter_state(rt, RT_SUBSCRIBED);
	uv_timer_stop(&rt->retry_timer);
	dr_backoff_reset(&rt->backoff);
	dr_log_info("realtime push is live (channel %s)", rt->topic);
	rt->ever_subscribed = true;
	rt->unavailable_logged = false;
	uv_timer_start(&rt->heartbeat_timer, on_heartbeat_timer, HEARTBEAT_MS, HEARTBEAT_MS);
	if (rt->on_state)
		rt->on_state(true, rt->data);
}

static void handle_text(struct dr_realtime *rt, const char *data, size_t len)
{
	struct dr_phoenix_msg m;
	if (dr_phoenix_decode(data, len, &m) < 0) {
		dr_log_debug("realtime: ignoring a message that is not a Phoenix message");
		return;
	}
	const char *status = dr_phoenix_reply_status(&m);
	if (!strcmp(m.topic, "phoenix")) {
		if (status && m.ref && !strcmp(m.ref, rt->heartbeat_ref))
			rt->heartbeat_pending = false;
	} else if (strcmp(m.topic, rt->topic) != 0) {
		dr_log_debug("realtime: ignoring a message on topic '%.64s'", m.topic);
	} else if (status && rt->state == RT_JOINING && m.ref && !strcmp(m.ref, rt->join_ref)) {
		if (!strcmp(status, "ok")) {
			subscribed(rt);
		} else {
			const cJSON *resp = dr_json_obj(m.payload, "response");
			const char *reason = resp ? dr_json_str(resp, "reason") : NULL;
			rt->token_expires_ms = 0; /* perhaps the token: mint a new one */
			rt_fail(rt, 0, "the realtime server refused to join %s: %.200s", rt->topic,
				reason ? reason : status);
		}
	} else if (!strcmp(m.event, "postgres_changes") && rt->state == RT_SUBSCRIBED) {
		struct dr_phoenix_change c;
		if (dr_phoenix_change_parse(m.payload, &c) == 0) {
			dr_log_debug("realtime: %s on job %s", c.type, c.job_id ? c.job_id : "?");
			if (dr_phoenix_change_cancels(&c) && rt->on_cancel)
				rt->on_cancel(c.job_id, rt->data);
			if (!rt->freeing && strcmp(c.type, "DELETE") && rt->on_change)
				rt->on_change(rt->data);
		}
	} else if (!strcmp(m.event, "phx_error") || !strcmp(m.event, "phx_close")) {
		rt_fail(rt, 0, "the realtime server closed channel %s (%s)", rt->topic, m.event);
	} else if (!strcmp(m.event, "system") && status && strcmp(status, "ok")) {
		const char *msg = dr_json_str(m.payload, "message");
		dr_log_info("realtime server: %.200s", msg ? msg : status);
	}
	dr_phoenix_msg_release(&m);
}

static void after_handshake(struct dr_realtime *rt)
{
	enter_state(rt, RT_JOINING);
	next_ref(rt, rt->join_ref);
	send_msg(rt, rt->topic, "phx_join", dr_phoenix_join_payload(rt->sub, rt->token), rt->join_ref, rt->join_ref);
}

static void on_bytes(struct dr_realtime *rt, const char *data, size_t len)
{
	if (rt->state == RT_HANDSHAKE) {
		if (dr_buf_add(&rt->hs, data, len) < 0) {
			rt_fail(rt, 0, "the realtime server's handshake answer is too long");
			return;
		}
		int status;
		int r = dr_ws_handshake_check(rt->hs.buf, rt->hs.len, rt->key, &status);
		if (r == 0)
			return;
		if (r < 0) {
			if (status && status != 101) {
				rt->token_expires_ms = 0;
				rt_fail(rt, 0, "the realtime server refused the WebSocket upgrade (HTTP %d)", status);
			}
			else
				rt_fail(rt, 0, "the realtime server's handshake answer is not a valid WebSocket upgrade");
			return;
		}
		size_t rest = rt->hs.len - (size_t)r;
		if (rest && dr_ws_reader_feed(&rt->reader, rt->hs.buf + r, rest) < 0) {
			rt_fail(rt, 0, "the realtime server sent too much at once");
			return;
		}
		dr_buf_reset(&rt->hs);
		after_handshake(rt);
		if (rt->state != RT_JOINING)
			return;
	} else if (dr_ws_reader_feed(&rt->reader, data, len) < 0) {
		rt_fail(rt, 0, "the realtime server sent a message over %u bytes", DR_PHOENIX_MAX_MESSAGE);
		return;
	}
	enum rt_state st = rt->state;
	for (;;) {
		struct dr_ws_message m;
		int r = dr_ws_reader_next(&rt->reader, &m);
		if (r == 0)
			return;
		if (r < 0) {
			rt_fail(rt, 0, r == -E2BIG ? "the realtime server sent a message over %u bytes"
						   : "the realtime server broke the WebSocket protocol (%u)",
				DR_PHOENIX_MAX_MESSAGE);
			return;
		}
		switch (m.opcode) {
		case DR_WS_TEXT:
			handle_text(rt, m.data, m.len);
			break;
		case DR_WS_PING:
			ws_send_frame(rt, DR_WS_PONG, m.data, m.len);
			break;
		case DR_WS_CLOSE:
			ws_send_frame(rt, DR_WS_CLOSE, m.data, m.len >= 2 ? 2 : 0);
			if (!rt->freeing && rt->state != RT_IDLE)
				rt_fail(rt, 0, "the realtime server closed the connection");
			return;
		default:
			break;
		}
		/* A callback may have freed us, or a failure reset the connection. */
		if (rt->freeing || rt->state == RT_IDLE || (st != rt->state && rt->state < RT_JOINING))
			return;
		st = rt->state;
	}
}

static void on_ws_io(int status, bool readable, bool writable, void *data)
{
	struct dr_realtime *rt = data;
	if (status < 0) {
		rt_fail(rt, 0, "the realtime connection failed: %s", uv_strerror(status));
		return;
	}
	if (writable) {
		ws_flush(rt);
		if (rt->state == RT_IDLE || rt->freeing)
			return;
	}
	if (!readable)
		return;
	char buf[READ_CHUNK];
	for (;;) {
		size_t n = 0;
		const char *why = "";
		int c = dr_http_conn_recv(rt->conn, buf, sizeof(buf), &n, &why);
		if (c == -EAGAIN)
			return;
		if (c < 0) {
			rt_fail(rt, 0, "cannot read from the realtime server: %s", why);
			return;
		}
		if (n == 0) {
			rt_fail(rt, 0, "the realtime server closed the connection");
			return;
		}
		on_bytes(rt, buf, n);
		if (rt->freeing || rt->state == RT_IDLE || !rt->conn)
			return;
	}
}

static void ws_update_poll(struct dr_realtime *rt)
{
	if (!rt->connected || rt->freeing)
		return;
	dr_http_conn_watch(rt->conn, rt->out.len > 0);
}

/* Connecting -------------------------------------------------------- */

static void on_connected(int err, const char *error, void *data)
{
	struct dr_realtime *rt = data;
	if (rt->state != RT_CONNECTING)
		return;
	if (err < 0) {
		rt_fail(rt, 0, "cannot connect to the realtime server %s: %s", rt->host, error);
		return;
	}
	rt->connected = true;
	enter_state(rt, RT_HANDSHAKE);
	char raw[17]; /* 16 random hex digits (the key's 16 bytes) and dr_random_hex's NUL */
	dr_random_hex(raw, 8);
	dr_ws_base64(raw, 16, rt->key);
	dr_buf_reset(&rt->out);
	dr_buf_addf(&rt->out,
		    "GET %s HTTP/1.1\r\nHost: %s\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
		    "Sec-WebSocket-Key: %s\r\nSec-WebSocket-Version: 13\r\nUser-Agent: delego-runner/%s\r\n\r\n",
		    rt->target, rt->host, rt->key, rt->version);
	ws_flush(rt);
}

static void rt_connect(struct dr_realtime *rt)
{
	struct dr_http_conn_opts o = {
		.url = rt->connect_url,
		.connect_timeout_ms = 10000,
		.on_connected = on_connected,
		.on_io = on_ws_io,
		.data = rt,
	};
	enter_state(rt, RT_CONNECTING);
	uv_timer_start(&rt->retry_timer, on_retry_timer, SETUP_TIMEOUT_MS, 0);
	int r = dr_http_connect(rt->http, &o, &rt->conn);
	if (r < 0) {
		rt->conn = NULL;
		rt_fail(rt, 0, "cannot start connecting to the realtime server: %s", strerror(-r));
	}
}

/* Tokens ------------------------------------------------------------ */

struct token_answer {
	const char *token;
	int64_t expires_ms;
	char sub[DR_PHOENIX_SUB_MAX + 1];
};

/* Reads {token, expiresAt, supabaseUrl}; fills why when unusable. */
static int read_token(const cJSON *body, struct token_answer *t, const char **url, const char **why)
{
	t->token = dr_json_nonempty(body, "token");
	*url = dr_json_nonempty(body, "supabaseUrl");
	if (!t->token || !*url) {
		*why = "the relay's realtime-token answer has no token or supabaseUrl";
		return -EINVAL;
	}
	int64_t exp_s = 0;
	if (dr_phoenix_jwt_claims(t->token, t->sub, &exp_s) < 0) {
		*why = "the realtime token is not a JWT with an account id (sub)";
		return -EINVAL;
	}
	const char *ea = dr_json_str(body, "expiresAt");
	if (!ea || dr_isotime_parse(ea, &t->expires_ms) < 0)
		t->expires_ms = exp_s ? exp_s * 1000 : wall_ms() + 3600 * 1000;
	return 0;
}

static void on_refresh_timer(uv_timer_t *t);

static void schedule_refresh(struct dr_realtime *rt, int64_t expires_ms)
{
	int64_t delay = expires_ms - wall_ms() - REFRESH_LEAD_MS;
	if (delay < 1000)
		delay = 1000;
	uv_timer_start(&rt->refresh_timer, on_refresh_timer, (uint64_t)delay, 0);
}

static void set_token(struct dr_realtime *rt, const char *token)
{
	if (rt->token) {
		memset(rt->token, 0, strlen(rt->token));
		free(rt->token);
	}
	rt->token = dr_xstrdup(token);
}

static void on_refresh(const struct dr_relay_reply *reply, void *data)
{
	struct dr_realtime *rt = data;
	rt->refresh_call = NULL;
	if (reply->outcome == DR_RELAY_UNAUTHORIZED)
		return;
	struct token_answer t;
	const char *url, *why = reply->message;
	if (reply->outcome != DR_RELAY_OK || read_token(reply->body, &t, &url, &why) < 0) {
		dr_log_warn("realtime: token refresh failed: %s; retrying in %d s", why, REFRESH_RETRY_MS / 1000);
		uv_timer_start(&rt->refresh_timer, on_refresh_timer, REFRESH_RETRY_MS, 0);
		return;
	}
	if (strcmp(t.sub, rt->sub) != 0) {
		rt_fail(rt, 1000, "the realtime token changed accounts");
		return;
	}
	set_token(rt, t.token);
	rt->token_expires_ms = t.expires_ms;
	dr_log_debug("realtime: access token refreshed");
	if (rt->state == RT_SUBSCRIBED) {
		cJSON *p = cJSON_CreateObject();
		cJSON_AddStringToObject(p, "access_token", rt->token);
		char ref[24];
		next_ref(rt, ref);
		send_msg(rt, rt->topic, "access_token", p, ref, rt->join_ref);
	}
	if (rt->state != RT_IDLE)
		schedule_refresh(rt, t.expires_ms);
}

static void on_refresh_timer(uv_timer_t *t)
{
	struct dr_realtime *rt = t->data;
	if (rt->state != RT_SUBSCRIBED || rt->refresh_call)
		return; /* a new connection fetches its own token */
	int r = dr_relay_post(rt->relay, "/api/runner/realtime-token", cJSON_CreateObject(), 15000, on_refresh, rt,
			      &rt->refresh_call);
	if (r < 0)
		uv_timer_start(&rt->refresh_timer, on_refresh_timer, REFRESH_RETRY_MS, 0);
}

static void on_token(const struct dr_relay_reply *reply, void *data)
{
	struct dr_realtime *rt = data;
	rt->token_call = NULL;
	if (reply->outcome == DR_RELAY_UNAUTHORIZED)
		return; /* the runner stops */
	if (reply->outcome == DR_RELAY_REJECTED) {
		rt_fail(rt, UNAVAILABLE_RETRY_MS, "the relay does not offer realtime-token (%s)", reply->message);
		return;
	}
	if (reply->outcome != DR_RELAY_OK) {
		rt_fail(rt, 0, "cannot get a realtime token: %s", reply->message);
		return;
	}
	struct token_answer t;
	const char *url, *why;
	if (read_token(reply->body, &t, &url, &why) < 0) {
		rt_fail(rt, UNAVAILABLE_RETRY_MS, "%s", why);
		return;
	}
	if (dr_url_is_cleartext(url) && !dr_url_is_loopback(url) && !rt->allow_insecure) {
		rt_fail(rt, UNAVAILABLE_RETRY_MS, "refusing the relay's supabaseUrl '%.200s': the token would travel in clear "
			"text to another machine (the relay should hand out https://, or pass --allow-insecure-relay)", url);
		return;
	}
	free(rt->supabase_url);
	rt->supabase_url = dr_xstrdup(url);
	set_token(rt, t.token);
	rt->token_expires_ms = t.expires_ms;
	memcpy(rt->sub, t.sub, sizeof(rt->sub));
	free(rt->topic);
	rt->topic = dr_phoenix_topic(rt->sub);
	rt_reconnect(rt);
}

static bool token_reusable(const struct dr_realtime *rt)
{
	return rt->token && rt->supabase_url && rt->token_expires_ms - wall_ms() > REUSE_LEAD_MS;
}

/* Connects with the token we hold (its URL carries it). */
static void rt_reconnect(struct dr_realtime *rt)
{
	char *cu, *host, *target;
	if (dr_phoenix_ws_url(rt->supabase_url, rt->token, &cu, &host, &target) < 0) {
		rt->token_expires_ms = 0;
		rt_fail(rt, UNAVAILABLE_RETRY_MS, "the relay's supabaseUrl '%.200s' is not an http(s) URL",
			rt->supabase_url);
		return;
	}
	free(rt->connect_url);
	free(rt->host);
	if (rt->target) {
		memset(rt->target, 0, strlen(rt->target));
		free(rt->target);
	}
	rt->connect_url = cu;
	rt->host = host;
	rt->target = target;
	schedule_refresh(rt, rt->token_expires_ms);
	rt_connect(rt);
}

static void rt_request_token(struct dr_realtime *rt)
{
	enter_state(rt, RT_TOKEN);
	int r = dr_relay_post(rt->relay, "/api/runner/realtime-token", cJSON_CreateObject(), 15000, on_token, rt,
			      &rt->token_call);
	if (r < 0)
		rt_fail(rt, 0, "cannot ask for a realtime token: %s", strerror(-r));
}

/* Life cycle -------------------------------------------------------- */

int dr_realtime_new(const struct dr_realtime_opts *o, struct dr_realtime **out)
{
	struct dr_realtime *rt = dr_xcalloc(1, sizeof(*rt));
	rt->loop = o->loop;
	rt->relay = o->relay;
	rt->http = dr_relay_http(o->relay);
	rt->version = dr_xstrdup(o->version ? o->version : DR_VERSION);
	rt->allow_insecure = o->allow_insecure;
	rt->on_change = o->on_change;
	rt->on_cancel = o->on_cancel;
	rt->on_state = o->on_state;
	rt->data = o->data;
	rt->backoff = (struct dr_backoff)DR_BACKOFF_INIT(RETRY_BASE_MS, RETRY_CAP_MS);
	dr_buf_init(&rt->out, OUT_MAX);
	dr_buf_init(&rt->hs, DR_WS_HANDSHAKE_MAX);
	dr_ws_reader_init(&rt->reader, DR_PHOENIX_MAX_MESSAGE, false);
	uv_timer_t *timers[] = { &rt->retry_timer, &rt->heartbeat_timer, &rt->refresh_timer };
	for (size_t i = 0; i < 3; i++) {
		uv_timer_init(rt->loop, timers[i]);
		timers[i]->data = rt;
	}
	rt->open_handles = 3;
	*out = rt;
	return 0;
}

void dr_realtime_start(struct dr_realtime *rt)
{
	if (rt->state == RT_IDLE && !uv_is_active((uv_handle_t *)&rt->retry_timer))
		rt_request_token(rt);
}

bool dr_realtime_offered(const struct dr_realtime *rt)
{
	return rt && rt->supabase_url;
}

void dr_realtime_free(struct dr_realtime *rt)
{
	if (!rt || rt->freeing)
		return;
	if (rt->token_call)
		dr_relay_call_cancel(rt->token_call);
	if (rt->refresh_call)
		dr_relay_call_cancel(rt->refresh_call);
	rt->token_call = rt->refresh_call = NULL;
	conn_close(rt);
	rt->freeing = true;
	uv_timer_t *timers[] = { &rt->retry_timer, &rt->heartbeat_timer, &rt->refresh_timer };
	for (size_t i = 0; i < 3; i++) {
		uv_timer_stop(timers[i]);
		uv_close((uv_handle_t *)timers[i], handle_closed);
	}
	dr_buf_release(&rt->out);
	dr_buf_release(&rt->hs);
	dr_ws_reader_release(&rt->reader);
	if (rt->token) {
		memset(rt->token, 0, strlen(rt->token));
		free(rt->token);
	}
	if (rt->target) {
		memset(rt->target, 0, strlen(rt->target));
		free(rt->target);
	}
	free(rt->topic);
	free(rt->host);
	free(rt->connect_url);
	free(rt->supabase_url);
	rt->token = rt->target = rt->topic = rt->host = rt->connect_url = rt->supabase_url = NULL;
}
