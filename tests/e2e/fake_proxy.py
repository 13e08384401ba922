# SPDX-License-Identifier: MIT
"""A test double: a TCP proxy on loopback between the agent and a real
Jupyter Server, which the test tells to break connections the way networks
and hung servers do. A real server cannot be made to do these things on
command, hence the double.

    proxy = FakeProxy(server.port).start()   # agent -> proxy.url -> server
    proxy.drop()      # close every connection (FIN both ways)
    proxy.reset()     # abort every connection (RST to the agent: SO_LINGER 0)
    proxy.stall()     # keep sockets open but forward nothing, new ones too
    proxy.resume()    # forward again (held data is delivered)
    proxy.refuse()    # stop listening (connections are refused) and drop all
    proxy.listen()    # listen again on the same port
    proxy.accepted    # connections accepted so far
    proxy.from_client # bytes each connection's client sent so far, in accept order

Threads and the standard library only: one thread accepts, two per
connection pump bytes. Everything binds to 127.0.0.1.
"""
import select
import socket
import struct
import threading
import time

from harness import free_port

_CHUNK = 65536


class _Pair:
    """One accepted client connection and its upstream connection."""

    def __init__(self, proxy, client, upstream):
        self.proxy = proxy
        self.client = client
        self.upstream = upstream
        self.closed = False
        self.from_client = bytearray()
        self._lock = threading.Lock()

    def start(self):
        for src, dst in ((self.client, self.upstream), (self.upstream, self.client)):
            threading.Thread(target=self._pump, args=(src, dst), daemon=True).start()

    def _pump(self, src, dst):
        flowing = self.proxy._flowing
        try:
            while not self.closed:
                if not flowing.wait(0.2):
                    continue
                ready, _, _ = select.select([src], [], [], 0.2)
                if not ready:
                    continue
                data = src.recv(_CHUNK)
                if not data:
                    break
                # A stall that began while we read holds this data too.
                while not flowing.wait(0.2):
                    if self.closed:
                        return
                if src is self.client:
                    self.from_client += data
                dst.sendall(data)
        except (OSError, ValueError):
            pass
        self.close()

    def close(self, rst=False):
        with self._lock:
            if self.closed:
                return
            self.closed = True
        for s in (self.client, self.upstream):
            try:
                if rst:
                    # linger on, timeout 0: close() sends RST, not FIN.
                    s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
                else:
                    s.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            try:
                s.close()
            except OSError:
                pass
        self.proxy._forget(self)


class FakeProxy:
    def __init__(self, upstream_port, upstream_host="127.0.0.1", port=None):
        self.upstream = (upstream_host, upstream_port)
        self.port = port or free_port()
        self.url = "http://127.0.0.1:%d/" % self.port
        self.accepted = 0
        self.accept_times = []
        self._all_pairs = []
        self._pairs = set()
        self._lock = threading.Lock()
        self._flowing = threading.Event()
        self._flowing.set()
        self._lsock = None
        self._thread = None
        self._stopping = False

    # -- life cycle ---------------------------------------------------------

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()

    def start(self):
        self.listen()
        return self

    def stop(self):
        self._stopping = True
        self._flowing.set()
        self._close_listener()
        self._close_all(rst=False)

    # -- commands -----------------------------------------------------------

    def listen(self):
        """(Re)open the listening socket on the same port."""
        if self._lsock is not None:
            return
        s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        deadline = time.monotonic() + 10
        while True:
            try:
                s.bind(("127.0.0.1", self.port))
                break
            except OSError:
                if time.monotonic() > deadline:
                    s.close()
                    raise
                time.sleep(0.1)
        s.listen(64)
        s.settimeout(0.2)
        self._lsock = s
        self._thread = threading.Thread(target=self._accept_loop, args=(s,), daemon=True)
        self._thread.start()

    def refuse(self):
        """Stop listening: new connections are refused. Open ones are dropped."""
        self._close_listener()
        self._close_all(rst=False)

    def drop(self):
        """Close every open connection with a FIN; keep listening."""
        self._close_all(rst=False)

    def reset(self):
        """Abort every open connection with an RST; keep listening."""
        self._close_all(rst=True)

    def stall(self):
        """Forward nothing on any connection, old or new; keep every socket open."""
        self._flowing.clear()

    def resume(self):
        self._flowing.set()

    def open_connections(self):
        with self._lock:
            return len(self._pairs)

    # -- internals ----------------------------------------------------------

    def _close_listener(self):
        s, self._lsock = self._lsock, None
        if s is not None:
            try:
                s.close()
            except OSError:
                pass
        t, self._thread = self._thread, None
        if t is not None:
            t.join(2)

    def _close_all(self, rst):
        with self._lock:
            pairs = list(self._pairs)
        for p in pairs:
            p.close(rst=rst)

    @property
    def from_client(self):
        with self._lock:
            return [bytes(p.from_client) for p in self._all_pairs]

    def _forget(self, pair):
        with self._lock:
            self._pairs.discard(pair)

    def _accept_loop(self, lsock):
        while self._lsock is lsock and not self._stopping:
            try:
                client, _ = lsock.accept()
            except socket.timeout:
                continue
            except OSError:
                return
            self.accepted += 1
            self.accept_times.append(time.monotonic())
            try:
                upstream = socket.create_connection(self.upstream, timeout=5)
            except OSError:
                client.close()
                continue
            client.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            upstream.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            pair = _Pair(self, client, upstream)
            with self._lock:
                self._pairs.add(pair)
                self._all_pairs.append(pair)
            pair.start()
