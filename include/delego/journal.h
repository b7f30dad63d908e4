/*
 * journal: the jobs this runner holds, on disk, so that a runner that died
 * (crash, SIGKILL, OOM kill) can tell the relay on its next start. One
 * small file per running job in <state_dir>/jobs/; written at claim,
 * updated when the agent starts, removed when the job's final report is
 * in the outbox. With dr_journal_sync_on, the claim and the agent's start
 * are also fsynced (on the threadpool), so that a power cut loses neither.
 */
#ifndef DELEGO_JOURNAL_H
#define DELEGO_JOURNAL_H

#include <cjson/cJSON.h>
#include <stddef.h>
#include <uv.h>

#include "delego/outbox.h"

struct dr_journal;

int dr_journal_open(const char *dir, struct dr_journal **out, char *err, size_t errlen);
void dr_journal_free(struct dr_journal *j);
/* From now on the claim and the agent's start are also fsynced on loop's threadpool. Accepts NULL. */
void dr_journal_sync_on(struct dr_journal *j, uv_loop_t *loop);

/* Records a claimed job (its id, organizationId, agentSessionId, attemptId). No-op for an unusable id. */
void dr_journal_begin(struct dr_journal *j, const cJSON *job);
/* Records a string fact about the job, e.g. "worktreePath"; value NULL removes it. Accepts a NULL journal. */
void dr_journal_note(struct dr_journal *j, const char *job_id, const char *key, const char *value);
/*
 * Records the agent's process group (its leader's pid and start time: the
 * supervisor's when there is one), when it started ("agentStartedMs", on
 * uv_hrtime's clock in ms: what its timeout counts from), its cgroup
 * ("cgroup", a path; NULL: none), its worktree and tree (an object the
 * pipeline reads back on adoption; may be NULL), in one write. Accepts a
 * NULL journal.
 */
void dr_journal_note_agent(struct dr_journal *j, const char *job_id, int pid, const char *worktree,
			   const char *cgroup, const cJSON *tree);
/* <dir>/<id>.d, created, for the agent's supervisor (supervise.h); owned. NULL without a journal or a usable id. */
char *dr_journal_job_dir(struct dr_journal *j, const char *job_id);
void dr_journal_end(struct dr_journal *j, const char *job_id);

/*
 * Offered a job a dead runner left whose supervisor still runs (pid > 0)
 * or left the agent's exit status in dir: entry is the journal entry
 * (with "job" and "tree"), borrowed for the call. Returns 0 when it took
 * the job over; else the job is reported as below.
 */
typedef int (*dr_journal_adopt_fn)(const cJSON *entry, const char *dir, int pid, void *data);

/*
 * For every job a dead runner left, unless adopt (may be NULL) takes it: kills what is left of its agent's
 * process group (only if the group is still that agent's) and cgroup, queues a fail
 * report ("runner stopped while the job was running", worktree kept) in
 * the outbox, and removes the entry. Returns how many jobs it recovered.
 */
int dr_journal_recover(struct dr_journal *j, struct dr_outbox *o, dr_journal_adopt_fn adopt, void *data);

#endif
