/*
 * notify: short messages about a long run's milestones, POSTed to
 * [agent] notify_url with notify_header lines: the agent started, a target
 * was lost, a stop condition was met, the --for cap ends soon.
 *
 * Plain text by default (works with ntfy-style services); notify_format =
 * json sends {"event","target","reason","time"}. A failing notification is
 * logged and never stops the agent. Every function accepts a NULL notifier
 * (no notify_url configured) and then does nothing.
 */
#ifndef AGENT_NOTIFY_H
#define AGENT_NOTIFY_H

#include <stddef.h>

#include "config.h"

struct rest;
struct notify;

/* NULL when cfg has no notify_url. cfg must outlive the notifier. */
struct notify *notify_new(struct rest *rest, const struct agent_config *cfg);

/* Send one event ("started", "kernel-gone", "target-lost", "stop-condition", "lingering",
 * "ending-soon"). target may be NULL. */
void notify_send(struct notify *n, const char *event, const char *target, const char *reason);

/* Requests still in flight (for a short wait at shutdown). */
size_t notify_pending(const struct notify *n);

void notify_free(struct notify *n);

/* Pure: the body for one event, malloc'd; the text is redacted. time is epoch seconds. */
char *notify_body(enum notify_format fmt, const char *event, const char *target,
		  const char *reason, double time);

#endif
