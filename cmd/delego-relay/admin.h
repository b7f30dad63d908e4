/*
 * admin: the admin operations shared by the CLI and the HTTP admin API
 * (/api/admin/..., behind the relay's admin token) that the Runners panel
 * uses. Pure request -> answer functions over the store.
 */
#ifndef RELAY_ADMIN_H
#define RELAY_ADMIN_H

#include "store.h"

#include <cjson/cJSON.h>
#include <stdint.h>

/*
 * The full pairing command line for a token (owned): the relay URL and the
 * workspace path quoted for a POSIX shell.
 */
char *relay_admin_pair_command(struct relay_store *st, const char *token, unsigned exec_mask);
/* {token, runnerId, expiresAt, command} for a minted token (owned). */
cJSON *relay_admin_pairing_json(struct relay_store *st, const struct relay_pairing *p, unsigned exec_mask);

/*
 * Handles an admin request (the caller checked the admin token). method is
 * "GET" or "POST"; body may be NULL. Fills *status and *answer (owned).
 */
void relay_admin_handle(struct relay_store *st, const char *method, const char *path, const cJSON *body,
			int64_t now, int *status, cJSON **answer);

#endif
