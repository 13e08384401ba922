/*
 * recorder: the output recorder (see recorder.h). Formatting is pure and
 * unit-tested; the file handling (open, rotate, write) is at the end.
 */
#include "recorder.h"

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include "config.h"
#include "log.h"

#define LOGT		"record"
#define CUT_NOTE_MAX	96	/* room kept for the "[… cut]" note at the end of a message */

/* ---- buffer ---- */

void recorder_buf_reset(struct recorder_buf *b)
{
	b->len = 0;
	b->cut = 0;
	if (b->s)
		b->s[0] = '\0';
}

void recorder_buf_free(struct recorder_buf *b)
{
	free(b->s);
	memset(b, 0, sizeof *b);
}

/* Make room for n more bytes and a NUL; -1 when out of memory. */
static int buf_reserve(struct recorder_buf *b, size_t n)
{
	size_t cap;
	char *s;

	if (b->len + n + 1 <= b->cap)
		return 0;
	cap = b->cap ? b->cap : 4096;
	while (cap < b->len + n + 1)
		cap *= 2;
	s = realloc(b->s, cap);
	if (!s)
		return -1;
	b->s = s;
	b->cap = cap;
	return 0;
}

/* Append raw bytes, within RECORDER_MSG_MAX (minus room for the cut note). */
static int buf_add(struct recorder_buf *b, const char *s, size_t n)
{
	if (b->cut)
		return 0;
	if (b->len + n > RECORDER_MSG_MAX - CUT_NOTE_MAX) {
		b->cut = 1;
		return 0;
	}
	if (buf_reserve(b, n) < 0)
		return -1;
	memcpy(b->s + b->len, s, n);
	b->len += n;
	b->s[b->len] = '\0';
	return 0;
}

static int buf_addf(struct recorder_buf *b, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

static int buf_addf(struct recorder_buf *b, const char *fmt, ...)
{
	char tmp[512];
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(tmp, sizeof tmp, fmt, ap);
	va_end(ap);
	if (n < 0)
		return 0;
	return buf_add(b, tmp, (size_t)n < sizeof tmp ? (size_t)n : sizeof tmp - 1);
}

/* ---- text cleaning ---- */

size_t recorder_strip_ansi(char *s, size_t len)
{
	size_t i = 0, o = 0;

	while (i < len) {
		unsigned char c = (unsigned char)s[i];

		if (c == 0x1b) {
			i++;
			if (i >= len)
				break;
			if (s[i] == '[') {		/* CSI: parameters, intermediates, one final byte */
				i++;
				while (i < len && (unsigned char)s[i] >= 0x20 && (unsigned char)s[i] <= 0x3f)
					i++;
				if (i < len && (unsigned char)s[i] >= 0x40 && (unsigned char)s[i] <= 0x7e)
					i++;
			} else if (s[i] == ']') {	/* OSC (hyperlinks, titles): up to BEL or ESC \ */
				i++;
				while (i < len && s[i] != '\a' && s[i] != 0x1b)
					i++;
				if (i < len && s[i] == '\a')
					i++;
				else if (i + 1 < len && s[i] == 0x1b && s[i + 1] == '\\')
					i += 2;
			} else if (s[i] == '(' || s[i] == ')') {	/* character set: one more byte */
				i += i + 1 < len ? 2 : 1;
			} else if ((unsigned char)s[i] >= 0x20 && (unsigned char)s[i] < 0x7f) {
				i++;
			}
			continue;
		}
		if ((c < 0x20 && c != '\t') || c == 0x7f) {
			i++;
			continue;
		}
		s[o++] = s[i++];
	}
	return o;
}

/* Cut position <= n that does not split a UTF-8 character. */
static size_t utf8_cut(const char *s, size_t n)
{
	while (n > 0 && ((unsigned char)s[n] & 0xc0) == 0x80)
		n--;
	return n;
}

/*
 * What a terminal shows of one line with "\r" rewrites (progress bars): the
 * text after the last "\r" that has something after it.
 */
static void last_rewrite(const char **line, size_t *len)
{
	const char *s = *line;
	size_t n = *len;

	while (n > 0 && s[n - 1] == '\r')
		n--;
	for (size_t i = n; i > 0; i--) {
		if (s[i - 1] == '\r') {
			*line = s + i;
			*len = n - i;
			return;
		}
	}
	*len = n;
}

static int add_prefix(struct recorder_buf *b, const struct recorder_fmt *f)
{
	if (!f->prefix)
		return 0;
	return buf_addf(b, "[%.8s] ", f->kernel_id ? f->kernel_id : "?");
}

/* One output line: prefix, lead, the cleaned and bounded text, newline. */
static int add_line(struct recorder_buf *b, const struct recorder_fmt *f, const char *lead,
		    const char *s, size_t n)
{
	char line[RECORDER_LINE_MAX];
	size_t more = 0, m;

	last_rewrite(&s, &n);
	if (n > sizeof line) {
		more = n - sizeof line;
		n = sizeof line;
	}
	memcpy(line, s, n);
	m = recorder_strip_ansi(line, n);
	if (m > RECORDER_LINE_MAX - 48) {
		size_t keep = utf8_cut(line, RECORDER_LINE_MAX - 48);

		more += m - keep;
		m = keep;
	}
	if (add_prefix(b, f) < 0 || buf_add(b, lead, strlen(lead)) < 0 || buf_add(b, line, m) < 0)
		return -1;
	if (more && buf_addf(b, " [... %zu more bytes]", more) < 0)
		return -1;
	return buf_add(b, "\n", 1);
}

/* Every line of text; the first one led by first, the others by rest. */
static int add_text(struct recorder_buf *b, const struct recorder_fmt *f, const char *first,
		    const char *rest, const char *text, size_t len)
{
	size_t i = 0;
	int line = 0;

	while (i < len && !b->cut) {
		const char *nl = memchr(text + i, '\n', len - i);
		size_t n = nl ? (size_t)(nl - (text + i)) : len - i;

		if (add_line(b, f, line++ ? rest : first, text + i, n) < 0)
			return -1;
		i += n + 1;
	}
	return 0;
}

/* ---- messages ---- */

static const char *jstr(json_t *o, const char *key)
{
	return json_string_value(json_object_get(o, key));
}

static int is_text_type(const char *mime)
{
	return !strncmp(mime, "text/", 5) || strstr(mime, "json") || strstr(mime, "javascript") ||
	       strstr(mime, "+xml");
}

size_t recorder_data_size(const char *mime, json_t *value)
{
	if (json_is_string(value)) {
		const char *s = json_string_value(value);
		size_t n = json_string_length(value), chars = 0;

		if (is_text_type(mime))
			return n;
		/*
		 * Binary types travel base64-encoded (images, PDFs): say their
		 * real size. Padding or not, 4 symbols carry 3 bytes, and the
		 * floor of chars * 3/4 is the decoded length.
		 */
		for (size_t i = 0; i < n; i++)
			if (isalnum((unsigned char)s[i]) || s[i] == '+' || s[i] == '/')
				chars++;
		return chars / 4 * 3 + (chars % 4) * 3 / 4;
	}
	return json_dumpb(value, NULL, 0, JSON_COMPACT);
}

/* A MIME bundle: text/plain as lines (first led by lead), every other type as one line. */
static int add_bundle(struct recorder_buf *b, const struct recorder_fmt *f, json_t *data,
		      const char *lead)
{
	const char *mime;
	json_t *v;
	json_t *plain = json_object_get(data, "text/plain");
	int first = 1;

	if (json_is_string(plain) && json_string_length(plain)) {
		if (add_text(b, f, lead, "", json_string_value(plain), json_string_length(plain)) < 0)
			return -1;
		first = 0;
	}
	json_object_foreach(data, mime, v) {
		char what[160];
		int n;

		if (!strcmp(mime, "text/plain"))
			continue;
		n = snprintf(what, sizeof what, "%s[%.100s, %zu bytes]", first ? lead : "", mime,
			     recorder_data_size(mime, v));
		first = 0;
		if (add_line(b, f, "", what, n > 0 && (size_t)n < sizeof what ? (size_t)n : 0) < 0)
			return -1;
	}
	return 0;
}

/* The message's own time (header.date) as "2026-11-23 17:32:05 UTC", else f->now. */
static void msg_time(json_t *msg, const struct recorder_fmt *f, char *out, size_t outlen)
{
	const char *date = jstr(json_object_get(msg, "header"), "date");
	double t;
	time_t when = f->now;
	struct tm tm;

	if (date && jmsg_parse_iso(date, &t) == 0)
		when = (time_t)t;
	if (!gmtime_r(&when, &tm) || !strftime(out, outlen, "%Y-%m-%d %H:%M:%S UTC", &tm))
		snprintf(out, outlen, "?");
}

static void count_str(json_t *v, char *out, size_t outlen)
{
	if (json_is_integer(v))
		snprintf(out, outlen, "%lld", (long long)json_integer_value(v));
	else
		snprintf(out, outlen, " ");
}

/* Is this message an answer to one of the agent's own requests? */
static int is_own(json_t *msg, const struct recorder_fmt *f)
{
	json_t *ph = json_object_get(msg, "parent_header");
	const char *s = jstr(ph, "session"), *u = jstr(ph, "username");

	return (s && f->own_session && *f->own_session && !strcmp(s, f->own_session)) ||
	       (u && f->own_username && *f->own_username && !strcmp(u, f->own_username));
}

static int recordable(const char *type)
{
	static const char *const types[] = { "execute_input", "stream", "error", "execute_result",
					     "display_data", "update_display_data" };

	for (size_t i = 0; i < sizeof types / sizeof types[0]; i++)
		if (!strcmp(type, types[i]))
			return 1;
	return 0;
}

static int format_body(json_t *msg, const char *type, const struct recorder_fmt *f,
		       struct recorder_buf *b)
{
	json_t *c = json_object_get(msg, "content");
	char when[48], count[24], lead[48];

	if (!strcmp(type, "execute_input")) {
		const char *code = jstr(c, "code");

		msg_time(msg, f, when, sizeof when);
		count_str(json_object_get(c, "execution_count"), count, sizeof count);
		if (add_prefix(b, f) < 0 ||
		    buf_addf(b, "=== In [%s] %s, kernel %.8s\n", count, when,
			     f->kernel_id ? f->kernel_id : "?") < 0)
			return -1;
		return code ? add_text(b, f, "> ", "> ", code, strlen(code)) : 0;
	}
	if (!strcmp(type, "stream")) {
		const char *name = jstr(c, "name"), *text = jstr(c, "text");

		if (!text)
			return 0;
		if (!name || !strcmp(name, "stdout"))
			lead[0] = '\0';
		else
			snprintf(lead, sizeof lead, "[%.20s] ", name);
		return add_text(b, f, lead, lead, text, strlen(text));
	}
	if (!strcmp(type, "error")) {
		const char *ename = jstr(c, "ename"), *evalue = jstr(c, "evalue");
		json_t *tb = json_object_get(c, "traceback"), *l;
		size_t i;
		int rc = 0;

		rc = add_prefix(b, f);
		if (!rc)
			rc = buf_addf(b, "[error] %.200s: ", ename ? ename : "?");
		/* evalue can be long and multi-line: only its first line here, cleaned. */
		if (!rc && evalue) {
			const char *nl = strchr(evalue, '\n');
			char v[1024];
			size_t n = nl ? (size_t)(nl - evalue) : strlen(evalue);

			if (n >= sizeof v)
				n = utf8_cut(evalue, sizeof v - 1);
			memcpy(v, evalue, n);
			rc = buf_add(b, v, recorder_strip_ansi(v, n));
		}
		if (!rc)
			rc = buf_add(b, "\n", 1);
		json_array_foreach(tb, i, l) {
			if (rc || b->cut)
				break;
			if (json_is_string(l))
				rc = add_text(b, f, "", "", json_string_value(l), json_string_length(l));
		}
		return rc;
	}
	if (!strcmp(type, "execute_result")) {
		count_str(json_object_get(c, "execution_count"), count, sizeof count);
		snprintf(lead, sizeof lead, "Out[%s]: ", count);
		return add_bundle(b, f, json_object_get(c, "data"), lead);
	}
	/* display_data, update_display_data */
	return add_bundle(b, f, json_object_get(c, "data"), "");
}

int recorder_format(json_t *msg, const struct recorder_fmt *f, struct recorder_buf *out)
{
	const char *type = jstr(json_object_get(msg, "header"), "msg_type");
	size_t start = out->len;

	if (!type || !recordable(type) || is_own(msg, f))
		return 0;
	if (format_body(msg, type, f, out) < 0)
		return -1;
	if (out->cut) {
		/* Room for this note was kept by buf_add. */
		char note[CUT_NOTE_MAX];
		int n = snprintf(note, sizeof note, "%s[... %s cut: more than %u bytes of text]\n",
				 out->len && out->s[out->len - 1] != '\n' ? "\n" : "", type,
				 RECORDER_MSG_MAX);

		if (buf_reserve(out, (size_t)n) < 0)
			return -1;
		memcpy(out->s + out->len, note, (size_t)n + 1);
		out->len += (size_t)n;
	}
	return out->len > start;
}

/* header.msg_type read from the raw start of a message: "\"msg_type\": \"stream\"". */
static void peek_type(const char *head, size_t len, char *out, size_t outlen)
{
	static const char key[] = "\"msg_type\"";
	const char *p = memmem(head, len, key, sizeof key - 1), *end = head + len;
	size_t n = 0;

	out[0] = '\0';
	if (!p)
		return;
	p += sizeof key - 1;
	while (p < end && (*p == ' ' || *p == ':'))
		p++;
	if (p >= end || *p++ != '"')
		return;
	while (p < end && n + 1 < outlen && (islower((unsigned char)*p) || *p == '_'))
		out[n++] = *p++;
	out[n] = '\0';
	if (p >= end || *p != '"')
		out[0] = '\0';
}

int recorder_format_oversize(const char *head, size_t head_len, size_t len, size_t limit,
			     const struct recorder_fmt *f, struct recorder_buf *out)
{
	char type[48], line[200];
	int n;

	peek_type(head, head_len, type, sizeof type);
	if (type[0] && !recordable(type))
		return 0;
	if (f->own_session && *f->own_session &&
	    memmem(head, head_len, f->own_session, strlen(f->own_session)))
		return 0;
	n = snprintf(line, sizeof line, "[a %s%smessage of %zu bytes was not recorded: over the "
		     "agent's %zu-byte message limit]", type, type[0] ? " " : "", len, limit);
	if (add_line(out, f, "", line, n > 0 && (size_t)n < sizeof line ? (size_t)n : 0) < 0)
		return -1;
	return 1;
}

/* ---- small pure helpers ---- */

int recorder_is_off(const char *v)
{
	static const char *const off[] = { "", "off", "no", "false", "none", "0" };

	if (!v)
		return 1;
	for (size_t i = 0; i < sizeof off / sizeof off[0]; i++)
		if (!strcasecmp(v, off[i]))
			return 1;
	return 0;
}

int recorder_parse_size(const char *s, long long *bytes, char *err, size_t errlen)
{
	const char *p = s;
	long long n = 0, mult = 1;

	while (isdigit((unsigned char)*p)) {
		if (n > (1LL << 40)) {
			snprintf(err, errlen, "size '%s' is too large", s);
			return -1;
		}
		n = n * 10 + (*p++ - '0');
	}
	if (p == s) {
		snprintf(err, errlen, "bad size '%s' (e.g. 64M, 500k, 1G)", s);
		return -1;
	}
	while (*p == ' ')
		p++;
	switch (toupper((unsigned char)*p)) {
	case 'K': mult = 1024LL; p++; break;
	case 'M': mult = 1024LL * 1024; p++; break;
	case 'G': mult = 1024LL * 1024 * 1024; p++; break;
	default: break;
	}
	if (mult > 1 && (*p == 'i' || *p == 'I'))
		p++;
	if (*p == 'b' || *p == 'B')
		p++;
	if (*p) {
		snprintf(err, errlen, "bad size '%s' (e.g. 64M, 500k, 1G)", s);
		return -1;
	}
	if (n * mult < RECORDER_MIN_MAX) {
		snprintf(err, errlen, "size '%s' is too small (at least %lld bytes)", s, RECORDER_MIN_MAX);
		return -1;
	}
	*bytes = n * mult;
	return 0;
}

char *recorder_default_path(const char *state_dir, const char *kernel_id)
{
	char *out = NULL;

	if (!state_dir || !kernel_id)
		return NULL;
	if (asprintf(&out, "%s/agent-kernel-%.8s-output.txt", state_dir, kernel_id) < 0)
		return NULL;
	return out;
}

int recorder_setup(struct agent_config *cfg, const char *state_dir, const char *kernel_id,
		   FILE *errf)
{
	char err[4200];
	int rc = 0;

	for (size_t i = 0; i < cfg->ntargets; i++) {
		struct target_config *tc = &cfg->targets[i];
		int dflt = 0;

		if (tc->kind != TARGET_JUPYTER)
			continue;
		if (!tc->record && tc->discovered && kernel_id && state_dir) {
			tc->record = recorder_default_path(state_dir, kernel_id);
			dflt = 1;
		}
		if (recorder_is_off(tc->record) || recorder_check_path(tc->record, err, sizeof err) == 0)
			continue;
		if (dflt) {
			fprintf(errf, "agent: warning: not recording output: %s\n", err);
			free(tc->record);
			tc->record = strdup("off");
		} else {
			fprintf(errf, "agent: record: %s\n", err);
			rc = -1;
		}
	}
	return rc;
}

/* ---- the file ---- */

struct recorder {
	struct recorder *next;		/* every open recorder, one per path */
	char *path;
	int fd;
	int refs;
	int multi;
	int failing;			/* the last write failed (logged once) */
	long long max, size;
	struct recorder_buf buf;	/* reused for every message */
	char *red;			/* redacted copy, reused */
	size_t red_cap;
};

static struct recorder *open_list;

static int open_file(const char *path)
{
	return open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC | O_NOCTTY, 0600);
}

int recorder_check_path(const char *path, char *err, size_t errlen)
{
	int fd = open_file(path);

	if (fd < 0) {
		snprintf(err, errlen, "cannot open %s for appending: %s", path, strerror(errno));
		return -1;
	}
	close(fd);
	return 0;
}

static int reopen(struct recorder *r)
{
	struct stat st;

	r->fd = open_file(r->path);
	if (r->fd < 0)
		return -1;
	r->size = fstat(r->fd, &st) == 0 ? (long long)st.st_size : 0;
	return 0;
}

/* Move FILE to FILE.1 and start an empty FILE. */
static void rotate(struct recorder *r)
{
	char old[4200];

	snprintf(old, sizeof old, "%s.1", r->path);
	if (rename(r->path, old) != 0) {
		/* Still bounded: start over in place. */
		log_warn(LOGT, "cannot rename %s to %s (%s); emptying it instead", r->path, old,
			 strerror(errno));
		if (ftruncate(r->fd, 0) == 0)
			r->size = 0;
		return;
	}
	close(r->fd);
	if (reopen(r) < 0)
		log_warn(LOGT, "cannot reopen %s after rotating it: %s", r->path, strerror(errno));
}

/* Redact, then append whole lines in one write(2). */
static void write_out(struct recorder *r, const char *text, size_t len)
{
	size_t cap = 2 * len + 64, n;
	ssize_t w;

	if (len == 0)
		return;
	if (cap > r->red_cap) {
		char *p = realloc(r->red, cap);

		if (!p)
			return;
		r->red = p;
		r->red_cap = cap;
	}
	log_redact(text, r->red, r->red_cap);
	n = strlen(r->red);
	if (r->fd >= 0 && r->size > 0 && r->size + (long long)n > r->max)
		rotate(r);
	if (r->fd < 0 && reopen(r) < 0) {
		if (!r->failing++)
			log_warn(LOGT, "cannot open %s: %s; output is not being recorded", r->path,
				 strerror(errno));
		return;
	}
	if ((long long)n > r->max) {
		/* One message larger than the whole file: keep the bound, and whole lines. */
		const char *nl = memrchr(r->red, '\n', (size_t)r->max);

		if (!nl)
			return;
		n = (size_t)(nl - r->red) + 1;
	}
	w = write(r->fd, r->red, n);
	if (w < 0) {
		if (!r->failing++)
			log_warn(LOGT, "cannot write to %s: %s; output is not being recorded",
				 r->path, strerror(errno));
		return;
	}
	if (r->failing) {
		log_info(LOGT, "recording to %s again", r->path);
		r->failing = 0;
	}
	r->size += w;
}

struct recorder *recorder_open(const char *path, long long max, int multi)
{
	struct recorder *r;
	char line[160], when[48];
	struct tm tm;
	time_t now = time(NULL);

	if (!path || recorder_is_off(path))
		return NULL;
	for (r = open_list; r; r = r->next) {
		if (!strcmp(r->path, path)) {
			r->refs++;
			r->multi = 1;	/* two users: lines must say which kernel */
			return r;
		}
	}
	r = calloc(1, sizeof *r);
	if (!r || !(r->path = strdup(path))) {
		free(r);
		return NULL;
	}
	r->refs = 1;
	r->multi = multi;
	r->max = max > 0 ? max : RECORDER_DEFAULT_MAX;
	if (reopen(r) < 0) {
		log_warn(LOGT, "cannot open %s: %s; output is not being recorded", r->path,
			 strerror(errno));
		free(r->path);
		free(r);
		return NULL;
	}
	r->next = open_list;
	open_list = r;
	if (!gmtime_r(&now, &tm) || !strftime(when, sizeof when, "%Y-%m-%d %H:%M:%S UTC", &tm))
		snprintf(when, sizeof when, "?");
	snprintf(line, sizeof line, "### agent (pid %d) started recording at %s\n", (int)getpid(),
		 when);
	write_out(r, line, strlen(line));
	return r;
}

void recorder_close(struct recorder *r)
{
	struct recorder **pp;

	if (!r || --r->refs > 0)
		return;
	for (pp = &open_list; *pp; pp = &(*pp)->next) {
		if (*pp == r) {
			*pp = r->next;
			break;
		}
	}
	if (r->fd >= 0)
		close(r->fd);
	recorder_buf_free(&r->buf);
	free(r->red);
	free(r->path);
	free(r);
}

const char *recorder_path(const struct recorder *r)
{
	return r ? r->path : NULL;
}

void recorder_message(struct recorder *r, const char *kernel_id, const struct jmsg_info *m,
		      const char *own_session, const char *own_username)
{
	struct recorder_fmt f;

	/* Cheap checks first: a flood of status messages never reaches the formatter. */
	if (!r || !m || !m->root || !recordable(m->msg_type))
		return;
	f.kernel_id = kernel_id;
	f.prefix = r->multi;
	f.own_session = own_session;
	f.own_username = own_username;
	f.now = time(NULL);
	recorder_buf_reset(&r->buf);
	if (recorder_format(m->root, &f, &r->buf) > 0)
		write_out(r, r->buf.s, r->buf.len);
}

void recorder_oversize(struct recorder *r, const char *kernel_id, size_t len, size_t limit,
		       const char *head, size_t head_len, const char *own_session)
{
	struct recorder_fmt f = { kernel_id, 0, own_session, NULL, 0 };

	if (!r)
		return;
	f.prefix = r->multi;
	recorder_buf_reset(&r->buf);
	if (recorder_format_oversize(head, head_len, len, limit, &f, &r->buf) > 0)
		write_out(r, r->buf.s, r->buf.len);
}
