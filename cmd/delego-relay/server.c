/* server: libmicrohttpd on our own select loop, long polls, request log, panel files. */
#include "server.h"

#include "admin.h"
#include "api.h"
#include "clock.h"
#include "panel.h"
#include "realtime.h"
#include "token.h"

#include "delego/buf.h"
#include "delego/json.h"
#include "delego/log.h"
#include "delego/xalloc.h"

#include <errno.h>
#include <fcntl.h>
#include <microhttpd.h>
#include <netdb.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <sys/select.h>
#include <sys/socket.h>
#include <unistd.h>

struct relay_req {
	struct dr_buf body;
	bool too_big;
	bool ready; /* a resumed long poll: status and answer are set */
	int status;
	cJSON *answer;
	cJSON *logged_body;
	char path[128];
	struct relay_api_wait wait;
	struct MHD_Connection *conn;
	struct relay_req *next; /* in the waiter list while suspended */
};

struct relay_server {
	struct relay_store *st;
	char bound_host[300];  /* the listen host, [v6] bracketed; "" when bound to every address */
	char public_host[300]; /* the --public-url host, or "" */
	FILE *request_log;
	struct relay_req *waiters;
	int64_t seen_version;
	int64_t next_tick;
	struct relay_realtime *rt; /* NULL with --no-realtime */
};

static int sig_pipe[2] = { -1, -1 };

/* libmicrohttpd's complaints (one per refused connection under a flood) at most once per 10 s. */
#define MHD_LOG_INTERVAL_MS 10000

__attribute__((format(printf, 2, 0))) static void on_mhd_log(void *cls, const char *fmt, va_list ap)
{
	static int64_t last_ms;
	static unsigned long suppressed;
	int64_t now = relay_clock_now_ms();
	if (last_ms && now - last_ms < MHD_LOG_INTERVAL_MS) {
		suppressed++;
		return;
	}
	char msg[512];
	vsnprintf(msg, sizeof(msg), fmt, ap);
	msg[strcspn(msg, "\r\n")] = '\0';
	if (suppressed)
		dr_log_warn("http: %s (%lu more messages in the last %d s)", msg, suppressed, MHD_LOG_INTERVAL_MS / 1000);
	else
		dr_log_warn("http: %s", msg);
	last_ms = now;
	suppressed = 0;
}

static void on_signal(int sig)
{
	int saved = errno;
	char c = (char)sig;
	/* Only a flag for the loop; everything else happens outside the handler. */
	if (write(sig_pipe[1], &c, 1) < 0) {
	}
	errno = saved;
}

static void req_free(struct relay_req *req)
{
	if (!req)
		return;
	dr_buf_release(&req->body);
	cJSON_Delete(req->answer);
	cJSON_Delete(req->logged_body);
	relay_api_wait_release(&req->wait);
	free(req);
}

static void on_completed(void *cls, struct MHD_Connection *conn, void **con_cls, enum MHD_RequestTerminationCode toe)
{
	req_free(*con_cls);
	*con_cls = NULL;
}

static const char *bearer_of(struct MHD_Connection *conn)
{
	const char *h = MHD_lookup_connection_value(conn, MHD_HEADER_KIND, MHD_HTTP_HEADER_AUTHORIZATION);
	if (!h || strncasecmp(h, "Bearer ", 7) != 0)
		return NULL;
	h += 7;
	while (*h == ' ')
		h++;
	return h;
}

static enum MHD_Result send_bytes(struct MHD_Connection *conn, int status, const char *type, void *data, size_t len,
				  enum MHD_ResponseMemoryMode mode)
{
	struct MHD_Response *resp = MHD_create_response_from_buffer(len, data, mode);
	if (!resp)
		return MHD_NO;
	MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, type);
	MHD_add_response_header(resp, MHD_HTTP_HEADER_CACHE_CONTROL, "no-store");
	MHD_add_response_header(resp, "X-Content-Type-Options", "nosniff");
	enum MHD_Result r = MHD_queue_response(conn, (unsigned)status, resp);
	MHD_destroy_response(resp);
	return r;
}

static enum MHD_Result send_json(struct MHD_Connection *conn, int status, const cJSON *answer)
{
	char *text = dr_json_print(answer);
	return send_bytes(conn, status, "application/json", text, strlen(text), MHD_RESPMEM_MUST_FREE);
}

/* One JSON line per runner-API request; the pairing token never reaches the file. */
static void log_request(struct relay_server *srv, struct relay_req *req, int status)
{
	if (!srv->request_log)
		return;
	cJSON *line = cJSON_CreateObject();
	cJSON_AddNumberToObject(line, "t", (double)relay_clock_now_ms());
	cJSON_AddStringToObject(line, "path", req->path);
	cJSON_AddNumberToObject(line, "status", status);
	cJSON *body = req->logged_body ? cJSON_Duplicate(req->logged_body, 1) : NULL;
	if (!body && req->body.len)
		body = cJSON_CreateString(req->body.buf);
	if (cJSON_IsObject(body) && cJSON_GetObjectItemCaseSensitive(body, "pairingToken")) {
		cJSON_DeleteItemFromObjectCaseSensitive(body, "pairingToken");
		cJSON_AddStringToObject(body, "pairingToken", "[redacted]");
	}
	cJSON_AddItemToObject(line, "body", body ? body : cJSON_CreateNull());
	char *text = dr_json_print(line);
	fprintf(srv->request_log, "%s\n", text);
	fflush(srv->request_log);
	free(text);
	cJSON_Delete(line);
}

static enum MHD_Result answer_runner(struct relay_server *srv, struct relay_req *req, int status, cJSON *answer)
{
	log_request(srv, req, status);
	enum MHD_Result r = send_json(req->conn, status, answer);
	cJSON_Delete(answer);
	return r;
}

static const char *content_type(const char *name)
{
	const char *dot = strrchr(name, '.');
	if (dot && !strcmp(dot, ".html"))
		return "text/html; charset=utf-8";
	if (dot && !strcmp(dot, ".css"))
		return "text/css; charset=utf-8";
	if (dot && !strcmp(dot, ".js"))
		return "text/javascript; charset=utf-8";
	if (dot && !strcmp(dot, ".svg"))
		return "image/svg+xml";
	return "application/octet-stream";
}

/* The panel loads only its own files and talks only to its own origin. */
#define RELAY_PANEL_CSP                                                                                     \
	"default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self'; connect-src 'self';"     \
	" object-src 'none'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"

static enum MHD_Result serve_panel(struct MHD_Connection *conn, const char *url)
{
	const char *name = !strcmp(url, "/") ? "index.html" : url + 1;
	for (const struct relay_panel_asset *a = relay_panel_assets; a->name; a++) {
		if (strcmp(a->name, name) != 0)
			continue;
		struct MHD_Response *resp = MHD_create_response_from_buffer(a->len, (void *)a->data,
									      MHD_RESPMEM_PERSISTENT);
		if (!resp)
			return MHD_NO;
		MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, content_type(a->name));
		MHD_add_response_header(resp, MHD_HTTP_HEADER_CACHE_CONTROL, "no-store");
		MHD_add_response_header(resp, "X-Content-Type-Options", "nosniff");
		MHD_add_response_header(resp, "X-Frame-Options", "DENY");
		MHD_add_response_header(resp, "Referrer-Policy", "no-referrer");
		MHD_add_response_header(resp, "Content-Security-Policy", RELAY_PANEL_CSP);
		enum MHD_Result r = MHD_queue_response(conn, MHD_HTTP_OK, resp);
		MHD_destroy_response(resp);
		return r;
	}
	static const char nf[] = "not found\n";
	return send_bytes(conn, 404, "text/plain; charset=utf-8", (void *)nf, sizeof(nf) - 1, MHD_RESPMEM_PERSISTENT);
}

/* Parses the request body: NULL for an empty body; -EINVAL / -E2BIG otherwise. */
static int parse_body(struct relay_req *req, cJSON **out)
{
	*out = NULL;
	if (req->too_big)
		return -E2BIG;
	if (req->body.len == 0)
		return 0;
	return dr_json_parse(req->body.buf, req->body.len, RELAY_BODY_MAX, out);
}

static enum MHD_Result handle_runner(struct relay_server *srv, struct relay_req *req, const char *method)
{
	cJSON *answer = NULL;
	int status;
	if (strcmp(method, "POST") != 0)
		return answer_runner(srv, req, 405, relay_api_error("runner endpoints take POST with a JSON body"));
	cJSON *body = NULL;
	int r = parse_body(req, &body);
	if (r == -E2BIG)
		return answer_runner(srv, req, 413, relay_api_error("the request body is larger than 1 MiB or nested too deeply"));
	if (r < 0)
		return answer_runner(srv, req, 400, relay_api_error("the request body is not valid JSON"));
	req->logged_body = body;
	r = relay_api_handle(srv->st, req->path, bearer_of(req->conn), body, relay_clock_now_ms(), &status, &answer,
			     &req->wait);
	if (r == RELAY_API_WAIT) {
		req->next = srv->waiters;
		srv->waiters = req;
		MHD_suspend_connection(req->conn);
		return MHD_YES;
	}
	return answer_runner(srv, req, status, answer);
}

static enum MHD_Result handle_admin(struct relay_server *srv, struct relay_req *req, const char *method)
{
	const char *tok = bearer_of(req->conn);
	if (!tok || !relay_secret_eq(tok, relay_store_admin_token(srv->st))) {
		cJSON *e = relay_api_error("admin token required: open the panel through the URL `delego-relay serve` "
					   "printed, or get it with `delego-relay admin-token`");
		enum MHD_Result r = send_json(req->conn, 401, e);
		cJSON_Delete(e);
		return r;
	}
	cJSON *body = NULL, *answer = NULL;
	int status;
	int r = parse_body(req, &body);
	if (r < 0) {
		cJSON *e = relay_api_error(r == -E2BIG ? "the request body is larger than 1 MiB" : "the request body is not valid JSON");
		enum MHD_Result m = send_json(req->conn, r == -E2BIG ? 413 : 400, e);
		cJSON_Delete(e);
		return m;
	}
	relay_admin_handle(srv->st, method, req->path, body, relay_clock_now_ms(), &status, &answer);
	cJSON_Delete(body);
	enum MHD_Result m = send_json(req->conn, status, answer);
	cJSON_Delete(answer);
	return m;
}

/* Copies the host part of a Host header (no port; [v6] keeps its brackets). */
static bool host_part(const char *h, char *out, size_t len)
{
	size_t n;
	if (h[0] == '[') {
		const char *e = strchr(h, ']');
		if (!e)
			return false;
		n = (size_t)(e - h) + 1;
	} else {
		const char *c = strchr(h, ':');
		n = c ? (size_t)(c - h) : strlen(h);
	}
	if (n == 0 || n >= len)
		return false;
	memcpy(out, h, n);
	out[n] = '\0';
	return true;
}

/*
 * DNS rebinding: a page on another site whose name now resolves to us sends
 * its own name as Host. Only our own names pass: localhost, the loopback
 * literals, the listen address and the --public-url host; bound to every
 * address, any IP literal (a literal cannot be rebound). No Host at all is
 * an HTTP/1.0 client, never a browser.
 */
static bool host_allowed(const struct relay_server *srv, struct MHD_Connection *conn)
{
	const char *h = MHD_lookup_connection_value(conn, MHD_HEADER_KIND, MHD_HTTP_HEADER_HOST);
	char host[300], lit[300];
	if (!h)
		return true;
	if (!host_part(h, host, sizeof(host)))
		return false;
	if (!strcasecmp(host, "localhost") || !strcmp(host, "127.0.0.1") || !strcmp(host, "[::1]") ||
	    (srv->bound_host[0] && !strcasecmp(host, srv->bound_host)) ||
	    (srv->public_host[0] && !strcasecmp(host, srv->public_host)))
		return true;
	if (srv->bound_host[0])
		return false;
	unsigned char addr[sizeof(struct in6_addr)];
	size_t n = strlen(host);
	if (host[0] == '[') {
		snprintf(lit, sizeof(lit), "%.*s", (int)(n - 2), host + 1);
		return inet_pton(AF_INET6, lit, addr) == 1;
	}
	return inet_pton(AF_INET, host, addr) == 1;
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *conn, const char *url, const char *method,
				  const char *version, const char *upload_data, size_t *upload_data_size,
				  void **con_cls)
{
	struct relay_server *srv = cls;
	struct relay_req *req = *con_cls;
	if (!req) {
		if (!host_allowed(srv, conn)) {
			static const char msg[] = "{\"error\":\"this relay does not serve that Host; use its own address (e.g. 127.0.0.1 or localhost)\"}";
			return send_bytes(conn, 421, "application/json", (void *)msg, sizeof(msg) - 1, MHD_RESPMEM_PERSISTENT);
		}
		req = dr_xcalloc(1, sizeof(*req));
		dr_buf_init(&req->body, RELAY_BODY_MAX);
		req->conn = conn;
		snprintf(req->path, sizeof(req->path), "%s", url);
		*con_cls = req;
		return MHD_YES;
	}
	if (*upload_data_size) {
		if (!req->too_big && dr_buf_add(&req->body, upload_data, *upload_data_size) < 0)
			req->too_big = true;
		*upload_data_size = 0;
		return MHD_YES;
	}
	if (req->ready) {
		req->ready = false;
		cJSON *answer = req->answer;
		req->answer = NULL;
		return answer_runner(srv, req, req->status, answer);
	}
	if (strlen(url) >= sizeof(req->path))
		return serve_panel(conn, "/-");
	if (!strncmp(url, "/api/runner/", 12))
		return handle_runner(srv, req, method);
	if (!strncmp(url, "/api/admin/", 11))
		return handle_admin(srv, req, method);
	if (srv->rt && !strcmp(url, RELAY_REALTIME_PATH))
		return relay_realtime_request(srv->rt, conn, method);
	if (!strcmp(url, "/healthz")) {
		static const char okbody[] = "{\"ok\":true}";
		return send_bytes(conn, 200, "application/json", (void *)okbody, sizeof(okbody) - 1,
				  MHD_RESPMEM_PERSISTENT);
	}
	if (strcmp(method, "GET") && strcmp(method, "HEAD"))
		return serve_panel(conn, "/-");
	return serve_panel(conn, url);
}

/* A runner that gave up waiting (timeout, shutdown) must not be handed a job it never sees. */
static bool peer_gone(struct MHD_Connection *conn)
{
	const union MHD_ConnectionInfo *ci = MHD_get_connection_info(conn, MHD_CONNECTION_INFO_CONNECTION_FD);
	if (!ci)
		return false;
	char b;
	ssize_t n = recv(ci->connect_fd, &b, 1, MSG_PEEK | MSG_DONTWAIT);
	return n == 0 || (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR);
}

/* Retries the waiting polls: all of them when the data changed, else the expired ones.
 * Returns how many were answered (and resumed). */
static int tick_waiters(struct relay_server *srv, bool shutting_down)
{
	int resumed = 0;
	int64_t now = relay_clock_now_ms();
	if (!shutting_down && now < srv->next_tick)
		return 0;
	srv->next_tick = now + RELAY_TICK_MS;
	int64_t v = relay_store_data_version(srv->st);
	bool changed = v != srv->seen_version;
	srv->seen_version = v;
	struct relay_req **pp = &srv->waiters;
	while (*pp) {
		struct relay_req *req = *pp;
		bool final = shutting_down || now >= req->wait.deadline_ms;
		if (!changed && !final) {
			pp = &req->next;
			continue;
		}
		int status;
		cJSON *answer = NULL;
		if (peer_gone(req->conn)) {
			status = 499; /* only for the request log: nobody reads this answer */
			answer = relay_api_error("the runner closed the connection while waiting");
		} else if (relay_api_poll_again(srv->st, &req->wait, now, final, &status, &answer) == RELAY_API_WAIT) {
			pp = &req->next;
			continue;
		}
		*pp = req->next;
		req->next = NULL;
		req->status = status;
		req->answer = answer;
		req->ready = true;
		MHD_resume_connection(req->conn);
		resumed++;
	}
	/* Our own claims changed the counter; do not count them as news next tick. */
	srv->seen_version = relay_store_data_version(srv->st);
	return resumed;
}

/* Parses HOST:PORT (HOST may be [v6]) and binds a listening socket. */
static int listen_on(const char *spec, int *fd_out, char *host_out, size_t host_len, unsigned *port_out,
		     bool *any_out)
{
	char host[256];
	const char *colon = strrchr(spec, ':');
	if (!colon || colon == spec || !colon[1])
		return -EINVAL;
	size_t hl = (size_t)(colon - spec);
	if (spec[0] == '[' && hl >= 2 && spec[hl - 1] == ']') {
		spec++;
		hl -= 2;
	}
	if (hl >= sizeof(host))
		return -EINVAL;
	memcpy(host, spec, hl);
	host[hl] = '\0';
	long port;
	if (relay_parse_long(colon + 1, 0, 65535, &port) < 0)
		return -EINVAL;
	struct addrinfo hints = { .ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM, .ai_flags = AI_PASSIVE },
			*res = NULL;
	if (getaddrinfo(host, colon + 1, &hints, &res) != 0 || !res)
		return -EADDRNOTAVAIL;
	int fd = socket(res->ai_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
	int r = 0;
	if (fd < 0) {
		r = -errno;
		goto out;
	}
	int one = 1;
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (bind(fd, res->ai_addr, res->ai_addrlen) < 0 || listen(fd, 128) < 0) {
		r = -errno;
		close(fd);
		goto out;
	}
	struct sockaddr_storage ss;
	socklen_t sl = sizeof(ss);
	getsockname(fd, (struct sockaddr *)&ss, &sl);
	*port_out = ntohs(ss.ss_family == AF_INET6 ? ((struct sockaddr_in6 *)&ss)->sin6_port
						    : ((struct sockaddr_in *)&ss)->sin_port);
	bool any = !strcmp(host, "0.0.0.0") || !strcmp(host, "::") || !*host;
	bool v6 = ss.ss_family == AF_INET6 && !any;
	snprintf(host_out, host_len, v6 ? "[%s]" : "%s", any ? "127.0.0.1" : host);
	*any_out = any;
	*fd_out = fd;
out:
	freeaddrinfo(res);
	return r;
}

/* Written under a random name created O_EXCL|O_NOFOLLOW, then renamed: nothing planted is followed. */
static int write_url_file(const char *path, const char *url)
{
	unsigned char rnd[8];
	int r = relay_random(rnd, sizeof(rnd));
	if (r < 0)
		return r;
	char *tmp = dr_xasprintf("%s.tmp-%02x%02x%02x%02x%02x%02x%02x%02x", path, rnd[0], rnd[1], rnd[2], rnd[3],
				 rnd[4], rnd[5], rnd[6], rnd[7]);
	int fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0644);
	if (fd < 0) {
		r = -errno;
		free(tmp);
		return r;
	}
	char *line = dr_xasprintf("%s\n", url);
	size_t len = strlen(line);
	if (write(fd, line, len) != (ssize_t)len)
		r = errno ? -errno : -EIO;
	if (close(fd) < 0 && r == 0)
		r = -errno;
	if (r == 0 && rename(tmp, path) < 0)
		r = -errno;
	if (r < 0)
		unlink(tmp);
	free(line);
	free(tmp);
	return r;
}

/* The request log holds summaries and output tails: ours alone (0600), never through a symlink. */
static FILE *open_request_log(const char *path)
{
	int fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_NOFOLLOW | O_CLOEXEC, 0600);
	if (fd < 0)
		return NULL;
	FILE *f = fchmod(fd, 0600) == 0 ? fdopen(fd, "a") : NULL;
	if (!f) {
		int e = errno;
		close(fd);
		errno = e;
	}
	return f;
}

static int setup_signals(void)
{
	if (pipe2(sig_pipe, O_CLOEXEC | O_NONBLOCK) < 0)
		return -errno;
	struct sigaction sa = { .sa_handler = on_signal };
	sigemptyset(&sa.sa_mask);
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);
	signal(SIGPIPE, SIG_IGN);
	return 0;
}

/* One pass of the loop: waits for I/O (at most max_wait_ms) and lets MHD work. */
static bool loop_once(struct MHD_Daemon *d, struct relay_server *srv, long max_wait_ms)
{
	fd_set rs, ws, es;
	FD_ZERO(&rs);
	FD_ZERO(&ws);
	FD_ZERO(&es);
	MHD_socket max = 0;
	MHD_get_fdset(d, &rs, &ws, &es, &max);
	FD_SET(sig_pipe[0], &rs);
	if (sig_pipe[0] > max)
		max = sig_pipe[0];
	MHD_UNSIGNED_LONG_LONG mhd_to;
	long wait_ms = max_wait_ms;
	if (MHD_get_timeout(d, &mhd_to) == MHD_YES && (long long)mhd_to < wait_ms)
		wait_ms = (long)mhd_to;
	if (srv->rt && relay_realtime_fdset(srv->rt, &rs, &ws, &max) && wait_ms > RELAY_TICK_MS)
		wait_ms = RELAY_TICK_MS;
	if (srv->waiters && wait_ms > RELAY_TICK_MS)
		wait_ms = RELAY_TICK_MS;
	struct timeval tv = { .tv_sec = wait_ms / 1000, .tv_usec = (wait_ms % 1000) * 1000 };
	int n = select(max + 1, &rs, &ws, &es, &tv);
	bool stop = false;
	if (n > 0 && FD_ISSET(sig_pipe[0], &rs)) {
		char c;
		while (read(sig_pipe[0], &c, 1) == 1)
			stop = true;
	}
	if (n < 0) {
		FD_ZERO(&rs);
		FD_ZERO(&ws);
		FD_ZERO(&es);
	}
	MHD_run_from_select(d, &rs, &ws, &es);
	if (srv->rt)
		relay_realtime_run(srv->rt, &rs, &ws, relay_clock_now_ms());
	return stop;
}

int relay_server_run(struct relay_store *st, const struct relay_server_config *cfg)
{
	struct relay_server srv = { .st = st };
	struct MHD_Daemon *d = NULL;
	int fd = -1, r;
	char host[300], *url = NULL;
	unsigned port = 0;
	if ((r = setup_signals()) < 0) {
		dr_log_err("cannot set up signal handling: %s", strerror(-r));
		return r;
	}
	if (cfg->request_log && !(srv.request_log = open_request_log(cfg->request_log))) {
		r = -errno;
		dr_log_err("cannot open request log '%s': %s", cfg->request_log, strerror(errno));
		goto out;
	}
	bool any = false;
	if ((r = listen_on(cfg->listen, &fd, host, sizeof(host), &port, &any)) < 0) {
		if (r == -EINVAL)
			dr_log_err("--listen '%s' is not HOST:PORT (e.g. 127.0.0.1:8420)", cfg->listen);
		else
			dr_log_err("cannot listen on '%s': %s", cfg->listen, strerror(-r));
		goto out;
	}
	snprintf(srv.bound_host, sizeof(srv.bound_host), "%s", any ? "" : host);
	const char *scheme_end = cfg->public_url ? strstr(cfg->public_url, "://") : NULL;
	if (scheme_end && !host_part(scheme_end + 3, srv.public_host, sizeof(srv.public_host)))
		srv.public_host[0] = '\0';
	/* One address cannot take every connection; a request that stalls is cut off soon. */
	d = MHD_start_daemon(MHD_ALLOW_SUSPEND_RESUME | MHD_ALLOW_UPGRADE | MHD_USE_ERROR_LOG, 0, NULL, NULL, &on_request, &srv,
			     MHD_OPTION_EXTERNAL_LOGGER, &on_mhd_log, NULL, MHD_OPTION_LISTEN_SOCKET, fd,
			     MHD_OPTION_NOTIFY_COMPLETED, &on_completed, &srv, MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)RELAY_IDLE_TIMEOUT_S,
			     MHD_OPTION_CONNECTION_LIMIT, (unsigned)RELAY_CONNECTIONS_MAX,
			     MHD_OPTION_PER_IP_CONNECTION_LIMIT, (unsigned)RELAY_CONNECTIONS_PER_ADDRESS, MHD_OPTION_END);
	if (!d) {
		r = -EIO;
		dr_log_err("cannot start the HTTP server on '%s'", cfg->listen);
		close(fd);
		goto out;
	}
	url = dr_xasprintf("http://%s:%u", host, port);
	if ((r = relay_store_set_public_url(st, cfg->public_url ? cfg->public_url : url)) < 0) {
		dr_log_err("cannot record the relay URL: %s", relay_store_error(st));
		goto out;
	}
	if (cfg->url_file && (r = write_url_file(cfg->url_file, url)) < 0) {
		dr_log_err("cannot write --url-file '%s': %s", cfg->url_file, strerror(-r));
		goto out;
	}
	/* Realtime push answers at our own address, as a Supabase URL would. */
	relay_api_configure(cfg->no_realtime ? NULL : cfg->public_url ? cfg->public_url : url, !cfg->no_long_poll);
	if (!cfg->no_realtime)
		srv.rt = relay_realtime_new(st);
	long on, stale;
	relay_store_thresholds(st, &on, &stale);
	dr_log_info("listening on %s", url);
	dr_log_info("runners panel: %s/#token=%s", cfg->public_url ? cfg->public_url : url, relay_store_admin_token(st));
	dr_log_info("runner status: Online <= %lds since the last heartbeat, Stale <= %lds, else Offline", on, stale);
	srv.seen_version = relay_store_data_version(st);
	long next_wait = 1000;
	while (!loop_once(d, &srv, next_wait)) {
		next_wait = 1000;
		/* A resumed connection needs MHD passes without new socket events: spin once more. */
		if (srv.waiters && tick_waiters(&srv, false) > 0)
			next_wait = 0;
	}
	dr_log_info("shutting down");
	/* Suspended connections must be resumed before MHD stops: answer them now. */
	tick_waiters(&srv, true);
	for (int i = 0; i < 10; i++)
		loop_once(d, &srv, 20);
	r = 0;
out:
	relay_realtime_free(srv.rt);
	relay_api_configure(NULL, true);
	if (d)
		MHD_stop_daemon(d);
	if (srv.request_log)
		fclose(srv.request_log);
	free(url);
	return r;
}
