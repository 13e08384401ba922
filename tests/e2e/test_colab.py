# SPDX-License-Identifier: MIT
"""Colab-shaped discovery: a real jupyter_server shaped like the one inside a
Colab VM (no token, found only through COLAB_JUPYTER_IP and KMP_TARGET_PORT,
no runtime file naming it), and `!agent` typed into one of its kernels.

The kept kernel must outlive the 6 s kernel culler while a control kernel is
culled, and the cell's output must say honestly what Colab counts.
"""
import os
import threading
import time

import pytest

import harness

CULL = 6
SURVIVE = 16
CELL_LIMIT = 10      # issue 3 wants < 3 s; generous here


class ColabShapedServer(harness.JupyterServer):
    """A jupyter_server with authentication off, as Colab's in-VM server:
    no token, no password, and no XSRF check (so that anonymous POSTs such
    as starting a kernel work on jupyter_server 1.23)."""

    def __init__(self, base_dir, **kw):
        super().__init__(base_dir, cull_idle_timeout=CULL, cull_interval=1,
                         cull_connected=True,
                         extra_args=["--ServerApp.password=",
                                     "--ServerApp.disable_check_xsrf=True"], **kw)
        self.token = ""     # argv() then passes --ServerApp.token= (empty)


@pytest.fixture
def colab(tmp_path, monkeypatch, request):
    """A Colab-shaped server. Its environment (inherited by its kernels, and
    by !commands in them) holds COLAB_JUPYTER_IP and KMP_TARGET_PORT, and an
    AGENT_STATE_DIR of the test's own. Its runtime files are removed after
    start, so only the Colab variables can lead the agent to it."""
    srv = ColabShapedServer(tmp_path / "colab")
    state = tmp_path / "agent-state"
    monkeypatch.setenv("COLAB_JUPYTER_IP", "127.0.0.1")
    monkeypatch.setenv("KMP_TARGET_PORT", str(srv.port))
    monkeypatch.setenv("AGENT_STATE_DIR", str(state))
    monkeypatch.delenv("COLAB_JUPYTER_TOKEN", raising=False)
    monkeypatch.delenv("JUPYTER_TOKEN", raising=False)
    request.node._e2e_servers = getattr(request.node, "_e2e_servers", []) + [srv]
    srv.start()
    srv.state_dir = state
    try:
        # Anonymous API access must work, or the test proves nothing.
        st, _ = srv.api("GET", "api/kernels", token="")
        assert st == 200, "anonymous GET /api/kernels -> %s" % st
        for f in srv.runtime_dir.glob("jpserver-*"):
            f.unlink()
        assert not list(srv.runtime_dir.glob("jpserver-*.json"))
        yield srv
    finally:
        for pid in agent_pids(srv):
            harness.kill_pid(pid)
        srv.stop()


def agent_pids(srv):
    """Agents started for this server: processes whose environment holds its
    KMP_TARGET_PORT and whose executable is the agent under test."""
    want = ("KMP_TARGET_PORT=%d" % srv.port).encode()
    out = []
    for d in os.listdir("/proc"):
        if not d.isdigit():
            continue
        try:
            # " (deleted)" when make rebuilt the binary while it runs
            exe = os.readlink("/proc/%s/exe" % d)
            if os.path.basename(exe).split(" ")[0] != "agent":
                continue
            with open("/proc/%s/environ" % d, "rb") as f:
                if want in f.read().split(b"\0"):
                    out.append(int(d))
        except OSError:
            continue
    return out


def run_cell(srv, kernel_id, code, limit):
    """Execute code in the kernel from a thread. Returns (seconds, output) or
    (None, None) when the cell has not finished within `limit` s."""
    box = {}

    def go():
        try:
            box["result"] = srv.execute(kernel_id, code, timeout=limit + 60)
        except Exception as e:      # reported by the caller
            box["error"] = e

    t0 = time.monotonic()
    th = threading.Thread(target=go, daemon=True)
    th.start()
    th.join(limit)
    if th.is_alive():
        return None, None, th
    if "error" in box:
        raise box["error"]
    return time.monotonic() - t0, box["result"][1], th




def keeps_alive_from_a_cell(srv, command):
    kept = srv.start_kernel()
    control = srv.start_kernel()
    secs, out, th = run_cell(srv, kept, "!%s" % command, CELL_LIMIT)
    if secs is None:
        pids = agent_pids(srv)
        for pid in pids:
            harness.kill_pid(pid)
        th.join(15)
        pytest.fail("`!%s` blocked the cell for more than %d s (agent pid(s) %s still "
                    "attached): the agent did not detach. (Under ipykernel, `!cmd` runs on a "
                    "pty, so stdout is a terminal inside a cell. An attached agent cannot even "
                    "connect: the server holds the WebSocket handshake until kernel_info is "
                    "answered, which waits behind the running cell.)"
                    % (command, CELL_LIMIT, pids))
    assert "Traceback" not in out, out
    gone = harness.watch(srv, SURVIVE, keep=[kept], culled=[control])
    assert control in gone, "control kernel was not culled within %d s: culler not working?" \
        % SURVIVE
    age = harness.utcnow() - harness.parse_time(srv.kernel(kept)["last_activity"])
    assert age.total_seconds() < CULL, "kept kernel idle for %s" % age
    pids = agent_pids(srv)
    assert pids, "no agent process is running for this server"
    return kept, out, secs


def check_output(out, kept):
    assert kept[:8] in out, "the cell output does not name the kernel %s:\n%s" % (kept[:8], out)
    assert "Colab" in out, (
        "the cell output has no honest line about what Colab counts (in-VM activity keeps "
        "the kernel and the VM's Jupyter server active, but Colab's own idle timer may only "
        "count browser or tunnel activity):\n" + out)


def test_bare_agent_in_a_colab_shaped_kernel(agent_bin, colab):
    """The issue's case: `!<abs path>/build/agent --interval 2s`, nothing else."""
    kept, out, secs = keeps_alive_from_a_cell(colab, "%s --interval 2s" % agent_bin)
    check_output(out, kept)
    assert secs < 5, "the cell took %.1f s to return:\n%s" % (secs, out)


def test_detached_agent_in_a_colab_shaped_kernel(agent_bin, colab):
    """The same with --detach forced, so that Colab-shaped discovery and the
    keepalive are checked even if the default detaching decision is wrong."""
    kept, out, secs = keeps_alive_from_a_cell(colab, "%s --interval 2s --detach" % agent_bin)
    check_output(out, kept)
    assert "found Colab server" in out or "COLAB_JUPYTER_IP" in out, (
        "the output does not say the server was found through Colab's environment:\n" + out)
