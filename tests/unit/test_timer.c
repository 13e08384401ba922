/* SPDX-License-Identifier: MIT */
/* Unit tests for timer.c: round batching. */
#include "timer.h"
#include "unit.h"

#define S 1000000LL	/* microseconds in a second */

TEST(timer_batch_joins_within_jitter)
{
	struct timer_batch tab[4] = {{0}};

	/* The first draw makes the batch; another round of the same interval
	 * within reach of it (60 s ± 10 %) joins it, whatever it drew. */
	CHECK(timer_batch_pick(tab, 4, 100 * S, 60000, 10, 63000) == 63000);
	CHECK(timer_batch_pick(tab, 4, 100 * S, 60000, 10, 57000) == 63000);
	/* A second later the batch is 62 s away: still within 54..66 s. */
	CHECK(timer_batch_pick(tab, 4, 101 * S, 60000, 10, 55000) == 62000);
	/* Another interval or jitter is another batch. */
	CHECK(timer_batch_pick(tab, 4, 100 * S, 30000, 10, 31000) == 31000);
	CHECK(timer_batch_pick(tab, 4, 100 * S, 60000, 0, 60000) == 60000);
	/* Out of reach: 20 s later the batch is 43 s away, under 54 s. */
	CHECK(timer_batch_pick(tab, 4, 120 * S, 60000, 10, 59000) == 59000);
}

TEST(timer_batch_no_jitter_meets_moments_apart)
{
	struct timer_batch tab[2] = {{0}};

	/* --jitter 0: rounds started a few ms apart share one wakeup (1 % slack). */
	CHECK(timer_batch_pick(tab, 2, 10 * S, 5000, 0, 5000) == 5000);
	CHECK(timer_batch_pick(tab, 2, 10 * S + 3000, 5000, 0, 5000) == 4997);
	/* but not a round that started half an interval later */
	CHECK(timer_batch_pick(tab, 2, 12500000LL, 5000, 0, 5000) == 5000);
	/* A batch that is due already is forgotten. */
	CHECK(timer_batch_pick(tab, 2, 16 * S, 5000, 0, 5000) == 5000);
}

TEST(timer_batch_full_table)
{
	struct timer_batch tab[1] = {{0}};

	CHECK(timer_batch_pick(tab, 1, 0, 1000, 0, 1000) == 1000);
	/* full: the new interval takes the slot, the old one is forgotten */
	CHECK(timer_batch_pick(tab, 1, 0, 2000, 0, 2000) == 2000);
	CHECK(tab[0].interval_ms == 2000);
	CHECK(timer_batch_pick(tab, 1, 0, 1000, 0, 1000) == 1000);
}

void suite_timer(void)
{
	RUN(timer_batch_joins_within_jitter);
	RUN(timer_batch_no_jitter_meets_moments_apart);
	RUN(timer_batch_full_table);
}
