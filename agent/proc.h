/*
 * proc: what /proc says about a process: its state and parent
 * ("PID (COMM) STATE PPID …" in /proc/PID/stat), and whether it is gone.
 */
#ifndef AGENT_PROC_H
#define AGENT_PROC_H

#include <sys/types.h>

/*
 * Parse the text of /proc/PID/stat. COMM may hold spaces and ')' itself, so
 * the last ')' closes it. Returns 0 with *state ('R', 'S', 'Z', …) and *ppid,
 * or -1 when the text is not of that form.
 */
int proc_parse_stat(const char *text, char *state, pid_t *ppid);

/*
 * Has process pid terminated? kill(pid, 0) still succeeds for a zombie, so
 * its state in /proc is read too; EPERM means it exists (another user's).
 */
int proc_pid_gone(pid_t pid);

#endif
