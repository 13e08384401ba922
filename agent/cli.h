/* SPDX-License-Identifier: MIT */
/*
 * cli: the command line. One table of options (as curl's tool keeps one)
 * gives getopt its long options, --help its lines, and each flag that stands
 * for a config key (--interval for interval =, --kernel for kernel =, …) the
 * key whose setter in config.c takes its value: a flag is checked by the same
 * code, with the same message, as the key in a file, only "--interval:"
 * stands where "FILE:LINE: [section] interval:" would.
 *
 * Flags come last: they override what the file says, in [agent] and in every
 * target the key is valid for.
 *
 * Ownership: struct cli points into argv; nothing here allocates.
 */
#ifndef AGENT_CLI_H
#define AGENT_CLI_H

#include <stdio.h>

#include "config.h"

struct cli {
	const char *progname;	/* argv[0], for hints such as "'agent --status' shows it" */
	const char *config_path;
	const char *url;
	const char *kernel;	/* with --url, its target's; else every Jupyter target's */
	const char *stop_id;	/* --stop KERNEL (or "all"); NULL: a bare --stop */

	/* Flags for config keys: the value as typed, NULL when not given. */
	const char *mode;
	const char *interval;
	const char *jitter;
	const char *ca_file;
	const char *record;
	const char *for_dur;
	const char *while_pid;
	const char *while_fresh;
	const char *linger;

	int once, foreground, detach, status, stop, verbose, quiet, log_json;
};

/*
 * Parse argv into *o. Returns -1 to go on, or an exit code: 0 after --help
 * or --version (printed on stdout), 2 after a usage error (said on stderr,
 * with "did you mean" for a misspelt option and a "Try '… --help'" line).
 */
int cli_parse(int argc, char **argv, struct cli *o);

/* The --help text. */
void cli_usage(FILE *out);

/*
 * The configuration the command line names, into cfg (config_init'ed): the
 * -c file, then the --url target with its --kernel. Errors are appended to
 * errs (FILE:LINE: for the file, "--url:" and "--kernel:" for the flags).
 */
void cli_load(const struct cli *o, struct agent_config *cfg, struct config_errors *errs);

/*
 * config_finish(), then every flag that stands for a key, through that key's
 * setter (config_override), over what the file said. Returns 0, or -1 with
 * the errors appended to errs as "--FLAG: reason".
 */
int cli_finish(const struct cli *o, struct agent_config *cfg, struct config_errors *errs);

#endif
