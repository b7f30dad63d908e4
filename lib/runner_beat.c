/*
 * runner_beat: heartbeats (and what their answers ask for), holding off
 * system sleep while a job runs, and noticing the machine woke up. Below
 * the claim part: the first beat's answer and a wake ask it for a poll
 * through the hooks it set up (r->claim).
 */
#include "runner-int.h"
#include "delego/runner.h"
#include "delego/backoff.h"
#include "delego/random.h"
#include "delego/cgroup.h"
#include "delego/sandbox.h"
#include "delego/fsutil.h"
#include "delego/gc.h"
#include "delego/http.h"
#include "delego/isotime.h"
#include "delego/job.h"
#include "delego/inhibit.h"
#include "delego/journal.h"
#include "delego/json.h"
#include "delego/log.h"
#include "delego/notify.h"
#include "delego/outbox.h"
#include "delego/pipeline.h"
#include "delego/proc.h"
#include "delego/realtime.h"
#include "delego/relay.h"
#include "delego/workspace.h"
#include "delego/xalloc.h"

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

/* Heartbeats ---------------------------------------------------------- */

/* The job a heartbeat names: a running one, else one whose end is not acknowledged yet. */
static const char *beat_job(const struct dr_runner *r)
{
	const char *job = dr__runner_first_job(r);
	return job ? job : r->settling.n ? r->settling.v[0] : NULL;
}

/* After the first beat's answer (which may ask for a restart): poll and listen. */
static void start_claiming(struct dr_runner *r)
{
	if (r->first_beat_answered)
		return;
	r->first_beat_answered = true;
	r->claim.poll_now(r);
	dr__runner_push_start(r);
}

static void on_heartbeat(const struct dr_relay_reply *reply, void *data)
{
	struct dr_runner *r = data;
	r->heartbeat_call = NULL;
	if (r->state == RUNNER_STOPPED)
		return;
	dr_isotime_now(r->last_heartbeat_at);
	bool was_ok = r->last_heartbeat_ok;
	r->last_heartbeat_ok = reply->outcome == DR_RELAY_OK;
	free(r->last_error);
	r->last_error = r->last_heartbeat_ok ? NULL : dr_xstrdup(reply->message);
	/* A file write costs more than the beat itself: with short intervals,
	 * refresh the status file on changes and every 30 s only. */
	if (was_ok != r->last_heartbeat_ok || uv_now(r->loop) - r->status_written_at >= 30000 ||
	    r->config->heartbeat_interval_ms >= 30000)
		dr__runner_write_status(r);
	dr__runner_note_answer(r, reply);
	if (r->state == RUNNER_FLUSHING) {
		r->heartbeat_pending = false;
		dr__runner_on_drained(r); /* the exit may have waited for this beat */
		return;
	}
	if (reply->outcome == DR_RELAY_UNAUTHORIZED)
		return;
	if (reply->outcome != DR_RELAY_OK) {
		dr__runner_relay_reachable(r, false, reply->message);
		start_claiming(r);
		uint64_t delay = dr_backoff_next(&r->heartbeat_backoff, dr_random_unit());
		if (delay > r->config->heartbeat_interval_ms)
			delay = r->config->heartbeat_interval_ms;
		/* Retry sooner than the interval while the relay is away. */
		if (r->state < RUNNER_CANCELLING)
			uv_timer_start(&r->heartbeat_timer, dr__runner_on_heartbeat_timer, delay,
				       r->config->heartbeat_interval_ms);
		return;
	}
	dr__runner_relay_reachable(r, true, NULL);
	dr_backoff_reset(&r->heartbeat_backoff);
	const cJSON *runner = dr_json_obj(reply->body, "runner");
	const char *status = runner ? dr_json_str(runner, "status") : NULL;
	if (!r->ready_sent) {
		dr_log_info("connected to relay %s as runner %s%s%s", dr_relay_url(r->relay), r->runner_id,
			status ? ", status " : "", status ? status : "");
		dr_notify("READY=1");
		dr__runner_update_status(r);
		r->ready_sent = true;
	} else {
		dr_log_debug("heartbeat: runner %s is %s", r->runner_id, status ? status : "?");
	}
	if (dr_json_true(reply->body, "restart") && r->state == RUNNER_RUNNING) {
		dr_log_info("upgrade requested from the dashboard: exiting so that the service manager restarts the runner");
		dr__runner_enter_state(r, RUNNER_DRAINING);
		return;
	}
	start_claiming(r);
	if (r->heartbeat_pending) {
		bool steady = r->heartbeat_pending_steady;
		r->heartbeat_pending = false;
		r->heartbeat_pending_steady = false;
		dr__runner_send_heartbeat(r, steady);
	}
}

/* steady: a timer beat, which may deliver a pending restart request. */
void dr__runner_send_heartbeat(struct dr_runner *r, bool steady)
{
	if (r->heartbeat_call) {
		/* Never drop a beat: send it when the one in flight is answered. */
		r->heartbeat_pending = true;
		r->heartbeat_pending_steady |= steady;
		return;
	}
	cJSON *body = cJSON_CreateObject();
	cJSON_AddStringToObject(body, "version", r->version);
	cJSON_AddItemToObject(body, "supportedExecutors", dr__runner_executors_json(r->config));
	dr_json_add_str_or_null(body, "activeJobId", beat_job(r));
	cJSON_AddBoolToObject(body, "deliverRestart", steady && r->state == RUNNER_RUNNING);
	int rc = dr_relay_post(r->relay, "/api/runner/heartbeat", body, 0, on_heartbeat, r, &r->heartbeat_call);
	if (rc < 0) {
		dr_log_warn("cannot send heartbeat: %s", strerror(-rc));
		start_claiming(r);
	}
}

void dr__runner_on_heartbeat_timer(uv_timer_t *t)
{
	dr__runner_send_heartbeat(t->data, true);
}

/* Sleep and wake ------------------------------------------------------
 * While a job runs, a sleep inhibitor is held (inhibit.h); after the last
 * job it is kept until that job's report is delivered, for a minute at
 * most. A tick every WAKE_TICK_MS notices a suspend (CLOCK_BOOTTIME ran
 * ahead of the monotonic clock, which stands still in suspend) or a stop
 * (the tick came far later than due): then everything that waited on a
 * timer that slept happens at once.
 */

void dr__runner_sleep_hold(struct dr_runner *r, const cJSON *job)
{
	uv_timer_stop(&r->inhibit_timer);
	if (r->inhibit_held)
		return;
	const cJSON *issue = cJSON_GetObjectItemCaseSensitive(job, "linearIssue");
	const char *label = cJSON_IsObject(issue) ? dr_json_str(issue, "identifier") : NULL;
	if (!label)
		label = dr_json_str(job, "id");
	char why[128], clean[64];
	size_t n = 0;
	for (const char *c = label ? label : "?"; *c && n < sizeof clean - 1; c++)
		clean[n++] = *c > 0x20 && *c < 0x7f ? *c : '_';
	clean[n] = '\0';
	snprintf(why, sizeof why, "job %s is running", clean);
	dr_inhibit_hold(r->inhibit, why);
	r->inhibit_held = true;
}

static void on_inhibit_timer(uv_timer_t *t)
{
	struct dr_runner *r = t->data;
	bool waited_enough = uv_now(r->loop) - r->inhibit_linger_start >= INHIBIT_LINGER_MS;
	if (r->active == 0 && r->inhibit_held && (dr_outbox_pending(r->outbox) == 0 || waited_enough)) {
		dr_inhibit_release(r->inhibit);
		r->inhibit_held = false;
	}
	if (!r->inhibit_held || r->active > 0)
		uv_timer_stop(t);
}

void dr__runner_sleep_release(struct dr_runner *r)
{
	if (r->active > 0 || !r->inhibit_held)
		return;
	r->inhibit_linger_start = uv_now(r->loop);
	uv_timer_start(&r->inhibit_timer, on_inhibit_timer, 0, INHIBIT_CHECK_MS);
}

static uint64_t boottime_ms(void)
{
#ifdef __linux__
	struct timespec ts;
	if (clock_gettime(CLOCK_BOOTTIME, &ts) == 0)
		return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
#endif
	return uv_hrtime() / 1000000;
}

/* The relay may have moved on while we were away: ask now, and forget the backoffs. */
static void on_wake(struct dr_runner *r, uint64_t away_ms)
{
	dr_log_info("the machine slept or the runner was stopped for about %llu s: heartbeat, cancellation checks "
		"and reconnect now", (unsigned long long)(away_ms / 1000));
	dr_backoff_reset(&r->heartbeat_backoff);
	dr_backoff_reset(&r->poll_backoff);
	dr_outbox_retry_now(r->outbox);
	if (r->state >= RUNNER_FLUSHING || r->exit_status == 2)
		return;
	/* A request sent before the sleep most likely waits on a dead connection. */
	if (r->heartbeat_call) {
		dr_relay_call_cancel(r->heartbeat_call);
		r->heartbeat_call = NULL;
	}
	dr__runner_send_heartbeat(r, false);
	uv_timer_start(&r->heartbeat_timer, dr__runner_on_heartbeat_timer, r->config->heartbeat_interval_ms,
		       r->config->heartbeat_interval_ms);
	for (int i = 0; i < r->n_slots; i++)
		if (r->slots[i].pipeline)
			dr_pipeline_check_cancel(r->slots[i].pipeline);
	if (r->state != RUNNER_RUNNING)
		return;
	if (r->push) {
		dr__runner_push_stop(r);
		dr__runner_push_start(r);
	}
	if (r->poll_call) {
		dr_relay_call_cancel(r->poll_call);
		r->poll_call = NULL;
	}
	r->claim.poll_after(r, 0);
}

static void on_wake_timer(uv_timer_t *t)
{
	struct dr_runner *r = t->data;
	uint64_t mono = uv_hrtime() / 1000000, boot = boottime_ms();
	uint64_t elapsed = mono - r->wake_mono_ms;
	uint64_t boot_elapsed = boot - r->wake_boot_ms;
	uint64_t slept = boot_elapsed > elapsed ? boot_elapsed - elapsed : 0;
	uint64_t late = elapsed > WAKE_TICK_MS ? elapsed - WAKE_TICK_MS : 0;
	r->wake_mono_ms = mono;
	r->wake_boot_ms = boot;
	if (late >= WAKE_LATE_MS || slept >= WAKE_SLEPT_MS)
		on_wake(r, slept > late ? slept : late);
}

void dr__runner_wake_watch_start(struct dr_runner *r)
{
	r->wake_mono_ms = uv_hrtime() / 1000000;
	r->wake_boot_ms = boottime_ms();
	uv_timer_start(&r->wake_timer, on_wake_timer, WAKE_TICK_MS, WAKE_TICK_MS);
	/* The tick alone must not keep the loop alive at shutdown. */
	uv_unref((uv_handle_t *)&r->wake_timer);
}
