#include "delego/backoff.h"
#include "delego/random.h"
#include "check_main.h"

#include <string.h>

START_TEST(schedule_doubles_and_caps)
{
	struct dr_backoff b = DR_BACKOFF_INIT(1000, 60000);
	/* With the random part at its top, the delay is the full step. */
	uint64_t want[] = { 1000, 2000, 4000, 8000, 16000, 32000, 60000, 60000, 60000 };
	for (size_t i = 0; i < sizeof want / sizeof *want; i++) {
		uint64_t d = dr_backoff_next(&b, 0.999999999);
		ck_assert_uint_ge(d, want[i] - 1);
		ck_assert_uint_le(d, want[i]);
	}
	dr_backoff_reset(&b);
	ck_assert_uint_eq(b.attempt, 0);
	/* At the bottom, half of it: never sooner than that. */
	ck_assert_uint_eq(dr_backoff_next(&b, 0.0), 500);
	ck_assert_uint_eq(dr_backoff_next(&b, 0.0), 1000);
	ck_assert_uint_eq(dr_backoff_next(&b, 0.5), 3000);
}
END_TEST

START_TEST(many_failures_do_not_overflow)
{
	struct dr_backoff b = DR_BACKOFF_INIT(1000, 60000);
	for (int i = 0; i < 1000; i++) {
		uint64_t d = dr_backoff_next(&b, dr_random_unit());
		ck_assert_uint_ge(d, 500);
		ck_assert_uint_le(d, 60000);
	}
}
END_TEST

START_TEST(random_helpers)
{
	char a[33], b[33];
	dr_random_hex(a, 16);
	dr_random_hex(b, 16);
	ck_assert_uint_eq(strlen(a), 32);
	ck_assert_str_ne(a, b);
	ck_assert_uint_eq(strspn(a, "0123456789abcdef"), 32);
	for (int i = 0; i < 100; i++) {
		double r = dr_random_unit();
		ck_assert(r >= 0.0 && r < 1.0);
	}
}
END_TEST

static Suite *backoff_suite(void)
{
	Suite *s = suite_create("backoff");
	TCase *tc = tcase_create("core");
	tcase_add_test(tc, schedule_doubles_and_caps);
	tcase_add_test(tc, many_failures_do_not_overflow);
	tcase_add_test(tc, random_helpers);
	suite_add_tcase(s, tc);
	return s;
}

DR_CHECK_MAIN(backoff_suite)
