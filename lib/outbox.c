/*
 * outbox: durable, ordered, retried delivery of job reports.
 *
 * Each report is one file in the spool directory, named so that a
 * directory listing gives the order of creation:
 *     <16-digit sequence>-<kind>.json   {"path", "jobId", "body"}
 * It is written (terminal reports fsynced, on the threadpool) before the
 * first try: a report whose durable write is under way is not sent, and
 * neither is anything of its job queued after it. It is unlinked when
 * the relay answered 2xx or rejected it for good. Reports of
 * one job go one at a time and in order (a queue per job, so a send costs
 * the number of jobs, not of reports); different jobs go in parallel.
 */
#include "delego/outbox.h"
#include "delego/backoff.h"
#include "delego/random.h"
#include "delego/buf.h"
#include "delego/fsutil.h"
#include "delego/job.h"
#include "delego/json.h"
#include "delego/log.h"
#include "delego/strv.h"
#include "delego/xalloc.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define MAX_IN_FLIGHT 4
#define SPOOL_MAX_BYTES (64u * 1024 * 1024)
#define ENTRY_MAX_BYTES (1024u * 1024)
#define RETRY_BASE_MS 1000
#define RETRY_CAP_MS 60000
#define SEND_TIMEOUT_MS 30000
#define JOB_BUCKETS 256

struct jobq;
struct spool_req;

struct entry {
	struct entry *prev, *next;   /* all entries, in order of creation */
	struct entry *jprev, *jnext; /* this job's entries, in order */
	struct jobq *q;
	uint64_t number;      /* order of creation */
	char *file;           /* spool file, or NULL when memory-only */
	char *path;
	char *body;           /* serialized request body */
	size_t size;
	bool terminal;        /* complete/fail/await: never dropped */
	bool in_flight;
	struct spool_req *writing; /* its durable write is under way: not sent before it is done */
	uint64_t not_before;  /* loop time (ms) of the next try */
	struct dr_backoff backoff;
	struct dr_relay_call *call;
	struct dr_outbox *outbox;
};

/* One per job seen: its queue (only the head may be in flight) and its last seq. */
struct jobq {
	struct jobq *hnext;              /* hash chain */
	struct jobq *aprev, *anext;      /* queues with entries */
	char *job_id;
	long long seq;
	struct entry *head, *tail;
	bool refused;                    /* its last try failed: its reports wait in the spool */
	dr_outbox_settled_cb settled_cb;
	void *settled_data;
};

struct dr_outbox {
	uv_loop_t *loop;
	struct dr_relay *relay;
	char *dir;
	struct entry *head, *tail;
	struct jobq *buckets[JOB_BUCKETS];
	struct jobq *active;
	size_t count;
	size_t bytes;
	size_t in_flight;
	uint64_t next_number;
	uv_timer_t timer;
	bool stopped;         /* after a 401: keep everything, send nothing */
	bool failing;         /* last try failed: log recovery once */
	void (*drained_cb)(void *data);
	void *drained_data;
	dr_outbox_seq_cb seq_cb;
	void *seq_data;
};

static void kick(struct dr_outbox *o);

static struct jobq *jobq_get(struct dr_outbox *o, const char *job_id)
{
	uint32_t h = 2166136261u; /* FNV-1a */
	for (const unsigned char *p = (const unsigned char *)job_id; *p; p++)
		h = (h ^ *p) * 16777619u;
	struct jobq **pp = &o->buckets[h % JOB_BUCKETS];
	for (struct jobq *q = *pp; q; q = q->hnext)
		if (strcmp(q->job_id, job_id) == 0)
			return q;
	struct jobq *q = dr_xcalloc(1, sizeof *q);
	q->job_id = dr_xstrdup(job_id);
	q->hnext = *pp;
	*pp = q;
	return q;
}

static void note_seq(struct dr_outbox *o, const char *job_id, long long seq)
{
	struct jobq *q = jobq_get(o, job_id);
	if (seq > q->seq)
		q->seq = seq;
}

static bool is_terminal(const char *path)
{
	return strstr(path, "/jobs/progress") == NULL;
}

static void entry_free(struct entry *e)
{
	free(e->file);
	free(e->path);
	free(e->body);
	free(e);
}

static void append(struct dr_outbox *o, struct entry *e, const char *job_id)
{
	struct jobq *q = jobq_get(o, job_id);
	e->outbox = o;
	e->q = q;
	e->prev = o->tail;
	if (o->tail)
		o->tail->next = e;
	else
		o->head = e;
	o->tail = e;
	e->jprev = q->tail;
	if (q->tail) {
		q->tail->jnext = e;
	} else {
		q->head = e;
		q->anext = o->active;
		if (o->active)
			o->active->aprev = q;
		o->active = q;
	}
	q->tail = e;
	o->count++;
	o->bytes += e->size;
}

/* Calls the job's settled waiter once its reports are delivered or waiting on a refusing relay. */
static void maybe_settled(struct dr_outbox *o, struct jobq *q)
{
	if (!q->settled_cb || (q->head && !q->refused && !o->stopped))
		return;
	dr_outbox_settled_cb cb = q->settled_cb;
	q->settled_cb = NULL;
	cb(q->job_id, q->settled_data);
}

static void unlink_entry(struct dr_outbox *o, struct entry *e)
{
	struct jobq *q = e->q;
	if (!e->jprev && !e->jnext && o->seq_cb)
		o->seq_cb(q->job_id, q->seq, o->seq_data); /* before its last file goes */
	*(e->prev ? &e->prev->next : &o->head) = e->next;
	*(e->next ? &e->next->prev : &o->tail) = e->prev;
	*(e->jprev ? &e->jprev->jnext : &q->head) = e->jnext;
	*(e->jnext ? &e->jnext->jprev : &q->tail) = e->jprev;
	if (!q->head) {
		*(q->aprev ? &q->aprev->anext : &o->active) = q->anext;
		if (q->anext)
			q->anext->aprev = q->aprev;
		q->aprev = q->anext = NULL;
	}
	o->count--;
	o->bytes -= e->size;
	if (e->file && unlink(e->file) < 0 && errno != ENOENT)
		dr_log_warn("cannot remove delivered report %s: %s", e->file, strerror(errno));
}

static void maybe_drained(struct dr_outbox *o)
{
	if (o->count == 0 && o->drained_cb) {
		void (*cb)(void *) = o->drained_cb;
		o->drained_cb = NULL;
		cb(o->drained_data);
	}
}

/* Every waiting report may go now: the relay answers again. */
static void retry_now(struct dr_outbox *o)
{
	for (struct jobq *q = o->active; q; q = q->anext) {
		dr_backoff_reset(&q->head->backoff);
		q->head->not_before = 0;
	}
}

static void on_sent(const struct dr_relay_reply *reply, void *data)
{
	struct entry *e = data;
	struct dr_outbox *o = e->outbox;
	struct jobq *q = e->q;
	e->call = NULL;
	e->in_flight = false;
	o->in_flight--;
	/* A 2xx is the acknowledgement, whatever its body: the relay applied it. */
	if (reply->status_line >= 200 && reply->status_line < 300) {
		if (o->failing)
			dr_log_info("reports are reaching the relay again");
		o->failing = false;
		q->refused = false;
		unlink_entry(o, e);
		entry_free(e);
		retry_now(o);
	} else if (reply->outcome == DR_RELAY_REJECTED) {
		/* Retrying the same body cannot help (e.g. 409: the job is no
		 * longer ours): drop it, loudly. */
		dr_log_warn("relay rejected %s for job %s: %s; dropping this report", e->path, q->job_id, reply->message);
		unlink_entry(o, e);
		entry_free(e);
	} else if (reply->outcome == DR_RELAY_UNAUTHORIZED) {
		/* The runner exits 2; the spool keeps the report. */
		o->stopped = true;
		maybe_settled(o, q);
		return;
	} else {
		uint64_t delay = dr_backoff_next(&e->backoff, dr_random_unit());
		if (reply->retry_after_ms > 0 && (uint64_t)reply->retry_after_ms > delay)
			delay = (uint64_t)reply->retry_after_ms;
		e->not_before = uv_now(o->loop) + delay;
		if (!o->failing)
			dr_log_warn("cannot deliver %s for job %s (%s); retrying with backoff", e->path, q->job_id,
				reply->message);
		o->failing = true;
		q->refused = true;
	}
	kick(o);
	maybe_settled(o, q);
	maybe_drained(o);
}

static void on_timer(uv_timer_t *t)
{
	kick(t->data);
}

/* Sends the head of every job's queue that may go now; arms the timer for the next one. */
static void kick(struct dr_outbox *o)
{
	if (o->stopped)
		return;
	uint64_t now = uv_now(o->loop);
	uint64_t next = UINT64_MAX;
	struct jobq *next_q;
	for (struct jobq *q = o->active; q && o->in_flight < MAX_IN_FLIGHT; q = next_q) {
		next_q = q->anext;
		struct entry *e = q->head;
		if (e->in_flight || e->writing)
			continue;
		if (e->not_before > now) {
			if (e->not_before < next)
				next = e->not_before;
			continue;
		}
		cJSON *body = cJSON_Parse(e->body);
		if (!body) { /* cannot happen for what we wrote; never retry it */
			unlink_entry(o, e);
			entry_free(e);
			continue;
		}
		int r = dr_relay_post(o->relay, e->path, body, SEND_TIMEOUT_MS, on_sent, e, &e->call);
		if (r < 0) {
			e->not_before = now + dr_backoff_next(&e->backoff, dr_random_unit());
			if (e->not_before < next)
				next = e->not_before;
			continue;
		}
		e->in_flight = true;
		o->in_flight++;
	}
	if (next != UINT64_MAX)
		uv_timer_start(&o->timer, on_timer, next - now, 0);
}

void dr_outbox_relay_answered(struct dr_outbox *o)
{
	if (!o->failing)
		return;
	retry_now(o);
	kick(o);
}

/* Drops queued progress reports (oldest first) until `need` more bytes fit. */
static bool make_room(struct dr_outbox *o, size_t need)
{
	struct entry *e = o->head;
	while (o->bytes + need > SPOOL_MAX_BYTES && e) {
		struct entry *next = e->next;
		if (!e->terminal && !e->in_flight) {
			unlink_entry(o, e);
			entry_free(e);
		}
		e = next;
	}
	return o->bytes + need <= SPOOL_MAX_BYTES;
}

/* A durable write on the threadpool; e is NULL once the outbox is freed. */
struct spool_req {
	struct entry *e;
};

static void spool_written(void *data, int r)
{
	struct spool_req *w = data;
	struct entry *e = w->e;
	free(w);
	if (!e)
		return; /* the outbox is gone; the file stays for the next run */
	e->writing = NULL;
	if (r < 0) {
		/* Still send it from memory: only a crash could lose it now. */
		dr_log_warn("cannot write report to %s: %s; keeping the report in memory only", e->file, strerror(-r));
		unlink(e->file);
		free(e->file);
		e->file = NULL;
	}
	kick(e->outbox);
}

/* Progress at once (it may be lost in a crash); a terminal report durably, off the loop (spool_written). */
static int spool_write(struct dr_outbox *o, struct entry *e, char *err, size_t errlen)
{
	cJSON *doc = cJSON_CreateObject();
	cJSON_AddStringToObject(doc, "path", e->path);
	cJSON_AddStringToObject(doc, "jobId", e->q->job_id);
	cJSON_AddRawToObject(doc, "body", e->body);
	char *text = dr_json_print(doc);
	cJSON_Delete(doc);
	e->file = dr_xasprintf("%s/%016llu-%s.json", o->dir, (unsigned long long)e->number,
			       e->terminal ? "final" : "progress");
	int r;
	if (e->terminal) {
		struct spool_req *w = dr_xcalloc(1, sizeof *w);
		w->e = e;
		r = dr_fsutil_write_async(o->loop, e->file, text, strlen(text), 0600, 0700, true, spool_written, w);
		if (r == 0)
			e->writing = w;
		else
			free(w);
	} else {
		int fd = dr_fsutil_open_new(e->file, 0600);
		r = fd < 0 ? fd : 0;
		if (fd >= 0) {
			size_t len = strlen(text);
			if (write(fd, text, len) != (ssize_t)len)
				r = errno ? -errno : -EIO;
			close(fd);
		}
	}
	free(text);
	if (r < 0) {
		snprintf(err, errlen, "cannot write report to %s: %s", e->file, strerror(-r));
		unlink(e->file);
		free(e->file);
		e->file = NULL;
	}
	return r;
}

int dr_outbox_post(struct dr_outbox *o, const char *job_id, const char *path, cJSON *body)
{
	char id[33];
	dr_random_hex(id, 16);
	cJSON_DeleteItemFromObjectCaseSensitive(body, "eventId");
	cJSON_DeleteItemFromObjectCaseSensitive(body, "seq");
	cJSON_AddStringToObject(body, "eventId", id);
	struct jobq *q = jobq_get(o, job_id);
	cJSON_AddNumberToObject(body, "seq", (double)++q->seq);
	char *text = dr_json_print(body);
	cJSON_Delete(body);

	struct entry *e = dr_xcalloc(1, sizeof *e);
	e->number = o->next_number++;
	e->q = q; /* for spool_write; append links it */
	e->path = dr_xstrdup(path);
	e->body = text;
	e->size = strlen(text);
	e->terminal = is_terminal(path);
	e->backoff = (struct dr_backoff)DR_BACKOFF_INIT(RETRY_BASE_MS, RETRY_CAP_MS);

	if (e->size > ENTRY_MAX_BYTES && !e->terminal) {
		entry_free(e);
		return -E2BIG;
	}
	if (!make_room(o, e->size) && !e->terminal) {
		dr_log_warn("report spool is full; dropping a progress report for job %s", job_id);
		entry_free(e);
		return -ENOSPC;
	}
	if (o->dir) {
		char err[512];
		if (spool_write(o, e, err, sizeof err) < 0) {
			/* Still send it from memory: only a crash could lose it now. */
			dr_log_warn("%s; keeping the report in memory only", err);
		}
	}
	append(o, e, job_id);
	kick(o);
	return 0;
}

static int name_cmp(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

bool dr_outbox_job_id_ok(const char *id)
{
	size_t n = 0;
	for (; id && id[n]; n++)
		if (n >= DR_OUTBOX_JOB_ID_MAX || (unsigned char)id[n] < 0x20 || id[n] == 0x7f)
			return false;
	return n > 0;
}

int dr_outbox_parse_entry(const char *data, size_t len, char **path, char **job_id, char **body, long long *seq)
{
	cJSON *doc = NULL;
	if (dr_json_parse_object(data, len, ENTRY_MAX_BYTES * 2, &doc) < 0)
		return -EINVAL;
	const char *p = dr_json_str(doc, "path"), *j = dr_json_str(doc, "jobId");
	const cJSON *b = dr_json_obj(doc, "body");
	if (!p || !j || !b || !dr_relay_path_known(p) || !dr_outbox_job_id_ok(j)) {
		cJSON_Delete(doc);
		return -EINVAL;
	}
	double s = dr_json_num(b, "seq", 0);
	*seq = s > 0 && s < 9e15 ? (long long)s : 0;
	*path = dr_xstrdup(p);
	*job_id = dr_xstrdup(j);
	*body = dr_json_print(b);
	cJSON_Delete(doc);
	return 0;
}

/* Loads reports left by an earlier run, in their order. */
static void load_spool(struct dr_outbox *o)
{
	DIR *d = opendir(o->dir);
	if (!d)
		return;
	struct dr_strv names = DR_STRV_INIT;
	struct dirent *de;
	while ((de = readdir(d))) {
		size_t n = strlen(de->d_name);
		if (n > 5 && strcmp(de->d_name + n - 5, ".json") == 0 && de->d_name[0] >= '0' && de->d_name[0] <= '9')
			dr_strv_push(&names, de->d_name);
		else if (strstr(de->d_name, DR_TEMP_INFIX)) /* a write a crash interrupted */
			unlinkat(dirfd(d), de->d_name, 0);
	}
	closedir(d);
	size_t n = names.n;
	if (n)
		qsort(names.v, n, sizeof *names.v, name_cmp);
	for (size_t i = 0; i < n; i++) {
		char *file = dr_xasprintf("%s/%s", o->dir, names.v[i]);
		struct dr_buf data = DR_BUF_INIT(ENTRY_MAX_BYTES * 2);
		struct entry *e = dr_xcalloc(1, sizeof *e);
		long long seq = 0;
		char *job_id = NULL;
		struct stat st;
		/* Only a file of ours: lstat, since open would follow a planted link. */
		if (lstat(file, &st) < 0 || !S_ISREG(st.st_mode) || st.st_uid != geteuid() ||
		    dr_fsutil_read_file(file, &data, NULL) < 0 ||
		    dr_outbox_parse_entry(data.buf, data.len, &e->path, &job_id, &e->body, &seq) < 0) {
			dr_log_warn("ignoring unreadable report %s (moved aside as .bad)", file);
			char *bad = dr_xasprintf("%s.bad", file);
			rename(file, bad);
			free(bad);
			free(file);
			free(e);
			dr_buf_release(&data);
			continue;
		}
		e->number = strtoull(names.v[i], NULL, 10);
		if (e->number >= o->next_number)
			o->next_number = e->number + 1;
		e->file = file;
		e->size = strlen(e->body);
		e->terminal = is_terminal(e->path);
		e->backoff = (struct dr_backoff)DR_BACKOFF_INIT(RETRY_BASE_MS, RETRY_CAP_MS);
		note_seq(o, job_id, seq);
		append(o, e, job_id);
		free(job_id);
		dr_buf_release(&data);
	}
	dr_strv_release(&names);
	if (o->count)
		dr_log_info("%zu report(s) left by an earlier run will be sent", o->count);
}

int dr_outbox_new(uv_loop_t *loop, struct dr_relay *relay, const char *spool_dir, struct dr_outbox **out,
		  char *err, size_t errlen)
{
	struct dr_outbox *o = dr_xcalloc(1, sizeof *o);
	o->loop = loop;
	o->relay = relay;
	/* Numbers start from the clock so that files from an older run sort first
	 * even when that run's spool was emptied. */
	o->next_number = (uint64_t)uv_now(loop);
	if (spool_dir) {
		int r = dr_fsutil_mkdir_private(spool_dir, err, errlen);
		if (r < 0) {
			free(o);
			return r;
		}
		o->dir = dr_xstrdup(spool_dir);
		load_spool(o);
	}
	uv_timer_init(loop, &o->timer);
	o->timer.data = o;
	uv_unref((uv_handle_t *)&o->timer);
	*out = o;
	kick(o);
	return 0;
}

static void timer_closed(uv_handle_t *h)
{
	free(h->data);
}

void dr_outbox_free(struct dr_outbox *o)
{
	if (!o)
		return;
	while (o->head) {
		struct entry *e = o->head;
		o->head = e->next;
		if (e->call)
			dr_relay_call_cancel(e->call);
		if (e->writing)
			e->writing->e = NULL;
		entry_free(e); /* its spool file stays for the next run */
	}
	for (size_t i = 0; i < JOB_BUCKETS; i++)
		for (struct jobq *q = o->buckets[i], *next; q; q = next) {
			next = q->hnext;
			free(q->job_id);
			free(q);
		}
	free(o->dir);
	uv_timer_stop(&o->timer);
	o->timer.data = o;
	uv_close((uv_handle_t *)&o->timer, timer_closed);
}

size_t dr_outbox_pending(const struct dr_outbox *o)
{
	return o->count;
}

void dr_outbox_on_drained(struct dr_outbox *o, void (*cb)(void *data), void *data)
{
	o->drained_cb = cb;
	o->drained_data = data;
	maybe_drained(o);
}

void dr_outbox_note_seq(struct dr_outbox *o, const char *job_id, long long seq)
{
	note_seq(o, job_id, seq);
}

void dr_outbox_on_seq(struct dr_outbox *o, dr_outbox_seq_cb cb, void *data)
{
	o->seq_cb = cb;
	o->seq_data = data;
}

void dr_outbox_on_settled(struct dr_outbox *o, const char *job_id, dr_outbox_settled_cb cb, void *data)
{
	struct jobq *q = jobq_get(o, job_id);
	q->settled_cb = cb;
	q->settled_data = data;
	maybe_settled(o, q);
}

long long dr_outbox_seq(struct dr_outbox *o, const char *job_id)
{
	return o && job_id ? jobq_get(o, job_id)->seq : 0;
}

void dr_outbox_retry_now(struct dr_outbox *o)
{
	if (!o)
		return;
	retry_now(o);
	kick(o);
}
