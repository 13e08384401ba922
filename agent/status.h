/* SPDX-License-Identifier: MIT */
/*
 * status: what `--status` shows about a running agent, as plain data.
 *
 * The targets fill struct target_status (target_status(), with the culler
 * reading from verify_status()); the supervisor fills struct agent_status
 * around them; daemon.c alone turns it into the state file's JSON and reads
 * it back (daemon_state_json, daemon_state_parse), so the field names live
 * in one place.
 *
 * Times are epoch seconds, 0 when unknown or none; text is "" when unknown
 * (read back, a missing or mistyped name, url or stop reads as "-", as
 * --status shows it). The arrays are owned by the struct: status_*_clear()
 * frees them, and leaves the struct empty.
 */
#ifndef AGENT_STATUS_H
#define AGENT_STATUS_H

#include <limits.h>
#include <stdlib.h>

/* One kept kernel. */
struct kernel_status {
	char id[80];
	char state[16];			/* kernel_fsm's state (kfsm_state_name) */
	char execution_state[16];	/* "busy" while a cell runs, else the server's, or "unknown" */
	double busy_since;		/* first seen busy; 0 when not busy */
	double last_ack;		/* last keepalive acknowledged; 0 = never */
	long rtt_ms;			/* its round trip */
};

/* What the cullers see (verify.h), as of the latest read-back. */
struct culler_status {
	int known;			/* 0: nothing is read back for this target (ping) */
	long kernel_age_s;		/* whole seconds since each layer's activity; -1 = unknown */
	long server_age_s;
	long hub_age_s;
	char warning[900];		/* the layers' "did not move" warnings; "" = none */
};

/* One target. */
struct target_status {
	char name[256];
	char url[1024];			/* redacted */
	char mode[16];			/* "execute", "http", "both" or "ping" */
	struct kernel_status *kernels;	/* nkernels of them, the first is the target's kernel */
	size_t nkernels;
	double last_keepalive;		/* last verified keepalive or ping */
	char last_result[900];		/* "ok: …", "busy: …", "failed: …", "starting" */
	double next_keepalive;		/* the next round */
	unsigned long acks;		/* keepalives acknowledged so far */
	struct culler_status culler;
	char record[PATH_MAX];		/* the output record's file; "" when not recording */
};

/* One agent: what its state file holds. */
struct agent_status {
	int pid;
	double started;
	struct target_status *targets;	/* ntargets of them */
	size_t ntargets;
	char stop[600];			/* the stop conditions, in words */
	double linger_until;		/* --linger: the job ended, kept until then; 0 = not lingering */
	char linger_reason[300];	/* why the job ended */
	char log[PATH_MAX];		/* the log file; "" = its terminal (foreground) */
	char exe[PATH_MAX];		/* /proc/<pid>/exe at start; "" = unknown */
	/* Set when it stops: */
	int ended;			/* 0 while running */
	char exit_reason[1024];
	int exit_code;			/* -1 = not recorded */
	double exited;
};

static inline void status_target_clear(struct target_status *t)
{
	free(t->kernels);
	t->kernels = NULL;
	t->nkernels = 0;
}

static inline void status_agent_clear(struct agent_status *a)
{
	for (size_t i = 0; i < a->ntargets; i++)
		status_target_clear(&a->targets[i]);
	free(a->targets);
	a->targets = NULL;
	a->ntargets = 0;
}

#endif
