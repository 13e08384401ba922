# SPDX-License-Identifier: MIT
"""A test double for an HTTP forward proxy on loopback, standard library only.

It speaks the two ways clients use an HTTP proxy:
  * CONNECT host:port  -> "200 Connection established", then a byte tunnel
    (libwebsockets always, curl for https:// and for http:// only with
    CURLOPT_HTTPPROXYTUNNEL);
  * absolute-form requests, "GET http://host:port/path HTTP/1.1" (curl for
    plain http://) -> forwarded in origin form, one request per connection
    ("Connection: close" both ways, so no HTTP parsing of replies is needed).

Every request is recorded (method, "host:port", path, User-Agent) so that a
test can see what went through it. It only ever connects to loopback
addresses: anything else is refused with 403 and recorded as refused.

Use in a test:
    with ConnectProxy() as p:
        env["HTTPS_PROXY"] = p.url
        ...
        assert ("CONNECT", "127.0.0.1:%d" % port) in p.targets()
"""
import ipaddress
import select
import socket
import socketserver
import sys
import threading
import time
from collections import namedtuple
from urllib.parse import urlsplit

Record = namedtuple("Record", "method target path user_agent refused")

MAX_HEAD = 64 * 1024


def _is_loopback(host):
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def _split_hostport(hp, default_port):
    if hp.startswith("["):
        host, _, rest = hp[1:].partition("]")
        port = rest[1:] if rest.startswith(":") else ""
    else:
        host, _, port = hp.rpartition(":") if ":" in hp else (hp, "", "")
    return host, int(port) if port else default_port


def _read_head(sock):
    """Bytes up to and including the blank line, and whatever came after."""
    buf = b""
    while b"\r\n\r\n" not in buf:
        chunk = sock.recv(65536)
        if not chunk:
            return None, b""
        buf += chunk
        if len(buf) > MAX_HEAD:
            return None, b""
    head, rest = buf.split(b"\r\n\r\n", 1)
    return head.decode("latin-1"), rest


def _pump(a, b, idle=60):
    """Copy both ways until either side closes (or nothing moves for idle s)."""
    socks = [a, b]
    while True:
        r, _, _ = select.select(socks, [], [], idle)
        if not r:
            return
        for s in r:
            try:
                data = s.recv(65536)
            except OSError:
                return
            if not data:
                return
            try:
                (b if s is a else a).sendall(data)
            except OSError:
                return


class _Handler(socketserver.BaseRequestHandler):
    def handle(self):
        proxy = self.server.owner
        c = self.request
        c.settimeout(30)
        try:
            head, rest = _read_head(c)
        except OSError:
            return
        if head is None:
            return
        lines = head.split("\r\n")
        parts = lines[0].split(" ")
        if len(parts) != 3:
            c.sendall(b"HTTP/1.1 400 Bad Request\r\nConnection: close\r\n\r\n")
            return
        method, uri, version = parts
        headers = {}
        for ln in lines[1:]:
            k, _, v = ln.partition(":")
            headers[k.strip().lower()] = v.strip()
        ua = headers.get("user-agent", "")

        if method == "CONNECT":
            host, port = _split_hostport(uri, 443)
            path = ""
        else:
            u = urlsplit(uri)
            if u.scheme != "http" or not u.netloc:
                c.sendall(b"HTTP/1.1 400 Bad Request\r\nConnection: close\r\n\r\n")
                return
            host, port = _split_hostport(u.netloc, 80)
            path = u.path or "/"
            query = ("?" + u.query) if u.query else ""
        target = "%s:%d" % (host if ":" not in host else "[%s]" % host, port)

        if not _is_loopback(host):
            proxy._record(Record(method, target, path, ua, True))
            c.sendall(b"HTTP/1.1 403 Forbidden\r\nConnection: close\r\n\r\n")
            return
        proxy._record(Record(method, target, path, ua, False))
        try:
            up = socket.create_connection((host, port), timeout=10)
        except OSError:
            c.sendall(b"HTTP/1.1 502 Bad Gateway\r\nConnection: close\r\n\r\n")
            return
        with up:
            up.settimeout(None)
            c.settimeout(None)
            if method == "CONNECT":
                # One send: libwebsockets reads the reply with a single recv().
                c.sendall(b"HTTP/1.1 200 Connection established\r\n\r\n")
                if rest:
                    up.sendall(rest)
            else:
                out = ["%s %s%s %s" % (method, path, query, version)]
                for ln in lines[1:]:
                    k = ln.partition(":")[0].strip().lower()
                    if k in ("proxy-connection", "connection", "keep-alive",
                             "proxy-authorization"):
                        continue
                    out.append(ln)
                out.append("Connection: close")
                up.sendall(("\r\n".join(out) + "\r\n\r\n").encode("latin-1") + rest)
            _pump(c, up)


class _Server(socketserver.ThreadingMixIn, socketserver.TCPServer):
    daemon_threads = True
    allow_reuse_address = True


class ConnectProxy:
    """The proxy double, listening on 127.0.0.1:port (0 = any free port)."""

    def __init__(self, port=0):
        self._records = []
        self._lock = threading.Lock()
        self._srv = _Server(("127.0.0.1", port), _Handler)
        self._srv.owner = self
        self.port = self._srv.server_address[1]
        self.url = "http://127.0.0.1:%d" % self.port
        self._thread = None

    def _record(self, r):
        with self._lock:
            self._records.append(r)

    def records(self):
        with self._lock:
            return list(self._records)

    def targets(self):
        """(method, "host:port") for every request seen."""
        return [(r.method, r.target) for r in self.records()]

    def start(self):
        self._thread = threading.Thread(target=self._srv.serve_forever, daemon=True)
        self._thread.start()
        return self

    def stop(self):
        self._srv.shutdown()
        self._srv.server_close()

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()


if __name__ == "__main__":
    # Manual use: python3 connect_proxy.py [PORT]; prints each request.
    p = ConnectProxy(int(sys.argv[1]) if len(sys.argv) > 1 else 0).start()
    print("connect_proxy listening on %s" % p.url, flush=True)
    seen = 0
    try:
        while True:
            time.sleep(0.5)
            recs = p.records()
            for r in recs[seen:]:
                print("%s %s %s%s" % (r.method, r.target, r.path,
                                      " (refused)" if r.refused else ""), flush=True)
            seen = len(recs)
    except KeyboardInterrupt:
        p.stop()
