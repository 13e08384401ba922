/* SPDX-License-Identifier: MIT */
/* Unit tests for verify's pure helpers: hub URLs, "did not move", the age line. */
#include <stdlib.h>

#include <jansson.h>

#include "verify.h"
#include "unit.h"

/* Split url; returns "hub_api|user|server" in out, or "-" when not a hub URL. */
static const char *split(const char *url, char *out, size_t outlen)
{
	char *a = NULL, *u = NULL, *s = NULL;

	if (verify_hub_from_url(url, &a, &u, &s) != 0) {
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

TEST(did_not_move)
{
	/* nothing to compare on the first read-back */
	CHECK(verify_did_not_move(0, 100, 50, 0) == 0);
	CHECK(verify_did_not_move(100, 0, 50, 0) == 0);
	/* moved */
	CHECK(verify_did_not_move(100, 101.5, 0, 0) == 0);
	/* kernel and server: no lag allowed */
	CHECK(verify_did_not_move(100, 100, 2, 0) == 1);
	/* went backwards (a restarted server) counts as not moved */
	CHECK(verify_did_not_move(100, 90, 2, 0) == 1);
	/* the hub may lag by its reporting intervals */
	CHECK(verify_did_not_move(100, 100, 300, 660) == 0);
	CHECK(verify_did_not_move(100, 100, 661, 660) == 1);
	CHECK(verify_did_not_move(100, 100.001, 661, 660) == 0);
}

TEST(age_line)
{
	char b[200];

	CHECK_STR(verify_format_ages(b, sizeof(b), 1.2, 0, 0.4, 3.0),
		  "culler sees activity 1 s ago (kernel), 0 s ago (server), 3 s ago (hub)");
	CHECK_STR(verify_format_ages(b, sizeof(b), 75, 1, 2, -1),
		  "culler sees activity 75 s ago (kernel, busy), 2 s ago (server)");
	CHECK_STR(verify_format_ages(b, sizeof(b), -1, 0, 4, -1),
		  "culler sees activity 4 s ago (server)");
	CHECK_STR(verify_format_ages(b, sizeof(b), -1, 0, -1, -1), "");
	/* truncation keeps whole parts and a terminated string */
	CHECK_STR(verify_format_ages(b, 40, 1, 0, 2, 3), "culler sees activity 1 s ago (kernel)");
	CHECK_STR(verify_format_ages(b, 10, 1, 0, 2, 3), "");
}

TEST(new_and_status_without_network)
{
	struct target_config tc = {0};
	struct verify *v;
	json_t *st;

	/* ping targets have nothing to read back; NULL is safe everywhere */
	tc.name = "p";
	tc.kind = TARGET_PING;
	tc.ping_url = "https://example.org/ping";
	CHECK(verify_new(NULL, NULL, &tc) == NULL);
	CHECK(verify_hub_user(NULL) == NULL);
	st = verify_status_json(NULL);
	CHECK(json_is_null(st));
	json_decref(st);
	verify_round(NULL);
	verify_free(NULL);

	tc.kind = TARGET_JUPYTER;
	tc.url = "http://127.0.0.1:9/user/alice/";
	tc.interval_ms = 60000;
	tc.timeout_ms = 1000;
	tc.mode = MODE_BOTH;
	tc.hub_activity = HUB_AUTO;
	v = verify_new(NULL, NULL, &tc);
	CHECK(v != NULL);
	CHECK_STR(verify_hub_user(v), "alice");
	st = verify_status_json(v);
	CHECK(json_is_object(st));
	CHECK(json_is_null(json_object_get(st, "kernel_activity_age_s")));
	CHECK(json_is_null(json_object_get(st, "server_activity_age_s")));
	CHECK(json_is_null(json_object_get(st, "hub_activity_age_s")));
	CHECK(json_is_null(json_object_get(st, "warning")));
	json_decref(st);
	verify_free(v);

	/* a plain server: no hub */
	tc.url = "http://127.0.0.1:9/";
	v = verify_new(NULL, NULL, &tc);
	CHECK(v != NULL);
	CHECK(verify_hub_user(v) == NULL);
	st = verify_status_json(v);
	CHECK(json_is_null(json_object_get(st, "hub_activity_age_s")));
	json_decref(st);
	verify_free(v);
}

void suite_verify(void)
{
	RUN(hub_urls);
	RUN(not_hub_urls);
	RUN(did_not_move);
	RUN(age_line);
	RUN(new_and_status_without_network);
}
