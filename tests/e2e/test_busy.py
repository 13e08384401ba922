# SPDX-License-Identifier: MIT
"""The agent's picture of the kernel (issue 9): right while a long cell runs,
right when the kept kernel goes away, right about a notebook that has no
session. Real servers and kernels throughout; the one test double is
fake_proxy, for a connection cut in the middle of a cell.

A keepalive "queued behind the cell" is one the agent created while the
user's cell ran: the kernel's IOPub messages carry each request's header,
whose date says when the agent made it.
"""
import re
import time

import harness
from fake_proxy import FakeProxy

CELL_SECS = 45      # the user's silent training step
INTERVAL = 2        # the agent's interval in the busy tests


class LongCell:
    """A user's silent cell, sent on a channel of its own; an IOPub monitor
    on another channel records what the kernel did meanwhile."""

    def __init__(self, server, kernel_id, secs):
        self.server, self.k = server, kernel_id
        self.mon = harness.IOPubMonitor(server, kernel_id).start()
        self.ch = server.channel(kernel_id)
        self.started = time.time()
        self.ended = None
        self.mid = self.ch.start_cell("import time; time.sleep(%d)" % secs)

    def wait(self, timeout):
        """Wait for the cell's reply; remember when it ended (wall time)."""
        self.ch.wait_for_reply(self.mid, "execute_reply", timeout)
        self.ended = time.time()

    def agent_requests(self):
        """{msg_id: creation time} of execute_requests from neither this test's
        cell nor its monitor, as seen on IOPub: the agent's keepalives."""
        ours = {self.ch.session, self.mon.ch.session}
        seen = {}
        with self.mon._lock:
            msgs = list(self.mon.messages)
        for m in msgs:
            p = m.get("parent_header") or {}
            if p.get("msg_type") == "execute_request" and p.get("session") not in ours:
                seen[p["msg_id"]] = harness.parse_time(p["date"]).timestamp()
        return seen

    def queued_behind(self):
        """The agent's requests made while the cell ran (0.3 s of slack for
        the status that ended it to travel)."""
        return [mid for mid, t in self.agent_requests().items()
                if self.started < t < self.ended - 0.3]

    def close(self):
        self.mon.stop()
        self.ch.close()


def keep_args(url, kernel, interval=INTERVAL, extra=()):
    return ["--url", url, "--kernel", kernel, "--interval", "%ds" % interval,
            "--foreground"] + list(extra)


def test_a_long_cell_is_left_alone(server, agent, tmp_path):
    """Started while a 45 s silent cell runs (directly, and through a
    connection cut mid-cell): no warning, no keepalive queued behind the
    cell, --status says busy, the first keepalive after the cell is
    acknowledged within an interval."""
    ready = server.start_kernel()
    server.execute(ready, "pass", timeout=60)
    cut = server.start_kernel()
    server.execute(cut, "pass", timeout=60)
    control = server.start_kernel()
    state = tmp_path / "state"
    env = agent.env(token=server.token, extra={"AGENT_STATE_DIR": str(state)})
    proxy = FakeProxy(server.port).start()
    cells = {}
    try:
        cells[ready] = LongCell(server, ready, CELL_SECS)
        cells[cut] = LongCell(server, cut, CELL_SECS)
        direct = agent.start(keep_args(server.url, ready), env=env)
        proxied = agent.start(keep_args(proxy.url, cut), env=env)
        _, at = harness.wait_line(proxied, r"connected to kernel %s" % cut[:8], what="a connection")
        harness.wait_line(direct, r"connected to kernel %s" % ready[:8], what="a connection")

        time.sleep(6)
        st = agent.status(env)
        assert re.search(r"kernel %s busy for [^(]+ \(a busy kernel is not culled\)" % ready[:8], st), \
            "--status does not say the kernel is busy:\n" + st
        assert "never" not in st, "--status still says 'never' during the cell:\n" + st
        assert server.token not in st

        proxy.drop()        # the network drops the link mid-cell
        _, at = harness.wait_line(proxied, r"connected to kernel %s" % cut[:8], since=at, timeout=20,
                                  what="a reconnect after the cut")

        for k, c in cells.items():
            c.wait(CELL_SECS + 30)
        for run, k in ((direct, ready), (proxied, cut)):
            harness.wait_line(run, r"kernel %s: keepalive acknowledged" % k[:8], timeout=INTERVAL * 2 + 2,
                              what="the first keepalive after the cell (within an interval plus jitter)")
        first_after = {k: min((t for t in c.agent_requests().values() if t >= c.ended - 0.3),
                              default=None) for k, c in cells.items()}
        for k, t in first_after.items():
            assert t is not None and t - cells[k].ended < INTERVAL * 1.1 + 1, \
                "kernel %s: first keepalive %.1f s after the cell" % (k[:8], (t or 0) - cells[k].ended)

        for run, k in ((direct, ready), (proxied, cut)):
            out = run.output()
            assert not cells[k].queued_behind(), \
                "keepalives sent into the busy kernel %s: %s" % (k[:8], cells[k].queued_behind())
            warned = harness.lines(out, r"WARN|ERROR")
            if run is proxied:      # the cut, said once
                assert len(warned) == 1 and "reconnecting in" in warned[0], out
            else:
                assert not warned, "warnings during the cell:\n" + out
            assert not harness.lines(out, r"no reply"), out
        assert len(harness.lines(direct.output(), r"connected to kernel")) == 1, direct.output()
        # One reconnect for the cut, and no other.
        assert len(harness.lines(proxied.output(), r"connected to kernel")) == 2, proxied.output()
        assert not server.alive(control), "control kernel not culled: is the culler on?"
        assert server.alive(ready) and server.alive(cut)
        for run in (direct, proxied):
            harness.stop_clean(run)
    finally:
        for c in cells.values():
            c.close()
        proxy.stop()


def test_bang_once_in_a_busy_notebook(make_server, agent_bin, tmp_path, monkeypatch):
    """`!agent --once` in a cell: its own kernel is busy running that very
    cell, which is safe; one clear line, exit 0, in seconds."""
    with monkeypatch.context() as m:
        m.setenv("AGENT_STATE_DIR", str(tmp_path / "state"))
        srv = make_server()
    k = srv.start_kernel()
    srv.execute(k, "pass", timeout=60)
    t0 = time.monotonic()
    _, out = srv.execute(k, "!%s --once; echo exit=$?" % agent_bin, timeout=30)
    took = time.monotonic() - t0
    assert "exit=0" in out, "--once in a notebook failed:\n" + out
    assert took < 15, "--once took %.1f s:\n%s" % (took, out)
    assert re.search(r"kernel %s is busy running a cell" % k[:8], out), out
    assert "no reply" not in out and srv.token not in out, out


def notify_hook():
    from doubles import RecordingHTTPDouble
    return RecordingHTTPDouble().start()


def gone_events(hook, kernel_id):
    return [r for r in hook.snapshot() if "kernel-gone" in r.text() and kernel_id in r.text()]


def test_a_kept_kernel_that_goes_away_is_reported(server, make_server, agent, write_config):
    """auto: a deleted kernel, and a culled one (culler shorter than the
    interval), are reported within two intervals with what was last seen,
    and notified; the agent goes on with the server. An explicit kernel id
    ends with exit 1 within two intervals."""
    hook = notify_hook()
    quick = make_server(cull_idle_timeout=4)
    try:
        def cfg(name, url, kernel, interval):
            return write_config("[agent]\nnotify_url = %s\nnotify_format = json\n"
                                "[%s]\nurl = %s\nkernel = %s\ninterval = %ds\n"
                                % (hook.url(), name, url, kernel, interval), name + ".ini")

        # deleted, kept by `auto`
        k = server.start_kernel()
        auto = agent.start(["-c", cfg("auto", server.url, "auto", 3), "--foreground"],
                           token=server.token)
        _, at = harness.wait_line(auto, r"kernel %s: keepalive acknowledged" % k[:8], what="a keepalive")
        server.delete_kernel(k)
        deleted = time.monotonic()
        line, at = harness.wait_line(auto, r"WARN.*kernel %s is gone" % k, since=at, timeout=2 * 3 + 1,
                                     what="the warning that kernel %s is gone" % k[:8])
        harness.wait_for(lambda: gone_events(hook, k), 5, what="a kernel-gone notification")
        assert "no longer the most recent" not in auto.output()
        harness.wait_line(auto, r"no kernel is running", since=at, timeout=10,
                          what="the agent going on with the server")
        assert auto.running(), auto.describe()
        k2 = server.start_kernel()
        harness.wait_line(auto, r"kernel %s: keepalive acknowledged" % k2[:8], since=at, timeout=15,
                          what="the agent keeping the server's next kernel")
        print("deleted kernel reported after %.1f s" % (time.monotonic() - deleted))
        harness.stop_clean(auto)

        # culled: the interval (10 s) is longer than the culler (4 s)
        c = quick.start_kernel()
        culled_run = agent.start(["-c", cfg("culled", quick.url, "auto", 10), "--foreground"],
                                 token=quick.token)
        _, at = harness.wait_line(culled_run, r"kernel %s: keepalive acknowledged" % c[:8],
                                  what="a keepalive")
        harness.wait_for(lambda: not quick.alive(c), 30, what="the culler to take %s" % c[:8])
        culled_at = time.monotonic()
        line, _ = harness.wait_line(culled_run, r"WARN.*kernel %s is gone" % c, since=at, timeout=2 * 10 + 1,
                                    what="the warning that the culled kernel is gone")
        assert re.search(r"no activity for \d+s", line) and "interval (10s)" in line, line
        assert "it was shut down" in line, line
        harness.wait_for(lambda: gone_events(hook, c), 5, what="a kernel-gone notification")
        print("culled kernel reported after %.1f s" % (time.monotonic() - culled_at))
        harness.stop_clean(culled_run)

        # an explicit id ends
        e = server.start_kernel()
        fixed = agent.start(["-c", cfg("fixed", server.url, e, 3), "--foreground"],
                            token=server.token)
        harness.wait_line(fixed, r"keepalive acknowledged", what="a keepalive")
        server.delete_kernel(e)
        code = harness.exits(fixed, 2 * 3 + 1, "its kernel was deleted (explicit id)")
        assert code == 1 and harness.lines(fixed.output(), r"kernel %s is gone" % e), fixed.describe()
        for run in (auto, culled_run, fixed):
            assert not harness.lines(run.output(), r"did not move"), run.output()
    finally:
        hook.stop()


def test_a_notebook_without_a_session(server, agent, write_config):
    """notebook:PATH that matches no session: --once fails and lists the
    notebooks that have one; a running agent lists them once while it waits."""
    server.create_session("experiments/train.ipynb")
    server.create_session("scratch.ipynb")
    url, tok = server.url, server.token
    once = agent.run(["--url", url, "--kernel", "notebook:experiment/train.ipynb", "--once"],
                     token=tok, timeout=30)
    out = once.output()
    assert once.code == 1, once.describe()
    assert "experiments/train.ipynb" in out and "scratch.ipynb" in out, out
    assert "only the server was pinged" not in out, out

    run = agent.start(["--url", url, "--kernel", "notebook:experiment/train.ipynb",
                       "--interval", "1s", "--foreground"], token=tok)
    time.sleep(5)
    assert run.running(), run.describe()
    said = harness.lines(run.output(), r"notebooks with sessions: .*experiments/train.ipynb")
    assert len(said) == 1, run.output()
    harness.stop_clean(run)
