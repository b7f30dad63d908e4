/* ws: WebSocket frames, message reassembly and the handshake checksum (RFC 6455; SHA-1 and base64 from nettle). */
#include "delego/ws.h"

#include <ctype.h>
#include <nettle/base64.h>
#include <nettle/sha1.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#define WS_GUID "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"
/* Bytes beyond one message we accept pending: a frame header and one read. */
#define READER_SLACK (64 * 1024)

int dr_ws_frame_encode(struct dr_buf *out, enum dr_ws_opcode op, bool fin, const void *payload, size_t len,
		       const uint8_t *mask)
{
	uint8_t hdr[14];
	size_t h = 0;
	hdr[h++] = (uint8_t)((fin ? 0x80 : 0) | (op & 0x0f));
	uint8_t m = mask ? 0x80 : 0;
	if (len < 126) {
		hdr[h++] = (uint8_t)(m | len);
	} else if (len <= 0xffff) {
		hdr[h++] = m | 126;
		hdr[h++] = (uint8_t)(len >> 8);
		hdr[h++] = (uint8_t)len;
	} else {
		hdr[h++] = m | 127;
		for (int i = 7; i >= 0; i--)
			hdr[h++] = (uint8_t)((uint64_t)len >> (8 * i));
	}
	if (mask) {
		memcpy(hdr + h, mask, 4);
		h += 4;
	}
	size_t before = out->len;
	int r = dr_buf_add(out, hdr, h);
	if (r == 0)
		r = dr_buf_add(out, payload, len);
	if (r < 0) {
		dr_buf_truncate(out, before);
		return r;
	}
	if (mask) {
		uint8_t *p = (uint8_t *)out->buf + before + h;
		for (size_t i = 0; i < len; i++)
			p[i] ^= mask[i & 3];
	}
	return 0;
}

void dr_ws_reader_init(struct dr_ws_reader *r, size_t max_message, bool expect_masked)
{
	memset(r, 0, sizeof(*r));
	dr_buf_init(&r->in, max_message + READER_SLACK);
	dr_buf_init(&r->msg, max_message);
	r->msg_opcode = -1;
	r->max_message = max_message;
	r->expect_masked = expect_masked;
}

void dr_ws_reader_release(struct dr_ws_reader *r)
{
	dr_buf_release(&r->in);
	dr_buf_release(&r->msg);
	r->msg_opcode = -1;
	r->consume = 0;
}

int dr_ws_reader_feed(struct dr_ws_reader *r, const void *data, size_t len)
{
	if (r->consume) {
		dr_buf_consume(&r->in, r->consume);
		r->consume = 0;
	}
	return dr_buf_add(&r->in, data, len);
}

int dr_ws_reader_next(struct dr_ws_reader *r, struct dr_ws_message *m)
{
	if (r->consume) {
		dr_buf_consume(&r->in, r->consume);
		r->consume = 0;
	}
	for (;;) {
		const uint8_t *b = (const uint8_t *)r->in.buf;
		size_t avail = r->in.len;
		if (avail < 2)
			return 0;
		bool fin = b[0] & 0x80;
		int op = b[0] & 0x0f;
		bool masked = b[1] & 0x80;
		if (b[0] & 0x70 || masked != r->expect_masked)
			return -EPROTO;
		if (op != DR_WS_CONT && op != DR_WS_TEXT && op != DR_WS_BINARY && op != DR_WS_CLOSE &&
		    op != DR_WS_PING && op != DR_WS_PONG)
			return -EPROTO;
		size_t h = 2;
		uint64_t plen = b[1] & 0x7f;
		if (plen == 126) {
			if (avail < 4)
				return 0;
			plen = (uint64_t)b[2] << 8 | b[3];
			h = 4;
		} else if (plen == 127) {
			if (avail < 10)
				return 0;
			if (b[2] & 0x80)
				return -EPROTO;
			plen = 0;
			for (int i = 0; i < 8; i++)
				plen = plen << 8 | b[2 + i];
			h = 10;
		}
		bool control = op >= DR_WS_CLOSE;
		if (control && (!fin || plen > 125))
			return -EPROTO;
		if (!control) {
			if (op == DR_WS_CONT && r->msg_opcode < 0)
				return -EPROTO;
			if (op != DR_WS_CONT && r->msg_opcode >= 0)
				return -EPROTO;
			size_t so_far = op == DR_WS_CONT ? r->msg.len : 0;
			if (plen > r->max_message || so_far + plen > r->max_message)
				return -E2BIG;
		}
		uint8_t key[4] = { 0 };
		if (masked) {
			if (avail < h + 4)
				return 0;
			memcpy(key, b + h, 4);
			h += 4;
		}
		if (avail - h < plen)
			return 0;
		uint8_t *p = (uint8_t *)r->in.buf + h;
		if (masked)
			for (size_t i = 0; i < plen; i++)
				p[i] ^= key[i & 3];
		if (control) {
			memcpy(r->ctl, p, plen);
			r->ctl[plen] = '\0';
			m->opcode = (enum dr_ws_opcode)op;
			m->data = r->ctl;
			m->len = plen;
			r->consume = h + plen;
			return 1;
		}
		if (op != DR_WS_CONT) {
			dr_buf_reset(&r->msg);
			r->msg_opcode = op;
		}
		int rc = dr_buf_add(&r->msg, p, plen);
		dr_buf_consume(&r->in, h + plen);
		if (rc < 0)
			return rc;
		if (fin) {
			m->opcode = (enum dr_ws_opcode)r->msg_opcode;
			m->data = r->msg.buf;
			m->len = r->msg.len;
			r->msg_opcode = -1;
			return 1;
		}
	}
}

void dr_ws_base64(const void *data, size_t n, char *out)
{
	base64_encode_raw(out, n, data);
	out[BASE64_ENCODE_RAW_LENGTH(n)] = '\0';
}

void dr_ws_accept_key(const char *key, char out[29])
{
	struct sha1_ctx ctx;
	uint8_t d[SHA1_DIGEST_SIZE];
	sha1_init(&ctx);
	sha1_update(&ctx, strnlen(key, 60), (const uint8_t *)key);
	sha1_update(&ctx, sizeof WS_GUID - 1, (const uint8_t *)WS_GUID);
	sha1_digest(&ctx, sizeof d, d);
	dr_ws_base64(d, sizeof d, out);
}

/* Does the comma-separated header value contain token (case-insensitive)? */
static bool has_token(const char *v, size_t len, const char *token)
{
	size_t tl = strlen(token);
	size_t i = 0;
	while (i < len) {
		while (i < len && (v[i] == ' ' || v[i] == '\t' || v[i] == ','))
			i++;
		size_t s = i;
		while (i < len && v[i] != ',')
			i++;
		size_t e = i;
		while (e > s && (v[e - 1] == ' ' || v[e - 1] == '\t'))
			e--;
		if (e - s == tl && strncasecmp(v + s, token, tl) == 0)
			return true;
	}
	return false;
}

int dr_ws_handshake_check(const char *data, size_t len, const char *key, int *status)
{
	*status = 0;
	size_t end = 0;
	size_t lim = len < DR_WS_HANDSHAKE_MAX ? len : DR_WS_HANDSHAKE_MAX;
	for (size_t i = 0; i + 3 < lim; i++)
		if (!memcmp(data + i, "\r\n\r\n", 4)) {
			end = i + 4;
			break;
		}
	if (!end)
		return len >= DR_WS_HANDSHAKE_MAX ? -E2BIG : 0;
	if (end < 12 || strncmp(data, "HTTP/1.1 ", 9) != 0 || !isdigit((unsigned char)data[9]) ||
	    !isdigit((unsigned char)data[10]) || !isdigit((unsigned char)data[11]))
		return -EPROTO;
	*status = (data[9] - '0') * 100 + (data[10] - '0') * 10 + (data[11] - '0');
	if (*status != 101)
		return -EPROTO;
	char want[29];
	dr_ws_accept_key(key, want);
	bool upgrade = false, connection = false, accept = false;
	const char *line = memchr(data, '\n', end);
	while (line && (size_t)(line + 1 - data) < end) {
		const char *s = line + 1;
		const char *nl = memchr(s, '\n', end - (size_t)(s - data));
		if (!nl)
			break;
		size_t ll = (size_t)(nl - s);
		if (ll && s[ll - 1] == '\r')
			ll--;
		const char *colon = memchr(s, ':', ll);
		if (colon) {
			size_t nlen = (size_t)(colon - s);
			const char *v = colon + 1;
			size_t vl = ll - nlen - 1;
			while (vl && (*v == ' ' || *v == '\t')) {
				v++;
				vl--;
			}
			while (vl && (v[vl - 1] == ' ' || v[vl - 1] == '\t'))
				vl--;
			if (nlen == 7 && !strncasecmp(s, "upgrade", 7))
				upgrade = has_token(v, vl, "websocket");
			else if (nlen == 10 && !strncasecmp(s, "connection", 10))
				connection = has_token(v, vl, "upgrade");
			else if (nlen == 20 && !strncasecmp(s, "sec-websocket-accept", 20))
				accept = vl == 28 && !memcmp(v, want, 28);
		}
		line = nl;
	}
	return upgrade && connection && accept ? (int)end : -EPROTO;
}
