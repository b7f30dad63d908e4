#include "delego/strv.h"
#include "check_main.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "delego/xalloc.h"

START_TEST(push_keeps_count_and_terminator)
{
	struct dr_strv v = DR_STRV_INIT;
	char name[16];
	for (int i = 0; i < 1000; i++) {
		snprintf(name, sizeof name, "s%d", i);
		dr_strv_push(&v, name);
		ck_assert_uint_eq(v.n, (size_t)i + 1);
		ck_assert_ptr_null(v.v[v.n]);
		ck_assert_uint_ge(v.cap, v.n + 1);
	}
	ck_assert_str_eq(v.v[0], "s0");
	ck_assert_str_eq(v.v[999], "s999");
	ck_assert_uint_eq(dr_strv_len(v.v), 1000);
	/* Growth doubles: far fewer reallocations than pushes. */
	ck_assert_uint_lt(v.cap, 2100);
	dr_strv_release(&v);
	ck_assert_ptr_null(v.v);
	ck_assert_uint_eq(v.n, 0);
}
END_TEST

START_TEST(push_copies_push_take_does_not)
{
	struct dr_strv v = DR_STRV_INIT;
	char buf[] = "abc";
	dr_strv_push(&v, buf);
	buf[0] = 'x';
	ck_assert_str_eq(v.v[0], "abc");
	char *owned = dr_xstrdup("mine");
	dr_strv_push_take(&v, owned);
	ck_assert_ptr_eq(v.v[1], owned);
	dr_strv_release(&v);
}
END_TEST

START_TEST(remove_keeps_order)
{
	struct dr_strv v = DR_STRV_INIT;
	const char *in[] = { "a", "b", "c", "d" };
	for (size_t i = 0; i < 4; i++)
		dr_strv_push(&v, in[i]);
	dr_strv_remove(&v, 1);
	ck_assert_uint_eq(v.n, 3);
	ck_assert_str_eq(v.v[0], "a");
	ck_assert_str_eq(v.v[1], "c");
	ck_assert_str_eq(v.v[2], "d");
	ck_assert_ptr_null(v.v[3]);
	dr_strv_remove(&v, 2);
	ck_assert_uint_eq(v.n, 2);
	ck_assert_ptr_null(v.v[2]);
	dr_strv_remove(&v, 7); /* out of range: nothing */
	ck_assert_uint_eq(v.n, 2);
	dr_strv_release(&v);
}
END_TEST

START_TEST(take_hands_over_a_terminated_vector)
{
	struct dr_strv v = DR_STRV_INIT;
	char **empty = dr_strv_take(&v);
	ck_assert_ptr_nonnull(empty);
	ck_assert_ptr_null(empty[0]);
	dr_strv_free(empty);
	dr_strv_push(&v, "x");
	char **one = dr_strv_take(&v);
	ck_assert_ptr_null(v.v);
	ck_assert_uint_eq(v.n, 0);
	ck_assert_str_eq(one[0], "x");
	ck_assert_ptr_null(one[1]);
	ck_assert_uint_eq(dr_strv_len(one), 1);
	dr_strv_free(one);
	dr_strv_free(NULL);
	ck_assert_uint_eq(dr_strv_len(NULL), 0);
}
END_TEST

static Suite *strv_suite(void)
{
	Suite *s = suite_create("strv");
	TCase *tc = tcase_create("core");
	tcase_add_test(tc, push_keeps_count_and_terminator);
	tcase_add_test(tc, push_copies_push_take_does_not);
	tcase_add_test(tc, remove_keeps_order);
	tcase_add_test(tc, take_hands_over_a_terminated_vector);
	suite_add_tcase(s, tc);
	return s;
}

DR_CHECK_MAIN(strv_suite)
