/* SPDX-License-Identifier: MIT */
/*
 * daemon and watch: state files, --status, --stop and detaching on a temp
 * state dir; stop conditions on a real lws loop with real processes and files.
 */
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <limits.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>
#include <libwebsockets.h>

#include "daemon.h"
#include "log.h"
#include "timer.h"
#include "unit.h"
#include "watch.h"

/* ---- helpers ---- */

static int64_t mono_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static int rm_one(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st;
	(void)flag;
	(void)ftw;
	return remove(path);
}

static void rm_rf(const char *path)
{
	nftw(path, rm_one, 8, FTW_DEPTH | FTW_PHYS);
}

/* A fresh temp dir; path must hold PATH_MAX. */
static int make_tmp(char *path)
{
	snprintf(path, PATH_MAX, "/tmp/ut-daemon-XXXXXX");
	return mkdtemp(path) ? 0 : -1;
}

/*
 * fork + exec argv; returns once the exec happened (a close-on-exec pipe
 * reads EOF then), so /proc/<pid>/exe already names the new program.
 */
static pid_t spawn(char *const argv[])
{
	int p[2];
	pid_t pid;
	char c;

	if (pipe2(p, O_CLOEXEC) < 0)
		return -1;
	pid = fork();
	if (pid == 0) {
		close(p[0]);
		execvp(argv[0], argv);
		_exit(127);
	}
	close(p[1]);
	while (read(p[0], &c, 1) < 0 && errno == EINTR)
		;
	close(p[0]);
	return pid;
}

/* A pid that existed a moment ago and is dead and reaped now. */
static pid_t dead_pid(void)
{
	pid_t pid = fork();

	if (pid == 0)
		_exit(0);
	waitpid(pid, NULL, 0);
	return pid;
}

static void self_exe(char *out, size_t outlen)
{
	ssize_t n = readlink("/proc/self/exe", out, outlen - 1);

	out[n > 0 ? n : 0] = '\0';
}

static json_t *state_for(pid_t pid, const char *kernel, const char *target)
{
	time_t now = time(NULL);

	return json_pack("{s:i, s:I, s:[s], s:[{s:s, s:s, s:s, s:[{s:s}], s:I, s:s, s:I}], s:s, s:s, "
			 "s:n, s:n}",
			 "pid", (int)pid, "started", (json_int_t)(now - 3725),
			 "kernels", kernel,
			 "targets", "name", target, "url", "http://127.0.0.1:8888/",
			 "kernel", kernel, "kernels", "id", kernel,
			 "last_keepalive", (json_int_t)(now - 12),
			 "last_result", "ok", "next_keepalive", (json_int_t)(now + 48),
			 "stop", "when process 4242 exits", "log", "/tmp/agent.log",
			 "exit_reason", "exited");
}

/* Everything written to a memstream, as a malloc'd string. */
struct capture {
	FILE *f;
	char *buf;
	size_t len;
};

static void cap_open(struct capture *c)
{
	c->buf = NULL;
	c->len = 0;
	c->f = open_memstream(&c->buf, &c->len);
}

static const char *cap_text(struct capture *c)
{
	fflush(c->f);
	return c->buf ? c->buf : "";
}

static void cap_close(struct capture *c)
{
	fclose(c->f);
	free(c->buf);
}

/* ---- daemon ---- */

TEST(state_dir_is_private)
{
	char tmp[PATH_MAX], want[PATH_MAX + 8], dir[PATH_MAX];
	struct stat st;

	CHECK(make_tmp(tmp) == 0);
	snprintf(want, sizeof(want), "%s/a/b", tmp);
	setenv("AGENT_STATE_DIR", want, 1);
	CHECK(daemon_state_dir(dir, sizeof(dir)) == 0);
	CHECK_STR(dir, want);
	CHECK(stat(dir, &st) == 0 && S_ISDIR(st.st_mode) && (st.st_mode & 0777) == 0700);

	/* A looser mode is tightened. */
	chmod(dir, 0755);
	CHECK(daemon_state_dir(dir, sizeof(dir)) == 0);
	CHECK(stat(dir, &st) == 0 && (st.st_mode & 0777) == 0700);

	/* A file in the way is an error. */
	snprintf(want, sizeof(want), "%s/file", tmp);
	fclose(fopen(want, "w"));
	setenv("AGENT_STATE_DIR", want, 1);
	CHECK(daemon_state_dir(dir, sizeof(dir)) == -1);

	unsetenv("AGENT_STATE_DIR");
	rm_rf(tmp);
}

TEST(state_round_trip)
{
	char dir[PATH_MAX], path[PATH_MAX + 32], exe[PATH_MAX];
	json_t *s, *r;
	struct stat st;

	CHECK(make_tmp(dir) == 0);
	s = state_for(getpid(), "4b1d0c2e-1111-2222-3333-444455556666", "lab");
	json_object_set_new(s, "exit_reason", json_null());
	CHECK(daemon_state_write(dir, getpid(), s) == 0);
	CHECK(json_object_get(s, "exe") == NULL);	/* the caller's object is left alone */

	snprintf(path, sizeof(path), "%s/agent-%d.json", dir, (int)getpid());
	CHECK(stat(path, &st) == 0 && (st.st_mode & 0777) == 0600);

	r = daemon_state_read(dir, getpid());
	CHECK(r != NULL);
	self_exe(exe, sizeof(exe));
	CHECK_STR(json_string_value(json_object_get(r, "exe")), exe);
	CHECK(json_integer_value(json_object_get(r, "pid")) == getpid());
	CHECK_STR(json_string_value(json_object_get(json_array_get(json_object_get(r, "targets"), 0),
						    "name")), "lab");
	CHECK(json_is_null(json_object_get(r, "exit_reason")));
	json_decref(r);

	/* finish records why and when. */
	daemon_state_finish(dir, getpid(), s, 0, "--for 2h elapsed");
	r = daemon_state_read(dir, getpid());
	CHECK(r != NULL);
	CHECK_STR(json_string_value(json_object_get(r, "exit_reason")), "--for 2h elapsed");
	CHECK(json_is_integer(json_object_get(r, "exited")));
	json_decref(r);

	daemon_state_remove(dir, getpid());
	CHECK(daemon_state_read(dir, getpid()) == NULL);
	json_decref(s);
	rm_rf(dir);
}

TEST(find_running_needs_a_live_agent)
{
	char dir[PATH_MAX], exe[PATH_MAX];
	pid_t dead = dead_pid(), found = 0;
	json_t *s;

	CHECK(make_tmp(dir) == 0);
	self_exe(exe, sizeof(exe));

	s = state_for(getpid(), "live-kernel", "lab");
	json_object_set_new(s, "exit_reason", json_null());
	CHECK(daemon_state_write(dir, getpid(), s) == 0);
	json_decref(s);

	s = state_for(dead, "dead-kernel", "old");
	json_object_set_new(s, "exit_reason", json_null());
	json_object_set_new(s, "exe", json_string(exe));
	CHECK(daemon_state_write(dir, dead, s) == 0);
	json_decref(s);

	CHECK(daemon_find_running(dir, "live-kernel", &found) == 1);
	CHECK(found == getpid());
	CHECK(daemon_find_running(dir, "dead-kernel", &found) == 0);
	CHECK(daemon_find_running(dir, "live", &found) == 0);	/* exact ids only */
	CHECK(daemon_find_running("/nonexistent/dir", "live-kernel", &found) == 0);
	rm_rf(dir);
}

TEST(status_lists_running_and_exited)
{
	char dir[PATH_MAX], exe[PATH_MAX], old[PATH_MAX + 32];
	pid_t dead = dead_pid(), older = dead_pid();
	struct capture c;
	json_t *s;

	CHECK(make_tmp(dir) == 0);
	self_exe(exe, sizeof(exe));

	cap_open(&c);
	daemon_print_status(dir, c.f);
	CHECK_CONTAINS(cap_text(&c), "no agent is running (state dir ");
	cap_close(&c);

	s = state_for(getpid(), "4b1d0c2e-1111-2222-3333-444455556666", "lab");
	json_object_set_new(s, "exit_reason", json_null());
	json_object_set_new(s, "lingering", json_pack("{s:I, s:s}", "until",
						      (json_int_t)time(NULL) + 432,
						      "reason", "watched process 4242 exited"));
	CHECK(daemon_state_write(dir, getpid(), s) == 0);
	json_decref(s);

	s = state_for(dead, "dead", "old");
	json_object_set_new(s, "exit_reason", json_string("watched process 4242 exited"));
	json_object_set_new(s, "exited", json_integer(time(NULL) - 60));
	json_object_set_new(s, "exe", json_string(exe));
	CHECK(daemon_state_write(dir, dead, s) == 0);
	json_decref(s);

	s = state_for(older, "older", "ancient");
	json_object_set_new(s, "exit_reason", json_string("--for 2h elapsed"));
	json_object_set_new(s, "exited", json_integer(time(NULL) - 25 * 3600));
	CHECK(daemon_state_write(dir, older, s) == 0);
	json_decref(s);

	cap_open(&c);
	daemon_print_status(dir, c.f);
	const char *t = cap_text(&c);
	CHECK_CONTAINS(t, "running for 1h 02m 05s");
	CHECK_CONTAINS(t, "lab");
	CHECK_CONTAINS(t, "http://127.0.0.1:8888/");
	CHECK_CONTAINS(t, "4b1d0c2e ");
	CHECK_CONTAINS(t, "12 s ago (ok)");
	CHECK_CONTAINS(t, "in 4");
	CHECK_CONTAINS(t, "stops:  when process 4242 exits");
	CHECK_CONTAINS(t, "lingering: stops in 7 min 1");	/* 7 min 12 s, a second or so less */
	CHECK_CONTAINS(t, "s (watched process 4242 exited)");
	CHECK_CONTAINS(t, "log:    /tmp/agent.log");
	CHECK_CONTAINS(t, "exited 1 min 00 s ago");
	CHECK_CONTAINS(t, "watched process 4242 exited");
	CHECK(!strstr(t, "ancient") && !strstr(t, "--for 2h"));
	CHECK(!strstr(t, "no agent is running"));
	cap_close(&c);

	/* Exited more than 24 h ago: forgotten. */
	snprintf(old, sizeof(old), "%s/agent-%d.json", dir, (int)older);
	CHECK(access(old, F_OK) < 0);
	rm_rf(dir);
}

TEST(stop_signals_only_our_agents)
{
	char dir[PATH_MAX], exe[PATH_MAX];
	char *argv[] = { "sleep", "30", NULL };
	pid_t pid = spawn(argv);
	struct capture c;
	int status = 0;
	json_t *s;

	CHECK(pid > 0);
	CHECK(make_tmp(dir) == 0);
	self_exe(exe, sizeof(exe));

	/* The pid is alive but runs sleep, not the exe the "agent" recorded: pid reuse. */
	s = state_for(pid, "aaaa1111-2222-3333-4444-555566667777", "lab");
	json_object_set_new(s, "exit_reason", json_null());
	json_object_set_new(s, "exe", json_string(exe));
	CHECK(daemon_state_write(dir, pid, s) == 0);
	cap_open(&c);
	CHECK(daemon_stop(dir, NULL, c.f) == 0);
	CHECK_CONTAINS(cap_text(&c), "no agent is running");
	cap_close(&c);
	CHECK(waitpid(pid, &status, WNOHANG) == 0);	/* still running */

	/* Recorded by the process itself (exe = sleep): this one is stopped. */
	json_object_del(s, "exe");
	CHECK(daemon_state_write(dir, pid, s) == 0);
	json_decref(s);

	cap_open(&c);
	CHECK(daemon_stop(dir, "aa", c.f) == -1);	/* too short to name a kernel */
	CHECK(daemon_stop(dir, "bbbb", c.f) == 0);	/* keeps another kernel */
	CHECK_CONTAINS(cap_text(&c), "no running agent keeps kernel bbbb");
	CHECK(waitpid(pid, &status, WNOHANG) == 0);
	int n = daemon_stop(dir, "aaaa1111", c.f);
	CHECK(n == 1);
	CHECK_CONTAINS(cap_text(&c), "stopped agent ");
	cap_close(&c);
	if (n != 1)
		kill(pid, SIGKILL);	/* do not wait 30 s for a failed test */
	CHECK(waitpid(pid, &status, 0) == pid);
	CHECK(WIFSIGNALED(status) && WTERMSIG(status) == SIGTERM);
	rm_rf(dir);
}

TEST(detach_leaves_the_session)
{
	char dir[PATH_MAX], log[PATH_MAX + 32], buf[256] = "";
	FILE *f;
	int rc, status = 0;

	CHECK(make_tmp(dir) == 0);
	snprintf(log, sizeof(log), "%s/agent.log", dir);
	rc = daemon_detach(log);
	if (rc == 0) {
		/* The child: report where it ended up, then leave at once. */
		char c;
		printf("child sid=%d pid=%d stdin_eof=%d\n", (int)getsid(0), (int)getpid(),
		       (int)read(0, &c, 1));
		fflush(stdout);
		_exit(0);
	}
	CHECK(rc == 1);
	pid_t child = daemon_child_pid();
	CHECK(child > 0 && waitpid(child, &status, 0) == child);
	CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0);

	f = fopen(log, "r");
	CHECK(f != NULL);
	if (f) {
		if (!fgets(buf, sizeof(buf), f))
			buf[0] = '\0';
		fclose(f);
	}
	char want[128];
	snprintf(want, sizeof(want), "child sid=%d pid=%d stdin_eof=0", (int)child, (int)child);
	CHECK_CONTAINS(buf, want);

	struct stat st;
	CHECK(stat(log, &st) == 0 && (st.st_mode & 0777) == 0600);

	/* An unwritable log: the parent reports the failure. */
	snprintf(log, sizeof(log), "%s/no/such/dir/agent.log", dir);
	errno = 0;
	CHECK(daemon_detach(log) == -1 && errno == ENOENT);
	rm_rf(dir);
}

/* ---- the status model ---- */

/* An agent with a busy kernel, a kept one and a ping target. */
static void model_for(struct agent_status *a, pid_t pid)
{
	double now = (double)time(NULL);
	struct target_status *t;

	memset(a, 0, sizeof(*a));
	a->pid = (int)pid;
	a->started = now - 3725;
	snprintf(a->stop, sizeof(a->stop), "when pid 4242 ends");
	snprintf(a->log, sizeof(a->log), "/tmp/agent.log");
	a->exit_code = -1;
	a->ntargets = 2;
	a->targets = calloc(2, sizeof(*a->targets));
	t = &a->targets[0];
	snprintf(t->name, sizeof(t->name), "lab");
	snprintf(t->url, sizeof(t->url), "http://127.0.0.1:8888/");
	snprintf(t->mode, sizeof(t->mode), "both");
	t->nkernels = 2;
	t->kernels = calloc(2, sizeof(*t->kernels));
	snprintf(t->kernels[0].id, sizeof(t->kernels[0].id), "4b1d0c2e-1111-2222-3333-444455556666");
	snprintf(t->kernels[0].state, sizeof(t->kernels[0].state), "busy");
	snprintf(t->kernels[0].execution_state, sizeof(t->kernels[0].execution_state), "busy");
	t->kernels[0].busy_since = now - 7980.5;
	t->kernels[0].last_ack = now - 8000.25;
	t->kernels[0].rtt_ms = 4;
	snprintf(t->kernels[1].id, sizeof(t->kernels[1].id), "e5f6a7b8-1111-2222-3333-444455556666");
	snprintf(t->kernels[1].state, sizeof(t->kernels[1].state), "idle");
	snprintf(t->kernels[1].execution_state, sizeof(t->kernels[1].execution_state), "unknown");
	t->last_keepalive = now - 12.75;
	snprintf(t->last_result, sizeof(t->last_result), "ok: keepalive acknowledged in 3 ms");
	t->next_keepalive = now + 48.5;
	t->acks = 77;
	t->culler.known = 1;
	t->culler.kernel_age_s = 3;
	t->culler.server_age_s = 1;
	t->culler.hub_age_s = -1;
	snprintf(t->culler.warning, sizeof(t->culler.warning), "the hub's last_activity did not move");
	snprintf(t->record, sizeof(t->record), "/tmp/lab.record");
	t = &a->targets[1];
	snprintf(t->name, sizeof(t->name), "ping");
	snprintf(t->url, sizeof(t->url), "https://example.org/ping");
	snprintf(t->mode, sizeof(t->mode), "ping");
	snprintf(t->last_result, sizeof(t->last_result), "starting");
	t->culler.kernel_age_s = t->culler.server_age_s = t->culler.hub_age_s = -1;
}

static int kernel_equal(const struct kernel_status *x, const struct kernel_status *y)
{
	return !strcmp(x->id, y->id) && !strcmp(x->state, y->state) &&
	       !strcmp(x->execution_state, y->execution_state) && x->busy_since == y->busy_since &&
	       x->last_ack == y->last_ack && x->rtt_ms == y->rtt_ms;
}

static int target_equal(const struct target_status *x, const struct target_status *y)
{
	if (strcmp(x->name, y->name) || strcmp(x->url, y->url) || strcmp(x->mode, y->mode) ||
	    x->nkernels != y->nkernels || x->last_keepalive != y->last_keepalive ||
	    strcmp(x->last_result, y->last_result) || x->next_keepalive != y->next_keepalive ||
	    x->acks != y->acks || strcmp(x->record, y->record) ||
	    x->culler.known != y->culler.known || x->culler.kernel_age_s != y->culler.kernel_age_s ||
	    x->culler.server_age_s != y->culler.server_age_s ||
	    x->culler.hub_age_s != y->culler.hub_age_s || strcmp(x->culler.warning, y->culler.warning))
		return 0;
	for (size_t i = 0; i < x->nkernels; i++)
		if (!kernel_equal(&x->kernels[i], &y->kernels[i]))
			return 0;
	return 1;
}

static int agent_equal(const struct agent_status *x, const struct agent_status *y)
{
	if (x->pid != y->pid || x->started != y->started || x->ntargets != y->ntargets ||
	    strcmp(x->stop, y->stop) || x->linger_until != y->linger_until ||
	    strcmp(x->linger_reason, y->linger_reason) || strcmp(x->log, y->log) ||
	    strcmp(x->exe, y->exe) || x->ended != y->ended || strcmp(x->exit_reason, y->exit_reason) ||
	    x->exit_code != y->exit_code || x->exited != y->exited)
		return 0;
	for (size_t i = 0; i < x->ntargets; i++)
		if (!target_equal(&x->targets[i], &y->targets[i]))
			return 0;
	return 1;
}

TEST(status_model_round_trip)
{
	struct agent_status a, b;
	json_t *doc, *t, *k;
	char *text;

	model_for(&a, 4242);
	a.started = (double)(long)a.started;	/* whole seconds in the file */
	snprintf(a.exe, sizeof(a.exe), "/usr/bin/jupyter-keepalive");
	a.linger_until = (double)(long)a.started + 9000;
	snprintf(a.linger_reason, sizeof(a.linger_reason), "watched process 4242 exited");

	/* Through the text, as a reader of the file gets it. */
	doc = daemon_state_json(&a);
	CHECK(doc != NULL);
	text = json_dumps(doc, JSON_INDENT(2));
	json_decref(doc);
	doc = json_loads(text, 0, NULL);
	free(text);
	CHECK(daemon_state_parse(doc, &b) == 0);
	CHECK(agent_equal(&a, &b));

	/* The field names and shapes older agents wrote, and the e2e tests read. */
	CHECK(json_integer_value(json_object_get(doc, "pid")) == 4242);
	CHECK(json_is_null(json_object_get(doc, "exit_reason")));
	CHECK(json_is_null(json_object_get(doc, "exited")));
	CHECK(json_object_get(doc, "exit_code") == NULL);
	CHECK_STR(json_string_value(json_array_get(json_object_get(doc, "kernels"), 1)),
		  "e5f6a7b8-1111-2222-3333-444455556666");
	t = json_array_get(json_object_get(doc, "targets"), 0);
	CHECK_STR(json_string_value(json_object_get(t, "kernel")), "4b1d0c2e");
	CHECK(json_integer_value(json_object_get(t, "acks")) == 77);
	CHECK(json_is_integer(json_object_get(json_object_get(t, "culler"), "kernel_activity_age_s")));
	CHECK(json_is_null(json_object_get(json_object_get(t, "culler"), "hub_activity_age_s")));
	k = json_array_get(json_object_get(t, "kernels"), 1);
	CHECK_STR(json_string_value(json_object_get(k, "short")), "e5f6a7b8");
	CHECK(json_is_null(json_object_get(k, "busy_since")));
	t = json_array_get(json_object_get(doc, "targets"), 1);
	CHECK_STR(json_string_value(json_object_get(t, "kernel")), "");
	CHECK(json_is_null(json_object_get(t, "culler")));
	CHECK(json_is_null(json_object_get(t, "last_keepalive")));
	CHECK(json_object_get(t, "record") == NULL);
	json_decref(doc);
	status_agent_clear(&b);

	/* Finished: the reason, the code and when. */
	a.ended = 1;
	snprintf(a.exit_reason, sizeof(a.exit_reason), "--for 2h elapsed");
	a.exit_code = 0;
	a.exited = (double)(long)a.started + 7200;
	doc = daemon_state_json(&a);
	CHECK(json_integer_value(json_object_get(doc, "exit_code")) == 0);
	CHECK(daemon_state_parse(doc, &b) == 0);
	CHECK(agent_equal(&a, &b));
	json_decref(doc);
	status_agent_clear(&b);
	status_agent_clear(&a);
	CHECK(a.targets == NULL && a.ntargets == 0);
}

TEST(status_model_reads_missing_and_mistyped_fields)
{
	struct agent_status b;
	json_t *doc;

	CHECK(daemon_state_parse(NULL, &b) == -1);
	doc = json_pack("[]");
	CHECK(daemon_state_parse(doc, &b) == -1 && b.ntargets == 0);
	json_decref(doc);
	/* A file with little in it, and wrong types: unknown, never a crash. */
	doc = json_loads("{\"pid\": \"12\", \"exit_reason\": 3, \"targets\": [7, {\"url\": 5, "
			 "\"kernels\": [{\"id\": 1}, \"x\"], \"culler\": {\"kernel_activity_age_s\": "
			 "2.5, \"server_activity_age_s\": 4}}]}", 0, NULL);
	CHECK(daemon_state_parse(doc, &b) == 0);
	CHECK(b.pid == 0 && b.started == 0 && b.ended && !b.exit_reason[0] && b.exit_code == -1);
	CHECK_STR(b.stop, "-");
	CHECK_STR(b.log, "");
	CHECK(b.ntargets == 1);
	CHECK_STR(b.targets[0].name, "-");
	CHECK_STR(b.targets[0].url, "-");
	CHECK(b.targets[0].nkernels == 1 && !b.targets[0].kernels[0].id[0]);
	CHECK(b.targets[0].culler.known && b.targets[0].culler.kernel_age_s == -1);
	CHECK(b.targets[0].culler.server_age_s == 4 && b.targets[0].culler.hub_age_s == -1);
	status_agent_clear(&b);
	json_decref(doc);
}

TEST(status_text_from_the_model)
{
	char dir[PATH_MAX];
	struct agent_status a, b;
	struct capture c;
	const char *t;

	CHECK(make_tmp(dir) == 0);
	model_for(&a, getpid());
	a.linger_until = (double)time(NULL) + 432;
	snprintf(a.linger_reason, sizeof(a.linger_reason), "watched process 4242 exited");
	CHECK(daemon_state_store(dir, &a) == 0);
	CHECK(daemon_state_load(dir, getpid(), &b) == 0);
	CHECK(b.exe[0] == '/');			/* added: --stop checks it before signalling */
	b.exe[0] = '\0';
	CHECK(agent_equal(&a, &b));
	status_agent_clear(&b);

	cap_open(&c);
	daemon_print_status(dir, c.f);
	t = cap_text(&c);
	CHECK_CONTAINS(t, "running for 1h 02m 05s");
	CHECK_CONTAINS(t, "target  url");
	CHECK_CONTAINS(t, "lab     http://127.0.0.1:8888/    4b1d0c2e  1");	/* 12.75 s */
	CHECK_CONTAINS(t, " s ago (ok: keepalive acknowledged in 3 ms)  in 4");
	CHECK_CONTAINS(t, "ping    https://example.org/ping            never (starting)");
	CHECK_CONTAINS(t, "  lab: culler sees activity 3 s ago (kernel), 1 s ago (server)\n");
	CHECK_CONTAINS(t, "  lab: warning: the hub's last_activity did not move\n");
	CHECK_CONTAINS(t, "  lab: kernel 4b1d0c2e busy for 2 h 13 min (a busy kernel is not culled)");
	CHECK(!strstr(t, "e5f6a7b8 busy"));
	CHECK(!strstr(t, "ping: culler"));
	CHECK_CONTAINS(t, "lingering: stops in 7 min 1");
	CHECK_CONTAINS(t, "stops:  when pid 4242 ends");
	CHECK_CONTAINS(t, "log:    /tmp/agent.log");
	CHECK_CONTAINS(t, "record: /tmp/lab.record");
	cap_close(&c);

	/* Finished, it is listed with its reason and code. */
	a.ended = 1;
	snprintf(a.exit_reason, sizeof(a.exit_reason), "the server rejected the token");
	a.exit_code = 3;
	a.exited = (double)time(NULL) - 60;
	CHECK(daemon_state_store(dir, &a) == 0);
	cap_open(&c);
	daemon_print_status(dir, c.f);
	t = cap_text(&c);
	CHECK_CONTAINS(t, "no agent is running");
	CHECK_CONTAINS(t, "exited 1 min 00 s ago");
	CHECK_CONTAINS(t, ", exit 3): the server rejected the token");
	cap_close(&c);
	status_agent_clear(&a);
	rm_rf(dir);
}

/* ---- watch on a real event loop ---- */

struct probe {
	int fired;
	char reason[256];
	int64_t fired_at;
	int warned;
	char warning[128];
	int64_t warned_at;
	struct watch **free_me;	/* watch_free() from inside fired() */
};

/*
 * lws_service() runs due timers and then goes on to poll() until the next
 * event: a flag set from a timer is seen only after that. Wake it up.
 */
static struct lws_context *loop_ctx;

static void loop_wake(void)
{
	if (loop_ctx)
		lws_cancel_service(loop_ctx);
}

static void probe_fired(void *ud, const char *reason)
{
	struct probe *p = ud;

	p->fired++;
	p->fired_at = mono_ms();
	snprintf(p->reason, sizeof(p->reason), "%s", reason);
	if (p->free_me) {
		watch_free(*p->free_me);
		*p->free_me = NULL;
	}
	loop_wake();
}

static void probe_warned(void *ud, const char *msg)
{
	struct probe *p = ud;

	p->warned++;
	p->warned_at = mono_ms();
	snprintf(p->warning, sizeof(p->warning), "%s", msg);
	loop_wake();
}

static struct lws_context *loop_new(void)
{
	static struct lws_protocols protocols[2];
	struct lws_context_creation_info info;

	protocols[0] = watch_protocol;
	memset(&protocols[1], 0, sizeof(protocols[1]));
	memset(&info, 0, sizeof(info));
	info.port = CONTEXT_PORT_NO_LISTEN;
	info.protocols = protocols;
	info.fd_limit_per_thread = 64;
	lws_set_log_level(LLL_ERR, NULL);
	return lws_create_context(&info);
}

static int loop_expired;
static lws_sorted_usec_list_t sul_deadline;

static void deadline_cb(lws_sorted_usec_list_t *sul)
{
	(void)sul;
	loop_expired = 1;
	loop_wake();
}

/* Run the loop until *flag is set or ms have passed. */
static void loop_run(struct lws_context *ctx, const int *flag, long ms)
{
	loop_ctx = ctx;
	loop_expired = 0;
	lws_sul_schedule(ctx, 0, &sul_deadline, deadline_cb, (lws_usec_t)ms * 1000);
	while (!*flag && !loop_expired)
		lws_service(ctx, 0);
	lws_sul_schedule(ctx, 0, &sul_deadline, deadline_cb, LWS_SET_TIMER_USEC_CANCEL);
	loop_ctx = NULL;
}

TEST(watch_pid_fires_when_the_process_exits)
{
	struct lws_context *ctx = loop_new();
	char *argv[] = { "sleep", "0.2", NULL };
	struct probe p = { 0 };
	char err[128], want[64];
	struct watch *w;
	int64_t t0;
	pid_t pid;

	CHECK(ctx != NULL);
	if (!ctx)
		return;
	w = watch_new(ctx, probe_fired, &p);
	CHECK(watch_pid(w, dead_pid(), err, sizeof(err)) == -1);
	CHECK_CONTAINS(err, "is not running");

	/* Our own child: not reaped, so it becomes a zombie, which counts as gone. */
	t0 = mono_ms();
	pid = spawn(argv);
	CHECK(watch_pid(w, pid, err, sizeof(err)) == 0);
	CHECK(watch_pid(w, pid, err, sizeof(err)) == -1);	/* one pid per watch */
	loop_run(ctx, &p.fired, 3000);
	CHECK(p.fired == 1);
	CHECK(p.fired_at - t0 >= 150 && p.fired_at - t0 < 2000);
	snprintf(want, sizeof(want), "watched process %d exited", (int)pid);
	CHECK_STR(p.reason, want);
	waitpid(pid, NULL, 0);
	watch_free(w);
	lws_context_destroy(ctx);
}

TEST(watch_pid_fires_for_a_process_reaped_by_another)
{
	struct lws_context *ctx = loop_new();
	struct probe p = { 0 };
	struct watch *w;
	char err[128];
	int fds[2];
	pid_t mid, pid = 0;
	int64_t t0;

	CHECK(ctx != NULL && pipe(fds) == 0);
	if (!ctx)
		return;
	/* mid starts the sleeper, tells us its pid and reaps it: the usual case for --while-pid. */
	mid = fork();
	if (mid == 0) {
		pid_t g = fork();
		if (g == 0) {
			execlp("sleep", "sleep", "0.2", (char *)NULL);
			_exit(127);
		}
		if (write(fds[1], &g, sizeof(g)) < 0)
			_exit(1);
		waitpid(g, NULL, 0);
		_exit(0);
	}
	close(fds[1]);
	CHECK(read(fds[0], &pid, sizeof(pid)) == (ssize_t)sizeof(pid));
	close(fds[0]);
	t0 = mono_ms();
	w = watch_new(ctx, probe_fired, &p);
	CHECK(watch_pid(w, pid, err, sizeof(err)) == 0);
	loop_run(ctx, &p.fired, 3000);
	CHECK(p.fired == 1);
	CHECK(p.fired_at - t0 >= 100 && p.fired_at - t0 < 2000);
	waitpid(mid, NULL, 0);
	watch_free(w);
	lws_context_destroy(ctx);
}

TEST(watch_fresh_fires_after_the_window)
{
	struct lws_context *ctx = loop_new();
	char dir[PATH_MAX], path[PATH_MAX + 16], err[256];
	struct probe p = { 0 };
	struct watch *w;
	int64_t t0;

	CHECK(ctx != NULL && make_tmp(dir) == 0);
	if (!ctx)
		return;
	snprintf(path, sizeof(path), "%s/train.log", dir);
	w = watch_new(ctx, probe_fired, &p);
	CHECK(watch_fresh(w, path, 200, err, sizeof(err)) == -1);	/* missing now */
	CHECK_CONTAINS(err, "train.log");

	fclose(fopen(path, "w"));
	t0 = mono_ms();
	CHECK(watch_fresh(w, path, 200, err, sizeof(err)) == 0);
	loop_run(ctx, &p.fired, 3000);
	CHECK(p.fired == 1);
	CHECK(p.fired_at - t0 >= 190 && p.fired_at - t0 < 1000);
	CHECK_CONTAINS(p.reason, "train.log not modified for 200ms");
	watch_free(w);
	lws_context_destroy(ctx);
	rm_rf(dir);
}

static const char *touch_path;
static void touch_cb(lws_sorted_usec_list_t *sul)
{
	(void)sul;
	utimensat(AT_FDCWD, touch_path, NULL, 0);
}

TEST(watch_fresh_is_postponed_by_writes)
{
	struct lws_context *ctx = loop_new();
	char dir[PATH_MAX], path[PATH_MAX + 16], err[256];
	lws_sorted_usec_list_t sul_touch;
	struct probe p = { 0 };
	struct watch *w;
	int64_t t0;

	CHECK(ctx != NULL && make_tmp(dir) == 0);
	if (!ctx)
		return;
	snprintf(path, sizeof(path), "%s/train.log", dir);
	fclose(fopen(path, "w"));
	w = watch_new(ctx, probe_fired, &p);
	t0 = mono_ms();
	CHECK(watch_fresh(w, path, 200, err, sizeof(err)) == 0);
	touch_path = path;
	memset(&sul_touch, 0, sizeof(sul_touch));
	lws_sul_schedule(ctx, 0, &sul_touch, touch_cb, 150 * 1000);
	loop_run(ctx, &p.fired, 3000);
	CHECK(p.fired == 1);
	CHECK(p.fired_at - t0 >= 300 && p.fired_at - t0 < 1500);
	watch_free(w);

	/* A file that disappears. */
	memset(&p, 0, sizeof(p));
	w = watch_new(ctx, probe_fired, &p);
	CHECK(watch_fresh(w, path, 100, err, sizeof(err)) == 0);
	unlink(path);
	loop_run(ctx, &p.fired, 3000);
	CHECK(p.fired == 1);
	CHECK_CONTAINS(p.reason, "train.log disappeared");
	watch_free(w);
	lws_context_destroy(ctx);
	rm_rf(dir);
}

TEST(watch_for_warns_then_fires_once)
{
	struct lws_context *ctx = loop_new();
	struct probe p = { 0 };
	struct watch *w;
	char dir[PATH_MAX], path[PATH_MAX + 16], err[256];
	int64_t t0;

	CHECK(ctx != NULL && make_tmp(dir) == 0);
	if (!ctx)
		return;
	w = watch_new(ctx, probe_fired, &p);
	watch_set_warning(w, probe_warned);
	CHECK(watch_for(w, 0, 0) == -1);
	t0 = mono_ms();
	CHECK(watch_for(w, 200, 100) == 0);
	CHECK(watch_for(w, 200, 100) == -1);

	/* A second condition due soon after: fired is still called only once. */
	snprintf(path, sizeof(path), "%s/train.log", dir);
	fclose(fopen(path, "w"));
	CHECK(watch_fresh(w, path, 250, err, sizeof(err)) == 0);

	loop_run(ctx, &p.fired, 3000);
	CHECK(p.warned == 1 && p.fired == 1);
	CHECK_STR(p.warning, "stopping in 100ms (--for 200ms)");
	CHECK_STR(p.reason, "--for 200ms elapsed");
	CHECK(p.warned_at - t0 >= 90 && p.fired_at - t0 >= 190 && p.fired_at - t0 < 1000);
	CHECK(watch_has_fired(w));
	{
		int never = 0;
		loop_run(ctx, &never, 150);
	}
	CHECK(p.fired == 1);
	watch_free(w);

	/* The owner may free the watch from inside fired(), with a pidfd still open. */
	char *argv[] = { "sleep", "5", NULL };
	pid_t pid = spawn(argv);
	memset(&p, 0, sizeof(p));
	w = watch_new(ctx, probe_fired, &p);
	p.free_me = &w;
	CHECK(watch_pid(w, pid, err, sizeof(err)) == 0);
	CHECK(watch_for(w, 50, 0) == 0);
	loop_run(ctx, &p.fired, 3000);
	CHECK(p.fired == 1 && w == NULL);
	kill(pid, SIGKILL);
	waitpid(pid, NULL, 0);
	{
		int never = 0;
		loop_run(ctx, &never, 30);	/* the closed pidfd must not call back */
	}
	CHECK(p.fired == 1);

	lws_context_destroy(ctx);
	rm_rf(dir);
}

static struct probe linger_probe;
static double linger_until;
static char linger_reason[256];

static void probe_lingering(void *ud, const char *reason, double until)
{
	(void)ud;
	linger_probe.warned++;	/* counts lingering calls */
	linger_probe.warned_at = mono_ms();
	linger_until = until;
	snprintf(linger_reason, sizeof(linger_reason), "%s", reason);
	loop_wake();
}

TEST(watch_lingers_after_the_job_ends)
{
	struct lws_context *ctx = loop_new();
	char *argv[] = { "sleep", "0.1", NULL };
	struct probe *p = &linger_probe;
	char err[128], want[128];
	struct watch *w;
	const char *why;
	double until;
	int64_t t0;
	pid_t pid;

	CHECK(ctx != NULL);
	if (!ctx)
		return;
	memset(p, 0, sizeof(*p));
	w = watch_new(ctx, probe_fired, p);
	watch_set_linger(w, 300, probe_lingering);
	CHECK(!watch_lingering(w, &until, &why));
	t0 = mono_ms();
	pid = spawn(argv);
	CHECK(watch_pid(w, pid, err, sizeof(err)) == 0);
	CHECK(watch_for(w, 5000, 0) == 0);	/* a cap, not the job's end */
	loop_run(ctx, &p->warned, 3000);
	CHECK(p->warned == 1 && p->fired == 0);
	snprintf(want, sizeof(want), "watched process %d exited", (int)pid);
	CHECK_STR(linger_reason, want);
	CHECK(watch_lingering(w, &until, &why) && !strcmp(why, want));
	CHECK(until == linger_until);
	CHECK(until > timer_wall_s() + 0.1 && until < timer_wall_s() + 0.4);
	CHECK(!watch_has_fired(w));

	loop_run(ctx, &p->fired, 3000);
	CHECK(p->fired == 1);
	CHECK(p->fired_at - p->warned_at >= 280 && p->fired_at - p->warned_at < 1500);
	snprintf(want, sizeof(want), "watched process %d exited after lingering 300ms", (int)pid);
	CHECK_STR(p->reason, want);
	CHECK(!watch_lingering(w, &until, &why));
	CHECK(p->fired_at - t0 < 2500);
	waitpid(pid, NULL, 0);
	watch_free(w);

	/* --for ends a linger early: it is the cap. */
	pid = spawn(argv);
	memset(p, 0, sizeof(*p));
	w = watch_new(ctx, probe_fired, p);
	watch_set_linger(w, 5000, probe_lingering);
	CHECK(watch_pid(w, pid, err, sizeof(err)) == 0);
	CHECK(watch_for(w, 400, 0) == 0);
	loop_run(ctx, &p->fired, 3000);
	CHECK(p->warned == 1 && p->fired == 1);
	CHECK_STR(p->reason, "--for 400ms elapsed");
	waitpid(pid, NULL, 0);
	watch_free(w);

	/* Freed while lingering: the timer goes with it. */
	pid = spawn(argv);
	memset(p, 0, sizeof(*p));
	w = watch_new(ctx, probe_fired, p);
	watch_set_linger(w, 100, probe_lingering);
	CHECK(watch_pid(w, pid, err, sizeof(err)) == 0);
	loop_run(ctx, &p->warned, 3000);
	watch_free(w);
	{
		int never = 0;
		loop_run(ctx, &never, 200);
	}
	CHECK(p->warned == 1 && p->fired == 0);
	waitpid(pid, NULL, 0);
	lws_context_destroy(ctx);
}

TEST(watch_linger_message_names_the_time)
{
	char b[256];

	/* 2024-01-02 03:04:05 UTC */
	CHECK_STR(watch_linger_message("watched process 42 exited", 600000, 1704164645.7, b, sizeof(b)),
		  "job ended: watched process 42 exited; keeping the session for 10m more, "
		  "until 03:04:05 UTC");
}

TEST(watch_formats_durations)
{
	char b[32];

	CHECK_STR(timer_format_duration(7200000, b, sizeof(b)), "2h");
	CHECK_STR(timer_format_duration(5400000, b, sizeof(b)), "1h30m");
	CHECK_STR(timer_format_duration(600000, b, sizeof(b)), "10m");
	CHECK_STR(timer_format_duration(300, b, sizeof(b)), "300ms");
	CHECK_STR(timer_format_duration(90061001, b, sizeof(b)), "1d1h1m1s1ms");
	CHECK_STR(timer_format_duration(0, b, sizeof(b)), "0s");
}

void suite_daemon(void)
{
	/* The negative cases log expected errors; keep the runner's output to failures. */
	FILE *quiet = fopen("/dev/null", "w");

	log_set_stream(quiet);
	RUN(state_dir_is_private);
	RUN(state_round_trip);
	RUN(find_running_needs_a_live_agent);
	RUN(status_lists_running_and_exited);
	RUN(stop_signals_only_our_agents);
	RUN(detach_leaves_the_session);
	RUN(status_model_round_trip);
	RUN(status_model_reads_missing_and_mistyped_fields);
	RUN(status_text_from_the_model);
	RUN(watch_pid_fires_when_the_process_exits);
	RUN(watch_pid_fires_for_a_process_reaped_by_another);
	RUN(watch_fresh_fires_after_the_window);
	RUN(watch_fresh_is_postponed_by_writes);
	RUN(watch_for_warns_then_fires_once);
	RUN(watch_lingers_after_the_job_ends);
	RUN(watch_linger_message_names_the_time);
	RUN(watch_formats_durations);
	log_set_stream(NULL);
	if (quiet)
		fclose(quiet);
}
