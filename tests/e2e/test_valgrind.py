# SPDX-License-Identifier: MIT
"""valgrind memcheck of an accelerated run: at least 1000 keepalives that
the kernels of a real jupyter_server saw, with 0 errors and 0 definite or
indirect leaks.

The interval cannot go below 1 s, so the run is made of breadth instead:
20 kernels kept with kernel = all at a 1 s interval for 60 s (about 1100
round trips). Along the way it exercises the other paths that allocate:
a kernel is deleted and another started (dropped and picked up), and
SIGHUP reloads add and then remove a ping target while the kernel target
keeps its connections.

Slow (about 90 s), so it runs only from `make valgrind` (AGENT_VALGRIND=1).
"""
import os
import re
import shutil
import signal
import time

import pytest

import harness

pytestmark = pytest.mark.skipif(not os.environ.get("AGENT_VALGRIND"),
                                reason="slow; run with make valgrind")

KERNELS = 20
RUN_SECS = 60


def test_memcheck_1000_round_trips(make_server, agent, tmp_path):
    valgrind = shutil.which("valgrind")
    assert valgrind, "valgrind is not installed (apt-get install valgrind)"
    srv = make_server(cull_idle_timeout=0)     # no culler: kernels wait for the agent
    kernels = [srv.start_kernel() for _ in range(KERNELS)]
    # Each kernel answers before anything connects: one that lost a race for
    # its random ports is restarted by the server, and a channel opened
    # meanwhile waits for it past the harness's timeout.
    for k in kernels:
        srv.execute(k, "pass", timeout=90)

    base = "[lab]\nurl = %s\ntoken = %s\nkernel = all\ninterval = 1s\njitter = 0\n" % (
        srv.url, srv.token)
    ping = ("[ping]\nping_url = %sapi/status\nheader = Authorization: token %s\ninterval = 1s\n"
            % (srv.url, srv.token))
    cfg = tmp_path / "agent.ini"
    cfg.write_text(base)
    cfg.chmod(0o600)

    # What the kernels saw of the agent's keepalives (each one's busy/idle
    # on IOPub), counted on connections of the test's own.
    monitors = {k: harness.IOPubMonitor(srv, k).start() for k in kernels}

    vlog = tmp_path / "valgrind.log"
    env = agent.env()
    run = harness.start_agent(valgrind, [
        "--leak-check=full", "--errors-for-leak-kinds=definite,indirect",
        "--error-exitcode=99", "--log-file=%s" % vlog, "--track-fds=no",
        agent.bin, "-c", cfg, "--for", "%ds" % RUN_SECS, "--foreground", "-v"], env, agent.dir)
    agent.runs.append(run)

    def at(t, what):
        time.sleep(max(0, t - (time.monotonic() - run.started)))
        assert run.running(), "agent exited before %s\n%s" % (what, run.describe())

    at(20, "the kernel churn")
    srv.delete_kernel(kernels[0])
    late = srv.start_kernel()
    monitors[late] = harness.IOPubMonitor(srv, late).start()
    at(30, "the first reload")
    cfg.write_text(base + ping)
    run.send_signal(signal.SIGHUP)
    at(40, "the second reload")
    cfg.write_text(base)
    run.send_signal(signal.SIGHUP)

    try:
        code = harness.exits(run, RUN_SECS + 60, "it started with --for %ds" % RUN_SECS)
    finally:
        for m in monitors.values():
            m.stop()
    acks = sum(len(m.foreign_requests()) for m in monitors.values())
    report = vlog.read_text(errors="replace")
    out = run.output()
    detail = "%s\n--- valgrind ---\n%s" % (run.describe(), report[-6000:])
    assert code == 0, "exit %s (99 = valgrind found errors)\n%s" % (code, detail)
    assert re.search(r"ERROR SUMMARY: 0 errors", report), detail
    assert re.search(r"definitely lost: 0 bytes", report) or "All heap blocks were freed" in report, detail
    assert re.search(r"indirectly lost: 0 bytes", report) or "All heap blocks were freed" in report, detail
    assert acks >= 900, "the kernels saw only %d keepalives\n%s" % (acks, detail)
    assert out.count("config reloaded") == 2, detail
    assert "ping answered HTTP 200" in out, detail
    assert "keeping kernel %s" % late in out, detail
    print("valgrind: %d keepalives seen by the kernels, 0 errors, 0 definite/indirect leaks" % acks)
