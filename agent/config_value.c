/* SPDX-License-Identifier: MIT */
/* config_value: the syntax of one config value (see config_value.h). */
#include <ctype.h>
#include <limits.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "config_value.h"

#define MAX_DURATION_MS	(30LL * 86400 * 1000)
#define DURATION_HINT	"use e.g. 90s, 5m, 2h, 1h30m"

/* ------------------------------------------------------------- numbers */

int config_parse_duration(const char *s, long *ms, char *err, size_t errlen)
{
	/* Units must come in decreasing order, each at most once: "1h30m", not "30m1h". */
	static const struct { const char *name; long long ms; } units[] = {
		{ "d", 86400000LL }, { "h", 3600000LL }, { "m", 60000LL },
		{ "s", 1000LL }, { "ms", 1LL },
	};
	const char *p = s;
	long long total = 0;
	int last = -1;

	if (!s || !*s) {
		snprintf(err, errlen, "empty duration (%s)", DURATION_HINT);
		return -1;
	}
	while (*p) {
		long long n = 0;
		int u = -1;
		size_t i;

		if (!isdigit((unsigned char)*p))
			goto bad;
		while (isdigit((unsigned char)*p)) {
			n = n * 10 + (*p++ - '0');
			if (n > MAX_DURATION_MS)
				goto too_long;
		}
		if (!*p && last < 0) {		/* plain number: seconds */
			u = 3;
		} else {
			for (i = 0; i < sizeof(units) / sizeof(units[0]); i++) {
				size_t l = strlen(units[i].name);

				/* "ms" must win over "m" followed by garbage */
				if (strncmp(p, units[i].name, l) == 0 &&
				    (u < 0 || l > strlen(units[u].name)))
					u = (int)i;
			}
			if (u < 0 || u <= last)
				goto bad;
			p += strlen(units[u].name);
		}
		if (n > MAX_DURATION_MS / units[u].ms)
			goto too_long;
		total += n * units[u].ms;
		if (total > MAX_DURATION_MS)
			goto too_long;
		last = u;
	}
	if (total > LONG_MAX)
		goto too_long;
	*ms = (long)total;
	return 0;
bad:
	snprintf(err, errlen, "bad duration '%s' (%s)", s, DURATION_HINT);
	return -1;
too_long:
	snprintf(err, errlen, "duration '%s' is too long (max 30d)", s);
	return -1;
}

int config_parse_percent(const char *s, int *pct, char *err, size_t errlen)
{
	const char *p = s;
	int n = 0;

	if (!s || !isdigit((unsigned char)*p))
		goto bad;
	while (isdigit((unsigned char)*p)) {
		n = n * 10 + (*p++ - '0');
		if (n > 100)
			goto bad;
	}
	if (*p == '%')
		p++;
	if (*p)
		goto bad;
	*pct = n;
	return 0;
bad:
	snprintf(err, errlen, "bad percentage '%s' (use 0 to 100, e.g. 10%%)", s ? s : "");
	return -1;
}

/* --------------------------------------------------------------- names */

int config_parse_mode(const char *s, enum config_mode *mode)
{
	if (!s)
		return -1;
	if (strcmp(s, "execute") == 0)
		*mode = MODE_EXECUTE;
	else if (strcmp(s, "http") == 0)
		*mode = MODE_HTTP;
	else if (strcmp(s, "both") == 0)
		*mode = MODE_BOTH;
	else
		return -1;
	return 0;
}

/* Jupyter kernel ids are UUIDs; accept any hex-and-dash string of sane length. */
static int looks_like_kernel_id(const char *s)
{
	size_t n = strspn(s, "0123456789abcdefABCDEF-");

	return s[n] == '\0' && n >= 8 && n <= 64;
}

int config_parse_kernel(const char *s, enum kernel_select *sel, char **arg, char *err, size_t errlen)
{
	*arg = NULL;
	if (!s)
		s = "";
	if (strcmp(s, "auto") == 0) {
		*sel = KSEL_AUTO;
	} else if (strcmp(s, "all") == 0) {
		*sel = KSEL_ALL;
	} else if (strncmp(s, "notebook:", 9) == 0 && s[9]) {
		if (!(*arg = strdup(s + 9)))
			goto oom;
		*sel = KSEL_NOTEBOOK;
	} else if (looks_like_kernel_id(s)) {
		if (!(*arg = strdup(s)))
			goto oom;
		*sel = KSEL_ID;
	} else {
		snprintf(err, errlen, "bad kernel '%s' (use auto, all, notebook:PATH or a kernel id)", s);
		return -1;
	}
	return 0;
oom:
	snprintf(err, errlen, "out of memory");
	return -1;
}

/* ----------------------------------------------------------- ${VAR} */

struct buf {
	char *s;
	size_t n, cap;
};

static int buf_add(struct buf *b, const char *s, size_t n)
{
	if (b->n + n + 1 > b->cap) {
		size_t cap = (b->n + n + 1) * 2;
		char *ns = realloc(b->s, cap);

		if (!ns)
			return -1;
		b->s = ns;
		b->cap = cap;
	}
	memcpy(b->s + b->n, s, n);
	b->n += n;
	b->s[b->n] = '\0';
	return 0;
}

static int is_var_start(int c)
{
	return isalpha(c) || c == '_';
}

static int is_var_char(int c)
{
	return isalnum(c) || c == '_';
}

char *config_expand(const char *in, char *err, size_t errlen)
{
	struct buf b = { 0 };
	const char *p = in;

	if (buf_add(&b, "", 0) < 0)
		goto oom;
	while (*p) {
		const char *d = strchr(p, '$');
		const char *name, *end, *val;
		char *var;

		if (!d) {
			if (buf_add(&b, p, strlen(p)) < 0)
				goto oom;
			break;
		}
		if (buf_add(&b, p, (size_t)(d - p)) < 0)
			goto oom;
		if (d[1] == '$') {
			if (buf_add(&b, "$", 1) < 0)
				goto oom;
			p = d + 2;
			continue;
		}
		if (d[1] != '{') {		/* a lone '$' is just a character */
			if (buf_add(&b, "$", 1) < 0)
				goto oom;
			p = d + 1;
			continue;
		}
		name = d + 2;
		end = strchr(name, '}');
		if (!end) {
			snprintf(err, errlen, "unterminated '${' (write ${NAME}, or $$ for a literal '$')");
			goto fail;
		}
		for (const char *q = name; q < end; q++) {
			if (q == name ? !is_var_start((unsigned char)*q) : !is_var_char((unsigned char)*q)) {
				snprintf(err, errlen, "bad variable name '${%.*s}'", (int)(end - name), name);
				goto fail;
			}
		}
		if (end == name) {
			snprintf(err, errlen, "empty variable name '${}'");
			goto fail;
		}
		if (!(var = strndup(name, (size_t)(end - name))))
			goto oom;
		val = getenv(var);
		if (!val) {
			snprintf(err, errlen, "environment variable %s is not set", var);
			free(var);
			goto fail;
		}
		free(var);
		if (buf_add(&b, val, strlen(val)) < 0)
			goto oom;
		p = end + 1;
	}
	return b.s;
oom:
	snprintf(err, errlen, "out of memory");
fail:
	free(b.s);
	return NULL;
}


/* ------------------------------------------------------ did you mean */

/* Case-insensitive Levenshtein distance, for short key names only. */
static size_t edit_distance(const char *a, const char *b)
{
	size_t la = strlen(a), lb = strlen(b), row[65];

	if (la > 64 || lb > 64)
		return SIZE_MAX;
	for (size_t j = 0; j <= lb; j++)
		row[j] = j;
	for (size_t i = 1; i <= la; i++) {
		size_t diag = row[0];

		row[0] = i;
		for (size_t j = 1; j <= lb; j++) {
			size_t up = row[j], best;
			int same = tolower((unsigned char)a[i - 1]) == tolower((unsigned char)b[j - 1]);

			best = diag + (same ? 0 : 1);
			if (up + 1 < best)
				best = up + 1;
			if (row[j - 1] + 1 < best)
				best = row[j - 1] + 1;
			row[j] = best;
			diag = up;
		}
	}
	return row[lb];
}

const char *config_closest(const char *name, const char *const *names, size_t n)
{
	const char *best = NULL;
	size_t best_d = SIZE_MAX;

	for (size_t i = 0; name && *name && i < n; i++) {
		size_t d = edit_distance(name, names[i]);

		if (d <= 2 && d < strlen(names[i]) && d < best_d) {
			best = names[i];
			best_d = d;
		}
	}
	return best;
}


/* ---------------------------------------------------------------- URLs */

/* http:// or https:// with a host, no spaces. */
int config_check_http_url(const char *v, char *err, size_t errlen)
{
	size_t skip = strncasecmp(v, "http://", 7) == 0 ? 7 :
		      strncasecmp(v, "https://", 8) == 0 ? 8 : 0;

	if (!skip) {
		snprintf(err, errlen, "bad URL '%s' (must start with http:// or https://)", v);
		return -1;
	}
	if (!v[skip] || strchr("/?#", v[skip])) {
		snprintf(err, errlen, "bad URL '%s' (no host)", v);
		return -1;
	}
	for (const char *p = v; *p; p++) {
		if (isspace((unsigned char)*p)) {
			snprintf(err, errlen, "bad URL '%s' (contains whitespace)", v);
			return -1;
		}
	}
	return 0;
}


/*
 * Where a front end's page starts in a path: "/lab", "/tree", "/notebooks",
 * "/doc", "/edit", "/voila" as a whole segment (JupyterLab, Notebook 6/7,
 * the text editor, Voilà). Returns the offset of that '/', or len.
 */
static size_t frontend_at(const char *path, size_t len)
{
	static const char *const pages[] = { "lab", "tree", "notebooks", "doc", "edit", "voila" };
	size_t i = 0;

	while (i < len) {
		size_t seg = i + 1, n;

		n = 0;
		while (seg + n < len && path[seg + n] != '/')
			n++;
		for (size_t p = 0; p < sizeof(pages) / sizeof(pages[0]); p++)
			if (n == strlen(pages[p]) && !strncmp(path + seg, pages[p], n))
				return i;
		i = seg + n;
	}
	return len;
}

/*
 * A Jupyter base URL. People paste what Jupyter prints at start-up,
 * "http://127.0.0.1:8888/lab?token=abc", or what the browser's address bar
 * shows, "…/user/alice/lab/tree/train.ipynb": drop the query and fragment (a
 * token= in the query is returned in *tok) and everything from the front
 * end's page on (*trimmed says so); the result always ends in '/'.
 */
int config_parse_base_url(const char *v, char **out, char **tok, int *trimmed, char *err,
			  size_t errlen)
{
	size_t skip, plen, hostend, page;
	const char *q;
	char *base;

	*out = *tok = NULL;
	*trimmed = 0;
	if (config_check_http_url(v, err, errlen) < 0)
		return -1;
	skip = tolower((unsigned char)v[4]) == 's' ? 8 : 7;
	plen = strcspn(v, "?#");
	hostend = skip + strcspn(v + skip, "/?#");
	q = v[plen] == '?' ? v + plen + 1 : NULL;
	while (q && *q && *q != '#') {
		size_t n = strcspn(q, "&#");

		if (strncmp(q, "token=", 6) == 0 && n > 6) {
			if (!(*tok = strndup(q + 6, n - 6)))
				goto oom;
		}
		q += n;
		if (*q == '&')
			q++;
	}
	if (!(base = malloc(plen + 2)))
		goto oom;
	memcpy(base, v, plen);
	base[plen] = '\0';
	for (size_t i = 0; i < skip; i++)
		base[i] = (char)tolower((unsigned char)base[i]);
	*trimmed = v[plen] == '?' || v[plen] == '#';
	page = hostend + frontend_at(base + hostend, plen - hostend);
	if (page < plen) {
		*trimmed = 1;
		plen = page;
		base[plen] = '\0';
	}
	while (plen > hostend + 1 && base[plen - 1] == '/')
		base[--plen] = '\0';
	if (plen == 0 || base[plen - 1] != '/') {
		base[plen++] = '/';
		base[plen] = '\0';
	}
	*out = base;
	return 0;
oom:
	free(*tok);
	*tok = NULL;
	snprintf(err, errlen, "out of memory");
	return -1;
}


/* ---------------------------------------------------------- characters */

/* Tabs are allowed: they are legal in header values and harmless elsewhere. */
int config_has_ctrl(const char *s)
{
	for (; *s; s++)
		if (((unsigned char)*s < 0x20 && *s != '\t') || *s == 0x7f)
			return 1;
	return 0;
}

