#include "delego/url.h"
#include "check_main.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

static char err[512];

START_TEST(relay_urls_normalise)
{
	char *u = NULL;
	ck_assert_int_eq(dr_url_normalize("https://relay.example.com/base///", &u, err, sizeof err), 0);
	ck_assert_str_eq(u, "https://relay.example.com/base");
	free(u);
	u = NULL;
	ck_assert_int_eq(dr_url_normalize("https://", &u, err, sizeof err), -EINVAL);
	ck_assert_int_eq(dr_url_normalize("https://a b", &u, err, sizeof err), -EINVAL);
	ck_assert_ptr_nonnull(strstr(err, "space or control"));
	ck_assert_int_eq(dr_url_normalize("https://a/?x=1", &u, err, sizeof err), -EINVAL);
	ck_assert_int_eq(dr_url_normalize("ftp://a/", &u, err, sizeof err), -EINVAL);
	ck_assert_ptr_null(u); /* untouched on failure */
}
END_TEST

START_TEST(loopback_rule)
{
	ck_assert(dr_url_is_loopback("http://127.0.0.1:8420"));
	ck_assert(dr_url_is_loopback("http://localhost/x"));
	ck_assert(dr_url_is_loopback("http://[::1]:80"));
	ck_assert(!dr_url_is_loopback("http://localhost.evil.com"));
	ck_assert(!dr_url_is_loopback("http://127.0.0.1@evil.com/"));
	ck_assert(!dr_url_is_loopback("http://10.0.0.1"));
	const char *h;
	size_t n;
	ck_assert(dr_url_host("https://u@relay.example:8443/p", &h, &n));
	ck_assert_uint_eq(n, strlen("relay.example"));
	ck_assert(!dr_url_host("relay.example", &h, &n));
}
END_TEST

static bool loopback(const char *host)
{
	return dr_url_is_loopback_host(host, strlen(host));
}

START_TEST(loopback_is_decided_on_the_literal)
{
	ck_assert(loopback("localhost"));
	ck_assert(loopback("LocalHost"));
	ck_assert(loopback("127.0.0.1"));
	ck_assert(loopback("127.255.3.4"));
	ck_assert(loopback("::1"));
	ck_assert(loopback("[::1]"));
	ck_assert(loopback("[0:0:0:0:0:0:0:1]"));
	/* Names that only start like a loopback address are names. */
	ck_assert(!loopback("127.evil.example"));
	ck_assert(!loopback("127.0.0.1.evil.example"));
	ck_assert(!loopback("localhost.evil.example"));
	ck_assert(!loopback("128.0.0.1"));
	ck_assert(!loopback("126.255.255.255"));
	ck_assert(!loopback("[::2]"));
	ck_assert(!loopback("[::ffff:8.8.8.8]"));
	ck_assert(!loopback("0x7f.1"));
	ck_assert(!loopback(""));
}
END_TEST

START_TEST(urls)
{
	ck_assert(dr_url_is_loopback("http://127.0.0.1:8420"));
	ck_assert(dr_url_is_loopback("http://[::1]:8420/base"));
	ck_assert(dr_url_is_loopback("http://localhost/"));
	ck_assert(!dr_url_is_loopback("http://127.evil.example:1"));
	ck_assert(!dr_url_is_loopback("http://127.evil.example:1/x"));
	/* userinfo: the host is after the '@'. */
	ck_assert(!dr_url_is_loopback("http://127.0.0.1@evil.example/"));
	ck_assert(dr_url_is_loopback("http://evil.example@127.0.0.1:9/"));
	ck_assert(!dr_url_is_loopback("http://[::1"));
	ck_assert(!dr_url_is_loopback("no-scheme"));
	ck_assert(dr_url_is_cleartext("http://x"));
	ck_assert(dr_url_is_cleartext("WS://x"));
	ck_assert(!dr_url_is_cleartext("https://x"));
	ck_assert(!dr_url_is_cleartext("wss://x"));
}
END_TEST

static Suite *url_suite(void)
{
	Suite *s = suite_create("url");
	TCase *tc = tcase_create("core");
	tcase_add_test(tc, relay_urls_normalise);
	tcase_add_test(tc, loopback_rule);
	tcase_add_test(tc, loopback_is_decided_on_the_literal);
	tcase_add_test(tc, urls);
	suite_add_tcase(s, tc);
	return s;
}

DR_CHECK_MAIN(url_suite)
