/*
 * store: the relay's state in one SQLite database.
 *
 * Owns runners, pairing tokens, jobs, job events, workspace settings and the
 * relay's own secrets (admin token, JWT key, account id). The database runs
 * in WAL mode with a busy timeout so the admin CLI can write while `serve`
 * runs; every read-modify-write is one BEGIN IMMEDIATE transaction, which is
 * what makes pairing tokens single use and job claims exclusive across
 * processes. Secrets the runner presents (pairing tokens, bearers) are only
 * ever stored as SHA-256 hashes.
 *
 * Functions return 0 or a negative errno; on failure relay_store_error()
 * holds a sentence for the user. Times are milliseconds since the epoch,
 * passed in by the caller (see clock.h), so tests can move them.
 */
#ifndef RELAY_STORE_H
#define RELAY_STORE_H

#include <cjson/cJSON.h>
#include <stdbool.h>
#include <stdint.h>

#define RELAY_EXEC_CLAUDE 1u
#define RELAY_EXEC_CODEX 2u
#define RELAY_EXEC_ALL (RELAY_EXEC_CLAUDE | RELAY_EXEC_CODEX)

#define RELAY_PAIR_TTL_MS (15 * 60 * 1000)
/* The runner beats every 300 s: Online allows one missed beat, Stale six. */
#define RELAY_ONLINE_SECONDS_DEFAULT 600
#define RELAY_STALE_SECONDS_DEFAULT 1800
#define RELAY_NAME_MAX 120

enum relay_status {
	RELAY_STATUS_ONLINE,
	RELAY_STATUS_STALE,
	RELAY_STATUS_OFFLINE,
	RELAY_STATUS_REVOKED,
	RELAY_STATUS_NOT_REGISTERED,
};

/* "online", "stale", "offline", "revoked", "not_registered". */
const char *relay_status_name(enum relay_status s);
/* "Online", "Stale", "Offline", "Revoked", "Not registered". */
const char *relay_status_label(enum relay_status s);
/*
 * The status rule, pure: revoked wins; a runner without a live bearer
 * (never paired, or rotated and not re-paired) is not registered; else the
 * age of its last sign of life (heartbeat, or pairing before the first beat)
 * decides: <= online_s Online, <= stale_s Stale, else Offline.
 */
enum relay_status relay_status_derive(bool revoked, bool has_bearer, int64_t last_seen_ms, int64_t now_ms,
				      long online_s, long stale_s);

/* Parses "claude,codex" into a mask; 0 and -EINVAL on an unknown name. */
int relay_exec_parse(const char *csv, unsigned *mask);
/* The mask of the known executor names in a JSON array (others ignored). */
unsigned relay_exec_from_json(const cJSON *arr);
/* A new JSON array of the names in mask. */
cJSON *relay_exec_to_json(unsigned mask);

struct relay_store;

/* Opens (creating the file, its directory and the schema) the database. */
int relay_store_open(const char *path, struct relay_store **out, char *err, size_t errlen);
void relay_store_close(struct relay_store *st);
/* The last failure, as a sentence. Borrowed. */
const char *relay_store_error(const struct relay_store *st);

/* Borrowed for the store's lifetime. */
const char *relay_store_admin_token(const struct relay_store *st);
const char *relay_store_account_id(const struct relay_store *st);
const char *relay_store_jwt_key(const struct relay_store *st);

/* Thresholds for the runner status; persist=true records them for the CLI. */
int relay_store_set_thresholds(struct relay_store *st, long online_s, long stale_s, bool persist);
void relay_store_thresholds(const struct relay_store *st, long *online_s, long *stale_s);
/* The base URL `serve` listens on (recorded for the pairing command). */
int relay_store_set_public_url(struct relay_store *st, const char *url);
/* Caller frees; NULL when unset. */
char *relay_store_public_url(struct relay_store *st);

/* Changes whenever any connection commits a change (cheap to call often). */
int64_t relay_store_data_version(struct relay_store *st);

/* A minted pairing token. token is owned: free it with relay_pairing_release. */
struct relay_pairing {
	char *token;
	char runner_id[37];
	int64_t expires_at;
};
void relay_pairing_release(struct relay_pairing *p);

/* New runner card (name may be NULL; exec_mask 0 = any) and its token. */
int relay_store_pair_token(struct relay_store *st, const char *name, unsigned exec_mask, int64_t now,
			   struct relay_pairing *out);
/* Kills the runner's bearer and pending tokens; mints a token for the same id. */
int relay_store_rotate(struct relay_store *st, const char *runner_id, int64_t now, struct relay_pairing *out);
/*
 * Trades a pairing token for a bearer. -EACCES for an unknown, used or
 * expired token. *runner (owned) is the runner object; *bearer owned.
 */
int relay_store_register(struct relay_store *st, const char *pairing_token, const char *version,
			 unsigned reported_mask, int64_t now, cJSON **runner, char **bearer);

/* Who a bearer belongs to. -EACCES when dead (unknown, rotated, revoked). */
struct relay_auth {
	char runner_id[37];
	unsigned exec_mask;     /* configured at pairing; RELAY_EXEC_ALL when any */
	unsigned reported_mask; /* from the runner's last beat; 0 when unknown */
	int64_t paired_at;      /* when this bearer was issued: names the credential */
};
int relay_store_auth(struct relay_store *st, const char *bearer, struct relay_auth *out);
/*
 * 0 when the runner still holds the credential issued at paired_at (not
 * removed, revoked or rotated since); -EACCES otherwise.
 */
int relay_store_runner_live(struct relay_store *st, const char *runner_id, int64_t paired_at);

/*
 * Records a beat. Sets *restart when a pending restart request is delivered:
 * only when deliver_restart and the runner is idle (active_job_id NULL).
 * *answer (owned) is {id, status, lastHeartbeatAt}.
 */
int relay_store_heartbeat(struct relay_store *st, const char *runner_id, const char *version,
			  unsigned reported_mask, const char *active_job_id, bool deliver_restart, int64_t now,
			  bool *restart, cJSON **answer);

/*
 * Claims the oldest queued job this runner may run, atomically. supported is
 * the executors the poll advertised (0: the last reported). *job (owned) is
 * the JOB OBJECT of delego-runner-protocol(7), or NULL with *reason set.
 */
int relay_store_claim(struct relay_store *st, const struct relay_auth *auth, unsigned supported, int64_t now,
		      cJSON **job, const char **reason);
/* True when relay_store_claim could hand this runner something now. */
bool relay_store_claimable(struct relay_store *st, const struct relay_auth *auth, unsigned supported);

enum relay_report {
	RELAY_REPORT_PROGRESS,
	RELAY_REPORT_COMPLETE,
	RELAY_REPORT_FAIL,
	RELAY_REPORT_AWAIT,
};
/*
 * Stores a report. A repeated eventId succeeds with *duplicate set and no
 * change. -EINVAL: no jobId; -ENOENT: no such job; -EBUSY: not held by this
 * runner or no longer running (HTTP 409).
 */
int relay_store_report(struct relay_store *st, const char *runner_id, enum relay_report kind,
		       const cJSON *body, int64_t now, bool *duplicate);
/* True when the runner should stop: cancelled, reassigned, or unknown job. */
int relay_store_cancel_requested(struct relay_store *st, const char *runner_id, const char *job_id,
				 bool *cancel);
/* The runner revokes itself (Revoked card); its running jobs fail. */
int relay_store_unregister(struct relay_store *st, const char *runner_id, int64_t now);
/* Admin: revoke and hide the runner; jobs it held are marked failed. */
int relay_store_remove(struct relay_store *st, const char *runner_id, int64_t now);
/* Admin: ask the runner to restart at its next idle steady-state beat. */
int relay_store_request_restart(struct relay_store *st, const char *runner_id, int64_t now);
/* All runners not removed, oldest first (owned array). */
int relay_store_runners(struct relay_store *st, int64_t now, cJSON **out);

struct relay_job_spec {
	const char *repo;       /* owner/repo, required */
	const char *executor;   /* claude|codex or NULL for the workspace default */
	const char *model;      /* or NULL */
	const char *thinking;   /* low|medium|high or NULL */
	const char *identifier; /* or NULL: LOCAL-<n> */
	const char *title;
	const char *url;
	const char *prompt;
	bool auto_push, auto_create_pr, pr_draft;
};
/* Queues a job; *id owned. -EINVAL with a sentence for a bad spec. */
int relay_store_job_add(struct relay_store *st, const struct relay_job_spec *spec, int64_t now, char **id);
/*
 * The deepest job the relay queues (the job object is level 1). The runner
 * reads answers at most DR_JSON_MAX_DEPTH deep and keeps jobs inside other
 * documents, so a deeper job would be claimed and never reported.
 */
#define RELAY_JOB_DEPTH_MAX 32
/*
 * Queues a raw job object as-is (id, organizationId, agentSessionId added
 * when absent). -EINVAL for a non-object or one nested deeper than
 * RELAY_JOB_DEPTH_MAX.
 */
int relay_store_job_add_raw(struct relay_store *st, const cJSON *raw, int64_t now, char **id);
/* Newest first, at most limit (0: all); with_events adds each job's events. */
int relay_store_jobs(struct relay_store *st, int limit, bool with_events, cJSON **out);
int relay_store_job_show(struct relay_store *st, const char *id, cJSON **out);
int relay_store_job_cancel(struct relay_store *st, const char *id, int64_t now);
/* An awaiting_input job goes back to the queue, pinned to its runner. */
int relay_store_job_answer(struct relay_store *st, const char *id, const char *text, int64_t now);

/* {defaultExecutor, workspacePath} (owned). */
int relay_store_settings(struct relay_store *st, cJSON **out);
/* NULL leaves a value; "" clears the workspace path. */
int relay_store_settings_set(struct relay_store *st, const char *default_executor, const char *workspace_path);
/* The workspace path put into pairing commands (owned), or NULL when unset. */
char *relay_store_workspace_path(struct relay_store *st);

#endif
