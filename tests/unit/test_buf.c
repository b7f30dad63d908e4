#include "delego/buf.h"
#include "check_main.h"

#include <errno.h>
#include <string.h>

START_TEST(empty_buffer_is_a_valid_string)
{
	struct dr_buf b = DR_BUF_INIT(0);
	ck_assert_ptr_nonnull(b.buf);
	ck_assert_str_eq(b.buf, "");
	dr_buf_release(&b);
}
END_TEST

START_TEST(append_and_format)
{
	struct dr_buf b = DR_BUF_INIT(0);
	ck_assert_int_eq(dr_buf_addstr(&b, "abc"), 0);
	ck_assert_int_eq(dr_buf_addf(&b, "-%d-", 42), 0);
	ck_assert_int_eq(dr_buf_addch(&b, 'z'), 0);
	ck_assert_str_eq(b.buf, "abc-42-z");
	ck_assert_uint_eq(b.len, 8);
	dr_buf_consume(&b, 4);
	ck_assert_str_eq(b.buf, "42-z");
	size_t len;
	char *s = dr_buf_detach(&b, &len);
	ck_assert_str_eq(s, "42-z");
	ck_assert_uint_eq(len, 4);
	ck_assert_str_eq(b.buf, "");
	free(s);
}
END_TEST

/* Over the cap: freed and empty, never a half-built string; still usable. */
START_TEST(cap_frees_and_fails)
{
	struct dr_buf b = DR_BUF_INIT(5);
	ck_assert_int_eq(dr_buf_addstr(&b, "abcd"), 0);
	ck_assert_int_eq(dr_buf_addstr(&b, "ef"), -E2BIG);
	ck_assert_str_eq(b.buf, "");
	ck_assert_uint_eq(b.len, 0);
	ck_assert_uint_eq(b.alloc, 0);
	ck_assert_int_eq(dr_buf_addf(&b, "%s", "abcdef"), -E2BIG);
	ck_assert_str_eq(b.buf, "");
	ck_assert_int_eq(dr_buf_addstr(&b, "abcde"), 0);
	ck_assert_str_eq(b.buf, "abcde");
	ck_assert_int_eq(dr_buf_addch(&b, 'f'), -E2BIG);
	ck_assert_uint_eq(b.len, 0);
	dr_buf_release(&b);
	/* max 0 is the default cap, not none. */
	struct dr_buf d = DR_BUF_INIT(0);
	ck_assert_int_eq(dr_buf_add(&d, "x", (size_t)DR_BUF_MAX_DEFAULT + 1), -E2BIG);
	ck_assert_int_eq(dr_buf_add(&d, "x", 1), 0);
	dr_buf_release(&d);
}
END_TEST

START_TEST(tail_keeps_last_bytes)
{
	struct dr_buf_tail t;
	dr_buf_tail_init(&t, 8);
	for (int i = 0; i < 100; i++)
		dr_buf_tail_add(&t, "0123456789", 10);
	ck_assert_uint_eq(dr_buf_tail_len(&t), 8);
	ck_assert_str_eq(dr_buf_tail_str(&t), "23456789");
	ck_assert_uint_eq(t.dropped, 992);
	dr_buf_tail_add(&t, "ab", 2);
	ck_assert_str_eq(dr_buf_tail_str(&t), "456789ab");
	dr_buf_tail_add(&t, "0123456789ABCDEF", 16);
	ck_assert_str_eq(dr_buf_tail_str(&t), "89ABCDEF");
	dr_buf_tail_release(&t);
}
END_TEST

static Suite *buf_suite(void)
{
	Suite *s = suite_create("buf");
	TCase *tc = tcase_create("core");
	tcase_add_test(tc, empty_buffer_is_a_valid_string);
	tcase_add_test(tc, append_and_format);
	tcase_add_test(tc, cap_frees_and_fails);
	tcase_add_test(tc, tail_keeps_last_bytes);
	suite_add_tcase(s, tc);
	return s;
}

DR_CHECK_MAIN(buf_suite)
