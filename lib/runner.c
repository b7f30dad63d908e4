/*
 * runner: the daemon's event loop glue.
 *
 * States: RUNNING (beating, claiming while a slot is free) -> DRAINING (a
 * signal or restart request: no new claims, running jobs may finish until
 * the shutdown grace ends) -> CANCELLING (jobs are told to stop and report)
 * -> FLUSHING (waiting, within the grace, for the outbox to empty) ->
 * STOPPED (handles closed; the loop ends). A 401 anywhere jumps to
 * CANCELLING with exit status 2 and skips the flush: the relay will not
 * take our reports any more, the spool keeps them.
 */
#include "delego/runner.h"
#include "delego/backoff.h"
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

static const char *const runner_strstate[] = {
	[RUNNER_RUNNING] = "running",
	[RUNNER_DRAINING] = "draining",
	[RUNNER_CANCELLING] = "cancelling",
	[RUNNER_FLUSHING] = "flushing",
	[RUNNER_STOPPED] = "stopped",
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
	char **exec_argv;
	char exe[4096];
	bool upgrading;

	struct dr_relay_call *heartbeat_call;
	bool heartbeat_pending; /* a beat was asked for while one was in flight */
	bool heartbeat_pending_steady; /* ... and one of them was a timer beat */
	struct dr_backoff heartbeat_backoff;
	bool ready_sent;
	bool first_beat_answered; /* no poll before: its answer may ask for a restart */
	bool relay_down;

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
	char **settling;

	int signals;
	char started_at[64];
	char last_heartbeat_at[64];
	bool last_heartbeat_ok;
	char *last_error;
	uint64_t status_written_at; /* loop time of the last status file write */
	dr_runner_reload_fn reload;
	void *reload_data;
};

static void enter_state(struct dr_runner *r, enum runner_state next);
static void schedule_poll(struct dr_runner *r, uint64_t delay_ms);
static void send_heartbeat(struct dr_runner *r, bool steady);
static void on_heartbeat_timer(uv_timer_t *t);
static uint64_t push_idle_delay(struct dr_runner *r);
static void push_start(struct dr_runner *r);
static void push_stop(struct dr_runner *r);
static void do_poll(struct dr_runner *r);
static void on_drained(void *data);
static void sleep_hold(struct dr_runner *r, const cJSON *job);
static void sleep_release(struct dr_runner *r);

static const char *first_active_job(const struct dr_runner *r)
{
	for (int i = 0; i < r->n_slots; i++)
		if (r->slots[i].pipeline)
			return r->slots[i].job_id;
	return NULL;
}

/* The job a heartbeat names: a running one, else one whose end is not acknowledged yet. */
static const char *beat_job(const struct dr_runner *r)
{
	const char *job = first_active_job(r);
	return job ? job : r->settling && r->settling[0] ? r->settling[0] : NULL;
}

/* Any answer but an overload means the relay is back: reports waiting out a backoff go now. */
static void note_answer(struct dr_runner *r, const struct dr_relay_reply *reply)
{
	if (r->outbox && reply->status_line >= 200 && reply->status_line < 500 && reply->status_line != 429)
		dr_outbox_relay_answered(r->outbox);
}

static cJSON *executors_json(const struct dr_config *c)
{
	cJSON *arr = cJSON_CreateArray();
	for (char **e = c->supported_executors; e && *e; e++)
		cJSON_AddItemToArray(arr, cJSON_CreateString(*e));
	return arr;
}

static void update_status(struct dr_runner *r)
{
	const char *job = first_active_job(r);
	if (r->relay_down)
		dr_notify("STATUS=relay unreachable; retrying");
	else if (job && r->active > 1)
		dr_notifyf("STATUS=running %d jobs (%s, ...)", r->active, job);
	else if (job)
		dr_notifyf("STATUS=running job %s", job);
	else
		dr_notify("STATUS=idle");
}

/* state_dir/status.json: what `delego-runner status` shows. Small, atomic. */
static void write_status(struct dr_runner *r)
{
	cJSON *s = cJSON_CreateObject();
	cJSON_AddNumberToObject(s, "pid", (double)getpid());
	cJSON_AddStringToObject(s, "runnerId", r->runner_id);
	cJSON_AddStringToObject(s, "relayUrl", r->config->relay_url);
	cJSON_AddStringToObject(s, "version", r->version);
	cJSON_AddStringToObject(s, "state", runner_strstate[r->state]);
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
	int rc = dr_write_file_replace(path, text, strlen(text), 0600);
	r->status_written_at = uv_now(r->loop);
	if (rc < 0)
		dr_debug("cannot write %s: %s", path, strerror(-rc));
	free(path);
	free(text);
}

/* A job's seq outlives its spooled reports: the journal keeps the last one for a restart. */
static void on_seq(const char *job_id, long long seq, void *data)
{
	struct dr_runner *r = data;
	char value[32];
	snprintf(value, sizeof value, "%lld", seq);
	dr_journal_note(r->journal, job_id, "seq", value);
}

/* 401 ---------------------------------------------------------------- */

static void on_unauthorized(const char *path, void *data)
{
	struct dr_runner *r = data;
	if (r->exit_status == 2)
		return;
	dr_err("the relay rejected this runner's credential (HTTP 401 on %s): it was rotated or removed in the "
	       "dashboard. Pair again with a new token: printf '%%s' drs_pair_... | delego-runner pair --relay-url %s "
	       "--pairing-token -%s%s. Profile: %s, runner: %s, relay: %s",
	       path, dr_relay_url(r->relay), strcmp(r->config->profile, "default") ? " --profile " : "",
	       strcmp(r->config->profile, "default") ? r->config->profile : "", r->config->profile, r->runner_id,
	       dr_relay_url(r->relay));
	r->exit_status = 2;
	if (r->state < RUNNER_CANCELLING)
		enter_state(r, RUNNER_CANCELLING);
	else if (r->state == RUNNER_FLUSHING)
		enter_state(r, RUNNER_STOPPED);
}

/* Heartbeats ---------------------------------------------------------- */

static void relay_reachable(struct dr_runner *r, bool ok, const char *message)
{
	if (ok && r->relay_down) {
		dr_info("relay %s is reachable again", dr_relay_url(r->relay));
		r->relay_down = false;
		update_status(r);
	} else if (!ok && !r->relay_down) {
		dr_warn("%s; retrying with backoff", message);
		r->relay_down = true;
		update_status(r);
	}
}

/* After the first beat's answer (which may ask for a restart): poll and listen. */
static void start_claiming(struct dr_runner *r)
{
	if (r->first_beat_answered)
		return;
	r->first_beat_answered = true;
	do_poll(r);
	push_start(r);
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
		write_status(r);
	note_answer(r, reply);
	if (r->state == RUNNER_FLUSHING) {
		r->heartbeat_pending = false;
		on_drained(r); /* the exit may have waited for this beat */
		return;
	}
	if (reply->outcome == DR_RELAY_UNAUTHORIZED)
		return;
	if (reply->outcome != DR_RELAY_OK) {
		relay_reachable(r, false, reply->message);
		start_claiming(r);
		uint64_t delay = dr_backoff_next(&r->heartbeat_backoff, dr_random01());
		if (delay > r->config->heartbeat_interval_ms)
			delay = r->config->heartbeat_interval_ms;
		/* Retry sooner than the interval while the relay is away. */
		if (r->state < RUNNER_CANCELLING)
			uv_timer_start(&r->heartbeat_timer, on_heartbeat_timer, delay,
				       r->config->heartbeat_interval_ms);
		return;
	}
	relay_reachable(r, true, NULL);
	dr_backoff_reset(&r->heartbeat_backoff);
	const cJSON *runner = dr_json_obj(reply->body, "runner");
	const char *status = runner ? dr_json_str(runner, "status") : NULL;
	if (!r->ready_sent) {
		dr_info("connected to relay %s as runner %s%s%s", dr_relay_url(r->relay), r->runner_id,
			status ? ", status " : "", status ? status : "");
		dr_notify("READY=1");
		update_status(r);
		r->ready_sent = true;
	} else {
		dr_debug("heartbeat: runner %s is %s", r->runner_id, status ? status : "?");
	}
	if (dr_json_true(reply->body, "restart") && r->state == RUNNER_RUNNING) {
		dr_info("upgrade requested from the dashboard: exiting so that the service manager restarts the runner");
		enter_state(r, RUNNER_DRAINING);
		return;
	}
	start_claiming(r);
	if (r->heartbeat_pending) {
		bool steady = r->heartbeat_pending_steady;
		r->heartbeat_pending = false;
		r->heartbeat_pending_steady = false;
		send_heartbeat(r, steady);
	}
}

/* steady: a timer beat, which may deliver a pending restart request. */
static void send_heartbeat(struct dr_runner *r, bool steady)
{
	if (r->heartbeat_call) {
		/* Never drop a beat: send it when the one in flight is answered. */
		r->heartbeat_pending = true;
		r->heartbeat_pending_steady |= steady;
		return;
	}
	cJSON *body = cJSON_CreateObject();
	cJSON_AddStringToObject(body, "version", r->version);
	cJSON_AddItemToObject(body, "supportedExecutors", executors_json(r->config));
	dr_json_add_str_or_null(body, "activeJobId", beat_job(r));
	cJSON_AddBoolToObject(body, "deliverRestart", steady && r->state == RUNNER_RUNNING);
	int rc = dr_relay_post(r->relay, "/api/runner/heartbeat", body, 0, on_heartbeat, r, &r->heartbeat_call);
	if (rc < 0) {
		dr_warn("cannot send heartbeat: %s", strerror(-rc));
		start_claiming(r);
	}
}

static void on_heartbeat_timer(uv_timer_t *t)
{
	send_heartbeat(t->data, true);
}

/* Jobs ---------------------------------------------------------------- */

static void maybe_finish(struct dr_runner *r);

/* Removes one copy of job_id from the runner's settling list. */
static void settling_remove(struct dr_runner *r, const char *job_id)
{
	for (size_t i = 0; r->settling && r->settling[i]; i++)
		if (!strcmp(r->settling[i], job_id)) {
			free(r->settling[i]);
			memmove(&r->settling[i], &r->settling[i + 1], (dr_strv_len(r->settling) - i) * sizeof(char *));
			return;
		}
}

/* The job's terminal report is acknowledged (or waits in the spool): now say we are idle, then claim. */
static void on_job_settled(const char *job_id, void *data)
{
	struct dr_runner *r = data;
	settling_remove(r, job_id);
	if (r->exit_status != 2 && r->state < RUNNER_FLUSHING)
		send_heartbeat(r, false);
	if (r->config->once && r->state == RUNNER_RUNNING)
		enter_state(r, RUNNER_FLUSHING);
	else if (r->state == RUNNER_RUNNING)
		schedule_poll(r, 0);
	else
		maybe_finish(r);
}

static void on_job_done(struct dr_pipeline *p, void *data)
{
	struct slot *s = data;
	struct dr_runner *r = s->runner;
	dr_info("job %s finished", s->job_id);
	/* Its final report is in the outbox by now: the journal entry can go. */
	dr_journal_end(r->journal, s->job_id);
	dr_pipeline_free(p);
	/* After the free: that is what releases the job's hold on its worktree. */
	if (!r->config->once)
		dr_gc_sweep_request(r->sweep, r->config);
	dr_strv_push(&r->settling, s->job_id);
	char *id = s->job_id;
	s->job_id = NULL;
	s->pipeline = NULL;
	r->active--;
	sleep_release(r);
	update_status(r);
	write_status(r);
	dr_outbox_on_settled(r->outbox, id, on_job_settled, r);
	free(id);
}

/*
 * A claimed job we cannot run still gets its terminal report, or it stays
 * running on the relay forever. Its id travels only inside the JSON body.
 */
static void fail_unusable(struct dr_runner *r, const cJSON *job, const char *why)
{
	const char *id = dr_json_nonempty(job, "id");
	if (!id) {
		dr_err("the relay handed out a job without an id (%s); it cannot be reported", why);
		return;
	}
	dr_err("the relay handed out a job that cannot run (%s); reporting it as failed", why);
	cJSON *body = cJSON_CreateObject();
	cJSON_AddStringToObject(body, "jobId", id);
	dr_json_add_str_or_null(body, "organizationId", dr_json_str(job, "organizationId"));
	dr_json_add_str_or_null(body, "agentSessionId", dr_json_str(job, "agentSessionId"));
	char *summary = dr_xasprintf("Invalid job: %s", why);
	cJSON_AddStringToObject(body, "summary", summary);
	free(summary);
	cJSON_AddBoolToObject(body, "cancelled", false);
	cJSON *meta = cJSON_AddObjectToObject(body, "metadata");
	dr_json_add_str_or_null(meta, "attemptId", dr_json_str(job, "attemptId"));
	dr_outbox_post(r->outbox, id, "/api/runner/jobs/fail", body);
}

static void start_job(struct dr_runner *r, const cJSON *job)
{
	struct slot *s = NULL;
	for (int i = 0; i < r->n_slots; i++)
		if (!r->slots[i].pipeline) {
			s = &r->slots[i];
			break;
		}
	if (!s) { /* cannot happen: we poll only with a free slot */
		dr_err("claimed a job without a free slot; it will time out on the relay");
		return;
	}
	const char *id = dr_json_str(job, "id");
	struct dr_pipeline *p;
	dr_journal_begin(r->journal, job);
	int rc = dr_pipeline_start(&r->env, job, on_job_done, s, &p);
	if (rc < 0) {
		char why[512];
		struct dr_job *parsed = NULL;
		dr_job_parse(job, &parsed, why, sizeof why);
		dr_job_free(parsed);
		dr_journal_end(r->journal, id);
		fail_unusable(r, job, why[0] ? why : "the relay sent a malformed job");
		return;
	}
	s->pipeline = p;
	s->job_id = dr_xstrdup(id ? id : dr_pipeline_job_id(p));
	r->active++;
	sleep_hold(r, job);
	dr_info("claimed job %s", s->job_id);
	update_status(r);
	write_status(r);
	send_heartbeat(r, false);
}

/*
 * A job the previous run left whose agent's supervisor is still there (or
 * left its exit status): it goes on here (journal.h, pipeline.h).
 */
static int adopt_job(const cJSON *entry, const char *dir, int pid, void *data)
{
	struct dr_runner *r = data;
	struct slot *s = NULL;
	for (int i = 0; i < r->n_slots && !s; i++)
		if (!r->slots[i].pipeline)
			s = &r->slots[i];
	const char *id = dr_json_str(entry, "id");
	struct dr_pipeline *p;
	if (!s || !id || dr_pipeline_adopt(&r->env, entry, dir, pid, on_job_done, s, &p) < 0)
		return -EINVAL;
	s->pipeline = p;
	s->job_id = dr_xstrdup(id);
	r->active++;
	sleep_hold(r, cJSON_GetObjectItemCaseSensitive(entry, "job"));
	dr_info("job %s: the previous run left it running; it goes on here", id);
	return 0;
}

/* Claiming ------------------------------------------------------------ */

/* A poll answer nested too deep may still hand us a job: fail it, saying so. */
static void fail_too_deep(struct dr_runner *r, const struct dr_relay_reply *reply)
{
	cJSON *doc = NULL;
	if (dr_json_parse_pruned(reply->raw, reply->raw_len, reply->raw_len, &doc) < 0)
		return;
	const cJSON *job = dr_json_obj(doc, "job");
	if (job) {
		char why[160];
		snprintf(why, sizeof why, "the relay's answer nests deeper than %d levels", DR_JSON_MAX_DEPTH);
		fail_unusable(r, job, why);
	}
	cJSON_Delete(doc);
}

static void on_poll(const struct dr_relay_reply *reply, void *data)
{
	struct dr_runner *r = data;
	r->poll_call = NULL;
	note_answer(r, reply);
	bool kicked = r->poll_kick;
	r->poll_kick = false;
	if (reply->outcome == DR_RELAY_UNAUTHORIZED || r->state != RUNNER_RUNNING) {
		maybe_finish(r);
		return;
	}
	if (reply->outcome != DR_RELAY_OK && reply->status >= 200 && reply->status < 300 && reply->raw)
		fail_too_deep(r, reply);
	if (reply->outcome != DR_RELAY_OK) {
		relay_reachable(r, false, reply->message);
		uint64_t delay = dr_backoff_next(&r->poll_backoff, dr_random01());
		if (r->config->once) {
			dr_err("cannot poll for a job: %s", reply->message);
			enter_state(r, RUNNER_FLUSHING);
			return;
		}
		schedule_poll(r, delay);
		return;
	}
	relay_reachable(r, true, NULL);
	dr_backoff_reset(&r->poll_backoff);
	r->poll_answered = true;
	if (!r->push_live) /* while live we do not ask for a long poll, so the answer says nothing */
		r->long_poll = dr_json_true(reply->body, "longPoll");
	const cJSON *job = cJSON_GetObjectItemCaseSensitive(reply->body, "job");
	if (cJSON_IsObject(job)) {
		start_job(r, job);
		if (r->config->once) {
			if (r->active == 0) /* nothing could be started: nothing to wait for */
				enter_state(r, RUNNER_FLUSHING);
			return;
		}
		schedule_poll(r, 0);
		return;
	}
	if (!cJSON_IsNull(job) && job) {
		dr_warn("the relay answered jobs/poll with a job that is not an object; ignoring it");
	} else {
		const char *reason = dr_json_str(reply->body, "reason");
		dr_debug("poll: no job (%s)", reason ? reason : "empty");
	}
	if (r->config->once) {
		if (r->active == 0) {
			dr_info("no job to run (--once)");
			enter_state(r, RUNNER_FLUSHING);
		}
		return;
	}
	/* While push is live a held poll adds nothing but traffic: the safety sync is enough. */
	if ((r->long_poll && !r->push_live) || kicked) {
		schedule_poll(r, 0);
	} else {
		/* Interval polling with +-10% jitter so that a fleet spreads out. */
		uint64_t base = push_idle_delay(r);
		schedule_poll(r, base - base / 10 + (uint64_t)((double)(base / 5) * dr_random01()));
	}
}

static void do_poll(struct dr_runner *r)
{
	if (r->state != RUNNER_RUNNING || r->poll_call || r->active >= r->n_slots || !r->first_beat_answered)
		return;
	if (r->config->once && r->once_polled)
		return;
	r->once_polled = true;
	cJSON *body = cJSON_CreateObject();
	cJSON_AddStringToObject(body, "version", r->version);
	cJSON_AddItemToObject(body, "supportedExecutors", executors_json(r->config));
	long timeout = 0;
	/* Held polls only while push is down: with push, a poll every safety interval is enough. */
	if (!r->config->once && !r->push_live && r->poll_answered) {
		cJSON_AddNumberToObject(body, "waitMs", LONG_POLL_WAIT_MS);
		timeout = LONG_POLL_WAIT_MS + POLL_TIMEOUT_SLACK_MS;
	}
	int rc = dr_relay_post(r->relay, "/api/runner/jobs/poll", body, timeout, on_poll, r, &r->poll_call);
	if (rc < 0)
		schedule_poll(r, dr_backoff_next(&r->poll_backoff, dr_random01()));
}

static void on_poll_timer(uv_timer_t *t)
{
	do_poll(t->data);
}

static void schedule_poll(struct dr_runner *r, uint64_t delay_ms)
{
	if (r->state != RUNNER_RUNNING)
		return;
	uv_timer_start(&r->poll_timer, on_poll_timer, delay_ms, 0);
}

/* Push ----------------------------------------------------------------
 * Supabase Realtime (realtime.h): a change on one of the account's jobs
 * means "poll now" (coalesced: one poll in flight, one more after it); an
 * UPDATE that turns cancellation_requested true cancels that job if it
 * runs here. While subscribed, polls go at the safety sync interval (no
 * long poll: push already says when to claim); otherwise a long poll, when
 * the relay offers it, waits for jobs; else interval polls wait the
 * fallback interval while push exists but is down (its server unreachable),
 * and poll_interval_ms against a relay that offers no push.
 */

static uint64_t push_idle_delay(struct dr_runner *r)
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
		schedule_poll(r, 0);
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
			dr_info("job %s: cancellation requested (realtime push)", job_id);
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
	write_status(r);
	if (subscribed) {
		push_kick(r); /* anything queued while we were not listening */
	} else if (r->state == RUNNER_RUNNING && !r->poll_call && r->long_poll) {
		schedule_poll(r, 0); /* back to holding a poll */
	} else if (r->state == RUNNER_RUNNING && !r->poll_call &&
		   uv_timer_get_due_in(&r->poll_timer) > r->config->fallback_poll_interval_ms) {
		schedule_poll(r, r->config->fallback_poll_interval_ms);
	}
}

static void push_start(struct dr_runner *r)
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
		dr_warn("cannot start the realtime client: %s; polling only", strerror(-rc));
		return;
	}
	dr_realtime_start(r->push);
}

static void push_stop(struct dr_runner *r)
{
	if (!r->push)
		return;
	dr_realtime_free(r->push);
	r->push = NULL;
	if (r->push_live) {
		r->push_live = false;
		write_status(r);
	}
}

/* Sleep and wake ------------------------------------------------------
 * While a job runs, a sleep inhibitor is held (inhibit.h); after the last
 * job it is kept until that job's report is delivered, for a minute at
 * most. A tick every WAKE_TICK_MS notices a suspend (CLOCK_BOOTTIME ran
 * ahead of the monotonic clock, which stands still in suspend) or a stop
 * (the tick came far later than due): then everything that waited on a
 * timer that slept happens at once.
 */

static void sleep_hold(struct dr_runner *r, const cJSON *job)
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

static void sleep_release(struct dr_runner *r)
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
	dr_info("the machine slept or the runner was stopped for about %llu s: heartbeat, cancellation checks "
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
	send_heartbeat(r, false);
	uv_timer_start(&r->heartbeat_timer, on_heartbeat_timer, r->config->heartbeat_interval_ms,
		       r->config->heartbeat_interval_ms);
	for (int i = 0; i < r->n_slots; i++)
		if (r->slots[i].pipeline)
			dr_pipeline_check_cancel(r->slots[i].pipeline);
	if (r->state != RUNNER_RUNNING)
		return;
	if (r->push) {
		push_stop(r);
		push_start(r);
	}
	if (r->poll_call) {
		dr_relay_call_cancel(r->poll_call);
		r->poll_call = NULL;
	}
	schedule_poll(r, 0);
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

static void wake_watch_start(struct dr_runner *r)
{
	r->wake_mono_ms = uv_hrtime() / 1000000;
	r->wake_boot_ms = boottime_ms();
	uv_timer_start(&r->wake_timer, on_wake_timer, WAKE_TICK_MS, WAKE_TICK_MS);
	/* The tick alone must not keep the loop alive at shutdown. */
	uv_unref((uv_handle_t *)&r->wake_timer);
}

/* Upgrade in place ----------------------------------------------------
 * SIGUSR2: the program on disk replaces this one in the same process
 * (same pid, same cgroup). Only while every job's agent runs under its
 * supervisor (else it waits, checking every second): the new image takes
 * them over through the journal as after a crash, with each job's seq
 * written down first. The new program must first answer `version`; if
 * it does not, or the exec fails, this one goes on and says so.
 */

static bool can_hand_over(struct dr_runner *r, const char **busy)
{
	for (int i = 0; i < r->n_slots; i++)
		if (r->slots[i].pipeline && !dr_pipeline_followable(r->slots[i].pipeline)) {
			*busy = r->slots[i].job_id;
			return false;
		}
	return true;
}

static void upgrade_exec(struct dr_runner *r)
{
	for (int i = 0; i < r->n_slots; i++)
		if (r->slots[i].pipeline) {
			char seq[32];
			snprintf(seq, sizeof seq, "%lld", dr_outbox_seq(r->outbox, r->slots[i].job_id));
			dr_journal_note(r->journal, r->slots[i].job_id, "seq", seq);
		}
	dr_info("upgrading in place: running %s now, which takes over %d job(s)", r->exe, r->active);
	/* Its own inhibitor, if any, is taken again by the new image. */
	dr_inhibit_free(r->inhibit);
	r->inhibit = dr_inhibit_new(r->loop, false);
	r->inhibit_held = false;
	execv(r->exe, r->exec_argv);
	dr_err("upgrade failed: cannot run %s: %s; version %s goes on", r->exe, strerror(errno), r->version);
	r->upgrading = false;
}

static void on_upgrade_timer(uv_timer_t *t);

static void on_preflight(void *data, const struct dr_proc_result *res)
{
	struct dr_runner *r = data;
	r->upgrading = false;
	if (r->state != RUNNER_RUNNING)
		return;
	if (res->exit_code != 0 || strncmp(res->out, "delego-runner ", 14) != 0) {
		int len = (int)res->stderr_len;
		dr_err("upgrade aborted: %s does not start (`%s version` exited %d%s%.*s); version %s goes on",
		       r->exe, r->exe, res->exit_code, len ? ": " : "", len > 200 ? 200 : len, res->stderr_tail,
		       r->version);
		return;
	}
	const char *busy = NULL;
	if (!can_hand_over(r, &busy)) {
		uv_timer_start(&r->upgrade_timer, on_upgrade_timer, 1000, 1000);
		return;
	}
	upgrade_exec(r);
}

/* Runs now and every second until every job can be handed over. */
static void on_upgrade_timer(uv_timer_t *t)
{
	struct dr_runner *r = t->data;
	const char *busy = NULL;
	if (r->upgrading || r->state != RUNNER_RUNNING || !can_hand_over(r, &busy))
		return;
	uv_timer_stop(t);
	r->upgrading = true;
	char *argv[] = { r->exe, "version", NULL };
	char *env[] = { "PATH=/usr/local/bin:/usr/bin:/bin", NULL };
	int rc = dr_proc_run(r->loop, argv, env, NULL, 10000, 4096, on_preflight, r);
	if (rc < 0) {
		dr_err("upgrade aborted: cannot run %s: %s; version %s goes on", r->exe, strerror(-rc), r->version);
		r->upgrading = false;
	}
}

static void on_sigusr2(uv_signal_t *h, int signum)
{
	(void)signum;
	struct dr_runner *r = h->data;
	if (!r->exec_argv || r->state != RUNNER_RUNNING)
		return;
	const char *busy = NULL;
	if (!can_hand_over(r, &busy))
		dr_info("received SIGUSR2: upgrading in place once job %s can be handed over", busy);
	else
		dr_info("received SIGUSR2: upgrading in place");
	uv_timer_start(&r->upgrade_timer, on_upgrade_timer, 0, 1000);
}

/* Shutdown ------------------------------------------------------------ */

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

static void on_drained(void *data)
{
	struct dr_runner *r = data;
	/* A beat in flight (the one that says we are idle) is answered first. */
	if (r->state == RUNNER_FLUSHING && !r->heartbeat_call && !dr_outbox_pending(r->outbox))
		enter_state(r, RUNNER_STOPPED);
}

static void on_grace_timer(uv_timer_t *t)
{
	struct dr_runner *r = t->data;
	if (r->state == RUNNER_DRAINING) {
		dr_warn("shutdown grace of %llu ms is over: cancelling %d running job(s)",
			(unsigned long long)r->config->shutdown_grace_ms, r->active);
		enter_state(r, RUNNER_CANCELLING);
	} else if (r->state == RUNNER_FLUSHING) {
		dr_warn("%zu report(s) not delivered yet; they stay in the spool for the next start",
			dr_outbox_pending(r->outbox));
		enter_state(r, RUNNER_STOPPED);
	}
}

/* Closes every handle and client once nothing of ours is on the stack. */
static void finalize(uv_timer_t *t)
{
	struct dr_runner *r = t->data;
	write_status(r);
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

static void maybe_finish(struct dr_runner *r)
{
	if ((r->state == RUNNER_DRAINING || r->state == RUNNER_CANCELLING) && r->active == 0 && !r->poll_call) {
		if (r->exit_status == 2)
			enter_state(r, RUNNER_STOPPED);
		else
			enter_state(r, RUNNER_FLUSHING);
	}
}

/* No new jobs: no push, no poll timer, no poll in flight. */
static void stop_claiming(struct dr_runner *r)
{
	dr_notify("STOPPING=1");
	push_stop(r);
	uv_timer_stop(&r->poll_timer);
	if (r->poll_call) {
		dr_relay_call_cancel(r->poll_call);
		r->poll_call = NULL;
	}
}

static void enter_state(struct dr_runner *r, enum runner_state next)
{
	if (next <= r->state && !(next == r->state && next == RUNNER_RUNNING))
		return;
	dr_debug("runner: %s -> %s", runner_strstate[r->state], runner_strstate[next]);
	r->state = next;
	switch (next) {
	case RUNNER_RUNNING:
		break;
	case RUNNER_DRAINING:
		stop_claiming(r);
		if (r->active)
			dr_info("waiting up to %llu ms for %d running job(s) to finish",
				(unsigned long long)r->config->shutdown_grace_ms, r->active);
		uv_timer_start(&r->grace_timer, on_grace_timer, r->config->shutdown_grace_ms, 0);
		maybe_finish(r);
		break;
	case RUNNER_CANCELLING:
		stop_claiming(r);
		for (int i = 0; i < r->n_slots; i++)
			if (r->slots[i].pipeline)
				dr_pipeline_cancel(r->slots[i].pipeline, r->exit_status == 2
					? "the runner's credential was revoked" : "the runner is shutting down");
		maybe_finish(r);
		break;
	case RUNNER_FLUSHING:
		dr_gc_sweep_stop(r->sweep); /* a sweep in flight would hold the loop open */
		dr_workspace_stop_background(); /* and so would a spare worktree being made */
		push_stop(r);
		uv_timer_stop(&r->poll_timer);
		uv_timer_stop(&r->heartbeat_timer);
		if (!uv_is_active((uv_handle_t *)&r->grace_timer))
			uv_timer_start(&r->grace_timer, on_grace_timer, r->config->shutdown_grace_ms, 0);
		if (dr_outbox_pending(r->outbox))
			dr_info("delivering %zu pending report(s) before exit", dr_outbox_pending(r->outbox));
		dr_outbox_on_drained(r->outbox, on_drained, r);
		break;
	case RUNNER_STOPPED:
		dr_gc_sweep_stop(r->sweep);
		push_stop(r);
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

static void on_signal(uv_signal_t *h, int signum)
{
	struct dr_runner *r = h->data;
	if (signum == SIGHUP) {
		if (!r->reload)
			return;
		struct dr_config *c = r->reload(r->reload_data);
		if (!c)
			return; /* the reloader logged why */
		r->old_configs = dr_xrealloc(r->old_configs, (r->n_old_configs + 1) * sizeof *r->old_configs);
		r->old_configs[r->n_old_configs++] = r->config;
		/* Slots and identity stay; intervals, level and executors change. */
		c->max_jobs = r->n_slots;
		r->config = c;
		r->env.config = c;
		dr_log_set_level(c->log_level);
		uv_timer_start(&r->heartbeat_timer, on_heartbeat_timer, c->heartbeat_interval_ms,
			       c->heartbeat_interval_ms);
		dr_info("configuration reloaded");
		return;
	}
	r->signals++;
	if (r->signals == 1 && r->state == RUNNER_RUNNING) {
		dr_info("received %s: no new jobs; shutting down", signum == SIGTERM ? "SIGTERM" : "SIGINT");
		enter_state(r, RUNNER_DRAINING);
	} else if (r->state <= RUNNER_DRAINING) {
		dr_info("second signal: cancelling running jobs now");
		enter_state(r, RUNNER_CANCELLING);
	} else if (r->state == RUNNER_FLUSHING) {
		dr_info("second signal: leaving %zu undelivered report(s) in the spool", dr_outbox_pending(r->outbox));
		enter_state(r, RUNNER_STOPPED);
	}
}

static void on_watchdog(uv_timer_t *t)
{
	(void)t;
	/* The loop turned, so it is not blocked: tell the service manager. */
	dr_notify("WATCHDOG=1");
}

/* Life cycle ---------------------------------------------------------- */

int dr_runner_new(const struct dr_runner_opts *o, struct dr_runner **out, char *err, size_t errlen)
{
	struct dr_runner *r = dr_xcalloc(1, sizeof *r);
	int rc;
	r->loop = o->loop;
	r->config = o->config;
	r->runner_id = dr_xstrdup(o->runner_id);
	r->version = dr_xstrdup(o->version);
	r->heartbeat_backoff = (struct dr_backoff)DR_BACKOFF_INIT(RETRY_BASE_MS, RETRY_CAP_MS);
	r->poll_backoff = (struct dr_backoff)DR_BACKOFF_INIT(RETRY_BASE_MS, RETRY_CAP_MS);
	r->n_slots = r->config->max_jobs > 0 ? r->config->max_jobs : 1;
	r->slots = dr_xcalloc((size_t)r->n_slots, sizeof *r->slots);
	r->sweep = dr_gc_sweep_new(r->loop);
	for (int i = 0; i < r->n_slots; i++)
		r->slots[i].runner = r;

	rc = dr_http_new(r->loop, &r->http);
	if (rc < 0) {
		snprintf(err, errlen, "cannot initialise libcurl: %s", strerror(-rc));
		goto fail;
	}
	rc = dr_relay_new(r->http, r->config->relay_url, o->bearer, &r->relay);
	if (rc < 0) {
		snprintf(err, errlen, "invalid relay URL '%s'", r->config->relay_url);
		goto fail;
	}
	dr_relay_on_unauthorized(r->relay, on_unauthorized, r);
	/* Another user who can write there could plant reports or journal entries. */
	rc = dr_mkdir_private(r->config->state_dir, err, errlen);
	if (rc == -EPERM || rc == -ENOTDIR)
		goto fail;
	char *spool = dr_xasprintf("%s/outbox", r->config->state_dir);
	rc = dr_outbox_new(r->loop, r->relay, spool, &r->outbox, err, errlen);
	free(spool);
	if (rc < 0) {
		/* A full or read-only disk must not stop the runner: reports then
		 * go from memory, as they would after a failed spool write. */
		dr_warn("%s; reports will be kept in memory only", err);
		rc = dr_outbox_new(r->loop, r->relay, NULL, &r->outbox, err, errlen);
		if (rc < 0)
			goto fail;
	}
	char *jdir = dr_xasprintf("%s/jobs", r->config->state_dir);
	rc = dr_journal_open(jdir, &r->journal, err, errlen);
	free(jdir);
	if (rc < 0) {
		dr_warn("%s; a crash would not be reported for the jobs of this run", err);
		r->journal = NULL;
	}
	if (r->journal)
		dr_outbox_on_seq(r->outbox, on_seq, r);
	dr_journal_sync_on(r->journal, r->loop);
	r->env = (struct dr_pipeline_env){
		.journal = r->journal,
		.loop = r->loop,
		.config = r->config,
		.relay = r->relay,
		.outbox = r->outbox,
		.version = r->version,
	};

	uv_timer_init(r->loop, &r->heartbeat_timer);
	uv_timer_init(r->loop, &r->poll_timer);
	uv_timer_init(r->loop, &r->grace_timer);
	uv_timer_init(r->loop, &r->watchdog_timer);
	uv_signal_init(r->loop, &r->sigterm);
	uv_signal_init(r->loop, &r->sigint);
	uv_signal_init(r->loop, &r->sighup);
	uv_timer_init(r->loop, &r->inhibit_timer);
	uv_timer_init(r->loop, &r->wake_timer);
	r->inhibit_timer.data = r->wake_timer.data = r;
	uv_signal_init(r->loop, &r->sigusr2);
	uv_timer_init(r->loop, &r->upgrade_timer);
	r->sigusr2.data = r->upgrade_timer.data = r;
	r->open_handles = 11;
	size_t exelen = sizeof r->exe;
	char cwd[2048];
	const char *prog = o->exec_argv ? o->exec_argv[0] : NULL;
	if (prog && strchr(prog, '/') && (prog[0] == '/' || getcwd(cwd, sizeof cwd)))
		snprintf(r->exe, sizeof r->exe, "%s%s%s", prog[0] == '/' ? "" : cwd, prog[0] == '/' ? "" : "/", prog);
	else if (!prog || uv_exepath(r->exe, &exelen) < 0)
		r->exe[0] = '\0';
	if (r->exe[0]) {
		r->exec_argv = dr_xcalloc(1, sizeof *r->exec_argv);
		dr_strv_push(&r->exec_argv, r->exe);
		for (char *const *a = o->exec_argv + 1; *a; a++)
			dr_strv_push(&r->exec_argv, *a);
	}
	char note[256];
	bool inhibit = dr_inhibit_enabled(r->config->inhibit_sleep, NULL, note, sizeof note);
	r->inhibit = dr_inhibit_new(r->loop, inhibit);
	dr_debug("sleep inhibitor: %s", note);
	r->heartbeat_timer.data = r->poll_timer.data = r->grace_timer.data = r->watchdog_timer.data = r;
	r->sigterm.data = r->sigint.data = r->sighup.data = r;
	*out = r;
	return 0;
fail:
	if (r->outbox)
		dr_outbox_free(r->outbox);
	if (r->relay)
		dr_relay_free(r->relay);
	if (r->http) {
		dr_http_free(r->http);
		uv_run(r->loop, UV_RUN_NOWAIT);
	}
	dr_gc_sweep_free(r->sweep);
	free(r->slots);
	free(r->runner_id);
	free(r->version);
	free(r);
	return rc;
}

void dr_runner_on_reload(struct dr_runner *r, dr_runner_reload_fn fn, void *data)
{
	r->reload = fn;
	r->reload_data = data;
}

int dr_runner_run(struct dr_runner *r)
{
	uv_signal_start(&r->sigterm, on_signal, SIGTERM);
	uv_signal_start(&r->sigint, on_signal, SIGINT);
	uv_signal_start(&r->sighup, on_signal, SIGHUP);
	uv_signal_start(&r->sigusr2, on_sigusr2, SIGUSR2);
	uv_timer_start(&r->heartbeat_timer, on_heartbeat_timer, r->config->heartbeat_interval_ms,
		       r->config->heartbeat_interval_ms);
	dr_isotime_now(r->started_at);
	int mk = dr_mkdir_p(r->config->state_dir, 0700);
	if (mk < 0)
		dr_warn("cannot create state directory %s: %s", r->config->state_dir, strerror(-mk));
	write_status(r);
	wake_watch_start(r);
	uint64_t wd = dr_notify_watchdog_ms();
	if (wd)
		uv_timer_start(&r->watchdog_timer, on_watchdog, wd / 2 ? wd / 2 : 1, wd / 2 ? wd / 2 : 1);
	dr_info("delego-runner %s starting: profile %s, runner %s, relay %s, executors %s%s, up to %d job(s)",
		r->version, r->config->profile, r->runner_id, r->config->relay_url, r->config->supported_executors[0],
		r->config->supported_executors[1] ? ",..." : "", r->n_slots);
	int recovered = r->journal ? dr_journal_recover(r->journal, r->outbox, adopt_job, r) : 0;
	if (recovered)
		dr_info("reported %d job(s) interrupted by the previous run as failed", recovered);
	send_heartbeat(r, true); /* its answer starts claiming */
	/* Workspace retention, on the threadpool: never on the loop's path. */
	if (!r->config->once)
		dr_gc_sweep_request(r->sweep, r->config);
	uv_run(r->loop, UV_RUN_DEFAULT);
	return r->exit_status;
}

void dr_runner_free(struct dr_runner *r)
{
	if (!r)
		return;
	if (r->state != RUNNER_STOPPED) {
		r->state = RUNNER_FLUSHING;
		enter_state(r, RUNNER_STOPPED);
		uv_run(r->loop, UV_RUN_DEFAULT);
	}
	dr_relay_free(r->relay);
	dr_journal_free(r->journal);
	dr_gc_sweep_free(r->sweep);
	dr_config_free(r->config);
	for (size_t i = 0; i < r->n_old_configs; i++)
		dr_config_free(r->old_configs[i]);
	free(r->old_configs);
	free(r->last_error);
	dr_strv_free(r->settling);
	free(r->slots);
	free(r->runner_id);
	free(r->version);
	dr_strv_free(r->exec_argv);
	free(r);
}
