# SPDX-License-Identifier: MIT
"""Harness for the end-to-end tests and the demo: a real Jupyter Server on a
free loopback port, a minimal kernel WebSocket client, and helpers to run the
agent.

Standard library only (the tests run under Debian's /usr/bin/python3, where
only jupyter_server, ipykernel and pytest are installed).
"""
import base64
import datetime
import hashlib
import json
import os
import re
import secrets
import shutil
import signal
import socket
import struct
import subprocess
import tempfile
import threading
import time
import urllib.error
import urllib.request
import uuid
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
PYTHON = "/usr/bin/python3"
DEFAULT_AGENT = REPO / "build" / "agent"

_DEFAULT = object()


def free_port():
    """A loopback TCP port that nothing listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def parse_time(s):
    """Jupyter's ISO 8601 timestamps ("…Z") -> aware datetime."""
    if s.endswith("Z"):
        s = s[:-1] + "+00:00"
    return datetime.datetime.fromisoformat(s)


def utcnow():
    return datetime.datetime.now(datetime.timezone.utc)


def tail(path, n=40):
    try:
        lines = Path(path).read_text(errors="replace").splitlines()
    except OSError as e:
        return "(cannot read %s: %s)" % (path, e)
    return "\n".join(lines[-n:])


def wait_for(pred, timeout, interval=0.2, what="condition"):
    """Poll pred() until it returns a true value; return it, or raise."""
    deadline = time.monotonic() + timeout
    while True:
        v = pred()
        if v:
            return v
        if time.monotonic() >= deadline:
            raise TimeoutError("timed out after %.0f s waiting for %s" % (timeout, what))
        time.sleep(interval)


def pid_alive(pid):
    """Is process pid running (not gone, not a zombie)?"""
    try:
        with open("/proc/%d/stat" % pid) as f:
            stat = f.read()
    except OSError:
        return False
    return stat[stat.rindex(")") + 2:].split()[0] not in ("Z", "X")


def kill_pid(pid, timeout=5):
    """Stop a process that is not our child (a detached agent) by id:
    SIGTERM, then SIGKILL if it is still there after timeout s."""
    try:
        os.kill(pid, signal.SIGTERM)
    except ProcessLookupError:
        return
    try:
        wait_for(lambda: not pid_alive(pid), timeout, interval=0.1)
    except TimeoutError:
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass


def _pids_mentioning(needle):
    """Pids of processes whose command line contains needle (our own temp
    dir), so that leftovers can be killed by id."""
    out = []
    me = os.getpid()
    for d in os.listdir("/proc"):
        if not d.isdigit() or int(d) == me:
            continue
        try:
            with open("/proc/%s/cmdline" % d, "rb") as f:
                cmd = f.read().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue
        if needle in cmd:
            out.append(int(d))
    return out


# ---------------------------------------------------------------------------
# Jupyter Server


def _password_hash(password):
    from jupyter_server.auth import passwd
    return passwd(password)


class JupyterServer:
    """A throwaway jupyter_server with its own runtime/config/data dirs.

    Use as a context manager, or call start() and stop().
    """

    def __init__(self, base_dir=None, token=None, cull_idle_timeout=6, cull_interval=1,
                 cull_connected=True, extra_args=(), port=None, password=None):
        self._own_dir = base_dir is None
        self.dir = Path(base_dir or tempfile.mkdtemp(prefix="jpserver-"))
        self.dir.mkdir(parents=True, exist_ok=True)
        # password: a password-only server (no token at all), as some
        # deployments run; only a browser login gets in (see test_launch.py).
        self.password = password
        self.token = "" if password else (token or secrets.token_hex(24))
        self.port = port or free_port()
        self.url = "http://127.0.0.1:%d/" % self.port
        self.root_dir = self.dir / "root"
        self.runtime_dir = self.dir / "runtime"
        self.log_path = self.dir / "server.log"
        self.cull_idle_timeout = cull_idle_timeout
        self.cull_interval = cull_interval
        self.cull_connected = cull_connected
        self.extra_args = list(extra_args)
        self.proc = None
        self._log = None

    def __enter__(self):
        self.start()
        return self

    def __exit__(self, *exc):
        self.stop()

    def argv(self):
        a = [PYTHON, "-m", "jupyter_server", "--no-browser", "--allow-root",
             "--ip=127.0.0.1", "--port=%d" % self.port, "--port-retries=0",
             "--ServerApp.token=%s" % self.token,
             "--ServerApp.root_dir=%s" % self.root_dir]
        if self.password:
            a.append("--ServerApp.password=%s" % _password_hash(self.password))
        if self.cull_idle_timeout:
            a += ["--MappingKernelManager.cull_idle_timeout=%d" % self.cull_idle_timeout,
                  "--MappingKernelManager.cull_interval=%d" % self.cull_interval,
                  "--MappingKernelManager.cull_connected=%s" % self.cull_connected]
        return a + self.extra_args

    def start(self, timeout=60):
        for d in ("root", "runtime", "config", "data"):
            (self.dir / d).mkdir(exist_ok=True)
        env = dict(os.environ)
        for k in list(env):
            if k.startswith(("JUPYTERHUB_", "JPY_")) or k == "JUPYTER_TOKEN":
                del env[k]
        env.update(JUPYTER_RUNTIME_DIR=str(self.runtime_dir),
                   JUPYTER_CONFIG_DIR=str(self.dir / "config"),
                   JUPYTER_DATA_DIR=str(self.dir / "data"),
                   JUPYTER_PLATFORM_DIRS="0", PYDEVD_DISABLE_FILE_VALIDATION="1",
                   IPYTHONDIR=str(self.dir / "ipython"),
                   HOME=str(self.dir))
        self._log = open(self.log_path, "ab")
        # argv holds the token: that is fine for the server; only the agent
        # must never see it on its command line.
        self.proc = subprocess.Popen(self.argv(), stdin=subprocess.DEVNULL, stdout=self._log,
                                     stderr=subprocess.STDOUT, env=env, cwd=str(self.dir),
                                     start_new_session=True)
        deadline = time.monotonic() + timeout
        while True:
            if self.proc.poll() is not None:
                log = tail(self.log_path)
                self.stop()
                raise RuntimeError("jupyter_server exited with %s:\n%s" % (self.proc.returncode, log))
            try:
                st, _ = self.api("GET", "api/status", timeout=2)
                if st == 200 or (self.password and st == 403):
                    return self
            except OSError:
                pass
            if time.monotonic() >= deadline:
                log = tail(self.log_path)
                self.stop()
                raise RuntimeError("jupyter_server did not answer in %d s:\n%s" % (timeout, log))
            time.sleep(0.2)

    def stop(self):
        if self.proc is not None and self.proc.poll() is None:
            try:
                # SIGTERM makes jupyter_server shut its kernels down cleanly.
                self.proc.terminate()
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                pass
            if self.proc.poll() is None:
                try:
                    os.killpg(self.proc.pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
                self.proc.wait(10)
        if self.proc is not None:
            try:
                os.killpg(self.proc.pid, signal.SIGKILL)
            except (ProcessLookupError, PermissionError):
                pass
        # Kernels run in sessions of their own; find them by our runtime dir.
        for pid in _pids_mentioning(str(self.runtime_dir)):
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        if self._log:
            self._log.close()
            self._log = None
        if self._own_dir:
            shutil.rmtree(self.dir, ignore_errors=True)

    def log_tail(self, n=60):
        return tail(self.log_path, n)

    # -- REST ---------------------------------------------------------------

    def api(self, method, path, body=None, token=_DEFAULT, timeout=15):
        """One REST call. Returns (status, parsed JSON or text). Never follows
        redirects."""
        if token is _DEFAULT:
            token = self.token
        data = None
        headers = {}
        if body is not None:
            data = json.dumps(body).encode()
            headers["Content-Type"] = "application/json"
        if token:
            headers["Authorization"] = "token " + token
        req = urllib.request.Request(self.url + path.lstrip("/"), data=data, method=method,
                                     headers=headers)
        opener = urllib.request.build_opener(_NoRedirect)
        try:
            with opener.open(req, timeout=timeout) as r:
                status, raw = r.status, r.read()
        except urllib.error.HTTPError as e:
            status, raw = e.code, e.read()
        text = raw.decode(errors="replace")
        try:
            return status, json.loads(text) if text else None
        except ValueError:
            return status, text

    def _ok(self, method, path, body=None, want=(200,)):
        st, v = self.api(method, path, body)
        if st not in want:
            raise RuntimeError("%s %s -> %s %r" % (method, path, st, v))
        return v

    def status(self):
        """GET /api/status (read-only for activity)."""
        return self._ok("GET", "api/status")

    def last_activity(self):
        return parse_time(self.status()["last_activity"])

    def start_kernel(self, name="python3"):
        return self._ok("POST", "api/kernels", {"name": name}, want=(200, 201))["id"]

    def kernel(self, kernel_id):
        """The kernel's model, or None when the server no longer knows it."""
        st, v = self.api("GET", "api/kernels/" + kernel_id)
        if st == 404:
            return None
        if st != 200:
            raise RuntimeError("GET kernel %s -> %s %r" % (kernel_id, st, v))
        return v

    def activity(self, kernel_id):
        """The kernel's last_activity (what the culler compares)."""
        return parse_time(self.kernel(kernel_id)["last_activity"])

    def wait_activity(self, kernel_id, after=None, timeout=30):
        """Wait until the kernel's last_activity is later than `after`
        (default: now), as a keepalive makes it; return it."""
        after = after or utcnow()

        def moved():
            model = self.kernel(kernel_id)
            assert model is not None, "kernel %s is gone" % kernel_id[:8]
            t = parse_time(model["last_activity"])
            return t if t > after else None

        return wait_for(moved, timeout, what="activity on kernel %s" % kernel_id[:8])

    def alive(self, kernel_id):
        return self.kernel(kernel_id) is not None

    def kernels(self):
        return self._ok("GET", "api/kernels")

    def sessions(self):
        return self._ok("GET", "api/sessions")

    def create_session(self, path, kernel_name="python3"):
        return self._ok("POST", "api/sessions",
                        {"path": path, "type": "notebook", "name": "",
                         "kernel": {"name": kernel_name}}, want=(200, 201))

    def delete_kernel(self, kernel_id):
        st, v = self.api("DELETE", "api/kernels/" + kernel_id)
        if st not in (204, 404):
            raise RuntimeError("DELETE kernel %s -> %s %r" % (kernel_id, st, v))

    def restart_kernel(self, kernel_id):
        return self._ok("POST", "api/kernels/%s/restart" % kernel_id, {})

    # -- kernel channel -----------------------------------------------------

    def channel(self, kernel_id, session_id=None, timeout=30):
        return KernelChannel(self.port, kernel_id, self.token, session_id=session_id,
                             timeout=timeout)

    def execute(self, kernel_id, code, timeout=30):
        """Run code as a user would (not silent, stored in history).
        Returns (execution_count, text output). Closes its connection."""
        with self.channel(kernel_id, timeout=timeout) as ch:
            return ch.execute(code, timeout=timeout)

    def monitor(self, kernel_id):
        """Start an IOPubMonitor on the kernel (call .stop() when done)."""
        return IOPubMonitor(self, kernel_id).start()


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *a, **k):
        return None


# ---------------------------------------------------------------------------
# A minimal WebSocket client (RFC 6455), enough for Jupyter's legacy JSON
# framing: client text frames (masked), server text/binary frames with 7/16/64
# bit lengths, fragmentation, ping -> pong, close handshake.

WS_GUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"
OP_CONT, OP_TEXT, OP_BINARY, OP_CLOSE, OP_PING, OP_PONG = 0, 1, 2, 8, 9, 10


class WebSocketError(Exception):
    pass


class WebSocket:
    def __init__(self, host, port, path, headers=(), timeout=30):
        self.sock = socket.create_connection((host, port), timeout=timeout)
        self.closed = False
        self._buf = b""
        key = base64.b64encode(os.urandom(16)).decode()
        lines = ["GET %s HTTP/1.1" % path, "Host: %s:%d" % (host, port),
                 "Upgrade: websocket", "Connection: Upgrade",
                 "Sec-WebSocket-Key: " + key, "Sec-WebSocket-Version: 13"]
        lines += list(headers)
        self.sock.sendall(("\r\n".join(lines) + "\r\n\r\n").encode())
        while b"\r\n\r\n" not in self._buf:
            chunk = self.sock.recv(65536)
            if not chunk:
                raise WebSocketError("connection closed during handshake")
            self._buf += chunk
            if len(self._buf) > 1 << 20:
                raise WebSocketError("handshake response too large")
        head, self._buf = self._buf.split(b"\r\n\r\n", 1)
        head = head.decode(errors="replace").split("\r\n")
        status = head[0].split(" ", 2)
        if len(status) < 2 or status[1] != "101":
            self.sock.close()
            raise WebSocketError("handshake refused: %s" % head[0])
        hdrs = {}
        for h in head[1:]:
            k, _, v = h.partition(":")
            hdrs[k.strip().lower()] = v.strip()
        want = base64.b64encode(hashlib.sha1((key + WS_GUID).encode()).digest()).decode()
        if hdrs.get("sec-websocket-accept") != want:
            self.sock.close()
            raise WebSocketError("bad Sec-WebSocket-Accept")

    def _send_frame(self, opcode, payload):
        n = len(payload)
        head = bytes([0x80 | opcode])
        if n < 126:
            head += bytes([0x80 | n])
        elif n < 1 << 16:
            head += bytes([0x80 | 126]) + struct.pack(">H", n)
        else:
            head += bytes([0x80 | 127]) + struct.pack(">Q", n)
        mask = os.urandom(4)
        masked = bytes(b ^ mask[i & 3] for i, b in enumerate(payload))
        self.sock.sendall(head + mask + masked)

    def send_text(self, text):
        if self.closed:
            raise WebSocketError("closed")
        self._send_frame(OP_TEXT, text.encode())

    def _read(self, n):
        while len(self._buf) < n:
            chunk = self.sock.recv(max(65536, n - len(self._buf)))
            if not chunk:
                raise WebSocketError("connection closed")
            self._buf += chunk
        out, self._buf = self._buf[:n], self._buf[n:]
        return out

    def _read_frame(self):
        b0, b1 = self._read(2)
        fin, opcode = b0 & 0x80, b0 & 0x0F
        n = b1 & 0x7F
        if n == 126:
            n = struct.unpack(">H", self._read(2))[0]
        elif n == 127:
            n = struct.unpack(">Q", self._read(8))[0]
        mask = self._read(4) if b1 & 0x80 else None
        payload = self._read(n)
        if mask:
            payload = bytes(b ^ mask[i & 3] for i, b in enumerate(payload))
        return bool(fin), opcode, payload

    def recv(self, timeout=None):
        """The next whole message as (opcode, bytes); None on timeout or after
        the peer closed. Answers pings itself."""
        if self.closed:
            return None
        deadline = None if timeout is None else time.monotonic() + timeout
        self.sock.settimeout(timeout)
        parts, first_op = [], None
        try:
            while True:
                fin, op, payload = self._read_frame()
                if op in (OP_PING, OP_PONG):
                    if op == OP_PING:
                        self._send_frame(OP_PONG, payload)
                    # The server pings every 30 s: that must not extend the wait.
                    if deadline is not None:
                        left = deadline - time.monotonic()
                        if left <= 0:
                            return None
                        self.sock.settimeout(left)
                    continue
                if op == OP_CLOSE:
                    if not self.closed:
                        try:
                            self._send_frame(OP_CLOSE, payload[:2])
                        except OSError:
                            pass
                    self.closed = True
                    return None
                if op != OP_CONT:
                    first_op, parts = op, []
                parts.append(payload)
                if fin:
                    return first_op, b"".join(parts)
        except socket.timeout:
            # A partially read frame stays lost; callers use generous
            # timeouts, and Jupyter frames arrive whole on loopback.
            return None
        except (WebSocketError, OSError):
            self.closed = True
            return None

    def close(self):
        if not self.closed:
            try:
                self._send_frame(OP_CLOSE, struct.pack(">H", 1000))
                self.sock.settimeout(2)
                while True:
                    _, op, _ = self._read_frame()
                    if op == OP_CLOSE:
                        break
            except (OSError, WebSocketError):
                pass
            self.closed = True
        try:
            self.sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        self.sock.close()


def jupyter_msg(msg_type, content, session, channel="shell"):
    return {
        "header": {"msg_id": uuid.uuid4().hex, "msg_type": msg_type, "username": "e2e",
                   "session": session, "version": "5.3",
                   "date": utcnow().isoformat()},
        "parent_header": {}, "metadata": {}, "content": content,
        "channel": channel, "buffers": [],
    }


class KernelChannel:
    """/api/kernels/<id>/channels with legacy JSON framing."""

    def __init__(self, port, kernel_id, token, session_id=None, timeout=30):
        self.session = session_id or uuid.uuid4().hex
        path = "/api/kernels/%s/channels?session_id=%s" % (kernel_id, self.session)
        headers = ["Authorization: token " + token] if token else []
        self.ws = WebSocket("127.0.0.1", port, path, headers, timeout=timeout)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def close(self):
        self.ws.close()

    def send(self, msg):
        self.ws.send_text(json.dumps(msg))
        return msg["header"]["msg_id"]

    def recv(self, timeout=None):
        """Next JSON message (binary frames are skipped); None on timeout/close."""
        deadline = None if timeout is None else time.monotonic() + timeout
        while True:
            left = None if deadline is None else max(0.01, deadline - time.monotonic())
            m = self.ws.recv(left)
            if m is None:
                return None
            op, data = m
            if op == OP_TEXT:
                try:
                    return json.loads(data)
                except ValueError:
                    pass
            if deadline is not None and time.monotonic() >= deadline:
                return None

    def start_cell(self, code, timeout=60):
        """Send a user's cell (not silent); return its msg_id once the kernel
        has said, on this channel, that it runs it. (The server's REST model
        may see the busy status late on a loaded machine, or never see a
        short cell's.)"""
        mid = self.send(jupyter_msg("execute_request", {
            "code": code, "silent": False, "store_history": True, "user_expressions": {},
            "allow_stdin": False, "stop_on_error": True}, self.session))
        self.wait_for_reply(mid, "status", timeout,
                            lambda c: c.get("execution_state") == "busy")
        return mid

    def wait_for_reply(self, mid, msg_type="execute_reply", timeout=30, pred=None):
        """The content of the first message of msg_type caused by request mid
        (for which pred(content) holds, if given); raises TimeoutError."""
        deadline = time.monotonic() + timeout
        while True:
            left = deadline - time.monotonic()
            if left <= 0 or self.ws.closed:
                raise TimeoutError("no %s for request %s within %.0f s" % (msg_type, mid, timeout))
            m = self.recv(left)
            if (m and (m.get("parent_header") or {}).get("msg_id") == mid
                    and m["header"]["msg_type"] == msg_type
                    and (pred is None or pred(m.get("content") or {}))):
                return m.get("content") or {}

    def execute(self, code, timeout=30, silent=False, store_history=True):
        msg = jupyter_msg("execute_request", {
            "code": code, "silent": silent, "store_history": store_history,
            "user_expressions": {}, "allow_stdin": False, "stop_on_error": True}, self.session)
        mid = self.send(msg)
        out, count, replied, idle, replied_at = [], None, False, False, 0.0
        deadline = time.monotonic() + timeout
        while not (replied and idle):
            left = deadline - time.monotonic()
            if replied:
                # IOPub is a ZMQ PUB socket: under heavy load it drops
                # messages, the final idle among them. The reply is enough.
                left = min(left, 10 - (time.monotonic() - replied_at))
                if left <= 0:
                    break
            elif left <= 0:
                raise TimeoutError("no execute_reply for %r in %d s" % (code, timeout))
            m = self.recv(left)
            if m is None:
                if self.ws.closed:
                    raise WebSocketError("kernel channel closed before execute_reply")
                continue
            if m.get("parent_header", {}).get("msg_id") != mid:
                continue
            t, c = m["header"]["msg_type"], m.get("content", {})
            if m.get("channel") == "shell" and t == "execute_reply":
                count, replied, replied_at = c.get("execution_count"), True, time.monotonic()
                if c.get("status") == "error":
                    out.append("%s: %s" % (c.get("ename"), c.get("evalue")))
            elif t == "stream":
                out.append(c.get("text", ""))
            elif t in ("execute_result", "display_data"):
                out.append(c.get("data", {}).get("text/plain", ""))
            elif t == "error":
                out.append("\n".join(c.get("traceback", [])))
            elif t == "status" and c.get("execution_state") == "idle":
                idle = True
        return count, "".join(out)


class IOPubMonitor:
    """Watches one kernel's channel in a thread and records every message, so
    that tests can see what other clients (the agent) made the kernel do."""

    def __init__(self, server, kernel_id):
        self.server, self.kernel_id = server, kernel_id
        self.messages = []
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread = None
        self.ch = None

    def start(self):
        self.ch = self.server.channel(self.kernel_id)
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()
        return self

    def _run(self):
        while not self._stop.is_set():
            m = self.ch.recv(0.5)
            if m is None:
                if self.ch.ws.closed:
                    return
                continue
            with self._lock:
                self.messages.append(m)

    def stop(self):
        self._stop.set()
        if self._thread:
            self._thread.join(5)
        if self.ch:
            self.ch.close()

    def _foreign(self, msg_type, key):
        """The distinct parent_header[key] of other sessions' requests of
        msg_type, in the order they first appeared on IOPub."""
        out = []
        with self._lock:
            msgs = list(self.messages)
        for m in msgs:
            p = m.get("parent_header") or {}
            if (p.get("msg_type") == msg_type and p.get("session") != self.ch.session
                    and p.get(key) not in out):
                out.append(p.get(key))
        return out

    def foreign_requests(self, msg_type="execute_request"):
        """msg_ids of requests of msg_type from other sessions than ours,
        as seen through the IOPub messages they caused."""
        return self._foreign(msg_type, "msg_id")

    def foreign_sessions(self, msg_type="execute_request"):
        """The session ids of other clients' requests of msg_type, in the
        order they first appeared: what the kernel saw of each client."""
        return self._foreign(msg_type, "session")

    def foreign_inputs(self):
        """execute_input messages caused by others (non-silent requests)."""
        with self._lock:
            return [m for m in self.messages
                    if m["header"]["msg_type"] == "execute_input"
                    and (m.get("parent_header") or {}).get("session") != self.ch.session]


# ---------------------------------------------------------------------------
# Running the agent


def agent_env(home, token=None, extra=None):
    """A clean environment for the agent: no inherited Jupyter/hub variables,
    its own HOME and XDG dirs, the token only if given."""
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("JUPYTER", "JPY_", "COLAB_", "KMP_"))}
    home = Path(home)
    for d in ("home", "state", "run", "config"):
        (home / d).mkdir(parents=True, exist_ok=True)
    env.update(HOME=str(home / "home"), XDG_STATE_HOME=str(home / "state"),
               XDG_RUNTIME_DIR=str(home / "run"), XDG_CONFIG_HOME=str(home / "config"))
    if token is not None:
        env["JUPYTER_TOKEN"] = token
    if extra:
        env.update(extra)
    return env


def write_config(dirpath, text, name="agent.ini"):
    p = Path(dirpath) / name
    p.write_text(text)
    return p


class AgentRun:
    """A started agent: Popen plus its captured stdout/stderr files."""

    def __init__(self, argv, env, workdir):
        self.argv = list(argv)
        workdir = Path(workdir)
        workdir.mkdir(parents=True, exist_ok=True)
        n = 0
        while (workdir / ("agent%d.err" % n)).exists():
            n += 1
        self.out_path = workdir / ("agent%d.out" % n)
        self.err_path = workdir / ("agent%d.err" % n)
        self._out = open(self.out_path, "wb")
        self._err = open(self.err_path, "wb")
        self.started = time.monotonic()
        self.proc = subprocess.Popen(self.argv, stdin=subprocess.DEVNULL, stdout=self._out,
                                     stderr=self._err, env=env, cwd=str(workdir),
                                     start_new_session=True)
        self.pid = self.proc.pid

    @property
    def stdout(self):
        return self.out_path.read_text(errors="replace")

    @property
    def stderr(self):
        return self.err_path.read_text(errors="replace")

    def output(self):
        return self.stdout + self.stderr

    def running(self):
        return self.proc.poll() is None

    def wait(self, timeout):
        """Exit code, or raise subprocess.TimeoutExpired."""
        return self.proc.wait(timeout)

    def send_signal(self, sig):
        if self.proc.poll() is None:
            self.proc.send_signal(sig)

    def stop(self, sig=signal.SIGTERM, timeout=10):
        """Signal, wait, kill. Returns the exit code. (For the demo and the
        benchmark; a test that stops an agent asserts how: stop_clean.)"""
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(10)
        return self.proc.returncode

    def close(self):
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(10)
        self._out.close()
        self._err.close()

    @property
    def code(self):
        return self.proc.returncode

    def describe(self):
        return ("agent %s\nexit: %s\n--- stdout ---\n%s\n--- stderr ---\n%s"
                % (" ".join(self.argv), self.proc.returncode, tail(self.out_path),
                   tail(self.err_path, 80)))


def start_agent(agent_bin, args, env, workdir):
    """Start the agent with args (never a token: that goes in env or a config
    file). Returns an AgentRun whose output goes to files in workdir."""
    secret = env.get("JUPYTER_TOKEN")
    if secret:
        assert not any(secret in str(a) for a in args), "token on the command line"
    return AgentRun([str(agent_bin)] + [str(a) for a in args], env, workdir)


# The one way for tests to wait on an agent and to stop it.

SANITIZER_MARKS = ("AddressSanitizer", "LeakSanitizer", "runtime error:")


def lines(text, pattern):
    """The lines of text that match the regex pattern."""
    rx = re.compile(pattern)
    return [ln for ln in text.splitlines() if rx.search(ln)]


def wait_line(run, pattern, since=0, timeout=20, what=None):
    """Wait for a whole line of the agent's output (stdout and stderr) past
    offset `since` that matches the regex pattern; return (line, offset just
    past it). Fails at once if the agent exits first."""
    rx = re.compile(pattern)

    def seen():
        running = run.running()     # before reading: a last line is not missed
        out = run.output()
        for m in re.finditer(r"[^\n]*\n", out[since:]):
            if rx.search(m.group(0)):
                return m.group(0).rstrip("\n"), since + m.end()
        if not running:
            raise AssertionError("agent exited (%s) while waiting for %s"
                                 % (run.code, what or repr(pattern)))
        return None

    try:
        return wait_for(seen, timeout, interval=0.1, what=what or repr(pattern))
    except TimeoutError as e:
        raise AssertionError(str(e)) from None


def exits(run, within, what="being asked to stop"):
    """The agent's exit code; fails if it still runs `within` s from now."""
    try:
        return run.wait(within)
    except subprocess.TimeoutExpired:
        raise AssertionError("agent still running %.0f s after %s" % (within, what)) from None


def assert_no_sanitizer(run):
    """No AddressSanitizer/UBSan report (when AGENT_BIN is the asan build)."""
    err = run.stderr
    for mark in SANITIZER_MARKS:
        assert mark not in err, "sanitizer report in stderr:\n%s" % tail(run.err_path, 60)


def stop_clean(run, sig=signal.SIGTERM, within=10):
    """Ask a running agent to stop with sig: it must exit 0 within `within`
    s, with no sanitizer report."""
    assert run.running(), "agent already exited with %s" % run.code
    run.send_signal(sig)
    code = exits(run, within, sig.name)
    assert_no_sanitizer(run)
    assert code == 0, "exit %s after %s" % (code, sig.name)


def watch(server, seconds, keep=(), culled=(), agents=()):
    """Poll every second for `seconds`. Fail as soon as a kept kernel is gone
    or an agent has exited. Returns {kernel: seconds until it vanished} for
    the kernels in `culled` that vanished."""
    t0 = time.monotonic()
    gone = {}
    while True:
        t = time.monotonic() - t0
        for run in agents:
            assert run.running(), "agent exited with %s after %.0f s" % (run.code, t)
        for k in keep:
            assert server.alive(k), "kept kernel %s was culled after %.0f s" % (k[:8], t)
        for k in culled:
            if k not in gone and not server.alive(k):
                gone[k] = t
        if t >= seconds:
            return gone
        time.sleep(1)
