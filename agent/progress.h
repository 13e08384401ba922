/*
 * progress: what a running agent shows of its progress between warnings.
 *
 * On a terminal: the status line (log.h), redrawn every second, e.g.
 *     keeping 2 kernels · a1b2c3d4 busy 2h13m (safe) · e5f6a7b8 ok 3s ago ·
 *     server activity 20s ago · next in 41s
 * Elsewhere (a file, the journal, a detached agent): one INFO line every
 * ten minutes, "still keeping …, N keepalives acknowledged in 10m", so a
 * quiet log still shows the agent is alive. Per-round lines are DEBUG.
 *
 * progress reads the agent's targets array through the pointers it is given
 * (owned by main, replaced on reload); it owns only its timer.
 */
#ifndef AGENT_PROGRESS_H
#define AGENT_PROGRESS_H

#include <stddef.h>

#include <libwebsockets.h>

struct target;
struct progress;

/* tty: draw the status line (the caller has checked stderr is a terminal
 * and that neither -v nor --log-json is on). NULL on allocation failure. */
struct progress *progress_new(struct lws_context *ctx, int tty,
			      struct target **const *targets, const size_t *ntargets);

/* Redraw now (something changed). */
void progress_update(struct progress *p);

/* Cancel the timer, erase the status line, free. NULL is ignored. */
void progress_free(struct progress *p);

#endif
