/*
 * url: what the runner needs to know about a relay URL, and nothing else:
 * normalisation (http(s)://host[:port][/path], no query, no fragment, no
 * trailing '/') and whether its host is this machine (the loopback rule
 * that lets http:// through without --allow-insecure-relay).
 */
#ifndef DELEGO_URL_H
#define DELEGO_URL_H

#include <stdbool.h>
#include <stddef.h>

#define DR_URL_MAX 2048

/*
 * Checks url and stores a normalised copy (trailing '/' dropped, caller
 * frees) in *out. Returns 0, or -EINVAL with the reason in err.
 */
int dr_url_normalize(const char *url, char **out, char *err, size_t errlen);
/* Finds the host of scheme://[user@]host[:port]/...: 1 (brackets kept for IPv6) or 0. */
bool dr_url_host(const char *url, const char **host, size_t *len);
/*
 * True for "localhost" (any case), an IPv4 literal in 127.0.0.0/8 or the
 * IPv6 literal ::1 (bracketed or not), decided with inet_pton on the whole
 * host: "127.evil.example" is a name, not a loopback address.
 */
bool dr_url_is_loopback_host(const char *host, size_t len);
/* dr_url_host, then dr_url_is_loopback_host. */
bool dr_url_is_loopback(const char *url);
/* True when url starts with http:// or ws:// (any case): a clear-text transport. */
bool dr_url_is_cleartext(const char *url);

#endif
