/* ws: WebSocket frames, message reassembly and the handshake checksum (RFC 6455). */
#include "delego/ws.h"

#include <ctype.h>
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
	static const char tbl[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
	const uint8_t *p = data;
	size_t o = 0, i = 0;
	for (; i + 2 < n; i += 3) {
		uint32_t v = (uint32_t)p[i] << 16 | (uint32_t)p[i + 1] << 8 | p[i + 2];
		out[o++] = tbl[v >> 18 & 63];
		out[o++] = tbl[v >> 12 & 63];
		out[o++] = tbl[v >> 6 & 63];
		out[o++] = tbl[v & 63];
	}
	if (n - i == 1) {
		uint32_t v = (uint32_t)p[i] << 16;
		out[o++] = tbl[v >> 18 & 63];
		out[o++] = tbl[v >> 12 & 63];
		out[o++] = '=';
		out[o++] = '=';
	} else if (n - i == 2) {
		uint32_t v = (uint32_t)p[i] << 16 | (uint32_t)p[i + 1] << 8;
		out[o++] = tbl[v >> 18 & 63];
		out[o++] = tbl[v >> 12 & 63];
		out[o++] = tbl[v >> 6 & 63];
		out[o++] = '=';
	}
	out[o] = '\0';
}

static uint32_t rol(uint32_t x, int n)
{
	return x << n | x >> (32 - n);
}

static void sha1_block(uint32_t h[5], const uint8_t *blk)
{
	uint32_t w[80];
	for (int i = 0; i < 16; i++)
		w[i] = (uint32_t)blk[4 * i] << 24 | (uint32_t)blk[4 * i + 1] << 16 | (uint32_t)blk[4 * i + 2] << 8 |
		       blk[4 * i + 3];
	for (int i = 16; i < 80; i++)
		w[i] = rol(w[i - 3] ^ w[i - 8] ^ w[i - 14] ^ w[i - 16], 1);
	uint32_t a = h[0], b = h[1], c = h[2], d = h[3], e = h[4];
	for (int i = 0; i < 80; i++) {
		uint32_t f, k;
		if (i < 20) {
			f = (b & c) | (~b & d);
			k = 0x5A827999;
		} else if (i < 40) {
			f = b ^ c ^ d;
			k = 0x6ED9EBA1;
		} else if (i < 60) {
			f = (b & c) | (b & d) | (c & d);
			k = 0x8F1BBCDC;
		} else {
			f = b ^ c ^ d;
			k = 0xCA62C1D6;
		}
		uint32_t t = rol(a, 5) + f + e + k + w[i];
		e = d;
		d = c;
		c = rol(b, 30);
		b = a;
		a = t;
	}
	h[0] += a;
	h[1] += b;
	h[2] += c;
	h[3] += d;
	h[4] += e;
}

void dr_ws_sha1(const void *data, size_t n, uint8_t out[20])
{
	uint32_t h[5] = { 0x67452301, 0xEFCDAB89, 0x98BADCFE, 0x10325476, 0xC3D2E1F0 };
	const uint8_t *p = data;
	size_t i = 0;
	for (; i + 64 <= n; i += 64)
		sha1_block(h, p + i);
	uint8_t last[128] = { 0 };
	size_t rest = n - i;
	memcpy(last, p + i, rest);
	last[rest] = 0x80;
	size_t total = rest + 9 <= 64 ? 64 : 128;
	uint64_t bits = (uint64_t)n * 8;
	for (int k = 0; k < 8; k++)
		last[total - 1 - k] = (uint8_t)(bits >> (8 * k));
	sha1_block(h, last);
	if (total == 128)
		sha1_block(h, last + 64);
	for (int k = 0; k < 5; k++) {
		out[4 * k] = (uint8_t)(h[k] >> 24);
		out[4 * k + 1] = (uint8_t)(h[k] >> 16);
		out[4 * k + 2] = (uint8_t)(h[k] >> 8);
		out[4 * k + 3] = (uint8_t)h[k];
	}
}

void dr_ws_accept_key(const char *key, char out[29])
{
	char joined[128];
	int n = snprintf(joined, sizeof(joined), "%.60s%s", key, WS_GUID);
	uint8_t d[20];
	dr_ws_sha1(joined, (size_t)n, d);
	dr_ws_base64(d, sizeof(d), out);
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
