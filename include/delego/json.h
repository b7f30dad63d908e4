/*
 * json: bounded parsing and typed getters on cJSON.
 *
 * Everything from the relay or an agent is untrusted: these helpers refuse
 * oversize input and deep nesting, and the getters return NULL (or the
 * fallback) on a wrong type instead of trusting the shape.
 */
#ifndef DELEGO_JSON_H
#define DELEGO_JSON_H

#include <cjson/cJSON.h>
#include <stdbool.h>
#include <stddef.h>

#define DR_JSON_MAX_DEPTH 64

/*
 * Parses len bytes into *out. Fails with -E2BIG when len > max_len or the
 * nesting is deeper than DR_JSON_MAX_DEPTH, -EINVAL when not valid JSON.
 */
int dr_json_parse(const char *data, size_t len, size_t max_len, cJSON **out);
/* As dr_json_parse, and the root must be an object. */
int dr_json_parse_object(const char *data, size_t len, size_t max_len, cJSON **out);
/*
 * As dr_json_parse_object for a text nested too deep: every value nested
 * deeper than DR_JSON_MAX_DEPTH becomes null, so that the shallow part
 * (e.g. a job's id) can still be read.
 */
int dr_json_parse_pruned(const char *data, size_t len, size_t max_len, cJSON **out);

/* The string at key, or NULL when absent or not a string. Borrowed. */
const char *dr_json_str(const cJSON *obj, const char *key);
/* The non-empty string at key, or NULL. Borrowed. */
const char *dr_json_nonempty(const cJSON *obj, const char *key);
/* The object at key, or NULL when absent or not an object. Borrowed. */
const cJSON *dr_json_obj(const cJSON *obj, const char *key);
const cJSON *dr_json_array(const cJSON *obj, const char *key);
/* true only for JSON true. */
bool dr_json_true(const cJSON *obj, const char *key);
/* The number at key, or fallback. */
double dr_json_num(const cJSON *obj, const char *key, double fallback);

/* Adds key: s, or key: null when s is NULL. */
void dr_json_add_str_or_null(cJSON *obj, const char *key, const char *s);
/* Serializes compactly; caller frees. Never NULL (aborts on OOM). */
char *dr_json_print(const cJSON *item);

#endif
