/* SPDX-License-Identifier: MIT */
/*
 * config: the INI schema (one table of keys, their setters and defaults),
 * its validation, and the same setters for command-line flags
 * (config_override). The syntax of single values (durations, URLs, ${VAR}…)
 * is config_value.h's.
 *
 * File format (inih): an optional [agent] section holds global settings and
 * defaults; every other section is one target, named by its section.
 *
 * Ownership: config_load() fills a struct agent_config that owns every string
 * in it; release it with config_free(). Nothing here does network I/O.
 *
 * Errors: every problem is recorded as "FILE:LINE: message" in a
 * struct config_errors, as a compiler does, and loading continues so that the
 * user sees all of them at once. The caller prints them and exits 2.
 */
#ifndef AGENT_CONFIG_H
#define AGENT_CONFIG_H

#include <stddef.h>
#include <sys/types.h>

#include "config_value.h"

enum target_kind {
	TARGET_JUPYTER,		/* a Jupyter Server / Notebook base URL ("url =") */
	TARGET_PING,		/* a plain HTTP keepalive ("ping_url =") */
};

enum hub_activity {
	HUB_AUTO,		/* post to the hub when its API URL is known */
	HUB_ON,
	HUB_OFF,
};

enum notify_format {
	NOTIFY_TEXT,
	NOTIFY_JSON,
};

/* A list of "Name: value" header lines; the values are secrets. */
struct header_list {
	char **v;
	size_t n;
};

struct target_config {
	char *name;		/* section name */
	int line;		/* line of the section header (0 for command line) */
	enum target_kind kind;

	/* TARGET_JUPYTER */
	char *url;		/* base URL, always ending in '/' */
	int url_trimmed;	/* a browser page's path or a query was dropped from it */
	char *token;		/* secret, may be NULL (no auth) */
	enum config_mode mode;
	enum kernel_select kernel;
	char *kernel_arg;	/* id for KSEL_ID, path for KSEL_NOTEBOOK, else NULL */
	char *code;		/* code of the keepalive execute_request; default "" */
	char *hub_api_url;	/* e.g. https://hub/hub/api, may be NULL */
	enum hub_activity hub_activity;

	/* TARGET_PING */
	char *ping_url;
	char *method;		/* "GET" (default) or "POST" */
	char *body;		/* POST body, may be NULL */
	struct header_list headers;
	int max_4xx;		/* consecutive 4xx replies that stop the target */

	/* both kinds */
	long interval_ms;
	int jitter_pct;
	long timeout_ms;	/* per request / reply deadline */
	char *ca_file;
	int insecure;		/* insecure_skip_verify */
	int discovered;		/* found by discovery: give up when the server goes away for good */
	char *record;		/* output record file (recorder.h); NULL = not set, "off" = none */
	long long record_max;	/* its size before rotating to FILE.1; 0 = not set */
};

struct agent_config {
	char *path;		/* the file it came from, or NULL */

	/* [agent] defaults, copied into targets that do not set them */
	long interval_ms;	/* default 60 s */
	int jitter_pct;		/* default 10 */
	long timeout_ms;	/* default 30 s */

	/* stop conditions; 0 / NULL = not set */
	long for_ms;		/* -1 = not set, 0 = no cap */
	pid_t while_pid;
	char *while_fresh_path;
	long while_fresh_ms;
	long linger_ms;		/* keep going this long after while_pid/while_fresh trigger */

	/* notifications */
	char *notify_url;
	struct header_list notify_headers;
	enum notify_format notify_format;

	/* output recorder defaults for targets ([agent] record =, record_max =) */
	char *record;
	long long record_max;

	struct target_config *targets;
	size_t ntargets;
};

struct config_errors {
	char **msg;		/* "FILE:LINE: message", owned */
	size_t n;
	char **warn;		/* warnings, same shape, owned */
	size_t nwarn;
};

/* Initialise *cfg with defaults and no targets. */
void config_init(struct agent_config *cfg);

/*
 * Parse and validate the INI file at path into *cfg (which config_init has
 * prepared). Returns 0 when there were no errors, -1 otherwise; every error is
 * appended to *errs. An unreadable file is one error: "FILE: cannot read: …".
 */
int config_load(const char *path, struct agent_config *cfg, struct config_errors *errs);

/* The same, reading from a string; name is used in the messages. For tests and fuzzing. */
int config_load_string(const char *name, const char *text, struct agent_config *cfg,
		       struct config_errors *errs);

/*
 * Append a target built from command-line flags (--url, --kernel). kernel may
 * be NULL (auto). The token comes from JUPYTER_TOKEN. Errors are recorded with
 * the prefix "--url" instead of FILE:LINE. Returns 0 or -1.
 */
int config_add_cli_target(struct agent_config *cfg, const char *url, const char *kernel,
			  struct config_errors *errs);

/*
 * Final checks after flags were applied: defaults copied into targets that
 * did not set them. Zero targets is not an error here (the caller may
 * discover one). Returns 0 or -1 (errors appended).
 */
int config_finish(struct agent_config *cfg, struct config_errors *errs);

/*
 * Set key to value over what the file said, as a command-line flag does: in
 * [agent] when the key is valid there, and in every target it is valid for
 * (a key only for url = targets skips ping_url = ones). The value goes
 * through the key's setter, so it is checked as in a file, and checked even
 * when no target takes it. Keys whose setters need a file (url, token,
 * token_file) are refused. Returns 0, or -1 with the setter's reason in err.
 */
int config_override(struct agent_config *cfg, const char *key, const char *value, char *err,
		    size_t errlen);

/* A detached agent runs unwatched: with no for = / --for, it stops after 24h. */
void config_detached_defaults(struct agent_config *cfg);

/* Append an error without FILE:LINE (a flag's: "--url: …"). */
void config_add_error(struct config_errors *errs, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

/* Do two targets mean exactly the same thing? (A SIGHUP reload keeps such targets running.) */
int config_target_equal(const struct target_config *a, const struct target_config *b);

/* What a target keeps alive: url for a Jupyter server, ping_url for a ping target. */
const char *config_target_url(const struct target_config *tc);

void config_free(struct agent_config *cfg);
void config_errors_free(struct config_errors *errs);

/* The known key closest to name (for "did you mean"), or NULL if none is close. */
const char *config_suggest_key(const char *section_kind, const char *name);

/* NULL-terminated list of every key the schema knows, for docs checks. */
const char *const *config_known_keys(void);

#endif
