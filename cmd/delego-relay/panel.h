/*
 * panel: the Runners panel's files (cmd/delego-relay/panel/), embedded
 * into the binary at build time by the Makefile's panel rule, which
 * generates the table below; no files are read at run time.
 */
#ifndef RELAY_PANEL_H
#define RELAY_PANEL_H

#include <stddef.h>

struct relay_panel_asset {
	const char *name; /* file name, e.g. "index.html" */
	const unsigned char *data;
	size_t len;
};

/* Terminated by an entry whose name is NULL. */
extern const struct relay_panel_asset relay_panel_assets[];

#endif
