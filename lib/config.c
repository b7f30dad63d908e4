/*
 * config: defaults <- YAML file <- DELEGO_* environment <- flags, through
 * one table of options (name, environment variable, type, default,
 * minimum) kept in config_keys.c. Every value keeps its source for errors
 * and `config`.
 */
#include "config-int.h"
#include "delego/buf.h"
#include "delego/credentials.h"
#include "delego/fsutil.h"
#include "delego/redact.h"
#include "delego/sandbox.h"
#include "delego/url.h"
#include "delego/strv.h"
#include "delego/xalloc.h"

#include <errno.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <yaml.h>

extern char **environ;

#define CONFIG_FILE_MAX (256 * 1024)
#define CONFIG_BRACKETS_MAX 1024

static void set(struct config_full *f, const struct opt *o, const char *value, const char *source)
{
	struct setting *s = &f->settings[dr__config_opt_index(o)];
	free(s->value);
	s->value = dr_xstrdup(value);
	snprintf(s->source, sizeof s->source, "%s", source);
}

/* YAML ---------------------------------------------------------------- */

/* A scalar, or a sequence of scalars joined with sep. NULL when neither. */
static char *yaml_value(yaml_document_t *doc, yaml_node_t *node, char sep)
{
	if (node->type == YAML_SCALAR_NODE)
		return dr_xstrndup((const char *)node->data.scalar.value, node->data.scalar.length);
	if (node->type != YAML_SEQUENCE_NODE)
		return NULL;
	struct dr_buf b = DR_BUF_INIT(0);
	for (yaml_node_item_t *it = node->data.sequence.items.start; it < node->data.sequence.items.top; it++) {
		yaml_node_t *item = yaml_document_get_node(doc, *it);
		if (!item || item->type != YAML_SCALAR_NODE) {
			dr_buf_release(&b);
			return NULL;
		}
		/* A newline joins list entries: an entry cannot hold one. */
		if (sep == '\n' && memchr(item->data.scalar.value, '\n', item->data.scalar.length)) {
			dr_buf_release(&b);
			return NULL;
		}
		if (b.len)
			dr_buf_addch(&b, sep);
		dr_buf_add(&b, item->data.scalar.value, item->data.scalar.length);
	}
	return dr_buf_detach(&b, NULL);
}

static int yaml_mapping(struct config_full *f, const char *path, yaml_document_t *doc, yaml_node_t *map,
			const char *profile, bool top, char *err, size_t errlen)
{
	for (yaml_node_pair_t *pair = map->data.mapping.pairs.start; pair < map->data.mapping.pairs.top; pair++) {
		yaml_node_t *k = yaml_document_get_node(doc, pair->key);
		yaml_node_t *v = yaml_document_get_node(doc, pair->value);
		if (!k || !v)
			continue;
		unsigned line = (unsigned)k->start_mark.line + 1, col = (unsigned)k->start_mark.column + 1;
		if (k->type != YAML_SCALAR_NODE) {
			snprintf(err, errlen, "%s:%u:%u: keys must be plain names", path, line, col);
			return -EBADMSG;
		}
		const char *key = (const char *)k->data.scalar.value;
		if (top && strcmp(key, "profiles") == 0) {
			if (v->type != YAML_MAPPING_NODE) {
				snprintf(err, errlen, "%s:%u:%u: 'profiles' must map profile names to settings", path,
					 line, col);
				return -EBADMSG;
			}
			for (yaml_node_pair_t *pp = v->data.mapping.pairs.start; pp < v->data.mapping.pairs.top; pp++) {
				yaml_node_t *pk = yaml_document_get_node(doc, pp->key);
				yaml_node_t *pv = yaml_document_get_node(doc, pp->value);
				if (!pk || !pv || pk->type != YAML_SCALAR_NODE)
					continue;
				if (!dr_credentials_profile_name_valid((const char *)pk->data.scalar.value)) {
					snprintf(err, errlen, "%s:%u:%u: '%s' is not a valid profile name", path,
						 (unsigned)pk->start_mark.line + 1, (unsigned)pk->start_mark.column + 1,
						 (const char *)pk->data.scalar.value);
					return -EBADMSG;
				}
				if (pv->type != YAML_MAPPING_NODE) {
					snprintf(err, errlen, "%s:%u:%u: profile '%s' must be a mapping of settings",
						 path, (unsigned)pv->start_mark.line + 1,
						 (unsigned)pv->start_mark.column + 1, (const char *)pk->data.scalar.value);
					return -EBADMSG;
				}
				/* Only the selected profile's section applies, after the top level. */
				if (strcmp((const char *)pk->data.scalar.value, profile) != 0)
					continue;
				int r = yaml_mapping(f, path, doc, pv, profile, false, err, errlen);
				if (r < 0)
					return r;
			}
			continue;
		}
		bool create_commit_key = strcmp(key, "create-commit") == 0;
		const struct opt *o = create_commit_key ? dr__config_find_opt("no-commit", 9) : dr__config_find_opt(key, strlen(key));
		if (!o || !o->in_file || (!top && strcmp(key, "profile") == 0)) {
			snprintf(err, errlen, "%s:%u:%u: unknown setting '%s'", path, line, col, key);
			return -EBADMSG;
		}
		char sep = o->type == OPT_ARGS ? ' ' : o->type == OPT_PATHS || o->type == OPT_ENV ? '\n' : ',';
		char *value = yaml_value(doc, v, sep);
		if (!value) {
			snprintf(err, errlen, "%s:%u:%u: '%s' must be a single value%s", path,
				 (unsigned)v->start_mark.line + 1, (unsigned)v->start_mark.column + 1, key,
				 o->type == OPT_ARGS || o->type == OPT_EXECUTORS || o->type == OPT_PATHS ||
					 o->type == OPT_ENV ? " or a list" : "");
			return -EBADMSG;
		}
		char source[SOURCE_MAX];
		snprintf(source, sizeof source, "%s:%u:%u", path, (unsigned)v->start_mark.line + 1,
			 (unsigned)v->start_mark.column + 1);
		/* The file says "no-commit: true" or "create-commit: false"; both mean the same. */
		if (o->type == OPT_NOT_BOOL) {
			bool b;
			if (!dr__config_parse_bool(value, &b)) {
				snprintf(err, errlen, "%s: '%s' takes true or false (got '%s')", source, key, value);
				free(value);
				return -EBADMSG;
			}
			set(f, o, b != create_commit_key ? "false" : "true", source);
		} else {
			set(f, o, value, source);
		}
		free(value);
	}
	return 0;
}

/* The settings of the text of a file named path; errors say path:line:col. */
static int parse_yaml(struct config_full *f, const char *path, const char *text, size_t len, const char *profile,
		      char *err, size_t errlen)
{
	if (len > CONFIG_FILE_MAX) {
		snprintf(err, errlen, "config file %s is larger than 256 KiB", path);
		return -EIO;
	}
	/* libyaml 0.2.5 takes time quadratic in flow nesting (80 s for 240 KiB of
	 * "[["): no configuration needs that many brackets, so refuse first. */
	size_t brackets = 0;
	for (size_t i = 0; i < len; i++)
		brackets += text[i] == '[' || text[i] == '{';
	if (brackets > CONFIG_BRACKETS_MAX) {
		snprintf(err, errlen, "%s: more than %d '[' and '{' in the file; this is not a configuration", path,
			 CONFIG_BRACKETS_MAX);
		return -EBADMSG;
	}
	yaml_parser_t parser;
	yaml_document_t doc;
	yaml_parser_initialize(&parser);
	yaml_parser_set_input_string(&parser, (const unsigned char *)text, len);
	if (!yaml_parser_load(&parser, &doc)) {
		snprintf(err, errlen, "%s:%zu:%zu: %s", path, parser.problem_mark.line + 1,
			 parser.problem_mark.column + 1, parser.problem ? parser.problem : "invalid YAML");
		yaml_parser_delete(&parser);
		return -EBADMSG;
	}
	yaml_node_t *root = yaml_document_get_root_node(&doc);
	int r = 0;
	if (root && root->type == YAML_MAPPING_NODE) {
		r = yaml_mapping(f, path, &doc, root, profile, true, err, errlen);
	} else if (root && !(root->type == YAML_SCALAR_NODE && root->data.scalar.length == 0)) {
		snprintf(err, errlen, "%s:1:1: the file must be a mapping of settings", path);
		r = -EBADMSG;
	}
	yaml_document_delete(&doc);
	yaml_parser_delete(&parser);
	return r;
}

/*
 * The file's settings: text when the caller has the bytes (text_len of
 * them), else read from path. -ENOENT only matters when the user named
 * the file.
 */
static int load_yaml(struct config_full *f, const char *path, const char *text, size_t text_len,
		     const char *profile, char *err, size_t errlen)
{
	if (text)
		return parse_yaml(f, path, text, text_len, profile, err, errlen);
	/* It names the commands we run: another user must not have written it. */
	int r = dr_fsutil_check_trusted_file(path, DR_TRUST_NOWRITE, err, errlen);
	if (r < 0)
		return r;
	struct dr_buf data = DR_BUF_INIT(CONFIG_FILE_MAX);
	r = dr_fsutil_read_file(path, &data, NULL);
	if (r < 0) {
		if (r == -E2BIG)
			snprintf(err, errlen, "config file %s is larger than 256 KiB", path);
		else
			snprintf(err, errlen, "cannot read config file %s: %s", path, strerror(-r));
	} else {
		r = parse_yaml(f, path, data.buf, data.len, profile, err, errlen);
	}
	dr_buf_release(&data);
	return r == -E2BIG ? -EIO : r;
}

/* Environment and flags ----------------------------------------------- */

static const char *env_get(char **envp, const char *name)
{
	size_t n = strlen(name);
	for (char **e = envp; e && *e; e++)
		if (strncmp(*e, name, n) == 0 && (*e)[n] == '=')
			return *e + n + 1;
	return NULL;
}

static void load_env(struct config_full *f, char **envp)
{
	for (size_t i = 0; i < DR__CONFIG_N_OPTIONS; i++) {
		const struct opt *o = &dr__config_options[i];
		if (!o->env)
			continue;
		const char *v = env_get(envp, o->env);
		if (!v || (!*v && o->type != OPT_ARGS))
			continue;
		char source[SOURCE_MAX];
		snprintf(source, sizeof source, "env %s", o->env);
		set(f, o, v, source);
	}
}

/* Applies flags; collects positionals. */
static int apply_flags(struct config_full *f, struct dr_strv *positional, int argc, char **argv, char *err,
		       size_t errlen)
{
	bool only_positional = false;
	for (int i = 0; i < argc; i++) {
		const char *a = argv[i];
		if (only_positional || a[0] != '-' || a[1] == '\0') {
			dr_strv_push(positional, a);
			continue;
		}
		if (strcmp(a, "--") == 0) {
			only_positional = true;
			continue;
		}
		const struct opt *o = NULL;
		const char *inline_value = NULL;
		char flag[96];
		if (a[1] == '-') {
			const char *name = a + 2;
			const char *eq = strchr(name, '=');
			size_t len = eq ? (size_t)(eq - name) : strlen(name);
			o = dr__config_find_opt(name, len);
			if (eq)
				inline_value = eq + 1;
			/* "--create-commit=false" and "--no-commit" are one option. */
			if (!o && len == 13 && strncmp(name, "create-commit", 13) == 0 && eq)
				o = dr__config_find_opt("no-commit", 9);
			snprintf(flag, sizeof flag, "--%.*s", (int)(len > 80 ? 80 : len), name);
		} else if (a[2] == '\0') {
			for (size_t k = 0; k < DR__CONFIG_N_OPTIONS; k++)
				if (dr__config_options[k].short_name == a[1])
					o = &dr__config_options[k];
			snprintf(flag, sizeof flag, "-%c", a[1]);
		}
		if (!o) {
			snprintf(err, errlen, "unknown option '%.80s' (see delego-runner --help)", a);
			return -EINVAL;
		}
		if (o->type == OPT_BOOL || o->type == OPT_NOT_BOOL) {
			const char *v = inline_value ? inline_value : "true";
			bool b;
			if (!dr__config_parse_bool(v, &b)) {
				snprintf(err, errlen, "flag %s takes no value or true/false (got '%.80s')", flag, v);
				return -EINVAL;
			}
			if (o->type == OPT_NOT_BOOL && strncmp(a, "--no-", 5) == 0)
				b = !b;
			set(f, o, b ? "true" : "false", "flag");
			continue;
		}
		const char *v = inline_value;
		if (!v) {
			if (i + 1 >= argc) {
				snprintf(err, errlen, "flag %s needs a value", flag);
				return -EINVAL;
			}
			v = argv[++i];
		}
		if (o->type == OPT_ENV && strchr(v, '\n')) {
			snprintf(err, errlen, "flag %s: a value cannot span lines", flag);
			return -EINVAL;
		}
		char source[SOURCE_MAX];
		snprintf(source, sizeof source, "flag %s", flag);
		struct setting *prev = &f->settings[dr__config_opt_index(o)];
		/* Repeated list flags add up; the first replaces the file's list. */
		if ((o->type == OPT_PATHS || o->type == OPT_ENV) && prev->value && !strncmp(prev->source, "flag", 4)) {
			char *joined = dr_xasprintf("%s\n%s", prev->value, v);
			set(f, o, joined, source);
			free(joined);
			continue;
		}
		set(f, o, v, source);
	}
	return 0;
}

static int load_flags(struct config_full *f, int argc, char **argv, char *err, size_t errlen)
{
	struct dr_strv positional = DR_STRV_INIT;
	int r = apply_flags(f, &positional, argc, argv, err, errlen);
	f->c.positional = dr_strv_take(&positional);
	return r;
}

static char *default_state_dir(char **envp, const char *profile)
{
	const char *xdg = env_get(envp, "XDG_STATE_HOME");
	if (xdg && *xdg)
		return dr_xasprintf("%s/delego-runner/%s", xdg, profile);
	const char *home = env_get(envp, "HOME");
	return dr_xasprintf("%s/.local/state/delego-runner/%s", home ? home : ".", profile);
}

static char *default_config_path(char **envp)
{
	const char *xdg = env_get(envp, "XDG_CONFIG_HOME");
	if (xdg && *xdg)
		return dr_xasprintf("%s/delego-runner/config.yaml", xdg);
	const char *home = env_get(envp, "HOME");
	return dr_xasprintf("%s/.config/delego-runner/config.yaml", home ? home : ".");
}

/* dr_config_load, with the file's bytes given (text) or read (text NULL). */
static int load(int argc, char **argv, char **envp, const char *text, size_t text_len, struct dr_config **out,
		char *err, size_t errlen)
{
	struct config_full *f = dr_xcalloc(1, sizeof *f);
	int r;
	if (!envp)
		envp = environ;

	for (size_t i = 0; i < DR__CONFIG_N_OPTIONS; i++)
		if (dr__config_options[i].def)
			set(f, &dr__config_options[i], dr__config_options[i].def, "default");

	/* Flags and environment first into a scratch copy, to learn which file
	 * and profile to read; then file, environment and flags in order. */
	struct config_full *probe = dr_xcalloc(1, sizeof *probe);
	load_env(probe, envp);
	r = load_flags(probe, argc, argv, err, errlen);
	const char *cfg_flag = probe->settings[dr__config_opt_index(dr__config_find_opt("config", 6))].value;
	const char *profile_flag = probe->settings[dr__config_opt_index(dr__config_find_opt("profile", 7))].value;
	f->home = dr_xstrdup(env_get(envp, "HOME"));
	char *config_path = cfg_flag ? dr__config_expand_home(f, cfg_flag) : NULL;
	char *profile = dr_xstrdup(profile_flag ? profile_flag : "default");
	bool profile_flag_given = profile_flag != NULL;
	bool config_named = cfg_flag != NULL;
	for (size_t i = 0; i < DR__CONFIG_N_OPTIONS; i++)
		free(probe->settings[i].value);
	dr_strv_free(probe->c.positional);
	free(probe);
	if (r < 0)
		goto fail;

	if (!config_path)
		config_path = default_config_path(envp);
	r = load_yaml(f, config_path, text, text_len, profile, err, errlen);
	/* A "profile:" at the file's top level picks the section to apply,
	 * unless a flag or the environment named the profile. */
	const char *file_profile = f->settings[dr__config_opt_index(dr__config_find_opt("profile", 7))].value;
	if (r == 0 && !profile_flag_given && file_profile && strcmp(file_profile, profile) != 0) {
		free(profile);
		profile = dr_xstrdup(file_profile);
		for (size_t i = 0; i < DR__CONFIG_N_OPTIONS; i++) {
			free(f->settings[i].value);
			f->settings[i].value = NULL;
			if (dr__config_options[i].def)
				set(f, &dr__config_options[i], dr__config_options[i].def, "default");
		}
		r = load_yaml(f, config_path, text, text_len, profile, err, errlen);
	}
	if (r == -ENOENT && !config_named) {
		free(config_path);
		config_path = NULL;
		r = 0;
	}
	if (r < 0)
		goto fail;
	f->c.config_path = config_path;
	config_path = NULL;
	load_env(f, envp);
	r = load_flags(f, argc, argv, err, errlen);
	if (r < 0)
		goto fail;

	for (size_t i = 0; i < DR__CONFIG_N_OPTIONS; i++) {
		if (dr__config_options[i].offset == F(config_path))
			continue;
		r = dr__config_resolve(f, &dr__config_options[i], err, errlen);
		if (r < 0)
			goto fail;
	}
	if (!dr_credentials_profile_name_valid(f->c.profile)) {
		snprintf(err, errlen, "%s: --profile must match ^[a-z0-9][a-z0-9-]{0,63}$ (got '%.80s')",
			 f->settings[dr__config_opt_index(dr__config_find_opt("profile", 7))].source, f->c.profile);
		r = -EINVAL;
		goto fail;
	}
	/* As the Node runner: the clone base loses trailing slashes. */
	for (size_t l = strlen(f->c.git_clone_base_url); l > 0 && f->c.git_clone_base_url[l - 1] == '/'; l--)
		f->c.git_clone_base_url[l - 1] = '\0';
	f->c.credentials_path = dr_credentials_default_path(env_get(envp, "DELEGO_CREDENTIALS_PATH"),
							    env_get(envp, "XDG_CONFIG_HOME"), env_get(envp, "HOME"));
	f->c.state_dir = default_state_dir(envp, f->c.profile);
	free(profile);
	*out = &f->c;
	return 0;

fail:
	free(config_path);
	free(profile);
	dr_config_free(&f->c);
	return r;
}

int dr_config_load(int argc, char **argv, char **envp, struct dr_config **out, char *err, size_t errlen)
{
	return load(argc, argv, envp, NULL, 0, out, err, errlen);
}

int dr_config_parse(const char *text, size_t len, const char *name, char **envp, struct dr_config **out, char *err,
		    size_t errlen)
{
	char *argv[] = { "--config", (char *)name, NULL };
	return load(2, argv, envp, text ? text : "", len, out, err, errlen);
}

void dr_config_apply_profile(struct dr_config *c, const struct dr_profile *p)
{
	struct config_full *f = (struct config_full *)c;
	const struct opt *ws = dr__config_find_opt("workspace-root", 14);
	if (p->workspace_root && strcmp(f->settings[dr__config_opt_index(ws)].source, "default") == 0) {
		set(f, ws, p->workspace_root, "profile");
		free(c->workspace_root);
		c->workspace_root = dr__config_expand_home(f, p->workspace_root);
	}
	const struct opt *ex = dr__config_find_opt("supported-executors", 19);
	if (p->supported_executors && p->supported_executors[0] &&
	    strcmp(f->settings[dr__config_opt_index(ex)].source, "default") == 0) {
		struct dr_strv valid = DR_STRV_INIT;
		for (char **e = p->supported_executors; *e; e++)
			if (!strcmp(*e, DR_EXECUTOR_CLAUDE) || !strcmp(*e, DR_EXECUTOR_CODEX))
				dr_strv_push(&valid, *e);
		if (valid.n) {
			struct dr_buf b = DR_BUF_INIT(0);
			for (char **e = valid.v; *e; e++)
				dr_buf_addf(&b, "%s%s", b.len ? "," : "", *e);
			set(f, ex, b.buf, "profile");
			dr_buf_release(&b);
			dr_strv_free(c->supported_executors);
			c->supported_executors = dr_strv_take(&valid);
		} else {
			dr_strv_release(&valid);
		}
	}
}

const char *dr_config_source(const struct dr_config *c, const char *option)
{
	const struct config_full *f = (const struct config_full *)c;
	const struct opt *o = dr__config_find_opt(option, strlen(option));
	if (!o)
		return NULL;
	const struct setting *s = &f->settings[dr__config_opt_index(o)];
	return s->value ? s->source : "unset";
}

/* "NAME, NAME=VALUE, ...", with the values of secret-looking names masked. */
static char *describe_env(char *const *env)
{
	struct dr_buf b = DR_BUF_INIT(0);
	for (char *const *e = env; *e; e++) {
		size_t n = strcspn(*e, "=");
		bool secret = (*e)[n] && dr_redact_env_name_secret(*e, n);
		dr_buf_addf(&b, "%s%.*s%s", b.len ? ", " : "", (int)n, *e, (*e)[n] ? "=" : "");
		if ((*e)[n])
			dr_buf_addstr(&b, secret ? "********" : *e + n + 1);
	}
	return dr_buf_detach(&b, NULL);
}

char *dr_config_describe(const struct dr_config *c)
{
	const struct config_full *f = (const struct config_full *)c;
	struct dr_buf b = DR_BUF_INIT(0);
	for (size_t i = 0; i < DR__CONFIG_N_OPTIONS; i++) {
		const struct opt *o = &dr__config_options[i];
		if (!o->in_file && o->offset != F(pairing_token) && o->offset != F(config_path))
			continue;
		const struct setting *s = &f->settings[i];
		const char *v = s->value;
		char *shown = NULL;
		if (o->type == OPT_SECRET && v)
			v = "********";
		else if (o->offset == F(workspace_root) && c->workspace_root)
			v = c->workspace_root;
		else if (o->offset == F(config_path))
			v = c->config_path;
		else if (o->type == OPT_NOT_BOOL)
			shown = dr_xstrdup(c->create_commit ? "false" : "true");
		else if (o->type == OPT_ENV && c->agent_env)
			shown = describe_env(c->agent_env);
		else if (o->type == OPT_PATHS && v)
			for (char *nl = shown = dr_xstrdup(v); (nl = strchr(nl, '\n'));)
				*nl = ',';
		if (shown)
			v = shown;
		dr_buf_addf(&b, "%-30s %-40s (%s)\n", o->name, v ? v : "-",
			    o->offset == F(config_path) ? (c->config_path ? "file read" : "no file") : s->value ? s->source : "unset");
		free(shown);
	}
	dr_buf_addf(&b, "%-30s %-40s (%s)\n", "credentials", c->credentials_path, "DELEGO_CREDENTIALS_PATH or XDG");
	dr_buf_addf(&b, "%-30s %-40s (%s)\n", "state-dir", c->state_dir, "XDG_STATE_HOME");
	return dr_buf_detach(&b, NULL);
}

void dr_config_free(struct dr_config *c)
{
	if (!c)
		return;
	struct config_full *f = (struct config_full *)c;
	free(c->profile);
	free(c->relay_url);
	if (c->pairing_token) {
		memset(c->pairing_token, 0, strlen(c->pairing_token));
		free(c->pairing_token);
	}
	free(c->workspace_root);
	free(c->git_clone_base_url);
	free(c->claude.command);
	dr_strv_free(c->claude.args);
	free(c->codex.command);
	dr_strv_free(c->codex.args);
	dr_strv_free(c->supported_executors);
	dr_strv_free(c->sandbox_writable);
	dr_strv_free(c->sandbox_hide);
	dr_strv_free(c->agent_env);
	free(c->config_path);
	free(c->credentials_path);
	free(c->state_dir);
	free(c->pairing_token_file);
	dr_strv_free(c->positional);
	free(f->home);
	for (size_t i = 0; i < DR__CONFIG_N_OPTIONS; i++) {
		if (f->settings[i].value && dr__config_options[i].type == OPT_SECRET)
			memset(f->settings[i].value, 0, strlen(f->settings[i].value));
		free(f->settings[i].value);
	}
	free(f);
}

bool dr_config_supports(const struct dr_config *c, const char *executor)
{
	for (char **e = c->supported_executors; e && *e; e++)
		if (strcmp(*e, executor) == 0)
			return true;
	return false;
}

const struct dr_exec_cmd *dr_config_exec_cmd(const struct dr_config *c, const char *executor)
{
	if (strcmp(executor, DR_EXECUTOR_CLAUDE) == 0)
		return &c->claude;
	if (strcmp(executor, DR_EXECUTOR_CODEX) == 0)
		return &c->codex;
	return NULL;
}
