/* SPDX-License-Identifier: MIT */
/* Unit tests for agent/config.c: the schema, FILE:LINE errors and the pure helpers. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "config.h"
#include "unit.h"

/* A loaded config with its errors. */
struct fx {
	struct agent_config cfg;
	struct config_errors e;
	int rc;
};

static void fx_load(struct fx *f, const char *text)
{
	memset(f, 0, sizeof(*f));
	config_init(&f->cfg);
	f->rc = config_load_string("t.ini", text, &f->cfg, &f->e);
}

static void fx_free(struct fx *f)
{
	config_free(&f->cfg);
	config_errors_free(&f->e);
}

static int has(char **v, size_t n, const char *want)
{
	for (size_t i = 0; i < n; i++)
		if (strcmp(v[i], want) == 0)
			return 1;
	return 0;
}

static void dump(const struct fx *f)
{
	for (size_t i = 0; i < f->e.n; i++)
		printf("  error: %s\n", f->e.msg[i]);
	for (size_t i = 0; i < f->e.nwarn; i++)
		printf("  warning: %s\n", f->e.warn[i]);
}

/* The exact message is among the errors (or warnings). */
#define CHECK_ERR(f, want) do { \
	if (!has((f)->e.msg, (f)->e.n, (want))) { \
		CHECK(!"missing error: " want); \
		dump(f); \
	} \
} while (0)
#define CHECK_WARN(f, want) do { \
	if (!has((f)->e.warn, (f)->e.nwarn, (want))) { \
		CHECK(!"missing warning: " want); \
		dump(f); \
	} \
} while (0)
#define CHECK_CLEAN(f) do { \
	if ((f)->rc != 0 || (f)->e.n || (f)->e.nwarn) { \
		CHECK(!"expected no errors and no warnings"); \
		dump(f); \
	} \
} while (0)

static const struct target_config *target(const struct fx *f, const char *name)
{
	for (size_t i = 0; i < f->cfg.ntargets; i++)
		if (strcmp(f->cfg.targets[i].name, name) == 0)
			return &f->cfg.targets[i];
	return NULL;
}

static void clear_token_env(void)
{
	unsetenv("JUPYTER_TOKEN");
	unsetenv("JUPYTERHUB_API_TOKEN");
}

static void write_file(const char *path, const char *text, mode_t mode)
{
	FILE *fp = fopen(path, "w");

	CHECK(fp != NULL);
	if (!fp)
		return;
	fputs(text, fp);
	fclose(fp);
	chmod(path, mode);
}

/* ------------------------------------------------------------ pure helpers */

TEST(duration_good)
{
	static const struct { const char *in; long ms; } t[] = {
		{ "90s", 90000 }, { "5m", 300000 }, { "2h", 7200000 }, { "1h30m", 5400000 },
		{ "90", 90000 }, { "0", 0 }, { "250ms", 250 }, { "1d", 86400000 },
		{ "1m30s", 90000 }, { "1s500ms", 1500 }, { "1d2h3m4s5ms", 93784005 },
		{ "30d", 2592000000L }, { "0s", 0 }, { "007s", 7000 },
	};
	char err[128];

	for (size_t i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
		long ms = -7;

		err[0] = '\0';
		CHECK(config_parse_duration(t[i].in, &ms, err, sizeof(err)) == 0);
		if (ms != t[i].ms)
			printf("  %s -> %ld, want %ld (%s)\n", t[i].in, ms, t[i].ms, err);
		CHECK(ms == t[i].ms);
	}
}

TEST(duration_bad)
{
	static const char *const bad[] = {
		"", "5x", "-5s", "1.5s", "s", "m5", "30m1h", "1h1h", "1h30", "5 m", " 5m", "5M",
		"1ms5s", "+5s", "5sm", "h",
	};
	char err[128];
	long ms = 42;

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		if (config_parse_duration(bad[i], &ms, err, sizeof(err)) != -1)
			printf("  accepted '%s'\n", bad[i]);
		CHECK(config_parse_duration(bad[i], &ms, err, sizeof(err)) == -1);
	}
	CHECK(ms == 42);
	config_parse_duration("5x", &ms, err, sizeof(err));
	CHECK_STR(err, "bad duration '5x' (use e.g. 90s, 5m, 2h, 1h30m)");
	CHECK(config_parse_duration("31d", &ms, err, sizeof(err)) == -1);
	CHECK_STR(err, "duration '31d' is too long (max 30d)");
	CHECK(config_parse_duration("99999999999999999999999s", &ms, err, sizeof(err)) == -1);
	CHECK(config_parse_duration("720h1ms", &ms, err, sizeof(err)) == -1);
	CHECK(config_parse_duration(NULL, &ms, err, sizeof(err)) == -1);
}

TEST(percent)
{
	char err[128];
	int p = -1;

	CHECK(config_parse_percent("10%", &p, err, sizeof(err)) == 0 && p == 10);
	CHECK(config_parse_percent("10", &p, err, sizeof(err)) == 0 && p == 10);
	CHECK(config_parse_percent("0", &p, err, sizeof(err)) == 0 && p == 0);
	CHECK(config_parse_percent("100%", &p, err, sizeof(err)) == 0 && p == 100);
	CHECK(config_parse_percent("101", &p, err, sizeof(err)) == -1);
	CHECK_STR(err, "bad percentage '101' (use 0 to 100, e.g. 10%)");
	CHECK(config_parse_percent("-1", &p, err, sizeof(err)) == -1);
	CHECK(config_parse_percent("", &p, err, sizeof(err)) == -1);
	CHECK(config_parse_percent("%", &p, err, sizeof(err)) == -1);
	CHECK(config_parse_percent("10%%", &p, err, sizeof(err)) == -1);
	CHECK(config_parse_percent("1.5", &p, err, sizeof(err)) == -1);
	CHECK(config_parse_percent("99999999999", &p, err, sizeof(err)) == -1);
	CHECK(p == 100);
}

TEST(mode)
{
	enum config_mode m = MODE_BOTH;

	CHECK(config_parse_mode("execute", &m) == 0 && m == MODE_EXECUTE);
	CHECK(config_parse_mode("http", &m) == 0 && m == MODE_HTTP);
	CHECK(config_parse_mode("both", &m) == 0 && m == MODE_BOTH);
	CHECK(config_parse_mode("Both", &m) == -1);
	CHECK(config_parse_mode("", &m) == -1);
	CHECK(config_parse_mode(NULL, &m) == -1);
	CHECK(m == MODE_BOTH);
}

TEST(kernel_spec)
{
	enum kernel_select sel;
	char err[128], *arg = (char *)"x";

	CHECK(config_parse_kernel("auto", &sel, &arg, err, sizeof(err)) == 0);
	CHECK(sel == KSEL_AUTO && arg == NULL);
	CHECK(config_parse_kernel("all", &sel, &arg, err, sizeof(err)) == 0);
	CHECK(sel == KSEL_ALL && arg == NULL);
	CHECK(config_parse_kernel("notebook:work/a b.ipynb", &sel, &arg, err, sizeof(err)) == 0);
	CHECK(sel == KSEL_NOTEBOOK);
	CHECK_STR(arg, "work/a b.ipynb");
	free(arg);
	CHECK(config_parse_kernel("1c7f9a2e-5b1d-4d8e-9f0a-3b2c1d4e5f60", &sel, &arg, err, sizeof(err)) == 0);
	CHECK(sel == KSEL_ID);
	CHECK_STR(arg, "1c7f9a2e-5b1d-4d8e-9f0a-3b2c1d4e5f60");
	free(arg);
	CHECK(config_parse_kernel("DEADBEEF", &sel, &arg, err, sizeof(err)) == 0 && sel == KSEL_ID);
	free(arg);

	CHECK(config_parse_kernel("notebook:", &sel, &arg, err, sizeof(err)) == -1);
	CHECK(arg == NULL);
	CHECK(config_parse_kernel("abc", &sel, &arg, err, sizeof(err)) == -1);
	CHECK_STR(err, "bad kernel 'abc' (use auto, all, notebook:PATH or a kernel id)");
	CHECK(config_parse_kernel("1234567", &sel, &arg, err, sizeof(err)) == -1);
	CHECK(config_parse_kernel("1c7f9a2e-xyz", &sel, &arg, err, sizeof(err)) == -1);
	CHECK(config_parse_kernel("Auto", &sel, &arg, err, sizeof(err)) == -1);
	CHECK(config_parse_kernel("", &sel, &arg, err, sizeof(err)) == -1);
	CHECK(arg == NULL);
}

TEST(expand)
{
	char err[128], *s;

	setenv("UT_CFG_A", "alpha", 1);
	setenv("UT_CFG_EMPTY", "", 1);
	unsetenv("UT_CFG_UNSET");

	s = config_expand("x${UT_CFG_A}y${UT_CFG_A}", err, sizeof(err));
	CHECK_STR(s, "xalphayalpha");
	free(s);
	s = config_expand("[${UT_CFG_EMPTY}]", err, sizeof(err));
	CHECK_STR(s, "[]");
	free(s);
	s = config_expand("cost $$5 and $$${UT_CFG_A}", err, sizeof(err));
	CHECK_STR(s, "cost $5 and $alpha");
	free(s);
	s = config_expand("a $ b $x $", err, sizeof(err));	/* lone '$' is kept */
	CHECK_STR(s, "a $ b $x $");
	free(s);
	s = config_expand("", err, sizeof(err));
	CHECK_STR(s, "");
	free(s);

	CHECK(config_expand("a${UT_CFG_UNSET}b", err, sizeof(err)) == NULL);
	CHECK_STR(err, "environment variable UT_CFG_UNSET is not set");
	CHECK(config_expand("${UT_CFG_A", err, sizeof(err)) == NULL);
	CHECK_CONTAINS(err, "unterminated");
	CHECK(config_expand("${}", err, sizeof(err)) == NULL);
	CHECK(config_expand("${1A}", err, sizeof(err)) == NULL);
	CHECK(config_expand("${A-B}", err, sizeof(err)) == NULL);
	CHECK_CONTAINS(err, "bad variable name");
	unsetenv("UT_CFG_A");
	unsetenv("UT_CFG_EMPTY");
}

TEST(suggest_key)
{
	CHECK_STR(config_suggest_key("target", "intervl"), "interval");
	CHECK_STR(config_suggest_key("agent", "intervall"), "interval");
	CHECK_STR(config_suggest_key("target", "URL"), "url");
	CHECK_STR(config_suggest_key("target", "tokn"), "token");
	CHECK_STR(config_suggest_key("target", "token_fil"), "token_file");
	CHECK_STR(config_suggest_key("target", "insecure"), "insecure_skip_verify");
	CHECK_STR(config_suggest_key("agent", "notify_headr"), "notify_header");
	CHECK_STR(config_suggest_key("target", "max4xx"), "max_4xx");
	CHECK(config_suggest_key("target", "completely_different") == NULL);
	CHECK(config_suggest_key("agent", "url") == NULL);	/* not an [agent] key */
	CHECK(config_suggest_key("target", "") == NULL);
	CHECK_STR(config_suggest_key(NULL, "while_pd"), "while_pid");
}

TEST(known_keys)
{
	static const char *const want[] = {
		"interval", "jitter", "timeout", "for", "while_pid", "while_fresh", "linger", "notify_url",
		"notify_header", "notify_format", "url", "token", "token_file", "kernel", "mode",
		"code", "ca_file", "insecure_skip_verify", "hub_api_url", "hub_activity", "ping_url",
		"method", "body", "header", "max_4xx", "record", "record_max",
	};
	const char *const *k = config_known_keys();
	size_t n = 0;

	while (k[n])
		n++;
	CHECK(n == sizeof(want) / sizeof(want[0]));
	for (size_t i = 0; i < sizeof(want) / sizeof(want[0]); i++) {
		int count = 0;

		for (size_t j = 0; j < n; j++)
			count += strcmp(k[j], want[i]) == 0;
		if (count != 1)
			printf("  key %s listed %d times\n", want[i], count);
		CHECK(count == 1);
	}
	CHECK(config_known_keys() == k);
}

/* ------------------------------------------------------------ loading */

TEST(minimal_and_defaults)
{
	struct fx f;
	const struct target_config *t;

	clear_token_env();
	fx_load(&f, "[lab]\nurl = http://127.0.0.1:8888\n");
	CHECK_CLEAN(&f);
	CHECK(f.cfg.ntargets == 1);
	t = target(&f, "lab");
	CHECK(t != NULL);
	if (t) {
		CHECK(t->line == 1);
		CHECK(t->kind == TARGET_JUPYTER);
		CHECK_STR(t->url, "http://127.0.0.1:8888/");
		CHECK(t->token == NULL);
		CHECK(t->mode == MODE_BOTH);
		CHECK(t->kernel == KSEL_AUTO && t->kernel_arg == NULL);
		CHECK_STR(t->code, "");
		CHECK_STR(t->method, "GET");
		CHECK(t->hub_activity == HUB_AUTO);
		CHECK(t->max_4xx == 2);
		CHECK(t->insecure == 0);
		/* unset until config_finish */
		CHECK(t->interval_ms == 0 && t->jitter_pct == -1 && t->timeout_ms == 0);
	}
	CHECK(f.cfg.interval_ms == 60000 && f.cfg.jitter_pct == 10 && f.cfg.timeout_ms == 30000);
	CHECK(f.cfg.for_ms == -1 && f.cfg.while_pid == 0 && f.cfg.while_fresh_path == NULL);
	CHECK(f.cfg.notify_format == NOTIFY_TEXT);
	CHECK(config_finish(&f.cfg, &f.e) == 0);
	if (t)
		CHECK(t->interval_ms == 60000 && t->jitter_pct == 10 && t->timeout_ms == 30000);
	fx_free(&f);
}

TEST(finish_copies_agent_defaults)
{
	struct fx f;

	clear_token_env();
	/* [agent] after the targets still supplies their defaults */
	fx_load(&f,
		"[a]\n"
		"url = http://h:1/base\n"
		"interval = 2m\n"
		"jitter = 0\n"
		"[b]\n"
		"url = https://h/\n"
		"timeout = 5s\n"
		"[agent]\n"
		"interval = 90\n"
		"jitter = 25%\n"
		"timeout = 1m\n");
	CHECK_CLEAN(&f);
	CHECK(config_finish(&f.cfg, &f.e) == 0);
	CHECK(f.e.n == 0);
	if (f.cfg.ntargets == 2) {
		const struct target_config *a = &f.cfg.targets[0], *b = &f.cfg.targets[1];

		CHECK_STR(a->url, "http://h:1/base/");
		CHECK(a->interval_ms == 120000 && a->jitter_pct == 0 && a->timeout_ms == 60000);
		CHECK(b->interval_ms == 90000 && b->jitter_pct == 25 && b->timeout_ms == 5000);
	}
	CHECK(config_finish(&f.cfg, &f.e) == 0);	/* idempotent */
	fx_free(&f);

	/* no targets is not finish's business: main may run discovery */
	config_init(&f.cfg);
	memset(&f.e, 0, sizeof(f.e));
	CHECK(config_finish(&f.cfg, &f.e) == 0);
	CHECK(f.e.n == 0);
	fx_free(&f);
}

TEST(agent_section)
{
	struct fx f;

	fx_load(&f,
		"[agent]\n"
		"for = 8h\n"
		"while_pid = 4242\n"
		"while_fresh = /tmp/a:b/heartbeat:15m\n"
		"linger = 10m\n"
		"notify_url = https://hooks.example.com/x\n"
		"notify_header = Authorization: Bearer abc\n"
		"notify_header = X-Source:agent\n"
		"notify_format = json\n");
	CHECK_CLEAN(&f);
	CHECK(f.cfg.for_ms == 8 * 3600000L);
	CHECK(f.cfg.while_pid == 4242);
	CHECK_STR(f.cfg.while_fresh_path, "/tmp/a:b/heartbeat");
	CHECK(f.cfg.while_fresh_ms == 900000);
	CHECK(f.cfg.linger_ms == 600000);
	CHECK_STR(f.cfg.notify_url, "https://hooks.example.com/x");
	CHECK(f.cfg.notify_headers.n == 2);
	if (f.cfg.notify_headers.n == 2) {
		CHECK_STR(f.cfg.notify_headers.v[0], "Authorization: Bearer abc");
		CHECK_STR(f.cfg.notify_headers.v[1], "X-Source: agent");
	}
	CHECK(f.cfg.notify_format == NOTIFY_JSON);
	CHECK(f.cfg.ntargets == 0);
	fx_free(&f);

	fx_load(&f, "[agent]\nfor = 0\n");
	CHECK_CLEAN(&f);
	CHECK(f.cfg.for_ms == 0);
	fx_free(&f);

	fx_load(&f,
		"[agent]\n"
		"while_pid = 0\n"
		"while_fresh = /tmp/x\n"
		"while_fresh_x = 1\n"
		"notify_format = xml\n"
		"notify_url = ftp://x\n"
		"notify_header = no colon\n"
		"interval = 500ms\n"
		"jitter = 150\n"
		"timeout = 10ms\n"
		"for = soon\n");
	CHECK(f.rc == -1);
	CHECK_ERR(&f, "t.ini:2: [agent] while_pid: bad pid '0' (a positive process id)");
	CHECK_ERR(&f, "t.ini:3: [agent] while_fresh: expected FILE:DURATION, e.g. /tmp/heartbeat:10m");
	CHECK_ERR(&f, "t.ini:4: [agent] unknown key 'while_fresh_x' (did you mean 'while_fresh'?)");
	CHECK_ERR(&f, "t.ini:5: [agent] notify_format: bad format 'xml' (use text or json)");
	CHECK_ERR(&f, "t.ini:6: [agent] notify_url: bad URL 'ftp://x' (must start with http:// or https://)");
	CHECK_ERR(&f, "t.ini:7: [agent] notify_header: expected 'Name: value'");
	CHECK_ERR(&f, "t.ini:8: [agent] interval: interval must be at least 1s");
	CHECK_ERR(&f, "t.ini:9: [agent] jitter: bad percentage '150' (use 0 to 100, e.g. 10%)");
	CHECK_ERR(&f, "t.ini:10: [agent] timeout: timeout must be at least 100ms");
	CHECK_ERR(&f, "t.ini:11: [agent] for: bad duration 'soon' (use e.g. 90s, 5m, 2h, 1h30m)");
	CHECK(f.e.n == 10);
	fx_free(&f);
}

TEST(bad_values_with_lines)
{
	struct fx f;

	clear_token_env();
	fx_load(&f,
		"; comment\n"
		"[lab]\n"
		"url = http://h/\n"
		"interval = 5x\n"
		"kernel = nope\n"
		"mode = fast\n"
		"insecure_skip_verify = maybe\n"
		"hub_activity = sometimes\n"
		"hub_api_url = hub/api\n"
		"jitter = 200%\n");
	CHECK(f.rc == -1);
	CHECK_ERR(&f, "t.ini:4: [lab] interval: bad duration '5x' (use e.g. 90s, 5m, 2h, 1h30m)");
	CHECK_ERR(&f, "t.ini:5: [lab] kernel: bad kernel 'nope' (use auto, all, notebook:PATH or a kernel id)");
	CHECK_ERR(&f, "t.ini:6: [lab] mode: bad mode 'fast' (use execute, http or both)");
	CHECK_ERR(&f, "t.ini:7: [lab] insecure_skip_verify: bad boolean 'maybe' (use true or false)");
	CHECK_ERR(&f, "t.ini:8: [lab] hub_activity: bad value 'sometimes' (use auto, on or off)");
	CHECK_ERR(&f, "t.ini:9: [lab] hub_api_url: bad URL 'hub/api' (must start with http:// or https://)");
	CHECK_ERR(&f, "t.ini:10: [lab] jitter: bad percentage '200%' (use 0 to 100, e.g. 10%)");
	CHECK(f.e.n == 7);
	fx_free(&f);

	fx_load(&f, "[lab]\nurl = localhost:8888\n[x]\nurl = http://\n[y]\nurl = http://a b/\n");
	CHECK_ERR(&f, "t.ini:2: [lab] url: bad URL 'localhost:8888' (must start with http:// or https://)");
	CHECK_ERR(&f, "t.ini:4: [x] url: bad URL 'http://' (no host)");
	CHECK_ERR(&f, "t.ini:6: [y] url: bad URL 'http://a b/' (contains whitespace)");
	CHECK(f.e.n == 3);	/* no "needs url" on top */
	fx_free(&f);
}

TEST(target_values)
{
	struct fx f;
	const struct target_config *t;

	clear_token_env();
	fx_load(&f,
		"[hub]\n"
		"url = HTTPS://hub.example.com/user/alice\n"
		"token = abc;def\n"
		"kernel = notebook:work/train.ipynb\n"
		"mode = execute\n"
		"code = import time\n"
		"interval = 1h30m\n"
		"jitter = 5\n"
		"timeout = 250ms\n"
		"insecure_skip_verify = YES\n"
		"hub_api_url = https://hub.example.com/hub/api/\n"
		"hub_activity = off\n");
	CHECK_CLEAN(&f);
	t = target(&f, "hub");
	CHECK(t != NULL);
	if (t) {
		CHECK_STR(t->url, "https://hub.example.com/user/alice/");
		CHECK_STR(t->token, "abc;def");
		CHECK(t->kernel == KSEL_NOTEBOOK);
		CHECK_STR(t->kernel_arg, "work/train.ipynb");
		CHECK(t->mode == MODE_EXECUTE);
		CHECK_STR(t->code, "import time");
		CHECK(t->interval_ms == 5400000 && t->jitter_pct == 5 && t->timeout_ms == 250);
		CHECK(t->insecure == 1);
		CHECK_STR(t->hub_api_url, "https://hub.example.com/hub/api");
		CHECK(t->hub_activity == HUB_OFF);
	}
	fx_free(&f);

	/* inline comments: ';' after whitespace only */
	fx_load(&f, "[lab]\nurl = http://h/ ; the server\ntoken = a;b ;c\nmode = http;\n");
	CHECK(f.rc == -1);	/* "http;" is not a mode */
	t = target(&f, "lab");
	if (t) {
		CHECK_STR(t->url, "http://h/");
		CHECK_STR(t->token, "a;b");
	}
	CHECK_ERR(&f, "t.ini:4: [lab] mode: bad mode 'http;' (use execute, http or both)");
	fx_free(&f);
}

TEST(unknown_keys)
{
	struct fx f;

	clear_token_env();
	fx_load(&f,
		"[agent]\n"
		"intervl = 5m\n"
		"url = http://h/\n"
		"[lab]\n"
		"url = http://h/\n"
		"while_pid = 1\n"
		"tokn = x\n"
		"frobnicate = 1\n");
	CHECK(f.rc == -1);
	CHECK_ERR(&f, "t.ini:2: [agent] unknown key 'intervl' (did you mean 'interval'?)");
	CHECK_ERR(&f, "t.ini:3: [agent] url: only valid in a target section");
	CHECK_ERR(&f, "t.ini:6: [lab] while_pid: only valid in [agent]");
	CHECK_ERR(&f, "t.ini:7: [lab] unknown key 'tokn' (did you mean 'token'?)");
	CHECK_ERR(&f, "t.ini:8: [lab] unknown key 'frobnicate'");
	CHECK(f.e.n == 5);
	fx_free(&f);
}

TEST(duplicates_and_continuations)
{
	struct fx f;

	clear_token_env();
	fx_load(&f,
		"[lab]\n"
		"url = http://h/\n"
		"interval = 1m\n"
		"\n"
		"interval = 2m\n"
		"token = abc\n"
		"  def\n"
		"[agent]\n"
		"timeout = 5s\n"
		"timeout = 6s\n"
		"[lab]\n"
		"url = http://other/\n"
		"[agent]\n");
	CHECK(f.rc == -1);
	CHECK_ERR(&f, "t.ini:5: [lab] duplicate key 'interval' (first set on line 3)");
	CHECK_ERR(&f, "t.ini:7: [lab] indented line continues 'token' (multi-line values are not "
		  "supported; remove the leading whitespace)");
	CHECK_ERR(&f, "t.ini:10: [agent] duplicate key 'timeout' (first set on line 9)");
	CHECK_ERR(&f, "t.ini:11: duplicate section [lab] (first on line 1)");
	CHECK_ERR(&f, "t.ini:13: duplicate section [agent] (first on line 8)");
	CHECK(f.e.n == 5);
	/* the first value stands */
	if (f.cfg.ntargets >= 1) {
		CHECK(f.cfg.targets[0].interval_ms == 60000);
		CHECK_STR(f.cfg.targets[0].token, "abc");
	}
	CHECK(f.cfg.timeout_ms == 5000);
	fx_free(&f);

	/* a continuation after a comment and a blank line is still one (inih's rule) */
	fx_load(&f, "[lab]\nurl = http://h/\n; note\n\n\tmode = http\n");
	CHECK_ERR(&f, "t.ini:5: [lab] indented line continues 'url' (multi-line values are not "
		  "supported; remove the leading whitespace)");
	CHECK(f.e.n == 1);
	fx_free(&f);

	/* but an indented line right after a section header is an ordinary key */
	fx_load(&f, "[lab]\n  url = http://h/\n");
	CHECK_CLEAN(&f);
	fx_free(&f);
}

TEST(long_lines)
{
	struct fx f;
	char text[1024], longval[400];

	clear_token_env();
	memset(longval, 'a', 300);
	longval[300] = '\0';
	snprintf(text, sizeof(text),
		 "[lab]\n"
		 "url = http://h/\n"
		 "token = %s\n"
		 "interval = bogus\n"
		 "[x]\n",
		 longval);
	fx_load(&f, text);
	CHECK(f.rc == -1);
	CHECK_ERR(&f, "t.ini:3: line too long (max 190 characters; use token_file = for long secrets)");
	CHECK_ERR(&f, "t.ini:4: [lab] interval: bad duration 'bogus' (use e.g. 90s, 5m, 2h, 1h30m)");
	CHECK_ERR(&f, "t.ini:5: [x] needs url = (a Jupyter server) or ping_url = (a plain HTTP keepalive)");
	CHECK(f.e.n == 3);
	if (f.cfg.ntargets >= 1)
		CHECK(f.cfg.targets[0].token == NULL);
	fx_free(&f);

	/* a section meant to be [agent] */
	fx_load(&f, "[global]\ninterval = 5m\n[lab]\nurl = http://h/\n");
	CHECK(f.rc == -1);
	CHECK_ERR(&f, "t.ini:1: [global] is not a section this program reads; did you mean [agent]? "
		  "(every other section is a target and needs url = or ping_url =)");
	fx_free(&f);

	/* exactly 190 characters is fine */
	memset(longval, 'b', 182);
	longval[182] = '\0';
	snprintf(text, sizeof(text), "[lab]\nurl = http://h/\ntoken = %s\n", longval);
	CHECK(strlen("token = ") + strlen(longval) == 190);
	fx_load(&f, text);
	CHECK_CLEAN(&f);
	if (f.cfg.ntargets == 1)
		CHECK_STR(f.cfg.targets[0].token, longval);
	fx_free(&f);

	/* a long comment line counts too (inih would split it) */
	memset(longval, ';', 250);
	longval[250] = '\0';
	snprintf(text, sizeof(text), "%s\n[lab]\n", longval);
	fx_load(&f, text);
	CHECK_ERR(&f, "t.ini:1: line too long (max 190 characters; use token_file = for long secrets)");
	CHECK_ERR(&f, "t.ini:2: [lab] needs url = (a Jupyter server) or ping_url = (a plain HTTP keepalive)");
	fx_free(&f);
}

TEST(syntax_errors)
{
	struct fx f;

	clear_token_env();
	fx_load(&f,
		"url = http://h/\n"
		"[lab\n"
		"mode = http\n"
		"[ok]\n"
		"url = http://h/\n"
		"just some words\n"
		"also words\n"
		"[]\n"
		"[Agent]\n"
		"interval = 5m\n");
	CHECK(f.rc == -1);
	CHECK_ERR(&f, "t.ini:1: 'url' is outside any section (put [agent] or a [name] target header above it)");
	CHECK_ERR(&f, "t.ini:2: syntax error (section header without closing ']')");
	CHECK_ERR(&f, "t.ini:6: syntax error (expected [section] or key = value)");
	CHECK_ERR(&f, "t.ini:7: syntax error (expected [section] or key = value)");
	CHECK_ERR(&f, "t.ini:8: empty section name '[]'");
	CHECK_ERR(&f, "t.ini:9: [Agent] section names are case-sensitive; did you mean [agent]?");
	if (f.e.n != 6)
		dump(&f);
	/* keys under a broken header are not filed under the previous section */
	CHECK(f.e.n == 6);
	CHECK(f.cfg.ntargets == 1);
	CHECK(f.cfg.interval_ms == 60000);
	fx_free(&f);

	/* section names are trimmed; ':' works as '=' (inih) */
	fx_load(&f, "[ lab ]\nurl: http://h/\n");
	CHECK_CLEAN(&f);
	CHECK(target(&f, "lab") != NULL);
	fx_free(&f);
}

TEST(missing_url_and_exclusive)
{
	struct fx f;

	clear_token_env();
	fx_load(&f,
		"[agent]\n"
		"interval = 1m\n"
		"\n"
		"[lab]\n"
		"kernel = auto\n"
		"[both]\n"
		"url = http://h/\n"
		"ping_url = http://h/ping\n"
		"[empty]\n");
	CHECK(f.rc == -1);
	CHECK_ERR(&f, "t.ini:4: [lab] needs url = (a Jupyter server) or ping_url = (a plain HTTP keepalive)");
	CHECK_ERR(&f, "t.ini:8: [both] url and ping_url are mutually exclusive (url on line 7)");
	CHECK_ERR(&f, "t.ini:9: [empty] needs url = (a Jupyter server) or ping_url = (a plain HTTP keepalive)");
	CHECK(f.e.n == 3);
	fx_free(&f);
}

TEST(ping_target)
{
	struct fx f;
	const struct target_config *t;

	clear_token_env();
	setenv("UT_CFG_SITE", "s3cret", 1);
	fx_load(&f,
		"[site]\n"
		"ping_url = https://example.com/keepalive?x=1\n"
		"method = post\n"
		"body = {\"alive\": true}\n"
		"header = Authorization: Bearer ${UT_CFG_SITE}\n"
		"header = Content-Type: application/json\n"
		"header = X-Empty:\n"
		"max_4xx = 5\n"
		"interval = 10m\n"
		"ca_file = /dev/null\n");
	/* /dev/null is not a regular file */
	CHECK_ERR(&f, "t.ini:10: [site] ca_file: /dev/null is not a regular file (a PEM bundle)");
	CHECK(f.e.n == 1);
	t = target(&f, "site");
	CHECK(t != NULL);
	if (t) {
		CHECK(t->kind == TARGET_PING);
		CHECK_STR(t->ping_url, "https://example.com/keepalive?x=1");
		CHECK(t->url == NULL && t->token == NULL);
		CHECK_STR(t->method, "POST");
		CHECK_STR(t->body, "{\"alive\": true}");
		CHECK(t->headers.n == 3);
		if (t->headers.n == 3) {
			CHECK_STR(t->headers.v[0], "Authorization: Bearer s3cret");
			CHECK_STR(t->headers.v[1], "Content-Type: application/json");
			CHECK_STR(t->headers.v[2], "X-Empty: ");
		}
		CHECK(t->max_4xx == 5);
		CHECK(t->interval_ms == 600000);
	}
	fx_free(&f);

	/* Jupyter-only keys on a ping target and the other way round */
	setenv("JUPYTER_TOKEN", "envtok", 1);
	fx_load(&f,
		"[site]\n"
		"kernel = all\n"
		"ping_url = http://h/\n"
		"mode = http\n"
		"code = 1\n"
		"body = x\n"
		"max_4xx = 0\n"
		"method = PUT\n"
		"[lab]\n"
		"url = http://h/\n"
		"header = A: b\n"
		"max_4xx = 3\n");
	CHECK_ERR(&f, "t.ini:2: [site] kernel: not valid with ping_url (only for url = targets)");
	CHECK_ERR(&f, "t.ini:4: [site] mode: not valid with ping_url (only for url = targets)");
	CHECK_ERR(&f, "t.ini:5: [site] code: not valid with ping_url (only for url = targets)");
	CHECK_ERR(&f, "t.ini:6: [site] body: needs method = POST");
	CHECK_ERR(&f, "t.ini:7: [site] max_4xx: bad count '0' (a whole number, at least 1)");
	CHECK_ERR(&f, "t.ini:8: [site] method: bad method 'PUT' (use GET or POST)");
	CHECK_ERR(&f, "t.ini:11: [lab] header: only valid with ping_url");
	CHECK_ERR(&f, "t.ini:12: [lab] max_4xx: only valid with ping_url");
	CHECK(f.e.n == 8);
	t = target(&f, "site");
	if (t)
		CHECK(t->token == NULL);	/* no env token for ping targets */
	t = target(&f, "lab");
	if (t)
		CHECK_STR(t->token, "envtok");
	fx_free(&f);
	clear_token_env();
	unsetenv("UT_CFG_SITE");
}

TEST(env_expansion_in_values)
{
	struct fx f;
	const struct target_config *t;

	clear_token_env();
	setenv("UT_CFG_HOST", "h.example", 1);
	setenv("UT_CFG_NL", "a\nb", 1);
	unsetenv("UT_CFG_UNSET");
	fx_load(&f,
		"[lab]\n"
		"url = https://${UT_CFG_HOST}:8443/\n"
		"token = ${UT_CFG_UNSET}\n"
		"code = print('$$HOME $x')\n"
		"[b]\n"
		"url = http://h/\n"
		"token = ${UT_CFG_NL}\n");
	CHECK(f.rc == -1);
	CHECK_ERR(&f, "t.ini:3: [lab] token: environment variable UT_CFG_UNSET is not set");
	CHECK_ERR(&f, "t.ini:7: [b] token: value contains control characters");
	CHECK(f.e.n == 2);
	t = target(&f, "lab");
	if (t) {
		CHECK_STR(t->url, "https://h.example:8443/");
		CHECK_STR(t->code, "print('$HOME $x')");
	}
	fx_free(&f);
	unsetenv("UT_CFG_HOST");
	unsetenv("UT_CFG_NL");
}

TEST(hash_warning)
{
	struct fx f;

	clear_token_env();
	fx_load(&f, "[lab]\nurl = http://h/\nkernel = auto # the only one\ncode = #x\n");
	CHECK_ERR(&f, "t.ini:3: [lab] kernel: bad kernel 'auto # the only one' (use auto, all, "
		  "notebook:PATH or a kernel id)");
	CHECK_WARN(&f, "t.ini:3: [lab] kernel: '#' is part of the value here, not a comment "
		   "(only ';' after whitespace starts an inline comment)");
	CHECK_WARN(&f, "t.ini:4: [lab] code: '#' is part of the value here, not a comment "
		   "(only ';' after whitespace starts an inline comment)");
	CHECK(f.e.n == 1 && f.e.nwarn == 2);
	fx_free(&f);
}

TEST(token_precedence)
{
	struct fx f;
	const struct target_config *t;

	clear_token_env();
	setenv("JUPYTERHUB_API_TOKEN", "hubtok", 1);
	fx_load(&f, "[a]\nurl = http://h/\n");
	CHECK_CLEAN(&f);
	if ((t = target(&f, "a")))
		CHECK_STR(t->token, "hubtok");
	fx_free(&f);

	setenv("JUPYTER_TOKEN", "juptok", 1);
	fx_load(&f,
		"[a]\nurl = http://h/\n"
		"[b]\nurl = http://h/\ntoken = own\n"
		"[c]\nurl = http://h/\ntoken =\n"
		"[d]\nurl = http://h/lab?foo=1&token=fromurl#x\n"
		"[e]\nurl = http://h/lab?token=fromurl\ntoken = own\n");
	CHECK(f.rc == 0 && f.e.n == 0);
	if ((t = target(&f, "a")))
		CHECK_STR(t->token, "juptok");
	if ((t = target(&f, "b")))
		CHECK_STR(t->token, "own");
	if ((t = target(&f, "c")))
		CHECK_STR(t->token, "");	/* explicitly no auth */
	if ((t = target(&f, "d"))) {
		CHECK_STR(t->url, "http://h/");
		CHECK_STR(t->token, "fromurl");
	}
	if ((t = target(&f, "e")))
		CHECK_STR(t->token, "own");
	fx_free(&f);
	clear_token_env();
}

TEST(token_file)
{
	char dir[] = "/tmp/ut_config.XXXXXX", path[64], path2[64], path3[64], text[2048];
	struct fx f;
	const struct target_config *t;
	char *home = getenv("HOME") ? strdup(getenv("HOME")) : NULL;

	clear_token_env();
	CHECK(mkdtemp(dir) != NULL);
	snprintf(path, sizeof(path), "%s/tok", dir);
	snprintf(path2, sizeof(path2), "%s/empty", dir);
	snprintf(path3, sizeof(path3), "%s/two", dir);
	write_file(path, "  abc123 \n\n", 0600);
	write_file(path2, " \n", 0600);
	write_file(path3, "abc\ndef\n", 0600);

	snprintf(text, sizeof(text),
		 "[a]\n"
		 "url = http://h/\n"
		 "token_file = %s\n"
		 "[b]\n"
		 "url = http://h/\n"
		 "token_file = %s/missing\n"
		 "[c]\n"
		 "url = http://h/\n"
		 "token_file = %s\n"
		 "[d]\n"
		 "url = http://h/\n"
		 "token = x\n"
		 "token_file = %s\n"
		 "[e]\n"
		 "url = http://h/\n"
		 "token_file = %s\n",
		 path, dir, path2, path, path3);
	fx_load(&f, text);
	CHECK(f.rc == -1);
	if ((t = target(&f, "a")))
		CHECK_STR(t->token, "  abc123");	/* only trailing whitespace is stripped */
	{
		char want[1024];

		snprintf(want, sizeof(want), "t.ini:6: [b] token_file: cannot read %s/missing: "
			 "No such file or directory", dir);
		CHECK(has(f.e.msg, f.e.n, want));
		snprintf(want, sizeof(want), "t.ini:9: [c] token_file: %s is empty", path2);
		CHECK(has(f.e.msg, f.e.n, want));
		snprintf(want, sizeof(want), "t.ini:16: [e] token_file: %s must hold the token on one line", path3);
		CHECK(has(f.e.msg, f.e.n, want));
	}
	CHECK_ERR(&f, "t.ini:13: [d] token and token_file are both set (token on line 12); keep one");
	CHECK(f.e.n == 4);
	CHECK(f.e.nwarn == 0);
	if (f.e.n != 4 || f.e.nwarn)
		dump(&f);
	fx_free(&f);

	/* group-readable token file: warning; ~/ is $HOME */
	chmod(path, 0644);
	setenv("HOME", dir, 1);
	fx_load(&f, "[a]\nurl = http://h/\ntoken_file = ~/tok\n");
	CHECK(f.rc == 0 && f.e.n == 0);
	if ((t = target(&f, "a")))
		CHECK_STR(t->token, "  abc123");
	{
		char want[1024];

		snprintf(want, sizeof(want), "t.ini:3: [a] token_file: %s is readable by group/others; "
			 "run chmod 600 %s", path, path);
		CHECK(has(f.e.warn, f.e.nwarn, want));
	}
	CHECK(f.e.nwarn == 1);
	fx_free(&f);
	if (home)
		setenv("HOME", home, 1);
	else
		unsetenv("HOME");
	free(home);

	unlink(path);
	unlink(path2);
	unlink(path3);
	rmdir(dir);
}

/* token_file = reads at most 16 KiB, whatever size the file reports (file.c's reader). */
TEST(token_file_size_bounds)
{
	char dir[] = "/tmp/ut_config.XXXXXX", path[64], text[256], want[512];
	char *big = malloc(16384 + 2);
	struct fx f;
	const struct target_config *t;

	clear_token_env();
	CHECK(mkdtemp(dir) != NULL && big != NULL);
	if (!big)
		return;
	snprintf(path, sizeof(path), "%s/tok", dir);
	memset(big, 'a', 16384);
	big[16384] = '\0';
	write_file(path, big, 0600);	/* exactly the limit */
	snprintf(text, sizeof(text), "[a]\nurl = http://h/\ntoken_file = %s\n", path);
	fx_load(&f, text);
	CHECK_CLEAN(&f);
	if ((t = target(&f, "a")))
		CHECK(t->token && strlen(t->token) == 16384);
	fx_free(&f);

	strcat(big, "a");		/* one byte over */
	write_file(path, big, 0600);
	fx_load(&f, text);
	snprintf(want, sizeof(want), "t.ini:3: [a] token_file: %s is larger than 16384 bytes", path);
	CHECK(f.e.n == 1 && has(f.e.msg, f.e.n, want));
	fx_free(&f);

	snprintf(text, sizeof(text), "[a]\nurl = http://h/\ntoken_file = %s\n", dir);
	fx_load(&f, text);
	snprintf(want, sizeof(want), "t.ini:3: [a] token_file: %s is not a regular file", dir);
	CHECK(f.e.n == 1 && has(f.e.msg, f.e.n, want));
	fx_free(&f);

	unlink(path);
	rmdir(dir);
	free(big);
}

/* config_load on a real file: permissions, relative paths, unreadable file */
TEST(load_file)
{
	char dir[] = "/tmp/ut_config.XXXXXX", ini[64], tok[64], want[1024];
	struct fx f;
	const struct target_config *t;

	clear_token_env();
	CHECK(mkdtemp(dir) != NULL);
	snprintf(ini, sizeof(ini), "%s/agent.ini", dir);
	snprintf(tok, sizeof(tok), "%s/lab.token", dir);
	write_file(tok, "filetok\n", 0600);

	/* a literal token in a group-readable file */
	write_file(ini, "[lab]\nurl = http://h/\ntoken = literal\n[b]\nurl = http://h/\ntoken = x\n", 0644);
	memset(&f, 0, sizeof(f));
	config_init(&f.cfg);
	f.rc = config_load(ini, &f.cfg, &f.e);
	CHECK(f.rc == 0 && f.e.n == 0);
	CHECK_STR(f.cfg.path, ini);
	snprintf(want, sizeof(want), "%s:3: [lab] token: %s holds a secret and is readable by group/others; "
		 "run chmod 600 %s (or use ${VAR} or token_file =)", ini, ini, ini);
	CHECK(has(f.e.warn, f.e.nwarn, want));
	CHECK(f.e.nwarn == 1);	/* once per file */
	fx_free(&f);

	/* the same file with 0600, and a relative token_file taken from the file's directory */
	write_file(ini, "\xEF\xBB\xBF[lab]\r\nurl = http://h/\r\ntoken = literal\r\n"
		   "[rel]\r\nurl = http://h/\r\ntoken_file = lab.token\r\n", 0600);
	config_init(&f.cfg);
	f.rc = config_load(ini, &f.cfg, &f.e);
	CHECK_CLEAN(&f);
	if ((t = target(&f, "lab")))
		CHECK_STR(t->token, "literal");
	if ((t = target(&f, "rel")))
		CHECK_STR(t->token, "filetok");
	fx_free(&f);

	/* ${VAR} tokens hold no secret: no warning even when readable */
	setenv("UT_CFG_TOK", "t", 1);
	write_file(ini, "[lab]\nurl = http://h/\ntoken = ${UT_CFG_TOK}\n", 0644);
	config_init(&f.cfg);
	f.rc = config_load(ini, &f.cfg, &f.e);
	CHECK_CLEAN(&f);
	fx_free(&f);
	unsetenv("UT_CFG_TOK");

	/* missing file, directory */
	unlink(ini);
	config_init(&f.cfg);
	CHECK(config_load(ini, &f.cfg, &f.e) == -1);
	snprintf(want, sizeof(want), "%s: cannot read: No such file or directory", ini);
	CHECK(f.e.n == 1 && has(f.e.msg, f.e.n, want));
	fx_free(&f);
	config_init(&f.cfg);
	CHECK(config_load(dir, &f.cfg, &f.e) == -1);
	snprintf(want, sizeof(want), "%s: cannot read: Is a directory", dir);
	CHECK(f.e.n == 1 && has(f.e.msg, f.e.n, want));
	fx_free(&f);

	unlink(tok);
	rmdir(dir);
}

TEST(cli_target)
{
	struct agent_config cfg;
	struct config_errors e = { 0 };
	const struct target_config *t;

	clear_token_env();
	setenv("JUPYTERHUB_API_TOKEN", "hubtok", 1);
	config_init(&cfg);
	CHECK(config_add_cli_target(&cfg, "http://127.0.0.1:8888", NULL, &e) == 0);
	CHECK(cfg.ntargets == 1);
	t = &cfg.targets[0];
	CHECK_STR(t->name, "cli");
	CHECK(t->line == 0);
	CHECK_STR(t->url, "http://127.0.0.1:8888/");
	CHECK_STR(t->token, "hubtok");
	CHECK(t->kernel == KSEL_AUTO);
	CHECK_STR(t->code, "");
	CHECK(config_finish(&cfg, &e) == 0);
	CHECK(cfg.targets[0].interval_ms == 60000);
	config_free(&cfg);

	/* what Jupyter prints at start-up */
	setenv("JUPYTER_TOKEN", "juptok", 1);
	config_init(&cfg);
	CHECK(config_add_cli_target(&cfg, "http://localhost:8888/lab?token=0123abcd", "all", &e) == 0);
	t = &cfg.targets[0];
	CHECK_STR(t->url, "http://localhost:8888/");
	CHECK_STR(t->token, "0123abcd");
	CHECK(t->kernel == KSEL_ALL);
	config_free(&cfg);

	config_init(&cfg);
	CHECK(config_add_cli_target(&cfg, "https://hub/user/bob/tree/", NULL, &e) == 0);
	CHECK_STR(cfg.targets[0].url, "https://hub/user/bob/");
	CHECK_STR(cfg.targets[0].token, "juptok");
	CHECK(cfg.targets[0].url_trimmed == 1);
	config_free(&cfg);

	/* what the browser's address bar shows */
	{
		static const char *const pasted[][2] = {
			{ "http://localhost:8888/lab/tree/train.ipynb", "http://localhost:8888/" },
			{ "http://localhost:8888/lab/tree/dir/x.ipynb?reset", "http://localhost:8888/" },
			{ "https://hub.example/user/a%20b/lab/workspaces/auto-x/tree/t.ipynb",
			  "https://hub.example/user/a%20b/" },
			{ "http://h:8888/notebooks/train.ipynb", "http://h:8888/" },
			{ "http://h:8888/doc/tree/train.ipynb", "http://h:8888/" },
			{ "http://h:8888/edit/notes.txt", "http://h:8888/" },
			{ "http://h:8888/base/tree", "http://h:8888/base/" },
			{ "http://h:8888/laboratory/", "http://h:8888/laboratory/" },
			{ "http://h:8888/", "http://h:8888/" },
		};
		for (size_t i = 0; i < sizeof(pasted) / sizeof(pasted[0]); i++) {
			config_init(&cfg);
			CHECK(config_add_cli_target(&cfg, pasted[i][0], NULL, &e) == 0);
			CHECK_STR(cfg.targets[0].url, pasted[i][1]);
			CHECK(cfg.targets[0].url_trimmed == (i < 7));
			config_free(&cfg);
		}
	}

	CHECK(e.n == 0);
	config_init(&cfg);
	CHECK(config_add_cli_target(&cfg, "localhost:8888", NULL, &e) == -1);
	CHECK(config_add_cli_target(&cfg, "http://h/", "bogus", &e) == -1);
	CHECK(e.n == 2);
	if (e.n == 2) {
		CHECK_STR(e.msg[0], "--url: bad URL 'localhost:8888' (must start with http:// or https://)");
		CHECK_STR(e.msg[1], "--kernel: bad kernel 'bogus' (use auto, all, notebook:PATH or a kernel id)");
	}
	config_free(&cfg);
	config_errors_free(&e);

	/* --url next to a file that has a [cli] section */
	{
		struct fx f;

		fx_load(&f, "[agent]\n[cli]\nurl = http://h/\n");
		CHECK_CLEAN(&f);
		CHECK(config_add_cli_target(&f.cfg, "http://x/", NULL, &f.e) == 0);
		CHECK(config_finish(&f.cfg, &f.e) == -1);
		CHECK_ERR(&f, "--url: target [cli] is also defined on line 2 of the config; rename that section");
		fx_free(&f);
	}
	clear_token_env();
}

TEST(free_is_safe)
{
	struct agent_config cfg;
	struct config_errors e = { 0 };

	config_init(&cfg);
	config_free(&cfg);
	config_free(&cfg);
	config_free(NULL);
	config_errors_free(&e);
	config_errors_free(NULL);
	CHECK(cfg.ntargets == 0 && cfg.targets == NULL && cfg.interval_ms == 60000);
}

/* The shipped example parses cleanly and documents every key. */
TEST(example_config)
{
	struct fx f;
	const char *const *k;
	const struct target_config *t;
	char *text = NULL;
	size_t cap = 0;
	FILE *fp;

	clear_token_env();
	setenv("JUPYTER_TOKEN", "example-token", 1);
	memset(&f, 0, sizeof(f));
	config_init(&f.cfg);
	f.rc = config_load("config/agent.ini", &f.cfg, &f.e);
	CHECK_CLEAN(&f);
	CHECK(config_finish(&f.cfg, &f.e) == 0);
	t = target(&f, "lab");
	CHECK(t != NULL);
	if (t) {
		CHECK_STR(t->token, "example-token");
		CHECK(t->kernel == KSEL_AUTO && t->mode == MODE_BOTH);
		CHECK_STR(t->code, "");
	}
	fx_free(&f);
	clear_token_env();

	fp = fopen("config/agent.ini", "r");
	CHECK(fp != NULL);
	if (!fp)
		return;
	CHECK(getdelim(&text, &cap, '\0', fp) > 0);
	fclose(fp);
	for (k = config_known_keys(); text && *k; k++) {
		char pat[64];

		snprintf(pat, sizeof(pat), "\n%s =", *k);
		if (!strstr(text, pat)) {
			snprintf(pat, sizeof(pat), "\n;%s =", *k);
			if (!strstr(text, pat))
				printf("  config/agent.ini does not mention '%s ='\n", *k);
		}
		CHECK(strstr(text, pat) != NULL);
	}
	free(text);
}

void suite_config(void)
{
	RUN(duration_good);
	RUN(duration_bad);
	RUN(percent);
	RUN(mode);
	RUN(kernel_spec);
	RUN(expand);
	RUN(suggest_key);
	RUN(known_keys);
	RUN(minimal_and_defaults);
	RUN(finish_copies_agent_defaults);
	RUN(agent_section);
	RUN(bad_values_with_lines);
	RUN(target_values);
	RUN(unknown_keys);
	RUN(duplicates_and_continuations);
	RUN(long_lines);
	RUN(syntax_errors);
	RUN(missing_url_and_exclusive);
	RUN(ping_target);
	RUN(env_expansion_in_values);
	RUN(hash_warning);
	RUN(token_precedence);
	RUN(token_file);
	RUN(token_file_size_bounds);
	RUN(load_file);
	RUN(cli_target);
	RUN(free_is_safe);
	RUN(example_config);
}
