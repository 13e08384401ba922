/* SPDX-License-Identifier: MIT */
/*
 * Unit tests for kernel_fsm: the transition table, row by row, and the
 * properties that must hold for every (state, event, facts) combination.
 */
#include <stdio.h>

#include "kernel_fsm.h"
#include "unit.h"

/* Facts, by name, for the rows below. */
enum facts_id {
	F_NONE,
	F_BUSY,			/* status/model: busy, someone else's execute_request */
	F_IDLE,			/* status/model: idle, someone else's execute_request */
	F_STARTING,		/* model/status: starting */
	F_NUDGE_BUSY,		/* status busy answering the server's kernel_info nudge */
	F_OURS_BUSY,		/* status busy answering our keepalive */
	F_IOPUB_BUSY,		/* someone else's cell is running (seen on IOPub) */
	F_MODEL_IDLE_IOPUB_BUSY,
	F_ONCE,
	F_ONCE_IOPUB_BUSY,
	F_ONCE_MODEL_IDLE,
	F_ABANDONED,
	F_RESTART,
	F_GRACE,
	F_WS,			/* KE_START in execute mode */
	F_LINGERING,		/* going for longer than the timeout */
	F_RESTARTING,		/* status or model: restarting */
	F_IOPUB_BUSY_MODEL_BUSY,
	F_OWN_CELL_IDLE,		/* our own cell runs in it; the server says idle */
	F_ONCE_LINGERING,
	F_STALE_IDLE,		/* model idle; our keepalive out for over an interval */
	F_STALE_IDLE_IOPUB_BUSY,
	F_COUNT
};

static struct kfsm_facts facts(enum facts_id id)
{
	struct kfsm_facts f = {0};

	switch (id) {
	case F_NONE: break;
	case F_BUSY: f.exec_state = "busy"; f.parent_execute = 1; break;
	case F_IDLE: f.exec_state = "idle"; f.parent_execute = 1; break;
	case F_STARTING: f.exec_state = "starting"; break;
	case F_NUDGE_BUSY: f.exec_state = "busy"; break;
	case F_OURS_BUSY: f.exec_state = "busy"; f.parent_execute = 1; f.parent_ours = 1; break;
	case F_IOPUB_BUSY: f.iopub_busy = 1; break;
	case F_MODEL_IDLE_IOPUB_BUSY: f.exec_state = "idle"; f.iopub_busy = 1; break;
	case F_ONCE: f.once = 1; break;
	case F_ONCE_IOPUB_BUSY: f.once = 1; f.iopub_busy = 1; break;
	case F_ONCE_MODEL_IDLE: f.once = 1; f.exec_state = "idle"; break;
	case F_ABANDONED: f.abandoned = 1; break;
	case F_RESTART: f.restart = 1; break;
	case F_GRACE: f.grace = 1; break;
	case F_WS: f.wants_ws = 1; break;
	case F_LINGERING: f.lingering = 1; f.exec_state = "idle"; break;
	case F_RESTARTING: f.exec_state = "restarting"; break;
	case F_IOPUB_BUSY_MODEL_BUSY: f.exec_state = "busy"; f.iopub_busy = 1; break;
	case F_OWN_CELL_IDLE: f.exec_state = "idle"; f.own_cell = 1; break;
	case F_ONCE_LINGERING: f.once = 1; f.lingering = 1; f.exec_state = "idle"; break;
	case F_STALE_IDLE: f.exec_state = "idle"; f.stale = 1; break;
	case F_STALE_IDLE_IOPUB_BUSY: f.exec_state = "idle"; f.stale = 1; f.iopub_busy = 1; break;
	case F_COUNT: break;
	}
	return f;
}

struct row {
	enum kfsm_state from;
	enum kfsm_event ev;
	enum facts_id f;
	enum kfsm_state to;
	unsigned actions;
};

static const struct row table[] = {
	/* starting to keep a kernel */
	{ KS_UNLINKED, KE_START, F_WS, KS_CONNECTING, KA_CONNECT },
	{ KS_UNLINKED, KE_START, F_NONE, KS_UNLINKED, KA_FETCH },
	{ KS_UNLINKED, KE_ROUND, F_NONE, KS_UNLINKED, KA_FETCH },
	{ KS_UNLINKED, KE_MODEL, F_BUSY, KS_UNLINKED, 0 },

	/* connecting */
	{ KS_CONNECTING, KE_OPENED, F_NONE, KS_SYNCING, KA_FETCH | KA_ARM },
	{ KS_CONNECTING, KE_OPENED, F_ONCE_MODEL_IDLE, KS_WAITING, KA_DISARM | KA_SEND | KA_ARM },
	{ KS_CONNECTING, KE_OPENED, F_NUDGE_BUSY, KS_SYNCING, KA_FETCH | KA_ARM },
	{ KS_CONNECTING, KE_OPENED, F_OWN_CELL_IDLE, KS_SYNCING, KA_FETCH | KA_ARM },
	{ KS_CONNECTING, KE_CLOSED, F_NONE, KS_BACKOFF, KA_DISARM | KA_BACKOFF | KA_FETCH },
	{ KS_CONNECTING, KE_CLOSED, F_ABANDONED, KS_BACKOFF,
	  KA_NEW_SESSION | KA_DISARM | KA_BACKOFF | KA_FETCH },
	{ KS_CONNECTING, KE_CLOSED, F_ONCE, KS_BACKOFF, KA_DISARM | KA_FAIL },
	{ KS_CONNECTING, KE_ROUND, F_NONE, KS_CONNECTING, KA_FETCH },
	{ KS_CONNECTING, KE_DEADLINE, F_NONE, KS_CONNECTING, 0 },

	/* syncing: nothing is sent before the kernel's state is known */
	{ KS_SYNCING, KE_MODEL, F_IDLE, KS_WAITING, KA_DISARM | KA_SEND | KA_ARM },
	{ KS_SYNCING, KE_MODEL, F_BUSY, KS_BUSY, KA_DISARM | KA_ARM },
	{ KS_SYNCING, KE_MODEL, F_STARTING, KS_WAITING, KA_DISARM | KA_SEND | KA_ARM },
	{ KS_SYNCING, KE_MODEL, F_NONE, KS_SYNCING, 0 },
	{ KS_SYNCING, KE_MODEL, F_OWN_CELL_IDLE, KS_BUSY, KA_DISARM | KA_SAFE | KA_POKE },
	{ KS_BUSY, KE_MODEL, F_OWN_CELL_IDLE, KS_BUSY, KA_SAFE | KA_POKE },
	{ KS_SYNCING, KE_MODEL, F_RESTARTING, KS_SYNCING, 0 },
	{ KS_SYNCING, KE_STATUS, F_STARTING, KS_SYNCING, KA_FETCH },
	{ KS_IDLE, KE_STATUS, F_RESTARTING, KS_SYNCING, KA_DISARM | KA_FETCH | KA_ARM },
	{ KS_WAITING, KE_STATUS, F_RESTARTING, KS_SYNCING, KA_DISARM | KA_FETCH | KA_ARM },
	{ KS_WAITING, KE_STATUS, F_STARTING, KS_SYNCING, KA_DISARM | KA_FETCH | KA_ARM },
	{ KS_OVERDUE, KE_STATUS, F_STARTING, KS_SYNCING, KA_DISARM | KA_FETCH | KA_ARM },
	{ KS_BUSY, KE_STATUS, F_RESTARTING, KS_SYNCING, KA_DISARM | KA_FETCH | KA_ARM },
	{ KS_SYNCING, KE_STATUS, F_BUSY, KS_BUSY, KA_DISARM | KA_ARM },
	{ KS_SYNCING, KE_STATUS, F_IDLE, KS_WAITING, KA_DISARM | KA_SEND | KA_ARM },
	{ KS_SYNCING, KE_STATUS, F_NUDGE_BUSY, KS_SYNCING, 0 },
	{ KS_SYNCING, KE_DEADLINE, F_NONE, KS_SYNCING, KA_FETCH | KA_ARM },
	{ KS_SYNCING, KE_DEADLINE, F_ONCE, KS_SYNCING, KA_FAIL },
	{ KS_SYNCING, KE_ROUND, F_NONE, KS_SYNCING, KA_FETCH },
	{ KS_SYNCING, KE_REPLY, F_NONE, KS_SYNCING, 0 },
	{ KS_SYNCING, KE_SHUTDOWN, F_NONE, KS_GOING, KA_DISARM | KA_FETCH | KA_ARM },

	/* idle */
	{ KS_IDLE, KE_ROUND, F_NONE, KS_WAITING, KA_SEND | KA_ARM },
	{ KS_IDLE, KE_ROUND, F_IOPUB_BUSY, KS_BUSY, KA_FETCH },
	{ KS_IDLE, KE_STATUS, F_BUSY, KS_BUSY, 0 },
	{ KS_IDLE, KE_STATUS, F_NUDGE_BUSY, KS_IDLE, 0 },
	{ KS_IDLE, KE_MODEL, F_BUSY, KS_IDLE, 0 },	/* our own request, still recorded busy */
	{ KS_IDLE, KE_MODEL, F_IOPUB_BUSY_MODEL_BUSY, KS_BUSY, 0 },
	{ KS_IDLE, KE_MODEL, F_IDLE, KS_IDLE, 0 },
	{ KS_IDLE, KE_CLOSED, F_NONE, KS_BACKOFF, KA_DISARM | KA_BACKOFF | KA_FETCH },
	{ KS_IDLE, KE_SHUTDOWN, F_RESTART, KS_SYNCING, KA_DISARM | KA_FETCH | KA_ARM },
	{ KS_IDLE, KE_DEADLINE, F_NONE, KS_IDLE, 0 },

	/* busy: never sent to; the round is safe; the server has the last word */
	{ KS_BUSY, KE_ROUND, F_NONE, KS_BUSY, KA_FETCH },
	{ KS_BUSY, KE_STATUS, F_IDLE, KS_IDLE, 0 },
	{ KS_BUSY, KE_STATUS, F_OURS_BUSY, KS_BUSY, 0 },
	{ KS_BUSY, KE_MODEL, F_IDLE, KS_WAITING, KA_SEND | KA_ARM },
	{ KS_BUSY, KE_MODEL, F_BUSY, KS_BUSY, KA_SAFE },
	{ KS_BUSY, KE_DEADLINE, F_NONE, KS_BUSY, KA_FETCH },
	{ KS_BUSY, KE_SHUTDOWN, F_NONE, KS_GOING, KA_DISARM | KA_FETCH | KA_ARM },

	/* waiting for our reply */
	{ KS_WAITING, KE_REPLY, F_NONE, KS_IDLE, KA_DISARM | KA_ACKED },
	{ KS_WAITING, KE_ROUND, F_NONE, KS_WAITING, KA_FETCH },
	{ KS_WAITING, KE_STATUS, F_OURS_BUSY, KS_WAITING, 0 },
	{ KS_WAITING, KE_STATUS, F_BUSY, KS_WAITING, 0 },
	{ KS_WAITING, KE_DEADLINE, F_IOPUB_BUSY, KS_WAITING, KA_ARM },
	{ KS_WAITING, KE_DEADLINE, F_ONCE_IOPUB_BUSY, KS_WAITING, KA_ARM | KA_SAFE },
	{ KS_WAITING, KE_DEADLINE, F_NONE, KS_OVERDUE, KA_FETCH | KA_ARM },
	{ KS_WAITING, KE_CLOSED, F_ABANDONED, KS_BACKOFF,
	  KA_NEW_SESSION | KA_DISARM | KA_BACKOFF | KA_FETCH },
	{ KS_WAITING, KE_SHUTDOWN, F_RESTART, KS_SYNCING, KA_DISARM | KA_FETCH | KA_ARM },

	/* overdue: the server says whether it is a queue or a lost request */
	{ KS_OVERDUE, KE_REPLY, F_NONE, KS_IDLE, KA_DISARM | KA_ACKED },
	{ KS_OVERDUE, KE_MODEL, F_BUSY, KS_WAITING, KA_ARM },
	{ KS_OVERDUE, KE_MODEL, F_MODEL_IDLE_IOPUB_BUSY, KS_WAITING, KA_ARM | KA_POKE },
	{ KS_BUSY, KE_MODEL, F_MODEL_IDLE_IOPUB_BUSY, KS_WAITING, KA_SEND | KA_ARM | KA_POKE | KA_SAFE },
	{ KS_WAITING, KE_MODEL, F_MODEL_IDLE_IOPUB_BUSY, KS_WAITING, KA_POKE | KA_SAFE },
	{ KS_WAITING, KE_MODEL, F_IOPUB_BUSY_MODEL_BUSY, KS_WAITING, KA_SAFE },
	{ KS_WAITING, KE_MODEL, F_IDLE, KS_WAITING, 0 },
	{ KS_WAITING, KE_MODEL, F_STALE_IDLE, KS_BACKOFF,
	  KA_CLOSE | KA_NEW_SESSION | KA_DISARM | KA_BACKOFF | KA_FETCH },
	{ KS_WAITING, KE_MODEL, F_STALE_IDLE_IOPUB_BUSY, KS_WAITING, KA_POKE | KA_SAFE },
	{ KS_OVERDUE, KE_MODEL, F_IDLE, KS_BACKOFF,
	  KA_CLOSE | KA_NEW_SESSION | KA_DISARM | KA_BACKOFF | KA_FETCH },
	{ KS_OVERDUE, KE_MODEL, F_ONCE_MODEL_IDLE, KS_OVERDUE, KA_DISARM | KA_FAIL },
	{ KS_OVERDUE, KE_DEADLINE, F_NONE, KS_BACKOFF,
	  KA_CLOSE | KA_NEW_SESSION | KA_DISARM | KA_BACKOFF | KA_FETCH },
	{ KS_OVERDUE, KE_DEADLINE, F_ONCE, KS_OVERDUE, KA_DISARM | KA_FAIL },
	{ KS_OVERDUE, KE_ROUND, F_NONE, KS_OVERDUE, KA_FETCH },

	/* backoff */
	{ KS_BACKOFF, KE_RETRY, F_NONE, KS_CONNECTING, KA_CONNECT },
	{ KS_BACKOFF, KE_ROUND, F_NONE, KS_BACKOFF, KA_FETCH },
	{ KS_BACKOFF, KE_MODEL, F_IDLE, KS_BACKOFF, 0 },
	{ KS_BACKOFF, KE_CLOSED, F_NONE, KS_BACKOFF, 0 },

	/* going: a shutdown was announced */
	{ KS_GOING, KE_DEADLINE, F_NONE, KS_GOING, KA_FETCH | KA_ARM },
	{ KS_GOING, KE_CLOSED, F_NONE, KS_GOING, KA_FETCH | KA_ARM },
	{ KS_GOING, KE_MODEL, F_IDLE, KS_GOING, 0 },
	{ KS_GOING, KE_MISSING, F_GRACE, KS_GONE, KA_CLOSE | KA_DISARM | KA_GONE },
	{ KS_GOING, KE_ROUND, F_NONE, KS_GOING, 0 },
	{ KS_GOING, KE_MODEL, F_LINGERING, KS_CONNECTING, KA_CLOSE | KA_DISARM | KA_CONNECT },
	{ KS_GOING, KE_MODEL, F_ONCE_LINGERING, KS_GOING, KA_DISARM | KA_FAIL },

	/* missing and refused, from anywhere */
	{ KS_IDLE, KE_MISSING, F_NONE, KS_GONE, KA_CLOSE | KA_DISARM | KA_GONE },
	{ KS_BACKOFF, KE_MISSING, F_GRACE, KS_BACKOFF, KA_GRACE },
	{ KS_BUSY, KE_MISSING, F_ONCE, KS_GONE, KA_CLOSE | KA_DISARM | KA_GONE },
	{ KS_CONNECTING, KE_REFUSED, F_NONE, KS_CONNECTING, KA_CLOSE | KA_DISARM | KA_AUTH },

	/* gone is the end */
	{ KS_GONE, KE_START, F_WS, KS_GONE, 0 },
	{ KS_GONE, KE_ROUND, F_NONE, KS_GONE, 0 },
	{ KS_GONE, KE_REFUSED, F_NONE, KS_GONE, 0 },
};

static const char *actions_str(unsigned a, char *out, size_t len)
{
	static const char *const names[] = { "close", "new_session", "connect", "backoff", "disarm",
		"send", "arm", "fetch", "acked", "safe", "grace", "gone", "auth", "fail", "poke" };
	size_t n = 0;

	out[0] = '\0';
	for (unsigned i = 0; i < sizeof(names) / sizeof(names[0]); i++)
		if (a & (1u << i))
			n += (size_t)snprintf(out + n, len - n, "%s%s", n ? "|" : "", names[i]);
	return out;
}

TEST(fsm_table)
{
	for (size_t i = 0; i < sizeof(table) / sizeof(table[0]); i++) {
		const struct row *r = &table[i];
		struct kfsm_facts f = facts(r->f);
		struct kfsm_out o = kfsm_step(r->from, r->ev, &f);
		char got[200], want[200];

		if (o.state != r->to || o.actions != r->actions) {
			printf("FAIL row %zu: %s + %s (facts %d) -> %s [%s], want %s [%s]\n", i,
			       kfsm_state_name(r->from), kfsm_event_name(r->ev), (int)r->f,
			       kfsm_state_name(o.state), actions_str(o.actions, got, sizeof(got)),
			       kfsm_state_name(r->to), actions_str(r->actions, want, sizeof(want)));
			unit_failed_now = 1;
		}
	}
}

/* Every (state, event, facts) combination. */
#define FOR_ALL(s, e, fi) \
	for (int s = 0; s < KS_COUNT; s++) \
		for (int e = 0; e < KE_COUNT; e++) \
			for (int fi = 0; fi < F_COUNT; fi++)

static void fail_combo(const char *what, int s, int e, int fi, struct kfsm_out o)
{
	char got[200];

	printf("FAIL %s: %s + %s (facts %d) -> %s [%s]\n", what, kfsm_state_name((enum kfsm_state)s),
	       kfsm_event_name((enum kfsm_event)e), fi, kfsm_state_name(o.state),
	       actions_str(o.actions, got, sizeof(got)));
	unit_failed_now = 1;
}

TEST(fsm_never_sends_into_a_busy_kernel)
{
	FOR_ALL(s, e, fi) {
		struct kfsm_facts f = facts((enum facts_id)fi);
		struct kfsm_out o = kfsm_step((enum kfsm_state)s, (enum kfsm_event)e, &f);

		if (!(o.actions & KA_SEND))
			continue;
		if (e != KE_STATUS && e != KE_MODEL && e != KE_OPENED)
			f.exec_state = NULL;	/* the state travels only with these three */
		/* A keepalive goes out only from idle, or when the server or a
		 * status of someone's execute_request just said idle. IOPub's
		 * "busy" yields only to the server's word (an idle status can be
		 * lost in a flood; the server's model cannot). */
		if (o.state != KS_WAITING || (f.exec_state && !strcmp(f.exec_state, "busy")) ||
		    (f.iopub_busy && !f.exec_state))
			fail_combo("sent while busy or unknown", s, e, fi, o);
		if (s != KS_IDLE && !(f.exec_state && *f.exec_state))
			fail_combo("sent without knowing the kernel's state", s, e, fi, o);
		if (s == KS_WAITING || s == KS_OVERDUE)
			fail_combo("a second keepalive in flight", s, e, fi, o);
	}
}

TEST(fsm_once_never_waits_for_a_later_round)
{
	FOR_ALL(s, e, fi) {
		struct kfsm_facts f = facts((enum facts_id)fi);
		struct kfsm_out o = kfsm_step((enum kfsm_state)s, (enum kfsm_event)e, &f);

		if (f.once && (o.actions & KA_BACKOFF))
			fail_combo("--once backs off", s, e, fi, o);
		if (!f.once && (o.actions & KA_FAIL))
			fail_combo("fails outside --once", s, e, fi, o);
		if ((o.actions & (KA_FAIL | KA_BACKOFF | KA_GONE)) && !o.why)
			fail_combo("no words for a failure", s, e, fi, o);
	}
}

TEST(fsm_gone_refused_and_missing)
{
	FOR_ALL(s, e, fi) {
		struct kfsm_facts f = facts((enum facts_id)fi);
		struct kfsm_out o = kfsm_step((enum kfsm_state)s, (enum kfsm_event)e, &f);

		if (s == KS_GONE && ((int)o.state != KS_GONE || o.actions))
			fail_combo("gone is not final", s, e, fi, o);
		if (s == KS_GONE)
			continue;
		if (e == KE_REFUSED && !(o.actions & KA_AUTH))
			fail_combo("a refused token does not end", s, e, fi, o);
		if (e == KE_MISSING && !f.grace && o.state != KS_GONE)
			fail_combo("missing without grace is not gone", s, e, fi, o);
		if (e == KE_MISSING && f.grace && s != KS_GOING &&
		    (o.actions != KA_GRACE || (int)o.state != s))
			fail_combo("grace changes more than the grace", s, e, fi, o);
		if ((o.actions & KA_GONE) && o.state != KS_GONE)
			fail_combo("reported gone but kept", s, e, fi, o);
		/* Only a closed link or a lost request reconnects, and only with a timer. */
		if ((o.actions & KA_CONNECT) && !(s == KS_BACKOFF && e == KE_RETRY) &&
		    !(s == KS_UNLINKED && e == KE_START) && !(s == KS_GOING && e == KE_MODEL))
			fail_combo("connects outside retry/start", s, e, fi, o);
		/* A linked state stays linked unless the link closed or is closed. */
		if (kfsm_linked((enum kfsm_state)s) && !kfsm_linked(o.state) &&
		    e != KE_CLOSED && !(o.actions & KA_CLOSE) && o.state != KS_GOING &&
		    !(o.actions & (KA_FAIL | KA_AUTH)))
			fail_combo("lost the link without closing it", s, e, fi, o);
	}
}

TEST(fsm_names)
{
	for (int s = 0; s < KS_COUNT; s++)
		CHECK(strcmp(kfsm_state_name((enum kfsm_state)s), "?") != 0);
	for (int e = 0; e < KE_COUNT; e++)
		CHECK(strcmp(kfsm_event_name((enum kfsm_event)e), "?") != 0);
	CHECK_STR(kfsm_state_name(KS_BUSY), "busy");
	CHECK(kfsm_step(KS_IDLE, KE_ROUND, NULL).state == KS_WAITING);	/* NULL facts */
}

void suite_kernel_fsm(void)
{
	RUN(fsm_table);
	RUN(fsm_never_sends_into_a_busy_kernel);
	RUN(fsm_once_never_waits_for_a_later_round);
	RUN(fsm_gone_refused_and_missing);
	RUN(fsm_names);
}
