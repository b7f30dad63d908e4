/* url: relay URL normalisation and the loopback rule; a leaf (no other module). */
#include "delego/url.h"
#include "delego/xalloc.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

bool dr_url_is_loopback_host(const char *host, size_t len)
{
	char lit[64];
	if (len == 9 && strncasecmp(host, "localhost", 9) == 0)
		return true;
	if (len >= 2 && host[0] == '[' && host[len - 1] == ']') {
		host++;
		len -= 2;
	}
	if (len == 0 || len >= sizeof lit)
		return false;
	memcpy(lit, host, len);
	lit[len] = '\0';
	struct in_addr a4;
	struct in6_addr a6;
	if (inet_pton(AF_INET, lit, &a4) == 1)
		return (ntohl(a4.s_addr) >> 24) == 127;
	if (inet_pton(AF_INET6, lit, &a6) == 1)
		return IN6_IS_ADDR_LOOPBACK(&a6);
	return false;
}

bool dr_url_host(const char *url, const char **host, size_t *len)
{
	const char *p = strstr(url, "://");
	if (!p)
		return false;
	p += 3;
	const char *at = NULL;
	for (const char *q = p; *q && *q != '/' && *q != '?' && *q != '#'; q++)
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
	return dr_url_host(url, &host, &len) && dr_url_is_loopback_host(host, len);
}

bool dr_url_is_cleartext(const char *url)
{
	return strncasecmp(url, "http://", 7) == 0 || strncasecmp(url, "ws://", 5) == 0;
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
