# SPDX-License-Identifier: MIT
"""The installed layout (issue 11): `make install` into a DESTDIR puts the
agent where the Debian package puts it, and the installed jupyter-keepalive
does one verified round (--once) against a real server: called by its path,
as `jupyter keepalive`, and with the systemd user unit's own command line.

The binary installed is the one under test (AGENT_BIN), through the
Makefile's INSTALL_BIN, so nothing is rebuilt here.
"""
import os
import re
import shlex
import shutil
import subprocess
import time
from pathlib import Path

import pytest

import harness

NAME = "jupyter-keepalive"
LAYOUT = {
    "usr/bin/jupyter-keepalive": 0o755,
    "usr/share/man/man1/jupyter-keepalive.1": 0o644,
    "usr/share/doc/jupyter-keepalive/agent.ini": 0o644,
    "usr/share/doc/jupyter-keepalive/copyright": 0o644,
    "usr/share/doc/jupyter-keepalive/README.md": 0o644,
    "usr/lib/systemd/user/jupyter-keepalive@.service": 0o644,
}


def make_install(agent_bin, destdir, prefix):
    # Called from `make e2e`: the outer make's jobserver is not ours to use.
    env = {k: v for k, v in os.environ.items() if k not in ("MAKEFLAGS", "MFLAGS", "MAKELEVEL")}
    r = subprocess.run(["make", "-s", "-C", str(harness.REPO), "install",
                        "DESTDIR=%s" % destdir, "PREFIX=%s" % prefix,
                        "INSTALL_BIN=%s" % agent_bin],
                       capture_output=True, text=True, env=env, timeout=120)
    assert r.returncode == 0, "make install failed:\n%s%s" % (r.stdout, r.stderr)


@pytest.fixture(scope="module")
def destdir(agent_bin, tmp_path_factory):
    d = tmp_path_factory.mktemp("destdir")
    make_install(agent_bin, d, "/usr")
    return d


def exec_start(unit_text):
    m = re.search(r"^ExecStart=(.*)$", unit_text, re.M)
    assert m, "no ExecStart= in the unit"
    return shlex.split(m.group(1))


def run_once(argv, env, workdir, timeout=60):
    run = harness.AgentRun(argv, env, workdir)
    try:
        harness.exits(run, timeout, "it started (%s)" % argv[0])
    finally:
        run.close()
    return run


def ready_kernel(server):
    """A started kernel that has run a cell, and its last_activity a moment
    later. Right after a start the server may not yet be subscribed to the
    kernel's IOPub, and the status messages of a first keepalive can be lost
    to it."""
    k = server.start_kernel()
    server.execute(k, "pass")
    time.sleep(0.5)
    return k, harness.parse_time(server.kernel(k)["last_activity"])


def assert_kept_once(server, kernel, run, before):
    assert run.code == 0, run.describe()
    assert "keepalive acknowledged" in run.output(), run.describe()
    assert "culler sees activity" in run.output(), run.describe()
    after = harness.parse_time(server.kernel(kernel)["last_activity"])
    assert after > before, "kernel last_activity did not move (%s -> %s)" % (before, after)


def test_install_layout(destdir):
    for rel, mode in LAYOUT.items():
        p = destdir / rel
        assert p.is_file(), "make install did not install /%s" % rel
        assert p.stat().st_mode & 0o777 == mode, "/%s has mode %o" % (rel, p.stat().st_mode & 0o777)
    unit = (destdir / "usr/lib/systemd/user/jupyter-keepalive@.service").read_text()
    assert exec_start(unit)[0] == "/usr/bin/jupyter-keepalive"
    assert "MIT License" in (destdir / "usr/share/doc/jupyter-keepalive/copyright").read_text()
    assert not (destdir / "usr/bin/agent").exists(), "the installed name is jupyter-keepalive only"


def test_installed_binary_once(server, agent, destdir, tmp_path):
    k, before = ready_kernel(server)
    binary = destdir / "usr/bin" / NAME
    run = run_once([str(binary), "--once", "--url", server.url, "--kernel", k],
                   agent.env(token=server.token), tmp_path / "run")
    assert_kept_once(server, k, run, before)


def test_jupyter_keepalive_subcommand(server, agent, destdir, tmp_path):
    """`jupyter keepalive` runs `jupyter-keepalive` from PATH. The `jupyter`
    command is Debian's jupyter-core package; `python3 -m jupyter` is the
    same dispatcher (jupyter_core.command) from python3-jupyter-core, which
    the tests have anyway."""
    k, before = ready_kernel(server)
    env = agent.env(token=server.token)
    env["PATH"] = "%s:%s" % (destdir / "usr/bin", env.get("PATH", "/usr/bin:/bin"))
    run = run_once([harness.PYTHON, "-m", "jupyter", "keepalive", "--once", "--url", server.url,
                    "--kernel", k], env, tmp_path / "run")
    assert_kept_once(server, k, run, before)


def test_unit_command_line_keeps_a_kernel(server, agent, destdir, tmp_path):
    """The user unit's ExecStart, with %E (the user's $XDG_CONFIG_HOME) and
    %i filled in as systemd would, keeps the targets of
    ~/.config/jupyter-keepalive/<instance>.ini; --once makes it one round."""
    k, before = ready_kernel(server)
    env = agent.env(token=server.token)     # the unit's EnvironmentFile gives JUPYTER_TOKEN
    conf = Path(env["XDG_CONFIG_HOME"])
    (conf / NAME).mkdir(parents=True, exist_ok=True)
    (conf / NAME / "lab.ini").write_text("[lab]\nurl = %s\nkernel = %s\n" % (server.url, k))
    unit = (destdir / "usr/lib/systemd/user/jupyter-keepalive@.service").read_text()
    argv = [a.replace("%E", str(conf)).replace("%i", "lab") for a in exec_start(unit)]
    argv[0] = str(destdir) + argv[0]
    assert "--foreground" in argv, "a unit's agent must not detach"
    run = run_once(argv + ["--once"], env, tmp_path / "run")
    assert_kept_once(server, k, run, before)


@pytest.mark.skipif(not shutil.which("systemd-analyze"), reason="no systemd-analyze")
def test_unit_verifies(agent_bin, tmp_path):
    """`systemd-analyze verify` is clean for the unit as `make install` writes
    it (installed without DESTDIR into a prefix of our own, so that its
    ExecStart exists; MANPATH lets it find man:jupyter-keepalive(1))."""
    prefix = tmp_path / "prefix"
    make_install(agent_bin, "", prefix)
    unit = prefix / "lib/systemd/user/jupyter-keepalive@.service"
    assert exec_start(unit.read_text())[0] == str(prefix / "bin" / NAME)
    run_dir = tmp_path / "xdg-run"
    run_dir.mkdir(mode=0o700)
    env = dict(os.environ, MANPATH=str(prefix / "share/man"), XDG_RUNTIME_DIR=str(run_dir))
    r = subprocess.run(["systemd-analyze", "--user", "verify", str(unit)],
                       capture_output=True, text=True, env=env, timeout=60)
    assert r.returncode == 0 and not (r.stdout + r.stderr).strip(), r.stdout + r.stderr
