/*
 * proxy: no_proxy matching (see proxy.h). Pure but for reading the
 * environment in proxy_no_proxy_env().
 */
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <arpa/inet.h>
#include <sys/socket.h>

#include "proxy.h"

/* Does addr (an IP literal) fall in the CIDR block "net/bits"? */
static int cidr_match(const char *addr, const char *net, size_t netlen)
{
	unsigned char a[16], b[16];
	char nb[64];
	const char *slash = memchr(net, '/', netlen);
	int fam, bits, len;
	char *endp;

	if (!slash || (size_t)(slash - net) >= sizeof nb)
		return 0;
	memcpy(nb, net, (size_t)(slash - net));
	nb[slash - net] = '\0';
	fam = strchr(nb, ':') ? AF_INET6 : AF_INET;
	len = fam == AF_INET6 ? 16 : 4;
	if (inet_pton(fam, nb, b) != 1 || inet_pton(fam, addr, a) != 1)
		return 0;
	bits = (int)strtol(slash + 1, &endp, 10);
	if (endp != net + netlen || bits < 0 || bits > len * 8)
		return 0;
	for (int i = 0; i < len && bits > 0; i++, bits -= 8) {
		unsigned char mask = bits >= 8 ? 0xff : (unsigned char)(0xff << (8 - bits));

		if ((a[i] & mask) != (b[i] & mask))
			return 0;
	}
	return 1;
}

int proxy_no_proxy_match(const char *list, const char *host)
{
	unsigned char ip[16];
	char h[256];
	size_t hlen = strlen(host);
	int host_is_ip;

	/* "[::1]" as a URL spells it -> "::1" */
	if (hlen >= 2 && host[0] == '[' && host[hlen - 1] == ']') {
		host++;
		hlen -= 2;
	}
	if (hlen >= sizeof h)
		return 0;
	memcpy(h, host, hlen);
	h[hlen] = '\0';
	host = h;
	host_is_ip = inet_pton(AF_INET, host, ip) == 1 || inet_pton(AF_INET6, host, ip) == 1;

	while (hlen && host[hlen - 1] == '.')
		hlen--;
	for (const char *p = list; *p; ) {
		size_t n;
		const char *e;

		p += strspn(p, ", \t");
		n = strcspn(p, ", \t");
		e = p;
		p += n;
		if (!n)
			continue;
		if (n == 1 && *e == '*')
			return 1;
		if (*e == '[' && n >= 2 && e[n - 1] == ']') {
			e++;
			n -= 2;
		}
		if (host_is_ip) {
			if (memchr(e, '/', n)) {
				if (cidr_match(host, e, n))
					return 1;
			} else if (n == hlen && !strncasecmp(e, host, n)) {
				return 1;
			}
			continue;
		}
		if (*e == '.') {
			e++;
			n--;
		}
		while (n && e[n - 1] == '.')
			n--;
		if (!n || n > hlen)
			continue;
		if (!strncasecmp(host + hlen - n, e, n) && (n == hlen || host[hlen - n - 1] == '.'))
			return 1;
	}
	return 0;
}

const char *proxy_no_proxy_env(void)
{
	const char *v = getenv("no_proxy");

	if (v && *v)
		return v;
	v = getenv("NO_PROXY");
	return v && *v ? v : NULL;
}
