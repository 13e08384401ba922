/* SPDX-License-Identifier: MIT */
/*
 * A tiny unit-test runner. Each test file defines functions with TEST(name)
 * and lists them with UNIT_REGISTER in its suite function; main.c calls the
 * suites. A failed CHECK prints one line and marks the test failed; the
 * runner ends with "N passed, N failed".
 */
#ifndef UNIT_H
#define UNIT_H

#include <stdio.h>
#include <string.h>

extern int unit_failed_now;	/* set by CHECK in the current test */

#define CHECK(cond) do { \
	if (!(cond)) { \
		printf("FAIL %s:%d: %s\n", __FILE__, __LINE__, #cond); \
		unit_failed_now = 1; \
	} \
} while (0)

#define CHECK_STR(a, b) do { \
	const char *a_ = (a), *b_ = (b); \
	if (!a_ || !b_ || strcmp(a_, b_) != 0) { \
		printf("FAIL %s:%d: %s == \"%s\", want \"%s\"\n", __FILE__, __LINE__, \
		       #a, a_ ? a_ : "(null)", b_ ? b_ : "(null)"); \
		unit_failed_now = 1; \
	} \
} while (0)

#define CHECK_CONTAINS(hay, needle) do { \
	const char *h_ = (hay), *n_ = (needle); \
	if (!h_ || !strstr(h_, n_)) { \
		printf("FAIL %s:%d: \"%s\" does not contain \"%s\"\n", __FILE__, __LINE__, \
		       h_ ? h_ : "(null)", n_); \
		unit_failed_now = 1; \
	} \
} while (0)

typedef void (*unit_fn)(void);
void unit_run(const char *name, unit_fn fn);

#define TEST(name) static void name(void)
#define RUN(name) unit_run(#name, name)

#endif
