# SPDX-License-Identifier: MIT
"""A test double: an HTTP + WebSocket server on loopback that answers the
agent with garbage where a Jupyter Server would answer JSON. A real server
cannot be made to send these on purpose, hence the double.

The first path segment picks the mode, so one double serves every mode at
once: point a target at http://127.0.0.1:PORT/<mode>/ and the agent's
GET <mode>/api/kernels (or api/sessions, api/kernels/<id>) gets that mode's
answer. MODES lists them.

REST modes (the kernel list):
    html          200 text/html sign-in page
    truncated     200 application/json, JSON cut off mid-object
    short_body    200 whose Content-Length promises more than is sent
    wrong_types   200 application/json, an object where a list belongs
    wrong_items   200 application/json, a list of entries of the wrong types
    empty         200 with an empty body, no Content-Type
    empty_json    200 application/json with an empty body
    huge_header   200 with a 64 KB header line, listing one kernel
    huge_headers  200 with 1 MB of headers

WebSocket modes (the list is valid and names one kernel; the kernel
channel is garbage):
    ws_garbage    completes the upgrade, then sends text frames that are not
                  JSON, binary frames, a 1 MB text frame, fragments, and JSON
                  that looks like a Jupyter message but is not one (no
                  header, wrong types); then nothing more
    ws_bad_accept answers 101 with a wrong Sec-WebSocket-Accept
    ws_html       answers the upgrade with 200 and an HTML page
    huge_header   (see above) the 101 reply also carries a 64 KB header

Threads and the standard library only. `requests[mode]` counts requests per
mode and path kind ("list", "ws"), so tests can check the agent backs off.
"""
import base64
import hashlib
import json
import os
import socket
import socketserver
import struct
import threading
import time

from harness import free_port

WS_GUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"
KERNEL_ID = "0badc0de-0000-4000-8000-00000000beef"
HTML = (b"<!DOCTYPE html>\n<html><head><title>Sign in</title></head>"
        b"<body><h1>GARBAGE-PAGE Please sign in</h1><form>...</form></body></html>\n")

REST_MODES = ("html", "truncated", "short_body", "wrong_types", "wrong_items", "empty",
              "empty_json", "huge_header", "huge_headers")
WS_MODES = ("ws_garbage", "ws_bad_accept", "ws_html")
MODES = REST_MODES + WS_MODES

_KERNEL_LIST = json.dumps([{"id": KERNEL_ID, "name": "python3",
                            "last_activity": "2024-01-01T00:00:00.000000Z",
                            "execution_state": "idle", "connections": 0}]).encode()


def _frame(opcode, payload, fin=True):
    """An unmasked server frame."""
    n = len(payload)
    b0 = (0x80 if fin else 0) | opcode
    if n < 126:
        head = struct.pack(">BB", b0, n)
    elif n < 1 << 16:
        head = struct.pack(">BBH", b0, 126, n)
    else:
        head = struct.pack(">BBQ", b0, 127, n)
    return head + payload


def _ws_garbage_frames():
    text = lambda s: _frame(1, s.encode() if isinstance(s, str) else s)  # noqa: E731
    yield text("hello, not JSON")
    yield text("<html><body>GARBAGE-PAGE in a frame</body></html>")
    yield text("{\"header\": {\"msg_type\": \"status\"")          # truncated JSON
    yield _frame(2, os.urandom(300))                                # binary, small
    yield _frame(2, os.urandom(200000))                             # binary, large
    yield text("x" * (1 << 20))                                     # 1 MB, not JSON
    # a text message in three fragments that is not JSON either
    yield _frame(1, b"[1, 2,", fin=False) + _frame(0, b" 3", fin=False) + _frame(0, b"!!")
    # valid-looking JSON without a header, and with headers of the wrong types
    yield text(json.dumps({"msg_type": "status", "content": {"execution_state": "idle"},
                           "parent_header": {}, "channel": "iopub"}))
    yield text(json.dumps({"header": "status", "content": {}}))
    yield text(json.dumps({"header": {"msg_type": 7}, "parent_header": [], "content": "x"}))
    yield text(json.dumps({"header": {"msg_type": "status"}, "content": {"execution_state": 5},
                           "parent_header": None}))
    yield text(json.dumps({"header": {"msg_type": "execute_reply"},
                           "parent_header": {"msg_id": {"nested": True}},
                           "content": {"status": ["ok"]}, "channel": "shell"}))
    yield text(json.dumps({"header": {"msg_type": "x" * 5000}, "content": None}))
    yield text(json.dumps([1, 2, 3]))
    yield text("null")
    yield text("")


class _Handler(socketserver.BaseRequestHandler):
    def handle(self):
        srv = self.server.double
        sock = self.request
        sock.settimeout(30)
        buf = b""
        try:
            while b"\r\n\r\n" not in buf:
                chunk = sock.recv(65536)
                if not chunk:
                    return
                buf += chunk
                if len(buf) > 1 << 16:
                    return
        except OSError:
            return
        head = buf.split(b"\r\n\r\n", 1)[0].decode(errors="replace").split("\r\n")
        parts = head[0].split(" ")
        if len(parts) < 2:
            return
        path = parts[1].split("?", 1)[0]
        headers = {}
        for line in head[1:]:
            k, _, v = line.partition(":")
            headers[k.strip().lower()] = v.strip()
        segs = [s for s in path.split("/") if s]
        mode = segs[0] if segs else ""
        rest = "/".join(segs[1:])
        kind = "ws" if rest.endswith("/channels") else "list"
        srv._count(mode, kind)
        try:
            if kind == "ws":
                self._ws(mode, headers)
            else:
                self._rest(mode, rest)
        except OSError:
            pass

    # -- REST ---------------------------------------------------------------

    def _send(self, status, headers, body, length=None):
        lines = ["HTTP/1.1 %s" % status]
        lines += headers
        lines.append("Content-Length: %d" % (len(body) if length is None else length))
        lines.append("Connection: close")
        self.request.sendall(("\r\n".join(lines) + "\r\n\r\n").encode() + body)

    def _rest(self, mode, rest):
        j = "Content-Type: application/json"
        if mode == "html":
            self._send("200 OK", ["Content-Type: text/html; charset=UTF-8"], HTML)
        elif mode == "truncated":
            self._send("200 OK", [j], _KERNEL_LIST[:len(_KERNEL_LIST) // 2])
        elif mode == "short_body":
            self._send("200 OK", [j], _KERNEL_LIST[:40], length=len(_KERNEL_LIST))
        elif mode == "wrong_types":
            self._send("200 OK", [j], b'{"id": 7, "kernels": "many", "name": null}')
        elif mode == "wrong_items":
            self._send("200 OK", [j], b'[{"id": 12345, "last_activity": 7}, "kernel", null, 3, '
                       b'{"id": ["a"]}, {"id": null}, {"kernel": {"id": 5}, "path": 9}, [[]]]')
        elif mode == "empty":
            self._send("200 OK", [], b"")
        elif mode == "empty_json":
            self._send("200 OK", [j], b"")
        elif mode == "huge_header":
            self._send("200 OK", [j, "X-Garbage: " + "g" * 65536], _KERNEL_LIST)
        elif mode == "huge_headers":
            pad = ["X-Garbage-%d: %s" % (i, "h" * 8000) for i in range(128)]
            self._send("200 OK", [j] + pad, b"[]")
        elif mode in WS_MODES:
            if rest.startswith("api/kernels/"):
                self._send("200 OK", [j], json.dumps(json.loads(_KERNEL_LIST)[0]).encode())
            elif rest == "api/sessions":
                self._send("200 OK", [j], b"[]")
            else:
                self._send("200 OK", [j], _KERNEL_LIST)
        else:
            self._send("404 Not Found", ["Content-Type: text/html"], HTML)

    # -- WebSocket ----------------------------------------------------------

    def _ws(self, mode, headers):
        key = headers.get("sec-websocket-key", "")
        accept = base64.b64encode(hashlib.sha1((key + WS_GUID).encode()).digest()).decode()
        up = ["HTTP/1.1 101 Switching Protocols", "Upgrade: websocket", "Connection: Upgrade"]
        if mode == "ws_html":
            self._send("200 OK", ["Content-Type: text/html"], HTML)
            return
        if mode == "ws_bad_accept":
            up.append("Sec-WebSocket-Accept: " + base64.b64encode(b"not the right one!!!").decode())
        else:
            up.append("Sec-WebSocket-Accept: " + accept)
        if mode == "huge_header":
            up.append("X-Garbage: " + "g" * 65536)
        sock = self.request
        sock.sendall(("\r\n".join(up) + "\r\n\r\n").encode())
        if mode != "ws_garbage":
            self._drain(sock, 10)
            return
        for f in _ws_garbage_frames():
            sock.sendall(f)
        # Then silence: read and discard what the agent sends (keepalives,
        # pings, its close frame) until it goes away.
        self._drain(sock, 120)

    def _drain(self, sock, secs):
        deadline = time.monotonic() + secs
        sock.settimeout(1)
        while time.monotonic() < deadline and not self.server.double._stopping:
            try:
                if not sock.recv(65536):
                    return
            except socket.timeout:
                continue
            except OSError:
                return


class _TCPServer(socketserver.ThreadingTCPServer):
    daemon_threads = True
    allow_reuse_address = True


class GarbageServer:
    """Start with start() (or as a context manager); url_for(mode) is the
    base URL of one mode."""

    def __init__(self):
        self.port = free_port()
        self.requests = {}
        self._lock = threading.Lock()
        self._stopping = False
        self._srv = None
        self._thread = None

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()

    def url_for(self, mode):
        return "http://127.0.0.1:%d/%s/" % (self.port, mode)

    def count(self, mode, kind=None):
        with self._lock:
            if kind:
                return self.requests.get((mode, kind), 0)
            return sum(v for (m, _), v in self.requests.items() if m == mode)

    def _count(self, mode, kind):
        with self._lock:
            self.requests[(mode, kind)] = self.requests.get((mode, kind), 0) + 1

    def start(self):
        self._srv = _TCPServer(("127.0.0.1", self.port), _Handler)
        self._srv.double = self
        self._thread = threading.Thread(target=self._srv.serve_forever, kwargs={"poll_interval": 0.2},
                                        daemon=True)
        self._thread.start()
        return self

    def stop(self):
        self._stopping = True
        if self._srv:
            self._srv.shutdown()
            self._srv.server_close()
            self._srv = None
