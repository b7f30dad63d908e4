/*
 * libFuzzer harness: a spool file left by an earlier run, or planted by
 * someone who could write the spool, through dr_outbox_parse_entry. What
 * it accepts is only ever a known runner endpoint, a valid job id and a
 * JSON object body: nothing that could turn <relay URL><path> into
 * another host.
 * Build and run: see tests/fuzz/README.md.
 */
#include "delego/job.h"
#include "delego/json.h"
#include "delego/outbox.h"
#include "delego/relay.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *path = NULL, *job_id = NULL, *body = NULL;
	long long seq = -1;
	if (dr_outbox_parse_entry((const char *)data, size, &path, &job_id, &body, &seq) < 0)
		return 0;
	if (!dr_relay_path_known(path) || strncmp(path, "/api/runner/", 12) != 0 || strpbrk(path, "@:?#%\\"))
		abort();
	if (!dr_outbox_job_id_ok(job_id) || seq < 0)
		abort();
	cJSON *b = NULL;
	if (dr_json_parse_object(body, strlen(body), 1 << 22, &b) < 0)
		abort();
	cJSON_Delete(b);
	free(path);
	free(job_id);
	free(body);
	return 0;
}
