/* SPDX-License-Identifier: MIT */
/*
 * hub: the hub's API URL, the activity post and the hub read-back. See hub.h.
 *
 * One call at a time: the post, or the read. A read asked for while the post
 * runs is remembered (read_wanted) and started from the post's callback.
 */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "hub.h"
#include "jmsg.h"
#include "log.h"
#include "rest.h"
#include "timer.h"
#include "url.h"

struct hub {
	struct lws_context *ctx;
	struct rest *rest;
	const struct target_config *tc;
	char *api, *user, *server;	/* the hub's API URL, the user, the server ("" = default) */
	char *user_path;		/* user percent-encoded for URLs */
	int may_read;			/* may read GET {hub}/users/NAME */
	int may_post;			/* posts activity (hub_activity on/auto, until refused) */
	int post_warned;
	int posted;			/* the hub took a post since the last read reported */
	double last_post;		/* monotonic time of the last round that could post */
	struct rest_call *call;		/* the post or the read in flight */
	int posting;			/* call is the post */
	int read_wanted;		/* a read waits for the post in flight */
	hub_read_fn done;		/* the pending read's reader; NULL when none */
	void *done_ud;
};

static const char *tname(const struct hub *h)
{
	return h->tc->name;
}

/* ---- pure helpers ---- */

/* Percent-decode a path segment; NULL when malformed or decoding to NUL or '/'. */
static char *pct_decode(const char *s, size_t n)
{
	char *out = malloc(n + 1);

	if (out && url_pct_decode(s, n, out, n + 1, "/") < 0) {
		free(out);
		out = NULL;
	}
	return out;
}

static char *pct_encode(const char *s)
{
	static const char hex[] = "0123456789ABCDEF";
	char *out = malloc(strlen(s) * 3 + 1), *o = out;

	if (!out)
		return NULL;
	for (; *s; s++) {
		unsigned char c = (unsigned char)*s;

		if (isalnum(c) || c == '-' || c == '.' || c == '_' || c == '~') {
			*o++ = (char)c;
		} else {
			*o++ = '%';
			*o++ = hex[c >> 4];
			*o++ = hex[c & 15];
		}
	}
	*o = '\0';
	return out;
}

/* Length of the path segment at s (up to '/' or the end). */
static size_t seglen(const char *s)
{
	return strcspn(s, "/");
}

int hub_from_url(const char *url, char **hub_api, char **user, char **server)
{
	const char *host, *path, *p;

	if (!strncmp(url, "https://", 8))
		host = url + 8;
	else if (!strncmp(url, "http://", 7))
		host = url + 7;
	else
		return -1;
	if (strpbrk(url, "?#"))
		return -1;
	path = strchr(host, '/');
	if (!path || path == host)
		return -1;
	/* The first "/user/" after which only NAME/ or NAME/SERVER/ follows: a
	 * hub's base URL may itself contain "/user/". */
	for (p = strstr(path, "/user/"); p; p = strstr(p + 1, "/user/")) {
		const char *name = p + 6, *srv = NULL, *end;
		size_t nlen = seglen(name), slen = 0;
		char *a, *u, *s;

		if (!nlen)
			continue;
		end = name + nlen;
		if (*end == '/' && end[1]) {
			srv = end + 1;
			slen = seglen(srv);
			end = srv + slen;
		}
		if (*end == '/')
			end++;
		if (*end)
			continue;
		u = pct_decode(name, nlen);
		s = srv ? pct_decode(srv, slen) : strdup("");
		a = malloc((size_t)(p - url) + sizeof("/hub/api"));
		if (!u || !s || !a) {
			free(u);
			free(s);
			free(a);
			return -1;
		}
		memcpy(a, url, (size_t)(p - url));
		strcpy(a + (p - url), "/hub/api");
		*hub_api = a;
		*user = u;
		*server = s;
		return 0;
	}
	return -1;
}

char *hub_activity_body(const char *server, const char *when)
{
	json_t *doc = json_pack("{s:{s:{s:s}}, s:s}", "servers", server, "last_activity", when,
				"last_activity", when);
	char *body = doc ? json_dumps(doc, JSON_COMPACT) : NULL;

	json_decref(doc);
	return body;
}

enum hub_model hub_parse_user(const char *body, size_t len, const char *server, double *act)
{
	json_t *o = json_loadb(body, len, 0, NULL), *servers;
	enum hub_model m = HUB_MODEL_ACTIVITY;

	*act = 0;
	if (!json_is_object(o)) {
		json_decref(o);
		return HUB_MODEL_INVALID;
	}
	servers = json_object_get(o, "servers");
	if (json_is_object(servers)) {
		json_t *s = json_object_get(servers, server);

		if (s)
			*act = jmsg_activity(s);
		else
			m = HUB_MODEL_NO_SERVER;
	} else if (!(*act = jmsg_activity(o))) {
		/* Without read:servers the user's own last_activity is the closest. */
		m = HUB_MODEL_NO_SCOPE;
	}
	json_decref(o);
	return m;
}

/* ---- calls ---- */

/* Hand the reading to the pending reader, if any. */
static void report(struct hub *h, double act)
{
	hub_read_fn done = h->done;
	int posted = h->posted;

	h->done = NULL;
	h->posted = 0;
	if (done)
		done(h->done_ud, act, posted);
}

static void read_done(void *ud, const struct rest_reply *r)
{
	struct hub *h = ud;
	double act = 0;

	h->call = NULL;
	if (!r->curl_code && (r->status == 401 || r->status == 403 || r->status == 404)) {
		/* The hub answers 404 for a user the token may not see. */
		h->may_read = 0;
		log_info(tname(h), "the token may not read the hub's record of %s's server (HTTP %ld); "
			 "not reading it back", h->user, r->status);
	} else if (r->curl_code) {
		log_debug(tname(h), "read-back of the hub's user model failed: %s", r->error);
	} else if (r->status != 200 || !rest_reply_is_json(r)) {
		log_debug(tname(h), "read-back of the hub's user model: HTTP %ld", r->status);
	} else {
		switch (hub_parse_user(r->body, r->len, h->server, &act)) {
		case HUB_MODEL_ACTIVITY:
			break;
		case HUB_MODEL_NO_SERVER:
			log_debug(tname(h), "the hub lists no running server '%s' for %s",
				  h->server, h->user);
			break;
		case HUB_MODEL_NO_SCOPE:
			h->may_read = 0;
			log_info(tname(h), "the token may not read the hub's activity for %s; "
				 "not reading it back", h->user);
			break;
		case HUB_MODEL_INVALID:
			log_debug(tname(h), "read-back of the hub's user model: not a JSON object");
			break;
		}
	}
	report(h, act);
}

/* Start the read; 0, or -1 when it cannot start (reading is off, say). */
static int read_start(struct hub *h)
{
	char url[1024];

	h->read_wanted = 0;
	if (!h->may_read ||
	    snprintf(url, sizeof(url), "%s/users/%s", h->api, h->user_path) >= (int)sizeof(url))
		return -1;
	h->call = rest_start_for(h->rest, h->tc, "GET", url, NULL, read_done, h);
	return h->call ? 0 : -1;
}

static void post_refused(struct hub *h, const struct rest_reply *r)
{
	char why[200];
	int permanent = !r->curl_code && r->status >= 300 && r->status < 500;

	if (r->curl_code)
		snprintf(why, sizeof(why), "%s", r->error);
	else if (r->status == 403 || r->status == 401)
		snprintf(why, sizeof(why), "HTTP %ld: the token lacks the users:activity scope", r->status);
	else
		snprintf(why, sizeof(why), "HTTP %ld", r->status);
	if (h->tc->hub_activity == HUB_AUTO) {
		if (!permanent) {
			log_debug(tname(h), "could not post activity to the hub: %s", why);
			return;
		}
		h->may_post = 0;
		log_info(tname(h), "the hub did not take the activity post (%s); relying on the proxy "
			 "and the server's own reports", why);
		return;
	}
	if (permanent)
		h->may_post = 0;
	if (!h->post_warned) {
		h->post_warned = 1;
		log_warn(tname(h), "hub_activity = on, but the hub did not take the activity post to "
			 "%s/users/%s/activity (%s)%s", h->api, h->user_path, why,
			 permanent ? "; not posting again" : "");
	}
}

static void post_done(void *ud, const struct rest_reply *r)
{
	struct hub *h = ud;

	h->call = NULL;
	h->posting = 0;
	if (!r->curl_code && r->status >= 200 && r->status < 300) {
		h->posted = 1;
		log_debug(tname(h), "posted activity to the hub");
	} else {
		post_refused(h, r);
	}
	/* Last: the reader may free h. */
	if (h->read_wanted && read_start(h) < 0)
		report(h, 0);
}

/* ---- public ---- */

struct hub *hub_new(struct lws_context *ctx, struct rest *rest, const struct target_config *tc)
{
	struct hub *h;
	char *api = NULL, *user = NULL, *server = NULL;

	if (tc->kind != TARGET_JUPYTER || !tc->url)
		return NULL;
	if (hub_from_url(tc->url, &api, &user, &server) < 0) {
		if (tc->hub_api_url)
			log_warn(tc->name, "hub_api_url is set, but the URL is not a hub user's server "
				 "(.../user/NAME/): not reading or posting hub activity");
		else if (tc->hub_activity == HUB_ON)
			log_warn(tc->name, "hub_activity = on, but the hub is unknown: set hub_api_url, "
				 "or use the hub URL of the server (.../user/NAME/)");
		return NULL;
	}
	if (!(h = calloc(1, sizeof(*h))))
		goto fail;
	h->ctx = ctx;
	h->rest = rest;
	h->tc = tc;
	h->user = user;
	h->server = server;
	user = server = NULL;
	if (tc->hub_api_url) {
		size_t n = strlen(tc->hub_api_url);

		while (n > 0 && tc->hub_api_url[n - 1] == '/')
			n--;
		h->api = strndup(tc->hub_api_url, n);
	} else {
		h->api = api;
		api = NULL;
	}
	if (!h->api || !(h->user_path = pct_encode(h->user)))
		goto fail;
	free(api);
	h->may_read = 1;
	h->may_post = tc->hub_activity != HUB_OFF;
	log_debug(tc->name, "hub API %s, user %s, server '%s'", h->api, h->user, h->server);
	return h;
fail:
	log_error(tc->name, "out of memory");
	free(api);
	free(user);
	free(server);
	hub_free(h);
	return NULL;
}

void hub_activity(struct hub *h)
{
	char url[1024], now[40], *body;
	double mono;

	if (!h || !h->may_post)
		return;
	mono = timer_mono_s();
	/* Called after every verified round (each kernel's): one post per
	 * round at most, and none while the hub is still being read. */
	if (h->last_post && mono - h->last_post < h->tc->interval_ms / 2000.0)
		return;
	h->last_post = mono;
	if (h->call)
		return;
	jmsg_now_iso(now, sizeof(now));
	body = hub_activity_body(h->server, now);
	if (body && snprintf(url, sizeof(url), "%s/users/%s/activity", h->api, h->user_path) <
	    (int)sizeof(url))
		h->call = rest_start_for(h->rest, h->tc, "POST", url, body, post_done, h);
	h->posting = h->call != NULL;
	free(body);
}

int hub_read(struct hub *h, hub_read_fn done, void *ud)
{
	if (!h)
		return -1;
	h->done = done;
	h->done_ud = ud;
	if (h->call) {
		/* A read runs already, or the post: then read once it is done. */
		if (h->posting)
			h->read_wanted = 1;
		return 0;
	}
	if (read_start(h) < 0) {
		h->done = NULL;
		return -1;
	}
	return 0;
}

void hub_read_cancel(struct hub *h)
{
	if (!h)
		return;
	h->done = NULL;
	h->read_wanted = 0;
}

const char *hub_user(const struct hub *h)
{
	return h ? h->user : NULL;
}

void hub_set_config(struct hub *h, const struct target_config *tc)
{
	/* Identical (config_target_equal), so the hub derived from it stands. */
	if (h)
		h->tc = tc;
}

void hub_free(struct hub *h)
{
	if (!h)
		return;
	rest_cancel(h->rest, h->call);
	free(h->api);
	free(h->user);
	free(h->server);
	free(h->user_path);
	free(h);
}
