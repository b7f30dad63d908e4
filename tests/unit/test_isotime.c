#include "delego/isotime.h"
#include "check_main.h"

#include <errno.h>
#include <string.h>

START_TEST(parses_what_relays_send)
{
	int64_t ms;
	ck_assert_int_eq(dr_isotime_parse("2023-11-14T22:13:20.000Z", &ms), 0);
	ck_assert_int_eq(ms, 1700000000000LL);
	ck_assert_int_eq(dr_isotime_parse("2023-11-14T22:13:20.5Z", &ms), 0);
	ck_assert_int_eq(ms, 1700000000500LL);
	ck_assert_int_eq(dr_isotime_parse("2023-11-15T00:13:20+02:00", &ms), 0);
	ck_assert_int_eq(ms, 1700000000000LL);
	ck_assert_int_eq(dr_isotime_parse("2023-11-14 22:13:20Z", &ms), 0);
	const char *bad[] = { "", "2023-11-14", "2023-13-14T22:13:20Z", "2023-11-14T22:13:20", "2023-11-14T22:13:20Zjunk",
			      "2023-11-14T22:13:20." };
	for (size_t i = 0; i < sizeof(bad) / sizeof(*bad); i++)
		ck_assert_int_eq(dr_isotime_parse(bad[i], &ms), -EINVAL);
}
END_TEST

START_TEST(formats_and_reads_back)
{
	char out[DR_ISOTIME_SIZE];
	dr_isotime_format(1700000000005LL, out);
	ck_assert_str_eq(out, "2023-11-14T22:13:20.005Z");
	dr_isotime_format(0, out);
	ck_assert_str_eq(out, "1970-01-01T00:00:00.000Z");
	dr_isotime_format(-1, out);
	ck_assert_str_eq(out, "1969-12-31T23:59:59.999Z");
	int64_t ms;
	dr_isotime_now(out);
	ck_assert_uint_eq(strlen(out), 24);
	ck_assert_int_eq(dr_isotime_parse(out, &ms), 0);
	ck_assert(ms > 1700000000000LL);
}
END_TEST

static Suite *isotime_suite(void)
{
	Suite *s = suite_create("isotime");
	TCase *tc = tcase_create("core");
	tcase_add_test(tc, parses_what_relays_send);
	tcase_add_test(tc, formats_and_reads_back);
	suite_add_tcase(s, tc);
	return s;
}

DR_CHECK_MAIN(isotime_suite)
