/*
 * server: `delego-relay serve`, the HTTP side.
 *
 * libmicrohttpd driven from one thread by our own select loop, so every
 * request runs on that thread against one SQLite connection. The loop also
 * watches a self-pipe for SIGTERM/SIGINT and, every 25 ms while long polls
 * wait, the database's change counter: a job queued by the admin CLI in
 * another process wakes a waiting poll within one tick.
 */
#ifndef RELAY_SERVER_H
#define RELAY_SERVER_H

#include "store.h"

#define RELAY_BODY_MAX (1024 * 1024)
#define RELAY_TICK_MS 10
/* Connections: at most this many in all (select() needs fds below FD_SETSIZE), this many from one address. */
#define RELAY_CONNECTIONS_MAX 1000
#define RELAY_CONNECTIONS_PER_ADDRESS 64
/* A connection that sends nothing (a half-sent request, an idle keep-alive) is closed after this. */
#define RELAY_IDLE_TIMEOUT_S 10

struct relay_server_config {
	const char *listen;      /* HOST:PORT; port 0 picks a free one */
	const char *url_file;    /* or NULL: receives the base URL once listening */
	const char *request_log; /* or NULL: one JSON line per runner-API request */
	const char *public_url;  /* or NULL: the URL printed in pairing commands */
	bool no_realtime;        /* no push endpoint; realtime-token points nowhere */
	bool no_long_poll;       /* jobs/poll never waits (tests measure push alone) */
};

/* Serves until SIGTERM/SIGINT. Returns 0, or a negative errno (logged). */
int relay_server_run(struct relay_store *st, const struct relay_server_config *cfg);

#endif
