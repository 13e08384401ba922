/*
 * discover: find our own Jupyter server and kernel from /proc, the runtime
 * directory and the environment. See discover.h for the rules.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE	/* strndup, strnlen, O_CLOEXEC under -std=c11 */
#endif
#include "discover.h"
#include "file.h"
#include "proc.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pwd.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include <jansson.h>

#define MAX_HOPS	64		/* parent-chain walk */
#define MAX_PROC_FILE	(64 * 1024)	/* stat, cmdline */
#define MAX_JSON_FILE	(64 * 1024)	/* runtime files are a few hundred bytes */
#define MAX_ENTRIES	1024		/* runtime files looked at per directory */
#define MAX_SERVERS	32		/* live servers remembered */
#define MAX_PIDS_SHOWN	8		/* stale pids named in an explanation */

#define HINT "Configure a target instead: agent --url http://HOST:PORT/ " \
	"(a local server's token is read from its runtime file; else JUPYTER_TOKEN) " \
	"or -c agent.ini"

/* Bounded text building: never overflows, silently truncates. */
struct buf {
	char *s;
	size_t cap;
	size_t len;
};

__attribute__((format(printf, 2, 3)))
static void bprintf(struct buf *b, const char *fmt, ...)
{
	va_list ap;
	int n;

	if (b->cap == 0 || b->len >= b->cap - 1)
		return;
	va_start(ap, fmt);
	n = vsnprintf(b->s + b->len, b->cap - b->len, fmt, ap);
	va_end(ap);
	if (n < 0)
		return;
	b->len += (size_t)n;
	if (b->len > b->cap - 1)
		b->len = b->cap - 1;
}

static const char *env(const struct discover_env *e, const char *name)
{
	return e->getenv ? e->getenv(name) : NULL;
}

static int nonempty(const char *s)
{
	return s && *s;
}

static char *dup_or_null(const char *s)
{
	return s ? strdup(s) : NULL;
}

/* A positive decimal pid, or 0. */
static pid_t parse_pid(const char *s)
{
	char *end;
	long v;

	if (!s || *s < '0' || *s > '9')
		return 0;
	errno = 0;
	v = strtol(s, &end, 10);
	if (errno || *end || v <= 0 || v > INT_MAX)
		return 0;
	return (pid_t)v;
}

/* The parent of pid, from PROC/<pid>/stat: "pid (comm) S ppid …". */
static int proc_ppid(const struct discover_env *e, pid_t pid, pid_t *ppid)
{
	char path[PATH_MAX], state;
	char *s;
	size_t len;
	int ok;

	if (pid <= 0 || snprintf(path, sizeof path, "%s/%d/stat", e->proc_root, (int)pid)
			>= (int)sizeof path)
		return -1;
	s = file_read(path, MAX_PROC_FILE, &len);
	if (!s)
		return -1;
	ok = proc_parse_stat(s, &state, ppid) == 0;
	free(s);
	return ok ? 0 : -1;
}

static int id_char(char c)
{
	return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
	       c == '-' || c == '_';
}

/*
 * Does one command-line argument name a connection file "[DIR/]kernel-<id>.json"
 * (or "--f=…")? Then return its id and, if asked and the path is absolute,
 * its directory (both malloc'd).
 */
static int kernel_arg(const char *arg, char **id, char **dir)
{
	const char *path = arg, *slash, *base, *eq;
	size_t blen, idlen, i;

	if (arg[0] == '-') {
		eq = strchr(arg, '=');
		if (!eq)
			return -1;
		path = eq + 1;
	}
	slash = strrchr(path, '/');
	base = slash ? slash + 1 : path;
	blen = strlen(base);
	if (blen <= 12 || strncmp(base, "kernel-", 7) != 0 || strcmp(base + blen - 5, ".json") != 0)
		return -1;
	idlen = blen - 12;
	if (idlen > 128)
		return -1;
	for (i = 0; i < idlen; i++)
		if (!id_char(base[7 + i]))
			return -1;
	*id = strndup(base + 7, idlen);
	if (!*id)
		return -1;
	if (dir) {
		*dir = NULL;
		if (slash && path[0] == '/')
			*dir = strndup(path, slash == path ? 1 : (size_t)(slash - path));
	}
	return 0;
}

/* Is pid a kernel? Looks at every argument after argv[0] in PROC/<pid>/cmdline. */
static int proc_kernel(const struct discover_env *e, pid_t pid, char **id, char **dir)
{
	char path[PATH_MAX];
	char *cmd;
	size_t len, i, alen;
	int argi = 0, rc = -1;

	if (snprintf(path, sizeof path, "%s/%d/cmdline", e->proc_root, (int)pid) >= (int)sizeof path)
		return -1;
	cmd = file_read(path, MAX_PROC_FILE, &len);
	if (!cmd)
		return -1;
	for (i = 0; i < len; i += alen + 1, argi++) {
		alen = strnlen(cmd + i, len - i);
		if (argi > 0 && alen > 0 && kernel_arg(cmd + i, id, dir) == 0) {
			rc = 0;
			break;
		}
	}
	free(cmd);
	return rc;
}

int discover_own_kernel(const struct discover_env *e, char **kernel_id, pid_t *kernel_pid)
{
	pid_t pid = e->self_pid, pp;
	int hops;

	for (hops = 0; hops < MAX_HOPS; hops++) {
		if (proc_ppid(e, pid, &pp) < 0 || pp <= 1)
			return -1;
		pid = pp;
		if (proc_kernel(e, pid, kernel_id, NULL) == 0) {
			*kernel_pid = pid;
			return 0;
		}
	}
	return -1;
}

int discover_in_kernel(const struct discover_env *e)
{
	char *id = NULL;
	pid_t pid;

	if (discover_own_kernel(e, &id, &pid) < 0)
		return 0;
	free(id);
	return 1;
}

/*
 * The loopback address that reaches a server bound to the wildcard host, or
 * NULL when host is a real address. Tornado binds "::" as IPv6 only, so that
 * one needs [::1].
 */
static const char *wildcard_loopback(const char *host, size_t len)
{
	if (len == 0 || (len == 7 && memcmp(host, "0.0.0.0", 7) == 0) || (len == 1 && *host == '*'))
		return "127.0.0.1";
	if ((len == 2 && memcmp(host, "::", 2) == 0) || (len == 4 && memcmp(host, "[::]", 4) == 0))
		return "[::1]";
	return NULL;
}

/*
 * An http(s) base URL as the agent wants it: host replaced by loopback when
 * given (or when the URL's own host is a wildcard), no query or fragment,
 * ending in '/'. NULL for anything else (other schemes, userinfo).
 */
static char *url_clean(const char *url, const char *loopback)
{
	const char *sep, *host, *rest, *rb;
	size_t slen, hlen, alen, rlen, n;
	int slash;
	char *out;

	sep = strstr(url, "://");
	if (!sep)
		return NULL;
	slen = (size_t)(sep - url);
	if (!((slen == 4 && strncasecmp(url, "http", 4) == 0) ||
	      (slen == 5 && strncasecmp(url, "https", 5) == 0)))
		return NULL;
	host = sep + 3;
	alen = strcspn(host, "/?#");
	if (memchr(host, '@', alen))
		return NULL;
	if (*host == '[') {
		rb = memchr(host, ']', alen);
		if (!rb)
			return NULL;
		hlen = (size_t)(rb + 1 - host);
	} else {
		hlen = strcspn(host, ":/?#");
	}
	rest = host + hlen;
	rlen = strcspn(rest, "?#");
	if (!loopback)
		loopback = wildcard_loopback(host, hlen);
	if (loopback) {
		host = loopback;
		hlen = strlen(loopback);
	}
	slash = rlen == 0 || rest[rlen - 1] != '/';
	n = slen + 3 + hlen + rlen + 2;
	out = malloc(n);
	if (!out)
		return NULL;
	snprintf(out, n, "%.*s://%.*s%.*s%s", (int)slen, url, (int)hlen, host, (int)rlen, rest,
		 slash ? "/" : "");
	return out;
}

/* One live server from a runtime file. */
struct server {
	char *path;
	pid_t pid;
	char *url;
	char *token;		/* NULL when the file's token is empty */
};

/* What the runtime directories held. */
struct scan {
	struct server live[MAX_SERVERS];
	size_t nlive;
	size_t nlive_extra;	/* live but not remembered */
	char notes[2048];	/* one "  - runtime dir …" line per directory */
	struct buf nb;
};

static void scan_free(struct scan *sc)
{
	size_t i;

	for (i = 0; i < sc->nlive; i++) {
		free(sc->live[i].path);
		free(sc->live[i].url);
		free(sc->live[i].token);
	}
	sc->nlive = 0;
}

/*
 * Read one runtime file. Returns 0 and fills url and token, or -1 with a
 * short reason in why.
 */
static int read_server(const char *path, struct server *sv, char *why, size_t whylen)
{
	json_error_t jerr;
	json_t *root, *port;
	const char *sock, *host, *url, *base, *token, *loop = NULL;
	char built[512];
	size_t len;
	char *text;
	int rc = -1;

	text = file_read(path, MAX_JSON_FILE, &len);
	if (!text) {
		snprintf(why, whylen, "%s", strerror(errno));
		return -1;
	}
	root = json_loadb(text, len, 0, &jerr);
	free(text);
	if (!json_is_object(root)) {
		snprintf(why, whylen, "not a JSON object");
		goto out;
	}
	sock = json_string_value(json_object_get(root, "sock"));
	if (nonempty(sock)) {
		snprintf(why, whylen, "serves on UNIX socket %s", sock);
		goto out;
	}
	host = json_string_value(json_object_get(root, "hostname"));
	if (host)
		loop = wildcard_loopback(host, strlen(host));
	url = json_string_value(json_object_get(root, "url"));
	if (nonempty(url)) {
		/* "url" names the machine (gethostname()) when bound to every address. */
		sv->url = url_clean(url, loop);
	} else {
		port = json_object_get(root, "port");
		base = json_string_value(json_object_get(root, "base_url"));
		if (!json_is_integer(port) || json_integer_value(port) < 1 ||
		    json_integer_value(port) > 65535) {
			snprintf(why, whylen, "neither url nor port");
			goto out;
		}
		if (!host || loop)
			host = loop ? loop : "127.0.0.1";
		snprintf(built, sizeof built, "%s://%s%s%s:%d%s%s",
			 json_is_true(json_object_get(root, "secure")) ? "https" : "http",
			 strchr(host, ':') && host[0] != '[' ? "[" : "", host,
			 strchr(host, ':') && host[0] != '[' ? "]" : "",
			 (int)json_integer_value(port),
			 base && base[0] == '/' ? "" : "/", base ? base : "");
		sv->url = url_clean(built, NULL);
	}
	if (!sv->url) {
		snprintf(why, whylen, "no usable http(s) url");
		goto out;
	}
	token = json_string_value(json_object_get(root, "token"));
	if (nonempty(token)) {
		sv->token = strdup(token);
		if (!sv->token) {
			snprintf(why, whylen, "out of memory");
			goto out;
		}
	}
	rc = 0;
out:
	if (rc < 0) {
		free(sv->url);
		sv->url = NULL;
	}
	json_decref(root);
	return rc;
}

/* "jpserver-<pid>.json" or "nbserver-<pid>.json" -> pid, else 0. */
static pid_t runtime_name(const char *name)
{
	char digits[16];
	size_t n;

	if (strncmp(name, "jpserver-", 9) != 0 && strncmp(name, "nbserver-", 9) != 0)
		return 0;
	n = strlen(name + 9);
	if (n <= 5 || n - 5 >= sizeof digits || strcmp(name + 9 + n - 5, ".json") != 0)
		return 0;
	memcpy(digits, name + 9, n - 5);
	digits[n - 5] = '\0';
	return parse_pid(digits);
}

struct entry {
	pid_t pid;
	char name[64];
};

static int entry_cmp(const void *a, const void *b)
{
	const struct entry *x = a, *y = b;

	if (x->pid != y->pid)
		return x->pid < y->pid ? -1 : 1;
	return strcmp(x->name, y->name);
}

static int have_pid(const struct scan *sc, pid_t pid)
{
	size_t i;

	for (i = 0; i < sc->nlive; i++)
		if (sc->live[i].pid == pid)
			return 1;
	return 0;
}

/* Look at every runtime file in dir; remember the live servers, note the rest. */
static void scan_dir(const struct discover_env *e, struct scan *sc, const char *dir, const char *src)
{
	struct entry *ents = NULL;
	size_t nents = 0, i, nstale = 0, nbad = 0, nlive = 0;
	char stale[128] = "", bad[512] = "", why[256], path[PATH_MAX];
	struct buf sb = { stale, sizeof stale, 0 }, bb = { bad, sizeof bad, 0 };
	struct dirent *de;
	DIR *d;
	pid_t pid;

	bprintf(&sc->nb, "  - runtime dir %s (%s): ", dir, src);
	d = opendir(dir);
	if (!d) {
		if (errno == ENOENT)
			bprintf(&sc->nb, "does not exist\n");
		else
			bprintf(&sc->nb, "cannot read: %s\n", strerror(errno));
		return;
	}
	ents = calloc(MAX_ENTRIES, sizeof *ents);
	if (!ents) {
		closedir(d);
		bprintf(&sc->nb, "out of memory\n");
		return;
	}
	while ((de = readdir(d)) && nents < MAX_ENTRIES) {
		pid = runtime_name(de->d_name);
		if (!pid || snprintf(ents[nents].name, sizeof ents[nents].name, "%s", de->d_name)
				>= (int)sizeof ents[nents].name)
			continue;
		ents[nents].pid = pid;
		nents++;
	}
	closedir(d);
	/* Sorted, so that explanations do not depend on readdir order. */
	qsort(ents, nents, sizeof *ents, entry_cmp);

	for (i = 0; i < nents; i++) {
		struct server sv = { 0 };

		pid = ents[i].pid;
		if (!e->pid_alive || !e->pid_alive(pid)) {
			if (nstale < MAX_PIDS_SHOWN)
				bprintf(&sb, "%s%d", nstale ? ", " : "", (int)pid);
			else if (nstale == MAX_PIDS_SHOWN)
				bprintf(&sb, ", …");
			nstale++;
			continue;
		}
		if (snprintf(path, sizeof path, "%s/%s", dir, ents[i].name) >= (int)sizeof path)
			continue;
		sv.pid = pid;
		if (read_server(path, &sv, why, sizeof why) < 0) {
			bprintf(&bb, "%s%s (%s)", nbad ? ", " : "", ents[i].name, why);
			nbad++;
			continue;
		}
		nlive++;
		/* The same server seen through a second path to the same directory. */
		if (have_pid(sc, sv.pid) || sc->nlive == MAX_SERVERS || !(sv.path = strdup(path))) {
			if (!have_pid(sc, sv.pid))
				sc->nlive_extra++;
			free(sv.url);
			free(sv.token);
			continue;
		}
		sc->live[sc->nlive++] = sv;
	}
	free(ents);

	if (nents == 0)
		bprintf(&sc->nb, "no jpserver-*.json or nbserver-*.json");
	else if (nlive == 0)
		bprintf(&sc->nb, "no live server");
	else
		bprintf(&sc->nb, "%zu live server%s", nlive, nlive == 1 ? "" : "s");
	if (nstale)
		bprintf(&sc->nb, " (%zu stale file%s for dead pid%s %s)", nstale,
			nstale == 1 ? "" : "s", nstale == 1 ? "" : "s", stale);
	if (nbad)
		bprintf(&sc->nb, "; unusable: %s", bad);
	bprintf(&sc->nb, "\n");
}

/* jupyter_core.paths.jupyter_runtime_dir() on Linux; malloc'd, or NULL. */
static char *default_runtime_dir(const struct discover_env *e, const char **src)
{
	const char *v, *home;
	struct passwd *pw;
	char p[PATH_MAX];
	int n;

	if (nonempty(v = env(e, "JUPYTER_RUNTIME_DIR"))) {
		*src = "JUPYTER_RUNTIME_DIR";
		return strdup(v);
	}
	if (nonempty(v = env(e, "JUPYTER_DATA_DIR"))) {
		*src = "JUPYTER_DATA_DIR/runtime";
		n = snprintf(p, sizeof p, "%s/runtime", v);
	} else if (nonempty(v = env(e, "XDG_DATA_HOME"))) {
		*src = "XDG_DATA_HOME/jupyter/runtime";
		n = snprintf(p, sizeof p, "%s/jupyter/runtime", v);
	} else {
		home = env(e, "HOME");
		if (!nonempty(home)) {
			pw = getpwuid(getuid());
			home = pw ? pw->pw_dir : NULL;
		}
		if (!nonempty(home))
			return NULL;
		*src = "Jupyter's default";
		n = snprintf(p, sizeof p, "%s/.local/share/jupyter/runtime", home);
	}
	if (n < 0 || n >= (int)sizeof p)
		return NULL;
	return strdup(p);
}

/* Compare directory names, ignoring trailing slashes. */
static int same_dir(const char *a, const char *b)
{
	size_t la = strlen(a), lb = strlen(b);

	while (la > 1 && a[la - 1] == '/')
		la--;
	while (lb > 1 && b[lb - 1] == '/')
		lb--;
	return la == lb && memcmp(a, b, la) == 0;
}

/*
 * Which live server is ours: the kernel's parent, else JPY_PARENT_PID, else
 * one of our ancestors. NULL when none; *why says which rule matched.
 */
static struct server *match_server(const struct discover_env *e, struct scan *sc,
				   pid_t kernel_pid, const char **why)
{
	pid_t want, pid = e->self_pid;
	size_t i;
	int hops;

	if (kernel_pid > 0 && proc_ppid(e, kernel_pid, &want) == 0)
		for (i = 0; i < sc->nlive; i++)
			if (sc->live[i].pid == want) {
				*why = "parent of our kernel";
				return &sc->live[i];
			}
	want = parse_pid(env(e, "JPY_PARENT_PID"));
	for (i = 0; want && i < sc->nlive; i++)
		if (sc->live[i].pid == want) {
			*why = "JPY_PARENT_PID";
			return &sc->live[i];
		}
	for (hops = 0; hops < MAX_HOPS && proc_ppid(e, pid, &pid) == 0 && pid > 1; hops++)
		for (i = 0; i < sc->nlive; i++)
			if (sc->live[i].pid == pid) {
				*why = "one of our ancestors";
				return &sc->live[i];
			}
	return NULL;
}

/* The "several live servers" line of an explanation. */
static void explain_several(struct buf *b, const struct scan *sc, pid_t kernel_pid,
			    const char *jpy)
{
	size_t i;

	bprintf(b, "  - %zu live servers, and none is ours (", sc->nlive + sc->nlive_extra);
	if (kernel_pid > 0)
		bprintf(b, "the parent of kernel process %d", (int)kernel_pid);
	else
		bprintf(b, "not inside a kernel");
	bprintf(b, ", JPY_PARENT_PID%s%s, nor an ancestor):", jpy ? "=" : " unset",
		jpy ? jpy : "");
	for (i = 0; i < sc->nlive; i++)
		bprintf(b, "%s pid %d at %s (%s)", i ? ";" : "", (int)sc->live[i].pid,
			sc->live[i].url, sc->live[i].path);
	if (sc->nlive_extra)
		bprintf(b, "; and %zu more", sc->nlive_extra);
	bprintf(b, "\n");
}

static void how_kernel(struct buf *hb, const char *kernel_id, pid_t kernel_pid)
{
	if (kernel_id)
		bprintf(hb, "; kernel %s (pid %d)", kernel_id, (int)kernel_pid);
	else
		bprintf(hb, "; not inside a kernel");
}

/* Scan the given runtime dir, or the connection file's and jupyter_core's. */
static void scan_runtime_dirs(const struct discover_env *e, struct scan *sc, pid_t kernel_pid)
{
	char *conn_dir = NULL, *kid = NULL, *def;
	const char *src = NULL;

	if (e->runtime_dir) {
		scan_dir(e, sc, e->runtime_dir, "given");
		return;
	}
	/* The server writes its kernels' connection files into its runtime dir,
	 * which need not be where our environment says (--ServerApp.runtime_dir). */
	if (kernel_pid > 0 && proc_kernel(e, kernel_pid, &kid, &conn_dir) == 0 && conn_dir)
		scan_dir(e, sc, conn_dir, "our kernel's connection file is there");
	def = default_runtime_dir(e, &src);
	if (!def)
		bprintf(&sc->nb, "  - default runtime dir: unknown (HOME unset)\n");
	else if (!conn_dir || !same_dir(def, conn_dir))
		scan_dir(e, sc, def, src);
	free(def);
	free(conn_dir);
	free(kid);
}

/* Same server? Scheme, port and path alike; localhost and 127.0.0.1 alike. */
static int same_server(const char *a, const char *b)
{
	static const char *const local[] = { "localhost", "127.0.0.1" };
	const char *ha = strstr(a, "://"), *hb = strstr(b, "://");
	size_t la, lb;

	if (!ha || !hb || (size_t)(ha - a) != (size_t)(hb - b) || strncasecmp(a, b, (size_t)(ha - a)))
		return 0;
	ha += 3;
	hb += 3;
	la = strcspn(ha, ":/");
	lb = strcspn(hb, ":/");
	if (!(la == lb && !strncasecmp(ha, hb, la))) {
		int xa = -1, xb = -1;

		for (int i = 0; i < 2; i++) {
			if (la == strlen(local[i]) && !strncasecmp(ha, local[i], la))
				xa = i;
			if (lb == strlen(local[i]) && !strncasecmp(hb, local[i], lb))
				xb = i;
		}
		if (xa < 0 || xb < 0)
			return 0;
	}
	return !strcmp(ha + la, hb + lb);	/* ":port/base/" */
}

int discover_token_for_url(const struct discover_env *e, const char *url, char **token,
			   char **path)
{
	struct scan sc;
	int rc = -1;

	memset(&sc, 0, sizeof(sc));
	scan_runtime_dirs(e, &sc, 0);
	for (size_t i = 0; i < sc.nlive; i++) {
		if (!sc.live[i].token || !sc.live[i].url || !same_server(sc.live[i].url, url))
			continue;
		*token = strdup(sc.live[i].token);
		*path = strdup(sc.live[i].path ? sc.live[i].path : "");
		rc = *token && *path ? 0 : -1;
		if (rc) {
			free(*token);
			free(*path);
			*token = *path = NULL;
		}
		break;
	}
	scan_free(&sc);
	return rc;
}

/*
 * JupyterHub: the URL of our runtime file, else JUPYTERHUB_SERVICE_URL, else
 * the only live runtime file. Returns 0, or -1 with the explanation in eb.
 */
static int from_hub(const struct discover_env *e, struct scan *sc, struct server *mine,
		    const char *why, pid_t kernel_pid, struct discovered *out, struct buf *hb,
		    struct buf *eb)
{
	const char *surl = env(e, "JUPYTERHUB_SERVICE_URL");

	out->kind = DISCOVER_HUB;
	if (!mine && nonempty(surl) && (out->url = url_clean(surl, NULL))) {
		bprintf(hb, "JupyterHub server %s from JUPYTERHUB_SERVICE_URL", out->url);
	} else {
		if (!mine && sc->nlive == 1 && !sc->nlive_extra) {
			mine = &sc->live[0];
			why = "the only live server";
		}
		if (!mine) {
			bprintf(eb, "no Jupyter server found to keep alive. Tried:\n"
				"  - JupyterHub: JUPYTERHUB_SERVICE_PREFIX=%s, but "
				"JUPYTERHUB_SERVICE_URL is %s and no runtime file is our server's\n%s",
				env(e, "JUPYTERHUB_SERVICE_PREFIX"),
				nonempty(surl) ? "not an http(s) URL" : "unset", sc->notes);
			if (sc->nlive + sc->nlive_extra > 1)
				explain_several(eb, sc, kernel_pid, env(e, "JPY_PARENT_PID"));
			bprintf(eb, "%s", HINT);
			return -1;
		}
		out->url = strdup(mine->url);
		bprintf(hb, "JupyterHub server %s from %s (pid %d, %s)", mine->url, mine->path,
			(int)mine->pid, why);
	}
	/* Under the hub the runtime file's token is empty; the server's is in the env. */
	out->token = strdup(env(e, "JUPYTERHUB_API_TOKEN"));
	out->hub_api_url = dup_or_null(env(e, "JUPYTERHUB_API_URL"));
	out->hub_user = dup_or_null(env(e, "JUPYTERHUB_USER"));
	out->hub_server_name = dup_or_null(env(e, "JUPYTERHUB_SERVER_NAME"));
	out->hub_activity_url = dup_or_null(env(e, "JUPYTERHUB_ACTIVITY_URL"));
	return 0;
}

/* Colab: COLAB_JUPYTER_IP and KMP_TARGET_PORT (default 9000). Returns 0 or -1. */
static int from_colab(const struct discover_env *e, const char *ip, struct discovered *out,
		      struct buf *hb, struct buf *eb)
{
	const char *tok = env(e, "COLAB_JUPYTER_TOKEN");
	int port = parse_pid(env(e, "KMP_TARGET_PORT"));
	int v6 = strchr(ip, ':') != NULL;
	char u[300];

	if (port > 65535)
		port = 0;
	out->kind = DISCOVER_COLAB;
	snprintf(u, sizeof u, "http://%s%s%s:%d/", v6 ? "[" : "", ip, v6 ? "]" : "",
		 port ? port : 9000);
	out->url = url_clean(u, NULL);
	if (!out->url) {
		bprintf(eb, "Colab: COLAB_JUPYTER_IP=%s does not make a URL\n%s", ip, HINT);
		return -1;
	}
	if (nonempty(tok) && !(out->token = strdup(tok))) {
		bprintf(eb, "discovery: out of memory");
		return -1;
	}
	bprintf(hb, "Colab server %s from COLAB_JUPYTER_IP and %s", out->url,
		port ? "KMP_TARGET_PORT" : "the default port 9000");
	return 0;
}

int discover_server(const struct discover_env *e, const char *kernel_id, pid_t kernel_pid,
		    struct discovered *out, char *err, size_t errlen)
{
	struct buf eb = { err, errlen, 0 }, hb;
	const char *why = NULL, *htok, *hprefix, *ip;
	struct server *mine;
	struct scan *sc;
	char how[1536];
	int rc = -1;

	memset(out, 0, sizeof *out);
	if (errlen)
		err[0] = '\0';
	how[0] = '\0';
	hb = (struct buf){ how, sizeof how, 0 };
	sc = calloc(1, sizeof *sc);
	if (!sc) {
		bprintf(&eb, "discovery: out of memory");
		return -1;
	}
	sc->nb = (struct buf){ sc->notes, sizeof sc->notes, 0 };
	scan_runtime_dirs(e, sc, kernel_pid);
	mine = match_server(e, sc, kernel_pid, &why);

	htok = env(e, "JUPYTERHUB_API_TOKEN");
	hprefix = env(e, "JUPYTERHUB_SERVICE_PREFIX");
	ip = env(e, "COLAB_JUPYTER_IP");
	if (nonempty(htok) && nonempty(hprefix)) {
		if (from_hub(e, sc, mine, why, kernel_pid, out, &hb, &eb) < 0)
			goto out;
	} else if (mine || (sc->nlive == 1 && !sc->nlive_extra)) {
		if (!mine) {
			mine = &sc->live[0];
			why = "the only live server";
		}
		out->kind = DISCOVER_JUPYTER;
		out->url = strdup(mine->url);
		if (mine->token && !(out->token = strdup(mine->token)))
			goto oom;
		bprintf(&hb, "server %s from %s (pid %d, %s)", mine->url, mine->path,
			(int)mine->pid, why);
	} else if (nonempty(ip)) {
		if (from_colab(e, ip, out, &hb, &eb) < 0)
			goto out;
	} else {
		bprintf(&eb, "no Jupyter server found to keep alive. Tried:\n");
		if (nonempty(htok) || nonempty(hprefix))
			bprintf(&eb, "  - JupyterHub: %s set but %s unset\n",
				htok ? "JUPYTERHUB_API_TOKEN" : "JUPYTERHUB_SERVICE_PREFIX",
				htok ? "JUPYTERHUB_SERVICE_PREFIX" : "JUPYTERHUB_API_TOKEN");
		else
			bprintf(&eb, "  - JupyterHub: no JUPYTERHUB_API_TOKEN and "
				"JUPYTERHUB_SERVICE_PREFIX in the environment\n");
		bprintf(&eb, "%s", sc->notes);
		if (sc->nlive + sc->nlive_extra > 1)
			explain_several(&eb, sc, kernel_pid, env(e, "JPY_PARENT_PID"));
		bprintf(&eb, "  - Colab: COLAB_JUPYTER_IP unset\n%s", HINT);
		goto out;
	}

	how_kernel(&hb, kernel_id, kernel_pid);
	out->how = strdup(how);
	if (kernel_id)
		out->kernel_id = strdup(kernel_id);
	out->kernel_pid = kernel_pid;
	if (!out->url || !out->how || (kernel_id && !out->kernel_id) ||
	    (out->kind == DISCOVER_HUB && !out->token))
		goto oom;
	rc = 0;
	goto out;
oom:
	eb.len = 0;
	bprintf(&eb, "discovery: out of memory");
out:
	if (rc < 0)
		discovered_free(out);
	scan_free(sc);
	free(sc);
	return rc;
}

int discover_all(const struct discover_env *e, struct discovered *out, char *err, size_t errlen)
{
	char *id = NULL;
	pid_t pid = 0;
	int rc;

	if (discover_own_kernel(e, &id, &pid) < 0) {
		id = NULL;
		pid = 0;
	}
	rc = discover_server(e, id, pid, out, err, errlen);
	free(id);
	return rc;
}

void discovered_free(struct discovered *d)
{
	if (!d)
		return;
	free(d->url);
	free(d->token);
	free(d->kernel_id);
	free(d->hub_api_url);
	free(d->hub_user);
	free(d->hub_server_name);
	free(d->hub_activity_url);
	free(d->how);
	memset(d, 0, sizeof *d);
}

static const char *real_getenv(const char *name)
{
	return getenv(name);
}

static int real_pid_alive(pid_t pid)
{
	return kill(pid, 0) == 0 || errno == EPERM;
}

void discover_env_default(struct discover_env *e)
{
	memset(e, 0, sizeof *e);
	e->proc_root = "/proc";
	e->self_pid = getpid();
	e->getenv = real_getenv;
	e->runtime_dir = NULL;
	e->pid_alive = real_pid_alive;
}
