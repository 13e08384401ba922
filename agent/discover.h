/*
 * discover: find our own Jupyter server and kernel from inside a notebook,
 * so that a bare "!./agent" in a cell needs no configuration.
 *
 * Sources, all local (no network I/O):
 *   - the parent chain in /proc: a cell's "!cmd" runs as a child of the
 *     kernel, whose command line names its connection file
 *     ("python3 -m ipykernel_launcher -f RUNTIME/kernel-<id>.json");
 *   - the servers' runtime files RUNTIME/jpserver-<pid>.json (Jupyter Server)
 *     and nbserver-<pid>.json (Notebook 6), which hold url and token;
 *   - the JUPYTERHUB_* and Colab environment variables.
 *
 * Every input comes through struct discover_env, so tests can point it at a
 * fake /proc tree, a fake environment and a fake liveness check. Nothing
 * here logs: failures come back as text in the caller's buffer.
 *
 * Call it before detaching: once the agent has called setsid() and its parent
 * has exited, the parent chain no longer leads to the kernel.
 *
 * Ownership: struct discovered owns its strings; release them with
 * discovered_free(). The token is a secret: it never appears in `how` or in
 * error texts.
 */
#ifndef AGENT_DISCOVER_H
#define AGENT_DISCOVER_H

#include <stddef.h>
#include <sys/types.h>

enum discover_kind {
	DISCOVER_JUPYTER,	/* a Jupyter Server / Notebook, from its runtime file */
	DISCOVER_HUB,		/* a JupyterHub single-user server */
	DISCOVER_COLAB,		/* the Jupyter server inside a Colab VM */
};

/* Every input of discovery. */
struct discover_env {
	const char *proc_root;	/* "/proc" */
	pid_t self_pid;		/* getpid() */
	const char *(*getenv)(const char *name);	/* getenv, or a fake */
	/*
	 * The runtime directory to search, or NULL for the usual places: the
	 * directory of our kernel's connection file (the server writes both
	 * there), then jupyter_core's rule: $JUPYTER_RUNTIME_DIR, else
	 * $JUPYTER_DATA_DIR/runtime, else $XDG_DATA_HOME/jupyter/runtime, else
	 * $HOME/.local/share/jupyter/runtime. (jupyter_core 4.x and 5.x no
	 * longer use $XDG_RUNTIME_DIR.) When set, only this directory is read.
	 */
	const char *runtime_dir;
	int (*pid_alive)(pid_t);	/* kill(pid, 0) == 0 || errno == EPERM, or a fake */
};

struct discovered {
	enum discover_kind kind;
	char *url;		/* server base URL ending in '/', e.g. http://127.0.0.1:8888/
				 * or http://127.0.0.1:PORT/user/alice/ */
	char *token;		/* secret; NULL when the server wants none (Colab) */
	char *kernel_id;	/* our own kernel, NULL when not inside a kernel */
	pid_t kernel_pid;	/* 0 when unknown */
	/* DISCOVER_HUB only, each NULL when its variable is unset */
	char *hub_api_url;	/* JUPYTERHUB_API_URL */
	char *hub_user;		/* JUPYTERHUB_USER */
	char *hub_server_name;	/* JUPYTERHUB_SERVER_NAME ("" for the default server) */
	char *hub_activity_url;	/* JUPYTERHUB_ACTIVITY_URL */
	/* One line saying what was found and where, for the log, e.g.
	 * "server http://127.0.0.1:8888/ from /run/x/jpserver-123.json (pid 123,
	 * parent of the kernel); kernel 0a1b… (pid 456)". No secrets. */
	char *how;
};

/* Fill *e for the real system: "/proc", getpid(), getenv, kill(pid, 0). */
void discover_env_default(struct discover_env *e);

/*
 * Find the kernel we run under. Walks the parent chain from e->self_pid
 * (reading PROC/<pid>/stat for the parent pid, parsed after the last ')'
 * since the command name may hold spaces and parentheses) and returns the
 * first ancestor whose PROC/<pid>/cmdline has an argument naming a
 * connection file "[DIR/]kernel-<id>.json" (also "--f=…" forms). Stops at
 * pid 1 or after 64 hops.
 *
 * Returns 0 with *kernel_id (malloc'd, caller frees) and *kernel_pid set, or
 * -1 when no ancestor is a kernel (outputs untouched).
 */
int discover_own_kernel(const struct discover_env *e, char **kernel_id, pid_t *kernel_pid);

/*
 * Find the server. kernel_id and kernel_pid are what discover_own_kernel
 * found (NULL and 0 when not inside a kernel); they are copied into *out and
 * used to pick our server among several. Tried in this order:
 *
 * 1. JupyterHub, when JUPYTERHUB_API_TOKEN and JUPYTERHUB_SERVICE_PREFIX are
 *    set. The token is JUPYTERHUB_API_TOKEN (the runtime file holds an empty
 *    one under the hub). The URL is that of the runtime file that is ours
 *    (see 2), else JUPYTERHUB_SERVICE_URL, else the only live runtime file.
 *    The hub fields come from JUPYTERHUB_API_URL, _USER, _SERVER_NAME and
 *    _ACTIVITY_URL.
 * 2. Runtime files jpserver-<pid>.json and nbserver-<pid>.json. Files whose
 *    pid is dead are skipped, and so are servers on a UNIX socket. Ours is the
 *    one whose pid is the kernel process's parent, else JPY_PARENT_PID, else
 *    one of our own ancestors (a JupyterLab terminal). If none is ours and
 *    exactly one is alive, that one is used; several is an error that lists
 *    them. The file's "url" is the base URL (it includes base_url); without
 *    it the URL is built from secure, hostname, port and base_url. A server
 *    listening on every address (hostname 0.0.0.0 or ::) is reached at
 *    127.0.0.1, not at the machine name it advertises.
 * 3. Colab, when COLAB_JUPYTER_IP is set: http://IP:PORT/ with PORT from
 *    KMP_TARGET_PORT, else 9000; token from COLAB_JUPYTER_TOKEN when not
 *    empty, else none.
 *
 * Every URL returned ends in '/' and carries no query string.
 *
 * Returns 0 and fills *out (which need not be initialised), or -1 with *out
 * zeroed and a multi-line explanation in err (always NUL-terminated when
 * errlen > 0): each source tried and why it failed, then how to configure
 * a target by hand. The explanation contains no token.
 */
int discover_server(const struct discover_env *e, const char *kernel_id, pid_t kernel_pid,
		    struct discovered *out, char *err, size_t errlen);

/*
 * discover_own_kernel, then discover_server. Not being inside a kernel is no
 * error here (kernel_id is NULL); the caller decides. Returns as
 * discover_server.
 */
int discover_all(const struct discover_env *e, struct discovered *out, char *err, size_t errlen);

/*
 * --url for a local server without a token: the token of the live runtime
 * file (see discover_server, 2) whose URL names the same server (localhost
 * and 127.0.0.1 alike). Returns 0 with *token and *path (the file) malloc'd,
 * or -1 when no such file has a token.
 */
int discover_token_for_url(const struct discover_env *e, const char *url, char **token,
			   char **path);

/* 1 if some ancestor is a Jupyter kernel (the agent then detaches by default), else 0. */
int discover_in_kernel(const struct discover_env *e);

/* Free every string and zero *d. Accepts NULL and a zeroed struct. */
void discovered_free(struct discovered *d);

#endif
