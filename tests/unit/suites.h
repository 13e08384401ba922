/* One line per suite: SUITE(suite_name). Keep in step with tests/unit/test_*.c. */
