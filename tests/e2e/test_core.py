# SPDX-License-Identifier: MIT
"""Core end-to-end tests: the agent against a real jupyter_server + ipykernel
whose kernel culler is short (6 s idle, checked every second) and culls
connected kernels too, so only real kernel activity keeps a kernel alive.

Tokens reach the agent only through JUPYTER_TOKEN or a config file.
"""
import re
import secrets
import signal
import time
import uuid

import pytest

import harness

CULL = 6          # the servers' cull_idle_timeout, seconds
SURVIVE = 14      # how long a kept kernel must outlive the culler: > 2 x CULL
NO_NET = "http://127.0.0.1:9/"   # discard port: config tests must not get that far


def wait_connected(server, kernel_id, timeout=20):
    """Wait until some client (the agent) holds a WebSocket to the kernel."""
    return harness.wait_for(lambda: (server.kernel(kernel_id) or {}).get("connections", 0) >= 1,
                            timeout, what="a connection to kernel %s" % kernel_id)


def error_line(output, path, line):
    """The first output line that starts a FILE:LINE: message for `line`."""
    pat = re.compile(r"(^|\s)(%s|%s):%d:" % (re.escape(str(path)), re.escape(path.name), line))
    for ln in output.splitlines():
        if pat.search(ln):
            return ln
    return None


# ---------------------------------------------------------------------------
# Keeping kernels alive


def test_kept_kernel_survives_control_is_culled(server, agent):
    kept = server.start_kernel()
    control = server.start_kernel()
    run = agent.start(["--url", server.url, "--kernel", kept, "--interval", "2s",
                       "--foreground"], token=server.token)
    gone = harness.watch(server, 20, keep=[kept], culled=[control], agents=[run])
    assert control in gone, "control kernel was not culled within 20 s: culler not working?"
    age = harness.utcnow() - harness.parse_time(server.kernel(kept)["last_activity"])
    assert age.total_seconds() < CULL, "kept kernel idle for %s" % age
    harness.stop_clean(run, signal.SIGTERM)


def test_config_file_auto_kernel_token_file(make_server, agent, write_config, tmp_path):
    srv = make_server()
    k = srv.start_kernel()
    tok = tmp_path / "token"
    tok.write_text(srv.token + "\n")
    cfg = write_config(
        "[agent]\n"
        "interval = 2s\n"
        "\n"
        "[lab]\n"
        "url = %s\n"
        "token_file = %s\n"
        "kernel = auto\n" % (srv.url, tok))
    run = agent.start(["-c", cfg, "--foreground"])   # no JUPYTER_TOKEN in env
    harness.watch(srv, SURVIVE, keep=[k], agents=[run])
    harness.stop_clean(run, signal.SIGINT)


def test_kernel_all_picks_up_new_kernels(make_server, agent):
    srv = make_server()
    k1, k2 = srv.start_kernel(), srv.start_kernel()
    run = agent.start(["--url", srv.url, "--kernel", "all", "--interval", "2s",
                       "--foreground"], token=srv.token)
    harness.watch(srv, 4, keep=[k1, k2], agents=[run])
    k3 = srv.start_kernel()   # started after the agent: must be found on a later round
    harness.watch(srv, SURVIVE, keep=[k1, k2, k3], agents=[run])
    harness.stop_clean(run)


def test_notebook_path_keeps_session_kernel(server, agent):
    sess = server.create_session("train.ipynb")
    nb_kernel = sess["kernel"]["id"]
    control = server.start_kernel()
    run = agent.start(["--url", server.url, "--kernel", "notebook:train.ipynb",
                       "--interval", "2s", "--foreground"], token=server.token)
    gone = harness.watch(server, 16, keep=[nb_kernel], culled=[control], agents=[run])
    assert control in gone, "control kernel was not culled within 16 s"
    paths = {s["path"]: s["kernel"]["id"] for s in server.sessions()}
    assert paths.get("train.ipynb") == nb_kernel
    harness.stop_clean(run)


def test_survives_kernel_restart(server, agent):
    k = server.start_kernel()
    run = agent.start(["--url", server.url, "--kernel", k, "--interval", "2s",
                       "--foreground"], token=server.token)
    wait_connected(server, k)
    server.restart_kernel(k)
    harness.watch(server, SURVIVE, keep=[k], agents=[run])
    harness.stop_clean(run)


# ---------------------------------------------------------------------------
# Harmlessness


def test_keepalives_leave_execution_count_alone(server, agent):
    k = server.start_kernel()
    before, _ = server.execute(k, "pass")
    mon = server.monitor(k)
    try:
        run = agent.run(["--url", server.url, "--kernel", k, "--interval", "1s", "--for", "12s",
                         "--foreground"], token=server.token, timeout=60)
    finally:
        mon.stop()
    assert run.code == 0, "--for elapsed must exit 0\n" + run.describe()
    keepalives = mon.foreign_requests("execute_request")
    assert len(keepalives) >= 10, "only %d keepalives in 12 s at 1 s" % len(keepalives)
    assert mon.foreign_inputs() == [], "keepalives must be silent (no execute_input)"
    after, _ = server.execute(k, "pass")
    assert after == before + 1, "execution_count %s -> %s" % (before, after)


def test_http_mode_moves_server_activity(make_server, agent):
    srv = make_server()
    time.sleep(3)   # let the server go idle: only /api/status (untracked) from now on
    baseline = srv.last_activity()
    started = harness.utcnow()
    assert baseline < started
    run = agent.start(["--url", srv.url, "--mode", "http", "--interval", "1s",
                       "--foreground"], token=srv.token)
    first = harness.wait_for(lambda: run.running() and srv.last_activity() > started and
                             srv.last_activity(), 15, interval=0.5,
                             what="server last_activity to move past the agent's start")
    harness.wait_for(lambda: run.running() and srv.last_activity() > first, 10, interval=0.5,
                     what="a second ping")
    assert run.running()
    harness.stop_clean(run)
    assert srv.kernels() == [], "http mode must not start kernels"


# ---------------------------------------------------------------------------
# Exit codes and signals


def test_once_without_a_kernel(make_server, agent):
    """No kernel running: both mode verifies the server ping (exit 0);
    execute mode has nothing to keep (exit 1)."""
    srv = make_server()
    assert srv.kernels() == []
    run = agent.run(["--url", srv.url, "--once", "--foreground"], token=srv.token, timeout=30)
    assert run.code == 0, run.describe()
    assert "only the server was pinged" in run.output(), run.describe()
    run = agent.run(["--url", srv.url, "--mode", "execute", "--once", "--foreground"],
                    token=srv.token, timeout=30)
    assert run.code == 1, run.describe()
    assert "no kernel to keep" in run.output(), run.describe()
    assert srv.kernels() == [], "the agent must never start a kernel"


def test_once(server, agent):
    k = server.start_kernel()
    mon = server.monitor(k)
    try:
        run = agent.run(["--url", server.url, "--kernel", k, "--once", "--foreground"],
                        token=server.token, timeout=30)
        time.sleep(0.5)
    finally:
        mon.stop()
    assert run.code == 0, run.describe()
    assert mon.foreign_requests("execute_request"), "--once sent no keepalive"

    missing = str(uuid.uuid4())
    run = agent.run(["--url", server.url, "--kernel", missing, "--once", "--foreground"],
                    token=server.token, timeout=30)
    assert run.code == 1, run.describe()


def test_kernel_deleted_means_target_gone(server, agent):
    k = server.start_kernel()
    run = agent.start(["--url", server.url, "--kernel", k, "--interval", "1s", "--foreground"],
                      token=server.token)
    wait_connected(server, k)
    server.delete_kernel(k)
    code = harness.exits(run, 60, "its only kernel was shut down")
    assert code == 1, run.describe()


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT], ids=["TERM", "INT"])
def test_signal_while_connected_exits_0(server, agent, sig):
    k = server.start_kernel()
    run = agent.start(["--url", server.url, "--kernel", k, "--interval", "2s", "--foreground"],
                      token=server.token)
    wait_connected(server, k)
    time.sleep(1)
    harness.stop_clean(run, sig, within=2)   # README: exits within a second
    harness.wait_for(lambda: server.kernel(k)["connections"] == 0, 5,
                     what="the agent's connection to go away")


def test_version_and_help(agent):
    run = agent.run(["--version"], timeout=10)
    assert run.code == 0
    version = (harness.REPO / "VERSION").read_text().strip()
    assert version in run.stdout, run.describe()

    run = agent.run(["--help"], timeout=10)
    assert run.code == 0
    flags = ["-c", "--url", "--kernel", "--mode", "--interval", "--jitter", "--once", "--for",
             "--foreground", "-v", "-q", "--version", "--help"]
    missing = [f for f in flags if not re.search(r"(^|[\s,\[])%s\b" % re.escape(f), run.stdout)]
    assert not missing, "--help does not mention %s\n%s" % (missing, run.stdout)


# ---------------------------------------------------------------------------
# Configuration errors: exit 2 with FILE:LINE:, before any network traffic


BAD_CONFIGS = {
    "unknown-key": ("# e2e: a typo\n"
                    "[agent]\n"
                    "interval = 30s\n"
                    "\n"
                    "[lab]\n"
                    "url = %s\n"
                    "kernal = auto\n" % NO_NET, 7, ["did you mean", "kernel"]),
    "bad-duration": ("[agent]\n"
                     "interval = 30s\n"
                     "\n"
                     "[lab]\n"
                     "url = %s\n"
                     "interval = 5 parsecs\n" % NO_NET, 6, []),
    "bad-duration-agent": ("[agent]\n"
                           "timeout = soon\n"
                           "[lab]\n"
                           "url = %s\n" % NO_NET, 2, []),
    "target-without-url": ("[agent]\n"
                           "interval = 30s\n"
                           "\n"
                           "[lab]\n"
                           "kernel = auto\n"
                           "mode = execute\n", 4, ["url"]),
    "token-file-unreadable": ("[lab]\n"
                              "url = %s\n"
                              "token_file = /nonexistent-e2e/token\n" % NO_NET, 3,
                              ["/nonexistent-e2e/token"]),
}


@pytest.mark.parametrize("case", list(BAD_CONFIGS))
def test_bad_config_exit_2_file_line(agent, write_config, case):
    text, line, words = BAD_CONFIGS[case]
    cfg = write_config(text)
    run = agent.run(["-c", cfg, "--foreground"], timeout=10)
    assert run.code == 2, run.describe()
    msg = error_line(run.stderr, cfg, line)
    assert msg, "no '%s:%d:' message\n%s" % (cfg.name, line, run.describe())
    for w in words:
        assert w.lower() in msg.lower(), "%r not in %r" % (w, msg)


def test_unreadable_config_file(agent, tmp_path):
    path = tmp_path / "missing" / "agent.ini"
    run = agent.run(["-c", path, "--foreground"], timeout=10)
    assert run.code == 2, run.describe()
    assert str(path) in run.stderr or path.name in run.stderr, run.describe()


@pytest.mark.parametrize("args", [
    ["--no-such-flag"],
    ["--url", NO_NET, "--mode", "sideways"],
    ["--url", NO_NET, "--interval", "soon"],
    ["--url", NO_NET, "--jitter", "150"],
    ["--url", NO_NET, "--for", "-5s"],
    ["--url", NO_NET, "--while-pid", "999999999"],
    ["--url", NO_NET, "--while-fresh", "/no/such/file.log:5m"],
    ["--url", NO_NET + "?token=abc"],
], ids=["flag", "mode", "interval", "jitter", "for", "while-pid", "while-fresh", "token-in-url"])
def test_usage_errors_exit_2(agent, args):
    run = agent.run(args + ["--foreground"], timeout=10)
    assert run.code == 2, run.describe()
    assert run.stderr.strip(), "a usage error must say what is wrong"


# ---------------------------------------------------------------------------
# Token secrecy


def test_token_never_printed(server, agent, write_config):
    k = server.start_kernel()

    # A normal run at debug level.
    run = agent.run(["--url", server.url, "--kernel", k, "--interval", "1s", "--for", "4s",
                     "-v", "--foreground"], token=server.token, timeout=40)
    assert run.code == 0, run.describe()
    assert run.output().strip(), "-v printed nothing"
    assert server.token not in run.output()

    # A rejected token: exit 3, one line, no HTML, neither token printed.
    wrong = secrets.token_hex(20)
    run = agent.run(["--url", server.url, "--kernel", k, "--once", "--foreground"],
                    token=wrong, timeout=40)
    assert run.code == 3, run.describe()
    lines = [ln for ln in run.output().splitlines() if ln.strip()]
    assert len(lines) == 1, "expected one line, got:\n" + run.output()
    assert "<html" not in run.output().lower()
    assert wrong not in run.output() and server.token not in run.output()

    # The same with the wrong token in a config file, at debug level.
    cfg = write_config("[lab]\nurl = %s\ntoken = %s\nkernel = %s\n" % (server.url, wrong, k))
    run = agent.run(["-c", cfg, "-v", "--foreground"], timeout=40)
    assert run.code == 3, run.describe()
    assert "<html" not in run.output().lower()
    assert wrong not in run.output()


@pytest.mark.parametrize("token_line", [
    "tokn = {secret}",                        # typo in the key: "did you mean token"
    "token = {secret}${{E2E_SURELY_UNSET_VAR}}",  # bad ${VAR} in the token's value
], ids=["typo-key", "bad-expansion"])
def test_token_not_echoed_in_config_errors(agent, write_config, token_line):
    secret = secrets.token_hex(20)
    cfg = write_config("[lab]\nurl = %s\n%s\n" % (NO_NET, token_line.format(secret=secret)))
    run = agent.run(["-c", cfg, "-v", "--foreground"], timeout=10)
    assert run.code == 2, run.describe()
    assert error_line(run.stderr, cfg, 3), run.describe()
    assert secret not in run.output()
