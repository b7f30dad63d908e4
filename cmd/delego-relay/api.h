/*
 * api: the runner API (ENDPOINTS in delego-runner-protocol(7)), over the store.
 *
 * Pure request -> answer functions (no sockets), so the HTTP server and the
 * unit tests share them. Long polls are split in two: relay_api_handle
 * answers RELAY_API_WAIT with a struct relay_api_wait when jobs/poll asked
 * to wait and nothing is claimable; the server then calls
 * relay_api_poll_again until it answers.
 */
#ifndef RELAY_API_H
#define RELAY_API_H

#include "store.h"

#include <cjson/cJSON.h>
#include <stdbool.h>
#include <stdint.h>

#define RELAY_API_WAIT 1
#define RELAY_LONG_POLL_MAX_MS 30000
/* realtime-token points here with `serve --no-realtime`: nothing listens, so runners poll. */
#define RELAY_SUPABASE_URL "http://127.0.0.1:9"
#define RELAY_REALTIME_TTL_MS (60 * 60 * 1000)

struct relay_api_wait {
	struct relay_auth auth;
	unsigned supported;
	char *bearer; /* owned: re-checked on every retry, so a rotation ends the wait */
	int64_t deadline_ms;
};
void relay_api_wait_release(struct relay_api_wait *w);

/*
 * Handles POST /api/runner/<name> (path is the whole URL path). body is the
 * request object (NULL when the body was empty). Fills *status and *answer
 * (owned) and returns 0, or returns RELAY_API_WAIT with *wait filled.
 */
int relay_api_handle(struct relay_store *st, const char *path, const char *bearer, const cJSON *body,
		     int64_t now, int *status, cJSON **answer, struct relay_api_wait *wait);
/*
 * Retries a waiting poll. Returns 0 with an answer when a job was claimed,
 * the runner's credential died, or final is set (the wait ended);
 * RELAY_API_WAIT otherwise.
 */
int relay_api_poll_again(struct relay_store *st, struct relay_api_wait *wait, int64_t now, bool final,
			 int *status, cJSON **answer);
/*
 * What `serve` offers: realtime_url is the supabaseUrl realtime-token
 * answers (copied; NULL: RELAY_SUPABASE_URL, where nothing listens, so
 * runners poll); long_poll false ignores waitMs (polls answer at once).
 */
void relay_api_configure(const char *realtime_url, bool long_poll);
/* {"error": msg} (owned). */
cJSON *relay_api_error(const char *msg);

#endif
