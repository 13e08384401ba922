/*
 * agent: keep Jupyter kernels and servers from being culled while a long job
 * runs. main wires the modules together: command line, start-up order, the
 * event loop, and exit codes.
 *
 * Start-up order matters:
 *  1. parse flags and config; every error exits 2 before any network traffic;
 *  2. block the signals we handle before curl_global_init (curl's threaded
 *     resolver starts threads, which must not take them);
 *  3. detach when launched from a notebook cell;
 *  4. one lws context; curl, signals and stop conditions live in its loop.
 */
#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/signalfd.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <curl/curl.h>
#include <jansson.h>
#include <libwebsockets.h>

#include "config.h"
#include "daemon.h"
#include "discover.h"
#include "kernel_ws.h"
#include "log.h"
#include "notify.h"
#include "proc.h"
#include "progress.h"
#include "recorder.h"
#include "rest.h"
#include "target.h"
#include "timer.h"
#include "url.h"
#include "watch.h"

#ifndef AGENT_VERSION
#define AGENT_VERSION "dev"
#endif

enum exit_code {
	EXIT_OK = 0,		/* stopped by a signal, --for, a stop condition, or --once verified */
	EXIT_GONE = 1,		/* what was kept went away, or --once could not verify */
	EXIT_CONFIG = 2,	/* usage or configuration error */
	EXIT_AUTH = 3,		/* a token or ping credential was rejected */
	EXIT_NOTHING = 4,	/* nothing to keep: discovery found no server */
	EXIT_INTERNAL = 5,	/* could not start (out of memory, event loop failure) */
};

#define DEFAULT_DETACHED_CAP_MS (24L * 3600 * 1000)

struct options {
	const char *config_path;
	const char *url;
	const char *kernel;
	const char *mode;
	const char *interval;
	const char *jitter;
	const char *for_dur;
	const char *while_pid;
	const char *while_fresh;
	const char *linger;
	const char *record;
	const char *ca_file;
	const char *stop_id;
	int once, foreground, detach, status, stop, verbose, quiet, log_json;
};

/* The one piece of state the event loop needs. */
struct agent {
	struct options opt;
	struct agent_config cfg;
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
	char state_dir[PATH_MAX];
	char log_path[PATH_MAX + 128];
	int write_state;
	int colab;		/* the target is Colab's in-VM server */
	time_t started;
	lws_sorted_usec_list_t sul_shutdown;
	lws_sorted_usec_list_t sul_state;	/* coalesces state-file writes */
	int state_pending;
	int shutdown_deadline;
};

/* The command as the user typed it, for hints ("jupyter-keepalive --status",
 * "./build/agent --stop"): set once from argv[0]. */
static const char *progname = "agent";

/* How long a notebook cell waits for a detached agent's first round. */
#define LAUNCH_WAIT_MS 15000

static const char usage_text[] =
"Usage: agent [OPTIONS]\n"
"Keep Jupyter kernels and servers from being culled while a long job runs.\n"
"\n"
"With no target, the agent finds the server and kernel it was started from\n"
"(run it as !./build/agent in a notebook cell) and detaches into the background.\n"
"\n"
"Targets:\n"
"  -c, --config FILE      read targets and settings from an INI file\n"
"      --url URL          keep a server at URL (token from $JUPYTER_TOKEN)\n"
"      --kernel SPEC      which kernels: auto | all | notebook:PATH | KERNEL_ID\n"
"      --mode MODE        execute | http | both (default both)\n"
"      --interval DUR     time between keepalives (default 60s; e.g. 90s, 5m, 1h30m)\n"
"      --jitter PCT       random spread of the interval (default 10%)\n"
"      --ca-file FILE     trust the CA certificates in FILE (PEM) for https\n"
"      --record FILE      append what the kept kernels' cells show to FILE\n"
"                         (on by default inside a notebook; off to disable)\n"
"\n"
"When to stop:\n"
"      --once             one verified round for every target, then exit\n"
"      --for DUR          stop after DUR (detached default 24h; 0 = no cap)\n"
"      --while-pid PID    keep alive only while process PID runs\n"
"      --while-fresh FILE:DUR  stop when FILE was not modified for DUR\n"
"      --linger DUR       when --while-pid or --while-fresh ends the job, keep\n"
"                         the session DUR more to read the results, then stop\n"
"\n"
"Running:\n"
"      --foreground       stay attached even when started from a notebook\n"
"      --detach           run in the background, logging to a file\n"
"      --status           list running agents and what they keep\n"
"      --stop [KERNEL]    stop this notebook's agent (in a notebook) or every\n"
"                         agent; KERNEL: the one keeping it, or all\n"
"  -v, --verbose          log debug details\n"
"  -q, --quiet            log warnings and errors only\n"
"      --log-json         log JSON lines instead of text\n"
"  -V, --version          print the version\n"
"  -h, --help             print this help\n"
"\n"
"Tokens are never taken from the command line: use token = or token_file = in\n"
"the config file, or the JUPYTER_TOKEN environment variable.\n"
"\n"
"Exit codes: 0 stopped normally, 1 target gone or --once failed, 2 usage or\n"
"config error, 3 token rejected, 4 nothing found to keep, 5 internal error.\n";

static int usage_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

static int usage_error(const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "agent: ");
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fprintf(stderr, "\nTry '%s --help'.\n", progname);
	return EXIT_CONFIG;
}

/* Returns -1 to continue, or an exit code. */
/* "unknown option '--intervall' (did you mean --interval?)" */
static int unknown_option(const char *arg, const struct option *longopts)
{
	const char *names[40], *name = arg, *best;
	size_t n = 0;

	while (*name == '-')
		name++;
	for (; longopts[n].name && n < sizeof(names) / sizeof(names[0]); n++)
		names[n] = longopts[n].name;
	char given[64];
	snprintf(given, sizeof(given), "%.*s", (int)strcspn(name, "="), name);
	best = config_closest(given, names, n);
	if (best && strcmp(best, "token"))
		return usage_error("unknown option '%s' (did you mean --%s?)", arg, best);
	return usage_error("unknown option '%s'", arg);
}

static int parse_args(int argc, char **argv, struct options *o)
{
	enum { O_URL = 256, O_KERNEL, O_MODE, O_INTERVAL, O_JITTER, O_ONCE, O_FOR, O_WHILE_PID,
	       O_WHILE_FRESH, O_FOREGROUND, O_DETACH, O_STATUS, O_STOP, O_LOG_JSON, O_RECORD, O_CA_FILE,
	       O_LINGER };
	static const struct option longopts[] = {
		{ "config", required_argument, NULL, 'c' },
		{ "url", required_argument, NULL, O_URL },
		{ "kernel", required_argument, NULL, O_KERNEL },
		{ "mode", required_argument, NULL, O_MODE },
		{ "interval", required_argument, NULL, O_INTERVAL },
		{ "jitter", required_argument, NULL, O_JITTER },
		{ "record", required_argument, NULL, O_RECORD },
		{ "ca-file", required_argument, NULL, O_CA_FILE },
		{ "once", no_argument, NULL, O_ONCE },
		{ "for", required_argument, NULL, O_FOR },
		{ "while-pid", required_argument, NULL, O_WHILE_PID },
		{ "while-fresh", required_argument, NULL, O_WHILE_FRESH },
		{ "linger", required_argument, NULL, O_LINGER },
		{ "foreground", no_argument, NULL, O_FOREGROUND },
		{ "detach", no_argument, NULL, O_DETACH },
		{ "status", no_argument, NULL, O_STATUS },
		{ "stop", optional_argument, NULL, O_STOP },
		{ "verbose", no_argument, NULL, 'v' },
		{ "quiet", no_argument, NULL, 'q' },
		{ "log-json", no_argument, NULL, O_LOG_JSON },
		{ "version", no_argument, NULL, 'V' },
		{ "help", no_argument, NULL, 'h' },
		{ "token", required_argument, NULL, 'T' },
		{ NULL, 0, NULL, 0 },
	};
	int c;

	opterr = 0;
	while ((c = getopt_long(argc, argv, ":c:vqVh", longopts, NULL)) != -1) {
		switch (c) {
		case 'c': o->config_path = optarg; break;
		case O_URL: o->url = optarg; break;
		case O_KERNEL: o->kernel = optarg; break;
		case O_MODE: o->mode = optarg; break;
		case O_INTERVAL: o->interval = optarg; break;
		case O_JITTER: o->jitter = optarg; break;
		case O_RECORD: o->record = optarg; break;
		case O_CA_FILE: o->ca_file = optarg; break;
		case O_ONCE: o->once = 1; break;
		case O_FOR: o->for_dur = optarg; break;
		case O_WHILE_PID: o->while_pid = optarg; break;
		case O_WHILE_FRESH: o->while_fresh = optarg; break;
		case O_LINGER: o->linger = optarg; break;
		case O_FOREGROUND: o->foreground = 1; break;
		case O_DETACH: o->detach = 1; break;
		case O_STATUS: o->status = 1; break;
		case O_STOP:
			o->stop = 1;
			if (optarg)
				o->stop_id = optarg;
			else if (optind < argc && argv[optind][0] != '-')
				o->stop_id = argv[optind++];
			break;
		case 'v': o->verbose = 1; break;
		case 'q': o->quiet = 1; break;
		case O_LOG_JSON: o->log_json = 1; break;
		case 'V':
			printf("agent %s (libwebsockets %s, %s, jansson %s)\n", AGENT_VERSION,
			       lws_get_library_version(), curl_version(), JANSSON_VERSION);
			return EXIT_OK;
		case 'h':
			fputs(usage_text, stdout);
			return EXIT_OK;
		case 'T':
			/* argv is visible to every user of the machine (ps, /proc). */
			fprintf(stderr, "agent: tokens are not accepted on the command line, where other "
				"users can read them; use token_file = in a config file or the "
				"JUPYTER_TOKEN environment variable\n");
			return EXIT_CONFIG;
		case ':':
			return usage_error("option '%s' needs a value", argv[optind - 1]);
		default:
			return unknown_option(argv[optind - 1], longopts);
		}
	}
	if (optind < argc)
		return usage_error("unexpected argument '%s'", argv[optind]);
	if (o->foreground && o->detach)
		return usage_error("%s", "--foreground and --detach cannot be combined");
	if (o->verbose && o->quiet)
		return usage_error("%s", "-v and -q cannot be combined");
	return -1;
}

/* The value of a "Name: value" header line. */
static const char *header_value(const char *line)
{
	const char *colon = strchr(line, ':');

	return colon ? colon + 1 + strspn(colon + 1, " \t") : line;
}

static void print_errors(const struct config_errors *errs)
{
	size_t i;
	char buf[1024];

	for (i = 0; i < errs->nwarn; i++)
		fprintf(stderr, "%s\n", log_redact(errs->warn[i], buf, sizeof(buf)));
	for (i = 0; i < errs->n; i++)
		fprintf(stderr, "%s\n", log_redact(errs->msg[i], buf, sizeof(buf)));
}

/* Apply --mode/--interval/--jitter/--kernel and the stop flags on top of cfg. */
static int apply_flags(const struct options *o, struct agent_config *cfg)
{
	char err[200];
	long ms;
	int pct;
	size_t i;
	enum config_mode mode = MODE_BOTH;

#define FLAG_ERROR(...) do { \
	fprintf(stderr, "agent: "); \
	fprintf(stderr, __VA_ARGS__); \
	fprintf(stderr, "\n"); \
	return -1; \
} while (0)
	if (o->mode && config_parse_mode(o->mode, &mode) != 0)
		FLAG_ERROR("--mode: '%s' is not one of execute, http, both", o->mode);
	for (i = 0; i < cfg->ntargets; i++) {
		struct target_config *tc = &cfg->targets[i];

		if (tc->kind != TARGET_JUPYTER)
			continue;
		if (o->mode)
			tc->mode = mode;
		if (o->kernel && !o->url) {
			char *arg = NULL;
			enum kernel_select sel;

			if (config_parse_kernel(o->kernel, &sel, &arg, err, sizeof(err)) != 0)
				FLAG_ERROR("--kernel: %s", err);
			free(tc->kernel_arg);
			tc->kernel = sel;
			tc->kernel_arg = arg;
		}
	}
	if (o->interval) {
		if (config_parse_duration(o->interval, &ms, err, sizeof(err)) != 0)
			FLAG_ERROR("--interval: %s", err);
		if (ms < 1000)
			FLAG_ERROR("--interval: must be at least 1s");
		cfg->interval_ms = ms;
		for (i = 0; i < cfg->ntargets; i++)
			cfg->targets[i].interval_ms = ms;
	}
	if (o->ca_file) {
		char *path = realpath(o->ca_file, NULL);
		FILE *f = path ? fopen(path, "r") : NULL;

		if (!f) {
			free(path);
			FLAG_ERROR("--ca-file: cannot read %s: %s", o->ca_file, strerror(errno));
		}
		fclose(f);
		for (i = 0; i < cfg->ntargets; i++) {
			free(cfg->targets[i].ca_file);
			cfg->targets[i].ca_file = strdup(path);
		}
		free(path);
	}
	for (i = 0; o->record && i < cfg->ntargets; i++) {
		free(cfg->targets[i].record);
		cfg->targets[i].record = strdup(recorder_is_off(o->record) ? "off" : o->record);
	}
	if (o->jitter) {
		if (config_parse_percent(o->jitter, &pct, err, sizeof(err)) != 0)
			FLAG_ERROR("--jitter: %s", err);
		for (i = 0; i < cfg->ntargets; i++)
			cfg->targets[i].jitter_pct = pct;
	}
	if (o->for_dur) {
		if (config_parse_duration(o->for_dur, &ms, err, sizeof(err)) != 0)
			FLAG_ERROR("--for: %s", err);
		cfg->for_ms = ms;
	}
	if (o->while_pid) {
		char *end;
		long pid = strtol(o->while_pid, &end, 10);

		if (*end || pid <= 0 || pid > INT_MAX)
			FLAG_ERROR("--while-pid: '%s' is not a process id", o->while_pid);
		cfg->while_pid = (pid_t)pid;
	}
	if (o->while_fresh) {
		const char *colon = strrchr(o->while_fresh, ':');

		if (!colon || colon == o->while_fresh ||
		    config_parse_duration(colon + 1, &ms, err, sizeof(err)) != 0)
			FLAG_ERROR("--while-fresh: expected FILE:DURATION, e.g. train.log:10m");
		free(cfg->while_fresh_path);
		cfg->while_fresh_path = strndup(o->while_fresh, (size_t)(colon - o->while_fresh));
		cfg->while_fresh_ms = ms;
	}
	if (o->linger) {
		if (config_parse_duration(o->linger, &ms, err, sizeof(err)) != 0)
			FLAG_ERROR("--linger: %s", err);
		cfg->linger_ms = ms;
	}
#undef FLAG_ERROR
	return 0;
}

/* Every token and header value is redacted from every line we print. */
static void register_secrets(const struct agent_config *cfg)
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

/* Said once per target, loudly: settings that weaken what protects the token. */
static void summary(struct agent *a, FILE *out);
static char *stop_text(const struct agent *a, char *stop, size_t len);

/*
 * --stop [all | KERNEL]. Inside a notebook a bare --stop means this
 * notebook's agent only (the one keeping the kernel we run under): one
 * user's other notebooks keep theirs. Elsewhere, and with "all", every agent.
 */
static int stop_agents(struct agent *a)
{
	const char *id = a->opt.stop_id;
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
	n = daemon_stop(a->state_dir, id, stdout);
	free(own);
	/* A kernel that no agent keeps is an error: the user named it. */
	return n < 0 || (n == 0 && a->opt.stop_id && strcmp(a->opt.stop_id, "all")) ? EXIT_GONE : EXIT_OK;
}

/*
 * In the cell that started a detached agent: wait (LAUNCH_WAIT_MS at most)
 * for its first round, so that a rejected token or a missing kernel shows
 * here and not only in the log. Returns the exit code for the cell.
 */
static int launch_said(struct agent *a)
{
	char msg[512], stop[512];
	int code;

	summary(a, stdout);
	fflush(stdout);
	code = daemon_launch_wait(LAUNCH_WAIT_MS, msg, sizeof(msg));
	if (code > 0) {
		printf("agent: %s\n", msg);
		printf("agent: it stopped (exit %d); log: %s\n", code, a->log_path);
		return code;
	}
	if (code == 0)
		printf("agent: checked: %s\n", msg);
	else
		printf("agent: not verified yet after %d s; '%s --status' will show it\n",
		       LAUNCH_WAIT_MS / 1000, progname);
	if (a->cfg.for_ms > 0 || a->cfg.while_pid > 0 || a->cfg.while_fresh_path) {
		char d[32];

		printf("agent: stops %s", stop_text(a, stop, sizeof(stop)));
		if (a->cfg.linger_ms > 0 && (a->cfg.while_pid > 0 || a->cfg.while_fresh_path))
			printf(", then lingers %s",
			       timer_format_duration(a->cfg.linger_ms, d, sizeof(d)));
		printf("%s\n", a->cfg.for_ms > 0 ? " (--for 0 for no time cap)" : "");
	}
	printf("agent: running in the background; log: %s\n", a->log_path);
	printf("agent: '%s --status' shows it, '%s --stop' stops it\n", progname, progname);
	return EXIT_OK;
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

/*
 * --url for a local server, with no token given: the server's own runtime
 * file has it (the advice after "several servers" is --url, which must not
 * lose what discovery could read). Never printed.
 */
static void token_from_runtime_file(struct agent_config *cfg)
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

/* A URL pasted from the browser's address bar works; say what was kept of it. */
static void note_trimmed_urls(const struct agent_config *cfg)
{
	for (size_t i = 0; i < cfg->ntargets; i++)
		if (cfg->targets[i].url_trimmed)
			log_info(cfg->targets[i].name, "using the server's base URL %s (the rest of the "
				 "URL given is a page in the browser)", cfg->targets[i].url);
}

static void warn_insecure(const struct agent_config *cfg)
{
	size_t i;

	for (i = 0; i < cfg->ntargets; i++)
		warn_insecure_target(&cfg->targets[i]);
}

/* Stop conditions must make sense before we detach and say "running". */
static int check_stop_conditions(const struct agent_config *cfg)
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

/* No target given: find the server and kernel we were started from. */
static int discover_target(struct agent *a, struct discovered *d, struct config_errors *errs)
{
	struct discover_env de;
	struct target_config *tc;
	char err[2048];

	discover_env_default(&de);
	if (discover_all(&de, d, err, sizeof(err)) != 0) {
		fprintf(stderr, "agent: found no Jupyter server to keep alive.\n%s\n", err);
		return EXIT_NOTHING;
	}
	if (config_add_cli_target(&a->cfg, d->url, d->kernel_id ? d->kernel_id : a->opt.kernel,
				  errs) != 0)
		return EXIT_CONFIG;
	tc = &a->cfg.targets[a->cfg.ntargets - 1];
	free(tc->name);
	tc->name = strdup(d->kind == DISCOVER_HUB ? "hub" : d->kind == DISCOVER_COLAB ? "colab" : "notebook");
	free(tc->token);
	tc->token = d->token ? strdup(d->token) : NULL;
	if (d->hub_api_url) {
		free(tc->hub_api_url);
		tc->hub_api_url = strdup(d->hub_api_url);
	}
	tc->discovered = 1;
	a->colab = d->kind == DISCOVER_COLAB;
	log_info(NULL, "found %s", d->how);
	return -1;
}

/* ---- state file ---- */

/* "after 24h; when pid 42 ends; when train.log is quiet for 30m", or "". */
static char *stop_text(const struct agent *a, char *stop, size_t len)
{
	char d[32];
	int n = 0;

	stop[0] = '\0';
	if (a->cfg.for_ms > 0)
		n += snprintf(stop + n, len - (size_t)n, "after %s; ",
			      timer_format_duration(a->cfg.for_ms, d, sizeof(d)));
	if (a->cfg.while_pid > 0 && n < (int)len)
		n += snprintf(stop + n, len - (size_t)n, "when pid %d ends; ", (int)a->cfg.while_pid);
	if (a->cfg.while_fresh_path && n < (int)len)
		n += snprintf(stop + n, len - (size_t)n, "when %s is quiet for %s; ",
			      a->cfg.while_fresh_path,
			      timer_format_duration(a->cfg.while_fresh_ms, d, sizeof(d)));
	if (n >= 2 && n < (int)len)
		stop[n - 2] = '\0';	/* drop the last "; " */
	return stop;
}

static json_t *state_json(struct agent *a)
{
	json_t *targets = json_array(), *kernels = json_array();
	char stop[512];
	size_t i;

	for (i = 0; i < a->ntargets; i++) {
		json_t *ks;

		if (!a->targets[i])
			continue;
		json_array_append_new(targets, target_status_json(a->targets[i]));
		ks = target_kernels_json(a->targets[i]);
		json_array_extend(kernels, ks);
		json_decref(ks);
	}
	stop_text(a, stop, sizeof(stop));
	return json_pack("{s:i, s:I, s:o, s:o, s:s, s:s, s:o, s:o}",
			 "pid", (int)a->pid, "started", (json_int_t)a->started,
			 "kernels", kernels, "targets", targets,
			 "log", a->log_path, "stop", stop[0] ? stop : "until stopped",
			 "exit_reason", json_null(), "exited", json_null());
}

/* --linger in the state: in the stop text, and the countdown once it runs. */
static void state_add_linger(struct agent *a, json_t *s)
{
	const char *stop = json_string_value(json_object_get(s, "stop")), *why;
	char text[600], d[32];
	double until;

	if (a->cfg.linger_ms <= 0 || !stop || (a->cfg.while_pid <= 0 && !a->cfg.while_fresh_path))
		return;
	snprintf(text, sizeof(text), "%s, then linger %s", stop,
		 timer_format_duration(a->cfg.linger_ms, d, sizeof(d)));
	json_object_set_new(s, "stop", json_string(text));
	if (watch_lingering(a->watch, &until, &why))
		json_object_set_new(s, "lingering", json_pack("{s:I, s:s}", "until",
							      (json_int_t)until, "reason", why));
}

static void state_write(struct agent *a)
{
	json_t *s;

	if (!a->write_state)
		return;
	s = state_json(a);
	state_add_linger(a, s);
	/* Never changes: read once, not at every write (a readlink each time). */
	if (!a->exe[0]) {
		ssize_t n = readlink("/proc/self/exe", a->exe, sizeof(a->exe) - 1);

		a->exe[n > 0 ? n : 0] = '\0';
	}
	if (a->exe[0])
		json_object_set_new(s, "exe", json_string(a->exe));
	daemon_state_write(a->state_dir, a->pid, s);
	json_decref(s);
}

static void state_finish(struct agent *a)
{
	json_t *s;

	if (!a->write_state)
		return;
	s = state_json(a);
	daemon_state_finish(a->state_dir, a->pid, s, a->exit_code,
			    a->stop_reason[0] ? a->stop_reason : "stopped");
	json_decref(s);
}

/* ---- stopping ---- */

static void agent_stop(struct agent *a, int code, const char *reason)
{
	size_t i;

	if (a->stopping)
		return;
	a->stopping = 1;
	a->exit_code = code;
	snprintf(a->stop_reason, sizeof(a->stop_reason), "%s", reason);
	for (i = 0; i < a->ntargets; i++)
		target_stop(a->targets[i]);
	/* Called from a timer or callback: lws_service() would otherwise go on
	 * to sleep in poll() until the next event before the loop sees this. */
	lws_cancel_service(a->env.ctx);
}

static void state_write_cb(lws_sorted_usec_list_t *sul)
{
	struct agent *a = lws_container_of(sul, struct agent, sul_state);

	a->state_pending = 0;
	state_write(a);
}

/* Many kernels acknowledge within moments of each other: write the state
 * file at most once a second. */
static void on_target_changed(void *ud, struct target *t)
{
	struct agent *a = ud;

	const char *ok = target_verified(t);

	progress_update(a->progress);
	if (ok) {	/* the notebook cell that started us is waiting for this */
		char msg[512];

		snprintf(msg, sizeof(msg), "%s: %s", target_name(t), ok);
		daemon_launch_report(EXIT_OK, msg);
	}
	if (!a->write_state || a->state_pending || a->stopping)
		return;
	a->state_pending = 1;
	lws_sul_schedule(a->env.ctx, 0, &a->sul_state, state_write_cb, LWS_US_PER_SEC);
}

static void on_target_ended(void *ud, struct target *t, int code, const char *why)
{
	struct agent *a = ud;

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
		notify_send(a->notify, "target-lost", target_name(t), why);
	/* The worst ending is the agent's: its exit code and its reason, so
	 * that a multi-target --once with one failure does not end with
	 * another target's "round verified". */
	if (code > a->exit_code || !a->worst[0]) {
		a->exit_code = code > a->exit_code ? code : a->exit_code;
		snprintf(a->worst, sizeof(a->worst), "%s: %s", target_name(t), why);
	}
	if (a->nlive > 0)
		a->nlive--;
	/* A rejected token is a configuration problem: stop everything, say it
	 * once. A ping target that gives up on 4xx stops only itself. */
	if (code == EXIT_AUTH && target_config(t)->kind == TARGET_JUPYTER) {
		char msg[1024];

		snprintf(msg, sizeof(msg), "target '%s': %s", target_name(t), why);
		agent_stop(a, EXIT_AUTH, msg);
		return;
	}
	if (a->nlive == 0)
		agent_stop(a, a->exit_code, a->worst);
}

static void on_watch_fired(void *ud, const char *reason)
{
	struct agent *a = ud;

	log_info(NULL, "stopping: %s", reason);
	notify_send(a->notify, "stop-condition", NULL, reason);
	agent_stop(a, EXIT_OK, reason);
}

/* --linger: the job ended; the session stays a while for its results. */
static void on_watch_lingering(void *ud, const char *reason, double until)
{
	struct agent *a = ud;
	char msg[600];

	watch_linger_message(reason, a->cfg.linger_ms, until, msg, sizeof(msg));
	log_info(NULL, "%s", msg);
	notify_send(a->notify, "lingering", NULL, msg);
	state_write(a);
}

static void on_watch_warning(void *ud, const char *msg)
{
	struct agent *a = ud;

	log_warn(NULL, "%s", msg);
	notify_send(a->notify, "ending-soon", NULL, msg);
}

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

/*
 * SIGHUP: read the config file again. A bad new config is reported and the
 * old one keeps running; targets whose settings did not change keep their
 * connections. Stop conditions and notifications are read at start only.
 */
static void reload(struct agent *a)
{
	struct agent_config ncfg;
	struct config_errors errs = {0};
	struct target **nt = NULL;
	size_t i, j, n = 0, live = 0;

	if (!a->opt.config_path) {
		log_warn(NULL, "SIGHUP: there is no config file to reload (targets came from flags)");
		return;
	}
	config_init(&ncfg);
	config_load(a->opt.config_path, &ncfg, &errs);
	if (a->opt.url)
		config_add_cli_target(&ncfg, a->opt.url, a->opt.kernel, &errs);
	if (!errs.n)
		config_finish(&ncfg, &errs);
	if (errs.n || apply_flags(&a->opt, &ncfg) != 0 || ncfg.ntargets == 0) {
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
	register_secrets(&ncfg);
	for (i = 0; i < errs.nwarn; i++)
		log_warn(NULL, "%s", errs.warn[i]);
	for (j = 0; j < ncfg.ntargets; j++) {
		for (i = 0; i < a->ntargets; i++) {
			struct target *t = a->targets[i];

			if (t && !target_is_ended(t) &&
			    config_target_equal(target_config(t), &ncfg.targets[j])) {
				target_set_config(t, &ncfg.targets[j]);
				nt[j] = t;
				a->targets[i] = NULL;
				break;
			}
		}
	}
	for (i = 0; i < a->ntargets; i++) {
		if (a->targets[i]) {
			log_info(target_name(a->targets[i]), "removed or changed by the new config");
			target_free(a->targets[i]);
		}
	}
	for (j = 0; j < ncfg.ntargets; j++) {
		if (!nt[j]) {
			nt[j] = target_new(&a->env, &ncfg.targets[j]);
			if (!nt[j])
				continue;
			log_info(ncfg.targets[j].name, "started by the new config");
			warn_insecure_target(&ncfg.targets[j]);
			target_start(nt[j]);
		}
		nt[n++] = nt[j];
	}
	for (i = 0; i < n; i++)
		live += !target_is_ended(nt[i]);
	free(a->targets);
	a->targets = nt;
	a->ntargets = n;
	a->nlive = live;
	/* Stop conditions and notifications are read at start only: keep the
	 * running ones (the notifier and watches point at them). */
	keep_start_settings(&ncfg, &a->cfg);
	config_free(&a->cfg);
	a->cfg = ncfg;
	config_init(&ncfg);
	log_info(NULL, "SIGHUP: config reloaded; %zu target(s)", n);
	state_write(a);
out:
	config_free(&ncfg);
	config_errors_free(&errs);
}

/* "keeping lab (http://…/), colab-tunnel (https://…)": what a phone screen needs. */
static void notify_started(struct agent *a)
{
	char what[512], url[256];
	size_t i;
	int n = snprintf(what, sizeof(what), "keeping");

	for (i = 0; i < a->cfg.ntargets && n > 0 && (size_t)n < sizeof(what); i++) {
		const struct target_config *tc = &a->cfg.targets[i];

		log_redact(config_target_url(tc), url, sizeof(url));
		n += snprintf(what + n, sizeof(what) - (size_t)n, "%s %s (%s)", i ? "," : "",
			      tc->name, url);
	}
	notify_send(a->notify, "started", NULL, what);
}

/* ---- signals, adopted into the loop as a signalfd ---- */

static int signal_cb(struct lws *wsi, enum lws_callback_reasons reason, void *user, void *in,
		     size_t len)
{
	struct agent *a = lws_context_user(lws_get_context(wsi));
	struct signalfd_siginfo si;
	int fd;

	(void)user; (void)in; (void)len;
	if (reason != LWS_CALLBACK_RAW_RX_FILE)
		return 0;
	fd = lws_get_socket_fd(wsi);
	while (read(fd, &si, sizeof(si)) == (ssize_t)sizeof(si)) {
		if (si.ssi_signo == SIGHUP) {
			reload(a);
			continue;
		}
		log_info(NULL, "received %s; closing connections", strsignal((int)si.ssi_signo));
		agent_stop(a, EXIT_OK, si.ssi_signo == SIGINT ? "interrupted (SIGINT)" : "terminated (SIGTERM)");
	}
	return 0;
}

static const struct lws_protocols signal_protocol = {
	.name = "agent-signals",
	.callback = signal_cb,
};

static void lws_log_emit(int level, const char *line)
{
	size_t n = strlen(line);

	/* lws's own lines are details; the agent logs what a user needs. */
	if (n && line[n - 1] == '\n')
		n--;
	log_debug("lws", "%.*s", (int)n, line);
	(void)level;
}

/* ---- the loop ---- */

static void shutdown_deadline_cb(lws_sorted_usec_list_t *sul)
{
	struct agent *a = lws_container_of(sul, struct agent, sul_shutdown);

	a->shutdown_deadline = 1;
}

static struct lws_context *make_context(struct agent *a)
{
	static struct lws_protocols list[5];	/* ends with a zeroed entry */
	struct lws_context_creation_info info;

	list[0] = kws_protocol;
	list[1] = rest_protocol;
	list[2] = watch_protocol;
	list[3] = signal_protocol;
	struct lws_context *ctx;

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
	info.user = a;
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

/* The signals the agent handles: blocked at start, then read from a signalfd. */
static void handled_signals(sigset_t *set)
{
	sigemptyset(set);
	sigaddset(set, SIGINT);
	sigaddset(set, SIGTERM);
	sigaddset(set, SIGHUP);
}

static int adopt_signals(struct agent *a)
{
	sigset_t set;
	int fd;
	lws_sock_file_fd_type u;

	handled_signals(&set);
	fd = signalfd(-1, &set, SFD_NONBLOCK | SFD_CLOEXEC);
	if (fd < 0)
		return -1;
	u.filefd = (lws_filefd_type)(intptr_t)fd;
	if (!lws_adopt_descriptor_vhost(lws_get_vhost_by_name(a->env.ctx, "default"),
					LWS_ADOPT_RAW_FILE_DESC, u, signal_protocol.name, NULL)) {
		close(fd);
		return -1;
	}
	return 0;
}

static int start_watches(struct agent *a)
{
	char err[256];

	a->watch = watch_new(a->env.ctx, on_watch_fired, a);
	if (!a->watch)
		return -1;
	watch_set_warning(a->watch, on_watch_warning);
	watch_set_linger(a->watch, a->cfg.linger_ms, on_watch_lingering);
	if (a->cfg.while_pid > 0 && watch_pid(a->watch, a->cfg.while_pid, err, sizeof(err)) != 0) {
		log_error(NULL, "--while-pid: %s", err);
		return -1;
	}
	if (a->cfg.while_fresh_path &&
	    watch_fresh(a->watch, a->cfg.while_fresh_path, a->cfg.while_fresh_ms, err, sizeof(err)) != 0) {
		log_error(NULL, "--while-fresh: %s", err);
		return -1;
	}
	if (a->cfg.for_ms > 0)
		watch_for(a->watch, a->cfg.for_ms, 15L * 60 * 1000);
	return 0;
}

static void run_loop(struct agent *a)
{
	while (!a->stopping)
		if (lws_service(a->env.ctx, 0) < 0)
			break;
	/* Let the close frames and last notifications go out: at most a second. */
	lws_sul_schedule(a->env.ctx, 0, &a->sul_shutdown, shutdown_deadline_cb, 1000 * 1000);
	while ((kws_live_count() > 0 || notify_pending(a->notify) > 0) && !a->shutdown_deadline)
		if (lws_service(a->env.ctx, 0) < 0)
			break;
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

static void summary(struct agent *a, FILE *out)
{
	size_t i;

	for (i = 0; i < a->cfg.ntargets; i++) {
		const struct target_config *tc = &a->cfg.targets[i];
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
	if (a->colab)
		fprintf(out, "agent: Colab: this keeps the kernel and the VM's Jupyter server active, "
			"but Colab's own idle timer may count only browser or tunnel activity; "
			"see the README's Colab section\n");
}

/* The start-up banner on stderr; with --log-json, as JSON lines like the rest. */
static void banner(struct agent *a)
{
	char *text = NULL, *line, *save = NULL;
	size_t len = 0;
	FILE *m;

	if (!a->opt.log_json) {
		summary(a, stderr);
		return;
	}
	if (!(m = open_memstream(&text, &len)))
		return;
	summary(a, m);
	fclose(m);
	for (line = strtok_r(text, "\n", &save); line; line = strtok_r(NULL, "\n", &save))
		log_info(NULL, "%s", strncmp(line, "agent: ", 7) ? line : line + 7);
	free(text);
}

int main(int argc, char **argv)
{
	struct agent a;
	struct config_errors errs = {0};
	struct discovered disc = {0};
	struct discover_env de;
	sigset_t set;
	size_t i;
	int rc, detach = 0;

	memset(&a, 0, sizeof(a));
	a.started = time(NULL);
	if (argc > 0 && argv[0] && *argv[0])
		progname = argv[0];
	rc = parse_args(argc, argv, &a.opt);
	if (rc >= 0)
		return rc;
	log_setup(a.opt.verbose ? LL_DEBUG : a.opt.quiet ? LL_WARN : LL_INFO, a.opt.log_json);

	if (a.opt.status || a.opt.stop) {
		if (daemon_state_dir(a.state_dir, sizeof(a.state_dir)) != 0) {
			fprintf(stderr, "agent: no state directory; no agent has run as this user\n");
			return EXIT_OK;
		}
		if (a.opt.status) {
			daemon_print_status(a.state_dir, stdout);
			return EXIT_OK;
		}
		return stop_agents(&a);
	}

	/* 1. Configuration: everything is checked before any traffic. */
	config_init(&a.cfg);
	if (a.opt.config_path)
		config_load(a.opt.config_path, &a.cfg, &errs);
	if (a.opt.url && strchr(a.opt.url, '?') && strstr(strchr(a.opt.url, '?'), "token=")) {
		/* argv is readable by every user of the machine. */
		fprintf(stderr, "agent: --url must not carry a token (every user can read the command "
			"line); put it in JUPYTER_TOKEN or in token_file = of a config file\n");
		rc = EXIT_CONFIG;
		goto out;
	}
	if (a.opt.url)
		config_add_cli_target(&a.cfg, a.opt.url, a.opt.kernel, &errs);
	if (errs.n) {
		print_errors(&errs);
		rc = EXIT_CONFIG;
		goto out;
	}
	if (a.cfg.ntargets == 0 && a.opt.config_path) {
		/* -c says where the targets are: never fall back to discovery. */
		fprintf(stderr, "%s:1: no target to keep: add a section such as [lab] with "
			"url = http://HOST:PORT/ (or ping_url = URL)\n", a.opt.config_path);
		rc = EXIT_CONFIG;
		goto out;
	}
	if (a.cfg.ntargets == 0) {
		rc = discover_target(&a, &disc, &errs);
		if (rc >= 0) {
			print_errors(&errs);
			goto out;
		}
	}
	if (config_finish(&a.cfg, &errs) != 0 || apply_flags(&a.opt, &a.cfg) != 0) {
		print_errors(&errs);
		rc = EXIT_CONFIG;
		goto out;
	}
	print_errors(&errs);	/* warnings */
	if (check_stop_conditions(&a.cfg) != 0) {
		rc = EXIT_CONFIG;
		goto out;
	}
	token_from_runtime_file(&a.cfg);
	register_secrets(&a.cfg);
	note_trimmed_urls(&a.cfg);
	warn_insecure(&a.cfg);

	/* 2. Detach when launched from a notebook cell, where a plain child would
	 * block the cell, get the kernel's SIGINT, and die with the kernel. A
	 * kernel ancestor is the signal; stdout is no guide, since ipykernel runs
	 * !cmd on a pty. A terminal in JupyterLab runs under the server, not a
	 * kernel, so the agent stays attached there. */
	discover_env_default(&de);
	if (!a.opt.once)	/* discovery has already walked our parents */
		detach = a.opt.detach ||
			 (!a.opt.foreground && (disc.url ? disc.kernel_id != NULL
							 : discover_in_kernel(&de)));
	if (!a.opt.once && daemon_state_dir(a.state_dir, sizeof(a.state_dir)) == 0)
		a.write_state = 1;
	if (a.write_state && disc.kernel_id) {
		pid_t other;

		if (daemon_find_running(a.state_dir, disc.kernel_id, &other) == 1) {
			printf("agent: already running (pid %d) for kernel %.8s; see '%s --status', "
			       "or '%s --stop' to stop it\n", (int)other, disc.kernel_id, progname, progname);
			if (argc > 1)	/* e.g. a --while-pid meant for the new one */
				printf("agent: the options given here were not applied; to change them, "
				       "'%s --stop' first, then start it again with them\n", progname);
			rc = EXIT_OK;
			goto out;
		}
	}
	if (recorder_setup(&a.cfg, a.write_state ? a.state_dir : NULL, disc.kernel_id, stderr)) {
		rc = EXIT_CONFIG;
		goto out;
	}
	if (detach) {
		if (a.cfg.for_ms < 0)
			a.cfg.for_ms = DEFAULT_DETACHED_CAP_MS;
		if (!a.write_state) {
			fprintf(stderr, "agent: cannot detach: no state directory for the log\n");
			rc = EXIT_INTERNAL;
			goto out;
		}
		if (disc.kernel_id)
			snprintf(a.log_path, sizeof(a.log_path), "%s/agent-kernel-%.8s.log", a.state_dir,
				 disc.kernel_id);
		else
			snprintf(a.log_path, sizeof(a.log_path), "%s/agent-started-by-%d.log", a.state_dir,
				 (int)getpid());
		fflush(stdout);
		rc = daemon_detach(a.log_path);
		if (rc < 0) {
			fprintf(stderr, "agent: cannot detach: %s\n", strerror(errno));
			rc = EXIT_INTERNAL;
			goto out;
		}
		if (rc == 1) {	/* the parent: say what runs once it is checked, then return the cell */
			rc = launch_said(&a);
			goto out;
		}
	}

	a.pid = getpid();	/* after detaching: the pid the state file names */

	/* 3. Signals are blocked before curl starts any thread, then read from a signalfd. */
	handled_signals(&set);
	sigprocmask(SIG_BLOCK, &set, NULL);
	signal(SIGPIPE, SIG_IGN);
	curl_global_init(CURL_GLOBAL_DEFAULT);
	lws_set_log_level(a.opt.verbose ? LLL_ERR | LLL_WARN : LLL_ERR, lws_log_emit);

	/* 4. The loop. */
	rc = EXIT_INTERNAL;
	jmsg_uuid(a.env.session_id);
	a.env.username = "keepalive-agent";
	a.env.once = a.opt.once;
	a.env.ended = on_target_ended;
	a.env.changed = on_target_changed;
	a.env.ud = &a;
	a.env.ctx = make_context(&a);
	if (!a.env.ctx) {
		log_error(NULL, "cannot create the event loop");
		goto out;
	}
	a.env.rest = rest_new(a.env.ctx);
	if (!a.env.rest || adopt_signals(&a) != 0) {
		log_error(NULL, "cannot set up the event loop");
		goto out_loop;
	}
	if (start_watches(&a) != 0) {
		rc = EXIT_CONFIG;
		goto out_loop;
	}
	a.notify = notify_new(a.env.rest, &a.cfg);
	a.env.notify = a.notify;
	/* Attached inside a kernel (--once, --foreground): our cell keeps it busy. */
	a.env.own_kernel = detach ? NULL : disc.kernel_id;
	a.targets = calloc(a.cfg.ntargets, sizeof(*a.targets));
	if (!a.targets)
		goto out_loop;
	for (i = 0; i < a.cfg.ntargets; i++) {
		a.targets[i] = target_new(&a.env, &a.cfg.targets[i]);
		if (!a.targets[i])
			goto out_loop;
		a.ntargets++;
	}
	a.nlive = a.ntargets;
	if (!detach && !a.opt.once)
		banner(&a);
	notify_started(&a);
	if (!a.opt.once)
		a.progress = progress_new(a.env.ctx, !detach && !a.opt.verbose && !a.opt.log_json &&
					  isatty(STDERR_FILENO), &a.targets, &a.ntargets);
	for (i = 0; i < a.ntargets && !a.stopping; i++)
		target_start(a.targets[i]);
	state_write(&a);
	run_loop(&a);
	progress_free(a.progress);
	a.progress = NULL;
	rc = a.exit_code;
	if (rc == EXIT_AUTH)
		fprintf(stderr, "agent: %s\n", a.stop_reason);
	else
		log_info(NULL, "stopped: %s", a.stop_reason);
	state_finish(&a);

out_loop:
	progress_free(a.progress);
	for (i = 0; i < a.ntargets; i++)
		target_free(a.targets[i]);
	free(a.targets);
	notify_free(a.notify);
	watch_free(a.watch);
	rest_free(a.env.rest);
	if (a.env.ctx)
		lws_context_destroy(a.env.ctx);
	curl_global_cleanup();
out:
	discovered_free(&disc);
	config_free(&a.cfg);
	config_errors_free(&errs);
	return rc;
}
