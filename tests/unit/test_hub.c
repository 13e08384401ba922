/* SPDX-License-Identifier: MIT */
/* Unit tests for hub: hub URLs, the activity post's body, reading a user model, hub_new. */
#include <stdlib.h>

#include <jansson.h>

#include "hub.h"
#include "log.h"
#include "unit.h"

/* Split url; returns "hub_api|user|server" in out, or "-" when not a hub URL. */
static const char *split(const char *url, char *out, size_t outlen)
{
	char *a = NULL, *u = NULL, *s = NULL;

	if (hub_from_url(url, &a, &u, &s) != 0) {
		snprintf(out, outlen, "-");
		CHECK(!a && !u && !s);
		return out;
	}
	snprintf(out, outlen, "%s|%s|%s", a, u, s);
	free(a);
	free(u);
	free(s);
	return out;
}

TEST(hub_urls)
{
	char b[512];

	CHECK_STR(split("http://127.0.0.1:8000/user/alice/", b, sizeof(b)),
		  "http://127.0.0.1:8000/hub/api|alice|");
	CHECK_STR(split("https://hub.example.org/user/alice", b, sizeof(b)),
		  "https://hub.example.org/hub/api|alice|");
	CHECK_STR(split("https://hub.example.org/user/alice/gpu/", b, sizeof(b)),
		  "https://hub.example.org/hub/api|alice|gpu");
	/* a hub under a prefix */
	CHECK_STR(split("https://example.org/jhub/user/bob/", b, sizeof(b)),
		  "https://example.org/jhub/hub/api|bob|");
	/* percent-encoded names are decoded */
	CHECK_STR(split("https://h/user/a%40b.org/my%20srv/", b, sizeof(b)),
		  "https://h/hub/api|a@b.org|my srv");
	/* a user called "user", a prefix containing /user/ */
	CHECK_STR(split("https://h/user/user/", b, sizeof(b)), "https://h/hub/api|user|");
	CHECK_STR(split("https://h/user/x/y/user/carol/", b, sizeof(b)),
		  "https://h/user/x/y/hub/api|carol|");
}

TEST(not_hub_urls)
{
	char b[256];

	CHECK_STR(split("http://127.0.0.1:8888/", b, sizeof(b)), "-");
	CHECK_STR(split("http://127.0.0.1:8888/user/", b, sizeof(b)), "-");
	CHECK_STR(split("http://127.0.0.1:8888/user//", b, sizeof(b)), "-");
	/* deeper than NAME/SERVER/: a page, not a server's base URL */
	CHECK_STR(split("https://h/user/alice/lab/tree/", b, sizeof(b)), "-");
	CHECK_STR(split("https://h/user/alice/?token=x", b, sizeof(b)), "-");
	CHECK_STR(split("ftp://h/user/alice/", b, sizeof(b)), "-");
	CHECK_STR(split("https://user/alice/", b, sizeof(b)), "-");
	/* an encoded '/' or NUL, or a broken escape, is not a name */
	CHECK_STR(split("https://h/user/a%2Fb/", b, sizeof(b)), "-");
	CHECK_STR(split("https://h/user/a%00/", b, sizeof(b)), "-");
	CHECK_STR(split("https://h/user/a%4/", b, sizeof(b)), "-");
	CHECK_STR(split("https://h/user/a%zz/", b, sizeof(b)), "-");
}

TEST(activity_body_names_the_server)
{
	char *b = hub_activity_body("", "2026-11-30T04:00:00.000000Z");

	/* What jupyterhub-singleuser posts: the server's and the user's activity. */
	CHECK_STR(b, "{\"servers\":{\"\":{\"last_activity\":\"2026-11-30T04:00:00.000000Z\"}},"
		  "\"last_activity\":\"2026-11-30T04:00:00.000000Z\"}");
	free(b);
	b = hub_activity_body("gpu", "2026-11-30T04:00:00Z");
	CHECK_CONTAINS(b, "{\"servers\":{\"gpu\":{\"last_activity\":\"2026-11-30T04:00:00Z\"}}");
	free(b);
}

TEST(user_model_readings)
{
	static const char full[] =
		"{\"name\":\"alice\",\"last_activity\":\"2026-11-30T03:00:00Z\",\"servers\":{"
		"\"\":{\"name\":\"\",\"last_activity\":\"2026-11-30T04:00:00Z\"},"
		"\"gpu\":{\"name\":\"gpu\",\"last_activity\":null}}}";
	static const char no_servers[] = "{\"name\":\"alice\",\"last_activity\":\"2026-11-30T03:00:00Z\"}";
	double act = -1, user_act;

	CHECK(hub_parse_user(full, sizeof(full) - 1, "", &act) == HUB_MODEL_ACTIVITY);
	CHECK(act > 0);
	/* The server's record, not the user's (an hour older). */
	CHECK(hub_parse_user(no_servers, sizeof(no_servers) - 1, "", &user_act) == HUB_MODEL_ACTIVITY);
	CHECK(act - user_act > 3599 && act - user_act < 3601);
	/* A listed server without activity yet: known, 0. */
	CHECK(hub_parse_user(full, sizeof(full) - 1, "gpu", &act) == HUB_MODEL_ACTIVITY);
	CHECK(act == 0);
	CHECK(hub_parse_user(full, sizeof(full) - 1, "other", &act) == HUB_MODEL_NO_SERVER);
	CHECK(act == 0);
	/* Neither servers nor activity: the token may not read them. */
	CHECK(hub_parse_user("{\"name\":\"alice\"}", 16, "", &act) == HUB_MODEL_NO_SCOPE);
	CHECK(hub_parse_user("<html>", 6, "", &act) == HUB_MODEL_INVALID);
	CHECK(hub_parse_user("[1]", 3, "", &act) == HUB_MODEL_INVALID);
}

/* A Jupyter target at url, with hub_activity as given. */
static struct target_config target(char *url, enum hub_activity act)
{
	struct target_config tc = {0};

	tc.name = "alice";
	tc.kind = TARGET_JUPYTER;
	tc.url = url;
	tc.interval_ms = 60000;
	tc.timeout_ms = 1000;
	tc.hub_activity = act;
	return tc;
}

TEST(new_knows_the_hub_or_none)
{
	struct target_config tc = target("http://127.0.0.1:9/", HUB_AUTO);
	struct hub *h;

	/* NULL is safe everywhere */
	CHECK(hub_user(NULL) == NULL);
	CHECK(hub_read(NULL, NULL, NULL) == -1);
	hub_activity(NULL);
	hub_read_cancel(NULL);
	hub_set_config(NULL, &tc);
	hub_free(NULL);

	/* a plain server, and a ping target: no hub */
	CHECK(hub_new(NULL, NULL, &tc) == NULL);
	tc.hub_activity = HUB_ON;		/* warns: the hub is unknown */
	CHECK(hub_new(NULL, NULL, &tc) == NULL);
	tc.kind = TARGET_PING;
	tc.url = NULL;
	tc.ping_url = "http://127.0.0.1:9/user/alice/";
	CHECK(hub_new(NULL, NULL, &tc) == NULL);

	/* a hub user's server, with the API derived or given */
	tc.kind = TARGET_JUPYTER;
	tc.url = "http://127.0.0.1:9/user/a%40b/";
	h = hub_new(NULL, NULL, &tc);
	CHECK(h != NULL);
	CHECK_STR(hub_user(h), "a@b");
	hub_free(h);
	tc.hub_api_url = "http://127.0.0.1:10/hub/api///";
	h = hub_new(NULL, NULL, &tc);
	CHECK(h != NULL);
	CHECK_STR(hub_user(h), "a@b");
	hub_free(h);
}

TEST(read_without_reading_rights_waits_for_nothing)
{
	static char url[1200];
	struct target_config tc;
	struct hub *h;

	/* A URL longer than a request may carry: nothing can start, so the
	 * reader must not wait for a callback. */
	snprintf(url, sizeof(url), "http://127.0.0.1:9/user/%01100d/", 0);
	tc = target(url, HUB_OFF);
	h = hub_new(NULL, NULL, &tc);
	CHECK(h != NULL);
	hub_activity(h);			/* off: posts nothing */
	CHECK(hub_read(h, NULL, NULL) == -1);
	hub_free(h);
}

void suite_hub(void)
{
	/* hub_new's warnings are expected here; keep the runner's output to failures. */
	FILE *quiet = fopen("/dev/null", "w");

	log_set_stream(quiet);
	RUN(hub_urls);
	RUN(not_hub_urls);
	RUN(activity_body_names_the_server);
	RUN(user_model_readings);
	RUN(new_knows_the_hub_or_none);
	RUN(read_without_reading_rights_waits_for_nothing);
	log_set_stream(NULL);
	if (quiet)
		fclose(quiet);
}
