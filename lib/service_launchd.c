/*
 * service_launchd: the macOS side of the service module. Not written yet:
 * every call says so, and names the command that works meanwhile. The
 * label and path follow the Node runner's (app.delego.runner.<profile>).
 */
#ifdef __APPLE__
#include "delego/service.h"
#include "delego/xalloc.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define NOT_YET "launchd services are not supported by this delego-runner yet: run `delego-runner run` from a " \
		"terminal, or write a LaunchAgent that runs it"

char *dr_service_unit_name(const char *profile)
{
	return dr_xasprintf("app.delego.runner.%s", profile);
}

char *dr_service_unit_path(const char *profile)
{
	const char *home = getenv("HOME");
	return dr_xasprintf("%s/Library/LaunchAgents/app.delego.runner.%s.plist", home ? home : "", profile);
}

char *dr_service_quote_exec(const char *word)
{
	return dr_xstrdup(word);
}

int dr_service_render_unit(const struct dr_service_spec *spec, char **out, char *err, size_t errlen)
{
	(void)spec;
	(void)out;
	snprintf(err, errlen, "%s", NOT_YET);
	return -ENOTSUP;
}

void dr_service_query(const char *profile, struct dr_service_state *out)
{
	memset(out, 0, sizeof *out);
	char *path = dr_service_unit_path(profile);
	out->installed = access(path, F_OK) == 0;
	free(path);
	snprintf(out->active, sizeof out->active, out->installed ? "unknown" : "not-installed");
	snprintf(out->error, sizeof out->error, "%s", NOT_YET);
}

int dr_service_ctl(const char *verb, const char *profile, bool no_block, char *err, size_t errlen)
{
	(void)verb;
	(void)profile;
	(void)no_block;
	snprintf(err, errlen, "%s", NOT_YET);
	return -ENOTSUP;
}
#endif
