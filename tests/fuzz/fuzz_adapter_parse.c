/*
 * libFuzzer harness: the adapters' own JSON parse (lib/adapter_parse.c)
 * against cJSON. The first byte picks how much of each string is kept;
 * the rest is the line. Whenever both parse it whole, the trees print the
 * same; the parse with strings cut has the same shape, and each of its
 * strings is a prefix of the whole one, at most that long, ending on a
 * character boundary.
 */
#include "../../lib/adapter-int.h"
#include "delego/json.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void same_shape(const cJSON *whole, const cJSON *cut, size_t keep)
{
	if (!whole || !cut || (whole->type & 0xff) != (cut->type & 0xff))
		abort();
	if ((whole->string == NULL) != (cut->string == NULL) || (whole->string && strcmp(whole->string, cut->string)))
		abort();
	if (cJSON_IsString(whole)) {
		size_t n = strlen(cut->valuestring);
		if (n > keep && n != strlen(whole->valuestring))
			abort();
		if (strncmp(whole->valuestring, cut->valuestring, n) != 0)
			abort();
		if (n < strlen(whole->valuestring) && n > 0 && ((unsigned char)whole->valuestring[n] & 0xc0) == 0x80 &&
		    (unsigned char)cut->valuestring[n - 1] >= 0xc0)
			abort(); /* ends with a lead byte whose character was cut */
	}
	if (cJSON_IsNumber(whole) && whole->valuedouble != cut->valuedouble && whole->valuedouble == whole->valuedouble)
		abort();
	const cJSON *a = whole->child, *b = cut->child;
	for (; a && b; a = a->next, b = b->next)
		same_shape(a, b, keep);
	if (a || b)
		abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < 2)
		return 0;
	size_t keep = (size_t)data[0] * 3;
	size_t len = size - 1;
	/* An exact-size copy, so that reading past the line is caught. */
	char *line = malloc(len);
	memcpy(line, data + 1, len);
	bool cut = true;
	cJSON *whole = dr__adapter_parse(line, len, SIZE_MAX, &cut);
	if (whole && cut)
		abort();
	cJSON *want = cJSON_ParseWithLength(line, len);
	if (whole && want) {
		char *w = dr_json_print(want), *g = dr_json_print(whole);
		if (strcmp(w, g) != 0)
			abort();
		free(w);
		free(g);
	}
	if (whole) {
		cJSON *part = dr__adapter_parse(line, len, keep, NULL);
		same_shape(whole, part, keep);
		cJSON_Delete(part);
	}
	cJSON_Delete(want);
	cJSON_Delete(whole);
	free(line);
	return 0;
}
