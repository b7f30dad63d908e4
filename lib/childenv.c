/* childenv: allow-listed environments for children (see the header for the list). */
#include "delego/childenv.h"
#include "delego/xalloc.h"

#include <stdlib.h>
#include <string.h>

extern char **environ;

static const char *const common_exact[] = {
	"PATH", "HOME", "USER", "LOGNAME", "SHELL", "LANG", "LANGUAGE", "TZ", "TMPDIR", "TERM", "COLORTERM",
	"SSH_AUTH_SOCK", "http_proxy", "HTTP_PROXY", "https_proxy", "HTTPS_PROXY", "no_proxy", "NO_PROXY",
	"all_proxy", "ALL_PROXY", "SSL_CERT_FILE", "SSL_CERT_DIR", "NODE_EXTRA_CA_CERTS", NULL,
};
static const char *const common_prefix[] = { "LC_", "XDG_", NULL };
static const char *const agent_prefix[] = { "ANTHROPIC_", "CLAUDE_", "OPENAI_", "CODEX_", NULL };
static const char *const tool_exact[] = {
	"GH_TOKEN", "GITHUB_TOKEN", "GH_HOST", "GH_ENTERPRISE_TOKEN", "GITHUB_ENTERPRISE_TOKEN", "GH_CONFIG_DIR", NULL,
};
/* These would point git at a repository other than the one we chose. */
static const char *const git_denied[] = {
	"GIT_DIR", "GIT_WORK_TREE", "GIT_INDEX_FILE", "GIT_OBJECT_DIRECTORY", "GIT_ALTERNATE_OBJECT_DIRECTORIES",
	"GIT_COMMON_DIR", "GIT_NAMESPACE", "GIT_PREFIX", "GIT_CEILING_DIRECTORIES",
	"GIT_DISCOVERY_ACROSS_FILESYSTEM", "GIT_QUARANTINE_PATH", NULL,
};

static bool is_exact(const char *name, size_t len, const char *const *list)
{
	for (; *list; list++) {
		if (strlen(*list) == len && !memcmp(*list, name, len))
			return true;
	}
	return false;
}

/* A prefix match needs at least one character after the prefix. */
static bool has_prefix(const char *name, size_t len, const char *const *list)
{
	for (; *list; list++) {
		size_t n = strlen(*list);
		if (len > n && !memcmp(*list, name, n))
			return true;
	}
	return false;
}

/* DELEGO_* (and DELEGO itself) hold our secrets. */
static bool is_ours(const char *name, size_t len)
{
	return len >= 6 && !memcmp(name, "DELEGO", 6) && (len == 6 || name[6] == '_');
}

bool dr_childenv_allowed(const char *name, size_t len, enum dr_childenv_kind kind)
{
	if (len == 0 || is_ours(name, len))
		return false;
	if (kind == DR_CHILDENV_HELPER)
		return true;
	if (is_exact(name, len, common_exact) || has_prefix(name, len, common_prefix))
		return true;
	static const char *const git[] = { "GIT_", NULL };
	if (has_prefix(name, len, git))
		return !is_exact(name, len, git_denied);
	if (kind == DR_CHILDENV_AGENT)
		return has_prefix(name, len, agent_prefix);
	return is_exact(name, len, tool_exact);
}

static size_t name_len(const char *entry)
{
	const char *eq = strchr(entry, '=');
	return eq ? (size_t)(eq - entry) : strlen(entry);
}

/* Index of the entry named like entry (up to its '='), or -1. */
static long find(char **v, size_t n, const char *name, size_t len)
{
	for (size_t i = 0; i < n; i++) {
		if (name_len(v[i]) == len && !memcmp(v[i], name, len))
			return (long)i;
	}
	return -1;
}

char **dr_childenv_build(char *const *src, enum dr_childenv_kind kind, char *const *extra)
{
	if (!src)
		src = environ;
	size_t cap = dr_strv_len(src) + (extra ? dr_strv_len(extra) : 0) + 1;
	char **v = dr_xcalloc(cap, sizeof(char *));
	size_t n = 0;
	for (char *const *e = src; *e; e++) {
		if (!strchr(*e, '='))
			continue;
		size_t len = name_len(*e);
		if (!dr_childenv_allowed(*e, len, kind) || find(v, n, *e, len) >= 0)
			continue;
		v[n++] = dr_xstrdup(*e);
	}
	for (char *const *e = extra; e && *e; e++) {
		size_t len = name_len(*e);
		if (len == 0 || is_ours(*e, len))
			continue;
		long at = find(v, n, *e, len);
		if (!strchr(*e, '=')) {
			if (at >= 0) {
				free(v[at]);
				memmove(&v[at], &v[at + 1], (n - (size_t)at) * sizeof(char *));
				n--;
			}
			continue;
		}
		if (at >= 0) {
			free(v[at]);
			v[at] = dr_xstrdup(*e);
		} else {
			v[n++] = dr_xstrdup(*e);
		}
	}
	v[n] = NULL;
	return v;
}

const char *dr_childenv_get(char *const *env, const char *name)
{
	size_t len = strlen(name);
	for (; env && *env; env++) {
		if (!strncmp(*env, name, len) && (*env)[len] == '=')
			return *env + len + 1;
	}
	return NULL;
}
