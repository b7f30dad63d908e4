/*
 * realtime: a Supabase-Realtime-compatible push endpoint for runners, at
 * GET /realtime/v1/websocket?apikey=<token>&vsn=1.0.0 (or 2.0.0), on the
 * server's own select loop.
 *
 * libmicrohttpd does the HTTP upgrade (MHD_create_response_for_upgrade)
 * and hands over the socket; framing is lib's ws.h, the Phoenix messages
 * lib's phoenix.h. A client joins realtime:runner-account-<account id>
 * with the JWT realtime-token gave (as apikey or as the join's
 * access_token): a join with an invalid or expired token, or for another
 * account's topic, is refused. Joined clients get postgres_changes events
 * for public.jobs: the loop watches the store's data-version counter (as
 * long polls do) and, when it moved, diffs the newest RELAY_REALTIME_JOBS
 * jobs against the last snapshot: a new id is an INSERT, a changed status,
 * cancellation flag or update time an UPDATE, with record and old_record
 * {id, status, cancellation_requested, account_id, runner_id, updated_at}.
 */
#ifndef RELAY_REALTIME_H
#define RELAY_REALTIME_H

#include "store.h"

#include <microhttpd.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/select.h>

#define RELAY_REALTIME_PATH "/realtime/v1/websocket"
#define RELAY_REALTIME_JOBS 500
#define RELAY_REALTIME_MAX_CONNS 256
#define RELAY_REALTIME_MAX_MESSAGE (64 * 1024)
/* Phoenix servers drop a client that sent nothing (not even a heartbeat) for this long. */
#define RELAY_REALTIME_IDLE_MS 60000

struct relay_realtime;

struct relay_realtime *relay_realtime_new(struct relay_store *st);
/* Closes every connection (before MHD_stop_daemon). Accepts NULL. */
void relay_realtime_free(struct relay_realtime *rt);
/* Answers GET RELAY_REALTIME_PATH: the 101 upgrade, or an HTTP error. */
enum MHD_Result relay_realtime_request(struct relay_realtime *rt, struct MHD_Connection *conn, const char *method);
/* Adds the sockets to watch; true when any connection is open (tick often). */
bool relay_realtime_fdset(struct relay_realtime *rt, fd_set *rs, fd_set *ws, int *max);
/* Serves the sockets select() found ready, pushes job changes, drops dead or expired clients. */
void relay_realtime_run(struct relay_realtime *rt, const fd_set *rs, const fd_set *ws, int64_t now);

/* What a valid realtime token says. */
struct relay_realtime_claims {
	int64_t exp_ms;
	char runner_id[37];
	int64_t paired_at; /* the credential the token was minted under */
};
/*
 * Checks a realtime token: our HS256 signature with the store's key, sub
 * the account id, exp in the future, and its runner still holding the
 * credential it was minted under (not removed, revoked or rotated).
 * 0 with *out filled, or -EACCES.
 */
int relay_realtime_check_token(struct relay_store *st, const char *token, int64_t now,
			       struct relay_realtime_claims *out);

#endif
