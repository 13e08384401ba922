# SPDX-License-Identifier: MIT
"""The agent as a person sees it in a terminal (issue 12): one status line
redrawn in place, and log lines above it only for news; off a terminal the
log stays quiet between changes."""
import os
import pty
import re
import select
import subprocess
import time

import harness

ERASE = "\r\x1b[K"


def run_in_pty(argv, env, secs):
    """Run argv with stdin/stdout/stderr on a new pseudo-terminal for secs
    seconds, then SIGTERM; returns (exit code, everything it wrote)."""
    master, slave = pty.openpty()
    proc = subprocess.Popen(argv, stdin=slave, stdout=slave, stderr=slave, env=env,
                            start_new_session=True)
    os.close(slave)
    out = b""
    deadline = time.monotonic() + secs
    stopped = False
    while True:
        left = deadline - time.monotonic()
        if left <= 0 and not stopped:
            proc.terminate()
            stopped = True
            deadline = time.monotonic() + 10
            continue
        r, _, _ = select.select([master], [], [], max(0.05, min(left, 0.5)))
        if r:
            try:
                chunk = os.read(master, 65536)
            except OSError:
                break
            if not chunk:
                break
            out += chunk
        elif stopped and proc.poll() is not None:
            break
    code = proc.wait(10)
    os.close(master)
    return code, out.decode("utf-8", "replace")


def test_status_line_on_a_terminal(server, agent):
    k = server.start_kernel()
    code, out = run_in_pty([str(agent.bin), "--url", server.url, "--kernel", k,
                            "--interval", "2s"], agent.env(token=server.token), 10)
    assert code == 0, out
    assert server.token not in out
    redraws = out.count(ERASE)
    assert redraws >= 5, "the status line was drawn %d times in 10 s:\n%r" % (redraws, out)
    # What is left on screen after each redraw: the latest status line.
    shown = [seg.split("\r\n")[0] for seg in out.split(ERASE)[1:]]
    assert any(re.match(r"keeping 1 kernel · %s ok \d+s ago · server activity \d+s ago"
                        r" · next in \d+s" % k[:8], s) for s in shown), shown[-5:]
    # News only, newline-terminated: the banner, connected, the first
    # acknowledgement and read-back, the stop lines; not a line per round.
    lines = [ln for ln in re.sub(r"\r\x1b\[K[^\r\n]*", "", out).split("\n") if ln.strip()]
    assert len(lines) <= 7, "%d log lines in 10 s at a 2 s interval:\n%s" % (len(lines), "\n".join(lines))
    assert "\x1b" not in "".join(lines), "escape codes inside the log lines"


def test_quiet_log_off_a_terminal(server, agent):
    """Redirected to a file: no escape codes; the steady rounds are DEBUG
    (-v shows them)."""
    k = server.start_kernel()
    run = agent.start(["--url", server.url, "--kernel", k, "--interval", "1s", "--foreground"],
                      token=server.token)
    time.sleep(7)
    harness.stop_clean(run)
    out = run.output()
    assert "\x1b" not in out, out
    assert len(re.findall(r"keepalive acknowledged", out)) == 1, out
    assert len(re.findall(r"culler sees activity", out)) == 1, out

    loud = agent.start(["--url", server.url, "--kernel", k, "--interval", "1s", "--foreground",
                        "-v"], token=server.token)
    time.sleep(5)
    harness.stop_clean(loud)
    assert len(re.findall(r"keepalive acknowledged", loud.output())) >= 3, loud.output()
    assert server.alive(k)
