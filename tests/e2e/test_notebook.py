# SPDX-License-Identifier: MIT
"""The agent inside a notebook (issue 3): `!./agent` typed in a cell of a
real kernel finds its own server and kernel, detaches, keeps the kernel
alive and stops with the job; the stop conditions --while-pid,
--while-fresh and --for; --status and --stop.

Every test has a state directory of its own. For the in-kernel tests it is
given to the *server* as AGENT_STATE_DIR, so that the kernel and its `!`
children inherit it the way they inherit everything else in a notebook; the
test process reads the same directory. Nothing here prints an environment,
and the token reaches the agent only through discovery or JUPYTER_TOKEN.

Agents left running are killed by pid (from their state files) at teardown.
"""
import json
import os
import subprocess
import time
from pathlib import Path

import pytest

import harness

CULL = 6        # the servers' cull_idle_timeout, seconds
SURVIVE = 16    # how long the kept kernel must outlive the culler


# ---------------------------------------------------------------------------
# State files and pids


def state_files(state_dir):
    """{pid: parsed state} for every agent-<pid>.json in state_dir."""
    out = {}
    for p in Path(state_dir).glob("agent-*.json"):
        try:
            st = json.loads(p.read_text())
        except (OSError, ValueError):
            continue    # written atomically, but be lenient
        if isinstance(st, dict) and isinstance(st.get("pid"), int):
            out[st["pid"]] = st
    return out


def is_agent(pid, agent_bin):
    try:
        return os.path.realpath("/proc/%d/exe" % pid) == str(agent_bin)
    except OSError:
        return False


def live_agents(state_dir, agent_bin, kernel_id=None):
    """Pids of live agents with a state file in state_dir (keeping
    kernel_id, when given)."""
    return sorted(pid for pid, st in state_files(state_dir).items()
                  if harness.pid_alive(pid) and is_agent(pid, agent_bin)
                  and (kernel_id is None or kernel_id in (st.get("kernels") or [])))


@pytest.fixture
def states(agent_bin):
    """Hands out state directories; stops any agent still alive in them at
    teardown, by pid, after checking the pid is still our binary."""
    dirs = []

    def make(path):
        path = Path(path)
        dirs.append(path)
        return path

    yield make
    for d in dirs:
        for pid in state_files(d):
            if harness.pid_alive(pid) and is_agent(pid, agent_bin):
                harness.kill_pid(pid)


def status_env(agent, state_dir, token=None):
    return agent.env(token=token, extra={"AGENT_STATE_DIR": str(state_dir)})


def status(agent, state_dir):
    """`agent --status` from the test process, on the same state dir."""
    run = agent.run(["--status"], env=status_env(agent, state_dir), timeout=20)
    assert run.code == 0, run.describe()
    return run.output()


# ---------------------------------------------------------------------------
# A server whose kernels run with AGENT_STATE_DIR


@pytest.fixture
def notebook_server(make_server, states, tmp_path, monkeypatch):
    """A server of the test's own; it, its kernels and their `!` commands
    see AGENT_STATE_DIR=<tmp>/state. Returns (server, state_dir)."""
    state = states(tmp_path / "state")
    with monkeypatch.context() as m:
        # JupyterServer.start copies os.environ for the server process.
        m.setenv("AGENT_STATE_DIR", str(state))
        srv = make_server()
    return srv, state


def start_kernel_ready(srv):
    """A kernel that has answered one cell, so that later cells are timed
    without the kernel's start-up."""
    k = srv.start_kernel()
    srv.execute(k, "pass", timeout=60)
    return k


def cell(srv, kernel_id, line, state=None, timeout=10):
    """Run `line` in a cell; returns (seconds the cell took, its output).
    Fails the test when the cell has not returned within timeout s, saying
    which agents of state run and where their stdout points (a pty there
    means the agent stayed in the foreground)."""
    t0 = time.monotonic()
    try:
        _, out = srv.execute(kernel_id, line, timeout=timeout)
    except TimeoutError:
        seen = []
        for pid in (state_files(state) if state else {}):
            if harness.pid_alive(pid):
                try:
                    fd1 = os.readlink("/proc/%d/fd/1" % pid)
                except OSError:
                    fd1 = "?"
                seen.append("agent %d (stdout -> %s)" % (pid, fd1))
        pytest.fail("the cell %r did not return within %d s; running: %s"
                    % (line, timeout, ", ".join(seen) or "no agent"), pytrace=False)
    return time.monotonic() - t0, out


# ---------------------------------------------------------------------------
# 1-2: `!agent` in a real kernel


def test_bang_agent_detaches_keeps_its_kernel_and_ends_with_it(notebook_server, agent_bin, agent):
    srv, state = notebook_server
    control = srv.start_kernel()
    k = start_kernel_ready(srv)

    took, out = cell(srv, k, "!%s --interval 2s" % agent_bin, state)
    started = time.monotonic()
    assert took < 3, "the cell took %.1f s to return:\n%s" % (took, out)
    assert k[:8] in out, "the cell's output does not name kernel %s:\n%s" % (k[:8], out)
    assert srv.token not in out, "the token was printed in the cell"

    pids = harness.wait_for(lambda: live_agents(state, agent_bin, k), 10,
                            what="a live agent keeping %s in %s" % (k, state))
    assert len(pids) == 1, "agents keeping %s: %s" % (k, pids)
    pid = pids[0]
    log = state_files(state)[pid].get("log")
    if log:
        assert srv.token not in Path(log).read_text(errors="replace"), "the token is in the log"

    # The control kernel started with ours and stayed idle: the culler takes it.
    while time.monotonic() - started < SURVIVE:
        t = time.monotonic() - started
        assert srv.alive(k), "the agent's kernel was culled after %.0f s" % t
        assert harness.pid_alive(pid), "the agent (pid %d) exited after %.0f s" % (pid, t)
        time.sleep(1)
    assert srv.alive(k)
    assert not srv.alive(control), "the control kernel was not culled: is the culler on?"

    _, out = cell(srv, k, "!%s --status" % agent_bin, state)
    assert k[:8] in out, "--status in the kernel does not name kernel %s:\n%s" % (k[:8], out)
    assert str(pid) in out, "--status does not show agent %d:\n%s" % (pid, out)
    assert srv.token not in out

    srv.delete_kernel(k)
    deleted = time.monotonic()
    try:
        harness.wait_for(lambda: not harness.pid_alive(pid), 10,
                         what="agent %d to end after its kernel was deleted" % pid)
    except TimeoutError:
        pytest.fail("agent %d still running %.0f s after its kernel was deleted;\nlog:\n%s"
                    % (pid, time.monotonic() - deleted, harness.tail(log or "/dev/null")))
    st = status(agent, state)
    assert "agent %d: exited" % pid in st, "--status does not list agent %d as exited:\n%s" % (pid, st)
    line = next(l for l in st.splitlines() if "agent %d: exited" % pid in l)
    assert "no reason recorded" not in line and "gone" in line, line
    assert srv.token not in st


def test_second_bang_agent_reports_the_running_one(notebook_server, agent_bin):
    srv, state = notebook_server
    k = start_kernel_ready(srv)

    _, first = cell(srv, k, "!%s --interval 2s" % agent_bin, state)
    assert k[:8] in first, first
    pids = harness.wait_for(lambda: live_agents(state, agent_bin, k), 10,
                            what="the first agent's state file")
    assert len(pids) == 1, pids

    took, second = cell(srv, k, "!%s --interval 2s" % agent_bin, state)
    assert took < 3, "the second cell took %.1f s:\n%s" % (took, second)
    assert "already running" in second, second
    assert str(pids[0]) in second, "does not name the running agent %d:\n%s" % (pids[0], second)
    assert srv.token not in second
    # A second agent, had one started, would have written its state by now.
    time.sleep(2)
    assert live_agents(state, agent_bin) == pids, \
        "live agents %s, expected only %s" % (live_agents(state, agent_bin), pids)


# ---------------------------------------------------------------------------
# 3-6: stop conditions, --status and --stop from the test process


def keep_args(srv, kernel_id):
    return ["--url", srv.url, "--kernel", kernel_id, "--interval", "2s"]


def test_while_pid_stops_when_the_job_ends(server, agent, states, tmp_path, agent_bin):
    state = states(tmp_path / "state")
    k = server.start_kernel()
    job = subprocess.Popen(["sleep", "5"])
    try:
        run = agent.start(keep_args(server, k) + ["--foreground", "--while-pid", job.pid],
                          env=status_env(agent, state, token=server.token))
        while True:
            agent_ran = run.running()   # sampled before the job, so no race
            if job.poll() is not None:
                break
            assert agent_ran, "the agent exited while the job ran:\n%s" % run.describe()
            time.sleep(0.1)
        code = harness.exits(run, 8, "process %d ended" % job.pid)
        assert code == 0, run.describe()
        assert server.token not in run.output()
    finally:
        if job.poll() is None:
            job.kill()
            job.wait()
    st = status(agent, state)
    assert "process %d exited" % job.pid in st, st


def test_while_fresh_stops_after_the_file_goes_quiet(server, agent, states, tmp_path):
    state = states(tmp_path / "state")
    k = server.start_kernel()
    log = tmp_path / "train.log"
    log.write_text("epoch 0\n")
    run = agent.start(keep_args(server, k) + ["--foreground", "--while-fresh", "%s:3s" % log],
                      env=status_env(agent, state, token=server.token))
    for _ in range(4):          # a job writing every second for ~4 s
        time.sleep(1)
        assert run.running(), "the agent stopped while the file was fresh:\n%s" % run.describe()
        os.utime(log)
    quiet = time.monotonic()
    code = harness.exits(run, 10, "%s went quiet (window 3 s)" % log)
    waited = time.monotonic() - quiet
    assert code == 0, run.describe()
    assert waited >= 2, "stopped %.1f s after the last write, before the 3 s window" % waited
    st = status(agent, state)
    assert "not modified for 3s" in st, st


def test_for_stops_after_the_duration(server, agent, states, tmp_path):
    state = states(tmp_path / "state")
    k = server.start_kernel()
    t0 = time.monotonic()
    run = agent.start(keep_args(server, k) + ["--foreground", "--for", "4s"],
                      env=status_env(agent, state, token=server.token))
    code = harness.exits(run, 15, "it started with --for 4s")
    took = time.monotonic() - t0
    assert code == 0, run.describe()
    assert took >= 3.5, "--for 4s stopped after %.1f s" % took
    st = status(agent, state)
    line = next((l for l in st.splitlines() if "agent %d: exited" % run.pid in l), None)
    assert line, "--status does not list agent %d as exited:\n%s" % (run.pid, st)
    assert "--for 4s" in line, line


def test_stop_ends_a_detached_agent(server, agent, states, tmp_path, agent_bin):
    state = states(tmp_path / "state")
    k = server.start_kernel()
    env = status_env(agent, state, token=server.token)
    parent = agent.run(keep_args(server, k) + ["--detach"], env=env, timeout=20)
    assert parent.code == 0, parent.describe()
    assert k[:8] in parent.stdout, parent.describe()
    assert server.token not in parent.output()
    pids = harness.wait_for(lambda: live_agents(state, agent_bin, k), 10,
                            what="the detached agent's state file")
    assert len(pids) == 1 and pids[0] != parent.pid, pids
    pid = pids[0]

    stop = agent.run(["--stop"], env=status_env(agent, state), timeout=20)
    assert stop.code == 0, stop.describe()
    assert "stopped agent %d" % pid in stop.stdout, stop.describe()
    harness.wait_for(lambda: not harness.pid_alive(pid), 5, what="agent %d to be gone" % pid)
    st = status(agent, state)
    assert "agent %d: exited" % pid in st and "SIGTERM" in st, st
