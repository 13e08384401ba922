/*
 * daemon: detaching, state files, --status and --stop.
 * See daemon.h for the contract and for why the agent detaches.
 *
 * The state file's JSON field names are known here and nowhere else: the
 * status model (status.h) is turned into JSON by daemon_state_json() and
 * read back by daemon_state_parse(), which --status and --stop use.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <pwd.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>

#include "daemon.h"
#include "log.h"
#include "proc.h"

#define STATE_PREFIX "agent-"
#define STATE_SUFFIX ".json"
#define STOP_POLL_MS 50

static pid_t detached_child;
static int launch_fd = -1;	/* child: the write end; parent: the read end */

/* ---- state directory ---- */

/* mkdir -p with mode 0700 for every directory it creates. */
static int mkdir_p(char *path)
{
	for (char *p = path + 1; *p; p++) {
		if (*p != '/')
			continue;
		*p = '\0';
		int r = mkdir(path, 0700);
		int e = errno;
		*p = '/';
		if (r < 0 && e != EEXIST) {
			errno = e;
			return -1;
		}
	}
	if (mkdir(path, 0700) < 0 && errno != EEXIST)
		return -1;
	return 0;
}

int daemon_state_dir(char *out, size_t outlen)
{
	const char *env = getenv("AGENT_STATE_DIR");
	const char *xdg = getenv("XDG_RUNTIME_DIR");
	struct stat st;
	int n;

	if (env && *env) {
		n = snprintf(out, outlen, "%s", env);
	} else if (xdg && xdg[0] == '/') {
		n = snprintf(out, outlen, "%s/jupyter-keepalive", xdg);
	} else {
		const char *home = getenv("HOME");
		if (!home || !*home) {
			struct passwd *pw = getpwuid(geteuid());
			home = pw ? pw->pw_dir : NULL;
		}
		if (!home || !*home) {
			log_error(NULL, "no state directory: HOME is not set (set AGENT_STATE_DIR)");
			return -1;
		}
		n = snprintf(out, outlen, "%s/.local/state/jupyter-keepalive", home);
	}
	if (n < 0 || (size_t)n >= outlen) {
		log_error(NULL, "state directory path is too long");
		return -1;
	}
	while (n > 1 && out[n - 1] == '/')
		out[--n] = '\0';

	if (mkdir_p(out) < 0) {
		log_error(NULL, "cannot create state directory %s: %s", out, strerror(errno));
		return -1;
	}
	/* lstat: a symlink planted in a shared place must not redirect our state files. */
	if (lstat(out, &st) < 0) {
		log_error(NULL, "state directory %s: %s", out, strerror(errno));
		return -1;
	}
	if (!S_ISDIR(st.st_mode)) {
		log_error(NULL, "state directory %s is not a directory", out);
		return -1;
	}
	if (st.st_uid != geteuid()) {
		log_error(NULL, "state directory %s is owned by uid %d, not by us (uid %d)",
			  out, (int)st.st_uid, (int)geteuid());
		return -1;
	}
	/* Logs and state name URLs and kernels: keep them to ourselves. */
	if ((st.st_mode & 077) && chmod(out, 0700) < 0) {
		log_error(NULL, "cannot chmod 0700 %s: %s", out, strerror(errno));
		return -1;
	}
	return 0;
}

/* ---- detaching ---- */

/* open(), moved to a descriptor above stderr so that dup2() onto 0-2 cannot clobber it. */
static int open_high(const char *path, int flags, mode_t mode)
{
	int fd = open(path, flags | O_CLOEXEC, mode);

	if (fd < 0 || fd > 2)
		return fd;
	int high = fcntl(fd, F_DUPFD_CLOEXEC, 3);
	int e = errno;
	close(fd);
	errno = e;
	return high;
}

/* What the child reports on the pipe: err 0 = detached, else errno and a message. */
struct detach_report {
	int err;
	char msg[200];
};

/* The child's half of daemon_detach(). Returns 0, or -1 with *r filled in. */
static int detach_child(const char *log_path, const sigset_t *oldmask, struct detach_report *r)
{
	struct sigaction ign, hup, intr;
	int nul, logfd;

	/*
	 * A new session and process group: the kernel's SIGINT on "interrupt"
	 * goes to its group, and a hangup of the cell's terminal to the
	 * terminal's session. We are in neither any more, and have no
	 * controlling terminal (open() below uses O_NOCTTY).
	 */
	if (setsid() < 0) {
		r->err = errno;
		snprintf(r->msg, sizeof(r->msg), "setsid: %s", strerror(errno));
		return -1;
	}
	/*
	 * SIGHUP and SIGINT were blocked across fork(); one that arrived in
	 * between was meant for the old group. Setting SIG_IGN discards a
	 * pending signal (POSIX); then restore the caller's handling.
	 */
	memset(&ign, 0, sizeof(ign));
	ign.sa_handler = SIG_IGN;
	sigemptyset(&ign.sa_mask);
	sigaction(SIGHUP, &ign, &hup);
	sigaction(SIGINT, &ign, &intr);
	sigaction(SIGHUP, &hup, NULL);
	sigaction(SIGINT, &intr, NULL);
	sigprocmask(SIG_SETMASK, oldmask, NULL);

	/*
	 * The cell waits until every holder of its output pipe or pty has
	 * closed it: replace stdin, stdout and stderr, which are the kernel's.
	 */
	nul = open_high("/dev/null", O_RDONLY | O_NOCTTY, 0);
	if (nul < 0) {
		r->err = errno;
		snprintf(r->msg, sizeof(r->msg), "/dev/null: %s", strerror(errno));
		return -1;
	}
	logfd = open_high(log_path, O_WRONLY | O_CREAT | O_APPEND | O_NOCTTY, 0600);
	if (logfd < 0) {
		r->err = errno;
		snprintf(r->msg, sizeof(r->msg), "cannot open log %s: %s", log_path, strerror(errno));
		close(nul);
		return -1;
	}
	if (dup2(nul, 0) < 0 || dup2(logfd, 1) < 0 || dup2(logfd, 2) < 0) {
		r->err = errno;
		snprintf(r->msg, sizeof(r->msg), "dup2: %s", strerror(errno));
		close(nul);
		close(logfd);
		return -1;
	}
	close(nul);
	close(logfd);
	return 0;
}

int daemon_detach(const char *log_path)
{
	struct detach_report r;
	sigset_t block, old;
	int pfd[2], launch[2];
	pid_t pid;
	ssize_t n;

	if (!log_path)
		log_path = "/dev/null";
	/* Buffered output would otherwise be written twice, once by each process. */
	fflush(stdout);
	fflush(stderr);

	/* The child reports on this pipe once it is detached, or why it could not. */
	if (pipe2(pfd, O_CLOEXEC) < 0) {
		log_error(NULL, "cannot detach: pipe: %s", strerror(errno));
		return -1;
	}
	/* And on this one, later, how its first round went (daemon_launch_report). */
	if (pipe2(launch, O_CLOEXEC) < 0) {
		log_error(NULL, "cannot detach: pipe: %s", strerror(errno));
		close(pfd[0]);
		close(pfd[1]);
		return -1;
	}
	sigemptyset(&block);
	sigaddset(&block, SIGHUP);
	sigaddset(&block, SIGINT);
	sigprocmask(SIG_BLOCK, &block, &old);

	pid = fork();
	if (pid < 0) {
		int e = errno;
		sigprocmask(SIG_SETMASK, &old, NULL);
		close(pfd[0]);
		close(pfd[1]);
		close(launch[0]);
		close(launch[1]);
		log_error(NULL, "cannot detach: fork: %s", strerror(e));
		errno = e;
		return -1;
	}
	if (pid == 0) {
		int failed;

		close(pfd[0]);
		close(launch[0]);
		launch_fd = launch[1];
		memset(&r, 0, sizeof(r));
		failed = detach_child(log_path, &old, &r) < 0;
		/* Nothing useful to do if the parent is gone. */
		if (write(pfd[1], &r, sizeof(r)) < 0)
			(void)0;
		close(pfd[1]);
		if (failed)
			_exit(1);
		return 0;
	}

	close(pfd[1]);
	close(launch[1]);
	launch_fd = launch[0];
	do {
		n = read(pfd[0], &r, sizeof(r));
	} while (n < 0 && errno == EINTR);
	close(pfd[0]);
	sigprocmask(SIG_SETMASK, &old, NULL);

	/* A pipe write of this size is atomic: all of it or nothing. */
	if (n == (ssize_t)sizeof(r) && r.err == 0) {
		detached_child = pid;
		return 1;
	}
	waitpid(pid, NULL, 0);
	close(launch_fd);
	launch_fd = -1;
	if (n != (ssize_t)sizeof(r)) {
		r.err = ECHILD;
		snprintf(r.msg, sizeof(r.msg), "the child process died");
	}
	r.msg[sizeof(r.msg) - 1] = '\0';
	log_error(NULL, "cannot detach: %s", r.msg);
	errno = r.err;
	return -1;
}

pid_t daemon_child_pid(void)
{
	return detached_child;
}

/* A code and a sentence, in one write: atomic on a pipe (PIPE_BUF). */
struct launch_report {
	int code;
	char msg[400];
};

void daemon_launch_report(int code, const char *msg)
{
	struct launch_report r = { .code = code };

	if (launch_fd < 0 || detached_child)
		return;		/* not a detached child, or said already */
	snprintf(r.msg, sizeof(r.msg), "%s", msg ? msg : "");
	if (write(launch_fd, &r, sizeof(r)) < 0)
		(void)0;	/* the cell has gone: nothing to tell */
	close(launch_fd);
	launch_fd = -1;
}

int daemon_launch_wait(int timeout_ms, char *msg, size_t msglen)
{
	struct launch_report r;
	struct pollfd p = { .fd = launch_fd, .events = POLLIN };
	ssize_t n = 0;
	int rc;

	if (launch_fd < 0 || !detached_child)
		return -1;
	do {
		rc = poll(&p, 1, timeout_ms);
	} while (rc < 0 && errno == EINTR);
	if (rc == 1)
		n = read(launch_fd, &r, sizeof(r));
	close(launch_fd);
	launch_fd = -1;
	if (rc == 0)
		return -1;			/* still working on it */
	if (n != (ssize_t)sizeof(r)) {	/* closed without a word: it died */
		snprintf(msg, msglen, "the agent exited before its first round; see its log");
		return 1;
	}
	r.msg[sizeof(r.msg) - 1] = '\0';
	snprintf(msg, msglen, "%s", r.msg);
	return r.code;
}

/* ---- state files ---- */

static int state_path(char *out, size_t outlen, const char *dir, pid_t pid)
{
	int n = snprintf(out, outlen, "%s/" STATE_PREFIX "%d" STATE_SUFFIX, dir, (int)pid);

	return n < 0 || (size_t)n >= outlen ? -1 : 0;
}

/*
 * readlink /proc/<pid>/exe without the " (deleted)" the kernel appends when
 * the binary was replaced, e.g. rebuilt while the agent runs.
 */
static int exe_of(pid_t pid, char *out, size_t outlen)
{
	static const char deleted[] = " (deleted)";
	char link[64];
	ssize_t n;

	snprintf(link, sizeof(link), "/proc/%d/exe", (int)pid);
	n = readlink(link, out, outlen - 1);
	if (n < 0)
		return -1;
	out[n] = '\0';
	size_t dl = sizeof(deleted) - 1;
	if ((size_t)n > dl && strcmp(out + n - dl, deleted) == 0)
		out[n - dl] = '\0';
	return 0;
}

static int write_all(int fd, const char *p, size_t n)
{
	while (n > 0) {
		ssize_t w = write(fd, p, n);

		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			return -1;
		p += w;
		n -= (size_t)w;
	}
	return 0;
}

int daemon_state_write(const char *dir, pid_t pid, json_t *state)
{
	char path[PATH_MAX], tmp[PATH_MAX], exe[PATH_MAX];
	json_t *doc = state, *copy = NULL;
	char *text = NULL;
	size_t len;
	int fd = -1, ret = -1;

	if (state_path(path, sizeof(path), dir, pid) < 0 ||
	    snprintf(tmp, sizeof(tmp), "%s/." STATE_PREFIX "%d" STATE_SUFFIX ".tmp",
		     dir, (int)pid) >= (int)sizeof(tmp)) {
		log_warn(NULL, "state file path too long in %s", dir);
		return -1;
	}
	/* --stop compares this with /proc/<pid>/exe before signalling (pid reuse). */
	if (!json_object_get(state, "exe") && exe_of(pid, exe, sizeof(exe)) == 0) {
		copy = json_copy(state);
		if (!copy || json_object_set_new(copy, "exe", json_string(exe)) < 0) {
			log_warn(NULL, "state file %s: cannot record exe %s", path, exe);
		} else {
			doc = copy;
		}
	}

	fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0600);
	if (fd < 0) {
		log_warn(NULL, "cannot write state file %s: %s", tmp, strerror(errno));
		goto out;
	}
	/* O_TRUNC keeps the mode of a leftover file: make sure it is private. */
	/* One write: json_dumpfd() writes token by token (hundreds of calls). */
	errno = 0;
	text = json_dumps(doc, JSON_INDENT(2));
	len = text ? strlen(text) : 0;
	if (fchmod(fd, 0600) < 0 || !text || write_all(fd, text, len) < 0 ||
	    write_all(fd, "\n", 1) < 0) {
		log_warn(NULL, "cannot write state file %s: %s", tmp,
			 errno ? strerror(errno) : "JSON encoding failed");
		goto out;
	}
	if (close(fd) < 0) {
		fd = -1;
		log_warn(NULL, "cannot write state file %s: %s", tmp, strerror(errno));
		goto out;
	}
	fd = -1;
	/* rename() is atomic: --status reads the old or the new file, never half of one. */
	if (rename(tmp, path) < 0) {
		log_warn(NULL, "cannot rename %s to %s: %s", tmp, path, strerror(errno));
		goto out;
	}
	ret = 0;
out:
	if (fd >= 0)
		close(fd);
	if (ret < 0)
		unlink(tmp);
	free(text);
	json_decref(copy);
	return ret;
}

void daemon_state_finish(const char *dir, pid_t pid, json_t *state, int code, const char *reason)
{
	json_object_set_new(state, "exit_reason", json_string(reason ? reason : "unknown"));
	json_object_set_new(state, "exit_code", json_integer(code));
	json_object_set_new(state, "exited", json_integer((json_int_t)time(NULL)));
	daemon_state_write(dir, pid, state);
}

json_t *daemon_state_read(const char *dir, pid_t pid)
{
	char path[PATH_MAX];
	json_t *j;

	if (state_path(path, sizeof(path), dir, pid) < 0)
		return NULL;
	j = json_load_file(path, 0, NULL);
	if (j && !json_is_object(j)) {
		json_decref(j);
		return NULL;
	}
	return j;
}

void daemon_state_remove(const char *dir, pid_t pid)
{
	char path[PATH_MAX];

	if (state_path(path, sizeof(path), dir, pid) == 0)
		unlink(path);
}

/* ---- the status model as JSON ---- */

static json_t *time_or_null(double t)
{
	return t > 0 ? json_real(t) : json_null();
}

static json_t *age_or_null(long age)
{
	return age < 0 ? json_null() : json_integer(age);
}

static json_t *text_or_null(const char *s)
{
	return s[0] ? json_string(s) : json_null();
}

static json_t *culler_json(const struct culler_status *c)
{
	if (!c->known)
		return json_null();
	return json_pack("{s:o, s:o, s:o, s:o}",
			 "kernel_activity_age_s", age_or_null(c->kernel_age_s),
			 "server_activity_age_s", age_or_null(c->server_age_s),
			 "hub_activity_age_s", age_or_null(c->hub_age_s),
			 "warning", text_or_null(c->warning));
}

json_t *daemon_target_json(const struct target_status *t)
{
	json_t *o, *ks = json_array();
	char first[9] = "";

	for (size_t i = 0; i < t->nkernels; i++) {
		const struct kernel_status *k = &t->kernels[i];
		char sh[9];

		/* Kernel ids are UUIDs; 8 characters tell them apart in logs and --status. */
		snprintf(sh, sizeof(sh), "%.8s", k->id);
		if (!i)
			snprintf(first, sizeof(first), "%s", sh);
		json_array_append_new(ks, json_pack("{s:s, s:s, s:s, s:s, s:o, s:o, s:i}",
			"id", k->id, "short", sh, "state", k->state,
			"execution_state", k->execution_state,
			"busy_since", time_or_null(k->busy_since),
			"last_ack", time_or_null(k->last_ack), "rtt_ms", (int)k->rtt_ms));
	}
	o = json_pack("{s:s, s:s, s:s, s:s, s:o, s:o, s:s, s:o}",
		      "name", t->name, "url", t->url, "kernel", first, "mode", t->mode,
		      "kernels", ks,
		      "last_keepalive", time_or_null(t->last_keepalive),
		      "last_result", t->last_result,
		      "next_keepalive", time_or_null(t->next_keepalive));
	json_object_set_new(o, "culler", culler_json(&t->culler));
	json_object_set_new(o, "acks", json_integer((json_int_t)t->acks));
	if (t->record[0])
		json_object_set_new(o, "record", json_string(t->record));
	return o;
}

json_t *daemon_state_json(const struct agent_status *a)
{
	json_t *o, *targets = json_array(), *kernels = json_array();

	for (size_t i = 0; i < a->ntargets; i++) {
		const struct target_status *t = &a->targets[i];

		json_array_append_new(targets, daemon_target_json(t));
		for (size_t j = 0; j < t->nkernels; j++)
			json_array_append_new(kernels, json_string(t->kernels[j].id));
	}
	o = json_pack("{s:i, s:I, s:o, s:o, s:s, s:s, s:o, s:o}",
		      "pid", a->pid, "started", (json_int_t)a->started,
		      "kernels", kernels, "targets", targets, "log", a->log, "stop", a->stop,
		      "exit_reason", a->ended ? json_string(a->exit_reason) : json_null(),
		      "exited", a->ended && a->exited > 0 ? json_integer((json_int_t)a->exited) :
							     json_null());
	if (!o)
		return NULL;
	if (a->ended && a->exit_code >= 0)
		json_object_set_new(o, "exit_code", json_integer(a->exit_code));
	if (a->linger_until > 0)
		json_object_set_new(o, "lingering", json_pack("{s:I, s:s}",
			"until", (json_int_t)a->linger_until, "reason", a->linger_reason));
	if (a->exe[0])
		json_object_set_new(o, "exe", json_string(a->exe));
	return o;
}

static const char *jstr(json_t *o, const char *key)
{
	return json_string_value(json_object_get(o, key));
}

/* A text field into out: "" when missing or mistyped, or dflt. */
static void jtext(json_t *o, const char *key, const char *dflt, char *out, size_t outlen)
{
	const char *v = jstr(o, key);

	snprintf(out, outlen, "%s", v ? v : dflt);
}

/* A number field (epoch seconds, an age): 0 when missing or mistyped. */
static double jnum(json_t *o, const char *key)
{
	json_t *v = json_object_get(o, key);

	return json_is_number(v) ? json_number_value(v) : 0;
}

static long jage(json_t *o, const char *key)
{
	json_t *v = json_object_get(o, key);

	return json_is_integer(v) ? (long)json_integer_value(v) : -1;
}

static void kernel_parse(json_t *o, struct kernel_status *k)
{
	jtext(o, "id", "", k->id, sizeof(k->id));
	jtext(o, "state", "", k->state, sizeof(k->state));
	jtext(o, "execution_state", "", k->execution_state, sizeof(k->execution_state));
	k->busy_since = jnum(o, "busy_since");
	k->last_ack = jnum(o, "last_ack");
	k->rtt_ms = (long)jnum(o, "rtt_ms");
}

static int target_parse(json_t *o, struct target_status *t)
{
	json_t *ks = json_object_get(o, "kernels"), *k, *c = json_object_get(o, "culler");
	size_t i;

	memset(t, 0, sizeof(*t));
	jtext(o, "name", "-", t->name, sizeof(t->name));
	jtext(o, "url", "-", t->url, sizeof(t->url));
	jtext(o, "mode", "", t->mode, sizeof(t->mode));
	t->last_keepalive = jnum(o, "last_keepalive");
	jtext(o, "last_result", "", t->last_result, sizeof(t->last_result));
	t->next_keepalive = jnum(o, "next_keepalive");
	t->acks = (unsigned long)jnum(o, "acks");
	jtext(o, "record", "", t->record, sizeof(t->record));
	t->culler.kernel_age_s = t->culler.server_age_s = t->culler.hub_age_s = -1;
	if (json_is_object(c)) {
		t->culler.known = 1;
		t->culler.kernel_age_s = jage(c, "kernel_activity_age_s");
		t->culler.server_age_s = jage(c, "server_activity_age_s");
		t->culler.hub_age_s = jage(c, "hub_activity_age_s");
		jtext(c, "warning", "", t->culler.warning, sizeof(t->culler.warning));
	}
	if (!json_array_size(ks))
		return 0;
	if (!(t->kernels = calloc(json_array_size(ks), sizeof(*t->kernels))))
		return -1;
	json_array_foreach(ks, i, k)
		if (json_is_object(k))
			kernel_parse(k, &t->kernels[t->nkernels++]);
	return 0;
}

int daemon_state_parse(json_t *doc, struct agent_status *a)
{
	json_t *ts = json_object_get(doc, "targets"), *t, *why = json_object_get(doc, "exit_reason");
	json_t *linger = json_object_get(doc, "lingering");
	size_t i;

	memset(a, 0, sizeof(*a));
	a->exit_code = -1;
	if (!json_is_object(doc))
		return -1;
	a->pid = json_is_integer(json_object_get(doc, "pid")) ?
		 (int)json_integer_value(json_object_get(doc, "pid")) : 0;
	a->started = jnum(doc, "started");
	jtext(doc, "stop", "-", a->stop, sizeof(a->stop));
	jtext(doc, "log", "", a->log, sizeof(a->log));
	jtext(doc, "exe", "", a->exe, sizeof(a->exe));
	a->linger_until = jnum(linger, "until");
	jtext(linger, "reason", "-", a->linger_reason, sizeof(a->linger_reason));
	/* exit_reason is null while it runs. */
	a->ended = why && !json_is_null(why);
	jtext(doc, "exit_reason", "", a->exit_reason, sizeof(a->exit_reason));
	if (json_is_integer(json_object_get(doc, "exit_code")))
		a->exit_code = (int)json_integer_value(json_object_get(doc, "exit_code"));
	a->exited = jnum(doc, "exited");
	if (json_array_size(ts) &&
	    !(a->targets = calloc(json_array_size(ts), sizeof(*a->targets))))
		return -1;
	json_array_foreach(ts, i, t) {
		if (!json_is_object(t))
			continue;
		if (target_parse(t, &a->targets[a->ntargets++]) < 0) {
			status_agent_clear(a);
			return -1;
		}
	}
	return 0;
}

int daemon_state_store(const char *dir, const struct agent_status *a)
{
	json_t *doc = daemon_state_json(a);
	int rc;

	if (!doc) {
		log_warn(NULL, "cannot encode the state of agent %d", a->pid);
		return -1;
	}
	rc = daemon_state_write(dir, (pid_t)a->pid, doc);
	json_decref(doc);
	return rc;
}

int daemon_state_load(const char *dir, pid_t pid, struct agent_status *a)
{
	json_t *doc = daemon_state_read(dir, pid);
	int rc = daemon_state_parse(doc, a);

	json_decref(doc);
	return rc;
}

/* ---- reading every agent's state ---- */

struct agent {
	pid_t pid;
	struct agent_status st;	/* owned */
	json_t *kernels;	/* its "kernels": what --stop KERNEL matches; owned */
	int running;
	time_t mtime;		/* of the state file */
	char path[PATH_MAX];
};

struct agents {
	struct agent *v;
	size_t n;
};

/* Is this pid alive and still running the exe the agent recorded? */
static int agent_alive(pid_t pid, const struct agent_status *st)
{
	const char *want = st->exe;
	char exe[PATH_MAX];

	if (pid <= 0 || !want[0] || proc_pid_gone(pid))
		return 0;
	if (exe_of(pid, exe, sizeof(exe)) < 0)
		return 0;	/* not ours to read: not our agent */
	return strcmp(exe, want) == 0;	/* both without " (deleted)": exe_of() */
}

/* "agent-<digits>.json" -> pid, else 0 (temporary files, logs, anything else). */
static pid_t state_name_pid(const char *name)
{
	size_t pl = strlen(STATE_PREFIX), sl = strlen(STATE_SUFFIX), len = strlen(name);
	long v = 0;

	if (len <= pl + sl || strncmp(name, STATE_PREFIX, pl) != 0 ||
	    strcmp(name + len - sl, STATE_SUFFIX) != 0)
		return 0;
	for (size_t i = pl; i < len - sl; i++) {
		if (name[i] < '0' || name[i] > '9' || v > INT_MAX / 10)
			return 0;
		v = v * 10 + (name[i] - '0');
	}
	return (pid_t)v;
}

static int by_start(const void *a, const void *b)
{
	const struct agent *x = a, *y = b;
	time_t tx = (time_t)x->st.started, ty = (time_t)y->st.started;

	if (tx != ty)
		return tx < ty ? -1 : 1;
	return x->pid < y->pid ? -1 : x->pid > y->pid;
}

static void agents_free(struct agents *a)
{
	for (size_t i = 0; i < a->n; i++) {
		status_agent_clear(&a->v[i].st);
		json_decref(a->v[i].kernels);
	}
	free(a->v);
	a->v = NULL;
	a->n = 0;
}

/* Load every state file in dir, oldest agent first. Returns 0, or -1 with errno set. */
static int agents_load(const char *dir, struct agents *a)
{
	DIR *d = opendir(dir);
	struct dirent *de;
	size_t cap = 0;

	a->v = NULL;
	a->n = 0;
	if (!d)
		return -1;
	while ((de = readdir(d))) {
		pid_t pid = state_name_pid(de->d_name);
		struct agent *ag;
		struct stat st;
		json_t *doc;

		if (!pid)
			continue;
		if (a->n == cap) {
			size_t ncap = cap ? cap * 2 : 8;
			struct agent *nv = realloc(a->v, ncap * sizeof(*nv));
			if (!nv)
				break;
			a->v = nv;
			cap = ncap;
		}
		ag = &a->v[a->n];
		memset(ag, 0, sizeof(*ag));
		if (snprintf(ag->path, sizeof(ag->path), "%s/%s", dir, de->d_name) >=
		    (int)sizeof(ag->path))
			continue;
		doc = json_load_file(ag->path, 0, NULL);
		if (!json_is_object(doc) || stat(ag->path, &st) < 0 ||
		    daemon_state_parse(doc, &ag->st) < 0) {
			json_decref(doc);
			continue;	/* being replaced, or not ours */
		}
		ag->kernels = json_incref(json_object_get(doc, "kernels"));
		json_decref(doc);
		ag->pid = pid;
		ag->mtime = st.st_mtime;
		ag->running = !ag->st.ended && agent_alive(pid, &ag->st);
		a->n++;
	}
	closedir(d);
	if (a->n > 1)
		qsort(a->v, a->n, sizeof(a->v[0]), by_start);
	return 0;
}

/* Does the agent keep a kernel whose id starts with id (prefix) or is id? */
static const char *agent_kernel_match(const struct agent *ag, const char *id, int prefix)
{
	json_t *ks = ag->kernels, *k;
	size_t i, idl = strlen(id);

	json_array_foreach(ks, i, k) {
		const char *s = json_string_value(k);
		if (s && (prefix ? strncmp(s, id, idl) == 0 : strcmp(s, id) == 0))
			return s;
	}
	return NULL;
}

int daemon_find_running(const char *dir, const char *kernel_id, pid_t *pid)
{
	struct agents a;
	int found = 0;

	if (agents_load(dir, &a) < 0)
		return 0;
	for (size_t i = 0; i < a.n && !found; i++) {
		if (a.v[i].running && agent_kernel_match(&a.v[i], kernel_id, 0)) {
			found = 1;
			if (pid)
				*pid = a.v[i].pid;
		}
	}
	agents_free(&a);
	return found;
}

/* ---- --status ---- */

/* Copy for the terminal: control characters become '?', long text is cut. */
static const char *clean(const char *in, char *out, size_t outlen)
{
	size_t i = 0;

	if (!in)
		in = "-";
	for (; in[i] && i + 1 < outlen; i++)
		out[i] = ((unsigned char)in[i] < 0x20 || in[i] == 0x7f) ? '?' : in[i];
	out[i] = '\0';
	return out;
}

/* "12 s", "5 min 03 s", "2 h 05 min", "3 d 4 h" */
static const char *span(long s, char *out, size_t outlen)
{
	if (s < 0)
		s = 0;
	if (s < 60)
		snprintf(out, outlen, "%ld s", s);
	else if (s < 3600)
		snprintf(out, outlen, "%ld min %02ld s", s / 60, s % 60);
	else if (s < 86400)
		snprintf(out, outlen, "%ld h %02ld min", s / 3600, s % 3600 / 60);
	else
		snprintf(out, outlen, "%ld d %ld h", s / 86400, s % 86400 / 3600);
	return out;
}

static const char *local_time(time_t t, char *out, size_t outlen)
{
	struct tm tm;

	if (!localtime_r(&t, &tm) || !strftime(out, outlen, "%Y-%m-%d %H:%M:%S %Z", &tm))
		snprintf(out, outlen, "?");
	return out;
}

enum { COL_NAME, COL_URL, COL_KERNEL, COL_LAST, COL_NEXT, NCOLS };
#define CELL 256

static void target_row(const struct target_status *t, time_t now, char row[NCOLS][CELL])
{
	const char *result = t->last_result;
	char buf[CELL], ago[32];
	time_t when;

	clean(t->name, row[COL_NAME], CELL);
	clean(t->url, row[COL_URL], CELL);
	/* Kernel ids are UUIDs; 8 characters are enough to tell them apart here. */
	snprintf(buf, sizeof(buf), "%.8s", t->nkernels ? t->kernels[0].id : "");
	clean(buf, row[COL_KERNEL], CELL);

	/* While a cell runs nothing is sent, and that is the safe state: say so
	 * rather than "never". */
	if (!strncmp(result, "busy:", 5))
		buf[0] = '\0';
	else if (t->last_keepalive > 0)
		snprintf(buf, sizeof(buf), "%s ago",
			 span((long)(now - (time_t)t->last_keepalive), ago, sizeof(ago)));
	else
		snprintf(buf, sizeof(buf), "never");
	if (!buf[0]) {
		snprintf(buf, sizeof(buf), "%.150s", result);
	} else if (*result) {
		size_t l = strlen(buf);
		snprintf(buf + l, sizeof(buf) - l, " (%.100s)", result);
	}
	clean(buf, row[COL_LAST], CELL);

	when = (time_t)t->next_keepalive;
	if (t->next_keepalive <= 0)
		snprintf(buf, sizeof(buf), "-");
	else if (when > now)
		snprintf(buf, sizeof(buf), "in %s", span((long)(when - now), ago, sizeof(ago)));
	else
		snprintf(buf, sizeof(buf), "due");
	clean(buf, row[COL_NEXT], CELL);
}

/* "kernel a1b2c3d4 busy for 2h13m (a busy kernel is not culled)", per busy kernel. */
static void print_busy(const struct target_status *t, time_t now, FILE *out)
{
	char name[CELL], raw[16], id[16], dur[32];

	for (size_t i = 0; i < t->nkernels; i++) {
		const struct kernel_status *k = &t->kernels[i];

		if (k->busy_since <= 0)
			continue;
		snprintf(raw, sizeof(raw), "%.8s", k->id[0] ? k->id : "?");
		fprintf(out, "  %s: kernel %s busy for %s (a busy kernel is not culled)\n",
			clean(t->name, name, sizeof(name)), clean(raw, id, sizeof(id)),
			span((long)(now - (time_t)k->busy_since), dur, sizeof(dur)));
	}
}

/*
 * "culler sees activity 3 s ago (kernel), 1 s ago (server), 2 s ago (hub)":
 * the ages were read back when the state file was written, stale_s ago.
 */
static void print_culler(const struct target_status *t, long stale_s, FILE *out)
{
	static const char *const layer[] = { "kernel", "server", "hub" };
	const struct culler_status *c = &t->culler;
	const long age[] = { c->kernel_age_s, c->server_age_s, c->hub_age_s };
	char line[CELL], name[CELL], ago[32];
	size_t n = 0;

	if (!c->known)
		return;
	if (stale_s < 0)
		stale_s = 0;
	for (size_t i = 0; i < 3; i++) {
		if (age[i] < 0 || n >= sizeof(line))
			continue;
		n += (size_t)snprintf(line + n, sizeof(line) - n, "%s%s ago (%s)", n ? ", " : "",
				      span(age[i] + stale_s, ago, sizeof(ago)), layer[i]);
	}
	if (n)
		fprintf(out, "  %s: culler sees activity %s\n", clean(t->name, name, sizeof(name)),
			line);
	if (c->warning[0])
		fprintf(out, "  %s: warning: %s\n", clean(t->name, name, sizeof(name)),
			clean(c->warning, line, sizeof(line)));
}

static void print_running(const struct agent *ag, time_t now, FILE *out)
{
	static const char *const head[NCOLS] = { "target", "url", "kernel", "last keepalive", "next" };
	const struct agent_status *st = &ag->st;
	size_t nt = st->ntargets, i;
	int width[NCOLS];
	char (*rows)[NCOLS][CELL] = nt ? calloc(nt, sizeof(*rows)) : NULL;
	char buf[CELL], when[48], ago[32];

	if (st->started > 0) {
		time_t started = (time_t)st->started;
		long up = (long)(now - started);
		if (up < 0)
			up = 0;
		fprintf(out, "agent %d: running for %ldh %02ldm %02lds (since %s)\n", (int)ag->pid,
			up / 3600, up % 3600 / 60, up % 60, local_time(started, when, sizeof(when)));
	} else {
		fprintf(out, "agent %d: running\n", (int)ag->pid);
	}

	if (nt && !rows) {
		fprintf(out, "  (out of memory listing %zu targets)\n", nt);
	} else if (nt) {
		for (int c = 0; c < NCOLS; c++)
			width[c] = (int)strlen(head[c]);
		for (i = 0; i < nt; i++) {
			target_row(&st->targets[i], now, rows[i]);
			for (int c = 0; c < NCOLS; c++)
				if ((int)strlen(rows[i][c]) > width[c])
					width[c] = (int)strlen(rows[i][c]);
		}
		fprintf(out, "  %-*s  %-*s  %-*s  %-*s  %s\n", width[0], head[0], width[1], head[1],
			width[2], head[2], width[3], head[3], head[4]);
		for (i = 0; i < nt; i++)
			fprintf(out, "  %-*s  %-*s  %-*s  %-*s  %s\n",
				width[0], rows[i][0], width[1], rows[i][1], width[2], rows[i][2],
				width[3], rows[i][3], rows[i][4]);
	} else {
		fprintf(out, "  (no targets yet)\n");
	}
	free(rows);
	for (i = 0; i < nt; i++) {
		print_culler(&st->targets[i], (long)(now - ag->mtime), out);
		print_busy(&st->targets[i], now, out);
	}
	/* --linger: the job has ended, and the agent stays a while longer. */
	if (st->linger_until > 0)
		fprintf(out, "  lingering: stops in %s (%s)\n",
			span((long)((time_t)st->linger_until - now), ago, sizeof(ago)),
			clean(st->linger_reason, buf, sizeof(buf)));
	fprintf(out, "  stops:  %s\n", clean(st->stop, buf, sizeof(buf)));
	fprintf(out, "  log:    %s\n", st->log[0] ? clean(st->log, buf, sizeof(buf)) :
		"its terminal (a foreground agent)");
	/* The output recorder's file: where a tab's lost output can be found. */
	for (i = 0; i < nt; i++)
		if (st->targets[i].record[0])
			fprintf(out, "  record: %s\n", clean(st->targets[i].record, buf, sizeof(buf)));
}

/* When did a non-running agent end? Its own record, else when it last wrote its state. */
static time_t exited_at(const struct agent *ag)
{
	return ag->st.exited > 0 ? (time_t)ag->st.exited : ag->mtime;
}

static void print_exited(const struct agent *ag, time_t now, FILE *out)
{
	const struct agent_status *st = &ag->st;
	time_t t = exited_at(ag);
	char buf[CELL], ago[32], when[48], rc[24] = "";

	if (st->exit_code >= 0)
		snprintf(rc, sizeof(rc), ", exit %d", st->exit_code);
	fprintf(out, "  agent %d: exited %s ago (%s%s): %s\n", (int)ag->pid,
		span((long)(now - t), ago, sizeof(ago)), local_time(t, when, sizeof(when)), rc,
		st->ended && st->exit_reason[0] ? clean(st->exit_reason, buf, sizeof(buf)) :
		"no reason recorded (killed, or the machine restarted?)");
}

void daemon_print_status(const char *dir, FILE *out)
{
	struct agents a;
	time_t now = time(NULL);
	size_t running = 0, exited = 0;

	if (agents_load(dir, &a) < 0) {
		if (errno == ENOENT)
			fprintf(out, "no agent is running (state dir %s)\n", dir);
		else
			fprintf(out, "cannot read state dir %s: %s\n", dir, strerror(errno));
		return;
	}
	for (size_t i = 0; i < a.n; i++) {
		struct agent *ag = &a.v[i];

		if (!ag->running) {
			if (now - exited_at(ag) > DAEMON_KEEP_EXITED_SECS) {
				unlink(ag->path);
				ag->pid = 0;	/* forgotten */
			} else {
				exited++;
			}
			continue;
		}
		if (running++)
			fputc('\n', out);
		print_running(ag, now, out);
	}
	if (!running)
		fprintf(out, "no agent is running (state dir %s)\n", dir);
	if (exited) {
		fprintf(out, "\nexited in the last %d h:\n", DAEMON_KEEP_EXITED_SECS / 3600);
		for (size_t i = 0; i < a.n; i++)
			if (!a.v[i].running && a.v[i].pid)
				print_exited(&a.v[i], now, out);
	}
	agents_free(&a);
}

/* ---- --stop ---- */

static void sleep_ms(long ms)
{
	struct timespec ts = { ms / 1000, (ms % 1000) * 1000000L };

	while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
		;
}

/* "lab, colab" from the agent's target names, for the stop report. */
static const char *target_names(const struct agent_status *st, char *out, size_t outlen)
{
	size_t used = 0;
	char buf[CELL];

	out[0] = '\0';
	for (size_t i = 0; i < st->ntargets; i++) {
		int n = snprintf(out + used, outlen - used, "%s%s", used ? ", " : "",
				 clean(st->targets[i].name, buf, sizeof(buf)));
		if (n < 0 || (size_t)n >= outlen - used)
			break;
		used += (size_t)n;
	}
	return out;
}

int daemon_stop(const char *dir, const char *kernel_id, FILE *out)
{
	struct agents a;
	const char *matched_id = NULL;
	char *signalled = NULL;
	size_t nsig = 0;
	int stopped = 0, ret = -1;
	char buf[CELL];

	if (kernel_id && strlen(kernel_id) < 4) {
		fprintf(out, "kernel id \"%s\" is too short: give at least 4 characters\n",
			clean(kernel_id, buf, sizeof(buf)));
		return -1;
	}
	if (agents_load(dir, &a) < 0) {
		if (errno == ENOENT) {
			fprintf(out, "no agent is running (state dir %s)\n", dir);
			return 0;
		}
		fprintf(out, "cannot read state dir %s: %s\n", dir, strerror(errno));
		return -1;
	}
	signalled = calloc(a.n ? a.n : 1, 1);
	if (!signalled) {
		fprintf(out, "out of memory\n");
		goto out;
	}

	/* Pick the agents first: a prefix naming two different kernels stops nothing. */
	for (size_t i = 0; i < a.n; i++) {
		const char *id;

		if (!a.v[i].running)
			continue;
		if (kernel_id) {
			id = agent_kernel_match(&a.v[i], kernel_id, 1);
			if (!id)
				continue;
			if (matched_id && strcmp(matched_id, id) != 0) {
				fprintf(out, "kernel id \"%s\" is ambiguous: it matches %s and %s\n",
					clean(kernel_id, buf, sizeof(buf)), matched_id, id);
				goto out;
			}
			matched_id = id;
		}
		signalled[i] = 1;
		nsig++;
	}
	if (!nsig) {
		if (kernel_id)
			fprintf(out, "no running agent keeps kernel %s (state dir %s)\n",
				clean(kernel_id, buf, sizeof(buf)), dir);
		else
			fprintf(out, "no agent is running (state dir %s)\n", dir);
		ret = 0;
		goto out;
	}

	for (size_t i = 0; i < a.n; i++) {
		if (!signalled[i])
			continue;
		/* Check again right before the signal: the pid must still be our agent. */
		if (!agent_alive(a.v[i].pid, &a.v[i].st)) {
			signalled[i] = 0;
			continue;
		}
		if (kill(a.v[i].pid, SIGTERM) < 0) {
			fprintf(out, "cannot signal agent %d: %s\n", (int)a.v[i].pid, strerror(errno));
			signalled[i] = 0;
		}
	}

	/* A short-lived command, not the event loop: a plain wait is fine here. */
	for (long waited = 0;; waited += STOP_POLL_MS) {
		int left = 0;

		for (size_t i = 0; i < a.n; i++)
			if (signalled[i] && !proc_pid_gone(a.v[i].pid))
				left++;
		if (!left || waited >= DAEMON_STOP_WAIT_MS)
			break;
		sleep_ms(STOP_POLL_MS);
	}

	for (size_t i = 0; i < a.n; i++) {
		char names[CELL];

		if (!signalled[i])
			continue;
		target_names(&a.v[i].st, names, sizeof(names));
		if (proc_pid_gone(a.v[i].pid)) {
			stopped++;
			fprintf(out, "stopped agent %d%s%s\n", (int)a.v[i].pid,
				*names ? " keeping " : "", names);
		} else {
			fprintf(out, "agent %d did not exit within %d s; it is still running\n",
				(int)a.v[i].pid, DAEMON_STOP_WAIT_MS / 1000);
		}
	}
	ret = stopped;
out:
	free(signalled);
	agents_free(&a);
	return ret;
}
