/*
 * runner_state: the runner's states and how it shuts down.
 *
 * States: RUNNING (beating, claiming while a slot is free) -> DRAINING (a
 * signal or restart request: no new claims, running jobs may finish until
 * the shutdown grace ends) -> CANCELLING (jobs are told to stop and report)
 * -> FLUSHING (waiting, within the grace, for the outbox to empty) ->
 * STOPPED (handles closed; the loop ends). A 401 anywhere jumps to
 * CANCELLING with exit status 2 and skips the flush: the relay will not
 * take our reports any more, the spool keeps them.
 */
#include "runner-int.h"
#include "delego/gc.h"
#include "delego/http.h"
#include "delego/inhibit.h"
#include "delego/log.h"
#include "delego/notify.h"
#include "delego/outbox.h"
#include "delego/pipeline.h"
#include "delego/relay.h"
#include "delego/workspace.h"

#include <stdlib.h>

static void on_handle_closed(uv_handle_t *h)
{
	struct dr_runner *r = h->data;
	r->open_handles--;
}

static void close_handle(struct dr_runner *r, uv_handle_t *h)
{
	if (uv_is_closing(h))
		return;
	h->data = r;
	uv_close(h, on_handle_closed);
}

void dr__runner_on_drained(void *data)
{
	struct dr_runner *r = data;
	/* A beat in flight (the one that says we are idle) is answered first. */
	if (r->state == RUNNER_FLUSHING && !r->heartbeat_call && !dr_outbox_pending(r->outbox))
		dr__runner_enter_state(r, RUNNER_STOPPED);
}

static void on_grace_timer(uv_timer_t *t)
{
	struct dr_runner *r = t->data;
	if (r->state == RUNNER_DRAINING) {
		dr_log_warn("shutdown grace of %llu ms is over: cancelling %d running job(s)",
			(unsigned long long)r->config->shutdown_grace_ms, r->active);
		dr__runner_enter_state(r, RUNNER_CANCELLING);
	} else if (r->state == RUNNER_FLUSHING) {
		dr_log_warn("%zu report(s) not delivered yet; they stay in the spool for the next start",
			dr_outbox_pending(r->outbox));
		dr__runner_enter_state(r, RUNNER_STOPPED);
	}
}

/* Closes every handle and client once nothing of ours is on the stack. */
static void finalize(uv_timer_t *t)
{
	struct dr_runner *r = t->data;
	dr__runner_write_status(r);
	close_handle(r, (uv_handle_t *)&r->heartbeat_timer);
	close_handle(r, (uv_handle_t *)&r->poll_timer);
	close_handle(r, (uv_handle_t *)&r->grace_timer);
	close_handle(r, (uv_handle_t *)&r->watchdog_timer);
	close_handle(r, (uv_handle_t *)&r->sigterm);
	close_handle(r, (uv_handle_t *)&r->sigint);
	close_handle(r, (uv_handle_t *)&r->sighup);
	close_handle(r, (uv_handle_t *)&r->inhibit_timer);
	close_handle(r, (uv_handle_t *)&r->wake_timer);
	close_handle(r, (uv_handle_t *)&r->sigusr2);
	close_handle(r, (uv_handle_t *)&r->upgrade_timer);
	dr_inhibit_free(r->inhibit);
	r->inhibit = NULL;
	dr_outbox_free(r->outbox);
	r->outbox = NULL;
	dr_http_free(r->http);
	r->http = NULL;
}

void dr__runner_maybe_finish(struct dr_runner *r)
{
	if ((r->state == RUNNER_DRAINING || r->state == RUNNER_CANCELLING) && r->active == 0 && !r->poll_call) {
		if (r->exit_status == 2)
			dr__runner_enter_state(r, RUNNER_STOPPED);
		else
			dr__runner_enter_state(r, RUNNER_FLUSHING);
	}
}

/* No new jobs: no push, no poll timer, no poll in flight. */
static void stop_claiming(struct dr_runner *r)
{
	dr_notify("STOPPING=1");
	dr__runner_push_stop(r);
	uv_timer_stop(&r->poll_timer);
	if (r->poll_call) {
		dr_relay_call_cancel(r->poll_call);
		r->poll_call = NULL;
	}
}

void dr__runner_enter_state(struct dr_runner *r, enum runner_state next)
{
	if (next <= r->state && !(next == r->state && next == RUNNER_RUNNING))
		return;
	dr_log_debug("runner: %s -> %s", dr__runner_state_name(r->state), dr__runner_state_name(next));
	r->state = next;
	switch (next) {
	case RUNNER_RUNNING:
		break;
	case RUNNER_DRAINING:
		stop_claiming(r);
		if (r->active)
			dr_log_info("waiting up to %llu ms for %d running job(s) to finish",
				(unsigned long long)r->config->shutdown_grace_ms, r->active);
		uv_timer_start(&r->grace_timer, on_grace_timer, r->config->shutdown_grace_ms, 0);
		dr__runner_maybe_finish(r);
		break;
	case RUNNER_CANCELLING:
		stop_claiming(r);
		for (int i = 0; i < r->n_slots; i++)
			if (r->slots[i].pipeline)
				dr_pipeline_cancel(r->slots[i].pipeline, r->exit_status == 2
					? "the runner's credential was revoked" : "the runner is shutting down");
		dr__runner_maybe_finish(r);
		break;
	case RUNNER_FLUSHING:
		dr_gc_sweep_stop(r->sweep); /* a sweep in flight would hold the loop open */
		dr_workspace_stop_background(); /* and so would a spare worktree being made */
		dr__runner_push_stop(r);
		uv_timer_stop(&r->poll_timer);
		uv_timer_stop(&r->heartbeat_timer);
		if (!uv_is_active((uv_handle_t *)&r->grace_timer))
			uv_timer_start(&r->grace_timer, on_grace_timer, r->config->shutdown_grace_ms, 0);
		if (dr_outbox_pending(r->outbox))
			dr_log_info("delivering %zu pending report(s) before exit", dr_outbox_pending(r->outbox));
		dr_outbox_on_drained(r->outbox, dr__runner_on_drained, r);
		break;
	case RUNNER_STOPPED:
		dr_gc_sweep_stop(r->sweep);
		dr__runner_push_stop(r);
		if (r->heartbeat_call) {
			dr_relay_call_cancel(r->heartbeat_call);
			r->heartbeat_call = NULL;
		}
		if (r->poll_call) {
			dr_relay_call_cancel(r->poll_call);
			r->poll_call = NULL;
		}
		uv_timer_stop(&r->heartbeat_timer);
		uv_timer_stop(&r->grace_timer);
		uv_timer_stop(&r->watchdog_timer);
		/* We may be inside an HTTP callback: free the clients on the next turn. */
		uv_timer_start(&r->poll_timer, finalize, 0, 0);
		break;
	}
}
