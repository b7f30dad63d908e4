/*
 * childenv: the environment our children get, built from an allow-list
 * (the Node runner gave agents its whole environment: see DIFFERENCES FROM
 * THE NODE RUNNER in delego-runner-protocol(7)).
 *
 * Every child (DR_CHILDENV_AGENT and DR_CHILDENV_TOOL) keeps:
 *   PATH HOME USER LOGNAME SHELL LANG LANGUAGE TZ TMPDIR TERM COLORTERM
 *   LC_*  XDG_*
 *   http_proxy HTTP_PROXY https_proxy HTTPS_PROXY no_proxy NO_PROXY
 *   all_proxy ALL_PROXY  SSL_CERT_FILE SSL_CERT_DIR NODE_EXTRA_CA_CERTS
 *   REQUESTS_CA_BUNDLE CURL_CA_BUNDLE
 *   GIT_* as set by the user (GIT_SSH_COMMAND, GIT_AUTHOR_*,
 *     GIT_COMMITTER_*, GIT_CONFIG_*, ...), except the variables that point
 *     git at another repository: GIT_DIR GIT_WORK_TREE GIT_INDEX_FILE
 *     GIT_OBJECT_DIRECTORY GIT_ALTERNATE_OBJECT_DIRECTORIES GIT_COMMON_DIR
 *     GIT_NAMESPACE GIT_PREFIX GIT_CEILING_DIRECTORIES
 *     GIT_DISCOVERY_ACROSS_FILESYSTEM GIT_QUARANTINE_PATH
 * Agents (claude, codex) also keep their model providers' variables:
 *   ANTHROPIC_*  CLAUDE_* (so CLAUDE_CODE_*)  OPENAI_*  CODEX_*
 *   AWS_* (Bedrock)  VERTEX_REGION_*  GOOGLE_APPLICATION_CREDENTIALS
 *   GOOGLE_CLOUD_PROJECT CLOUD_ML_REGION CLOUDSDK_CONFIG  NODE_OPTIONS NODE_PATH
 * and the toolchains' they run:
 *   JAVA_HOME GOPATH GOROOT GOPROXY GOFLAGS GOPRIVATE GOMODCACHE GOCACHE
 *   CARGO_HOME RUSTUP_HOME RUSTUP_TOOLCHAIN NVM_DIR NVM_BIN PYENV_ROOT
 *   PYENV_VERSION VIRTUAL_ENV CONDA_PREFIX PIPX_HOME POETRY_HOME PNPM_HOME
 *   BUN_INSTALL DENO_DIR VOLTA_HOME ASDF_DIR ASDF_DATA_DIR GEM_HOME GEM_PATH
 *   RBENV_ROOT SDKMAN_DIR GRADLE_USER_HOME MAVEN_HOME M2_HOME ANDROID_HOME
 *   ANDROID_SDK_ROOT DOTNET_ROOT PKG_CONFIG_PATH
 * Tools (git, gh) also keep:
 *   SSH_AUTH_SOCK GH_TOKEN GITHUB_TOKEN GH_HOST GH_ENTERPRISE_TOKEN
 *   GITHUB_ENTERPRISE_TOKEN GH_CONFIG_DIR
 * so an agent gets neither the ssh agent nor a GitHub token unless the
 * user requests them (--agent-env, see dr_childenv_build_with).
 * Helpers the command line runs for the user (systemctl, launchctl, a
 * tool's --version: DR_CHILDENV_HELPER) keep everything else.
 * Nothing named DELEGO_* ever passes (our bearer and pairing token live
 * there), not even through `requested` or `extra`.
 */
#ifndef DELEGO_CHILDENV_H
#define DELEGO_CHILDENV_H

#include <stdbool.h>
#include <stddef.h>

enum dr_childenv_kind {
	DR_CHILDENV_AGENT,  /* claude, codex */
	DR_CHILDENV_TOOL,   /* git, gh */
	DR_CHILDENV_HELPER, /* what the command line runs for the user (systemctl, launchctl): all but DELEGO_* */
};

/* True when a variable of this name may reach a child of this kind. */
bool dr_childenv_allowed(const char *name, size_t len, enum dr_childenv_kind kind);

/*
 * Builds the NULL-terminated "NAME=value" vector for a child: the allowed
 * entries of src (NULL: our environ; the first of duplicate names wins),
 * then extra (may be NULL): "NAME=value" sets or overrides, a bare "NAME"
 * removes. The result and its strings are the caller's (dr_strv_free).
 */
char **dr_childenv_build(char *const *src, enum dr_childenv_kind kind, char *const *extra);

/*
 * As dr_childenv_build, with the entries the user requested (--agent-env;
 * may be NULL) applied between the allow-list and extra: a bare "NAME"
 * passes src's NAME even when the list would drop it, "NAME=value" sets it.
 */
char **dr_childenv_build_with(char *const *src, enum dr_childenv_kind kind, char *const *requested,
			      char *const *extra);

/*
 * True when requested (NULL-terminated "NAME" / "NAME=value" entries, may
 * be NULL) names name: the user asked for that variable explicitly.
 * _n takes the name's length (name need not end there).
 */
bool dr_childenv_requested(char *const *requested, const char *name);
bool dr_childenv_requested_n(char *const *requested, const char *name, size_t len);

/* The value of name in a vector built above, or NULL. Borrowed. */
const char *dr_childenv_get(char *const *env, const char *name);

#endif
