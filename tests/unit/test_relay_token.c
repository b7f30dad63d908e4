/* Unit tests for the relay's secrets: SHA-256, base64url, HS256 JWT, UUIDs, tokens. */
#include "../../cmd/delego-relay/token.h"
#include "check_main.h"

#include <stdlib.h>
#include <string.h>

START_TEST(sha256_known_vectors)
{
	char out[RELAY_SHA256_HEX_LEN + 1];
	relay_sha256_hex("", out);
	ck_assert_str_eq(out, "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
	relay_sha256_hex("abc", out);
	ck_assert_str_eq(out, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
}
END_TEST

START_TEST(base64url_without_padding)
{
	static const struct {
		const char *in;
		size_t len;
		const char *out;
	} v[] = { { "", 0, "" }, { "f", 1, "Zg" }, { "fo", 2, "Zm8" }, { "foo", 3, "Zm9v" }, { "foob", 4, "Zm9vYg" },
		  { "\xfb\xff", 2, "-_8" } };
	for (size_t i = 0; i < sizeof(v) / sizeof(v[0]); i++) {
		char *s = relay_b64url(v[i].in, v[i].len);
		ck_assert_str_eq(s, v[i].out);
		free(s);
	}
}
END_TEST

START_TEST(jwt_hs256_matches_the_reference_example)
{
	/* The RFC 7519-style example published at jwt.io. */
	char *jwt = relay_jwt_hs256("{\"sub\":\"1234567890\",\"name\":\"John Doe\",\"iat\":1516239022}",
				    "your-256-bit-secret");
	ck_assert_str_eq(jwt, "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9."
			      "eyJzdWIiOiIxMjM0NTY3ODkwIiwibmFtZSI6IkpvaG4gRG9lIiwiaWF0IjoxNTE2MjM5MDIyfQ."
			      "SflKxwRJSMeKKF2QT4fwpMeJf36POk6yJV_adQssw5c");
	free(jwt);
}
END_TEST

START_TEST(uuid_is_version_4)
{
	char a[37], b[37];
	relay_uuid(a);
	relay_uuid(b);
	ck_assert_uint_eq(strlen(a), 36);
	ck_assert_int_eq(a[8], '-');
	ck_assert_int_eq(a[14], '4');
	ck_assert(strchr("89ab", a[19]) != NULL);
	ck_assert_str_ne(a, b);
}
END_TEST

START_TEST(tokens_carry_256_random_bits)
{
	char *a = relay_token_new(RELAY_PAIR_PREFIX), *b = relay_token_new(RELAY_PAIR_PREFIX);
	ck_assert(strncmp(a, "drs_pair_", 9) == 0);
	ck_assert_uint_eq(strlen(a), 9 + 43);
	ck_assert_str_ne(a, b);
	ck_assert_uint_eq(strspn(a + 9, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"), 43);
	free(a);
	free(b);
}
END_TEST

START_TEST(secret_comparison)
{
	ck_assert(relay_secret_eq("abc", "abc"));
	ck_assert(!relay_secret_eq("abc", "abd"));
	ck_assert(!relay_secret_eq("abc", "ab"));
	ck_assert(!relay_secret_eq("", "a"));
}
END_TEST

static Suite *relay_token_suite(void)
{
	Suite *s = suite_create("relay_token");
	TCase *tc = tcase_create("token");
	tcase_add_test(tc, sha256_known_vectors);
	tcase_add_test(tc, base64url_without_padding);
	tcase_add_test(tc, jwt_hs256_matches_the_reference_example);
	tcase_add_test(tc, uuid_is_version_4);
	tcase_add_test(tc, tokens_carry_256_random_bits);
	tcase_add_test(tc, secret_comparison);
	suite_add_tcase(s, tc);
	return s;
}

DR_CHECK_MAIN(relay_token_suite)
