/* SPDX-License-Identifier: MIT */
/* verdict: what a server's reply means. See verdict.h. */
#include <stdio.h>
#include <string.h>

#include "url.h"
#include "verdict.h"

/*
 * A 401/403 from Jupyter Server has three causes that look alike (the body
 * is {"message": "Forbidden"} for each): no token sent, a wrong token, or its
 * Host check, which refuses a Host that is not local unless the server sets
 * allow_remote_access (base/handlers.py, check_host).
 */
void verdict_refused(const struct verdict_target *vt, int status, char *out, size_t outlen)
{
	const char *url = vt->url ? vt->url : "";
	char host[256];

	if (!vt->token || !*vt->token)
		snprintf(out, outlen, "the server requires a token and none was given (HTTP %d): set "
			 "JUPYTER_TOKEN, or token_file = in a config file (a password-only server "
			 "needs a token in its own config too; see the README)", status);
	else if (url_host(url, host, sizeof(host)) == 0 && !url_is_loopback(url))
		snprintf(out, outlen, "the server refused the request (HTTP %d): either the token is "
			 "wrong (check token, token_file or JUPYTER_TOKEN), or its Host check refused "
			 "'%.100s' (then its log says \"Blocking request with non-local 'Host'\": use "
			 "127.0.0.1 in the URL, or set ServerApp.allow_remote_access = True)",
			 status, host);
	else
		snprintf(out, outlen, "the server rejected the token (HTTP %d); check token, "
			 "token_file or JUPYTER_TOKEN", status);
}

static int contains(const char *hay, const char *needle)
{
	return hay && strstr(hay, needle) != NULL;
}

enum verdict verdict_of(const struct rest_reply *r, const struct verdict_target *vt,
			char *why, size_t whylen)
{
	long s = r->status;
	const char *user = vt->hub_user;

	if (r->curl_code) {
		snprintf(why, whylen, "cannot reach the server: %s", r->error);
		return VERDICT_FAIL;
	}
	if ((s == 401 || s == 403) && vt->jupyter) {
		if (user)
			snprintf(why, whylen, "the hub did not accept the token for /user/%s/ (HTTP %ld); "
				 "check token, token_file or JUPYTER_TOKEN", user, s);
		else
			verdict_refused(vt, (int)s, why, whylen);
		return VERDICT_AUTH;
	}
	if (s >= 300 && s < 400) {
		/* A redirect to a login page means the token was not accepted; the
		 * hub redirects /user/NAME/ to /hub/user/NAME/ when the server stopped. */
		if (contains(r->location, "/login")) {
			if (user)
				snprintf(why, whylen, "the hub did not accept the token for /user/%s/: "
					 "it redirected to its login page", user);
			else
				snprintf(why, whylen, "the server redirected to its login page: the token was not accepted");
			return VERDICT_AUTH;
		}
		if (contains(r->location, "/hub/")) {
			snprintf(why, whylen, "the user's server is not running (the hub redirected, HTTP %ld)", s);
			return VERDICT_MISSING;
		}
		snprintf(why, whylen, "unexpected redirect (HTTP %ld); is the URL the server's base URL?", s);
		return VERDICT_FAIL;
	}
	/* The hub's proxy answers 502/503 with an HTML page while a server that
	 * died is still routed; the hub drops the route at its next poll of the
	 * spawner (Spawner.poll_interval, 30 s) and redirects from then on. */
	if ((s == 502 || s == 503) && user && !rest_reply_is_json(r)) {
		snprintf(why, whylen, "the user's server is not answering (HTTP %ld from the hub's proxy)", s);
		return VERDICT_MISSING;
	}
	if (s == 404 || s == 410 || s == 424) {
		snprintf(why, whylen, "HTTP %ld", s);
		return VERDICT_MISSING;
	}
	if (s >= 200 && s < 300) {
		if (!vt->jupyter)
			return VERDICT_OK;
		if (!rest_reply_is_json(r)) {
			snprintf(why, whylen, "the server answered HTTP %ld with a page that is not JSON; is the URL a Jupyter server's base URL?", s);
			return VERDICT_FAIL;
		}
		return VERDICT_OK;
	}
	snprintf(why, whylen, "HTTP %ld", s);
	return VERDICT_FAIL;
}
