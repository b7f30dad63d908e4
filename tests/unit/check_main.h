/*
 * check_main.h: the main() every Check suite shares.
 *
 * Usage, at the end of tests/unit/test_<module>.c:
 *     DR_CHECK_MAIN(module_suite)
 * Runs the suite (fork mode unless CK_FORK=no) and prints the Check summary
 * that tests/run.sh adds up. Exit status is non-zero when any case failed.
 */
#ifndef DR_CHECK_MAIN_H
#define DR_CHECK_MAIN_H

#include <check.h>
#include <stdlib.h>

#define DR_CHECK_MAIN(suite_fn)                                   \
	int main(void)                                            \
	{                                                         \
		SRunner *sr = srunner_create(suite_fn());         \
		srunner_run_all(sr, CK_NORMAL);                   \
		int failed = srunner_ntests_failed(sr);           \
		srunner_free(sr);                                 \
		return failed ? EXIT_FAILURE : EXIT_SUCCESS;      \
	}

#endif
