/*
 * proxy: the no_proxy rules as pure functions, so that the kernel WebSocket
 * (lws has no no_proxy at all, lws #2276) and the REST calls (curl before
 * 7.86 ignores CIDR entries such as 127.0.0.0/8: Debian 11 has 7.74, Ubuntu
 * 22.04 7.81) decide alike on every libcurl the agent runs with.
 */
#ifndef AGENT_PROXY_H
#define AGENT_PROXY_H

/*
 * Does the no_proxy list exempt host? curl's rules (lib/noproxy.c):
 * entries separated by commas or spaces; "*" alone matches everything; an IP
 * address matches exactly or by CIDR block ("10.0.0.0/8", "::1/128"); a name
 * matches itself and its subdomains, with or without a leading dot.
 * Case-insensitive; ports are not part of it; host may be an IPv6 literal
 * with or without brackets. 1 = go direct, 0 = not exempt.
 */
int proxy_no_proxy_match(const char *list, const char *host);

/* The no_proxy list from the environment (no_proxy, else NO_PROXY), or NULL. */
const char *proxy_no_proxy_env(void);

#endif
