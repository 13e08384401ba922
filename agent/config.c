/*
 * config: the INI schema and its validation (see config.h).
 *
 * inih does the tokenising, but the distro builds of it (meson's
 * distro_install ignores every build option: inih README, r53-r59)
 * cannot report line numbers, silently split lines longer than 199 bytes (inih #145, fixed in r59), and
 * treat an indented line as a continuation of the previous value. So we feed
 * it through our own reader: the reader counts physical lines, refuses long
 * ones, and classifies every line the same way inih will, so the handler knows
 * the exact line, whether it is a continuation, and which section it is in
 * (inih does not tell us about sections that have no keys).
 *
 * The handler looks each key up in a schema table and calls its setter;
 * checks that need a whole section (url vs ping_url, token vs token_file)
 * run after parsing. Every problem becomes a "FILE:LINE: message" and
 * parsing goes on.
 */
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <ini.h>
#include <limits.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include "config.h"
#include "file.h"
#include "recorder.h"

#define MAX_LINE_CHARS	190	/* inih's buffer is 200 bytes; keep clear of it */
#define MAX_SECTION	49	/* inih truncates section names beyond this */
#define MAX_TOKEN_FILE	16384
#define DEFAULT_INTERVAL_MS	60000L
#define DEFAULT_JITTER_PCT	10
#define DEFAULT_TIMEOUT_MS	30000L
#define DEFAULT_MAX_4XX		2
#define DEFAULT_DETACHED_FOR_MS	(24L * 3600 * 1000)	/* unwatched in the background */

/* ---------------------------------------------------------------- messages */

static char *vformat(const char *fmt, va_list ap) __attribute__((format(printf, 1, 0)));
static char *vformat(const char *fmt, va_list ap)
{
	char *s;

	if (vasprintf(&s, fmt, ap) < 0)
		return NULL;
	return s;
}

static void push(char ***v, size_t *n, char *msg)
{
	char **nv;

	if (!msg)
		return;
	nv = realloc(*v, (*n + 1) * sizeof(*nv));
	if (!nv) {
		free(msg);
		return;
	}
	nv[(*n)++] = msg;
	*v = nv;
}

void config_add_error(struct config_errors *errs, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	push(&errs->msg, &errs->n, vformat(fmt, ap));
	va_end(ap);
}

/* ---------------------------------------------------------------- defaults */

/* Every default is set here: [agent]'s, a target's, and a detached agent's cap. */

void config_init(struct agent_config *cfg)
{
	memset(cfg, 0, sizeof(*cfg));
	cfg->interval_ms = DEFAULT_INTERVAL_MS;
	cfg->jitter_pct = DEFAULT_JITTER_PCT;
	cfg->timeout_ms = DEFAULT_TIMEOUT_MS;
	cfg->for_ms = -1;
	cfg->notify_format = NOTIFY_TEXT;
}

static void target_config_free(struct target_config *t);

static void target_defaults(struct target_config *t)
{
	memset(t, 0, sizeof(*t));
	t->kind = TARGET_JUPYTER;
	t->mode = MODE_BOTH;
	t->kernel = KSEL_AUTO;
	t->hub_activity = HUB_AUTO;
	t->max_4xx = DEFAULT_MAX_4XX;
	t->jitter_pct = -1;	/* interval_ms, timeout_ms 0 and jitter -1: "use [agent]'s" */
}

void config_detached_defaults(struct agent_config *cfg)
{
	if (cfg->for_ms < 0)
		cfg->for_ms = DEFAULT_DETACHED_FOR_MS;
}

/* ------------------------------------------------------------------ schema */

enum { S_AGENT = 1, S_TARGET = 2 };

enum {
	K_REPEAT = 1,		/* may appear on many lines (header lists) */
	K_JUPYTER = 2,		/* only for url = targets */
	K_PING = 4,		/* only for ping_url = targets */
	K_CTRL_OK = 8,		/* may contain control characters (from ${VAR}) */
	K_FILE = 16,		/* only in a file: its setter needs the loader */
};

struct loader;
struct key;

/* Store value v (already ${VAR}-expanded) into obj; on failure write a reason to err. */
typedef int (*setter_fn)(struct loader *ld, const struct key *k, void *obj, const char *v,
			 char *err, size_t errlen);

struct key {
	int sect;
	const char *name;
	int flags;
	setter_fn set;
	size_t off;		/* field in struct agent_config or struct target_config */
};

static int set_interval(struct loader *, const struct key *, void *, const char *, char *, size_t);
static int set_timeout(struct loader *, const struct key *, void *, const char *, char *, size_t);
static int set_for(struct loader *, const struct key *, void *, const char *, char *, size_t);
static int set_percent(struct loader *, const struct key *, void *, const char *, char *, size_t);
static int set_pid(struct loader *, const struct key *, void *, const char *, char *, size_t);
static int set_fresh(struct loader *, const struct key *, void *, const char *, char *, size_t);
static int set_http_url(struct loader *, const struct key *, void *, const char *, char *, size_t);
static int set_hub_url(struct loader *, const struct key *, void *, const char *, char *, size_t);
static int set_header(struct loader *, const struct key *, void *, const char *, char *, size_t);
static int set_notify_format(struct loader *, const struct key *, void *, const char *, char *, size_t);
static int set_base_url(struct loader *, const struct key *, void *, const char *, char *, size_t);
static int set_token(struct loader *, const struct key *, void *, const char *, char *, size_t);
static int set_token_file(struct loader *, const struct key *, void *, const char *, char *, size_t);
static int set_kernel(struct loader *, const struct key *, void *, const char *, char *, size_t);
static int set_mode(struct loader *, const struct key *, void *, const char *, char *, size_t);
static int set_string(struct loader *, const struct key *, void *, const char *, char *, size_t);
static int set_ca_file(struct loader *, const struct key *, void *, const char *, char *, size_t);
static int set_bool(struct loader *, const struct key *, void *, const char *, char *, size_t);
static int set_hub_activity(struct loader *, const struct key *, void *, const char *, char *, size_t);
static int set_method(struct loader *, const struct key *, void *, const char *, char *, size_t);
static int set_max_4xx(struct loader *, const struct key *, void *, const char *, char *, size_t);
static int set_record(struct loader *, const struct key *, void *, const char *, char *, size_t);
static int set_record_max(struct loader *, const struct key *, void *, const char *, char *, size_t);

#define A(f) offsetof(struct agent_config, f)
#define T(f) offsetof(struct target_config, f)

static const struct key keys[] = {
	{ S_AGENT, "interval", 0, set_interval, A(interval_ms) },
	{ S_AGENT, "jitter", 0, set_percent, A(jitter_pct) },
	{ S_AGENT, "timeout", 0, set_timeout, A(timeout_ms) },
	{ S_AGENT, "for", 0, set_for, A(for_ms) },
	{ S_AGENT, "while_pid", 0, set_pid, A(while_pid) },
	{ S_AGENT, "while_fresh", 0, set_fresh, 0 },
	{ S_AGENT, "linger", 0, set_for, A(linger_ms) },
	{ S_AGENT, "notify_url", 0, set_http_url, A(notify_url) },
	{ S_AGENT, "notify_header", K_REPEAT, set_header, A(notify_headers) },
	{ S_AGENT, "notify_format", 0, set_notify_format, A(notify_format) },
	{ S_AGENT, "record", 0, set_record, A(record) },
	{ S_AGENT, "record_max", 0, set_record_max, A(record_max) },

	{ S_TARGET, "url", K_FILE, set_base_url, T(url) },
	{ S_TARGET, "token", K_JUPYTER | K_FILE, set_token, T(token) },
	{ S_TARGET, "token_file", K_JUPYTER | K_FILE, set_token_file, T(token) },
	{ S_TARGET, "kernel", K_JUPYTER, set_kernel, 0 },
	{ S_TARGET, "mode", K_JUPYTER, set_mode, T(mode) },
	{ S_TARGET, "code", K_JUPYTER | K_CTRL_OK, set_string, T(code) },
	{ S_TARGET, "interval", 0, set_interval, T(interval_ms) },
	{ S_TARGET, "jitter", 0, set_percent, T(jitter_pct) },
	{ S_TARGET, "timeout", 0, set_timeout, T(timeout_ms) },
	{ S_TARGET, "ca_file", 0, set_ca_file, T(ca_file) },
	{ S_TARGET, "insecure_skip_verify", 0, set_bool, T(insecure) },
	{ S_TARGET, "hub_api_url", K_JUPYTER, set_hub_url, T(hub_api_url) },
	{ S_TARGET, "hub_activity", K_JUPYTER, set_hub_activity, T(hub_activity) },
	{ S_TARGET, "record", K_JUPYTER, set_record, T(record) },
	{ S_TARGET, "record_max", K_JUPYTER, set_record_max, T(record_max) },
	{ S_TARGET, "ping_url", 0, set_http_url, T(ping_url) },
	{ S_TARGET, "method", K_PING, set_method, T(method) },
	{ S_TARGET, "body", K_PING | K_CTRL_OK, set_string, T(body) },
	{ S_TARGET, "header", K_PING | K_REPEAT, set_header, T(headers) },
	{ S_TARGET, "max_4xx", K_PING, set_max_4xx, T(max_4xx) },
};

#undef A
#undef T

#define NKEYS (sizeof(keys) / sizeof(keys[0]))

static const struct key *find_key(int sect, const char *name)
{
	for (size_t i = 0; i < NKEYS; i++)
		if ((keys[i].sect & sect) && strcmp(keys[i].name, name) == 0)
			return &keys[i];
	return NULL;
}

static size_t key_index(const char *name, int sect)
{
	const struct key *k = find_key(sect, name);

	return k ? (size_t)(k - keys) : 0;
}

const char *const *config_known_keys(void)
{
	static const char *list[NKEYS + 1];

	if (!list[0]) {
		size_t n = 0;

		for (size_t i = 0; i < NKEYS; i++) {
			size_t j;

			for (j = 0; j < n && strcmp(list[j], keys[i].name) != 0; j++)
				;
			if (j == n)
				list[n++] = keys[i].name;
		}
		list[n] = NULL;
	}
	return list;
}

const char *config_suggest_key(const char *section_kind, const char *name)
{
	int sect = !section_kind ? S_AGENT | S_TARGET :
		   strcmp(section_kind, "agent") == 0 ? S_AGENT : S_TARGET;
	const char *names[NKEYS], *best;
	size_t n = 0, nlen;

	if (!name || !*name)
		return NULL;
	for (size_t i = 0; i < NKEYS; i++)
		if (keys[i].sect & sect)
			names[n++] = keys[i].name;
	if ((best = config_closest(name, names, n)))
		return best;
	/* "insecure" for "insecure_skip_verify": a prefix is a good hint too */
	nlen = strlen(name);
	for (size_t i = 0; nlen >= 4 && i < n; i++)
		if (strncasecmp(names[i], name, nlen) == 0)
			return names[i];
	return NULL;
}

/* ------------------------------------------------------------------ loader */

enum line_kind { LK_BLANK, LK_SECTION, LK_KEY, LK_CONT, LK_BAD };
enum sect_state { SECT_NONE, SECT_BAD, SECT_AGENT, SECT_TARGET };

/* What the loader knows about one target that the public struct does not keep. */
struct target_state {
	int set_line[NKEYS];	/* line where each key was first set, 0 = not set */
	char *url_token;	/* "?token=" found in url = */
};

struct loader {
	const char *name;		/* file name for messages */
	char *dir;			/* absolute directory for relative paths, or NULL */
	struct agent_config *cfg;
	struct config_errors *errs;
	int nerr;			/* errors added by this load */

	/* line source: a FILE or a string */
	FILE *f;
	const char *s;
	char *line;
	size_t cap;

	int lineno;
	enum line_kind kind;		/* of the current line */
	char prev_name[MAX_SECTION + 1];	/* mirror of inih's multi-line state */
	int first_syntax_line;

	/* current section */
	enum sect_state sect;
	char sect_name[256];
	size_t tidx;			/* cfg->targets index when SECT_TARGET */
	int agent_line;			/* first [agent] header, 0 = none yet */
	int agent_set[NKEYS];

	size_t tbase;			/* cfg->ntargets before this load */
	struct target_state *ts;	/* one per target added by this load */

	mode_t file_mode;		/* 0 when not from a file */
	int perm_warned;
	const char *raw;		/* the current value before ${VAR} expansion */
};

static void lmsg(struct loader *ld, int warn, int line, const char *fmt, va_list ap)
	__attribute__((format(printf, 4, 0)));
static void lmsg(struct loader *ld, int warn, int line, const char *fmt, va_list ap)
{
	char *body = vformat(fmt, ap), *msg = NULL;

	if (body && asprintf(&msg, "%s:%d: %s", ld->name, line, body) < 0)
		msg = NULL;
	free(body);
	if (warn) {
		push(&ld->errs->warn, &ld->errs->nwarn, msg);
	} else {
		push(&ld->errs->msg, &ld->errs->n, msg);
		ld->nerr++;	/* counted even if the message could not be stored */
	}
}

static void lerr(struct loader *ld, int line, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static void lerr(struct loader *ld, int line, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	lmsg(ld, 0, line, fmt, ap);
	va_end(ap);
}

static void lwarn(struct loader *ld, int line, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static void lwarn(struct loader *ld, int line, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	lmsg(ld, 1, line, fmt, ap);
	va_end(ap);
}

static struct target_config *cur_target(struct loader *ld)
{
	return &ld->cfg->targets[ld->tidx];
}

static struct target_state *cur_state(struct loader *ld)
{
	return &ld->ts[ld->tidx - ld->tbase];
}

/* Append a target named name; returns its index or -1. */
static long add_target(struct agent_config *cfg, const char *name, int line)
{
	struct target_config *nt = realloc(cfg->targets, (cfg->ntargets + 1) * sizeof(*nt));
	struct target_config *t;

	if (!nt)
		return -1;
	cfg->targets = nt;
	t = &nt[cfg->ntargets];
	target_defaults(t);
	t->line = line;
	if (!(t->name = strdup(name)))
		return -1;
	return (long)cfg->ntargets++;
}

static void begin_section(struct loader *ld, const char *name, size_t len)
{
	struct target_state *nts;
	long idx;

	while (len && isspace((unsigned char)*name))
		name++, len--;
	while (len && isspace((unsigned char)name[len - 1]))
		len--;
	ld->sect = SECT_BAD;	/* keys under a broken header are ignored, not misfiled */
	snprintf(ld->sect_name, sizeof(ld->sect_name), "%.*s", (int)len, name);
	if (len == 0) {
		lerr(ld, ld->lineno, "empty section name '[]'");
		return;
	}
	if (len > MAX_SECTION) {
		lerr(ld, ld->lineno, "section name longer than %d characters", MAX_SECTION);
		return;
	}
	if (strcmp(ld->sect_name, "agent") == 0) {
		if (ld->agent_line)
			lerr(ld, ld->lineno, "duplicate section [agent] (first on line %d)", ld->agent_line);
		else
			ld->agent_line = ld->lineno;
		ld->sect = SECT_AGENT;
		return;
	}
	if (strcasecmp(ld->sect_name, "agent") == 0) {
		lerr(ld, ld->lineno, "[%s] section names are case-sensitive; did you mean [agent]?",
		     ld->sect_name);
		return;
	}
	for (size_t i = ld->tbase; i < ld->cfg->ntargets; i++) {
		if (strcmp(ld->cfg->targets[i].name, ld->sect_name) == 0) {
			lerr(ld, ld->lineno, "duplicate section [%s] (first on line %d)",
			     ld->sect_name, ld->cfg->targets[i].line);
			break;
		}
	}
	nts = realloc(ld->ts, (ld->cfg->ntargets - ld->tbase + 1) * sizeof(*nts));
	if (!nts) {
		lerr(ld, ld->lineno, "out of memory");
		return;
	}
	ld->ts = nts;
	memset(&nts[ld->cfg->ntargets - ld->tbase], 0, sizeof(*nts));
	idx = add_target(ld->cfg, ld->sect_name, ld->lineno);
	if (idx < 0) {
		lerr(ld, ld->lineno, "out of memory");
		return;
	}
	ld->tidx = (size_t)idx;
	ld->sect = SECT_TARGET;
}

/* inih's inline-comment rule: ';' only after whitespace. Same as its find_chars_or_comment(). */
static const char *find_chars_or_comment(const char *s, const char *chars)
{
	int was_space = 0;

	while (*s && (!chars || !strchr(chars, *s)) && !(was_space && *s == ';')) {
		was_space = isspace((unsigned char)*s);
		s++;
	}
	return s;
}

/*
 * Decide what inih will make of this line, in inih's own order (ini.c,
 * ini_parse_stream): comment/blank, continuation, section, name=value.
 */
static void classify(struct loader *ld, const char *line)
{
	const char *s = line, *e;
	size_t n;

	while (*s && isspace((unsigned char)*s))
		s++;
	if (!*s || *s == ';' || *s == '#') {
		ld->kind = LK_BLANK;
	} else if (ld->prev_name[0] && s > line) {
		ld->kind = LK_CONT;
	} else if (*s == '[') {
		e = find_chars_or_comment(s + 1, "]");
		if (*e != ']') {
			ld->kind = LK_BAD;
			lerr(ld, ld->lineno, "syntax error (section header without closing ']')");
			ld->sect = SECT_BAD;
		} else {
			ld->kind = LK_SECTION;
			ld->prev_name[0] = '\0';
			begin_section(ld, s + 1, (size_t)(e - s - 1));
		}
	} else {
		e = find_chars_or_comment(s, "=:");
		if (*e != '=' && *e != ':') {
			ld->kind = LK_BAD;
			lerr(ld, ld->lineno, "syntax error (expected [section] or key = value)");
		} else {
			ld->kind = LK_KEY;
			while (e > s && isspace((unsigned char)e[-1]))
				e--;
			n = (size_t)(e - s);
			if (n > MAX_SECTION)
				n = MAX_SECTION;
			memcpy(ld->prev_name, s, n);
			ld->prev_name[n] = '\0';
		}
	}
	if (ld->kind == LK_BAD && !ld->first_syntax_line)
		ld->first_syntax_line = ld->lineno;
}

static int next_line(struct loader *ld, const char **line, size_t *len)
{
	if (ld->f) {
		ssize_t n = getline(&ld->line, &ld->cap, ld->f);

		if (n < 0)
			return -1;
		*line = ld->line;
		*len = (size_t)n;
	} else {
		const char *nl;

		if (!ld->s || !*ld->s)
			return -1;
		nl = strchr(ld->s, '\n');
		*line = ld->s;
		*len = nl ? (size_t)(nl - ld->s + 1) : strlen(ld->s);
		ld->s += *len;
	}
	return 0;
}

/* The ini_reader: one physical line per call, so inih's line count is ours. */
static char *reader(char *str, int num, void *stream)
{
	struct loader *ld = stream;
	const char *p;
	size_t len;

	if (next_line(ld, &p, &len) < 0)
		return NULL;
	ld->lineno++;
	ld->kind = LK_BLANK;
	if (len && p[len - 1] == '\n')
		len--;
	if (len && p[len - 1] == '\r')
		len--;
	if (ld->lineno == 1 && len >= 3 && memcmp(p, "\xEF\xBB\xBF", 3) == 0)
		p += 3, len -= 3;

	if (memchr(p, '\0', len)) {
		lerr(ld, ld->lineno, "NUL byte in line");
	} else if (len > MAX_LINE_CHARS || len + 2 > (size_t)num) {
		lerr(ld, ld->lineno, "line too long (max %d characters; use token_file = for long secrets)",
		     MAX_LINE_CHARS);
	} else {
		memcpy(str, p, len);
		str[len] = '\n';
		str[len + 1] = '\0';
		classify(ld, str);
		return str;
	}
	/* hand inih an empty line so it neither splits nor miscounts */
	strcpy(str, "\n");
	return str;
}

/* The value has literal characters besides ${VAR} references, i.e. a secret in the file itself. */
static int has_literal(const char *raw)
{
	for (const char *p = raw; *p; p++) {
		if (p[0] == '$' && p[1] == '{') {
			const char *e = strchr(p, '}');

			if (!e)
				return 1;
			p = e;
		} else if (!isspace((unsigned char)*p)) {
			return 1;
		}
	}
	return 0;
}

static void warn_secret_in_file(struct loader *ld, const char *key)
{
	if ((ld->file_mode & 077) && !ld->perm_warned) {
		lwarn(ld, ld->lineno, "[%s] %s: %s holds a secret and is readable by group/others; "
		      "run chmod 600 %s (or use ${VAR} or token_file =)", ld->sect_name, key, ld->name, ld->name);
		ld->perm_warned = 1;
	}
}

static int handler(void *user, const char *section, const char *name, const char *value)
{
	struct loader *ld = user;
	const struct key *k;
	const char *sname = ld->sect == SECT_AGENT ? "agent" : "target";
	int sect = ld->sect == SECT_AGENT ? S_AGENT : S_TARGET;
	int *set_line;
	void *obj;
	char err[512], *v;

	(void)section;	/* ours: inih truncates it and says nothing about empty sections */
	if (ld->kind == LK_CONT) {
		lerr(ld, ld->lineno, "%s%s%sindented line continues '%s' (multi-line values are not "
		     "supported; remove the leading whitespace)", ld->sect_name[0] ? "[" : "",
		     ld->sect_name, ld->sect_name[0] ? "] " : "", name);
		return 1;
	}
	if (ld->sect == SECT_BAD)
		return 1;
	if (ld->sect == SECT_NONE) {
		lerr(ld, ld->lineno, "'%s' is outside any section (put [agent] or a [name] target header above it)",
		     name);
		return 1;
	}
	k = find_key(sect, name);
	if (!k) {
		const char *hint = config_suggest_key(sname, name);

		if (find_key(S_AGENT | S_TARGET, name))
			lerr(ld, ld->lineno, "[%s] %s: only valid in %s", ld->sect_name, name,
			     sect == S_AGENT ? "a target section" : "[agent]");
		else if (hint)
			lerr(ld, ld->lineno, "[%s] unknown key '%s' (did you mean '%s'?)", ld->sect_name, name, hint);
		else
			lerr(ld, ld->lineno, "[%s] unknown key '%s'", ld->sect_name, name);
		return 1;
	}
	set_line = ld->sect == SECT_AGENT ? ld->agent_set : cur_state(ld)->set_line;
	if (set_line[k - keys] && !(k->flags & K_REPEAT)) {
		lerr(ld, ld->lineno, "[%s] duplicate key '%s' (first set on line %d)", ld->sect_name, name,
		     set_line[k - keys]);
		return 1;
	}
	if (!set_line[k - keys])
		set_line[k - keys] = ld->lineno;

	if (value[0] == '#' || strstr(value, " #") || strstr(value, "\t#"))
		lwarn(ld, ld->lineno, "[%s] %s: '#' is part of the value here, not a comment "
		      "(only ';' after whitespace starts an inline comment)", ld->sect_name, name);

	if (!(v = config_expand(value, err, sizeof(err)))) {
		lerr(ld, ld->lineno, "[%s] %s: %s", ld->sect_name, name, err);
		return 1;
	}
	if (!(k->flags & K_CTRL_OK) && config_has_ctrl(v)) {
		lerr(ld, ld->lineno, "[%s] %s: value contains control characters", ld->sect_name, name);
		free(v);
		return 1;
	}
	obj = ld->sect == SECT_AGENT ? (void *)ld->cfg : (void *)cur_target(ld);
	ld->raw = value;
	err[0] = '\0';
	if (k->set(ld, k, obj, v, err, sizeof(err)) < 0)
		lerr(ld, ld->lineno, "[%s] %s: %s", ld->sect_name, name, err);
	ld->raw = NULL;
	free(v);
	return 1;
}

/* ----------------------------------------------------------------- setters */

#define FIELD(obj, k, type) ((type *)(void *)((char *)(obj) + (k)->off))

static int replace_str(char **field, const char *v, char *err, size_t errlen)
{
	char *s = strdup(v);

	if (!s) {
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	free(*field);
	*field = s;
	return 0;
}

static int set_interval(struct loader *ld, const struct key *k, void *obj, const char *v,
			char *err, size_t errlen)
{
	long ms;

	(void)ld;
	if (config_parse_duration(v, &ms, err, errlen) < 0)
		return -1;
	if (ms < 1000) {
		snprintf(err, errlen, "interval must be at least 1s");
		return -1;
	}
	*FIELD(obj, k, long) = ms;
	return 0;
}

static int set_timeout(struct loader *ld, const struct key *k, void *obj, const char *v,
		       char *err, size_t errlen)
{
	long ms;

	(void)ld;
	if (config_parse_duration(v, &ms, err, errlen) < 0)
		return -1;
	if (ms < 100) {
		snprintf(err, errlen, "timeout must be at least 100ms");
		return -1;
	}
	*FIELD(obj, k, long) = ms;
	return 0;
}

/* Any duration, 0 included: for, linger. */
static int set_for(struct loader *ld, const struct key *k, void *obj, const char *v,
		   char *err, size_t errlen)
{
	(void)ld;
	return config_parse_duration(v, FIELD(obj, k, long), err, errlen);
}

static int set_percent(struct loader *ld, const struct key *k, void *obj, const char *v,
		       char *err, size_t errlen)
{
	(void)ld;
	return config_parse_percent(v, FIELD(obj, k, int), err, errlen);
}

static int set_pid(struct loader *ld, const struct key *k, void *obj, const char *v,
		   char *err, size_t errlen)
{
	long n = 0;
	const char *p = v;

	(void)ld;
	while (isdigit((unsigned char)*p) && n <= INT_MAX)
		n = n * 10 + (*p++ - '0');
	if (p == v || *p || n < 1 || n > INT_MAX) {
		snprintf(err, errlen, "bad pid '%s' (a positive process id)", v);
		return -1;
	}
	*FIELD(obj, k, pid_t) = (pid_t)n;
	return 0;
}

/* "~/x" -> "$HOME/x"; a relative path is taken from the config file's directory. */
static char *resolve_path(struct loader *ld, const char *v, char *err, size_t errlen)
{
	char *out = NULL;
	int r = 0;

	if (!*v) {
		snprintf(err, errlen, "empty path");
		return NULL;
	}
	if (v[0] == '~' && (v[1] == '/' || v[1] == '\0')) {
		const char *home = getenv("HOME");

		if (!home || !*home) {
			snprintf(err, errlen, "HOME is not set (needed for '~')");
			return NULL;
		}
		r = asprintf(&out, "%s%s", home, v + 1);
	} else if (v[0] != '/' && ld && ld->dir) {
		r = asprintf(&out, "%s/%s", ld->dir, v);
	} else {
		out = strdup(v);
	}
	if (r < 0 || !out) {
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	return out;
}

static int set_fresh(struct loader *ld, const struct key *k, void *obj, const char *v,
		     char *err, size_t errlen)
{
	struct agent_config *cfg = obj;
	const char *colon = strrchr(v, ':');	/* the last ':' — paths may contain one */
	char *file, *path;
	long ms;

	(void)k;
	if (!colon || colon == v || !colon[1]) {
		snprintf(err, errlen, "expected FILE:DURATION, e.g. /tmp/heartbeat:10m");
		return -1;
	}
	if (config_parse_duration(colon + 1, &ms, err, errlen) < 0)
		return -1;
	if (ms < 1000) {
		snprintf(err, errlen, "duration must be at least 1s");
		return -1;
	}
	if (!(file = strndup(v, (size_t)(colon - v)))) {
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	path = resolve_path(ld, file, err, errlen);
	free(file);
	if (!path)
		return -1;
	free(cfg->while_fresh_path);
	cfg->while_fresh_path = path;
	cfg->while_fresh_ms = ms;
	return 0;
}

static int set_http_url(struct loader *ld, const struct key *k, void *obj, const char *v,
			char *err, size_t errlen)
{
	(void)ld;
	if (config_check_http_url(v, err, errlen) < 0)
		return -1;
	return replace_str(FIELD(obj, k, char *), v, err, errlen);
}

/* Kept without trailing '/', so callers append "/users/…". */
static int set_hub_url(struct loader *ld, const struct key *k, void *obj, const char *v,
		       char *err, size_t errlen)
{
	char **field = FIELD(obj, k, char *);
	size_t n;

	if (set_http_url(ld, k, obj, v, err, errlen) < 0)
		return -1;
	n = strlen(*field);
	while (n > 0 && (*field)[n - 1] == '/')
		(*field)[--n] = '\0';
	return 0;
}

/* "Name: value" with an RFC 9110 token as name; stored as "Name: value". */
static int add_header(struct header_list *h, const char *v, char *err, size_t errlen)
{
	static const char tchar[] = "!#$%&'*+-.^_`|~";
	const char *p = v, *val;
	char **nv, *line;

	while (*p && (isalnum((unsigned char)*p) || strchr(tchar, *p)))
		p++;
	if (p == v || *p != ':') {
		snprintf(err, errlen, "expected 'Name: value'");
		return -1;
	}
	val = p + 1;
	while (*val == ' ' || *val == '\t')
		val++;
	if (config_has_ctrl(val)) {
		snprintf(err, errlen, "header value contains control characters");
		return -1;
	}
	if (asprintf(&line, "%.*s: %s", (int)(p - v), v, val) < 0)
		goto oom;
	nv = realloc(h->v, (h->n + 1) * sizeof(*nv));
	if (!nv) {
		free(line);
		goto oom;
	}
	nv[h->n++] = line;
	h->v = nv;
	return 0;
oom:
	snprintf(err, errlen, "out of memory");
	return -1;
}

static int set_header(struct loader *ld, const struct key *k, void *obj, const char *v,
		      char *err, size_t errlen)
{
	(void)ld;
	return add_header(FIELD(obj, k, struct header_list), v, err, errlen);
}

static int set_notify_format(struct loader *ld, const struct key *k, void *obj, const char *v,
			     char *err, size_t errlen)
{
	enum notify_format *f = FIELD(obj, k, enum notify_format);

	(void)ld;
	if (strcmp(v, "text") == 0) {
		*f = NOTIFY_TEXT;
	} else if (strcmp(v, "json") == 0) {
		*f = NOTIFY_JSON;
	} else {
		snprintf(err, errlen, "bad format '%s' (use text or json)", v);
		return -1;
	}
	return 0;
}

static int set_base_url(struct loader *ld, const struct key *k, void *obj, const char *v,
			char *err, size_t errlen)
{
	struct target_state *ts = cur_state(ld);
	char *url, *tok;
	int trimmed;

	if (config_parse_base_url(v, &url, &tok, &trimmed, err, errlen) < 0)
		return -1;
	cur_target(ld)->url_trimmed = trimmed;
	free(*FIELD(obj, k, char *));
	*FIELD(obj, k, char *) = url;
	free(ts->url_token);
	ts->url_token = tok;
	if (tok && ld->raw && strstr(ld->raw, "token=") && !strstr(ld->raw, "token=${"))
		warn_secret_in_file(ld, k->name);
	return 0;
}

/* "token =" with an empty value means "no authentication", even if JUPYTER_TOKEN is set. */
static int set_token(struct loader *ld, const struct key *k, void *obj, const char *v,
		     char *err, size_t errlen)
{
	if (ld->raw && has_literal(ld->raw))
		warn_secret_in_file(ld, k->name);
	return replace_str(FIELD(obj, k, char *), v, err, errlen);
}

static int set_token_file(struct loader *ld, const struct key *k, void *obj, const char *v,
			  char *err, size_t errlen)
{
	char *path, *tok = NULL;
	struct stat st;
	size_t len = 0;
	int fd = -1, rc = -1;

	if (!(path = resolve_path(ld, v, err, errlen)))
		return -1;
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0 || fstat(fd, &st) < 0) {
		snprintf(err, errlen, "cannot read %s: %s", path, strerror(errno));
		goto out;
	}
	if (!S_ISREG(st.st_mode)) {
		snprintf(err, errlen, "%s is not a regular file", path);
		goto out;
	}
	if (!(tok = file_read_fd(fd, MAX_TOKEN_FILE, &len))) {
		if (errno == EFBIG)
			snprintf(err, errlen, "%s is larger than %d bytes", path, MAX_TOKEN_FILE);
		else
			snprintf(err, errlen, "cannot read %s: %s", path, strerror(errno));
		goto out;
	}
	while (len > 0 && isspace((unsigned char)tok[len - 1]))
		tok[--len] = '\0';
	if (len == 0) {
		snprintf(err, errlen, "%s is empty", path);
		goto out;
	}
	if (strlen(tok) != len || config_has_ctrl(tok)) {
		snprintf(err, errlen, "%s must hold the token on one line", path);
		goto out;
	}
	if (st.st_mode & 077)
		lwarn(ld, ld->lineno, "[%s] %s: %s is readable by group/others; run chmod 600 %s",
		      ld->sect_name, k->name, path, path);
	free(*FIELD(obj, k, char *));
	*FIELD(obj, k, char *) = tok;
	tok = NULL;
	rc = 0;
out:
	if (fd >= 0)
		close(fd);
	free(tok);
	free(path);
	return rc;
}

static int set_kernel(struct loader *ld, const struct key *k, void *obj, const char *v,
		      char *err, size_t errlen)
{
	struct target_config *t = obj;
	enum kernel_select sel;
	char *arg;

	(void)ld;
	(void)k;
	if (config_parse_kernel(v, &sel, &arg, err, errlen) < 0)
		return -1;
	free(t->kernel_arg);
	t->kernel_arg = arg;
	t->kernel = sel;
	return 0;
}

static int set_mode(struct loader *ld, const struct key *k, void *obj, const char *v,
		    char *err, size_t errlen)
{
	(void)ld;
	if (config_parse_mode(v, FIELD(obj, k, enum config_mode)) < 0) {
		snprintf(err, errlen, "bad mode '%s' (use execute, http or both)", v);
		return -1;
	}
	return 0;
}

static int set_string(struct loader *ld, const struct key *k, void *obj, const char *v,
		      char *err, size_t errlen)
{
	(void)ld;
	return replace_str(FIELD(obj, k, char *), v, err, errlen);
}

static int set_ca_file(struct loader *ld, const struct key *k, void *obj, const char *v,
		       char *err, size_t errlen)
{
	char *path = resolve_path(ld, v, err, errlen);
	struct stat st;
	int fd;

	if (!path)
		return -1;
	if ((fd = open(path, O_RDONLY | O_CLOEXEC)) < 0 || fstat(fd, &st) < 0) {
		snprintf(err, errlen, "cannot read %s: %s", path, strerror(errno));
		goto fail;
	}
	close(fd);
	if (!S_ISREG(st.st_mode)) {
		snprintf(err, errlen, "%s is not a regular file (a PEM bundle)", path);
		goto fail;
	}
	free(*FIELD(obj, k, char *));
	*FIELD(obj, k, char *) = path;
	return 0;
fail:
	if (fd >= 0)
		close(fd);
	free(path);
	return -1;
}

static int set_bool(struct loader *ld, const struct key *k, void *obj, const char *v,
		    char *err, size_t errlen)
{
	static const char *const yes[] = { "true", "yes", "on", "1" };
	static const char *const no[] = { "false", "no", "off", "0" };

	(void)ld;
	for (size_t i = 0; i < 4; i++) {
		if (strcasecmp(v, yes[i]) == 0) {
			*FIELD(obj, k, int) = 1;
			return 0;
		}
		if (strcasecmp(v, no[i]) == 0) {
			*FIELD(obj, k, int) = 0;
			return 0;
		}
	}
	snprintf(err, errlen, "bad boolean '%s' (use true or false)", v);
	return -1;
}

static int set_hub_activity(struct loader *ld, const struct key *k, void *obj, const char *v,
			    char *err, size_t errlen)
{
	enum hub_activity *h = FIELD(obj, k, enum hub_activity);

	(void)ld;
	if (strcmp(v, "auto") == 0) {
		*h = HUB_AUTO;
	} else if (strcmp(v, "on") == 0) {
		*h = HUB_ON;
	} else if (strcmp(v, "off") == 0) {
		*h = HUB_OFF;
	} else {
		snprintf(err, errlen, "bad value '%s' (use auto, on or off)", v);
		return -1;
	}
	return 0;
}

static int set_method(struct loader *ld, const struct key *k, void *obj, const char *v,
		      char *err, size_t errlen)
{
	(void)ld;
	if (strcasecmp(v, "GET") == 0)
		return replace_str(FIELD(obj, k, char *), "GET", err, errlen);
	if (strcasecmp(v, "POST") == 0)
		return replace_str(FIELD(obj, k, char *), "POST", err, errlen);
	snprintf(err, errlen, "bad method '%s' (use GET or POST)", v);
	return -1;
}

static int set_max_4xx(struct loader *ld, const struct key *k, void *obj, const char *v,
		       char *err, size_t errlen)
{
	const char *p = v;
	long n = 0;

	(void)ld;
	while (isdigit((unsigned char)*p) && n <= 1000000)
		n = n * 10 + (*p++ - '0');
	if (p == v || *p || n < 1 || n > 1000000) {
		snprintf(err, errlen, "bad count '%s' (a whole number, at least 1)", v);
		return -1;
	}
	*FIELD(obj, k, int) = (int)n;
	return 0;
}

/* record = FILE (relative to the config file) or off; record_max = SIZE */
static int set_record(struct loader *ld, const struct key *k, void *obj, const char *v,
		      char *err, size_t errlen)
{
	char *path;

	if (recorder_is_off(v))
		return replace_str(FIELD(obj, k, char *), "off", err, errlen);
	if (!(path = resolve_path(ld, v, err, errlen)))
		return -1;
	free(*FIELD(obj, k, char *));
	*FIELD(obj, k, char *) = path;
	return 0;
}

static int set_record_max(struct loader *ld, const struct key *k, void *obj, const char *v,
			  char *err, size_t errlen)
{
	(void)ld;
	return recorder_parse_size(v, FIELD(obj, k, long long), err, errlen);
}

/* ------------------------------------------------------------------- load */

static const char *env_token(void)
{
	const char *t = getenv("JUPYTER_TOKEN");

	if (!t || !*t)
		t = getenv("JUPYTERHUB_API_TOKEN");
	return t && *t ? t : NULL;
}

/* Fill in what a target did not set; "" / "GET" so callers never see NULL there. */
static int target_fill(struct target_config *t, char **url_token)
{
	if (!t->code && !(t->code = strdup("")))
		return -1;
	if (!t->method && !(t->method = strdup("GET")))
		return -1;
	if (t->kind == TARGET_JUPYTER && !t->token) {
		const char *e = env_token();

		if (url_token && *url_token) {
			t->token = *url_token;
			*url_token = NULL;
		} else if (e && !(t->token = strdup(e))) {
			return -1;
		}
	}
	return 0;
}

/* [global], [general], [defaults], [agents] …: meant to be [agent]. */
static int looks_like_agent_section(const char *name)
{
	static const char *const near[] = { "global", "general", "default", "defaults", "main",
		"settings", "options", "common", "config", "keepalive" };

	for (size_t i = 0; i < sizeof(near) / sizeof(near[0]); i++)
		if (!strcasecmp(name, near[i]))
			return 1;
	static const char *const agent[] = { "agent" };

	return config_closest(name, agent, 1) != NULL;
}

/* Checks that need the whole section. */
static void validate_target(struct loader *ld, size_t i)
{
	struct target_config *t = &ld->cfg->targets[i];
	struct target_state *ts = &ld->ts[i - ld->tbase];
	int url = ts->set_line[key_index("url", S_TARGET)];
	int ping = ts->set_line[key_index("ping_url", S_TARGET)];
	int tok = ts->set_line[key_index("token", S_TARGET)];
	int tokf = ts->set_line[key_index("token_file", S_TARGET)];
	int body = ts->set_line[key_index("body", S_TARGET)];

	if (!url && !ping) {
		if (looks_like_agent_section(t->name))
			lerr(ld, t->line, "[%s] is not a section this program reads; did you mean [agent]? "
			     "(every other section is a target and needs url = or ping_url =)", t->name);
		else
			lerr(ld, t->line, "[%s] needs url = (a Jupyter server) or ping_url = (a plain "
			     "HTTP keepalive)", t->name);
		goto fill;
	}
	if (url && ping) {
		lerr(ld, url > ping ? url : ping, "[%s] url and ping_url are mutually exclusive (%s on line %d)",
		     t->name, url > ping ? "ping_url" : "url", url > ping ? ping : url);
		goto fill;
	}
	t->kind = ping ? TARGET_PING : TARGET_JUPYTER;
	for (size_t k = 0; k < NKEYS; k++) {
		int line = ts->set_line[k];

		if (!line || keys[k].sect != S_TARGET)
			continue;
		if (t->kind == TARGET_PING && (keys[k].flags & K_JUPYTER))
			lerr(ld, line, "[%s] %s: not valid with ping_url (only for url = targets)",
			     t->name, keys[k].name);
		if (t->kind == TARGET_JUPYTER && (keys[k].flags & K_PING))
			lerr(ld, line, "[%s] %s: only valid with ping_url", t->name, keys[k].name);
	}
	if (tok && tokf)
		lerr(ld, tok > tokf ? tok : tokf, "[%s] token and token_file are both set (%s on line %d); keep one",
		     t->name, tok > tokf ? "token_file" : "token", tok > tokf ? tokf : tok);
	if (t->kind == TARGET_PING && body && (!t->method || strcmp(t->method, "POST") != 0))
		lerr(ld, body, "[%s] body: needs method = POST", t->name);
fill:
	if (target_fill(t, &ts->url_token) < 0)
		lerr(ld, t->line, "out of memory");
}

static int load(struct loader *ld, struct agent_config *cfg, struct config_errors *errs)
{
	int ret;

	ld->cfg = cfg;
	ld->errs = errs;
	ld->tbase = cfg->ntargets;
	ret = ini_parse_stream(reader, ld, handler, ld);
	if (ret > 0 && ret != ld->first_syntax_line)
		lerr(ld, ret, "syntax error (expected [section] or key = value)");
	else if (ret < 0)
		lerr(ld, ld->lineno, "out of memory");
	if (ld->f && ferror(ld->f)) {
		config_add_error(errs, "%s: cannot read: %s", ld->name, strerror(errno));
		ld->nerr++;
	}
	for (size_t i = ld->tbase; i < cfg->ntargets; i++) {
		validate_target(ld, i);
		free(ld->ts[i - ld->tbase].url_token);
	}
	free(ld->ts);
	free(ld->line);
	free(ld->dir);
	return ld->nerr ? -1 : 0;
}

int config_load(const char *path, struct agent_config *cfg, struct config_errors *errs)
{
	struct loader ld = { .name = path };
	struct stat st;
	char *dir, *slash;
	int rc;

	if (!(ld.f = fopen(path, "r"))) {
		config_add_error(errs, "%s: cannot read: %s", path, strerror(errno));
		return -1;
	}
	if (fstat(fileno(ld.f), &st) == 0) {
		if (S_ISDIR(st.st_mode)) {
			config_add_error(errs, "%s: cannot read: %s", path, strerror(EISDIR));
			fclose(ld.f);
			return -1;
		}
		ld.file_mode = st.st_mode;
	}
	/* relative paths in the file are relative to the file, not to wherever we run */
	if ((dir = strdup(path))) {
		slash = strrchr(dir, '/');
		if (slash == dir)
			slash[1] = '\0';
		else if (slash)
			*slash = '\0';
		ld.dir = realpath(slash ? dir : ".", NULL);
		free(dir);
	}
	free(cfg->path);
	cfg->path = strdup(path);
	rc = load(&ld, cfg, errs);
	fclose(ld.f);
	return rc;
}

int config_load_string(const char *name, const char *text, struct agent_config *cfg,
		       struct config_errors *errs)
{
	struct loader ld = { .name = name ? name : "config", .s = text };

	return load(&ld, cfg, errs);
}

/* ------------------------------------------------------------- the rest */

int config_add_cli_target(struct agent_config *cfg, const char *url, const char *kernel,
			  struct config_errors *errs)
{
	struct target_config *t;
	char err[512], *base, *tok;
	long idx;
	int trimmed;

	if (!url || !*url) {
		config_add_error(errs, "--url: missing URL");
		return -1;
	}
	if (config_parse_base_url(url, &base, &tok, &trimmed, err, sizeof(err)) < 0) {
		config_add_error(errs, "--url: %s", err);
		return -1;
	}
	if ((idx = add_target(cfg, "cli", 0)) < 0) {
		free(base);
		free(tok);
		config_add_error(errs, "--url: out of memory");
		return -1;
	}
	t = &cfg->targets[idx];
	t->url = base;
	t->url_trimmed = trimmed;
	if (kernel && config_parse_kernel(kernel, &t->kernel, &t->kernel_arg, err, sizeof(err)) < 0) {
		config_add_error(errs, "--kernel: %s", err);
		free(tok);
		return -1;
	}
	if (target_fill(t, &tok) < 0) {
		config_add_error(errs, "--url: out of memory");
		free(tok);
		return -1;
	}
	free(tok);
	return 0;
}

int config_finish(struct agent_config *cfg, struct config_errors *errs)
{
	int rc = 0;

	for (size_t i = 0; i < cfg->ntargets; i++) {
		struct target_config *t = &cfg->targets[i];

		if (t->interval_ms == 0)
			t->interval_ms = cfg->interval_ms;
		if (t->jitter_pct < 0)
			t->jitter_pct = cfg->jitter_pct;
		if (t->timeout_ms == 0)
			t->timeout_ms = cfg->timeout_ms;
		if (!t->record && cfg->record && t->kind == TARGET_JUPYTER)
			t->record = strdup(cfg->record);
		if (t->record_max == 0)
			t->record_max = cfg->record_max;
		/* the file's own duplicates were reported while loading; here only the flag ones */
		for (size_t j = 0; j < i; j++) {
			struct target_config *o = &cfg->targets[j];

			if ((t->line == 0 || o->line == 0) && strcmp(t->name, o->name) == 0) {
				const struct target_config *f = t->line ? t : o;

				if (f->line && cfg->path)
					config_add_error(errs, "--url: target [%s] is also defined in %s:%d; rename that section",
						  t->name, cfg->path, f->line);
				else if (f->line)
					config_add_error(errs, "--url: target [%s] is also defined on line %d of the config; "
						  "rename that section", t->name, f->line);
				else
					config_add_error(errs, "--url: given more than once");
				rc = -1;
			}
		}
	}
	return rc;
}

/*
 * A flag: the key's own setter, with no file behind it (relative paths stay
 * relative to the working directory, which a detached agent keeps).
 */
int config_override(struct agent_config *cfg, const char *key, const char *value, char *err,
		    size_t errlen)
{
	const struct key *ka = find_key(S_AGENT, key), *kt = find_key(S_TARGET, key);
	int rc;

	if ((!ka && !kt) || ((ka ? ka : kt)->flags & K_FILE)) {
		snprintf(err, errlen, "'%s' can only be set in a config file", key);
		return -1;
	}
	if (!((ka ? ka : kt)->flags & K_CTRL_OK) && config_has_ctrl(value)) {
		snprintf(err, errlen, "value contains control characters");
		return -1;
	}
	if (ka && ka->set(NULL, ka, cfg, value, err, errlen) < 0)
		return -1;
	if (!kt)
		return 0;
	if (!ka) {	/* checked even when no target takes it */
		struct target_config scratch;

		target_defaults(&scratch);
		rc = kt->set(NULL, kt, &scratch, value, err, errlen);
		target_config_free(&scratch);
		if (rc < 0)
			return -1;
	}
	for (size_t i = 0; i < cfg->ntargets; i++) {
		struct target_config *t = &cfg->targets[i];

		if (((kt->flags & K_JUPYTER) && t->kind != TARGET_JUPYTER) ||
		    ((kt->flags & K_PING) && t->kind != TARGET_PING))
			continue;
		if (kt->set(NULL, kt, t, value, err, errlen) < 0)
			return -1;
	}
	return 0;
}

static void headers_free(struct header_list *h)
{
	for (size_t i = 0; i < h->n; i++)
		free(h->v[i]);
	free(h->v);
	h->v = NULL;
	h->n = 0;
}

static void target_config_free(struct target_config *t)
{
	free(t->name);
	free(t->url);
	free(t->token);
	free(t->kernel_arg);
	free(t->code);
	free(t->hub_api_url);
	free(t->ping_url);
	free(t->method);
	free(t->body);
	headers_free(&t->headers);
	free(t->ca_file);
	free(t->record);
}

void config_free(struct agent_config *cfg)
{
	if (!cfg)
		return;
	for (size_t i = 0; i < cfg->ntargets; i++)
		target_config_free(&cfg->targets[i]);
	free(cfg->targets);
	free(cfg->record);
	free(cfg->path);
	free(cfg->while_fresh_path);
	free(cfg->notify_url);
	headers_free(&cfg->notify_headers);
	config_init(cfg);
}

void config_errors_free(struct config_errors *errs)
{
	if (!errs)
		return;
	for (size_t i = 0; i < errs->n; i++)
		free(errs->msg[i]);
	for (size_t i = 0; i < errs->nwarn; i++)
		free(errs->warn[i]);
	free(errs->msg);
	free(errs->warn);
	memset(errs, 0, sizeof(*errs));
}

static int same_str(const char *a, const char *b)
{
	return a == b || (a && b && !strcmp(a, b));
}

const char *config_target_url(const struct target_config *tc)
{
	return tc->kind == TARGET_JUPYTER ? tc->url : tc->ping_url;
}

int config_target_equal(const struct target_config *a, const struct target_config *b)
{
	size_t i;

	if (a->kind != b->kind || a->mode != b->mode || a->kernel != b->kernel ||
	    a->hub_activity != b->hub_activity || a->max_4xx != b->max_4xx ||
	    a->interval_ms != b->interval_ms || a->jitter_pct != b->jitter_pct ||
	    a->timeout_ms != b->timeout_ms || a->insecure != b->insecure ||
	    a->discovered != b->discovered || a->headers.n != b->headers.n ||
	    a->record_max != b->record_max || !same_str(a->record, b->record))
		return 0;
	if (!same_str(a->name, b->name) || !same_str(a->url, b->url) ||
	    !same_str(a->token, b->token) || !same_str(a->kernel_arg, b->kernel_arg) ||
	    !same_str(a->code, b->code) || !same_str(a->hub_api_url, b->hub_api_url) ||
	    !same_str(a->ping_url, b->ping_url) || !same_str(a->method, b->method) ||
	    !same_str(a->body, b->body) || !same_str(a->ca_file, b->ca_file))
		return 0;
	for (i = 0; i < a->headers.n; i++)
		if (!same_str(a->headers.v[i], b->headers.v[i]))
			return 0;
	return 1;
}
