# SPDX-License-Identifier: MIT
"""Secrets: the token never shows up where other people or other programs can
read it (the command line, logs at any level, --status, state files, error
messages); URLs that carry token= are redacted; the agent warns when a file
holding a secret is readable by group or others, and once when a token would
go over plain http to a host that is not loopback. State files are 0600 in
a 0700 directory.

Traffic stays on loopback; the plain-http warning uses example.invalid, a
name that never resolves, with --once and a 1 s timeout.
"""
import json
import os
import stat
from pathlib import Path

import pytest

import harness

ACK = "keepalive acknowledged"


def private_file(path, text, mode=0o600):
    p = Path(path)
    p.write_text(text)
    p.chmod(mode)
    return p


def state_dir(env):
    return Path(env["XDG_RUNTIME_DIR"]) / "jupyter-keepalive"


def read_tree(d):
    """{path: text} for every file under d."""
    out = {}
    for root, _, files in os.walk(d):
        for f in files:
            p = Path(root) / f
            out[p] = p.read_text(errors="replace")
    return out


def assert_private(d):
    mode = stat.S_IMODE(d.stat().st_mode)
    assert mode == 0o700, "%s is %o, not 0700" % (d, mode)
    files = [p for p in d.rglob("*") if p.is_file()]
    assert files, "no state files in %s" % d
    for p in files:
        mode = stat.S_IMODE(p.stat().st_mode)
        assert mode == 0o600, "%s is %o, not 0600" % (p, mode)


def test_token_stays_out_of_argv_logs_status_and_state(server, agent, tmp_path):
    k = server.start_kernel()
    tok = private_file(tmp_path / "token", server.token + "\n")
    cfg = private_file(tmp_path / "agent.ini",
                       "[lab]\nurl = %s\ntoken_file = %s\nkernel = %s\n" % (server.url, tok, k))
    env = agent.env()   # no JUPYTER_TOKEN: the token comes from the file only
    sd = state_dir(env)
    sd.mkdir(mode=0o755, parents=True, exist_ok=True)
    sd.chmod(0o755)     # a too-open directory left from elsewhere is tightened

    run = agent.start(["-c", cfg, "-v", "--foreground", "--interval", "1s", "--jitter", "0"],
                      env=env)
    harness.wait_line(run, ACK, timeout=30, what="a first acknowledged keepalive")
    server.wait_activity(k)     # and a later one
    assert run.running(), run.describe()

    with open("/proc/%d/cmdline" % run.pid, "rb") as f:
        argv = f.read().decode(errors="replace")
    assert "-c" in argv.split("\0")
    assert server.token not in argv

    status = agent.run(["--status"], env=env, timeout=20)
    assert status.code == 0, status.describe()
    assert str(run.pid) in status.output(), status.describe()
    assert server.token not in status.output()

    assert_private(sd)
    for p, text in read_tree(sd).items():
        assert server.token not in text, "token in state file %s" % p

    harness.stop_clean(run)
    assert "DEBUG" in run.output(), "-v printed no debug lines"
    assert server.token not in run.output()
    for p, text in read_tree(sd).items():
        assert server.token not in text, "token in state file %s after exit" % p

    # JSON lines at debug level, and a one-shot run.
    run = agent.run(["-c", cfg, "-v", "--log-json", "--once"], env=env, timeout=40)
    assert run.code == 0, run.describe()
    lines = [json.loads(ln) for ln in run.stderr.splitlines() if ln.startswith("{")]
    assert any(ln.get("level") == "debug" for ln in lines), run.describe()
    assert server.token not in run.output()


def test_token_in_a_url_is_redacted(server, agent, tmp_path):
    """A ping URL that carries ?token=: redacted in logs, --status and state."""
    cfg = private_file(tmp_path / "agent.ini",
                       "[status]\nping_url = %sapi/status?token=%s\n" % (server.url, server.token))
    env = agent.env()
    run = agent.start(["-c", cfg, "-v", "--foreground", "--interval", "1s"], env=env)
    harness.wait_line(run, "ping answered HTTP 200", timeout=30, what="a first ping")
    status = agent.run(["--status"], env=env, timeout=20)
    state = read_tree(state_dir(env))
    harness.stop_clean(run)

    assert "token=***" in run.output(), run.describe()
    assert server.token not in run.output()
    assert server.token not in status.output(), status.describe()
    assert state
    for p, text in state.items():
        assert server.token not in text, "token in state file %s" % p


def test_token_in_url_flag_is_refused_without_echo(agent):
    secret = "s3cr3t" + os.urandom(8).hex()
    run = agent.run(["--url", "http://127.0.0.1:9/?token=" + secret, "--once"], timeout=10)
    assert run.code == 2, run.describe()
    assert "token" in run.stderr
    assert secret not in run.output()


@pytest.mark.parametrize("case", ["token_file-0644", "config-with-token-0644",
                                  "config-0644-token_file-0600", "all-0600"])
def test_warns_about_files_readable_by_others(server, agent, tmp_path, case):
    k = server.start_kernel()
    tok_mode = 0o644 if case == "token_file-0644" else 0o600
    cfg_mode = 0o644 if "config" in case and "0644" in case else 0o600
    tok = private_file(tmp_path / "token", server.token + "\n", tok_mode)
    if case == "config-with-token-0644":
        body = "[lab]\nurl = %s\ntoken = %s\nkernel = %s\n" % (server.url, server.token, k)
    else:
        body = "[lab]\nurl = %s\ntoken_file = %s\nkernel = %s\n" % (server.url, tok, k)
    cfg = private_file(tmp_path / "agent.ini", body, cfg_mode)

    run = agent.run(["-c", cfg, "--once"], env=agent.env(), timeout=40)
    assert run.code == 0, run.describe()
    assert server.token not in run.output()
    warnings = [ln for ln in run.output().splitlines() if "readable by group/others" in ln]
    if case == "token_file-0644":
        assert len(warnings) == 1 and str(tok) in warnings[0], run.describe()
    elif case == "config-with-token-0644":
        assert len(warnings) == 1 and str(cfg) in warnings[0], run.describe()
    else:
        assert warnings == [], run.describe()


PLAIN_HTTP = "token is sent over plain http"


@pytest.mark.parametrize("url,warn", [
    ("http://example.invalid/", True),
    ("https://example.invalid/", False),
    ("http://localhost.example.invalid/", True),
    ("http://127.0.0.1.example.invalid/", True),
], ids=["http", "https", "localhost-lookalike", "127-lookalike"])
def test_warns_once_about_a_token_over_plain_http(agent, tmp_path, url, warn):
    secret = os.urandom(16).hex()
    cfg = private_file(tmp_path / "agent.ini",
                       "[agent]\ntimeout = 1s\n[far]\nurl = %s\ntoken = %s\n" % (url, secret))
    run = agent.run(["-c", cfg, "--once"], env=agent.env(), timeout=30)
    assert run.code == 1, run.describe()    # .invalid never resolves
    assert secret not in run.output()
    warnings = [ln for ln in run.output().splitlines() if PLAIN_HTTP in ln]
    assert len(warnings) == (1 if warn else 0), run.describe()


def test_no_plain_http_warning_for_loopback(server, agent):
    k = server.start_kernel()
    run = agent.run(["--url", server.url, "--kernel", k, "--once"], token=server.token, timeout=40)
    assert run.code == 0, run.describe()
    assert PLAIN_HTTP not in run.output()
