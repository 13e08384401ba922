#!/usr/bin/python3
# SPDX-License-Identifier: MIT
"""Benchmark: the agent's memory, CPU and wakeups against a real jupyter_server.

    /usr/bin/python3 tests/bench/run.py [--quick] [--no-strace] [/abs/path/to/agent]
    make bench

Scenarios (see tests/bench/README.md): an idle agent keeping one kernel, one agent
keeping 20 kernels, and one kernel flooding ~100 MB of output past the agent.
Prints the environment and one table; exits 0 when every goal is met, 1 when
one is not, 2 when the benchmark itself could not run.

Every measurement is read from /proc of the agent: VmHWM, utime+stime (or
schedstat), voluntary context switches as wakeups. When strace is installed
it also traces the agent, which shows what each loop trip and round costs;
strace stops the agent at every system call, inflating its context switches
and CPU, so idle and many have two windows: a plain one (CPU, wakeups) and a
traced one (poll()s, system calls).
"""
import argparse
import json
import math
import os
import re
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "e2e"))
import harness  # noqa: E402  (tests/e2e/harness.py)
from fake_proxy import FakeProxy  # noqa: E402  (a TCP relay that can refuse)

PY_LOOP = Path(__file__).resolve().parent / "python_loop.py"

CLK_TCK = os.sysconf("SC_CLK_TCK")

# Goals. Measured on Debian 12 (lws 4.1.6, curl 7.88.1): ~13 MB peak RSS,
# most of it shared-library pages (libcrypto, libcurl and their deps).
GOAL_RSS_MB = 16.0
GOAL_IDLE_CPU_PCT = 0.1
GOAL_MANY_CPU_PCT = 1.0
# Wakeups (voluntary context switches: the loop slept and was woken) per
# keepalive round. A round costs 3 (the timer sends; the replies and the
# REST ping's answer are read together; the read-back's answers are read
# together and the state file is written in that pass), plus the server's
# own WebSocket pings (one per 30 s; at 60 s the round falls on one of
# them when there is no jitter); the agent's own ping never runs while
# those pings prove the link. See README.md. Kernels share them: 20 or 100
# kernels take about as many per round as one. Zero-timeout re-polls (lws
# #2039) never sleep, so never count.
GOAL_IDLE_WAKEUPS_PER_ROUND = 3      # plus the server's pings
GOAL_MANY_WAKEUPS_PER_ROUND = 30     # however many kernels: rounds are batched
GOAL_SCALE_WAKEUPS_PER_KERNEL = 1.0  # per round: sublinear (each kernel's own server pings included)
# jupyter_server pings every WebSocket every 30 s (WS_PING_INTERVAL), each
# at its own phase: one wakeup per kernel per 30 s that no client can batch.
SERVER_PING_S = 30.0
# The port refuses connections: reconnects back off (1, 2, 4, 8 s ...).
GOAL_REFUSED_CPU_S = 0.05
GOAL_REFUSED_TRIES = 6
# Agent / reference Python loop (python_loop.py), same scenario, same run.
# Wakeups: the agent also pings the REST API, reads back what the cullers
# see and writes its state file; the Python loop does none of that.
GOAL_RATIO = {"private": 0.5, "flood_cpu": 0.25, "wakeups": 1.5, "once_wall": 0.4}


def lws_sequencer_on():
    """libwebsockets built with LWS_WITH_SEQUENCER (the 4.0 default, e.g.
    Debian 11 and Ubuntu 22.04) wakes the loop every second (its sequencer
    heartbeat, lib/core-net/sequencer.c); no context option turns it off.
    The wakeup goals allow one more wakeup per second of the interval then.
    None when unknown."""
    try:
        cfg = Path("/usr/include/lws_config.h").read_text()
    except OSError:
        return None
    return bool(re.search(r"^#define LWS_WITH_SEQUENCER", cfg, re.M))


def tick_allowance(interval_s):
    return interval_s if lws_sequencer_on() else 0

FULL = dict(idle_interval=60, idle_rounds=(1, 1), many_kernels=20, many_interval=5,
            many_rounds=(5, 3), flood_interval=2, flood_images=20, flood_lines=50000,
            flood_after=3, once_runs=9, refused_interval=5, refused_seconds=10,
            scale_kernels=100, scale_interval=10, scale_rounds=3, scale_start_s=600)
QUICK = dict(idle_interval=5, idle_rounds=(1, 1), many_kernels=5, many_interval=5,
             many_rounds=(1, 1), flood_interval=2, flood_images=4, flood_lines=10000,
             flood_after=2, once_runs=3, refused_interval=2, refused_seconds=5,
             scale_kernels=8, scale_interval=5, scale_rounds=2, scale_start_s=120)


def _mem_available_mb():
    try:
        with open("/proc/meminfo") as f:
            for line in f:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    return None

FLOOD_CODE = """
import sys
from IPython.display import display
_payload = 'A' * 5_000_000
for _i in range({images}):
    display({{'image/png': _payload}}, raw=True)
for _i in range({lines}):
    print('flood line %06d %s' % (_i, 'x' * 64))
    if _i % 10 == 9:
        sys.stdout.flush()
del _payload
"""


def say(*a):
    print(*a, flush=True)


class BenchError(Exception):
    """The benchmark could not run (as opposed to a goal not met)."""


# ---------------------------------------------------------------------------
# /proc readings


def proc_status(pid):
    d = {}
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            k, _, v = line.partition(":")
            d[k] = v.strip()
    return d


def kb(status, key):
    v = status.get(key, "0 kB").split()
    return int(v[0]) if v else 0


def cpu_seconds(pid):
    """utime+stime of the whole process from /proc/PID/stat (clock ticks,
    includes threads that already exited), or the summed schedstat run time
    of its live threads when that is larger (nanoseconds, so an idle agent
    does not read as 0.00)."""
    with open("/proc/%d/stat" % pid) as f:
        fields = f.read().rsplit(")", 1)[1].split()
    ticks = (int(fields[11]) + int(fields[12])) / CLK_TCK
    ns = 0
    try:
        for tid in os.listdir("/proc/%d/task" % pid):
            with open("/proc/%d/task/%s/schedstat" % (pid, tid)) as f:
                ns += int(f.read().split()[0])
    except (OSError, ValueError, IndexError):
        ns = 0
    return max(ticks, ns / 1e9)


def tcp_bytes_received(pid):
    """Bytes received on pid's open TCP connections (ss's tcp_info), or None
    without ss. recv() does not count in /proc/PID/io."""
    if not shutil.which("ss"):
        return None
    try:
        out = subprocess.run(["ss", "-tinpH", "state", "established"], capture_output=True,
                             text=True, timeout=10).stdout
    except (OSError, subprocess.TimeoutExpired):
        return None
    total, mine = 0, False
    for line in out.splitlines():
        if not line[:1].isspace():
            mine = ("pid=%d," % pid) in line
        elif mine:
            m = re.search(r"bytes_received:(\d+)", line)
            total += int(m.group(1)) if m else 0
    return total


def state_acks(run):
    """Keepalives acknowledged so far, from the agent's state file (its
    targets' "acks"), or None when there is none yet."""
    home = Path(run.argv_env_home) if getattr(run, "argv_env_home", None) else None
    for p in (home.rglob("agent-%d.json" % run.pid) if home else ()):
        try:
            st = json.loads(p.read_text())
        except (OSError, ValueError):
            return None
        return sum(int(t.get("acks") or 0) for t in st.get("targets", []))
    return None


def private_kb(pid):
    """Private_Dirty of smaps_rollup: the pages only this process wrote (its
    heap, stacks, relocated library data), what one more copy of it costs.
    Private_Clean is left out: library code counts as private whenever no
    other process happens to map that library."""
    total = 0
    try:
        with open("/proc/%d/smaps_rollup" % pid) as f:
            for line in f:
                if line.startswith("Private_Dirty:"):
                    total += int(line.split()[1])
    except OSError:
        return 0
    return total


class Snapshot:
    def __init__(self, run, net=False):
        st = proc_status(run.pid)
        self.private_kb = private_kb(run.pid)
        self.t = time.monotonic()
        self.cpu = cpu_seconds(run.pid)
        self.vcsw = int(st.get("voluntary_ctxt_switches", 0))
        self.hwm_kb = kb(st, "VmHWM")
        self.rss_kb = kb(st, "VmRSS")
        self.anon_kb = kb(st, "RssAnon")
        self.file_kb = kb(st, "RssFile")
        text = run.stderr
        # Steady rounds log at DEBUG: the state file counts every
        # acknowledged keepalive (written at most once a second).
        acks = state_acks(run)
        self.acks = acks if acks is not None else text.count("acknowledged")
        self.connects = text.count("connected to kernel")
        self.reconnects = text.count("reconnecting")
        self.rx_bytes = tcp_bytes_received(run.pid) if net else None


# ---------------------------------------------------------------------------
# strace: count the event loop's trips


POLL_NAMES = ("poll", "ppoll", "epoll_wait", "epoll_pwait", "restart_syscall")
LINE_RE = re.compile(r"^(?:\[pid\s+)?(\d+)\]?\s+(.*)$")
DUR_RE = re.compile(r"<(\d+\.\d+)>\s*$")


def _timeout_ms(name, args):
    """The timeout argument of one call as strace printed it; None = forever."""
    if name == "restart_syscall":
        return -1
    if name == "ppoll":
        m = re.search(r"\{tv_sec=(\d+), tv_nsec=(\d+)\}", args)
        if not m:
            return None
        return int(m.group(1)) * 1000 + int(m.group(2)) / 1e6
    m = re.search(r",\s*(-?\d+)\s*$", args)
    if not m:
        return None
    v = int(m.group(1))
    return None if v < 0 else v


class Strace:
    """strace attached to the agent for one window, its output parsed."""

    def __init__(self, pid, workdir, tag):
        self.path = Path(workdir) / ("strace-%s.txt" % tag)
        self.err_path = Path(workdir) / ("strace-%s.err" % tag)
        self._err = open(self.err_path, "wb")
        # Every call: the poll()s show the loop, the rest what each round costs.
        self.proc = subprocess.Popen(
            ["strace", "-f", "-T", "-s", "16", "-o", str(self.path), "-p", str(pid)],
            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=self._err)
        try:
            harness.wait_for(lambda: "attached" in self.err_path.read_text(errors="replace")
                             or self.proc.poll() is not None, 10, 0.05, "strace to attach")
        except TimeoutError:
            pass
        if self.proc.poll() is not None or "attached" not in self.err_path.read_text(errors="replace"):
            self.stop()
            raise BenchError("strace could not attach: %s"
                             % self.err_path.read_text(errors="replace").strip())

    def stop(self):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGINT)   # detach and flush
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
        self._err.close()

    def counts(self):
        """zero: polls with a zero timeout (never sleep); blocking: polls
        allowed to sleep (each is one trip around the loop); slept: blocking
        polls that took >= 1 ms; longest: longest single poll, seconds;
        calls: every system call by name."""
        c = dict(zero=0, blocking=0, slept=0, longest=0.0, epoll=0, calls={})
        pending = {}
        try:
            lines = self.path.read_text(errors="replace").splitlines()
        except OSError:
            return c
        for raw in lines:
            m = LINE_RE.match(raw)
            if not m:
                continue
            pid, text = m.groups()
            if not text.startswith(("<...", "+++", "---")):
                name = text.split("(", 1)[0]
                c["calls"][name] = c["calls"].get(name, 0) + 1
            if "<unfinished ...>" in text:
                name = text.split("(", 1)[0]
                if name in POLL_NAMES:
                    pending[pid] = (name, _timeout_ms(name, text.split("(", 1)[1]
                                                      .rsplit("<unfinished", 1)[0].strip()))
                continue
            if text.startswith("<..."):
                if pid not in pending:
                    continue
                name, timeout = pending.pop(pid)
            else:
                name = text.split("(", 1)[0]
                if name not in POLL_NAMES or " = " not in text:
                    continue
                args = text.split("(", 1)[1].rsplit(") = ", 1)[0]
                timeout = _timeout_ms(name, args)
            d = DUR_RE.search(text)
            if not d:
                continue           # cut off by the detach
            dur = float(d.group(1))
            c["longest"] = max(c["longest"], dur)
            if name.startswith("epoll"):
                c["epoll"] += 1    # curl's epoll set, drained with timeout 0
                if timeout != 0:
                    c["blocking"] += 1
                continue
            if timeout == 0:
                c["zero"] += 1
            else:
                c["blocking"] += 1
                if dur >= 0.001:
                    c["slept"] += 1
        return c


def strace_usable():
    if not shutil.which("strace"):
        return "strace is not installed (apt-get install strace)"
    return None


# ---------------------------------------------------------------------------
# Scenarios


class Result:
    def __init__(self, name, what):
        self.name, self.what = name, what
        self.private_mb = None     # smaps_rollup Private_* at the end
        self.per_round = None      # wakeups per round (all kernels)
        self.duration = 0.0
        self.peak_mb = 0.0
        self.cpu = 0.0
        self.cpu_pct = 0.0
        self.wakeups_min = None
        self.acks = ""
        self.goal = ""
        self.fails = []
        self.notes = []

    def check(self, ok, text):
        if not ok:
            self.fails.append(text)


class Bench:
    def __init__(self, agent_bin, params, use_strace, workdir):
        self.agent_bin = agent_bin
        self.p = params
        self.use_strace = use_strace
        self.workdir = Path(workdir)
        self.server = None
        self.runs = []
        self.compare = []

    # -- plumbing -----------------------------------------------------------

    def start_agent(self, tag, args):
        wd = self.workdir / tag
        run = harness.start_agent(self.agent_bin,
                                  ["--url", self.server.url] + args + ["--jitter", "0", "--foreground"],
                                  harness.agent_env(wd / "env", token=self.server.token), wd)
        run.argv_env_home = wd / "env"     # where its state file is (state_acks)
        self.runs.append(run)
        return run

    def wait_ready(self, run, kernels, timeout=60):
        """kernels: a number, or a function that returns how many to wait for."""
        def ready():
            if not run.running():
                raise BenchError("the agent exited early:\n" + run.describe())
            s = Snapshot(run)
            n = kernels() if callable(kernels) else kernels
            return s.connects >= n and s.acks >= n
        try:
            harness.wait_for(ready, timeout, 0.1, "%s kernels connected and acknowledged"
                             % ("the listed" if callable(kernels) else kernels))
        except TimeoutError as e:
            raise BenchError("%s\n%s\n--- server log ---\n%s"
                             % (e, run.describe(), self.server.log_tail(30)))

    def wait_gap(self, run, quiet=1.0, timeout=120):
        """Return once no keepalive was acknowledged for `quiet` seconds: we
        are between rounds, so a window of whole intervals starting now holds
        exactly that many rounds (jitter is 0)."""
        last, since = Snapshot(run).acks, time.monotonic()
        deadline = since + timeout
        while time.monotonic() < deadline:
            time.sleep(0.05)
            n = Snapshot(run).acks
            if n != last:
                last, since = n, time.monotonic()
            elif time.monotonic() - since >= quiet:
                return
        raise BenchError("keepalives never paused for %.0f s" % quiet)

    def stop_agent(self, run):
        code = run.stop()
        run.close()
        if code not in (0, None):
            raise BenchError("the agent exited %s on SIGTERM:\n%s" % (code, run.describe()))

    def start_python(self, tag, kernel_id, interval, once=False):
        """The reference loop (python_loop.py) on one kernel."""
        wd = self.workdir / tag
        run = harness.AgentRun([harness.PYTHON, str(PY_LOOP), self.server.url, kernel_id,
                                str(interval)] + (["--once"] if once else []),
                               harness.agent_env(wd / "env", token=self.server.token), wd)
        self.runs.append(run)
        return run

    @staticmethod
    def stop_python(run):
        run.stop()
        run.close()

    def windows(self, res, run, interval, rounds, kernels, trace=True):
        """Window A (plain) then window B (traced), each a whole number of
        intervals long, starting between two rounds."""
        na, nb = rounds
        self.wait_gap(run)
        a0 = Snapshot(run)
        time.sleep(na * interval)
        a1 = Snapshot(run)
        counts = None
        if self.use_strace and trace and nb:
            st = Strace(run.pid, run.out_path.parent, res.name)
            b0 = Snapshot(run)
            try:
                time.sleep(max(0.0, a0.t + (na + nb) * interval - time.monotonic()))
            finally:
                st.stop()
            b1 = Snapshot(run)
            counts = st.counts()
            dur_b = b1.t - b0.t
        else:
            time.sleep(nb * interval)
            b1 = Snapshot(run)
            dur_b = b1.t - a1.t
        dur_a = a1.t - a0.t
        res.duration = b1.t - a0.t
        res.duration_text = ""
        res.peak_mb = b1.hwm_kb / 1024
        res.cpu = a1.cpu - a0.cpu          # untraced window only
        res.cpu_pct = 100 * res.cpu / dur_a
        vcsw_min = (a1.vcsw - a0.vcsw) * 60 / dur_a
        expect = kernels * (na + nb)
        got = b1.acks - a0.acks
        res.acks = "%d/%d" % (got, expect)
        res.check(got >= expect, "keepalives %d < %d" % (got, expect))
        res.check(b1.reconnects == a0.reconnects, "reconnected")
        res.duration_text = "%.0f+%.0f s" % (dur_a, dur_b)
        res.wakeups_min = vcsw_min
        per_round = (a1.vcsw - a0.vcsw) / (na * kernels)
        res.per_round = per_round * kernels
        res.private_mb = b1.private_kb / 1024
        res.notes.append("plain %.0f s: %d wakeups (%.1f per round, %.1f per round per kernel), "
                         "CPU %.3f s; RSS now %.1f MB = %.1f anon + %.1f file-backed, "
                         "%.1f MB private"
                         % (dur_a, a1.vcsw - a0.vcsw, per_round * kernels, per_round, res.cpu,
                            b1.rss_kb / 1024, b1.anon_kb / 1024, b1.file_kb / 1024,
                            b1.private_kb / 1024))
        if counts is not None:
            res.notes.append(
                "traced %.0f s: %d poll()s that may sleep (%d took >= 1 ms; longest sleep %.1f s), "
                "%d zero-timeout polls (lws #2039, curl connection checks), %d epoll_wait; "
                "per round per kernel %.1f and %.1f"
                % (dur_b, counts["blocking"], counts["slept"], counts["longest"], counts["zero"],
                   counts["epoll"], counts["blocking"] / (nb * kernels),
                   counts["zero"] / (nb * kernels)))
            calls = counts["calls"]
            top = sorted(calls.items(), key=lambda kv: -kv[1])[:4]
            res.notes.append("traced: %.0f system calls per round (%s)"
                             % (sum(calls.values()) / nb,
                                ", ".join("%s %.0f" % (k, v / nb) for k, v in top)))
        return per_round, counts

    # -- scenarios ----------------------------------------------------------

    def idle(self, kernel_id):
        iv = self.p["idle_interval"]
        res = Result("idle", "1 kernel, every %ds" % iv)
        run = self.start_agent("idle", ["--kernel", kernel_id, "--interval", "%ds" % iv])
        self.wait_ready(run, 1)
        # At rest: after the second round, the first whose replies are held
        # for as long as the first ones took (kernel_ws.c), as in scale.
        time.sleep(iv)
        per_round, counts = self.windows(res, run, iv, self.p["idle_rounds"], 1)
        self.stop_agent(run)
        limit = GOAL_IDLE_WAKEUPS_PER_ROUND + math.ceil(iv / SERVER_PING_S) + tick_allowance(iv)
        res.goal = "RSS<%g CPU<%g%% wakeups/round<=%d" % (GOAL_RSS_MB, GOAL_IDLE_CPU_PCT, limit)
        res.check(res.peak_mb < GOAL_RSS_MB, "peak RSS %.1f MB" % res.peak_mb)
        res.check(res.cpu_pct < GOAL_IDLE_CPU_PCT, "CPU %.3f %%" % res.cpu_pct)
        res.check(per_round <= limit, "%.1f wakeups per round" % per_round)
        return res

    def many(self):
        n, iv = self.p["many_kernels"], self.p["many_interval"]
        # A kernel that lost the port race is replaced (drop_silent_kernels).
        for _ in range(3):
            have = len(self.server.kernels())
            if have >= n and not self.drop_silent_kernels():
                break
            for _ in range(n - len(self.server.kernels())):
                self.server.start_kernel()
            time.sleep(2)
        run = self.start_agent("many", ["--kernel", "all", "--interval", "%ds" % iv])
        # A kernel that lost the port race can also die later, while still
        # "starting" (seen with jupyter_server 2.15): wait for those listed.
        self.wait_ready(run, lambda: len(self.server.kernels()), timeout=120)
        kernels = len(self.server.kernels())
        res = Result("many", "%d kernels, every %ds" % (kernels, iv))
        per_round, _ = self.windows(res, run, iv, self.p["many_rounds"], kernels)
        self.stop_agent(run)
        limit = int(GOAL_MANY_WAKEUPS_PER_ROUND + kernels * iv / SERVER_PING_S
                    + tick_allowance(iv))
        res.goal = "RSS<%g CPU<%g%% wakeups/round<=%d" % (GOAL_RSS_MB, GOAL_MANY_CPU_PCT, limit)
        res.check(res.peak_mb < GOAL_RSS_MB, "peak RSS %.1f MB" % res.peak_mb)
        res.check(res.cpu_pct < GOAL_MANY_CPU_PCT, "CPU %.2f %%" % res.cpu_pct)
        res.check(per_round * kernels <= limit, "%.0f wakeups per round" % (per_round * kernels))
        return res

    def flood(self, kernel_id, record=False, python=False):
        """The flood; with record, the same with --record (issue 13): the
        budget (RSS, reconnects) is the same. python: the reference loop
        instead of the agent (measured, no goal)."""
        iv = self.p["flood_interval"]
        images, lines = self.p["flood_images"], self.p["flood_lines"]
        size_mb = (images * 5_000_000 + lines * 83) / 1e6
        tag = "py flood" if python else "flood+record" if record else "flood"
        res = Result(tag, "1 kernel, every %ds, %.0f MB out" % (iv, size_mb))
        rec = self.workdir / "flood-record.txt"
        if python:
            run = self.start_python("py-flood", kernel_id, iv)
        else:
            run = self.start_agent(tag, ["--kernel", kernel_id, "--interval", "%ds" % iv]
                                   + (["--record", str(rec)] if record else []))
        self.wait_ready(run, 1)
        s0 = Snapshot(run, net=True)
        t0 = time.monotonic()
        code = FLOOD_CODE.format(images=images, lines=lines)
        try:
            _, out = self.server.execute(kernel_id, code, timeout=600)
        except Exception as e:
            raise BenchError("the flood cell failed: %s" % e)
        flood_s = time.monotonic() - t0
        if out.count("flood line") < lines:
            res.notes.append("the flood client saw only %d of %d lines"
                             % (out.count("flood line"), lines))
        s1 = Snapshot(run)
        time.sleep(self.p["flood_after"] * iv + 0.5)
        s2 = Snapshot(run, net=True)
        if python:
            self.stop_python(run)
        else:
            self.stop_agent(run)
        res.duration = s2.t - s0.t
        res.peak_mb = s2.hwm_kb / 1024
        res.cpu = s2.cpu - s0.cpu
        res.cpu_pct = 100 * res.cpu / res.duration
        res.duration_text = "%.0f s" % res.duration
        res.wakeups_min = (s2.vcsw - s0.vcsw) * 60 / res.duration
        during, after = s1.acks - s0.acks, s2.acks - s1.acks
        res.acks = "%d+%d" % (during, after)
        res.goal = "RSS<%g connected ack-after" % GOAL_RSS_MB
        res.check(res.peak_mb < GOAL_RSS_MB, "peak RSS %.1f MB" % res.peak_mb)
        res.check(s2.reconnects == 0 and s2.connects == 1, "reconnected during the flood")
        res.check(after >= 1, "no keepalive acknowledged after the flood")
        res.notes.append("flood cell took %.1f s (%.0f MB/s through the server); keepalives "
                         "acknowledged during %d, in the %d s after %d (a busy kernel skips rounds)"
                         % (flood_s, size_mb / flood_s, during, self.p["flood_after"] * iv, after))
        if s0.rx_bytes is not None and s2.rx_bytes is not None:
            # To s2: the agent may still be reading when the flood client is done.
            read_mb = (s2.rx_bytes - s0.rx_bytes) / 1e6
            res.notes.append("received %.0f MB, using %.2f s of CPU (%.1f ms per MB)"
                             % (read_mb, res.cpu, 1000 * res.cpu / max(read_mb, 1)))
            res.check(read_mb >= 0.9 * size_mb, "the agent received only %.0f MB" % read_mb)
        res.notes.append("RSS now %.1f MB = %.1f anon + %.1f file-backed"
                         % (s2.rss_kb / 1024, s2.anon_kb / 1024, s2.file_kb / 1024))
        if record:
            text = rec.read_text(errors="replace") if rec.exists() else ""
            got = len(re.findall(r"^flood line \d", text, re.M))
            res.notes.append("the record holds %.1f MB: %d of %d lines, %d oversize lines"
                             % (len(text) / 1e6, got, lines, text.count("was not recorded")))
            res.check(got == lines, "the record holds %d of %d lines" % (got, lines))
        if python:      # the reference: measured, never judged
            res.goal, res.fails = "reference", []
        return res

    def python_idle(self, kernel_id):
        """The reference loop at the idle scenario's interval: one plain window."""
        iv = self.p["idle_interval"]
        res = Result("py idle", "1 kernel, every %ds" % iv)
        run = self.start_python("py-idle", kernel_id, iv)
        self.wait_ready(run, 1)
        self.windows(res, run, iv, (self.p["idle_rounds"][0], 0), 1, trace=False)
        self.stop_python(run)
        res.peak_mb = max(res.peak_mb, 0)
        res.goal, res.fails = "reference", []
        return res

    def once(self, kernel_id):
        """exec -> exit of `agent --once` and of the reference loop's --once,
        taken in turns; wall and CPU time of each whole process."""
        n = self.p["once_runs"]
        home = self.workdir / "once"
        env = harness.agent_env(home / "env", token=self.server.token)
        agent = [str(self.agent_bin), "--url", self.server.url, "--kernel", kernel_id, "--once"]
        python = [harness.PYTHON, str(PY_LOOP), self.server.url, kernel_id, "1", "--once"]
        if subprocess.run([harness.PYTHON, "-c", "import websocket"],
                          capture_output=True).returncode:
            python = None
        times = {"agent": [], "python": []} if python else {"agent": []}
        codes = set()
        peak = 0.0
        for i in range(n + 1):          # the first pair warms the caches, not counted
            for name, argv in (("agent", agent), ("python", python)):
                if argv is None:
                    continue
                t0 = time.monotonic()
                p = subprocess.Popen(argv, env=env, stdin=subprocess.DEVNULL,
                                     stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
                _, status, ru = os.wait4(p.pid, 0)
                wall = time.monotonic() - t0
                p.returncode = os.waitstatus_to_exitcode(status)
                codes.add((name, p.returncode))
                if i:
                    times[name].append((wall, ru.ru_utime + ru.ru_stime))
                    if name == "agent":
                        peak = max(peak, ru.ru_maxrss / 1024)
        res = Result("once", "--once on loopback, %d runs each" % n)
        med = {k: (statistics.median(w for w, _ in v), statistics.median(c for _, c in v))
               for k, v in times.items()}
        res.once = med
        res.duration_text = "%d+%d runs" % (n, n)
        res.cpu = med["agent"][1]
        res.peak_mb = peak
        res.goal = "exit 0"
        for name, code in sorted(codes):
            res.check(code == 0, "%s --once exited %s" % (name, code))
        for k, v in times.items():
            walls = sorted(w for w, _ in v)
            res.notes.append("%s: wall min %.0f / median %.0f / max %.0f ms, CPU median %.0f ms"
                             % (k, 1000 * walls[0], 1000 * med[k][0], 1000 * walls[-1],
                                1000 * med[k][1]))
        return res

    def refused(self, kernel_id):
        """The target's port refuses connections for a while: the agent must
        stay cheap and back off, then come back on its own."""
        iv, cut = self.p["refused_interval"], self.p["refused_seconds"]
        res = Result("refused", "1 kernel, every %ds, port refused %ds" % (iv, cut))
        relay = FakeProxy(self.server.port).start()
        try:
            wd = self.workdir / "refused"
            run = harness.start_agent(
                self.agent_bin, ["--url", relay.url, "--kernel", kernel_id, "--interval",
                                 "%ds" % iv, "--jitter", "0", "--foreground"],
                harness.agent_env(wd / "env", token=self.server.token), wd)
            self.runs.append(run)
            self.wait_ready(run, 1)
            accepted0 = relay.accepted
            relay.refuse()
            s0 = Snapshot(run)
            time.sleep(cut)
            s1 = Snapshot(run)
            relay.listen()
            harness.wait_for(lambda: Snapshot(run).acks > s1.acks, 90, 0.2,
                             "a keepalive after the port listens again")
            s2 = Snapshot(run)
            self.stop_agent(run)
        finally:
            relay.stop()
        res.duration = s1.t - s0.t
        res.duration_text = "%.0f s" % res.duration
        res.cpu = s1.cpu - s0.cpu
        res.cpu_pct = 100 * res.cpu / res.duration
        res.peak_mb = s2.hwm_kb / 1024
        res.wakeups_min = (s1.vcsw - s0.vcsw) * 60 / res.duration
        tries = s1.reconnects - s0.reconnects
        res.acks = "back in %.0f s" % (s2.t - s1.t)
        res.goal = "CPU<%g s tries<=%d back" % (GOAL_REFUSED_CPU_S, GOAL_REFUSED_TRIES)
        res.check(res.cpu < GOAL_REFUSED_CPU_S, "CPU %.3f s while refused" % res.cpu)
        res.check(tries <= GOAL_REFUSED_TRIES, "%d reconnects in %d s" % (tries, cut))
        res.notes.append("refused %.0f s: %d reconnects announced (backoff from 1 s, doubling), "
                         "%d wakeups, CPU %.3f s; the relay had accepted %d connections before"
                         % (res.duration, tries, s1.vcsw - s0.vcsw, res.cpu, accepted0))
        return res

    def drop_silent_kernels(self):
        """Delete the kernels that do not answer a cell within 20 s. jupyter_client
        picks a kernel's random ports before the kernel binds them, so with
        many kernels starting one may lose them to another and die; the
        server restarts it on the same ports, which can fail again until it
        gives up, and it stays listed while nobody can reach it. The agent
        would then wait for it like any kept kernel. Returns how many."""
        silent = []
        for k in self.server.kernels():
            try:
                self.server.execute(k["id"], "pass", timeout=20)
            except Exception:   # noqa: B902 (timeouts, refused handshakes)
                silent.append(k["id"])
        for k in silent:
            try:
                self.server.delete_kernel(k)
            except Exception:   # noqa: B902
                pass
        return len(silent)

    def scale(self, idle_private_mb):
        """As many kernels as the scenario asks (100), on the one server, kept
        by one agent: private memory per kernel and CPU per round."""
        want, iv = self.p["scale_kernels"], self.p["scale_interval"]
        budget = time.monotonic() + self.p["scale_start_s"]
        limited = None
        while len(self.server.kernels()) < want or self.drop_silent_kernels():
            if time.monotonic() > budget:
                limited = "kernel start-up took longer than %d s" % self.p["scale_start_s"]
                break
            avail = _mem_available_mb()
            if avail is not None and avail < 2048:
                limited = "only %.0f MB of memory left for more kernels" % avail
                break
            try:
                self.server.start_kernel()
            except Exception as e:      # the server could not start one more
                limited = "the server could not start more kernels: %s" % e
                break
        time.sleep(2)
        run = self.start_agent("scale", ["--kernel", "all", "--interval", "%ds" % iv])
        self.wait_ready(run, lambda: len(self.server.kernels()), timeout=300)
        # The first two rounds on new links are read as they come, to learn
        # how long replies take (kernel_ws.c): measure after them.
        time.sleep(2 * iv)
        kernels = len(self.server.kernels())
        res = Result("scale", "%d kernels, every %ds" % (kernels, iv))
        rounds = self.p["scale_rounds"]
        self.windows(res, run, iv, (rounds, 0), kernels, trace=False)
        self.stop_agent(run)
        per_kernel = (res.private_mb - idle_private_mb) / max(kernels - 1, 1)
        res.scale = (kernels, per_kernel, res.cpu / rounds)
        limit = int(GOAL_SCALE_WAKEUPS_PER_KERNEL * kernels + tick_allowance(iv))
        res.goal = "CPU<%g%% wakeups/round<=%d" % (GOAL_MANY_CPU_PCT, limit)
        res.check(res.cpu_pct < GOAL_MANY_CPU_PCT, "CPU %.2f %%" % res.cpu_pct)
        res.check(res.per_round <= limit, "%.0f wakeups per round" % res.per_round)
        res.notes.append("%d kernels%s: %.1f KB private memory per kept kernel, %.1f ms CPU per "
                         "round (%.2f ms per kernel)"
                         % (kernels, " (%s)" % limited if limited else "", per_kernel * 1024,
                            1000 * res.cpu / rounds, 1000 * res.cpu / rounds / kernels))
        if kernels < want:
            res.notes.append("fewer than %d kernels: %s" % (want, limited or "some died"))
        return res

    def run(self):
        self.server = harness.JupyterServer(
            base_dir=self.workdir / "server", cull_idle_timeout=0,
            extra_args=["--ServerApp.iopub_data_rate_limit=1e12",
                        "--ServerApp.iopub_msg_rate_limit=1e12"])
        say("starting jupyter_server on 127.0.0.1:%d ..." % self.server.port)
        self.server.start()
        kid = self.server.start_kernel()
        results = []
        r = {}
        # The reference loop needs websocket-client (python3-websocket).
        have_ws = subprocess.run([harness.PYTHON, "-c", "import websocket"],
                                 capture_output=True).returncode == 0
        if not have_ws:
            say("bench: no websocket-client (python3-websocket) for %s: no comparison"
                % harness.PYTHON)
        for name, fn in (("once", lambda: self.once(kid)),
                         ("idle", lambda: self.idle(kid)),
                         ("py idle", lambda: self.python_idle(kid)),
                         ("flood", lambda: self.flood(kid)),
                         ("py flood", lambda: self.flood(kid, python=True)),
                         ("flood+record", lambda: self.flood(kid, record=True)),
                         ("refused", lambda: self.refused(kid)),
                         ("many", self.many),
                         ("scale", lambda: self.scale(r["idle"].private_mb))):
            if not have_ws and name in ("py idle", "py flood"):
                continue
            say("scenario %s ..." % name)
            r[name] = fn()
            results.append(r[name])
        self.compare = comparison(r)
        return results

    def cleanup(self):
        for run in self.runs:
            try:
                run.close()
            except Exception:
                pass
        if self.server:
            self.server.stop()


# ---------------------------------------------------------------------------
# Report


def environment(agent_bin):
    def cmd(argv):
        try:
            return subprocess.run(argv, capture_output=True, text=True, timeout=10).stdout.strip()
        except (OSError, subprocess.TimeoutExpired):
            return "?"
    pyver = cmd([harness.PYTHON, "-c", "import jupyter_server, ipykernel, sys; "
                 "print('jupyter_server', jupyter_server.__version__, '/ ipykernel', "
                 "ipykernel.__version__, '/ python', sys.version.split()[0])"])
    seq = {None: "?", True: "on (1 Hz tick)", False: "off"}[lws_sequencer_on()]
    # pkg-config says "4.1.6-" or "4.3.5-unknown"
    lws = (cmd(["pkg-config", "--modversion", "libwebsockets"]) or "?").split("-")[0]
    system = "?"
    try:
        osr = Path("/etc/os-release").read_text()
        m = re.search(r'^PRETTY_NAME="?([^"\n]*)', osr, re.M)
        system = "%s, %s" % (m.group(1) if m else "?",
                             Path("/etc/debian_version").read_text().strip())
    except OSError:
        pass

    def mod(name):
        v = cmd(["pkg-config", "--modversion", name]) or "?"
        if v == "undefined":    # inih r53's .pc file: ask dpkg instead ("53-1+b2" -> 53)
            v = cmd(["dpkg-query", "-W", "-f", "${Version}", "lib%s-dev" % name]).split("-")[0] or v
        return v
    return [
        ("agent", cmd([str(agent_bin), "--version"]).splitlines()[0] if agent_bin else "?"),
        ("system", system),
        ("libraries", "libwebsockets %s (sequencer %s), libcurl %s, OpenSSL %s, jansson %s, inih %s"
         % (lws, seq, mod("libcurl"), mod("openssl"), mod("jansson"), mod("inih"))),
        ("server", pyver),
        ("machine", "%s, %d CPUs, %s" % (" ".join(os.uname()[i] for i in (0, 2, 4)),
                                          os.cpu_count() or 0,
                                          cmd(["strace", "-V"]).splitlines()[0]
                                          if shutil.which("strace") else "no strace")),
    ]


def comparison(r):
    """Rows of (what, agent, python, ratio, goal, ok) from the paired scenarios."""
    rows = []

    def row(what, key, a, p, fmt):
        ratio = a / p if p else float("inf")
        goal = GOAL_RATIO[key]
        rows.append((what, fmt % a, fmt % p, "%.3f" % ratio, "<= %g" % goal, ratio <= goal))
    idle, pidle = r.get("idle"), r.get("py idle")
    if idle and pidle and idle.private_mb and pidle.private_mb:
        row("private memory at rest (MB)", "private", idle.private_mb, pidle.private_mb, "%.2f")
    if idle and pidle and pidle.per_round:
        row("wakeups per round at rest", "wakeups", idle.per_round, pidle.per_round, "%.1f")
    fl, pfl = r.get("flood"), r.get("py flood")
    if fl and pfl:
        row("CPU under the flood (s)", "flood_cpu", fl.cpu, pfl.cpu, "%.2f")
    once = r.get("once")
    if once and "python" in getattr(once, "once", {}):
        a, p = once.once["agent"], once.once["python"]
        row("--once, exec to exit, median (ms)", "once_wall", 1000 * a[0], 1000 * p[0], "%.0f")
        rows.append(("--once CPU, median (ms)", "%.0f" % (1000 * a[1]), "%.0f" % (1000 * p[1]),
                     "%.3f" % (a[1] / p[1] if p[1] else 0), "-", True))
    return rows


def comparison_table(rows):
    head = ["agent vs the Python loop", "agent", "python", "agent/python", "goal", "verdict"]
    cells = [[w, a, p, q, g, "PASS" if ok else "FAIL"] for w, a, p, q, g, ok in rows]
    widths = [max(len(h), *(len(c[i]) for c in cells)) if cells else len(h)
              for i, h in enumerate(head)]
    line = lambda cs: " | ".join(c.ljust(w) for c, w in zip(cs, widths)).rstrip()
    return "\n".join([line(head), "-+-".join("-" * w for w in widths)] + [line(c) for c in cells])


def table(results):
    head = ["scenario", "targets/kernels", "duration", "peak RSS (MB)", "CPU (s)", "CPU %",
            "wakeups/min", "keepalives ok", "goal", "verdict"]
    rows = []
    for r in results:
        wk = "-" if r.wakeups_min is None else "%.1f" % r.wakeups_min
        rows.append([r.name, r.what, r.duration_text, "%.1f" % r.peak_mb, "%.3f" % r.cpu,
                     "%.3f" % r.cpu_pct, wk, r.acks, r.goal,
                     "PASS" if not r.fails else "FAIL: " + "; ".join(r.fails)])
    widths = [max(len(h), *(len(row[i]) for row in rows)) for i, h in enumerate(head)]
    line = lambda cells: " | ".join(c.ljust(w) for c, w in zip(cells, widths)).rstrip()
    out = [line(head), "-+-".join("-" * w for w in widths)]
    out += [line(row) for row in rows]
    return "\n".join(out)


def main(argv):
    ap = argparse.ArgumentParser(description="Measure the agent's memory, CPU and wakeups.")
    ap.add_argument("agent", nargs="?", default=str(harness.DEFAULT_AGENT),
                    help="agent binary (default build/agent)")
    ap.add_argument("--quick", action="store_true", help="short smoke run (~40 s)")
    ap.add_argument("--no-strace", action="store_true",
                    help="count wakeups as context switches only")
    ap.add_argument("--keep", action="store_true", help="keep the work directory (logs, traces)")
    args = ap.parse_args(argv[1:])

    agent_bin = Path(args.agent).resolve()
    if not os.access(agent_bin, os.X_OK):
        say("bench: %s is not an executable (build it with `make all`)" % agent_bin)
        return 2
    use_strace = not args.no_strace
    why = strace_usable() if use_strace else None
    if why:
        say("bench: %s; counting context switches instead" % why)
        use_strace = False

    def on_signal(sig, frame):
        raise KeyboardInterrupt
    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGHUP, on_signal)

    env = environment(agent_bin)
    say("environment")
    for k, v in env:
        say("  %-10s %s" % (k, v))
    params = QUICK if args.quick else FULL
    workdir = Path(tempfile.mkdtemp(prefix="agent-bench-"))
    bench = Bench(agent_bin, params, use_strace, workdir)
    started = time.monotonic()
    try:
        results = bench.run()
    except BenchError as e:
        say("bench: %s" % e)
        return 2
    except KeyboardInterrupt:
        say("bench: interrupted")
        return 2
    finally:
        bench.cleanup()
        if args.keep:
            say("work directory kept: %s" % workdir)
        else:
            shutil.rmtree(workdir, ignore_errors=True)
    say("")
    for k in ("system", "libraries", "server"):
        say("%s: %s" % (k, dict(env)[k]))
    say(table(results))
    say("")
    say(comparison_table(bench.compare))
    say("")
    for r in results:
        for n in r.notes:
            say("  %-6s %s" % (r.name, n))
    say("")
    say("  wakeups = voluntary context switches (the loop slept and was woken).")
    say("  duration a+b: CPU and wakeups come from the plain window a, keepalives from a+b%s"
        % ("; strace ran in b." if use_strace else "."))
    say("  total %.0f s%s" % (time.monotonic() - started, ", --quick" if args.quick else ""))
    failed = [r for r in results if r.fails]
    cmp_failed = [c for c in bench.compare if not c[5]]
    if failed or cmp_failed:
        say("bench: %d scenario(s) and %d comparison(s) missed a goal"
            % (len(failed), len(cmp_failed)))
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
