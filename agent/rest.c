/*
 * rest: libcurl's multi interface in multi_socket mode, driven by the lws
 * loop: the pattern of curl's docs/examples/multi-event.c, with lws in place
 * of libevent.
 *
 * curl tells us which sockets to watch (CURLMOPT_SOCKETFUNCTION); we keep
 * them in a private epoll set. That one epoll fd is adopted into lws as a raw
 * file, so lws's poll() wakes us when any curl socket is ready. curl's single
 * timer (CURLMOPT_TIMERFUNCTION) is an lws sul. Nothing here blocks and
 * nothing polls on a tick.
 *
 * Rules that keep curl happy:
 * - curl is never called from inside its own callbacks: 7.81 crashes on
 *   recursion (curl#8282) and 7.88.1-10+deb12u4 refuses it. The timer
 *   callback only (re)schedules a sul; rest_start() only schedules the
 *   0-delay "kick" sul. Both suls call curl from the lws loop.
 * - Easy handles are removed only from the curl_multi_info_read() loop (or by
 *   rest_cancel/rest_free, outside any curl callback).
 * - A socket curl closes before telling us CURL_POLL_REMOVE has already left
 *   the epoll set: DEL may fail with EBADF/ENOENT, and a recycled fd number
 *   needs ADD where we would MOD (curl#6237, #3597, #14976, #16026).
 *
 * Ownership of the epoll fd: once adopted, lws owns it and closes it when the
 * wsi closes (lib/core-net/close.c, __lws_close_free_wsi_final); we never
 * close it after that. rest_free() kills the wsi synchronously. If adoption
 * fails, lws 4.0/4.1 do NOT close a non-socket fd (only sockets, despite the
 * header comment), so then we close it ourselves.
 *
 * Done callbacks run from the lws loop (an lws sul or the epoll fd's
 * callback). A done callback may start new calls and cancel other calls;
 * rest_cancel() on its own call is ignored (the call is freed as soon as the
 * callback returns). It must not call rest_free().
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>
#include <sys/epoll.h>

#include <curl/curl.h>
#include <libwebsockets.h>
#include <openssl/x509_vfy.h>

#include "log.h"
#include "proxy.h"
#include "rest.h"
#include "timer.h"
#include "tls.h"

#ifndef AGENT_VERSION
#define AGENT_VERSION "dev"
#endif

#define REST_DEFAULT_TIMEOUT_MS 30000L
#define REST_MAX_CONNECT_MS	10000L
#define REST_EPOLL_BATCH	16
/* Below curl's own caps (300 KB in all, 100 KB a line, since 8.3 / CVE-2023-38039),
 * so that the agent, not curl's wording, says what went wrong. */
#define REST_MAX_HEADERS	(128u << 10)

struct rest_call {
	struct rest_call *prev, *next;
	struct rest *rest;
	CURL *easy;
	struct curl_slist *hdrs;
	rest_done_fn done;
	void *ud;
	char *body;		/* NUL-terminated once anything arrived */
	size_t len, cap;
	int truncated;
	int finishing;		/* its done callback is running */
	size_t header_bytes;
	const char *why;	/* set when one of our callbacks stopped the transfer */
	unsigned burst;		/* the kick that started it (read coalescing) */
	int64_t started_us;
	char errbuf[CURL_ERROR_SIZE];
	char reason[CURL_ERROR_SIZE + 128];	/* rest_reply.error */
};

struct rest {
	struct lws_context *ctx;
	CURLM *multi;
	int epfd;		/* owned by lws once wsi is set */
	struct lws *wsi;	/* the adopted epoll fd */
	lws_sorted_usec_list_t sul_timer;	/* curl's timer */
	lws_sorted_usec_list_t sul_kick;	/* deferred work after rest_start */
	struct rest_call *calls;
	/* read coalescing (timer.h): see hold_kick() */
	struct timer_hold hold;
	unsigned burst, kick_calls;
	int64_t hold_us;
};

static int curl_ready;

/* ---- finishing calls ---------------------------------------------------- */

static void call_unlink(struct rest_call *c)
{
	struct rest *r = c->rest;

	if (c->prev)
		c->prev->next = c->next;
	else
		r->calls = c->next;
	if (c->next)
		c->next->prev = c->prev;
	c->prev = c->next = NULL;
}

static void call_free(struct rest_call *c)
{
	if (!c)
		return;
	if (c->easy)
		curl_easy_cleanup(c->easy);
	curl_slist_free_all(c->hdrs);
	free(c->body);
	free(c);
}

static const char *str_or_empty(const char *s)
{
	return s ? s : "";
}

/*
 * Why a transfer failed, in the agent's own words, with curl's text after
 * it as detail. Callers log this and tests look for it, so it must not follow
 * curl's wording, which changes between releases: a reply cut short is
 * "transfer closed with N bytes remaining to read" in 7.88 and "end of
 * response with N bytes missing" in 8.14.
 */
/*
 * The commonest wrong URL: https:// for a plain http server (a TLS hello
 * to Tornado gets no answer, so the handshake times out or fails) or
 * http:// for an https one (the server drops the plain request). Name it.
 */
static const char *scheme_hint(struct rest_call *c, CURLcode res, const char *what)
{
	const char *url = NULL;
	long connects = 0;
	double tls_done = 0;

	/* A new TCP connection was made (connect time stays 0 until the TLS
	 * handshake is done too) but no handshake completed on it. */
	curl_easy_getinfo(c->easy, CURLINFO_EFFECTIVE_URL, &url);
	curl_easy_getinfo(c->easy, CURLINFO_NUM_CONNECTS, &connects);
	curl_easy_getinfo(c->easy, CURLINFO_APPCONNECT_TIME, &tls_done);
	if (!url)
		return what;
	if (!strncasecmp(url, "https://", 8) && connects > 0 && tls_done == 0 &&
	    (res == CURLE_SSL_CONNECT_ERROR || res == CURLE_OPERATION_TIMEDOUT))
		return "the TLS handshake did not complete: is the server plain http? "
		       "(then use http:// in the URL)";
	if (!strncasecmp(url, "http://", 7) &&
	    (res == CURLE_GOT_NOTHING || res == CURLE_RECV_ERROR || res == CURLE_WEIRD_SERVER_REPLY))
		return "the server dropped a plain-http request: is it https? "
		       "(then use https:// in the URL)";
	return what;
}

static void call_reason(struct rest_call *c, CURLcode res, char *out, size_t outlen)
{
	const char *detail = c->errbuf[0] ? c->errbuf : curl_easy_strerror(res);
	const char *what = c->why;
	long v = X509_V_OK;

	if (!what) {
		switch (res) {
		case CURLE_COULDNT_RESOLVE_HOST:
			what = "cannot resolve the host name";
			break;
		case CURLE_COULDNT_RESOLVE_PROXY:
			what = "cannot resolve the proxy's host name";
			break;
		case CURLE_COULDNT_CONNECT:
			what = "cannot connect";
			break;
		case CURLE_OPERATION_TIMEDOUT:
			what = "no complete reply in time";
			break;
		case CURLE_PARTIAL_FILE:
			what = "the server closed the connection before the whole reply arrived";
			break;
		case CURLE_GOT_NOTHING:
			what = "the server closed the connection without replying";
			break;
		case CURLE_SEND_ERROR:
		case CURLE_RECV_ERROR:
			what = "the connection broke";
			break;
		case CURLE_WEIRD_SERVER_REPLY:
			what = "the reply is not HTTP";
			break;
		case CURLE_SSL_CONNECT_ERROR:
			what = "the TLS handshake failed";
			break;
		case CURLE_PEER_FAILED_VERIFICATION:
			curl_easy_getinfo(c->easy, CURLINFO_SSL_VERIFYRESULT, &v);
			what = tls_cert_reason(v);
			break;
		case CURLE_SSL_CACERT_BADFILE:
			what = "cannot read the CA file";
			break;
		default:
			break;
		}
	}
	if (!c->why)
		what = scheme_hint(c, res, what);
	if (c->why)	/* we stopped it: curl's text only says a callback refused */
		snprintf(out, outlen, "%s", c->why);
	else if (what)
		snprintf(out, outlen, "%s (%s)", what, detail);
	else
		snprintf(out, outlen, "%s", detail);
}

/*
 * Read coalescing (timer.h). Requests that go out while a kernel link is
 * held (the REST ping of a round) join its batch: their replies are read
 * with the kernels'. Several requests started together (the read-backs of
 * many kernels) hold the epoll fd about as long as the last such burst took
 * to answer, learnt as kernel_ws learns it; a lone request is read as it
 * comes.
 */
#define REST_HOLD_MIN_US 1000

static void hold_kick(struct rest *r)
{
	int64_t now = timer_mono_us(), until = timer_hold_until();

	if (!r->wsi || !r->calls)
		return;
	if (until > now) {
		timer_hold(r->ctx, &r->hold, r->wsi, until - now);
	} else if (r->kick_calls >= 2 && r->hold_us) {
		timer_hold(r->ctx, &r->hold, r->wsi, r->hold_us);
		r->hold_us -= r->hold_us / 32;
		if (r->hold_us < REST_HOLD_MIN_US)
			r->hold_us = REST_HOLD_MIN_US;
	}
}

static void hold_learn(struct rest_call *c)
{
	struct rest *r = c->rest;
	int64_t now = timer_mono_us(), took = now - c->started_us;

	if (c->burst != r->burst || !c->started_us || took <= 0 || took > TIMER_HOLD_MAX_US)
		return;
	if (r->hold.resumed_us > c->started_us && now - r->hold.resumed_us < 1000)
		return;		/* it was waiting for the resume: in time */
	took += took / 2 + REST_HOLD_MIN_US;
	if (took > r->hold_us)
		r->hold_us = took < TIMER_HOLD_MAX_US ? took : TIMER_HOLD_MAX_US;
}

static void call_finish(struct rest_call *c, CURLcode res)
{
	struct rest_reply rep;
	char *ct = NULL, *loc = NULL, *ip = NULL;
	long status = 0;
	double secs = 0;

	curl_easy_getinfo(c->easy, CURLINFO_RESPONSE_CODE, &status);
	curl_easy_getinfo(c->easy, CURLINFO_CONTENT_TYPE, &ct);
	curl_easy_getinfo(c->easy, CURLINFO_REDIRECT_URL, &loc);
	curl_easy_getinfo(c->easy, CURLINFO_PRIMARY_IP, &ip);
	curl_easy_getinfo(c->easy, CURLINFO_TOTAL_TIME, &secs);

	/* The strings above live in the easy handle until curl_easy_cleanup. */
	curl_multi_remove_handle(c->rest->multi, c->easy);
	call_unlink(c);

	memset(&rep, 0, sizeof(rep));
	rep.status = status;
	rep.curl_code = (int)res;
	if (res != CURLE_OK) {
		call_reason(c, res, c->reason, sizeof(c->reason));
		rep.error = c->reason;
	} else {
		rep.error = "";
	}
	rep.body = c->body ? c->body : "";
	rep.len = c->len;
	rep.truncated = c->truncated;
	rep.content_type = str_or_empty(ct);
	rep.location = str_or_empty(loc);
	rep.primary_ip = str_or_empty(ip);
	rep.seconds = secs;
	hold_learn(c);

	c->finishing = 1;
	c->done(c->ud, &rep);
	call_free(c);
}

/* Hand every finished transfer to its owner. */
static void drain(struct rest *r)
{
	struct rest_call *c;
	CURLMsg *m;
	CURLcode res;
	int left;

	while ((m = curl_multi_info_read(r->multi, &left))) {
		if (m->msg != CURLMSG_DONE)
			continue;
		c = NULL;
		curl_easy_getinfo(m->easy_handle, CURLINFO_PRIVATE, (char **)&c);
		res = m->data.result;	/* m dies with the handle */
		if (c)
			call_finish(c, res);
	}
}

static void act(struct rest *r, curl_socket_t s, int flags)
{
	CURLMcode mc;
	int running;

	mc = curl_multi_socket_action(r->multi, s, flags, &running);
	if (mc != CURLM_OK)
		log_warn(NULL, "rest: curl_multi_socket_action: %s",
			 curl_multi_strerror(mc));
}

/* ---- lws side: suls and the adopted epoll fd ---------------------------- */

static void on_sul_timer(lws_sorted_usec_list_t *sul)
{
	struct rest *r = lws_container_of(sul, struct rest, sul_timer);

	act(r, CURL_SOCKET_TIMEOUT, 0);
	drain(r);
}

static void on_sul_kick(lws_sorted_usec_list_t *sul)
{
	struct rest *r = lws_container_of(sul, struct rest, sul_kick);
	struct rest_call *c;
	int64_t now = timer_mono_us();

	/* The calls started since the last kick are one burst. */
	r->burst++;
	for (c = r->calls; c; c = c->next)
		if (!c->started_us) {
			c->started_us = now;
			c->burst = r->burst;
		}
	act(r, CURL_SOCKET_TIMEOUT, 0);
	drain(r);
	hold_kick(r);
	r->kick_calls = 0;
}

static void sul_set(struct rest *r, lws_sorted_usec_list_t *sul, sul_cb_t cb,
		    lws_usec_t us)
{
	lws_sul_schedule(r->ctx, 0, sul, cb, us);
}

static void on_epoll_ready(struct rest *r)
{
	struct epoll_event evs[REST_EPOLL_BATCH];
	int i, n, flags;

	do {
		n = epoll_wait(r->epfd, evs, REST_EPOLL_BATCH, 0);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			log_warn(NULL, "rest: epoll_wait: %s", strerror(errno));
			break;
		}
		for (i = 0; i < n; i++) {
			flags = 0;
			/* HUP without IN: let curl read the EOF itself */
			if (evs[i].events & (EPOLLIN | EPOLLHUP | EPOLLRDHUP))
				flags |= CURL_CSELECT_IN;
			if (evs[i].events & EPOLLOUT)
				flags |= CURL_CSELECT_OUT;
			if (evs[i].events & EPOLLERR)
				flags |= CURL_CSELECT_ERR;
			act(r, evs[i].data.fd, flags);
		}
	} while (n == REST_EPOLL_BATCH);
	drain(r);
}

static int rest_lws_cb(struct lws *wsi, enum lws_callback_reasons reason,
		       void *user, void *in, size_t len)
{
	struct rest *r;

	(void)user;
	(void)in;
	(void)len;

	switch (reason) {
	case LWS_CALLBACK_RAW_RX_FILE:
		r = lws_get_opaque_user_data(wsi);
		if (r)
			on_epoll_ready(r);
		break;
	case LWS_CALLBACK_RAW_CLOSE_FILE:
		/* lws closes the fd itself right after this callback */
		r = lws_get_opaque_user_data(wsi);
		if (r && r->wsi == wsi) {
			timer_hold_forget(&r->hold);
			r->wsi = NULL;
			r->epfd = -1;
		}
		break;
	default:
		break;
	}
	return 0;
}

const struct lws_protocols rest_protocol = {
	.name = "agent-rest",
	.callback = rest_lws_cb,
};

/* ---- curl side: socket and timer callbacks (never call curl here) ------- */

static int on_curl_socket(CURL *easy, curl_socket_t s, int what, void *userp,
			  void *socketp)
{
	struct rest *r = userp;
	struct epoll_event ev;

	(void)easy;
	(void)socketp;

	if (r->epfd < 0)
		return 0;

	if (what == CURL_POLL_REMOVE) {
		/* a socket curl already closed has left the set by itself */
		if (epoll_ctl(r->epfd, EPOLL_CTL_DEL, s, NULL) &&
		    errno != EBADF && errno != ENOENT)
			log_warn(NULL, "rest: epoll_ctl DEL %d: %s", (int)s,
				 strerror(errno));
		return 0;
	}

	memset(&ev, 0, sizeof(ev));
	if (what & CURL_POLL_IN)
		ev.events |= EPOLLIN;
	if (what & CURL_POLL_OUT)
		ev.events |= EPOLLOUT;
	ev.data.fd = s;

	/* MOD first: a recycled fd number may have silently left the set */
	if (epoll_ctl(r->epfd, EPOLL_CTL_MOD, s, &ev) == 0)
		return 0;
	if (errno == ENOENT && epoll_ctl(r->epfd, EPOLL_CTL_ADD, s, &ev) == 0)
		return 0;
	/* the transfer stalls and runs into its timeout */
	log_warn(NULL, "rest: epoll_ctl %d: %s", (int)s, strerror(errno));
	return 0;
}

static int on_curl_timer(CURLM *multi, long ms, void *userp)
{
	struct rest *r = userp;

	(void)multi;
	if (ms < 0)
		timer_cancel(r->ctx, &r->sul_timer);
	else if (ms == 0)
		timer_soon(r->ctx, &r->sul_timer, on_sul_timer);
	else
		sul_set(r, &r->sul_timer, on_sul_timer, (lws_usec_t)ms * 1000);
	return 0;
}

/* Bound the reply's headers ourselves (see REST_MAX_HEADERS). */
static size_t on_curl_header(char *p, size_t size, size_t nmemb, void *ud)
{
	struct rest_call *c = ud;
	size_t n = size * nmemb;

	(void)p;
	c->header_bytes += n;
	if (c->header_bytes > REST_MAX_HEADERS) {
		c->why = "the reply's headers are larger than 128 KB";
		return 0;	/* CURLE_WRITE_ERROR */
	}
	return n;
}

/* Keep up to REST_MAX_BODY bytes; swallow the rest so the transfer completes. */
static size_t on_curl_write(char *p, size_t size, size_t nmemb, void *ud)
{
	struct rest_call *c = ud;
	size_t n = size * nmemb, take, want;
	char *nb;

	if (c->truncated || !n)
		return n;
	take = REST_MAX_BODY - c->len;
	if (n > take)
		c->truncated = 1;
	else
		take = n;
	if (c->len + take + 1 > c->cap) {
		want = c->cap ? c->cap * 2 : 16384;
		if (want < c->len + take + 1)
			want = c->len + take + 1;
		if (want > REST_MAX_BODY + 1)
			want = REST_MAX_BODY + 1;
		nb = realloc(c->body, want);
		if (!nb) {
			log_warn(NULL, "rest: out of memory for a %zu byte body",
				 c->len + take);
			c->why = "out of memory for the reply";
			return 0;	/* CURLE_WRITE_ERROR */
		}
		c->body = nb;
		c->cap = want;
	}
	memcpy(c->body + c->len, p, take);
	c->len += take;
	c->body[c->len] = '\0';
	return n;
}

/* ---- public API --------------------------------------------------------- */

struct rest *rest_new(struct lws_context *ctx)
{
	lws_adopt_desc_t ad;
	struct lws_vhost *vh;
	struct rest *r;

	/*
	 * main may have called curl_global_init() earlier (it should, after
	 * blocking signals: the threaded resolver starts threads).
	 */
	if (!curl_ready) {
		if (curl_global_init(CURL_GLOBAL_DEFAULT)) {
			log_error(NULL, "rest: curl_global_init failed");
			return NULL;
		}
		curl_ready = 1;
	}

	vh = lws_get_vhost_by_name(ctx, "default");
	if (!vh) {
		log_error(NULL, "rest: no lws vhost named \"default\" with the "
			  "%s protocol", rest_protocol.name);
		return NULL;
	}

	r = calloc(1, sizeof(*r));
	if (!r) {
		log_error(NULL, "rest: out of memory");
		return NULL;
	}
	r->ctx = ctx;
	r->epfd = epoll_create1(EPOLL_CLOEXEC);
	if (r->epfd < 0) {
		log_error(NULL, "rest: epoll_create1: %s", strerror(errno));
		goto fail;
	}

	r->multi = curl_multi_init();
	if (!r->multi) {
		log_error(NULL, "rest: curl_multi_init failed");
		goto fail;
	}
	curl_multi_setopt(r->multi, CURLMOPT_SOCKETFUNCTION, on_curl_socket);
	curl_multi_setopt(r->multi, CURLMOPT_SOCKETDATA, r);
	curl_multi_setopt(r->multi, CURLMOPT_TIMERFUNCTION, on_curl_timer);
	curl_multi_setopt(r->multi, CURLMOPT_TIMERDATA, r);

	memset(&ad, 0, sizeof(ad));
	ad.vh = vh;
	ad.type = LWS_ADOPT_RAW_FILE_DESC;
	ad.fd.filefd = r->epfd;
	ad.vh_prot_name = rest_protocol.name;
	ad.opaque = r;
	r->wsi = lws_adopt_descriptor_vhost_via_info(&ad);
	if (!r->wsi) {
		/* lws logged why; it does not close non-socket fds on failure */
		log_error(NULL, "rest: cannot adopt the epoll fd into lws");
		goto fail;
	}
	return r;

fail:
	if (r->multi)
		curl_multi_cleanup(r->multi);
	if (r->epfd >= 0)
		close(r->epfd);
	free(r);
	return NULL;
}

static int has_header(const struct header_list *h, const char *name)
{
	size_t i, n = strlen(name);

	for (i = 0; h && i < h->n; i++)
		if (!strncasecmp(h->v[i], name, n) && h->v[i][n] == ':')
			return 1;
	return 0;
}

static int add_header(struct rest_call *c, const char *line)
{
	struct curl_slist *l = curl_slist_append(c->hdrs, line);

	if (!l)
		return -1;
	c->hdrs = l;
	return 0;
}

/* Headers: ours first, then the configured extra lines (which may override). */
static int build_headers(struct rest_call *c, const struct rest_request *req,
			 int send_body)
{
	const char *ct;
	char *line = NULL;
	size_t i;
	int rc = -1;

	if (req->token && req->token[0]) {
		if (asprintf(&line, "Authorization: token %s", req->token) < 0) {
			line = NULL;
			goto out;
		}
		if (add_header(c, line))
			goto out;
	}
	if (send_body && !has_header(req->headers, "Content-Type")) {
		free(line);
		ct = req->content_type ? req->content_type : "application/json";
		if (asprintf(&line, "Content-Type: %s", ct) < 0) {
			line = NULL;
			goto out;
		}
		if (add_header(c, line))
			goto out;
	}
	if (!has_header(req->headers, "Accept") &&
	    add_header(c, "Accept: application/json"))
		goto out;
	for (i = 0; req->headers && i < req->headers->n; i++)
		if (add_header(c, req->headers->v[i]))
			goto out;
	rc = 0;
out:
	if (line) {
		/* it may hold the token */
		explicit_bzero(line, strlen(line));
		free(line);
	}
	return rc;
}

static const char *nonempty_env(const char *name)
{
	const char *v = getenv(name);

	return v && *v ? v : NULL;
}

/* Does no_proxy exempt url's host, by the agent's rules (proxy.h)? */
static int no_proxy_exempt(const char *url)
{
	const char *no = proxy_no_proxy_env();
	char *host = NULL;
	CURLU *u;
	int r = 0;

	if (!no || !(u = curl_url()))
		return 0;
	if (curl_url_set(u, CURLUPART_URL, url, 0) == CURLUE_OK &&
	    curl_url_get(u, CURLUPART_HOST, &host, 0) == CURLUE_OK)
		r = proxy_no_proxy_match(no, host);
	curl_free(host);
	curl_url_cleanup(u);
	return r;
}

static int setup_easy(struct rest_call *c, const struct rest_request *req)
{
	const char *method = req->method ? req->method : "GET";
	long timeout = req->timeout_ms > 0 ? req->timeout_ms : REST_DEFAULT_TIMEOUT_MS;
	long connect = timeout < REST_MAX_CONNECT_MS ? timeout : REST_MAX_CONNECT_MS;
	int is_get = !strcmp(method, "GET"), is_post = !strcmp(method, "POST");
	int is_head = !strcmp(method, "HEAD");
	int send_body = is_post || (req->body && !is_get && !is_head);
	CURL *e = c->easy;
	CURLcode rc = CURLE_OK;

#define SET(opt, val) do { if (rc == CURLE_OK) rc = curl_easy_setopt(e, opt, val); } while (0)
	SET(CURLOPT_URL, req->url);
	SET(CURLOPT_NOSIGNAL, 1L);
	SET(CURLOPT_TIMEOUT_MS, timeout);
	SET(CURLOPT_CONNECTTIMEOUT_MS, connect);
	SET(CURLOPT_PRIVATE, (void *)c);
	SET(CURLOPT_FOLLOWLOCATION, 0L);
	SET(CURLOPT_WRITEFUNCTION, on_curl_write);
	SET(CURLOPT_WRITEDATA, (void *)c);
	SET(CURLOPT_HEADERFUNCTION, on_curl_header);
	SET(CURLOPT_HEADERDATA, (void *)c);
	SET(CURLOPT_ERRORBUFFER, c->errbuf);
	SET(CURLOPT_USERAGENT, "jupyter-keepalive-agent/" AGENT_VERSION);
	/*
	 * CURLOPT_PROTOCOLS_STR (7.85) replaced the deprecated bitmask, but a
	 * binary built against newer headers may run with an older libcurl,
	 * which rejects it (build/agent-portable on Ubuntu 22.04 and Colab:
	 * 7.81). So the choice is made at run time.
	 */
#if LIBCURL_VERSION_NUM >= 0x075500
	if (curl_version_info(CURLVERSION_NOW)->version_num >= 0x075500) {
		SET(CURLOPT_PROTOCOLS_STR, "http,https");
	} else {
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wdeprecated-declarations"
		SET(CURLOPT_PROTOCOLS, (long)(CURLPROTO_HTTP | CURLPROTO_HTTPS));
#pragma GCC diagnostic pop
	}
#else
	SET(CURLOPT_PROTOCOLS, (long)(CURLPROTO_HTTP | CURLPROTO_HTTPS));
#endif
	/*
	 * curl takes a proxy for http:// only from lowercase http_proxy (its
	 * CGI "httpoxy" precaution); kernel_ws honours HTTP_PROXY too, so REST
	 * must as well. curl still applies no_proxy/NO_PROXY to it.
	 */
	if (!strncasecmp(req->url, "http://", 7) && !nonempty_env("http_proxy") &&
	    nonempty_env("HTTP_PROXY"))
		SET(CURLOPT_PROXY, nonempty_env("HTTP_PROXY"));
	/*
	 * no_proxy is decided by the agent's rules, as kernel_ws decides it,
	 * not by curl's: curl before 7.86 ignores CIDR entries (127.0.0.0/8).
	 */
	if (no_proxy_exempt(req->url))
		SET(CURLOPT_NOPROXY, "*");
	if (req->ca_file)
		SET(CURLOPT_CAINFO, req->ca_file);
	if (req->insecure) {
		SET(CURLOPT_SSL_VERIFYPEER, 0L);
		SET(CURLOPT_SSL_VERIFYHOST, 0L);
	}
	if (send_body) {
		const char *b = req->body ? req->body : "";

		/* the size must be set before COPYPOSTFIELDS copies */
		SET(CURLOPT_POSTFIELDSIZE, (long)strlen(b));
		SET(CURLOPT_COPYPOSTFIELDS, b);
	}
	if (is_head)
		SET(CURLOPT_NOBODY, 1L);
	else if (!is_get && !is_post)
		SET(CURLOPT_CUSTOMREQUEST, method);
#undef SET
	if (rc != CURLE_OK) {
		log_warn(NULL, "rest: curl_easy_setopt: %s", curl_easy_strerror(rc));
		return -1;
	}
	if (build_headers(c, req, send_body)) {
		log_warn(NULL, "rest: out of memory for request headers");
		return -1;
	}
	if (c->hdrs && curl_easy_setopt(e, CURLOPT_HTTPHEADER, c->hdrs) != CURLE_OK)
		return -1;
	return 0;
}

struct rest_call *rest_start(struct rest *r, const struct rest_request *req,
			     rest_done_fn done, void *ud)
{
	struct rest_call *c;
	CURLMcode mc;

	if (!r || !req || !req->url || !done) {
		log_warn(NULL, "rest: bad request");
		return NULL;
	}
	c = calloc(1, sizeof(*c));
	if (!c) {
		log_warn(NULL, "rest: out of memory");
		return NULL;
	}
	c->rest = r;
	c->done = done;
	c->ud = ud;
	c->easy = curl_easy_init();
	if (!c->easy) {
		log_warn(NULL, "rest: curl_easy_init failed");
		goto fail;
	}
	if (setup_easy(c, req))
		goto fail;

	mc = curl_multi_add_handle(r->multi, c->easy);
	if (mc != CURLM_OK) {
		log_warn(NULL, "rest: curl_multi_add_handle: %s",
			 curl_multi_strerror(mc));
		goto fail;
	}
	c->next = r->calls;
	if (r->calls)
		r->calls->prev = c;
	r->calls = c;

	log_debug(NULL, "rest: %s %s", req->method ? req->method : "GET",
		  req->url);

	r->kick_calls++;
	/* never complete inside rest_start: let the loop drive curl */
	timer_soon(r->ctx, &r->sul_kick, on_sul_kick);
	return c;

fail:
	call_free(c);
	return NULL;
}

void rest_cancel(struct rest *r, struct rest_call *c)
{
	if (!r || !c || c->finishing)
		return;
	call_unlink(c);
	curl_multi_remove_handle(r->multi, c->easy);
	call_free(c);
}

void rest_free(struct rest *r)
{
	if (!r)
		return;
	while (r->calls)
		rest_cancel(r, r->calls);

	/*
	 * curl_multi_cleanup() still calls the socket callback (DEL) and the
	 * timer callback (cancel) while closing cached connections, so the
	 * epoll fd and the suls must outlive it (curl#14860).
	 */
	curl_multi_cleanup(r->multi);
	r->multi = NULL;
	timer_cancel(r->ctx, &r->sul_timer);
	timer_cancel(r->ctx, &r->sul_kick);

	timer_hold_forget(&r->hold);
	/* lws closes the epoll fd; RAW_CLOSE_FILE clears r->wsi and r->epfd */
	if (r->wsi)
		lws_set_timeout(r->wsi, PENDING_TIMEOUT_USER_OK, LWS_TO_KILL_SYNC);
	if (r->wsi) {
		/* should not happen: make sure the callback cannot find r */
		lws_set_opaque_user_data(r->wsi, NULL);
	}
	free(r);
}

int rest_reply_is_json(const struct rest_reply *rep)
{
	const char *p;

	if (!rep)
		return 0;
	if (rep->content_type && strcasestr(rep->content_type, "json"))
		return 1;
	for (p = rep->body; p && *p; p++)
		if (*p != ' ' && *p != '\t' && *p != '\r' && *p != '\n')
			return *p == '{' || *p == '[';
	return 0;
}
