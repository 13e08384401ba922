/* SPDX-License-Identifier: MIT */
/* Unit tests for proc.c: /proc/PID/stat parsing and pid liveness. */
#include <unistd.h>

#include "proc.h"
#include "unit.h"

TEST(proc_stat_text)
{
	char st = 0;
	pid_t pp = 0;

	CHECK(proc_parse_stat("42 (python3) S 7 42 42 0", &st, &pp) == 0);
	CHECK(st == 'S' && pp == 7);
	/* a command name with spaces and parentheses */
	CHECK(proc_parse_stat("42 (a) b (c)) Z 1 0", &st, &pp) == 0);
	CHECK(st == 'Z' && pp == 1);
	CHECK(proc_parse_stat("42 python3 S 7", &st, &pp) == -1);
	CHECK(proc_parse_stat("42 (x)", &st, &pp) == -1);
	CHECK(proc_parse_stat(NULL, &st, &pp) == -1);
}

TEST(proc_gone)
{
	CHECK(proc_pid_gone(getpid()) == 0);
	CHECK(proc_pid_gone(1) == 0);			/* exists (maybe another user's) */
	CHECK(proc_pid_gone(0x3ffffff0) == 1);	/* beyond pid_max */
}

void suite_proc(void)
{
	RUN(proc_stat_text);
	RUN(proc_gone);
}
