/*
 * kernel_fsm: the life of one kept kernel, as a pure function.
 *
 *     kfsm_step(state, event, facts) -> (new state, actions)
 *
 * No I/O, no clocks, no globals: target.c feeds it what the libraries and
 * the server report and carries out the actions it returns, in the order of
 * the KA_ bits. The unit tests call it directly (tests/unit/test_kernel_fsm.c).
 *
 * The server is the source of truth. A keepalive goes out only when the
 * kernel is known to be idle: after a (re)connection the state is learnt
 * first, from the server's kernel model (GET api/kernels/<id>) or from an
 * IOPub status that answers an execute_request, whichever comes first. A
 * busy kernel is never sent to (the culler never culls a busy kernel, and a
 * request would only queue behind the running cell); such a round still
 * counts as safe. A keepalive whose reply is late is judged by asking the
 * server: a busy kernel means the request is queued behind a cell (wait,
 * silently); an idle one means the channel lost it (reconnect under a new
 * session id). A dead link itself is found by WebSocket pings (kernel_ws),
 * never by the kernel's queue.
 *
 *   CONNECTING --opened--> SYNCING --model/status idle--> WAITING (first keepalive)
 *                                  --model/status busy--> BUSY
 *   IDLE    --round--> WAITING --reply--> IDLE
 *   WAITING --deadline, no busy evidence--> OVERDUE --model busy--> WAITING
 *                                                   --model idle--> BACKOFF
 *                                                   --no model in time--> BACKOFF
 *   BUSY    --status idle--> IDLE;  --model idle--> WAITING (the round's keepalive)
 *           (and a control-channel poke when IOPub says a cell still runs:
 *           jupyter_server 1.x may call a running kernel idle, and cull it)
 *   any linked state --closed--> BACKOFF --retry--> CONNECTING
 *   any --shutdown_reply on IOPub--> GOING --model 404--> GONE
 *   any --model 404 (no grace left)--> GONE
 *
 * --once is one policy here: with facts.once, anything that would back off
 * or wait for a later round fails instead (KA_FAIL).
 */
#ifndef AGENT_KERNEL_FSM_H
#define AGENT_KERNEL_FSM_H

enum kfsm_state {
	KS_UNLINKED,	/* no WebSocket wanted (mode = http): only the model is read */
	KS_CONNECTING,	/* WebSocket handshake under way */
	KS_SYNCING,	/* open; asking the server whether the kernel is busy */
	KS_IDLE,	/* open; kernel idle; nothing of ours in flight */
	KS_BUSY,	/* open; a cell is running: nothing is sent, and it is safe */
	KS_WAITING,	/* our keepalive is in flight */
	KS_OVERDUE,	/* its reply is late: asking the server whether the kernel is busy */
	KS_BACKOFF,	/* the link is down; the reconnect timer is armed */
	KS_GOING,	/* the kernel announced its shutdown; confirming with the server */
	KS_GONE,	/* the server no longer has the kernel; nothing more happens */
};
#define KS_COUNT (KS_GONE + 1)

enum kfsm_event {
	KE_START,	/* begin keeping the kernel */
	KE_OPENED,	/* WebSocket handshake done (facts.exec_state: the server's
			 * model as read while connecting, if one was) */
	KE_CLOSED,	/* the link failed or ended (facts.abandoned) */
	KE_REFUSED,	/* the server refused the token (401/403) */
	KE_STATUS,	/* IOPub status (facts.exec_state, parent_ours, parent_execute) */
	KE_REPLY,	/* the execute_reply to our keepalive */
	KE_SHUTDOWN,	/* IOPub shutdown_reply: the kernel is going (facts.restart) */
	KE_MODEL,	/* the server's kernel model arrived (facts.exec_state) */
	KE_MISSING,	/* the server does not have the kernel (404), facts.grace */
	KE_ROUND,	/* the round timer: time for a keepalive */
	KE_DEADLINE,	/* the kernel's deadline timer fired (see KA_ARM) */
	KE_RETRY,	/* the reconnect timer fired */
};
#define KE_COUNT (KE_RETRY + 1)

/* What target.c knows besides the event. Unused fields are ignored. */
struct kfsm_facts {
	const char *exec_state;	/* KE_STATUS, KE_MODEL: "busy", "idle", "starting", … */
	int parent_ours;	/* KE_STATUS: answers our keepalive */
	int parent_execute;	/* KE_STATUS: answers an execute_request (anyone's) */
	int iopub_busy;		/* the last IOPub status of someone else's execute_request was busy */
	int abandoned;		/* KE_CLOSED: we gave up on a link the server may still hold */
	int restart;		/* KE_SHUTDOWN: a restart, not an end */
	int grace;		/* KE_MISSING: an explicit kernel id still within its grace period */
	int lingering;		/* KE_MODEL in GOING: it has been going for longer than the timeout */
	int stale;		/* KE_MODEL: our keepalive, sent after a restart, has been out
				 * for longer than an interval (at least 2 s) */
	int own_cell;		/* the agent runs attached inside this kernel's own cell
				 * (`!agent --once`, `--foreground`): busy for as long as we run */
	int once;		/* --once: one verified round, then end */
	int wants_ws;		/* mode includes execute (KE_START) */
};

/* Actions, carried out in this order. */
enum kfsm_action {
	KA_CLOSE	= 1u << 0,	/* close the WebSocket */
	KA_NEW_SESSION	= 1u << 1,	/* next connection under a fresh session id */
	KA_CONNECT	= 1u << 2,	/* open the WebSocket */
	KA_BACKOFF	= 1u << 3,	/* arm the reconnect timer (backoff), say why at WARN */
	KA_DISARM	= 1u << 4,	/* cancel the deadline timer */
	KA_SEND		= 1u << 5,	/* send one keepalive */
	KA_ARM		= 1u << 6,	/* arm the deadline (BUSY, GOING, SYNCING: 1 s; else the reply timeout) */
	KA_FETCH	= 1u << 7,	/* read the kernel model now (unless a read is in flight) */
	KA_ACKED	= 1u << 8,	/* a keepalive was acknowledged: record, read back */
	KA_SAFE		= 1u << 9,	/* this round is safe: the kernel is busy */
	KA_GRACE	= 1u << 10,	/* explicit id not found: start (or keep) its grace period */
	KA_GONE		= 1u << 11,	/* report the kernel gone (what was last seen, notify) */
	KA_AUTH		= 1u << 12,	/* the token was refused: end with exit 3 */
	KA_FAIL		= 1u << 13,	/* --once: the round failed (why) */
	KA_POKE		= 1u << 14,	/* a kernel_info_request on the control channel (see jmsg.h) */
};

struct kfsm_out {
	enum kfsm_state state;
	unsigned actions;	/* KA_ bits */
	const char *why;	/* static text for KA_BACKOFF / KA_FAIL / KA_GONE, else NULL */
};

/* One step. Never fails; an event that means nothing in a state changes nothing. */
struct kfsm_out kfsm_step(enum kfsm_state s, enum kfsm_event e, const struct kfsm_facts *f);

/* Does the state hold an open WebSocket? */
int kfsm_linked(enum kfsm_state s);

/* Lower-case names for logs, --status and tests. */
const char *kfsm_state_name(enum kfsm_state s);
const char *kfsm_event_name(enum kfsm_event e);

#endif
