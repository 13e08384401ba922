/* SPDX-License-Identifier: MIT */
/* One line per suite, each defined in a tests/unit/test_*.c file. */
SUITE(suite_config)
SUITE(suite_jmsg)
SUITE(suite_log)
SUITE(suite_target)
SUITE(suite_discover)
SUITE(suite_daemon)
SUITE(suite_notify)
SUITE(suite_verify)
SUITE(suite_kernel_fsm)
SUITE(suite_recorder)
SUITE(suite_proxy)
SUITE(suite_url)
