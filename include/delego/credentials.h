/*
 * credentials: the credentials file shared with the Node runner
 * (delego-runner-protocol(7), CREDENTIALS FILE):
 *   {"version": 1, "profiles": {"<name>": {"relayUrl", "runnerId",
 *    "bearer", "pairedAt", ["workspaceRoot"], ["supportedExecutors"]}}}
 * Unknown fields, at any level, survive a rewrite. Writes are atomic
 * (temporary file in the same directory, fsync, rename) with a 0700
 * directory and a 0600 file.
 */
#ifndef DELEGO_CREDENTIALS_H
#define DELEGO_CREDENTIALS_H

#include <stdbool.h>
#include <stddef.h>

struct dr_credentials;

/* One profile; every string owned by the struct (dr_credentials_profile_release). */
struct dr_profile {
	char *relay_url;
	char *runner_id;
	char *bearer; /* secret */
	char *paired_at;
	char *workspace_root;        /* extension, may be NULL */
	char **supported_executors;  /* extension, NULL-terminated or NULL */
};
void dr_credentials_profile_release(struct dr_profile *p);

/* True for names matching ^[a-z0-9][a-z0-9-]{0,63}$. */
bool dr_credentials_profile_name_valid(const char *name);
/*
 * A runner id as the relay may hand it out and we may print: 1 to 128
 * letters, digits, '-' or '_', not starting with '-' (UUIDs and the like).
 */
bool dr_credentials_runner_id_valid(const char *id);

/*
 * The credentials file: explicit_path ($DELEGO_CREDENTIALS_PATH) when set,
 * else ${XDG_CONFIG_HOME:-$HOME/.config}/delego-runner/credentials.json
 * from the values given (NULL or empty: unset). Caller frees.
 */
char *dr_credentials_default_path(const char *explicit_path, const char *xdg_config_home, const char *home);

/* Parses file contents (pure). -EINVAL with a sentence in err when the shape is wrong. */
int dr_credentials_parse(const char *data, size_t len, struct dr_credentials **out, char *err, size_t errlen);
/* An empty store. */
struct dr_credentials *dr_credentials_new(void);
/*
 * Reads path; a missing file gives an empty store. *insecure_mode (optional)
 * receives the file's permission bits when group or other may read it, else 0.
 */
int dr_credentials_load(const char *path, struct dr_credentials **out, unsigned *insecure_mode, char *err,
			size_t errlen);
int dr_credentials_save(const struct dr_credentials *c, const char *path, char *err, size_t errlen);
void dr_credentials_free(struct dr_credentials *c);

/* Copies the named profile into *out; -ENOENT when absent, -EINVAL when it lacks relayUrl, runnerId or bearer. */
int dr_credentials_get(const struct dr_credentials *c, const char *name, struct dr_profile *out);
/* Sets the known fields of the named profile, keeping its unknown fields. */
void dr_credentials_set(struct dr_credentials *c, const char *name, const struct dr_profile *p);
/* Returns 0, or -ENOENT when absent. */
int dr_credentials_remove(struct dr_credentials *c, const char *name);
/* Names of all profiles, NULL-terminated; free with dr_strv_free. */
char **dr_credentials_names(const struct dr_credentials *c);

#endif
