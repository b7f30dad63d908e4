/*
 * adapter_parse: a JSON event line into cJSON, cheaply when its strings
 * are long. An agent's text events carry up to a megabyte of text of which
 * the adapters use a progress line's worth, so a string decodes only its
 * first `keep` bytes; the rest is only scanned for its closing quote.
 * Keys are always whole.
 */
#include "adapter-int.h"
#include "delego/json.h"
#include "delego/redact.h"
#include "delego/xalloc.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

struct parse {
	const char *p, *end;
	size_t keep;
	int depth;
	bool cut;
};

static cJSON *parse_value(struct parse *s);

/* As cJSON: every byte up to the space counts as white space. */
static void skip_ws(struct parse *s)
{
	while (s->p < s->end && (unsigned char)*s->p <= ' ')
		s->p++;
}

static int hex4(const char *p)
{
	int v = 0;
	for (int i = 0; i < 4; i++) {
		char c = p[i];
		int d = c >= '0' && c <= '9' ? c - '0' : (c | 0x20) >= 'a' && (c | 0x20) <= 'f' ? (c | 0x20) - 'a' + 10 : -1;
		if (d < 0)
			return -1;
		v = v * 16 + d;
	}
	return v;
}

/* One \u escape at p (after the backslash and 'u'), a surrogate pair included, as UTF-8 into out. */
static int unicode_escape(const char *p, const char *end, char *out, size_t *used)
{
	if (end - p < 4)
		return -1;
	long cp = hex4(p);
	*used = 4;
	if (cp < 0 || (cp >= 0xdc00 && cp <= 0xdfff))
		return -1;
	if (cp >= 0xd800 && cp <= 0xdbff) {
		if (end - p < 10 || p[4] != '\\' || p[5] != 'u')
			return -1;
		long lo = hex4(p + 6);
		if (lo < 0xdc00 || lo > 0xdfff)
			return -1;
		cp = 0x10000 + ((cp - 0xd800) << 10) + (lo - 0xdc00);
		*used = 10;
	}
	int n;
	if (cp < 0x80) {
		out[0] = (char)cp;
		n = 1;
	} else if (cp < 0x800) {
		out[0] = (char)(0xc0 | (cp >> 6));
		out[1] = (char)(0x80 | (cp & 0x3f));
		n = 2;
	} else if (cp < 0x10000) {
		out[0] = (char)(0xe0 | (cp >> 12));
		out[1] = (char)(0x80 | ((cp >> 6) & 0x3f));
		out[2] = (char)(0x80 | (cp & 0x3f));
		n = 3;
	} else {
		out[0] = (char)(0xf0 | (cp >> 18));
		out[1] = (char)(0x80 | ((cp >> 12) & 0x3f));
		out[2] = (char)(0x80 | ((cp >> 6) & 0x3f));
		out[3] = (char)(0x80 | (cp & 0x3f));
		n = 4;
	}
	return n;
}

/* The end of the string whose content starts at p: its closing quote, or NULL. */
static const char *string_end(const char *p, const char *end)
{
	for (;;) {
		const char *q = memchr(p, '"', (size_t)(end - p));
		if (!q)
			return NULL;
		size_t slashes = 0;
		while (q - slashes > p && q[-1 - (long)slashes] == '\\')
			slashes++;
		if (slashes % 2 == 0)
			return q;
		p = q + 1;
	}
}

/* A string at s->p (its opening quote): decoded up to keep bytes, cut on a character boundary. */
static char *parse_string(struct parse *s, size_t keep)
{
	const char *p = s->p + 1;
	const char *close = string_end(p, s->end);
	if (!close)
		return NULL;
	size_t raw = (size_t)(close - p);
	size_t cap = raw < keep ? raw : keep;
	char *out = dr_xmalloc(cap + 5);
	size_t n = 0;
	while (p < close && n < cap) {
		const char *bs = memchr(p, '\\', (size_t)(close - p));
		size_t plain = (size_t)((bs ? bs : close) - p);
		if (plain > cap - n)
			plain = cap - n;
		memcpy(out + n, p, plain);
		n += plain;
		p += plain;
		if (p == close || n >= cap || *p != '\\')
			break;
		char c = p[1];
		const char *simple = strchr("\"\\/bfnrt", c);
		if (c && simple) {
			out[n++] = "\"\\/\b\f\n\r\t"[simple - "\"\\/bfnrt"];
			p += 2;
		} else if (c == 'u') {
			size_t used;
			int k = unicode_escape(p + 2, close, out + n, &used);
			if (k < 0) {
				free(out);
				return NULL;
			}
			n += (size_t)k;
			p += 2 + used;
		} else {
			free(out);
			return NULL;
		}
	}
	bool cut = p < close;
	if (cut) {
		s->cut = true;
		if (n > cap)
			n = cap;
		/* Back to the start of a character: a partial one would read as an invalid byte. */
		size_t k = n;
		while (k > 0 && ((unsigned char)out[k - 1] & 0xc0) == 0x80)
			k--;
		if (k > 0 && (unsigned char)out[k - 1] >= 0xc0) {
			unsigned char lead = (unsigned char)out[k - 1];
			size_t need = lead >= 0xf0 ? 4 : lead >= 0xe0 ? 3 : 2;
			if (n - (k - 1) < need)
				n = k - 1;
		}
	}
	out[n] = '\0';
	s->p = close + 1;
	/* Redact before the cut: a secret the cut runs through leaves no piece behind. */
	if (cut) {
		char *red = dr_redact_dup(NULL, out, n, DR_REDACT_CUT_END, NULL);
		free(out);
		out = red;
	}
	return out;
}

static bool literal(struct parse *s, const char *word)
{
	size_t n = strlen(word);
	if ((size_t)(s->end - s->p) < n || memcmp(s->p, word, n) != 0)
		return false;
	s->p += n;
	return true;
}

static cJSON *parse_number(struct parse *s)
{
	char buf[64];
	size_t n = 0;
	while (s->p + n < s->end && n < sizeof buf - 1 && strchr("+-0123456789.eE", s->p[n]) && s->p[n])
		n++;
	memcpy(buf, s->p, n);
	buf[n] = '\0';
	char *after;
	double v = strtod(buf, &after);
	if (n == 0 || (size_t)(after - buf) != n || !(buf[0] == '-' || (buf[0] >= '0' && buf[0] <= '9')))
		return NULL;
	s->p += n;
	return cJSON_CreateNumber(v);
}

/* Members or elements up to the closing bracket; object: each preceded by a key. */
static cJSON *parse_container(struct parse *s, bool object)
{
	if (++s->depth > DR_JSON_MAX_DEPTH)
		return NULL;
	char close = object ? '}' : ']';
	cJSON *c = object ? cJSON_CreateObject() : cJSON_CreateArray();
	s->p++;
	skip_ws(s);
	if (s->p < s->end && *s->p == close) {
		s->p++;
		s->depth--;
		return c;
	}
	for (;;) {
		char *key = NULL;
		skip_ws(s);
		if (object) {
			if (s->p >= s->end || *s->p != '"' || !(key = parse_string(s, SIZE_MAX)))
				goto fail;
			skip_ws(s);
			if (s->p >= s->end || *s->p != ':') {
				free(key);
				goto fail;
			}
			s->p++;
		}
		cJSON *v = parse_value(s);
		if (!v) {
			free(key);
			goto fail;
		}
		v->string = key;
		cJSON_AddItemToArray(c, v);
		skip_ws(s);
		if (s->p < s->end && *s->p == ',') {
			s->p++;
			continue;
		}
		if (s->p < s->end && *s->p == close) {
			s->p++;
			s->depth--;
			return c;
		}
		goto fail;
	}
fail:
	cJSON_Delete(c);
	return NULL;
}

static cJSON *parse_value(struct parse *s)
{
	skip_ws(s);
	if (s->p >= s->end)
		return NULL;
	switch (*s->p) {
	case '{':
		return parse_container(s, true);
	case '[':
		return parse_container(s, false);
	case '"': {
		char *str = parse_string(s, s->keep);
		if (!str)
			return NULL;
		cJSON *v = cJSON_CreateNull();
		v->type = cJSON_String;
		v->valuestring = str;
		return v;
	}
	case 't':
		return literal(s, "true") ? cJSON_CreateTrue() : NULL;
	case 'f':
		return literal(s, "false") ? cJSON_CreateFalse() : NULL;
	case 'n':
		return literal(s, "null") ? cJSON_CreateNull() : NULL;
	default:
		return parse_number(s);
	}
}

cJSON *dr__adapter_parse(const char *line, size_t len, size_t keep, bool *cut)
{
	struct parse s = { .p = line, .end = line + len, .keep = keep };
	skip_ws(&s);
	if (s.p >= s.end || *s.p != '{')
		return NULL;
	/* As cJSON_ParseWithLength, what follows the object is not looked at. */
	cJSON *v = parse_value(&s);
	if (v && cut)
		*cut = s.cut;
	return v;
}
