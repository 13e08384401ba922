/*
 * rest: HTTP requests with libcurl's multi interface, driven by the lws event
 * loop: curl's sockets live in a private epoll set
 * whose fd is adopted into lws as a raw file; curl's timer is an lws sul.
 * No threads of our own, no polling.
 *
 * Redirects are never followed: the reply carries the Location instead, since
 * a redirect to /hub/login means the token was not accepted.
 * Proxies come from the environment as curl reads them (http_proxy,
 * https_proxy, all_proxy, no_proxy, lowercase or uppercase), and uppercase
 * HTTP_PROXY too, which curl alone would ignore; a host that no_proxy
 * exempts by the agent's rules (proxy.h, CIDR blocks too) goes direct.
 *
 * Ownership: rest_start() returns a call handle owned by rest. It stays valid
 * until its done callback has returned, or until rest_cancel(). The reply and
 * everything it points to are valid only during the callback.
 */
#ifndef AGENT_REST_H
#define AGENT_REST_H

#include <stddef.h>
#include <libwebsockets.h>

#include "config.h"

#define REST_MAX_BODY (4u << 20)	/* bodies are truncated beyond this */

struct rest;
struct rest_call;

struct rest_request {
	const char *url;
	const char *method;		/* "GET" when NULL; "POST" sends body */
	const char *body;		/* may be NULL */
	const char *content_type;	/* for body; "application/json" when NULL */
	const char *token;		/* sends "Authorization: token …" when non-NULL and non-empty */
	const struct header_list *headers;	/* extra "Name: value" lines, may be NULL */
	const char *ca_file;		/* may be NULL */
	int insecure;			/* skip certificate and host name checks */
	long timeout_ms;		/* whole request; 30 s when 0 */
};

struct rest_reply {
	long status;			/* HTTP status, 0 when there was no response */
	int curl_code;			/* CURLcode; 0 when the transfer completed */
	const char *error;		/* when curl_code != 0: why, in the agent's words,
					 * with curl's text in parentheses; else "" */
	const char *body;		/* NUL-terminated, at most REST_MAX_BODY bytes */
	size_t len;
	int truncated;			/* the body was longer than REST_MAX_BODY */
	const char *content_type;	/* "" when none */
	const char *location;		/* redirect target (absolute), "" when none */
	const char *primary_ip;		/* the address curl connected to, "" when none */
	double seconds;			/* total time */
};

typedef void (*rest_done_fn)(void *ud, const struct rest_reply *reply);

/* The lws protocol rest uses for its adopted epoll fd; list it in the context's protocols. */
extern const struct lws_protocols rest_protocol;

/* Create the request engine on a running context with a vhost named "default"
 * that lists rest_protocol. NULL on failure. */
struct rest *rest_new(struct lws_context *ctx);

/*
 * Start a request; done(ud, reply) is called exactly once from the event loop,
 * never from inside rest_start(). Returns NULL (and logs why) when the request
 * could not be started.
 */
struct rest_call *rest_start(struct rest *rest, const struct rest_request *req,
			     rest_done_fn done, void *ud);

/* rest_start() of a request to a target's server, with its token, ca_file,
 * insecure and timeout; body may be NULL. */
static inline struct rest_call *rest_start_for(struct rest *rest, const struct target_config *tc,
					       const char *method, const char *url,
					       const char *body, rest_done_fn done, void *ud)
{
	struct rest_request req = {0};

	req.url = url;
	req.method = method;
	req.body = body;
	req.token = tc->token;
	req.ca_file = tc->ca_file;
	req.insecure = tc->insecure;
	req.timeout_ms = tc->timeout_ms;
	return rest_start(rest, &req, done, ud);
}

/* Abort a call; its done callback will not be called. NULL is ignored. */
void rest_cancel(struct rest *rest, struct rest_call *call);

/* Cancel everything and free. Call before lws_context_destroy(). NULL is ignored. */
void rest_free(struct rest *rest);

/* Is this reply a JSON document (by Content-Type, or a body starting with '{' or '[')? */
int rest_reply_is_json(const struct rest_reply *reply);

#endif
