/*
 * target: one kept target and its timers.
 *
 * A Jupyter target keeps a set of kernels (one id, the only/most recent one,
 * all of them, or a notebook's), re-listed each round when not fixed
 * (kernel_list.h chooses them). For each kept kernel it holds one persistent
 * WebSocket (kernel_ws) and sends one harmless execute_request per round, at
 * most one in flight, never while the kernel is busy. In http mode each round GETs an activity-tracked endpoint
 * instead (never /api/status). A ping target GETs or POSTs one URL.
 *
 * Each kept kernel's life is decided by kernel_fsm (kernel_fsm.h): target
 * feeds it what the WebSocket, the kernel's IOPub and the server's kernel
 * model (GET api/kernels/<id>) say, and carries out the actions it returns.
 *
 * A kept kernel that goes away (shut down, culled, deleted) is reported at
 * WARN with what was last seen of it and sent to notify_url; then an explicit
 * kernel id (after a grace of two intervals when it vanished without
 * announcing a shutdown) ends the target, while auto, all and notebook:PATH
 * list again and go on with the next kernel, pinging the server meanwhile.
 *
 * Once a round is verified (a keepalive acknowledged, a kernel found busy,
 * or the server answered), the target posts activity to the hub of a hub
 * user's server (hub.h) and has verify (verify.h) read back what the cullers
 * see. The target owns its hub and verify.
 *
 * Every periodic action is an lws sul timer owned by the target; between
 * rounds the process sleeps in the event loop.
 *
 * What a server's reply means (the token refused, the kernel or server
 * gone, a transient failure) is verdict.h's to say.
 *
 * A target ends for good by calling env->ended(): code 0 after a verified
 * --once round, 1 when what it keeps is gone, 2 when a short kernel id
 * matches several kernels, 3 when the token was rejected.
 */
#ifndef AGENT_TARGET_H
#define AGENT_TARGET_H

#include <libwebsockets.h>

#include "config.h"
#include "jmsg.h"
#include "status.h"

struct notify;
struct rest;
struct target;

/* What all targets share; owned by the supervisor. */
struct target_env {
	struct lws_context *ctx;
	struct rest *rest;
	struct notify *notify;		/* "kernel-gone" events; may be NULL */
	const char *own_kernel;		/* the kernel whose cell runs us, attached; NULL */
	char session_id[JMSG_UUID_LEN];	/* one session id per agent run (see kept_new_session) */
	const char *username;
	int once;			/* --once: one verified round, then end */
	/* A target ended for good; called once per target, from the event loop. */
	void (*ended)(void *ud, struct target *t, int code, const char *why);
	/* Something worth a state-file refresh happened (round done). May be NULL. */
	void (*changed)(void *ud, struct target *t);
	/* A round's read-back of what the cullers see is in. May be NULL. */
	void (*settled)(void *ud, struct target *t);
	void *ud;
};

/* Create a target for tc (which must outlive it). NULL on allocation failure. */
struct target *target_new(struct target_env *env, const struct target_config *tc);

/* Start its first round now. */
void target_start(struct target *t);

/* Stop: cancel timers and requests, close WebSockets with a close frame. No callbacks after this. */
void target_stop(struct target *t);

/* Free (stops first). NULL is ignored. */
void target_free(struct target *t);

/* A reload found an identical config (config_target_equal): use tc from now on. */
void target_set_config(struct target *t, const struct target_config *tc);

/* Has the target ended for good (env->ended was called)? */
int target_is_ended(const struct target *t);

const char *target_name(const struct target *t);
const struct target_config *target_config(const struct target *t);

/*
 * For --status and the state file: the target as status.h models it (its
 * kept kernels, newest first, with their state machine's state; the last and
 * next round; the culler reading from verify_status). out->kernels is
 * allocated: free it with status_target_clear(). Returns 0, or -1 when
 * memory ran out (out then lists no kernels).
 */
int target_status(const struct target *t, struct target_status *out);

/*
 * The target at a glance, for the terminal status line: "a1b2c3d4 busy 2h13m
 * (safe) · e5f6a7b8 ok 3s ago · server activity 20s ago". Returns its length.
 */
size_t target_brief(const struct target *t, char *out, size_t outlen);

unsigned target_kernel_count(const struct target *t);
double target_next_round(const struct target *t);	/* epoch seconds, 0 = none */
unsigned long target_acks(const struct target *t);	/* keepalives acknowledged so far */

/* Is the target known to work: a keepalive acknowledged, a ping answered,
 * the kernel seen busy, or at least the server took the token and has the
 * kernel? A line saying which, else NULL. */
const char *target_verified(const struct target *t);

/* Pure helpers (unit-tested). */

/* Exponential backoff: base_ms * 2^attempt, capped at cap_ms, then "equal
 * jitter" (half fixed, half random from rnd) so many agents spread out. */
long target_backoff_ms(unsigned attempt, long base_ms, long cap_ms, unsigned rnd);

/* interval ± pct% chosen by rnd; never below 1/2 interval. */
long target_jitter_ms(long interval_ms, int pct, unsigned rnd);

/* Build "ws(s)://host/base/api/kernels/<id>/channels?session_id=<sid>" from an http(s) base URL. */
int target_ws_url(const char *base_url, const char *kernel_id, const char *session_id,
		  char *out, size_t outlen);

/*
 * Is interval_ms too long for a culler timeout of cull_s seconds (more than
 * half of it, so that one lost round could let the culler in)? 1 and advice
 * in out, else 0. cull_s <= 0 means no culler.
 */
int target_cull_advice(long interval_ms, double cull_s, char *out, size_t outlen);

#endif
