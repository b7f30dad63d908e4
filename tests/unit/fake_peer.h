/*
 * fake_peer.h: a scripted HTTP peer (libmicrohttpd in its own thread) on
 * loopback that answers each request with the next scripted reply and
 * records it; and a spool directory. For test_http.c and test_outbox.c.
 */
#ifndef DR_TEST_FAKE_PEER_H
#define DR_TEST_FAKE_PEER_H

#include "delego/buf.h"
#include "delego/http.h"
#include "delego/json.h"
#include "delego/log.h"
#include "delego/outbox.h"
#include "delego/relay.h"
#include "delego/xalloc.h"

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

/* Not every test file uses every helper. */
#define PEER_FN static __attribute__((unused))

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

PEER_FN int count_final(void);

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

PEER_FN void setup(void)
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

PEER_FN void teardown(void)
{
	MHD_stop_daemon(daemon_);
	peer_reset();
	char *cmd = dr_xasprintf("rm -rf %s", spool);
	ck_assert_int_eq(system(cmd), 0);
	free(cmd);
}

PEER_FN int count_spool(void)
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
PEER_FN int count_final(void)
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

#endif
