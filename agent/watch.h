/*
 * watch: the agent's stop conditions, driven by the lws event loop.
 *
 *   watch_pid    stop when a process exits (--while-pid: a training job, the
 *                kernel we were launched from)
 *   watch_fresh  stop when a file has not been modified for a while
 *                (--while-fresh: a training log)
 *   watch_for    stop after a fixed time (--for), with an optional early
 *                warning
 *
 * Nothing polls on a tick. A process is watched through a pidfd adopted into
 * lws (readable once the process has terminated, Linux 5.3+); only when
 * pidfd_open() is unavailable (old kernel, seccomp) does a timer check the
 * pid every WATCH_PID_POLL_MS. A file is looked at once per window: a timer
 * is set for the moment it would become stale, and re-armed if the file was
 * modified meanwhile. The time limit is one timer.
 *
 * The conditions of one watch are alternatives: the first one to trigger
 * calls fired(ud, reason) once, and the watch then stays quiet. reason is a
 * short sentence for logs, the state file and notifications, e.g.
 * "watched process 1234 exited", "train.log not modified for 10m",
 * "--for 2h elapsed"; it is valid during the callback only.
 *
 * Lingering (watch_set_linger): when the job's own end triggers, --while-pid
 * or --while-fresh, the watch can wait a while before firing, so that the
 * user finds the session still there when coming back to read the results.
 * It then calls lingering(ud, reason, until) at once, arms one more timer,
 * and fires with "<reason> after lingering <DUR>" when it runs out. The
 * --for limit is a cap, not a job's end: it fires at once, lingering or not.
 *
 * Callbacks come from the event loop, never from inside a watch_* call.
 * The owner may call watch_free() from inside fired() or warning().
 *
 * Ownership: watch_new() returns a watch owned by the caller, who frees it
 * with watch_free() *before* lws_context_destroy() (the watch cancels its
 * timers on the context).
 */
#ifndef AGENT_WATCH_H
#define AGENT_WATCH_H

#include <stddef.h>
#include <sys/types.h>
#include <libwebsockets.h>

/* Fallback check interval when pidfd_open() is not available. */
#define WATCH_PID_POLL_MS 2000

struct watch;

typedef void (*watch_fired_fn)(void *ud, const char *reason);
typedef void (*watch_warning_fn)(void *ud, const char *msg);
/* reason as for fired(); until: wall-clock epoch seconds when it will fire. */
typedef void (*watch_lingering_fn)(void *ud, const char *reason, double until);

/*
 * The lws protocol for adopted pidfds; list it in the context's protocols.
 * The pidfd is adopted on the vhost named "default", which lws creates unless
 * LWS_SERVER_OPTION_EXPLICIT_VHOSTS is set; without that vhost watch_pid()
 * falls back to the timer.
 */
extern const struct lws_protocols watch_protocol;

/* A watch with no conditions yet. NULL only when out of memory. */
struct watch *watch_new(struct lws_context *ctx, watch_fired_fn fired, void *ud);

/*
 * Called once, warn_before_ms before the watch_for() limit, with a message
 * such as "stopping in 15m (--for 2h)". May be NULL (the default).
 */
void watch_set_warning(struct watch *w, watch_warning_fn warning);

/*
 * Fire when process pid terminates. Returns 0, or -1 with a reason in err
 * when no such process exists now or a pid is already watched. A zombie
 * (terminated, not yet reaped) counts as terminated.
 */
int watch_pid(struct watch *w, pid_t pid, char *err, size_t errlen);

/*
 * Fire when path has not been modified for window_ms, or when it disappears.
 * The window counts from the later of the file's mtime and this call, so that
 * an agent started before the job's next write is not stopped at once.
 * Returns 0, or -1 with a reason in err when path cannot be stat'ed now, the
 * window is not positive, or a file is already watched.
 */
int watch_fresh(struct watch *w, const char *path, long window_ms, char *err, size_t errlen);

/*
 * Fire ms from now. When warn_before_ms > 0 and ms > warn_before_ms, also
 * call the warning callback warn_before_ms before the end. Returns 0, or -1
 * when ms is not positive or a limit is already set.
 */
int watch_for(struct watch *w, long ms, long warn_before_ms);

/*
 * Linger ms after --while-pid or --while-fresh triggers before firing (see
 * above); lingering may be NULL. ms <= 0 turns lingering off (the default).
 */
void watch_set_linger(struct watch *w, long ms, watch_lingering_fn lingering);

/* Has a condition triggered? (Not while lingering: it has not fired yet.) */
int watch_has_fired(const struct watch *w);

/*
 * Is the watch lingering? Then *until is when it fires (epoch seconds) and
 * *reason what ended the job (owned by the watch, valid until it fires).
 */
int watch_lingering(const struct watch *w, double *until, const char **reason);

/*
 * Pure, for logs and notifications: "job ended: REASON; keeping the session
 * for DUR more, until HH:MM:SS UTC". Returns out.
 */
char *watch_linger_message(const char *reason, long ms, double until, char *out, size_t outlen);

/* Cancel everything and free. NULL is ignored. */
void watch_free(struct watch *w);


#endif
