/* json: bounded parsing and typed getters on cJSON. */
#include "delego/json.h"
#include "delego/xalloc.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

/* cJSON's own nesting limit is 1000; ours is lower and checked before
 * parsing so that a hostile body cannot make the parser recurse deeply. */
static bool nesting_ok(const char *p, size_t len)
{
	int depth = 0;
	bool in_string = false;
	for (size_t i = 0; i < len; i++) {
		char c = p[i];
		if (in_string) {
			if (c == '\\')
				i++;
			else if (c == '"')
				in_string = false;
			continue;
		}
		if (c == '"')
			in_string = true;
		else if (c == '{' || c == '[') {
			if (++depth > DR_JSON_MAX_DEPTH)
				return false;
		} else if (c == '}' || c == ']')
			depth--;
	}
	return true;
}

int dr_json_parse(const char *data, size_t len, size_t max_len, cJSON **out)
{
	if (len > max_len || !nesting_ok(data, len))
		return -E2BIG;
	cJSON *root = cJSON_ParseWithLength(data, len);
	if (!root)
		return -EINVAL;
	*out = root;
	return 0;
}

int dr_json_parse_object(const char *data, size_t len, size_t max_len, cJSON **out)
{
	cJSON *root;
	int r = dr_json_parse(data, len, max_len, &root);
	if (r < 0)
		return r;
	if (!cJSON_IsObject(root)) {
		cJSON_Delete(root);
		return -EINVAL;
	}
	*out = root;
	return 0;
}

int dr_json_parse_pruned(const char *data, size_t len, size_t max_len, cJSON **out)
{
	if (len > max_len)
		return -E2BIG;
	char *copy = dr_xmalloc(2 * len + 5); /* "{}" becomes "null": at most twice as long */
	size_t n = 0, skip_from = 0;
	int depth = 0;
	bool in_string = false;
	for (size_t i = 0; i < len; i++) {
		char c = data[i];
		bool skipping = depth > DR_JSON_MAX_DEPTH;
		if (in_string) {
			if (c == '\\' && i + 1 < len) {
				if (!skipping)
					copy[n++] = c;
				c = data[++i];
			} else if (c == '"') {
				in_string = false;
			}
		} else if (c == '"') {
			in_string = true;
		} else if (c == '{' || c == '[') {
			if (++depth == DR_JSON_MAX_DEPTH + 1)
				skip_from = n;
		} else if (c == '}' || c == ']') {
			if (depth-- == DR_JSON_MAX_DEPTH + 1) {
				memcpy(copy + skip_from, "null", 4);
				n = skip_from + 4;
				continue;
			}
		}
		if (!skipping && depth <= DR_JSON_MAX_DEPTH)
			copy[n++] = c;
	}
	if (depth > DR_JSON_MAX_DEPTH) /* unterminated: the parse below fails */
		n = skip_from;
	cJSON *root = cJSON_ParseWithLength(copy, n);
	free(copy);
	if (!cJSON_IsObject(root)) {
		cJSON_Delete(root);
		return -EINVAL;
	}
	*out = root;
	return 0;
}

const char *dr_json_str(const cJSON *obj, const char *key)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(obj, key);
	return cJSON_IsString(v) ? v->valuestring : NULL;
}

const char *dr_json_nonempty(const cJSON *obj, const char *key)
{
	const char *s = dr_json_str(obj, key);
	return s && *s ? s : NULL;
}

const cJSON *dr_json_obj(const cJSON *obj, const char *key)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(obj, key);
	return cJSON_IsObject(v) ? v : NULL;
}

const cJSON *dr_json_array(const cJSON *obj, const char *key)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(obj, key);
	return cJSON_IsArray(v) ? v : NULL;
}

bool dr_json_true(const cJSON *obj, const char *key)
{
	return cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(obj, key));
}

double dr_json_num(const cJSON *obj, const char *key, double fallback)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(obj, key);
	return cJSON_IsNumber(v) ? v->valuedouble : fallback;
}

void dr_json_add_str_or_null(cJSON *obj, const char *key, const char *s)
{
	if (s)
		cJSON_AddStringToObject(obj, key, s);
	else
		cJSON_AddNullToObject(obj, key);
}

char *dr_json_print(const cJSON *item)
{
	char *s = cJSON_PrintUnformatted(item);
	if (!s)
		abort();
	return s;
}
