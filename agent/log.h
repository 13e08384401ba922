/*
 * log: one logging function with levels, to stderr (or a file once
 * detached), as readable text lines or JSON lines.
 *
 * Every line passes through one choke point that redacts secrets: every
 * string registered with log_add_secret(), and the value of any "token="
 * query parameter. Callers never need to redact by hand.
 *
 * Text format:  2026-11-23T17:32:05Z INFO  [lab] keepalive acknowledged in 12 ms
 * JSON format:  {"time":"…","level":"info","target":"lab","msg":"…"}
 */
#ifndef AGENT_LOG_H
#define AGENT_LOG_H

#include <stdio.h>
#include <stddef.h>

enum log_level {
	LL_ERROR = 0,
	LL_WARN = 1,
	LL_INFO = 2,
	LL_DEBUG = 3,
};

/* Show lines at or below level; json != 0 for JSON lines. Default: LL_INFO, text, stderr. */
void log_setup(enum log_level level, int json);

/* Send log lines to f from now on (not closed by log). NULL = stderr. */
void log_set_stream(FILE *f);

enum log_level log_get_level(void);

/*
 * Register a secret to redact (copied). Secrets shorter than 4 bytes are
 * ignored (they would redact ordinary words). Safe to call many times.
 */
void log_add_secret(const char *secret);

/* Forget every registered secret (tests; config reload). */
void log_clear_secrets(void);

/* target may be NULL. Appends a newline. */
void log_msg(enum log_level level, const char *target, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

#define log_error(t, ...) log_msg(LL_ERROR, t, __VA_ARGS__)
#define log_warn(t, ...)  log_msg(LL_WARN, t, __VA_ARGS__)
#define log_info(t, ...)  log_msg(LL_INFO, t, __VA_ARGS__)
#define log_debug(t, ...) log_msg(LL_DEBUG, t, __VA_ARGS__)

/*
 * The terminal status line: one line kept below the log lines and redrawn in
 * place ("\r", erase, text; no newline), for a person watching a terminal.
 * Only main turns it on, when stderr is a terminal. Every log line erases
 * it, prints itself and draws it again. Off means no escape codes at all.
 */
void log_status_enable(int on);
int log_status_enabled(void);

/* Set the status line's text (redacted, control characters removed, cut to
 * width columns so it never wraps). Ignored when the status line is off. */
void log_status_set(const char *text, size_t width);

/*
 * Copy in into out (size outlen, always NUL-terminated) with every secret
 * replaced by "***" and token=VALUE query parameters replaced by token=***.
 * Returns out. Used by log_msg and by anything else that prints user data
 * (--status, state files, notifications).
 */
char *log_redact(const char *in, char *out, size_t outlen);

#endif
