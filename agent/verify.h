/*
 * verify: what the cullers see, and whether it moves. After a successful
 * round, read back the activity each culler reads and judge it: the kernel
 * culler (jupyter_server MappingKernelManager.cull_kernel_if_idle), the
 * server's shutdown_no_activity_timeout (ServerApp.last_activity) and
 * jupyterhub-idle-culler (the hub's last_activity).
 *
 *   layer   read back with                       what culls on it
 *   kernel  GET <url>api/kernels/<id>            the kernel culler
 *           (read by target, which needs the model for its state machine,
 *           and handed in with verify_kernel_model)
 *   server  GET <url>api/status (last_activity)  shutdown_no_activity_timeout
 *   hub     GET {hub}/users/NAME                 jupyterhub-idle-culler
 *           (servers[SERVER].last_activity; hub_read, hub.h)
 *
 * verify sends nothing that counts as activity: /api/status is not tracked,
 * the kernel read-back (target.c) carries ?no_track_activity (jupyter_server
 * skips api_last_activity for it), and the hub's activity post is the
 * target's (hub_activity, hub.h), so the server layer shows only real
 * activity.
 *
 * Each read-back logs one line, "culler sees activity 1 s ago (kernel), 0 s
 * ago (server), 3 s ago (hub)". A layer whose activity did not move between
 * two read-backs with a successful round between them gets one warning (once
 * per layer per run) saying what that means. Values are compared with the
 * previous reading, not with the agent's clock, so clock skew between the
 * agent and a remote server does not cause false warnings. The hub may lag
 * by its reporting intervals (proxy poll and the server's own post, 300 s
 * each by default) unless it took the target's post before the read.
 *
 * At most one read-back of each kind is in flight; read-backs closer together
 * than half the interval are skipped, so verify_round() may be called after
 * every acknowledged keepalive. All requests use the target's token, ca_file,
 * insecure and timeout, through rest (which never follows redirects). Bodies
 * are never printed.
 *
 * Ownership: verify keeps pointers to tc and hub (which must outlive it; the
 * target owns both) and copies everything else it is given.
 */
#ifndef AGENT_VERIFY_H
#define AGENT_VERIFY_H

#include <stddef.h>
#include <libwebsockets.h>

#include "config.h"
#include "status.h"

struct hub;
struct rest;
struct verify;

/*
 * Create the read-back for a Jupyter target. Returns NULL for targets with
 * nothing to read back (ping targets) and on allocation failure; every
 * function below accepts NULL and then does nothing.
 */
struct verify *verify_new(struct lws_context *ctx, struct rest *rest,
			  const struct target_config *tc, struct hub *hub);

/*
 * A round succeeded (or found the kernels busy). Starts the read-back of the
 * server and the hub (after the target's hub_activity post, if one runs)
 * unless one ran less than half an interval ago. Never calls back into the
 * caller.
 */
void verify_round(struct verify *v);

/*
 * The target is reading kernel id's model for this round's read-back: the
 * read-back settles only once verify_kernel_model() handed it in.
 */
void verify_kernel_expect(struct verify *v, const char *id);

/*
 * The server's model of a kept kernel: its last_activity (epoch seconds; 0 =
 * unknown or the read failed: only ends the wait of verify_kernel_expect)
 * and execution_state. Judged at the next settle. Never calls back into the
 * caller.
 */
void verify_kernel_model(struct verify *v, const char *id, double last_activity,
			 const char *state);

/*
 * A kept kernel went away or is no longer kept: forget its readings, and
 * compare the server's activity afresh (it may step back without that
 * kernel), so that neither gives a false "did not move" warning.
 */
void verify_kernel_forget(struct verify *v, const char *id);

/*
 * A request the server counts as activity (a REST ping, an acknowledged
 * keepalive) was answered; it had started at started_mono (timer_mono_s).
 * The server's "did not move" is judged only across two read-backs with
 * such a request between them: started after the first was answered,
 * answered before the second began.
 */
void verify_tracked(struct verify *v, double started_mono);

/*
 * Call settled(ud) each time a read-back has finished (its line logged),
 * whatever it found; NULL stops that. For --once, which should end only after
 * the read-back: settled may free v (verify_free) from inside the call.
 */
void verify_on_settled(struct verify *v, void (*settled)(void *ud), void *ud);

/*
 * For --status and the state file: the ages, whole seconds from now to the
 * last activity read back (the oldest of the kept kernels), -1 when unknown,
 * and the current "did not move" warnings joined by "; ". out->known is 0
 * for a NULL v (a target with nothing to read back).
 */
void verify_status(const struct verify *v, struct culler_status *out);

/* The server's last_activity (epoch seconds) at the latest read-back; 0 = unknown. */
double verify_server_activity(const struct verify *v);

/* A config reload found an identical target config: use tc from now on. */
void verify_set_config(struct verify *v, const struct target_config *tc);

/* Cancel its calls and free. NULL is ignored. */
void verify_free(struct verify *v);

/* Pure helpers (unit-tested). */

/*
 * Did a layer fail to move? prev and cur are its activity (epoch seconds) at
 * two read-backs with a successful round between them (0 = unknown);
 * still_s is how long the value has stayed at cur, and lag_s how long the
 * layer may legitimately lag (0 for kernel and server, which record activity
 * at once). 1 when it did not move, else 0.
 */
int verify_did_not_move(double prev, double cur, double still_s, double lag_s);

/*
 * Whether a tracked request went out between two reads: acted is the start
 * of the latest tracked request answered before the later read began (0 =
 * none), prev_answered when the earlier read was answered. Pure.
 */
int verify_acted_between(double acted, double prev_answered);

/*
 * "culler sees activity 1 s ago (kernel), 0 s ago (server), 3 s ago (hub)";
 * a negative age leaves its layer out, kernel_busy adds ", busy". Returns
 * out, always NUL-terminated; "" when every age is unknown.
 */
char *verify_format_ages(char *out, size_t outlen, double kernel_age, int kernel_busy,
			 double server_age, double hub_age);

#endif
