/*
 * runner: the daemon's life cycle: new, run and free, signals, the 401
 * that ends it, and the upgrade in place. Its states and shutdown are in
 * runner_state.c.
 */
#include "runner-int.h"
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
#include "delego/strv.h"
#include "delego/xalloc.h"

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

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
	dr_log_err("the relay rejected this runner's credential (HTTP 401 on %s): it was rotated or removed in the "
	       "dashboard. Pair again with a new token: printf '%%s' drs_pair_... | delego-runner pair --relay-url %s "
	       "--pairing-token -%s%s. Profile: %s, runner: %s, relay: %s",
	       path, dr_relay_url(r->relay), strcmp(r->config->profile, "default") ? " --profile " : "",
	       strcmp(r->config->profile, "default") ? r->config->profile : "", r->config->profile, r->runner_id,
	       dr_relay_url(r->relay));
	r->exit_status = 2;
	if (r->state < RUNNER_CANCELLING)
		dr__runner_enter_state(r, RUNNER_CANCELLING);
	else if (r->state == RUNNER_FLUSHING)
		dr__runner_enter_state(r, RUNNER_STOPPED);
}

/* Upgrade in place ----------------------------------------------------
 * SIGUSR2: the program on disk replaces this one in the same process
 * (same pid, same cgroup). Only while every job's agent runs under its
 * supervisor (else it waits, checking every second): the new image takes
 * them over through the journal as after a crash, with each job's seq
 * written down first. The new program must first answer `version`; if
 * it does not, or the exec fails, this one goes on and says so.
 */

#define INHIBITOR_ENV "DELEGO_RUNNER_INHIBITOR" /* "PID OUT ERR": dr_inhibit_handover */

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
	dr_log_info("upgrading in place: running %s now, which takes over %d job(s)", r->exe, r->active);
	/* The sleep inhibitor's holder stays our child across the exec: the new image takes it over and reaps it. */
	char holder[64];
	if (dr_inhibit_handover(r->inhibit, holder, sizeof holder))
		setenv(INHIBITOR_ENV, holder, 1);
	execv(r->exe, r->exec_argv.v);
	int e = errno;
	unsetenv(INHIBITOR_ENV);
	dr_inhibit_handover_undo(r->inhibit);
	dr_log_err("upgrade failed: cannot run %s: %s; version %s goes on", r->exe, strerror(e), r->version);
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
		dr_log_err("upgrade aborted: %s does not start (`%s version` exited %d%s%.*s); version %s goes on",
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
		dr_log_err("upgrade aborted: cannot run %s: %s; version %s goes on", r->exe, strerror(-rc), r->version);
		r->upgrading = false;
	}
}

static void on_sigusr2(uv_signal_t *h, int signum)
{
	(void)signum;
	struct dr_runner *r = h->data;
	if (!r->exec_argv.n || r->state != RUNNER_RUNNING)
		return;
	const char *busy = NULL;
	if (!can_hand_over(r, &busy))
		dr_log_info("received SIGUSR2: upgrading in place once job %s can be handed over", busy);
	else
		dr_log_info("received SIGUSR2: upgrading in place");
	uv_timer_start(&r->upgrade_timer, on_upgrade_timer, 0, 1000);
}

/* Signals ------------------------------------------------------------- */

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
		uv_timer_start(&r->heartbeat_timer, dr__runner_on_heartbeat_timer, c->heartbeat_interval_ms,
			       c->heartbeat_interval_ms);
		dr_log_info("configuration reloaded");
		return;
	}
	r->signals++;
	if (r->signals == 1 && r->state == RUNNER_RUNNING) {
		dr_log_info("received %s: no new jobs; shutting down", signum == SIGTERM ? "SIGTERM" : "SIGINT");
		dr__runner_enter_state(r, RUNNER_DRAINING);
	} else if (r->state <= RUNNER_DRAINING) {
		dr_log_info("second signal: cancelling running jobs now");
		dr__runner_enter_state(r, RUNNER_CANCELLING);
	} else if (r->state == RUNNER_FLUSHING) {
		dr_log_info("second signal: leaving %zu undelivered report(s) in the spool", dr_outbox_pending(r->outbox));
		dr__runner_enter_state(r, RUNNER_STOPPED);
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
	dr__runner_claim_init(r);
	/* Another user who can write there could plant reports or journal entries. */
	rc = dr_fsutil_mkdir_private(r->config->state_dir, err, errlen);
	if (rc == -EPERM || rc == -ENOTDIR)
		goto fail;
	char *spool = dr_xasprintf("%s/outbox", r->config->state_dir);
	rc = dr_outbox_new(r->loop, r->relay, spool, &r->outbox, err, errlen);
	free(spool);
	if (rc < 0) {
		/* A full or read-only disk must not stop the runner: reports then
		 * go from memory, as they would after a failed spool write. */
		dr_log_warn("%s; reports will be kept in memory only", err);
		rc = dr_outbox_new(r->loop, r->relay, NULL, &r->outbox, err, errlen);
		if (rc < 0)
			goto fail;
	}
	char *jdir = dr_xasprintf("%s/jobs", r->config->state_dir);
	rc = dr_journal_open(jdir, &r->journal, err, errlen);
	free(jdir);
	if (rc < 0) {
		dr_log_warn("%s; a crash would not be reported for the jobs of this run", err);
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
		dr_strv_push(&r->exec_argv, r->exe);
		for (char *const *a = o->exec_argv + 1; *a; a++)
			dr_strv_push(&r->exec_argv, *a);
	}
	char note[256];
	bool inhibit = dr_inhibit_enabled(r->config->inhibit_sleep, NULL, note, sizeof note);
	r->inhibit = dr_inhibit_new(r->loop, inhibit);
	dr_log_debug("sleep inhibitor: %s", note);
	/* Upgraded in place: the previous image's holder is our child now (upgrade_exec). Not for any child of ours. */
	const char *holder = getenv(INHIBITOR_ENV);
	if (holder) {
		dr_inhibit_adopt(r->inhibit, holder);
		unsetenv(INHIBITOR_ENV);
	}
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
	uv_timer_start(&r->heartbeat_timer, dr__runner_on_heartbeat_timer, r->config->heartbeat_interval_ms,
		       r->config->heartbeat_interval_ms);
	dr_isotime_now(r->started_at);
	int mk = dr_fsutil_mkdir_p(r->config->state_dir, 0700);
	if (mk < 0)
		dr_log_warn("cannot create state directory %s: %s", r->config->state_dir, strerror(-mk));
	dr__runner_write_status(r);
	dr__runner_wake_watch_start(r);
	uint64_t wd = dr_notify_watchdog_ms();
	if (wd)
		uv_timer_start(&r->watchdog_timer, on_watchdog, wd / 2 ? wd / 2 : 1, wd / 2 ? wd / 2 : 1);
	dr_log_info("delego-runner %s starting: profile %s, runner %s, relay %s, executors %s%s, up to %d job(s)",
		r->version, r->config->profile, r->runner_id, r->config->relay_url, r->config->supported_executors[0],
		r->config->supported_executors[1] ? ",..." : "", r->n_slots);
	int recovered = r->journal ? dr_journal_recover(r->journal, r->outbox, dr__runner_adopt_job, r) : 0;
	if (recovered)
		dr_log_info("reported %d job(s) interrupted by the previous run as failed", recovered);
	dr_inhibit_trim(r->inhibit); /* a holder taken over that no job took again */
	dr__runner_send_heartbeat(r, true); /* its answer starts claiming */
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
		dr__runner_enter_state(r, RUNNER_STOPPED);
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
	dr_strv_release(&r->settling);
	free(r->slots);
	free(r->runner_id);
	free(r->version);
	dr_strv_release(&r->exec_argv);
	free(r);
}
