/*
 * jmsg: building and reading Jupyter kernel messages with jansson.
 * See jmsg.h for the contract and the protocol facts it relies on.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>

#include "jmsg.h"

/* Fill buf from the kernel's CSPRNG; -1 if it is unavailable. */
static int random_bytes(unsigned char *buf, size_t len)
{
	size_t got = 0;

	while (got < len) {
		ssize_t n = getrandom(buf + got, len - got, 0);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			break;
		}
		got += (size_t)n;
	}
	if (got == len)
		return 0;

	/* getrandom(2) missing (old kernel, seccomp): try the device. */
	int fd = open("/dev/urandom", O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -1;
	got = 0;
	while (got < len) {
		ssize_t n = read(fd, buf + got, len - got);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		got += (size_t)n;
	}
	close(fd);
	return got == len ? 0 : -1;
}

void jmsg_uuid(char out[JMSG_UUID_LEN])
{
	unsigned char b[16];
	int saved = errno;

	if (random_bytes(b, sizeof b) < 0) {
		/*
		 * No randomness at all. Ids only need to be unique (a repeated
		 * msg_id is dropped by the kernel as a duplicate), so mix time,
		 * pid and a counter rather than fail.
		 */
		static uint64_t counter;
		struct timespec ts;
		clock_gettime(CLOCK_REALTIME, &ts);
		uint64_t x = (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
		uint64_t y = ((uint64_t)getpid() << 32) ^ ++counter;
		for (int i = 0; i < 8; i++) {
			b[i] = (unsigned char)(x >> (8 * i));
			b[8 + i] = (unsigned char)(y >> (8 * i));
		}
	}
	b[6] = (unsigned char)((b[6] & 0x0f) | 0x40);	/* version 4 */
	b[8] = (unsigned char)((b[8] & 0x3f) | 0x80);	/* RFC 4122 variant */

	static const char hex[] = "0123456789abcdef";
	size_t o = 0;
	for (int i = 0; i < 16; i++) {
		if (i == 4 || i == 6 || i == 8 || i == 10)
			out[o++] = '-';
		out[o++] = hex[b[i] >> 4];
		out[o++] = hex[b[i] & 0x0f];
	}
	out[o] = '\0';
	errno = saved;
}

void jmsg_now_iso(char *out, size_t outlen)
{
	struct timespec ts;
	struct tm tm;
	char base[32];

	if (!out || outlen == 0)
		return;
	clock_gettime(CLOCK_REALTIME, &ts);
	if (!gmtime_r(&ts.tv_sec, &tm) ||
	    strftime(base, sizeof base, "%Y-%m-%dT%H:%M:%S", &tm) == 0) {
		out[0] = '\0';
		return;
	}
	snprintf(out, outlen, "%s.%06ldZ", base, (long)(ts.tv_nsec / 1000));
}

/* Read exactly n decimal digits at *p into *v; advance *p. */
static int digits(const char **p, int n, int *v)
{
	int x = 0;

	for (int i = 0; i < n; i++) {
		char c = (*p)[i];
		if (c < '0' || c > '9')
			return -1;
		x = x * 10 + (c - '0');
	}
	*p += n;
	*v = x;
	return 0;
}

/*
 * Hand-written rather than strptime: strptime's %z and fraction handling
 * differ between libcs, and this accepts exactly the shapes servers write:
 * YYYY-MM-DD[T ]HH:MM:SS[.fraction][Z|±HH:MM|±HHMM|±HH]. No zone means UTC.
 */
int jmsg_parse_iso(const char *s, double *t)
{
	struct tm tm;
	int year, mon, day, hour, min, sec;
	double frac = 0.0;
	long offset = 0;	/* seconds east of UTC */
	const char *p = s;

	if (!s || !t)
		return -1;
	if (digits(&p, 4, &year) || *p++ != '-' || digits(&p, 2, &mon) || *p++ != '-' ||
	    digits(&p, 2, &day))
		return -1;
	if (*p != 'T' && *p != 't' && *p != ' ')
		return -1;
	p++;
	if (digits(&p, 2, &hour) || *p++ != ':' || digits(&p, 2, &min) || *p++ != ':' ||
	    digits(&p, 2, &sec))
		return -1;
	if (mon < 1 || mon > 12 || day < 1 || day > 31 || hour > 23 || min > 59 || sec > 60)
		return -1;

	if (*p == '.' || *p == ',') {
		double scale = 0.1;
		p++;
		if (*p < '0' || *p > '9')
			return -1;
		/* Any number of digits; past ~15 they no longer change a double. */
		for (; *p >= '0' && *p <= '9'; p++) {
			frac += (*p - '0') * scale;
			scale /= 10;
		}
	}

	if (*p == 'Z' || *p == 'z') {
		p++;
	} else if (*p == '+' || *p == '-') {
		int sign = *p++ == '-' ? -1 : 1;
		int oh, om = 0;
		if (digits(&p, 2, &oh))
			return -1;
		if (*p == ':') {
			p++;
			if (digits(&p, 2, &om))
				return -1;
		} else if (*p >= '0' && *p <= '9') {
			if (digits(&p, 2, &om))
				return -1;
		}
		if (oh > 23 || om > 59)
			return -1;
		offset = sign * (oh * 3600L + om * 60L);
	}
	if (*p != '\0')
		return -1;

	memset(&tm, 0, sizeof tm);
	tm.tm_year = year - 1900;
	tm.tm_mon = mon - 1;
	tm.tm_mday = day;
	tm.tm_hour = hour;
	tm.tm_min = min;
	tm.tm_sec = sec == 60 ? 59 : sec;	/* a leap second: clamp, don't roll over */
	time_t when = timegm(&tm);
	if (when == (time_t)-1 && !(year == 1969 && mon == 12 && day == 31))
		return -1;
	/* timegm normalises 31 Feb to 3 Mar; reject instead. */
	if (tm.tm_mday != day || tm.tm_mon != mon - 1)
		return -1;
	*t = (double)when - (double)offset + frac;
	return 0;
}

double jmsg_activity(json_t *o)
{
	const char *s = json_string_value(json_object_get(o, "last_activity"));
	double t;

	return s && jmsg_parse_iso(s, &t) == 0 ? t : 0;
}

/*
 * A request on channel with the given content (a new reference, taken even
 * on failure), as JSON text. Every field is required: jupyter_server aborts
 * the socket on a message without metadata or parent_header
 * (services/kernels/handlers.py, on_message -> session.deserialize).
 */
static char *request(const char *msg_type, const char *channel, const char *session,
		     const char *username, json_t *content, char msg_id[JMSG_UUID_LEN])
{
	char date[40], *text;
	json_t *msg;

	jmsg_uuid(msg_id);
	jmsg_now_iso(date, sizeof date);
	msg = json_pack("{s:{s:s, s:s, s:s, s:s, s:s, s:s}, s:{}, s:{}, s:o, s:s, s:[]}",
		"header",
			"msg_id", msg_id,
			"msg_type", msg_type,
			"username", username ? username : "",
			"session", session ? session : "",
			"date", date,
			"version", "5.3",
		"parent_header",
		"metadata",
		"content", content,
		"channel", channel,
		"buffers");
	if (!msg)
		return NULL;	/* out of memory, or a string was not UTF-8 */
	text = json_dumps(msg, JSON_COMPACT);
	json_decref(msg);
	return text;
}

char *jmsg_kernel_info_request(const char *session, const char *username,
				char msg_id[JMSG_UUID_LEN])
{
	return request("kernel_info_request", "control", session, username, json_object(), msg_id);
}

char *jmsg_execute_request(const char *session, const char *username, const char *code,
			   char msg_id[JMSG_UUID_LEN])
{
	json_t *content = json_pack("{s:s, s:b, s:b, s:{}, s:b, s:b}",
		"code", code ? code : "",
		"silent", 1,
		"store_history", 0,
		"user_expressions",
		"allow_stdin", 0,
		"stop_on_error", 0);

	if (!content) {		/* code was not UTF-8, or out of memory */
		jmsg_uuid(msg_id);
		return NULL;
	}
	return request("execute_request", "shell", session, username, content, msg_id);
}

/*
 * Copy a JSON string into a fixed array, truncating at a UTF-8 character
 * boundary so the result stays valid text.
 */
static void copy_trunc(char *dst, size_t dstlen, const char *src, size_t srclen)
{
	size_t n = srclen < dstlen - 1 ? srclen : dstlen - 1;

	if (n < srclen) {
		/* Back off over continuation bytes to the start of a character. */
		while (n > 0 && ((unsigned char)src[n] & 0xc0) == 0x80)
			n--;
	}
	memcpy(dst, src, n);
	dst[n] = '\0';
}

static void copy_field(char *dst, size_t dstlen, json_t *v)
{
	if (json_is_string(v))
		copy_trunc(dst, dstlen, json_string_value(v), json_string_length(v));
}

static void set_err(char *err, size_t errlen, const char *reason, const char *detail)
{
	if (!err || errlen == 0)
		return;
	snprintf(err, errlen, "%s%s%s", reason, detail ? ": " : "", detail ? detail : "");
	/* jansson quotes input near the error: keep junk bytes out of logs. */
	for (char *p = err; *p; p++) {
		unsigned char c = (unsigned char)*p;
		if (c < 0x20 || c >= 0x7f)
			*p = '?';
	}
}

static int ends_with(const char *s, const char *suffix)
{
	size_t ls = strlen(s), lf = strlen(suffix);
	return ls >= lf && memcmp(s + ls - lf, suffix, lf) == 0;
}

int jmsg_read(const char *buf, size_t len, struct jmsg_info *out, char *err, size_t errlen)
{
	return jmsg_parse(buf, len, out, NULL, err, errlen);
}

int jmsg_parse(const char *buf, size_t len, struct jmsg_info *out, json_t **keep,
	       char *err, size_t errlen)
{
	json_error_t jerr;
	json_t *root = NULL, *header, *type, *content;
	int rc = -1;

	if (keep)
		*keep = NULL;
	if (!out) {
		set_err(err, errlen, "no output", NULL);
		return -1;
	}
	memset(out, 0, sizeof *out);
	if (!buf) {
		set_err(err, errlen, "empty frame", NULL);
		return -1;
	}
	root = json_loadb(buf, len, JSON_DECODE_ANY, &jerr);
	if (!root) {
		set_err(err, errlen, "not JSON", jerr.text);
		return -1;
	}
	if (!json_is_object(root)) {
		set_err(err, errlen, "not a JSON object", NULL);
		goto out;
	}
	header = json_object_get(root, "header");
	if (!header) {
		set_err(err, errlen, "no header", NULL);
		goto out;
	}
	if (!json_is_object(header)) {
		set_err(err, errlen, "header is not an object", NULL);
		goto out;
	}
	type = json_object_get(header, "msg_type");
	if (!json_is_string(type)) {
		set_err(err, errlen, type ? "header.msg_type is not a string" :
			"no header.msg_type", NULL);
		goto out;
	}

	/* Everything else is optional: a missing or odd field reads as "". */
	copy_field(out->msg_type, sizeof out->msg_type, type);
	copy_field(out->channel, sizeof out->channel, json_object_get(root, "channel"));
	copy_field(out->parent_msg_id, sizeof out->parent_msg_id,
		   json_object_get(json_object_get(root, "parent_header"), "msg_id"));
	copy_field(out->parent_msg_type, sizeof out->parent_msg_type,
		   json_object_get(json_object_get(root, "parent_header"), "msg_type"));

	/* Compare the untruncated type, so a long name never matches by accident. */
	const char *full_type = json_string_value(type);
	content = json_object_get(root, "content");
	if (strcmp(full_type, "status") == 0)
		copy_field(out->execution_state, sizeof out->execution_state,
			   json_object_get(content, "execution_state"));
	if (ends_with(full_type, "_reply"))
		copy_field(out->reply_status, sizeof out->reply_status,
			   json_object_get(content, "status"));
	if (strcmp(full_type, "shutdown_reply") == 0)
		out->restart = json_is_true(json_object_get(content, "restart"));
	rc = 0;
	if (keep) {
		*keep = out->root = root;
		return rc;
	}
out:
	json_decref(root);
	return rc;
}
