/*
 * strv: string vectors.
 *
 * A struct dr_strv is a growable vector of owned strings that keeps its count
 * and capacity, so a push costs O(1) amortised; its v is NULL-terminated after
 * the first push and can be passed as argv or envp as it is. dr_strv_take
 * hands the bare NULL-terminated vector to whoever returns or stores it; such
 * vectors are freed with dr_strv_free.
 */
#ifndef DELEGO_STRV_H
#define DELEGO_STRV_H

#include <stddef.h>

struct dr_strv {
	char **v;   /* NULL until the first push, then NULL-terminated */
	size_t n;   /* entries before the NULL */
	size_t cap; /* slots allocated, the NULL's included */
};

#define DR_STRV_INIT { NULL, 0, 0 }

/* Appends a copy of s. */
void dr_strv_push(struct dr_strv *sv, const char *s);
/* Appends s itself (a heap string, now the vector's). */
void dr_strv_push_take(struct dr_strv *sv, char *s);
/* Removes entry i (keeping the order) and frees it. */
void dr_strv_remove(struct dr_strv *sv, size_t i);
/* Hands over v, never NULL (an empty vector is just its NULL); sv is empty afterwards. */
char **dr_strv_take(struct dr_strv *sv);
/* Frees the strings and the vector; sv is empty afterwards. */
void dr_strv_release(struct dr_strv *sv);

/* Frees a NULL-terminated vector of strings (from dr_strv_take) and the vector itself. */
void dr_strv_free(char **v);
/* Number of entries of a NULL-terminated vector before its NULL. */
size_t dr_strv_len(char *const *v);

#endif
