/*
 * config-int: what config.c (the layers: file, environment, flags, profile;
 * describe) shares with config_keys.c (the table of options and the parsing
 * of each value into its field).
 */
#ifndef DELEGO_CONFIG_INT_H
#define DELEGO_CONFIG_INT_H

#include "delego/config.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define SOURCE_MAX 192
#define DR__CONFIG_N_OPTIONS 47

enum opt_type {
	OPT_STR,       /* a string */
	OPT_SECRET,    /* a string never shown */
	OPT_PATH,      /* a string with ~/ expanded */
	OPT_URL,       /* a relay URL, normalised */
	OPT_MS,        /* milliseconds, with a minimum */
	OPT_INT,       /* a small count, with a minimum */
	OPT_BOOL,      /* a flag without value; "true"/"false" in env and file */
	OPT_NOT_BOOL,  /* --no-X: stored inverted into a "create" field */
	OPT_EXECUTORS, /* comma-separated executor ids */
	OPT_ARGS,      /* whitespace-separated arguments */
	OPT_LEVEL,     /* a log level */
	OPT_BYTES,     /* a size: a whole number of bytes, or with K, M, G or T (powers of 1024) */
	OPT_CONTAINMENT, /* auto or process-group */
	OPT_SANDBOX,     /* auto, bwrap, landlock or off */
	OPT_ONOFF,       /* a flag with a value: on/off, true/false */
	OPT_PATHS,       /* paths: repeated flags add up, a list in the file, ':'-separated in env */
	OPT_ENV,       /* repeatable NAME or NAME=VALUE, one per line (a list in the file) */
	OPT_INHIBIT,     /* auto, on or off */
};

struct opt {
	const char *name;    /* flag without "--"; also the YAML key */
	char short_name;     /* single-letter alias, or 0 */
	const char *env;     /* DELEGO_* variable, or NULL */
	enum opt_type type;
	const char *def;     /* default as text, or NULL */
	uint64_t min;        /* for OPT_MS and OPT_INT */
	uint64_t max;        /* for OPT_INT; 0 for none */
	size_t offset;       /* field in struct dr_config */
	bool in_file;        /* may be set in the YAML file */
};

#define F(field) offsetof(struct dr_config, field)

/* The table of every option, DR__CONFIG_N_OPTIONS long. */
extern const struct opt *const dr__config_options;

/* The raw text of every option and where it came from. */
struct setting {
	char *value;
	char source[SOURCE_MAX];
};

/* struct dr_config is public; its sources live beside it. */
struct config_full {
	struct dr_config c;
	struct setting settings[DR__CONFIG_N_OPTIONS];
	char *home; /* $HOME of the environment given, for ~/ */
};

char *dr__config_expand_home(const struct config_full *f, const char *path);
const struct opt *dr__config_find_opt(const char *name, size_t len);
size_t dr__config_opt_index(const struct opt *o);
bool dr__config_parse_bool(const char *s, bool *out);
/* Converts one setting into its field; fills err naming the source. */
int dr__config_resolve(struct config_full *f, const struct opt *o, char *err, size_t errlen);

#endif
