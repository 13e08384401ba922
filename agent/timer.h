/*
 * timer: clocks and lws timers, the one place that knows how to cancel a
 * timer on every libwebsockets release we support (4.0 to 4.3).
 *
 * Durations of our own use the monotonic clock, so a clock step cannot
 * stall a timer; ages compared with a server's clock use wall time.
 */
#ifndef AGENT_TIMER_H
#define AGENT_TIMER_H

#include <stddef.h>
#include <stdint.h>

#include <libwebsockets.h>

/* Monotonic time in microseconds and seconds. */
int64_t timer_mono_us(void);
double timer_mono_s(void);

/* Wall-clock time in seconds since the epoch. */
double timer_wall_s(void);

/* Run cb on sul after ms milliseconds (at least 1 ms); re-arming moves it. */
void timer_in_ms(struct lws_context *ctx, lws_sorted_usec_list_t *sul,
		 sul_cb_t cb, int64_t ms);

/*
 * Run cb on sul at the loop's next turn, before it sleeps. lws times its
 * sleep from the start of the pass that ran the timers, so a timer due "now"
 * but armed 1.5 ms into a long pass would cost a 1 ms sleep (a wakeup);
 * this one is armed in the past and runs in the same pass's timer sweep.
 */
void timer_soon(struct lws_context *ctx, lws_sorted_usec_list_t *sul, sul_cb_t cb);

/* Cancel sul (a no-op when it is not armed). */
void timer_cancel(struct lws_context *ctx, lws_sorted_usec_list_t *sul);

/*
 * Round batching: rounds with the same interval and jitter, in one process,
 * fire in one wakeup. A round that drew drawn_ms for its next delay (the
 * interval with its jitter applied) gets instead the delay to the batch
 * already due within its jitter's reach (interval ± jitter, widened by 1 %
 * of the interval up to TIMER_BATCH_SLACK_MS, so that --jitter 0 rounds
 * started moments apart still meet); when there is none, its own draw
 * becomes the batch. So jitter moves the whole batch, as one agent's rounds,
 * and separate agents still drift apart. Up to TIMER_BATCHES intervals.
 */
#define TIMER_BATCHES 16
#define TIMER_BATCH_SLACK_MS 250

struct timer_batch {
	long interval_ms;
	int jitter_pct;
	int64_t due_us;		/* monotonic; 0 = free */
};

/* The delay to use, from a table of n batches at monotonic time now_us (pure; unit-tested). */
long timer_batch_pick(struct timer_batch *tab, size_t n, int64_t now_us, long interval_ms,
		      int jitter_pct, long drawn_ms);

/* The same with the process's own table and clock. */
long timer_batch_ms(long interval_ms, int jitter_pct, long drawn_ms);

/*
 * Read coalescing. The replies to one round (a kernel's busy status, its
 * execute_reply and idle status, the REST ping's answer) land within a few
 * milliseconds of each other, and each one read as it lands costs the
 * process a wakeup. A connection that just sent a request may be held: lws
 * stops polling it for input (lws_rx_flow_control) until its batch resumes,
 * and then everything that arrived meanwhile is read in one pass. Holds made
 * close together form one batch with one resume timer: a hold joins the open
 * batch and may push its resume later, never more than TIMER_HOLD_MAX_US
 * after the batch opened. Holding delays reading, never data: the kernel
 * buffers what arrives.
 *
 * The owner embeds a struct timer_hold (zeroed) next to its wsi and must call
 * timer_hold_forget() before that wsi is closed or freed.
 */
#define TIMER_HOLD_MAX_US 1000000

struct timer_hold {
	struct timer_hold *next;
	struct lws *wsi;		/* held now; NULL when not */
	int64_t resumed_us;		/* monotonic time of the last resume, 0 = never */
};

/* Hold h's wsi until at least now + us (within the open batch's bounds). */
void timer_hold(struct lws_context *ctx, struct timer_hold *h, struct lws *wsi, int64_t us);

/* Never hold from now on: a run of one round (--once) saves no wakeups by
 * holding and would only wait. */
void timer_hold_off(void);

/* Resume time of the open batch (monotonic us), or 0 when no batch is open. */
int64_t timer_hold_until(void);

/* The wsi is going away: drop h from its batch without touching the wsi. */
void timer_hold_forget(struct timer_hold *h);

/* "1h30m", "2d3h4m5s", "300ms", "0s" for ms; returns out. */
char *timer_format_duration(long ms, char *out, size_t outlen);

#endif
