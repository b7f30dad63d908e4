/* url: relay URL normalisation and the loopback rule; a leaf (no other module). */
#include "delego/url.h"
#include "delego/xalloc.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

static bool is_loopback_host(const char *host, size_t len)
{
	static const char *names[] = { "localhost", "127.0.0.1", "[::1]", "::1" };
	for (size_t i = 0; i < sizeof names / sizeof *names; i++)
		if (len == strlen(names[i]) && strncasecmp(host, names[i], len) == 0)
			return true;
	return len > 4 && strncmp(host, "127.", 4) == 0;
}

bool dr_url_host(const char *url, const char **host, size_t *len)
{
	const char *p = strstr(url, "://");
	if (!p)
		return false;
	p += 3;
	const char *at = NULL;
	for (const char *q = p; *q && *q != '/'; q++)
		if (*q == '@')
			at = q;
	if (at)
		p = at + 1;
	const char *end = p;
	if (*p == '[') {
		end = strchr(p, ']');
		if (!end)
			return false;
		end++;
	} else {
		while (*end && *end != ':' && *end != '/' && *end != '?' && *end != '#')
			end++;
	}
	*host = p;
	*len = (size_t)(end - p);
	return *len > 0;
}

bool dr_url_is_loopback(const char *url)
{
	const char *host;
	size_t len;
	return dr_url_host(url, &host, &len) && is_loopback_host(host, len);
}

int dr_url_normalize(const char *url, char **out, char *err, size_t errlen)
{
	const char *host;
	size_t len;
	if (strncasecmp(url, "https://", 8) != 0 && strncasecmp(url, "http://", 7) != 0) {
		snprintf(err, errlen, "'%s' is not an http:// or https:// URL", url);
		return -EINVAL;
	}
	if (!dr_url_host(url, &host, &len) || strlen(url) > DR_URL_MAX) {
		snprintf(err, errlen, "'%s' is not a valid relay URL (expected https://host[:port][/path])", url);
		return -EINVAL;
	}
	for (const char *p = url; *p; p++) {
		if ((unsigned char)*p <= ' ' || *p == '"' || *p == '\\' || *p == '<' || *p == '>') {
			snprintf(err, errlen, "relay URL '%s' contains a space or control character", url);
			return -EINVAL;
		}
	}
	if (strchr(url, '?') || strchr(url, '#')) {
		snprintf(err, errlen, "relay URL '%s' must not have a query or fragment", url);
		return -EINVAL;
	}
	char *n = dr_xstrdup(url);
	size_t l = strlen(n);
	while (l > 0 && n[l - 1] == '/')
		n[--l] = '\0';
	*out = n;
	return 0;
}
