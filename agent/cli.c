/* SPDX-License-Identifier: MIT */
/*
 * cli: the option table, getopt_long over it, --help from it, and the flags
 * that stand for config keys applied through config.c's setters (see cli.h).
 */
#include <getopt.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>

#include <curl/curl.h>
#include <jansson.h>
#include <libwebsockets.h>

#include "cli.h"
#include "config.h"
#include "supervisor.h"

#ifndef AGENT_VERSION
#define AGENT_VERSION "dev"
#endif

/* What an option does besides storing its value. */
enum option_kind {
	O_VALUE,	/* store the value (a const char * field) */
	O_SWITCH,	/* set an int field to 1 */
	O_OPTIONAL,	/* O_VALUE with an optional value, also as the next argument */
	O_VERSION,
	O_HELP,
	O_REFUSED,	/* never accepted: --token */
};

struct option_row {
	const char *section;	/* starts a --help section ("Targets"), or NULL */
	char letter;		/* short option, or 0 */
	const char *name;	/* long option */
	enum option_kind what;
	const char *arg;	/* the value's name in --help ("FILE"), NULL for switches */
	size_t off;		/* field in struct cli */
	const char *key;	/* the config key whose setter takes the value, or NULL */
	const char *help;	/* lines of --help ('\n' between them); NULL: not shown */
};

#define F(f) offsetof(struct cli, f)
#define NONE ((size_t)-1)

static const struct option_row options[] = {
	{ "Targets", 'c', "config", O_VALUE, "FILE", F(config_path), NULL,
	  "read targets and settings from an INI file" },
	{ NULL, 0, "url", O_VALUE, "URL", F(url), NULL,
	  "keep a server at URL (token from $JUPYTER_TOKEN)" },
	{ NULL, 0, "kernel", O_VALUE, "SPEC", F(kernel), "kernel",
	  "which kernels: auto | all | notebook:PATH | KERNEL_ID" },
	{ NULL, 0, "mode", O_VALUE, "MODE", F(mode), "mode",
	  "execute | http | both (default both)" },
	{ NULL, 0, "interval", O_VALUE, "DUR", F(interval), "interval",
	  "time between keepalives (default 60s; e.g. 90s, 5m, 1h30m)" },
	{ NULL, 0, "jitter", O_VALUE, "PCT", F(jitter), "jitter",
	  "random spread of the interval (default 10%)" },
	{ NULL, 0, "ca-file", O_VALUE, "FILE", F(ca_file), "ca_file",
	  "trust the CA certificates in FILE (PEM) for https" },
	{ NULL, 0, "record", O_VALUE, "FILE", F(record), "record",
	  "append what the kept kernels' cells show to FILE\n"
	  "(on by default inside a notebook; off to disable)" },

	{ "When to stop", 0, "once", O_SWITCH, NULL, F(once), NULL,
	  "one verified round for every target, then exit" },
	{ NULL, 0, "for", O_VALUE, "DUR", F(for_dur), "for",
	  "stop after DUR (detached default 24h; 0 = no cap)" },
	{ NULL, 0, "while-pid", O_VALUE, "PID", F(while_pid), "while_pid",
	  "keep alive only while process PID runs" },
	{ NULL, 0, "while-fresh", O_VALUE, "FILE:DUR", F(while_fresh), "while_fresh",
	  "stop when FILE was not modified for DUR" },
	{ NULL, 0, "linger", O_VALUE, "DUR", F(linger), "linger",
	  "when --while-pid or --while-fresh ends the job, keep\n"
	  "the session DUR more to read the results, then stop" },

	{ "Running", 0, "foreground", O_SWITCH, NULL, F(foreground), NULL,
	  "stay attached even when started from a notebook" },
	{ NULL, 0, "detach", O_SWITCH, NULL, F(detach), NULL,
	  "run in the background, logging to a file" },
	{ NULL, 0, "status", O_SWITCH, NULL, F(status), NULL,
	  "list running agents and what they keep" },
	{ NULL, 0, "stop", O_OPTIONAL, "[KERNEL]", F(stop_id), NULL,
	  "stop this notebook's agent (in a notebook) or every\n"
	  "agent; KERNEL: the one keeping it, or all" },
	{ NULL, 'v', "verbose", O_SWITCH, NULL, F(verbose), NULL, "log debug details" },
	{ NULL, 'q', "quiet", O_SWITCH, NULL, F(quiet), NULL, "log warnings and errors only" },
	{ NULL, 0, "log-json", O_SWITCH, NULL, F(log_json), NULL, "log JSON lines instead of text" },
	{ NULL, 'V', "version", O_VERSION, NULL, NONE, NULL, "print the version" },
	{ NULL, 'h', "help", O_HELP, NULL, NONE, NULL, "print this help" },

	/* argv is visible to every user of the machine (ps, /proc). */
	{ NULL, 0, "token", O_REFUSED, "TOKEN", NONE, NULL, NULL },
};

#undef F

#define NOPTIONS (sizeof(options) / sizeof(options[0]))
#define HELP_COLUMN 25

static const char usage_head[] =
"Usage: agent [OPTIONS]\n"
"Keep Jupyter kernels and servers from being culled while a long job runs.\n"
"\n"
"With no target, the agent finds the server and kernel it was started from\n"
"(run it as !./build/agent in a notebook cell) and detaches into the background.\n";

static const char usage_tail[] =
"\n"
"Tokens are never taken from the command line: use token = or token_file = in\n"
"the config file, or the JUPYTER_TOKEN environment variable.\n"
"\n"
"Exit codes: 0 stopped normally, 1 target gone or --once failed, 2 usage or\n"
"config error, 3 token rejected, 4 nothing found to keep, 5 internal error.\n";

void cli_usage(FILE *out)
{
	fputs(usage_head, out);
	for (size_t i = 0; i < NOPTIONS; i++) {
		const struct option_row *r = &options[i];
		const char *h = r->help;
		int n;

		if (!h)
			continue;
		if (r->section)
			fprintf(out, "\n%s:\n", r->section);
		if (r->letter)
			n = fprintf(out, "  -%c, --%s", r->letter, r->name);
		else
			n = fprintf(out, "      --%s", r->name);
		if (r->arg)
			n += fprintf(out, " %s", r->arg);
		/* a long spec gets two spaces; continuation lines start at the column */
		fprintf(out, "%*s", n < HELP_COLUMN - 1 ? HELP_COLUMN - n : 2, "");
		for (const char *nl; (nl = strchr(h, '\n')); h = nl + 1)
			fprintf(out, "%.*s\n%*s", (int)(nl - h), h, HELP_COLUMN, "");
		fprintf(out, "%s\n", h);
	}
	fputs(usage_tail, out);
}

static int usage_error(const char *progname, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
static int usage_error(const char *progname, const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "agent: ");
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fprintf(stderr, "\nTry '%s --help'.\n", progname);
	return EXIT_CONFIG;
}

/* "unknown option '--intervall' (did you mean --interval?)" */
static int unknown_option(const char *progname, const char *arg)
{
	const char *names[NOPTIONS], *name = arg, *best;
	char given[64];
	size_t i;

	while (*name == '-')
		name++;
	for (i = 0; i < NOPTIONS; i++)
		names[i] = options[i].name;
	snprintf(given, sizeof(given), "%.*s", (int)strcspn(name, "="), name);
	best = config_closest(given, names, NOPTIONS);
	if (best && strcmp(best, "token"))
		return usage_error(progname, "unknown option '%s' (did you mean --%s?)", arg, best);
	return usage_error(progname, "unknown option '%s'", arg);
}

/* What the row says to do with the value; -1 to go on, or an exit code. */
static int take(const struct option_row *r, struct cli *o, int argc, char **argv)
{
	switch (r->what) {
	case O_VALUE:
		*(const char **)(void *)((char *)o + r->off) = optarg;
		break;
	case O_SWITCH:
		*(int *)(void *)((char *)o + r->off) = 1;
		break;
	case O_OPTIONAL:
		/* the only one is --stop: "--stop KERNEL" as well as "--stop=KERNEL" */
		o->stop = 1;
		if (optarg)
			o->stop_id = optarg;
		else if (optind < argc && argv[optind][0] != '-')
			o->stop_id = argv[optind++];
		break;
	case O_VERSION:
		printf("agent %s (libwebsockets %s, %s, jansson %s)\n", AGENT_VERSION,
		       lws_get_library_version(), curl_version(), JANSSON_VERSION);
		return EXIT_OK;
	case O_HELP:
		cli_usage(stdout);
		return EXIT_OK;
	case O_REFUSED:
		fprintf(stderr, "agent: tokens are not accepted on the command line, where other "
			"users can read them; use token_file = in a config file or the "
			"JUPYTER_TOKEN environment variable\n");
		return EXIT_CONFIG;
	}
	return -1;
}

int cli_parse(int argc, char **argv, struct cli *o)
{
	static const int how[] = { [O_VALUE] = required_argument, [O_SWITCH] = no_argument,
		[O_OPTIONAL] = optional_argument, [O_VERSION] = no_argument,
		[O_HELP] = no_argument, [O_REFUSED] = required_argument };
	struct option longopts[NOPTIONS + 1];
	char shortopts[2 * NOPTIONS + 2] = ":";
	size_t i, ns = 1;
	int c, rc;

	memset(o, 0, sizeof(*o));
	o->progname = argc > 0 && argv[0] && *argv[0] ? argv[0] : "agent";
	memset(longopts, 0, sizeof(longopts));
	for (i = 0; i < NOPTIONS; i++) {
		longopts[i].name = options[i].name;
		longopts[i].has_arg = how[options[i].what];
		longopts[i].val = 256 + (int)i;
		if (options[i].letter) {
			shortopts[ns++] = options[i].letter;
			if (how[options[i].what] == required_argument)
				shortopts[ns++] = ':';
		}
	}
	shortopts[ns] = '\0';

	opterr = 0;
	optind = 0;	/* glibc: a fresh scan, also when called again (unit tests) */
	while ((c = getopt_long(argc, argv, shortopts, longopts, NULL)) != -1) {
		if (c == ':')
			return usage_error(o->progname, "option '%s' needs a value", argv[optind - 1]);
		for (i = 0; i < NOPTIONS && c < 256 && options[i].letter != c; i++)
			;
		if (c >= 256)
			i = (size_t)(c - 256);
		if (c == '?' || i >= NOPTIONS)
			return unknown_option(o->progname, argv[optind - 1]);
		if ((rc = take(&options[i], o, argc, argv)) >= 0)
			return rc;
	}
	if (optind < argc)
		return usage_error(o->progname, "unexpected argument '%s'", argv[optind]);
	if (o->foreground && o->detach)
		return usage_error(o->progname, "%s", "--foreground and --detach cannot be combined");
	if (o->verbose && o->quiet)
		return usage_error(o->progname, "%s", "-v and -q cannot be combined");
	if (o->url && strchr(o->url, '?') && strstr(strchr(o->url, '?'), "token=")) {
		/* argv is readable by every user of the machine. */
		fprintf(stderr, "agent: --url must not carry a token (every user can read the command "
			"line); put it in JUPYTER_TOKEN or in token_file = of a config file\n");
		return EXIT_CONFIG;
	}
	return -1;
}

void cli_load(const struct cli *o, struct agent_config *cfg, struct config_errors *errs)
{
	if (o->config_path)
		config_load(o->config_path, cfg, errs);
	if (o->url)
		config_add_cli_target(cfg, o->url, o->kernel, errs);
}

int cli_finish(const struct cli *o, struct agent_config *cfg, struct config_errors *errs)
{
	char err[512];
	int rc = 0;

	if (config_finish(cfg, errs) != 0)
		return -1;
	for (size_t i = 0; i < NOPTIONS; i++) {
		const struct option_row *r = &options[i];
		const char *v;

		if (!r->key)
			continue;
		v = *(const char *const *)(const void *)((const char *)o + r->off);
		/* --kernel with --url is that target's (cli_load), not every target's */
		if (!v || (o->url && r->off == offsetof(struct cli, kernel)))
			continue;
		if (config_override(cfg, r->key, v, err, sizeof(err)) != 0) {
			config_add_error(errs, "--%s: %s", r->name, err);
			rc = -1;
		}
	}
	return rc;
}
