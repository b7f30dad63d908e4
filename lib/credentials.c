/* credentials: the Node-compatible credentials store (delego-runner-protocol(7), CREDENTIALS FILE). */
#include "delego/credentials.h"
#include "delego/buf.h"
#include "delego/json.h"
#include "delego/strv.h"
#include "delego/xalloc.h"
#include "delego/fsutil.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define CREDENTIALS_MAX_BYTES (1024 * 1024)

struct dr_credentials {
	cJSON *root; /* the whole document, unknown fields included */
};

void dr_credentials_profile_release(struct dr_profile *p)
{
	free(p->relay_url);
	free(p->runner_id);
	if (p->bearer) {
		/* The bearer is a secret: do not leave it in freed memory. */
		memset(p->bearer, 0, strlen(p->bearer));
		free(p->bearer);
	}
	free(p->paired_at);
	free(p->workspace_root);
	dr_strv_free(p->supported_executors);
	memset(p, 0, sizeof *p);
}

bool dr_credentials_profile_name_valid(const char *name)
{
	size_t n = strlen(name);
	if (n < 1 || n > 64)
		return false;
	for (size_t i = 0; i < n; i++) {
		char c = name[i];
		bool alnum = (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9');
		if (!alnum && !(i > 0 && c == '-'))
			return false;
	}
	return true;
}

bool dr_credentials_runner_id_valid(const char *id)
{
	size_t n = id ? strlen(id) : 0;
	if (n < 1 || n > 128 || id[0] == '-')
		return false;
	for (size_t i = 0; i < n; i++) {
		char c = id[i];
		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' || c == '_'))
			return false;
	}
	return true;
}

char *dr_credentials_default_path(const char *explicit_path, const char *xdg_config_home, const char *home)
{
	if (explicit_path && *explicit_path)
		return dr_xstrdup(explicit_path);
	if (xdg_config_home && *xdg_config_home)
		return dr_xasprintf("%s/delego-runner/credentials.json", xdg_config_home);
	return dr_xasprintf("%s/.config/delego-runner/credentials.json", home && *home ? home : ".");
}

struct dr_credentials *dr_credentials_new(void)
{
	struct dr_credentials *c = dr_xcalloc(1, sizeof *c);
	c->root = cJSON_CreateObject();
	cJSON_AddNumberToObject(c->root, "version", 1);
	cJSON_AddObjectToObject(c->root, "profiles");
	return c;
}

int dr_credentials_parse(const char *data, size_t len, struct dr_credentials **out, char *err, size_t errlen)
{
	cJSON *root;
	int r = dr_json_parse(data, len, CREDENTIALS_MAX_BYTES, &root);
	if (r < 0) {
		snprintf(err, errlen, "%s", r == -E2BIG ? "it is too large or too deeply nested" : "it is not valid JSON");
		return -EINVAL;
	}
	const cJSON *version = cJSON_GetObjectItemCaseSensitive(root, "version");
	if (!cJSON_IsObject(root) || !cJSON_IsNumber(version) || version->valuedouble != 1) {
		cJSON_Delete(root);
		snprintf(err, errlen, "it has an unexpected shape (expected \"version\": 1)");
		return -EINVAL;
	}
	/* As the Node runner: a missing or non-object "profiles" reads as empty.
	 * Drop every non-object one: with duplicate keys a second one would
	 * become the first, and cJSON would add profiles to a number. */
	cJSON *profiles;
	while ((profiles = cJSON_GetObjectItemCaseSensitive(root, "profiles")) && !cJSON_IsObject(profiles))
		cJSON_DeleteItemFromObjectCaseSensitive(root, "profiles");
	if (!profiles)
		cJSON_AddObjectToObject(root, "profiles");
	struct dr_credentials *c = dr_xcalloc(1, sizeof *c);
	c->root = root;
	*out = c;
	return 0;
}

/*
 * The file must be ours and not a symbolic link, in a directory no one
 * else can write (or none yet): else another user chose what we read or
 * where our bearer goes.
 */
static int check_place(const char *path, char *err, size_t errlen)
{
	char inner[448];
	int r = dr_fsutil_check_trusted_file(path, DR_TRUST_NOFOLLOW, inner, sizeof inner);
	if (r < 0)
		snprintf(err, errlen, "credentials: %s", inner);
	return r;
}

int dr_credentials_load(const char *path, struct dr_credentials **out, unsigned *insecure_mode, char *err,
			size_t errlen)
{
	char inner[256];
	struct dr_buf data = DR_BUF_INIT(CREDENTIALS_MAX_BYTES);
	struct stat st;
	if (insecure_mode)
		*insecure_mode = 0;
	int r = check_place(path, err, errlen);
	if (r < 0)
		return r;
	r = dr_fsutil_read_file(path, &data, &st);
	if (r == -ENOENT) {
		*out = dr_credentials_new();
		return 0;
	}
	if (r < 0) {
		snprintf(err, errlen, "cannot read credentials file %s: %s", path,
			 r == -E2BIG ? "larger than 1 MiB" : strerror(-r));
		return r;
	}
	r = dr_credentials_parse(data.buf, data.len, out, inner, sizeof inner);
	dr_buf_release(&data);
	if (r < 0) {
		snprintf(err, errlen, "credentials file %s is unusable: %s; fix or delete it and pair again", path, inner);
		return r;
	}
	if (insecure_mode && (st.st_mode & 077))
		*insecure_mode = st.st_mode & 0777;
	return 0;
}

int dr_credentials_save(const struct dr_credentials *c, const char *path, char *err, size_t errlen)
{
	char *text = cJSON_Print(c->root);
	if (!text)
		abort();
	size_t len = strlen(text);
	/* Indentation can multiply a deeply nested file: never write what load refuses. */
	if (len + 1 > CREDENTIALS_MAX_BYTES) {
		free(text);
		text = dr_json_print(c->root);
		len = strlen(text);
	}
	if (len + 1 > CREDENTIALS_MAX_BYTES) {
		free(text);
		snprintf(err, errlen, "cannot write credentials file %s: it would be larger than 1 MiB", path);
		return -E2BIG;
	}
	text = dr_xrealloc(text, len + 2);
	text[len++] = '\n';
	text[len] = '\0';
	int r = check_place(path, err, errlen);
	if (r == 0 && (r = dr_fsutil_write_atomic(path, text, len, 0600, 0700)) < 0)
		snprintf(err, errlen, "cannot write credentials file %s: %s", path, strerror(-r));
	memset(text, 0, len);
	free(text);
	return r;
}

void dr_credentials_free(struct dr_credentials *c)
{
	if (!c)
		return;
	cJSON_Delete(c->root);
	free(c);
}

static cJSON *profiles_of(const struct dr_credentials *c)
{
	return cJSON_GetObjectItemCaseSensitive(c->root, "profiles");
}

int dr_credentials_get(const struct dr_credentials *c, const char *name, struct dr_profile *out)
{
	const cJSON *p = dr_json_obj(profiles_of(c), name);
	if (!p)
		return -ENOENT;
	const char *url = dr_json_nonempty(p, "relayUrl");
	const char *id = dr_json_nonempty(p, "runnerId");
	const char *bearer = dr_json_nonempty(p, "bearer");
	if (!url || !id || !bearer || !dr_credentials_runner_id_valid(id))
		return -EINVAL;
	memset(out, 0, sizeof *out);
	out->relay_url = dr_xstrdup(url);
	out->runner_id = dr_xstrdup(id);
	out->bearer = dr_xstrdup(bearer);
	out->paired_at = dr_xstrdup(dr_json_str(p, "pairedAt"));
	out->workspace_root = dr_xstrdup(dr_json_nonempty(p, "workspaceRoot"));
	const cJSON *ex = dr_json_array(p, "supportedExecutors");
	const cJSON *it;
	struct dr_strv executors = DR_STRV_INIT;
	cJSON_ArrayForEach(it, ex)
		if (cJSON_IsString(it))
			dr_strv_push(&executors, it->valuestring);
	/* NULL when the profile names none, as it was read. */
	out->supported_executors = executors.v;
	return 0;
}

static void set_str(cJSON *obj, const char *key, const char *value)
{
	if (!value)
		return;
	if (cJSON_GetObjectItemCaseSensitive(obj, key))
		cJSON_ReplaceItemInObjectCaseSensitive(obj, key, cJSON_CreateString(value));
	else
		cJSON_AddStringToObject(obj, key, value);
}

void dr_credentials_set(struct dr_credentials *c, const char *name, const struct dr_profile *p)
{
	cJSON *profiles = profiles_of(c);
	cJSON *obj;
	/* Drop non-object entries of that name until get() would find ours first. */
	while ((obj = cJSON_GetObjectItemCaseSensitive(profiles, name)) && !cJSON_IsObject(obj))
		cJSON_DeleteItemFromObjectCaseSensitive(profiles, name);
	if (!obj)
		obj = cJSON_AddObjectToObject(profiles, name);
	set_str(obj, "relayUrl", p->relay_url);
	set_str(obj, "runnerId", p->runner_id);
	set_str(obj, "bearer", p->bearer);
	set_str(obj, "pairedAt", p->paired_at);
	set_str(obj, "workspaceRoot", p->workspace_root);
	if (p->supported_executors) {
		cJSON *arr = cJSON_CreateArray();
		for (char **e = p->supported_executors; *e; e++)
			cJSON_AddItemToArray(arr, cJSON_CreateString(*e));
		if (cJSON_GetObjectItemCaseSensitive(obj, "supportedExecutors"))
			cJSON_ReplaceItemInObjectCaseSensitive(obj, "supportedExecutors", arr);
		else
			cJSON_AddItemToObject(obj, "supportedExecutors", arr);
	}
}

int dr_credentials_remove(struct dr_credentials *c, const char *name)
{
	cJSON *profiles = profiles_of(c);
	if (!cJSON_GetObjectItemCaseSensitive(profiles, name))
		return -ENOENT;
	cJSON_DeleteItemFromObjectCaseSensitive(profiles, name);
	return 0;
}

char **dr_credentials_names(const struct dr_credentials *c)
{
	struct dr_strv names = DR_STRV_INIT;
	const cJSON *it;
	cJSON_ArrayForEach(it, profiles_of(c))
		if (cJSON_IsObject(it))
			dr_strv_push(&names, it->string);
	return dr_strv_take(&names);
}
