/* realtime: the relay's Phoenix/Realtime WebSocket endpoint and its job change feed. */
#include "realtime.h"

#include "clock.h"
#include "token.h"

#include "delego/buf.h"
#include "delego/json.h"
#include "delego/log.h"
#include "delego/phoenix.h"
#include "delego/ws.h"
#include "delego/xalloc.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <unistd.h>

#define OUT_MAX (4u * 1024 * 1024)

struct ws_pending {
	struct relay_realtime *rt;
	char *apikey;
	bool array;
	struct relay_realtime_claims claims;
	struct ws_pending *next;
};

struct ws_conn {
	int fd;
	struct MHD_UpgradeResponseHandle *urh;
	struct dr_ws_reader reader;
	struct dr_buf out;
	bool array;     /* vsn 2.0.0: messages are arrays */
	char *apikey;   /* the token given at connect */
	bool joined;
	char *join_ref;
	unsigned long sub_id; /* the postgres_changes id this join was given */
	struct relay_realtime_claims claims; /* of the last token accepted */
	int64_t last_seen_ms;
	bool dead;      /* close once out is flushed (or at once when the peer is gone) */
	struct ws_conn *next;
};

struct snap {
	char *id, *status, *updated, *runner;
	bool cancel;
};

struct relay_realtime {
	struct relay_store *st;
	struct ws_pending *pending;
	struct ws_conn *conns;
	int n_conns;
	struct snap *snaps;
	size_t n_snaps;
	bool snap_valid;
	int64_t seen_version;
	unsigned long next_id;
};

/* The runner claims of a payload whose signature was checked. */
static int runner_claims(const char *payload, struct relay_realtime_claims *out)
{
	cJSON *p = cJSON_Parse(payload);
	const char *rid = p ? dr_json_str(p, "runner_id") : NULL;
	const cJSON *pat = p ? cJSON_GetObjectItemCaseSensitive(p, "paired_at") : NULL;
	int r = -EACCES;
	if (rid && strlen(rid) < sizeof(out->runner_id) && cJSON_IsNumber(pat)) {
		snprintf(out->runner_id, sizeof(out->runner_id), "%s", rid);
		out->paired_at = (int64_t)pat->valuedouble;
		r = 0;
	}
	cJSON_Delete(p);
	return r;
}

int relay_realtime_check_token(struct relay_store *st, const char *token, int64_t now,
			       struct relay_realtime_claims *out)
{
	char sub[DR_PHOENIX_SUB_MAX + 1];
	int64_t exp_s = 0;
	if (!token || dr_phoenix_jwt_claims(token, sub, &exp_s) < 0)
		return -EACCES;
	if (strcmp(sub, relay_store_account_id(st)) != 0 || exp_s * 1000 <= now)
		return -EACCES;
	/* Re-sign the very payload bytes: the same key gives the same token. */
	const char *d1 = strchr(token, '.');
	const char *d2 = strchr(d1 + 1, '.');
	struct dr_buf b = DR_BUF_INIT(16384);
	struct relay_realtime_claims c = { .exp_ms = exp_s * 1000 };
	int r = dr_phoenix_b64url_decode(d1 + 1, (size_t)(d2 - d1 - 1), &b);
	if (r == 0 && strlen(b.buf) == b.len) {
		char *again = relay_jwt_hs256(b.buf, relay_store_jwt_key(st));
		r = relay_secret_eq(again, token) ? 0 : -EACCES;
		free(again);
	} else {
		r = -EACCES;
	}
	/* A removed or rotated runner's tokens die with its credential. */
	if (r == 0 && (runner_claims(b.buf, &c) < 0 || relay_store_runner_live(st, c.runner_id, c.paired_at) < 0))
		r = -EACCES;
	dr_buf_release(&b);
	if (r == 0)
		*out = c;
	return r;
}

struct relay_realtime *relay_realtime_new(struct relay_store *st)
{
	struct relay_realtime *rt = dr_xcalloc(1, sizeof(*rt));
	rt->st = st;
	return rt;
}

static void snaps_free(struct relay_realtime *rt)
{
	for (size_t i = 0; i < rt->n_snaps; i++) {
		free(rt->snaps[i].id);
		free(rt->snaps[i].status);
		free(rt->snaps[i].updated);
		free(rt->snaps[i].runner);
	}
	free(rt->snaps);
	rt->snaps = NULL;
	rt->n_snaps = 0;
}

static void conn_free(struct ws_conn *c)
{
	MHD_upgrade_action(c->urh, MHD_UPGRADE_ACTION_CLOSE);
	dr_ws_reader_release(&c->reader);
	dr_buf_release(&c->out);
	free(c->apikey);
	free(c->join_ref);
	free(c);
}

void relay_realtime_free(struct relay_realtime *rt)
{
	if (!rt)
		return;
	while (rt->conns) {
		struct ws_conn *c = rt->conns;
		rt->conns = c->next;
		conn_free(c);
	}
	while (rt->pending) {
		struct ws_pending *p = rt->pending;
		rt->pending = p->next;
		free(p->apikey);
		free(p);
	}
	snaps_free(rt);
	free(rt);
}

/* Sending ----------------------------------------------------------- */

static void conn_flush(struct ws_conn *c)
{
	while (c->out.len) {
		ssize_t n = send(c->fd, c->out.buf, c->out.len, MSG_NOSIGNAL | MSG_DONTWAIT);
		if (n < 0) {
			if (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR) {
				dr_buf_reset(&c->out);
				c->dead = true;
			}
			return;
		}
		dr_buf_consume(&c->out, (size_t)n);
	}
}

static void conn_frame(struct ws_conn *c, enum dr_ws_opcode op, const void *data, size_t len)
{
	/* A client that does not read is dropped rather than buffered forever. */
	if (dr_ws_frame_encode(&c->out, op, true, data, len, NULL) < 0)
		c->dead = true;
	conn_flush(c);
}

static void conn_send(struct ws_conn *c, const char *topic, const char *event, cJSON *payload, const char *ref,
		      const char *join_ref)
{
	char *text = dr_phoenix_encode(topic, event, payload, ref, join_ref, c->array);
	conn_frame(c, DR_WS_TEXT, text, strlen(text));
	free(text);
}

static void reply(struct ws_conn *c, const struct dr_phoenix_msg *m, const char *status, cJSON *response)
{
	cJSON *p = cJSON_CreateObject();
	cJSON_AddStringToObject(p, "status", status);
	cJSON_AddItemToObject(p, "response", response ? response : cJSON_CreateObject());
	conn_send(c, m->topic, "phx_reply", p, m->ref, m->join_ref);
}

static void reply_error(struct ws_conn *c, const struct dr_phoenix_msg *m, const char *reason)
{
	cJSON *r = cJSON_CreateObject();
	cJSON_AddStringToObject(r, "reason", reason);
	reply(c, m, "error", r);
}

/* Leaves the channel with a system error, as Realtime does for a bad or expired token. */
static void kick_out(struct relay_realtime *rt, struct ws_conn *c, const char *why)
{
	char *topic = dr_phoenix_topic(relay_store_account_id(rt->st));
	cJSON *p = cJSON_CreateObject();
	cJSON_AddStringToObject(p, "status", "error");
	cJSON_AddStringToObject(p, "message", why);
	cJSON_AddStringToObject(p, "extension", "system");
	cJSON_AddStringToObject(p, "channel", topic + strlen("realtime:"));
	conn_send(c, topic, "system", p, NULL, c->join_ref);
	conn_send(c, topic, "phx_close", NULL, c->join_ref, c->join_ref);
	c->joined = false;
	free(topic);
}

/* Messages ---------------------------------------------------------- */

static void on_join(struct relay_realtime *rt, struct ws_conn *c, const struct dr_phoenix_msg *m, int64_t now)
{
	char *want = dr_phoenix_topic(relay_store_account_id(rt->st));
	const char *tok = dr_json_nonempty(m->payload, "access_token");
	struct relay_realtime_claims claims;
	if (strcmp(m->topic, want) != 0) {
		reply_error(c, m, "Unauthorized: this token's account has no such topic");
	} else if (relay_realtime_check_token(rt->st, tok ? tok : c->apikey, now, &claims) < 0) {
		reply_error(c, m, "Unauthorized: invalid or expired token, or the runner was removed or rotated");
	} else {
		c->joined = true;
		c->claims = claims;
		c->sub_id = ++rt->next_id;
		free(c->join_ref);
		c->join_ref = dr_xstrdup(m->join_ref ? m->join_ref : m->ref);
		cJSON *resp = cJSON_CreateObject();
		cJSON *pc = cJSON_AddArrayToObject(resp, "postgres_changes");
		cJSON *one = cJSON_CreateObject();
		cJSON_AddNumberToObject(one, "id", (double)c->sub_id);
		cJSON_AddStringToObject(one, "event", "*");
		cJSON_AddStringToObject(one, "schema", "public");
		cJSON_AddStringToObject(one, "table", "jobs");
		char *filter = dr_xasprintf("account_id=eq.%s", relay_store_account_id(rt->st));
		cJSON_AddStringToObject(one, "filter", filter);
		free(filter);
		cJSON_AddItemToArray(pc, one);
		reply(c, m, "ok", resp);
	}
	free(want);
}

static void on_text(struct relay_realtime *rt, struct ws_conn *c, const char *data, size_t len, int64_t now)
{
	struct dr_phoenix_msg m;
	if (dr_phoenix_decode(data, len, &m) < 0)
		return;
	if (!strcmp(m.topic, "phoenix")) {
		if (!strcmp(m.event, "heartbeat"))
			reply(c, &m, "ok", NULL);
	} else if (!strcmp(m.event, "phx_join")) {
		on_join(rt, c, &m, now);
	} else if (!strcmp(m.event, "phx_leave")) {
		c->joined = false;
		reply(c, &m, "ok", NULL);
	} else if (!strcmp(m.event, "access_token") && c->joined) {
		struct relay_realtime_claims claims;
		const char *tok = dr_json_nonempty(m.payload, "access_token");
		if (relay_realtime_check_token(rt->st, tok, now, &claims) < 0) {
			kick_out(rt, c, "Invalid token");
			c->dead = true;
		} else {
			c->claims = claims;
		}
	}
	dr_phoenix_msg_release(&m);
}

static void conn_read(struct relay_realtime *rt, struct ws_conn *c, int64_t now)
{
	char buf[16384];
	for (;;) {
		ssize_t n = recv(c->fd, buf, sizeof(buf), MSG_DONTWAIT);
		if (n < 0) {
			if (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR)
				c->dead = true;
			break;
		}
		if (n == 0) {
			c->dead = true;
			break;
		}
		if (dr_ws_reader_feed(&c->reader, buf, (size_t)n) < 0) {
			c->dead = true;
			break;
		}
		c->last_seen_ms = now;
		if ((size_t)n < sizeof(buf))
			break;
	}
	for (;;) {
		struct dr_ws_message m;
		int r = dr_ws_reader_next(&c->reader, &m);
		if (r == 0)
			return;
		if (r < 0) {
			uint8_t code[2] = { 0x03, r == -E2BIG ? 0xf1 : 0xea }; /* 1009 too big, 1002 protocol error */
			conn_frame(c, DR_WS_CLOSE, code, 2);
			c->dead = true;
			return;
		}
		if (m.opcode == DR_WS_TEXT) {
			on_text(rt, c, m.data, m.len, now);
		} else if (m.opcode == DR_WS_PING) {
			conn_frame(c, DR_WS_PONG, m.data, m.len);
		} else if (m.opcode == DR_WS_CLOSE) {
			conn_frame(c, DR_WS_CLOSE, m.data, m.len >= 2 ? 2 : 0);
			c->dead = true;
			return;
		}
	}
}

/* The change feed --------------------------------------------------- */

static cJSON *record_json(struct relay_realtime *rt, const struct snap *s)
{
	cJSON *o = cJSON_CreateObject();
	cJSON_AddStringToObject(o, "id", s->id);
	dr_json_add_str_or_null(o, "status", s->status);
	cJSON_AddBoolToObject(o, "cancellation_requested", s->cancel);
	cJSON_AddStringToObject(o, "account_id", relay_store_account_id(rt->st));
	dr_json_add_str_or_null(o, "runner_id", s->runner);
	dr_json_add_str_or_null(o, "updated_at", s->updated);
	return o;
}

static void broadcast(struct relay_realtime *rt, const char *type, const struct snap *now_s, const struct snap *old,
		      int64_t now)
{
	char *topic = dr_phoenix_topic(relay_store_account_id(rt->st));
	char iso[32];
	relay_clock_iso(now, iso, sizeof(iso));
	for (struct ws_conn *c = rt->conns; c; c = c->next) {
		if (!c->joined || c->dead)
			continue;
		cJSON *p = cJSON_CreateObject();
		cJSON *d = cJSON_AddObjectToObject(p, "data");
		cJSON_AddStringToObject(d, "schema", "public");
		cJSON_AddStringToObject(d, "table", "jobs");
		cJSON_AddStringToObject(d, "commit_timestamp", iso);
		cJSON_AddStringToObject(d, "type", type);
		cJSON_AddItemToObject(d, "record", record_json(rt, now_s));
		cJSON_AddItemToObject(d, "old_record", old ? record_json(rt, old) : cJSON_CreateObject());
		cJSON_AddArrayToObject(d, "columns");
		cJSON_AddNullToObject(d, "errors");
		cJSON *ids = cJSON_AddArrayToObject(p, "ids");
		cJSON_AddItemToArray(ids, cJSON_CreateNumber((double)c->sub_id));
		conn_send(c, topic, "postgres_changes", p, NULL, c->join_ref);
	}
	free(topic);
}

static char *dup_str(const cJSON *o, const char *key)
{
	const char *s = dr_json_str(o, key);
	return s ? dr_xstrdup(s) : NULL;
}

static bool str_eq(const char *a, const char *b)
{
	return (!a && !b) || (a && b && !strcmp(a, b));
}

/* Takes a new snapshot; with emit, pushes what differs from the old one. */
static void refresh_snapshot(struct relay_realtime *rt, bool emit, int64_t now)
{
	cJSON *jobs = NULL;
	if (relay_store_jobs(rt->st, RELAY_REALTIME_JOBS, false, &jobs) < 0)
		return;
	size_t n = (size_t)cJSON_GetArraySize(jobs);
	struct snap *next = dr_xcalloc(n ? n : 1, sizeof(*next));
	size_t k = 0;
	const cJSON *j;
	cJSON_ArrayForEach(j, jobs) {
		const char *id = dr_json_str(j, "id");
		if (!id)
			continue;
		struct snap *s = &next[k++];
		s->id = dr_xstrdup(id);
		s->status = dup_str(j, "status");
		s->updated = dup_str(j, "updatedAt");
		s->runner = dup_str(j, "runnerId");
		s->cancel = dr_json_true(j, "cancellationRequested");
	}
	cJSON_Delete(jobs);
	/* Oldest first, so that a burst arrives in the order it happened. */
	for (size_t i = k; emit && i-- > 0;) {
		const struct snap *s = &next[i], *old = NULL;
		for (size_t o = 0; o < rt->n_snaps; o++)
			if (!strcmp(rt->snaps[o].id, s->id)) {
				old = &rt->snaps[o];
				break;
			}
		if (!old)
			broadcast(rt, "INSERT", s, NULL, now);
		else if (!str_eq(old->status, s->status) || old->cancel != s->cancel ||
			 !str_eq(old->updated, s->updated) || !str_eq(old->runner, s->runner))
			broadcast(rt, "UPDATE", s, old, now);
	}
	snaps_free(rt);
	rt->snaps = next;
	rt->n_snaps = k;
}

/* The loop ---------------------------------------------------------- */

/* A runner removed or rotated (here or by the CLI in another process) loses its sockets at once. */
static void drop_dead_runners(struct relay_realtime *rt)
{
	for (struct ws_conn *c = rt->conns; c; c = c->next) {
		if (c->dead || relay_store_runner_live(rt->st, c->claims.runner_id, c->claims.paired_at) == 0)
			continue;
		if (c->joined)
			kick_out(rt, c, "The runner was removed or its credential rotated");
		uint8_t code[2] = { 0x03, 0xf0 }; /* 1008 policy violation */
		conn_frame(c, DR_WS_CLOSE, code, 2);
		c->dead = true;
	}
}

bool relay_realtime_fdset(struct relay_realtime *rt, fd_set *rs, fd_set *ws, int *max)
{
	for (struct ws_conn *c = rt->conns; c; c = c->next) {
		if (c->fd >= FD_SETSIZE)
			continue;
		FD_SET(c->fd, rs);
		if (c->out.len)
			FD_SET(c->fd, ws);
		if (c->fd > *max)
			*max = c->fd;
	}
	return rt->conns != NULL;
}

void relay_realtime_run(struct relay_realtime *rt, const fd_set *rs, const fd_set *ws, int64_t now)
{
	bool any_joined = false;
	for (struct ws_conn *c = rt->conns; c; c = c->next) {
		if (c->fd < FD_SETSIZE && FD_ISSET(c->fd, ws))
			conn_flush(c);
		if (!c->dead && c->fd < FD_SETSIZE && FD_ISSET(c->fd, rs))
			conn_read(rt, c, now);
		if (c->joined && c->claims.exp_ms <= now)
			kick_out(rt, c, "Token has expired");
		if (now - c->last_seen_ms > RELAY_REALTIME_IDLE_MS)
			c->dead = true;
		any_joined |= c->joined && !c->dead;
	}
	int64_t v = rt->conns ? relay_store_data_version(rt->st) : rt->seen_version;
	if (v != rt->seen_version)
		drop_dead_runners(rt);
	if (!any_joined) {
		rt->snap_valid = false;
	} else if (!rt->snap_valid || v != rt->seen_version) {
		refresh_snapshot(rt, rt->snap_valid, now);
		rt->snap_valid = true;
	}
	rt->seen_version = v;
	for (struct ws_conn **pp = &rt->conns; *pp;) {
		struct ws_conn *c = *pp;
		if (c->dead) {
			*pp = c->next;
			rt->n_conns--;
			conn_free(c);
		} else {
			pp = &c->next;
		}
	}
}

/* Upgrade ----------------------------------------------------------- */

static void on_upgraded(void *cls, struct MHD_Connection *connection, void *con_cls, const char *extra_in,
			size_t extra_in_size, MHD_socket sock, struct MHD_UpgradeResponseHandle *urh)
{
	struct ws_pending *p = cls;
	struct relay_realtime *rt = p->rt;
	for (struct ws_pending **pp = &rt->pending; *pp; pp = &(*pp)->next)
		if (*pp == p) {
			*pp = p->next;
			break;
		}
	struct ws_conn *c = dr_xcalloc(1, sizeof(*c));
	c->fd = sock;
	c->urh = urh;
	c->array = p->array;
	c->apikey = p->apikey;
	c->claims = p->claims;
	free(p);
	c->last_seen_ms = relay_clock_now_ms();
	dr_ws_reader_init(&c->reader, RELAY_REALTIME_MAX_MESSAGE, true);
	dr_buf_init(&c->out, OUT_MAX);
	int fl = fcntl(sock, F_GETFL);
	if (fl >= 0)
		fcntl(sock, F_SETFL, fl | O_NONBLOCK);
	if (extra_in_size && dr_ws_reader_feed(&c->reader, extra_in, extra_in_size) < 0)
		c->dead = true;
	c->next = rt->conns;
	rt->conns = c;
	rt->n_conns++;
	/* Bytes MHD already read are parsed on the next pass (the fd may stay quiet). */
	if (extra_in_size && !c->dead)
		conn_read(rt, c, c->last_seen_ms);
}

static enum MHD_Result plain(struct MHD_Connection *conn, unsigned status, const char *msg)
{
	cJSON *o = cJSON_CreateObject();
	cJSON_AddStringToObject(o, "error", msg);
	char *text = dr_json_print(o);
	cJSON_Delete(o);
	struct MHD_Response *resp = MHD_create_response_from_buffer(strlen(text), text, MHD_RESPMEM_MUST_FREE);
	if (!resp)
		return MHD_NO;
	MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, "application/json");
	enum MHD_Result r = MHD_queue_response(conn, status, resp);
	MHD_destroy_response(resp);
	return r;
}

static bool header_has(struct MHD_Connection *conn, const char *name, const char *token)
{
	const char *v = MHD_lookup_connection_value(conn, MHD_HEADER_KIND, name);
	if (!v)
		return false;
	size_t tl = strlen(token);
	for (const char *p = v; *p;) {
		while (*p == ' ' || *p == ',' || *p == '\t')
			p++;
		size_t n = strcspn(p, ",");
		size_t e = n;
		while (e && (p[e - 1] == ' ' || p[e - 1] == '\t'))
			e--;
		if (e == tl && !strncasecmp(p, token, tl))
			return true;
		p += n;
	}
	return false;
}

enum MHD_Result relay_realtime_request(struct relay_realtime *rt, struct MHD_Connection *conn, const char *method)
{
	if (strcmp(method, "GET") != 0)
		return plain(conn, 405, "the realtime endpoint takes a WebSocket GET");
	const char *key = MHD_lookup_connection_value(conn, MHD_HEADER_KIND, "Sec-WebSocket-Key");
	const char *ver = MHD_lookup_connection_value(conn, MHD_HEADER_KIND, "Sec-WebSocket-Version");
	if (!header_has(conn, "Upgrade", "websocket") || !header_has(conn, "Connection", "upgrade") || !key ||
	    strlen(key) != 24 || !ver || strcmp(ver, "13") != 0)
		return plain(conn, 400, "expected a WebSocket upgrade (version 13)");
	const char *apikey = MHD_lookup_connection_value(conn, MHD_GET_ARGUMENT_KIND, "apikey");
	const char *vsn = MHD_lookup_connection_value(conn, MHD_GET_ARGUMENT_KIND, "vsn");
	struct relay_realtime_claims claims;
	if (relay_realtime_check_token(rt->st, apikey, relay_clock_now_ms(), &claims) < 0)
		return plain(conn, 401, "invalid or expired realtime token (apikey), or the runner was removed or rotated");
	if (vsn && strcmp(vsn, "1.0.0") && strcmp(vsn, "2.0.0"))
		return plain(conn, 400, "unsupported vsn; use 1.0.0 or 2.0.0");
	if (rt->n_conns >= RELAY_REALTIME_MAX_CONNS)
		return plain(conn, 503, "too many realtime connections");
	struct ws_pending *p = dr_xcalloc(1, sizeof(*p));
	p->rt = rt;
	p->apikey = dr_xstrdup(apikey);
	p->array = vsn && !strcmp(vsn, "2.0.0");
	p->claims = claims;
	struct MHD_Response *resp = MHD_create_response_for_upgrade(on_upgraded, p);
	if (!resp) {
		free(p->apikey);
		free(p);
		return MHD_NO;
	}
	p->next = rt->pending;
	rt->pending = p;
	char accept[29];
	dr_ws_accept_key(key, accept);
	MHD_add_response_header(resp, MHD_HTTP_HEADER_UPGRADE, "websocket");
	MHD_add_response_header(resp, "Sec-WebSocket-Accept", accept);
	enum MHD_Result r = MHD_queue_response(conn, MHD_HTTP_SWITCHING_PROTOCOLS, resp);
	MHD_destroy_response(resp);
	return r;
}
