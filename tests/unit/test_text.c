#include "delego/text.h"
#include "check_main.h"

#include <stdlib.h>
#include <string.h>

static void expect(const char *in, unsigned flags, const char *want)
{
	char *got = dr_text_escape(in, flags);
	ck_assert_str_eq(got, want);
	char small[8];
	size_t n = dr_text_escape_copy(in, strlen(in), small, sizeof small, flags);
	ck_assert_uint_eq(n, strlen(want));
	ck_assert_int_eq(strncmp(small, want, strlen(small)), 0); /* a prefix, never half an escape */
	ck_assert_uint_le(strlen(small), 7);
	free(got);
}

START_TEST(esc_and_csi_are_escaped)
{
	expect("plain text", 0, "plain text");
	expect("\x1b[31mred\x1b[0m", 0, "\\x1b[31mred\\x1b[0m");
	expect("\x1b]0;owned\x07", 0, "\\x1b]0;owned\\x07");
	/* U+009B, the one-character CSI, as UTF-8, and as the raw byte an 8-bit terminal reads. */
	expect("a\xc2\x9b" "31mb", 0, "a\\u009b31mb");
	expect("a\x9b" "31mb", 0, "a\\x9b31mb");
	expect("del\x7f", 0, "del\\x7f");
	expect("l1\nl2\tx\r", DR_TEXT_KEEP_NL | DR_TEXT_KEEP_TAB, "l1\nl2\tx\\x0d");
	expect("l1\nl2\t", 0, "l1\\x0al2\\x09");
	/* Printable UTF-8 stays, continuation bytes 0x80..0x9f included (U+011B). */
	expect("\xc4\x9b \xc3\xa9 \xe2\x80\xa6 \xf0\x9f\x98\x80 \xc2\xa0", 0, "\xc4\x9b \xc3\xa9 \xe2\x80\xa6 \xf0\x9f\x98\x80 \xc2\xa0");
	/* Not UTF-8: overlong, surrogate, cut sequence. */
	expect("\xc0\xaf", 0, "\\xc0\\xaf");
	expect("\xed\xa0\x80", 0, "\\xed\\xa0\\x80");
	expect("x\xe2\x80", 0, "x\\xe2\\x80");
}
END_TEST

START_TEST(control_len)
{
	ck_assert_uint_eq(dr_text_control_len("a", 1), 0);
	ck_assert_uint_eq(dr_text_control_len("\x1b[", 2), 1);
	ck_assert_uint_eq(dr_text_control_len("\xc2\x9b", 2), 2);
	ck_assert_uint_eq(dr_text_control_len("\x9b", 1), 1);
	ck_assert_uint_eq(dr_text_control_len("\xc4\x9b", 2), 0);
	ck_assert_uint_eq(dr_text_control_len("", 0), 0);
}
END_TEST

static Suite *text_suite(void)
{
	Suite *s = suite_create("text");
	TCase *tc = tcase_create("core");
	tcase_add_test(tc, esc_and_csi_are_escaped);
	tcase_add_test(tc, control_len);
	suite_add_tcase(s, tc);
	return s;
}

DR_CHECK_MAIN(text_suite)
