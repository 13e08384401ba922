# SPDX-License-Identifier: MIT
"""JupyterHub end-to-end tests: the agent keeps a hub user's server alive, and
shows it with what jupyterhub-idle-culler reads (the hub's last_activity for
the server).

One real JupyterHub 3.0 per module (tests/e2e/hub.py): configurable-http-proxy,
DummyAuthenticator, SimpleLocalProcessSpawner, the hub polling the proxy
every 5 s and single-user servers posting their activity every 5 s. Users
alice and bob; tokens reach the agent only through JUPYTER_TOKEN.
"""
import os
import re
import signal
import threading
import time

import pytest

import hub as hubh
import harness

_MISSING = hubh.missing()
pytestmark = pytest.mark.skipif(_MISSING is not None, reason=_MISSING or "")

CULL_AFTER = 12     # the test culler's idle timeout, seconds
INTERVAL = "2s"


@pytest.fixture(scope="module")
def hub(tmp_path_factory):
    h = hubh.Hub(tmp_path_factory.mktemp("hub"))
    h.start()
    h.tokens = {}
    try:
        for name in ("alice", "bob"):
            h.create_user(name)
            h.tokens[name] = h.user_token(name)
        yield h
    finally:
        h.stop()


@pytest.fixture
def running(hub, request):
    """alice's and bob's servers running. A failed test's report gets the
    hub's log tail (conftest.py reports every object in _e2e_servers)."""
    servers = getattr(request.node, "_e2e_servers", None)
    if servers is None:
        servers = request.node._e2e_servers = []
    servers.append(hub)
    for name in ("alice", "bob"):
        if hub.server_model(name) is None:
            hub.start_server(name)
    return hub


def age(t):
    return (harness.utcnow() - t).total_seconds()


def no_html(text):
    low = text.lower()
    return "<html" not in low and "<!doctype" not in low


def alice_kernel(hub):
    """A kernel in alice's server (through the proxy), for the agent to keep."""
    token = hub.tokens["alice"]
    st, kernels, _ = hub.user_api("alice", token, "GET", "api/kernels")
    assert st == 200, (st, kernels)
    return kernels[0]["id"] if kernels else hub.start_kernel("alice", token)


def idle_cull(hub, timeout):
    """jupyterhub-idle-culler's rule, once: stop every ready server whose
    last_activity (else started) is older than timeout. Returns who was stopped."""
    st, users = hub.api("GET", "/users")
    assert st == 200, (st, users)
    culled = []
    for u in users:
        for name, s in (u.get("servers") or {}).items():
            if not s.get("ready"):
                continue
            last = harness.parse_time(s.get("last_activity") or s["started"])
            if age(last) > timeout:
                path = "/users/%s/server" % u["name"] if not name else \
                    "/users/%s/servers/%s" % (u["name"], name)
                st, v = hub.api("DELETE", path)
                assert st in (202, 204), (st, v)
                culled.append(u["name"])
    return culled


# ---------------------------------------------------------------------------


def test_keeps_hub_server_activity_fresh(running, agent):
    hub = running
    alice_kernel(hub)
    bob_before = hub.server_activity("bob")
    run = agent.start(["--url", hub.user_url("alice"), "--interval", INTERVAL, "--foreground"],
                      token=hub.tokens["alice"])
    time.sleep(20)
    assert run.running(), run.describe()
    alice = hub.server_activity("alice")
    bob = hub.server_activity("bob")
    harness.stop_clean(run)
    assert age(alice) < 8, "the hub saw alice's server active %.0f s ago" % age(alice)
    # bob's record stays where it was (a just-started server settles within
    # one proxy poll, so allow its first seconds).
    assert age(bob) > 14, "bob's server moved from %s to %s" % (bob_before, bob)
    # The agent read back what the cullers see, the hub's record included.
    out = run.output()
    assert re.search(r"culler sees activity \d+ s ago \(kernel\), \d+ s ago \(server\), "
                     r"\d+ s ago \(hub\)", out), out
    assert "did not move" not in out, out
    assert no_html(out)


def test_idle_culler_stops_bob_keeps_alice(running, agent):
    hub = running
    alice_kernel(hub)
    run = agent.start(["--url", hub.user_url("alice"), "--interval", INTERVAL, "--foreground"],
                      token=hub.tokens["alice"])
    culled = {}
    t0 = time.monotonic()
    while time.monotonic() - t0 < 2 * CULL_AFTER + 1:
        for name in idle_cull(hub, CULL_AFTER):
            culled.setdefault(name, time.monotonic() - t0)
        assert "alice" not in culled, "alice's server was culled\n" + run.describe()
        assert run.running(), run.describe()
        time.sleep(2)
    harness.stop_clean(run)
    assert "bob" in culled, "bob's idle server was not culled"
    assert hub.server_model("alice") is not None
    assert hub.server_model("bob") is None


def test_wrong_token_once_exits_3_without_html(running, agent):
    hub = running
    run = agent.run(["--url", hub.user_url("alice"), "--once"], token="not-a-valid-token")
    out = run.output()
    assert run.code == 3, run.describe()
    assert no_html(out), out
    lines = [ln for ln in out.splitlines() if ln.strip()]
    assert len(lines) == 1, out
    # One sentence that names the hub server: "the hub did not accept the
    # token for /user/alice/ …".
    assert "token" in lines[0] and "/user/alice/" in lines[0], out
    assert len(lines[0]) < 300, out


def test_stopped_server_is_gone(running, agent):
    """The agent never starts a server: a stopped one is a target that went
    away (the hub redirects, then answers 424)."""
    hub = running
    hub.stop_server("bob")
    run = agent.run(["--url", hub.user_url("bob"), "--once"], token=hub.tokens["bob"])
    assert run.code == 1, run.describe()
    assert "not running" in run.output(), run.describe()
    assert no_html(run.output())
    # Kept for good: retried for the grace period (two intervals), then exit 1.
    run = agent.run(["--url", hub.user_url("bob"), "--interval", INTERVAL, "--foreground"],
                    token=hub.tokens["bob"], timeout=30)
    assert run.code == 1, run.describe()
    assert no_html(run.output())
    assert hub.server_model("bob") is None, "the agent started bob's server"


def test_once_verifies_hub_round(running, agent):
    hub = running
    alice_kernel(hub)
    run = agent.run(["--url", hub.user_url("alice"), "--once"], token=hub.tokens["alice"])
    out = run.output()
    assert run.code == 0, run.describe()
    assert "round verified" in out, out
    # End to end: the read-back saw the round in every layer, the hub's too.
    assert re.search(r"culler sees activity \d+ s ago \(kernel\), \d+ s ago \(server\), "
                     r"\d+ s ago \(hub\)", out), out


def test_token_without_hub_rights(running, agent, tmp_path, write_config):
    """A token that may use alice's server but not post or read hub activity:
    hub_activity = auto stops posting quietly, = on warns once. The keepalive
    itself is unaffected."""
    hub = running
    alice_kernel(hub)
    token = hub.user_token("alice", scopes=["access:servers!user=alice"])
    run = agent.run(["--url", hub.user_url("alice"), "--once"], token=token)
    out = run.output()
    assert run.code == 0, run.describe()
    assert "WARN" not in out and "users:activity" in out, out
    assert re.search(r"culler sees activity \d+ s ago \(kernel\), \d+ s ago \(server\)$",
                     out, re.M), out
    tok = tmp_path / "token"
    tok.write_text(token)
    tok.chmod(0o600)
    cfg = write_config("[alice]\nurl = %s\ntoken_file = %s\nhub_activity = on\n"
                       % (hub.user_url("alice"), tok))
    run = agent.run(["-c", cfg, "--interval", INTERVAL, "--foreground", "--for", "5s"])
    out = run.output()
    assert run.code == 0, run.describe()
    warns = [ln for ln in out.splitlines() if "WARN" in ln]
    assert len(warns) == 1 and "users:activity" in warns[0], out


def _cell(hub, kernel_id, code, timeout=60):
    with hub.channel("alice", hub.tokens["alice"], kernel_id, timeout=timeout) as ch:
        return ch.execute(code, timeout=timeout)


def test_inside_hub_notebook(running, agent_bin):
    """`!agent` in a cell of alice's server: discovery finds the hub server
    from the JUPYTERHUB_* environment, and the hub's record of the server
    keeps moving (the kernel itself makes no activity after the cell starts).

    The cell works both ways: when the agent detaches, the cell returns at
    once and the log file tells what it did; when it stays in the foreground
    (a `!` command runs under a pty), the cell returns after --for with the
    log as its output."""
    hub = running
    token = hub.tokens["alice"]
    kid = hub.start_kernel("alice", token)
    result = {}

    def cell():
        try:
            result["out"] = _cell(hub, kid, "!%s --interval %s --for 16s" % (agent_bin, INTERVAL),
                                  timeout=40)[1]
        except Exception as e:  # reported below
            result["error"] = e

    th = threading.Thread(target=cell, daemon=True)
    try:
        th.start()
        time.sleep(14)
        seen = hub.server_activity("alice")
        th.join(30)
        assert "error" not in result, result["error"]
        assert not th.is_alive(), "the cell did not return"
        out = result["out"]
        assert no_html(out), out
        m = re.search(r"running in the background; log: (\S+)", out)
        log = open(m.group(1), errors="replace").read() if m else out
        assert "found JupyterHub server" in out, out
        assert age(seen) < 8, "the hub saw alice's server active %.0f s ago at 14 s\n%s" % (
            age(seen), log)
        if m:
            # Detached, the agent's own kernel is idle: keepalives and read-backs.
            assert re.search(r"culler sees activity \d+ s ago \(kernel\)", log), log
    finally:
        try:
            _cell(hub, kid, "!%s --stop" % agent_bin, timeout=20)
        except Exception:
            pass
        hub.user_api("alice", token, "DELETE", "api/kernels/" + kid)


def test_crashed_server_is_gone(running, agent):
    """A server that died under the hub: the proxy answers 503 until the hub
    notices, then redirects. The agent ends with exit 1, never HTML. (Last:
    it kills alice's server.)"""
    hub = running
    alice_kernel(hub)
    run = agent.start(["--url", hub.user_url("alice"), "--interval", INTERVAL, "--foreground"],
                      token=hub.tokens["alice"])
    harness.wait_for(lambda: "keepalive acknowledged" in run.output(), 20,
                     what="a first keepalive")
    os.kill(hub.user("alice")["servers"][""]["state"]["pid"], signal.SIGKILL)
    t0 = time.monotonic()
    code = harness.exits(run, 60, "the server died")
    took = time.monotonic() - t0
    assert code == 1, run.describe()
    assert no_html(run.output()), run.output()
    # The grace period is two intervals (4 s), counted from the first 503: not
    # from whenever the hub's own poll of the spawner (30 s) notices.
    assert took < 20, "exit 1 only %.0f s after the server died\n%s" % (took, run.describe())
