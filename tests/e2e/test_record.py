# SPDX-License-Identifier: MIT
"""The output recorder (issue 13): with --record (or record = in a config
file) the agent appends what the kept kernel's cells show to a file: the
code with its execution count, stdout and stderr, errors without ANSI
colour codes, results, and one line for an image naming its type and size.
Its own keepalives leave nothing there; the file is 0600, never holds the
token, rotates at record_max, and is appended to across runs. Inside a
notebook, `!agent` records by default to a file beside its log, and says so.

Real jupyter_server and ipykernel; no test doubles.
"""
import base64
import os
import re
import stat
import time
from pathlib import Path

import pytest

import harness
from test_notebook import (cell, live_agents, notebook_server, start_kernel_ready,  # noqa: F401
                           state_files, states)

PNG = b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 4     # 1032 bytes, looks like a PNG


def read(path):
    try:
        return Path(path).read_text(errors="replace")
    except FileNotFoundError:
        return ""


def wait_recording(srv, kernel_id, path, timeout=30):
    """Run marker cells until one shows up in the record: the agent is
    connected and recording from then on."""
    deadline = time.monotonic() + timeout
    n = 0
    while time.monotonic() < deadline:
        n += 1
        marker = "recorder-ready-%d" % n
        srv.execute(kernel_id, "print(%r)" % marker, timeout=30)
        t = time.monotonic()
        while time.monotonic() - t < 2:
            if marker + "\n" in read(path):
                return n
            time.sleep(0.1)
    pytest.fail("nothing reached %s within %d s:\n%s" % (path, timeout, read(path)[-2000:]))


def start_recording(agent, srv, kernel_id, path, extra=()):
    run = agent.start(["--url", srv.url, "--kernel", kernel_id, "--interval", "2s",
                       "--foreground", "--record", str(path)] + list(extra), token=srv.token)
    ready = wait_recording(srv, kernel_id, path)
    return run, ready


def test_record_holds_cells_not_keepalives(server, agent, tmp_path):
    k = server.start_kernel()
    path = tmp_path / "out" / "record.txt"
    path.parent.mkdir()
    run, ready = start_recording(agent, server, k, path)

    server.execute(k, "for i in range(200):\n    print('line %03d' % i)\n"
                      "import sys\nprint('to stderr', file=sys.stderr)")
    # ipykernel colours tracebacks with ANSI codes; the record must not.
    server.execute(k, "1/0")
    server.execute(k, "from IPython.display import display\nimport base64\n"
                      "display({'image/png': %r, 'text/plain': 'a picture'}, raw=True)"
                      % base64.b64encode(PNG).decode())
    server.execute(k, "6 * 7")
    server.execute(k, "print('the token is %s')" % server.token)
    time.sleep(5)       # at least two more keepalive rounds at 2 s
    harness.stop_clean(run)

    text = read(path)
    assert "line 000\n" in text and "line 199\n" in text
    assert all("line %03d\n" % i in text for i in range(200)), "a printed line is missing"
    assert "> for i in range(200):\n>     print('line %03d' % i)\n" in text, text[:2000]
    assert "[stderr] to stderr\n" in text
    assert "[error] ZeroDivisionError: division by zero\n" in text
    assert "\x1b" not in text, "ANSI escape codes in the record"
    assert re.search(r"^ZeroDivisionError: division by zero$", text, re.M), text[-3000:]
    assert "a picture\n[image/png, %d bytes]\n" % len(PNG) in text
    assert not re.search(r"^iVBOR", text, re.M), "image data was written"
    assert re.search(r"^Out\[\d+\]: 42$", text, re.M)
    assert server.token not in text, "the token is in the record"
    assert "the token is ***" in text

    # Every "In [n]" line is one of the test's cells (markers + 5), never a keepalive.
    ins = re.findall(r"^=== In \[(\d+|\s)\] \d{4}-\d\d-\d\d \d\d:\d\d:\d\d UTC, kernel (\w+)$",
                     text, re.M)
    assert len(ins) == ready + 5, "In lines: %r\n%s" % (ins, text[-2000:])
    assert all(kid == k[:8] for _, kid in ins)
    counts = [int(c) for c, _ in ins]
    assert counts == list(range(counts[0], counts[0] + len(counts))), counts
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    assert server.token not in run.output()


def test_record_rotates_at_record_max(server, agent, tmp_path, write_config):
    k = server.start_kernel()
    path = tmp_path / "rot.txt"
    cfg = write_config("[agent]\nrecord = %s\nrecord_max = 4k\ninterval = 2s\n\n"
                       "[lab]\nurl = %s\nkernel = %s\n" % (path, server.url, k))
    run = agent.start(["-c", cfg, "--foreground"], token=server.token)
    wait_recording(server, k, path)
    # Many stream messages (ipykernel sends its buffer every 0.2 s).
    server.execute(k, "import time\nfor i in range(600):\n    print('rotating line %04d' % i)\n"
                      "    if i % 30 == 29:\n        time.sleep(0.25)")
    harness.wait_for(lambda: "rotating line 0599\n" in read(path), 15,
                     what="the last line in %s" % path)
    harness.stop_clean(run)

    old = Path(str(path) + ".1")
    assert old.exists(), "no %s after rotation" % old
    assert path.stat().st_size <= 4096 and old.stat().st_size <= 4096
    assert stat.S_IMODE(old.stat().st_mode) == 0o600
    assert "rotating line 0599\n" in read(path)
    # Rotation happens between messages, never inside a line.
    for line in read(old).splitlines() + read(path).splitlines():
        assert line.startswith(("rotating line ", "###", "===", ">", "recorder-ready")), line


def test_record_appends_across_runs(server, agent, tmp_path):
    k = server.start_kernel()
    path = tmp_path / "append.txt"
    run, _ = start_recording(agent, server, k, path)
    server.execute(k, "print('from the first run')")
    harness.wait_for(lambda: "from the first run\n" in read(path), 10, what="first run's line")
    harness.stop_clean(run)

    run, _ = start_recording(agent, server, k, path)
    server.execute(k, "print('from the second run')")
    harness.wait_for(lambda: "from the second run\n" in read(path), 10, what="second run's line")
    harness.stop_clean(run)

    text = read(path)
    assert len(re.findall(r"^### agent \(pid \d+\) started recording", text, re.M)) == 2, text
    assert text.index("from the first run") < text.index("from the second run")


def test_bang_agent_records_by_default(notebook_server, agent_bin, agent):
    srv, state = notebook_server
    k = start_kernel_ready(srv)
    path = state / ("agent-kernel-%s-output.txt" % k[:8])

    _, out = cell(srv, k, "!%s --interval 2s" % agent_bin, state)
    assert "recording cell output to %s" % path in out, out
    assert srv.token not in out
    harness.wait_for(lambda: live_agents(state, agent_bin, k), 10, what="a live agent")
    wait_recording(srv, k, path)

    _, out = cell(srv, k, "print('printed while no tab watched')", state)
    harness.wait_for(lambda: "printed while no tab watched\n" in read(path), 10,
                     what="the cell's output in %s" % path)
    text = read(path)
    assert "> print('printed while no tab watched')\n" in text
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    assert srv.token not in text

    _, st = cell(srv, k, "!%s --status" % agent_bin, state)
    assert "record: %s" % path in st, st
    # The log sits beside it.
    logs = [s.get("log") for s in state_files(state).values() if s.get("log")]
    assert any(Path(lg).parent == path.parent for lg in logs), logs


def test_record_off_in_notebook(notebook_server, agent_bin):
    srv, state = notebook_server
    k = start_kernel_ready(srv)
    _, out = cell(srv, k, "!%s --interval 2s --record off" % agent_bin, state)
    assert "recording" not in out, out
    harness.wait_for(lambda: live_agents(state, agent_bin, k), 10, what="a live agent")
    time.sleep(2)
    srv.execute(k, "print('not recorded')")
    time.sleep(1)
    assert not list(state.glob("*-output.txt"))


def test_record_unwritable_is_a_config_error(server, agent, tmp_path):
    k = server.start_kernel()
    run = agent.run(["--url", server.url, "--kernel", k, "--record",
                     str(tmp_path / "no" / "such" / "dir" / "r.txt")], token=server.token)
    assert run.code == 2, run.describe()
    assert "record" in run.output() and "cannot open" in run.output()


def test_record_holds_what_a_dropped_tab_missed(server, agent, tmp_path):
    """A frontend (a browser tab: its own channel and session id) drops for
    3 s in the middle of a cell that prints slowly, then reconnects with the
    same session id. While another connection (the agent's) is open, the
    server buffers nothing for the tab (jupyter_server 1.23; 2.x has the
    same code), so the lines printed in the gap never reach it. They are in
    the record."""
    k = server.start_kernel()
    path = tmp_path / "tab.txt"
    run, _ = start_recording(agent, server, k, path)

    n = 80
    tab = server.channel(k)
    session = tab.session
    msg = harness.jupyter_msg("execute_request", {
        "code": "import time\nfor i in range(%d):\n    print('tab line %%02d' %% i, flush=True)\n"
                "    time.sleep(0.1)" % n,
        "silent": False, "store_history": True, "user_expressions": {},
        "allow_stdin": False, "stop_on_error": True}, session)
    mid = tab.send(msg)
    got = []

    def receive(ch, until):
        """Collect the cell's stream text on ch until the deadline or its idle."""
        while time.monotonic() < until:
            m = ch.recv(max(0.05, until - time.monotonic()))
            if m is None:
                if ch.ws.closed:
                    return False
                continue
            if (m.get("parent_header") or {}).get("msg_id") != mid:
                continue
            t, c = m["header"]["msg_type"], m.get("content", {})
            if t == "stream":
                got.append(c.get("text", ""))
            elif t == "status" and c.get("execution_state") == "idle":
                return True
        return False

    receive(tab, time.monotonic() + 2)          # about 20 lines arrive
    tab.close()                                 # the tab drops...
    time.sleep(3)
    # ...and comes back as the same tab. The shell reply went to the closed
    # socket; IOPub's idle ends the cell for the new connection.
    with server.channel(k, session_id=session) as tab2:
        done = receive(tab2, time.monotonic() + 30)
    assert done, "the cell did not end within 30 s of the reconnect"

    seen = set(re.findall(r"^tab line (\d\d)$", "".join(got), re.M))
    lost = ["tab line %02d\n" % i for i in range(n) if "%02d" % i not in seen]
    harness.wait_for(lambda: "tab line %02d\n" % (n - 1) in read(path), 15,
                     what="the cell's last line in %s" % path)
    harness.stop_clean(run)

    text = read(path)
    missing = [line for line in lost if line not in text]
    assert not missing, "lost by the tab and not in the record: %r" % missing
    # Everything else too: the record is the cell's whole output.
    assert all("tab line %02d\n" % i in text for i in range(n))
    assert 0 < len(seen) < n, "the tab should have seen part of the output: %d lines" % len(seen)
