/* notify: milestone messages to notify_url. See notify.h. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <jansson.h>

#include "jmsg.h"
#include "log.h"
#include "notify.h"
#include "rest.h"

#define NOTIFY_MAX_CALLS 8	/* a dead service must not pile up requests */

struct notify {
	struct rest *rest;
	const struct agent_config *cfg;
	struct rest_call *calls[NOTIFY_MAX_CALLS];
};

char *notify_body(enum notify_format fmt, const char *event, const char *target,
		  const char *reason, double t)
{
	char red[512], iso[40], *out = NULL;
	time_t secs = (time_t)t;
	struct tm tm;
	json_t *o;

	log_redact(reason ? reason : "", red, sizeof(red));
	gmtime_r(&secs, &tm);
	strftime(iso, sizeof(iso), "%Y-%m-%dT%H:%M:%SZ", &tm);
	switch (fmt) {
	case NOTIFY_JSON:
		o = json_pack("{s:s, s:s?, s:s, s:s}", "event", event, "target", target,
			      "reason", red, "time", iso);
		out = o ? json_dumps(o, JSON_COMPACT) : NULL;
		json_decref(o);
		break;
	case NOTIFY_TEXT:
		if ((target ? asprintf(&out, "agent %s [%s]: %s", event, target, red)
			    : asprintf(&out, "agent %s: %s", event, red)) < 0)
			out = NULL;
		break;
	}
	return out;
}

static void notify_done(void *ud, const struct rest_reply *r)
{
	struct rest_call **slot = ud;

	*slot = NULL;
	if (r->curl_code || r->status < 200 || r->status >= 300)
		log_warn("notify", "notification failed: %s",
			 r->curl_code ? r->error : "the service answered with an error status");
}

struct notify *notify_new(struct rest *rest, const struct agent_config *cfg)
{
	struct notify *n;

	if (!cfg->notify_url)
		return NULL;
	n = calloc(1, sizeof(*n));
	if (!n)
		return NULL;
	n->rest = rest;
	n->cfg = cfg;
	return n;
}

void notify_send(struct notify *n, const char *event, const char *target, const char *reason)
{
	struct rest_request req = {0};
	struct timespec ts;
	char *body;
	size_t i;

	if (!n)
		return;
	for (i = 0; i < NOTIFY_MAX_CALLS && n->calls[i]; i++)
		;
	if (i == NOTIFY_MAX_CALLS) {
		log_warn("notify", "notification service is not answering; dropping '%s'", event);
		return;
	}
	clock_gettime(CLOCK_REALTIME, &ts);
	body = notify_body(n->cfg->notify_format, event, target, reason, (double)ts.tv_sec);
	if (!body)
		return;
	req.url = n->cfg->notify_url;
	req.method = "POST";
	req.body = body;
	req.content_type = n->cfg->notify_format == NOTIFY_JSON ? "application/json" : "text/plain";
	req.headers = &n->cfg->notify_headers;
	req.timeout_ms = 10000;
	n->calls[i] = rest_start(n->rest, &req, notify_done, &n->calls[i]);
	free(body);
}

size_t notify_pending(const struct notify *n)
{
	size_t i, c = 0;

	for (i = 0; n && i < NOTIFY_MAX_CALLS; i++)
		c += n->calls[i] != NULL;
	return c;
}

void notify_free(struct notify *n)
{
	size_t i;

	if (!n)
		return;
	for (i = 0; i < NOTIFY_MAX_CALLS; i++)
		rest_cancel(n->rest, n->calls[i]);
	free(n);
}
