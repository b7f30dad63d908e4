/*
 * phoenix: the pure parts of Supabase Realtime (Phoenix channels), as the
 * runner's push client and delego-relay's realtime endpoint speak it:
 * message encode/decode (vsn 1.0.0 JSON objects, and 2.0.0 arrays for a
 * server that must accept both), the join payload, the postgres_changes
 * event, the realtime URL, and the JWT claims the runner needs (sub, exp).
 * No I/O; everything from the network is bounded here.
 */
#ifndef DELEGO_PHOENIX_H
#define DELEGO_PHOENIX_H

#include <cjson/cJSON.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "delego/buf.h"

/* Largest Phoenix message we parse (one WebSocket message). */
#define DR_PHOENIX_MAX_MESSAGE (1024 * 1024)
/* Longest account id (the JWT's sub) we put in a topic. */
#define DR_PHOENIX_SUB_MAX 128
#define DR_PHOENIX_TOPIC_PREFIX "realtime:runner-account-"

struct dr_phoenix_msg {
	cJSON *root;           /* owned */
	const char *topic;     /* borrowed from root; never NULL after a decode */
	const char *event;     /* never NULL after a decode */
	const char *ref;       /* NULL when null or absent (numbers are kept as text in refbuf) */
	const char *join_ref;  /* NULL when null or absent */
	const cJSON *payload;  /* an object (an empty one when absent) */
	char refbuf[2][32];    /* private */
	cJSON *empty;          /* private */
};

/*
 * Serialises one message; payload is consumed (NULL sends {}); ref and
 * join_ref may be NULL (JSON null). array selects vsn 2.0.0's
 * [join_ref, ref, topic, event, payload]. Caller frees.
 */
char *dr_phoenix_encode(const char *topic, const char *event, cJSON *payload, const char *ref, const char *join_ref,
			bool array);
/* Parses either form. -E2BIG (size or depth), -EINVAL (not a Phoenix message). */
int dr_phoenix_decode(const char *data, size_t len, struct dr_phoenix_msg *m);
void dr_phoenix_msg_release(struct dr_phoenix_msg *m);
/* payload.status of a phx_reply, or NULL. Borrowed. */
const char *dr_phoenix_reply_status(const struct dr_phoenix_msg *m);

/* "realtime:runner-account-<sub>". Caller frees. */
char *dr_phoenix_topic(const char *sub);
/* The phx_join payload: postgres_changes on public.jobs filtered on the account; access_token when given. */
cJSON *dr_phoenix_join_payload(const char *sub, const char *access_token);

/* A postgres_changes event on jobs, as the runner reads it. */
struct dr_phoenix_change {
	char type[8];         /* "INSERT", "UPDATE", "DELETE" */
	const char *job_id;   /* record.id (borrowed from the message), or NULL */
	bool cancel_new;      /* record.cancellation_requested === true */
	bool cancel_old;      /* old_record.cancellation_requested === true */
};
/* Reads payload.data of a postgres_changes message. -EINVAL when it is not one. */
int dr_phoenix_change_parse(const cJSON *payload, struct dr_phoenix_change *c);
/* The UPDATE that should cancel the job: cancellation turned true. */
bool dr_phoenix_change_cancels(const struct dr_phoenix_change *c);

/*
 * From supabaseUrl (http, https, ws or wss, no userinfo) to what the client
 * needs: the URL curl connects to (http or https, the same host and port),
 * the Host header and the request target
 * "<path>/realtime/v1/websocket?apikey=<token>&vsn=1.0.0". All owned by the
 * caller. -EINVAL for anything else. The target carries the token: never log it.
 */
int dr_phoenix_ws_url(const char *supabase_url, const char *token, char **connect_url, char **host, char **target);

/* Unpadded or padded base64url into out (capped by out->max). -EINVAL on a bad character. */
int dr_phoenix_b64url_decode(const char *in, size_t len, struct dr_buf *out);
/*
 * The payload claims of a JWT (the signature is not checked: the relay
 * that gave it is trusted, the Realtime server checks it). sub must be
 * 1..DR_PHOENIX_SUB_MAX characters of [A-Za-z0-9._-] and goes into
 * sub[DR_PHOENIX_SUB_MAX + 1]; *exp_s is 0 when absent.
 */
int dr_phoenix_jwt_claims(const char *jwt, char *sub, int64_t *exp_s);

#endif
