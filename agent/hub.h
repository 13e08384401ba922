/* SPDX-License-Identifier: MIT */
/*
 * hub: the JupyterHub side of a target whose server is a hub user's server.
 *
 *   the hub's API   the target's hub_api_url, else derived from a URL of the
 *                   form …/user/NAME/ or …/user/NAME/SERVER/ (hub at …/hub/api)
 *   activity post   POST {hub}/users/NAME/activity
 *                   {"servers": {SERVER: {"last_activity": now}}, "last_activity": now}
 *                   as the single-user server itself does (JupyterHub 3.0
 *                   singleuser/mixins.py notify_activity; the hub takes it
 *                   in apihandlers/users.py ActivityAPIHandler), so that
 *                   jupyterhub-idle-culler sees the keepalive even where the
 *                   proxy reports nothing (traefik-based hubs)
 *   read-back       GET {hub}/users/NAME: servers[SERVER].last_activity, what
 *                   jupyterhub-idle-culler reads
 *
 * The post is a keepalive: the target sends it (hub_activity) once a round
 * has shown that the server answers, as a running single-user server would,
 * with the target's token; never for a server that is down. With
 * hub_activity = auto the hub's refusal (a 3xx or 4xx) stops posting after
 * one info line; with on it warns once. A token that may not read the user's
 * model (401/403/404, or a model without servers and activity) stops the
 * read-back after one info line. The read-back never creates activity.
 *
 * At most one call to the hub is in flight: a read asked for while the post
 * runs starts when the post is done, so a read-back always sees the post
 * before it. Requests use the target's token, ca_file, insecure and timeout,
 * through rest (which never follows redirects). Bodies are never printed.
 *
 * Ownership: the target owns the hub (hub_new, hub_free); the hub keeps a
 * pointer to tc (which must outlive it) and copies everything else.
 */
#ifndef AGENT_HUB_H
#define AGENT_HUB_H

#include <stddef.h>
#include <libwebsockets.h>

#include "config.h"

struct hub;
struct rest;

/*
 * The hub of a Jupyter target, or NULL when its URL is not a hub user's
 * server (after a warning when hub_api_url or hub_activity = on asks for a
 * hub) and on allocation failure. Every function below accepts NULL and then
 * does nothing.
 */
struct hub *hub_new(struct lws_context *ctx, struct rest *rest, const struct target_config *tc);

/*
 * The target's round has shown the server answers: post its activity to the
 * hub, unless posting is off or was refused for good, a call to the hub is
 * in flight, or the last post was less than half an interval ago.
 */
void hub_activity(struct hub *h);

/*
 * What the hub's record says: last_activity is the server's (or, for a token
 * without read:servers, the user's) in epoch seconds, 0 when unknown; posted
 * says the hub took an activity post since the previous read, so its record
 * must show it.
 */
typedef void (*hub_read_fn)(void *ud, double last_activity, int posted);

/*
 * Read the hub's record after any post in flight. Returns 0 when done(ud, …)
 * will be called once, from the event loop (with last_activity 0 when the
 * read failed or reading is off); -1 when there is nothing to wait for
 * (reading is off and no post runs, or nothing could start), and done is
 * not called. A second read while one is pending replaces its callback.
 */
int hub_read(struct hub *h, hub_read_fn done, void *ud);

/* Forget the pending read's callback (its reader goes away). */
void hub_read_cancel(struct hub *h);

/* The hub user whose server the target is, e.g. for "the hub did not accept
 * the token for /user/NAME/"; NULL for a NULL h. */
const char *hub_user(const struct hub *h);

/* A config reload found an identical target config: use tc from now on. */
void hub_set_config(struct hub *h, const struct target_config *tc);

/* Cancel its calls and free. NULL is ignored. */
void hub_free(struct hub *h);

/* Pure helpers (unit-tested). */

/*
 * Split a hub user-server URL, "http(s)://HOST[/PREFIX]/user/NAME/" or
 * ".../user/NAME/SERVER/" (trailing '/' optional), into the hub API URL
 * "http(s)://HOST[/PREFIX]/hub/api", the user name and the server name ("" for
 * the default server), percent-decoded. Returns 0 and malloc'd strings, or -1
 * (outputs untouched) when url is not of that form.
 */
int hub_from_url(const char *url, char **hub_api, char **user, char **server);

/* The activity post's body for server ("" = the default server) at when (ISO
 * 8601), compact JSON; malloc'd, NULL on allocation failure. */
char *hub_activity_body(const char *server, const char *when);

/* What a user model (GET {hub}/users/NAME) says about server. */
enum hub_model {
	HUB_MODEL_ACTIVITY,	/* *act is the server's last_activity (or the user's) */
	HUB_MODEL_NO_SERVER,	/* the model lists servers, but not this one running */
	HUB_MODEL_NO_SCOPE,	/* no servers and no activity: the token may not read them */
	HUB_MODEL_INVALID,	/* not a JSON object */
};

/* Read body (len bytes) as a user model; *act is 0 unless HUB_MODEL_ACTIVITY. */
enum hub_model hub_parse_user(const char *body, size_t len, const char *server, double *act);

#endif
