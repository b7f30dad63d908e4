/* strv: string vectors that keep their count. */
#include "delego/strv.h"

#include <stdlib.h>
#include <string.h>

#include "delego/xalloc.h"

void dr_strv_push_take(struct dr_strv *sv, char *s)
{
	if (sv->n + 2 > sv->cap) {
		sv->cap = sv->cap ? sv->cap * 2 : 8;
		sv->v = dr_xrealloc(sv->v, sv->cap * sizeof *sv->v);
	}
	sv->v[sv->n++] = s;
	sv->v[sv->n] = NULL;
}

void dr_strv_push(struct dr_strv *sv, const char *s)
{
	dr_strv_push_take(sv, dr_xstrdup(s));
}

void dr_strv_remove(struct dr_strv *sv, size_t i)
{
	if (i >= sv->n)
		return;
	free(sv->v[i]);
	/* The NULL moves down with the rest. */
	memmove(&sv->v[i], &sv->v[i + 1], (sv->n - i) * sizeof *sv->v);
	sv->n--;
}

char **dr_strv_take(struct dr_strv *sv)
{
	char **v = sv->v ? sv->v : dr_xcalloc(1, sizeof *v);
	*sv = (struct dr_strv)DR_STRV_INIT;
	return v;
}

void dr_strv_release(struct dr_strv *sv)
{
	dr_strv_free(sv->v);
	*sv = (struct dr_strv)DR_STRV_INIT;
}

void dr_strv_free(char **v)
{
	if (!v)
		return;
	for (char **p = v; *p; p++)
		free(*p);
	free(v);
}

size_t dr_strv_len(char *const *v)
{
	size_t n = 0;
	while (v && v[n])
		n++;
	return n;
}
