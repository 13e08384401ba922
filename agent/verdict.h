/* SPDX-License-Identifier: MIT */
/*
 * verdict: what a server's reply means for the target that asked, in words
 * for the user. Pure: the reply and who asked in, a verdict and a sentence
 * out; no I/O (unit-tested).
 *
 *   VERDICT_OK       2xx (JSON, from a Jupyter server)
 *   VERDICT_AUTH     the token was refused: 401/403, or a redirect to a login
 *                    page; the target ends with exit code 3
 *   VERDICT_MISSING  the kernel or the server is not there: 404, 410, 424, a
 *                    hub's redirect to /hub/ (the user's server stopped), or
 *                    the hub proxy's HTML 502/503 for a server that died
 *   VERDICT_FAIL     anything else, transient: the target backs off and retries
 *
 * The words never quote a body: a hub's or a proxy's error page is HTML.
 */
#ifndef AGENT_VERDICT_H
#define AGENT_VERDICT_H

#include <stddef.h>

#include "rest.h"

enum verdict {
	VERDICT_OK,
	VERDICT_AUTH,
	VERDICT_MISSING,
	VERDICT_FAIL,
};

/* Who asked: what the verdict and its words depend on. */
struct verdict_target {
	int jupyter;		/* a Jupyter server (else a ping URL: any 2xx will do) */
	const char *url;	/* the server's URL, for the Host check's words */
	const char *token;	/* the token sent; NULL or "" when none */
	const char *hub_user;	/* the hub user whose server it is (hub.h), else NULL */
};

/* The verdict on reply r; the words go to why (always set unless VERDICT_OK). */
enum verdict verdict_of(const struct rest_reply *r, const struct verdict_target *vt,
			char *why, size_t whylen);

/* The words for a 401 or 403 (also of a WebSocket handshake) from a Jupyter server. */
void verdict_refused(const struct verdict_target *vt, int status, char *out, size_t outlen);

#endif
