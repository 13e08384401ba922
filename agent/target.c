/*
 * target: the state machine of one kept target. See target.h.
 *
 * Callbacks from kernel_ws and rest only translate events into the
 * transitions below; all timing is lws sul timers on the target or kernel.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>

#include "hub.h"
#include "kernel_fsm.h"
#include "kernel_list.h"
#include "kernel_ws.h"
#include "log.h"
#include "notify.h"
#include "recorder.h"
#include "rest.h"
#include "target.h"
#include "timer.h"
#include "verdict.h"
#include "verify.h"

#define BACKOFF_BASE_MS 1000
#define BACKOFF_CAP_MS 60000

struct kept {
	struct kept *next;
	struct target *t;
	char id[80];
	enum kfsm_state st;
	struct kws *ws;
	struct rest_call *model_call;	/* GET api/kernels/<id>: at most one */
	struct rest_call *spec_call;	/* GET api/kernelspecs/<name>, once */
	int spec_checked;
	char inflight[JMSG_UUID_LEN];	/* msg_id of the keepalive in flight */
	char session_id[JMSG_UUID_LEN];	/* the run's, until a link is abandoned */
	char why[512];			/* the words of the failure being handled */
	int64_t sent_us;
	int64_t restarted_us;	/* the latest restart seen (monotonic); 0 after a reply */
	int iopub_busy;			/* someone else's execute_request is running (IOPub) */
	int aborted;			/* the last reply came back "aborted" */
	unsigned retries;		/* consecutive failed connections */
	int64_t gone_since_us;		/* explicit id: first "not found", 0 when found */
	int64_t going_since_us;		/* when it announced its shutdown */
	double connect_wall;		/* when the current connection began */
	int listed;			/* mark for reconciling with a kernel list */
	int once_ok;
	int readback;			/* the model read in flight is a round's read-back */
	int news;			/* the next acknowledgement follows a change */
	double last_ack;		/* wall time of the last acknowledged keepalive */
	long rtt_ms;
	double busy_since;		/* wall time it was first seen busy, 0 when not */
	double model_activity;		/* the server's model: last_activity (epoch s) */
	double model_read;		/* wall time of that read */
	char model_state[16];		/* and execution_state */
	lws_sorted_usec_list_t sul_reconnect;
	lws_sorted_usec_list_t sul_deadline;
	lws_sorted_usec_list_t sul_grace;
};

struct target {
	struct target_env *env;
	const struct target_config *cfg;
	struct kept *kernels;
	struct rest_call *call;		/* at most one REST call in flight */
	struct hub *hub;		/* the hub of a hub user's server; else NULL */
	struct verify *verify;		/* what the cullers see; NULL for ping targets */
	struct recorder *rec;		/* output record (record =); NULL when off */
	unsigned rest_failures;
	unsigned consecutive_4xx;	/* ping targets */
	int64_t gone_since_us;		/* list endpoint missing since */
	int stopped;
	int ended;
	int warned_no_kernel;
	int once_rest_ok;
	int once_warned;
	int once_seen;			/* --once: the read-back has settled */
	int resolving;			/* the kernel id given is a prefix: listing kernels */
	unsigned long acks;		/* keepalives acknowledged so far */
	double next_round;
	double last_ok;			/* wall time of the last verified keepalive or ping */
	char last_result[900];
	char no_kernel_why[400];	/* why the kept set is empty */
	lws_sorted_usec_list_t sul_round;
	lws_sorted_usec_list_t sul_once;
	lws_sorted_usec_list_t sul_relist;	/* list again now: a kept kernel went away */
};

static void kept_fetch(struct kept *k);
static void round_start(struct target *t);
static void rest_round(struct target *t);
static void retry_sooner(struct target *t);
static void round_cb(lws_sorted_usec_list_t *sul);

/* ---- small helpers ---- */

static unsigned rnd(void)
{
	unsigned r = 0;

	if (getrandom(&r, sizeof(r), GRND_NONBLOCK) != sizeof(r))
		r = (unsigned)timer_mono_us();
	return r;
}

static const char *short_id(const char *id)
{
	static char buf[9];

	snprintf(buf, sizeof(buf), "%.8s", id);
	return buf;
}

static int is_jupyter(const struct target *t)
{
	return t->cfg->kind == TARGET_JUPYTER;
}

static int wants_ws(const struct target *t)
{
	return is_jupyter(t) && (t->cfg->mode & MODE_EXECUTE);
}

/* Does a round start a REST call? Listing kernels needs one; so does http mode. */
static int wants_rest(const struct target *t)
{
	if (!is_jupyter(t))
		return 1;
	return t->cfg->kernel != KSEL_ID || (t->cfg->mode & MODE_HTTP);
}

static void set_result(struct target *t, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

static void set_result(struct target *t, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(t->last_result, sizeof(t->last_result), fmt, ap);
	va_end(ap);
	if (!strncmp(t->last_result, "ok", 2))
		t->last_ok = timer_wall_s();
	if (t->env->changed)
		t->env->changed(t->env->ud, t);
}

/* ---- pure helpers ---- */

long target_backoff_ms(unsigned attempt, long base_ms, long cap_ms, unsigned r)
{
	long d = base_ms;

	while (attempt-- > 0 && d < cap_ms)
		d *= 2;
	if (d > cap_ms)
		d = cap_ms;
	/* Equal jitter: never less than half, so a broken server is not hammered. */
	return d / 2 + (long)(r % (unsigned long)(d / 2 + 1));
}

long target_jitter_ms(long interval_ms, int pct, unsigned r)
{
	long span = interval_ms / 100 * pct + (interval_ms % 100) * pct / 100;
	long v;

	if (span <= 0)
		return interval_ms;
	v = interval_ms - span + (long)(r % (unsigned long)(2 * span + 1));
	return v < interval_ms / 2 ? interval_ms / 2 : v;
}

int target_ws_url(const char *base, const char *kernel_id, const char *session_id,
		  char *out, size_t outlen)
{
	const char *scheme, *rest;
	int n;

	if (!strncmp(base, "https://", 8)) {
		scheme = "wss://";
		rest = base + 8;
	} else if (!strncmp(base, "http://", 7)) {
		scheme = "ws://";
		rest = base + 7;
	} else {
		return -1;
	}
	n = snprintf(out, outlen, "%s%s%sapi/kernels/%s/channels?session_id=%s", scheme, rest,
		     rest[0] && rest[strlen(rest) - 1] == '/' ? "" : "/", kernel_id, session_id);
	return n < 0 || (size_t)n >= outlen ? -1 : 0;
}

int target_cull_advice(long interval_ms, double cull_s, char *out, size_t outlen)
{
	char ival[32], most[32];

	/* Two rounds must fit in the culler's timeout: one may be lost. */
	if (cull_s <= 0 || interval_ms <= (long)(cull_s * 1000) / 2)
		return 0;
	timer_format_duration(interval_ms, ival, sizeof(ival));
	timer_format_duration((long)(cull_s * 1000) / 2 / 1000 * 1000, most, sizeof(most));
	snprintf(out, outlen, "the interval (%s) is not comfortably shorter than the culler's "
		 "cull_idle_timeout (%.0f s); use an interval of %s or less", ival, cull_s,
		 (long)(cull_s * 1000) / 2 >= 1000 ? most : "1s");
	return 1;
}

/* Who asked, for the words of a refusal (verdict.h). */
static struct verdict_target who(const struct target *t)
{
	struct verdict_target vt = {
		.jupyter = is_jupyter(t),
		.url = config_target_url(t->cfg),
		.token = t->cfg->token,
		.hub_user = hub_user(t->hub),
	};

	return vt;
}

/*
 * The round is verified: a keepalive acknowledged, a kernel found busy, or
 * the server answered. Tell the hub (a keepalive of its own, so never for a
 * server that is down), then read back what the cullers see; the hub's
 * read-back follows the post.
 */
static void round_verified(struct target *t)
{
	hub_activity(t->hub);
	verify_round(t->verify);
}

/* ---- ending ---- */

static void target_end(struct target *t, int code, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static void target_end(struct target *t, int code, const char *fmt, ...)
{
	char why[900];
	va_list ap;

	if (t->ended)
		return;
	va_start(ap, fmt);
	vsnprintf(why, sizeof(why), fmt, ap);
	va_end(ap);
	t->ended = 1;
	snprintf(t->last_result, sizeof(t->last_result), "%s", why);
	target_stop(t);
	t->env->ended(t->env->ud, t, code, why);
}

/* --once: has every part of the round been verified? */
static void once_check(struct target *t)
{
	struct kept *k;

	if (!t->env->once || t->ended)
		return;
	if (wants_rest(t) && !t->once_rest_ok)
		return;
	if (wants_ws(t)) {
		if (!t->kernels) {
			/* A notebook that has no session is a mistake worth failing on. */
			if ((t->cfg->mode & MODE_HTTP) && t->cfg->kernel != KSEL_NOTEBOOK) {
				if (!t->once_warned++)	/* once_check runs several times */
					log_warn(t->cfg->name, "no kernel is running; only the server was pinged");
			} else {
				target_end(t, 1, "no kernel to keep: %s", t->no_kernel_why[0] ?
					   t->no_kernel_why : "no kernel is running");
				return;
			}
		}
		for (k = t->kernels; k; k = k->next)
			if (!k->once_ok)
				return;
	}
	if (t->verify && !t->once_seen)
		return;		/* wait for what the cullers see (verify_on_settled) */
	for (k = t->kernels; k; k = k->next)
		if (k->busy_since) {
			target_end(t, 0, "round verified: kernel %s is busy running a cell, and a busy "
				   "kernel is not culled", short_id(k->id));
			return;
		}
	target_end(t, 0, "round verified");
}

static void settled_cb(void *ud)
{
	struct target *t = ud;

	if (t->env->settled)
		t->env->settled(t->env->ud, t);
	if (!t->env->once)
		return;
	t->once_seen = 1;
	once_check(t);
}

static void once_deadline_cb(lws_sorted_usec_list_t *sul)
{
	struct target *t = lws_container_of(sul, struct target, sul_once);

	target_end(t, 1, "no verified keepalive within %ld s", t->cfg->timeout_ms / 1000);
}

/* ---- one kept kernel: carries out what kernel_fsm decides ---- */

static void kept_step(struct kept *k, enum kfsm_event e, struct kfsm_facts *f);
static enum verdict classify(const struct target *t, const struct rest_reply *r,
			     char *why, size_t whylen);
static void relist_cb(lws_sorted_usec_list_t *sul);

static void kept_free(struct kept *k)
{
	struct lws_context *ctx = k->t->env->ctx;

	timer_cancel(ctx, &k->sul_reconnect);
	timer_cancel(ctx, &k->sul_deadline);
	timer_cancel(ctx, &k->sul_grace);
	rest_cancel(k->t->env->rest, k->model_call);
	rest_cancel(k->t->env->rest, k->spec_call);
	kws_close(k->ws);
	free(k);
}

static void kept_remove(struct target *t, struct kept *k)
{
	struct kept **pp;

	for (pp = &t->kernels; *pp; pp = &(*pp)->next) {
		if (*pp == k) {
			*pp = k->next;
			break;
		}
	}
	verify_kernel_forget(t->verify, k->id);
	kept_free(k);
}

static void kept_event(struct kept *k, enum kfsm_event e)
{
	struct kfsm_facts f = {0};

	kept_step(k, e, &f);
}

static void reconnect_cb(lws_sorted_usec_list_t *sul)
{
	kept_event(lws_container_of(sul, struct kept, sul_reconnect), KE_RETRY);
}

static void deadline_cb(lws_sorted_usec_list_t *sul)
{
	kept_event(lws_container_of(sul, struct kept, sul_deadline), KE_DEADLINE);
}

/* The grace period of an explicit kernel id is over: ask once more. */
static void grace_cb(lws_sorted_usec_list_t *sul)
{
	struct kept *k = lws_container_of(sul, struct kept, sul_grace);

	rest_cancel(k->t->env->rest, k->model_call);
	k->model_call = NULL;
	kept_fetch(k);
}

/* Is an explicit kernel id still within its grace period (two intervals from
 * the first "not found")? A listed kernel has none: the list says where it went. */
static int kept_in_grace(const struct kept *k)
{
	const struct target *t = k->t;

	if (t->env->once || t->cfg->kernel != KSEL_ID)
		return 0;
	return !k->gone_since_us || timer_mono_us() - k->gone_since_us < 2000LL * t->cfg->interval_ms;
}

static void kept_found(struct kept *k)
{
	if (!k->gone_since_us)
		return;
	k->gone_since_us = 0;
	timer_cancel(k->t->env->ctx, &k->sul_grace);
	log_info(k->t->cfg->name, "kernel %s is back", short_id(k->id));
}

/*
 * GET <url>api/<what>/<id>?no_track_activity=1 with the target's token and
 * TLS settings: a read that must not move the server's activity (handlers.py
 * skips api_last_activity for it). The call, or NULL when it could not start.
 */
static struct rest_call *read_api(struct target *t, const char *what, const char *id,
				  rest_done_fn done, void *ud)
{
	char url[1024];

	if (snprintf(url, sizeof(url), "%sapi/%s/%s?no_track_activity=1",
		     config_target_url(t->cfg), what, id) >= (int)sizeof(url))
		return NULL;
	return rest_start_for(t->env->rest, t->cfg, "GET", url, NULL, done, ud);
}

static void spec_done(void *ud, const struct rest_reply *r)
{
	struct kept *k = ud;
	struct target *t = k->t;
	json_t *o, *cull;
	char advice[300];

	k->spec_call = NULL;
	if (r->curl_code || r->status != 200)
		return;		/* older servers and gateways: nothing to learn */
	o = json_loadb(r->body, r->len, 0, NULL);
	cull = json_object_get(json_object_get(json_object_get(o, "spec"), "metadata"),
			       "cull_idle_timeout");
	/* jupyter_server >= 2.9 culls by the kernelspec's own timeout when set
	 * (kernelmanager.py, cull_kernel_if_idle; jupyter-server PR #1342). */
	if (json_is_number(cull) &&
	    target_cull_advice(t->cfg->interval_ms, json_number_value(cull), advice, sizeof(advice)))
		log_warn(t->cfg->name, "kernel %s: its kernelspec '%s' sets a culler timeout: %s",
			 short_id(k->id), json_string_value(json_object_get(o, "name")) ?
			 json_string_value(json_object_get(o, "name")) : "?", advice);
	json_decref(o);
}

/* Once per kept kernel: the culler timeout its kernelspec may set. */
static void kept_check_spec(struct kept *k, const char *name)
{
	/* The check is about the interval: --once has none, and its start-up
	 * should not make the server serve one more request. */
	if (k->spec_checked || k->t->env->once || !name || !*name || strpbrk(name, "/?#%"))
		return;
	k->spec_checked = 1;
	k->spec_call = read_api(k->t, "kernelspecs", name, spec_done, k);
}

static void model_done(void *ud, const struct rest_reply *r)
{
	struct kept *k = ud;
	struct target *t = k->t;
	struct kfsm_facts f = {0};
	char why[512] = "";
	enum verdict v;
	json_t *o;
	int first;

	k->model_call = NULL;
	v = classify(t, r, why, sizeof(why));
	if (v != VERDICT_OK && k->readback)
		verify_kernel_model(t->verify, k->id, 0, NULL);	/* ends its wait */
	switch (v) {
	case VERDICT_AUTH:
		snprintf(k->why, sizeof(k->why), "%s", why);
		kept_event(k, KE_REFUSED);
		return;
	case VERDICT_MISSING:
		snprintf(k->why, sizeof(k->why), "%s", why);
		kept_event(k, KE_MISSING);
		return;
	case VERDICT_FAIL:		/* the deadline or the next round asks again */
		log_debug(t->cfg->name, "kernel %s: reading its model failed: %s", short_id(k->id), why);
		if (r->curl_code && t->cfg->discovered && k->st != KS_GOING) {
			/* A discovered server that does not answer has gone away. */
			snprintf(k->why, sizeof(k->why), "%s", why);
			kept_event(k, KE_MISSING);
		}
		return;
	case VERDICT_OK:
		break;
	}
	o = json_loadb(r->body, r->len, 0, NULL);
	if (!json_is_object(o)) {
		json_decref(o);
		if (k->readback)
			verify_kernel_model(t->verify, k->id, 0, NULL);
		return;
	}
	kept_found(k);
	first = k->model_read <= 0;
	k->model_activity = jmsg_activity(o);
	k->model_read = timer_wall_s();
	snprintf(k->model_state, sizeof(k->model_state), "%s",
		 json_string_value(json_object_get(o, "execution_state")) ?
		 json_string_value(json_object_get(o, "execution_state")) : "");
	kept_check_spec(k, json_string_value(json_object_get(o, "name")));
	json_decref(o);
	/* The read-back after a verified round: only then can the culler's
	 * view be expected to have moved. Reads that learn the state are not
	 * judged. */
	if (k->readback) {
		k->readback = 0;
		/* The state machine's view of busy: a read right after our own
		 * reply can still say busy (see kernel_fsm.c, in_idle). */
		verify_kernel_model(t->verify, k->id, k->model_activity,
				    k->st == KS_BUSY ? "busy" : !strcmp(k->model_state, "busy") ?
				    "idle" : k->model_state);
		round_verified(t);
	}
	f.exec_state = k->model_state;
	kept_step(k, KE_MODEL, &f);
	/* The server took the token and has the kernel: what a notebook launch
	 * waits for (a keepalive may have to queue behind that very cell). */
	if (first && !t->stopped && t->env->changed)
		t->env->changed(t->env->ud, t);
}

/* Read the server's model of the kernel (its state, activity, existence). */
static void kept_fetch(struct kept *k)
{
	if (!k->model_call)
		k->model_call = read_api(k->t, "kernels", k->id, model_done, k);
}

/*
 * The agent gave up on a link that the server may still hold open: a stalled
 * network, a hung proxy. Its handshake or the server's handler can surface
 * later, and on jupyter_server a second connection under the same session id
 * replaces the first and may restore the first one's closed ZMQ streams from
 * its buffer, so that no reply ever arrives again on that session. The next
 * connection therefore uses a fresh session id. A link the server closed
 * itself keeps the run's id: one session per run, so that the server never
 * drops a notebook tab's buffered output for us (kernelmanager.py, get_buffer).
 */
static void kept_new_session(struct kept *k)
{
	jmsg_uuid(k->session_id);
	log_debug(k->t->cfg->name, "kernel %s: next connection uses a new session id",
		  short_id(k->id));
}

static void kept_backoff(struct kept *k, const char *why)
{
	long ms = target_backoff_ms(k->retries++, BACKOFF_BASE_MS, BACKOFF_CAP_MS, rnd());

	log_warn(k->t->cfg->name, "kernel %s: %s; reconnecting in %.1f s", short_id(k->id), why,
		 ms / 1000.0);
	set_result(k->t, "kernel %s: %s", short_id(k->id), why);
	timer_in_ms(k->t->env->ctx, &k->sul_reconnect, reconnect_cb, ms);
}

static void kws_opened(void *ud);
static void kws_message(void *ud, const struct jmsg_info *m);
static void kws_oversize(void *ud, size_t len, const char *head, size_t head_len);
static void kws_closed(void *ud, int http_status, int abandoned, const char *reason);

static const struct kws_handlers kept_handlers = {
	.opened = kws_opened,
	.message = kws_message,
	.oversize = kws_oversize,
	.closed = kws_closed,
};

/* Open the WebSocket; 0, or -1 with the reason in k->why. */
static int kept_connect(struct kept *k)
{
	struct target *t = k->t;
	struct kws_params p = {0};
	char url[1024];

	kws_close(k->ws);
	k->ws = NULL;
	if (target_ws_url(t->cfg->url, k->id, k->session_id, url, sizeof(url))) {
		snprintf(k->why, sizeof(k->why), "the kernel's URL is too long");
		return -1;
	}
	p.url = url;
	p.token = t->cfg->token;
	p.ca_file = t->cfg->ca_file;
	p.insecure = t->cfg->insecure;
	p.connect_timeout_secs = (int)(t->cfg->timeout_ms / 1000);
	/* WebSocket pings find a dead link whatever the kernel is doing: every
	 * timeout, within 5..30 s; dropped at 2x without a pong. */
	p.ping_secs = (int)(t->cfg->timeout_ms / 1000);
	if (p.ping_secs < 5)
		p.ping_secs = 5;
	if (p.ping_secs > 30)
		p.ping_secs = 30;
	k->connect_wall = timer_wall_s();
	k->ws = kws_open(t->env->ctx, &p, &kept_handlers, k, k->why, sizeof(k->why));
	return k->ws ? 0 : -1;
}

/* Send one keepalive; 0, or -1 when it could not be queued. */
static int kept_send(struct kept *k)
{
	struct target *t = k->t;
	char *msg;
	int rc;

	msg = jmsg_execute_request(k->session_id, t->env->username,
				   t->cfg->code ? t->cfg->code : "", k->inflight);
	rc = msg && kws_send(k->ws, msg) == 0 ? 0 : -1;
	free(msg);
	if (rc) {
		k->inflight[0] = '\0';
		log_warn(t->cfg->name, "kernel %s: could not queue the keepalive", short_id(k->id));
		return -1;
	}
	k->sent_us = timer_mono_us();
	log_debug(t->cfg->name, "kernel %s: keepalive sent", short_id(k->id));
	return 0;
}

/* A kernel_info_request on the control channel (jmsg.h): activity now, even
 * behind a running cell, for a server that calls that kernel idle. */
static void kept_poke(struct kept *k)
{
	char id[JMSG_UUID_LEN], *msg;

	msg = jmsg_kernel_info_request(k->session_id, k->t->env->username, id);
	if (msg && kws_send(k->ws, msg) == 0)
		log_debug(k->t->cfg->name, "kernel %s: the server calls it idle while a cell runs; "
			  "poked it on the control channel", short_id(k->id));
	free(msg);
}

static void kept_acked(struct kept *k)
{
	struct target *t = k->t;

	/* Backoff resets on a working keepalive, not on a handshake: a server
	 * that accepts and then never answers must not be hammered. */
	k->retries = 0;
	k->busy_since = 0;
	k->rtt_ms = (long)((timer_mono_us() - k->sent_us) / 1000);
	k->restarted_us = 0;
	k->last_ack = timer_wall_s();
	/* A keepalive queued behind a failing cell comes back "aborted", but its
	 * busy/idle still reached IOPub, so it still counted (ipykernel aborts
	 * only the queue of a cell with stop_on_error). */
	/* The first acknowledgement after a change is news; the rest of a
	 * steady run is DEBUG (progress.h shows it at a glance). */
	log_msg(k->news ? LL_INFO : LL_DEBUG, t->cfg->name, "kernel %s: keepalive acknowledged in %ld ms%s",
		short_id(k->id), k->rtt_ms, k->aborted ? " (aborted behind an error; still counts)" : "");
	k->news = 0;
	set_result(t, "ok: keepalive acknowledged in %ld ms", k->rtt_ms);
	t->acks++;
	verify_tracked(t->verify, k->sent_us / 1e6);
	k->once_ok = 1;
	/* The read-back: what the kernel culler sees now, and beside it (one
	 * wakeup for both answers) what the server and the hub see. */
	k->readback = 1;
	verify_kernel_expect(t->verify, k->id);
	kept_fetch(k);
	if (!k->model_call)	/* could not start: do not wait for it */
		verify_kernel_model(t->verify, k->id, 0, NULL);
	round_verified(t);
}

static void kept_safe(struct kept *k)
{
	struct target *t = k->t;
	char dur[32];

	if (!k->busy_since)
		k->busy_since = timer_wall_s();
	timer_format_duration((long)(timer_wall_s() - k->busy_since) * 1000, dur, sizeof(dur));
	log_debug(t->cfg->name, "kernel %s is busy running a cell%s (a busy kernel is not culled)",
		  short_id(k->id), k->inflight[0] ? "; the keepalive waits behind it" :
		  "; skipping this round");
	set_result(t, "busy: kernel %s has been running a cell for %s (a busy kernel is not culled)",
		   short_id(k->id), dur);
	k->once_ok = 1;
	if (k->model_call)
		k->readback = 1;	/* read back once the model is in */
	else
		round_verified(t);
}

/* "last seen 2s ago: idle, no activity for 9s": what the culler last saw. */
static void kept_last_seen(const struct kept *k, char *out, size_t outlen)
{
	char idle[32], ago[32];
	double now = timer_wall_s();

	if (k->model_activity <= 0 || k->model_read <= 0) {
		snprintf(out, outlen, "the server's view of it was never read");
		return;
	}
	timer_format_duration((long)(k->model_read - k->model_activity) * 1000, idle, sizeof(idle));
	timer_format_duration((long)(now - k->model_read) * 1000, ago, sizeof(ago));
	snprintf(out, outlen, "last seen %s ago: %s, no activity for %s", ago,
		 k->model_state[0] ? k->model_state : "state unknown", idle);
}

/*
 * The kernel is gone for good. Say what was last seen, so that a culled
 * kernel teaches the user about the interval; then follow the selection: an
 * explicit id (and --once) ends, a listed kernel gives way to the next one.
 */
static void kept_gone(struct kept *k, const char *why)
{
	struct target *t = k->t;
	char seen[160], msg[900], ival[32];

	kept_last_seen(k, seen, sizeof(seen));
	timer_format_duration(t->cfg->interval_ms, ival, sizeof(ival));
	snprintf(msg, sizeof(msg), "kernel %s is gone (%s); %s. If a culler took it, make the "
		 "interval (%s) shorter than its timeout", k->id, why, seen, ival);
	if (t->env->once || t->cfg->kernel == KSEL_ID) {
		target_end(t, 1, "%s", msg);
		return;
	}
	log_warn(t->cfg->name, "%s", msg);
	notify_send(t->env->notify, "kernel-gone", t->cfg->name, msg);
	kept_remove(t, k);
	log_info(t->cfg->name, "looking for %s", t->cfg->kernel == KSEL_NOTEBOOK ?
		 "the notebook's next kernel" : "the server's next kernel");
	/* From the event loop: we may be inside a reconcile of this very list. */
	timer_in_ms(t->env->ctx, &t->sul_relist, relist_cb, 1);
}

static void kept_step(struct kept *k, enum kfsm_event e, struct kfsm_facts *f)
{
	struct target *t = k->t;
	enum kfsm_state was = k->st;
	struct kfsm_out o;
	char why[sizeof(k->why)];

	f->iopub_busy = k->iopub_busy;
	f->once = t->env->once;
	f->wants_ws = wants_ws(t);
	f->grace = kept_in_grace(k);
	f->own_cell = t->env->own_kernel && !strcmp(t->env->own_kernel, k->id);
	f->lingering = k->st == KS_GOING && timer_mono_us() - k->going_since_us > 1000LL * t->cfg->timeout_ms;
	/* Only after a restart: jupyter_server < 2.15 may call a kernel idle
	 * while a cell we did not see start still runs (its connect nudge). */
	f->stale = k->inflight[0] && k->restarted_us && k->sent_us >= k->restarted_us &&
		   timer_mono_us() - k->sent_us >
		   1000LL * (t->cfg->interval_ms > 2000 ? t->cfg->interval_ms : 2000);
	o = kfsm_step(k->st, e, f);
	if (o.state == KS_GOING && was != KS_GOING)
		k->going_since_us = timer_mono_us();
	if (o.state != KS_IDLE && o.state != KS_WAITING)
		k->news = 1;	/* the next acknowledgement is worth an INFO line */
	k->st = o.state;
	if (o.state != was)
		log_debug(t->cfg->name, "kernel %s: %s -> %s (%s)", short_id(k->id),
			  kfsm_state_name(was), kfsm_state_name(o.state), kfsm_event_name(e));
	if (o.state != KS_WAITING && o.state != KS_OVERDUE)
		k->inflight[0] = '\0';
	if (o.state != KS_BUSY && o.state != KS_SYNCING)
		k->busy_since = 0;
	/* A failure's own words (a close reason, an HTTP status) beat the
	 * generic ones, except that an announced shutdown says just that. */
	if (o.why && was == KS_GOING)
		k->why[0] = '\0';
	snprintf(why, sizeof(why), "%s", k->why[0] ? k->why : o.why ? o.why : "");
	k->why[0] = '\0';

	if (o.actions & KA_CLOSE) {
		kws_close(k->ws);
		k->ws = NULL;
	}
	if (o.actions & KA_NEW_SESSION)
		kept_new_session(k);
	if ((o.actions & KA_CONNECT) && kept_connect(k)) {
		struct kfsm_facts lost = {0};

		kept_step(k, KE_CLOSED, &lost);		/* could not even start */
		return;
	}
	if (o.actions & KA_BACKOFF)
		kept_backoff(k, why);
	if (o.actions & KA_DISARM)
		timer_cancel(t->env->ctx, &k->sul_deadline);
	if ((o.actions & KA_SEND) && kept_send(k)) {
		k->st = KS_IDLE;	/* not queued: the next round tries again */
		o.actions &= ~KA_ARM;
	}
	if (o.actions & KA_ARM)
		/* Learning the state (syncing, going, confirming busy) asks the
		 * server again each second; a reply has the whole timeout (in
		 * --once, so has the first answer: it fails on that deadline). */
		timer_in_ms(t->env->ctx, &k->sul_deadline, deadline_cb,
			    k->st == KS_BUSY || k->st == KS_GOING ||
			    (k->st == KS_SYNCING && !t->env->once) ? 1000 : t->cfg->timeout_ms);
	if (o.actions & KA_POKE)
		kept_poke(k);
	if (o.actions & KA_FETCH)
		kept_fetch(k);
	if (o.actions & KA_ACKED)
		kept_acked(k);
	if (o.actions & KA_SAFE)
		kept_safe(k);
	if (o.actions & KA_GRACE && !k->gone_since_us) {
		k->gone_since_us = timer_mono_us();
		log_warn(t->cfg->name, "kernel %s not found (%s); retrying for %ld s", short_id(k->id),
			 why, 2 * t->cfg->interval_ms / 1000);
		timer_in_ms(t->env->ctx, &k->sul_grace, grace_cb, 2 * t->cfg->interval_ms);
	}
	/* The last three may free k or stop the target. */
	if (o.actions & KA_GONE) {
		kept_gone(k, why);
		return;
	}
	if (o.actions & KA_AUTH) {
		target_end(t, 3, "%s", why[0] && strcmp(why, "the server rejected the token") ? why :
			   "the server rejected the token; check token, token_file or JUPYTER_TOKEN");
		return;
	}
	if (o.actions & KA_FAIL) {
		target_end(t, 1, "kernel %s: %s", short_id(k->id), why);
		return;
	}
	if (o.actions & (KA_ACKED | KA_SAFE))
		once_check(t);
}

static void kws_opened(void *ud)
{
	struct kept *k = ud;
	struct kfsm_facts f = {0};

	k->iopub_busy = 0;	/* statuses before this link are not ours to judge */
	kept_found(k);
	log_info(k->t->cfg->name, "connected to kernel %s", short_id(k->id));
	/* A model read during the handshake (the round's) spares reading it again. */
	if (k->model_read >= k->connect_wall && k->model_read > timer_wall_s() - 1.0)
		f.exec_state = k->model_state;
	kept_step(k, KE_OPENED, &f);
}

static void kws_oversize(void *ud, size_t len, const char *head, size_t head_len)
{
	struct kept *k = ud;

	recorder_oversize(k->t->rec, k->id, len, KWS_MAX_MESSAGE, head, head_len, k->session_id);
}

static void kws_message(void *ud, const struct jmsg_info *m)
{
	struct kept *k = ud;
	struct kfsm_facts f = {0};

	recorder_message(k->t->rec, k->id, m, k->session_id, k->t->env->username);

	if (!strcmp(m->msg_type, "status") && m->execution_state[0]) {
		f.exec_state = m->execution_state;
		f.parent_ours = k->inflight[0] && !strcmp(m->parent_msg_id, k->inflight);
		f.parent_execute = !strcmp(m->parent_msg_type, "execute_request");
		if (f.parent_execute && !f.parent_ours)
			k->iopub_busy = !strcmp(m->execution_state, "busy");
		else if (!strcmp(m->execution_state, "starting") ||
			 !strcmp(m->execution_state, "restarting")) {
			k->iopub_busy = 0;	/* a new process: nothing runs */
			k->restarted_us = timer_mono_us();
		}
		kept_step(k, KE_STATUS, &f);
	} else if (!strcmp(m->msg_type, "shutdown_reply")) {
		k->iopub_busy = 0;
		f.restart = m->restart;
		if (m->restart)
			k->restarted_us = timer_mono_us();
		log_info(k->t->cfg->name, "kernel %s is %s", short_id(k->id),
			 m->restart ? "restarting" : "shutting down");
		kept_step(k, KE_SHUTDOWN, &f);
	} else if (!strcmp(m->msg_type, "execute_reply") && k->inflight[0] &&
		   !strcmp(m->parent_msg_id, k->inflight)) {
		k->aborted = !strcmp(m->reply_status, "aborted");
		kept_step(k, KE_REPLY, &f);
	}
}

static void kws_closed(void *ud, int http_status, int abandoned, const char *reason)
{
	struct kept *k = ud;
	struct kfsm_facts f = {0};

	k->ws = NULL;
	if (http_status == 401 || http_status == 403) {
		struct verdict_target vt = who(k->t);

		verdict_refused(&vt, http_status, k->why, sizeof(k->why));
		kept_event(k, KE_REFUSED);
		return;
	}
	if (http_status == 404 || http_status == 410) {
		snprintf(k->why, sizeof(k->why), "HTTP %d", http_status);
		kept_event(k, KE_MISSING);
		return;
	}
	/* JupyterHub redirects /user/NAME/… to /hub/user/NAME/… when the user's
	 * server has stopped: the kernel went away with it. */
	if (http_status >= 300 && http_status < 400) {
		snprintf(k->why, sizeof(k->why), "redirected (HTTP %d): server stopped?", http_status);
		kept_event(k, KE_MISSING);
		return;
	}
	if (http_status)
		snprintf(k->why, sizeof(k->why), "WebSocket refused (HTTP %d)", http_status);
	else
		snprintf(k->why, sizeof(k->why), "%s", reason && *reason ? reason : "connection closed");
	f.abandoned = abandoned;
	kept_step(k, KE_CLOSED, &f);
}

static struct kept *kept_find(struct target *t, const char *id)
{
	struct kept *k;

	for (k = t->kernels; k; k = k->next)
		if (!strcmp(k->id, id))
			return k;
	return NULL;
}

static struct kept *kept_add(struct target *t, const char *id)
{
	struct kept *k = calloc(1, sizeof(*k));

	if (!k)
		return NULL;
	k->t = t;
	snprintf(k->id, sizeof(k->id), "%s", id);
	snprintf(k->session_id, sizeof(k->session_id), "%s", t->env->session_id);
	k->st = KS_UNLINKED;
	k->next = t->kernels;
	t->kernels = k;
	kept_event(k, KE_START);
	return k;
}

/* Make the kept set equal to ids (a JSON array of strings); body is the list they came from. */
static void reconcile(struct target *t, json_t *ids, const char *body)
{
	struct kept *k, *next;
	json_t *v;
	size_t i;

	for (k = t->kernels; k; k = k->next)
		k->listed = 0;
	json_array_foreach(ids, i, v) {
		const char *id = json_string_value(v);

		k = kept_find(t, id);
		if (!k) {
			log_info(t->cfg->name, "keeping kernel %s", id);
			k = kept_add(t, id);
			if (t->ended)
				return;
		}
		if (k)
			k->listed = 1;
	}
	for (k = t->kernels; k; k = next) {
		next = k->next;
		if (k->listed)
			continue;
		if (!kernel_list_has(body, k->id)) {	/* not there at all: it went away */
			snprintf(k->why, sizeof(k->why), "no longer in the server's list");
			kept_event(k, KE_MISSING);
			if (t->ended)
				return;
			continue;
		}
		log_info(t->cfg->name, "kernel %s is no longer %s; letting it go", short_id(k->id),
			 t->cfg->kernel == KSEL_AUTO ? "the most recently active" : "the notebook's");
		kept_remove(t, k);
	}
	if (t->kernels) {
		t->warned_no_kernel = 0;
		return;
	}
	if (t->cfg->kernel == KSEL_NOTEBOOK) {
		char paths[sizeof(t->no_kernel_why) - 100];

		kernel_list_paths(body, paths, sizeof(paths));
		snprintf(t->no_kernel_why, sizeof(t->no_kernel_why),
			 "no session for notebook '%s'; notebooks with sessions: %s",
			 t->cfg->kernel_arg, paths);
	} else {
		snprintf(t->no_kernel_why, sizeof(t->no_kernel_why), "no kernel is running");
	}
	if (!t->warned_no_kernel && !t->env->once) {	/* once_check says it */
		t->warned_no_kernel = 1;
		log_warn(t->cfg->name, "%s; %s", t->no_kernel_why,
			 t->cfg->kernel == KSEL_NOTEBOOK ? "waiting for it" :
			 "pinging the server until one starts");
	}
}

/* ---- REST ---- */

static enum verdict classify(const struct target *t, const struct rest_reply *r,
			     char *why, size_t whylen)
{
	struct verdict_target vt = who(t);

	return verdict_of(r, &vt, why, whylen);
}

static void ping_reply(struct target *t, const struct rest_reply *r, enum verdict v,
		       const char *why)
{
	if (v == VERDICT_OK) {
		/* News after a start or a failure; DEBUG while steady. */
		log_msg(t->rest_failures || !t->last_ok ? LL_INFO : LL_DEBUG, t->cfg->name,
			"ping answered HTTP %ld in %.0f ms", r->status, r->seconds * 1000);
		t->consecutive_4xx = 0;
		t->rest_failures = 0;
		set_result(t, "ok: HTTP %ld", r->status);
		return;
	}
	/* A redirect (e.g. to a login page) is a refusal too, like a 4xx. */
	if (r->status >= 300 && r->status < 500) {
		if (++t->consecutive_4xx >= (unsigned)t->cfg->max_4xx || t->env->once) {
			target_end(t, 3, "the ping URL answered HTTP %ld %u time(s) in a row; giving up",
				   r->status, t->consecutive_4xx);
			return;
		}
	}
	t->rest_failures++;
	set_result(t, "failed: %s", why);
	log_warn(t->cfg->name, "ping failed: %s", why);
	retry_sooner(t);
}

/*
 * --kernel 1b8410e4: the short id every log line shows. Keep the one
 * running kernel whose id starts with it; none is "gone" (exit 1), several
 * is a usage error (exit 2) that lists them.
 */
static void resolve_prefix(struct target *t, const char *body)
{
	const char *prefix = t->cfg->kernel_arg;
	struct kernel_list_match m;

	kernel_list_prefix(body, prefix, &m);
	if (m.n == 1) {
		t->resolving = 0;
		log_info(t->cfg->name, "kernel %s is %s", prefix, m.first);
		if (kept_add(t, m.first))
			round_start(t);
	} else if (m.n == 0) {
		target_end(t, 1, "no running kernel's id starts with %s (running: %s)", prefix,
			   m.running[0] ? m.running : "none");
	} else {
		target_end(t, 2, "kernel id %s is ambiguous: it matches %s and %s%s; give more of it",
			   prefix, m.first, m.second, m.n > 2 ? " and others" : "");
	}
}

static void rest_done(void *ud, const struct rest_reply *r)
{
	struct target *t = ud;
	enum verdict v;
	char why[512] = "";

	t->call = NULL;
	v = classify(t, r, why, sizeof(why));
	if (v == VERDICT_FAIL && r->curl_code && t->cfg->discovered)
		v = VERDICT_MISSING;
	if (!is_jupyter(t)) {
		ping_reply(t, r, v, why);
		if (v != VERDICT_OK) {
			if (t->env->once)
				target_end(t, 1, "ping failed: %s", why);
			return;
		}
		goto out;
	}
	switch (v) {
	case VERDICT_AUTH:
		target_end(t, 3, "%s", why);
		return;
	case VERDICT_MISSING:
		if (t->cfg->kernel == KSEL_ID && t->kernels) {
			snprintf(t->kernels->why, sizeof(t->kernels->why), "%s", why);
			kept_event(t->kernels, KE_MISSING);
		} else if (t->env->once) {
			target_end(t, 1, "%s", why);
		} else {
			int64_t now = timer_mono_us();

			if (!t->gone_since_us)
				t->gone_since_us = now;
			if (now - t->gone_since_us >= 2000LL * t->cfg->interval_ms) {
				target_end(t, 1, "the server is gone: %s", why);
				return;
			}
			t->rest_failures++;
			log_warn(t->cfg->name, "%s; retrying", why);
			retry_sooner(t);
		}
		return;
	case VERDICT_FAIL:
		if (t->env->once) {
			target_end(t, 1, "%s", why);
			return;
		}
		t->rest_failures++;
		set_result(t, "failed: %s", why);
		log_warn(t->cfg->name, "%s", why);
		retry_sooner(t);
		return;
	case VERDICT_OK:
		break;
	}
	/* Our REST calls to a target's server are tracked (no no_track_activity). */
	verify_tracked(t->verify, timer_mono_s() - r->seconds);
	if (t->resolving) {
		resolve_prefix(t, r->body);
		return;
	}
	if (t->cfg->kernel != KSEL_ID) {
		json_t *ids = kernel_list_pick(t->cfg->kernel, t->cfg->kernel_arg, r->body);

		/* An unreadable list is a failure like a 5xx: back off, don't reset. */
		if (!ids) {
			log_warn(t->cfg->name, "the kernel list was not the JSON array a Jupyter server sends");
			t->rest_failures++;
			retry_sooner(t);
			return;
		}
		t->rest_failures = 0;
		t->gone_since_us = 0;
		reconcile(t, ids, r->body);
		json_decref(ids);
		if (t->ended)
			return;
	} else {
		t->rest_failures = 0;
		t->gone_since_us = 0;
		if (t->kernels)
			kept_found(t->kernels);
	}
	if (t->cfg->mode & MODE_HTTP)
		log_debug(t->cfg->name, "REST ping answered in %.0f ms", r->seconds * 1000);
	if (!wants_ws(t))
		set_result(t, "ok: HTTP %ld", r->status);
	/* With kernels, their model reads start the read-back. */
	if (!t->kernels)
		round_verified(t);
out:
	t->once_rest_ok = 1;
	once_check(t);
}

static void rest_round(struct target *t)
{
	struct rest_request req = {0};
	char url[1024];
	const char *cfgurl = config_target_url(t->cfg);

	if (t->call)
		return;		/* the previous request is still running (it has a timeout) */
	if (!is_jupyter(t))
		snprintf(url, sizeof(url), "%s", cfgurl);
	else if (t->cfg->kernel == KSEL_NOTEBOOK)
		snprintf(url, sizeof(url), "%sapi/sessions", cfgurl);
	else if (t->cfg->kernel == KSEL_ID && t->kernels)
		snprintf(url, sizeof(url), "%sapi/kernels/%s", cfgurl, t->kernels->id);
	else
		snprintf(url, sizeof(url), "%sapi/kernels", cfgurl);
	req.url = url;
	req.token = is_jupyter(t) ? t->cfg->token : NULL;
	req.method = is_jupyter(t) ? "GET" : t->cfg->method;
	req.body = is_jupyter(t) ? NULL : t->cfg->body;
	req.headers = is_jupyter(t) ? NULL : &t->cfg->headers;
	req.content_type = NULL;
	req.ca_file = t->cfg->ca_file;
	req.insecure = t->cfg->insecure;
	req.timeout_ms = t->cfg->timeout_ms;
	t->call = rest_start(t->env->rest, &req, rest_done, t);
	if (!t->call)
		t->rest_failures++;
}

/* ---- rounds ---- */

/* A REST call failed: run the next round after the backoff delay when that
 * comes before the regular one (a 5-minute interval must not mean a
 * 5-minute wait after a 503). */
static void retry_sooner(struct target *t)
{
	long ms;
	double at;

	if (t->stopped || t->ended || t->env->once || !t->rest_failures)
		return;
	ms = target_backoff_ms(t->rest_failures - 1, BACKOFF_BASE_MS, BACKOFF_CAP_MS, rnd());
	at = timer_wall_s() + ms / 1000.0;
	if (t->next_round > 0 && at >= t->next_round)
		return;
	log_info(t->cfg->name, "retrying in %.1f s", ms / 1000.0);
	t->next_round = at;
	timer_in_ms(t->env->ctx, &t->sul_round, round_cb, ms);
}

static void round_cb(lws_sorted_usec_list_t *sul)
{
	round_start(lws_container_of(sul, struct target, sul_round));
}

static void relist_cb(lws_sorted_usec_list_t *sul)
{
	rest_round(lws_container_of(sul, struct target, sul_relist));
}

static void round_start(struct target *t)
{
	struct kept *k, *next;
	long next_ms;

	if (t->stopped)
		return;
	/* The next round first, so that what this one reports shows it. */
	if (!t->env->once) {
		/* Targets of the same interval share one wakeup (timer.h). */
		next_ms = timer_batch_ms(t->cfg->interval_ms, t->cfg->jitter_pct,
					 target_jitter_ms(t->cfg->interval_ms, t->cfg->jitter_pct, rnd()));
		t->next_round = timer_wall_s() + next_ms / 1000.0;
		timer_in_ms(t->env->ctx, &t->sul_round, round_cb, next_ms);
	}
	if (wants_rest(t))
		rest_round(t);
	for (k = t->kernels; k && !t->stopped; k = next) {
		next = k->next;
		kept_event(k, KE_ROUND);
	}
}

/* ---- public ---- */

struct target *target_new(struct target_env *env, const struct target_config *tc)
{
	struct target *t = calloc(1, sizeof(*t));

	if (!t)
		return NULL;
	t->env = env;
	t->cfg = tc;
	t->hub = hub_new(env->ctx, env->rest, tc);
	t->verify = verify_new(env->ctx, env->rest, tc, t->hub);
	if (is_jupyter(t))
		t->rec = recorder_open(tc->record, tc->record_max, tc->kernel == KSEL_ALL);
	verify_on_settled(t->verify, settled_cb, t);
	snprintf(t->last_result, sizeof(t->last_result), "starting");
	return t;
}

/* Kernel ids are UUIDs; anything shorter is the start of one (what logs show). */
#define KERNEL_ID_LEN 36

void target_start(struct target *t)
{
	if (t->env->once)
		timer_in_ms(t->env->ctx, &t->sul_once, once_deadline_cb, t->cfg->timeout_ms + 5000);
	if (is_jupyter(t) && t->cfg->kernel == KSEL_ID) {
		if (strlen(t->cfg->kernel_arg) < KERNEL_ID_LEN) {
			t->resolving = 1;	/* list the kernels first: rest_done resolves */
			rest_round(t);
			return;
		}
		if (!kept_add(t, t->cfg->kernel_arg))
			return;
	}
	round_start(t);
}

void target_stop(struct target *t)
{
	struct kept *k;

	if (!t || t->stopped)
		return;
	t->stopped = 1;
	timer_cancel(t->env->ctx, &t->sul_round);
	timer_cancel(t->env->ctx, &t->sul_once);
	timer_cancel(t->env->ctx, &t->sul_relist);
	rest_cancel(t->env->rest, t->call);
	t->call = NULL;
	verify_free(t->verify);
	t->verify = NULL;
	hub_free(t->hub);
	t->hub = NULL;
	while ((k = t->kernels)) {
		t->kernels = k->next;
		kept_free(k);
	}
}

void target_free(struct target *t)
{
	if (!t)
		return;
	target_stop(t);
	recorder_close(t->rec);
	free(t);
}

void target_set_config(struct target *t, const struct target_config *tc)
{
	t->cfg = tc;
	hub_set_config(t->hub, tc);
	verify_set_config(t->verify, tc);
}

int target_is_ended(const struct target *t)
{
	return t->ended;
}

const char *target_name(const struct target *t)
{
	return t->cfg->name;
}

const struct target_config *target_config(const struct target *t)
{
	return t->cfg;
}

/* One kernel at a glance: "a1b2c3d4 busy 2h13m (safe)", "e5f6a7b8 ok 3s ago". */
static int kept_brief(const struct kept *k, double now, char *out, size_t outlen)
{
	char d[32];

	switch (k->st) {
	case KS_BUSY:
		timer_format_duration((long)(now - k->busy_since) * 1000, d, sizeof(d));
		return snprintf(out, outlen, "%s busy %s (safe)", short_id(k->id), d);
	case KS_IDLE:
	case KS_WAITING:
	case KS_OVERDUE:
	case KS_UNLINKED:
		if (k->last_ack <= 0)
			return snprintf(out, outlen, "%s starting", short_id(k->id));
		timer_format_duration((long)(now - k->last_ack) * 1000, d, sizeof(d));
		return snprintf(out, outlen, "%s ok %s ago", short_id(k->id), d);
	case KS_CONNECTING:
	case KS_SYNCING:
		return snprintf(out, outlen, "%s connecting", short_id(k->id));
	case KS_BACKOFF:
		return snprintf(out, outlen, "%s reconnecting", short_id(k->id));
	case KS_GOING:
	case KS_GONE:
		return snprintf(out, outlen, "%s going away", short_id(k->id));
	}
	return snprintf(out, outlen, "%s ?", short_id(k->id));
}

size_t target_brief(const struct target *t, char *out, size_t outlen)
{
	double now = timer_wall_s(), act = verify_server_activity(t->verify);
	const struct kept *k;
	size_t n = 0;
	char d[32];
	int w;

	if (!outlen)
		return 0;
	out[0] = '\0';
#define ADD(...) do { \
		w = snprintf(out + n, outlen - n, __VA_ARGS__); \
		if (w < 0 || (size_t)w >= outlen - n) \
			return strlen(out); \
		n += (size_t)w; \
	} while (0)
	if (!is_jupyter(t)) {
		if (t->last_ok > 0) {
			timer_format_duration((long)(now - t->last_ok) * 1000, d, sizeof(d));
			ADD("%s ok %s ago", t->cfg->name, d);
		} else {
			ADD("%s %s", t->cfg->name, t->rest_failures ? "failing" : "starting");
		}
		return n;
	}
	for (k = t->kernels; k; k = k->next) {
		ADD("%s", n ? " · " : "");
		w = kept_brief(k, now, out + n, outlen - n);
		if (w < 0 || (size_t)w >= outlen - n)
			return strlen(out);
		n += (size_t)w;
	}
	if (!t->kernels)
		ADD("%s: no kernel yet", t->cfg->name);
	if (act > 0) {
		timer_format_duration((long)(now - act > 0 ? now - act : 0) * 1000, d, sizeof(d));
		ADD(" · server activity %s ago", d);
	}
#undef ADD
	return n;
}

unsigned target_kernel_count(const struct target *t)
{
	unsigned n = 0;

	for (const struct kept *k = t->kernels; k; k = k->next)
		n++;
	return n;
}

double target_next_round(const struct target *t)
{
	return t->next_round;
}

unsigned long target_acks(const struct target *t)
{
	return t->acks;
}

const char *target_verified(const struct target *t)
{
	static char found[160];
	const struct kept *k;

	if (t->last_ok > 0 || !strncmp(t->last_result, "busy:", 5))
		return t->last_result;
	for (k = t->kernels; k; k = k->next)
		if (k->model_read > 0) {
			snprintf(found, sizeof(found), "the server accepted the token and has kernel %s "
				 "(%s)", short_id(k->id), k->model_state[0] ? k->model_state : "state unknown");
			return found;
		}
	return NULL;
}

int target_status(const struct target *t, struct target_status *out)
{
	const struct kept *k;
	size_t n = 0;

	memset(out, 0, sizeof(*out));
	snprintf(out->name, sizeof(out->name), "%s", t->cfg->name);
	log_redact(config_target_url(t->cfg), out->url, sizeof(out->url));
	snprintf(out->mode, sizeof(out->mode), "%s", !is_jupyter(t) ? "ping" :
		 t->cfg->mode == MODE_BOTH ? "both" : t->cfg->mode == MODE_HTTP ? "http" : "execute");
	out->last_keepalive = t->last_ok;
	snprintf(out->last_result, sizeof(out->last_result), "%s", t->last_result);
	out->next_keepalive = t->next_round;
	out->acks = t->acks;
	verify_status(t->verify, &out->culler);
	if (t->rec)
		snprintf(out->record, sizeof(out->record), "%s", recorder_path(t->rec));
	if (!t->kernels)
		return 0;
	out->kernels = calloc(target_kernel_count(t), sizeof(*out->kernels));
	if (!out->kernels)
		return -1;
	for (k = t->kernels; k; k = k->next) {
		struct kernel_status *ks = &out->kernels[n++];

		snprintf(ks->id, sizeof(ks->id), "%s", k->id);
		snprintf(ks->state, sizeof(ks->state), "%s", kfsm_state_name(k->st));
		snprintf(ks->execution_state, sizeof(ks->execution_state), "%s",
			 k->st == KS_BUSY ? "busy" : k->model_state[0] ? k->model_state : "unknown");
		ks->busy_since = k->busy_since;
		ks->last_ack = k->last_ack;
		ks->rtt_ms = k->rtt_ms;
	}
	out->nkernels = n;
	return 0;
}
