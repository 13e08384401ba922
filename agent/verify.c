/*
 * verify: read back what the cullers see, and judge it. See verify.h.
 *
 * One read-back is up to two calls in flight: /api/status, and the hub's
 * record (hub_read, which follows the target's activity post). The kept
 * kernels' models come from the target, read at the same time (so that the
 * answers arrive together, one wakeup). When both calls are done and every
 * model the target announced is in, the read-back "settles": one log line
 * with the ages, then the checks.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "hub.h"
#include "jmsg.h"
#include "log.h"
#include "rest.h"
#include "timer.h"
#include "verify.h"

#define VERIFY_MAX_KERNELS 64
/* The hub hears of activity through the proxy poll (last_activity_interval)
 * and the server's own post (JUPYTERHUB_ACTIVITY_INTERVAL), 300 s each by
 * default; allow both plus a minute before calling the hub stuck. */
#define HUB_REPORT_LAG_S 660.0

enum layer_id { L_KERNEL, L_SERVER, L_HUB, L_COUNT };

/* One layer's (or one kernel's) readings. */
struct reading {
	double prev;		/* activity at the previous read-back, 0 = none */
	double cur;		/* at the latest, 0 = unknown */
	double since;		/* monotonic time cur was first read */
	int fresh;		/* read since the last settle */
	double answered;	/* monotonic time the latest read was answered */
	double prev_answered;	/* and the one before */
	double acted;		/* tracked_start when the latest read started */
};

struct kseen {
	char id[80];
	struct reading r;
	char state[16];		/* execution_state */
	int pending;		/* the target is reading its model (verify_kernel_expect) */
};

struct verify {
	struct lws_context *ctx;
	struct rest *rest;
	const struct target_config *tc;
	struct hub *hub;		/* the target's; NULL when its server is not a hub's */
	int hub_pending;		/* a hub_read() has not reported yet */
	int hub_posted;			/* the hub took an activity post before this read */
	int awaiting;			/* the calls are done; a kernel's model is not */

	struct rest_call *scall;
	double scall_acted;		/* tracked_start when scall started */
	double tracked_start;		/* monotonic start of the latest answered tracked request */
	struct kseen *seen;
	size_t nseen;
	struct reading layer[L_COUNT];	/* L_KERNEL unused: kernels are in seen */
	int warned[L_COUNT];		/* the one warning per layer was logged */
	char warning[L_COUNT][300];	/* current "did not move" text, "" when moving */
	char last_line_shape[200];	/* the latest read-back line without its numbers */
	double last_start;		/* monotonic time of the last read-back */
	void (*settled)(void *ud);
	void *settled_ud;
	lws_sorted_usec_list_t sul_settle;	/* a read-back that could start nothing */
};

static const char *tname(const struct verify *v)
{
	return v->tc->name;
}

/* ---- pure helpers ---- */

int verify_acted_between(double acted, double prev_answered)
{
	return acted > 0 && acted > prev_answered;
}

void verify_tracked(struct verify *v, double started_mono)
{
	if (v && started_mono > v->tracked_start)
		v->tracked_start = started_mono;
}

int verify_did_not_move(double prev, double cur, double still_s, double lag_s)
{
	if (prev <= 0 || cur <= 0)
		return 0;	/* nothing to compare yet */
	return cur <= prev && still_s > lag_s;
}

char *verify_format_ages(char *out, size_t outlen, double kernel_age, int kernel_busy,
			 double server_age, double hub_age)
{
	const struct { double age; const char *what; } parts[] = {
		{ kernel_age, kernel_busy ? "kernel, busy" : "kernel" },
		{ server_age, "server" },
		{ hub_age, "hub" },
	};
	size_t i, n = 0;
	int first = 1;

	if (!outlen)
		return out;
	out[0] = '\0';
	for (i = 0; i < sizeof(parts) / sizeof(parts[0]); i++) {
		int w;

		if (parts[i].age < 0)
			continue;
		w = snprintf(out + n, outlen - n, "%s%.0f s ago (%s)",
			     first ? "culler sees activity " : ", ", parts[i].age, parts[i].what);
		if (w < 0 || (size_t)w >= outlen - n) {
			out[n] = '\0';	/* whole parts only */
			break;
		}
		n += (size_t)w;
		first = 0;
	}
	return out;
}

/* ---- readings ---- */

static void reading_set(struct reading *r, double act, double now)
{
	r->prev = r->cur;
	r->prev_answered = r->answered;
	r->answered = now;
	if (act != r->cur || !r->since)
		r->since = now;
	r->cur = act;
	r->fresh = 1;
}

/* The reply's JSON object, or NULL (and a debug line saying why). */
static json_t *reply_object(const struct verify *v, const char *what, const struct rest_reply *r)
{
	json_t *o;

	if (r->curl_code) {
		log_debug(tname(v), "read-back of %s failed: %s", what, r->error);
		return NULL;
	}
	if (r->status != 200 || !rest_reply_is_json(r)) {
		log_debug(tname(v), "read-back of %s: HTTP %ld", what, r->status);
		return NULL;
	}
	o = json_loads(r->body, 0, NULL);
	if (!json_is_object(o)) {
		json_decref(o);
		log_debug(tname(v), "read-back of %s: not a JSON object", what);
		return NULL;
	}
	return o;
}

/* ---- settling: the log line and the checks ---- */

static double age_of(double act, double now)
{
	if (act <= 0)
		return -1;
	return act < now ? now - act : 0;	/* a server clock ahead of ours */
}

/* The oldest kept kernel's activity (what the kernel culler acts on first). */
static double kernels_oldest(const struct verify *v, int *busy)
{
	double t = 0;
	size_t i;

	*busy = 0;
	for (i = 0; i < v->nseen; i++) {
		if (!v->seen[i].r.cur)
			continue;
		if (!t || v->seen[i].r.cur < t)
			t = v->seen[i].r.cur;
		if (!strcmp(v->seen[i].state, "busy"))
			*busy = 1;
	}
	return t;
}

static void layer_warn(struct verify *v, enum layer_id l, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static void layer_warn(struct verify *v, enum layer_id l, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(v->warning[l], sizeof(v->warning[l]), fmt, ap);
	va_end(ap);
	if (!v->warned[l]) {
		v->warned[l] = 1;
		log_warn(tname(v), "%s", v->warning[l]);
	}
}

static void check_kernels(struct verify *v, double mono)
{
	size_t i;

	/* Only execute keepalives move a kernel; REST pings never do. */
	if (!(v->tc->mode & MODE_EXECUTE))
		return;
	for (i = 0; i < v->nseen; i++) {
		struct kseen *k = &v->seen[i];

		if (!k->r.fresh)
			continue;
		v->warning[L_KERNEL][0] = '\0';
		/* A busy kernel is never culled, and a long silent cell sends nothing. */
		if (!strcmp(k->state, "busy"))
			continue;
		if (verify_did_not_move(k->r.prev, k->r.cur, mono - k->r.since, 0)) {
			layer_warn(v, L_KERNEL, "kernel %.8s: the kernel's last_activity did not move: "
				   "the server may not count this traffic (jupyter_server >= 2.15 "
				   "untracked types?), so its kernel culler may still cull it", k->id);
			return;
		}
	}
}

static void check_server(struct verify *v, double mono)
{
	struct reading *r = &v->layer[L_SERVER];
	int busy;

	if (!r->fresh)
		return;
	v->warning[L_SERVER][0] = '\0';
	/* Nothing moves it while a silent cell runs and no REST ping is sent;
	 * the busy kernel keeps the server alive (shutdown_no_activity_timeout
	 * never fires while a kernel exists). */
	kernels_oldest(v, &busy);
	if (busy && !(v->tc->mode & MODE_HTTP))
		return;
	/* Judged only when a request the server tracks went out after the
	 * previous read was answered, and was answered before this one began
	 * (an extra read-back, e.g. on a reconnect, may follow no ping). */
	if (verify_acted_between(r->acted, r->prev_answered) &&
	    verify_did_not_move(r->prev, r->cur, mono - r->since, 0))
		layer_warn(v, L_SERVER, "the server's last_activity (/api/status) did not move: the "
			   "server does not count the agent's traffic as activity, so its "
			   "shutdown_no_activity_timeout (if set) may still stop it");
}

static void check_hub(struct verify *v, double mono)
{
	struct reading *r = &v->layer[L_HUB];
	double lag = HUB_REPORT_LAG_S;

	if (!r->fresh)
		return;
	v->warning[L_HUB][0] = '\0';
	if (v->hub_posted) {
		/* The hub took our post just now: its record must show it. */
		if (verify_did_not_move(r->prev, r->cur, mono - r->since, 0))
			layer_warn(v, L_HUB, "the hub's last_activity did not move although it accepted "
				   "the activity post: is the agent's clock behind the hub's?");
		return;
	}
	if (lag < 3 * v->tc->interval_ms / 1000.0)
		lag = 3 * v->tc->interval_ms / 1000.0;
	if (verify_did_not_move(r->prev, r->cur, mono - r->since, lag))
		layer_warn(v, L_HUB, "the hub's last_activity did not move for %.0f s: the proxy may not "
			   "report activity (e.g. traefik-based hubs); hub_activity = on posts it "
			   "directly", mono - r->since);
}

/* "culler sees activity 3 s ago (kernel), 1 s ago (server)" without the
 * numbers, to tell a new kind of line from the same line a round later. */
static void ages_shape(const char *line, char *out, size_t outlen)
{
	size_t n = 0;

	for (; *line && n + 1 < outlen; line++)
		if (*line < '0' || *line > '9')
			out[n++] = *line;
	out[n] = '\0';
}

/* Is the target still reading a kernel's model (verify_kernel_expect)? */
static int kernels_pending(const struct verify *v)
{
	for (size_t i = 0; i < v->nseen; i++)
		if (v->seen[i].pending)
			return 1;
	return 0;
}

static void settle(struct verify *v)
{
	double now = timer_wall_s(), kact;
	char line[200], shape[sizeof(v->last_line_shape)];
	int busy;
	size_t i;

	if (v->scall || v->hub_pending)
		return;
	if (kernels_pending(v)) {
		v->awaiting = 1;	/* settle_when_waited() settles */
		return;
	}
	v->awaiting = 0;
	kact = kernels_oldest(v, &busy);
	verify_format_ages(line, sizeof(line), age_of(kact, now), busy,
			   age_of(v->layer[L_SERVER].cur, now),
			   v->hub ? age_of(v->layer[L_HUB].cur, now) : -1);
	/* The first read-back is news; later ones are DEBUG unless a layer
	 * appears or goes, or busy comes or goes (warnings speak for themselves). */
	ages_shape(line, shape, sizeof(shape));
	if (line[0])
		log_msg(strcmp(shape, v->last_line_shape) ? LL_INFO : LL_DEBUG, tname(v), "%s", line);
	snprintf(v->last_line_shape, sizeof(v->last_line_shape), "%s", shape);
	check_kernels(v, timer_mono_s());
	check_server(v, timer_mono_s());
	check_hub(v, timer_mono_s());
	for (i = 0; i < v->nseen; i++)
		v->seen[i].r.fresh = 0;
	for (i = 0; i < L_COUNT; i++)
		v->layer[i].fresh = 0;
	v->hub_posted = 0;
	/* Last: the callback may free v. Every caller returns right after. */
	if (v->settled)
		v->settled(v->settled_ud);
}

/* ---- kernels: read by the target, judged here ---- */

static struct kseen *seen_find(struct verify *v, const char *id, int add)
{
	struct kseen *k;
	size_t i;

	for (i = 0; i < v->nseen; i++)
		if (!strcmp(v->seen[i].id, id))
			return &v->seen[i];
	if (!add || v->nseen >= VERIFY_MAX_KERNELS)
		return NULL;
	k = &v->seen[v->nseen++];
	memset(k, 0, sizeof(*k));
	snprintf(k->id, sizeof(k->id), "%s", id);
	return k;
}

static void settle_cb(lws_sorted_usec_list_t *sul)
{
	settle(lws_container_of(sul, struct verify, sul_settle));
}

/* A finished read-back waited for kernels' models and none is left to wait
 * for: settle from the loop (in this same pass), never inside the caller. */
static void settle_when_waited(struct verify *v)
{
	if (v->awaiting && !kernels_pending(v) && v->ctx)
		timer_soon(v->ctx, &v->sul_settle, settle_cb);
}

void verify_kernel_expect(struct verify *v, const char *id)
{
	struct kseen *k;

	if (v && (k = seen_find(v, id, 1)))
		k->pending = 1;
}

void verify_kernel_model(struct verify *v, const char *id, double last_activity,
			 const char *state)
{
	struct kseen *k;

	if (!v || !(k = seen_find(v, id, last_activity > 0)))
		return;
	k->pending = 0;
	if (last_activity > 0) {
		reading_set(&k->r, last_activity, timer_mono_s());
		snprintf(k->state, sizeof(k->state), "%s", state ? state : "");
	}
	settle_when_waited(v);
}

void verify_kernel_forget(struct verify *v, const char *id)
{
	struct kseen *k;
	size_t i;

	if (!v || !(k = seen_find(v, id, 0)))
		return;
	i = (size_t)(k - v->seen);
	memmove(&v->seen[i], &v->seen[i + 1], (v->nseen - i - 1) * sizeof(*k));
	v->nseen--;
	/* The server's last_activity is the newest of its kernels' and its own:
	 * with this kernel gone it may step back. Compare afresh. */
	memset(&v->layer[L_SERVER], 0, sizeof(v->layer[L_SERVER]));
	v->warning[L_KERNEL][0] = '\0';
	settle_when_waited(v);	/* it may have waited for that kernel */
}

/* ---- the server ---- */

static void server_done(void *ud, const struct rest_reply *r)
{
	struct verify *v = ud;
	json_t *o;

	v->scall = NULL;
	if ((o = reply_object(v, "the server's status", r))) {
		double act = jmsg_activity(o);

		if (act > 0) {
			reading_set(&v->layer[L_SERVER], act, timer_mono_s());
			v->layer[L_SERVER].acted = v->scall_acted;
		}
		json_decref(o);
	}
	settle(v);
}

static void server_start(struct verify *v)
{
	char url[1024];

	/* /api/status is not tracked: reading it does not move last_activity. */
	v->scall_acted = v->tracked_start;
	if (snprintf(url, sizeof(url), "%sapi/status", v->tc->url) < (int)sizeof(url))
		v->scall = rest_start_for(v->rest, v->tc, "GET", url, NULL, server_done, v);
}

/* ---- the hub (hub.c reads it) ---- */

static void hub_done(void *ud, double act, int posted)
{
	struct verify *v = ud;

	v->hub_pending = 0;
	v->hub_posted = posted;
	if (act > 0)
		reading_set(&v->layer[L_HUB], act, timer_mono_s());
	settle(v);
}

/* ---- public ---- */

struct verify *verify_new(struct lws_context *ctx, struct rest *rest,
			  const struct target_config *tc, struct hub *hub)
{
	struct verify *v;

	if (tc->kind != TARGET_JUPYTER || !tc->url)
		return NULL;
	v = calloc(1, sizeof(*v));
	if (!v || !(v->seen = calloc(VERIFY_MAX_KERNELS, sizeof(*v->seen)))) {
		log_error(tc->name, "out of memory");
		verify_free(v);
		return NULL;
	}
	v->ctx = ctx;
	v->rest = rest;
	v->tc = tc;
	v->hub = hub;
	return v;
}

void verify_on_settled(struct verify *v, void (*settled)(void *ud), void *ud)
{
	if (!v)
		return;
	v->settled = settled;
	v->settled_ud = ud;
}

void verify_round(struct verify *v)
{
	double now;

	if (!v)
		return;
	now = timer_mono_s();
	/* Called after every acknowledged keepalive: one read-back per round. */
	if (v->last_start && now - v->last_start < v->tc->interval_ms / 2000.0)
		return;
	v->last_start = now;
	if (!v->scall)
		server_start(v);
	/* The hub's record, after the target's activity post (hub.h). */
	if (!v->hub_pending && hub_read(v->hub, hub_done, v) == 0)
		v->hub_pending = 1;
	/* Nothing could start: settle from the loop, never from inside this call. */
	if (!v->scall && !v->hub_pending && v->ctx)
		timer_soon(v->ctx, &v->sul_settle, settle_cb);
}

/* Whole seconds, -1 when unknown. */
static long age_s(double act, double now)
{
	double a = age_of(act, now);

	return a < 0 ? -1 : (long)(a + 0.5);
}

void verify_status(const struct verify *v, struct culler_status *out)
{
	double now = timer_wall_s();
	size_t i, n = 0;
	int busy;

	memset(out, 0, sizeof(*out));
	out->kernel_age_s = out->server_age_s = out->hub_age_s = -1;
	if (!v)
		return;
	out->known = 1;
	for (i = 0; i < L_COUNT; i++) {
		if (!v->warning[i][0])
			continue;
		n += (size_t)snprintf(out->warning + n, sizeof(out->warning) - n, "%s%s",
				      n ? "; " : "", v->warning[i]);
		if (n >= sizeof(out->warning))
			break;
	}
	out->kernel_age_s = age_s(kernels_oldest(v, &busy), now);
	out->server_age_s = age_s(v->layer[L_SERVER].cur, now);
	out->hub_age_s = v->hub ? age_s(v->layer[L_HUB].cur, now) : -1;
}

double verify_server_activity(const struct verify *v)
{
	return v ? v->layer[L_SERVER].cur : 0;
}

void verify_set_config(struct verify *v, const struct target_config *tc)
{
	if (v)
		v->tc = tc;
}

void verify_free(struct verify *v)
{
	if (!v)
		return;
	if (v->ctx)
		timer_cancel(v->ctx, &v->sul_settle);
	rest_cancel(v->rest, v->scall);
	if (v->hub_pending)
		hub_read_cancel(v->hub);
	free(v->seen);
	free(v);
}
