/* kernel_fsm: the life of one kept kernel. See kernel_fsm.h. */
#include <string.h>

#include "kernel_fsm.h"

static struct kfsm_out to(enum kfsm_state s, unsigned actions, const char *why)
{
	struct kfsm_out o = { s, actions, why };

	return o;
}

static int is(const char *a, const char *b)
{
	return a && !strcmp(a, b);
}

/* ---- what every state does the same way ---- */

/* The link failed or ended: back off and reconnect; meanwhile ask the server
 * whether the kernel still exists, so a vanished kernel is noticed at once. */
static struct kfsm_out lost(const struct kfsm_facts *f)
{
	if (f->once)
		return to(KS_BACKOFF, KA_DISARM | KA_FAIL, "the connection to the kernel closed");
	return to(KS_BACKOFF, (f->abandoned ? KA_NEW_SESSION : 0) | KA_DISARM | KA_BACKOFF | KA_FETCH,
		  "connection lost");
}

/* The server does not have the kernel. An explicit id waits out its grace
 * period (a server restart, a proxy hiccup) in whatever state it is in. */
static struct kfsm_out missing(enum kfsm_state s, const struct kfsm_facts *f)
{
	if (f->grace)
		return to(s, KA_GRACE, NULL);
	return to(KS_GONE, KA_CLOSE | KA_DISARM | KA_GONE, "the server no longer has it");
}

/* A restart: a keepalive in flight died with the old process; learn afresh. */
static struct kfsm_out shutdown_restart(void)
{
	return to(KS_SYNCING, KA_DISARM | KA_FETCH | KA_ARM, NULL);
}

static struct kfsm_out shutdown(const struct kfsm_facts *f)
{
	if (f->restart)
		return shutdown_restart();
	return to(KS_GOING, KA_DISARM | KA_FETCH | KA_ARM, NULL);
}

/* Whatever the state, these events mean the same. Returns 1 when handled. */
static int common(enum kfsm_state s, enum kfsm_event e, const struct kfsm_facts *f,
		  struct kfsm_out *o)
{
	switch (e) {
	case KE_REFUSED:
		*o = to(s, KA_CLOSE | KA_DISARM | KA_AUTH, "the server rejected the token");
		return 1;
	case KE_MISSING:
		*o = missing(s, f);
		return 1;
	case KE_START:
	case KE_OPENED:
	case KE_CLOSED:
	case KE_STATUS:
	case KE_REPLY:
	case KE_SHUTDOWN:
	case KE_MODEL:
	case KE_ROUND:
	case KE_DEADLINE:
	case KE_RETRY:
		break;
	}
	return 0;
}

/* The state the kernel is in, from the server's model or an IOPub status. */
static struct kfsm_out learnt(const char *state, enum kfsm_state stay)
{
	/* Busy: confirm in a moment (KA_ARM) before counting on it, since
	 * jupyter_server 1.x also counts the kernel_info "nudge" it sends on
	 * every new connection as busy for a few milliseconds. */
	if (is(state, "busy"))
		return to(KS_BUSY, KA_DISARM | KA_ARM, NULL);
	/*
	 * Not running a cell: the first keepalive right away, as quick proof
	 * that it works. "starting" counts too: jupyter_server 1.x keeps a new
	 * kernel "starting" until something makes it publish a status, and
	 * the culler culls it in that state.
	 */
	if (is(state, "idle") || is(state, "starting"))
		return to(KS_WAITING, KA_DISARM | KA_SEND | KA_ARM, NULL);
	return to(stay, 0, NULL);	/* restarting, dead, unknown: ask again later */
}

/* The server tells its clients "restarting" when it restarts the kernel (on
 * top of the kernel's own shutdown_reply): a request in flight is lost. */
static int restarting(const struct kfsm_facts *f)
{
	return is(f->exec_state, "restarting");
}

/* Someone else's execute_request changed the kernel's state. */
static int foreign_status(const struct kfsm_facts *f, const char *state)
{
	return f->parent_execute && !f->parent_ours && is(f->exec_state, state);
}

/* ---- one function per state ---- */

/* The first state of every kept kernel, and the only one in mode = http. */
static struct kfsm_out in_unlinked(enum kfsm_event e, const struct kfsm_facts *f)
{
	switch (e) {
	case KE_START:
		return f->wants_ws ? to(KS_CONNECTING, KA_CONNECT, NULL) : to(KS_UNLINKED, KA_FETCH, NULL);
	case KE_ROUND:
		return to(KS_UNLINKED, KA_FETCH, NULL);
	case KE_OPENED: case KE_CLOSED: case KE_REFUSED: case KE_STATUS:
	case KE_REPLY: case KE_SHUTDOWN: case KE_MODEL: case KE_MISSING: case KE_DEADLINE:
	case KE_RETRY:
		break;
	}
	return to(KS_UNLINKED, 0, NULL);
}

static struct kfsm_out in_connecting(enum kfsm_event e, const struct kfsm_facts *f)
{
	switch (e) {
	case KE_OPENED:
		/*
		 * The model read while connecting says idle: send at once. It
		 * predates our connection, so it cannot show jupyter_server 1.x's
		 * connect nudge as busy, which a read after the open may (and
		 * then costs a second's confirmation). Anything else, or our own
		 * cell running in it, is learnt after the open as before.
		 */
		if (is(f->exec_state, "idle") && !f->own_cell && !f->iopub_busy)
			return learnt(f->exec_state, KS_SYNCING);
		return to(KS_SYNCING, KA_FETCH | KA_ARM, NULL);
	case KE_CLOSED:
		return lost(f);
	case KE_ROUND:
		return to(KS_CONNECTING, KA_FETCH, NULL);
	case KE_START: case KE_REFUSED: case KE_STATUS: case KE_REPLY: case KE_SHUTDOWN:
	case KE_MODEL: case KE_MISSING: case KE_DEADLINE: case KE_RETRY:
		break;
	}
	return to(KS_CONNECTING, 0, NULL);
}

static struct kfsm_out in_syncing(enum kfsm_event e, const struct kfsm_facts *f)
{
	switch (e) {
	case KE_STATUS:
		if (f->parent_execute && !f->parent_ours)
			return learnt(f->exec_state, KS_SYNCING);
		/* A (re)started process: ask the server now rather than at the
		 * next round. The server's kernel_info nudges say nothing. */
		if (is(f->exec_state, "starting") || restarting(f))
			return to(KS_SYNCING, KA_FETCH, NULL);
		break;
	case KE_MODEL:
		/* Our own cell runs in it for as long as we do: busy, whatever a
		 * jupyter_server < 2.15 says after its connect nudge (poke it). */
		if (f->own_cell)
			return to(KS_BUSY, KA_DISARM | KA_SAFE | KA_POKE, NULL);
		return learnt(f->exec_state, KS_SYNCING);
	case KE_DEADLINE:
		if (f->once)
			return to(KS_SYNCING, KA_FAIL, "the server did not say whether the kernel is busy");
		return to(KS_SYNCING, KA_FETCH | KA_ARM, NULL);
	case KE_ROUND:
		return to(KS_SYNCING, KA_FETCH, NULL);
	case KE_CLOSED:
		return lost(f);
	case KE_SHUTDOWN:
		return shutdown(f);
	case KE_START: case KE_OPENED: case KE_REFUSED: case KE_REPLY: case KE_MISSING:
	case KE_RETRY:
		break;
	}
	return to(KS_SYNCING, 0, NULL);
}

static struct kfsm_out in_idle(enum kfsm_event e, const struct kfsm_facts *f)
{
	switch (e) {
	case KE_ROUND:
		if (f->iopub_busy)	/* someone's cell runs: ask the server, send nothing */
			return to(KS_BUSY, KA_FETCH, NULL);
		return to(KS_WAITING, KA_SEND | KA_ARM, NULL);
	case KE_STATUS:
		if (restarting(f))
			return shutdown_restart();
		if (foreign_status(f, "busy"))
			return to(KS_BUSY, 0, NULL);
		break;
	case KE_MODEL:
		/*
		 * A model read just after our reply may still say "busy": the
		 * server records the idle status of our own request a moment
		 * later than it forwards the reply. Someone else's cell shows
		 * on IOPub (iopub_busy), so only that moves us to busy.
		 */
		if (is(f->exec_state, "busy") && f->iopub_busy)
			return to(KS_BUSY, 0, NULL);
		break;
	case KE_CLOSED:
		return lost(f);
	case KE_SHUTDOWN:
		return shutdown(f);
	case KE_START: case KE_OPENED: case KE_REFUSED: case KE_REPLY: case KE_MISSING:
	case KE_DEADLINE: case KE_RETRY:
		break;
	}
	return to(KS_IDLE, 0, NULL);
}

static struct kfsm_out in_busy(enum kfsm_event e, const struct kfsm_facts *f)
{
	switch (e) {
	case KE_ROUND:		/* nothing to send; the server's model says whether it is safe */
		return to(KS_BUSY, KA_FETCH, NULL);
	case KE_STATUS:
		if (restarting(f))
			return shutdown_restart();
		if (foreign_status(f, "idle"))
			return to(KS_IDLE, 0, NULL);
		break;
	case KE_MODEL:
		/* The server is the truth (an idle status may have been lost).
		 * Models are read in this state at a round or just after
		 * connecting: either way a keepalive is due now. */
		/* IOPub says someone's cell still runs while the server says
		 * idle: jupyter_server < 2.15 calls a running kernel idle after
		 * any kernel_info_request (a new tab's nudge), and would cull it.
		 * A control-channel request is answered at once, and its IOPub
		 * status is activity there. */
		if (f->own_cell)	/* a keepalive would wait behind our own cell */
			return to(KS_BUSY, KA_SAFE | (is(f->exec_state, "busy") ? 0 : KA_POKE), NULL);
		if (is(f->exec_state, "idle"))
			return to(KS_WAITING, KA_SEND | KA_ARM |
				  (f->iopub_busy ? KA_POKE | KA_SAFE : 0), NULL);
		if (is(f->exec_state, "busy"))	/* confirmed: the round is safe */
			return to(KS_BUSY, KA_SAFE, NULL);
		break;
	case KE_DEADLINE:	/* the check a moment after learning it is busy */
		return to(KS_BUSY, KA_FETCH, NULL);
	case KE_CLOSED:
		return lost(f);
	case KE_SHUTDOWN:
		return shutdown(f);
	case KE_START: case KE_OPENED: case KE_REFUSED: case KE_REPLY: case KE_MISSING:
	case KE_RETRY:
		break;
	}
	return to(KS_BUSY, 0, NULL);
}

/* A late reply behind a running cell: wait without a word (--once: it is safe). */
static struct kfsm_out queued(const struct kfsm_facts *f)
{
	return to(KS_WAITING, KA_ARM | (f->once ? KA_SAFE : 0), NULL);
}

static struct kfsm_out in_waiting(enum kfsm_event e, const struct kfsm_facts *f)
{
	switch (e) {
	case KE_REPLY:
		return to(KS_IDLE, KA_DISARM | KA_ACKED, NULL);
	case KE_DEADLINE:
		if (f->iopub_busy)
			return queued(f);
		return to(KS_OVERDUE, KA_FETCH | KA_ARM, NULL);
	case KE_ROUND:		/* at most one keepalive in flight */
		return to(KS_WAITING, KA_FETCH, NULL);
	case KE_STATUS:
		/* "starting": a new kernel process (a restart), which never got
		 * our request; learn its state afresh. */
		if (restarting(f) || is(f->exec_state, "starting"))
			return shutdown_restart();
		break;
	case KE_MODEL:		/* queued behind a cell the server calls idle: poke (see in_busy) */
		if (is(f->exec_state, "idle") && f->iopub_busy)
			return to(KS_WAITING, KA_POKE | KA_SAFE, NULL);
		if (is(f->exec_state, "busy") && f->iopub_busy)
			return to(KS_WAITING, KA_SAFE, NULL);	/* queued behind a cell: safe */
		/* Sent after a restart, idle, nothing of anyone's running, and a
		 * round passed with no reply: lost while the restart swapped the
		 * process. A culler may be shorter than the reply timeout: start
		 * over now. (Not without a restart: a jupyter_server < 2.15 may
		 * call a kernel idle while a cell runs, after a connect nudge.) */
		if (is(f->exec_state, "idle") && f->stale && !f->once)
			return to(KS_BACKOFF, KA_CLOSE | KA_NEW_SESSION | KA_DISARM | KA_BACKOFF | KA_FETCH,
				  "no reply to the keepalive although the server says the kernel is idle");
		break;
	case KE_CLOSED:
		return lost(f);
	case KE_SHUTDOWN:
		return shutdown(f);
	case KE_START: case KE_OPENED: case KE_REFUSED:
	case KE_MISSING: case KE_RETRY:
		break;
	}
	return to(KS_WAITING, 0, NULL);
}

static struct kfsm_out in_overdue(enum kfsm_event e, const struct kfsm_facts *f)
{
	switch (e) {
	case KE_REPLY:
		return to(KS_IDLE, KA_DISARM | KA_ACKED, NULL);
	case KE_MODEL:
		if (is(f->exec_state, "busy"))
			return queued(f);
		if (f->iopub_busy)	/* the server may call it idle and cull it: poke */
			return to(KS_WAITING, KA_ARM | KA_POKE | (f->once ? KA_SAFE : 0), NULL);
		/* Idle, nothing of anyone's running, and still no reply: the
		 * channel lost the request. Start over under a new session id. */
		if (f->once)
			return to(KS_OVERDUE, KA_DISARM | KA_FAIL,
				  "no reply to the keepalive although the kernel is idle");
		return to(KS_BACKOFF, KA_CLOSE | KA_NEW_SESSION | KA_DISARM | KA_BACKOFF | KA_FETCH,
			  "no reply to the keepalive although the server says the kernel is idle");
	case KE_DEADLINE:	/* the server did not answer either: the network is the suspect */
		if (f->once)
			return to(KS_OVERDUE, KA_DISARM | KA_FAIL, "no reply within the timeout");
		return to(KS_BACKOFF, KA_CLOSE | KA_NEW_SESSION | KA_DISARM | KA_BACKOFF | KA_FETCH,
			  "no reply to the keepalive, and the server does not answer");
	case KE_ROUND:
		return to(KS_OVERDUE, KA_FETCH, NULL);
	case KE_STATUS:
		if (restarting(f) || is(f->exec_state, "starting"))
			return shutdown_restart();
		break;
	case KE_CLOSED:
		return lost(f);
	case KE_SHUTDOWN:
		return shutdown(f);
	case KE_START: case KE_OPENED: case KE_REFUSED: case KE_MISSING:
	case KE_RETRY:
		break;
	}
	return to(KS_OVERDUE, 0, NULL);
}

static struct kfsm_out in_backoff(enum kfsm_event e, const struct kfsm_facts *f)
{
	(void)f;
	switch (e) {
	case KE_RETRY:
		return to(KS_CONNECTING, KA_CONNECT, NULL);
	case KE_ROUND:		/* does the kernel still exist? */
		return to(KS_BACKOFF, KA_FETCH, NULL);
	case KE_START: case KE_OPENED: case KE_CLOSED: case KE_REFUSED: case KE_STATUS:
	case KE_REPLY: case KE_SHUTDOWN: case KE_MODEL: case KE_MISSING: case KE_DEADLINE:
		break;
	}
	return to(KS_BACKOFF, 0, NULL);
}

static struct kfsm_out in_going(enum kfsm_event e, const struct kfsm_facts *f)
{
	switch (e) {
	case KE_MISSING:	/* it announced its end: no grace, whatever the selection */
		return to(KS_GONE, KA_CLOSE | KA_DISARM | KA_GONE, "it was shut down");
	case KE_DEADLINE:
	case KE_CLOSED:
		return to(KS_GOING, KA_FETCH | KA_ARM, NULL);
	case KE_MODEL:		/* still there: shutting down takes a moment */
		if (!f->lingering)
			break;
		/* Still there long after it said it was going: it did not go after all. */
		if (f->once)
			return to(KS_GOING, KA_DISARM | KA_FAIL, "the kernel said it was shutting down");
		return to(KS_CONNECTING, KA_CLOSE | KA_DISARM | KA_CONNECT, NULL);
	case KE_ROUND:
	case KE_START: case KE_OPENED: case KE_REFUSED: case KE_STATUS: case KE_REPLY:
	case KE_SHUTDOWN: case KE_RETRY:
		break;
	}
	return to(KS_GOING, 0, NULL);
}

struct kfsm_out kfsm_step(enum kfsm_state s, enum kfsm_event e, const struct kfsm_facts *f)
{
	static const struct kfsm_facts none;
	struct kfsm_out o;

	if (!f)
		f = &none;
	if (s == KS_GONE)
		return to(KS_GONE, 0, NULL);
	/* GOING answers a 404 without grace: it knows the kernel announced its end. */
	if (!(s == KS_GOING && e == KE_MISSING) && common(s, e, f, &o))
		return o;
	switch (s) {
	case KS_UNLINKED: return in_unlinked(e, f);
	case KS_CONNECTING: return in_connecting(e, f);
	case KS_SYNCING: return in_syncing(e, f);
	case KS_IDLE: return in_idle(e, f);
	case KS_BUSY: return in_busy(e, f);
	case KS_WAITING: return in_waiting(e, f);
	case KS_OVERDUE: return in_overdue(e, f);
	case KS_BACKOFF: return in_backoff(e, f);
	case KS_GOING: return in_going(e, f);
	case KS_GONE: break;
	}
	return to(s, 0, NULL);
}

int kfsm_linked(enum kfsm_state s)
{
	switch (s) {
	case KS_SYNCING:
	case KS_IDLE:
	case KS_BUSY:
	case KS_WAITING:
	case KS_OVERDUE:
		return 1;
	case KS_UNLINKED:
	case KS_CONNECTING:
	case KS_BACKOFF:
	case KS_GOING:
	case KS_GONE:
		break;
	}
	return 0;
}

const char *kfsm_state_name(enum kfsm_state s)
{
	switch (s) {
	case KS_UNLINKED: return "http";
	case KS_CONNECTING: return "connecting";
	case KS_SYNCING: return "syncing";
	case KS_IDLE: return "idle";
	case KS_BUSY: return "busy";
	case KS_WAITING: return "waiting";
	case KS_OVERDUE: return "overdue";
	case KS_BACKOFF: return "backoff";
	case KS_GOING: return "going";
	case KS_GONE: return "gone";
	}
	return "?";
}

const char *kfsm_event_name(enum kfsm_event e)
{
	switch (e) {
	case KE_START: return "start";
	case KE_OPENED: return "opened";
	case KE_CLOSED: return "closed";
	case KE_REFUSED: return "refused";
	case KE_STATUS: return "status";
	case KE_REPLY: return "reply";
	case KE_SHUTDOWN: return "shutdown";
	case KE_MODEL: return "model";
	case KE_MISSING: return "missing";
	case KE_ROUND: return "round";
	case KE_DEADLINE: return "deadline";
	case KE_RETRY: return "retry";
	}
	return "?";
}
