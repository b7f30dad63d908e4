/*
 * libFuzzer harness: whatever git or gh might print, through every
 * gitparse reader, and the commit/PR text writers over the same bytes.
 * Build and run: see tests/fuzz/README.md.
 */
#include "delego/gitparse.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *s = (const char *)data;
	struct dr_gitparse_changes ch = { 0 };
	dr_gitparse_status(s, size, &ch);
	if (ch.kept > ch.count || ch.kept > DR_WS_KEEP_MAX)
		abort();
	dr_gitparse_changes_release(&ch);
	struct dr_gitparse_commit c = { 0 };
	if (dr_gitparse_log(s, size, &c) && (!c.sha || strlen(c.short_sha) > 12))
		abort();
	dr_gitparse_commit_release(&c);
	dr_gitparse_names(s, size, &c);
	if (c.nfiles > DR_WS_COMMIT_FILES_MAX || c.nfiles > c.file_count)
		abort();
	cJSON *j = dr_gitparse_commit_json(&c);
	cJSON_Delete(j);
	dr_gitparse_commit_release(&c);
	struct dr_gitparse_worktree *e = NULL;
	size_t n = dr_gitparse_worktrees(s, size, &e);
	dr_gitparse_worktrees_free(e, n);
	char *url = dr_gitparse_pr_url(s, size);
	if (url && strncmp(url, "http", 4) != 0)
		abort();
	(void)dr_gitparse_pr_number(url);
	free(url);
	char *a, *b;
	dr_gitparse_two_lines(s, size, &a, &b);
	free(a);
	free(b);
	/* The writers take C strings: the input up to its first NUL. */
	char *z = strndup(s, size);
	char *subject = dr_gitparse_commit_subject(z, z);
	if (strchr(subject, '\n'))
		abort(); /* a subject is one line */
	char *files[] = { z, z };
	char *body = dr_gitparse_commit_body(z, z, files, 2, 3);
	char *pr = dr_gitparse_pr_body(z, z, z);
	free(subject);
	free(body);
	free(pr);
	free(z);
	return 0;
}
