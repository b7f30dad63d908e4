/* token: random secrets, UUIDs, SHA-256, base64url and HS256 JWTs. */
#include "token.h"

#include "delego/xalloc.h"

#include <errno.h>
#include <nettle/hmac.h>
#include <nettle/sha2.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>

int relay_random(void *buf, size_t n)
{
	unsigned char *p = buf;
	while (n > 0) {
		ssize_t r = getrandom(p, n, 0);
		if (r < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		p += r;
		n -= (size_t)r;
	}
	return 0;
}

/* A relay without randomness must not mint guessable secrets. */
static void random_or_abort(void *buf, size_t n)
{
	if (relay_random(buf, n) < 0)
		abort();
}

char *relay_b64url(const void *data, size_t n)
{
	static const char tbl[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
	const unsigned char *p = data;
	char *out = dr_xmalloc(n / 3 * 4 + 5);
	size_t o = 0, i = 0;
	for (; i + 2 < n; i += 3) {
		unsigned v = (unsigned)p[i] << 16 | (unsigned)p[i + 1] << 8 | p[i + 2];
		out[o++] = tbl[v >> 18 & 63];
		out[o++] = tbl[v >> 12 & 63];
		out[o++] = tbl[v >> 6 & 63];
		out[o++] = tbl[v & 63];
	}
	if (n - i == 1) {
		unsigned v = (unsigned)p[i] << 16;
		out[o++] = tbl[v >> 18 & 63];
		out[o++] = tbl[v >> 12 & 63];
	} else if (n - i == 2) {
		unsigned v = (unsigned)p[i] << 16 | (unsigned)p[i + 1] << 8;
		out[o++] = tbl[v >> 18 & 63];
		out[o++] = tbl[v >> 12 & 63];
		out[o++] = tbl[v >> 6 & 63];
	}
	out[o] = '\0';
	return out;
}

char *relay_token_new(const char *prefix)
{
	unsigned char raw[32];
	random_or_abort(raw, sizeof(raw));
	char *body = relay_b64url(raw, sizeof(raw));
	char *tok = dr_xasprintf("%s%s", prefix, body);
	free(body);
	return tok;
}

void relay_uuid(char out[37])
{
	unsigned char b[16];
	random_or_abort(b, sizeof(b));
	b[6] = (b[6] & 0x0f) | 0x40;
	b[8] = (b[8] & 0x3f) | 0x80;
	static const char hex[] = "0123456789abcdef";
	size_t o = 0;
	for (int i = 0; i < 16; i++) {
		if (i == 4 || i == 6 || i == 8 || i == 10)
			out[o++] = '-';
		out[o++] = hex[b[i] >> 4];
		out[o++] = hex[b[i] & 15];
	}
	out[o] = '\0';
}

static void to_hex(const unsigned char *d, size_t n, char *out)
{
	static const char hex[] = "0123456789abcdef";
	for (size_t i = 0; i < n; i++) {
		out[2 * i] = hex[d[i] >> 4];
		out[2 * i + 1] = hex[d[i] & 15];
	}
	out[2 * n] = '\0';
}

void relay_sha256_hex(const char *s, char out[RELAY_SHA256_HEX_LEN + 1])
{
	struct sha256_ctx ctx;
	unsigned char d[SHA256_DIGEST_SIZE];
	sha256_init(&ctx);
	sha256_update(&ctx, strlen(s), (const uint8_t *)s);
	sha256_digest(&ctx, sizeof(d), d);
	to_hex(d, sizeof(d), out);
}

char *relay_jwt_hs256(const char *payload_json, const char *key)
{
	static const char header[] = "{\"alg\":\"HS256\",\"typ\":\"JWT\"}";
	char *h = relay_b64url(header, strlen(header));
	char *p = relay_b64url(payload_json, strlen(payload_json));
	char *signing = dr_xasprintf("%s.%s", h, p);
	struct hmac_sha256_ctx ctx;
	unsigned char mac[SHA256_DIGEST_SIZE];
	hmac_sha256_set_key(&ctx, strlen(key), (const uint8_t *)key);
	hmac_sha256_update(&ctx, strlen(signing), (const uint8_t *)signing);
	hmac_sha256_digest(&ctx, sizeof(mac), mac);
	char *sig = relay_b64url(mac, sizeof(mac));
	char *jwt = dr_xasprintf("%s.%s", signing, sig);
	free(h);
	free(p);
	free(signing);
	free(sig);
	return jwt;
}

int relay_secret_eq(const char *a, const char *b)
{
	size_t la = strlen(a), lb = strlen(b);
	unsigned char diff = la != lb;
	for (size_t i = 0; i < la && i < lb; i++)
		diff |= (unsigned char)(a[i] ^ b[i]);
	return diff == 0;
}
