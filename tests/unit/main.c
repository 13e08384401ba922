/* SPDX-License-Identifier: MIT */
/* The unit-test runner: calls every suite, prints failures and a summary. */
#include <stdio.h>

#include "unit.h"

int unit_failed_now;
static int passed, failed;

void unit_run(const char *name, unit_fn fn)
{
	unit_failed_now = 0;
	fn();
	if (unit_failed_now) {
		printf("failed: %s\n", name);
		failed++;
	} else {
		passed++;
	}
}

/* Each tests/unit/test_*.c file defines one suite. */
/* Weak, so a suite not yet written is simply skipped. */
#define SUITE(s) void s(void) __attribute__((weak));
#include "suites.h"
#undef SUITE

int main(void)
{
#define SUITE(s) if (s) s();
#include "suites.h"
#undef SUITE
	printf("%d passed, %d failed\n", passed, failed);
	return failed ? 1 : 0;
}
