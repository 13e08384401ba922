/*
 * daemon: detaching from a notebook cell, one state file per running agent,
 * and the two commands that read them: --status and --stop.
 *
 * State directory (daemon_state_dir): $AGENT_STATE_DIR if set, else
 * $XDG_RUNTIME_DIR/jupyter-keepalive, else ~/.local/state/jupyter-keepalive;
 * mode 0700, owned by us.
 *
 * State file: <dir>/agent-<pid>.json, mode 0600, replaced atomically
 * (rename) on every write so a reader never sees half a file. Its JSON is the
 * status model (status.h) in these fields, which no other module names:
 *
 *   pid          number
 *   started      epoch seconds
 *   kernels      [kernel id, ...] of every target    (what --stop KERNEL matches)
 *   targets      [{name, url (redacted), kernel (first kernel's short id, or ""),
 *                  mode ("execute", "http", "both", "ping"),
 *                  kernels [{id, short, state, execution_state,
 *                            busy_since, last_ack (epoch or null), rtt_ms}],
 *                  last_keepalive (epoch or null), last_result (string),
 *                  next_keepalive (epoch or null),
 *                  culler (null, or {kernel_activity_age_s, server_activity_age_s,
 *                          hub_activity_age_s (whole seconds or null),
 *                          warning (string or null)}),
 *                  acks (number), record (path; absent when not recording)}, ...]
 *   log          path of the log file ("" for a foreground agent)
 *   stop         human text of the stop conditions, e.g. "when pid 42 ends"
 *   exit_reason  null while running, then why it stopped
 *   exited       null while running, then epoch seconds
 *   exit_code    absent while running, then the exit code
 *   lingering    absent, or {until (epoch seconds), reason}: the job ended and
 *                --linger keeps the session until then
 *   exe          string: /proc/<pid>/exe at start (added when the model has none)
 *
 * Missing or mistyped fields are shown as "-" (or "never", or left out),
 * never trusted for signals. Older agents' files read the same: the fields
 * only ever grew.
 *
 * An agent counts as running when its pid is alive (not a zombie) *and*
 * /proc/<pid>/exe is still the exe recorded in its state file: a pid reused
 * by another program is never reported, and never signalled.
 * Files of agents that exited are kept for 24 h, so --status can say why an
 * agent stopped; daemon_print_status() removes older ones.
 */
#ifndef AGENT_DAEMON_H
#define AGENT_DAEMON_H

#include <stddef.h>
#include <stdio.h>
#include <sys/types.h>

#include <jansson.h>

#include "status.h"

/* How long daemon_stop() waits for agents to exit after SIGTERM. */
#define DAEMON_STOP_WAIT_MS 5000

/* How long state files of exited agents are kept. */
#define DAEMON_KEEP_EXITED_SECS (24 * 3600)

/*
 * Find the state directory (see above), create it and its parents with mode
 * 0700 if needed, tighten it to 0700 if it is looser, and check that it is a
 * directory (not a symlink) owned by us. Writes the path into out.
 * Returns 0, or -1 after logging why.
 */
int daemon_state_dir(char *out, size_t outlen);

/*
 * Leave the notebook kernel's process group and session, so that neither an
 * interrupt of the cell (SIGINT to the kernel's group) nor the end of the
 * cell's shell or terminal (SIGHUP) reaches the agent, and so that the cell
 * finishes instead of waiting for our output to end. (ipykernel runs `!cmd`
 * in the kernel's own process group and refuses `!cmd &`: ipykernel
 * zmqshell.py and IPython's utils/_process_posix.py system().)
 *
 * fork(); the child calls setsid(), then points stdin at /dev/null and
 * stdout and stderr at log_path (opened O_APPEND, created 0600; /dev/null
 * when log_path is NULL). Signals SIGHUP and SIGINT that were aimed at the old
 * process group during the fork-to-setsid window are discarded; after that
 * their handling is the caller's again (SIGHUP means "reload config", and
 * with no controlling terminal nothing sends it by accident).
 * The working directory is kept: relative paths from the command line stay
 * valid. Other open descriptors are inherited, so detach before opening
 * sockets, signalfds or the lws context.
 *
 * The parent waits until the child has done all this, so when it returns
 * 1, the child is safely detached and the parent can print its summary and
 * exit 0. daemon_child_pid() then gives the child's pid.
 *
 * Returns 1 in the parent, 0 in the child, -1 (parent, nothing forked or
 * the child gave up) after logging why, with errno set.
 */
int daemon_detach(const char *log_path);

/* In the parent, after daemon_detach() returned 1: the detached agent's pid. */
pid_t daemon_child_pid(void);

/*
 * The launch report: a notebook cell should not say "running" before
 * anything was checked. The detached child calls daemon_launch_report()
 * once its first round is verified (code 0) or its start failed (the exit
 * code it ends with), with one sentence; later calls, and calls in a
 * process that did not detach, do nothing.
 */
void daemon_launch_report(int code, const char *msg);

/*
 * In the parent: wait up to timeout_ms for that report. Returns its code
 * and sentence (in msg), or -1 when none came in time (the child is still
 * working on it). A child that died without a word gives 1.
 */
int daemon_launch_wait(int timeout_ms, char *msg, size_t msglen);

/* The state file's JSON for a (new reference; NULL when it cannot be encoded). */
json_t *daemon_state_json(const struct agent_status *a);

/* One target's entry of "targets" (new reference). */
json_t *daemon_target_json(const struct target_status *t);

/*
 * Read a state document back into a (which the caller clears with
 * status_agent_clear). Missing or mistyped fields read as unknown (status.h).
 * Returns 0, or -1 when doc is not a JSON object or memory ran out; a is
 * empty then.
 */
int daemon_state_parse(json_t *doc, struct agent_status *a);

/*
 * Write a's state file, <dir>/agent-<a->pid>.json; what the supervisor calls
 * after each change, and once more at exit with ended, exit_reason,
 * exit_code and exited set. Returns 0, or -1 after logging why.
 */
int daemon_state_store(const char *dir, const struct agent_status *a);

/* Read <dir>/agent-<pid>.json into a (daemon_state_parse); -1 when missing or unreadable. */
int daemon_state_load(const char *dir, pid_t pid, struct agent_status *a);

/*
 * The lower level, for a document already built: write state (not stolen)
 * to <dir>/agent-<pid>.json atomically, mode 0600. Adds "exe" (readlink
 * /proc/<pid>/exe) to the file when state has none; state itself is not
 * modified. Returns 0, or -1 after logging why.
 */
int daemon_state_write(const char *dir, pid_t pid, json_t *state);

/*
 * The agent is exiting: set "exit_reason", "exit_code" and "exited" (now) in
 * state and write it, so --status can show the reason afterwards. Failures
 * are logged. (For a document built elsewhere; with the status model, set
 * those fields and call daemon_state_store.)
 */
void daemon_state_finish(const char *dir, pid_t pid, json_t *state, int code, const char *reason);

/* Read <dir>/agent-<pid>.json: a new reference, or NULL when missing or not a JSON object. */
json_t *daemon_state_read(const char *dir, pid_t pid);

/* Remove <dir>/agent-<pid>.json (missing is fine). */
void daemon_state_remove(const char *dir, pid_t pid);

/*
 * Is a running agent keeping kernel_id (an exact entry of its "kernels")?
 * Returns 1 and sets *pid (may be NULL), else 0. An unreadable directory
 * counts as "none".
 */
int daemon_find_running(const char *dir, const char *kernel_id, pid_t *pid);

/*
 * Print running agents (pid, uptime, each target's url, kernel, last and next
 * keepalive, stop conditions, log) and agents that exited within 24 h (why
 * and when) as aligned plain text; "no agent is running (state dir DIR)" when
 * none runs. Removes state files of agents that exited more than 24 h ago.
 */
void daemon_print_status(const char *dir, FILE *out);

/*
 * SIGTERM every running agent, or only those keeping kernel_id (a full id, or
 * a prefix of at least 4 characters; an ambiguous prefix is an error). Waits
 * up to DAEMON_STOP_WAIT_MS for them to exit and prints one line per agent.
 * Never signals a pid whose /proc/<pid>/exe is not the exe in its state file.
 * Returns how many agents stopped (0 when none matched), or -1 on error (bad
 * kernel id, unreadable state dir), after printing why to out.
 */
int daemon_stop(const char *dir, const char *kernel_id, FILE *out);

#endif
