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

static Suite *url_suite(void)
{
	Suite *s = suite_create("url");
	TCase *tc = tcase_create("core");
	tcase_add_test(tc, relay_urls_normalise);
	tcase_add_test(tc, loopback_rule);
	suite_add_tcase(s, tc);
	return s;
}

DR_CHECK_MAIN(url_suite)
