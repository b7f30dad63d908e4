/* childenv: allow-listed environments for children (see the header for the list). */
#include "delego/childenv.h"
#include "delego/strv.h"
#include "delego/xalloc.h"

#include <stdlib.h>
#include <string.h>

extern char **environ;

static const char *const common_exact[] = {
	"PATH", "HOME", "USER", "LOGNAME", "SHELL", "LANG", "LANGUAGE", "TZ", "TMPDIR", "TERM", "COLORTERM",
	"http_proxy", "HTTP_PROXY", "https_proxy", "HTTPS_PROXY", "no_proxy", "NO_PROXY", "all_proxy", "ALL_PROXY",
	"SSL_CERT_FILE", "SSL_CERT_DIR", "NODE_EXTRA_CA_CERTS", "REQUESTS_CA_BUNDLE", "CURL_CA_BUNDLE", NULL,
};
static const char *const common_prefix[] = { "LC_", "XDG_", NULL };
/* Model providers (Anthropic, OpenAI, Bedrock, Vertex) and the toolchains agents run. */
static const char *const agent_exact[] = {
	"GOOGLE_APPLICATION_CREDENTIALS", "GOOGLE_CLOUD_PROJECT", "CLOUD_ML_REGION", "CLOUDSDK_CONFIG",
	"NODE_OPTIONS", "NODE_PATH", "JAVA_HOME", "GOPATH", "GOROOT", "GOPROXY", "GOFLAGS", "GOPRIVATE",
	"GOMODCACHE", "GOCACHE", "CARGO_HOME", "RUSTUP_HOME", "RUSTUP_TOOLCHAIN", "NVM_DIR", "NVM_BIN",
	"PYENV_ROOT", "PYENV_VERSION", "VIRTUAL_ENV", "CONDA_PREFIX", "PIPX_HOME", "POETRY_HOME", "PNPM_HOME",
	"BUN_INSTALL", "DENO_DIR", "VOLTA_HOME", "ASDF_DIR", "ASDF_DATA_DIR", "GEM_HOME", "GEM_PATH",
	"RBENV_ROOT", "SDKMAN_DIR", "GRADLE_USER_HOME", "MAVEN_HOME", "M2_HOME", "ANDROID_HOME",
	"ANDROID_SDK_ROOT", "DOTNET_ROOT", "PKG_CONFIG_PATH", NULL,
};
static const char *const agent_prefix[] = { "ANTHROPIC_", "CLAUDE_", "OPENAI_", "CODEX_", "AWS_",
					    "VERTEX_REGION_", NULL };
/* git over ssh and gh: the runner pushes and opens pull requests itself, agents need neither. */
static const char *const tool_exact[] = {
	"SSH_AUTH_SOCK", "GH_TOKEN", "GITHUB_TOKEN", "GH_HOST", "GH_ENTERPRISE_TOKEN", "GITHUB_ENTERPRISE_TOKEN",
	"GH_CONFIG_DIR", NULL,
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
		return is_exact(name, len, agent_exact) || has_prefix(name, len, agent_prefix);
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

/* Sets ("NAME=value") or removes (a bare "NAME") one entry of v (n entries, room for one more). */
static void apply(char **v, size_t *n, const char *entry)
{
	size_t len = name_len(entry);
	if (len == 0 || is_ours(entry, len))
		return;
	long at = find(v, *n, entry, len);
	if (!strchr(entry, '=')) {
		if (at >= 0) {
			free(v[at]);
			memmove(&v[at], &v[at + 1], (*n - (size_t)at) * sizeof(char *));
			(*n)--;
		}
		return;
	}
	if (at >= 0) {
		free(v[at]);
		v[at] = dr_xstrdup(entry);
	} else {
		v[(*n)++] = dr_xstrdup(entry);
	}
}

char **dr_childenv_build_with(char *const *src, enum dr_childenv_kind kind, char *const *requested,
			      char *const *extra)
{
	if (!src)
		src = environ;
	size_t cap = dr_strv_len(src) + dr_strv_len(requested) + dr_strv_len(extra) + 1;
	char **v = dr_xcalloc(cap, sizeof(char *));
	size_t n = 0;
	for (char *const *e = src; *e; e++) {
		if (!strchr(*e, '='))
			continue;
		size_t len = name_len(*e);
		bool asked = dr_childenv_requested_n(requested, *e, len);
		if ((!asked && !dr_childenv_allowed(*e, len, kind)) || is_ours(*e, len) || find(v, n, *e, len) >= 0)
			continue;
		v[n++] = dr_xstrdup(*e);
	}
	/* A bare requested name only passes ours (above); NAME=VALUE sets it. */
	for (char *const *e = requested; e && *e; e++)
		if (strchr(*e, '='))
			apply(v, &n, *e);
	for (char *const *e = extra; e && *e; e++)
		apply(v, &n, *e);
	v[n] = NULL;
	return v;
}

char **dr_childenv_build(char *const *src, enum dr_childenv_kind kind, char *const *extra)
{
	return dr_childenv_build_with(src, kind, NULL, extra);
}

bool dr_childenv_requested_n(char *const *requested, const char *name, size_t len)
{
	for (char *const *e = requested; e && *e; e++)
		if (name_len(*e) == len && !memcmp(*e, name, len))
			return true;
	return false;
}

bool dr_childenv_requested(char *const *requested, const char *name)
{
	return name && dr_childenv_requested_n(requested, name, strlen(name));
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
