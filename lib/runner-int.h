/*
 * runner-int: what the parts of the runner share. From the top down (a
 * file calls only the ones below it):
 *   runner.c         life cycle (new, run, free), signals, 401, upgrade in place
 *   runner_claim.c   jobs: poll, claim, unusable jobs, adoption, a job's end
 *   runner_beat.c    heartbeats, sleep inhibitor, wake detection
 *   runner_state.c   the states and the shutdown
 *   runner_push.c    the relay's realtime channel
 *   runner_status.c  status file, STATUS=, relay reachability, executors
 * What a lower part needs of the claim part (a poll) goes through the
 * hooks runner_claim.c sets up in r->claim.
 */
#ifndef DELEGO_RUNNER_INT_H
#define DELEGO_RUNNER_INT_H

#include "delego/runner.h"
#include "delego/backoff.h"
#include "delego/config.h"
#include "delego/pipeline.h"
#include "delego/strv.h"

#include <stdbool.h>
#include <stdint.h>
#include <uv.h>

#define LONG_POLL_WAIT_MS 30000 /* the most a relay holds a poll */
#define POLL_TIMEOUT_SLACK_MS 15000
#define RETRY_BASE_MS 1000
#define RETRY_CAP_MS 60000
#define WAKE_TICK_MS 2000
#define WAKE_LATE_MS 8000      /* a tick this much later than due: the process was stopped */
#define WAKE_SLEPT_MS 5000     /* CLOCK_BOOTTIME ran ahead of the monotonic clock by this much: suspended */
#define INHIBIT_CHECK_MS 200   /* after the last job: is its report delivered yet? */
#define INHIBIT_LINGER_MS 60000 /* ... but hold off sleep no longer than this for it */

enum runner_state {
	RUNNER_RUNNING,
	RUNNER_DRAINING,
	RUNNER_CANCELLING,
	RUNNER_FLUSHING,
	RUNNER_STOPPED,
};
static inline const char *dr__runner_state_name(enum runner_state s)
{
	static const char *const names[] = {
		[RUNNER_RUNNING] = "running",
		[RUNNER_DRAINING] = "draining",
		[RUNNER_CANCELLING] = "cancelling",
		[RUNNER_FLUSHING] = "flushing",
		[RUNNER_STOPPED] = "stopped",
	};
	return names[s];
}

struct dr_runner;
/* Set by dr__runner_claim_init, for the parts below runner_claim.c. */
struct runner_claim_hooks {
	void (*poll_now)(struct dr_runner *r);                    /* when a poll may go */
	void (*poll_after)(struct dr_runner *r, uint64_t delay_ms); /* while running */
};

struct slot {
	struct dr_pipeline *pipeline;
	char *job_id;
	struct dr_runner *runner;
};

struct dr_runner {
	uv_loop_t *loop;
	struct dr_config *config;
	struct dr_config **old_configs; /* kept alive: pipelines may borrow them */
	size_t n_old_configs;
	char *runner_id;
	char *version;
	enum runner_state state;
	int exit_status;

	struct dr_http *http;
	struct dr_relay *relay;
	struct dr_outbox *outbox;
	struct dr_gc_sweep *sweep;
	struct dr_journal *journal;
	struct dr_pipeline_env env;

	uv_timer_t heartbeat_timer;
	uv_timer_t poll_timer;
	uv_timer_t grace_timer;
	uv_timer_t watchdog_timer;
	uv_signal_t sigterm, sigint, sighup;
	int open_handles;

	/* Sleep and wake: see that section. */
	struct dr_inhibit *inhibit;
	bool inhibit_held;
	uv_timer_t inhibit_timer;
	uint64_t inhibit_linger_start;
	uv_timer_t wake_timer;
	uint64_t wake_mono_ms, wake_boot_ms;

	/* Upgrade in place: see that section. */
	uv_signal_t sigusr2;
	uv_timer_t upgrade_timer;
	struct dr_strv exec_argv;
	char exe[4096];
	bool upgrading;

	struct dr_relay_call *heartbeat_call;
	bool heartbeat_pending; /* a beat was asked for while one was in flight */
	bool heartbeat_pending_steady; /* ... and one of them was a timer beat */
	struct dr_backoff heartbeat_backoff;
	bool ready_sent;
	bool first_beat_answered; /* no poll before: its answer may ask for a restart */
	bool relay_down;

	struct runner_claim_hooks claim;
	struct dr_relay_call *poll_call;
	struct dr_backoff poll_backoff;
	bool long_poll;
	bool once_polled;
	bool poll_answered; /* the first poll is short: push may come up meanwhile */

	/* Push (realtime.h): see the "Push" section. */
	struct dr_realtime *push;
	bool push_live;     /* the channel is joined */
	bool push_was_live; /* it was at some point: while down, poll at the fallback interval */
	bool poll_kick;     /* a change came while a poll was in flight: poll again after it */

	struct slot *slots;
	int n_slots;
	int active;
	/* Jobs that ended and whose terminal report the relay has not taken yet:
	 * the beat still names them, so that the relay never sees us idle first. */
	struct dr_strv settling;

	int signals;
	char started_at[64];
	char last_heartbeat_at[64];
	bool last_heartbeat_ok;
	char *last_error;
	uint64_t status_written_at; /* loop time of the last status file write */
	dr_runner_reload_fn reload;
	void *reload_data;
};

/* runner_claim.c */
void dr__runner_claim_init(struct dr_runner *r);
int dr__runner_adopt_job(const cJSON *entry, const char *dir, int pid, void *data);

/* runner_beat.c */
void dr__runner_send_heartbeat(struct dr_runner *r, bool steady);
void dr__runner_on_heartbeat_timer(uv_timer_t *t);
void dr__runner_sleep_hold(struct dr_runner *r, const cJSON *job);
void dr__runner_sleep_release(struct dr_runner *r);
void dr__runner_wake_watch_start(struct dr_runner *r);

/* runner_state.c */
void dr__runner_enter_state(struct dr_runner *r, enum runner_state next);
void dr__runner_maybe_finish(struct dr_runner *r);
void dr__runner_on_drained(void *data);

/* runner_push.c */
uint64_t dr__runner_push_idle_delay(struct dr_runner *r);
void dr__runner_push_start(struct dr_runner *r);
void dr__runner_push_stop(struct dr_runner *r);

/* runner_status.c */
const char *dr__runner_first_job(const struct dr_runner *r);
void dr__runner_note_answer(struct dr_runner *r, const struct dr_relay_reply *reply);
cJSON *dr__runner_executors_json(const struct dr_config *c);
void dr__runner_relay_reachable(struct dr_runner *r, bool ok, const char *message);
void dr__runner_update_status(struct dr_runner *r);
void dr__runner_write_status(struct dr_runner *r);

#endif
