/*
 * runner_status: what the runner shows of itself: the status file that
 * `delego-runner status` reads, the service manager's STATUS= line, whether
 * the relay is reachable, and the executors it offers.
 */
#include "runner-int.h"
#include "delego/cgroup.h"
#include "delego/fsutil.h"
#include "delego/json.h"
#include "delego/log.h"
#include "delego/notify.h"
#include "delego/outbox.h"
#include "delego/relay.h"
#include "delego/sandbox.h"
#include "delego/xalloc.h"

#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* The first running job, or NULL. */
const char *dr__runner_first_job(const struct dr_runner *r)
{
	for (int i = 0; i < r->n_slots; i++)
		if (r->slots[i].pipeline)
			return r->slots[i].job_id;
	return NULL;
}

/* Any answer but an overload means the relay is back: reports waiting out a backoff go now. */
void dr__runner_note_answer(struct dr_runner *r, const struct dr_relay_reply *reply)
{
	if (r->outbox && reply->status_line >= 200 && reply->status_line < 500 && reply->status_line != 429)
		dr_outbox_relay_answered(r->outbox);
}

void dr__runner_relay_reachable(struct dr_runner *r, bool ok, const char *message)
{
	if (ok && r->relay_down) {
		dr_log_info("relay %s is reachable again", dr_relay_url(r->relay));
		r->relay_down = false;
		dr__runner_update_status(r);
	} else if (!ok && !r->relay_down) {
		dr_log_warn("%s; retrying with backoff", message);
		r->relay_down = true;
		dr__runner_update_status(r);
	}
}

cJSON *dr__runner_executors_json(const struct dr_config *c)
{
	cJSON *arr = cJSON_CreateArray();
	for (char **e = c->supported_executors; e && *e; e++)
		cJSON_AddItemToArray(arr, cJSON_CreateString(*e));
	return arr;
}

void dr__runner_update_status(struct dr_runner *r)
{
	const char *job = dr__runner_first_job(r);
	if (r->relay_down)
		dr_notify("STATUS=relay unreachable; retrying");
	else if (job && r->active > 1)
		dr_notify_printf("STATUS=running %d jobs (%s, ...)", r->active, job);
	else if (job)
		dr_notify_printf("STATUS=running job %s", job);
	else
		dr_notify("STATUS=idle");
}

static void status_written(void *data, int rc)
{
	if (rc < 0)
		dr_log_debug("cannot write %s: %s", (char *)data, strerror(-rc));
	free(data);
}

/* state_dir/status.json: what `delego-runner status` shows. Small, atomic, replaced off the loop. */
void dr__runner_write_status(struct dr_runner *r)
{
	cJSON *s = cJSON_CreateObject();
	cJSON_AddNumberToObject(s, "pid", (double)getpid());
	cJSON_AddStringToObject(s, "runnerId", r->runner_id);
	cJSON_AddStringToObject(s, "relayUrl", r->config->relay_url);
	cJSON_AddStringToObject(s, "version", r->version);
	cJSON_AddStringToObject(s, "state", dr__runner_state_name(r->state));
	cJSON_AddStringToObject(s, "startedAt", r->started_at);
	dr_json_add_str_or_null(s, "lastHeartbeatAt", r->last_heartbeat_at[0] ? r->last_heartbeat_at : NULL);
	cJSON_AddBoolToObject(s, "lastHeartbeatOk", r->last_heartbeat_ok);
	dr_json_add_str_or_null(s, "lastError", r->last_error);
	cJSON *jobs = cJSON_AddArrayToObject(s, "activeJobs");
	for (int i = 0; i < r->n_slots; i++)
		if (r->slots[i].pipeline)
			cJSON_AddItemToArray(jobs, cJSON_CreateString(r->slots[i].job_id));
	cJSON_AddNumberToObject(s, "pendingReports", r->outbox ? (double)dr_outbox_pending(r->outbox) : 0);
	cJSON_AddStringToObject(s, "containment", dr_cgroup_mode_name());
	dr_json_add_str_or_null(s, "containmentNote", dr_cgroup_limits_note());
	cJSON_AddStringToObject(s, "sandbox", dr_sandbox_mode_name(dr_sandbox_mode()));
	cJSON_AddStringToObject(s, "sandboxNote", dr_sandbox_note());
	cJSON_AddBoolToObject(s, "push", r->push_live);
	char *text = dr_json_print(s);
	cJSON_Delete(s);
	char *path = dr_xasprintf("%s/status.json", r->config->state_dir);
	int rc = dr_fsutil_write_async(r->loop, path, text, strlen(text), 0600, 0700, false, status_written, path);
	r->status_written_at = uv_now(r->loop);
	if (rc < 0)
		status_written(path, rc);
	free(text);
}
