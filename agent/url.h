/*
 * url: small questions about http(s) URLs, as pure functions.
 */
#ifndef AGENT_URL_H
#define AGENT_URL_H

#include <stddef.h>

/*
 * The host of an http(s)://HOST[:PORT]/… URL into out, without brackets for
 * an IPv6 literal and without user info; 0, or -1 when there is none or it
 * does not fit.
 */
int url_host(const char *url, char *out, size_t outlen);

/* Is the URL's host this machine's loopback (localhost, 127.0.0.0/8, ::1)? */
int url_is_loopback(const char *url);

/*
 * Percent-decode n bytes of s into out (NUL-terminated). -1 when a '%' is
 * not followed by two hex digits, when a decoded byte is NUL or one of
 * forbid (may be NULL; e.g. "/" for a path segment), or when out is too small.
 */
int url_pct_decode(const char *s, size_t n, char *out, size_t outlen, const char *forbid);

#endif
