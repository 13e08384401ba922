/*
 * watch: stop conditions as lws timers and an adopted pidfd.
 * See watch.h for the contract.
 */
#include <errno.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "log.h"
#include "proc.h"
#include "timer.h"
#include "watch.h"

#ifndef SYS_pidfd_open
#define SYS_pidfd_open 434	/* the same number on every architecture */
#endif

/* A freshness check this close to its deadline counts as due (timer jitter). */
#define FRESH_SLACK_MS 5

struct watch {
	struct lws_context *ctx;
	watch_fired_fn fired;
	watch_warning_fn warning;
	void *ud;
	int has_fired;

	/* watch_pid */
	pid_t pid;			/* 0 = none */
	struct lws *pid_wsi;		/* the adopted pidfd; lws owns the fd */
	lws_sorted_usec_list_t sul_pid;	/* fallback when there is no pidfd */

	/* watch_fresh */
	char *path;			/* NULL = none */
	long window_ms;
	int64_t fresh_start_ms;		/* wall clock at watch_fresh() */
	lws_sorted_usec_list_t sul_fresh;

	/* watch_for */
	long for_ms;			/* 0 = none */
	long warn_ms;
	lws_sorted_usec_list_t sul_for;
	lws_sorted_usec_list_t sul_warn;

	/* watch_set_linger */
	long linger_ms;			/* 0 = fire at once */
	watch_lingering_fn lingering;
	char *linger_reason;		/* non-NULL while lingering */
	double linger_until;		/* wall clock, epoch seconds */
	lws_sorted_usec_list_t sul_linger;
};

static void sul_cancel(struct watch *w, lws_sorted_usec_list_t *sul)
{
	timer_cancel(w->ctx, sul);
}

static void sul_in_ms(struct watch *w, lws_sorted_usec_list_t *sul, sul_cb_t cb, int64_t ms)
{
	timer_in_ms(w->ctx, sul, cb, ms);
}

static int64_t wall_ms(void)
{
	return (int64_t)(timer_wall_s() * 1000);
}

/* Trigger once; may free w (the owner's callback can call watch_free). */
static void fire(struct watch *w, const char *reason)
{
	if (w->has_fired)
		return;
	w->has_fired = 1;
	sul_cancel(w, &w->sul_pid);
	sul_cancel(w, &w->sul_fresh);
	sul_cancel(w, &w->sul_for);
	sul_cancel(w, &w->sul_warn);
	sul_cancel(w, &w->sul_linger);
	w->fired(w->ud, reason);	/* last: w may be gone afterwards */
}

static void linger_cb(lws_sorted_usec_list_t *sul)
{
	struct watch *w = lws_container_of(sul, struct watch, sul_linger);
	char reason[400], d[32];

	snprintf(reason, sizeof(reason), "%s after lingering %s", w->linger_reason,
		 timer_format_duration(w->linger_ms, d, sizeof(d)));
	fire(w, reason);
}

/*
 * The job's end (--while-pid, --while-fresh): fire, or linger first. The
 * other job condition is dropped: the job has ended once, and a second
 * trigger must not cut the lingering short. --for stays armed as the cap.
 */
static void job_ended(struct watch *w, const char *reason)
{
	if (w->has_fired || w->linger_reason)
		return;
	if (w->linger_ms <= 0 || !(w->linger_reason = strdup(reason))) {
		fire(w, reason);
		return;
	}
	sul_cancel(w, &w->sul_pid);
	sul_cancel(w, &w->sul_fresh);
	w->linger_until = timer_wall_s() + (double)w->linger_ms / 1000;
	sul_in_ms(w, &w->sul_linger, linger_cb, w->linger_ms);
	if (w->lingering)
		w->lingering(w->ud, reason, w->linger_until);
}

char *watch_linger_message(const char *reason, long ms, double until, char *out, size_t outlen)
{
	char d[32], at[16];
	time_t t = (time_t)until;
	struct tm tm;

	if (!gmtime_r(&t, &tm) || !strftime(at, sizeof(at), "%H:%M:%S", &tm))
		snprintf(at, sizeof(at), "?");
	snprintf(out, outlen, "job ended: %s; keeping the session for %s more, until %s UTC",
		 reason, timer_format_duration(ms, d, sizeof(d)), at);
	return out;
}

static void pid_exited(struct watch *w)
{
	char reason[64];

	snprintf(reason, sizeof(reason), "watched process %d exited", (int)w->pid);
	job_ended(w, reason);
}

static void pid_poll_cb(lws_sorted_usec_list_t *sul)
{
	struct watch *w = lws_container_of(sul, struct watch, sul_pid);

	if (proc_pid_gone(w->pid)) {
		pid_exited(w);
		return;
	}
	sul_in_ms(w, &w->sul_pid, pid_poll_cb, WATCH_PID_POLL_MS);
}

/* Forget the pidfd's wsi so that its close callback leaves w alone. */
static void pid_wsi_detach(struct watch *w)
{
	if (!w->pid_wsi)
		return;
	lws_set_opaque_user_data(w->pid_wsi, NULL);
	w->pid_wsi = NULL;
}

static int watch_callback(struct lws *wsi, enum lws_callback_reasons reason, void *user,
			  void *in, size_t len)
{
	struct watch *w;

	(void)user;
	(void)in;
	(void)len;
	/* Only touch wsi fields for per-connection reasons: protocol-wide ones come with a stub wsi. */
	switch (reason) {
	case LWS_CALLBACK_RAW_RX_FILE:
		/*
		 * A pidfd polls readable once the process has terminated. Close
		 * it (return -1) or the level-triggered poll would spin. Detach
		 * first: fired() may free w.
		 */
		w = lws_get_opaque_user_data(wsi);
		if (w) {
			pid_wsi_detach(w);
			pid_exited(w);
		}
		return -1;
	case LWS_CALLBACK_RAW_CLOSE_FILE:
		/*
		 * lws closed the pidfd on its own, e.g. on POLLHUP without
		 * POLLIN (newer kernels flag a reaped process with POLLHUP).
		 */
		w = lws_get_opaque_user_data(wsi);
		if (!w)
			return 0;
		pid_wsi_detach(w);
		if (proc_pid_gone(w->pid))
			pid_exited(w);
		else if (!w->has_fired)
			sul_in_ms(w, &w->sul_pid, pid_poll_cb, WATCH_PID_POLL_MS);
		return 0;
	default:
		return 0;
	}
}

const struct lws_protocols watch_protocol = {
	.name = "agent-watch",
	.callback = watch_callback,
};

struct watch *watch_new(struct lws_context *ctx, watch_fired_fn fired, void *ud)
{
	struct watch *w = calloc(1, sizeof(*w));

	if (!w)
		return NULL;
	w->ctx = ctx;
	w->fired = fired;
	w->ud = ud;
	return w;
}

void watch_set_warning(struct watch *w, watch_warning_fn warning)
{
	w->warning = warning;
}

void watch_set_linger(struct watch *w, long ms, watch_lingering_fn lingering)
{
	w->linger_ms = ms > 0 ? ms : 0;
	w->lingering = lingering;
}

int watch_has_fired(const struct watch *w)
{
	return w->has_fired;
}

int watch_lingering(const struct watch *w, double *until, const char **reason)
{
	if (!w || !w->linger_reason || w->has_fired)
		return 0;
	*until = w->linger_until;
	*reason = w->linger_reason;
	return 1;
}

int watch_pid(struct watch *w, pid_t pid, char *err, size_t errlen)
{
	struct lws_vhost *vh;
	lws_sock_file_fd_type u;
	int fd;

	if (w->pid) {
		snprintf(err, errlen, "already watching process %d", (int)w->pid);
		return -1;
	}
	if (pid <= 0 || proc_pid_gone(pid)) {
		snprintf(err, errlen, "process %d is not running", (int)pid);
		return -1;
	}
	w->pid = pid;

	fd = (int)syscall(SYS_pidfd_open, pid, 0);
	if (fd < 0 && errno == ESRCH) {
		w->pid = 0;
		snprintf(err, errlen, "process %d is not running", (int)pid);
		return -1;
	}
	if (fd < 0) {
		log_debug(NULL, "pidfd_open(%d): %s; checking the process every %d ms",
			  (int)pid, strerror(errno), WATCH_PID_POLL_MS);
		goto poll;
	}
	vh = lws_get_vhost_by_name(w->ctx, "default");
	if (!vh) {
		close(fd);
		log_debug(NULL, "no \"default\" vhost to adopt a pidfd on; checking process %d every %d ms",
			  (int)pid, WATCH_PID_POLL_MS);
		goto poll;
	}
	u.filefd = fd;
	/* On failure lws has already closed fd. */
	w->pid_wsi = lws_adopt_descriptor_vhost(vh, LWS_ADOPT_RAW_FILE_DESC, u,
						watch_protocol.name, NULL);
	if (w->pid_wsi) {
		lws_set_opaque_user_data(w->pid_wsi, w);
		return 0;
	}
	log_debug(NULL, "could not adopt the pidfd of process %d; checking it every %d ms",
		  (int)pid, WATCH_PID_POLL_MS);
poll:
	/* pid reuse within one interval would go unnoticed; only a fallback. */
	sul_in_ms(w, &w->sul_pid, pid_poll_cb, WATCH_PID_POLL_MS);
	return 0;
}

static void fresh_cb(lws_sorted_usec_list_t *sul);

/* Arm the freshness timer for mtime, or fire if the file is already stale. */
static void fresh_arm(struct watch *w, const struct stat *st)
{
	int64_t mtime_ms = (int64_t)st->st_mtim.tv_sec * 1000 + st->st_mtim.tv_nsec / 1000000;
	int64_t base = mtime_ms > w->fresh_start_ms ? mtime_ms : w->fresh_start_ms;
	int64_t left = base + w->window_ms - wall_ms();

	if (left <= FRESH_SLACK_MS) {
		char reason[300], d[32];

		snprintf(reason, sizeof(reason), "%s not modified for %s", w->path,
			 timer_format_duration(w->window_ms, d, sizeof(d)));
		job_ended(w, reason);
		return;
	}
	sul_in_ms(w, &w->sul_fresh, fresh_cb, left);
}

static void fresh_cb(lws_sorted_usec_list_t *sul)
{
	struct watch *w = lws_container_of(sul, struct watch, sul_fresh);
	struct stat st;

	if (stat(w->path, &st) < 0) {
		char reason[300];

		if (errno == ENOENT || errno == ENOTDIR)
			snprintf(reason, sizeof(reason), "%s disappeared", w->path);
		else
			snprintf(reason, sizeof(reason), "%s: %s", w->path, strerror(errno));
		job_ended(w, reason);
		return;
	}
	fresh_arm(w, &st);
}

int watch_fresh(struct watch *w, const char *path, long window_ms, char *err, size_t errlen)
{
	struct stat st;

	if (w->path) {
		snprintf(err, errlen, "already watching %s", w->path);
		return -1;
	}
	if (window_ms <= 0) {
		snprintf(err, errlen, "the freshness window must be positive");
		return -1;
	}
	if (stat(path, &st) < 0) {
		snprintf(err, errlen, "cannot watch %s: %s", path, strerror(errno));
		return -1;
	}
	w->path = strdup(path);
	if (!w->path) {
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	w->window_ms = window_ms;
	w->fresh_start_ms = wall_ms();
	/* The window starts now at the earliest; fresh_cb() moves it on if the file changes. */
	sul_in_ms(w, &w->sul_fresh, fresh_cb, window_ms);
	return 0;
}

static void for_cb(lws_sorted_usec_list_t *sul)
{
	struct watch *w = lws_container_of(sul, struct watch, sul_for);
	char reason[64], d[32];

	snprintf(reason, sizeof(reason), "--for %s elapsed",
		 timer_format_duration(w->for_ms, d, sizeof(d)));
	fire(w, reason);
}

static void warn_cb(lws_sorted_usec_list_t *sul)
{
	struct watch *w = lws_container_of(sul, struct watch, sul_warn);
	char msg[96], left[32], total[32];

	if (!w->warning || w->has_fired)
		return;
	snprintf(msg, sizeof(msg), "stopping in %s (--for %s)",
		 timer_format_duration(w->warn_ms, left, sizeof(left)),
		 timer_format_duration(w->for_ms, total, sizeof(total)));
	w->warning(w->ud, msg);
}

int watch_for(struct watch *w, long ms, long warn_before_ms)
{
	if (ms <= 0 || w->for_ms)
		return -1;
	w->for_ms = ms;
	sul_in_ms(w, &w->sul_for, for_cb, ms);
	if (warn_before_ms > 0 && ms > warn_before_ms) {
		w->warn_ms = warn_before_ms;
		sul_in_ms(w, &w->sul_warn, warn_cb, ms - warn_before_ms);
	}
	return 0;
}

void watch_free(struct watch *w)
{
	if (!w)
		return;
	sul_cancel(w, &w->sul_pid);
	sul_cancel(w, &w->sul_fresh);
	sul_cancel(w, &w->sul_for);
	sul_cancel(w, &w->sul_warn);
	sul_cancel(w, &w->sul_linger);
	if (w->pid_wsi) {
		struct lws *wsi = w->pid_wsi;

		pid_wsi_detach(w);
		/* Closes the pidfd now; it is never the wsi being serviced (see RAW_RX_FILE). */
		lws_set_timeout(wsi, PENDING_TIMEOUT_USER_OK, LWS_TO_KILL_SYNC);
	}
	free(w->path);
	free(w->linger_reason);
	free(w);
}
