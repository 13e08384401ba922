# SPDX-License-Identifier: MIT
"""A notebook launch says what happened before the cell returns (issue 12):
that the server took the token and has the kernel, or the reason it failed and the exit code, in the
cell itself rather than only in the detached agent's log."""
import time

import pytest

import harness


def bang(srv, k, line, timeout=40):
    t0 = time.monotonic()
    _, out = srv.execute(k, "!%s; echo exit=$?" % line, timeout=timeout)
    return time.monotonic() - t0, out


@pytest.fixture
def nb_server(make_server, tmp_path, monkeypatch):
    def make(**kw):
        with monkeypatch.context() as m:
            m.setenv("AGENT_STATE_DIR", str(tmp_path / "state"))
            return make_server(**kw)
    return make


def test_launch_reports_the_first_round(nb_server, agent_bin):
    srv = nb_server()
    k = srv.start_kernel()
    srv.execute(k, "pass", timeout=60)
    took, out = bang(srv, k, "%s --interval 2s" % agent_bin)
    assert "exit=0" in out, out
    assert "agent: checked: " in out and k[:8] in out, out
    assert took < 15, "the cell took %.1f s:\n%s" % (took, out)
    assert srv.token not in out
    _, out = bang(srv, k, "%s --stop" % agent_bin)
    assert "exit=0" in out, out


class PasswordLogin:
    """A browser's way into a password-only server: log in at /login, then
    use the session cookie (and the _xsrf cookie for POSTs)."""

    def __init__(self, srv, password):
        import http.cookiejar
        import urllib.parse
        import urllib.request
        self.srv = srv
        self.jar = http.cookiejar.CookieJar()
        self.opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(self.jar))
        self.opener.open(srv.url + "login", timeout=15).read()
        xsrf = self.cookie("_xsrf")
        form = urllib.parse.urlencode({"password": password, "_xsrf": xsrf}).encode()
        self.opener.open(srv.url + "login", data=form, timeout=15).read()

    def cookie(self, name):
        return next(c.value for c in self.jar if c.name == name)

    def header(self):
        return "; ".join("%s=%s" % (c.name, c.value) for c in self.jar)

    def start_kernel(self):
        import json
        import urllib.request
        req = urllib.request.Request(self.srv.url + "api/kernels", data=b"{}", method="POST",
                                     headers={"X-XSRFToken": self.cookie("_xsrf"),
                                              "Content-Type": "application/json"})
        return json.loads(self.opener.open(req, timeout=30).read())["id"]

    def channel(self, kernel_id):
        import uuid
        ch = harness.KernelChannel.__new__(harness.KernelChannel)
        ch.session = uuid.uuid4().hex
        ch.ws = harness.WebSocket("127.0.0.1", self.srv.port,
                                  "/api/kernels/%s/channels?session_id=%s" % (kernel_id, ch.session),
                                  ["Cookie: " + self.header()], timeout=30)
        return ch


def test_launch_on_a_password_only_server(nb_server, agent_bin):
    """A real password-only server: its runtime file says "token": "" and
    "password": true. The cell says what to do and exits 3."""
    srv = nb_server(password="correct horse")
    web = PasswordLogin(srv, "correct horse")
    k = web.start_kernel()
    ch = web.channel(k)
    try:
        ch.execute("pass", timeout=60)
        _, out = ch.execute("!%s; echo exit=$?" % agent_bin, timeout=40)
    finally:
        ch.close()
    assert "exit=3" in out, out
    assert "requires a token and none was given" in out and "password-only" in out, out
    assert "log:" in out, out


def test_stop_in_a_notebook_stops_only_its_own_agent(nb_server, agent_bin, tmp_path):
    """Two notebooks, an agent each: `!agent --stop` in one stops that one
    and names it; `--stop all` stops the rest."""
    srv = nb_server()
    k1, k2 = srv.start_kernel(), srv.start_kernel()
    for k in (k1, k2):
        srv.execute(k, "pass", timeout=60)
        _, out = bang(srv, k, "%s --interval 2s" % agent_bin)
        assert "exit=0" in out, out
    state = tmp_path / "state"

    def running():
        import json
        ids = set()
        for p in state.glob("agent-*.json"):
            st = json.loads(p.read_text())
            if st.get("exited") is None and harness_alive(st["pid"]):
                ids.update(st.get("kernels") or [])
        return ids

    harness.wait_for(lambda: running() == {k1, k2}, 15, what="two agents running")
    _, out = bang(srv, k1, "%s --stop" % agent_bin)
    assert "exit=0" in out and "this notebook's agent (kernel %s)" % k1[:8] in out, out
    harness.wait_for(lambda: running() == {k2}, 15, what="only the other notebook's agent left")
    _, out = bang(srv, k1, "%s --stop all" % agent_bin)
    assert "exit=0" in out, out
    harness.wait_for(lambda: not running(), 15, what="no agent left")


def harness_alive(pid):
    try:
        with open("/proc/%d/stat" % pid) as f:
            return f.read().rsplit(")", 1)[1].split()[0] not in ("Z", "X")
    except OSError:
        return False
