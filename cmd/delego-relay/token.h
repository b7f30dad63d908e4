/*
 * token: secrets and identifiers.
 *
 * Randomness comes from getrandom(2); hashing and HMAC from GNU Nettle (a
 * dependency of libgnutls28-dev, which libmicrohttpd-dev pulls in), so the
 * relay carries no hand-written cryptography.
 */
#ifndef RELAY_TOKEN_H
#define RELAY_TOKEN_H

#include <stddef.h>
#include <stdint.h>

#define RELAY_PAIR_PREFIX "drs_pair_"
#define RELAY_BEARER_PREFIX "drs_run_"
#define RELAY_SHA256_HEX_LEN 64

/* Fills buf with n random bytes; returns 0 or a negative errno. */
int relay_random(void *buf, size_t n);
/* A random secret: prefix + 32 random bytes in base64url (256 bits). Caller frees. */
char *relay_token_new(const char *prefix);
/* A random RFC 4122 version 4 UUID, lower case, into out[37]. */
void relay_uuid(char out[37]);
/* Lower-case hex SHA-256 of s into out[65]. */
void relay_sha256_hex(const char *s, char out[RELAY_SHA256_HEX_LEN + 1]);
/* Unpadded base64url of n bytes. Caller frees. */
char *relay_b64url(const void *data, size_t n);
/* An HS256 JWT over payload_json with key. Caller frees. */
char *relay_jwt_hs256(const char *payload_json, const char *key);
/* Constant-time comparison of two NUL-terminated strings. */
int relay_secret_eq(const char *a, const char *b);

#endif
