/* SPDX-License-Identifier: MIT */
/* Unit tests for recorder: what a kept kernel's messages look like in the record. */
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <jansson.h>

#include "jmsg.h"
#include "log.h"
#include "recorder.h"
#include "unit.h"

#define KID	"3f2a1b9c-0000-4000-8000-000000000001"
#define OWN	"11111111-2222-4333-8444-555555555555"

static const struct recorder_fmt fmt = { KID, 0, OWN, "keepalive-agent", 1795455125 };

/* A message of type type with content (JSON text) and a parent session. */
static json_t *msg(const char *type, const char *content, const char *parent_session)
{
	json_error_t e;
	json_t *c = json_loads(content, 0, &e);
	json_t *m = json_pack("{s:{s:s, s:s, s:s}, s:{s:s, s:s}, s:o, s:s}",
			      "header", "msg_type", type, "msg_id", "m1",
			      "date", "2026-11-23T17:32:05.123456Z",
			      "parent_header", "session", parent_session ? parent_session : "browser",
			      "username", "user",
			      "content", c ? c : json_object(), "channel", "iopub");
	return m;
}

/* Format one message; returns a malloc'd copy of the text ("" when nothing). */
static char *fmt_msg(const char *type, const char *content, const char *parent_session,
		     const struct recorder_fmt *f, int *rc)
{
	struct recorder_buf b = {0};
	json_t *m = msg(type, content, parent_session);
	char *out;

	*rc = recorder_format(m, f ? f : &fmt, &b);
	out = strdup(b.len ? b.s : "");
	recorder_buf_free(&b);
	json_decref(m);
	return out;
}

TEST(execute_input_names_count_time_kernel)
{
	int rc;
	char *s = fmt_msg("execute_input",
			  "{\"code\": \"for i in range(3):\\n    print(i)\", \"execution_count\": 12}",
			  NULL, NULL, &rc);

	CHECK(rc == 1);
	CHECK_STR(s, "=== In [12] 2026-11-23 17:32:05 UTC, kernel 3f2a1b9c\n"
		     "> for i in range(3):\n>     print(i)\n");
	free(s);
}

TEST(stream_stdout_stderr)
{
	int rc;
	char *s = fmt_msg("stream", "{\"name\": \"stdout\", \"text\": \"a\\nb\\n\"}", NULL, NULL, &rc);

	CHECK(rc == 1);
	CHECK_STR(s, "a\nb\n");
	free(s);
	s = fmt_msg("stream", "{\"name\": \"stderr\", \"text\": \"careful\"}", NULL, NULL, &rc);
	CHECK_STR(s, "[stderr] careful\n");	/* a partial line still ends the record's line */
	free(s);
}

TEST(stream_progress_keeps_last_rewrite)
{
	int rc;
	char *s = fmt_msg("stream", "{\"name\": \"stderr\", \"text\": \"10%\\r50%\\r100%\\r\\ndone\\n\"}",
			  NULL, NULL, &rc);

	CHECK_STR(s, "[stderr] 100%\n[stderr] done\n");
	free(s);
}

TEST(error_without_ansi)
{
	int rc;
	char *s = fmt_msg("error",
		"{\"ename\": \"ZeroDivisionError\", \"evalue\": \"division by zero\", \"traceback\": ["
		"\"\\u001b[0;31m---------\\u001b[0m\","
		"\"\\u001b[0;31mZeroDivisionError\\u001b[0m: division by zero\"]}", NULL, NULL, &rc);

	CHECK(rc == 1);
	CHECK_STR(s, "[error] ZeroDivisionError: division by zero\n---------\n"
		     "ZeroDivisionError: division by zero\n");
	CHECK(!strchr(s, 0x1b));
	free(s);
}

TEST(strip_ansi_forms)
{
	char a[] = "\x1b[1;32mgreen\x1b[0m \x1b]8;;http://x\x07link\x1b]8;;\x1b\\ \x1b(Bz\x01\x7f\tk";
	size_t n = recorder_strip_ansi(a, strlen(a));

	a[n] = '\0';
	CHECK_STR(a, "green link z\tk");
	/* A sequence cut at the end leaves nothing behind. */
	char b[] = "ok\x1b[12";
	n = recorder_strip_ansi(b, strlen(b));
	b[n] = '\0';
	CHECK_STR(b, "ok");
	/* UTF-8 passes through. */
	char c[] = "gr\xc3\xbc\xc3\x9f \xe2\x9c\x93";
	n = recorder_strip_ansi(c, strlen(c));
	CHECK(n == strlen("gr\xc3\xbc\xc3\x9f \xe2\x9c\x93"));
}

TEST(result_and_display)
{
	int rc;
	/* "iVBORw0KGgo=" is 12 base64 symbols with one pad: 8 bytes (the PNG signature). */
	char *s = fmt_msg("execute_result",
		"{\"execution_count\": 7, \"data\": {\"text/plain\": \"42\","
		" \"text/html\": \"<b>42</b>\"}, \"metadata\": {}}", NULL, NULL, &rc);

	CHECK_STR(s, "Out[7]: 42\n[text/html, 9 bytes]\n");
	free(s);
	s = fmt_msg("display_data",
		"{\"data\": {\"image/png\": \"iVBORw0KGgo=\\n\", \"text/plain\": \"<Figure>\"}}",
		NULL, NULL, &rc);
	CHECK_STR(s, "<Figure>\n[image/png, 8 bytes]\n");
	free(s);
	s = fmt_msg("display_data", "{\"data\": {\"application/json\": {\"a\": [1, 2]}}}",
		    NULL, NULL, &rc);
	CHECK_STR(s, "[application/json, 11 bytes]\n");
	free(s);
}

TEST(data_sizes)
{
	json_t *v = json_string("AAAA");	/* 3 bytes */

	CHECK(recorder_data_size("image/png", v) == 3);
	json_decref(v);
	v = json_string("AAAAAA");		/* unpadded: 4 bytes */
	CHECK(recorder_data_size("image/jpeg", v) == 4);
	CHECK(recorder_data_size("text/html", v) == 6);
	CHECK(recorder_data_size("image/svg+xml", v) == 6);
	json_decref(v);
}

TEST(own_and_uninteresting_messages_skipped)
{
	int rc;
	char *s;

	/* The agent's own keepalive, by session or by the agent's username. */
	s = fmt_msg("execute_input", "{\"code\": \"\", \"execution_count\": 3}", OWN, NULL, &rc);
	CHECK(rc == 0 && !*s);
	free(s);
	s = fmt_msg("stream", "{\"name\": \"stdout\", \"text\": \"x\"}", OWN, NULL, &rc);
	CHECK(rc == 0 && !*s);
	free(s);
	json_t *m = msg("stream", "{\"name\": \"stdout\", \"text\": \"x\"}", "other");
	struct recorder_buf b = {0};
	json_object_set_new(json_object_get(m, "parent_header"), "username",
			    json_string("keepalive-agent"));
	CHECK(recorder_format(m, &fmt, &b) == 0 && b.len == 0);
	json_decref(m);
	recorder_buf_free(&b);

	const char *types[] = { "status", "execute_reply", "comm_msg", "clear_output",
				"kernel_info_reply" };
	for (size_t i = 0; i < sizeof types / sizeof types[0]; i++) {
		s = fmt_msg(types[i], "{\"execution_state\": \"busy\"}", NULL, NULL, &rc);
		CHECK(rc == 0 && !*s);
		free(s);
	}
}

TEST(prefix_when_several_kernels)
{
	struct recorder_fmt f = fmt;
	int rc;
	char *s;

	f.prefix = 1;
	s = fmt_msg("stream", "{\"name\": \"stdout\", \"text\": \"a\\nb\"}", NULL, &f, &rc);
	CHECK_STR(s, "[3f2a1b9c] a\n[3f2a1b9c] b\n");
	free(s);
}

TEST(long_lines_and_messages_bounded)
{
	size_t big = 3 * RECORDER_LINE_MAX;
	char *text = malloc(big + 1);
	json_t *m;
	struct recorder_buf b = {0};

	memset(text, 'x', big);
	text[big] = '\0';
	m = msg("stream", "{\"name\": \"stdout\"}", NULL);
	json_object_set_new(json_object_get(m, "content"), "text", json_string(text));
	CHECK(recorder_format(m, &fmt, &b) == 1);
	CHECK(b.len < RECORDER_LINE_MAX + 64);
	CHECK_CONTAINS(b.s, "more bytes]\n");
	json_decref(m);

	/* Many short lines: the message is cut at RECORDER_MSG_MAX, with a note. */
	size_t lines = RECORDER_MSG_MAX / 2;
	char *many = malloc(lines * 2 + 1);
	for (size_t i = 0; i < lines; i++)
		memcpy(many + 2 * i, "y\n", 2);
	many[lines * 2] = '\0';
	struct recorder_fmt f = fmt;
	f.prefix = 1;	/* the prefix makes the output far larger than the input */
	m = msg("stream", "{\"name\": \"stdout\"}", NULL);
	json_object_set_new(json_object_get(m, "content"), "text", json_string(many));
	recorder_buf_reset(&b);
	CHECK(recorder_format(m, &f, &b) == 1);
	CHECK(b.len <= RECORDER_MSG_MAX);
	CHECK_CONTAINS(b.s, "[... stream cut: more than");
	CHECK(b.s[b.len - 1] == '\n');
	json_decref(m);
	recorder_buf_free(&b);
	free(text);
	free(many);
}

TEST(oversize_line)
{
	const char *head = "{\"header\": {\"msg_id\": \"x\", \"msg_type\": \"display_data\", "
			   "\"session\": \"k\"}, \"parent_header\": {\"session\": \"browser\"";
	struct recorder_buf b = {0};

	CHECK(recorder_format_oversize(head, strlen(head), 300000, 65536, &fmt, &b) == 1);
	CHECK_STR(b.s, "[a display_data message of 300000 bytes was not recorded: over the "
		       "agent's 65536-byte message limit]\n");
	/* Types never recorded stay silent when large too; so do the agent's own. */
	recorder_buf_reset(&b);
	const char *comm = "{\"header\": {\"msg_type\":\"comm_msg\"}}";
	CHECK(recorder_format_oversize(comm, strlen(comm), 300000, 65536, &fmt, &b) == 0);
	const char *own = "{\"header\": {\"msg_type\": \"stream\"}, \"parent_header\": "
			  "{\"session\": \"" OWN "\"";
	CHECK(recorder_format_oversize(own, strlen(own), 300000, 65536, &fmt, &b) == 0);
	/* No readable type: still said. */
	CHECK(recorder_format_oversize("{\"hea", 5, 70000, 65536, &fmt, &b) == 1);
	CHECK_CONTAINS(b.s, "[a message of 70000 bytes");
	recorder_buf_free(&b);
}

TEST(parse_size_forms)
{
	long long n;
	char err[128];

	CHECK(recorder_parse_size("64M", &n, err, sizeof err) == 0 && n == 64LL << 20);
	CHECK(recorder_parse_size("500k", &n, err, sizeof err) == 0 && n == 500LL << 10);
	CHECK(recorder_parse_size("1GiB", &n, err, sizeof err) == 0 && n == 1LL << 30);
	CHECK(recorder_parse_size("2MB", &n, err, sizeof err) == 0 && n == 2LL << 20);
	CHECK(recorder_parse_size("4096", &n, err, sizeof err) == 0 && n == 4096);
	CHECK(recorder_parse_size("100", &n, err, sizeof err) == -1);
	CHECK_CONTAINS(err, "too small");
	CHECK(recorder_parse_size("", &n, err, sizeof err) == -1);
	CHECK(recorder_parse_size("12x", &n, err, sizeof err) == -1);
	CHECK(recorder_parse_size("99999999999999999999", &n, err, sizeof err) == -1);
	CHECK(recorder_is_off("off") && recorder_is_off("OFF") && recorder_is_off(NULL) &&
	      recorder_is_off("") && !recorder_is_off("/tmp/x"));
}

/* The file side: mode 0600, redaction, rotation, append across opens, own messages skipped. */
TEST(file_rotates_redacts_appends)
{
	char dir[] = "/tmp/recorder-test-XXXXXX", path[128], old[140], *text;
	struct jmsg_info info;
	struct stat st;
	json_t *root;
	struct recorder *r;
	FILE *f;
	long sz;

	CHECK(mkdtemp(dir) != NULL);
	snprintf(path, sizeof path, "%s/out.txt", dir);
	snprintf(old, sizeof old, "%s.1", path);
	log_add_secret("s3cr3t-token-value");
	r = recorder_open(path, 2048, 0);
	CHECK(r != NULL);
	CHECK(stat(path, &st) == 0 && (st.st_mode & 0777) == 0600);

	const char *m = "{\"header\": {\"msg_type\": \"stream\"}, \"parent_header\": {\"session\": \"b\"},"
			" \"content\": {\"name\": \"stdout\", \"text\": \"token is s3cr3t-token-value\\n\"}}";
	CHECK(jmsg_parse(m, strlen(m), &info, &root, NULL, 0) == 0 && info.root == root);
	recorder_message(r, KID, &info, OWN, "keepalive-agent");
	json_decref(root);
	const char *own = "{\"header\": {\"msg_type\": \"stream\"}, \"parent_header\": "
			  "{\"session\": \"" OWN "\"}, \"content\": {\"name\": \"stdout\", \"text\": \"KA\"}}";
	CHECK(jmsg_parse(own, strlen(own), &info, &root, NULL, 0) == 0);
	recorder_message(r, KID, &info, OWN, "keepalive-agent");
	json_decref(root);

	/* Enough lines to rotate more than once. */
	for (int i = 0; i < 100; i++) {
		char line[200];
		snprintf(line, sizeof line, "{\"header\": {\"msg_type\": \"stream\"}, \"content\": "
			 "{\"name\": \"stdout\", \"text\": \"line %03d of the flood\\n\"}}", i);
		CHECK(jmsg_parse(line, strlen(line), &info, &root, NULL, 0) == 0);
		recorder_message(r, KID, &info, OWN, "keepalive-agent");
		json_decref(root);
	}
	recorder_close(r);
	log_clear_secrets();

	CHECK(stat(path, &st) == 0 && st.st_size <= 2048);
	CHECK(stat(old, &st) == 0 && st.st_size <= 2048 && (st.st_mode & 0777) == 0600);
	f = fopen(path, "r");
	text = calloc(1, 8192);
	sz = f ? (long)fread(text, 1, 8191, f) : 0;
	if (f)
		fclose(f);
	CHECK(sz > 0);
	CHECK_CONTAINS(text, "line 099 of the flood\n");
	CHECK(!strstr(text, "s3cr3t"));
	CHECK(!strstr(text, "KA"));

	/* A second run appends. */
	r = recorder_open(path, 2048, 0);
	recorder_close(r);
	f = fopen(path, "r");
	memset(text, 0, 8192);
	sz = f ? (long)fread(text, 1, 8191, f) : 0;
	if (f)
		fclose(f);
	CHECK_CONTAINS(text, "line 099 of the flood\n### agent");
	free(text);

	/* The first rotation pushed the redacted token line out; check FILE.1 never had it either. */
	f = fopen(old, "r");
	text = calloc(1, 8192);
	if (f) {
		sz = (long)fread(text, 1, 8191, f);
		fclose(f);
	}
	CHECK(!strstr(text, "s3cr3t"));
	free(text);
	unlink(path);
	unlink(old);
	rmdir(dir);
}

TEST(shared_file_prefixes)
{
	char dir[] = "/tmp/recorder-test-XXXXXX", path[128];
	struct recorder *a, *b;

	CHECK(mkdtemp(dir) != NULL);
	snprintf(path, sizeof path, "%s/out.txt", dir);
	a = recorder_open(path, 0, 0);
	b = recorder_open(path, 0, 0);
	CHECK(a && a == b);
	CHECK_STR(recorder_path(a), path);
	recorder_close(b);
	recorder_close(a);
	CHECK(recorder_open("off", 0, 0) == NULL);
	unlink(path);
	rmdir(dir);
}

void suite_recorder(void)
{
	RUN(execute_input_names_count_time_kernel);
	RUN(stream_stdout_stderr);
	RUN(stream_progress_keeps_last_rewrite);
	RUN(error_without_ansi);
	RUN(strip_ansi_forms);
	RUN(result_and_display);
	RUN(data_sizes);
	RUN(own_and_uninteresting_messages_skipped);
	RUN(prefix_when_several_kernels);
	RUN(long_lines_and_messages_bounded);
	RUN(oversize_line);
	RUN(parse_size_forms);
	RUN(file_rotates_redacts_appends);
	RUN(shared_file_prefixes);
}
