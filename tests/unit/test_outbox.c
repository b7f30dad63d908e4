/* test_outbox: the report spool and its per-job queues against a scripted peer. */
#include "check_main.h"
#include "fake_peer.h"

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
	TCase *tc = tcase_create("outbox");
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
