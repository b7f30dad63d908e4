/*
 * runner_push: the relay's realtime channel. Supabase Realtime
 * (realtime.h): a change on one of the account's jobs means "poll now"
 * (coalesced: one poll in flight, one more after it; asked of
 * runner_claim.c through r->claim); an UPDATE that turns
 * cancellation_requested true cancels that job if it runs here. While
 * subscribed, polls go at the safety sync interval (no long poll: push
 * already says when to claim); otherwise a long poll, when the relay
 * offers it, waits for jobs; else interval polls wait the fallback
 * interval while push exists but is down (its server unreachable), and
 * poll_interval_ms against a relay that offers no push.
 */
#include "runner-int.h"
#include "delego/log.h"
#include "delego/pipeline.h"
#include "delego/realtime.h"

#include <string.h>

uint64_t dr__runner_push_idle_delay(struct dr_runner *r)
{
	if (r->push_live)
		return r->config->safety_sync_interval_ms;
	/* Push exists but its server is unreachable: poll as the Node runner does then. */
	if (r->push_was_live || dr_realtime_offered(r->push))
		return r->config->fallback_poll_interval_ms;
	return r->config->poll_interval_ms;
}

static void push_kick(struct dr_runner *r)
{
	if (r->state != RUNNER_RUNNING)
		return;
	if (r->poll_call)
		r->poll_kick = true;
	else
		r->claim.poll_after(r, 0);
}

static void push_on_change(void *data)
{
	push_kick(data);
}

static void push_on_cancel(const char *job_id, void *data)
{
	struct dr_runner *r = data;
	for (int i = 0; i < r->n_slots; i++) {
		struct slot *s = &r->slots[i];
		if (s->pipeline && s->job_id && !strcmp(s->job_id, job_id)) {
			dr_log_info("job %s: cancellation requested (realtime push)", job_id);
			dr_pipeline_cancel(s->pipeline, NULL);
		}
	}
}

static void push_on_state(bool subscribed, void *data)
{
	struct dr_runner *r = data;
	r->push_live = subscribed;
	if (subscribed)
		r->push_was_live = true;
	dr__runner_write_status(r);
	if (subscribed) {
		push_kick(r); /* anything queued while we were not listening */
	} else if (r->state == RUNNER_RUNNING && !r->poll_call && r->long_poll) {
		r->claim.poll_after(r, 0); /* back to holding a poll */
	} else if (r->state == RUNNER_RUNNING && !r->poll_call &&
		   uv_timer_get_due_in(&r->poll_timer) > r->config->fallback_poll_interval_ms) {
		r->claim.poll_after(r, r->config->fallback_poll_interval_ms);
	}
}

void dr__runner_push_start(struct dr_runner *r)
{
	if (r->config->once || r->push || r->state != RUNNER_RUNNING)
		return;
	struct dr_realtime_opts o = {
		.loop = r->loop,
		.relay = r->relay,
		.version = r->version,
		.allow_insecure = r->config->allow_insecure_relay,
		.on_change = push_on_change,
		.on_cancel = push_on_cancel,
		.on_state = push_on_state,
		.data = r,
	};
	int rc = dr_realtime_new(&o, &r->push);
	if (rc < 0) {
		dr_log_warn("cannot start the realtime client: %s; polling only", strerror(-rc));
		return;
	}
	dr_realtime_start(r->push);
}

void dr__runner_push_stop(struct dr_runner *r)
{
	if (!r->push)
		return;
	dr_realtime_free(r->push);
	r->push = NULL;
	if (r->push_live) {
		r->push_live = false;
		dr__runner_write_status(r);
	}
}
