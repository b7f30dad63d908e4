/*
 * sandbox: the policy, the mode in force, the bwrap command line. The
 * probe and the setup are in sandbox_probe.c (which spawns, through proc,
 * and so sits above it); Landlock itself (the ruleset and the shim) is in
 * sandbox_landlock.c.
 */
#include "delego/sandbox.h"
#include "delego/buf.h"
#include "delego/childenv.h"
#include "delego/fsutil.h"
#include "delego/strv.h"
#include "delego/xalloc.h"
#include "sandbox-int.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>


static const char *const mode_names[] = { "off", "bwrap", "landlock", "auto" };

const char *dr_sandbox_mode_name(enum dr_sandbox_mode m)
{
	return (unsigned)m < sizeof mode_names / sizeof *mode_names ? mode_names[m] : "off";
}

int dr_sandbox_parse_mode(const char *s, enum dr_sandbox_mode *out)
{
	for (size_t i = 0; s && i < sizeof mode_names / sizeof *mode_names; i++) {
		if (!strcmp(s, mode_names[i])) {
			*out = (enum dr_sandbox_mode)i;
			return 0;
		}
	}
	return -EINVAL;
}

/* The chosen mode, process-wide (like containment); sandbox_probe.c's dr_sandbox_setup fills it. */
static struct dr__sandbox_state g;

struct dr__sandbox_state *dr__sandbox_state(void)
{
	return &g;
}

void dr_sandbox_shutdown(void)
{
	memset(&g, 0, sizeof g);
}

enum dr_sandbox_mode dr_sandbox_mode(void)
{
	return g.set ? g.mode : DR_SANDBOX_OFF;
}

const char *dr_sandbox_note(void)
{
	return g.set ? g.note : "off: not set up";
}

bool dr_sandbox_fell_back(void)
{
	return g.set && g.fell_back;
}

const char *dr_sandbox_bwrap(void)
{
	return g.bwrap[0] ? g.bwrap : NULL;
}

/* Policy -------------------------------------------------------------- */

/* Under HOME: what an agent may keep its state and caches in. */
static const char *const home_writable[] = {
	".claude", ".claude.json", ".codex", ".cache", ".npm", ".local/share/pnpm", ".pnpm-store", ".yarn",
	".cargo/registry", ".cargo/git", "go/pkg/mod", ".m2", ".gradle", NULL,
};
/* These are made when missing, so that the agent finds them writable. */
static const char *const home_made[] = { ".claude", ".codex", ".cache", NULL };
/* Under HOME: keys, tokens and browser profiles. */
static const char *const home_hidden[] = {
	".ssh", ".gnupg", ".config/gh", ".config/hub", ".git-credentials", ".config/git/credentials", ".netrc",
	".docker", ".kube", ".password-store", ".local/share/keyrings", ".mozilla", ".config/google-chrome",
	".config/chromium", ".config/BraveSoftware", ".thunderbird", ".azure", ".npmrc", ".pypirc",
	".cargo/credentials", ".cargo/credentials.toml", ".vault-token", ".terraform.d", NULL,
};

/* path made absolute and canonical where it exists (so that bind and Landlock see one name). */
static char *canon(const char *path)
{
	char buf[PATH_MAX];
	if (realpath(path, buf))
		return dr_xstrdup(buf);
	return dr_xstrdup(path);
}

static bool listed(char *const *v, const char *s)
{
	for (; v && *v; v++)
		if (!strcmp(*v, s))
			return true;
	return false;
}

static void add_path(struct dr_strv *v, const char *path)
{
	if (!path || path[0] != '/')
		return;
	char *c = canon(path);
	if (!listed(v->v, c))
		dr_strv_push(v, c);
	free(c);
}

static void add_home(struct dr_strv *v, const char *home, const char *rel)
{
	char *p = dr_xasprintf("%s/%s", home, rel);
	add_path(v, p);
	free(p);
}

/* The worktree's gitdir from its .git file ("gitdir: PATH"), or NULL. */
static char *worktree_gitdir(const char *worktree)
{
	char *file = dr_xasprintf("%s/.git", worktree);
	char buf[PATH_MAX + 16];
	FILE *f = fopen(file, "re");
	free(file);
	if (!f)
		return NULL;
	char *line = fgets(buf, sizeof buf, f);
	fclose(f);
	if (!line || strncmp(line, "gitdir: ", 8) != 0)
		return NULL;
	line[strcspn(line, "\r\n")] = '\0';
	if (line[8] == '/')
		return canon(line + 8);
	char *rel = dr_xasprintf("%s/%s", worktree, line + 8);
	char *c = canon(rel);
	free(rel);
	return c;
}

/* A small file's contents, or NULL (missing, not a regular file, too big). */
static char *read_small(const char *path)
{
	struct stat st;
	if (lstat(path, &st) < 0 || !S_ISREG(st.st_mode) || st.st_size > 4096)
		return NULL;
	struct dr_buf b = DR_BUF_INIT(4096);
	if (dr_fsutil_read_file(path, &b, NULL) < 0) {
		dr_buf_release(&b);
		return NULL;
	}
	return dr_buf_detach(&b, NULL);
}

static void keep_link(struct dr_sandbox_policy *p, const char *path)
{
	char *content = read_small(path);
	if (!content)
		return;
	dr_strv_push(&p->git_links, path);
	dr_strv_push(&p->git_links, content);
	add_path(&p->readable, path);
	free(content);
}

int dr_sandbox_git_check(const struct dr_sandbox_policy *p, char *err, size_t errlen)
{
	for (char **l = p ? p->git_links.v : NULL; l && l[0] && l[1]; l += 2) {
		char *now = read_small(l[0]);
		bool same = now && !strcmp(now, l[1]);
		free(now);
		if (!same) {
			snprintf(err, errlen, "%s was changed", l[0]);
			return -EPERM;
		}
	}
	return 0;
}

/* What a linked worktree's commit writes in the source cache; the rest of it is read-only. */
static void add_git(struct dr_sandbox_policy *p, const char *worktree, const char *source)
{
	char *common = canon(source);
	static const char *const pieces[] = { "objects", "refs", "logs", "packed-refs", NULL };
	char *logs = dr_xasprintf("%s/logs", common);
	(void)mkdir(logs, 0755); /* a commit's reflog would need a new directory in the read-only cache */
	free(logs);
	add_path(&p->readable, common);
	for (size_t i = 0; pieces[i]; i++) {
		char *piece = dr_xasprintf("%s/%s", common, pieces[i]);
		add_path(&p->writable, piece);
		free(piece);
	}
	/* The other jobs' gitdirs (their HEAD and index) stay out of sight. */
	char *others = dr_xasprintf("%s/worktrees", common);
	add_path(&p->hidden, others);
	free(others);
	char *gitdir = worktree_gitdir(worktree);
	if (gitdir) {
		add_path(&p->writable, gitdir);
		static const char *const links[] = { "commondir", "gitdir", NULL };
		for (size_t i = 0; links[i]; i++) {
			char *l = dr_xasprintf("%s/%s", gitdir, links[i]);
			keep_link(p, l);
			free(l);
		}
	}
	free(gitdir);
	char *dotgit = dr_xasprintf("%s/.git", worktree);
	keep_link(p, dotgit);
	free(dotgit);
	free(common);
}

static void add_home_sets(struct dr_sandbox_policy *p, const struct dr_sandbox_in *in)
{
	const char *h = p->home;
	for (size_t i = 0; home_made[i]; i++) {
		char *d = dr_xasprintf("%s/%s", h, home_made[i]);
		(void)mkdir(d, 0700);
		free(d);
	}
	for (size_t i = 0; home_writable[i]; i++)
		add_home(&p->writable, h, home_writable[i]);
	for (size_t i = 0; home_hidden[i]; i++)
		add_home(&p->hidden, h, home_hidden[i]);
	/* Cloud credentials stay hidden unless the agent's model provider is that cloud. */
	if (!dr_childenv_get(in->env, "CLAUDE_CODE_USE_BEDROCK"))
		add_home(&p->hidden, h, ".aws");
	if (!dr_childenv_get(in->env, "CLAUDE_CODE_USE_VERTEX"))
		add_home(&p->hidden, h, ".config/gcloud");
}

struct dr_sandbox_policy *dr_sandbox_policy_new(const struct dr_sandbox_in *in)
{
	struct dr_sandbox_policy *p = dr_xcalloc(1, sizeof *p);
	p->mode = in->mode == DR_SANDBOX_AUTO ? DR_SANDBOX_OFF : in->mode;
	p->network = in->network;
	if (p->mode == DR_SANDBOX_OFF)
		return p;
	if (in->home && in->home[0] == '/' && strcmp(in->home, "/") != 0)
		p->home = canon(in->home);
	add_path(&p->writable, in->worktree);
	if (in->worktree && in->source)
		add_git(p, in->worktree, in->source);
	static const char *const state_vars[] = { "CLAUDE_CONFIG_DIR", "CODEX_HOME", "TMPDIR", NULL };
	for (size_t i = 0; state_vars[i]; i++) {
		const char *d = dr_childenv_get(in->env, state_vars[i]);
		if (d && d[0] == '/' && i < 2)
			(void)dr_fsutil_mkdir_p(d, 0700);
		add_path(&p->writable, d);
	}
	if (p->home)
		add_home_sets(p, in);
	for (char *const *d = in->runner_dirs; d && *d; d++)
		add_path(&p->hidden, *d);
	/* bwrap gives a private /tmp and its own /dev; Landlock can only allow the host's. */
	if (p->mode == DR_SANDBOX_LANDLOCK) {
		add_path(&p->writable, "/tmp");
		add_path(&p->writable, "/dev");
	}
	for (char *const *d = in->extra_writable; d && *d; d++)
		add_path(&p->writable, *d);
	for (char *const *d = in->extra_hidden; d && *d; d++)
		add_path(&p->hidden, *d);
	return p;
}

struct dr_sandbox_policy *dr_sandbox_policy_free(struct dr_sandbox_policy *p)
{
	if (!p)
		return NULL;
	free(p->home);
	dr_strv_release(&p->writable);
	dr_strv_release(&p->readable);
	dr_strv_release(&p->hidden);
	dr_strv_release(&p->git_links);
	free(p);
	return NULL;
}

static cJSON *path_list(const struct dr_sandbox_policy *p, char *const *v)
{
	cJSON *a = cJSON_CreateArray();
	size_t hl = p->home ? strlen(p->home) : 0;
	for (; v && *v; v++) {
		if (hl && !strncmp(*v, p->home, hl) && (*v)[hl] == '/') {
			char *rel = dr_xasprintf("~%s", *v + hl);
			cJSON_AddItemToArray(a, cJSON_CreateString(rel));
			free(rel);
		} else {
			cJSON_AddItemToArray(a, cJSON_CreateString(*v));
		}
	}
	return a;
}

void *dr_sandbox_policy_json(const struct dr_sandbox_policy *p, const char *note)
{
	cJSON *o = cJSON_CreateObject();
	cJSON_AddStringToObject(o, "mode", dr_sandbox_mode_name(p->mode));
	/* Landlock before ABI 4 cannot deny TCP: the report says what holds, not what was asked. */
	bool net_open = p->network || p->mode == DR_SANDBOX_OFF ||
			(p->mode == DR_SANDBOX_LANDLOCK && dr_sandbox_landlock_abi() < 4);
	cJSON_AddBoolToObject(o, "network", net_open);
	cJSON_AddItemToObject(o, "writable", path_list(p, p->writable.v));
	cJSON_AddItemToObject(o, "hidden", path_list(p, p->hidden.v));
	if (note)
		cJSON_AddStringToObject(o, "note", note);
	return o;
}

/* bwrap ------------------------------------------------------------------ */
#ifdef __linux__

enum op { OP_HIDE, OP_RO, OP_RW };
struct mount_op {
	enum op op;
	const char *path;
	size_t depth;
};

static size_t depth_of(const char *path)
{
	size_t n = 0;
	for (; *path; path++)
		n += *path == '/';
	return n;
}

/* Shallower mounts first, so that a deeper one lands on top (the worktree inside the hidden workspace). */
static int by_depth(const void *a, const void *b)
{
	const struct mount_op *x = a, *y = b;
	if (x->depth != y->depth)
		return x->depth < y->depth ? -1 : 1;
	return (int)x->op - (int)y->op;
}

static bool under_tmp(const char *path)
{
	return !strncmp(path, "/tmp/", 5);
}

static void push_op(struct mount_op *ops, size_t *n, enum op op, const char *path)
{
	ops[*n] = (struct mount_op){ .op = op, .path = path, .depth = depth_of(path) };
	(*n)++;
}

static void push_mounts(struct dr_strv *v, const struct dr_sandbox_policy *p, const char *shim, const char *exe_dir)
{
	size_t max = p->writable.n + p->readable.n + p->hidden.n + 3;
	struct mount_op *ops = dr_xcalloc(max, sizeof *ops);
	size_t n = 0;
	/* A HOME (tests, throwaway users) or our own program under /tmp would vanish under the private /tmp. */
	if (p->home && under_tmp(p->home))
		push_op(ops, &n, OP_RO, p->home);
	if (under_tmp(shim))
		push_op(ops, &n, OP_RO, shim);
	if (under_tmp(exe_dir))
		push_op(ops, &n, OP_RO, exe_dir);
	for (size_t i = 0; i < p->hidden.n; i++)
		push_op(ops, &n, OP_HIDE, p->hidden.v[i]);
	for (size_t i = 0; i < p->readable.n; i++)
		push_op(ops, &n, OP_RO, p->readable.v[i]);
	for (size_t i = 0; i < p->writable.n; i++)
		push_op(ops, &n, OP_RW, p->writable.v[i]);
	qsort(ops, n, sizeof *ops, by_depth);
	for (size_t i = 0; i < n; i++) {
		struct stat st;
		if (stat(ops[i].path, &st) < 0)
			continue; /* nothing to hide or bind; the read-only host cannot grow it */
		if (ops[i].op == OP_HIDE && S_ISDIR(st.st_mode)) {
			dr_strv_push(v, "--tmpfs");
		} else if (ops[i].op == OP_HIDE) {
			dr_strv_push(v, "--ro-bind");
			dr_strv_push(v, "/dev/null");
		} else {
			dr_strv_push(v, ops[i].op == OP_RO ? "--ro-bind" : "--bind");
			dr_strv_push(v, ops[i].path);
		}
		dr_strv_push(v, ops[i].path);
	}
	free(ops);
}

/*
 * shim -T [-c PROCS] -- bwrap OPTIONS -- shim -U -- exe argv: the outer
 * shim joins the cgroup and execs bwrap with SIGTERM ignored, so that
 * bwrap outlives the runner's SIGTERM to the group until the agent ends
 * (else its death would SIGKILL the agent through --die-with-parent at
 * once); inside, the shim gives the agent SIGTERM back and execs it with
 * its argv unchanged.
 */
static char **bwrap_argv(const struct dr_sandbox_policy *p, const char *bwrap, const char *shim, const char *exe,
			 char *const *argv, const char *procs)
{
	struct dr_strv v = DR_STRV_INIT;
	dr_strv_push(&v, shim);
	dr_strv_push(&v, DR_SANDBOX_SHIM_WORD);
	dr_strv_push(&v, "-T");
	if (procs) {
		dr_strv_push(&v, "-c");
		dr_strv_push(&v, procs);
	}
	dr_strv_push(&v, "--");
	/* No --new-session: the child already leads its own session without a terminal (proc.h), and a
	 * second setsid would take the agent out of the process group the runner signals. */
	static const char *const head[] = { "--die-with-parent", "--unshare-pid", "--unshare-ipc", "--unshare-uts",
					    "--unshare-cgroup-try", NULL };
	dr_strv_push(&v, bwrap);
	for (size_t i = 0; head[i]; i++)
		dr_strv_push(&v, head[i]);
	if (!p->network)
		dr_strv_push(&v, "--unshare-net");
	static const char *const base[] = { "--ro-bind", "/", "/", "--dev", "/dev", "--proc", "/proc", "--tmpfs",
					    "/tmp", NULL };
	for (size_t i = 0; base[i]; i++)
		dr_strv_push(&v, base[i]);
	/* The agent's own directory (a checkout or an npm prefix under /tmp) stays readable: its program
	 * and what sits beside it. */
	char *exe_dir = dr_xstrdup(exe);
	char *slash = strrchr(exe_dir, '/');
	if (slash && slash != exe_dir)
		*slash = '\0';
	push_mounts(&v, p, shim, exe_dir);
	static const char *const inner[] = { "--", NULL, DR_SANDBOX_SHIM_WORD, "-U", "--", NULL };
	for (size_t i = 0; inner[i] || i == 1; i++)
		dr_strv_push(&v, inner[i] ? inner[i] : shim);
	dr_strv_push(&v, exe);
	for (char *const *a = argv; *a; a++)
		dr_strv_push(&v, *a);
	free(exe_dir);
	return dr_strv_take(&v);
}
#else
static char **bwrap_argv(const struct dr_sandbox_policy *p, const char *bwrap, const char *shim, const char *exe,
			 char *const *argv, const char *procs)
{
	return NULL;
}
#endif

char **dr_sandbox_argv(const struct dr_sandbox_policy *p, const char *exe, char *const *argv,
		       const char *cgroup_procs)
{
	if (!p || !argv || !argv[0])
		return NULL;
	if (p->mode == DR_SANDBOX_BWRAP)
		return g.bwrap[0] && g.shim[0] && exe ? bwrap_argv(p, g.bwrap, g.shim, exe, argv, cgroup_procs) : NULL;
	if (p->mode == DR_SANDBOX_LANDLOCK && g.shim[0] && exe)
		return dr__sandbox_shim_argv(p, g.shim, exe, argv, cgroup_procs);
	return NULL;
}

void dr__sandbox_set_helpers(const char *bwrap, const char *shim)
{
	snprintf(g.bwrap, sizeof g.bwrap, "%s", bwrap ? bwrap : "");
	snprintf(g.shim, sizeof g.shim, "%s", shim ? shim : "");
}

void dr_sandbox_env_filter(char **env, char *const *keep)
{
	static const char *const dropped[] = { "SSH_AUTH_SOCK", "GH_TOKEN", "GITHUB_TOKEN", "GH_ENTERPRISE_TOKEN",
					       "GITHUB_ENTERPRISE_TOKEN", NULL };
	size_t out = 0;
	for (size_t i = 0; env && env[i]; i++) {
		size_t len = strcspn(env[i], "=");
		bool drop = false;
		for (size_t d = 0; dropped[d] && !drop; d++)
			drop = strlen(dropped[d]) == len && !strncmp(env[i], dropped[d], len);
		if (drop && dr_childenv_requested_n(keep, env[i], len))
			drop = false;
		if (drop)
			free(env[i]);
		else
			env[out++] = env[i];
	}
	if (env)
		env[out] = NULL;
}
