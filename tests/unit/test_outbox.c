/*
 * The HTTP client, the relay classification and the outbox against a
 * scripted HTTP peer (libmicrohttpd in its own thread) on loopback.
 */
#include "delego/buf.h"
#include "delego/http.h"
#include "delego/json.h"
#include "delego/log.h"
#include "delego/outbox.h"
#include "delego/relay.h"
#include "delego/xalloc.h"
#include "check_main.h"

#include <dirent.h>
#include <errno.h>
#include <arpa/inet.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

/* The peer: answers each request with the next scripted reply, records it. */
struct reply {
	int status;
	const char *body;
	const char *retry_after;
	unsigned delay_ms;
	bool cut; /* the status line and half the body, then the connection drops */
};

static struct {
	pthread_mutex_t lock;
	struct reply script[64];
	int n_script;
	int next;
	struct reply fallback;
	const char *slow_marker; /* a request whose body contains it waits 700 ms */
	char *paths[256];
	char *bodies[256];
	char *auth[256];
	int finals[256]; /* terminal reports in the spool when the request came */
	int n_requests;
} peer = { .lock = PTHREAD_MUTEX_INITIALIZER };

struct upload {
	struct dr_buf b;
};

/* Sends the first half of the body, then ends the connection with an error. */
static ssize_t cut_reader(void *cls, uint64_t pos, char *buf, size_t max)
{
	const char *body = cls;
	size_t half = strlen(body) / 2;
	if (pos >= half)
		return MHD_CONTENT_READER_END_WITH_ERROR;
	size_t n = half - (size_t)pos < max ? half - (size_t)pos : max;
	memcpy(buf, body + pos, n);
	return (ssize_t)n;
}

static int count_final(void);

static enum MHD_Result handle(void *cls, struct MHD_Connection *conn, const char *url, const char *method,
			      const char *version, const char *data, size_t *size, void **con_cls)
{
	(void)cls, (void)method, (void)version;
	struct upload *u = *con_cls;
	if (!u) {
		u = dr_xcalloc(1, sizeof *u);
		dr_buf_init(&u->b, 0);
		*con_cls = u;
		return MHD_YES;
	}
	if (*size) {
		dr_buf_add(&u->b, data, *size);
		*size = 0;
		return MHD_YES;
	}
	pthread_mutex_lock(&peer.lock);
	struct reply r = peer.next < peer.n_script ? peer.script[peer.next++] : peer.fallback;
	int i = peer.n_requests++;
	if (i < 256) {
		peer.paths[i] = dr_xstrdup(url);
		peer.bodies[i] = dr_xstrdup(u->b.buf);
		const char *a = MHD_lookup_connection_value(conn, MHD_HEADER_KIND, "authorization");
		peer.auth[i] = dr_xstrdup(a ? a : "");
		peer.finals[i] = count_final();
	}
	pthread_mutex_unlock(&peer.lock);
	if (r.delay_ms)
		usleep(r.delay_ms * 1000);
	if (peer.slow_marker && strstr(u->b.buf, peer.slow_marker))
		usleep(700 * 1000);
	struct MHD_Response *res = r.cut ? MHD_create_response_from_callback(strlen(r.body), 64, cut_reader,
									      (void *)r.body, NULL)
					 : MHD_create_response_from_buffer(strlen(r.body), (void *)r.body,
									   MHD_RESPMEM_MUST_COPY);
	if (r.retry_after)
		MHD_add_response_header(res, "Retry-After", r.retry_after);
	enum MHD_Result ret = MHD_queue_response(conn, (unsigned)r.status, res);
	MHD_destroy_response(res);
	return ret;
}

static void completed(void *cls, struct MHD_Connection *c, void **con_cls, enum MHD_RequestTerminationCode t)
{
	(void)cls, (void)c, (void)t;
	struct upload *u = *con_cls;
	if (u) {
		dr_buf_release(&u->b);
		free(u);
	}
}

static struct MHD_Daemon *daemon_;
static char base_url[64];
static char spool[64];

static void peer_reset(void)
{
	for (int i = 0; i < peer.n_requests && i < 256; i++) {
		free(peer.paths[i]);
		free(peer.bodies[i]);
		free(peer.auth[i]);
	}
	peer.n_requests = 0;
	peer.n_script = 0;
	peer.next = 0;
	peer.fallback = (struct reply){ 200, "{}", NULL, 0, false };
	peer.slow_marker = NULL;
}

static void setup(void)
{
	peer_reset();
	daemon_ = MHD_start_daemon(MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_THREAD_PER_CONNECTION, 0, NULL, NULL,
				   handle, NULL, MHD_OPTION_NOTIFY_COMPLETED, completed, NULL, MHD_OPTION_END);
	ck_assert_ptr_nonnull(daemon_);
	const union MHD_DaemonInfo *info = MHD_get_daemon_info(daemon_, MHD_DAEMON_INFO_BIND_PORT);
	snprintf(base_url, sizeof base_url, "http://127.0.0.1:%u", (unsigned)info->port);
	strcpy(spool, "/tmp/dr-outbox-XXXXXX");
	ck_assert_ptr_nonnull(mkdtemp(spool));
	dr_log_init("test", DR_LOG_ERR, 0);
}

static void teardown(void)
{
	MHD_stop_daemon(daemon_);
	peer_reset();
	char *cmd = dr_xasprintf("rm -rf %s", spool);
	ck_assert_int_eq(system(cmd), 0);
	free(cmd);
}

static int count_spool(void)
{
	DIR *d = opendir(spool);
	int n = 0;
	struct dirent *de;
	while (d && (de = readdir(d)))
		if (strstr(de->d_name, ".json"))
			n++;
	if (d)
		closedir(d);
	return n;
}

/* Terminal reports whose durable write is done (not the temporary files). */
static int count_final(void)
{
	DIR *d = opendir(spool);
	int n = 0;
	struct dirent *de;
	while (d && (de = readdir(d))) {
		size_t len = strlen(de->d_name);
		n += len > 11 && !strcmp(de->d_name + len - 11, "-final.json");
	}
	if (d)
		closedir(d);
	return n;
}

/* Relay calls ------------------------------------------------------------ */

struct got {
	bool done;
	enum dr_relay_outcome outcome;
	long status;
	char message[512];
	char *body;
	long retry_after;
};

static void on_reply(const struct dr_relay_reply *r, void *data)
{
	struct got *g = data;
	g->done = true;
	g->outcome = r->outcome;
	g->status = r->status;
	g->retry_after = r->retry_after_ms;
	snprintf(g->message, sizeof g->message, "%s", r->message);
	g->body = r->body ? dr_json_print(r->body) : NULL;
}

static struct got call_once(struct reply r, long timeout_ms)
{
	peer.fallback = r;
	uv_loop_t loop;
	uv_loop_init(&loop);
	struct dr_http *http;
	struct dr_relay *relay;
	ck_assert_int_eq(dr_http_new(&loop, &http), 0);
	ck_assert_int_eq(dr_relay_new(http, base_url, "secret-bearer", &relay), 0);
	struct got g = { 0 };
	cJSON *body = cJSON_CreateObject();
	cJSON_AddStringToObject(body, "x", "y");
	ck_assert_int_eq(dr_relay_post(relay, "/api/runner/heartbeat", body, timeout_ms, on_reply, &g, NULL), 0);
	ck_assert(!g.done); /* never from inside the call */
	uv_run(&loop, UV_RUN_DEFAULT);
	ck_assert(g.done);
	dr_relay_free(relay);
	dr_http_free(http);
	uv_run(&loop, UV_RUN_DEFAULT);
	ck_assert_int_eq(uv_loop_close(&loop), 0);
	return g;
}

START_TEST(ok_answer_and_request_shape)
{
	struct got g = call_once((struct reply){ 200, "{\"runner\":{\"id\":\"r1\"}}", NULL, 0, false }, 0);
	ck_assert_int_eq(g.outcome, DR_RELAY_OK);
	ck_assert_str_eq(g.body, "{\"runner\":{\"id\":\"r1\"}}");
	ck_assert_str_eq(peer.paths[0], "/api/runner/heartbeat");
	ck_assert_str_eq(peer.bodies[0], "{\"x\":\"y\"}");
	ck_assert_str_eq(peer.auth[0], "Bearer secret-bearer");
	free(g.body);
}
END_TEST

START_TEST(classifies_failures)
{
	struct got g = call_once((struct reply){ 401, "{\"error\":\"revoked\"}", NULL, 0, false }, 0);
	ck_assert_int_eq(g.outcome, DR_RELAY_UNAUTHORIZED);
	ck_assert_str_eq(g.message, "HTTP 401: revoked");
	g = call_once((struct reply){ 409, "{\"error\":\"not yours\"}", NULL, 0, false }, 0);
	ck_assert_int_eq(g.outcome, DR_RELAY_REJECTED);
	g = call_once((struct reply){ 429, "{}", "7", 0, false }, 0);
	ck_assert_int_eq(g.outcome, DR_RELAY_TRANSIENT);
	ck_assert_int_eq(g.retry_after, 7000);
	g = call_once((struct reply){ 503, "<html>down</html>", NULL, 0, false }, 0);
	ck_assert_int_eq(g.outcome, DR_RELAY_TRANSIENT);
	ck_assert_str_eq(g.message, "HTTP 503");
	g = call_once((struct reply){ 200, "not json", NULL, 0, false }, 0);
	ck_assert_int_eq(g.outcome, DR_RELAY_TRANSIENT);
	ck_assert_ptr_nonnull(strstr(g.message, "not a JSON object"));
	g = call_once((struct reply){ 200, "[1,2]", NULL, 0, false }, 0);
	ck_assert_int_eq(g.outcome, DR_RELAY_TRANSIENT);
}
END_TEST

START_TEST(timeouts_are_transient)
{
	struct got g = call_once((struct reply){ 200, "{}", NULL, 1500, false }, 300);
	ck_assert_int_eq(g.outcome, DR_RELAY_TRANSIENT);
	ck_assert_int_eq(g.status, 0);
	ck_assert_ptr_nonnull(strstr(g.message, "cannot reach relay"));
}
END_TEST

START_TEST(oversize_answers_are_refused)
{
	static char *big;
	size_t n = 5u * 1024 * 1024;
	big = dr_xmalloc(n + 3);
	big[0] = '"';
	memset(big + 1, 'a', n);
	big[n + 1] = '"';
	big[n + 2] = '\0';
	struct got g = call_once((struct reply){ 200, big, NULL, 0, false }, 0);
	ck_assert_int_eq(g.outcome, DR_RELAY_TRANSIENT);
	ck_assert_ptr_nonnull(strstr(g.message, "too large"));
	free(big);
}
END_TEST

START_TEST(deep_json_is_refused)
{
	static char deep[4096];
	for (int i = 0; i < 2000; i++)
		deep[i] = '[';
	struct got g = call_once((struct reply){ 200, deep, NULL, 0, false }, 0);
	ck_assert_int_eq(g.outcome, DR_RELAY_TRANSIENT);
}
END_TEST

START_TEST(too_deep_json_keeps_its_shallow_part)
{
	/* 65 levels: refused by the normal parse; pruned, the job's id survives. */
	struct dr_buf t = DR_BUF_INIT(0);
	dr_buf_addf(&t, "{\"job\":{\"id\":\"j[{\\\"\",\"x\":");
	for (int i = 0; i < 63; i++)
		dr_buf_addf(&t, "[");
	for (int i = 0; i < 63; i++)
		dr_buf_addf(&t, "]");
	dr_buf_addf(&t, ",\"y\":[{},{}]}}");
	cJSON *o = NULL;
	ck_assert_int_eq(dr_json_parse_object(t.buf, t.len, 1 << 20, &o), -E2BIG);
	ck_assert_int_eq(dr_json_parse_pruned(t.buf, t.len, 1 << 20, &o), 0);
	const cJSON *job = dr_json_obj(o, "job");
	ck_assert_str_eq(dr_json_str(job, "id"), "j[{\"");
	const cJSON *x = cJSON_GetObjectItemCaseSensitive(job, "x");
	for (int depth = 3; depth < 64; depth++)
		x = cJSON_GetArrayItem(x, 0);
	ck_assert(cJSON_IsArray(x));
	ck_assert(cJSON_IsNull(cJSON_GetArrayItem(x, 0))); /* level 65 */
	ck_assert_int_eq(cJSON_GetArraySize(cJSON_GetObjectItemCaseSensitive(job, "y")), 2);
	cJSON_Delete(o);
	/* Unterminated stays an error. */
	ck_assert_int_lt(dr_json_parse_pruned(t.buf, 100, 1 << 20, &o), 0);
	dr_buf_release(&t);
}
END_TEST

/* Outbox ----------------------------------------------------------------- */

struct box {
	uv_loop_t loop;
	struct dr_http *http;
	struct dr_relay *relay;
	struct dr_outbox *outbox;
};

static void box_open(struct box *b, const char *dir)
{
	char err[256];
	uv_loop_init(&b->loop);
	ck_assert_int_eq(dr_http_new(&b->loop, &b->http), 0);
	ck_assert_int_eq(dr_relay_new(b->http, base_url, "b", &b->relay), 0);
	ck_assert_int_eq(dr_outbox_new(&b->loop, b->relay, dir, &b->outbox, err, sizeof err), 0);
}

static void stop_loop(void *data)
{
	uv_stop(data);
}

static void keepalive(uv_timer_t *t)
{
	(void)t;
}

/* The outbox's retry timer does not hold the loop; the daemon's handles do. */
static void box_drain(struct box *b)
{
	uv_timer_t hold;
	uv_timer_init(&b->loop, &hold);
	uv_timer_start(&hold, keepalive, 100000, 0);
	dr_outbox_on_drained(b->outbox, stop_loop, &b->loop);
	uv_run(&b->loop, UV_RUN_DEFAULT);
	uv_close((uv_handle_t *)&hold, NULL);
	uv_run(&b->loop, UV_RUN_NOWAIT);
}

static void box_close(struct box *b)
{
	dr_outbox_free(b->outbox);
	dr_relay_free(b->relay);
	dr_http_free(b->http);
	uv_run(&b->loop, UV_RUN_DEFAULT);
	ck_assert_int_eq(uv_loop_close(&b->loop), 0);
}

static cJSON *report(const char *job, const char *summary)
{
	cJSON *o = cJSON_CreateObject();
	cJSON_AddStringToObject(o, "jobId", job);
	cJSON_AddStringToObject(o, "summary", summary);
	return o;
}

START_TEST(delivers_in_order_with_event_ids_and_seq)
{
	struct box b;
	box_open(&b, spool);
	dr_outbox_post(b.outbox, "j1", "/api/runner/jobs/progress", report("j1", "one"));
	dr_outbox_post(b.outbox, "j1", "/api/runner/jobs/progress", report("j1", "two"));
	dr_outbox_post(b.outbox, "j1", "/api/runner/jobs/complete", report("j1", "done"));
	ck_assert_uint_eq(dr_outbox_pending(b.outbox), 3);
	ck_assert_int_ge(count_spool(), 2); /* progress on disk at once, the terminal report off the loop */
	box_drain(&b);
	ck_assert_int_eq(peer.n_requests, 3);
	const char *want[] = { "one", "two", "done" };
	char seen_ids[3][40];
	for (int i = 0; i < 3; i++) {
		cJSON *o = cJSON_Parse(peer.bodies[i]);
		ck_assert_str_eq(dr_json_str(o, "summary"), want[i]);
		ck_assert_int_eq((int)dr_json_num(o, "seq", 0), i + 1);
		ck_assert_uint_eq(strlen(dr_json_str(o, "eventId")), 32);
		snprintf(seen_ids[i], sizeof seen_ids[i], "%s", dr_json_str(o, "eventId"));
		cJSON_Delete(o);
	}
	ck_assert_str_ne(seen_ids[0], seen_ids[1]);
	ck_assert_str_eq(peer.paths[2], "/api/runner/jobs/complete");
	ck_assert_int_eq(peer.finals[2], 1); /* durable before it went */
	ck_assert_int_eq(count_spool(), 0);
	box_close(&b);
}
END_TEST

static atomic_int pool_blocked;
static atomic_bool pool_release;

static void block_work(uv_work_t *w)
{
	atomic_fetch_add(&pool_blocked, 1);
	while (!atomic_load(&pool_release))
		usleep(1000);
}

static void block_done(uv_work_t *w, int status)
{
}

/* With every threadpool thread held, the terminal report's durable write cannot happen: nor can its send. */
START_TEST(terminal_report_goes_only_once_durable)
{
	struct box b;
	box_open(&b, spool);
	const char *size = getenv("UV_THREADPOOL_SIZE");
	int n = size && atoi(size) > 0 ? atoi(size) : 4;
	uv_work_t *w = dr_xcalloc((size_t)n, sizeof *w);
	atomic_store(&pool_blocked, 0);
	atomic_store(&pool_release, false);
	for (int i = 0; i < n; i++)
		ck_assert_int_eq(uv_queue_work(&b.loop, &w[i], block_work, block_done), 0);
	while (atomic_load(&pool_blocked) < n)
		usleep(1000);
	/* Sends need no pool thread: another job's progress goes meanwhile. */
	dr_outbox_post(b.outbox, "j0", "/api/runner/jobs/progress", report("j0", "meanwhile"));
	for (int i = 0; i < 300 && peer.n_requests < 1; i++) {
		uv_run(&b.loop, UV_RUN_NOWAIT);
		usleep(10000);
	}
	ck_assert_int_eq(peer.n_requests, 1);
	dr_outbox_post(b.outbox, "j1", "/api/runner/jobs/complete", report("j1", "done"));
	dr_outbox_post(b.outbox, "j1", "/api/runner/jobs/progress", report("j1", "after"));
	for (int i = 0; i < 30; i++) {
		uv_run(&b.loop, UV_RUN_NOWAIT);
		usleep(10000);
	}
	ck_assert_int_eq(peer.n_requests, 1); /* neither the report nor what its job queued after it */
	ck_assert_uint_eq(dr_outbox_pending(b.outbox), 2);
	ck_assert_int_eq(count_final(), 0);
	atomic_store(&pool_release, true);
	box_drain(&b);
	ck_assert_int_eq(peer.n_requests, 3);
	ck_assert_str_eq(peer.paths[1], "/api/runner/jobs/complete");
	ck_assert_int_eq(peer.finals[1], 1);
	ck_assert_int_eq(count_spool(), 0);
	box_close(&b);
	free(w);
}
END_TEST

START_TEST(retries_transient_failures_keeping_the_event_id)
{
	peer.script[0] = (struct reply){ 500, "{}", NULL, 0, false };
	peer.script[1] = (struct reply){ 503, "{}", NULL, 0, false };
	peer.n_script = 2;
	struct box b;
	box_open(&b, spool);
	dr_outbox_post(b.outbox, "j1", "/api/runner/jobs/fail", report("j1", "failed"));
	box_drain(&b);
	ck_assert_int_eq(peer.n_requests, 3);
	ck_assert_str_eq(peer.bodies[0], peer.bodies[2]); /* same eventId and seq on every try */
	ck_assert_int_eq(count_spool(), 0);
	box_close(&b);
}
END_TEST

START_TEST(rejected_reports_are_dropped_not_retried)
{
	peer.fallback = (struct reply){ 409, "{\"error\":\"job not held\"}", NULL, 0, false };
	struct box b;
	box_open(&b, spool);
	dr_outbox_post(b.outbox, "j1", "/api/runner/jobs/complete", report("j1", "x"));
	box_drain(&b);
	ck_assert_int_eq(peer.n_requests, 1);
	ck_assert_int_eq(count_spool(), 0);
	box_close(&b);
}
END_TEST

/* Another user who could write the spool plants an entry whose path turns
 * <relay URL><path> into another host: the bearer must not go there. */
START_TEST(a_planted_entry_cannot_redirect_the_bearer)
{
	int ls = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
	ck_assert_int_ge(ls, 0);
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	ck_assert_int_eq(bind(ls, (struct sockaddr *)&a, sizeof a), 0);
	ck_assert_int_eq(listen(ls, 8), 0);
	socklen_t al = sizeof a;
	ck_assert_int_eq(getsockname(ls, (struct sockaddr *)&a, &al), 0);
	char *planted = dr_xasprintf("%s/0000000000000001-final.json", spool);
	char *text = dr_xasprintf("{\"path\":\"@127.0.0.1:%u/x\",\"jobId\":\"j1\",\"body\":{\"jobId\":\"j1\"}}",
				  (unsigned)ntohs(a.sin_port));
	FILE *f = fopen(planted, "w");
	fputs(text, f);
	fclose(f);
	char *legit = dr_xasprintf("%s/0000000000000002-final.json", spool);
	f = fopen(legit, "w");
	fputs("{\"path\":\"/api/runner/jobs/complete\",\"jobId\":\"j2\",\"body\":{\"jobId\":\"j2\"}}", f);
	fclose(f);
	struct box b;
	box_open(&b, spool);
	ck_assert_uint_eq(dr_outbox_pending(b.outbox), 1);
	box_drain(&b);
	box_close(&b);
	ck_assert_int_eq(peer.n_requests, 1);
	ck_assert_str_eq(peer.paths[0], "/api/runner/jobs/complete");
	ck_assert_int_lt(accept(ls, NULL, NULL), 0); /* nobody connected to the other listener */
	ck_assert_int_eq(errno, EAGAIN);
	char *bad = dr_xasprintf("%s.bad", planted);
	ck_assert_int_eq(access(bad, F_OK), 0);
	close(ls);
	free(bad);
	free(planted);
	free(legit);
	free(text);
}
END_TEST

/* The fail report of a job whose id is no file name (the runner reports
 * such jobs) is still sent after a restart. */
START_TEST(an_unusual_job_id_survives_a_restart)
{
	char *file = dr_xasprintf("%s/0000000000000001-final.json", spool);
	FILE *f = fopen(file, "w");
	fputs("{\"path\":\"/api/runner/jobs/fail\",\"jobId\":\"../odd id\",\"body\":{\"jobId\":\"../odd id\"}}", f);
	fclose(f);
	struct box b;
	box_open(&b, spool);
	ck_assert_uint_eq(dr_outbox_pending(b.outbox), 1);
	box_drain(&b);
	box_close(&b);
	ck_assert_int_eq(peer.n_requests, 1);
	ck_assert_str_eq(peer.paths[0], "/api/runner/jobs/fail");
	ck_assert(!dr_outbox_job_id_ok("a\x1b[31m"));
	ck_assert(!dr_outbox_job_id_ok(""));
	free(file);
}
END_TEST

START_TEST(a_restart_sends_what_was_left)
{
	/* First run: the relay is down (401 stops sending and keeps the spool). */
	peer.fallback = (struct reply){ 401, "{}", NULL, 0, false };
	struct box b;
	box_open(&b, spool);
	dr_outbox_post(b.outbox, "j9", "/api/runner/jobs/progress", report("j9", "p"));
	dr_outbox_post(b.outbox, "j9", "/api/runner/jobs/complete", report("j9", "c"));
	uv_run(&b.loop, UV_RUN_NOWAIT);
	for (int i = 0; i < 50 && peer.n_requests < 1; i++) {
		usleep(10000);
		uv_run(&b.loop, UV_RUN_NOWAIT);
	}
	box_close(&b);
	ck_assert_int_eq(count_spool(), 2);
	int before = peer.n_requests;

	/* Second run: the relay takes them, in the original order. */
	peer.fallback = (struct reply){ 200, "{}", NULL, 0, false };
	box_open(&b, spool);
	ck_assert_uint_eq(dr_outbox_pending(b.outbox), 2);
	box_drain(&b);
	ck_assert_int_eq(peer.n_requests - before, 2);
	cJSON *p = cJSON_Parse(peer.bodies[before]);
	cJSON *c = cJSON_Parse(peer.bodies[before + 1]);
	ck_assert_str_eq(dr_json_str(p, "summary"), "p");
	ck_assert_str_eq(dr_json_str(c, "summary"), "c");
	ck_assert_int_eq((int)dr_json_num(c, "seq", 0), 2);
	cJSON_Delete(p);
	cJSON_Delete(c);
	/* A report queued after the restart continues the job's sequence. */
	dr_outbox_post(b.outbox, "j9", "/api/runner/jobs/progress", report("j9", "later"));
	box_drain(&b);
	cJSON *l = cJSON_Parse(peer.bodies[peer.n_requests - 1]);
	ck_assert_int_eq((int)dr_json_num(l, "seq", 0), 3);
	cJSON_Delete(l);
	ck_assert_int_eq(count_spool(), 0);
	box_close(&b);
}
END_TEST

START_TEST(jobs_do_not_block_each_other)
{
	/* Job a's first report is slow; job b's report goes meanwhile. */
	peer.slow_marker = "\"a1\"";
	struct box b;
	box_open(&b, NULL);
	dr_outbox_post(b.outbox, "a", "/api/runner/jobs/progress", report("a", "a1"));
	dr_outbox_post(b.outbox, "a", "/api/runner/jobs/progress", report("a", "a2"));
	dr_outbox_post(b.outbox, "b", "/api/runner/jobs/progress", report("b", "b1"));
	box_drain(&b);
	ck_assert_int_eq(peer.n_requests, 3);
	/* a2 cannot overtake a1; b1 does not wait for a1 (it arrives before a2). */
	int at[3] = { -1, -1, -1 };
	const char *names[3] = { "a1", "a2", "b1" };
	for (int i = 0; i < 3; i++) {
		cJSON *o = cJSON_Parse(peer.bodies[i]);
		for (int k = 0; k < 3; k++)
			if (strcmp(dr_json_str(o, "summary"), names[k]) == 0)
				at[k] = i;
		cJSON_Delete(o);
	}
	ck_assert_int_ge(at[0], 0);
	ck_assert_int_lt(at[0], at[1]);
	ck_assert_int_lt(at[2], at[1]);
	box_close(&b);
}
END_TEST


START_TEST(a_2xx_is_the_acknowledgement_whatever_its_body)
{
	/* Cut after the status line, and not JSON: neither is sent again. */
	peer.script[0] = (struct reply){ 200, "{\"ok\":true,\"padding\":\"xxxxxxxxxxxxxxxx\"}", NULL, 0, true };
	peer.script[1] = (struct reply){ 200, "not json", NULL, 0, false };
	peer.n_script = 2;
	struct box b;
	box_open(&b, spool);
	dr_outbox_post(b.outbox, "j1", "/api/runner/jobs/progress", report("j1", "one"));
	dr_outbox_post(b.outbox, "j1", "/api/runner/jobs/complete", report("j1", "two"));
	box_drain(&b);
	ck_assert_int_eq(peer.n_requests, 2);
	ck_assert_int_eq(count_spool(), 0);
	box_close(&b);
}
END_TEST

static uint64_t now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

/* Runs the loop (held open) until *count reaches n. */
static void run_until(struct box *b, const int *count, int n)
{
	uv_timer_t hold;
	uv_timer_init(&b->loop, &hold);
	uv_timer_start(&hold, keepalive, 100000, 0);
	while (*count < n)
		uv_run(&b->loop, UV_RUN_ONCE);
	uv_close((uv_handle_t *)&hold, NULL);
	uv_run(&b->loop, UV_RUN_NOWAIT);
}

static void answered(uv_timer_t *t)
{
	dr_outbox_relay_answered(t->data);
}

START_TEST(an_answer_from_the_relay_ends_the_backoff)
{
	/* Three failures put the report 2-4 s away; the relay then answers a heartbeat. */
	for (int i = 0; i < 3; i++)
		peer.script[i] = (struct reply){ 503, "{}", NULL, 0, false };
	peer.n_script = 3;
	struct box b;
	box_open(&b, spool);
	dr_outbox_post(b.outbox, "j1", "/api/runner/jobs/complete", report("j1", "done"));
	run_until(&b, &peer.n_requests, 3);
	uint64_t t0 = now_ms();
	uv_timer_t kick;
	uv_timer_init(&b.loop, &kick);
	kick.data = b.outbox;
	uv_timer_start(&kick, answered, 50, 0);
	box_drain(&b);
	ck_assert_int_lt(now_ms() - t0, 1000);
	ck_assert_int_eq(peer.n_requests, 4);
	uv_close((uv_handle_t *)&kick, NULL);
	box_close(&b);
}
END_TEST

START_TEST(another_jobs_success_ends_the_backoff)
{
	peer.script[0] = (struct reply){ 503, "{}", NULL, 0, false };
	peer.script[1] = (struct reply){ 503, "{}", NULL, 0, false };
	peer.n_script = 2;
	struct box b;
	box_open(&b, NULL);
	dr_outbox_post(b.outbox, "a", "/api/runner/jobs/complete", report("a", "a"));
	run_until(&b, &peer.n_requests, 2);
	uint64_t t0 = now_ms();
	dr_outbox_post(b.outbox, "b", "/api/runner/jobs/complete", report("b", "b"));
	box_drain(&b);
	ck_assert_int_lt(now_ms() - t0, 500); /* not the 1-2 s of a's backoff */
	ck_assert_int_eq(peer.n_requests, 4);
	box_close(&b);
}
END_TEST

static void seq_seen(const char *job_id, long long seq, void *data)
{
	ck_assert_str_eq(job_id, "j7");
	*(long long *)data = seq;
}

static void settled(const char *job_id, void *data)
{
	(void)job_id;
	(*(int *)data)++;
}

START_TEST(seq_survives_an_empty_spool_and_a_restart)
{
	struct box b;
	long long last = 0;
	int n_settled = 0;
	box_open(&b, spool);
	dr_outbox_on_seq(b.outbox, seq_seen, &last);
	dr_outbox_post(b.outbox, "j7", "/api/runner/jobs/progress", report("j7", "one"));
	dr_outbox_post(b.outbox, "j7", "/api/runner/jobs/progress", report("j7", "two"));
	dr_outbox_on_settled(b.outbox, "j7", settled, &n_settled);
	ck_assert_int_eq(n_settled, 0);
	box_drain(&b);
	ck_assert_int_eq(n_settled, 1);
	ck_assert_int_eq(last, 2);
	ck_assert_int_eq(count_spool(), 0);
	box_close(&b);
	/* The next run knows only what the caller kept (the journal). */
	box_open(&b, spool);
	dr_outbox_note_seq(b.outbox, "j7", last);
	dr_outbox_post(b.outbox, "j7", "/api/runner/jobs/fail", report("j7", "after restart"));
	box_drain(&b);
	cJSON *o = cJSON_Parse(peer.bodies[peer.n_requests - 1]);
	ck_assert_int_eq((int)dr_json_num(o, "seq", 0), 3);
	cJSON_Delete(o);
	box_close(&b);
}
END_TEST

START_TEST(a_refused_report_settles_its_job)
{
	peer.fallback = (struct reply){ 503, "{}", NULL, 0, false };
	int n_settled = 0;
	struct box b;
	box_open(&b, spool);
	dr_outbox_post(b.outbox, "j1", "/api/runner/jobs/complete", report("j1", "done"));
	dr_outbox_on_settled(b.outbox, "j1", settled, &n_settled);
	run_until(&b, &n_settled, 1);
	ck_assert_int_eq(n_settled, 1);
	ck_assert_int_eq(count_spool(), 1); /* it waits there */
	box_close(&b);
}
END_TEST

/* Sending from a spool of tens of thousands costs the number of jobs, not of reports. */
START_TEST(a_huge_spool_is_not_quadratic)
{
	const int N = getenv("DR_UNDER_VALGRIND") ? 20000 : 40000; /* valgrind reads files slowly */
	for (int i = 0; i < N; i++) {
		char *f = dr_xasprintf("%s/%016d-progress.json", spool, i + 1);
		FILE *fp = fopen(f, "w");
		ck_assert_ptr_nonnull(fp);
		fprintf(fp, "{\"path\":\"/api/runner/jobs/progress\",\"jobId\":\"j%d\",\"body\":{\"seq\":%d}}", i % 3,
			i + 1);
		fclose(fp);
		free(f);
	}
	peer.fallback = (struct reply){ 200, "{}", NULL, 5000, false }; /* nothing is acknowledged meanwhile */
	uint64_t t0 = now_ms();
	struct box b;
	box_open(&b, spool);
	ck_assert_uint_eq(dr_outbox_pending(b.outbox), (size_t)N);
	uint64_t t1 = now_ms();
	for (int i = 0; i < 200; i++)
		dr_outbox_post(b.outbox, "j1", "/api/runner/jobs/progress", report("j1", "more"));
	uint64_t took = now_ms() - t1;
	fprintf(stderr, "# %d spooled reports: loading them took %llu ms, 200 more posts %llu ms\n", N,
		(unsigned long long)(t1 - t0), (unsigned long long)took);
	/* Before the per-job queues every post walked the spool pairwise: minutes here. */
	ck_assert_int_lt(took, 2000);
	dr_outbox_free(b.outbox);
	b.outbox = NULL;
	dr_relay_free(b.relay);
	dr_http_free(b.http);
	uv_run(&b.loop, UV_RUN_DEFAULT);
	uv_loop_close(&b.loop);
}
END_TEST

static Suite *outbox_suite(void)
{
	Suite *s = suite_create("outbox");
	TCase *tc = tcase_create("http");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_set_timeout(tc, 20);
	tcase_add_test(tc, ok_answer_and_request_shape);
	tcase_add_test(tc, classifies_failures);
	tcase_add_test(tc, timeouts_are_transient);
	tcase_add_test(tc, oversize_answers_are_refused);
	tcase_add_test(tc, deep_json_is_refused);
	tcase_add_test(tc, too_deep_json_keeps_its_shallow_part);
	suite_add_tcase(s, tc);
	tc = tcase_create("outbox");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_set_timeout(tc, 30);
	tcase_add_test(tc, delivers_in_order_with_event_ids_and_seq);
	tcase_add_test(tc, terminal_report_goes_only_once_durable);
	tcase_add_test(tc, retries_transient_failures_keeping_the_event_id);
	tcase_add_test(tc, rejected_reports_are_dropped_not_retried);
	tcase_add_test(tc, a_restart_sends_what_was_left);
	tcase_add_test(tc, a_planted_entry_cannot_redirect_the_bearer);
	tcase_add_test(tc, an_unusual_job_id_survives_a_restart);
	tcase_add_test(tc, jobs_do_not_block_each_other);
	tcase_add_test(tc, a_2xx_is_the_acknowledgement_whatever_its_body);
	tcase_add_test(tc, an_answer_from_the_relay_ends_the_backoff);
	tcase_add_test(tc, another_jobs_success_ends_the_backoff);
	tcase_add_test(tc, seq_survives_an_empty_spool_and_a_restart);
	tcase_add_test(tc, a_refused_report_settles_its_job);
	tcase_add_test(tc, a_huge_spool_is_not_quadratic);
	suite_add_tcase(s, tc);
	return s;
}

DR_CHECK_MAIN(outbox_suite)
