/* url: see url.h. */
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "url.h"

static int hexval(int c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

int url_pct_decode(const char *s, size_t n, char *out, size_t outlen, const char *forbid)
{
	size_t o = 0;

	for (size_t i = 0; i < n; i++) {
		int c = (unsigned char)s[i];

		if (c == '%') {
			if (i + 2 >= n || hexval(s[i + 1]) < 0 || hexval(s[i + 2]) < 0)
				return -1;
			c = hexval(s[i + 1]) * 16 + hexval(s[i + 2]);
			i += 2;
			if (!c || (forbid && strchr(forbid, c)))
				return -1;
		}
		if (o + 1 >= outlen)
			return -1;
		out[o++] = (char)c;
	}
	if (!outlen)
		return -1;
	out[o] = '\0';
	return 0;
}

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
