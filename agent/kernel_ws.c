/*
 * kernel_ws: one kernel channel over libwebsockets (see kernel_ws.h).
 *
 * Lifetime: a struct kws is the wsi's user data. lws ends a client wsi with
 * exactly one "it is over" callback, also during lws_context_destroy():
 * CLIENT_CONNECTION_ERROR, CLIENT_CLOSED, or (4.1, when the wsi dies while
 * still waiting for the server's reply and so still has the h1 role)
 * CLOSED_CLIENT_HTTP; they are mutually exclusive (lib/core-net/close.c).
 * The struct is freed there and the wsi's user pointer cleared, so nothing
 * later can reach it. WSI_DESTROY is a last-resort fallback only: it goes to
 * protocols[0] of the vhost, which may be someone else's, so it checks the
 * wsi's protocol first.
 */
#include <ctype.h>
#include <limits.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "kernel_ws.h"
#include "log.h"
#include "proxy.h"
#include "timer.h"
#include "tls.h"
#include "url.h"

#define KWS_TXQ		8	/* queued outgoing messages per connection */
#define KWS_RX_FIRST	4096	/* first size of the reassembly buffer */
#define KWS_REASON_MAX	120	/* longest reason text handed to closed() */
#define KWS_TOKEN_MAX	2048	/* the handshake header buffer is ~3.8 KB */
#define KWS_CLOSE_GRACE	5	/* seconds for the close handshake before a hard close */
#define KWS_VHOSTS	16	/* distinct (CA file, proxy) pairs per process */
#define KWS_POLICIES	16	/* distinct ping intervals per process */
#define LOGT		"ws"

struct txmsg {
	unsigned char *buf;	/* LWS_PRE bytes of headroom, then the text */
	size_t len;
};

struct kws {
	struct lws_context *ctx;
	struct lws *wsi;		/* NULL once lws is done with it */
	struct kws_handlers h;		/* zeroed by kws_close() */
	void *ud;

	char *auth;			/* "token <t>": never logged */
	size_t auth_len;
	char label[96];			/* for debug logs */
	char hostname[256];		/* for TLS error messages */
	char proxy[80];			/* "host:port" when proxied (no credentials), else "" */
	unsigned tls:1;

	unsigned established:1;
	unsigned closing:1;		/* kws_close() was called */
	unsigned in_connect:1;		/* inside lws_client_connect_via_info() */
	unsigned gone_early:1;		/* lws ended the wsi inside that call */
	unsigned timed_out:1;		/* our connect timer fired */

	int http_status;		/* handshake reply, when seen */
	int peer_close_code;		/* from the server's close frame */
	const char *why;		/* our own reason for a close, static text */
	int connect_timeout_secs;
	int hangup_secs;
	struct timespec last_valid;	/* handshake or last pong */
	lws_sorted_usec_list_t sul_connect;

	/* receive: one message at a time */
	char *rx;
	size_t rx_len, rx_cap;
	unsigned rx_active:1;
	unsigned rx_skip:1;		/* binary or too large: drop until the final fragment */
	unsigned rx_big:1;		/* skipping a text message that was too large */
	size_t big_len;			/* its bytes so far */
	size_t big_head_len;
	char big_head[KWS_OVERSIZE_HEAD];	/* its start, for oversize() */
	unsigned long skipped, parse_errors;

	/* send */
	struct txmsg txq[KWS_TXQ];
	unsigned tx_head, tx_count;

	/* read coalescing (timer.h): hold reading after a send for about as
	 * long as the replies to the previous one took to arrive */
	struct timer_hold hold;
	char sent_id[64];		/* msg_id of the last request sent */
	int64_t sent_us;		/* and when it was queued */
	int64_t hold_us;		/* how long to hold; 0 = not learnt yet */
	unsigned sends;			/* requests sent on this link */
};

static int live_count;

static int kws_callback(struct lws *wsi, enum lws_callback_reasons reason,
			void *user, void *in, size_t len);

const struct lws_protocols kws_protocol = {
	.name = "jupyter-kernel-ws",
	.callback = kws_callback,
	.per_session_data_size = 0,
	/*
	 * lws gathers up to this much of a frame before calling back (the
	 * socket is still read in pt_serv_buf_size steps), so a 300 KB
	 * output arrives in ~5 callbacks instead of ~74. Costs 64 KB per
	 * connection. With tx_packet_size 0 it also bounds one socket
	 * write; lws buffers the rest itself.
	 */
	.rx_buffer_size = 65536,
};

int kws_live_count(void)
{
	return live_count;
}

int kws_is_open(const struct kws *k)
{
	return k && k->established && !k->closing && k->wsi;
}

static void set_err(char *err, size_t errlen, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static void set_err(char *err, size_t errlen, const char *fmt, ...)
{
	va_list ap;

	if (!err || !errlen)
		return;
	va_start(ap, fmt);
	vsnprintf(err, errlen, fmt, ap);
	va_end(ap);
}

/* ---- URL ---------------------------------------------------------------- */

struct ws_url {
	int tls;
	int port;
	char address[256];	/* name or IP; IPv6 without brackets */
	char host[300];		/* Host header: name[:port], [v6][:port] */
	char path[2048];	/* starts with '/', includes the query */
};

static int parse_port(const char *s, size_t n)
{
	int port = 0;

	if (n == 0 || n > 5)
		return -1;
	for (size_t i = 0; i < n; i++) {
		if (!isdigit((unsigned char)s[i]))
			return -1;
		port = port * 10 + (s[i] - '0');
	}
	return port >= 1 && port <= 65535 ? port : -1;
}

static int parse_ws_url(const char *url, struct ws_url *u, char *err, size_t errlen)
{
	const char *p, *auth, *auth_end, *host, *host_end, *port_s = NULL;
	size_t host_len, n;
	int v6 = 0, defport;

	memset(u, 0, sizeof *u);
	if (!strncasecmp(url, "ws://", 5)) {
		p = url + 5;
	} else if (!strncasecmp(url, "wss://", 6)) {
		p = url + 6;
		u->tls = 1;
	} else {
		set_err(err, errlen, "not a ws:// or wss:// URL");
		return -1;
	}
	defport = u->tls ? 443 : 80;

	for (const char *c = url; *c; c++)
		if ((unsigned char)*c <= ' ' || *c == 0x7f) {
			set_err(err, errlen, "URL contains spaces or control characters");
			return -1;
		}

	auth = p;
	auth_end = auth + strcspn(auth, "/?#");
	if (memchr(auth, '@', (size_t)(auth_end - auth))) {
		set_err(err, errlen, "user:password@ in a WebSocket URL is not supported");
		return -1;
	}

	if (*auth == '[') {
		host = auth + 1;
		host_end = memchr(host, ']', (size_t)(auth_end - host));
		if (!host_end) {
			set_err(err, errlen, "unterminated [IPv6] address in URL");
			return -1;
		}
		v6 = 1;
		if (host_end + 1 < auth_end) {
			if (host_end[1] != ':') {
				set_err(err, errlen, "bad text after [IPv6] address in URL");
				return -1;
			}
			port_s = host_end + 2;
		}
	} else {
		host = auth;
		host_end = memchr(auth, ':', (size_t)(auth_end - auth));
		if (host_end) {
			port_s = host_end + 1;
			if (memchr(port_s, ':', (size_t)(auth_end - port_s))) {
				set_err(err, errlen, "IPv6 addresses in URLs need [brackets]");
				return -1;
			}
		} else {
			host_end = auth_end;
		}
	}

	host_len = (size_t)(host_end - host);
	if (host_len == 0 || host_len >= sizeof u->address) {
		set_err(err, errlen, "missing or too long host name in URL");
		return -1;
	}
	memcpy(u->address, host, host_len);

	u->port = defport;
	if (port_s) {
		u->port = parse_port(port_s, (size_t)(auth_end - port_s));
		if (u->port < 0) {
			set_err(err, errlen, "bad port in URL");
			return -1;
		}
	}

	/* Like browsers and curl, leave a default port out of Host: proxies may route on it. */
	if (u->port == defport)
		snprintf(u->host, sizeof u->host, v6 ? "[%s]" : "%s", u->address);
	else
		snprintf(u->host, sizeof u->host, v6 ? "[%s]:%d" : "%s:%d", u->address, u->port);

	p = auth_end;
	n = strcspn(p, "#");
	if (n + 2 > sizeof u->path) {
		set_err(err, errlen, "URL path too long");
		return -1;
	}
	if (*p != '/')
		u->path[0] = '/';
	memcpy(u->path + strlen(u->path), p, n);
	return 0;
}

/* "host kernel 1a2b3c4d" (or host and path): enough to tell connections apart in debug logs. */
static void make_label(char *out, size_t outlen, const struct ws_url *u)
{
	const char *id = strstr(u->path, "/api/kernels/");
	size_t n;

	if (id) {
		id += strlen("/api/kernels/");
		n = strcspn(id, "/?");
		snprintf(out, outlen, "%.60s kernel %.*s", u->host, (int)(n < 8 ? n : 8), id);
	} else {
		n = strcspn(u->path, "?");
		snprintf(out, outlen, "%.60s%.*s", u->host, (int)(n < 30 ? n : 30), u->path);
	}
}

/* ---- shared lws objects ------------------------------------------------- */

/*
 * The retry policy is referenced by the wsi for its whole life, so it lives
 * in static storage. lws never retries by itself (only lws_retry_sul_*()
 * would use the table); the owner reconnects by calling kws_open() again.
 * Only the idle part matters: hang up after 2x ping_secs without proof of
 * life, and PING at 1.5x, so that a server which pings on its own at
 * ping_secs or more often (jupyter_server: every 30 s, WS_PING_INTERVAL)
 * keeps the link proven and our PING never has to go out (on_writeable).
 */
static const uint32_t retry_table[] = { 1000 };
static lws_retry_bo_t policies[KWS_POLICIES];
static int npolicies;

static const lws_retry_bo_t *policy_for(int ping)
{
	int best = 0;

	for (int i = 0; i < npolicies; i++)
		if (policies[i].secs_since_valid_hangup == 2 * ping)
			return &policies[i];
	if (npolicies < KWS_POLICIES) {
		lws_retry_bo_t *bo = &policies[npolicies++];

		bo->retry_ms_table = retry_table;
		bo->retry_ms_table_count = LWS_ARRAY_SIZE(retry_table);
		bo->conceal_count = 0;
		bo->secs_since_valid_ping = (uint16_t)(ping + ping / 2);
		bo->secs_since_valid_hangup = (uint16_t)(2 * ping);
		bo->jitter_percent = 0;
		return bo;
	}
	/* Table full (many distinct intervals): the nearest one. */
	for (int i = 1; i < npolicies; i++)
		if (abs(policies[i].secs_since_valid_hangup - 2 * ping) <
		    abs(policies[best].secs_since_valid_hangup - 2 * ping))
			best = i;
	return &policies[best];
}

/* ---- proxies ------------------------------------------------------------ */

/*
 * libwebsockets reads only a lowercase http_proxy, and only when a vhost is
 * created; it has no no_proxy (lws #2276) and speaks only plain-http proxies
 * through CONNECT (#3323). So the choice is made here, per URL, the way curl
 * makes it for the REST calls (lib/url.c): <scheme>_proxy, then all_proxy,
 * lowercase before uppercase (curl reads only lowercase http_proxy; we take
 * HTTP_PROXY too and rest.c does the same), unless no_proxy matches the host.
 */
struct proxy {
	char host[256];		/* name or IP; IPv6 without brackets */
	int port;
	char auth[128];		/* "user:password", percent-decoded, or "" */
	char lws_address[400];	/* what lws_set_proxy() parses: [auth@]host or [auth@][v6] */
};

static const char *env_nonempty(const char *name)
{
	const char *v = getenv(name);

	return v && *v ? v : NULL;
}

/*
 * Parse a proxy URL: [http://][user[:password]@]host[:port][/]. No scheme
 * means http, as for curl; so does curl's default port, 1080.
 */
static int parse_proxy(const char *url, struct proxy *px, char *err, size_t errlen)
{
	const char *p = url, *end, *at, *host, *host_end, *port_s = NULL;
	const char *scheme_end = strstr(url, "://");
	size_t n;
	int v6 = 0;

	memset(px, 0, sizeof *px);
	if (scheme_end) {
		n = (size_t)(scheme_end - url);
		if (n != 4 || strncasecmp(url, "http", 4)) {
			set_err(err, errlen, "%.*s:// proxies are not supported for the kernel WebSocket "
				"(only http://)", (int)(n < 16 ? n : 16), url);
			return -1;
		}
		p = scheme_end + 3;
	}
	end = p + strcspn(p, "/?#");
	at = NULL;
	for (const char *c = p; c < end; c++)
		if (*c == '@')
			at = c;
	if (at) {
		if (url_pct_decode(p, (size_t)(at - p), px->auth, sizeof px->auth, NULL)) {
			set_err(err, errlen, "proxy user name or password too long");
			return -1;
		}
		p = at + 1;
	}
	if (*p == '[') {
		host = p + 1;
		host_end = memchr(host, ']', (size_t)(end - host));
		if (!host_end) {
			set_err(err, errlen, "bad proxy address (unterminated [IPv6])");
			return -1;
		}
		v6 = 1;
		if (host_end + 1 < end && host_end[1] == ':')
			port_s = host_end + 2;
	} else {
		host = p;
		host_end = memchr(p, ':', (size_t)(end - p));
		if (host_end)
			port_s = host_end + 1;
		else
			host_end = end;
	}
	n = (size_t)(host_end - host);
	if (n == 0 || n >= sizeof px->host) {
		set_err(err, errlen, "bad proxy address (no host name)");
		return -1;
	}
	memcpy(px->host, host, n);
	px->port = 1080;
	if (port_s && port_s < end) {
		px->port = parse_port(port_s, (size_t)(end - port_s));
		if (px->port < 0) {
			set_err(err, errlen, "bad port in the proxy address");
			return -1;
		}
	}
	/* lws base64-encodes "user:password" itself and parses [v6] brackets. */
	if ((size_t)snprintf(px->lws_address, sizeof px->lws_address, v6 ? "%s%s[%s]" : "%s%s%s",
			     px->auth, px->auth[0] ? "@" : "", px->host) >= sizeof px->lws_address) {
		set_err(err, errlen, "proxy address too long");
		return -1;
	}
	return 0;
}

/* 1 and *px filled: go through that proxy; 0: direct; -1: unusable proxy setting (err). */
static int proxy_for(const struct ws_url *u, struct proxy *px, char *err, size_t errlen)
{
	const char *url = NULL, *no;

	if (u->tls)
		url = env_nonempty("https_proxy") ? env_nonempty("https_proxy") : env_nonempty("HTTPS_PROXY");
	else
		url = env_nonempty("http_proxy") ? env_nonempty("http_proxy") : env_nonempty("HTTP_PROXY");
	if (!url)
		url = env_nonempty("all_proxy") ? env_nonempty("all_proxy") : env_nonempty("ALL_PROXY");
	if (!url)
		return 0;
	no = proxy_no_proxy_env();
	if (no && proxy_no_proxy_match(no, u->address))
		return 0;
	return parse_proxy(url, px, err, errlen) ? -1 : 1;
}

/* ---- vhosts ------------------------------------------------------------- */

/*
 * Every connection goes through a vhost of ours, one per (CA file, proxy)
 * pair, never the context's default vhost: lws gave that one whatever
 * http_proxy said when the context was made, no_proxy or not. lws keeps
 * the vhost name pointer (not a copy), so names live in static storage;
 * a slot serves later contexts too. Credentials stay out of the names,
 * which lws may log.
 */
struct vhost_slot {
	char name[16];		/* "kws-N" */
	int tls;		/* has a client SSL_CTX (wss:// only: loading CAs costs ~25 ms) */
	char ca_file[PATH_MAX];	/* "" = the system's CAs */
	char proxy[sizeof ((struct proxy *)0)->lws_address + 8];	/* "" = direct */
	int proxy_port;
};

static struct vhost_slot slots[KWS_VHOSTS];
static struct lws_protocols vh_protocols[2];

static struct lws_vhost *get_vhost(struct lws_context *ctx, int tls, const char *ca_file,
				   const struct proxy *px, char *err, size_t errlen)
{
	struct lws_context_creation_info info;
	struct vhost_slot *s = NULL;
	struct lws_vhost *vh;
	const char *proxy = px ? px->lws_address : "";
	int port = px ? px->port : 0;

	if (!ca_file)
		ca_file = "";
	if (strlen(ca_file) >= sizeof s->ca_file || strlen(proxy) >= sizeof s->proxy) {
		set_err(err, errlen, "CA file path or proxy address too long");
		return NULL;
	}
	for (int i = 0; i < KWS_VHOSTS && !s; i++) {
		if (!slots[i].name[0]) {
			s = &slots[i];
			snprintf(s->name, sizeof s->name, "kws-%d", i);
			s->tls = tls;
			memcpy(s->ca_file, ca_file, strlen(ca_file) + 1);
			memcpy(s->proxy, proxy, strlen(proxy) + 1);
			s->proxy_port = port;
		} else if (slots[i].tls == tls && !strcmp(slots[i].ca_file, ca_file) &&
			   !strcmp(slots[i].proxy, proxy) && slots[i].proxy_port == port) {
			s = &slots[i];
		}
	}
	if (!s) {
		set_err(err, errlen, "too many different CA files and proxies");
		return NULL;
	}
	vh = lws_get_vhost_by_name(ctx, s->name);
	if (vh)
		return vh;

	/* lws only logs an unreadable CA file and goes on without it. */
	if (*ca_file && access(ca_file, R_OK) != 0) {
		set_err(err, errlen, "cannot read CA file %s", ca_file);
		return NULL;
	}

	vh_protocols[0] = kws_protocol;
	memset(&vh_protocols[1], 0, sizeof vh_protocols[1]);

	memset(&info, 0, sizeof info);
	info.port = CONTEXT_PORT_NO_LISTEN;
	info.vhost_name = s->name;
	info.protocols = vh_protocols;
	/* Without DO_SSL_GLOBAL_INIT a vhost gets no client SSL_CTX (lib/tls/tls-client.c):
	 * what a ws:// vhost wants, since that SSL_CTX reads the system's CA bundle. */
	info.options = tls ? LWS_SERVER_OPTION_DO_SSL_GLOBAL_INIT : 0;
	if (*ca_file)
		info.client_ssl_ca_filepath = ca_file;
	/*
	 * A non-NULL http_proxy_address stops lws from reading http_proxy.
	 * For a direct vhost, ":0" parses to port 0, which lws treats as "no
	 * proxy" (lws_set_proxy() in lib/core-net/client.c, 4.0 and 4.1).
	 */
	if (*s->proxy) {
		info.http_proxy_address = s->proxy;
		info.http_proxy_port = (unsigned int)s->proxy_port;
	} else {
		info.http_proxy_address = ":0";
	}
	vh = lws_create_vhost(ctx, &info);
	if (!vh && *ca_file)
		set_err(err, errlen, "cannot set up TLS with CA file %s", ca_file);
	else if (!vh)
		set_err(err, errlen, "cannot set up a libwebsockets client vhost");
	return vh;
}

/* ---- connection --------------------------------------------------------- */

static void kws_free(struct kws *k)
{
	if (!k)
		return;
	timer_cancel(k->ctx, &k->sul_connect);
	for (unsigned i = 0; i < k->tx_count; i++)
		free(k->txq[(k->tx_head + i) % KWS_TXQ].buf);
	free(k->rx);
	if (k->auth) {
		memset(k->auth, 0, k->auth_len);	/* best effort; not a security boundary */
		free(k->auth);
	}
	live_count--;
	free(k);
}

/* lws is done with the wsi: detach and free. */
static void kws_release(struct kws *k, struct lws *wsi)
{
	timer_hold_forget(&k->hold);
	if (wsi)
		lws_set_wsi_user(wsi, NULL);
	k->wsi = NULL;
	kws_free(k);
}

static void connect_timer(lws_sorted_usec_list_t *sul)
{
	struct kws *k = lws_container_of(sul, struct kws, sul_connect);

	if (k->established || !k->wsi)
		return;
	if (!k->closing) {
		k->timed_out = 1;
		log_debug(LOGT, "%s: no handshake after %d s", k->label, k->connect_timeout_secs);
	}
	lws_set_timeout(k->wsi, PENDING_TIMEOUT_USER_OK, LWS_TO_KILL_ASYNC);
	/* lws may re-arm its own timeout on the next phase; come back to kill again. */
	lws_sul_schedule(k->ctx, 0, &k->sul_connect, connect_timer, LWS_US_PER_SEC);
}

struct kws *kws_open(struct lws_context *ctx, const struct kws_params *p,
		     const struct kws_handlers *h, void *ud, char *err, size_t errlen)
{
	struct lws_client_connect_info i;
	struct lws_vhost *vh = NULL;
	struct proxy px;
	struct ws_url u;
	struct kws *k;
	struct lws *wsi;
	int ping, proxied;

	if (!ctx || !p || !p->url) {
		set_err(err, errlen, "no URL");
		return NULL;
	}
	if (parse_ws_url(p->url, &u, err, errlen))
		return NULL;
	if (p->token && (strpbrk(p->token, "\r\n") || strlen(p->token) > KWS_TOKEN_MAX)) {
		set_err(err, errlen, "token is too long or contains a line break");
		return NULL;
	}
	proxied = proxy_for(&u, &px, err, errlen);
	if (proxied < 0)
		return NULL;
	vh = get_vhost(ctx, u.tls, u.tls ? p->ca_file : NULL, proxied ? &px : NULL, err, errlen);
	if (!vh)
		return NULL;

	k = calloc(1, sizeof *k);
	if (!k) {
		set_err(err, errlen, "out of memory");
		return NULL;
	}
	live_count++;
	k->ctx = ctx;
	if (h)
		k->h = *h;
	k->ud = ud;
	if (p->token && *p->token) {
		k->auth_len = strlen("token ") + strlen(p->token);
		k->auth = malloc(k->auth_len + 1);
		if (!k->auth) {
			kws_free(k);
			set_err(err, errlen, "out of memory");
			return NULL;
		}
		snprintf(k->auth, k->auth_len + 1, "token %s", p->token);
	}
	make_label(k->label, sizeof k->label, &u);
	snprintf(k->hostname, sizeof k->hostname, "%s", u.address);
	k->tls = u.tls;
	if (proxied)
		snprintf(k->proxy, sizeof k->proxy, strchr(px.host, ':') ? "[%.60s]:%d" : "%.60s:%d",
			 px.host, px.port);

	ping = p->ping_secs > 0 ? p->ping_secs : 30;
	if (ping > 32767)
		ping = 32767;	/* the hangup time (2x) is a uint16_t */
	k->hangup_secs = 2 * ping;
	k->connect_timeout_secs = p->connect_timeout_secs > 0 ? p->connect_timeout_secs : 20;

	memset(&i, 0, sizeof i);
	i.context = ctx;
	i.vhost = vh;
	i.address = u.address;
	i.port = u.port;
	i.path = u.path;
	i.host = u.host;
	i.origin = NULL;	/* lws would prefix "http://"; token auth skips the Origin check */
	i.protocol = NULL;	/* no subprotocol: legacy JSON framing (Notebook 6 drops v1) */
	i.local_protocol_name = kws_protocol.name;
	i.userdata = k;
	i.pwsi = &k->wsi;
	i.alpn = "http/1.1";	/* the default ALPN list offers h2, and ws-over-h2 is unsupported */
	i.retry_and_idle_policy = policy_for(ping);
	/*
	 * Never follow redirects: a hub sends a stopped server's requests to
	 * /hub/..., and lws would resend our token wherever Location points.
	 * The 3xx then surfaces as a refused handshake.
	 */
	i.ssl_connection = LCCSCF_HTTP_NO_FOLLOW_REDIRECT;
	if (u.tls) {
		i.ssl_connection |= LCCSCF_USE_SSL;
		if (p->insecure)
			i.ssl_connection |= LCCSCF_ALLOW_SELFSIGNED | LCCSCF_ALLOW_INSECURE |
					    LCCSCF_ALLOW_EXPIRED |
					    LCCSCF_SKIP_SERVER_CERT_HOSTNAME_CHECK;
	}

	/*
	 * Failures inside this call (name resolution, an immediate connect
	 * error) return NULL without CONNECTION_ERROR (lws #2301, #2275); a
	 * CLIENT_CLOSED may still slip through, so callbacks seen while
	 * in_connect only detach the wsi (gone_early) and we clean up here.
	 */
	k->in_connect = 1;
	wsi = lws_client_connect_via_info(&i);
	k->in_connect = 0;
	if (!wsi || k->gone_early) {
		/* k->wsi may point to a freed wsi here (lws sets *pwsi early): don't touch it. */
		k->wsi = NULL;
		kws_free(k);
		if (proxied)
			set_err(err, errlen, "cannot connect to the proxy %s:%d (name resolution or "
				"connect failed)", px.host, px.port);
		else
			set_err(err, errlen, "cannot connect to %s (name resolution or connect failed)",
				u.host);
		return NULL;
	}
	k->wsi = wsi;
	lws_sul_schedule(ctx, 0, &k->sul_connect, connect_timer,
			 (lws_usec_t)k->connect_timeout_secs * LWS_US_PER_SEC);
	if (proxied)
		log_debug(LOGT, "%s: connecting through the proxy %s:%d", k->label, px.host, px.port);
	else
		log_debug(LOGT, "%s: connecting", k->label);
	return k;
}

/*
 * Replies to a request: a kernel answers each one with a few messages (busy,
 * the reply, idle) that name it as their parent. The first request on a link
 * is read as it comes, which measures how long its replies take (at most
 * KWS_HOLD_FIRST_US counts: a kernel's first reply on a link is slow); later
 * ones hold the link about that long (timer.h), so a round costs one wakeup
 * to send and one to read. A reply later than the hold teaches a longer one;
 * each hold is a 32nd shorter than the last, so it follows the server down
 * slowly: holding longer costs nothing but the delay, while a hold that ends
 * before the replies are in costs a wakeup for each one that trickles in
 * (with prompt acknowledgements, see ack_promptly, they come a few
 * milliseconds apart rather than in one burst).
 */
#define KWS_HOLD_FIRST_US 50000
#define KWS_HOLD_MIN_US 2000
#define KWS_HOLD_LEARN_US TIMER_HOLD_MAX_US	/* slower replies (queued behind a cell) teach nothing */

static void hold_after_send(struct kws *k, const char *text)
{
	const char *p = strstr(text, "\"msg_id\"");
	size_t n;

	k->sent_id[0] = '\0';
	k->sent_us = timer_mono_us();
	k->sends++;
	/* Our requests have an empty parent_header: the one msg_id is the header's. */
	if (p && (p = strchr(p + 8, '"')) && (n = strcspn(p + 1, "\"")) < sizeof(k->sent_id))
		snprintf(k->sent_id, sizeof(k->sent_id), "%.*s", (int)n, p + 1);
	if (!k->hold_us || !k->sent_id[0])
		return;
	timer_hold(k->ctx, &k->hold, k->wsi, k->hold_us);
	k->hold_us -= k->hold_us / 32;
	if (k->hold_us < KWS_HOLD_MIN_US)
		k->hold_us = KWS_HOLD_MIN_US;
}

/* A message in reply to our last request arrived: learn from when. */
static void hold_learn(struct kws *k, const struct jmsg_info *m)
{
	int64_t now = timer_mono_us(), took = now - k->sent_us;

	if (!k->sent_id[0] || strcmp(m->parent_msg_id, k->sent_id))
		return;
	/* Read in the pass that resumed the link: it was waiting, in time. */
	if (k->hold.resumed_us && now - k->hold.resumed_us < 1000 && k->hold.resumed_us > k->sent_us)
		return;
	if (took <= 0 || took > KWS_HOLD_LEARN_US)
		return;
	took += took / 2 + 1000;
	if (k->sends == 1 && took > KWS_HOLD_FIRST_US)
		took = KWS_HOLD_FIRST_US;
	if (took > k->hold_us)
		k->hold_us = took < TIMER_HOLD_MAX_US ? took : TIMER_HOLD_MAX_US;
}

int kws_send(struct kws *k, const char *text)
{
	struct txmsg *m;
	size_t len;

	if (!kws_is_open(k) || !text || k->tx_count == KWS_TXQ)
		return -1;
	len = strlen(text);
	if (len > KWS_MAX_MESSAGE)
		return -1;
	m = &k->txq[(k->tx_head + k->tx_count) % KWS_TXQ];
	m->buf = malloc(LWS_PRE + len);
	if (!m->buf)
		return -1;
	memcpy(m->buf + LWS_PRE, text, len);
	m->len = len;
	k->tx_count++;
	lws_callback_on_writable(k->wsi);
	hold_after_send(k, text);
	return 0;
}

void kws_close(struct kws *k)
{
	if (!k || k->closing)
		return;
	k->closing = 1;
	memset(&k->h, 0, sizeof k->h);
	k->ud = NULL;
	if (!k->wsi)
		return;
	if (!k->established) {
		/* Still connecting: no close frame to send, just drop it. */
		lws_set_timeout(k->wsi, PENDING_TIMEOUT_USER_OK, LWS_TO_KILL_ASYNC);
		return;
	}
	/* The close frame goes out from WRITEABLE; hard close if that never comes. */
	lws_set_timeout(k->wsi, PENDING_TIMEOUT_USER_OK, KWS_CLOSE_GRACE);
	lws_callback_on_writable(k->wsi);
}

/* ---- callback helpers --------------------------------------------------- */

/*
 * A reason from lws for closed(): at most KWS_REASON_MAX printable ASCII
 * characters, and nothing that looks like markup.
 */
static void clean_reason(char *out, size_t outlen, const char *in, size_t len)
{
	size_t n, o = 0;

	if (!in || !*in) {
		snprintf(out, outlen, "connection failed");
		return;
	}
	n = strnlen(in, len ? len : KWS_REASON_MAX + 1);
	if (memchr(in, '<', n) || memchr(in, '>', n)) {
		snprintf(out, outlen, "connection failed");
		return;
	}
	/* OpenSSL's part of this one reads "error:00000001:lib(0)::reason(1)"; lws logs the cause. */
	if (n >= 15 && !strncmp(in, "connect SSL err", 15)) {
		snprintf(out, outlen, "TLS handshake failed (untrusted certificate, wrong host name,"
			 " or not a TLS server)");
		return;
	}
	for (size_t j = 0; j < n && j < KWS_REASON_MAX && o + 1 < outlen; j++) {
		unsigned char c = (unsigned char)in[j];

		out[o++] = (c >= 0x20 && c < 0x7f) ? (char)c : '?';
	}
	out[o] = '\0';
	while (o > 0 && (out[o - 1] == ' ' || out[o - 1] == '\n'))
		out[--o] = '\0';
	if (n > KWS_REASON_MAX && o + 4 < outlen)
		strcat(out, "...");
}

/* Traffic went both ways: reset lws's ping and hang-up clock, and ours. */
static void link_proven(struct kws *k, struct lws *wsi)
{
	lws_validity_confirmed(wsi);
	clock_gettime(CLOCK_MONOTONIC, &k->last_valid);
}

static void rx_deliver(struct kws *k, const char *msg, size_t len)
{
	struct jmsg_info info;
	json_t *root;
	char err[128];

	/* Parsed once: the handler gets the whole message in info.root. */
	if (jmsg_parse(msg, len, &info, &root, err, sizeof err)) {
		if (k->parse_errors++ == 0)
			log_debug(LOGT, "%s: unreadable message (%s); further ones not logged",
				  k->label, err);
		return;
	}
	/*
	 * A shell or control message answers a request of ours (the server
	 * gives each connection its own shell and control streams): traffic
	 * went both ways, as a pong proves. lws then pings only after a
	 * ping interval without such proof, so a link that keeps answering
	 * keepalives within it is never pinged at all.
	 */
	if (k->wsi && (!strcmp(info.channel, "shell") || !strcmp(info.channel, "control")))
		link_proven(k, k->wsi);
	hold_learn(k, &info);
	if (k->h.message)
		k->h.message(k->ud, &info);
	json_decref(root);
}

/* A text message turned out too large: keep its start for oversize(). */
static void rx_too_big(struct kws *k, const void *in, size_t len)
{
	const char *src = k->rx_len ? k->rx : in;
	size_t n = k->rx_len ? k->rx_len : len;

	k->rx_skip = 1;
	k->rx_big = 1;
	k->skipped++;
	k->big_len = k->rx_len + len;
	k->big_head_len = n < sizeof k->big_head ? n : sizeof k->big_head;
	if (src)
		memcpy(k->big_head, src, k->big_head_len);
	else
		k->big_head_len = 0;
}

static void rx_append(struct kws *k, const void *in, size_t len)
{
	if (k->rx_skip) {
		k->big_len += len;
		return;
	}
	if (len > KWS_MAX_MESSAGE - k->rx_len) {
		rx_too_big(k, in, len);
		return;
	}
	if (k->rx_len + len + 1 > k->rx_cap) {
		size_t cap = k->rx_cap ? k->rx_cap : KWS_RX_FIRST;
		char *nb;

		while (cap < k->rx_len + len + 1)
			cap *= 2;
		if (cap > KWS_MAX_MESSAGE + 1)
			cap = KWS_MAX_MESSAGE + 1;
		nb = realloc(k->rx, cap);
		if (!nb) {
			k->rx_skip = 1;
			k->skipped++;
			return;
		}
		k->rx = nb;
		k->rx_cap = cap;
	}
	memcpy(k->rx + k->rx_len, in, len);
	k->rx_len += len;
	k->rx[k->rx_len] = '\0';
}

static void on_receive(struct kws *k, struct lws *wsi, const void *in, size_t len)
{
	if (lws_is_first_fragment(wsi) || !k->rx_active) {
		k->rx_active = 1;
		k->rx_len = 0;
		/* Binary frames carry buffers (widgets); nothing we read. */
		k->rx_skip = 0;
		k->rx_big = 0;
		if (lws_frame_is_binary(wsi)) {
			k->rx_skip = 1;
			k->skipped++;
		}
	}
	/* A whole message in one fragment (the usual case) is read in place. */
	if (!k->rx_len && !k->rx_skip && len && len <= KWS_MAX_MESSAGE &&
	    lws_is_final_fragment(wsi)) {
		if (!k->closing)
			rx_deliver(k, in, len);
		k->rx_active = 0;
		return;
	}
	if (in && len)
		rx_append(k, in, len);
	if (!lws_is_final_fragment(wsi))
		return;
	if (!k->rx_skip && !k->closing)
		rx_deliver(k, k->rx, k->rx_len);
	else if (k->rx_big && !k->closing && k->h.oversize)
		k->h.oversize(k->ud, k->big_len, k->big_head, k->big_head_len);
	k->rx_active = 0;
	k->rx_skip = 0;
	k->rx_big = 0;
	k->rx_len = 0;
}

static double secs_since(const struct timespec *t)
{
	struct timespec now;

	clock_gettime(CLOCK_MONOTONIC, &now);
	return (double)(now.tv_sec - t->tv_sec) + (now.tv_nsec - t->tv_nsec) / 1e9;
}

/*
 * jupyter_server's sockets keep Nagle on (tornado sets TCP_NODELAY only when
 * asked), so after the first frame of an answer (the kernel's "busy") it
 * holds the rest until that frame is acknowledged; and Linux delays that
 * acknowledgement by up to 40 ms on a connection that just sent data (it
 * takes it for interactive: tcp_event_data_sent() enters "pingpong" mode).
 * Every keepalive's reply came ~45 ms late for that alone. Leaving the mode
 * after each write makes the kernel acknowledge at once, and the reply
 * arrives in ~5 ms. Linux only; the option is not sticky, hence each write.
 */
static void ack_promptly(struct lws *wsi)
{
#ifdef TCP_QUICKACK
	int one = 1;

	(void)setsockopt(lws_get_socket_fd(wsi), IPPROTO_TCP, TCP_QUICKACK, &one, sizeof one);
#else
	(void)wsi;
#endif
}

static int on_writeable(struct kws *k, struct lws *wsi)
{
	struct txmsg *m;
	int n;

	if (k->closing) {
		static const char bye[] = "agent stopping";

		lws_close_reason(wsi, LWS_CLOSE_STATUS_NORMAL,
				 (unsigned char *)(uintptr_t)bye, sizeof bye - 1);
		return -1;
	}
	if (!k->tx_count) {
		/*
		 * lws asks for a writable after each control frame it wrote
		 * itself (ops-ws.c: "leave POLLOUT active either way"): its own
		 * PING, or a PONG to the server's PING. lws pings only after
		 * 1.5x ping_secs without proof, so one that comes sooner was a
		 * PONG: the server's PING arrived, which proves the link as
		 * well as a PONG of ours would (lws itself counts only PONGs).
		 */
		if (k->established && secs_since(&k->last_valid) < k->hangup_secs * 3 / 4 - 1)
			link_proven(k, wsi);
		return 0;
	}

	m = &k->txq[k->tx_head];
	/* lws masks the payload in place; the buffer is scrap afterwards. */
	n = lws_write(wsi, m->buf + LWS_PRE, m->len, LWS_WRITE_TEXT);
	ack_promptly(wsi);
	free(m->buf);
	m->buf = NULL;
	k->tx_head = (k->tx_head + 1) % KWS_TXQ;
	k->tx_count--;
	if (n < 0) {
		k->why = "write failed";
		return -1;
	}
	if (k->tx_count)
		lws_callback_on_writable(wsi);
	return 0;
}

static void on_closed(struct kws *k, struct lws *wsi)
{
	void (*closed)(void *, int, int, const char *) = k->h.closed;
	void *ud = k->ud;
	char reason[KWS_REASON_MAX + 40];
	int abandoned = 0;

	if (k->peer_close_code)
		snprintf(reason, sizeof reason, "closed by the server (code %d)", k->peer_close_code);
	else if (k->why)
		snprintf(reason, sizeof reason, "%s", k->why);
	else if (k->established && secs_since(&k->last_valid) >= k->hangup_secs - 1) {
		snprintf(reason, sizeof reason, "no pong for %d s", k->hangup_secs);
		abandoned = 1;
	} else
		snprintf(reason, sizeof reason, "connection closed");

	log_debug(LOGT, "%s: %s (%lu skipped, %lu unreadable)", k->label, reason,
		  k->skipped, k->parse_errors);
	kws_release(k, wsi);
	if (closed)
		closed(ud, 0, abandoned, reason);
}

/*
 * When the certificate check is what failed, say why in the agent's words,
 * as the REST calls do (tls.h); lws's own text is an opaque
 * "error:00000001:lib(0)". The SSL
 * object still exists during CONNECTION_ERROR (it is freed when the wsi is).
 */
static int tls_verify_reason(const struct kws *k, struct lws *wsi, char *out, size_t outlen)
{
#if defined(LWS_WITH_TLS) && !defined(LWS_WITH_MBEDTLS) && !defined(USE_WOLFSSL)
	SSL *ssl;
	long v;

	if (!k->tls || !(ssl = lws_get_ssl(wsi)))
		return 0;
	v = SSL_get_verify_result(ssl);
	if (v == X509_V_OK)
		return 0;
	if (v == X509_V_ERR_HOSTNAME_MISMATCH || v == X509_V_ERR_IP_ADDRESS_MISMATCH)
		snprintf(out, outlen, "the server's TLS certificate is not for %.100s", k->hostname);
	else
		snprintf(out, outlen, "%s", tls_cert_reason(v));
	return 1;
#else
	(void)k; (void)wsi; (void)out; (void)outlen;
	return 0;
#endif
}

static void on_connection_error(struct kws *k, struct lws *wsi, const char *in, size_t len)
{
	void (*closed)(void *, int, int, const char *) = k->h.closed;
	void *ud = k->ud;
	char reason[KWS_REASON_MAX + 140];	/* + "through the proxy HOST:PORT: " */
	int status, abandoned = k->timed_out;

	status = lws_http_client_http_response(wsi);
	if (!status)
		status = k->http_status;
	if (status == 101 || status < 0)
		status = 0;	/* the upgrade was accepted; something later failed */

	if (k->timed_out)
		snprintf(reason, sizeof reason, "no handshake within %d s", k->connect_timeout_secs);
	else if (status)
		snprintf(reason, sizeof reason, "server refused the WebSocket upgrade (HTTP %d)",
			 status);
	else if (!tls_verify_reason(k, wsi, reason, sizeof reason))
		clean_reason(reason, sizeof reason, in, len);
	if (k->proxy[0] && !status) {
		char r[sizeof reason];

		/*
		 * The proxy answered CONNECT with something else than 200: lws 4.0
		 * and 4.1 say "proxy not h1", 4.3 "http_proxy -> N" or "http_proxy
		 * fail" (lib/roles/http/client/client-http.c).
		 */
		if (!strcmp(reason, "proxy not h1") || (in && len >= 10 && !strncmp(in, "http_proxy", 10)))
			snprintf(reason, sizeof reason, "the proxy refused the tunnel");
		memcpy(r, reason, sizeof r);
		snprintf(reason, sizeof reason, "through the proxy %s: %.*s", k->proxy,
			 KWS_REASON_MAX + 30, r);
	}

	log_debug(LOGT, "%s: connection failed: %s", k->label, reason);
	kws_release(k, wsi);
	if (closed)
		closed(ud, status, abandoned, reason);
}

/* ---- the lws callback --------------------------------------------------- */

/* The wsi ended inside lws_client_connect_via_info(); kws_open() frees k. */
static int gone_early(struct kws *k, struct lws *wsi)
{
	k->gone_early = 1;
	lws_set_wsi_user(wsi, NULL);
	k->wsi = NULL;
	return 0;
}

static int kws_callback(struct lws *wsi, enum lws_callback_reasons reason,
			void *user, void *in, size_t len)
{
	struct kws *k = user;

	switch (reason) {
	case LWS_CALLBACK_CLIENT_APPEND_HANDSHAKE_HEADER: {
		unsigned char **pp = in;

		if (!k)
			return 0;
		if (k->closing || k->timed_out)
			return -1;
		if (!k->auth)
			return 0;
		/* The header name is copied verbatim: it needs its colon. */
		if (lws_add_http_header_by_name(wsi, (const unsigned char *)"Authorization:",
						(const unsigned char *)k->auth, (int)k->auth_len,
						pp, *pp + len))
			return -1;
		return 0;
	}

	case LWS_CALLBACK_ESTABLISHED_CLIENT_HTTP:
		/*
		 * 4.1 passes ws upgrades here with the reply's headers; 4.0
		 * does not, but its headers are still there at CONNECTION_ERROR.
		 */
		if (k)
			k->http_status = lws_http_client_http_response(wsi);
		return 0;

	case LWS_CALLBACK_CLIENT_ESTABLISHED:
		if (!k)
			return 0;
		if (k->closing || k->timed_out)
			return -1;
		k->established = 1;
		clock_gettime(CLOCK_MONOTONIC, &k->last_valid);
		timer_cancel(k->ctx, &k->sul_connect);
		log_debug(LOGT, "%s: open", k->label);
		if (k->h.opened)
			k->h.opened(k->ud);
		return 0;

	case LWS_CALLBACK_CLIENT_RECEIVE:
		if (k)
			on_receive(k, wsi, in, len);
		return 0;

	case LWS_CALLBACK_CLIENT_RECEIVE_PONG:
		if (k)
			clock_gettime(CLOCK_MONOTONIC, &k->last_valid);
		return 0;

	case LWS_CALLBACK_CLIENT_WRITEABLE:
		if (!k)
			return 0;
		return on_writeable(k, wsi);

	case LWS_CALLBACK_WS_PEER_INITIATED_CLOSE:
		if (k && in && len >= 2) {
			const unsigned char *b = in;

			k->peer_close_code = (b[0] << 8) | b[1];
		}
		return 0;	/* lws echoes the close */

	case LWS_CALLBACK_CLIENT_CONNECTION_ERROR:
		if (!k)
			return 0;
		if (k->in_connect)
			return gone_early(k, wsi);
		on_connection_error(k, wsi, in, len);
		return 0;

	case LWS_CALLBACK_CLOSED_CLIENT_HTTP:
		/*
		 * 4.1 only: a wsi dropped while waiting for the server's reply
		 * (our connect timer, the server closing before answering)
		 * still has the h1 role, so lws reports the h1 close instead
		 * of CONNECTION_ERROR (4.0 sends CONNECTION_ERROR).
		 */
		if (!k)
			return 0;
		if (k->in_connect)
			return gone_early(k, wsi);
		on_connection_error(k, wsi, "closed before the handshake completed", 0);
		return 0;

	case LWS_CALLBACK_CLIENT_CLOSED:
		if (!k)
			return 0;
		if (k->in_connect)
			return gone_early(k, wsi);
		on_closed(k, wsi);
		return 0;

	case LWS_CALLBACK_WSI_DESTROY:
		/*
		 * Fallback only: normally one of the three close callbacks
		 * already freed the struct and cleared the user pointer. This
		 * reaches protocols[0] for every wsi of the vhost, so make sure
		 * the wsi is ours before reading user as a struct kws.
		 */
		if (!k || !lws_get_protocol(wsi) ||
		    lws_get_protocol(wsi)->callback != kws_callback)
			return 0;
		if (k->in_connect)
			return gone_early(k, wsi);
		log_debug(LOGT, "%s: wsi destroyed without a close callback", k->label);
		kws_release(k, wsi);
		return 0;

	default:
		return 0;
	}
}
