/*
 * libFuzzer harness: agent stdout through both adapters, line by line,
 * with the invariants the pipeline relies on checked on every progress
 * line. Build and run: see tests/fuzz/README.md.
 */
#include "delego/adapter.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check_line(const char *p)
{
	if (strlen(p) > DR_ADAPTER_PROGRESS_MAX || strchr(p, '\n') || strchr(p, '\r'))
		abort();
}

static void run(const char *executor, const char *text, size_t size)
{
	struct dr_adapter *a = dr_adapter_new(executor);
	const char *p = text, *end = text + size;
	while (p < end) {
		const char *nl = memchr(p, '\n', (size_t)(end - p));
		size_t n = nl ? (size_t)(nl - p) : (size_t)(end - p);
		/* An exact-size copy, so that reading past the line is caught. */
		char *line = malloc(n ? n : 1);
		memcpy(line, p, n);
		char *progress = dr_adapter_feed(a, line, n, false);
		free(line);
		if (progress)
			check_line(progress);
		free(progress);
		p += n + 1;
	}
	if (dr_adapter_should_stop(a) && (!dr_adapter_question(a) || !dr_adapter_session_id(a)))
		abort();
	const char *s = dr_adapter_final_reply(a);
	if (s && strlen(s) > DR_ADAPTER_REPLY_MAX)
		abort();
	s = dr_adapter_fatal_error(a);
	if (s && strlen(s) > DR_ADAPTER_ERROR_MAX)
		abort();
	dr_adapter_free(a);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *text = malloc(size + 1);
	memcpy(text, data, size);
	text[size] = '\0';
	run("claude", text, size);
	run("codex", text, size);
	free(dr_adapter_explain_failure("claude", text, text));
	free(dr_adapter_explain_failure("codex", text, NULL));
	free(text);
	return 0;
}
