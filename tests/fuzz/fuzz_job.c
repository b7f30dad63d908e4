/*
 * libFuzzer harness: a relay's poll answer "job" object through
 * dr_job_parse, then everything the pipeline derives from a parsed job.
 * Build and run: see tests/fuzz/README.md.
 */
#include "delego/job.h"
#include "delego/json.h"
#include "delego/prompt.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	cJSON *in = NULL;
	if (dr_json_parse_object((const char *)data, size, 1 << 20, &in) < 0)
		return 0;
	struct dr_job *job = NULL;
	char err[256];
	int r = dr_job_parse(in, &job, err, sizeof err);
	if (r < 0 && strlen(err) == 0)
		abort(); /* every refusal must say why */
	if (job) {
		if (!dr_job_id_valid(job->id))
			abort();
		char *branch = dr_job_branch_name(job);
		free(branch);
	}
	if (r == 0) {
		if (job->repository_slug && !dr_job_slug_valid(job->repository_slug))
			abort();
		if ((job->resume_session_id == NULL) != (job->resume_user_reply == NULL))
			abort();
		char *p = dr_prompt_build(job, "claude", job->auto_create_pr);
		if (strlen(p) > DR_PROMPT_MAX)
			abort();
		free(p);
		p = dr_prompt_build(job, "codex", false);
		free(p);
	}
	dr_job_free(job);
	cJSON_Delete(in);
	return 0;
}
