/*
 * redact_reference.h: the redaction rule, written independently of
 * lib/redact.c, for test_redact.c and the fuzz harness: mark every byte of
 * every occurrence of every secret, then print each run of marked bytes as
 * one mask.
 */
#ifndef DR_TEST_REDACT_REFERENCE_H
#define DR_TEST_REDACT_REFERENCE_H

#include <stdlib.h>
#include <string.h>

#include "delego/buf.h"
#include "delego/redact.h"
#include "delego/xalloc.h"

static char *redact_reference(char **secrets, size_t nsecrets, const char *text, size_t len, size_t *out_len)
{
	unsigned char *covered = dr_xcalloc(len + 1, 1);
	for (size_t k = 0; k < nsecrets; k++) {
		size_t sl = strlen(secrets[k]);
		for (size_t i = 0; i + sl <= len; i++)
			if (memcmp(text + i, secrets[k], sl) == 0)
				memset(covered + i, 1, sl);
	}
	struct dr_buf b = DR_BUF_INIT(0);
	for (size_t i = 0; i < len; i++) {
		if (!covered[i])
			dr_buf_addch(&b, text[i]);
		else if (i == 0 || !covered[i - 1])
			dr_buf_addstr(&b, DR_REDACT_MASK);
	}
	free(covered);
	return dr_buf_detach(&b, out_len);
}

#endif
