/*
 * runner_claim: getting jobs: the poll (long or short), starting a claimed
 * job in a free slot, failing an unusable one, taking over the jobs a
 * previous run left, and a job's end. Push (runner_push.c), the beat and
 * the wake watch (runner_beat.c) ask for a poll through r->claim.
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
#include "delego/strv.h"
#include "delego/xalloc.h"

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

/* Jobs ---------------------------------------------------------------- */

static void schedule_poll(struct dr_runner *r, uint64_t delay_ms);

/* Removes one copy of job_id from the runner's settling list. */
static void settling_remove(struct dr_runner *r, const char *job_id)
{
	for (size_t i = 0; i < r->settling.n; i++)
		if (!strcmp(r->settling.v[i], job_id)) {
			dr_strv_remove(&r->settling, i);
			return;
		}
}

/* The job's terminal report is acknowledged (or waits in the spool): now say we are idle, then claim. */
static void on_job_settled(const char *job_id, void *data)
{
	struct dr_runner *r = data;
	settling_remove(r, job_id);
	if (r->exit_status != 2 && r->state < RUNNER_FLUSHING)
		dr__runner_send_heartbeat(r, false);
	if (r->config->once && r->state == RUNNER_RUNNING)
		dr__runner_enter_state(r, RUNNER_FLUSHING);
	else if (r->state == RUNNER_RUNNING)
		schedule_poll(r, 0);
	else
		dr__runner_maybe_finish(r);
}

static void on_job_done(struct dr_pipeline *p, void *data)
{
	struct slot *s = data;
	struct dr_runner *r = s->runner;
	dr_log_info("job %s finished", s->job_id);
	/* Its final report is in the outbox by now: the journal entry can go. */
	dr_journal_end(r->journal, s->job_id);
	dr_pipeline_free(p);
	/* After the free: that is what releases the job's hold on its worktree. */
	if (!r->config->once)
		dr_gc_sweep_request_after(r->sweep, r->config, s->job_id); /* measures again only what changed */
	dr_strv_push(&r->settling, s->job_id);
	char *id = s->job_id;
	s->job_id = NULL;
	s->pipeline = NULL;
	r->active--;
	dr__runner_sleep_release(r);
	dr__runner_update_status(r);
	dr__runner_write_status(r);
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
		dr_log_err("the relay handed out a job without an id (%s); it cannot be reported", why);
		return;
	}
	dr_log_err("the relay handed out a job that cannot run (%s); reporting it as failed", why);
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
		dr_log_err("claimed a job without a free slot; it will time out on the relay");
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
	dr__runner_sleep_hold(r, job);
	dr_log_info("claimed job %s", s->job_id);
	dr__runner_update_status(r);
	dr__runner_write_status(r);
	dr__runner_send_heartbeat(r, false);
}

/*
 * A job the previous run left whose agent's supervisor is still there (or
 * left its exit status): it goes on here (journal.h, pipeline.h).
 */
int dr__runner_adopt_job(const cJSON *entry, const char *dir, int pid, void *data)
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
	dr__runner_sleep_hold(r, cJSON_GetObjectItemCaseSensitive(entry, "job"));
	dr_log_info("job %s: the previous run left it running; it goes on here", id);
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
	dr__runner_note_answer(r, reply);
	bool kicked = r->poll_kick;
	r->poll_kick = false;
	if (reply->outcome == DR_RELAY_UNAUTHORIZED || r->state != RUNNER_RUNNING) {
		dr__runner_maybe_finish(r);
		return;
	}
	if (reply->outcome != DR_RELAY_OK && reply->status >= 200 && reply->status < 300 && reply->raw)
		fail_too_deep(r, reply);
	if (reply->outcome != DR_RELAY_OK) {
		dr__runner_relay_reachable(r, false, reply->message);
		uint64_t delay = dr_backoff_next(&r->poll_backoff, dr_random_unit());
		if (r->config->once) {
			dr_log_err("cannot poll for a job: %s", reply->message);
			dr__runner_enter_state(r, RUNNER_FLUSHING);
			return;
		}
		schedule_poll(r, delay);
		return;
	}
	dr__runner_relay_reachable(r, true, NULL);
	dr_backoff_reset(&r->poll_backoff);
	r->poll_answered = true;
	if (!r->push_live) /* while live we do not ask for a long poll, so the answer says nothing */
		r->long_poll = dr_json_true(reply->body, "longPoll");
	const cJSON *job = cJSON_GetObjectItemCaseSensitive(reply->body, "job");
	if (cJSON_IsObject(job)) {
		start_job(r, job);
		if (r->config->once) {
			if (r->active == 0) /* nothing could be started: nothing to wait for */
				dr__runner_enter_state(r, RUNNER_FLUSHING);
			return;
		}
		schedule_poll(r, 0);
		return;
	}
	if (!cJSON_IsNull(job) && job) {
		dr_log_warn("the relay answered jobs/poll with a job that is not an object; ignoring it");
	} else {
		const char *reason = dr_json_str(reply->body, "reason");
		dr_log_debug("poll: no job (%s)", reason ? reason : "empty");
	}
	if (r->config->once) {
		if (r->active == 0) {
			dr_log_info("no job to run (--once)");
			dr__runner_enter_state(r, RUNNER_FLUSHING);
		}
		return;
	}
	/* While push is live a held poll adds nothing but traffic: the safety sync is enough. */
	if ((r->long_poll && !r->push_live) || kicked) {
		schedule_poll(r, 0);
	} else {
		/* Interval polling with +-10% jitter so that a fleet spreads out. */
		uint64_t base = dr__runner_push_idle_delay(r);
		schedule_poll(r, base - base / 10 + (uint64_t)((double)(base / 5) * dr_random_unit()));
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
	cJSON_AddItemToObject(body, "supportedExecutors", dr__runner_executors_json(r->config));
	long timeout = 0;
	/* Held polls only while push is down: with push, a poll every safety interval is enough. */
	if (!r->config->once && !r->push_live && r->poll_answered) {
		cJSON_AddNumberToObject(body, "waitMs", LONG_POLL_WAIT_MS);
		timeout = LONG_POLL_WAIT_MS + POLL_TIMEOUT_SLACK_MS;
	}
	int rc = dr_relay_post(r->relay, "/api/runner/jobs/poll", body, timeout, on_poll, r, &r->poll_call);
	if (rc < 0)
		schedule_poll(r, dr_backoff_next(&r->poll_backoff, dr_random_unit()));
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

/* The parts below this one poll through these (runner-int.h). */
void dr__runner_claim_init(struct dr_runner *r)
{
	r->claim = (struct runner_claim_hooks){
		.poll_now = do_poll,
		.poll_after = schedule_poll,
	};
}
