/* SPDX-License-Identifier: MIT */
/* Unit tests for notification bodies. */
#include <stdlib.h>

#include <jansson.h>

#include "log.h"
#include "notify.h"
#include "unit.h"

TEST(text_body)
{
	char *b = notify_body(NOTIFY_TEXT, "started", NULL, "keeping 1 target(s) alive", 0);

	CHECK_STR(b, "agent started: keeping 1 target(s) alive");
	free(b);
	b = notify_body(NOTIFY_TEXT, "target-lost", "lab", "kernel gone", 0);
	CHECK_STR(b, "agent target-lost [lab]: kernel gone");
	free(b);
}

TEST(json_body_and_redaction)
{
	char *b;
	json_t *o;

	log_add_secret("s3cr3t-token");
	b = notify_body(NOTIFY_JSON, "stop-condition", "lab", "url http://h/?token=abc s3cr3t-token",
			1795000000);
	o = json_loads(b, 0, NULL);
	CHECK(o != NULL);
	CHECK_STR(json_string_value(json_object_get(o, "event")), "stop-condition");
	CHECK_STR(json_string_value(json_object_get(o, "target")), "lab");
	CHECK_STR(json_string_value(json_object_get(o, "time")), "2026-11-18T11:06:40Z");
	CHECK(strstr(b, "s3cr3t-token") == NULL);
	CHECK(strstr(b, "token=abc") == NULL);
	json_decref(o);
	free(b);
	log_clear_secrets();
}

void suite_notify(void)
{
	RUN(text_body);
	RUN(json_body_and_redaction);
}
