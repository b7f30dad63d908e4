/*
 * libFuzzer harness: a relay's supabaseUrl through dr_phoenix_ws_url (the
 * URL curl connects to, the Host header, the request target that carries
 * the token) and the clear-text rule of url.h. An accepted URL gives an
 * http(s) connect URL without userinfo, a host of at most 255 bytes
 * without '@', '/', or spaces, and a target that starts with '/' and
 * holds the token percent-encoded.
 * Build and run: see tests/fuzz/README.md.
 */
#include "delego/phoenix.h"
#include "delego/url.h"
#include "delego/xalloc.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *url = dr_xstrndup((const char *)data, size);
	const char *host;
	size_t hlen;
	if (dr_url_host(url, &host, &hlen) && (host < url || host + hlen > url + strlen(url)))
		abort();
	bool loop = dr_url_is_loopback(url);
	if (loop && !dr_url_host(url, &host, &hlen))
		abort();
	(void)dr_url_is_cleartext(url);
	char *cu = NULL, *h = NULL, *target = NULL;
	if (dr_phoenix_ws_url(url, "tok/en+=", &cu, &h, &target) == 0) {
		if (strncmp(cu, "http://", 7) != 0 && strncmp(cu, "https://", 8) != 0)
			abort();
		if (strlen(h) == 0 || strlen(h) > 255 || strpbrk(h, "@/ \t\r\n?#"))
			abort();
		if (target[0] != '/' || !strstr(target, "apikey=tok%2Fen%2B%3D&vsn="))
			abort();
		if (strpbrk(target, " \r\n"))
			abort();
		free(cu);
		free(h);
		free(target);
	}
	free(url);
	return 0;
}
