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

/* Cancel sul (a no-op when it is not armed). */
void timer_cancel(struct lws_context *ctx, lws_sorted_usec_list_t *sul);

/* "1h30m", "2d3h4m5s", "300ms", "0s" for ms; returns out. */
char *timer_format_duration(long ms, char *out, size_t outlen);

#endif
