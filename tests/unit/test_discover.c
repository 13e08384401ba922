/* SPDX-License-Identifier: MIT */
/*
 * discover: the parent-chain walk, runtime files, and the hub and Colab
 * environments, against fake /proc trees built in a temp dir, the runtime
 * files of real servers (fixtures/discover/runtime), a fake environment and
 * a fake liveness check.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <fcntl.h>
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "discover.h"
#include "unit.h"

#define FIXTURES "tests/unit/fixtures/discover/runtime"

/* A fake world: a temp dir holding proc/ and runtime dirs, an env, live pids. */
static char root[64];
static char proc[128], rt[128];
static const char *fenv[32][2];
static pid_t alive[16];

static const char *fake_getenv(const char *name)
{
	int i;

	for (i = 0; i < 32 && fenv[i][0]; i++)
		if (strcmp(fenv[i][0], name) == 0)
			return fenv[i][1];
	return NULL;
}

static int fake_alive(pid_t pid)
{
	int i;

	for (i = 0; i < 16 && alive[i]; i++)
		if (alive[i] == pid)
			return 1;
	return 0;
}

static void setenv_fake(const char *name, const char *value)
{
	int i;

	for (i = 0; i < 31 && fenv[i][0]; i++)
		;
	fenv[i][0] = name;
	fenv[i][1] = value;
}

static void set_alive(pid_t pid)
{
	int i;

	for (i = 0; i < 15 && alive[i]; i++)
		;
	alive[i] = pid;
}

static int rm_one(const char *p, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st;
	(void)flag;
	(void)ftw;
	return remove(p);
}

static void world_end(void)
{
	if (root[0])
		nftw(root, rm_one, 16, FTW_DEPTH | FTW_PHYS);
	root[0] = '\0';
}

/* A fresh world; returns an env pointing at it with runtime_dir = rt. */
static struct discover_env world(pid_t self)
{
	struct discover_env e;

	world_end();
	memset(fenv, 0, sizeof fenv);
	memset(alive, 0, sizeof alive);
	strcpy(root, "/tmp/ut-discover-XXXXXX");
	if (!mkdtemp(root))
		abort();
	snprintf(proc, sizeof proc, "%s/proc", root);
	snprintf(rt, sizeof rt, "%s/rt", root);
	mkdir(proc, 0700);
	mkdir(rt, 0700);
	e.proc_root = proc;
	e.self_pid = self;
	e.getenv = fake_getenv;
	e.runtime_dir = rt;
	e.pid_alive = fake_alive;
	return e;
}

static void write_bytes(const char *path, const char *data, size_t len)
{
	FILE *f = fopen(path, "w");

	if (!f)
		abort();
	fwrite(data, 1, len, f);
	fclose(f);
}

/* A process: PROC/pid/stat with comm and ppid, PROC/pid/cmdline (NUL-separated, len bytes). */
static void mkproc(pid_t pid, pid_t ppid, const char *comm, const char *cmdline, size_t len)
{
	char p[256], stat[512];

	snprintf(p, sizeof p, "%s/%d", proc, (int)pid);
	mkdir(p, 0700);
	snprintf(stat, sizeof stat,
		 "%d (%s) S %d %d %d 0 -1 4194304 15105 207 0 0 45 28 0 0 20 0 12 0 36772\n",
		 (int)pid, comm, (int)ppid, (int)pid, (int)pid);
	snprintf(p, sizeof p, "%s/%d/stat", proc, (int)pid);
	write_bytes(p, stat, strlen(stat));
	snprintf(p, sizeof p, "%s/%d/cmdline", proc, (int)pid);
	write_bytes(p, cmdline, len);
}

#define MKPROC(pid, ppid, comm, lit) mkproc(pid, ppid, comm, lit, sizeof(lit) - 1)

static void write_in(const char *dir, const char *name, const char *text)
{
	char p[256];

	snprintf(p, sizeof p, "%s/%s", dir, name);
	write_bytes(p, text, strlen(text));
}

/* A jpserver file for pid on port, with token. */
static void jpserver(const char *dir, pid_t pid, int port, const char *token)
{
	char name[64], text[512];

	snprintf(name, sizeof name, "jpserver-%d.json", (int)pid);
	snprintf(text, sizeof text,
		 "{\"base_url\": \"/\", \"hostname\": \"127.0.0.1\", \"password\": false, "
		 "\"pid\": %d, \"port\": %d, \"root_dir\": \"/home/u\", \"secure\": false, "
		 "\"sock\": \"\", \"token\": \"%s\", \"url\": \"http://127.0.0.1:%d/\", "
		 "\"version\": \"2.14.0\"}", (int)pid, port, token, port);
	write_in(dir, name, text);
}

#define KERNEL_ID "0a1b2c3d-4e5f-6789-abcd-ef0123456789"

/*
 * The usual chain: agent 1000 -> sh 999 (odd comm) -> kernel 500 -> server 100 -> 1.
 * The kernel's comm has spaces and parentheses, as a renamed thread can.
 */
static void chain_in_kernel(void)
{
	MKPROC(1000, 999, "agent", "./agent\0");
	MKPROC(999, 500, "sh) (x y", "/bin/sh\0-c\0./agent\0");
	MKPROC(500, 100, "python3 (kernel) S 7", "/usr/bin/python3\0-m\0ipykernel_launcher\0-f\0"
	       "/tmp/rt/kernel-" KERNEL_ID ".json\0");
	MKPROC(100, 1, "jupyter-server", "/usr/bin/python3\0-m\0jupyter_server\0");
	MKPROC(1, 0, "init", "/sbin/init\0");
}

TEST(own_kernel_through_shell)
{
	struct discover_env e = world(1000);
	char *id = NULL;
	pid_t pid = 0;

	chain_in_kernel();
	CHECK(discover_own_kernel(&e, &id, &pid) == 0);
	CHECK_STR(id, KERNEL_ID);
	CHECK(pid == 500);
	CHECK(discover_in_kernel(&e) == 1);
	free(id);
	world_end();
}

TEST(own_kernel_not_in_kernel)
{
	struct discover_env e = world(1000);
	char *id = NULL;
	pid_t pid = 0;

	/* A terminal: agent -> bash -> the server itself -> init. */
	MKPROC(1000, 999, "agent", "./agent\0");
	MKPROC(999, 100, "bash", "/bin/bash\0-l\0");
	MKPROC(100, 1, "jupyter-lab", "/usr/bin/python3\0/usr/bin/jupyter-lab\0");
	CHECK(discover_own_kernel(&e, &id, &pid) == -1);
	CHECK(id == NULL && pid == 0);
	CHECK(discover_in_kernel(&e) == 0);

	/* Our own entry missing (e.g. another pid namespace): not in a kernel. */
	e.self_pid = 4242;
	CHECK(discover_in_kernel(&e) == 0);
	world_end();
}

TEST(own_kernel_argument_forms)
{
	struct discover_env e = world(1000);
	char *id = NULL;
	pid_t pid = 0;

	/* argv[0] is not an argument; "--f=" form counts; bad ids do not. */
	MKPROC(1000, 900, "agent", "./agent\0");
	MKPROC(900, 901, "x", "/tmp/kernel-notme.json\0");
	MKPROC(901, 902, "y", "tool\0kernel-.json\0kernel-a b.json\0/x/mykernel-zz.json\0-f\0");
	MKPROC(902, 1, "xeus", "xcpp\0--f=/home/u/.local/share/jupyter/runtime/kernel-v2-42ab.json\0");
	CHECK(discover_own_kernel(&e, &id, &pid) == 0);
	CHECK_STR(id, "v2-42ab");
	CHECK(pid == 902);
	free(id);

	/* A bare file name, as from a relative path. */
	id = NULL;
	MKPROC(902, 1, "irk", "R\0--slave\0-e\0IRkernel::main()\0--args\0kernel-r1.json");
	CHECK(discover_own_kernel(&e, &id, &pid) == 0);
	CHECK_STR(id, "r1");
	free(id);
	world_end();
}

TEST(own_kernel_loop_bounded)
{
	struct discover_env e = world(1000);
	char *id = NULL;
	pid_t pid = 0;

	/* A cycle cannot happen in a real /proc; the walk must still end. */
	MKPROC(1000, 1001, "a", "a\0");
	MKPROC(1001, 1000, "b", "b\0");
	CHECK(discover_own_kernel(&e, &id, &pid) == -1);
	world_end();
}

TEST(server_parent_of_kernel_among_several)
{
	struct discover_env e = world(1000);
	struct discovered d;
	char err[2048];

	chain_in_kernel();
	jpserver(rt, 100, 8888, "tok-ours");
	jpserver(rt, 200, 8889, "tok-other");
	jpserver(rt, 12, 8000, "tok-dead1");
	jpserver(rt, 34, 8001, "tok-dead2");
	set_alive(100);
	set_alive(200);
	setenv_fake("JPY_PARENT_PID", "200");	/* the kernel's parent wins */
	CHECK(discover_all(&e, &d, err, sizeof err) == 0);
	CHECK(d.kind == DISCOVER_JUPYTER);
	CHECK_STR(d.url, "http://127.0.0.1:8888/");
	CHECK_STR(d.token, "tok-ours");
	CHECK_STR(d.kernel_id, KERNEL_ID);
	CHECK(d.kernel_pid == 500);
	CHECK(d.hub_api_url == NULL && d.hub_user == NULL);
	CHECK_CONTAINS(d.how, "jpserver-100.json");
	CHECK_CONTAINS(d.how, "parent of our kernel");
	CHECK_CONTAINS(d.how, "kernel " KERNEL_ID " (pid 500)");
	CHECK(strstr(d.how, "tok-") == NULL);
	discovered_free(&d);
	world_end();
}

TEST(server_jpy_parent_pid)
{
	struct discover_env e = world(1000);
	struct discovered d;
	char err[2048];

	jpserver(rt, 100, 8888, "a");
	jpserver(rt, 200, 8889, "b");
	set_alive(100);
	set_alive(200);
	setenv_fake("JPY_PARENT_PID", "200");
	CHECK(discover_server(&e, NULL, 0, &d, err, sizeof err) == 0);
	CHECK_STR(d.url, "http://127.0.0.1:8889/");
	CHECK_STR(d.token, "b");
	CHECK(d.kernel_id == NULL && d.kernel_pid == 0);
	CHECK_CONTAINS(d.how, "JPY_PARENT_PID");
	CHECK_CONTAINS(d.how, "not inside a kernel");
	discovered_free(&d);
	world_end();
}

TEST(server_ancestor_terminal)
{
	struct discover_env e = world(1000);
	struct discovered d;
	char err[2048];

	MKPROC(1000, 999, "agent", "./agent\0");
	MKPROC(999, 200, "bash", "/bin/bash\0");
	MKPROC(200, 1, "jupyter-lab", "jupyter-lab\0");
	jpserver(rt, 100, 8888, "a");
	jpserver(rt, 200, 8889, "b");
	set_alive(100);
	set_alive(200);
	CHECK(discover_all(&e, &d, err, sizeof err) == 0);
	CHECK_STR(d.url, "http://127.0.0.1:8889/");
	CHECK_CONTAINS(d.how, "one of our ancestors");
	discovered_free(&d);
	world_end();
}

TEST(server_single_live_fallback_and_stale)
{
	struct discover_env e = world(1000);
	struct discovered d;
	char err[2048];

	jpserver(rt, 12, 8000, "dead");
	jpserver(rt, 34, 8001, "dead");
	jpserver(rt, 300, 9999, "live");
	write_in(rt, "jpserver-300-open.html", "<html></html>");
	write_in(rt, "kernel-" KERNEL_ID ".json", "{}");
	set_alive(300);
	CHECK(discover_server(&e, NULL, 0, &d, err, sizeof err) == 0);
	CHECK_STR(d.url, "http://127.0.0.1:9999/");
	CHECK_STR(d.token, "live");
	CHECK_CONTAINS(d.how, "the only live server");
	discovered_free(&d);
	world_end();
}

TEST(server_several_live_no_match_fails)
{
	struct discover_env e = world(1000);
	struct discovered d;
	char err[2048];

	jpserver(rt, 100, 8888, "secret-a");
	jpserver(rt, 200, 8889, "secret-b");
	jpserver(rt, 12, 8000, "secret-c");
	set_alive(100);
	set_alive(200);
	setenv_fake("JPY_PARENT_PID", "555");
	CHECK(discover_server(&e, NULL, 0, &d, err, sizeof err) == -1);
	CHECK(d.url == NULL && d.how == NULL);
	CHECK_CONTAINS(err, "2 live servers");
	CHECK_CONTAINS(err, "pid 100 at http://127.0.0.1:8888/");
	CHECK_CONTAINS(err, "pid 200 at http://127.0.0.1:8889/");
	CHECK_CONTAINS(err, "JPY_PARENT_PID=555");
	CHECK_CONTAINS(err, "stale file for dead pid 12");
	CHECK_CONTAINS(err, "--url");
	CHECK(strstr(err, "secret") == NULL);
	world_end();
}

TEST(server_real_runtime_files)
{
	struct discover_env e = world(1000);
	struct discovered d;
	char err[2048];

	/* As jupyter_server 1.23 wrote it. */
	e.runtime_dir = FIXTURES;
	set_alive(8313);
	CHECK(discover_server(&e, NULL, 0, &d, err, sizeof err) == 0);
	CHECK_STR(d.url, "http://127.0.0.1:18999/");
	CHECK_STR(d.token, "fixture-jp-token");
	CHECK_CONTAINS(d.how, FIXTURES "/jpserver-8313.json");
	discovered_free(&d);

	/* Notebook 6 on --ip=0.0.0.0 with a base_url: reach it on loopback. */
	memset(alive, 0, sizeof alive);
	set_alive(10196);
	CHECK(discover_server(&e, NULL, 0, &d, err, sizeof err) == 0);
	CHECK_STR(d.url, "http://127.0.0.1:18998/nb/");
	CHECK_STR(d.token, "fixture-nb-token");
	discovered_free(&d);

	/* Both live, neither ours. */
	set_alive(8313);
	CHECK(discover_server(&e, NULL, 0, &d, err, sizeof err) == -1);
	CHECK_CONTAINS(err, "pid 8313 at http://127.0.0.1:18999/");
	CHECK_CONTAINS(err, "pid 10196 at http://127.0.0.1:18998/nb/");
	CHECK_CONTAINS(err, "dead pid 77");
	CHECK(strstr(err, "fixture-") == NULL);
	world_end();
}

TEST(server_url_shapes)
{
	struct discover_env e = world(1000);
	struct discovered d;
	char err[2048];

	set_alive(50);
	/* No url: built from secure, hostname (a wildcard), port and base_url. */
	write_in(rt, "jpserver-50.json", "{\"port\": 8890, \"base_url\": \"/lab/x\", "
		 "\"secure\": true, \"hostname\": \"0.0.0.0\", \"token\": \"\"}");
	CHECK(discover_server(&e, NULL, 0, &d, err, sizeof err) == 0);
	CHECK_STR(d.url, "https://127.0.0.1:8890/lab/x/");
	CHECK(d.token == NULL);
	discovered_free(&d);

	/* jupyter_server on 0.0.0.0 advertises the machine name. */
	write_in(rt, "jpserver-50.json", "{\"url\": \"http://box-7f3a:8888/\", "
		 "\"hostname\": \"0.0.0.0\", \"port\": 8888, \"token\": \"t\"}");
	CHECK(discover_server(&e, NULL, 0, &d, err, sizeof err) == 0);
	CHECK_STR(d.url, "http://127.0.0.1:8888/");
	discovered_free(&d);

	/* "::" is bound IPv6-only by tornado. */
	write_in(rt, "jpserver-50.json", "{\"url\": \"http://box:8888/a/\", "
		 "\"hostname\": \"::\", \"port\": 8888}");
	CHECK(discover_server(&e, NULL, 0, &d, err, sizeof err) == 0);
	CHECK_STR(d.url, "http://[::1]:8888/a/");
	discovered_free(&d);

	/* A query never survives; the trailing '/' is added. */
	write_in(rt, "jpserver-50.json", "{\"url\": \"http://10.0.0.5:8888/base?token=abc\", "
		 "\"hostname\": \"10.0.0.5\"}");
	CHECK(discover_server(&e, NULL, 0, &d, err, sizeof err) == 0);
	CHECK_STR(d.url, "http://10.0.0.5:8888/base/");
	discovered_free(&d);

	/* Unusable files are named in the explanation. */
	write_in(rt, "jpserver-50.json", "{\"url\": \"http+unix://%2Ftmp%2Fs/\", "
		 "\"sock\": \"/tmp/s\", \"token\": \"t\"}");
	set_alive(51);
	write_in(rt, "nbserver-51.json", "not json");
	CHECK(discover_server(&e, NULL, 0, &d, err, sizeof err) == -1);
	CHECK_CONTAINS(err, "jpserver-50.json (serves on UNIX socket /tmp/s)");
	CHECK_CONTAINS(err, "nbserver-51.json (not a JSON object)");
	CHECK_CONTAINS(err, "no live server");
	world_end();
}

TEST(server_default_runtime_dirs)
{
	struct discover_env e = world(1000);
	struct discovered d;
	char err[2048], dir[256];

	e.runtime_dir = NULL;
	set_alive(100);

	/* JUPYTER_RUNTIME_DIR */
	jpserver(rt, 100, 8888, "t");
	setenv_fake("JUPYTER_RUNTIME_DIR", rt);
	setenv_fake("HOME", "/nonexistent");
	CHECK(discover_server(&e, NULL, 0, &d, err, sizeof err) == 0);
	CHECK_CONTAINS(d.how, rt);
	discovered_free(&d);

	/* JUPYTER_DATA_DIR/runtime */
	memset(fenv, 0, sizeof fenv);
	snprintf(dir, sizeof dir, "%s/data", root);
	mkdir(dir, 0700);
	snprintf(dir, sizeof dir, "%s/data/runtime", root);
	mkdir(dir, 0700);
	jpserver(dir, 100, 8870, "t");
	snprintf(dir, sizeof dir, "%s/data", root);
	setenv_fake("JUPYTER_DATA_DIR", dir);
	CHECK(discover_server(&e, NULL, 0, &d, err, sizeof err) == 0);
	CHECK_STR(d.url, "http://127.0.0.1:8870/");
	discovered_free(&d);

	/* XDG_DATA_HOME/jupyter/runtime beats HOME; XDG_RUNTIME_DIR is not used. */
	memset(fenv, 0, sizeof fenv);
	snprintf(dir, sizeof dir, "%s/xdg", root);
	mkdir(dir, 0700);
	snprintf(dir, sizeof dir, "%s/xdg/jupyter", root);
	mkdir(dir, 0700);
	snprintf(dir, sizeof dir, "%s/xdg/jupyter/runtime", root);
	mkdir(dir, 0700);
	jpserver(dir, 100, 8871, "t");
	snprintf(dir, sizeof dir, "%s/xdg", root);
	setenv_fake("XDG_DATA_HOME", dir);
	setenv_fake("XDG_RUNTIME_DIR", rt);
	CHECK(discover_server(&e, NULL, 0, &d, err, sizeof err) == 0);
	CHECK_STR(d.url, "http://127.0.0.1:8871/");
	discovered_free(&d);

	/* HOME/.local/share/jupyter/runtime */
	memset(fenv, 0, sizeof fenv);
	snprintf(dir, sizeof dir, "%s/.local", root);
	mkdir(dir, 0700);
	snprintf(dir, sizeof dir, "%s/.local/share", root);
	mkdir(dir, 0700);
	snprintf(dir, sizeof dir, "%s/.local/share/jupyter", root);
	mkdir(dir, 0700);
	snprintf(dir, sizeof dir, "%s/.local/share/jupyter/runtime", root);
	mkdir(dir, 0700);
	jpserver(dir, 100, 8872, "t");
	setenv_fake("HOME", root);
	CHECK(discover_server(&e, NULL, 0, &d, err, sizeof err) == 0);
	CHECK_STR(d.url, "http://127.0.0.1:8872/");
	CHECK_CONTAINS(d.how, "/.local/share/jupyter/runtime/jpserver-100.json");
	discovered_free(&d);
	world_end();
}

TEST(server_in_connection_file_dir)
{
	struct discover_env e = world(1000);
	struct discovered d;
	char err[2048], other[256], cmd[512];
	int n;

	/* The server was started with --ServerApp.runtime_dir; our env does not say so. */
	e.runtime_dir = NULL;
	snprintf(other, sizeof other, "%s/empty", root);
	mkdir(other, 0700);
	setenv_fake("JUPYTER_RUNTIME_DIR", other);
	MKPROC(1000, 500, "agent", "./agent\0");
	n = snprintf(cmd, sizeof cmd, "python3%c-m%cipykernel_launcher%c-f%c%s/kernel-%s.json", 0,
		     0, 0, 0, rt, KERNEL_ID);
	mkproc(500, 100, "python3", cmd, (size_t)n + 1);
	MKPROC(100, 1, "jupyter", "jupyter\0");
	jpserver(rt, 100, 8888, "t");
	set_alive(100);
	CHECK(discover_all(&e, &d, err, sizeof err) == 0);
	CHECK_STR(d.url, "http://127.0.0.1:8888/");
	CHECK_STR(d.kernel_id, KERNEL_ID);
	CHECK_CONTAINS(d.how, rt);
	discovered_free(&d);
	world_end();
}

static void hub_env(void)
{
	setenv_fake("JUPYTERHUB_API_TOKEN", "hub-secret-token");
	setenv_fake("JUPYTERHUB_SERVICE_PREFIX", "/user/alice/");
	setenv_fake("JUPYTERHUB_API_URL", "http://127.0.0.1:8081/hub/api");
	setenv_fake("JUPYTERHUB_USER", "alice");
	setenv_fake("JUPYTERHUB_SERVER_NAME", "");
	setenv_fake("JUPYTERHUB_ACTIVITY_URL", "http://127.0.0.1:8081/hub/api/users/alice/activity");
}

TEST(hub_from_service_url)
{
	struct discover_env e = world(1000);
	struct discovered d;
	char err[2048];

	hub_env();
	setenv_fake("JUPYTERHUB_SERVICE_URL", "http://127.0.0.1:44123/user/alice/");
	CHECK(discover_server(&e, NULL, 0, &d, err, sizeof err) == 0);
	CHECK(d.kind == DISCOVER_HUB);
	CHECK_STR(d.url, "http://127.0.0.1:44123/user/alice/");
	CHECK_STR(d.token, "hub-secret-token");
	CHECK_STR(d.hub_api_url, "http://127.0.0.1:8081/hub/api");
	CHECK_STR(d.hub_user, "alice");
	CHECK_STR(d.hub_server_name, "");
	CHECK_STR(d.hub_activity_url, "http://127.0.0.1:8081/hub/api/users/alice/activity");
	CHECK_CONTAINS(d.how, "JUPYTERHUB_SERVICE_URL");
	CHECK(strstr(d.how, "secret") == NULL);
	discovered_free(&d);

	/* DockerSpawner / KubeSpawner: bound to every address. */
	memset(fenv, 0, sizeof fenv);
	hub_env();
	setenv_fake("JUPYTERHUB_SERVICE_URL", "http://0.0.0.0:8888/user/alice");
	CHECK(discover_server(&e, NULL, 0, &d, err, sizeof err) == 0);
	CHECK_STR(d.url, "http://127.0.0.1:8888/user/alice/");
	discovered_free(&d);
	world_end();
}

TEST(hub_runtime_file_of_our_server)
{
	struct discover_env e = world(1000);
	struct discovered d;
	char err[2048];

	chain_in_kernel();
	hub_env();
	setenv_fake("JUPYTERHUB_SERVICE_URL", "http://127.0.0.1:1/user/alice/");
	/* Under the hub the runtime file's token is empty. */
	write_in(rt, "jpserver-100.json", "{\"base_url\": \"/user/alice/\", \"hostname\": "
		 "\"127.0.0.1\", \"pid\": 100, \"port\": 44123, \"sock\": \"\", \"token\": \"\", "
		 "\"url\": \"http://127.0.0.1:44123/user/alice/\"}");
	set_alive(100);
	CHECK(discover_all(&e, &d, err, sizeof err) == 0);
	CHECK(d.kind == DISCOVER_HUB);
	CHECK_STR(d.url, "http://127.0.0.1:44123/user/alice/");
	CHECK_STR(d.token, "hub-secret-token");
	CHECK_STR(d.kernel_id, KERNEL_ID);
	CHECK_CONTAINS(d.how, "jpserver-100.json");
	discovered_free(&d);
	world_end();
}

TEST(hub_nothing_fails)
{
	struct discover_env e = world(1000);
	struct discovered d;
	char err[2048];

	hub_env();
	CHECK(discover_server(&e, NULL, 0, &d, err, sizeof err) == -1);
	CHECK(d.token == NULL && d.hub_user == NULL);
	CHECK_CONTAINS(err, "JUPYTERHUB_SERVICE_URL is unset");
	CHECK_CONTAINS(err, "--url");
	CHECK(strstr(err, "hub-secret") == NULL);
	world_end();
}

TEST(colab)
{
	struct discover_env e = world(1000);
	struct discovered d;
	char err[2048];

	setenv_fake("COLAB_JUPYTER_IP", "172.28.0.12");
	setenv_fake("COLAB_JUPYTER_TOKEN", "");
	CHECK(discover_server(&e, NULL, 0, &d, err, sizeof err) == 0);
	CHECK(d.kind == DISCOVER_COLAB);
	CHECK_STR(d.url, "http://172.28.0.12:9000/");
	CHECK(d.token == NULL);
	CHECK_CONTAINS(d.how, "9000");
	discovered_free(&d);

	setenv_fake("KMP_TARGET_PORT", "9123");
	CHECK(discover_server(&e, NULL, 0, &d, err, sizeof err) == 0);
	CHECK_STR(d.url, "http://172.28.0.12:9123/");
	CHECK_CONTAINS(d.how, "KMP_TARGET_PORT");
	discovered_free(&d);
	world_end();
}

TEST(nothing_found_explains)
{
	struct discover_env e = world(1000);
	struct discovered d;
	char err[2048], small[24];

	jpserver(rt, 12, 8000, "stale-secret");
	jpserver(rt, 34, 8001, "stale-secret");
	setenv_fake("JUPYTERHUB_API_TOKEN", "half-hub-secret");
	setenv_fake("JUPYTER_TOKEN", "user-secret");
	CHECK(discover_server(&e, NULL, 0, &d, err, sizeof err) == -1);
	CHECK_CONTAINS(err, "JUPYTERHUB_API_TOKEN set but JUPYTERHUB_SERVICE_PREFIX unset");
	CHECK_CONTAINS(err, rt);
	CHECK_CONTAINS(err, "no live server (2 stale files for dead pids 12, 34)");
	CHECK_CONTAINS(err, "COLAB_JUPYTER_IP unset");
	CHECK_CONTAINS(err, "agent --url http://HOST:PORT/");
	CHECK(strstr(err, "secret") == NULL);
	CHECK(strchr(err, '\n') != NULL);

	/* An empty dir, a missing dir, no hub at all. */
	memset(fenv, 0, sizeof fenv);
	e.runtime_dir = "/nonexistent/rt";
	CHECK(discover_server(&e, NULL, 0, &d, err, sizeof err) == -1);
	CHECK_CONTAINS(err, "no JUPYTERHUB_API_TOKEN and JUPYTERHUB_SERVICE_PREFIX");
	CHECK_CONTAINS(err, "/nonexistent/rt (given): does not exist");

	/* Truncated, still terminated. */
	CHECK(discover_server(&e, NULL, 0, &d, small, sizeof small) == -1);
	CHECK(strlen(small) == sizeof small - 1);
	CHECK(discover_server(&e, NULL, 0, &d, small, 0) == -1);
	world_end();
}

TEST(free_accepts_zeroed)
{
	struct discovered d;

	memset(&d, 0, sizeof d);
	discovered_free(&d);
	discovered_free(NULL);
	CHECK(d.url == NULL);
}

TEST(default_env_is_real)
{
	struct discover_env e;

	discover_env_default(&e);
	CHECK_STR(e.proc_root, "/proc");
	CHECK(e.self_pid == getpid());
	CHECK(e.runtime_dir == NULL);
	CHECK(e.pid_alive(getpid()) == 1);
	CHECK(e.getenv("PATH") != NULL);
	/* The runner is not a kernel's child unless run from a notebook. */
	CHECK(discover_in_kernel(&e) == 0 || getenv("JPY_PARENT_PID") != NULL);
}

void suite_discover(void)
{
	RUN(own_kernel_through_shell);
	RUN(own_kernel_not_in_kernel);
	RUN(own_kernel_argument_forms);
	RUN(own_kernel_loop_bounded);
	RUN(server_parent_of_kernel_among_several);
	RUN(server_jpy_parent_pid);
	RUN(server_ancestor_terminal);
	RUN(server_single_live_fallback_and_stale);
	RUN(server_several_live_no_match_fails);
	RUN(server_real_runtime_files);
	RUN(server_url_shapes);
	RUN(server_default_runtime_dirs);
	RUN(server_in_connection_file_dir);
	RUN(hub_from_service_url);
	RUN(hub_runtime_file_of_our_server);
	RUN(hub_nothing_fails);
	RUN(colab);
	RUN(nothing_found_explains);
	RUN(free_accepts_zeroed);
	RUN(default_env_is_real);
}
