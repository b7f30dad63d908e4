/* phoenix: Phoenix channel messages, the Realtime join and change events, JWT claims. */
#include "delego/phoenix.h"
#include "delego/json.h"
#include "delego/xalloc.h"

#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define JWT_MAX 16384

char *dr_phoenix_encode(const char *topic, const char *event, cJSON *payload, const char *ref, const char *join_ref,
			bool array)
{
	if (!payload)
		payload = cJSON_CreateObject();
	cJSON *m;
	if (array) {
		m = cJSON_CreateArray();
		cJSON_AddItemToArray(m, join_ref ? cJSON_CreateString(join_ref) : cJSON_CreateNull());
		cJSON_AddItemToArray(m, ref ? cJSON_CreateString(ref) : cJSON_CreateNull());
		cJSON_AddItemToArray(m, cJSON_CreateString(topic));
		cJSON_AddItemToArray(m, cJSON_CreateString(event));
		cJSON_AddItemToArray(m, payload);
	} else {
		m = cJSON_CreateObject();
		cJSON_AddStringToObject(m, "topic", topic);
		cJSON_AddStringToObject(m, "event", event);
		cJSON_AddItemToObject(m, "payload", payload);
		dr_json_add_str_or_null(m, "ref", ref);
		dr_json_add_str_or_null(m, "join_ref", join_ref);
	}
	char *s = dr_json_print(m);
	cJSON_Delete(m);
	return s;
}

/* A ref is a string, a number (kept as text) or null. */
static int take_ref(const cJSON *v, char buf[32], const char **out)
{
	*out = NULL;
	if (!v || cJSON_IsNull(v))
		return 0;
	if (cJSON_IsString(v)) {
		if (strlen(v->valuestring) > 64)
			return -EINVAL;
		*out = v->valuestring;
		return 0;
	}
	if (cJSON_IsNumber(v)) {
		snprintf(buf, 32, "%.0f", v->valuedouble);
		*out = buf;
		return 0;
	}
	return -EINVAL;
}

int dr_phoenix_decode(const char *data, size_t len, struct dr_phoenix_msg *m)
{
	memset(m, 0, sizeof(*m));
	cJSON *root;
	int r = dr_json_parse(data, len, DR_PHOENIX_MAX_MESSAGE, &root);
	if (r < 0)
		return r;
	const cJSON *topic, *event, *payload, *ref, *jref;
	if (cJSON_IsArray(root)) {
		if (cJSON_GetArraySize(root) != 5)
			goto bad;
		jref = cJSON_GetArrayItem(root, 0);
		ref = cJSON_GetArrayItem(root, 1);
		topic = cJSON_GetArrayItem(root, 2);
		event = cJSON_GetArrayItem(root, 3);
		payload = cJSON_GetArrayItem(root, 4);
	} else if (cJSON_IsObject(root)) {
		topic = cJSON_GetObjectItemCaseSensitive(root, "topic");
		event = cJSON_GetObjectItemCaseSensitive(root, "event");
		payload = cJSON_GetObjectItemCaseSensitive(root, "payload");
		ref = cJSON_GetObjectItemCaseSensitive(root, "ref");
		jref = cJSON_GetObjectItemCaseSensitive(root, "join_ref");
	} else {
		goto bad;
	}
	if (!cJSON_IsString(topic) || !cJSON_IsString(event) || strlen(topic->valuestring) > 256 ||
	    strlen(event->valuestring) > 64)
		goto bad;
	if (payload && !cJSON_IsNull(payload) && !cJSON_IsObject(payload))
		goto bad;
	if (take_ref(ref, m->refbuf[0], &m->ref) < 0 || take_ref(jref, m->refbuf[1], &m->join_ref) < 0)
		goto bad;
	m->root = root;
	m->topic = topic->valuestring;
	m->event = event->valuestring;
	if (cJSON_IsObject(payload)) {
		m->payload = payload;
	} else {
		m->empty = cJSON_CreateObject();
		m->payload = m->empty;
	}
	return 0;
bad:
	cJSON_Delete(root);
	memset(m, 0, sizeof(*m));
	return -EINVAL;
}

void dr_phoenix_msg_release(struct dr_phoenix_msg *m)
{
	cJSON_Delete(m->root);
	cJSON_Delete(m->empty);
	memset(m, 0, sizeof(*m));
}

const char *dr_phoenix_reply_status(const struct dr_phoenix_msg *m)
{
	if (!m->event || strcmp(m->event, "phx_reply") != 0)
		return NULL;
	return dr_json_str(m->payload, "status");
}

char *dr_phoenix_topic(const char *sub)
{
	return dr_xasprintf(DR_PHOENIX_TOPIC_PREFIX "%s", sub);
}

cJSON *dr_phoenix_join_payload(const char *sub, const char *access_token)
{
	cJSON *p = cJSON_CreateObject();
	cJSON *config = cJSON_AddObjectToObject(p, "config");
	cJSON *bc = cJSON_AddObjectToObject(config, "broadcast");
	cJSON_AddFalseToObject(bc, "ack");
	cJSON_AddFalseToObject(bc, "self");
	cJSON *pr = cJSON_AddObjectToObject(config, "presence");
	cJSON_AddStringToObject(pr, "key", "");
	cJSON *pc = cJSON_AddArrayToObject(config, "postgres_changes");
	cJSON *one = cJSON_CreateObject();
	cJSON_AddStringToObject(one, "event", "*");
	cJSON_AddStringToObject(one, "schema", "public");
	cJSON_AddStringToObject(one, "table", "jobs");
	char *filter = dr_xasprintf("account_id=eq.%s", sub);
	cJSON_AddStringToObject(one, "filter", filter);
	free(filter);
	cJSON_AddItemToArray(pc, one);
	cJSON_AddFalseToObject(config, "private");
	if (access_token)
		cJSON_AddStringToObject(p, "access_token", access_token);
	return p;
}

int dr_phoenix_change_parse(const cJSON *payload, struct dr_phoenix_change *c)
{
	memset(c, 0, sizeof(*c));
	const cJSON *data = payload ? dr_json_obj(payload, "data") : NULL;
	const char *type = data ? dr_json_str(data, "type") : NULL;
	if (!type || (strcmp(type, "INSERT") && strcmp(type, "UPDATE") && strcmp(type, "DELETE")))
		return -EINVAL;
	snprintf(c->type, sizeof(c->type), "%s", type);
	const cJSON *rec = dr_json_obj(data, "record");
	const cJSON *old = dr_json_obj(data, "old_record");
	if (rec) {
		const char *id = dr_json_nonempty(rec, "id");
		c->job_id = id && strlen(id) <= 200 ? id : NULL;
		c->cancel_new = dr_json_true(rec, "cancellation_requested");
	}
	if (old)
		c->cancel_old = dr_json_true(old, "cancellation_requested");
	return 0;
}

bool dr_phoenix_change_cancels(const struct dr_phoenix_change *c)
{
	return !strcmp(c->type, "UPDATE") && c->job_id && c->cancel_new && !c->cancel_old;
}

static void url_encode(struct dr_buf *b, const char *s)
{
	for (; *s; s++) {
		unsigned char ch = (unsigned char)*s;
		if (isalnum(ch) || ch == '-' || ch == '_' || ch == '.' || ch == '~')
			dr_buf_addch(b, (char)ch);
		else
			dr_buf_addf(b, "%%%02X", ch);
	}
}

int dr_phoenix_ws_url(const char *url, const char *token, char **connect_url, char **host, char **target)
{
	const char *scheme;
	const char *rest;
	if (!strncmp(url, "https://", 8) || !strncmp(url, "wss://", 6)) {
		scheme = "https";
		rest = url + (url[0] == 'h' ? 8 : 6);
	} else if (!strncmp(url, "http://", 7) || !strncmp(url, "ws://", 5)) {
		scheme = "http";
		rest = url + (url[0] == 'h' ? 7 : 5);
	} else {
		return -EINVAL;
	}
	size_t alen = strcspn(rest, "/?#");
	if (alen == 0 || alen > 255 || memchr(rest, '@', alen) || strlen(url) > 2048)
		return -EINVAL;
	for (size_t i = 0; i < alen; i++)
		if (!isalnum((unsigned char)rest[i]) && !strchr(".-:[]_", rest[i]))
			return -EINVAL;
	const char *path = rest + alen;
	size_t plen = strcspn(path, "?#");
	while (plen && path[plen - 1] == '/')
		plen--;
	for (size_t i = 0; i < plen; i++)
		if ((unsigned char)path[i] <= ' ' || path[i] == '%' || (unsigned char)path[i] >= 0x7f)
			return -EINVAL;
	struct dr_buf t = DR_BUF_INIT(0);
	dr_buf_add(&t, path, plen);
	dr_buf_addstr(&t, "/realtime/v1/websocket?apikey=");
	url_encode(&t, token);
	dr_buf_addstr(&t, "&vsn=1.0.0");
	*target = dr_buf_detach(&t, NULL);
	*host = dr_xstrndup(rest, alen);
	*connect_url = dr_xasprintf("%s://%.*s/", scheme, (int)alen, rest);
	return 0;
}

static int b64val(int c)
{
	if (c >= 'A' && c <= 'Z')
		return c - 'A';
	if (c >= 'a' && c <= 'z')
		return c - 'a' + 26;
	if (c >= '0' && c <= '9')
		return c - '0' + 52;
	if (c == '-' || c == '+')
		return 62;
	if (c == '_' || c == '/')
		return 63;
	return -1;
}

int dr_phoenix_b64url_decode(const char *in, size_t len, struct dr_buf *out)
{
	while (len && in[len - 1] == '=')
		len--;
	if (len % 4 == 1)
		return -EINVAL;
	uint32_t acc = 0;
	int bits = 0;
	for (size_t i = 0; i < len; i++) {
		int v = b64val((unsigned char)in[i]);
		if (v < 0)
			return -EINVAL;
		acc = acc << 6 | (uint32_t)v;
		bits += 6;
		if (bits >= 8) {
			bits -= 8;
			int r = dr_buf_addch(out, (char)(acc >> bits & 0xff));
			if (r < 0)
				return r;
		}
	}
	return 0;
}

int dr_phoenix_jwt_claims(const char *jwt, char *sub, int64_t *exp_s)
{
	size_t n = strnlen(jwt, JWT_MAX + 1);
	if (n > JWT_MAX)
		return -E2BIG;
	const char *d1 = strchr(jwt, '.');
	const char *d2 = d1 ? strchr(d1 + 1, '.') : NULL;
	if (!d1 || !d2 || strchr(d2 + 1, '.'))
		return -EINVAL;
	struct dr_buf b = DR_BUF_INIT(JWT_MAX);
	int r = dr_phoenix_b64url_decode(d1 + 1, (size_t)(d2 - d1 - 1), &b);
	cJSON *claims = NULL;
	if (r == 0)
		r = dr_json_parse_object(b.buf, b.len, JWT_MAX, &claims);
	dr_buf_release(&b);
	if (r < 0)
		return r == -E2BIG ? r : -EINVAL;
	const char *s = dr_json_nonempty(claims, "sub");
	size_t sl = s ? strlen(s) : 0;
	r = sl && sl <= DR_PHOENIX_SUB_MAX ? 0 : -EINVAL;
	for (size_t i = 0; r == 0 && i < sl; i++)
		if (!isalnum((unsigned char)s[i]) && s[i] != '-' && s[i] != '_' && s[i] != '.')
			r = -EINVAL;
	if (r == 0) {
		memcpy(sub, s, sl + 1);
		double e = dr_json_num(claims, "exp", 0);
		*exp_s = e > 0 && e < 1e12 ? (int64_t)e : 0;
	}
	cJSON_Delete(claims);
	return r;
}
