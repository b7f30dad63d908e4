/* store: the core: opening the database, its schema, the SQLite helpers, meta and settings. */
#include "store-int.h"

#include "clock.h"
#include "token.h"

#include "delego/json.h"
#include "delego/xalloc.h"

#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#define BUSY_TIMEOUT_MS 5000

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

__attribute__((format(printf, 3, 4))) int relay__store_fail(struct relay_store *st, int r, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(st->err, sizeof(st->err), fmt, ap);
	va_end(ap);
	return r;
}

int relay__store_db_fail(struct relay_store *st)
{
	int code = sqlite3_errcode(st->db);
	int r = code == SQLITE_BUSY || code == SQLITE_LOCKED ? -EAGAIN : code == SQLITE_CONSTRAINT ? -EEXIST : -EIO;
	return relay__store_fail(st, r, "database error: %s", sqlite3_errmsg(st->db));
}

sqlite3_stmt *relay__store_prep(struct relay_store *st, const char *sql)
{
	sqlite3_stmt *s = NULL;
	if (sqlite3_prepare_v2(st->db, sql, -1, &s, NULL) != SQLITE_OK) {
		relay__store_db_fail(st);
		return NULL;
	}
	return s;
}

int relay__store_row_by_id(struct relay_store *st, const char *sql, const char *id, sqlite3_stmt **row)
{
	sqlite3_stmt *s = relay__store_prep(st, sql);
	if (!s)
		return -EIO;
	relay__store_bind_text(s, 1, id);
	int rc = sqlite3_step(s);
	if (rc == SQLITE_ROW) {
		*row = s;
		return 0;
	}
	int r = rc == SQLITE_DONE ? -ENOENT : relay__store_db_fail(st);
	sqlite3_finalize(s);
	return r;
}

void relay__store_bind_text(sqlite3_stmt *s, int i, const char *v)
{
	if (v)
		sqlite3_bind_text(s, i, v, -1, SQLITE_TRANSIENT);
	else
		sqlite3_bind_null(s, i);
}

static int exec_sql(struct relay_store *st, const char *sql)
{
	if (sqlite3_exec(st->db, sql, NULL, NULL, NULL) != SQLITE_OK)
		return relay__store_db_fail(st);
	return 0;
}

int relay__store_run(struct relay_store *st, const char *sql, const char *types, ...)
{
	sqlite3_stmt *s = relay__store_prep(st, sql);
	if (!s)
		return -EIO;
	va_list ap;
	va_start(ap, types);
	for (int i = 0; types[i]; i++) {
		if (types[i] == 'i')
			sqlite3_bind_int64(s, i + 1, va_arg(ap, int64_t));
		else
			relay__store_bind_text(s, i + 1, va_arg(ap, const char *));
	}
	va_end(ap);
	int rc = sqlite3_step(s);
	sqlite3_finalize(s);
	if (rc != SQLITE_DONE && rc != SQLITE_ROW)
		return relay__store_db_fail(st);
	return sqlite3_changes(st->db);
}

int relay__store_tx(struct relay_store *st, int (*body)(struct relay_store *st, void *arg), void *arg)
{
	int r = exec_sql(st, "BEGIN IMMEDIATE");
	if (r < 0)
		return r;
	r = body(st, arg);
	if (r >= 0) {
		int c = exec_sql(st, "COMMIT");
		if (c < 0)
			r = c;
	}
	if (r < 0 && !sqlite3_get_autocommit(st->db))
		sqlite3_exec(st->db, "ROLLBACK", NULL, NULL, NULL);
	return r;
}

char *relay__store_col_strdup(sqlite3_stmt *s, int i)
{
	const unsigned char *v = sqlite3_column_text(s, i);
	return v ? dr_xstrdup((const char *)v) : NULL;
}

void relay__store_add_time(cJSON *o, const char *key, sqlite3_stmt *s, int i)
{
	if (sqlite3_column_type(s, i) == SQLITE_NULL) {
		cJSON_AddNullToObject(o, key);
		return;
	}
	char iso[32];
	relay_clock_iso(sqlite3_column_int64(s, i), iso, sizeof(iso));
	cJSON_AddStringToObject(o, key, iso);
}

void relay__store_add_col_str(cJSON *o, const char *key, sqlite3_stmt *s, int i)
{
	dr_json_add_str_or_null(o, key, (const char *)sqlite3_column_text(s, i));
}

void relay__store_add_col_json(cJSON *o, const char *key, sqlite3_stmt *s, int i)
{
	const char *v = (const char *)sqlite3_column_text(s, i);
	cJSON *j = v ? cJSON_Parse(v) : NULL;
	cJSON_AddItemToObject(o, key, j ? j : cJSON_CreateNull());
}

char *relay__store_meta_get(struct relay_store *st, const char *key)
{
	sqlite3_stmt *s = relay__store_prep(st, "SELECT value FROM meta WHERE key = ?1");
	if (!s)
		return NULL;
	relay__store_bind_text(s, 1, key);
	char *v = sqlite3_step(s) == SQLITE_ROW ? relay__store_col_strdup(s, 0) : NULL;
	sqlite3_finalize(s);
	return v;
}

int relay__store_meta_set(struct relay_store *st, const char *key, const char *value)
{
	int r = relay__store_run(st, "INSERT INTO meta(key, value) VALUES(?1, ?2) ON CONFLICT(key) DO UPDATE SET value = ?2",
		    "tt", key, value);
	return r < 0 ? r : 0;
}

/* Reads a secret from meta, minting it once (INSERT OR IGNORE keeps the first writer's). */
static char *meta_secret(struct relay_store *st, const char *key, char *fresh)
{
	relay__store_run(st, "INSERT OR IGNORE INTO meta(key, value) VALUES(?1, ?2)", "tt", key, fresh);
	free(fresh);
	return relay__store_meta_get(st, key);
}

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

/* The tables, and the relay's own secrets minted once. */
static int create_schema(struct relay_store *st, void *unused)
{
	(void)unused;
	int r = exec_sql(st, schema);
	if (r < 0)
		return r;
	char uuid[37];
	relay_uuid(uuid);
	st->account_id = meta_secret(st, "account_id", dr_xstrdup(uuid));
	st->admin_token = meta_secret(st, "admin_token", relay_token_new("dra_"));
	st->jwt_key = meta_secret(st, "jwt_key", relay_token_new(""));
	return 0;
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
	    (r = exec_sql(st, "PRAGMA foreign_keys=ON")) < 0 || (r = relay__store_tx(st, create_schema, NULL)) < 0)
		goto fail;
	if (!st->account_id || !st->admin_token || !st->jwt_key) {
		r = relay__store_fail(st, -EIO, "database '%s' lacks its secrets", path);
		goto fail;
	}
	st->online_s = RELAY_ONLINE_SECONDS_DEFAULT;
	st->stale_s = RELAY_STALE_SECONDS_DEFAULT;
	char *on = relay__store_meta_get(st, "online_seconds"), *sl = relay__store_meta_get(st, "stale_seconds");
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
		return relay__store_fail(st, -EINVAL, "status thresholds must satisfy 1 <= online (%ld) <= stale (%ld)",
			    online_s, stale_s);
	st->online_s = online_s;
	st->stale_s = stale_s;
	if (!persist)
		return 0;
	char a[32], b[32];
	snprintf(a, sizeof(a), "%ld", online_s);
	snprintf(b, sizeof(b), "%ld", stale_s);
	int r = relay__store_meta_set(st, "online_seconds", a);
	return r < 0 ? r : relay__store_meta_set(st, "stale_seconds", b);
}

void relay_store_thresholds(const struct relay_store *st, long *online_s, long *stale_s)
{
	*online_s = st->online_s;
	*stale_s = st->stale_s;
}

int relay_store_set_public_url(struct relay_store *st, const char *url) { return relay__store_meta_set(st, "public_url", url); }
char *relay_store_public_url(struct relay_store *st) { return relay__store_meta_get(st, "public_url"); }

int64_t relay_store_data_version(struct relay_store *st)
{
	sqlite3_stmt *s = relay__store_prep(st, "PRAGMA data_version");
	int64_t v = -1;
	if (s && sqlite3_step(s) == SQLITE_ROW)
		v = sqlite3_column_int64(s, 0);
	sqlite3_finalize(s);
	/* data_version only moves for other connections' commits; add ours. */
	return v * 1000003 + sqlite3_total_changes(st->db);
}

const char *relay__store_default_executor(struct relay_store *st, char *buf, size_t len)
{
	char *v = relay__store_meta_get(st, "default_executor");
	snprintf(buf, len, "%s", v && (!strcmp(v, "claude") || !strcmp(v, "codex")) ? v : "codex");
	free(v);
	return buf;
}

char *relay_store_workspace_path(struct relay_store *st)
{
	char *ws = relay__store_meta_get(st, "workspace_path");
	if (ws && !*ws) {
		free(ws);
		ws = NULL;
	}
	return ws;
}

int relay_store_settings(struct relay_store *st, cJSON **out)
{
	char def[16];
	char *ws = relay__store_meta_get(st, "workspace_path");
	cJSON *o = cJSON_CreateObject();
	cJSON_AddStringToObject(o, "defaultExecutor", relay__store_default_executor(st, def, sizeof(def)));
	dr_json_add_str_or_null(o, "workspacePath", ws && *ws ? ws : NULL);
	free(ws);
	*out = o;
	return 0;
}

struct settings_args {
	const char *default_executor, *workspace_path;
};

static int settings_body(struct relay_store *st, void *arg)
{
	const struct settings_args *a = arg;
	int r = 0;
	if (a->default_executor)
		r = relay__store_meta_set(st, "default_executor", a->default_executor);
	if (r >= 0 && a->workspace_path)
		r = relay__store_meta_set(st, "workspace_path", a->workspace_path);
	return r;
}

int relay_store_settings_set(struct relay_store *st, const char *default_executor_name, const char *workspace_path)
{
	if (default_executor_name && strcmp(default_executor_name, "claude") && strcmp(default_executor_name, "codex"))
		return relay__store_fail(st, -EINVAL, "the default executor must be claude or codex, got '%s'", default_executor_name);
	if (workspace_path) {
		if (strlen(workspace_path) > 4096)
			return relay__store_fail(st, -EINVAL, "the workspace path is longer than 4096 bytes");
		if (*workspace_path && workspace_path[0] != '/' && workspace_path[0] != '~')
			return relay__store_fail(st, -EINVAL, "the workspace path must be absolute (or start with ~), got '%s'",
				    workspace_path);
		for (const unsigned char *p = (const unsigned char *)workspace_path; *p; p++)
			if (*p < 0x20)
				return relay__store_fail(st, -EINVAL, "the workspace path contains control characters");
	}
	struct settings_args a = { default_executor_name, workspace_path };
	return relay__store_tx(st, settings_body, &a);
}
