/*
 * relay: typed calls to a Delego relay (delego-runner-protocol(7), TRANSPORT and ENDPOINTS).
 *
 * Classifies every answer: OK (2xx with a JSON object), UNAUTHORIZED (401:
 * the credential is dead), REJECTED (other 4xx but 408/429: retrying the
 * same body will not help) and TRANSIENT (everything else: retry).
 */
#ifndef DELEGO_RELAY_H
#define DELEGO_RELAY_H

#include <cjson/cJSON.h>

#include "delego/http.h"

struct dr_relay;
struct dr_relay_call;

enum dr_relay_outcome {
	DR_RELAY_OK,
	DR_RELAY_UNAUTHORIZED,
	DR_RELAY_REJECTED,
	DR_RELAY_TRANSIENT,
};

struct dr_relay_reply {
	enum dr_relay_outcome outcome;
	long status;          /* HTTP status or 0 */
	const cJSON *body;    /* the answer object when OK; borrowed for the callback */
	const char *message;  /* what went wrong, for a log line; "" when OK */
	long retry_after_ms;  /* -1 unless the relay said Retry-After */
	int err;              /* the transport's error (http.h) when no answer came, else 0 */
	const char *error;    /* with err: the transport's own words (borrowed), for a finding */
	long date;            /* the answer's Date header (seconds since the epoch), or 0 */
	const char *raw;      /* the answer's bytes as received (NUL-terminated), borrowed; NULL without one */
	size_t raw_len;
	long status_line;     /* the status that came even when the transfer then failed (a cut body), else 0 */
};

typedef void (*dr_relay_cb)(const struct dr_relay_reply *reply, void *data);
/* Called once per 401, before the call's own callback, with the path. */
typedef void (*dr_relay_unauthorized_cb)(const char *path, void *data);

/* relay_url is normalised here; bearer may be NULL (register passes its own). */
int dr_relay_new(struct dr_http *http, const char *relay_url, const char *bearer, struct dr_relay **out);
void dr_relay_free(struct dr_relay *r);
void dr_relay_on_unauthorized(struct dr_relay *r, dr_relay_unauthorized_cb cb, void *data);
const char *dr_relay_url(const struct dr_relay *r);
/* The transport the relay's calls go through (the daemon's one), for other protocols to the same places. */
struct dr_http *dr_relay_http(const struct dr_relay *r);

/*
 * True for the runner endpoints ("/api/runner/register", ".../jobs/fail",
 * ...) and nothing else: a path is appended to the relay URL as it is.
 */
bool dr_relay_path_known(const char *path);
/*
 * POSTs body (consumed, even on failure) to <relay_url><path>. The callback
 * runs exactly once, later, unless dr_relay_call_cancel() comes first.
 * timeout_ms 0 means the default (30 s). -EINVAL for a path that
 * dr_relay_path_known refuses.
 */
int dr_relay_post(struct dr_relay *r, const char *path, cJSON *body, long timeout_ms,
		  dr_relay_cb cb, void *data, struct dr_relay_call **call);
void dr_relay_call_cancel(struct dr_relay_call *call);
/*
 * For the command line: one dr_relay_post on a loop and transport of its
 * own, waited for. 0 once cb has run; a negative errno (cb never runs)
 * when the call could not start. body is consumed either way.
 */
int dr_relay_post_wait(const char *relay_url, const char *bearer, const char *path, cJSON *body, long timeout_ms,
		       dr_relay_cb cb, void *data);

#endif
