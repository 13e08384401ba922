/* SPDX-License-Identifier: MIT */
/*
 * supervisor: runs the kept targets in one event loop and decides how the
 * agent ends.
 *
 * It owns the targets array (one struct target per configured target), the
 * handled signals (SIGINT and SIGTERM stop, SIGHUP reloads the config file),
 * the stop conditions (--for, --while-pid, --while-fresh, --linger: watch.h)
 * and the notifications they send, the state file that --status reads, and
 * the exit-code policy: the worst ending of any target is the agent's, and a
 * rejected token stops everything.
 *
 * It also says what is kept (the start-up summary) and warns about settings
 * that weaken what protects a token, at start and after a reload.
 */
#ifndef AGENT_SUPERVISOR_H
#define AGENT_SUPERVISOR_H

#include <stddef.h>
#include <stdio.h>

#include "config.h"

/* The agent's exit codes (documented in --help, the README and the man page). */
enum exit_code {
	EXIT_OK = 0,		/* stopped by a signal, --for, a stop condition, or --once verified */
	EXIT_GONE = 1,		/* what was kept went away, or --once could not verify */
	EXIT_CONFIG = 2,	/* usage or configuration error */
	EXIT_AUTH = 3,		/* a token or ping credential was rejected */
	EXIT_NOTHING = 4,	/* nothing to keep: discovery found no server */
	EXIT_INTERNAL = 5,	/* could not start (out of memory, event loop failure) */
};

struct cli;

struct supervisor_opts {
	const struct cli *cli;	/* a SIGHUP reads its config file again and re-applies its flags */
	const char *state_dir;	/* where the state file goes; NULL: none (--once) */
	const char *log_path;	/* a detached agent's log, named in the state file; "" attached */
	const char *own_kernel;	/* attached inside this kernel's cell (--once, --foreground); NULL */
	int detached;		/* no banner, no status line */
	int colab;		/* the target is Colab's in-VM server (the banner says what that means) */
};

/*
 * Run until the agent stops: block the handled signals (before curl's
 * resolver can start a thread that would take them), set up the event loop,
 * start every target of *cfg, serve them, then give the close frames and the
 * last notifications a second. *cfg is the supervisor's while it runs (a
 * reload replaces its contents); the caller frees it afterwards. Returns the
 * exit code.
 */
int supervisor_run(struct agent_config *cfg, const struct supervisor_opts *o);

/* Every token and header value of cfg is redacted from every line logged (log_add_secret). */
void supervisor_register_secrets(const struct agent_config *cfg);

/* Said once per target, loudly: insecure_skip_verify, or a token over plain http off loopback. */
void supervisor_warn_insecure(const struct agent_config *cfg);

/* "agent: keeping kernel 0a1b2c3d at URL alive every 60s (mode both)": one line per target. */
void supervisor_summary(const struct agent_config *cfg, int colab, FILE *out);

/* "after 24h; when pid 42 ends; when train.log is quiet for 30m", or "" with none set. */
char *supervisor_stop_text(const struct agent_config *cfg, char *out, size_t len);

#endif
