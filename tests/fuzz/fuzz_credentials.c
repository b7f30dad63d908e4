/*
 * libFuzzer harness: a credentials file through dr_credentials_parse; for
 * a parsable one, set a profile, save it through dr_credentials_save and
 * load it back: the round trip must succeed, keep the profile just set,
 * and keep every other profile name (unknown content survives a rewrite).
 * Build and run: see tests/fuzz/README.md.
 */
#include "delego/credentials.h"
#include "delego/strv.h"
#include "delego/xalloc.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static char dir[64];
static char path[96];

static void remove_file(void)
{
	unlink(path);
	rmdir(dir);
}

/* A private directory: the credentials module refuses /dev/shm and /tmp themselves. */
static void path_once(void)
{
	if (path[0])
		return;
	snprintf(dir, sizeof dir, "%s/fuzz_credentials-XXXXXX", access("/dev/shm", W_OK) == 0 ? "/dev/shm" : "/tmp");
	if (!mkdtemp(dir))
		abort();
	snprintf(path, sizeof path, "%s/credentials.json", dir);
	atexit(remove_file);
}

static bool same_str(const char *a, const char *b)
{
	return (!a && !b) || (a && b && strcmp(a, b) == 0);
}

static bool same_names(char **a, char **b)
{
	for (; *a && *b; a++, b++)
		if (strcmp(*a, *b) != 0)
			return false;
	return !*a && !*b;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char err[512] = "";
	struct dr_credentials *c = NULL;
	if (dr_credentials_parse((const char *)data, size, &c, err, sizeof err) < 0) {
		if (!err[0])
			abort(); /* every refusal must say why */
		return 0;
	}
	/* Whatever was there: a profile the caller sets is readable back. */
	char *ex[] = { "claude", "codex", NULL };
	struct dr_profile p = {
		.relay_url = "https://relay.example.com",
		.runner_id = "run_fuzz",
		.bearer = "drs_bearer_fuzz",
		.paired_at = "2026-01-01T00:00:00.000Z",
		.workspace_root = "/srv/work",
		.supported_executors = ex,
	};
	dr_credentials_set(c, "fuzz", &p);
	struct dr_profile got;
	if (dr_credentials_get(c, "fuzz", &got) != 0)
		abort();
	dr_credentials_profile_release(&got);

	path_once();
	if (dr_credentials_save(c, path, err, sizeof err) < 0)
		abort();
	struct dr_credentials *back = NULL;
	if (dr_credentials_load(path, &back, NULL, err, sizeof err) < 0) {
		fprintf(stderr, "round trip refused: %s\n", err);
		abort();
	}
	if (dr_credentials_get(back, "fuzz", &got) != 0)
		abort();
	if (!same_str(got.relay_url, p.relay_url) || !same_str(got.runner_id, p.runner_id) ||
	    !same_str(got.bearer, p.bearer) || !same_str(got.paired_at, p.paired_at) ||
	    !same_str(got.workspace_root, p.workspace_root) || !got.supported_executors ||
	    !same_names(got.supported_executors, ex))
		abort();
	dr_credentials_profile_release(&got);
	char **before = dr_credentials_names(c), **after = dr_credentials_names(back);
	if (!same_names(before, after))
		abort();
	dr_strv_free(before);
	dr_strv_free(after);
	dr_credentials_free(back);
	dr_credentials_free(c);
	return 0;
}
