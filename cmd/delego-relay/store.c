/* store: runners, pairing tokens, jobs and events in SQLite. */
#include "store.h"

#include "clock.h"
#include "token.h"

#include "delego/buf.h"
#include "delego/json.h"
#include "delego/xalloc.h"

#include <errno.h>
#include <limits.h>
#include <sqlite3.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#define BUSY_TIMEOUT_MS 5000
#define EVENT_ID_MAX 200

struct relay_store {
	sqlite3 *db;
	char *admin_token;
	char *account_id;
	char *jwt_key;
	long online_s, stale_s;
	char err[512];
};

static const char schema[] =
	"CREATE TABLE IF NOT EXISTS meta(key TEXT PRIMARY KEY, value TEXT NOT NULL);"
	"CREATE TABLE IF NOT EXISTS runners("
	" id TEXT PRIMARY KEY, name TEXT NOT NULL, exec_mask INTEGER NOT NULL DEFAULT 0,"
	" reported_mask INTEGER NOT NULL DEFAULT 0, bearer_hash TEXT UNIQUE, version TEXT,"
	" created_at INTEGER NOT NULL, paired_at INTEGER, last_heartbeat_at INTEGER,"
	" active_job_id TEXT, revoked_at INTEGER, removed_at INTEGER, restart_requested_at INTEGER);"
	"CREATE TABLE IF NOT EXISTS pairing_tokens("
	" token_hash TEXT PRIMARY KEY, runner_id TEXT NOT NULL, created_at INTEGER NOT NULL,"
	" expires_at INTEGER NOT NULL, used_at INTEGER);"
	"CREATE TABLE IF NOT EXISTS jobs("
	" seq INTEGER PRIMARY KEY AUTOINCREMENT, id TEXT NOT NULL UNIQUE, status TEXT NOT NULL,"
	" runner_id TEXT, pinned_runner_id TEXT, attempt_id TEXT, executor TEXT, raw INTEGER NOT NULL,"
	" body TEXT NOT NULL, cancellation_requested INTEGER NOT NULL DEFAULT 0, summary TEXT,"
	" metadata TEXT, await_info TEXT, created_at INTEGER NOT NULL, updated_at INTEGER NOT NULL,"
	" claimed_at INTEGER, finished_at INTEGER);"
	"CREATE INDEX IF NOT EXISTS jobs_queue ON jobs(status, seq);"
	"CREATE TABLE IF NOT EXISTS events("
	" seq INTEGER PRIMARY KEY AUTOINCREMENT, job_id TEXT NOT NULL, runner_id TEXT,"
	" kind TEXT NOT NULL, event_id TEXT, summary TEXT, metadata TEXT, created_at INTEGER NOT NULL,"
	" UNIQUE(job_id, event_id));"
	"CREATE INDEX IF NOT EXISTS events_job ON events(job_id, seq);";

static const char *const status_names[] = { "online", "stale", "offline", "revoked", "not_registered" };
static const char *const status_labels[] = { "Online", "Stale", "Offline", "Revoked", "Not registered" };

const char *relay_status_name(enum relay_status s) { return status_names[s]; }
const char *relay_status_label(enum relay_status s) { return status_labels[s]; }

enum relay_status relay_status_derive(bool revoked, bool has_bearer, int64_t last_seen_ms, int64_t now_ms,
				      long online_s, long stale_s)
{
	if (revoked)
		return RELAY_STATUS_REVOKED;
	if (!has_bearer)
		return RELAY_STATUS_NOT_REGISTERED;
	int64_t age = now_ms - last_seen_ms;
	if (age <= (int64_t)online_s * 1000)
		return RELAY_STATUS_ONLINE;
	if (age <= (int64_t)stale_s * 1000)
		return RELAY_STATUS_STALE;
	return RELAY_STATUS_OFFLINE;
}

static unsigned exec_bit(const char *name, size_t len)
{
	if (len == 6 && !strncmp(name, "claude", 6))
		return RELAY_EXEC_CLAUDE;
	if (len == 5 && !strncmp(name, "codex", 5))
		return RELAY_EXEC_CODEX;
	return 0;
}

int relay_exec_parse(const char *csv, unsigned *mask)
{
	unsigned m = 0;
	const char *p = csv;
	while (*p) {
		const char *e = strchr(p, ',');
		size_t n = e ? (size_t)(e - p) : strlen(p);
		while (n && *p == ' ')
			p++, n--;
		while (n && p[n - 1] == ' ')
			n--;
		if (n) {
			unsigned b = exec_bit(p, n);
			if (!b)
				return -EINVAL;
			m |= b;
		}
		if (!e)
			break;
		p = e + 1;
	}
	*mask = m;
	return 0;
}

unsigned relay_exec_from_json(const cJSON *arr)
{
	unsigned m = 0;
	const cJSON *it;
	if (!cJSON_IsArray(arr))
		return 0;
	cJSON_ArrayForEach(it, arr)
	{
		if (cJSON_IsString(it))
			m |= exec_bit(it->valuestring, strlen(it->valuestring));
	}
	return m;
}

cJSON *relay_exec_to_json(unsigned mask)
{
	cJSON *a = cJSON_CreateArray();
	if (mask & RELAY_EXEC_CLAUDE)
		cJSON_AddItemToArray(a, cJSON_CreateString("claude"));
	if (mask & RELAY_EXEC_CODEX)
		cJSON_AddItemToArray(a, cJSON_CreateString("codex"));
	return a;
}

static const char *exec_name(unsigned bit)
{
	return bit == RELAY_EXEC_CLAUDE ? "claude" : "codex";
}

/* ---- small SQLite helpers ---- */

__attribute__((format(printf, 3, 4))) static int fail(struct relay_store *st, int r, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(st->err, sizeof(st->err), fmt, ap);
	va_end(ap);
	return r;
}

static int db_fail(struct relay_store *st)
{
	int code = sqlite3_errcode(st->db);
	int r = code == SQLITE_BUSY || code == SQLITE_LOCKED ? -EAGAIN : -EIO;
	return fail(st, r, "database error: %s", sqlite3_errmsg(st->db));
}

static sqlite3_stmt *prep(struct relay_store *st, const char *sql)
{
	sqlite3_stmt *s = NULL;
	if (sqlite3_prepare_v2(st->db, sql, -1, &s, NULL) != SQLITE_OK) {
		db_fail(st);
		return NULL;
	}
	return s;
}

static void bind_text(sqlite3_stmt *s, int i, const char *v)
{
	if (v)
		sqlite3_bind_text(s, i, v, -1, SQLITE_TRANSIENT);
	else
		sqlite3_bind_null(s, i);
}

static int exec_sql(struct relay_store *st, const char *sql)
{
	if (sqlite3_exec(st->db, sql, NULL, NULL, NULL) != SQLITE_OK)
		return db_fail(st);
	return 0;
}

static int begin(struct relay_store *st) { return exec_sql(st, "BEGIN IMMEDIATE"); }
static int commit(struct relay_store *st) { return exec_sql(st, "COMMIT"); }
static void rollback(struct relay_store *st)
{
	if (!sqlite3_get_autocommit(st->db))
		sqlite3_exec(st->db, "ROLLBACK", NULL, NULL, NULL);
}

/* Runs a statement with text parameters; returns changes or a negative errno. */
static int run(struct relay_store *st, const char *sql, int n, ...)
{
	sqlite3_stmt *s = prep(st, sql);
	if (!s)
		return -EIO;
	va_list ap;
	va_start(ap, n);
	for (int i = 1; i <= n; i++)
		bind_text(s, i, va_arg(ap, const char *));
	va_end(ap);
	int rc = sqlite3_step(s);
	sqlite3_finalize(s);
	if (rc != SQLITE_DONE && rc != SQLITE_ROW)
		return db_fail(st);
	return sqlite3_changes(st->db);
}

static char *col_strdup(sqlite3_stmt *s, int i)
{
	const unsigned char *v = sqlite3_column_text(s, i);
	return v ? dr_xstrdup((const char *)v) : NULL;
}

static void add_time(cJSON *o, const char *key, sqlite3_stmt *s, int i)
{
	if (sqlite3_column_type(s, i) == SQLITE_NULL) {
		cJSON_AddNullToObject(o, key);
		return;
	}
	char iso[32];
	relay_clock_iso(sqlite3_column_int64(s, i), iso, sizeof(iso));
	cJSON_AddStringToObject(o, key, iso);
}

static void add_col_str(cJSON *o, const char *key, sqlite3_stmt *s, int i)
{
	dr_json_add_str_or_null(o, key, (const char *)sqlite3_column_text(s, i));
}

/* Adds the JSON stored in column i, or null. */
static void add_col_json(cJSON *o, const char *key, sqlite3_stmt *s, int i)
{
	const char *v = (const char *)sqlite3_column_text(s, i);
	cJSON *j = v ? cJSON_Parse(v) : NULL;
	cJSON_AddItemToObject(o, key, j ? j : cJSON_CreateNull());
}

static char *meta_get(struct relay_store *st, const char *key)
{
	sqlite3_stmt *s = prep(st, "SELECT value FROM meta WHERE key = ?1");
	if (!s)
		return NULL;
	bind_text(s, 1, key);
	char *v = sqlite3_step(s) == SQLITE_ROW ? col_strdup(s, 0) : NULL;
	sqlite3_finalize(s);
	return v;
}

static int meta_set(struct relay_store *st, const char *key, const char *value)
{
	int r = run(st, "INSERT INTO meta(key, value) VALUES(?1, ?2) ON CONFLICT(key) DO UPDATE SET value = ?2",
		    2, key, value);
	return r < 0 ? r : 0;
}

/* Reads a secret from meta, minting it once (INSERT OR IGNORE keeps the first writer's). */
static char *meta_secret(struct relay_store *st, const char *key, char *fresh)
{
	run(st, "INSERT OR IGNORE INTO meta(key, value) VALUES(?1, ?2)", 2, key, fresh);
	free(fresh);
	return meta_get(st, key);
}

/* ---- open / close ---- */

static int mkdir_parents(const char *path)
{
	char *dir = dr_xstrdup(path);
	char *slash = strrchr(dir, '/');
	int r = 0;
	if (slash && slash != dir) {
		*slash = '\0';
		for (char *p = dir + 1; *p; p++) {
			if (*p != '/')
				continue;
			*p = '\0';
			if (mkdir(dir, 0700) < 0 && errno != EEXIST)
				r = -errno;
			*p = '/';
		}
		if (!r && mkdir(dir, 0700) < 0 && errno != EEXIST)
			r = -errno;
	}
	free(dir);
	return r;
}

int relay_store_open(const char *path, struct relay_store **out, char *err, size_t errlen)
{
	struct relay_store *st = dr_xcalloc(1, sizeof(*st));
	int r = mkdir_parents(path);
	if (r < 0) {
		snprintf(err, errlen, "cannot create the directory of database '%s': %s", path, strerror(-r));
		free(st);
		return r;
	}
	if (sqlite3_open_v2(path, &st->db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_FULLMUTEX,
			    NULL) != SQLITE_OK) {
		snprintf(err, errlen, "cannot open database '%s': %s", path,
			 st->db ? sqlite3_errmsg(st->db) : "out of memory");
		relay_store_close(st);
		return -EIO;
	}
	chmod(path, 0600);
	sqlite3_busy_timeout(st->db, BUSY_TIMEOUT_MS);
	if ((r = exec_sql(st, "PRAGMA journal_mode=WAL")) < 0 || (r = exec_sql(st, "PRAGMA synchronous=NORMAL")) < 0 ||
	    (r = exec_sql(st, "PRAGMA foreign_keys=ON")) < 0 || (r = begin(st)) < 0 ||
	    (r = exec_sql(st, schema)) < 0)
		goto fail;
	char uuid[37];
	relay_uuid(uuid);
	st->account_id = meta_secret(st, "account_id", dr_xstrdup(uuid));
	st->admin_token = meta_secret(st, "admin_token", relay_token_new("dra_"));
	st->jwt_key = meta_secret(st, "jwt_key", relay_token_new(""));
	if ((r = commit(st)) < 0)
		goto fail;
	if (!st->account_id || !st->admin_token || !st->jwt_key) {
		r = fail(st, -EIO, "database '%s' lacks its secrets", path);
		goto fail;
	}
	st->online_s = RELAY_ONLINE_SECONDS_DEFAULT;
	st->stale_s = RELAY_STALE_SECONDS_DEFAULT;
	char *on = meta_get(st, "online_seconds"), *sl = meta_get(st, "stale_seconds");
	long v;
	if (on && relay_parse_long(on, 1, LONG_MAX / 1000, &v) == 0)
		st->online_s = v;
	if (sl && relay_parse_long(sl, 1, LONG_MAX / 1000, &v) == 0)
		st->stale_s = v;
	free(on);
	free(sl);
	*out = st;
	return 0;
fail:
	snprintf(err, errlen, "cannot initialise database '%s': %s", path, st->err);
	rollback(st);
	relay_store_close(st);
	return r;
}

void relay_store_close(struct relay_store *st)
{
	if (!st)
		return;
	sqlite3_close(st->db);
	free(st->admin_token);
	free(st->account_id);
	free(st->jwt_key);
	free(st);
}

const char *relay_store_error(const struct relay_store *st) { return st->err; }
const char *relay_store_admin_token(const struct relay_store *st) { return st->admin_token; }
const char *relay_store_account_id(const struct relay_store *st) { return st->account_id; }
const char *relay_store_jwt_key(const struct relay_store *st) { return st->jwt_key; }

int relay_store_set_thresholds(struct relay_store *st, long online_s, long stale_s, bool persist)
{
	if (online_s < 1 || stale_s < online_s)
		return fail(st, -EINVAL, "status thresholds must satisfy 1 <= online (%ld) <= stale (%ld)",
			    online_s, stale_s);
	st->online_s = online_s;
	st->stale_s = stale_s;
	if (!persist)
		return 0;
	char a[32], b[32];
	snprintf(a, sizeof(a), "%ld", online_s);
	snprintf(b, sizeof(b), "%ld", stale_s);
	int r = meta_set(st, "online_seconds", a);
	return r < 0 ? r : meta_set(st, "stale_seconds", b);
}

void relay_store_thresholds(const struct relay_store *st, long *online_s, long *stale_s)
{
	*online_s = st->online_s;
	*stale_s = st->stale_s;
}

int relay_store_set_public_url(struct relay_store *st, const char *url) { return meta_set(st, "public_url", url); }
char *relay_store_public_url(struct relay_store *st) { return meta_get(st, "public_url"); }

int64_t relay_store_data_version(struct relay_store *st)
{
	sqlite3_stmt *s = prep(st, "PRAGMA data_version");
	int64_t v = -1;
	if (s && sqlite3_step(s) == SQLITE_ROW)
		v = sqlite3_column_int64(s, 0);
	sqlite3_finalize(s);
	/* data_version only moves for other connections' commits; add ours. */
	return v * 1000003 + sqlite3_total_changes(st->db);
}

/* ---- runners and pairing ---- */

void relay_pairing_release(struct relay_pairing *p)
{
	free(p->token);
	p->token = NULL;
}

static int mint_token(struct relay_store *st, const char *runner_id, int64_t now, struct relay_pairing *out)
{
	char *tok = relay_token_new(RELAY_PAIR_PREFIX);
	char hash[RELAY_SHA256_HEX_LEN + 1];
	relay_sha256_hex(tok, hash);
	sqlite3_stmt *s = prep(st, "INSERT INTO pairing_tokens(token_hash, runner_id, created_at, expires_at) "
				   "VALUES(?1, ?2, ?3, ?4)");
	if (!s) {
		free(tok);
		return -EIO;
	}
	bind_text(s, 1, hash);
	bind_text(s, 2, runner_id);
	sqlite3_bind_int64(s, 3, now);
	sqlite3_bind_int64(s, 4, now + RELAY_PAIR_TTL_MS);
	int rc = sqlite3_step(s);
	sqlite3_finalize(s);
	if (rc != SQLITE_DONE) {
		free(tok);
		return db_fail(st);
	}
	out->token = tok;
	snprintf(out->runner_id, sizeof(out->runner_id), "%s", runner_id);
	out->expires_at = now + RELAY_PAIR_TTL_MS;
	return 0;
}

static int check_name(struct relay_store *st, const char *name)
{
	if (strlen(name) > RELAY_NAME_MAX)
		return fail(st, -EINVAL, "the display name is longer than %d characters; shorten it", RELAY_NAME_MAX);
	for (const unsigned char *p = (const unsigned char *)name; *p; p++)
		if (*p < 0x20 || *p == 0x7f)
			return fail(st, -EINVAL, "the display name contains control characters; use plain text");
	return 0;
}

int relay_store_pair_token(struct relay_store *st, const char *name, unsigned exec_mask, int64_t now,
			   struct relay_pairing *out)
{
	char id[37], fallback[64];
	int r;
	if (name && *name && (r = check_name(st, name)) < 0)
		return r;
	relay_uuid(id);
	if (!name || !*name) {
		snprintf(fallback, sizeof(fallback), "Runner %.8s", id);
		name = fallback;
	}
	if ((r = begin(st)) < 0)
		return r;
	sqlite3_stmt *s = prep(st, "INSERT INTO runners(id, name, exec_mask, created_at) VALUES(?1, ?2, ?3, ?4)");
	if (!s) {
		r = -EIO;
		goto out;
	}
	bind_text(s, 1, id);
	bind_text(s, 2, name);
	sqlite3_bind_int(s, 3, (int)(exec_mask & RELAY_EXEC_ALL));
	sqlite3_bind_int64(s, 4, now);
	int rc = sqlite3_step(s);
	sqlite3_finalize(s);
	if (rc != SQLITE_DONE) {
		r = db_fail(st);
		goto out;
	}
	if ((r = mint_token(st, id, now, out)) < 0)
		goto out;
	r = commit(st);
	if (r < 0)
		relay_pairing_release(out);
out:
	if (r < 0)
		rollback(st);
	return r;
}

/* Fails the running and parked jobs a runner can no longer report on. */
static int fail_held_jobs(struct relay_store *st, const char *runner_id, const char *why, bool parked, int64_t now)
{
	sqlite3_stmt *s = prep(st, parked ? "SELECT id FROM jobs WHERE runner_id = ?1 AND status IN ('running', 'awaiting_input')"
					  : "SELECT id FROM jobs WHERE runner_id = ?1 AND status = 'running'");
	if (!s)
		return -EIO;
	bind_text(s, 1, runner_id);
	char **ids = NULL;
	while (sqlite3_step(s) == SQLITE_ROW)
		dr_strv_push(&ids, (const char *)sqlite3_column_text(s, 0));
	sqlite3_finalize(s);
	int r = 0;
	for (size_t i = 0; ids && ids[i] && r >= 0; i++) {
		sqlite3_stmt *u = prep(st, "UPDATE jobs SET status = 'failed', summary = ?2, finished_at = ?3, "
					   "updated_at = ?3, cancellation_requested = 1 WHERE id = ?1");
		sqlite3_stmt *e = prep(st, "INSERT INTO events(job_id, runner_id, kind, summary, created_at) "
					   "VALUES(?1, ?2, 'fail', ?3, ?4)");
		if (!u || !e) {
			sqlite3_finalize(u);
			sqlite3_finalize(e);
			r = -EIO;
			break;
		}
		bind_text(u, 1, ids[i]);
		bind_text(u, 2, why);
		sqlite3_bind_int64(u, 3, now);
		bind_text(e, 1, ids[i]);
		bind_text(e, 2, runner_id);
		bind_text(e, 3, why);
		sqlite3_bind_int64(e, 4, now);
		if (sqlite3_step(u) != SQLITE_DONE || sqlite3_step(e) != SQLITE_DONE)
			r = db_fail(st);
		sqlite3_finalize(u);
		sqlite3_finalize(e);
	}
	/* A job parked for this runner's worktree cannot resume elsewhere. */
	if (r >= 0 && parked)
		r = run(st, "UPDATE jobs SET pinned_runner_id = NULL WHERE pinned_runner_id = ?1", 1, runner_id);
	dr_strv_free(ids);
	return r < 0 ? r : 0;
}

static int runner_exists(struct relay_store *st, const char *runner_id, bool *revoked)
{
	sqlite3_stmt *s = prep(st, "SELECT revoked_at IS NOT NULL FROM runners WHERE id = ?1 AND removed_at IS NULL");
	if (!s)
		return -EIO;
	bind_text(s, 1, runner_id);
	int rc = sqlite3_step(s);
	if (rc == SQLITE_ROW && revoked)
		*revoked = sqlite3_column_int(s, 0);
	sqlite3_finalize(s);
	if (rc == SQLITE_ROW)
		return 0;
	if (rc == SQLITE_DONE)
		return fail(st, -ENOENT, "no runner '%s' on this relay; list them with `delego-relay runners`",
			    runner_id);
	return db_fail(st);
}

int relay_store_rotate(struct relay_store *st, const char *runner_id, int64_t now, struct relay_pairing *out)
{
	int r = begin(st);
	if (r < 0)
		return r;
	bool revoked = false;
	if ((r = runner_exists(st, runner_id, &revoked)) < 0)
		goto out;
	if (revoked) {
		r = fail(st, -EINVAL, "runner '%s' revoked itself; remove it and pair a new one", runner_id);
		goto out;
	}
	char nowbuf[32];
	snprintf(nowbuf, sizeof(nowbuf), "%lld", (long long)now);
	if ((r = run(st, "UPDATE runners SET bearer_hash = NULL, active_job_id = NULL WHERE id = ?1", 1,
		     runner_id)) < 0 ||
	    (r = run(st, "UPDATE pairing_tokens SET used_at = ?2 WHERE runner_id = ?1 AND used_at IS NULL", 2,
		     runner_id, nowbuf)) < 0 ||
	    (r = fail_held_jobs(st, runner_id, "The runner's credential was rotated while it held this job.", false, now)) < 0 ||
	    (r = mint_token(st, runner_id, now, out)) < 0)
		goto out;
	r = commit(st);
	if (r < 0)
		relay_pairing_release(out);
out:
	if (r < 0)
		rollback(st);
	return r;
}

/* The runner object for answers and lists, from a row of RUNNER_COLS. */
#define RUNNER_COLS                                                                                         \
	"id, name, exec_mask, reported_mask, bearer_hash IS NOT NULL, version, created_at, paired_at,"      \
	" last_heartbeat_at, active_job_id, revoked_at, restart_requested_at"

static cJSON *runner_json(struct relay_store *st, sqlite3_stmt *s, int64_t now)
{
	cJSON *o = cJSON_CreateObject();
	unsigned cfg = (unsigned)sqlite3_column_int(s, 2), rep = (unsigned)sqlite3_column_int(s, 3);
	bool has_bearer = sqlite3_column_int(s, 4);
	bool revoked = sqlite3_column_type(s, 10) != SQLITE_NULL;
	int64_t seen = sqlite3_column_type(s, 8) != SQLITE_NULL ? sqlite3_column_int64(s, 8)
								 : sqlite3_column_int64(s, 7);
	enum relay_status status = relay_status_derive(revoked, has_bearer, seen, now, st->online_s, st->stale_s);
	unsigned eff = cfg ? cfg : RELAY_EXEC_ALL;
	if (rep)
		eff &= rep;
	add_col_str(o, "id", s, 0);
	add_col_str(o, "name", s, 1);
	cJSON_AddStringToObject(o, "status", relay_status_name(status));
	cJSON_AddStringToObject(o, "statusLabel", relay_status_label(status));
	add_time(o, "lastHeartbeatAt", s, 8);
	add_col_str(o, "version", s, 5);
	cJSON_AddItemToObject(o, "executors", relay_exec_to_json(eff));
	cJSON_AddItemToObject(o, "configuredExecutors", relay_exec_to_json(cfg ? cfg : RELAY_EXEC_ALL));
	if (rep)
		cJSON_AddItemToObject(o, "supportedExecutors", relay_exec_to_json(rep));
	else
		cJSON_AddNullToObject(o, "supportedExecutors");
	add_col_str(o, "activeJobId", s, 9);
	add_time(o, "createdAt", s, 6);
	add_time(o, "pairedAt", s, 7);
	add_time(o, "revokedAt", s, 10);
	cJSON_AddBoolToObject(o, "restartRequested", sqlite3_column_type(s, 11) != SQLITE_NULL);
	return o;
}

static int runner_by_id(struct relay_store *st, const char *id, int64_t now, cJSON **out)
{
	sqlite3_stmt *s = prep(st, "SELECT " RUNNER_COLS " FROM runners WHERE id = ?1");
	if (!s)
		return -EIO;
	bind_text(s, 1, id);
	int rc = sqlite3_step(s);
	if (rc == SQLITE_ROW)
		*out = runner_json(st, s, now);
	sqlite3_finalize(s);
	if (rc == SQLITE_ROW)
		return 0;
	return rc == SQLITE_DONE ? fail(st, -ENOENT, "no runner '%s'", id) : db_fail(st);
}

int relay_store_register(struct relay_store *st, const char *pairing_token, const char *version,
			 unsigned reported_mask, int64_t now, cJSON **runner, char **bearer)
{
	char hash[RELAY_SHA256_HEX_LEN + 1];
	relay_sha256_hex(pairing_token, hash);
	int r = begin(st);
	if (r < 0)
		return r;
	sqlite3_stmt *s = prep(st, "SELECT t.runner_id, t.expires_at, t.used_at IS NOT NULL, "
				   "r.revoked_at IS NOT NULL OR r.removed_at IS NOT NULL "
				   "FROM pairing_tokens t JOIN runners r ON r.id = t.runner_id WHERE t.token_hash = ?1");
	if (!s) {
		r = -EIO;
		goto out;
	}
	bind_text(s, 1, hash);
	char runner_id[37] = "";
	int rc = sqlite3_step(s);
	if (rc == SQLITE_ROW) {
		bool expired = sqlite3_column_int64(s, 1) <= now, used = sqlite3_column_int(s, 2),
		     dead = sqlite3_column_int(s, 3);
		if (used)
			r = fail(st, -EACCES, "this pairing token was already used; mint a new one in the Runners panel or with `delego-relay pair-token`");
		else if (expired)
			r = fail(st, -EACCES, "this pairing token expired (tokens last 15 minutes); mint a new one in the Runners panel or with `delego-relay pair-token`");
		else if (dead)
			r = fail(st, -EACCES, "the runner this token was minted for was removed; mint a new pairing token");
		else
			snprintf(runner_id, sizeof(runner_id), "%s", (const char *)sqlite3_column_text(s, 0));
	} else if (rc == SQLITE_DONE) {
		r = fail(st, -EACCES, "unknown pairing token; copy the whole command from the Runners panel or mint a new token with `delego-relay pair-token`");
	} else {
		r = db_fail(st);
	}
	sqlite3_finalize(s);
	if (r < 0)
		goto out;
	char *tok = relay_token_new(RELAY_BEARER_PREFIX);
	char bhash[RELAY_SHA256_HEX_LEN + 1], nowbuf[32], maskbuf[8];
	relay_sha256_hex(tok, bhash);
	snprintf(nowbuf, sizeof(nowbuf), "%lld", (long long)now);
	snprintf(maskbuf, sizeof(maskbuf), "%u", reported_mask & RELAY_EXEC_ALL);
	if ((r = run(st, "UPDATE pairing_tokens SET used_at = ?2 WHERE token_hash = ?1", 2, hash, nowbuf)) < 0 ||
	    (r = run(st, "UPDATE runners SET bearer_hash = ?2, paired_at = ?3, version = ?4, reported_mask = ?5, "
			 "last_heartbeat_at = NULL, active_job_id = NULL WHERE id = ?1",
		     5, runner_id, bhash, nowbuf, version, maskbuf)) < 0 ||
	    (r = runner_by_id(st, runner_id, now, runner)) < 0 || (r = commit(st)) < 0) {
		free(tok);
		goto out;
	}
	*bearer = tok;
out:
	if (r < 0)
		rollback(st);
	return r;
}

int relay_store_auth(struct relay_store *st, const char *bearer, struct relay_auth *out)
{
	if (!bearer || !*bearer)
		return fail(st, -EACCES, "missing bearer; pair this runner first");
	char hash[RELAY_SHA256_HEX_LEN + 1];
	relay_sha256_hex(bearer, hash);
	sqlite3_stmt *s = prep(st, "SELECT id, exec_mask, reported_mask, paired_at FROM runners WHERE bearer_hash = ?1 "
				   "AND revoked_at IS NULL AND removed_at IS NULL");
	if (!s)
		return -EIO;
	bind_text(s, 1, hash);
	int rc = sqlite3_step(s);
	if (rc == SQLITE_ROW) {
		snprintf(out->runner_id, sizeof(out->runner_id), "%s", (const char *)sqlite3_column_text(s, 0));
		unsigned cfg = (unsigned)sqlite3_column_int(s, 1);
		out->exec_mask = cfg ? cfg : RELAY_EXEC_ALL;
		out->reported_mask = (unsigned)sqlite3_column_int(s, 2);
		out->paired_at = sqlite3_column_int64(s, 3);
	}
	sqlite3_finalize(s);
	if (rc == SQLITE_ROW)
		return 0;
	if (rc == SQLITE_DONE)
		return fail(st, -EACCES, "runner credential is not valid (rotated, removed or unknown); re-pair the runner");
	return db_fail(st);
}

int relay_store_runner_live(struct relay_store *st, const char *runner_id, int64_t paired_at)
{
	sqlite3_stmt *s = prep(st, "SELECT 1 FROM runners WHERE id = ?1 AND paired_at = ?2 AND bearer_hash IS NOT NULL "
				   "AND revoked_at IS NULL AND removed_at IS NULL");
	if (!s)
		return -EIO;
	bind_text(s, 1, runner_id);
	sqlite3_bind_int64(s, 2, paired_at);
	int rc = sqlite3_step(s);
	sqlite3_finalize(s);
	if (rc == SQLITE_ROW)
		return 0;
	if (rc == SQLITE_DONE)
		return fail(st, -EACCES, "runner '%s' was removed, revoked or rotated", runner_id);
	return db_fail(st);
}

int relay_store_heartbeat(struct relay_store *st, const char *runner_id, const char *version,
			  unsigned reported_mask, const char *active_job_id, bool deliver_restart, int64_t now,
			  bool *restart, cJSON **answer)
{
	int r = begin(st);
	if (r < 0)
		return r;
	*restart = false;
	sqlite3_stmt *s = prep(st, "UPDATE runners SET last_heartbeat_at = ?2, version = coalesce(?3, version), "
				   "reported_mask = CASE WHEN ?4 > 0 THEN ?4 ELSE reported_mask END, "
				   "active_job_id = ?5 WHERE id = ?1");
	if (!s) {
		r = -EIO;
		goto out;
	}
	bind_text(s, 1, runner_id);
	sqlite3_bind_int64(s, 2, now);
	bind_text(s, 3, version);
	sqlite3_bind_int(s, 4, (int)(reported_mask & RELAY_EXEC_ALL));
	bind_text(s, 5, active_job_id);
	int rc = sqlite3_step(s);
	sqlite3_finalize(s);
	if (rc != SQLITE_DONE) {
		r = db_fail(st);
		goto out;
	}
	/* Only an idle steady-state beat may consume the request (PROTOCOL.md 2). */
	if (deliver_restart && !active_job_id) {
		r = run(st, "UPDATE runners SET restart_requested_at = NULL WHERE id = ?1 AND restart_requested_at IS NOT NULL",
			1, runner_id);
		if (r < 0)
			goto out;
		*restart = r > 0;
	}
	cJSON *full = NULL;
	if ((r = runner_by_id(st, runner_id, now, &full)) < 0)
		goto out;
	if ((r = commit(st)) < 0) {
		cJSON_Delete(full);
		goto out;
	}
	cJSON *a = cJSON_CreateObject();
	cJSON_AddItemToObject(a, "id", cJSON_DetachItemFromObject(full, "id"));
	cJSON_AddItemToObject(a, "status", cJSON_DetachItemFromObject(full, "status"));
	cJSON_AddItemToObject(a, "lastHeartbeatAt", cJSON_DetachItemFromObject(full, "lastHeartbeatAt"));
	cJSON_Delete(full);
	*answer = a;
out:
	if (r < 0)
		rollback(st);
	return r;
}

/* ---- jobs ---- */

static const char *default_executor(struct relay_store *st, char *buf, size_t len)
{
	char *v = meta_get(st, "default_executor");
	snprintf(buf, len, "%s", v && (!strcmp(v, "claude") || !strcmp(v, "codex")) ? v : "codex");
	free(v);
	return buf;
}

/* The queued-job query: oldest first, pinned jobs only for their runner. */
static sqlite3_stmt *claim_query(struct relay_store *st, const struct relay_auth *auth, unsigned mask)
{
	char def[16];
	sqlite3_stmt *s = prep(st, "SELECT seq, id, executor, raw, body FROM jobs WHERE status = 'queued' "
				   "AND (pinned_runner_id IS NULL OR pinned_runner_id = ?1) "
				   "AND ((coalesce(executor, ?2) = 'claude' AND ?3) OR (coalesce(executor, ?2) = 'codex' AND ?4)) "
				   "ORDER BY seq LIMIT 1");
	if (!s)
		return NULL;
	bind_text(s, 1, auth->runner_id);
	bind_text(s, 2, default_executor(st, def, sizeof(def)));
	sqlite3_bind_int(s, 3, (mask & RELAY_EXEC_CLAUDE) != 0);
	sqlite3_bind_int(s, 4, (mask & RELAY_EXEC_CODEX) != 0);
	return s;
}

static unsigned claim_mask(const struct relay_auth *auth, unsigned supported)
{
	unsigned m = supported ? supported : auth->reported_mask ? auth->reported_mask : RELAY_EXEC_ALL;
	return m & auth->exec_mask;
}

bool relay_store_claimable(struct relay_store *st, const struct relay_auth *auth, unsigned supported)
{
	sqlite3_stmt *s = claim_query(st, auth, claim_mask(auth, supported));
	bool yes = s && sqlite3_step(s) == SQLITE_ROW;
	sqlite3_finalize(s);
	return yes;
}

static const char *const job_fields[] = {
	"id", "organizationId", "agentSessionId", "attemptId", "repositorySlug", "executionPreferences",
	"requestPayload", "publishingPolicy", "linearIssue", "promptSummary", "promptContext", "resumeContext",
};

/* The job object handed to a runner: section 3's fields in order. */
static cJSON *job_for_runner(const char *id, bool raw, const char *body_text, const char *attempt,
			     const char *effective_exec)
{
	cJSON *body = cJSON_Parse(body_text);
	if (!body)
		body = cJSON_CreateObject();
	if (raw) {
		/* Raw jobs go out as stored, hostile fields and all. */
		if (!cJSON_GetObjectItemCaseSensitive(body, "id"))
			cJSON_AddStringToObject(body, "id", id);
		if (!cJSON_GetObjectItemCaseSensitive(body, "attemptId"))
			cJSON_AddStringToObject(body, "attemptId", attempt);
		return body;
	}
	cJSON *job = cJSON_CreateObject();
	for (size_t i = 0; i < sizeof(job_fields) / sizeof(job_fields[0]); i++) {
		const char *k = job_fields[i];
		if (!strcmp(k, "id"))
			cJSON_AddStringToObject(job, k, id);
		else if (!strcmp(k, "attemptId"))
			cJSON_AddStringToObject(job, k, attempt);
		else {
			cJSON *v = cJSON_DetachItemFromObjectCaseSensitive(body, k);
			cJSON_AddItemToObject(job, k, v ? v : cJSON_CreateNull());
		}
	}
	cJSON *prefs = cJSON_GetObjectItemCaseSensitive(job, "executionPreferences");
	if (cJSON_IsObject(prefs) && !dr_json_nonempty(prefs, "executor")) {
		cJSON_DeleteItemFromObjectCaseSensitive(prefs, "executor");
		cJSON_AddStringToObject(prefs, "executor", effective_exec);
	}
	cJSON_Delete(body);
	return job;
}

static int add_event(struct relay_store *st, const char *job_id, const char *runner_id, const char *kind,
		     const char *event_id, const char *summary, const cJSON *metadata, int64_t now)
{
	sqlite3_stmt *s = prep(st, "INSERT INTO events(job_id, runner_id, kind, event_id, summary, metadata, created_at) "
				   "VALUES(?1, ?2, ?3, ?4, ?5, ?6, ?7)");
	if (!s)
		return -EIO;
	char *meta = metadata ? dr_json_print(metadata) : NULL;
	bind_text(s, 1, job_id);
	bind_text(s, 2, runner_id);
	bind_text(s, 3, kind);
	bind_text(s, 4, event_id);
	bind_text(s, 5, summary);
	bind_text(s, 6, meta);
	sqlite3_bind_int64(s, 7, now);
	int rc = sqlite3_step(s);
	sqlite3_finalize(s);
	free(meta);
	return rc == SQLITE_DONE ? 0 : db_fail(st);
}

int relay_store_claim(struct relay_store *st, const struct relay_auth *auth, unsigned supported, int64_t now,
		      cJSON **job, const char **reason)
{
	unsigned mask = claim_mask(auth, supported);
	*job = NULL;
	*reason = NULL;
	if (!mask) {
		*reason = "none of this runner's executors is allowed for it";
		return 0;
	}
	int r = begin(st);
	if (r < 0)
		return r;
	sqlite3_stmt *s = claim_query(st, auth, mask);
	if (!s) {
		r = -EIO;
		goto out;
	}
	int rc = sqlite3_step(s);
	if (rc == SQLITE_DONE) {
		sqlite3_finalize(s);
		*reason = "no queued job for this runner's executors";
		r = commit(st);
		goto out;
	}
	if (rc != SQLITE_ROW) {
		sqlite3_finalize(s);
		r = db_fail(st);
		goto out;
	}
	char *id = col_strdup(s, 1), *exec = col_strdup(s, 2), *body = col_strdup(s, 4);
	bool raw = sqlite3_column_int(s, 3);
	sqlite3_finalize(s);
	char attempt[37], def[16];
	relay_uuid(attempt);
	const char *eff = exec && (!strcmp(exec, "claude") || !strcmp(exec, "codex")) ? exec
										   : default_executor(st, def, sizeof(def));
	s = prep(st, "UPDATE jobs SET status = 'running', runner_id = ?2, attempt_id = ?3, claimed_at = ?4, "
		     "updated_at = ?4, finished_at = NULL WHERE id = ?1 AND status = 'queued'");
	if (s) {
		bind_text(s, 1, id);
		bind_text(s, 2, auth->runner_id);
		bind_text(s, 3, attempt);
		sqlite3_bind_int64(s, 4, now);
		rc = sqlite3_step(s);
		sqlite3_finalize(s);
		r = rc == SQLITE_DONE ? 0 : db_fail(st);
	} else {
		r = -EIO;
	}
	if (r == 0) {
		cJSON *meta = cJSON_CreateObject();
		cJSON_AddStringToObject(meta, "attemptId", attempt);
		cJSON_AddStringToObject(meta, "runnerId", auth->runner_id);
		cJSON_AddStringToObject(meta, "executor", eff);
		r = add_event(st, id, auth->runner_id, "claim", NULL, "Claimed by a runner.", meta, now);
		cJSON_Delete(meta);
	}
	if (r == 0 && (r = commit(st)) == 0)
		*job = job_for_runner(id, raw, body, attempt, eff);
	free(id);
	free(exec);
	free(body);
out:
	if (r < 0)
		rollback(st);
	return r;
}

/* The holder and status of a job; -ENOENT when unknown. Strings owned. */
static int job_state(struct relay_store *st, const char *job_id, char **runner_id, char **status)
{
	sqlite3_stmt *s = prep(st, "SELECT runner_id, status FROM jobs WHERE id = ?1");
	if (!s)
		return -EIO;
	bind_text(s, 1, job_id);
	int rc = sqlite3_step(s);
	if (rc == SQLITE_ROW) {
		*runner_id = col_strdup(s, 0);
		*status = col_strdup(s, 1);
	}
	sqlite3_finalize(s);
	if (rc == SQLITE_ROW)
		return 0;
	return rc == SQLITE_DONE ? fail(st, -ENOENT, "no job '%s' on this relay", job_id) : db_fail(st);
}

static bool event_seen(struct relay_store *st, const char *job_id, const char *event_id)
{
	sqlite3_stmt *s = prep(st, "SELECT 1 FROM events WHERE job_id = ?1 AND event_id = ?2");
	bool seen = false;
	if (s) {
		bind_text(s, 1, job_id);
		bind_text(s, 2, event_id);
		seen = sqlite3_step(s) == SQLITE_ROW;
	}
	sqlite3_finalize(s);
	return seen;
}

static const char *const report_kinds[] = { "progress", "complete", "fail", "await" };

int relay_store_report(struct relay_store *st, const char *runner_id, enum relay_report kind,
		       const cJSON *body, int64_t now, bool *duplicate)
{
	const char *job_id = dr_json_nonempty(body, "jobId");
	const char *event_id = dr_json_nonempty(body, "eventId");
	*duplicate = false;
	if (!job_id)
		return fail(st, -EINVAL, "the report has no jobId");
	if (event_id && strlen(event_id) > EVENT_ID_MAX)
		return fail(st, -EINVAL, "eventId is longer than %d characters", EVENT_ID_MAX);
	char *holder = NULL, *status = NULL;
	cJSON *await_info = NULL;
	int r = begin(st);
	if (r < 0)
		return r;
	if ((r = job_state(st, job_id, &holder, &status)) < 0)
		goto out;
	if (event_id && event_seen(st, job_id, event_id)) {
		*duplicate = true;
		r = commit(st);
		goto out;
	}
	if (!holder || strcmp(holder, runner_id) != 0) {
		r = fail(st, -EBUSY, "job '%s' is not held by this runner (it was reassigned or never claimed)", job_id);
		goto out;
	}
	const char *summary = dr_json_str(body, "summary");
	const cJSON *metadata = cJSON_GetObjectItemCaseSensitive(body, "metadata");
	const char *next = NULL;
	bool cancelled = !strcmp(status, "cancelled");
	bool running = !strcmp(status, "running");
	switch (kind) {
	case RELAY_REPORT_PROGRESS:
		break;
	case RELAY_REPORT_COMPLETE:
		if (!running && !cancelled)
			r = fail(st, -EBUSY, "job '%s' is %s, not running; a second completion is refused", job_id, status);
		next = running ? "completed" : NULL;
		break;
	case RELAY_REPORT_FAIL:
		if (!running && !cancelled)
			r = fail(st, -EBUSY, "job '%s' is %s, not running; a failure report is refused", job_id, status);
		next = running ? (dr_json_true(body, "cancelled") ? "cancelled" : "failed") : NULL;
		break;
	case RELAY_REPORT_AWAIT:
		if (!running)
			r = fail(st, -EBUSY, "job '%s' is %s, not running; it cannot wait for input", job_id, status);
		next = "awaiting_input";
		await_info = cJSON_CreateObject();
		static const char *const keys[] = { "sessionId", "question", "worktreePath", "branchName", "attemptId" };
		for (size_t i = 0; i < 5; i++) {
			const cJSON *v = cJSON_GetObjectItemCaseSensitive(body, keys[i]);
			cJSON_AddItemToObject(await_info, keys[i], v ? cJSON_Duplicate(v, 1) : cJSON_CreateNull());
		}
		metadata = await_info;
		{
			const cJSON *q = dr_json_obj(body, "question");
			const char *qs = q ? dr_json_str(q, "question") : dr_json_str(body, "question");
			summary = qs ? qs : "The agent asked a question.";
		}
		break;
	}
	if (r < 0)
		goto out;
	if ((r = add_event(st, job_id, runner_id, report_kinds[kind], event_id, summary, metadata, now)) < 0)
		goto out;
	if (next) {
		sqlite3_stmt *s = prep(st, "UPDATE jobs SET status = ?2, summary = ?3, metadata = ?4, await_info = ?5, "
					   "updated_at = ?6, finished_at = CASE WHEN ?2 = 'awaiting_input' THEN NULL ELSE ?6 END "
					   "WHERE id = ?1");
		if (!s) {
			r = -EIO;
			goto out;
		}
		char *meta = metadata && kind != RELAY_REPORT_AWAIT ? dr_json_print(metadata) : NULL;
		char *aw = await_info ? dr_json_print(await_info) : NULL;
		bind_text(s, 1, job_id);
		bind_text(s, 2, next);
		bind_text(s, 3, summary);
		bind_text(s, 4, meta);
		bind_text(s, 5, aw);
		sqlite3_bind_int64(s, 6, now);
		int rc = sqlite3_step(s);
		sqlite3_finalize(s);
		free(meta);
		free(aw);
		if (rc != SQLITE_DONE) {
			r = db_fail(st);
			goto out;
		}
	} else {
		char nowbuf[32];
		snprintf(nowbuf, sizeof(nowbuf), "%lld", (long long)now);
		if ((r = run(st, "UPDATE jobs SET updated_at = ?2 WHERE id = ?1", 2, job_id, nowbuf)) < 0)
			goto out;
	}
	r = commit(st);
out:
	cJSON_Delete(await_info);
	free(holder);
	free(status);
	if (r < 0)
		rollback(st);
	return r < 0 ? r : 0;
}

int relay_store_cancel_requested(struct relay_store *st, const char *runner_id, const char *job_id, bool *cancel)
{
	sqlite3_stmt *s = prep(st, "SELECT runner_id, cancellation_requested, status FROM jobs WHERE id = ?1");
	if (!s)
		return -EIO;
	bind_text(s, 1, job_id ? job_id : "");
	int rc = sqlite3_step(s);
	if (rc == SQLITE_ROW) {
		const char *holder = (const char *)sqlite3_column_text(s, 0);
		*cancel = sqlite3_column_int(s, 1) || !holder || strcmp(holder, runner_id) != 0;
	} else if (rc == SQLITE_DONE) {
		*cancel = true; /* a job the relay no longer knows must not keep running */
	}
	sqlite3_finalize(s);
	return rc == SQLITE_ROW || rc == SQLITE_DONE ? 0 : db_fail(st);
}

static int revoke(struct relay_store *st, const char *runner_id, int64_t now, bool remove, const char *why)
{
	int r = begin(st);
	if (r < 0)
		return r;
	if ((r = runner_exists(st, runner_id, NULL)) < 0)
		goto out;
	char nowbuf[32];
	snprintf(nowbuf, sizeof(nowbuf), "%lld", (long long)now);
	if ((r = run(st, remove ? "UPDATE runners SET bearer_hash = NULL, removed_at = ?2, revoked_at = coalesce(revoked_at, ?2) WHERE id = ?1"
				: "UPDATE runners SET bearer_hash = NULL, revoked_at = ?2 WHERE id = ?1",
		     2, runner_id, nowbuf)) < 0 ||
	    (r = run(st, "UPDATE pairing_tokens SET used_at = ?2 WHERE runner_id = ?1 AND used_at IS NULL", 2,
		     runner_id, nowbuf)) < 0 ||
	    (r = fail_held_jobs(st, runner_id, why, true, now)) < 0)
		goto out;
	r = commit(st);
out:
	if (r < 0)
		rollback(st);
	return r;
}

int relay_store_unregister(struct relay_store *st, const char *runner_id, int64_t now)
{
	return revoke(st, runner_id, now, false, "The runner unregistered itself while it held this job.");
}

int relay_store_remove(struct relay_store *st, const char *runner_id, int64_t now)
{
	return revoke(st, runner_id, now, true, "The runner was removed while it held this job.");
}

int relay_store_request_restart(struct relay_store *st, const char *runner_id, int64_t now)
{
	char nowbuf[32];
	snprintf(nowbuf, sizeof(nowbuf), "%lld", (long long)now);
	int r = run(st, "UPDATE runners SET restart_requested_at = ?2 WHERE id = ?1 AND removed_at IS NULL "
			"AND revoked_at IS NULL", 2, runner_id, nowbuf);
	if (r < 0)
		return r;
	if (r == 0)
		return fail(st, -ENOENT, "no active runner '%s'; list them with `delego-relay runners`", runner_id);
	return 0;
}

int relay_store_runners(struct relay_store *st, int64_t now, cJSON **out)
{
	sqlite3_stmt *s = prep(st, "SELECT " RUNNER_COLS " FROM runners WHERE removed_at IS NULL ORDER BY created_at, id");
	if (!s)
		return -EIO;
	cJSON *a = cJSON_CreateArray();
	int rc;
	while ((rc = sqlite3_step(s)) == SQLITE_ROW)
		cJSON_AddItemToArray(a, runner_json(st, s, now));
	sqlite3_finalize(s);
	if (rc != SQLITE_DONE) {
		cJSON_Delete(a);
		return db_fail(st);
	}
	*out = a;
	return 0;
}

static bool valid_slug(const char *s)
{
	const char *slash = strchr(s, '/');
	if (!slash || slash == s || !slash[1] || strchr(slash + 1, '/') || strlen(s) > 200)
		return false;
	for (const char *p = s; *p; p++)
		if (!(*p == '/' || *p == '-' || *p == '_' || *p == '.' || (*p >= '0' && *p <= '9') ||
		      (*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z')))
			return false;
	return s[0] != '-' && s[0] != '.' && slash[1] != '-' && slash[1] != '.' && !strstr(s, "..");
}

static int insert_job(struct relay_store *st, const char *id, const char *exec, bool raw, const cJSON *body,
		      int64_t now, int64_t *seq)
{
	sqlite3_stmt *s = prep(st, "INSERT INTO jobs(id, status, executor, raw, body, created_at, updated_at) "
				   "VALUES(?1, 'queued', ?2, ?3, ?4, ?5, ?5)");
	if (!s)
		return -EIO;
	char *text = dr_json_print(body);
	bind_text(s, 1, id);
	bind_text(s, 2, exec);
	sqlite3_bind_int(s, 3, raw);
	bind_text(s, 4, text);
	sqlite3_bind_int64(s, 5, now);
	int rc = sqlite3_step(s);
	sqlite3_finalize(s);
	free(text);
	if (rc == SQLITE_CONSTRAINT)
		return fail(st, -EEXIST, "a job with id '%s' already exists", id);
	if (rc != SQLITE_DONE)
		return db_fail(st);
	*seq = sqlite3_last_insert_rowid(st->db);
	return add_event(st, id, NULL, "queued", NULL, "Queued.", NULL, now);
}

static int update_body(struct relay_store *st, const char *id, const cJSON *body)
{
	char *text = dr_json_print(body);
	int r = run(st, "UPDATE jobs SET body = ?2 WHERE id = ?1", 2, id, text);
	free(text);
	return r < 0 ? r : 0;
}

int relay_store_job_add(struct relay_store *st, const struct relay_job_spec *sp, int64_t now, char **id_out)
{
	if (!sp->repo || !valid_slug(sp->repo))
		return fail(st, -EINVAL, "--repo must look like owner/repo (letters, digits, '-', '_', '.'), got '%s'",
			    sp->repo ? sp->repo : "");
	if (sp->executor && strcmp(sp->executor, "claude") && strcmp(sp->executor, "codex"))
		return fail(st, -EINVAL, "--executor must be claude or codex, got '%s'", sp->executor);
	if (sp->thinking && strcmp(sp->thinking, "low") && strcmp(sp->thinking, "medium") && strcmp(sp->thinking, "high"))
		return fail(st, -EINVAL, "--thinking must be low, medium or high, got '%s'", sp->thinking);
	if (sp->auto_create_pr && !sp->auto_push)
		return fail(st, -EINVAL, "--auto-create-pr needs --auto-push: a pull request needs a pushed branch");
	if (sp->pr_draft && !sp->auto_create_pr)
		return fail(st, -EINVAL, "--pr-draft needs --auto-create-pr");
	char id[37], session[37];
	relay_uuid(id);
	relay_uuid(session);
	cJSON *b = cJSON_CreateObject();
	cJSON_AddStringToObject(b, "organizationId", st->account_id);
	cJSON_AddStringToObject(b, "agentSessionId", session);
	cJSON_AddStringToObject(b, "repositorySlug", sp->repo);
	cJSON *prefs = cJSON_AddObjectToObject(b, "executionPreferences");
	dr_json_add_str_or_null(prefs, "executor", sp->executor);
	dr_json_add_str_or_null(prefs, "model", sp->model);
	dr_json_add_str_or_null(prefs, "thinking", sp->thinking);
	cJSON *payload = cJSON_AddObjectToObject(b, "requestPayload");
	cJSON_AddStringToObject(payload, "source", "delego-relay");
	cJSON *pol = cJSON_AddObjectToObject(b, "publishingPolicy");
	cJSON_AddBoolToObject(pol, "autoPush", sp->auto_push);
	cJSON_AddBoolToObject(pol, "autoCreatePr", sp->auto_create_pr);
	cJSON_AddBoolToObject(pol, "prDraft", sp->pr_draft);
	cJSON *issue = cJSON_AddObjectToObject(b, "linearIssue");
	const char *title = sp->title ? sp->title : "";
	cJSON_AddStringToObject(b, "promptSummary", sp->prompt ? sp->prompt : title);
	cJSON_AddObjectToObject(b, "promptContext");
	cJSON_AddNullToObject(b, "resumeContext");
	int64_t seq = 0;
	int r = begin(st);
	if (r < 0)
		goto out;
	if ((r = insert_job(st, id, sp->executor, false, b, now, &seq)) < 0)
		goto out;
	char ident[40];
	snprintf(ident, sizeof(ident), "LOCAL-%lld", (long long)seq);
	cJSON_AddStringToObject(issue, "identifier", sp->identifier ? sp->identifier : ident);
	cJSON_AddStringToObject(issue, "title", title);
	dr_json_add_str_or_null(issue, "url", sp->url);
	if ((r = update_body(st, id, b)) < 0 || (r = commit(st)) < 0)
		goto out;
	*id_out = dr_xstrdup(id);
out:
	if (r < 0)
		rollback(st);
	cJSON_Delete(b);
	return r;
}

/* The nesting depth of j (a scalar is 0), counting no further than limit + 1. */
static int json_depth(const cJSON *j, int limit)
{
	if (!cJSON_IsObject(j) && !cJSON_IsArray(j))
		return 0;
	int deepest = 0;
	const cJSON *it;
	cJSON_ArrayForEach(it, j)
	{
		if (deepest > limit)
			break;
		int d = json_depth(it, limit - 1);
		if (d > deepest)
			deepest = d;
	}
	return deepest + 1;
}

int relay_store_job_add_raw(struct relay_store *st, const cJSON *raw, int64_t now, char **id_out)
{
	if (!cJSON_IsObject(raw))
		return fail(st, -EINVAL, "a raw job must be a JSON object");
	if (json_depth(raw, RELAY_JOB_DEPTH_MAX) > RELAY_JOB_DEPTH_MAX)
		return fail(st, -EINVAL, "the job is nested more than %d levels deep; runners could not report on it",
			    RELAY_JOB_DEPTH_MAX);
	cJSON *b = cJSON_Duplicate(raw, 1);
	char gen[37], session[37];
	relay_uuid(gen);
	const cJSON *idv = cJSON_GetObjectItemCaseSensitive(b, "id");
	/* The row key: the given string id, else a fresh one (a non-string id stays in the body as-is). */
	const char *key = cJSON_IsString(idv) && *idv->valuestring ? idv->valuestring : gen;
	if (strlen(key) > 1000) {
		cJSON_Delete(b);
		return fail(st, -EINVAL, "a raw job id must be at most 1000 characters");
	}
	if (!idv)
		cJSON_AddStringToObject(b, "id", gen);
	if (!cJSON_GetObjectItemCaseSensitive(b, "organizationId"))
		cJSON_AddStringToObject(b, "organizationId", st->account_id);
	if (!cJSON_GetObjectItemCaseSensitive(b, "agentSessionId")) {
		relay_uuid(session);
		cJSON_AddStringToObject(b, "agentSessionId", session);
	}
	char *keycopy = dr_xstrdup(key);
	const cJSON *prefs = dr_json_obj(b, "executionPreferences");
	const char *exec = prefs ? dr_json_str(prefs, "executor") : NULL;
	if (exec && strcmp(exec, "claude") && strcmp(exec, "codex"))
		exec = NULL;
	int64_t seq;
	int r = begin(st);
	if (r >= 0 && (r = insert_job(st, keycopy, exec, true, b, now, &seq)) >= 0)
		r = commit(st);
	if (r < 0) {
		rollback(st);
		free(keycopy);
	} else {
		*id_out = keycopy;
	}
	cJSON_Delete(b);
	return r;
}

#define JOB_COLS                                                                                           \
	"id, status, runner_id, pinned_runner_id, attempt_id, executor, body, cancellation_requested,"     \
	" summary, metadata, await_info, created_at, updated_at, claimed_at, finished_at"

static cJSON *events_json(struct relay_store *st, const char *job_id, int limit)
{
	cJSON *a = cJSON_CreateArray();
	sqlite3_stmt *s = prep(st, "SELECT * FROM (SELECT seq, kind, event_id, summary, metadata, runner_id, created_at "
				   "FROM events WHERE job_id = ?1 ORDER BY seq DESC LIMIT ?2) ORDER BY seq");
	if (!s)
		return a;
	bind_text(s, 1, job_id);
	sqlite3_bind_int(s, 2, limit > 0 ? limit : -1);
	while (sqlite3_step(s) == SQLITE_ROW) {
		cJSON *e = cJSON_CreateObject();
		cJSON_AddNumberToObject(e, "seq", (double)sqlite3_column_int64(s, 0));
		add_col_str(e, "kind", s, 1);
		add_col_str(e, "eventId", s, 2);
		add_col_str(e, "summary", s, 3);
		add_col_json(e, "metadata", s, 4);
		add_col_str(e, "runnerId", s, 5);
		add_time(e, "at", s, 6);
		cJSON_AddItemToArray(a, e);
	}
	sqlite3_finalize(s);
	return a;
}

static cJSON *job_json(struct relay_store *st, sqlite3_stmt *s, bool full, int event_limit)
{
	cJSON *o = cJSON_CreateObject();
	const char *id = (const char *)sqlite3_column_text(s, 0);
	cJSON *body = cJSON_Parse((const char *)sqlite3_column_text(s, 6));
	add_col_str(o, "id", s, 0);
	add_col_str(o, "status", s, 1);
	add_col_str(o, "runnerId", s, 2);
	add_col_str(o, "pinnedRunnerId", s, 3);
	add_col_str(o, "attemptId", s, 4);
	cJSON_AddBoolToObject(o, "cancellationRequested", sqlite3_column_int(s, 7));
	const cJSON *rs = body ? cJSON_GetObjectItemCaseSensitive(body, "repositorySlug") : NULL;
	dr_json_add_str_or_null(o, "repositorySlug", cJSON_IsString(rs) ? rs->valuestring : NULL);
	const cJSON *issue = body ? dr_json_obj(body, "linearIssue") : NULL;
	dr_json_add_str_or_null(o, "identifier", issue ? dr_json_str(issue, "identifier") : NULL);
	dr_json_add_str_or_null(o, "title", issue ? dr_json_str(issue, "title") : NULL);
	add_col_str(o, "executor", s, 5);
	add_col_str(o, "summary", s, 8);
	add_time(o, "createdAt", s, 11);
	add_time(o, "updatedAt", s, 12);
	add_time(o, "claimedAt", s, 13);
	add_time(o, "finishedAt", s, 14);
	add_col_json(o, "awaiting", s, 10);
	if (full) {
		add_col_json(o, "metadata", s, 9);
		cJSON_AddItemToObject(o, "job", body ? body : cJSON_CreateNull());
		body = NULL;
	}
	if (full || event_limit)
		cJSON_AddItemToObject(o, "events", events_json(st, id, full ? 0 : event_limit));
	cJSON_Delete(body);
	return o;
}

int relay_store_jobs(struct relay_store *st, int limit, bool with_events, cJSON **out)
{
	sqlite3_stmt *s = prep(st, "SELECT " JOB_COLS " FROM jobs ORDER BY seq DESC LIMIT ?1");
	if (!s)
		return -EIO;
	sqlite3_bind_int(s, 1, limit > 0 ? limit : -1);
	cJSON *a = cJSON_CreateArray();
	int rc;
	while ((rc = sqlite3_step(s)) == SQLITE_ROW)
		cJSON_AddItemToArray(a, job_json(st, s, false, with_events ? 20 : 0));
	sqlite3_finalize(s);
	if (rc != SQLITE_DONE) {
		cJSON_Delete(a);
		return db_fail(st);
	}
	*out = a;
	return 0;
}

int relay_store_job_show(struct relay_store *st, const char *id, cJSON **out)
{
	sqlite3_stmt *s = prep(st, "SELECT " JOB_COLS " FROM jobs WHERE id = ?1");
	if (!s)
		return -EIO;
	bind_text(s, 1, id);
	int rc = sqlite3_step(s);
	if (rc == SQLITE_ROW)
		*out = job_json(st, s, true, 0);
	sqlite3_finalize(s);
	if (rc == SQLITE_ROW)
		return 0;
	return rc == SQLITE_DONE ? fail(st, -ENOENT, "no job '%s'; list them with `delego-relay job list`", id)
				 : db_fail(st);
}

int relay_store_job_cancel(struct relay_store *st, const char *id, int64_t now)
{
	int r = begin(st);
	if (r < 0)
		return r;
	char *holder = NULL, *status = NULL;
	if ((r = job_state(st, id, &holder, &status)) < 0)
		goto out;
	if (strcmp(status, "queued") && strcmp(status, "running") && strcmp(status, "awaiting_input")) {
		r = fail(st, -EINVAL, "job '%s' is already %s; nothing to cancel", id, status);
		goto out;
	}
	char nowbuf[32];
	snprintf(nowbuf, sizeof(nowbuf), "%lld", (long long)now);
	/* A running job stays held by its runner so that its final report is accepted. */
	if ((r = run(st, "UPDATE jobs SET status = 'cancelled', cancellation_requested = 1, updated_at = ?2, "
			 "finished_at = ?2, summary = coalesce(summary, 'Cancelled from the relay.') WHERE id = ?1",
		     2, id, nowbuf)) < 0 ||
	    (r = add_event(st, id, NULL, "cancel", NULL, "Cancellation requested.", NULL, now)) < 0)
		goto out;
	r = commit(st);
out:
	free(holder);
	free(status);
	if (r < 0)
		rollback(st);
	return r;
}

int relay_store_job_answer(struct relay_store *st, const char *id, const char *text, int64_t now)
{
	int r = begin(st);
	if (r < 0)
		return r;
	sqlite3_stmt *s = prep(st, "SELECT status, runner_id, await_info, body FROM jobs WHERE id = ?1");
	if (!s) {
		r = -EIO;
		goto out;
	}
	bind_text(s, 1, id);
	int rc = sqlite3_step(s);
	if (rc != SQLITE_ROW) {
		sqlite3_finalize(s);
		r = rc == SQLITE_DONE ? fail(st, -ENOENT, "no job '%s'", id) : db_fail(st);
		goto out;
	}
	if (strcmp((const char *)sqlite3_column_text(s, 0), "awaiting_input") != 0) {
		r = fail(st, -EINVAL, "job '%s' is %s, not awaiting_input; only a job that asked a question takes an answer",
			 id, (const char *)sqlite3_column_text(s, 0));
		sqlite3_finalize(s);
		goto out;
	}
	char *runner = col_strdup(s, 1);
	cJSON *info = cJSON_Parse(sqlite3_column_text(s, 2) ? (const char *)sqlite3_column_text(s, 2) : "{}");
	cJSON *body = cJSON_Parse((const char *)sqlite3_column_text(s, 3));
	sqlite3_finalize(s);
	if (!body)
		body = cJSON_CreateObject();
	cJSON_DeleteItemFromObjectCaseSensitive(body, "resumeContext");
	cJSON *resume = cJSON_AddObjectToObject(body, "resumeContext");
	dr_json_add_str_or_null(resume, "claudeSessionId", info ? dr_json_str(info, "sessionId") : NULL);
	cJSON_AddStringToObject(resume, "userReply", text);
	char nowbuf[32];
	snprintf(nowbuf, sizeof(nowbuf), "%lld", (long long)now);
	if ((r = update_body(st, id, body)) >= 0 &&
	    (r = run(st, "UPDATE jobs SET status = 'queued', pinned_runner_id = ?2, updated_at = ?3, summary = NULL "
			 "WHERE id = ?1", 3, id, runner, nowbuf)) >= 0)
		r = add_event(st, id, NULL, "answer", NULL, text, NULL, now);
	free(runner);
	cJSON_Delete(info);
	cJSON_Delete(body);
	if (r >= 0)
		r = commit(st);
out:
	if (r < 0)
		rollback(st);
	return r < 0 ? r : 0;
}

int relay_store_settings(struct relay_store *st, cJSON **out)
{
	char def[16];
	char *ws = meta_get(st, "workspace_path");
	cJSON *o = cJSON_CreateObject();
	cJSON_AddStringToObject(o, "defaultExecutor", default_executor(st, def, sizeof(def)));
	dr_json_add_str_or_null(o, "workspacePath", ws && *ws ? ws : NULL);
	free(ws);
	*out = o;
	return 0;
}

int relay_store_settings_set(struct relay_store *st, const char *default_executor_name, const char *workspace_path)
{
	if (default_executor_name && strcmp(default_executor_name, "claude") && strcmp(default_executor_name, "codex"))
		return fail(st, -EINVAL, "the default executor must be claude or codex, got '%s'", default_executor_name);
	if (workspace_path) {
		if (strlen(workspace_path) > 4096)
			return fail(st, -EINVAL, "the workspace path is longer than 4096 bytes");
		if (*workspace_path && workspace_path[0] != '/' && workspace_path[0] != '~')
			return fail(st, -EINVAL, "the workspace path must be absolute (or start with ~), got '%s'",
				    workspace_path);
		for (const unsigned char *p = (const unsigned char *)workspace_path; *p; p++)
			if (*p < 0x20)
				return fail(st, -EINVAL, "the workspace path contains control characters");
	}
	int r = begin(st);
	if (r < 0)
		return r;
	if (default_executor_name && (r = meta_set(st, "default_executor", default_executor_name)) < 0)
		goto out;
	if (workspace_path && (r = meta_set(st, "workspace_path", workspace_path)) < 0)
		goto out;
	r = commit(st);
out:
	if (r < 0)
		rollback(st);
	return r;
}

/* Quotes s for a POSIX shell when it holds anything but safe characters. */
static void add_shell_word(struct dr_buf *b, const char *s)
{
	bool plain = *s != '\0';
	for (const char *p = s; *p; p++)
		if (!strchr("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_./:=@,+%~", *p))
			plain = false;
	if (plain && s[0] != '~') {
		dr_buf_addstr(b, s);
		return;
	}
	if (s[0] == '~' && (s[1] == '/' || !s[1])) {
		/* Leave ~ unquoted so the user's shell expands it. */
		dr_buf_addch(b, '~');
		s++;
		if (!*s)
			return;
	}
	dr_buf_addch(b, '\'');
	for (const char *p = s; *p; p++) {
		if (*p == '\'')
			dr_buf_addstr(b, "'\\''");
		else
			dr_buf_addch(b, *p);
	}
	dr_buf_addch(b, '\'');
}

char *relay_store_pair_command(struct relay_store *st, const char *token, unsigned exec_mask)
{
	struct dr_buf b = DR_BUF_INIT(0);
	char *url = relay_store_public_url(st);
	char *ws = meta_get(st, "workspace_path");
	dr_buf_addstr(&b, "delego-runner pair --relay-url ");
	add_shell_word(&b, url ? url : "http://127.0.0.1:8420");
	dr_buf_addstr(&b, " --pairing-token ");
	dr_buf_addstr(&b, token);
	if (ws && *ws) {
		dr_buf_addstr(&b, " --workspace-root ");
		add_shell_word(&b, ws);
	}
	if (exec_mask && (exec_mask & RELAY_EXEC_ALL) != RELAY_EXEC_ALL)
		dr_buf_addf(&b, " --supported-executors %s", exec_name(exec_mask & RELAY_EXEC_ALL));
	free(url);
	free(ws);
	return dr_buf_detach(&b, NULL);
}
