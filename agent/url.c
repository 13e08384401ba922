/* url: see url.h. */
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "url.h"

int url_host(const char *url, char *out, size_t outlen)
{
	const char *h = strstr(url, "://"), *at;
	size_t n;

	h = h ? h + 3 : url;
	n = strcspn(h, "/?#");
	at = memchr(h, '@', n);
	if (at) {
		n -= (size_t)(at + 1 - h);
		h = at + 1;
	}
	if (*h == '[') {
		const char *close = memchr(h, ']', n);

		if (!close)
			return -1;
		h++;
		n = (size_t)(close - h);
	} else {
		n = strcspn(h, ":/?#");
	}
	if (n == 0 || n >= outlen)
		return -1;
	memcpy(out, h, n);
	out[n] = '\0';
	return 0;
}

int url_is_loopback(const char *url)
{
	char host[256], end;
	unsigned b[4];

	if (url_host(url, host, sizeof(host)) < 0)
		return 0;
	if (!strcasecmp(host, "localhost") || !strcmp(host, "::1"))
		return 1;
	return sscanf(host, "%u.%u.%u.%u%c", &b[0], &b[1], &b[2], &b[3], &end) == 4 &&
	       b[0] == 127 && b[1] < 256 && b[2] < 256 && b[3] < 256;
}
