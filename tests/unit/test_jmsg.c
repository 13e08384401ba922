/* SPDX-License-Identifier: MIT */
/* Unit tests for jmsg: building the keepalive and reading kernel messages. */
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <jansson.h>

#include "jmsg.h"
#include "unit.h"

static int is_hex(char c)
{
	return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f');
}

TEST(uuid_format)
{
	char a[JMSG_UUID_LEN], b[JMSG_UUID_LEN];

	for (int n = 0; n < 100; n++) {
		jmsg_uuid(a);
		CHECK(strlen(a) == 36);
		for (int i = 0; i < 36; i++) {
			if (i == 8 || i == 13 || i == 18 || i == 23)
				CHECK(a[i] == '-');
			else
				CHECK(is_hex(a[i]));
		}
		CHECK(a[14] == '4');
		CHECK(a[19] == '8' || a[19] == '9' || a[19] == 'a' || a[19] == 'b');
	}
	jmsg_uuid(b);
	CHECK(strcmp(a, b) != 0);
}

TEST(now_iso_shape)
{
	char s[40];
	double t;

	jmsg_now_iso(s, sizeof s);
	CHECK(strlen(s) == 27);
	CHECK(s[4] == '-' && s[10] == 'T' && s[19] == '.' && s[26] == 'Z');
	CHECK(jmsg_parse_iso(s, &t) == 0);
	double now = (double)time(NULL);
	CHECK(t > now - 5 && t < now + 5);

	/* Small buffers are truncated, never overrun. */
	char tiny[8];
	memset(tiny, 'x', sizeof tiny);
	jmsg_now_iso(tiny, sizeof tiny);
	CHECK(strlen(tiny) == 7);
}

static int near(double a, double b)
{
	return a - b < 1e-6 && b - a < 1e-6;
}

TEST(parse_iso_forms)
{
	double t;

	CHECK(jmsg_parse_iso("1970-01-01T00:00:00Z", &t) == 0 && t == 0);
	CHECK(jmsg_parse_iso("2026-11-23T17:32:05Z", &t) == 0 && t == 1795455125.0);
	CHECK(jmsg_parse_iso("2026-11-23T17:32:05", &t) == 0 && t == 1795455125.0);
	CHECK(jmsg_parse_iso("2026-11-23T17:32:05.123456Z", &t) == 0 &&
	      near(t, 1795455125.123456));
	CHECK(jmsg_parse_iso("2026-11-23T17:32:05.5+00:00", &t) == 0 && near(t, 1795455125.5));
	CHECK(jmsg_parse_iso("2026-11-23T17:32:05.123456789012Z", &t) == 0 &&
	      near(t, 1795455125.123456789));
	CHECK(jmsg_parse_iso("2026-11-23T19:32:05+02:00", &t) == 0 && t == 1795455125.0);
	CHECK(jmsg_parse_iso("2026-11-23T12:02:05-05:30", &t) == 0 && t == 1795455125.0);
	CHECK(jmsg_parse_iso("2026-11-23T19:32:05+0200", &t) == 0 && t == 1795455125.0);
	CHECK(jmsg_parse_iso("2026-11-23 17:32:05Z", &t) == 0 && t == 1795455125.0);
	CHECK(jmsg_parse_iso("2024-02-29T00:00:00Z", &t) == 0);

	const char *bad[] = {
		"", "2026", "2026-11-23", "2026-11-23T17:32", "2026-11-23T17:32:05.",
		"2026-11-23T17:32:05Zjunk", "2026-13-01T00:00:00Z", "2026-02-30T00:00:00Z",
		"2026-11-23T24:00:00Z", "2026-11-23T17:60:00Z", "2026-11-23T17:32:05+2",
		"2026-11-23T17:32:05+25:00", "2026-11-23X17:32:05Z", "not a date",
		"2026-1-23T17:32:05Z", " 2026-11-23T17:32:05Z",
	};
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		t = -42;
		int rc = jmsg_parse_iso(bad[i], &t);
		if (rc != -1)
			printf("  accepted bad time \"%s\"\n", bad[i]);
		CHECK(rc == -1 && t == -42);
	}
	CHECK(jmsg_parse_iso(NULL, &t) == -1);
}

TEST(iso_round_trip)
{
	char s[40];
	double a, b;

	jmsg_now_iso(s, sizeof s);
	CHECK(jmsg_parse_iso(s, &a) == 0);
	/* Format a back with the same shape and read it again. */
	time_t sec = (time_t)a;
	struct tm tm;
	char base[32], again[40];
	gmtime_r(&sec, &tm);
	strftime(base, sizeof base, "%Y-%m-%dT%H:%M:%S", &tm);
	snprintf(again, sizeof again, "%s.%06ldZ", base, (long)((a - (double)sec) * 1e6 + 0.5));
	CHECK(jmsg_parse_iso(again, &b) == 0);
	CHECK(a - b < 2e-6 && b - a < 2e-6);
	CHECK(strncmp(s, again, 19) == 0);
}

TEST(execute_request_fields)
{
	char id1[JMSG_UUID_LEN], id2[JMSG_UUID_LEN];
	char *text = jmsg_execute_request("sess-1", "agent", "", id1);
	CHECK(text != NULL);
	if (!text)
		return;
	CHECK(strchr(text, '\n') == NULL);	/* compact, one frame */
	CHECK(strstr(text, ": ") == NULL);

	json_error_t err;
	json_t *m = json_loads(text, 0, &err);
	CHECK(json_is_object(m));
	json_t *h = json_object_get(m, "header");
	CHECK_STR(json_string_value(json_object_get(h, "msg_id")), id1);
	CHECK_STR(json_string_value(json_object_get(h, "msg_type")), "execute_request");
	CHECK_STR(json_string_value(json_object_get(h, "username")), "agent");
	CHECK_STR(json_string_value(json_object_get(h, "session")), "sess-1");
	CHECK_STR(json_string_value(json_object_get(h, "version")), "5.3");
	double t;
	const char *date = json_string_value(json_object_get(h, "date"));
	CHECK(date && jmsg_parse_iso(date, &t) == 0);
	CHECK(json_object_size(h) == 6);

	json_t *ph = json_object_get(m, "parent_header");
	CHECK(json_is_object(ph) && json_object_size(ph) == 0);
	json_t *md = json_object_get(m, "metadata");
	CHECK(json_is_object(md) && json_object_size(md) == 0);
	CHECK_STR(json_string_value(json_object_get(m, "channel")), "shell");
	json_t *bufs = json_object_get(m, "buffers");
	CHECK(json_is_array(bufs) && json_array_size(bufs) == 0);

	json_t *c = json_object_get(m, "content");
	CHECK(json_is_object(c) && json_object_size(c) == 6);
	CHECK_STR(json_string_value(json_object_get(c, "code")), "");
	CHECK(json_is_true(json_object_get(c, "silent")));
	CHECK(json_is_false(json_object_get(c, "store_history")));
	json_t *ue = json_object_get(c, "user_expressions");
	CHECK(json_is_object(ue) && json_object_size(ue) == 0);
	CHECK(json_is_false(json_object_get(c, "allow_stdin")));
	CHECK(json_is_false(json_object_get(c, "stop_on_error")));
	CHECK(json_object_size(m) == 6);
	json_decref(m);
	free(text);

	/* Every call gets a fresh msg_id (the kernel drops repeats). */
	text = jmsg_execute_request("sess-1", "agent", "pass", id2);
	CHECK(text != NULL);
	CHECK(strcmp(id1, id2) != 0);
	m = json_loads(text ? text : "", 0, &err);
	CHECK_STR(json_string_value(json_object_get(json_object_get(m, "header"), "msg_id")), id2);
	CHECK_STR(json_string_value(json_object_get(json_object_get(m, "content"), "code")), "pass");
	json_decref(m);
	free(text);

	/* Quotes and newlines in code are escaped, not spliced. */
	text = jmsg_execute_request("s", "u", "print(\"a\")\nx = '\\'", id2);
	m = json_loads(text ? text : "", 0, &err);
	CHECK_STR(json_string_value(json_object_get(json_object_get(m, "content"), "code")),
		  "print(\"a\")\nx = '\\'");
	json_decref(m);
	free(text);

	/* NULLs read as empty strings. */
	text = jmsg_execute_request(NULL, NULL, NULL, id2);
	CHECK(text != NULL);
	free(text);
}

static int read_str(const char *s, struct jmsg_info *info, char *err, size_t errlen)
{
	return jmsg_read(s, strlen(s), info, err, errlen);
}

TEST(read_status)
{
	struct jmsg_info in;
	char err[128] = "";
	const char *s =
		"{\"header\":{\"msg_id\":\"x\",\"msg_type\":\"status\",\"username\":\"u\","
		"\"session\":\"s\",\"date\":\"2026-11-23T17:32:05.123456Z\",\"version\":\"5.3\"},"
		"\"parent_header\":{\"msg_id\":\"abc-123\",\"msg_type\":\"execute_request\"},"
		"\"metadata\":{},\"content\":{\"execution_state\":\"busy\"},"
		"\"channel\":\"iopub\",\"buffers\":[]}";

	CHECK(read_str(s, &in, err, sizeof err) == 0);
	CHECK_STR(in.msg_type, "status");
	CHECK_STR(in.channel, "iopub");
	CHECK_STR(in.parent_msg_id, "abc-123");
	CHECK_STR(in.execution_state, "busy");
	CHECK_STR(in.reply_status, "");

	/* Bare minimum: no channel, no parent, no content. */
	CHECK(read_str("{\"header\":{\"msg_type\":\"status\"}}", &in, err, sizeof err) == 0);
	CHECK_STR(in.msg_type, "status");
	CHECK_STR(in.channel, "");
	CHECK_STR(in.parent_msg_id, "");
	CHECK_STR(in.execution_state, "");

	/* Odd optional fields read as empty rather than failing. */
	CHECK(read_str("{\"header\":{\"msg_type\":\"status\"},\"channel\":7,"
		       "\"parent_header\":[],\"content\":{\"execution_state\":null}}",
		       &in, err, sizeof err) == 0);
	CHECK_STR(in.channel, "");
	CHECK_STR(in.parent_msg_id, "");
	CHECK_STR(in.execution_state, "");

	/* execution_state is only read from status messages. */
	CHECK(read_str("{\"header\":{\"msg_type\":\"stream\"},"
		       "\"content\":{\"execution_state\":\"idle\",\"status\":\"ok\"}}",
		       &in, err, sizeof err) == 0);
	CHECK_STR(in.execution_state, "");
	CHECK_STR(in.reply_status, "");
}

TEST(read_execute_reply)
{
	struct jmsg_info in;
	char err[128] = "";

	/* No NUL after the frame: len bounds the parse. */
	const char frame[] =
		"{\"header\":{\"msg_type\":\"execute_reply\"},"
		"\"parent_header\":{\"msg_id\":\"0f8c1a5e-1111-4222-8333-444455556666\"},"
		"\"content\":{\"status\":\"ok\",\"execution_count\":3},\"channel\":\"shell\"}";
	char *copy = malloc(sizeof frame - 1);
	memcpy(copy, frame, sizeof frame - 1);
	CHECK(jmsg_read(copy, sizeof frame - 1, &in, err, sizeof err) == 0);
	free(copy);
	CHECK_STR(in.msg_type, "execute_reply");
	CHECK_STR(in.channel, "shell");
	CHECK_STR(in.parent_msg_id, "0f8c1a5e-1111-4222-8333-444455556666");
	CHECK_STR(in.reply_status, "ok");
	CHECK_STR(in.execution_state, "");

	CHECK(read_str("{\"header\":{\"msg_type\":\"execute_reply\"},"
		       "\"parent_header\":{\"msg_id\":\"p\"},\"content\":{\"status\":\"aborted\"},"
		       "\"channel\":\"shell\"}", &in, err, sizeof err) == 0);
	CHECK_STR(in.reply_status, "aborted");
	CHECK_STR(in.parent_msg_id, "p");

	CHECK(read_str("{\"header\":{\"msg_type\":\"execute_reply\"},"
		       "\"content\":{\"status\":\"error\",\"ename\":\"NameError\"}}",
		       &in, err, sizeof err) == 0);
	CHECK_STR(in.reply_status, "error");
}

TEST(read_rejects)
{
	struct jmsg_info in;
	char err[128];

	struct { const char *text, *reason; } cases[] = {
		{ "", "not JSON" },
		{ "hello", "not JSON" },
		{ "{\"header\":", "not JSON" },
		{ "{} trailing", "not JSON" },
		{ "[1,2,3]", "not a JSON object" },
		{ "\"status\"", "not a JSON object" },
		{ "null", "not a JSON object" },
		{ "{}", "no header" },
		{ "{\"content\":{}}", "no header" },
		{ "{\"header\":\"status\"}", "header is not an object" },
		{ "{\"header\":{}}", "no header.msg_type" },
		{ "{\"header\":{\"msg_type\":5}}", "header.msg_type is not a string" },
		{ "{\"header\":{\"msg_type\":null}}", "header.msg_type is not a string" },
	};
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		strcpy(err, "unset");
		memset(&in, 'x', sizeof in);
		CHECK(read_str(cases[i].text, &in, err, sizeof err) == -1);
		CHECK_CONTAINS(err, cases[i].reason);
		CHECK_STR(in.msg_type, "");	/* cleared even on failure */
	}

	/* Binary junk: no crash, a printable reason. */
	const char junk[] = { '\x00', '\xff', '{', '\x01', '"', '\xc3' };
	CHECK(jmsg_read(junk, sizeof junk, &in, err, sizeof err) == -1);
	for (char *p = err; *p; p++)
		CHECK((unsigned char)*p >= 0x20 && (unsigned char)*p < 0x7f);

	/* err may be NULL or tiny. */
	CHECK(read_str("nope", &in, NULL, 0) == -1);
	char small[4] = "abc";
	CHECK(read_str("nope", &in, small, sizeof small) == -1);
	CHECK(strlen(small) == 3);
	CHECK(jmsg_read(NULL, 0, &in, err, sizeof err) == -1);
}

TEST(read_huge_strings)
{
	struct jmsg_info in;
	char err[128];
	size_t big = 100000;
	char *s = malloc(4 * big + 512);
	char *a = malloc(big + 1);
	memset(a, 'a', big);
	a[big] = '\0';

	snprintf(s, 4 * big + 512,
		 "{\"header\":{\"msg_type\":\"%s_reply\"},\"channel\":\"%s\","
		 "\"parent_header\":{\"msg_id\":\"%s\"},\"content\":{\"status\":\"%s\"}}",
		 a, a, a, a);
	CHECK(read_str(s, &in, err, sizeof err) == 0);
	CHECK(strlen(in.msg_type) == sizeof in.msg_type - 1);
	CHECK(strlen(in.channel) == sizeof in.channel - 1);
	CHECK(strlen(in.parent_msg_id) == sizeof in.parent_msg_id - 1);
	CHECK(strlen(in.reply_status) == sizeof in.reply_status - 1);
	CHECK(in.msg_type[0] == 'a');

	/* Truncation keeps whole UTF-8 characters: 15 bytes of "é"s fit as 7. */
	CHECK(read_str("{\"header\":{\"msg_type\":\"status\"},\"channel\":"
		       "\"\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\"}",
		       &in, err, sizeof err) == 0);
	CHECK(strlen(in.channel) == 14);

	free(a);
	free(s);
}

void suite_jmsg(void)
{
	RUN(uuid_format);
	RUN(now_iso_shape);
	RUN(parse_iso_forms);
	RUN(iso_round_trip);
	RUN(execute_request_fields);
	RUN(read_status);
	RUN(read_execute_reply);
	RUN(read_rejects);
	RUN(read_huge_strings);
}
