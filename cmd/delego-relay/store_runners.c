/* store: runners: pairing tokens, registration, bearers, heartbeats, rotation and removal. */
#include "store-int.h"

#include "clock.h"
#include "token.h"

#include "delego/json.h"
#include "delego/xalloc.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

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
	int r = relay__store_run(st, "INSERT INTO pairing_tokens(token_hash, runner_id, created_at, expires_at) "
				     "VALUES(?1, ?2, ?3, ?4)", "ttii", hash, runner_id, now, now + RELAY_PAIR_TTL_MS);
	if (r < 0) {
		free(tok);
		return r;
	}
	out->token = tok;
	snprintf(out->runner_id, sizeof(out->runner_id), "%s", runner_id);
	out->expires_at = now + RELAY_PAIR_TTL_MS;
	return 0;
}

static int check_name(struct relay_store *st, const char *name)
{
	if (strlen(name) > RELAY_NAME_MAX)
		return relay__store_fail(st, -EINVAL, "the display name is longer than %d characters; shorten it", RELAY_NAME_MAX);
	for (const unsigned char *p = (const unsigned char *)name; *p; p++)
		if (*p < 0x20 || *p == 0x7f)
			return relay__store_fail(st, -EINVAL, "the display name contains control characters; use plain text");
	return 0;
}

struct pair_args {
	const char *id, *name;
	unsigned exec_mask;
	int64_t now;
	struct relay_pairing out;
};

static int pair_body(struct relay_store *st, void *arg)
{
	struct pair_args *a = arg;
	int r = relay__store_run(st, "INSERT INTO runners(id, name, exec_mask, created_at) VALUES(?1, ?2, ?3, ?4)", "ttii",
				 a->id, a->name, (int64_t)(a->exec_mask & RELAY_EXEC_ALL), a->now);
	return r < 0 ? r : mint_token(st, a->id, a->now, &a->out);
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
	struct pair_args a = { .id = id, .name = name, .exec_mask = exec_mask, .now = now };
	if ((r = relay__store_tx(st, pair_body, &a)) < 0) {
		relay_pairing_release(&a.out);
		return r;
	}
	*out = a.out;
	return 0;
}

static int runner_exists(struct relay_store *st, const char *runner_id, bool *revoked)
{
	sqlite3_stmt *s = relay__store_prep(st, "SELECT revoked_at IS NOT NULL FROM runners WHERE id = ?1 AND removed_at IS NULL");
	if (!s)
		return -EIO;
	relay__store_bind_text(s, 1, runner_id);
	int rc = sqlite3_step(s);
	if (rc == SQLITE_ROW && revoked)
		*revoked = sqlite3_column_int(s, 0);
	sqlite3_finalize(s);
	if (rc == SQLITE_ROW)
		return 0;
	if (rc == SQLITE_DONE)
		return relay__store_fail(st, -ENOENT, "no runner '%s' on this relay; list them with `delego-relay runners`",
			    runner_id);
	return relay__store_db_fail(st);
}

struct rotate_args {
	const char *runner_id;
	int64_t now;
	struct relay_pairing out;
};

static int rotate_body(struct relay_store *st, void *arg)
{
	struct rotate_args *a = arg;
	bool revoked = false;
	int r = runner_exists(st, a->runner_id, &revoked);
	if (r < 0)
		return r;
	if (revoked)
		return relay__store_fail(st, -EINVAL, "runner '%s' revoked itself; remove it and pair a new one", a->runner_id);
	if ((r = relay__store_run(st, "UPDATE runners SET bearer_hash = NULL, active_job_id = NULL WHERE id = ?1", "t",
				  a->runner_id)) < 0 ||
	    (r = relay__store_run(st, "UPDATE pairing_tokens SET used_at = ?2 WHERE runner_id = ?1 AND used_at IS NULL",
				  "ti", a->runner_id, a->now)) < 0 ||
	    (r = relay__store_fail_held_jobs(st, a->runner_id, "The runner's credential was rotated while it held this job.",
					     false, a->now)) < 0)
		return r;
	return mint_token(st, a->runner_id, a->now, &a->out);
}

int relay_store_rotate(struct relay_store *st, const char *runner_id, int64_t now, struct relay_pairing *out)
{
	struct rotate_args a = { .runner_id = runner_id, .now = now };
	int r = relay__store_tx(st, rotate_body, &a);
	if (r < 0) {
		relay_pairing_release(&a.out);
		return r;
	}
	*out = a.out;
	return 0;
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
	relay__store_add_col_str(o, "id", s, 0);
	relay__store_add_col_str(o, "name", s, 1);
	cJSON_AddStringToObject(o, "status", relay_status_name(status));
	cJSON_AddStringToObject(o, "statusLabel", relay_status_label(status));
	relay__store_add_time(o, "lastHeartbeatAt", s, 8);
	relay__store_add_col_str(o, "version", s, 5);
	cJSON_AddItemToObject(o, "executors", relay_exec_to_json(eff));
	cJSON_AddItemToObject(o, "configuredExecutors", relay_exec_to_json(cfg ? cfg : RELAY_EXEC_ALL));
	if (rep)
		cJSON_AddItemToObject(o, "supportedExecutors", relay_exec_to_json(rep));
	else
		cJSON_AddNullToObject(o, "supportedExecutors");
	relay__store_add_col_str(o, "activeJobId", s, 9);
	relay__store_add_time(o, "createdAt", s, 6);
	relay__store_add_time(o, "pairedAt", s, 7);
	relay__store_add_time(o, "revokedAt", s, 10);
	cJSON_AddBoolToObject(o, "restartRequested", sqlite3_column_type(s, 11) != SQLITE_NULL);
	return o;
}

static int runner_by_id(struct relay_store *st, const char *id, int64_t now, cJSON **out)
{
	sqlite3_stmt *s;
	int r = relay__store_row_by_id(st, "SELECT " RUNNER_COLS " FROM runners WHERE id = ?1", id, &s);
	if (r == -ENOENT)
		return relay__store_fail(st, r, "no runner '%s'", id);
	if (r < 0)
		return r;
	*out = runner_json(st, s, now);
	sqlite3_finalize(s);
	return 0;
}

struct register_args {
	const char *hash, *version;
	unsigned reported_mask;
	int64_t now;
	cJSON *runner;
	char *bearer;
};

/* The runner a pairing token was minted for, into runner_id[37]; -EACCES with the reason when it cannot pair. */
static int token_runner(struct relay_store *st, const char *hash, int64_t now, char *runner_id)
{
	sqlite3_stmt *s = relay__store_prep(st, "SELECT t.runner_id, t.expires_at, t.used_at IS NOT NULL, "
						"r.revoked_at IS NOT NULL OR r.removed_at IS NOT NULL "
						"FROM pairing_tokens t JOIN runners r ON r.id = t.runner_id WHERE t.token_hash = ?1");
	if (!s)
		return -EIO;
	relay__store_bind_text(s, 1, hash);
	int r = 0, rc = sqlite3_step(s);
	if (rc == SQLITE_ROW) {
		bool expired = sqlite3_column_int64(s, 1) <= now, used = sqlite3_column_int(s, 2),
		     dead = sqlite3_column_int(s, 3);
		if (used)
			r = relay__store_fail(st, -EACCES, "this pairing token was already used; mint a new one in the Runners panel or with `delego-relay pair-token`");
		else if (expired)
			r = relay__store_fail(st, -EACCES, "this pairing token expired (tokens last 15 minutes); mint a new one in the Runners panel or with `delego-relay pair-token`");
		else if (dead)
			r = relay__store_fail(st, -EACCES, "the runner this token was minted for was removed; mint a new pairing token");
		else
			snprintf(runner_id, 37, "%s", (const char *)sqlite3_column_text(s, 0));
	} else if (rc == SQLITE_DONE) {
		r = relay__store_fail(st, -EACCES, "unknown pairing token; copy the whole command from the Runners panel or mint a new token with `delego-relay pair-token`");
	} else {
		r = relay__store_db_fail(st);
	}
	sqlite3_finalize(s);
	return r;
}

static int register_body(struct relay_store *st, void *arg)
{
	struct register_args *a = arg;
	char runner_id[37];
	int r = token_runner(st, a->hash, a->now, runner_id);
	if (r < 0)
		return r;
	a->bearer = relay_token_new(RELAY_BEARER_PREFIX);
	char bhash[RELAY_SHA256_HEX_LEN + 1];
	relay_sha256_hex(a->bearer, bhash);
	if ((r = relay__store_run(st, "UPDATE pairing_tokens SET used_at = ?2 WHERE token_hash = ?1", "ti", a->hash,
				  a->now)) < 0 ||
	    (r = relay__store_run(st, "UPDATE runners SET bearer_hash = ?2, paired_at = ?3, version = ?4, reported_mask = ?5, "
				      "last_heartbeat_at = NULL, active_job_id = NULL WHERE id = ?1",
				  "ttiti", runner_id, bhash, a->now, a->version,
				  (int64_t)(a->reported_mask & RELAY_EXEC_ALL))) < 0)
		return r;
	return runner_by_id(st, runner_id, a->now, &a->runner);
}

int relay_store_register(struct relay_store *st, const char *pairing_token, const char *version,
			 unsigned reported_mask, int64_t now, cJSON **runner, char **bearer)
{
	char hash[RELAY_SHA256_HEX_LEN + 1];
	relay_sha256_hex(pairing_token, hash);
	struct register_args a = { .hash = hash, .version = version, .reported_mask = reported_mask, .now = now };
	int r = relay__store_tx(st, register_body, &a);
	if (r < 0) {
		cJSON_Delete(a.runner);
		free(a.bearer);
		return r;
	}
	*runner = a.runner;
	*bearer = a.bearer;
	return 0;
}

int relay_store_auth(struct relay_store *st, const char *bearer, struct relay_auth *out)
{
	if (!bearer || !*bearer)
		return relay__store_fail(st, -EACCES, "missing bearer; pair this runner first");
	char hash[RELAY_SHA256_HEX_LEN + 1];
	relay_sha256_hex(bearer, hash);
	sqlite3_stmt *s = relay__store_prep(st, "SELECT id, exec_mask, reported_mask, paired_at FROM runners WHERE bearer_hash = ?1 "
				   "AND revoked_at IS NULL AND removed_at IS NULL");
	if (!s)
		return -EIO;
	relay__store_bind_text(s, 1, hash);
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
		return relay__store_fail(st, -EACCES, "runner credential is not valid (rotated, removed or unknown); re-pair the runner");
	return relay__store_db_fail(st);
}

int relay_store_runner_live(struct relay_store *st, const char *runner_id, int64_t paired_at)
{
	sqlite3_stmt *s = relay__store_prep(st, "SELECT 1 FROM runners WHERE id = ?1 AND paired_at = ?2 AND bearer_hash IS NOT NULL "
				   "AND revoked_at IS NULL AND removed_at IS NULL");
	if (!s)
		return -EIO;
	relay__store_bind_text(s, 1, runner_id);
	sqlite3_bind_int64(s, 2, paired_at);
	int rc = sqlite3_step(s);
	sqlite3_finalize(s);
	if (rc == SQLITE_ROW)
		return 0;
	if (rc == SQLITE_DONE)
		return relay__store_fail(st, -EACCES, "runner '%s' was removed, revoked or rotated", runner_id);
	return relay__store_db_fail(st);
}

struct beat_args {
	const char *runner_id, *version, *active_job_id;
	unsigned reported_mask;
	bool deliver_restart, restart;
	int64_t now;
	cJSON *runner;
};

static int beat_body(struct relay_store *st, void *arg)
{
	struct beat_args *a = arg;
	int r = relay__store_run(st, "UPDATE runners SET last_heartbeat_at = ?2, version = coalesce(?3, version), "
				     "reported_mask = CASE WHEN ?4 > 0 THEN ?4 ELSE reported_mask END, "
				     "active_job_id = ?5 WHERE id = ?1",
				 "titit", a->runner_id, a->now, a->version, (int64_t)(a->reported_mask & RELAY_EXEC_ALL),
				 a->active_job_id);
	/* Only an idle steady-state beat may consume the request. */
	if (r >= 0 && a->deliver_restart && !a->active_job_id) {
		r = relay__store_run(st, "UPDATE runners SET restart_requested_at = NULL WHERE id = ?1 "
					 "AND restart_requested_at IS NOT NULL", "t", a->runner_id);
		a->restart = r > 0;
	}
	return r < 0 ? r : runner_by_id(st, a->runner_id, a->now, &a->runner);
}

int relay_store_heartbeat(struct relay_store *st, const char *runner_id, const char *version,
			  unsigned reported_mask, const char *active_job_id, bool deliver_restart, int64_t now,
			  bool *restart, cJSON **answer)
{
	struct beat_args a = { .runner_id = runner_id, .version = version, .active_job_id = active_job_id,
			       .reported_mask = reported_mask, .deliver_restart = deliver_restart, .now = now };
	*restart = false;
	int r = relay__store_tx(st, beat_body, &a);
	if (r < 0) {
		cJSON_Delete(a.runner);
		return r;
	}
	cJSON *o = cJSON_CreateObject();
	cJSON_AddItemToObject(o, "id", cJSON_DetachItemFromObject(a.runner, "id"));
	cJSON_AddItemToObject(o, "status", cJSON_DetachItemFromObject(a.runner, "status"));
	cJSON_AddItemToObject(o, "lastHeartbeatAt", cJSON_DetachItemFromObject(a.runner, "lastHeartbeatAt"));
	cJSON_Delete(a.runner);
	*restart = a.restart;
	*answer = o;
	return 0;
}

struct revoke_args {
	const char *runner_id, *why;
	int64_t now;
	bool remove;
};

static int revoke_body(struct relay_store *st, void *arg)
{
	const struct revoke_args *a = arg;
	int r = runner_exists(st, a->runner_id, NULL);
	if (r < 0 ||
	    (r = relay__store_run(st, a->remove ? "UPDATE runners SET bearer_hash = NULL, removed_at = ?2, "
						  "revoked_at = coalesce(revoked_at, ?2) WHERE id = ?1"
						: "UPDATE runners SET bearer_hash = NULL, revoked_at = ?2 WHERE id = ?1",
				  "ti", a->runner_id, a->now)) < 0 ||
	    (r = relay__store_run(st, "UPDATE pairing_tokens SET used_at = ?2 WHERE runner_id = ?1 AND used_at IS NULL",
				  "ti", a->runner_id, a->now)) < 0)
		return r;
	return relay__store_fail_held_jobs(st, a->runner_id, a->why, true, a->now);
}

static int revoke(struct relay_store *st, const char *runner_id, int64_t now, bool remove, const char *why)
{
	struct revoke_args a = { .runner_id = runner_id, .why = why, .now = now, .remove = remove };
	int r = relay__store_tx(st, revoke_body, &a);
	return r < 0 ? r : 0;
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
	int r = relay__store_run(st, "UPDATE runners SET restart_requested_at = ?2 WHERE id = ?1 AND removed_at IS NULL "
				     "AND revoked_at IS NULL", "ti", runner_id, now);
	if (r < 0)
		return r;
	if (r == 0)
		return relay__store_fail(st, -ENOENT, "no active runner '%s'; list them with `delego-relay runners`", runner_id);
	return 0;
}

int relay_store_runners(struct relay_store *st, int64_t now, cJSON **out)
{
	sqlite3_stmt *s = relay__store_prep(st, "SELECT " RUNNER_COLS " FROM runners WHERE removed_at IS NULL ORDER BY created_at, id");
	if (!s)
		return -EIO;
	cJSON *a = cJSON_CreateArray();
	int rc;
	while ((rc = sqlite3_step(s)) == SQLITE_ROW)
		cJSON_AddItemToArray(a, runner_json(st, s, now));
	sqlite3_finalize(s);
	if (rc != SQLITE_DONE) {
		cJSON_Delete(a);
		return relay__store_db_fail(st);
	}
	*out = a;
	return 0;
}
