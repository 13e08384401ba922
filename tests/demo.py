#!/usr/bin/python3
# SPDX-License-Identifier: MIT
"""Demo: watch the agent keep a kernel alive while the culler takes another.

    /usr/bin/python3 tests/demo.py /abs/path/to/agent      (or: make demo)

Starts a throwaway jupyter_server on a free loopback port with a short kernel
culler that also culls connected kernels, starts two kernels ("kept" and
"control"), runs the agent against "kept" only, and prints what the culler
sees every 2 s for about 30 s. Exits 0 when the kept kernel outlived the
culler and the control kernel was culled, 1 otherwise. Everything it started
is stopped on the way out, Ctrl-C included.
"""
import os
import signal
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent / "e2e"))
import harness  # noqa: E402  (tests/e2e/harness.py)

CULL_TIMEOUT = 10      # seconds idle before the culler shuts a kernel down
CULL_INTERVAL = 2      # how often the culler looks
AGENT_INTERVAL = "3s"
DURATION = 30          # seconds of watching
TICK = 2

COLOR = sys.stdout.isatty() and os.environ.get("NO_COLOR") is None


def paint(text, code):
    return "\033[%sm%s\033[0m" % (code, text) if COLOR else text


def green(t):
    return paint(t, "32")


def red(t):
    return paint(t, "31;1")


def dim(t):
    return paint(t, "2")


def bold(t):
    return paint(t, "1")


def say(*a):
    print(*a, flush=True)


class Tracked:
    """One kernel as the culler sees it, via GET /api/kernels/<id>."""

    def __init__(self, server, label, kid):
        self.server, self.label, self.id = server, label, kid
        self.started = time.monotonic()
        self.culled_after = None    # seconds from start until it vanished
        self.model = None

    def poll(self):
        if self.culled_after is not None:
            return
        m = self.server.kernel(self.id)
        if m is None:
            self.culled_after = time.monotonic() - self.started
        self.model = m

    def cells(self):
        """state, idle age, connections - each padded for the table."""
        if self.culled_after is not None:
            return red("%-8s" % "CULLED"), "%7s" % "-", "%7s" % "-"
        m = self.model
        age = harness.utcnow() - harness.parse_time(m["last_activity"])
        age_s = age.total_seconds()
        age_txt = "%6.1fs" % age_s
        if age_s > CULL_TIMEOUT * 0.7:
            age_txt = red(age_txt)
        return (green("%-8s" % "alive"), age_txt, "%7d" % m.get("connections", 0))


def main(argv):
    if len(argv) != 2 or argv[1] in ("-h", "--help"):
        say("usage: %s /path/to/agent" % argv[0])
        return 2
    agent_bin = Path(argv[1]).resolve()
    if not os.access(agent_bin, os.X_OK):
        say("demo: %s is not an executable (build it with `make all`)" % agent_bin)
        return 2

    # SIGTERM (and SIGHUP) take the same way out as Ctrl-C: through finally.
    def on_signal(sig, frame):
        raise KeyboardInterrupt
    signal.signal(signal.SIGINT, signal.default_int_handler)   # even if started ignored
    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGHUP, on_signal)

    server = run = None
    try:
        server = harness.JupyterServer(cull_idle_timeout=CULL_TIMEOUT, cull_interval=CULL_INTERVAL,
                                       cull_connected=True)
        say(bold("Jupyter Server") + "  starting on 127.0.0.1:%d ..." % server.port)
        server.start()
        say("  culler: kernels idle > %d s are shut down (checked every %d s),"
            " even with open connections" % (CULL_TIMEOUT, CULL_INTERVAL))
        kept = Tracked(server, "kept", server.start_kernel())
        control = Tracked(server, "control", server.start_kernel())
        say("  kernel 'kept'    %s" % kept.id)
        say("  kernel 'control' %s  (nobody keeps this one)" % control.id)

        args = ["--url", server.url, "--kernel", kept.id, "--interval", AGENT_INTERVAL,
                "--foreground"]
        say(bold("Agent") + "  %s %s   (token via JUPYTER_TOKEN)"
            % (agent_bin.name, " ".join(args)))
        run = harness.start_agent(agent_bin, args,
                                  harness.agent_env(server.dir / "agent-env", token=server.token),
                                  server.dir)
        log_pos = 0

        say("")
        say(dim("idle = time since the kernel's last_activity, as the culler reads it"
                " (GET /api/kernels/<id>);"))
        say(dim("       the culler shuts a kernel down once idle > %d s" % CULL_TIMEOUT))
        say("")
        say(bold("%6s   %-24s   %-24s" % ("", "kept (agent)", "control (no agent)")))
        say(bold("%6s   %-8s %7s %7s   %-8s %7s %7s" % (
            "time", "state", "idle", "conns", "state", "idle", "conns")))
        t0 = time.monotonic()
        while True:
            kept.poll()
            control.poll()
            # Agent log lines that arrived since the last tick, above the row.
            data = run.err_path.read_bytes()
            new, log_pos = data[log_pos:], len(data)
            for line in new.decode(errors="replace").splitlines():
                # The agent redacts tokens itself; the demo does too, to be safe.
                say(dim("         agent| " + line.replace(server.token, "***")))
            k, c = kept.cells(), control.cells()
            t = time.monotonic() - t0
            say("%5.0fs   %s %s %s   %s %s %s" % ((t,) + k + c))
            if not run.running():
                say(red("agent exited with code %s" % run.code))
                break
            if t >= DURATION:
                break
            time.sleep(max(0.0, TICK - (time.monotonic() - t0 - t)))

        kept.poll()
        control.poll()
        say("")
        kept_age = time.monotonic() - kept.started
        ok = kept.culled_after is None and control.culled_after is not None
        if ok:
            say(green(bold("PASS")) + "  kept kernel survived %.0f s past the culler timeout;"
                " control kernel was culled after %.0f s"
                % (kept_age - CULL_TIMEOUT, control.culled_after))
        else:
            why = []
            if kept.culled_after is not None:
                why.append("kept kernel was culled after %.0f s" % kept.culled_after)
            if control.culled_after is None:
                why.append("control kernel was not culled within %.0f s (culler?)"
                           % (time.monotonic() - control.started))
            if not run.running():
                why.append("agent exited with code %s" % run.code)
            say(red(bold("FAIL")) + "  " + "; ".join(why))
            say(dim("agent log tail:\n" + harness.tail(run.err_path, 15)))
        return 0 if ok else 1
    except KeyboardInterrupt:
        say("\ninterrupted; cleaning up")
        return 130
    except Exception as e:
        say(red("demo failed: %s" % e))
        if server is not None and server.log_path.exists():
            say(dim(server.log_tail(20)))
        return 1
    finally:
        signal.signal(signal.SIGINT, signal.SIG_IGN)   # no second Ctrl-C mid-cleanup
        if run is not None:
            run.stop(signal.SIGTERM, timeout=5)
            run.close()
        if server is not None:
            server.stop()


if __name__ == "__main__":
    sys.exit(main(sys.argv))
