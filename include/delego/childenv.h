/*
 * childenv: the environment our children get, built from an allow-list
 * (the Node runner gave agents its whole environment: see DIFFERENCES FROM
 * THE NODE RUNNER in delego-runner-protocol(7)).
 *
 * Every child (DR_CHILDENV_AGENT and DR_CHILDENV_TOOL) keeps:
 *   PATH HOME USER LOGNAME SHELL LANG LANGUAGE TZ TMPDIR TERM COLORTERM
 *   LC_*  XDG_*  SSH_AUTH_SOCK
 *   http_proxy HTTP_PROXY https_proxy HTTPS_PROXY no_proxy NO_PROXY
 *   all_proxy ALL_PROXY  SSL_CERT_FILE SSL_CERT_DIR NODE_EXTRA_CA_CERTS
 *   GIT_* as set by the user (GIT_SSH_COMMAND, GIT_AUTHOR_*,
 *     GIT_COMMITTER_*, GIT_CONFIG_*, ...), except the variables that point
 *     git at another repository: GIT_DIR GIT_WORK_TREE GIT_INDEX_FILE
 *     GIT_OBJECT_DIRECTORY GIT_ALTERNATE_OBJECT_DIRECTORIES GIT_COMMON_DIR
 *     GIT_NAMESPACE GIT_PREFIX GIT_CEILING_DIRECTORIES
 *     GIT_DISCOVERY_ACROSS_FILESYSTEM GIT_QUARANTINE_PATH
 * Agents (claude, codex) also keep:
 *   ANTHROPIC_*  CLAUDE_* (so CLAUDE_CODE_*)  OPENAI_*  CODEX_*
 * Tools (git, gh) also keep:
 *   GH_TOKEN GITHUB_TOKEN GH_HOST GH_ENTERPRISE_TOKEN
 *   GITHUB_ENTERPRISE_TOKEN GH_CONFIG_DIR
 * Helpers the command line runs for the user (systemctl, launchctl, a
 * tool's --version: DR_CHILDENV_HELPER) keep everything else.
 * Nothing named DELEGO_* ever passes (our bearer and pairing token live
 * there), not even through `extra`.
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

/* The value of name in a vector built above, or NULL. Borrowed. */
const char *dr_childenv_get(char *const *env, const char *name);

#endif
