/* SPDX-License-Identifier: MIT */
/* Unit tests for log: line formats, level filter and redaction. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "log.h"
#include "unit.h"

/* Capture log output in memory; cap_text() returns everything so far. */
static FILE *cap;
static char *cap_buf;
static size_t cap_len;

static void cap_start(enum log_level level, int json)
{
	cap = open_memstream(&cap_buf, &cap_len);
	log_set_stream(cap);
	log_setup(level, json);
	log_clear_secrets();
}

static const char *cap_text(void)
{
	fflush(cap);
	return cap_buf ? cap_buf : "";
}

static void cap_end(void)
{
	log_set_stream(NULL);
	log_setup(LL_INFO, 0);
	log_clear_secrets();
	fclose(cap);
	free(cap_buf);
	cap = NULL;
	cap_buf = NULL;
	cap_len = 0;
}

static int count_lines(const char *s)
{
	int n = 0;
	for (; *s; s++)
		n += *s == '\n';
	return n;
}

/* "2026-11-23T17:32:05Z " */
static int has_timestamp(const char *s)
{
	const char *shape = "dddd-dd-ddTdd:dd:ddZ ";
	for (size_t i = 0; shape[i]; i++) {
		if (shape[i] == 'd' ? (s[i] < '0' || s[i] > '9') : s[i] != shape[i])
			return 0;
	}
	return 1;
}

TEST(text_format)
{
	cap_start(LL_INFO, 0);
	log_info("lab", "keepalive acknowledged in %d ms", 12);
	const char *t = cap_text();
	CHECK(has_timestamp(t));
	CHECK_STR(t + 21, "INFO  [lab] keepalive acknowledged in 12 ms\n");
	cap_end();

	cap_start(LL_DEBUG, 0);
	log_error(NULL, "no target");
	log_warn("x", "w");
	log_debug("x", "d");
	t = cap_text();
	CHECK_CONTAINS(t, "Z ERROR no target\n");
	CHECK_CONTAINS(t, "Z WARN  [x] w\n");
	CHECK_CONTAINS(t, "Z DEBUG [x] d\n");
	CHECK(count_lines(t) == 3);
	cap_end();
}

TEST(level_filter)
{
	cap_start(LL_WARN, 0);
	CHECK(log_get_level() == LL_WARN);
	log_debug(NULL, "hidden debug");
	log_info(NULL, "hidden info");
	log_warn(NULL, "shown warn");
	log_error(NULL, "shown error");
	const char *t = cap_text();
	CHECK(strstr(t, "hidden") == NULL);
	CHECK_CONTAINS(t, "shown warn");
	CHECK_CONTAINS(t, "shown error");
	CHECK(count_lines(t) == 2);
	cap_end();

	cap_start(LL_ERROR, 0);
	log_warn(NULL, "no");
	CHECK_STR(cap_text(), "");
	cap_end();
}

TEST(json_format)
{
	json_error_t err;

	cap_start(LL_INFO, 1);
	log_info("lab", "say \"hi\"\n\tnow");
	json_t *j = json_loads(cap_text(), 0, &err);
	CHECK(json_is_object(j));
	CHECK_STR(json_string_value(json_object_get(j, "level")), "info");
	CHECK_STR(json_string_value(json_object_get(j, "target")), "lab");
	CHECK_STR(json_string_value(json_object_get(j, "msg")), "say \"hi\"\n\tnow");
	const char *time = json_string_value(json_object_get(j, "time"));
	CHECK(time && strlen(time) == 20 && time[19] == 'Z');
	CHECK(json_object_size(j) == 4);
	json_decref(j);
	CHECK(count_lines(cap_text()) == 1);
	cap_end();

	/* No target: the key is omitted. Invalid UTF-8 still gives valid JSON. */
	cap_start(LL_INFO, 1);
	log_error(NULL, "bad \xff bytes \xc3");
	j = json_loads(cap_text(), 0, &err);
	CHECK(json_is_object(j));
	CHECK(json_object_get(j, "target") == NULL);
	CHECK_STR(json_string_value(json_object_get(j, "level")), "error");
	CHECK_STR(json_string_value(json_object_get(j, "msg")), "bad ? bytes ?");
	json_decref(j);
	cap_end();
}

TEST(text_one_line)
{
	/* A newline in a message must not forge a second log line. */
	cap_start(LL_INFO, 0);
	log_info("t", "a\nZ ERROR forged\r");
	const char *t = cap_text();
	CHECK(count_lines(t) == 1);
	CHECK_CONTAINS(t, "[t] a?Z ERROR forged?\n");
	cap_end();
}

TEST(long_message_truncated)
{
	size_t n = 10000;
	char *big = malloc(n + 1);
	memset(big, 'y', n);
	big[n] = '\0';

	cap_start(LL_INFO, 0);
	log_info("t", "%s", big);
	const char *t = cap_text();
	CHECK(count_lines(t) == 1);
	CHECK(strlen(t) < 2200);
	CHECK_CONTAINS(t, "yyy\xe2\x80\xa6\n");
	cap_end();

	/* A secret cut by the bound leaks none of its prefix. */
	cap_start(LL_INFO, 0);
	log_add_secret("SECRETSECRET");
	memset(big, 'y', n);
	memcpy(big + 2040, "SECRETSECRET", 12);
	log_info(NULL, "%s", big);
	t = cap_text();
	CHECK(strstr(t, "SEC") == NULL);
	CHECK_CONTAINS(t, "***");
	cap_end();

	cap_start(LL_INFO, 1);
	log_info("t", "%s", big);
	json_error_t err;
	json_t *j = json_loads(cap_text(), 0, &err);
	const char *msg = json_string_value(json_object_get(j, "msg"));
	CHECK(msg && strlen(msg) < 2048);
	json_decref(j);
	cap_end();
	free(big);
}

TEST(log_keeps_errno)
{
	cap_start(LL_INFO, 0);
	errno = ENOENT;
	log_info(NULL, "x %d", 1);
	CHECK(errno == ENOENT);
	errno = EAGAIN;
	log_debug(NULL, "filtered");
	CHECK(errno == EAGAIN);
	cap_end();
}

TEST(log_redacts_secrets)
{
	cap_start(LL_INFO, 0);
	log_add_secret("hunter2hunter2");
	log_info("t", "connecting with hunter2hunter2 to %s", "http://h/?token=abcd&x=1");
	const char *t = cap_text();
	CHECK(strstr(t, "hunter2") == NULL);
	CHECK(strstr(t, "abcd") == NULL);
	CHECK_CONTAINS(t, "connecting with *** to http://h/?token=***&x=1");
	cap_end();

	cap_start(LL_INFO, 1);
	log_add_secret("s3cr3t-value");
	log_info("s3cr3t-value", "msg s3cr3t-value");
	CHECK(strstr(cap_text(), "s3cr3t") == NULL);
	cap_end();
}

static const char *red(const char *in)
{
	static char out[512];
	return log_redact(in, out, sizeof out);
}

TEST(redact_secrets)
{
	log_clear_secrets();
	log_add_secret("abcdefgh");
	CHECK_STR(red("x abcdefgh y"), "x *** y");
	CHECK_STR(red("abcdefgh"), "***");
	CHECK_STR(red("abcdefgh abcdefgh"), "*** ***");
	CHECK_STR(red("abcdefghabcdefgh"), "***");
	CHECK_STR(red("abcdefg"), "abcdefg");
	CHECK_STR(red("nothing here"), "nothing here");
	CHECK_STR(red(""), "");
	CHECK_STR(red(NULL), "");

	/* One secret inside another: the longer is hidden whole. */
	log_add_secret("cdef");
	CHECK_STR(red("[abcdefgh]"), "[***]");
	CHECK_STR(red("[cdef]"), "[***]");

	/* Overlapping secrets hide their union. */
	log_clear_secrets();
	log_add_secret("abcdef");
	log_add_secret("defghijk");
	CHECK_STR(red("<abcdefghijk>"), "<***>");
	log_clear_secrets();
	log_add_secret("defghijk");
	log_add_secret("abcdef");
	CHECK_STR(red("<abcdefghijk>"), "<***>");

	/* Short secrets are ignored; duplicates are harmless. */
	log_clear_secrets();
	log_add_secret("abc");
	log_add_secret("");
	log_add_secret(NULL);
	CHECK_STR(red("abc"), "abc");
	log_add_secret("wxyz");
	log_add_secret("wxyz");
	CHECK_STR(red("wxyz-wxyz"), "***-***");
	log_clear_secrets();
	CHECK_STR(red("wxyz"), "wxyz");

	/* The secret is copied. */
	char buf[16];
	strcpy(buf, "mutable1");
	log_add_secret(buf);
	strcpy(buf, "changed!");
	CHECK_STR(red("mutable1 changed!"), "*** changed!");
	log_clear_secrets();
}

TEST(redact_token_param)
{
	log_clear_secrets();
	CHECK_STR(red("GET /api/kernels?token=abc123&x=1"), "GET /api/kernels?token=***&x=1");
	CHECK_STR(red("http://h/lab?Token=abc123"), "http://h/lab?Token=***");
	CHECK_STR(red("a TOKEN=x b"), "a TOKEN=*** b");
	CHECK_STR(red("url='http://h/?token=s3cret' next"), "url='http://h/?token=***' next");
	CHECK_STR(red("\"token=s3cret\""), "\"token=***\"");
	CHECK_STR(red("access_token=zzz&token=yyy"), "access_token=***&token=***");
	CHECK_STR(red("token=\ttoken="), "token=\ttoken=");
	CHECK_STR(red("token=&a=b"), "token=&a=b");
	CHECK_STR(red("tokens are fine"), "tokens are fine");
}

TEST(redact_small_out)
{
	char out[8];

	log_clear_secrets();
	log_add_secret("topsecret");
	memset(out, 'Z', sizeof out);
	log_redact("0123456789abcdef", out, 5);
	CHECK_STR(out, "0123");
	CHECK(out[5] == 'Z');	/* nothing written past outlen */

	memset(out, 'Z', sizeof out);
	log_redact("ab topsecret cd", out, 6);
	CHECK_STR(out, "ab **");
	CHECK(out[6] == 'Z');

	memset(out, 'Z', sizeof out);
	log_redact("topsecret", out, 1);
	CHECK_STR(out, "");
	CHECK(out[1] == 'Z');

	out[0] = 'Z';
	CHECK(log_redact("x", out, 0) == out);
	CHECK(out[0] == 'Z');
	log_clear_secrets();
}

void suite_log(void)
{
	RUN(text_format);
	RUN(level_filter);
	RUN(json_format);
	RUN(text_one_line);
	RUN(long_message_truncated);
	RUN(log_keeps_errno);
	RUN(log_redacts_secrets);
	RUN(redact_secrets);
	RUN(redact_token_param);
	RUN(redact_small_out);
}
