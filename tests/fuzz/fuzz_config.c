/*
 * libFuzzer harness: a YAML config file through the real dr_config_load,
 * as `delego-runner --config PATH` with an empty environment reads it.
 * Every outcome must be 0 with a complete config, or one of the documented
 * negative codes with a non-empty error sentence.
 * Build and run: see tests/fuzz/README.md.
 */
#include "delego/config.h"
#include "delego/credentials.h"

#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static char path[64];
static int fd = -1;

static void remove_file(void)
{
	unlink(path);
}

/* One file per fuzzing process, rewritten for every input. */
static void open_once(void)
{
	if (fd >= 0)
		return;
	const char *dir = access("/dev/shm", W_OK) == 0 ? "/dev/shm" : "/tmp";
	snprintf(path, sizeof path, "%s/fuzz_config-%ld.yaml", dir, (long)getpid());
	fd = open(path, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (fd < 0)
		abort();
	atexit(remove_file);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	open_once();
	if (ftruncate(fd, 0) < 0 || pwrite(fd, data, size, 0) != (ssize_t)size)
		abort();
	char *argv[] = { "--config", path, NULL };
	char *envp[] = { NULL };
	struct dr_config *c = NULL;
	char err[1024];
	memset(err, 0, sizeof err);
	int r = dr_config_load(2, argv, envp, &c, err, sizeof err);
	if (r == 0) {
		/* Success means a complete config: the fields every command reads. */
		if (!c || !c->profile || !dr_profile_name_valid(c->profile) || !c->workspace_root ||
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
