/*
 * libFuzzer harness: the bytes of a YAML config file through
 * dr_config_parse, what `delego-runner --config PATH` with an empty
 * environment does with the file's contents (no temporary file).
 * Every outcome must be 0 with a complete config, or one of the documented
 * negative codes with a non-empty error sentence.
 * Build and run: see tests/fuzz/README.md.
 */
#include "delego/config.h"
#include "delego/credentials.h"

#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const char path[] = "fuzz.yaml";

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *envp[] = { NULL };
	struct dr_config *c = NULL;
	char err[1024];
	memset(err, 0, sizeof err);
	int r = dr_config_parse((const char *)data, size, path, envp, &c, err, sizeof err);
	if (r == 0) {
		/* Success means a complete config: the fields every command reads. */
		if (!c || !c->profile || !dr_credentials_profile_name_valid(c->profile) || !c->workspace_root ||
		    !c->git_clone_base_url || !c->claude.command || !c->claude.args || !c->codex.command ||
		    !c->codex.args || !c->supported_executors || !c->supported_executors[0] || !c->config_path ||
		    strcmp(c->config_path, path) != 0 || !c->credentials_path || !c->state_dir ||
		    c->max_jobs < 1 || c->poll_interval_ms < 1000)
			abort();
		for (char **e = c->supported_executors; *e; e++)
			if (!dr_config_exec_cmd(c, *e))
				abort();
		char *d = dr_config_describe(c);
		free(d);
		dr_config_free(c);
		return 0;
	}
	if (r != -EINVAL && r != -ENOENT && r != -EIO && r != -EBADMSG)
		abort(); /* undocumented code */
	if (err[0] == '\0' || !memchr(err, '\0', sizeof err))
		abort(); /* every refusal must say why */
	return 0;
}
