/* workspace_pr: gh pr create, or gh pr view of the one that already exists (workspace.h). */
#include "workspace-int.h"
#include "delego/json.h"
#include "delego/xalloc.h"

#include <errno.h>
#include <string.h>

struct pr_step {
	struct dr_workspace_step s;
	const struct dr_workspace_tree *t;
	const struct dr_workspace_pr_in *in;
	struct dr_workspace_pr *out;
};

static bool says_already_exists(const struct dr_proc_result *r)
{
	return strcasestr(r->stderr_tail, "already exists") || strcasestr(r->stdout_tail, "already exists");
}

static void pr_done(struct pr_step *p, char *url, long number, const char *title, bool draft, bool existing)
{
	*p->out = (struct dr_workspace_pr){
		.url = url, .number = number, .title = dr_xstrdup(title), .draft = draft, .existing = existing,
	};
	dr__ws_finish(&p->s, 0);
}

static void pr_viewed(struct dr_workspace_step *s, const struct dr_proc_result *r)
{
	struct pr_step *p = (struct pr_step *)s;
	cJSON *j = NULL;
	if (!dr__ws_ok(r) || dr_json_parse_object(r->out, r->out_len, 1024 * 1024, &j) < 0 ||
	    !dr_json_nonempty(j, "url")) {
		cJSON_Delete(j);
		if (dr__ws_ok(r))
			dr__ws_fail(s, -EIO, "a pull request for %s already exists, but gh pr view did not say where",
				    p->t->branch);
		else
			dr__ws_fail_cmd(s, r, "a pull request already exists, and gh pr view failed");
		return;
	}
	char *url = dr_xstrdup(dr_json_str(j, "url"));
	const cJSON *num = cJSON_GetObjectItemCaseSensitive(j, "number");
	long number = cJSON_IsNumber(num) && num->valuedouble >= 0 && num->valuedouble < 1e12 ? (long)num->valuedouble
											      : dr_gitparse_pr_number(url);
	const char *title = dr_json_nonempty(j, "title");
	bool draft = dr_json_true(j, "isDraft");
	pr_done(p, url, number, title ? title : p->in->title, draft, true);
	cJSON_Delete(j);
}

static void pr_created(struct dr_workspace_step *s, const struct dr_proc_result *r)
{
	struct pr_step *p = (struct pr_step *)s;
	if (!dr__ws_ok(r)) {
		if (!r->timed_out && says_already_exists(r)) {
			dr__ws_run(s, p->t->worktree_path, true, pr_viewed, "gh", "pr", "view", p->t->branch, "--json",
				   "url,number,title,isDraft", NULL);
			return;
		}
		dr__ws_fail_cmd(s, r, "cannot create the GitHub pull request");
		return;
	}
	/* gh prints the URL of the new pull request on a line of its own. */
	char *url = dr_gitparse_pr_url(r->out, r->out_len);
	if (!url) {
		dr__ws_fail(s, -EIO, "the GitHub CLI did not print a pull request URL");
		return;
	}
	pr_done(p, url, dr_gitparse_pr_number(url), p->in->title, p->in->draft, false);
}

static void pr_start(struct dr_workspace_step *s)
{
	struct pr_step *p = (struct pr_step *)s;
	const struct dr_workspace_pr_in *in = p->in;
	const char *wt = p->t->worktree_path;
	if (in->draft)
		dr__ws_run(s, wt, true, pr_created, "gh", "pr", "create", "--title", in->title, "--body", in->body,
			   "--head", p->t->branch, "--draft", NULL);
	else
		dr__ws_run(s, wt, true, pr_created, "gh", "pr", "create", "--title", in->title, "--body", in->body,
			   "--head", p->t->branch, NULL);
}

int dr_workspace_pr(const struct dr_workspace_ctx *ctx, const struct dr_workspace_tree *t, const struct dr_workspace_pr_in *in,
		    struct dr_workspace_pr *out, dr_workspace_cb cb, void *data)
{
	if (!in->title || !in->body)
		return -EINVAL;
	struct pr_step *p = dr_xcalloc(1, sizeof(*p));
	p->t = t;
	p->in = in;
	p->out = out;
	dr__ws_step_init(&p->s, ctx, NULL, pr_start, cb, data);
	return 0;
}
