/*
 * gitparse: what git and gh print, read into structs, and the text we
 * give them (commit and pull request messages). Pure: no I/O, no loop;
 * every input is taken as untrusted bytes of a given length (fuzzed by
 * tests/fuzz/fuzz_gitparse.c).
 */
#ifndef DELEGO_GITPARSE_H
#define DELEGO_GITPARSE_H

#include <cjson/cJSON.h>
#include <stdbool.h>
#include <stddef.h>

#define DR_WS_LIST_MAX 50       /* changed files named in reports and commit bodies */
#define DR_WS_KEEP_MAX 1000     /* changed paths kept by a status parse (all are counted) */
#define DR_WS_COMMIT_FILES_MAX 200
#define DR_WS_SUBJECT_TITLE_MAX 120 /* characters of the title in a commit subject */

/* What `git status --porcelain -z` lists, with correct paths (renames: the new path). */
struct dr_gitparse_changes {
	char **paths;   /* the first DR_WS_KEEP_MAX, in git's order; owned */
	size_t kept;
	size_t count;   /* all entries */
};
void dr_gitparse_changes_release(struct dr_gitparse_changes *c);

/* commitMetadata of the protocol. Strings owned; dr_gitparse_commit_release frees them. */
struct dr_gitparse_commit {
	char *sha, *short_sha, *subject, *branch, *author_name, *author_email, *committed_at;
	char **files; /* at most DR_WS_COMMIT_FILES_MAX */
	size_t nfiles;
	size_t file_count; /* all of them */
};
void dr_gitparse_commit_release(struct dr_gitparse_commit *c);
/* The commitMetadata object. Caller owns the result. */
cJSON *dr_gitparse_commit_json(const struct dr_gitparse_commit *c);

/* Porcelain v1 -z output into out (which must be zeroed). Entries cut short at the end are ignored. */
void dr_gitparse_status(const char *z, size_t len, struct dr_gitparse_changes *out);

/*
 * `git status --porcelain=v2 --branch -z`: true when it lists no entry (no
 * change, no untracked file); *oid (may be NULL) gets the "# branch.oid"
 * header's commit, or NULL. Caller frees *oid.
 */
bool dr_gitparse_status2_clean(const char *z, size_t len, char **oid);

/* The format of `git log -1` that dr_gitparse_log reads. */
#define DR_GITPARSE_LOG_FORMAT "--format=%H%x00%an%x00%ae%x00%cI%x00%s"
/* One DR_GITPARSE_LOG_FORMAT record into c's sha, short_sha, author, date, subject. False when malformed. */
bool dr_gitparse_log(const char *out, size_t len, struct dr_gitparse_commit *c);
/* `git diff --name-only -z` into c's files and file_count (appended). */
void dr_gitparse_names(const char *out, size_t len, struct dr_gitparse_commit *c);

/* s without leading and trailing blanks (space, tab, CR, LF). Caller frees. */
char *dr_gitparse_trimmed(const char *s, size_t len);
/* The first line, trimmed. Caller frees. */
char *dr_gitparse_first_line(const char *s, size_t len);
/* The first and the second line, trimmed, each NULL when missing. Caller frees both. */
void dr_gitparse_two_lines(const char *s, size_t len, char **first, char **second);

/* The number in ".../pull/<n>..." or -1. */
long dr_gitparse_pr_number(const char *url);
/* The first line of gh's output that is an http(s) URL, trimmed; NULL when none. Caller frees. */
char *dr_gitparse_pr_url(const char *out, size_t len);

/* One entry of `git worktree list --porcelain`. */
struct dr_gitparse_worktree {
	char *path;
	char *branch; /* short name, or NULL */
	bool bare, prunable, locked;
	char *lock_reason;
};
/* The entries of `git worktree list --porcelain` output. Returns how many; *out owned (free with _free). */
size_t dr_gitparse_worktrees(const char *out, size_t len, struct dr_gitparse_worktree **list);
void dr_gitparse_worktrees_free(struct dr_gitparse_worktree *list, size_t n);

/* "<IDENT>: <title folded, <= 120 chars>" or "<IDENT>: apply delegated changes". Caller frees. */
char *dr_gitparse_commit_subject(const char *identifier, const char *title);
/* The body naming the issue and up to DR_WS_LIST_MAX files. Caller frees. */
char *dr_gitparse_commit_body(const char *identifier, const char *url, char *const *files, size_t nfiles,
			      size_t total);
/* "Linear issue: ...", URL, the local commit, "Created by Delego local runner." Caller frees. */
char *dr_gitparse_pr_body(const char *identifier, const char *url, const char *short_sha);

#endif
