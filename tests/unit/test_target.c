/* SPDX-License-Identifier: MIT */
/* Unit tests for the target's pure helpers (backoff, jitter, URLs), kernel_list's choices and verdict's words. */
#include <stdlib.h>

#include <jansson.h>

#include "kernel_list.h"
#include "target.h"
#include "verdict.h"
#include "unit.h"

TEST(backoff_grows_and_caps)
{
	unsigned a;
	long prev_max = 0;

	/* rnd = 0 gives the lower half, UINT_MAX-ish the upper bound region. */
	CHECK(target_backoff_ms(0, 1000, 60000, 0) == 500);
	CHECK(target_backoff_ms(1, 1000, 60000, 0) == 1000);
	CHECK(target_backoff_ms(2, 1000, 60000, 0) == 2000);
	CHECK(target_backoff_ms(10, 1000, 60000, 0) == 30000);
	CHECK(target_backoff_ms(200, 1000, 60000, 0) == 30000);	/* no overflow */
	for (a = 0; a < 12; a++) {
		long hi = target_backoff_ms(a, 1000, 60000, 30001);	/* d/2 + 30001 % (d/2+1) */
		long d = target_backoff_ms(a, 1000, 60000, 0) * 2;

		CHECK(hi >= d / 2 && hi <= d);
		CHECK(d <= 60000);
		CHECK(d >= prev_max);
		prev_max = d;
	}
}

TEST(jitter_stays_in_range)
{
	unsigned r;

	CHECK(target_jitter_ms(60000, 0, 12345) == 60000);
	for (r = 0; r < 5000; r += 7) {
		long v = target_jitter_ms(60000, 10, r * 2654435761u);

		CHECK(v >= 54000 && v <= 66000);
	}
	/* 100% never goes below half the interval */
	for (r = 0; r < 1000; r++)
		CHECK(target_jitter_ms(2000, 100, r * 2654435761u) >= 1000);
}

TEST(ws_url_from_base)
{
	char out[256];

	CHECK(target_ws_url("http://127.0.0.1:8888/", "k1", "s1", out, sizeof(out)) == 0);
	CHECK_STR(out, "ws://127.0.0.1:8888/api/kernels/k1/channels?session_id=s1");
	CHECK(target_ws_url("https://hub.example.org/user/alice/", "k", "s", out, sizeof(out)) == 0);
	CHECK_STR(out, "wss://hub.example.org/user/alice/api/kernels/k/channels?session_id=s");
	CHECK(target_ws_url("http://h:1/base", "k", "s", out, sizeof(out)) == 0);
	CHECK_STR(out, "ws://h:1/base/api/kernels/k/channels?session_id=s");
	CHECK(target_ws_url("ftp://h/", "k", "s", out, sizeof(out)) == -1);
	CHECK(target_ws_url("http://h/", "k", "s", out, 10) == -1);
}

static const char kernels[] =
	"[{\"id\":\"aaa\",\"name\":\"python3\",\"last_activity\":\"2026-11-23T10:00:00.000000Z\"},"
	" {\"id\":\"bbb\",\"name\":\"python3\",\"last_activity\":\"2026-11-23T11:00:00.000000Z\"},"
	" {\"id\":\"ccc\",\"name\":\"python3\",\"last_activity\":\"2026-11-23T09:00:00Z\"}]";

static const char sessions[] =
	"[{\"id\":\"s1\",\"path\":\"train.ipynb\",\"type\":\"notebook\",\"kernel\":{\"id\":\"k-train\"}},"
	" {\"id\":\"s2\",\"path\":\"dir/other.ipynb\",\"kernel\":{\"id\":\"k-other\"}}]";

static const char *nth(json_t *a, size_t i)
{
	return json_string_value(json_array_get(a, i));
}

TEST(pick_kernels)
{
	json_t *ids;

	ids = kernel_list_pick(KSEL_AUTO, NULL, kernels);
	CHECK(json_array_size(ids) == 1);
	CHECK_STR(nth(ids, 0), "bbb");	/* most recently active */
	json_decref(ids);

	ids = kernel_list_pick(KSEL_ALL, NULL, kernels);
	CHECK(json_array_size(ids) == 3);
	json_decref(ids);

	ids = kernel_list_pick(KSEL_AUTO, NULL, "[]");
	CHECK(ids && json_array_size(ids) == 0);
	json_decref(ids);

	ids = kernel_list_pick(KSEL_NOTEBOOK, "train.ipynb", sessions);
	CHECK(json_array_size(ids) == 1);
	CHECK_STR(nth(ids, 0), "k-train");
	json_decref(ids);

	ids = kernel_list_pick(KSEL_NOTEBOOK, "/dir/other.ipynb", sessions);
	CHECK_STR(nth(ids, 0), "k-other");
	json_decref(ids);

	ids = kernel_list_pick(KSEL_NOTEBOOK, "missing.ipynb", sessions);
	CHECK(json_array_size(ids) == 0);
	json_decref(ids);

	/* Not the shape a Jupyter server sends */
	CHECK(kernel_list_pick(KSEL_ALL, NULL, "<html>nope</html>") == NULL);
	CHECK(kernel_list_pick(KSEL_ALL, NULL, "{\"message\":\"x\"}") == NULL);
	ids = kernel_list_pick(KSEL_ALL, NULL, "[1, \"x\", {\"id\": 5}, {\"id\":\"ok\"}]");
	CHECK(json_array_size(ids) == 1);
	json_decref(ids);
	/* only junk: not a kernel list at all */
	CHECK(kernel_list_pick(KSEL_ALL, NULL, "[{\"id\":12345}, \"kernel\", null, 3]") == NULL);
}

TEST(cull_advice)
{
	char b[300];

	CHECK(target_cull_advice(60000, 600, b, sizeof(b)) == 0);
	CHECK(target_cull_advice(300000, 600, b, sizeof(b)) == 0);	/* exactly half: fine */
	CHECK(target_cull_advice(300001, 600, b, sizeof(b)) == 1);
	CHECK_CONTAINS(b, "cull_idle_timeout (600 s)");
	CHECK_CONTAINS(b, "use an interval of 5m or less");
	CHECK(target_cull_advice(60000, 0, b, sizeof(b)) == 0);		/* no culler */
	CHECK(target_cull_advice(2000, 1, b, sizeof(b)) == 1);
	CHECK_CONTAINS(b, "1s or less");
}

TEST(session_paths)
{
	char b[64];

	CHECK_STR(kernel_list_paths("[{\"path\": \"a.ipynb\"}, {\"path\": \"d/b.ipynb\"}]", b, sizeof(b)),
		  "a.ipynb, d/b.ipynb");
	CHECK_STR(kernel_list_paths("[]", b, sizeof(b)), "none");
	CHECK_STR(kernel_list_paths("<html>", b, sizeof(b)), "none");
	kernel_list_paths("[{\"path\": \"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\"}, {\"path\": \"bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb\"}]",
			     b, 40);
	CHECK(strlen(b) < 40);
	CHECK_CONTAINS(b, "...");
}

TEST(list_has_kernels_and_sessions)
{
	CHECK(kernel_list_has(kernels, "bbb") == 1);
	CHECK(kernel_list_has(kernels, "bb") == 0);		/* whole ids only */
	CHECK(kernel_list_has(sessions, "k-other") == 1);	/* a session's kernel */
	CHECK(kernel_list_has(sessions, "s1") == 1);		/* ids of either kind */
	CHECK(kernel_list_has("[]", "bbb") == 0);
	CHECK(kernel_list_has("<html>", "bbb") == 0);
}

TEST(prefix_resolves_short_ids)
{
	static const char ids[] =
		"[{\"id\":\"1b8410e4-aaaa-4bbb-8ccc-000000000001\"},"
		" {\"id\":\"1B8410E4-aaaa-4bbb-8ccc-000000000002\"},"
		" {\"id\":\"7f00e2c1-aaaa-4bbb-8ccc-000000000003\"}, {\"name\":\"no id\"}]";
	struct kernel_list_match m;

	CHECK(kernel_list_prefix(ids, "7f00", &m) == 1);
	CHECK_STR(m.first, "7f00e2c1-aaaa-4bbb-8ccc-000000000003");
	CHECK_STR(m.second, "");
	CHECK_STR(m.running, "1b8410e4, 1B8410E4, 7f00e2c1");
	/* ids are hex: case does not matter; two matches are ambiguous */
	CHECK(kernel_list_prefix(ids, "1b8410e4", &m) == 2);
	CHECK_STR(m.first, "1b8410e4-aaaa-4bbb-8ccc-000000000001");
	CHECK_STR(m.second, "1B8410E4-aaaa-4bbb-8ccc-000000000002");
	CHECK(kernel_list_prefix(ids, "dead", &m) == 0);
	CHECK_STR(m.first, "");
	CHECK(kernel_list_prefix("[]", "dead", &m) == 0);
	CHECK_STR(m.running, "");
	CHECK(kernel_list_prefix("<html>", "dead", &m) == 0);
}

/* A reply as rest hands it over: status, content type, body, Location. */
static struct rest_reply reply(long status, const char *type, const char *body, const char *location)
{
	struct rest_reply r = {0};

	r.status = status;
	r.error = "";
	r.content_type = type;
	r.body = body;
	r.len = strlen(body);
	r.location = location;
	return r;
}

TEST(verdicts_on_replies)
{
	static const struct verdict_target lab = { 1, "http://127.0.0.1:8888/", "secret", NULL };
	static const struct verdict_target hub = { 1, "https://h.example.org/user/alice/", "s", "alice" };
	static const struct verdict_target ping = { 0, "https://example.org/ping", NULL, NULL };
	static const struct {
		const struct verdict_target *who;
		long status;
		const char *type, *body, *location;
		enum verdict want;
		const char *words;	/* in why; NULL: not checked */
	} cases[] = {
		{ &lab, 200, "application/json", "[]", "", VERDICT_OK, NULL },
		{ &lab, 200, "text/html", "<html>login</html>", "", VERDICT_FAIL,
		  "not JSON; is the URL a Jupyter server's base URL?" },
		{ &ping, 200, "text/html", "<html>", "", VERDICT_OK, NULL },	/* any 2xx will do */
		{ &lab, 404, "application/json", "{}", "", VERDICT_MISSING, "HTTP 404" },
		{ &lab, 503, "application/json", "{}", "", VERDICT_FAIL, "HTTP 503" },
		{ &lab, 301, "text/html", "", "http://127.0.0.1:8888/x", VERDICT_FAIL,
		  "unexpected redirect (HTTP 301)" },
		/* the hub: its proxy's page for a dead server, its redirects, its refusal */
		{ &hub, 503, "text/html", "<html>503</html>", "", VERDICT_MISSING,
		  "not answering (HTTP 503 from the hub's proxy)" },
		{ &hub, 302, "text/html", "", "https://h.example.org/hub/user/alice/", VERDICT_MISSING,
		  "the user's server is not running" },
		{ &hub, 302, "text/html", "", "https://h.example.org/hub/login?next=x", VERDICT_AUTH,
		  "the hub did not accept the token for /user/alice/" },
		{ &hub, 403, "application/json", "{}", "", VERDICT_AUTH, "/user/alice/ (HTTP 403)" },
	};
	struct rest_reply r;
	char why[512];

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		r = reply(cases[i].status, cases[i].type, cases[i].body, cases[i].location);
		why[0] = '\0';
		CHECK(verdict_of(&r, cases[i].who, why, sizeof(why)) == cases[i].want);
		if (cases[i].words)
			CHECK_CONTAINS(why, cases[i].words);
	}
	r = reply(0, "", "", "");
	r.curl_code = 7;
	r.error = "connection refused";
	CHECK(verdict_of(&r, &lab, why, sizeof(why)) == VERDICT_FAIL);
	CHECK_STR(why, "cannot reach the server: connection refused");
}

TEST(refusal_words_name_the_cause)
{
	struct verdict_target t = { 1, "http://127.0.0.1:8888/", NULL, NULL };
	struct rest_reply r = reply(403, "application/json", "{\"message\": \"Forbidden\"}", "");
	char why[512];

	CHECK(verdict_of(&r, &t, why, sizeof(why)) == VERDICT_AUTH);
	CHECK_CONTAINS(why, "requires a token and none was given (HTTP 403)");
	t.token = "secret";
	verdict_refused(&t, 401, why, sizeof(why));
	CHECK_STR(why, "the server rejected the token (HTTP 401); check token, token_file or JUPYTER_TOKEN");
	/* Not loopback: the server's Host check may be the cause. */
	t.url = "http://10.1.2.3:8888/";
	verdict_refused(&t, 403, why, sizeof(why));
	CHECK_CONTAINS(why, "its Host check refused '10.1.2.3'");
	CHECK_CONTAINS(why, "allow_remote_access");
}

void suite_target(void)
{
	RUN(cull_advice);
	RUN(session_paths);
	RUN(backoff_grows_and_caps);
	RUN(jitter_stays_in_range);
	RUN(ws_url_from_base);
	RUN(pick_kernels);
	RUN(list_has_kernels_and_sessions);
	RUN(prefix_resolves_short_ids);
	RUN(verdicts_on_replies);
	RUN(refusal_words_name_the_cause);
}
