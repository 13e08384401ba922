/* SPDX-License-Identifier: MIT */
/*
 * launch: the start-up steps between a checked configuration and a running
 * supervisor, most of them for an agent started from a notebook cell:
 * discovering the server and kernel, the checks that must pass before the
 * cell is told "running", detaching, and what the cell is told; and --stop.
 *
 * Everything here speaks to the user (stdout for the cell, stderr for
 * errors). A step that can end the start-up returns an exit code
 * (supervisor.h), or -1 to go on.
 */
#ifndef AGENT_LAUNCH_H
#define AGENT_LAUNCH_H

#include <stddef.h>

#include "config.h"
#include "discover.h"

/*
 * No target given: find the server and kernel we were started from and add
 * it to cfg as a target (kernel: --kernel, when discovery found no kernel of
 * its own). Returns -1 to go on, or EXIT_NOTHING / EXIT_CONFIG (said).
 */
int launch_discover(struct agent_config *cfg, const char *kernel, struct discovered *d,
		    struct config_errors *errs);

/* --url for a local server without a token: take it from the server's runtime file (never printed). */
void launch_token_from_runtime_file(struct agent_config *cfg);

/* A URL pasted from the browser's address bar works; say what was kept of it. */
void launch_note_trimmed_urls(const struct agent_config *cfg);

/* Stop conditions must make sense before we detach and say "running". 0, or -1 (said). */
int launch_check_stop_conditions(const struct agent_config *cfg);

/*
 * An agent that already keeps kernel_id (a second !agent in the same
 * notebook)? Then say so, and that the options given (given_args) were not
 * applied, and return 1; else 0.
 */
int launch_already_running(const char *state_dir, const char *kernel_id, const char *progname,
			   int given_args);

/*
 * Detach into the background, logging to a file in state_dir named after
 * kernel_id (or after our pid); its path goes to log_path. In the parent,
 * wait for the agent's first round and tell the cell what runs; returns the
 * cell's exit code. In the detached agent, returns -1. Failure: EXIT_INTERNAL.
 */
int launch_detach(const struct agent_config *cfg, const char *state_dir, const char *kernel_id,
		  int colab, const char *progname, char *log_path, size_t log_len);

/*
 * --stop [all | KERNEL]. Inside a notebook a bare --stop means this
 * notebook's agent only; elsewhere, and with "all", every agent. Returns
 * EXIT_GONE when a kernel was named and no agent keeps it.
 */
int launch_stop(const char *state_dir, const char *stop_id);

#endif
