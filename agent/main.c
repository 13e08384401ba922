/* SPDX-License-Identifier: MIT */
/*
 * agent: keep Jupyter kernels and servers from being culled while a long job
 * runs. main wires the modules together: parse, load, start, run, exit.
 *
 * Start-up order matters:
 *  1. parse flags and config; every error exits 2 before any network traffic
 *     (cli.c, config.c);
 *  2. with no target, discover the server and kernel we run under (launch.c);
 *  3. detach when launched from a notebook cell (launch.c, daemon.c);
 *  4. the supervisor blocks the signals it handles before curl starts any
 *     thread, then runs one lws loop for everything (supervisor.c).
 * Exit codes: enum exit_code in supervisor.h.
 */
#include <limits.h>
#include <stdio.h>

#include "cli.h"
#include "config.h"
#include "daemon.h"
#include "discover.h"
#include "launch.h"
#include "log.h"
#include "recorder.h"
#include "supervisor.h"

static void print_errors(const struct config_errors *errs)
{
	size_t i;
	char buf[1024];

	for (i = 0; i < errs->nwarn; i++)
		fprintf(stderr, "%s\n", log_redact(errs->warn[i], buf, sizeof(buf)));
	for (i = 0; i < errs->n; i++)
		fprintf(stderr, "%s\n", log_redact(errs->msg[i], buf, sizeof(buf)));
}

/* --status and --stop: about the agents already running, then exit. */
static int command(const struct cli *o)
{
	char state_dir[PATH_MAX];

	if (daemon_state_dir(state_dir, sizeof(state_dir)) != 0) {
		fprintf(stderr, "agent: no state directory; no agent has run as this user\n");
		return EXIT_OK;
	}
	if (o->status) {
		daemon_print_status(state_dir, stdout);
		return EXIT_OK;
	}
	return launch_stop(state_dir, o->stop_id);
}

/*
 * The configuration: the file, the flags over it, or discovery; then the
 * checks and warnings that must come before detaching. Returns -1 to go on,
 * or an exit code (said).
 */
static int load(const struct cli *o, struct agent_config *cfg, struct discovered *disc,
		struct config_errors *errs)
{
	int rc;

	cli_load(o, cfg, errs);
	if (errs->n) {
		print_errors(errs);
		return EXIT_CONFIG;
	}
	if (cfg->ntargets == 0 && o->config_path) {
		/* -c says where the targets are: never fall back to discovery. */
		fprintf(stderr, "%s:1: no target to keep: add a section such as [lab] with "
			"url = http://HOST:PORT/ (or ping_url = URL)\n", o->config_path);
		return EXIT_CONFIG;
	}
	if (cfg->ntargets == 0 && (rc = launch_discover(cfg, o->kernel, disc, errs)) >= 0) {
		print_errors(errs);
		return rc;
	}
	rc = cli_finish(o, cfg, errs);
	print_errors(errs);	/* warnings, and errors when rc < 0 */
	if (rc != 0)
		return EXIT_CONFIG;
	if (launch_check_stop_conditions(cfg) != 0)
		return EXIT_CONFIG;
	launch_token_from_runtime_file(cfg);
	supervisor_register_secrets(cfg);
	launch_note_trimmed_urls(cfg);
	supervisor_warn_insecure(cfg);
	return -1;
}

/*
 * Detach when launched from a notebook cell, where a plain child would block
 * the cell, get the kernel's SIGINT, and die with the kernel. A kernel
 * ancestor is the signal; stdout is no guide, since ipykernel runs !cmd on a
 * pty. A terminal in JupyterLab runs under the server, not a kernel, so the
 * agent stays attached there. Then run.
 */
static int start(const struct cli *o, struct agent_config *cfg, const struct discovered *disc,
		 int given_args)
{
	char state_dir[PATH_MAX], log_path[PATH_MAX + 128] = "";
	struct supervisor_opts so = { .cli = o, .log_path = log_path };
	struct discover_env de;
	int detach = 0, rc;

	discover_env_default(&de);
	if (!o->once)	/* discovery has already walked our parents */
		detach = o->detach || (!o->foreground && (disc->url ? disc->kernel_id != NULL
								  : discover_in_kernel(&de)));
	if (!o->once && daemon_state_dir(state_dir, sizeof(state_dir)) == 0)
		so.state_dir = state_dir;
	if (so.state_dir && disc->kernel_id &&
	    launch_already_running(state_dir, disc->kernel_id, o->progname, given_args))
		return EXIT_OK;
	if (recorder_setup(cfg, so.state_dir, disc->kernel_id, stderr))
		return EXIT_CONFIG;
	so.colab = disc->url && disc->kind == DISCOVER_COLAB;
	if (detach) {
		config_detached_defaults(cfg);
		if (!so.state_dir) {
			fprintf(stderr, "agent: cannot detach: no state directory for the log\n");
			return EXIT_INTERNAL;
		}
		rc = launch_detach(cfg, state_dir, disc->kernel_id, so.colab, o->progname,
				   log_path, sizeof(log_path));
		if (rc >= 0)
			return rc;
	}
	so.detached = detach;
	/* Attached inside a kernel (--once, --foreground): our cell keeps it busy. */
	so.own_kernel = detach ? NULL : disc->kernel_id;
	return supervisor_run(cfg, &so);
}

int main(int argc, char **argv)
{
	struct cli o;
	struct agent_config cfg;
	struct config_errors errs = {0};
	struct discovered disc = {0};
	int rc;

	rc = cli_parse(argc, argv, &o);
	if (rc >= 0)
		return rc;
	log_setup(o.verbose ? LL_DEBUG : o.quiet ? LL_WARN : LL_INFO, o.log_json);
	if (o.status || o.stop)
		return command(&o);

	config_init(&cfg);
	rc = load(&o, &cfg, &disc, &errs);
	if (rc < 0)
		rc = start(&o, &cfg, &disc, argc > 1);
	discovered_free(&disc);
	config_free(&cfg);
	config_errors_free(&errs);
	return rc;
}
