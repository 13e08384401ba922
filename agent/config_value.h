/* SPDX-License-Identifier: MIT */
/*
 * config_value: the syntax of one config value, the same for a key in a file
 * and for a flag: durations, percentages, modes, kernel specs, URLs, ${VAR}
 * expansion, and the edit distance behind "did you mean".
 *
 * Pure functions: no I/O (config_expand reads the environment), nothing
 * kept between calls. Each parser returns 0, or -1 with a reason for the
 * user in err (no FILE:LINE: or flag name; the caller adds where the value
 * came from). The enums are the values the parsed keys take in config.h's
 * structs. Unit-tested and fuzzed (tests/fuzz/fuzz_config.c).
 */
#ifndef AGENT_CONFIG_VALUE_H
#define AGENT_CONFIG_VALUE_H

#include <stddef.h>

enum config_mode {
	MODE_EXECUTE = 1,	/* kernel WebSocket keepalives only */
	MODE_HTTP = 2,		/* REST pings only */
	MODE_BOTH = 3,		/* both (default) */
};

enum kernel_select {
	KSEL_AUTO,		/* the only kernel, or the most recently active */
	KSEL_ALL,		/* every running kernel, re-listed each round */
	KSEL_ID,		/* one explicit kernel id (kernel_arg) */
	KSEL_NOTEBOOK,		/* the kernel of the session at path kernel_arg */
};

/* "90s", "5m", "2h", "1h30m", "250ms", "3d" or plain seconds "45" -> milliseconds
 * (whole numbers, at most 30 days). */
int config_parse_duration(const char *s, long *ms, char *err, size_t errlen);

/* "10%" or "10" -> 10; range 0..100. */
int config_parse_percent(const char *s, int *pct, char *err, size_t errlen);

/* "execute" | "http" | "both"; -1 without a reason. */
int config_parse_mode(const char *s, enum config_mode *mode);

/* "auto" | "all" | "notebook:PATH" | kernel id (UUID-like, or its first 8+
 * hex digits); *arg is the malloc'd path or id for the last two, else NULL. */
int config_parse_kernel(const char *s, enum kernel_select *sel, char **arg, char *err, size_t errlen);

/* http:// or https:// with a host and no whitespace. */
int config_check_http_url(const char *v, char *err, size_t errlen);

/*
 * A Jupyter base URL from what people paste: what Jupyter prints at start-up
 * ("http://127.0.0.1:8888/lab?token=abc") or the browser's address bar
 * ("…/user/alice/lab/tree/train.ipynb"). The query, the fragment and the
 * front end's page (/lab, /tree, /notebooks, /doc, /edit, /voila) are
 * dropped; *trimmed says so. *out (malloc'd) always ends in '/'; a token= in
 * the query is returned in *tok (malloc'd, a secret), else NULL.
 */
int config_parse_base_url(const char *v, char **out, char **tok, int *trimmed, char *err,
			  size_t errlen);

/* Does s hold control characters other than tab? (Tabs are legal in header values.) */
int config_has_ctrl(const char *s);

/*
 * Expand ${VAR} from the environment ("$$" is a literal '$'). An unset
 * variable is an error naming it. Returns a malloc'd string, or NULL with
 * a reason in err.
 */
char *config_expand(const char *in, char *err, size_t errlen);

/* The entry of names within edit distance 2 of name (case-insensitive, the
 * closest, and closer than the entry's own length), or NULL. */
const char *config_closest(const char *name, const char *const *names, size_t n);

#endif
