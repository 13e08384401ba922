/* SPDX-License-Identifier: MIT */
/* Unit tests for verify: "did not move", the age line, and its status without network. */
#include <stdlib.h>
#include <time.h>

#include "hub.h"
#include "verify.h"
#include "unit.h"

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

TEST(acted_between)
{
	/* no tracked request answered yet */
	CHECK(verify_acted_between(0, 0) == 0);
	/* the first read: any tracked request counts */
	CHECK(verify_acted_between(5.0, 0) == 1);
	/* a ping that started after the previous read was answered */
	CHECK(verify_acted_between(12.5, 12.0) == 1);
	/* an extra read-back (a reconnect) with no ping since the previous read */
	CHECK(verify_acted_between(11.0, 12.0) == 0);
	CHECK(verify_acted_between(12.0, 12.0) == 0);
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
	struct culler_status st;
	struct verify *v;
	struct hub *h;

	/* ping targets have nothing to read back; NULL is safe everywhere */
	tc.name = "p";
	tc.kind = TARGET_PING;
	tc.ping_url = "https://example.org/ping";
	CHECK(verify_new(NULL, NULL, &tc, NULL) == NULL);
	verify_status(NULL, &st);
	CHECK(!st.known && st.kernel_age_s == -1 && st.server_age_s == -1 && st.hub_age_s == -1);
	verify_round(NULL);
	verify_free(NULL);

	tc.kind = TARGET_JUPYTER;
	tc.url = "http://127.0.0.1:9/user/alice/";
	tc.interval_ms = 60000;
	tc.timeout_ms = 1000;
	tc.mode = MODE_BOTH;
	tc.hub_activity = HUB_AUTO;
	h = hub_new(NULL, NULL, &tc);
	v = verify_new(NULL, NULL, &tc, h);
	CHECK(v != NULL);
	verify_status(v, &st);
	CHECK(st.known);
	CHECK(st.kernel_age_s == -1 && st.server_age_s == -1 && st.hub_age_s == -1);
	CHECK_STR(st.warning, "");
	verify_free(v);
	hub_free(h);
}

TEST(status_ages_from_kernel_models)
{
	struct target_config tc = {0};
	struct culler_status st;
	struct verify *v;
	double now = (double)time(NULL);

	tc.name = "lab";
	tc.kind = TARGET_JUPYTER;
	tc.url = "http://127.0.0.1:9/";
	tc.interval_ms = 60000;
	tc.mode = MODE_EXECUTE;
	v = verify_new(NULL, NULL, &tc, NULL);
	CHECK(v != NULL);
	/* The oldest kept kernel is what the kernel culler acts on first. */
	verify_kernel_model(v, "k1", now - 30, "idle");
	verify_kernel_model(v, "k2", now - 4, "idle");
	verify_kernel_model(v, "k3", 0, "idle");		/* unknown: ignored */
	verify_status(v, &st);
	CHECK(st.known);
	CHECK(st.kernel_age_s >= 29 && st.kernel_age_s <= 31);
	CHECK(st.server_age_s == -1 && st.hub_age_s == -1);
	/* A kernel let go no longer counts. */
	verify_kernel_forget(v, "k1");
	verify_status(v, &st);
	CHECK(st.kernel_age_s >= 3 && st.kernel_age_s <= 5);
	verify_kernel_forget(v, "k2");
	verify_status(v, &st);
	CHECK(st.kernel_age_s == -1);
	verify_free(v);
}

void suite_verify(void)
{
	RUN(did_not_move);
	RUN(acted_between);
	RUN(age_line);
	RUN(new_and_status_without_network);
	RUN(status_ages_from_kernel_models);
}
