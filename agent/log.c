/*
 * log: the one choke point every line passes through. State is global on
 * purpose: one level, one format, one stream and one secret list for the
 * whole process, set up once by main.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include <jansson.h>

#include "log.h"

#define LINE_MAX_MSG	2048	/* one message, after formatting and redaction */
#define TARGET_MAX	128
#define ELLIPSIS	"\xe2\x80\xa6"	/* "…" marks a truncated message */
#define MIN_SECRET	4
#define STATUS_MAX	512

static enum log_level cur_level = LL_INFO;
static int use_json;
static FILE *stream;		/* NULL = stderr, looked up at each write */
static int status_on;		/* a status line is drawn below the log lines */
static char status_text[STATUS_MAX];	/* redacted, one line, cut to the terminal's width */

/* Secrets, kept sorted longest first. */
static char **secrets;
static size_t *secret_lens;
static size_t nsecrets, secrets_cap;

static const char *const level_upper[] = { "ERROR", "WARN", "INFO", "DEBUG" };
static const char *const level_lower[] = { "error", "warn", "info", "debug" };

void log_setup(enum log_level level, int json)
{
	cur_level = level;
	use_json = json != 0;
}

void log_set_stream(FILE *f)
{
	stream = f;
}

enum log_level log_get_level(void)
{
	return cur_level;
}

void log_add_secret(const char *secret)
{
	size_t len;

	if (!secret || (len = strlen(secret)) < MIN_SECRET)
		return;
	for (size_t i = 0; i < nsecrets; i++)
		if (secret_lens[i] == len && memcmp(secrets[i], secret, len) == 0)
			return;
	if (nsecrets == secrets_cap) {
		size_t cap = secrets_cap ? secrets_cap * 2 : 8;
		char **s = realloc(secrets, cap * sizeof *s);
		if (!s)
			return;
		secrets = s;
		size_t *l = realloc(secret_lens, cap * sizeof *l);
		if (!l)
			return;
		secret_lens = l;
		secrets_cap = cap;
	}
	char *copy = strdup(secret);
	if (!copy)
		return;
	/* Insert keeping longest first. */
	size_t at = 0;
	while (at < nsecrets && secret_lens[at] >= len)
		at++;
	memmove(secrets + at + 1, secrets + at, (nsecrets - at) * sizeof *secrets);
	memmove(secret_lens + at + 1, secret_lens + at, (nsecrets - at) * sizeof *secret_lens);
	secrets[at] = copy;
	secret_lens[at] = len;
	nsecrets++;
}

void log_clear_secrets(void)
{
	for (size_t i = 0; i < nsecrets; i++)
		free(secrets[i]);
	free(secrets);
	free(secret_lens);
	secrets = NULL;
	secret_lens = NULL;
	nsecrets = secrets_cap = 0;
}

static int token_value_end(char c)
{
	return c == '\0' || c == '&' || c == '"' || c == '\'' ||
	       c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\v' || c == '\f';
}

/*
 * The redactor. Every byte covered by a secret occurrence or a token= value
 * is hidden, and each run of hidden bytes becomes one "***". Matches are
 * looked for at every position, including inside a run already hidden, so
 * overlapping or nested secrets merge into one run and nothing leaks at the
 * edges. When the input was cut short (truncated), a tail that is the start
 * of a secret is hidden too, since the rest of it was cut away.
 * Returns 1 when the output had to be truncated.
 */
static int redact(const char *in, size_t inlen, int truncated, char *out, size_t outlen)
{
	size_t o = 0, cover_end = 0;
	int in_run = 0, cut = 0;

	if (outlen == 0)
		return 1;
	for (size_t i = 0; i < inlen; i++) {
		for (size_t k = 0; k < nsecrets; k++) {
			size_t sl = secret_lens[k];
			if (i + sl <= inlen) {
				if (i + sl > cover_end && memcmp(in + i, secrets[k], sl) == 0)
					cover_end = i + sl;
			} else if (truncated && memcmp(in + i, secrets[k], inlen - i) == 0) {
				cover_end = inlen;
			}
		}
		if (i >= 6 && strncasecmp(in + i - 6, "token=", 6) == 0 && !token_value_end(in[i])) {
			size_t j = i;
			while (j < inlen && !token_value_end(in[j]))
				j++;
			if (j > cover_end)
				cover_end = j;
		}

		if (i < cover_end) {
			if (!in_run) {
				for (const char *r = "***"; *r; r++) {
					if (o + 1 < outlen)
						out[o++] = *r;
					else
						cut = 1;
				}
				in_run = 1;
			}
			continue;
		}
		in_run = 0;
		if (o + 1 < outlen) {
			out[o++] = in[i];
		} else {
			cut = 1;
			break;
		}
	}
	out[o] = '\0';
	return cut;
}

char *log_redact(const char *in, char *out, size_t outlen)
{
	if (!out || outlen == 0)
		return out;
	if (!in)
		in = "";
	redact(in, strlen(in), 0, out, outlen);
	return out;
}

/*
 * Make s safe to print in place: invalid UTF-8 bytes become '?', and in
 * text mode control characters become '?' so one call is one line. When s
 * was truncated, an incomplete character at the very end is dropped.
 */
static void sanitize(char *s, int keep_controls, int truncated)
{
	unsigned char *p = (unsigned char *)s;

	while (*p) {
		unsigned char c = *p;
		size_t n;
		if (c < 0x80) {
			if (!keep_controls && ((c < 0x20 && c != '\t') || c == 0x7f))
				*p = '?';
			p++;
			continue;
		}
		if (c >= 0xc2 && c <= 0xdf)
			n = 2;
		else if (c >= 0xe0 && c <= 0xef)
			n = 3;
		else if (c >= 0xf0 && c <= 0xf4)
			n = 4;
		else
			n = 0;
		size_t k = 1;
		while (n && k < n && (p[k] & 0xc0) == 0x80)
			k++;
		if (truncated && n && k < n && p[k] == '\0') {
			*p = '\0';	/* cut mid-character */
			return;
		}
		int ok = n && k == n;
		/* Reject overlongs, surrogates and code points past U+10FFFF. */
		if (ok && c == 0xe0 && p[1] < 0xa0)
			ok = 0;
		if (ok && c == 0xed && p[1] > 0x9f)
			ok = 0;
		if (ok && c == 0xf0 && p[1] < 0x90)
			ok = 0;
		if (ok && c == 0xf4 && p[1] > 0x8f)
			ok = 0;
		if (!ok) {
			*p++ = '?';
			continue;
		}
		p += n;
	}
}

/* "\r" + erase to the end of the line (ECMA-48 EL): the status line goes. */
#define STATUS_ERASE "\r\033[K"

static void write_line(const char *line, size_t len)
{
	FILE *f = stream ? stream : stderr;

	if (status_on)
		fputs(STATUS_ERASE, f);
	fwrite(line, 1, len, f);
	if (status_on)
		fputs(status_text, f);	/* redrawn under the new line, no newline */
	fflush(f);
}

void log_status_enable(int on)
{
	FILE *f = stream ? stream : stderr;

	if (status_on && !on && status_text[0]) {
		fputs(STATUS_ERASE, f);
		fflush(f);
	}
	status_on = on;
	status_text[0] = '\0';
}

int log_status_enabled(void)
{
	return status_on;
}

void log_status_set(const char *text, size_t width)
{
	FILE *f = stream ? stream : stderr;
	char clean[STATUS_MAX];
	size_t n, cells = 0, i;

	if (!status_on)
		return;
	redact(text ? text : "", strlen(text ? text : ""), 0, clean, sizeof clean);
	sanitize(clean, 0, 0);
	/* Never wrap: a wrapped line could not be erased with one "\r". Count
	 * characters (UTF-8 lead bytes), not bytes, against the width. */
	if (width < 2)
		width = 80;
	for (i = 0, n = 0; clean[i]; i++) {
		if (((unsigned char)clean[i] & 0xc0) != 0x80 && ++cells >= width)
			break;
		n = i + 1;
	}
	while (clean[n] && ((unsigned char)clean[n] & 0xc0) == 0x80)
		n++;
	clean[n] = '\0';
	if (!strcmp(clean, status_text))
		return;
	snprintf(status_text, sizeof status_text, "%s", clean);
	fputs(STATUS_ERASE, f);
	fputs(status_text, f);
	fflush(f);
}

static void write_json(const char *ts, enum log_level level, const char *target, const char *msg)
{
	/* Worst case every byte of msg and target escapes to \u00XX. */
	char line[6 * (LINE_MAX_MSG + TARGET_MAX) + 128];
	json_t *o;

	if (target)
		o = json_pack("{s:s, s:s, s:s, s:s}", "time", ts, "level", level_lower[level],
			      "target", target, "msg", msg);
	else
		o = json_pack("{s:s, s:s, s:s}", "time", ts, "level", level_lower[level], "msg", msg);
	if (!o) {
		/* Out of memory: still say something. */
		static const char fallback[] = "{\"level\":\"error\",\"msg\":\"log: out of memory\"}\n";
		write_line(fallback, sizeof fallback - 1);
		return;
	}
	size_t n = json_dumpb(o, line, sizeof line - 1, JSON_COMPACT);
	json_decref(o);
	if (n == 0 || n > sizeof line - 1)
		return;	/* cannot happen with the bound above */
	line[n++] = '\n';
	write_line(line, n);
}

void log_msg(enum log_level level, const char *target, const char *fmt, ...)
{
	int saved = errno;
	char raw[LINE_MAX_MSG], msg[LINE_MAX_MSG], tgt[TARGET_MAX], ts[32];
	va_list ap;

	if ((int)level < LL_ERROR)
		level = LL_ERROR;
	if (level > LL_DEBUG)
		level = LL_DEBUG;
	if (level > cur_level)
		goto out;

	va_start(ap, fmt);
	int n = vsnprintf(raw, sizeof raw, fmt, ap);
	va_end(ap);
	if (n < 0)
		snprintf(raw, sizeof raw, "(unprintable log message: %s)", fmt);
	int truncated = n >= (int)sizeof raw;

	/* Leave room for the ellipsis. */
	size_t room = sizeof msg - (sizeof ELLIPSIS - 1);
	if (redact(raw, strlen(raw), truncated, msg, room))
		truncated = 1;
	sanitize(msg, use_json, truncated);
	if (truncated)
		strcat(msg, ELLIPSIS);

	if (target) {
		redact(target, strlen(target), 0, tgt, sizeof tgt);
		sanitize(tgt, use_json, 0);
	}

	time_t now = time(NULL);
	struct tm tm;
	if (!gmtime_r(&now, &tm) || strftime(ts, sizeof ts, "%Y-%m-%dT%H:%M:%SZ", &tm) == 0)
		snprintf(ts, sizeof ts, "%lld", (long long)now);

	if (use_json) {
		write_json(ts, level, target ? tgt : NULL, msg);
	} else {
		char line[sizeof ts + 8 + sizeof tgt + 3 + sizeof msg + 2];
		int len = snprintf(line, sizeof line, "%s %-5s %s%s%s%s\n", ts, level_upper[level],
				   target ? "[" : "", target ? tgt : "", target ? "] " : "", msg);
		if (len > 0)
			write_line(line, (size_t)len < sizeof line ? (size_t)len : sizeof line - 1);
	}
out:
	errno = saved;
}
