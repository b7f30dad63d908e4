/* gitparse: reading git's and gh's output, writing commit and PR text (gitparse.h). */
#include "delego/gitparse.h"
#include "delego/buf.h"
#include "delego/json.h"
#include "delego/text.h"
#include "delego/xalloc.h"

#include <stdlib.h>
#include <string.h>

void dr_gitparse_changes_release(struct dr_gitparse_changes *c)
{
	if (!c)
		return;
	for (size_t i = 0; i < c->kept; i++)
		free(c->paths[i]);
	free(c->paths);
	memset(c, 0, sizeof(*c));
}

void dr_gitparse_commit_release(struct dr_gitparse_commit *c)
{
	if (!c)
		return;
	free(c->sha);
	free(c->short_sha);
	free(c->subject);
	free(c->branch);
	free(c->author_name);
	free(c->author_email);
	free(c->committed_at);
	for (size_t i = 0; i < c->nfiles; i++)
		free(c->files[i]);
	free(c->files);
	memset(c, 0, sizeof(*c));
}

static bool blank(char c)
{
	return c == '\n' || c == '\r' || c == ' ' || c == '\t';
}

char *dr_gitparse_trimmed(const char *s, size_t len)
{
	while (len > 0 && blank(s[len - 1]))
		len--;
	while (len > 0 && blank(*s))
		s++, len--;
	return dr_xstrndup(s, len);
}

char *dr_gitparse_first_line(const char *s, size_t len)
{
	const char *nl = memchr(s, '\n', len);
	return dr_gitparse_trimmed(s, nl ? (size_t)(nl - s) : len);
}

void dr_gitparse_two_lines(const char *s, size_t len, char **first, char **second)
{
	*first = *second = NULL;
	const char *nl = memchr(s, '\n', len);
	if (!nl)
		return;
	*first = dr_gitparse_trimmed(s, (size_t)(nl - s));
	*second = dr_gitparse_first_line(nl + 1, len - (size_t)(nl + 1 - s));
}

void dr_gitparse_status(const char *z, size_t len, struct dr_gitparse_changes *out)
{
	size_t i = 0;
	while (i < len) {
		const char *e = memchr(z + i, '\0', len - i);
		if (!e)
			break; /* cut short */
		size_t n = (size_t)(e - (z + i));
		const char *entry = z + i;
		i += n + 1;
		if (n < 4 || entry[2] != ' ')
			continue;
		char x = entry[0], y = entry[1];
		if (x == 'R' || x == 'C' || y == 'R' || y == 'C') {
			/* "XY new\0old\0": the second field is the old path. */
			const char *e2 = memchr(z + i, '\0', len - i);
			if (!e2)
				break;
			i = (size_t)(e2 - z) + 1;
		}
		if (out->kept < DR_WS_KEEP_MAX) {
			if (out->kept % 64 == 0)
				out->paths = dr_xrealloc(out->paths, (out->kept + 64) * sizeof(char *));
			out->paths[out->kept++] = dr_xstrndup(entry + 3, n - 3);
		}
		out->count++;
	}
}

bool dr_gitparse_status2_clean(const char *z, size_t len, char **oid)
{
	bool clean = true;
	if (oid)
		*oid = NULL;
	for (size_t i = 0; i < len;) {
		const char *e = memchr(z + i, '\0', len - i);
		size_t n = e ? (size_t)(e - (z + i)) : len - i;
		const char *rec = z + i;
		i += n + 1;
		static const char head[] = "# branch.oid ";
		if (n >= sizeof head - 1 && !memcmp(rec, head, sizeof head - 1)) {
			if (oid && !*oid)
				*oid = dr_xstrndup(rec + sizeof head - 1, n - (sizeof head - 1));
		} else if (n > 0 && rec[0] != '#') {
			clean = false; /* a change, an untracked file, or a rename's second path */
		}
	}
	return clean;
}

/* Appends s with every run of whitespace folded to one space and control characters (C0, DEL, C1) dropped. */
static size_t add_folded(struct dr_buf *b, const char *s, size_t max_chars)
{
	size_t chars = 0;
	bool space = false;
	while (*s == ' ' || *s == '\t' || *s == '\n' || *s == '\r' || *s == '\v' || *s == '\f')
		s++;
	for (; *s && chars < max_chars; s++) {
		unsigned char c = (unsigned char)*s;
		if (c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\v' || c == '\f') {
			space = true;
			continue;
		}
		size_t ctl = dr_text_control_len(s, strnlen(s, 4));
		if (ctl) { /* C0, DEL, C1 (ESC, CSI): nothing that drives a terminal reaches gh or git */
			s += ctl - 1;
			continue;
		}
		if (space) {
			dr_buf_addch(b, ' ');
			space = false;
			if (++chars >= max_chars)
				break;
		}
		/* A character is its lead byte plus its continuation bytes. */
		dr_buf_addch(b, (char)c);
		while ((s[1] & 0xc0) == 0x80)
			dr_buf_addch(b, *++s);
		chars++;
	}
	while (b->len > 0 && b->buf[b->len - 1] == ' ')
		dr_buf_truncate(b, b->len - 1);
	return chars;
}

char *dr_gitparse_commit_subject(const char *identifier, const char *title)
{
	struct dr_buf b = DR_BUF_INIT(0), t = DR_BUF_INIT(0);
	if (identifier)
		add_folded(&b, identifier, 64);
	if (title)
		add_folded(&t, title, DR_WS_SUBJECT_TITLE_MAX);
	if (b.len)
		dr_buf_addstr(&b, ": ");
	if (t.len)
		dr_buf_add(&b, t.buf, t.len);
	else
		dr_buf_addstr(&b, b.len ? "apply delegated changes" : "Apply delegated changes");
	dr_buf_release(&t);
	return dr_buf_detach(&b, NULL);
}

/* A path on one line of a message: control characters become '?'. */
static void add_path_line(struct dr_buf *b, const char *path)
{
	dr_buf_addstr(b, "- ");
	for (const char *p = path; *p; p++) {
		size_t ctl = dr_text_control_len(p, strnlen(p, 4));
		dr_buf_addch(b, ctl ? '?' : *p);
		p += ctl ? ctl - 1 : 0;
	}
	dr_buf_addch(b, '\n');
}

/* "Linear issue: X\nLinear URL: Y\n\n", the head of commit and PR bodies. */
static void add_issue_header(struct dr_buf *b, const char *identifier, const char *url)
{
	if (identifier) {
		dr_buf_addstr(b, "Linear issue: ");
		add_folded(b, identifier, 64);
		dr_buf_addch(b, '\n');
	}
	if (url) {
		dr_buf_addstr(b, "Linear URL: ");
		add_folded(b, url, 2048);
		dr_buf_addch(b, '\n');
	}
	if (b->len)
		dr_buf_addch(b, '\n');
}

char *dr_gitparse_commit_body(const char *identifier, const char *url, char *const *files, size_t nfiles,
			      size_t total)
{
	struct dr_buf b = DR_BUF_INIT(0);
	add_issue_header(&b, identifier, url);
	dr_buf_addstr(&b, "Delegated through Delego local runner.\n\nChanged files:\n");
	size_t n = nfiles < DR_WS_LIST_MAX ? nfiles : DR_WS_LIST_MAX;
	for (size_t i = 0; i < n; i++)
		add_path_line(&b, files[i]);
	if (total > n)
		dr_buf_addf(&b, "- ... and %zu more\n", total - n);
	dr_buf_truncate(&b, b.len - 1);
	return dr_buf_detach(&b, NULL);
}

/* "%H%x00%an%x00%ae%x00%cI%x00%s" into c. */
bool dr_gitparse_log(const char *out, size_t len, struct dr_gitparse_commit *c)
{
	const char *f[5];
	size_t fl[5];
	size_t i = 0, start = 0;
	for (size_t k = 0; k <= len && i < 5; k++) {
		if (k == len || out[k] == '\0') {
			f[i] = out + start;
			fl[i++] = k - start;
			start = k + 1;
		}
	}
	if (i < 5 || fl[0] < 40)
		return false;
	c->sha = dr_gitparse_trimmed(f[0], fl[0]);
	c->short_sha = dr_xstrndup(c->sha, 12);
	c->author_name = dr_xstrndup(f[1], fl[1]);
	c->author_email = dr_xstrndup(f[2], fl[2]);
	c->committed_at = dr_xstrndup(f[3], fl[3]);
	c->subject = dr_gitparse_trimmed(f[4], fl[4]);
	return true;
}

void dr_gitparse_names(const char *out, size_t len, struct dr_gitparse_commit *c)
{
	size_t i = 0;
	while (i < len) {
		const char *e = memchr(out + i, '\0', len - i);
		if (!e)
			break;
		size_t n = (size_t)(e - (out + i));
		if (n > 0) {
			if (c->nfiles < DR_WS_COMMIT_FILES_MAX) {
				c->files = dr_xrealloc(c->files, (c->nfiles + 2) * sizeof(char *));
				c->files[c->nfiles++] = dr_xstrndup(out + i, n);
				c->files[c->nfiles] = NULL;
			}
			c->file_count++;
		}
		i += n + 1;
	}
}

cJSON *dr_gitparse_commit_json(const struct dr_gitparse_commit *c)
{
	cJSON *o = cJSON_CreateObject();
	dr_json_add_str_or_null(o, "sha", c->sha);
	dr_json_add_str_or_null(o, "shortSha", c->short_sha);
	dr_json_add_str_or_null(o, "subject", c->subject);
	dr_json_add_str_or_null(o, "branchName", c->branch);
	dr_json_add_str_or_null(o, "authorName", c->author_name);
	dr_json_add_str_or_null(o, "authorEmail", c->author_email);
	dr_json_add_str_or_null(o, "committedAt", c->committed_at);
	cJSON_AddNumberToObject(o, "changedFileCount", (double)c->file_count);
	cJSON *files = cJSON_AddArrayToObject(o, "changedFiles");
	for (size_t i = 0; i < c->nfiles; i++)
		cJSON_AddItemToArray(files, cJSON_CreateString(c->files[i]));
	return o;
}

char *dr_gitparse_pr_body(const char *identifier, const char *url, const char *short_sha)
{
	struct dr_buf b = DR_BUF_INIT(0);
	add_issue_header(&b, identifier, url);
	if (short_sha)
		dr_buf_addf(&b, "Local commit: %s\n\n", short_sha);
	dr_buf_addstr(&b, "Created by Delego local runner.");
	return dr_buf_detach(&b, NULL);
}

long dr_gitparse_pr_number(const char *url)
{
	const char *p = url ? strstr(url, "/pull/") : NULL;
	if (!p)
		return -1;
	p += 6;
	long n = 0;
	int digits = 0;
	for (; *p >= '0' && *p <= '9' && digits < 12; p++, digits++)
		n = n * 10 + (*p - '0');
	return digits ? n : -1;
}

char *dr_gitparse_pr_url(const char *out, size_t len)
{
	const char *p = out, *end = out + len;
	while (p < end) {
		const char *nl = memchr(p, '\n', (size_t)(end - p));
		size_t n = nl ? (size_t)(nl - p) : (size_t)(end - p);
		char *line = dr_gitparse_trimmed(p, n);
		if (!strncmp(line, "https://", 8) || !strncmp(line, "http://", 7))
			return line;
		free(line);
		p += n + 1;
	}
	return NULL;
}

void dr_gitparse_worktrees_free(struct dr_gitparse_worktree *e, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		free(e[i].path);
		free(e[i].branch);
		free(e[i].lock_reason);
	}
	free(e);
}

/* Whether line (len bytes, no NUL inside counted) starts with the word w. */
static bool starts(const char *line, size_t len, const char *w)
{
	size_t n = strlen(w);
	return len >= n && !memcmp(line, w, n);
}

size_t dr_gitparse_worktrees(const char *out, size_t len, struct dr_gitparse_worktree **list)
{
	struct dr_gitparse_worktree *e = NULL;
	size_t n = 0;
	const char *p = out, *end = out + len;
	while (p < end) {
		const char *nl = memchr(p, '\n', (size_t)(end - p));
		size_t l = nl ? (size_t)(nl - p) : (size_t)(end - p);
		if (starts(p, l, "worktree ")) {
			e = dr_xrealloc(e, (n + 1) * sizeof *e);
			memset(&e[n], 0, sizeof *e);
			e[n++].path = dr_xstrndup(p + 9, l - 9);
		} else if (n && starts(p, l, "branch refs/heads/")) {
			free(e[n - 1].branch);
			e[n - 1].branch = dr_xstrndup(p + 18, l - 18);
		} else if (n && l == 4 && starts(p, l, "bare")) {
			e[n - 1].bare = true;
		} else if (n && starts(p, l, "prunable")) {
			e[n - 1].prunable = true;
		} else if (n && starts(p, l, "locked")) {
			e[n - 1].locked = true;
			if (l > 6 && p[6] == ' ') {
				free(e[n - 1].lock_reason);
				e[n - 1].lock_reason = dr_xstrndup(p + 7, l - 7);
			}
		}
		p += l + 1;
	}
	*list = e;
	return n;
}
