/* test_gitparse: reading git's and gh's output (no git, no disk). */
#include "check_main.h"
#include "delego/gitparse.h"
#include "delego/xalloc.h"

#include <check.h>
#include <stdlib.h>
#include <string.h>

#define SHA "0123456789abcdef0123456789abcdef01234567"

START_TEST(log_record_is_read_field_by_field)
{
	static const char out[] = SHA "\0Ann Author\0ann@example.com\0" "2026-01-02T03:04:05+00:00\0Fix: the thing \n";
	struct dr_gitparse_commit c = { 0 };
	ck_assert(dr_gitparse_log(out, sizeof(out) - 1, &c));
	ck_assert_str_eq(c.sha, SHA);
	ck_assert_str_eq(c.short_sha, "0123456789ab");
	ck_assert_str_eq(c.author_name, "Ann Author");
	ck_assert_str_eq(c.author_email, "ann@example.com");
	ck_assert_str_eq(c.committed_at, "2026-01-02T03:04:05+00:00");
	ck_assert_str_eq(c.subject, "Fix: the thing");
	dr_gitparse_commit_release(&c);
	/* Too few fields, or a short sha: refused, nothing kept. */
	static const char few[] = SHA "\0Ann\0ann@example.com";
	ck_assert(!dr_gitparse_log(few, sizeof(few) - 1, &c));
	static const char short_sha[] = "abc\0a\0b\0c\0d";
	ck_assert(!dr_gitparse_log(short_sha, sizeof(short_sha) - 1, &c));
	ck_assert_ptr_null(c.sha);
	ck_assert(!dr_gitparse_log("", 0, &c));
}
END_TEST

START_TEST(diff_names_are_counted_and_capped)
{
	struct dr_gitparse_commit c = { 0 };
	static const char out[] = "a.c\0dir/b c.txt\0\0line\nbreak\0cut";
	dr_gitparse_names(out, sizeof(out) - 1, &c);
	ck_assert_uint_eq(c.nfiles, 3);
	ck_assert_uint_eq(c.file_count, 3);
	ck_assert_str_eq(c.files[1], "dir/b c.txt");
	ck_assert_str_eq(c.files[2], "line\nbreak");
	dr_gitparse_commit_release(&c);
	char *many = malloc(DR_WS_COMMIT_FILES_MAX * 2 * 2);
	for (size_t i = 0; i < DR_WS_COMMIT_FILES_MAX * 2; i++)
		many[2 * i] = 'x', many[2 * i + 1] = '\0';
	dr_gitparse_names(many, DR_WS_COMMIT_FILES_MAX * 4, &c);
	ck_assert_uint_eq(c.nfiles, DR_WS_COMMIT_FILES_MAX);
	ck_assert_uint_eq(c.file_count, DR_WS_COMMIT_FILES_MAX * 2);
	dr_gitparse_commit_release(&c);
	free(many);
}
END_TEST

START_TEST(pull_request_url_and_number)
{
	static const char out[] = "Creating pull request for x into main\n\n  https://github.com/acme/app/pull/42  \nmore\n";
	char *url = dr_gitparse_pr_url(out, sizeof(out) - 1);
	ck_assert_str_eq(url, "https://github.com/acme/app/pull/42");
	ck_assert_int_eq(dr_gitparse_pr_number(url), 42);
	free(url);
	ck_assert_ptr_null(dr_gitparse_pr_url("no url here\nftp://x\n", 20));
	ck_assert_int_eq(dr_gitparse_pr_number("https://github.com/acme/app/pull/"), -1);
	ck_assert_int_eq(dr_gitparse_pr_number("https://github.com/acme/app/issues/7"), -1);
	ck_assert_int_eq(dr_gitparse_pr_number(NULL), -1);
	/* At most 12 digits: no overflow. */
	ck_assert_int_eq(dr_gitparse_pr_number("/pull/99999999999999999999"), 999999999999L);
}
END_TEST

START_TEST(worktree_list_porcelain)
{
	static const char out[] = "worktree /ws/sources/acme/app.git\nbare\n\n"
				  "worktree /ws/worktrees/acme/app/j1\nHEAD " SHA "\nbranch refs/heads/delego/x-j1\n\n"
				  "worktree /ws/worktrees/acme/app/j2\nHEAD " SHA "\ndetached\nlocked keep me\n\n"
				  "worktree /gone\nprunable gitdir file points to non-existent location\n";
	struct dr_gitparse_worktree *e = NULL;
	size_t n = dr_gitparse_worktrees(out, sizeof(out) - 1, &e);
	ck_assert_uint_eq(n, 4);
	ck_assert(e[0].bare);
	ck_assert_str_eq(e[1].path, "/ws/worktrees/acme/app/j1");
	ck_assert_str_eq(e[1].branch, "delego/x-j1");
	ck_assert(!e[1].locked && !e[1].bare);
	ck_assert_ptr_null(e[2].branch);
	ck_assert(e[2].locked);
	ck_assert_str_eq(e[2].lock_reason, "keep me");
	ck_assert(e[3].prunable);
	dr_gitparse_worktrees_free(e, n);
	/* Lines before any "worktree" are ignored. */
	n = dr_gitparse_worktrees("branch refs/heads/x\nbare\n", 24, &e);
	ck_assert_uint_eq(n, 0);
	dr_gitparse_worktrees_free(e, n);
}
END_TEST

START_TEST(lines_are_trimmed)
{
	char *a, *b;
	dr_gitparse_two_lines(" /ws/x.git \r\ndelego/b\nrest", 27, &a, &b);
	ck_assert_str_eq(a, "/ws/x.git");
	ck_assert_str_eq(b, "delego/b");
	free(a);
	free(b);
	dr_gitparse_two_lines("one line only", 13, &a, &b);
	ck_assert_ptr_null(a);
	ck_assert_ptr_null(b);
	char *l = dr_gitparse_first_line("  true\n", 7);
	ck_assert_str_eq(l, "true");
	free(l);
}
END_TEST

START_TEST(status_v2_clean_and_branch_oid)
{
	static const char clean[] = "# branch.oid 0123abcd\0# branch.head (detached)\0";
	char *oid = NULL;
	ck_assert(dr_gitparse_status2_clean(clean, sizeof clean - 1, &oid));
	ck_assert_str_eq(oid, "0123abcd");
	free(oid);
	static const char dirty[] = "# branch.oid 0123abcd\0# branch.head x\0? new.txt\0";
	ck_assert(!dr_gitparse_status2_clean(dirty, sizeof dirty - 1, &oid));
	free(oid);
	static const char changed[] = "1 .M N... 100644 100644 100644 a b f.txt\0";
	ck_assert(!dr_gitparse_status2_clean(changed, sizeof changed - 1, &oid));
	ck_assert_ptr_null(oid);
	ck_assert(dr_gitparse_status2_clean("", 0, NULL));
}
END_TEST

START_TEST(subject_folds_and_caps_the_title)
{
	char *s = dr_gitparse_commit_subject("ENG-12", "  Fix\tthe \n\n login   bug \r\n");
	ck_assert_str_eq(s, "ENG-12: Fix the login bug");
	free(s);
	s = dr_gitparse_commit_subject("ENG-12", " \n ");
	ck_assert_str_eq(s, "ENG-12: apply delegated changes");
	free(s);
	s = dr_gitparse_commit_subject("ENG-12", NULL);
	ck_assert_str_eq(s, "ENG-12: apply delegated changes");
	free(s);
	char title[400];
	for (int i = 0; i < 130; i++)
		memcpy(title + 2 * i, "é", 2); /* 130 two-byte characters */
	title[260] = '\0';
	s = dr_gitparse_commit_subject("X-1", title);
	ck_assert_uint_eq(strlen(s), strlen("X-1: ") + 2 * DR_WS_SUBJECT_TITLE_MAX); /* whole characters */
	free(s);
	s = dr_gitparse_commit_subject("X-1", "bell\x07 and\x1b[31m escape");
	ck_assert_str_eq(s, "X-1: bell and[31m escape");
	free(s);
}
END_TEST

START_TEST(body_names_issue_and_at_most_50_files)
{
	char *files[60];
	for (int i = 0; i < 60; i++)
		files[i] = dr_xasprintf("f%02d.txt", i);
	char *b = dr_gitparse_commit_body("ENG-12", "https://linear.app/x/ENG-12", files, 60, 75);
	ck_assert_ptr_nonnull(strstr(b, "Linear issue: ENG-12\nLinear URL: https://linear.app/x/ENG-12\n\n"));
	ck_assert_ptr_nonnull(strstr(b, "Delegated through Delego local runner."));
	ck_assert_ptr_nonnull(strstr(b, "\n- f00.txt\n"));
	ck_assert_ptr_nonnull(strstr(b, "\n- f49.txt\n"));
	ck_assert_ptr_null(strstr(b, "f50.txt"));
	ck_assert_ptr_nonnull(strstr(b, "- ... and 25 more"));
	free(b);
	for (int i = 0; i < 60; i++)
		free(files[i]);
}
END_TEST

START_TEST(status_paths_are_correct)
{
	static const char z[] = " M README.md\0"
				"M  src/main.c\0"
				"R  new name.c\0old name.c\0"
				"?? dir with space/\0"
				"?? line\nbreak.txt\0"
				" D gone.txt\0"
				"A  \xc3\xbc.txt\0"
				"?? cut-off-without-nul";
	struct dr_gitparse_changes c = { 0 };
	dr_gitparse_status(z, sizeof(z) - 1, &c);
	ck_assert_uint_eq(c.count, 7);
	ck_assert_uint_eq(c.kept, 7);
	ck_assert_str_eq(c.paths[0], "README.md"); /* the Node runner said "EADME.md" */
	ck_assert_str_eq(c.paths[1], "src/main.c");
	ck_assert_str_eq(c.paths[2], "new name.c");
	ck_assert_str_eq(c.paths[3], "dir with space/");
	ck_assert_str_eq(c.paths[4], "line\nbreak.txt");
	ck_assert_str_eq(c.paths[5], "gone.txt");
	ck_assert_str_eq(c.paths[6], "\xc3\xbc.txt");
	dr_gitparse_changes_release(&c);
}
END_TEST

static Suite *gitparse_suite(void)
{
	Suite *s = suite_create("gitparse");
	TCase *tc = tcase_create("pure");
	tcase_add_test(tc, log_record_is_read_field_by_field);
	tcase_add_test(tc, diff_names_are_counted_and_capped);
	tcase_add_test(tc, pull_request_url_and_number);
	tcase_add_test(tc, worktree_list_porcelain);
	tcase_add_test(tc, lines_are_trimmed);
	tcase_add_test(tc, status_v2_clean_and_branch_oid);
	tcase_add_test(tc, subject_folds_and_caps_the_title);
	tcase_add_test(tc, body_names_issue_and_at_most_50_files);
	tcase_add_test(tc, status_paths_are_correct);
	suite_add_tcase(s, tc);
	return s;
}

DR_CHECK_MAIN(gitparse_suite)
