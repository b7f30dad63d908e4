/*
 * outbox: reports to the relay that must not be lost (progress, complete,
 * fail, await). Each report gets an eventId and a per-job seq (delego-runner-protocol(7),
 * EXTENSIONS), is written to the spool before it is sent, and is retried
 * with exponential backoff and jitter until the relay answers 2xx (or
 * rejects it for good). A 2xx acknowledges it even when its body is cut
 * short or not JSON: it is never sent again. Reports of one job are
 * delivered in order.
 */
#ifndef DELEGO_OUTBOX_H
#define DELEGO_OUTBOX_H

#include <cjson/cJSON.h>
#include <stdbool.h>
#include <stddef.h>
#include <uv.h>

#include "delego/relay.h"

struct dr_outbox;

/* spool_dir may be NULL for a memory-only outbox (tests, --once without state). */
int dr_outbox_new(uv_loop_t *loop, struct dr_relay *relay, const char *spool_dir, struct dr_outbox **out,
		  char *err, size_t errlen);
void dr_outbox_free(struct dr_outbox *o);

/*
 * Queues body (consumed) for POST to path ("/api/runner/jobs/progress", ...)
 * on behalf of job_id. Adds "eventId" and "seq". Progress reports may be
 * dropped when the spool is full; terminal reports never are.
 */
int dr_outbox_post(struct dr_outbox *o, const char *job_id, const char *path, cJSON *body);

/*
 * Reads the text of one spool file, {"path", "jobId", "body": {...}}, as
 * left by an earlier run (or planted: it is checked like relay input):
 * path must pass dr_relay_path_known and jobId dr_outbox_job_id_ok. On
 * success *path, *job_id and *body (the body serialized) are new strings
 * the caller frees, and *seq is the body's "seq" (0 when absent).
 * -EINVAL otherwise, with nothing to free.
 */
/*
 * A job id the spool keeps: any text of 1 to DR_OUTBOX_JOB_ID_MAX - 1 bytes
 * without control characters. It travels only inside a JSON body (spool
 * files are named by number), so the fail report of a job whose id is
 * unusable as a file name survives a restart too.
 */
#define DR_OUTBOX_JOB_ID_MAX 1024
bool dr_outbox_job_id_ok(const char *id);
int dr_outbox_parse_entry(const char *data, size_t len, char **path, char **job_id, char **body, long long *seq);

/* Reports queued and not yet acknowledged. */
size_t dr_outbox_pending(const struct dr_outbox *o);
/* The last seq given to a report of the job, 0 before the first. */
long long dr_outbox_seq(struct dr_outbox *o, const char *job_id);
/* Forgets every waiting report's backoff and sends what may go now (after a wake from sleep). */
void dr_outbox_retry_now(struct dr_outbox *o);
/* Calls cb once the queue is empty (at once if it is). One waiter at a time. */
void dr_outbox_on_drained(struct dr_outbox *o, void (*cb)(void *data), void *data);

/*
 * The relay answered some other call (heartbeat, poll): reports waiting out
 * a backoff go now instead.
 */
void dr_outbox_relay_answered(struct dr_outbox *o);

/* Seeds job_id's seq (e.g. from the job journal): later reports get higher ones. */
void dr_outbox_note_seq(struct dr_outbox *o, const char *job_id, long long seq);
/* Called when a job's last queued report leaves the queue, with the job's last seq (to persist it). */
typedef void (*dr_outbox_seq_cb)(const char *job_id, long long seq, void *data);
void dr_outbox_on_seq(struct dr_outbox *o, dr_outbox_seq_cb cb, void *data);

/*
 * Calls cb (once, maybe at once) when job_id has no report queued, or the
 * relay refused its next one (it waits in the spool), or after a 401. One
 * waiter per job.
 */
typedef void (*dr_outbox_settled_cb)(const char *job_id, void *data);
void dr_outbox_on_settled(struct dr_outbox *o, const char *job_id, dr_outbox_settled_cb cb, void *data);

#endif
