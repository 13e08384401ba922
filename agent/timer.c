/* timer: see timer.h. */
#include <stdio.h>
#include <time.h>

#include "timer.h"

int64_t timer_mono_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

double timer_mono_s(void)
{
	return (double)timer_mono_us() / 1e6;
}

double timer_wall_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

void timer_in_ms(struct lws_context *ctx, lws_sorted_usec_list_t *sul,
		 sul_cb_t cb, int64_t ms)
{
	if (ms < 1)
		ms = 1;
	lws_sul_schedule(ctx, 0, sul, cb, (lws_usec_t)ms * 1000);
}

void timer_soon(struct lws_context *ctx, lws_sorted_usec_list_t *sul, sul_cb_t cb)
{
	/* Any negative delay but -1 (LWS_SET_TIMER_USEC_CANCEL) is in the past. */
	lws_sul_schedule(ctx, 0, sul, cb, -(lws_usec_t)LWS_US_PER_SEC);
}

#if LWS_LIBRARY_VERSION_NUMBER < 4001000
static void cancelled(lws_sorted_usec_list_t *sul)
{
	(void)sul;
}
#endif

void timer_cancel(struct lws_context *ctx, lws_sorted_usec_list_t *sul)
{
#if LWS_LIBRARY_VERSION_NUMBER >= 4001000
	(void)ctx;
	lws_sul_cancel(sul);
#else
	/*
	 * lws_sul_cancel() arrived in 4.1. The 4.0 idiom schedules with
	 * LWS_SET_TIMER_USEC_CANCEL; it needs a real callback, because from
	 * 4.3.0 lws_sul_schedule() asserts one (lib/core-net/sorted-usec-list.c).
	 */
	lws_sul_schedule(ctx, 0, sul, cancelled, LWS_SET_TIMER_USEC_CANCEL);
#endif
}

/* ---- round batching ---- */

long timer_batch_pick(struct timer_batch *tab, size_t n, int64_t now_us, long interval_ms,
		      int jitter_pct, long drawn_ms)
{
	int64_t reach = (int64_t)interval_ms * jitter_pct / 100, slack = interval_ms / 100;
	struct timer_batch *free_slot = NULL, *oldest = NULL;
	size_t i;

	if (slack > TIMER_BATCH_SLACK_MS)
		slack = TIMER_BATCH_SLACK_MS;
	for (i = 0; i < n; i++) {
		struct timer_batch *b = &tab[i];
		int64_t in_ms;

		if (!b->due_us || b->due_us <= now_us) {
			if (!free_slot)
				free_slot = b;
			continue;
		}
		if (!oldest || b->due_us < oldest->due_us)
			oldest = b;
		if (b->interval_ms != interval_ms || b->jitter_pct != jitter_pct)
			continue;
		in_ms = (b->due_us - now_us + 999) / 1000;
		if (in_ms >= interval_ms - reach - slack && in_ms <= interval_ms + reach + slack)
			return (long)in_ms;
	}
	if (!free_slot)
		free_slot = oldest;	/* table full: the soonest due is forgotten */
	if (free_slot) {
		free_slot->interval_ms = interval_ms;
		free_slot->jitter_pct = jitter_pct;
		free_slot->due_us = now_us + (int64_t)drawn_ms * 1000;
	}
	return drawn_ms;
}

long timer_batch_ms(long interval_ms, int jitter_pct, long drawn_ms)
{
	static struct timer_batch tab[TIMER_BATCHES];

	return timer_batch_pick(tab, TIMER_BATCHES, timer_mono_us(), interval_ms, jitter_pct,
				drawn_ms);
}

/* ---- read coalescing: one batch at a time ---- */

static struct timer_hold *held;		/* the open batch */
static int holds_off;			/* timer_hold_off(): read as data comes */
static int64_t batch_open_us, batch_due_us;
static lws_sorted_usec_list_t sul_resume;
static struct lws_context *hold_ctx;

static void resume_cb(lws_sorted_usec_list_t *sul)
{
	struct timer_hold *h, *next;
	int64_t now = timer_mono_us();

	(void)sul;
	h = held;
	held = NULL;
	batch_due_us = 0;
	for (; h; h = next) {
		struct lws *wsi = h->wsi;

		next = h->next;
		h->next = NULL;
		h->wsi = NULL;
		h->resumed_us = now;
		if (wsi)
			lws_rx_flow_control(wsi, 1);
	}
}

void timer_hold(struct lws_context *ctx, struct timer_hold *h, struct lws *wsi, int64_t us)
{
	int64_t now = timer_mono_us(), due;

	if (!wsi || us <= 0 || holds_off)
		return;
	if (us > TIMER_HOLD_MAX_US)
		us = TIMER_HOLD_MAX_US;
	if (!held) {
		batch_open_us = now;
		batch_due_us = 0;
	}
	due = now + us;
	if (due > batch_open_us + TIMER_HOLD_MAX_US)
		due = batch_open_us + TIMER_HOLD_MAX_US;
	if (!h->wsi) {
		if (due <= now)
			return;		/* the batch is about to resume: not worth it */
		h->wsi = wsi;
		h->next = held;
		held = h;
		lws_rx_flow_control(wsi, 0);
	}
	if (due > batch_due_us) {
		batch_due_us = due;
		hold_ctx = ctx;
		lws_sul_schedule(ctx, 0, &sul_resume, resume_cb, (lws_usec_t)(due - now));
	}
}

void timer_hold_off(void)
{
	holds_off = 1;
}

int64_t timer_hold_until(void)
{
	return held ? batch_due_us : 0;
}

void timer_hold_forget(struct timer_hold *h)
{
	struct timer_hold **pp;

	if (!h || !h->wsi)
		return;
	for (pp = &held; *pp; pp = &(*pp)->next)
		if (*pp == h) {
			*pp = h->next;
			break;
		}
	h->next = NULL;
	h->wsi = NULL;
	if (!held && hold_ctx) {
		timer_cancel(hold_ctx, &sul_resume);
		batch_due_us = 0;
	}
}

char *timer_format_duration(long ms, char *out, size_t outlen)
{
	static const struct { long ms; const char *unit; } units[] = {
		{ 86400000L, "d" }, { 3600000L, "h" }, { 60000L, "m" }, { 1000L, "s" }, { 1L, "ms" },
	};
	size_t used = 0;

	if (!outlen)
		return out;
	out[0] = '\0';
	if (ms <= 0) {
		snprintf(out, outlen, "0s");
		return out;
	}
	for (size_t i = 0; i < sizeof(units) / sizeof(units[0]) && used < outlen; i++) {
		long n = ms / units[i].ms;

		if (!n)
			continue;
		ms -= n * units[i].ms;
		int k = snprintf(out + used, outlen - used, "%ld%s", n, units[i].unit);
		if (k < 0)
			break;
		used += (size_t)k;
	}
	return out;
}
