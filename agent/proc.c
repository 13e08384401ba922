/* proc: see proc.h. */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>

#include "proc.h"

int proc_parse_stat(const char *text, char *state, pid_t *ppid)
{
	const char *rp = text ? strrchr(text, ')') : NULL;
	int pp;

	if (!rp || sscanf(rp + 1, " %c %d", state, &pp) != 2 || pp < 0)
		return -1;
	*ppid = (pid_t)pp;
	return 0;
}

int proc_pid_gone(pid_t pid)
{
	char path[64], buf[512], state;
	pid_t ppid;
	FILE *f;
	size_t n;

	if (kill(pid, 0) < 0 && errno == ESRCH)
		return 1;
	snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
	f = fopen(path, "re");
	if (!f)
		return 0;
	n = fread(buf, 1, sizeof(buf) - 1, f);
	fclose(f);
	buf[n] = '\0';
	return proc_parse_stat(buf, &state, &ppid) == 0 && (state == 'Z' || state == 'X');
}
