/*
 * kernel_ws: one kernel channel (/api/kernels/<id>/channels) over
 * libwebsockets. Connects with "Authorization: token …", no Origin and no
 * subprotocol (legacy JSON framing), reassembles fragmented text frames up to
 * KWS_MAX_MESSAGE bytes, skips larger messages and binary frames unparsed as
 * they stream in, and hands small messages to jmsg_read().
 *
 * Liveness: the link is proven alive by a pong or by any reply to a request
 * of ours (a shell or control message). lws pings the server after a ping
 * interval without such proof and drops the link after twice that
 * (retry_and_idle_policy); the owner sees closed(). A link answering
 * keepalives more often than the ping interval is never pinged.
 *
 * Reading: after kws_send(), reading the link is held back for about as long
 * as the previous request's replies took (timer.h, read coalescing), so a
 * round's replies are read in one wakeup. The first request on a link is
 * never held.
 *
 * Proxies: each kws_open() picks one from the environment with curl's rules
 * (ws:// http_proxy or HTTP_PROXY, wss:// https_proxy or HTTPS_PROXY, then
 * all_proxy; none when no_proxy/NO_PROXY matches the host) and tunnels
 * through it with CONNECT; only http:// proxies work. Connections use
 * kernel_ws's own vhosts, never the context's default one, so a stray
 * http_proxy seen by lws_create_context() does not matter.
 *
 * Ownership: kws_open() returns a handle owned by kernel_ws. It stays valid
 * until closed() has been called, or until the owner calls kws_close();
 * after either, the owner must forget the pointer.
 */
#ifndef AGENT_KERNEL_WS_H
#define AGENT_KERNEL_WS_H

#include <libwebsockets.h>

#include "jmsg.h"

#define KWS_MAX_MESSAGE (64u * 1024)	/* larger messages are skipped, never buffered */
#define KWS_OVERSIZE_HEAD 1024		/* bytes of a skipped message kept for oversize() */

struct kws;

struct kws_handlers {
	/* The WebSocket handshake completed. */
	void (*opened)(void *ud);
	/* One small, parsed message arrived (m->root is the whole message, borrowed). */
	void (*message)(void *ud, const struct jmsg_info *m);
	/*
	 * A text message of len bytes was larger than KWS_MAX_MESSAGE and was
	 * skipped unparsed; head is its first head_len bytes (up to
	 * KWS_OVERSIZE_HEAD), enough to read its type. May be NULL.
	 */
	void (*oversize)(void *ud, size_t len, const char *head, size_t head_len);
	/*
	 * The connection failed or ended. http_status is the handshake's HTTP
	 * status when the server refused the upgrade (401, 403, 404, 502, …),
	 * else 0. abandoned is 1 when kernel_ws gave up on a link the server
	 * may still hold open (no handshake or no pong in time): the server
	 * learns of it late, if ever. reason is short plain text (never a
	 * server's HTML). The handle is gone after this returns.
	 */
	void (*closed)(void *ud, int http_status, int abandoned, const char *reason);
};

struct kws_params {
	const char *url;	/* ws://host:port/base/api/kernels/<id>/channels?session_id=<uuid> (or wss://) */
	const char *token;	/* may be NULL */
	const char *ca_file;	/* may be NULL */
	int insecure;		/* accept self-signed, expired, wrong host */
	int ping_secs;		/* lws ping interval; the link is dropped after 2x without a pong. 0 = 30 */
	int connect_timeout_secs; /* 0 = 20 */
};

/* The lws protocol kernel_ws uses; list it in the context's protocols. */
extern const struct lws_protocols kws_protocol;

/*
 * Start connecting. Returns NULL, with a reason in err, when the connection
 * could not even be started (bad URL, name resolution failed); closed() is
 * not called in that case.
 */
struct kws *kws_open(struct lws_context *ctx, const struct kws_params *p,
		     const struct kws_handlers *h, void *ud, char *err, size_t errlen);

/* Is the handshake done (messages can be sent)? */
int kws_is_open(const struct kws *k);

/* Queue one text message (copied). Returns 0, or -1 when not open or the queue is full. */
int kws_send(struct kws *k, const char *text);

/*
 * Close with a normal close frame (sent from the event loop); no handler is
 * called any more. NULL is ignored.
 */
void kws_close(struct kws *k);

/* Connections still open or closing (for a bounded shutdown wait). */
int kws_live_count(void);

#endif
