/* SPDX-License-Identifier: MIT */
/*
 * Unit tests for agent/cli.c: flags go through config.c's setters (the same
 * checks and messages as the INI keys), defaults, flags over the file, and
 * the option table behind getopt and --help.
 */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"
#include "config.h"
#include "supervisor.h"
#include "unit.h"

#define MAXARGS 32

/* argv for cli_parse: "agent" and the words of args (space-separated). */
struct argv_buf {
	char text[512];
	char *v[MAXARGS + 1];
	int n;
};

static char **make_argv(struct argv_buf *b, const char *args)
{
	char *save = NULL, *w;

	snprintf(b->text, sizeof(b->text), "agent %s", args);
	b->n = 0;
	for (w = strtok_r(b->text, " ", &save); w && b->n < MAXARGS; w = strtok_r(NULL, " ", &save))
		b->v[b->n++] = w;
	b->v[b->n] = NULL;
	return b->v;
}

/* stderr and stdout of fn(), captured into out (NUL-terminated). */
static int captured(int (*fn)(void *), void *arg, char *out, size_t outlen)
{
	char path[] = "/tmp/ut_cli.XXXXXX";
	int fd = mkstemp(path), save_err = dup(2), save_out = dup(1), rc;
	ssize_t n;

	fflush(stdout);
	fflush(stderr);
	dup2(fd, 2);
	dup2(fd, 1);
	rc = fn(arg);
	fflush(stdout);
	fflush(stderr);
	dup2(save_err, 2);
	dup2(save_out, 1);
	close(save_err);
	close(save_out);
	n = pread(fd, out, outlen - 1, 0);
	out[n > 0 ? n : 0] = '\0';
	close(fd);
	unlink(path);
	return rc;
}

struct parse_call {
	const char *args;
	struct cli o;
};

static int parse_it(void *arg)
{
	struct parse_call *c = arg;
	struct argv_buf b;
	char **argv = make_argv(&b, c->args);

	return cli_parse(b.n, argv, &c->o);
}

/* The configuration a command line gives over config text (NULL: none), as main loads it. */
struct run {
	struct argv_buf b;
	struct cli o;
	struct agent_config cfg;
	struct config_errors e;
	int parsed, finished;
};

static void run_flags(struct run *r, const char *ini, const char *args)
{
	memset(r, 0, sizeof(*r));
	config_init(&r->cfg);
	r->parsed = cli_parse(r->b.n, make_argv(&r->b, args), &r->o);
	if (r->parsed >= 0)
		return;
	if (ini)
		config_load_string("t.ini", ini, &r->cfg, &r->e);
	cli_load(&r->o, &r->cfg, &r->e);
	r->finished = r->e.n ? -1 : cli_finish(&r->o, &r->cfg, &r->e);
}

static void run_free(struct run *r)
{
	config_free(&r->cfg);
	config_errors_free(&r->e);
}

static const struct target_config *target_named(const struct run *r, const char *name)
{
	for (size_t i = 0; i < r->cfg.ntargets; i++)
		if (!strcmp(r->cfg.targets[i].name, name))
			return &r->cfg.targets[i];
	return NULL;
}

/* ---- the same setter, the same message ---- */

static const struct {
	const char *flag, *key, *section, *value;	/* value: no spaces (argv is split on them) */
} same_message[] = {
	{ "interval", "interval", "agent", "500ms" },
	{ "interval", "interval", "lab", "soon" },
	{ "jitter", "jitter", "agent", "150" },
	{ "mode", "mode", "lab", "sideways" },
	{ "kernel", "kernel", "lab", "bogus" },
	{ "ca-file", "ca_file", "lab", "/nonexistent/ca.pem" },
	{ "for", "for", "agent", "-5s" },
	{ "while-pid", "while_pid", "agent", "abc" },
	{ "while-fresh", "while_fresh", "agent", "train.log" },
	{ "while-fresh", "while_fresh", "agent", "train.log:500ms" },
	{ "linger", "linger", "agent", "1hour" },
};

/* "t.ini:4: [lab] interval: bad duration…" -> "bad duration…" */
static const char *after_key(const char *msg, const char *key)
{
	char pat[64];
	const char *p;

	snprintf(pat, sizeof(pat), "] %s: ", key);
	p = msg ? strstr(msg, pat) : NULL;
	return p ? p + strlen(pat) : "(no key in message)";
}

TEST(flag_errors_are_the_ini_keys)
{
	for (size_t i = 0; i < sizeof(same_message) / sizeof(same_message[0]); i++) {
		const char *flag = same_message[i].flag, *key = same_message[i].key;
		const char *value = same_message[i].value;
		char ini[256], args[256], want[512];
		struct run file, flag_run;
		int kernel = !strcmp(flag, "kernel");

		if (!strcmp(same_message[i].section, "agent"))
			snprintf(ini, sizeof(ini), "[agent]\n%s = %s\n[lab]\nurl = http://127.0.0.1:9/\n",
				 key, value);
		else
			snprintf(ini, sizeof(ini), "[lab]\nurl = http://127.0.0.1:9/\n%s = %s\n", key, value);
		run_flags(&file, ini, "");
		CHECK(file.e.n == 1);

		/* --kernel with --url is that target's (next test): here over a file's target */
		snprintf(args, sizeof(args), "%s--%s %s", kernel ? "" : "--url http://127.0.0.1:9/ ",
			 flag, value);
		run_flags(&flag_run, kernel ? "[lab]\nurl = http://127.0.0.1:9/\n" : NULL, args);
		CHECK(flag_run.parsed == -1);
		CHECK(flag_run.finished == -1);
		CHECK(flag_run.e.n == 1);
		if (file.e.n == 1 && flag_run.e.n == 1) {
			snprintf(want, sizeof(want), "--%s: %s", flag, after_key(file.e.msg[0], key));
			CHECK_STR(flag_run.e.msg[0], want);
		}
		run_free(&file);
		run_free(&flag_run);
	}
}

TEST(kernel_with_url_is_checked_by_the_same_parser)
{
	struct run r;

	run_flags(&r, NULL, "--url http://127.0.0.1:9/ --kernel bogus");
	CHECK(r.e.n == 1);
	if (r.e.n)
		CHECK_STR(r.e.msg[0], "--kernel: bad kernel 'bogus' (use auto, all, notebook:PATH or a "
			  "kernel id)");
	run_free(&r);
}

TEST(every_bad_flag_is_reported)
{
	struct run r;

	run_flags(&r, NULL, "--url http://127.0.0.1:9/ --interval soon --jitter 150 --mode fast");
	CHECK(r.finished == -1);
	CHECK(r.e.n == 3);
	if (r.e.n == 3) {
		CHECK_STR(r.e.msg[0], "--mode: bad mode 'fast' (use execute, http or both)");
		CHECK_CONTAINS(r.e.msg[1], "--interval: bad duration 'soon'");
		CHECK_CONTAINS(r.e.msg[2], "--jitter: bad percentage '150'");
	}
	run_free(&r);
}

/* With no target to take it, a bad value is still an error (a typo must not pass unseen). */
TEST(values_are_checked_without_targets)
{
	struct agent_config cfg;
	char err[256];

	config_init(&cfg);
	CHECK(config_override(&cfg, "mode", "sideways", err, sizeof(err)) == -1);
	CHECK_STR(err, "bad mode 'sideways' (use execute, http or both)");
	CHECK(config_override(&cfg, "ca_file", "/nonexistent/ca.pem", err, sizeof(err)) == -1);
	CHECK(config_override(&cfg, "kernel", "all", err, sizeof(err)) == 0);
	CHECK(config_override(&cfg, "token", "abc", err, sizeof(err)) == -1);
	CHECK_STR(err, "'token' can only be set in a config file");
	CHECK(config_override(&cfg, "nope", "1", err, sizeof(err)) == -1);
	CHECK(config_override(&cfg, "interval", "2m\n", err, sizeof(err)) == -1);
	CHECK_STR(err, "value contains control characters");
	config_free(&cfg);
}

/* ---- defaults, and flags over the file ---- */

TEST(defaults)
{
	struct run r;
	const struct target_config *t;

	run_flags(&r, NULL, "--url http://127.0.0.1:9/");
	CHECK(r.finished == 0 && r.e.n == 0);
	CHECK(r.cfg.ntargets == 1);
	if ((t = target_named(&r, "cli"))) {
		CHECK(t->interval_ms == 60000);
		CHECK(t->jitter_pct == 10);
		CHECK(t->timeout_ms == 30000);
		CHECK(t->mode == MODE_BOTH);
		CHECK(t->kernel == KSEL_AUTO);
		CHECK(t->record == NULL);
		CHECK(t->ca_file == NULL);
	}
	CHECK(r.cfg.for_ms == -1);	/* not set: attached, no cap */
	CHECK(r.cfg.while_pid == 0 && r.cfg.while_fresh_path == NULL && r.cfg.linger_ms == 0);
	config_detached_defaults(&r.cfg);
	CHECK(r.cfg.for_ms == 24L * 3600 * 1000);
	run_free(&r);

	run_flags(&r, NULL, "--url http://127.0.0.1:9/ --for 0");
	CHECK(r.cfg.for_ms == 0);
	config_detached_defaults(&r.cfg);
	CHECK(r.cfg.for_ms == 0);	/* 0 = no cap, said on purpose */
	run_free(&r);
}

TEST(flags_override_the_file)
{
	static const char ini[] =
		"[agent]\n"
		"interval = 5m\n"
		"for = 1h\n"
		"[lab]\n"
		"url = http://127.0.0.1:9/\n"
		"interval = 2m\n"
		"jitter = 20\n"
		"mode = http\n"
		"kernel = all\n"
		"[beat]\n"
		"ping_url = http://127.0.0.1:9/ping\n"
		"interval = 10m\n";
	struct run r;
	const struct target_config *lab, *beat;

	run_flags(&r, ini, "--interval 90s --jitter 5 --mode execute --kernel notebook:a.ipynb "
		  "--for 2h --linger 10m --while-pid 1 --record off");
	CHECK(r.finished == 0 && r.e.n == 0);
	lab = target_named(&r, "lab");
	beat = target_named(&r, "beat");
	CHECK(lab && beat);
	if (lab && beat) {
		CHECK(lab->interval_ms == 90000 && beat->interval_ms == 90000);
		CHECK(lab->jitter_pct == 5 && beat->jitter_pct == 5);
		CHECK(lab->mode == MODE_EXECUTE);
		CHECK(lab->kernel == KSEL_NOTEBOOK);
		CHECK_STR(lab->kernel_arg, "a.ipynb");
		CHECK_STR(lab->record, "off");
		CHECK(beat->kernel_arg == NULL);	/* a Jupyter key skips ping targets */
		CHECK(beat->record == NULL);
	}
	CHECK(r.cfg.interval_ms == 90000);
	CHECK(r.cfg.for_ms == 2L * 3600 * 1000);
	CHECK(r.cfg.linger_ms == 600000);
	CHECK(r.cfg.while_pid == 1);
	run_free(&r);

	/* without flags, the file's values stand */
	run_flags(&r, ini, "");
	lab = target_named(&r, "lab");
	if (lab) {
		CHECK(lab->interval_ms == 120000);
		CHECK(lab->mode == MODE_HTTP);
		CHECK(lab->kernel == KSEL_ALL);
	}
	CHECK(r.cfg.for_ms == 3600L * 1000);
	run_free(&r);
}

/* --kernel with --url is that target's; the file's targets keep theirs. */
TEST(kernel_flag_scope)
{
	static const char ini[] = "[lab]\nurl = http://127.0.0.1:9/\nkernel = all\n";
	struct run r;
	const struct target_config *lab, *cli;

	run_flags(&r, ini, "--url http://127.0.0.1:8/ --kernel 0123456789abcdef");
	CHECK(r.finished == 0 && r.e.n == 0);
	lab = target_named(&r, "lab");
	cli = target_named(&r, "cli");
	if (lab && cli) {
		CHECK(lab->kernel == KSEL_ALL);
		CHECK(cli->kernel == KSEL_ID);
		CHECK_STR(cli->kernel_arg, "0123456789abcdef");
	}
	run_free(&r);
}

/* ---- parsing ---- */

static const struct {
	const char *args;
	int code;		/* cli_parse's: -1 go on, else the exit code */
	const char *said;	/* in its output, or NULL */
} parses[] = {
	{ "--url http://h/ --once", -1, NULL },
	{ "--help", EXIT_OK, "Usage: agent [OPTIONS]" },
	{ "--intervall 5m", EXIT_CONFIG, "unknown option '--intervall' (did you mean --interval?)" },
	{ "--tokn abc", EXIT_CONFIG, "unknown option '--tokn'\n" },	/* never suggests --token */
	{ "--token abc", EXIT_CONFIG, "tokens are not accepted on the command line" },
	{ "--url http://h/?token=abc", EXIT_CONFIG, "--url must not carry a token" },
	{ "--interval", EXIT_CONFIG, "option '--interval' needs a value" },
	{ "-c", EXIT_CONFIG, "option '-c' needs a value" },
	{ "--foreground --detach", EXIT_CONFIG, "--foreground and --detach cannot be combined" },
	{ "-v -q", EXIT_CONFIG, "-v and -q cannot be combined" },
	{ "--once extra", EXIT_CONFIG, "unexpected argument 'extra'" },
	{ "-x", EXIT_CONFIG, "unknown option '-x'" },
};

TEST(parse_table)
{
	for (size_t i = 0; i < sizeof(parses) / sizeof(parses[0]); i++) {
		struct parse_call c = { .args = parses[i].args };
		char out[4096];
		int rc = captured(parse_it, &c, out, sizeof(out));

		if (rc != parses[i].code)
			printf("  %s: %d, want %d\n", parses[i].args, rc, parses[i].code);
		CHECK(rc == parses[i].code);
		if (parses[i].said)
			CHECK_CONTAINS(out, parses[i].said);
		else
			CHECK_STR(out, "");
		if (rc == EXIT_CONFIG && strstr(parses[i].args, "-") && strstr(out, "unknown option"))
			CHECK_CONTAINS(out, "Try 'agent --help'.");
	}
}

TEST(stop_takes_an_optional_kernel)
{
	static const struct { const char *args; const char *id; int verbose; } t[] = {
		{ "--stop", NULL, 0 },
		{ "--stop all", "all", 0 },
		{ "--stop=0a1b2c3d", "0a1b2c3d", 0 },
		{ "--stop 0a1b2c3d -v", "0a1b2c3d", 1 },
		{ "--stop -v", NULL, 1 },
	};

	for (size_t i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
		struct parse_call c = { .args = t[i].args };
		char out[256];

		CHECK(captured(parse_it, &c, out, sizeof(out)) == -1);
		CHECK(c.o.stop == 1);
		CHECK(c.o.verbose == t[i].verbose);
		if (t[i].id)
			CHECK_STR(c.o.stop_id, t[i].id);
		else
			CHECK(c.o.stop_id == NULL);
	}
}

TEST(switches_and_values_land_in_their_fields)
{
	struct parse_call c = { .args = "-c a.ini --url http://h/ --once --foreground -v --log-json "
				"--ca-file ca.pem --record r.txt --while-fresh f:1m" };
	char out[256];

	CHECK(captured(parse_it, &c, out, sizeof(out)) == -1);
	CHECK_STR(c.o.config_path, "a.ini");
	CHECK_STR(c.o.url, "http://h/");
	CHECK_STR(c.o.ca_file, "ca.pem");
	CHECK_STR(c.o.record, "r.txt");
	CHECK_STR(c.o.while_fresh, "f:1m");
	CHECK(c.o.once && c.o.foreground && c.o.verbose && c.o.log_json);
	CHECK(!c.o.detach && !c.o.quiet && !c.o.status && !c.o.stop);
	CHECK_STR(c.o.progname, "agent");
}

/* --help's layout: options in one column, long specs two spaces from their text. */
TEST(help_layout)
{
	char *text = NULL;
	size_t len = 0;
	FILE *m = open_memstream(&text, &len);

	CHECK(m != NULL);
	if (!m)
		return;
	cli_usage(m);
	fclose(m);
	CHECK_CONTAINS(text, "\nTargets:\n  -c, --config FILE      read targets and settings from an INI file\n");
	CHECK_CONTAINS(text, "\n      --while-fresh FILE:DUR  stop when FILE was not modified for DUR\n");
	CHECK_CONTAINS(text, "\n      --record FILE      append what the kept kernels' cells show to FILE\n"
		       "                         (on by default inside a notebook; off to disable)\n");
	CHECK_CONTAINS(text, "\n      --stop [KERNEL]    stop this notebook's agent");
	CHECK_CONTAINS(text, "\n  -h, --help             print this help\n\nTokens are never");
	CHECK(strstr(text, "--token") == NULL);
	CHECK_CONTAINS(text, "Exit codes: 0 stopped normally");
	free(text);
}

void suite_cli(void)
{
	RUN(flag_errors_are_the_ini_keys);
	RUN(kernel_with_url_is_checked_by_the_same_parser);
	RUN(every_bad_flag_is_reported);
	RUN(values_are_checked_without_targets);
	RUN(defaults);
	RUN(flags_override_the_file);
	RUN(kernel_flag_scope);
	RUN(parse_table);
	RUN(stop_takes_an_optional_kernel);
	RUN(switches_and_values_land_in_their_fields);
	RUN(help_layout);
}
