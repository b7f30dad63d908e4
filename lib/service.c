/*
 * service: what every service backend shares: the check of a spec, where
 * the running program is, and reading what the daemon left in its state
 * directory. The backends use it; it uses no backend.
 * Portable: libuv and POSIX only.
 */
#include "delego/service.h"
#include "delego/credentials.h"
#include "delego/fsutil.h"
#include "delego/json.h"
#include "delego/strv.h"
#include "delego/xalloc.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <uv.h>


#define STATUS_FILE_MAX (256 * 1024)

int dr_service_spec_check(const struct dr_service_spec *spec, char *err, size_t errlen)
{
	if (!spec->profile || !dr_credentials_profile_name_valid(spec->profile)) {
		snprintf(err, errlen, "'%s' is not a valid profile name (^[a-z0-9][a-z0-9-]{0,63}$)",
			 spec->profile ? spec->profile : "");
		return -EINVAL;
	}
	if (!spec->exe || spec->exe[0] != '/') {
		snprintf(err, errlen, "the service needs the absolute path of delego-runner (got '%s')",
			 spec->exe ? spec->exe : "");
		return -EINVAL;
	}
	return 0;
}

int dr_service_self_exe(char **out, char *err, size_t errlen)
{
	/* libuv knows each system's way: /proc/self/exe, _NSGetExecutablePath, sysctl. */
	char path[PATH_MAX];
	size_t n = sizeof path;
	int r = uv_exepath(path, &n);
	if (r < 0 || n == 0 || path[0] != '/') {
		snprintf(err, errlen, "cannot find the path of the running delego-runner program (%s); run it by its "
			 "absolute path", r < 0 ? uv_strerror(r) : "not an absolute path");
		return r < 0 ? r : -ENOENT;
	}
	/* Linux marks a replaced binary; a unit must not point at it. */
	if (n > 10 && strcmp(path + n - 10, " (deleted)") == 0) {
		snprintf(err, errlen, "the running program %s was replaced on disk (an upgrade?); run the new "
			 "delego-runner again", path);
		return -ESTALE;
	}
	*out = dr_service_stable_exe(path);
	return 0;
}

char *dr_service_stable_exe(const char *path)
{
	/* PREFIX/Cellar/NAME/VERSION/bin/PROG: PREFIX/opt/NAME points at the installed VERSION. */
	const char *cellar = strstr(path, "/Cellar/");
	const char *name = cellar ? cellar + 8 : NULL;
	const char *version = name ? strchr(name, '/') : NULL;
	const char *bin = version ? strchr(version + 1, '/') : NULL;
	if (!bin || bin == version + 1 || version == name || strncmp(bin, "/bin/", 5) != 0 || strchr(bin + 5, '/'))
		return dr_xstrdup(path);
	char *opt = dr_xasprintf("%.*s/opt/%.*s%s", (int)(cellar - path), path, (int)(version - name), name, bin);
	char real[PATH_MAX];
	if (realpath(opt, real) && strcmp(real, path) == 0)
		return opt;
	free(opt);
	return dr_xstrdup(path);
}

static char *dup_str(const cJSON *o, const char *key)
{
	const char *s = dr_json_str(o, key);
	return s ? dr_xstrndup(s, strlen(s) > 1024 ? 1024 : strlen(s)) : NULL;
}

int dr_service_read_status(const char *state_dir, struct dr_service_status *out, char *err, size_t errlen)
{
	char *path = dr_xasprintf("%s/status.json", state_dir);
	struct dr_buf b = DR_BUF_INIT(STATUS_FILE_MAX);
	cJSON *j = NULL;
	int r = dr_fsutil_read_file(path, &b, NULL);
	if (r < 0) {
		snprintf(err, errlen, "cannot read %s: %s", path, r == -E2BIG ? "too large" : strerror(-r));
		goto out;
	}
	if (dr_json_parse_object(b.buf, b.len, STATUS_FILE_MAX, &j) < 0) {
		snprintf(err, errlen, "%s is not a JSON object; the daemon rewrites it on its next heartbeat", path);
		r = -EBADMSG;
		goto out;
	}
	struct dr_service_status s = { 0 };
	s.pid = (long)dr_json_num(j, "pid", 0);
	s.alive = s.pid > 0 && (kill((pid_t)s.pid, 0) == 0 || errno == EPERM);
	s.runner_id = dup_str(j, "runnerId");
	s.relay_url = dup_str(j, "relayUrl");
	s.version = dup_str(j, "version");
	s.state = dup_str(j, "state");
	s.started_at = dup_str(j, "startedAt");
	s.last_heartbeat_at = dup_str(j, "lastHeartbeatAt");
	s.last_heartbeat_ok = dr_json_true(j, "lastHeartbeatOk");
	s.last_error = dup_str(j, "lastError");
	struct dr_strv active = DR_STRV_INIT;
	const cJSON *jobs = dr_json_array(j, "activeJobs"), *it;
	cJSON_ArrayForEach(it, jobs)
		if (cJSON_IsString(it) && active.n < 64)
			dr_strv_push(&active, it->valuestring);
	s.active_jobs = dr_strv_take(&active);
	s.pending_reports = (long)dr_json_num(j, "pendingReports", 0);
	s.containment = dup_str(j, "containment");
	s.sandbox = dup_str(j, "sandbox");
	s.push = dr_json_true(j, "push");
	*out = s;
	r = 0;
out:
	cJSON_Delete(j);
	dr_buf_release(&b);
	free(path);
	return r;
}

void dr_service_status_release(struct dr_service_status *s)
{
	if (!s)
		return;
	free(s->runner_id);
	free(s->relay_url);
	free(s->version);
	free(s->state);
	free(s->started_at);
	free(s->last_heartbeat_at);
	free(s->last_error);
	dr_strv_free(s->active_jobs);
	free(s->containment);
	free(s->sandbox);
	memset(s, 0, sizeof *s);
}

long dr_service_count_outbox(const char *state_dir)
{
	char *path = dr_xasprintf("%s/outbox", state_dir);
	DIR *d = opendir(path);
	free(path);
	if (!d)
		return 0;
	long n = 0;
	struct dirent *e;
	while ((e = readdir(d))) {
		size_t l = strlen(e->d_name);
		if (e->d_name[0] != '.' && l > 5 && strcmp(e->d_name + l - 5, ".json") == 0)
			n++;
	}
	closedir(d);
	return n;
}
