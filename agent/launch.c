/* SPDX-License-Identifier: MIT */
/* launch: discovery, start-up checks, detaching and --stop (see launch.h). */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "config.h"
#include "daemon.h"
#include "discover.h"
#include "launch.h"
#include "log.h"
#include "proc.h"
#include "supervisor.h"
#include "timer.h"

/* How long a notebook cell waits for a detached agent's first round. */
#define LAUNCH_WAIT_MS 15000

int launch_discover(struct agent_config *cfg, const char *kernel, struct discovered *d,
		    struct config_errors *errs)
{
	struct discover_env de;
	struct target_config *tc;
	char err[2048];

	discover_env_default(&de);
	if (discover_all(&de, d, err, sizeof(err)) != 0) {
		fprintf(stderr, "agent: found no Jupyter server to keep alive.\n%s\n", err);
		return EXIT_NOTHING;
	}
	if (config_add_cli_target(cfg, d->url, d->kernel_id ? d->kernel_id : kernel, errs) != 0)
		return EXIT_CONFIG;
	tc = &cfg->targets[cfg->ntargets - 1];
	free(tc->name);
	tc->name = strdup(d->kind == DISCOVER_HUB ? "hub" : d->kind == DISCOVER_COLAB ? "colab" : "notebook");
	free(tc->token);
	tc->token = d->token ? strdup(d->token) : NULL;
	if (d->hub_api_url) {
		free(tc->hub_api_url);
		tc->hub_api_url = strdup(d->hub_api_url);
	}
	tc->discovered = 1;
	log_info(NULL, "found %s", d->how);
	return -1;
}

/*
 * The advice after "several servers" is --url, which must not lose what
 * discovery could read: the server's own runtime file has the token.
 */
void launch_token_from_runtime_file(struct agent_config *cfg)
{
	struct discover_env de;
	char *tok, *path;

	discover_env_default(&de);
	for (size_t i = 0; i < cfg->ntargets; i++) {
		struct target_config *tc = &cfg->targets[i];

		if (tc->kind != TARGET_JUPYTER || tc->line || !tc->url || (tc->token && *tc->token))
			continue;
		if (discover_token_for_url(&de, tc->url, &tok, &path) < 0)
			continue;
		free(tc->token);
		tc->token = tok;
		log_info(tc->name, "using the token from %s, the server's runtime file", path);
		free(path);
	}
}

void launch_note_trimmed_urls(const struct agent_config *cfg)
{
	for (size_t i = 0; i < cfg->ntargets; i++)
		if (cfg->targets[i].url_trimmed)
			log_info(cfg->targets[i].name, "using the server's base URL %s (the rest of the "
				 "URL given is a page in the browser)", cfg->targets[i].url);
}

int launch_check_stop_conditions(const struct agent_config *cfg)
{
	struct stat st;

	if (cfg->while_pid > 0 && proc_pid_gone(cfg->while_pid)) {
		fprintf(stderr, "agent: --while-pid: there is no process %d; give the pid of the "
			"running job (e.g. from 'pgrep -f train.py')\n", (int)cfg->while_pid);
		return -1;
	}
	if (cfg->while_fresh_path && stat(cfg->while_fresh_path, &st) != 0) {
		fprintf(stderr, "agent: --while-fresh: cannot watch %s: %s\n", cfg->while_fresh_path,
			strerror(errno));
		return -1;
	}
	if (cfg->linger_ms > 0 && cfg->while_pid <= 0 && !cfg->while_fresh_path)
		fprintf(stderr, "agent: warning: --linger applies when --while-pid or --while-fresh "
			"ends the job; neither is set, so it does nothing\n");
	return 0;
}

int launch_already_running(const char *state_dir, const char *kernel_id, const char *progname,
			   int given_args)
{
	pid_t other;

	if (daemon_find_running(state_dir, kernel_id, &other) != 1)
		return 0;
	printf("agent: already running (pid %d) for kernel %.8s; see '%s --status', "
	       "or '%s --stop' to stop it\n", (int)other, kernel_id, progname, progname);
	if (given_args)	/* e.g. a --while-pid meant for the new one */
		printf("agent: the options given here were not applied; to change them, "
		       "'%s --stop' first, then start it again with them\n", progname);
	return 1;
}

/*
 * In the cell that started a detached agent: wait (LAUNCH_WAIT_MS at most)
 * for its first round, so that a rejected token or a missing kernel shows
 * here and not only in the log. Returns the exit code for the cell.
 */
static int launch_said(const struct agent_config *cfg, int colab, const char *progname,
		       const char *log_path)
{
	char msg[512], stop[512];
	int code;

	supervisor_summary(cfg, colab, stdout);
	fflush(stdout);
	code = daemon_launch_wait(LAUNCH_WAIT_MS, msg, sizeof(msg));
	if (code > 0) {
		printf("agent: %s\n", msg);
		printf("agent: it stopped (exit %d); log: %s\n", code, log_path);
		return code;
	}
	if (code == 0)
		printf("agent: checked: %s\n", msg);
	else
		printf("agent: not verified yet after %d s; '%s --status' will show it\n",
		       LAUNCH_WAIT_MS / 1000, progname);
	if (cfg->for_ms > 0 || cfg->while_pid > 0 || cfg->while_fresh_path) {
		char d[32];

		printf("agent: stops %s", supervisor_stop_text(cfg, stop, sizeof(stop)));
		if (cfg->linger_ms > 0 && (cfg->while_pid > 0 || cfg->while_fresh_path))
			printf(", then lingers %s", timer_format_duration(cfg->linger_ms, d, sizeof(d)));
		printf("%s\n", cfg->for_ms > 0 ? " (--for 0 for no time cap)" : "");
	}
	printf("agent: running in the background; log: %s\n", log_path);
	printf("agent: '%s --status' shows it, '%s --stop' stops it\n", progname, progname);
	return EXIT_OK;
}

int launch_detach(const struct agent_config *cfg, const char *state_dir, const char *kernel_id,
		  int colab, const char *progname, char *log_path, size_t log_len)
{
	int rc;

	if (kernel_id)
		snprintf(log_path, log_len, "%s/agent-kernel-%.8s.log", state_dir, kernel_id);
	else
		snprintf(log_path, log_len, "%s/agent-started-by-%d.log", state_dir, (int)getpid());
	fflush(stdout);
	rc = daemon_detach(log_path);
	if (rc < 0) {
		fprintf(stderr, "agent: cannot detach: %s\n", strerror(errno));
		return EXIT_INTERNAL;
	}
	if (rc == 1)	/* the parent: say what runs once it is checked, then return the cell */
		return launch_said(cfg, colab, progname, log_path);
	return -1;
}

int launch_stop(const char *state_dir, const char *stop_id)
{
	const char *id = stop_id;
	char *own = NULL;
	struct discover_env de;
	pid_t kpid;
	int n;

	if (id && !strcmp(id, "all")) {
		id = NULL;
	} else if (!id) {
		discover_env_default(&de);
		if (discover_own_kernel(&de, &own, &kpid) == 0) {
			printf("agent: stopping this notebook's agent (kernel %.8s); "
			       "'--stop all' stops every agent\n", own);
			id = own;
		}
	}
	n = daemon_stop(state_dir, id, stdout);
	free(own);
	/* A kernel that no agent keeps is an error: the user named it. */
	return n < 0 || (n == 0 && stop_id && strcmp(stop_id, "all")) ? EXIT_GONE : EXIT_OK;
}
