#include "delego/utf8.h"
#include "check_main.h"

#include <stdlib.h>
#include <string.h>

#define R DR_UTF8_REPLACEMENT

START_TEST(clean_replaces_every_bad_byte)
{
	static const struct {
		const char *in;
		size_t len;
		const char *want;
	} cases[] = {
		{ "plain", 5, "plain" },
		{ "caf\xc3\xa9 \xf0\x9f\x98\x80", 10, "caf\xc3\xa9 \xf0\x9f\x98\x80" },
		{ "a\xff" "b", 3, "a" R "b" },
		{ "nul\0x", 5, "nul" R "x" },
		{ "\xc0\xaf", 2, R R },         /* overlong '/' */
		{ "\xed\xa0\x80", 3, R R R },   /* a surrogate */
		{ "\xf4\x90\x80\x80", 4, R R R R }, /* past U+10FFFF */
		{ "cut \xe2\x80", 6, "cut " R R }, /* a sequence cut short */
	};
	for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
		char *got = dr_utf8_clean(cases[i].in, cases[i].len);
		ck_assert_msg(strcmp(got, cases[i].want) == 0, "case %zu: got \"%s\"", i, got);
		free(got);
	}
}
END_TEST

START_TEST(boundary_never_splits_a_character)
{
	const char *s = "ab\xe2\x80\xa6z"; /* "ab…z" */
	ck_assert_uint_eq(dr_utf8_boundary(s, 2), 2);
	ck_assert_uint_eq(dr_utf8_boundary(s, 3), 2);
	ck_assert_uint_eq(dr_utf8_boundary(s, 4), 2);
	ck_assert_uint_eq(dr_utf8_boundary(s, 5), 5);
	ck_assert_uint_eq(dr_utf8_seq((const unsigned char *)s + 2, 3), 3);
	ck_assert_uint_eq(dr_utf8_seq((const unsigned char *)s + 2, 2), 0);
}
END_TEST

static Suite *utf8_suite(void)
{
	Suite *s = suite_create("utf8");
	TCase *tc = tcase_create("core");
	tcase_add_test(tc, clean_replaces_every_bad_byte);
	tcase_add_test(tc, boundary_never_splits_a_character);
	suite_add_tcase(s, tc);
	return s;
}

DR_CHECK_MAIN(utf8_suite)
