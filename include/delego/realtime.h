/*
 * realtime: the runner's push client for Supabase Realtime (delego-runner-protocol(7),
 * REALTIME PUSH), on the daemon's one libuv loop.
 *
 * Transport: Debian's libcurl 7.88 has no WebSocket support, so curl's
 * CONNECT_ONLY mode does the TCP, TLS and proxy work through a curl multi
 * handle driven by the loop (never curl_easy_perform), and the WebSocket
 * then runs over curl_easy_send/curl_easy_recv on that connection, its
 * socket (CURLINFO_ACTIVESOCKET) watched by a uv_poll_t. Framing is ours
 * (ws.h: a text protocol needs little) and the Phoenix messages are
 * phoenix.h's pure functions.
 *
 * Life: ask the relay for a token (realtime-token), connect to
 * <supabaseUrl>/realtime/v1/websocket, join realtime:runner-account-<sub>
 * with postgres_changes on public.jobs filtered on the account; beat on the
 * phoenix topic every 25 s (a beat unanswered by the next one is a dead
 * connection); a minute before expiresAt fetch a new token and send it on
 * the channel as access_token, without reconnecting. Any failure closes the
 * connection and starts over with backoff and jitter (1 s doubling to 60 s;
 * 5 minutes when the relay offers no push at all).
 */
#ifndef DELEGO_REALTIME_H
#define DELEGO_REALTIME_H

#include <stdbool.h>
#include <uv.h>

#include "delego/relay.h"

struct dr_realtime;

struct dr_realtime_opts {
	uv_loop_t *loop;
	struct dr_relay *relay; /* borrowed; it and its transport must outlive the client */
	const char *version;    /* for the User-Agent */
	/* Accept a clear-text (http/ws) supabaseUrl whose host is not loopback. */
	bool allow_insecure;
	/* An INSERT or UPDATE on one of the account's jobs: poll now. */
	void (*on_change)(void *data);
	/* An UPDATE turned cancellation_requested true for this job id (borrowed). */
	void (*on_cancel)(const char *job_id, void *data);
	/* The subscription came up (true) or went down (false). */
	void (*on_state)(bool subscribed, void *data);
	void *data;
};

int dr_realtime_new(const struct dr_realtime_opts *o, struct dr_realtime **out);
/* Starts the first token request; later all retries are the client's own. */
void dr_realtime_start(struct dr_realtime *rt);
/* The relay handed out a usable realtime token: push exists, even while its server is unreachable. */
bool dr_realtime_offered(const struct dr_realtime *rt);
/*
 * Stops everything: no callback runs afterwards, also when called from
 * inside one. The memory goes once the handles are closed (the loop must
 * run). Accepts NULL.
 */
void dr_realtime_free(struct dr_realtime *rt);

#endif
