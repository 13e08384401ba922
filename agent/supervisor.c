/* SPDX-License-Identifier: MIT */
/*
 * supervisor: the targets, the loop, and how the agent ends (see supervisor.h).
 *
 * One lws context runs everything: the kernel WebSockets, curl (rest.c),
 * the stop conditions (watch.c) and the signals, read from a signalfd
 * adopted into the loop. Targets report back through two callbacks:
 * changed (a round done: refresh the state file) and ended (for good: the
 * exit-code policy decides whether the agent goes on).
 */
#include <limits.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/signalfd.h>
#include <time.h>
#include <unistd.h>

#include <curl/curl.h>
#include <jansson.h>
#include <libwebsockets.h>

#include "cli.h"
#include "daemon.h"
#include "jmsg.h"
#include "kernel_ws.h"
#include "log.h"
#include "notify.h"
#include "progress.h"
#include "recorder.h"
#include "rest.h"
#include "supervisor.h"
#include "target.h"
#include "timer.h"
#include "url.h"
#include "watch.h"

/* The one piece of state the event loop needs. */
struct supervisor {
	const struct supervisor_opts *o;
	struct agent_config *cfg;
	struct target_env env;
	struct target **targets;
	size_t ntargets, nlive;
	struct watch *watch;
	struct notify *notify;
	struct progress *progress;	/* status line or periodic summary */
	int exit_code;
	int stopping;
	char stop_reason[1024];
	char worst[1024];		/* the worst target ending so far: "name: why" */
	pid_t pid;			/* ours, after detaching */
	char exe[PATH_MAX];		/* /proc/self/exe, read once */
	time_t started;
	lws_sorted_usec_list_t sul_shutdown;
	lws_sorted_usec_list_t sul_state;	/* coalesces state-file writes */
	int state_pending;
	double state_written;		/* monotonic time of the last write, 0 = never */
	char *state_text;		/* the state as last written, to skip identical writes */
	int shutdown_deadline;
};

/* ---- what is said at start ---- */

/* The value of a "Name: value" header line. */
static const char *header_value(const char *line)
{
	const char *colon = strchr(line, ':');

	return colon ? colon + 1 + strspn(colon + 1, " \t") : line;
}

void supervisor_register_secrets(const struct agent_config *cfg)
{
	size_t i, h;

	for (i = 0; i < cfg->ntargets; i++) {
		const struct target_config *tc = &cfg->targets[i];

		if (tc->token)
			log_add_secret(tc->token);
		for (h = 0; h < tc->headers.n; h++)
			log_add_secret(header_value(tc->headers.v[h]));
	}
	for (i = 0; i < cfg->notify_headers.n; i++)
		log_add_secret(header_value(cfg->notify_headers.v[i]));
}

static void warn_insecure_target(const struct target_config *tc)
{
	const char *url = config_target_url(tc);

	if (tc->insecure)
		log_warn(tc->name, "insecure_skip_verify = true: the server's certificate is NOT "
			 "checked; anyone on the path can read the token. Prefer ca_file =");
	if (tc->token && *tc->token && !strncmp(url, "http://", 7) && !url_is_loopback(url))
		log_warn(tc->name, "the token is sent over plain http to a host that is not "
			 "loopback; anyone on the path can read it. Use https://");
}

void supervisor_warn_insecure(const struct agent_config *cfg)
{
	for (size_t i = 0; i < cfg->ntargets; i++)
		warn_insecure_target(&cfg->targets[i]);
}

/* "kernel 0a1b2c3d", "the kernel of train.ipynb", "all kernels", "the most recent kernel" */
static const char *kept_what(const struct target_config *tc, char *out, size_t outlen)
{
	switch (tc->kernel) {
	case KSEL_ID:
		snprintf(out, outlen, "kernel %.8s", tc->kernel_arg);
		break;
	case KSEL_NOTEBOOK:
		snprintf(out, outlen, "the kernel of %s", tc->kernel_arg);
		break;
	case KSEL_ALL:
		snprintf(out, outlen, "all kernels");
		break;
	case KSEL_AUTO:
		snprintf(out, outlen, "the most recent kernel");
		break;
	}
	return out;
}

void supervisor_summary(const struct agent_config *cfg, int colab, FILE *out)
{
	size_t i;

	for (i = 0; i < cfg->ntargets; i++) {
		const struct target_config *tc = &cfg->targets[i];
		char url[512], what[600];

		log_redact(config_target_url(tc), url, sizeof(url));
		if (tc->kind == TARGET_PING)
			fprintf(out, "agent: pinging %s every %lds\n", url, tc->interval_ms / 1000);
		else
			fprintf(out, "agent: keeping %s at %s alive every %lds (mode %s)\n",
				kept_what(tc, what, sizeof(what)), url, tc->interval_ms / 1000,
				tc->mode == MODE_BOTH ? "both" : tc->mode == MODE_HTTP ? "http" : "execute");
		if (tc->kind == TARGET_JUPYTER && !recorder_is_off(tc->record))
			fprintf(out, "agent: recording cell output to %s (--record off to stop)\n",
				tc->record);
	}
	if (colab)
		fprintf(out, "agent: Colab: this keeps the kernel and the VM's Jupyter server active, "
			"but Colab's own idle timer may count only browser or tunnel activity; "
			"see the README's Colab section\n");
}

/* The start-up banner on stderr; with --log-json, as JSON lines like the rest. */
static void banner(struct supervisor *s)
{
	char *text = NULL, *line, *save = NULL;
	size_t len = 0;
	FILE *m;

	if (!s->o->cli->log_json) {
		supervisor_summary(s->cfg, s->o->colab, stderr);
		return;
	}
	if (!(m = open_memstream(&text, &len)))
		return;
	supervisor_summary(s->cfg, s->o->colab, m);
	fclose(m);
	for (line = strtok_r(text, "\n", &save); line; line = strtok_r(NULL, "\n", &save))
		log_info(NULL, "%s", strncmp(line, "agent: ", 7) ? line : line + 7);
	free(text);
}

/* "keeping lab (http://…/), colab-tunnel (https://…)": what a phone screen needs. */
static void notify_started(struct supervisor *s)
{
	char what[512], url[256];
	size_t i;
	int n = snprintf(what, sizeof(what), "keeping");

	for (i = 0; i < s->cfg->ntargets && n > 0 && (size_t)n < sizeof(what); i++) {
		const struct target_config *tc = &s->cfg->targets[i];

		log_redact(config_target_url(tc), url, sizeof(url));
		n += snprintf(what + n, sizeof(what) - (size_t)n, "%s %s (%s)", i ? "," : "",
			      tc->name, url);
	}
	notify_send(s->notify, "started", NULL, what);
}

/* ---- state file ---- */

char *supervisor_stop_text(const struct agent_config *cfg, char *stop, size_t len)
{
	char d[32];
	int n = 0;

	stop[0] = '\0';
	if (cfg->for_ms > 0)
		n += snprintf(stop + n, len - (size_t)n, "after %s; ",
			      timer_format_duration(cfg->for_ms, d, sizeof(d)));
	if (cfg->while_pid > 0 && n < (int)len)
		n += snprintf(stop + n, len - (size_t)n, "when pid %d ends; ", (int)cfg->while_pid);
	if (cfg->while_fresh_path && n < (int)len)
		n += snprintf(stop + n, len - (size_t)n, "when %s is quiet for %s; ",
			      cfg->while_fresh_path,
			      timer_format_duration(cfg->while_fresh_ms, d, sizeof(d)));
	if (n >= 2 && n < (int)len)
		stop[n - 2] = '\0';	/* drop the last "; " */
	return stop;
}

/* The agent as status.h models it; clear it with status_agent_clear. */
static void state_model(struct supervisor *s, struct agent_status *a)
{
	const struct agent_config *cfg = s->cfg;
	char stop[512], d[32];
	const char *why;
	double until;

	memset(a, 0, sizeof(*a));
	a->pid = (int)s->pid;
	a->started = (double)s->started;
	a->exit_code = -1;
	snprintf(a->log, sizeof(a->log), "%s", s->o->log_path);
	snprintf(a->exe, sizeof(a->exe), "%s", s->exe);
	supervisor_stop_text(cfg, stop, sizeof(stop));
	/* --linger: in the stop text, and the countdown once it runs */
	if (stop[0] && cfg->linger_ms > 0 && (cfg->while_pid > 0 || cfg->while_fresh_path))
		snprintf(a->stop, sizeof(a->stop), "%s, then linger %s", stop,
			 timer_format_duration(cfg->linger_ms, d, sizeof(d)));
	else
		snprintf(a->stop, sizeof(a->stop), "%s", stop[0] ? stop : "until stopped");
	if (watch_lingering(s->watch, &until, &why)) {
		a->linger_until = until;
		snprintf(a->linger_reason, sizeof(a->linger_reason), "%s", why);
	}
	a->targets = s->ntargets ? calloc(s->ntargets, sizeof(*a->targets)) : NULL;
	for (size_t i = 0; a->targets && i < s->ntargets; i++)
		if (s->targets[i])
			target_status(s->targets[i], &a->targets[a->ntargets++]);
}

/* The whole state file (daemon.c names its fields). */
static json_t *state_json(struct supervisor *s)
{
	struct agent_status a;
	json_t *j;

	state_model(s, &a);
	j = daemon_state_json(&a);
	status_agent_clear(&a);
	return j;
}

/* Written only when a reader would see a change: rounds, kernels, stop conditions. */
static void state_write(struct supervisor *s)
{
	json_t *j;
	char *text;

	if (!s->o->state_dir)
		return;
	/* Never changes: read once, not at every write (a readlink each time). */
	if (!s->exe[0]) {
		ssize_t n = readlink("/proc/self/exe", s->exe, sizeof(s->exe) - 1);

		s->exe[n > 0 ? n : 0] = '\0';
	}
	if (!(j = state_json(s)))
		return;
	text = json_dumps(j, JSON_COMPACT | JSON_SORT_KEYS);
	if (!text || !s->state_text || strcmp(text, s->state_text) != 0) {
		s->state_written = timer_mono_s();
		if (daemon_state_write(s->o->state_dir, s->pid, j) == 0 && text) {
			free(s->state_text);
			s->state_text = text;
			text = NULL;
		}
	}
	free(text);
	json_decref(j);
}

static void state_finish(struct supervisor *s)
{
	struct agent_status a;

	if (!s->o->state_dir)
		return;
	state_model(s, &a);
	a.ended = 1;
	snprintf(a.exit_reason, sizeof(a.exit_reason), "%s",
		 s->stop_reason[0] ? s->stop_reason : "stopped");
	a.exit_code = s->exit_code;
	a.exited = (double)time(NULL);
	daemon_state_store(s->o->state_dir, &a);
	status_agent_clear(&a);
}

static void state_write_cb(lws_sorted_usec_list_t *sul)
{
	struct supervisor *s = lws_container_of(sul, struct supervisor, sul_state);

	s->state_pending = 0;
	state_write(s);
}

/* ---- stopping, and the exit-code policy ---- */

static void supervisor_stop(struct supervisor *s, int code, const char *reason)
{
	size_t i;

	if (s->stopping)
		return;
	s->stopping = 1;
	s->exit_code = code;
	snprintf(s->stop_reason, sizeof(s->stop_reason), "%s", reason);
	for (i = 0; i < s->ntargets; i++)
		target_stop(s->targets[i]);
	/* Called from a timer or callback: lws_service() would otherwise go on
	 * to sleep in poll() until the next event before the loop sees this. */
	lws_cancel_service(s->env.ctx);
}

/* Many kernels acknowledge within moments of each other: write the state
 * file at most once a second, on the trailing edge of the changes. */
static void state_soon(struct supervisor *s)
{
	if (!s->o->state_dir || s->state_pending || s->stopping)
		return;
	s->state_pending = 1;
	lws_sul_schedule(s->env.ctx, 0, &s->sul_state, state_write_cb, LWS_US_PER_SEC);
}

/* A round's read-back is in: the state is whole, write it in this wakeup
 * rather than a second later (that second would cost one of its own),
 * unless the last write is under a second old. */
static void on_target_settled(void *ud, struct target *t)
{
	struct supervisor *s = ud;

	(void)t;
	if (!s->o->state_dir || s->stopping)
		return;
	if (s->state_written && timer_mono_s() - s->state_written < 1.0) {
		state_soon(s);
		return;
	}
	if (s->state_pending) {
		timer_cancel(s->env.ctx, &s->sul_state);
		s->state_pending = 0;
	}
	state_write(s);
}

static void on_target_changed(void *ud, struct target *t)
{
	struct supervisor *s = ud;
	const char *ok = target_verified(t);

	progress_update(s->progress);
	if (ok) {	/* the notebook cell that started us is waiting for this */
		char msg[512];

		snprintf(msg, sizeof(msg), "%s: %s", target_name(t), ok);
		daemon_launch_report(EXIT_OK, msg);
	}
	state_soon(s);
}

static void on_target_ended(void *ud, struct target *t, int code, const char *why)
{
	struct supervisor *s = ud;

	if (code != 0) {
		char msg[1024];

		snprintf(msg, sizeof(msg), "%s: %s", target_name(t), why);
		daemon_launch_report(code, msg);
	}
	if (code == 0)
		log_info(target_name(t), "%s", why);
	else if (code != EXIT_AUTH)	/* a rejected token is said once, at exit */
		log_error(target_name(t), "%s", why);
	if (code != 0)
		notify_send(s->notify, "target-lost", target_name(t), why);
	/* The worst ending is the agent's: its exit code and its reason, so
	 * that a multi-target --once with one failure does not end with
	 * another target's "round verified". */
	if (code > s->exit_code || !s->worst[0]) {
		s->exit_code = code > s->exit_code ? code : s->exit_code;
		snprintf(s->worst, sizeof(s->worst), "%s: %s", target_name(t), why);
	}
	if (s->nlive > 0)
		s->nlive--;
	/* A rejected token is a configuration problem: stop everything, say it
	 * once. A ping target that gives up on 4xx stops only itself. */
	if (code == EXIT_AUTH && target_config(t)->kind == TARGET_JUPYTER) {
		char msg[1024];

		snprintf(msg, sizeof(msg), "target '%s': %s", target_name(t), why);
		supervisor_stop(s, EXIT_AUTH, msg);
		return;
	}
	if (s->nlive == 0)
		supervisor_stop(s, s->exit_code, s->worst);
}

/* ---- stop conditions ---- */

static void on_watch_fired(void *ud, const char *reason)
{
	struct supervisor *s = ud;

	log_info(NULL, "stopping: %s", reason);
	notify_send(s->notify, "stop-condition", NULL, reason);
	supervisor_stop(s, EXIT_OK, reason);
}

/* --linger: the job ended; the session stays a while for its results. */
static void on_watch_lingering(void *ud, const char *reason, double until)
{
	struct supervisor *s = ud;
	char msg[600];

	watch_linger_message(reason, s->cfg->linger_ms, until, msg, sizeof(msg));
	log_info(NULL, "%s", msg);
	notify_send(s->notify, "lingering", NULL, msg);
	state_write(s);
}

static void on_watch_warning(void *ud, const char *msg)
{
	struct supervisor *s = ud;

	log_warn(NULL, "%s", msg);
	notify_send(s->notify, "ending-soon", NULL, msg);
}

static int start_watches(struct supervisor *s)
{
	const struct agent_config *cfg = s->cfg;
	char err[256];

	s->watch = watch_new(s->env.ctx, on_watch_fired, s);
	if (!s->watch)
		return -1;
	watch_set_warning(s->watch, on_watch_warning);
	watch_set_linger(s->watch, cfg->linger_ms, on_watch_lingering);
	if (cfg->while_pid > 0 && watch_pid(s->watch, cfg->while_pid, err, sizeof(err)) != 0) {
		log_error(NULL, "--while-pid: %s", err);
		return -1;
	}
	if (cfg->while_fresh_path &&
	    watch_fresh(s->watch, cfg->while_fresh_path, cfg->while_fresh_ms, err, sizeof(err)) != 0) {
		log_error(NULL, "--while-fresh: %s", err);
		return -1;
	}
	if (cfg->for_ms > 0)
		watch_for(s->watch, cfg->for_ms, 15L * 60 * 1000);
	return 0;
}

/* ---- reload ---- */

/* Move the start-only settings from old into new (old is freed next). */
static void keep_start_settings(struct agent_config *new, struct agent_config *old)
{
	struct header_list h;
	char *str;
	enum notify_format f;

	new->for_ms = old->for_ms;
	new->while_pid = old->while_pid;
	new->while_fresh_ms = old->while_fresh_ms;
	new->linger_ms = old->linger_ms;
	str = new->while_fresh_path;
	new->while_fresh_path = old->while_fresh_path;
	old->while_fresh_path = str;
	str = new->notify_url;
	new->notify_url = old->notify_url;
	old->notify_url = str;
	h = new->notify_headers;
	new->notify_headers = old->notify_headers;
	old->notify_headers = h;
	f = new->notify_format;
	new->notify_format = old->notify_format;
	old->notify_format = f;
}

/* The new targets: the running ones whose settings did not change, and new ones for the rest. */
static size_t swap_targets(struct supervisor *s, struct agent_config *ncfg, struct target **nt)
{
	size_t i, j, n = 0;

	for (j = 0; j < ncfg->ntargets; j++) {
		for (i = 0; i < s->ntargets; i++) {
			struct target *t = s->targets[i];

			if (t && !target_is_ended(t) &&
			    config_target_equal(target_config(t), &ncfg->targets[j])) {
				target_set_config(t, &ncfg->targets[j]);
				nt[j] = t;
				s->targets[i] = NULL;
				break;
			}
		}
	}
	for (i = 0; i < s->ntargets; i++) {
		if (s->targets[i]) {
			log_info(target_name(s->targets[i]), "removed or changed by the new config");
			target_free(s->targets[i]);
		}
	}
	for (j = 0; j < ncfg->ntargets; j++) {
		if (!nt[j]) {
			nt[j] = target_new(&s->env, &ncfg->targets[j]);
			if (!nt[j])
				continue;
			log_info(ncfg->targets[j].name, "started by the new config");
			warn_insecure_target(&ncfg->targets[j]);
			target_start(nt[j]);
		}
		nt[n++] = nt[j];
	}
	return n;
}

/*
 * SIGHUP: read the config file again. A bad new config is reported and the
 * old one keeps running; targets whose settings did not change keep their
 * connections. Stop conditions and notifications are read at start only.
 */
static void reload(struct supervisor *s)
{
	struct agent_config ncfg;
	struct config_errors errs = {0};
	struct target **nt = NULL;
	size_t i, n, live = 0;

	if (!s->o->cli->config_path) {
		log_warn(NULL, "SIGHUP: there is no config file to reload (targets came from flags)");
		return;
	}
	config_init(&ncfg);
	cli_load(s->o->cli, &ncfg, &errs);
	if (errs.n || cli_finish(s->o->cli, &ncfg, &errs) != 0 || ncfg.ntargets == 0) {
		for (i = 0; i < errs.n; i++)
			log_error(NULL, "%s", errs.msg[i]);
		log_error(NULL, "SIGHUP: the new config has errors; keeping the current one");
		goto out;
	}
	nt = calloc(ncfg.ntargets, sizeof(*nt));
	if (!nt) {
		log_error(NULL, "SIGHUP: out of memory; keeping the current config");
		goto out;
	}
	supervisor_register_secrets(&ncfg);
	for (i = 0; i < errs.nwarn; i++)
		log_warn(NULL, "%s", errs.warn[i]);
	n = swap_targets(s, &ncfg, nt);
	for (i = 0; i < n; i++)
		live += !target_is_ended(nt[i]);
	free(s->targets);
	s->targets = nt;
	s->ntargets = n;
	s->nlive = live;
	/* Stop conditions and notifications are read at start only: keep the
	 * running ones (the notifier and watches point at them). */
	keep_start_settings(&ncfg, s->cfg);
	config_free(s->cfg);
	*s->cfg = ncfg;
	config_init(&ncfg);
	log_info(NULL, "SIGHUP: config reloaded; %zu target(s)", n);
	state_write(s);
out:
	config_free(&ncfg);
	config_errors_free(&errs);
}

/* ---- signals, adopted into the loop as a signalfd ---- */

static int signal_cb(struct lws *wsi, enum lws_callback_reasons reason, void *user, void *in,
		     size_t len)
{
	struct supervisor *s = lws_context_user(lws_get_context(wsi));
	struct signalfd_siginfo si;
	int fd;

	(void)user; (void)in; (void)len;
	if (reason != LWS_CALLBACK_RAW_RX_FILE)
		return 0;
	fd = lws_get_socket_fd(wsi);
	while (read(fd, &si, sizeof(si)) == (ssize_t)sizeof(si)) {
		if (si.ssi_signo == SIGHUP) {
			reload(s);
			continue;
		}
		log_info(NULL, "received %s; closing connections", strsignal((int)si.ssi_signo));
		supervisor_stop(s, EXIT_OK, si.ssi_signo == SIGINT ? "interrupted (SIGINT)"
								   : "terminated (SIGTERM)");
	}
	return 0;
}

static const struct lws_protocols signal_protocol = {
	.name = "agent-signals",
	.callback = signal_cb,
};

/* The signals the agent handles: blocked at start, then read from a signalfd. */
static void handled_signals(sigset_t *set)
{
	sigemptyset(set);
	sigaddset(set, SIGINT);
	sigaddset(set, SIGTERM);
	sigaddset(set, SIGHUP);
}

static int adopt_signals(struct supervisor *s)
{
	sigset_t set;
	int fd;
	lws_sock_file_fd_type u;

	handled_signals(&set);
	fd = signalfd(-1, &set, SFD_NONBLOCK | SFD_CLOEXEC);
	if (fd < 0)
		return -1;
	u.filefd = (lws_filefd_type)(intptr_t)fd;
	if (!lws_adopt_descriptor_vhost(lws_get_vhost_by_name(s->env.ctx, "default"),
					LWS_ADOPT_RAW_FILE_DESC, u, signal_protocol.name, NULL)) {
		close(fd);
		return -1;
	}
	return 0;
}

/* ---- the loop ---- */

static void lws_log_emit(int level, const char *line)
{
	size_t n = strlen(line);

	/* lws's own lines are details; the agent logs what a user needs. */
	if (n && line[n - 1] == '\n')
		n--;
	log_debug("lws", "%.*s", (int)n, line);
	(void)level;
}

static struct lws_context *make_context(struct supervisor *s)
{
	static struct lws_protocols list[5];	/* ends with a zeroed entry */
	struct lws_context_creation_info info;
	struct lws_context *ctx;

	list[0] = kws_protocol;
	list[1] = rest_protocol;
	list[2] = watch_protocol;
	list[3] = signal_protocol;
	memset(&info, 0, sizeof(info));
	info.port = CONTEXT_PORT_NO_LISTEN;
	/*
	 * The "default" vhost (rest, watch and signals live there) is made by
	 * hand, without a client SSL_CTX: one would read the system's CA bundle
	 * (~25 ms at start-up) even when every target is plain http. wss://
	 * connections get vhosts of their own (kernel_ws.c).
	 */
	info.options = LWS_SERVER_OPTION_DO_SSL_GLOBAL_INIT | LWS_SERVER_OPTION_EXPLICIT_VHOSTS;
	info.protocols = list;
	info.user = s;
	info.timeout_secs = 20;
	/* The default sizes the fd table from ulimit -n, which can be a million
	 * in containers; the agent needs a handful (lws falls back to a linear
	 * lookup for higher fds: lib/core-net/wsi.c, 4.0 to 4.3). */
	info.fd_limit_per_thread = 256;
	ctx = lws_create_context(&info);
	if (!ctx)
		return NULL;
	info.options = 0;
	info.vhost_name = "default";
	if (!lws_create_vhost(ctx, &info)) {
		lws_context_destroy(ctx);
		return NULL;
	}
	return ctx;
}

static void shutdown_deadline_cb(lws_sorted_usec_list_t *sul)
{
	struct supervisor *s = lws_container_of(sul, struct supervisor, sul_shutdown);

	s->shutdown_deadline = 1;
}

static void run_loop(struct supervisor *s)
{
	while (!s->stopping)
		if (lws_service(s->env.ctx, 0) < 0)
			break;
	/* Let the close frames and last notifications go out: at most a second. */
	lws_sul_schedule(s->env.ctx, 0, &s->sul_shutdown, shutdown_deadline_cb, 1000 * 1000);
	while ((kws_live_count() > 0 || notify_pending(s->notify) > 0) && !s->shutdown_deadline)
		if (lws_service(s->env.ctx, 0) < 0)
			break;
}

/* The loop's modules, then one target per configured target. EXIT_OK or why not. */
static int setup(struct supervisor *s)
{
	const struct cli *cli = s->o->cli;
	size_t i;

	jmsg_uuid(s->env.session_id);
	s->env.username = "keepalive-agent";
	s->env.once = cli->once;
	if (cli->once)
		timer_hold_off();
	s->env.ended = on_target_ended;
	s->env.changed = on_target_changed;
	s->env.settled = on_target_settled;
	s->env.ud = s;
	s->env.ctx = make_context(s);
	if (!s->env.ctx) {
		log_error(NULL, "cannot create the event loop");
		return EXIT_INTERNAL;
	}
	s->env.rest = rest_new(s->env.ctx);
	if (!s->env.rest || adopt_signals(s) != 0) {
		log_error(NULL, "cannot set up the event loop");
		return EXIT_INTERNAL;
	}
	if (start_watches(s) != 0)
		return EXIT_CONFIG;
	s->notify = notify_new(s->env.rest, s->cfg);
	s->env.notify = s->notify;
	s->env.own_kernel = s->o->own_kernel;
	s->targets = calloc(s->cfg->ntargets, sizeof(*s->targets));
	if (!s->targets)
		return EXIT_INTERNAL;
	for (i = 0; i < s->cfg->ntargets; i++) {
		s->targets[i] = target_new(&s->env, &s->cfg->targets[i]);
		if (!s->targets[i])
			return EXIT_INTERNAL;
		s->ntargets++;
	}
	s->nlive = s->ntargets;
	return EXIT_OK;
}

int supervisor_run(struct agent_config *cfg, const struct supervisor_opts *o)
{
	const struct cli *cli = o->cli;
	struct supervisor s;
	sigset_t set;
	size_t i;
	int rc;

	memset(&s, 0, sizeof(s));
	s.o = o;
	s.cfg = cfg;
	s.started = time(NULL);
	s.pid = getpid();	/* after detaching: the pid the state file names */

	/* Signals are blocked before curl starts any thread, then read from a signalfd. */
	handled_signals(&set);
	sigprocmask(SIG_BLOCK, &set, NULL);
	signal(SIGPIPE, SIG_IGN);
	curl_global_init(CURL_GLOBAL_DEFAULT);
	lws_set_log_level(cli->verbose ? LLL_ERR | LLL_WARN : LLL_ERR, lws_log_emit);

	rc = setup(&s);
	if (rc == EXIT_OK) {
		if (!o->detached && !cli->once)
			banner(&s);
		notify_started(&s);
		if (!cli->once)
			s.progress = progress_new(s.env.ctx, !o->detached && !cli->verbose &&
						  !cli->log_json && isatty(STDERR_FILENO),
						  &s.targets, &s.ntargets);
		for (i = 0; i < s.ntargets && !s.stopping; i++)
			target_start(s.targets[i]);
		state_write(&s);
		run_loop(&s);
		progress_free(s.progress);
		s.progress = NULL;
		rc = s.exit_code;
		if (rc == EXIT_AUTH)
			fprintf(stderr, "agent: %s\n", s.stop_reason);
		else
			log_info(NULL, "stopped: %s", s.stop_reason);
		state_finish(&s);
	}
	progress_free(s.progress);
	for (i = 0; i < s.ntargets; i++)
		target_free(s.targets[i]);
	free(s.targets);
	free(s.state_text);
	notify_free(s.notify);
	watch_free(s.watch);
	rest_free(s.env.rest);
	if (s.env.ctx)
		lws_context_destroy(s.env.ctx);
	curl_global_cleanup();
	return rc;
}
