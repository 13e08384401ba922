# SPDX-License-Identifier: MIT
"""Fixtures for the end-to-end tests: real Jupyter Servers with short kernel
cullers, and the agent binary under test (AGENT_BIN, default build/agent).

When a test fails, the report gains the output of every agent it started and
the tail of every server log it used.
"""
import os
import sys
import threading
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))
import harness  # noqa: E402


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    rep = outcome.get_result()
    if rep.when != "call" or not rep.failed:
        return
    for run in getattr(item, "_e2e_agents", []):
        rep.sections.append(("agent pid %s" % run.pid, run.describe()))
    for srv in getattr(item, "_e2e_servers", []):
        rep.sections.append(("jupyter_server %s log (tail)" % srv.url, srv.log_tail(60)))


def _register(request, attr, obj):
    lst = getattr(request.node, attr, None)
    if lst is None:
        lst = []
        setattr(request.node, attr, lst)
    lst.append(obj)


@pytest.fixture(scope="session")
def agent_bin():
    p = Path(os.environ.get("AGENT_BIN") or harness.DEFAULT_AGENT)
    if not (p.is_file() and os.access(p, os.X_OK)):
        pytest.fail("agent binary %s not found: run `make all` or set AGENT_BIN" % p,
                    pytrace=False)
    return p.resolve()


@pytest.fixture(scope="module")
def _module_server(tmp_path_factory):
    srv = harness.JupyterServer(tmp_path_factory.mktemp("server"))
    srv.start()
    yield srv
    srv.stop()


@pytest.fixture
def server(_module_server, request):
    """A shared server (culler: 6 s idle, checked every second, connected
    kernels too). Kernels left by the test are shut down afterwards."""
    _register(request, "_e2e_servers", _module_server)
    yield _module_server
    try:
        for k in _module_server.kernels():
            _module_server.delete_kernel(k["id"])
    except Exception:
        pass


@pytest.fixture
def make_server(tmp_path, request):
    """Factory for a fresh server of the test's own: make_server(**kwargs)."""
    made = []

    def make(**kw):
        srv = harness.JupyterServer(tmp_path / ("server%d" % len(made)), **kw)
        made.append(srv)
        _register(request, "_e2e_servers", srv)
        return srv.start()

    yield make
    for srv in made:
        srv.stop()


class Agents:
    """Starts agents for one test and cleans them up by pid."""

    def __init__(self, agent_bin, tmp_path, request):
        self.bin = agent_bin
        self.dir = tmp_path / "agent"
        self.request = request
        self.runs = []
        self._lock = threading.Lock()

    def env(self, token=None, extra=None):
        return harness.agent_env(self.dir / "env", token=token, extra=extra)

    def start(self, args, token=None, env=None):
        """Start an agent (from any thread: AgentRun picks its file names
        unlocked)."""
        with self._lock:
            run = harness.start_agent(self.bin, args, env or self.env(token), self.dir)
            self.runs.append(run)
            _register(self.request, "_e2e_agents", run)
        return run

    def run(self, args, token=None, env=None, timeout=60):
        """Run an agent that ends by itself; returns the finished AgentRun."""
        run = self.start(args, token=token, env=env)
        try:
            harness.exits(run, timeout, "it started")
        finally:
            run.close()
        return run

    def status(self, env):
        """What `agent --status` prints for the state dir that env names."""
        return self.run(["--status"], env=env, timeout=20).output()

    def cleanup(self):
        for run in self.runs:
            run.close()


@pytest.fixture
def agent(agent_bin, tmp_path, request):
    a = Agents(agent_bin, tmp_path, request)
    yield a
    a.cleanup()


@pytest.fixture
def write_config(tmp_path):
    def write(text, name="agent.ini"):
        return harness.write_config(tmp_path, text, name)
    return write
