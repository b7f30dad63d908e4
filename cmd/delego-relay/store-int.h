/*
 * store-int: what the store core (store.c) shares with its runner and job
 * halves (store_runners.c, store_jobs.c). Not an API for the rest of the
 * relay: everything else goes through store.h.
 */
#ifndef RELAY_STORE_INT_H
#define RELAY_STORE_INT_H

#include "store.h"

#include <cjson/cJSON.h>
#include <sqlite3.h>
#include <stddef.h>

struct relay_store {
	sqlite3 *db;
	char *admin_token;
	char *account_id;
	char *jwt_key;
	long online_s, stale_s;
	char err[512];
};

/* Puts a sentence into st->err and returns r. */
__attribute__((format(printf, 3, 4))) int relay__store_fail(struct relay_store *st, int r, const char *fmt, ...);
/* The last SQLite error as the store's error: -EAGAIN when busy or locked, -EEXIST for a constraint, else -EIO. */
int relay__store_db_fail(struct relay_store *st);
/* A prepared statement, or NULL with the error recorded. */
sqlite3_stmt *relay__store_prep(struct relay_store *st, const char *sql);
/* Binds v as text, or NULL. */
void relay__store_bind_text(sqlite3_stmt *s, int i, const char *v);
/*
 * Runs sql (one text parameter ?1 = id) to its first row: 0 with *row on it
 * (the caller finalizes), -ENOENT when there is none, or the error recorded.
 */
int relay__store_row_by_id(struct relay_store *st, const char *sql, const char *id, sqlite3_stmt **row);
/*
 * Runs one statement. types has one letter per parameter ?1, ?2, ...:
 * 't' a const char * (NULL binds NULL), 'i' an int64_t. Returns the number
 * of rows changed, or a negative errno.
 */
int relay__store_run(struct relay_store *st, const char *sql, const char *types, ...);
/*
 * Runs body(st, arg) in one BEGIN IMMEDIATE transaction: committed when
 * body returns >= 0, rolled back otherwise (or when COMMIT fails). Returns
 * body's value or the failure. Whatever body produced for the caller stays
 * the caller's to free when this fails.
 */
int relay__store_tx(struct relay_store *st, int (*body)(struct relay_store *st, void *arg), void *arg);

/* Column helpers. */
char *relay__store_col_strdup(sqlite3_stmt *s, int i);
void relay__store_add_time(cJSON *o, const char *key, sqlite3_stmt *s, int i);
void relay__store_add_col_str(cJSON *o, const char *key, sqlite3_stmt *s, int i);
/* Adds the JSON stored in column i, or null. */
void relay__store_add_col_json(cJSON *o, const char *key, sqlite3_stmt *s, int i);

/* A meta value (owned), or NULL. */
char *relay__store_meta_get(struct relay_store *st, const char *key);
int relay__store_meta_set(struct relay_store *st, const char *key, const char *value);
/* The executor of jobs that name none: "claude" or "codex", into buf. */
const char *relay__store_default_executor(struct relay_store *st, char *buf, size_t len);

/* Fails the running (and with parked, the waiting) jobs a runner can no longer report on. */
int relay__store_fail_held_jobs(struct relay_store *st, const char *runner_id, const char *why, bool parked,
				int64_t now);

#endif
